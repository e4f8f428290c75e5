//! `keepwatch diff` on real captures: Python requests without a Session
//! (before) and with one (after), same nginx server (samples/record.sh f01).

mod common;

use serde_json::Value;
use std::process::Command;

fn cap(name: &str) -> String {
    common::samples_dir()
        .join("captures")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::bin())
        .arg("diff")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

const BEFORE: &str = "python-requests-no-session.pcap";
const AFTER: &str = "python-requests-session.pcap";

#[test]
fn session_fix_raises_reuse_json() {
    let (code, out, err) = run(&["--format", "json", &cap(BEFORE), &cap(AFTER)]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["before"]["connections"], 3);
    assert_eq!(j["after"]["connections"], 1);
    assert_eq!(j["after"]["handshakes_saved"], 2);
    let servers = j["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1);
    let s = &servers[0];
    assert_eq!(s["server"], "127.0.0.1:18030");
    for (k, b, a) in [
        ("connections", 3, 1),
        ("requests", 3, 3),
        ("reused_connections", 0, 1),
        ("handshakes_saved", 0, 2),
        ("stale_requests", 0, 0),
    ] {
        assert_eq!(
            (s["before"][k].as_i64(), s["after"][k].as_i64()),
            (Some(b), Some(a)),
            "{k}"
        );
        assert_eq!(s["change"][k].as_i64(), Some(a - b), "{k}");
    }
    assert_eq!(s["before"]["requests_per_connection_mean"], 1.0);
    assert_eq!(s["after"]["requests_per_connection_mean"], 3.0);
    assert_eq!(
        s["before"]["findings"][0]["kind"],
        "client-closes-after-each-response"
    );
    assert_eq!(s["after"]["findings"].as_array().unwrap().len(), 0);
    assert_eq!(
        s["change"]["findings_gone"],
        serde_json::json!(["client-closes-after-each-response"])
    );
}

#[test]
fn text_and_several_files_per_side() {
    let (code, out, err) = run(&["--color", "never", &cap(BEFORE), &cap(AFTER)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("server 127.0.0.1:18030"), "{out}");
    let line = |label: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in {out}"))
            .split_whitespace()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
    };
    assert_eq!(line("connections"), vec!["-2", "1", "3"]);
    assert_eq!(line("handshakes saved"), vec!["+2", "2", "0"]);
    assert_eq!(
        line("requests per connection"),
        vec!["+2.00", "3.00", "1.00"]
    );
    assert!(out.contains("gone: client-closes-after-each-response"));

    // Several files a side, two servers: a total block and one per server.
    let (code, out, err) = run(&[
        "--format",
        "json",
        "--before",
        &cap(BEFORE),
        &cap("nginx-keepalive-timeout-0.pcap"),
        "--after",
        &cap(AFTER),
    ]);
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["before"]["connections"], 6);
    let servers = j["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    let gone = servers
        .iter()
        .find(|s| s["server"] == "127.0.0.1:18040")
        .unwrap();
    assert_eq!(gone["after"]["connections"], 0);
    assert_eq!(gone["change"]["connections"], -3);
    let (code, out, _) = run(&[
        "--color",
        "never",
        "--before",
        &cap(BEFORE),
        &cap("nginx-keepalive-timeout-0.pcap"),
        "--after",
        &cap(AFTER),
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("all servers"), "{out}");
}

#[test]
fn usage_errors() {
    let (code, _, err) = run(&[&cap(BEFORE)]);
    assert_eq!(code, 2);
    assert!(err.contains("BEFORE and AFTER"), "{err}");
    let (code, _, _) = run(&["--before", &cap(BEFORE)]);
    assert_eq!(code, 2, "--before needs --after");
    let (code, _, err) = run(&[&cap(BEFORE), "/nonexistent/x.pcap"]);
    assert_eq!(code, 1, "{err}");
}
