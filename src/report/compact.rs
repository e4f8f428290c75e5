//! The exchange list of a JSONL line or of a `--format json` record, written
//! by hand (issue 14).
//!
//! A request-dense connection carries ~1,400 exchanges of 31 fields each, and
//! through serde_json every field name is escaped byte by byte and every value
//! goes through the generic serializer: on the request-dense bench capture the
//! exchange list was half of a `--format jsonl` run. Here the field names are
//! constant byte strings, the program's own strings quoted constants, and
//! everything is written through a cursor over the output's spare capacity
//! (`W`, `append`; docs/performance.md, "Session 10").
//!
//! The bytes are exactly serde_json's output, compact or pretty, for the
//! same [`Exchange`] (its `Serialize` impl stays the definition; the unit
//! tests compare the two on built exchanges, and `tests/output_identity.rs`
//! on every sample and corpus file).

use std::cell::Cell;
use std::mem::MaybeUninit;

use crate::inspect::http::inspector::{
    Exchange, Framing, KeepAliveParams, Text, COMMON_METHODS, COMMON_REASONS,
};
use crate::inspect::http::parser::{HttpVersion, COMMON_CONNECTION};
use crate::time::Timestamp;
use crate::Direction;
use compact_str::CompactString;

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
    list(out, v, None);
}

/// Writes the list as serde_json's pretty form (two spaces per level) for a
/// value whose key line is indented `depth` levels.
pub fn write_exchanges_pretty(out: &mut Vec<u8>, v: &[Exchange], depth: usize) {
    list(out, v, Some(depth));
}

/// One exchange, compact: the fields and order of `impl Serialize for Exchange`.
pub fn write_exchange(o: &mut Vec<u8>, e: &Exchange) {
    append(o, room(e, None), None, 0, |w| w.exchange(e));
}

/// A JSON string as serde_json escapes it (see [`W::str_`]).
pub fn str_(o: &mut Vec<u8>, s: &str) {
    append(o, 6 * s.len() + 2, None, 0, |w| w.str_(s));
}

/// A comma, a line break and spaces: the shortest pretty-form `W::nl`; a
/// separator and indent are copied from it with a constant length
/// ([`NL_COPY`]: a few stores, no `memcpy` call), then cut.
const NL: &[u8; 33] = b",\n                               ";
const NL_COPY: usize = 32;

fn list(out: &mut Vec<u8>, v: &[Exchange], depth: Option<usize>) {
    if v.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    // The deepest line written is a key of an exchange's `keep_alive`
    // object (or an element of its `interim_statuses`): three levels below
    // the list's key.
    let nl = depth.map(|d| {
        let mut nl = NL.to_vec();
        nl.resize(nl.len().max(2 + 2 * (d + 3)), b' ');
        nl
    });
    let (nl, d) = (nl.as_deref(), depth.unwrap_or(0));
    out.push(b'[');
    for (i, e) in v.iter().enumerate() {
        append(out, room(e, nl), nl, d + 1, |w| {
            w.item(i == 0);
            w.exchange(e);
        });
    }
    append(out, NL.len() + 2 * d + 1, nl, d + 1, |w| w.close(b']'));
}

/// Room for one exchange and the separator before it: its strings from
/// the wire escaped at worst (six bytes a byte, `\u00xx`); the 8 from the
/// program's own tables ([`Lit`]s, copied whole); the quotes or `null` of
/// its 20 strings; its 33 keys (at most 22 bytes each with quotes, colon
/// and comma, 650 in all), 8 numbers (20 digits at most), 4 timestamps (40
/// bytes and the quotes), 3 booleans, brackets and braces, under 1,280
/// bytes; each interim status 6; and in the pretty form, before each of at
/// most 38 keys and closing brackets and each status, a comma, a line break
/// and indent (up to `nl`'s length, copied whole and cut). (The
/// strings an exchange's `Rare` holds are counted only when there is one.)
fn room(e: &Exchange, nl: Option<&[u8]>) -> usize {
    let len = |s: &Option<CompactString>| s.as_ref().map_or(0, |s| s.len());
    let mut wire =
        len(&e.target) + len(&e.host) + len(&e.request.keep_alive) + len(&e.response.keep_alive);
    let mut statuses = 0;
    if let Some(x) = e.rare.as_deref() {
        wire += [
            &x.transfer_encoding,
            &x.content_encoding,
            &x.upgrade,
            &x.expect,
            &x.reason,
            &x.method,
            &x.connection[0],
            &x.connection[1],
        ]
        .into_iter()
        .map(len)
        .sum::<usize>();
        statuses = x.interim_statuses.len();
    }
    let lines = nl.map_or(0, |nl| (38 + statuses) * (nl.len() + 2));
    1280 + 8 * LIT + 20 * 4 + 6 * wire + 6 * statuses + lines
}

/// A string of the program's own tables as JSON: quoted, padded with
/// spaces to [`LIT`] bytes (copied whole, a few stores, then cut to `len`).
#[derive(Clone, Copy)]
struct Lit {
    b: [u8; LIT],
    len: usize,
}

const LIT: usize = 32;

/// The longest RFC 3339 text of a timestamp with its quotes (nanoseconds):
/// `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"`.
const TS_COPY: usize = 32;

/// `s` quoted; it must need no escaping (checked when compiled).
const fn lit(s: &str) -> Lit {
    let s = s.as_bytes();
    assert!(s.len() + 2 <= LIT);
    let mut b = [b' '; LIT];
    b[0] = b'"';
    let mut i = 0;
    while i < s.len() {
        assert!(s[i] >= 0x20 && s[i] != b'"' && s[i] != b'\\');
        b[i + 1] = s[i];
        i += 1;
    }
    b[s.len() + 1] = b'"';
    Lit {
        b,
        len: s.len() + 2,
    }
}

const fn lits<const N: usize>(v: [&str; N]) -> [Lit; N] {
    let mut out = [lit(""); N];
    let mut i = 0;
    while i < N {
        out[i] = lit(v[i]);
        i += 1;
    }
    out
}

const METHODS: [Lit; COMMON_METHODS.len()] = lits(COMMON_METHODS);
const REASONS: [Lit; COMMON_REASONS.len()] = lits(COMMON_REASONS);
const CONNECTIONS: [Lit; COMMON_CONNECTION.len()] = lits(COMMON_CONNECTION);
const VERSIONS: [Lit; 2] = lits([HttpVersion::Http10.as_str(), HttpVersion::Http11.as_str()]);
const FRAMINGS: [Lit; 4] = lits([
    Framing::ContentLength.as_str(),
    Framing::Chunked.as_str(),
    Framing::UntilClose.as_str(),
    Framing::None.as_str(),
]);

fn version_lit(v: HttpVersion) -> &'static Lit {
    &VERSIONS[match v {
        HttpVersion::Http10 => 0,
        HttpVersion::Http11 => 1,
    }]
}

fn framing_lit(f: Framing) -> &'static Lit {
    &FRAMINGS[match f {
        Framing::ContentLength => 0,
        Framing::Chunked => 1,
        Framing::UntilClose => 2,
        Framing::None => 3,
    }]
}

/// Runs `f` on a writer over `out`'s spare capacity, `room` bytes of it,
/// and keeps what it wrote: one capacity check for a whole exchange, and
/// the write position in a register (each `Vec` push loads and stores its
/// length: a byte written may be the `Vec`'s own, for all the compiler
/// knows). Writing past `room` panics, as any slice index out of range.
fn append(
    out: &mut Vec<u8>,
    room: usize,
    nl: Option<&[u8]>,
    depth: usize,
    f: impl FnOnce(&mut W<'_>),
) {
    out.reserve(room);
    let len = out.len();
    let mut w = W {
        b: &mut out.spare_capacity_mut()[..room],
        n: 0,
        nl,
        nl_len: 1 + 2 * depth,
    };
    f(&mut w);
    let n = w.n;
    // SAFETY: the first `n` bytes of the spare capacity are initialised:
    // `W` only ever moves `n` past bytes it has just written (`put`,
    // `byte`, `digits`, `timestamp`) or back (`cut`).
    unsafe { out.set_len(len + n) };
}

/// A key as byte string constants: `,"name":` for the compact form (the
/// separator of every key but an object's first included) and `"name": `
/// for the pretty form.
macro_rules! k {
    ($name:literal) => {
        (
            concat!(",\"", $name, "\":").as_bytes(),
            concat!("\"", $name, "\": ").as_bytes(),
        )
    };
}

/// Writes serde_json's compact form, or its pretty form (`PrettyFormatter`:
/// a line break and the indent before every element and key, `": "` after
/// a key, `[]`/`{}` when empty), into `b` from its start; `n` bytes written.
struct W<'a> {
    b: &'a mut [MaybeUninit<u8>],
    n: usize,
    /// Pretty form: a comma, a line break and the indent of the deepest
    /// level, at least [`NL`]'s length (cut to the current indent when
    /// written).
    nl: Option<&'a [u8]>,
    /// The line break and indent of the current level: `1 + 2 * depth`.
    nl_len: usize,
}

impl W<'_> {
    #[inline(always)]
    fn put(&mut self, s: &[u8]) {
        let d = &mut self.b[self.n..self.n + s.len()];
        // SAFETY: `d` is `s.len()` bytes of spare capacity, which `s` (a
        // borrow of something else) cannot overlap. (A loop of
        // `MaybeUninit::write` was compiled to a byte at a time.)
        unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), d.as_mut_ptr().cast::<u8>(), s.len()) };
        self.n += s.len();
    }

    #[inline(always)]
    fn byte(&mut self, c: u8) {
        self.b[self.n].write(c);
        self.n += 1;
    }

    /// Takes back the last `k` bytes written. (Constant-length copies then
    /// cut: a few stores instead of a `memcpy` call, for the ~30 values of
    /// an exchange.)
    #[inline(always)]
    fn cut(&mut self, k: usize) {
        self.n -= k;
    }

    /// Before an element or key: the separator, and in the pretty form the
    /// line break and indent (copied together from `nl`).
    #[inline(always)]
    fn item(&mut self, first: bool) {
        let Some(nl) = self.nl else {
            if !first {
                self.byte(b',');
            }
            return;
        };
        let from = usize::from(first);
        let len = self.nl_len + 1 - from;
        match nl[from..].first_chunk::<NL_COPY>() {
            Some(c) if len <= NL_COPY => {
                self.put(c);
                self.cut(NL_COPY - len);
            }
            _ => self.put(&nl[from..from + len]),
        }
    }

    fn open(&mut self, c: u8) {
        self.byte(c);
        self.nl_len += 2;
    }

    /// Closes a non-empty array or object.
    fn close(&mut self, c: u8) {
        self.nl_len -= 2;
        if self.nl.is_some() {
            self.item(true);
        }
        self.byte(c);
    }

    /// A key, given as `,"name":` and `"name": ` (`k!`): one copy of a
    /// constant per key after the separator (a JSONL line has ~45,000
    /// keys; the compact form's includes the separator).
    // Inlined so that each constant's length is known where it is copied
    // (a few stores instead of a `memcpy` call): -7 % of a JSONL run.
    #[inline(always)]
    fn key(&mut self, first: bool, (compact, pretty): (&'static [u8], &'static [u8])) {
        if self.nl.is_some() {
            self.item(first);
            self.put(pretty);
        } else if first {
            self.put(&compact[1..]);
        } else {
            self.put(compact);
        }
    }

    fn exchange(&mut self, e: &Exchange) {
        let (q, r, x) = (&e.request, &e.response, e.rare());
        self.open(b'{');
        self.key(true, k!("method"));
        self.text(e.method_text(), &METHODS);
        self.key(false, k!("target"));
        self.opt_str(e.target.as_deref());
        self.key(false, k!("host"));
        self.opt_str(e.host.as_deref());
        self.key(false, k!("request_version"));
        self.opt_lit(q.version.map(version_lit));
        self.key(false, k!("response_version"));
        self.opt_lit(r.version.map(version_lit));
        self.key(false, k!("status"));
        self.opt_u64(e.status.map(u64::from));
        self.key(false, k!("reason"));
        self.text(e.reason_text(), &REASONS);
        self.key(false, k!("interim_statuses"));
        self.statuses(&x.interim_statuses);
        self.key(false, k!("request_time"));
        let t = self.opt_ts(q.time());
        self.key(false, k!("request_end"));
        self.opt_ts_again(q.end(), t);
        self.key(false, k!("response_time"));
        let t = self.opt_ts(r.time());
        self.key(false, k!("response_end"));
        self.opt_ts_again(r.end(), t);
        self.key(false, k!("request_body_bytes"));
        self.u64_(q.body_bytes);
        self.key(false, k!("response_body_bytes"));
        self.u64_(r.body_bytes);
        self.key(false, k!("response_wire_bytes"));
        self.u64_(e.response_wire_bytes);
        self.message_headers(e);
        self.key(false, k!("keep_alive"));
        self.keep_alive(e.keep_alive().as_ref());
        self.key(false, k!("transfer_encoding"));
        self.opt_str(x.transfer_encoding.as_deref());
        self.key(false, k!("content_encoding"));
        self.opt_str(x.content_encoding.as_deref());
        self.key(false, k!("framing"));
        self.opt_lit(r.framing.map(framing_lit));
        self.key(false, k!("request_framing"));
        self.opt_lit(q.framing.map(framing_lit));
        self.key(false, k!("upgrade"));
        self.opt_str(x.upgrade.as_deref());
        self.key(false, k!("expect"));
        self.opt_str(x.expect.as_deref());
        self.key(false, k!("request_complete"));
        self.bool_(q.complete);
        self.key(false, k!("response_complete"));
        self.bool_(r.complete);
        self.key(false, k!("pipelined"));
        self.bool_(e.pipelined);
        self.key(false, k!("request_gap_bytes"));
        self.u64_(x.gap_bytes[0]);
        self.key(false, k!("response_gap_bytes"));
        self.u64_(x.gap_bytes[1]);
        self.close(b'}');
    }

    fn statuses(&mut self, v: &[u16]) {
        if v.is_empty() {
            self.put(b"[]");
            return;
        }
        self.open(b'[');
        for (i, s) in v.iter().enumerate() {
            self.item(i == 0);
            self.u64_(u64::from(*s));
        }
        self.close(b']');
    }

    /// `request_connection` .. `response_keep_alive`: the two messages' raw headers.
    fn message_headers(&mut self, e: &Exchange) {
        let (q, r) = (&e.request, &e.response);
        self.key(false, k!("request_connection"));
        self.text(e.connection_text(Direction::ClientToServer), &CONNECTIONS);
        self.key(false, k!("response_connection"));
        self.text(e.connection_text(Direction::ServerToClient), &CONNECTIONS);
        self.key(false, k!("request_keep_alive"));
        self.opt_str(q.keep_alive.as_deref());
        self.key(false, k!("response_keep_alive"));
        self.opt_str(r.keep_alive.as_deref());
    }

    fn keep_alive(&mut self, k: Option<&KeepAliveParams>) {
        let Some(k) = k else {
            self.put(b"null");
            return;
        };
        self.open(b'{');
        self.key(true, k!("timeout"));
        self.opt_u64(k.timeout);
        self.key(false, k!("max"));
        self.opt_u64(k.max);
        self.close(b'}');
    }

    fn bool_(&mut self, b: bool) {
        self.put(if b { b"true " } else { b"false" });
        self.cut(usize::from(b));
    }

    /// The digits written in place, last first. (Digits built apart and
    /// copied in were read back with wide loads over the byte stores just
    /// made: a store-forwarding stall per number.)
    fn u64_(&mut self, n: u64) {
        let len = n.checked_ilog10().unwrap_or(0) as usize + 1;
        let mut v = n;
        for d in self.b[self.n..self.n + len].iter_mut().rev() {
            d.write(b'0' + (v % 10) as u8);
            v /= 10;
        }
        self.n += len;
    }

    fn opt_u64(&mut self, n: Option<u64>) {
        match n {
            Some(n) => self.u64_(n),
            None => self.put(b"null"),
        }
    }

    /// A timestamp or `null`; for a timestamp, where its quoted text was
    /// written (see [`W::opt_ts_again`]).
    fn opt_ts(&mut self, t: Option<Timestamp>) -> Option<(Timestamp, usize, usize)> {
        match t {
            Some(t) => {
                // Written in place, in room for the longest form. Digits
                // and separators only, as `impl Serialize for Timestamp`
                // writes them: nothing to escape.
                let start = self.n;
                self.byte(b'"');
                let at = self.n;
                let buf: &mut [MaybeUninit<u8>; 40] = (&mut self.b[at..at + 40])
                    .try_into()
                    .expect("a 40-byte slice");
                self.n += t.write_rfc3339(buf);
                self.byte(b'"');
                Some((t, start, self.n - start))
            }
            None => {
                self.put(b"null");
                None
            }
        }
    }

    /// A timestamp after `earlier` (from [`W::opt_ts`]): when they are
    /// equal (a message in one segment ends when it starts), its text is
    /// copied from the earlier one, a constant [`TS_COPY`] bytes then cut.
    fn opt_ts_again(&mut self, t: Option<Timestamp>, earlier: Option<(Timestamp, usize, usize)>) {
        match (t, earlier) {
            (Some(t), Some((e, at, len))) if t == e && len <= TS_COPY => {
                self.b.copy_within(at..at + TS_COPY, self.n);
                self.n += len;
            }
            _ => {
                self.opt_ts(t);
            }
        }
    }

    #[inline(always)]
    fn lit(&mut self, l: &Lit) {
        self.put(&l.b);
        self.cut(LIT - l.len);
    }

    fn opt_lit(&mut self, l: Option<&Lit>) {
        match l {
            Some(l) => self.lit(l),
            None => self.put(b"null"),
        }
    }

    /// A text field as stored: a table's entry, or a string from the wire.
    fn text(&mut self, t: Text<'_>, table: &[Lit]) {
        match t {
            Text::Common(i) => self.opt_lit(table.get(i)),
            Text::Wire(s) => self.opt_str(s),
        }
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str_(s),
            None => self.put(b"null"),
        }
    }

    /// A JSON string as serde_json escapes it: `"`, `\` and the C0 controls
    /// (`\b \t \n \f \r` by name, the others as `\u00xx`, lowercase hex);
    /// everything else, DEL and non-ASCII included, as it is.
    fn str_(&mut self, s: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let b = s.as_bytes();
        let n = b.len();
        self.byte(b'"');
        // Eight bytes at a time while none needs escaping, each copied with
        // a constant length; a last partial word as the last eight bytes
        // again (overlapping what is written). The strings here are short:
        // a target, a Host, a version, a reason.
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let mut i = 0;
        if n >= 8 {
            while i + 8 <= n {
                let x = word(i);
                if needs_escape(x) {
                    break;
                }
                self.put(&x.to_le_bytes());
                i += 8;
            }
            if i < n && i + 8 > n {
                let x = word(n - 8);
                if !needs_escape(x) {
                    self.cut(8 - (n - i));
                    self.put(&x.to_le_bytes());
                    i = n;
                }
            }
        }
        while i < n {
            let c = b[i];
            i += 1;
            if c >= 0x20 && c != b'"' && c != b'\\' {
                self.byte(c);
                continue;
            }
            match c {
                b'"' => self.put(b"\\\""),
                b'\\' => self.put(b"\\\\"),
                0x08 => self.put(b"\\b"),
                b'\t' => self.put(b"\\t"),
                b'\n' => self.put(b"\\n"),
                0x0c => self.put(b"\\f"),
                b'\r' => self.put(b"\\r"),
                _ => self.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 0xf)],
                ]),
            }
        }
        self.byte(b'"');
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

    /// Every string at its longest escaped form (`\u00xx` for each byte),
    /// every number at its widest, many interim statuses, pretty at a depth
    /// whose indent passes `NL`: the room reserved holds it (writing past
    /// it panics) and the bytes are serde_json's.
    #[test]
    fn the_room_reserved_holds_the_widest_exchange() {
        let wide = "\u{1}\u{2}\u{1f}".repeat(40);
        let s = || Some(CompactString::from(wide.as_str()));
        let t = Timestamp::from_secs_frac(1_700_000_000, 123_456_789, 1_000_000_000);
        let mut e = Exchange {
            target: s(),
            host: s(),
            status: Some(u16::MAX),
            response_wire_bytes: u64::MAX,
            ..Exchange::default()
        };
        for m in [&mut e.request, &mut e.response] {
            m.version = Some(HttpVersion::Http11);
            m.body_bytes = u64::MAX;
            m.keep_alive = Some(format!("timeout={wide}").into());
            m.framing = Some(Framing::ContentLength);
            m.set_time(t);
            m.set_end(t);
        }
        e.set_method(wide.as_bytes());
        e.set_reason(wide.as_bytes());
        e.set_connection(Direction::ClientToServer, s());
        e.set_connection(Direction::ServerToClient, s());
        let x = e.rare_mut();
        x.interim_statuses = vec![u16::MAX; 50];
        x.gap_bytes = [u64::MAX, u64::MAX];
        x.transfer_encoding = s();
        x.content_encoding = s();
        x.upgrade = s();
        x.expect = s();
        assert_eq!(mine(&e), serde(&e));
        let v = [e.clone(), e];
        let serde = String::from_utf8(serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        for depth in [0, 5, 12, 14, 20] {
            let mut o = Vec::new();
            write_exchanges_pretty(&mut o, &v, depth);
            let want = serde.replace('\n', &format!("\n{}", "  ".repeat(depth)));
            assert_eq!(String::from_utf8(o).unwrap(), want, "depth {depth}");
        }
    }

    /// Every entry of the program's tables, written from its [`Lit`], reads
    /// as serde_json writes the text.
    #[test]
    fn every_table_text_matches_serde_json() {
        let mut all = Vec::new();
        for (i, m) in COMMON_METHODS.iter().enumerate() {
            let mut e = Exchange::default();
            e.set_method(m.as_bytes());
            e.set_reason(COMMON_REASONS[i % COMMON_REASONS.len()].as_bytes());
            let c = COMMON_CONNECTION[i % COMMON_CONNECTION.len()];
            e.set_connection(Direction::ServerToClient, Some(c.into()));
            assert!(matches!(e.method_text(), Text::Common(_)), "{m}");
            all.push(e);
        }
        for r in COMMON_REASONS {
            let mut e = Exchange::default();
            e.set_reason(r.as_bytes());
            assert!(matches!(e.reason_text(), Text::Common(_)), "{r}");
            all.push(e);
        }
        for c in COMMON_CONNECTION {
            let mut e = Exchange::default();
            e.set_connection(Direction::ClientToServer, Some(c.into()));
            assert!(
                matches!(
                    e.connection_text(Direction::ClientToServer),
                    Text::Common(_)
                ),
                "{c}"
            );
            all.push(e);
        }
        let versions = [HttpVersion::Http10, HttpVersion::Http11];
        let framings = [
            Framing::ContentLength,
            Framing::Chunked,
            Framing::UntilClose,
            Framing::None,
        ];
        for (i, f) in framings.into_iter().enumerate() {
            let mut e = Exchange::default();
            e.request.framing = Some(f);
            e.response.framing = Some(framings[(i + 1) % 4]);
            e.request.version = Some(versions[i % 2]);
            e.response.version = Some(versions[(i + 1) % 2]);
            all.push(e);
        }
        for e in &all {
            assert_eq!(
                String::from_utf8(mine(e)).unwrap(),
                String::from_utf8(serde(e)).unwrap()
            );
        }
    }

    /// A message that ends when it starts has its end copied from its
    /// start's text: the same bytes as serde_json, in microseconds and in
    /// nanoseconds, compact and pretty, and when only one of them is set.
    #[test]
    fn equal_start_and_end_read_as_serde_json() {
        let mut v = Vec::new();
        for (frac, units) in [(123_456, 1_000_000), (123_456_789, 1_000_000_000), (0, 1)] {
            let t = Timestamp::from_secs_frac(1_700_000_000, frac, units);
            let mut e = Exchange::default();
            e.request.set_time(t);
            e.request.set_end(t);
            e.response.set_time(t);
            e.response.set_end(Timestamp::from_nanos(t.as_nanos() + 1));
            v.push(e.clone());
            let mut only_end = Exchange::default();
            only_end.request.set_end(t);
            v.push(only_end);
        }
        let mut o = Vec::new();
        write_exchanges(&mut o, &v);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            serde_json::to_string(&v).unwrap()
        );
        let mut o = Vec::new();
        write_exchanges_pretty(&mut o, &v, 0);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            serde_json::to_string_pretty(&v).unwrap()
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
            let mut e = Exchange { target: Some(CompactString::from(s.as_str())), ..Exchange::default() };
            e.set_reason(ascii.as_bytes());
            prop_assert_eq!(mine(&e), serde(&e));
        }
    }
}
