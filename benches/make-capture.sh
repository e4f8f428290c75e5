#!/usr/bin/env bash
# Record a large, realistic capture for benchmarking keepwatch (never commit it).
#
#   sudo bash benches/make-capture.sh [OUT.pcap] [ROUNDS]
#
# OUT defaults to target/bench/capture-<ROUNDS>x.pcap; ROUNDS defaults to 1
# (~500 MB, ~250k packets, ~5200 connections). ROUNDS=N>1 builds the "N times
# longer" file for the memory check: one recorded round, repeated N times with
# `editcap -t` shifting copy i by i*1000 s (longer than the 300 s idle timeout,
# so no connection of one copy is still open when the next copy reuses its
# 4-tuples) and joined with `mergecap -a`. Recording ten rounds live instead made
# tcpdump drop 22% of the packets (page-cache writeback on 2 cores), which
# would have measured gap handling, not the same traffic. With KW_BASE=FILE the
# round is not recorded but taken from FILE (e.g. the 1x capture), so the 10x
# file is exactly ten copies of it.
#
# One round, all against an nginx on 127.0.0.1 (generated config in a temp dir,
# high ports, access log off, keepalive_requests 1000 as shipped):
#   1. wrk -t1 -c32 -d1s    HTTP/1.1 keep-alive, a fixed mix of ~270 B / 2 KB /
#                           16 KB / 32 KB bodies and 404s;
#   2. wrk -t1 -c8  -d1s    the same over HTTPS (TLS 1.3, throwaway self-signed
#                           cert in the temp dir);
#   3. ab -k -c8 -n10000    HTTP/1.0 keep-alive, 2 KB body (keepalive_requests
#                           100 on this port, so connections churn);
#   4. ab    -c8 -n5000     HTTP/1.0, one connection per request.
# nginx and the clients are pinned to CPU 0, tcpdump to CPU 1
# (`tcpdump -i lo -s 0 -B 262144`, no -U / --immediate-mode: per-packet writes
# made the kernel drop ~10% of the packets). tcpdump is stopped with SIGINT
# after 1.5 s of quiet (longer than the 1 s TPACKET_V3 block timeout, so no
# tail is lost) and its drop count is printed: it should be 0.
#
# Request-dense mode (issue 14): many small requests, one capture of ~100 MB,
#
#   sudo bash benches/make-capture.sh --dense [OUT.pcap] [REQUESTS]
#
# OUT defaults to target/bench/dense.pcap, REQUESTS to 200000 (about 100 MB).
# A veth pair between two network namespaces made here (10.77.0.1 server,
# 10.77.0.2 client; removed on exit), MTU 1500, TSO/GSO/GRO/SG off so every
# packet on the wire is at most one MTU, nginx answering a 100-byte body.
# Requests, split in three parts:
#   1. wrk -t1 -c64, HTTP/1.1 pipelined 16 deep (Lua script, 3/8 of REQUESTS);
#   2. wrk -t1 -c64, plain keep-alive (3/8);
#   3. ab -k -c16, HTTP/1.0 keep-alive (the rest).
# wrk exits after its share of responses (Lua `response` hook). tcpdump runs
# in the server namespace on the veth.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${1:-}" = "--dense" ]; then
    shift
    exec bash "$HERE/benches/make-dense-capture.sh" "$@"
fi
ROUNDS="${2:-1}"
OUT="${1:-$HERE/target/bench/capture-${ROUNDS}x.pcap}"
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
PORT="${KW_BENCH_PORT:-28080}"   # HTTP; PORT+1 HTTPS; PORT+2 HTTP/1.0 keep-alive 100
TMP="$(mktemp -d /tmp/keepwatch-bench.XXXXXX)"
chmod 755 "$TMP"
PIDS=()

log() { printf '[make-capture] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "run as root (tcpdump on lo)"
for t in nginx tcpdump wrk ab openssl capinfos editcap mergecap; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done

if [ "$ROUNDS" -gt 1 ]; then
    BASE="${KW_BASE:-}"
    if [ -z "$BASE" ]; then
        BASE="$TMP/round.pcap"
        bash "$0" "$BASE" 1
    fi
    parts=()
    for i in $(seq 0 $((ROUNDS - 1))); do
        editcap -t $((i * 1000)) "$BASE" "$TMP/part$i.pcap"
        parts+=("$TMP/part$i.pcap")
    done
    mergecap -a -F pcap -w "$OUT" "${parts[@]}"
    capinfos -c -s -M "$OUT" >&2 || true
    log "wrote $OUT"
    exit 0
fi

# ------------------------------------------------------------- content ---
mkdir -p "$TMP/doc" "$TMP/logs"
head -c 200 /dev/urandom | base64 -w 76 > "$TMP/doc/s"
head -c 1500 /dev/urandom | base64 -w 76 > "$TMP/doc/m"
head -c 12000 /dev/urandom | base64 -w 76 > "$TMP/doc/l"
head -c 24000 /dev/urandom | base64 -w 76 > "$TMP/doc/xl"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $TMP/cb; proxy_temp_path $TMP/px;
    fastcgi_temp_path $TMP/fc; uwsgi_temp_path $TMP/uw; scgi_temp_path $TMP/sc;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/doc;
    }
    server {
        listen 127.0.0.1:$((PORT + 1)) ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $TMP/doc;
    }
    server {
        listen 127.0.0.1:$((PORT + 2));
        keepalive_requests 100;
        root $TMP/doc;
    }
}
EOF

# wrk: cycle through a fixed mix of paths (deterministic order per thread).
cat > "$TMP/mix.lua" <<'EOF'
local paths = { "/s", "/s", "/s", "/m", "/m", "/l", "/s", "/xl", "/missing", "/m" }
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", paths[(i % #paths) + 1])
end
EOF

taskset -c 0 nginx -c "$TMP/nginx.conf" -p "$TMP" &
PIDS+=($!)
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
done

taskset -c 1 tcpdump -i lo -s 0 -B 262144 -w "$OUT" \
    "host 127.0.0.1 and tcp portrange $PORT-$((PORT + 2))" 2>"$TMP/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
for _ in $(seq 1 100); do
    grep -q listening "$TMP/tcpdump.err" && break
    sleep 0.05
done
sleep 0.3

taskset -c 0 wrk -t1 -c32 -d1s -s "$TMP/mix.lua" "http://127.0.0.1:$PORT/" >/dev/null
taskset -c 0 wrk -t1 -c8 -d1s -s "$TMP/mix.lua" "https://127.0.0.1:$((PORT + 1))/" >/dev/null
taskset -c 0 ab -q -k -c8 -n10000 "http://127.0.0.1:$((PORT + 2))/m" >/dev/null
taskset -c 0 ab -q -c8 -n5000 "http://127.0.0.1:$PORT/s" >/dev/null

sleep 1.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cat "$TMP/tcpdump.err" >&2
capinfos -c -s -M "$OUT" >&2 || true
log "wrote $OUT"
