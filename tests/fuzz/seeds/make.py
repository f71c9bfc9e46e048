"""Write the seed corpora of the DNS, minisign, config and control
harnesses (tests/fuzz/corpus/*). Run from the repository root with
Debian's python3 (python3-dnspython); the output is committed, so this
only needs running again when a seed is added.

Each seed is a real input: queries as dig and resolvers send them, replies
as an upstream sends them, configuration and control lines as an admin
writes them, and the minisign fixtures of tests/data/minisign.
"""
import os
import struct

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

ROOT = "tests/fuzz/corpus"


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def query(name, rdtype, edns=-1, do=False, payload=1232, qid=0x1234,
          options=None):
    m = dns.message.make_query(name, rdtype, use_edns=edns,
                               want_dnssec=do, payload=payload,
                               options=options or [])
    m.id = qid
    return m.to_wire()


# fuzz_query: control byte, clock byte, packet.
def q(name, ctl, clock, pkt):
    put("query", name, bytes([ctl, clock]) + pkt)


q("a-plain", 0, 0, query("example.com", "A"))
q("a-edns", 0, 10, query("example.com", "A", edns=0))
q("a-tcp", 1, 0, query("Example.COM", "A", edns=0))
q("aaaa-miss", 0, 0, query("www.example.org", "AAAA", edns=0))
q("nx-cached", 0, 5, query("nx.test", "A", edns=0))
q("big-udp512", 0, 0, query("big.test", "TXT"))
q("big-edns", 4, 0, query("big.test", "TXT", edns=0, payload=4096))
q("big-tcp", 1, 0, query("big.test", "TXT"))
q("do-bit", 0, 1, query("dnssec.test", "A", edns=0, do=True))
q("expired", 0, 255, query("example.com", "A", edns=0))
for mode in range(5):
    q(f"blocked-mode{mode}", mode << 3, 0,
      query("x.ads.test", "A", edns=0))
    q(f"blocked-aaaa-mode{mode}", mode << 3, 0,
      query("ads.test", "AAAA", edns=0))
q("blocked-addr6", (4 + 5) << 3, 0, query("tracker.test", "AAAA", edns=0))
q("blocked-noedns", 0, 0, query("cdn.ads.test", "A"))
q("blocked-tcp-mx", 1 | (2 << 3), 0, query("ads.test", "MX", edns=0))
q("allowed", 0, 0, query("ok.ads.test", "A", edns=0))
q("outside-acl", 2, 0, query("example.com", "A", edns=0))
chaos = dns.message.make_query("version.bind", "TXT", rdclass="CH")
chaos.id = 0x1234
q("class-ch", 0, 0, chaos.to_wire())
q("axfr", 1, 0, query("example.com", "AXFR"))
q("any", 0, 0, query("example.com", "ANY", edns=0))
q("cookie", 0, 0, query("example.com", "A", edns=0, options=[
    dns.edns.GenericOption(10, b"\x01\x02\x03\x04\x05\x06\x07\x08")]))
q("edns-v1", 0, 0, query("example.com", "A", edns=1))
notify = dns.message.make_query("example.com", "SOA")
notify.set_opcode(dns.opcode.NOTIFY)
notify.id = 0x1234
q("notify", 0, 0, notify.to_wire())
q("short", 0, 0, b"\x12\x34\x01\x00\x00\x01")
q("response", 0, 0, dns.message.make_response(
    dns.message.make_query("example.com", "A", id=0x1234)).to_wire())
q("two-questions", 0, 0,
  bytes.fromhex("123401000002000000000000")
  + b"\x07example\x03com\x00\x00\x01\x00\x01"
  + b"\x03www\xc0\x0c\x00\x01\x00\x01")
q("pointer-loop", 0, 0,
  bytes.fromhex("123401000001000000000000") + b"\xc0\x0c\x00\x01\x00\x01")
q("long-name", 0, 0, query("." .join(["a" * 63] * 3) + ".test", "A",
                          edns=0))


# fuzz_reply: control byte, qtype, our ID, name text NUL, reply.
def r(name, ctl, qname, rdtype, reply, qid=0x4242):
    t = dns.rdatatype.from_text(rdtype)
    put("reply", name, bytes([ctl]) + struct.pack(">HH", t, qid)
        + qname.encode() + b"\0" + reply)


def response(qname, rdtype, answers=(), authority=(), additional=(),
             rcode=0, edns=-1, qid=0x4242, flags=0):
    m = dns.message.make_query(qname, rdtype, use_edns=edns)
    m.id = qid
    resp = dns.message.make_response(m)
    resp.set_rcode(rcode)
    for sec, rrs in ((resp.answer, answers), (resp.authority, authority),
                     (resp.additional, additional)):
        for text in rrs:
            owner, ttl, cls, typ, data = text.split(None, 4)
            sec.append(dns.rrset.from_text(owner, int(ttl), cls, typ, data))
    resp.flags |= flags
    return resp.to_wire(max_size=65535)


r("a", 0, "example.com.", "A",
  response("example.com.", "A", ["example.com. 300 IN A 192.0.2.1"]))
r("a-edns", 2, "example.com.", "A",
  response("example.com.", "A", ["example.com. 300 IN A 192.0.2.1"],
           edns=0))
r("aaaa-tcp", 1, "www.example.org.", "AAAA",
  response("www.example.org.", "AAAA",
           ["www.example.org. 60 IN AAAA 2001:db8::1"], edns=0))
r("cname-chain", 2, "www.example.com.", "A",
  response("www.example.com.", "A",
           ["www.example.com. 300 IN CNAME edge.example.net.",
            "edge.example.net. 20 IN A 192.0.2.7"], edns=0))
for mode in range(5):
    r(f"cname-blocked-mode{mode}", 2 | (mode << 4), "news.example.", "A",
      response("news.example.", "A",
               ["news.example. 300 IN CNAME cdn.ads.test.",
                "cdn.ads.test. 20 IN A 192.0.2.7"], edns=0))
r("nxdomain", 2, "nope.example.", "A",
  response("nope.example.", "A", rcode=dns.rcode.NXDOMAIN,
           authority=["example. 900 IN SOA ns.example. h.example. "
                      "1 7200 900 86400 300"], edns=0))
r("nodata-nosoa", 0, "nope.example.", "AAAA",
  response("nope.example.", "AAAA"))
r("servfail", 2, "example.com.", "A",
  response("example.com.", "A", rcode=dns.rcode.SERVFAIL, edns=0))
r("tc", 0, "example.com.", "A",
  response("example.com.", "A", flags=dns.flags.TC))
r("wrong-id", 0, "example.com.", "A",
  response("example.com.", "A", ["example.com. 300 IN A 192.0.2.1"],
           qid=0x4243))
r("wrong-name", 0, "example.com.", "A",
  response("example.net.", "A", ["example.net. 300 IN A 192.0.2.1"]))
r("extra-records", 2, "example.com.", "A",
  response("example.com.", "A", ["example.com. 300 IN A 192.0.2.1"],
           authority=["com. 172800 IN NS a.gtld-servers.net."],
           additional=["a.gtld-servers.net. 172800 IN A 192.5.6.30"],
           edns=0))
txt = [f'big.example. 600 IN TXT "record {i:02d} of a large answer"'
       for i in range(60)]
r("big-udp", 2 | 8, "big.example.", "TXT",
  response("big.example.", "TXT", txt, edns=0))
r("big-tcp", 1, "big.example.", "TXT",
  response("big.example.", "TXT", txt))
r("do-dnssec", 2 | 4, "dnssec.test.", "A",
  response("dnssec.test.", "A", ["dnssec.test. 120 IN A 192.0.2.99"],
           edns=0))
r("mixed-case", 0, "ExAmPlE.com.", "A",
  response("example.COM.", "A", ["example.com. 300 IN A 192.0.2.1"]))
r("qr-zero", 0, "example.com.", "A",
  query("example.com", "A", qid=0x4242))


# fuzz_minisign: 0 + key text, or 1 + .minisig NUL message.
def read(path):
    with open(path, "rb") as f:
        return f.read()


md = "tests/data/minisign"
put("minisign", "key-bare",
    b"\0RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYNzGP")
put("minisign", "key-file", b"\0" + read(f"{md}/test.pub"))
put("minisign", "key-other", b"\0" + read(f"{md}/other.pub"))
for sig in sorted(os.listdir(md)):
    if sig.endswith(".minisig"):
        msg = "feed-tampered.txt" if "tampered" in sig and \
            "comment" not in sig else "feed.txt"
        put("minisign", "verify-" + sig.replace(".", "-"),
            b"\1" + read(f"{md}/{sig}") + b"\0" + read(f"{md}/{msg}"))

# fuzz_config: file, two NULs, NUL-separated args.
put("config", "typical", b"""# parasold.conf
listen = 127.0.0.1:53
listen = [::1]:53
upstream = 9.9.9.9
upstream = [2620:fe::fe]:53
allow-net = 192.168.1.0/24
cache-size = 64M
cache-min-ttl = 60
edns-size = 1232
sinkhole = nxdomain
log-level = debug
lists-db = /var/lib/parasol/lists.db
stats-events = no
""")
put("config", "sinkhole-addrs", b"sinkhole = ::,0.0.0.0\nblock-ttl=0\n")
put("config", "bad-range", b"cache-min-ttl = 90000\n")
put("config", "min-above-max", b"cache-min-ttl = 600\ncache-max-ttl = 60\n")
put("config", "unknown-key", b"listen 127.0.0.1\nfoo = bar\n")
put("config", "long-line", b"lists-db = /" + b"x" * 1100 + b"\n")
put("config", "args", b"listen = 127.0.0.1\n\0\0--listen=127.0.0.2:5353\0"
    b"--upstream=127.0.0.9:53\0--cache-size=1G\0--sinkhole=refused")
put("config", "args-bad", b"\0\0--nope=1\0listen")
put("config", "nul-in-line",
    b"edns-size = 1400\nlisten = 127.0.0.1\0:5353\nlog-level = debug\n")
put("config", "bytes-overflow", b"cache-size = 99999999999999999999G\n")
put("config", "crlf", b"upstream = 127.0.0.1\r\nedns-size = 4096\r\n")

# fuzz_control: read size byte, request bytes.
for name, step, req in (("ping", 0, b"ping\n"), ("status", 2, b"status\n"),
                        ("reload-crlf", 1, b"reload\r\n"),
                        ("unknown", 0, b"shutdown now\n"),
                        ("escape", 0, b"\x1b[2Jping\n"),
                        ("nul", 0, b"ping\0x\n"),
                        ("trailing", 3, b"ping\nstatus\n"),
                        ("too-long", 255, b"p" * 5000),
                        ("partial", 1, b"pin")):
    put("control", name, bytes([step]) + req)

# fuzz_feedparse: format byte (0 auto, 1 hosts, 2 domains, 3 adblock,
# 4 rpz, 5 dnsmasq), then the head of each committed real feed.
fd = "tests/data/feeds"
for name, path, fmt in (("real-anudeep-hosts", "anudeepnd/CoinMiner.txt", 1),
                        ("real-nocoin-hosts", "nocoin/hosts.txt", 0),
                        ("real-shadowwhisperer-domains",
                         "shadowwhisperer/Cryptocurrency", 2)):
    head = b"".join(read(f"{fd}/{path}").splitlines(keepends=True)[:40])
    put("feedparse", name, bytes([fmt]) + head)
put("feedparse", "adblock-options", b"\3! Title: x\n||ads.example^$third-party\n"
    b"||a.example^$important\n@@||ok.example^|\n|https://x.example/path\n"
    b"example.org##.banner\n/regex.*/\n||xn--bcher-kva.example^\n")
put("feedparse", "dnsmasq-forms", b"\5address=/a.example/0.0.0.0\n"
    b"address=/b.example/::\nlocal=/c.example/\nserver=/d.example/\n"
    b"address=/#/\naddress=/e.example/f.example/127.0.0.1\n")
put("feedparse", "rpz-actions", b"\4$TTL 60\n@ SOA ns. h. 1 2 3 4 5\n"
    b"@ NS ns.\na.example CNAME .\n*.b.example CNAME .\n"
    b"ok.example CNAME rpz-passthru.\nc.example CNAME *.\n"
    b"d.example A 0.0.0.0\n32.1.2.0.192.rpz-ip CNAME .\n")
put("feedparse", "idn-and-case", b"\2B\xc3\xbccher.Example\nWWW.EXAMPLE.COM.\n"
    b"xn--mnchen-3ya.example\n*.wild.example\n-bad-.example\n"
    b"a..b.example\n192.0.2.1\n")
