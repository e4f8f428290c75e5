//! How far two threads can go on one capture, whatever the design (issue 14,
//! docs/performance.md, "Session 8"). Not keepwatch's pipeline: the same
//! decode and flow table as `report --format text`, each connection's record
//! built, driven four ways:
//!
//! - `one`: one thread reads (keepwatch's reader), decodes and tables every
//!   frame;
//! - `each-reads`: two threads each read the whole file themselves, decode
//!   every frame and table the connections whose [`shard_hash`] is theirs
//!   (no hand-over at all: what the reading thread costs is paid twice);
//! - `each-reads-peek`: the same, a frame of the other thread's skipped after
//!   a look at its Ethernet/IPv4/TCP header, before any decode;
//! - `shared-blocks`: the two threads read alternate 1 MiB blocks of the file
//!   into a ring both walk (the copy from the kernel split between them), and
//!   table their own connections, peeking at the others;
//! - `one-map`: one thread walks a read-only mapping of the file (no copy
//!   from the kernel; `MAP_POPULATE`), decodes and tables every frame;
//! - `shared-map-peek`: two threads walk one such mapping, each tabling its
//!   own connections and peeking at the others' headers (nothing is copied
//!   and no frame crosses to the other thread).
//!
//! Classic little-endian pcap of Ethernet frames only (the bench captures).
//! Run: `KEEPWATCH_BENCH_FILE=target/bench/dense.pcap cargo bench --bench split`
//! (without it, nothing is run). Prints the median and minimum wall time of
//! each over interleaved rounds (`KEEPWATCH_BENCH_RUNS`, default 10).

use keepwatch::analysis::record;
use keepwatch::capture::CaptureFile;
use keepwatch::decode::{decode, RawPacket};
use keepwatch::engine::parallel::shard_hash;
use keepwatch::inspect::AppInspector;
use keepwatch::tcp::{Connection, FlowTable, TableConfig};
use keepwatch::Timestamp;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

fn table() -> FlowTable<AppInspector> {
    FlowTable::with_factory(
        TableConfig::default(),
        Arc::new(|| AppInspector::default().with_details(false)),
    )
}

/// The thread (of two) that owns a connection of hash `h`, as
/// `engine::parallel::shard` reduces it.
fn owner(h: u64) -> u64 {
    ((u128::from(h) * 2) >> 64) as u64
}

/// The shard hash of an Ethernet/IPv4/TCP frame from its headers alone;
/// None for any other shape (then the frame is decoded to know).
fn peek(d: &[u8]) -> Option<u64> {
    if d.len() < 54 || d[12] != 8 || d[13] != 0 || d[14] >> 4 != 4 || d[23] != 6 {
        return None;
    }
    let t = 14 + usize::from(d[14] & 15) * 4;
    let p = d.get(t..t + 4)?;
    let a = IpAddr::V4(Ipv4Addr::new(d[26], d[27], d[28], d[29]));
    let b = IpAddr::V4(Ipv4Addr::new(d[30], d[31], d[32], d[33]));
    Some(shard_hash(
        a,
        u16::from_be_bytes([p[0], p[1]]),
        b,
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// One thread's table: frames of thread `me` of `n` (n = 1: all).
struct Shard {
    table: FlowTable<AppInspector>,
    me: u64,
    n: u64,
    peek: bool,
    records: u64,
}

impl Shard {
    fn new(me: u64, n: u64, peek: bool) -> Shard {
        Shard {
            table: table(),
            me,
            n,
            peek,
            records: 0,
        }
    }

    fn frame(&mut self, p: &RawPacket<'_>) {
        if self.n > 1 && self.peek && peek(p.data).is_some_and(|h| owner(h) != self.me) {
            return;
        }
        let Ok(s) = decode(p) else { return };
        if self.n > 1 && owner(shard_hash(s.src, s.sport, s.dst, s.dport)) != self.me {
            return;
        }
        let records = &mut self.records;
        self.table
            .process(p.ts, &s, &mut |c: Connection<AppInspector>| {
                *records += u64::from(record(&c, false).requests > 0)
            });
    }

    fn finish(mut self) -> u64 {
        let records = &mut self.records;
        self.table
            .finish(Timestamp::default(), &mut |c: Connection<AppInspector>| {
                *records += u64::from(record(&c, false).requests > 0)
            });
        self.records
    }
}

fn read_all(path: &Path, mut s: Shard) -> u64 {
    CaptureFile::open(path)
        .unwrap()
        .for_each(|p| s.frame(&p))
        .unwrap();
    s.finish()
}

const BLOCK: usize = 1 << 20;
/// Read past each block's end, so a record starting in it is whole in it.
const OVER: usize = 1 << 16;
const RING: usize = 8;

/// Blocks of the file read by alternate threads into a ring both walk.
struct Ring {
    file: std::fs::File,
    len: u64,
    slots: Vec<RwLock<Vec<u8>>>,
    /// Block index + 1 last read into each slot.
    ready: Vec<AtomicU64>,
    /// Per slot and thread: block index + 1 last walked.
    done: Vec<[AtomicU64; 2]>,
}

impl Ring {
    fn new(path: &Path) -> Ring {
        let file = std::fs::File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        Ring {
            file,
            len,
            slots: (0..RING)
                .map(|_| RwLock::new(vec![0u8; BLOCK + OVER]))
                .collect(),
            ready: (0..RING).map(|_| AtomicU64::new(0)).collect(),
            done: (0..RING)
                .map(|_| [AtomicU64::new(0), AtomicU64::new(0)])
                .collect(),
        }
    }

    fn span(&self, k: u64) -> usize {
        usize::try_from(self.len - k * BLOCK as u64)
            .unwrap_or(usize::MAX)
            .min(BLOCK + OVER)
    }

    /// Thread `me` walks every block, reading those of its parity.
    fn walk(&self, mut s: Shard) -> u64 {
        let blocks = self.len.div_ceil(BLOCK as u64);
        let mut at: u64 = 24;
        for k in 0..blocks {
            let slot = k as usize % RING;
            if k % 2 == s.me {
                if k >= RING as u64 {
                    for d in &self.done[slot] {
                        while d.load(Ordering::Acquire) < k + 1 - RING as u64 {
                            std::hint::spin_loop();
                        }
                    }
                }
                let mut buf = self.slots[slot].write().unwrap();
                let want = self.span(k);
                let mut got = 0;
                while got < want {
                    match self
                        .file
                        .read_at(&mut buf[got..want], k * BLOCK as u64 + got as u64)
                    {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                self.ready[slot].store(k + 1, Ordering::Release);
            } else {
                while self.ready[slot].load(Ordering::Acquire) != k + 1 {
                    std::hint::spin_loop();
                }
            }
            let buf = self.slots[slot].read().unwrap();
            let blk = &buf[..self.span(k)];
            let base = k * BLOCK as u64;
            while at + 16 <= self.len && at < base + BLOCK as u64 {
                let Some(n) = pcap_record(blk, (at - base) as usize, &mut s) else {
                    at = self.len;
                    break;
                };
                at += n as u64;
            }
            drop(buf);
            self.done[slot][s.me as usize].store(k + 1, Ordering::Release);
        }
        s.finish()
    }
}

/// The classic little-endian pcap record at `at` in `b`, handed to `s`;
/// its length, or None if it is not whole in `b`.
fn pcap_record(b: &[u8], at: usize, s: &mut Shard) -> Option<usize> {
    let h = b.get(at..at + 16)?;
    let f = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    let caplen = f(8) as usize;
    let data = b.get(at + 16..at + 16 + caplen)?;
    let ts = Timestamp::from_secs_frac(i64::from(f(0)), u64::from(f(4)), 1_000_000);
    s.frame(&RawPacket {
        ts,
        linktype: 1,
        data,
        orig_len: f(12),
    });
    Some(16 + caplen)
}

/// The records of a classic little-endian pcap in `m`, walked by `s`.
fn walk_map(m: &[u8], mut s: Shard) -> u64 {
    let mut at = 24;
    while let Some(n) = pcap_record(m, at, &mut s) {
        at += n;
    }
    s.finish()
}

fn map(path: &Path) -> memmap2::Mmap {
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: a bench file nobody writes while it runs.
    unsafe { memmap2::MmapOptions::new().populate().map(&f).unwrap() }
}

fn two<F: Fn(u64) -> u64 + Sync>(f: F) -> u64 {
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|me| {
                sc.spawn({
                    let f = &f;
                    move || f(me)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

fn input() -> Option<PathBuf> {
    std::env::var_os("KEEPWATCH_BENCH_FILE").map(PathBuf::from)
}

fn main() {
    let Some(path) = input() else {
        println!("split: set KEEPWATCH_BENCH_FILE to a classic pcap (Ethernet) to run it");
        return;
    };
    let runs: usize = std::env::var("KEEPWATCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let p = path.as_path();
    type Mode<'a> = (&'a str, Box<dyn Fn() -> u64 + 'a>);
    let modes: Vec<Mode> = vec![
        ("one", Box::new(|| read_all(p, Shard::new(0, 1, false)))),
        (
            "each-reads",
            Box::new(|| two(|me| read_all(p, Shard::new(me, 2, false)))),
        ),
        (
            "each-reads-peek",
            Box::new(|| two(|me| read_all(p, Shard::new(me, 2, true)))),
        ),
        (
            "shared-blocks",
            Box::new(|| {
                let ring = Ring::new(p);
                two(|me| ring.walk(Shard::new(me, 2, true)))
            }),
        ),
        (
            "one-map",
            Box::new(|| walk_map(&map(p), Shard::new(0, 1, false))),
        ),
        (
            "shared-map-peek",
            Box::new(|| {
                let m = map(p);
                two(|me| walk_map(&m, Shard::new(me, 2, true)))
            }),
        ),
    ];
    // The same records whichever way (a check that each mode did the work).
    let want = modes[0].1();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    for _ in 0..runs {
        for (i, (name, f)) in modes.iter().enumerate() {
            let t = Instant::now();
            let got = f();
            times[i].push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(got, want, "{name}: connections with requests");
        }
    }
    println!(
        "{} ({runs} interleaved rounds; {want} connections with requests)",
        p.display()
    );
    for ((name, _), t) in modes.iter().zip(&mut times) {
        t.sort_by(f64::total_cmp);
        println!(
            "{name:>16}  median {:7.1} ms  min {:7.1} ms",
            t[t.len() / 2],
            t[0]
        );
    }
}
