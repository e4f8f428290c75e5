//! Flow table and reassembly edge cases, built segment by segment.

use super::*;
use crate::decode::{flags as F, TcpSegment};
use crate::time::Timestamp;

#[derive(Default, Debug)]
struct Rec {
    data: [Vec<u8>; 2],
    gaps: [u64; 2],
    fins: [u32; 2],
    finished: u32,
    events: Vec<String>,
}

impl StreamHandler for Rec {
    fn on_data(&mut self, d: Direction, _: Timestamp, b: &[u8]) {
        self.data[d.index()].extend_from_slice(b);
        self.events
            .push(format!("{}:{}", d.index(), String::from_utf8_lossy(b)));
    }
    fn on_gap(&mut self, d: Direction, _: Timestamp, n: u64) {
        self.gaps[d.index()] += n;
        self.events.push(format!("{}:gap{}", d.index(), n));
    }
    fn on_fin(&mut self, d: Direction, _: Timestamp) {
        self.fins[d.index()] += 1;
        self.events.push(format!("{}:fin", d.index()));
    }
    fn on_finish(&mut self, _: Timestamp) {
        self.finished += 1;
    }
}

const C: &str = "10.0.0.1";
const S: &str = "10.0.0.2";

struct Seg {
    from_client: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &'static [u8],
}

const CISN: u32 = 1000;
const SISN: u32 = 5000;

fn seg(from_client: bool, seq: u32, ack: u32, flags: u8, data: &'static [u8]) -> Seg {
    Seg {
        from_client,
        seq,
        ack,
        flags,
        data,
    }
}

fn run(segs: &[Seg]) -> Vec<Connection<Rec>> {
    run_ports(segs, 40000)
}

fn run_ports(segs: &[Seg], cport: u16) -> Vec<Connection<Rec>> {
    let mut t: FlowTable<Rec> = FlowTable::new(TableConfig::default());
    let mut out = Vec::new();
    let (c, s) = (C.parse().unwrap(), S.parse().unwrap());
    for (n, g) in segs.iter().enumerate() {
        let (src, dst, sp, dp) = if g.from_client {
            (c, s, cport, 80)
        } else {
            (s, c, 80, cport)
        };
        let ts = TcpSegment {
            src,
            dst,
            sport: sp,
            dport: dp,
            seq: g.seq,
            ack: g.ack,
            flags: g.flags,
            window: 1000,
            payload: g.data,
            payload_len: g.data.len() as u32,
        };
        t.process(Timestamp(n as i64 * 1000), &ts, &mut |c| out.push(c));
    }
    t.finish(Timestamp(1_000_000_000), &mut |c| out.push(c));
    out.sort_by_key(|c| c.id);
    out
}

fn handshake() -> Vec<Seg> {
    vec![
        seg(true, CISN, 0, F::SYN, b""),
        seg(false, SISN, CISN + 1, F::SYN | F::ACK, b""),
        seg(true, CISN + 1, SISN + 1, F::ACK, b""),
    ]
}

#[test]
fn in_order_with_handshake_and_fin_close() {
    let mut s = handshake();
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK | F::PSH, b"hello"));
    s.push(seg(false, SISN + 1, CISN + 6, F::ACK | F::PSH, b"world"));
    s.push(seg(false, SISN + 6, CISN + 6, F::ACK | F::FIN, b""));
    s.push(seg(true, CISN + 6, SISN + 7, F::ACK | F::FIN, b""));
    let c = &run(&s)[0];
    assert_eq!(c.handshake.state(), HandshakeState::Complete);
    assert_eq!(c.close.closed_by(), ClosedBy::Server);
    assert_eq!(c.app.data[0], b"hello");
    assert_eq!(c.app.data[1], b"world");
    assert_eq!(c.app.fins, [1, 1]);
    assert_eq!(c.app.finished, 1);
    assert_eq!(c.end_cause, EndCause::Closed);
}

#[test]
fn out_of_order_is_reordered() {
    let mut s = handshake();
    s.push(seg(true, CISN + 6, SISN + 1, F::ACK, b"world"));
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"hello"));
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"helloworld");
    assert_eq!(c.stats(Direction::ClientToServer).out_of_order, 1);
    assert_eq!(c.app.gaps, [0, 0]);
}

#[test]
fn retransmissions_full_and_partial_overlap_and_duplicates() {
    let mut s = handshake();
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"abcd"));
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"abcd")); // duplicate
    s.push(seg(true, CISN + 3, SISN + 1, F::ACK, b"cdef")); // partial overlap
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"abcdefgh")); // overlap, extends
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"abcdefgh");
    assert_eq!(c.stats(Direction::ClientToServer).retransmissions, 3);
}

#[test]
fn overlapping_out_of_order_segments() {
    let mut s = handshake();
    s.push(seg(true, CISN + 5, SISN + 1, F::ACK, b"efgh"));
    s.push(seg(true, CISN + 3, SISN + 1, F::ACK, b"cdefg"));
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"ab"));
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"abcdefgh");
}

#[test]
fn sequence_wrap_around() {
    let isn = u32::MAX - 3;
    let s = vec![
        seg(true, isn, 0, F::SYN, b""),
        seg(false, SISN, isn.wrapping_add(1), F::SYN | F::ACK, b""),
        seg(true, isn.wrapping_add(1), SISN + 1, F::ACK, b""),
        // "abcdef" straddles 2^32; send the second half first.
        seg(true, isn.wrapping_add(4), SISN + 1, F::ACK, b"def"),
        seg(true, isn.wrapping_add(1), SISN + 1, F::ACK, b"abc"),
        seg(true, isn.wrapping_add(7), SISN + 1, F::ACK | F::FIN, b"g"),
    ];
    let c = &run(&s)[0];
    assert_eq!(c.handshake.state(), HandshakeState::Complete);
    assert_eq!(c.app.data[0], b"abcdefg");
    assert_eq!(c.app.fins[0], 1);
}

#[test]
fn gap_acknowledged_by_peer_is_reported_and_stream_goes_on() {
    let mut s = handshake();
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"aaaa"));
    // CISN+5..+9 never captured.
    s.push(seg(true, CISN + 9, SISN + 1, F::ACK, b"cccc"));
    s.push(seg(false, SISN + 1, CISN + 13, F::ACK, b"")); // server ACKs everything
    s.push(seg(true, CISN + 13, SISN + 1, F::ACK, b"dd"));
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"aaaaccccdd");
    assert_eq!(c.app.gaps[0], 4);
    assert_eq!(c.app.events, vec!["0:aaaa", "0:gap4", "0:cccc", "0:dd"]);
    assert_eq!(c.stats(Direction::ClientToServer).missing_bytes, 4);
}

#[test]
fn hole_never_filled_is_a_gap_at_the_end() {
    let mut s = handshake();
    s.push(seg(true, CISN + 3, SISN + 1, F::ACK, b"cd"));
    let c = &run(&s)[0];
    assert_eq!(c.app.gaps[0], 2);
    assert_eq!(c.app.data[0], b"cd");
    assert_eq!(c.close.closed_by(), ClosedBy::Open);
    assert_eq!(c.end_cause, EndCause::CaptureEnded);
}

#[test]
fn keepalive_probe_is_not_data() {
    let mut s = handshake();
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK, b"ab"));
    s.push(seg(true, CISN + 2, SISN + 1, F::ACK, b"b")); // probe: last byte again
    s.push(seg(true, CISN + 2, SISN + 1, F::ACK, b"")); // zero-length probe
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"ab");
    assert_eq!(c.stats(Direction::ClientToServer).keepalive_probes, 1);
    assert_eq!(c.stats(Direction::ClientToServer).retransmissions, 0);
}

#[test]
fn syn_and_fin_carrying_data() {
    let s = vec![
        seg(true, CISN, 0, F::SYN, b"GET"), // TCP Fast Open
        seg(false, SISN, CISN + 4, F::SYN | F::ACK, b""),
        seg(true, CISN + 4, SISN + 1, F::ACK | F::FIN, b"!"),
    ];
    let c = &run(&s)[0];
    assert_eq!(c.app.data[0], b"GET!");
    assert_eq!(c.app.fins[0], 1);
    assert_eq!(c.close.closed_by(), ClosedBy::Client);
}

#[test]
fn syn_then_rst_is_partial_and_reset() {
    let s = vec![
        seg(true, CISN, 0, F::SYN, b""),
        seg(true, CISN + 1, 0, F::RST, b""),
    ];
    let c = &run(&s)[0];
    assert_eq!(c.handshake.state(), HandshakeState::Partial);
    assert_eq!(c.close.closed_by(), ClosedBy::ClientReset);
    assert_eq!(
        c.handshake.detail(&c.close).unwrap(),
        "SYN then RST from client"
    );
}

#[test]
fn refused_connection_server_reset() {
    let s = vec![
        seg(true, CISN, 0, F::SYN, b""),
        seg(false, 0, CISN + 1, F::RST | F::ACK, b""),
    ];
    let c = &run(&s)[0];
    assert_eq!(c.handshake.state(), HandshakeState::Partial);
    assert_eq!(c.close.closed_by(), ClosedBy::ServerReset);
}

#[test]
fn reset_after_fin_and_half_close() {
    let mut s = handshake();
    s.push(seg(false, SISN + 1, CISN + 1, F::ACK | F::FIN, b""));
    s.push(seg(true, CISN + 1, SISN + 2, F::ACK, b"late")); // client writes after server FIN
    s.push(seg(false, SISN + 2, 0, F::RST, b""));
    let c = &run(&s)[0];
    assert_eq!(c.close.closed_by(), ClosedBy::Server);
    assert!(c.close.reset_after_fin());
    assert_eq!(c.data_after_close, [0, 0]);
    assert_eq!(c.app.data[0], b"late");
}

#[test]
fn handshake_reordered_synack_first() {
    let s = vec![
        seg(false, SISN, CISN + 1, F::SYN | F::ACK, b""),
        seg(true, CISN, 0, F::SYN, b""),
        seg(true, CISN + 1, SISN + 1, F::ACK, b"x"),
    ];
    let out = run(&s);
    assert_eq!(out.len(), 1);
    let c = &out[0];
    assert_eq!(c.client.to_string(), "10.0.0.1:40000");
    assert_eq!(c.handshake.state(), HandshakeState::Complete);
    assert_eq!(c.app.data[0], b"x");
}

#[test]
fn port_reuse_makes_two_connections_but_syn_retransmission_does_not() {
    let mut s = vec![seg(true, CISN, 0, F::SYN, b"")];
    s.push(seg(true, CISN, 0, F::SYN, b"")); // retransmitted SYN
    s.extend(handshake().into_iter().skip(1));
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK | F::FIN, b""));
    s.push(seg(false, SISN + 1, CISN + 2, F::ACK | F::FIN, b""));
    // Same 4-tuple, new ISN.
    s.push(seg(true, 90000, 0, F::SYN, b""));
    s.push(seg(false, 70000, 90001, F::SYN | F::ACK, b""));
    s.push(seg(true, 90001, 70001, F::ACK, b""));
    let out = run(&s);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].handshake.syn_packets, 2);
    assert_eq!(out[0].end_cause, EndCause::PortReused);
    assert_eq!(out[1].handshake.state(), HandshakeState::Complete);
    assert_eq!(out[1].close.closed_by(), ClosedBy::Open);
}

#[test]
fn mid_stream_pickup_guesses_server_by_low_port() {
    let s = vec![seg(false, SISN + 1, CISN + 1, F::ACK, b"data")];
    let c = &run(&s)[0];
    assert_eq!(c.handshake.state(), HandshakeState::Missing);
    assert!(c.roles_guessed);
    assert_eq!(c.server.port(), 80);
    assert_eq!(c.app.data[1], b"data");
}

#[test]
fn snaplen_cut_payload_becomes_gap() {
    let mut t: FlowTable<Rec> = FlowTable::new(TableConfig::default());
    let mut out = Vec::new();
    let (c, s) = (C.parse().unwrap(), S.parse().unwrap());
    let mk = |seq, payload: &'static [u8], len| TcpSegment {
        src: c,
        dst: s,
        sport: 40000,
        dport: 80,
        seq,
        ack: 0,
        flags: F::ACK,
        window: 0,
        payload,
        payload_len: len,
    };
    t.process(Timestamp(0), &mk(1, b"abc", 10), &mut |c| out.push(c));
    t.process(Timestamp(1), &mk(11, b"z", 1), &mut |c| out.push(c));
    t.finish(Timestamp(2), &mut |c| out.push(c));
    assert_eq!(out[0].app.events, vec!["0:abc", "0:gap7", "0:z"]);
}

#[test]
fn closed_connection_is_handed_out_after_linger_and_idle_ones_after_timeout() {
    let mut t: FlowTable<Rec> = FlowTable::new(TableConfig {
        idle_timeout: crate::time::Duration::from_secs(10),
        ..Default::default()
    });
    let mut out = Vec::new();
    let a = "10.0.0.1".parse().unwrap();
    let b = "10.0.0.2".parse().unwrap();
    let mk = |sport, flags| TcpSegment {
        src: a,
        dst: b,
        sport,
        dport: 80,
        seq: 1,
        ack: 1,
        flags,
        window: 0,
        payload: b"",
        payload_len: 0,
    };
    t.process(Timestamp(0), &mk(1000, F::RST), &mut |c| out.push(c));
    t.process(Timestamp(0), &mk(1001, F::ACK), &mut |c| out.push(c));
    t.process(
        Timestamp::from_nanos(6_000_000_000),
        &mk(1002, F::ACK),
        &mut |c| out.push(c),
    );
    assert_eq!(out.len(), 1, "the reset connection goes after the linger");
    assert_eq!(out[0].end_cause, EndCause::Closed);
    t.process(
        Timestamp::from_nanos(12_000_000_000),
        &mk(1002, F::ACK),
        &mut |c| out.push(c),
    );
    assert_eq!(out.len(), 2, "the idle one goes after the idle timeout");
    assert_eq!(out[1].end_cause, EndCause::IdleTimeout);
    assert_eq!(t.open_connections(), 1);
}

#[test]
fn syn_after_its_data_in_a_reordered_capture_is_one_connection() {
    // The capture's order: the request, then the handshake, then the rest.
    let s = vec![
        seg(true, CISN + 1, SISN + 1, F::ACK | F::PSH, b"GET"),
        seg(true, CISN, 0, F::SYN, b""),
        seg(false, SISN, CISN + 1, F::SYN | F::ACK, b""),
        seg(true, CISN + 1, SISN + 1, F::ACK, b""),
        seg(false, SISN + 1, CISN + 4, F::ACK | F::PSH, b"200"),
        seg(true, CISN + 4, SISN + 4, F::ACK | F::FIN, b""),
    ];
    let out = run(&s);
    assert_eq!(out.len(), 1, "one connection, not two");
    let c = &out[0];
    assert_eq!(c.app.data[0], b"GET");
    assert_eq!(c.app.data[1], b"200");
    assert!(c.handshake.syn.is_some() && c.handshake.syn_ack.is_some());
    assert!(!c.roles_guessed);
    assert_eq!(c.close.closed_by(), ClosedBy::Client);
}

#[test]
fn syn_far_from_the_stream_start_is_still_a_new_connection() {
    let s = vec![
        seg(true, CISN + 1, SISN + 1, F::ACK | F::PSH, b"GET"),
        seg(true, CISN + 500_000, 0, F::SYN, b""),
    ];
    assert_eq!(run(&s).len(), 2);
}

/// A server RST crossing the client's ACK of the SYN-ACK: the handshake
/// still completes (the two state machines are independent), the connection
/// is reset by the server.
#[test]
fn rst_crossing_the_handshake_ack_still_completes_the_handshake() {
    let s = vec![
        seg(true, CISN, 0, F::SYN, b""),
        seg(false, SISN, CISN + 1, F::SYN | F::ACK, b""),
        seg(false, SISN + 1, CISN + 1, F::RST | F::ACK, b""),
        seg(true, CISN + 1, SISN + 1, F::ACK, b""),
    ];
    let out = run(&s);
    assert_eq!(out.len(), 1);
    let c = &out[0];
    assert_eq!(c.state.opening, Opening::Established { syn: true });
    assert_eq!(c.state.closing, Closing::Reset(Direction::ServerToClient));
    assert_eq!(c.handshake.state(), HandshakeState::Complete);
    assert_eq!(c.handshake.ack, Some(Timestamp(3000)));
    assert_eq!(c.close.closed_by(), ClosedBy::ServerReset);
    assert_eq!(c.end_cause, EndCause::Closed);
}

/// The client closes its half and goes on sending (data after close, its
/// side only); the server answers with FIN and RST in one segment: the FIN
/// counts first, the RST ends it.
#[test]
fn half_close_then_fin_and_rst_in_one_segment() {
    let mut s = handshake();
    s.push(seg(true, CISN + 1, SISN + 1, F::ACK | F::FIN, b""));
    s.push(seg(false, SISN + 1, CISN + 2, F::ACK | F::PSH, b"still"));
    s.push(seg(true, CISN + 2, SISN + 6, F::ACK | F::PSH, b"late"));
    s.push(seg(
        false,
        SISN + 6,
        CISN + 2,
        F::FIN | F::RST | F::ACK,
        b"",
    ));
    let c = &run(&s)[0];
    assert_eq!(c.data_after_close, [4, 0]);
    assert_eq!(c.state.closing, Closing::Reset(Direction::ServerToClient));
    assert_eq!(c.close.closed_by(), ClosedBy::Client);
    assert_eq!(c.close.fin, [Some(Timestamp(3000)), Some(Timestamp(6000))]);
    assert_eq!(c.close.rst, [None, Some(Timestamp(6000))]);
    assert!(c.close.reset_after_fin());
    assert_eq!(c.app.data[1], b"still");
}

/// Picked up mid-stream: no handshake, the state stays `Unseen` and the
/// close still works.
#[test]
fn mid_stream_connection_never_opens_but_closes() {
    let s = vec![
        seg(true, 77_000, 9_000, F::ACK | F::PSH, b"GET"),
        seg(false, 9_000, 77_003, F::ACK | F::FIN, b""),
        seg(true, 77_003, 9_001, F::ACK | F::FIN, b""),
    ];
    let c = &run(&s)[0];
    assert_eq!(c.state.opening, Opening::Unseen);
    assert_eq!(c.handshake.state(), HandshakeState::Missing);
    assert_eq!(c.state.closing, Closing::Closed);
    assert_eq!(c.close.closed_by(), ClosedBy::Server);
}
