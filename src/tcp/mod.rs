//! TCP: flow keys, sequence numbers, reassembly and the connection lifecycle.
//!
//! Module map: [`flow`] (the 4-tuple key), [`seq`] (sequence numbers, modulo
//! 2^32), [`stream`] (one direction's reassembly, RFC 9293 sequence space),
//! [`state`] (the connection's state machines: handshake and close),
//! [`conn`] (one connection: roles, what was seen of its handshake and close,
//! its two streams), [`table`] (the flow table: one hash lookup per packet,
//! port reuse, idle eviction).

pub mod conn;
mod direction;
pub mod flow;
pub mod seq;
pub mod state;
pub mod stream;
pub mod table;

pub use conn::{ClosedBy, Connection, EndCause, HandshakeState};
pub use direction::Direction;
pub use seq::SeqNumber;
pub use state::{Closing, Opening, TcpState};
pub use table::{FlowTable, TableConfig, TableStats};

use crate::time::Timestamp;

/// What a reassembled connection feeds: the application-layer inspectors.
/// Calls come in capture order across both directions.
pub trait StreamHandler {
    /// In-order bytes of one direction.
    fn on_data(&mut self, dir: Direction, ts: Timestamp, data: &[u8]);
    /// `missing` bytes of this direction were never captured.
    fn on_gap(&mut self, dir: Direction, ts: Timestamp, missing: u64);
    /// The direction's sender closed its side (FIN, delivered in order).
    fn on_fin(&mut self, dir: Direction, ts: Timestamp);
    /// The connection is over (closed, evicted or the capture ended).
    fn on_finish(&mut self, ts: Timestamp);
    /// For a connection picked up mid-stream: does this first payload look like
    /// it was sent by a client (an HTTP request, a TLS ClientHello)? `Some(false)`
    /// if it looks like a server's. Used to fix the guessed roles.
    fn sent_by_client(_data: &[u8]) -> Option<bool> {
        None
    }
}

#[cfg(test)]
mod memory_tests;
#[cfg(test)]
mod tests;
