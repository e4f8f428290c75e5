//! Hostile-input captures (issue 11), written packet by packet to any
//! `Write` as classic pcap (Ethernet, microseconds). Used at full size by
//! `benches/hostile_gen.rs` + `benches/hostile.sh` (peak RSS) and at small scale
//! by `tests/hostile_memory.rs` (bounds and counters).
//!
//! Every packet is built field by field: Ethernet II, IPv4 (checksummed), TCP
//! (checksummed, no options). All addresses are in 10.0.0.0/8 and nothing is
//! ever sent: the bytes only go to a file.
#![allow(dead_code)]

use std::io::{self, Write};

/// The cases of issue 11's table, by name.
pub const CASES: &[(&str, &str)] = &[
    (
        "syn-flood",
        "N SYNs from distinct clients to one server, no reply",
    ),
    (
        "short-conns",
        "N short complete HTTP connections to one server",
    ),
    (
        "distinct-hosts",
        "N short complete HTTP connections, each to its own server and Host",
    ),
    (
        "half-duplex",
        "one connection, N pipelined requests, client side only",
    ),
    (
        "ooo-segments",
        "3 connections x N one-byte out-of-order segments (a hole before each)",
    ),
    (
        "ooo-bytes",
        "one connection, N one-byte segments out of order behind a missing first byte",
    ),
    (
        "open-conns",
        "N HTTP connections that answer one request each and stay open, idle",
    ),
];

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;

/// A pcap being written.
pub struct Pcap<W: Write> {
    w: W,
    /// Microseconds since the epoch of the next packet.
    pub now_us: u64,
    pub packets: u64,
    buf: Vec<u8>,
}

impl<W: Write> Pcap<W> {
    pub fn new(mut w: W) -> io::Result<Self> {
        // magic, v2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET
        w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        w.write_all(&2u16.to_le_bytes())?;
        w.write_all(&4u16.to_le_bytes())?;
        w.write_all(&0i32.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        w.write_all(&262_144u32.to_le_bytes())?;
        w.write_all(&1u32.to_le_bytes())?;
        Ok(Pcap {
            w,
            now_us: 1_764_000_000_000_000,
            packets: 0,
            buf: Vec::with_capacity(2048),
        })
    }

    pub fn into_inner(self) -> W {
        self.w
    }

    /// One TCP segment; the clock advances by `step_us` after it.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        seq: u32,
        ack: u32,
        flags: u8,
        payload: &[u8],
        step_us: u64,
    ) -> io::Result<()> {
        let b = &mut self.buf;
        b.clear();
        // Ethernet II
        b.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        // IPv4
        let total = (20 + 20 + payload.len()) as u16;
        let ip_at = b.len();
        b.extend_from_slice(&[0x45, 0]);
        b.extend_from_slice(&total.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        b.extend_from_slice(&src.0);
        b.extend_from_slice(&dst.0);
        let c = checksum(0, &b[ip_at..ip_at + 20]);
        b[ip_at + 10..ip_at + 12].copy_from_slice(&c.to_be_bytes());
        // TCP
        let tcp_at = b.len();
        b.extend_from_slice(&src.1.to_be_bytes());
        b.extend_from_slice(&dst.1.to_be_bytes());
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&ack.to_be_bytes());
        b.extend_from_slice(&[0x50, flags]);
        b.extend_from_slice(&65_535u16.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.extend_from_slice(payload);
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&src.0);
        pseudo[4..8].copy_from_slice(&dst.0);
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
        let sum = sum16(sum16(0, &pseudo), &b[tcp_at..]);
        let c = !fold(sum);
        b[tcp_at + 16..tcp_at + 18].copy_from_slice(&c.to_be_bytes());

        let len = b.len() as u32;
        let (sec, usec) = (self.now_us / 1_000_000, self.now_us % 1_000_000);
        self.w.write_all(&(sec as u32).to_le_bytes())?;
        self.w.write_all(&(usec as u32).to_le_bytes())?;
        self.w.write_all(&len.to_le_bytes())?;
        self.w.write_all(&len.to_le_bytes())?;
        self.w.write_all(b)?;
        self.now_us += step_us;
        self.packets += 1;
        Ok(())
    }
}

fn sum16(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        acc += (*last as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

fn checksum(acc: u32, data: &[u8]) -> u16 {
    !fold(sum16(acc, data))
}

/// The i-th distinct client endpoint: 10.128.0.0/9, ports 1024..=65023.
pub fn client(i: u64) -> ([u8; 4], u16) {
    let ports = 64_000u64;
    let host = i / ports;
    let port = 1024 + (i % ports) as u16;
    (
        [
            10,
            128 | ((host >> 16) & 0x7f) as u8,
            (host >> 8) as u8,
            host as u8,
        ],
        port,
    )
}

/// The i-th distinct server: 10.0.0.0/9 port 80.
pub fn server(i: u64) -> ([u8; 4], u16) {
    ([10, ((i >> 16) & 0x7f) as u8, (i >> 8) as u8, i as u8], 80)
}

/// A deterministic ISN per connection.
fn isn(i: u64) -> u32 {
    (i.wrapping_mul(2_654_435_761) as u32) | 1
}

pub fn generate<W: Write>(case: &str, n: u64, w: W) -> io::Result<Pcap<W>> {
    let mut p = Pcap::new(w)?;
    match case {
        "syn-flood" => syn_flood(&mut p, n)?,
        "short-conns" => short_conns(&mut p, n, false)?,
        "distinct-hosts" => short_conns(&mut p, n, true)?,
        "half-duplex" => half_duplex(&mut p, n)?,
        "ooo-segments" => ooo_segments(&mut p, 3, n)?,
        "ooo-bytes" => ooo_bytes(&mut p, n)?,
        "open-conns" => open_conns(&mut p, n)?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown case {other}"),
            ))
        }
    }
    Ok(p)
}

fn syn_flood<W: Write>(p: &mut Pcap<W>, n: u64) -> io::Result<()> {
    let srv = server(0);
    for i in 0..n {
        p.tcp(client(i), srv, isn(i), 0, SYN, b"", 1)?;
    }
    Ok(())
}

/// Packet spacing of the connection cases: 100,000 packets/s, a busy link
/// (12,500 short connections/s; the 5 s linger of closed connections then
/// holds ~62,500 of them).
pub const BUSY_LINK_STEP_US: u64 = 10;

fn short_conns<W: Write>(p: &mut Pcap<W>, n: u64, distinct: bool) -> io::Result<()> {
    for i in 0..n {
        let c = client(i);
        let s = if distinct { server(i) } else { server(0) };
        let host = if distinct {
            format!("h{i}.example")
        } else {
            "example.com".to_string()
        };
        let (ci, si) = (isn(i), isn(i + 7_777_777));
        let req = format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        let (rq, rs) = (req.len() as u32, resp.len() as u32);
        p.tcp(c, s, ci, 0, SYN, b"", BUSY_LINK_STEP_US)?;
        p.tcp(s, c, si, ci + 1, SYN | ACK, b"", BUSY_LINK_STEP_US)?;
        p.tcp(c, s, ci + 1, si + 1, ACK, b"", BUSY_LINK_STEP_US)?;
        p.tcp(
            c,
            s,
            ci + 1,
            si + 1,
            ACK | PSH,
            req.as_bytes(),
            BUSY_LINK_STEP_US,
        )?;
        p.tcp(
            s,
            c,
            si + 1,
            ci + 1 + rq,
            ACK | PSH,
            resp,
            BUSY_LINK_STEP_US,
        )?;
        p.tcp(
            s,
            c,
            si + 1 + rs,
            ci + 1 + rq,
            ACK | FIN,
            b"",
            BUSY_LINK_STEP_US,
        )?;
        p.tcp(
            c,
            s,
            ci + 1 + rq,
            si + 2 + rs,
            ACK | FIN,
            b"",
            BUSY_LINK_STEP_US,
        )?;
        p.tcp(s, c, si + 2 + rs, ci + 2 + rq, ACK, b"", BUSY_LINK_STEP_US)?;
    }
    Ok(())
}

/// Only the client's packets are in the capture (asymmetric routing, or a
/// server that never answers): a SYN, then N requests pipelined in full
/// segments.
fn half_duplex<W: Write>(p: &mut Pcap<W>, n: u64) -> io::Result<()> {
    let (c, s) = (client(0), server(0));
    let ci = isn(1);
    p.tcp(c, s, ci, 0, SYN, b"", 1)?;
    let mut seq = ci + 1;
    let mut seg = Vec::with_capacity(1500);
    for i in 0..n {
        let req = format!("GET /r{i} HTTP/1.1\r\nHost: example.com\r\n\r\n");
        if seg.len() + req.len() > 1448 {
            p.tcp(c, s, seq, 1, ACK | PSH, &seg, 1)?;
            seq = seq.wrapping_add(seg.len() as u32);
            seg.clear();
        }
        seg.extend_from_slice(req.as_bytes());
    }
    if !seg.is_empty() {
        p.tcp(c, s, seq, 1, ACK | PSH, &seg, 1)?;
    }
    Ok(())
}

fn handshake<W: Write>(
    p: &mut Pcap<W>,
    c: ([u8; 4], u16),
    s: ([u8; 4], u16),
    ci: u32,
    si: u32,
) -> io::Result<()> {
    p.tcp(c, s, ci, 0, SYN, b"", 1)?;
    p.tcp(s, c, si, ci + 1, SYN | ACK, b"", 1)?;
    p.tcp(c, s, ci + 1, si + 1, ACK, b"", 1)
}

/// `conns` connections, each sent `n` one-byte segments at every other
/// offset (1, 3, 5, …): each sits behind a hole that is never filled, so all
/// of them wait in the out-of-order buffer. The server acknowledges nothing
/// past the handshake, so no hole is given up early. The connections are
/// interleaved.
fn ooo_segments<W: Write>(p: &mut Pcap<W>, conns: u64, n: u64) -> io::Result<()> {
    let s = server(0);
    for k in 0..conns {
        handshake(p, client(k), s, isn(k), isn(k + 99))?;
    }
    for j in 0..n {
        for k in 0..conns {
            let ci = isn(k);
            let seq = ci.wrapping_add(2 + 2 * j as u32);
            p.tcp(client(k), s, seq, isn(k + 99) + 1, ACK, b"x", 1)?;
        }
    }
    Ok(())
}

/// One connection whose first stream byte never arrives, then `n` bytes in
/// order behind it, one byte per segment: every one of them is out of order.
/// The stream is HTTP (pipelined requests), so what follows the hole is
/// parsed once it is delivered.
fn ooo_bytes<W: Write>(p: &mut Pcap<W>, n: u64) -> io::Result<()> {
    let (c, s) = (client(0), server(0));
    let (ci, si) = (isn(3), isn(4));
    handshake(p, c, s, ci, si)?;
    let pattern = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n";
    for j in 1..=n {
        let byte = pattern[(j as usize) % pattern.len()];
        let seq = ci.wrapping_add(1).wrapping_add(j as u32);
        p.tcp(c, s, seq, si + 1, ACK, &[byte], 1)?;
    }
    Ok(())
}

/// `n` connections, one after the other, each with one request answered and
/// then nothing: open and idle, the oldest first.
fn open_conns<W: Write>(p: &mut Pcap<W>, n: u64) -> io::Result<()> {
    let s = server(0);
    for i in 0..n {
        let c = client(i);
        let (ci, si) = (isn(i), isn(i + 7_777_777));
        let req = b"GET /k HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (rq, rs) = (req.len() as u32, resp.len() as u32);
        handshake(p, c, s, ci, si)?;
        p.tcp(c, s, ci + 1, si + 1, ACK | PSH, req, 1)?;
        p.tcp(s, c, si + 1, ci + 1 + rq, ACK | PSH, resp, 1)?;
        p.tcp(c, s, ci + 1 + rq, si + 1 + rs, ACK, b"", 1)?;
    }
    Ok(())
}
