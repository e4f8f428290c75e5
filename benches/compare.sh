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

cat "$F" > /dev/null # warm the page cache; every tool reads from it

echo "== CPU time (user+sys seconds, median of $RUNS) and keepwatch / peer"
cpu() { # cpu CMD... -> median user+sys
    local i
    for i in $(seq 1 "$RUNS"); do
        /usr/bin/time -f "%U %S" -o "$OUT/cpu.out" "$@" > /dev/null 2>&1 || true
        awk '{printf "%.3f\n", $1 + $2}' "$OUT/cpu.out"
    done | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}
floor="$(cpu tcpdump -r "$F" -w /dev/null)"
trace="$(cpu tcptrace -n "$F")"
conv="$(RUNS=1 cpu tshark -r "$F" -q -z conv,tcp)"
printf '%-34s %7s\n' "tcpdump -r F -w /dev/null" "$floor" "tcptrace -n F" "$trace" \
    "tshark -r F -q -z conv,tcp (1 run)" "$conv"
printf '%-34s %7s %12s %12s %16s\n' keepwatch cpu_s "÷ tcpdump" "÷ tcptrace" "tshark conv ÷"
for fmt in text json jsonl csv; do
    k="$(cpu "$KW" report --color never --format "$fmt" "$F")"
    awk -v f="report --format $fmt" -v k="$k" -v a="$floor" -v b="$trace" -v c="$conv" \
        'BEGIN {printf "%-34s %7.3f %12.2f %12.2f %16.1f\n", f, k, k / a, k / b, c / k}'
done
[ "${CPU_ONLY:-0}" = 1 ] && exit 0

echo "== throughput"
hyperfine -N -w 1 -r "$RUNS" --export-json "$OUT/fast.json" --export-markdown "$OUT/fast.md" \
    -n 'keepwatch report (text)' "$KW report --color never $F" \
    -n 'keepwatch report --format json' "$KW report --format json $F" \
    -n 'keepwatch report --format jsonl' "$KW report --format jsonl $F" \
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
    rss "keepwatch --format $fmt $(basename "$F")" "$KW" report --format "$fmt" "$F"
done
if [ -f "$F10" ]; then
    capinfos -c -s "$F10" | sed 1d
    for fmt in text json jsonl; do
        rss "keepwatch --format $fmt $(basename "$F10")" "$KW" report --format "$fmt" "$F10"
    done
fi
rss "tshark -r F -q -z conv,tcp $(basename "$F")" tshark -r "$F" -q -z conv,tcp
rss "tcpdump -r F -w /dev/null $(basename "$F")" tcpdump -r "$F" -w /dev/null
