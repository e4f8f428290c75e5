#!/usr/bin/env python3
"""A tiny forward HTTP proxy that closes without notice (for samples/record.sh).

    python3 close_proxy.py LISTEN_PORT

Listens on 127.0.0.1 only. For each connection it reads one request
(absolute-form target, as clients send to a forward proxy), fetches it from
the origin with http.client (which must be on 127.0.0.1 as well), answers
HTTP/1.1 with a Content-Length and *no* `Connection: close`, and then closes
the client connection at once: the protocol violation behind the
`server-closes-without-notice` finding.
"""
import http.client
import socket
import sys
import threading
import urllib.parse


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def serve(conn):
    try:
        head = read_head(conn)
        if head is None:
            return
        method, target, _ = head.split("\r\n", 1)[0].split(" ", 2)
        url = urllib.parse.urlsplit(target)
        if url.hostname not in ("127.0.0.1", "localhost"):
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        up = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
        up.request(method, url.path or "/")
        r = up.getresponse()
        body = r.read()
        up.close()
        conn.sendall(
            f"HTTP/1.1 {r.status} {r.reason}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
        )
    finally:
        conn.close()  # right after the response, without Connection: close


def main():
    port = int(sys.argv[1])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
