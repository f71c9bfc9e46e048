"""Blocked-lookup statistics: what parasold records in stats.db and what the
admin CLI (`parasol stats | top | log | status`) reports from it.

A known mix of queries goes through a running parasold from several client
addresses on loopback; the CLI's numbers must match what was sent, in human
tables and in --json.  Also: a flood of one blocked name folds into a few
rows with the right count, a full disk under stats.db costs records but no
answers, `log --follow` prints new events, and the CLI reads a database it
may only read.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import select
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter, defaultdict

import pytest

from helpers import free_port, make_query, rcode_text, udp

FLUSH_TIMEOUT = 6.0


def cli_json(cli, *args, daemon=None):
    p = cli(*args, "--json", daemon=daemon)
    assert p.returncode == 0, f"parasol {' '.join(args)} --json: rc={p.returncode}\n{p.stderr}"
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise AssertionError(f"parasol {' '.join(args)} --json printed no JSON ({e}):\n{p.stdout}")


def cli_text(cli, *args, daemon=None):
    p = cli(*args, daemon=daemon)
    assert p.returncode == 0, f"parasol {' '.join(args)}: rc={p.returncode}\n{p.stderr}"
    wide = [line for line in p.stdout.splitlines() if len(line) > 80]
    assert not wide, f"parasol {' '.join(args)}: lines wider than 80 columns:\n" + "\n".join(wide)
    return p.stdout


def wait_recorded(cli, daemon, total, timeout=FLUSH_TIMEOUT):
    """Poll `stats --json` until it counts total queries (the recorder flushes once a second)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        p = cli("stats", "--json", daemon=daemon)
        if p.returncode == 0:
            last = json.loads(p.stdout)
            if last["total"] >= total:
                return last
        time.sleep(0.25)
    raise AssertionError(f"stats.db did not count {total} queries within {timeout}s; last stats: {last}")


def deny(cli, daemon, name):
    p = cli("deny", "add", name, daemon=daemon)
    assert p.returncode == 0, f"parasol deny add {name}: rc={p.returncode}\n{p.stderr}"


def verdict(cli, daemon, name):
    """`parasol check NAME --json`: category, feed and rule of a blocked name."""
    p = cli("check", name, "--json", daemon=daemon)
    assert p.returncode in (0, 1), p.stderr
    return json.loads(p.stdout)


def stats_daemon(parasold_factory, upstream, *extra):
    d = parasold_factory(*extra, upstreams=[upstream])
    if d.stats_db is None:
        pytest.skip("this parasold has no --stats-db")
    return d


# ---------------------------------------------------------------- the mix

CLIENTS = [f"127.0.0.{i}" for i in range(2, 7)]
OUTSIDER = "127.0.0.9"  # outside --allow-net: REFUSED
LONG_NAME = "a" * 60 + "." + "b" * 60 + ".evil-miner.test"


def build_plan():
    """(source, name, type) in sending order."""
    plan = []

    def ask(src, name, rdtype="A", n=1):
        plan.extend([(src, name, rdtype)] * n)

    # Blocked lookups, the "miners".
    ask("127.0.0.2", "coinhive.com", "A", 3)
    ask("127.0.0.3", "coinhive.com", "AAAA", 2)
    ask("127.0.0.3", "pool.minexmr.com", "A")
    ask("127.0.0.5", "evil-miner.test", "A", 2)
    ask("127.0.0.5", "sub.evil-miner.test", "HTTPS")
    ask("127.0.0.6", "ad-miner.com", "A")
    ask("127.0.0.6", LONG_NAME, "A")
    # Ordinary names from everyone: the first of each question is
    # forwarded, the rest come from the cache (NODATA for HTTPS too).
    for i, src in enumerate(CLIENTS):
        ask(src, "www.example.test", "A")
        ask(src, f"host-{i}.example.test", "AAAA")
        ask(src, "www.example.test", "HTTPS")
    ask(OUTSIDER, "www.example.test", "A")
    # The upstream never answers this one: SERVFAIL, an error.
    ask("127.0.0.4", "drop-err.example.test", "A")
    return plan


def test_reports_agree_with_traffic(parasold_factory, upstream, parasol_cli):
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream, "--seed-defaults=yes", "--allow-net=127.0.0.0/29",
                     "--upstream-timeout=300", "--resolve-timeout=900")
    deny(cli, d, "evil-miner.test")

    plan = build_plan()
    blocked_names = sorted({n for _, n, _ in plan if not n.endswith("example.test")})
    why = {n: verdict(cli, d, n) for n in blocked_names}
    for n, v in why.items():
        assert v["verdict"] == "blocked", f"{n} should be blocked for this test: {v}"

    # Send, predicting each outcome.
    outcome = Counter()
    seen = set()
    blocked = []  # (src, name, type)
    for src, name, rdtype in plan:
        r = udp(make_query(name, rdtype), d.addr, d.port, source=src, timeout=3.0)
        if src == OUTSIDER:
            assert rcode_text(r) == "REFUSED"
            outcome["refused"] += 1
        elif name in why:
            blocked.append((src, name, rdtype))
            outcome["blocked"] += 1
        elif name.startswith("drop-"):
            assert rcode_text(r) == "SERVFAIL"
            outcome["errors"] += 1
        elif (name, rdtype) in seen:
            outcome["cached"] += 1
        else:
            seen.add((name, rdtype))
            outcome["forwarded"] += 1
    total = len(plan)

    st = wait_recorded(cli, d, total)
    usr1 = d.stats()
    assert usr1["queries"] == total
    assert usr1["stats_dropped"] == 0

    # --- stats: every query in exactly one outcome.
    for k in ("blocked", "cached", "forwarded", "refused", "errors"):
        assert st[k] == outcome[k], f"stats {k}: {st[k]} != {outcome[k]} sent; {st}"
    assert st["total"] == total
    assert st["total"] == st["blocked"] + st["cached"] + st["forwarded"] + st["refused"] + st["errors"]
    assert st["blocked_share"] == pytest.approx(outcome["blocked"] / total)
    assert st["cache_hit_rate"] == pytest.approx(outcome["cached"] / (outcome["cached"] + outcome["forwarded"]))
    assert st["period_s"] == 86400 and st["until"] - st["since"] == 86400
    by_cat = Counter()
    clients_by_cat = defaultdict(set)
    for src, name, _ in blocked:
        by_cat[why[name]["category"]] += 1
        clients_by_cat[why[name]["category"]].add(src)
    assert {c["category"]: c["blocked"] for c in st["categories"]} == dict(by_cat)
    assert {c["category"]: c["clients"] for c in st["categories"]} == \
        {k: len(v) for k, v in clients_by_cat.items()}
    assert {q["qtype"]: q["count"] for q in st["qtypes"]} == dict(Counter(t for _, _, t in plan))
    assert {q["qtype"]: q["code"] for q in st["qtypes"]} == \
        {t: c for t, c in (("A", 1), ("AAAA", 28), ("HTTPS", 65))}
    assert sum(h["total"] for h in st["hours"]) == total

    # --- top clients: exactly the clients that asked for mining names.
    mining = why["coinhive.com"]["category"]
    want = defaultdict(lambda: {"blocked": 0, "names": set()})
    for src, name, _ in blocked:
        if why[name]["category"] == mining:
            want[src]["blocked"] += 1
            want[src]["names"].add(name)
    top = cli_json(cli, "top", "clients", f"--category={mining}", daemon=d)
    assert {r["client"]: r["blocked"] for r in top} == {k: v["blocked"] for k, v in want.items()}
    assert {r["client"]: r["names"] for r in top} == {k: len(v["names"]) for k, v in want.items()}
    assert [r["blocked"] for r in top] == sorted((r["blocked"] for r in top), reverse=True)
    for r in top:
        assert r["categories"] == [mining]
        assert 0 < r["first"] <= r["last"] <= time.time() + 1
    # Without a category: every client that was blocked, limit respected.
    top_all = cli_json(cli, "top", "clients", daemon=d)
    assert {r["client"] for r in top_all} == {s for s, _, _ in blocked}
    assert len(cli_json(cli, "top", "clients", "--limit=2", daemon=d)) == 2

    # --- top domains: count and distinct clients per name.
    dom = cli_json(cli, "top", "domains", daemon=d)
    want_n = Counter(n for _, n, _ in blocked)
    want_c = defaultdict(set)
    for src, n, _ in blocked:
        want_c[n].add(src)
    assert {r["name"]: r["blocked"] for r in dom} == dict(want_n)
    assert {r["name"]: r["clients"] for r in dom} == {n: len(c) for n, c in want_c.items()}
    assert {r["name"]: r["categories"] for r in dom} == {n: [why[n]["category"]] for n in want_n}
    dom3 = cli_json(cli, "top", "domains", "--client=127.0.0.3", daemon=d)
    assert {r["name"]: r["blocked"] for r in dom3} == {"coinhive.com": 2, "pool.minexmr.com": 1}

    # --- log --client: one row per (client, name, type), every field.
    rows = cli_json(cli, "log", "--client=127.0.0.3", daemon=d)
    got = {(r["name"], r["qtype"]): r for r in rows}
    assert set(got) == {("coinhive.com", "AAAA"), ("pool.minexmr.com", "A")}
    r = got[("coinhive.com", "AAAA")]
    assert r["count"] == 2 and r["client"] == "127.0.0.3" and r["qtype_code"] == 28
    r = got[("pool.minexmr.com", "A")]
    assert r["count"] == 1
    for (name, _), r in got.items():
        assert r["category"] == why[name]["category"]
        assert r["feed"] == why[name]["feed"]
        assert r["rule"] == why[name]["rule"]
        assert r["action"] == "null"
    # The same client written as an IPv4-mapped IPv6 address.
    assert cli_json(cli, "log", "--client=::ffff:127.0.0.3", daemon=d) == rows
    # --name covers the name and everything under it.
    rows = cli_json(cli, "log", "--name=evil-miner.test", daemon=d)
    assert sorted((r["name"], r["qtype"], r["count"]) for r in rows) == \
        sorted([("evil-miner.test", "A", 2), ("sub.evil-miner.test", "HTTPS", 1), (LONG_NAME, "A", 1)])
    assert {r["category"] for r in rows} == {why["evil-miner.test"]["category"]}
    assert {r["rule"] for r in rows} == {"evil-miner.test"}
    # Newest first, limit respected.
    rows = cli_json(cli, "log", daemon=d)
    assert len(rows) == len(set(blocked))
    assert [r["last"] for r in rows] == sorted((r["last"] for r in rows), reverse=True)
    assert len(cli_json(cli, "log", "--limit=3", daemon=d)) == 3
    assert cli_json(cli, "log", "--since=1h", f"--category={mining}", "--client=127.0.0.5", daemon=d) == []

    # --- the same in human tables, 80 columns at most.
    text = cli_text(cli, "stats", daemon=d)
    assert f"{total} queries" in text
    types = Counter(t for _, _, t in plan)
    assert mining in text and f"Query types: A {types['A']}, AAAA {types['AAAA']}, HTTPS {types['HTTPS']}" in text
    text = cli_text(cli, "top", "clients", f"--category={mining}", daemon=d)
    assert sorted(line.split()[0] for line in text.splitlines()[1:]) == sorted(want)
    text = cli_text(cli, "top", "domains", daemon=d)
    assert "coinhive.com" in text
    # The long name keeps its end, behind an ellipsis.
    assert LONG_NAME not in text
    assert any(("..." in w or "\u2026" in w) and w.endswith(".evil-miner.test") for w in text.split())
    text = cli_text(cli, "log", "--client=127.0.0.3", daemon=d)
    assert "pool.minexmr.com" in text and "AAAA" in text and f"rule={why['pool.minexmr.com']['rule']}" in text

    # --- status over the control socket.
    s = cli_json(cli, "status", daemon=d)
    assert s["queries"] == total
    assert s["blocked"] == outcome["blocked"]
    assert s["lists_generation"] >= 1 and s["lists_names"] > 1000
    assert s["stats_recording"] is True and s["stats_dropped"] == 0
    assert s["cache_entries"] >= 1 and s["uptime_s"] >= 0 and s["qps"] >= 0
    assert [u["address"] for u in s["upstreams"]] == [upstream.hostport]
    text = cli_text(cli, "status", daemon=d)
    assert "parasold" in text and f"generation {s['lists_generation']}" in text
    assert upstream.hostport in text


# ---------------------------------------------------------------- flood

def flood(addr, port, source, name, n, window=64, deadline_s=20.0):
    """Send n queries for name from source as fast as replies come back.

    Returns (sent, answered).  At most `window` queries are in flight; when
    nothing comes back for 0.5 s the ones in flight are given up as lost.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((source, 0))
    s.setblocking(False)
    wire = bytearray(make_query(name, "A", edns=None).to_wire())
    sent = answered = in_flight = 0
    deadline = time.monotonic() + deadline_s
    try:
        while (sent < n or in_flight > 0) and time.monotonic() < deadline:
            while in_flight < window and sent < n:
                wire[0:2] = (sent & 0xFFFF).to_bytes(2, "big")
                try:
                    s.sendto(wire, (addr, port))
                except BlockingIOError:
                    break
                sent += 1
                in_flight += 1
            ready, _, _ = select.select([s], [], [], 0.5)
            if not ready:
                in_flight = 0
                continue
            for _ in range(window * 2):
                try:
                    s.recv(4096)
                except BlockingIOError:
                    break
                answered += 1
                in_flight = max(0, in_flight - 1)
    finally:
        s.close()
    return sent, answered


def test_flood_folds_into_few_rows(parasold_factory, upstream, parasol_cli):
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream)
    deny(cli, d, "flood-miner.test")
    n = 20000
    sent, answered = flood(d.addr, d.port, "127.0.0.7", "pool.flood-miner.test", n)
    assert sent == n
    assert answered >= n * 0.9, f"only {answered} of {n} answered"

    st = wait_recorded(cli, d, sent)
    usr1 = d.stats()
    assert usr1["stats_dropped"] == 0
    rows = cli_json(cli, "log", "--client=127.0.0.7", "--limit=100000", daemon=d)
    assert 1 <= len(rows) <= 5, f"{len(rows)} rows for one (client, name, type)"
    counted = sum(r["count"] for r in rows)
    # Every query the daemon answered is counted, no more.
    assert counted == usr1["blocked"] == st["blocked"]
    assert answered <= counted <= sent
    assert st["total"] == usr1["queries"]
    top = cli_json(cli, "top", "clients", daemon=d)
    assert top == [{**top[0], "client": "127.0.0.7", "blocked": counted, "names": 1}]
    dom = cli_json(cli, "top", "domains", daemon=d)
    assert [(r["name"], r["blocked"], r["clients"]) for r in dom] == [("pool.flood-miner.test", counted, 1)]


# ---------------------------------------------------------------- full disk

@pytest.fixture
def tiny_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a 256k tmpfs needs root")
    if shutil.which("mount") is None:
        pytest.skip("no mount(8) here")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                       capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield mnt
    for args in (["umount", str(mnt)], ["umount", "-l", str(mnt)]):
        if subprocess.run(args, capture_output=True, timeout=10).returncode == 0:
            break


def fill(path):
    """Write path until the filesystem says ENOSPC; returns bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        for _ in range(4096):
            try:
                written += f.write(b"\0" * 4096)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                return written
    raise AssertionError(f"{path}: still not full after {written} bytes")


def test_full_disk_costs_records_not_answers(parasold_factory, upstream, parasol_cli, tiny_tmpfs):
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream, f"--stats-db={tiny_tmpfs}/stats.db")
    try:
        deny(cli, d, "full-miner.test")
        d.ask("full-miner.test", source="127.0.0.2")
        wait_recorded(cli, d, 1)
        assert cli_json(cli, "top", "clients", daemon=d)[0]["blocked"] == 1
        fill(tiny_tmpfs / "junk")
        before = d.stats()["stats_dropped"]

        # Many distinct rows, so the batch needs new pages.
        for i in range(600):
            r = d.ask(f"n{i}.full-miner.test", source="127.0.0.2")
            assert r.rcode() == 0
        for i in range(20):
            r = d.ask(f"ok-{i}.example.test", source="127.0.0.3")
            assert rcode_text(r) == "NOERROR" and r.answer

        deadline = time.monotonic() + FLUSH_TIMEOUT
        dropped = before
        while time.monotonic() < deadline and dropped == before:
            time.sleep(0.3)
            dropped = d.stats()["stats_dropped"]
        assert dropped > before, "stats_dropped did not rise with the disk full"
        s = cli_json(cli, "status", daemon=d)
        assert s["stats_dropped"] >= dropped
        assert d.alive()
        # Still answering after the failed writes.
        assert d.ask("full-miner.test", source="127.0.0.2").rcode() == 0
    finally:
        d.stop()


# ---------------------------------------------------------------- follow

def test_log_follow_prints_new_events(parasold_factory, upstream, parasol_cli, parasol_cli_binary):
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream)
    deny(cli, d, "follow-miner.test")
    argv = [parasol_cli_binary, f"--stats-db={d.stats_db}", "log", "--follow", "--json", "--since=1h"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        d.ask("www.example.test", source="127.0.0.3")  # creates stats.db
        d.ask("pool.follow-miner.test", source="127.0.0.8")
        sent = time.monotonic()
        events = []
        while time.monotonic() - sent < 4.0:
            try:
                ev = json.loads(lines.get(timeout=0.2))
            except queue.Empty:
                continue
            events.append(ev)
            if ev["client"] == "127.0.0.8":
                break
        assert events and events[-1]["client"] == "127.0.0.8", \
            f"no event within 4 s; got {events}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        ev = events[-1]
        assert ev["name"] == "pool.follow-miner.test" and ev["count"] == 1 and ev["updated"] is False
        assert time.monotonic() - sent < 3.0

        # A repeat folds into the row: printed again with the new count.
        d.ask("pool.follow-miner.test", source="127.0.0.8")
        deadline = time.monotonic() + 4.0
        ev = None
        while time.monotonic() < deadline:
            try:
                ev = json.loads(lines.get(timeout=0.2))
                break
            except queue.Empty:
                continue
        assert ev is not None and ev["count"] == 2 and ev["updated"] is True, ev
        assert proc.poll() is None
    finally:
        proc.terminate()
        try:
            rc = proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            rc = None
    assert rc == 0, f"log --follow exited {rc} on SIGTERM"


# ---------------------------------------------------------------- read-only

def as_nobody(argv):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)


def test_read_only_reader(parasold_factory, upstream, parasol_cli, parasol_cli_binary):
    if os.geteuid() != 0:
        pytest.skip("needs root to run the CLI as another user")
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv(1) to drop privileges")
    if as_nobody([parasol_cli_binary, "--version"]).returncode != 0:
        pytest.skip(f"user nobody cannot run {parasol_cli_binary}")
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream)
    os.chmod(d.tmpdir, 0o755)
    deny(cli, d, "ro-miner.test")
    for _ in range(2):
        d.ask("ro-miner.test", source="127.0.0.2")
    wait_recorded(cli, d, 2)
    argv = [parasol_cli_binary, f"--stats-db={d.stats_db}", "top", "clients", "--json"]
    want = [("127.0.0.2", 2)]

    # While parasold writes: the -shm exists and is opened read-only.
    p = as_nobody(argv)
    assert p.returncode == 0, p.stderr
    assert [(r["client"], r["blocked"]) for r in json.loads(p.stdout)] == want

    # parasold stopped (SIGTERM flushes and removes -wal/-shm): nobody can
    # create a -shm in the folder, so the file is read as immutable.
    assert d.stop() == 0
    assert not os.path.exists(d.stats_db + "-wal")
    p = as_nobody(argv)
    assert p.returncode == 0, p.stderr
    assert [(r["client"], r["blocked"]) for r in json.loads(p.stdout)] == want

    # Unreadable: a clear error, exit 3.
    os.chmod(d.stats_db, 0o600)
    p = as_nobody(argv)
    assert p.returncode == 3 and "cannot read" in p.stderr and d.stats_db in p.stderr, p.stderr

    # root with a 0444 file.
    os.chmod(d.stats_db, 0o444)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=15)
    assert p.returncode == 0, p.stderr
    assert [(r["client"], r["blocked"]) for r in json.loads(p.stdout)] == want


# ---------------------------------------------------------------- errors

def test_cli_errors(parasol_cli, tmp_path):
    cli = parasol_cli
    missing = tmp_path / "missing.db"
    for verb in (["stats"], ["top", "clients"], ["top", "domains"], ["log"]):
        p = cli(*verb, f"--stats-db={missing}")
        assert p.returncode == 3, (verb, p.stdout, p.stderr)
        assert str(missing) in p.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all\n" * 100)
    p = cli("stats", f"--stats-db={junk}")
    assert p.returncode == 3 and str(junk) in p.stderr, p.stderr

    for args in (["stats", "--since=5x"], ["stats", "--since=0"], ["stats", "--since=-1h"],
                 ["top"], ["top", "names"], ["top", "clients", "--limit=0"],
                 ["top", "clients", "--limit=abc"], ["log", "--client=not-an-address"],
                 ["log", "--name=bad..name"], ["log", "extra"], ["stats", "extra"], ["status", "extra"]):
        p = cli(*args, f"--stats-db={missing}")
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stderr.strip(), args

    p = cli("status", f"--control={tmp_path}/no.sock")
    assert p.returncode == 4 and "no.sock" in p.stderr, p.stderr
    p = cli("status", "--json", f"--control={tmp_path}/no.sock")
    assert p.returncode == 4 and p.stdout == ""


def test_locked_database_is_a_bounded_wait(parasol_cli, tmp_path):
    """A writer holding an exclusive lock: exit 3 after the busy wait (~5 s)."""
    path = tmp_path / "stats.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA user_version = 1")
    db.execute("CREATE TABLE minutes (minute INTEGER PRIMARY KEY, total, blocked, cached,"
               " forwarded, refused, errors)")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("INSERT INTO minutes VALUES (60, 1, 1, 0, 0, 0, 0)")
    try:
        t0 = time.monotonic()
        p = parasol_cli("stats", f"--stats-db={path}", timeout=20)
        took = time.monotonic() - t0
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert "locked" in p.stderr
    assert 4.0 <= took < 12.0, took


# ---------------------------------------------------------------- hostile rows

def test_hostile_and_wide_rows(parasold_factory, upstream, parasol_cli):
    """Rows are read back as hostile input: escapes never reach the
    terminal, bytes that are not UTF-8 still give valid JSON, and a long
    IPv6 client or name still fits 80 columns."""
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream)
    d.ask("www.example.test")
    wait_recorded(cli, d, 1)
    assert d.stop() == 0
    now = int(time.time())
    v6 = "2001:db8:1234:5678:9abc:def0:1234:5678"
    evil = b"x\x1b[2J\x07\xff\xfe.miner.test"
    db = sqlite3.connect(d.stats_db)
    db.execute("INSERT INTO blocked (first, last, count, client, name, qtype, category, feed, rule, action)"
               " VALUES (?, ?, 5, ?, ?, 1, 'mining', 'coinminer', 'miner.test', 'null')",
               (now, now, v6, "a" * 63 + "." + "b" * 63 + ".pool.miner.test"))
    db.execute("INSERT INTO blocked (first, last, count, client, name, qtype, category, feed, rule, action)"
               " VALUES (?, ?, 2, '192.0.2.1', CAST(? AS TEXT), 65535, ?, 'f', 'miner.test', 'null')",
               (now, now, evil, "cat\x1b]0;pwned\x07"))
    db.commit()
    db.close()

    for args in (["log"], ["top", "clients"], ["top", "domains"], ["stats"], ["log", f"--client={v6}"]):
        text = cli_text(cli, *args, daemon=d)
        assert "\x1b" not in text and "\x07" not in text, (args, text)
    text = cli_text(cli, "log", f"--client={v6}", daemon=d)
    assert v6 in text and "pool.miner.test" in text

    rows = cli_json(cli, "log", daemon=d)
    by_client = {r["client"]: r for r in rows}
    assert by_client[v6]["count"] == 5
    bad = by_client["192.0.2.1"]
    assert bad["qtype"] == "other" and bad["count"] == 2
    # Not UTF-8: made printable.  Valid UTF-8 is kept, escaped by JSON.
    assert bad["name"] == "x?[2J???.miner.test"
    assert bad["category"] == "cat\x1b]0;pwned\x07"
    assert {r["client"] for r in cli_json(cli, "top", "clients", daemon=d)} == {v6, "192.0.2.1"}


# ---------------------------------------------------------------- options

def _blocked_rows(path):
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return c.execute("SELECT client, name, count FROM blocked ORDER BY id").fetchall()
    finally:
        c.close()


def test_repeats_fold_per_key_short_and_long(parasold_factory, upstream, parasol_cli):
    """The recorder keeps short keys (IPv4 client, type, name of up to 27
    wire bytes) in its table and compares longer ones in full: repeats of
    names on both sides of that line, from IPv4 and IPv6 clients, each fold
    into one row with their own count, and names that share a long prefix
    stay apart."""
    cli = parasol_cli
    port = free_port()
    d = parasold_factory(upstreams=[upstream], listen=[f"127.0.0.1:{port}", f"[::1]:{port}"])
    if d.stats_db is None:
        pytest.skip("this parasold has no --stats-db")
    deny(cli, d, "fold-miner.test")
    names = {
        "fold-miner.test": 3,                   # 17 wire bytes
        "abcdefghi.fold-miner.test": 2,         # 27: the last that fits
        "abcdefghij.fold-miner.test": 4,        # 28: one byte compared outside
        "x" * 40 + ".p1.fold-miner.test": 2,    # long, same 40-byte prefix...
        "x" * 40 + ".p2.fold-miner.test": 3,    # ...as this one
    }
    sources = [("127.0.0.3", "127.0.0.1"), ("127.0.0.4", "127.0.0.1"), ("::1", "::1")]
    want = Counter()
    for rnd in range(max(names.values())):
        for name, n in names.items():
            if rnd >= n:
                continue
            for src, dst in sources:
                r = udp(make_query(name, "A"), dst, port, source=src, timeout=3.0)
                assert rcode_text(r) == "NOERROR" and r.answer, f"{name} from {src}: {r}"
                want[(src, name)] += 1
    wait_recorded(cli, d, sum(want.values()))
    got = Counter()
    rows = _blocked_rows(d.stats_db)
    for client, name, count in rows:
        got[(client, name)] += count
    assert got == want, rows
    assert len(rows) == len(want), f"{len(rows)} rows for {len(want)} (client, name) pairs: {rows}"


def test_counters_only_keeps_no_client_rows(parasold_factory, upstream, parasol_cli):
    """--stats-events=no (privacy): traffic is still counted, blocked lookups
    are not stored with their client."""
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream, "--stats-events=no")
    deny(cli, d, "private-miner.test")
    for _ in range(3):
        assert rcode_text(d.ask("pool.private-miner.test", "A", source="127.0.0.2")) == "NOERROR"
    d.ask("fine.example.test", "A", source="127.0.0.2")
    st = wait_recorded(cli, d, 4)
    assert st["blocked"] == 3 and st["total"] == 4, st
    assert _blocked_rows(d.stats_db) == []
    assert cli_json(cli, "top", "clients", daemon=d) == []


def test_fold_window_starts_new_rows(parasold_factory, upstream, parasol_cli):
    """Repeats inside --stats-fold-window add to a row; after it, a new row."""
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream, "--stats-fold-window=1")
    deny(cli, d, "window-miner.test")
    d.ask("window-miner.test", "A", source="127.0.0.3")
    d.ask("window-miner.test", "A", source="127.0.0.3")
    wait_recorded(cli, d, 2)
    time.sleep(2.2)
    d.ask("window-miner.test", "A", source="127.0.0.3")
    wait_recorded(cli, d, 3)
    rows = _blocked_rows(d.stats_db)
    assert [r[2] for r in rows] == [2, 1], rows


def test_retention_prunes_old_rows(parasold_factory, upstream, parasol_cli, tmp_path):
    """Rows older than --stats-retention days are deleted; recent ones stay."""
    cli = parasol_cli
    d = stats_daemon(parasold_factory, upstream, "--stats-retention=30")
    deny(cli, d, "recent-miner.test")
    d.ask("recent-miner.test", "A", source="127.0.0.4")
    wait_recorded(cli, d, 1)
    d.stop()
    # Plant a row and a minute 40 days old, then start again on the same DB.
    old = int(time.time()) - 40 * 86400
    c = sqlite3.connect(d.stats_db)
    c.execute("INSERT INTO blocked (first, last, count, client, name, qtype, category, feed, rule, action)"
              " VALUES (?, ?, 5, '127.0.0.5', 'old-miner.test', 1, 'local', 'local', 'old-miner.test', 'null')",
              (old, old))
    c.execute("INSERT INTO minutes (minute, total, blocked) VALUES (?, 5, 5)", (old // 60 * 60,))
    c.commit()
    c.close()
    d2 = parasold_factory("--stats-retention=30", f"--stats-db={d.stats_db}",
                          f"--lists-db={d.lists_db}", upstreams=[upstream])
    d2.ask("recent-miner.test", "A", source="127.0.0.4")
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while time.monotonic() < deadline:
        names = {r[1] for r in _blocked_rows(d.stats_db)}
        if "old-miner.test" not in names:
            break
        time.sleep(0.25)
    assert names == {"recent-miner.test"}, names
    c = sqlite3.connect(f"file:{d.stats_db}?mode=ro", uri=True)
    assert c.execute("SELECT count(*) FROM minutes WHERE minute < ?", (old + 86400,)).fetchone()[0] == 0
    c.close()
