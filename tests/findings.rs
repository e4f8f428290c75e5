//! Findings (docs/findings.md) on the real captures recorded to show them
//! (samples/record.sh f01-f08, s11, s15, s16), and silence on healthy traffic.

mod common;

use keepwatch::analysis::findings::{count_by_kind, Finding, FindingKind, MAX_EXAMPLES};
use keepwatch::engine::{Options, Report};

fn path(name: &str) -> std::path::PathBuf {
    common::samples_dir().join("captures").join(name)
}

fn report(name: &str) -> Report {
    common::analyze(&[&path(name)])
}

/// (kind, server port, client, connections, value) of a finding.
type Brief = (&'static str, String, Option<String>, u64, Option<f64>);

fn brief(f: &[Finding]) -> Vec<Brief> {
    f.iter()
        .map(|f| {
            (
                f.kind.as_str(),
                f.server.rsplit_once(':').unwrap().1.to_string(),
                f.client.clone(),
                f.connections,
                f.value,
            )
        })
        .collect()
}

fn one(name: &str) -> Finding {
    let r = report(name);
    assert_eq!(
        r.summary.findings.len(),
        1,
        "{name}: {:#?}",
        r.summary.findings
    );
    r.summary.findings[0].clone()
}

const LO: Option<&str> = Some("127.0.0.1");

fn check(f: &Finding, kind: &str, port: &str, conns: u64, value: Option<f64>) {
    assert_eq!(
        brief(std::slice::from_ref(f)),
        vec![(kind, port.to_string(), LO.map(String::from), conns, value)]
    );
    assert!(!f.advice.is_empty() && f.evidence.len() >= 2, "{f:#?}");
    assert_eq!(
        f.example_connections.len() as u64,
        conns.min(MAX_EXAMPLES as u64)
    );
}

#[test]
fn python_requests_without_a_session_closes_after_each_response() {
    let f = one("python-requests-no-session.pcap");
    check(&f, "client-closes-after-each-response", "18030", 3, None);
    assert!(f.advice.contains("Session"), "{}", f.advice);
    // The same client with a Session reuses one connection: nothing to say.
    let r = report("python-requests-session.pcap");
    assert_eq!(r.connections.len(), 1);
    assert_eq!(r.connections[0].verdict.as_str(), "reused");
    assert!(r.summary.findings.is_empty(), "{:#?}", r.summary.findings);
}

#[test]
fn client_idle_past_a_one_second_server_timeout() {
    // requests' pool noticed nginx's close: no stale request, a new
    // connection; the finding fires all the same.
    let r = report("python-requests-idle-past-server-timeout.pcap");
    assert_eq!(r.summary.stale_requests, 0);
    assert_eq!(
        brief(&r.summary.findings),
        vec![
            (
                "client-idle-exceeds-server-timeout",
                "18032".into(),
                LO.map(String::from),
                1,
                Some(1.0)
            ),
            (
                "server-idle-timeout",
                "18032".into(),
                LO.map(String::from),
                1,
                Some(1.0)
            ),
        ]
    );
    assert!(r.summary.findings[0]
        .advice
        .contains("below the server's 1 s"));
}

#[test]
fn stale_request_after_the_server_timeout() {
    let r = report("stale-keepalive-timeout-retry.pcap");
    let b = brief(&r.summary.findings);
    let lo = LO.map(String::from);
    assert_eq!(
        b,
        vec![
            ("stale-reuse", "18011".into(), lo.clone(), 1, Some(1.0)),
            (
                "client-idle-exceeds-server-timeout",
                "18011".into(),
                lo.clone(),
                1,
                Some(1.0)
            ),
            ("server-idle-timeout", "18011".into(), lo, 1, Some(1.0)),
        ]
    );
    let stale = &r.summary.findings[0];
    // Evidence: the server's FIN, the late request, the RST.
    assert!(
        stale.evidence[1].contains("server FIN, then a late request")
            && stale.evidence[1].contains("answered by RST"),
        "{:?}",
        stale.evidence
    );
}

#[test]
fn nginx_keepalive_requests_is_a_request_limit() {
    let f = one("nginx-keepalive-requests-limit.pcap");
    check(&f, "server-request-limit", "18033", 2, Some(3.0));
    // One connection closed after 3 is not yet a pattern.
    assert!(report("nginx-keepalive-requests-3.pcap")
        .summary
        .findings
        .is_empty());
}

#[test]
fn node_agent_false_sends_connection_close() {
    check(
        &one("node-agent-false.pcap"),
        "client-sends-connection-close",
        "18034",
        3,
        None,
    );
    check(
        &one("curl-client-connection-close.pcap"),
        "client-sends-connection-close",
        "18009",
        2,
        None,
    );
}

#[test]
fn go_unread_body_abandons_the_response() {
    let f = one("go-unread-body.pcap");
    check(&f, "response-abandoned", "18035", 3, None);
    assert!(f.evidence[1].contains("client RST"), "{:?}", f.evidence);
    // wrk resetting one connection when it stops is not a pattern.
    assert!(report("wrk-2conns-throttled.pcap")
        .summary
        .findings
        .is_empty());
}

#[test]
fn forward_proxy_closing_without_notice() {
    let r = report("forward-proxy-closes-without-notice.pcap");
    for c in &r.connections {
        assert_eq!(c.close_reason.as_str(), "server-closed-after-response");
        assert_eq!(c.verdict.as_str(), "single-request-closed");
    }
    check(
        &r.summary.findings[0],
        "server-closes-without-notice",
        "18036",
        3,
        None,
    );
    assert_eq!(r.summary.findings.len(), 1);
}

#[test]
fn reverse_proxy_speaks_http10_to_its_upstream() {
    let r = report("nginx-reverse-proxy-http10-upstream.pcap");
    // curl → nginx: one reused connection, silent; nginx → upstream: one
    // HTTP/1.0 connection per request.
    assert_eq!(r.summary.per_server.len(), 2);
    let f = one("nginx-reverse-proxy-http10-upstream.pcap");
    check(&f, "http10-without-keepalive", "18039", 3, None);
    assert!(f.advice.contains("proxy_http_version 1.1"));
    for (name, port, n) in [
        ("ab-http10-close.pcap", "18015", 5),
        ("curl-http10-close.pcap", "18002", 2),
    ] {
        check(&one(name), "http10-without-keepalive", port, n, None);
    }
}

#[test]
fn servers_that_disable_keep_alive() {
    check(
        &one("nginx-keepalive-timeout-0.pcap"),
        "server-disables-keepalive",
        "18040",
        3,
        None,
    );
    // CPython's http.server answers HTTP/1.1 requests in HTTP/1.0 and closes.
    let f = one("python-http-server-http10.pcap");
    check(&f, "server-disables-keepalive", "18017", 2, None);
    assert!(f.evidence[1].contains("answered in HTTP/1.0"));
}

#[test]
fn healthy_traffic_is_silent() {
    for name in [
        "curl-http11-reuse.pcap",
        "curl-http11-reuse.pcapng",
        "curl-http11-ipv6.pcap",
        "curl-any-sll.pcap",
        "curl-gzip-chunked.pcap",
        "curl-http10-keepalive.pcap",
        "ab-keepalive.pcap",
        "python-head-304-post-large.pcap",
        "python-pipelined-3.pcap",
        "python-requests-session.pcap",
        "netns-impaired-loss-dup-reorder.pcap",
        "h2c-prior-knowledge-3-streams.pcap",
        "tls12-curl-http11-reuse.pcap",
        "tls13-curl-http11-reuse.pcap",
        "tls13-python-3-requests.pcap",
        "tls-alpn-h2-vs-http11.pcap",
        "tls12-resumption.pcap",
        "tls13-psk-resumption.pcap",
        "wrk-2conns-throttled.pcap",
    ] {
        let r = report(name);
        assert!(
            r.summary.findings.is_empty(),
            "{name}: {:#?}",
            r.summary.findings
        );
    }
}

#[test]
fn streaming_summary_gives_the_same_findings() {
    // JSONL/CSV/live fold records into the summary and keep none of them.
    let opts = Options {
        slim_records: true,
        drop_exchanges: true,
        ..Options::default()
    };
    for name in [
        "stale-keepalive-timeout-retry.pcap",
        "nginx-reverse-proxy-http10-upstream.pcap",
        "go-unread-body.pcap",
        "ab-http10-close.pcap",
    ] {
        let full = report(name);
        let slim = common::analyze_with(&[&path(name)], opts.clone());
        assert!(slim.connections.is_empty());
        assert_eq!(slim.summary.findings, full.summary.findings, "{name}");
        assert!(!full.summary.findings.is_empty());
    }
}

#[test]
fn findings_in_json_text_and_counts() {
    let r = report("ab-http10-close.pcap");
    let j = serde_json::to_value(&r.summary).unwrap();
    let f = &j["findings"][0];
    assert_eq!(f["kind"], "http10-without-keepalive");
    assert_eq!(f["server"], "127.0.0.1:18015");
    assert_eq!(f["client"], "127.0.0.1");
    assert_eq!(f["connections"], 5);
    assert!(f["value"].is_null());
    assert_eq!(
        f["example_connections"].as_array().unwrap().len(),
        MAX_EXAMPLES
    );
    let r = report("nginx-keepalive-requests-limit.pcap");
    let j = serde_json::to_value(&r.summary).unwrap();
    assert_eq!(
        j["findings"][0]["value"],
        serde_json::json!(3),
        "an integer"
    );

    let mut out = Vec::new();
    keepwatch::report::text::write_report(
        &mut out,
        &r,
        keepwatch::report::text::Style { color: false },
        false,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let at = text.find("\nFindings\n").expect("a Findings section");
    assert!(at > text.find("Summary").unwrap(), "after the summary");
    assert!(text.contains("server-request-limit · server 127.0.0.1:18033 · client 127.0.0.1 · 2 connections · value 3"), "{text}");
    assert!(text.contains("advice: The server serves at most 3 requests"));

    let counts = count_by_kind(&r.summary.findings);
    assert_eq!(counts.len(), FindingKind::ALL.len());
    assert_eq!(counts["server-request-limit"], 1);
    assert_eq!(counts["stale-reuse"], 0);
}

#[test]
fn memory_stays_bounded_with_many_clients() {
    use keepwatch::analysis::findings::{FindingsBuilder, MAX_CLIENTS_PER_SERVER};
    // 2000 clients, each closing one-request connections to one server,
    // twice: a pattern per client, but only so many clients are tracked.
    let base = report("python-requests-no-session.pcap").connections;
    let mut b = FindingsBuilder::new();
    let mut id = 0;
    for c in 0..2000u32 {
        for r in &base[..2] {
            let mut r = r.clone();
            r.id = id;
            id += 1;
            r.client = format!("10.{}.{}.{}:40000", c >> 16, (c >> 8) & 255, c & 255);
            b.add(&r);
        }
    }
    assert_eq!(b.tracked(), (1, MAX_CLIENTS_PER_SERVER));
    let f = b.findings();
    // One finding per tracked client, plus one for the shared bucket that
    // names no client.
    assert_eq!(f.len(), MAX_CLIENTS_PER_SERVER + 1);
    assert!(f
        .iter()
        .all(|f| f.kind.as_str() == "client-closes-after-each-response"));
    assert!(f
        .iter()
        .all(|f| f.example_connections.len() <= MAX_EXAMPLES));
    let shared = f.iter().find(|f| f.client.is_none()).unwrap();
    assert_eq!(
        shared.connections,
        2 * (2000 - MAX_CLIENTS_PER_SERVER as u64)
    );
    assert_eq!(f.iter().map(|f| f.connections).sum::<u64>(), 4000);
}
