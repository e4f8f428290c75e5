//! The exchange list of a JSONL line, written by hand (issue 14).
//!
//! A request-dense connection carries ~1,400 exchanges of 31 fields each, and
//! through serde_json every field name is escaped byte by byte and every value
//! goes through the generic serializer: on the request-dense bench capture the
//! exchange list was half of a `--format jsonl` run. Here the field names are
//! constant byte strings and values are appended to the line buffer directly.
//!
//! The bytes are exactly serde_json's compact output for the same
//! [`Exchange`] (its `Serialize` impl stays the definition; the unit tests
//! compare the two on built exchanges, and `tests/output_identity.rs` on every
//! sample and corpus file). Only the compact form is written here: the pretty
//! `--format json` document keeps serde_json.

use std::cell::Cell;

use crate::inspect::http::inspector::{Exchange, KeepAliveParams, Message};
use crate::time::Timestamp;

thread_local! {
    /// Set while [`with_exchanges_elided`] runs: the record's exchange list
    /// serializes as `[]`, to be filled in by [`write_exchanges`].
    static ELIDE: Cell<bool> = const { Cell::new(false) };
}

/// `serialize_with` for `ConnectionRecord::exchanges`: the list, or `[]` while
/// a JSONL line is being written (the caller splices the list in).
pub fn serialize_exchanges<S: serde::Serializer>(v: &[Exchange], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    if ELIDE.with(Cell::get) {
        s.serialize_seq(Some(0))?.end()
    } else {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for e in v {
            seq.serialize_element(e)?;
        }
        seq.end()
    }
}

/// Runs `f` with every record's exchange list serialized as `[]`.
pub fn with_exchanges_elided<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ELIDE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(ELIDE.with(|c| c.replace(true)));
    f()
}

/// Writes `[` exchange `,` ... `]` as serde_json's compact form.
pub fn write_exchanges(out: &mut Vec<u8>, v: &[Exchange]) {
    out.push(b'[');
    for (i, e) in v.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_exchange(out, e);
    }
    out.push(b']');
}

/// One exchange: the fields and order of `impl Serialize for Exchange`.
pub fn write_exchange(o: &mut Vec<u8>, e: &Exchange) {
    let (q, r) = (&e.request, &e.response);
    o.extend_from_slice(b"{\"method\":");
    opt_str(o, e.method.as_deref());
    o.extend_from_slice(b",\"target\":");
    opt_str(o, e.target.as_deref());
    o.extend_from_slice(b",\"host\":");
    opt_str(o, e.host.as_deref());
    o.extend_from_slice(b",\"request_version\":");
    opt_str(o, q.version.map(|v| v.as_str()));
    o.extend_from_slice(b",\"response_version\":");
    opt_str(o, r.version.map(|v| v.as_str()));
    o.extend_from_slice(b",\"status\":");
    opt_u64(o, e.status.map(u64::from));
    o.extend_from_slice(b",\"reason\":");
    opt_str(o, e.reason.as_deref());
    o.extend_from_slice(b",\"interim_statuses\":[");
    for (i, s) in e.interim_statuses.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        u64_(o, u64::from(*s));
    }
    o.push(b']');
    o.extend_from_slice(b",\"request_time\":");
    opt_ts(o, q.time);
    o.extend_from_slice(b",\"request_end\":");
    opt_ts(o, q.end);
    o.extend_from_slice(b",\"response_time\":");
    opt_ts(o, r.time);
    o.extend_from_slice(b",\"response_end\":");
    opt_ts(o, r.end);
    o.extend_from_slice(b",\"request_body_bytes\":");
    u64_(o, q.body_bytes);
    o.extend_from_slice(b",\"response_body_bytes\":");
    u64_(o, r.body_bytes);
    o.extend_from_slice(b",\"response_wire_bytes\":");
    u64_(o, e.response_wire_bytes);
    message_headers(o, q, r);
    o.extend_from_slice(b",\"keep_alive\":");
    keep_alive(o, e.keep_alive.as_ref());
    o.extend_from_slice(b",\"transfer_encoding\":");
    opt_str(o, e.transfer_encoding.as_deref());
    o.extend_from_slice(b",\"content_encoding\":");
    opt_str(o, e.content_encoding.as_deref());
    o.extend_from_slice(b",\"framing\":");
    opt_str(o, r.framing.map(|f| f.as_str()));
    o.extend_from_slice(b",\"request_framing\":");
    opt_str(o, q.framing.map(|f| f.as_str()));
    o.extend_from_slice(b",\"upgrade\":");
    opt_str(o, e.upgrade.as_deref());
    o.extend_from_slice(b",\"expect\":");
    opt_str(o, e.expect.as_deref());
    o.extend_from_slice(b",\"request_complete\":");
    bool_(o, q.complete);
    o.extend_from_slice(b",\"response_complete\":");
    bool_(o, r.complete);
    o.extend_from_slice(b",\"pipelined\":");
    bool_(o, e.pipelined);
    o.extend_from_slice(b",\"request_gap_bytes\":");
    u64_(o, q.gap_bytes);
    o.extend_from_slice(b",\"response_gap_bytes\":");
    u64_(o, r.gap_bytes);
    o.push(b'}');
}

/// `request_connection` .. `response_keep_alive`: the two messages' raw headers.
fn message_headers(o: &mut Vec<u8>, q: &Message, r: &Message) {
    o.extend_from_slice(b",\"request_connection\":");
    opt_str(o, q.connection.as_deref());
    o.extend_from_slice(b",\"response_connection\":");
    opt_str(o, r.connection.as_deref());
    o.extend_from_slice(b",\"request_keep_alive\":");
    opt_str(o, q.keep_alive.as_deref());
    o.extend_from_slice(b",\"response_keep_alive\":");
    opt_str(o, r.keep_alive.as_deref());
}

fn keep_alive(o: &mut Vec<u8>, k: Option<&KeepAliveParams>) {
    match k {
        None => o.extend_from_slice(b"null"),
        Some(k) => {
            o.extend_from_slice(b"{\"timeout\":");
            opt_u64(o, k.timeout);
            o.extend_from_slice(b",\"max\":");
            opt_u64(o, k.max);
            o.push(b'}');
        }
    }
}

fn bool_(o: &mut Vec<u8>, b: bool) {
    o.extend_from_slice(if b { b"true" } else { b"false" });
}

fn u64_(o: &mut Vec<u8>, n: u64) {
    o.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn opt_u64(o: &mut Vec<u8>, n: Option<u64>) {
    match n {
        Some(n) => u64_(o, n),
        None => o.extend_from_slice(b"null"),
    }
}

fn opt_ts(o: &mut Vec<u8>, t: Option<Timestamp>) {
    match t {
        Some(t) => {
            let mut buf = [0u8; 40];
            let n = t.write_rfc3339(&mut buf);
            // Digits and separators only, as `impl Serialize for Timestamp`
            // writes them: nothing to escape.
            o.push(b'"');
            o.extend_from_slice(&buf[..n]);
            o.push(b'"');
        }
        None => o.extend_from_slice(b"null"),
    }
}

fn opt_str(o: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => str_(o, s),
        None => o.extend_from_slice(b"null"),
    }
}

/// A JSON string as serde_json escapes it: `"`, `\` and the C0 controls
/// (`\b \t \n \f \r` by name, the others as `\u00xx`, lowercase hex);
/// everything else, DEL and non-ASCII included, as it is.
pub fn str_(o: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    o.reserve(b.len() + 2);
    o.push(b'"');
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        o.extend_from_slice(&b[start..i]);
        match c {
            b'"' => o.extend_from_slice(b"\\\""),
            b'\\' => o.extend_from_slice(b"\\\\"),
            0x08 => o.extend_from_slice(b"\\b"),
            b'\t' => o.extend_from_slice(b"\\t"),
            b'\n' => o.extend_from_slice(b"\\n"),
            0x0c => o.extend_from_slice(b"\\f"),
            b'\r' => o.extend_from_slice(b"\\r"),
            _ => o.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(c >> 4)],
                HEX[usize::from(c & 0xf)],
            ]),
        }
        start = i + 1;
    }
    o.extend_from_slice(&b[start..]);
    o.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::http::inspector::Framing;
    use crate::inspect::http::parser::HttpVersion;
    use compact_str::CompactString;
    use proptest::prelude::*;

    fn serde(e: &Exchange) -> Vec<u8> {
        serde_json::to_vec(e).unwrap()
    }

    fn mine(e: &Exchange) -> Vec<u8> {
        let mut o = Vec::new();
        write_exchange(&mut o, e);
        o
    }

    #[test]
    fn empty_exchange_matches_serde_json() {
        let e = Exchange::default();
        assert_eq!(
            String::from_utf8(mine(&e)).unwrap(),
            String::from_utf8(serde(&e)).unwrap()
        );
    }

    #[test]
    fn full_exchange_matches_serde_json() {
        let t = |s| Some(Timestamp::from_secs_frac(s, 123_456_789, 1_000_000_000));
        let e = Exchange {
            method: Some("GET".into()),
            target: Some("/a\"b\\c\u{1}\u{7f}é\n".into()),
            host: Some("h:8080".into()),
            status: Some(200),
            reason: Some("OK\t\r\u{8}\u{c}".into()),
            interim_statuses: vec![100, 103],
            request: Message {
                version: Some(HttpVersion::Http11),
                time: t(1_700_000_000),
                end: t(1_700_000_001),
                body_bytes: 7,
                connection: Some("keep-alive".into()),
                keep_alive: Some("timeout=5".into()),
                framing: Some(Framing::ContentLength),
                complete: true,
                gap_bytes: 3,
            },
            response: Message {
                version: Some(HttpVersion::Http10),
                time: Some(Timestamp::from_secs_frac(1_700_000_002, 5, 1_000_000)),
                end: None,
                body_bytes: u64::MAX,
                connection: Some("close".into()),
                keep_alive: None,
                framing: Some(Framing::Chunked),
                complete: false,
                gap_bytes: 0,
            },
            response_wire_bytes: 12345,
            keep_alive: Some(KeepAliveParams {
                timeout: Some(5),
                max: None,
            }),
            transfer_encoding: Some("gzip, chunked".into()),
            content_encoding: Some("br".into()),
            upgrade: Some("websocket".into()),
            expect: Some("100-continue".into()),
            pipelined: true,
            outstanding: false,
        };
        assert_eq!(
            String::from_utf8(mine(&e)).unwrap(),
            String::from_utf8(serde(&e)).unwrap()
        );
        let mut list = Vec::new();
        write_exchanges(&mut list, &[e.clone(), Exchange::default(), e.clone()]);
        assert_eq!(
            list,
            serde_json::to_vec(&[e.clone(), Exchange::default(), e]).unwrap()
        );
    }

    #[test]
    fn elided_list_serializes_empty_only_inside_the_guard() {
        #[derive(serde::Serialize)]
        struct R<'a> {
            #[serde(serialize_with = "serialize_exchanges")]
            exchanges: &'a [Exchange],
        }
        let v = [Exchange::default()];
        let r = R { exchanges: &v };
        let inside = with_exchanges_elided(|| serde_json::to_string(&r).unwrap());
        assert_eq!(inside, r#"{"exchanges":[]}"#);
        let after = serde_json::to_string(&r).unwrap();
        assert!(after.len() > 100 && after.starts_with(r#"{"exchanges":[{"method":null"#));
    }

    proptest! {
        #[test]
        fn any_string_escapes_as_serde_json_does(s in any::<String>(), bytes in proptest::collection::vec(0u8..0x80, 0..40)) {
            let ascii = String::from_utf8(bytes).unwrap();
            for v in [s.as_str(), ascii.as_str()] {
                let mut o = Vec::new();
                str_(&mut o, v);
                prop_assert_eq!(o, serde_json::to_vec(v).unwrap());
            }
            let e = Exchange { target: Some(CompactString::from(s.as_str())), reason: Some(ascii.as_str().into()), ..Exchange::default() };
            prop_assert_eq!(mine(&e), serde(&e));
        }
    }
}
