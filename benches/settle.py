#!/usr/bin/env python3
"""Drops files from the page cache and reads them back, so that every
benchmark reads them in the same state.

    python3 benches/settle.py FILE...

Why (docs/performance.md, "Session 8"): a capture just written by tcpdump
reads slower from the page cache than the same file read back from disk
(dense.pcap: `tcpdump -r F -w /dev/null` 68.1 -> 55.9 ms, keepwatch one
thread 80.6 -> 67.0 ms after this; the kernel's per-page work in
`filemap_get_read_batch` fell from 5.5 % of keepwatch's samples to 0.4 %,
which points at larger page-cache folios when read ahead). Ratios between
tools timed in one interleaved round hold in either state; absolute figures
and the share of the read in them do not. benches/compare.sh calls this.
"""
import os
import sys


def settle(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages are not dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for p in sys.argv[1:]:
        settle(p)


if __name__ == "__main__":
    main()
