"""Scale-out as the README describes it: dnsdist on loopback in front of
two self-contained parasold instances (each with its own lists.db, stats.db
and control socket), health-checked with the DoH canary. Both instances
block the same names after one parasol-update each from the same feed
file; resolution goes on through dnsdist when one instance is stopped."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import dns.rcode
import pytest

from helpers import a_addrs, free_port, make_query, udp, NoReply
from test_metrics import by_label, scrape

BLOCKED = ["pool.minexmr.example", "xmr.pool.example", "coinhive.example"]


@pytest.fixture
def dnsdist(tmp_path):
    """start(backends) -> (addr, port) of a dnsdist on loopback."""
    exe = shutil.which("dnsdist") or ("/usr/bin/dnsdist" if os.path.exists("/usr/bin/dnsdist") else None)
    if exe is None:
        pytest.fail("dnsdist missing: install it with 'docker/build.sh --test'", pytrace=False)
    procs = []

    def start(backends):
        port = free_port()
        conf = tmp_path / "dnsdist.conf"
        lines = [
            'setSecurityPollSuffix("")',  # no version lookups on the internet
            f'setLocal("127.0.0.1:{port}")',
            'setACL({"127.0.0.0/8"})',
            "setServerPolicy(roundrobin)",
        ]
        for i, (addr, p) in enumerate(backends):
            lines.append(
                f'newServer({{address="{addr}:{p}", name="parasol{i}", '
                'checkName="use-application-dns.net.", checkInterval=1, '
                "maxCheckFailures=1, rise=1})")
        conf.write_text("\n".join(lines) + "\n")
        check = subprocess.run([exe, "--check-config", "-C", str(conf)], capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        log = open(tmp_path / "dnsdist.log", "w")
        proc = subprocess.Popen([exe, "--supervised", "--disable-syslog", "-C", str(conf)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        # Up when it answers the canary for us (bounded).
        deadline = time.monotonic() + 15
        while True:
            try:
                r = udp(make_query("use-application-dns.net"), "127.0.0.1", port, timeout=0.5)
                if r.rcode() == dns.rcode.NXDOMAIN:
                    break
            except NoReply:
                pass
            assert proc.poll() is None, (tmp_path / "dnsdist.log").read_text()
            assert time.monotonic() < deadline, "dnsdist did not come up:\n" + \
                (tmp_path / "dnsdist.log").read_text()
            time.sleep(0.2)
        return "127.0.0.1", port

    start.log = lambda: (tmp_path / "dnsdist.log").read_text()
    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


def ask(addr, port, name):
    return udp(make_query(name), addr, port, timeout=1.0)


def test_dnsdist_in_front_of_two_instances(parasold_factory, upstream, parasol_cli, parasol_update,
                                          dnsdist, tmp_path):
    feed = tmp_path / "mining.txt"
    feed.write_text("".join(n + "\n" for n in BLOCKED))

    instances = []
    for i in range(2):
        mport = free_port()
        d = parasold_factory(f"--metrics=127.0.0.1:{mport}", "--lists-poll=0", upstreams=[upstream])
        d.metrics_port = mport
        instances.append(d)
    assert instances[0].lists_db != instances[1].lists_db
    assert instances[0].control != instances[1].control

    # Nothing is blocked yet.
    for d in instances:
        assert a_addrs(d.ask(BLOCKED[0])) == ["192.0.2.1"]

    # One parasol-update per instance, from the same local feed file.
    for d in instances:
        p = parasol_cli("feeds", "add", "pools", str(feed), "--format=domains", "--category=mining",
                        daemon=d)
        assert p.returncode == 0, p.stdout + p.stderr
        p = parasol_update(f"--lists-db={d.lists_db}", f"--control={d.control}")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "parasold reloaded" in p.stdout + p.stderr
    for d in instances:
        for n in BLOCKED:
            r = d.ask(n)
            assert a_addrs(r) == ["0.0.0.0"], (d.port, n, r)

    addr, port = dnsdist([(d.addr, d.port) for d in instances])

    # Through dnsdist: allowed names resolve, mining names are sinkholed,
    # and round robin spreads them over both instances.
    for i in range(10):
        r = ask(addr, port, f"ok{i}.example.test")
        assert r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.1"]
        for n in BLOCKED:
            assert a_addrs(ask(addr, port, n)) == ["0.0.0.0"]
    for d in instances:
        fams, _ = scrape(d.metrics_port)
        blocked = by_label(fams, "parasol_blocked_total", "category")
        assert blocked.get(("mining",), 0) >= 5, (d.port, blocked)

    # Stop one instance (SIGTERM to its PID); dnsdist's health check marks
    # it down within its interval, and resolution carries on.
    gone, left = instances
    assert gone.stop() == 0
    before = by_label(scrape(left.metrics_port)[0], "parasol_responses_total", "result", "rcode")
    deadline = time.monotonic() + 15
    streak = 0
    i = 0
    while streak < 20:
        assert time.monotonic() < deadline, \
            f"resolution through dnsdist did not recover after one instance stopped:\n{dnsdist.log()}"
        i += 1
        try:
            r = ask(addr, port, f"after{i}.example.test")
            ok = r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.1"]
            ok = ok and a_addrs(ask(addr, port, BLOCKED[i % len(BLOCKED)])) == ["0.0.0.0"]
        except NoReply:
            ok = False
        streak = streak + 1 if ok else 0
    assert "as 'down'" in dnsdist.log()
    after = by_label(scrape(left.metrics_port)[0], "parasol_responses_total", "result", "rcode")
    # The streak was answered by the instance still running.
    assert after[("forwarded", "NOERROR")] - before.get(("forwarded", "NOERROR"), 0) >= 20
    assert after[("blocked", "NOERROR")] - before.get(("blocked", "NOERROR"), 0) >= 20
