//! The flow key: a connection's 4-tuple, direction-normalised so that both
//! directions hash to the same entry with one lookup.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// Compact, direction-independent 4-tuple. IPv4 addresses are stored
/// v4-mapped so both families share one layout (36 bytes, no heap; its size
/// enters the table's memory estimate, so the fields stay byte arrays).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FlowKey {
    lo: [u8; 16],
    hi: [u8; 16],
    lo_port: u16,
    hi_port: u16,
}

/// The address as a big-endian number (IPv4 v4-mapped): comparing two of
/// them compares the 16 bytes lexicographically, in two instructions instead
/// of a byte loop (this runs for every packet: issue 14).
#[inline]
fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => (0xffff_u128 << 32) | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Hashed as five words: the derived hash feeds each address to the hasher
/// as a byte slice (length, then bytes), three times the instructions with
/// FxHash on every packet (issue 14). Equal keys hash equally.
impl Hash for FlowKey {
    #[inline]
    fn hash<S: Hasher>(&self, h: &mut S) {
        h.write_u128(u128::from_ne_bytes(self.lo));
        h.write_u128(u128::from_ne_bytes(self.hi));
        h.write_u32(u32::from(self.lo_port) << 16 | u32::from(self.hi_port));
    }
}

impl FlowKey {
    #[inline]
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Self {
        Self::from_numbers(number(src), sport, number(dst), dport)
    }

    /// [`FlowKey::new`] of a segment just decoded: its addresses are read
    /// with [`crate::decode::just_written`].
    #[inline]
    pub fn of_segment(s: &crate::decode::TcpSegment<'_>) -> Self {
        let (src, dst) = (
            crate::decode::just_written(&s.src),
            crate::decode::just_written(&s.dst),
        );
        Self::new(src, s.sport, dst, s.dport)
    }

    #[inline]
    fn from_numbers(a: u128, sport: u16, b: u128, dport: u16) -> Self {
        // `(a, sport) <= (b, dport)`, without the tuple's `partial_cmp` chain.
        if a < b || (a == b && sport <= dport) {
            FlowKey {
                lo: a.to_be_bytes(),
                hi: b.to_be_bytes(),
                lo_port: sport,
                hi_port: dport,
            }
        } else {
            FlowKey {
                lo: b.to_be_bytes(),
                hi: a.to_be_bytes(),
                lo_port: dport,
                hi_port: sport,
            }
        }
    }
}

impl FlowKey {
    /// The two endpoints, lower first (as normalised). `v4`: the addresses
    /// were IPv4 (stored v4-mapped).
    pub fn endpoints(&self, v4: bool) -> (SocketAddr, SocketAddr) {
        let ip = |b: [u8; 16]| -> IpAddr {
            let v6 = std::net::Ipv6Addr::from(b);
            match v6.to_ipv4_mapped() {
                Some(a) if v4 => IpAddr::V4(a),
                _ => IpAddr::V6(v6),
            }
        };
        (
            SocketAddr::new(ip(self.lo), self.lo_port),
            SocketAddr::new(ip(self.hi), self.hi_port),
        )
    }
}

/// `ip:port`, IPv6 as `[addr]:port` (the JSON contract).
pub fn endpoint_string(a: &SocketAddr) -> String {
    a.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn key_bytes_are_the_v4_mapped_octets_ordered_bytewise() {
        let addrs: Vec<IpAddr> = [
            "127.0.0.1",
            "10.0.0.9",
            "255.1.0.0",
            "::1",
            "fe80::1",
            "::ffff:10.0.0.9",
            "::",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        let octets = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        for &x in &addrs {
            assert_eq!(number(x).to_be_bytes(), octets(x), "{x}");
            for &y in &addrs {
                for (p, q) in [(1, 2), (2, 1), (7, 7)] {
                    let k = FlowKey::new(x, p, y, q);
                    let (lo, hi) = if (octets(x), p) <= (octets(y), q) {
                        ((octets(x), p), (octets(y), q))
                    } else {
                        ((octets(y), q), (octets(x), p))
                    };
                    assert_eq!(((k.lo, k.lo_port), (k.hi, k.hi_port)), (lo, hi), "{x} {y}");
                }
            }
        }
    }

    #[test]
    fn symmetric() {
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "::1".parse().unwrap();
        assert_eq!(FlowKey::new(a, 1, b, 2), FlowKey::new(b, 2, a, 1));
        assert_ne!(FlowKey::new(a, 1, b, 2), FlowKey::new(a, 2, b, 1));
        let (lo, hi) = FlowKey::new(b, 2, a, 1).endpoints(false);
        assert_eq!(
            (lo.to_string(), hi.to_string()),
            ("[::1]:2".into(), "[::ffff:127.0.0.1]:1".into())
        );
        let c: IpAddr = "10.0.0.9".parse().unwrap();
        let (lo, hi) = FlowKey::new(c, 9, a, 1).endpoints(true);
        assert_eq!(
            (lo.to_string(), hi.to_string()),
            ("10.0.0.9:9".into(), "127.0.0.1:1".into())
        );
        let s: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(endpoint_string(&s), "[::1]:80");
    }
}
