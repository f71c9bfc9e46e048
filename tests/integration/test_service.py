"""parasold as parasold.service runs it, without systemd as PID 1.

setpriv gives the process what the unit gives it: an unprivileged user,
CAP_NET_BIND_SERVICE as the only capability (bounding, inheritable and
ambient sets), no new privileges, umask 0027; the state and runtime
folders are owned by that user, as StateDirectory= and RuntimeDirectory=
make them. The test then checks that this is enough: parasold binds a
privileged port, says READY=1, answers and blocks, creates its databases
group-readable, and the admin CLI (root) reaches its control socket, while
the process holds no other capability.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from helpers import Parasold, a_addrs
from test_notify import NotifySocket

CAP_NET_BIND_SERVICE = 10


def privileged_port():
    """A port below 1024 free for UDP and TCP on 127.0.0.1."""
    for port in range(1000, 600, -7):
        socks = []
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.skip("no free port below 1024 on 127.0.0.1")


@pytest.fixture
def service_dirs():
    if os.geteuid() != 0:
        pytest.skip("needs root to change user")
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is missing", pytrace=False)
    # Not under pytest's tmp_path: its parents are closed to other users.
    top = tempfile.mkdtemp(prefix="parasol-svc-")
    os.chmod(top, 0o755)
    uid, gid = 65534, 65534  # nobody, nogroup
    dirs = {}
    for name, mode in (("state", 0o750), ("run", 0o755)):
        d = os.path.join(top, name)
        os.mkdir(d, mode)
        os.chown(d, uid, gid)
        dirs[name] = d
    dirs.update(top=top, uid=uid, gid=gid)
    yield dirs
    shutil.rmtree(top, ignore_errors=True)


def cap_sets(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "Uid", "NoNewPrivs"):
                out[k] = v.strip()
    return out


def test_runs_as_the_unit_runs_it(service_dirs, upstream, parasol_cli):
    d = service_dirs
    port = privileged_port()
    ns = NotifySocket(os.path.join(d["top"], "notify.sock"))
    os.chmod(ns.path, 0o777)  # as systemd's notify socket is
    lists_db = os.path.join(d["state"], "lists.db")
    stats_db = os.path.join(d["state"], "stats.db")
    control = os.path.join(d["run"], "parasold.sock")
    setpriv = ["setpriv", f"--reuid={d['uid']}", f"--regid={d['gid']}", "--clear-groups",
               "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service",
               "--bounding-set=-all,+net_bind_service", "--no-new-privs", "--"]
    args = [f"--listen=127.0.0.1:{port}", f"--upstream={upstream.hostport}",
            f"--lists-db={lists_db}", f"--stats-db={stats_db}", f"--control={control}",
            "--log-level=info"]
    p = Parasold(args, env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": None, "WATCHDOG_PID": None})
    # Parasold runs argv as given: put setpriv and the umask in front.
    p.args = ["sh", "-c", 'umask 0027; exec "$@"', "sh"] + setpriv + p.args
    try:
        p.start(wait_ready=False)
        assert ns.wait("READY", "1", timeout=15) is not None, p.stderr_text()
        pid = p.proc.pid
        caps = cap_sets(pid)
        want = f"{1 << CAP_NET_BIND_SERVICE:016x}"
        assert caps["Uid"].split()[:2] == [str(d["uid"])] * 2, caps
        for k in ("CapEff", "CapPrm", "CapAmb", "CapBnd"):
            assert caps[k] == want, caps
        assert caps["NoNewPrivs"] == "1"
        # It answers on the privileged port, and blocks from its own lists.
        p.addr, p.port = "127.0.0.1", port
        assert a_addrs(p.ask("www.example.test")) == ["192.0.2.1"]
        assert a_addrs(p.ask("coinhive.com")) == ["0.0.0.0"]
        # What it made belongs to it and is readable by its group only
        # (stats.db is made by the recorder's thread: give it a moment).
        deadline = time.monotonic() + 5
        while not os.path.exists(stats_db) and time.monotonic() < deadline:
            time.sleep(0.05)
        for path in (lists_db, stats_db):
            st = os.stat(path)
            assert (st.st_uid, st.st_gid) == (d["uid"], d["gid"]), path
            assert stat.S_IMODE(st.st_mode) == 0o640, (path, oct(st.st_mode))
        st = os.stat(control)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
        # The admin reaches it over the control socket.
        r = parasol_cli(f"--lists-db={lists_db}", f"--stats-db={stats_db}", f"--control={control}",
                        "reload")
        assert r.returncode == 0 and "generation=" in r.stdout, r.stdout + r.stderr
        start = len(ns.msgs)
        p.signal(signal.SIGTERM)
        assert ns.wait("STOPPING", "1", start=start) is not None
        assert p.wait_exit(5) == 0, p.stderr_text()
    finally:
        p.stop()
        ns.close()
