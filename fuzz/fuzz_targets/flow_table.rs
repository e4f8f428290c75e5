//! TCP flow table + reassembly + application inspectors + analysis: arbitrary
//! segments between two fixed endpoints (arbitrary flags, seq, ack, payload,
//! snaplen cuts, time steps), then `finish`; every finished connection goes
//! through `analysis::record` (with and without exchanges) and is serialized.
#![no_main]

use keepwatch::analysis;
use keepwatch::decode::TcpSegment;
use keepwatch::inspect::AppInspector;
use keepwatch::tcp::{Connection, FlowTable, TableConfig};
use keepwatch::Timestamp;
use keepwatch_fuzz::segments;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const CPORT: u16 = 50000;
const SPORT: u16 = 80;
const CLIENT_ISN: u32 = 0xfffff000; // near the wrap, to exercise seq arithmetic
const SERVER_ISN: u32 = 1000;

fn record(c: &Connection<AppInspector>, records: &mut Vec<analysis::ConnectionRecord>) {
    let _ = c.app.warnings();
    let _ = analysis::record(c, false);
    let r = analysis::record(c, true);
    let _ = (r.handshakes_saved(), r.uses());
    let _ = serde_json::to_string(&r).expect("record serializes");
    records.push(r);
}

fuzz_target!(|data: &[u8]| {
    // Odd-length inputs run under a tiny memory limit, so the bounds fire:
    // 4 KiB out-of-order caps, 16 half-open entries, evictions.
    let cfg = if data.len() % 2 == 1 {
        TableConfig::default().with_memory_limit(16 << 10)
    } else {
        TableConfig::default()
    };
    let mut table: FlowTable<AppInspector> = FlowTable::new(cfg);
    let mut records = Vec::new();
    let mut done = |c: Connection<AppInspector>| record(&c, &mut records);
    let mut last = Timestamp(0);
    for s in segments(data) {
        let (src, sport, dst, dport, base, peer) = if s.from_client {
            (CLIENT, CPORT, SERVER, SPORT, CLIENT_ISN, SERVER_ISN)
        } else {
            (SERVER, SPORT, CLIENT, CPORT, SERVER_ISN, CLIENT_ISN)
        };
        let seg = TcpSegment {
            src,
            dst,
            sport,
            dport,
            seq: base.wrapping_add(s.seq_off),
            ack: peer.wrapping_add(s.ack_off),
            flags: s.flags,
            window: 65535,
            payload: s.payload,
            payload_len: s.payload_len,
        };
        last = s.ts;
        table.process(s.ts, &seg, &mut done);
    }
    let _ = table.open_connections();
    let _ = serde_json::to_string(&table.stats).expect("stats serialize");
    table.finish(Timestamp(last.0 + 1_000_000), &mut done);
    let summary = analysis::summarize(&records);
    let _ = serde_json::to_string(&summary).expect("summary serializes");
});
