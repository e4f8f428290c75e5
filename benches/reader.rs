//! Capture-file readers compared: libpcap (the `pcap` crate, as `keepwatch live`
//! uses it), keepwatch's two readers (one analysis thread: a guarded map made
//! readable a window ahead; several: `pread` into reused blocks; records
//! parsed in place either way), and the first mapped reader (pages behind the
//! reader released; pcap only), which a file truncated under it crashed with
//! SIGBUS. All walk every record and touch its bytes. Run:
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

/// The previous reader, for pcap (little-endian) only: the file mapped, records
/// walked with `pcap-parser`, and pages more than one 8 MiB window behind the
/// reader released with `madvise(MADV_DONTNEED)` (without that, unmapping a
/// fully faulted-in file at the end costs more than the walk).
fn mmap_window(path: &Path) -> (u64, u64) {
    const WINDOW: usize = 8 << 20;
    let f = std::fs::File::open(path).unwrap();
    // SAFETY: a bench file nobody truncates.
    let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
    let (mut n, mut sum) = (0u64, 0u64);
    let mut released = 0usize;
    let mut rest = &map[24..];
    while !rest.is_empty() {
        let pos = map.len() - rest.len();
        if pos >= released + 2 * WINDOW {
            let upto = (pos - WINDOW) / WINDOW * WINDOW;
            // SAFETY: read-only shared map; nothing behind `pos` is borrowed.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    released,
                    upto - released,
                )
            };
            released = upto;
        }
        let Ok((r, block)) = pcap_parser::parse_pcap_frame(rest) else {
            break;
        };
        rest = r;
        n += 1;
        sum += block.data.len() as u64 + block.data.first().copied().unwrap_or(0) as u64;
    }
    (n, sum)
}

fn keepwatch_reader(path: &Path, mapped: bool) -> (u64, u64) {
    let cap = CaptureFile::open(path).unwrap();
    cap.set_mapped(mapped);
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
    let want = libpcap(&p);
    for mapped in [true, false] {
        assert_eq!(want, keepwatch_reader(&p, mapped), "the same packets");
    }
    let mut magic = [0u8; 4];
    let le_pcap = std::io::Read::read_exact(&mut std::fs::File::open(&p).unwrap(), &mut magic)
        .is_ok()
        && magic == [0xd4, 0xc3, 0xb2, 0xa1];
    let mut g = c.benchmark_group("reader");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(std::fs::metadata(&p).unwrap().len()));
    g.bench_function("libpcap (pcap crate)", |b| b.iter(|| libpcap(&p)));
    g.bench_function("keepwatch (guarded map)", |b| {
        b.iter(|| keepwatch_reader(&p, true))
    });
    g.bench_function("keepwatch (pread + buffer)", |b| {
        b.iter(|| keepwatch_reader(&p, false))
    });
    if le_pcap {
        assert_eq!(mmap_window(&p), want);
        g.bench_function("first mapped reader: mmap + madvise window", |b| {
            b.iter(|| mmap_window(&p))
        });
    }
    g.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
