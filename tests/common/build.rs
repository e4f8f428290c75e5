//! Capture files built field by field, for edge cases no real capture shows
//! on demand (damaged files, odd byte orders, mixed link types).
#![allow(dead_code)]

use etherparse::{EtherType, Ethernet2Header, PacketBuilder, TcpHeader};
use std::net::IpAddr;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// An IPv4 or IPv6 packet carrying one TCP segment (window 65535, TTL 64,
/// checksums computed), built by `etherparse`.
#[allow(clippy::too_many_arguments)]
pub fn ip_tcp(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = TcpHeader::new(sport, dport, seq, 0xffff);
    tcp.acknowledgment_number = ack;
    tcp.fin = flags & FIN != 0;
    tcp.syn = flags & SYN != 0;
    tcp.rst = flags & RST != 0;
    tcp.psh = flags & PSH != 0;
    tcp.ack = flags & ACK != 0;
    let builder = match (src.parse().unwrap(), dst.parse().unwrap()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed address families"),
    }
    .tcp_header(tcp);
    let mut p = Vec::with_capacity(builder.size(payload.len()));
    builder
        .write(&mut p, payload)
        .expect("a packet etherparse can build");
    p
}

/// An Ethernet II frame around IP bytes (any bytes: the EtherType follows the
/// first nibble, so damaged IP packets can be framed too).
pub fn ethernet(ip: &[u8]) -> Vec<u8> {
    let ether_type = if ip.first().map(|b| b >> 4) == Some(6) {
        EtherType::IPV6
    } else {
        EtherType::IPV4
    };
    let mut f = Ethernet2Header {
        source: [2, 0, 0, 0, 0, 1],
        destination: [2, 0, 0, 0, 0, 2],
        ether_type,
    }
    .to_bytes()
    .to_vec();
    f.extend_from_slice(ip);
    f
}

pub const REQ: &[u8] = b"GET /a HTTP/1.1\r\nHost: test\r\n\r\n";
pub const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

/// A complete HTTP/1.1 connection as IP packets: handshake, `n` sequential
/// requests and responses, client FIN, server FIN. Times in ns from `t0`.
pub fn http_conversation(
    client: &str,
    cport: u16,
    server: &str,
    n: usize,
    t0: i64,
) -> Vec<(i64, Vec<u8>)> {
    let (ci, si) = (1000u32, 9000u32);
    let mut v = Vec::new();
    let mut t = t0;
    let mut tick = || {
        t += 1_000_000;
        t
    };
    v.push((tick(), ip_tcp(client, cport, server, 80, ci, 0, SYN, b"")));
    v.push((
        tick(),
        ip_tcp(server, 80, client, cport, si, ci + 1, SYN | ACK, b""),
    ));
    v.push((
        tick(),
        ip_tcp(client, cport, server, 80, ci + 1, si + 1, ACK, b""),
    ));
    let (mut cs, mut ss) = (ci + 1, si + 1);
    for _ in 0..n {
        v.push((
            tick(),
            ip_tcp(client, cport, server, 80, cs, ss, ACK | PSH, REQ),
        ));
        cs += REQ.len() as u32;
        v.push((
            tick(),
            ip_tcp(server, 80, client, cport, ss, cs, ACK | PSH, RESP),
        ));
        ss += RESP.len() as u32;
    }
    v.push((
        tick(),
        ip_tcp(client, cport, server, 80, cs, ss, ACK | FIN, b""),
    ));
    v.push((
        tick(),
        ip_tcp(server, 80, client, cport, ss, cs + 1, ACK | FIN, b""),
    ));
    v.push((
        tick(),
        ip_tcp(client, cport, server, 80, cs + 1, ss + 1, ACK, b""),
    ));
    v
}

/// Classic pcap. `nanos` selects the nanosecond magic.
pub fn pcap(linktype: u32, big_endian: bool, nanos: bool, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut f = Vec::new();
    f.extend_from_slice(&u32b(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend_from_slice(&u16b(2));
    f.extend_from_slice(&u16b(4));
    f.extend_from_slice(&u32b(0));
    f.extend_from_slice(&u32b(0));
    f.extend_from_slice(&u32b(262144));
    f.extend_from_slice(&u32b(linktype));
    for (t, data) in packets {
        let secs = (t / 1_000_000_000) as u32;
        let frac = (t % 1_000_000_000) as u32;
        f.extend_from_slice(&u32b(secs));
        f.extend_from_slice(&u32b(if nanos { frac } else { frac / 1000 }));
        f.extend_from_slice(&u32b(data.len() as u32));
        f.extend_from_slice(&u32b(data.len() as u32));
        f.extend_from_slice(data);
    }
    f
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while body.len() % 4 != 0 {
        body.push(0);
    }
    let len = (12 + body.len()) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_le_bytes());
    b
}

/// Little-endian pcapng: one section, one interface per link type given
/// (microsecond resolution), packets as (interface, time ns, frame).
pub fn pcapng(linktypes: &[u16], packets: &[(u32, i64, Vec<u8>)]) -> Vec<u8> {
    let mut f = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    f.extend(block(0x0a0d_0d0a, &shb));
    for lt in linktypes {
        let mut idb = Vec::new();
        idb.extend_from_slice(&lt.to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&0u32.to_le_bytes());
        f.extend(block(1, &idb));
    }
    for (iface, t, data) in packets {
        let us = (*t / 1000) as u64;
        let mut epb = Vec::new();
        epb.extend_from_slice(&iface.to_le_bytes());
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(data);
        f.extend(block(6, &epb));
    }
    f
}

/// Capture time of the first packet that [`conversation`] builds.
pub const CONVERSATION_T0: i64 = 1_700_000_000_000_000_000;

/// One Ethernet connection 10.9.0.1:41000 → 10.9.0.2:80: the handshake, then
/// sequential segments (from client?, payload, extra flags), each ACKing all
/// the peer sent; packets 1 ms apart after [`CONVERSATION_T0`].
pub fn conversation(steps: &[(bool, &[u8], u8)]) -> Vec<(i64, Vec<u8>)> {
    let (c, s, cp) = ("10.9.0.1", "10.9.0.2", 41000u16);
    let (mut cs, mut ss) = (5000u32, 7000u32);
    let mut t = CONVERSATION_T0;
    let mut v = vec![];
    let mut push = |p: Vec<u8>| {
        t += 1_000_000;
        v.push((t, ethernet(&p)));
    };
    push(ip_tcp(c, cp, s, 80, cs, 0, SYN, b""));
    push(ip_tcp(s, 80, c, cp, ss, cs + 1, SYN | ACK, b""));
    cs += 1;
    ss += 1;
    push(ip_tcp(c, cp, s, 80, cs, ss, ACK, b""));
    for (from_client, data, flags) in steps {
        if *from_client {
            push(ip_tcp(c, cp, s, 80, cs, ss, ACK | flags, data));
            cs += data.len() as u32 + (flags & FIN != 0) as u32;
        } else {
            push(ip_tcp(s, 80, c, cp, ss, cs, ACK | flags, data));
            ss += data.len() as u32 + (flags & FIN != 0) as u32;
        }
    }
    v
}
