"""Forwarding, spoof resistance, merging of in-flight questions, failover, dead upstreams."""

import socket
import threading
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from fakeupstream import POISON_A
from helpers import (a_addrs, answer_ttl, dead_port_for, dig, drill, ede_codes, ede_list, kdig, make_query,
                     parse_answer_lines, rcode_text, udp)


def test_forward_a(parasold, upstream):
    r = parasold.ask("www.example.test", "A")
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]
    assert 0 < answer_ttl(r) <= 300
    seen = upstream.queries("www.example.test", "A")
    assert len(seen) == 1, f"upstream saw {len(seen)} A queries for www.example.test"


def test_forward_aaaa_with_dig(parasold, upstream):
    p = dig(parasold.addr, parasold.port, "www6.example.test", "AAAA", "+noall", "+answer", "+comments")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "status: NOERROR" in p.stdout, p.stdout
    ans = parse_answer_lines(p.stdout)
    assert [(a[2], a[3]) for a in ans] == [("AAAA", "2001:db8::1")], p.stdout
    assert len(upstream.queries("www6.example.test", "AAAA")) == 1


def test_forward_kdig_tcp(parasold, upstream):
    p = kdig(parasold.addr, parasold.port, "+tcp", "kdig.example.test", "A")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "NOERROR" in p.stdout, p.stdout
    assert "192.0.2.1" in p.stdout, p.stdout
    assert len(upstream.queries("kdig.example.test", "A")) == 1


def test_forward_drill(parasold, upstream):
    p = drill(parasold.addr, parasold.port, "drill.example.test", "AAAA")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "rcode: NOERROR" in p.stdout, p.stdout
    ans = [a for a in parse_answer_lines(p.stdout) if a[2] == "AAAA"]
    assert [a[3] for a in ans] == ["2001:db8::1"], p.stdout


def test_forward_custom_records_and_nodata_other_type(parasold, upstream):
    upstream.set("multi.example.test", records={"A": ["192.0.2.10", "192.0.2.11", "192.0.2.12"],
                                                "TXT": ['"hello world"']}, ttl=120)
    r = parasold.ask("multi.example.test", "A")
    assert a_addrs(r) == ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    r = parasold.ask("multi.example.test", "TXT")
    assert a_addrs(r, "TXT") == ['"hello world"']
    r = parasold.ask("multi.example.test", "MX")
    assert rcode_text(r) == "NOERROR" and r.answer == [], str(r)
    assert any(rr.rdtype == dns.rdatatype.SOA for rr in r.authority), f"NODATA answer lacks SOA: {r}"


def test_forward_upstream_saw_client_question(parasold, upstream):
    """The upstream receives the client's qname (case-insensitively) and qtype as a standard query."""
    parasold.ask("Fwd-Question.Example.TEST", "AAAA")
    seen = upstream.queries("fwd-question.example.test")
    assert len(seen) == 1, [(q.qname, q.qtype) for q in upstream.log]
    assert seen[0].qtype == "AAAA"
    assert seen[0].opcode == 0


@pytest.mark.parametrize("kind", ["wrong_id", "wrong_question", "wrong_source"])
def test_bogus_reply_first_is_ignored(parasold_factory, upstream, kind):
    """Upstream first sends a poisoned reply (wrong ID / wrong question / from another port),
    then the genuine one 60 ms later: the client must get the genuine data."""
    name = f"spoof-{kind.replace('_', '')}.example.test"
    upstream.set(name, bogus_first=kind)
    p = parasold_factory(upstreams=[upstream])
    r = p.ask(name, "A")
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"], f"client got {a_addrs(r)} (poison is {POISON_A})"
    assert str(r.question[0].name).lower() == name + "."
    if kind in ("wrong_id", "wrong_question"):
        st = p.stats()
        assert st.get("bad_replies", 0) >= 1, f"bad_replies not incremented: {p.last_stats_line}"


def test_bogus_first_via_prefix_rules_tcp_client(parasold, upstream):
    """Same with a TCP client: wrong ID first on the upstream UDP side."""
    r = parasold.ask("wrongid-tcp.example.test", "A", transport="tcp")
    assert a_addrs(r) == ["192.0.2.1"]


def _concurrent(p, queries, timeout=4.0):
    """Send all queries (each from its own socket) at once; return list of parsed replies."""
    results = [None] * len(queries)
    errors = []

    def worker(i, q):
        try:
            results[i] = udp(q, p.addr, p.port, timeout=timeout)
        except Exception as e:  # noqa: BLE001
            errors.append(f"query {i} ({q.question[0]} id={q.id}): {e}")

    threads = [threading.Thread(target=worker, args=(i, q)) for i, q in enumerate(queries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 2)
    assert not errors, errors
    return results


def test_merging_identical_inflight_queries(parasold_factory, upstream):
    upstream.set("merge.example.test", delay_ms=500)
    p = parasold_factory("--upstream-timeout=1500", upstreams=[upstream])
    qs = [make_query("merge.example.test", "A", id=1000 + i * 7) for i in range(5)]
    rs = _concurrent(p, qs)
    for q, r in zip(qs, rs):
        assert r.id == q.id
        assert a_addrs(r) == ["192.0.2.1"]
    seen = upstream.queries("merge.example.test", "A")
    assert len(seen) == 1, f"upstream saw {len(seen)} queries for 5 merged client queries"


def test_merging_keeps_client_spelling_and_type(parasold_factory, upstream):
    """Concurrent questions differing only in case share one upstream query but each client
    gets its own question spelling; a different qtype is not merged with them."""
    upstream.set("mergecase.example.test", delay_ms=500)
    p = parasold_factory("--upstream-timeout=1500", upstreams=[upstream])
    spellings = ["mergecase.example.test", "MERGECASE.EXAMPLE.TEST", "MeRgEcAsE.eXaMpLe.TeSt"]
    qs = [make_query(s, "A") for s in spellings] + [make_query("mergecase.example.test", "AAAA")]
    rs = _concurrent(p, qs)
    for s, r in zip(spellings, rs[:3]):
        assert r.question[0].name.to_text() == s + ".", f"question not echoed as sent: {r.question[0].name}"
        assert a_addrs(r) == ["192.0.2.1"]
    assert a_addrs(rs[3], "AAAA") == ["2001:db8::1"], f"AAAA client got: {rs[3]}"
    assert a_addrs(rs[3], "A") == []
    assert len(upstream.queries("mergecase.example.test", "A")) == 1
    assert len(upstream.queries("mergecase.example.test", "AAAA")) == 1


def test_failover_first_upstream_drops(parasold_factory, make_upstream):
    dead = make_upstream(drop_all=True)
    good = make_upstream()
    p = parasold_factory("--upstream-timeout=200", "--resolve-timeout=3000", upstreams=[dead, good])
    r = p.ask("failover.example.test", "A", timeout=4)
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]
    assert len(good.queries("failover.example.test")) >= 1


def test_failover_first_upstream_port_closed(parasold_factory, make_upstream):
    good = make_upstream()
    closed = f"127.0.0.1:{dead_port_for('127.0.0.1')}"
    p = parasold_factory("--upstream-timeout=200", "--resolve-timeout=3000", upstreams=[closed, good])
    for i in range(3):
        r = p.ask(f"failover-closed-{i}.example.test", "A", timeout=4)
        assert rcode_text(r) == "NOERROR"
        assert a_addrs(r) == ["192.0.2.1"]
    assert len(good.queries("failover-closed-0.example.test")) >= 1


def _all_dead(parasold_factory, make_upstream):
    dropper = make_upstream(drop_all=True)
    closed = f"127.0.0.1:{dead_port_for('127.0.0.1')}"
    p = parasold_factory("--upstream-timeout=200", "--resolve-timeout=1000", upstreams=[dropper, closed])
    return p, dropper


def test_all_upstreams_dead_servfail_with_ede(parasold_factory, make_upstream):
    p, dropper = _all_dead(parasold_factory, make_upstream)
    t0 = time.monotonic()
    r = p.ask("dead-edns.example.test", "A", timeout=6)
    elapsed = time.monotonic() - t0
    assert rcode_text(r) == "SERVFAIL"
    assert elapsed <= 2.5, f"SERVFAIL took {elapsed:.2f}s with --resolve-timeout=1000"
    assert r.edns == 0, "EDNS query answered without OPT"
    codes = ede_codes(r)
    assert 22 in codes or 23 in codes, f"EDE codes {codes}, expected 22 or 23"
    assert len(dropper.queries("dead-edns.example.test")) >= 1
    st = p.stats()
    assert st.get("servfail", 0) >= 1, p.last_stats_line


def test_all_upstreams_dead_servfail_no_edns(parasold_factory, make_upstream):
    p, _ = _all_dead(parasold_factory, make_upstream)
    t0 = time.monotonic()
    r = p.ask("dead-noedns.example.test", "A", edns=None, timeout=6)
    elapsed = time.monotonic() - t0
    assert rcode_text(r) == "SERVFAIL"
    assert elapsed <= 2.5, f"SERVFAIL took {elapsed:.2f}s with --resolve-timeout=1000"
    assert r.edns == -1, f"non-EDNS query got an OPT record in the reply: {r}"
    assert ede_codes(r) == []


def test_all_upstreams_dead_servfail_tcp_client_with_dig(parasold_factory, make_upstream):
    p, _ = _all_dead(parasold_factory, make_upstream)
    d = dig(p.addr, p.port, "+tcp", "dead-dig.example.test", "A")
    assert "status: SERVFAIL" in d.stdout, d.stdout + d.stderr
    assert "EDE: 22" in d.stdout or "EDE: 23" in d.stdout, d.stdout


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED])
def test_every_upstream_answers_an_error(parasold_factory, make_upstream, rcode):
    """Both upstreams answer, with an error: the client gets SERVFAIL, and the
    EDE says what the upstreams said rather than blaming the network."""
    name = f"upstream-{dns.rcode.to_text(rcode).lower()}.example.test"
    a, b = make_upstream(), make_upstream()
    for u in (a, b):
        u.set(name, rcode=rcode)
    p = parasold_factory("--upstream-timeout=500", "--resolve-timeout=2000", upstreams=[a, b])
    t0 = time.monotonic()
    r = p.ask(name, "A", timeout=4)
    elapsed = time.monotonic() - t0
    assert rcode_text(r) == "SERVFAIL", str(r)
    assert ede_list(r) == [(0, f"upstream answered {dns.rcode.to_text(rcode)}")], ede_list(r)
    assert elapsed < 0.5, f"an error answer was waited on like a timeout ({elapsed:.2f}s)"
    assert len(a.queries(name)) >= 1 and len(b.queries(name)) >= 1, "did not try the second upstream"


def test_burst_of_distinct_queries_one_socket(parasold, upstream):
    """60 datagrams back to back from one socket (20 names x 3): every reply carries the ID,
    question and data of its own query."""
    names = [f"burst{i}.example.test" for i in range(20)]
    for i, n in enumerate(names):
        upstream.set(n, records={"A": [f"198.18.0.{i + 1}"]})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    sent = {}
    try:
        for rep in range(3):
            for i, n in enumerate(names):
                q = make_query(n, "A", id=10000 + rep * 100 + i)
                sent[q.id] = (n, f"198.18.0.{i + 1}")
                s.sendto(q.to_wire(), (parasold.addr, parasold.port))
        got = {}
        s.settimeout(3)
        deadline = time.monotonic() + 6
        while len(got) < len(sent) and time.monotonic() < deadline:
            try:
                data, _ = s.recvfrom(65535)
            except socket.timeout:
                break
            r = dns.message.from_wire(data)
            got[r.id] = r
    finally:
        s.close()
    missing = sorted(set(sent) - set(got))
    assert not missing, f"{len(missing)} of {len(sent)} queries unanswered, e.g. ids {missing[:5]}"
    for qid, (n, addr) in sent.items():
        r = got[qid]
        assert r.question[0].name.to_text() == n + ".", f"id {qid}: reply for {r.question[0].name}, sent {n}"
        assert a_addrs(r) == [addr], f"id {qid} ({n}): got {a_addrs(r)}, expected {addr}"


def test_ipv6_upstream(parasold_factory, make_upstream):
    up6 = make_upstream("::1")
    p = parasold_factory(upstreams=[up6])
    r = p.ask("up6.example.test", "AAAA")
    assert a_addrs(r, "AAAA") == ["2001:db8::1"]
    assert len(up6.queries("up6.example.test")) == 1


def test_max_length_name_forwarded(parasold, upstream):
    name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61]) + "."
    assert len(dns.name.from_text(name).to_wire()) == 255
    r = parasold.ask(name, "A")
    assert rcode_text(r) == "NOERROR", f"255-byte name: {rcode_text(r)}"
    assert a_addrs(r) == ["192.0.2.1"]
    assert len(upstream.queries(name)) == 1
