//! `--format json`: the one document, as `serde_json::to_writer_pretty`
//! writes it, with the connection objects rendered on several threads.
//!
//! The document is the report without its connections (pretty-printed as
//! ever, ending in `"connections": []`), with the array filled in: each
//! connection object is rendered by [`Indented`], a copy of serde_json's
//! `PrettyFormatter` that starts two levels deep (where the array's
//! elements are), so the bytes are the ones one pass would write.
//! Chunks of records go round-robin to the threads and are written back in
//! order, a few chunks in flight per thread (memory stays bounded).

use crate::analysis::ConnectionRecord;
use crate::engine::Report;
use serde::Serialize;
use std::io::{self, Write};
use std::sync::mpsc::sync_channel;

/// A chunk handed to a rendering thread closes at this many records, or
/// at this many exchanges (a connection's size is mostly its exchanges:
/// a few hundred bytes each), whichever comes first.
const CHUNK: usize = 64;
const CHUNK_EXCHANGES: usize = 256;
/// Rendered chunks each thread may have waiting to be written.
const AHEAD: usize = 1;

/// Where the chunks start (and the end), by [`CHUNK`] and [`CHUNK_EXCHANGES`].
/// `exchanges`: each record's exchange count.
fn chunk_bounds(exchanges: impl ExactSizeIterator<Item = usize>) -> Vec<usize> {
    let len = exchanges.len();
    let mut b = vec![0];
    let mut ex = 0;
    for (i, e) in exchanges.enumerate() {
        ex += e + 1;
        if ex >= CHUNK_EXCHANGES || i + 1 - b[b.len() - 1] >= CHUNK {
            b.push(i + 1);
            ex = 0;
        }
    }
    if b[b.len() - 1] != len {
        b.push(len);
    }
    b
}

/// serde_json's `PrettyFormatter` (two-space indent), starting at depth
/// `current_indent`.
struct Indented {
    current_indent: usize,
    has_value: bool,
}

fn indent<W: ?Sized + Write>(w: &mut W, n: usize) -> io::Result<()> {
    for _ in 0..n {
        w.write_all(b"  ")?;
    }
    Ok(())
}

impl serde_json::ser::Formatter for Indented {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.current_indent += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.current_indent -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            indent(w, self.current_indent)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        indent(w, self.current_indent)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.current_indent += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.current_indent -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            indent(w, self.current_indent)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        indent(w, self.current_indent)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Connections `first..` of `recs` as elements of the report's
/// `connections` array: each with its separator and indent.
fn render_chunk(recs: &[ConnectionRecord], first: usize, out: &mut Vec<u8>) -> io::Result<()> {
    for (i, r) in recs.iter().enumerate() {
        out.extend_from_slice(if first + i == 0 {
            b"\n    "
        } else {
            b",\n    "
        });
        let f = Indented {
            current_indent: 2,
            has_value: false,
        };
        r.serialize(&mut serde_json::Serializer::with_formatter(&mut *out, f))?;
    }
    Ok(())
}

/// The report as `serde_json::to_writer_pretty` writes it (no newline at
/// the end), the connections rendered on `threads` threads.
pub fn write_document<W: Write>(w: &mut W, r: &Report, threads: usize) -> io::Result<()> {
    if threads <= 1 || r.connections.len() < 2 {
        serde_json::to_writer_pretty(&mut *w, r)?;
        return Ok(());
    }
    let head = Report {
        keepwatch_version: r.keepwatch_version,
        files: r.files.clone(),
        summary: r.summary.clone(),
        skipped: r.skipped.clone(),
        connections: Vec::new(),
    };
    let head = serde_json::to_vec_pretty(&head)?;
    // `connections` is the last field.
    const EMPTY: &[u8] = b"\"connections\": []\n}";
    let Some(open) = head.strip_suffix(&EMPTY[EMPTY.len() - 4..]) else {
        return Err(io::Error::other("connections is not the last field"));
    };
    debug_assert!(head.ends_with(EMPTY));
    w.write_all(open)?;
    w.write_all(b"[")?;
    let bounds = chunk_bounds(r.connections.iter().map(|c| c.exchanges.len()));
    let n = bounds.len() - 1;
    let result = std::thread::scope(|s| -> io::Result<()> {
        let mut rxs = Vec::new();
        let mut backs = Vec::new();
        for t in 0..threads {
            let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(AHEAD);
            // Buffers written go back to be filled again (no fresh pages).
            let (back_tx, back_rx) = std::sync::mpsc::channel::<Vec<u8>>();
            let (bounds, recs) = (&bounds, &r.connections);
            s.spawn(move || {
                for c in (t..n).step_by(threads) {
                    let mut buf = back_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    let (a, b) = (bounds[c], bounds[c + 1]);
                    let res = render_chunk(&recs[a..b], a, &mut buf).map(|_| buf);
                    if tx.send(res).is_err() {
                        return; // the writer stopped (an error)
                    }
                }
            });
            rxs.push(rx);
            backs.push(back_tx);
        }
        for c in 0..n {
            let buf = rxs[c % threads]
                .recv()
                .map_err(|_| io::Error::other("a JSON rendering thread stopped"))??;
            w.write_all(&buf)?;
            let _ = backs[c % threads].send(buf);
        }
        Ok(())
    });
    result?;
    w.write_all(b"\n  ]\n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_close_at_a_count_or_at_a_weight() {
        assert_eq!(chunk_bounds([0usize; 0].into_iter()), vec![0]);
        assert_eq!(
            chunk_bounds([0usize; 130].into_iter()),
            vec![0, 64, 128, 130]
        );
        assert_eq!(
            chunk_bounds([1000usize, 3, 300, 0, 0].into_iter()),
            vec![0, 1, 3, 5]
        );
    }

    #[test]
    fn indented_starts_where_the_pretty_printer_would_be() {
        let v = serde_json::json!({"a": [1, {"b": []}, {}], "c": {"d": null}});
        let whole = serde_json::to_string_pretty(&serde_json::json!({"x": [v, v]})).unwrap();
        let mut parts = b"{\n  \"x\": [".to_vec();
        for first in [true, false] {
            parts.extend_from_slice(if first { b"\n    " } else { b",\n    " });
            let f = Indented {
                current_indent: 2,
                has_value: false,
            };
            v.serialize(&mut serde_json::Serializer::with_formatter(&mut parts, f))
                .unwrap();
        }
        parts.extend_from_slice(b"\n  ]\n}");
        assert_eq!(String::from_utf8(parts).unwrap(), whole);
    }
}
