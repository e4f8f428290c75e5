//! Reports: a readable text table, JSON (one document), JSONL (one connection
//! per line, streamed as connections finish, then a summary line) and CSV.
//! The field names are a public contract (docs/output.md).

pub mod csv;
pub mod diff;
pub mod text;

use crate::analysis::ConnectionRecord;
use crate::engine::Report;
use std::io::{self, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Jsonl,
    Csv,
}

/// Text for a terminal or a spreadsheet: control characters from the capture
/// (ESC, BEL, CR, C1 codes) are shown as `\xNN`, so packet contents can never
/// drive the terminal that reads the report. JSON escapes them itself.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

pub fn write_json<W: Write>(w: &mut W, r: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, r)?;
    writeln!(w)
}

/// One JSONL line for a connection.
pub fn write_jsonl_connection<W: Write>(w: &mut W, c: &ConnectionRecord) -> io::Result<()> {
    serde_json::to_writer(&mut *w, c)?;
    writeln!(w)
}

/// The closing JSONL line: `{"summary": {...}, "files": [...], "skipped": {...}}`.
pub fn write_jsonl_summary<W: Write>(w: &mut W, r: &Report) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct Tail<'a> {
        summary: &'a crate::analysis::Summary,
        files: &'a [crate::capture::FileSummary],
        skipped: &'a crate::engine::Skipped,
    }
    serde_json::to_writer(
        &mut *w,
        &Tail {
            summary: &r.summary,
            files: &r.files,
            skipped: &r.skipped,
        },
    )?;
    writeln!(w)
}
