#!/usr/bin/python3
"""Minimal authoritative-style upstream for the parasold benchmark.

Server mode (default):

    upstream.py serve --listen 127.0.0.1 --port UPORT

answers every UDP query on a loopback address:

* QTYPE A, class IN  -> one A record 192.0.2.N (N derived from the name, so
  the answer is stable), TTL 3600;
* any other QTYPE    -> NOERROR / NODATA (empty answer);
* malformed input    -> dropped (or FORMERR when the header is readable).

The reply is built directly from the query bytes (header and question copied,
answer owner is a compression pointer to the question), which keeps the
responder fast enough that the warm-up pass is not limited by Python.

The special name ``count.upstream.bench.`` (TXT) is a control query: the
answer is a TXT record holding the number of (non-control) queries answered
so far.  It is not counted itself.  The run script uses it to check that a
measured run caused no upstream traffic (i.e. every answer came from cache).

Client modes (used by run.sh; stdlib only):

    upstream.py count --server 127.0.0.1 --port UPORT
        print the upstream's query counter
    upstream.py probe --server 127.0.0.1 --port PORT [--name N] [--tries K]
                      [--no-answer-ok]
        exit 0 once the server answers an A query for N with NOERROR and
        at least one answer record (--no-answer-ok: any NOERROR response,
        for the benchmark's bare echo server, which answers with the query)
    upstream.py freeport [--count K]
        print K distinct loopback ports that are free for UDP and TCP

Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import random
import signal
import socket
import struct
import sys
import time
import zlib

TTL = 3600
CONTROL_NAME = b"\x05count\x08upstream\x05bench\x00"
T_A = 1
T_TXT = 16
C_IN = 1


def _loopback(addr: str) -> str:
    if not ipaddress.ip_address(addr).is_loopback:
        raise SystemExit(f"refusing non-loopback address {addr}")
    return addr


def _question_end(pkt: bytes) -> int:
    """Offset just past QNAME of the first question, or -1 if malformed."""
    i = 12
    n = len(pkt)
    while i < n:
        ln = pkt[i]
        if ln == 0:
            return i + 1
        if ln & 0xC0:  # compression pointers / extended labels: not in a query
            return -1
        i += 1 + ln
    return -1


def build_reply(pkt: bytes, counter: int) -> tuple[bytes | None, bool]:
    """Return (reply or None, counted)."""
    if len(pkt) < 12:
        return None, False
    qid, flags, qd, _an, _ns, _ar = struct.unpack_from("!6H", pkt, 0)
    if flags & 0x8000:  # a response: ignore
        return None, False
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100
    qend = _question_end(pkt) if qd == 1 else -1
    if qend < 0 or qend + 4 > len(pkt) or opcode != 0:
        rcode = 1 if opcode == 0 else 4  # FORMERR / NOTIMP
        hdr = struct.pack("!6H", qid, 0x8000 | (opcode << 11) | rd | 0x80 | rcode,
                          0, 0, 0, 0)
        return hdr, True
    qname = pkt[12:qend]
    qtype, qclass = struct.unpack_from("!HH", pkt, qend)
    question = pkt[12:qend + 4]
    rflags = 0x8000 | 0x0400 | rd | 0x0080  # QR AA RD(copied) RA, NOERROR

    if qtype == T_TXT and qname.lower() == CONTROL_NAME:
        txt = str(counter).encode()
        rdata = bytes([len(txt)]) + txt
        hdr = struct.pack("!6H", qid, rflags, 1, 1, 0, 0)
        rr = b"\xc0\x0c" + struct.pack("!HHIH", T_TXT, C_IN, 0, len(rdata)) + rdata
        return hdr + question + rr, False

    if qtype == T_A and qclass == C_IN:
        octet = zlib.crc32(qname.lower()) % 254 + 1
        hdr = struct.pack("!6H", qid, rflags, 1, 1, 0, 0)
        rr = b"\xc0\x0c" + struct.pack("!HHIH", T_A, C_IN, TTL, 4) + bytes(
            (192, 0, 2, octet))
        return hdr + question + rr, True

    hdr = struct.pack("!6H", qid, rflags, 1, 0, 0, 0)
    return hdr + question, True


def serve(addr: str, port: int) -> None:
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET,
                         socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    except OSError:
        pass
    sock.bind((addr, port))
    stop = False

    def _stop(_sig, _frm):
        nonlocal stop
        stop = True
        sock.close()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"upstream: listening on {addr}@{port} pid={os.getpid()}",
          file=sys.stderr, flush=True)
    counter = 0
    recvfrom = sock.recvfrom
    sendto = sock.sendto
    while not stop:
        try:
            pkt, peer = recvfrom(4096)
        except OSError:
            break
        if not ipaddress.ip_address(peer[0]).is_loopback:
            continue
        reply, counted = build_reply(pkt, counter)
        if counted:
            counter += 1
        if reply is not None:
            try:
                sendto(reply, peer)
            except OSError:
                pass
    print(f"upstream: stopped after {counter} queries", file=sys.stderr,
          flush=True)


def _encode_name(name: str) -> bytes:
    out = b""
    for label in name.strip(".").split("."):
        if label:
            b = label.encode("ascii")
            out += bytes([len(b)]) + b
    return out + b"\x00"


def _ask(server: str, port: int, name: str, qtype: int, timeout: float):
    qid = random.randrange(65536)
    pkt = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 0) + _encode_name(name) + \
        struct.pack("!HH", qtype, C_IN)
    with socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET,
                       socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(pkt, (server, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = s.recv(4096)
            if len(data) >= 12 and struct.unpack_from("!H", data)[0] == qid:
                return data
    raise TimeoutError


def count(server: str, port: int) -> int:
    for _ in range(5):
        try:
            data = _ask(server, port, "count.upstream.bench.", T_TXT, 1.0)
        except (TimeoutError, socket.timeout, OSError):
            continue
        # answer RR: 2-byte name pointer, type, class, ttl, rdlength, rdata
        qend = _question_end(data) + 4
        rdlen = struct.unpack_from("!H", data, qend + 10)[0]
        rdata = data[qend + 12:qend + 12 + rdlen]
        return int(rdata[1:1 + rdata[0]].decode())
    raise SystemExit("upstream did not answer the count query")


def probe(server: str, port: int, name: str, tries: int,
          min_answers: int = 1) -> int:
    for _ in range(tries):
        try:
            data = _ask(server, port, name, T_A, 0.5)
            flags = struct.unpack_from("!H", data, 2)[0]
            if flags & 0x8000 and flags & 0xF == 0 and \
                    struct.unpack_from("!H", data, 6)[0] >= min_answers:
                return 0
        except (TimeoutError, socket.timeout, OSError):
            pass
        time.sleep(0.1)
    return 1


def freeports(k: int) -> list[int]:
    ports: list[int] = []
    for _ in range(200):
        if len(ports) == k:
            break
        p = random.randrange(20000, 60000)
        if p in ports:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                    socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                u.bind(("127.0.0.1", p))
                t.bind(("127.0.0.1", p))
        except OSError:
            continue
        ports.append(p)
    if len(ports) != k:
        raise SystemExit("could not find free loopback ports")
    return ports


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    c = sub.add_parser("count")
    c.add_argument("--server", default="127.0.0.1")
    c.add_argument("--port", type=int, required=True)
    p = sub.add_parser("probe")
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", default="probe.bench.example.")
    p.add_argument("--tries", type=int, default=50)
    p.add_argument("--no-answer-ok", action="store_true")
    f = sub.add_parser("freeport")
    f.add_argument("--count", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "serve":
        serve(_loopback(a.listen), a.port)
        return 0
    if a.cmd == "count":
        print(count(_loopback(a.server), a.port))
        return 0
    if a.cmd == "probe":
        return probe(_loopback(a.server), a.port, a.name, a.tries,
                     0 if a.no_answer_ok else 1)
    if a.cmd == "freeport":
        print(" ".join(map(str, freeports(a.count))))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
