//! The capture reader: arbitrary bytes as a pcap or pcapng stream (gzip, zstd
//! and xz recognised by their magic too), read with a buffer of 64 B, 4 KiB or
//! 1 MiB (the first byte chooses), every packet decoded and analysed. The
//! reader must never panic, hand on a slice longer than a record can be, or
//! disagree with its own summary.
#![no_main]

use keepwatch::capture::file::CaptureError;
use keepwatch::capture::CaptureFile;
use keepwatch::engine::{Analyzer, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, file)) = data.split_first() else {
        return;
    };
    let buffer = match sel % 3 {
        0 => 64,
        1 => 4096,
        _ => 1 << 20,
    };
    let Ok(cap) = CaptureFile::from_stream("fuzz", Box::new(std::io::Cursor::new(file.to_vec())))
    else {
        return;
    };
    let mut an = Analyzer::new(Options::default()).expect("analyzer");
    let (mut n, mut bytes) = (0u64, 0u64);
    let summary = match cap.for_each_buffered(buffer, |p| {
        assert!(p.data.len() <= 32 << 20);
        n += 1;
        bytes += p.data.len() as u64;
        an.packet(&p, &mut |r| {
            let _ = serde_json::to_string(r).expect("record serializes");
        });
    }) {
        Ok(s) => s,
        // A header that is bad past the magic: nothing read, nothing handed on.
        Err(CaptureError::BadHeader { .. }) => {
            assert_eq!(n, 0);
            return;
        }
        Err(e) => panic!("unexpected error: {e}"),
    };
    assert_eq!(summary.packets, n);
    assert_eq!(summary.bytes, bytes);
    an.add_file(summary);
    let rep = an.finish(&mut |_| {});
    let _ = serde_json::to_string(&rep).expect("report serializes");
});
