#!/usr/bin/env bash
# keepwatch beside tshark, tcpdump and tcptrace on the same capture, with
# hyperfine; then keepwatch's peak memory. Used for docs/performance.md.
#
#   bash benches/compare.sh [CAPTURE] [CAPTURE_10X]
#
# Defaults: target/bench/capture-1x.pcap and target/bench/capture-10x.pcap
# (make them with benches/make-capture.sh). Needs a release build
# (`cargo build --release`; CARGO_TARGET_DIR is honoured), hyperfine, tshark,
# tcpdump, tcptrace, capinfos and GNU time (/usr/bin/time). RUNS (default 5)
# sets the hyperfine runs for the fast commands, SLOW_RUNS (default 3) for
# tshark and tcptrace. Results go to stdout and, as hyperfine JSON/markdown,
# to target/bench/results/.
#
# The machine it runs on may be shared: the first section compares CPU time
# (user+sys, median of RUNS runs, GNU time), which other load barely moves,
# and prints keepwatch's as ratios to the peers'. CPU_ONLY=1 stops after it.
# The keepwatch rows run `--threads 1` (the peers are single-threaded), then
# `--threads 2` beside it: wall seconds (median, GNU time) of both, the
# speed-up, and the CPU seconds two threads spend (docs/performance.md,
# "Threads"). On a shared machine pin it, e.g. `taskset -c 0,1`.
# For the request-dense capture (issue 14):
#
#   sudo bash benches/make-capture.sh --dense      # target/bench/dense.pcap
#   CPU_ONLY=1 bash benches/compare.sh target/bench/dense.pcap
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
F="${1:-$HERE/target/bench/capture-1x.pcap}"
F10="${2:-$HERE/target/bench/capture-10x.pcap}"
KW="${CARGO_TARGET_DIR:-$HERE/target}/release/keepwatch"
RUNS="${RUNS:-5}"
SLOW_RUNS="${SLOW_RUNS:-3}"
OUT="$HERE/target/bench/results"
mkdir -p "$OUT"
[ -x "$KW" ] || { echo "build first: cargo build --release ($KW missing)" >&2; exit 1; }
[ -f "$F" ] || { echo "no capture $F: run benches/make-capture.sh" >&2; exit 1; }

# The bench capture's ports (benches/make-capture.sh): HTTP on 28080 and
# 28082, HTTPS on 28081. tshark does not know them, so tell it.
DECODE_AS=(-d tcp.port==28080,http -d tcp.port==28082,http -d tcp.port==28081,tls)

echo "== machine"
echo "nproc: $(nproc)"
grep -m1 'model name' /proc/cpuinfo
grep -m1 MemTotal /proc/meminfo
uname -r
"$KW" --version 2>/dev/null || true
tshark --version | head -1
tcpdump --version 2>&1 | head -1
tcptrace -v 2>&1 | head -1 || true

echo "== capture"
capinfos -c -s -u -M "$F" | sed 1d
echo "tcp connections (tshark conv,tcp): $(tshark -r "$F" -q -z conv,tcp | grep -c '<->')"

# Every tool reads from the page cache, the file in one state: dropped and
# read back (benches/settle.py says why).
python3 "$HERE/benches/settle.py" "$F"

echo "== CPU time (user+sys seconds, median of $RUNS) and keepwatch / peer"
cpu() { # cpu CMD... -> median user+sys
    local i
    for i in $(seq 1 "$RUNS"); do
        /usr/bin/time -f "%U %S" -o "$OUT/cpu.out" "$@" > /dev/null 2>&1 || true
        awk '{printf "%.3f\n", $1 + $2}' "$OUT/cpu.out"
    done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
cpu_wall() { # cpu_wall CMD... -> "median-cpu median-wall"
    local i
    for i in $(seq 1 "$RUNS"); do
        /usr/bin/time -f "%U %S %e" -o "$OUT/cpu.out" "$@" > /dev/null 2>&1 || true
        awk '{printf "%.3f %.3f\n", $1 + $2, $3}' "$OUT/cpu.out"
    done > "$OUT/cpu_wall.out"
    local med='{v[NR] = $1} END {printf "%s", v[int((NR + 1) / 2)]}'
    echo "$(cut -d' ' -f1 "$OUT/cpu_wall.out" | sort -n | awk "$med")" \
        "$(cut -d' ' -f2 "$OUT/cpu_wall.out" | sort -n | awk "$med")"
}
floor="$(cpu tcpdump -r "$F" -w /dev/null)"
trace="$(cpu tcptrace -n "$F")"
conv="$(RUNS=1 cpu tshark -r "$F" -q -z conv,tcp)"
printf '%-34s %7s\n' "tcpdump -r F -w /dev/null" "$floor" "tcptrace -n F" "$trace" \
    "tshark -r F -q -z conv,tcp (1 run)" "$conv"
printf '%-34s %7s %12s %12s %16s %8s %8s %8s %8s\n' "keepwatch (--threads 1)" cpu_s \
    "÷ tcpdump" "÷ tcptrace" "tshark conv ÷" wall_1t wall_2t "1t÷2t" cpu_2t
for fmt in text json jsonl csv; do
    read -r k w1 <<<"$(cpu_wall "$KW" report --threads 1 --color never --format "$fmt" "$F")"
    read -r k2 w2 <<<"$(cpu_wall "$KW" report --threads 2 --color never --format "$fmt" "$F")"
    awk -v f="report --format $fmt" -v k="$k" -v a="$floor" -v b="$trace" -v c="$conv" \
        -v w1="$w1" -v w2="$w2" -v k2="$k2" \
        'BEGIN {printf "%-34s %7.3f %12.2f %12.2f %16.1f %8.3f %8.3f %8.2f %8.3f\n",
                f, k, k / a, k / b, c / k, w1, w2, w1 / w2, k2}'
done
[ "${CPU_ONLY:-0}" = 1 ] && exit 0

echo "== throughput"
hyperfine -N -w 1 -r "$RUNS" --export-json "$OUT/fast.json" --export-markdown "$OUT/fast.md" \
    -n 'keepwatch report (text)' "$KW report --threads 1 --color never $F" \
    -n 'keepwatch report --format json' "$KW report --threads 1 --format json $F" \
    -n 'keepwatch report --format jsonl' "$KW report --threads 1 --format jsonl $F" \
    -n 'keepwatch report --threads 2 (text)' "$KW report --threads 2 --color never $F" \
    -n 'keepwatch report --threads 2 --format jsonl' "$KW report --threads 2 --format jsonl $F" \
    -n 'tcpdump -r F -w /dev/null' "tcpdump -r $F -w /dev/null"
hyperfine -N -w 0 -r "$SLOW_RUNS" --export-json "$OUT/slow.json" --export-markdown "$OUT/slow.md" \
    -n 'tshark -r F -q' "tshark -r $F -q" \
    -n 'tshark -r F -q -z conv,tcp' "tshark -r $F -q -z conv,tcp" \
    -n 'tshark -r F -q -z http,tree (+decode-as)' "tshark -r $F -q ${DECODE_AS[*]} -z http,tree" \
    -n 'tcptrace -n F' "tcptrace -n $F"

echo "== peak memory (GNU time: max RSS; /proc sampling: anon vs file-backed)"
rss() { # rss LABEL CMD...
    local label="$1"; shift
    local pa=0 pf=0 a f
    /usr/bin/time -f "%M" -o "$OUT/time.out" "$@" > /dev/null &
    local tpid=$!
    sleep 0.01
    local pid
    pid="$(pgrep -P "$tpid" | head -1 || true)"
    while kill -0 "$tpid" 2>/dev/null; do
        if [ -n "$pid" ] && s="$(cat "/proc/$pid/status" 2>/dev/null)"; then
            a="$(awk '/RssAnon/{print $2}' <<<"$s")"; f="$(awk '/RssFile/{print $2}' <<<"$s")"
            [ -n "$a" ] && [ "$a" -gt "$pa" ] && pa="$a"
            [ -n "$f" ] && [ "$f" -gt "$pf" ] && pf="$f"
        fi
        sleep 0.02
    done
    wait "$tpid" || true
    printf '%-44s max RSS %8d KB   peak RssAnon %8d KB   peak RssFile %8d KB\n' \
        "$label" "$(cat "$OUT/time.out")" "$pa" "$pf"
}
for fmt in text json jsonl; do
    rss "keepwatch --format $fmt $(basename "$F")" "$KW" report --threads 1 --format "$fmt" "$F"
    rss "keepwatch --threads 2 --format $fmt" "$KW" report --threads 2 --format "$fmt" "$F"
done
if [ -f "$F10" ]; then
    capinfos -c -s "$F10" | sed 1d
    for fmt in text json jsonl; do
        rss "keepwatch --format $fmt $(basename "$F10")" "$KW" report --threads 1 --format "$fmt" "$F10"
    done
fi
rss "tshark -r F -q -z conv,tcp $(basename "$F")" tshark -r "$F" -q -z conv,tcp
rss "tcpdump -r F -w /dev/null $(basename "$F")" tcpdump -r "$F" -w /dev/null
