//! TCP: flow keys, sequence numbers, reassembly and the connection lifecycle.
mod direction;
pub use direction::Direction;
