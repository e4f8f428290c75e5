//! One TCP connection: who is client and server, the 3-way handshake, who
//! closed it and how, and its two reassembled directions.

use super::stream::{HalfStream, StreamStats};
use super::{Direction, SeqNumber, TcpState};
use crate::time::Timestamp;
use serde::Serialize;
use std::net::SocketAddr;

/// `complete` (SYN, SYN-ACK and the client's ACK of it seen), `partial` (some of
/// it seen) or `missing` (the connection was picked up mid-stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HandshakeState {
    Complete,
    Partial,
    Missing,
}

impl HandshakeState {
    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeState::Complete => "complete",
            HandshakeState::Partial => "partial",
            HandshakeState::Missing => "missing",
        }
    }
}

/// How the connection's first close happened (the JSON `closed_by` contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClosedBy {
    Client,
    Server,
    ClientReset,
    ServerReset,
    Open,
}

impl ClosedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Client => "client",
            ClosedBy::Server => "server",
            ClosedBy::ClientReset => "client-reset",
            ClosedBy::ServerReset => "server-reset",
            ClosedBy::Open => "open",
        }
    }
}

/// Why the flow table let go of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndCause {
    /// Both FINs, or a RST, then quiet.
    Closed,
    /// No packet for longer than the idle timeout.
    IdleTimeout,
    /// A new SYN reused the 4-tuple.
    PortReused,
    /// The capture ended with the connection still there.
    CaptureEnded,
    /// Finalised early to bound memory: a half-open connection past the
    /// half-open cap, or the table over `--memory-limit` (oldest idle first).
    Evicted,
}

/// What was seen of the handshake, for the record: the first SYN, SYN-ACK and
/// ACK of the SYN-ACK, and the ISNs. Decisions are the state machine's
/// ([`Connection::state`]); these facts agree with it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Handshake {
    pub syn: Option<Timestamp>,
    pub syn_ack: Option<Timestamp>,
    pub ack: Option<Timestamp>,
    pub syn_packets: u32,
    pub syn_ack_packets: u32,
    #[serde(skip)]
    pub client_isn: Option<SeqNumber>,
    #[serde(skip)]
    pub server_isn: Option<SeqNumber>,
}

impl Handshake {
    pub fn state(&self) -> HandshakeState {
        match (
            self.syn.is_some(),
            self.syn_ack.is_some(),
            self.ack.is_some(),
        ) {
            (true, true, true) => HandshakeState::Complete,
            (false, false, _) => HandshakeState::Missing,
            _ => HandshakeState::Partial,
        }
    }

    /// Which part of the handshake is missing, in words, for a partial one.
    pub fn detail(&self, closed: &Close) -> Option<String> {
        if self.state() != HandshakeState::Partial {
            return None;
        }
        let mut seen = Vec::new();
        if self.syn.is_some() {
            seen.push("SYN");
        }
        if self.syn_ack.is_some() {
            seen.push("SYN-ACK");
        }
        let mut s = format!("{} only", seen.join("+"));
        if let Some((k, d, _)) = closed.first {
            if k == CloseKind::Rst {
                s = format!(
                    "{} then RST from {}",
                    seen.join("+"),
                    if d == Direction::ClientToServer {
                        "client"
                    } else {
                        "server"
                    }
                );
            }
        } else if self.syn.is_some() && self.syn_ack.is_some() {
            s = "no ACK of the SYN-ACK".to_string();
        }
        Some(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseKind {
    Fin,
    Rst,
}

/// What was seen of the close, for the record: the first FIN and RST from
/// each side, and the first of them all. Decisions are the state machine's
/// ([`Connection::state`]); these facts agree with it.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Close {
    /// First FIN from [client, server].
    pub fin: [Option<Timestamp>; 2],
    /// First RST from [client, server].
    pub rst: [Option<Timestamp>; 2],
    /// The first FIN or RST: kind, its sender's direction, time.
    #[serde(skip)]
    pub first: Option<(CloseKind, Direction, Timestamp)>,
}

impl Close {
    pub fn closed_by(&self) -> ClosedBy {
        match self.first {
            None => ClosedBy::Open,
            Some((CloseKind::Fin, Direction::ClientToServer, _)) => ClosedBy::Client,
            Some((CloseKind::Fin, Direction::ServerToClient, _)) => ClosedBy::Server,
            Some((CloseKind::Rst, Direction::ClientToServer, _)) => ClosedBy::ClientReset,
            Some((CloseKind::Rst, Direction::ServerToClient, _)) => ClosedBy::ServerReset,
        }
    }
    /// Both sides sent FIN, or either sent RST: nothing more is expected.
    /// (From the facts, for callers holding only them; the same answer as
    /// the connection's `state.closing.is_over()`.)
    pub fn is_closed(&self) -> bool {
        (self.fin[0].is_some() && self.fin[1].is_some())
            || self.rst[0].is_some()
            || self.rst[1].is_some()
    }
    /// One side sent FIN and the other kept sending data after it.
    pub fn first_time(&self) -> Option<Timestamp> {
        self.first.map(|(_, _, t)| t)
    }
    /// A RST that followed a FIN (e.g. the server closed, the client wrote into
    /// the closed socket and the server's stack answered with RST).
    pub fn reset_after_fin(&self) -> bool {
        let first_fin = self.fin.iter().flatten().min();
        let first_rst = self.rst.iter().flatten().min();
        matches!((first_fin, first_rst), (Some(f), Some(r)) if r >= f)
    }
}

pub struct Connection<H> {
    pub id: u64,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// The client was guessed (no SYN or SYN-ACK seen).
    pub roles_guessed: bool,
    pub first_ts: Timestamp,
    pub last_ts: Timestamp,
    /// Where the handshake and the close are (see [`super::state`]): what
    /// the flow table decides by.
    pub state: TcpState,
    pub handshake: Handshake,
    pub close: Close,
    pub half: [HalfStream; 2],
    pub end_cause: EndCause,
    /// Data seen after this side's FIN or after a RST (the other side's view of
    /// a half-closed connection).
    pub data_after_close: [u64; 2],
    /// The last packet that carried payload (either direction).
    pub last_data_ts: Option<Timestamp>,
    pub app: H,
}

impl<H> Connection<H> {
    pub fn stats(&self, d: Direction) -> &StreamStats {
        &self.half[d.index()].stats
    }
    pub fn duration(&self) -> crate::time::Duration {
        self.last_ts.since(self.first_ts)
    }
}
