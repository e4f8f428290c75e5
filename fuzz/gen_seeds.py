#!/usr/bin/env python3
"""Write small seed inputs for the fuzz targets into fuzz/corpus/<target>/.

The input formats are described in fuzz/src/lib.rs. Run from anywhere:
    python3 fuzz/gen_seeds.py
"""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
C, S = 0, 4  # direction bit in the stream-event op byte


def data(d, b, step=1):
    """Data events; chunks of at most 255 bytes."""
    out = b""
    for i in range(0, max(len(b), 1), 255):
        chunk = b[i:i + 255]
        out += bytes([(step << 4) | d | 0, len(chunk)]) + chunk
    return out


def gap(d, n):
    if n < 0x10000:
        return bytes([0x10 | d | 2]) + struct.pack("<H", n)
    return bytes([0x10 | d | 8 | 2]) + struct.pack("<I", n)


def fin(d):
    return bytes([0x10 | d | 3])


# --- HTTP/1.x -------------------------------------------------------------
GET = b"GET /a HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5, max=100\r\n\r\nhello"
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\n")
CLOSE = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nbody until close"
POST = (b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
        b"Content-Length: 4\r\n\r\n")
UPGRADE = (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
           b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"
CONNECT = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"

http = {
    "get": data(C, GET) + data(S, RESP),
    "pipelined": data(C, GET + GET) + data(S, RESP + CHUNKED) + fin(C) + fin(S),
    "close": data(C, GET.replace(b"HTTP/1.1", b"HTTP/1.0")) + data(S, CLOSE) + fin(S),
    "continue": data(C, POST) + data(S, b"HTTP/1.1 100 Continue\r\n\r\n")
    + data(C, b"abcd") + data(S, RESP),
    "gap": data(C, GET) + data(S, RESP[:20]) + gap(S, 30) + data(S, b"x") + data(C, GET),
    "upgrade": data(C, UPGRADE) + data(S, SWITCH + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"),
    "connect": data(C, CONNECT) + data(S, b"HTTP/1.1 200 Connection established\r\n\r\n")
    + data(C, b"\x16\x03\x01\x00\x05hello"),
    "split": b"".join(data(C, GET[i:i + 3]) for i in range(0, len(GET), 3))
    + b"".join(data(S, CHUNKED[i:i + 7]) for i in range(0, len(CHUNKED), 7)),
}

# --- TLS --------------------------------------------------------------------
def u16(n):
    return struct.pack(">H", n)


def vec8(b):
    return bytes([len(b)]) + b


def vec16(b):
    return u16(len(b)) + b


def record(typ, body):
    return bytes([typ, 3, 3]) + vec16(body)


def hs(typ, body):
    return bytes([typ]) + struct.pack(">I", len(body))[1:] + body


def ext(i, b):
    return u16(i) + vec16(b)


def alpn(protos):
    return ext(16, vec16(b"".join(vec8(p) for p in protos)))


def client_hello(tls13=True, ticket=b"", psk=False):
    b = u16(0x0303) + bytes((i * 7) & 0xff for i in range(32)) + vec8(b"\x01" * 32)
    b += vec16(bytes([0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0x9c]))
    b += vec8(b"\x00")
    e = ext(0x0a0a, b"") + ext(0, vec16(b"\x00" + vec16(b"example.com")))
    e += ext(10, vec16(bytes([0, 0x1d, 0, 0x17]))) + alpn([b"h2", b"http/1.1"])
    e += ext(35, ticket)
    if tls13:
        e += ext(43, vec8(bytes([0x7a, 0x7a, 3, 4, 3, 3]))) + ext(45, vec8(b"\x01"))
        e += ext(51, vec16(u16(0x1d) + vec16(b"\x42" * 32)))
        e += ext(42, b"")
    if psk:
        e += ext(41, vec16(vec16(b"\x07" * 16) + b"\0\0\0\0") + vec16(vec8(b"\x09" * 32)))
    return hs(1, b + vec16(e))


def server_hello(tls13=True, alpn_p=b"h2"):
    b = u16(0x0303) + b"\xab" * 32 + vec8(b"\x01" * 32) + u16(0x1301 if tls13 else 0xc02f) + b"\0"
    e = b""
    if tls13:
        e += ext(43, u16(0x0304)) + ext(51, u16(0x1d) + vec16(b"\x24" * 32))
    e += alpn([alpn_p])
    return hs(2, b + vec16(e))


CH13 = record(22, client_hello())
SH13 = record(22, server_hello()) + record(20, b"\x01") + record(23, b"\x55" * 40)
CH12 = record(22, client_hello(tls13=False, ticket=b"\xcc" * 16))
SH12 = (record(22, server_hello(tls13=False, alpn_p=b"http/1.1") + hs(11, b"\0\0\0")
               + hs(14, b"")))
tls = {
    "tls13": data(C, CH13) + data(S, SH13) + data(C, record(20, b"\x01") + record(23, b"\x66" * 30))
    + data(C, record(23, b"\x01" * 20)) + data(S, record(23, b"\x02" * 50)) + data(S, record(21, b"\x99" * 20)),
    "tls12": data(C, CH12) + data(S, SH12) + data(C, record(22, hs(16, b"\x20" * 33)) + record(20, b"\x01")
                                                + record(22, b"\x77" * 40))
    + data(S, record(22, hs(4, b"\0\0\0\x10" + vec16(b"\xee" * 8))) + record(20, b"\x01") + record(22, b"\x88" * 40))
    + data(C, record(23, b"\x01" * 30)),
    "psk": data(C, record(22, client_hello(psk=True, ticket=b"\xcc" * 8))) + data(S, SH13),
    "alert": data(C, CH13) + data(S, record(21, b"\x02\x28")),
    "gap": data(C, CH13[:40]) + gap(C, 100) + data(C, CH13[140:]) + data(S, SH13),
}

# --- HTTP/2 -----------------------------------------------------------------
def frame(typ, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([typ, flags]) + struct.pack(">I", sid) + payload


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = frame(4, 0, 0, u16(3) + struct.pack(">I", 100))
h2 = {
    "basic": data(C, PREFACE + SETTINGS + frame(1, 5, 1, b"\x82\x86\x84"))
    + data(S, SETTINGS + frame(4, 1, 0, b"") + frame(1, 4, 1, b"\x88") + frame(0, 1, 1, b"hello"))
    + data(C, frame(4, 1, 0, b"")),
    "multi": data(C, PREFACE + SETTINGS + frame(1, 4, 1, b"\x82") + frame(1, 4, 3, b"\x82")
                  + frame(0, 9, 3, b"\x02ab\0\0") + frame(3, 0, 1, b"\0\0\0\x08"))
    + data(S, frame(5, 4, 1, b"\0\0\0\x02\x88") + frame(1, 5, 3, b"\x88")
           + frame(7, 0, 0, b"\0\0\0\x03\0\0\0\0") + frame(6, 0, 0, b"\0" * 8)),
    "gap": data(C, PREFACE + SETTINGS) + gap(C, 20) + data(C, frame(1, 5, 5, b"\x82"))
    + data(S, SETTINGS) + gap(S, 3) + data(S, frame(8, 0, 0, b"\0\0\x10\0")),
    # Leading server fin: the target builds H2Inspector::after_upgrade().
    "upgrade": fin(S) + data(C, PREFACE + SETTINGS) + data(S, SETTINGS + frame(1, 5, 1, b"\x88")),
}

# --- flow table --------------------------------------------------------------
SYN, FIN, RST, PSH, ACK = 2, 1, 4, 8, 16


class Conn:
    def __init__(self):
        self.seq = [0, 0]  # offsets from each side's base ISN
        self.out = b""

    def seg(self, d, flags, payload=b"", step=0, cut=False):
        b0 = d | (step << 1) | (8 if cut else 0)
        self.out += bytes([b0, flags]) + struct.pack("<II", self.seq[d] & 0xffffffff,
                                                     self.seq[1 - d] & 0xffffffff)
        self.out += bytes([len(payload)]) + payload
        self.seq[d] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        return self

    def handshake(self):
        return self.seg(0, SYN).seg(1, SYN | ACK).seg(0, ACK)

    def send(self, d, b, step=0):
        for i in range(0, len(b), 200):
            self.seg(d, PSH | ACK, b[i:i + 200], step)
        return self


flow = {
    "http": Conn().handshake().send(0, GET).send(1, RESP).send(0, GET, 1).send(1, RESP)
    .seg(0, FIN | ACK).seg(1, FIN | ACK).seg(0, ACK).out,
    "tls": Conn().handshake().send(0, CH13).send(1, SH13).send(0, record(23, b"\x01" * 20))
    .seg(1, RST).out,
    "midstream": Conn().send(1, RESP).send(0, GET).send(1, CHUNKED, 3).out,
    "h2c": Conn().handshake().send(0, PREFACE + SETTINGS + frame(1, 5, 1, b"\x82"))
    .send(1, SETTINGS + frame(1, 5, 1, b"\x88")).seg(0, FIN | ACK).out,
    "upgrade": Conn().handshake().send(0, UPGRADE).send(1, SWITCH + SETTINGS)
    .send(0, PREFACE + SETTINGS).out,
}
# Out of order and retransmitted segments: swap two payload segments.
c = Conn().handshake()
c.send(0, GET)
a = c.out
c.send(0, GET)
b_ = c.out[len(a):]
c.out = a
c.seq[0] -= 0
ooo = Conn().handshake()
ooo.seq = list(c.seq)
flow["reorder"] = a + ooo.send(0, GET).out + b_ + b_ + Conn().send(1, RESP).out
# Port reuse: two connections on the same 4-tuple, a new SYN after the close.
c2 = Conn().handshake().send(0, GET).send(1, RESP).seg(0, FIN | ACK).seg(1, FIN | ACK)
c2.seq = [100000, 200000]
c2.handshake().send(0, GET).send(1, RESP, 2)
flow["reuse"] = c2.out
# Snaplen cut payload.
flow["cut"] = Conn().handshake().seg(0, PSH | ACK, GET[:20], cut=True).send(1, RESP).out

# --- capture files (capture_reader) ---------------------------------------
# First byte: buffer size selector (0: 64 B, 1: 4 KiB, 2: 1 MiB); then the file.
import gzip as _gzip
SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "samples", "captures")
capture = {}
for name in ["curl-any-sll.pcap", "curl-any-sll2.pcap", "curl-http11-reuse.pcap",
             "curl-http11-reuse-nsec.pcap", "curl-http11-reuse.pcapng",
             "curl-http11-ipv6.pcap"]:
    with open(os.path.join(SAMPLES, name), "rb") as f:
        b = f.read()
    capture[name + "-64"] = bytes([0]) + b
    capture[name + "-4k"] = bytes([1]) + b
plain = open(os.path.join(SAMPLES, "curl-http11-reuse.pcap"), "rb").read()
capture["gzip"] = bytes([0]) + _gzip.compress(plain)
capture["cut"] = bytes([0]) + plain[:len(plain) - 30]


def pcap_records(b):
    """(header, data) of each record of a little-endian classic pcap."""
    at, out = 24, []
    while at + 16 <= len(b):
        n = struct.unpack_from("<I", b, at + 8)[0]
        out.append((b[at:at + 16], b[at + 16:at + 16 + n]))
        at += 16 + n
    return out


# Big-endian and Kuznetzov (modified, 24-byte record headers) variants.
hdr = plain[:24]
be = struct.pack(">IHHiIII", *struct.unpack("<IHHiIII", hdr))
kuz = struct.pack("<IHHiIII", 0xa1b2cd34, *struct.unpack("<IHHiIII", hdr)[1:])
for h, d in pcap_records(plain):
    be += struct.pack(">IIII", *struct.unpack("<IIII", h)) + d
    kuz += h + struct.pack("<IHBB", 1, 0x0800, 0, 0) + d
capture["be"] = bytes([1]) + be
capture["kuznetzov"] = bytes([0]) + kuz

# capture_map: the same files without the selector byte (the input is the file).
capture_map = {name: b[1:] for name, b in capture.items()}

for target, seeds in [("http_inspector", http), ("tls_inspector", tls),
                      ("h2_inspector", h2), ("flow_table", flow),
                      ("capture_reader", capture), ("capture_map", capture_map)]:
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for name, b in seeds.items():
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(b)
    print(f"{target}: {len(seeds)} seeds in {d}")
