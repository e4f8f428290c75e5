//! The exchanges of one connection, with bounded memory.
//!
//! A keep-alive connection can carry millions of requests (a load generator
//! on one socket for an hour). Counts are kept by the inspector for every
//! message; the exchange *details* are kept for the first [`KEEP_HEAD`] and
//! the most recent [`KEEP_TAIL`] exchanges, and the middle is dropped in
//! chunks once it is finished, counted in [`ExchangeLog::omitted`]. Indices
//! stay absolute (exchange #n is always `log[n]`) for every exchange kept.
//!
//! A direction that never gets an answer (a client pipelining a million
//! requests at a server that does not reply, or a capture that sees only the
//! client's side) would keep every request busy forever: past
//! [`UNANSWERED_KEPT`] requests awaiting a response, the middle ones are
//! dropped too ([`ExchangeLog::compact_unanswered`]) and only counted
//! ([`ExchangeLog::unanswered_omitted`]). What a late response still needs of
//! its request (was it a HEAD?) is kept as ranges of indices, and the
//! [`PendingQueue`] of requests awaiting a response holds ranges too, so such
//! a direction costs a few counters, not a record per request.

use super::Exchange;
use std::collections::VecDeque;
use std::ops::{Index, IndexMut};

pub const KEEP_HEAD: usize = 500;
pub const KEEP_TAIL: usize = 500;

/// Requests awaiting a response kept in detail at most (the rest of the
/// unanswered middle is counted only).
pub const UNANSWERED_KEPT: usize = KEEP_HEAD + 2 * KEEP_TAIL;

/// Past this many exchanges kept, the log grows straight to the most it
/// keeps between compactions (`KEEP_HEAD + 2 * KEEP_TAIL`); below, it
/// doubles, so a connection with a few requests stays small.
const GROW_TO_FULL: usize = 128;

#[derive(Debug, Default)]
pub struct ExchangeLog {
    items: Vec<Exchange>,
    omitted: usize,
    /// Of `omitted`, exchanges dropped while still awaiting their response.
    unanswered_omitted: usize,
    /// Absolute indices (ranges) of dropped unanswered HEAD requests: their
    /// responses have no body.
    omitted_heads: VecDeque<(usize, usize)>,
    /// Stands in for the dropped exchange a late response is matched to
    /// (its absolute index, and the stand-in); boxed, so an inspector that
    /// never needs one (nearly all) costs one pointer.
    scratch: Option<Box<(usize, Exchange)>>,
}

/// What a dropped exchange reads as before its stand-in is written to.
fn blank() -> &'static Exchange {
    static BLANK: std::sync::OnceLock<Exchange> = std::sync::OnceLock::new();
    BLANK.get_or_init(Exchange::default)
}

/// Indices of the requests awaiting a response, oldest first: increasing,
/// and stored as ranges (a pipeline of a million requests is one range).
#[derive(Debug, Default)]
pub struct PendingQueue {
    ranges: VecDeque<(usize, usize)>,
    len: usize,
}

impl PendingQueue {
    pub fn push_back(&mut self, idx: usize) {
        match self.ranges.back_mut() {
            Some((_, end)) if *end == idx => *end += 1,
            _ => self.ranges.push_back((idx, idx + 1)),
        }
        self.len += 1;
    }
    pub fn front(&self) -> Option<usize> {
        self.ranges.front().map(|r| r.0)
    }
    pub fn pop_front(&mut self) -> Option<usize> {
        let r = self.ranges.front_mut()?;
        let idx = r.0;
        r.0 += 1;
        if r.0 == r.1 {
            self.ranges.pop_front();
        }
        self.len -= 1;
        Some(idx)
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Ranges stored (memory is per run of consecutive indices).
    pub fn runs(&self) -> usize {
        self.ranges.len()
    }
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.ranges.iter().flat_map(|&(a, b)| a..b)
    }
}

impl ExchangeLog {
    /// Exchanges so far, omitted ones included (the next absolute index).
    pub fn len(&self) -> usize {
        self.items.len() + self.omitted
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, e: Exchange) {
        let n = self.items.len();
        if n == self.items.capacity() && n >= GROW_TO_FULL {
            // A busy connection: take the room for the most it keeps at once
            // in one step, instead of doubling (each doubling copies every
            // exchange kept so far).
            self.items
                .reserve_exact((KEEP_HEAD + 2 * KEEP_TAIL).max(2 * n) - n);
        }
        self.items.push(e);
    }

    /// The exchanges kept: the first ones, then (after a jump of
    /// `omitted()`) the most recent ones.
    pub fn as_slice(&self) -> &[Exchange] {
        &self.items
    }

    pub fn omitted(&self) -> usize {
        self.omitted
    }

    /// Exchanges dropped while still awaiting their response.
    pub fn unanswered_omitted(&self) -> usize {
        self.unanswered_omitted
    }

    /// Was `abs` dropped (it may still await its response)?
    #[inline]
    pub fn is_omitted(&self, abs: usize) -> bool {
        abs >= KEEP_HEAD && abs < KEEP_HEAD + self.omitted
    }

    /// Drops the middle even though requests there still await their
    /// responses (their count and whether each was a HEAD are kept).
    /// `floor` is the oldest exchange busy for any other reason (a body in
    /// progress, held bytes, a protocol switch): nothing from it on is dropped.
    pub fn compact_unanswered(&mut self, floor: usize) {
        if self.items.len() < KEEP_HEAD + 2 * KEEP_TAIL {
            return;
        }
        let end = self.items.len() - KEEP_TAIL;
        if end + self.omitted > floor {
            return;
        }
        for (p, e) in self.items[KEEP_HEAD..end].iter().enumerate() {
            if !e.outstanding {
                continue;
            }
            self.unanswered_omitted += 1;
            if e.method() == Some("HEAD") {
                let abs = KEEP_HEAD + self.omitted + p;
                match self.omitted_heads.back_mut() {
                    Some((_, b)) if *b == abs => *b += 1,
                    _ => self.omitted_heads.push_back((abs, abs + 1)),
                }
            }
        }
        self.items.drain(KEEP_HEAD..end);
        self.omitted += end - KEEP_HEAD;
    }

    fn omitted_was_head(&self, abs: usize) -> bool {
        // Sorted, and answered ranges are dropped from the front: the match
        // (if any) is at the front.
        self.omitted_heads
            .iter()
            .take_while(|&&(a, _)| a <= abs)
            .any(|&(_, b)| abs < b)
    }

    #[inline]
    fn pos(&self, abs: usize) -> usize {
        if abs < KEEP_HEAD {
            abs
        } else {
            // An omitted exchange is never looked up: only finished ones,
            // older than every busy one, are dropped (see `compact`).
            abs - self.omitted
        }
    }

    /// Drops the finished middle once it is a whole chunk. `busy_floor` is the
    /// absolute index of the oldest exchange the inspector may still touch.
    pub fn compact(&mut self, busy_floor: usize) {
        if self.items.len() < KEEP_HEAD + 2 * KEEP_TAIL {
            return;
        }
        let end = self.items.len() - KEEP_TAIL; // position, exclusive
        let end_abs = end + self.omitted;
        if end_abs > busy_floor {
            return;
        }
        self.items.drain(KEEP_HEAD..end);
        self.omitted += end - KEEP_HEAD;
    }
}

impl Index<usize> for ExchangeLog {
    type Output = Exchange;
    fn index(&self, abs: usize) -> &Exchange {
        if self.is_omitted(abs) {
            // A dropped request a late response is matched to: its stand-in
            // once written to, a blank one before.
            return match &self.scratch {
                Some(s) if s.0 == abs => &s.1,
                _ => blank(),
            };
        }
        &self.items[self.pos(abs)]
    }
}

impl IndexMut<usize> for ExchangeLog {
    fn index_mut(&mut self, abs: usize) -> &mut Exchange {
        if self.is_omitted(abs) {
            if !matches!(&self.scratch, Some(s) if s.0 == abs) {
                let head = self.omitted_was_head(abs);
                while self.omitted_heads.front().is_some_and(|&(_, b)| b <= abs) {
                    self.omitted_heads.pop_front();
                }
                let mut e = Exchange {
                    outstanding: true,
                    ..Exchange::default()
                };
                if head {
                    e.set_method(b"HEAD");
                }
                match &mut self.scratch {
                    Some(s) => **s = (abs, e),
                    None => self.scratch = Some(Box::new((abs, e))),
                }
            }
            return &mut self.scratch.as_mut().expect("just set").1;
        }
        let p = self.pos(abs);
        &mut self.items[p]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize) -> Exchange {
        Exchange {
            target: Some(format!("/{n}").into()),
            ..Exchange::default()
        }
    }

    #[test]
    fn keeps_head_and_tail_with_absolute_indices() {
        let mut log = ExchangeLog::default();
        for n in 0..5000 {
            log.push(ex(n));
            log.compact(log.len());
        }
        assert_eq!(log.len(), 5000);
        assert!(log.as_slice().len() <= KEEP_HEAD + 2 * KEEP_TAIL);
        assert_eq!(log.as_slice().len() + log.omitted(), 5000);
        assert_eq!(log[0].target.as_deref(), Some("/0"));
        assert_eq!(log[KEEP_HEAD - 1].target.as_deref(), Some("/499"));
        assert_eq!(log[4999].target.as_deref(), Some("/4999"));
        assert_eq!(log[5000 - KEEP_TAIL].target.as_deref(), Some("/4500"));
    }

    #[test]
    fn grows_once_to_what_it_keeps() {
        let mut log = ExchangeLog::default();
        let mut caps = vec![];
        for n in 0..5000 {
            log.push(ex(n));
            log.compact(log.len());
            if caps.last() != Some(&log.items.capacity()) {
                caps.push(log.items.capacity());
            }
        }
        // Doubling up to GROW_TO_FULL, then one step to the most kept.
        assert_eq!(caps.last(), Some(&(KEEP_HEAD + 2 * KEEP_TAIL)));
        assert!(caps.len() <= 2 + GROW_TO_FULL.ilog2() as usize, "{caps:?}");
        // A short connection stays small.
        let mut short = ExchangeLog::default();
        for n in 0..10 {
            short.push(ex(n));
        }
        assert!(short.items.capacity() < GROW_TO_FULL);
    }

    #[test]
    fn never_drops_a_busy_exchange() {
        let mut log = ExchangeLog::default();
        for n in 0..3000 {
            log.push(ex(n));
            // Exchange 700 is still waiting for its response.
            log.compact(700);
        }
        assert_eq!(log.omitted(), 0);
        assert_eq!(log[700].target.as_deref(), Some("/700"));
        assert_eq!(log[2999].target.as_deref(), Some("/2999"));
    }
}
