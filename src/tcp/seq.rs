//! TCP sequence numbers: 32-bit and modular (RFC 9293 §3.4). Model:
//! smoltcp's `wire::TcpSeqNumber`.
//!
//! Two sequence numbers compare by their signed 32-bit difference, so the
//! comparison is right across the wrap at 2^32 as long as they are less than
//! 2^31 apart (RFC 9293 §3.4: "the comparison ... must use modulo 2**32
//! arithmetic"); further apart, the order is the wrapped one. Adding a length
//! moves along the circle (modulo 2^32); the distance between two numbers is
//! signed, or checked when it must not be negative. Nothing here panics: the
//! numbers come straight from captured packets.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, Sub};

#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SeqNumber(u32);

impl SeqNumber {
    pub const fn new(raw: u32) -> SeqNumber {
        SeqNumber(raw)
    }

    /// The number as carried in the TCP header.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// How far `self` lies after `earlier`, if it does not lie before it
    /// (`None` if `earlier` is in fact later, by the wrap-around order).
    pub fn distance_from(self, earlier: SeqNumber) -> Option<usize> {
        usize::try_from(self - earlier).ok()
    }
}

impl From<u32> for SeqNumber {
    fn from(raw: u32) -> SeqNumber {
        SeqNumber(raw)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `n` bytes further on, modulo 2^32 (a length of 2^32 or more goes round
/// the circle; the callers add segment lengths and stream offsets).
impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n as u32))
    }
}

/// `n` bytes earlier, modulo 2^32.
impl Sub<usize> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, n: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n as u32))
    }
}

/// The signed distance from `rhs` to `self`: positive if `self` is later.
impl Sub for SeqNumber {
    type Output = i32;
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

/// The wrap-around order (RFC 9293 §3.4). Not a total order over the whole
/// circle (hence no `Ord`): a < b < c does not make a < c when they span
/// more than 2^31.
impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEAR_TOP: SeqNumber = SeqNumber::new(0xffff_fff0);

    #[test]
    fn adding_wraps_at_two_to_the_32() {
        assert_eq!(NEAR_TOP + 0x20, SeqNumber::new(0x10));
        assert_eq!(NEAR_TOP + 0x10, SeqNumber::new(0));
        assert_eq!(NEAR_TOP + 0x0f, SeqNumber::new(0xffff_ffff));
        assert_eq!(SeqNumber::new(0x10) - 0x20, NEAR_TOP);
        assert_eq!(SeqNumber::new(5) - 0, SeqNumber::new(5));
        // 2^32 - 1 further round the circle is one step back.
        assert_eq!(SeqNumber::new(7) + u32::MAX as usize, SeqNumber::new(6));
    }

    #[test]
    fn comparisons_across_the_wrap() {
        let after = NEAR_TOP + 0x20;
        assert!(after > NEAR_TOP, "0x10 comes after 0xffff_fff0");
        assert!(NEAR_TOP < after);
        assert!(after >= NEAR_TOP);
        assert!(NEAR_TOP <= after);
        assert_eq!(NEAR_TOP.partial_cmp(&NEAR_TOP), Some(Ordering::Equal));
        // Without the wrap, plain u32 order would say the opposite.
        assert!(after.get() < NEAR_TOP.get());
        // Just under half the circle apart: still ordered by the wrap...
        let far = NEAR_TOP + (i32::MAX as usize);
        assert!(far > NEAR_TOP);
        // ...one more and the order flips (2^31 apart: the later one is
        // read as the earlier, as in RFC 9293's modular comparison).
        assert!(far + 1 < NEAR_TOP);
    }

    #[test]
    fn signed_and_checked_distance_across_the_wrap() {
        let after = NEAR_TOP + 0x20;
        assert_eq!(after - NEAR_TOP, 0x20);
        assert_eq!(NEAR_TOP - after, -0x20);
        assert_eq!(after.distance_from(NEAR_TOP), Some(0x20));
        assert_eq!(NEAR_TOP.distance_from(after), None);
        assert_eq!(after.distance_from(after), Some(0));
        assert_eq!(SeqNumber::new(0) - SeqNumber::new(u32::MAX), 1);
    }
}
