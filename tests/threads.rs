//! `report --threads N`: the sharded flow table must give what one table
//! gives — the same records, ids, order of finishing (what JSONL and CSV
//! stream), summary and warnings — on a capture where many connections
//! interleave, go idle, reuse a 4-tuple and stay half-open.
mod common;

use common::build::{ethernet, http_conversation, ip_tcp, pcap, SYN};
use keepwatch::capture::CaptureFile;
use keepwatch::engine::Options;
use keepwatch::engine::{Analyzer, Report};
use keepwatch::time::Duration;

/// 400 conversations over ~20 s of capture time, interleaved: complete ones,
/// ones cut off before their close (left open: idle timeout or capture end),
/// slow ones, SYN-only ones, and 4-tuples used twice.
fn busy_capture() -> Vec<u8> {
    let t0 = 1_700_000_000_000_000_000i64;
    let mut pkts: Vec<(i64, Vec<u8>)> = Vec::new();
    for i in 0..400u32 {
        // Every tenth runs on the 4-tuple of the connection five before it
        // (same sequence numbers: one table takes it as more of that one).
        let b = if i % 10 == 9 { i - 5 } else { i };
        let client = format!("10.1.{}.{}", b % 7, 1 + b % 50);
        let server = ["10.2.0.1", "10.2.0.2", "10.2.0.3"][(b % 3) as usize];
        let port = 40000 + b;
        let start = t0 + i as i64 * 37_000_000;
        if i % 13 == 0 {
            pkts.push((
                start,
                ip_tcp(&client, port as u16, server, 80, 77, 0, SYN, b""),
            ));
            continue;
        }
        let mut conv = http_conversation(&client, port as u16, server, (i % 5) as usize, start);
        if i % 4 == 1 {
            conv.truncate(conv.len() - 3); // no close: left open
        }
        // Slow ones: their packets spread over seconds.
        if i % 6 == 2 {
            for (k, p) in conv.iter_mut().enumerate() {
                p.0 += k as i64 * 700_000_000;
            }
        }
        pkts.extend(conv);
    }
    pkts.sort_by_key(|p| p.0);
    let frames: Vec<(i64, Vec<u8>)> = pkts.into_iter().map(|(t, p)| (t, ethernet(&p))).collect();
    pcap(1, false, true, &frames)
}

/// What `Options::render` makes of a record: as JSONL and CSV, the id once,
/// before anything from the packets.
fn render(r: &keepwatch::analysis::ConnectionRecord, b: &mut Vec<u8>) {
    b.extend_from_slice(format!("{}\n{:?}\n", r.id, r.file).as_bytes());
    serde_json::to_writer(&mut *b, &r.client).unwrap();
    b.push(b'\n');
}

/// The report, every record handed to `on_conn` in order, as JSON, and the
/// rendered output.
fn run(path: &std::path::Path, threads: usize, slim: bool) -> (String, Vec<String>, Vec<u8>) {
    let mut opts = Options {
        threads,
        slim_records: slim,
        render: Some(render),
        ..Options::default()
    };
    opts.table.idle_timeout = Duration::from_secs(2);
    let mut an = Analyzer::new(opts).expect("analyzer");
    let mut streamed = Vec::new();
    let mut on_conn = |r: &keepwatch::analysis::ConnectionRecord| {
        streamed.push(serde_json::to_string(r).unwrap())
    };
    let mut rendered = Vec::new();
    let cap = CaptureFile::open(path).expect("open");
    an.set_current_file(Some("busy".into()));
    let s = cap
        .for_each(|p| {
            an.packet(&p, &mut on_conn);
            an.write_rendered(&mut rendered).unwrap();
        })
        .expect("read");
    an.add_file(s);
    an.end_input(&mut on_conn);
    an.write_rendered(&mut rendered).unwrap();
    let rep: Report = an.finish(&mut on_conn);
    (serde_json::to_string(&rep).unwrap(), streamed, rendered)
}

#[test]
fn any_number_of_threads_gives_what_one_gives() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.pcap");
    std::fs::write(&path, busy_capture()).unwrap();
    for slim in [false, true] {
        let (one, one_streamed, one_rendered) = run(&path, 1, slim);
        // The capture does what it is meant to: idle timeouts, port reuse,
        // half-open connections, several sweeps.
        let rep: serde_json::Value = serde_json::from_str(&one).unwrap();
        assert!(one_streamed.len() > 300, "{}", one_streamed.len());
        assert!(
            one.contains("connections went idle longer than the idle timeout"),
            "no idle timeout"
        );
        assert!(one.contains("\"capture-ended\""), "none open at the end");
        let text = String::from_utf8(one_rendered.clone()).unwrap();
        assert_eq!(text.lines().count(), 3 * one_streamed.len());
        assert!(text.contains("\"busy\""), "no file in the rendered records");
        assert!(
            rep["summary"]["memory"]["peak_table_bytes"].as_u64() > Some(0),
            "no peak"
        );
        for n in [2, 3, 4, 7] {
            let (many, many_streamed, many_rendered) = run(&path, n, slim);
            assert_eq!(
                one_streamed.len(),
                many_streamed.len(),
                "threads {n} slim {slim}"
            );
            for (k, (a, b)) in one_streamed.iter().zip(&many_streamed).enumerate() {
                assert_eq!(a, b, "record {k} finished, threads {n} slim {slim}");
            }
            assert_eq!(one, many, "report, threads {n} slim {slim}");
            assert!(
                one_rendered == many_rendered,
                "rendered output, threads {n} slim {slim}"
            );
        }
    }
}
