#!/usr/bin/python3
"""Helpers for tests/bench/bench.sh (the side-by-side resolver benchmark).

Stdlib only (Debian's /usr/bin/python3).  DNS bits come from blocklist.py.

    bench.py prepare --scale-dir D --queries Q --out DIR [--subset N]
                     [--sample N] [--www-every K] [--names N] [--check N]
                     [--seed S]
        builds every input of the benchmark in DIR:
          set-full.txt, set-100k.txt  the blocklists (one name a line): the
              unique valid names of every list under D, and a fixed-seed
              subset of N names that holds every name of the blocked sample
          root.zone   nsd's zone ".": every usable name of Q (a top-site list)
              as `NAME A addr` plus `*.NAME A addr` (addr = 198.18/15 from
              a CRC of NAME), so any name under a top site has an answer
          pool.txt    the zone's names that the full set does not block
              (neither the name nor a parent), in list order
          hits.txt    the first N of pool.txt as dnsperf lines `NAME A`
          blocked.txt N names sampled from the full set, every K-th as
              `www.NAME` (blocked through its parent)
          mix.txt     N lines: every 5th from blocked.txt, the rest from
              hits.txt (20 % blocked)
          check-hits.txt, check-blocked.txt  `NAME EXPECT` lines for check
          unbound-SIZE.conf, dnsmasq-SIZE.conf  each set in that server's
              own form (local-zone always_null; address=/NAME/#)
        prints a key=value summary line
    bench.py misses --pool F --tag T --count N --out F [--check F]
        N distinct names `TnnnN.POOLNAME` (dnsperf lines) that no server has
        seen: the tag makes them unique to one measurement; with --check
        also writes `NAME EXPECT` lines (the address nsd gives)
    bench.py check --port P --file F
        asks every name of F (`NAME EXPECT`, EXPECT an IPv4 address or
        `null` for A 0.0.0.0) once, 64 outstanding, retries on timeout;
        prints a summary, exits 1 when any answer differs
    bench.py latency --file F
        reads `dnsperf -v` output and prints `answers=N p50_ms=X p99_ms=Y`
    bench.py report --results R --instances I --meta M
        the markdown section (medians over the runs) on stdout

Only loopback servers are queried.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import select
import socket
import statistics
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blocklist import make_query, parse_reply, read_list  # noqa: E402

SERVER = "127.0.0.1"
LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$|^[a-z0-9_]$")
# Names a resolver answers by itself (RFC 6761/6762/7686 and unbound's
# default local zones): never part of the upstream zone.
SPECIAL_TLDS = {"arpa", "local", "localhost", "onion", "test", "invalid"}


# ---------------------------------------------------------------- names
def valid(name: str) -> bool:
    if len(name) > 253 or "." not in name:
        return False
    return all(LABEL.match(lb) for lb in name.split("."))


def addr_of(name: str) -> str:
    h = zlib.crc32(name.encode("ascii"))
    return f"198.{18 + ((h >> 16) & 1)}.{(h >> 8) & 255}.{h & 255}"


def blocked_by(name: str, names: set[str]) -> bool:
    labels = name.split(".")
    return any(".".join(labels[i:]) in names for i in range(len(labels)))


def write_lines(path: str, lines) -> int:
    n = 0
    with open(path, "w", encoding="ascii") as f:
        for ln in lines:
            f.write(ln + "\n")
            n += 1
    return n


def cmd_prepare(a) -> int:
    lists = []
    for root, _, files in os.walk(a.scale_dir):
        for fn in files:
            if fn != "SOURCES.md" and not fn.endswith(".md"):
                lists.append(os.path.join(root, fn))
    if not lists:
        raise SystemExit(f"no list files under {a.scale_dir}")
    full: set[str] = set()
    bad = 0
    for p in sorted(lists):
        for n in read_list(p):
            if valid(n):
                full.add(n)
            else:
                bad += 1
    names = sorted(full)
    rng = random.Random(a.seed)
    sample = rng.sample(names, a.sample)
    subset = set(sample)
    rest = [n for n in names if n not in subset]
    subset.update(rng.sample(rest, max(0, min(len(rest), a.subset - len(subset)))))
    sets = {"full": names, "100k": sorted(subset)}
    for size, ns in sets.items():
        write_lines(os.path.join(a.out, f"set-{size}.txt"), ns)
        with open(os.path.join(a.out, f"unbound-{size}.conf"), "w",
                  encoding="ascii") as f:
            f.write("server:\n")
            for n in ns:
                f.write(f'    local-zone: "{n}." always_null\n')
        write_lines(os.path.join(a.out, f"dnsmasq-{size}.conf"),
                    (f"address=/{n}/#" for n in ns))

    blocked = []
    for i, n in enumerate(sample):
        if a.www_every and i % a.www_every == a.www_every - 1:
            n = "www." + n
        blocked.append(n)
    write_lines(os.path.join(a.out, "blocked.txt"), (f"{n} A" for n in blocked))
    write_lines(os.path.join(a.out, "check-blocked.txt"),
                (f"{n} null" for n in blocked[:a.check]))

    zone: list[str] = []
    seen: set[str] = set()
    with open(a.queries, encoding="utf-8", errors="replace") as f:
        for line in f:
            s = line.split()
            if not s:
                continue
            n = s[0].lower().rstrip(".")
            if (n in seen or not valid(n) or len(n) > 200
                    or n.rsplit(".", 1)[-1] in SPECIAL_TLDS):
                continue
            seen.add(n)
            zone.append(n)
    with open(os.path.join(a.out, "root.zone"), "w", encoding="ascii") as f:
        f.write("$TTL 3600\n"
                ". IN SOA ns.upstream.bench. hostmaster.upstream.bench. "
                "1 3600 600 86400 3600\n"
                ". IN NS ns.upstream.bench.\n"
                "ns.upstream.bench. IN A 127.0.0.1\n")
        for n in zone:
            ad = addr_of(n)
            f.write(f"{n}. IN A {ad}\n*.{n}. IN A {ad}\n")
    pool = [n for n in zone if not blocked_by(n, full)]
    if len(pool) < a.names:
        raise SystemExit(f"only {len(pool)} unblocked names in {a.queries}")
    write_lines(os.path.join(a.out, "pool.txt"), pool)
    hits = pool[:a.names]
    write_lines(os.path.join(a.out, "hits.txt"), (f"{n} A" for n in hits))
    write_lines(os.path.join(a.out, "check-hits.txt"),
                (f"{n} {addr_of(n)}" for n in hits[:a.check]))
    mix = []
    bi = hi = 0
    for i in range(a.names):
        if i % 5 == 4:
            mix.append(blocked[bi % len(blocked)])
            bi += 1
        else:
            mix.append(hits[hi % len(hits)])
            hi += 1
    write_lines(os.path.join(a.out, "mix.txt"), (f"{n} A" for n in mix))
    print(f"lists={len(lists)} set_full={len(names)} invalid_skipped={bad} "
          f"set_100k={len(sets['100k'])} zone_names={len(zone)} "
          f"zone_records={2 * len(zone) + 3} pool={len(pool)} "
          f"hits={len(hits)} blocked={len(blocked)} "
          f"mix={len(mix)} mix_blocked={bi}")
    return 0


def cmd_misses(a) -> int:
    pool = [ln.strip() for ln in open(a.pool, encoding="ascii") if ln.strip()]
    rng = random.Random(a.tag)
    start = rng.randrange(len(pool))
    chk = open(a.check, "w", encoding="ascii") if a.check else None
    with open(a.out, "w", encoding="ascii") as f:
        for i in range(a.count):
            base = pool[(start + i) % len(pool)]
            f.write(f"{a.tag}{i:x}.{base} A\n")
            if chk:
                chk.write(f"{a.tag}{i:x}.{base} {addr_of(base)}\n")
    if chk:
        chk.close()
    return 0


# ---------------------------------------------------------------- checks
def cmd_check(a) -> int:
    items = []
    with open(a.file, encoding="ascii") as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                items.append((p[0], p[1]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    pending: dict[int, tuple[int, float, int]] = {}
    results: dict[int, tuple] = {}
    free_ids = list(range(1, 65536))
    random.Random(2).shuffle(free_ids)
    nxt = 0
    t_end = time.monotonic() + 60
    while (nxt < len(items) or pending) and time.monotonic() < t_end:
        while nxt < len(items) and len(pending) < 64:
            qid = free_ids.pop()
            s.sendto(make_query(qid, items[nxt][0], False), (SERVER, a.port))
            pending[qid] = (nxt, time.monotonic(), 1)
            nxt += 1
        r, _, _ = select.select([s], [], [], 0.05)
        while r:
            try:
                data = s.recv(4096)
            except BlockingIOError:
                break
            if len(data) < 12:
                continue
            rep = parse_reply(data)
            ent = pending.pop(rep[0], None)
            if ent is not None:
                results[ent[0]] = rep
                free_ids.insert(0, rep[0])
        now = time.monotonic()
        for qid, (idx, t, tries) in list(pending.items()):
            if now - t > 1.0:
                if tries >= 3:
                    del pending[qid]
                    continue
                s.sendto(make_query(qid, items[idx][0], False), (SERVER, a.port))
                pending[qid] = (idx, now, tries + 1)
    ok = bad = lost = 0
    examples = []
    for i, (name, want) in enumerate(items):
        rep = results.get(i)
        if rep is None:
            lost += 1
            got = "no answer"
        else:
            _, rcode, addrs, _, _ = rep
            exp = "0.0.0.0" if want == "null" else want
            if rcode == 0 and addrs == [exp]:
                ok += 1
                continue
            bad += 1
            got = f"rcode={rcode} A={addrs}"
        if len(examples) < 5:
            examples.append(f"{name}: want {want}, got {got}")
    print(f"names={len(items)} ok={ok} wrong={bad} no_answer={lost}")
    for e in examples:
        print("  " + e, file=sys.stderr)
    return 0 if ok == len(items) else 1


def cmd_latency(a) -> int:
    lat = []
    with open(a.file, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("> "):
                p = line.split()
                if len(p) >= 5 and p[1] != "T":
                    try:
                        lat.append(float(p[-1]))
                    except ValueError:
                        pass
    if not lat:
        print("answers=0 p50_ms=- p99_ms=-")
        return 1
    lat.sort()

    def pct(q: float) -> float:  # nearest rank
        return lat[max(0, math.ceil(q * len(lat)) - 1)] * 1000

    print(f"answers={len(lat)} p50_ms={pct(0.50):.3f} p99_ms={pct(0.99):.3f}")
    return 0


# ---------------------------------------------------------------- report
def read_tsv(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        return [dict(zip(head, ln.rstrip("\n").split("\t"))) for ln in f]


def med(vals):
    v = [float(x) for x in vals if x not in ("", "-")]
    return statistics.median(v) if v else None


def fmt(v, spec: str = ".2f", unit: str = "") -> str:
    return "–" if v is None else f"{v:{spec}}{unit}"


SIZE_TXT = {"none": "none", "100k": "100k", "full": "full"}


def cmd_report(a) -> int:
    res = read_tsv(a.results)
    inst = read_tsv(a.instances)
    meta = dict(ln.rstrip("\n").split("=", 1)
                for ln in open(a.meta, encoding="utf-8") if "=" in ln)
    servers = meta["servers"].split()
    sizes = meta["sizes"].split()
    scen = meta["scenarios"].split()
    out = []
    w = out.append
    w(f"## Side by side: {', '.join(servers)}, {meta['date']}")
    w("")
    w(f"- Machine: {meta['cpu']}, {meta['cores']} cores, kernel {meta['kernel']}")
    w(f"- Versions: parasold {meta['v_parasold']}; unbound {meta['v_unbound']}; "
      f"dnsmasq {meta['v_dnsmasq']}; nsd {meta['v_nsd']}; dnsperf {meta['v_dnsperf']}")
    w(f"- Data: {meta['data']}")
    w(f"- Load: runs={meta['runs']} (interleaved), throughput `dnsperf -l "
      f"{meta['duration']} -c {meta['clients']} -q {meta['outstanding']}`, "
      f"latency `dnsperf -Q {meta['rate']} -l {meta['lat_duration']} -v` "
      f"(misses: `-Q {meta['miss_rate']}`); "
      f"server on core {meta['server_cpu']}, dnsperf and nsd on core "
      f"{meta['loadgen_cpu']}; wall time {meta['elapsed']} s; "
      f"load average before {meta['loadavg']}")
    w(f"- Rerun: `{meta['command']}`")
    w("")

    def rows(server, size, scenario, kind):
        return [r for r in res if r["server"] == server and r["size"] == size
                and r["scenario"] == scenario and r["kind"] == kind]

    def cpu_us(rs):
        return med(float(r["cpu_ticks"]) / float(meta["clk_tck"]) * 1e6
                   / float(r["completed"]) for r in rs
                   if float(r["completed"]) > 0)

    w("### Per query")
    w("")
    w("| scenario | server | blocklist | server CPU µs/query | × bare | "
      "× unbound | × dnsmasq | queries/s | lost | "
      "fixed rate q/s | achieved q/s | lost there | p50 ms | p99 ms | "
      "upstream queries/run |")
    w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scen:
        for sz in sizes:
            for sv in servers:
                tp = rows(sv, sz, sc, "tput")
                lt = rows(sv, sz, sc, "lat")
                if not tp and not lt:
                    continue
                c = cpu_us(tp)
                ratios = []
                for ref, rsz in (("bare", "none"), ("unbound", sz),
                                 ("dnsmasq", sz)):
                    rc = cpu_us(rows(ref, rsz, sc, "tput"))
                    ratios.append("–" if ref == sv or c is None or not rc
                                  else f"{c / rc:.2f}")
                w(f"| {sc} | {sv} | {SIZE_TXT[sz] if sv != 'bare' else '–'} | "
                  f"{fmt(c)} | {' | '.join(ratios)} | "
                  f"{fmt(med(r['qps'] for r in tp), ',.0f')} | "
                  f"{fmt(med(r['lost'] for r in tp), '.0f')} | "
                  f"{fmt(med(r['rate'] for r in lt), ',.0f')} | "
                  f"{fmt(med(r['qps'] for r in lt), ',.0f')} | "
                  f"{fmt(med(r['lost'] for r in lt), '.0f')} | "
                  f"{fmt(med(r['p50_ms'] for r in lt), '.3f')} | "
                  f"{fmt(med(r['p99_ms'] for r in lt), '.3f')} | "
                  f"{fmt(med(r['upstream_q'] for r in tp), ',.0f')} |")
    w("")
    w("### Start-up and memory")
    w("")
    w("| server | blocklist | names loaded | ready ms | VmRSS after load | "
      "VmHWM after load | VmRSS at end | VmHWM at end |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")

    def mib(vals):
        v = med(vals)
        return "–" if v is None else f"{v / 1024:.1f} MiB"

    for sz in sizes:
        for sv in servers:
            ri = [r for r in inst if r["server"] == sv and r["size"] == sz]
            if not ri:
                continue
            w(f"| {sv} | {SIZE_TXT[sz] if sv != 'bare' else '–'} | "
              f"{ri[-1]['names']} | {fmt(med(r['ready_ms'] for r in ri), '.0f')} | "
              f"{mib(r['rss_load'] for r in ri)} | {mib(r['hwm_load'] for r in ri)} | "
              f"{mib(r['rss_end'] for r in ri)} | {mib(r['hwm_end'] for r in ri)} |")
    w("")
    w(f"Checks before measuring, every start: {meta['checks']}")
    w("")
    w("<details><summary>Per-run numbers</summary>")
    w("")
    w("| run | scenario | server | blocklist | kind | rate | queries/s | completed | "
      "lost | server CPU µs/query | p50 ms | p99 ms | upstream queries | "
      "response codes |")
    w("|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in res:
        c = None
        if r["kind"] == "tput" and float(r["completed"]) > 0:
            c = (float(r["cpu_ticks"]) / float(meta["clk_tck"]) * 1e6
                 / float(r["completed"]))
        w(f"| {r['run']} | {r['scenario']} | {r['server']} | {r['size']} | "
          f"{r['kind']} | {r['rate']} | {float(r['qps']):,.0f} | {r['completed']} | "
          f"{r['lost']} | {fmt(c) if r['kind'] == 'tput' else '–'} | "
          f"{r['p50_ms']} | {r['p99_ms']} | {r['upstream_q']} | {r['rcodes']} |")
    w("")
    w("| run | server | blocklist | ready ms | first answer ms | VmRSS load KiB | "
      "VmHWM load KiB | VmRSS end KiB | VmHWM end KiB |")
    w("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in inst:
        w(f"| {r['run']} | {r['server']} | {r['size']} | {r['ready_ms']} | "
          f"{r['first_ms']} | {r['rss_load']} | {r['hwm_load']} | "
          f"{r['rss_end']} | {r['hwm_end']} |")
    w("")
    w("</details>")
    print("\n".join(out))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--scale-dir", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--subset", type=int, default=100000)
    p.add_argument("--sample", type=int, default=10000)
    p.add_argument("--www-every", type=int, default=4)
    p.add_argument("--names", type=int, default=10000)
    p.add_argument("--check", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("misses")
    p.add_argument("--pool", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--check")
    p = sub.add_parser("check")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--file", required=True)
    p = sub.add_parser("latency")
    p.add_argument("--file", required=True)
    p = sub.add_parser("report")
    p.add_argument("--results", required=True)
    p.add_argument("--instances", required=True)
    p.add_argument("--meta", required=True)
    a = ap.parse_args()
    return {"prepare": cmd_prepare, "misses": cmd_misses, "check": cmd_check,
            "latency": cmd_latency, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
