"""Network namespaces for tests that need a network of their own.

A NetLab owns a few namespaces named psl-<role>-<pid> (pid: the test
process), veth pairs made directly between them (no interface ever
appears on the host), the processes started inside them and a temporary
folder psl-<pid>-*.  close() kills those processes by PID (and whatever
they left running inside the namespaces), deletes the namespaces, their
/etc/netns/<name> folders and the temporary folder.  It runs from the
test's teardown, from atexit, and on SIGTERM/SIGHUP (which then end the
run as Ctrl-C does), so an interrupted run leaves nothing behind.  The
processes die with the test process even when it is SIGKILLed
(PR_SET_PDEATHSIG), and sweep_stale() removes the namespaces and folders
such a run left, those whose owning pid is no longer alive.

Requires root and `ip` (iproute2).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

PREFIX = "psl-"
NAME_RE = re.compile(r"^psl-[a-z]+-(\d+)$")
TMP_RE = re.compile(r"^psl-(\d+)-")
NETNS_ETC = "/etc/netns"
PR_SET_PDEATHSIG = 1


def ip(*args, check=True, timeout=10):
    p = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def why_unusable():
    """None when namespaces can be made here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root (it creates network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "needs `ip` from iproute2"
    probe = f"{PREFIX}probe-{os.getpid()}"
    p = ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        return f"cannot create a network namespace: {p.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ns_pids(ns):
    p = ip("netns", "pids", ns, check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def _kill_pids(pids, timeout=3.0):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_pid_alive(p) for p in pids):
        time.sleep(0.05)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete_ns(ns):
    # Whatever still runs in one of our namespaces was started there by
    # this test (or by a child of what it started): end it, or it would
    # outlive the namespace's name.
    left = _ns_pids(ns)
    if left:
        _kill_pids(left)
    ip("netns", "del", ns, check=False)
    shutil.rmtree(os.path.join(NETNS_ETC, ns), ignore_errors=True)


def sweep_stale():
    """Delete psl-<role>-<pid> namespaces (and /etc/netns folders) and
    psl-<pid>-* temporary folders left by a run whose pid is dead.
    Returns the names removed."""
    names = set()
    p = ip("netns", "list", check=False)
    for line in p.stdout.splitlines():
        if line.split():
            names.add(line.split()[0])
    if os.path.isdir(NETNS_ETC):
        names.update(os.listdir(NETNS_ETC))
    gone = []
    for ns in sorted(names):
        m = NAME_RE.match(ns)
        if not m or _pid_alive(int(m.group(1))):
            continue
        _delete_ns(ns)
        gone.append(ns)
    tmp = tempfile.gettempdir()
    for name in os.listdir(tmp):
        m = TMP_RE.match(name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join(tmp, name), ignore_errors=True)
            gone.append(name)
    return gone


def _die_with_parent():
    # A child that outlives a SIGKILLed test run would keep its namespace
    # busy; the kernel ends it with the parent instead.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class NetLab:
    def __init__(self, roles):
        self.pid = os.getpid()
        self.ns = {r: f"{PREFIX}{r}-{self.pid}" for r in roles}
        self.procs = []
        self.tmp = None
        self._closed = False
        self._closing = False
        self._old_handlers = {}

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def open(self):
        atexit.register(self.close)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)
        try:
            self.tmp = tempfile.mkdtemp(prefix=f"{PREFIX}{self.pid}-")
            for ns in self.ns.values():
                # A name taken by this very pid can only be a leftover.
                if ns in ip("netns", "list").stdout.split():
                    _delete_ns(ns)
                ip("netns", "add", ns)
                os.makedirs(os.path.join(NETNS_ETC, ns), exist_ok=True)
                self.run(ns, "ip", "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def _on_signal(self, signum, frame):
        # Stopped from outside: clean up, then end the run the way Ctrl-C
        # does.  During a cleanup already under way, let it finish.
        if self._closing:
            return
        self.close()
        raise KeyboardInterrupt(f"signal {signum}")

    def link(self, a, a_if, a_addr, b, b_if, b_addr):
        """A veth pair from namespace role a (interface a_if, address
        a_addr as ADDR/LEN or None) to role b, both ends up."""
        ip("-n", self.ns[a], "link", "add", a_if, "type", "veth",
           "peer", "name", b_if, "netns", self.ns[b])
        for role, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            if addr:
                ip("-n", self.ns[role], "addr", "add", addr, "dev", ifname)
            ip("-n", self.ns[role], "link", "set", ifname, "up")

    def etc(self, role, name):
        """Path of /etc/netns/<ns>/<name>: bind-mounted over /etc/<name>
        for every command started with `ip netns exec`."""
        return os.path.join(NETNS_ETC, self.ns[role], name)

    def argv(self, role_or_ns, *argv):
        ns = self.ns.get(role_or_ns, role_or_ns)
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, role_or_ns, *argv, timeout=15, check=False):
        p = subprocess.run(self.argv(role_or_ns, *argv), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(p.args)}: exit {p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def spawn(self, role, *argv, log=None):
        """Start argv in namespace role (`ip netns exec` execs it, so the
        PID is the program's); stdout and stderr go to the file log."""
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(self.argv(role, *argv), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        finally:
            if log:
                out.close()
        self.procs.append(p)
        return p

    def close(self):
        if self._closed:
            return
        self._closed = self._closing = True
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 3.0
        for p in reversed(self.procs):
            try:
                p.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(2)
        for ns in self.ns.values():
            _delete_ns(ns)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        atexit.unregister(self.close)
