#!/usr/bin/env bash
# Record keepwatch's sample captures from real servers and clients.
#
#   sudo bash samples/record.sh            # record every scenario
#   sudo bash samples/record.sh s01 s18    # record only some scenarios
#   python3 samples/facts.py               # then recompute samples/expected.json
#
# All traffic goes to 127.0.0.1 / ::1, or (scenario s08) to addresses inside
# two network namespaces this script creates and deletes again.
# Needs: nginx (with ssl + http_v2), tcpdump, tshark/editcap, curl,
# apache2-utils (ab), wrk, python3, openssl, iproute2, nftables, ethtool,
# nghttp2-client (nghttp).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/captures"
KEYLOGS="$HERE/keylogs"   # TLS key logs the clients wrote (s24-s29), beside not in captures/
MANIFEST="$HERE/manifest.tsv"
mkdir -p "$OUT" "$KEYLOGS"
TMP="$(mktemp -d /tmp/keepwatch-rec.XXXXXX)"
chmod 755 "$TMP"
DOC="$TMP/doc"
PIDS=()
NS_A=kwtest-a
NS_B=kwtest-b

log() { printf '[record] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "run as root (tcpdump, network namespaces)"
for t in nginx tcpdump editcap capinfos curl ab wrk python3 openssl ip ss nft ethtool; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

stop_pid() { # stop_pid PID [SIGNAL] : signal, wait up to 5 s, then SIGKILL
    local i
    kill "-${2:-TERM}" "$1" 2>/dev/null || true
    for i in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$1" 2>/dev/null; then
        log "WARNING: pid $1 ignored SIG${2:-TERM}, killing"
        kill -KILL "$1" 2>/dev/null || true
    fi
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

# ---------------------------------------------------------------- content ---
mkdir -p "$DOC"
for n in a b c d e; do printf 'hello from /%s\n' "$n" > "$DOC/$n"; done
# compressible text (~16 KB) for the gzip/chunked scenario
python3 - "$DOC/text" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(400):
        f.write(f"line {i:04d}: keepwatch sample text, highly compressible.\n")
EOF
# deterministic pseudo-random (incompressible) large bodies
python3 - "$DOC" <<'EOF'
import hashlib, sys, os
def blob(n, seed):
    out, ctr = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{ctr}".encode()).digest(); ctr += 1
    return bytes(out[:n])
open(os.path.join(sys.argv[1], "big300k"), "wb").write(blob(300_000, "big300k"))
open(os.path.join(sys.argv[1], "big200k"), "wb").write(blob(200_000, "big200k"))
EOF

# TLS key + self-signed cert: generated per run in the temp dir, never committed
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

# --------------------------------------------------------------- helpers ---
# in_ns NS cmd... : run cmd inside namespace NS, or directly if NS is empty
in_ns() {
    local ns=$1; shift
    if [ -n "$ns" ]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# bg_exec NS cmd... : like in_ns, but meant for `bg_exec ... &`: the background
# subshell exec()s the command, so $! is the command's own pid (signals reach it).
bg_exec() {
    local ns=$1; shift
    if [ -n "$ns" ]; then exec ip netns exec "$ns" "$@"; else exec "$@"; fi
}

wait_listen() { # wait_listen PORT [NS]
    local i
    for i in $(seq 1 200); do
        if in_ns "${2:-}" ss -Hltn "sport = :$1" | grep -q .; then return 0; fi
        sleep 0.05
    done
    die "nothing listening on port $1"
}

# nginx_start NAME PORT HTTP_BLOCK_BODY [NS]  -> sets NGINX_PID
nginx_start() {
    local name=$1 port=$2 body=$3 ns=${4:-} pre="$TMP/nginx-$1"
    mkdir -p "$pre/logs"
    cat > "$pre/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
pid $pre/nginx.pid;
error_log $pre/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $pre/logs/access.log;
    client_body_temp_path $pre/body;
    proxy_temp_path $pre/proxy;
    fastcgi_temp_path $pre/fastcgi;
    uwsgi_temp_path $pre/uwsgi;
    scgi_temp_path $pre/scgi;
    types { }
    default_type text/plain;
    server_tokens off;
    etag on;
$body
}
EOF
    bg_exec "$ns" nginx -c "$pre/nginx.conf" -p "$pre" -e "$pre/logs/error.log" \
        >"$pre/logs/stdout" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_listen "$port" "$ns"
}

# cap_start FILE IFACE FILTER [NS] [extra tcpdump args...] -> sets CAP_PID
# --immediate-mode: without it, packets still sitting in a not yet retired
# TPACKET_V3 block are lost when tcpdump gets SIGINT.
cap_start() {
    local file=$1 iface=$2 filter=$3 ns=${4:-}
    shift 4 || shift $#
    local err="$TMP/tcpdump-$file.err"
    rm -f "$OUT/$file"
    bg_exec "$ns" tcpdump -i "$iface" -w "$OUT/$file" -U --immediate-mode -Z root "$@" "$filter" \
        2>"$err" &
    CAP_PID=$!
    PIDS+=("$CAP_PID")
    local i
    for i in $(seq 1 100); do
        grep -q 'listening on' "$err" 2>/dev/null && break
        kill -0 "$CAP_PID" 2>/dev/null || die "tcpdump for $file died: $(cat "$err")"
        sleep 0.05
    done
    grep -q 'listening on' "$err" || die "tcpdump for $file not listening"
    sleep 0.5
}

cap_stop() { # cap_stop PID : let trailing packets land, then SIGINT
    sleep 1.2
    stop_pid "$1" INT
}

# manifest line: file, decode-as list (proto:port,...), scenario id, description
note() {
    local file=$1 decode=$2 sid=$3 desc=$4
    touch "$MANIFEST"
    { grep -v -P "^\Q$file\E\t" "$MANIFEST" || true; printf '%s\t%s\t%s\t%s\n' "$file" "$decode" "$sid" "$desc"; } \
        | sort > "$MANIFEST.new"
    mv "$MANIFEST.new" "$MANIFEST"
    log "recorded $file ($(stat -c %s "$OUT/$file") bytes)"
}

# srv PORT [EXTRA] : a plain server block on 127.0.0.1:PORT serving $DOC
srv() {
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        root $DOC;
        location = /post { return 200 "ok\n"; }
        ${2:-}
    }
EOF
}

tls_srv() { # tls_srv PORT LISTEN_FLAGS [EXTRA]
    cat <<EOF
    ssl_session_cache shared:kwtls:1m;
    server {
        listen 127.0.0.1:$1 ssl $2;
        server_name localhost;
        root $DOC;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ${3:-}
    }
EOF
}

# curlq [ARGS...] URL... : curl, every response body discarded
curlq() {
    local a args=()
    for a in "$@"; do
        case $a in http://*|https://*) args+=(-o /dev/null "$a") ;; *) args+=("$a") ;; esac
    done
    in_ns "${CURLQ_NS:-}" curl -sS --max-time 10 "${args[@]}"
}

# ------------------------------------------------------------- scenarios ---
s01() { # HTTP/1.1 keep-alive reuse; also source of the pcapng / nsec copies
    local P=18001 f=curl-http11-reuse.pcap
    nginx_start s01 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s01 "curl --http1.1 two URLs, nginx default keep-alive: one connection reused"
    # s06: format variants of the very same packets
    editcap -F pcapng "$OUT/$f" "$OUT/curl-http11-reuse.pcapng"
    note curl-http11-reuse.pcapng "http:$P" s06 "pcapng copy (editcap -F pcapng) of curl-http11-reuse.pcap"
    editcap -F nsecpcap "$OUT/$f" "$OUT/curl-http11-reuse-nsec.pcap"
    note curl-http11-reuse-nsec.pcap "http:$P" s06 "nanosecond pcap copy (editcap -F nsecpcap) of curl-http11-reuse.pcap"
}

s02() {
    local P=18002 f=curl-http10-close.pcap
    nginx_start s02 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq -0 "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s02 "curl -0 (HTTP/1.0) two URLs: server closes after each response"
}

s03() {
    local P=18003 f=curl-http10-keepalive.pcap
    nginx_start s03 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq -0 -H 'Connection: keep-alive' "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s03 "curl -0 -H 'Connection: keep-alive' two URLs: nginx keeps the HTTP/1.0 connection open"
}

s04() {
    local P=18004 f=curl-http11-ipv6.pcap
    nginx_start s04 $P "$(srv $P | sed "s/listen 127.0.0.1:$P;/listen [::1]:$P;/")"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 -g "http://[::1]:$P/a" "http://[::1]:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s04 "IPv6 ::1, curl --http1.1 two URLs: one connection reused"
}

s05() { # tcpdump -i any, Linux cooked v1 and v2, same exchange captured twice
    # Two tcpdumps on "any" at once occasionally miss a packet in one of them
    # (seen: one FIN absent from one file); retry until both files agree.
    local P=18005 f1=curl-any-sll.pcap f2=curl-any-sll2.pcap c1 c2 try n1 n2
    nginx_start s05 $P "$(srv $P)"
    for try in 1 2 3 4 5; do
        cap_start $f1 any "tcp port $P" "" -y LINUX_SLL; c1=$CAP_PID
        cap_start $f2 any "tcp port $P" "" -y LINUX_SLL2; c2=$CAP_PID
        curlq --http1.1 "http://127.0.0.1:$P/a"
        cap_stop "$c1"; stop_pid "$c2" INT
        n1=$(capinfos -Mc "$OUT/$f1" | awk '/Number of packets/ {print $NF}')
        n2=$(capinfos -Mc "$OUT/$f2" | awk '/Number of packets/ {print $NF}')
        [ "$n1" = "$n2" ] && [ "$n1" -ge 10 ] && break
        log "s05 try $try: packet counts differ ($n1 vs $n2), re-recording"
    done
    stop_pid "$NGINX_PID"
    note $f1 "http:$P" s05 "tcpdump -i any -y LINUX_SLL (cooked v1), one curl --http1.1 request"
    note $f2 "http:$P" s05 "tcpdump -i any -y LINUX_SLL2 (cooked v2), same exchange as curl-any-sll.pcap"
}

s07() { # same client port for two sequential connections -> same 4-tuple twice
    local P=18007 f=port-reuse-same-4tuple.pcap
    nginx_start s07 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq -0 --local-port 45123 "http://127.0.0.1:$P/a"
    sleep 0.2
    curlq -0 --local-port 45123 "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s07 "two HTTP/1.0 connections from client port 45123: one 4-tuple, two connections"
}

s08() { # real impairment between two network namespaces (no netem in this kernel)
    local P=18008 f=netns-impaired-loss-dup-reorder.pcap
    ip netns del $NS_A 2>/dev/null || true
    ip netns del $NS_B 2>/dev/null || true
    ip netns add $NS_A
    ip netns add $NS_B
    ip link add kwa0 netns $NS_A type veth peer name kwb0 netns $NS_B
    ip -n $NS_A addr add 10.201.0.1/24 dev kwa0
    ip -n $NS_B addr add 10.201.0.2/24 dev kwb0
    local ns dev
    for ns in $NS_A:kwa0 $NS_B:kwb0; do
        dev=${ns#*:}; ns=${ns%%:*}
        ip -n "$ns" link set lo up
        ip -n "$ns" link set "$dev" up
        # real MSS-sized segments on the wire, not 64 KB GSO frames
        ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off >/dev/null 2>&1 || true
        # loss and duplication on egress (applied before the capture tap)
        ip netns exec "$ns" nft -f - <<EOF
table netdev kwimp {
    chain egress {
        type filter hook egress device "$dev" priority 0; policy accept;
        ip protocol tcp numgen random mod 100 < 3 drop
        ip protocol tcp numgen random mod 100 < 5 dup to "$dev"
    }
}
EOF
    done
    # reordering on the server side: nft marks a random 12% of the server's TCP
    # packets with skb priority 1:20, which HTB maps straight to a slow
    # (2 Mbit/s) class; they are overtaken by later packets in the fast class.
    # (A u32 filter on the IP ID matched nothing here, hence skb priority.)
    ip netns exec $NS_A tc qdisc add dev kwa0 root handle 1: htb default 10 r2q 1000
    ip netns exec $NS_A tc class add dev kwa0 parent 1: classid 1:10 htb rate 1gbit
    ip netns exec $NS_A tc class add dev kwa0 parent 1: classid 1:20 htb rate 2mbit ceil 2mbit \
        burst 1600 cburst 1600 quantum 1600
    ip netns exec $NS_A nft add rule netdev kwimp egress \
        ip protocol tcp numgen random mod 100 '<' 12 meta priority set 1:20

    nginx_start s08 $P "$(srv $P | sed "s/listen 127.0.0.1:$P;/listen 10.201.0.1:$P;/")" $NS_A
    cap_start $f kwb0 "tcp port $P" $NS_B
    CURLQ_NS=$NS_B curlq --http1.1 "http://10.201.0.1:$P/a" \
        "http://10.201.0.1:$P/big200k" "http://10.201.0.1:$P/b"
    CURLQ_NS=$NS_B curlq --http1.1 "http://10.201.0.1:$P/c"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    ip netns del $NS_A
    ip netns del $NS_B
    note $f "http:$P" s08 "veth between netns (10.201.0.0/24), nft random 3% loss + 5% dup both ways, 12% of server packets reordered via a slow HTB class; curl /a /big200k /b then /c"
}

s09() {
    local P=18009 f=curl-client-connection-close.pcap
    nginx_start s09 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 -H 'Connection: close' "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s09 "curl --http1.1 -H 'Connection: close' two URLs: server closes after each"
}

s10() {
    local P=18010 f=nginx-keepalive-requests-3.pcap
    nginx_start s10 $P "$(srv $P 'keepalive_requests 3;')"
    cap_start $f lo "tcp port $P"
    local u=() n
    for n in a b c d e; do u+=("http://127.0.0.1:$P/$n"); done
    curlq --http1.1 "${u[@]}"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s10 "nginx keepalive_requests 3, curl 5 URLs: server closes after 3rd, curl reconnects"
}

s11() {
    local P=18011 f=stale-keepalive-timeout-retry.pcap
    nginx_start s11 $P "$(srv $P 'keepalive_timeout 1s;')"
    cap_start $f lo "tcp port $P"
    python3 - $P <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
def req(path, close=False):
    h = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: keepwatch-stale\r\n"
    if close:
        h += "Connection: close\r\n"
    return (h + "\r\n").encode()
def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            return None
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0]
s = socket.create_connection(("127.0.0.1", port))
print("first:", read_response(s) if not s.sendall(req("/a")) else None)
time.sleep(2.5)             # nginx keepalive_timeout 1s closes the idle connection
try:
    s.sendall(req("/b"))    # stale request on the closed connection
    r = read_response(s)
    print("stale:", r)
except OSError as e:
    print("stale:", e)
time.sleep(0.2)
s.close()
s = socket.create_connection(("127.0.0.1", port))   # retry on a new connection
s.sendall(req("/b"))
print("retry:", read_response(s))
s.close()
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s11 "nginx keepalive_timeout 1s; python client reuses the idle socket after 2.5 s (stale request, RST), retries on a new connection"
}

s12() {
    local P=18012 f=python-pipelined-3.pcap
    nginx_start s12 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    python3 - $P <<'EOF'
import socket, sys
port = int(sys.argv[1])
def req(path, close=False):
    h = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: keepwatch-pipeline\r\n"
    if close:
        h += "Connection: close\r\n"
    return (h + "\r\n").encode()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(req("/a") + req("/b") + req("/c", close=True))   # one send(), one segment
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
print("responses:", data.count(b"HTTP/1.1 "))
s.close()
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s12 "python socket: 3 pipelined GETs in one send (last has Connection: close), nginx answers all 3 and closes"
}

s13() {
    local P=18013 f=python-head-304-post-large.pcap
    nginx_start s13 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    python3 - $P <<'EOF'
import http.client, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("HEAD", "/a")
r = c.getresponse(); r.read()
etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
print("HEAD", r.status, etag, lm)
c.request("GET", "/a", headers={"If-None-Match": etag, "If-Modified-Since": lm})
r = c.getresponse(); r.read(); print("conditional GET", r.status)
assert r.status == 304
c.request("POST", "/post", body=b"field=value&x=" + b"y" * 200,
          headers={"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); print("POST", r.status, r.read())
c.request("GET", "/big300k")
r = c.getresponse(); print("GET big", r.status, len(r.read()))
c.close()
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s13 "python http.client, one connection: HEAD, conditional GET (304), POST with body, GET 300 KB"
}

s14() {
    local P=18014 f=curl-gzip-chunked.pcap
    nginx_start s14 $P "$(srv $P 'gzip on; gzip_types text/plain; gzip_min_length 20;')"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 --compressed "http://127.0.0.1:$P/text" "http://127.0.0.1:$P/text?2"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s14 "nginx gzip on, curl --compressed --http1.1 two URLs: gzip + chunked responses on one connection"
}

s15() {
    local P=18015 Q=18016 f1=ab-http10-close.pcap f2=ab-keepalive.pcap
    nginx_start s15 $P "$(srv $P)$(srv $Q)"
    cap_start $f1 lo "tcp port $P"
    ab -q -n 5 -c 1 "http://127.0.0.1:$P/a" >/dev/null
    cap_stop "$CAP_PID"
    cap_start $f2 lo "tcp port $Q"
    ab -q -k -n 5 -c 1 "http://127.0.0.1:$Q/a" >/dev/null
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f1 "http:$P" s15 "ab -n 5 -c 1 (HTTP/1.0, no keep-alive): 5 connections"
    note $f2 "http:$Q" s15 "ab -k -n 5 -c 1 (HTTP/1.0 Connection: Keep-Alive): 1 connection"
}

s16() {
    local P=18017 f=python-http-server-http10.pcap
    python3 -m http.server --bind 127.0.0.1 --directory "$DOC" $P >"$TMP/httpserver.log" 2>&1 &
    local spid=$!; PIDS+=("$spid")
    wait_listen $P
    cap_start $f lo "tcp port $P"
    curlq --http1.1 "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$spid"
    note $f "http:$P" s16 "python3 -m http.server (HTTP/1.0 server), curl --http1.1 two URLs: server closes after each"
}

s17() { # wrk, throttled by nginx limit_req (delays, no rejections) to stay small
    local P=18018 f=wrk-2conns-throttled.pcap
    nginx_start s17 $P "    limit_req_zone \$server_port zone=kw:1m rate=20r/s;
$(srv $P 'location / { limit_req zone=kw burst=100; }')"
    cap_start $f lo "tcp port $P"
    wrk -t1 -c2 -d1s "http://127.0.0.1:$P/a" >"$TMP/wrk.log"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" s17 "wrk -t1 -c2 -d1s against nginx throttled with limit_req 20r/s (burst, delayed): 2 keep-alive connections, cut off by wrk at the end"
}

s18() {
    local P=18443 f=tls12-curl-http11-reuse.pcap
    nginx_start s18 $P "$(tls_srv $P '')"
    cap_start $f lo "tcp port $P"
    curlq -k --http1.1 --tlsv1.2 --tls-max 1.2 --resolve localhost:$P:127.0.0.1 \
        "https://localhost:$P/a" "https://localhost:$P/b"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$P" s18 "TLS 1.2 (SNI localhost), curl -k --http1.1 two URLs: 1 connection, 1 handshake, 2 exchanges"
}

sclient_get() { # sclient_get PORT PATH LOG openssl-args...
    local port=$1 path=$2 log=$3; shift 3
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" |
        timeout 10 openssl s_client -connect 127.0.0.1:$port -servername localhost -ign_eof "$@" >"$log" 2>&1
}

s19() {
    local P=18444 f=tls12-resumption.pcap
    nginx_start s19 $P "$(tls_srv $P '')"
    cap_start $f lo "tcp port $P"
    sclient_get $P /a "$TMP/s19-1.log" -tls1_2 -sess_out "$TMP/s19.sess"
    sclient_get $P /b "$TMP/s19-2.log" -tls1_2 -sess_in "$TMP/s19.sess"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    grep -q '^Reused, TLSv1.2' "$TMP/s19-2.log" || log "WARNING: s19 second handshake not reused"
    note $f "tls:$P" s19 "openssl s_client -tls1_2 -sess_out then -sess_in: full handshake, then abbreviated (resumed) handshake"
}

s20() {
    local P=18445 Q=18446 f1=tls13-curl-http11-reuse.pcap f2=tls13-psk-resumption.pcap
    nginx_start s20 $P "$(tls_srv $P '')$(tls_srv $Q '' | grep -v ssl_session_cache)"
    cap_start $f1 lo "tcp port $P"
    curlq -k --http1.1 --tlsv1.3 --resolve localhost:$P:127.0.0.1 \
        "https://localhost:$P/a" "https://localhost:$P/b"
    cap_stop "$CAP_PID"
    cap_start $f2 lo "tcp port $Q"
    sclient_get $Q /a "$TMP/s20-1.log" -tls1_3 -sess_out "$TMP/s20.sess"
    sclient_get $Q /b "$TMP/s20-2.log" -tls1_3 -sess_in "$TMP/s20.sess"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    grep -q '^Reused, TLSv1.3' "$TMP/s20-2.log" || log "WARNING: s20 second handshake not reused"
    note $f1 "tls:$P" s20 "TLS 1.3 (SNI localhost), curl -k --http1.1 --tlsv1.3 two URLs: 1 connection, 2 exchanges"
    note $f2 "tls:$Q" s20 "openssl s_client -tls1_3 -sess_out then -sess_in: full handshake, then PSK resumption"
}

s21() {
    local P=18447 f=tls-alpn-h2-vs-http11.pcap
    nginx_start s21 $P "$(tls_srv $P 'http2')"
    cap_start $f lo "tcp port $P"
    # TLS 1.2 so that the selected ALPN is visible in the ServerHello (TLS 1.3
    # moves it into the encrypted EncryptedExtensions)
    curlq -k --http2 --tls-max 1.2 --resolve localhost:$P:127.0.0.1 \
        "https://localhost:$P/a" "https://localhost:$P/b"
    curlq -k --http1.1 --tls-max 1.2 --resolve localhost:$P:127.0.0.1 "https://localhost:$P/a"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$P" s21 "nginx TLS listener with http2, TLS 1.2: curl --http2 (ALPN h2, 2 streams) then curl --http1.1 (ALPN http/1.1)"
}

s22() {
    # curl 7.88.1 (Debian 12) fails to reuse an h2c prior-knowledge connection
    # ("Error in the HTTP2 framing layer" on the 2nd URL), so the client here is
    # nghttp (nghttp2-client), which speaks h2c with prior knowledge by default.
    local P=18022 f=h2c-prior-knowledge-3-streams.pcap
    command -v nghttp >/dev/null || die "missing tool: nghttp (apt-get install nghttp2-client)"
    nginx_start s22 $P "$(srv $P | sed "s/listen 127.0.0.1:$P;/listen 127.0.0.1:$P http2;/")"
    cap_start $f lo "tcp port $P"
    nghttp -n "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b" "http://127.0.0.1:$P/c"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http2:$P" s22 "h2c: nginx 'listen ... http2' cleartext, nghttp (prior knowledge) 3 URLs: 1 connection, 3 request streams"
}

s23() { # Python over HTTPS: the TLS exchange estimate for a non-curl client
    local P=18448 f=tls13-python-3-requests.pcap
    nginx_start s23 $P "$(tls_srv $P '')"
    cap_start $f lo "tcp port $P"
    python3 - $P <<'EOF'
import http.client, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("localhost", port, context=ctx)
for path in ("/a", "/b", "/big300k"):
    c.request("GET", path)
    r = c.getresponse()
    print(path, r.status, len(r.read()))
c.close()
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$P" s23 "TLS 1.3 (SNI localhost), Python http.client: 3 sequential GETs (one 300 KB) on one connection: 3 exchanges"
}

# ------------------------------------------------ TLS with the clients' key logs ---
# Each capture NAME.pcap gets keylogs/NAME.keys: the key log its clients wrote
# (SSLKEYLOGFILE, honoured by curl and Python). These are throw-away session
# secrets of loopback test traffic to a self-signed server, not secrets.

keylog_curl() { # keylog_curl KEYS [curl args...] URL...
    local keys=$1; shift
    SSLKEYLOGFILE="$keys" curlq -k --resolve "localhost:$KP:127.0.0.1" "$@"
}

access_count() { # access_count NAME : requests in that nginx's access log
    wc -l < "$TMP/nginx-$1/logs/access.log"
}

s24() { # TLS 1.3, each AEAD suite, HTTP/1.1, two URLs per connection
    local KP=18450 f=tls13-keylog-curl-aeads.pcap c
    nginx_start s24 $KP "$(tls_srv $KP '')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    for c in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
        keylog_curl "$KEYLOGS/${f%.pcap}.keys" --http1.1 --tlsv1.3 --tls13-ciphers $c \
            "https://localhost:$KP/a" "https://localhost:$KP/b"
    done
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s24 "TLS 1.3 with key log: curl --http1.1 --tls13-ciphers AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305, two URLs each: 3 connections, $(access_count s24) requests (nginx access log)"
}

s25() { # TLS 1.2, each AEAD suite (ECDHE-RSA), HTTP/1.1, two URLs per connection
    local KP=18451 f=tls12-keylog-curl-aeads.pcap c
    nginx_start s25 $KP "$(tls_srv $KP '')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    for c in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305; do
        keylog_curl "$KEYLOGS/${f%.pcap}.keys" --http1.1 --tlsv1.2 --tls-max 1.2 --ciphers $c \
            "https://localhost:$KP/a" "https://localhost:$KP/b"
    done
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s25 "TLS 1.2 with key log: curl --http1.1 --ciphers ECDHE-RSA AES128-GCM, AES256-GCM, CHACHA20-POLY1305, two URLs each: 3 connections, $(access_count s25) requests (nginx access log)"
}

s26() { # HTTP/2 inside TLS 1.3 and 1.2: several streams on one connection
    local KP=18452 f=tls-keylog-curl-h2.pcap
    nginx_start s26 $KP "$(tls_srv $KP 'http2')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    keylog_curl "$KEYLOGS/${f%.pcap}.keys" --http2 --tlsv1.3 \
        "https://localhost:$KP/a" "https://localhost:$KP/b" "https://localhost:$KP/c"
    keylog_curl "$KEYLOGS/${f%.pcap}.keys" --http2 --tls-max 1.2 \
        "https://localhost:$KP/d" "https://localhost:$KP/e"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s26 "h2 inside TLS with key log: curl --http2 TLS 1.3 three URLs, then TLS 1.2 two URLs: 2 connections, $(access_count s26) streams (nginx access log)"
}

s27() { # Python: resumed sessions (TLS 1.3 PSK, TLS 1.2) and a pipelined pair in one record
    local KP=18453 f=tls-keylog-python-resumed.pcap
    nginx_start s27 $KP "$(tls_srv $KP '')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    SSLKEYLOGFILE="$KEYLOGS/${f%.pcap}.keys" python3 - $KP <<'PYEOF'
import socket, ssl, sys
port = int(sys.argv[1])

def ctx(maxv):
    c = ssl.create_default_context()  # keylog_filename from SSLKEYLOGFILE
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.maximum_version = maxv
    return c

def fetch(c, paths, session=None, pipelined=False):
    s = c.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                      server_hostname="localhost", session=session)
    reqs = [f"GET {p} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode() for p in paths]
    if pipelined:
        s.sendall(b"".join(reqs))  # both requests in one TLS record
    data = b""
    for i, r in enumerate(reqs):
        if not pipelined:
            s.sendall(r)
        while data.count(b"hello from") < i + 1:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    resumed, sess = s.session_reused, s.session
    s.close()
    print(paths, "resumed" if resumed else "full", data.count(b"HTTP/1.1 200"))
    return sess

for v in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
    c = ctx(v)
    first = fetch(c, ["/a", "/b"])
    fetch(c, ["/c"], session=first)
fetch(ctx(ssl.TLSVersion.TLSv1_3), ["/d", "/e"], pipelined=True)
PYEOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s27 "Python ssl with key log: TLS 1.3 full then PSK-resumed, TLS 1.2 full then resumed, two pipelined requests in one TLS 1.3 record: 5 connections, $(access_count s27) requests (nginx access log)"
}

s28() { # Two connections, only the first client wrote its keys
    local KP=18454 f=tls-keylog-one-of-two.pcap g=tls-keylog-dsb.pcapng
    nginx_start s28 $KP "$(tls_srv $KP '')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    keylog_curl "$KEYLOGS/${f%.pcap}.keys" --http1.1 "https://localhost:$KP/a" "https://localhost:$KP/b"
    curlq -k --resolve "localhost:$KP:127.0.0.1" --http1.1 "https://localhost:$KP/c"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s28 "TLS 1.3, two curl connections, only the first with SSLKEYLOGFILE: 1 decrypted (2 requests), 1 opaque; $(access_count s28) requests (nginx access log)"
    # The same traffic with its key log embedded: one file carries both.
    editcap --inject-secrets "tls,$KEYLOGS/${f%.pcap}.keys" "$OUT/$f" "$OUT/$g"
    note $g "tls:$KP" s28 "tls-keylog-one-of-two.pcap with its key log in a pcapng Decryption Secrets Block (editcap --inject-secrets)"
}

s29() { # Node https: --tls-keylog, three requests on one keep-alive connection
    local KP=18455 f=tls-keylog-node.pcap
    command -v node >/dev/null || die "missing tool: node"
    nginx_start s29 $KP "$(tls_srv $KP '')"
    cap_start $f lo "tcp port $KP"
    rm -f "$KEYLOGS/${f%.pcap}.keys"
    node --tls-keylog="$KEYLOGS/${f%.pcap}.keys" - $KP <<'JSEOF'
const https = require("https");
const port = Number(process.argv[2]);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
const get = (p) => new Promise((ok, bad) => {
  https.get({ host: "127.0.0.1", port, path: p, servername: "localhost", agent }, (r) => {
    let n = 0; r.on("data", (d) => (n += d.length)); r.on("end", () => ok([p, r.statusCode, n]));
  }).on("error", bad);
});
(async () => {
  for (const p of ["/a", "/b", "/c"]) console.log(await get(p));
  agent.destroy();
})();
JSEOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "tls:$KP" s29 "Node https (--tls-keylog), keep-alive agent, 3 sequential GETs on one TLS 1.3 connection: $(access_count s29) requests (nginx access log)"
}

# ------------------------------------------------ findings (f01-f08) ---
# One scenario per finding kind (docs/findings.md), each from the client or
# server that shows it. Ports 18030-18040.

f01() { # Python requests without and with a Session: before and after, same server
    local P=18030 f1=python-requests-no-session.pcap f2=python-requests-session.pcap
    nginx_start f01 $P "$(srv $P)"
    cap_start $f1 lo "tcp port $P"
    python3 - $P <<'EOF'
import requests, sys
port = int(sys.argv[1])
for path in ("/a", "/b", "/c"):
    r = requests.get(f"http://127.0.0.1:{port}{path}")   # a new pool per call
    print(path, r.status_code, len(r.content))
EOF
    cap_stop "$CAP_PID"
    cap_start $f2 lo "tcp port $P"
    python3 - $P <<'EOF'
import requests, sys
port = int(sys.argv[1])
with requests.Session() as s:
    for path in ("/a", "/b", "/c"):
        r = s.get(f"http://127.0.0.1:{port}{path}")      # one pooled connection
        print(path, r.status_code, len(r.content))
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f1 "http:$P" f01 "python requests.get three times without a Session: a new connection per request, the client closes each"
    note $f2 "http:$P" f01 "python requests Session, three GETs: one connection reused (same server as python-requests-no-session.pcap: a before/after pair for keepwatch diff)"
}

f02() { # a client idle past a 1 s server keep-alive timeout
    local P=18032 f=python-requests-idle-past-server-timeout.pcap
    nginx_start f02 $P "    keepalive_timeout 1s;
$(srv $P)"
    cap_start $f lo "tcp port $P"
    python3 - $P <<'EOF'
import requests, sys, time
port = int(sys.argv[1])
with requests.Session() as s:
    print(s.get(f"http://127.0.0.1:{port}/a").status_code)
    time.sleep(2.0)     # nginx closes the idle pooled connection after 1 s
    print(s.get(f"http://127.0.0.1:{port}/b").status_code)   # urllib3 sees it dropped: new connection
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" f02 "nginx keepalive_timeout 1s; python requests Session: GET, 2 s idle (nginx closes), GET on a new connection"
}

f03() { # nginx keepalive_requests: the per-connection request limit
    local P=18033 f=nginx-keepalive-requests-limit.pcap
    nginx_start f03 $P "    keepalive_requests 3;
$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 $(for i in 1 2 3 4 5 6 7 8; do printf 'http://127.0.0.1:%s/a?%s ' $P $i; done)
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" f03 "nginx keepalive_requests 3, curl 8 URLs: connections of 3, 3 and 2 requests"
}

f04() { # Node http.get with agent: false
    local P=18034 f=node-agent-false.pcap
    command -v node >/dev/null || die "missing tool: node"
    nginx_start f04 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    node - $P <<'EOF'
const http = require("http");
const port = Number(process.argv[2]);
function get(path) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    }).on("error", reject);
  });
}
(async () => {
  for (const p of ["/a", "/b", "/c"]) console.log(p, await get(p));
})();
EOF
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" f04 "node http.get with agent: false, three sequential GETs: Connection: close on each, three connections"
}

f05() { # Go's client with a response body it does not read
    local P=18035 f=go-unread-body.pcap
    command -v go >/dev/null || die "missing tool: go (apt-get install golang-go)"
    mkdir -p "$TMP/gounread"
    cat > "$TMP/gounread/main.go" <<'EOF'
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	url := "http://127.0.0.1:" + os.Args[1] + "/big300k"
	for i := 0; i < 3; i++ {
		resp, err := http.Get(url)
		if err != nil {
			panic(err)
		}
		fmt.Println(i, resp.Status)
		resp.Body.Close() // body not read to EOF: Go closes the connection
	}
}
EOF
    (cd "$TMP/gounread" && GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" GO111MODULE=off \
        go build -o gounread main.go)
    nginx_start f05 $P "$(srv $P)"
    cap_start $f lo "tcp port $P"
    "$TMP/gounread/gounread" $P
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" f05 "go net/http, three GET /big300k closing the body unread: the client resets each connection"
}

f06() { # a forward proxy that closes right after each response, without notice
    local P=18036 Q=18037 f=forward-proxy-closes-without-notice.pcap
    nginx_start f06 $Q "$(srv $Q)"
    python3 "$HERE/close_proxy.py" $P >"$TMP/close_proxy.log" 2>&1 &
    local ppid=$!; PIDS+=("$ppid")
    wait_listen $P
    cap_start $f lo "tcp port $P"
    python3 - $P $Q <<'EOF'
import requests, sys, time
proxy, origin = sys.argv[1], sys.argv[2]
with requests.Session() as s:
    s.proxies = {"http": f"http://127.0.0.1:{proxy}"}
    for path in ("/a", "/b", "/c"):
        print(path, s.get(f"http://127.0.0.1:{origin}{path}").status_code)
        time.sleep(0.3)   # the proxy's FIN arrives; urllib3 sees the dead connection
EOF
    cap_stop "$CAP_PID"; stop_pid "$ppid"; stop_pid "$NGINX_PID"
    note $f "http:$P" f06 "python requests Session through samples/close_proxy.py, a forward proxy that closes right after each HTTP/1.1 response without Connection: close"
}

f07() { # nginx as a reverse proxy in front of nginx (default proxy_http_version 1.0)
    local P=18038 Q=18039 f=nginx-reverse-proxy-http10-upstream.pcap
    nginx_start f07 $P "$(srv $Q)
    server {
        listen 127.0.0.1:$P;
        location / { proxy_pass http://127.0.0.1:$Q; }
    }"
    cap_start $f lo "tcp port $P or tcp port $Q"
    curlq --http1.1 "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b" "http://127.0.0.1:$P/c"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P,http:$Q" f07 "nginx reverse proxy (proxy_pass, default HTTP/1.0 upstream) in front of nginx; curl 3 URLs: 1 client connection reused, 3 upstream connections"
}

f08() { # nginx with keep-alive switched off
    local P=18040 f=nginx-keepalive-timeout-0.pcap
    nginx_start f08 $P "    keepalive_timeout 0;
$(srv $P)"
    cap_start $f lo "tcp port $P"
    curlq --http1.1 "http://127.0.0.1:$P/a" "http://127.0.0.1:$P/b" "http://127.0.0.1:$P/c"
    cap_stop "$CAP_PID"; stop_pid "$NGINX_PID"
    note $f "http:$P" f08 "nginx keepalive_timeout 0, curl --http1.1 3 URLs: Connection: close on every response, 3 connections"
}

ALL=(s01 s02 s03 s04 s05 s07 s08 s09 s10 s11 s12 s13 s14 s15 s16 s17 s18 s19 s20 s21 s22 s23 s24 s25 s26 s27 s28 s29 f01 f02 f03 f04 f05 f06 f07 f08)
if [ $# -gt 0 ]; then RUN=("$@"); else RUN=("${ALL[@]}"); fi
for s in "${RUN[@]}"; do
    [ "$s" = s06 ] && s=s01   # s06 (format copies) is produced by s01
    declare -F "$s" >/dev/null || die "unknown scenario $s"
    log "=== $s"
    "$s"
done
log "done; now run: python3 samples/facts.py"
