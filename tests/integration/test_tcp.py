"""TCP transport: pipelining, segmentation, idle timeout, connection limit, TC -> TCP retry."""

import socket
import struct
import time

import dns.flags

from helpers import (a_addrs, dig, kdig, make_query, parse, parse_answer_lines,
                     tcp_connect, tcp_read_msg, udp_send_recv)


def framed(q):
    w = q.to_wire()
    return struct.pack("!H", len(w)) + w


def read_replies(s, n, timeout=4.0):
    s.settimeout(timeout)
    out = {}
    for _ in range(n):
        r = parse(tcp_read_msg(s))
        out[r.id] = r
    return out


def is_closed(s, timeout):
    """True if the peer closes (EOF/RST) within timeout; False if still open; data -> False."""
    s.settimeout(timeout)
    try:
        data = s.recv(1)
    except socket.timeout:
        return False
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return True
    return data == b""


def test_pipelined_queries_one_connection(parasold, upstream):
    upstream.set("slow-pipe.example.test", delay_ms=300)
    names = ["slow-pipe.example.test"] + [f"pipe{i}.example.test" for i in range(5)]
    qs = [make_query(n, "A", id=2000 + i) for i, n in enumerate(names)]
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        s.sendall(b"".join(framed(q) for q in qs))
        got = read_replies(s, len(qs))
    finally:
        s.close()
    assert sorted(got) == sorted(q.id for q in qs)
    for q in qs:
        r = got[q.id]
        assert r.question[0].name == q.question[0].name, f"id {q.id}: answer for {r.question[0].name}"
        assert a_addrs(r) == ["192.0.2.1"]


def test_length_prefix_and_body_in_separate_segments(parasold):
    q = make_query("split1.example.test", "A")
    w = framed(q)
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        s.sendall(w[:2])
        time.sleep(0.15)
        s.sendall(w[2:])
        r = read_replies(s, 1)[q.id]
    finally:
        s.close()
    assert a_addrs(r) == ["192.0.2.1"]


def test_message_split_into_many_segments(parasold):
    q = make_query("split2.example.test", "AAAA")
    w = framed(q)
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        for chunk in (w[:1], w[1:3], w[3:10], w[10:]):
            s.sendall(chunk)
            time.sleep(0.1)
        r = read_replies(s, 1)[q.id]
    finally:
        s.close()
    assert a_addrs(r, "AAAA") == ["2001:db8::1"]


def test_two_messages_in_one_send_and_third_split_across(parasold):
    q1, q2, q3 = (make_query(f"multi{i}.example.test", "A", id=3000 + i) for i in range(3))
    w1, w2, w3 = framed(q1), framed(q2), framed(q3)
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        s.sendall(w1 + w2 + w3[:5])
        time.sleep(0.15)
        s.sendall(w3[5:])
        got = read_replies(s, 3)
    finally:
        s.close()
    assert sorted(got) == [3000, 3001, 3002]
    for i, q in enumerate((q1, q2, q3)):
        assert got[q.id].question[0].name == q.question[0].name
        assert a_addrs(got[q.id]) == ["192.0.2.1"]


def test_idle_connection_closed_after_timeout(parasold_factory, upstream):
    p = parasold_factory("--tcp-idle-timeout=500", upstreams=[upstream])
    s = tcp_connect(p.addr, p.port)
    try:
        q = make_query("idle.example.test", "A")
        s.sendall(framed(q))
        assert a_addrs(read_replies(s, 1)[q.id]) == ["192.0.2.1"]
        assert is_closed(s, 5.0), "idle TCP connection still open 5 s after --tcp-idle-timeout=500"
    finally:
        s.close()


def test_idle_connection_without_query_closed(parasold_factory, upstream):
    p = parasold_factory("--tcp-idle-timeout=500", upstreams=[upstream])
    s = tcp_connect(p.addr, p.port)
    try:
        assert is_closed(s, 5.0), "silent TCP connection still open 5 s after --tcp-idle-timeout=500"
    finally:
        s.close()
    assert p.alive()


def test_connection_reusable_within_idle_timeout(parasold_factory, upstream):
    p = parasold_factory("--tcp-idle-timeout=5000", upstreams=[upstream])
    s = tcp_connect(p.addr, p.port)
    try:
        q = make_query("reuse1.example.test", "A")
        s.sendall(framed(q))
        read_replies(s, 1)
        time.sleep(1.0)
        q2 = make_query("reuse2.example.test", "A")
        s.sendall(framed(q2))
        r = read_replies(s, 1)[q2.id]
        assert a_addrs(r) == ["192.0.2.1"]
    finally:
        s.close()


def _served(s, name, timeout=1.5):
    """True if a query on s is answered; False on timeout/EOF/reset."""
    q = make_query(name, "A")
    try:
        s.sendall(framed(q))
        s.settimeout(timeout)
        r = parse(tcp_read_msg(s))
    except (socket.timeout, EOFError, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return False
    return r.id == q.id and a_addrs(r) == ["192.0.2.1"]


def test_tcp_max_clients_closes_the_oldest_idle(parasold_factory, upstream):
    """At --tcp-max-clients a new connection is served and the connection
    idle the longest is closed for it (as unbound and knot do), rather than
    the newcomer being refused."""
    p = parasold_factory("--tcp-max-clients=2", "--tcp-idle-timeout=10000", upstreams=[upstream])
    a = tcp_connect(p.addr, p.port)
    b = tcp_connect(p.addr, p.port)
    socks = [a, b]
    try:
        assert _served(a, "max-a.example.test", 3), "first connection not served"
        assert _served(b, "max-b.example.test", 3), "second connection not served"
        c = tcp_connect(p.addr, p.port)
        socks.append(c)
        assert _served(c, "max-c.example.test", 3), "third connection not served at the cap"
        assert is_closed(a, 3), "the oldest idle connection was not closed for the newcomer"
        assert _served(b, "max-b2.example.test", 3), "second connection closed although not the oldest"
        assert p.stats()["tcp_evicted"] >= 1
    finally:
        for s in socks:
            s.close()
    assert p.alive()


def test_tcp_slot_freed_after_close(parasold_factory, upstream):
    p = parasold_factory("--tcp-max-clients=2", "--tcp-idle-timeout=10000", upstreams=[upstream])
    a = tcp_connect(p.addr, p.port)
    b = tcp_connect(p.addr, p.port)
    try:
        assert _served(a, "slot-a.example.test", 3)
        assert _served(b, "slot-b.example.test", 3)
        a.close()
        time.sleep(0.3)
        d = tcp_connect(p.addr, p.port)
        try:
            assert _served(d, "slot-d.example.test", 3), "new connection not served after one of two slots was freed"
        finally:
            d.close()
    finally:
        a.close()
        b.close()


def test_client_closes_with_query_pending(parasold, upstream):
    upstream.set("pending.example.test", delay_ms=300)
    s = tcp_connect(parasold.addr, parasold.port)
    s.sendall(framed(make_query("pending.example.test", "A")))
    s.close()
    time.sleep(0.6)
    assert parasold.alive()
    assert a_addrs(parasold.ask("after-pending.example.test", "A", transport="tcp")) == ["192.0.2.1"]


# ------------------------------------------------------------------ TC over UDP -> TCP upstream retry

def test_upstream_tc_retried_over_tcp_edns_client(parasold, upstream):
    r = parasold.ask("tc.example.test", "A", payload=1232)
    assert not (r.flags & dns.flags.TC), "EDNS client got TC for a 40-record answer that fits 1232"
    assert len(a_addrs(r)) == 40
    assert upstream.queries("tc.example.test", "A", transport="udp"), "no UDP query to upstream"
    assert upstream.queries("tc.example.test", "A", transport="tcp"), \
        "upstream answered TC=1 over UDP but parasold never retried over TCP"


def test_upstream_tc_tcp_client_with_kdig(parasold, upstream):
    p = kdig(parasold.addr, parasold.port, "+tcp", "tc-kdig.example.test", "A")
    assert p.returncode == 0, p.stdout + p.stderr
    addrs = [ln for ln in p.stdout.splitlines() if "\tA\t" in ln and "tc-kdig" in ln]
    assert len(addrs) == 40, p.stdout
    assert upstream.queries("tc-kdig.example.test", "A", transport="tcp")


def test_upstream_tc_non_edns_udp_client_gets_tc_then_dig_tcp(parasold, upstream):
    q = make_query("tc-noedns.example.test", "A", edns=None)
    data, _ = udp_send_recv(q.to_wire(), parasold.addr, parasold.port)
    assert data is not None, "no reply"
    r = parse(data)
    assert r.id == q.id
    assert len(data) <= 512
    assert r.flags & dns.flags.TC, "non-EDNS client got a reply without TC for a >512-byte answer"
    p = dig(parasold.addr, parasold.port, "+tcp", "+noall", "+answer", "tc-noedns.example.test", "A")
    assert len([a for a in parse_answer_lines(p.stdout) if a[2] == "A"]) == 40, p.stdout


def test_many_pipelined_slow_queries_one_connection(parasold, upstream):
    """40 queries pipelined on one connection while the upstream takes 200 ms each: more than
    a server might keep in flight per connection, so reading must pause and resume."""
    names = [f"many{i}.example.test" for i in range(40)]
    for n in names:
        upstream.set(n, delay_ms=200)
    qs = [make_query(n, "A", id=5000 + i) for i, n in enumerate(names)]
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        s.sendall(b"".join(framed(q) for q in qs))
        got = read_replies(s, len(qs), timeout=5)
    finally:
        s.close()
    assert sorted(got) == sorted(q.id for q in qs)
    for q in qs:
        assert got[q.id].question[0].name == q.question[0].name
        assert a_addrs(got[q.id]) == ["192.0.2.1"]
