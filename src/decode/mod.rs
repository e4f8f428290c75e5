//! Link, network and transport decoding: from a raw frame to the TCP segment it
//! carries. Borrowed slices only (etherparse's lax slicing), so a frame cut by a
//! small snaplen still yields its headers, and the payload's true length comes
//! from the IP header, not from what was captured.

mod fast;
pub mod linktype;

use self::linktype as lt;
use crate::time::Timestamp;
use etherparse::{
    EtherType, IpNumber, LaxIpPayloadSlice, LaxNetSlice, LaxSlicedPacket, TransportSlice,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One captured frame, borrowed from the reader's buffer (zero copy).
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    pub ts: Timestamp,
    /// LINKTYPE_* number of the interface the frame was captured on.
    pub linktype: u32,
    /// The captured bytes (may be shorter than `orig_len` when the snaplen cut it).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// TCP flag bits as on the wire.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A decoded TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload length on the wire (>= payload.len() when the snaplen cut it).
    pub payload_len: u32,
}

impl TcpSegment<'_> {
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Why a frame yielded no TCP segment. Counted per kind for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    UnsupportedLinkType,
    /// Not IP (ARP, LLDP, ...).
    NotIp,
    /// IP but not TCP (UDP, ICMP, ...).
    NotTcp,
    /// A non-first IP fragment, or a first fragment whose TCP header is
    /// incomplete: IP reassembly is not done.
    Fragment,
    /// Headers cut short or malformed.
    Malformed,
}

/// An address of a segment [`decode`] has just written, read part by part
/// (the variant, then the 4 or 16 bytes) rather than copied whole: the copy
/// loads more bytes at once than the stores that wrote them, and waits for
/// them to reach the cache (a store-forwarding stall: 19 % of the packet
/// loop's samples on one instruction, `perf annotate`, issue 14). The
/// `black_box` keeps the compiler from merging the IPv4 read into the
/// wider one.
#[inline(always)]
pub fn just_written(ip: &IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(std::hint::black_box(*v4)),
        IpAddr::V6(v6) => IpAddr::V6(*v6),
    }
}

/// From a raw frame to the TCP segment it carries: link layer, then IP, then TCP.
#[inline(always)]
pub fn decode<'a>(p: &RawPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
    fast::decode(p.linktype, p.data, || decode_lax(p))
}

/// [`decode`] through etherparse's lax slicer: every shape (VLAN tags, IP
/// extension headers, fragments, truncation) and every skip reason. The fast
/// path gives the same result for the shapes it takes.
#[inline(never)]
fn decode_lax<'a>(p: &RawPacket<'a>) -> Result<TcpSegment<'a>, Skip> {
    // Sliced here, not in `link_layer`: returning the (large) sliced packet
    // through a Result costs two copies of it per frame (callgrind: +5 M
    // instructions on 40,000 frames).
    let sliced = match link_layer(p.linktype, p.data)? {
        Link::Ethernet(d) => LaxSlicedPacket::from_ethernet(d).map_err(|_| Skip::Malformed)?,
        Link::Ip(d) => LaxSlicedPacket::from_ip(d).map_err(|_| Skip::Malformed)?,
        Link::EtherType(et, d) => LaxSlicedPacket::from_ether_type(et, d),
    };
    let (src, dst, ip_payload) = network_layer(&sliced)?;
    transport_layer(&sliced, src, dst, ip_payload)
}

/// What follows the link-layer header, and how to slice it.
enum Link<'a> {
    Ethernet(&'a [u8]),
    Ip(&'a [u8]),
    EtherType(EtherType, &'a [u8]),
}

/// Strips the link-layer header of `linktype`.
fn link_layer(linktype: u32, d: &[u8]) -> Result<Link<'_>, Skip> {
    Ok(match linktype {
        lt::ETHERNET => Link::Ethernet(d),
        lt::RAW | lt::RAW_OPENBSD | lt::RAW_BSDI | lt::IPV4 | lt::IPV6 => Link::Ip(d),
        lt::LINUX_SLL => {
            // 16-byte header; protocol (an EtherType for IP) in the last 2 bytes.
            if d.len() < 16 {
                return Err(Skip::Malformed);
            }
            let et = u16::from_be_bytes([d[14], d[15]]);
            Link::EtherType(EtherType(et), &d[16..])
        }
        lt::LINUX_SLL2 => {
            // 20-byte header; protocol type first.
            if d.len() < 20 {
                return Err(Skip::Malformed);
            }
            let et = u16::from_be_bytes([d[0], d[1]]);
            Link::EtherType(EtherType(et), &d[20..])
        }
        lt::NULL | lt::LOOP => {
            // 4-byte address family in the writer's byte order (NULL) or network
            // order (LOOP); the IP version nibble tells us all we need.
            if d.len() < 5 {
                return Err(Skip::Malformed);
            }
            match d[4] >> 4 {
                4 | 6 => Link::Ip(&d[4..]),
                _ => return Err(Skip::NotIp),
            }
        }
        _ => return Err(Skip::UnsupportedLinkType),
    })
}

/// The IP addresses and the IP payload (IPv4 or IPv6).
fn network_layer<'p, 'a>(
    sliced: &'p LaxSlicedPacket<'a>,
) -> Result<(IpAddr, IpAddr, &'p LaxIpPayloadSlice<'a>), Skip> {
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            Ok((
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                v4.payload(),
            ))
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            Ok((
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                v6.payload(),
            ))
        }
        Some(LaxNetSlice::Arp(_)) | None => {
            Err(if sliced.stop_err.is_some() && sliced.net.is_none() {
                match sliced.link_exts.is_empty() && sliced.link.is_none() {
                    true => Skip::Malformed,
                    false => Skip::NotIp,
                }
            } else {
                Skip::NotIp
            })
        }
    }
}

/// The TCP segment in the IP payload, with its payload's length on the wire.
fn transport_layer<'a>(
    sliced: &LaxSlicedPacket<'a>,
    src: IpAddr,
    dst: IpAddr,
    ip_payload: &LaxIpPayloadSlice<'a>,
) -> Result<TcpSegment<'a>, Skip> {
    if ip_payload.ip_number != IpNumber::TCP {
        return Err(Skip::NotTcp);
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) => t,
        _ if ip_payload.fragmented => return Err(Skip::Fragment),
        _ => {
            let declared = ip_payload_declared_len(sliced);
            return cut_tcp_header(src, dst, ip_payload.payload, declared);
        }
    };
    if ip_payload.fragmented {
        return Err(Skip::Fragment);
    }
    let payload = tcp.payload();
    let hdr_len = tcp.header_len();
    // The IP layer knows the real TCP length; the captured slice may be shorter.
    let payload_len = if ip_payload.incomplete {
        let ip_len = ip_payload_declared_len(sliced);
        ip_len.map_or(payload.len(), |l| {
            l.saturating_sub(hdr_len).max(payload.len())
        })
    } else {
        payload.len()
    };
    Ok(TcpSegment {
        src,
        dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: tcp.slice()[13],
        window: tcp.window_size(),
        payload,
        payload_len: payload_len as u32,
    })
}

/// A TCP header the snaplen cut inside its options (e.g. `editcap -s 60`:
/// Ethernet + IPv4 leave 26 bytes of a 32- or 40-byte header), which etherparse
/// refuses. The fixed 20 bytes hold everything the analysis needs, so they are
/// read by hand; no payload was captured, and its length on the wire comes from
/// the IP header (the reassembly reports it as a gap). Anything shorter than the
/// fixed header, or a header whose data offset is impossible or fully captured
/// (then etherparse had another reason to refuse it), is malformed.
fn cut_tcp_header<'a>(
    src: IpAddr,
    dst: IpAddr,
    b: &'a [u8],
    ip_declared: Option<usize>,
) -> Result<TcpSegment<'a>, Skip> {
    if b.len() < 20 {
        return Err(Skip::Malformed);
    }
    let hdr_len = (b[12] >> 4) as usize * 4;
    if hdr_len < 20 || b.len() >= hdr_len {
        return Err(Skip::Malformed);
    }
    let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let payload_len = ip_declared.map_or(0, |l| l.saturating_sub(hdr_len));
    Ok(TcpSegment {
        src,
        dst,
        sport: be16(0),
        dport: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: b[13],
        window: be16(14),
        payload: &b[b.len()..],
        payload_len: payload_len as u32,
    })
}

/// Length of the IP payload as the IP header declares it.
fn ip_payload_declared_len(p: &LaxSlicedPacket<'_>) -> Option<usize> {
    match &p.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let ext = v4.extensions().to_header().header_len();
            (h.total_len() as usize).checked_sub(h.slice().len() + ext)
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let ext = v6.extensions().slice().len();
            (v6.header().payload_length() as usize).checked_sub(ext)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    /// Ethernet + IPv4 + TCP built field by field.
    pub(crate) fn eth_ipv4_tcp(payload: &[u8], flags_byte: u8) -> Vec<u8> {
        let mut f = vec![
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, // dst, src MAC
            0x08, 0x00, // IPv4
        ];
        let total = 20 + 20 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 2]);
        f.extend_from_slice(&[0x9c, 0x40, 0x00, 0x50]); // 40000 -> 80
        f.extend_from_slice(&100u32.to_be_bytes());
        f.extend_from_slice(&200u32.to_be_bytes());
        f.extend_from_slice(&[0x50, flags_byte, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn just_written_gives_the_address_it_reads() {
        for a in [
            "10.1.2.3",
            "255.255.255.255",
            "::1",
            "2001:db8::8:80",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(just_written(&ip), ip, "{a}");
        }
    }

    #[test]
    fn ethernet_ipv4_tcp() {
        let f = eth_ipv4_tcp(b"GET / HTTP/1.1\r\n", flags::ACK | flags::PSH);
        let p = RawPacket {
            ts: Timestamp(0),
            linktype: lt::ETHERNET,
            data: &f,
            orig_len: f.len() as u32,
        };
        let s = decode(&p).unwrap();
        assert_eq!(s.src.to_string(), "127.0.0.1");
        assert_eq!((s.sport, s.dport, s.seq, s.ack), (40000, 80, 100, 200));
        assert_eq!(s.payload, b"GET / HTTP/1.1\r\n");
        assert_eq!(s.payload_len, 16);
        assert!(s.has(flags::PSH) && s.has(flags::ACK) && !s.has(flags::SYN));
    }

    #[test]
    fn snaplen_cut_keeps_true_length() {
        let f = eth_ipv4_tcp(&[b'x'; 100], flags::ACK);
        let cut = &f[..14 + 40 + 10];
        let p = RawPacket {
            ts: Timestamp(0),
            linktype: lt::ETHERNET,
            data: cut,
            orig_len: f.len() as u32,
        };
        let s = decode(&p).unwrap();
        assert_eq!(s.payload.len(), 10);
        assert_eq!(s.payload_len, 100);
    }

    #[test]
    fn linux_sll_and_sll2_and_null() {
        let f = eth_ipv4_tcp(b"hi", flags::ACK);
        let ip = &f[14..];
        let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(ip);
        let mut null = vec![2, 0, 0, 0];
        null.extend_from_slice(ip);
        for (ltype, data) in [
            (lt::LINUX_SLL, &sll),
            (lt::LINUX_SLL2, &sll2),
            (lt::NULL, &null),
            (lt::RAW, &ip.to_vec()),
        ] {
            let p = RawPacket {
                ts: Timestamp(0),
                linktype: ltype,
                data,
                orig_len: data.len() as u32,
            };
            let s = decode(&p).unwrap_or_else(|e| panic!("link type {ltype}: {e:?}"));
            assert_eq!(s.payload, b"hi", "link type {ltype}");
        }
    }

    #[test]
    fn qinq_vlan() {
        let f = eth_ipv4_tcp(b"x", flags::ACK);
        let mut q = f[..12].to_vec();
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0xc8]);
        q.extend_from_slice(&f[12..]);
        let p = RawPacket {
            ts: Timestamp(0),
            linktype: lt::ETHERNET,
            data: &q,
            orig_len: q.len() as u32,
        };
        assert_eq!(decode(&p).unwrap().payload, b"x");
    }

    #[test]
    fn garbage_and_unsupported() {
        let p = RawPacket {
            ts: Timestamp(0),
            linktype: 147,
            data: &[1, 2, 3],
            orig_len: 3,
        };
        assert_eq!(decode(&p).unwrap_err(), Skip::UnsupportedLinkType);
        for n in 0..60 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            for ltype in [
                lt::ETHERNET,
                lt::RAW,
                lt::LINUX_SLL,
                lt::LINUX_SLL2,
                lt::NULL,
            ] {
                let p = RawPacket {
                    ts: Timestamp(0),
                    linktype: ltype,
                    data: &junk,
                    orig_len: n as u32,
                };
                let _ = decode(&p);
            }
        }
    }
}
