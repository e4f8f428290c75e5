//! Pipeline throughput on real captures, stage by stage, reported in bytes/s
//! and packets (elements)/s. Run: `cargo bench --bench pipeline`.
//!
//! Every iteration opens the file afresh and reads it through the reader's
//! buffer, as `keepwatch report` does, so reading is part of every stage. Each
//! stage includes the ones before it, so the difference between two stages is
//! the cost of the later one:
//! * `read`   — read the file, record by record (capture/file.rs);
//! * `decode` — + link/IP/TCP decoding of every frame (decode.rs);
//! * `tcp`    — + flow table and reassembly, into a handler that only counts
//!   bytes (tcp/);
//! * `full`   — + HTTP/TLS/h2 inspectors, connection records and the summary
//!   (engine.rs: everything `keepwatch report` does except writing output).
//!
//! And one stage alone: `table` — the flow table and reassembly (into the byte
//! counter) over frames copied to memory beforehand and decoded in the loop,
//! minus nothing: compare it with `decode-mem` (the same frames, decoded only)
//! to get the cost of tcp/ without the noise of reading the file.
//!
//! Inputs: the bundled samples and, when present, the public corpus beside the
//! repository (`../shared/corpus/public`) and `$KEEPWATCH_BENCH_FILE` (a large
//! capture from `benches/make-capture.sh`; with it the samples are skipped
//! unless `KEEPWATCH_BENCH_SAMPLES=1`).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepwatch::capture::CaptureFile;
use keepwatch::decode::decode;
use keepwatch::engine::{Analyzer, Options};
use keepwatch::tcp::{Direction, FlowTable, StreamHandler, TableConfig};
use keepwatch::time::Timestamp;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let big = std::env::var_os("KEEPWATCH_BENCH_FILE").map(PathBuf::from);
    let mut v = Vec::new();
    if big.is_none() || std::env::var_os("KEEPWATCH_BENCH_SAMPLES").is_some() {
        v.extend([
            root.join("../shared/corpus/public/zeek-http-1000-requests-one-dropped-response.pcap"),
            root.join("../shared/corpus/public/ndpi-alexa-app.pcapng"),
            root.join("samples/captures/curl-http11-reuse.pcap"),
        ]);
    }
    v.extend(big);
    v.into_iter().filter(|p| p.is_file()).collect()
}

/// Counts delivered bytes; stands in for the application inspectors.
#[derive(Default)]
struct Count(u64);

impl StreamHandler for Count {
    fn on_data(&mut self, _: Direction, _: Timestamp, data: &[u8]) {
        self.0 += data.len() as u64;
    }
    fn on_gap(&mut self, _: Direction, _: Timestamp, _: u64) {}
    fn on_fin(&mut self, _: Direction, _: Timestamp) {}
    fn on_finish(&mut self, _: Timestamp) {}
}

fn read(cap: &CaptureFile) -> u64 {
    let mut n = 0u64;
    cap.for_each(|p| n += p.data.len() as u64).unwrap();
    n
}

fn decode_only(cap: &CaptureFile) -> u64 {
    let mut n = 0u64;
    cap.for_each(|p| {
        if let Ok(s) = decode(&p) {
            n += s.payload.len() as u64 + s.seq as u64;
        }
    })
    .unwrap();
    n
}

fn tcp_only(cap: &CaptureFile) -> u64 {
    let mut t: FlowTable<Count> = FlowTable::new(TableConfig::default());
    let mut n = 0u64;
    let mut last = Timestamp::default();
    cap.for_each(|p| {
        last = p.ts;
        if let Ok(s) = decode(&p) {
            t.process(p.ts, &s, &mut |c| n += c.app.0);
        }
    })
    .unwrap();
    t.finish(last, &mut |c| n += c.app.0);
    n
}

fn full(cap: &CaptureFile) -> u64 {
    let mut an = Analyzer::new(Options::default()).unwrap();
    let s = cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
    an.add_file(s);
    an.finish(&mut |_| {}).summary.requests
}

type Stage = fn(&CaptureFile) -> u64;

fn open_and(p: &Path, f: Stage) -> u64 {
    f(&CaptureFile::open(p).unwrap())
}
const STAGES: [(&str, Stage); 4] = [
    ("read", read),
    ("decode", decode_only),
    ("tcp", tcp_only),
    ("full", full),
];

/// Frames copied out of the file once: (timestamp, link type, bytes, wire length).
type Frames = Vec<(Timestamp, u32, Vec<u8>, u32)>;

fn load(cap: &CaptureFile) -> Frames {
    let mut v = Vec::new();
    cap.for_each(|p| v.push((p.ts, p.linktype, p.data.to_vec(), p.orig_len)))
        .unwrap();
    v
}

fn raw(f: &(Timestamp, u32, Vec<u8>, u32)) -> keepwatch::decode::RawPacket<'_> {
    keepwatch::decode::RawPacket {
        ts: f.0,
        linktype: f.1,
        data: &f.2,
        orig_len: f.3,
    }
}

fn decode_mem(frames: &Frames) -> u64 {
    let mut n = 0u64;
    for f in frames {
        if let Ok(s) = decode(&raw(f)) {
            n += s.payload.len() as u64 + s.seq as u64;
        }
    }
    n
}

fn table_mem(frames: &Frames) -> u64 {
    let mut t: FlowTable<Count> = FlowTable::new(TableConfig::default());
    let mut n = 0u64;
    let mut last = Timestamp::default();
    for f in frames {
        last = f.0;
        if let Ok(s) = decode(&raw(f)) {
            t.process(f.0, &s, &mut |c| n += c.app.0);
        }
    }
    t.finish(last, &mut |c| n += c.app.0);
    n
}

fn pipeline(c: &mut Criterion) {
    for p in inputs() {
        let cap = CaptureFile::open(&p).unwrap();
        let len = std::fs::metadata(&p).unwrap().len();
        let packets = cap.for_each(|_| {}).unwrap().packets;
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let mut g = c.benchmark_group(format!("pipeline/{name}"));
        if len > 50 << 20 {
            g.sample_size(10)
                .warm_up_time(Duration::from_secs(1))
                .measurement_time(Duration::from_secs(8));
        }
        g.throughput(Throughput::ElementsAndBytes {
            elements: packets,
            bytes: len,
        });
        for (stage, f) in STAGES {
            g.bench_function(stage, |b| b.iter(|| black_box(open_and(&p, f))));
        }
        let frames = load(&cap);
        g.bench_function("decode-mem", |b| b.iter(|| black_box(decode_mem(&frames))));
        g.bench_function("table", |b| b.iter(|| black_box(table_mem(&frames))));
        g.finish();
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
