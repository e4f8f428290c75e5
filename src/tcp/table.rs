//! The flow table: maps every TCP segment to its connection with one hash
//! lookup, follows the handshake and close, starts a new connection when a
//! 4-tuple is reused, and hands finished connections out (for streaming output)
//! so that memory stays bounded on long captures.
//!
//! Who is the client: the sender of a SYN (without ACK); failing that the
//! receiver of a SYN-ACK. For a connection picked up mid-stream the server is
//! guessed to be the endpoint with the lower port (services listen on low,
//! well-known ports; clients use ephemeral ones), the destination of the first
//! packet on a tie; the guess is corrected by the first payload if it is
//! recognisably a request (or a response) from the other side.

use super::conn::{CloseKind, Connection, EndCause};
use super::flow::FlowKey;
use super::stream::Limits;
use super::{Direction, StreamHandler};
use crate::decode::{flags, TcpSegment};
use crate::time::{Duration, Timestamp};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::net::SocketAddr;

#[derive(Debug, Clone, Copy)]
pub struct TableConfig {
    /// A connection with no packet for this long is finalised (reported as
    /// still open) and freed.
    pub idle_timeout: Duration,
    /// A closed connection (both FINs, or a RST) is finalised after this much
    /// quiet, so late ACKs and retransmitted FINs still land on it.
    pub closed_linger: Duration,
    pub limits: Limits,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            idle_timeout: Duration::from_secs(300),
            closed_linger: Duration::from_secs(5),
            limits: Limits::default(),
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TableStats {
    pub tcp_packets: u64,
    pub connections: u64,
    pub port_reuses: u64,
    pub idle_evictions: u64,
    pub peak_open: u64,
    pub peak_ooo_bytes: u64,
}

pub struct FlowTable<H> {
    map: FxHashMap<FlowKey, Box<Connection<H>>>,
    next_id: u64,
    cfg: TableConfig,
    ooo_total: usize,
    last_sweep: Timestamp,
    pub stats: TableStats,
    /// Builds each new connection's handler (default: `H::default()`).
    make: Option<Factory<H>>,
}

/// A shared constructor for connection handlers (e.g. one holding the key log).
pub type Factory<H> = std::sync::Arc<dyn Fn() -> H + Send + Sync>;

impl<H: StreamHandler + Default> FlowTable<H> {
    pub fn new(cfg: TableConfig) -> Self {
        FlowTable {
            map: FxHashMap::default(),
            next_id: 0,
            cfg,
            ooo_total: 0,
            last_sweep: Timestamp::default(),
            stats: TableStats::default(),
            make: None,
        }
    }

    /// A table whose connections get their handler from `make`.
    pub fn with_factory(cfg: TableConfig, make: Factory<H>) -> Self {
        FlowTable {
            make: Some(make),
            ..Self::new(cfg)
        }
    }

    pub fn open_connections(&self) -> usize {
        self.map.len()
    }

    pub fn connections(&self) -> impl Iterator<Item = &Connection<H>> {
        self.map.values().map(|b| &**b)
    }

    /// One TCP segment. Finished connections (closed and quiet, idle, or
    /// replaced by a reuse of their 4-tuple) are passed to `done`.
    pub fn process<F: FnMut(Connection<H>)>(
        &mut self,
        ts: Timestamp,
        s: &TcpSegment<'_>,
        done: &mut F,
    ) {
        self.stats.tcp_packets += 1;
        if ts.since(self.last_sweep) >= Duration::from_secs(1) {
            self.sweep(ts, done);
        }
        let key = FlowKey::new(s.src, s.sport, s.dst, s.dport);
        let syn_only = s.has(flags::SYN) && !s.has(flags::ACK);
        let src = SocketAddr::new(s.src, s.sport);

        // One hash lookup: the entry is updated in place.
        let FlowTable {
            map,
            next_id,
            cfg,
            ooo_total,
            stats,
            make,
            ..
        } = self;
        let conn: &mut Connection<H> = match map.entry(key) {
            Entry::Occupied(e) => {
                let c = e.into_mut();
                if syn_only && starts_new_connection(c, src, s.seq) {
                    stats.port_reuses += 1;
                    let mut old = std::mem::replace(c, new_connection(next_id, stats, ts, s, make));
                    finalize(&mut old, ts, EndCause::PortReused, ooo_total);
                    done(*old);
                }
                c
            }
            Entry::Vacant(e) => e.insert(new_connection(next_id, stats, ts, s, make)),
        };
        segment(conn, ts, s, src, &cfg.limits, ooo_total);
        let open = map.len() as u64;
        if open > stats.peak_open {
            stats.peak_open = open;
        }
        if *ooo_total as u64 > stats.peak_ooo_bytes {
            stats.peak_ooo_bytes = *ooo_total as u64;
        }
    }

    /// End of input: finalise everything, in order of first packet.
    pub fn finish<F: FnMut(Connection<H>)>(&mut self, ts: Timestamp, done: &mut F) {
        let mut all: Vec<Box<Connection<H>>> = self.map.drain().map(|(_, c)| c).collect();
        all.sort_by_key(|c| c.id);
        for mut c in all {
            let cause = if c.close.is_closed() {
                EndCause::Closed
            } else {
                EndCause::CaptureEnded
            };
            finalize(&mut c, ts, cause, &mut self.ooo_total);
            done(*c);
        }
    }

    /// Finalises connections that are closed and quiet or idle too long.
    pub fn sweep<F: FnMut(Connection<H>)>(&mut self, now: Timestamp, done: &mut F) {
        self.last_sweep = now;
        let cfg = self.cfg;
        let expired: Vec<FlowKey> = self
            .map
            .iter()
            .filter(|(_, c)| {
                let quiet = now.since(c.last_ts);
                (c.close.is_closed() && quiet >= cfg.closed_linger) || quiet >= cfg.idle_timeout
            })
            .map(|(k, _)| *k)
            .collect();
        let mut gone: Vec<Box<Connection<H>>> =
            expired.iter().filter_map(|k| self.map.remove(k)).collect();
        gone.sort_by_key(|c| c.id);
        for mut c in gone {
            let cause = if c.close.is_closed() {
                EndCause::Closed
            } else {
                self.stats.idle_evictions += 1;
                EndCause::IdleTimeout
            };
            finalize(&mut c, now, cause, &mut self.ooo_total);
            done(*c);
        }
    }
}

fn finalize<H: StreamHandler>(
    c: &mut Connection<H>,
    ts: Timestamp,
    cause: EndCause,
    ooo_total: &mut usize,
) {
    c.end_cause = cause;
    let Connection { half, app, .. } = c;
    for d in [Direction::ClientToServer, Direction::ServerToClient] {
        half[d.index()].flush(d, ts, ooo_total, app);
    }
    let _ = ts;
    c.app.on_finish(c.last_ts);
}

fn new_connection<H: Default>(
    next_id: &mut u64,
    stats: &mut TableStats,
    ts: Timestamp,
    s: &TcpSegment<'_>,
    make: &Option<Factory<H>>,
) -> Box<Connection<H>> {
    let src = SocketAddr::new(s.src, s.sport);
    let dst = SocketAddr::new(s.dst, s.dport);
    let syn = s.has(flags::SYN);
    let ack = s.has(flags::ACK);
    let (client, server, guessed) = if syn && !ack {
        (src, dst, false)
    } else if syn && ack {
        (dst, src, false)
    } else if s.sport < s.dport {
        (dst, src, true)
    } else {
        // Higher source port, or a tie: the destination is the server.
        (src, dst, true)
    };
    stats.connections += 1;
    let id = *next_id;
    *next_id += 1;
    Box::new(Connection {
        id,
        client,
        server,
        roles_guessed: guessed,
        first_ts: ts,
        last_ts: ts,
        handshake: Default::default(),
        close: Default::default(),
        half: Default::default(),
        end_cause: EndCause::CaptureEnded,
        data_after_close: [0, 0],
        last_data_ts: None,
        app: make.as_ref().map_or_else(H::default, |m| m()),
    })
}

fn segment<H: StreamHandler>(
    c: &mut Connection<H>,
    ts: Timestamp,
    s: &TcpSegment<'_>,
    src: SocketAddr,
    limits: &Limits,
    ooo_total: &mut usize,
) {
    // A mid-stream pickup whose first payload shows we guessed the roles
    // the wrong way round: swap before anything was delivered.
    if c.roles_guessed
        && !s.payload.is_empty()
        && c.half[0].stats.stream_bytes == 0
        && c.half[1].stats.stream_bytes == 0
    {
        let from_client = src == c.client;
        if let Some(by_client) = H::sent_by_client(s.payload) {
            if by_client != from_client {
                std::mem::swap(&mut c.client, &mut c.server);
                c.half.swap(0, 1);
            }
            c.roles_guessed = false;
        }
    }
    let dir = if src == c.client {
        Direction::ClientToServer
    } else {
        Direction::ServerToClient
    };
    c.last_ts = ts;
    if s.payload_len > 0 {
        c.last_data_ts = Some(ts);
    }
    let syn = s.has(flags::SYN);
    let ack = s.has(flags::ACK);
    let fin = s.has(flags::FIN);
    let rst = s.has(flags::RST);
    let i = dir.index();
    c.half[i].stats.packets += 1;

    // Handshake (RFC 9293 §3.5).
    let hs = &mut c.handshake;
    let mut data_seq = s.seq;
    if syn {
        data_seq = s.seq.wrapping_add(1);
        if dir == Direction::ClientToServer && !ack {
            hs.syn_packets += 1;
            if hs.syn.is_none() {
                hs.syn = Some(ts);
                hs.client_isn = Some(s.seq);
                c.half[i].syn(s.seq);
                c.roles_guessed = false;
            }
        } else if dir == Direction::ServerToClient && ack {
            hs.syn_ack_packets += 1;
            if hs.syn_ack.is_none() {
                hs.syn_ack = Some(ts);
                hs.server_isn = Some(s.seq);
                c.half[i].syn(s.seq);
                if !c.half[0].started() {
                    // SYN-ACK before (or without) the SYN: its ACK tells us
                    // where the client's stream starts.
                    c.half[0].syn(s.ack.wrapping_sub(1));
                }
            }
        }
    } else if dir == Direction::ClientToServer && ack && hs.ack.is_none() {
        if let (Some(_), Some(isn)) = (hs.syn_ack, hs.server_isn) {
            if s.ack == isn.wrapping_add(1) {
                hs.ack = Some(ts);
            }
        }
    }

    // Close.
    let after_close =
        c.close.fin[i].is_some() || c.close.rst[0].is_some() || c.close.rst[1].is_some();
    if s.payload_len > 0 && after_close {
        c.data_after_close[i] += s.payload_len as u64;
    }
    if fin && c.close.fin[i].is_none() {
        c.close.fin[i] = Some(ts);
        if c.close.first.is_none() {
            c.close.first = Some((CloseKind::Fin, dir, ts));
        }
    }
    if rst && c.close.rst[i].is_none() {
        c.close.rst[i] = Some(ts);
        if c.close.first.is_none() {
            c.close.first = Some((CloseKind::Rst, dir, ts));
        }
    }

    // Payload and FIN into this direction's stream; the ACK may tell the
    // other direction that a hole will never be filled.
    let Connection { half, app, .. } = c;
    if !rst || s.payload_len > 0 {
        half[i].segment(
            dir,
            ts,
            data_seq,
            s.payload,
            s.payload_len,
            fin,
            limits,
            ooo_total,
            app,
        );
    }
    if ack {
        let o = dir.reverse();
        half[o.index()].peer_ack(o, ts, s.ack, ooo_total, app);
    }
}

/// A SYN on a 4-tuple already in the table: is it a new connection (port
/// reuse) rather than a retransmitted SYN of the current one?
fn starts_new_connection<H>(c: &Connection<H>, src: SocketAddr, seq: u32) -> bool {
    match c.handshake.client_isn {
        // Same ISN: a retransmission (or a duplicated frame).
        Some(isn) => isn != seq || src != c.client,
        // Only the SYN-ACK seen so far (reordered capture): this SYN is its
        // partner.
        None if c.handshake.server_isn.is_some() && c.half[0].stats.packets == 0 => false,
        // Data came before its SYN (a reordered or merged capture): the SYN of
        // the client we already know, still open, whose ISN sits just before
        // where that client's stream began, is this connection's own.
        None if src == c.client && !c.close.is_closed() => match c.half[0].start_seq() {
            Some(start) => start.wrapping_sub(seq.wrapping_add(1)) > 65_536,
            // Nothing from the client yet (a stray server ACK came first).
            None => false,
        },
        // Otherwise the connection was picked up mid-stream, and a SYN now
        // starts a new one.
        None => true,
    }
}
