"""Fixtures for the parasold integration tests.

Run:  cd /work/main && /usr/bin/python3 -m pytest -q tests/integration
Binary: $PARASOLD, default build/resolver/parasold ($PARASOL_BUILD_DIR
replaces build/ for all three binaries: tests/run.sh sets build-asan).  If it is missing every test
errors out, unless PARASOLD_SKIP_MISSING=1 is set (then they are skipped).
The admin CLI for the tests that use it: $PARASOL_CLI, default
build/tools/parasol; the feed updater: $PARASOL_UPDATE, default
build/feeds/parasol-update.  The feed tests serve the real lists committed
under tests/data/feeds (unmodified upstream copies, see its SOURCES.md);
$PARASOL_FEED_DATA names another folder laid out the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeupstream import FakeUpstream  # noqa: E402
from helpers import (Parasold, binary_path, cli_binary_path, free_port, sanitizer_report,  # noqa: E402
                     update_binary_path, ROOT)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("call", "setup") and rep.failed:
        for i, p in enumerate(getattr(item, "_parasold_procs", [])):
            text = p.stderr_text()
            if len(text) > 6000:
                text = "...\n" + text[-6000:]
            rep.sections.append((f"parasold #{i} argv", " ".join(p.args)))
            rep.sections.append((f"parasold #{i} stderr", text))
        for i, n in enumerate(getattr(item, "_nginx", [])):
            rep.sections.append((f"nginx #{i} access log", "\n".join(n.log_lines()[-40:]) or "(empty)"))
            rep.sections.append((f"nginx #{i} error log", n.error_text()[-3000:]))
        for i, u in enumerate(getattr(item, "_upstreams", [])):
            lines = [f"{q.transport} {q.qname} {q.qtype} id={q.id} edns={q.edns} from={q.source}" for q in u.log[-40:]]
            rep.sections.append((f"fake upstream #{i} {u.hostport} queries", "\n".join(lines) or "(none)"))


@pytest.fixture(scope="session")
def parasold_binary():
    path = binary_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        msg = (f"parasold binary not found at {path}: build it with "
               f"'cd {ROOT} && meson setup build; ninja -C build' or set PARASOLD=/path/to/parasold")
        if os.environ.get("PARASOLD_SKIP_MISSING"):
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    return path


# Keys a newer parasold may have whose defaults point at machine-wide state
# (/run, /var/lib), and `user`, without which a root start is refused.
# When --help lists them, every test instance gets private
# values so instances never share a control socket, a blocklist database or
# a stats database.
ISOLATION_KEYS = ("control", "lists-db", "seed-defaults", "stats-db", "user")


@pytest.fixture(scope="session")
def parasold_optional_keys(parasold_binary):
    try:
        p = subprocess.run([parasold_binary, "--help"], capture_output=True, text=True, timeout=5,
                           stdin=subprocess.DEVNULL)
        text = p.stdout + p.stderr
    except (OSError, subprocess.TimeoutExpired):
        return set()
    return {k for k in ISOLATION_KEYS if f"--{k}=" in text}


def _isolation_args(keys, tmpdir):
    out = []
    if "control" in keys:
        out.append(f"--control={tmpdir}/parasold.sock")
    if "lists-db" in keys:
        out.append(f"--lists-db={tmpdir}/lists.db")
    if "seed-defaults" in keys:
        out.append("--seed-defaults=no")
    if "stats-db" in keys:
        out.append(f"--stats-db={tmpdir}/stats.db")
    if "user" in keys:
        # Tests run as root: keep it, as told (test_privs.py drops).
        out.append("--user=root")
    return out


def _arg_value(args, key):
    """The value of the last --key=VALUE in args, or None."""
    val = None
    for a in args:
        if a.startswith(f"--{key}="):
            val = a.split("=", 1)[1]
    return val


@pytest.fixture
def make_upstream(request):
    ups = []
    request.node._upstreams = ups

    def make(addr="127.0.0.1", port=0, **kw):
        u = FakeUpstream(addr, port, **kw).start()
        ups.append(u)
        return u

    yield make
    for u in ups:
        u.stop()


@pytest.fixture
def upstream(make_upstream):
    """A healthy fake upstream on 127.0.0.1:<dynamic>."""
    return make_upstream()


def _split_hostport(s):
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
        return host, port
    if s.count(":") == 1:
        host, port = s.split(":")
        return host, int(port)
    return s, 53


@pytest.fixture
def parasold_factory(parasold_binary, parasold_optional_keys, request):
    """start(*extra_args, upstreams=[...], listen=[...], ...) -> running Parasold.

    By default adds --listen=127.0.0.1:<free port>, one --upstream per given
    upstream (FakeUpstream or "addr:port" string) and --log-level=info, then
    waits for the 'ready' line.  defaults=False passes only extra_args;
    preexec_fn runs in the child before exec (e.g. to set an rlimit).
    The paths it runs with are on the result: .control, .lists_db, .stats_db
    (None when parasold does not know the key), .tmpdir (private, removed at
    teardown).
    """
    procs = []
    tmpdirs = []
    request.node._parasold_procs = procs

    def start(*extra, upstreams=(), listen=None, log_level="info", wait_ready=True,
              env=None, defaults=True, ready_timeout=10.0, preexec_fn=None):
        args = []
        if defaults:
            if listen is None:
                listen = [f"127.0.0.1:{free_port()}"]
            for lst in listen:
                args.append(f"--listen={lst}")
            for u in upstreams:
                args.append(f"--upstream={getattr(u, 'hostport', u)}")
            if log_level:
                args.append(f"--log-level={log_level}")
        args += list(extra)
        tmpdir = tempfile.mkdtemp(prefix="psd-it-")
        tmpdirs.append(tmpdir)
        given = {a.split("=", 1)[0][2:] for a in args if a.startswith("--")}
        args += _isolation_args(parasold_optional_keys - given, tmpdir)
        # Never let parasold fall back to the machine's /etc/resolv.conf.
        has_source = any(a.startswith(("--upstream=", "--resolv-conf=")) or a == "-c" for a in args) \
            or (env or {}).get("PARASOL_CONFIG")
        assert has_source, "test bug: parasold started without --upstream/--resolv-conf/-c"
        p = Parasold(args, env=env)
        p.tmpdir = tmpdir
        p.control = _arg_value(args, "control")
        p.lists_db = _arg_value(args, "lists-db")
        p.stats_db = _arg_value(args, "stats-db")
        if listen:
            p.addr, p.port = _split_hostport(listen[0])
            p.listens = [_split_hostport(x) for x in listen]
        procs.append(p)
        p.start(wait_ready=wait_ready, timeout=ready_timeout, preexec_fn=preexec_fn)
        return p

    yield start
    for p in procs:
        p.stop()
    for d in tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    # On a sanitizer build (tests/run.sh) a report is a failure even when
    # every answer was right: the memory error happened all the same.
    for i, p in enumerate(procs):
        if p.proc is not None:
            if p._reader is not None:
                p._reader.join(2.0)  # the last lines, where a report ends
            report = sanitizer_report(p.stderr_text())
            if report:
                pytest.fail(f"parasold #{i} ({' '.join(p.args)}) printed a sanitizer report:\n{report}",
                            pytrace=False)


def _no_sanitizer_report(what, p):
    """Fail the test when a one-shot tool's stderr holds a sanitizer report."""
    report = sanitizer_report(p.stderr or "")
    if report:
        pytest.fail(f"{what} printed a sanitizer report:\n{report}", pytrace=False)
    return p


@pytest.fixture
def parasold(parasold_factory, upstream):
    """parasold on 127.0.0.1:<free> forwarding to the default fake upstream."""
    p = parasold_factory(upstreams=[upstream])
    p.upstream = upstream
    return p


@pytest.fixture
def run_parasold(parasold_binary):
    """Run parasold to completion (e.g. --check-config): returns CompletedProcess."""
    def run(*args, env=None, timeout=10):
        e = dict(os.environ)
        e.pop("PARASOL_CONFIG", None)
        e.update(env or {})
        return _no_sanitizer_report("parasold", subprocess.run(
            [parasold_binary, *args], capture_output=True, text=True,
            timeout=timeout, env=e, stdin=subprocess.DEVNULL, cwd=ROOT))
    return run


@pytest.fixture(scope="session")
def parasol_cli_binary():
    path = cli_binary_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        msg = (f"parasol CLI not found at {path}: build it with "
               f"'cd {ROOT} && meson setup build; ninja -C build' or set PARASOL_CLI=/path/to/parasol")
        if os.environ.get("PARASOLD_SKIP_MISSING"):
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    return path


@pytest.fixture
def parasol_cli(parasol_cli_binary):
    """cli(*args, daemon=None, env=None, timeout=15) -> CompletedProcess.

    With daemon (a Parasold from parasold_factory), --lists-db, --stats-db
    and --control point at that instance's files, so the CLI never reads
    machine-wide state.
    """
    def run(*args, daemon=None, env=None, timeout=15):
        e = dict(os.environ)
        for k in ("PARASOL_CONFIG", "PARASOL_LISTS_DB", "PARASOL_STATS_DB", "PARASOL_CONTROL"):
            e.pop(k, None)
        e.update(env or {})
        argv = [parasol_cli_binary]
        if daemon is not None:
            for key, val in (("lists-db", daemon.lists_db), ("stats-db", daemon.stats_db),
                             ("control", daemon.control)):
                if val is not None:
                    argv.append(f"--{key}={val}")
        argv += list(args)
        return _no_sanitizer_report("parasol", subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=e,
            stdin=subprocess.DEVNULL, cwd=ROOT))
    return run


@pytest.fixture
def lists(parasol_cli, request, tmp_path):
    """A Lists (helpers.py): a private lists.db edited with the CLI and, for
    feeds, parasol-update; .start(parasold_factory, upstream, ...) serves it."""
    from helpers import Lists
    return Lists(str(tmp_path), parasol_cli, lambda: request.getfixturevalue("parasol_update"))


# ---------------------------------------------------------------- feeds

@pytest.fixture(scope="session")
def parasol_update_binary():
    path = update_binary_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        msg = (f"parasol-update not found at {path}: build it with "
               f"'cd {ROOT} && meson setup build; ninja -C build' or set PARASOL_UPDATE=/path/to/parasol-update")
        if os.environ.get("PARASOLD_SKIP_MISSING"):
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)
    return path


@pytest.fixture(scope="session")
def feed_data():
    """The folder of real feed lists the feed tests serve: tests/data/feeds
    in the checkout (see its SOURCES.md), or $PARASOL_FEED_DATA."""
    path = os.environ.get("PARASOL_FEED_DATA") or os.path.join(ROOT, "tests", "data", "feeds")
    if not os.path.isdir(path):
        pytest.fail(f"no feed lists at {path} (PARASOL_FEED_DATA)", pytrace=False)
    return path


def _need_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: install the Debian packages with "
                    f"'docker/build.sh --test' (nginx-light, openssl, minisign)", pytrace=False)


@pytest.fixture(scope="session")
def feed_pki(tmp_path_factory):
    """A test CA and a certificate for feeds.parasol.test and 127.0.0.1."""
    from feedserver import TestPKI
    _need_tools("openssl")
    return TestPKI(str(tmp_path_factory.mktemp("pki"))).make()


@pytest.fixture(scope="session")
def minisign_key(tmp_path_factory):
    from feedserver import Minisign
    _need_tools("minisign")
    return Minisign(str(tmp_path_factory.mktemp("minisign")))


@pytest.fixture
def nginx(feed_pki, request, tmp_path):
    """nginx serving tmp_path/nginx/www over https and http on loopback."""
    from feedserver import Nginx
    _need_tools("nginx")
    run = tmp_path / "nginx"
    run.mkdir()
    n = Nginx(str(run), feed_pki).start()
    request.node._nginx = [n]
    yield n
    n.stop()


@pytest.fixture
def bad_tls_server(feed_pki):
    """make(mode, **kw) -> a started BadTLSServer, stopped at teardown."""
    from feedserver import BadTLSServer
    servers = []

    def make(mode, **kw):
        s = BadTLSServer(feed_pki, mode, **kw).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def parasol_update(parasol_update_binary):
    """run(*args, timeout=60, env=None) -> CompletedProcess; .json holds the
    parsed stdout when --json was given.  Never reads PARASOL_* from the
    caller's environment."""
    def run(*args, timeout=60, env=None):
        e = dict(os.environ)
        for k in ("PARASOL_CONFIG", "PARASOL_LISTS_DB", "PARASOL_STATS_DB", "PARASOL_CONTROL"):
            e.pop(k, None)
        e.update(env or {})
        p = subprocess.run([parasol_update_binary, *args], capture_output=True, text=True,
                           timeout=timeout, env=e, stdin=subprocess.DEVNULL, cwd=ROOT)
        _no_sanitizer_report("parasol-update", p)
        p.json = None
        if "--json" in args:
            import json
            try:
                p.json = json.loads(p.stdout)
            except ValueError as err:
                raise AssertionError(f"parasol-update --json printed no JSON ({err}); rc={p.returncode}\n"
                                     f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p
    return run
