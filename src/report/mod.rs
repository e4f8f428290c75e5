//! Reports: a readable text table, JSON (one document), JSONL (one connection
//! per line, streamed as connections finish, then a summary line) and CSV.
//! The field names are a public contract (docs/output.md).

pub mod csv;
pub mod diff;
pub mod json;
pub mod text;
pub mod tone;

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

/// Text for a terminal or a spreadsheet: the project's one escaping policy
/// ([`crate::escape::text`]): controls, bidi and zero-width characters from
/// the capture are shown escaped (`\x1b`, `\u{202e}`), so packet contents
/// can never drive or disguise what the reader sees. JSON escapes for itself.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::text(s)
}

pub fn write_json<W: Write>(w: &mut W, r: &Report) -> io::Result<()> {
    write_json_threads(w, r, 1)
}

/// [`write_json`], the connections rendered on `threads` threads (the
/// same bytes).
pub fn write_json_threads<W: Write>(w: &mut W, r: &Report, threads: usize) -> io::Result<()> {
    json::write_document(w, r, threads)?;
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
