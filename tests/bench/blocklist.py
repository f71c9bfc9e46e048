#!/usr/bin/python3
"""Helpers for tests/bench/blocklist.sh (the blocklist-at-scale benchmark).

Stdlib only (Debian's /usr/bin/python3 with its sqlite3 module).

    blocklist.py names --out FILE LIST...
        unique names of the given list files: first field of every line that
        is not blank and not a `#` comment, lower-cased, trailing dot
        stripped; sorted; prints the count
    blocklist.py sample --names FILE --count N --www-every K --seed S --out F
        dnsperf query file (`name A`) of N distinct names drawn from FILE
        with a fixed seed; every K-th one is asked as `www.NAME` (parent
        match); prints `sampled=N www=W`
    blocklist.py cachenames --names FILE --queries LIST --count N --out F
        the first N names of LIST (e.g. the Umbrella top list) that are NOT
        blocked by FILE under subtree matching (neither the name nor any
        parent is in FILE), as dnsperf lines; prints `kept=N skipped=S`
    blocklist.py load-db --db DB --names FILE
        one transaction: the `scale` feed, one subtree deny entry per name,
        generation + 1; prints `inserted=N generation=G seconds=T`
    blocklist.py unbound-zones --names FILE --out F
        an unbound include file: `server:` then one
        `local-zone: "NAME." always_null` line per name
    blocklist.py ready --port P --name N --since-ns T0 [--timeout S] [--any]
        send an A query for N every 5 ms until the server answers; prints
        `first_answer_ms=X first_null_ms=Y` measured from T0 (wall clock in
        ns, taken by the caller just before it started the server).  The
        second is the first answer that carries A 0.0.0.0 (the block); -1
        if none came before the timeout.  With --any, stop at the first
        answer of any kind (a server without a blocklist)
    blocklist.py verify --port P --file F [--edns] [--require-ede15]
        ask every name of the dnsperf file F once (window of 64 outstanding,
        retries on timeout) and check each answer is NOERROR with exactly
        one A record 0.0.0.0 (with --require-ede15 also an EDE 15 option);
        prints a summary, exits 1 if any answer was not a block

Only loopback servers are queried.
"""

from __future__ import annotations

import argparse
import os
import random
import select
import socket
import sqlite3
import struct
import sys
import time

T_A = 1
T_OPT = 41
C_IN = 1
OPT_EDE = 15
SERVER = "127.0.0.1"


# ---------------------------------------------------------------- name sets
def read_list(path: str):
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            name = s.split()[0].lower().rstrip(".")
            if name:
                yield name


def load_names(path: str) -> list[str]:
    with open(path, encoding="ascii") as f:
        return [ln.strip() for ln in f if ln.strip()]


def cmd_names(a) -> int:
    names: set[str] = set()
    for p in a.lists:
        names.update(read_list(p))
    with open(a.out, "w", encoding="utf-8") as f:
        for n in sorted(names):
            f.write(n + "\n")
    print(len(names))
    return 0


def cmd_sample(a) -> int:
    names = load_names(a.names)
    if a.count > len(names):
        raise SystemExit("sample larger than the name set")
    rng = random.Random(a.seed)
    pick = rng.sample(names, a.count)
    www = 0
    with open(a.out, "w", encoding="ascii") as f:
        for i, n in enumerate(pick):
            if a.www_every and i % a.www_every == a.www_every - 1:
                n = "www." + n
                www += 1
            f.write(f"{n} A\n")
    print(f"sampled={len(pick)} www={www}")
    return 0


def blocked_by(name: str, names: set[str]) -> bool:
    labels = name.lower().rstrip(".").split(".")
    for i in range(len(labels)):
        if ".".join(labels[i:]) in names:
            return True
    return False


def cmd_cachenames(a) -> int:
    names = set(load_names(a.names))
    kept = skipped = 0
    out = []
    with open(a.queries, encoding="utf-8") as f:
        for line in f:
            s = line.split()
            if not s:
                continue
            if blocked_by(s[0], names):
                skipped += 1
                continue
            out.append(f"{s[0]} A\n")
            kept += 1
            if kept == a.count:
                break
    if kept < a.count:
        raise SystemExit(f"only {kept} unblocked names in {a.queries}")
    with open(a.out, "w", encoding="ascii") as f:
        f.writelines(out)
    print(f"kept={kept} skipped={skipped}")
    return 0


def cmd_load_db(a) -> int:
    names = load_names(a.names)
    t0 = time.monotonic()
    db = sqlite3.connect(a.db, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT INTO feeds(id,url,format,category,match) "
            "VALUES('scale','scale-set','domains','scale','subtree')")
        db.executemany(
            "INSERT OR IGNORE INTO entries(feed,name,kind,match) "
            "VALUES('scale',?,'deny','subtree')", ((n,) for n in names))
        db.execute("UPDATE meta SET value=value+1 WHERE key='generation'")
        db.execute("COMMIT")
        n = db.execute(
            "SELECT count(*) FROM entries WHERE feed='scale'").fetchone()[0]
        gen = db.execute(
            "SELECT value FROM meta WHERE key='generation'").fetchone()[0]
    finally:
        db.close()
    print(f"inserted={n} generation={gen} "
          f"seconds={time.monotonic() - t0:.1f}")
    return 0


def cmd_unbound_zones(a) -> int:
    names = load_names(a.names)
    with open(a.out, "w", encoding="ascii") as f:
        f.write("server:\n")
        for n in names:
            f.write(f'    local-zone: "{n}." always_null\n')
    print(len(names))
    return 0


# ---------------------------------------------------------------- DNS bits
def encode_name(name: str) -> bytes:
    out = b""
    for label in name.strip(".").split("."):
        b = label.encode("ascii")
        out += bytes([len(b)]) + b
    return out + b"\x00"


def make_query(qid: int, name: str, edns: bool) -> bytes:
    pkt = struct.pack("!6H", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    pkt += encode_name(name) + struct.pack("!HH", T_A, C_IN)
    if edns:
        pkt += b"\x00" + struct.pack("!HHIH", T_OPT, 1232, 0, 0)
    return pkt


def skip_name(pkt: bytes, i: int) -> int:
    while True:
        ln = pkt[i]
        if ln == 0:
            return i + 1
        if ln & 0xC0 == 0xC0:
            return i + 2
        i += 1 + ln


def parse_reply(pkt: bytes):
    """(id, rcode, [A addresses], [EDE codes], n_answer_rrs)"""
    qid, flags, qd, an, ns, ar = struct.unpack_from("!6H", pkt, 0)
    i = 12
    for _ in range(qd):
        i = skip_name(pkt, i) + 4
    addrs: list[str] = []
    edes: list[int] = []
    rcode = flags & 0xF
    for sect, cnt in ((0, an), (1, ns), (2, ar)):
        for _ in range(cnt):
            i = skip_name(pkt, i)
            rtype, rclass, ttl, rdlen = struct.unpack_from("!HHIH", pkt, i)
            i += 10
            rdata = pkt[i:i + rdlen]
            i += rdlen
            if sect == 0 and rtype == T_A and rdlen == 4:
                addrs.append(socket.inet_ntoa(rdata))
            if rtype == T_OPT:
                rcode |= (ttl >> 24) << 4
                j = 0
                while j + 4 <= len(rdata):
                    code, olen = struct.unpack_from("!HH", rdata, j)
                    if code == OPT_EDE and olen >= 2:
                        edes.append(struct.unpack_from("!H", rdata, j + 4)[0])
                    j += 4 + olen
    return qid, rcode, addrs, edes, an


def is_null(addrs: list[str], rcode: int) -> bool:
    return rcode == 0 and addrs == ["0.0.0.0"]


def cmd_ready(a) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    deadline = a.since_ns + int(a.timeout * 1e9)
    first = null = -1.0
    qid = 0
    while time.time_ns() < deadline:
        qid = (qid + 1) & 0xFFFF
        try:
            s.sendto(make_query(qid, a.name, False), (SERVER, a.port))
        except OSError:
            pass  # ECONNREFUSED from an earlier ICMP: port not open yet
        end = time.monotonic() + 0.005
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([s], [], [], left)
            if not r:
                break
            try:
                data = s.recv(4096)
            except OSError:
                continue
            now = time.time_ns()
            if len(data) < 12:
                continue
            _, rcode, addrs, _, _ = parse_reply(data)
            if first < 0:
                first = (now - a.since_ns) / 1e6
                if a.any:
                    break
            if is_null(addrs, rcode):
                null = (now - a.since_ns) / 1e6
                break
        if null >= 0 or (a.any and first >= 0):
            break
    print(f"first_answer_ms={first:.0f} first_null_ms={null:.0f}")
    return 0 if null >= 0 or (a.any and first >= 0) else 1


def cmd_verify(a) -> int:
    names = []
    with open(a.file, encoding="ascii") as f:
        for line in f:
            p = line.split()
            if p:
                names.append(p[0])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.setblocking(False)
    pending: dict[int, tuple[int, float, int]] = {}  # qid -> (idx, t, tries)
    results: dict[int, tuple] = {}
    free_ids = list(range(1, 65536))
    random.Random(1).shuffle(free_ids)
    nxt = 0
    window = 64
    timeout = 1.0
    t_end = time.monotonic() + 120
    while (nxt < len(names) or pending) and time.monotonic() < t_end:
        while nxt < len(names) and len(pending) < window:
            qid = free_ids.pop()
            s.sendto(make_query(qid, names[nxt], a.edns), (SERVER, a.port))
            pending[qid] = (nxt, time.monotonic(), 1)
            nxt += 1
        r, _, _ = select.select([s], [], [], 0.05)
        if r:
            while True:
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    break
                if len(data) < 12:
                    continue
                rep = parse_reply(data)
                ent = pending.pop(rep[0], None)
                if ent is None:
                    continue
                results[ent[0]] = rep
                free_ids.insert(0, rep[0])
        now = time.monotonic()
        for qid, (idx, t, tries) in list(pending.items()):
            if now - t > timeout:
                if tries >= 3:
                    del pending[qid]
                    results[idx] = None
                    continue
                s.sendto(make_query(qid, names[idx], a.edns), (SERVER, a.port))
                pending[qid] = (idx, now, tries + 1)
    ok = bad = lost = ede15 = 0
    examples = []
    for i, n in enumerate(names):
        rep = results.get(i)
        if rep is None:
            lost += 1
            if len(examples) < 5:
                examples.append(f"{n}: no answer")
            continue
        _, rcode, addrs, edes, _ = rep
        good = is_null(addrs, rcode)
        if 15 in edes:
            ede15 += 1
        if a.require_ede15 and 15 not in edes:
            good = False
        if good:
            ok += 1
        else:
            bad += 1
            if len(examples) < 5:
                examples.append(f"{n}: rcode={rcode} A={addrs} ede={edes}")
    print(f"names={len(names)} blocked_ok={ok} not_blocked={bad} "
          f"no_answer={lost} ede15={ede15} edns={'yes' if a.edns else 'no'}")
    for e in examples:
        print("  " + e, file=sys.stderr)
    return 0 if bad == 0 and lost == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("names")
    p.add_argument("--out", required=True)
    p.add_argument("lists", nargs="+")
    p = sub.add_parser("sample")
    p.add_argument("--names", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--www-every", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p = sub.add_parser("cachenames")
    p.add_argument("--names", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("load-db")
    p.add_argument("--db", required=True)
    p.add_argument("--names", required=True)
    p = sub.add_parser("unbound-zones")
    p.add_argument("--names", required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("ready")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--since-ns", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--any", action="store_true")
    p = sub.add_parser("verify")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--edns", action="store_true")
    p.add_argument("--require-ede15", action="store_true")
    a = ap.parse_args()
    return {"names": cmd_names, "sample": cmd_sample,
            "cachenames": cmd_cachenames, "load-db": cmd_load_db,
            "unbound-zones": cmd_unbound_zones, "ready": cmd_ready,
            "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
