//! Reports that print no exchanges (text, CSV) keep only the facts of
//! finished HTTP/1 exchanges (`Options::drop_exchanges`). The records must
//! be the ones built with every exchange kept, field for field, the
//! exchange list aside: on every sample and corpus capture, and on long
//! keep-alive connections that go past what a connection keeps (answered,
//! and with the server falling silent).
mod common;

use common::build::{ethernet, http_conversation, pcap};
use keepwatch::engine::Options;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The records of `path` as JSON, their exchange lists taken out.
fn records(path: &Path, keylog: Option<&Path>, drop_exchanges: bool) -> Vec<Value> {
    let keys = keepwatch::inspect::tls::KeyStore::new();
    if let Some(k) = keylog {
        keys.add_file(k).expect("key log");
    }
    let opts = Options {
        drop_exchanges,
        keys: Some(keys),
        ..Options::default()
    };
    let rep = common::analyze_with(&[path], opts);
    rep.connections
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap();
            let ex = v.as_object_mut().unwrap().remove("exchanges").unwrap();
            if drop_exchanges {
                assert_eq!(ex, Value::Array(vec![]), "{}", path.display());
            }
            v
        })
        .collect()
}

/// Records with and without details agree; returns how many connections.
fn same_records(path: &Path, keylog: Option<&Path>) -> usize {
    let full = records(path, keylog, false);
    let slim = records(path, keylog, true);
    assert_eq!(full.len(), slim.len(), "{}", path.display());
    for (a, b) in full.iter().zip(&slim) {
        assert_eq!(a, b, "{}: connection {}", path.display(), a["id"]);
    }
    full.len()
}

fn captures() -> Vec<(PathBuf, Option<PathBuf>)> {
    let samples = common::samples_dir();
    let mut v = Vec::new();
    for e in std::fs::read_dir(samples.join("captures")).expect("samples/captures") {
        let p = e.unwrap().path();
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        let keys = samples.join("keylogs").join(format!("{stem}.keys"));
        v.push((p, keys.is_file().then_some(keys)));
    }
    if let Some(dir) = common::corpus_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let n = p.to_string_lossy();
            if n.ends_with(".pcap") || n.ends_with(".pcapng") {
                v.push((p, None));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn every_capture_gives_the_same_records_without_details() {
    let mut conns = 0;
    for (p, k) in captures() {
        conns += same_records(&p, k.as_deref());
    }
    assert!(conns > 100, "only {conns} connections checked");
}

/// One connection of `n` requests; past `answered` the server sends
/// nothing but its FIN.
fn long_connection(n: usize, answered: usize) -> Vec<u8> {
    let conv = http_conversation("10.0.0.1", 40000, "10.0.0.2", n, 1_700_000_000_000_000_000);
    let mut responses = 0;
    let frames: Vec<(i64, Vec<u8>)> = conv
        .into_iter()
        .filter(|(_, p)| {
            // Server data segments: from port 80, longer than the bare headers.
            let from_server = p[20..22] == [0, 80];
            if from_server && p.len() > 40 {
                responses += 1;
                return responses <= answered;
            }
            true
        })
        .map(|(t, p)| (t, ethernet(&p)))
        .collect();
    pcap(1, false, true, &frames)
}

#[test]
fn long_connections_give_the_same_records_without_details() {
    let dir = tempfile::tempdir().unwrap();
    for (n, answered) in [(4000, 4000), (4000, 1200), (5000, 100), (700, 650)] {
        let path = dir.path().join(format!("long-{n}-{answered}.pcap"));
        std::fs::write(&path, long_connection(n, answered)).unwrap();
        assert_eq!(same_records(&path, None), 1);
        let r = &records(&path, None, true)[0];
        assert_eq!(r["requests"], n as u64, "{n}/{answered}");
        assert_eq!(r["responses"], answered as u64, "{n}/{answered}");
        if n > 1500 {
            assert!(r["exchanges_omitted"].as_u64() > Some(0), "{r}");
        }
    }
}
