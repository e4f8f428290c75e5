//! One live session: the analysis of a live packet source, shared by
//! `keepwatch live` and `keepwatch tui -i`.
//!
//! The session owns the [`Analyzer`] and everything the live loop adds to it:
//! re-reading a growing key log (`--keylog`) before the packets that may need
//! its secrets (TLS records are held back until then, see
//! `inspect::tls::decrypt`), finishing closed and idle connections while the
//! wire is quiet ([`LiveSession::quiet`] → [`Analyzer::advance`]), rows printed
//! at a connection's close and amended if a late packet changes them, the
//! running counts of the status line, and the `--duration` limit.
//!
//! With worker threads ([`Options::threads`], `live --threads N`) the analyzer
//! is flushed at the end of every batch ([`Analyzer::flush`]): what the
//! workers finished reaches the sink at once, and the early rows and the views
//! are asked of them after every packet given so far. The rows, finished
//! records and report are those of one thread, call by call.
//!
//! It reads no clock: the shell hands it "now" as [`Mono`], the monotonic time
//! since the session started, and a [`LiveSink`] receives what it reports.
//! Tests drive it with packets from a capture file and scripted ticks.

use crate::analysis::{ConnectionRecord, Verdict};
use crate::decode::RawPacket;
use crate::engine::{Analyzer, Options, Report};
use crate::time::Timestamp;
use std::collections::HashMap;
use std::io;

/// Monotonic time since the session started, as the shell measured it
/// (`Instant::elapsed`); scripted in tests.
pub type Mono = std::time::Duration;

/// What the session reports, as it happens.
pub trait LiveSink {
    /// A connection to show: closed just now (with
    /// [`SessionConfig::early_rows`]), finished without having been shown, or
    /// shown before and changed since (`amended`).
    fn row(&mut self, r: &ConnectionRecord, amended: bool) -> io::Result<()>;
    /// The final record of a finished connection (after its linger, at the
    /// idle timeout, or at the end), before its row if it gets one. Counters
    /// that cannot take a number back (metrics) count these.
    fn finished(&mut self, _r: &ConnectionRecord) {}
}

/// A sink that keeps nothing (tests, or a caller that only wants the report).
impl LiveSink for () {
    fn row(&mut self, _r: &ConnectionRecord, _amended: bool) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    /// Show a connection as soon as it closes (both FINs, or a RST), before
    /// its linger runs out; the final record is shown again, amended, only if
    /// a late packet changed it. `live` does this for rows (not for JSON).
    pub early_rows: bool,
    /// Stop after this long (`live --duration`).
    pub duration: Option<std::time::Duration>,
    /// Least time between two `advance`s while the wire is quiet.
    pub advance_every: std::time::Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            early_rows: false,
            duration: None,
            advance_every: std::time::Duration::from_millis(500),
        }
    }
}

/// The running counts of rows shown (the status line): connections, their
/// requests, and the reused ones. An amended row replaces its first count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveCounts {
    pub connections: u64,
    pub requests: u64,
    pub reused: u64,
}

impl LiveCounts {
    fn count(&mut self, r: &ConnectionRecord, sign: i64) {
        let add = |c: &mut u64, n: u64| *c = (*c as i64 + sign * n as i64).max(0) as u64;
        add(&mut self.connections, 1);
        add(&mut self.requests, r.requests as u64);
        add(&mut self.reused, u64::from(r.verdict == Verdict::Reused));
    }
}

/// Something to do at most once per `period` of monotonic time (the status
/// line, metrics refresh, `advance` on a quiet wire).
#[derive(Debug, Clone, Copy)]
pub struct Every {
    period: std::time::Duration,
    last: Mono,
}

impl Every {
    /// First due one `period` after `now`.
    pub fn new(period: std::time::Duration, now: Mono) -> Every {
        Every { period, last: now }
    }
    /// Whether a period has passed since the last time it was due (and if so,
    /// starts the next one at `now`).
    pub fn due(&mut self, now: Mono) -> bool {
        if now.saturating_sub(self.last) >= self.period {
            self.last = now;
            true
        } else {
            false
        }
    }
}

/// What a row showed of a connection printed at its close: if the final
/// record differs, it is shown again, marked as amended.
struct Shown(ConnectionRecord);

impl Shown {
    fn of(r: &ConnectionRecord) -> Shown {
        let mut record = r.clone();
        record.exchanges = Vec::new(); // not compared: keep the copy small
        Shown(record)
    }
    fn same(&self, b: &ConnectionRecord) -> bool {
        let a = &self.0;
        (
            a.requests,
            a.responses,
            a.verdict,
            a.close_reason,
            a.closed_by,
            a.stale_requests,
            a.uses(),
            &a.close_detail,
            &a.warnings,
        ) == (
            b.requests,
            b.responses,
            b.verdict,
            b.close_reason,
            b.closed_by,
            b.stale_requests,
            b.uses(),
            &b.close_detail,
            &b.warnings,
        )
    }
}

/// The rows side of the session: what was shown, the counts, the first
/// error the sink returned.
#[derive(Default)]
struct Rows {
    /// Connections shown at their close and not finished yet.
    shown: HashMap<u64, Shown>,
    counts: LiveCounts,
    err: Option<io::Error>,
}

impl Rows {
    fn keep(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            self.err.get_or_insert(e);
        }
    }

    /// A finished connection (after its linger, or at the end).
    fn finished(&mut self, r: &ConnectionRecord, sink: &mut dyn LiveSink) {
        sink.finished(r);
        let res = match self.shown.remove(&r.id) {
            Some(s) if s.same(r) => Ok(()),
            Some(s) => {
                self.counts.count(&s.0, -1);
                self.counts.count(r, 1);
                sink.row(r, true)
            }
            None => {
                self.counts.count(r, 1);
                sink.row(r, false)
            }
        };
        self.keep(res);
    }
}

/// The live analysis: packets in, rows and finished records out through a
/// [`LiveSink`], the report at the end.
pub struct LiveSession {
    an: Analyzer,
    cfg: SessionConfig,
    rows: Rows,
    /// The newest packet's capture time and when (monotonic) it was seen:
    /// capture time goes on from there while the wire is quiet.
    last_seen: Option<(Timestamp, Mono)>,
    advance: Every,
}

impl LiveSession {
    /// A session starting at monotonic time zero.
    pub fn new(opts: Options, cfg: SessionConfig) -> Result<LiveSession, String> {
        Ok(LiveSession {
            an: Analyzer::new(opts)?,
            advance: Every::new(cfg.advance_every, Mono::ZERO),
            cfg,
            rows: Rows::default(),
            last_seen: None,
        })
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.an
    }

    /// A warning for the report (dropped packets, a capture error).
    pub fn add_warning(&mut self, w: String) {
        self.an.add_warning(w);
    }

    pub fn counts(&self) -> LiveCounts {
        self.rows.counts
    }

    /// The first error the sink returned since the last call (the shell
    /// stops on it).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.rows.err.take()
    }

    /// How long the session may still run (`--duration`): None without a
    /// limit, zero once it is over.
    pub fn time_left(&self, now: Mono) -> Option<std::time::Duration> {
        self.cfg.duration.map(|d| d.saturating_sub(now))
    }

    /// A growing key log: reads its new lines, so records held back for
    /// want of a secret can be decrypted.
    fn poll_keys(&self) {
        if let Some(k) = self.an.keys() {
            k.poll();
        }
    }

    /// A batch of packets that arrived together: the key log is read first,
    /// then each packet, then (`early_rows`) the connections that closed.
    pub fn batch<'a>(
        &mut self,
        packets: impl IntoIterator<Item = RawPacket<'a>>,
        now: Mono,
        sink: &mut dyn LiveSink,
    ) {
        self.poll_keys();
        for p in packets {
            self.packet(&p, now, sink);
        }
        // Worker threads: what they finished goes out now, not when a
        // batch of theirs fills up.
        let rows = &mut self.rows;
        self.an.flush(&mut |r| rows.finished(r, sink));
        if self.cfg.early_rows {
            self.show_closed(sink);
        }
    }

    /// One packet, seen at `now`.
    pub fn packet(&mut self, p: &RawPacket<'_>, now: Mono, sink: &mut dyn LiveSink) {
        let rows = &mut self.rows;
        self.an.packet(p, &mut |r| rows.finished(r, sink));
        if self.last_seen.is_none_or(|(t, _)| p.ts > t) {
            self.last_seen = Some((p.ts, now));
        }
    }

    /// Connections that closed since the last look and were not shown yet:
    /// shown now, before their linger runs out.
    fn show_closed(&mut self, sink: &mut dyn LiveSink) {
        let rows = &mut self.rows;
        for r in self.an.closed_records(|id| rows.shown.contains_key(&id)) {
            rows.counts.count(&r, 1);
            let res = sink.row(&r, false);
            rows.keep(res);
            rows.shown.insert(r.id, Shown::of(&r));
        }
    }

    /// Capture time now, on a quiet wire: the newest packet's timestamp plus
    /// the monotonic time since it was seen. None before the first packet.
    pub fn capture_now(&self, now: Mono) -> Option<Timestamp> {
        self.last_seen.map(|(ts, at)| {
            let since = now.saturating_sub(at).as_nanos().min(i64::MAX as u128) as i64;
            Timestamp::from_nanos(ts.as_nanos().saturating_add(since))
        })
    }

    /// No packet came (the capture's wait ran out): at most every
    /// `advance_every`, capture time is moved on to [`Self::capture_now`],
    /// so closed connections finish after their linger (and idle ones at the
    /// idle timeout) without waiting for more traffic.
    pub fn quiet(&mut self, now: Mono, sink: &mut dyn LiveSink) {
        let Some(at) = self.capture_now(now) else {
            return;
        };
        if !self.advance.due(now) {
            return;
        }
        self.poll_keys();
        let rows = &mut self.rows;
        self.an.advance(at, &mut |r| rows.finished(r, sink));
    }

    /// The capture ended: every connection is finished (the key log read a
    /// last time first) and the report built.
    pub fn finish(self, sink: &mut dyn LiveSink) -> (Report, Option<io::Error>) {
        self.poll_keys();
        let LiveSession { an, mut rows, .. } = self;
        let rep = an.finish(&mut |r| rows.finished(r, sink));
        (rep, rows.err.take())
    }
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
