"""Guards of parasol-update that need no feed server: local-file feeds whose
new content would quietly shrink the list, a feed redefined while stored
validators say "unchanged", and the reserved feed id."""

import json
import os
import subprocess

import pytest


def run(binary, *args):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PARASOL_CONFIG", "PARASOL_LISTS_DB", "PARASOL_STATS_DB", "PARASOL_CONTROL")}
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def lab(tmp_path, parasol_cli_binary, parasol_update_binary):
    class Lab:
        db = str(tmp_path / "lists.db")
        src = tmp_path / "list.txt"

        def cli(self, *a):
            return run(parasol_cli_binary, f"--lists-db={self.db}", *a)

        def update(self, *a):
            p = run(parasol_update_binary, f"--lists-db={self.db}", "--no-reload", "--json", *a)
            p.json = json.loads(p.stdout) if p.stdout.strip() else None
            return p

        def feed(self, fid):
            p = self.cli("feeds", "ls", "--json")
            assert p.returncode == 0, p.stderr
            return {f["id"]: f for f in json.loads(p.stdout)}[fid]

        def write(self, lines):
            self.src.write_text("".join(l + "\n" for l in lines))
    return Lab()


NAMES = [f"pool{i}.miner-guard.test" for i in range(50)]


def seeded(lab):
    lab.write(NAMES)
    p = lab.cli("feeds", "add", "g", str(lab.src), "--format=domains")
    assert p.returncode == 0, p.stderr
    p = lab.update()
    assert p.returncode == 0 and lab.feed("g")["entries"] == 50, (p.stdout, p.stderr)


@pytest.mark.parametrize("body", [
    pytest.param(["co.uk", "bologna.it", "com.au"] * 17, id="public-suffixes"),
    pytest.param(["x.miner-guard.test", "y.miner-guard.test"] * 25, id="repeats"),
])
def test_shrink_hidden_by_repeats_or_suffixes_is_refused(lab, body):
    seeded(lab)
    lab.write(body)
    p = lab.update()
    assert p.returncode == 69, (p.stdout, p.stderr)
    r = p.json["feeds"][0]
    assert r["status"] == "failed" and "shrink" in r["error"], r
    row = lab.feed("g")
    assert row["entries"] == 50 and "shrink" in row["last_error"], row
    p = lab.cli("check", NAMES[7], "--json")
    assert p.returncode == 1, p.stdout


def test_redefining_a_feed_reparses_unchanged_bytes(lab):
    seeded(lab)
    assert lab.cli("check", "sub." + NAMES[3], "--json").returncode == 1
    p = lab.cli("feeds", "add", "g", str(lab.src), "--match=exact")
    assert p.returncode == 0, p.stderr
    p = lab.update()
    assert p.returncode == 0 and p.json["feeds"][0]["status"] == "updated", p.stdout
    # Same bytes, read as exact rules now: the subdomain is no longer covered.
    assert lab.cli("check", "sub." + NAMES[3], "--json").returncode == 0
    assert lab.cli("check", NAMES[3], "--json").returncode == 1


def test_feed_id_local_is_reserved(lab):
    lab.write(NAMES)
    p = lab.cli("feeds", "add", "local", str(lab.src))
    assert p.returncode == 2 and "local" in p.stderr, (p.returncode, p.stderr)


def test_fifo_source_does_not_hang(lab, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    p = lab.cli("feeds", "add", "f", str(fifo))
    assert p.returncode == 0, p.stderr
    p = lab.update()
    assert p.returncode == 69 and "not a regular file" in p.json["feeds"][0]["error"], p.stdout
