"""Abuse resistance as clients see it: per-client rate limits (per address
and per network, REFUSED with EDE 18 or dropped, counted), slow TCP
connections that cannot starve a fresh client, per-client connection caps,
the first-query and drip-feed timeouts, pipelined TCP answers in the order
they complete, and running out of file descriptors (accepting pauses, UDP
keeps answering, TCP recovers).

127.0.0.x source addresses stand for distinct clients; loopback is exempt
from rate limits by default, so these tests give --ratelimit-exempt=none.
"""

import json
import os
import resource
import socket
import struct
import time
import urllib.request

import dns.edns
import dns.rcode

from helpers import (a_addrs, ede_list, free_port, make_query, parse, tcp_connect,
                     tcp_read_msg, udp_send_recv)

PAD = [dns.edns.GenericOption(dns.edns.OptionType.PADDING, b"\0" * 40)]


def framed(q):
    w = q.to_wire()
    return struct.pack("!H", len(w)) + w


def burst(p, source, name, n, timeout=1.0):
    """n UDP queries for name from source; (answers, refused, silent, last refused reply)."""
    ok = refused = silent = 0
    last = None
    for i in range(n):
        q = make_query(name, "A", options=PAD)
        data, _ = udp_send_recv(q.to_wire(), p.addr, p.port, timeout=timeout, source=source)
        if data is None:
            silent += 1
            continue
        r = parse(data)
        if r.rcode() == dns.rcode.REFUSED:
            refused += 1
            last = r
        elif r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.1"]:
            ok += 1
    return ok, refused, silent, last


def is_closed(s, timeout):
    s.settimeout(timeout)
    try:
        data = s.recv(1)
    except socket.timeout:
        return False
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return True
    return data == b""


def served(s, name, timeout=2.0):
    q = make_query(name, "A")
    try:
        s.sendall(framed(q))
        s.settimeout(timeout)
        r = parse(tcp_read_msg(s))
    except (socket.timeout, EOFError, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return False
    return r.id == q.id and a_addrs(r) == ["192.0.2.1"]


# ------------------------------------------------------------------ rate limits

def test_rate_limited_client_refused_other_client_served(parasold_factory, upstream, parasol_cli):
    mport = free_port()
    p = parasold_factory("--ratelimit=5", "--ratelimit-burst=10", "--ratelimit-prefix=0",
                         "--ratelimit-exempt=none", f"--metrics={mport}", upstreams=[upstream])
    p.ask("rl.example.test", source="127.0.0.9")  # warm the cache: answers cost nothing upstream
    ok, refused, silent, last = burst(p, "127.0.0.2", "rl.example.test", 40)
    assert refused >= 20, f"only {refused} of 40 refused at 5 q/s, burst 10 ({ok} answered)"
    assert ok >= 9, f"the burst was not served: {ok} answered"
    assert silent == 0
    assert (18, "rate limit") in ede_list(last), f"REFUSED without EDE 18: {ede_list(last)}"
    # Another address is untouched by the first one's limit.
    ok2, refused2, _, _ = burst(p, "127.0.0.3", "rl.example.test", 8)
    assert (ok2, refused2) == (8, 0), f"a second client was limited: {ok2} answered, {refused2} refused"
    st = p.stats()
    assert st["ratelimited"] >= refused, st
    # The refused queries count as refused, and parasol status shows them.
    cli = parasol_cli("status", daemon=p)
    assert cli.returncode == 0, cli.stderr
    assert f"{st['ratelimited']} queries rate-limited" in cli.stdout, cli.stdout
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert f"parasol_ratelimited_total {st['ratelimited']}" in metrics.splitlines(), \
        [ln for ln in metrics.splitlines() if "ratelimited" in ln]
    # stats.db counts them as refused (written once a second).
    deadline = time.monotonic() + 5
    while True:
        js = parasol_cli("stats", "--json", "--since=1h", daemon=p)
        if js.returncode == 0 and json.loads(js.stdout)["refused"] >= refused:
            break
        assert time.monotonic() < deadline, f"stats.db does not count the refusals: {js.stdout}{js.stderr}"
        time.sleep(0.3)


def test_rate_limit_refills(parasold_factory, upstream):
    p = parasold_factory("--ratelimit=10", "--ratelimit-burst=5", "--ratelimit-prefix=0",
                         "--ratelimit-exempt=none", upstreams=[upstream])
    _, refused, _, _ = burst(p, "127.0.0.2", "refill.example.test", 20)
    assert refused > 0
    time.sleep(1.0)  # 10 q/s refills the bucket of 5
    ok, refused, _, _ = burst(p, "127.0.0.2", "refill.example.test", 3)
    assert (ok, refused) == (3, 0), "the bucket did not refill"


def test_rate_limit_drop_action(parasold_factory, upstream):
    # 1 q/s: the waits for dropped answers refill little.
    p = parasold_factory("--ratelimit=1", "--ratelimit-burst=5", "--ratelimit-prefix=0",
                         "--ratelimit-exempt=none", "--ratelimit-action=drop", upstreams=[upstream])
    p.ask("rldrop.example.test", source="127.0.0.9")
    ok, refused, silent, _ = burst(p, "127.0.0.4", "rldrop.example.test", 20, timeout=0.2)
    assert refused == 0, "REFUSED sent with --ratelimit-action=drop"
    assert silent >= 8, f"only {silent} of 20 dropped ({ok} answered)"
    assert p.stats()["ratelimited"] >= silent
    ok2, _, silent2, _ = burst(p, "127.0.0.5", "rldrop.example.test", 4)
    assert (ok2, silent2) == (4, 0)


def test_rate_limit_per_network(parasold_factory, upstream):
    """Many addresses of one /24 share its bucket; another /24 does not."""
    p = parasold_factory("--ratelimit=0", "--ratelimit-prefix=5", "--ratelimit-prefix-burst=10",
                         "--ratelimit-exempt=none", upstreams=[upstream])
    refused = 0
    for i in range(30):
        _, r, _, _ = burst(p, f"127.0.0.{10 + i}", "net.example.test", 1)
        refused += r
    assert refused >= 15, f"only {refused} of 30 refused from one /24"
    ok, r, _, _ = burst(p, "127.0.1.10", "net.example.test", 5)
    assert (ok, r) == (5, 0), "a client in another /24 was limited"


def test_loopback_exempt_by_default(parasold_factory, upstream):
    p = parasold_factory("--ratelimit=2", "--ratelimit-burst=2", upstreams=[upstream])
    ok, refused, _, _ = burst(p, "127.0.0.2", "exempt.example.test", 20)
    assert (ok, refused) == (20, 0)
    assert p.stats()["ratelimited"] == 0


# ------------------------------------------------------------------ slow TCP clients

def test_slow_connections_do_not_starve_a_new_client(parasold_factory, upstream):
    """Every slot held by connections that sent one byte and went quiet
    (timeouts far away): a fresh client is still served at once, the slot
    coming from the connection idle the longest."""
    p = parasold_factory("--tcp-max-clients=20", "--tcp-max-per-client=5", "--tcp-idle-timeout=60000",
                         "--tcp-first-timeout=60000", upstreams=[upstream])
    slow = []
    try:
        for i in range(20):
            s = tcp_connect(p.addr, p.port, source=f"127.0.0.{10 + i // 5}")
            s.sendall(b"\x00")
            slow.append(s)
            time.sleep(0.01)
        time.sleep(0.3)
        assert p.stats()["tcp_clients"] == 20
        fresh = tcp_connect(p.addr, p.port, source="127.0.0.50")
        slow.append(fresh)
        assert served(fresh, "fresh.example.test", 3), "a fresh client was starved by slow connections"
        assert is_closed(slow[0], 3), "the connection idle the longest was not the one closed"
        st = p.stats()
        assert st["tcp_evicted"] >= 1 and st["tcp_clients"] == 20, st
    finally:
        for s in slow:
            s.close()


def test_per_client_connection_cap(parasold_factory, upstream):
    p = parasold_factory("--tcp-max-clients=100", "--tcp-max-per-client=3", "--tcp-idle-timeout=60000",
                         "--tcp-first-timeout=60000", upstreams=[upstream])
    socks = []
    try:
        for _ in range(6):
            socks.append(tcp_connect(p.addr, p.port, source="127.0.0.20"))
            time.sleep(0.05)
        time.sleep(0.3)
        assert p.stats()["tcp_clients"] == 3, "one address holds more than --tcp-max-per-client connections"
        assert is_closed(socks[0], 2) and is_closed(socks[2], 2)
        assert served(socks[5], "cap-new.example.test")
        other = tcp_connect(p.addr, p.port, source="127.0.0.21")
        socks.append(other)
        assert served(other, "cap-other.example.test"), "another address was refused"
    finally:
        for s in socks:
            s.close()


def test_first_query_timeout_closes_silent_and_dripping_connections(parasold_factory, upstream):
    p = parasold_factory("--tcp-first-timeout=500", "--tcp-idle-timeout=60000", upstreams=[upstream])
    silent = tcp_connect(p.addr, p.port)
    drip = tcp_connect(p.addr, p.port)
    try:
        w = framed(make_query("drip.example.test", "A"))
        closed = False
        deadline = time.monotonic() + 5
        for b in w:  # one byte every 300 ms: the query would take ~15 s
            try:
                drip.sendall(bytes([b]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if is_closed(drip, 0.3):
                closed = True
                break
            if time.monotonic() > deadline:
                break
        assert closed, "a connection dripping one byte at a time was kept open"
        assert is_closed(silent, 3), "a connection that never sent a query was kept open"
        assert p.stats()["tcp_timeouts"] >= 2
    finally:
        silent.close()
        drip.close()


def test_pipelined_answers_come_as_they_complete(parasold, upstream):
    """A slow cache miss first, a cache hit second: the hit is answered first."""
    upstream.set("slow-ooo.example.test", delay_ms=400)
    parasold.ask("hit-ooo.example.test", transport="tcp")
    q1 = make_query("slow-ooo.example.test", "A", id=4001)
    q2 = make_query("hit-ooo.example.test", "A", id=4002)
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        s.sendall(framed(q1) + framed(q2))
        s.settimeout(4)
        first = parse(tcp_read_msg(s))
        second = parse(tcp_read_msg(s))
    finally:
        s.close()
    assert (first.id, second.id) == (4002, 4001), "pipelined answers were held in query order"
    assert a_addrs(first) == ["192.0.2.1"] and a_addrs(second) == ["192.0.2.1"]


# ------------------------------------------------------------------ file descriptors

def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_file_descriptors_pauses_accepting(parasold_factory, upstream):
    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    p = parasold_factory("--tcp-max-clients=500", "--tcp-max-per-client=500", "--stats-db=none",
                         "--tcp-idle-timeout=60000", "--tcp-first-timeout=60000",
                         upstreams=[upstream], preexec_fn=low_nofile)
    assert p.wait_for("open file limit 40", timeout=1) is not None, "no warning about the low limit"
    p.ask("cached-fd.example.test")
    socks = []
    try:
        for i in range(80):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((f"127.0.0.{30 + i // 20}", 0))
            s.setblocking(False)
            try:
                s.connect((p.addr, p.port))
            except BlockingIOError:
                pass
            socks.append(s)
        assert p.wait_for("cannot accept", timeout=5) is not None, "never ran out of descriptors"
        cpu0 = _cpu_seconds(p.proc.pid)
        time.sleep(2.0)
        cpu = _cpu_seconds(p.proc.pid) - cpu0
        assert cpu < 0.5, f"parasold used {cpu:.2f} s of CPU in 2 s out of descriptors: accept spins"
        # UDP goes on: cached answers need no descriptor.
        for _ in range(5):
            assert a_addrs(p.ask("cached-fd.example.test")) == ["192.0.2.1"]
        assert p.stats()["tcp_accept_paused"] >= 1
    finally:
        for s in socks:
            s.close()
    # Recovered: descriptors are back, TCP and forwarding work again.
    deadline = time.monotonic() + 10
    while True:
        try:
            r = p.ask("after-fd.example.test", transport="tcp", timeout=2)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert a_addrs(r) == ["192.0.2.1"]
    assert p.alive()
