//! Input decoding shared by the fuzz targets.
//!
//! The targets split the raw fuzz input themselves (no `arbitrary`) so that
//! seed inputs are easy to write by hand or by `fuzz/gen_seeds.py`.
//!
//! Stream events (`http_inspector`, `tls_inspector`, `h2_inspector`), one after
//! another until the input ends:
//!
//! ```text
//! op: u8      bit 0-1 kind: 0|1 data, 2 gap, 3 fin
//!             bit 2   direction: 0 client→server, 1 server→client
//!             bit 3   gap: 4-byte length instead of 2
//!             bit 4-7 time step (ms)
//! data:  len: u8, then `len` bytes (fewer if the input ends)
//! gap:   n: u16 LE (or u32 LE with bit 3)
//! fin:   nothing
//! ```
//!
//! TCP segments (`flow_table`), each:
//!
//! ```text
//! b0: u8      bit 0 direction (0: client→server), bit 1-2 time step
//!             (1 ms, 1 s, 10 s, 400 s), bit 3 snaplen cut (payload_len > len),
//! flags: u8
//! seq: u32 LE   offset from the sender's base ISN
//! ack: u32 LE   offset from the receiver's base ISN
//! len: u8, then `len` payload bytes
//! ```

use keepwatch::{Direction, Timestamp};

pub enum Event<'a> {
    Data(Direction, Timestamp, &'a [u8]),
    Gap(Direction, Timestamp, u64),
    Fin(Direction, Timestamp),
}

pub struct Events<'a> {
    data: &'a [u8],
    ts: i64,
}

pub fn events(data: &[u8]) -> Events<'_> {
    Events {
        data,
        ts: 1_700_000_000_000_000_000,
    }
}

fn take<'a>(d: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(d.len());
    let (a, b) = d.split_at(n);
    *d = b;
    a
}

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;
    fn next(&mut self) -> Option<Event<'a>> {
        let (&op, rest) = self.data.split_first()?;
        self.data = rest;
        let dir = if op & 4 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        self.ts += (op >> 4) as i64 * 1_000_000;
        let ts = Timestamp(self.ts);
        Some(match op & 3 {
            0 | 1 => {
                let len = take(&mut self.data, 1).first().copied().unwrap_or(0);
                Event::Data(dir, ts, take(&mut self.data, len as usize))
            }
            2 => {
                let w = if op & 8 != 0 { 4 } else { 2 };
                Event::Gap(dir, ts, le(take(&mut self.data, w)))
            }
            _ => Event::Fin(dir, ts),
        })
    }
}

/// One TCP segment decoded from the input, before it is turned into a
/// `keepwatch::decode::TcpSegment`.
pub struct Seg<'a> {
    pub from_client: bool,
    pub ts: Timestamp,
    pub flags: u8,
    pub seq_off: u32,
    pub ack_off: u32,
    pub payload: &'a [u8],
    pub payload_len: u32,
}

pub struct Segs<'a> {
    data: &'a [u8],
    ts: i64,
}

pub fn segments(data: &[u8]) -> Segs<'_> {
    Segs {
        data,
        ts: 1_700_000_000_000_000_000,
    }
}

impl<'a> Iterator for Segs<'a> {
    type Item = Seg<'a>;
    fn next(&mut self) -> Option<Seg<'a>> {
        if self.data.len() < 11 {
            return None;
        }
        let h = take(&mut self.data, 11);
        let b0 = h[0];
        self.ts += match (b0 >> 1) & 3 {
            0 => 1_000_000,
            1 => 1_000_000_000,
            2 => 10_000_000_000,
            _ => 400_000_000_000,
        };
        let payload = take(&mut self.data, h[10] as usize);
        let cut = if b0 & 8 != 0 { 1000 } else { 0 };
        Some(Seg {
            from_client: b0 & 1 == 0,
            ts: Timestamp(self.ts),
            flags: h[1],
            seq_off: le(&h[2..6]) as u32,
            ack_off: le(&h[6..10]) as u32,
            payload,
            payload_len: payload.len() as u32 + cut,
        })
    }
}
