"""Feed servers for the parasol-update tests: a test PKI made with openssl,
nginx (Debian's nginx-light) serving real lists over https and http on
loopback, a small TLS server for the misbehaviours nginx will not produce
(a body cut short of its Content-Length, a server that never answers), and
minisign keys and signatures made with Debian's minisign.

Everything listens on 127.0.0.1 only.  Clients reach the servers by the name
FEED_HOST, pinned with curl's --resolve (see Nginx.resolve), so no DNS is
involved.  Processes started here are stopped by their own PID.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time

FEED_HOST = "feeds.parasol.test"


def _run(argv, cwd=None, timeout=30):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed with {p.returncode}:\n{p.stderr}{p.stdout}")
    return p


class TestPKI:
    """A CA and a server certificate for FEED_HOST and 127.0.0.1 (EC P-256, two days)."""

    def __init__(self, folder):
        self.dir = folder
        self.ca_cert = os.path.join(folder, "ca.crt")
        self.ca_key = os.path.join(folder, "ca.key")
        self.cert = os.path.join(folder, "server.crt")
        self.key = os.path.join(folder, "server.key")
        # A CA nobody asked to trust, and a certificate for the same names
        # from it: a server the client must refuse.
        self.other_ca_cert = os.path.join(folder, "other-ca.crt")
        self.other_ca_key = os.path.join(folder, "other-ca.key")
        self.other_cert = os.path.join(folder, "other-server.crt")
        self.other_key = os.path.join(folder, "other-server.key")

    def make(self):
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for cert, key, cn in ((self.ca_cert, self.ca_key, "Parasol test CA"),
                              (self.other_ca_cert, self.other_ca_key, "Other CA")):
            _run(["openssl", "req", "-x509", *ec, "-keyout", key, "-out", cert, "-days", "2",
                  "-subj", f"/CN={cn}",
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        ext = os.path.join(self.dir, "server.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName=DNS:{FEED_HOST},IP:127.0.0.1\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
        for cert, key, ca_cert, ca_key in ((self.cert, self.key, self.ca_cert, self.ca_key),
                                           (self.other_cert, self.other_key, self.other_ca_cert,
                                            self.other_ca_key)):
            csr = cert + ".csr"
            _run(["openssl", "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={FEED_HOST}"])
            _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                  "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", cert])
        return self


def _free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _wait_listening(port, proc, what, log, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening:\n{log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s:\n{log()}")


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format feeds '$status $request_method $request_uri $body_bytes_sent '
                     'port=$server_port t=$msec '
                     'inm="$http_if_none_match" ims="$http_if_modified_since"';
    access_log {run}/access.log feeds;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    types {{ text/plain txt minisig; text/html html; }}
    default_type text/plain;
    gzip off;
    gzip_static on;  # a list.txt.gz next to list.txt goes out gzip-encoded
    keepalive_timeout 5s;

    # A feed folder's behaviour is switched by marker files in it, so one
    # URL can go from healthy to broken between two runs.
    map $uri $feed_dir {{ ~^(?<d>/.*/)[^/]*$ $d; default /; }}

    server {{
        listen 127.0.0.1:{https_port} ssl;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {docroot};
        location / {{
            if (-f $document_root${{feed_dir}}MODE-500) {{
                return 500;
            }}
            if (-f $document_root${{feed_dir}}MODE-LOOP) {{
                return 302 https://$host:{https_port}$uri;
            }}
            if (-f $document_root${{feed_dir}}MODE-TO-HTTP) {{
                return 302 http://$host:{http_port}$uri;
            }}
            if (-f $document_root${{feed_dir}}MODE-TO-HTTPS) {{
                return 302 https://$host:{https_port}$uri;
            }}
        }}
        # An application's error page, HTML as they all are.
        error_page 500 /errors/500.html;
        location /errors/ {{ internal; }}
        location /portal/ {{
            # A captive portal or a parked domain: HTML with a 200.
            default_type text/html;
            try_files /portal.html =404;
        }}
    }}
    server {{
        listen 127.0.0.1:{http_port};
        server_name {host};
        root {docroot};
    }}
}}
"""


class Nginx:
    """nginx as a child process: one process (no master), its own config, pid
    file, logs and temp folders under run_dir, serving docroot on
    https_port (TLS with the test certificate) and http_port."""

    def __init__(self, run_dir, pki, host=FEED_HOST):
        self.run = run_dir
        self.docroot = os.path.join(run_dir, "www")
        self.pki = pki
        self.host = host
        self.https_port = _free_tcp_port()
        self.http_port = _free_tcp_port()
        self.proc = None
        self.conf = os.path.join(run_dir, "nginx.conf")
        self.access_log = os.path.join(run_dir, "access.log")
        self.error_log = os.path.join(run_dir, "error.log")

    def start(self):
        os.makedirs(self.docroot, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(NGINX_CONF.format(run=self.run, docroot=self.docroot, host=self.host,
                                      https_port=self.https_port, http_port=self.http_port,
                                      cert=self.pki.cert, key=self.pki.key))
        os.makedirs(os.path.join(self.docroot, "errors"), exist_ok=True)
        with open(os.path.join(self.docroot, "errors", "500.html"), "w") as f:
            f.write("<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>\n"
                    "<body><h1>Internal Server Error</h1><p>The list is being regenerated.</p>"
                    "</body></html>\n")
        with open(os.path.join(self.docroot, "portal.html"), "w") as f:
            f.write("<!DOCTYPE html>\n<html><head><title>Welcome to the hotel network</title></head>\n"
                    "<body><form method=post action=/login>Accept the terms of use "
                    "<input type=submit></form></body></html>\n")
        # -e: the error log before the config is read (Debian's default is stderr).
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.run, "-c", self.conf, "-e", self.error_log],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.run)
        try:
            _wait_listening(self.https_port, self.proc, "nginx", self.error_text)
            _wait_listening(self.http_port, self.proc, "nginx", self.error_text)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def error_text(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return "(no error log)"

    # ------------------------------------------------------------ content

    def url(self, path, scheme="https"):
        port = self.https_port if scheme == "https" else self.http_port
        return f"{scheme}://{self.host}:{port}/{path.lstrip('/')}"

    def resolve_args(self):
        return [f"--resolve={self.host}:{p}:127.0.0.1" for p in (self.https_port, self.http_port)]

    def path(self, rel):
        return os.path.join(self.docroot, rel.lstrip("/"))

    def put(self, rel, data):
        """Serve data (bytes, or a str taken as a file to copy) at /rel.

        The file's mtime moves forward one second from any earlier version,
        so nginx's ETag and Last-Modified change even within one second.
        """
        if isinstance(data, str):
            with open(data, "rb") as f:
                data = f.read()
        dst = self.path(rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        old = os.stat(dst).st_mtime if os.path.exists(dst) else 0
        tmp = dst + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        mtime = max(time.time(), old + 1)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, dst)

    def mode(self, folder, mode=None):
        """Switch the feed folder's behaviour: None (serve files), "500",
        "LOOP" (302 to itself), "TO-HTTP" (302 to the same path over http)."""
        d = self.path(folder)
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            if name.startswith("MODE-"):
                os.unlink(os.path.join(d, name))
        if mode is not None:
            open(os.path.join(d, f"MODE-{mode}"), "w").close()

    def log_lines(self):
        """The access log so far, one line per request:
        'STATUS METHOD URI BYTES port=PORT t=UNIXTIME inm="..." ims="..."'
        (nginx writes the quotes inside the header values as \\x22)."""
        try:
            with open(self.access_log, errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


class BadTLSServer:
    """A threaded TLS server on 127.0.0.1 using the test certificate, for what
    nginx will not do.  mode:

    "truncate"  answer 200 with a Content-Length larger than the body it
                sends (the first `sent` bytes of `body`), then close cleanly;
    "stall"     complete the handshake, read the request, never answer;
    "serve"     answer 200 with all of `body` (with untrusted=True: under a
                certificate from a CA the client does not trust).

    .connections counts accepted connections; .requests holds request heads.
    """

    def __init__(self, pki, mode, body=b"", sent=None, promised=None, untrusted=False):
        self.mode = mode
        self.body = body
        if mode == "serve":
            self.sent = self.promised = len(body)
        else:
            self.sent = len(body) // 4 if sent is None else sent
            self.promised = promised or max(len(body), self.sent) * 4 + 1000
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if untrusted:
            self.ctx.load_cert_chain(pki.other_cert, pki.other_key)
        else:
            self.ctx.load_cert_chain(pki.cert, pki.key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.host = FEED_HOST
        self.connections = 0
        self.requests = []
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns = []
        self._threads = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def start(self):
        self._acceptor.start()
        return self

    def url(self, path="list.txt"):
        return f"https://{self.host}:{self.port}/{path.lstrip('/')}"

    def resolve_args(self):
        return [f"--resolve={self.host}:{self.port}:127.0.0.1"]

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(c)
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, raw):
        try:
            raw.settimeout(5)
            s = self.ctx.wrap_socket(raw, server_side=True)
            with self._lock:
                self._conns.append(s)
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = s.recv(4096)
                if not chunk:
                    return
                head += chunk
            with self._lock:
                self.requests.append(head.decode("latin-1"))
            self.connected.set()
            if self.mode == "stall":
                self._stop.wait(60)
                return
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % self.promised)
            s.sendall(self.body[:self.sent])
            try:
                s.unwrap()
            except (OSError, ssl.SSLError):
                pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                raw.close()
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        self._acceptor.join(2)
        for t in self._threads:
            t.join(2)


class Minisign:
    """A minisign key pair without a password, made with Debian's minisign."""

    def __init__(self, folder, name="feed"):
        self.pub_path = os.path.join(folder, f"{name}.pub")
        self.key_path = os.path.join(folder, f"{name}.key")
        _run(["minisign", "-G", "-W", "-p", self.pub_path, "-s", self.key_path])
        with open(self.pub_path) as f:
            lines = [x.strip() for x in f if x.strip()]
        # Line 1 is the untrusted comment, line 2 the key as --pubkey takes it.
        self.pubkey = lines[-1]

    def sign(self, path, trusted_comment):
        """Write path.minisig (prehashed, as minisign signs by default)."""
        sig = path + ".minisig"
        _run(["minisign", "-S", "-s", self.key_path, "-m", path, "-x", sig, "-t", trusted_comment])
        _run(["minisign", "-V", "-p", self.pub_path, "-m", path, "-x", sig, "-q"])
        return sig
