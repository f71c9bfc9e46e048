"""The deployment Parasol is built for, end to end: a DHCP server hands out
parasold's address as the DNS server, a client takes the lease, and every
lookup it makes goes through parasold.

Three network namespaces made by the test (netlab.py), addresses only
inside them:

    psl-cli-PID  eth0 (DHCP lease from 10.213.1.100-150)
        |  veth
    psl-srv-PID  lan0 10.213.1.1: dnsmasq (DHCP only, option 6 = 10.213.1.1)
                                  parasold on 10.213.1.1:53
                 wan0 10.213.2.1
        |  veth
    psl-up-PID   eth0 10.213.2.2: nsd, authoritative for parasol-lab.example
                                  and coinhive.com

The client runs dhclient with a script that configures the leased address
and writes the learned DNS server into /etc/resolv.conf, which `ip netns
exec` bind-mounts from /etc/netns/psl-cli-PID/resolv.conf (so the script
rewrites the file in place).  Then glibc (getent) and dig in the client
namespace, reading that resolv.conf, resolve www.parasol-lab.example to
nsd's answer and get parasold's sinkhole for coinhive.com, a name of the
bundled mining list that nsd does answer with a real address; and
`parasol top clients` names the leased address.

Needs root, nsd, dnsmasq, dhclient (isc-dhcp-client), dig and iproute2
(`docker/build.sh --test` installs them).  Without them it fails, saying
what is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time

import pytest

import netlab
from helpers import cli_binary_path

SRV_LAN = "10.213.1.1"
POOL = ("10.213.1.100", "10.213.1.150")
SRV_WAN = "10.213.2.1"
NSD = "10.213.2.2"

ZONE = "parasol-lab.example"
ALLOWED = f"www.{ZONE}"
ALLOWED_A = "10.213.2.80"
ALLOWED_AAAA = "fd00:213:2::80"
# In the bundled default list (feed coinminer); nsd holds real records for
# it, so a sinkholed answer can only come from the block.
MINING = "coinhive.com"
MINING_A = "10.213.2.66"
MINING_AAAA = "fd00:213:2::66"
# parasold's default sinkhole (null): 0.0.0.0 for A, :: for AAAA.
SINK_A, SINK_AAAA = "0.0.0.0", "::"
EDE_TEXT = f"category=mining feed=coinminer rule={MINING}"

TOOLS = {"nsd": "nsd", "dnsmasq": "dnsmasq-base", "dhclient": "isc-dhcp-client",
         "dig": "bind9-dnsutils", "getent": "libc-bin", "ip": "iproute2"}

NSD_CONF = """\
server:
	ip-address: {addr}
	port: 53
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "{dir}"
	database: ""
	zonelistfile: "{dir}/nsd.zonelist"
	xfrdfile: "{dir}/nsd.xfrd.state"
	xfrdir: "{dir}"
	pidfile: "{dir}/nsd.pid"
	logfile: "{dir}/nsd.log"
	server-count: 1
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
zone:
	name: {zone}
	zonefile: {zone}.zone
zone:
	name: {mining}
	zonefile: {mining}.zone
"""

ZONE_FILE = """\
$ORIGIN {origin}.
$TTL 300
@	SOA	ns1.{zone}. hostmaster.{zone}. 1 3600 900 604800 60
@	NS	ns1.{zone}.
{records}
"""

DHCLIENT_CONF = """\
request subnet-mask, broadcast-address, domain-name-servers;
initial-interval 1;
timeout 30;
retry 1;
"""

# dhclient -sf: the lease goes on the interface, the DNS servers into
# /etc/resolv.conf.  The redirection truncates and rewrites the file in
# place: it is a bind mount, which a rename (as Debian's dhclient-script
# does) cannot replace.
DHCLIENT_SCRIPT = """\
#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask dns=$new_domain_name_servers" >>"{log}"
case "$reason" in
PREINIT)
	ip link set dev "$interface" up
	;;
BOUND|RENEW|REBIND|REBOOT)
	if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
		ip -4 addr flush dev "$interface"
	fi
	ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
	{{
		echo "# from DHCP on $interface"
		for ns in $new_domain_name_servers; do
			echo "nameserver $ns"
		done
	}} >/etc/resolv.conf
	;;
EXPIRE|FAIL|RELEASE|STOP)
	ip -4 addr flush dev "$interface"
	;;
esac
exit 0
"""

SETUP_TIMEOUT = 20.0
FLUSH_TIMEOUT = 10.0


def _which(tool):
    # The daemons live in sbin, which a non-login PATH may lack.
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _wait(what, cond, timeout, logs):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{logs()}")
        time.sleep(0.1)


class Lab:
    """The three namespaces, the daemons in them, their files and logs."""

    def __init__(self, net, tmp):
        self.net = net
        self.tmp = tmp
        self.leases = os.path.join(tmp, "dnsmasq.leases")
        # parasold's state, in folders it makes for its user at start.
        self.stats_db = os.path.join(tmp, "state", "stats.db")
        self.lists_db = os.path.join(tmp, "state", "lists.db")
        self.control = os.path.join(tmp, "run", "parasold.sock")
        self.resolv = net.etc("cli", "resolv.conf")
        self.daemons = {}

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def logs(self):
        out = []
        for name in ("nsd.log", "nsd-stdio.log", "parasold.log", "dnsmasq.log", "dhclient.log", "dhclient-script.log"):
            text = self.log(name)
            if len(text) > 3000:
                text = "...\n" + text[-3000:]
            out.append(f"--- {name}\n{text or '(empty)'}")
        for name, p in self.daemons.items():
            if p.poll() is not None:
                out.append(f"--- {name} exited with {p.returncode}")
        try:
            with open(self.resolv) as f:
                out.append(f"--- {self.resolv}\n{f.read()}")
        except OSError as e:
            out.append(f"--- {self.resolv}: {e}")
        return "\n".join(out)

    def start(self, name, role, *argv):
        p = self.net.spawn(role, *argv, log=os.path.join(self.tmp, f"{name}.log"))
        self.daemons[name] = p
        return p

    def alive(self, name):
        p = self.daemons[name]
        if p.poll() is not None:
            raise AssertionError(f"{name} exited with {p.returncode}\n{self.logs()}")
        return True

    def cli(self, *args):
        """The client namespace: what a user on the DHCP client runs."""
        return self.net.run("cli", *args)

    def parasol(self, *args):
        argv = [cli_binary_path(), f"--stats-db={self.stats_db}", f"--lists-db={self.lists_db}",
                f"--control={self.control}", *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARASOL_")}
        return subprocess.run(argv, capture_output=True, text=True, timeout=15, env=env,
                              stdin=subprocess.DEVNULL)

    def lease(self):
        """(address, MAC) of the lease dnsmasq recorded, or None."""
        try:
            with open(self.leases) as f:
                rows = [line.split() for line in f if line.strip()]
        except OSError:
            return None
        # expiry MAC address hostname client-id
        return (rows[-1][2], rows[-1][1]) if rows else None

    def client_addr(self):
        p = self.net.run("cli", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
        m = re.search(r"\binet (\d+\.\d+\.\d+\.\d+)/(\d+)", p.stdout)
        return (m.group(1), int(m.group(2))) if m else None

    def client_mac(self):
        p = self.net.run("cli", "ip", "-o", "link", "show", "dev", "eth0")
        m = re.search(r"link/ether ([0-9a-f:]{17})", p.stdout)
        return m.group(1) if m else None


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _zone(tmp, origin, records):
    path = os.path.join(tmp, f"{origin}.zone")
    _write(path, ZONE_FILE.format(origin=origin, zone=ZONE, records=textwrap.dedent(records)))
    return path


def _start_nsd(lab):
    tmp = lab.tmp
    _zone(tmp, ZONE, f"""\
        ns1	A	{NSD}
        www	A	{ALLOWED_A}
        www	AAAA	{ALLOWED_AAAA}
        """)
    _zone(tmp, MINING, f"""\
        @	A	{MINING_A}
        @	AAAA	{MINING_AAAA}
        """)
    conf = os.path.join(tmp, "nsd.conf")
    _write(conf, NSD_CONF.format(addr=NSD, dir=tmp, zone=ZONE, mining=MINING))
    check = subprocess.run([_which("nsd-checkconf") or "nsd-checkconf", conf], capture_output=True, text=True,
                           timeout=10)
    assert check.returncode == 0, f"nsd-checkconf {conf}: {check.stdout}{check.stderr}"
    lab.start("nsd-stdio", "up", _which("nsd"), "-d", "-c", conf)

    def answers():
        lab.alive("nsd-stdio")
        p = lab.net.run("srv", "dig", f"@{NSD}", "+time=1", "+tries=1", "+short", MINING, "A")
        return p.stdout.split() == [MINING_A]
    # Also the proof that the upstream holds real records for the mining name.
    _wait(f"nsd answering {MINING} A {MINING_A} on {NSD}", answers, SETUP_TIMEOUT, lab.logs)


def _start_parasold(lab, binary):
    # Started as root to bind port 53, it runs as nobody from then on, as
    # it would as a system user of its own.
    os.chmod(lab.tmp, 0o755)
    lab.start("parasold", "srv", binary, f"--listen={SRV_LAN}:53", f"--upstream={NSD}:53",
              f"--lists-db={lab.lists_db}", f"--stats-db={lab.stats_db}",
              f"--control={lab.control}", "--user=nobody", "--log-level=info")
    _wait("parasold 'ready'",
          lambda: lab.alive("parasold") and re.search(r"\bready\b", lab.log("parasold.log"), re.I),
          SETUP_TIMEOUT, lab.logs)


def _start_dnsmasq(lab):
    lab.start("dnsmasq", "srv", _which("dnsmasq"), "--no-daemon", "--conf-file=/dev/null",
              "--port=0", "--interface=lan0", "--except-interface=lo",
              f"--dhcp-range={POOL[0]},{POOL[1]},255.255.255.0,1h",
              f"--dhcp-option=6,{SRV_LAN}", "--dhcp-authoritative",
              f"--dhcp-leasefile={lab.leases}", f"--pid-file={lab.tmp}/dnsmasq.pid",
              "--log-dhcp", "--user=root", "--group=root")
    _wait("dnsmasq listening for DHCP",
          lambda: lab.alive("dnsmasq") and re.search(r"DHCP, IP range", lab.log("dnsmasq.log")),
          SETUP_TIMEOUT, lab.logs)


def _start_dhclient(lab):
    tmp = lab.tmp
    conf = os.path.join(tmp, "dhclient.conf")
    _write(conf, DHCLIENT_CONF)
    script = os.path.join(tmp, "dhclient-script")
    _write(script, DHCLIENT_SCRIPT.format(log=os.path.join(tmp, "dhclient-script.log")), 0o755)
    lab.start("dhclient", "cli", _which("dhclient"), "-4", "-d", "-v", "-cf", conf, "-sf", script,
              "-lf", os.path.join(tmp, "dhclient.leases"), "-pf", os.path.join(tmp, "dhclient.pid"),
              "eth0")

    def learned():
        lab.alive("dhclient")
        with open(lab.resolv) as f:
            return "nameserver" in f.read()
    _wait("dhclient writing the learned DNS server into resolv.conf", learned, SETUP_TIMEOUT, lab.logs)


@pytest.fixture(scope="module")
def lab(parasold_binary):
    missing = [f"{t} ({pkg})" for t, pkg in TOOLS.items() if not _which(t)]
    if missing:
        pytest.fail("the DHCP test needs " + ", ".join(missing) +
                    ": install them with 'docker/build.sh --test'", pytrace=False)
    why = netlab.why_unusable()
    if why:
        pytest.fail(f"the DHCP test {why}; it does not run without", pytrace=False)
    netlab.sweep_stale()

    net = netlab.NetLab(("up", "srv", "cli"))
    try:
        net.open()
        lab = Lab(net, net.tmp)
        # Both ends up (lo too, done by open) before any daemon starts.
        net.link("srv", "lan0", f"{SRV_LAN}/24", "cli", "eth0", None)
        net.link("srv", "wan0", f"{SRV_WAN}/24", "up", "eth0", f"{NSD}/24")
        # Exists before the first `ip netns exec cli`, with no server in it:
        # whatever the client resolves, it resolves through the lease.
        _write(lab.resolv, "# filled in by the DHCP client\n")
        _start_nsd(lab)
        _start_parasold(lab, parasold_binary)
        _start_dnsmasq(lab)
        _start_dhclient(lab)
        yield lab
    finally:
        net.close()


def _getent(lab, db, name):
    p = lab.cli("getent", db, name)
    return p.returncode, p.stdout


def _addrs(out):
    return [line.split()[0] for line in out.splitlines() if line.split()]


def test_lease_carries_parasold_as_dns(lab):
    """dnsmasq's lease is the client's address, and the client's resolv.conf
    names parasold, the server of option 6."""
    addr = _wait("the leased address on the client's eth0", lab.client_addr, 5, lab.logs)
    lease = _wait("a lease in dnsmasq's lease file", lab.lease, 5, lab.logs)
    assert lease == (addr[0], lab.client_mac()), f"lease {lease}, client eth0 {addr}\n{lab.logs()}"
    assert addr[1] == 24
    lo, hi = (tuple(int(x) for x in a.split(".")) for a in POOL)
    assert lo <= tuple(int(x) for x in addr[0].split(".")) <= hi
    with open(lab.resolv) as f:
        servers = [line.split()[1] for line in f if line.startswith("nameserver")]
    assert servers == [SRV_LAN], f"resolv.conf servers {servers}\n{lab.logs()}"


def test_glibc_resolves_allowed_name(lab):
    rc, out = _getent(lab, "ahosts", ALLOWED)
    assert rc == 0, f"getent ahosts {ALLOWED}: exit {rc}\n{lab.logs()}"
    assert set(_addrs(out)) == {ALLOWED_A, ALLOWED_AAAA}, out
    rc, out = _getent(lab, "ahostsv4", ALLOWED)
    assert rc == 0 and set(_addrs(out)) == {ALLOWED_A}, out
    rc, out = _getent(lab, "hosts", ALLOWED)
    assert rc == 0, f"getent hosts {ALLOWED}: exit {rc}\n{lab.logs()}"
    # One line: the first family glibc finds (AAAA before A).
    assert out.split() in ([ALLOWED_AAAA, ALLOWED], [ALLOWED_A, ALLOWED]), out


def test_dig_uses_learned_server(lab):
    p = lab.cli("dig", "+time=2", "+tries=1", ALLOWED, "A")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(rf"^;; SERVER: {re.escape(SRV_LAN)}#53\b", p.stdout, re.M), p.stdout
    assert "status: NOERROR" in p.stdout, p.stdout
    answers = re.findall(rf"^{re.escape(ALLOWED)}\.\s+\d+\s+IN\s+A\s+(\S+)$", p.stdout, re.M)
    assert answers == [ALLOWED_A], p.stdout
    assert "EDE" not in p.stdout, p.stdout


def test_mining_name_sinkholed(lab):
    """nsd answers coinhive.com with a real address (checked at setup); the
    client gets parasold's default sinkhole instead, with the reason."""
    rc, out = _getent(lab, "hosts", MINING)
    assert rc == 0, f"getent hosts {MINING}: exit {rc}\n{out}\n{lab.logs()}"
    assert out.split() in ([SINK_AAAA, MINING], [SINK_A, MINING]), \
        f"getent hosts {MINING}: {out!r}, expected the sinkhole {SINK_AAAA} or {SINK_A}"
    rc, out = _getent(lab, "ahosts", MINING)
    assert rc == 0 and set(_addrs(out)) == {SINK_A, SINK_AAAA}, f"getent ahosts {MINING}: {out!r}"
    rc, out = _getent(lab, "ahostsv4", MINING)
    assert rc == 0 and set(_addrs(out)) == {SINK_A}, f"getent ahostsv4 {MINING}: {out!r}"

    for rdtype, sink in (("A", SINK_A), ("AAAA", SINK_AAAA)):
        p = lab.cli("dig", "+time=2", "+tries=1", MINING, rdtype)
        assert p.returncode == 0, p.stdout + p.stderr
        assert re.search(rf"^;; SERVER: {re.escape(SRV_LAN)}#53\b", p.stdout, re.M), p.stdout
        assert "status: NOERROR" in p.stdout, p.stdout
        answers = re.findall(rf"^{re.escape(MINING)}\.\s+\d+\s+IN\s+{rdtype}\s+(\S+)$", p.stdout, re.M)
        assert answers == [sink], p.stdout
        assert re.search(rf"; EDE: 15 \(Blocked\): \({re.escape(EDE_TEXT)}\)", p.stdout), p.stdout


def test_top_clients_lists_leased_address(lab):
    addr = lab.client_addr()
    assert addr, lab.logs()
    # The lookups of the mining name may come from this test alone.
    p = lab.cli("dig", "+time=2", "+tries=1", "+short", MINING, "A")
    assert p.stdout.split() == [SINK_A], p.stdout + p.stderr
    deadline = time.monotonic() + FLUSH_TIMEOUT
    rows = []
    while time.monotonic() < deadline:
        p = lab.parasol("top", "clients", "--json")
        assert p.returncode == 0, f"parasol top clients: exit {p.returncode}\n{p.stderr}"
        rows = json.loads(p.stdout)
        if any(r["client"] == addr[0] for r in rows):
            break
        time.sleep(0.2)
    assert [r["client"] for r in rows] == [addr[0]], f"top clients {rows}, leased {addr[0]}\n{lab.logs()}"
    assert rows[0]["categories"] == ["mining"] and rows[0]["blocked"] >= 1, rows
    p = lab.parasol("top", "clients")
    assert p.returncode == 0, p.stderr
    assert [line.split()[0] for line in p.stdout.splitlines()[1:] if line.split()] == [addr[0]], p.stdout
