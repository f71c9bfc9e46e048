"""The daemon as a process: dropping root for the configured user (no
capabilities left, still answering and reloading its lists), refusing to
keep root without being told, draining queries in flight on SIGTERM within
shutdown-timeout, and a cold start without a usable lists.db under
fail-mode closed (SERVFAIL + EDE 14 until a list loads) and open (forward
unfiltered).
"""

import os
import pwd
import signal
import socket
import sqlite3
import time

import dns.rcode

from helpers import a_addrs, ede_list, make_query, parse


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()
    return out


def need_root():
    assert os.geteuid() == 0, "these tests start parasold as root (the suite runs as root)"


def shared_dir(tmp_path):
    """A folder the unprivileged user may enter, as /var/lib is."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o011)
    return tmp_path


def test_root_drops_to_user(parasold_factory, upstream, parasol_cli, tmp_path):
    need_root()
    base = shared_dir(tmp_path)
    nobody = pwd.getpwnam("nobody")
    p = parasold_factory("--user=nobody", f"--lists-db={base}/state/lists.db",
                         f"--stats-db={base}/state/stats.db", f"--control={base}/run/parasold.sock",
                         "--seed-defaults=yes", "--lists-poll=300", upstreams=[upstream])
    st = proc_status(p.proc.pid)
    assert all(int(x) == nobody.pw_uid for x in st["Uid"]), st["Uid"]
    assert all(int(x) == nobody.pw_gid for x in st["Gid"]), st["Gid"]
    assert st["Groups"] == [str(nobody.pw_gid)], st["Groups"]
    for cap in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(st[cap][0], 16) == 0, f"{cap} {st[cap]}"
    assert st["NoNewPrivs"] == ["1"]
    # The folders were made for the user, the databases by it.
    for path in ("state", "run", "state/lists.db", "state/stats.db"):
        assert os.stat(base / path).st_uid == nobody.pw_uid, path
    # Still answering: forwarded, and blocked from the seeded lists.
    assert a_addrs(p.ask("priv-ok.example.test")) == ["192.0.2.1"]
    assert a_addrs(p.ask("coinhive.com")) == ["0.0.0.0"]
    # Still reloading: a rule added by the admin (root) is picked up.
    r = parasol_cli("deny", "add", "priv-deny.example.test", daemon=p)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.monotonic() + 5
    while a_addrs(p.ask("priv-deny.example.test")) != ["0.0.0.0"]:
        assert time.monotonic() < deadline, "the new rule was not loaded by the unprivileged daemon"
        time.sleep(0.2)
    # The control socket answers, and is gone after a clean stop.
    r = parasol_cli("status", daemon=p)
    assert r.returncode == 0, r.stderr
    p.signal(signal.SIGTERM)
    assert p.wait_exit(5) == 0
    assert not os.path.exists(base / "run" / "parasold.sock")


def test_root_without_user_refused(parasold_factory, upstream):
    need_root()
    p = parasold_factory("--user=", upstreams=[upstream], wait_ready=False)
    rc = p.wait_exit(5)
    assert rc not in (None, 0), "parasold kept running as root without user = root"
    assert "user = root" in p.stderr_text(), p.stderr_text()


def test_unknown_user_refused(parasold_factory, upstream):
    need_root()
    p = parasold_factory("--user=no-such-user-parasol", upstreams=[upstream], wait_ready=False)
    assert p.wait_exit(5) not in (None, 0)
    assert "no-such-user-parasol" in p.stderr_text()


def test_user_root_keeps_root(parasold):
    assert proc_status(parasold.proc.pid)["Uid"][1] == "0"
    assert a_addrs(parasold.ask("keep-root.example.test")) == ["192.0.2.1"]


# ------------------------------------------------------------------ SIGTERM

def _send(p, name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    q = make_query(name)
    s.sendto(q.to_wire(), (p.addr, p.port))
    return s, q


def _wait_upstream(upstream, name):
    deadline = time.monotonic() + 3
    while not upstream.queries(name):
        assert time.monotonic() < deadline, f"{name} never reached the upstream"
        time.sleep(0.02)


def test_sigterm_answers_query_in_flight(parasold_factory, upstream):
    upstream.set("term-slow.example.test", delay_ms=600)
    p = parasold_factory("--shutdown-timeout=3000", upstreams=[upstream])
    s, q = _send(p, "term-slow.example.test")
    try:
        _wait_upstream(upstream, "term-slow.example.test")
        p.signal(signal.SIGTERM)
        s.settimeout(3)
        r = parse(s.recv(4096))
        assert r.id == q.id and a_addrs(r) == ["192.0.2.1"], r
        assert p.wait_exit(4) == 0
    finally:
        s.close()


def test_sigterm_bounded_by_shutdown_timeout(parasold_factory, make_upstream):
    dropper = make_upstream(drop_all=True)
    p = parasold_factory("--shutdown-timeout=300", "--upstream-timeout=5000", "--resolve-timeout=10000",
                         upstreams=[dropper])
    s, q = _send(p, "term-never.example.test")
    try:
        _wait_upstream(dropper, "term-never.example.test")
        p.signal(signal.SIGTERM)
        s.settimeout(3)
        r = parse(s.recv(4096))
        assert r.id == q.id and r.rcode() == dns.rcode.SERVFAIL, r
        rc = p.wait_exit(3)
        assert rc == 0, f"exit {rc} (None: still running 3 s after SIGTERM with shutdown-timeout=300)"
    finally:
        s.close()


# ------------------------------------------------------------------ fail-mode

def _corrupt(path):
    with open(path, "wb") as f:
        f.write(b"this is not a database" * 400)


def _good_lists_db(parasol_cli, path, deny):
    r = parasol_cli(f"--lists-db={path}", f"--control={path}.nosock", "deny", "add", deny)
    assert r.returncode == 0, r.stdout + r.stderr


def test_fail_closed_cold_start(parasold_factory, upstream, parasol_cli, tmp_path):
    db = tmp_path / "lists.db"
    _corrupt(db)
    p = parasold_factory(f"--lists-db={db}", "--lists-poll=300", upstreams=[upstream])
    assert p.wait_for(r"no blocklist: .*fail-mode closed", timeout=1) is not None, p.stderr_text()
    for transport in ("udp", "tcp"):
        r = p.ask("closed.example.test", transport=transport)
        assert r.rcode() == dns.rcode.SERVFAIL, r
        assert (14, "blocklist not loaded") in ede_list(r), ede_list(r)
    assert not upstream.queries("closed.example.test"), "fail-mode closed forwarded a query"
    st = parasol_cli("status", daemon=p)
    assert "NOT LOADED" in st.stdout, st.stdout
    # A good list appears: served and filtered from then on.
    good = tmp_path / "good.db"
    _good_lists_db(parasol_cli, good, "closed-deny.example.test")
    os.replace(good, db)
    deadline = time.monotonic() + 5
    while p.ask("closed.example.test").rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, "still SERVFAIL 5 s after a good lists.db appeared"
        time.sleep(0.1)
    assert a_addrs(p.ask("closed.example.test")) == ["192.0.2.1"]
    assert a_addrs(p.ask("closed-deny.example.test")) == ["0.0.0.0"]
    assert p.stats()["not_ready"] >= 2


def test_fail_open_cold_start(parasold_factory, upstream, tmp_path):
    db = tmp_path / "lists.db"
    _corrupt(db)
    p = parasold_factory(f"--lists-db={db}", "--fail-mode=open", upstreams=[upstream])
    assert p.wait_for(r"UNFILTERED", timeout=1) is not None, p.stderr_text()
    r = p.ask("open.example.test")
    assert r.rcode() == dns.rcode.NOERROR and a_addrs(r) == ["192.0.2.1"]
    assert upstream.queries("open.example.test")


def test_lists_db_that_cannot_be_created(parasold_factory, upstream, tmp_path):
    """A missing lists.db in a place it cannot be made: the same as a bad
    one (fail closed), and made as soon as the place is fixed."""
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    db = blocker / "lists.db"
    p = parasold_factory(f"--lists-db={db}", "--lists-poll=300", "--seed-defaults=yes", upstreams=[upstream])
    assert p.wait_for(r"no blocklist: .*lists\.db", timeout=1) is not None, p.stderr_text()
    r = p.ask("nodb.example.test")
    assert r.rcode() == dns.rcode.SERVFAIL and (14, "blocklist not loaded") in ede_list(r)
    blocker.unlink()
    blocker.mkdir()
    deadline = time.monotonic() + 5
    while p.ask("coinhive.com").rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, "lists.db not made after its folder appeared"
        time.sleep(0.1)
    assert a_addrs(p.ask("coinhive.com")) == ["0.0.0.0"]
    assert os.path.exists(db)


def test_locked_lists_db_at_start(parasold_factory, upstream, parasol_cli, tmp_path):
    db = tmp_path / "lists.db"
    _good_lists_db(parasol_cli, db, "locked-deny.example.test")
    con = sqlite3.connect(str(db), isolation_level=None, timeout=1)
    con.execute("PRAGMA journal_mode=DELETE")
    con.execute("BEGIN EXCLUSIVE")
    try:
        p = parasold_factory(f"--lists-db={db}", "--lists-poll=300", upstreams=[upstream])
        assert p.wait_for(r"no blocklist: .*lock", timeout=1) is not None, p.stderr_text()
        assert p.ask("locked.example.test").rcode() == dns.rcode.SERVFAIL
    finally:
        con.execute("ROLLBACK")
        con.close()
    deadline = time.monotonic() + 6
    while p.ask("locked-deny.example.test").rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < deadline, "not serving after the lock went"
        time.sleep(0.1)
    assert a_addrs(p.ask("locked-deny.example.test")) == ["0.0.0.0"]
