//! TLS decryption with the clients' own key logs (samples s24-s29), checked
//! against what tshark decrypts with the same key logs (`decrypted_with_keys`
//! in samples/expected.json) and against nginx's access log (the scenario
//! descriptions). Also: wrong keys, key logs that match nothing, records
//! damaged or cut by capture gaps.

mod common;

use keepwatch::analysis::{ConnectionRecord, Verdict};
use keepwatch::engine::{Options, Report};
use keepwatch::inspect::tls::KeyStore;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn cap(name: &str) -> PathBuf {
    common::samples_dir().join("captures").join(name)
}

/// samples/keylogs/NAME.keys: the key log the clients of NAME.pcap wrote.
fn keylog(name: &str) -> PathBuf {
    let stem = Path::new(name).file_stem().unwrap().to_str().unwrap();
    common::samples_dir()
        .join("keylogs")
        .join(format!("{stem}.keys"))
}

fn keys_from(files: &[&Path]) -> Arc<KeyStore> {
    let ks = KeyStore::new();
    for f in files {
        ks.add_file(f).expect("key log");
    }
    ks.finish_files();
    ks
}

fn with_keys(name: &str, keys: Arc<KeyStore>) -> Report {
    common::analyze_with(
        &[&cap(name)],
        Options {
            keys: Some(keys),
            ..Default::default()
        },
    )
}

fn keyed(name: &str) -> Report {
    let k = keylog(name);
    with_keys(name, keys_from(&[&k]))
}

fn expected() -> Value {
    let p = common::samples_dir().join("expected.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn methods_targets_status(c: &ConnectionRecord) -> Vec<(String, String, u16)> {
    c.exchanges
        .iter()
        .map(|e| {
            (
                e.method().unwrap_or_default().to_owned(),
                e.target.as_deref().unwrap_or_default().to_owned(),
                e.status.unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn every_keyed_sample_matches_tshark_with_the_same_key_log() {
    let exp = expected();
    let mut checked = 0;
    let mut errs = Vec::new();
    for (name, e) in exp["captures"].as_object().unwrap() {
        let conns = e["connections"].as_array().unwrap();
        if !conns.iter().any(|c| c.get("decrypted_with_keys").is_some()) {
            continue;
        }
        let rep = keyed(name);
        assert_eq!(rep.connections.len(), conns.len(), "{name}");
        for (c, w) in rep.connections.iter().zip(conns) {
            let d = &w["decrypted_with_keys"];
            let h2 = d["http2_request_streams"].as_array().unwrap().len() as u32;
            let (want_req, want_resp) = if h2 > 0 {
                (
                    h2,
                    d["http2_response_streams"].as_array().unwrap().len() as u32,
                )
            } else {
                (
                    d["requests"].as_u64().unwrap() as u32,
                    d["final_responses"].as_u64().unwrap() as u32,
                )
            };
            if (c.requests, c.responses) != (want_req, want_resp) {
                errs.push(format!(
                    "{name} #{}: requests/responses {}/{}, tshark {want_req}/{want_resp}",
                    c.id, c.requests, c.responses
                ));
            }
            let t = c.tls.as_ref().expect("TLS");
            // tshark found requests inside: keepwatch decrypted both ways.
            if want_req > 0 && !t.fully_decrypted() {
                errs.push(format!("{name} #{}: not decrypted: {:?}", c.id, t));
            }
            if want_req == 0 && t.fully_decrypted() {
                errs.push(format!("{name} #{}: decrypted, tshark saw nothing", c.id));
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} keyed connections checked");
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn tls13_each_aead_http11_exact_requests() {
    let rep = keyed("tls13-keylog-curl-aeads.pcap");
    let ciphers: Vec<_> = rep
        .connections
        .iter()
        .map(|c| c.tls.as_ref().unwrap().cipher.clone().unwrap())
        .collect();
    assert_eq!(
        ciphers,
        [
            "TLS_AES_128_GCM_SHA256",
            "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]
    );
    for c in &rep.connections {
        let t = c.tls.as_ref().unwrap();
        assert!(t.decrypted.client && t.decrypted.server, "{t:?}");
        assert_eq!(t.not_decrypted, None);
        // The selected ALPN is only in the encrypted EncryptedExtensions.
        assert_eq!(t.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(
            methods_targets_status(c),
            [
                ("GET".into(), "/a".into(), 200),
                ("GET".into(), "/b".into(), 200)
            ]
        );
        assert_eq!(c.verdict, Verdict::Reused);
        assert_eq!(c.http_version, Some("1.1"));
        // HTTP/1.x fields from the decrypted bytes.
        assert_eq!(c.exchanges[0].host.as_deref(), Some("localhost:18450"));
        assert!(c.exchanges[1].response.body_bytes > 0);
    }
    assert_eq!(rep.summary.requests, 6, "nginx access log: 6 requests");
    assert_eq!(rep.summary.tls.decrypted, 3);
    assert_eq!(rep.summary.tls.opaque, 0);
}

#[test]
fn tls12_each_aead_http11_exact_requests() {
    let rep = keyed("tls12-keylog-curl-aeads.pcap");
    let ciphers: Vec<_> = rep
        .connections
        .iter()
        .map(|c| c.tls.as_ref().unwrap().cipher.clone().unwrap())
        .collect();
    assert_eq!(
        ciphers,
        [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        ]
    );
    for c in &rep.connections {
        assert!(c.tls.as_ref().unwrap().fully_decrypted());
        assert_eq!(c.requests, 2);
        assert_eq!(c.exchanges.len(), 2);
        // curl's close_notify is decrypted (TLS 1.2: an encrypted alert record).
        let t = c.tls.as_ref().unwrap();
        if c.closed_by.as_str() == "client" {
            assert!(t.close_notify_decrypted[0], "{t:?}");
        }
    }
    assert_eq!(rep.summary.requests, 6);
}

#[test]
fn h2_inside_tls_streams_are_requests_with_method_path_status() {
    let rep = keyed("tls-keylog-curl-h2.pcap");
    let c = &rep.connections;
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].tls.as_ref().unwrap().version.as_deref(), Some("1.3"));
    assert_eq!(c[1].tls.as_ref().unwrap().version.as_deref(), Some("1.2"));
    assert_eq!((c[0].requests, c[0].responses), (3, 3));
    assert_eq!((c[1].requests, c[1].responses), (2, 2));
    assert_eq!(
        methods_targets_status(&c[0]),
        [
            ("GET".into(), "/a".into(), 200),
            ("GET".into(), "/b".into(), 200),
            ("GET".into(), "/c".into(), 200)
        ]
    );
    assert_eq!(c[1].exchanges[1].target.as_deref(), Some("/e"));
    assert_eq!(c[0].exchanges[0].host.as_deref(), Some("localhost:18452"));
    for r in c {
        assert_eq!(r.http_version, Some("2"));
        assert_eq!(r.verdict, Verdict::Reused);
        assert_eq!(r.tls.as_ref().unwrap().alpn.as_deref(), Some("h2"));
        assert!(r.exchanges.iter().all(|e| e.response.complete));
    }
    // Without keys: no requests, only the burst estimate ("turns" for h2).
    let plain = common::analyze(&[&cap("tls-keylog-curl-h2.pcap")]);
    assert_eq!(plain.connections[0].requests, 0);
    assert!(plain.connections[0].exchanges.is_empty());
    assert!(plain.connections[0].tls.as_ref().unwrap().exchanges > 0);
}

#[test]
fn python_resumed_sessions_and_pipelined_pair() {
    let rep = keyed("tls-keylog-python-resumed.pcap");
    let c = &rep.connections;
    let reqs: Vec<u32> = c.iter().map(|r| r.requests).collect();
    assert_eq!(reqs, [2, 1, 2, 1, 2], "nginx access log: 8 requests");
    let res: Vec<Option<&str>> = c
        .iter()
        .map(|r| r.tls.as_ref().unwrap().resumption.as_deref())
        .collect();
    assert_eq!(res, [None, Some("psk"), None, Some("session-id"), None]);
    assert!(c.iter().all(|r| r.tls.as_ref().unwrap().fully_decrypted()));
    // Two requests in one TLS record: pipelined.
    assert_eq!(c[4].max_pipeline_depth, 2);
    assert!(c[4].exchanges[1].pipelined);
}

#[test]
fn one_connection_of_two_without_keys_and_the_same_from_a_dsb() {
    for rep in [
        keyed("tls-keylog-one-of-two.pcap"),
        // Secrets embedded by editcap --inject-secrets: no --keylog needed.
        common::analyze(&[&cap("tls-keylog-dsb.pcapng")]),
    ] {
        let c = &rep.connections;
        assert_eq!(c[0].requests, 2);
        assert!(c[0].tls.as_ref().unwrap().fully_decrypted());
        let t1 = c[1].tls.as_ref().unwrap();
        assert!(!t1.decrypted.client && !t1.decrypted.server);
        assert_eq!(
            t1.not_decrypted.as_deref(),
            Some("no key for this client random")
        );
        assert_eq!(c[1].requests, 0, "estimate only: {}", t1.exchanges);
        assert_eq!(t1.exchanges, 1);
        let s = &rep.summary.tls;
        assert_eq!((s.decrypted, s.partly_decrypted, s.opaque), (1, 0, 1));
        assert_eq!(
            s.not_decrypted.get("no key for this client random"),
            Some(&1)
        );
    }
}

#[test]
fn key_log_of_another_capture_matches_nothing() {
    let other = keylog("tls13-keylog-curl-aeads");
    let rep = with_keys("tls-keylog-curl-h2.pcap", keys_from(&[&other]));
    for c in &rep.connections {
        let t = c.tls.as_ref().unwrap();
        assert!(!t.decrypted.client && !t.decrypted.server);
        assert_eq!(
            t.not_decrypted.as_deref(),
            Some("no key for this client random")
        );
        assert!(c.exchanges.is_empty());
    }
}

/// The right client randoms with secrets altered: every record fails its
/// AEAD tag; nothing is decrypted into garbage.
#[test]
fn wrong_secrets_do_not_authenticate() {
    for name in ["tls13-keylog-curl-aeads", "tls12-keylog-curl-aeads"] {
        let text = std::fs::read_to_string(keylog(name)).unwrap();
        let flipped: String = text
            .lines()
            .map(|l| {
                let mut l = l.to_string();
                if let Some(last) = l.pop() {
                    l.push(if last == '0' { '1' } else { '0' });
                }
                l + "\n"
            })
            .collect();
        let ks = KeyStore::new();
        assert!(ks.add_text("altered", flipped.as_bytes(), 1) > 0);
        let rep = with_keys(&format!("{name}.pcap"), ks);
        for c in &rep.connections {
            let t = c.tls.as_ref().unwrap();
            assert!(!t.decrypted.client && !t.decrypted.server, "{name}");
            assert_eq!(
                t.not_decrypted.as_deref(),
                Some("key does not authenticate"),
                "{name}"
            );
            assert_eq!(c.requests, 0);
            assert!(c.exchanges.is_empty());
            assert!(
                c.warnings
                    .iter()
                    .any(|w| w.contains("does not authenticate")),
                "{:?}",
                c.warnings
            );
        }
        assert_eq!(
            rep.summary
                .tls
                .not_decrypted
                .get("key does not authenticate"),
            Some(&3)
        );
    }
}

/// A bad key log: line-numbered warnings in the report, good lines still used.
#[test]
fn malformed_key_log_lines_are_warned_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(keylog("tls-keylog-one-of-two")).unwrap();
    let p = dir.path().join("k.log");
    std::fs::write(
        &p,
        format!(
            "# test\nCLIENT_RANDOM zz\n{good}SERVER_TRAFFIC_SECRET_0 {} abcd\n",
            "11".repeat(32)
        ),
    )
    .unwrap();
    let rep = with_keys("tls-keylog-one-of-two.pcap", keys_from(&[&p]));
    assert_eq!(rep.connections[0].requests, 2);
    let w = &rep.summary.warnings;
    assert!(w.iter().any(|w| w.contains("line 2")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("secret of 2 bytes")), "{w:?}");
}

#[test]
fn node_tls_keylog_three_requests_on_one_connection() {
    let rep = keyed("tls-keylog-node.pcap");
    let c = &rep.connections[0];
    assert_eq!((c.requests, c.responses), (3, 3), "nginx access log: 3");
    assert_eq!(c.verdict, Verdict::Reused);
    let targets: Vec<_> = c
        .exchanges
        .iter()
        .map(|e| e.target.clone().unwrap())
        .collect();
    assert_eq!(targets, ["/a", "/b", "/c"]);
}

/// The command line: `report --keylog` (repeatable), a missing key log is a
/// clear error, `diff --keylog` uses the secrets on both sides.
#[test]
fn cli_keylog_report_errors_and_diff() {
    let run = |args: &[&str]| {
        std::process::Command::new(common::bin())
            .args(args)
            .output()
            .expect("run keepwatch")
    };
    let pcap = cap("tls-keylog-one-of-two.pcap");
    let keys = keylog("tls-keylog-one-of-two");
    let other = keylog("tls13-keylog-curl-aeads");
    let (p, k, o) = (
        pcap.to_str().unwrap(),
        keys.to_str().unwrap(),
        other.to_str().unwrap(),
    );
    let out = run(&[
        "report", "--format", "json", "--keylog", o, "--keylog", k, p,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["connections"][0]["requests"], 2);
    assert_eq!(v["connections"][0]["tls"]["decrypted"]["server"], true);
    assert_eq!(v["summary"]["tls"]["decrypted"], 1);
    // Text: exact for the decrypted connection, `~1` for the other.
    let out = run(&["report", "--color", "never", "--keylog", k, p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(", decrypted"), "{text}");
    assert!(
        text.contains("not decrypted: no key for this client random"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.contains(" ~1 ")), "{text}");

    let out = run(&["report", "--keylog", "/nonexistent/keys.log", p]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key log /nonexistent/keys.log"), "{err}");

    let out = run(&["diff", "--format", "json", "--keylog", k, p, p]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("\"requests\":2"), "{v}");
}

/// CSV carries what JSON says about decryption: the suite, each direction
/// decrypted or not, and why not (columns appended after `file`).
#[test]
fn csv_has_the_tls_decryption_columns() {
    let pcap = cap("tls-keylog-one-of-two.pcap");
    let keys = keylog("tls-keylog-one-of-two");
    let run = |format: &str| {
        let out = std::process::Command::new(common::bin())
            .args(["report", "--format", format, "--keylog"])
            .arg(&keys)
            .arg(&pcap)
            .output()
            .expect("run keepwatch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let json: Value = serde_json::from_slice(&run("json")).unwrap();
    let csv_out = run("csv");
    let mut rd = csv::Reader::from_reader(&csv_out[..]);
    let header: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    // New columns only at the end, after the old last one.
    assert!(at("file") < at("tls_cipher"));
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    for (row, c) in rows.iter().zip(json["connections"].as_array().unwrap()) {
        let t = &c["tls"];
        assert_eq!(&row[at("tls_cipher")], t["cipher"].as_str().unwrap());
        assert!(row[at("tls_cipher")].starts_with("TLS_"), "{row:?}");
        for dir in ["client", "server"] {
            let col = &row[at(&format!("tls_decrypted_{dir}"))];
            assert_eq!(col, t["decrypted"][dir].as_bool().unwrap().to_string());
        }
        assert_eq!(
            &row[at("tls_not_decrypted")],
            t["not_decrypted"].as_str().unwrap_or("")
        );
    }
    assert_eq!(&rows[0][at("tls_decrypted_client")], "true");
    assert_eq!(
        &rows[1][at("tls_not_decrypted")],
        "no key for this client random"
    );
}

/// curl ends each connection with its close_notify and nginx answers with
/// its FIN: decrypted or not, the client finished it. Decryption must not
/// turn that into the server closing after a response (and a
/// `server-closes-without-notice` finding against nginx).
#[test]
fn client_close_notify_ends_decrypted_connections_too() {
    use keepwatch::analysis::CloseReason;
    for name in ["tls13-keylog-curl-aeads.pcap", "tls-keylog-one-of-two.pcap"] {
        let with = keyed(name);
        let without = common::analyze(&[&cap(name)]);
        for (a, b) in with.connections.iter().zip(&without.connections) {
            assert!(a
                .close_detail
                .as_deref()
                .unwrap()
                .starts_with("client close_notify"));
            assert_eq!(
                a.close_reason,
                CloseReason::ClientFinished,
                "{name} #{}",
                a.id
            );
            assert_eq!(a.close_reason, b.close_reason, "{name} #{}", a.id);
        }
        assert!(
            with.summary.findings.is_empty(),
            "{name}: {:?}",
            with.summary.findings
        );
    }
}

/// Without keys a TLS connection has no `idle_before_close` (the last
/// response's end is not known): the findings' example lines must not
/// keep a hole for it.
#[test]
fn finding_examples_without_an_idle_time_read_cleanly() {
    let rep = common::analyze(&[&cap("tls-keylog-python-resumed.pcap")]);
    let f = rep
        .summary
        .findings
        .iter()
        .find(|f| f.kind.as_str() == "client-closes-after-each-response")
        .expect("finding");
    for e in &f.evidence {
        assert!(!e.contains("  "), "{e:?}");
    }
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("the client's FIN after the response")),
        "{:?}",
        f.evidence
    );
}

/// HTTP/2 (h2c, and h2 decrypted from TLS) has an idle time before the
/// close like HTTP/1.1: from the end of the last stream's response to the
/// first FIN.
#[test]
fn http2_connections_have_an_idle_time_before_close() {
    let reports = [
        (
            "h2c",
            common::analyze(&[&cap("h2c-prior-knowledge-3-streams.pcap")]),
        ),
        ("h2 in TLS", keyed("tls-keylog-curl-h2.pcap")),
    ];
    for (what, rep) in reports {
        for c in &rep.connections {
            assert_eq!(c.http_version, Some("2"), "{what}");
            let last = c
                .exchanges
                .iter()
                .filter_map(|e| e.response.end())
                .max()
                .expect("answered streams");
            let close = [c.tcp.fin_client, c.tcp.fin_server]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            let idle = c
                .idle_before_close
                .unwrap_or_else(|| panic!("{what} #{}: no idle_before_close", c.id));
            assert_eq!(idle, close.since(last), "{what} #{}", c.id);
        }
    }
}

fn summary_text(rep: &Report) -> String {
    let mut out = Vec::new();
    keepwatch::report::text::write_summary(
        &mut out,
        rep,
        keepwatch::report::text::Style { color: false },
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn summary_tls_exchanges_are_exact_where_decrypted_and_estimated_elsewhere() {
    // One connection decrypted (2 real requests), one without keys (burst
    // estimate 1): 2 exact + ~1 estimated, told apart in JSON and text.
    let rep = keyed("tls-keylog-one-of-two.pcap");
    let s = &rep.summary.tls;
    assert_eq!(
        (s.exchanges, s.exchanges_exact, s.exchanges_estimated),
        (3, 2, 1)
    );
    assert_eq!(s.tls_handshakes_saved, 1);
    let text = summary_text(&rep);
    assert!(
        text.contains("2 requests + ~1 estimated exchanges, 0.667 handshakes per exchange"),
        "{text}"
    );
    assert!(!text.contains("~3 exchanges"), "{text}");

    // h2 decrypted: 5 streams are 5 exchanges, not the burst estimate of
    // the multiplexed turns (5 + 3 records bursts).
    let rep = keyed("tls-keylog-curl-h2.pcap");
    let burst: u64 = rep
        .connections
        .iter()
        .map(|c| c.tls.as_ref().unwrap().exchanges as u64)
        .sum();
    assert_ne!(burst, 5, "the sample no longer tells the two apart");
    let s = &rep.summary.tls;
    assert_eq!(
        (s.exchanges, s.exchanges_exact, s.exchanges_estimated),
        (5, 5, 0)
    );
    assert_eq!(s.handshakes_per_exchange, 0.4);
    assert_eq!(s.tls_handshakes_saved, 3);
    let text = summary_text(&rep);
    assert!(
        text.contains("5 requests (decrypted), 0.400 handshakes per exchange"),
        "{text}"
    );

    // Without keys everything is the estimate, printed `~N`.
    let rep = common::analyze(&[&cap("tls-keylog-one-of-two.pcap")]);
    let s = &rep.summary.tls;
    assert_eq!(
        (s.exchanges, s.exchanges_exact, s.exchanges_estimated),
        (3, 0, 3)
    );
    assert!(summary_text(&rep).contains("~3 exchanges"));
}
