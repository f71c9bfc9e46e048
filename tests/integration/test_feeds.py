"""The feed updater, parasol-update, and `parasol feeds`, against real servers
on loopback.

nginx (Debian's nginx-light) serves real lists, unmodified upstream copies
committed under tests/data/feeds (see its SOURCES.md), over https with a
certificate from a CA made for the test (--ca-file) and over plain http; a
small Python TLS server plays the misbehaviours nginx will not (a body cut
short of its Content-Length, a server that never answers).
Feed hosts are pinned with --resolve, so no DNS is involved.  A running
parasold (--lists-poll=0, so only the updater's reload request can change
what it serves) shows what a client sees: 0.0.0.0 with EDE 15 naming the
feed.  The few variants a case needs (a list cut to a tenth, a list with IPv4
literals mixed in) are made from those lists in the test's temporary folder.

What must hold: a first fetch fills lists.db and parasold blocks without a
restart; a second run is a 304 that writes no new generation; a changed list
is applied; every kind of bad download or bad list leaves the previous
entries serving, says why per feed, and exits 1 (others applied) or 69
(nothing applied); http only by choice; one updater at a time; the feeds
verbs; local files.
"""

from __future__ import annotations

import fcntl
import gzip
import ipaddress
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import time

import dns.edns
import pytest

from feedserver import Minisign
from helpers import a_addrs, ede_codes, rcode_text

EDE_BLOCKED = 15
SINK = "0.0.0.0"  # parasold's default sinkhole ("null")
UPSTREAM_A = "192.0.2.1"  # what the fake upstream answers for any other name

# Real lists under tests/data/feeds (or $PARASOL_FEED_DATA), see its
# SOURCES.md.  The counts asserted below are those of these files.
LIST_A = "shadowwhisperer/Cryptocurrency"        # domains, 1,277 names, 17,844 B with a 10-line header
LIST_B = "anudeepnd/CoinMiner.txt"               # hosts, 5,830 names, 147,523 B
LIST_BIG = LIST_B                                # over the 120k cap of the size case
LIST_OTHER = "nocoin/hosts.txt"                  # hosts, 313 names, 8,173 B
# Made from those at test time, in the test's temporary folder (Lab.src).
LIST_SHRUNK = "generated/shrunk.txt"             # LIST_A's first tenth + 3 of LIST_B's: 130 names
LIST_LOCAL = "generated/with-ipv4.txt"           # LIST_A with IPv4 literals mixed in
IPV4_LITERALS = ("192.0.2.53", "198.51.100.7", "203.0.113.250", "198.51.100.200", "192.0.2.254")


# ---------------------------------------------------------------- list reading

def listed_names(path):
    """The names a hosts or one-name-per-line list blocks, read independently
    of parasol's parsers (IP literals and localhost-style entries left out)."""
    out = set()
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("!"):
                continue
            words = line.split()
            if _is_ip(words[0]):
                words = words[1:]
            for w in words:
                w = w.lower().rstrip(".")
                if w and not _is_ip(w) and "." in w and w not in ("localhost.localdomain",):
                    out.add(w)
    return out


def _is_ip(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def covered(name, names):
    """Is name, or a domain above it, in names (a subtree rule covers it)?"""
    labels = name.split(".")
    return any(".".join(labels[i:]) in names for i in range(len(labels)))


def probes(inside, *outside):
    """The names listed in `inside` that nothing in the `outside` sets covers
    (and that cover nothing of theirs), in a fixed order."""
    for n in sorted(inside):
        if n.count(".") != 1 or "_" in n:
            continue
        if any(covered(n, o) or any(x.endswith("." + n) for x in o) for o in outside):
            continue
        yield n


def probe(inside, *outside):
    """The first of probes(inside, *outside)."""
    for n in probes(inside, *outside):
        return n
    raise AssertionError("test data: no probe name found")


# ---------------------------------------------------------------- lists made at test time

def _data_lines(path):
    """The lines of a one-name-per-line list that are not comments or blank."""
    with open(path, encoding="utf-8") as f:
        return [x.strip() for x in f if x.strip() and not x.lstrip().startswith("#")]


def _make_shrunk(lab, out):
    """LIST_A cut to the first tenth of its names, in file order, plus three
    names only LIST_B has: a list that lost 90% of its entries, whose new
    names must not get in when the shrink is refused."""
    names = _data_lines(lab.src(LIST_A))
    keep = names[:len(names) // 10]
    new = list(itertools.islice(probes(lab.names(LIST_B), lab.names(LIST_A), lab.names(LIST_OTHER)), 3))
    assert len(new) == 3, "test data: LIST_B has too few names of its own"
    with open(out, "w") as f:
        f.write("# LIST_A's first tenth and three names of LIST_B\n")
        f.writelines(n + "\n" for n in keep + new)


def _make_with_ipv4(lab, out):
    """LIST_A, header and all, with the IPv4 literals spread through it and
    one as its last line, as some domain lists carry them: they are no
    names and must not count as entries."""
    with open(lab.src(LIST_A), encoding="utf-8") as f:
        lines = f.readlines()
    step = len(lines) // len(IPV4_LITERALS)
    for i, ip in reversed(list(enumerate(IPV4_LITERALS[:-1], 1))):
        lines.insert(i * step, ip + "\n")
    lines.append(IPV4_LITERALS[-1] + "\n")
    with open(out, "w") as f:
        f.writelines(lines)


GENERATED = {LIST_SHRUNK: _make_shrunk, LIST_LOCAL: _make_with_ipv4}


# ---------------------------------------------------------------- the lab

class Lab:
    """One lists.db and control socket path, the CLI and the updater pointed
    at them, nginx and (optionally) a parasold serving that lists.db."""

    def __init__(self, tmp_path, nginx, pki, data, cli_binary, update):
        self.tmp = tmp_path
        self.db = str(tmp_path / "lists.db")
        self.control = str(tmp_path / "parasold.sock")
        self.nginx = nginx
        self.pki = pki
        self.data = data
        self.cli_binary = cli_binary
        self._update = update
        self.d = None

    def src(self, rel):
        """The path of a list: a file of the data folder, or one of the
        GENERATED variants, made in this test's folder on first use."""
        make = GENERATED.get(rel)
        if make is None:
            return os.path.join(self.data, rel)
        path = os.path.join(self.tmp, rel)
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            make(self, path)
        return path

    def names(self, rel):
        return listed_names(self.src(rel))

    # -- parasold
    def start_daemon(self, factory, upstream):
        self.d = factory(f"--lists-db={self.db}", f"--control={self.control}", "--lists-poll=0",
                         upstreams=[upstream])
        return self.d

    def dns_blocked(self, name, feed):
        r = self.d.ask(name)
        assert rcode_text(r) == "NOERROR" and a_addrs(r) == [SINK], \
            f"{name}: expected the sinkhole {SINK}, got {rcode_text(r)} {a_addrs(r)}\n{r}"
        texts = [o.text or "" for o in r.options
                 if o.otype == dns.edns.OptionType.EDE and o.code == EDE_BLOCKED]
        assert any(f"feed={feed}" in t for t in texts), \
            f"{name}: no EDE {EDE_BLOCKED} naming feed={feed}: {[(o.code, getattr(o, 'text', None)) for o in r.options]}"

    def dns_passes(self, name):
        r = self.d.ask(name)
        assert rcode_text(r) == "NOERROR" and a_addrs(r) == [UPSTREAM_A], \
            f"{name}: expected the upstream's {UPSTREAM_A}, got {rcode_text(r)} {a_addrs(r)}\n{r}"
        assert EDE_BLOCKED not in ede_codes(r), f"{name}: EDE Blocked on a forwarded answer"

    # -- the CLI
    def cli(self, *args, timeout=30):
        e = {k: v for k, v in os.environ.items()
             if k not in ("PARASOL_CONFIG", "PARASOL_LISTS_DB", "PARASOL_STATS_DB", "PARASOL_CONTROL")}
        return subprocess.run([self.cli_binary, f"--lists-db={self.db}", f"--control={self.control}", *args],
                              capture_output=True, text=True, timeout=timeout, env=e,
                              stdin=subprocess.DEVNULL)

    def add(self, feed_id, src, *opts):
        p = self.cli("feeds", "add", feed_id, src, *opts)
        assert p.returncode == 0, f"parasol feeds add {feed_id} {src}: rc={p.returncode}\n{p.stderr}"
        return p

    def ls(self):
        p = self.cli("feeds", "ls", "--json")
        assert p.returncode == 0, f"parasol feeds ls --json: rc={p.returncode}\n{p.stderr}"
        return {f["id"]: f for f in json.loads(p.stdout)}

    def check(self, name):
        """(exit status, JSON verdict) of `parasol check NAME --json`."""
        p = self.cli("check", name, "--json")
        assert p.returncode in (0, 1), f"parasol check {name}: rc={p.returncode}\n{p.stderr}"
        return p.returncode, json.loads(p.stdout)

    def assert_blocked(self, name, feed):
        rc, v = self.check(name)
        assert rc == 1 and v["verdict"] == "blocked" and v["feed"] == feed, \
            f"parasol check {name}: expected blocked by feed {feed}, got rc={rc} {v}"
        if self.d is not None:
            self.dns_blocked(name, feed)

    def assert_not_blocked(self, name):
        rc, v = self.check(name)
        assert rc == 0 and v["verdict"] == "pass", f"parasol check {name}: expected not blocked, got rc={rc} {v}"
        if self.d is not None:
            self.dns_passes(name)

    # -- the updater
    def update(self, *args, json_out=True, servers=(), ca=None, timeout=60):
        argv = [f"--lists-db={self.db}", f"--ca-file={ca or self.pki.ca_cert}", *self.nginx.resolve_args()]
        for s in servers:
            argv += s.resolve_args()
        argv.append(f"--control={self.control}" if self.d is not None else "--no-reload")
        if json_out:
            argv.append("--json")
        return self._update(*argv, *args, timeout=timeout)


@pytest.fixture
def lab(tmp_path, nginx, feed_pki, feed_data, parasol_cli_binary, parasol_update):
    return Lab(tmp_path, nginx, feed_pki, feed_data, parasol_cli_binary, parasol_update)


def feed_result(p, feed_id):
    for f in p.json["feeds"]:
        if f["id"] == feed_id:
            return f
    raise AssertionError(f"no feed {feed_id} in parasol-update --json output:\n{p.stdout}")


def nginx_etag(path):
    """nginx's ETag for a static file: hex mtime and size."""
    st = os.stat(path)
    return f'"{int(st.st_mtime):x}-{st.st_size:x}"'


def requests_for(nginx, uri):
    return [line for line in nginx.log_lines() if line.split()[2] == uri]


def request_time(line):
    return float(re.search(r" t=([\d.]+) ", line).group(1))


def rc_msg(p):
    return f"rc={p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


# ---------------------------------------------------------------- 1-3: fetch, 304, change

def test_first_fetch_blocks_without_restart_then_304_then_change(lab, parasold_factory, upstream):
    nginx = lab.nginx
    a, b = lab.names(LIST_A), lab.names(LIST_B)
    only_a, only_b = probe(a, b), probe(b, a)
    d = lab.start_daemon(parasold_factory, upstream)
    # Asked before the feed exists: forwarded, and cached by parasold.
    lab.dns_passes(only_a)

    nginx.put("mining/list.txt", lab.src(LIST_A))
    lab.add("mining", nginx.url("mining/list.txt"))
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    r = feed_result(p, "mining")
    assert r["status"] == "updated" and r["error"] is None and r["http_status"] == 200
    assert r["entries"] == len(a) and r["previous"] == 0
    assert p.json["published"] is True and p.json["reloaded"] is True and p.json["exit"] == 0
    gen1 = p.json["generation"]

    row = lab.ls()["mining"]
    assert row["entries"] == len(a) and row["last_error"] is None and row["last_success"]
    assert row["etag"] == nginx_etag(nginx.path("mining/list.txt"))
    lab.assert_blocked(only_a, "mining")          # the cached forwarded answer is gone too
    lab.assert_blocked("sub." + only_a, "mining")  # subtree by default
    lab.assert_not_blocked(only_b)
    assert d.alive()

    # 2. Nothing changed on the server: a conditional GET, a 304, no new generation.
    reloads = len(re.findall(r"lists: generation", d.stderr_text()))
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    r = feed_result(p, "mining")
    assert r["status"] == "not-modified" and r["http_status"] == 304 and r["entries"] == len(a)
    assert p.json["published"] is False and p.json["generation"] == gen1 and p.json["reloaded"] is None
    last = requests_for(nginx, "/mining/list.txt")[-1]
    assert last.startswith("304 GET") and row["etag"].strip('"') in last, \
        f"nginx did not answer 304 to a request with our ETag: {last}"
    assert len(re.findall(r"lists: generation", d.stderr_text())) == reloads, "parasold reloaded after a 304"
    assert lab.ls()["mining"]["entries"] == len(a)
    lab.assert_blocked(only_a, "mining")
    p = lab.update(json_out=False)
    assert p.returncode == 0, rc_msg(p)
    assert re.search(rf"^mining: not modified \(HTTP 304\), {len(a)} entries$", p.stdout, re.M), p.stdout
    assert re.search(rf"^1 feeds: 0 updated, 1 unchanged, 0 failed; generation {gen1} in [\d.]+ s$",
                     p.stdout, re.M), p.stdout

    # The file is touched, not changed: a 200 with the same bytes is
    # "unchanged", no new generation, and the new ETag is the one sent next.
    now = time.time() + 2
    os.utime(nginx.path("mining/list.txt"), (now, now))
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    assert feed_result(p, "mining")["status"] == "unchanged" and feed_result(p, "mining")["http_status"] == 200
    assert p.json["published"] is False and p.json["generation"] == gen1
    assert lab.ls()["mining"]["etag"] == nginx_etag(nginx.path("mining/list.txt")) != row["etag"]
    p = lab.update()
    assert p.returncode == 0 and feed_result(p, "mining")["status"] == "not-modified", rc_msg(p)
    assert len(re.findall(r"lists: generation", d.stderr_text())) == reloads, "parasold reloaded for nothing"

    # 3. The list changes on the server: applied, new names in, old ones out.
    nginx.put("mining/list.txt", lab.src(LIST_B))
    p = lab.update(json_out=False)
    assert p.returncode == 0, rc_msg(p)
    assert re.search(rf"^mining: updated, {len(b)} entries \(was {len(a)}\), \d+ KiB hosts in [\d.]+ s, "
                     r"\d+ invalid, \d+ skipped$", p.stdout, re.M), p.stdout
    m = re.search(r"^1 feeds: 1 updated, 0 unchanged, 0 failed; generation (\d+) \(new\) in [\d.]+ s; "
                  r"parasold reloaded$", p.stdout, re.M)
    assert m and int(m.group(1)) > gen1, p.stdout
    assert requests_for(nginx, "/mining/list.txt")[-1].startswith("200 GET")
    assert lab.ls()["mining"]["entries"] == len(b)
    lab.assert_blocked(only_b, "mining")
    lab.assert_not_blocked(only_a)
    lab.assert_not_blocked("sub." + only_a)


# ---------------------------------------------------------------- 4: bad downloads keep what was there

def _garbage(lab, nginx, key, servers):
    nginx.put("victim/list.txt", random.Random(1).randbytes(64 * 1024))


def _html_500(lab, nginx, key, servers):
    nginx.mode("victim", "500")


def _html_200(lab, nginx, key, servers):
    lab.add("victim", nginx.url("portal/list.txt"))


def _empty(lab, nginx, key, servers):
    nginx.put("victim/list.txt", b"")


def _over_cap(lab, nginx, key, servers):
    # nginx announces the length: libcurl can refuse before reading.
    nginx.put("victim/list.txt", lab.src(LIST_BIG))
    assert os.path.getsize(lab.src(LIST_BIG)) > 120 * 1024 > os.path.getsize(lab.src(LIST_OTHER))
    return ["--max-size=120k"]


def _gzip_bomb(lab, nginx, key, servers):
    # About 20 kB on the wire, 21 MB decoded: the cap must hold for what
    # libcurl decodes, whose length nobody announced.
    body = b"0.0.0.0 bomb.example\n" * 1_000_000
    nginx.put("victim/list.txt", body)
    nginx.put("victim/list.txt.gz", gzip.compress(body, 9))
    assert os.path.getsize(nginx.path("victim/list.txt.gz")) < 1 << 20
    return ["--max-size=1M"]


def _redirect_loop(lab, nginx, key, servers):
    nginx.mode("victim", "LOOP")


def _truncated(lab, nginx, key, servers):
    with open(lab.src(LIST_B), "rb") as f:
        body = f.read()
    s = servers("truncate", body=body, sent=len(body) // 3, promised=len(body))
    lab.add("victim", s.url("list.txt"))
    return s


def _stalled(lab, nginx, key, servers):
    s = servers("stall")
    lab.add("victim", s.url("list.txt"))
    return [s, "--timeout=2"]


def _untrusted_cert(lab, nginx, key, servers):
    # A server for the right name whose certificate our CA did not issue.
    with open(lab.src(LIST_B), "rb") as f:
        s = servers("serve", body=f.read(), untrusted=True)
    lab.add("victim", s.url("list.txt"))
    return s


def _shrank(lab, nginx, key, servers):
    nginx.put("victim/list.txt", lab.src(LIST_SHRUNK))


def _bad_signature(lab, nginx, key, servers):
    # Other content under the old signature, as a compromised mirror would.
    with open(nginx.path("victim/list.txt.minisig"), "rb") as f:
        sig = f.read()
    nginx.put("victim/list.txt", lab.src(LIST_B))
    nginx.put("victim/list.txt.minisig", sig)


def _wrong_key(lab, nginx, key, servers):
    nginx.put("victim/list.txt", lab.src(LIST_B))
    Minisign(str(lab.tmp), "intruder").sign(nginx.path("victim/list.txt"), "serial:11")


def _no_signature(lab, nginx, key, servers):
    nginx.put("victim/list.txt", lab.src(LIST_B))
    os.unlink(nginx.path("victim/list.txt.minisig"))


def _older_serial(lab, nginx, key, servers):
    # A genuine signature, but older than the accepted one: a replay.
    nginx.put("victim/list.txt", lab.src(LIST_B))
    key.sign(nginx.path("victim/list.txt"), "serial:5")


# (id, break the victim, signed victim, what last_error must say, names of
# the bad content that must not get in)
FAILURES = [
    ("garbage", _garbage, False, r"binary data \(NUL bytes\), not a text list", None),
    ("html-500", _html_500, False, r"HTTP status 500", None),
    ("html-200", _html_200, False, r"HTML", None),
    ("empty-200", _empty, False, r"empty", None),
    ("over-cap", _over_cap, False, r"larger than the 122880-byte cap", None),
    ("gzip-bomb", _gzip_bomb, False, r"larger than the 1048576-byte cap", None),
    ("redirect-loop", _redirect_loop, False, r"more than 5 redirects", None),
    ("truncated", _truncated, False, r"transfer closed with \d+ bytes remaining|partial|truncat", LIST_B),
    ("stalled", _stalled, False, r"[Tt]imed? ?out", None),
    ("untrusted-cert", _untrusted_cert, False, r"certificate", LIST_B),
    ("shrank-90pc", _shrank, False, r"shrank from 1277 to 130 rules", LIST_SHRUNK),
    ("bad-signature", _bad_signature, True, r"signature rejected", LIST_B),
    ("wrong-key", _wrong_key, True, r"signature rejected", LIST_B),
    ("no-signature", _no_signature, True, r"minisig.*404", LIST_B),
    ("older-serial", _older_serial, True, r"serial 5 is not newer than the accepted 10", LIST_B),
]


@pytest.mark.parametrize("case,breaker,signed,reason,bad_list", FAILURES, ids=[f[0] for f in FAILURES])
def test_bad_update_keeps_previous_entries(lab, parasold_factory, upstream, bad_tls_server, minisign_key,
                                          case, breaker, signed, reason, bad_list):
    nginx = lab.nginx
    a, other = lab.names(LIST_A), lab.names(LIST_OTHER)
    victim_name = probe(a, other, lab.names(LIST_B), lab.names(LIST_SHRUNK))
    other_name = probe(other, a)
    lab.start_daemon(parasold_factory, upstream)

    nginx.put("victim/list.txt", lab.src(LIST_A))
    nginx.put("other/hosts.txt", lab.src(LIST_OTHER))
    opts = []
    if signed:
        minisign_key.sign(nginx.path("victim/list.txt"), "serial:10")
        opts.append(f"--pubkey={minisign_key.pubkey}")
    lab.add("victim", nginx.url("victim/list.txt"), *opts)
    lab.add("other", nginx.url("other/hosts.txt"))
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    assert feed_result(p, "victim")["status"] == "updated"
    if signed:
        assert feed_result(p, "victim")["serial"] == 10
    before = lab.ls()
    assert before["victim"]["entries"] == len(a)
    lab.assert_blocked(victim_name, "victim")

    extra = breaker(lab, nginx, minisign_key, bad_tls_server) or []
    # (Pointing the feed at another server is a change of definition, which
    # takes a generation of its own.)
    gen = lab.check(victim_name)[1]["generation"]
    if not isinstance(extra, list):
        extra = [extra]
    servers = [x for x in extra if not isinstance(x, str)]
    args = [x for x in extra if isinstance(x, str)]

    # With a healthy feed alongside: 1, the healthy one applied.
    p = lab.update(*args, servers=servers)
    assert p.returncode == 1, rc_msg(p)
    v, o = feed_result(p, "victim"), feed_result(p, "other")
    assert v["status"] == "failed" and re.search(reason, v["error"] or ""), \
        f"{case}: expected a failure saying /{reason}/, got {v}"
    assert v["entries"] == len(a) and v["previous"] == len(a)
    assert o["status"] in ("not-modified", "unchanged") and o["error"] is None, o
    assert p.json["published"] is False and p.json["generation"] == gen and p.json["exit"] == 1

    # Alone: 69, and the text says why.
    p = lab.update(*args, "--feed=victim", json_out=False, servers=servers)
    assert p.returncode == 69, rc_msg(p)
    line = next((x for x in p.stdout.splitlines() if x.startswith("victim: ")), "")
    assert re.fullmatch(rf"victim: FAILED: .+; keeping {len(a)} entries", line) and re.search(reason, line), \
        f"{case}: per-feed line: {p.stdout}"
    assert re.search(r"^1 feeds: 0 updated, 0 unchanged, 1 failed; generation \d+ in [\d.]+ s$", p.stdout, re.M), \
        p.stdout

    after = lab.ls()
    assert after["victim"]["entries"] == len(a)
    assert re.search(reason, after["victim"]["last_error"] or ""), after["victim"]
    assert after["victim"]["last_success"] == before["victim"]["last_success"]
    assert after["victim"]["last_attempt"] >= before["victim"]["last_attempt"]
    if signed:
        assert after["victim"]["serial"] == 10
    assert after["other"]["last_error"] is None and after["other"]["entries"] == len(other)
    lab.assert_blocked(victim_name, "victim")
    lab.assert_blocked("deep.sub." + victim_name, "victim")
    lab.assert_blocked(other_name, "other")
    if bad_list is not None:
        lab.assert_not_blocked(probe(lab.names(bad_list), a, other))


# ---------------------------------------------------------------- 5: http only by choice

def test_plain_http_only_with_allow_http(lab):
    nginx = lab.nginx
    names = lab.names(LIST_OTHER)
    name = probe(names)
    nginx.put("plain/hosts.txt", lab.src(LIST_OTHER))
    url = nginx.url("plain/hosts.txt", scheme="http")

    p = lab.cli("feeds", "add", "plain", url)
    assert p.returncode == 2, rc_msg(p)
    assert "plain http" in p.stderr and "--allow-http" in p.stderr, p.stderr
    assert "plain" not in (lab.ls() if os.path.exists(lab.db) else {})

    lab.add("plain", url, "--allow-http")
    row = lab.ls()["plain"]
    assert row["allow_http"] is True and row["url"] == url
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    assert feed_result(p, "plain")["status"] == "updated"
    assert any(x.startswith("200 GET /plain/hosts.txt") and f"port={nginx.http_port}" in x
               for x in nginx.log_lines()), nginx.log_lines()
    lab.assert_blocked(name, "plain")

    # An https feed whose server redirects to http: refused, nothing fetched over http.
    nginx.put("secure/hosts.txt", lab.src(LIST_OTHER))
    lab.add("secure", nginx.url("secure/hosts.txt"))
    nginx.mode("secure", "TO-HTTP")
    p = lab.update("--feed=secure")
    assert p.returncode == 69, rc_msg(p)
    r = feed_result(p, "secure")
    assert r["status"] == "failed" and re.search(r"redirected to http://.*https only", r["error"]), r
    log = requests_for(nginx, "/secure/hosts.txt")
    assert [x.split()[0] for x in log] == ["302"], f"expected one 302 and no http request: {log}"
    assert lab.ls()["secure"]["entries"] == 0


# ---------------------------------------------------------------- 6: output, help, exit codes

def test_help_and_usage_exit_codes(lab, parasol_update):
    p = parasol_update("--help")
    assert p.returncode == 0, rc_msg(p)
    text = " ".join(p.stdout.split())
    for code, words in ((0, "all feeds current"), (1, "some feeds failed"), (64, "usage"),
                        (69, "no feed could be fetched"), (74, "lists.db"), (75, "another update"),
                        (78, "configuration")):
        assert re.search(rf"\b{code}\b[^,.]*{re.escape(words)}", text), f"--help: exit {code} ({words}) missing:\n{p.stdout}"
    p = parasol_update("--no-such-option")
    assert p.returncode == 64, rc_msg(p)
    p = parasol_update("--max-size=lots", f"--lists-db={lab.db}")
    assert p.returncode == 64 and "max-size" in p.stderr, rc_msg(p)

    lab.nginx.put("one/hosts.txt", lab.src(LIST_OTHER))
    lab.add("one", lab.nginx.url("one/hosts.txt"))
    p = lab.update("--feed=nonesuch")
    assert p.returncode == 78, rc_msg(p)
    assert p.json["error"] and "nonesuch" in p.json["error"] and p.json["feeds"] == [], p.stdout
    p = lab.update("--feed=nonesuch", json_out=False)
    assert p.returncode == 78 and "nonesuch" in p.stderr, rc_msg(p)

    # Text: one line per feed and a summary; --json: the same facts.
    lab.nginx.put("two/list.txt", lab.src(LIST_A))
    lab.add("two", lab.nginx.url("two/list.txt"))
    lab.nginx.put("three/list.txt", b"")
    lab.add("three", lab.nginx.url("three/list.txt"))
    p = lab.update(json_out=False)
    assert p.returncode == 1, rc_msg(p)
    lines = p.stdout.splitlines()
    assert len(lines) == 4, p.stdout
    by_feed = {x.split(":", 1)[0]: x for x in lines[:3]}
    assert re.fullmatch(r"one: updated, 313 entries \(was 0\), \d+ B hosts in [\d.]+ s, 0 invalid, \d+ skipped",
                        by_feed.get("one", "")), p.stdout
    assert re.fullmatch(r"three: FAILED: empty body; keeping 0 entries", by_feed.get("three", "")), p.stdout
    # LIST_A: 17,844 bytes, its 9-line "#" header and a blank line skipped.
    assert re.fullmatch(r"two: updated, 1277 entries \(was 0\), 17 KiB domains in [\d.]+ s, 0 invalid, 10 skipped",
                        by_feed.get("two", "")), p.stdout
    assert re.fullmatch(r"3 feeds: 2 updated, 0 unchanged, 1 failed; generation \d+ \(new\) in [\d.]+ s",
                        lines[-1]), p.stdout
    # --quiet: the failures and the summary only.
    p = lab.update("--quiet", json_out=False)
    assert p.returncode == 1, rc_msg(p)
    assert re.fullmatch(r"three: FAILED: empty body; keeping 0 entries\n"
                        r"3 feeds: 0 updated, 2 unchanged, 1 failed; generation \d+ in [\d.]+ s\n", p.stdout), p.stdout
    p = lab.update()
    assert p.returncode == 1 and p.json["exit"] == 1, rc_msg(p)
    assert {f["id"]: f["status"] for f in p.json["feeds"]} == \
        {"one": "not-modified", "three": "failed", "two": "not-modified"}
    assert feed_result(p, "three")["error"] == "empty body"
    assert feed_result(p, "two")["entries"] == 1277 and feed_result(p, "two")["http_status"] == 304


# ---------------------------------------------------------------- 7: one updater at a time

def test_second_run_waits_or_exits_75(lab, bad_tls_server, parasol_update_binary):
    nginx = lab.nginx
    stall = bad_tls_server("stall")
    lab.add("slow", stall.url("list.txt"))
    nginx.put("quick/hosts.txt", lab.src(LIST_OTHER))
    lab.add("quick", nginx.url("quick/hosts.txt"))

    base = [parasol_update_binary, f"--lists-db={lab.db}", "--no-reload", f"--ca-file={lab.pki.ca_cert}",
            *nginx.resolve_args(), *stall.resolve_args()]
    t0 = time.monotonic()
    first = subprocess.Popen([*base, "--feed=slow", "--timeout=3"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        assert stall.connected.wait(10), "the first run never reached the stalling server"
        p = subprocess.run([*base, "--feed=quick", "--lock-wait=0"], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        assert p.returncode == 75, rc_msg(p)
        assert "another parasol-update is running" in p.stderr, p.stderr
        p = subprocess.run([*base, "--feed=quick", "--lock-wait=0", "--json"], capture_output=True, text=True,
                           timeout=10, stdin=subprocess.DEVNULL)
        out = json.loads(p.stdout)
        assert p.returncode == 75 and out["exit"] == 75 and out["feeds"] == [], rc_msg(p)
        assert "another parasol-update is running" in out["error"], out
        assert time.monotonic() - t0 < 2.5, "--lock-wait=0 waited"
        assert first.poll() is None, "the first run ended before the lock was tested"

        waiter = subprocess.Popen([*base, "--feed=quick", "--lock-wait=20", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            out, err = first.communicate(timeout=20)
            first_end = time.monotonic()
            first_end_wall = time.time()
            assert first.returncode == 69, f"first run rc={first.returncode}\n{out}\n{err}"
            wout, werr = waiter.communicate(timeout=20)
            waiter_end = time.monotonic()
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait(5)
        assert waiter.returncode == 0, f"waiting run rc={waiter.returncode}\n{wout}\n{werr}"
        assert waiter_end >= first_end - 0.05
        assert json.loads(wout)["feeds"][0]["status"] == "updated"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5)
    # The waiting run fetched only once the first had let go of the lock.
    quick = requests_for(nginx, "/quick/hosts.txt")
    assert len(quick) == 1 and request_time(quick[0]) >= first_end_wall - 0.3, (quick, first_end_wall)
    rows = lab.ls()
    assert rows["quick"]["entries"] == 313 and re.search(r"[Tt]imed? ?out", rows["slow"]["last_error"] or "")
    # No lock is left behind.
    with open(lab.db + ".update-lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- 8: rm, enable, disable, ls

def test_feeds_verbs_reload_parasold(lab, parasold_factory, upstream):
    nginx = lab.nginx
    a, other = lab.names(LIST_A), lab.names(LIST_OTHER)
    a_name, other_name = probe(a, other), probe(other, a)
    lab.start_daemon(parasold_factory, upstream)
    nginx.put("mining/list.txt", lab.src(LIST_A))
    nginx.put("nocoin/hosts.txt", lab.src(LIST_OTHER))
    lab.add("mining", nginx.url("mining/list.txt"), "--category=pools")
    lab.add("nocoin", nginx.url("nocoin/hosts.txt"), "--category=browser-miner")
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    lab.assert_blocked(a_name, "mining")
    lab.assert_blocked(other_name, "nocoin")

    p = lab.cli("feeds", "disable", "mining")
    assert p.returncode == 0 and "feed mining disabled" in p.stdout, rc_msg(p)
    assert "parasold reloaded" in p.stderr, p.stderr
    lab.assert_not_blocked(a_name)
    rows = lab.ls()
    assert rows["mining"]["enabled"] is False and rows["mining"]["entries"] == len(a)
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    assert [f["id"] for f in p.json["feeds"]] == ["nocoin"], "a disabled feed was fetched"

    p = lab.cli("feeds", "enable", "mining")
    assert p.returncode == 0 and "feed mining enabled" in p.stdout and "parasold reloaded" in p.stderr, rc_msg(p)
    lab.assert_blocked(a_name, "mining")
    assert lab.ls()["mining"]["enabled"] is True

    # ls: entries, last success, last error, ETag.
    nginx.mode("mining", "500")
    p = lab.update()
    assert p.returncode == 1, rc_msg(p)
    p = lab.cli("feeds", "ls")
    assert p.returncode == 0, rc_msg(p)
    text = p.stdout
    etag = nginx_etag(nginx.path("mining/list.txt"))
    assert re.search(rf"^mining  {re.escape(nginx.url('mining/list.txt'))}$", text, re.M), text
    assert re.search(r"^    auto, subtree, category pools; 1277 entries$", text, re.M), text
    assert re.search(r"^    last success \d{4}-\d\d-\d\d \d\d:\d\d, last attempt \d{4}-\d\d-\d\d \d\d:\d\d, "
                     rf"ETag {re.escape(etag)}$", text, re.M), text
    assert re.search(r"^    last error: HTTP status 500$", text, re.M), text
    assert re.search(r"^nocoin  .*\n    auto, subtree, category browser-miner; 313 entries$", text, re.M), text
    rows = lab.ls()
    assert rows["mining"]["last_error"] == "HTTP status 500" and rows["mining"]["etag"] == etag
    assert rows["nocoin"]["last_error"] is None and rows["nocoin"]["last_success"] >= rows["mining"]["last_success"]
    lab.assert_blocked(a_name, "mining")

    p = lab.cli("feeds", "rm", "nocoin")
    assert p.returncode == 0 and "removed" in p.stdout and "parasold reloaded" in p.stderr, rc_msg(p)
    lab.assert_not_blocked(other_name)
    assert "nocoin" not in lab.ls()
    p = lab.cli("feeds", "rm", "nocoin")
    assert p.returncode == 2 and "no feed 'nocoin'" in p.stderr, rc_msg(p)
    p = lab.cli("feeds", "disable", "nonesuch")
    assert p.returncode == 2, rc_msg(p)


# ---------------------------------------------------------------- 9: a local file

def test_local_file_feed(lab, parasold_factory, upstream):
    lab.start_daemon(parasold_factory, upstream)
    path = lab.tmp / "my-list.txt"
    shutil.copy(lab.src(LIST_LOCAL), path)
    with open(path) as f:
        assert sum(x.strip() in IPV4_LITERALS for x in f) == len(IPV4_LITERALS)
    names = listed_names(str(path))
    assert names == lab.names(LIST_A) and len(names) == 1277  # the IPv4 literals are no names
    name = probe(names)
    lab.add("mine", str(path), "--format=domains")
    assert lab.ls()["mine"]["url"] == str(path)
    p = lab.update()
    assert p.returncode == 0, rc_msg(p)
    r = feed_result(p, "mine")
    assert r["status"] == "updated" and r["entries"] == len(names)
    # Addresses carry no DNS rule: skipped with LIST_A's 10 header lines, not invalid.
    assert r["invalid"] == 0 and r["skipped"] == 10 + len(IPV4_LITERALS), r
    lab.assert_blocked(name, "mine")

    p = lab.update()
    assert p.returncode == 0 and feed_result(p, "mine")["status"] == "unchanged", rc_msg(p)
    with open(path, "a") as f:
        f.write("added-later.example\n")
    p = lab.update()
    assert p.returncode == 0 and feed_result(p, "mine")["entries"] == len(names) + 1, rc_msg(p)
    lab.assert_blocked("added-later.example", "mine")

    os.unlink(path)
    p = lab.update()
    assert p.returncode == 69, rc_msg(p)
    assert re.search(r"No such file", feed_result(p, "mine")["error"]), p.stdout
    assert lab.ls()["mine"]["entries"] == len(names) + 1
    lab.assert_blocked(name, "mine")


def test_re_adding_a_feed_keeps_what_is_not_said(lab, minisign_key):
    """Re-adding a feed changes only the options given: a signed feed stays
    signed unless --pubkey=none says otherwise, and says so."""
    lab.nginx.put("keep/hosts.txt", lab.src(LIST_OTHER))
    url = lab.nginx.url("keep/hosts.txt")
    lab.add("keep", url, f"--pubkey={minisign_key.pubkey}", "--category=pools", "--format=hosts", "--match=exact")
    p = lab.add("keep", url)
    row = lab.ls()["keep"]
    assert row["signed"] is True and row["category"] == "pools", row
    assert row["format"] == "hosts" and row["match"] == "exact", row
    assert "signed" in p.stdout, p.stdout
    p = lab.add("keep", url, "--pubkey=none", "--category=mining")
    row = lab.ls()["keep"]
    assert row["signed"] is False and row["category"] == "mining" and row["match"] == "exact", row
    assert "no longer signed" in p.stderr, p.stderr


def test_feed_host_resolved_at_the_configured_upstream(lab, upstream, tmp_path):
    """With parasold's config file (-c), feed hosts are looked up directly at
    its upstream servers, not through the system resolver (which may be
    parasold itself)."""
    nginx = lab.nginx
    nginx.put("dns/hosts.txt", lab.src(LIST_OTHER))
    lab.add("viadns", nginx.url("dns/hosts.txt"))
    upstream.set(nginx.host, records={"A": ["127.0.0.1"]})
    conf = tmp_path / "parasold.conf"
    conf.write_text(f"# parasold's config, shared with parasol-update\nupstream = {upstream.hostport}\n")
    # No --resolve pins: the name is only known to the fake upstream.
    p = lab._update(f"-c{conf}", f"--lists-db={lab.db}", f"--ca-file={lab.pki.ca_cert}",
                    "--no-reload", "--json", "--feed=viadns")
    assert p.returncode == 0, rc_msg(p)
    assert feed_result(p, "viadns")["status"] == "updated"
    assert upstream.queries(nginx.host, "A"), "the feed host was not looked up at the configured upstream"
    assert lab.ls()["viadns"]["entries"] == 313
