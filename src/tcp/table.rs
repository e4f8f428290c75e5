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
//!
//! Memory is bounded by design (docs/robustness.md):
//! - a connection that has shown only its SYN and/or SYN-ACK is *half-open* and
//!   kept in a compact 64-byte entry (`HalfOpen`), not a full
//!   [`Connection`] (~2 KB); its next packet of any other kind promotes it. At
//!   most [`TableConfig::max_half_open`] are kept: past that the oldest are
//!   finalised early (`end_cause` `evicted`) and counted;
//! - the whole table (connections, half-open entries, out-of-order buffers) is
//!   kept under [`TableConfig::memory_limit`]: over it, half-open connections
//!   go first, then the connections idle the longest, all counted.

use super::conn::{CloseKind, Connection, EndCause};
use super::flow::FlowKey;
use super::state::{CloseEvent, Closing, OpenEvent, Opened, Opening, TcpState};
use super::stream::Limits;
use super::{Direction, SeqNumber, StreamHandler};
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
    /// Estimated bytes the table may hold (connections, half-open entries,
    /// hash tables, out-of-order buffers); `--memory-limit`.
    pub memory_limit: usize,
    /// Half-open connections kept at most (see [`TableConfig::with_memory_limit`]).
    pub max_half_open: usize,
    /// Keep half-open connections as compact entries (the default; off only
    /// to check that both ways give the same records).
    pub compact_half_open: bool,
}

/// The default `--memory-limit`: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            idle_timeout: Duration::from_secs(300),
            closed_linger: Duration::from_secs(5),
            limits: Limits::default(),
            memory_limit: 0,
            max_half_open: 0,
            compact_half_open: true,
        }
        .with_memory_limit(DEFAULT_MEMORY_LIMIT)
    }
}

impl TableConfig {
    /// Sets the memory budget and the bounds derived from it: half-open
    /// connections may take an eighth of it (~640,000 at 1 GiB), out-of-order
    /// buffers a quarter in all (at most 256 MiB) and a sixty-fourth per
    /// stream (at most 4 MiB).
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self.max_half_open = (bytes / 8 / (2 * HALF_OPEN_SLOT)).max(16);
        self.limits.max_ooo_total = (bytes / 4).clamp(4 << 10, 256 << 20);
        self.limits.max_ooo_per_stream = (bytes / 64).clamp(4 << 10, 4 << 20);
        self
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
    /// Connections that ended having shown nothing but SYN and/or SYN-ACK.
    pub half_open_ended: u64,
    /// Of those, finalised early: past `max_half_open` or the memory limit.
    pub half_open_evicted: u64,
    /// Connections past the handshake finalised early by the memory limit.
    pub memory_evictions: u64,
    /// Highest memory estimate of the table (bytes).
    pub peak_memory: u64,
}

impl TableStats {
    /// Adds the counts of another table (a worker's, with `--threads`). The
    /// peaks add up to an upper bound of the combined peak; `peak_memory` is
    /// left alone (the caller replays the true combined peak).
    pub fn add(&mut self, o: &TableStats) {
        self.tcp_packets += o.tcp_packets;
        self.connections += o.connections;
        self.port_reuses += o.port_reuses;
        self.idle_evictions += o.idle_evictions;
        self.peak_open += o.peak_open;
        self.peak_ooo_bytes += o.peak_ooo_bytes;
        self.half_open_ended += o.half_open_ended;
        self.half_open_evicted += o.half_open_evicted;
        self.memory_evictions += o.memory_evictions;
    }
}

/// A connection that has shown nothing but its SYN and/or SYN-ACK
/// (retransmissions included), kept compact: a SYN flood makes millions.
/// Any other packet on its 4-tuple promotes it to a full [`Connection`],
/// rebuilt exactly as if it had been one all along.
#[derive(Clone, Copy, Debug)]
struct HalfOpen {
    id: u64,
    first_ts: i64,
    last_ts: i64,
    /// `NONE` until seen.
    syn_ts: i64,
    syn_ack_ts: i64,
    client_isn: SeqNumber,
    server_isn: SeqNumber,
    /// The SYN-ACK's acknowledgement number (where the client's stream starts).
    syn_ack_ack: SeqNumber,
    syn_packets: u32,
    syn_ack_packets: u32,
    /// `CLIENT_LO` | `V4`.
    bits: u8,
}

const NONE: i64 = i64::MIN;
const CLIENT_LO: u8 = 1;
const V4: u8 = 2;
/// One half-open entry in its hash table, with the control byte.
const HALF_OPEN_SLOT: usize = std::mem::size_of::<(FlowKey, HalfOpen)>() + 1;

/// What a packet does to a half-open connection.
enum Absorb {
    /// Updated in place (a SYN, SYN-ACK or a retransmission of one).
    Kept,
    /// A SYN with another ISN: the 4-tuple was reused.
    Reused,
    /// Anything else: it becomes a full connection.
    Promote,
}

impl HalfOpen {
    fn new(id: u64, ts: Timestamp, key: &FlowKey, s: &TcpSegment<'_>) -> HalfOpen {
        let v4 = s.src.is_ipv4();
        let client = if s.has(flags::ACK) {
            SocketAddr::new(s.dst, s.dport)
        } else {
            SocketAddr::new(s.src, s.sport)
        };
        let (lo, _) = key.endpoints(v4);
        let mut h = HalfOpen {
            id,
            first_ts: ts.0,
            last_ts: ts.0,
            syn_ts: NONE,
            syn_ack_ts: NONE,
            client_isn: SeqNumber::default(),
            server_isn: SeqNumber::default(),
            syn_ack_ack: SeqNumber::default(),
            syn_packets: 0,
            syn_ack_packets: 0,
            bits: if v4 { V4 } else { 0 } | if lo == client { CLIENT_LO } else { 0 },
        };
        let kept = h.absorb(ts, s, key);
        debug_assert!(matches!(kept, Absorb::Kept));
        h
    }

    fn client_server(&self, key: &FlowKey) -> (SocketAddr, SocketAddr) {
        let (lo, hi) = key.endpoints(self.bits & V4 != 0);
        if self.bits & CLIENT_LO != 0 {
            (lo, hi)
        } else {
            (hi, lo)
        }
    }

    /// Only SYN / SYN-ACK without payload, FIN or RST may reach here.
    fn absorb(&mut self, ts: Timestamp, s: &TcpSegment<'_>, key: &FlowKey) -> Absorb {
        let (client, server) = self.client_server(key);
        let src = SocketAddr::new(s.src, s.sport);
        let seq = SeqNumber::new(s.seq);
        if !s.has(flags::ACK) && src == client {
            if self.syn_ts != NONE && self.client_isn != seq {
                return Absorb::Reused;
            }
            self.syn_packets = self.syn_packets.saturating_add(1);
            if self.syn_ts == NONE {
                self.syn_ts = ts.0;
                self.client_isn = seq;
            }
        } else if s.has(flags::ACK) && src == server {
            self.syn_ack_packets = self.syn_ack_packets.saturating_add(1);
            if self.syn_ack_ts == NONE {
                self.syn_ack_ts = ts.0;
                self.server_isn = seq;
                self.syn_ack_ack = SeqNumber::new(s.ack);
            }
        } else if !s.has(flags::ACK) && self.syn_ts != NONE {
            // A SYN from the server's side of a SYN we know: a new connection.
            return Absorb::Reused;
        } else {
            return Absorb::Promote;
        }
        self.last_ts = ts.0;
        Absorb::Kept
    }

    /// The full connection this one stands for (what the flow table would
    /// have built from the same packets).
    fn into_connection<H: Default>(self, key: &FlowKey) -> Box<Connection<H>> {
        let (client, server) = self.client_server(key);
        let mut c = blank_connection(self.id, client, server, false, Timestamp(self.first_ts));
        c.last_ts = Timestamp(self.last_ts);
        c.state.opening = match (self.syn_ts != NONE, self.syn_ack_ts != NONE) {
            (true, true) => Opening::SynReceived,
            (true, false) => Opening::SynSent,
            (false, true) => Opening::SynAckOnly,
            (false, false) => Opening::Unseen,
        };
        let hs = &mut c.handshake;
        hs.syn_packets = self.syn_packets;
        hs.syn_ack_packets = self.syn_ack_packets;
        c.half[0].stats.packets = self.syn_packets as u64;
        c.half[1].stats.packets = self.syn_ack_packets as u64;
        if self.syn_ack_ts != NONE {
            hs.syn_ack = Some(Timestamp(self.syn_ack_ts));
            hs.server_isn = Some(self.server_isn);
            c.half[1].syn(self.server_isn);
        }
        if self.syn_ts != NONE {
            hs.syn = Some(Timestamp(self.syn_ts));
            hs.client_isn = Some(self.client_isn);
            c.half[0].syn(self.client_isn);
        } else if self.syn_ack_ts != NONE {
            c.half[0].syn(self.syn_ack_ack - 1);
        }
        c
    }
}

/// What an application inspector allocates besides its fixed size, on
/// average: measured on short HTTP connections (one exchange: its strings,
/// the exchange list, head buffers), where the process's peak RSS was about
/// twice the estimate without it. Long connections hold more (bounded per
/// connection by the inspectors' own limits), opaque ones less.
pub const INSPECTOR_ALLOWANCE: usize = 2048;

/// A full connection in the table: the box, its share of the hash table
/// (key, pointer, control byte), the allocator's header, and what its
/// inspector allocates on average.
fn conn_cost<H>() -> usize {
    std::mem::size_of::<Connection<H>>()
        + std::mem::size_of::<(FlowKey, usize)>()
        + 1
        + 16
        + INSPECTOR_ALLOWANCE
}

pub struct FlowTable<H> {
    map: FxHashMap<FlowKey, Box<Connection<H>>>,
    /// Connections that have shown only SYN / SYN-ACK so far.
    half_open: FxHashMap<FlowKey, HalfOpen>,
    next_id: u64,
    cfg: TableConfig,
    ooo_total: usize,
    last_sweep: Timestamp,
    pub stats: TableStats,
    /// Builds a connection's handler just before its first payload (default:
    /// the `H::default()` it was created with).
    make: Option<Factory<H>>,
}

/// A shared constructor for connection handlers (e.g. one holding the key log).
pub type Factory<H> = std::sync::Arc<dyn Fn() -> H + Send + Sync>;

impl<H: StreamHandler + Default> FlowTable<H> {
    pub fn new(cfg: TableConfig) -> Self {
        FlowTable {
            map: FxHashMap::default(),
            half_open: FxHashMap::default(),
            next_id: 0,
            cfg,
            ooo_total: 0,
            last_sweep: Timestamp::default(),
            stats: TableStats::default(),
            make: None,
        }
    }

    /// A table whose connections get their handler from `make` (before any
    /// payload reaches it).
    pub fn with_factory(cfg: TableConfig, make: Factory<H>) -> Self {
        FlowTable {
            make: Some(make),
            ..Self::new(cfg)
        }
    }

    pub fn open_connections(&self) -> usize {
        self.map.len() + self.half_open.len()
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    /// The connections past the handshake's first packets. Half-open ones
    /// (only SYN / SYN-ACK seen: never closed, nothing delivered) are not
    /// included; [`FlowTable::for_each_connection`] visits those too.
    pub fn connections(&self) -> impl Iterator<Item = &Connection<H>> {
        self.map.values().map(|b| &**b)
    }

    /// Calls `f` on every connection still in the table (half-open ones
    /// rebuilt as full connections for the call).
    pub fn for_each_connection(&self, mut f: impl FnMut(&Connection<H>)) {
        for c in self.map.values() {
            f(c);
        }
        for (k, h) in &self.half_open {
            f(&h.into_connection::<H>(k));
        }
    }

    /// What the table holds, estimated in bytes: the connections (each box
    /// and its hash-table slot), the half-open entries (two slots each: a
    /// hash table is at most half empty after it grows), and the
    /// out-of-order buffers as accounted (segment overhead included).
    /// Inspectors are counted at [`INSPECTOR_ALLOWANCE`] each.
    pub fn memory_estimate(&self) -> usize {
        self.map.len() * conn_cost::<H>()
            + self.half_open.len() * 2 * HALF_OPEN_SLOT
            + self.ooo_total
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
        let key = FlowKey::of_segment(s);
        let src = SocketAddr::new(s.src, s.sport);

        // One hash lookup: the connection is updated in place.
        let FlowTable {
            map,
            half_open,
            next_id,
            cfg,
            ooo_total,
            stats,
            make,
            ..
        } = self;
        let handshake_only = cfg.compact_half_open
            && s.has(flags::SYN)
            && s.payload_len == 0
            && !s.has(flags::FIN)
            && !s.has(flags::RST);
        // `get_mut`, not `entry`: nearly every packet finds its connection,
        // and the entry API costs more on a hit (callgrind: ~34
        // instructions a packet); a new connection looks its slot up again.
        let conn: &mut Connection<H> = match map.get_mut(&key) {
            Some(c) => {
                replace_if_reused(c, ts, s, next_id, stats, ooo_total, done);
                c
            }
            // Not a full connection: a half-open one, or a new one.
            None => match half_open.entry(key) {
                Entry::Occupied(mut h) => {
                    let outcome = if handshake_only {
                        h.get_mut().absorb(ts, s, &key)
                    } else {
                        Absorb::Promote
                    };
                    match outcome {
                        Absorb::Kept => return,
                        Absorb::Reused => {
                            stats.port_reuses += 1;
                            stats.half_open_ended += 1;
                            let old = std::mem::replace(
                                h.get_mut(),
                                HalfOpen::new(*next_id, ts, &key, s),
                            );
                            *next_id += 1;
                            stats.connections += 1;
                            let mut old = old.into_connection::<H>(&key);
                            finalize(&mut old, ts, EndCause::PortReused, ooo_total);
                            done(*old);
                            return;
                        }
                        Absorb::Promote => {
                            let c = map.entry(key).or_insert(h.remove().into_connection(&key));
                            if replace_if_reused(c, ts, s, next_id, stats, ooo_total, done) {
                                stats.half_open_ended += 1;
                            }
                            c
                        }
                    }
                }
                Entry::Vacant(h) if handshake_only => {
                    h.insert(HalfOpen::new(*next_id, ts, &key, s));
                    *next_id += 1;
                    stats.connections += 1;
                    if half_open.len() > cfg.max_half_open {
                        self.evict_half_open(ts, half_open_excess(self.cfg.max_half_open), done);
                    }
                    self.check_memory(ts, done);
                    return;
                }
                Entry::Vacant(_) => map
                    .entry(key)
                    .or_insert(new_connection(next_id, stats, ts, s)),
            },
        };
        // The first payload of a connection: give it the handler the table
        // was asked to build (nothing has reached the default one yet).
        if let Some(m) = make {
            if s.payload_len > 0 && conn.last_data_ts.is_none() {
                conn.app = m();
            }
        }
        segment(conn, ts, s, src, &cfg.limits, ooo_total);
        let open = (map.len() + half_open.len()) as u64;
        if open > stats.peak_open {
            stats.peak_open = open;
        }
        if *ooo_total as u64 > stats.peak_ooo_bytes {
            stats.peak_ooo_bytes = *ooo_total as u64;
        }
        self.check_memory(ts, done);
    }

    /// Over the memory limit: half-open connections go first (oldest first),
    /// then closed ones still lingering, then the open connections idle the
    /// longest, until the table is back under seven eighths of the limit.
    /// Each one is finalised (`end_cause` `evicted`, or `closed` for a
    /// closed one) and handed to `done`, so nothing disappears unreported.
    #[inline]
    fn check_memory<F: FnMut(Connection<H>)>(&mut self, now: Timestamp, done: &mut F) {
        let est = self.memory_estimate();
        if est as u64 > self.stats.peak_memory {
            self.stats.peak_memory = est as u64;
        }
        if est > self.cfg.memory_limit {
            self.shrink(now, est, done);
        }
    }

    /// [`FlowTable::check_memory`] over the limit (out of line: it runs on
    /// every packet, this part almost never).
    #[cold]
    #[inline(never)]
    fn shrink<F: FnMut(Connection<H>)>(&mut self, now: Timestamp, est: usize, done: &mut F) {
        let target = self.cfg.memory_limit / 8 * 7;
        if !self.half_open.is_empty() {
            let over = est.saturating_sub(target);
            let n = (over / (2 * HALF_OPEN_SLOT) + 1).min(self.half_open.len());
            self.evict_half_open(now, n, done);
        }
        let est = self.memory_estimate();
        if est > target && !self.map.is_empty() {
            // Closed connections lingering for late packets go first (their
            // records lose nothing), then the open ones idle the longest.
            let n = ((est - target) / conn_cost::<H>() + 1).min(self.map.len());
            let mut by_age: Vec<(bool, Timestamp, u64, FlowKey)> = self
                .map
                .iter()
                .map(|(k, c)| (!c.state.closing.is_over(), c.last_ts, c.id, *k))
                .collect();
            if n < by_age.len() {
                by_age.select_nth_unstable_by_key(n, |&(open, t, id, _)| (open, t, id));
                by_age.truncate(n);
            }
            let mut gone: Vec<Box<Connection<H>>> = by_age
                .iter()
                .filter_map(|(_, _, _, k)| self.map.remove(k))
                .collect();
            gone.sort_by_key(|c| c.id);
            for mut c in gone {
                let cause = if c.state.closing.is_over() {
                    EndCause::Closed
                } else {
                    self.stats.memory_evictions += 1;
                    EndCause::Evicted
                };
                finalize(&mut c, now, cause, &mut self.ooo_total);
                done(*c);
            }
        }
    }

    /// Finalises the `n` half-open connections quiet the longest.
    fn evict_half_open<F: FnMut(Connection<H>)>(&mut self, now: Timestamp, n: usize, done: &mut F) {
        let mut by_age: Vec<(i64, u64, FlowKey)> = self
            .half_open
            .iter()
            .map(|(k, h)| (h.last_ts, h.id, *k))
            .collect();
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n, |&(t, id, _)| (t, id));
            by_age.truncate(n);
        }
        by_age.sort_unstable_by_key(|&(_, id, _)| id);
        for (_, _, k) in by_age {
            if let Some(h) = self.half_open.remove(&k) {
                self.stats.half_open_ended += 1;
                self.stats.half_open_evicted += 1;
                let mut c = h.into_connection::<H>(&k);
                finalize(&mut c, now, EndCause::Evicted, &mut self.ooo_total);
                done(*c);
            }
        }
    }

    /// End of input: finalise everything, in order of first packet.
    pub fn finish<F: FnMut(Connection<H>)>(&mut self, ts: Timestamp, done: &mut F) {
        let full: Vec<Box<Connection<H>>> = self.map.drain().map(|(_, c)| c).collect();
        let half: Vec<(FlowKey, HalfOpen)> = self.half_open.drain().collect();
        self.stats.half_open_ended += half.len() as u64;
        self.emit(full, half, ts, done, |c, _| {
            if c.state.closing.is_over() {
                EndCause::Closed
            } else {
                EndCause::CaptureEnded
            }
        });
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
                (c.state.closing.is_over() && quiet >= cfg.closed_linger)
                    || quiet >= cfg.idle_timeout
            })
            .map(|(k, _)| *k)
            .collect();
        let full: Vec<Box<Connection<H>>> =
            expired.iter().filter_map(|k| self.map.remove(k)).collect();
        let idle = cfg.idle_timeout;
        let expired: Vec<FlowKey> = self
            .half_open
            .iter()
            .filter(|(_, h)| now.since(Timestamp(h.last_ts)) >= idle)
            .map(|(k, _)| *k)
            .collect();
        let half: Vec<(FlowKey, HalfOpen)> = expired
            .into_iter()
            .filter_map(|k| self.half_open.remove(&k).map(|h| (k, h)))
            .collect();
        self.stats.half_open_ended += half.len() as u64;
        self.emit(full, half, now, done, |c, stats| {
            if c.state.closing.is_over() {
                EndCause::Closed
            } else {
                stats.idle_evictions += 1;
                EndCause::IdleTimeout
            }
        });
    }

    /// Finalises and hands out connections in id order (first packet). A
    /// half-open one is rebuilt as a full connection only when its turn
    /// comes, so a million of them never become full connections at once.
    fn emit<F: FnMut(Connection<H>)>(
        &mut self,
        mut full: Vec<Box<Connection<H>>>,
        mut half: Vec<(FlowKey, HalfOpen)>,
        ts: Timestamp,
        done: &mut F,
        cause: impl Fn(&Connection<H>, &mut TableStats) -> EndCause,
    ) {
        full.sort_unstable_by_key(|c| std::cmp::Reverse(c.id));
        half.sort_unstable_by_key(|(_, h)| std::cmp::Reverse(h.id));
        loop {
            let take_full = match (full.last(), half.last()) {
                (Some(c), Some((_, h))) => c.id < h.id,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let mut c = if take_full {
                full.pop().expect("checked")
            } else {
                let (k, h) = half.pop().expect("checked");
                h.into_connection(&k)
            };
            let why = cause(&c, &mut self.stats);
            finalize(&mut c, ts, why, &mut self.ooo_total);
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

/// A SYN (without ACK) that starts a new connection on the 4-tuple of `c`
/// (port reuse, not a retransmission): the old connection is finalised
/// (`port-reused`) and handed to `done`, and a new one takes its place.
/// Returns whether it did.
#[inline]
fn replace_if_reused<H: StreamHandler + Default, F: FnMut(Connection<H>)>(
    c: &mut Box<Connection<H>>,
    ts: Timestamp,
    s: &TcpSegment<'_>,
    next_id: &mut u64,
    stats: &mut TableStats,
    ooo_total: &mut usize,
    done: &mut F,
) -> bool {
    // Checked here, inline: nearly every packet is not a SYN.
    let syn_only = s.flags & (flags::SYN | flags::ACK) == flags::SYN;
    syn_only && replace_on_syn(c, ts, s, next_id, stats, ooo_total, done)
}

/// [`replace_if_reused`] for a SYN without ACK.
#[inline(never)]
fn replace_on_syn<H: StreamHandler + Default, F: FnMut(Connection<H>)>(
    c: &mut Box<Connection<H>>,
    ts: Timestamp,
    s: &TcpSegment<'_>,
    next_id: &mut u64,
    stats: &mut TableStats,
    ooo_total: &mut usize,
    done: &mut F,
) -> bool {
    let src = SocketAddr::new(s.src, s.sport);
    if !starts_new_connection(c, src, SeqNumber::new(s.seq)) {
        return false;
    }
    stats.port_reuses += 1;
    let mut old = std::mem::replace(c, new_connection(next_id, stats, ts, s));
    finalize(&mut old, ts, EndCause::PortReused, ooo_total);
    done(*old);
    true
}

fn new_connection<H: Default>(
    next_id: &mut u64,
    stats: &mut TableStats,
    ts: Timestamp,
    s: &TcpSegment<'_>,
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
    blank_connection(id, client, server, guessed, ts)
}

fn half_open_excess(max: usize) -> usize {
    max / 8 + 1
}

fn blank_connection<H: Default>(
    id: u64,
    client: SocketAddr,
    server: SocketAddr,
    guessed: bool,
    ts: Timestamp,
) -> Box<Connection<H>> {
    Box::new(Connection {
        id,
        client,
        server,
        roles_guessed: guessed,
        first_ts: ts,
        last_ts: ts,
        state: TcpState::default(),
        handshake: Default::default(),
        close: Default::default(),
        half: Default::default(),
        end_cause: EndCause::CaptureEnded,
        data_after_close: [0, 0],
        last_data_ts: None,
        app: H::default(),
    })
}

/// One segment on its connection: the roles, the state machines (and the
/// facts kept for the record), then the payload into reassembly.
fn segment<H: StreamHandler>(
    c: &mut Connection<H>,
    ts: Timestamp,
    s: &TcpSegment<'_>,
    src: SocketAddr,
    limits: &Limits,
    ooo_total: &mut usize,
) {
    if c.roles_guessed {
        fix_guessed_roles(c, s, src);
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
    let i = dir.index();
    c.half[i].stats.packets += 1;
    let seq = SeqNumber::new(s.seq);
    let ack = SeqNumber::new(s.ack);
    open(c, ts, dir, open_event(c, s, ack), seq, ack);
    close(c, ts, dir, s);

    // Payload and FIN into this direction's stream (a SYN takes one
    // sequence number before the first payload byte: RFC 9293 §3.4); the
    // ACK may tell the other direction that a hole will never be filled.
    let data_seq = if s.has(flags::SYN) { seq + 1 } else { seq };
    let rst = s.has(flags::RST);
    let Connection { half, app, .. } = c;
    if !rst || s.payload_len > 0 {
        half[i].segment(
            dir,
            ts,
            data_seq,
            s.payload,
            s.payload_len,
            s.has(flags::FIN),
            limits,
            ooo_total,
            app,
        );
    }
    if s.has(flags::ACK) {
        let o = dir.reverse();
        half[o.index()].peer_ack(o, ts, ack, ooo_total, app);
    }
}

/// A mid-stream pickup whose first payload shows we guessed the roles the
/// wrong way round: swap before anything was delivered.
fn fix_guessed_roles<H: StreamHandler>(c: &mut Connection<H>, s: &TcpSegment<'_>, src: SocketAddr) {
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
}

/// The segment's flags as the handshake sees them (RFC 9293 §3.5): the ACK
/// of the SYN-ACK is the one acknowledging the server's ISN + 1.
fn open_event<H>(c: &Connection<H>, s: &TcpSegment<'_>, ack: SeqNumber) -> OpenEvent {
    match (s.has(flags::SYN), s.has(flags::ACK)) {
        (true, false) => OpenEvent::Syn,
        (true, true) => OpenEvent::SynAck,
        (false, true) if c.handshake.server_isn.is_some_and(|isn| ack == isn + 1) => {
            OpenEvent::AckOfSyn
        }
        (false, _) => OpenEvent::Other,
    }
}

/// The handshake's state machine, and what its step means for the record
/// and the streams.
fn open<H>(
    c: &mut Connection<H>,
    ts: Timestamp,
    dir: Direction,
    ev: OpenEvent,
    seq: SeqNumber,
    ack: SeqNumber,
) {
    if ev == OpenEvent::Other {
        // Nothing for the handshake in any state (most segments): skip the
        // state machine's match.
        return;
    }
    let (next, what) = c.state.opening.on(dir, ev);
    c.state.opening = next;
    let hs = &mut c.handshake;
    match what {
        Opened::FirstSyn => {
            hs.syn_packets += 1;
            hs.syn = Some(ts);
            hs.client_isn = Some(seq);
            c.half[0].syn(seq);
            c.roles_guessed = false;
        }
        Opened::SynAgain => hs.syn_packets += 1,
        Opened::FirstSynAck => {
            hs.syn_ack_packets += 1;
            hs.syn_ack = Some(ts);
            hs.server_isn = Some(seq);
            c.half[1].syn(seq);
            if !c.half[0].started() {
                // SYN-ACK before (or without) the SYN: its ACK tells us
                // where the client's stream starts.
                c.half[0].syn(ack - 1);
            }
        }
        Opened::SynAckAgain => hs.syn_ack_packets += 1,
        Opened::Acked => hs.ack = Some(ts),
        Opened::Nothing => {}
    }
    // The facts kept for the record agree with the state.
    debug_assert_eq!(
        (
            c.handshake.syn.is_some(),
            c.handshake.syn_ack.is_some(),
            c.handshake.ack.is_some()
        ),
        (
            next.syn_seen(),
            next.syn_ack_seen(),
            matches!(next, Opening::Established { .. })
        )
    );
}

/// The close's state machine (FIN, then RST if the segment has both), and
/// the facts for the record: the first FIN and RST from each side, the first
/// close of all, and data sent after the close.
fn close<H>(c: &mut Connection<H>, ts: Timestamp, dir: Direction, s: &TcpSegment<'_>) {
    let i = dir.index();
    if s.payload_len > 0 && c.state.closing.is_after_close(dir) {
        c.data_after_close[i] += s.payload_len as u64;
    }
    if s.flags & (flags::FIN | flags::RST) == 0 {
        // Neither: nothing more for the close (most segments).
        return;
    }
    for (flag, ev, kind) in [
        (flags::FIN, CloseEvent::Fin, CloseKind::Fin),
        (flags::RST, CloseEvent::Rst, CloseKind::Rst),
    ] {
        if !s.has(flag) {
            continue;
        }
        if c.state.closing == Closing::Open {
            c.close.first = Some((kind, dir, ts));
        }
        c.state.closing = c.state.closing.on(dir, ev);
        let first = match ev {
            CloseEvent::Fin => &mut c.close.fin[i],
            CloseEvent::Rst => &mut c.close.rst[i],
        };
        first.get_or_insert(ts);
    }
    debug_assert_eq!(c.close.is_closed(), c.state.closing.is_over());
}

/// A SYN on a 4-tuple already in the table: is it a new connection (port
/// reuse) rather than a retransmitted SYN of the current one?
fn starts_new_connection<H>(c: &Connection<H>, src: SocketAddr, seq: SeqNumber) -> bool {
    match c.handshake.client_isn {
        // The client's SYN was seen; the same ISN again: a retransmission
        // (or a duplicated frame).
        Some(isn) => isn != seq || src != c.client,
        // Only the SYN-ACK seen so far (reordered capture): this SYN is its
        // partner.
        None if c.state.opening.syn_ack_seen() && c.half[0].stats.packets == 0 => false,
        // Data came before its SYN (a reordered or merged capture): the SYN of
        // the client we already know, still open, whose ISN sits just before
        // where that client's stream began (by at most 64 KiB), is this
        // connection's own.
        None if src == c.client && !c.state.closing.is_over() => match c.half[0].start_seq() {
            Some(start) => start.distance_from(seq + 1).is_none_or(|d| d > 65_536),
            // Nothing from the client yet (a stray server ACK came first).
            None => false,
        },
        // Otherwise the connection was picked up mid-stream, and a SYN now
        // starts a new one.
        None => true,
    }
}
