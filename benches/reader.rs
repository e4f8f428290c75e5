//! Capture-file readers compared: libpcap (the `pcap` crate, as `keepwatch live`
//! uses it) against the mmap + `pcap-parser` reader keepwatch uses for files.
//! Both walk every record and touch its bytes. Run:
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

fn mmap_parser(path: &Path) -> (u64, u64) {
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
        mmap_parser(&p),
        "both readers see the same packets"
    );
    let mut g = c.benchmark_group("reader");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(std::fs::metadata(&p).unwrap().len()));
    g.bench_function("libpcap (pcap crate)", |b| b.iter(|| libpcap(&p)));
    g.bench_function("mmap + pcap-parser", |b| b.iter(|| mmap_parser(&p)));
    g.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
