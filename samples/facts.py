#!/usr/bin/env python3
"""Compute keepwatch's expected facts for every sample capture with tshark.

    python3 samples/facts.py            # writes samples/expected.json
    python3 samples/facts.py --check    # exit 1 if expected.json is out of date

Reads samples/manifest.tsv (written by record.sh): file, decode-as list
(proto:port,...), scenario id, description.  Python stdlib only; needs
tshark/capinfos (Wireshark 4.0 was used).  See README.md for the schema.
"""
import collections
import json
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPS = os.path.join(HERE, "captures")
MANIFEST = os.path.join(HERE, "manifest.tsv")
EXPECTED = os.path.join(HERE, "expected.json")

PREFS = [
    "-o", "tcp.desegment_tcp_streams:TRUE",
    "-o", "tcp.reassemble_out_of_order:TRUE",
    "-o", "http.desegment_headers:TRUE",
    "-o", "http.desegment_body:TRUE",
]

FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream",
    "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
    "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.fin", "tcp.flags.reset",
    "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.payload",
    "http.request.method", "http.response.code",
    "tls.handshake.type", "tls.handshake.extensions_server_name",
    "tls.handshake.extensions_alpn_str", "tls.handshake.extensions.supported_version",
    "tls.handshake.version", "tls.handshake.extension.type", "tls.resumed",
    "tls.record.content_type",
    "http2.type", "http2.streamid",
]

LINKTYPES = {0: "NULL", 1: "ETHERNET", 101: "RAW", 113: "LINUX_SLL", 228: "IPV4",
             229: "IPV6", 276: "LINUX_SLL2"}
TLS_VERSIONS = {0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
REQ_LINE = re.compile(rb"(?:GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|TRACE) \S+ HTTP/1\.[01]\r\n")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def file_header(path):
    """Format, timestamp precision and link type straight from the file header."""
    with open(path, "rb") as f:
        head = f.read(64)
        magic = head[:4]
        if magic == b"\x0a\x0d\x0d\x0a":  # pcapng: SHB, then the first IDB
            bo = "<" if head[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
            shb_len = struct.unpack(bo + "I", head[4:8])[0]
            off = shb_len
            while True:  # skip blocks before the first IDB (e.g. Decryption Secrets)
                f.seek(off)
                blk = f.read(16)
                btype, blen, linktype = struct.unpack(bo + "IIH", blk[:10])
                if btype == 1:
                    return "pcapng", None, linktype
                assert btype == 0x0000000A and blen > 0, "first block after SHB is not an IDB"
                off += blen
        for bo in "<>":
            m = struct.unpack(bo + "I", magic)[0]
            if m in (0xA1B2C3D4, 0xA1B23C4D):
                linktype = struct.unpack(bo + "I", head[20:24])[0] & 0xFFFF
                return "pcap", "usec" if m == 0xA1B2C3D4 else "nsec", linktype
    raise ValueError(f"{path}: unknown capture format")


def capinfos(path):
    out = run(["capinfos", "-M", "-c", "-E", "-t", path])
    info = {}
    for line in out.splitlines():
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    return info


def endpoint(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def split(v):
    return [x for x in v.split(",") if x != ""] if v else []


def reassemble(segs, isn):
    """Bytes of one direction, placed by sequence number (dups/reorder safe)."""
    data = {}
    for seq, payload in segs:
        off = (seq - isn - 1) % (1 << 32) if isn is not None else seq
        for i, b in enumerate(payload):
            data.setdefault(off + i, b)
    if not data:
        return b"", 0
    out, holes = bytearray(), 0
    for i in range(min(data), max(data) + 1):
        if i in data:
            out.append(data[i])
        else:
            holes += 1
    return bytes(out), holes


def keylog_of(fname):
    """keylogs/NAME.keys: the key log the clients of NAME.pcap wrote (record.sh s24-s29)."""
    k = os.path.join(HERE, "keylogs", os.path.splitext(fname)[0] + ".keys")
    return k if os.path.exists(k) else None


def decrypted_facts(path, keys, decode_args):
    """What tshark sees inside TLS with the key log: HTTP/1.x requests and
    response codes, HTTP/2 HEADERS streams, per TCP stream."""
    fields = ["tcp.stream", "tcp.srcport", "http.request.method", "http.response.code",
              "http2.type", "http2.streamid"]
    out = run(["tshark", "-n", "-r", path, *PREFS, *decode_args,
               "-o", f"tls.keylog_file:{keys}", "-T", "fields",
               "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t",
               *sum((["-e", f] for f in fields), [])])
    per = collections.OrderedDict()
    for line in out.splitlines():
        r = dict(zip(fields, line.split("\t")))
        if r["tcp.stream"] == "":
            continue
        d = per.setdefault(int(r["tcp.stream"]), {"methods": [], "codes": [], "h2": {}})
        d["methods"] += split(r["http.request.method"])
        d["codes"] += [int(c) for c in split(r["http.response.code"])]
        for t, sid_ in zip(split(r["http2.type"]), split(r["http2.streamid"])):
            if t == "1":
                d["h2"].setdefault(r["tcp.srcport"], set()).add(int(sid_))
    return per


def analyze(fname, decode, sid, desc):
    path = os.path.join(CAPS, fname)
    fmt, tsprec, linktype = file_header(path)
    ci = capinfos(path)
    decode_args, decode_list = [], []
    for item in split(decode):
        proto, port = item.split(":")
        decode_args += ["-d", f"tcp.port=={port},{proto}"]
        decode_list.append({"port": int(port), "as": proto})
    out = run(["tshark", "-n", "-r", path, *PREFS, *decode_args, "-T", "fields",
               "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=/t",
               *sum((["-e", f] for f in FIELDS), [])])
    rows = [dict(zip(FIELDS, line.split("\t"))) for line in out.splitlines()]
    keys = keylog_of(fname)
    dec = decrypted_facts(path, keys, decode_args) if keys else None
    streams = collections.OrderedDict()
    for r in rows:
        if r["tcp.stream"] == "":
            continue
        st = streams.setdefault(int(r["tcp.stream"]), {"frames": []})
        st["frames"].append(r)

    conns, notes_file = [], []
    for sidx, st in streams.items():
        frames = st["frames"]
        ep = lambda r, d: endpoint(r["ip." + d] or r["ipv6." + d], r[f"tcp.{d}port"])
        src = lambda r: ep(r, "src")
        dst = lambda r: ep(r, "dst")
        syn = next((r for r in frames if r["tcp.flags.syn"] == "1" and r["tcp.flags.ack"] == "0"), None)
        if syn is not None:
            client, server = src(syn), dst(syn)
        else:  # no SYN: the side on a decode-as (server) port is the server
            r0 = frames[0]
            sports = {d["port"] for d in decode_list}
            if int(r0["tcp.srcport"]) in sports:
                client, server = dst(r0), src(r0)
            else:
                client, server = src(r0), dst(r0)
        synack = next((r for r in frames if r["tcp.flags.syn"] == "1" and r["tcp.flags.ack"] == "1"
                       and src(r) == server), None)
        hs_done = False
        if syn is not None and synack is not None:
            want = (int(synack["tcp.seq_raw"]) + 1) % (1 << 32)
            hs_done = any(src(r) == client and r["tcp.flags.syn"] == "0" and r["tcp.flags.ack"] == "1"
                          and int(r["tcp.ack_raw"]) == want
                          and int(r["frame.number"]) > int(synack["frame.number"]) for r in frames)
        closed_by = "open"
        close_frame = None
        for r in frames:
            if r["tcp.flags.reset"] == "1" or r["tcp.flags.fin"] == "1":
                who = "client" if src(r) == client else "server"
                closed_by = who + ("-reset" if r["tcp.flags.reset"] == "1" else "")
                close_frame = int(r["frame.number"])
                break
        fins = {"client": 0, "server": 0}
        rsts = {"client": 0, "server": 0}
        for r in frames:
            who = "client" if src(r) == client else "server"
            fins[who] += r["tcp.flags.fin"] == "1"
            rsts[who] += r["tcp.flags.reset"] == "1"

        methods, codes = [], []
        ch = sh = 0
        sni, alpn_off, alpn_sel, versions = [], [], [], []
        resumed_flags, sh_psk = [], []
        srv_cert = 0
        h2_headers = {"client": 0, "server": 0}
        h2_streams = {"client": set(), "server": set()}
        app_data = {"client": 0, "server": 0}
        alerts = {"client": 0, "server": 0}
        segs = {"client": [], "server": []}
        for r in frames:
            who = "client" if src(r) == client else "server"
            methods += split(r["http.request.method"])
            codes += [int(c) for c in split(r["http.response.code"])]
            if r["tcp.payload"]:
                segs[who].append((int(r["tcp.seq_raw"]), bytes.fromhex(r["tcp.payload"].replace(":", ""))))
            hts = split(r["tls.handshake.type"])
            app_data[who] += split(r["tls.record.content_type"]).count("23")
            alerts[who] += split(r["tls.record.content_type"]).count("21")
            if "1" in hts and who == "client":
                ch += hts.count("1")
                sni += split(r["tls.handshake.extensions_server_name"])
                alpn_off.append(split(r["tls.handshake.extensions_alpn_str"]))
            if "2" in hts and who == "server":
                sh += hts.count("2")
                alpn_sel += split(r["tls.handshake.extensions_alpn_str"])
                sv = split(r["tls.handshake.extensions.supported_version"])
                hv = split(r["tls.handshake.version"])
                v = int(sv[0], 16) if sv else int(hv[hts.index("2")], 16)
                versions.append(TLS_VERSIONS.get(v, hex(v)))
                sh_psk.append("41" in split(r["tls.handshake.extension.type"]))
            if "11" in hts and who == "server":
                srv_cert += 1
            if r["tls.resumed"]:
                resumed_flags.append(True)
            types = split(r["http2.type"])
            sids = split(r["http2.streamid"])
            for t, s in zip(types, sids):
                if t == "1":
                    h2_headers[who] += 1
                    h2_streams[who].add(int(s))

        notes = []
        final = [c for c in codes if c >= 200]
        interim = [c for c in codes if 100 <= c < 200]
        is_tls = ch > 0 or sh > 0
        conn = collections.OrderedDict()
        conn["stream"] = sidx
        conn["client"] = client
        conn["server"] = server
        conn["first_frame"] = int(frames[0]["frame.number"])
        conn["last_frame"] = int(frames[-1]["frame.number"])
        conn["packets"] = len(frames)
        conn["syn_seen"] = syn is not None
        conn["synack_seen"] = synack is not None
        conn["handshake_complete"] = hs_done
        conn["closed_by"] = closed_by
        conn["close_frame"] = close_frame
        conn["fin"] = fins
        conn["rst"] = rsts
        # plaintext HTTP/1.x, cross-checked against request/status lines in the
        # reassembled payload (independent of tshark's HTTP dissector)
        isn = {"client": int(syn["tcp.seq_raw"]) if syn else None,
               "server": int(synack["tcp.seq_raw"]) if synack else None}
        c_bytes, c_holes = reassemble(segs["client"], isn["client"])
        s_bytes, s_holes = reassemble(segs["server"], isn["server"])
        p_req = len(REQ_LINE.findall(c_bytes)) if not is_tls else 0
        p_codes = [int(m) for m in STATUS_LINE.findall(s_bytes)] if not is_tls and not h2_headers["client"] else []
        conn["requests"] = len(methods)
        conn["request_methods"] = methods
        conn["final_responses"] = len(final)
        conn["interim_responses"] = len(interim)
        conn["response_codes"] = codes
        if not is_tls and not h2_headers["client"] and not h2_headers["server"]:
            if p_req != len(methods):
                notes.append(f"tshark http.request.method count {len(methods)} != {p_req} request lines "
                             f"in the reassembled client payload; requests uses the payload count")
                conn["tshark_requests"] = len(methods)
                conn["requests"] = p_req
            p_final = [c for c in p_codes if c >= 200]
            p_interim = [c for c in p_codes if c < 200]
            if len(p_final) != len(final) or len(p_interim) != len(interim):
                notes.append(f"tshark http.response.code {codes} != status lines {p_codes} in the "
                             f"reassembled server payload; responses use the payload count")
                conn["tshark_response_codes"] = codes
                conn["final_responses"] = len(p_final)
                conn["interim_responses"] = len(p_interim)
                conn["response_codes"] = p_codes
            if c_holes or s_holes:
                notes.append(f"payload reassembly has holes (client {c_holes} B, server {s_holes} B)")
        conn["payload_bytes"] = {"client": len(c_bytes), "server": len(s_bytes)}
        conn["tls"] = None
        if is_tls:
            resumed = bool(resumed_flags) or any(sh_psk)
            conn["tls"] = collections.OrderedDict([
                ("client_hellos", ch),
                ("server_hellos", sh),
                ("sni", sni),
                ("alpn_offered", alpn_off),
                ("alpn_selected", alpn_sel[0] if alpn_sel else None),
                ("version", versions[0] if versions else None),
                ("server_certificate_seen", srv_cert > 0),
                ("resumed", resumed),
                ("resumed_basis", "tls.resumed" if resumed_flags else
                 ("ServerHello pre_shared_key extension" if any(sh_psk) else None)),
                ("app_data_records", app_data),
                ("alert_records", alerts),
            ])
            if versions and versions[0] == "TLSv1.3" and not alpn_sel and alpn_off:
                notes.append("TLS 1.3: the selected ALPN is in the encrypted EncryptedExtensions, not visible")
            notes.append("HTTP inside TLS is encrypted: requests/responses are not visible to tshark")
        conn["http2"] = None
        if h2_headers["client"] or h2_headers["server"]:
            conn["http2"] = collections.OrderedDict([
                ("headers_frames", h2_headers["client"] + h2_headers["server"]),
                ("client_headers_frames", h2_headers["client"]),
                ("server_headers_frames", h2_headers["server"]),
                ("request_streams", sorted(h2_streams["client"])),
                ("response_streams", sorted(h2_streams["server"])),
            ])
        if is_tls and dec is not None:
            d = dec.get(sidx, {"methods": [], "codes": [], "h2": {}})
            cport = client.rsplit(":", 1)[1]
            h2c = sorted(d["h2"].get(cport, set()))
            h2s = sorted(set().union(*[v for k, v in d["h2"].items() if k != cport]))
            conn["decrypted_with_keys"] = collections.OrderedDict([
                ("keylog", os.path.basename(keys)),
                ("requests", len(d["methods"])),
                ("request_methods", d["methods"]),
                ("final_responses", len([c for c in d["codes"] if c >= 200])),
                ("response_codes", d["codes"]),
                ("http2_request_streams", h2c),
                ("http2_response_streams", h2s),
            ])
        if notes:
            conn["note"] = " | ".join(notes)
        conns.append(conn)

    summary = collections.OrderedDict()
    summary["connections"] = len(conns)
    summary["handshakes_complete"] = sum(c["handshake_complete"] for c in conns)
    summary["requests"] = sum(c["requests"] for c in conns)
    summary["final_responses"] = sum(c["final_responses"] for c in conns)
    summary["interim_responses"] = sum(c["interim_responses"] for c in conns)
    summary["tls_client_hellos"] = sum(c["tls"]["client_hellos"] for c in conns if c["tls"])
    summary["tls_resumed"] = sum(c["tls"]["resumed"] for c in conns if c["tls"])
    summary["http2_headers_frames"] = sum(c["http2"]["headers_frames"] for c in conns if c["http2"])
    summary["http2_request_streams"] = sum(len(c["http2"]["request_streams"]) for c in conns if c["http2"])
    cb = collections.Counter(c["closed_by"] for c in conns)
    summary["closed_by"] = {k: cb[k] for k in sorted(cb)}

    entry = collections.OrderedDict()
    entry["scenario"] = sid
    entry["description"] = desc
    entry["format"] = fmt
    entry["timestamp_precision"] = tsprec or ci.get("File timestamp precision", "").split(" ")[0]
    entry["linktype"] = linktype
    entry["linktype_name"] = LINKTYPES.get(linktype, str(linktype))
    entry["wireshark_encapsulation"] = ci.get("File encapsulation")
    entry["packets"] = int(ci["Number of packets"])
    entry["size_bytes"] = os.path.getsize(path)
    entry["decode_as"] = decode_list
    entry["summary"] = summary
    entry["connections"] = conns
    return entry


def main():
    files = collections.OrderedDict()
    with open(MANIFEST) as f:
        for line in f:
            if line.strip():
                fname, decode, sid, desc = line.rstrip("\n").split("\t")
                files[fname] = (decode, sid, desc)
    ver = run(["tshark", "--version"]).splitlines()[0]
    doc = collections.OrderedDict()
    doc["generated_by"] = "samples/facts.py"
    doc["tshark"] = ver
    doc["tshark_prefs"] = [p for p in PREFS if p != "-o"]
    doc["capture_dir"] = "captures"
    doc["captures"] = collections.OrderedDict(
        (fname, analyze(fname, *files[fname])) for fname in sorted(files))
    text = json.dumps(doc, indent=1) + "\n"
    if "--check" in sys.argv:
        old = open(EXPECTED).read() if os.path.exists(EXPECTED) else ""
        sys.exit(0 if old == text else 1)
    with open(EXPECTED, "w") as f:
        f.write(text)
    for fname, e in doc["captures"].items():
        s = e["summary"]
        print(f"{fname:40} {e['linktype_name']:10} pk={e['packets']:4} conn={s['connections']} "
              f"hs={s['handshakes_complete']} req={s['requests']} resp={s['final_responses']} "
              f"ch={s['tls_client_hellos']} res={s['tls_resumed']} h2={s['http2_headers_frames']} "
              f"closed={dict(s['closed_by'])}")
        for c in e["connections"]:
            if "note" in c and "encrypted" not in c["note"]:
                print("    NOTE stream", c["stream"], c["note"])


if __name__ == "__main__":
    main()
