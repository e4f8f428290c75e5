//! Unit tests: records built field by field.

use super::*;
use crate::Direction::{ClientToServer as C, ServerToClient as S};
use proptest::prelude::*;

fn ts(n: i64) -> Timestamp {
    Timestamp::from_nanos(n)
}

fn u16b(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn vec8(b: &[u8]) -> Vec<u8> {
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

fn vec16(b: &[u8]) -> Vec<u8> {
    let mut v = u16b(b.len() as u16).to_vec();
    v.extend_from_slice(b);
    v
}

fn record(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![typ, 3, 3];
    v.extend_from_slice(&u16b(body.len() as u16));
    v.extend_from_slice(body);
    v
}

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    let mut v = vec![typ, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    v.extend_from_slice(body);
    v
}

fn ext(id: u16, data: &[u8]) -> Vec<u8> {
    let mut v = u16b(id).to_vec();
    v.extend(vec16(data));
    v
}

fn alpn_ext(protos: &[&str]) -> Vec<u8> {
    let list: Vec<u8> = protos.iter().flat_map(|p| vec8(p.as_bytes())).collect();
    ext(16, &vec16(&list))
}

#[derive(Default)]
struct ChOpts {
    session_id: Vec<u8>,
    ticket: Option<Vec<u8>>,
    psk: bool,
    early_data: bool,
    tls13: bool,
}

/// A real-looking ClientHello message (handshake header included).
fn client_hello(o: &ChOpts) -> Vec<u8> {
    let mut b = u16b(0x0303).to_vec();
    b.extend((0..32u8).map(|i| i.wrapping_mul(7)));
    b.extend(vec8(&o.session_id));
    b.extend(vec16(&[
        0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c,
    ]));
    b.extend(vec8(&[0]));
    let mut exts = Vec::new();
    exts.extend(ext(0x0a0a, &[])); // GREASE
    let mut sni = vec![0u8];
    sni.extend(vec16(b"example.com"));
    exts.extend(ext(0, &vec16(&sni)));
    exts.extend(ext(10, &vec16(&[0x00, 0x1d, 0x00, 0x17])));
    exts.extend(alpn_ext(&["h2", "http/1.1"]));
    if let Some(t) = &o.ticket {
        exts.extend(ext(35, t));
    }
    if o.tls13 {
        exts.extend(ext(43, &vec8(&[0x7a, 0x7a, 0x03, 0x04, 0x03, 0x03])));
        exts.extend(ext(45, &vec8(&[1])));
        let mut ks = u16b(0x001d).to_vec();
        ks.extend(vec16(&[0x42; 32]));
        exts.extend(ext(51, &vec16(&ks)));
    }
    if o.early_data {
        exts.extend(ext(42, &[]));
    }
    if o.psk {
        // identities<7..> (identity<1..>, obfuscated_ticket_age u32), binders<33..>
        let mut id = vec16(&[0x55; 40]);
        id.extend([0, 0, 0, 1]);
        let mut p = vec16(&id);
        p.extend(vec16(&vec8(&[0x66; 32])));
        exts.extend(ext(41, &p)); // pre_shared_key must be last
    }
    b.extend(vec16(&exts));
    handshake(1, &b)
}

#[derive(Default)]
struct ShOpts {
    session_id: Vec<u8>,
    version13: Option<u16>,
    alpn: Option<&'static str>,
    psk: bool,
    hrr: bool,
}

fn server_hello(o: &ShOpts) -> Vec<u8> {
    let mut b = u16b(0x0303).to_vec();
    if o.hrr {
        b.extend(HRR_RANDOM);
    } else {
        b.extend([0xab; 32]);
    }
    b.extend(vec8(&o.session_id));
    b.extend(u16b(if o.version13.is_some() {
        0x1301
    } else {
        0xc02f
    }));
    b.push(0);
    let mut exts = Vec::new();
    if let Some(v) = o.version13 {
        exts.extend(ext(43, &u16b(v)));
        let mut ks = u16b(0x001d).to_vec();
        if !o.hrr {
            ks.extend(vec16(&[0x24; 32]));
        }
        exts.extend(ext(51, &ks));
    }
    if let Some(a) = o.alpn {
        exts.extend(alpn_ext(&[a]));
    }
    if o.psk {
        exts.extend(ext(41, &u16b(0)));
    }
    b.extend(vec16(&exts));
    handshake(2, &b)
}

fn certificate() -> Vec<u8> {
    let cert = vec![0x30; 900];
    let mut list = vec![0, 3, 0x84];
    list.extend(&cert);
    let mut b = vec![0, 3, 0x87];
    b.extend(list);
    handshake(11, &b)
}

fn app(len: usize) -> Vec<u8> {
    record(23, &vec![0x5a; len])
}

/// One event of a synthetic connection.
type Ev = (Direction, Vec<u8>);

fn run(events: &[Ev]) -> TlsInspector {
    let mut t = TlsInspector::new();
    for (i, (d, b)) in events.iter().enumerate() {
        t.on_data(*d, ts(i as i64), b);
    }
    t.finish(ts(events.len() as i64));
    t
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn tls12_full() -> Vec<Ev> {
    vec![
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    ticket: Some(vec![]),
                    ..Default::default()
                }),
            ),
        ),
        (
            S,
            cat(&[
                record(
                    22,
                    &server_hello(&ShOpts {
                        session_id: vec![9; 32],
                        alpn: Some("http/1.1"),
                        ..Default::default()
                    }),
                ),
                record(22, &certificate()),
                record(22, &cat(&[handshake(12, &[1; 100]), handshake(14, &[])])),
            ]),
        ),
        (
            C,
            cat(&[
                record(22, &handshake(16, &[2; 33])),
                record(20, &[1]),
                record(22, &[7; 40]),
            ]),
        ),
        (
            S,
            cat(&[
                record(22, &handshake(4, &[3; 150])),
                record(20, &[1]),
                record(22, &[8; 40]),
            ]),
        ),
        (C, app(300)),
        (S, app(1400)),
        (S, app(800)),
        (C, app(280)),
        (S, app(500)),
        (C, record(21, &[0xee; 26])),
    ]
}

#[test]
fn looks_like_tls_cases() {
    let ch = record(22, &client_hello(&ChOpts::default()));
    assert_eq!(looks_like_tls(&ch), Some(true));
    assert_eq!(looks_like_tls(&ch[..5]), Some(true));
    assert_eq!(looks_like_tls(&ch[..2]), None);
    assert_eq!(looks_like_tls(&[]), None);
    assert_eq!(looks_like_tls(b"GET / HTTP/1.1\r\n"), Some(false));
    // Zero-length handshake records (issue 15): TLS, whatever follows that
    // could be TLS; not when what follows is not.
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 0, 0]), Some(true));
    let mut two = [0x16, 3, 1, 0, 0].repeat(2);
    two.extend(&ch);
    assert_eq!(looks_like_tls(&two), Some(true));
    assert_eq!(
        looks_like_tls(b"\x16\x03\x01\x00\x00GET / HTTP/1.1"),
        Some(false)
    );
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 0x48, 0, 1]), Some(false));
    assert_eq!(looks_like_tls(&[0x16, 3, 9]), Some(false));
    assert_eq!(looks_like_tls(&[0x16, 3, 1, 2, 0, 2]), Some(false));
    assert_eq!(looks_like_tls_record(&app(10)), Some(true));
    assert_eq!(looks_like_tls_record(&[23, 3]), None);
    assert_eq!(looks_like_tls_record(b"PRI * HTTP/2.0"), Some(false));
}

#[test]
fn client_hello_fields() {
    let o = ChOpts {
        ticket: Some(vec![0xcc; 160]),
        psk: true,
        early_data: true,
        tls13: true,
        session_id: vec![1; 32],
    };
    let msg = client_hello(&o);
    let ch = parse::client_hello(&msg[4..]).unwrap();
    assert_eq!(ch.sni.as_deref(), Some("example.com"));
    assert_eq!(ch.alpn, vec!["h2", "http/1.1"]);
    assert_eq!(ch.supported_versions, vec![0x0304, 0x0303]);
    assert_eq!(ch.session_ticket_len, Some(160));
    assert!(ch.psk && ch.early_data);
    let t = run(&[(C, record(22, &msg))]);
    let i = t.info();
    assert_eq!(i.versions_offered, vec!["1.3", "1.2"]);
    assert!(i.session_ticket_offered && i.psk_offered && i.early_data);
    assert_eq!((i.client_hellos, i.handshakes), (1, 1));
    assert_eq!(i.first_handshake_time, Some(ts(0)));
    assert_eq!(i.version, None);
}

#[test]
fn tls12_full_handshake() {
    let t = run(&tls12_full());
    let i = t.info();
    assert_eq!(i.version.as_deref(), Some("1.2"));
    assert_eq!(i.sni.as_deref(), Some("example.com"));
    assert_eq!(i.alpn_offered, vec!["h2", "http/1.1"]);
    assert_eq!(i.alpn.as_deref(), Some("http/1.1"));
    assert_eq!(i.versions_offered, vec!["1.2"]);
    assert_eq!(
        (i.handshakes, i.full_handshakes, i.client_hellos),
        (1, 1, 1)
    );
    assert!(!i.resumed && i.resumption.is_none());
    assert!(i.certificate_seen && i.session_ticket_issued && !i.session_ticket_offered);
    assert_eq!(i.encrypted_handshake_records, [1, 1]);
    assert_eq!(i.handshake_done_time, Some(ts(3)));
    assert_eq!(i.app_records, [2, 3]);
    assert_eq!((i.client_app_bytes, i.server_app_bytes), (580, 2700));
    assert_eq!(i.exchanges, 2);
    assert_eq!(i.encrypted_alerts, [1, 0]);
    assert!(!i.encrypted_renegotiation);
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}

#[test]
fn tls12_session_id_resumption() {
    let sid = vec![0x77; 32];
    let t = run(&[
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    session_id: sid.clone(),
                    ..Default::default()
                }),
            ),
        ),
        (
            S,
            cat(&[
                record(
                    22,
                    &server_hello(&ShOpts {
                        session_id: sid,
                        ..Default::default()
                    }),
                ),
                record(20, &[1]),
                record(22, &[8; 40]),
            ]),
        ),
        (C, cat(&[record(20, &[1]), record(22, &[7; 40]), app(200)])),
        (S, app(900)),
    ]);
    let i = t.info();
    assert_eq!(i.version.as_deref(), Some("1.2"));
    assert!(i.resumed);
    assert_eq!(i.resumption.as_deref(), Some("session-id"));
    assert_eq!((i.handshakes, i.full_handshakes), (1, 0));
    assert!(!i.certificate_seen);
    assert_eq!(i.handshake_done_time, Some(ts(2)));
    assert_eq!(i.exchanges, 1);
}

#[test]
fn tls12_ticket_resumption_without_echo() {
    let t = run(&[
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    ticket: Some(vec![0xcc; 192]),
                    ..Default::default()
                }),
            ),
        ),
        (
            S,
            cat(&[
                record(22, &server_hello(&ShOpts::default())),
                record(22, &handshake(4, &[3; 150])),
                record(20, &[1]),
                record(22, &[8; 40]),
            ]),
        ),
    ]);
    let i = t.info();
    assert!(i.resumed && i.session_ticket_offered);
    assert_eq!(i.resumption.as_deref(), Some("session-ticket"));
    assert_eq!(i.full_handshakes, 0);
}

#[test]
fn tls12_ticket_accepted_with_echo() {
    let sid = vec![0x31; 32];
    let t = run(&[
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    session_id: sid.clone(),
                    ticket: Some(vec![0xcc; 192]),
                    ..Default::default()
                }),
            ),
        ),
        (
            S,
            record(
                22,
                &server_hello(&ShOpts {
                    session_id: sid,
                    ..Default::default()
                }),
            ),
        ),
    ]);
    // Ambiguous on the wire; labelled by the echo (see TlsInfo::resumption).
    assert_eq!(t.info().resumption.as_deref(), Some("session-id"));
    assert!(t.info().session_ticket_offered);
}

fn tls13_events(psk: bool) -> Vec<Ev> {
    vec![
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    tls13: true,
                    psk,
                    session_id: vec![5; 32],
                    ..Default::default()
                }),
            ),
        ),
        (
            S,
            cat(&[
                record(
                    22,
                    &server_hello(&ShOpts {
                        session_id: vec![5; 32],
                        version13: Some(0x0304),
                        psk,
                        ..Default::default()
                    }),
                ),
                record(20, &[1]),
                app(if psk { 60 } else { 2500 }),
                app(90),
            ]),
        ),
        (C, cat(&[record(20, &[1]), app(53)])),
        // NewSessionTicket x2, before any client application data.
        (S, cat(&[app(250), app(250)])),
        (C, app(120)),
        (S, app(3000)),
        (S, app(16401)),
        (C, app(130)),
        (S, app(700)),
        (C, app(19)), // close_notify
        (S, app(19)),
    ]
}

#[test]
fn tls13_full_handshake() {
    let t = run(&tls13_events(false));
    let i = t.info();
    assert_eq!(i.version.as_deref(), Some("1.3"));
    assert_eq!(i.versions_offered, vec!["1.3", "1.2"]);
    assert_eq!((i.handshakes, i.full_handshakes), (1, 1));
    assert!(!i.resumed && !i.certificate_seen);
    assert_eq!(i.alpn, None);
    assert_eq!(i.encrypted_handshake_records, [1, 2]);
    assert_eq!(i.handshake_done_time, Some(ts(2)));
    assert_eq!(i.exchanges, 2);
    assert_eq!(i.app_records, [3, 6]);
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}

#[test]
fn tls13_psk_resumption() {
    let t = run(&tls13_events(true));
    let i = t.info();
    assert!(i.resumed && i.psk_offered);
    assert_eq!(i.resumption.as_deref(), Some("psk"));
    assert_eq!(i.full_handshakes, 0);
    assert_eq!(i.exchanges, 2);
}

#[test]
fn tls13_nst_after_client_finished_then_sequential_requests() {
    // Client Finished and request in one segment; NST precedes the response.
    let mut ev = tls13_events(false)[..2].to_vec();
    ev.push((C, cat(&[record(20, &[1]), app(53), app(150)])));
    for _ in 0..5 {
        ev.push((S, app(250)));
        ev.push((S, app(2000)));
        ev.push((C, app(150)));
    }
    ev.push((S, app(2000)));
    let t = run(&ev);
    assert_eq!(t.info().exchanges, 6);
}

#[test]
fn hello_retry_request() {
    let ch = |_| {
        record(
            22,
            &client_hello(&ChOpts {
                tls13: true,
                ..Default::default()
            }),
        )
    };
    let t = run(&[
        (C, ch(0)),
        (
            S,
            cat(&[
                record(
                    22,
                    &server_hello(&ShOpts {
                        version13: Some(0x0304),
                        hrr: true,
                        ..Default::default()
                    }),
                ),
                record(20, &[1]),
            ]),
        ),
        (C, cat(&[record(20, &[1]), ch(1)])),
        (
            S,
            cat(&[
                record(
                    22,
                    &server_hello(&ShOpts {
                        version13: Some(0x0304),
                        ..Default::default()
                    }),
                ),
                app(3000),
            ]),
        ),
        (C, cat(&[app(53), app(100)])),
        (S, app(1000)),
    ]);
    let i = t.info();
    assert!(i.hello_retry);
    assert_eq!(
        (i.client_hellos, i.handshakes, i.full_handshakes),
        (2, 1, 1)
    );
    assert_eq!(i.version.as_deref(), Some("1.3"));
    assert_eq!(i.exchanges, 1);
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
}

#[test]
fn draft_versions() {
    assert_eq!(version_name(0x7f13), "1.3-draft19");
    assert_eq!(version_name(0x0300), "ssl3");
    assert_eq!(version_name(0x0301), "1.0");
    assert_eq!(version_name(0xfb17), "1.3-fb23");
    // Draft-19 ServerHello layout: version, random, cipher suite, extensions.
    let mut b = u16b(0x7f13).to_vec();
    b.extend([1; 32]);
    b.extend(u16b(0x1301));
    b.extend(vec16(&ext(41, &[0, 0])));
    let t = run(&[
        (
            C,
            record(
                22,
                &client_hello(&ChOpts {
                    tls13: true,
                    psk: true,
                    early_data: true,
                    ..Default::default()
                }),
            ),
        ),
        (C, app(100)), // 0-RTT request
        (S, cat(&[record(22, &handshake(2, &b)), app(80)])),
        (C, app(53)),
        (S, app(900)),
    ]);
    let i = t.info();
    assert_eq!(i.version.as_deref(), Some("1.3-draft19"));
    assert_eq!(i.resumption.as_deref(), Some("psk"));
    assert!(i.early_data);
    assert_eq!(i.early_data_records, 1);
    assert_eq!(i.exchanges, 1);
}

#[test]
fn client_hello_split_across_records_and_segments() {
    let msg = client_hello(&ChOpts {
        tls13: true,
        ticket: Some(vec![1; 100]),
        psk: true,
        ..Default::default()
    });
    for cut in [1, 4, 5, 60, msg.len() - 1] {
        let stream = cat(&[record(22, &msg[..cut]), record(22, &msg[cut..])]);
        for split in 0..=stream.len() {
            let mut t = TlsInspector::new();
            t.on_data(C, ts(0), &stream[..split]);
            t.on_data(C, ts(1), &stream[split..]);
            let i = t.info();
            assert_eq!(
                i.sni.as_deref(),
                Some("example.com"),
                "cut {cut} split {split}"
            );
            assert_eq!(i.alpn_offered, vec!["h2", "http/1.1"]);
            assert!(i.psk_offered && i.session_ticket_offered);
            assert_eq!(i.client_hellos, 1);
            assert!(t.warnings().is_empty());
        }
    }
}

#[test]
fn byte_by_byte_whole_connection() {
    let mut t = TlsInspector::new();
    for (n, (d, b)) in tls12_full().iter().enumerate() {
        for byte in b {
            t.on_data(*d, ts(n as i64), std::slice::from_ref(byte));
        }
    }
    let i = t.info();
    assert_eq!(
        (i.full_handshakes, i.exchanges, i.app_records),
        (1, 2, [2, 3])
    );
    assert!(i.certificate_seen);
    assert_eq!(i.alpn.as_deref(), Some("http/1.1"));
}

#[test]
fn gap_inside_app_data_keeps_sync() {
    let ev = tls12_full();
    let mut t = TlsInspector::new();
    for (n, (d, b)) in ev.iter().enumerate() {
        if n == 5 {
            // Server response: lose 1000 bytes in the middle of the record body.
            t.on_data(*d, ts(5), &b[..100]);
            t.on_gap(*d, ts(5), 1000);
            t.on_data(*d, ts(5), &b[1100..]);
        } else {
            t.on_data(*d, ts(n as i64), b);
        }
    }
    assert!(t.warnings().is_empty(), "{:?}", t.warnings());
    assert_eq!(t.info().exchanges, 2);
    assert_eq!(t.info().app_records, [2, 3]);
}

#[test]
fn gap_across_headers_resyncs() {
    let mut t = TlsInspector::new();
    for (n, (d, b)) in tls12_full().iter().take(5).enumerate() {
        t.on_data(*d, ts(n as i64), b);
    }
    // Server sends 3 records; the first header and part of the body are lost.
    let resp = cat(&[app(1400), app(1200), app(600)]);
    t.on_gap(S, ts(6), 3);
    t.on_data(S, ts(6), &resp[3..]);
    t.on_data(C, ts(7), &app(200));
    t.on_data(S, ts(8), &app(300));
    assert_eq!(t.warnings().len(), 1, "{:?}", t.warnings());
    // The 2nd and 3rd record were recovered, then one more exchange.
    assert_eq!(t.info().app_records[1], 3);
    assert_eq!(t.info().exchanges, 2);
}

#[test]
fn cleartext_alert() {
    let t = run(&[
        (C, record(22, &client_hello(&ChOpts::default()))),
        (S, record(21, &[2, 40])),
    ]);
    assert_eq!(t.info().alert.as_deref(), Some("fatal/handshake_failure"));
    assert_eq!(t.info().alert_from, Some(S));
}

#[test]
fn visible_renegotiation_counts_second_handshake() {
    let t = run(&[
        (C, record(22, &client_hello(&ChOpts::default()))),
        (S, record(22, &server_hello(&ShOpts::default()))),
        (S, record(22, &certificate())),
        (C, record(22, &client_hello(&ChOpts::default()))),
    ]);
    assert_eq!(
        (
            t.info().handshakes,
            t.info().client_hellos,
            t.info().full_handshakes
        ),
        (2, 2, 1)
    );
}

#[test]
fn serializes_snake_case() {
    let t = run(&tls12_full());
    let v = serde_json::to_value(t.info()).unwrap();
    assert_eq!(v["version"], "1.2");
    assert_eq!(v["app_records"], serde_json::json!([2, 3]));
    assert!(v["handshake_done_time"]
        .as_str()
        .unwrap()
        .starts_with("1970-01-01T"));
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

/// How to feed one event: cut points (any number, any order) and, per
/// piece, maybe a gap of some length after it.
type Feeding = (Vec<prop::sample::Index>, Vec<Option<u64>>);

fn feeding(with_gaps: bool) -> impl Strategy<Value = Feeding> {
    (
        prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        prop::collection::vec(prop::option::weighted(0.02, 0..3000u64), 13),
    )
        .prop_map(move |(cuts, gaps)| (cuts, if with_gaps { gaps } else { vec![None; 13] }))
}

fn feed(t: &mut TlsInspector, d: Direction, at: Timestamp, b: &[u8], (cuts, gaps): &Feeding) {
    let mut at_: Vec<usize> = cuts.iter().map(|c| c.index(b.len() + 1)).collect();
    at_.extend([0, b.len()]);
    at_.sort_unstable();
    for (k, w) in at_.windows(2).enumerate() {
        t.on_data(d, at, &b[w[0]..w[1]]);
        if let Some(n) = gaps[k] {
            t.on_gap(d, at, n);
        }
    }
}

/// Everything observable, for comparing two feeding strategies.
fn snapshot(t: &TlsInspector) -> String {
    serde_json::json!({ "info": t.info(), "warnings": t.warnings() }).to_string()
}

proptest! {
    #![proptest_config(cases(128))]

    /// Segmentation invariance: the records of a TLS 1.2 and a TLS 1.3
    /// connection cut into any pieces give exactly what whole events give.
    #[test]
    fn any_split_gives_the_same_result(
        tls13 in any::<bool>(),
        feedings in prop::collection::vec(feeding(false), 16),
    ) {
        let events = if tls13 { tls13_events(true) } else { tls12_full() };
        prop_assert!(events.len() <= feedings.len());
        let mut t = TlsInspector::new();
        for ((n, (d, b)), f) in events.iter().enumerate().zip(&feedings) {
            feed(&mut t, *d, ts(n as i64), b, f);
        }
        t.finish(ts(events.len() as i64));
        prop_assert_eq!(snapshot(&t), snapshot(&run(&events)));
    }

    #[test]
    fn random_bytes_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..5000),
        plausible in any::<bool>(),
        server in any::<bool>(),
        f in feeding(true),
    ) {
        if plausible && bytes.len() > 3 {
            // A plausible-looking header to reach deeper states.
            bytes[..3].copy_from_slice(&[22, 3, 3]);
        }
        let mut t = TlsInspector::new();
        feed(&mut t, if server { S } else { C }, ts(0), &bytes, &f);
        t.finish(ts(1));
        prop_assert!(t.warnings().len() <= MAX_WARNINGS + 1);
    }

    #[test]
    fn mutated_handshakes_never_panic(
        tls13 in any::<bool>(),
        edits in prop::collection::vec(
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            16,
        ),
        feedings in prop::collection::vec(feeding(true), 16),
    ) {
        let events = if tls13 { tls13_events(true) } else { tls12_full() };
        let mut t = TlsInspector::new();
        for (((d, b), e), f) in events.iter().zip(&edits).zip(&feedings) {
            let mut b = b.clone();
            for (p, v) in e.iter().take(if b.is_empty() { 0 } else { e.len() }) {
                let p = p.index(b.len());
                b[p] = *v;
            }
            feed(&mut t, *d, ts(0), &b, f);
        }
        t.finish(ts(1));
        prop_assert!(t.warnings().len() <= MAX_WARNINGS + 1);
    }
}

#[test]
fn server_records_before_client_data_start_no_exchange() {
    // TLS 1.2, server speaks first after the handshake (e.g. a banner), then 2 rounds.
    let mut ev = tls12_full()[..4].to_vec();
    ev.extend([
        (S, app(60)),
        (S, app(60)),
        (C, app(40)),
        (S, app(90)),
        (C, app(40)),
        (S, app(90)),
    ]);
    let t = run(&ev);
    assert_eq!(t.info().exchanges, 2);
    assert_eq!(t.info().app_records, [2, 4]);
}

#[test]
fn gap_inside_client_hello_then_resync() {
    let ch = record(22, &client_hello(&ChOpts::default()));
    let mut t = TlsInspector::new();
    t.on_data(C, ts(0), &ch[..50]);
    t.on_gap(C, ts(0), 20);
    t.on_data(C, ts(0), &ch[70..]);
    t.on_data(S, ts(1), &record(22, &server_hello(&ShOpts::default())));
    t.on_data(C, ts(2), &cat(&[app(100), app(100)]));
    t.on_data(S, ts(3), &app(500));
    let i = t.info();
    assert_eq!(i.client_hellos, 0);
    assert_eq!(i.version.as_deref(), Some("1.2"));
    assert_eq!(t.warnings().len(), 1, "{:?}", t.warnings());
    // The first record after the gap is confirmed by the second.
    assert_eq!(i.app_records, [2, 1]);
    assert_eq!(i.exchanges, 1);
}

// ---- decryption with a key log: a TLS 1.3 connection sealed field by field ----

mod decryption {
    use super::*;
    use crate::inspect::tls::crypto::{AeadAlg, HashAlg, RecordKey};
    use crate::inspect::AppInspector;
    use crate::tcp::StreamHandler;

    const CHTS: [u8; 32] = [1; 32];
    const SHTS: [u8; 32] = [2; 32];
    const CTS: [u8; 32] = [3; 32];
    const STS: [u8; 32] = [4; 32];

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn keys() -> Arc<KeyStore> {
        let cr: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7)).collect();
        let ks = KeyStore::new();
        let text = format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {cr} {}\n\
             CLIENT_TRAFFIC_SECRET_0 {cr} {}\nSERVER_TRAFFIC_SECRET_0 {cr} {}\n",
            hex(&CHTS),
            hex(&SHTS),
            hex(&CTS),
            hex(&STS),
            cr = hex(&cr)
        );
        assert_eq!(ks.add_text("test", text.as_bytes(), 1), 4);
        ks
    }

    /// Seals TLS 1.3 records: (inner content type, plaintext) with one key.
    struct Sealer {
        key: RecordKey,
        seq: u64,
    }

    impl Sealer {
        fn new(secret: &[u8]) -> Self {
            Sealer {
                key: RecordKey::tls13(AeadAlg::Aes128Gcm, HashAlg::Sha256, secret),
                seq: 0,
            }
        }
        fn seal(&mut self, ctype: u8, plain: &[u8]) -> Vec<u8> {
            let mut inner = plain.to_vec();
            inner.push(ctype);
            let len = (inner.len() + 16) as u16;
            let hdr = [23, 3, 3, (len >> 8) as u8, len as u8];
            let body = self.key.seal_at(self.seq, &hdr, &inner, [0; 8]);
            self.seq += 1;
            [hdr.to_vec(), body].concat()
        }
    }

    fn response(body_len: usize) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {body_len}\r\n\r\n").into_bytes();
        r.extend(std::iter::repeat_n(b'x', body_len));
        r
    }

    /// Client and server streams of one connection: two requests, the first
    /// answered by a 20 KB body in two records, a server KeyUpdate between them.
    /// Returns the four flights in order (client hello; server hello and
    /// encrypted handshake; client Finished and requests; server responses) and
    /// the offset/len of the 16 KB record in the last one.
    fn connection() -> ([Vec<u8>; 4], (usize, usize)) {
        let ch = record(
            22,
            &client_hello(&ChOpts {
                tls13: true,
                ..Default::default()
            }),
        );
        let sh = record(
            22,
            &server_hello(&ShOpts {
                version13: Some(0x0304),
                ..Default::default()
            }),
        );
        let (mut c_hs, mut s_hs) = (Sealer::new(&CHTS), Sealer::new(&SHTS));
        let (mut c_app, mut s_app) = (Sealer::new(&CTS), Sealer::new(&STS));
        let mut ee = ext(16, &vec16(&vec8(b"http/1.1")));
        ee = vec16(&ee);
        let server_hs = cat(&[
            sh,
            record(20, &[1]),
            s_hs.seal(22, &handshake(8, &ee)),
            s_hs.seal(22, &handshake(20, &[0x77; 32])),
        ]);
        let mut server = Vec::new();
        let client = cat(&[
            record(20, &[1]),
            c_hs.seal(22, &handshake(20, &[0x88; 32])),
            c_app.seal(23, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
            c_app.seal(23, b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ]);
        let r1 = response(20_000);
        server.extend(s_app.seal(23, &r1[..16_000]));
        let big_at = server.len();
        server.extend(s_app.seal(23, &r1[16_000..]));
        let big = (big_at, server.len() - big_at);
        // KeyUpdate (update_not_requested), then the next key.
        server.extend(s_app.seal(22, &handshake(24, &[0])));
        let next = crate::inspect::tls::crypto::hkdf_expand_label(
            HashAlg::Sha256,
            &STS,
            "traffic upd",
            &[],
            32,
        );
        let mut s_next = Sealer::new(&next);
        server.extend(s_next.seal(23, &response(5)));
        server.extend(s_next.seal(21, &[1, 0])); // close_notify
        ([ch, server_hs, client, server], big)
    }

    fn feed(a: &mut AppInspector, flights: &[Vec<u8>]) {
        for (i, f) in flights.iter().enumerate() {
            a.on_data(if i % 2 == 0 { C } else { S }, ts(i as i64), f);
        }
    }

    fn inspector() -> AppInspector {
        AppInspector::with_keys(Some(keys()))
    }

    #[test]
    fn tls13_byte_by_byte_with_key_update() {
        let (flights, _) = connection();
        let mut a = inspector();
        for (i, f) in flights.iter().enumerate() {
            let dir = if i % 2 == 0 { C } else { S };
            for (j, b) in f.iter().enumerate() {
                a.on_data(dir, ts((i * 100_000 + j) as i64), std::slice::from_ref(b));
            }
        }
        a.on_finish(ts(10_000_000));
        let h = a.http().expect("HTTP/1.x inside TLS");
        assert_eq!((h.requests(), h.responses()), (2, 2));
        assert_eq!(h.exchanges()[0].response.body_bytes, 20_000);
        let t = a.tls().unwrap().info();
        assert_eq!(t.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(
            t.alpn.as_deref(),
            Some("http/1.1"),
            "from EncryptedExtensions"
        );
        assert!(t.fully_decrypted());
        assert_eq!(t.key_updates, 1);
        assert_eq!(t.close_notify_decrypted, [false, true]);
        assert!(a.warnings().is_empty(), "{:?}", a.warnings());
    }

    #[test]
    fn record_cut_by_a_capture_gap_rest_still_decrypted() {
        let (flights, (at, len)) = connection();
        let s = &flights[3];
        let mut a = inspector();
        feed(&mut a, &flights[..3]);
        // The 4 KB record loses 1000 bytes in its middle.
        a.on_data(S, ts(1), &s[..at + 100]);
        a.on_gap(S, ts(2), 1000);
        a.on_data(S, ts(3), &s[at + 1100..]);
        a.on_finish(ts(4));
        let t = a.tls().unwrap().info();
        assert!(t.fully_decrypted(), "{t:?}");
        assert_eq!(t.key_updates, 1, "records after the gap still decrypted");
        assert!(t.close_notify_decrypted[1]);
        let h = a.http().unwrap();
        assert_eq!(h.requests(), 2);
        // The second response (after the KeyUpdate) was parsed.
        assert_eq!(h.exchanges()[1].status, Some(200));
        let w = a.warnings();
        assert!(
            w.iter()
                .any(|w| w.contains(&format!("inside a {}-byte TLS record", len - 5))),
            "{w:?}"
        );
    }

    #[test]
    fn damaged_record_is_skipped_not_garbage() {
        let (mut flights, (at, _)) = connection();
        flights[3][at + 50] ^= 0xff; // one damaged byte in the second response record
        let mut a = inspector();
        feed(&mut a, &flights);
        a.on_finish(ts(5));
        let t = a.tls().unwrap().info();
        assert_eq!(t.undecrypted_records[1], 1);
        assert!(t.decrypted.server, "later records still decrypted");
        assert_eq!(t.key_updates, 1);
        let w = a.warnings();
        assert!(
            w.iter().any(|w| w.contains("does not authenticate")),
            "{w:?}"
        );
    }

    #[test]
    fn without_handshake_secrets_the_application_key_is_found() {
        let (flights, _) = connection();
        let cr: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7)).collect();
        let ks = KeyStore::new();
        let text = format!(
            "CLIENT_TRAFFIC_SECRET_0 {cr} {}\nSERVER_TRAFFIC_SECRET_0 {cr} {}\n",
            hex(&CTS),
            hex(&STS),
            cr = hex(&cr)
        );
        ks.add_text("t", text.as_bytes(), 1);
        let mut a = AppInspector::with_keys(Some(ks));
        feed(&mut a, &flights);
        a.on_finish(ts(5));
        assert_eq!(a.http().unwrap().requests(), 2);
        assert!(a.tls().unwrap().info().fully_decrypted());
    }

    #[test]
    fn live_key_log_arrives_after_the_records() {
        let (flights, _) = connection();
        let s = &flights[3];
        let ks = KeyStore::new_growing();
        let mut a = AppInspector::with_keys(Some(ks.clone()));
        feed(&mut a, &flights[..3]);
        a.on_data(S, ts(3), &s[..s.len() / 2]);
        assert!(a.http().is_none(), "held back, nothing decrypted yet");
        let full = keys();
        let cr: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(7)).collect();
        let sec = full.get(&cr).unwrap();
        let line = |l: &str, s: &Option<Vec<u8>>| {
            format!("{l} {} {}\n", hex(&cr), hex(s.as_ref().unwrap()))
        };
        let text = line("CLIENT_HANDSHAKE_TRAFFIC_SECRET", &sec.client_handshake)
            + &line("SERVER_HANDSHAKE_TRAFFIC_SECRET", &sec.server_handshake)
            + &line("CLIENT_TRAFFIC_SECRET_0", &sec.client_traffic)
            + &line("SERVER_TRAFFIC_SECRET_0", &sec.server_traffic);
        ks.add_text("live", text.as_bytes(), 1);
        a.on_data(S, ts(2), &s[s.len() / 2..]);
        a.on_finish(ts(3));
        assert_eq!(a.http().unwrap().requests(), 2);
        assert_eq!(a.http().unwrap().responses(), 2);
        assert!(a.tls().unwrap().info().fully_decrypted());
    }

    #[test]
    fn unsupported_suite_is_named() {
        let ch = record(22, &client_hello(&ChOpts::default()));
        // TLS 1.2 ServerHello choosing a CBC suite.
        let mut sh = record(22, &server_hello(&ShOpts::default()));
        // suite sits after version(2) random(32) sid-len(1): header 5 + 4.
        let at = 5 + 4 + 2 + 32 + 1;
        sh[at..at + 2].copy_from_slice(&[0xc0, 0x13]);
        let mut a = inspector();
        a.on_data(C, ts(0), &ch);
        a.on_data(
            S,
            ts(1),
            &cat(&[sh, record(20, &[1]), record(22, &[0; 40])]),
        );
        a.on_data(
            C,
            ts(2),
            &cat(&[record(20, &[1]), record(22, &[0; 40]), app(100)]),
        );
        a.on_finish(ts(3));
        let t = a.tls().unwrap().info();
        assert_eq!(
            t.cipher.as_deref(),
            Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
        );
        assert_eq!(
            t.not_decrypted.as_deref(),
            Some("unsupported suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
        );
        assert!(a
            .warnings()
            .iter()
            .any(|w| w == "not decrypted: unsupported suite TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"));
    }

    #[test]
    fn garbage_records_after_good_ones_are_bounded() {
        let (mut flights, _) = connection();
        // Replace the close_notify with 40 records that never authenticate.
        let junk: Vec<u8> = (0..40).flat_map(|_| record(23, &[0x33; 2000])).collect();
        flights[3].extend(junk);
        let mut a = inspector();
        feed(&mut a, &flights);
        a.on_finish(ts(9));
        let t = a.tls().unwrap().info();
        assert_eq!(a.http().unwrap().requests(), 2);
        assert!(!t.decrypted.server, "given up: {t:?}");
        assert_eq!(
            t.not_decrypted.as_deref(),
            Some("server: key does not authenticate")
        );
        let w = a.warnings();
        assert!(
            w.iter().any(|w| w.contains("16 TLS records in a row")),
            "{w:?}"
        );
    }

    #[test]
    fn tls_inside_a_connect_tunnel_is_decrypted() {
        let (flights, _) = connection();
        let mut a = inspector();
        a.on_data(C, ts(0), b"CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n");
        a.on_data(S, ts(1), b"HTTP/1.1 200 Connection established\r\n\r\n");
        feed(&mut a, &flights);
        a.on_finish(ts(9));
        let layers: Vec<u32> = a.http_layers().map(|h| h.requests()).collect();
        assert_eq!(layers, [1, 2], "the CONNECT, then the two requests inside");
        assert!(a.tls().unwrap().info().fully_decrypted());
    }
}
