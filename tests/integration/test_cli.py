"""The admin CLI, `parasol`, on lists.db: check (text, --json, exit codes),
allow/deny add|rm|ls, reload, and its errors (missing, unreadable or
foreign databases, bad names, bad usage, no daemon to reach).

Exit codes: check 1 blocked, 0 not; 2 bad usage or name; 3 database
missing or unreadable; 4 parasold unreachable (or its reload failed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from helpers import a_addrs, ede_list

USAGE, DB, DAEMON = 2, 3, 4


def check(lists, name, *opts):
    return lists.cli("check", name, *opts)


def check_json(lists, name):
    p = check(lists, name, "--json")
    try:
        j = json.loads(p.stdout)
    except ValueError as err:
        raise AssertionError(f"check {name} --json printed no JSON ({err}):\n{p.stdout}{p.stderr}")
    return p.returncode, j


# ---------------------------------------------------------------- check

def test_check_verdicts_and_exit_codes(lists):
    lists.feed("pools", ["minexmr.com"], category="mining")
    lists.allow("ok.minexmr.com")
    lists.deny("wallet.test", exact=True)

    cases = [
        # name, exit, text
        ("pool.minexmr.com", 1,
         "pool.minexmr.com: blocked by deny rule minexmr.com (subtree), feed pools, category mining"),
        ("minexmr.com", 1, "minexmr.com: blocked by deny rule minexmr.com (subtree), feed pools, category mining"),
        ("POOL.MineXMR.com.", 1,
         "pool.minexmr.com: blocked by deny rule minexmr.com (subtree), feed pools, category mining"),
        ("ok.minexmr.com", 0,
         "ok.minexmr.com: allowed by allow rule ok.minexmr.com (subtree), feed local, category local"),
        ("a.ok.minexmr.com", 0,
         "a.ok.minexmr.com: allowed by allow rule ok.minexmr.com (subtree), feed local, category local"),
        ("wallet.test", 1, "wallet.test: blocked by deny rule wallet.test (exact), feed local, category local"),
        ("sub.wallet.test", 0, "sub.wallet.test: not blocked (no rule matches)"),
        ("xminexmr.com", 0, "xminexmr.com: not blocked (no rule matches)"),
    ]
    for name, code, text in cases:
        p = check(lists, name)
        assert (p.returncode, p.stdout.strip()) == (code, text), f"check {name}: exit {p.returncode}\n{p.stdout}{p.stderr}"

    rc, j = check_json(lists, "pool.minexmr.com")
    assert rc == 1
    assert {k: j.get(k) for k in ("name", "verdict", "rule", "match", "feed", "category")} == {
        "name": "pool.minexmr.com", "verdict": "blocked", "rule": "minexmr.com", "match": "subtree",
        "feed": "pools", "category": "mining"}, j
    assert isinstance(j.get("generation"), int) and j["generation"] > 0, j
    rc, j = check_json(lists, "a.ok.minexmr.com")
    assert rc == 0
    assert (j["verdict"], j["rule"], j["feed"], j["category"]) == ("allowed", "ok.minexmr.com", "local", "local"), j
    rc, j = check_json(lists, "wallet.test")
    assert rc == 1 and (j["verdict"], j["rule"], j["match"], j["feed"]) == ("blocked", "wallet.test", "exact", "local")
    rc, j = check_json(lists, "xminexmr.com")
    assert rc == 0 and j["verdict"] == "pass" and "rule" not in j and "feed" not in j, j


def test_check_agrees_with_the_daemon(lists, parasold_factory, upstream):
    lists.feed("pools", ["minexmr.com", "supportxmr.com"])
    lists.deny("evil.test")
    lists.deny("one.example.test", exact=True)
    lists.allow("good.evil.test")
    lists.allow("minexmr.com", exact=True)
    d = lists.start(parasold_factory, upstream)
    for name in ("minexmr.com", "pool.minexmr.com", "supportxmr.com", "x.supportxmr.com", "evil.test",
                 "a.evil.test", "good.evil.test", "b.good.evil.test", "one.example.test",
                 "two.one.example.test", "example.test", "xevil.test"):
        r = d.ask(name)
        daemon_blocks = a_addrs(r) == ["0.0.0.0"]
        p = check(lists, name)
        assert p.returncode in (0, 1), p.stderr
        assert (p.returncode == 1) == daemon_blocks, \
            f"{name}: check says exit {p.returncode} ({p.stdout.strip()}) but parasold answered\n{r}"
        if daemon_blocks:
            rc, j = check_json(lists, name)
            assert ede_list(r)[0][1] == f"category={j['category']} feed={j['feed']} rule={j['rule']}"


# ---------------------------------------------------------------- allow / deny

def test_rules_add_ls_rm(lists):
    lists.feed("pools", ["minexmr.com"])        # a feed's entries are not local rules
    p = lists.cli("allow", "ls")
    assert p.returncode == 0 and p.stdout == "" and "no local allow rules" in p.stderr, p.stdout + p.stderr
    p = lists.cli("deny", "ls", "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == [], p.stdout

    t0 = int(time.time())
    p = lists.deny("Pool.Example.TEST.", comment="known pool")
    assert p.stdout.strip() == "deny pool.example.test (and everything under it)"
    p = lists.deny("cdn.test", exact=True)
    assert p.stdout.strip() == "deny cdn.test (this name only)"
    lists.allow("ok.cdn.test", comment="vendor asked")

    p = lists.cli("deny", "ls")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2, p.stdout
    row = r"^{}\s+{}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s*{}$"
    assert any(re.match(row.format(r"pool\.example\.test", "subtree", "known pool"), ln) for ln in lines), p.stdout
    assert any(re.match(row.format(r"cdn\.test", "exact", ""), ln) for ln in lines), p.stdout
    p = lists.cli("allow", "ls")
    assert re.match(row.format(r"ok\.cdn\.test", "subtree", "vendor asked"), p.stdout.strip()), p.stdout

    p = lists.cli("deny", "ls", "--json")
    rules = {r["name"]: r for r in json.loads(p.stdout)}
    assert set(rules) == {"pool.example.test", "cdn.test"}, rules
    assert (rules["pool.example.test"]["match"], rules["pool.example.test"]["comment"]) == ("subtree", "known pool")
    assert (rules["cdn.test"]["match"], rules["cdn.test"]["comment"]) == ("exact", "")
    for r in rules.values():
        assert t0 - 5 <= r["added"] <= time.time() + 5, r
    p = lists.cli("allow", "ls", "--json")
    assert [r["name"] for r in json.loads(p.stdout)] == ["ok.cdn.test"]

    p = lists.deny_rm("pool.example.test")
    assert p.stdout.strip() == "removed deny rule for pool.example.test"
    assert [r["name"] for r in json.loads(lists.cli("deny", "ls", "--json").stdout)] == ["cdn.test"]
    assert check(lists, "pool.example.test").returncode == 0
    p = lists.cli("deny", "rm", "pool.example.test")
    assert p.returncode == USAGE and "no local deny rule for pool.example.test" in p.stderr, p.stderr
    p = lists.cli("allow", "rm", "cdn.test")          # a deny rule, not an allow rule
    assert p.returncode == USAGE, p.stderr
    assert check(lists, "cdn.test").returncode == 1


def test_changes_reach_a_running_daemon_or_say_so(lists, parasold_factory, upstream):
    p = lists.cli("deny", "add", "early.test")
    assert p.returncode == 0
    assert "cannot reach parasold" in p.stderr and "lists-poll" in p.stderr, p.stderr
    d = lists.start(parasold_factory, upstream)
    p = lists.cli("deny", "add", "late.test")
    assert p.returncode == 0 and re.search(r"parasold reloaded: generation=\d+", p.stderr), p.stderr
    assert a_addrs(d.ask("late.test")) == ["0.0.0.0"]

    p = lists.cli("reload")
    assert p.returncode == 0 and re.fullmatch(r"ok generation=\d+ names=2\n", p.stdout), p.stdout + p.stderr
    p = lists.cli("reload", "--json")
    assert p.returncode == 0, p.stderr
    j = json.loads(p.stdout)
    assert j["ok"] is True and "generation=" in j["reply"], j


# ---------------------------------------------------------------- errors

def test_missing_database(parasol_cli, tmp_path):
    db = tmp_path / "missing" / "lists.db"
    for args in (["check", "minexmr.com"], ["check", "minexmr.com", "--json"], ["deny", "ls"], ["allow", "ls"]):
        p = parasol_cli(f"--lists-db={db}", *args)
        assert p.returncode == DB, (args, p.stdout, p.stderr)
        assert str(db) in p.stderr and "no such database" in p.stderr, p.stderr
        assert p.stdout == "", p.stdout
    assert not os.path.exists(db), "a read verb created the database"


def test_foreign_and_corrupt_databases(parasol_cli, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all\n" * 200)
    before = junk.read_bytes()
    for args in (["check", "minexmr.com"], ["deny", "ls"], ["deny", "add", "x.test"], ["allow", "rm", "x.test"]):
        p = parasol_cli(f"--lists-db={junk}", f"--control={tmp_path}/none.sock", *args)
        assert p.returncode == DB, (args, p.stdout, p.stderr)
        assert str(junk) in p.stderr and "not a database" in p.stderr, p.stderr
    assert junk.read_bytes() == before, "the CLI wrote into a file that is not its database"

    import sqlite3
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    p = parasol_cli(f"--lists-db={other}", "check", "minexmr.com")
    assert p.returncode == DB and "not a Parasol lists database" in p.stderr, p.stderr


def as_nobody(argv):
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv],
                          capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)


@pytest.fixture
def nobody_copy(lists, parasol_cli_binary):
    """copy(mode) -> path of a copy of lists.db with that mode, in a folder
    everyone may enter but only root may write; the CLI runs as nobody."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run the CLI as another user")
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv(1) to drop privileges")
    if as_nobody([parasol_cli_binary, "--version"]).returncode != 0:
        pytest.skip(f"user nobody cannot run {parasol_cli_binary}")
    folder = tempfile.mkdtemp(prefix="psd-ro-")
    os.chmod(folder, 0o755)

    def copy(mode):
        path = os.path.join(folder, "lists.db")
        shutil.copyfile(lists.db, path)
        os.chmod(path, mode)
        return path

    yield copy
    shutil.rmtree(folder, ignore_errors=True)


def test_unreadable_database(lists, nobody_copy, parasol_cli_binary):
    """A lists.db the user may not read is reported as such, not as missing."""
    lists.deny("evil.test")
    db = nobody_copy(0o600)
    for args in (["check", "evil.test"], ["deny", "ls"]):
        p = as_nobody([parasol_cli_binary, f"--lists-db={db}", *args])
        assert p.returncode == DB, (args, p.stdout, p.stderr)
        assert db in p.stderr, p.stderr
        assert "no such database" not in p.stderr, f"an unreadable lists.db reported as missing: {p.stderr}"
        assert re.search(r"permission denied|cannot read|not readable|unreadable", p.stderr, re.I), p.stderr


def test_read_only_reader_can_check(lists, nobody_copy, parasol_cli_binary):
    """check and ls only read: read permission on lists.db is enough, also
    in a folder the reader cannot write (no -shm file can be made there)."""
    lists.deny("evil.test", comment="pool")
    db = nobody_copy(0o644)
    p = as_nobody([parasol_cli_binary, f"--lists-db={db}", "check", "x.evil.test"])
    assert p.returncode == 1 and "blocked by deny rule evil.test" in p.stdout, p.stdout + p.stderr
    p = as_nobody([parasol_cli_binary, f"--lists-db={db}", "deny", "ls", "--json"])
    assert p.returncode == 0 and [r["name"] for r in json.loads(p.stdout or "null") or []] == ["evil.test"], \
        p.stdout + p.stderr


@pytest.mark.parametrize("name,why", [
    ("bad..name", "empty label"),
    ("a b.test", "character ' ' not allowed"),
    ("*.wild.test", "character '*' not allowed"),
    ("a" * 64 + ".test", "label longer than 63"),
    (".".join(["a" * 60] * 5), "longer than 253"),
    ("192.0.2.1", "an IP address"),
    ("", "empty name"),
    (".", "root"),
])
def test_invalid_names_rejected(lists, name, why):
    lists.deny("seed.test")                     # so the database exists
    for verb in (["check"], ["deny", "add"], ["allow", "add"], ["deny", "rm"]):
        p = lists.cli(*verb, name)
        assert p.returncode == USAGE, (verb, name, p.stdout, p.stderr)
        assert "is not a valid name" in p.stderr and why in p.stderr, p.stderr
    for kind in ("deny", "allow"):
        got = [r["name"] for r in json.loads(lists.cli(kind, "ls", "--json").stdout)]
        assert got == (["seed.test"] if kind == "deny" else []), f"an invalid name was stored: {got}"


def test_usage_errors(lists):
    lists.deny("seed.test")
    for args in (["check"], ["check", "a.test", "b.test"], ["deny"], ["deny", "frob", "x.test"],
                 ["allow", "add"], ["deny", "ls", "extra"], ["reload", "now"], ["frobnicate"],
                 ["check", "a.test", "--no-such-option"]):
        p = lists.cli(*args)
        assert p.returncode == USAGE, (args, p.stdout, p.stderr)
        assert "usage" in p.stderr or "unknown" in p.stderr, (args, p.stderr)
    p = lists.cli()
    assert p.returncode == USAGE and "usage" in p.stderr


def test_reload_without_daemon(parasol_cli, tmp_path):
    nowhere = tmp_path / "none.sock"
    for args in (["reload"], ["reload", "--json"]):
        p = parasol_cli(f"--control={nowhere}", *args)
        assert p.returncode == DAEMON, (args, p.stdout, p.stderr)
        assert "cannot reach parasold" in p.stderr and str(nowhere) in p.stderr, p.stderr

    # A socket file left behind with nobody listening.
    stale = tmp_path / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(str(stale))
        p = parasol_cli(f"--control={stale}", "reload")
        assert p.returncode == DAEMON and "cannot reach parasold" in p.stderr, p.stdout + p.stderr
    finally:
        s.close()

    # The environment names the socket too.
    p = parasol_cli("reload", env={"PARASOL_CONTROL": str(nowhere)})
    assert p.returncode == DAEMON and str(nowhere) in p.stderr, p.stderr


def test_environment_names_the_database(lists, parasol_cli):
    lists.deny("env.test")
    p = parasol_cli("check", "x.env.test", env={"PARASOL_LISTS_DB": lists.db})
    assert p.returncode == 1 and "rule env.test" in p.stdout, p.stdout + p.stderr
