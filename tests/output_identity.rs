//! Output identity: every sample and every file of the public corpus, in every
//! format, must print exactly what the recorded manifest says (stdout, stderr
//! and exit code, hashed with SHA-256). A refactor that changes no behaviour
//! keeps this green; a change meant to alter output updates the manifest on
//! purpose, in the same commit, with
//!
//!     KEEPWATCH_BLESS=1 cargo test --test output_identity
//!
//! and the diff of `tests/golden/outputs.sha256` shows which outputs moved.
//! Each file is run from its own folder by its bare name, so the hashes do
//! not depend on where the repository or the corpus lives.
mod common;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const FORMATS: &[&str] = &["text", "json", "jsonl", "csv"];

fn manifest_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/outputs.sha256")
}

/// (label, folder to run in, file name, key log relative to that folder).
type Input = (String, PathBuf, String, Option<String>);

fn inputs() -> (Vec<Input>, bool) {
    let mut v = Vec::new();
    let samples = common::samples_dir();
    let caps = samples.join("captures");
    let mut names: Vec<String> = std::fs::read_dir(&caps)
        .expect("samples/captures")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let stem = n.rsplit_once('.').map(|(s, _)| s).unwrap_or(&n).to_string();
        let keys = samples.join("keylogs").join(format!("{stem}.keys"));
        let keylog = keys.is_file().then(|| format!("../keylogs/{stem}.keys"));
        v.push((format!("samples/{n}"), caps.clone(), n, keylog));
    }
    let corpus = common::corpus_dir();
    let have_corpus = corpus.is_some();
    if let Some(dir) = corpus {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
            .collect();
        names.sort();
        for n in names {
            v.push((format!("corpus/{n}"), dir.clone(), n, None));
        }
    }
    (v, have_corpus)
}

/// Runs keepwatch with `extra` arguments and hashes what it printed.
fn hash_run(
    dir: &Path,
    file: &str,
    keylog: &Option<String>,
    format: &str,
    extra: &[&str],
) -> String {
    let mut cmd = Command::new(common::bin());
    cmd.current_dir(dir)
        .args(["report", "--format", format, "--color", "never"])
        .args(extra)
        .arg(file);
    if let Some(k) = keylog {
        cmd.args(["--keylog", k]);
    }
    let out = cmd.output().expect("run keepwatch");
    let mut h = Sha256::new();
    h.update(&out.stdout);
    h.update(b"\n--stderr--\n");
    h.update(&out.stderr);
    h.update(format!("\n--exit {:?}--\n", out.status.code()).as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn read_manifest() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(manifest_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once('\t')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Every input × format, with `extra` arguments, against the manifest.
fn check(extra: &[&str]) {
    let (inputs, have_corpus) = inputs();
    let mut got = BTreeMap::new();
    for (label, dir, file, keylog) in &inputs {
        for f in FORMATS {
            got.insert(
                format!("{label}\t{f}"),
                hash_run(dir, file, keylog, f, extra),
            );
        }
    }
    if std::env::var_os("KEEPWATCH_BLESS").is_some() && extra.is_empty() {
        assert!(
            have_corpus,
            "bless needs the public corpus, so no entry is lost"
        );
        let mut s = String::from(
            "# SHA-256 of keepwatch's stdout, stderr and exit code per input and format\n\
             # (tests/output_identity.rs; regenerate with KEEPWATCH_BLESS=1 on purpose only)\n",
        );
        for (k, v) in &got {
            s.push_str(&format!("{k}\t{v}\n"));
        }
        std::fs::create_dir_all(manifest_path().parent().unwrap()).unwrap();
        std::fs::write(manifest_path(), s).unwrap();
        return;
    }
    let want = read_manifest();
    assert!(
        !want.is_empty(),
        "tests/golden/outputs.sha256 is missing or empty"
    );
    let mut diffs = Vec::new();
    for (k, v) in &got {
        match want.get(k) {
            Some(w) if w == v => {}
            Some(_) => diffs.push(format!("changed: {k}")),
            None => diffs.push(format!("not in manifest: {k}")),
        }
    }
    if have_corpus {
        for k in want.keys() {
            if !got.contains_key(k) {
                diffs.push(format!("input gone: {k}"));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "output differs from tests/golden/outputs.sha256 (args {extra:?}) for {} of {} runs:\n{}",
        diffs.len(),
        got.len(),
        diffs.join("\n")
    );
}

#[test]
fn every_sample_and_corpus_file_prints_what_the_manifest_records() {
    check(&[]);
}

/// `report --threads N` shards connections over N workers: the output must
/// be the same as on one thread, byte for byte, in every format (1 is the
/// single-threaded path; 3 makes an odd split).
#[test]
fn one_thread_prints_what_the_manifest_records() {
    check(&["--threads", "1"]);
}

#[test]
fn two_threads_print_what_the_manifest_records() {
    check(&["--threads", "2"]);
}

#[test]
fn three_threads_print_what_the_manifest_records() {
    check(&["--threads", "3"]);
}
