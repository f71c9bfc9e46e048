"""Bash completion for parasol, parasold and parasol-update.

Each case sources the completion file in a fresh bash, fills COMP_WORDS and
COMP_CWORD as bash would for the line typed (bash splits "--key=" at the
'='), calls the registered function and reads COMPREPLY back. The first
word is the built binary, which the completions ask for verbs, keys, feed
ids and rules.
"""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest

from helpers import ROOT, binary_path, cli_binary_path, update_binary_path

FILES = {
    "parasol": os.path.join(ROOT, "tools", "dist", "parasol.bash"),
    "parasold": os.path.join(ROOT, "resolver", "dist", "parasold.bash"),
    "parasol-update": os.path.join(ROOT, "feeds", "dist", "parasol-update.bash"),
}
BINARIES = {"parasol": cli_binary_path, "parasold": binary_path, "parasol-update": update_binary_path}


def complete(cmd, *words, cwd=None):
    """COMPREPLY, sorted as bash shows it, for the line `cmd words...`,
    completing the last word."""
    comp_words = [BINARIES[cmd]()] + list(words)
    script = (
        f"source {shlex.quote(FILES[cmd])}\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in comp_words)})\n"
        f"COMP_CWORD={len(comp_words) - 1}\n"
        f"COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}\n"
        f"fn=$(complete -p {shlex.quote(cmd)} | sed 's/.*-F \\([^ ]*\\) .*/\\1/')\n"
        f"\"$fn\" {shlex.quote(cmd)} {shlex.quote(comp_words[-1])} {shlex.quote(comp_words[-2])}\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True,
                       text=True, timeout=20, cwd=cwd or ROOT, stdin=subprocess.DEVNULL,
                       env={k: v for k, v in os.environ.items() if not k.startswith("PARASOL_")})
    assert p.returncode == 0, p.stderr
    return sorted(line for line in p.stdout.splitlines() if line)


def test_parasol_verbs():
    verbs = complete("parasol", "")
    assert {"check", "allow", "deny", "feeds", "reload", "status", "stats", "top", "log"} <= set(verbs)
    assert complete("parasol", "st") == ["stats", "status"]
    assert complete("parasol", "--json", "ch") == ["check"]


def test_parasol_sub_verbs_and_options():
    assert complete("parasol", "top", "") == ["clients", "domains"]
    assert complete("parasol", "deny", "") == ["add", "ls", "rm"]
    assert complete("parasol", "feeds", "e") == ["enable"]
    assert complete("parasol", "log", "--f") == ["--follow"]
    assert "--exact" in complete("parasol", "allow", "add", "x.example", "--")
    assert complete("parasol", "feeds", "add", "x", "y", "--match", "=", "") == ["exact", "subtree"]
    assert complete("parasol", "feeds", "add", "x", "y", "--format=r") == ["rpz"]
    # --client only where it means something.
    assert "--client=" in complete("parasol", "top", "domains", "--")
    assert "--client=" not in complete("parasol", "top", "clients", "--")


def test_parasol_feed_ids_and_rules_from_lists_db(tmp_path, parasol_cli):
    db = str(tmp_path / "lists.db")
    src = tmp_path / "list.txt"
    src.write_text("pool.example\n")
    for args in (["feeds", "add", "pools", str(src), "--format=domains"],
                 ["feeds", "add", "probes", str(src), "--format=domains"],
                 ["deny", "add", "miner.example"]):
        p = parasol_cli(f"--lists-db={db}", f"--control={tmp_path}/none.sock", *args)
        assert p.returncode == 0, p.stderr
    assert complete("parasol", f"--lists-db={db}", "feeds", "rm", "") == ["pools", "probes"]
    assert complete("parasol", f"--lists-db={db}", "feeds", "disable", "po") == ["pools"]
    assert complete("parasol", f"--lists-db={db}", "deny", "rm", "") == ["miner.example"]
    assert complete("parasol", f"--lists-db={db}", "allow", "rm", "") == []


def test_parasold_keys_and_values():
    opts = complete("parasold", "--")
    for o in ("--listen=", "--upstream=", "--sinkhole=", "--stats-db=", "--check-config", "--config="):
        assert o in opts, (o, opts)
    assert complete("parasold", "--log-level", "=", "") == ["debug", "error", "info", "warn"]
    assert complete("parasold", "--sinkhole", "=", "nx") == ["nxdomain"]
    assert complete("parasold", "--cache-") == ["--cache-max-ttl=", "--cache-min-ttl=",
                                                "--cache-neg-max-ttl=", "--cache-size="]


def test_parasold_config_file_argument(tmp_path):
    (tmp_path / "parasol.conf").write_text("")
    assert complete("parasold", "-c", "par", cwd=str(tmp_path)) == ["parasol.conf"]


def test_parasol_update_options():
    opts = complete("parasol-update", "--")
    for o in ("--lists-db=", "--feed=", "--force", "--max-shrink=", "--lock-wait=", "--json", "--quiet"):
        assert o in opts
    assert complete("parasol-update", "--fe") == ["--feed="]
    assert complete("parasol-update", "--max-") == ["--max-invalid=", "--max-shrink=", "--max-size="]


@pytest.mark.parametrize("cmd", sorted(FILES))
def test_sources_cleanly_with_bash_completion(cmd):
    """Loaded the way bash-completion loads it, next to its helpers."""
    if not os.path.exists("/usr/share/bash-completion/bash_completion"):
        pytest.skip("bash-completion is not installed")
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c",
                        f"source /usr/share/bash-completion/bash_completion; source {shlex.quote(FILES[cmd])}; "
                        f"complete -p {shlex.quote(cmd)}"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert cmd in p.stdout
