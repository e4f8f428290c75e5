//! The application layer of one connection: decides by content (not by port)
//! what the reassembled streams carry — HTTP/1.x, TLS, cleartext HTTP/2 — and
//! routes the bytes to that inspector. After an HTTP protocol switch (CONNECT
//! tunnel, `101 Switching Protocols`) the bytes that follow go to whatever the
//! tunnel carries (TLS inside CONNECT, h2c after `Upgrade: h2c`, or opaque
//! frames such as WebSocket, which are only counted).

use crate::h2::{self, H2Inspector};
use crate::http::{self, HttpInspector};
use crate::tcp::{Direction, StreamHandler};
use crate::time::Timestamp;
use crate::tls::{self, TlsInspector};

/// How many data chunks per connection may fail to be recognised before the
/// connection is declared opaque.
const MAX_UNDECIDED_CHUNKS: u32 = 8;
/// Bytes kept while a chunk is too short to tell the protocol.
const PROBE_BYTES: usize = 24;

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

/// What the bytes after an HTTP protocol switch are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tunnel {
    Undecided,
    Tls,
    H2,
    Opaque,
}

pub struct AppInspector {
    pub proto: Proto,
    pub http: Option<HttpInspector>,
    pub tls: Option<TlsInspector>,
    pub h2: Option<H2Inspector>,
    tunnel: Option<Tunnel>,
    probe: [Vec<u8>; 2],
    undecided_chunks: u32,
    /// Stream bytes not given to any inspector (unrecognised or opaque).
    pub opaque_bytes: [u64; 2],
}

impl Default for AppInspector {
    fn default() -> Self {
        AppInspector {
            proto: Proto::Undecided,
            http: None,
            tls: None,
            h2: None,
            tunnel: None,
            probe: [Vec::new(), Vec::new()],
            undecided_chunks: 0,
            opaque_bytes: [0, 0],
        }
    }
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
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(h) = &self.http {
            w.extend(h.warnings().iter().cloned());
        }
        if let Some(t) = &self.tls {
            w.extend(t.warnings().iter().cloned());
        }
        if let Some(h) = &self.h2 {
            w.extend(h.warnings().iter().cloned());
        }
        w
    }

    fn start(&mut self, p: Proto) {
        self.proto = p;
        match p {
            Proto::Http => self.http = Some(HttpInspector::new()),
            Proto::Tls => self.tls = Some(TlsInspector::new()),
            Proto::H2c => self.h2 = Some(H2Inspector::new()),
            _ => {}
        }
    }

    fn feed(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        match self.proto {
            Proto::Http => {
                if self.tunnel.is_some() {
                    self.feed_tunnel(dir, ts, data);
                    return;
                }
                let h = self.http.as_mut().expect("http inspector");
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
                    self.tunnel = Some(Tunnel::Undecided);
                    if upgrade_h2 {
                        self.tunnel = Some(Tunnel::H2);
                        self.h2 = Some(H2Inspector::after_upgrade());
                    }
                    for d in [Direction::ClientToServer, Direction::ServerToClient] {
                        if !held[d.index()].is_empty() {
                            self.feed_tunnel(d, ts, &held[d.index()]);
                        }
                    }
                }
            }
            Proto::Tls => self.tls.as_mut().expect("tls").on_data(dir, ts, data),
            Proto::H2c => self.h2.as_mut().expect("h2").on_data(dir, ts, data),
            Proto::Other | Proto::Undecided => self.opaque_bytes[dir.index()] += data.len() as u64,
        }
    }

    fn feed_tunnel(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        if self.tunnel == Some(Tunnel::Undecided) {
            self.tunnel = Some(match tls::looks_like_tls(data) {
                Some(true) => {
                    self.tls = Some(TlsInspector::new());
                    Tunnel::Tls
                }
                _ => Tunnel::Opaque,
            });
        }
        match self.tunnel {
            Some(Tunnel::Tls) => self.tls.as_mut().expect("tls").on_data(dir, ts, data),
            Some(Tunnel::H2) => self.h2.as_mut().expect("h2").on_data(dir, ts, data),
            _ => self.opaque_bytes[dir.index()] += data.len() as u64,
        }
    }
}

impl StreamHandler for AppInspector {
    fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]) {
        if self.proto != Proto::Undecided {
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
                    self.proto = Proto::Other;
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
        match self.proto {
            Proto::Http if self.tunnel.is_none() => {
                self.http.as_mut().expect("http").on_gap(dir, ts, missing)
            }
            Proto::Http => match self.tunnel {
                Some(Tunnel::Tls) => self.tls.as_mut().expect("tls").on_gap(dir, ts, missing),
                Some(Tunnel::H2) => self.h2.as_mut().expect("h2").on_gap(dir, ts, missing),
                _ => {}
            },
            Proto::Tls => self.tls.as_mut().expect("tls").on_gap(dir, ts, missing),
            Proto::H2c => self.h2.as_mut().expect("h2").on_gap(dir, ts, missing),
            Proto::Undecided => self.probe[dir.index()].clear(),
            Proto::Other => {}
        }
    }

    fn on_fin(&mut self, dir: Direction, ts: Timestamp) {
        if let (Proto::Http, None) = (self.proto, self.tunnel) {
            self.http.as_mut().expect("http").on_fin(dir, ts);
        }
    }

    fn on_finish(&mut self, ts: Timestamp) {
        for i in 0..2 {
            self.opaque_bytes[i] += self.probe[i].len() as u64;
            self.probe[i].clear();
        }
        if self.proto == Proto::Undecided && self.opaque_bytes.iter().any(|&b| b > 0) {
            // Payload was seen but never recognised.
            self.proto = Proto::Other;
        }
        if let Some(h) = self.http.as_mut() {
            h.finish(ts);
        }
        if let Some(t) = self.tls.as_mut() {
            t.finish(ts);
        }
        if let Some(h) = self.h2.as_mut() {
            h.finish(ts);
        }
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
