"""Blocking as a client and the admin see it: which names a rule covers,
allow against deny, every sinkhole answer, the EDE that explains a block,
CNAME chains, live changes to lists.db and reloads that fail.

Each test builds its own lists.db the way an admin does (`parasol deny|allow
add`, `parasol feeds add` of a local file and parasol-update) and starts
parasold on it with a scripted upstream, whose query log shows what left
the resolver.  Unless a test is about polling it runs with --lists-poll=0,
so only the reload the test asks for can change what is served.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import threading
import time

import dns.name
import dns.rdatatype
import pytest

from helpers import a_addrs, dig, ede_list, kdig, rcode_text

EDE_BLOCKED = 15
UPSTREAM_A = "192.0.2.1"     # the fake upstream's answer for any other name
UPSTREAM_AAAA = "2001:db8::1"
CHAIN_A = "192.0.2.7"        # the answer at the end of a scripted CNAME chain
POOLS = "category=mining feed=pools rule=minexmr.com"


# ---------------------------------------------------------------- helpers

def blocked(d, name, rdtype="A", text=None, **kw):
    """Ask for name; assert the null sinkhole answered it (0.0.0.0 / ::,
    NODATA for other types) with EDE 15, text when given.  The reply."""
    r = d.ask(name, rdtype, **kw)
    assert rcode_text(r) == "NOERROR", f"{name}/{rdtype}: {rcode_text(r)}, expected a blocked NOERROR\n{r}"
    want = {"A": ["0.0.0.0"], "AAAA": ["::"]}.get(rdtype, [])
    assert a_addrs(r, rdtype) == want, f"{name}/{rdtype} not sinkholed:\n{r}"
    if kw.get("edns", 0) is not None:
        edes = ede_list(r)
        assert [c for c, _ in edes] == [EDE_BLOCKED], f"{name}/{rdtype}: EDE {edes}, expected 15 (Blocked)\n{r}"
        if text is not None:
            assert edes[0][1] == text, f"{name}/{rdtype}: EDE text {edes[0][1]!r}, expected {text!r}"
    return r


def forwarded(d, name, rdtype="A", **kw):
    """Ask for name; assert it got the upstream's answer and no EDE 15."""
    r = d.ask(name, rdtype, **kw)
    assert rcode_text(r) == "NOERROR", f"{name}/{rdtype}: {rcode_text(r)}\n{r}"
    want = {"A": [UPSTREAM_A], "AAAA": [UPSTREAM_AAAA]}[rdtype]
    assert a_addrs(r, rdtype) == want, f"{name}/{rdtype} was not answered from upstream:\n{r}"
    assert EDE_BLOCKED not in [c for c, _ in ede_list(r)], f"{name}: EDE 15 on an unblocked answer\n{r}"
    return r


def under(upstream, domain):
    """Queries the upstream received for domain or any name below it."""
    dom = dns.name.from_text(domain)
    return [q for q in upstream.log if dns.name.from_text(q.name).is_subdomain(dom)]


def sentinel(d, upstream, name):
    """Ask for an unblocked name and see it arrive: everything asked before
    it has had its chance to reach the upstream."""
    forwarded(d, name)
    assert len(upstream.queries(name)) == 1


def wait_answer(d, name, want_blocked, timeout=5.0):
    """Ask name every 100 ms until it is (or is no longer) blocked; the reply."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.1) + 1):
        r = d.ask(name)
        if (a_addrs(r) == ["0.0.0.0"]) == want_blocked:
            return r
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"{name} still {'not ' if want_blocked else ''}blocked after {timeout} s:\n{r}")


# ---------------------------------------------------------------- which names a rule covers

def test_subtree_and_exact_rules_match_at_label_boundaries(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com"])                               # subtree (the default)
    lists.feed("exactpools", ["pool.hashvault.test"], match="exact")
    lists.deny("wallet.example.test", exact=True)
    d = lists.start(parasold_factory, upstream)

    for name in ("minexmr.com", "pool.minexmr.com", "a.b.pool.minexmr.com", "POOL.MineXMR.Com"):
        r = blocked(d, name, text=POOLS)
        assert r.question[0].name.to_text() == name + ".", "the client's spelling is not echoed"
    for name in ("xminexmr.com", "pool.xminexmr.com", "minexmr.co", "minexmr.com.example.test",
                 "minexmrcom.test"):
        forwarded(d, name)
        assert len(upstream.queries(name)) == 1, f"{name} did not reach the upstream"

    blocked(d, "wallet.example.test", text="category=local feed=local rule=wallet.example.test")
    blocked(d, "pool.hashvault.test", text="category=mining feed=exactpools rule=pool.hashvault.test")
    for name in ("pay.wallet.example.test", "xwallet.example.test", "example.test",
                 "eu.pool.hashvault.test", "hashvault.test"):
        forwarded(d, name)
    assert under(upstream, "minexmr.com") == []


def test_allow_beats_deny(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com"])
    # An allow below a deny opens that subtree only.
    lists.deny("ads.test")
    lists.allow("ok.ads.test")
    # An allow above a deny beats the more specific deny.
    lists.allow("trusted.test")
    lists.deny("miner.trusted.test")
    # An exact allow opens the name alone.
    lists.deny("cdn.test")
    lists.allow("api.cdn.test", exact=True)
    # A local allow beats a feed's deny; the same name allowed and denied is allowed.
    lists.allow("minexmr.com", exact=True)
    lists.deny("both.test")
    lists.allow("both.test")
    d = lists.start(parasold_factory, upstream)

    for name in ("ok.ads.test", "x.ok.ads.test", "trusted.test", "miner.trusted.test",
                 "a.miner.trusted.test", "api.cdn.test", "minexmr.com", "both.test", "x.both.test"):
        forwarded(d, name)
        assert len(upstream.queries(name)) == 1, f"allowed {name} did not reach the upstream"
    for name, rule in (("ads.test", "ads.test"), ("y.ads.test", "ads.test"), ("cdn.test", "cdn.test"),
                       ("v1.api.cdn.test", "cdn.test"), ("img.cdn.test", "cdn.test")):
        blocked(d, name, text=f"category=local feed=local rule={rule}")
    blocked(d, "pool.minexmr.com", text=POOLS)
    ok = dns.name.from_text("ok.ads.test")
    leaked = [q.qname for q in under(upstream, "ads.test") if not dns.name.from_text(q.name).is_subdomain(ok)]
    assert leaked == [] and under(upstream, "cdn.test") == upstream.queries("api.cdn.test"), upstream.log


# ---------------------------------------------------------------- sinkhole answers

# mode -> {qtype: (rcode, answer)}; answer None: no answer, an SOA in the
# authority section (NXDOMAIN or NODATA); "empty": no records at all.
SINKHOLES = {
    "null": {"A": ("NOERROR", ["0.0.0.0"]), "AAAA": ("NOERROR", ["::"]),
             "TXT": ("NOERROR", None), "HTTPS": ("NOERROR", None)},
    "nxdomain": {t: ("NXDOMAIN", None) for t in ("A", "AAAA", "TXT", "HTTPS")},
    "nodata": {t: ("NOERROR", None) for t in ("A", "AAAA", "TXT", "HTTPS")},
    "refused": {t: ("REFUSED", "empty") for t in ("A", "AAAA", "TXT", "HTTPS")},
    "192.0.2.99": {"A": ("NOERROR", ["192.0.2.99"]), "AAAA": ("NOERROR", None),
                   "TXT": ("NOERROR", None), "HTTPS": ("NOERROR", None)},
    "2001:db8::99": {"A": ("NOERROR", None), "AAAA": ("NOERROR", ["2001:db8::99"]),
                     "TXT": ("NOERROR", None), "HTTPS": ("NOERROR", None)},
    "192.0.2.99,2001:db8::99": {"A": ("NOERROR", ["192.0.2.99"]), "AAAA": ("NOERROR", ["2001:db8::99"]),
                                "TXT": ("NOERROR", None), "HTTPS": ("NOERROR", None)},
}


@pytest.mark.parametrize("mode", list(SINKHOLES))
def test_sinkhole_modes(lists, parasold_factory, upstream, mode):
    ttl = 42
    lists.deny("minexmr.com")
    d = lists.start(parasold_factory, upstream, f"--sinkhole={mode}", f"--block-ttl={ttl}")
    for qtype, (rcode, answer) in SINKHOLES[mode].items():
        for transport in ("udp", "tcp"):
            what = f"--sinkhole={mode} {qtype} over {transport}"
            r = d.ask("pool.minexmr.com", qtype, transport=transport)
            assert rcode_text(r) == rcode, f"{what}: {rcode_text(r)}, expected {rcode}\n{r}"
            assert [c for c, _ in ede_list(r)] == [EDE_BLOCKED], f"{what}: no EDE 15\n{r}"
            if answer == "empty":
                assert r.answer == [] and r.authority == [], f"{what}: records in a REFUSED answer\n{r}"
            elif answer is None:
                assert r.answer == [], f"{what}: expected no answer records\n{r}"
                soas = [rr for rr in r.authority if rr.rdtype == dns.rdatatype.SOA]
                assert len(r.authority) == 1 and len(soas) == 1, f"{what}: expected one SOA\n{r}"
                soa = soas[0]
                assert dns.name.from_text("pool.minexmr.com").is_subdomain(soa.name), f"{what}: SOA owner {soa.name}"
                assert soa.ttl == ttl, f"{what}: SOA TTL {soa.ttl}, expected --block-ttl={ttl}"
                assert min(soa.ttl, soa[0].minimum) == ttl, f"{what}: negative-caching TTL is not {ttl}\n{r}"
                assert soa[0].mname.to_text() == "parasol.invalid.", f"{what}: SOA {soa}"
            else:
                assert a_addrs(r, qtype) == answer, f"{what}: answer {a_addrs(r, qtype)}, expected {answer}"
                assert len(r.answer) == 1 and r.answer[0].ttl == ttl, f"{what}: TTL is not {ttl}\n{r}"
                assert r.answer[0].name.to_text() == "pool.minexmr.com."
    assert under(upstream, "minexmr.com") == [], f"--sinkhole={mode}: a blocked name reached the upstream"
    forwarded(d, "other.example.test")


def test_bad_sinkhole_refused_at_start(run_parasold, upstream):
    for bad in ("0.0.0", "blackhole", "192.0.2.1,192.0.2.2", "192.0.2.1,", "NULL0"):
        p = run_parasold("--check-config", f"--upstream={upstream.hostport}", f"--sinkhole={bad}")
        assert p.returncode != 0, f"--sinkhole={bad} accepted:\n{p.stdout}{p.stderr}"
        assert "sinkhole" in p.stderr, f"--sinkhole={bad}: error does not name the key:\n{p.stderr}"


# ---------------------------------------------------------------- EDE

def test_ede_only_with_edns_and_names_the_rule(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com"], category="mining")
    lists.deny("evil.test")
    d = lists.start(parasold_factory, upstream)

    r = blocked(d, "pool.minexmr.com", edns=None)
    assert r.edns == -1 and not r.options, f"an OPT record in the answer to a query without EDNS\n{r}"
    r = blocked(d, "x.evil.test", "AAAA", edns=None, transport="tcp")
    assert r.edns == -1, f"an OPT record in the answer to a query without EDNS\n{r}"

    blocked(d, "pool.minexmr.com", text=POOLS)
    blocked(d, "pool.minexmr.com", "TXT", text=POOLS, do=True)
    blocked(d, "x.evil.test", text="category=local feed=local rule=evil.test")
    blocked(d, "evil.test", "AAAA", text="category=local feed=local rule=evil.test", transport="tcp")

    r = forwarded(d, "fine.example.test")
    assert r.edns == 0 and ede_list(r) == [], f"an EDE on a forwarded answer\n{r}"


# ---------------------------------------------------------------- the upstream never sees them

def test_blocked_names_never_reach_upstream(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com"])
    lists.deny("wallet.example.test", exact=True)
    d = lists.start(parasold_factory, upstream)
    n = 0
    for name in ("minexmr.com", "pool.minexmr.com", "x.y.z.minexmr.com", "WWW.MINEXMR.COM",
                 "wallet.example.test"):
        for qtype in ("A", "AAAA", "TXT", "MX", "HTTPS"):
            for transport in ("udp", "tcp"):
                for edns in (0, None):
                    blocked(d, name, qtype, transport=transport, edns=edns)
                    n += 1
    sentinel(d, upstream, "after.example.test")
    assert under(upstream, "minexmr.com") == [], \
        f"blocked names reached the upstream: {[q.qname for q in under(upstream, 'minexmr.com')]}"
    assert upstream.queries("wallet.example.test") == []
    st = d.stats()
    assert st["blocked"] == n and st["forwarded"] == 1, d.last_stats_line


# ---------------------------------------------------------------- CNAME chains

def test_cname_to_blocked_name_is_blocked_and_not_cached(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com"])
    d = lists.start(parasold_factory, upstream, "--block-ttl=33")
    a = {"A": [CHAIN_A], "AAAA": ["2001:db8::7"]}
    upstream.set("www.innocent.test", cnames=["cdn.innocent.test", "edge.minexmr.com"], records=a)
    upstream.set("mid.innocent.test", cnames=["pool.minexmr.com", "final.innocent.test"], records=a)
    upstream.set("ok.innocent.test", cnames=["cdn2.innocent.test"], records=a)

    for i in (1, 2):
        r = blocked(d, "www.innocent.test", text=POOLS + " cname=edge.minexmr.com")
        assert CHAIN_A not in r.to_text() and r.answer[0].ttl == 33, f"blocked chain answer:\n{r}"
        assert len(upstream.queries("www.innocent.test", "A")) == i, \
            "a blocked CNAME answer was served from the cache"
    blocked(d, "www.innocent.test", "AAAA", text=POOLS + " cname=edge.minexmr.com")
    r = blocked(d, "www.innocent.test", edns=None)
    assert r.edns == -1
    blocked(d, "mid.innocent.test", text=POOLS + " cname=pool.minexmr.com")

    # The same kind of chain to an unblocked name is answered and cached.
    for _ in range(2):
        r = d.ask("ok.innocent.test")
        assert a_addrs(r) == [CHAIN_A] and ede_list(r) == [], r
        assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert len(upstream.queries("ok.innocent.test")) == 1, "an ordinary CNAME answer was not cached"
    assert d.stats()["blocked_cname"] >= 4, d.last_stats_line


# ---------------------------------------------------------------- changes while running

def test_deny_add_and_rm_apply_without_restart(lists, parasold_factory, upstream):
    d = lists.start(parasold_factory, upstream)
    pid = d.proc.pid
    upstream.set("alias.example.test", cnames=["cdn.late.example.test"])
    for _ in range(2):
        forwarded(d, "late.example.test")
        r = d.ask("alias.example.test")
        assert a_addrs(r) == [UPSTREAM_A], r
    assert len(upstream.queries("late.example.test")) == 1, "not cached: the test proves nothing"
    assert len(upstream.queries("alias.example.test")) == 1, "not cached: the test proves nothing"

    p = lists.deny("late.example.test")
    assert p.stdout.strip() == "deny late.example.test (and everything under it)", p.stdout
    # Cached before the rule existed, blocked after it: the name itself and
    # a cached chain that leads to it.
    blocked(d, "late.example.test", text="category=local feed=local rule=late.example.test")
    blocked(d, "x.late.example.test")
    blocked(d, "alias.example.test",
            text="category=local feed=local rule=late.example.test cname=cdn.late.example.test")
    assert len(upstream.queries("late.example.test")) == 1
    assert upstream.queries("x.late.example.test") == []

    p = lists.deny_rm("late.example.test")
    assert p.stdout.strip() == "removed deny rule for late.example.test", p.stdout
    forwarded(d, "late.example.test")
    assert a_addrs(d.ask("alias.example.test")) == [UPSTREAM_A]
    assert len(upstream.queries("late.example.test")) == 2
    assert d.alive() and d.proc.pid == pid


def test_sighup_reloads_the_lists(lists, parasold_factory, upstream):
    d = lists.start(parasold_factory, upstream)
    forwarded(d, "hup.example.test")
    p = lists.deny("hup.example.test", reload=False)
    assert "cannot reach parasold" in p.stderr, p.stderr
    # --lists-poll=0 and no reload: the change is not served yet.
    forwarded(d, "a.hup.example.test")
    start = len(d.lines)
    d.signal(signal.SIGHUP)
    assert d.wait_for(r"lists: generation \d+", timeout=5, start=start) is not None, \
        "no new generation logged after SIGHUP"
    blocked(d, "hup.example.test", text="category=local feed=local rule=hup.example.test")
    blocked(d, "b.hup.example.test")
    assert upstream.queries("b.hup.example.test") == []
    assert d.alive()


def test_poll_picks_up_changes_made_without_reload(lists, parasold_factory, upstream):
    d = lists.start(parasold_factory, upstream, poll=200)
    forwarded(d, "poll.example.test")
    time.sleep(0.7)
    # Polls that find no new generation leave the cache alone.
    forwarded(d, "poll.example.test")
    assert len(upstream.queries("poll.example.test")) == 1, "the cache was emptied without a change"

    t0 = time.monotonic()
    lists.deny("poll.example.test", reload=False)
    wait_answer(d, "poll.example.test", True, timeout=5)
    assert time.monotonic() - t0 < 3, "the poll took far longer than --lists-poll=200"
    blocked(d, "poll.example.test", text="category=local feed=local rule=poll.example.test")

    lists.deny_rm("poll.example.test", reload=False)
    wait_answer(d, "poll.example.test", False, timeout=5)
    assert len(upstream.queries("poll.example.test")) == 2


# ---------------------------------------------------------------- reloads that fail

def test_corrupt_lists_db_keeps_the_old_snapshot(lists, parasold_factory, upstream):
    d = lists.start(parasold_factory, upstream, poll=150)
    lists.deny("evil.test")
    blocked(d, "evil.test")
    assert not os.path.exists(lists.db + "-wal") or os.path.getsize(lists.db + "-wal") == 0
    with open(lists.db, "rb") as f:
        good = f.read()

    start = len(d.lines)
    with open(lists.db, "r+b") as f:
        f.write(b"this is not a database, just garbage\n" * (len(good) // 37 + 1))
    # The poll finds it first; it says why and keeps serving.
    i = d.wait_for(r"reload failed, still serving generation \d+: .*not a database", timeout=5, start=start)
    assert i is not None, "no log line saying the reload failed and why"
    p = lists.cli("reload")
    assert p.returncode != 0, f"parasol reload succeeded on a corrupt lists.db:\n{p.stdout}{p.stderr}"
    assert "not a database" in p.stdout + p.stderr, p.stdout + p.stderr
    blocked(d, "evil.test", text="category=local feed=local rule=evil.test")
    blocked(d, "x.evil.test")
    forwarded(d, "fine.example.test")
    assert under(upstream, "evil.test") == []
    assert d.alive()

    with open(lists.db, "wb") as f:
        f.write(good)
    p = lists.cli("reload")
    assert p.returncode == 0 and re.search(r"generation=\d+", p.stdout), p.stdout + p.stderr
    lists.deny("worse.test")
    blocked(d, "worse.test", text="category=local feed=local rule=worse.test")
    blocked(d, "evil.test")


def test_removed_lists_db_keeps_the_old_snapshot(lists, parasold_factory, upstream):
    """A lists.db that went away is a failed reload, not an empty blocklist."""
    d = lists.start(parasold_factory, upstream)
    lists.deny("evil.test")
    os.rename(lists.db, lists.db + ".moved")
    start = len(d.lines)
    p = lists.cli("reload")
    assert p.returncode != 0, f"parasol reload succeeded without a lists.db:\n{p.stdout}{p.stderr}"
    assert lists.db in p.stdout + p.stderr, p.stdout + p.stderr
    assert d.wait_for(r"reload failed, still serving generation \d+: ", timeout=1, start=start) is not None, \
        "no log line saying the reload failed and why"
    blocked(d, "evil.test", text="category=local feed=local rule=evil.test")
    assert not os.path.exists(lists.db), "the reload put a new, empty lists.db in place of the missing one"

    os.rename(lists.db + ".moved", lists.db)
    p = lists.cli("reload")
    assert p.returncode == 0, p.stdout + p.stderr
    lists.deny("worse.test")
    blocked(d, "worse.test")
    blocked(d, "evil.test")


def test_locked_lists_db_keeps_the_old_snapshot(lists, parasold_factory, upstream):
    """A writer holding lists.db exclusively: in WAL mode BEGIN EXCLUSIVE
    alone still lets readers in (see the next test), so the second
    connection also takes the file lock (locking_mode=EXCLUSIVE)."""
    d = lists.start(parasold_factory, upstream)
    lists.deny("evil.test")
    con = sqlite3.connect(lists.db, isolation_level=None, timeout=1)
    try:
        con.execute("PRAGMA locking_mode=EXCLUSIVE")
        con.execute("BEGIN EXCLUSIVE")
        con.execute("DELETE FROM local_rules")   # uncommitted: must never be seen
        start = len(d.lines)
        out = {}
        th = threading.Thread(target=lambda: out.update(p=lists.cli("reload", timeout=40)))
        th.start()
        assert d.wait_for(r"control: reload requested", timeout=5, start=start) is not None
        # Answers do not wait for the rebuild stuck on the lock.
        t0 = time.monotonic()
        blocked(d, "evil.test", timeout=1.0)
        forwarded(d, "fine.example.test", timeout=1.0)
        assert time.monotonic() - t0 < 1.0
        th.join(30)
        assert not th.is_alive(), "parasol reload did not return"
        p = out["p"]
        assert p.returncode != 0, f"parasol reload succeeded on a locked lists.db:\n{p.stdout}{p.stderr}"
        assert "locked" in p.stdout + p.stderr, p.stdout + p.stderr
        assert d.wait_for(r"reload failed, still serving generation \d+: .*locked", timeout=1, start=start) \
            is not None, "no log line saying the reload failed and why"
        blocked(d, "evil.test", text="category=local feed=local rule=evil.test")
        con.execute("ROLLBACK")
    finally:
        con.close()
    p = lists.cli("reload")
    assert p.returncode == 0, p.stdout + p.stderr
    blocked(d, "evil.test")
    lists.deny("worse.test")
    blocked(d, "worse.test")


def test_reload_during_a_write_transaction_sees_the_committed_rules(lists, parasold_factory, upstream):
    """WAL: a writer in the middle of a transaction does not stop a reload,
    and the reload sees the rules as they were before the transaction."""
    d = lists.start(parasold_factory, upstream)
    lists.deny("evil.test")
    con = sqlite3.connect(lists.db, isolation_level=None, timeout=1)
    try:
        con.execute("BEGIN EXCLUSIVE")
        con.execute("DELETE FROM local_rules")
        p = lists.cli("reload")
        assert p.returncode == 0, p.stdout + p.stderr
        blocked(d, "evil.test")
        con.execute("ROLLBACK")
    finally:
        con.close()


# ---------------------------------------------------------------- the bundled default

def test_bundled_defaults_seeded_into_empty_db(parasold_factory, upstream, parasol_cli):
    d = parasold_factory("--seed-defaults=yes", "--lists-poll=0", upstreams=[upstream])
    assert d.wait_for(r"loaded \d+ bundled default entries", timeout=1) is not None, d.stderr_text()
    blocked(d, "coinhive.com", text="category=mining feed=coinminer rule=coinhive.com")
    blocked(d, "miner.deep.coinhive.com", text="category=mining feed=coinminer rule=coinhive.com")
    blocked(d, "andlache.com", text="category=browser-miner feed=nocoin rule=andlache.com")
    forwarded(d, "debian.example.test")
    assert len(upstream.queries("debian.example.test")) == 1
    assert under(upstream, "coinhive.com") == [] and upstream.queries("andlache.com") == []

    # Real clients see the same.
    p = dig(d.addr, d.port, "coinhive.com", "A")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^coinhive\.com\.\s+10\s+IN\s+A\s+0\.0\.0\.0$", p.stdout, re.M), p.stdout
    assert re.search(r"EDE: 15 \(Blocked\).*category=mining feed=coinminer rule=coinhive\.com", p.stdout), p.stdout
    p = kdig(d.addr, d.port, "+tcp", "+edns", "www.coinhive.com", "AAAA")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^www\.coinhive\.com\.\s+10\s+IN\s+AAAA\s+::$", p.stdout, re.M), p.stdout
    assert re.search(r"EDE: 15 \(Blocked\).*feed=coinminer", p.stdout), p.stdout
    p = dig(d.addr, d.port, "+noedns", "coinhive.com", "A")
    assert "0.0.0.0" in p.stdout and "EDE" not in p.stdout, p.stdout

    p = parasol_cli("check", "coinhive.com", daemon=d)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "feed coinminer, category mining" in p.stdout, p.stdout
    assert under(upstream, "coinhive.com") == []


def test_no_seeding_when_disabled_or_db_in_use(lists, parasold_factory, upstream):
    d = parasold_factory("--seed-defaults=no", upstreams=[upstream])
    forwarded(d, "coinhive.com")
    d.stop()
    # A database that holds a local rule is not empty: nothing is added.
    lists.deny("own.test")
    d = lists.start(parasold_factory, upstream, "--seed-defaults=yes")
    blocked(d, "own.test", text="category=local feed=local rule=own.test")
    forwarded(d, "www.coinhive.com")
    assert d.wait_for(r"bundled default", timeout=0.2) is None, d.stderr_text()


def test_rule_added_while_the_question_is_in_flight(lists, parasold_factory, upstream):
    """A name that becomes blocked while its question is with the upstream:
    the late reply is answered as blocked and not cached, so the next ask
    (a cache hit would skip the blocklist) is blocked too."""
    import threading
    d = lists.start(parasold_factory, upstream)
    name = "delay-inflight.example.test"   # the fake upstream waits 500 ms
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", d.ask(name, timeout=5)))
    t.start()
    deadline = time.monotonic() + 3
    while not upstream.queries(name) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream.queries(name), "the question never reached the upstream"
    p = lists.deny("delay-inflight.example.test")
    assert p.returncode == 0, p.stderr
    t.join(6)
    r = box["r"]
    assert a_addrs(r) == ["0.0.0.0"], f"late reply answered unblocked:\n{r}"
    assert [c for c, _ in ede_list(r)] == [EDE_BLOCKED], r
    blocked(d, name, text="category=local feed=local rule=delay-inflight.example.test")
    assert len(upstream.queries(name)) == 1
