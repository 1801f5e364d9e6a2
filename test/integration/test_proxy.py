"""
The reverse proxy (proxy_pass and the upstream machinery) against real
backends that the tests start on free loopback ports: Python threads
speaking raw HTTP/1.1 over sockets (so that every byte Portico sends is
seen, and every byte it gets can be chosen), a unix socket backend, and a
python3-websockets echo server for the 101 tunnel.

Covered here: the forms of proxy_pass (address, URI part, upstream block
before and after, unix socket, a host name), the request the backend gets
byte for byte (request line, Host, proxy_set_header and its inheritance,
X-Forwarded-*, hop-by-hop headers, proxy_pass_request_headers/body,
proxy_method, chunked and 100-continue and 100 MiB bodies), the response
the client gets (status, end-to-end headers, hidden headers, every body
framing, HEAD, 204/304, 100 MiB with bounded memory, slow clients and slow
backends), upstream keep-alive, round robin, WebSocket, the $upstream_*
variables and configuration errors. Hostile backends and
proxy_next_upstream are in test_proxy_hostile.py, which uses the helpers
of this file.
"""

import asyncio
import hashlib
import os
import re
import select
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import (Client, IO_TIMEOUT, connect, get, line_of,
                      parse_response, recv_until_close, run_portico,
                      wait_for)


# ---------------------------------------------------------------------------
# backends

class Req:
    """One request as a backend read it."""

    def __init__(self, head, conn):
        self.head = head                # request line and headers, raw
        self.conn = conn                # the backend's connection number
        lines = head[:-4].split(b"\r\n")
        self.line = lines[0]
        self.method, self.target, self.version = lines[0].split(b" ")
        self.headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers.append((name.decode("latin1"),
                                 value.strip().decode("latin1")))
        self.body = b""                 # only the first MiB is kept
        self.body_len = 0
        self.sha256 = None
        self.sock = None
        self.close = False              # the handler asks to close after

    def header(self, name):
        values = self.header_all(name)
        assert len(values) <= 1, "%s appears %d times" % (name, len(values))
        return values[0] if values else None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def names(self):
        return [n.lower() for n, v in self.headers]

    def __repr__(self):
        return "<Req %r>" % self.head


def response(status=200, body=b"", headers=(), reason=None, length=True,
             version=b"HTTP/1.1"):
    """The bytes of a response; Content-Length unless length is False."""
    if reason is None:
        reason = {200: "OK", 201: "Created", 204: "No Content",
                  304: "Not Modified", 404: "Not Found",
                  500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable"}.get(status, "Whatever")
    if isinstance(body, str):
        body = body.encode()
    out = version + b" %d %s\r\n" % (status, reason.encode())
    for name, value in headers:
        out += ("%s: %s\r\n" % (name, value)).encode("latin1")
    if length:
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + body


def chunked(data, size=1000):
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x\r\n%s\r\n" % (len(part), part)
    return out + b"0\r\n\r\n"


class Stopped(Exception):
    pass


class Backend:
    """
    An HTTP/1.1 backend in threads, on 127.0.0.1 (or a unix socket): it
    reads each request whole (Content-Length or chunked body), records it,
    and calls handler(backend, req), which returns the response bytes, or
    None when it wrote (or did) whatever it wanted on req.sock itself.
    req.close = True closes the connection after the response. The default
    handler answers 200 with "NAME METHOD TARGET". With raw, each
    connection is raw(backend, sock, number) instead.
    """

    def __init__(self, handler=None, name="b", unix=None, backlog=128,
                 raw=None, port=0, v6=False, host="127.0.0.1"):
        self.name = name
        self.handler = handler or Backend.echo
        self.raw = raw                  # raw(backend, sock, n): all by hand
        self.requests = []
        self.conns = 0                  # connections accepted
        self.closed = {}                # conn number -> time it ended
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.socks = []
        self.threads = []
        if unix:
            self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.lsock.bind(unix)
            os.chmod(unix, 0o777)
            self.addr = "unix:%s:" % unix
            self.port = None
        elif v6:
            self.lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            self.lsock.bind(("::1", port))
            self.port = self.lsock.getsockname()[1]
            self.addr = "[::1]:%d" % self.port
        else:
            self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.lsock.bind((host, port))
            self.port = self.lsock.getsockname()[1]
            self.addr = "%s:%d" % (host, self.port)
        self.lsock.listen(backlog)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    @staticmethod
    def echo(backend, req):
        body = b"%s %s %s" % (backend.name.encode(), req.method, req.target)
        return response(200, body, [("X-Backend", backend.name),
                                    ("Content-Type", "text/plain")])

    def _accept(self):
        while not self.stopping.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.05)
                if not r:
                    continue
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
                self.socks.append(s)
            t = threading.Thread(target=self._serve, args=(s, n),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def recv(self, s, timeout=None):
        """Some bytes, b"" at EOF; Stopped when the backend stops."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.stopping.is_set():
                raise Stopped()
            if deadline is not None and time.monotonic() >= deadline:
                raise socket.timeout()
            try:
                r, _, _ = select.select([s], [], [], 0.05)
                if r:
                    return s.recv(262144)
            except (ConnectionResetError, OSError, ValueError):
                return b""

    def wait(self, seconds):
        """Sleeps, but not past the backend's stop."""
        if self.stopping.wait(seconds):
            raise Stopped()

    def read_request(self, s, buf, conn):
        while b"\r\n\r\n" not in buf:
            data = self.recv(s)
            if not data:
                return None, buf
            buf += data
        end = buf.index(b"\r\n\r\n") + 4
        req = Req(buf[:end], conn)
        buf = buf[end:]
        h = hashlib.sha256()

        def take(data):
            h.update(data)
            if len(req.body) < 1 << 20:
                req.body += data[:(1 << 20) - len(req.body)]
            req.body_len += len(data)

        if "chunked" in (req.header("Transfer-Encoding") or "").lower():
            while True:
                while b"\r\n" not in buf:
                    data = self.recv(s)
                    if not data:
                        return None, buf
                    buf += data
                line, buf = buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    data = self.recv(s)
                    if not data:
                        return None, buf
                    buf += data
                take(buf[:size])
                buf = buf[size + 2:]
                if size == 0:
                    break
        else:
            left = int(req.header("Content-Length") or 0)
            while left:
                if not buf:
                    buf = self.recv(s)
                    if not buf:
                        return None, buf
                part, buf = buf[:left], buf[left:]
                take(part)
                left -= len(part)
        req.sha256 = h.hexdigest()
        return req, buf

    def _serve(self, s, n):
        buf = b""
        try:
            if self.raw:
                self.raw(self, s, n)
                return
            while not self.stopping.is_set():
                req, buf = self.read_request(s, buf, n)
                if req is None:
                    break
                req.sock = s
                with self.lock:
                    self.requests.append(req)
                out = self.handler(self, req)
                if out:
                    s.sendall(out)
                if req.close:
                    break
        except (Stopped, OSError):
            pass
        finally:
            try:
                s.close()
            except OSError:
                pass
            with self.lock:
                self.closed[n] = time.monotonic()

    def last(self):
        assert self.requests, "the backend got no request"
        return self.requests[-1]

    def wait_requests(self, n, timeout=IO_TIMEOUT):
        wait_for(lambda: len(self.requests) >= n, timeout,
                 what="%d requests at backend %s" % (n, self.name))

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for t in self.threads:
            t.join(5)


@pytest.fixture
def backends():
    """Backend(...) factory; every backend is stopped after the test."""
    made = []

    def make(*args, **kwargs):
        b = Backend(*args, **kwargs)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def http(servers, extra="", after=""):
    """An http block: extra lines, the servers, lines after them."""
    return ("http {\n    access_log {tmp}/access.log;\n%s\n%s\n%s\n}\n"
            % (extra, servers, after))


def server(locations, server_extra="", port="{port}"):
    return ("    server {\n        listen 127.0.0.1:%s;\n%s\n%s\n    }\n"
            % (port, server_extra, locations))


def start(portico, locations, extra="", server_extra="", after="",
          **kwargs):
    """portico with one server of the given locations and http lines."""
    return portico.start(http(server(locations, server_extra), extra, after),
                         **kwargs)


def one(port, data, head=False, timeout=IO_TIMEOUT):
    """One request on a new connection; its response."""
    c = Client(port, timeout=timeout)
    try:
        return c.request(data, head=head)
    finally:
        c.close()


def big_buffers_client(port, timeout=30):
    """A Client whose socket takes up to a MiB before the server waits."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    c = Client.__new__(Client)
    c.sock, c.buf, c.timeout = s, b"", timeout
    return c


def default_head(target, port, host="example.com", connection=b"close",
                 extra=b""):
    """What the backend gets for a simple GET with the default headers."""
    return (b"GET " + target + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1:%d\r\n"
            b"X-Real-IP: 127.0.0.1\r\n"
            b"X-Forwarded-For: 127.0.0.1\r\n"
            b"X-Forwarded-Proto: http\r\n"
            b"X-Forwarded-Host: " % port + host.encode() + b"\r\n"
            + (b"Connection: " + connection + b"\r\n" if connection else b"")
            + extra + b"\r\n")


def worker_pids(server):
    """The server's worker processes (children of the master), or itself."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == server.pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids or [server.pid]


def rss_kib(pid):
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------
# proxy_pass forms

def test_uri_passed_exactly_as_the_client_sent_it(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    target = b"/a//b/%7Efoo/./c%2Fd?x=1&y=%20&&z"
    resp = one(srv.port, get(target, host="example.com",
                             extra=b"User-Agent: t\r\n"))
    assert resp.status == 200 and resp.body == b"b GET " + target
    assert resp.header("X-Backend") == "b"
    assert b.last().head == default_head(target, b.port,
                                         extra=b"User-Agent: t\r\n")


def test_uri_part_replaces_the_location_prefix(portico, backends):
    b = backends()
    srv = start(portico,
                "location /api/ { proxy_pass http://%s/v2/; }\n"
                "location = /exact { proxy_pass http://%s/other; }"
                % (b.addr, b.addr))
    for sent, seen in [(b"/api/x?y=1", b"/v2/x?y=1"),
                       (b"/api/", b"/v2/"),
                       (b"/api/a%20b/c", b"/v2/a%20b/c"),
                       (b"/exact?q", b"/other?q")]:
        resp = one(srv.port, get(sent))
        assert resp.status == 200, sent
        assert b.last().target == seen, sent


def test_upstream_block_before_and_after_proxy_pass(portico, backends):
    b1, b2 = backends(name="one"), backends(name="two")
    srv = start(portico,
                "location /1 { proxy_pass http://before; }\n"
                "location /2 { proxy_pass http://after/x; }",
                extra="upstream before { server %s; }" % b1.addr,
                after="upstream after { server %s; }" % b2.addr)
    resp = one(srv.port, get("/1?a"))
    assert resp.body == b"one GET /1?a"
    assert b1.last().header("Host") == "before"
    resp = one(srv.port, get("/2/y"))
    assert resp.body == b"two GET /x/y"
    assert b2.last().header("Host") == "after"


@pytest.fixture
def short_dir():
    """A directory with a short path (sun_path holds 108 bytes)."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="ptx")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unix_socket_backend(portico, backends, short_dir):
    b = backends(unix=os.path.join(short_dir, "b.sock"), name="unix")
    srv = start(portico,
                "location / { proxy_pass http://%s; }\n"
                "location /u/ { proxy_pass http://%s/v/; }"
                % (b.addr, b.addr))
    resp = one(srv.port, get("/p?q=1"))
    assert resp.status == 200 and resp.body == b"unix GET /p?q=1"
    assert b.last().header("Host") == "localhost"
    # a unix socket has no peer address to speak of
    assert b.last().header("X-Real-IP") == "127.0.0.1"
    resp = one(srv.port, get("/u/w"))
    assert resp.body == b"unix GET /v/w"


def test_host_name_resolved_at_load(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://localhost:%d; }"
                % b.port)
    for i in range(3):
        resp = one(srv.port, get("/n%d" % i))
        assert resp.status == 200 and resp.body == b"b GET /n%d" % i
    assert b.last().header("Host") == "localhost:%d" % b.port


def test_ipv6_loopback_backend(portico, backends):
    try:
        b = backends(v6=True, name="six")
    except OSError:
        pytest.skip("no ::1 here")
    srv = start(portico, "location / { proxy_pass http://%s; }\n"
                "location /g { proxy_pass http://six; }" % b.addr,
                extra="upstream six { server %s; }" % b.addr)
    resp = one(srv.port, get("/x"))
    assert resp.status == 200 and resp.body == b"six GET /x"
    assert b.last().header("Host") == b.addr
    assert one(srv.port, get("/g")).body == b"six GET /g"


def test_upstream_server_forms(portico, backends, short_dir):
    """A host name, a unix socket and an address in one group."""
    by_name = backends(name="name")
    by_path = backends(unix=os.path.join(short_dir, "u.sock"), name="path")
    by_addr = backends(name="addr")
    srv = start(portico, "location / { proxy_pass http://mixed; }",
                extra="upstream mixed { server localhost:%d; server %s; "
                      "server %s; }" % (by_name.port, by_path.addr[:-1],
                                        by_addr.addr))
    c = Client(srv.port)
    names = [c.request(get("/")).header("X-Backend") for i in range(6)]
    c.close()
    assert sorted(names) == ["addr", "addr", "name", "name", "path", "path"]


# ---------------------------------------------------------------------------
# the request the backend gets

def test_default_headers_byte_exact(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, b"GET /x HTTP/1.1\r\nHost: Example.COM:8080\r\n"
               b"Accept: */*\r\nX-Custom: a b \r\nx-lower: 1\r\n\r\n")
    assert resp.status == 200
    assert b.last().head == default_head(
        b"/x", b.port, host="example.com",
        extra=b"Accept: */*\r\nX-Custom: a b\r\nx-lower: 1\r\n")


def test_http10_client_gets_an_http11_request(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    s = _send(srv.port, b"GET /old HTTP/1.0\r\n\r\n")
    data, closed = recv_until_close(s)
    s.close()
    resp, _ = parse_response(data)
    assert resp.status == 200 and closed
    assert b.last().line == b"GET /old HTTP/1.1"
    # no Host from the client: $host is the server's name (empty here)
    assert b.last().header("Host") == "127.0.0.1:%d" % b.port


def _send(port, data):
    s = connect(port)
    s.sendall(data)
    return s


def test_proxy_set_header_override_variable_and_removal(portico, backends):
    b = backends()
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_set_header Host "h-$host";
            proxy_set_header X-Method $request_method;
            proxy_set_header User-Agent "";
            proxy_set_header X-Empty "";
            proxy_set_header Accept "forced";
        }""" % b.addr)
    resp = one(srv.port, get("/v", host="example.org",
                             extra=b"User-Agent: secret\r\nAccept: a\r\n"
                                   b"X-Empty: client\r\nX-Keep: k\r\n"))
    assert resp.status == 200
    # a level with its own proxy_set_header replaces the defaults
    assert b.last().head == (b"GET /v HTTP/1.1\r\n"
                             b"Host: h-example.org\r\n"
                             b"X-Method: GET\r\n"
                             b"Accept: forced\r\n"
                             b"Connection: close\r\n"
                             b"X-Keep: k\r\n\r\n")


def test_proxy_set_header_inheritance(portico, backends):
    b = backends()
    srv = start(portico, """
        proxy_set_header X-Server s;
        location /inherit { proxy_pass http://%s; }
        location /own {
            proxy_pass http://%s;
            proxy_set_header X-Own o;
        }""" % (b.addr, b.addr), extra="proxy_set_header X-Http h;")
    one(srv.port, get("/inherit"))
    req = b.last()
    assert req.header("X-Server") == "s"
    assert req.header("X-Http") is None
    assert req.header("X-Real-IP") is None
    assert req.header("X-Forwarded-For") is None
    assert req.header("Host") == "127.0.0.1:%d" % b.port
    one(srv.port, get("/own"))
    req = b.last()
    assert req.header("X-Own") == "o"
    assert req.header("X-Server") is None
    assert req.header("Host") == "127.0.0.1:%d" % b.port


def test_x_forwarded_for_appends_the_client(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    one(srv.port, get("/", extra=b"X-Forwarded-For: 10.0.0.1\r\n"))
    assert b.last().header("X-Forwarded-For") == "10.0.0.1, 127.0.0.1"
    one(srv.port, get("/", extra=b"X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"
                                 b"X-Forwarded-For: 10.0.0.3\r\n"))
    assert (b.last().header("X-Forwarded-For")
            == "10.0.0.1, 10.0.0.2, 10.0.0.3, 127.0.0.1")
    assert b.last().header("X-Real-IP") == "127.0.0.1"


def test_hop_by_hop_headers_are_not_forwarded(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, get("/h", extra=(
        b"Connection: keep-alive, X-Drop, X-Forwarded-For, Te\r\n"
        b"Connection: X-Drop2\r\n"
        b"X-Drop: 1\r\nX-Drop2: 2\r\nX-Stay: 3\r\n"
        b"X-Forwarded-For: 10.9.9.9\r\n"
        b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n"
        b"TE: trailers\r\nTrailer: X-T\r\nUpgrade: websocket\r\n")))
    assert resp.status == 200
    req = b.last()
    for name in ("x-drop", "x-drop2", "keep-alive", "proxy-connection",
                 "te", "trailer", "upgrade", "transfer-encoding"):
        assert name not in req.names(), (name, req)
    assert req.header("X-Stay") == "3"
    assert req.header("Connection") == "close"
    # a client cannot strip our own X-Forwarded-For by naming it
    assert req.header("X-Forwarded-For").endswith("127.0.0.1")
    assert req.header("X-Real-IP") == "127.0.0.1"


def test_pass_request_headers_off(portico, backends):
    b = backends()
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_pass_request_headers off;
        }""" % b.addr)
    one(srv.port, get("/p", extra=b"User-Agent: u\r\nCookie: c=1\r\n"))
    assert b.last().head == default_head(b"/p", b.port, host="localhost")


def test_pass_request_body_off(portico, backends):
    b = backends()
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_pass_request_body off;
        }""" % b.addr)
    c = Client(srv.port)
    c.send(b"POST /nobody HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
           b"hello" + get("/next"))
    resp = c.response()
    assert resp.status == 200 and resp.body == b"b POST /nobody"
    assert b.requests[0].body == b""
    assert b.requests[0].header("Content-Length") == "0"
    # the client's body was dropped, and the next request parsed after it
    resp = c.response()
    assert resp.status == 200 and resp.body == b"b GET /next"
    c.close()


def test_proxy_method(portico, backends):
    b = backends()
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_method PROPFIND;
        }""" % b.addr)
    one(srv.port, get("/m?x"))
    assert b.last().line == b"PROPFIND /m?x HTTP/1.1"


def test_proxy_method_decides_whether_a_body_comes_back(portico, backends):
    """
    The response is framed by the method that went upstream: a HEAD sent
    for a client's GET gets no body (and no wait for one); a GET sent for
    a client's HEAD has its body dropped with its connection.
    """
    def handler(backend, req):
        if req.method == b"HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        backend.wait(0.05)
        return b"hello"

    b = backends(handler)
    srv = start(portico, """
        location /as-head { proxy_pass http://ka; proxy_method HEAD; }
        location /as-get { proxy_pass http://ka; proxy_method GET; }
        location / { proxy_pass http://ka; }""", **ka_conf(b))
    c = Client(srv.port)
    resp = c.request(get("/as-head"))
    assert resp.status == 200 and resp.body == b""
    assert resp.header("Content-Length") == "0"
    assert b.last().method == b"HEAD"
    resp = c.request(get("/as-get", method=b"HEAD"), head=True)
    assert resp.status == 200 and resp.header("Content-Length") == "5"
    assert b.last().method == b"GET"
    # the body the client did not want never reaches the next request
    for i in range(3):
        resp = c.request(get("/n%d" % i))
        assert resp.body == b"hello"
    c.close()


def test_post_body_forwarded_with_content_length(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    body = bytes(range(256)) * 40
    resp = one(srv.port, b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: "
               b"%d\r\nContent-Type: application/octet-stream\r\n\r\n"
               % len(body) + body)
    assert resp.status == 200
    req = b.last()
    assert req.body == body
    assert req.header("Content-Length") == str(len(body))
    assert req.header("Content-Type") == "application/octet-stream"


def test_chunked_client_body_forwarded_with_content_length(portico,
                                                           backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    body = os.urandom(50000)
    resp = one(srv.port, b"POST /c HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, 777))
    assert resp.status == 200
    req = b.last()
    assert req.header("Transfer-Encoding") is None
    assert req.header("Content-Length") == str(len(body))
    assert req.body == body
    # an empty chunked body is still a body: Content-Length: 0
    one(srv.port, b"POST /c HTTP/1.1\r\nHost: x\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert b.last().header("Content-Length") == "0"


def test_expect_100_continue(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = Client(srv.port)
    c.send(b"PUT /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
           b"Expect: 100-continue\r\n\r\n")
    interim = c.response()
    assert interim.status == 100 and interim.raw == (
        b"HTTP/1.1 100 Continue\r\n\r\n")
    c.send(b"data")
    resp = c.response()
    assert resp.status == 200 and resp.body == b"b PUT /e"
    assert b.last().body == b"data"
    assert b.last().header("Expect") is None
    c.close()


def test_100_mib_request_body_through_a_temp_file(portico, backends):
    b = backends()
    os.makedirs(str(Path(portico.base) / "body"), exist_ok=True)
    os.chmod(str(Path(portico.base) / "body"), 0o777)
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            client_max_body_size 0;
            client_body_temp_path %s/body;
        }""" % (b.addr, portico.base))
    size = 100 << 20
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    c = big_buffers_client(srv.port, 60)
    s = c.sock
    s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % size)
    for i in range(100):
        piece = block[i:] + block[:i]    # every MiB different
        s.sendall(piece)
        h.update(piece)
    resp = c.response()
    s.close()
    assert resp.status == 200 and resp.body == b"b POST /big"
    req = b.last()
    assert req.body_len == size
    assert req.header("Content-Length") == str(size)
    assert req.sha256 == h.hexdigest()
    assert "buffered to a temporary file" in srv.error_log()


# ---------------------------------------------------------------------------
# the response the client gets

def test_status_and_end_to_end_headers_relayed(portico, backends):
    def handler(backend, req):
        return response(201, b"made", [
            ("Server", "Backend/1.0"), ("X-Powered-By", "PHP/5"),
            ("Date", "Mon, 01 Jan 2001 00:00:00 GMT"), ("X-Pad", "avoid"),
            ("Location", "http://127.0.0.1/new"), ("ETag", '"e1"'),
            ("Cache-Control", "no-store"), ("X-A", "1"), ("X-A", "2"),
            ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
            ("Content-Type", "text/x-made"),
            ("Connection", "X-Hop"), ("X-Hop", "h"),
            ("Keep-Alive", "timeout=3")])

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, get("/"))
    assert resp.status == 201 and resp.body == b"made"
    assert resp.header("Server").startswith("portico")
    date = resp.header("Date")
    assert date and "2001" not in date
    for hidden in ("X-Powered-By", "X-Pad", "X-Hop", "Keep-Alive"):
        assert resp.header(hidden) is None, hidden
    assert resp.header_all("X-A") == ["1", "2"]
    assert resp.header_all("Set-Cookie") == ["a=1", "b=2"]
    assert resp.header("Location") == "http://127.0.0.1/new"
    assert resp.header("ETag") == '"e1"'
    assert resp.header("Cache-Control") == "no-store"
    assert resp.header("Content-Type") == "text/x-made"
    assert resp.header("Content-Length") == "4"
    assert resp.header("Connection") == "keep-alive"


def test_proxy_hide_header_and_proxy_pass_header(portico, backends):
    def handler(backend, req):
        return response(200, b"x", [
            ("Server", "Backend/1.0"), ("X-Powered-By", "PHP/5"),
            ("Date", "Mon, 01 Jan 2001 00:00:00 GMT"),
            ("X-Secret", "s"), ("X-Public", "p")])

    b = backends(handler)
    srv = start(portico, """
        proxy_hide_header X-Secret;
        location /pass {
            proxy_pass http://%s;
            proxy_pass_header Server;
            proxy_pass_header Date;
            proxy_pass_header x-powered-by;
        }
        location / { proxy_pass http://%s; }""" % (b.addr, b.addr))
    resp = one(srv.port, get("/pass"))
    # each once: the backend's, not ours as well
    assert resp.header("Server") == "Backend/1.0"
    assert resp.header("Date") == "Mon, 01 Jan 2001 00:00:00 GMT"
    assert resp.header("X-Powered-By") == "PHP/5"
    assert resp.header("X-Secret") is None
    assert resp.header("X-Public") == "p"
    resp = one(srv.port, get("/"))
    assert resp.header("Server").startswith("portico")
    assert resp.header("X-Powered-By") is None
    assert resp.header("X-Secret") is None


def test_status_line_without_reason_and_unknown_code(portico, backends):
    def handler(backend, req):
        if req.target == b"/bare":
            return b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"
        return b"HTTP/1.1 599 Custom Thing\r\nContent-Length: 2\r\n\r\nno"

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, get("/bare"))
    assert resp.status == 200 and resp.body == b"ok"
    resp = one(srv.port, get("/custom"))
    assert resp.status == 599 and resp.body == b"no"
    assert resp.raw.startswith(b"HTTP/1.1 599 Custom Thing\r\n")


def body_handler(backend, req):
    """/cl, /chunked, /close: a body of N bytes (?N) framed so."""
    path, _, n = req.target.partition(b"?")
    body = bytes(i % 251 for i in range(int(n or 1000)))
    if path == b"/cl":
        return response(200, body, [("X-F", "cl")])
    if path == b"/chunked":
        return response(200, chunked(body, 999), [
            ("Transfer-Encoding", "chunked")], length=False)
    if path == b"/close":
        req.close = True
        return response(200, body, [("X-F", "close")], length=False)
    return response(404, b"")


@pytest.mark.parametrize("framing", ["cl", "chunked", "close"])
def test_body_framings_to_an_http11_client(portico, backends, framing):
    b = backends(body_handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = Client(srv.port)
    for n in (0, 1, 100000):
        resp = c.request(get("/%s?%d" % (framing, n)))
        assert resp.status == 200
        assert resp.body == bytes(i % 251 for i in range(n)), (framing, n)
        if framing == "cl":
            assert resp.header("Content-Length") == str(n)
        else:
            # chunked as it came, or chunked instead of a close
            assert resp.header("Transfer-Encoding") == "chunked"
            assert resp.header("Content-Length") is None
        assert resp.header("Connection") == "keep-alive"
    c.close()


@pytest.mark.parametrize("framing", ["cl", "chunked", "close"])
def test_body_framings_to_an_http10_client(portico, backends, framing):
    b = backends(body_handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    s = _send(srv.port, b"GET /%s?70000 HTTP/1.0\r\n\r\n" % framing.encode())
    data, closed = recv_until_close(s)
    s.close()
    assert closed
    resp, end = parse_response(data)
    assert end == len(data)
    assert resp.body == bytes(i % 251 for i in range(70000))
    assert resp.header("Transfer-Encoding") is None
    assert resp.header("Content-Length") == (
        "70000" if framing == "cl" else None)


def test_head_response_keeps_its_content_length(portico, backends):
    def handler(backend, req):
        assert req.method == b"HEAD"
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n"
                b"Content-Type: text/x-h\r\n\r\n")

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = Client(srv.port)
    for i in range(2):
        resp = c.request(get("/h", method=b"HEAD"), head=True)
        assert resp.status == 200 and resp.body == b""
        assert resp.header("Content-Length") == "1234"
        assert resp.header("Content-Type") == "text/x-h"
    assert b.last().line == b"HEAD /h HTTP/1.1"
    # nothing followed the heads: the connection holds nothing more
    c.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        c.sock.recv(1)
    c.close()


def test_204_and_304_have_no_body(portico, backends):
    def handler(backend, req):
        if req.target == b"/204":
            return b"HTTP/1.1 204 No Content\r\nX-N: 1\r\n\r\n"
        return (b'HTTP/1.1 304 Not Modified\r\nETag: "v"\r\n'
                b"Cache-Control: max-age=1\r\n\r\n")

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = Client(srv.port)
    resp = c.request(get("/204"))
    assert resp.status == 204 and resp.header("X-N") == "1"
    assert resp.header("Transfer-Encoding") is None
    resp = c.request(get("/304", extra=b'If-None-Match: "v"\r\n'))
    assert resp.status == 304 and resp.header("ETag") == '"v"'
    assert resp.header("Transfer-Encoding") is None
    resp = c.request(get("/204"))
    assert resp.status == 204
    assert c.buf == b""
    c.close()


def test_backend_preconditions_are_its_own(portico, backends):
    """
    The backend evaluated If-Match and friends itself: its answer is not
    turned into a 412 or a 304 on the way.
    """
    def handler(backend, req):
        return response(200, b"updated", [("Last-Modified",
                                           "Mon, 01 Jan 2001 00:00:00 GMT"),
                                          ("ETag", '"new"')])

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, b"PUT /r HTTP/1.1\r\nHost: x\r\nIf-Match: \"old\"\r\n"
               b"Content-Length: 1\r\n\r\nx")
    assert resp.status == 200 and resp.body == b"updated"
    assert b.last().header("If-Match") == '"old"'
    resp = one(srv.port, get("/r", extra=b"If-Unmodified-Since: "
                                         b"Sun, 01 Jan 2000 00:00:00 GMT\r\n"))
    assert resp.status == 200 and resp.body == b"updated"
    resp = one(srv.port, get("/r", extra=b'If-None-Match: "new"\r\n'))
    assert resp.status == 200 and resp.body == b"updated"


def sent_digest(b, timeout=30):
    """
    The SHA-256 of what a big backend sent, once it has finished: the
    client can read the last byte before the backend's last send returns.
    """
    wait_for(lambda: getattr(b, "sent_sha256", None) is not None, timeout,
             what="the backend to finish sending")
    return b.sent_sha256


def big_handler(size, block_size=1 << 20):
    """A handler that sends size bytes (Content-Length) made of blocks."""
    def handler(backend, req):
        if not req.target.startswith(b"/big"):
            return Backend.echo(backend, req)
        block = os.urandom(block_size)
        h = hashlib.sha256()
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                         % size)
        sent = 0
        i = 0
        while sent < size:
            piece = block[i % 97:] + block[:i % 97]
            piece = piece[:size - sent]
            h.update(piece)
            req.sock.sendall(piece)
            sent += len(piece)
            i += 1
        backend.sent_sha256 = h.hexdigest()
        backend.finished = time.monotonic()
        return None

    return handler


def read_body(c, resp_head_only=False, chunk=1 << 20, pause=0.0,
              until=None):
    """
    Reads a Content-Length response from Client c's socket by hand:
    returns (head bytes, sha256 of the body, body length). pause: seconds
    to sleep between reads; until(n) is called after each read.
    """
    s = c.sock
    s.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        assert d, data
        data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    h = hashlib.sha256(rest)
    got = len(rest)
    while got < length:
        d = s.recv(min(chunk, length - got))
        assert d, "closed after %d of %d bytes" % (got, length)
        h.update(d)
        got += len(d)
        if until:
            until(got)
        if pause:
            time.sleep(pause)
    return head, h.hexdigest(), got


def test_100_mib_response_with_bounded_memory(portico, backends):
    """Streamed (buffering is in test_proxy_buffering.py): one buffer."""
    size = 100 << 20
    b = backends(big_handler(size))
    srv = start(portico, "location / { proxy_pass http://%s; "
                         "proxy_buffering off; }" % b.addr)
    pids = worker_pids(srv)
    one(srv.port, get("/warm"))     # (a first request's allocations)
    b.requests.clear()
    base = max(rss_kib(p) for p in pids)
    c = Client(srv.port, timeout=60)
    c.send(get("/big"))
    peak = [0]

    def sample(got):
        if got < 8 << 20:
            # a slow start: every buffer on the way fills up
            time.sleep(0.02)
        peak[0] = max([peak[0]] + [rss_kib(p) for p in pids])

    head, digest, got = read_body(c, chunk=256 << 10, until=sample)
    c.close()
    assert got == size
    assert digest == sent_digest(b)
    assert b.last().line == b"GET /big HTTP/1.1"
    # one buffer per request, whatever the body's size
    assert peak[0] - base < 32 * 1024, (base, peak[0])


def test_slow_client_fast_backend(portico, backends):
    """The backend is done long before the client; every byte arrives."""
    size = 512 << 10

    def handler(backend, req):
        req.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        return big_handler(size, 1 << 14)(backend, req)

    b = backends(handler)
    b.finished = None
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = big_buffers_client(srv.port)
    c.send(get("/big"))

    def slowly(got):
        if got < 64 << 10:
            time.sleep(0.02)
        elif got < size:
            # the rest waits in buffers on the way, the backend is done
            wait_for(lambda: b.finished, 10, what="the backend to finish")

    head, digest, got = read_body(c, chunk=8 << 10, until=slowly)
    assert got == size and digest == sent_digest(b)
    c.close()


def test_fast_client_slow_backend_streams(portico, backends):
    """Pieces reach the client as the backend sends them, not at the end."""
    seen = threading.Event()
    pieces = [os.urandom(n) for n in (1, 100, 5000, 33333, 7)]

    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         b"\r\n")
        for i, p in enumerate(pieces):
            req.sock.sendall(b"%x\r\n%s\r\n" % (len(p), p))
            if i == 0:
                # the rest only once the client had the first piece
                assert seen.wait(5)
            else:
                backend.wait(0.03)
        req.sock.sendall(b"0\r\n\r\n")

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    c = Client(srv.port)
    c.send(get("/trickle"))
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"\r\n"):
        d = c.sock.recv(65536)
        assert d
        data += d
        if b"\r\n\r\n" in data and len(data.split(b"\r\n\r\n", 1)[1]) >= 4:
            break
    seen.set()
    c.buf = data
    resp = c.response()
    assert resp.body == b"".join(pieces)
    c.close()


# ---------------------------------------------------------------------------
# upstream keep-alive

def ka_conf(b, keepalive="keepalive 4;"):
    return dict(extra="upstream ka { server %s; %s }" % (b.addr, keepalive))


def test_keepalive_reuses_one_connection(portico, backends):
    """
    (One client connection: with several workers, each worker has a pool
    of its own, and the client's connection stays with one of them.)
    """
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; }", **ka_conf(b))
    c = Client(srv.port)
    for i in range(10):
        resp = c.request(get("/k%d" % i))
        assert resp.status == 200 and resp.body == b"b GET /k%d" % i
    assert b.conns == 1
    assert [r.conn for r in b.requests] == [1] * 10
    # HTTP/1.1 keeps the connection without saying so
    assert b.last().header("Connection") is None
    # the same with bodies of every framing
    b.handler = body_handler
    for framing in ("cl", "chunked", "cl", "chunked"):
        resp = c.request(get("/%s?3000" % framing))
        assert len(resp.body) == 3000
    c.close()
    assert b.conns == 1


@pytest.mark.parametrize("delay", [0, 0.1])
def test_keepalive_connection_closed_by_the_backend_after_a_response(
        portico, backends, delay):
    def handler(backend, req):
        # closes after each response (at once or a little later), without
        # a word
        req.sock.sendall(Backend.echo(backend, req))
        backend.wait(delay)
        req.close = True

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }", **ka_conf(b))
    for i in range(5):
        resp = one(srv.port, get("/c%d" % i))
        assert resp.status == 200 and resp.body == b"b GET /c%d" % i
        b.wait_requests(i + 1)
        wait_for(lambda: len(b.closed) == i + 1)
    assert b.conns == 5


def test_keepalive_connection_closed_when_the_next_request_came(
        portico, backends):
    """
    The backend drops an idle connection just as a request arrives on it:
    the request goes again, whole, on a new connection.
    """
    def handler(backend, req):
        if req.conn == 1 and req.target == b"/second":
            req.close = True        # as if idle too long: no answer
            return None
        return Backend.echo(backend, req)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }", **ka_conf(b))
    c = Client(srv.port)
    assert c.request(get("/first")).body == b"b GET /first"
    resp = c.request(get("/second"))
    assert resp.status == 200 and resp.body == b"b GET /second"
    assert [(r.conn, r.target) for r in b.requests] == [
        (1, b"/first"), (1, b"/second"), (2, b"/second")]
    assert b.requests[2].head == b.requests[1].head
    # and with a body
    resp = c.request(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3"
                     b"\r\n\r\nabc")
    assert resp.status == 200 and b.last().body == b"abc"
    c.close()


def test_keepalive_requests(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; }",
                **ka_conf(b, "keepalive 2; keepalive_requests 3;"))
    c = Client(srv.port)
    for i in range(7):
        assert c.request(get("/r%d" % i)).status == 200
    c.close()
    assert [r.conn for r in b.requests] == [1, 1, 1, 2, 2, 2, 3]
    # Portico closed the connections it was done with
    wait_for(lambda: len(b.closed) >= 2)


def test_keepalive_timeout_closes_idle_connections(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; }",
                **ka_conf(b, "keepalive 2; keepalive_timeout 300ms;"))
    assert one(srv.port, get("/")).status == 200
    t0 = time.monotonic()
    wait_for(lambda: b.closed, 5, what="the idle connection to close")
    assert b.closed[1] - t0 < 3
    assert one(srv.port, get("/again")).status == 200
    assert b.conns == 2


def test_graceful_shutdown_closes_idle_upstream_connections(portico,
                                                            backends):
    """Kept-alive upstream connections do not hold a stopping server."""
    import signal
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; }",
                **ka_conf(b, "keepalive 4; keepalive_timeout 60s;"))
    assert one(srv.port, get("/")).status == 200
    t0 = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    assert srv.wait_exit(10) == 0
    assert time.monotonic() - t0 < 5
    wait_for(lambda: b.closed, 5)


@pytest.mark.parametrize("directive", [
    "proxy_http_version 1.0;",
    "proxy_set_header Connection $connection_upgrade;",
    "proxy_set_header Connection close;",
])
def test_no_reuse_after_asking_the_backend_to_close(portico, backends,
                                                    directive):
    """
    A request that went with "Connection: close" leaves its connection to
    close, even when the backend answers HTTP/1.1 and does not close it.
    """
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; %s }"
                % directive, **ka_conf(b))
    for i in range(3):
        assert one(srv.port, get("/%d" % i)).status == 200
    assert b.conns == 3
    assert b.last().header("Connection") == "close"
    if "1.0" in directive:
        assert b.last().line == b"GET /2 HTTP/1.0"
    # and Portico closed them
    wait_for(lambda: len(b.closed) == 3, 5)


def test_no_keepalive_without_the_directive(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    for i in range(3):
        assert one(srv.port, get("/")).status == 200
    assert b.conns == 3
    assert all(r.header("Connection") == "close" for r in b.requests)


# ---------------------------------------------------------------------------
# round robin

def test_round_robin_weights(portico, backends):
    heavy, light = backends(name="heavy"), backends(name="light")
    srv = start(portico, "location / { proxy_pass http://rr; }",
                extra="upstream rr { server %s weight=3; server %s; }"
                      % (heavy.addr, light.addr))
    c = Client(srv.port)
    names = []
    for i in range(400):
        names.append(c.request(get("/%d" % i)).header("X-Backend"))
    c.close()
    assert 270 <= names.count("heavy") <= 330, names.count("heavy")
    assert names.count("heavy") + names.count("light") == 400
    # smooth: the light one is never starved for long
    runs = "".join(n[0] for n in names).split("l")
    assert max(len(r) for r in runs) <= 3


def test_round_robin_down(portico, backends):
    b1, b2, b3 = (backends(name="b%d" % i) for i in (1, 2, 3))
    srv = start(portico, "location / { proxy_pass http://rr; }",
                extra="upstream rr { server %s; server %s down; "
                      "server %s; }" % (b1.addr, b2.addr, b3.addr))
    c = Client(srv.port)
    names = [c.request(get("/")).header("X-Backend") for i in range(20)]
    c.close()
    assert b2.conns == 0
    assert names.count("b1") == names.count("b3") == 10


# ---------------------------------------------------------------------------
# WebSocket

class WsEcho:
    """A python3-websockets echo server in a thread of its own."""

    def __init__(self):
        import websockets
        self.websockets = websockets
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = None
        self.closed = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(5), "the websocket server did not start"

    async def _echo(self, ws, path=None):
        try:
            async for m in ws:
                await ws.send(m)
        except self.websockets.ConnectionClosed:
            pass
        finally:
            self.closed += 1

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stop_future = self.loop.create_future()
            server = await self.websockets.serve(
                self._echo, "127.0.0.1", 0, max_size=None, close_timeout=1)
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self.stop_future
            server.close()
            await server.wait_closed()

        self.loop.run_until_complete(main())
        self.loop.close()

    def stop(self):
        self.loop.call_soon_threadsafe(
            lambda: self.stop_future.done() or self.stop_future.set_result(0))
        self.thread.join(5)


@pytest.fixture
def ws_echo():
    pytest.importorskip("websockets")
    server = WsEcho()
    yield server
    server.stop()


WS_CONF = """
        location /ws {
            proxy_pass http://127.0.0.1:%d;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout %s;
        }"""


def test_websocket_echo_through_the_proxy(portico, ws_echo):
    import websockets
    srv = start(portico, WS_CONF % (ws_echo.port, "5s"))
    big = os.urandom(1 << 20)

    async def client():
        async with websockets.connect(
                "ws://127.0.0.1:%d/ws" % srv.port, max_size=None,
                open_timeout=10) as ws:
            got = []
            for m in ["hello", b"\x00\x01\x02bin", "\u00e9t\u00e9" * 1000,
                      bytes(range(256)) * 300, big, ""]:
                await ws.send(m)
                got.append((m, await asyncio.wait_for(ws.recv(), 10)))
            headers = ws.response_headers
            await ws.close()
            return got, headers, ws.close_code

    got, headers, code = asyncio.run(client())
    for sent, back in got:
        assert type(sent) is type(back) and sent == back
    assert headers["Connection"].lower() == "upgrade"
    assert headers["Upgrade"].lower() == "websocket"
    assert code == 1000
    wait_for(lambda: ws_echo.closed == 1)


def test_websocket_idle_tunnel_closes_after_proxy_read_timeout(portico,
                                                               ws_echo):
    import websockets
    srv = start(portico, WS_CONF % (ws_echo.port, "1s"))

    async def client():
        async with websockets.connect(
                "ws://127.0.0.1:%d/ws" % srv.port, ping_interval=None,
                open_timeout=10) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), 8)
            except websockets.ConnectionClosed:
                return time.monotonic() - t0
            raise AssertionError("the tunnel got a message")

    idle = asyncio.run(client())
    assert 0.8 <= idle < 5, idle
    srv.wait_log(r"idle too long")
    wait_for(lambda: ws_echo.closed == 1)


def test_upgrade_tunnel_keeps_bytes_sent_early(portico, backends):
    """
    Bytes the client sends right behind its Upgrade request, and bytes the
    backend sends right behind its 101, go through in order: also when the
    client's header buffer holds more of them than proxy_buffer_size.
    """
    early = os.urandom(40000)        # more than proxy_buffer_size 1k
    late = os.urandom(70000)

    def raw(backend, s, n):
        data = b""
        while b"\r\n\r\n" not in data:
            d = backend.recv(s)
            if not d:
                return
            data += d
        head, _, data = data.partition(b"\r\n\r\n")
        backend.head = head
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-echo\r\n"
                  b"Connection: Upgrade\r\n\r\nhello from the backend")
        while len(data) < len(early) + len(late):
            d = backend.recv(s)
            if not d:
                return
            data += d
        s.sendall(data[::-1])

    b = backends(raw=raw)
    srv = start(portico, WS_CONF % (b.port, "5s; proxy_buffer_size 1k"),
                server_extra="client_header_buffer_size 8k;")
    c = Client(srv.port)
    c.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: x-echo\r\n"
           b"Connection: Upgrade\r\n\r\n" + early)
    want = (b"hello from the backend" + (early + late)[::-1])
    resp = c.response(head=True)
    assert resp.status == 101
    assert resp.header("Upgrade") == "x-echo"
    assert resp.header("Connection") == "upgrade"
    c.send(late)
    data = c.buf
    while len(data) < len(want):
        d = c.sock.recv(65536)
        assert d, len(data)
        data += d
    assert data == want
    c.close()
    assert b"\r\nUpgrade: x-echo\r\n" in b.head
    assert b"\r\nConnection: upgrade" in b.head


def test_upgrade_not_asked_for_is_not_forwarded(portico, backends):
    """Without proxy_set_header Upgrade, a client's Upgrade stays here."""
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    resp = one(srv.port, get("/", extra=b"Upgrade: websocket\r\n"
                                        b"Connection: Upgrade\r\n"))
    assert resp.status == 200
    assert b.last().header("Upgrade") is None
    assert b.last().header("Connection") == "close"


# ---------------------------------------------------------------------------
# variables

VARS_LOG = ("log_format up '$status|$upstream_addr|$upstream_status|"
            "$upstream_response_time|$upstream_connect_time|"
            "$upstream_header_time|$upstream_bytes_received|"
            "$upstream_http_x_backend|$proxy_host';\n"
            "access_log {tmp}/up.log up;")


def log_lines(srv, n):
    path = Path(srv.tmp) / "up.log"

    def enough():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None

    return wait_for(enough, what="%d access log lines" % n)


TIME = r"\d+\.\d{3}"


def test_upstream_variables(portico, backends):
    b = backends()
    srv = portico.start(http(server(
        "location / { proxy_pass http://%s; }\n"
        "location /ka { proxy_pass http://ka; }" % b.addr),
        VARS_LOG + "\nupstream ka { server %s; keepalive 2; }" % b.addr))
    resp = one(srv.port, get("/v"))
    c = Client(srv.port)
    c.request(get("/ka"))
    c.request(get("/ka"))
    c.close()
    raw_len = len(response(200, b"b GET /v", [("X-Backend", "b"),
                                              ("Content-Type",
                                               "text/plain")]))
    lines = log_lines(srv, 3)
    f = lines[0].split("|")
    assert f[0] == "200" and f[1] == b.addr and f[2] == "200"
    for t in f[3:6]:
        assert re.match("^%s$" % TIME, t), lines[0]
    assert f[6] == str(raw_len)
    assert f[7] == "b" and f[8] == b.addr
    # a kept-alive connection took no time to connect
    f = lines[2].split("|")
    assert f[4] == "0.000" and f[8] == "ka", lines[2]
    assert resp.status == 200


def test_upstream_variables_over_retries(portico, backends):
    b = backends()
    dead = free_dead_port()
    srv = portico.start(http(server(
        "location / { proxy_pass http://two; }"),
        VARS_LOG + "\nupstream two { server 127.0.0.1:%d; server %s; }"
        % (dead, b.addr)))
    # round robin starts with the first: it refuses, the second answers
    assert one(srv.port, get("/r")).status == 200
    f = log_lines(srv, 1)[0].split("|")
    assert f[1] == "127.0.0.1:%d, %s" % (dead, b.addr)
    assert f[2] == "502, 200"
    assert f[4].startswith(("0.", "-"))
    assert f[5].split(", ")[0] == "-"
    assert f[6].split(", ")[0] == "0"
    assert f[7] == "b" and f[8] == "two"
    srv.wait_log(r"connect\(\) failed .*127\.0\.0\.1:%d" % dead)


def free_dead_port():
    """A loopback port nobody listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_upstream_variables_without_proxy(portico):
    srv = portico.start(http(server("location / { return 200 x; }"),
                             VARS_LOG))
    one(srv.port, get("/"))
    assert log_lines(srv, 1)[0] == "200|-|-|-|-|-|-|-|-"


# ---------------------------------------------------------------------------
# configuration errors

def conf_error(tmp_path, text):
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc != 0, err
    emerg = [l for l in err.splitlines() if "[emerg]" in l]
    assert emerg, err
    return emerg[0], tmp_path / "portico.conf"


@pytest.mark.parametrize("text, message", [
    ("server { location / { proxy_pass ftp://$host; } }",
     r'invalid URL prefix in "ftp://\$host"'),
    ("server { location ~ ^/x { proxy_pass http://127.0.0.1:1/y; } }",
     r'"proxy_pass" cannot have a URI part in a location given by a '
     r'regular expression'),
    ("server { location / { proxy_pass ftp://127.0.0.1; } }",
     r'invalid URL prefix'),
    ("server { location / { proxy_pass http://127.0.0.1:1; "
     "proxy_pass http://127.0.0.1:2; } }",
     r'"proxy_pass" directive is duplicate'),
    ("upstream u { }", r"no servers are inside upstream"),
    ("upstream u { server 127.0.0.1:1 weight=0; }",
     r'invalid parameter "weight=0"'),
    ("upstream u { server 127.0.0.1:1 weight=x; }",
     r'invalid parameter "weight=x"'),
    ("upstream u { server 127.0.0.1:1 max_fails=-1; }",
     r'invalid parameter "max_fails=-1"'),
    ("upstream u { server 127.0.0.1:1 fail_timeout=soon; }",
     r'invalid parameter "fail_timeout=soon"'),
    ("upstream u { server 127.0.0.1:1 bogus; }",
     r'invalid parameter "bogus"'),
    ("upstream u { server 127.0.0.1:1; keepalive 0; }",
     r'invalid value "0" in "keepalive"'),
    ("upstream u { server 127.0.0.1:1; }\nupstream u { server "
     "127.0.0.1:2; }", r'duplicate upstream "u"'),
    ("server { location / { proxy_buffer_size 100; "
     "proxy_pass http://127.0.0.1:1; } }",
     r'"proxy_buffer_size" must be at least 1k'),
])
def test_config_errors(tmp_path, text, message):
    line, conf = conf_error(tmp_path, text)
    assert re.search(message, line), line
    # the line that is wrong (the last line of a one-line test)
    last = len(conf.read_text().rstrip("\n").split("\n")) - 1
    m = re.search(r" in (\S+):(\d+)$", line)
    assert m, line
    assert m.group(1) == str(conf)
    assert 1 < int(m.group(2)) <= last + 1, line


def test_unknown_upstream_host(tmp_path):
    text = ("server {\n    location / {\n"
            "        proxy_pass http://nonexistent.invalid:81;\n    }\n}")
    line, conf = conf_error(tmp_path, text)
    assert 'host not found in upstream "nonexistent.invalid"' in line, line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, "nonexistent")))


def test_unknown_host_in_an_upstream_block(tmp_path):
    text = "upstream u {\n    server nonexistent.invalid:81;\n}"
    line, conf = conf_error(tmp_path, text)
    assert 'host not found in upstream "nonexistent.invalid:81"' in line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, "nonexistent")))


def test_unknown_upstream_name_without_a_block(tmp_path):
    text = ("server {\n    location / {\n"
            "        proxy_pass http://no_such_group;\n    }\n}")
    line, conf = conf_error(tmp_path, text)
    assert 'host not found in upstream "no_such_group"' in line, line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, "no_such")))


def test_valid_configuration_passes_the_test(tmp_path):
    rc, out, err = run_portico(["-t"], http(
        "upstream u { server 127.0.0.1:1 weight=2 max_fails=3 "
        "fail_timeout=5s; server 127.0.0.1:2 down; keepalive 8; "
        "keepalive_requests 10; keepalive_timeout 5s; keepalive_time 1h; }\n"
        "server { location / { proxy_pass http://u; "
        "proxy_next_upstream error timeout http_502 non_idempotent; "
        "proxy_next_upstream_tries 2; proxy_http_version 1.0; "
        "proxy_buffer_size 4k; } }"), tmp=tmp_path)
    assert rc == 0, err


def test_100_mib_response_buffered_byte_exact(portico, backends):
    """proxy_buffering on (the default): buffers, then the temp file."""
    size = 100 << 20
    b = backends(big_handler(size))
    os.makedirs(str(Path(portico.base) / "ptemp"), exist_ok=True)
    os.chmod(str(Path(portico.base) / "ptemp"), 0o777)
    srv = start(portico, "location / { proxy_pass http://%s; "
                         "proxy_temp_path %s/ptemp; }"
                % (b.addr, portico.base))
    c = Client(srv.port, timeout=60)
    c.send(get("/big"))
    head, digest, got = read_body(c, chunk=1 << 20)
    c.close()
    assert got == size
    assert digest == sent_digest(b)


def test_100_mib_request_body_streamed(portico, backends):
    """proxy_request_buffering off: the body goes as it comes, intact."""
    b = backends()
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_request_buffering off;
            client_max_body_size 0;
        }""" % b.addr)
    size = 100 << 20
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    c = big_buffers_client(srv.port, 60)
    s = c.sock
    s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % size)
    for i in range(100):
        piece = block[i:] + block[:i]
        s.sendall(piece)
        h.update(piece)
    resp = c.response()
    s.close()
    assert resp.status == 200 and resp.body == b"b POST /big"
    req = b.last()
    assert req.body_len == size
    assert req.sha256 == h.hexdigest()
    assert "buffered to a temporary file" not in srv.error_log()


def test_many_client_headers_sent_or_left_out(portico, backends):
    """Near the limit of 100 headers, each is sent or left out as it should."""
    b = backends()
    srv = start(portico, "location / { proxy_pass http://%s; }" % b.addr)
    extra = b"".join(b"X-H-%d: v%d\r\n" % (i, i) for i in range(90))
    # hop-by-hop ones early and late: never forwarded
    extra = b"Keep-Alive: 5\r\n" + extra + b"TE: trailers\r\nX-Drop: 1\r\n"
    extra += b"Connection: X-Drop\r\n"
    resp = one(srv.port, get("/", extra=extra))
    assert resp.status == 200
    names = b.last().names()
    assert [n for n in names if n.startswith("x-h-")] == \
        ["x-h-%d" % i for i in range(90)]
    assert "keep-alive" not in names and "te" not in names
    assert "x-drop" not in names
