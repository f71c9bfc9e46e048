"""Serve-stale (RFC 8767): while no upstream answers, expired cache entries
are served for a bounded time with TTL 30 and EDE 3; fresh answers return
once an upstream is back."""

import json
import time

import dns.rcode
import dns.rdatatype
import pytest

from helpers import a_addrs, answer_ttl, ede_codes, ede_list, rcode_text, soa_ttl

# Fail fast when the upstream is down: two tries of 300 ms. Without the
# failure recheck timer, so that each query tries the upstream again.
FAST = ("--upstream-timeout=300", "--resolve-timeout=1000", "--stale-recheck=0")


def _prime(p, upstream, name, addr="192.0.2.50"):
    """Cache name with TTL 1 and wait until it has expired."""
    upstream.set(name, records={"A": [addr]}, ttl=1)
    r = p.ask(name, "A")
    assert a_addrs(r) == [addr] and answer_ttl(r) <= 1, str(r)
    time.sleep(1.3)


def _assert_stale(r, addr, edns=True):
    assert rcode_text(r) == "NOERROR", str(r)
    assert a_addrs(r) == [addr], str(r)
    assert answer_ttl(r) == 30, str(r)
    if edns:
        assert ede_codes(r) == [3], str(r)
    else:
        assert r.edns < 0, f"an OPT record for a client without EDNS: {r}"


def _assert_fresh(r, addr):
    assert rcode_text(r) == "NOERROR", str(r)
    assert a_addrs(r) == [addr], str(r)
    assert ede_codes(r) == [], str(r)
    assert 30 < answer_ttl(r) <= 300, str(r)


def test_stale_while_upstream_drops_then_fresh(parasold_factory, upstream):
    name = "stale-drop.example.test"
    p = parasold_factory(*FAST, upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.drop_all = True
    r = p.ask(name, "A")
    _assert_stale(r, "192.0.2.50")
    assert ede_list(r)[0][1] == "no upstream answered in time", ede_list(r)
    _assert_stale(p.ask(name, "A", edns=None), "192.0.2.50", edns=False)
    # Each stale answer came after a real attempt: refreshes go on.
    assert len(upstream.queries(name)) >= 3
    st = p.stats()
    assert st["stale_answers"] == 2 and st["servfail"] == 0, p.last_stats_line

    # The upstream is back, with new data: it replaces the stale entry.
    upstream.set(name, records={"A": ["192.0.2.51"]}, ttl=300)
    upstream.drop_all = False
    _assert_fresh(p.ask(name, "A"), "192.0.2.51")
    seen = len(upstream.queries(name))
    _assert_fresh(p.ask(name, "A"), "192.0.2.51")
    assert len(upstream.queries(name)) == seen, "the fresh answer was not cached"
    assert p.stats()["stale_answers"] == 2, p.last_stats_line


def test_stale_while_upstream_port_closed_then_fresh(parasold_factory, make_upstream):
    """The upstream's port is closed (ICMP port unreachable, TCP refused):
    stale with EDE 3 naming the network error; a new upstream process on
    the same port brings fresh answers back."""
    up = make_upstream()
    name = "stale-closed.example.test"
    p = parasold_factory(*FAST, upstreams=[up])
    _prime(p, up, name)
    port = up.port
    up.stop()
    r = p.ask(name, "A")
    _assert_stale(r, "192.0.2.50")
    assert ede_list(r)[0][1] == "upstream unreachable", ede_list(r)
    up2 = make_upstream(port=port)
    up2.set(name, records={"A": ["192.0.2.52"]}, ttl=300)
    # The upstream rested after its failures; a try or two may still fail.
    deadline = time.monotonic() + 5
    while True:
        r = p.ask(name, "A")
        if not ede_codes(r) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    _assert_fresh(r, "192.0.2.52")
    assert len(up2.queries(name)) == 1


def test_failure_recheck_timer(parasold_factory, upstream):
    """RFC 8767's failure recheck timer (stale-recheck, default 30 s): once
    the resolution of a name has failed and been answered stale, that name
    is answered stale at once without asking the upstreams, even though the
    upstream is back; other names are asked as usual."""
    name = "stale-recheck.example.test"
    p = parasold_factory("--upstream-timeout=300", "--resolve-timeout=1000", upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.drop_all = True
    r = p.ask(name, "A")
    _assert_stale(r, "192.0.2.50")
    assert ede_list(r) == [(3, "no upstream answered in time")], ede_list(r)
    seen = len(upstream.queries(name))
    upstream.set(name, records={"A": ["192.0.2.54"]}, ttl=300)
    upstream.drop_all = False
    for _ in range(3):
        r = p.ask(name, "A")
        _assert_stale(r, "192.0.2.50")
        assert ede_list(r) == [(3, "upstream failed recently")], ede_list(r)
    _assert_stale(p.ask(name, "A", edns=None), "192.0.2.50", edns=False)
    assert len(upstream.queries(name)) == seen, "asked the upstream inside the recheck time"
    upstream.set("other-recheck.example.test", records={"A": ["192.0.2.55"]}, ttl=300)
    _assert_fresh(p.ask("other-recheck.example.test", "A"), "192.0.2.55")
    assert p.stats()["stale_answers"] == 5, p.last_stats_line


def test_failure_recheck_timer_ends(parasold_factory, upstream):
    """--stale-recheck=2: after the hold the name is asked upstream again,
    and the fresh answer replaces the stale one."""
    name = "stale-recheck-end.example.test"
    p = parasold_factory("--upstream-timeout=300", "--resolve-timeout=1000", "--stale-recheck=2",
                         upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.drop_all = True
    _assert_stale(p.ask(name, "A"), "192.0.2.50")
    upstream.set(name, records={"A": ["192.0.2.56"]}, ttl=300)
    upstream.drop_all = False
    r = p.ask(name, "A")
    _assert_stale(r, "192.0.2.50")
    assert ede_list(r) == [(3, "upstream failed recently")], ede_list(r)
    seen = len(upstream.queries(name))
    time.sleep(3.2)         # the hold ends within a second after 2 s
    _assert_fresh(p.ask(name, "A"), "192.0.2.56")
    assert len(upstream.queries(name)) == seen + 1
    _assert_fresh(p.ask(name, "A"), "192.0.2.56")
    assert len(upstream.queries(name)) == seen + 1, "the fresh answer was not cached"


def test_client_response_timer(parasold_factory, upstream):
    """RFC 8767's client-response timer: the upstream takes 2.5 s, longer
    than 1.8 s, so the client gets the stale answer first; the resolution
    goes on, and its fresh answer is cached for the next client. (With the
    default stale-recheck: a late answer is not a failure, so no hold.)"""
    name = "stale-slow.example.test"
    p = parasold_factory("--upstream-timeout=4000", "--resolve-timeout=5000", upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.set(name, records={"A": ["192.0.2.53"]}, ttl=300, delay_ms=2500)
    r = p.ask(name, "A", timeout=4)
    _assert_stale(r, "192.0.2.50")
    assert ede_list(r)[0][1] == "upstream slow to answer", ede_list(r)
    time.sleep(1.5)
    _assert_fresh(p.ask(name, "A", timeout=4), "192.0.2.53")
    assert len(upstream.queries(name)) == 2, "the fresh answer came from a new query, not the refresh"


def test_stale_when_upstream_says_servfail(parasold_factory, upstream):
    """An upstream that answers SERVFAIL has failed too (RFC 8767 5)."""
    name = "stale-servfail.example.test"
    p = parasold_factory(*FAST, upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.set(name, rcode=dns.rcode.SERVFAIL)
    _assert_stale(p.ask(name, "A"), "192.0.2.50")
    assert len(upstream.queries(name)) >= 2


def test_stale_negative_answer(parasold_factory, upstream):
    """An expired NXDOMAIN is served stale too: NXDOMAIN, EDE 3, SOA TTL 30."""
    name = "nx-stale.example.test"
    upstream.set(name, nxdomain=True, soa_ttl=1, soa_minimum=1)
    p = parasold_factory(*FAST, upstreams=[upstream])
    r = p.ask(name, "A")
    assert rcode_text(r) == "NXDOMAIN" and soa_ttl(r) <= 1, str(r)
    time.sleep(1.3)
    upstream.drop_all = True
    r = p.ask(name, "A")
    assert rcode_text(r) == "NXDOMAIN", str(r)
    assert ede_codes(r) == [3], str(r)
    assert soa_ttl(r) == 30, str(r)
    assert p.stats()["stale_answers"] == 1, p.last_stats_line


def test_stale_bounded_by_serve_stale(parasold_factory, upstream):
    """--serve-stale=2: stale within two seconds of expiry, SERVFAIL after."""
    name = "stale-bound.example.test"
    p = parasold_factory(*FAST, "--serve-stale=2", upstreams=[upstream])
    _prime(p, upstream, name)            # expired at ~1 s
    upstream.drop_all = True
    _assert_stale(p.ask(name, "A"), "192.0.2.50")   # answered at ~2.3 s
    time.sleep(1.5)                      # past 1 s + 2 s
    r = p.ask(name, "A")
    assert rcode_text(r) == "SERVFAIL", str(r)
    assert ede_codes(r) == [22], str(r)


def test_serve_stale_off(parasold_factory, upstream):
    name = "stale-off.example.test"
    p = parasold_factory(*FAST, "--serve-stale=0", upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.drop_all = True
    r = p.ask(name, "A")
    assert rcode_text(r) == "SERVFAIL", str(r)
    assert p.stats()["stale_answers"] == 0, p.last_stats_line


def test_unexpired_answers_carry_no_ede(parasold_factory, upstream):
    """A hit on a live entry is an ordinary answer even while the upstream
    is down: no EDE, its own TTL."""
    p = parasold_factory(*FAST, upstreams=[upstream])
    p.ask("stale-live.example.test", "A")
    upstream.drop_all = True
    r = p.ask("stale-live.example.test", "A")
    assert ede_codes(r) == [] and 290 <= answer_ttl(r) <= 300, str(r)


def test_stale_counter_in_status(parasold_factory, upstream, parasol_cli):
    name = "stale-status.example.test"
    p = parasold_factory(*FAST, upstreams=[upstream])
    _prime(p, upstream, name)
    upstream.drop_all = True
    _assert_stale(p.ask(name, "A"), "192.0.2.50")
    out = parasol_cli("status", "--json", daemon=p)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["stale_answers"] == 1, out.stdout
    out = parasol_cli("status", daemon=p)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 stale answers" in out.stdout, out.stdout


@pytest.mark.parametrize("value,ok", [("1d", True), ("36h", True), ("90m", True), ("3600", True),
                                      ("0", True), ("8d", False), ("1w", False), ("soon", False)])
def test_serve_stale_config_values(run_parasold, tmp_path, value, ok):
    conf = tmp_path / "parasold.conf"
    conf.write_text(f"upstream = 127.0.0.1:5399\nserve-stale = {value}\n")
    r = run_parasold("-c", str(conf), "--check-config")
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0, r.stderr
        assert f"{conf}:2: serve-stale" in r.stderr, r.stderr


@pytest.mark.parametrize("value,ok", [("30s", True), ("0", True), ("5m", True), ("1h", True),
                                      ("2h", False), ("-1", False), ("often", False)])
def test_stale_recheck_config_values(run_parasold, tmp_path, value, ok):
    conf = tmp_path / "parasold.conf"
    conf.write_text(f"upstream = 127.0.0.1:5399\nstale-recheck = {value}\n")
    r = run_parasold("-c", str(conf), "--check-config")
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode != 0, r.stderr
        assert f"{conf}:2: stale-recheck" in r.stderr, r.stderr
