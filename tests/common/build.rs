//! Every packet and capture file the integration tests build, in one place.
//! Packets (IPv4/IPv6 + TCP, Ethernet II) are built by `etherparse`; what it
//! cannot make is written byte by byte here: link layers around raw IP bytes
//! (loopback, Linux cooked v1/v2), packet surgery (TCP options spliced in),
//! HTTP/2 frames, classic pcap in any byte order / resolution / snaplen / the
//! modified format, and pcapng block by block (damaged files are made by
//! editing these bytes). The streaming generator of millions of hostile
//! packets is separate (tests/hostile_gen, shared with benches/).
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

/// An HTTP/1.1 conversation of `n` exchanges (10.1.1.1:40000 → 10.1.1.2:80)
/// as Ethernet frames, from [`CONVERSATION_T0`].
pub fn eth_conversation(n: usize) -> Vec<(i64, Vec<u8>)> {
    http_conversation("10.1.1.1", 40000, "10.1.1.2", n, CONVERSATION_T0)
        .into_iter()
        .map(|(t, ip)| (t, ethernet(&ip)))
        .collect()
}

pub fn is_v6(ip: &[u8]) -> bool {
    ip.first().map(|b| b >> 4) == Some(6)
}

fn ethertype(ip: &[u8]) -> [u8; 2] {
    if is_v6(ip) {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    }
}

// ---------------------------------------------------------------------------
// Link layers etherparse does not frame around raw IP bytes, byte by byte.

/// A BSD loopback header (DLT_NULL / DLT_LOOP): the address family as a
/// 32-bit word (`af6` for IPv6: 24, 28 or 30 depending on the BSD).
pub fn loopback(ip: &[u8], af6: u32, big_endian: bool) -> Vec<u8> {
    let af: u32 = if is_v6(ip) { af6 } else { 2 };
    let mut f = if big_endian {
        af.to_be_bytes().to_vec()
    } else {
        af.to_le_bytes().to_vec()
    };
    f.extend_from_slice(ip);
    f
}

/// Linux cooked capture v1 (link type 113): outgoing, ARPHRD_LOOPBACK.
pub fn sll(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
    f.extend_from_slice(&ethertype(ip));
    f.extend_from_slice(ip);
    f
}

/// Linux cooked capture v2 (link type 276).
pub fn sll2(ip: &[u8]) -> Vec<u8> {
    let mut f = ethertype(ip).to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 3, 4, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(ip);
    f
}

/// Gives the TCP header of an IP packet (built by [`ip_tcp`], 20-byte header)
/// 12 bytes of options (NOP, NOP, timestamps), fixing the lengths.
pub fn with_tcp_options(ip: &[u8]) -> Vec<u8> {
    let ihl = if is_v6(ip) { 40 } else { 20 };
    let mut p = ip[..ihl + 20].to_vec();
    p[ihl + 12] = 0x80; // data offset 8 words = 32 bytes
    p.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    p.extend_from_slice(&ip[ihl + 20..]);
    if is_v6(ip) {
        let l = (p.len() - 40) as u16;
        p[4..6].copy_from_slice(&l.to_be_bytes());
    } else {
        let l = p.len() as u16;
        p[2..4].copy_from_slice(&l.to_be_bytes());
    }
    p
}

/// An HTTP/2 frame: 9-byte header + payload.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

// ---------------------------------------------------------------------------
// Classic pcap files, field by field (any byte order, resolution, snaplen).

/// A classic pcap file header and how its records are written.
#[derive(Clone, Copy)]
pub struct PcapFormat {
    pub linktype: u32,
    pub big_endian: bool,
    /// Nanosecond magic (0xa1b23c4d) and fractions.
    pub nanos: bool,
    /// Alexey Kuznetzov's modified format (magic 0xa1b2cd34): each record
    /// header carries 8 more bytes (ifindex, protocol, pkt_type, pad).
    pub modified: bool,
    pub snaplen: u32,
}

impl PcapFormat {
    pub fn new(linktype: u32) -> Self {
        PcapFormat {
            linktype,
            big_endian: false,
            nanos: false,
            modified: false,
            snaplen: 262144,
        }
    }

    /// The file, records as (time ns, captured bytes, original length).
    pub fn file(&self, records: &[(i64, &[u8], u32)]) -> Vec<u8> {
        let big = self.big_endian;
        let u32b = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let u16b = |v: u16| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let magic = match (self.modified, self.nanos) {
            (true, _) => 0xa1b2_cd34,
            (false, true) => 0xa1b2_3c4d,
            (false, false) => 0xa1b2_c3d4,
        };
        let mut f = Vec::new();
        f.extend_from_slice(&u32b(magic));
        f.extend_from_slice(&u16b(2));
        f.extend_from_slice(&u16b(4));
        f.extend_from_slice(&u32b(0));
        f.extend_from_slice(&u32b(0));
        f.extend_from_slice(&u32b(self.snaplen));
        f.extend_from_slice(&u32b(self.linktype));
        for (t, data, orig_len) in records {
            let secs = (t / 1_000_000_000) as u32;
            let frac = (t % 1_000_000_000) as u32;
            f.extend_from_slice(&u32b(secs));
            f.extend_from_slice(&u32b(if self.nanos { frac } else { frac / 1000 }));
            f.extend_from_slice(&u32b(data.len() as u32));
            f.extend_from_slice(&u32b(*orig_len));
            if self.modified {
                f.extend_from_slice(&u32b(2)); // ifindex
                f.extend_from_slice(&u16b(0x0800)); // protocol
                f.extend_from_slice(&[0, 0]); // pkt_type (PACKET_HOST), pad
            }
            f.extend_from_slice(data);
        }
        f
    }

    /// The file, every frame whole.
    pub fn packets(&self, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let records: Vec<(i64, &[u8], u32)> = packets
            .iter()
            .map(|(t, d)| (*t, d.as_slice(), d.len() as u32))
            .collect();
        self.file(&records)
    }
}

/// Classic pcap. `nanos` selects the nanosecond magic.
pub fn pcap(linktype: u32, big_endian: bool, nanos: bool, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    PcapFormat {
        big_endian,
        nanos,
        ..PcapFormat::new(linktype)
    }
    .packets(packets)
}

/// Classic pcap (little-endian, µs) whose records keep only `snaplen` bytes
/// of each frame, as `editcap -s` or `tcpdump -s` write them.
pub fn pcap_snaplen(linktype: u32, snaplen: usize, packets: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let records: Vec<(i64, &[u8], u32)> = packets
        .iter()
        .map(|(t, d)| (*t, &d[..d.len().min(snaplen)], d.len() as u32))
        .collect();
    PcapFormat {
        snaplen: snaplen as u32,
        ..PcapFormat::new(linktype)
    }
    .file(&records)
}

// ---------------------------------------------------------------------------
// pcapng files (little-endian), block by block.

/// A pcapng block: type, length, body padded to 32 bits, length again.
pub fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
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

/// Section Header Block of the given version, section length unknown.
pub fn shb(major: u16, minor: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    b.extend_from_slice(&major.to_le_bytes());
    b.extend_from_slice(&minor.to_le_bytes());
    b.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &b)
}

/// Interface Description Block with optional if_tsresol (code 9) and
/// if_tsoffset (code 14) options (microseconds when no if_tsresol).
pub fn idb(linktype: u16, tsresol: Option<u8>, tsoffset: Option<i64>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&linktype.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    if let Some(r) = tsresol {
        b.extend_from_slice(&9u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[r, 0, 0, 0]);
    }
    if let Some(o) = tsoffset {
        b.extend_from_slice(&14u16.to_le_bytes());
        b.extend_from_slice(&8u16.to_le_bytes());
        b.extend_from_slice(&o.to_le_bytes());
    }
    if tsresol.is_some() || tsoffset.is_some() {
        b.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    block(1, &b)
}

/// Enhanced Packet Block: interface, timestamp in the interface's raw units.
pub fn epb(iface: u32, raw_time: u64, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&iface.to_le_bytes());
    b.extend_from_slice(&((raw_time >> 32) as u32).to_le_bytes());
    b.extend_from_slice(&(raw_time as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    block(6, &b)
}

/// Simple Packet Block: original length and the frame, no timestamp.
pub fn spb(frame: &[u8]) -> Vec<u8> {
    let mut body = (frame.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(frame);
    block(3, &body)
}

/// Little-endian pcapng: one section, one interface per link type given
/// (microsecond resolution), packets as (interface, time ns, frame).
pub fn pcapng(linktypes: &[u16], packets: &[(u32, i64, Vec<u8>)]) -> Vec<u8> {
    let mut f = shb(1, 0);
    for lt in linktypes {
        f.extend(idb(*lt, None, None));
    }
    for (iface, t, data) in packets {
        f.extend(epb(*iface, (*t / 1000) as u64, data));
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
