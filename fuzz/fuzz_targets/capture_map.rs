//! The capture reader over a memory map (what one analysis thread reads a
//! regular file with) against the same reader over `pread`: the input is
//! written to a file, read both ways, and everything handed on (time, lengths,
//! bytes) and the summary (counts, damage, notes) must be the same. Neither may
//! panic.
#![no_main]

use keepwatch::capture::CaptureFile;
use libfuzzer_sys::fuzz_target;
use std::io::Write;

type Seen = (Vec<(i64, u32, u32, Vec<u8>)>, u64, u64, Option<String>, Vec<String>);

fn read(cap: &CaptureFile, mapped: bool) -> Option<Seen> {
    let mut v = Vec::new();
    let mut take = |p: keepwatch::decode::RawPacket<'_>| {
        v.push((p.ts.0, p.linktype, p.orig_len, p.data.to_vec()));
    };
    let s = if mapped {
        cap.for_each(&mut take)
    } else {
        cap.for_each_buffered(4096, &mut take)
    }
    .ok()?;
    Some((v, s.packets, s.bytes, s.damage, s.notes))
}

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("keepwatch-fuzz-map-{}.pcap", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(data))
        .expect("temp file");
    let Ok(cap) = CaptureFile::open(&path) else {
        return;
    };
    let mapped = read(&cap, true);
    let pread = read(&cap, false);
    assert_eq!(mapped.is_some(), pread.is_some());
    assert_eq!(mapped, pread);
});
