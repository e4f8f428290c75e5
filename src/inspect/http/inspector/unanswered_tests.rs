//! A direction that never gets an answer keeps counters, not a record per
//! request, past the bound (issue 11, compare Zeek issue 1705).

use super::*;
use crate::inspect::http::log::{KEEP_HEAD, KEEP_TAIL, UNANSWERED_KEPT};
use crate::Direction::{ClientToServer as C, ServerToClient as S};

fn t(n: i64) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000 + n * 1_000)
}

fn req(method: &str, n: usize) -> Vec<u8> {
    format!("{method} /r{n} HTTP/1.1\r\nHost: example.com\r\n\r\n").into_bytes()
}

/// A response announcing a body of 5 bytes; the body is sent unless the
/// request was a HEAD (RFC 9110 §9.3.2: the length is that of a GET).
fn resp(head: bool) -> Vec<u8> {
    let mut v = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec();
    if !head {
        v.extend_from_slice(b"hello");
    }
    v
}

const N: usize = 20_000;

fn is_head(i: usize) -> bool {
    // A run of HEADs in the middle that will be dropped, and a few scattered.
    (7000..7100).contains(&i) || i.is_multiple_of(997)
}

#[test]
fn unanswered_pipeline_is_bounded_and_counted() {
    let mut h = HttpInspector::new();
    for i in 0..N {
        let m = if is_head(i) { "HEAD" } else { "GET" };
        h.on_data(C, t(i as i64), &req(m, i));
    }
    assert_eq!(h.requests(), N as u32);
    assert_eq!(h.max_pipeline_depth(), N as u32);
    assert!(
        h.exchanges().len() <= KEEP_HEAD + 2 * KEEP_TAIL + UNANSWERED_KEPT,
        "kept {} exchanges",
        h.exchanges().len()
    );
    assert!(h.exchanges_omitted_unanswered() >= N - UNANSWERED_KEPT - KEEP_TAIL);
    assert_eq!(h.exchanges().len() + h.exchanges_omitted(), N);
    // The first and the most recent requests keep their details.
    assert_eq!(h.exchanges()[0].target.as_deref(), Some("/r0"));
    let last = h.exchanges().last().unwrap();
    assert_eq!(
        last.target.as_deref(),
        Some(format!("/r{}", N - 1).as_str())
    );
    assert!(h.pending.runs() <= 2, "pending is stored as ranges");
}

#[test]
fn late_responses_still_match_dropped_requests_and_heads_stay_bodyless() {
    let mut h = HttpInspector::new();
    for i in 0..N {
        let m = if is_head(i) { "HEAD" } else { "GET" };
        h.on_data(C, t(i as i64), &req(m, i));
    }
    let dropped = h.exchanges_omitted_unanswered();
    assert!(dropped > 0);
    for i in 0..N {
        h.on_data(S, t((N + i) as i64), &resp(is_head(i)));
    }
    h.finish(t(3 * N as i64));
    assert_eq!(h.responses(), N as u32);
    // Had a dropped HEAD been taken for a GET, its response would have eaten
    // the next head as body and the stream would have lost sync.
    assert!(
        h.warnings().is_empty(),
        "warnings: {:?}",
        &h.warnings()[..h.warnings().len().min(5)]
    );
    assert_eq!(h.exchanges().len() + h.exchanges_omitted(), N);
    let last = h.exchanges().last().unwrap();
    assert_eq!(last.status, Some(200));
    assert_eq!(
        last.target.as_deref(),
        Some(format!("/r{}", N - 1).as_str())
    );
}

#[test]
fn never_answered_is_one_warning_for_the_dropped_ones() {
    let mut h = HttpInspector::new();
    for i in 0..N {
        h.on_data(C, t(i as i64), &req("GET", i));
    }
    h.finish(t(N as i64));
    let dropped = h.exchanges_omitted_unanswered();
    let w = h.warnings();
    assert!(
        w.iter()
            .any(|m| m.starts_with(&format!("{dropped} more requests were never answered"))),
        "{:?}",
        &w[..w.len().min(3)]
    );
}

#[test]
fn answered_pipelines_are_unchanged_under_the_bound() {
    let mut h = HttpInspector::new();
    for i in 0..UNANSWERED_KEPT {
        h.on_data(C, t(i as i64), &req("GET", i));
    }
    assert_eq!(h.exchanges_omitted_unanswered(), 0);
    assert_eq!(h.exchanges().len(), UNANSWERED_KEPT);
}
