//! Whole-pipeline throughput (read → decode → TCP → HTTP/TLS → analysis) on
//! real captures, reported in bytes/s. Run: `cargo bench --bench pipeline`.
//! Inputs: the bundled samples and, when present, the public corpus beside the
//! repository (`../shared/corpus/public`) and `$KEEPWATCH_BENCH_FILE`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepwatch::capture::CaptureFile;
use keepwatch::engine::{Analyzer, Options};
use std::path::{Path, PathBuf};

fn inputs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![
        root.join("../shared/corpus/public/zeek-http-1000-requests-one-dropped-response.pcap"),
        root.join("../shared/corpus/public/ndpi-alexa-app.pcapng"),
        root.join("samples/captures/curl-http11-reuse.pcap"),
    ];
    if let Some(p) = std::env::var_os("KEEPWATCH_BENCH_FILE") {
        v.push(PathBuf::from(p));
    }
    v.into_iter().filter(|p| p.is_file()).collect()
}

fn run(path: &Path) -> u64 {
    let cap = CaptureFile::open(path).unwrap();
    let mut an = Analyzer::new(Options::default()).unwrap();
    let s = cap.for_each(|p| an.packet(&p, &mut |_| {})).unwrap();
    an.add_file(s);
    an.finish(&mut |_| {}).summary.requests
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for p in inputs() {
        let len = std::fs::metadata(&p).unwrap().len();
        g.throughput(Throughput::Bytes(len));
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        g.bench_function(name, |b| b.iter(|| run(&p)));
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
