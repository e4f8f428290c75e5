//! The live session as a unit: packets of sample captures fed with scripted
//! monotonic ticks, no capture device and no clock.

use super::*;
use crate::capture::CaptureFile;
use crate::inspect::tls::KeyStore;
use std::path::PathBuf;
use std::time::Duration as Std;

/// One captured frame, owned.
struct Frame {
    ts: Timestamp,
    linktype: u32,
    data: Vec<u8>,
    orig_len: u32,
}

impl Frame {
    fn raw(&self) -> RawPacket<'_> {
        RawPacket {
            ts: self.ts,
            linktype: self.linktype,
            data: &self.data,
            orig_len: self.orig_len,
        }
    }
}

fn sample(dir: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(dir)
        .join(name)
}

fn frames(name: &str) -> Vec<Frame> {
    let cap = CaptureFile::open(&sample("captures", name)).expect("sample capture");
    let mut v = Vec::new();
    cap.for_each(|p| {
        v.push(Frame {
            ts: p.ts,
            linktype: p.linktype,
            data: p.data.to_vec(),
            orig_len: p.orig_len,
        })
    })
    .expect("sample capture reads");
    v
}

/// What the sink saw, in order.
#[derive(Default)]
struct Log {
    /// (id, amended) per row.
    rows: Vec<(u64, bool)>,
    finished: Vec<ConnectionRecord>,
    fail: bool,
}

impl LiveSink for Log {
    fn row(&mut self, r: &ConnectionRecord, amended: bool) -> io::Result<()> {
        self.rows.push((r.id, amended));
        if self.fail {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"));
        }
        Ok(())
    }
    fn finished(&mut self, r: &ConnectionRecord) {
        self.finished.push(r.clone());
    }
}

fn session(cfg: SessionConfig) -> LiveSession {
    LiveSession::new(Options::default(), cfg).expect("session")
}

fn ms(n: u64) -> Mono {
    Std::from_millis(n)
}

/// Every frame of `f` fed one batch per packet, each packet seen at the
/// monotonic time its capture timestamp is after the first (a replay at
/// real speed); returns the monotonic time of the last.
fn replay(s: &mut LiveSession, f: &[Frame], log: &mut Log) -> Mono {
    let t0 = f[0].ts.as_nanos();
    let mut now = Mono::ZERO;
    for p in f {
        now = Std::from_nanos((p.ts.as_nanos() - t0) as u64);
        s.batch([p.raw()], now, log);
    }
    now
}

#[test]
fn closed_connections_finish_on_a_quiet_wire() {
    // curl -0, two URLs: the server closes each connection.
    let f = frames("curl-http10-close.pcap");
    let mut s = session(SessionConfig::default());
    let mut log = Log::default();
    let end = replay(&mut s, &f, &mut log);
    let before = log.finished.len();
    assert!(before < 2, "the last connection lingers: {before} finished");
    // Quiet for less than the linger (5 s of capture time): still waiting.
    s.quiet(end + Std::from_secs(1), &mut log);
    assert_eq!(log.finished.len(), before);
    // Past the linger, and no packet came: finished by the tick alone.
    s.quiet(end + Std::from_secs(6), &mut log);
    assert_eq!(log.finished.len(), 2);
    assert!(log
        .finished
        .iter()
        .all(|r| r.tcp.end_cause == crate::tcp::EndCause::Closed));
    assert_eq!(s.counts().connections, 2);
    assert_eq!(s.counts().requests, 2);
    // Rows without early_rows: one per finished connection, none amended.
    assert_eq!(log.rows.len(), 2);
    assert!(log.rows.iter().all(|&(_, amended)| !amended));
    let (rep, err) = s.finish(&mut log);
    assert!(err.is_none());
    assert_eq!(rep.summary.connections, 2);
    assert_eq!(log.finished.len(), 2, "nothing finished twice");
}

#[test]
fn quiet_ticks_are_rate_limited_and_need_a_packet() {
    let f = frames("curl-http10-close.pcap");
    let mut s = session(SessionConfig::default());
    let mut log = Log::default();
    // Before any packet there is no capture time to move on.
    assert_eq!(s.capture_now(Std::from_secs(60)), None);
    s.quiet(Std::from_secs(60), &mut log);
    assert!(log.finished.is_empty());
    let end = replay(&mut s, &f, &mut log);
    // Capture time on a quiet wire: the last packet's plus the wait.
    assert_eq!(
        s.capture_now(end + Std::from_secs(10)).unwrap().as_nanos(),
        f.last().unwrap().ts.as_nanos() + 10_000_000_000
    );
    let before = log.finished.len();
    assert!(before < 2);
    // A tick before the linger (5 s) is over: nothing yet.
    s.quiet(end + ms(4_900), &mut log);
    assert_eq!(log.finished.len(), before);
    // Past the linger, but within 500 ms of the last tick: not looked at.
    s.quiet(end + ms(5_300), &mut log);
    assert_eq!(log.finished.len(), before, "within 500 ms of the last tick");
    // The first tick a period later finishes the connection.
    s.quiet(end + ms(5_400), &mut log);
    assert_eq!(log.finished.len(), 2);
}

#[test]
fn early_rows_show_a_connection_at_its_close_once() {
    let f = frames("curl-http10-close.pcap");
    let mut s = session(SessionConfig {
        early_rows: true,
        ..SessionConfig::default()
    });
    let mut log = Log::default();
    let end = replay(&mut s, &f, &mut log);
    // Both connections closed: both rows are out, before any linger ran out.
    let mut ids: Vec<u64> = log.rows.iter().map(|r| r.0).collect();
    ids.sort();
    assert_eq!(ids, [0, 1], "{:?}", log.rows);
    assert!(log.finished.len() < 2);
    s.quiet(end + Std::from_secs(6), &mut log);
    assert_eq!(log.finished.len(), 2);
    // The final records equal what was shown: no second row.
    assert_eq!(log.rows.len(), 2, "{:?}", log.rows);
    assert_eq!(s.counts().connections, 2);
}

#[test]
fn a_final_record_that_differs_from_its_row_is_shown_again_amended() {
    let f = frames("curl-http10-close.pcap");
    let mut s = session(SessionConfig::default());
    let mut log = Log::default();
    replay(&mut s, &f, &mut log);
    let _ = s.finish(&mut log);
    let fin = log.finished[0].clone();
    assert_eq!(fin.requests, 1);
    // Shown at its close before the response was seen (as a late packet
    // would leave it): no request yet.
    let mut early = fin.clone();
    early.requests = 0;
    early.responses = 0;
    let mut rows = Rows::default();
    rows.counts.count(&early, 1);
    rows.shown.insert(fin.id, Shown::of(&early));
    let mut log = Log::default();
    rows.finished(&fin, &mut log);
    assert_eq!(log.rows, [(fin.id, true)]);
    assert_eq!(
        rows.counts,
        LiveCounts {
            connections: 1,
            requests: 1,
            reused: 0
        },
        "the amended row replaces the first in the counts"
    );
    // Shown exactly as it finished: no second row.
    let mut rows = Rows::default();
    rows.counts.count(&fin, 1);
    rows.shown.insert(fin.id, Shown::of(&fin));
    let mut log = Log::default();
    rows.finished(&fin, &mut log);
    assert!(log.rows.is_empty());
    assert_eq!(log.finished.len(), 1, "the final record still goes out");
    assert_eq!(rows.counts.connections, 1);
}

#[test]
fn a_failing_sink_is_reported_once_and_the_session_goes_on() {
    let f = frames("curl-http10-close.pcap");
    let mut s = session(SessionConfig {
        early_rows: true,
        ..SessionConfig::default()
    });
    let mut log = Log {
        fail: true,
        ..Log::default()
    };
    replay(&mut s, &f, &mut log);
    let e = s.take_error().expect("the sink's error");
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    assert!(s.take_error().is_none(), "taken");
}

#[test]
fn the_duration_limit_counts_down() {
    let s = session(SessionConfig {
        duration: Some(Std::from_secs(2)),
        ..SessionConfig::default()
    });
    assert_eq!(s.time_left(ms(500)), Some(ms(1500)));
    assert_eq!(s.time_left(Std::from_secs(3)), Some(Std::ZERO));
    assert_eq!(session(SessionConfig::default()).time_left(ms(1)), None);
}

#[test]
fn every_is_due_once_per_period() {
    let mut e = Every::new(ms(500), ms(100));
    assert!(!e.due(ms(599)));
    assert!(e.due(ms(600)));
    assert!(!e.due(ms(1099)));
    assert!(e.due(ms(1200)));
}

/// A session decrypting with a key log file that grows while it runs.
fn tls_session(keylog: &std::path::Path) -> LiveSession {
    let ks = KeyStore::new_growing();
    // Not there yet: read again as it appears.
    let _ = ks.add_file(keylog);
    let opts = Options {
        keys: Some(ks),
        ..Options::default()
    };
    LiveSession::new(opts, SessionConfig::default()).expect("session")
}

fn requests(log: &Log) -> u32 {
    log.finished.iter().map(|r| r.requests).sum()
}

fn temp_keylog(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("keepwatch-live-{tag}-{}.keys", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn a_key_log_written_late_releases_the_held_records() {
    // TLS 1.3, 3 connections, 6 requests, all with their secrets in the log.
    let f = frames("tls13-keylog-curl-aeads.pcap");
    let keys = std::fs::read(sample("keylogs", "tls13-keylog-curl-aeads.keys")).unwrap();
    // Without the secrets: nothing decrypted, no HTTP requests.
    let missing = temp_keylog("missing");
    let mut s = tls_session(&missing);
    let mut log = Log::default();
    let end = replay(&mut s, &f, &mut log);
    s.quiet(end + Std::from_secs(400), &mut log);
    assert_eq!(requests(&log), 0);

    // The secrets are written to the log after every packet was seen, while
    // the wire is quiet: the tick that finishes the connections reads them
    // first, and the records held back are decrypted.
    let late = temp_keylog("late");
    let mut s = tls_session(&late);
    let mut log = Log::default();
    let end = replay(&mut s, &f, &mut log);
    assert_eq!(requests(&log), 0, "held: nothing decrypted yet");
    std::fs::write(&late, &keys).unwrap();
    s.quiet(end + Std::from_secs(400), &mut log);
    let _ = std::fs::remove_file(&late);
    assert_eq!(log.finished.len(), 3);
    assert_eq!(requests(&log), 6);
    assert!(log
        .finished
        .iter()
        .all(|r| r.tls.as_ref().is_some_and(|t| t.fully_decrypted())));
}

#[test]
fn a_key_log_written_half_way_is_read_before_the_next_batch() {
    let f = frames("tls13-keylog-curl-aeads.pcap");
    let keys = std::fs::read(sample("keylogs", "tls13-keylog-curl-aeads.keys")).unwrap();
    let path = temp_keylog("half");
    let mut s = tls_session(&path);
    let mut log = Log::default();
    let half = f.len() / 2;
    for p in &f[..half] {
        s.batch([p.raw()], Mono::ZERO, &mut log);
    }
    std::fs::write(&path, &keys).unwrap();
    for p in &f[half..] {
        s.batch([p.raw()], Mono::ZERO, &mut log);
    }
    let (rep, _) = s.finish(&mut log);
    let _ = std::fs::remove_file(&path);
    assert_eq!(rep.summary.requests, 6);
    assert_eq!(requests(&log), 6);
}
