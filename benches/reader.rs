//! Capture-file readers compared: libpcap (the `pcap` crate, as `keepwatch live`
//! uses it), keepwatch's reader (`pread` into a reused buffer, records parsed
//! in place), and a bare memory-mapped walk of the pcap records (what a mapped
//! fast path could at best achieve; keepwatch mapped files until a file
//! truncated under it crashed it with SIGBUS). All walk every record and touch
//! its bytes. Run:
//! `KEEPWATCH_BENCH_FILE=target/bench/capture-1x.pcap cargo bench --bench reader`
//! (without it: the largest capture of the public corpus).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepwatch::capture::CaptureFile;
use std::path::{Path, PathBuf};

fn input() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEEPWATCH_BENCH_FILE") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/public/zeek-http-1000-requests-one-dropped-response.pcap");
    p.is_file().then_some(p)
}

fn libpcap(path: &Path) -> (u64, u64) {
    let mut cap = pcap::Capture::from_file(path).unwrap();
    let (mut n, mut sum) = (0u64, 0u64);
    while let Ok(p) = cap.next_packet() {
        n += 1;
        sum += p.data.len() as u64 + p.data.first().copied().unwrap_or(0) as u64;
    }
    (n, sum)
}

/// Classic little-endian pcap only: maps the file and walks the records.
fn mmap_walk(path: &Path) -> (u64, u64) {
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: a bench file nobody truncates.
    let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
    let (mut n, mut sum) = (0u64, 0u64);
    let mut at = 24;
    while at + 16 <= map.len() {
        let caplen = u32::from_le_bytes(map[at + 8..at + 12].try_into().unwrap()) as usize;
        let data = &map[at + 16..at + 16 + caplen];
        n += 1;
        sum += data.len() as u64 + data.first().copied().unwrap_or(0) as u64;
        at += 16 + caplen;
    }
    (n, sum)
}

fn keepwatch_reader(path: &Path) -> (u64, u64) {
    let cap = CaptureFile::open(path).unwrap();
    let (mut n, mut sum) = (0u64, 0u64);
    cap.for_each(|p| {
        n += 1;
        sum += p.data.len() as u64 + p.data.first().copied().unwrap_or(0) as u64;
    })
    .unwrap();
    (n, sum)
}

fn readers(c: &mut Criterion) {
    let Some(p) = input() else {
        eprintln!("no input capture: set KEEPWATCH_BENCH_FILE");
        return;
    };
    assert_eq!(
        libpcap(&p),
        keepwatch_reader(&p),
        "both readers see the same packets"
    );
    let mut magic = [0u8; 4];
    let le_pcap = std::io::Read::read_exact(&mut std::fs::File::open(&p).unwrap(), &mut magic)
        .is_ok()
        && magic == [0xd4, 0xc3, 0xb2, 0xa1];
    let mut g = c.benchmark_group("reader");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(std::fs::metadata(&p).unwrap().len()));
    g.bench_function("libpcap (pcap crate)", |b| b.iter(|| libpcap(&p)));
    g.bench_function("keepwatch (pread + buffer)", |b| {
        b.iter(|| keepwatch_reader(&p))
    });
    if le_pcap {
        assert_eq!(mmap_walk(&p), keepwatch_reader(&p));
        g.bench_function("bare mmap walk", |b| b.iter(|| mmap_walk(&p)));
    }
    g.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
