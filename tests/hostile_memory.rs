//! Hostile input at small scale (issue 11): each case of the memory table,
//! generated field by field by `hostile_gen`, run through the whole pipeline
//! with small configured bounds. Functional, not timed: every bound holds,
//! and what it dropped or folded is counted in the summary and said in a
//! warning. The full-size cases and their peak RSS: benches/hostile.sh,
//! docs/robustness.md.

mod common;
mod hostile_gen;

use keepwatch::analysis::ConnectionRecord;
use keepwatch::engine::{Analyzer, Options, Report};
use keepwatch::tcp::{EndCause, HandshakeState, TableConfig};
use std::io::BufWriter;
use std::path::PathBuf;

const MIB: usize = 1 << 20;
/// The table is checked after every packet: it may pass the limit by what
/// one packet adds (one connection, ~2.2 KB) before it makes room.
const SLACK: u64 = 4096;

fn capture(case: &str, n: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{case}.pcap"));
    let f = std::fs::File::create(&path).unwrap();
    let p = hostile_gen::generate(case, n, BufWriter::new(f)).unwrap();
    drop(p.into_inner());
    (dir, path)
}

fn opts(memory_limit: usize) -> Options {
    Options {
        table: TableConfig::default().with_memory_limit(memory_limit),
        ..Options::default()
    }
}

/// The report, and every record as the streaming formats see it.
fn run(case: &str, n: u64, o: Options) -> (Report, Vec<ConnectionRecord>) {
    let (_dir, path) = capture(case, n);
    let mut an = Analyzer::new(o).unwrap();
    let cap = keepwatch::capture::CaptureFile::open(&path).unwrap();
    let mut seen = Vec::new();
    let s = cap
        .for_each(|p| an.packet(&p, &mut |r| seen.push(r.clone())))
        .unwrap();
    an.add_file(s);
    let rep = an.finish(&mut |r| seen.push(r.clone()));
    (rep, seen)
}

fn warning<'a>(rep: &'a Report, needle: &str) -> &'a str {
    rep.summary
        .warnings
        .iter()
        .find(|w| w.contains(needle))
        .unwrap_or_else(|| panic!("no warning with {needle:?} in {:#?}", rep.summary.warnings))
}

#[test]
fn syn_flood_is_compact_evicted_early_and_counted() {
    const N: u64 = 20_000;
    let mut o = opts(MIB);
    o.max_failed_handshake_records = 100;
    let limit = o.table.max_half_open as u64;
    assert!(limit < N / 4, "the test needs a half-open cap well under N");
    let (rep, seen) = run("syn-flood", N, o);
    let m = &rep.summary.memory;
    // Every SYN is a connection, counted, and handed out (JSONL lists all).
    assert_eq!(rep.summary.connections, N);
    assert_eq!(seen.len() as u64, N);
    assert_eq!(m.half_open_seen, N);
    assert_eq!(m.half_open_limit, limit);
    // Past the cap the oldest were finalised early; at most the cap was open.
    let evicted = seen
        .iter()
        .filter(|r| r.tcp.end_cause == EndCause::Evicted)
        .count() as u64;
    assert_eq!(m.half_open_evicted, evicted);
    assert!(evicted >= N - limit, "evicted {evicted}");
    assert!(
        m.peak_table_bytes <= MIB as u64 + SLACK,
        "{}",
        m.peak_table_bytes
    );
    // Oldest first: the last SYN of the flood was never evicted.
    let last = seen.iter().find(|r| r.id == N - 1).unwrap();
    assert_eq!(last.tcp.end_cause, EndCause::CaptureEnded);
    // Every record is what a SYN alone makes.
    assert!(seen.iter().all(|r| r.handshake == HandshakeState::Partial
        && r.tcp.syn_packets == 1
        && r.tcp.handshake_detail.as_deref() == Some("SYN only")));
    // Text/JSON keep 100 such records and count the rest.
    assert_eq!(rep.connections.len(), 100);
    assert_eq!(m.records_folded, N - 100);
    assert_eq!(rep.summary.per_server["10.0.0.0:80"].connections, N);
    assert!(warning(&rep, "half-open connections").starts_with(&format!("{evicted} of {N}")));
    assert!(warning(&rep, "not listed").starts_with(&format!("{} connections", N - 100)));
}

#[test]
fn syn_flood_under_the_default_bounds_keeps_everything_exact() {
    let (rep, _) = run("syn-flood", 2_000, Options::default());
    let m = &rep.summary.memory;
    assert_eq!(
        (m.half_open_seen, m.half_open_evicted, m.records_folded),
        (2_000, 0, 0)
    );
    assert_eq!(rep.connections.len(), 2_000);
    assert!(
        rep.summary.warnings.is_empty(),
        "{:?}",
        rep.summary.warnings
    );
}

#[test]
fn short_connections_under_a_tiny_limit_are_finalised_closed_not_evicted() {
    const N: u64 = 20_000;
    let (rep, seen) = run("short-conns", N, opts(MIB));
    let m = &rep.summary.memory;
    assert_eq!(rep.summary.connections, N);
    assert_eq!(rep.summary.requests, N);
    assert_eq!(rep.summary.responses, N);
    // They are all closed: making room drops only lingering closed ones.
    assert_eq!(m.memory_evictions, 0);
    assert!(seen.iter().all(|r| r.tcp.end_cause == EndCause::Closed));
    assert!(
        m.peak_table_bytes <= MIB as u64 + SLACK,
        "{}",
        m.peak_table_bytes
    );
    assert_eq!(m.half_open_seen, 0);
}

#[test]
fn distinct_servers_and_hosts_are_folded_into_other_losslessly() {
    const N: u64 = 5_000;
    let (rep, _) = run("distinct-hosts", N, Options::default());
    let s = &rep.summary;
    let kept = s.memory.group_keys_kept as usize;
    assert!(s.per_server.len() <= kept && s.per_host.len() <= kept);
    assert!(s.memory.per_server_folded >= N - kept as u64);
    assert!(s.memory.per_host_folded >= N - kept as u64);
    for (groups, other) in [
        (&s.per_server, &s.per_server_other),
        (&s.per_host, &s.per_host_other),
    ] {
        let other = other.as_ref().expect("folded");
        let kept_conns: u64 = groups.values().map(|g| g.connections).sum();
        assert_eq!(kept_conns + other.connections, N);
        let kept_reqs: u64 = groups.values().map(|g| g.requests).sum();
        assert_eq!(kept_reqs + other.requests, N);
    }
    warning(&rep, "distinct servers");
    warning(&rep, "distinct hosts");
}

#[test]
fn half_duplex_pipeline_keeps_counters_not_records() {
    const N: u64 = 20_000;
    let (rep, _) = run("half-duplex", N, Options::default());
    let c = &rep.connections[0];
    assert_eq!(c.requests as u64, N);
    assert_eq!(c.responses, 0);
    assert!(c.exchanges.len() <= 2_000, "{}", c.exchanges.len());
    assert_eq!(c.exchanges.len() + c.exchanges_omitted, N as usize);
    assert!(c.exchanges_omitted_unanswered > 0);
    assert_eq!(
        rep.summary.memory.unanswered_requests_folded,
        c.exchanges_omitted_unanswered as u64
    );
    assert_eq!(c.exchanges[0].target.as_deref(), Some("/r0"));
    assert_eq!(
        c.exchanges.last().unwrap().target.as_deref(),
        Some(format!("/r{}", N - 1).as_str())
    );
    warning(&rep, "awaiting a response past the per-connection bound");
}

#[test]
fn one_byte_out_of_order_segments_cost_no_more_than_the_cap() {
    const N: u64 = 20_000;
    // 1 MiB: 16 KiB per stream, 256 KiB in all.
    let o = opts(MIB);
    let per_stream = o.table.limits.max_ooo_per_stream;
    assert_eq!(per_stream, 16 << 10);
    let (rep, _) = run("ooo-segments", N, o);
    assert_eq!(rep.connections.len(), 3);
    for c in &rep.connections {
        let d = &c.tcp.client_to_server;
        assert_eq!(d.out_of_order, N);
        // Every byte delivered, every hole (one before each byte) given up.
        assert_eq!(d.stream_bytes, N);
        assert_eq!(d.missing_bytes, N);
        // Accounted by real cost: ~129 bytes each, so the cap holds ~127
        // one-byte segments, not 16,384.
        let held = per_stream / keepwatch::tcp::stream::seg_cost(1);
        assert!(
            d.ooo_limit_hits >= N - held as u64 - 1,
            "{}",
            d.ooo_limit_hits
        );
    }
    let m = &rep.summary.memory;
    assert!(m.peak_table_bytes <= MIB as u64 + SLACK);
    let hits: u64 = rep
        .connections
        .iter()
        .map(|c| c.tcp.client_to_server.ooo_limit_hits)
        .sum();
    assert_eq!(m.ooo_limit_hits, hits);
    warning(&rep, "reached its memory cap");
}

#[test]
fn bytes_behind_one_missing_byte_lose_only_that_byte() {
    const N: u64 = 20_000;
    let (rep, _) = run("ooo-bytes", N, opts(MIB));
    let d = &rep.connections[0].tcp.client_to_server;
    assert_eq!(d.missing_bytes, 1);
    assert_eq!(d.stream_bytes, N);
    assert_eq!(d.ooo_limit_hits, 1);
    assert!(rep.summary.memory.peak_table_bytes <= MIB as u64 + SLACK);
}

#[test]
fn memory_limit_evicts_the_longest_idle_open_connections_first() {
    const N: u64 = 5_000;
    let (rep, seen) = run("open-conns", N, opts(2 * MIB));
    let m = &rep.summary.memory;
    assert_eq!(rep.summary.connections, N);
    assert_eq!(rep.summary.requests, N);
    let evicted: Vec<u64> = seen
        .iter()
        .filter(|r| r.tcp.end_cause == EndCause::Evicted)
        .map(|r| r.id)
        .collect();
    assert!(!evicted.is_empty());
    assert_eq!(m.memory_evictions, evicted.len() as u64);
    // The connections are opened in id order and go idle in that order:
    // the evicted ones are the oldest.
    let max_evicted = *evicted.iter().max().unwrap();
    assert_eq!(max_evicted + 1, evicted.len() as u64, "oldest first");
    assert!(m.peak_table_bytes <= 2 * MIB as u64 + SLACK);
    // Nothing lost: each evicted one is a full record with its exchange.
    assert!(seen
        .iter()
        .filter(|r| r.tcp.end_cause == EndCause::Evicted)
        .all(|r| r.requests == 1 && r.responses == 1));
    assert!(warning(&rep, "--memory-limit 2 MiB")
        .starts_with(&format!("{} connections", evicted.len())));
}

#[test]
fn memory_limit_flag_takes_units_and_rejects_nonsense() {
    let (_dir, path) = capture("short-conns", 10);
    let ok = std::process::Command::new(common::bin())
        .args(["report", "--format", "json", "--memory-limit", "1.5G"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["summary"]["memory"]["memory_limit"], 1_610_612_736u64);
    for bad in ["lots", "10", "-1G", "5X", "1e400G", "99999999999T"] {
        let out = std::process::Command::new(common::bin())
            .args(["report", &format!("--memory-limit={bad}")])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "--memory-limit {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--memory-limit"));
    }
}
