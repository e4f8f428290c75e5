//! The progress line `keepwatch report` keeps on stderr while it reads a
//! large file (issue 14): bytes and packets read, rate, connections open, and
//! an ETA when the input size is known. Shown only when stderr is a terminal,
//! the input is at least [`MIN_BYTES`] and `--quiet` is not given; never in a
//! pipe or a log. Clock reads happen here, at the binary's edge.

use std::io::Write;
use std::time::{Duration, Instant};

/// Inputs smaller than this finish too fast for a progress line to help.
pub const MIN_BYTES: u64 = 100 * 1024 * 1024;
/// Time between two updates of the line.
const EVERY: Duration = Duration::from_millis(500);
/// The clock is looked at once per this many packets.
const CHECK_PACKETS: u64 = 4096;

/// Whether to show the line: stderr a terminal, `--quiet` not given, and
/// the input files (their sizes on disk) at least [`MIN_BYTES`].
pub fn wanted(stderr_is_terminal: bool, quiet: bool, input_bytes: u64) -> bool {
    stderr_is_terminal && !quiet && input_bytes >= MIN_BYTES
}

/// The text of the line. `total` is the input size when it is known (not
/// compressed, not a stream); bytes are counted as the records' bytes, so
/// they stay a little under `total` (headers), never above it.
pub fn line(bytes: u64, total: Option<u64>, packets: u64, secs: f64, connections: usize) -> String {
    let rate = if secs > 0.0 { bytes as f64 / secs } else { 0.0 };
    let mut s = format!(
        "keepwatch: {} read, {} packets, {}/s, {} connections open",
        size(bytes as f64),
        packets,
        size(rate),
        connections
    );
    if let Some(total) = total.filter(|&t| t > 0) {
        let pct = (bytes as f64 / total as f64 * 100.0).min(100.0);
        s.push_str(&format!(" — {pct:.0} % of {}", size(total as f64)));
        if rate > 0.0 {
            let left = total.saturating_sub(bytes) as f64 / rate;
            s.push_str(&format!(", ETA {}", clock(left)));
        }
    }
    s
}

fn size(b: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// The running line; does nothing at all when not wanted.
pub struct Progress {
    on: bool,
    total: Option<u64>,
    start: Instant,
    last: Instant,
    bytes: u64,
    packets: u64,
    shown: bool,
}

impl Progress {
    pub fn new(on: bool, total: Option<u64>) -> Self {
        let now = Instant::now();
        Progress {
            on,
            total,
            start: now,
            last: now,
            bytes: 0,
            packets: 0,
            shown: false,
        }
    }

    /// One record of `record_bytes` bytes read; `connections` is asked only
    /// when the line is redrawn.
    #[inline]
    pub fn packet(&mut self, record_bytes: u64, connections: impl FnOnce() -> usize) {
        if !self.on {
            return;
        }
        self.bytes += record_bytes;
        self.packets += 1;
        if !self.packets.is_multiple_of(CHECK_PACKETS) {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < EVERY {
            return;
        }
        self.last = now;
        let secs = now.duration_since(self.start).as_secs_f64();
        let l = line(self.bytes, self.total, self.packets, secs, connections());
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{l}\x1b[K");
        let _ = e.flush();
        self.shown = true;
    }

    /// Removes the line (before a warning or the end), if it was drawn.
    pub fn clear(&mut self) {
        if self.shown {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[K");
            let _ = e.flush();
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_only_on_a_terminal_for_large_inputs_without_quiet() {
        assert!(wanted(true, false, MIN_BYTES));
        assert!(wanted(true, false, 5 << 30));
        assert!(!wanted(false, false, 5 << 30), "a pipe or a file");
        assert!(!wanted(true, true, 5 << 30), "--quiet");
        assert!(!wanted(true, false, MIN_BYTES - 1), "small input");
        assert!(!wanted(true, false, 0), "standard input has no size");
    }

    #[test]
    fn line_with_and_without_a_known_size() {
        let l = line(250_000_000, Some(1_000_000_000), 123_456, 2.0, 42);
        assert_eq!(
            l,
            "keepwatch: 250.0 MB read, 123456 packets, 125.0 MB/s, 42 connections open — 25 % of 1.0 GB, ETA 0:06"
        );
        let l = line(999, None, 3, 0.0, 0);
        assert_eq!(
            l,
            "keepwatch: 999 B read, 3 packets, 0 B/s, 0 connections open"
        );
        // Hours in the ETA; percent never above 100.
        let l = line(1_000_000, Some(10_000_000_000), 1, 1.0, 1);
        assert!(l.ends_with("ETA 2:46:39"), "{l}");
        let l = line(20, Some(10), 1, 1.0, 1);
        assert!(l.contains("100 % of 10 B, ETA 0:00"), "{l}");
    }

    #[test]
    fn an_unwanted_line_never_counts_nor_asks() {
        let mut p = Progress::new(false, Some(1));
        for _ in 0..10_000 {
            p.packet(100, || panic!("asked for connections"));
        }
        assert_eq!((p.bytes, p.packets, p.shown), (0, 0, false));
    }
}
