//! Capture formats and damaged input, on files built field by field: every
//! variant must give the same analysis, and damage must be reported, never a
//! panic or a silent empty report.

mod common;

use common::build::*;
use std::path::Path;
use std::process::Command;

const T0: i64 = 1_700_000_000_000_000_000;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(common::bin()).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut a = vec!["report", "--format", "json"];
    a.extend_from_slice(args);
    let (code, out, err) = run(&a);
    let v = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
    (code, v, err)
}

#[test]
fn byte_orders_resolutions_and_link_types_agree() {
    let dir = tempfile::tempdir().unwrap();
    let ip_pkts = http_conversation("10.1.1.1", 40000, "10.1.1.2", 2, T0);
    let sll = |ip: &Vec<u8>| sll(ip);
    let sll2 = |ip: &Vec<u8>| sll2(ip);
    let null = |ip: &Vec<u8>| loopback(ip, 24, false);
    let map = |f: &dyn Fn(&Vec<u8>) -> Vec<u8>| {
        ip_pkts.iter().map(|(t, p)| (*t, f(p))).collect::<Vec<_>>()
    };
    let files = vec![
        write(
            dir.path(),
            "le-us.pcap",
            &pcap(1, false, false, &eth_conversation(2)),
        ),
        write(
            dir.path(),
            "be-us.pcap",
            &pcap(1, true, false, &eth_conversation(2)),
        ),
        write(
            dir.path(),
            "le-ns.pcap",
            &pcap(1, false, true, &eth_conversation(2)),
        ),
        write(dir.path(), "raw.pcap", &pcap(101, false, false, &ip_pkts)),
        write(dir.path(), "sll.pcap", &pcap(113, false, false, &map(&sll))),
        write(dir.path(), "sll2.pcap", &pcap(276, true, true, &map(&sll2))),
        write(dir.path(), "null.pcap", &pcap(0, false, false, &map(&null))),
        write(
            dir.path(),
            "e.pcapng",
            &pcapng(
                &[1],
                &eth_conversation(2)
                    .into_iter()
                    .map(|(t, f)| (0, t, f))
                    .collect::<Vec<_>>(),
            ),
        ),
    ];
    for f in &files {
        let (code, v, err) = json(&[f.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {err}", f.display());
        let c = &v["connections"][0];
        assert_eq!(v["summary"]["connections"], 1, "{}", f.display());
        assert_eq!(c["requests"], 2, "{}", f.display());
        assert_eq!(c["responses"], 2, "{}", f.display());
        assert_eq!(c["handshake"], "complete", "{}", f.display());
        assert_eq!(c["closed_by"], "client", "{}", f.display());
        assert_eq!(c["client"], "10.1.1.1:40000", "{}", f.display());
        assert_eq!(c["verdict"], "reused", "{}", f.display());
        assert_eq!(c["start"], "2023-11-14T22:13:20.001000Z", "{}", f.display());
    }
}

#[test]
fn pcapng_with_two_interfaces_of_different_link_types() {
    let dir = tempfile::tempdir().unwrap();
    // Connection A on an Ethernet interface, connection B (IPv6) on a raw-IP one.
    let mut pkts: Vec<(u32, i64, Vec<u8>)> = eth_conversation(1)
        .into_iter()
        .map(|(t, f)| (0, t, f))
        .collect();
    pkts.extend(
        http_conversation("fd00::1", 40001, "fd00::2", 3, T0 + 500)
            .into_iter()
            .map(|(t, p)| (1, t, p)),
    );
    pkts.sort_by_key(|p| p.1);
    let f = write(dir.path(), "two.pcapng", &pcapng(&[1, 101], &pkts));
    let (code, v, err) = json(&[f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["connections"], 2);
    assert_eq!(v["summary"]["requests"], 4);
    assert_eq!(v["connections"][1]["client"], "[fd00::1]:40001");
    assert_eq!(v["files"][0]["linktypes"], serde_json::json!([1, 101]));
}

#[test]
fn file_cut_in_a_record_reports_what_it_holds_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let whole = pcap(1, false, false, &eth_conversation(2));
    // Cut inside the last record (the final ACK).
    let cut = &whole[..whole.len() - 20];
    let f = write(dir.path(), "cut.pcap", cut);
    let (code, v, err) = json(&[f.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cut short"), "stderr: {err}");
    assert_eq!(v["connections"][0]["requests"], 2);
    let w = v["summary"]["warnings"].to_string();
    assert!(
        w.contains("cut short") && w.contains("packets read before the cut"),
        "{w}"
    );
    assert_eq!(
        v["summary"]["packets"],
        eth_conversation(2).len() as u64 - 1
    );
}

#[test]
fn corrupt_pcapng_block_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = pcapng(
        &[1],
        &eth_conversation(1)
            .into_iter()
            .map(|(t, f)| (0, t, f))
            .collect::<Vec<_>>(),
    );
    // Break the trailing length of the last block.
    let n = b.len();
    b[n - 4] ^= 0xff;
    let f = write(dir.path(), "bad.pcapng", &b);
    let (code, v, err) = json(&[f.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(
        v["summary"]["warnings"]
            .to_string()
            .contains("corrupt block"),
        "{v}"
    );
    assert_eq!(v["connections"][0]["requests"], 1);
}

#[test]
fn not_a_capture_empty_missing_and_unsupported_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "notes.txt", b"hello, this is not a capture\n");
    let empty = write(dir.path(), "empty.pcap", b"");
    let user0 = write(
        dir.path(),
        "user0.pcap",
        &pcap(147, false, false, &[(T0, vec![1, 2, 3, 4])]),
    );
    let header_only = write(dir.path(), "hdr.pcap", &pcap(1, false, false, &[]));
    let (code, _, err) = run(&["report", text.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("notes.txt") && err.contains("not a pcap or pcapng"),
        "{err}"
    );
    let (code, _, err) = run(&["report", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("empty.pcap") && err.contains("empty file"),
        "{err}"
    );
    let (code, _, err) = run(&["report", "/nonexistent/x.pcap"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("x.pcap") && err.contains("cannot open"),
        "{err}"
    );
    let (code, _, err) = run(&["report", user0.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unsupported link type 147 (USER0)") && err.contains("user0.pcap"),
        "{err}"
    );
    let (code, v, err) = json(&[header_only.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["connections"], 0);
    assert!(v["summary"]["warnings"].to_string().contains("no packets"));
    let (code, _, err) = run(&[
        "report",
        "-f",
        "tcp port banana",
        header_only.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("bad filter"), "{err}");
    let (code, _, _) = run(&["report"]);
    assert_eq!(code, 2, "usage error");
}

#[test]
fn bpf_filter_on_files_and_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let mut pkts = eth_conversation(2);
    pkts.extend(
        http_conversation("10.1.1.3", 40002, "10.1.1.2", 1, T0 + 100_000_000)
            .into_iter()
            .map(|(t, ip)| (t, ethernet(&ip))),
    );
    let f = write(dir.path(), "two.pcap", &pcap(1, false, false, &pkts));
    let p = f.to_str().unwrap();
    let (code, v, _) = json(&["-f", "host 10.1.1.3", p]);
    assert_eq!(code, 0);
    assert_eq!(v["summary"]["connections"], 1);
    assert_eq!(v["connections"][0]["client"], "10.1.1.3:40002");
    assert_eq!(
        v["skipped"]["filtered_out"],
        eth_conversation(2).len() as u64
    );
    // JSONL: one line per connection, then the summary line.
    let (code, out, _) = run(&["report", "--format", "jsonl", p]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["requests"].as_u64().unwrap() + lines[1]["requests"].as_u64().unwrap(),
        3
    );
    assert_eq!(lines[2]["summary"]["requests"], 3);
    // CSV: header and one row per connection.
    let (code, out, _) = run(&["report", "--format", "csv", p]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].starts_with("id,client,server,start,end"));
    assert!(
        rows[1].contains(",reused,") && rows[2].contains(",single-request-kept-open,"),
        "{out}"
    );
    // Text: the headline in words.
    let (code, out, _) = run(&["report", "--color", "never", p]);
    assert_eq!(code, 0);
    assert!(
        out.contains("3 requests over 2 connections: 1 handshake saved"),
        "{out}"
    );
}

#[test]
fn several_files_one_report_or_one_per_file() {
    let s = common::samples_dir().join("captures");
    let a = s.join("curl-http11-reuse.pcap");
    let b = s.join("curl-http10-close.pcap");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (code, v, err) = json(&[a, b]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["connections"], 3);
    assert_eq!(v["summary"]["requests"], 4);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert!(v["connections"][2]["file"]
        .as_str()
        .unwrap()
        .ends_with("curl-http10-close.pcap"));
    let (code, out, _) = run(&["report", "--per-file", "--format", "jsonl", a, b]);
    assert_eq!(code, 0);
    let summaries: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("summary").is_some())
        .collect();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0]["summary"]["connections"], 1);
    assert_eq!(summaries[1]["summary"]["connections"], 2);
    // JSON per file: one document, an array of reports.
    let (code, out, _) = run(&["report", "--per-file", "--format", "json", a, b]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["summary"]["connections"], 2);
    // CSV per file: every row says which file it belongs to.
    let (_, out, _) = run(&["report", "--per-file", "--format", "csv", a, b]);
    let mut rd = csv::Reader::from_reader(out.as_bytes());
    let file_col = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "file")
        .unwrap();
    let files: Vec<String> = rd
        .records()
        .map(|r| r.unwrap()[file_col].to_string())
        .collect();
    assert_eq!(files.len(), 3);
    assert!(
        files[0].ends_with("curl-http11-reuse.pcap")
            && files[2].ends_with("curl-http10-close.pcap"),
        "{out}"
    );
}

#[test]
fn streaming_formats_give_the_same_summary_and_connections() {
    for name in [
        "nginx-keepalive-requests-3.pcap",
        "stale-keepalive-timeout-retry.pcap",
        "tls12-resumption.pcap",
    ] {
        let f = common::samples_dir().join("captures").join(name);
        let p = f.to_str().unwrap();
        let (_, whole, _) = json(&[p]);
        let (code, out, _) = run(&["report", "--format", "jsonl", p]);
        assert_eq!(code, 0);
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (tail, conns) = lines.split_last().unwrap();
        assert_eq!(tail["summary"], whole["summary"], "{name}");
        let mut conns: Vec<&serde_json::Value> = conns.iter().collect();
        conns.sort_by_key(|c| c["id"].as_u64());
        let want: Vec<&serde_json::Value> =
            whole["connections"].as_array().unwrap().iter().collect();
        assert_eq!(conns, want, "{name}");
        let (code, csv, _) = run(&["report", "--format", "csv", p]);
        assert_eq!(code, 0);
        assert_eq!(csv.lines().count(), want.len() + 1, "{name}");
    }
}

#[test]
fn csv_file_column_is_filled_for_one_file_too() {
    let f = common::samples_dir()
        .join("captures")
        .join("curl-http11-reuse.pcap");
    let p = f.to_str().unwrap();
    let (code, out, err) = run(&["report", "--format", "csv", p]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "file")
        .expect("file column");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(r.len(), header.len(), "{out}");
        assert_eq!(r[col], p, "{out}");
    }
    // JSON keeps its contract: `file` only when several files are reported.
    let (_, v, _) = json(&[p]);
    assert!(v["connections"][0].get("file").is_none(), "{v}");
}

#[test]
fn report_help_names_formats_verdicts_reasons_and_exit_codes() {
    let (code, out, _) = run(&["report", "--help"]);
    assert_eq!(code, 0);
    for word in [
        "text",
        "json",
        "jsonl",
        "csv",
        "--summary-only",
        "reused",
        "single-request-kept-open",
        "single-request-closed",
        "unanswered",
        "reuse-failed",
        "server-closed-after-response",
        "no-http",
        "connection-close-request",
        "connection-close-response",
        "http10-default",
        "keep-alive-max",
        "idle-timeout",
        "client-finished",
        "reset",
        "capture-ended",
        "Exit codes",
        "docs/output.md",
    ] {
        assert!(out.contains(word), "report --help lacks {word:?}:\n{out}");
    }
}

#[test]
fn tui_without_arguments_names_both_ways() {
    let (code, _, err) = run(&["tui"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("keepwatch tui FILE"), "{err}");
    assert!(err.contains("-i IFACE"), "{err}");
    assert!(err.contains("Usage: keepwatch tui"), "{err}");
}
