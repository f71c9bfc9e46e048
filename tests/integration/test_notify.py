"""parasold speaking the sd_notify protocol to a service manager.

The test plays systemd: it binds a unix datagram socket, hands its name to
parasold in $NOTIFY_SOCKET (a path, or an abstract name spelled with '@'),
and reads what arrives: READY=1 once parasold answers, RELOADING=1 with
MONOTONIC_USEC and then READY=1 around a SIGHUP, WATCHDOG=1 pings when
$WATCHDOG_USEC asks for them, STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import dns.rcode

from helpers import a_addrs


class NotifySocket:
    """The service manager's end: every datagram as a dict, in order."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if path.startswith("@"):
            self.sock.bind("\0" + path[1:])
        else:
            self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.msgs = []  # (monotonic time received, {key: value})
        self._cond = threading.Condition()
        self._stop = False
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            kv = {}
            for line in data.decode().split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            with self._cond:
                self.msgs.append((time.monotonic(), kv))
                self._cond.notify_all()

    def wait(self, key, value=None, start=0, timeout=10.0):
        """Index of the first message >= start carrying key (=value), or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.msgs)):
                    kv = self.msgs[i][1]
                    if key in kv and (value is None or kv[key] == value):
                        return i
                start = max(start, len(self.msgs))
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))

    def count(self, key):
        with self._cond:
            return sum(1 for _, kv in self.msgs if key in kv)

    def close(self):
        self._stop = True
        self._t.join(2)
        self.sock.close()
        if not self.path.startswith("@"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def start_notified(factory, upstream, tmp_path, path=None, env=None, extra=()):
    ns = NotifySocket(path or str(tmp_path / "notify.sock"))
    e = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": None, "WATCHDOG_PID": None}
    e.update(env or {})
    # Not waiting for the log's "ready": the notify socket is what we go by.
    d = factory(*extra, upstreams=[upstream], env=e, wait_ready=False)
    return d, ns


def test_ready_once_answering(parasold_factory, upstream, tmp_path):
    d, ns = start_notified(parasold_factory, upstream, tmp_path)
    try:
        i = ns.wait("READY", "1")
        assert i is not None, "no READY=1 within 10 s:\n" + d.stderr_text()
        # Told ready: the very first query is answered, no retrying.
        r = d.ask("www.example.test", timeout=2.0)
        assert r.rcode() == dns.rcode.NOERROR
        assert a_addrs(r) == ["192.0.2.1"]
        # Nothing but STATUS came before READY, and READY came once.
        assert all(set(kv) <= {"STATUS"} for _, kv in ns.msgs[:i])
        assert ns.count("READY") == 1
        status = ns.msgs[i][1].get("STATUS", "")
        assert "names blocked" in status and "lists generation" in status, status
    finally:
        d.stop()
        ns.close()


def test_abstract_socket_name(parasold_factory, upstream, tmp_path):
    name = f"@parasol-test-{os.getpid()}-{time.monotonic_ns()}"
    d, ns = start_notified(parasold_factory, upstream, tmp_path, path=name)
    try:
        assert ns.wait("READY", "1") is not None, d.stderr_text()
    finally:
        d.stop()
        ns.close()


def test_reload_brackets_the_new_blocklist(parasold_factory, upstream, lists, tmp_path):
    # The poll is off: only the SIGHUP can bring the new rule in.
    lists.deny("seed.example")
    d, ns = start_notified(parasold_factory, upstream, tmp_path,
                           extra=(f"--lists-db={lists.db}", "--lists-poll=0"))
    try:
        assert ns.wait("READY", "1") is not None, d.stderr_text()
        assert d.ask("miner.example").rcode() == dns.rcode.NOERROR
        assert a_addrs(d.ask("miner.example")) == ["192.0.2.1"]
        lists.deny("miner.example", reload=False)
        start = len(ns.msgs)
        before = time.monotonic()
        d.signal(signal.SIGHUP)
        i = ns.wait("RELOADING", "1", start=start)
        assert i is not None, "no RELOADING=1 after SIGHUP:\n" + d.stderr_text()
        usec = int(ns.msgs[i][1]["MONOTONIC_USEC"])
        # CLOCK_MONOTONIC, the clock time.monotonic() reads.
        assert before - 1 <= usec / 1e6 <= time.monotonic() + 1
        j = ns.wait("READY", "1", start=i + 1)
        assert j is not None, "no READY=1 after the reload:\n" + d.stderr_text()
        # Ready again means the new snapshot serves: blocked at once.
        assert a_addrs(d.ask("miner.example")) == ["0.0.0.0"]
    finally:
        d.stop()
        ns.close()


def test_watchdog_pings_when_asked(parasold_factory, upstream, tmp_path):
    d, ns = start_notified(parasold_factory, upstream, tmp_path,
                           env={"WATCHDOG_USEC": "400000"})
    try:
        i = ns.wait("READY", "1")
        assert i is not None, d.stderr_text()
        # Every 200 ms: several pings well inside five seconds.
        deadline = time.monotonic() + 5
        while ns.count("WATCHDOG") < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ns.count("WATCHDOG") >= 4, ns.msgs
        assert all(kv.get("WATCHDOG") == "1" for _, kv in ns.msgs if "WATCHDOG" in kv)
    finally:
        d.stop()
        ns.close()


def test_no_watchdog_unless_asked(parasold_factory, upstream, tmp_path):
    # Without WATCHDOG_USEC, and with WATCHDOG_PID naming another process.
    runs = [{}, {"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}]
    for n, env in enumerate(runs):
        sub = tmp_path / f"run{n}"
        sub.mkdir()
        d, ns = start_notified(parasold_factory, upstream, sub, env=env)
        try:
            assert ns.wait("READY", "1") is not None, d.stderr_text()
            time.sleep(1.0)
            assert ns.count("WATCHDOG") == 0, (env, ns.msgs)
        finally:
            d.stop()
            ns.close()


def test_stopping_on_sigterm(parasold_factory, upstream, tmp_path):
    d, ns = start_notified(parasold_factory, upstream, tmp_path)
    try:
        assert ns.wait("READY", "1") is not None, d.stderr_text()
        start = len(ns.msgs)
        d.signal(signal.SIGTERM)
        assert ns.wait("STOPPING", "1", start=start) is not None, d.stderr_text()
        assert d.wait_exit(5) == 0
        # Nothing claims readiness after stopping began.
        assert ns.count("READY") == 1
    finally:
        d.stop()
        ns.close()


def test_unreachable_socket_is_harmless(parasold_factory, upstream, tmp_path):
    # A stale $NOTIFY_SOCKET must not keep parasold from serving.
    d = parasold_factory(upstreams=[upstream],
                         env={"NOTIFY_SOCKET": str(tmp_path / "nobody.sock")})
    assert a_addrs(d.ask("www.example.test")) == ["192.0.2.1"]
    assert d.wait_for("notify: cannot reach", timeout=2) is not None
