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
    for threads in 1..=3 {
        closed_connections_finish_on_a_quiet_wire_on(threads);
    }
}

fn closed_connections_finish_on_a_quiet_wire_on(threads: usize) {
    // curl -0, two URLs: the server closes each connection.
    let f = frames("curl-http10-close.pcap");
    let mut s = session_on(Options::default(), SessionConfig::default(), threads);
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
    for threads in 1..=3 {
        quiet_ticks_are_rate_limited_and_need_a_packet_on(threads);
    }
}

fn quiet_ticks_are_rate_limited_and_need_a_packet_on(threads: usize) {
    let f = frames("curl-http10-close.pcap");
    let mut s = session_on(Options::default(), SessionConfig::default(), threads);
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
    for threads in 1..=3 {
        early_rows_show_a_connection_at_its_close_once_on(threads);
    }
}

fn early_rows_show_a_connection_at_its_close_once_on(threads: usize) {
    let f = frames("curl-http10-close.pcap");
    let cfg = SessionConfig {
        early_rows: true,
        ..SessionConfig::default()
    };
    let mut s = session_on(Options::default(), cfg, threads);
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
fn tls_session(keylog: &std::path::Path, threads: usize) -> LiveSession {
    let ks = KeyStore::new_growing();
    // Not there yet: read again as it appears.
    let _ = ks.add_file(keylog);
    let opts = Options {
        keys: Some(ks),
        ..Options::default()
    };
    session_on(opts, SessionConfig::default(), threads)
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
    for threads in 1..=3 {
        a_key_log_written_late_releases_the_held_records_on(threads);
    }
}

fn a_key_log_written_late_releases_the_held_records_on(threads: usize) {
    // TLS 1.3, 3 connections, 6 requests, all with their secrets in the log.
    let f = frames("tls13-keylog-curl-aeads.pcap");
    let keys = std::fs::read(sample("keylogs", "tls13-keylog-curl-aeads.keys")).unwrap();
    // Without the secrets: nothing decrypted, no HTTP requests.
    let missing = temp_keylog("missing");
    let mut s = tls_session(&missing, threads);
    let mut log = Log::default();
    let end = replay(&mut s, &f, &mut log);
    s.quiet(end + Std::from_secs(400), &mut log);
    assert_eq!(requests(&log), 0);

    // The secrets are written to the log after every packet was seen, while
    // the wire is quiet: the tick that finishes the connections reads them
    // first, and the records held back are decrypted.
    let late = temp_keylog("late");
    let mut s = tls_session(&late, threads);
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
    for threads in 1..=3 {
        a_key_log_written_half_way_is_read_before_the_next_batch_on(threads);
    }
}

fn a_key_log_written_half_way_is_read_before_the_next_batch_on(threads: usize) {
    let f = frames("tls13-keylog-curl-aeads.pcap");
    let keys = std::fs::read(sample("keylogs", "tls13-keylog-curl-aeads.keys")).unwrap();
    let path = temp_keylog("half");
    let mut s = tls_session(&path, threads);
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

/// A session on `threads` worker threads (1: the table on the calling
/// thread).
fn session_on(opts: Options, cfg: SessionConfig, threads: usize) -> LiveSession {
    LiveSession::new(Options { threads, ..opts }, cfg).expect("session")
}

/// Every sample capture, each shifted to start 700 ms after the one before,
/// merged by capture time: many connections on many 4-tuples at once (so on
/// every worker), opening, closing, lingering and idling over each other.
/// Every third capture is cut after two thirds of its frames, so some
/// connections never close (they go idle, or are open at the end).
fn mix() -> Vec<Frame> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    assert!(names.len() > 30, "{names:?}");
    let t0 = 1_800_000_000_000_000_000i64;
    let mut all = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let f = frames(name);
        let first = f.iter().map(|p| p.ts.as_nanos()).min().unwrap();
        let keep = if k % 3 == 1 { f.len() * 2 / 3 } else { f.len() };
        for mut p in f.into_iter().take(keep) {
            p.ts = Timestamp::from_nanos(t0 + k as i64 * 700_000_000 + p.ts.as_nanos() - first);
            all.push(p);
        }
    }
    all.sort_by_key(|p| p.ts); // stable: each capture keeps its own order
    all
}

/// What a session did, call by call: `Call` marks the start of each call
/// into it, the sink's rows and finished records follow, and after each
/// batch the live views (open count, open servers, open records).
#[derive(Debug, PartialEq)]
enum Event {
    Call(&'static str, u128),
    Row(serde_json::Value, bool),
    Finished(serde_json::Value),
    Views(usize, Vec<(u64, std::net::SocketAddr)>, serde_json::Value),
    Report(serde_json::Value),
}

#[derive(Default)]
struct Trace(Vec<Event>);

impl LiveSink for Trace {
    fn row(&mut self, r: &ConnectionRecord, amended: bool) -> io::Result<()> {
        self.0
            .push(Event::Row(serde_json::to_value(r).unwrap(), amended));
        Ok(())
    }
    fn finished(&mut self, r: &ConnectionRecord) {
        self.0
            .push(Event::Finished(serde_json::to_value(r).unwrap()));
    }
}

/// `f` replayed as a live capture would hand it over: frames within 5 ms
/// of the first of a batch go in one batch (at most `per_batch`), and while
/// the wire is quiet the loop's 100 ms waits run out (`quiet`), as in
/// `keepwatch live`; then the end.
fn live_replay(
    f: &[Frame],
    opts: &Options,
    cfg: SessionConfig,
    threads: usize,
    per_batch: usize,
) -> Vec<Event> {
    let mut s = session_on(opts.clone(), cfg, threads);
    let mut t = Trace::default();
    let t0 = f[0].ts.as_nanos();
    let mono = |p: &Frame| Std::from_nanos((p.ts.as_nanos() - t0) as u64);
    let mut i = 0;
    let mut now = Mono::ZERO;
    while i < f.len() {
        let start = mono(&f[i]);
        while start.saturating_sub(now) > ms(100) {
            now += ms(100);
            t.0.push(Event::Call("quiet", now.as_millis()));
            s.quiet(now, &mut t);
        }
        let mut j = i + 1;
        while j < f.len() && j - i < per_batch && mono(&f[j]) - start < ms(5) {
            j += 1;
        }
        now = now.max(mono(&f[j - 1]));
        t.0.push(Event::Call("batch", now.as_millis()));
        s.batch(f[i..j].iter().map(Frame::raw), now, &mut t);
        let an = s.analyzer();
        let open = an.open_records();
        let servers: Vec<_> = an.open_connection_servers().collect();
        assert!(open.windows(2).all(|w| w[0].id < w[1].id), "id order");
        t.0.push(Event::Views(
            an.open_connections(),
            servers,
            serde_json::to_value(&open).unwrap(),
        ));
        i = j;
    }
    // Quiet to the end of every linger and idle timeout.
    for _ in 0..80 {
        now += ms(100);
        t.0.push(Event::Call("quiet", now.as_millis()));
        s.quiet(now, &mut t);
    }
    t.0.push(Event::Call("finish", now.as_millis()));
    let (rep, err) = s.finish(&mut t);
    assert!(err.is_none());
    t.0.push(Event::Report(serde_json::to_value(&rep).unwrap()));
    t.0
}

/// The first difference between two traces, said plainly.
fn same_trace(a: &[Event], b: &[Event], what: &str) {
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x == y,
            "{what}: event {k} differs\n one thread: {x:?}\n workers:    {y:?}"
        );
    }
    assert_eq!(a.len(), b.len(), "{what}: trace lengths");
}

/// `live --threads N`: the same rows (order, amended flags), finished
/// records, live views and final report as one thread, call by call, with
/// early rows or without, with connections finished by quiet ticks at the
/// linger and at a short idle timeout, and whatever the batch size.
#[test]
fn worker_threads_give_what_one_thread_gives_call_by_call() {
    let f = mix();
    let short_idle = Options {
        table: crate::tcp::TableConfig {
            idle_timeout: crate::time::Duration::from_secs(2),
            ..crate::tcp::TableConfig::default()
        },
        ..Options::default()
    };
    let text_like = Options {
        drop_exchanges: true,
        slim_records: true,
        ..Options::default()
    };
    let early = SessionConfig {
        early_rows: true,
        ..SessionConfig::default()
    };
    for (what, opts, cfg, per_batch) in [
        ("early rows", Options::default(), early, 64),
        ("early rows, one packet a batch", text_like, early, 1),
        (
            "idle timeout 2 s",
            short_idle,
            SessionConfig::default(),
            1000,
        ),
    ] {
        let one = live_replay(&f, &opts, cfg, 1, per_batch);
        let count = |p: fn(&Event) -> bool| one.iter().filter(|e| p(e)).count();
        // The scenario is worth comparing: rows at the close, connections
        // finished by a quiet tick, connections open at the end.
        let finished = count(|e| matches!(e, Event::Finished(_)));
        assert!(finished > 60, "{what}: {finished} finished");
        if cfg.early_rows {
            let at_close =
                count(|e| matches!(e, Event::Row(r, false) if r["tcp"]["end_cause"] == "closed"));
            assert!(at_close > 20, "{what}: {at_close} rows at the close");
        }
        let mut quiet_finished = 0;
        let mut in_quiet = false;
        for e in &one {
            match e {
                Event::Call(c, _) => in_quiet = *c == "quiet",
                Event::Finished(_) if in_quiet => quiet_finished += 1,
                _ => {}
            }
        }
        assert!(
            quiet_finished > 10,
            "{what}: {quiet_finished} finished by a tick"
        );
        let cause = |c: &str| {
            one.iter()
                .filter(|e| matches!(e, Event::Finished(r) if r["tcp"]["end_cause"] == c))
                .count()
        };
        if cfg.early_rows {
            let amended = count(|e| matches!(e, Event::Row(_, true)));
            assert!(amended > 0, "{what}: no amended row");
            assert!(cause("capture-ended") > 5, "{what}: open at the end");
        } else {
            assert!(cause("idle-timeout") > 5, "{what}: idle timeouts");
        }
        for n in [2, 3] {
            let many = live_replay(&f, &opts, cfg, n, per_batch);
            same_trace(&one, &many, &format!("{what}, {n} threads"));
        }
    }
}
