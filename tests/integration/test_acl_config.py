"""Access control, configuration file / command line / environment, signals, resolv.conf."""

import re
import signal
import socket
import time

import pytest

from helpers import (NoReply, a_addrs, answer_ttl, dig, free_port, make_query, port_free, rcode_text,
                     tcp_connect, udp)


# ------------------------------------------------------------------ ACL

def test_acl_refuses_client_outside_allow_net(parasold_factory, upstream):
    p = parasold_factory("--allow-net=127.0.0.2/32", upstreams=[upstream])
    r = p.ask("acl-out.example.test", "A", source="127.0.0.1")
    assert rcode_text(r) == "REFUSED", f"client 127.0.0.1 outside 127.0.0.2/32 got {rcode_text(r)}"
    assert r.answer == []
    assert upstream.queries("acl-out.example.test") == [], "query from a refused client was forwarded"
    r = p.ask("acl-in.example.test", "A", source="127.0.0.2")
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]
    st = p.stats()
    assert st.get("refused", 0) >= 1, p.last_stats_line


@pytest.mark.parametrize("edns", [None, 0], ids=["no-edns", "edns"])
def test_refused_reply_echoes_question_and_opt(parasold_factory, upstream, edns):
    """A REFUSED reply carries the client's question (RFC 1035 4.1.1 practice) and, for an
    EDNS query, an OPT record (RFC 6891 7)."""
    p = parasold_factory("--allow-net=127.0.0.2/32", upstreams=[upstream])
    r = p.ask("Acl-Echo.example.test", "AAAA", source="127.0.0.1", edns=edns)
    assert rcode_text(r) == "REFUSED"
    assert len(r.question) == 1, f"REFUSED reply has QDCOUNT={len(r.question)}, expected the question echoed"
    assert r.question[0].name.to_text() == "Acl-Echo.example.test."
    assert r.question[0].rdtype == 28
    if edns is not None:
        assert r.edns == 0, "REFUSED reply to an EDNS query has no OPT record"


def test_acl_tcp(parasold_factory, upstream):
    p = parasold_factory("--allow-net=127.0.0.2/32", upstreams=[upstream])
    r = p.ask("acl-tcp-in.example.test", "A", transport="tcp", source="127.0.0.2")
    assert a_addrs(r) == ["192.0.2.1"]
    try:
        r = p.ask("acl-tcp-out.example.test", "A", transport="tcp", source="127.0.0.1")
    except (NoReply, ConnectionRefusedError, ConnectionResetError):
        pass  # closing the connection is an acceptable way to refuse over TCP
    else:
        assert rcode_text(r) == "REFUSED", f"TCP client outside allow-net got {rcode_text(r)}"
    assert upstream.queries("acl-tcp-out.example.test") == []


def test_acl_refused_with_dig_source(parasold_factory, upstream):
    p = parasold_factory("--allow-net=127.0.0.2/32", upstreams=[upstream])
    d = dig(p.addr, p.port, "-b", "127.0.0.1", "acl-dig.example.test", "A")
    assert "status: REFUSED" in d.stdout, d.stdout + d.stderr
    d = dig(p.addr, p.port, "-b", "127.0.0.2", "acl-dig.example.test", "A")
    assert "status: NOERROR" in d.stdout, d.stdout + d.stderr


def test_acl_multiple_entries(parasold_factory, upstream):
    p = parasold_factory("--allow-net=127.0.0.2/32", "--allow-net=127.0.0.3/32", upstreams=[upstream])
    for src in ("127.0.0.2", "127.0.0.3"):
        assert rcode_text(p.ask("acl-multi.example.test", source=src)) == "NOERROR", src
    assert rcode_text(p.ask("acl-multi.example.test", source="127.0.0.4")) == "REFUSED"


def test_default_acl_allows_loopback(parasold_factory, upstream):
    port = free_port(("127.0.0.1", "::1"))
    p = parasold_factory(upstreams=[upstream], listen=[f"127.0.0.1:{port}", f"[::1]:{port}"])
    for src in ("127.0.0.1", "127.0.0.9"):
        r = p.ask("acl-default.example.test", source=src)
        assert rcode_text(r) == "NOERROR", f"default ACL refused {src}"
    r = udp(make_query("acl-default6.example.test"), "::1", port, source="::1")
    assert rcode_text(r) == "NOERROR", "default ACL refused ::1"


def test_acl_ipv6_client_refused(parasold_factory, upstream):
    port = free_port(("127.0.0.1", "::1"))
    p = parasold_factory("--allow-net=127.0.0.0/8", "--allow-net=fc00::/7", upstreams=[upstream],
                         listen=[f"127.0.0.1:{port}", f"[::1]:{port}"])
    assert rcode_text(p.ask("acl6.example.test", source="127.0.0.1")) == "NOERROR"
    r = udp(make_query("acl6.example.test"), "::1", port, source="::1")
    assert rcode_text(r) == "REFUSED", "::1 not in 127.0.0.0/8 or fc00::/7 but not refused"


# ------------------------------------------------------------------ config files

def good_config_lines(listen_port, upstream):
    return [
        "# parasold test configuration",
        "",
        f"listen = 127.0.0.1:{listen_port}",
        f"upstream = {upstream.hostport}",
        "allow-net = 127.0.0.0/8",
        "allow-net = ::1/128",
        "   # indented comment",
        "cache-size = 10M",
        "cache-min-ttl = 0",
        "cache-max-ttl = 86400",
        "cache-neg-max-ttl = 3600",
        "upstream-timeout = 800",
        "resolve-timeout = 3000",
        "tcp-idle-timeout = 10000",
        "tcp-max-clients = 256",
        "edns-size = 1232",
        "log-level = info",
    ]


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_check_config_good_file_exits_0(run_parasold, upstream, tmp_path):
    cfg = write(tmp_path / "good.conf", good_config_lines(free_port(), upstream))
    p = run_parasold("-c", cfg, "--check-config")
    assert p.returncode == 0, f"--check-config on a good file exited {p.returncode}: {p.stderr}"


BAD_LINES = {
    "unknown-key": "frobnicate = 1",
    "bad-number": "cache-max-ttl = banana",
    "bad-cidr": "allow-net = 300.1.2.3/8",
    "missing-equals": "upstream 127.0.0.1",
    "bad-size-suffix": "cache-size = 10X",
    "bad-log-level": "log-level = loud",
    "bad-port": "listen = 127.0.0.1:99999",
    "negative-timeout": "upstream-timeout = -5",
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_check_config_bad_file_reports_file_and_line(run_parasold, upstream, tmp_path, kind):
    lines = good_config_lines(free_port(), upstream)
    lines.insert(8, BAD_LINES[kind])  # becomes line 9
    cfg = write(tmp_path / "bad.conf", lines)
    p = run_parasold("-c", cfg, "--check-config")
    assert p.returncode != 0, f"--check-config accepted a file with {BAD_LINES[kind]!r}"
    assert f"{cfg}:9:" in p.stderr, f"expected '{cfg}:9: message' on stderr, got: {p.stderr!r}"


def test_bad_config_file_prevents_start(parasold_factory, upstream, tmp_path):
    lines = good_config_lines(free_port(), upstream)
    lines.append("cache-max-ttl = banana")
    cfg = write(tmp_path / "bad.conf", lines)
    p = parasold_factory("-c", cfg, defaults=False, wait_ready=False)
    rc = p.wait_exit(5)
    assert rc is not None, "parasold kept running with an invalid config file"
    assert rc != 0
    assert f"{cfg}:{len(lines)}:" in p.stderr_text(), p.stderr_text()


def test_unknown_command_line_option_rejected(run_parasold, upstream):
    p = run_parasold(f"--upstream={upstream.hostport}", "--no-such-option=1", "--check-config", timeout=5)
    assert p.returncode != 0, "unknown command-line option accepted"
    assert p.stderr.strip(), "no error message for an unknown option"


def test_check_config_bad_command_line_value(run_parasold, upstream):
    p = run_parasold(f"--upstream={upstream.hostport}", "--cache-max-ttl=abc", "--check-config", timeout=5)
    assert p.returncode != 0, "--cache-max-ttl=abc accepted"


def test_check_config_does_not_serve(run_parasold, upstream, tmp_path):
    port = free_port()
    cfg = write(tmp_path / "good.conf", good_config_lines(port, upstream))
    p = run_parasold("-c", cfg, "--check-config", timeout=5)
    assert p.returncode == 0, p.stderr
    assert port_free("127.0.0.1", port)


def test_config_file_is_used(parasold_factory, upstream, tmp_path):
    port = free_port()
    cfg = write(tmp_path / "p.conf", good_config_lines(port, upstream))
    p = parasold_factory("-c", cfg, defaults=False, listen=[f"127.0.0.1:{port}"])
    assert a_addrs(p.ask("cfgfile.example.test")) == ["192.0.2.1"]
    assert len(upstream.queries("cfgfile.example.test")) == 1


def test_parasol_config_env_used_without_c(parasold_factory, upstream, tmp_path):
    port = free_port()
    cfg = write(tmp_path / "env.conf", good_config_lines(port, upstream))
    p = parasold_factory(defaults=False, listen=[f"127.0.0.1:{port}"], env={"PARASOL_CONFIG": cfg})
    assert a_addrs(p.ask("cfgenv.example.test")) == ["192.0.2.1"]
    assert len(upstream.queries("cfgenv.example.test")) == 1


def test_parasol_config_env_check_config_bad(run_parasold, upstream, tmp_path):
    lines = good_config_lines(free_port(), upstream)
    lines.insert(3, "nonsense-key = yes")
    cfg = write(tmp_path / "envbad.conf", lines)
    p = run_parasold("--check-config", env={"PARASOL_CONFIG": cfg})
    assert p.returncode != 0, "PARASOL_CONFIG file not validated"
    assert f"{cfg}:4:" in p.stderr, p.stderr


def test_command_line_overrides_config_file(parasold_factory, upstream, tmp_path):
    port = free_port()
    lines = good_config_lines(port, upstream)
    lines.remove("cache-max-ttl = 86400")
    lines.append("cache-max-ttl = 10")
    cfg = write(tmp_path / "ovr.conf", lines)
    p = parasold_factory("-c", cfg, "--cache-max-ttl=60", defaults=False, listen=[f"127.0.0.1:{port}"])
    p.ask("override.example.test")
    ttl = answer_ttl(p.ask("override.example.test"))  # cached copy: TTL capped at cache-max-ttl
    assert 10 < ttl <= 60, f"cached TTL {ttl}: file says cache-max-ttl=10, command line 60 (upstream 300)"


def test_list_keys_repeat_in_config_file(parasold_factory, make_upstream, tmp_path):
    dropper = make_upstream(drop_all=True)
    good = make_upstream()
    port = free_port()
    lines = [
        f"listen = 127.0.0.1:{port}",
        f"upstream = {dropper.hostport}",
        f"upstream = {good.hostport}",
        "upstream-timeout = 200",
        "allow-net = 127.0.0.2/32",
        "allow-net = 127.0.0.3/32",
    ]
    cfg = write(tmp_path / "lists.conf", lines)
    p = parasold_factory("-c", cfg, defaults=False, listen=[f"127.0.0.1:{port}"])
    for src in ("127.0.0.2", "127.0.0.3"):
        r = p.ask(f"lists-{src.split('.')[-1]}.example.test", source=src, timeout=4)
        assert a_addrs(r) == ["192.0.2.1"], f"from {src}: {r}"
    assert rcode_text(p.ask("lists-x.example.test", source="127.0.0.1")) == "REFUSED"
    assert good.queries("lists-2.example.test"), "second upstream from the file never used"


def test_listen_port_in_use_fails_without_ready(parasold_factory, upstream):
    port = free_port()
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", port))
    try:
        p = parasold_factory(upstreams=[upstream], listen=[f"127.0.0.1:{port}"], wait_ready=False)
        rc = p.wait_exit(5)
        assert rc is not None, "parasold keeps running although its UDP listen port is taken"
        assert rc != 0
        assert p.wait_for(r"\bready\b", timeout=0.1) is None, "printed 'ready' without binding its listener"
    finally:
        blocker.close()


def test_log_level_debug_accepted(parasold_factory, upstream):
    p = parasold_factory(upstreams=[upstream], log_level="debug")
    assert a_addrs(p.ask("debug.example.test")) == ["192.0.2.1"]


# ------------------------------------------------------------------ signals

def _wait_rcode(p, name, source, want, timeout=3.0):
    deadline = time.monotonic() + timeout
    last = None
    i = 0
    while time.monotonic() < deadline:
        i += 1
        try:
            last = rcode_text(p.ask(f"{i}-{name}", source=source, timeout=1))
        except NoReply:
            last = "no reply"
        if last == want:
            return last
        time.sleep(0.1)
    return last


def _sighup_config(tmp_path, port, upstream, allow):
    return write(tmp_path / "hup.conf", [f"listen = 127.0.0.1:{port}", f"upstream = {upstream.hostport}",
                                         f"allow-net = {allow}"])


def test_sighup_reload_good_config(parasold_factory, upstream, tmp_path):
    port = free_port()
    cfg = _sighup_config(tmp_path, port, upstream, "127.0.0.0/8")
    p = parasold_factory("-c", cfg, defaults=False, listen=[f"127.0.0.1:{port}"])
    assert rcode_text(p.ask("hup1.example.test", source="127.0.0.1")) == "NOERROR"
    _sighup_config(tmp_path, port, upstream, "127.0.0.2/32")
    p.signal(signal.SIGHUP)
    got = _wait_rcode(p, "hup.example.test", "127.0.0.1", "REFUSED")
    assert got == "REFUSED", f"after SIGHUP with allow-net=127.0.0.2/32, 127.0.0.1 still gets {got}"
    assert rcode_text(p.ask("hup2.example.test", source="127.0.0.2")) == "NOERROR"
    assert p.alive()


def test_sighup_broken_config_keeps_old(parasold_factory, upstream, tmp_path):
    port = free_port()
    cfg = _sighup_config(tmp_path, port, upstream, "127.0.0.2/32")
    p = parasold_factory("-c", cfg, defaults=False, listen=[f"127.0.0.1:{port}"])
    assert rcode_text(p.ask("hupbad1.example.test", source="127.0.0.1")) == "REFUSED"
    # the broken file would allow 127.0.0.1 if it were (partially) applied
    write(tmp_path / "hup.conf", [f"listen = 127.0.0.1:{port}", f"upstream = {upstream.hostport}",
                                  "allow-net = 127.0.0.0/8", "this line is broken"])
    start = len(p.lines)
    p.signal(signal.SIGHUP)
    idx = p.wait_for(r".", timeout=3, start=start)
    assert idx is not None, "no log line after SIGHUP with a broken config file"
    time.sleep(0.3)
    assert p.alive(), f"parasold died on SIGHUP with a broken file (rc={p.proc.returncode})"
    assert rcode_text(p.ask("hupbad2.example.test", source="127.0.0.1")) == "REFUSED", \
        "broken config partially applied"
    assert rcode_text(p.ask("hupbad3.example.test", source="127.0.0.2")) == "NOERROR"
    # and a subsequent good reload still works
    _sighup_config(tmp_path, port, upstream, "127.0.0.0/8")
    p.signal(signal.SIGHUP)
    assert _wait_rcode(p, "hupbad4.example.test", "127.0.0.1", "NOERROR") == "NOERROR"


def test_sigterm_exits_0(parasold):
    parasold.ask("term.example.test")
    parasold.signal(signal.SIGTERM)
    rc = parasold.wait_exit(5)
    assert rc == 0, f"SIGTERM: exit code {rc} (None = still running after 5 s)"


def test_sigterm_with_open_tcp_connection(parasold):
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        parasold.signal(signal.SIGTERM)
        rc = parasold.wait_exit(5)
        assert rc == 0, f"SIGTERM with an idle TCP client: exit code {rc}"
    finally:
        s.close()


def test_sigterm_with_query_in_flight(parasold_factory, make_upstream):
    dropper = make_upstream(drop_all=True)
    p = parasold_factory("--upstream-timeout=1000", "--resolve-timeout=3000", upstreams=[dropper])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(make_query("inflight.example.test").to_wire(), (p.addr, p.port))
        deadline = time.monotonic() + 3
        while not dropper.queries("inflight.example.test") and time.monotonic() < deadline:
            time.sleep(0.02)
        p.signal(signal.SIGTERM)
        rc = p.wait_exit(6)
        assert rc == 0, f"SIGTERM with a query in flight: exit code {rc} (None = still running after 6 s)"
    finally:
        s.close()


def test_sigusr1_does_not_disturb(parasold):
    parasold.stats()
    parasold.stats()
    assert parasold.alive()
    assert a_addrs(parasold.ask("usr1.example.test")) == ["192.0.2.1"]


# ------------------------------------------------------------------ self-forwarding

def test_only_upstream_is_self_exits_nonzero(parasold_factory):
    port = free_port()
    p = parasold_factory(f"--upstream=127.0.0.1:{port}", listen=[f"127.0.0.1:{port}"], wait_ready=False)
    rc = p.wait_exit(5)
    assert rc is not None, "parasold runs with itself as the only upstream"
    assert rc != 0
    assert p.stderr_text().strip(), "no error message"


def test_self_upstream_dropped_other_used(parasold_factory, upstream):
    port = free_port()
    p = parasold_factory(f"--upstream=127.0.0.1:{port}", f"--upstream={upstream.hostport}",
                         "--upstream-timeout=200", listen=[f"127.0.0.1:{port}"])
    for i in range(3):
        r = p.ask(f"self{i}.example.test", timeout=4)
        assert a_addrs(r) == ["192.0.2.1"]
        assert len(upstream.queries(f"self{i}.example.test")) == 1
    st = p.stats()
    assert st.get("queries") == 3, f"parasold received its own forwarded queries: {p.last_stats_line}"
    assert p.wait_for(re.compile(rf"warn.*:{port}\b|:{port}\b.*warn", re.I), timeout=0.1) is not None, \
        f"no warning naming the dropped self-upstream 127.0.0.1:{port}:\n{p.stderr_text()}"


# ------------------------------------------------------------------ resolv.conf

def _upstream53(make_upstream, addr, **kw):
    if not port_free(addr, 53):
        pytest.skip(f"cannot bind {addr}:53 (busy or not permitted); resolv.conf has no port")
    try:
        return make_upstream(addr, 53, **kw)
    except OSError as e:
        pytest.skip(f"cannot bind {addr}:53: {e}")


RESOLV_HEADER = [
    "# resolv.conf written by the parasold integration tests",
    "; another comment style",
    "search example.test",
    "options edns0 trust-ad ndots:1 timeout:1 attempts:2",
]


def test_resolv_conf_default_upstream(parasold_factory, make_upstream, tmp_path):
    up = _upstream53(make_upstream, "127.0.0.77")
    rc = write(tmp_path / "resolv.conf", RESOLV_HEADER + ["nameserver 127.0.0.77", "options rotate"])
    port = free_port()
    p = parasold_factory(f"--listen=127.0.0.1:{port}", f"--resolv-conf={rc}", "--log-level=info",
                         defaults=False, listen=[f"127.0.0.1:{port}"])
    r = p.ask("resolv.example.test")
    assert a_addrs(r) == ["192.0.2.1"]
    assert len(up.queries("resolv.example.test")) == 1


def test_explicit_upstream_ignores_resolv_conf(parasold_factory, make_upstream, upstream, tmp_path):
    other = _upstream53(make_upstream, "127.0.0.78")
    rc = write(tmp_path / "resolv.conf", ["nameserver 127.0.0.78"])
    p = parasold_factory(f"--resolv-conf={rc}", upstreams=[upstream])
    assert a_addrs(p.ask("explicit.example.test")) == ["192.0.2.1"]
    assert len(upstream.queries("explicit.example.test")) == 1
    assert other.log == [], "resolv.conf nameserver used although --upstream was given"


def test_resolv_conf_naming_self_only_exits_nonzero(parasold_factory, tmp_path):
    if not port_free("127.0.0.79", 53):
        pytest.skip("cannot bind 127.0.0.79:53")
    rc = write(tmp_path / "resolv.conf", RESOLV_HEADER + ["nameserver 127.0.0.79"])
    p = parasold_factory("--listen=127.0.0.79:53", f"--resolv-conf={rc}", defaults=False, wait_ready=False)
    code = p.wait_exit(5)
    assert code is not None, "parasold runs with its own listen address as the only resolv.conf nameserver"
    assert code != 0
    assert p.stderr_text().strip(), "no error message"


def test_resolv_conf_self_dropped_other_used(parasold_factory, make_upstream, tmp_path):
    up = _upstream53(make_upstream, "127.0.0.77")
    if not port_free("127.0.0.79", 53):
        pytest.skip("cannot bind 127.0.0.79:53")
    rc = write(tmp_path / "resolv.conf", ["nameserver 127.0.0.79", "nameserver 127.0.0.77"])
    p = parasold_factory("--listen=127.0.0.79:53", f"--resolv-conf={rc}", "--upstream-timeout=200",
                         defaults=False, listen=["127.0.0.79:53"])
    for i in range(3):
        r = p.ask(f"rself{i}.example.test", timeout=4)
        assert a_addrs(r) == ["192.0.2.1"]
    assert len(up.queries("rself0.example.test")) == 1
    st = p.stats()
    assert st.get("queries") == 3, f"parasold forwarded to itself: {p.last_stats_line}"


def test_resolv_conf_ipv6_nameserver(parasold_factory, make_upstream, tmp_path):
    up = _upstream53(make_upstream, "::1")
    rc = write(tmp_path / "resolv.conf", RESOLV_HEADER + ["nameserver ::1"])
    port = free_port()
    p = parasold_factory(f"--listen=127.0.0.1:{port}", f"--resolv-conf={rc}", defaults=False,
                         listen=[f"127.0.0.1:{port}"])
    assert a_addrs(p.ask("resolv6.example.test")) == ["192.0.2.1"]
    assert len(up.queries("resolv6.example.test")) == 1
