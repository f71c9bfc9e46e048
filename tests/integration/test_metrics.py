"""The monitoring side of parasold: /metrics (Prometheus text format 0.0.4)
counting exactly what a known mix of queries did, /healthz and /readyz,
hostile HTTP clients, the Firefox DoH canary, and `parasol healthcheck`
against live, failing and dead servers."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from helpers import a_addrs, free_port, make_query, udp, udp_send_recv, tcp

CANARY = "use-application-dns.net"

# ---------------------------------------------------------------- exposition format

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
VALUE_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|Inf)\Z|NaN\Z")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_exposition(text):
    """Parse the text format strictly: every family has one HELP then one
    TYPE line before its samples, samples follow their own family, label
    values are properly escaped, no sample repeats, counters end in _total.
    Returns {name: {"type", "help", "samples": {frozenset(labels): float}}}."""
    assert text.endswith("\n"), "the body must end with a newline"
    fams = {}
    current = None
    for lineno, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {lineno}: {line!r}"
        assert line, f"{where}: empty line"
        if line.startswith("# HELP "):
            name, sep, help_text = line[len("# HELP "):].partition(" ")
            assert sep and help_text.strip(), f"{where}: HELP without text"
            assert NAME_RE.match(name), f"{where}: bad metric name"
            assert name not in fams, f"{where}: {name} described twice"
            fams[name] = {"help": help_text, "type": None, "samples": {}}
            current = name
            continue
        if line.startswith("# TYPE "):
            parts = line[len("# TYPE "):].split(" ")
            assert len(parts) == 2, f"{where}: bad TYPE line"
            name, typ = parts
            assert name == current, f"{where}: TYPE for {name} not right after its HELP"
            assert fams[name]["type"] is None and not fams[name]["samples"], f"{where}: TYPE after samples"
            assert typ in TYPES, f"{where}: unknown type {typ}"
            if typ == "counter":
                assert name.endswith("_total"), f"{where}: counter {name} without _total"
            fams[name]["type"] = typ
            continue
        assert not line.startswith("#"), f"{where}: stray comment"
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^\n]*\})? (\S+)\Z", line)
        assert m, f"{where}: not a sample line"
        name, labels_text, value = m.group(1), m.group(2), m.group(3)
        assert name == current, f"{where}: sample of {name} outside its family ({current})"
        assert fams[name]["type"] is not None, f"{where}: sample before TYPE"
        labels = {}
        if labels_text:
            body = labels_text[1:-1]
            pos = 0
            while pos < len(body):
                lm = LABEL_RE.match(body, pos)
                assert lm, f"{where}: bad label at {body[pos:]!r}"
                assert lm.group(1) not in labels, f"{where}: label {lm.group(1)} repeated"
                labels[lm.group(1)] = lm.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                pos = lm.end()
                if pos < len(body):
                    assert body[pos] == ",", f"{where}: labels not separated by ','"
                    pos += 1
                    assert pos < len(body), f"{where}: trailing ','"
        assert VALUE_RE.match(value), f"{where}: bad value {value!r}"
        key = frozenset(labels.items())
        assert key not in fams[name]["samples"], f"{where}: sample repeated"
        fams[name]["samples"][key] = float(value)
    for name, f in fams.items():
        assert f["type"] is not None, f"{name}: HELP without TYPE"
    return fams


def value(fams, name, **labels):
    """The sample's value; 0 for a labelled sample that is absent."""
    assert name in fams, f"no metric {name}"
    key = frozenset(labels.items())
    if key not in fams[name]["samples"]:
        assert labels, f"{name} has no unlabelled sample"
        return 0.0
    return fams[name]["samples"][key]


def by_label(fams, name, *keys):
    """{(label values...): value} of every sample of name."""
    out = {}
    for k, v in fams[name]["samples"].items():
        d = dict(k)
        assert set(d) == set(keys), f"{name}: labels {sorted(d)} instead of {sorted(keys)}"
        out[tuple(d[x] for x in keys)] = v
    return out


# ---------------------------------------------------------------- HTTP

def http_get(port, path, method="GET", timeout=5.0):
    """(status, content type, body text) via urllib."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def curl(port, path="/metrics"):
    p = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
                        f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"curl failed: {p.stderr}"
    body, _, code = p.stdout.rpartition("\n")
    return int(code), body


def scrape(port):
    status, ctype, body = http_get(port, "/metrics")
    assert status == 200, body
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    return parse_exposition(body), body


def raw_query(qtype, name=b"\x07example\x04test\x00", qid=0x4242):
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack("!HH", qtype, 1)


def start_with_metrics(lists, factory, upstream, *extra):
    port = free_port()
    d = lists.start(factory, upstream, f"--metrics=127.0.0.1:{port}", *extra)
    d.metrics_port = port
    return d


# ---------------------------------------------------------------- tests

def test_counters_match_the_queries_sent(lists, parasold_factory, upstream, parasol_cli):
    lists.feed("pools", ["pool.minexmr.example", "xmr.pool.example"], category="mining")
    lists.feed("webminers", ["coinhive.example"], category="browser-miner")
    lists.deny("local-bad.example")
    d = start_with_metrics(lists, parasold_factory, upstream, "--resolve-timeout=400",
                           "--upstream-timeout=100")
    port = d.metrics_port
    t_start = time.time()

    fams, _ = scrape(port)
    assert value(fams, "parasol_queries_total") == 0
    assert fams["parasol_responses_total"]["samples"] == {}

    # 3 forwarded NOERROR, 1 forwarded NXDOMAIN, 2 cached.
    for n in ("fwd1", "fwd2", "fwd3"):
        assert d.ask(f"{n}.example.test").rcode() == dns.rcode.NOERROR
    assert d.ask("nx-one.example.test").rcode() == dns.rcode.NXDOMAIN
    for _ in range(2):
        assert a_addrs(d.ask("fwd1.example.test")) == ["192.0.2.1"]
    # 4 blocked in three categories (null sinkhole: NOERROR, 0.0.0.0).
    for n in ("pool.minexmr.example", "xmr.pool.example", "coinhive.example", "local-bad.example"):
        r = d.ask(n)
        assert r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["0.0.0.0"], r
    # 1 refused (class CH), 1 FORMERR (qtype OPT), 1 SERVFAIL (no answer upstream).
    r = udp(dns.message.make_query("version.bind", "TXT", "CH"), d.addr, d.port)
    assert r.rcode() == dns.rcode.REFUSED
    data, _ = udp_send_recv(raw_query(41), d.addr, d.port)
    assert data is not None and struct.unpack("!H", data[2:4])[0] & 0xF == dns.rcode.FORMERR
    assert d.ask("drop-x.example.test").rcode() == dns.rcode.SERVFAIL
    # 1 answered by parasold itself, 1 dropped unanswered (not a DNS message).
    assert d.ask(CANARY).rcode() == dns.rcode.NXDOMAIN
    data, _ = udp_send_recv(b"\x01\x02\x03", d.addr, d.port, timeout=0.5)
    assert data is None
    sent = 3 + 1 + 2 + 4 + 1 + 1 + 1 + 1 + 1

    fams, body = scrape(port)
    assert value(fams, "parasol_queries_total") == sent
    assert by_label(fams, "parasol_responses_total", "result", "rcode") == {
        ("forwarded", "NOERROR"): 3,
        ("forwarded", "NXDOMAIN"): 1,
        ("cached", "NOERROR"): 2,
        ("blocked", "NOERROR"): 4,
        ("refused", "REFUSED"): 1,
        ("error", "FORMERR"): 1,
        ("error", "SERVFAIL"): 1,
        ("local", "NXDOMAIN"): 1,
    }
    assert value(fams, "parasol_dropped_total") == 1
    assert by_label(fams, "parasol_blocked_total", "category") == {
        ("mining",): 2, ("browser-miner",): 1, ("local",): 1}
    assert value(fams, "parasol_cache_hits_total") == 2
    assert value(fams, "parasol_cache_misses_total") == 5
    assert value(fams, "parasol_cache_entries") == 4
    assert value(fams, "parasol_cache_bytes") > 0
    assert value(fams, "parasol_forwarded_total") == 5
    up = upstream.hostport
    assert value(fams, "parasol_upstream_answers_total", upstream=up) == 4
    assert value(fams, "parasol_upstream_queries_total", upstream=up) == len(upstream.queries())
    assert value(fams, "parasol_upstream_timeouts_total", upstream=up) >= 1
    assert value(fams, "parasol_upstream_srtt_seconds", upstream=up) > 0
    assert value(fams, "parasol_stats_events_total") == 4
    assert value(fams, "parasol_stats_recording") == 1
    # The canary and the blocked names never left the box.
    assert upstream.queries(CANARY) == []
    for n in ("pool.minexmr.example", "coinhive.example", "local-bad.example"):
        assert upstream.queries(n) == []

    # Lists and build as the CLI sees them.
    st = parasol_cli("status", "--json", daemon=d)
    assert st.returncode == 0, st.stderr
    import json
    st = json.loads(st.stdout)
    assert value(fams, "parasol_lists_generation") == st["lists_generation"] > 0
    assert value(fams, "parasol_lists_entries") == st["lists_names"] == 4
    assert value(fams, "parasol_lists_loads_total") == 1
    assert value(fams, "parasol_lists_load_failures_total") == 0
    assert t_start - 60 <= value(fams, "parasol_lists_last_load_timestamp_seconds") <= time.time() + 1
    assert t_start - 60 <= value(fams, "process_start_time_seconds") <= t_start + 1
    version = parasol_cli("--version").stdout.split()[-1]
    assert by_label(fams, "parasol_build_info", "version") == {(version,): 1}

    # Nothing names a client or a queried name.
    allowed = {"result", "rcode", "category", "upstream", "version"}
    for name, f in fams.items():
        for key in f["samples"]:
            assert {k for k, _ in key} <= allowed, f"{name} has labels {key}"
    for n in ("fwd1", "nx-one", "pool.minexmr", "coinhive", "local-bad", CANARY):
        assert n not in body

    # curl sees the same counters (scraping counts nothing).
    code, text = curl(port)
    assert code == 200
    again = parse_exposition(text)
    for name in ("parasol_queries_total", "parasol_responses_total", "parasol_blocked_total",
                 "parasol_cache_hits_total", "parasol_upstream_answers_total"):
        assert again[name]["samples"] == fams[name]["samples"], name


def test_health_and_readiness(parasold_factory, upstream):
    port = free_port()
    d = parasold_factory(f"--metrics={port}", "--resolve-timeout=3000", upstreams=[upstream])
    assert http_get(port, "/healthz")[:1] == (200,)
    status, _, body = http_get(port, "/readyz")
    assert (status, body) == (200, "ready\n")
    assert http_get(port, "/nothing")[0] == 404
    assert http_get(port, "/metrics", method="HEAD")[0] == 200

    # Stopping: answers in flight are drained, and load balancers are told
    # to go elsewhere while the loop still serves health checks.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(make_query("drop-inflight.example.test").to_wire(), (d.addr, d.port))
    deadline = time.monotonic() + 3
    while not upstream.queries("drop-inflight.example.test") and time.monotonic() < deadline:
        time.sleep(0.02)
    d.signal(signal.SIGTERM)
    assert d.wait_for("stopping", timeout=3) is not None
    status, _, body = http_get(port, "/readyz")
    assert (status, body) == (503, "not ready: stopping\n")
    assert http_get(port, "/healthz")[0] == 200
    assert d.wait_exit(10) == 0
    s.close()
    with pytest.raises(OSError):
        http_get(port, "/healthz", timeout=1)


def test_no_list_no_start(parasold_factory, upstream, tmp_path):
    """There is no 'not ready yet' window for lack of a blocklist:
    parasold loads it before it listens, and without one it does not start."""
    bad = tmp_path / "lists.db"
    bad.write_bytes(b"this is not a database" * 100)
    port = free_port()
    with pytest.raises(AssertionError, match="exited"):
        parasold_factory(f"--lists-db={bad}", f"--metrics={port}", upstreams=[upstream])
    with pytest.raises(OSError):
        http_get(port, "/readyz", timeout=1)


def test_bad_http_clients_do_not_hurt(parasold_factory, upstream):
    port = free_port()
    d = parasold_factory(f"--metrics={port}", upstreams=[upstream])
    status, _, _ = http_get(port, "/metrics", method="POST")
    assert status == 405
    status, _, _ = http_get(port, "/metrics", method="DELETE")
    assert status == 405

    # A header far over the limit: refused or cut off, never served.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        try:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            reply = c.recv(200)
        except ConnectionResetError:
            reply = b""
        assert not reply.startswith(b"HTTP/1.1 200"), reply
        if reply:
            assert reply.split()[1] in (b"413", b"414", b"431", b"400"), reply

    # Garbage and a bare HTTP/0.9-style line: an error or, at the latest
    # after the idle timeout, a close.
    for junk in (b"\x00\xff\x16\x03\x01garbage\r\n\r\n", b"GET /metrics\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=8) as c:
            c.sendall(junk)
            try:
                reply = c.recv(100)
            except ConnectionResetError:
                reply = b""
            assert not reply.startswith(b"HTTP/1.1 200"), reply

    # Slowloris: more half-sent requests than the endpoint takes at once.
    slow = []
    for _ in range(12):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        slow.append(c)
    # DNS does not notice.
    for i in range(5):
        assert d.ask(f"during-slow{i}.example.test").rcode() == dns.rcode.NOERROR
    # The endpoint closes idle half-requests on its own (5 s).
    slow[0].settimeout(10)
    try:
        reply = slow[0].recv(100)
    except ConnectionResetError:
        reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/1.1 408"), reply
    for c in slow:
        c.close()
    # And serves again.
    deadline = time.monotonic() + 5
    while True:
        try:
            fams, _ = scrape(port)
            break
        except (OSError, AssertionError):
            assert time.monotonic() < deadline, "metrics endpoint did not recover"
            time.sleep(0.1)
    assert by_label(fams, "parasol_responses_total", "result", "rcode")[("forwarded", "NOERROR")] == 5
    assert d.alive()


def test_metrics_config(run_parasold, parasold_factory, upstream):
    for bad in ("--metrics=0", "--metrics=70000", "--metrics=localhost:9153", "--metrics=1.2.3.4.5"):
        p = run_parasold(bad, "--upstream=127.0.0.1:9", "--check-config")
        assert p.returncode != 0, bad
        assert "metrics" in p.stderr, p.stderr
    p = run_parasold("--metrics=none", "--upstream=127.0.0.1:9", "--check-config")
    assert p.returncode == 0, p.stderr
    # A port that is taken: parasold says so and does not start.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(AssertionError, match="cannot listen"):
            parasold_factory(f"--metrics=127.0.0.1:{taken.getsockname()[1]}", upstreams=[upstream])
    finally:
        taken.close()
    # [::1] works as well.
    port = free_port(("::1",))
    d = parasold_factory(f"--metrics=[::1]:{port}", upstreams=[upstream])
    with urllib.request.urlopen(f"http://[::1]:{port}/healthz", timeout=5) as r:
        assert r.status == 200
    assert "metrics on http://[::1]:" in d.stderr_text()


def test_doh_canary(parasold_factory, upstream):
    d = parasold_factory(upstreams=[upstream])
    for transport in ("udp", "tcp"):
        for qtype in ("A", "AAAA", "HTTPS"):
            r = d.ask(CANARY, qtype, transport=transport)
            assert r.rcode() == dns.rcode.NXDOMAIN, r
            assert r.answer == []
            assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]
    r = d.ask("Use-Application-DNS.NET")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert str(r.question[0].name) == "Use-Application-DNS.NET."
    assert upstream.queries(CANARY) == []
    # Only that exact name (Mozilla's rule); names under it are forwarded.
    assert a_addrs(d.ask("sub.use-application-dns.net")) == ["192.0.2.1"]
    assert len(upstream.queries("sub.use-application-dns.net")) == 1

    off = parasold_factory("--doh-canary=no", upstreams=[upstream])
    r = off.ask(CANARY)
    assert r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.1"]
    assert len(upstream.queries(CANARY)) == 1


def healthcheck(cli, *args, env=None):
    return cli("healthcheck", *args, env=env, timeout=20)


def test_healthcheck(parasold_factory, upstream, parasol_cli, tmp_path):
    d = parasold_factory("--resolve-timeout=300", "--upstream-timeout=100", upstreams=[upstream])
    server = f"--server={d.addr}:{d.port}"
    p = healthcheck(parasol_cli, server)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"healthy: {d.addr}:{d.port} answered NXDOMAIN for {CANARY} in ")
    # The default question never reaches the upstream.
    assert upstream.queries(CANARY) == []

    p = healthcheck(parasol_cli, server, "--name=alive.example.test")
    assert p.returncode == 0 and "answered NOERROR" in p.stdout, p.stdout + p.stderr
    assert len(upstream.queries("alive.example.test")) == 1
    p = healthcheck(parasol_cli, server, "--name=nx-gone.example.test")
    assert p.returncode == 0 and "answered NXDOMAIN" in p.stdout

    # A daemon whose upstream is dead answers SERVFAIL: unhealthy.
    p = healthcheck(parasol_cli, server, "--name=drop-dead.example.test")
    assert p.returncode == 1
    assert p.stderr.strip() == f"unhealthy: {d.addr}:{d.port}: answered SERVFAIL"

    # A client it refuses.
    closed = parasold_factory("--allow-net=10.0.0.0/8", upstreams=[upstream])
    p = healthcheck(parasol_cli, f"--server={closed.addr}:{closed.port}")
    assert p.returncode == 1 and "answered REFUSED" in p.stderr

    # Nothing listening.
    dead = free_port()
    p = healthcheck(parasol_cli, f"--server=127.0.0.1:{dead}", "--timeout=1000")
    assert p.returncode == 1
    assert p.stderr.strip() == f"unhealthy: 127.0.0.1:{dead}: Connection refused"

    # Something that never answers.
    mute = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mute.bind(("127.0.0.1", 0))
    try:
        t0 = time.monotonic()
        p = healthcheck(parasol_cli, f"--server=127.0.0.1:{mute.getsockname()[1]}", "--timeout=300")
        assert p.returncode == 1
        assert p.stderr.strip().endswith("no answer within 300 ms")
        assert time.monotonic() - t0 < 10
    finally:
        mute.close()

    # A reply with the wrong ID is ignored; one for another question fails.
    for mode, expect_rc in (("wrong-id-first", 0), ("other-question", 1)):
        fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fake.bind(("127.0.0.1", 0))
        fake.settimeout(10)

        def serve(fake=fake, mode=mode):
            wire, src = fake.recvfrom(4096)
            q = dns.message.from_wire(wire)
            if mode == "wrong-id-first":
                bad = dns.message.make_response(q)
                bad.id = (q.id + 1) % 65536
                bad.set_rcode(dns.rcode.SERVFAIL)
                fake.sendto(bad.to_wire(), src)
                fake.sendto(dns.message.make_response(q).to_wire(), src)
            else:
                other = dns.message.make_query("other.example.test", "A")
                other.id = q.id
                fake.sendto(dns.message.make_response(other).to_wire(), src)

        import threading
        th = threading.Thread(target=serve, daemon=True)
        th.start()
        p = healthcheck(parasol_cli, f"--server=127.0.0.1:{fake.getsockname()[1]}")
        th.join(5)
        fake.close()
        assert p.returncode == expect_rc, (mode, p.stdout, p.stderr)
        if expect_rc:
            assert "does not match the question" in p.stderr

    # The default server comes from parasold's config file.
    conf = tmp_path / "parasol.conf"
    conf.write_text(f"# test\nlisten = {d.addr}:{d.port}\n")
    p = healthcheck(parasol_cli, env={"PARASOL_CONFIG": str(conf)})
    assert p.returncode == 0 and p.stdout.startswith(f"healthy: {d.addr}:{d.port} "), p.stdout + p.stderr

    # Usage errors.
    for bad in ("--server=1.2.3", "--server=[::1", "--server=127.0.0.1:0", "--timeout=0",
                "--timeout=x", "--name=a..b"):
        p = healthcheck(parasol_cli, server, bad)
        assert p.returncode == 2, (bad, p.stdout, p.stderr)
    p = healthcheck(parasol_cli, server, "extra")
    assert p.returncode == 2


def test_hostile_category_stays_a_valid_label(lists, parasold_factory, upstream):
    """Rows read back from lists.db are not trusted to be clean text."""
    import sqlite3
    lists.feed("pools", ["pool.minexmr.example"], category="mining")
    con = sqlite3.connect(lists.db)
    con.execute("UPDATE feeds SET category = ? WHERE id = 'pools'", ('a"b\\c\nd\u00e9',))
    con.commit()
    con.close()
    d = start_with_metrics(lists, parasold_factory, upstream)
    assert a_addrs(d.ask("pool.minexmr.example")) == ["0.0.0.0"]
    fams, body = scrape(d.metrics_port)
    assert by_label(fams, "parasol_blocked_total", "category") == {('a"b\\c?d??',): 1}
    body.encode("ascii")
