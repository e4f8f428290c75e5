#!/usr/bin/env bash
# The request-dense benchmark capture (issue 14). Called by
# `sudo bash benches/make-capture.sh --dense [OUT.pcap] [REQUESTS]`; see the
# header of make-capture.sh for what it records. Never commit the capture.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$HERE/target/bench/dense.pcap}"
REQ="${2:-200000}"
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
PORT=28080
NS_S="kwdense-s-$$" NS_C="kwdense-c-$$"
TMP="$(mktemp -d /tmp/keepwatch-dense.XXXXXX)"
chmod 755 "$TMP"
PIDS=()

log() { printf '[make-capture --dense] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    ip netns del "$NS_S" 2>/dev/null || true
    ip netns del "$NS_C" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "run as root (network namespaces, tcpdump)"
for t in ip ethtool nginx tcpdump wrk ab capinfos; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done

ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add kwd-s type veth peer name kwd-c
ip link set kwd-s netns "$NS_S"
ip link set kwd-c netns "$NS_C"
ip -n "$NS_S" addr add 10.77.0.1/24 dev kwd-s
ip -n "$NS_C" addr add 10.77.0.2/24 dev kwd-c
for side in "$NS_S kwd-s" "$NS_C kwd-c"; do
    set -- $side
    ip -n "$1" link set "$2" mtu 1500 up
    ip -n "$1" link set lo up
    ip netns exec "$1" ethtool -K "$2" tso off gso off gro off sg off 2>/dev/null || true
done

mkdir -p "$TMP/doc" "$TMP/logs"
# KW_BODY: the body size in bytes (default 100; docs/performance.md measures
# 1,000 and 4,000 too, for the choice of threads by frame size).
head -c $(( ${KW_BODY:-100} * 3 / 4 )) /dev/urandom | base64 -w 0 > "$TMP/doc/b"
cat > "$TMP/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 100000;
    client_body_temp_path $TMP/cb; proxy_temp_path $TMP/px;
    fastcgi_temp_path $TMP/fc; uwsgi_temp_path $TMP/uw; scgi_temp_path $TMP/sc;
    server { listen 10.77.0.1:$PORT; root $TMP/doc; }
}
CONF

W=$((REQ * 3 / 8))
AB=$((REQ - 2 * W))
# wrk: -c64 with one thread; each connection sends 16 requests per write
# (pipelined). The process exits after its share of responses (os.exit: a
# thread:stop() would idle until -d ran out); the kernel closes the sockets.
cat > "$TMP/pipe.lua" <<LUA
local n = 0
init = function(args)
    local r = {}
    for i = 1, 16 do r[i] = wrk.format("GET", "/b") end
    req = table.concat(r)
end
request = function() return req end
response = function() n = n + 1; if n >= $W then os.exit(0) end end
LUA
cat > "$TMP/plain.lua" <<LUA
local n = 0
response = function() n = n + 1; if n >= $W then os.exit(0) end end
LUA

ip netns exec "$NS_S" nginx -c "$TMP/nginx.conf" -p "$TMP" &
PIDS+=($!)
for _ in $(seq 1 100); do
    ip netns exec "$NS_C" bash -c "exec 3<>/dev/tcp/10.77.0.1/$PORT" 2>/dev/null && break
    sleep 0.05
done
ip netns exec "$NS_S" tcpdump -i kwd-s -s 0 -B 262144 -w "$OUT" "tcp port $PORT" \
    2>"$TMP/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
for _ in $(seq 1 100); do
    grep -q listening "$TMP/tcpdump.err" && break
    sleep 0.05
done
sleep 0.3

log "wrk pipelined ($W requests), wrk plain ($W), ab -k ($AB)"
ip netns exec "$NS_C" wrk -t1 -c64 -d120s -s "$TMP/pipe.lua" "http://10.77.0.1:$PORT/b" >/dev/null
ip netns exec "$NS_C" wrk -t1 -c64 -d120s -s "$TMP/plain.lua" "http://10.77.0.1:$PORT/b" >/dev/null
ip netns exec "$NS_C" ab -q -k -c16 -n "$AB" "http://10.77.0.1:$PORT/b" >/dev/null

sleep 1.5
kill -INT "$TCPDUMP"
wait "$TCPDUMP" || true
cat "$TMP/tcpdump.err" >&2
capinfos -c -s -M "$OUT" >&2 || true
log "wrote $OUT"
