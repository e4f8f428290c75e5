//! TLS decryption cost. Run: `cargo bench --bench tls`.
//!
//! * `decrypt/<aead>` — one 16 KiB TLS 1.3 application-data record opened
//!   (AEAD tag checked) per iteration, in bytes/s of ciphertext on one core:
//!   the raw speed of the record layer (`ring`; docs/performance.md has the
//!   comparison with RustCrypto `aes-gcm` / `chacha20poly1305`).
//! * `report/<file>/{without,with}-keylog` — everything `keepwatch report`
//!   does on a capture, without and with its key log
//!   (`samples/keylogs/NAME.keys`, or `NAME.keys` beside `NAME.pcap`).
//!   Inputs: two key-log samples and, when set, `$KEEPWATCH_BENCH_TLS` (a
//!   larger capture with its `.keys`, recorded as docs/performance.md says).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keepwatch::capture::CaptureFile;
use keepwatch::engine::{Analyzer, Options};
use keepwatch::inspect::tls::crypto::{AeadAlg, HashAlg, RecordKey};
use keepwatch::inspect::tls::KeyStore;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn decrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("decrypt");
    g.measurement_time(Duration::from_secs(3));
    let plain = vec![0x61u8; 16 * 1024];
    for (name, aead, hash) in [
        ("aes128gcm", AeadAlg::Aes128Gcm, HashAlg::Sha256),
        ("aes256gcm", AeadAlg::Aes256Gcm, HashAlg::Sha384),
        (
            "chacha20poly1305",
            AeadAlg::ChaCha20Poly1305,
            HashAlg::Sha256,
        ),
    ] {
        let key = RecordKey::tls13(aead, hash, &vec![7u8; hash.out_len()]);
        let len = (plain.len() + 16) as u16;
        let hdr = [23, 3, 3, (len >> 8) as u8, len as u8];
        let sealed = key.seal_at(0, &hdr, &plain, [0; 8]);
        g.throughput(Throughput::Bytes(sealed.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let p = key.open_at(0, &hdr, black_box(&sealed)).expect("opens");
                black_box(p.len())
            })
        });
    }
    g.finish();
}

fn inputs() -> Vec<PathBuf> {
    let caps = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures");
    let mut v: Vec<PathBuf> = [
        "tls13-keylog-curl-aeads.pcap",
        "tls-keylog-python-resumed.pcap",
    ]
    .iter()
    .map(|f| caps.join(f))
    .collect();
    v.extend(std::env::var_os("KEEPWATCH_BENCH_TLS").map(PathBuf::from));
    v.into_iter()
        .filter(|p| p.is_file() && keys_of(p).is_file())
        .collect()
}

/// The key log of a capture: beside it, else in samples/keylogs/.
fn keys_of(p: &Path) -> PathBuf {
    let beside = p.with_extension("keys");
    if beside.is_file() {
        return beside;
    }
    let name = p.with_extension("keys");
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples/keylogs")
        .join(name.file_name().unwrap())
}

fn run(path: &Path, keys: Option<&Path>) -> u64 {
    let store = KeyStore::new();
    if let Some(k) = keys {
        store.add_file(k).expect("key log");
        store.finish_files();
    }
    let mut an = Analyzer::new(Options {
        keys: Some(store.clone()),
        drop_exchanges: true,
        ..Default::default()
    })
    .expect("analyzer");
    let cap = CaptureFile::open(path).expect("capture");
    let s = cap
        .for_each_with_secrets(|p| an.packet(&p, &mut |_| {}), |t, d| store.add_dsb(t, d))
        .expect("read");
    an.add_file(s);
    an.finish(&mut |_| {}).summary.requests
}

fn report(c: &mut Criterion) {
    let mut g = c.benchmark_group("report");
    g.measurement_time(Duration::from_secs(3));
    for path in inputs() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::metadata(&path).unwrap().len();
        let keys = keys_of(&path);
        assert!(
            run(&path, Some(&keys)) > run(&path, None),
            "{name}: keys decrypt"
        );
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(format!("{name}/without-keylog"), |b| {
            b.iter(|| black_box(run(&path, None)))
        });
        g.bench_function(format!("{name}/with-keylog"), |b| {
            b.iter(|| black_box(run(&path, Some(&keys))))
        });
    }
    g.finish();
}

criterion_group!(benches, decrypt, report);
criterion_main!(benches);
