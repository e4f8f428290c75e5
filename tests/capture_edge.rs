//! Capture-layer edge cases on files built byte by byte: BPF filters on every
//! link type keepwatch decodes, frames cut by a small snaplen, open errors and
//! pcapng oddities. Bad input gets a clear error or warning, never a panic, and
//! nothing read is dropped silently.

mod common;

use common::build::*;
use std::process::Command;

/// Runs `keepwatch report ARGS` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_file_error_says_the_reason_once() {
    let (code, _, err) = run(&["report", "/nonexistent/keepwatch-test.pcap"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn directory_is_not_a_capture_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = run(&["report", d]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a directory, not a capture file"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}
