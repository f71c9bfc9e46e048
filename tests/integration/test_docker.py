"""The container image, without a Docker engine.

No engine runs here, so the image is checked in two parts. The
Dockerfile and docker-compose.yml are read and held against what they rely
on: the build stage runs docker/build.sh as CI does, the runtime stage
installs exactly the packages that script names for running, and those
packages hold every library the built programs load; the files the image
copies exist where the same install puts them. Then the entrypoint script
is run as the container would run it, with its paths pointed at a
temporary folder and a loopback upstream: parasold answers, the updater
runs on its schedule and what it publishes is blocked, SIGHUP reaches
parasold, SIGTERM stops everything cleanly, and a crashed parasold ends
the container with its status.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time

import pytest
import yaml

from helpers import ROOT, a_addrs, binary_path, cli_binary_path, free_port, make_query, udp, update_binary_path

DOCKER = os.path.join(ROOT, "docker")
ENTRYPOINT = os.path.join(DOCKER, "entrypoint.sh")


def stages(path=os.path.join(DOCKER, "Dockerfile")):
    """The Dockerfile as a list of stages, each a list of (INSTRUCTION, args)."""
    text = open(path).read().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            out.append([])
        out[-1].append((instr, " ".join(args.split())))
    return out


def instrs(stage, name):
    return [a for i, a in stage if i == name]


def runtime_packages():
    p = subprocess.run([os.path.join(DOCKER, "build.sh"), "--print-runtime-packages"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def test_both_stages_on_bookworm_slim():
    st = stages()
    assert len(st) == 2
    assert st[0][0] == ("FROM", "debian:bookworm-slim AS build")
    assert st[1][0][1].split()[0] == "debian:bookworm-slim"


def test_build_stage_runs_the_ci_script():
    build = stages()[0]
    runs = " && ".join(instrs(build, "RUN"))
    # Plain mode, as the first step of tests/run.sh and the Quick start.
    calls = re.findall(r"docker/build\.sh([^&;|]*)", runs)
    assert calls and all(c.strip() == "" for c in calls), runs
    assert "meson install -C build" in runs and "DESTDIR=/stage" in runs
    run_sh = open(os.path.join(ROOT, "tests", "run.sh")).read()
    assert re.search(r"^docker/build\.sh --test", run_sh, re.M)
    assert "tests/run.sh" in open(os.path.join(ROOT, ".ci", "run")).read()


def test_runtime_stage_installs_what_build_sh_prints():
    runtime = stages()[1]
    copies = instrs(runtime, "COPY")
    src = [c for c in copies if c.startswith("--from=build") and "docker/build.sh" in c]
    assert src, copies
    script = src[0].split()[-1]
    install = [r for r in instrs(runtime, "RUN") if "apt-get install" in r]
    assert len(install) == 1, install
    # The package list is the script's, not a copy that could drift.
    assert f"$({script} --print-runtime-packages)" in install[0], install[0]
    assert "--no-install-recommends" in install[0]
    words = install[0].split("apt-get install", 1)[1].split("&&")[0].split()
    assert all(w.startswith("-") or w.startswith("$(") or w.endswith(")") for w in words), words


def _package_of(path):
    real = os.path.realpath(path)
    for cand in (path, real, real.replace("/usr/lib/", "/lib/", 1), real.replace("/lib/", "/usr/lib/", 1)):
        p = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":")[0]
    return None


@pytest.mark.parametrize("prog", [binary_path, cli_binary_path, update_binary_path],
                         ids=["parasold", "parasol", "parasol-update"])
def test_runtime_packages_hold_every_library_loaded(prog):
    """Each library a program links directly comes from a runtime package
    (libc6 is in every Debian image); the rest follow from their depends."""
    path = prog()
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout)
    assert needed, f"readelf found no NEEDED entries in {path}"
    where = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(["ldd", path], capture_output=True,
                                                                    text=True).stdout, re.M))
    allowed = set(runtime_packages()) | {"libc6"}
    missing = {}
    for so in needed:
        # The sanitizer runtimes of a -Db_sanitize build (tests/run.sh runs
        # the suite again on build-asan) are never in a release image.
        if so.startswith(("ld-linux", "libasan.", "libubsan.")):
            continue
        pkg = _package_of(where[so])
        base = pkg.split(":")[0] if pkg else None
        if base not in allowed:
            missing[so] = base
    assert not missing, f"libraries from packages the image does not install: {missing}"


def test_runtime_packages_are_debian_packages():
    for pkg in runtime_packages():
        p = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg], capture_output=True, text=True)
        assert p.returncode == 0 and f"Package: {pkg}" in p.stdout, f"{pkg}: not a Debian package"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The main build installed with --destdir, as the build stage does."""
    stage = tmp_path_factory.mktemp("docker-stage")
    p = subprocess.run(["meson", "install", "-C", os.path.join(ROOT, "build"), "--no-rebuild", "--quiet",
                        "--destdir", str(stage)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return str(stage)


def test_copied_files_exist(staged):
    runtime = stages()[1]
    for c in instrs(runtime, "COPY"):
        parts = c.split()
        srcs = parts[1:-1] if parts[0].startswith("--from=") else parts[:-1]
        for s in srcs:
            if parts[0] == "--from=build" and s.startswith("/stage/"):
                assert os.path.exists(os.path.join(staged, s[len("/stage/"):])), s
            elif parts[0] == "--from=build":
                assert s.startswith("/src/") and os.path.exists(os.path.join(ROOT, s[len("/src/"):])), s
            else:
                assert os.path.exists(os.path.join(ROOT, s)), s
    for prog in ("bin/parasol", "bin/parasol-update", "sbin/parasold"):
        assert os.access(os.path.join(staged, "usr/local", prog), os.X_OK)


def test_runtime_user_volumes_healthcheck_entrypoint():
    runtime = stages()[1]
    users = instrs(runtime, "USER")
    assert users and users[-1] not in ("root", "0"), users
    assert any(f"useradd" in r and re.search(rf"\b{users[-1]}\b", r) for r in instrs(runtime, "RUN"))
    vols = " ".join(instrs(runtime, "VOLUME"))
    assert "/etc/parasol" in vols and "/var/lib/parasol" in vols
    hc = instrs(runtime, "HEALTHCHECK")
    assert len(hc) == 1 and re.search(r'CMD \["parasol", "healthcheck"', hc[0]), hc
    ep = instrs(runtime, "ENTRYPOINT")
    assert len(ep) == 1
    target = yaml.safe_load(ep[0])[0]
    assert any(c.split()[0] == "docker/entrypoint.sh" and c.split()[-1] == target
               for c in instrs(runtime, "COPY")), (ep, instrs(runtime, "COPY"))
    # The config the image ships is one parasold accepts.
    p = subprocess.run([binary_path(), "-c", os.path.join(DOCKER, "parasol.conf"), "--check-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr


def test_compose_file():
    c = yaml.safe_load(open(os.path.join(DOCKER, "docker-compose.yml")))
    svc = c["services"]["parasol"]
    assert svc["build"]["dockerfile"] == "docker/Dockerfile"
    assert os.path.isfile(os.path.join(DOCKER, svc["build"]["context"], svc["build"]["dockerfile"]))
    assert svc["restart"] == "unless-stopped"
    ports = svc["ports"]
    assert "53:53/udp" in ports and "53:53/tcp" in ports
    # Only 53 is published beyond the host's loopback.
    others = [p for p in ports if not p.startswith("53:53/")]
    assert others and all(p.startswith("127.0.0.1:") for p in others), ports
    mounts = {v.split(":")[1] for v in svc["volumes"]}
    assert {"/etc/parasol", "/var/lib/parasol"} <= mounts
    # The tmpfs for the control socket belongs to the image's user.
    uid = re.search(r"--uid (\d+)", " ".join(instrs(stages()[1], "RUN"))).group(1)
    assert any(t.startswith("/run/parasol:") and f"uid={uid}" in t for t in svc["tmpfs"]), svc["tmpfs"]


# ---------------------------------------------------------------- entrypoint

def descendants(pid):
    """PIDs of every process below pid."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def identity(pid):
    """(name, start time) of a live process, or None: a PID reused later
    is another process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # A zombie has ended; whoever inherited it may be slow to reap it.
    if rest[0] in ("Z", "X"):
        return None
    return comm(pid), rest[19]


def still_running(pids, ids):
    return [p for p in pids if ids[p] is not None and identity(p) == ids[p]]


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def root_user_line():
    """For a parasold that refuses a root start without `user` (the tests
    run as root, the container does not): keep root, as told."""
    if os.geteuid() != 0:
        return ""
    p = subprocess.run([binary_path(), "--help"], capture_output=True, text=True, timeout=10)
    return "user = root\n" if "--user=" in p.stdout + p.stderr else ""


class Entrypoint:
    def __init__(self, tmp_path, upstream, interval="1", delay="0", extra_env=None, args=()):
        self.dir = tmp_path
        self.port = free_port()
        self.db = str(tmp_path / "lists.db")
        self.feed = tmp_path / "pools.txt"
        self.conf = tmp_path / "parasol.conf"
        self.conf.write_text(
            f"listen = 127.0.0.1:{self.port}\n"
            f"upstream = {upstream.hostport}\n"
            f"lists-db = {self.db}\n"
            f"stats-db = {tmp_path}/stats.db\n"
            f"control = {tmp_path}/parasold.sock\n"
            "seed-defaults = no\n"
            "lists-poll = 0\n"
            + root_user_line())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARASOL", "UPDATE_"))}
        env.update({"PARASOL_CONFIG": str(self.conf), "PARASOLD": binary_path(),
                    "PARASOL_UPDATE": update_binary_path(), "UPDATE_INTERVAL": interval,
                    "UPDATE_DELAY": delay})
        env.update(extra_env or {})
        self.env = env
        self.args = list(args)
        self.log = open(tmp_path / "entrypoint.log", "w+")

    def declare_feed(self, names):
        self.feed.write_text("".join(n + "\n" for n in names))
        p = subprocess.run([cli_binary_path(), f"--lists-db={self.db}", f"--control={self.dir}/none.sock",
                            "feeds", "add", "pools", str(self.feed), "--format=domains"],
                           capture_output=True, text=True, timeout=15)
        assert p.returncode == 0, p.stderr

    def start(self):
        # A shell cannot trap a signal that was ignored when it started
        # (POSIX), and a suite run under nohup ignores SIGHUP: start the
        # entrypoint the way a container starts it, with SIGHUP at default.
        self.proc = subprocess.Popen(["sh", ENTRYPOINT, *self.args], env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=str(self.dir),
                                     preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
        return self

    def text(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def wait_text(self, regex, timeout=10.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(regex, self.text(), re.M)) >= count:
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return len(re.findall(regex, self.text(), re.M)) >= count

    def ask(self, name, timeout=2.0):
        return udp(make_query(name), "127.0.0.1", self.port, timeout=timeout)

    def answer_within(self, name, want, timeout=10.0):
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            try:
                got = a_addrs(self.ask(name))
            except AssertionError:
                got = None
            if got == want:
                return got
            time.sleep(0.2)
        return got

    def stop(self):
        if self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()


@pytest.fixture
def entrypoint(tmp_path, upstream):
    made = []

    def make(**kw):
        e = Entrypoint(tmp_path, upstream, **kw)
        made.append(e)
        return e
    yield make
    for e in made:
        e.stop()


def test_entrypoint_runs_parasold_and_the_updater(entrypoint):
    e = entrypoint(interval="1", delay="0")
    e.declare_feed(["pool.miner.example"])
    e.start()
    assert e.answer_within("www.example.test", ["192.0.2.1"]) == ["192.0.2.1"], e.text()
    # The first update publishes the feed and parasold reloads: blocked.
    assert e.answer_within("pool.miner.example", ["0.0.0.0"]) == ["0.0.0.0"], e.text()
    assert e.wait_text(r"parasol-entrypoint: feeds updated"), e.text()
    # The schedule goes on: a name added to the feed later is blocked too.
    e.feed.write_text("pool.miner.example\nxmr.miner.example\n")
    assert e.answer_within("xmr.miner.example", ["0.0.0.0"]) == ["0.0.0.0"], e.text()
    assert e.wait_text(r"feeds updated", count=2)


def test_sighup_reaches_parasold(entrypoint):
    e = entrypoint(interval="0")
    e.declare_feed(["pool.miner.example"])
    e.start()
    assert e.wait_text(r"parasold: .*ready|\bready$"), e.text()
    assert "UPDATE_INTERVAL=0: feeds are not updated" in e.text()
    e.proc.send_signal(signal.SIGHUP)
    assert e.wait_text(r"reloaded configuration"), e.text()
    assert e.proc.poll() is None


def test_sigterm_stops_parasold_and_the_updater(entrypoint):
    # A long interval: the loop is asleep when the signal comes.
    e = entrypoint(interval="3600", delay="0")
    e.declare_feed(["pool.miner.example"])
    e.start()
    assert e.answer_within("pool.miner.example", ["0.0.0.0"]) == ["0.0.0.0"], e.text()
    assert e.wait_text(r"feeds updated"), e.text()
    below = descendants(e.proc.pid)
    ids = {p: identity(p) for p in below}
    names = {comm(p) for p in below}
    assert "parasold" in names and "sleep" in names, names
    t0 = time.monotonic()
    e.proc.send_signal(signal.SIGTERM)
    rc = e.proc.wait(10)
    assert rc == 0, e.text()
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    # Every process it started is gone: the daemon, the loop, its sleep.
    assert not still_running(below, ids), ([ids[p] for p in still_running(below, ids)], e.text())
    assert "parasol-entrypoint: stopping" in e.text()
    assert re.search(r"stopped$", e.text(), re.M), e.text()
    assert "parasold exited with status 0" in e.text()


def test_sigterm_during_an_update_run(entrypoint, tmp_path):
    # parasol-update is slow here (a wrapper that sleeps first): the signal
    # must stop the run, not wait for it.
    slow = tmp_path / "slow-update"
    slow.write_text(f"#!/bin/sh\nsleep 30\nexec {shlex.quote(update_binary_path())} \"$@\"\n")
    slow.chmod(0o755)
    e = entrypoint(interval="1", delay="0", extra_env={"PARASOL_UPDATE": str(slow)})
    e.declare_feed(["pool.miner.example"])
    e.start()
    assert e.answer_within("www.example.test", ["192.0.2.1"]) == ["192.0.2.1"], e.text()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "slow-update" not in {comm(p) for p in descendants(e.proc.pid)}:
        time.sleep(0.1)
    below = descendants(e.proc.pid)
    ids = {p: identity(p) for p in below}
    assert "slow-update" in {comm(p) for p in below}
    t0 = time.monotonic()
    e.proc.send_signal(signal.SIGTERM)
    assert e.proc.wait(10) == 0, e.text()
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    assert not still_running(below, ids), ([ids[p] for p in still_running(below, ids)], e.text())


def test_parasold_crash_ends_the_container(entrypoint):
    e = entrypoint(interval="3600", delay="3600")
    e.start()
    assert e.answer_within("www.example.test", ["192.0.2.1"]) == ["192.0.2.1"], e.text()
    below = descendants(e.proc.pid)
    ids = {p: identity(p) for p in below}
    daemon = [p for p in below if comm(p) == "parasold"]
    assert len(daemon) == 1
    os.kill(daemon[0], signal.SIGKILL)
    assert e.proc.wait(10) == 128 + signal.SIGKILL, e.text()
    assert "parasold exited with status 137" in e.text()
    time.sleep(0.2)
    # The updater loop went with it.
    assert not still_running(below, ids), ([ids[p] for p in still_running(below, ids)], e.text())


def test_update_run_is_bounded(entrypoint, tmp_path):
    hang = tmp_path / "hang-update"
    hang.write_text("#!/bin/sh\nexec sleep 600\n")
    hang.chmod(0o755)
    e = entrypoint(interval="3600", delay="0",
                   extra_env={"PARASOL_UPDATE": str(hang), "UPDATE_TIMEOUT": "1"})
    e.start()
    assert e.wait_text(r"parasol-update took longer than 1s; stopped", timeout=10), e.text()
    assert e.proc.poll() is None


@pytest.mark.parametrize("var", ["UPDATE_INTERVAL", "UPDATE_DELAY", "UPDATE_TIMEOUT"])
def test_bad_schedule_refused(entrypoint, var):
    e = entrypoint(extra_env={var: "1h"})
    e.start()
    assert e.proc.wait(10) == 64
    assert f"{var} must be a number of seconds, not '1h'" in e.text()
