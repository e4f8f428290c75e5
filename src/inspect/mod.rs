//! The application layer of one connection: decides by content (not by port)
//! what the reassembled streams carry — HTTP/1.x, TLS, cleartext HTTP/2 — and
//! routes the bytes to that inspector.
//!
//! What a connection carries is a stack of [`Layer`]s, built as the bytes
//! reveal it: `HTTP → tunnel → TLS → HTTP/1 | h2 | opaque`. After an HTTP
//! protocol switch (CONNECT tunnel, `101 Switching Protocols`) the bytes that
//! follow go to the tunnel's layer (TLS inside CONNECT, h2c after
//! `Upgrade: h2c`, or opaque frames such as WebSocket, which are only
//! counted). A TLS layer decrypts when a key log gave its secrets, and the
//! plaintext goes to the layer inside it (HTTP/1.x or HTTP/2, by ALPN or by
//! content). Each layer owns exactly the inspector it needs, so an impossible
//! combination (an HTTP tag without an HTTP inspector, two protocols at once)
//! cannot be built.

pub mod h2;
pub mod http;
pub mod tls;
pub mod warnings;

use self::h2::H2Inspector;
use self::http::{Exchange, HttpInspector};
use self::tls::{KeyStore, Plain, TlsInspector};
use crate::tcp::{Direction, StreamHandler};
use crate::time::Timestamp;
use std::sync::Arc;

/// How many data chunks per connection may fail to be recognised before the
/// connection is declared opaque.
const MAX_UNDECIDED_CHUNKS: u32 = 8;
/// Bytes kept while a chunk is too short to tell the protocol.
const PROBE_BYTES: usize = 24;

/// The outermost protocol (the JSON `protocol` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Undecided,
    Http,
    Tls,
    H2c,
    Other,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Undecided => "none",
            Proto::Http => "http",
            Proto::Tls => "tls",
            Proto::H2c => "h2c",
            Proto::Other => "unknown",
        }
    }
}

/// One layer of what a stream carries, and what it contains.
#[derive(Debug, Default)]
pub enum Layer {
    /// Not recognised yet.
    #[default]
    Undecided,
    /// HTTP/1.x; after a protocol switch, `tunnel` is what the switch carries.
    Http(Box<HttpLayer>),
    /// TLS; `inner` is what the decrypted records carry (stays `Undecided`
    /// without keys).
    Tls(Box<TlsLayer>),
    /// HTTP/2 frames (h2c, h2c after an upgrade, or h2 inside TLS).
    H2(Box<H2Inspector>),
    /// Not a protocol keepwatch reads: bytes are only counted.
    Opaque,
}

#[derive(Debug)]
pub struct HttpLayer {
    pub http: HttpInspector,
    pub tunnel: Option<Layer>,
}

#[derive(Debug)]
pub struct TlsLayer {
    pub tls: TlsInspector,
    pub inner: Layer,
}

impl Layer {
    fn http(details: bool) -> Layer {
        Layer::Http(Box::new(HttpLayer {
            http: if details {
                HttpInspector::new()
            } else {
                HttpInspector::without_details()
            },
            tunnel: None,
        }))
    }

    fn tls(keys: &Option<Arc<KeyStore>>) -> Layer {
        let tls = match keys {
            Some(k) => TlsInspector::with_keys(k.clone()),
            None => TlsInspector::new(),
        };
        Layer::Tls(Box::new(TlsLayer {
            tls,
            inner: Layer::Undecided,
        }))
    }

    fn h2(i: H2Inspector) -> Layer {
        Layer::H2(Box::new(i))
    }

    /// The layer directly inside this one, if any.
    pub fn inner(&self) -> Option<&Layer> {
        match self {
            Layer::Http(h) => h.tunnel.as_ref(),
            Layer::Tls(t) => Some(&t.inner),
            _ => None,
        }
    }

    /// This layer and every layer inside it, outermost first.
    pub fn stack(&self) -> impl Iterator<Item = &Layer> {
        std::iter::successors(Some(self), |l| l.inner())
    }

    fn warnings(&self, out: &mut Vec<String>) {
        for l in self.stack() {
            match l {
                Layer::Http(h) => out.extend(h.http.warnings().iter().cloned()),
                Layer::Tls(t) => out.extend(t.tls.warnings().iter().cloned()),
                Layer::H2(h) => out.extend(h.warnings().iter().cloned()),
                Layer::Undecided | Layer::Opaque => {}
            }
        }
    }

    /// Bytes for a decided layer (never `Undecided` at the top level, which
    /// [`AppInspector`] probes itself). `opaque` counts bytes nobody reads.
    fn feed(&mut self, cx: &mut Cx, dir: Direction, ts: Timestamp, data: &[u8]) {
        match self {
            Layer::Http(h) => h.feed(cx, dir, ts, data),
            Layer::Tls(t) => t.feed(cx, dir, ts, data),
            Layer::H2(h) => h.on_data(dir, ts, data),
            Layer::Undecided | Layer::Opaque => cx.opaque[dir.index()] += data.len() as u64,
        }
    }

    fn on_gap(&mut self, cx: &mut Cx, dir: Direction, ts: Timestamp, missing: u64) {
        match self {
            Layer::Http(h) => match &mut h.tunnel {
                None => h.http.on_gap(dir, ts, missing),
                Some(t) => t.on_gap(cx, dir, ts, missing),
            },
            Layer::Tls(t) => {
                t.tls.on_gap(dir, ts, missing);
                t.route_plain(cx);
            }
            Layer::H2(h) => h.on_gap(dir, ts, missing),
            Layer::Undecided | Layer::Opaque => {}
        }
    }

    fn on_fin(&mut self, dir: Direction, ts: Timestamp) {
        match self {
            Layer::Http(h) if h.tunnel.is_none() => h.http.on_fin(dir, ts),
            Layer::Http(h) => {
                if let Some(t) = h.tunnel.as_mut() {
                    t.on_fin(dir, ts)
                }
            }
            // The end of the TCP stream ends the plaintext inside TLS too.
            Layer::Tls(t) => t.inner.on_fin(dir, ts),
            _ => {}
        }
    }

    fn finish(&mut self, cx: &mut Cx, ts: Timestamp) {
        match self {
            Layer::Http(h) => {
                if let Some(t) = h.tunnel.as_mut() {
                    t.finish(cx, ts);
                }
                h.http.finish(ts);
            }
            Layer::Tls(t) => {
                t.tls.finish(ts);
                t.route_plain(cx);
                t.inner.finish(cx, ts);
            }
            Layer::H2(h) => h.finish(ts),
            Layer::Undecided | Layer::Opaque => {}
        }
    }
}

/// What every layer may need while bytes flow: the key log, and the counter
/// of bytes no inspector reads.
struct Cx<'a> {
    keys: &'a Option<Arc<KeyStore>>,
    /// Exchange details are printed (else HTTP/1 keeps only their facts).
    details: bool,
    opaque: &'a mut [u64; 2],
}

impl HttpLayer {
    fn feed(&mut self, cx: &mut Cx, dir: Direction, ts: Timestamp, data: &[u8]) {
        if let Some(t) = self.tunnel.as_mut() {
            feed_tunnel(t, cx, dir, ts, data);
            return;
        }
        let h = &mut self.http;
        h.on_data(dir, ts, data);
        if let Some(sw) = h.switched() {
            let upgrade_h2 = sw
                .protocol
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("h2c"));
            let held = [
                h.drain_tunnel(Direction::ClientToServer),
                h.drain_tunnel(Direction::ServerToClient),
            ];
            let mut tunnel = if upgrade_h2 {
                Layer::h2(H2Inspector::after_upgrade())
            } else {
                Layer::Undecided
            };
            for d in [Direction::ClientToServer, Direction::ServerToClient] {
                if !held[d.index()].is_empty() {
                    feed_tunnel(&mut tunnel, cx, d, ts, &held[d.index()]);
                }
            }
            self.tunnel = Some(tunnel);
        }
    }
}

/// The bytes after a protocol switch: TLS (a CONNECT tunnel to an HTTPS
/// server) if the first chunk starts a ClientHello, else opaque.
fn feed_tunnel(t: &mut Layer, cx: &mut Cx, dir: Direction, ts: Timestamp, data: &[u8]) {
    if let Layer::Undecided = t {
        *t = match tls::looks_like_tls(data) {
            Some(true) => Layer::tls(cx.keys),
            _ => Layer::Opaque,
        };
    }
    t.feed(cx, dir, ts, data);
}

impl TlsLayer {
    fn feed(&mut self, cx: &mut Cx, dir: Direction, ts: Timestamp, data: &[u8]) {
        self.tls.on_data(dir, ts, data);
        self.route_plain(cx);
    }

    /// Decrypted bytes to the layer inside TLS, chosen by ALPN or content.
    fn route_plain(&mut self, cx: &mut Cx) {
        for p in self.tls.take_plain() {
            match p {
                Plain::Data(dir, ts, bytes) => {
                    if let Layer::Undecided = self.inner {
                        let alpn = self.tls.info().alpn.as_deref();
                        self.inner = decide_inside_tls(alpn, dir, &bytes, cx.details);
                    }
                    self.inner.feed(cx, dir, ts, &bytes);
                }
                Plain::Gap(dir, ts, n) => self.inner.on_gap(cx, dir, ts, n),
            }
        }
    }
}

fn decide_inside_tls(alpn: Option<&str>, dir: Direction, b: &[u8], details: bool) -> Layer {
    if alpn == Some("h2") {
        return Layer::h2(H2Inspector::new());
    }
    if dir == Direction::ClientToServer && h2::looks_like_h2_preface(b) != Some(false) {
        return Layer::h2(H2Inspector::new());
    }
    let http = match dir {
        Direction::ClientToServer => http::looks_like_http_request(b),
        Direction::ServerToClient => http::looks_like_http_response(b),
    };
    match http {
        Some(false) => Layer::Opaque,
        _ => Layer::http(details),
    }
}

#[derive(Default)]
pub struct AppInspector {
    pub layer: Layer,
    /// Secrets for TLS decryption (`--keylog`), shared by all connections.
    keys: Option<Arc<KeyStore>>,
    /// No report prints the exchanges: HTTP/1 keeps only their facts.
    details_dropped: bool,
    probe: [Vec<u8>; 2],
    undecided_chunks: u32,
    /// Stream bytes not given to any inspector (unrecognised or opaque).
    pub opaque_bytes: [u64; 2],
}

fn detect(dir: Direction, b: &[u8]) -> Option<Proto> {
    let mut undecided = false;
    if dir == Direction::ClientToServer {
        match h2::looks_like_h2_preface(b) {
            Some(true) => return Some(Proto::H2c),
            None => undecided = true,
            Some(false) => {}
        }
    }
    match tls::looks_like_tls(b) {
        Some(true) => return Some(Proto::Tls),
        None => undecided = true,
        Some(false) => {}
    }
    // Picked up mid-stream: any plausible TLS record header (application
    // data, alert, change cipher spec) starts a TLS connection too.
    if b.len() >= 5 && tls::looks_like_tls_record(b) == Some(true) {
        return Some(Proto::Tls);
    }
    let http = match dir {
        Direction::ClientToServer => http::looks_like_http_request(b),
        Direction::ServerToClient => http::looks_like_http_response(b),
    };
    match http {
        Some(true) => return Some(Proto::Http),
        None => undecided = true,
        Some(false) => {}
    }
    if undecided {
        None
    } else {
        Some(Proto::Other)
    }
}

impl AppInspector {
    /// An inspector whose TLS layers decrypt with the secrets of `keys`.
    pub fn with_keys(keys: Option<Arc<KeyStore>>) -> Self {
        AppInspector {
            keys,
            ..Default::default()
        }
    }

    /// Whether the exchanges' details are kept (the default), or only what
    /// the analysis reads of them ([`HttpInspector::without_details`]).
    pub fn with_details(mut self, details: bool) -> Self {
        self.details_dropped = !details;
        self
    }

    /// The outermost protocol.
    pub fn proto(&self) -> Proto {
        match &self.layer {
            Layer::Undecided => Proto::Undecided,
            Layer::Http(_) => Proto::Http,
            Layer::Tls(_) => Proto::Tls,
            Layer::H2(_) => Proto::H2c,
            Layer::Opaque => Proto::Other,
        }
    }

    /// Every HTTP/1.x inspector of the stack, outermost first (a CONNECT
    /// tunnel's own exchanges, then those decrypted inside it).
    pub fn http_layers(&self) -> impl Iterator<Item = &HttpInspector> {
        self.layer.stack().filter_map(|l| match l {
            Layer::Http(h) => Some(&h.http),
            _ => None,
        })
    }

    /// The outermost HTTP/1.x inspector.
    pub fn http(&self) -> Option<&HttpInspector> {
        self.http_layers().next()
    }

    /// The exchanges kept, moved out, in the order of a record's list
    /// (`analysis::record`): each HTTP/1.x layer's, outermost first, then
    /// the HTTP/2 streams'. For a connection about to be dropped: its
    /// records then take the list without copying it (issue 14: the copy
    /// was 4 % of a `--format jsonl` run, and as many fresh pages again).
    pub fn take_exchanges(&mut self) -> Vec<Exchange> {
        let mut out: Vec<Exchange> = Vec::new();
        let mut add = |v: Vec<Exchange>| {
            if out.is_empty() {
                out = v;
            } else {
                out.extend(v);
            }
        };
        let mut h2 = Vec::new();
        let mut l = Some(&mut self.layer);
        while let Some(layer) = l {
            l = match layer {
                Layer::Http(h) => {
                    add(h.http.take_exchanges());
                    h.tunnel.as_mut()
                }
                Layer::Tls(t) => Some(&mut t.inner),
                Layer::H2(h) => {
                    h2 = h.take_exchanges();
                    None
                }
                Layer::Undecided | Layer::Opaque => None,
            };
        }
        add(h2);
        out
    }

    /// The (outermost) TLS inspector: at the top, or inside a CONNECT tunnel.
    pub fn tls(&self) -> Option<&TlsInspector> {
        self.layer.stack().find_map(|l| match l {
            Layer::Tls(t) => Some(&t.tls),
            _ => None,
        })
    }

    /// The HTTP/2 inspector: h2c, h2c after an upgrade, or h2 inside TLS.
    pub fn h2(&self) -> Option<&H2Inspector> {
        self.layer.stack().find_map(|l| match l {
            Layer::H2(h) => Some(&**h),
            _ => None,
        })
    }

    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        self.layer.warnings(&mut w);
        w
    }

    fn start(&mut self, p: Proto) {
        self.layer = match p {
            Proto::Http => Layer::http(!self.details_dropped),
            Proto::Tls => Layer::tls(&self.keys),
            Proto::H2c => Layer::h2(H2Inspector::new()),
            Proto::Other => Layer::Opaque,
            Proto::Undecided => Layer::Undecided,
        };
    }

    fn feed(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        let mut cx = Cx {
            keys: &self.keys,
            details: !self.details_dropped,
            opaque: &mut self.opaque_bytes,
        };
        self.layer.feed(&mut cx, dir, ts, data);
    }
}

impl StreamHandler for AppInspector {
    fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        if !matches!(self.layer, Layer::Undecided) {
            self.feed(dir, ts, data);
            return;
        }
        let i = dir.index();
        let decided = if self.probe[i].is_empty() {
            detect(dir, data)
        } else {
            let mut joined = std::mem::take(&mut self.probe[i]);
            joined.extend_from_slice(data);
            let d = detect(dir, &joined);
            if d.is_none() && joined.len() < PROBE_BYTES {
                self.probe[i] = joined;
                return;
            }
            match d {
                Some(p) if p != Proto::Other => {
                    self.start(p);
                    self.feed(dir, ts, &joined);
                    return;
                }
                _ => {
                    self.opaque_bytes[i] += joined.len() as u64;
                    self.undecided_chunks += 1;
                    return;
                }
            }
        };
        match decided {
            Some(Proto::Other) => {
                // Mid-stream pickups start inside a message: wait a few chunks
                // for one that starts a message.
                self.opaque_bytes[i] += data.len() as u64;
                self.undecided_chunks += 1;
                if self.undecided_chunks >= MAX_UNDECIDED_CHUNKS {
                    self.layer = Layer::Opaque;
                }
            }
            Some(p) => {
                self.start(p);
                self.feed(dir, ts, data);
            }
            None if data.len() < PROBE_BYTES => self.probe[i] = data.to_vec(),
            None => {
                self.opaque_bytes[i] += data.len() as u64;
                self.undecided_chunks += 1;
            }
        }
    }

    fn on_gap(&mut self, dir: Direction, ts: Timestamp, missing: u64) {
        if let Layer::Undecided = self.layer {
            self.probe[dir.index()].clear();
            return;
        }
        let mut cx = Cx {
            keys: &self.keys,
            details: !self.details_dropped,
            opaque: &mut self.opaque_bytes,
        };
        self.layer.on_gap(&mut cx, dir, ts, missing);
    }

    fn on_fin(&mut self, dir: Direction, ts: Timestamp) {
        self.layer.on_fin(dir, ts);
    }

    fn on_finish(&mut self, ts: Timestamp) {
        for i in 0..2 {
            self.opaque_bytes[i] += self.probe[i].len() as u64;
            self.probe[i].clear();
        }
        if matches!(self.layer, Layer::Undecided) && self.opaque_bytes.iter().any(|&b| b > 0) {
            // Payload was seen but never recognised.
            self.layer = Layer::Opaque;
        }
        let mut cx = Cx {
            keys: &self.keys,
            details: !self.details_dropped,
            opaque: &mut self.opaque_bytes,
        };
        self.layer.finish(&mut cx, ts);
    }

    fn sent_by_client(data: &[u8]) -> Option<bool> {
        if http::looks_like_http_request(data) == Some(true) {
            return Some(true);
        }
        if http::looks_like_http_response(data) == Some(true) {
            return Some(false);
        }
        if tls::looks_like_tls(data) == Some(true) && data.len() > 5 {
            // Handshake type: 1 ClientHello, 2 ServerHello.
            return match data[5] {
                1 => Some(true),
                2 => Some(false),
                _ => None,
            };
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Direction::{ClientToServer as C, ServerToClient as S};

    fn ts(n: i64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    #[test]
    fn connect_tunnel_nests_tls() {
        let mut a = AppInspector::default();
        a.on_data(
            C,
            ts(0),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        );
        a.on_data(S, ts(1), b"HTTP/1.1 200 Connection established\r\n\r\n");
        // A ClientHello record header and type byte.
        a.on_data(C, ts(2), &[22, 3, 1, 0, 4, 1, 0, 0, 0]);
        assert_eq!(a.proto(), Proto::Http);
        let kinds: Vec<&str> = a
            .layer
            .stack()
            .map(|l| match l {
                Layer::Http(_) => "http",
                Layer::Tls(_) => "tls",
                Layer::H2(_) => "h2",
                Layer::Opaque => "opaque",
                Layer::Undecided => "undecided",
            })
            .collect();
        assert_eq!(kinds, ["http", "tls", "undecided"]);
        assert!(a.tls().is_some() && a.http().is_some() && a.h2().is_none());
    }

    #[test]
    fn websocket_tunnel_is_opaque_and_counted() {
        let mut a = AppInspector::default();
        a.on_data(
            C,
            ts(0),
            b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        a.on_data(
            S,
            ts(1),
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        );
        a.on_data(C, ts(2), &[0x81, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(a.opaque_bytes, [11, 0]);
        assert!(matches!(a.layer.inner(), Some(Layer::Opaque)));
    }
}
