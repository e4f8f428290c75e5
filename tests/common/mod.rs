//! Shared helpers for the integration tests.
#![allow(dead_code)]

pub mod build;

use keepwatch::capture::CaptureFile;
use keepwatch::engine::{Analyzer, Options, Report};
use std::path::{Path, PathBuf};

/// Runs the whole pipeline on capture files, as `keepwatch report` does.
pub fn analyze(paths: &[&Path]) -> Report {
    analyze_with(paths, Options::default())
}

/// As `keepwatch report` reads files: a key store is always there, so that
/// secrets in pcapng Decryption Secrets Blocks are used.
pub fn analyze_with(paths: &[&Path], mut opts: Options) -> Report {
    let keys = opts
        .keys
        .get_or_insert_with(keepwatch::inspect::tls::KeyStore::new)
        .clone();
    let mut an = Analyzer::new(opts).expect("analyzer");
    for p in paths {
        let cap = CaptureFile::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let s = cap
            .for_each_with_secrets(
                |pkt| an.packet(&pkt, &mut |_| {}),
                |typ, data| keys.add_dsb(typ, data),
            )
            .expect("read");
        an.add_file(s);
    }
    an.finish(&mut |_| {})
}

/// The public corpus (`../shared/corpus/public` beside the repository, or
/// `$KEEPWATCH_CORPUS`). None, with a printed reason, when it is not there.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KEEPWATCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/public"));
    if dir.join("tshark-facts.json").is_file() {
        Some(dir)
    } else {
        skip(&format!(
            "public corpus not found at {} (set KEEPWATCH_CORPUS)",
            dir.display()
        ));
        None
    }
}

pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keepwatch"))
}

/// Says loudly that a test could not run here. Written straight to the
/// process's stderr, which the test harness does not capture (eprintln! would
/// be swallowed for a passing test), so the reason shows in every run and in CI.
/// Also noted in the run's skip ledger ([`skip_ledger`]), which the last test
/// binary (`tests/zz_skipped.rs`) counts and reports in one line.
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {reason}");
    let test = std::thread::current()
        .name()
        .unwrap_or("?")
        .replace(['\t', '\n'], " ");
    let line = format!(
        "{}::{test}\t{}\n",
        env!("CARGO_CRATE_NAME"),
        reason.replace(['\t', '\n'], " ")
    );
    let path = skip_ledger(std::os::unix::process::parent_id());
    let _ = std::fs::create_dir_all(path.parent().expect("ledger has a folder"));
    // One short append per skip: O_APPEND keeps parallel tests' lines whole.
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// Where the skips of one `cargo test` run are noted: one file per run, named
/// by the pid of cargo, which is the parent of every test binary it runs.
/// Lines are `crate::test<TAB>reason`.
pub fn skip_ledger(cargo_pid: u32) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("skipped")
        .join(format!("{cargo_pid}.tsv"))
}
