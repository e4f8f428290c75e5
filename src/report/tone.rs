//! The one colour rule for a connection: a semantic tone that the text
//! report paints with ANSI codes and the dashboard with its palette.

use crate::analysis::{ConnectionRecord, Verdict};
use crate::tcp::ClosedBy;

/// The colour class of a connection (or of a verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Reused: green.
    Good,
    /// One request, then closed: yellow.
    Warn,
    /// One request, kept open: cyan.
    Kept,
    /// Stale requests, resets, unanswered or failed reuse: red.
    Bad,
    /// No HTTP: dim.
    Dim,
}

/// A verdict's tone on its own.
pub fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Reused => Tone::Good,
        Verdict::SingleRequestClosed => Tone::Warn,
        Verdict::SingleRequestKeptOpen => Tone::Kept,
        Verdict::Unanswered | Verdict::ReuseFailed => Tone::Bad,
        Verdict::NoHttp => Tone::Dim,
    }
}

/// A verdict's tone by its word (summaries count verdicts by word); dim for
/// a word that is no verdict.
pub fn verdict_word_tone(word: &str) -> Tone {
    // Every verdict: `verdict_tone` above matches them all.
    const ALL: [Verdict; 6] = [
        Verdict::Reused,
        Verdict::SingleRequestClosed,
        Verdict::SingleRequestKeptOpen,
        Verdict::NoHttp,
        Verdict::Unanswered,
        Verdict::ReuseFailed,
    ];
    ALL.into_iter()
        .find(|v| v.as_str() == word)
        .map_or(Tone::Dim, verdict_tone)
}

/// A connection's tone: its verdict's, unless a stale request or a reset
/// makes it bad whatever the verdict.
pub fn tone(r: &ConnectionRecord) -> Tone {
    if r.stale_requests > 0 || matches!(r.closed_by, ClosedBy::ClientReset | ClosedBy::ServerReset)
    {
        return Tone::Bad;
    }
    verdict_tone(r.verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The histogram's verdict counts (by word) take the same tones as the
    /// rows of those verdicts: failed reuse is bad, not dim.
    #[test]
    fn a_verdict_word_has_its_verdicts_tone() {
        assert_eq!(verdict_word_tone("reused"), Tone::Good);
        assert_eq!(verdict_word_tone("single-request-closed"), Tone::Warn);
        assert_eq!(verdict_word_tone("single-request-kept-open"), Tone::Kept);
        assert_eq!(verdict_word_tone("unanswered"), Tone::Bad);
        assert_eq!(verdict_word_tone("reuse-failed"), Tone::Bad);
        assert_eq!(verdict_word_tone("no-http"), Tone::Dim);
        assert_eq!(verdict_word_tone("no such verdict"), Tone::Dim);
    }
}
