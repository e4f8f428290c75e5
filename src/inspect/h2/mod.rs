//! HTTP/2 inspector (h2c, or h2 decrypted inside TLS).
//!
//! [`H2Inspector`] follows the frame layer of one HTTP/2 connection (prior knowledge,
//! `Upgrade: h2c` after a 101, or ALPN `h2` inside decrypted TLS): it counts streams
//! opened by the client, streams answered by the server, frames, resets, GOAWAY and
//! observed stream concurrency, and HPACK-decodes header blocks (RFC 7541, with the
//! `loona-hpack` crate) to report each stream's method, path, authority and status as
//! an exchange. DATA payloads are skipped without copying; header blocks and the few
//! small frames it reads (SETTINGS, GOAWAY) are collected, bounded. Works over arbitrary
//! splits and never panics.

use crate::inspect::http::Exchange;
use crate::inspect::warnings::Warnings;
use crate::time::Timestamp;
use crate::Direction;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::ops::ControlFlow;

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// SETTINGS_MAX_FRAME_SIZE initial value.
pub const DEFAULT_MAX_FRAME: usize = 16384;
const MAX_SETTINGS_PAYLOAD: usize = 4096;
/// Largest header block decoded (HEADERS + CONTINUATION); larger ones break HPACK.
const MAX_HEADER_BLOCK: usize = 256 * 1024;
/// Streams itemised as exchanges per connection (the counts cover all).
const MAX_STREAM_EXCHANGES: usize = 1000;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
const MAX_WARNINGS: usize = 32;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PRIORITY: u8 = 2;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;

/// `Some(true)` if the bytes start with the HTTP/2 client preface, `Some(false)` if
/// they cannot, `None` if they are a (possibly empty) proper prefix of it.
pub fn looks_like_h2_preface(first_bytes: &[u8]) -> Option<bool> {
    let n = first_bytes.len().min(PREFACE.len());
    if first_bytes[..n] != PREFACE[..n] {
        Some(false)
    } else if n < PREFACE.len() {
        None
    } else {
        Some(true)
    }
}

/// What an h2c connection carried, from the frame layer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct H2Info {
    /// The client sent the full connection preface.
    pub preface_seen: bool,
    /// Created by [`H2Inspector::after_upgrade`]: stream 1 is the upgraded HTTP/1.1 request.
    pub upgraded: bool,
    /// Client-initiated streams opened by HEADERS (distinct odd ids), plus stream 1 after
    /// an upgrade.
    pub streams: u32,
    /// Client-initiated streams the server answered with HEADERS (first HEADERS per
    /// stream; a 1xx interim response counts as the answer, HPACK is not decoded).
    pub responses: u32,
    /// Frames, `[client, server]`.
    pub frames: [u64; 2],
    /// DATA payload bytes (padding included), `[client, server]`.
    pub data_bytes: [u64; 2],
    /// Largest number of client-initiated streams open at once (opened by HEADERS,
    /// closed by END_STREAM from both sides or by RST_STREAM), as observed.
    pub max_concurrent_streams_seen: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised, `[by client, by server]` (last value).
    pub settings_max_concurrent_streams: [Option<u32>; 2],
    pub goaway: bool,
    /// First GOAWAY: sender, last stream id and error code.
    pub goaway_from: Option<Direction>,
    pub goaway_last_stream_id: Option<u32>,
    pub goaway_error: Option<u32>,
    /// When the first GOAWAY was sent (capture time).
    pub goaway_at: Option<Timestamp>,
    /// RST_STREAM frames (both directions).
    pub rst_streams: u32,
    /// Frames (or a missing preface) that could not be followed and were
    /// skipped; each is warned.
    pub malformed_messages: u32,
    /// PUSH_PROMISE frames (server push).
    pub push_promises: u32,
    /// When the first / last client stream was opened.
    pub first_stream_time: Option<Timestamp>,
    pub last_stream_time: Option<Timestamp>,
}

#[derive(Debug)]
enum State {
    /// Client only: matching the preface; `n` bytes matched so far.
    Preface {
        n: usize,
    },
    Header {
        buf: [u8; 9],
        n: usize,
    },
    /// Inside a frame payload. `keep` collects a prefix of up to `want` bytes for the
    /// frames we read; `keep_ok` turns false if a gap hit that prefix.
    Payload {
        typ: u8,
        flags: u8,
        sid: u32,
        remaining: usize,
        want: usize,
        keep: Vec<u8>,
        keep_ok: bool,
    },
    Resync {
        buf: Vec<u8>,
    },
    /// Not HTTP/2 (bad preface): ignore this direction.
    Dead,
}

impl Default for State {
    fn default() -> Self {
        State::Header { buf: [0; 9], n: 0 }
    }
}

/// One step of the frame reader: continue with the bytes it used, or stop feeding
/// (with bytes to feed again after a resynchronisation).
type Step = ControlFlow<Option<Vec<u8>>, usize>;

#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    len: usize,
    typ: u8,
    flags: u8,
    sid: u32,
}

fn frame_header(b: &[u8; 9]) -> FrameHeader {
    FrameHeader {
        len: u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize,
        typ: b[3],
        flags: b[4],
        sid: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
    }
}

/// Strict plausibility check used to resynchronise: a known frame type whose length and
/// stream id obey RFC 9113's rules. Returns the payload length.
fn plausible_frame(h: &[u8], max_len: usize) -> Option<usize> {
    let mut b = [0u8; 9];
    b.copy_from_slice(&h[..9]);
    let f = frame_header(&b);
    let reserved = h[5] & 0x80 != 0;
    let ok = !reserved
        && f.len <= max_len
        && match f.typ {
            DATA | HEADERS | CONTINUATION | PUSH_PROMISE => f.sid != 0,
            PRIORITY => f.sid != 0 && f.len == 5,
            RST_STREAM => f.sid != 0 && f.len == 4,
            SETTINGS => {
                f.sid == 0 && f.len.is_multiple_of(6) && (f.flags & FLAG_ACK == 0 || f.len == 0)
            }
            PING => f.sid == 0 && f.len == 8,
            GOAWAY => f.sid == 0 && f.len >= 8,
            WINDOW_UPDATE => f.len == 4,
            _ => false,
        };
    ok.then_some(f.len)
}

/// One direction's HPACK state.
struct Hpack {
    decoder: loona_hpack::Decoder<'static>,
    /// Header block being assembled (HEADERS/PUSH_PROMISE + CONTINUATION).
    block: Vec<u8>,
    /// Stream the block belongs to; `None` for a PUSH_PROMISE or trailers.
    block_sid: Option<u32>,
    /// The block started with END_STREAM (a request or response without body).
    block_end_stream: bool,
    /// A gap or a decoding error broke the dynamic table: no more decoding.
    broken: bool,
}

impl Default for Hpack {
    fn default() -> Self {
        let mut decoder = loona_hpack::Decoder::new();
        decoder.set_max_allowed_table_size(1 << 20);
        Hpack {
            decoder,
            block: Vec::new(),
            block_sid: None,
            block_end_stream: false,
            broken: false,
        }
    }
}

impl std::fmt::Debug for Hpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hpack")
            .field("block", &self.block.len())
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// Follows the HTTP/2 frames of one connection.
#[derive(Debug)]
pub struct H2Inspector {
    info: H2Info,
    warnings: Warnings,
    state: [State; 2],
    /// Largest frame each direction may send (the peer's SETTINGS_MAX_FRAME_SIZE).
    max_frame: [usize; 2],
    last_client_stream: u32,
    /// Open client streams: bit 0 client ended, bit 1 server ended.
    open: FxHashMap<u32, u8>,
    answered: FxHashSet<u32>,
    hpack: [Hpack; 2],
    /// Per client stream, in stream order: its exchange (decoded headers).
    exchanges: Vec<Exchange>,
    /// Stream id → index in `exchanges`, while the stream is open.
    index: FxHashMap<u32, usize>,
    exchanges_omitted: usize,
}

impl Default for H2Inspector {
    fn default() -> Self {
        Self::new()
    }
}

impl H2Inspector {
    /// Prior-knowledge h2c: the client begins with the preface.
    pub fn new() -> Self {
        H2Inspector {
            info: H2Info::default(),
            warnings: Warnings::new(MAX_WARNINGS, "HTTP/2"),
            state: [State::Preface { n: 0 }, State::default()],
            max_frame: [DEFAULT_MAX_FRAME; 2],
            last_client_stream: 0,
            open: FxHashMap::default(),
            answered: FxHashSet::default(),
            hpack: Default::default(),
            exchanges: Vec::new(),
            index: FxHashMap::default(),
            exchanges_omitted: 0,
        }
    }

    /// Client streams as exchanges (method, target, host, status, times, body
    /// bytes), in stream order; the first 1000 of a connection.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }

    /// The exchanges of [`H2Inspector::exchanges`], moved out.
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.exchanges)
    }

    pub fn exchanges_omitted(&self) -> usize {
        self.exchanges_omitted
    }

    /// `Upgrade: h2c` answered by 101: feed the bytes after the request (client: the
    /// preface follows) and after the 101 response (server: frames). Stream 1 is the
    /// upgraded request, already counted and half-closed by the client.
    pub fn after_upgrade() -> Self {
        let mut s = Self::new();
        s.info.upgraded = true;
        s.info.streams = 1;
        s.info.max_concurrent_streams_seen = 1;
        s.last_client_stream = 1;
        s.open.insert(1, 1);
        s
    }

    pub fn info(&self) -> &H2Info {
        &self.info
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lines()
    }

    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }

    pub fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        let mut pending = self.feed(dir, ts, data);
        while let Some(tail) = pending {
            pending = self.feed(dir, ts, &tail);
        }
    }

    /// `missing` bytes of this direction were never captured.
    pub fn on_gap(&mut self, dir: Direction, ts: Timestamp, missing: u64) {
        let _ = ts;
        if missing == 0 {
            return;
        }
        let d = dir.index();
        match &mut self.state[d] {
            State::Payload {
                remaining,
                keep,
                want,
                keep_ok,
                ..
            } if missing < *remaining as u64 => {
                // Inside a payload: still in sync; only a prefix we wanted may be damaged.
                if keep.len() < *want {
                    *keep_ok = false;
                }
                if let State::Payload {
                    typ: HEADERS | CONTINUATION | PUSH_PROMISE,
                    ..
                } = &self.state[d]
                {
                    self.hpack_broken(dir, "bytes of a header block missing from capture");
                }
                let State::Payload { remaining, .. } = &mut self.state[d] else {
                    unreachable!()
                };
                *remaining -= missing as usize;
                return;
            }
            State::Payload { remaining, typ, .. } if missing == *remaining as u64 => {
                // Lost exactly the rest of the frame: the frame is lost, sync is not.
                if matches!(*typ, HEADERS | CONTINUATION | PUSH_PROMISE) {
                    self.hpack_broken(dir, "bytes of a header block missing from capture");
                }
                self.state[d] = State::default();
                return;
            }
            State::Dead => return,
            _ => {}
        }
        self.warn(format!(
            "{dir:?}: {missing} bytes missing from capture; resynchronising on the next HTTP/2 frame header"
        ));
        self.hpack_broken(dir, "frames missing from capture");
        self.state[d] = State::Resync { buf: Vec::new() };
    }

    pub fn finish(&mut self, ts: Timestamp) {
        let _ = ts;
        self.index.clear();
        for dir in [Direction::ClientToServer, Direction::ServerToClient] {
            let partial = match &self.state[dir.index()] {
                State::Header { n, .. } => *n > 0,
                State::Payload { .. } => true,
                State::Preface { n } => *n > 0,
                State::Resync { .. } | State::Dead => false,
            };
            if partial {
                self.warn(format!("{dir:?}: stream ended inside an HTTP/2 frame"));
            }
        }
    }

    /// Feeds bytes to this direction's frame reader, one state step at a time. Returns
    /// bytes to feed again after a resynchronisation.
    fn feed(&mut self, dir: Direction, ts: Timestamp, mut data: &[u8]) -> Option<Vec<u8>> {
        let d = dir.index();
        while !data.is_empty() {
            let step = match &mut self.state[d] {
                State::Dead => return None,
                State::Preface { n } => {
                    let n = *n;
                    self.preface_bytes(dir, n, data)
                }
                State::Header { buf, n } => {
                    let (buf, n) = (*buf, *n);
                    self.header_bytes(dir, ts, buf, n, data)
                }
                State::Payload {
                    remaining,
                    want,
                    keep,
                    ..
                } => {
                    let k = (*remaining).min(data.len());
                    if keep.len() < *want {
                        let c = (*want - keep.len()).min(k);
                        keep.extend_from_slice(&data[..c]);
                    }
                    *remaining -= k;
                    if *remaining == 0 {
                        self.payload_done(dir, ts);
                    }
                    ControlFlow::Continue(k)
                }
                State::Resync { buf } => {
                    let mut buf = std::mem::take(buf);
                    buf.extend_from_slice(data);
                    return self.resync(d, buf);
                }
            };
            match step {
                ControlFlow::Continue(k) => data = &data[k..],
                ControlFlow::Break(tail) => return tail,
            }
        }
        None
    }

    /// Client preface bytes, `n` matched before `data`. Continues with the bytes used.
    fn preface_bytes(&mut self, dir: Direction, n: usize, data: &[u8]) -> Step {
        let d = dir.index();
        let k = (PREFACE.len() - n).min(data.len());
        if data[..k] != PREFACE[n..n + k] {
            self.state[d] = State::Dead;
            self.info.malformed_messages += 1;
            self.warn(format!(
                "{dir:?}: no HTTP/2 client preface; ignoring this direction"
            ));
            return ControlFlow::Break(None);
        }
        self.state[d] = if n + k == PREFACE.len() {
            self.info.preface_seen = true;
            State::default()
        } else {
            State::Preface { n: n + k }
        };
        ControlFlow::Continue(k)
    }

    /// Frame header bytes, `n` of them in `buf` before `data`. Continues with the bytes
    /// used.
    fn header_bytes(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        mut buf: [u8; 9],
        n: usize,
        data: &[u8],
    ) -> Step {
        let k = (9 - n).min(data.len());
        buf[n..n + k].copy_from_slice(&data[..k]);
        if n + k < 9 {
            self.state[dir.index()] = State::Header { buf, n: n + k };
        } else {
            self.frame_header_done(dir, ts, buf, &data[k..])?;
        }
        ControlFlow::Continue(k)
    }

    /// A whole frame header (`rest` follows it): check its length, count the frame and
    /// enter its payload. Breaks into a resynchronisation on an oversized frame.
    fn frame_header_done(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        raw: [u8; 9],
        rest: &[u8],
    ) -> ControlFlow<Option<Vec<u8>>> {
        let d = dir.index();
        let f = frame_header(&raw);
        if f.len > self.max_frame[d] {
            self.info.malformed_messages += 1;
            self.warn(format!(
                "{dir:?}: HTTP/2 frame of {} bytes exceeds the maximum frame size {}; resynchronising",
                f.len, self.max_frame[d]
            ));
            let mut buf = raw[1..].to_vec();
            buf.extend_from_slice(rest);
            return ControlFlow::Break(self.resync(d, buf));
        }
        self.frame_start(dir, ts, f);
        let want = match f.typ {
            SETTINGS if f.flags & FLAG_ACK == 0 => f.len.min(MAX_SETTINGS_PAYLOAD),
            GOAWAY => f.len.min(8),
            HEADERS | CONTINUATION | PUSH_PROMISE if !self.hpack[d].broken => f.len,
            _ => 0,
        };
        self.state[d] = if f.len == 0 {
            self.frame_end(dir, ts, f.typ, f.flags, f.sid, &[]);
            State::default()
        } else {
            State::Payload {
                typ: f.typ,
                flags: f.flags,
                sid: f.sid,
                remaining: f.len,
                want,
                keep: Vec::new(),
                keep_ok: true,
            }
        };
        ControlFlow::Continue(())
    }

    /// The last payload byte arrived: back to frame headers, and finish the frame unless
    /// a gap hit the part we read.
    fn payload_done(&mut self, dir: Direction, ts: Timestamp) {
        if let State::Payload {
            typ,
            flags,
            sid,
            keep,
            keep_ok: true,
            ..
        } = std::mem::take(&mut self.state[dir.index()])
        {
            self.frame_end(dir, ts, typ, flags, sid, &keep);
        }
    }

    /// Finds a plausible frame header confirmed by the next one; see the TLS resync.
    fn resync(&mut self, d: usize, buf: Vec<u8>) -> Option<Vec<u8>> {
        let max = self.max_frame[d];
        let mut i = 0;
        while i + 9 <= buf.len() {
            if let Some(len) = plausible_frame(&buf[i..], max) {
                let j = i + 9 + len;
                if j + 9 > buf.len() {
                    self.state[d] = State::Resync {
                        buf: buf[i..].to_vec(),
                    };
                    return None;
                }
                if plausible_frame(&buf[j..], max).is_some() {
                    self.state[d] = State::default();
                    return Some(buf[i..].to_vec());
                }
            }
            i += 1;
        }
        let keep = buf.len().saturating_sub(8);
        self.state[d] = State::Resync {
            buf: buf[keep..].to_vec(),
        };
        None
    }

    /// Frame header seen: everything that needs no payload.
    fn frame_start(&mut self, dir: Direction, ts: Timestamp, f: FrameHeader) {
        let d = dir.index();
        self.info.frames[d] += 1;
        let client = dir == Direction::ClientToServer;
        let end_stream = f.flags & FLAG_END_STREAM != 0;
        match f.typ {
            HEADERS if client => {
                if f.sid % 2 == 1 && f.sid > self.last_client_stream {
                    self.stream_opened(f.sid, ts);
                }
                if end_stream {
                    self.end_stream(f.sid, 1);
                }
            }
            HEADERS => {
                if f.sid % 2 == 1 && self.answered.insert(f.sid) {
                    self.info.responses += 1;
                }
                if end_stream {
                    self.end_stream(f.sid, 2);
                }
            }
            DATA => {
                self.info.data_bytes[d] += f.len as u64;
                if let Some(e) = self.index.get(&f.sid).map(|&i| &mut self.exchanges[i]) {
                    if client {
                        e.request.body_bytes += f.len as u64;
                    } else {
                        e.response.body_bytes += f.len as u64;
                        e.response_wire_bytes += 9 + f.len as u64;
                    }
                }
                if end_stream {
                    self.end_stream(f.sid, if client { 1 } else { 2 });
                    self.stream_ended(f.sid, client, ts);
                }
            }
            RST_STREAM => {
                self.info.rst_streams += 1;
                self.open.remove(&f.sid);
                self.index.remove(&f.sid);
            }
            PUSH_PROMISE => self.info.push_promises += 1,
            GOAWAY if !self.info.goaway => {
                self.info.goaway = true;
                self.info.goaway_from = Some(dir);
                self.info.goaway_at = Some(ts);
            }
            _ => {}
        }
    }

    /// Client HEADERS on a new odd stream id: count it, start its exchange, track it open.
    fn stream_opened(&mut self, sid: u32, ts: Timestamp) {
        self.last_client_stream = sid;
        self.info.streams += 1;
        if self.exchanges.len() < MAX_STREAM_EXCHANGES {
            self.index.insert(sid, self.exchanges.len());
            self.exchanges.push(Exchange {
                request: crate::inspect::http::inspector::Message::starting(None, ts),
                ..Default::default()
            });
        } else {
            self.exchanges_omitted += 1;
        }
        self.info.first_stream_time.get_or_insert(ts);
        self.info.last_stream_time = Some(ts);
        self.open.insert(sid, 0);
        let n = self.open.len() as u32;
        self.info.max_concurrent_streams_seen = self.info.max_concurrent_streams_seen.max(n);
    }

    fn end_stream(&mut self, sid: u32, bit: u8) {
        if let Some(s) = self.open.get_mut(&sid) {
            *s |= bit;
            if *s == 3 {
                self.open.remove(&sid);
            }
        }
    }

    /// END_STREAM from one side of a client stream.
    fn stream_ended(&mut self, sid: u32, client: bool, ts: Timestamp) {
        let Some(&i) = self.index.get(&sid) else {
            return;
        };
        let e = &mut self.exchanges[i];
        if client {
            e.request.set_end(ts);
            e.request.complete = true;
        } else {
            e.response.set_end(ts);
            e.response.complete = e.status.is_some();
            self.index.remove(&sid);
        }
    }

    fn hpack_broken(&mut self, dir: Direction, why: &str) {
        let h = &mut self.hpack[dir.index()];
        if !h.broken {
            h.broken = true;
            h.block.clear();
            self.warn(format!(
                "{dir:?}: HPACK header decoding stopped: {why} (the header table is lost); streams are still counted"
            ));
        }
    }

    /// A HEADERS, PUSH_PROMISE or CONTINUATION payload: assemble the header
    /// block and decode it at END_HEADERS.
    fn header_fragment(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        typ: u8,
        flags: u8,
        sid: u32,
        p: &[u8],
    ) {
        let d = dir.index();
        if self.hpack[d].broken {
            return;
        }
        let Some(frag) = block_fragment(typ, flags, p) else {
            self.hpack_broken(dir, "malformed padding in a header frame");
            return;
        };
        let h = &mut self.hpack[d];
        if typ != CONTINUATION {
            h.block.clear();
            // Client HEADERS on a stream it opened, or the server's answer.
            h.block_sid = (typ == HEADERS && sid % 2 == 1).then_some(sid);
            h.block_end_stream = flags & FLAG_END_STREAM != 0;
        }
        if h.block.len() + frag.len() > MAX_HEADER_BLOCK {
            self.hpack_broken(dir, "header block larger than 256 KiB");
            return;
        }
        h.block.extend_from_slice(frag);
        if flags & FLAG_END_HEADERS == 0 {
            return;
        }
        let block = std::mem::take(&mut h.block);
        if let Some(fields) = self.decode_block(dir, &block) {
            self.headers_decoded(dir, ts, &fields, block.len());
        }
    }

    /// HPACK-decodes a whole header block; an error breaks this direction's decoding.
    fn decode_block(&mut self, dir: Direction, block: &[u8]) -> Option<Vec<Field>> {
        let mut fields: Vec<Field> = Vec::new();
        let r = self.hpack[dir.index()]
            .decoder
            .decode_with_cb(block, |n, v| fields.push((n.into_owned(), v.into_owned())));
        if let Err(e) = r {
            self.hpack_broken(dir, &format!("HPACK error {e:?}"));
            return None;
        }
        Some(fields)
    }

    /// A decoded header block of `block_len` bytes: fill in its stream's exchange.
    fn headers_decoded(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        fields: &[Field],
        block_len: usize,
    ) {
        let h = &self.hpack[dir.index()];
        let Some(sid) = h.block_sid else {
            return;
        };
        let end_stream = h.block_end_stream;
        let Some(&i) = self.index.get(&sid) else {
            return;
        };
        let e = &mut self.exchanges[i];
        if dir == Direction::ClientToServer {
            request_headers(e, fields, end_stream, ts);
        } else if response_headers(e, fields, end_stream, ts, block_len) {
            self.index.remove(&sid);
        }
    }

    /// Frame complete: read the small payloads we keep.
    fn frame_end(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        typ: u8,
        flags: u8,
        sid: u32,
        payload: &[u8],
    ) {
        let d = dir.index();
        match typ {
            HEADERS | CONTINUATION | PUSH_PROMISE => {
                self.header_fragment(dir, ts, typ, flags, sid, payload)
            }
            SETTINGS => {
                for s in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let v = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    match id {
                        3 => self.info.settings_max_concurrent_streams[d] = Some(v),
                        // The peer may now send frames this large to us.
                        5 if (16384..=16_777_215).contains(&v) => {
                            self.max_frame[1 - d] = v as usize
                        }
                        _ => {}
                    }
                }
            }
            GOAWAY
                if payload.len() >= 8
                    && self.info.goaway_from == Some(dir)
                    && self.info.goaway_last_stream_id.is_none() =>
            {
                let last = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
                let err = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
                self.info.goaway_last_stream_id = Some(last & 0x7fff_ffff);
                self.info.goaway_error = Some(err);
            }
            _ => {}
        }
    }
}

/// A decoded header field: name and value.
type Field = (Vec<u8>, Vec<u8>);

/// The header block fragment of a HEADERS, PUSH_PROMISE or CONTINUATION payload, without
/// padding, priority fields or promised stream id; `None` if the padding does not fit.
fn block_fragment(typ: u8, flags: u8, p: &[u8]) -> Option<&[u8]> {
    if typ == CONTINUATION {
        return Some(p);
    }
    let padded = flags & FLAG_PADDED != 0;
    let pad = if padded { *p.first()? as usize } else { 0 };
    let skip = padded as usize
        + if typ == PUSH_PROMISE {
            4
        } else if flags & FLAG_PRIORITY != 0 {
            5
        } else {
            0
        };
    p.get(skip..p.len().checked_sub(pad)?)
}

fn text(v: &[u8]) -> compact_str::CompactString {
    compact_str::CompactString::from_utf8_lossy(v)
}

/// A client header block: the request's method, target and host (trailers are ignored).
fn request_headers(e: &mut Exchange, fields: &[Field], end_stream: bool, ts: Timestamp) {
    if e.method().is_some() {
        return; // trailers
    }
    for (n, v) in fields {
        match n.as_slice() {
            b":method" => e.set_method_text(text(v)),
            b":path" => e.target = Some(text(v)),
            b":authority" => e.host = Some(text(v)),
            b"host" if e.host.is_none() => e.host = Some(text(v)),
            b"expect" => e.rare_mut().expect = Some(text(v)),
            _ => {}
        }
    }
    if end_stream {
        e.request.set_end(ts);
        e.request.complete = true;
    }
}

/// A server header block of `block_len` bytes: an interim 1xx status, or the final status
/// and body encodings (trailers are ignored). True if it ended the exchange.
fn response_headers(
    e: &mut Exchange,
    fields: &[Field],
    end_stream: bool,
    ts: Timestamp,
    block_len: usize,
) -> bool {
    if e.status.is_some() {
        return false; // trailers
    }
    let status = fields
        .iter()
        .find(|(n, _)| n == b":status")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<u16>().ok());
    let Some(status) = status else {
        return false;
    };
    e.response_wire_bytes += 9 + block_len as u64;
    if (100..200).contains(&status) {
        e.rare_mut().interim_statuses.push(status);
        return false;
    }
    e.status = Some(status);
    e.response.set_time(ts);
    for (n, v) in fields {
        match n.as_slice() {
            b"content-encoding" => e.rare_mut().content_encoding = Some(text(v)),
            b"transfer-encoding" => e.rare_mut().transfer_encoding = Some(text(v)),
            _ => {}
        }
    }
    if end_stream {
        e.response.set_end(ts);
        e.response.complete = true;
    }
    end_stream
}

#[cfg(test)]
mod tests;
