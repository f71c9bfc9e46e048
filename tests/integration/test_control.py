"""The control socket with hostile requests, spoken to with a raw unix
socket: one request line in, one reply line out. A request is only what
its whole line says (a NUL byte does not cut it short), an unknown one is
echoed without the control bytes it carried, and an overlong line is
refused. The fuzz harness tests/fuzz/fuzz_control.c drives the same
parser without a socket."""

import socket
import time


def ask(path, data, timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while not out.endswith(b"\n") and time.monotonic() < deadline:
            chunk = s.recv(8192)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def test_control_requests(parasold):
    path = parasold.control
    assert path, "parasold has no --control"
    assert ask(path, b"ping\n") == b"ok\n"
    assert ask(path, b"ping\r\n") == b"ok\n"
    # Read in pieces: the line is whole only at its newline.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    for b in (b"pi", b"n", b"g\n"):
        s.sendall(b)
        time.sleep(0.05)
    assert s.recv(100) == b"ok\n"
    s.close()


def test_control_nul_is_not_a_request(parasold):
    r = ask(parasold.control, b"ping\0 and more\n")
    assert r == b"error request contains a NUL byte\n", r
    r = ask(parasold.control, b"reload\0\n")
    assert r.startswith(b"error "), r
    # The daemon still answers.
    assert ask(parasold.control, b"ping\n") == b"ok\n"


def test_control_unknown_is_echoed_printable(parasold):
    r = ask(parasold.control, b"\x1b[2Jshutdown\x07\n")
    assert r == b"error unknown request '?[2Jshutdown?'\n", r
    assert r.count(b"\n") == 1 and all(0x20 <= c < 0x7f for c in r[:-1])


def test_control_overlong_line(parasold):
    r = ask(parasold.control, b"p" * 5000)
    assert r == b"error request too long\n", r[:100]
    assert ask(parasold.control, b"ping\n") == b"ok\n"
