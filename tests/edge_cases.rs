//! Protocol edge cases on connections built field by field, run through the
//! whole pipeline, and a robustness sweep over mutated real captures.

mod common;

use common::build::*;

const T0: i64 = CONVERSATION_T0;

fn analyze(pkts: &[(i64, Vec<u8>)]) -> keepwatch::engine::Report {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.pcap");
    std::fs::write(&p, pcap(1, false, false, pkts)).unwrap();
    common::analyze(&[&p])
}

#[test]
fn upgrade_to_h2c_counts_the_upgraded_request_once() {
    let req = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    resp.extend(h2_frame(4, 0, 0, b"")); // server SETTINGS
    resp.extend(h2_frame(1, 4, 1, b"\x88")); // HEADERS on stream 1 (the upgraded request's response)
    let mut client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    client.extend(h2_frame(4, 0, 0, b""));
    client.extend(h2_frame(1, 5, 3, b"\x82\x84")); // a second request, stream 3
    let server2 = h2_frame(1, 5, 3, b"\x88");
    let pkts = conversation(&[
        (true, req, PSH),
        (false, &resp, PSH),
        (true, &client, PSH),
        (false, &server2, PSH),
        (true, b"", FIN),
        (false, b"", FIN),
    ]);
    let r = analyze(&pkts);
    let c = &r.connections[0];
    assert_eq!(c.protocol, "http");
    assert_eq!(c.http_version, Some("2"));
    assert_eq!((c.requests, c.responses), (2, 2), "{:?}", c.http2);
    assert_eq!(c.verdict.as_str(), "reused");
    assert!(c.http2.as_ref().unwrap().upgraded);
}

#[test]
fn websocket_bytes_after_101_are_not_http() {
    let req = b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello";
    // A masked client frame whose payload spells an HTTP request: must not count.
    let frame = b"\x81\x9c\x00\x00\x00\x00GET /x HTTP/1.1\r\nHost: h\r\n\r\n";
    let pkts = conversation(&[
        (true, req, PSH),
        (false, resp, PSH),
        (true, frame, PSH),
        (false, b"", FIN),
        (true, b"", FIN),
    ]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!((c.requests, c.responses), (1, 1));
    assert_eq!(c.exchanges[0].status, Some(101));
    assert_eq!(c.closed_by.as_str(), "server");
}

#[test]
fn keep_alive_header_is_parsed_and_max_reached_is_the_reason() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let ok2 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=2\r\n\r\n";
    let ok1 = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=1\r\n\r\n";
    let last = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    // Apache counts max down and sends Connection: close on the last one.
    let pkts = conversation(&[
        (true, req, PSH),
        (false, ok2, PSH),
        (true, req, PSH),
        (false, ok1, PSH),
        (true, req, PSH),
        (false, last, PSH | FIN),
        (true, b"", FIN),
    ]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.requests, 3);
    assert_eq!(c.close_reason.as_str(), "keep-alive-max");
    let ka = c.exchanges[0].keep_alive().unwrap();
    assert_eq!((ka.timeout, ka.max), (Some(5), Some(2)));
}

#[test]
fn idle_timeout_with_announced_timeout() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5\r\n\r\nok";
    let mut pkts = conversation(&[(true, req, PSH), (false, ok, PSH), (false, b"", FIN)]);
    // The server's FIN comes 5 s after the response.
    let n = pkts.len();
    pkts[n - 1].0 += 5_000_000_000;
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.close_reason.as_str(), "idle-timeout");
    assert_eq!(c.verdict.as_str(), "single-request-kept-open");
    assert_eq!(c.keep_alive.as_ref().unwrap().timeout, Some(5));
    let idle = c.idle_before_close.unwrap().as_secs_f64();
    assert!((5.0..5.01).contains(&idle), "{idle}");
    // The text row ties the idle time to the announced timeout.
    let row = keepwatch::report::text::row(
        c,
        keepwatch::report::text::Style { color: false },
        keepwatch::report::text::Widths::default(),
    );
    assert!(
        row.contains("idle 5.00s before close: the Keep-Alive timeout=5 the server announced"),
        "{row}"
    );
}

#[test]
fn unanswered_request_and_no_http() {
    let pkts = conversation(&[
        (true, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", PSH),
        (true, b"", FIN),
        (false, b"", RST),
    ]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.verdict.as_str(), "unanswered");
    let pkts = conversation(&[
        (true, b"\x00\x01binary protocol", PSH),
        (false, b"\x02reply", PSH),
        (true, b"", FIN),
    ]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.verdict.as_str(), "no-http");
    assert_eq!(c.protocol, "unknown");
}

/// Flip, cut and shuffle bytes of real captures: the pipeline must never
/// panic, whatever it is given (a deterministic LCG keeps it repeatable).
#[test]
fn mutated_captures_never_panic() {
    let dir = common::samples_dir().join("captures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let tmp = tempfile::tempdir().unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut runs = 0;
    for f in files
        .iter()
        .filter(|f| std::fs::metadata(f).unwrap().len() < 50_000)
    {
        let orig = std::fs::read(f).unwrap();
        for round in 0..8 {
            let mut b = orig.clone();
            // Leave the file header mostly intact so the records get parsed.
            for _ in 0..(1 + round * 4) {
                let i = 24 + next() % (b.len() - 24);
                b[i] = next() as u8;
            }
            if round % 3 == 2 {
                b.truncate(24 + next() % (b.len() - 24));
            }
            let p = tmp.path().join(format!("m{round}.cap"));
            std::fs::write(&p, &b).unwrap();
            if let Ok(cap) = keepwatch::capture::CaptureFile::open(&p) {
                let mut an = keepwatch::engine::Analyzer::new(Default::default()).unwrap();
                let _ = cap.for_each(|pkt| an.packet(&pkt, &mut |_| {}));
                let rep = an.finish(&mut |_| {});
                let _ = serde_json::to_string(&rep).unwrap();
                runs += 1;
            }
        }
    }
    assert!(runs > 100, "only {runs} mutated captures analysed");
}

#[test]
fn a_long_keep_alive_connection_keeps_counts_exact_and_details_bounded() {
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let ok: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let close: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    let mut steps: Vec<(bool, &[u8], u8)> = Vec::new();
    for _ in 0..2999 {
        steps.push((true, req, PSH));
        steps.push((false, ok, PSH));
    }
    steps.push((true, req, PSH));
    steps.push((false, close, PSH | FIN));
    steps.push((true, b"", FIN));
    let c = &analyze(&conversation(&steps)).connections[0];
    assert_eq!((c.requests, c.responses), (3000, 3000));
    assert!(
        c.exchanges.len() < 1500,
        "{} exchanges kept",
        c.exchanges.len()
    );
    assert_eq!(c.exchanges.len() + c.exchanges_omitted, 3000);
    assert_eq!(c.close_reason.as_str(), "connection-close-response");
    assert_eq!(
        c.exchanges
            .last()
            .unwrap()
            .connection(keepwatch::Direction::ServerToClient),
        Some("close")
    );
    assert_eq!(c.max_pipeline_depth, 1);
}

/// A real capture with its packets shuffled in windows of five (as a SPAN
/// port or a careless merge delivers them): data before its SYN, ACKs before
/// the data they acknowledge. Still one connection with both exchanges, and
/// a warning that the file is out of time order.
#[test]
fn shuffled_capture_keeps_connections_and_data() {
    let orig =
        std::fs::read(common::samples_dir().join("captures/curl-http11-reuse.pcap")).unwrap();
    let mut recs = Vec::new();
    let mut o = 24;
    while o < orig.len() {
        let cl = u32::from_le_bytes(orig[o + 8..o + 12].try_into().unwrap()) as usize;
        recs.push(orig[o..o + 16 + cl].to_vec());
        o += 16 + cl;
    }
    let mut shuffled = orig[..24].to_vec();
    for w in recs.chunks(5) {
        // A fixed permutation per window: last first, then the rest in order.
        let mut w: Vec<&Vec<u8>> = w.iter().collect();
        w.rotate_right(1);
        for r in w {
            shuffled.extend_from_slice(r);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("shuffled.pcap");
    std::fs::write(&p, &shuffled).unwrap();
    let r = common::analyze(&[&p]);
    assert_eq!(r.connections.len(), 1);
    let c = &r.connections[0];
    assert_eq!((c.requests, c.responses), (2, 2));
    assert_eq!(
        c.tcp.client_to_server.missing_bytes + c.tcp.server_to_client.missing_bytes,
        0
    );
    assert!(
        r.summary
            .warnings
            .iter()
            .any(|w| w.contains("stamped earlier")),
        "{:?}",
        r.summary.warnings
    );
}

/// A real capture cut to a small snaplen, as `tcpdump -s 120` writes it: every
/// record keeps its first 120 bytes and its true length. Request and status
/// lines survive the cut, so every message is still counted.
#[test]
fn snaplen_cut_capture_still_counts_messages() {
    let orig =
        std::fs::read(common::samples_dir().join("captures/nginx-keepalive-requests-3.pcap"))
            .unwrap();
    let snap = 120usize;
    let mut cut = orig[..24].to_vec();
    cut[16..20].copy_from_slice(&(snap as u32).to_le_bytes());
    let mut o = 24;
    while o < orig.len() {
        let cl = u32::from_le_bytes(orig[o + 8..o + 12].try_into().unwrap()) as usize;
        let keep = cl.min(snap);
        cut.extend_from_slice(&orig[o..o + 8]);
        cut.extend_from_slice(&(keep as u32).to_le_bytes());
        cut.extend_from_slice(&orig[o + 12..o + 16]);
        cut.extend_from_slice(&orig[o + 16..o + 16 + keep]);
        o += 16 + cl;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pcap");
    std::fs::write(&p, &cut).unwrap();
    let r = common::analyze(&[&p]);
    let counts: Vec<(u32, u32)> = r
        .connections
        .iter()
        .map(|c| (c.requests, c.responses))
        .collect();
    assert_eq!(counts, vec![(3, 3), (2, 2)]);
    assert!(r
        .connections
        .iter()
        .all(|c| c.handshake == keepwatch::tcp::HandshakeState::Complete));
    assert!(
        r.summary.warnings.iter().any(|w| w.contains("missed")),
        "{:?}",
        r.summary.warnings
    );
}

#[test]
fn server_close_right_after_a_response_is_not_an_idle_timeout() {
    // HTTP/1.1, no `Connection: close`, and the server's FIN rides on the
    // response itself (a proxy that closes at once): no keep-alive timer ran.
    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let pkts = conversation(&[(true, req, PSH), (false, ok, PSH | FIN), (true, b"", FIN)]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.close_reason.as_str(), "server-closed-after-response");
    assert_eq!(c.verdict.as_str(), "single-request-closed");
}

/// h2c prior knowledge: one stream answered, then `tail` (GOAWAY, FINs).
fn h2c_one_stream_then(tail: &[(bool, &[u8], u8)]) -> Vec<(i64, Vec<u8>)> {
    let mut client = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    client.extend(h2_frame(4, 0, 0, b""));
    client.extend(h2_frame(1, 5, 1, b"\x82\x84")); // GET /, stream 1
    let mut server = h2_frame(4, 0, 0, b"");
    server.extend(h2_frame(1, 5, 1, b"\x88")); // :status 200
    let mut steps: Vec<(bool, &[u8], u8)> = vec![(true, &client, PSH), (false, &server, PSH)];
    steps.extend_from_slice(tail);
    conversation(&steps)
}

/// GOAWAY payload: last stream id, error code.
fn goaway(last: u32, err: u32) -> Vec<u8> {
    let mut p = last.to_be_bytes().to_vec();
    p.extend(err.to_be_bytes());
    h2_frame(7, 0, 0, &p)
}

#[test]
fn h2_server_goaway_then_fin_is_the_server_closing_and_told_in_the_detail() {
    let ga = goaway(1, 0);
    let pkts = h2c_one_stream_then(&[(false, &ga, PSH), (false, b"", FIN), (true, b"", FIN)]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.http_version, Some("2"));
    assert_eq!(c.closed_by.as_str(), "server");
    assert_eq!(c.close_reason.as_str(), "connection-close-response");
    let h = c.http2.as_ref().unwrap();
    assert_eq!(
        (h.goaway_last_stream_id, h.goaway_error),
        (Some(1), Some(0))
    );
    assert_eq!(h.goaway_at.map(|t| t.as_nanos()), Some(T0 + 6_000_000));
    assert_eq!(
        c.close_detail.as_deref(),
        Some("server GOAWAY (NO_ERROR, last stream 1), then server FIN 1.0ms later")
    );

    // The same GOAWAY 5 s after the answer: the server's idle timer.
    let mut pkts = h2c_one_stream_then(&[(false, &ga, PSH), (false, b"", FIN), (true, b"", FIN)]);
    let n = pkts.len();
    for p in &mut pkts[n - 3..] {
        p.0 += 5_000_000_000;
    }
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.close_reason.as_str(), "idle-timeout");

    // An error code: the server announced the close; named in the detail.
    let ga = goaway(1, 0xb);
    let pkts = h2c_one_stream_then(&[(false, &ga, PSH), (false, b"", FIN), (true, b"", FIN)]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.close_reason.as_str(), "connection-close-response");
    assert!(
        c.close_detail
            .as_deref()
            .unwrap()
            .starts_with("server GOAWAY (ENHANCE_YOUR_CALM, last stream 1)"),
        "{:?}",
        c.close_detail
    );
}

#[test]
fn h2_client_goaway_is_client_finished_even_if_the_server_fins_first() {
    let ga = goaway(0, 0);
    let pkts = h2c_one_stream_then(&[(true, &ga, PSH), (false, b"", FIN), (true, b"", FIN)]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.closed_by.as_str(), "server");
    assert_eq!(c.close_reason.as_str(), "client-finished");
    assert_eq!(
        c.close_detail.as_deref(),
        Some("client GOAWAY (NO_ERROR, last stream 0), then server FIN 1.0ms later")
    );
    // Without the GOAWAY the server's FIN says nothing about why.
    let pkts = h2c_one_stream_then(&[(false, b"", FIN), (true, b"", FIN)]);
    let c = &analyze(&pkts).connections[0];
    assert_eq!(c.close_reason.as_str(), "unknown");
    assert_eq!(c.close_detail, None);
}
