//! Message heads cut by capture gaps (small snaplen): the reassembly reports
//! the tail of each packet as a gap right after the captured bytes.

use super::*;
use crate::Direction::{ClientToServer as C, ServerToClient as S};

fn t(n: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + n * 1_000_000)
}

fn req(method: &str, target: &str) -> Vec<u8> {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
    )
    .into_bytes()
}

fn resp(status: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nKeep-Alive: timeout=5, max=100\r\nServer: nginx/1.24.0\r\nContent-Type: text/html\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn line_len(m: &[u8]) -> usize {
    m.iter().position(|&c| c == b'\n').unwrap() + 1
}

fn head_len(m: &[u8]) -> usize {
    parser::find_head_end(m, 0).unwrap()
}

/// Feeds `m` as one packet cut after `n` bytes (the rest reported as a gap).
fn cut(i: &mut HttpInspector, dir: Direction, ts: i64, m: &[u8], n: usize) {
    i.on_data(dir, t(ts), &m[..n]);
    if n < m.len() {
        i.on_gap(dir, t(ts), (m.len() - n) as u64);
    }
}

const TARGETS: [&str; 3] = ["/a", "/bb", "/ccc"];
const STATUSES: [(&str, u16); 3] = [
    ("200 OK", 200),
    ("404 Not Found", 404),
    ("201 Created", 201),
];
const BODY: &[u8] = b"hello world!"; // 12 bytes: "Content-Length: 1" can be cut mid-value

/// Sequential keep-alive; `cut_req` / `cut_resp`: cut each request / response after that many bytes.
fn sequential(cut_req: Option<usize>, cut_resp: Option<usize>) -> HttpInspector {
    let mut i = HttpInspector::new();
    for k in 0..3 {
        let q = req("GET", TARGETS[k]);
        let r = resp(STATUSES[k].0, BODY);
        let ts = 2 * k as i64;
        cut(
            &mut i,
            C,
            ts,
            &q,
            cut_req.map_or(q.len(), |n| n.min(q.len())),
        );
        cut(
            &mut i,
            S,
            ts + 1,
            &r,
            cut_resp.map_or(r.len(), |n| n.min(r.len())),
        );
    }
    i.finish(t(10));
    i
}

fn check_fifo(i: &HttpInspector) {
    let ex = i.exchanges();
    assert_eq!(ex.len(), 3, "{:#?}", i.warnings());
    for k in 0..3 {
        assert_eq!(
            ex[k].target.as_deref(),
            Some(TARGETS[k]),
            "{:#?}",
            i.warnings()
        );
        assert_eq!(ex[k].status, Some(STATUSES[k].1), "{:#?}", i.warnings());
    }
    assert!(!i.warnings().iter().any(|w| w.contains("never answered")));
}

#[test]
fn sequential_requests_cut_after_every_length() {
    let full = req("GET", "/a").len();
    for n in 1..full {
        let i = sequential(Some(n), None);
        // Each request is cut at the same offset; "/bb" and "/ccc" have longer lines.
        let counted = TARGETS
            .iter()
            .filter(|tg| n >= line_len(&req("GET", tg)))
            .count() as u32;
        assert_eq!(i.requests(), counted, "cut after {n}: {:#?}", i.warnings());
        assert_eq!(i.responses(), 3, "cut after {n}");
        if counted == 3 {
            check_fifo(&i);
            let ex = i.exchanges();
            assert!(ex
                .iter()
                .all(|e| !e.request.complete && e.response.complete));
            assert_eq!(ex[0].gap_bytes(C2S), (full - n) as u64);
            assert_eq!(ex[0].request.version, Some(HttpVersion::Http11));
            let host_end = line_len(&req("GET", "/a")) + "Host: example.com\r\n".len();
            let want = (n >= host_end).then(|| "example.com".to_owned());
            assert_eq!(
                ex[0].host.as_deref().map(str::to_owned),
                want,
                "cut after {n}"
            );
            let w = i.warnings().join("\n");
            assert!(
                w.contains(&format!(
                    "client->server: exchange #1 (GET /a): request head cut by {} missing bytes after {n} captured",
                    full - n
                )),
                "{w}"
            );
            // No body, so the gap holds the rest of the head: no resync needed.
            assert!(!w.contains("resynchronized"), "{w}");
        }
    }
}

#[test]
fn sequential_responses_cut_after_every_length() {
    let r = resp("200 OK", BODY);
    let status_len = line_len(&r);
    let cl_end = status_len + "Content-Length: 12\r\n".len();
    for n in 1..r.len() {
        let i = sequential(None, Some(n));
        assert_eq!(i.requests(), 3, "cut after {n}");
        let counted = STATUSES
            .iter()
            .filter(|(s, _)| n >= line_len(&resp(s, BODY)))
            .count() as u32;
        assert_eq!(i.responses(), counted, "cut after {n}: {:#?}", i.warnings());
        if counted == 3 {
            check_fifo(&i);
        }
        let e = &i.exchanges()[0];
        if n < status_len {
            assert_eq!(e.status, None, "cut after {n}");
            assert!(!e.response.complete);
        } else if n < head_len(&r) {
            assert!(!e.response.complete, "cut after {n}");
            assert_eq!(e.gap_bytes(S2C), (r.len() - n) as u64);
            let w = i.warnings().join("\n");
            assert!(
                w.contains(&format!(
                    "server->client: response to exchange #1 (GET /a): response head cut by {} missing bytes after {n} captured",
                    r.len() - n
                )),
                "{w}"
            );
            if n >= cl_end {
                // Content-Length captured and the gap is exactly head rest + body.
                assert_eq!(e.response.framing, Some(Framing::ContentLength));
                assert_eq!(e.response.body_bytes, 12);
                assert_eq!(e.response_wire_bytes, r.len() as u64);
                assert_eq!(cut_thens(&i, S)[0], CutThen::InSync(12), "{w}");
                // The next response was not searched for.
                assert!(!w.contains("resynchronized at \"HTTP/1.1 404"), "{w}");
            } else {
                assert_eq!(e.response.framing, None, "cut after {n}");
                assert_eq!(cut_thens(&i, S)[0], CutThen::Unframed, "{w}");
            }
            if n >= status_len + "Content-Length: 12\r\nKeep-Alive: timeout=5, max=100\r\n".len() {
                assert_eq!(i.keep_alive().and_then(|k| k.timeout), Some(5));
            }
        } else {
            // Whole head, gap inside the body: the old Content-Length path.
            assert!(e.response.complete, "cut after {n}");
        }
    }
}

#[test]
fn both_directions_cut_after_the_start_line_and_further() {
    let longest_req = line_len(&req("GET", "/ccc"));
    let longest_resp = line_len(&resp("404 Not Found", BODY));
    for n in [longest_req, longest_req + 1, longest_req + 5, 60, 80] {
        for m in [longest_resp, longest_resp + 1, longest_resp + 17, 60, 100] {
            let i = sequential(Some(n), Some(m));
            assert_eq!((i.requests(), i.responses()), (3, 3), "{n}/{m}");
            check_fifo(&i);
            assert_eq!(i.max_pipeline_depth(), 1);
        }
    }
}

#[test]
fn cut_inside_the_start_line_is_not_counted() {
    let q = req("GET", "/a");
    let l = line_len(&q);
    // Cut before the LF of the request line: not a message.
    let mut i = HttpInspector::new();
    cut(&mut i, C, 0, &q, l - 1);
    assert_eq!(i.requests(), 0);
    assert!(!i.is_http());
    // Just after it: counted.
    let mut i = HttpInspector::new();
    cut(&mut i, C, 0, &q, l);
    assert_eq!(i.requests(), 1);
    assert!(i.is_http());
    assert_eq!(i.exchanges()[0].method(), Some("GET"));
    assert_eq!(i.exchanges()[0].host, None);
    // Bare-LF start line too.
    let mut i = HttpInspector::new();
    i.on_data(S, t(0), b"HTTP/1.0 200 OK\n");
    i.on_gap(S, t(0), 500);
    assert_eq!(i.responses(), 1);
    assert_eq!(i.http_version(), Some("1.0"));
}

#[test]
fn pipelined_cut_heads_keep_fifo() {
    let mut i = HttpInspector::new();
    // Three requests sent back to back, each in its own cut packet.
    for (k, tg) in TARGETS.iter().enumerate() {
        let q = req("GET", tg);
        cut(&mut i, C, k as i64, &q, line_len(&q) + 10);
    }
    // One packet: a whole request, then the start of another one, cut.
    let mut p = req("GET", "/d");
    let q2 = req("GET", "/e");
    p.extend_from_slice(&q2);
    cut(&mut i, C, 3, &p, p.len() - q2.len() + line_len(&q2) + 3);
    assert_eq!(i.requests(), 5);
    assert_eq!(i.max_pipeline_depth(), 5);
    let statuses = [200, 404, 201, 202, 203];
    for (k, s) in statuses.iter().enumerate() {
        let r = resp(&format!("{s} X"), BODY);
        cut(&mut i, S, 4 + k as i64, &r, line_len(&r) + 5);
    }
    i.finish(t(20));
    assert_eq!(i.responses(), 5);
    let ex = i.exchanges();
    let got: Vec<_> = ex
        .iter()
        .map(|e| (e.target.clone().unwrap().to_string(), e.status.unwrap()))
        .collect();
    let want: Vec<_> = ["/a", "/bb", "/ccc", "/d", "/e"]
        .iter()
        .zip(statuses)
        .map(|(a, b)| (a.to_string(), b))
        .collect();
    assert_eq!(got, want);
    assert!(ex[3].request.complete && !ex[4].request.complete);
    assert!(ex.iter().skip(1).all(|e| e.pipelined));
    assert!(!i.warnings().iter().any(|w| w.contains("never answered")));
}

#[test]
fn cut_response_to_head_has_no_body() {
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &req("HEAD", "/big.iso"));
    // Content-Length of the entity, no body: the gap is only the rest of the head.
    let r = b"HTTP/1.1 200 OK\r\nContent-Length: 734003200\r\nConnection: keep-alive\r\nServer: nginx\r\n\r\n";
    cut(&mut i, S, 1, r, 45);
    i.on_data(C, t(2), &req("GET", "/next"));
    i.on_data(S, t(3), &resp("200 OK", BODY));
    i.finish(t(4));
    assert_eq!((i.requests(), i.responses()), (2, 2));
    let ex = i.exchanges();
    assert_eq!(ex[0].status, Some(200));
    assert_eq!(ex[0].response.framing, Some(Framing::None));
    assert_eq!(ex[0].response.body_bytes, 0);
    assert!(!ex[0].response.complete);
    assert!(ex[1].response.complete);
    assert_eq!(ex[1].response.body_bytes, 12);
    assert_eq!(cut_thens(&i, S), [CutThen::InSync(0)]);
    let w = i.warnings().join("\n");
    assert!(!w.contains("lost sync"), "{w}");

    // 204 and 304 likewise, even with a Content-Length captured.
    for st in ["204 No Content", "304 Not Modified"] {
        let mut i = HttpInspector::new();
        i.on_data(C, t(0), &req("GET", "/x"));
        let r = format!("HTTP/1.1 {st}\r\nContent-Length: 99\r\nServer: nginx\r\n\r\n");
        cut(&mut i, S, 1, r.as_bytes(), r.len() - 10);
        i.on_data(C, t(2), &req("GET", "/y"));
        i.on_data(S, t(3), &resp("200 OK", BODY));
        assert_eq!(i.responses(), 2);
        assert!(i.exchanges()[1].response.complete, "{st}");
        assert!(!i.warnings().join("\n").contains("lost sync"), "{st}");
    }
}

#[test]
fn cut_response_with_content_length_gap_covering_head_and_body_stays_in_sync() {
    let r1 = resp("200 OK", &[b'x'; 300]);
    let n = line_len(&r1) + "Content-Length: 300\r\n".len() + 4;
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &req("GET", "/1"));
    cut(&mut i, S, 1, &r1, n);
    i.on_data(C, t(2), &req("GET", "/2"));
    let r2 = resp("200 OK", b"two");
    i.on_data(S, t(3), &r2);
    i.finish(t(4));
    let ex = i.exchanges();
    assert_eq!(i.responses(), 2);
    assert!(!ex[0].response.complete);
    assert_eq!(ex[0].response.body_bytes, 300);
    assert_eq!(ex[0].gap_bytes(S2C), (r1.len() - n) as u64);
    assert!(ex[1].response.complete);
    assert_eq!(ex[1].response.body_bytes, 3);
    let w = i.warning_kinds();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(cut_thens(&i, S), [CutThen::InSync(300)]);
}

#[test]
fn cut_response_whose_body_goes_on_past_the_gap_resyncs() {
    // A 3000-byte body over three packets, each cut after 100 bytes.
    let r1 = resp("200 OK", &[b'x'; 3000]);
    let mut i = HttpInspector::new();
    i.on_data(C, t(0), &req("GET", "/big"));
    for (k, chunk) in r1.chunks(1200).enumerate() {
        cut(&mut i, S, 1 + k as i64, chunk, 100.min(chunk.len()));
    }
    i.on_data(C, t(5), &req("GET", "/small"));
    let r2 = resp("404 Not Found", b"nope");
    cut(&mut i, S, 6, &r2, 40);
    i.on_data(C, t(7), &req("GET", "/last"));
    i.on_data(S, t(8), &resp("200 OK", b"ok"));
    i.finish(t(9));
    assert_eq!((i.requests(), i.responses()), (3, 3));
    let ex = i.exchanges();
    let st: Vec<_> = ex.iter().map(|e| e.status).collect();
    assert_eq!(st, [Some(200), Some(404), Some(200)]);
    assert!(ex[2].response.complete);
    assert_eq!(cut_thens(&i, S)[0], CutThen::BodyPastGap(3000));
    let w = i.warnings().join("\n");
    assert!(
        w.contains("resynchronized at \"HTTP/1.1 404 Not Found\""),
        "{w}"
    );
}

#[test]
fn cut_request_with_body_and_chunked_response() {
    let mut i = HttpInspector::new();
    let mut q = b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\nX: y\r\n\r\n".to_vec();
    q.extend_from_slice(&[b'z'; 5000]);
    for (k, chunk) in q.chunks(1400).enumerate() {
        cut(&mut i, C, k as i64, chunk, 60.min(chunk.len()));
    }
    let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nServer: x\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    cut(&mut i, S, 5, r, 50);
    i.on_data(C, t(6), &req("GET", "/after"));
    i.on_data(S, t(7), &resp("200 OK", b"a"));
    i.finish(t(8));
    assert_eq!((i.requests(), i.responses()), (2, 2));
    let ex = i.exchanges();
    assert_eq!(ex[0].method(), Some("POST"));
    assert_eq!(ex[0].request.framing, Some(Framing::ContentLength));
    assert_eq!(ex[0].response.framing, Some(Framing::Chunked));
    assert_eq!(ex[1].target.as_deref(), Some("/after"));
    assert!(ex[1].request.complete && ex[1].response.complete);
}

/// What the inspector concluded after each head of `dir` cut by a gap.
fn cut_thens(i: &HttpInspector, dir: Direction) -> Vec<CutThen> {
    i.warning_kinds()
        .iter()
        .filter_map(|w| match w {
            W::CutHead { of, then, .. } if of.dir == dir => Some(*then),
            _ => None,
        })
        .collect()
}
