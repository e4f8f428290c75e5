//! Heap allocations per packet, stage by stage, counted by a global allocator
//! that wraps the system one. Checks the "no allocation per packet in steady
//! state" target. Run:
//!
//!     KEEPWATCH_BENCH_FILE=target/bench/capture-1x.pcap cargo bench --bench allocs
//!
//! Stages as in `benches/pipeline.rs` (each includes the ones before):
//! `read`, `decode`, `tcp` (flow table + reassembly into a byte counter), `full`
//! (everything `keepwatch report` does except writing output) and
//! `full-slim` (the same with `slim_records`, as `--format jsonl` runs it).
//! Without a file it runs over the bundled samples.

use keepwatch::capture::CaptureFile;
use keepwatch::decode::decode;
use keepwatch::engine::{Analyzer, Options};
use keepwatch::tcp::{Direction, FlowTable, StreamHandler, TableConfig};
use keepwatch::time::Timestamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);

fn grow(n: u64) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size() as u64, Relaxed);
        grow(l.size() as u64);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(l.size() as u64, Relaxed);
        grow(l.size() as u64);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as u64, Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new as u64, Relaxed);
        if new >= l.size() {
            grow((new - l.size()) as u64);
        } else {
            LIVE.fetch_sub((l.size() - new) as u64, Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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

struct Facts {
    packets: u64,
    connections: u64,
    requests: u64,
}

fn stage(name: &str, cap: &CaptureFile, facts: &Facts) {
    let (a0, b0) = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    let live0 = LIVE.load(Relaxed);
    PEAK.store(live0, Relaxed);
    // Allocations made while handling the last 90% of the packets: the steady
    // state, after the tables and buffers have grown.
    let skip = facts.packets / 10;
    let mut seen = 0u64;
    let mut steady0 = 0u64;
    let mut tick = |seen: &mut u64| {
        *seen += 1;
        if *seen == skip {
            steady0 = ALLOCS.load(Relaxed);
        }
    };
    match name {
        "read" => {
            let mut n = 0u64;
            cap.for_each(|p| {
                tick(&mut seen);
                n += p.data.len() as u64
            })
            .unwrap();
            std::hint::black_box(n);
        }
        "decode" => {
            let mut n = 0u64;
            cap.for_each(|p| {
                tick(&mut seen);
                if let Ok(s) = decode(&p) {
                    n += s.payload.len() as u64;
                }
            })
            .unwrap();
            std::hint::black_box(n);
        }
        "tcp" => {
            let mut t: FlowTable<Count> = FlowTable::new(TableConfig::default());
            let mut n = 0u64;
            let mut last = Timestamp::default();
            cap.for_each(|p| {
                tick(&mut seen);
                last = p.ts;
                if let Ok(s) = decode(&p) {
                    t.process(p.ts, &s, &mut |c| n += c.app.0);
                }
            })
            .unwrap();
            t.finish(last, &mut |c| n += c.app.0);
            std::hint::black_box(n);
        }
        _ => {
            let opts = Options {
                slim_records: name == "full-slim",
                ..Options::default()
            };
            let mut an = Analyzer::new(opts).unwrap();
            let s = cap
                .for_each(|p| {
                    tick(&mut seen);
                    an.packet(&p, &mut |_| {})
                })
                .unwrap();
            an.add_file(s);
            std::hint::black_box(an.finish(&mut |_| {}));
        }
    }
    let allocs = ALLOCS.load(Relaxed) - a0;
    let bytes = BYTES.load(Relaxed) - b0;
    let steady = ALLOCS.load(Relaxed) - steady0;
    let per = |n: u64, d: u64| n as f64 / d.max(1) as f64;
    println!(
        "{name:<10} {allocs:>10} {:>9.3} {:>10.3} {:>9.2} {:>10.3} {:>12.1}",
        per(allocs, facts.packets),
        per(allocs, facts.connections),
        per(allocs, facts.requests),
        per(steady, facts.packets - skip),
        (PEAK.load(Relaxed).saturating_sub(live0)) as f64 / 1048576.0,
    );
    let _ = bytes;
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files: Vec<PathBuf> = match std::env::var_os("KEEPWATCH_BENCH_FILE") {
        Some(f) => vec![PathBuf::from(f)],
        None => std::fs::read_dir(root.join("samples/captures"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
            .collect(),
    };
    println!(
        "sizes: Exchange {} B, ConnectionRecord {} B, Connection<AppInspector> {} B (boxed, per open connection)",
        std::mem::size_of::<keepwatch::inspect::http::inspector::Exchange>(),
        std::mem::size_of::<keepwatch::analysis::ConnectionRecord>(),
        std::mem::size_of::<keepwatch::tcp::Connection<keepwatch::inspect::AppInspector>>(),
    );
    for f in files {
        let cap = CaptureFile::open(&f).unwrap();
        let mut an = Analyzer::new(Options::default()).unwrap();
        let s = cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
        an.add_file(s);
        let rep = an.finish(&mut |_| {});
        let facts = Facts {
            packets: rep.summary.packets,
            connections: rep.connections.len() as u64,
            requests: rep.summary.requests,
        };
        drop(rep);
        println!(
            "\n{}: {} packets, {} connections, {} requests",
            f.display(),
            facts.packets,
            facts.connections,
            facts.requests
        );
        println!(
            "{:<10} {:>10} {:>9} {:>10} {:>9} {:>10} {:>12}",
            "stage", "allocs", "/packet", "/conn", "/request", "/pkt(90%)", "peak heap MB"
        );
        for name in ["read", "decode", "tcp", "full", "full-slim"] {
            stage(name, &cap, &facts);
        }
    }
}
