//! Reports: a readable text table, JSON (one document), JSONL (one connection
//! per line, streamed as connections finish, then a summary line) and CSV.
//! The field names are a public contract (docs/output.md).

pub mod compact;
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

/// The `--format json` document: serde_json's pretty form of the [`Report`]
/// (two spaces per level), written as its head (every field before
/// `connections`) and then one record at a time, each record's exchange list
/// written by [`compact::write_exchanges_pretty`]. The same bytes as
/// `serde_json::to_writer_pretty(w, r)` (a unit test compares them), without
/// serde_json escaping 31 field names per exchange.
pub fn write_json<W: Write>(w: &mut W, r: &Report) -> io::Result<()> {
    write_json_threads(w, r, 1)
}

/// [`write_json`], the connection records rendered on `threads` threads
/// (the same bytes: see [`json::write_connections`]).
pub fn write_json_threads<W: Write>(w: &mut W, r: &Report, threads: usize) -> io::Result<()> {
    write_document(w, r, threads)?;
    writeln!(w)
}

/// The document without its final newline (`--per-file` puts it in an array).
pub fn write_document<W: Write>(w: &mut W, r: &Report, threads: usize) -> io::Result<()> {
    #[derive(serde::Serialize)]
    struct Head<'a> {
        keepwatch_version: &'a str,
        files: &'a [crate::capture::FileSummary],
        summary: &'a crate::analysis::Summary,
        skipped: &'a crate::engine::Skipped,
    }
    let head = serde_json::to_vec_pretty(&Head {
        keepwatch_version: r.keepwatch_version,
        files: &r.files,
        summary: &r.summary,
        skipped: &r.skipped,
    })?;
    // `{ ... \n}` without its closing line.
    w.write_all(head.strip_suffix(b"\n}").unwrap_or(&head))?;
    if r.connections.is_empty() {
        w.write_all(b",\n  \"connections\": []\n}")?;
        return Ok(());
    }
    w.write_all(b",\n  \"connections\": [")?;
    json::write_connections(w, &r.connections, threads)?;
    w.write_all(b"\n  ]\n}")
}

/// One connection record in serde_json's pretty form, as an element nested
/// `depth` levels deep (the first line not indented: the caller wrote that).
pub fn json_record(out: &mut Vec<u8>, c: &ConnectionRecord, depth: usize) {
    let v = compact::with_exchanges_elided(|| serde_json::to_vec_pretty(c)).unwrap_or_default();
    // The record's only array-valued `exchanges` key (see `jsonl_line`).
    const KEY: &[u8] = b"\"exchanges\": []";
    match memchr::memmem::find(&v, KEY) {
        Some(at) if !c.exchanges.is_empty() => {
            let line = v[..at]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            let key_depth = depth + (at - line) / 2;
            reindent(out, &v[..at + KEY.len() - 2], depth);
            compact::write_exchanges_pretty(out, &c.exchanges, key_depth);
            reindent(out, &v[at + KEY.len()..], depth);
        }
        _ => reindent(out, &v, depth),
    }
}

/// Copies pretty JSON, indenting every line after the first by `depth`
/// levels (JSON strings hold no raw line breaks: they are escaped).
fn reindent(out: &mut Vec<u8>, mut b: &[u8], depth: usize) {
    while let Some(nl) = memchr::memchr(b'\n', b) {
        out.extend_from_slice(&b[..=nl]);
        for _ in 0..depth {
            out.extend_from_slice(b"  ");
        }
        b = &b[nl + 1..];
    }
    out.extend_from_slice(b);
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
