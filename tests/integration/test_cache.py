"""Positive and negative caching, TTL handling, case-insensitive cache keys."""

import re
import time

import pytest

from helpers import a_addrs, answer_ttl, dig, parse_answer_lines, rcode_text, soa_ttl


def test_cache_hit_second_query_not_forwarded(parasold, upstream):
    r1 = parasold.ask("cache.example.test", "A")
    r2 = parasold.ask("cache.example.test", "A")
    assert a_addrs(r1) == a_addrs(r2) == ["192.0.2.1"]
    assert rcode_text(r2) == "NOERROR"
    assert 0 < answer_ttl(r2) <= answer_ttl(r1) <= 300
    assert len(upstream.queries("cache.example.test", "A")) == 1


def test_cache_hit_counters(parasold, upstream):
    parasold.ask("counters.example.test", "A")
    parasold.ask("counters.example.test", "A")
    st = parasold.stats()
    for key in ("queries", "cache_hits", "forwarded", "bad_replies", "servfail", "formerr", "refused", "dropped"):
        assert key in st, f"stats line lacks {key}=: {parasold.last_stats_line!r}"
    assert st["queries"] == 2, parasold.last_stats_line
    assert st["cache_hits"] == 1, parasold.last_stats_line
    assert st["forwarded"] == 1, parasold.last_stats_line


def test_stats_line_format(parasold):
    parasold.stats()
    line = parasold.last_stats_line
    # A normal log line: "<UTC timestamp> parasold info: stats: k=v k=v ..."
    m = re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z parasold info: stats: (.*)$", line)
    assert m, f"SIGUSR1 line is not a timestamped 'stats:' log line: {line!r}"
    body = m.group(1).split()
    assert body and all("=" in tok for tok in body), f"not space-separated key=value: {line!r}"


def test_cache_case_insensitive_and_echoes_client_spelling(parasold, upstream):
    r1 = parasold.ask("www.example.test", "A")
    r2 = parasold.ask("WwW.ExAmple.TEST", "A")
    assert a_addrs(r2) == a_addrs(r1) == ["192.0.2.1"]
    assert len(upstream.queries("www.example.test", "A")) == 1, \
        "mixed-case repeat of a cached name was forwarded again"
    assert r2.question[0].name.to_text() == "WwW.ExAmple.TEST.", \
        f"question section not echoed as the client spelled it: {r2.question[0].name.to_text()}"
    # byte-exact check of the question section in the raw reply
    assert b"\x03WwW\x07ExAmple\x04TEST\x00" in r2.raw[12:12 + 24]


def test_cache_shared_between_udp_and_tcp(parasold, upstream):
    parasold.ask("xport.example.test", "A", transport="udp")
    r = parasold.ask("xport.example.test", "A", transport="tcp")
    assert a_addrs(r) == ["192.0.2.1"]
    assert len(upstream.queries("xport.example.test", "A")) == 1


def test_cache_hit_with_dig(parasold, upstream):
    for _ in range(2):
        p = dig(parasold.addr, parasold.port, "digcache.example.test", "A", "+noall", "+answer")
        assert p.returncode == 0, p.stderr
        assert [a[3] for a in parse_answer_lines(p.stdout)] == ["192.0.2.1"], p.stdout
    assert len(upstream.queries("digcache.example.test", "A")) == 1


def test_cache_key_includes_qtype(parasold, upstream):
    parasold.ask("types.example.test", "A")
    r = parasold.ask("types.example.test", "AAAA")
    assert a_addrs(r, "AAAA") == ["2001:db8::1"]
    assert a_addrs(r, "A") == []
    assert len(upstream.queries("types.example.test", "A")) == 1
    assert len(upstream.queries("types.example.test", "AAAA")) == 1


def test_ttl_counts_down(parasold, upstream):
    t1 = answer_ttl(parasold.ask("ttl.example.test", "A"))
    time.sleep(2.2)
    r2 = parasold.ask("ttl.example.test", "A")
    t2 = answer_ttl(r2)
    assert len(upstream.queries("ttl.example.test", "A")) == 1
    assert 0 < t2 <= 300
    assert t1 - t2 >= 1, f"TTL did not count down: first {t1}, after 2.2 s {t2}"


def test_expired_entry_is_refetched(parasold_factory, upstream):
    upstream.set("short.example.test", ttl=1)
    p = parasold_factory("--cache-min-ttl=0", upstreams=[upstream])
    p.ask("short.example.test", "A")
    time.sleep(2.2)
    r = p.ask("short.example.test", "A")
    assert a_addrs(r) == ["192.0.2.1"]
    assert 0 <= answer_ttl(r) <= 1
    assert len(upstream.queries("short.example.test", "A")) == 2, "expired record served from cache"


def test_nxdomain_cached(parasold, upstream):
    r1 = parasold.ask("nx.example.test", "A")
    r2 = parasold.ask("nx.example.test", "A")
    for r in (r1, r2):
        assert rcode_text(r) == "NXDOMAIN"
        assert r.answer == []
        assert 0 < soa_ttl(r) <= 60
    assert len(upstream.queries("nx.example.test", "A")) == 1, "NXDOMAIN not cached"


def test_nodata_cached(parasold, upstream):
    r1 = parasold.ask("nodata.example.test", "A")
    r2 = parasold.ask("nodata.example.test", "A")
    for r in (r1, r2):
        assert rcode_text(r) == "NOERROR"
        assert r.answer == []
        assert 0 < soa_ttl(r) <= 60
    assert len(upstream.queries("nodata.example.test", "A")) == 1, "NODATA not cached"


@pytest.mark.parametrize("soa_ttl_v,soa_min,bound", [(3600, 30, 30), (20, 600, 20)])
def test_negative_ttl_is_min_of_soa_ttl_and_minimum(parasold, upstream, soa_ttl_v, soa_min, bound):
    name = f"nx-{soa_ttl_v}-{soa_min}.example.test"
    upstream.set(name, nxdomain=True, soa_ttl=soa_ttl_v, soa_minimum=soa_min)
    r1 = parasold.ask(name, "A")
    r2 = parasold.ask(name, "A")
    assert rcode_text(r2) == "NXDOMAIN"
    for which, r in (("first", r1), ("cached", r2)):
        assert 0 < soa_ttl(r) <= bound, \
            f"{which} answer: negative (SOA) TTL {soa_ttl(r)} exceeds min(SOA TTL {soa_ttl_v}, MINIMUM {soa_min}) = {bound}"
    assert len(upstream.queries(name, "A")) == 1


def test_cache_neg_max_ttl_caps_negative_ttl(parasold_factory, upstream):
    upstream.set("nx-cap.example.test", nxdomain=True, soa_ttl=600, soa_minimum=600)
    upstream.set("nodata-cap.example.test", nodata=True, soa_ttl=600, soa_minimum=600)
    p = parasold_factory("--cache-neg-max-ttl=10", upstreams=[upstream])
    for name, rc in (("nx-cap.example.test", "NXDOMAIN"), ("nodata-cap.example.test", "NOERROR")):
        r1 = p.ask(name, "A")
        r2 = p.ask(name, "A")
        for which, r in (("first", r1), ("cached", r2)):
            assert rcode_text(r) == rc
            assert 0 < soa_ttl(r) <= 10, f"{name} {which} answer: negative TTL {soa_ttl(r)} > --cache-neg-max-ttl=10"
        assert len(upstream.queries(name, "A")) == 1


def test_cache_max_ttl_caps_positive_ttl(parasold_factory, upstream):
    p = parasold_factory("--cache-max-ttl=60", upstreams=[upstream])
    r1 = p.ask("maxttl.example.test", "A")
    r2 = p.ask("maxttl.example.test", "A")
    t1, t2 = answer_ttl(r1), answer_ttl(r2)
    assert 0 < t1 <= 60 and 0 < t2 <= 60, \
        f"--cache-max-ttl=60, upstream TTL 300: first answer TTL {t1}, cached answer TTL {t2}"
    assert len(upstream.queries("maxttl.example.test", "A")) == 1


def test_cache_min_ttl_raises_small_ttl(parasold_factory, upstream):
    upstream.set("minttl.example.test", ttl=5)
    p = parasold_factory("--cache-min-ttl=120", upstreams=[upstream])
    p.ask("minttl.example.test", "A")
    r2 = p.ask("minttl.example.test", "A")
    assert 100 <= answer_ttl(r2) <= 120, f"cached TTL {answer_ttl(r2)} with upstream TTL 5 and --cache-min-ttl=120"
    assert len(upstream.queries("minttl.example.test", "A")) == 1


def test_cache_size_with_suffix_accepted(parasold_factory, upstream):
    p = parasold_factory("--cache-size=4M", upstreams=[upstream])
    p.ask("size.example.test", "A")
    r = p.ask("size.example.test", "A")
    assert a_addrs(r) == ["192.0.2.1"]
    assert len(upstream.queries("size.example.test", "A")) == 1


def test_cache_distinguishes_escaped_dot_from_label_boundary(parasold, upstream):
    """'a\\.b.example.test' (one label containing a dot) and 'a.b.example.test' are different
    names: each is forwarded once and gets its own question back."""
    upstream.set("a\\.b.example.test", records={"A": ["198.18.1.1"]})
    upstream.set("a.b.example.test", records={"A": ["198.18.1.2"]})
    r1 = parasold.ask("a\\.b.example.test", "A")
    r2 = parasold.ask("a.b.example.test", "A")
    assert a_addrs(r1) == ["198.18.1.1"]
    assert a_addrs(r2) == ["198.18.1.2"], "a.b.example.test answered from the cache entry of a\\.b.example.test"
    assert len(upstream.queries("a\\.b.example.test")) == 1
    assert len(upstream.queries("a.b.example.test")) == 1


def test_cache_case_folding_only_ascii(parasold, upstream):
    """Only A-Z fold: a label with byte 0xC4 and one with 0xE4 are different names."""
    n1, n2 = "\\196x.example.test", "\\228x.example.test"
    upstream.set(n1, records={"A": ["198.18.2.1"]})
    upstream.set(n2, records={"A": ["198.18.2.2"]})
    assert a_addrs(parasold.ask(n1, "A")) == ["198.18.2.1"]
    assert a_addrs(parasold.ask(n2, "A")) == ["198.18.2.2"]
