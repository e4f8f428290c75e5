#!/usr/bin/env python3
"""Times commands interleaved: run 1 of every command, then run 2 of every
command, and so on, so that a load that drifts during the measurement (a
shared or virtual machine) falls on all of them alike. Prints, per command,
the median and minimum wall time and the median CPU time (user + sys of the
command and its children), in milliseconds. Output of the commands is
discarded; one warm-up run each is not counted.

    python3 benches/interleave.py RUNS CMD...

Settle the capture first (`python3 benches/settle.py FILE`): a file just
written by tcpdump reads slower than one read back from disk.

Example (docs/performance.md, "Threads"):

    python3 benches/interleave.py 40 \\
        "target/release/keepwatch report --threads 1 target/bench/dense.pcap" \\
        "target/release/keepwatch report --threads 2 target/bench/dense.pcap"
"""
import os
import resource
import statistics as st
import subprocess
import sys
import time


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].isdigit():
        sys.exit(__doc__)
    runs = int(sys.argv[1])
    cmds = sys.argv[2:]
    wall = {c: [] for c in cmds}
    cpu = {c: [] for c in cmds}
    with open(os.devnull, "w") as null:
        for c in cmds:
            subprocess.run(["/bin/sh", "-c", "exec " + c], stdout=null, stderr=null, check=False)
        for _ in range(runs):
            for c in cmds:
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(["/bin/sh", "-c", "exec " + c], stdout=null, stderr=null, check=False)
                wall[c].append((time.perf_counter() - t0) * 1000)
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
                cpu[c].append(used * 1000)
    for c in cmds:
        print(f"median {st.median(wall[c]):7.1f}  min {min(wall[c]):7.1f}  "
              f"cpu {st.median(cpu[c]):7.1f}  {c}")


if __name__ == "__main__":
    main()
