//! Reports: a readable text table, JSON (one document), JSONL (one connection
//! per line, streamed as connections finish, then a summary line) and CSV.
//! The field names are a public contract (docs/output.md).

pub mod compact;
pub mod csv;
pub mod diff;
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
    serde_json::to_writer_pretty(&mut *w, r)?;
    writeln!(w)
}

/// One JSONL line for a connection.
pub fn write_jsonl_connection<W: Write>(w: &mut W, c: &ConnectionRecord) -> io::Result<()> {
    let mut line = Vec::new();
    jsonl_line(&mut line, c);
    w.write_all(&line)
}

/// One JSONL line for a connection, appended to `out` (newline included):
/// serde_json's compact form of the record, the exchange list written by
/// [`compact::write_exchanges`] (the same bytes, a fraction of the work).
pub fn jsonl_line(out: &mut Vec<u8>, c: &ConnectionRecord) {
    let start = out.len();
    if c.exchanges.is_empty() {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, c);
    } else {
        let _ = compact::with_exchanges_elided(|| serde_json::to_writer(&mut *out, c));
        // The record's first `"exchanges":` key is the list's: no field
        // written before it has one, and a string value's quotes would be
        // escaped. Its value is the `[]` just written.
        const KEY: &[u8] = b"\"exchanges\":[]";
        match memchr::memmem::find(&out[start..], KEY) {
            Some(at) => {
                let tail = out.split_off(start + at + KEY.len() - 2);
                compact::write_exchanges(out, &c.exchanges);
                out.extend_from_slice(&tail[2..]);
            }
            None => {
                out.truncate(start);
                let _ = serde_json::to_writer(&mut *out, c);
            }
        }
    }
    out.push(b'\n');
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
