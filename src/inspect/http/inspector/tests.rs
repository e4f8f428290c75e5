use super::*;
use crate::Direction::{ClientToServer as C, ServerToClient as S};
use proptest::prelude::*;

const T0: i64 = 1_700_000_000_000_000_000;

fn t(n: i64) -> Timestamp {
    Timestamp::from_nanos(T0 + n * 1_000_000)
}

fn msg(start: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(start.as_bytes());
    v.extend_from_slice(b"\r\n");
    for (k, val) in headers {
        v.extend_from_slice(k.as_bytes());
        v.extend_from_slice(b": ");
        v.extend_from_slice(val.as_bytes());
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v.extend_from_slice(body);
    v
}

/// A request as curl sends it.
fn curl(method: &str, target: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut h = vec![
        ("Host", "example.com"),
        ("User-Agent", "curl/8.5.0"),
        ("Accept", "*/*"),
    ];
    h.extend_from_slice(extra);
    msg(&format!("{method} {target} HTTP/1.1"), &h, body)
}

/// A response as nginx sends it (Content-Length framed unless `extra` says otherwise).
fn nginx(status: &str, extra: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let len = body.len().to_string();
    let mut h = vec![
        ("Server", "nginx/1.24.0"),
        ("Date", "Sat, 25 Nov 2023 16:58:43 GMT"),
        ("Content-Type", "text/html"),
    ];
    if !extra.iter().any(|(k, _)| *k == "Transfer-Encoding") {
        h.push(("Content-Length", &len));
    }
    h.push(("Connection", "keep-alive"));
    h.extend_from_slice(extra);
    msg(&format!("HTTP/1.1 {status}"), &h, body)
}

const CHUNKED_BODY: &[u8] =
    b"7;name=\"val\"\r\n{\"a\":1}\r\n10 ; ext\r\n0123456789abcdef\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=53\r\n\r\n";

/// Sequential keep-alive conversation: GET, POST (chunked response), HEAD.
fn conversation() -> Vec<(Direction, Vec<u8>)> {
    vec![
        (C, curl("GET", "/index.html", &[], b"")),
        (S, nginx("200 OK", &[], b"<html>hello</html>\n")),
        (
            C,
            curl(
                "POST",
                "/api/items",
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Length", "9"),
                ],
                b"{\"k\":\"v\"}",
            ),
        ),
        (
            S,
            nginx(
                "201 Created",
                &[
                    ("Transfer-Encoding", "chunked"),
                    ("Content-Encoding", "gzip"),
                ],
                CHUNKED_BODY,
            ),
        ),
        (C, curl("HEAD", "/big.iso", &[], b"")),
        (
            S,
            msg(
                "HTTP/1.1 200 OK",
                &[
                    ("Server", "nginx/1.24.0"),
                    ("Content-Length", "734003200"),
                    ("Connection", "keep-alive"),
                ],
                b"",
            ),
        ),
    ]
}

fn run(script: &[(Direction, Vec<u8>)]) -> HttpInspector {
    let mut i = HttpInspector::new();
    for (k, (dir, bytes)) in script.iter().enumerate() {
        i.on_data(*dir, t(k as i64), bytes);
    }
    i
}

/// Everything observable, for comparing two feeding strategies.
fn snapshot(i: &HttpInspector) -> String {
    serde_json::json!({
        "exchanges": i.exchanges(),
        "requests": i.requests(),
        "responses": i.responses(),
        "interim": i.interim_responses(),
        "depth": i.max_pipeline_depth(),
        "version": i.http_version(),
        "keep_alive": i.keep_alive(),
        "switched": i.switched(),
        "is_http": i.is_http(),
        "warnings": i.warnings(),
    })
    .to_string()
}

#[test]
fn sequential_keep_alive_conversation() {
    let mut i = run(&conversation());
    i.finish(t(10));
    assert!(i.is_http());
    assert_eq!(i.warnings(), &[] as &[String]);
    assert_eq!(
        (i.requests(), i.responses(), i.interim_responses()),
        (3, 3, 0)
    );
    assert_eq!(i.max_pipeline_depth(), 1);
    assert_eq!(i.http_version(), Some("1.1"));
    let ex = i.exchanges();
    assert_eq!(ex.len(), 3);
    assert!(ex
        .iter()
        .all(|e| e.request.complete && e.response.complete && !e.pipelined));

    assert_eq!(ex[0].method(), Some("GET"));
    assert_eq!(ex[0].target.as_deref(), Some("/index.html"));
    assert_eq!(ex[0].host.as_deref(), Some("example.com"));
    assert_eq!(ex[0].status, Some(200));
    assert_eq!(ex[0].response.framing, Some(Framing::ContentLength));
    assert_eq!(ex[0].response.body_bytes, 19);
    assert_eq!(ex[0].request.time(), Some(t(0)));
    assert_eq!(ex[0].request.end(), Some(t(0)));
    assert_eq!(ex[0].response.time(), Some(t(1)));
    assert_eq!(ex[0].response.end(), Some(t(1)));
    assert!(ex[0].response_wants_keep_alive());
    assert_eq!(ex[0].persistent(), Some(true));

    assert_eq!(ex[1].request.body_bytes, 9);
    assert_eq!(ex[1].request.framing, Some(Framing::ContentLength));
    assert_eq!(ex[1].status, Some(201));
    assert_eq!(ex[1].response.framing, Some(Framing::Chunked));
    assert_eq!(ex[1].response.body_bytes, 7 + 16);
    assert_eq!(ex[1].rare().transfer_encoding.as_deref(), Some("chunked"));
    assert_eq!(ex[1].rare().content_encoding.as_deref(), Some("gzip"));
    let conv = conversation();
    assert_eq!(ex[1].response_wire_bytes, conv[3].1.len() as u64);

    // HEAD: Content-Length describes the representation, no body follows.
    assert_eq!(ex[2].method(), Some("HEAD"));
    assert_eq!(ex[2].response.framing, Some(Framing::None));
    assert_eq!(ex[2].response.body_bytes, 0);
}

#[test]
fn every_split_point_two_and_three_pieces() {
    let script = conversation();
    let baseline = snapshot(&run(&script));
    for k in 0..script.len() {
        let bytes = &script[k].1;
        for a in 0..=bytes.len() {
            // Every two-piece split (b == len), and three-piece splits with a small
            // middle piece everywhere plus a sample of large middle pieces.
            for b in (a..=bytes.len()).filter(|&b| b == bytes.len() || b - a <= 24 || b % 7 == 0) {
                let mut i = HttpInspector::new();
                for (j, (dir, m)) in script.iter().enumerate() {
                    if j == k {
                        i.on_data(*dir, t(j as i64), &m[..a]);
                        i.on_data(*dir, t(j as i64), &m[a..b]);
                        i.on_data(*dir, t(j as i64), &m[b..]);
                    } else {
                        i.on_data(*dir, t(j as i64), m);
                    }
                }
                assert_eq!(snapshot(&i), baseline, "event {k} split at {a},{b}");
            }
        }
    }
}

#[test]
fn byte_at_a_time() {
    let script = conversation();
    let baseline = snapshot(&run(&script));
    let mut i = HttpInspector::new();
    for (j, (dir, m)) in script.iter().enumerate() {
        for byte in m.chunks(1) {
            i.on_data(*dir, t(j as i64), byte);
        }
    }
    assert_eq!(snapshot(&i), baseline);
}

#[test]
fn whole_head_in_one_slice_is_not_buffered() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/", &[], b""));
    i.on_data(S, t(1), &nginx("200 OK", &[], b"body"));
    assert_eq!(i.sides[0].buf.capacity(), 0);
    assert_eq!(i.sides[1].buf.capacity(), 0);
    assert_eq!(i.exchanges()[0].status, Some(200));
}

#[test]
fn pipelined_requests_and_responses_in_one_slice() {
    let mut reqs = curl("GET", "/a", &[], b"");
    reqs.extend(curl("GET", "/b", &[], b""));
    reqs.extend(curl("GET", "/c", &[], b""));
    let mut resps = nginx("200 OK", &[], b"A");
    resps.extend(nginx("404 Not Found", &[], b"<h1>404</h1>"));
    resps.extend(nginx(
        "200 OK",
        &[("Transfer-Encoding", "chunked")],
        b"1\r\nC\r\n0\r\n\r\n",
    ));
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &reqs);
    i.on_data(S, t(1), &resps);
    i.finish(t(2));
    assert_eq!(i.warnings(), &[] as &[String]);
    assert_eq!(i.max_pipeline_depth(), 3);
    let ex = i.exchanges();
    let got: Vec<_> = ex
        .iter()
        .map(|e| {
            (
                e.target.as_deref().unwrap(),
                e.status.unwrap(),
                e.pipelined,
                e.response.body_bytes,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("/a", 200, false, 1),
            ("/b", 404, true, 12),
            ("/c", 200, true, 1)
        ]
    );
    assert!(ex.iter().all(|e| e.response.complete));
}

#[test]
fn pipeline_depth_counts_only_overlapping_requests() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/1", &[], b""));
    i.on_data(C, t(1), &curl("GET", "/2", &[], b""));
    i.on_data(S, t(2), &nginx("200 OK", &[], b"x"));
    i.on_data(S, t(3), &nginx("200 OK", &[], b"y"));
    i.on_data(C, t(4), &curl("GET", "/3", &[], b""));
    i.on_data(S, t(5), &nginx("200 OK", &[], b"z"));
    assert_eq!(i.max_pipeline_depth(), 2);
    let p: Vec<bool> = i.exchanges().iter().map(|e| e.pipelined).collect();
    assert_eq!(p, vec![false, true, false]);
}

#[test]
fn head_304_204_and_post_on_one_connection() {
    let script = vec![
        (C, curl("HEAD", "/file.bin", &[], b"")),
        (S, nginx("200 OK", &[("Accept-Ranges", "bytes")], b"")),
        (
            C,
            curl(
                "GET",
                "/style.css",
                &[("If-None-Match", "\"5f3-1a2b\"")],
                b"",
            ),
        ),
        (
            S,
            msg(
                "HTTP/1.1 304 Not Modified",
                &[
                    ("Server", "nginx/1.24.0"),
                    ("ETag", "\"5f3-1a2b\""),
                    ("Connection", "keep-alive"),
                ],
                b"",
            ),
        ),
        (C, curl("DELETE", "/items/7", &[], b"")),
        (
            S,
            msg(
                "HTTP/1.1 204 No Content",
                &[("Server", "nginx/1.24.0")],
                b"",
            ),
        ),
        (
            C,
            curl(
                "POST",
                "/upload",
                &[
                    ("Content-Type", "application/x-www-form-urlencoded"),
                    ("Content-Length", "11"),
                ],
                b"name=keepal",
            ),
        ),
        (S, nginx("201 Created", &[], b"{\"id\":8}")),
    ];
    // The HEAD response must carry a Content-Length that is not followed by a body.
    let mut head_resp = script[1].1.clone();
    let pos = parser::find_subslice(&head_resp, b"Content-Length: 0").unwrap();
    head_resp.splice(pos..pos + 17, b"Content-Length: 5120".iter().copied());
    let mut script = script;
    script[1].1 = head_resp;
    let mut i = run(&script);
    i.finish(t(9));
    assert_eq!(i.warnings(), &[] as &[String]);
    assert_eq!(i.responses(), 4);
    let got: Vec<_> = i
        .exchanges()
        .iter()
        .map(|e| {
            (
                e.method().unwrap().to_string(),
                e.status.unwrap(),
                e.response.framing.unwrap(),
                e.response.body_bytes,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("HEAD".to_owned(), 200, Framing::None, 0),
            ("GET".to_owned(), 304, Framing::None, 0),
            ("DELETE".to_owned(), 204, Framing::None, 0),
            ("POST".to_owned(), 201, Framing::ContentLength, 8),
        ]
    );
    assert_eq!(i.exchanges()[3].request.body_bytes, 11);
    assert!(i
        .exchanges()
        .iter()
        .all(|e| e.response.complete && e.request.complete));
}

#[test]
fn chunked_request_body_split_everywhere() {
    let req = curl(
        "PUT",
        "/obj",
        &[("Transfer-Encoding", "chunked"), ("Expect", "")],
        b"4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer-A: 1\r\n\r\n",
    );
    let resp = nginx("200 OK", &[], b"ok");
    for a in 0..=req.len() {
        let mut i = HttpInspector::new();
        i.on_data(C, t(0), &req[..a]);
        i.on_data(C, t(1), &req[a..]);
        i.on_data(S, t(2), &resp);
        let e = &i.exchanges()[0];
        assert!(e.request.complete, "split {a}");
        assert_eq!(e.request.framing, Some(Framing::Chunked));
        assert_eq!(e.request.body_bytes, 4 + 5 + 14);
        assert_eq!(e.status, Some(200));
        assert_eq!(i.warnings(), &[] as &[String], "split {a}");
    }
}

#[test]
fn continue_100_then_200() {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &curl(
            "POST",
            "/submit",
            &[("Content-Length", "10"), ("Expect", "100-continue")],
            b"",
        ),
    );
    i.on_data(S, t(1), b"HTTP/1.1 100 Continue\r\n\r\n");
    i.on_data(C, t(2), b"0123456789");
    i.on_data(S, t(3), &nginx("200 OK", &[], b"done"));
    i.finish(t(4));
    assert_eq!(i.warnings(), &[] as &[String]);
    assert_eq!(
        (i.requests(), i.responses(), i.interim_responses()),
        (1, 1, 1)
    );
    let e = &i.exchanges()[0];
    assert_eq!(e.rare().interim_statuses, vec![100]);
    assert_eq!(e.status, Some(200));
    assert_eq!(e.request.body_bytes, 10);
    assert_eq!(e.request.end(), Some(t(2)));
    assert_eq!(e.response.time(), Some(t(3)));
    assert_eq!(e.rare().expect.as_deref(), Some("100-continue"));
}

#[test]
fn expect_100_rejected_body_never_sent() {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &curl(
            "PUT",
            "/big",
            &[("Content-Length", "1000000"), ("Expect", "100-continue")],
            b"",
        ),
    );
    i.on_data(
        S,
        t(1),
        &nginx(
            "401 Unauthorized",
            &[("WWW-Authenticate", "Basic realm=\"x\"")],
            b"no",
        ),
    );
    i.on_data(
        C,
        t(2),
        &curl(
            "PUT",
            "/big",
            &[("Authorization", "Basic dTpw"), ("Content-Length", "3")],
            b"abc",
        ),
    );
    i.on_data(S, t(3), &nginx("201 Created", &[], b""));
    assert_eq!(i.requests(), 2);
    let ex = i.exchanges();
    assert_eq!(ex[0].status, Some(401));
    assert!(!ex[0].request.complete);
    assert_eq!(ex[1].status, Some(201));
    assert_eq!(ex[1].request.body_bytes, 3);
    assert!(i
        .warnings()
        .iter()
        .any(|w| w.contains("Expect: 100-continue") && w.contains("401")));
}

fn http10_until_close() -> HttpInspector {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &msg(
            "GET /old HTTP/1.0",
            &[("Host", "legacy.example"), ("User-Agent", "Wget/1.12")],
            b"",
        ),
    );
    i.on_data(
        S,
        t(1),
        &msg(
            "HTTP/1.0 200 OK",
            &[("Server", "thttpd/2.25b"), ("Content-Type", "text/plain")],
            b"first part ",
        ),
    );
    i.on_data(S, t(2), b"second part");
    i
}

#[test]
fn http10_response_without_length_ends_at_fin() {
    let mut i = http10_until_close();
    assert!(!i.exchanges()[0].response.complete);
    i.on_fin(S, t(3));
    let e = &i.exchanges()[0];
    assert!(e.response.complete);
    assert_eq!(e.response.framing, Some(Framing::UntilClose));
    assert_eq!(e.response.body_bytes, 22);
    assert_eq!(e.response.end(), Some(t(2)), "last body byte, not the FIN");
    assert_eq!(e.persistent(), Some(false));
    assert_eq!(i.http_version(), Some("1.0"));
    i.finish(t(4));
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn until_close_without_fin_is_incomplete_at_finish() {
    let mut i = http10_until_close();
    i.finish(t(5));
    let e = &i.exchanges()[0];
    assert!(!e.response.complete);
    assert_eq!(e.response.end(), Some(t(2)));
    assert!(i.warnings().iter().any(|w| w.contains("without FIN")));
}

#[test]
fn websocket_upgrade_switch_and_drain() {
    let req = curl(
        "GET",
        "/chat",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
        b"",
    );
    let mut resp = msg(
        "HTTP/1.1 101 Switching Protocols",
        &[
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ],
        b"",
    );
    let server_frame = b"\x81\x05Hello";
    resp.extend_from_slice(server_frame);
    let client_frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &req);
    i.on_data(S, t(1), &resp);
    i.on_data(C, t(2), client_frame);
    let sw = i.switched().expect("switched").clone();
    assert_eq!(sw.kind, "upgrade");
    assert_eq!(sw.protocol.as_deref(), Some("websocket"));
    assert_eq!(sw.at, t(1));
    assert_eq!(sw.exchange, 0);
    assert_eq!(i.drain_tunnel(S), server_frame.to_vec());
    assert_eq!(i.drain_tunnel(C), client_frame.to_vec());
    assert!(i.drain_tunnel(S).is_empty());
    let e = &i.exchanges()[0];
    assert_eq!(e.status, Some(101));
    assert!(e.response.complete);
    assert!(e.rare().interim_statuses.is_empty());
    assert_eq!(e.rare().upgrade.as_deref(), Some("websocket"));
    assert_eq!((i.responses(), i.interim_responses()), (1, 0));
    i.finish(t(3));
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn connect_200_then_tls_with_early_client_bytes() {
    let client_hello = b"\x16\x03\x01\x00\xf1\x01\x00\x00\xed\x03\x03GARBAGE\r\n\r\nHTTP";
    let server_hello = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03";
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &msg(
            "CONNECT api.example.com:443 HTTP/1.1",
            &[
                ("Host", "api.example.com:443"),
                ("User-Agent", "curl/8.5.0"),
                ("Proxy-Connection", "Keep-Alive"),
            ],
            b"",
        ),
    );
    // Sent before the proxy answered: held until the response decides.
    i.on_data(C, t(1), client_hello);
    let mut resp = b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec();
    resp.extend_from_slice(server_hello);
    i.on_data(S, t(2), &resp);
    let sw = i.switched().unwrap();
    assert_eq!(sw.kind, "connect");
    assert_eq!(sw.target.as_deref(), Some("api.example.com:443"));
    assert_eq!(i.drain_tunnel(C), client_hello.to_vec());
    assert_eq!(i.drain_tunnel(S), server_hello.to_vec());
    assert_eq!(i.requests(), 1);
    assert_eq!(i.exchanges().len(), 1);
    assert_eq!(i.exchanges()[0].response.framing, Some(Framing::None));
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn connect_407_held_bytes_are_parsed_as_http() {
    let connect = |auth: bool| {
        let mut h = vec![("Host", "proxy.example:3128")];
        if auth {
            h.push(("Proxy-Authorization", "Basic dXNlcjpwYXNz"));
        }
        msg("CONNECT example.org:443 HTTP/1.1", &h, b"")
    };
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &connect(false));
    i.on_data(C, t(1), &connect(true)); // pipelined retry, held
    i.on_data(
        S,
        t(2),
        &msg(
            "HTTP/1.1 407 Proxy Authentication Required",
            &[
                ("Proxy-Authenticate", "Basic realm=\"proxy\""),
                ("Content-Length", "0"),
            ],
            b"",
        ),
    );
    assert_eq!(i.requests(), 2, "held bytes parsed after the 407");
    assert!(i.switched().is_none());
    assert_eq!(i.exchanges()[1].request.time(), Some(t(1)));
    assert!(i.exchanges()[1].pipelined, "sent before the 407 arrived");
    assert_eq!(i.max_pipeline_depth(), 2);
    i.on_data(S, t(3), b"HTTP/1.1 200 Connection established\r\n\r\n");
    i.on_data(C, t(4), b"\x16\x03\x01");
    assert_eq!(i.switched().unwrap().exchange, 1);
    assert_eq!(i.drain_tunnel(C), b"\x16\x03\x01".to_vec());
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn more_responses_than_requests() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/", &[], b""));
    i.on_data(S, t(1), &nginx("200 OK", &[], b"one"));
    i.on_data(S, t(2), &nginx("200 OK", &[], b"two"));
    assert_eq!(i.responses(), 2);
    let ex = i.exchanges();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].method(), None);
    assert_eq!(ex[1].status, Some(200));
    assert_eq!(ex[1].response.body_bytes, 3);
    assert_eq!(
        i.warning_kinds(),
        [W::UnmatchedResponse {
            status: 200,
            exchange: 2
        }]
    );
}

#[test]
fn unanswered_request_reported_at_finish() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/slow", &[], b""));
    i.finish(t(1));
    let e = &i.exchanges()[0];
    assert_eq!(e.status, None);
    assert!(!e.response.complete);
    assert_eq!(
        i.warning_kinds(),
        [W::NeverAnswered {
            label: "exchange #1 (GET /slow)".into()
        }]
    );
}

#[test]
fn gap_inside_content_length_body_keeps_sync() {
    let body = vec![b'x'; 1000];
    let resp = nginx("200 OK", &[], &body);
    let head_len = resp.len() - 1000;
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/a", &[], b""));
    i.on_data(C, t(0), &curl("GET", "/b", &[], b""));
    i.on_data(S, t(1), &resp[..head_len + 300]);
    i.on_gap(S, t(2), 400);
    i.on_data(S, t(3), &resp[head_len + 700..]);
    i.on_data(S, t(4), &nginx("200 OK", &[], b"second"));
    let ex = i.exchanges();
    assert!(ex[0].response.complete);
    assert_eq!(ex[0].response.body_bytes, 1000);
    assert_eq!(ex[0].gap_bytes(S2C), 400);
    assert_eq!(ex[0].response.end(), Some(t(3)));
    assert_eq!(ex[1].status, Some(200));
    assert_eq!(ex[1].response.body_bytes, 6);
    assert!(ex[1].response.complete);
    assert_eq!(
        i.warning_kinds(),
        [W::GapInBody {
            dir: S,
            missing: 400,
            label: "exchange #1 (GET /a)".into(),
            still: 300
        }]
    );
}

#[test]
fn gap_inside_response_head_resyncs() {
    let resp2 = nginx("200 OK", &[], b"body2");
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/1", &[], b""));
    i.on_data(S, t(1), &nginx("200 OK", &[], b"body1"));
    i.on_data(C, t(2), &curl("GET", "/2", &[], b""));
    i.on_data(S, t(3), &resp2[..10]); // inside the status line
    i.on_gap(S, t(4), 20);
    i.on_data(S, t(5), &resp2[30..]);
    i.on_data(C, t(6), &curl("GET", "/3", &[], b""));
    i.on_data(S, t(7), &nginx("404 Not Found", &[], b"nope"));
    i.finish(t(8));
    let ex = i.exchanges();
    assert_eq!(ex.len(), 3);
    assert_eq!(ex[1].status, None);
    assert!(!ex[1].response.complete);
    assert_eq!(ex[2].target.as_deref(), Some("/3"));
    assert_eq!(ex[2].status, Some(404));
    assert!(ex[2].response.complete);
    let w = i.warning_kinds();
    assert!(
        matches!(&w[0], W::GapInHead { dir: S, missing: 20, lost: Some(LostMessage::Response(l)), .. }
            if l == "exchange #2 (GET /2)"),
        "{w:?}"
    );
    assert!(
        matches!(&w[1], W::Resynced { dir: S, at, .. } if at == "HTTP/1.1 404 Not Found"),
        "{w:?}"
    );
    assert_eq!(w.len(), 2, "none never answered: {w:?}");
}

#[test]
fn gap_inside_request_head_keeps_fifo_with_placeholder() {
    let req2 = curl("GET", "/two", &[], b"");
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/one", &[], b""));
    i.on_data(S, t(1), &nginx("200 OK", &[], b"1"));
    i.on_data(C, t(2), &req2[..12]); // inside the request line
    i.on_gap(C, t(3), 10);
    i.on_data(C, t(4), &req2[22..]);
    i.on_data(S, t(5), &nginx("200 OK", &[], b"2"));
    i.on_data(C, t(6), &curl("GET", "/three", &[], b""));
    i.on_data(S, t(7), &nginx("200 OK", &[], b"3"));
    let ex = i.exchanges();
    assert_eq!(ex.len(), 3);
    assert_eq!(
        ex[1].method(),
        None,
        "placeholder: the request line was cut"
    );
    assert_eq!(ex[1].response.body_bytes, 1);
    assert_eq!(ex[2].target.as_deref(), Some("/three"));
    assert_eq!(ex[2].response.body_bytes, 1);
    assert!(ex[2].response.complete);
    assert_eq!(i.requests(), 2, "only parsed heads count");
    let w = i.warning_kinds();
    assert!(
        matches!(
            &w[0],
            W::GapInHead {
                dir: C,
                missing: 10,
                lost: Some(LostMessage::Placeholder(2)),
                ..
            }
        ),
        "{w:?}"
    );
    assert!(
        matches!(&w[1], W::Resynced { dir: C, at, .. } if at == "GET /three HTTP/1.1"),
        "{w:?}"
    );
}

#[test]
fn gap_beyond_body_end_loses_sync_then_resyncs() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/a", &[], b""));
    i.on_data(C, t(0), &curl("GET", "/b", &[], b""));
    i.on_data(C, t(0), &curl("GET", "/c", &[], b""));
    let r1 = nginx("200 OK", &[], b"0123456789");
    i.on_data(S, t(1), &r1[..r1.len() - 5]);
    i.on_gap(S, t(2), 5 + 30); // rest of body 1 and the start of response 2
    i.on_data(S, t(3), b"ignored tail of response 2");
    i.on_data(S, t(4), &nginx("200 OK", &[], b"c"));
    let ex = i.exchanges();
    assert!(ex[0].response.complete);
    assert_eq!(ex[0].gap_bytes(S2C), 5);
    assert_eq!(ex[1].status, None);
    assert_eq!(ex[2].status, Some(200));
    assert!(ex[2].response.complete);
}

#[test]
fn gap_inside_chunk_data_keeps_sync_but_not_in_framing() {
    let resp = nginx(
        "200 OK",
        &[("Transfer-Encoding", "chunked")],
        b"a\r\n0123456789\r\n0\r\n\r\n",
    );
    let body_at = parser::find_head_end(&resp, 0).unwrap();
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/", &[], b""));
    i.on_data(S, t(1), &resp[..body_at + 5]);
    i.on_gap(S, t(2), 6);
    i.on_data(S, t(3), &resp[body_at + 11..]);
    let e = &i.exchanges()[0];
    assert!(e.response.complete);
    assert_eq!(e.response.body_bytes, 10);
    assert_eq!(e.gap_bytes(S2C), 6);

    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/", &[], b""));
    i.on_data(S, t(1), &resp[..body_at + 1]);
    i.on_gap(S, t(2), 3);
    assert!(
        matches!(
            i.warning_kinds(),
            [W::GapInChunkFraming {
                dir: S,
                missing: 3,
                ..
            }]
        ),
        "{:?}",
        i.warning_kinds()
    );
    i.on_data(S, t(3), &resp[body_at + 4..]);
    assert!(!i.exchanges()[0].response.complete);
}

/// Proptest settings for the generated tests below: modest case counts (the
/// suite runs as a debug build) and no regression files (a failure prints
/// its shrunk input, which becomes a plain test).
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `bytes` cut at the given points (any number, any order, repeats allowed).
fn cut<'a>(bytes: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.extend([0, bytes.len()]);
    at.sort_unstable();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// One chunk of random input: bytes, direction, and maybe a gap after it.
fn garbage_chunk() -> impl Strategy<Value = (Vec<u8>, bool, Option<u64>)> {
    (
        prop::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
        prop::option::weighted(0.1, 1..=1000u64),
    )
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn garbage_input_no_panic_not_http(chunks in prop::collection::vec(garbage_chunk(), 20)) {
        let mut i = HttpInspector::new();
        for (k, (data, client, gap)) in chunks.iter().enumerate() {
            let dir = if *client { C } else { S };
            i.on_data(dir, t(k as i64), data);
            if let Some(n) = gap {
                i.on_gap(dir, t(k as i64), *n);
            }
        }
        i.finish(t(100));
        prop_assert!(!i.is_http());
        prop_assert!(i.exchanges().is_empty());
        prop_assert_eq!(i.requests(), 0);
    }
}

#[test]
fn not_http_warns_what_it_saw() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
    i.on_data(S, t(1), b"SSH-2.0-OpenSSH_9.6\r\n");
    i.finish(t(2));
    assert!(!i.is_http());
    let w = i.warnings().join("\n");
    assert!(
        w.contains("client->server: expected a request line but got \"\\x16\\x03"),
        "{w}"
    );
    assert!(
        w.contains("server->client: expected a status line but got \"SSH-2.0"),
        "{w}"
    );
}

/// One way to mangle a message: bytes overwritten, then cut into pieces,
/// some pieces replaced by a gap of their length, maybe a FIN after it.
/// Byte edits (where, new value), cut points, which pieces become gaps, FIN after.
type Mangling = (
    Vec<(prop::sample::Index, u8)>,
    Vec<prop::sample::Index>,
    Vec<bool>,
    bool,
);

fn mangling() -> impl Strategy<Value = Mangling> {
    (
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        prop::collection::vec(prop::bool::weighted(0.125), 13),
        prop::bool::weighted(0.1),
    )
}

proptest! {
    #![proptest_config(cases(192))]

    /// Segmentation invariance: every message of a conversation cut into any
    /// pieces gives exactly what feeding whole messages gives.
    #[test]
    fn any_split_gives_the_same_result(
        cuts in prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..12), 32),
    ) {
        let script = conversation();
        prop_assert!(script.len() <= cuts.len());
        let mut i = HttpInspector::new();
        for ((j, (dir, m)), c) in script.iter().enumerate().zip(&cuts) {
            for piece in cut(m, c) {
                i.on_data(*dir, t(j as i64), piece);
            }
        }
        prop_assert_eq!(snapshot(&i), snapshot(&run(&script)));
    }

    /// Altered bytes, gaps and early FINs anywhere: no panic, and the
    /// counters stay consistent.
    #[test]
    fn mutations_gaps_and_fins_never_panic(manglings in prop::collection::vec(mangling(), 32)) {
        let script = conversation();
        let mut i = HttpInspector::new();
        for ((j, (dir, m)), (edits, cuts, gaps, fin)) in script.iter().enumerate().zip(&manglings) {
            let mut m = m.clone();
            for (p, b) in edits.iter().take(if m.is_empty() { 0 } else { edits.len() }) {
                let p = p.index(m.len());
                m[p] = *b;
            }
            for (k, piece) in cut(&m, cuts).into_iter().enumerate() {
                if gaps[k] && !piece.is_empty() {
                    i.on_gap(*dir, t(j as i64), piece.len() as u64);
                } else {
                    i.on_data(*dir, t(j as i64), piece);
                }
            }
            if *fin {
                i.on_fin(*dir, t(j as i64));
            }
        }
        i.finish(t(50));
        prop_assert!(i.responses() as usize <= i.exchanges().len());
        prop_assert!(i.max_pipeline_depth() as usize <= i.exchanges().len());
        prop_assert!(serde_json::to_string(i.exchanges()).is_ok());
    }
}

#[test]
fn keep_alive_parameter_variants() {
    let p = KeepAliveParams::parse;
    assert_eq!(
        p("timeout=5, max=1000"),
        KeepAliveParams {
            timeout: Some(5),
            max: Some(1000)
        }
    );
    assert_eq!(
        p("Timeout = 15 ; MAX=\"100\""),
        KeepAliveParams {
            timeout: Some(15),
            max: Some(100)
        }
    );
    assert_eq!(
        p("max=3"),
        KeepAliveParams {
            timeout: None,
            max: Some(3)
        }
    );
    assert_eq!(p("timeout=abc, max=-1, foo=2"), KeepAliveParams::default());
    assert_eq!(p(""), KeepAliveParams::default());
    assert_eq!(
        p("timeout=5,max=100, timeout=7"),
        KeepAliveParams {
            timeout: Some(7),
            max: Some(100)
        }
    );

    let mut i = HttpInspector::new();
    assert_eq!(i.keep_alive(), None);
    i.on_data(
        C,
        t(0),
        &curl("GET", "/", &[("Connection", "keep-alive")], b""),
    );
    i.on_data(
        S,
        t(1),
        &msg(
            "HTTP/1.1 200 OK",
            &[
                ("Server", "Apache/2.4.41 (Ubuntu)"),
                ("Keep-Alive", "timeout=5, max=100"),
                ("Connection", "Keep-Alive"),
                ("Content-Length", "0"),
            ],
            b"",
        ),
    );
    i.on_data(C, t(2), &curl("GET", "/2", &[], b""));
    i.on_data(
        S,
        t(3),
        &msg(
            "HTTP/1.1 200 OK",
            &[("Keep-Alive", "timeout=5, max=99"), ("Content-Length", "0")],
            b"",
        ),
    );
    assert_eq!(
        i.keep_alive(),
        Some(KeepAliveParams {
            timeout: Some(5),
            max: Some(99)
        })
    );
    let e = &i.exchanges()[0];
    assert_eq!(
        e.keep_alive(),
        Some(KeepAliveParams {
            timeout: Some(5),
            max: Some(100)
        })
    );
    assert_eq!(e.response.keep_alive.as_deref(), Some("timeout=5, max=100"));
    assert!(e.request_wants_keep_alive() && e.response_wants_keep_alive());
}

#[test]
fn connection_tokens() {
    let mut e = Exchange {
        response: Message {
            version: Some(HttpVersion::Http11),
            ..Message::default()
        },
        ..Exchange::default()
    };
    e.set_connection(C2S, Some("Keep-Alive, Upgrade".into()));
    e.set_connection(S2C, Some(" close ".into()));
    assert_eq!(e.connection(S2C), Some(" close "));
    assert!(e.request_wants_keep_alive());
    assert!(!e.request_wants_close());
    assert!(e.response_wants_close());
    assert!(!e.response_wants_keep_alive());
    assert_eq!(e.persistent(), Some(false));
    assert!(has_token(Some("upgrade,\tCLOSE"), "close"));
    assert!(!has_token(Some("closed, keep-alive-ish"), "close"));
    assert!(!has_token(None, "close"));
    let mut e10 = Exchange {
        response: Message {
            version: Some(HttpVersion::Http10),
            ..Message::default()
        },
        ..Exchange::default()
    };
    e10.set_connection(S2C, Some("keep-alive".into()));
    assert_eq!(e10.connection(S2C), Some("keep-alive"));
    assert_eq!(e10.persistent(), Some(true));
    let e10 = Exchange {
        response: Message {
            version: Some(HttpVersion::Http10),
            ..Message::default()
        },
        ..Exchange::default()
    };
    assert_eq!(e10.persistent(), Some(false));
    assert_eq!(Exchange::default().persistent(), None);
}

#[test]
fn bare_lf_heads() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), b"GET /lf HTTP/1.1\nHost: a\nConnection: close\n\n");
    i.on_data(
        S,
        t(1),
        b"HTTP/1.1 200 OK\nContent-Length: 2\nConnection: close\n\nok",
    );
    i.on_data(C, t(2), b"\nGET /lf2 HTTP/1.0\n\n");
    i.on_data(S, t(3), b"HTTP/1.0 204\n\n");
    let ex = i.exchanges();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].response.body_bytes, 2);
    assert!(ex[0].request_wants_close() && ex[0].response_wants_close());
    assert_eq!(ex[1].target.as_deref(), Some("/lf2"));
    assert_eq!(ex[1].status, Some(204));
    assert_eq!(ex[1].reason(), Some(""));
    assert_eq!(i.http_version(), Some("mixed"));
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn obs_fold_and_whitespace_before_colon() {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        b"GET / HTTP/1.1\r\nHost : example.com\r\nConnection: keep-alive,\r\n\tUpgrade\r\n\r\n",
    );
    i.on_data(
        S,
        t(1),
        b"HTTP/1.1 200 OK\r\nX-Folded: a\r\n  b\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 3\r\n\r\nabc",
    );
    let e = &i.exchanges()[0];
    assert_eq!(e.host.as_deref(), Some("example.com"));
    assert_eq!(e.connection(C2S), Some("keep-alive, Upgrade"));
    assert_eq!(e.connection(S2C), Some("keep-alive, close"));
    assert!(e.response_wants_close());
    assert_eq!(e.response.body_bytes, 3);
    assert!(e.response.complete);
    assert_eq!(i.warnings().len(), 1);
    assert!(i.warnings()[0].contains("whitespace between header name \"Host\" and colon"));
}

#[test]
fn invalid_content_length_warns_and_resyncs() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/x", &[], b""));
    i.on_data(C, t(0), &curl("GET", "/y", &[], b""));
    i.on_data(
        S,
        t(1),
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
    );
    let ex = i.exchanges();
    assert!(!ex[0].response.complete);
    assert_eq!(ex[1].status, Some(200));
    assert!(ex[1].response.complete);
    let w = i.warning_kinds();
    assert_eq!(
        w[0],
        W::BadResponseContentLength {
            label: "exchange #1 (GET /x)".into(),
            raw: "5, 6".into()
        }
    );
    assert!(matches!(w[1], W::Resynced { dir: S, .. }), "{w:?}");
}

#[test]
fn junk_after_body_does_not_shift_fifo() {
    // A server sending more body bytes than its Content-Length announced.
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/a", &[], b""));
    i.on_data(C, t(0), &curl("GET", "/b", &[], b""));
    let mut r = nginx("200 OK", &[], b"12345");
    r.extend_from_slice(b"6789 extra\n");
    i.on_data(S, t(1), &r);
    i.on_data(S, t(2), &nginx("200 OK", &[], b"b"));
    let ex = i.exchanges();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[1].target.as_deref(), Some("/b"));
    assert_eq!(ex[1].response.body_bytes, 1);
    let w = i.warning_kinds();
    assert!(
        matches!(&w[0], W::NotAMessageStart { dir: S, got } if got.starts_with("6789 extra")),
        "{w:?}"
    );
    assert_eq!(
        w[1],
        W::Resynced {
            dir: S,
            at: "HTTP/1.1 200 OK".into(),
            skipped: 11
        }
    );
}

#[test]
fn oversized_head_warns_and_resyncs() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), b"GET / HTTP/1.1\r\nX-Big: ");
    let filler = vec![b'a'; 4096];
    for _ in 0..20 {
        i.on_data(C, t(1), &filler);
    }
    i.on_data(C, t(2), b"\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(i
        .warning_kinds()
        .iter()
        .any(|w| matches!(w, W::HeadTooLong { dir: C, .. })));
    assert!(i.warnings().iter().any(|w| w.contains("exceeds 64 KiB")));
    assert!(i.sides[0].buf.len() <= MAX_HEAD);
    assert_eq!(
        i.exchanges().last().unwrap().target.as_deref(),
        Some("/after")
    );
}

#[test]
fn te_and_cl_conflict_prefers_chunked() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &curl("GET", "/", &[], b""));
    i.on_data(
        S,
        t(1),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let e = &i.exchanges()[0];
    assert_eq!(e.response.framing, Some(Framing::Chunked));
    assert_eq!(e.response.body_bytes, 3);
    assert!(e.response.complete);
    assert!(
        matches!(&i.warning_kinds()[0], W::BothTeAndCl { of } if of.dir == S),
        "{:?}",
        i.warning_kinds()
    );
}

#[test]
fn status_without_reason_and_interim_without_request() {
    let mut i = HttpInspector::new();
    i.on_data(S, t(0), b"HTTP/1.1 100\r\n\r\n");
    assert_eq!(i.interim_responses(), 1);
    assert_eq!(
        i.warning_kinds(),
        [W::InterimWithoutRequest { status: 100 }]
    );
    assert!(i.exchanges().is_empty());
}

#[test]
fn detection_by_content_and_json_contract() {
    assert_eq!(
        crate::inspect::http::looks_like_http_request(b"GET / HTTP/1.1\r\n"),
        Some(true)
    );
    assert_eq!(
        crate::inspect::http::looks_like_http_response(b"HTTP/1.1 200 OK\r\n"),
        Some(true)
    );
    let mut i = run(&conversation());
    i.on_data(S, t(20), &nginx("200 OK", &[], b""));
    let v = serde_json::to_value(i.exchanges()).unwrap();
    let e0 = &v[0];
    for key in [
        "method",
        "target",
        "host",
        "request_version",
        "response_version",
        "status",
        "interim_statuses",
        "request_time",
        "request_end",
        "response_time",
        "response_end",
        "request_body_bytes",
        "response_body_bytes",
        "response_wire_bytes",
        "request_connection",
        "response_connection",
        "request_keep_alive",
        "response_keep_alive",
        "keep_alive",
        "transfer_encoding",
        "content_encoding",
        "framing",
        "upgrade",
        "request_complete",
        "response_complete",
        "pipelined",
    ] {
        assert!(e0.get(key).is_some(), "missing {key}");
    }
    assert!(e0.get("outstanding").is_none());
    assert_eq!(e0["request_version"], "1.1");
    assert_eq!(e0["framing"], "content-length");
    assert_eq!(v[1]["framing"], "chunked");
    assert_eq!(e0["request_time"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(e0["keep_alive"], serde_json::Value::Null);
    assert_eq!(v[3]["method"], serde_json::Value::Null);
    let sw = Switch {
        kind: "connect",
        protocol: None,
        at: t(0),
        exchange: 0,
        target: None,
    };
    assert_eq!(serde_json::to_value(sw).unwrap()["kind"], "connect");
}

#[test]
fn upgrade_declined_keeps_parsing_http() {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &curl(
            "GET",
            "/",
            &[
                ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", "h2c"),
                ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
            ],
            b"",
        ),
    );
    i.on_data(S, t(1), &nginx("200 OK", &[], b"plain"));
    i.on_data(C, t(2), &curl("GET", "/next", &[], b""));
    i.on_data(S, t(3), &nginx("200 OK", &[], b"again"));
    i.finish(t(4));
    assert!(i.switched().is_none());
    assert_eq!(i.requests(), 2);
    assert_eq!(i.exchanges()[0].rare().upgrade.as_deref(), Some("h2c"));
    assert!(i.exchanges().iter().all(|e| e.response.complete));
    assert!(!i.exchanges()[1].pipelined);
    assert_eq!(i.warnings(), &[] as &[String]);
}

#[test]
fn h2c_upgrade_switches_with_protocol() {
    let mut i = HttpInspector::new();
    i.on_data(
        C,
        t(0),
        &curl(
            "GET",
            "/",
            &[
                ("Connection", "Upgrade, HTTP2-Settings"),
                ("Upgrade", "h2c"),
            ],
            b"",
        ),
    );
    let mut r = msg(
        "HTTP/1.1 101 Switching Protocols",
        &[("Connection", "Upgrade"), ("Upgrade", "h2c")],
        b"",
    );
    r.extend_from_slice(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00");
    i.on_data(S, t(1), &r);
    i.on_data(C, t(2), b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(i.switched().unwrap().protocol.as_deref(), Some("h2c"));
    assert_eq!(
        i.drain_tunnel(C),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()
    );
    assert_eq!(i.drain_tunnel(S).len(), 9);
    assert_eq!(i.warnings(), &[] as &[String]);
}

/// A connection keeps up to 1,500 exchanges: their size is its memory.
#[test]
fn exchange_stays_small() {
    let (e, m) = (size_of::<Exchange>(), size_of::<Message>());
    eprintln!("Exchange {e} B, Message {m} B");
    assert!(e <= 192, "Exchange is {e} bytes");
}

#[test]
fn nothing_of_a_head_carries_into_the_next() {
    // Every header section is parsed into one reused `MessageHeaders`.
    let mut i = HttpInspector::new();
    let first = [
        ("Expect", "100-continue"),
        ("Connection", "close, foo"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Length", "2"),
    ];
    i.on_data(C, t(0), &curl("POST", "/a", &first, b"hi"));
    i.on_data(C, t(0), &msg("GET /b HTTP/1.1", &[], b""));
    let te = [("Transfer-Encoding", "gzip"), ("Content-Encoding", "br")];
    i.on_data(S, t(1), &nginx("200 OK", &te, b""));
    i.on_data(S, t(2), &msg("HTTP/1.1 204 No Content", &[], b""));
    let ex = i.exchanges();
    assert_eq!(ex[0].rare().expect.as_deref(), Some("100-continue"));
    assert_eq!(ex[0].connection(C), Some("close, foo"));
    assert_eq!(ex[0].request.keep_alive.as_deref(), Some("timeout=5"));
    assert_eq!(ex[0].rare().transfer_encoding.as_deref(), Some("gzip"));
    assert_eq!(ex[0].rare().content_encoding.as_deref(), Some("br"));
    let b = &ex[1];
    assert_eq!((b.host.as_deref(), b.connection(C)), (None, None));
    assert_eq!(
        (b.request.keep_alive.as_deref(), b.rare().expect.as_deref()),
        (None, None)
    );
    assert_eq!(b.request.framing, Some(Framing::None));
    assert_eq!(b.connection(S), None);
    assert_eq!(b.rare().transfer_encoding, None);
    assert_eq!(b.rare().content_encoding, None);
}

#[test]
fn unframeable_request_quotes_its_own_header() {
    for (header, value, why) in [
        ("Transfer-Encoding", "gzip", Unframeable::TeNotChunked),
        ("Content-Length", "1, 2", Unframeable::BadContentLength),
    ] {
        let mut i = HttpInspector::new();
        // The head before had a Content-Length of its own.
        i.on_data(
            C,
            t(0),
            &curl("GET", "/a", &[("Content-Length", "9")], b"123456789"),
        );
        i.on_data(C, t(1), &curl("POST", "/b", &[(header, value)], b""));
        let w = i.warning_kinds();
        assert_eq!(
            w,
            [W::UnframeableRequest {
                label: "exchange #2 (POST /b)".into(),
                why,
                value: value.into(),
            }]
        );
        assert_eq!(i.exchanges()[0].request.body_bytes, 9);
    }
}

#[test]
fn without_details_finds_the_same_first_host() {
    // Past the first Host among the exchanges never dropped, a facts-only
    // inspector parses Hosts without keeping them.
    for host_from in [0, 3, 499, 500, 1700] {
        let (mut full, mut slim) = (HttpInspector::new(), HttpInspector::without_details());
        for n in 0..2500 {
            let host = format!("h{n}");
            let headers: &[(&str, &str)] = if n >= host_from {
                &[("Host", &host)]
            } else {
                &[]
            };
            let req = msg(&format!("GET /{n} HTTP/1.1"), headers, b"");
            for i in [&mut full, &mut slim] {
                i.on_data(C, t(n), &req);
                i.on_data(S, t(n), &nginx("200 OK", &[], b"ok"));
            }
        }
        assert_eq!(slim.first_host(), full.first_host(), "from {host_from}");
        if host_from < super::super::log::KEEP_HEAD as i64 {
            assert_eq!(full.first_host(), Some(&format!("h{host_from}")[..]));
        } else {
            // Hosts in the dropped middle are gone: a later one is first.
            assert!(full.first_host().is_some());
        }
        assert_eq!(slim.facts(), full.facts());
        assert_eq!(slim.exchanges_omitted(), full.exchanges_omitted());
    }
}

/// Heads for the memo tests (issue 14): repeats, and near-repeats that
/// differ in one byte, in the start line, in a value the inspector keeps
/// or in one it skips, with header issues, interim and bodiless responses.
fn memo_messages() -> Vec<(Direction, Vec<u8>)> {
    let ka = [("Connection", "keep-alive")];
    vec![
        (C, msg("GET / HTTP/1.1", &[("Host", "a:80")], b"")),
        (C, msg("GET / HTTP/1.1", &[("Host", "b:80")], b"")),
        (C, msg("GET /x HTTP/1.1", &[("Host", "a:80")], b"")),
        (C, msg("HEAD / HTTP/1.1", &[("Host", "a:80")], b"")),
        (C, msg("GET / HTTP/1.0", &[("Host", "a:80")], b"")),
        (
            C,
            msg(
                "GET / HTTP/1.1",
                &[("Host", "a:80"), ("Connection", "close")],
                b"",
            ),
        ),
        (
            C,
            msg("GET / HTTP/1.1", &[("Host", "a:80"), ("Host", "a:80")], b""),
        ),
        (C, b"GET / HTTP/1.1\r\nHost : a:80\r\n\r\n".to_vec()),
        (C, b"GET /\x01 HTTP/1.1\r\nHost: a:80\r\n\r\n".to_vec()),
        (
            C,
            msg(
                "POST /p HTTP/1.1",
                &[("Host", "a:80"), ("Content-Length", "2")],
                b"hi",
            ),
        ),
        (
            C,
            msg(
                "GET / HTTP/1.1",
                &[("Host", "a:80"), ("Expect", "100-continue")],
                b"",
            ),
        ),
        (S, nginx("200 OK", &[], b"0123456789")),
        (S, nginx("200 OK", &[], b"0123456780")),
        (S, nginx("200 OK", &[], b"01234567890")),
        (S, nginx("404 Not Found", &[], b"0123456789")),
        (
            S,
            nginx("200 OK", &[("Keep-Alive", "timeout=5, max=100")], b""),
        ),
        (
            S,
            nginx("200 OK", &[("Transfer-Encoding", "chunked")], b"0\r\n\r\n"),
        ),
        (S, msg("HTTP/1.1 204 No Content", &ka, b"")),
        (S, msg("HTTP/1.1 100 Continue", &[], b"")),
        (
            S,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\r\n b\r\n\r\n".to_vec(),
        ),
        (
            S,
            msg(
                "HTTP/1.1 200 OK",
                &[("Content-Length", "0"), ("Connection", "close")],
                b"",
            ),
        ),
    ]
}

/// `msgs` fed in `order`, each message in the pieces `cuts` makes; the
/// memo in use or not, with or without exchange details.
fn memo_run(
    msgs: &[(Direction, Vec<u8>)],
    order: &[(prop::sample::Index, Vec<prop::sample::Index>)],
    memo: bool,
    details: bool,
) -> HttpInspector {
    let mut i = if details {
        HttpInspector::new()
    } else {
        HttpInspector::without_details()
    };
    i.no_memo = !memo;
    for (k, (pick, cuts)) in order.iter().enumerate() {
        let (dir, m) = &msgs[pick.index(msgs.len())];
        for piece in cut(m, cuts) {
            i.on_data(*dir, t(k as i64), piece);
        }
    }
    i
}

proptest! {
    #![proptest_config(cases(256))]

    /// A head taken from the memo gives exactly what parsing it gives:
    /// any sequence of repeated and near-repeated heads, whole or in
    /// pieces, with or without exchange details (which change how Host
    /// is parsed).
    #[test]
    fn memoized_heads_give_what_parsing_gives(
        order in prop::collection::vec(
            (any::<prop::sample::Index>(), prop::collection::vec(any::<prop::sample::Index>(), 0..2)),
            1..40,
        ),
        details in any::<bool>(),
    ) {
        let msgs = memo_messages();
        let mut with = memo_run(&msgs, &order, true, details);
        let mut without = memo_run(&msgs, &order, false, details);
        prop_assert_eq!(without.memo_hits, 0);
        prop_assert_eq!(snapshot(&with), snapshot(&without));
        prop_assert_eq!(with.facts(), without.facts());
        with.finish(t(99));
        without.finish(t(99));
        prop_assert_eq!(snapshot(&with), snapshot(&without));
    }
}

#[test]
fn repeated_heads_are_taken_from_the_memo() {
    let msgs = memo_messages();
    let (req, resp) = (&msgs[0].1, &msgs[11].1);
    let mut i = HttpInspector::new();
    for k in 0..5 {
        i.on_data(C, t(k), req);
        i.on_data(S, t(k), resp);
    }
    // The first two heads of each direction are parsed (the memo is made
    // at the second), the other three of each come from it.
    assert_eq!(i.memo_hits, 6);
    assert_eq!(i.requests(), 5);
    assert_eq!(i.responses(), 5);
    // A head that differs in its last header byte is parsed, and so is a
    // head only a prefix of which has arrived.
    i.on_data(C, t(6), &msgs[1].1);
    i.on_data(C, t(7), &req[..req.len() - 1]);
    assert_eq!(i.memo_hits, 6);
    i.on_data(C, t(7), &req[req.len() - 1..]);
    assert_eq!(i.requests(), 7);
    // Pipelined: one slice of identical requests.
    let mut burst = Vec::new();
    for _ in 0..4 {
        burst.extend_from_slice(req);
    }
    i.on_data(C, t(8), &burst);
    assert_eq!(i.requests(), 11);
    assert!(i.memo_hits >= 9, "{}", i.memo_hits);
}

#[test]
fn head_memo_stays_small() {
    // A connection that repeats heads holds two memos besides its bytes
    // (at most `MEMO_MAX` per direction): not counted by the table's
    // per-inspector allowance, so kept small.
    let m = size_of::<HeadMemo>();
    eprintln!(
        "HeadMemo {m} B, MessageHeaders {} B",
        size_of::<MessageHeaders>()
    );
    assert!(2 * (m + MEMO_MAX) <= 2048, "HeadMemo is {m} bytes");
}
