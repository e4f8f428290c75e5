//! Runs last (cargo runs integration test binaries in name order) and says in
//! one line how many tests of this `cargo test` run were skipped and why, from
//! the ledger that `common::skip` writes (see tests/common/mod.rs). Run alone
//! (`cargo test --test zz_skipped`) it sees only its own run: nothing skipped.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

#[test]
fn report_skipped_tests() {
    let cargo = std::os::unix::process::parent_id();
    let ledger = common::skip_ledger(cargo);
    let text = std::fs::read_to_string(&ledger).unwrap_or_default();
    // A test that skips more than once (or for two reasons) counts once.
    let mut tests: BTreeMap<&str, &str> = BTreeMap::new();
    for line in text.lines() {
        if let Some((test, reason)) = line.split_once('\t') {
            tests.entry(test).or_insert(reason);
        }
    }
    let mut reasons: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (test, reason) in &tests {
        reasons.entry(reason).or_default().insert(test);
    }
    let line = if tests.is_empty() {
        "no test skipped".to_string()
    } else {
        let why: Vec<String> = reasons
            .iter()
            .map(|(reason, t)| format!("{} × {reason}", t.len()))
            .collect();
        format!(
            "*** {} test{} SKIPPED: {} ***",
            tests.len(),
            if tests.len() == 1 { "" } else { "s" },
            why.join("; ")
        )
    };
    // Straight to stderr: the harness would swallow eprintln! of a passing test.
    let _ = writeln!(std::io::stderr(), "{line}");
    let _ = std::fs::remove_file(&ledger);
    // Ledgers of runs that ended before reaching this binary (a single
    // `--test`, an interrupted run): their cargo is gone.
    if let Ok(dir) = std::fs::read_dir(ledger.parent().expect("ledger has a folder")) {
        for e in dir.flatten() {
            let name = e.file_name();
            let pid = name.to_string_lossy().trim_end_matches(".tsv").to_string();
            if !std::path::Path::new("/proc").join(&pid).exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
