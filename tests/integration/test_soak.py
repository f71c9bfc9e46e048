"""A bounded soak: for PARASOL_SOAK_SECONDS (default 60) a few threads send
valid UDP queries, malformed datagrams, and TCP connections (complete
queries, pipelined queries, garbage, half messages, connections dropped
mid-way). Afterwards parasold still answers over UDP and TCP, and its
resident memory at the end is within a small margin of what it was after
a 10 s warmup: nothing grows per packet or per connection.
"""

import os
import random
import socket
import struct
import threading
import time

from helpers import a_addrs, make_query

SOAK_S = float(os.environ.get("PARASOL_SOAK_SECONDS", "60"))
WARMUP_S = min(10.0, SOAK_S / 3)
NAMES = [f"soak{i}.example.test" for i in range(300)]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def udp_valid(p, stop, counts, seed):
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((f"127.0.0.{100 + seed}", 0))
    s.settimeout(0.5)
    try:
        while not stop.is_set():
            q = make_query(rnd.choice(NAMES), rnd.choice(["A", "AAAA", "TXT"]))
            s.sendto(q.to_wire(), (p.addr, p.port))
            try:
                s.recv(4096)
                counts["udp_answers"] += 1
            except socket.timeout:
                counts["udp_timeouts"] += 1
    finally:
        s.close()


def udp_malformed(p, stop, counts, seed):
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.120", 0))
    s.setblocking(False)
    good = make_query("soak-bad.example.test").to_wire()
    try:
        while not stop.is_set():
            kind = rnd.randrange(4)
            if kind == 0:
                pkt = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 600)))
            elif kind == 1:
                pkt = good[:rnd.randrange(len(good))]
            elif kind == 2:  # a valid header with lying counts
                pkt = good[:4] + struct.pack("!HHHH", 0xffff, 0xffff, 0xffff, 0xffff) + good[12:]
            else:  # a compression pointer loop in the question
                pkt = good[:12] + b"\xc0\x0c" + b"\x00\x01\x00\x01"
            try:
                s.sendto(pkt, (p.addr, p.port))
                counts["malformed"] += 1
            except (BlockingIOError, OSError):
                pass
            try:
                while True:
                    s.recv(4096)
            except (BlockingIOError, OSError):
                pass
            time.sleep(0.0005)
    finally:
        s.close()


def tcp_mixed(p, stop, counts, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        kind = rnd.randrange(5)
        try:
            s = socket.create_connection((p.addr, p.port), timeout=2,
                                         source_address=(f"127.0.0.{130 + rnd.randrange(8)}", 0))
        except OSError:
            counts["tcp_connect_errors"] += 1
            continue
        try:
            s.settimeout(2)
            if kind in (0, 1):  # one or several pipelined queries, answers read
                n = 1 if kind == 0 else rnd.randrange(2, 6)
                msgs = b""
                for _ in range(n):
                    w = make_query(rnd.choice(NAMES)).to_wire()
                    msgs += struct.pack("!H", len(w)) + w
                s.sendall(msgs)
                for _ in range(n):
                    hdr = s.recv(2, socket.MSG_WAITALL)
                    if len(hdr) < 2:
                        break
                    s.recv(struct.unpack("!H", hdr)[0], socket.MSG_WAITALL)
                    counts["tcp_answers"] += 1
            elif kind == 2:  # garbage
                s.sendall(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300))))
            elif kind == 3:  # half a message, then gone
                w = make_query("soak-half.example.test").to_wire()
                s.sendall(struct.pack("!H", len(w)) + w[:rnd.randrange(len(w))])
            else:  # connect and leave at once
                pass
            counts["tcp_conns"] += 1
        except OSError:
            counts["tcp_errors"] += 1
        finally:
            s.close()


def test_soak_mixed_traffic_memory_flat(parasold_factory, upstream):
    # Under AddressSanitizer freed memory waits in a quarantine that would
    # read as growth: this test is about our allocations, so switch it off
    # (ignored by a normal build).
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan = (asan + ":" if asan else "") + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    p = parasold_factory("--tcp-idle-timeout=2000", "--tcp-first-timeout=1000", upstreams=[upstream],
                         env={"ASAN_OPTIONS": asan})
    counts = {k: 0 for k in ("udp_answers", "udp_timeouts", "malformed", "tcp_answers", "tcp_conns",
                             "tcp_connect_errors", "tcp_errors")}
    stop = threading.Event()
    workers = [threading.Thread(target=udp_valid, args=(p, stop, counts, 1)),
               threading.Thread(target=udp_valid, args=(p, stop, counts, 2)),
               threading.Thread(target=udp_malformed, args=(p, stop, counts, 3)),
               threading.Thread(target=tcp_mixed, args=(p, stop, counts, 4)),
               threading.Thread(target=tcp_mixed, args=(p, stop, counts, 5))]
    for w in workers:
        w.daemon = True
        w.start()
    try:
        time.sleep(WARMUP_S)
        rss_warm = rss_kib(p.proc.pid)
        samples = [rss_warm]
        end = time.monotonic() + SOAK_S - WARMUP_S
        while time.monotonic() < end:
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            assert p.alive(), "parasold died during the soak"
            samples.append(rss_kib(p.proc.pid))
    finally:
        stop.set()
        for w in workers:
            w.join(10)
    rss_end = rss_kib(p.proc.pid)
    assert p.alive()
    assert counts["udp_answers"] > 100 and counts["malformed"] > 100 and counts["tcp_answers"] > 20, counts
    # Still answering, both ways.
    assert a_addrs(p.ask("after-soak.example.test")) == ["192.0.2.1"]
    assert a_addrs(p.ask("after-soak2.example.test", transport="tcp")) == ["192.0.2.1"]
    st = p.stats()
    assert st["tcp_clients"] <= 16, st
    # Flat: within 10% plus 1 MiB of the warm figure (allocator slack).
    limit = rss_warm * 1.10 + 1024
    assert rss_end <= limit, (f"RSS grew from {rss_warm} KiB after warmup to {rss_end} KiB "
                              f"(samples {samples}; traffic {counts})")
    print(f"soak: {counts}; RSS warm {rss_warm} KiB, end {rss_end} KiB, samples {samples}")
