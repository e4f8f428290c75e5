//! Per-connection HTTP/1.x inspector: frames messages in both directions,
//! matches responses to requests (FIFO, pipelining aware), and records how the
//! connection is (re)used.
//!
//! Memory: only partial message heads are buffered (bounded by [`MAX_HEAD`]);
//! bodies are counted and skipped. A head that arrives whole in one `on_data`
//! slice is parsed in place. Strings are allocated per message, never per packet.

use super::framing::{self, BodyFraming, BodyHeaders, Unframeable};
use super::log::{ExchangeLog, Facts, PendingQueue, UNANSWERED_KEPT};
pub use super::parser::HttpVersion;
use super::parser::{
    self, escape, ChunkStatus, ChunkedDecoder, MessageHeaders, RequestLine, StatusLine,
};
use super::warning::{CutThen, Ending, HttpWarning as W, LostMessage, Of};
use crate::inspect::warnings::Warnings;
use crate::time::Timestamp;
use crate::Direction;
use compact_str::CompactString;
use serde::Serialize;

/// Largest message head (start line + header section) buffered across packets.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest amount of client data held after a CONNECT/Upgrade request while
/// waiting for the response that decides whether the protocol switches.
pub const MAX_HOLD: usize = 256 * 1024;
/// Largest amount of post-switch data kept for [`HttpInspector::drain_tunnel`].
pub const MAX_TUNNEL: usize = 1024 * 1024;
/// Warnings kept per connection (one more says how many were suppressed).
pub const MAX_WARNINGS: usize = 256;

/// Longest head kept by [`HeadMemo`]: a response of a dozen fields, a
/// request of an API client. Longer ones are parsed every time.
const MEMO_MAX: usize = 512;

/// The last head parsed whole in one direction of a connection, with what
/// parsing it gave: a following head that is byte for byte the same (a
/// load generator's requests, a poller's, a server's responses within the
/// same second of `Date`) is not parsed again (issue 14). Parsing is a
/// function of the head's bytes and `skip_host` alone, so reusing the
/// result is exact; the memo is only a shortcut.
#[derive(Debug, Default)]
struct HeadMemo {
    /// The head, up to and including its empty line; empty: none kept.
    bytes: Vec<u8>,
    /// The header section as parsed.
    headers: MessageHeaders,
    /// Request: end of the method, start and end of the target.
    /// Response: 0, start and end of the reason phrase.
    span: [u32; 3],
    version: Option<HttpVersion>,
    status: u16,
    /// Request: the target as the exchange keeps it.
    target: CompactString,
    /// The inspector's `head` of this direction holds `headers` (nothing
    /// parsed into it since): a hit copies nothing.
    fresh: bool,
    /// Heads since the last hit: past a few, the memo is refreshed only
    /// now and then (heads that all differ pay the comparison alone).
    misses: u32,
}

impl HeadMemo {
    /// The memo's head if `data` starts with it (parsed with `skip_host`).
    #[inline]
    fn hit(&self, data: &[u8], skip_host: bool) -> Option<usize> {
        let n = self.bytes.len();
        (n > 0 && self.headers.skip_host == skip_host && data.get(..n) == Some(&self.bytes[..]))
            .then_some(n)
    }

    /// Whether a head that missed should replace the memo.
    #[inline]
    fn refresh(&mut self) -> bool {
        self.misses = self.misses.saturating_add(1);
        self.misses <= 4 || self.misses.is_multiple_of(64)
    }

    fn keep(
        &mut self,
        head: &[u8],
        h: &MessageHeaders,
        span: [usize; 3],
        version: HttpVersion,
        status: u16,
    ) {
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        self.headers.copy_from(h);
        self.fresh = true;
        self.span = span.map(|x| x as u32);
        self.version = Some(version);
        self.status = status;
        if status == 0 {
            self.target = text(&head[span[1]..span[2]]);
        }
    }
}

/// Parameters of a `Keep-Alive: timeout=5, max=1000` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct KeepAliveParams {
    pub timeout: Option<u64>,
    pub max: Option<u64>,
}

impl KeepAliveParams {
    /// Parses a Keep-Alive header value. Keys are case-insensitive; `,` or `;`
    /// separate parameters; whitespace and quoted values are tolerated; unknown
    /// or malformed parameters are ignored.
    pub fn parse(value: &str) -> KeepAliveParams {
        let mut p = KeepAliveParams::default();
        for part in value.split([',', ';']) {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let k = k.trim();
            let v = v.trim().trim_matches('"').trim();
            let Ok(n) = v.parse::<u64>() else {
                continue;
            };
            if k.eq_ignore_ascii_case("timeout") {
                p.timeout = Some(n);
            } else if k.eq_ignore_ascii_case("max") {
                p.max = Some(n);
            }
        }
        p
    }
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    ContentLength,
    Chunked,
    UntilClose,
    None,
}

impl Framing {
    pub const fn as_str(self) -> &'static str {
        match self {
            Framing::ContentLength => "content-length",
            Framing::Chunked => "chunked",
            Framing::UntilClose => "until-close",
            Framing::None => "none",
        }
    }
}

/// A protocol switch: `101 Switching Protocols` or a 2xx answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    /// "upgrade" or "connect".
    pub kind: &'static str,
    /// Upgrade protocol (response Upgrade header, else the request's); None for CONNECT.
    pub protocol: Option<String>,
    /// When the switching response head ended.
    pub at: Timestamp,
    /// Index into [`HttpInspector::exchanges`] of the switching exchange.
    pub exchange: usize,
    /// CONNECT authority (request target), None for upgrades.
    pub target: Option<String>,
}

/// One message (request or response) of an [`Exchange`].
#[derive(Debug, Clone, Default)]
pub struct Message {
    pub version: Option<HttpVersion>,
    /// Body framing; response: null until the final response head is seen.
    pub framing: Option<Framing>,
    pub complete: bool,
    /// Bit 0: `time` is set, bit 1: `end` is set (an `Option<Timestamp>`
    /// takes twice the room; a connection keeps up to 1,500 exchanges).
    pub(crate) set: u8,
    pub(crate) time: Timestamp,
    pub(crate) end: Timestamp,
    /// Decoded body length (chunked: sum of chunk sizes; bytes lost in gaps
    /// inside a framed body included).
    pub body_bytes: u64,
    /// The Connection header (read it with [`Exchange::connection`]): 1 +
    /// its index in [`COMMON_CONNECTION`], [`RARE_CONNECTION`] (in
    /// `Rare::connection`), or 0: none.
    pub(crate) connection_code: u8,
    pub keep_alive: Option<CompactString>,
}

impl Message {
    /// A message whose first byte came at `time`.
    pub fn starting(version: Option<HttpVersion>, time: Timestamp) -> Message {
        let mut m = Message {
            version,
            ..Message::default()
        };
        m.set_time(time);
        m
    }
    /// First byte of the head (response: of the final response head).
    pub fn time(&self) -> Option<Timestamp> {
        (self.set & 1 != 0).then_some(self.time)
    }
    /// Last byte of the message (head or body); null if incomplete.
    pub fn end(&self) -> Option<Timestamp> {
        (self.set & 2 != 0).then_some(self.end)
    }
    pub fn set_time(&mut self, t: Timestamp) {
        self.time = t;
        self.set |= 1;
    }
    pub fn set_end(&mut self, t: Timestamp) {
        self.end = t;
        self.set |= 2;
    }
}

/// One request and its response (either side may be missing).
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// The request method (read it with [`Exchange::method`]): index + 1
    /// into [`COMMON_METHODS`], [`RARE_METHOD`] (in `Rare::method`), or 0:
    /// none (a response whose request was never seen, or was lost in a gap).
    pub(crate) method_code: u8,
    pub target: Option<CompactString>,
    /// Request Host header.
    pub host: Option<CompactString>,
    /// Final status (101 included); null if no final response was seen.
    pub status: Option<u16>,
    /// The reason phrase when it is a common one ([`COMMON_REASONS`], index
    /// + 1); 0: see `Rare::reason` (read it with [`Exchange::reason`]).
    pub(crate) common_reason: u8,
    pub request: Message,
    /// The final response.
    pub response: Message,
    /// Final response bytes on the wire: head + body incl. chunk framing.
    pub response_wire_bytes: u64,
    /// What most exchanges lack, boxed: one pointer when absent (see [`Rare`]).
    pub(crate) rare: Option<Box<Rare>>,
    /// The request head was sent while an earlier request's response was not complete.
    pub pipelined: bool,
    /// Counted in the inspector's outstanding-request tally.
    pub(crate) outstanding: bool,
}

/// The fields of an [`Exchange`] that most exchanges lack. Kept apart so a
/// plain exchange stays small: a connection keeps up to
/// `KEEP_HEAD + 2 * KEEP_TAIL` of them (src/inspect/http/log.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rare {
    /// 1xx interim statuses received before the final one (101 excluded).
    pub interim_statuses: Vec<u16>,
    /// Response Transfer-Encoding.
    pub transfer_encoding: Option<CompactString>,
    /// Response Content-Encoding.
    pub content_encoding: Option<CompactString>,
    /// Request Upgrade header.
    pub upgrade: Option<CompactString>,
    /// Request Expect header.
    pub expect: Option<CompactString>,
    /// Bytes of the request / the response lost in capture gaps.
    pub gap_bytes: [u64; 2],
    /// The final response's reason phrase, unless a common one.
    pub reason: Option<CompactString>,
    /// The request method, unless a common one.
    pub method: Option<CompactString>,
    /// The request's / the response's Connection header, unless a common one.
    pub connection: [Option<CompactString>; 2],
}

/// Connection header values stored as one byte (the codes the header
/// parser gives them).
use super::parser::COMMON_CONNECTION;
/// `Message::connection_code` of a value kept in `Rare::connection`.
const RARE_CONNECTION: u8 = u8::MAX;

/// [`Exchange::connection_tokens`] of each `Message::connection_code` but
/// [`RARE_CONNECTION`] (0: no header), from [`COMMON_CONNECTION`].
const CONNECTION_TOKENS: [(bool, bool); COMMON_CONNECTION.len() + 1] = {
    let mut t = [(false, false); COMMON_CONNECTION.len() + 1];
    let mut k = 0;
    while k < COMMON_CONNECTION.len() {
        let v = COMMON_CONNECTION[k].as_bytes();
        t[k + 1] = (
            v.eq_ignore_ascii_case(b"close"),
            v.eq_ignore_ascii_case(b"keep-alive"),
        );
        k += 1;
    }
    t
};

/// Methods stored as one byte.
pub(crate) const COMMON_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];
/// `Exchange::method_code` of a method kept in `Rare::method`.
const RARE_METHOD: u8 = u8::MAX;
/// `Exchange::method_code` of HEAD (a common method is never kept as rare).
const HEAD_CODE: u8 = {
    assert!(matches!(COMMON_METHODS[1].as_bytes(), b"HEAD"));
    2
};

/// Reason phrases stored as one byte (the exact wire text).
pub(crate) const COMMON_REASONS: [&str; 16] = [
    "OK",
    "Created",
    "Accepted",
    "No Content",
    "Partial Content",
    "Switching Protocols",
    "Moved Permanently",
    "Found",
    "Not Modified",
    "Bad Request",
    "Unauthorized",
    "Forbidden",
    "Not Found",
    "Internal Server Error",
    "Bad Gateway",
    "Service Unavailable",
];

/// A text field of an [`Exchange`] as stored: an index into one of the
/// program's tables (`COMMON_METHODS`, `COMMON_REASONS`,
/// `COMMON_CONNECTION`), or text from the wire (`None`: absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text<'a> {
    Common(usize),
    Wire(Option<&'a str>),
}

impl<'a> Text<'a> {
    /// The text, `Common` looked up in `table`.
    pub(crate) fn or_table(self, table: &[&'static str]) -> Option<&'a str> {
        match self {
            Text::Common(i) => table.get(i).copied(),
            Text::Wire(s) => s,
        }
    }
}

/// What an exchange without [`Rare`] fields reads as.
static NO_RARE: Rare = Rare {
    interim_statuses: Vec::new(),
    transfer_encoding: None,
    content_encoding: None,
    upgrade: None,
    expect: None,
    gap_bytes: [0; 2],
    reason: None,
    method: None,
    connection: [None, None],
};

/// The JSON names and order of the flat record every report has written
/// (request_*/response_* interleaved): public output, unchanged.
impl Serialize for Exchange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (q, r, x) = (&self.request, &self.response, self.rare());
        let mut st = s.serialize_struct("Exchange", 31)?;
        st.serialize_field("method", &self.method())?;
        st.serialize_field("target", &self.target)?;
        st.serialize_field("host", &self.host)?;
        st.serialize_field("request_version", &q.version)?;
        st.serialize_field("response_version", &r.version)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("reason", &self.reason())?;
        st.serialize_field("interim_statuses", &x.interim_statuses)?;
        st.serialize_field("request_time", &q.time())?;
        st.serialize_field("request_end", &q.end())?;
        st.serialize_field("response_time", &r.time())?;
        st.serialize_field("response_end", &r.end())?;
        st.serialize_field("request_body_bytes", &q.body_bytes)?;
        st.serialize_field("response_body_bytes", &r.body_bytes)?;
        st.serialize_field("response_wire_bytes", &self.response_wire_bytes)?;
        st.serialize_field("request_connection", &self.connection(C2S))?;
        st.serialize_field("response_connection", &self.connection(S2C))?;
        st.serialize_field("request_keep_alive", &q.keep_alive)?;
        st.serialize_field("response_keep_alive", &r.keep_alive)?;
        st.serialize_field("keep_alive", &self.keep_alive())?;
        st.serialize_field("transfer_encoding", &x.transfer_encoding)?;
        st.serialize_field("content_encoding", &x.content_encoding)?;
        st.serialize_field("framing", &r.framing)?;
        st.serialize_field("request_framing", &q.framing)?;
        st.serialize_field("upgrade", &x.upgrade)?;
        st.serialize_field("expect", &x.expect)?;
        st.serialize_field("request_complete", &q.complete)?;
        st.serialize_field("response_complete", &r.complete)?;
        st.serialize_field("pipelined", &self.pipelined)?;
        st.serialize_field("request_gap_bytes", &x.gap_bytes[0])?;
        st.serialize_field("response_gap_bytes", &x.gap_bytes[1])?;
        st.end()
    }
}

/// Head bytes as text, invalid UTF-8 replaced (`CompactString::from_utf8_lossy`
/// walks the bytes in chunks even when they are valid: the common case
/// takes the plain check).
fn text(b: &[u8]) -> CompactString {
    parser::lossy_text(b)
}

/// Is `token` one of the comma-separated tokens of a Connection-like header
/// value (case-insensitive, whitespace tolerant)?
pub fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| {
        v.split(',').any(|t| {
            t.trim_matches(|c| c == ' ' || c == '\t')
                .eq_ignore_ascii_case(token)
        })
    })
}

impl Exchange {
    /// The fields most exchanges lack (all empty if none was set).
    pub fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }
    /// The request method (null if no request was seen).
    pub fn method(&self) -> Option<&str> {
        self.method_text().or_table(&COMMON_METHODS)
    }
    /// [`Exchange::method`] as stored: an index into `COMMON_METHODS`, or
    /// text from the wire.
    pub(crate) fn method_text(&self) -> Text<'_> {
        match self.method_code {
            0 => Text::Wire(None),
            RARE_METHOD => Text::Wire(self.rare().method.as_deref()),
            k => Text::Common(usize::from(k) - 1),
        }
    }
    /// Sets the request method from the request line's bytes.
    pub fn set_method(&mut self, method: &[u8]) {
        match COMMON_METHODS.iter().position(|m| m.as_bytes() == method) {
            Some(k) => self.method_code = k as u8 + 1,
            None => self.set_rare_method(text(method)),
        }
    }
    /// Sets the request method from decoded text (HTTP/2 `:method`).
    pub fn set_method_text(&mut self, method: CompactString) {
        match COMMON_METHODS.iter().position(|&m| m == method) {
            Some(k) => self.method_code = k as u8 + 1,
            None => self.set_rare_method(method),
        }
    }
    fn set_rare_method(&mut self, method: CompactString) {
        self.method_code = RARE_METHOD;
        self.rare_mut().method = Some(method);
    }
    /// The request's (`ClientToServer`) or the response's Connection header.
    pub fn connection(&self, dir: Direction) -> Option<&str> {
        self.connection_text(dir).or_table(&COMMON_CONNECTION)
    }
    /// [`Exchange::connection`] as stored (see [`Exchange::method_text`]).
    pub(crate) fn connection_text(&self, dir: Direction) -> Text<'_> {
        match self.message(dir).connection_code {
            0 => Text::Wire(None),
            RARE_CONNECTION => Text::Wire(self.rare().connection[dir.index()].as_deref()),
            k => Text::Common(usize::from(k) - 1),
        }
    }
    /// Whether the request's (`ClientToServer`) or the response's Connection
    /// header has the `close` and the `keep-alive` tokens ([`has_token`]):
    /// the common values from their code (one table read), without reading text.
    #[inline]
    pub fn connection_tokens(&self, dir: Direction) -> (bool, bool) {
        match self.message(dir).connection_code {
            RARE_CONNECTION => self.rare_connection_tokens(dir),
            k => CONNECTION_TOKENS
                .get(usize::from(k))
                .copied()
                .unwrap_or_default(),
        }
    }
    #[cold]
    fn rare_connection_tokens(&self, dir: Direction) -> (bool, bool) {
        let v = self.connection(dir);
        (has_token(v, "close"), has_token(v, "keep-alive"))
    }
    /// A request was seen ([`Exchange::method`] is set), told by the code.
    #[inline]
    pub fn has_method(&self) -> bool {
        match self.method_code {
            0 => false,
            RARE_METHOD => self.rare().method.is_some(),
            _ => true,
        }
    }
    /// The request's method is HEAD (a common method: told by its code).
    #[inline]
    pub fn is_head(&self) -> bool {
        self.method_code == HEAD_CODE
    }
    /// Sets (or clears) the Connection header of the request or the response.
    pub fn set_connection(&mut self, dir: Direction, value: Option<CompactString>) {
        let common = value
            .as_deref()
            .and_then(|v| COMMON_CONNECTION.iter().position(|&c| c == v));
        let code = match (&value, common) {
            (None, _) => 0,
            (Some(_), Some(k)) => k as u8 + 1,
            (Some(_), None) => RARE_CONNECTION,
        };
        self.message_mut(dir).connection_code = code;
        if code == RARE_CONNECTION {
            self.rare_mut().connection[dir.index()] = value;
        } else if let Some(x) = self.rare_if_set_mut() {
            x.connection[dir.index()] = None;
        }
    }
    /// Sets the Connection header of the request or the response from a
    /// parsed head's ([`MessageHeaders::connection_parts`]): a common value's
    /// code as it is, anything else as [`Exchange::set_connection`] does.
    #[inline]
    pub fn set_connection_from(&mut self, dir: Direction, h: &MessageHeaders) {
        match h.connection_parts() {
            (0, text) => self.set_connection(dir, text),
            (code, _) => {
                self.message_mut(dir).connection_code = code;
                if let Some(x) = self.rare_if_set_mut() {
                    x.connection[dir.index()] = None;
                }
            }
        }
    }
    /// The final response's reason phrase (null if none was seen).
    pub fn reason(&self) -> Option<&str> {
        self.reason_text().or_table(&COMMON_REASONS)
    }
    /// [`Exchange::reason`] as stored (see [`Exchange::method_text`]).
    pub(crate) fn reason_text(&self) -> Text<'_> {
        match self.common_reason {
            0 => Text::Wire(self.rare().reason.as_deref()),
            k => Text::Common(usize::from(k) - 1),
        }
    }
    /// Sets the reason phrase from the status line's bytes.
    pub fn set_reason(&mut self, reason: &[u8]) {
        let common = COMMON_REASONS.iter().position(|r| r.as_bytes() == reason);
        match common {
            Some(k) => {
                self.common_reason = k as u8 + 1;
                if let Some(x) = self.rare_if_set_mut() {
                    x.reason = None;
                }
            }
            None => {
                self.common_reason = 0;
                self.rare_mut().reason = Some(text(reason));
            }
        }
    }
    /// The same, to change in place, if any was set (allocates nothing).
    pub fn rare_if_set_mut(&mut self) -> Option<&mut Rare> {
        self.rare.as_deref_mut()
    }
    /// The same, to write: allocated on first use.
    pub fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
    /// Parsed response Keep-Alive header (its value is kept as
    /// `response.keep_alive`; parsed when asked, not per exchange).
    pub fn keep_alive(&self) -> Option<KeepAliveParams> {
        self.response
            .keep_alive
            .as_deref()
            .map(KeepAliveParams::parse)
    }
    /// Bytes of the request (`ClientToServer`) or the response lost in capture gaps.
    pub fn gap_bytes(&self, dir: Direction) -> u64 {
        self.rare().gap_bytes[dir.index()]
    }
    fn add_gap_bytes(&mut self, dir: Direction, n: u64) {
        if n > 0 {
            self.rare_mut().gap_bytes[dir.index()] += n;
        }
    }
    /// The request asked for a protocol switch (CONNECT or Upgrade).
    fn may_switch(&self) -> bool {
        self.method() == Some("CONNECT") || self.rare().upgrade.is_some()
    }
    /// The request (`ClientToServer`) or the response (`ServerToClient`).
    pub fn message(&self, dir: Direction) -> &Message {
        match dir {
            Direction::ClientToServer => &self.request,
            Direction::ServerToClient => &self.response,
        }
    }
    pub fn message_mut(&mut self, dir: Direction) -> &mut Message {
        match dir {
            Direction::ClientToServer => &mut self.request,
            Direction::ServerToClient => &mut self.response,
        }
    }
    /// The request's Connection header has the `close` token.
    pub fn request_wants_close(&self) -> bool {
        has_token(self.connection(C2S), "close")
    }
    /// The response's Connection header has the `close` token.
    pub fn response_wants_close(&self) -> bool {
        has_token(self.connection(S2C), "close")
    }
    /// The request's Connection header has the `keep-alive` token.
    pub fn request_wants_keep_alive(&self) -> bool {
        has_token(self.connection(C2S), "keep-alive")
    }
    /// The response's Connection header has the `keep-alive` token.
    pub fn response_wants_keep_alive(&self) -> bool {
        has_token(self.connection(S2C), "keep-alive")
    }
    /// Whether the connection may persist after this exchange per RFC 9112 §9.3,
    /// judged from the response (and the request's close): None without a response.
    pub fn persistent(&self) -> Option<bool> {
        let v = self.response.version?;
        if self.response_wants_close() || self.request_wants_close() {
            return Some(false);
        }
        if self.response.framing == Some(Framing::UntilClose) {
            return Some(false);
        }
        Some(match v {
            HttpVersion::Http11 => true,
            HttpVersion::Http10 => self.response_wants_keep_alive(),
        })
    }
    fn label(&self, idx: usize) -> String {
        match (self.method(), &self.target) {
            (Some(m), Some(t)) => format!("exchange #{} ({} {})", idx + 1, m, short(t)),
            _ => format!("exchange #{}", idx + 1),
        }
    }
}

fn short(s: &str) -> String {
    if s.len() <= 60 {
        s.to_owned()
    } else {
        let mut end = 60;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

#[derive(Debug, Clone)]
enum BodyKind {
    Length { remaining: u64, total: u64 },
    Chunked(ChunkedDecoder),
    UntilClose,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Expecting or accumulating a message head.
    Head,
    /// Skipping a body of exchange `ex`.
    Body { ex: usize, kind: BodyKind },
    /// Client only: after a CONNECT/Upgrade request, holding bytes until the response decides.
    Hold { ex: usize },
    /// Out of sync: scanning for a plausible message start at a line start.
    Lost,
    /// After a protocol switch: bytes kept for drain_tunnel.
    Tunnel,
    /// After FIN or finish().
    Closed,
}

/// A message head cut by a capture gap after its start line.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// Bytes of the gap (the rest of the head, then maybe body and more).
    missing: u64,
    /// Fewest bytes the rest of the head can take.
    min_missing: u64,
    /// Bytes of the head captured before the gap.
    captured: u64,
}

#[derive(Debug, Clone, Copy)]
enum HoldSeg {
    Data {
        start: usize,
        end: usize,
        ts: Timestamp,
    },
    Gap {
        missing: u64,
        ts: Timestamp,
    },
}

#[derive(Debug)]
struct Side {
    phase: Phase,
    /// Head: partial head. Lost: incomplete candidate line. Hold: held bytes.
    buf: Vec<u8>,
    /// Head: where to resume the search for the end of the head.
    scan_from: usize,
    /// Timestamp of the first byte in `buf`.
    buf_ts: Timestamp,
    /// Head: the buffered start line is already known to be plausible.
    head_plausible: bool,
    /// Lost: the next byte is at a line start (or right after a gap).
    line_start: bool,
    /// Lost: bytes skipped since sync was lost.
    skipped: u64,
    hold: Vec<HoldSeg>,
    tunnel: Vec<u8>,
    tunnel_overflow: bool,
    /// Client: the request body in progress belongs to the switching exchange.
    tunnel_after_body: bool,
    /// Timestamp of the last body byte of the message in progress.
    body_ts: Timestamp,
    closed_data_warned: bool,
}

impl Side {
    fn new() -> Side {
        Side {
            phase: Phase::Head,
            buf: Vec::new(),
            scan_from: 0,
            buf_ts: Timestamp::default(),
            head_plausible: false,
            line_start: false,
            skipped: 0,
            hold: Vec::new(),
            tunnel: Vec::new(),
            tunnel_overflow: false,
            tunnel_after_body: false,
            body_ts: Timestamp::default(),
            closed_data_warned: false,
        }
    }
}

const C2S: Direction = Direction::ClientToServer;
const S2C: Direction = Direction::ServerToClient;

/// Per-connection HTTP/1.x state machine. Feed it in-order bytes of each
/// direction, in capture order.
#[derive(Debug)]
pub struct HttpInspector {
    sides: [Side; 2],
    exchanges: ExchangeLog,
    /// Exchanges awaiting their final response, oldest first.
    pending: PendingQueue,
    outstanding: u32,
    max_depth: u32,
    requests: u32,
    responses: u32,
    interim: u32,
    /// bit 0: HTTP/1.0 seen, bit 1: HTTP/1.1 seen.
    versions: u8,
    /// The same bits per side, `[requests, responses]`.
    side_versions: [u8; 2],
    keep_alive: Option<KeepAliveParams>,
    switched: Option<Switch>,
    saw_http: bool,
    finished: bool,
    /// While replaying held client bytes: the exchange whose response released them.
    replaying: Option<usize>,
    /// Messages that broke the HTTP/1 grammar: counted ones (a control byte
    /// in the request target) and skipped ones (malformed or oversized head,
    /// bytes that are not a message start). Each has a warning.
    malformed: u32,
    warnings: Warnings<W>,
    /// Per direction, the header section of the last head, parsed in place
    /// ([`parser::header_section_into`]) and reused from head to head: the
    /// values kept are copied from it into the exchange, and it is left as
    /// parsed, so that a head repeated in its direction ([`HeadMemo`]) finds
    /// it ready (issue 14).
    head: [MessageHeaders; 2],
    /// Per direction, the last head and its parse ([`HeadMemo`]); made at
    /// a connection's second head, so one-exchange connections do not
    /// pay for it.
    memo: Option<Box<[HeadMemo; 2]>>,
    /// Tests: heads taken from the memo; with `no_memo`, it is never used.
    #[cfg(test)]
    memo_hits: u32,
    #[cfg(test)]
    no_memo: bool,
}

impl Default for HttpInspector {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpInspector {
    pub fn new() -> Self {
        HttpInspector {
            sides: [Side::new(), Side::new()],
            exchanges: ExchangeLog::default(),
            pending: PendingQueue::default(),
            outstanding: 0,
            max_depth: 0,
            requests: 0,
            responses: 0,
            interim: 0,
            versions: 0,
            side_versions: [0; 2],
            keep_alive: None,
            switched: None,
            saw_http: false,
            finished: false,
            replaying: None,
            malformed: 0,
            warnings: Warnings::new(MAX_WARNINGS, ""),
            head: Default::default(),
            memo: None,
            #[cfg(test)]
            memo_hits: 0,
            #[cfg(test)]
            no_memo: false,
        }
    }

    /// An inspector for reports that print no exchange details (text,
    /// CSV): finished exchanges are kept as their [`Facts`] only, so
    /// [`HttpInspector::exchanges`] holds only the unfinished ones;
    /// [`HttpInspector::facts`] is the same as without it.
    pub fn without_details() -> Self {
        HttpInspector {
            exchanges: ExchangeLog::facts_only(),
            ..Self::new()
        }
    }

    /// The exchanges kept (all of them unless the connection carried more
    /// than a thousand: then the first and the most recent, see
    /// [`HttpInspector::exchanges_omitted`]; without the finished ones if
    /// built [`HttpInspector::without_details`]).
    pub fn exchanges(&self) -> &[Exchange] {
        self.exchanges.as_slice()
    }
    /// The exchanges kept ([`HttpInspector::exchanges`]), moved out.
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        self.exchanges.take_items()
    }
    /// What the analysis reads of every exchange kept, in order.
    pub fn facts(&self) -> Vec<Facts> {
        self.exchanges.facts()
    }
    /// The Host of the first exchange kept that has one.
    pub fn first_host(&self) -> Option<&str> {
        self.exchanges.first_host()
    }
    /// Exchanges counted but whose details were dropped to bound memory.
    pub fn exchanges_omitted(&self) -> usize {
        self.exchanges.omitted()
    }
    /// Of those, requests dropped while still awaiting a response (a
    /// direction that went unanswered past [`UNANSWERED_KEPT`] requests).
    pub fn exchanges_omitted_unanswered(&self) -> usize {
        self.exchanges.unanswered_omitted()
    }
    /// The oldest exchange still in use (pending, held, or with a body in
    /// progress): nothing from it on may be dropped.
    fn busy_floor(&self) -> usize {
        self.pending
            .front()
            .unwrap_or(usize::MAX)
            .min(self.busy_floor_but_pending())
    }
    /// The same, leaving out requests that only await their response.
    fn busy_floor_but_pending(&self) -> usize {
        let mut floor = usize::MAX;
        if let Some(r) = self.replaying {
            floor = floor.min(r);
        }
        for side in &self.sides {
            if let Phase::Body { ex, .. } | Phase::Hold { ex } = side.phase {
                floor = floor.min(ex);
            }
        }
        if let Some(sw) = &self.switched {
            floor = floor.min(sw.exchange);
        }
        floor.min(self.exchanges.len())
    }
    fn compact(&mut self) {
        let floor = self.busy_floor();
        self.exchanges.condense(floor);
        self.exchanges.compact(floor);
        if self.pending.len() > UNANSWERED_KEPT {
            let floor = self.busy_floor_but_pending();
            self.exchanges.compact_unanswered(floor);
        }
    }
    /// Request heads seen (pipelined requests counted individually).
    pub fn requests(&self) -> u32 {
        self.requests
    }
    /// Final response heads seen (101 counts: it is the final answer to its request).
    pub fn responses(&self) -> u32 {
        self.responses
    }
    /// Interim 1xx heads seen (101 excluded).
    /// Malformed messages, counted or skipped (each also warned).
    pub fn malformed_messages(&self) -> u32 {
        self.malformed
    }

    pub fn interim_responses(&self) -> u32 {
        self.interim
    }
    /// Most requests outstanding at once (sequential keep-alive = 1, none = 0).
    pub fn max_pipeline_depth(&self) -> u32 {
        self.max_depth
    }
    /// "1.0", "1.1" or "mixed" over all message heads seen.
    pub fn http_version(&self) -> Option<&'static str> {
        match self.versions {
            0 => None,
            1 => Some("1.0"),
            2 => Some("1.1"),
            _ => Some("mixed"),
        }
    }
    /// The version the client's requests (`ClientToServer`) or the server's
    /// responses spoke: "1.0", "1.1" or "mixed".
    pub fn side_version(&self, dir: Direction) -> Option<&'static str> {
        match self.side_versions[dir.index()] {
            0 => None,
            1 => Some("1.0"),
            2 => Some("1.1"),
            _ => Some("mixed"),
        }
    }
    /// Last Keep-Alive parameters announced by the server.
    pub fn keep_alive(&self) -> Option<KeepAliveParams> {
        self.keep_alive
    }
    pub fn switched(&self) -> Option<&Switch> {
        self.switched.as_ref()
    }
    /// Bytes of `dir` held after the protocol switch point (emptied by the call).
    pub fn drain_tunnel(&mut self, dir: Direction) -> Vec<u8> {
        std::mem::take(&mut self.sides[dir.index()].tunnel)
    }
    /// At least one valid HTTP/1.x message head was seen.
    pub fn is_http(&self) -> bool {
        self.saw_http
    }
    /// The warnings as users read them (a closing line says how many more
    /// than [`MAX_WARNINGS`] there were).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lines()
    }
    /// The warnings kept, typed.
    pub fn warning_kinds(&self) -> &[W] {
        self.warnings.kept()
    }

    fn warn(&mut self, w: W) {
        self.warnings.push(w);
    }
    /// The label of exchange `ex`, as warnings name it.
    fn label(&self, ex: usize) -> String {
        self.exchanges[ex].label(ex)
    }
    /// Request or response `dir` of exchange `ex`, as warnings name it.
    fn of(&self, dir: Direction, ex: usize) -> Of {
        Of {
            dir,
            label: self.label(ex),
        }
    }

    /// In-order bytes of one direction.
    pub fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        let d = dir.index();
        let mut rest = data;
        let mut stalls = 0;
        while !rest.is_empty() {
            let n = match self.sides[d].phase {
                Phase::Head => self.feed_head(dir, ts, rest),
                Phase::Body { .. } => self.feed_body(dir, ts, rest),
                Phase::Hold { .. } => self.feed_hold(ts, rest),
                Phase::Lost => self.feed_lost(dir, ts, rest),
                Phase::Tunnel => self.feed_tunnel(dir, rest),
                Phase::Closed => {
                    if !self.sides[d].closed_data_warned {
                        self.sides[d].closed_data_warned = true;
                        self.warn(W::DataAfterClose {
                            dir,
                            bytes: rest.len(),
                            after_finish: self.finished,
                        });
                    }
                    rest.len()
                }
            };
            if n == 0 {
                // Every zero-length step changes phase; guard against a bug looping forever.
                stalls += 1;
                if stalls > 8 {
                    self.warn(W::NoProgress {
                        dir,
                        dropped: rest.len(),
                    });
                    return;
                }
            } else {
                stalls = 0;
            }
            rest = &rest[n.min(rest.len())..];
        }
    }

    fn plausible(dir: Direction, b: &[u8]) -> Option<bool> {
        match dir {
            Direction::ClientToServer => parser::looks_like_http_request(b),
            Direction::ServerToClient => parser::looks_like_http_response(b),
        }
    }

    fn not_http(&mut self, dir: Direction, ts: Timestamp, b: &[u8]) {
        self.malformed += 1;
        self.lose_sync(dir, ts, false);
        let got = escape(b, 40);
        self.warn(W::NotAMessageStart { dir, got });
    }

    fn feed_head(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) -> usize {
        let d = dir.index();
        if self.sides[d].buf.is_empty() {
            // Empty lines between messages are tolerated (RFC 9112 §2.2).
            let skip = data
                .iter()
                .take_while(|&&c| c == b'\r' || c == b'\n')
                .count();
            if skip > 0 {
                return skip;
            }
            if let Some(end) = self.whole_head(dir, data, ts) {
                return end;
            }
            let plausible = Self::plausible(dir, data);
            if plausible == Some(false) {
                self.not_http(dir, ts, data);
                return 0;
            }
            match parser::find_head_end(data, 0) {
                Ok(end) => {
                    self.handle_head(dir, &data[..end], ts, ts);
                    end
                }
                Err(scan) => {
                    if data.len() >= MAX_HEAD {
                        self.head_too_long(dir, ts, data);
                        return 0;
                    }
                    let side = &mut self.sides[d];
                    side.buf.extend_from_slice(data);
                    side.scan_from = scan;
                    side.buf_ts = ts;
                    side.head_plausible = plausible == Some(true);
                    data.len()
                }
            }
        } else {
            let side = &mut self.sides[d];
            let old = side.buf.len();
            let take = data.len().min(MAX_HEAD.saturating_sub(old));
            side.buf.extend_from_slice(&data[..take]);
            if !side.head_plausible {
                match Self::plausible(dir, &side.buf) {
                    Some(true) => side.head_plausible = true,
                    Some(false) => {
                        // Rescan the buffered bytes: a message may start on a later line.
                        let buf = std::mem::take(&mut side.buf);
                        self.not_http(dir, ts, &buf);
                        self.on_data(dir, ts, &buf);
                        return take;
                    }
                    None => {}
                }
            }
            let side = &mut self.sides[d];
            match parser::find_head_end(&side.buf, side.scan_from) {
                Ok(end) => {
                    let mut buf = std::mem::take(&mut side.buf);
                    let start_ts = side.buf_ts;
                    side.scan_from = 0;
                    side.head_plausible = false;
                    self.handle_head(dir, &buf[..end], start_ts, ts);
                    buf.clear();
                    if self.sides[d].buf.is_empty() {
                        self.sides[d].buf = buf; // keep the allocation
                    }
                    end.saturating_sub(old).min(take)
                }
                Err(scan) => {
                    side.scan_from = scan;
                    if side.buf.len() >= MAX_HEAD {
                        let buf = std::mem::take(&mut side.buf);
                        self.head_too_long(dir, ts, &buf);
                    }
                    take
                }
            }
        }
    }

    fn head_too_long(&mut self, dir: Direction, ts: Timestamp, b: &[u8]) {
        self.malformed += 1;
        let lost = self.lose_sync(dir, ts, true);
        let start = escape(b, 40);
        self.warn(W::HeadTooLong { dir, start, lost });
    }

    /// A well-formed head held whole by `data` (nearly every head), parsed in
    /// one pass that also finds its end: where [`parser::find_head_end`]
    /// finds it, and a head that parses is plausible (issue 14). None: `data`
    /// is left to the checks of [`Self::feed_head`].
    fn whole_head(&mut self, dir: Direction, data: &[u8], ts: Timestamp) -> Option<usize> {
        let d = dir.index();
        if dir == C2S {
            self.head[0].skip_host = self.exchanges.host_settled();
        }
        #[cfg(test)]
        let memo = self.memo.as_mut().filter(|_| !self.no_memo);
        #[cfg(not(test))]
        let memo = self.memo.as_mut();
        if let Some(memo) = memo {
            let m = &mut memo[d];
            if let (Some(end), Some(version)) = (m.hit(data, self.head[d].skip_host), m.version) {
                m.misses = 0;
                #[cfg(test)]
                {
                    self.memo_hits += 1;
                }
                if !m.fresh {
                    self.head[d].copy_from(&m.headers);
                    m.fresh = true;
                }
                let [a, b, c] = m.span.map(|x| x as usize);
                let status = m.status;
                match dir {
                    Direction::ClientToServer => {
                        let (method, target) = (&data[..a], &data[b..c]);
                        let kept = m.target.clone();
                        let line = RequestLine {
                            method,
                            target,
                            version,
                        };
                        self.on_request_head(line, kept, ts, ts, None);
                    }
                    Direction::ServerToClient => {
                        let reason = &data[b..c];
                        let line = StatusLine {
                            version,
                            status,
                            reason,
                        };
                        self.on_response_head(line, end as u64, ts, ts, None);
                    }
                }
                return Some(end);
            }
        }
        let at = |s: &[u8]| s.as_ptr() as usize - data.as_ptr() as usize;
        self.parsing(d);
        match dir {
            Direction::ClientToServer => {
                let (rest, line) = parser::request_head_into(data, &mut self.head[0]).ok()?;
                let end = data.len() - rest.len();
                if self.requests > 0 && end <= MEMO_MAX {
                    let span = [
                        line.method.len(),
                        at(line.target),
                        at(line.target) + line.target.len(),
                    ];
                    self.remember(d, &data[..end], span, line.version, 0);
                }
                let target = text(line.target);
                self.on_request_head(line, target, ts, ts, None);
                Some(end)
            }
            Direction::ServerToClient => {
                let (rest, line) = parser::response_head_into(data, &mut self.head[1]).ok()?;
                let end = data.len() - rest.len();
                if self.responses + self.interim > 0 && end <= MEMO_MAX {
                    let span = [0, at(line.reason), at(line.reason) + line.reason.len()];
                    self.remember(d, &data[..end], span, line.version, line.status);
                }
                self.on_response_head(line, end as u64, ts, ts, None);
                Some(end)
            }
        }
    }

    /// `self.head[d]` is about to be written: no longer the memo's.
    #[inline]
    fn parsing(&mut self, d: usize) {
        if let Some(memo) = &mut self.memo {
            memo[d].fresh = false;
        }
    }

    /// Keeps `head`, just parsed into `self.head[d]`, as direction `d`'s memo
    /// (unless heads keep missing it).
    fn remember(
        &mut self,
        d: usize,
        head: &[u8],
        span: [usize; 3],
        version: HttpVersion,
        status: u16,
    ) {
        let m = &mut self.memo.get_or_insert_with(Default::default)[d];
        if m.refresh() {
            m.keep(head, &self.head[d], span, version, status);
        }
    }

    fn handle_head(&mut self, dir: Direction, head: &[u8], start_ts: Timestamp, end_ts: Timestamp) {
        self.parsing(dir.index());
        match dir {
            Direction::ClientToServer => {
                self.head[0].skip_host = self.exchanges.host_settled();
                match parser::request_head_into(head, &mut self.head[0]) {
                    Ok((_, line)) => {
                        let target = text(line.target);
                        self.on_request_head(line, target, start_ts, end_ts, None)
                    }
                    Err(_) => self.bad_head(dir, end_ts, head),
                }
            }
            Direction::ServerToClient => {
                match parser::response_head_into(head, &mut self.head[1]) {
                    Ok((_, line)) => {
                        self.on_response_head(line, head.len() as u64, start_ts, end_ts, None)
                    }
                    Err(_) => self.bad_head(dir, end_ts, head),
                }
            }
        }
    }

    fn bad_head(&mut self, dir: Direction, ts: Timestamp, head: &[u8]) {
        self.malformed += 1;
        let lost = self.lose_sync(dir, ts, true);
        let head = escape(head, 60);
        self.warn(W::MalformedHead { dir, head, lost });
    }

    fn note_version(&mut self, dir: Direction, v: HttpVersion) {
        let bit = match v {
            HttpVersion::Http10 => 1,
            HttpVersion::Http11 => 2,
        };
        self.versions |= bit;
        self.side_versions[dir.index()] |= bit;
    }

    /// A request head: its start line `line` (its target as kept:
    /// `target`), its header section in `self.head[0]`.
    fn on_request_head(
        &mut self,
        line: RequestLine<'_>,
        target: CompactString,
        start_ts: Timestamp,
        end_ts: Timestamp,
        cut: Option<Cut>,
    ) {
        self.saw_http = true;
        self.requests += 1;
        self.note_version(Direction::ClientToServer, line.version);
        let idx = self.exchanges.len();
        // Replayed held bytes were sent while the held-for exchange was still
        // outstanding, even if its response has completed since.
        let bonus = match self.replaying {
            Some(held) if !self.exchanges[held].outstanding => 1,
            _ => 0,
        };
        let pipelined = self.outstanding + bonus > 0;
        self.outstanding += 1;
        self.max_depth = self.max_depth.max(self.outstanding + bonus);
        let h = &self.head[0];
        let framing = framing::request(BodyHeaders::of(h));
        // Filled in place: an exchange built apart is copied into the log.
        let ex = self.exchanges.push_new();
        ex.target = Some(target);
        ex.request.version = Some(line.version);
        ex.request.set_time(start_ts);
        ex.pipelined = pipelined;
        ex.outstanding = true;
        ex.set_method(line.method);
        ex.host = h.host.clone();
        let has_host = ex.host.is_some();
        ex.set_connection_from(C2S, h);
        ex.request.keep_alive = h.keep_alive.clone();
        if h.upgrade.is_some() || h.expect.is_some() {
            let x = ex.rare_mut();
            x.upgrade = h.upgrade.clone();
            x.expect = h.expect.clone();
        }
        ex.request.framing = Some(framing.public().unwrap_or(Framing::None));
        // Labels are built only for warnings: formatting them for every
        // exchange was a measurable share of the whole pipeline.
        if !h.issues.is_empty() {
            let label = ex.label(idx);
            for issue in self.head[0].issues.clone() {
                let of = Of {
                    dir: C2S,
                    label: label.clone(),
                };
                self.warn(W::HeaderIssue { of, issue });
            }
        }
        if parser::has_control(line.target) {
            self.malformed += 1;
            self.warn(W::ControlInTarget {
                exchange: idx + 1,
                target: escape(line.target, 60),
            });
        }
        if has_host {
            self.exchanges.note_host(idx);
        }
        self.pending.push_back(idx);
        self.compact();
        if let Some(cut) = cut {
            let body = match framing {
                BodyFraming::NoBody => Some(0),
                BodyFraming::ContentLength(n) => Some(n),
                _ => None,
            };
            let e = &self.exchanges[idx];
            // A CONNECT/Upgrade request may be followed by tunnel bytes: never assume sync.
            let may_switch = e.may_switch();
            let body = body.filter(|_| !may_switch);
            self.cut_message(C2S, idx, self.head[0].field_count, body, cut, end_ts);
            return;
        }
        self.frame_request(idx, framing, end_ts);
    }

    /// Starts the body of request `idx` (or completes it) as `framing` says.
    /// (An unframeable body's warning quotes the header from `self.head[0]`.)
    fn frame_request(&mut self, idx: usize, framing: BodyFraming, end_ts: Timestamp) {
        match framing {
            BodyFraming::Chunked { cl_ignored } => {
                if cl_ignored {
                    let of = self.of(C2S, idx);
                    self.warn(W::BothTeAndCl { of });
                }
                self.start_body(C2S, idx, BodyKind::Chunked(ChunkedDecoder::new()), end_ts);
            }
            BodyFraming::ContentLength(n) if n > 0 => self.start_body(
                C2S,
                idx,
                BodyKind::Length {
                    remaining: n,
                    total: n,
                },
                end_ts,
            ),
            BodyFraming::Invalid(why) => {
                let h = &self.head[0];
                let value = match why {
                    Unframeable::TeNotChunked => h.transfer_encoding.as_deref(),
                    Unframeable::BadContentLength => h.content_length_raw.as_deref(),
                };
                let value = value.unwrap_or("").to_owned();
                let label = self.label(idx);
                self.lose_sync(C2S, end_ts, false);
                self.warn(W::UnframeableRequest { label, why, value });
            }
            _ => self.request_done(idx, end_ts),
        }
    }

    fn start_body(&mut self, dir: Direction, ex: usize, kind: BodyKind, ts: Timestamp) {
        let side = &mut self.sides[dir.index()];
        side.body_ts = ts;
        side.phase = Phase::Body { ex, kind };
    }

    fn request_done(&mut self, ex: usize, ts: Timestamp) {
        let e = &mut self.exchanges[ex];
        e.request.complete = true;
        e.request.set_end(ts);
        let may_switch = e.may_switch();
        let decided = e.status.is_some();
        let side = &mut self.sides[0];
        if side.tunnel_after_body {
            side.tunnel_after_body = false;
            side.phase = Phase::Tunnel;
        } else if may_switch && !decided && self.switched.is_none() {
            side.phase = Phase::Hold { ex };
            side.buf.clear();
            side.hold.clear();
        } else {
            side.phase = Phase::Head;
        }
    }

    /// A response head: its status line `line`, its header section in
    /// `self.head[1]`.
    fn on_response_head(
        &mut self,
        line: StatusLine<'_>,
        head_len: u64,
        start_ts: Timestamp,
        end_ts: Timestamp,
        cut: Option<Cut>,
    ) {
        self.saw_http = true;
        self.note_version(Direction::ServerToClient, line.version);
        let status = line.status;
        if let Some(ka) = &self.head[1].keep_alive {
            self.keep_alive = Some(KeepAliveParams::parse(ka));
        }
        if (100..200).contains(&status) && status != 101 {
            self.on_interim_head(status, end_ts, cut);
            return;
        }
        self.responses += 1;
        let idx = match self.pending.pop_front() {
            Some(ex) => ex,
            None => {
                let idx = self.exchanges.len();
                self.exchanges.push(Exchange::default());
                self.warn(W::UnmatchedResponse {
                    status,
                    exchange: idx + 1,
                });
                idx
            }
        };
        if !self.head[1].issues.is_empty() {
            for issue in self.head[1].issues.clone() {
                let of = self.of(S2C, idx);
                self.warn(W::HeaderIssue { of, issue });
            }
        }
        let version = line.version;
        let e = &mut self.exchanges[idx];
        e.status = Some(status);
        e.set_reason(line.reason);
        e.response.version = Some(version);
        e.response.set_time(start_ts);
        e.response_wire_bytes = head_len;
        let h = &self.head[1];
        let framing = framing::response(e.method(), status, BodyHeaders::of(h));
        // The Upgrade protocol: the response's, else the request's.
        let protocol = match framing {
            BodyFraming::Upgrade => h
                .upgrade
                .clone()
                .or_else(|| e.rare().upgrade.clone())
                .map(String::from),
            _ => None,
        };
        e.set_connection_from(S2C, h);
        e.response.keep_alive = h.keep_alive.clone();
        if h.transfer_encoding.is_some() || h.content_encoding.is_some() {
            let x = e.rare_mut();
            x.transfer_encoding = h.transfer_encoding.clone();
            x.content_encoding = h.content_encoding.clone();
        }
        match cut {
            Some(cut) => {
                let fields = h.field_count;
                self.cut_response(idx, status, framing, protocol, fields, cut, end_ts)
            }
            None => self.frame_response(idx, version, framing, protocol, end_ts),
        }
        // A final response that does not switch protocols: client bytes held
        // after a CONNECT/Upgrade request are HTTP after all.
        if matches!(self.sides[0].phase, Phase::Hold { ex } if ex == idx) {
            self.release_hold();
        }
    }

    /// An interim (1xx, not 101) response head: noted on the oldest pending exchange.
    /// (Its header section is in `self.head[1]`.)
    fn on_interim_head(&mut self, status: u16, end_ts: Timestamp, cut: Option<Cut>) {
        self.interim += 1;
        match self.pending.front() {
            Some(ex) => self.exchanges[ex].rare_mut().interim_statuses.push(status),
            None => self.warn(W::InterimWithoutRequest { status }),
        }
        for issue in self.head[1].issues.clone() {
            self.warn(W::InterimHeaderIssue { status, issue });
        }
        if let Some(cut) = cut {
            self.cut_interim(status, self.head[1].field_count, cut, end_ts);
        }
    }

    /// A final response head of exchange `idx` cut by a capture gap.
    #[allow(clippy::too_many_arguments)]
    fn cut_response(
        &mut self,
        idx: usize,
        status: u16,
        framing: BodyFraming,
        protocol: Option<String>,
        fields: u32,
        cut: Cut,
        end_ts: Timestamp,
    ) {
        // Only what the captured header lines say: a lost line may hold
        // more, so a response without framing headers is not until-close.
        let e = &mut self.exchanges[idx];
        e.response.framing = match framing {
            BodyFraming::UntilClose => None,
            f => f.public(),
        };
        let kind = match framing {
            BodyFraming::Upgrade => "upgrade",
            BodyFraming::Tunnel => "connect",
            _ => {
                let body = match framing {
                    BodyFraming::NoBody => Some(0),
                    BodyFraming::ContentLength(n) => Some(n),
                    _ => None,
                };
                self.cut_message(S2C, idx, fields, body, cut, end_ts);
                return;
            }
        };
        e.add_gap_bytes(S2C, cut.missing);
        self.abandon_response(idx);
        self.warn(W::CutSwitch {
            label: self.label(idx),
            status,
            missing: cut.missing,
            captured: cut.captured,
            fields,
        });
        self.do_switch(idx, kind, protocol, end_ts);
    }

    /// Completes the final response of exchange `idx`, starts its body, or
    /// switches protocols, as `framing` says.
    fn frame_response(
        &mut self,
        idx: usize,
        version: HttpVersion,
        framing: BodyFraming,
        protocol: Option<String>,
        end_ts: Timestamp,
    ) {
        self.exchanges[idx].response.framing = framing.public();
        match framing {
            BodyFraming::Upgrade => {
                self.response_done(idx, end_ts);
                self.do_switch(idx, "upgrade", protocol, end_ts);
            }
            BodyFraming::Tunnel => {
                self.response_done(idx, end_ts);
                self.do_switch(idx, "connect", None, end_ts);
            }
            BodyFraming::NoBody | BodyFraming::ContentLength(0) => self.response_done(idx, end_ts),
            BodyFraming::Chunked { cl_ignored } | BodyFraming::TeUntilClose { cl_ignored } => {
                // Labels only for warnings (a chunked response is common).
                if cl_ignored {
                    let of = self.of(S2C, idx);
                    self.warn(W::BothTeAndCl { of });
                }
                if version == HttpVersion::Http10 {
                    let label = self.label(idx);
                    self.warn(W::TeInHttp10 { label });
                }
                if let BodyFraming::Chunked { .. } = framing {
                    self.start_body(S2C, idx, BodyKind::Chunked(ChunkedDecoder::new()), end_ts);
                } else {
                    let te = self.exchanges[idx]
                        .rare()
                        .transfer_encoding
                        .clone()
                        .unwrap_or_default();
                    let label = self.label(idx);
                    self.warn(W::TeNotChunked {
                        label,
                        te: te.into(),
                    });
                    self.start_body(S2C, idx, BodyKind::UntilClose, end_ts);
                }
            }
            BodyFraming::ContentLength(n) => self.start_body(
                S2C,
                idx,
                BodyKind::Length {
                    remaining: n,
                    total: n,
                },
                end_ts,
            ),
            BodyFraming::UntilClose => self.start_body(S2C, idx, BodyKind::UntilClose, end_ts),
            BodyFraming::Invalid(_) => {
                // The raw value, before anything can parse another head.
                let raw = self.head[1].content_length_raw.as_deref();
                let raw = raw.unwrap_or_default().to_owned();
                self.abandon_response(idx);
                let label = self.label(idx);
                self.lose_sync(S2C, end_ts, false);
                self.warn(W::BadResponseContentLength { label, raw });
            }
        }
    }

    /// A message head of exchange `ex` was cut by a capture gap after its start
    /// line: it is counted (by the caller) but incomplete. `body`: the body
    /// length the captured headers announce, if they frame it. If the gap can
    /// hold the rest of the head and that body, the next byte is expected to
    /// start the next message; otherwise scan for it.
    fn cut_message(
        &mut self,
        dir: Direction,
        ex: usize,
        fields: u32,
        body: Option<u64>,
        cut: Cut,
        ts: Timestamp,
    ) {
        self.exchanges[ex].add_gap_bytes(dir, cut.missing);
        let of = self.of(dir, ex);
        if dir == S2C {
            self.abandon_response(ex);
        }
        let then = match body {
            Some(n) if cut.missing >= n.saturating_add(cut.min_missing) => {
                let e = &mut self.exchanges[ex];
                e.message_mut(dir).body_bytes = n;
                if dir == S2C {
                    e.response_wire_bytes += cut.missing;
                }
                let side = &mut self.sides[dir.index()];
                side.phase = Phase::Head;
                side.buf.clear();
                side.scan_from = 0;
                side.head_plausible = false;
                CutThen::InSync(n)
            }
            Some(n) => CutThen::BodyPastGap(n),
            None => CutThen::Unframed,
        };
        if !matches!(then, CutThen::InSync(_)) {
            self.lose_sync(dir, ts, false);
            self.sides[dir.index()].line_start = true;
        }
        self.warn(W::CutHead {
            of,
            missing: cut.missing,
            captured: cut.captured,
            fields,
            then,
        });
    }

    /// An interim (1xx) response head cut after its status line: it has no body.
    fn cut_interim(&mut self, status: u16, fields: u32, cut: Cut, ts: Timestamp) {
        let in_sync = cut.missing >= cut.min_missing;
        if in_sync {
            let side = &mut self.sides[1];
            side.buf.clear();
            side.scan_from = 0;
            side.head_plausible = false;
        } else {
            self.lose_sync(S2C, ts, false);
            self.sides[1].line_start = true;
        }
        self.warn(W::CutInterim {
            status,
            missing: cut.missing,
            captured: cut.captured,
            fields,
            in_sync,
        });
    }

    fn response_done(&mut self, ex: usize, ts: Timestamp) {
        let e = &mut self.exchanges[ex];
        e.response.complete = true;
        e.response.set_end(ts);
        if e.outstanding {
            e.outstanding = false;
            self.outstanding -= 1;
        }
        self.sides[1].phase = Phase::Head;
    }

    /// The response of `ex` will never complete: stop counting it as outstanding.
    fn abandon_response(&mut self, ex: usize) {
        let e = &mut self.exchanges[ex];
        if e.outstanding {
            e.outstanding = false;
            self.outstanding -= 1;
        }
    }

    fn do_switch(
        &mut self,
        ex: usize,
        kind: &'static str,
        protocol: Option<String>,
        at: Timestamp,
    ) {
        let target = if kind == "connect" {
            self.exchanges[ex].target.as_deref().map(str::to_owned)
        } else {
            None
        };
        self.switched = Some(Switch {
            kind,
            protocol,
            at,
            exchange: ex,
            target,
        });
        self.sides[1].phase = Phase::Tunnel;
        let label = self.exchanges[ex].label(ex);
        let client = &mut self.sides[0];
        let phase = std::mem::replace(&mut client.phase, Phase::Tunnel);
        match phase {
            Phase::Hold { .. } => {
                let gaps: u64 = client
                    .hold
                    .iter()
                    .map(|s| match s {
                        HoldSeg::Gap { missing, .. } => *missing,
                        HoldSeg::Data { .. } => 0,
                    })
                    .sum();
                client.hold.clear();
                client.tunnel = std::mem::take(&mut client.buf);
                if gaps > 0 {
                    self.warn(W::TunnelGapBeforeSwitch { bytes: gaps });
                }
            }
            Phase::Head if client.buf.is_empty() => {}
            Phase::Head => {
                client.tunnel = std::mem::take(&mut client.buf);
                let bytes = client.tunnel.len();
                self.warn(W::UnfinishedHeadAtSwitch { bytes, label });
            }
            Phase::Body { ex: b, kind } if b == ex => {
                client.phase = Phase::Body { ex: b, kind };
                client.tunnel_after_body = true;
            }
            Phase::Body { ex: b, .. } => {
                let other = self.label(b);
                self.warn(W::BodyAtSwitch { other, label });
            }
            Phase::Lost => {
                client.buf.clear();
                self.warn(W::LostAtSwitch { label });
            }
            Phase::Tunnel => {}
            Phase::Closed => client.phase = Phase::Closed,
        }
        if !self.pending.is_empty() {
            let requests = self.pending.len();
            let label = self.label(ex);
            self.warn(W::PipelinedPastSwitch { requests, label });
        }
    }

    fn release_hold(&mut self) {
        let side = &mut self.sides[0];
        let held_for = match side.phase {
            Phase::Hold { ex } => Some(ex),
            _ => None,
        };
        side.phase = Phase::Head;
        side.scan_from = 0;
        side.head_plausible = false;
        let buf = std::mem::take(&mut side.buf);
        let segs = std::mem::take(&mut side.hold);
        let outer = std::mem::replace(&mut self.replaying, held_for);
        for seg in segs {
            match seg {
                HoldSeg::Data { start, end, ts } => self.on_data(C2S, ts, &buf[start..end]),
                HoldSeg::Gap { missing, ts } => self.on_gap(C2S, ts, missing),
            }
        }
        self.replaying = outer;
    }

    fn feed_hold(&mut self, ts: Timestamp, data: &[u8]) -> usize {
        let side = &mut self.sides[0];
        let start = side.buf.len();
        side.buf.extend_from_slice(data);
        side.hold.push(HoldSeg::Data {
            start,
            end: side.buf.len(),
            ts,
        });
        if side.buf.len() > MAX_HOLD {
            let bytes = side.buf.len();
            self.warn(W::HoldOverflow { bytes });
            self.release_hold();
        }
        data.len()
    }

    fn feed_tunnel(&mut self, dir: Direction, data: &[u8]) -> usize {
        let side = &mut self.sides[dir.index()];
        let room = MAX_TUNNEL.saturating_sub(side.tunnel.len());
        let take = data.len().min(room);
        side.tunnel.extend_from_slice(&data[..take]);
        if take < data.len() && !side.tunnel_overflow {
            side.tunnel_overflow = true;
            self.warn(W::TunnelOverflow { dir });
        }
        data.len()
    }

    fn add_body(&mut self, dir: Direction, ex: usize, decoded: u64, wire: u64, ts: Timestamp) {
        self.sides[dir.index()].body_ts = ts;
        let e = &mut self.exchanges[ex];
        e.message_mut(dir).body_bytes += decoded;
        if dir == S2C {
            e.response_wire_bytes += wire;
        }
    }

    fn message_done(&mut self, dir: Direction, ex: usize, ts: Timestamp) {
        match dir {
            Direction::ClientToServer => self.request_done(ex, ts),
            Direction::ServerToClient => self.response_done(ex, ts),
        }
    }

    fn feed_body(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) -> usize {
        let d = dir.index();
        let Phase::Body { ex, kind } = &mut self.sides[d].phase else {
            return 0;
        };
        let ex = *ex;
        match kind {
            BodyKind::Length { remaining, total } => {
                if dir == C2S && *remaining == *total {
                    let e = &self.exchanges[ex];
                    let expect_continue = e
                        .rare()
                        .expect
                        .as_deref()
                        .is_some_and(|x| x.trim().eq_ignore_ascii_case("100-continue"));
                    if expect_continue
                        && e.gap_bytes(C2S) == 0
                        && e.status.is_some_and(|s| s >= 200)
                        && parser::looks_like_http_request(data) == Some(true)
                    {
                        let label = e.label(ex);
                        let status = e.status.unwrap_or_default();
                        let total = *total;
                        self.sides[d].phase = Phase::Head;
                        self.warn(W::ContinueBodyNotSent {
                            label,
                            total,
                            status,
                        });
                        return 0;
                    }
                }
                let n = (*remaining).min(data.len() as u64);
                *remaining -= n;
                let done = *remaining == 0;
                self.add_body(dir, ex, n, n, ts);
                if done {
                    self.message_done(dir, ex, ts);
                }
                n as usize
            }
            BodyKind::UntilClose => {
                let n = data.len() as u64;
                self.add_body(dir, ex, n, n, ts);
                data.len()
            }
            BodyKind::Chunked(dec) => {
                let before = dec.decoded;
                let (n, st) = dec.feed(data);
                let decoded = dec.decoded - before;
                self.add_body(dir, ex, decoded, n as u64, ts);
                match st {
                    ChunkStatus::NeedMore => {}
                    ChunkStatus::Done => self.message_done(dir, ex, ts),
                    ChunkStatus::Error(why) => {
                        let label = self.label(ex);
                        if dir == S2C {
                            self.abandon_response(ex);
                        }
                        self.lose_sync(dir, ts, false);
                        let at = escape(&data[n..], 24);
                        self.warn(W::ChunkError {
                            dir,
                            label,
                            why,
                            at,
                        });
                    }
                }
                n
            }
        }
    }

    fn feed_lost(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) -> usize {
        let d = dir.index();
        let check = |b: &[u8]| match dir {
            Direction::ClientToServer => parser::request_start_strict(b),
            Direction::ServerToClient => parser::looks_like_http_response(b),
        };
        if !self.sides[d].buf.is_empty() {
            // `buf` holds a candidate line start whose first line was incomplete.
            let side = &mut self.sides[d];
            let line = data
                .iter()
                .position(|&c| c == b'\n')
                .map_or(data.len(), |p| p + 1);
            let room = MAX_HEAD.saturating_sub(side.buf.len());
            let take = line.min(room);
            side.buf.extend_from_slice(&data[..take]);
            let verdict = match check(&side.buf) {
                None if take < line || side.buf.len() >= MAX_HEAD => Some(false),
                v => v,
            };
            match verdict {
                Some(true) => {
                    let skipped = side.skipped;
                    side.phase = Phase::Head;
                    side.scan_from = 0;
                    side.head_plausible = true;
                    let first = side.buf.clone();
                    self.resynced(dir, skipped, &first);
                }
                Some(false) => {
                    side.skipped += side.buf.len() as u64;
                    side.buf.clear();
                    side.line_start = take > 0 && data[take - 1] == b'\n';
                }
                None => {}
            }
            return take;
        }
        // Scan line by line: a candidate at each line start, then candidates
        // embedded mid-line (a body that did not end in a newline).
        let n = data.len();
        let mut at_line_start = self.sides[d].line_start;
        let mut s = 0;
        while s < n {
            let e = data[s..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(n, |k| s + k + 1);
            let mut found = None;
            if at_line_start {
                match check(&data[s..]) {
                    Some(false) => {}
                    v => found = Some((s, v)),
                }
            }
            if found.is_none() {
                let from = if at_line_start { s + 1 } else { s };
                found = match dir {
                    Direction::ClientToServer => parser::embedded_request_start(data, from, e),
                    Direction::ServerToClient => parser::embedded_response_start(data, from, e),
                };
            }
            match found {
                Some((p, Some(true))) => {
                    let side = &mut self.sides[d];
                    side.skipped += p as u64;
                    let skipped = side.skipped;
                    side.phase = Phase::Head;
                    side.line_start = false;
                    self.resynced(dir, skipped, &data[p..]);
                    return p;
                }
                Some((p, _)) => {
                    // Plausible but incomplete: hold it until its first line is complete.
                    let side = &mut self.sides[d];
                    side.skipped += p as u64;
                    side.buf.extend_from_slice(&data[p..]);
                    side.buf_ts = ts;
                    return n;
                }
                None => {}
            }
            s = e;
            at_line_start = true;
        }
        let side = &mut self.sides[d];
        side.skipped += n as u64;
        side.line_start = data.last() == Some(&b'\n');
        n
    }

    fn resynced(&mut self, dir: Direction, skipped: u64, at: &[u8]) {
        let line_end = at
            .iter()
            .position(|&c| c == b'\r' || c == b'\n')
            .unwrap_or(at.len());
        self.sides[dir.index()].skipped = 0;
        self.warn(W::Resynced {
            dir,
            at: escape(&at[..line_end], 60),
            skipped,
        });
    }

    /// Enters the Lost phase (the caller warns). `message_lost`: a message is
    /// known to have started in the lost region; keep FIFO matching aligned
    /// (client: add a placeholder request; server: the oldest pending
    /// request's response is lost), and say which for the warning.
    fn lose_sync(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        message_lost: bool,
    ) -> Option<LostMessage> {
        let d = dir.index();
        let side = &mut self.sides[d];
        side.phase = Phase::Lost;
        side.buf.clear();
        side.scan_from = 0;
        side.head_plausible = false;
        side.line_start = false;
        side.skipped = 0;
        let _ = ts;
        if !(message_lost && self.saw_http) {
            return None;
        }
        match dir {
            Direction::ClientToServer => {
                let idx = self.exchanges.len();
                self.exchanges.push(Exchange {
                    pipelined: self.outstanding > 0,
                    outstanding: true,
                    ..Exchange::default()
                });
                self.outstanding += 1;
                self.max_depth = self.max_depth.max(self.outstanding);
                self.pending.push_back(idx);
                Some(LostMessage::Placeholder(idx + 1))
            }
            Direction::ServerToClient => {
                let ex = self.pending.pop_front()?;
                self.abandon_response(ex);
                Some(LostMessage::Response(self.label(ex)))
            }
        }
    }

    /// `missing` bytes of `dir` were never captured.
    pub fn on_gap(&mut self, dir: Direction, ts: Timestamp, missing: u64) {
        if missing == 0 {
            return;
        }
        let d = dir.index();
        match self.sides[d].phase {
            Phase::Head => {
                let buf = std::mem::take(&mut self.sides[d].buf);
                if self.cut_head(dir, &buf, ts, missing) {
                    return;
                }
                // The start line was cut (or malformed): the message is lost.
                let lost = self.lose_sync(dir, ts, true);
                self.sides[d].line_start = true;
                self.warn(if buf.is_empty() {
                    W::GapForHead { dir, missing, lost }
                } else {
                    let head = escape(&buf, 40);
                    W::GapInHead {
                        dir,
                        missing,
                        head,
                        lost,
                    }
                });
            }
            Phase::Body { ex, .. } => self.gap_in_body(dir, ex, ts, missing),
            Phase::Hold { ex } => {
                self.sides[d].hold.push(HoldSeg::Gap { missing, ts });
                let label = self.label(ex);
                self.warn(W::GapInHold { missing, label });
            }
            Phase::Lost => {
                let side = &mut self.sides[d];
                side.skipped += missing + side.buf.len() as u64;
                side.buf.clear();
                side.line_start = true;
            }
            Phase::Tunnel => self.warn(W::GapInTunnel { dir, missing }),
            Phase::Closed => {}
        }
    }

    /// A gap of `missing` bytes in the body of exchange `ex` in progress on `dir`.
    fn gap_in_body(&mut self, dir: Direction, ex: usize, ts: Timestamp, missing: u64) {
        let d = dir.index();
        let label = self.label(ex);
        let Phase::Body { kind, .. } = &mut self.sides[d].phase else {
            return;
        };
        match kind {
            BodyKind::Length { remaining, .. } => {
                let rem = *remaining;
                let within = missing.min(rem);
                *remaining -= within;
                self.add_gap(dir, ex, within, ts);
                if missing < rem {
                    let still = rem - missing;
                    self.warn(W::GapInBody {
                        dir,
                        missing,
                        label,
                        still,
                    });
                } else if missing == rem {
                    self.warn(W::GapEndsBody {
                        dir,
                        missing,
                        label,
                    });
                    self.message_done(dir, ex, ts);
                } else {
                    self.message_done(dir, ex, ts);
                    let lost = self.lose_sync(dir, ts, true);
                    self.warn(W::GapPastBody {
                        dir,
                        missing,
                        rest: rem,
                        label,
                        lost,
                    });
                    self.sides[d].line_start = true;
                }
            }
            BodyKind::Chunked(dec) => {
                if dec.skip_gap(missing) {
                    self.add_gap(dir, ex, missing, ts);
                    self.warn(W::GapInChunkData {
                        dir,
                        missing,
                        label,
                    });
                } else {
                    if let Some(r) = dec.data_remaining() {
                        self.add_gap(dir, ex, r, ts);
                    }
                    if dir == S2C {
                        self.abandon_response(ex);
                    }
                    self.lose_sync(dir, ts, false);
                    self.warn(W::GapInChunkFraming {
                        dir,
                        missing,
                        label,
                    });
                    self.sides[d].line_start = true;
                }
            }
            BodyKind::UntilClose => {
                self.add_gap(dir, ex, missing, ts);
                self.warn(W::GapInCloseBody {
                    dir,
                    missing,
                    label,
                });
            }
        }
    }

    /// A gap of `missing` bytes right after `buf`, the unfinished head of
    /// `dir`: if its start line is complete, the message is counted from what
    /// was captured (true); otherwise nothing is done (false).
    fn cut_head(&mut self, dir: Direction, buf: &[u8], ts: Timestamp, missing: u64) -> bool {
        let d = dir.index();
        let start_ts = self.sides[d].buf_ts;
        let captured = buf.len() as u64;
        match dir {
            Direction::ClientToServer => {
                let Ok((rest, line)) = parser::request_line(buf) else {
                    return false;
                };
                let c = parser::cut_header_section(rest);
                let cut = Cut {
                    missing,
                    min_missing: c.min_missing,
                    captured,
                };
                self.parsing(0);
                self.head[0] = c.headers;
                let target = text(line.target);
                self.on_request_head(line, target, start_ts, ts, Some(cut));
            }
            Direction::ServerToClient => {
                let Ok((rest, line)) = parser::status_line(buf) else {
                    return false;
                };
                let c = parser::cut_header_section(rest);
                let cut = Cut {
                    missing,
                    min_missing: c.min_missing,
                    captured,
                };
                self.parsing(1);
                self.head[1] = c.headers;
                self.on_response_head(line, captured, start_ts, ts, Some(cut));
            }
        }
        true
    }

    fn add_gap(&mut self, dir: Direction, ex: usize, n: u64, ts: Timestamp) {
        self.add_body(dir, ex, n, n, ts);
        self.exchanges[ex].add_gap_bytes(dir, n);
    }

    /// The sender of `dir` sent FIN.
    pub fn on_fin(&mut self, dir: Direction, ts: Timestamp) {
        let d = dir.index();
        let phase = std::mem::replace(&mut self.sides[d].phase, Phase::Closed);
        match phase {
            Phase::Body {
                ex,
                kind: BodyKind::UntilClose,
            } => {
                let end = self.sides[d].body_ts;
                self.message_done(dir, ex, end);
                self.sides[d].phase = Phase::Closed;
            }
            Phase::Hold { ex } => {
                // The response still decides what the held bytes are.
                self.sides[d].phase = Phase::Hold { ex };
            }
            Phase::Tunnel => self.sides[d].phase = Phase::Tunnel,
            other => {
                self.sides[d].phase = other;
                self.close_side(dir, ts, Ending::Fin);
            }
        }
    }

    /// Reports whatever `dir` left unfinished and closes it.
    fn close_side(&mut self, dir: Direction, ts: Timestamp, why: Ending) {
        let d = dir.index();
        let phase = std::mem::replace(&mut self.sides[d].phase, Phase::Closed);
        let _ = ts;
        match phase {
            Phase::Head => {
                let buf = std::mem::take(&mut self.sides[d].buf);
                if !buf.is_empty() {
                    self.warn(W::EndInHead {
                        dir,
                        why,
                        bytes: buf.len(),
                        head: escape(&buf, 40),
                    });
                }
            }
            Phase::Body { ex, kind } => {
                let label = self.label(ex);
                if dir == S2C {
                    self.abandon_response(ex);
                }
                match kind {
                    BodyKind::Length { remaining, total } => self.warn(W::EndInLengthBody {
                        dir,
                        why,
                        remaining,
                        total,
                        label,
                    }),
                    BodyKind::Chunked(dec) => self.warn(W::EndInChunkedBody {
                        dir,
                        why,
                        label,
                        decoded: dec.decoded,
                    }),
                    BodyKind::UntilClose => {
                        let end = self.sides[d].body_ts;
                        self.exchanges[ex].response.set_end(end);
                        let bytes = self.exchanges[ex].response.body_bytes;
                        self.warn(W::EndInCloseBody {
                            dir,
                            why,
                            label,
                            bytes,
                        });
                    }
                }
            }
            Phase::Hold { ex } => {
                let label = self.label(ex);
                let bytes = self.sides[d].buf.len();
                self.sides[d].buf.clear();
                self.sides[d].hold.clear();
                if bytes > 0 {
                    self.warn(W::EndInHold { dir, bytes, label });
                }
            }
            Phase::Lost => {
                let side = &mut self.sides[d];
                let bytes = side.skipped + side.buf.len() as u64;
                side.buf.clear();
                side.skipped = 0;
                if bytes > 0 {
                    self.warn(W::EndLost { dir, bytes, why });
                }
            }
            Phase::Tunnel => self.sides[d].phase = Phase::Tunnel,
            Phase::Closed => {}
        }
    }

    /// End of connection or capture: closes out whatever is pending.
    pub fn finish(&mut self, ts: Timestamp) {
        if self.finished {
            return;
        }
        // Held client bytes: no response decided; report them.
        self.close_side(C2S, ts, Ending::EndOfConnection);
        self.close_side(S2C, ts, Ending::EndOfConnection);
        self.finished = true;
        let pending: Vec<usize> = self
            .pending
            .iter()
            .filter(|&ex| !self.exchanges.is_omitted(ex))
            .collect();
        let dropped = self.pending.len() - pending.len();
        if dropped > 0 {
            self.warn(W::UnansweredDropped { requests: dropped });
        }
        for ex in pending {
            let e = &self.exchanges[ex];
            if e.method().is_none() && e.request.time().is_none() {
                continue; // placeholder for a lost request: already reported
            }
            let label = e.label(ex);
            self.warn(W::NeverAnswered { label });
        }
    }
}

#[cfg(test)]
mod cut_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod unanswered_tests;
