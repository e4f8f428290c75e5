//! The bundled samples (real loopback recordings, `samples/record.sh`) against
//! the facts tshark computed when they were recorded (`samples/expected.json`),
//! plus the keep-alive semantics each scenario was recorded to show: close
//! reasons, verdicts, stale requests, pipelining depth, TLS exchanges. The
//! semantic expectations follow from how each scenario was made (see
//! samples/README.md); tshark has no notion of them.

mod common;

use keepwatch::analysis::ConnectionRecord;
use keepwatch::engine::Report;
use serde_json::Value;

fn expected() -> Value {
    let p = common::samples_dir().join("expected.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn report(name: &str) -> Report {
    common::analyze(&[&common::samples_dir().join("captures").join(name)])
}

fn text(name: &str) -> String {
    let mut out = Vec::new();
    keepwatch::report::text::write_report(
        &mut out,
        &report(name),
        keepwatch::report::text::Style { color: false },
        true,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

fn conns(name: &str) -> Vec<ConnectionRecord> {
    report(name).connections
}

#[test]
fn every_sample_matches_tshark() {
    let exp = expected();
    let caps = exp["captures"].as_object().unwrap();
    assert!(caps.len() >= 26);
    let mut errs = Vec::new();
    for (name, e) in caps {
        let rep = report(name);
        let s = &e["summary"];
        if rep.summary.packets != e["packets"].as_u64().unwrap() {
            errs.push(format!(
                "{name}: {} packets, tshark {}",
                rep.summary.packets, e["packets"]
            ));
        }
        let want = e["connections"].as_array().unwrap();
        if rep.connections.len() != want.len() {
            errs.push(format!(
                "{name}: {} connections, tshark {}",
                rep.connections.len(),
                want.len()
            ));
            continue;
        }
        if rep.summary.handshakes != s["handshakes_complete"].as_u64().unwrap() {
            errs.push(format!(
                "{name}: {} handshakes, tshark {}",
                rep.summary.handshakes, s["handshakes_complete"]
            ));
        }
        for (c, w) in rep.connections.iter().zip(want) {
            let id = c.id;
            let mut check = |what: &str, mine: String, theirs: String| {
                if mine != theirs {
                    errs.push(format!("{name} #{id}: {what} {mine}, tshark {theirs}"));
                }
            };
            check(
                "client",
                c.client.clone(),
                w["client"].as_str().unwrap().into(),
            );
            check(
                "server",
                c.server.clone(),
                w["server"].as_str().unwrap().into(),
            );
            check(
                "handshake complete",
                (c.handshake == keepwatch::tcp::HandshakeState::Complete).to_string(),
                w["handshake_complete"].to_string(),
            );
            check(
                "closed_by",
                c.closed_by.as_str().into(),
                w["closed_by"].as_str().unwrap().into(),
            );
            check("packets", c.packets.to_string(), w["packets"].to_string());
            check(
                "payload bytes",
                format!(
                    "{}/{}",
                    c.tcp.client_to_server.stream_bytes, c.tcp.server_to_client.stream_bytes
                ),
                format!(
                    "{}/{}",
                    w["payload_bytes"]["client"], w["payload_bytes"]["server"]
                ),
            );
            if let Some(h2) = w["http2"].as_object() {
                let streams = h2["request_streams"].as_array().unwrap().len();
                check("h2 streams", c.requests.to_string(), streams.to_string());
                check(
                    "h2 responses",
                    c.responses.to_string(),
                    h2["response_streams"].as_array().unwrap().len().to_string(),
                );
            } else {
                check(
                    "requests",
                    c.requests.to_string(),
                    w["requests"].to_string(),
                );
                check(
                    "responses",
                    c.responses.to_string(),
                    w["final_responses"].to_string(),
                );
                check(
                    "interim",
                    c.interim_responses.to_string(),
                    w["interim_responses"].to_string(),
                );
            }
            match (&c.tls, w["tls"].as_object()) {
                (None, None) => {}
                (Some(t), Some(wt)) => {
                    check(
                        "ClientHellos",
                        t.client_hellos.to_string(),
                        wt["client_hellos"].to_string(),
                    );
                    let sni = wt["sni"]
                        .as_array()
                        .unwrap()
                        .first()
                        .and_then(|v| v.as_str())
                        .map(String::from);
                    check("SNI", format!("{:?}", t.sni), format!("{sni:?}"));
                    let offered: Vec<String> = wt["alpn_offered"][0]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect();
                    check(
                        "ALPN offered",
                        format!("{:?}", t.alpn_offered),
                        format!("{offered:?}"),
                    );
                    let sel = wt["alpn_selected"].as_str().map(String::from);
                    check("ALPN selected", format!("{:?}", t.alpn), format!("{sel:?}"));
                    let ver = wt["version"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("TLSv")
                        .to_string();
                    check(
                        "TLS version",
                        format!("{:?}", t.version),
                        format!("{:?}", Some(ver)),
                    );
                    check("resumed", t.resumed.to_string(), wt["resumed"].to_string());
                }
                (mine, theirs) => errs.push(format!(
                    "{name} #{id}: TLS {:?} vs tshark {theirs:?}",
                    mine.is_some()
                )),
            }
        }
    }
    assert!(
        errs.is_empty(),
        "{} mismatches:\n{}",
        errs.len(),
        errs.join("\n")
    );
}

fn words(c: &[ConnectionRecord]) -> Vec<(u32, u32, &'static str, &'static str)> {
    c.iter()
        .map(|r| {
            (
                r.requests,
                r.responses,
                r.close_reason.as_str(),
                r.verdict.as_str(),
            )
        })
        .collect()
}

#[test]
fn http11_reuse_ipv6_pcapng_nsec_and_cooked_captures_agree() {
    for f in [
        "curl-http11-reuse.pcap",
        "curl-http11-reuse.pcapng",
        "curl-http11-reuse-nsec.pcap",
        "curl-http11-ipv6.pcap",
    ] {
        let c = conns(f);
        assert_eq!(words(&c), vec![(2, 2, "client-finished", "reused")], "{f}");
        assert_eq!(c[0].http_version, Some("1.1"), "{f}");
        assert_eq!(c[0].max_pipeline_depth, 1, "{f}");
        assert_eq!(c[0].stale_requests, 0, "{f}");
    }
    for f in ["curl-any-sll.pcap", "curl-any-sll2.pcap"] {
        assert_eq!(
            words(&conns(f)),
            vec![(1, 1, "client-finished", "single-request-kept-open")],
            "{f}"
        );
    }
    let r = report("curl-http11-reuse.pcap");
    assert_eq!(
        r.summary.headline,
        "2 requests over 1 connection: 1 handshake saved"
    );
    assert_eq!(r.summary.handshakes_saved, 1);
}

#[test]
fn http10_closes_after_each_request_unless_keep_alive_is_asked() {
    let c = conns("curl-http10-close.pcap");
    assert_eq!(
        words(&c),
        vec![(1, 1, "http10-default", "single-request-closed"); 2]
    );
    let r = report("curl-http10-close.pcap");
    assert!(
        r.summary
            .headline
            .contains("HTTP/1.0 without keep-alive, every request paid a new handshake"),
        "{}",
        r.summary.headline
    );
    // curl -0 -H 'Connection: keep-alive': nginx keeps it open for 1.0.
    let c = conns("curl-http10-keepalive.pcap");
    assert_eq!(words(&c), vec![(2, 2, "client-finished", "reused")]);
    assert_eq!(
        c[0].http_version,
        Some("mixed"),
        "1.0 requests, 1.1 responses"
    );
    // ab without -k is HTTP/1.0 without keep-alive; with -k it asks for it.
    assert_eq!(
        words(&conns("ab-http10-close.pcap")),
        vec![(1, 1, "http10-default", "single-request-closed"); 5]
    );
    assert_eq!(
        words(&conns("ab-keepalive.pcap")),
        vec![(5, 5, "client-finished", "reused")]
    );
    // CPython's http.server answers HTTP/1.0 and closes, even to a 1.1 client.
    assert_eq!(
        words(&conns("python-http-server-http10.pcap")),
        vec![(1, 1, "http10-default", "single-request-closed"); 2]
    );
    // Two connections on one 4-tuple (same client port).
    let c = conns("port-reuse-same-4tuple.pcap");
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].client, c[1].client);
    assert_eq!(c[0].tcp.end_cause, keepwatch::tcp::EndCause::PortReused);
}

#[test]
fn connection_close_from_client_and_from_server() {
    assert_eq!(
        words(&conns("curl-client-connection-close.pcap")),
        vec![(1, 1, "connection-close-request", "single-request-closed"); 2]
    );
    // nginx keepalive_requests 3: `Connection: close` on the 3rd response.
    let c = conns("nginx-keepalive-requests-3.pcap");
    assert_eq!(
        words(&c),
        vec![
            (3, 3, "connection-close-response", "reused"),
            (2, 2, "client-finished", "reused")
        ]
    );
    assert_eq!(
        c[0].exchanges[2].connection(keepwatch::Direction::ServerToClient),
        Some("close")
    );
    assert_eq!(
        report("nginx-keepalive-requests-3.pcap")
            .summary
            .handshakes_saved,
        3
    );
}

#[test]
fn stale_request_after_idle_timeout_is_flagged() {
    let r = report("stale-keepalive-timeout-retry.pcap");
    let c = &r.connections;
    assert_eq!(c[0].requests, 2);
    assert_eq!(c[0].responses, 1);
    assert_eq!(c[0].stale_requests, 1);
    assert_eq!(c[0].close_reason.as_str(), "idle-timeout");
    assert_eq!(c[0].closed_by.as_str(), "server");
    // Two requests, but the only reuse was stale: the reuse failed (and
    // saved no handshake), it is not `reused`.
    assert_eq!(c[0].verdict.as_str(), "reuse-failed");
    assert_eq!(r.summary.reused_connections, 0);
    let detail = c[0].close_detail.as_deref().unwrap();
    assert!(
        detail.starts_with("server FIN, then a late request 1.5")
            && detail.contains("answered by RST"),
        "{detail}"
    );
    let text = text("stale-keepalive-timeout-retry.pcap");
    assert!(text.contains("answered by RST"), "{text}");
    assert!(
        c[0].tcp.reset_after_fin,
        "nginx answers the stale request with RST"
    );
    // nginx keepalive_timeout 1s: the server's FIN comes ~1 s after the response.
    let idle = c[0].idle_before_close.unwrap().as_secs_f64();
    assert!((0.9..1.6).contains(&idle), "idle {idle}");
    // The retry on a new connection.
    assert_eq!(
        words(&c[1..]),
        vec![(1, 1, "client-finished", "single-request-kept-open")]
    );
    assert_eq!(r.summary.stale_requests, 1);
    assert!(
        r.summary.headline.contains("1 stale request"),
        "{}",
        r.summary.headline
    );
    // The failed request saved nothing.
    assert_eq!(r.summary.handshakes_saved, 0);
}

#[test]
fn pipelined_requests_in_one_segment() {
    let c = conns("python-pipelined-3.pcap");
    assert_eq!(
        words(&c),
        vec![(3, 3, "connection-close-request", "reused")]
    );
    assert_eq!(c[0].max_pipeline_depth, 3);
    assert!(c[0].exchanges[1].pipelined && c[0].exchanges[2].pipelined);
}

#[test]
fn head_304_post_and_large_body_on_one_connection() {
    let c = conns("python-head-304-post-large.pcap");
    assert_eq!(words(&c), vec![(4, 4, "client-finished", "reused")]);
    let ex = &c[0].exchanges;
    let m: Vec<(&str, u16)> = ex
        .iter()
        .map(|e| (e.method().unwrap(), e.status.unwrap()))
        .collect();
    assert_eq!(
        m,
        vec![("HEAD", 200), ("GET", 304), ("POST", 200), ("GET", 200)]
    );
    assert_eq!(ex[0].response.body_bytes, 0, "HEAD has no body");
    assert_eq!(ex[1].response.body_bytes, 0, "304 has no body");
    assert_eq!(ex[2].request.body_bytes, 214);
    assert_eq!(ex[3].response.body_bytes, 300_000);
    assert!(ex.iter().all(|e| e.response.complete));
}

#[test]
fn chunked_gzip_responses() {
    let c = conns("curl-gzip-chunked.pcap");
    assert_eq!(words(&c), vec![(2, 2, "client-finished", "reused")]);
    for e in &c[0].exchanges {
        assert_eq!(e.response.framing.map(|f| f.as_str()), Some("chunked"));
        assert_eq!(e.rare().content_encoding.as_deref(), Some("gzip"));
        assert!(e.response.complete && e.response.body_bytes > 0);
    }
}

#[test]
fn impaired_network_loss_duplication_reordering() {
    let c = conns("netns-impaired-loss-dup-reorder.pcap");
    assert_eq!(
        words(&c),
        vec![
            (3, 3, "client-finished", "reused"),
            (1, 1, "client-finished", "single-request-kept-open")
        ]
    );
    let big = c[0]
        .exchanges
        .iter()
        .find(|e| e.target.as_deref() == Some("/big200k"))
        .unwrap();
    assert!(big.response.complete);
    let t = &c[0].tcp.server_to_client;
    assert!(
        t.retransmissions + t.out_of_order > 0,
        "the impairment shows: {t:?}"
    );
}

#[test]
fn wrk_load_ends_with_a_reset() {
    let c = conns("wrk-2conns-throttled.pcap");
    assert_eq!(c[0].verdict.as_str(), "no-http", "wrk's connect probe");
    assert!(c.iter().any(|r| r.close_reason.as_str() == "reset"));
    assert_eq!(c.iter().map(|r| r.requests).sum::<u32>(), 22);
}

#[test]
fn https_exchanges_resumption_and_alpn() {
    let r = report("tls12-curl-http11-reuse.pcap");
    let t = r.connections[0].tls.as_ref().unwrap();
    assert_eq!(
        (t.exchanges, t.handshakes, t.full_handshakes, t.resumed),
        (2, 1, 1, false)
    );
    assert_eq!(r.connections[0].verdict.as_str(), "reused");
    assert_eq!(
        r.summary.headline,
        "~2 HTTPS exchanges over 1 connection: 1 TCP and 1 TLS handshakes saved (estimated from TLS records)"
    );

    let t13 = conns("tls13-curl-http11-reuse.pcap");
    let t = t13[0].tls.as_ref().unwrap();
    assert_eq!((t.version.as_deref(), t.exchanges), (Some("1.3"), 2));
    // curl ends both sessions the same way (close_notify, then nginx's FIN):
    // TLS 1.2 and 1.3 get the same close reason, and the words say who did what.
    for c in [&r.connections[0], &t13[0]] {
        assert_eq!(c.closed_by.as_str(), "server");
        assert_eq!(c.close_reason.as_str(), "client-finished");
        assert_eq!(
            c.close_detail.as_deref(),
            Some("client close_notify, then server FIN")
        );
    }

    // A Python client (http.client over ssl), TLS 1.3: three sequential GETs,
    // one of them 300 KB (many records), on one connection.
    let py = conns("tls13-python-3-requests.pcap");
    let t = py[0].tls.as_ref().unwrap();
    assert_eq!(
        (t.version.as_deref(), t.exchanges, t.handshakes),
        (Some("1.3"), 3, 1)
    );
    assert_eq!(py[0].verdict.as_str(), "reused");

    let res = conns("tls12-resumption.pcap");
    let (a, b) = (res[0].tls.as_ref().unwrap(), res[1].tls.as_ref().unwrap());
    assert!(!a.resumed && a.certificate_seen && a.full_handshakes == 1);
    assert!(b.resumed && !b.certificate_seen && b.full_handshakes == 0);
    assert_eq!((a.exchanges, b.exchanges), (1, 1));

    let psk = conns("tls13-psk-resumption.pcap");
    let b = psk[1].tls.as_ref().unwrap();
    assert_eq!((b.resumed, b.resumption.as_deref()), (true, Some("psk")));
    // s_client sends `Connection: close`: nginx sends close_notify first on
    // every one of these four connections, whoever's FIN then wins the race.
    for c in res.iter().chain(&psk) {
        assert_eq!(c.close_reason.as_str(), "unknown", "#{}", c.id);
        let d = c.close_detail.as_deref().unwrap();
        assert!(d.starts_with("server close_notify, then "), "{d}");
    }
    assert_eq!(psk[1].closed_by.as_str(), "client");

    let alpn = conns("tls-alpn-h2-vs-http11.pcap");
    assert_eq!(alpn[0].tls.as_ref().unwrap().alpn.as_deref(), Some("h2"));
    assert_eq!(alpn[0].http_version, Some("2"));
    assert_eq!(
        alpn[1].tls.as_ref().unwrap().alpn.as_deref(),
        Some("http/1.1")
    );
    assert_eq!(alpn[1].tls.as_ref().unwrap().exchanges, 1);
}

#[test]
fn h2c_prior_knowledge_streams_are_requests() {
    let c = conns("h2c-prior-knowledge-3-streams.pcap");
    assert_eq!(c[0].protocol, "h2c");
    assert_eq!(c[0].http_version, Some("2"));
    assert_eq!((c[0].requests, c[0].responses), (3, 3));
    assert_eq!(c[0].verdict.as_str(), "reused");
    // nghttp ends with a GOAWAY (NO_ERROR, last stream 0; tshark shows it
    // from the client's port), then its FIN.
    assert_eq!(c[0].close_reason.as_str(), "client-finished");
    assert!(
        c[0].close_detail.as_deref().is_some_and(
            |d| d.starts_with("client GOAWAY (NO_ERROR, last stream 0), then client FIN")
        ),
        "{:?}",
        c[0].close_detail
    );
}
