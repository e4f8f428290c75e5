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

use crate::inspect::http::inspector::{Exchange, KeepAliveParams};
use crate::time::Timestamp;
use crate::Direction;

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
    Out::compact(out).exchanges(v);
}

/// Writes the list as serde_json's pretty form (two spaces per level) for a
/// value whose key line is indented `depth` levels.
pub fn write_exchanges_pretty(out: &mut Vec<u8>, v: &[Exchange], depth: usize) {
    let mut o = Out {
        o: out,
        pretty: true,
        depth: 0,
        nl: NL.to_vec(),
        nl_len: 1,
    };
    o.set_depth(depth);
    o.exchanges(v);
}

/// One exchange, compact: the fields and order of `impl Serialize for Exchange`.
pub fn write_exchange(o: &mut Vec<u8>, e: &Exchange) {
    Out::compact(o).exchange(e);
}

/// `,"name":` as a byte string constant (the separator of every key but
/// an object's first).
macro_rules! k {
    ($name:literal) => {
        concat!(",\"", $name, "\":").as_bytes()
    };
}

/// The output buffer and, for the pretty form, the current nesting depth
/// (serde_json's `PrettyFormatter`: a newline and the indent before every
/// element and key, `": "` after a key, `[]`/`{}` when empty).
struct Out<'a> {
    o: &'a mut Vec<u8>,
    pretty: bool,
    depth: usize,
    /// Pretty form: a line break and the indent of `depth` (its first
    /// `nl_len` bytes), kept in step, padded with spaces to at least
    /// [`NL`]'s length.
    nl: Vec<u8>,
    nl_len: usize,
}

/// A line break and spaces: the shortest `Out::nl`, copied whole (a
/// constant length, no `memcpy` call) and cut to the indent.
const NL: &[u8; 16] = b"\n               ";

impl Out<'_> {
    fn compact(o: &mut Vec<u8>) -> Out<'_> {
        Out {
            o,
            pretty: false,
            depth: 0,
            nl: Vec::new(),
            nl_len: 0,
        }
    }

    fn set_depth(&mut self, depth: usize) {
        self.depth = depth;
        if self.pretty {
            self.nl_len = 1 + 2 * depth;
            if self.nl.len() < self.nl_len {
                self.nl.resize(self.nl_len, b' ');
            }
        }
    }

    /// Pretty form: the line break and indent.
    #[inline(always)]
    fn newline(&mut self) {
        let at = self.o.len();
        if let Some(nl) = self.nl.first_chunk::<16>() {
            if self.nl_len <= nl.len() {
                self.o.extend_from_slice(nl);
                self.o.truncate(at + self.nl_len);
                return;
            }
        }
        self.o.extend_from_slice(&self.nl[..self.nl_len]);
    }

    /// Before an element or key: the separator, and in the pretty form the
    /// line break and indent.
    #[inline(always)]
    fn item(&mut self, first: bool) {
        if !first {
            self.o.push(b',');
        }
        if self.pretty {
            self.newline();
        }
    }

    fn open(&mut self, c: u8) {
        self.o.push(c);
        self.set_depth(self.depth + 1);
    }

    /// Closes a non-empty array or object.
    fn close(&mut self, c: u8) {
        self.set_depth(self.depth - 1);
        if self.pretty {
            self.newline();
        }
        self.o.push(c);
    }

    /// A key, given as `,"name":` (`k!`); pretty: `"name": ` after the
    /// separator and the line break. One copy of a constant per key in the
    /// compact form (a JSONL line has ~45,000), separator included.
    // Inlined so that each constant's length is known where it is copied
    // (a few stores instead of a `memcpy` call): -7 % of a JSONL run.
    #[inline(always)]
    fn key(&mut self, first: bool, comma_name_colon: &'static [u8]) {
        if self.pretty {
            self.item(first);
            self.o.extend_from_slice(&comma_name_colon[1..]);
            self.o.push(b' ');
        } else if first {
            self.o.extend_from_slice(&comma_name_colon[1..]);
        } else {
            self.o.extend_from_slice(comma_name_colon);
        }
    }

    fn exchanges(&mut self, v: &[Exchange]) {
        if v.is_empty() {
            self.o.extend_from_slice(b"[]");
            return;
        }
        self.open(b'[');
        for (i, e) in v.iter().enumerate() {
            self.item(i == 0);
            self.exchange(e);
        }
        self.close(b']');
    }

    fn exchange(&mut self, e: &Exchange) {
        let (q, r, x) = (&e.request, &e.response, e.rare());
        // Most exchanges fit: one capacity check instead of one per push.
        self.o.reserve(if self.pretty { 1536 } else { 1024 });
        self.open(b'{');
        self.key(true, k!("method"));
        opt_str(self.o, e.method());
        self.key(false, k!("target"));
        opt_str(self.o, e.target.as_deref());
        self.key(false, k!("host"));
        opt_str(self.o, e.host.as_deref());
        self.key(false, k!("request_version"));
        opt_str(self.o, q.version.map(|v| v.as_str()));
        self.key(false, k!("response_version"));
        opt_str(self.o, r.version.map(|v| v.as_str()));
        self.key(false, k!("status"));
        opt_u64(self.o, e.status.map(u64::from));
        self.key(false, k!("reason"));
        opt_str(self.o, e.reason());
        self.key(false, k!("interim_statuses"));
        self.statuses(&x.interim_statuses);
        self.key(false, k!("request_time"));
        opt_ts(self.o, q.time());
        self.key(false, k!("request_end"));
        opt_ts(self.o, q.end());
        self.key(false, k!("response_time"));
        opt_ts(self.o, r.time());
        self.key(false, k!("response_end"));
        opt_ts(self.o, r.end());
        self.key(false, k!("request_body_bytes"));
        u64_(self.o, q.body_bytes);
        self.key(false, k!("response_body_bytes"));
        u64_(self.o, r.body_bytes);
        self.key(false, k!("response_wire_bytes"));
        u64_(self.o, e.response_wire_bytes);
        self.message_headers(e);
        self.key(false, k!("keep_alive"));
        self.keep_alive(e.keep_alive().as_ref());
        self.key(false, k!("transfer_encoding"));
        opt_str(self.o, x.transfer_encoding.as_deref());
        self.key(false, k!("content_encoding"));
        opt_str(self.o, x.content_encoding.as_deref());
        self.key(false, k!("framing"));
        opt_str(self.o, r.framing.map(|f| f.as_str()));
        self.key(false, k!("request_framing"));
        opt_str(self.o, q.framing.map(|f| f.as_str()));
        self.key(false, k!("upgrade"));
        opt_str(self.o, x.upgrade.as_deref());
        self.key(false, k!("expect"));
        opt_str(self.o, x.expect.as_deref());
        self.key(false, k!("request_complete"));
        bool_(self.o, q.complete);
        self.key(false, k!("response_complete"));
        bool_(self.o, r.complete);
        self.key(false, k!("pipelined"));
        bool_(self.o, e.pipelined);
        self.key(false, k!("request_gap_bytes"));
        u64_(self.o, x.gap_bytes[0]);
        self.key(false, k!("response_gap_bytes"));
        u64_(self.o, x.gap_bytes[1]);
        self.close(b'}');
    }

    fn statuses(&mut self, v: &[u16]) {
        if v.is_empty() {
            self.o.extend_from_slice(b"[]");
            return;
        }
        self.open(b'[');
        for (i, s) in v.iter().enumerate() {
            self.item(i == 0);
            u64_(self.o, u64::from(*s));
        }
        self.close(b']');
    }

    /// `request_connection` .. `response_keep_alive`: the two messages' raw headers.
    fn message_headers(&mut self, e: &Exchange) {
        let (q, r) = (&e.request, &e.response);
        self.key(false, k!("request_connection"));
        opt_str(self.o, e.connection(Direction::ClientToServer));
        self.key(false, k!("response_connection"));
        opt_str(self.o, e.connection(Direction::ServerToClient));
        self.key(false, k!("request_keep_alive"));
        opt_str(self.o, q.keep_alive.as_deref());
        self.key(false, k!("response_keep_alive"));
        opt_str(self.o, r.keep_alive.as_deref());
    }

    fn keep_alive(&mut self, k: Option<&KeepAliveParams>) {
        let Some(k) = k else {
            self.o.extend_from_slice(b"null");
            return;
        };
        self.open(b'{');
        self.key(true, k!("timeout"));
        opt_u64(self.o, k.timeout);
        self.key(false, k!("max"));
        opt_u64(self.o, k.max);
        self.close(b'}');
    }
}

// The values below are copied with a constant length, then the surplus
// cut off: a few stores instead of a `memcpy` call for each of the ~30
// values of an exchange (issue 14).

fn bool_(o: &mut Vec<u8>, b: bool) {
    o.extend_from_slice(if b { b"true " } else { b"false" });
    o.truncate(o.len() - usize::from(b));
}

fn u64_(o: &mut Vec<u8>, n: u64) {
    // Room for the most digits (20), the digits written in place. (Digits
    // built apart and copied in were read back with wide loads over the
    // byte stores just made: a store-forwarding stall per number.)
    let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
    let at = o.len();
    o.extend_from_slice(&[0; 20]);
    let mut v = n;
    for d in o[at..at + len].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    o.truncate(at + len);
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
            // Written in place, in room for the longest form, then cut
            // (see `u64_`). Digits and separators only, as `impl Serialize
            // for Timestamp` writes them: nothing to escape.
            o.push(b'"');
            let at = o.len();
            o.extend_from_slice(&[0; 40]);
            if let Some(buf) = o[at..].first_chunk_mut::<40>() {
                let n = t.write_rfc3339(buf);
                o.truncate(at + n);
            }
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

/// Some byte of `x` is `"`, `\` or below 0x20 (SWAR: a byte's high bit
/// is set in the result where it is zero after the xor or the subtraction).
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_0x20 = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    (zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) | below_0x20) != 0
}

/// A JSON string as serde_json escapes it: `"`, `\` and the C0 controls
/// (`\b \t \n \f \r` by name, the others as `\u00xx`, lowercase hex);
/// everything else, DEL and non-ASCII included, as it is.
pub fn str_(o: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = s.as_bytes();
    let n = b.len();
    o.reserve(n + 2);
    o.push(b'"');
    // Eight bytes at a time while none needs escaping, each copied with a
    // constant length; a last partial word as the last eight bytes again
    // (overlapping what is written). The strings here are short: a target,
    // a Host, a version, a reason.
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut i = 0;
    if n >= 8 {
        let at = o.len();
        while i + 8 <= n {
            let x = word(i);
            if needs_escape(x) {
                break;
            }
            o.extend_from_slice(&x.to_le_bytes());
            i += 8;
        }
        if i < n && i + 8 > n {
            let x = word(n - 8);
            if !needs_escape(x) {
                o.truncate(at + n - 8);
                o.extend_from_slice(&x.to_le_bytes());
                i = n;
            }
        }
    }
    // Then a byte at a time (room was reserved: each push is a store).
    while i < n {
        let c = b[i];
        i += 1;
        if c >= 0x20 && c != b'"' && c != b'\\' {
            o.push(c);
            continue;
        }
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
    }
    o.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::http::inspector::{Framing, Message};
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
        let t = |s| Timestamp::from_secs_frac(s, 123_456_789, 1_000_000_000);
        let mut e = Exchange {
            target: Some("/a\"b\\c\u{1}\u{7f}é\n".into()),
            host: Some("h:8080".into()),
            status: Some(200),
            request: Message {
                version: Some(HttpVersion::Http11),
                body_bytes: 7,
                keep_alive: Some("timeout=5".into()),
                framing: Some(Framing::ContentLength),
                complete: true,
                ..Message::default()
            },
            response: Message {
                version: Some(HttpVersion::Http10),
                body_bytes: u64::MAX,
                keep_alive: Some("timeout=5, max=x".into()),
                framing: Some(Framing::Chunked),
                complete: false,
                ..Message::default()
            },
            response_wire_bytes: 12345,
            pipelined: true,
            outstanding: false,
            ..Exchange::default()
        };
        e.set_method(b"GET");
        e.set_reason("OK\t\r\u{8}\u{c}".as_bytes());
        e.set_connection(Direction::ClientToServer, Some("keep-alive".into()));
        e.set_connection(Direction::ServerToClient, Some("close, x".into()));
        e.request.set_time(t(1_700_000_000));
        e.request.set_end(t(1_700_000_001));
        e.response
            .set_time(Timestamp::from_secs_frac(1_700_000_002, 5, 1_000_000));
        let x = e.rare_mut();
        x.interim_statuses = vec![100, 103];
        x.gap_bytes = [3, 0];
        x.transfer_encoding = Some("gzip, chunked".into());
        x.content_encoding = Some("br".into());
        x.upgrade = Some("websocket".into());
        x.expect = Some("100-continue".into());
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
    fn pretty_list_matches_serde_json_at_any_depth() {
        let mut e = Exchange::default();
        e.set_method(b"POST");
        e.rare_mut().interim_statuses = vec![100];
        e.response.keep_alive = Some("max=9".into());
        e.request
            .set_time(Timestamp::from_secs_frac(1_700_000_000, 1, 1_000_000));
        let v = [e, Exchange::default()];
        let serde = String::from_utf8(serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        for depth in [0, 1, 3] {
            let mut o = Vec::new();
            write_exchanges_pretty(&mut o, &v, depth);
            let want = serde.replace('\n', &format!("\n{}", "  ".repeat(depth)));
            assert_eq!(String::from_utf8(o).unwrap(), want, "depth {depth}");
        }
        let mut o = Vec::new();
        write_exchanges_pretty(&mut o, &[], 2);
        assert_eq!(o, b"[]");
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
            let mut e = Exchange { target: Some(CompactString::from(s.as_str())), ..Exchange::default() };
            e.set_reason(ascii.as_bytes());
            prop_assert_eq!(mine(&e), serde(&e));
        }
    }
}
