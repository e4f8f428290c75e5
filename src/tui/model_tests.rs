//! The live model as a stream: bounded rows, incremental summary.

use super::*;
use crate::analysis::summarize;
use crate::capture::CaptureFile;
use crate::engine::{Analyzer, Options};

/// The records of some sample captures (reused and closed connections,
/// requests at several seconds).
fn sample_records() -> Vec<ConnectionRecord> {
    let mut all = Vec::new();
    for name in [
        "curl-http10-close.pcap",
        "curl-http11-reuse.pcap",
        "nginx-keepalive-requests-3.pcap",
        "python-requests-session.pcap",
    ] {
        let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("samples/captures")
            .join(name);
        let cap = CaptureFile::open(&p).expect("sample");
        let mut an = Analyzer::new(Options::default()).unwrap();
        cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
        all.extend(an.finish(&mut |_| {}).connections);
    }
    for (i, r) in all.iter_mut().enumerate() {
        r.id = i as u64;
    }
    all
}

fn update(new_finished: &[ConnectionRecord], open: &[ConnectionRecord]) -> LiveUpdate {
    LiveUpdate {
        new_finished: new_finished.to_vec(),
        open: open.to_vec(),
        packets: 0,
        drops: 0,
        ended: None,
    }
}

fn json(s: &Summary) -> String {
    serde_json::to_string(s).unwrap()
}

#[test]
fn the_streamed_summary_is_the_summary_of_every_record_shown() {
    let recs = sample_records();
    assert!(recs.len() >= 6, "{}", recs.len());
    let mut m = Model::new_live("live lo");
    // Finished in three updates; one connection open in the first two, then
    // finished.
    let (a, rest) = recs.split_at(2);
    let (b, c) = rest.split_at(2);
    let open = &c[..1];
    m.apply_live(update(a, open));
    assert_eq!(json(&m.summary), json(&summarize(&[a, open].concat())));
    assert_eq!(m.open_in_table(), 1);
    m.apply_live(update(b, open));
    assert_eq!(json(&m.summary), json(&summarize(&[a, b, open].concat())));
    m.apply_live(update(c, &[]));
    assert_eq!(json(&m.summary), json(&summarize(&recs)));
    assert_eq!(m.records().len(), recs.len());
    assert_eq!(m.open_in_table(), 0);
    // The per-second counts: every connection once, every request once.
    let mut file = Model::from_records("file", recs.clone());
    assert_eq!(m.conns_per_sec, file.conns_per_sec);
    assert_eq!(m.reqs_per_sec, file.reqs_per_sec);
    assert_eq!(m.conns_per_sec.values().sum::<u64>(), recs.len() as u64);
    file.rebuild_groups();
    assert_eq!(
        m.groups(View::Servers).len(),
        file.groups(View::Servers).len()
    );
}

#[test]
fn an_open_connection_that_goes_away_is_no_longer_counted() {
    let recs = sample_records();
    let mut m = Model::new_live("live lo");
    m.apply_live(update(&[], &recs[..1]));
    assert_eq!(m.summary.connections, 1);
    assert_eq!(m.conns_per_sec.values().sum::<u64>(), 1);
    m.apply_live(update(&[], &[]));
    assert_eq!(m.summary.connections, 0);
    assert!(m.conns_per_sec.is_empty() && m.reqs_per_sec.is_empty());
    assert!(m.records().is_empty());
}

#[test]
fn the_live_list_is_bounded_and_the_summary_counts_every_connection() {
    let base = sample_records();
    let total = LIVE_FINISHED_KEPT + 25;
    let mut m = Model::new_live("live lo");
    let mut sent = 0;
    while sent < total {
        let n = 1000.min(total - sent);
        let chunk: Vec<ConnectionRecord> = (sent..sent + n)
            .map(|i| {
                let mut r = base[i % base.len()].clone();
                r.id = i as u64;
                r
            })
            .collect();
        m.apply_live(update(&chunk, &base[..1]));
        sent += n;
    }
    assert_eq!(m.records().len(), LIVE_FINISHED_KEPT + 1, "kept + one open");
    assert_eq!(m.dropped, 25);
    assert_eq!(m.summary.connections, total as u64 + 1);
    // The oldest went first: the first finished row kept is #25.
    assert_eq!(m.records()[0].id, 25);
    assert_eq!(m.visible_len(), LIVE_FINISHED_KEPT + 1);
}
