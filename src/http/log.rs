//! The exchanges of one connection, with bounded memory.
//!
//! A keep-alive connection can carry millions of requests (a load generator
//! on one socket for an hour). Counts are kept by the inspector for every
//! message; the exchange *details* are kept for the first [`KEEP_HEAD`] and
//! the most recent [`KEEP_TAIL`] exchanges, and the middle is dropped in
//! chunks once it is finished, counted in [`ExchangeLog::omitted`]. Indices
//! stay absolute (exchange #n is always `log[n]`) for every exchange kept.

use super::Exchange;
use std::ops::{Index, IndexMut};

pub const KEEP_HEAD: usize = 500;
pub const KEEP_TAIL: usize = 500;

#[derive(Debug, Default)]
pub struct ExchangeLog {
    items: Vec<Exchange>,
    omitted: usize,
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
        &self.items[self.pos(abs)]
    }
}

impl IndexMut<usize> for ExchangeLog {
    fn index_mut(&mut self, abs: usize) -> &mut Exchange {
        let p = self.pos(abs);
        &mut self.items[p]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize) -> Exchange {
        let mut e = Exchange::default();
        e.target = Some(format!("/{n}").into());
        e
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
