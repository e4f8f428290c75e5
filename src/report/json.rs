//! `--format json` with `--threads N`: the connection records of the
//! document rendered on N threads ([`super::json_record`], as one thread
//! does), written back in order: the same bytes.
//!
//! Records are cut into chunks (by count and by exchanges, a record's size
//! being mostly its exchange list), handed round-robin to the threads; each
//! thread has at most one rendered chunk waiting besides the one it
//! renders, and gets its written buffers back, so memory stays bounded and
//! no fresh pages are faulted in per chunk.

use crate::analysis::ConnectionRecord;
use std::io::{self, Write};
use std::sync::mpsc::{channel, sync_channel};

/// A chunk closes at this many records, or at this many exchanges (plus
/// one per record), whichever comes first.
const CHUNK: usize = 64;
const CHUNK_EXCHANGES: usize = 256;
/// Rendered chunks each thread may have waiting to be written.
const AHEAD: usize = 1;

/// Where the chunks start (and where the last ends); `exchanges`: each
/// record's exchange count.
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

/// Records `first..` as elements of the report's `connections` array, each
/// with its separator and indent.
fn render(recs: &[ConnectionRecord], first: usize, out: &mut Vec<u8>) {
    for (i, r) in recs.iter().enumerate() {
        out.extend_from_slice(if first + i == 0 {
            b"\n    "
        } else {
            b",\n    "
        });
        super::json_record(out, r, 2);
    }
}

/// The elements of the `connections` array (between `[` and the closing
/// line), rendered on `threads` threads.
pub fn write_connections<W: Write>(
    w: &mut W,
    recs: &[ConnectionRecord],
    threads: usize,
) -> io::Result<()> {
    let bounds = chunk_bounds(recs.iter().map(|c| c.exchanges.len()));
    let n = bounds.len() - 1;
    if threads <= 1 || n < 2 {
        let mut buf = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            buf.clear();
            render(std::slice::from_ref(r), i, &mut buf);
            w.write_all(&buf)?;
        }
        return Ok(());
    }
    std::thread::scope(|s| {
        let mut rxs = Vec::new();
        let mut backs = Vec::new();
        for t in 0..threads {
            let (tx, rx) = sync_channel::<Vec<u8>>(AHEAD);
            let (back_tx, back_rx) = channel::<Vec<u8>>();
            let bounds = &bounds;
            s.spawn(move || {
                for c in (t..n).step_by(threads) {
                    let mut buf = back_rx.try_recv().unwrap_or_default();
                    buf.clear();
                    let (a, b) = (bounds[c], bounds[c + 1]);
                    render(&recs[a..b], a, &mut buf);
                    if tx.send(buf).is_err() {
                        return; // the writer stopped (a write error)
                    }
                }
            });
            rxs.push(rx);
            backs.push(back_tx);
        }
        for c in 0..n {
            let buf = rxs[c % threads]
                .recv()
                .map_err(|_| io::Error::other("a JSON rendering thread stopped"))?;
            w.write_all(&buf)?;
            let _ = backs[c % threads].send(buf);
        }
        Ok(())
    })
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
}
