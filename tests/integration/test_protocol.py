"""EDNS handling, header flags, opcodes, UDP truncation, listeners (IPv4/IPv6, reply source)."""

import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from helpers import (a_addrs, dig, free_port, header, kdig, make_query, parse, parse_answer_lines,
                     port_free, rcode_text, tcp, udp, udp_send_recv)

DO = dns.flags.DO


# ------------------------------------------------------------------ EDNS

def test_reply_advertises_udp_size_1232(parasold):
    r = parasold.ask("edns.example.test", "A", payload=4096)
    assert r.edns == 0, "EDNS query answered without OPT"
    assert r.payload == 1232, f"advertised UDP size {r.payload}, expected 1232"


def test_cached_and_tc_replies_advertise_1232(parasold):
    parasold.ask("edns-c.example.test", "A")
    r = parasold.ask("edns-c.example.test", "A", payload=4096)
    assert r.edns == 0 and r.payload == 1232, f"cached reply: EDNS {r.edns}, size {r.payload}"
    q = make_query("huge-edns.example.test", "A", payload=1232)
    data, _ = udp_send_recv(q.to_wire(), parasold.addr, parasold.port)
    r = parse(data)
    assert r.flags & dns.flags.TC
    assert r.edns == 0 and r.payload == 1232, f"truncated reply: EDNS {r.edns}, size {r.payload}"


def test_edns_size_option(parasold_factory, upstream):
    """--edns-size=1400: advertised, and a ~1.25 kB answer fits in UDP for a client offering 4096,
    while a client offering 1232 still gets TC."""
    upstream.set("mid.example.test", many_a=75)
    p = parasold_factory("--edns-size=1400", upstreams=[upstream])
    r = p.ask("mid.example.test", "A", payload=4096)
    assert r.payload == 1400, f"advertised {r.payload} with --edns-size=1400"
    assert not (r.flags & dns.flags.TC), f"TC set on a {len(r.raw)}-byte answer with --edns-size=1400"
    assert len(a_addrs(r)) == 75
    assert len(r.raw) <= 1400
    q = make_query("mid.example.test", "A", payload=1232)
    data, _ = udp_send_recv(q.to_wire(), p.addr, p.port)
    assert len(data) <= 1232 and parse(data).flags & dns.flags.TC


def test_edns_version_1_gets_badvers(parasold):
    r = parasold.ask("badvers.example.test", "A", edns=1)
    assert r.rcode() == dns.rcode.BADVERS, f"rcode {dns.rcode.to_text(r.rcode())}, expected BADVERS (16)"
    assert r.edns == 0, f"BADVERS reply must carry OPT version 0, got version {r.edns}"
    assert r.answer == []


def test_edns_version_1_badvers_with_dig(parasold):
    p = dig(parasold.addr, parasold.port, "+edns=1", "+noednsneg", "badvers2.example.test", "A")
    assert "status: BADVERS" in p.stdout, p.stdout + p.stderr


def test_unknown_edns_option_ignored_and_not_echoed(parasold):
    opt = dns.edns.GenericOption(65001, b"parasol-test")
    r = parasold.ask("ednsopt.example.test", "A", options=[opt])
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]
    assert all(o.otype != 65001 for o in r.options), f"unknown option echoed: {r.options}"


def test_do_bit_echoed_when_set(parasold):
    r = parasold.ask("do.example.test", "A", do=True)
    assert r.ednsflags & DO, "DO bit set in query but not in reply"
    assert a_addrs(r) == ["192.0.2.1"]


def test_do_bit_not_set_when_not_asked(parasold):
    r = parasold.ask("nodo.example.test", "A", do=False)
    assert not (r.ednsflags & DO), "DO bit in reply although the query did not set it"


def test_unknown_edns_flag_bits_not_echoed(parasold):
    q = make_query("ednsflags.example.test", "A")
    q.ednsflags |= 0x4000 | 0x0001
    r = parasold.udp(q)
    assert a_addrs(r) == ["192.0.2.1"]
    assert (r.ednsflags & 0xFFFF) & ~DO == 0, f"unknown EDNS flag bits echoed: {r.ednsflags & 0xFFFF:#06x}"


def test_header_z_flag_not_echoed(parasold):
    q = make_query("zflag.example.test", "A")
    q.flags |= 0x0040
    r = parasold.udp(q)
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]
    assert not (r.flags & 0x0040), "Z bit echoed in reply header"


def test_reply_header_flags(parasold):
    r = parasold.ask("flags.example.test", "A")
    assert r.flags & dns.flags.RD, "RD not copied from query"
    assert r.flags & dns.flags.RA, "RA not set by a recursive resolver"
    assert not (r.flags & dns.flags.TC)


def test_no_edns_query_gets_no_opt(parasold):
    r = parasold.ask("noedns.example.test", "A", edns=None)
    assert r.edns == -1, f"OPT in reply to non-EDNS query: {r}"
    assert a_addrs(r) == ["192.0.2.1"]


# ------------------------------------------------------------------ opcodes

@pytest.mark.parametrize("opcode", [1, 2, 4, 5, 15])
def test_non_query_opcode_notimp(parasold, opcode):
    q = make_query("opcode.example.test", "SOA", edns=None)
    wire = bytearray(q.to_wire())
    flags = struct.unpack("!H", wire[2:4])[0]
    flags = (flags & ~0x7800) | (opcode << 11)
    wire[2:4] = struct.pack("!H", flags)
    data, _ = udp_send_recv(bytes(wire), parasold.addr, parasold.port, timeout=3)
    assert data is not None, f"no reply to opcode {opcode}"
    rid, rflags, *_ = header(data)
    assert rid == q.id
    assert rflags & 0x8000, "QR not set"
    assert rflags & 0x000F == dns.rcode.NOTIMP, f"opcode {opcode}: rcode {rflags & 0xF}, expected NOTIMP (4)"


def test_notify_with_kdig_gets_notimp(parasold):
    p = kdig(parasold.addr, parasold.port, "example.test", "NOTIFY")
    assert "NOTIMP" in p.stdout, p.stdout + p.stderr


# ------------------------------------------------------------------ UDP truncation

def test_big_answer_truncated_for_non_edns_udp_client(parasold, upstream):
    q = make_query("big.example.test", "A", edns=None)
    data, _ = udp_send_recv(q.to_wire(), parasold.addr, parasold.port)
    assert data is not None, "no reply"
    assert len(data) <= 512, f"{len(data)}-byte UDP reply to a non-EDNS client"
    r = parse(data)
    assert r.id == q.id
    assert r.flags & dns.flags.TC, "reply > 512 bytes to a non-EDNS client not truncated (TC=0)"


def test_big_answer_full_for_edns_client(parasold, upstream):
    r = parasold.ask("big.example.test", "A", payload=1232)
    assert not (r.flags & dns.flags.TC)
    assert len(a_addrs(r)) == 40
    assert len(r.raw) <= 1232


def test_big_answer_non_edns_dig_then_tcp(parasold, upstream):
    p = dig(parasold.addr, parasold.port, "+noedns", "+ignore", "big-2.example.test", "A")
    assert " tc" in p.stdout.split("flags:")[1].split(";")[0], f"TC not set for non-EDNS client:\n{p.stdout}"
    p = dig(parasold.addr, parasold.port, "+tcp", "+noall", "+answer", "big-2.example.test", "A")
    assert len([a for a in parse_answer_lines(p.stdout) if a[2] == "A"]) == 40, p.stdout


def test_huge_answer_truncated_at_1232_for_edns_client(parasold, upstream):
    q = make_query("huge.example.test", "A", payload=1232)
    data, _ = udp_send_recv(q.to_wire(), parasold.addr, parasold.port)
    assert data is not None
    assert len(data) <= 1232, f"{len(data)}-byte UDP reply to a client advertising 1232"
    assert parse(data).flags & dns.flags.TC
    r = tcp(q, parasold.addr, parasold.port)
    assert len(a_addrs(r)) == 100
    assert not (r.flags & dns.flags.TC)


def test_small_edns_size_client_gets_truncation(parasold, upstream):
    """A client advertising 512 (the minimum) must not receive more than 512 bytes."""
    q = make_query("big-512.example.test", "A", payload=512)
    data, _ = udp_send_recv(q.to_wire(), parasold.addr, parasold.port)
    assert data is not None
    assert len(data) <= 512
    assert parse(data).flags & dns.flags.TC


# ------------------------------------------------------------------ listeners

def _raw_udp_from(addr, port, name):
    q = make_query(name, "A")
    data, src = udp_send_recv(q.to_wire(), addr, port, timeout=3)
    assert data is not None, f"no UDP reply from {addr}:{port}"
    r = parse(data)
    assert r.id == q.id
    return r, src


def test_ipv4_and_ipv6_listeners_udp_tcp(parasold_factory, upstream):
    port = free_port(("127.0.0.1", "::1"))
    p = parasold_factory(upstreams=[upstream], listen=[f"127.0.0.1:{port}", f"[::1]:{port}"])
    for addr in ("127.0.0.1", "::1"):
        r, src = _raw_udp_from(addr, port, f"listen-{'v6' if ':' in addr else 'v4'}.example.test")
        assert a_addrs(r) == ["192.0.2.1"]
        assert src[0] == addr and src[1] == port, f"UDP reply to {addr}:{port} came from {src[:2]}"
        rt = tcp(make_query("listen-tcp.example.test", "AAAA"), addr, port)
        assert a_addrs(rt, "AAAA") == ["2001:db8::1"]
    assert p.alive()


def test_ipv6_listener_with_dig(parasold_factory, upstream):
    port = free_port(("::1",))
    parasold_factory(upstreams=[upstream], listen=[f"[::1]:{port}"])
    p = dig("::1", port, "v6dig.example.test", "A", "+noall", "+answer")
    assert [a[3] for a in parse_answer_lines(p.stdout)] == ["192.0.2.1"], p.stdout + p.stderr


def test_reply_source_matches_queried_address_two_ipv4_listeners(parasold_factory, upstream):
    port = free_port(("127.0.0.1", "127.0.0.5"))
    parasold_factory(upstreams=[upstream], listen=[f"127.0.0.1:{port}", f"127.0.0.5:{port}"])
    for addr in ("127.0.0.5", "127.0.0.1"):
        r, src = _raw_udp_from(addr, port, "srcaddr.example.test")
        assert src[:2] == (addr, port), f"UDP reply to {addr}:{port} came from {src[:2]}"


def test_default_listen_port_53(parasold_factory, upstream):
    if not (port_free("127.0.0.1", 53) and port_free("::1", 53)):
        pytest.skip("port 53 on 127.0.0.1 or ::1 is busy (or not bindable by this user)")
    p = parasold_factory(f"--upstream={upstream.hostport}", "--log-level=info", defaults=False)
    for addr in ("127.0.0.1", "::1"):
        r = udp(make_query("default53.example.test", "A"), addr, 53)
        assert a_addrs(r) == ["192.0.2.1"]
        r = tcp(make_query("default53.example.test", "A"), addr, 53)
        assert a_addrs(r) == ["192.0.2.1"]
    assert p.alive()
