"""The benchmark's helper (tests/bench/bench.py) as the benchmark uses it.

Its numbers are only as good as these parts: the latency percentiles read
from dnsperf's per-query output, the inputs it builds (the same blocklist in
each server's form, an upstream zone that answers every miss, cached names
that no list blocks), never-repeating miss names, and the check that stops a
run when a server does not block or does not answer with the upstream's
address.  No timing is asserted.
"""

import os
import subprocess

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "bench.py")
PY = "/usr/bin/python3"


def bench(*args, check=True):
    p = subprocess.run([PY, BENCH, *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"bench.py {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}"
    return p


def read(path):
    with open(path) as f:
        return f.read().splitlines()


def test_latency_percentiles_from_dnsperf_verbose_output(tmp_path):
    out = tmp_path / "dnsperf.txt"
    lines = ["[Status] Sending queries (to 127.0.0.1:5300)"]
    # 100 answers, 1..100 ms, shuffled; one of them a SERVFAIL (an answer too)
    order = [(i * 37) % 100 + 1 for i in range(100)]
    for n, ms in enumerate(order):
        rc = "SERVFAIL" if n == 5 else "NOERROR"
        lines.append(f"> {rc} name{n}.example A {ms / 1000:.6f}")
    lines += ["[Timeout] Query timed out: msg id 7", "", "Statistics:",
              "  Average Latency (s):  0.050500 (min 0.001000, max 0.100000)"]
    out.write_text("\n".join(lines) + "\n")
    p = bench("latency", "--file", str(out))
    assert p.stdout.split() == ["answers=100", "p50_ms=50.000", "p99_ms=99.000"]


def test_latency_without_answers_fails(tmp_path):
    out = tmp_path / "dnsperf.txt"
    out.write_text("[Timeout] Query timed out: msg id 1\nStatistics:\n")
    p = bench("latency", "--file", str(out), check=False)
    assert p.returncode == 1
    assert "answers=0" in p.stdout


@pytest.fixture
def prepared(tmp_path):
    scale = tmp_path / "scale"
    scale.mkdir()
    (scale / "SOURCES.md").write_text("# not a list\nnot.a.name\n")
    (scale / "one.txt").write_text("# comment\n\nads.example\nTRACK.Example.\nbad_name!.example\n")
    (scale / "two.txt").write_text("ads.example\ncdn.blocked.test2\n")
    queries = tmp_path / "top.txt"
    queries.write_text("\n".join([
        "google.com", "www.ads.example", "sub.track.example", "printer.local",
        "1.0.0.127.in-addr.arpa", "example.org", "news.example.org",
        "Google.com", "wiki.example.net"]) + "\n")
    out = tmp_path / "out"
    out.mkdir()
    p = bench("prepare", "--scale-dir", str(scale), "--queries", str(queries),
              "--out", str(out), "--subset", "2", "--sample", "2", "--www-every", "2",
              "--names", "3", "--check", "2")
    return out, dict(kv.split("=") for kv in p.stdout.split())


def test_prepare_gives_every_server_the_same_list(prepared):
    out, summary = prepared
    full = ["ads.example", "cdn.blocked.test2", "track.example"]
    assert read(out / "set-full.txt") == full
    assert summary["invalid_skipped"] == "1"
    assert read(out / "unbound-full.conf") == ["server:"] + [
        f'    local-zone: "{n}." always_null' for n in full]
    assert read(out / "dnsmasq-full.conf") == [f"address=/{n}/#" for n in full]
    # the smaller list holds every sampled (blocked-scenario) name
    sub = set(read(out / "set-100k.txt"))
    assert len(sub) == 2 and sub <= set(full)
    blocked = [ln.split()[0] for ln in read(out / "blocked.txt")]
    assert len(blocked) == 2 and blocked[1].startswith("www.")
    assert {b.removeprefix("www.") for b in blocked} <= sub
    assert read(out / "check-blocked.txt") == [f"{b} null" for b in blocked]


def test_prepare_zone_answers_names_and_everything_under_them(prepared):
    out, _ = prepared
    zone = read(out / "root.zone")
    recs = {}
    for ln in zone:
        f = ln.split()
        if len(f) == 4 and f[2] == "A":
            recs[f[0]] = f[3]
    # special-use names are left to the resolvers; duplicates once
    assert "printer.local." not in recs and "1.0.0.127.in-addr.arpa." not in recs
    assert sum(1 for ln in zone if ln.startswith("google.com.")) == 1
    for n in ("google.com", "example.org", "news.example.org", "www.ads.example"):
        assert recs[f"{n}."] == recs[f"*.{n}."]
        assert recs[f"{n}."].startswith(("198.18.", "198.19."))
    assert any(ln.startswith(". IN SOA ") for ln in zone)


def test_prepare_cached_names_are_never_blocked(prepared):
    out, summary = prepared
    pool = read(out / "pool.txt")
    # www.ads.example and sub.track.example are blocked through a parent
    assert pool == ["google.com", "example.org", "news.example.org", "wiki.example.net"]
    assert read(out / "hits.txt") == ["google.com A", "example.org A", "news.example.org A"]
    zone = {ln.split()[0]: ln.split()[3] for ln in read(out / "root.zone")
            if len(ln.split()) == 4 and ln.split()[2] == "A"}
    for ln in read(out / "check-hits.txt"):
        name, addr = ln.split()
        assert zone[f"{name}."] == addr
    mix = [ln.split()[0] for ln in read(out / "mix.txt")]
    assert len(mix) == 3 and summary["mix_blocked"] == "0"


def test_misses_never_repeat_and_expect_the_wildcard_answer(prepared, tmp_path):
    out, _ = prepared
    zone = {ln.split()[0]: ln.split()[3] for ln in read(out / "root.zone")
            if len(ln.split()) == 4 and ln.split()[2] == "A"}
    f1, c1, f2 = tmp_path / "m1", tmp_path / "c1", tmp_path / "m2"
    bench("misses", "--pool", str(out / "pool.txt"), "--tag", "m1a", "--count", "50",
          "--out", str(f1), "--check", str(c1))
    bench("misses", "--pool", str(out / "pool.txt"), "--tag", "m1b", "--count", "50",
          "--out", str(f2))
    n1 = [ln.split()[0] for ln in read(f1)]
    n2 = [ln.split()[0] for ln in read(f2)]
    assert len(set(n1)) == 50 and len(set(n2)) == 50 and not set(n1) & set(n2)
    pool = set(read(out / "pool.txt"))
    for ln in read(c1):
        name, addr = ln.split()
        label, parent = name.split(".", 1)
        assert parent in pool and f"{name}." not in zone
        assert zone[f"*.{parent}."] == addr


def test_check_stops_on_a_server_that_does_not_block(lists, parasold_factory, upstream, tmp_path):
    lists.deny("ads.example")
    d = lists.start(parasold_factory, upstream)
    good = tmp_path / "good.txt"
    good.write_text("ads.example null\nwww.ads.example null\nfine.example 192.0.2.1\n")
    p = bench("check", "--port", str(d.port), "--file", str(good))
    assert p.stdout.split() == ["names=3", "ok=3", "wrong=0", "no_answer=0"]

    bad = tmp_path / "bad.txt"
    bad.write_text("ads.example null\nnot-listed.example null\n")
    p = bench("check", "--port", str(d.port), "--file", str(bad), check=False)
    assert p.returncode == 1
    assert p.stdout.split() == ["names=2", "ok=1", "wrong=1", "no_answer=0"]
    assert "not-listed.example: want null" in p.stderr

    # an answer that is not the upstream's address is wrong too
    other = tmp_path / "other.txt"
    other.write_text("fine.example 198.18.0.1\n")
    p = bench("check", "--port", str(d.port), "--file", str(other), check=False)
    assert p.returncode == 1 and "wrong=1" in p.stdout


def test_check_counts_a_silent_server(tmp_path):
    import socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))  # bound, never answers
    try:
        f = tmp_path / "q.txt"
        f.write_text("a.example null\n")
        p = bench("check", "--port", str(s.getsockname()[1]), "--file", str(f), check=False)
    finally:
        s.close()
    assert p.returncode == 1
    assert p.stdout.split() == ["names=1", "ok=0", "wrong=0", "no_answer=1"]
