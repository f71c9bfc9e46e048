"""Scripted, data-driven fake upstream DNS server for parasold integration tests.

Runs in background threads inside the pytest process, serving UDP and TCP on
one loopback address/port.  Every query is recorded (see ``Query``).

Behaviour is chosen per query name:

* an explicit override set with ``FakeUpstream.set(name, **behaviour)``
  (exact name, case-insensitive), else
* a prefix rule on the first label of the name (the part before the first
  ``-``), see ``PREFIX_RULES``: ``nx``, ``nodata``, ``tc``, ``big``, ``huge``,
  ``wrongid``, ``wrongq``, ``wrongsrc``, ``delay``, ``drop``, else
* the default: A -> 192.0.2.1 TTL 300, AAAA -> 2001:db8::1 TTL 300, other
  types NOERROR/NODATA with an SOA in the authority section.

Only loopback addresses are ever used.
"""

from __future__ import annotations

import dataclasses
import select
import socket
import struct
import threading
import time
from typing import Callable, Optional

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

POISON_A = "198.51.100.66"
POISON_AAAA = "2001:db8::bad"


@dataclasses.dataclass
class Behaviour:
    # Records to answer with: {rdtype_text: [rdata_text, ...]}.  None -> the
    # default (A 192.0.2.1 / AAAA 2001:db8::1).  A type missing from the dict
    # gives NODATA.
    records: Optional[dict] = None
    ttl: int = 300
    rcode: int = dns.rcode.NOERROR
    nxdomain: bool = False
    nodata: bool = False
    soa_ttl: int = 60
    soa_minimum: int = 60
    # Always answer UDP with TC=1 and no records; TCP gets the full answer.
    tc_udp: bool = False
    # Number of A records in the answer (a "big" answer), 0 = use records.
    many_a: int = 0
    delay_ms: int = 0
    drop: bool = False
    # Send a bogus reply first: "wrong_id", "wrong_question", "wrong_source".
    bogus_first: Optional[str] = None
    bogus_gap_ms: int = 60
    # Fully custom responder: fn(query_msg, transport) -> Message or None
    handler: Optional[Callable] = None
    # Answer with a CNAME chain first: the query name -> cnames[0] -> ...;
    # the records (or NODATA) then belong to the last name of the chain.
    cnames: Optional[list] = None
    # Records added to the genuine answer, by section: {"answer": [...],
    # "authority": [...], "additional": [...]}, each "name ttl IN type rdata";
    # "answer_first" puts them before the genuine answer records
    # (the poisoner's extras: out-of-bailiwick data next to a real answer).
    extra: Optional[dict] = None
    # Hostile replies sent over UDP before the genuine one, with the
    # query's own ID and source (see HOSTILE_KINDS); hostile_only: the
    # genuine answer never comes.
    hostile: Optional[str] = None
    hostile_only: bool = False
    # So many replies with random wrong IDs before the genuine one.
    flood: int = 0


def _b(**kw):
    return lambda: Behaviour(**kw)


PREFIX_RULES = {
    "nx": _b(nxdomain=True),
    "nodata": _b(nodata=True),
    "tc": _b(tc_udp=True, many_a=40),
    "big": _b(many_a=40),
    "huge": _b(many_a=100),
    "wrongid": _b(bogus_first="wrong_id"),
    "wrongq": _b(bogus_first="wrong_question"),
    "wrongsrc": _b(bogus_first="wrong_source"),
    "delay": _b(delay_ms=500),
    "drop": _b(drop=True),
}

# Hostile replies (same ID and source as the genuine answer).  Each carries
# POISON_A (or a poisoned name), so a client that gets it shows it.
HOSTILE_KINDS = (
    "qr0",          # QR bit clear
    "opcode",       # opcode STATUS
    "wrong_type",   # question type changed
    "wrong_class",  # question class CH
    "wrong_name",   # question name changed
    "ptr_loop",     # owner name: a label, then a pointer back to itself
    "ptr_forward",  # owner name: a pointer to a later offset
    "ptr_oob",      # owner name: a pointer past the end of the packet
    "rdata_loop",   # an MX whose exchange name loops
    "count_more",   # ANCOUNT says 3, one record present
    "trailing",     # garbage after the last record
)


@dataclasses.dataclass
class Query:
    qname: str            # as received, case preserved, e.g. "WwW.example.test."
    qtype: str            # e.g. "A"
    id: int
    transport: str        # "udp" or "tcp"
    source: tuple         # (addr, port)
    edns: int             # EDNS version, -1 if no OPT
    payload: int          # EDNS UDP payload size, 0 if no OPT
    do: bool
    options: list
    flags: int
    opcode: int
    time: float
    wire: bytes

    @property
    def name(self):
        return self.qname.lower()


def _family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _bind_pair(addr, port=0):
    """Bind a UDP and a TCP socket on the same (addr, port)."""
    fam = _family(addr)
    last = None
    for _ in range(50):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        try:
            u.bind((addr, port))
            p = u.getsockname()[1]
            t = socket.socket(fam, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                t.bind((addr, p))
            except OSError as e:
                t.close()
                u.close()
                last = e
                if port:
                    raise
                continue
            t.listen(64)
            return u, t
        except OSError as e:
            u.close()
            last = e
            if port:
                raise
    raise last


class FakeUpstream:
    def __init__(self, addr="127.0.0.1", port=0, drop_all=False, zone="example.test."):
        self.addr = addr
        self.udp, self.tcp = _bind_pair(addr, port)
        self.port = self.udp.getsockname()[1]
        self.drop_all = drop_all
        self.zone = dns.name.from_text(zone)
        self.overrides = {}
        self.log = []
        self.errors = []
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._timers = []
        self._conns = []
        # separate socket used for "wrong source" bogus replies
        self._other = socket.socket(_family(addr), socket.SOCK_DGRAM)
        self._other.bind((addr, 0))

    # ---- public API -------------------------------------------------
    @property
    def hostport(self):
        if ":" in self.addr:
            return f"[{self.addr}]:{self.port}"
        return f"{self.addr}:{self.port}"

    def set(self, name, **kw):
        """Configure the behaviour for an exact name (case-insensitive)."""
        key = dns.name.from_text(name).to_text().lower()
        self.overrides[key] = Behaviour(**kw)

    def queries(self, name=None, qtype=None, transport=None):
        with self._lock:
            out = list(self.log)
        if name is not None:
            n = dns.name.from_text(name).to_text().lower()
            out = [q for q in out if q.name == n]
        if qtype is not None:
            out = [q for q in out if q.qtype == qtype]
        if transport is not None:
            out = [q for q in out if q.transport == transport]
        return out

    def clear(self):
        with self._lock:
            self.log.clear()

    def start(self):
        for fn in (self._udp_loop, self._tcp_loop):
            th = threading.Thread(target=fn, daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self):
        self._stop.set()
        for t in list(self._timers):
            t.cancel()
        for th in self._threads:
            th.join(timeout=2)
        for c in list(self._conns):
            try:
                c.close()
            except OSError:
                pass
        for s in (self.udp, self.tcp, self._other):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # ---- behaviour --------------------------------------------------
    def behaviour_for(self, qname):
        key = qname.to_text().lower()
        if key in self.overrides:
            return self.overrides[key]
        first = qname.labels[0].decode("ascii", "replace").lower() if qname.labels else ""
        prefix = first.split("-", 1)[0]
        if prefix in PREFIX_RULES:
            return PREFIX_RULES[prefix]()
        return Behaviour()

    def _soa(self, qname, b):
        zone = self.zone if qname.is_subdomain(self.zone) else qname.parent() if len(qname) > 1 else qname
        rr = dns.rrset.from_text(
            zone, b.soa_ttl, "IN", "SOA",
            f"ns1.{zone.to_text()} hostmaster.{zone.to_text()} 2024010101 3600 600 86400 {b.soa_minimum}",
        )
        return rr

    def build_response(self, query, b, transport):
        if b.handler is not None:
            return b.handler(query, transport)
        resp = self._genuine(query, b)
        for section, rrs in (b.extra or {}).items():
            for text in rrs:
                name, ttl, rdclass, rdtype, rdata = text.split(None, 4)
                rrset = dns.rrset.from_text(name, int(ttl), rdclass, rdtype, rdata)
                if section == "answer_first":
                    resp.answer.insert(0, rrset)
                else:
                    getattr(resp, section).append(rrset)
        return resp

    def _genuine(self, query, b):
        resp = dns.message.make_response(query, our_payload=4096)
        resp.flags |= dns.flags.AA
        q = query.question[0]
        qname, qtype = q.name, q.rdtype
        if b.nxdomain:
            resp.set_rcode(dns.rcode.NXDOMAIN)
            resp.authority.append(self._soa(qname, b))
            return resp
        if b.rcode != dns.rcode.NOERROR:
            resp.set_rcode(b.rcode)
            return resp
        if b.nodata:
            resp.authority.append(self._soa(qname, b))
            return resp
        if b.many_a and qtype == dns.rdatatype.A:
            rdatas = [f"192.0.2.{i % 250 + 1}" if i < 250 else f"198.51.100.{i % 250 + 1}" for i in range(b.many_a)]
            # unique addresses for up to 500 records
            resp.answer.append(dns.rrset.from_text_list(qname, b.ttl, "IN", "A", rdatas))
            return resp
        for target in b.cnames or ():
            target = dns.name.from_text(target)
            resp.answer.append(dns.rrset.from_text(qname, b.ttl, "IN", "CNAME", target.to_text()))
            qname = target
        records = b.records
        if records is None:
            records = {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]}
        tname = dns.rdatatype.to_text(qtype)
        if tname in records and records[tname]:
            resp.answer.append(dns.rrset.from_text_list(qname, b.ttl, "IN", tname, records[tname]))
        else:
            resp.authority.append(self._soa(qname, b))
        return resp

    def _poison(self, query):
        resp = dns.message.make_response(query, our_payload=4096)
        q = query.question[0]
        if q.rdtype == dns.rdatatype.AAAA:
            resp.answer.append(dns.rrset.from_text(q.name, 300, "IN", "AAAA", POISON_AAAA))
        else:
            resp.answer.append(dns.rrset.from_text(q.name, 300, "IN", "A", POISON_A))
        return resp

    def hostile_wire(self, query, kind):
        """Wire bytes of one hostile reply to query (see HOSTILE_KINDS)."""
        q = query.question[0]
        if kind in ("qr0", "opcode", "wrong_type", "wrong_class", "wrong_name",
                    "count_more", "trailing"):
            r = self._poison(query)
            if kind == "opcode":
                r.set_opcode(dns.opcode.STATUS)
            elif kind == "wrong_type":
                r.question = [dns.rrset.RRset(q.name, q.rdclass, dns.rdatatype.TXT)]
            elif kind == "wrong_class":
                r.question = [dns.rrset.RRset(q.name, dns.rdataclass.CH, q.rdtype)]
            elif kind == "wrong_name":
                other = dns.name.from_text("poison.example.test.")
                r.question = [dns.rrset.RRset(other, q.rdclass, q.rdtype)]
            if kind in ("count_more", "trailing"):
                # No OPT record: it would have to be last, which gives
                # the lie away by itself.
                r.use_edns(False)
            wire = bytearray(r.to_wire(max_size=65535))
            if kind == "qr0":
                wire[2] &= 0x7F
            elif kind == "count_more":
                struct.pack_into("!H", wire, 6, 3)
            elif kind == "trailing":
                wire += b"\x00\x01garbage"
            return bytes(wire)
        # Hand-built: header, question, then one record whose names are bad.
        qwire = q.name.to_wire() + struct.pack("!HH", q.rdtype, q.rdclass)
        head = struct.pack("!HHHHHH", query.id, 0x8180, 1, 1, 0, 0)
        rr_at = 12 + len(qwire)
        a = socket.inet_aton(POISON_A)
        if kind == "ptr_loop":
            owner = b"\x01a" + struct.pack("!H", 0xC000 | rr_at)
            rr = owner + struct.pack("!HHIH", 1, 1, 300, 4) + a
        elif kind == "ptr_forward":
            # Two records; the first one's owner points at the second's.
            first = struct.pack("!H", 0xC000 | (rr_at + 16)) + struct.pack("!HHIH", 1, 1, 300, 4) + a
            rr = first + q.name.to_wire() + struct.pack("!HHIH", 1, 1, 300, 4) + a
            head = struct.pack("!HHHHHH", query.id, 0x8180, 1, 2, 0, 0)
        elif kind == "ptr_oob":
            owner = struct.pack("!H", 0xC000 | 0x3FF0)
            rr = owner + struct.pack("!HHIH", 1, 1, 300, 4) + a
        elif kind == "rdata_loop":
            # qname MX 10 <x.<pointer to x>>: the exchange points at itself.
            rdata_at = rr_at + 2 + 10
            rdata = struct.pack("!H", 10) + b"\x01x" + struct.pack("!H", 0xC000 | (rdata_at + 2))
            rr = struct.pack("!H", 0xC00C) + struct.pack("!HHIH", q.rdtype, 1, 300, len(rdata)) + rdata
        else:
            raise ValueError(kind)
        return head + qwire + rr

    def _flood(self, query, n, send):
        """n replies with random IDs (never the query's), carrying poison."""
        import random
        r = self._poison(query)
        wire = bytearray(r.to_wire(max_size=65535))
        rnd = random.Random(query.id)
        for i in range(n):
            bad = rnd.randrange(65536)
            if bad == query.id:
                bad ^= 0x8000
            struct.pack_into("!H", wire, 0, bad)
            send(bytes(wire))
            # Paced so the flood itself does not overflow the receiver's
            # socket buffer and hide the genuine answer behind kernel drops.
            if i % 25 == 24:
                time.sleep(0.002)

    def _bogus(self, query, kind):
        """Return (wire, via_other_socket)."""
        if kind == "wrong_id":
            r = self._poison(query)
            r.id = (query.id + 0x1111) & 0xFFFF
            return r.to_wire(max_size=65535), False
        if kind == "wrong_question":
            r = self._poison(query)
            q = query.question[0]
            other = dns.name.Name((b"poison",) + q.name.labels) if len(q.name.to_wire()) < 240 else dns.name.from_text("poison.test.")
            # rebuild the question with a different name, same ID
            r.question = [dns.rrset.RRset(other, q.rdclass, q.rdtype)]
            r.answer = [dns.rrset.from_text(other, 300, "IN", "A", POISON_A)]
            return r.to_wire(max_size=65535), False
        if kind == "wrong_source":
            return self._poison(query).to_wire(max_size=65535), True
        raise ValueError(kind)

    # ---- I/O --------------------------------------------------------
    def _record(self, query, wire, transport, source):
        q = query.question[0] if query.question else None
        rec = Query(
            qname=q.name.to_text() if q is not None else "",
            qtype=dns.rdatatype.to_text(q.rdtype) if q is not None else "",
            id=query.id,
            transport=transport,
            source=tuple(source[:2]),
            edns=query.edns,
            payload=query.payload if query.edns >= 0 else 0,
            do=bool(query.ednsflags & dns.flags.DO) if query.edns >= 0 else False,
            options=list(query.options),
            flags=query.flags,
            opcode=query.opcode(),
            time=time.monotonic(),
            wire=wire,
        )
        with self._lock:
            self.log.append(rec)
        return rec

    def _later(self, delay_s, fn):
        if delay_s <= 0:
            fn()
            return
        t = threading.Timer(delay_s, fn)
        t.daemon = True
        self._timers.append(t)
        t.start()

    def _truncated(self, query, resp):
        r = dns.message.make_response(query, our_payload=4096)
        r.flags = resp.flags | dns.flags.TC
        r.set_rcode(resp.rcode())
        return r.to_wire(max_size=65535)

    def _udp_wire(self, query, resp, b):
        limit = 512
        if query.edns >= 0:
            limit = max(512, query.payload)
        if b.tc_udp:
            return self._truncated(query, resp)
        wire = resp.to_wire(max_size=65535)
        if len(wire) > limit:
            wire = self._truncated(query, resp)
        return wire

    def _handle(self, wire, transport, source, send):
        try:
            self._handle1(wire, transport, source, send)
        except Exception as e:  # never let the server thread die
            self.errors.append(repr(e))

    def _handle1(self, wire, transport, source, send):
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return
        if not query.question:
            return
        self._record(query, wire, transport, source)
        if self.drop_all:
            return
        b = self.behaviour_for(query.question[0].name)
        if b.drop:
            return
        resp = self.build_response(query, b, transport)
        if resp is None:
            return
        if transport == "udp":
            out = self._udp_wire(query, resp, b)
        else:
            out = resp.to_wire(max_size=65535)
        delay = b.delay_ms / 1000.0
        if transport == "udp" and (b.hostile or b.flood):
            hw = self.hostile_wire(query, b.hostile) if b.hostile else None
            n = b.flood

            def hostile(hw=hw, n=n):
                if n:
                    self._flood(query, n, send)
                if hw is not None:
                    send(hw)
            self._later(delay, hostile)
            if b.hostile_only:
                return
            delay += b.bogus_gap_ms / 1000.0
        if b.bogus_first and transport == "udp":
            bw, other = self._bogus(query, b.bogus_first)
            if other:
                self._later(delay, lambda: self._safe(self._other.sendto, bw, source))
            else:
                self._later(delay, lambda: send(bw))
            delay += b.bogus_gap_ms / 1000.0
        self._later(delay, lambda: send(out))

    @staticmethod
    def _safe(fn, *a):
        try:
            fn(*a)
        except OSError:
            pass

    def _udp_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.udp], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                wire, src = self.udp.recvfrom(65535)
            except OSError:
                continue

            def send(data, src=src):
                with self._send_lock:
                    self._safe(self.udp.sendto, data, src)

            self._handle(wire, "udp", src, send)

    def _tcp_loop(self):
        while not self._stop.is_set():
            try:
                r, _, _ = select.select([self.tcp], [], [], 0.1)
            except (OSError, ValueError):
                return
            if not r:
                continue
            try:
                conn, src = self.tcp.accept()
            except OSError:
                continue
            self._conns.append(conn)
            th = threading.Thread(target=self._tcp_conn, args=(conn, src), daemon=True)
            th.start()

    def _tcp_conn(self, conn, src):
        lock = threading.Lock()

        def send(data):
            with lock:
                self._safe(conn.sendall, struct.pack("!H", len(data)) + data)

        buf = b""
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                chunk = conn.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2:
                n = struct.unpack("!H", buf[:2])[0]
                if len(buf) < 2 + n:
                    break
                msg, buf = buf[2:2 + n], buf[2 + n:]
                self._handle(msg, "tcp", src, send)
        # keep the socket open until the peer closes; then close
        try:
            conn.close()
        except OSError:
            pass


def dead_port(addr="127.0.0.1"):
    """A port on addr where nothing listens on UDP nor TCP (at the time of the call)."""
    u, t = _bind_pair(addr, 0)
    p = u.getsockname()[1]
    u.close()
    t.close()
    return p
