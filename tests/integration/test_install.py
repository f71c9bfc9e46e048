"""What 'meson install' lays out, and whether systemd and man accept it.

A private build of this checkout is configured for a prefix inside the
test's temporary folder and installed twice: with --destdir into a
staging folder, as a packager would (the layout test), and for real into
that prefix, so that the units' ExecStart paths exist when
'systemd-analyze verify' checks them. The man pages are held against the
programs' own --help: every configuration key, every verb and every
updater option must be documented.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from helpers import ROOT


def _need(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: 'docker/build.sh --test' installs them",
                    pytrace=False)


def run(argv, **kw):
    kw.setdefault("timeout", 300)
    return subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


@pytest.fixture(scope="module")
def inst(tmp_path_factory):
    """A build configured for PREFIX=<tmp>/usr, SYSCONFDIR=<tmp>/etc;
    installed into <tmp>/stage (destdir) and into the prefix itself."""
    _need("meson", "ninja", "scdoc")
    top = tmp_path_factory.mktemp("install")
    build = top / "build"
    prefix = top / "usr"
    etc = top / "etc"
    p = run(["meson", "setup", str(build), ROOT, f"--prefix={prefix}", f"-Dsysconfdir={etc}",
             "-Dtests=disabled", "-Dman=enabled"])
    assert p.returncode == 0, p.stdout + p.stderr
    p = run(["ninja", "-C", str(build)], timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr
    stage = top / "stage"
    p = run(["meson", "install", "-C", str(build), "--destdir", str(stage)])
    assert p.returncode == 0, p.stdout + p.stderr
    p = run(["meson", "install", "-C", str(build)])
    assert p.returncode == 0, p.stdout + p.stderr

    class Inst:
        pass
    i = Inst()
    i.top, i.build, i.prefix, i.etc = top, build, str(prefix), str(etc)
    i.stage = str(stage)
    i.staged = lambda path: str(stage) + str(path)  # a path of the prefix, inside the stage
    return i


def read(path):
    with open(path) as f:
        return f.read()


def unit_values(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_binaries_staged(inst):
    for rel in ("sbin/parasold", "bin/parasol", "bin/parasol-update"):
        path = inst.staged(os.path.join(inst.prefix, rel))
        assert os.access(path, os.X_OK), f"{rel} not installed at {path}"
        p = run([path, "--version"], timeout=10)
        assert p.returncode == 0 and "0." in p.stdout, (rel, p.stdout, p.stderr)


def test_units_staged_and_point_at_the_binaries(inst):
    unitdir = inst.staged(os.path.join(inst.prefix, "lib/systemd/system"))
    assert sorted(os.listdir(unitdir)) == ["parasol-update.service", "parasol-update.timer",
                                           "parasold.service"]
    conf = os.path.join(inst.etc, "parasol", "parasol.conf")
    d = read(os.path.join(unitdir, "parasold.service"))
    assert unit_values(d, "ExecStart") == [f"{inst.prefix}/sbin/parasold -c {conf}"]
    assert unit_values(d, "Type") == ["notify"]
    assert unit_values(d, "User") == ["parasol"] and unit_values(d, "DynamicUser") == ["no"]
    assert unit_values(d, "CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    assert unit_values(d, "AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"]
    assert unit_values(d, "StateDirectory") == ["parasol"]
    assert unit_values(d, "RuntimeDirectory") == ["parasol"]
    assert unit_values(d, "ProtectSystem") == ["strict"]
    assert unit_values(d, "NoNewPrivileges") == ["yes"]
    assert "-HUP" in unit_values(d, "ExecReload")[0]
    u = read(os.path.join(unitdir, "parasol-update.service"))
    assert unit_values(u, "ExecStart") == [f"{inst.prefix}/bin/parasol-update --quiet"]
    assert unit_values(u, "Environment") == [f"PARASOL_CONFIG={conf}"]
    assert unit_values(u, "User") == ["parasol"] and unit_values(u, "StateDirectory") == ["parasol"]
    assert "OnCalendar=daily" in read(os.path.join(unitdir, "parasol-update.timer"))
    cron = read(inst.staged(os.path.join(inst.prefix, "share/doc/parasol/examples/parasol-update.cron")))
    assert f"{inst.prefix}/bin/parasol-update --quiet" in cron
    assert f"PARASOL_CONFIG={conf}" in cron


def test_sysusers_and_tmpfiles_create_the_user_and_state_dir(inst):
    _need("systemd-sysusers", "systemd-tmpfiles")
    root = inst.top / "sysroot"
    (root / "etc").mkdir(parents=True)
    sysusers = inst.staged(os.path.join(inst.prefix, "lib/sysusers.d/parasol.conf"))
    tmpfiles = inst.staged(os.path.join(inst.prefix, "lib/tmpfiles.d/parasol.conf"))
    p = run(["systemd-sysusers", f"--root={root}", sysusers])
    assert p.returncode == 0, p.stderr
    users = {line.split(":")[0]: line.split(":") for line in read(root / "etc/passwd").splitlines()}
    assert "parasol" in users and users["parasol"][5] == "/var/lib/parasol", users
    uid, gid = int(users["parasol"][2]), int(users["parasol"][3])
    p = run(["systemd-tmpfiles", f"--root={root}", "--create", tmpfiles])
    assert p.returncode == 0, p.stderr
    st = os.stat(root / "var/lib/parasol")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (uid, gid, 0o750)


def test_sample_config_in_place_valid_and_kept(inst, tmp_path):
    staged = inst.staged(os.path.join(inst.etc, "parasol", "parasol.conf"))
    assert os.path.isfile(staged)
    parasold = inst.staged(os.path.join(inst.prefix, "sbin/parasold"))
    # The sample as shipped is a valid configuration: every key it names
    # (commented out) is one parasold knows, with a value it accepts.
    text = read(staged)
    keys = re.findall(r"^#(\S+) = ", text, re.M)
    assert len(set(keys)) >= 20, keys
    uncommented = tmp_path / "all.conf"
    uncommented.write_text("".join(f"{k} = {v}\n" for k, v in re.findall(r"^#(\S+) = (.*)$", text, re.M)))
    for conf in (staged, str(uncommented)):
        p = run([parasold, "-c", conf, "--check-config"], timeout=10)
        assert p.returncode == 0 and "configuration ok" in p.stderr, (conf, p.stderr)
    # An admin's edited file survives the next install.
    live = os.path.join(inst.etc, "parasol", "parasol.conf")
    with open(live, "a") as f:
        f.write("sinkhole = nxdomain\n")
    p = run(["meson", "install", "-C", str(inst.build), "--quiet"])
    assert p.returncode == 0, p.stdout + p.stderr
    assert read(live).endswith("sinkhole = nxdomain\n")


def test_completion_staged(inst):
    d = inst.staged(os.path.join(inst.prefix, "share/bash-completion/completions"))
    assert sorted(os.listdir(d)) == ["parasol", "parasol-update", "parasold"]
    for name in os.listdir(d):
        assert f"complete -F " in read(os.path.join(d, name)) and name in read(os.path.join(d, name))


def render(path):
    _need("man")
    p = run(["man", "-l", "-P", "cat", path], env={**os.environ, "MANWIDTH": "200", "LC_ALL": "C.UTF-8"},
            timeout=30)
    assert p.returncode == 0, p.stderr
    assert "NAME" in p.stdout and "SYNOPSIS" in p.stdout
    return re.sub(r".\x08", "", p.stdout)  # no overstrike


def man_page(inst, page):
    name, section = page.rsplit(".", 1)
    path = inst.staged(os.path.join(inst.prefix, "share/man", f"man{section}", page))
    assert os.path.isfile(path), f"{page} not installed"
    assert not run(["man", "-l", "-w", path]).stderr
    return render(path)


def help_text(inst, rel, *args):
    p = run([inst.staged(os.path.join(inst.prefix, rel)), *args], timeout=10)
    return p.stdout + p.stderr


def test_parasol_conf_5_documents_every_key(inst):
    text = man_page(inst, "parasol.conf.5")
    keys = re.findall(r"^  --([a-z][a-z0-9-]*)=", help_text(inst, "sbin/parasold", "--help"), re.M)
    assert len(keys) >= 20
    missing = [k for k in keys if not re.search(rf"^\s*{re.escape(k)} = ", text, re.M)]
    assert not missing, f"parasol.conf(5) lacks: {missing}"


def test_parasold_8_documents_options_and_signals(inst):
    text = man_page(inst, "parasold.8")
    for word in ("--check-config", "-c FILE", "SIGHUP", "SIGTERM", "SIGUSR1", "READY=1",
                 "RELOADING=1", "WATCHDOG=1", "STOPPING=1", "EXIT STATUS", "/etc/parasol/parasol.conf"):
        assert word in text, word


def test_parasol_8_documents_every_verb(inst):
    text = man_page(inst, "parasol.8")
    verbs = set(re.findall(r"^  ([a-z][a-z-]*)(?: |$)", help_text(inst, "bin/parasol", "--help"), re.M))
    assert {"check", "allow", "deny", "feeds", "reload", "status", "stats", "top", "log"} <= verbs
    missing = [v for v in sorted(verbs) if not re.search(rf"^\s+{v}\b", text, re.M)]
    assert not missing, f"parasol(8) lacks verbs: {missing}"
    options = set(re.findall(r"--[a-z][a-z-]*", help_text(inst, "bin/parasol", "--help")))
    missing = [o for o in sorted(options) if o not in text]
    assert not missing, f"parasol(8) lacks options: {missing}"


def test_parasol_update_8_documents_every_option_and_exit_code(inst):
    text = man_page(inst, "parasol-update.8")
    usage = help_text(inst, "bin/parasol-update", "--help")
    options = set(re.findall(r"--[a-z][a-z-]*", usage))
    assert len(options) >= 15
    missing = [o for o in sorted(options) if o not in text]
    assert not missing, f"parasol-update(8) lacks: {missing}"
    for code in re.findall(r"\b(\d+) [a-z]", usage.split("Exit status:")[1]):
        assert re.search(rf"^\s+{code}\s*$", text, re.M), f"exit status {code} undocumented"


def test_systemd_analyze_verify_accepts_the_units(inst):
    _need("systemd-analyze")
    unitdir = os.path.join(inst.prefix, "lib/systemd/system")
    units = [os.path.join(unitdir, u) for u in sorted(os.listdir(unitdir))]
    # The man pages of Documentation= are found through MANPATH.
    env = {**os.environ, "MANPATH": os.path.join(inst.prefix, "share/man") + ":"}
    p = run(["systemd-analyze", "verify", *units], env=env, timeout=60)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stdout + p.stderr


@pytest.mark.parametrize("unit", ["parasold.service", "parasol-update.service"])
def test_units_are_hardened(inst, unit):
    """systemd's own measure of a unit's sandbox, on the file as installed:
    'OK' (below 2.5 of 10) holds only with the whole sandbox in place."""
    _need("systemd-analyze")
    path = os.path.join(inst.prefix, "lib/systemd/system", unit)
    p = run(["systemd-analyze", "security", "--offline=yes", path], timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout + p.stderr)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) < 2.5, p.stdout
