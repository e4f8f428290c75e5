//! Issue 14 with worker threads: the live heap of a streaming report (JSONL)
//! stays flat in capture length, and a burst of finished connections is
//! held about as long and as often as on one thread. Measured with a
//! counting allocator (live heap bytes, not RSS: nothing here depends on
//! the machine or on timing beyond how batches interleave), in one test so
//! no other test allocates meanwhile.
mod common;
mod hostile_gen;

use common::build::{ethernet, http_conversation, pcap};
use keepwatch::analysis::ConnectionRecord;
use keepwatch::engine::{Analyzer, Options};
use keepwatch::time::Duration;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                grew(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

fn jsonl(r: &ConnectionRecord, b: &mut Vec<u8>) {
    keepwatch::report::jsonl_line(b, r);
}

/// Bytes written, nothing kept.
struct Count(u64);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `report --format jsonl --threads N` on `path`, as the CLI streams it:
/// the peak live heap above what was live before, and the bytes written.
fn peak_of_jsonl(path: &std::path::Path, threads: usize) -> (usize, u64) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let mut opts = Options {
        threads,
        slim_records: true,
        render: Some(jsonl),
        exchanges_only_rendered: true,
        ..Options::default()
    };
    opts.table.idle_timeout = Duration::from_secs(30);
    let mut an = Analyzer::new(opts).unwrap();
    let mut out = Count(0);
    let cap = keepwatch::capture::CaptureFile::open(path).unwrap();
    let s = cap
        .for_each(|p| {
            an.packet(&p, &mut |_| {});
            an.write_rendered(&mut out).unwrap();
        })
        .unwrap();
    an.add_file(s);
    an.end_input(&mut |_| {});
    an.write_rendered(&mut out).unwrap();
    drop(an.finish(&mut |_| {}));
    (PEAK.load(Relaxed) - base, out.0)
}

/// `copies` waves of 24 keep-alive connections with 400 exchanges each
/// (~180 KB JSONL lines), 100 s apart: every wave closes at once and is
/// finished by one sweep, a burst of ~4 MB of lines, more than the workers
/// render inline.
fn waves(copies: usize) -> Vec<u8> {
    let mut pkts: Vec<(i64, Vec<u8>)> = Vec::new();
    for c in 0..copies {
        let t0 = 1_700_000_000_000_000_000i64 + c as i64 * 100_000_000_000;
        for i in 0..24u16 {
            let client = format!("10.7.0.{}", 1 + i);
            pkts.extend(http_conversation(&client, 41000 + i, "10.7.1.1", 400, t0));
        }
    }
    pkts.sort_by_key(|p| p.0);
    let frames: Vec<(i64, Vec<u8>)> = pkts.into_iter().map(|(t, p)| (t, ethernet(&p))).collect();
    pcap(1, false, true, &frames)
}

#[test]
fn streaming_heap_is_flat_in_length_and_bursts_are_not_held_twice() {
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("two.pcap");
    let eight = dir.path().join("eight.pcap");
    std::fs::write(&two, waves(2)).unwrap();
    std::fs::write(&eight, waves(8)).unwrap();
    // Two waves, not one: the first wave's burst comes from a sweep while
    // batches are in flight, as every later one does; the last wave's at
    // the end of input.
    let (t1_two, bytes_two) = peak_of_jsonl(&two, 1);
    let (t1_eight, bytes_eight) = peak_of_jsonl(&eight, 1);
    let (t2_two, b) = peak_of_jsonl(&two, 2);
    assert_eq!(b, bytes_two);
    let (t2_eight, b) = peak_of_jsonl(&eight, 2);
    assert_eq!(b, bytes_eight);
    assert!(bytes_eight > 8 * 4_000_000, "{bytes_eight} bytes of JSONL");
    let mb = |n: usize| n as f64 / 1e6;
    let all = format!(
        "peak heap, two waves / eight: 1 thread {:.1} / {:.1} MB, 2 threads {:.1} / {:.1} MB",
        mb(t1_two),
        mb(t1_eight),
        mb(t2_two),
        mb(t2_eight)
    );
    eprintln!("{all}");
    // Flat in length: eight waves take what two take (render buffers
    // kept at their burst size, or a render lagging behind the reading,
    // made it grow with every wave). Two threads add the batches in
    // flight and what the workers render inline, not a multiple.
    assert!(t1_eight < t1_two * 6 / 5, "{all}");
    assert!(t2_eight < t2_two * 6 / 5, "{all}");

    // 20,000 open connections finished at the end of input at once.
    let (_d, open) = {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("open.pcap");
        let f = std::fs::File::create(&path).unwrap();
        let p = hostile_gen::generate("open-conns", 20_000, BufWriter::new(f)).unwrap();
        drop(p.into_inner());
        (d, path)
    };
    let (t1, _) = peak_of_jsonl(&open, 1);
    let (t2, _) = peak_of_jsonl(&open, 2);
    let all = format!(
        "peak heap, 20,000 open connections: 1 thread {:.1} MB, 2 threads {:.1} MB",
        mb(t1),
        mb(t2)
    );
    eprintln!("{all}");
    assert!(t2 < t1 * 3 / 2, "{all}");
}
