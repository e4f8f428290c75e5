//! Unit tests: frames built by hand, RFC 7541 examples and random bytes.

use super::*;
use crate::Direction::{ClientToServer as C, ServerToClient as S};

fn ts(n: i64) -> Timestamp {
    Timestamp::from_nanos(n)
}

fn frame(typ: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut v = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, typ, flags];
    v.extend_from_slice(&sid.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let p: Vec<u8> = pairs
        .iter()
        .flat_map(|(i, v)| {
            let mut b = i.to_be_bytes().to_vec();
            b.extend(v.to_be_bytes());
            b
        })
        .collect();
    frame(SETTINGS, 0, 0, &p)
}

/// HPACK-ish header block bytes (content irrelevant to the scanner).
fn hdrs(sid: u32, flags: u8) -> Vec<u8> {
    frame(
        HEADERS,
        flags | 0x4,
        sid,
        &[
            0x82, 0x86, 0x84, 0x41, 0x0a, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'i',
            b'o',
        ],
    )
}

fn client_stream() -> Vec<u8> {
    [
        PREFACE.to_vec(),
        settings(&[(3, 100), (4, 65535)]),
        frame(WINDOW_UPDATE, 0, 0, &[0, 0xf, 0, 1]),
        hdrs(1, FLAG_END_STREAM),
        hdrs(3, FLAG_END_STREAM),
        hdrs(5, 0),
        frame(DATA, FLAG_END_STREAM, 5, &[0x61; 300]),
        frame(SETTINGS, FLAG_ACK, 0, &[]),
    ]
    .concat()
}

fn server_stream() -> Vec<u8> {
    [
        settings(&[(3, 128), (5, 16384)]),
        frame(SETTINGS, FLAG_ACK, 0, &[]),
        hdrs(1, 0),
        frame(DATA, FLAG_END_STREAM, 1, &[0x62; 1000]),
        hdrs(3, FLAG_END_STREAM),
        hdrs(5, 0),
        frame(DATA, 0, 5, &[0x63; 500]),
        hdrs(5, FLAG_END_STREAM), // trailers: not a second response
        frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0]),
    ]
    .concat()
}

#[test]
fn preface_detection() {
    assert_eq!(looks_like_h2_preface(PREFACE), Some(true));
    assert_eq!(looks_like_h2_preface(&client_stream()), Some(true));
    assert_eq!(looks_like_h2_preface(b"PRI * HT"), None);
    assert_eq!(looks_like_h2_preface(b""), None);
    assert_eq!(looks_like_h2_preface(b"GET / HTTP/1.1\r\n"), Some(false));
    assert_eq!(looks_like_h2_preface(b"PRX"), Some(false));
}

fn check(i: &H2Info) {
    assert!(i.preface_seen);
    assert_eq!(i.streams, 3);
    assert_eq!(i.responses, 3);
    assert_eq!(i.frames, [7, 9]);
    assert_eq!(i.data_bytes, [300, 1500]);
    assert_eq!(i.settings_max_concurrent_streams, [Some(100), Some(128)]);
    assert!(i.goaway);
    assert_eq!(i.goaway_from, Some(S));
    assert_eq!(
        (i.goaway_last_stream_id, i.goaway_error),
        (Some(5), Some(0))
    );
    assert_eq!(i.rst_streams, 0);
}

#[test]
fn three_streams_split_at_every_offset() {
    let c = client_stream();
    let s = server_stream();
    for split in 0..=c.len().max(s.len()) {
        let mut h = H2Inspector::new();
        let (c1, c2) = c.split_at(split.min(c.len()));
        let (s1, s2) = s.split_at(split.min(s.len()));
        h.on_data(C, ts(0), c1);
        h.on_data(C, ts(1), c2);
        h.on_data(S, ts(2), s1);
        h.on_data(S, ts(3), s2);
        h.finish(ts(4));
        check(h.info());
        assert_eq!(h.info().max_concurrent_streams_seen, 3, "split {split}");
        assert!(h.warnings().is_empty(), "{:?}", h.warnings());
    }
}

#[test]
fn byte_by_byte_interleaved() {
    let c = client_stream();
    let s = server_stream();
    let mut h = H2Inspector::new();
    for i in 0..c.len().max(s.len()) {
        if let Some(b) = c.get(i) {
            h.on_data(C, ts(i as i64), std::slice::from_ref(b));
        }
        if let Some(b) = s.get(i) {
            h.on_data(S, ts(i as i64), std::slice::from_ref(b));
        }
    }
    check(h.info());
    assert!(h.info().first_stream_time.is_some());
}

#[test]
fn sequential_streams_concurrency_one() {
    let mut h = H2Inspector::new();
    h.on_data(C, ts(0), &[PREFACE.to_vec(), settings(&[])].concat());
    h.on_data(S, ts(1), &settings(&[]));
    for (n, sid) in [1u32, 3, 5, 7].into_iter().enumerate() {
        h.on_data(C, ts(10 * n as i64), &hdrs(sid, FLAG_END_STREAM));
        h.on_data(
            S,
            ts(10 * n as i64 + 5),
            &[hdrs(sid, 0), frame(DATA, FLAG_END_STREAM, sid, b"ok")].concat(),
        );
    }
    let i = h.info();
    assert_eq!(
        (i.streams, i.responses, i.max_concurrent_streams_seen),
        (4, 4, 1)
    );
    assert_eq!(
        (i.first_stream_time, i.last_stream_time),
        (Some(ts(0)), Some(ts(30)))
    );
}

#[test]
fn upgrade_counts_stream_one() {
    let mut h = H2Inspector::after_upgrade();
    h.on_data(C, ts(0), &[PREFACE.to_vec(), settings(&[(3, 10)])].concat());
    h.on_data(
        S,
        ts(1),
        &[
            settings(&[]),
            hdrs(1, 0),
            frame(DATA, FLAG_END_STREAM, 1, b"hello"),
        ]
        .concat(),
    );
    h.on_data(
        C,
        ts(2),
        &[frame(SETTINGS, FLAG_ACK, 0, &[]), hdrs(3, FLAG_END_STREAM)].concat(),
    );
    h.on_data(S, ts(3), &[frame(RST_STREAM, 0, 3, &[0, 0, 0, 8])].concat());
    let i = h.info();
    assert!(i.upgraded && i.preface_seen);
    assert_eq!((i.streams, i.responses, i.rst_streams), (2, 1, 1));
    assert_eq!(i.max_concurrent_streams_seen, 1);
    assert!(h.warnings().is_empty());
}

#[test]
fn bad_preface_ignores_client() {
    let mut h = H2Inspector::new();
    h.on_data(C, ts(0), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    h.on_data(C, ts(0), &hdrs(1, 0));
    assert_eq!(h.info().streams, 0);
    assert!(!h.info().preface_seen);
    assert_eq!(h.warnings().len(), 1);
}

#[test]
fn gap_inside_data_keeps_sync_and_gap_across_headers_resyncs() {
    let mut h = H2Inspector::new();
    h.on_data(
        C,
        ts(0),
        &[PREFACE.to_vec(), settings(&[]), hdrs(1, FLAG_END_STREAM)].concat(),
    );
    let big = frame(DATA, 0, 1, &[7; 5000]);
    h.on_data(S, ts(1), &[settings(&[]), hdrs(1, 0)].concat());
    h.on_data(S, ts(1), &big[..100]);
    h.on_gap(S, ts(1), 4000);
    h.on_data(S, ts(1), &big[4100..]);
    assert!(h.warnings().is_empty());
    // Lose a frame header: resync on the following frames.
    let tail = [
        frame(DATA, 0, 1, &[8; 200]),
        frame(DATA, 0, 1, &[9; 50]),
        frame(DATA, FLAG_END_STREAM, 1, b"end"),
    ]
    .concat();
    h.on_gap(S, ts(2), 5);
    h.on_data(S, ts(2), &tail[5..]);
    h.on_data(C, ts(3), &hdrs(3, FLAG_END_STREAM));
    h.on_data(S, ts(4), &hdrs(3, FLAG_END_STREAM));
    let i = h.info();
    // The resync warning, and: the server's HPACK table is lost with the gap.
    assert_eq!(h.warnings().len(), 2, "{:?}", h.warnings());
    assert!(h.warnings()[1].contains("HPACK"));
    assert_eq!((i.streams, i.responses), (2, 2));
    assert_eq!(i.data_bytes[1], 5000 + 50 + 3);
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let valid = [client_stream(), server_stream()];
    for round in 0..400 {
        let mut h = if round % 2 == 0 {
            H2Inspector::new()
        } else {
            H2Inspector::after_upgrade()
        };
        for (k, dir) in [C, S].into_iter().enumerate() {
            let mut bytes: Vec<u8> = if round % 3 == 0 {
                (0..next() % 4000).map(|_| next() as u8).collect()
            } else {
                valid[k].clone()
            };
            for _ in 0..next() % 6 {
                if !bytes.is_empty() {
                    let p = (next() as usize) % bytes.len();
                    bytes[p] = next() as u8;
                }
            }
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (next() as usize) % rest.len().min(500);
                h.on_data(dir, ts(0), &rest[..n]);
                rest = &rest[n..];
                if next() % 40 == 0 {
                    h.on_gap(dir, ts(0), next() % 3000);
                }
            }
        }
        h.finish(ts(1));
        assert!(h.warnings().len() <= MAX_WARNINGS + 1);
    }
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    crate::inspect::tls::keylog::unhex(&s).expect("hex test vector")
}

/// RFC 7541 Appendix C.3: three requests whose header blocks share one
/// dynamic table (the 2nd and 3rd refer to entries the 1st added), sent
/// as HEADERS on streams 1, 3, 5 (the 3rd padded and with priority).
#[test]
fn hpack_rfc7541_c3_requests_become_exchanges() {
    let c1 = unhex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
    let c2 = unhex("8286 84be 5808 6e6f 2d63 6163 6865");
    let c3 = unhex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65");
    let mut padded = vec![3u8]; // pad length
    padded.extend([0, 0, 0, 1, 16]); // priority: depends on 1, weight 16
    padded.extend(&c3);
    padded.extend([0, 0, 0]);
    let client = [
        PREFACE.to_vec(),
        settings(&[]),
        frame(HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 1, &c1),
        // Split across HEADERS + CONTINUATION.
        frame(HEADERS, FLAG_END_STREAM, 3, &c2[..3]),
        frame(CONTINUATION, FLAG_END_HEADERS, 3, &c2[3..]),
        frame(
            HEADERS,
            FLAG_END_STREAM | FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY,
            5,
            &padded,
        ),
    ]
    .concat();
    // :status 200 (static index 8), then :status 404 (static index 13).
    let server = [
        settings(&[]),
        frame(HEADERS, FLAG_END_HEADERS, 1, &[0x88]),
        frame(DATA, FLAG_END_STREAM, 1, b"hello"),
        frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 3, &[0x8d]),
    ]
    .concat();
    let mut h = H2Inspector::new();
    for b in client.iter() {
        h.on_data(C, ts(0), std::slice::from_ref(b));
    }
    h.on_data(S, ts(1), &server);
    h.finish(ts(2));
    assert!(h.warnings().is_empty(), "{:?}", h.warnings());
    let x = h.exchanges();
    assert_eq!(x.len(), 3);
    let got: Vec<_> = x
        .iter()
        .map(|e| (e.method(), e.target.as_deref(), e.host.as_deref(), e.status))
        .collect();
    assert_eq!(
        got,
        [
            (Some("GET"), Some("/"), Some("www.example.com"), Some(200)),
            (Some("GET"), Some("/"), Some("www.example.com"), Some(404)),
            (
                Some("GET"),
                Some("/index.html"),
                Some("www.example.com"),
                None
            ),
        ]
    );
    assert_eq!(x[0].response.body_bytes, 5);
    assert!(x[0].response.complete && x[1].response.complete && !x[2].response.complete);
}

#[test]
fn hpack_garbage_stops_decoding_but_streams_still_count() {
    let client = [
        PREFACE.to_vec(),
        frame(
            HEADERS,
            FLAG_END_STREAM | FLAG_END_HEADERS,
            1,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        frame(HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, 3, &[0x82]),
    ]
    .concat();
    let mut h = H2Inspector::new();
    h.on_data(C, ts(0), &client);
    h.finish(ts(1));
    assert_eq!(h.info().streams, 2);
    assert!(h.exchanges().iter().all(|e| e.method().is_none()));
    assert!(
        h.warnings().iter().any(|w| w.contains("HPACK")),
        "{:?}",
        h.warnings()
    );
}
