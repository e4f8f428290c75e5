//! One direction of a TCP connection, reassembled into an in-order byte stream
//! (RFC 9293 §3.4 sequence space, with wrap-around).
//!
//! Sequence numbers are turned into 64-bit stream offsets relative to the next
//! expected byte, so wrap-around never needs special cases later. In-order data
//! is handed to the [`StreamHandler`] straight from the packet buffer (no copy);
//! only out-of-order segments are copied, into a map keyed by offset, under a
//! per-stream and a global byte cap. A hole is declared lost (reported as a gap,
//! and the stream goes on after it) when the peer acknowledges past it — the
//! receiver got bytes that the capture never saw — when a cap is hit, or when
//! the connection is finalised.

use super::{Direction, SeqNumber, StreamHandler};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// Per-direction counters (see docs/output.md).
#[derive(Debug, Default, Clone, Serialize)]
pub struct StreamStats {
    pub packets: u64,
    /// Payload bytes on the wire, retransmissions included.
    pub bytes: u64,
    /// Bytes delivered in order to the inspectors (each stream byte once).
    pub stream_bytes: u64,
    pub retransmissions: u64,
    pub out_of_order: u64,
    /// Bytes never captured (gaps the reassembly gave up on; snaplen cuts).
    pub missing_bytes: u64,
    pub gaps: u64,
    pub keepalive_probes: u64,
    /// Times this direction's out-of-order buffer hit a memory cap (per stream
    /// or in total) and the hole before it was given up as a gap.
    pub ooo_limit_hits: u64,
    /// Bytes sent twice with different contents (a conflicting
    /// retransmission: evasion, or a broken middlebox). The copy keepwatch
    /// got first is kept; compared only where both copies are in hand (see
    /// docs/ARCHITECTURE.md, "Conflicting retransmissions").
    pub conflicting_bytes: u64,
}

/// Bytes that differ between two copies of the same stream range: `a` at
/// stream offset `a_at`, `b` at `b_at`, compared over their intersection.
fn differing(a_at: u64, a: &[u8], b_at: u64, b: &[u8]) -> u64 {
    let lo = a_at.max(b_at);
    let hi = (a_at + a.len() as u64).min(b_at + b.len() as u64);
    if lo >= hi {
        return 0;
    }
    let a = &a[(lo - a_at) as usize..(hi - a_at) as usize];
    let b = &b[(lo - b_at) as usize..(hi - b_at) as usize];
    a.iter().zip(b).filter(|(x, y)| x != y).count() as u64
}

#[derive(Debug, Default)]
pub struct HalfStream {
    started: bool,
    /// Sequence number of the next expected byte.
    next_seq: SeqNumber,
    /// Stream offset of `next_seq`.
    offset: u64,
    /// Out-of-order data by stream offset: (captured bytes, length on the wire).
    ooo: BTreeMap<u64, (Vec<u8>, u32)>,
    /// Memory the buffered segments cost, [`seg_cost`] each.
    ooo_bytes: usize,
    /// Stream offset of this direction's FIN, once seen.
    fin_at: Option<u64>,
    fin_delivered: bool,
    /// Acknowledgements (counted) that covered the current hole so far.
    hole_acks: u32,
    pub stats: StreamStats,
}

/// ACKs past a hole before it is declared lost. One is proof enough on a
/// capture taken at the receiver, but a capture taken elsewhere (a SPAN port,
/// a merged or reordered file) can show the ACK a little before the data it
/// acknowledges; waiting a few ACKs keeps such data instead of dropping it.
const HOLE_ACKS: u32 = 3;

/// What one buffered out-of-order segment costs beyond its captured bytes:
/// its share of a B-tree node (key, `Vec` header, length: ~80 bytes with the
/// nodes half full, as ascending inserts leave them) and the allocator's
/// header and rounding of its copy. Measured: 3 × 4 million one-byte segments
/// took 1.39 GB before segments were accounted this way (~116 bytes each).
pub const SEG_OVERHEAD: usize = 128;

/// Memory one buffered segment of `len` captured bytes is accounted for.
#[inline]
pub const fn seg_cost(len: usize) -> usize {
    len + SEG_OVERHEAD
}

/// Limits that keep memory bounded. The out-of-order caps count real memory:
/// every buffered segment costs [`seg_cost`] (its bytes plus its overhead), so
/// a million one-byte segments cannot cost more than the cap either.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_ooo_per_stream: usize,
    pub max_ooo_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ooo_per_stream: 4 << 20,
            max_ooo_total: 256 << 20,
        }
    }
}

impl HalfStream {
    /// SYN seen: the stream starts at `isn + 1` (the SYN takes one sequence
    /// number, RFC 9293 §3.4). A raw `u32` from the header converts.
    pub fn syn(&mut self, isn: impl Into<SeqNumber>) {
        if !self.started || self.offset == 0 && self.ooo.is_empty() {
            self.started = true;
            self.next_seq = isn.into() + 1;
            self.offset = 0;
        }
    }

    pub fn started(&self) -> bool {
        self.started
    }

    /// Sequence number of stream offset 0 (the first byte this direction's
    /// stream began at), once it has started.
    pub fn start_seq(&self) -> Option<SeqNumber> {
        // (Modulo 2^32: a stream longer than that has gone round the circle.)
        self.started.then(|| self.next_seq - self.offset as usize)
    }

    pub fn fin_delivered(&self) -> bool {
        self.fin_delivered
    }

    pub fn has_pending(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Stream offset of a sequence number in this direction: within 2^31 of
    /// the next expected byte, before or after it.
    #[inline]
    fn abs(&self, seq: SeqNumber) -> i64 {
        self.offset as i64 + i64::from(seq - self.next_seq)
    }

    /// A segment's payload (and FIN) in this direction. `seq` is the sequence
    /// number of the first payload byte (after the SYN, if the segment has one);
    /// a raw `u32` converts.
    #[allow(clippy::too_many_arguments)]
    pub fn segment<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        seq: impl Into<SeqNumber>,
        data: &[u8],
        wire_len: u32,
        fin: bool,
        limits: &Limits,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        let seq = seq.into();
        self.stats.bytes += wire_len as u64;
        if !self.started {
            self.started = true;
            self.next_seq = seq;
            self.offset = 0;
        }
        let start = self.abs(seq);
        let end = start + wire_len as i64;
        if wire_len > 0 {
            if end <= self.offset as i64 {
                // Entirely old: a retransmission, a duplicate, or a keep-alive
                // probe (one byte, or none, just below the next expected byte).
                if wire_len <= 1 && end == self.offset as i64 {
                    self.stats.keepalive_probes += 1;
                } else {
                    self.stats.retransmissions += 1;
                }
            } else if start <= self.offset as i64 {
                if start < self.offset as i64 {
                    self.stats.retransmissions += 1;
                }
                let skip = (self.offset as i64 - start) as usize;
                if self.ooo.is_empty() {
                    // The in-order path: nothing buffered, nothing to compare.
                    self.deliver(dir, ts, data, wire_len, skip, h);
                } else {
                    // From the next expected byte on (`start` may even lie
                    // before the stream's offset 0).
                    let data = &data[skip.min(data.len())..];
                    let wire = wire_len - skip as u32;
                    self.fill_hole(dir, ts, self.offset, data, wire, ooo_total, h);
                }
            } else {
                self.stats.out_of_order += 1;
                let key = start as u64;
                match self.ooo.get_mut(&key) {
                    None => {
                        self.ooo.insert(key, (data.to_vec(), wire_len));
                        self.ooo_bytes += seg_cost(data.len());
                        *ooo_total += seg_cost(data.len());
                    }
                    Some((old, old_len)) => {
                        // The same range again: the first copy wins; a longer
                        // copy adds only its tail.
                        self.stats.retransmissions += 1;
                        self.stats.conflicting_bytes += differing(key, old, key, data);
                        // (Bytes the snaplen cut from the first copy were
                        // never in hand: the new copy supplies them.)
                        let had = old.len();
                        if data.len() > had {
                            old.extend_from_slice(&data[had..]);
                            self.ooo_bytes += data.len() - had;
                            *ooo_total += data.len() - had;
                        }
                        *old_len = (*old_len).max(wire_len);
                    }
                }
                if self.ooo_bytes > limits.max_ooo_per_stream || *ooo_total > limits.max_ooo_total {
                    self.stats.ooo_limit_hits += 1;
                    self.skip_to_first_pending(dir, ts, ooo_total, h);
                }
            }
        }
        if fin && self.fin_at.is_none() && end >= 0 {
            self.fin_at = Some(end as u64);
        }
        self.try_fin(dir, ts, h);
    }

    /// The peer acknowledged up to `ack`: a hole it covers was received but not
    /// captured, so report it and go on.
    pub fn peer_ack<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ack: SeqNumber,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        if !self.started || self.ooo.is_empty() {
            return;
        }
        let a = self.abs(ack);
        if let Some((&first, _)) = self.ooo.iter().next() {
            if a >= first as i64 && first > self.offset {
                self.hole_acks += 1;
            }
        }
        if self.hole_acks < HOLE_ACKS {
            return;
        }
        while let Some((&first, _)) = self.ooo.iter().next() {
            if a >= first as i64 && first > self.offset {
                self.gap(dir, ts, first - self.offset, h);
                self.drain(dir, ts, ooo_total, h);
            } else {
                break;
            }
        }
        self.try_fin(dir, ts, h);
    }

    /// End of the connection: give up on every hole, deliver what is buffered
    /// and the FIN if one was seen.
    pub fn flush<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        while !self.ooo.is_empty() {
            self.skip_to_first_pending(dir, ts, ooo_total, h);
        }
        if let Some(f) = self.fin_at {
            if !self.fin_delivered && f > self.offset {
                self.gap(dir, ts, f - self.offset, h);
            }
        }
        self.try_fin(dir, ts, h);
    }

    fn skip_to_first_pending<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        if let Some((&first, _)) = self.ooo.iter().next() {
            if first > self.offset {
                self.gap(dir, ts, first - self.offset, h);
            }
            self.drain(dir, ts, ooo_total, h);
        }
    }

    fn gap<H: StreamHandler>(&mut self, dir: Direction, ts: Timestamp, n: u64, h: &mut H) {
        self.stats.gaps += 1;
        self.stats.missing_bytes += n;
        self.advance(n);
        h.on_gap(dir, ts, n);
    }

    #[inline]
    fn advance(&mut self, n: u64) {
        self.hole_acks = 0;
        self.offset += n;
        self.next_seq = self.next_seq + n as usize;
    }

    /// Hands `data[skip..]` on; bytes the snaplen cut off become a gap.
    fn deliver<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        data: &[u8],
        wire_len: u32,
        skip: usize,
        h: &mut H,
    ) {
        let wire_len = wire_len as usize;
        if skip >= wire_len {
            return;
        }
        if skip < data.len() {
            let part = &data[skip..];
            self.stats.stream_bytes += part.len() as u64;
            self.advance(part.len() as u64);
            h.on_data(dir, ts, part);
        }
        let captured_end = data.len().max(skip);
        if wire_len > captured_end {
            let cut = (wire_len - captured_end) as u64;
            // Bytes the snaplen cut off: a gap like any other.
            self.stats.gaps += 1;
            self.stats.missing_bytes += cut;
            self.advance(cut);
            h.on_gap(dir, ts, cut);
        }
    }

    /// An in-order segment (stream offset `at`) while segments are buffered:
    /// bytes buffered earlier win over the same range in this segment (first
    /// copy wins), and the two copies are compared where they overlap.
    #[allow(clippy::too_many_arguments)]
    fn fill_hole<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        at: u64,
        data: &[u8],
        wire_len: u32,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        let end = at + wire_len as u64;
        loop {
            // This segment's bytes up to the next buffered segment.
            let upto = match self.ooo.first_key_value() {
                Some((&k, _)) if k < end => k.max(self.offset),
                _ => end,
            };
            if upto > self.offset {
                let lim = (upto - at) as usize;
                let skip = (self.offset - at) as usize;
                self.deliver(dir, ts, &data[..lim.min(data.len())], lim as u32, skip, h);
            }
            self.drain_against(dir, ts, ooo_total, h, Some((at, data)));
            if self.offset >= end || self.ooo.first_key_value().is_none_or(|(&k, _)| k >= end) {
                if self.offset < end {
                    let skip = (self.offset - at) as usize;
                    self.deliver(dir, ts, data, wire_len, skip, h);
                    // A buffered segment may start right where this one ends.
                    self.drain_against(dir, ts, ooo_total, h, Some((at, data)));
                }
                return;
            }
        }
    }

    /// Delivers buffered segments that have become contiguous.
    fn drain<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ooo_total: &mut usize,
        h: &mut H,
    ) {
        self.drain_against(dir, ts, ooo_total, h, None);
    }

    /// Like [`Self::drain`]; each buffered segment is also compared with
    /// `other` (an in-order segment at its stream offset) and with the
    /// buffered segment before it, where they overlap.
    fn drain_against<H: StreamHandler>(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        ooo_total: &mut usize,
        h: &mut H,
        other: Option<(u64, &[u8])>,
    ) {
        let mut prev: Option<(u64, Vec<u8>)> = None;
        while let Some(entry) = self.ooo.first_entry() {
            let key = *entry.key();
            if key > self.offset {
                break;
            }
            let (data, wire_len) = entry.remove();
            self.ooo_bytes -= seg_cost(data.len());
            *ooo_total -= seg_cost(data.len());
            if let Some((at, o)) = other {
                self.stats.conflicting_bytes += differing(at, o, key, &data);
            }
            if let Some((at, p)) = &prev {
                self.stats.conflicting_bytes += differing(*at, p, key, &data);
            }
            let end = key + wire_len as u64;
            if end > self.offset {
                let skip = (self.offset - key) as usize;
                self.deliver(dir, ts, &data, wire_len, skip, h);
            }
            prev = Some((key, data));
        }
    }

    fn try_fin<H: StreamHandler>(&mut self, dir: Direction, ts: Timestamp, h: &mut H) {
        if let Some(f) = self.fin_at {
            if !self.fin_delivered && f <= self.offset && self.ooo.is_empty() {
                self.fin_delivered = true;
                h.on_fin(dir, ts);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Default)]
    struct Sink {
        data: Vec<u8>,
        gaps: u64,
    }
    impl StreamHandler for Sink {
        fn on_data(&mut self, _: Direction, _: Timestamp, b: &[u8]) {
            self.data.extend_from_slice(b);
        }
        fn on_gap(&mut self, _: Direction, _: Timestamp, n: u64) {
            self.gaps += n;
        }
        fn on_fin(&mut self, _: Direction, _: Timestamp) {}
        fn on_finish(&mut self, _: Timestamp) {}
    }

    /// A segment that fills the hole while bytes wait out of order and that
    /// starts before the stream's first byte (found by the flow_table fuzz
    /// target: `start as u64` overflowed).
    #[test]
    fn hole_filled_by_a_segment_starting_before_offset_zero() {
        let mut s = HalfStream::default();
        s.syn(1000);
        let (mut sink, mut total, lim) = (Sink::default(), 0usize, Limits::default());
        let mut feed = |s: &mut HalfStream, seq: u32, d: &[u8]| {
            s.segment(
                Direction::ClientToServer,
                Timestamp(0),
                seq,
                d,
                d.len() as u32,
                false,
                &lim,
                &mut total,
                &mut sink,
            )
        };
        feed(&mut s, 1001 + 5, b"FGHIJ");
        feed(&mut s, 1001 - 3, b"xyzABCDEfghij");
        assert_eq!(sink.data, b"ABCDEFGHIJ", "first copy of 5..10 kept");
        assert_eq!(s.stats.conflicting_bytes, 5);
        assert_eq!(total, 0);
    }

    /// Length of the stream that [`overlapping_copies_in_any_order`] cuts up.
    const N: usize = 300;

    /// One piece of the stream: where it starts, how long it is (clipped at
    /// the end), where it sorts in the arrival order, and which byte (if any)
    /// of this copy is altered.
    fn piece() -> impl Strategy<Value = (usize, usize, u32, Option<usize>)> {
        (
            0..N,
            1..=40usize,
            any::<u32>(),
            proptest::option::weighted(0.3, any::<usize>()),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 192,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Pieces of a 300-byte stream (overlapping, repeated, in any order,
        /// the first byte's piece last so everything waits out of order),
        /// some copies with altered bytes. Reassembly never panics, delivers
        /// every byte once, each byte from a copy that carried it; identical
        /// copies deliver the original and count no conflict.
        #[test]
        fn overlapping_copies_in_any_order(
            raw in proptest::collection::vec(piece(), 8..48),
            conflicts in any::<bool>(),
        ) {
            let orig: Vec<u8> = (0..N).map(|i| (i * 7 % 251) as u8).collect();
            let isn = 0xffff_ff00u32; // wraps inside the stream
            let mut pieces: Vec<(u32, usize, Vec<u8>)> = Vec::new();
            let mut covered = vec![false; N];
            for (a, len, key, alter) in raw {
                let b = (a + len).min(N);
                let mut bytes = orig[a..b].to_vec();
                if let (true, Some(k)) = (conflicts, alter) {
                    let k = k % bytes.len();
                    bytes[k] ^= 0x55;
                }
                covered[a..b].iter_mut().for_each(|c| *c = true);
                pieces.push((key, a, bytes));
            }
            // Bytes no piece carried: one more exact copy each, so the
            // stream is whole (they sort by their offset among the others).
            for i in (0..N).filter(|&i| !covered[i]) {
                pieces.push(((i as u32).wrapping_mul(0x9e37_79b9), i, orig[i..=i].to_vec()));
            }
            pieces.sort_by_key(|(key, _, _)| *key);
            // Make sure offset 0 comes last.
            match pieces.iter().position(|(_, a, _)| *a == 0) {
                Some(z) => {
                    let p = pieces.remove(z);
                    pieces.push(p);
                }
                None => unreachable!("offset 0 is always covered"),
            }
            let mut s = HalfStream::default();
            s.syn(isn);
            let mut sink = Sink::default();
            let mut total = 0usize;
            let lim = Limits::default();
            for (_, a, bytes) in &pieces {
                let seq = isn.wrapping_add(1).wrapping_add(*a as u32);
                s.segment(
                    Direction::ClientToServer,
                    Timestamp(0),
                    seq,
                    bytes,
                    bytes.len() as u32,
                    false,
                    &lim,
                    &mut total,
                    &mut sink,
                );
            }
            prop_assert_eq!(sink.gaps, 0);
            prop_assert_eq!(sink.data.len(), N);
            prop_assert_eq!(total, 0, "nothing left buffered");
            if conflicts {
                for (i, &b) in sink.data.iter().enumerate() {
                    prop_assert!(
                        pieces
                            .iter()
                            .any(|(_, a, p)| i >= *a && i < a + p.len() && p[i - a] == b),
                        "byte {} came from no copy", i
                    );
                }
            } else {
                prop_assert_eq!(&sink.data, &orig);
                prop_assert_eq!(s.stats.conflicting_bytes, 0);
            }
        }
    }

    /// The hole's filler ends exactly where a buffered segment starts, after
    /// passing another buffered segment inside its range (found by
    /// [`overlapping_copies_in_any_order`]): the one at its end is delivered
    /// too, not left waiting for a later segment.
    #[test]
    fn filler_ending_at_a_buffered_segment_drains_it() {
        let mut s = HalfStream::default();
        s.syn(0);
        let (mut sink, mut total, lim) = (Sink::default(), 0usize, Limits::default());
        for (seq, d) in [(2u32, &b"B"[..]), (4, b"D"), (5, b"EF"), (1, b"ABC")] {
            s.segment(
                Direction::ClientToServer,
                Timestamp(0),
                seq,
                d,
                d.len() as u32,
                false,
                &lim,
                &mut total,
                &mut sink,
            );
        }
        assert_eq!(sink.data, b"ABCDEF");
        assert_eq!(total, 0, "nothing left buffered");
    }

    /// Two copies of the same bytes that differ: the first delivered wins
    /// and the difference is counted, whichever arrives first.
    #[test]
    fn altered_copy_is_counted_as_conflict() {
        for altered_first in [false, true] {
            let mut s = HalfStream::default();
            s.syn(0);
            let (mut sink, mut total, lim) = (Sink::default(), 0usize, Limits::default());
            let (good, bad) = (b"ABCDEFGH".to_vec(), b"ABCxEFGH".to_vec());
            let order = if altered_first {
                [&bad, &good]
            } else {
                [&good, &bad]
            };
            // Both copies wait behind a missing first byte, then it arrives.
            for copy in order.into_iter().chain([&b"_".to_vec()]) {
                let seq = if copy.len() == 1 { 1 } else { 2 };
                s.segment(
                    Direction::ClientToServer,
                    Timestamp(0),
                    seq,
                    copy,
                    copy.len() as u32,
                    false,
                    &lim,
                    &mut total,
                    &mut sink,
                );
            }
            let first = if altered_first { &bad } else { &good };
            assert_eq!(sink.data, [b"_".as_slice(), first].concat());
            assert_eq!(
                s.stats.conflicting_bytes, 1,
                "altered first: {altered_first}"
            );
        }
    }
}
