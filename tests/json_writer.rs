//! `--format json` and `jsonl` write the exchange lists by hand
//! (`report::compact`, issue 14): the bytes must be serde_json's own, on
//! every sample capture and every file of the public corpus.

mod common;

use keepwatch::engine::Report;
use keepwatch::report;
use std::path::PathBuf;

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::samples_dir().join("captures"))
        .expect("samples/captures")
        .map(|e| e.expect("entry").path())
        .collect();
    if let Some(dir) = common::corpus_dir() {
        v.extend(
            std::fs::read_dir(dir)
                .expect("corpus")
                .map(|e| e.expect("entry").path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
                }),
        );
    }
    v.sort();
    v
}

fn check(name: &str, r: &Report) {
    let mut mine = Vec::new();
    report::write_json(&mut mine, r).expect("write json");
    let mut serde = serde_json::to_vec_pretty(r).expect("serde");
    serde.push(b'\n');
    assert!(
        mine == serde,
        "{name}: --format json differs from serde_json"
    );
    for c in &r.connections {
        let mut line = Vec::new();
        report::jsonl_line(&mut line, c);
        let mut want = serde_json::to_vec(c).expect("serde");
        want.push(b'\n');
        assert!(
            line == want,
            "{name}: jsonl line of connection {} differs",
            c.id
        );
    }
}

#[test]
fn hand_written_json_is_serde_json_byte_for_byte() {
    let files = captures();
    let mut exchanges = 0;
    for f in &files {
        let r = common::analyze(&[f.as_path()]);
        exchanges += r
            .connections
            .iter()
            .map(|c| c.exchanges.len())
            .sum::<usize>();
        check(&f.display().to_string(), &r);
    }
    assert!(files.len() >= 40, "only {} captures found", files.len());
    assert!(exchanges > 1000, "only {exchanges} exchanges checked");
}

#[test]
fn empty_report_is_serde_json_byte_for_byte() {
    let r = common::analyze(&[]);
    assert!(r.connections.is_empty());
    check("no input", &r);
}
