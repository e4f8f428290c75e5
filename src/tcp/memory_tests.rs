//! The flow table's memory bounds: compact half-open connections, the
//! half-open cap, out-of-order segments accounted by real cost.

use super::stream::seg_cost;
use super::*;
use crate::decode::{flags as F, TcpSegment};
use crate::time::Timestamp;

#[derive(Default)]
struct Count {
    bytes: [u64; 2],
    gaps: [u64; 2],
}

impl StreamHandler for Count {
    fn on_data(&mut self, d: Direction, _: Timestamp, b: &[u8]) {
        self.bytes[d.index()] += b.len() as u64;
    }
    fn on_gap(&mut self, d: Direction, _: Timestamp, n: u64) {
        self.gaps[d.index()] += n;
    }
    fn on_fin(&mut self, _: Direction, _: Timestamp) {}
    fn on_finish(&mut self, _: Timestamp) {}
}

fn seg(
    sport: u16,
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
) -> TcpSegment<'_> {
    let (c, s) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
    let (src, dst, sp, dp) = if from_client {
        (c, s, sport, 80)
    } else {
        (s, c, 80, sport)
    };
    TcpSegment {
        src,
        dst,
        sport: sp,
        dport: dp,
        seq,
        ack,
        flags,
        window: 1000,
        payload: data,
        payload_len: data.len() as u32,
    }
}

#[test]
fn half_open_costs_no_full_connection_and_is_promoted_exactly() {
    let mut t: FlowTable<Count> = FlowTable::new(TableConfig::default());
    let mut out = Vec::new();
    t.process(
        Timestamp(1),
        &seg(1000, true, 100, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    t.process(
        Timestamp(2),
        &seg(1000, true, 100, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    t.process(
        Timestamp(3),
        &seg(1000, false, 900, 101, F::SYN | F::ACK, b""),
        &mut |c| out.push(c),
    );
    assert_eq!(t.open_connections(), 1);
    // Only the compact entry is held: far less than one full connection.
    let compact = t.memory_estimate();
    assert!(compact < 300, "{compact}");
    t.process(
        Timestamp(4),
        &seg(1000, true, 101, 901, F::ACK, b"GET"),
        &mut |c| out.push(c),
    );
    assert!(
        t.memory_estimate() >= std::mem::size_of::<Connection<Count>>(),
        "promoted to a full connection"
    );
    t.finish(Timestamp(5), &mut |c| out.push(c));
    let c = &out[0];
    assert_eq!(c.handshake.state(), HandshakeState::Complete);
    assert_eq!(c.handshake.syn_packets, 2);
    assert_eq!(c.handshake.syn_ack_packets, 1);
    assert_eq!(c.handshake.syn, Some(Timestamp(1)));
    assert_eq!(c.first_ts, Timestamp(1));
    assert_eq!(c.stats(Direction::ClientToServer).packets, 3);
    assert_eq!(c.app.bytes[0], 3);
    assert_eq!(t.stats.half_open_ended, 0, "it got past the handshake");
}

#[test]
fn half_open_with_a_new_isn_is_port_reuse_and_both_are_reported() {
    let mut t: FlowTable<Count> = FlowTable::new(TableConfig::default());
    let mut out = Vec::new();
    t.process(
        Timestamp(1),
        &seg(1000, true, 100, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    t.process(
        Timestamp(2),
        &seg(1000, true, 5000, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_cause, EndCause::PortReused);
    assert_eq!(out[0].handshake.client_isn, Some(SeqNumber::new(100)));
    t.finish(Timestamp(3), &mut |c| out.push(c));
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].handshake.client_isn, Some(SeqNumber::new(5000)));
    assert_eq!(t.stats.half_open_ended, 2);
    assert_eq!(t.stats.port_reuses, 1);
}

#[test]
fn half_open_goes_after_the_idle_timeout_like_any_connection() {
    let mut t: FlowTable<Count> = FlowTable::new(TableConfig {
        idle_timeout: crate::time::Duration::from_secs(10),
        ..Default::default()
    });
    let mut out = Vec::new();
    t.process(
        Timestamp(0),
        &seg(1000, true, 100, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    t.process(
        Timestamp::from_nanos(11_000_000_000),
        &seg(1001, true, 100, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].end_cause, EndCause::IdleTimeout);
    assert_eq!(t.stats.idle_evictions, 1);
}

#[test]
fn half_open_cap_evicts_the_oldest_first() {
    let cfg = TableConfig {
        max_half_open: 100,
        ..Default::default()
    };
    let mut t: FlowTable<Count> = FlowTable::new(cfg);
    let mut out = Vec::new();
    for i in 0..1000u16 {
        t.process(
            Timestamp(i as i64),
            &seg(2000 + i, true, 7, 0, F::SYN, b""),
            &mut |c| out.push(c),
        );
        assert!(t.open_connections() <= 100);
    }
    assert!(out.iter().all(|c| c.end_cause == EndCause::Evicted));
    let ids: Vec<u64> = out.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        (0..out.len() as u64).collect::<Vec<_>>(),
        "oldest first"
    );
    assert_eq!(t.stats.half_open_evicted, out.len() as u64);
}

#[test]
fn many_one_byte_segments_cannot_cost_more_than_the_cap() {
    let mut cfg = TableConfig::default();
    cfg.limits.max_ooo_per_stream = 64 << 10;
    let mut t: FlowTable<Count> = FlowTable::new(cfg);
    let mut out = Vec::new();
    t.process(
        Timestamp(0),
        &seg(1000, true, 0, 0, F::SYN, b""),
        &mut |c| out.push(c),
    );
    const N: u32 = 300_000;
    for j in 0..N {
        // A hole before every byte.
        t.process(
            Timestamp(1 + j as i64),
            &seg(1000, true, 2 + 2 * j, 0, F::ACK, b"x"),
            &mut |c| out.push(c),
        );
    }
    assert!(
        t.stats.peak_ooo_bytes as usize <= (64 << 10) + seg_cost(1),
        "{}",
        t.stats.peak_ooo_bytes
    );
    t.finish(Timestamp(2 + N as i64), &mut |c| out.push(c));
    let c = &out[0];
    assert_eq!(c.app.bytes[0], N as u64);
    assert_eq!(c.app.gaps[0], N as u64);
    let s = c.stats(Direction::ClientToServer);
    assert_eq!(
        s.ooo_limit_hits as usize,
        N as usize - (64 << 10) / seg_cost(1)
    );
}

/// Random conversations between two endpoints (SYN, SYN-ACK, ACK, data,
/// FIN, RST, retransmissions, a few ISNs, time going back now and then):
/// the records are the same whether half-open connections are kept compact
/// or as full connections from their first packet.
#[test]
fn compact_half_open_gives_the_same_records_as_full_connections() {
    use crate::analysis::record;
    use crate::inspect::AppInspector;
    // SplitMix64.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    };
    let payloads: [&[u8]; 4] = [
        b"",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"x",
    ];
    let flag_sets = [
        F::SYN,
        F::SYN | F::ACK,
        F::ACK,
        F::ACK | F::PSH,
        F::ACK | F::FIN,
        F::RST,
        F::SYN | F::FIN,
        F::SYN | F::RST,
    ];
    for round in 0..3000 {
        let mut segs = Vec::new();
        let mut ts = 0i64;
        for _ in 0..(1 + next(12)) {
            let from_client = next(2) == 0;
            // Few values, so retransmissions and port reuse both happen.
            let isn_base = [100u32, 5000][next(2) as usize];
            let seq = isn_base.wrapping_add(next(2) as u32);
            let ack = [0u32, 101, 901, 5001][next(4) as usize];
            let flags = flag_sets[next(flag_sets.len() as u64) as usize];
            let payload = payloads[next(4) as usize];
            ts += next(3) as i64 * 1_000_000_000 - 500_000_000;
            let port = 1000 + next(2) as u16;
            segs.push((Timestamp(ts), port, from_client, seq, ack, flags, payload));
        }
        let run = |compact: bool| -> Vec<String> {
            let cfg = TableConfig {
                compact_half_open: compact,
                idle_timeout: crate::time::Duration::from_secs(3),
                ..Default::default()
            };
            let mut t: FlowTable<AppInspector> = FlowTable::new(cfg);
            let mut out = Vec::new();
            let mut done = |c: Connection<AppInspector>| {
                out.push(serde_json::to_string(&record(&c, true)).unwrap())
            };
            for (ts, port, fc, seq, ack, flags, p) in &segs {
                t.process(*ts, &seg(*port, *fc, *seq, *ack, *flags, p), &mut done);
            }
            t.finish(Timestamp(ts + 1), &mut done);
            out
        };
        assert_eq!(run(true), run(false), "round {round}: {segs:?}");
    }
}
