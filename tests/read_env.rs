//! `KEEPWATCH_READ=pread` reads a regular file with `pread` instead of the
//! memory map (docs/input.md, "How a file is read"). The only test in its
//! binary: it sets the process's environment, which other tests running at
//! the same time would see.

use keepwatch::capture::file::{current_block, BlockBytes};
use keepwatch::capture::CaptureFile;
use std::path::Path;

/// How each frame of the sample was read: true if through the map.
fn mapped_frames() -> Vec<bool> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/captures/curl-http11-reuse.pcap");
    let cap = CaptureFile::open(&path).unwrap();
    let mut how = Vec::new();
    cap.for_each(|_| {
        let b = current_block().expect("a block");
        how.push(matches!(&*b, BlockBytes::Mapped { .. }));
    })
    .unwrap();
    assert!(!how.is_empty());
    how
}

#[test]
fn keepwatch_read_pread_turns_the_map_off() {
    std::env::remove_var("KEEPWATCH_READ");
    assert!(mapped_frames().iter().all(|&m| m), "by default: the map");
    std::env::set_var("KEEPWATCH_READ", "pread");
    assert!(mapped_frames().iter().all(|&m| !m), "KEEPWATCH_READ=pread");
    std::env::set_var("KEEPWATCH_READ", "anything else");
    assert!(mapped_frames().iter().all(|&m| m), "other values: the map");
    std::env::remove_var("KEEPWATCH_READ");
}
