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

/// A connection's tone: its verdict's, unless a stale request or a reset
/// makes it bad whatever the verdict.
pub fn tone(r: &ConnectionRecord) -> Tone {
    if r.stale_requests > 0 || matches!(r.closed_by, ClosedBy::ClientReset | ClosedBy::ServerReset)
    {
        return Tone::Bad;
    }
    verdict_tone(r.verdict)
}
