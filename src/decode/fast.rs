//! The fast path of [`super::decode`] for the shapes nearly every frame has:
//! IPv4 (any header length, no AH) or IPv6 without extension headers,
//! carrying TCP, behind any supported link header. It reads etherparse's
//! fixed-header slices (`Ipv4HeaderSlice`, `Ipv6HeaderSlice`,
//! `TcpHeaderSlice`), which check the same things the lax slicer checks,
//! instead of building a `LaxSlicedPacket` (a large struct, and a cursor
//! that walks every layer generically): on 40,000 dense frames decode went
//! from ~700 to ~100 instructions a frame (issue 14).
//!
//! Anything else (VLAN tags, non-IP, AH, IPv6 extension headers, an IPv4
//! total length shorter than its header, an IPv6 payload length of zero, a
//! header etherparse refuses) returns `None` and takes the lax path, so the
//! result is the lax path's in every case; `tests` compare the two.

use super::linktype as lt;
use super::{cut_tcp_header, link_layer, Link, Skip, TcpSegment};
use etherparse::{
    EtherType, Ethernet2HeaderSlice, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice, TcpHeaderSlice,
};
use std::net::IpAddr;

/// The frame's TCP segment or skip reason; `lax()` for a shape not handled
/// here. (A fallback rather than an `Option`: the segment is then built in
/// place, not moved through one more enum; callgrind: ~40 instructions a
/// frame.)
#[inline(always)]
pub(super) fn decode<'a>(
    linktype: u32,
    data: &'a [u8],
    lax: impl FnOnce() -> Result<TcpSegment<'a>, Skip>,
) -> Result<TcpSegment<'a>, Skip> {
    if linktype == lt::ETHERNET {
        // The most common link type, without the `Link` detour.
        return match Ethernet2HeaderSlice::from_slice(data) {
            Ok(eth) if matches!(eth.ether_type(), EtherType::IPV4 | EtherType::IPV6) => {
                ip(&data[eth.slice().len()..], lax)
            }
            _ => lax(),
        };
    }
    match link_layer(linktype, data) {
        Ok(Link::Ip(d)) => ip(d, lax),
        Ok(Link::EtherType(EtherType::IPV4 | EtherType::IPV6, d)) => ip(d, lax),
        Ok(_) => lax(),
        // The lax path starts with the same `link_layer`: the same error.
        Err(e) => Err(e),
    }
}

/// An IP packet (the version nibble decides, as in the lax slicer).
#[inline(always)]
fn ip<'a>(
    d: &'a [u8],
    lax: impl FnOnce() -> Result<TcpSegment<'a>, Skip>,
) -> Result<TcpSegment<'a>, Skip> {
    match d.first().map(|b| b >> 4) {
        Some(4) => {
            let Ok(h) = Ipv4HeaderSlice::from_slice(d) else {
                return lax();
            };
            let hl = h.slice().len();
            let total = usize::from(h.total_len());
            if total < hl {
                // The lax slicer then takes the whole slice as payload.
                return lax();
            }
            match h.protocol() {
                IpNumber::TCP => {}
                IpNumber::AUTHENTICATION_HEADER => return lax(),
                _ => return Err(Skip::NotTcp),
            }
            if h.is_fragmenting_payload() {
                return Err(Skip::Fragment);
            }
            let (payload, incomplete) = match d.get(hl..total) {
                Some(p) => (p, false),
                None => (&d[hl..], true),
            };
            let addrs = || {
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                )
            };
            tcp(addrs, payload, incomplete, total - hl)
        }
        Some(6) => {
            let Ok(h) = Ipv6HeaderSlice::from_slice(d) else {
                return lax();
            };
            let declared = usize::from(h.payload_length());
            // Extension headers (or anything but TCP), and the zero payload
            // length of jumbograms and TSO captures, go the lax way.
            if h.next_header() != IpNumber::TCP || declared == 0 {
                return lax();
            }
            let rest = &d[h.slice().len()..];
            let (payload, incomplete) = match rest.get(..declared) {
                Some(p) => (p, false),
                None => (rest, true),
            };
            let addrs = || {
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                )
            };
            tcp(addrs, payload, incomplete, declared)
        }
        _ => lax(),
    }
}

/// The TCP segment in an IP payload that is not fragmented. `declared`: the
/// IP payload's length as the IP header gives it; `incomplete`: the capture
/// holds less than that. `addrs` is called where the segment is built, so
/// the addresses are written into it: built before the call and copied in,
/// they were read back by wider loads than the stores that had just made
/// them, a store-forwarding stall on every frame (with the segment matched
/// by reference in `Analyzer::packet`: dense.pcap one thread -5 ms, 7 %).
#[inline(always)]
fn tcp<'a>(
    addrs: impl FnOnce() -> (IpAddr, IpAddr),
    b: &'a [u8],
    incomplete: bool,
    declared: usize,
) -> Result<TcpSegment<'a>, Skip> {
    let t = match TcpHeaderSlice::from_slice(b) {
        Ok(t) => t,
        Err(_) => {
            let (src, dst) = addrs();
            return cut_tcp_header(src, dst, b, Some(declared));
        }
    };
    let hdr_len = t.slice().len();
    let payload = &b[hdr_len..];
    let payload_len = if incomplete {
        declared.saturating_sub(hdr_len).max(payload.len())
    } else {
        payload.len()
    };
    let (src, dst) = addrs();
    Ok(TcpSegment {
        src,
        dst,
        sport: t.source_port(),
        dport: t.destination_port(),
        seq: t.sequence_number(),
        ack: t.acknowledgment_number(),
        flags: b[13],
        window: t.window_size(),
        payload,
        payload_len: payload_len as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{decode_lax, RawPacket};
    use super::*;
    use crate::time::Timestamp;

    type Fields = (
        IpAddr,
        IpAddr,
        u16,
        u16,
        u32,
        u32,
        u8,
        u16,
        usize,
        usize,
        u32,
    );

    /// Every field, the payload by position in the frame (same bytes, not
    /// just equal bytes).
    fn fields(frame: &[u8], r: Result<TcpSegment<'_>, Skip>) -> Result<Fields, Skip> {
        r.map(|s| {
            let at = s.payload.as_ptr() as usize - frame.as_ptr() as usize;
            (
                s.src,
                s.dst,
                s.sport,
                s.dport,
                s.seq,
                s.ack,
                s.flags,
                s.window,
                at,
                s.payload.len(),
                s.payload_len,
            )
        })
    }

    /// The fast path's answer (the lax path's where it falls back to it),
    /// checked against the lax path's. Returns whether the fast path gave it.
    fn same(linktype: u32, frame: &[u8]) -> bool {
        let p = RawPacket {
            ts: Timestamp(0),
            linktype,
            data: frame,
            orig_len: frame.len() as u32,
        };
        let lax = std::cell::Cell::new(false);
        let got = decode(linktype, frame, || {
            lax.set(true);
            decode_lax(&p)
        });
        assert_eq!(
            fields(frame, got),
            fields(frame, decode_lax(&p)),
            "link type {linktype}, frame {frame:02x?}"
        );
        !lax.get()
    }

    fn tcp_header(data_offset_words: u8, options: &[u8]) -> Vec<u8> {
        let mut t = vec![0x9c, 0x40, 0x00, 0x50]; // 40000 -> 80
        t.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        t.extend_from_slice(&0xa0b0_c0d0u32.to_be_bytes());
        t.extend_from_slice(&[data_offset_words << 4, 0x18, 0x12, 0x34, 0xee, 0xee, 0, 0]);
        t.extend_from_slice(options);
        t
    }

    /// IPv4 header: `ihl` words (options zero-filled), total length `total`
    /// (None: the true one), flags and fragment offset, protocol.
    fn ipv4(ihl: u8, total: Option<u16>, frag: u16, proto: u8, body: &[u8]) -> Vec<u8> {
        let hl = usize::from(ihl.max(5)) * 4;
        let total = total.unwrap_or((hl + body.len()) as u16);
        let mut h = vec![0x40 | ihl, 0];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[64, proto, 0xab, 0xcd, 10, 0, 0, 1, 192, 168, 7, 9]);
        h.resize(hl, 1); // options: NOPs
        h.extend_from_slice(body);
        h
    }

    fn ipv6(payload_len: Option<u16>, next: u8, body: &[u8]) -> Vec<u8> {
        let len = payload_len.unwrap_or(body.len() as u16);
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[next, 64]);
        h.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        h.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34]);
        h.extend_from_slice(body);
        h
    }

    /// The IP packet behind each supported link header.
    fn framed(ip: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let et: [u8; 2] = if ip.first().is_some_and(|b| b >> 4 == 6) {
            [0x86, 0xdd]
        } else {
            [0x08, 0x00]
        };
        let with = |head: Vec<u8>| {
            let mut f = head;
            f.extend_from_slice(ip);
            f
        };
        let mut eth = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        eth.extend_from_slice(&et);
        let mut vlan = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0, 0, 7];
        vlan.extend_from_slice(&et);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0];
        sll.extend_from_slice(&et);
        let mut sll2 = et.to_vec();
        sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 0, 1, 2, 3, 4, 5, 0, 0]);
        vec![
            (lt::ETHERNET, with(eth)),
            (lt::ETHERNET, with(vlan)),
            (lt::LINUX_SLL, with(sll)),
            (lt::LINUX_SLL2, with(sll2)),
            (lt::NULL, with(vec![2, 0, 0, 0])),
            (lt::LOOP, with(vec![0, 0, 0, 2])),
            (lt::RAW, ip.to_vec()),
            (lt::IPV4, ip.to_vec()),
            (lt::IPV6, ip.to_vec()),
        ]
    }

    /// IP packets of every shape the fast path must get right or leave alone.
    fn packets() -> Vec<Vec<u8>> {
        let body = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let plain = [tcp_header(5, &[]), body.to_vec()].concat();
        let opts = [
            tcp_header(8, &[2, 4, 5, 0xb4, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0]),
            body.to_vec(),
        ]
        .concat();
        let mut v = Vec::new();
        for seg in [&plain, &opts, &tcp_header(5, &[]), &tcp_header(3, &[])] {
            v.push(ipv4(5, None, 0x4000, 6, seg));
            v.push(ipv4(7, None, 0, 6, seg)); // IP options
            v.push(ipv4(5, Some(0), 0, 6, seg)); // total length 0 (TSO)
            v.push(ipv4(5, Some(30), 0, 6, seg)); // shorter than the TCP header
            v.push(ipv4(5, Some(500), 0, 6, seg)); // longer than captured
            v.push(ipv4(5, None, 0x2000, 6, seg)); // more fragments
            v.push(ipv4(5, None, 0x0010, 6, seg)); // a later fragment
            v.push(ipv4(4, None, 0, 6, seg)); // IHL below 5
            v.push(ipv4(5, None, 0, 17, seg)); // UDP
            v.push(ipv4(5, None, 0, 51, seg)); // AH
            v.push(ipv6(None, 6, seg));
            v.push(ipv6(Some(0), 6, seg)); // jumbogram / TSO
            v.push(ipv6(Some(900), 6, seg));
            v.push(ipv6(Some(25), 6, seg));
            v.push(ipv6(None, 17, seg));
            let mut hop = vec![6, 0, 1, 4, 0, 0, 0, 0];
            hop.extend_from_slice(seg);
            v.push(ipv6(None, 0, &hop)); // hop-by-hop options
            let mut frag = vec![6, 0, 0, 0, 0, 0, 0, 9];
            frag.extend_from_slice(seg);
            v.push(ipv6(None, 44, &frag));
        }
        // Ethernet padding after a short packet.
        let mut padded = ipv4(5, None, 0, 6, &tcp_header(5, &[]));
        padded.extend_from_slice(&[0; 6]);
        v.push(padded);
        v.push(vec![0x70, 0, 0, 0]); // IP version 7
        v
    }

    #[test]
    fn agrees_with_the_lax_path_on_every_shape_and_every_cut() {
        let mut taken = 0;
        let mut total = 0;
        for ip in packets() {
            for (linktype, frame) in framed(&ip) {
                for cut in 0..=frame.len() {
                    total += 1;
                    taken += same(linktype, &frame[..cut]) as usize;
                }
            }
        }
        // Both paths were exercised (most cuts fall inside a header: lax).
        assert!(
            taken > total / 4 && taken < total,
            "fast path took {taken} of {total}"
        );
    }

    #[test]
    fn agrees_with_the_lax_path_on_changed_bytes() {
        let base = [
            ipv4(
                5,
                None,
                0x4000,
                6,
                &[tcp_header(5, &[]), b"hello".to_vec()].concat(),
            ),
            ipv6(
                None,
                6,
                &[tcp_header(6, &[1, 1, 1, 1]), b"hi".to_vec()].concat(),
            ),
        ];
        for ip in base {
            for (linktype, frame) in framed(&ip) {
                for i in 0..frame.len() {
                    for v in [0u8, 0x01, 0x06, 0x11, 0x33, 0x45, 0x60, 0x80, 0xff] {
                        let mut f = frame.clone();
                        f[i] = v;
                        same(linktype, &f);
                        f[i] = frame[i] ^ 0x40;
                        same(linktype, &f);
                    }
                }
            }
        }
    }

    #[test]
    fn takes_the_common_shapes() {
        let seg = [tcp_header(5, &[]), b"x".to_vec()].concat();
        for ip in [ipv4(5, None, 0x4000, 6, &seg), ipv6(None, 6, &seg)] {
            for (linktype, frame) in framed(&ip) {
                let vlan = linktype == lt::ETHERNET && frame[12] == 0x81;
                // Every link type but a VLAN-tagged frame takes the fast path.
                assert_eq!(same(linktype, &frame), !vlan, "link type {linktype}");
                let s = super::super::decode(&RawPacket {
                    ts: Timestamp(0),
                    linktype,
                    data: &frame,
                    orig_len: 0,
                });
                let s = s.unwrap();
                assert_eq!(
                    (s.sport, s.dport, s.seq, s.ack),
                    (40000, 80, 0x0102_0304, 0xa0b0_c0d0)
                );
                assert_eq!(
                    (s.flags, s.window, s.payload, s.payload_len),
                    (0x18, 0x1234, &b"x"[..], 1)
                );
            }
        }
    }
}
