"""Malformed input: for each packet either no reply or a reply no larger than the packet sent
(an error rcode where the packet is clearly malformed); afterwards the daemon still answers."""

import random
import socket
import struct
import time

import pytest

from helpers import a_addrs, make_query, rcode_text, tcp_connect, udp_send_recv

QNAME = b"\x03www\x07example\x04test\x00"
QTAIL = struct.pack("!HH", 1, 1)  # A IN


def hdr(id=0x4242, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", id, flags, qd, an, ns, ar)


def opt_rr(payload=1232):
    return b"\x00" + struct.pack("!HHIH", 41, payload, 0, 0)


def _garbage(seed, n):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))


# name -> (packet, clearly_malformed): clearly malformed packets must not get NOERROR
PACKETS = {
    "empty": (b"", True),
    "short-header-5": (b"\x12\x34\x01\x00\x00", True),
    "header-only-qd1": (hdr(), True),
    "compression-self-loop": (hdr() + b"\xc0\x0c" + QTAIL, True),
    "compression-two-hop-loop": (hdr() + b"\xc0\x0e\xc0\x0c" + QTAIL, True),
    "compression-loop-after-label": (hdr() + b"\x03abc\xc0\x0c" + QTAIL, True),
    "qdcount-0": (hdr(qd=0), True),
    "qdcount-2": (hdr(qd=2) + QNAME + QTAIL + b"\x03foo\x07example\x04test\x00" + QTAIL, True),
    "label-64": (hdr() + b"\x40" + b"a" * 64 + b"\x00" + QTAIL, True),
    "name-over-255": (hdr() + (b"\x3f" + b"a" * 63) * 5 + b"\x00" + QTAIL, True),
    "pointer-forward": (hdr() + b"\xc0\x12" + QTAIL + b"\x03www\x00", False),
    "pointer-out-of-packet": (hdr() + b"\xc0\xff" + QTAIL, True),
    "reserved-label-type-0x80": (hdr() + b"\x83www\x00" + QTAIL, True),
    "truncated-qname": (hdr() + b"\x03www\x07exa", True),
    "missing-qtype": (hdr() + QNAME, True),
    "ancount-without-data": (hdr(an=5) + QNAME + QTAIL, True),
    "arcount-without-data": (hdr(ar=3) + QNAME + QTAIL, True),
    "two-opt-records": (hdr(ar=2) + QNAME + QTAIL + opt_rr() + opt_rr(), True),
    "opt-with-bad-rdlen": (hdr(ar=1) + QNAME + QTAIL + b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 40), True),
    "qr-set-response": (hdr(flags=0x8180, an=1) + QNAME + QTAIL
                        + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 99]), False),
    "qr-set-bare": (hdr(flags=0x8000) + QNAME + QTAIL, False),
    "garbage-30": (_garbage(1, 30), False),
    "garbage-100": (_garbage(2, 100), False),
    "garbage-300": (_garbage(3, 300), False),
    "all-ff-64": (b"\xff" * 64, False),
    "all-zero-512": (b"\x00" * 512, False),
}


def check_reply(name, pkt, reply, clearly_malformed):
    if reply is None:
        return
    assert len(reply) <= len(pkt), \
        f"{name}: {len(reply)}-byte reply to a {len(pkt)}-byte packet (amplification)"
    if clearly_malformed and len(reply) >= 4:
        rcode = reply[3] & 0x0F
        assert rcode != 0, f"{name}: malformed packet answered with NOERROR: {reply.hex()}"


def assert_still_serving(p, name="after.example.test"):
    assert p.alive(), f"parasold died (exit code {p.proc.returncode})"
    r = p.ask(name, "A", timeout=3)
    assert rcode_text(r) == "NOERROR"
    assert a_addrs(r) == ["192.0.2.1"]


@pytest.mark.parametrize("name", list(PACKETS))
def test_malformed_udp_packet(parasold, name):
    pkt, clearly = PACKETS[name]
    reply, _ = udp_send_recv(pkt, parasold.addr, parasold.port, timeout=0.5)
    check_reply(name, pkt, reply, clearly)
    assert_still_serving(parasold, f"after-{name}.example.test")


def test_malformed_batch_then_normal_query_and_counters(parasold):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    try:
        for _ in range(3):
            for pkt, _c in PACKETS.values():
                s.sendto(pkt, (parasold.addr, parasold.port))
        # drain whatever comes back, checking sizes are never larger than the largest probe
        s.settimeout(0.5)
        biggest = max(len(p) for p, _ in PACKETS.values())
        while True:
            try:
                data, _src = s.recvfrom(65535)
            except socket.timeout:
                break
            assert len(data) <= biggest
    finally:
        s.close()
    assert_still_serving(parasold)
    st = parasold.stats()
    assert "formerr" in st and "dropped" in st, parasold.last_stats_line
    assert st["formerr"] + st["dropped"] >= 1, f"malformed packets not counted: {parasold.last_stats_line}"


def test_qdcount2_formerr_counted_if_answered(parasold):
    pkt, _ = PACKETS["qdcount-2"]
    reply, _ = udp_send_recv(pkt, parasold.addr, parasold.port, timeout=0.5)
    st = parasold.stats()
    if reply is not None and reply[3] & 0x0F == 1:
        assert st.get("formerr", 0) >= 1, f"FORMERR sent but formerr counter not incremented: {parasold.last_stats_line}"
    else:
        assert st.get("dropped", 0) + st.get("formerr", 0) >= 1, parasold.last_stats_line


# ------------------------------------------------------------------ TCP

def _tcp_send_then_close(p, data, pause=0.2):
    s = tcp_connect(p.addr, p.port)
    try:
        s.sendall(data)
        time.sleep(pause)
        s.settimeout(0.5)
        try:
            reply = s.recv(65535)
        except (socket.timeout, ConnectionResetError):
            reply = b""
    finally:
        s.close()
    return reply


TCP_CASES = {
    "zero-length": struct.pack("!H", 0),
    "five-byte-message": struct.pack("!H", 5) + b"\x12\x34\x01\x00\x00",
    "length-65535-short-body": struct.pack("!H", 65535) + b"\x00" * 100,
    "single-byte": b"\x00",
    "compression-loop": struct.pack("!H", 16) + hdr() + b"\xc0\x0c" + QTAIL,
    "garbage": struct.pack("!H", 200) + _garbage(4, 200),
    "qr-set": struct.pack("!H", 12 + len(QNAME) + 4) + hdr(flags=0x8000) + QNAME + QTAIL,
}


@pytest.mark.parametrize("name", list(TCP_CASES))
def test_malformed_tcp(parasold, name):
    data = TCP_CASES[name]
    reply = _tcp_send_then_close(parasold, data)
    if name == "compression-loop" and len(reply) >= 6:
        assert reply[2 + 3] & 0x0F != 0, f"compression loop over TCP answered with NOERROR: {reply.hex()}"
    if name == "qr-set" and len(reply) >= 2:
        n = struct.unpack("!H", reply[:2])[0]
        assert n <= len(data) - 2, f"{n}-byte reply to a {len(data) - 2}-byte QR=1 message"
    assert_still_serving(parasold, f"tcp-after-{name}.example.test")
    r = parasold.ask(f"tcp2-after-{name}.example.test", "A", transport="tcp")
    assert a_addrs(r) == ["192.0.2.1"]


def test_garbage_then_valid_on_same_tcp_connection_daemon_survives(parasold):
    s = tcp_connect(parasold.addr, parasold.port)
    try:
        q = make_query("tcpmix.example.test")
        w = q.to_wire()
        s.sendall(struct.pack("!H", 5) + b"\x00" * 5 + struct.pack("!H", len(w)) + w)
        time.sleep(0.3)
    finally:
        s.close()
    assert_still_serving(parasold)
