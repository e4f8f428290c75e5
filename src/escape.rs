//! The one escaping policy for bytes that came from a packet or a file name
//! and are about to reach a terminal or a spreadsheet (text report, CSV, TUI,
//! stderr). JSON output is not escaped here: serde writes valid JSON, and
//! docs/output.md tells consumers to escape for terminals themselves.
//!
//! Shown visibly escaped, so packet contents can neither drive the terminal
//! (escape sequences, BEL, CR over a line) nor hide or reorder what is shown:
//! - C0 controls, DEL and C1 controls: `\x1b`, `\x7f`, `\x9b` (with the short
//!   forms `\t`, `\n`, `\r`);
//! - Unicode bidi controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069),
//!   zero-width and other invisible format characters (U+200B–U+200D, U+2060–
//!   U+2064, U+FEFF, U+00AD, U+034F, U+180E, U+206A–U+206F, U+FFF9–U+FFFB,
//!   tag characters U+E0000–U+E007F), line/paragraph separators U+2028/9:
//!   `\u{202e}`;
//!
//! A backslash is left as it is, so that escaping is idempotent: warnings
//! that already quote packet bytes escaped (`"/a\x1bb"`) are not escaped a
//! second time on their way out. (JSON has the exact bytes when it matters.)
//!
//! Bytes that are not valid UTF-8 are shown as `\xNN` by [`bytes`].

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` is shown escaped (see the module doc).
pub fn needs_escape(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every character of the policy escaped; borrowed when nothing
/// needed it (the common case costs one scan, no allocation).
pub fn text(s: &str) -> Cow<'_, str> {
    let Some(first) = s.find(needs_escape) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Raw bytes (a request line, a file name) under the same policy: valid UTF-8
/// as [`text`] shows it, every invalid byte as `\xNN`.
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(&text(chunk.valid()));
        for &x in chunk.invalid() {
            let _ = write!(out, "\\x{x:02x}");
        }
    }
    out
}

/// A short ASCII-only rendering of raw bytes for warnings: at most `max`
/// bytes, `"` escaped too (warnings quote it), anything outside printable
/// ASCII as `\xNN`, `…` when cut.
pub fn snippet(b: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &c in b.iter().take(max) {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b' '..=b'~' => s.push(c as char),
            _ => push_escaped(&mut s, c as char),
        }
    }
    if b.len() > max {
        s.push('…');
    }
    s
}

/// A file name as it may be shown (text header, warnings, errors).
pub fn path(p: &std::path::Path) -> String {
    bytes(p.as_os_str().as_encoded_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_zero_width_are_escaped() {
        assert_eq!(text("a.example"), "a.example");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
        assert_eq!(text("\x1b[2J\x07"), "\\x1b[2J\\x07");
        assert_eq!(text("a\r\n\tb"), "a\\r\\n\\tb");
        assert_eq!(text("x\u{7f}\u{85}\u{9b}"), "x\\x7f\\x85\\x9b");
        assert_eq!(text("evil\u{202e}gpj.exe"), "evil\\u{202e}gpj.exe");
        assert_eq!(text("a\u{200b}b\u{feff}"), "a\\u{200b}b\\u{feff}");
        for c in [
            '\u{61c}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202d}',
            '\u{2066}',
            '\u{2069}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{2028}',
            '\u{e0041}',
        ] {
            let s = text(&c.to_string()).into_owned();
            assert!(s.starts_with("\\u{") && s.is_ascii(), "{c:?} -> {s}");
        }
        // Idempotent: what is already escaped stays as it is.
        assert_eq!(text("a\\x1b"), "a\\x1b");
        let once = text("\x1b[2J\u{202e}").into_owned();
        assert_eq!(text(&once), once);
        // Printable non-ASCII stays readable.
        assert_eq!(text("bücher.example ✓"), "bücher.example ✓");
    }

    #[test]
    fn bytes_keep_utf8_and_escape_invalid() {
        assert_eq!(bytes(b"caf\xc3\xa9\xff\x1b"), "café\\xff\\x1b");
        assert_eq!(bytes("\u{202e}".as_bytes()), "\\u{202e}");
    }

    #[test]
    fn snippet_is_ascii_and_cut() {
        assert_eq!(snippet(b"a\r\n\x00", 10), "a\\r\\n\\x00");
        assert_eq!(snippet(b"abcdef", 3), "abc…");
        assert_eq!(snippet(b"\"q\"\\", 10), "\\\"q\\\"\\\\");
        assert_eq!(snippet("é".as_bytes(), 10), "\\xc3\\xa9");
    }
}
