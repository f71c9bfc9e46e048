"""Client-side helpers and the parasold process wrapper for the integration tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# $PARASOL_BUILD_DIR (relative to the checkout, or absolute) picks the build
# the binaries come from: tests/run.sh runs the suite again on build-asan.
BUILD_DIR = os.path.join(ROOT, os.environ.get("PARASOL_BUILD_DIR") or "build")
DEFAULT_BINARY = os.path.join(BUILD_DIR, "resolver", "parasold")
DEFAULT_CLI = os.path.join(BUILD_DIR, "tools", "parasol")
DEFAULT_UPDATE = os.path.join(BUILD_DIR, "feeds", "parasol-update")

# What AddressSanitizer, LeakSanitizer and UBSan print when they find
# something; a sanitizer build's process that prints one has a bug.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The sanitizer report in text (from its first line), or None."""
    for mark in SANITIZER_MARKS:
        i = text.find(mark)
        if i >= 0:
            start = text.rfind("\n", 0, i) + 1
            return text[start:start + 6000]
    return None


def binary_path():
    return os.environ.get("PARASOLD") or DEFAULT_BINARY


def cli_binary_path():
    return os.environ.get("PARASOL_CLI") or DEFAULT_CLI


def update_binary_path():
    return os.environ.get("PARASOL_UPDATE") or DEFAULT_UPDATE


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def hostport(addr, port):
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def free_port(addrs=("127.0.0.1",)):
    """A port number currently free for both UDP and TCP on every addr."""
    for _ in range(100):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        socks = []
        ok = True
        for a in addrs:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(family(a), kind)
                socks.append(s)
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
        for s in socks:
            s.close()
        if ok:
            return port
    raise RuntimeError("no free port found")


def port_free(addr, port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(family(addr), kind)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


# ---------------------------------------------------------------- messages

def make_query(name, rdtype="A", edns=0, payload=1232, do=False, options=None, id=None, rd=True):
    """edns=None -> no OPT record."""
    q = dns.message.make_query(name, rdtype, use_edns=False)
    if not rd:
        q.flags &= ~dns.flags.RD
    if edns is not None:
        q.use_edns(edns, dns.flags.DO if do else 0, payload, options=options or [])
    if id is not None:
        q.id = id
    return q


def parse(wire):
    return dns.message.from_wire(wire, ignore_trailing=True)


def header(wire):
    """(id, flags, qd, an, ns, ar) from raw wire; flags includes QR/opcode/rcode bits."""
    return struct.unpack("!HHHHHH", wire[:12])


def udp_send_recv(wire, addr, port, timeout=3.0, source=None):
    """Send one datagram; return (reply_bytes, reply_source) or (None, None) on timeout.

    Replies from any source are accepted so tests can check where they came from.
    """
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    try:
        s.bind((source or ("::1" if ":" in addr else "127.0.0.1"), 0))
        s.settimeout(timeout)
        s.sendto(wire, (addr, port))
        try:
            data, src = s.recvfrom(65535)
        except socket.timeout:
            return None, None
        return data, src
    finally:
        s.close()


class NoReply(AssertionError):
    pass


def _check_reply(q, r, how):
    assert r.id == q.id, f"{how}: reply ID {r.id} != query ID {q.id}"
    assert r.flags & dns.flags.QR, f"{how}: reply without QR flag"
    return r


def udp(q, addr, port, timeout=3.0, source=None):
    """Send message q over UDP, return parsed reply (asserts ID match and QR)."""
    wire = q.to_wire()
    data, src = udp_send_recv(wire, addr, port, timeout, source)
    if data is None:
        raise NoReply(f"no UDP reply within {timeout}s to {q.question[0] if q.question else q} sent to {hostport(addr, port)}")
    r = parse(data)
    r.raw = data
    r.src = src
    return _check_reply(q, r, "udp")


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)}/{n} bytes")
        buf += chunk
    return buf


def tcp_read_msg(s):
    n = struct.unpack("!H", recv_exact(s, 2))[0]
    return recv_exact(s, n)


def tcp_connect(addr, port, timeout=3.0, source=None):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def tcp(q, addr, port, timeout=3.0, source=None):
    s = tcp_connect(addr, port, timeout, source)
    try:
        w = q.to_wire()
        s.sendall(struct.pack("!H", len(w)) + w)
        try:
            data = tcp_read_msg(s)
        except (socket.timeout, EOFError, ConnectionResetError) as e:
            raise NoReply(f"no TCP reply to {q.question[0]} from {hostport(addr, port)}: {e!r}")
        r = parse(data)
        r.raw = data
        return _check_reply(q, r, "tcp")
    finally:
        s.close()


def a_addrs(r, rdtype="A"):
    out = []
    for rr in r.answer:
        if rr.rdtype == dns.rdatatype.from_text(rdtype):
            out.extend(x.to_text() for x in rr)
    return sorted(out)


def answer_ttl(r, rdtype="A"):
    for rr in r.answer:
        if rr.rdtype == dns.rdatatype.from_text(rdtype):
            return rr.ttl
    raise AssertionError(f"no {rdtype} RRset in answer: {r}")


def soa_ttl(r):
    for rr in r.authority:
        if rr.rdtype == dns.rdatatype.SOA:
            return rr.ttl
    raise AssertionError(f"no SOA in authority section: {r}")


def ede_codes(r):
    return [o.code for o in r.options if o.otype == dns.edns.OptionType.EDE]


def ede_list(r):
    """[(code, text), ...] of the reply's Extended DNS Errors; text '' when absent."""
    return [(o.code, o.text or "") for o in r.options if o.otype == dns.edns.OptionType.EDE]


def rcode_text(r):
    return dns.rcode.to_text(r.rcode())


# ---------------------------------------------------------------- real clients

def run_tool(argv, timeout=15):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p


def dig(addr, port, *args, timeout=15):
    argv = ["dig", f"@{addr}", "-p", str(port), "+time=3", "+tries=1", *args]
    p = run_tool(argv, timeout)
    return p


def kdig(addr, port, *args, timeout=15):
    argv = ["kdig", f"@{addr}", "-p", str(port), "+timeout=3", "+retry=0", *args]
    return run_tool(argv, timeout)


def drill(addr, port, *args, timeout=15):
    argv = ["drill", "-p", str(port), *args, f"@{addr}"]
    return run_tool(argv, timeout)


def parse_answer_lines(text):
    """Parse 'name ttl class type rdata' lines (dig +noall +answer / drill answer section)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        parts = line.split()
        if len(parts) >= 5 and parts[2] == "IN":
            out.append((parts[0], int(parts[1]), parts[3], " ".join(parts[4:])))
    return out


# ---------------------------------------------------------------- parasold process

READY_RE = re.compile(r"\bready\b", re.I)


class Parasold:
    def __init__(self, args, env=None, name="parasold"):
        self.args = [binary_path()] + list(args)
        # Never inherit a PARASOL_CONFIG from the caller's environment; tests
        # that exercise it pass it explicitly.  A value of None removes a key.
        self.env = dict(os.environ)
        self.env.pop("PARASOL_CONFIG", None)
        for k, v in (env or {}).items():
            if v is None:
                self.env.pop(k, None)
            else:
                self.env[k] = v
        self.lines = []
        self._cond = threading.Condition()
        self.proc = None
        self.listen = None  # (addr, port) of the first listener, set by the factory
        self._reader = None

    def start(self, wait_ready=True, timeout=10.0, preexec_fn=None):
        self.proc = subprocess.Popen(
            self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env, cwd=ROOT, preexec_fn=preexec_fn,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if wait_ready:
            idx = self.wait_for(READY_RE, timeout=timeout, exit_ok=True)
            if idx is None:
                rc = self.proc.poll()
                tail = self.stderr_text()[-3000:]
                self.kill()
                if rc is not None:
                    raise AssertionError(f"parasold exited with {rc} before printing 'ready'; argv={self.args}\nstderr:\n{tail}")
                raise AssertionError(f"parasold did not print 'ready' within {timeout}s; argv={self.args}\nstderr:\n{tail}")
        return self

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def stderr_text(self):
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, regex, timeout=5.0, start=0, exit_ok=False):
        """Index of the first stderr line >= start matching regex, or None on timeout/exit."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if regex.search(self.lines[i]):
                        return i
                start = max(start, len(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self.proc.poll() is not None and not self._reader.is_alive():
                    return None
                self._cond.wait(min(left, 0.1))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stats(self, timeout=5.0):
        """Send SIGUSR1 and parse the resulting 'stats:' line into a dict of ints."""
        start = len(self.lines)
        self.signal(signal.SIGUSR1)
        idx = self.wait_for(re.compile(r"stats:"), timeout=timeout, start=start)
        assert idx is not None, f"no 'stats:' line on stderr within {timeout}s after SIGUSR1\nstderr tail:\n{self.stderr_text()[-2000:]}"
        line = self.lines[idx]
        self.last_stats_line = line
        out = {}
        for k, v in re.findall(r"([A-Za-z0-9_.-]+)=(\S+)", line[line.index("stats:"):]):
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
        return out

    def stop(self, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def wait_exit(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        # The last stderr lines may still be on their way to self.lines.
        if self._reader is not None:
            self._reader.join(2.0)
        return rc

    # convenience: queries against the first listener
    def udp(self, q, **kw):
        return udp(q, self.addr, self.port, **kw)

    def tcp(self, q, **kw):
        return tcp(q, self.addr, self.port, **kw)

    def ask(self, name, rdtype="A", transport="udp", timeout=3.0, source=None, **qkw):
        q = make_query(name, rdtype, **qkw)
        fn = udp if transport == "udp" else tcp
        return fn(q, self.addr, self.port, timeout=timeout, source=source)


def dead_port_for(addr="127.0.0.1"):
    """A port on addr where nothing listens (UDP gets ICMP unreachable, TCP is refused)."""
    from fakeupstream import dead_port
    return dead_port(addr)


# ---------------------------------------------------------------- lists.db

class Lists:
    """One lists.db in a private folder, edited as an admin would: local
    rules with the CLI (`parasol allow|deny`), feeds with `parasol feeds add`
    and parasol-update.  After start(), edits ask that parasold to reload
    over its control socket (reload=False: the edit is made by a process
    that cannot reach it, as by a cron job on another control path).
    """

    def __init__(self, folder, cli, update=None):
        self.folder = folder
        self.db = os.path.join(folder, "lists.db")
        self.nowhere = os.path.join(folder, "no-parasold.sock")
        self._cli = cli
        self._update = update
        self.daemon = None

    def start(self, factory, upstream, *extra, poll=0):
        """parasold serving this lists.db (--lists-poll=poll unless given)."""
        args = [f"--lists-db={self.db}"]
        if not any(a.startswith("--lists-poll=") for a in extra):
            args.append(f"--lists-poll={poll}")
        d = factory(*args, *extra, upstreams=[upstream])
        d.upstream = upstream
        self.daemon = d
        return d

    def control(self, reload=True):
        if reload and self.daemon is not None and self.daemon.control:
            return self.daemon.control
        return self.nowhere

    def cli(self, *args, reload=True, **kw):
        """Run the CLI on this lists.db; CompletedProcess."""
        return self._cli(f"--lists-db={self.db}", f"--control={self.control(reload)}", *args, **kw)

    def _rule(self, kind, verb, name, exact=False, comment=None, reload=True):
        args = [kind, verb, name]
        if exact:
            args.append("--exact")
        if comment is not None:
            args.append(f"--comment={comment}")
        p = self.cli(*args, reload=reload)
        assert p.returncode == 0, f"parasol {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        if reload and self.daemon is not None:
            assert "parasold reloaded" in p.stderr, f"parasol {' '.join(args)} did not reload:\n{p.stderr}"
        return p

    def deny(self, name, exact=False, comment=None, reload=True):
        return self._rule("deny", "add", name, exact, comment, reload)

    def allow(self, name, exact=False, comment=None, reload=True):
        return self._rule("allow", "add", name, exact, comment, reload)

    def deny_rm(self, name, reload=True):
        return self._rule("deny", "rm", name, reload=reload)

    def allow_rm(self, name, reload=True):
        return self._rule("allow", "rm", name, reload=reload)

    def feed(self, feed_id, names, category="mining", match=None, reload=True):
        """A feed read from a local file of names (one per line), declared
        and fetched into lists.db by parasol-update."""
        assert self._update is not None, "test bug: Lists without parasol-update"
        path = os.path.join(self.folder, f"{feed_id}.txt")
        with open(path, "w") as f:
            f.write("".join(n + "\n" for n in names))
        args = ["feeds", "add", feed_id, path, "--format=domains", f"--category={category}"]
        if match:
            args.append(f"--match={match}")
        p = self.cli(*args, reload=reload)
        assert p.returncode == 0, f"parasol {' '.join(args)}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        p = self._update()(f"--lists-db={self.db}", f"--control={self.control(reload)}", f"--feed={feed_id}")
        assert p.returncode == 0, f"parasol-update --feed={feed_id}: exit {p.returncode}\n{p.stdout}{p.stderr}"
        return p
