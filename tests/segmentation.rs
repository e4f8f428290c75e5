//! Segmentation invariance of the HTTP/2 inspector through its public API:
//! an h2c connection (preface, SETTINGS, HEADERS with CONTINUATION, padded
//! and prioritised frames, interleaved DATA, RST_STREAM, PING, GOAWAY) cut
//! into any pieces gives exactly what whole frames give. The HTTP/1 and TLS
//! inspectors have the same property tests beside their code.

mod common;

use common::build::h2_frame as frame;
use keepwatch::inspect::h2::{H2Inspector, PREFACE};
use keepwatch::Direction::{self, ClientToServer as C, ServerToClient as S};
use keepwatch::Timestamp;
use proptest::prelude::*;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// A request header block from HPACK's static table: GET, http, /,
/// then `:authority: example.io` as a literal.
const REQUEST: &[u8] = b"\x82\x86\x84\x41\x0aexample.io";
/// `:status: 200`, `:status: 404` (static table).
const OK: &[u8] = b"\x88";
const NOT_FOUND: &[u8] = b"\x8d";

/// The connection as events in capture order (direction, bytes).
fn connection() -> Vec<(Direction, Vec<u8>)> {
    let mut padded = vec![3u8];
    padded.extend_from_slice(&[0x61; 200]);
    padded.extend_from_slice(&[0; 3]);
    let mut prio = vec![0, 0, 0, 0, 15];
    prio.extend_from_slice(REQUEST);
    vec![
        (
            C,
            [
                PREFACE.to_vec(),
                frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]),
                frame(WINDOW_UPDATE, 0, 0, &[0, 0xf, 0, 1]),
                frame(HEADERS, END_STREAM | END_HEADERS, 1, REQUEST),
            ]
            .concat(),
        ),
        (
            S,
            [
                frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 128]),
                frame(SETTINGS, ACK, 0, &[]),
            ]
            .concat(),
        ),
        (
            C,
            [
                frame(SETTINGS, ACK, 0, &[]),
                frame(HEADERS, PRIORITY, 3, &prio),
                frame(CONTINUATION, END_HEADERS, 3, b"\x7a\x00"),
                frame(DATA, PADDED | END_STREAM, 3, &padded),
                frame(HEADERS, END_STREAM | END_HEADERS, 5, REQUEST),
                frame(PING, 0, 0, &[7; 8]),
            ]
            .concat(),
        ),
        (
            S,
            [
                frame(HEADERS, END_HEADERS, 1, OK),
                frame(DATA, 0, 1, &[0x62; 700]),
                frame(PING, ACK, 0, &[7; 8]),
                frame(HEADERS, END_STREAM | END_HEADERS, 5, NOT_FOUND),
                frame(DATA, END_STREAM, 1, &[0x62; 300]),
                frame(HEADERS, END_HEADERS, 3, OK),
            ]
            .concat(),
        ),
        (C, frame(RST_STREAM, 0, 3, &[0, 0, 0, 8])),
        (S, frame(GOAWAY, 0, 0, &[0, 0, 0, 5, 0, 0, 0, 0])),
    ]
}

fn ts(n: usize) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + n as i64 * 1_000_000)
}

/// Everything observable, for comparing two feeding strategies.
fn snapshot(h: &H2Inspector) -> String {
    serde_json::json!({
        "info": h.info(),
        "exchanges": h.exchanges(),
        "omitted": h.exchanges_omitted(),
        "warnings": h.warnings(),
    })
    .to_string()
}

fn whole() -> H2Inspector {
    let mut h = H2Inspector::new();
    for (n, (d, b)) in connection().iter().enumerate() {
        h.on_data(*d, ts(n), b);
    }
    h.finish(ts(99));
    h
}

#[test]
fn the_connection_reads_cleanly() {
    let h = whole();
    let i = h.info();
    assert!(i.preface_seen);
    assert_eq!((i.streams, i.responses, i.rst_streams), (3, 3, 1));
    assert_eq!(i.data_bytes, [204, 1000]);
    assert!(i.goaway);
    assert!(h.warnings().is_empty(), "{:?}", h.warnings());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_split_gives_the_same_result(
        cuts in prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..16), 6),
    ) {
        let events = connection();
        prop_assert_eq!(events.len(), cuts.len());
        let mut h = H2Inspector::new();
        for ((n, (d, b)), c) in events.iter().enumerate().zip(&cuts) {
            let mut at: Vec<usize> = c.iter().map(|i| i.index(b.len() + 1)).collect();
            at.extend([0, b.len()]);
            at.sort_unstable();
            for w in at.windows(2) {
                h.on_data(*d, ts(n), &b[w[0]..w[1]]);
            }
        }
        h.finish(ts(99));
        prop_assert_eq!(snapshot(&h), snapshot(&whole()));
    }
}
