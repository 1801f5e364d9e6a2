"""
The proxy against backends that misbehave: refuse, never answer, cannot
be connected to, send a garbage or ambiguous response head (every framing
two parsers could read differently is a 502 and never reaches the client),
cut the body short, send more body than announced, answer a HEAD with a
body, or stream forever to a client that left. Each gives the right
status, an error log line naming the upstream, and a sane connection; the
server never crashes (the fixture checks).

Then proxy_next_upstream: which failures try the next server, that a
non-idempotent request is not sent twice unless allowed, max_fails and
fail_timeout, and that all servers down is a 502 at once.

The backends are the threads of test_proxy.py.
"""

import os
import re
import socket
import struct
import threading
import time

import pytest

from conftest import Client, connect, get, parse_response, recv_until_close, \
    wait_for
from test_proxy import (Backend, chunked, free_dead_port, one, response,
                        start)
from test_proxy import backends  # noqa: F401 (the fixture)


def loc(b, extra=""):
    return "location / { proxy_pass http://%s; %s }" % (b.addr, extra)


def assert_status(resp, status):
    assert resp.status == status, resp
    # our own error page, not anything the backend sent
    assert b"<center>portico" in resp.body or resp.body == b"", resp.body


def upstream_named(b):
    return r'upstream: "%s/' % re.escape(b.addr)


# ---------------------------------------------------------------------------
# connecting

def test_connection_refused_is_a_502_at_once(portico):
    port = free_dead_port()
    srv = start(portico, "location / { proxy_pass http://127.0.0.1:%d; }"
                % port)
    t0 = time.monotonic()
    resp = one(srv.port, get("/r"))
    assert time.monotonic() - t0 < 2
    assert_status(resp, 502)
    srv.wait_log(r"\[error\].*connect\(\) failed \(111: Connection refused\)"
                 r".*upstream: \"127\.0\.0\.1:%d/r\"" % port)


def silent_handler(backend, req):
    """A handler that never answers: it waits for the other end to go."""
    while backend.recv(req.sock):
        pass
    req.close = True


def test_backend_that_never_answers_is_a_504(portico, backends):
    b = backends(silent_handler)
    srv = start(portico, loc(b, "proxy_read_timeout 1s;"))
    c = Client(srv.port, timeout=10)
    t0 = time.monotonic()
    resp = c.request(get("/silent"))
    took = time.monotonic() - t0
    assert_status(resp, 504)
    assert 0.9 <= took < 4, took
    # the client's connection goes on
    assert resp.header("Connection") == "keep-alive"
    assert c.request(get("/silent")).status == 504
    c.close()
    srv.wait_log(r"\[error\].*upstream timed out .*while reading response "
                 r"header from upstream.*" + upstream_named(b))
    # and the backend's connections were closed
    wait_for(lambda: len(b.closed) == 2, 5)


def test_missing_unix_socket_is_a_502(portico, tmp_path):
    srv = start(portico, "location / { proxy_pass http://unix:%s/no.sock:; }"
                % tmp_path)
    for i in range(2):
        assert_status(one(srv.port, get("/u")), 502)
    srv.wait_log(r"connect\(\) to unix:%s/no\.sock failed \(2: "
                 % re.escape(str(tmp_path)))


def test_backend_that_does_not_read_the_body(portico, backends):
    def raw(backend, s, n):
        data = b""
        while b"\r\n\r\n" not in data:
            d = backend.recv(s)
            if not d:
                return
            data += d
        backend.wait(30)

    b = backends(raw=raw)
    srv = start(portico, loc(b, "proxy_send_timeout 500ms; "
                                "client_max_body_size 0;"))
    body = b"x" * (16 << 20)
    resp = one(srv.port, b"PUT /b HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body, timeout=20)
    assert_status(resp, 504)
    srv.wait_log(r"upstream timed out .*while sending request to .*"
                 + upstream_named(b))


@pytest.fixture
def unconnectable():
    """
    A loopback port whose connections hang: a listening socket with a
    backlog of 0, never accepting, its queue filled by connections of our
    own, so that the kernel drops further SYNs.
    """
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    for i in range(4):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        fillers.append(s)
    time.sleep(0.1)
    probe = socket.socket()
    probe.settimeout(0.5)
    try:
        probe.connect(("127.0.0.1", port))
        hangs = False
    except (socket.timeout, OSError):
        hangs = True
    probe.close()
    if not hangs:
        for s in fillers:
            s.close()
        ls.close()
        pytest.skip("this kernel completes connections past the backlog")
    yield port
    for s in fillers:
        s.close()
    ls.close()


def test_connect_timeout_is_a_504(portico, unconnectable):
    srv = start(portico, "location / { proxy_pass http://127.0.0.1:%d; "
                "proxy_connect_timeout 500ms; }" % unconnectable)
    t0 = time.monotonic()
    resp = one(srv.port, get("/c"), timeout=10)
    took = time.monotonic() - t0
    assert_status(resp, 504)
    assert 0.4 <= took < 3, took
    srv.wait_log(r"\[error\].*upstream timed out .*while connecting to "
                 r"upstream,.* upstream: \"127\.0\.0\.1:%d/c\""
                 % unconnectable)


# ---------------------------------------------------------------------------
# response heads that are a 502

BAD_HEADS = [
    ("garbage status line", b"HTTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
     r"no valid HTTP/1\.x status line"),
    ("no status line at all", b"hello there\r\n\r\n",
     r"no valid HTTP/1\.x status line"),
    ("status code of letters", b"HTTP/1.1 2xx OK\r\n\r\n",
     r"no valid HTTP/1\.x status line"),
    ("status line with a bare LF", b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
     r"no valid HTTP/1\.x status line"),
    ("HTTP/2 status line", b"HTTP/2 200\r\n\r\n",
     r"no valid HTTP/1\.x status line"),
    ("CL and TE", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     r"both \"Content-Length\" and \"Transfer-Encoding\""),
    ("TE and CL", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     r"both \"Content-Length\" and \"Transfer-Encoding\""),
    ("differing CLs", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
     b"Content-Length: 6\r\n\r\nhello!",
     r"invalid or differing \"Content-Length\""),
    ("CL list", b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
     r"invalid or differing \"Content-Length\""),
    ("negative CL", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
     r"invalid or differing \"Content-Length\""),
    ("garbage CL", b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n",
     r"invalid or differing \"Content-Length\""),
    ("huge CL", b"HTTP/1.1 200 OK\r\nContent-Length: "
     b"99999999999999999999999\r\n\r\n",
     r"invalid or differing \"Content-Length\""),
    ("TE gzip", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx",
     r"unsupported \"Transfer-Encoding\": \"gzip\""),
    ("TE gzip, chunked", b"HTTP/1.1 200 OK\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     r"unsupported \"Transfer-Encoding\""),
    ("TE twice", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     r"unsupported \"Transfer-Encoding\""),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n"
     b"Content-Length: 0\r\n\r\n", r"upstream sent invalid header"),
    ("space before colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
     r"upstream sent invalid header"),
    ("NUL in a value", b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n"
     b"Content-Length: 0\r\n\r\n", r"upstream sent invalid header"),
    ("101 not asked for", b"HTTP/1.1 101 Switching Protocols\r\n"
     b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
     r"\"101 Switching Protocols\" to a request that did not ask"),
]


@pytest.mark.parametrize("what, head, message", BAD_HEADS,
                         ids=[h[0] for h in BAD_HEADS])
def test_invalid_response_head_is_a_502(portico, backends, what, head,
                                        message):
    def handler(backend, req):
        req.close = True
        return head

    b = backends(handler)
    srv = start(portico, loc(b))
    c = Client(srv.port)
    resp = c.request(get("/bad"))
    assert_status(resp, 502)
    assert resp.header("Connection") == "keep-alive"
    # nothing of it reached the client
    for piece in (b"hello", b"xx", b"HTTTP", b"folded", b"websocket"):
        assert piece not in resp.raw
    assert c.request(get("/bad")).status == 502
    c.close()
    srv.wait_log(r"\[error\].*" + message + r".*" + upstream_named(b))


def test_identical_duplicate_content_length_is_accepted(portico, backends):
    b = backends(lambda backend, req: b"HTTP/1.1 200 OK\r\nContent-Length: 5"
                                      b"\r\nContent-Length: 5\r\n\r\nhello")
    srv = start(portico, loc(b))
    resp = one(srv.port, get("/"))
    assert resp.status == 200 and resp.body == b"hello"
    assert resp.header("Content-Length") == "5"


def test_too_big_response_head_is_a_502(portico, backends):
    big = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"v" * 90)
                   for i in range(1000))

    def handler(backend, req):
        req.close = True
        return b"HTTP/1.1 200 OK\r\n" + big + b"Content-Length: 0\r\n\r\n"

    b = backends(handler)
    srv = start(portico, loc(b))
    resp = one(srv.port, get("/"))
    assert_status(resp, 502)
    srv.wait_log(r"upstream sent too big header .*" + upstream_named(b))


def test_head_just_within_proxy_buffer_size(portico, backends):
    filler = b"X-F: " + b"v" * 3000 + b"\r\n"

    def handler(backend, req):
        return b"HTTP/1.1 200 OK\r\n" + filler + b"Content-Length: 2\r\n\r\nok"

    b = backends(handler)
    srv = start(portico, "location /small { proxy_pass http://%s; "
                "proxy_buffer_size 2k; }\n"
                "location /big { proxy_pass http://%s; "
                "proxy_buffer_size 4k; }" % (b.addr, b.addr))
    assert one(srv.port, get("/small")).status == 502
    resp = one(srv.port, get("/big"))
    assert resp.status == 200 and resp.body == b"ok"
    assert resp.header("X-F") == "v" * 3000


def test_interim_responses_are_skipped(portico, backends):
    def handler(backend, req):
        return (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload"
                b"\r\n\r\n"
                b"HTTP/1.1 102 Processing\r\n\r\n"
                + response(200, b"final", [("X-Final", "1")]))

    b = backends(handler)
    srv = start(portico, loc(b))
    for version in (b"HTTP/1.0", b"HTTP/1.1"):
        s = connect(srv.port)
        s.sendall(b"GET / " + version + b"\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        data, closed = recv_until_close(s)
        s.close()
        assert closed
        resp, end = parse_response(data)
        assert end == len(data), data
        assert resp.status == 200 and resp.body == b"final"
        assert resp.header("X-Final") == "1"
        assert resp.header("Link") is None
        assert b" 100 " not in data and b" 103 " not in data


# ---------------------------------------------------------------------------
# bodies cut short, and bodies longer than announced

def cut(length_header, sent, how):
    """A handler: head, then part of the body, then a close or a reset."""
    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\n" + length_header + b"\r\n\r\n"
                         + sent)
        backend.wait(0.2)
        if how == "reset":
            req.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        req.close = True
        return None
    return handler


@pytest.mark.parametrize("how", ["close", "reset"])
def test_content_length_body_cut_short(portico, backends, how):
    body = os.urandom(50000)
    b = backends(cut(b"Content-Length: 100000", body, how))
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/cut"))
    data, t = c.wait_closed()
    c.close()
    head, _, got = data.partition(b"\r\n\r\n")
    assert b"Content-Length: 100000" in head
    # fewer bytes than announced, then the connection's end
    assert got == body
    srv.wait_log(r"upstream prematurely closed connection while reading "
                 r"upstream.*" + upstream_named(b))


@pytest.mark.parametrize("how", ["close", "reset"])
def test_chunked_body_cut_short(portico, backends, how):
    b = backends(cut(b"Transfer-Encoding: chunked",
                     b"5\r\nhello\r\n6\r\n world\r\n3\r\nab", how))
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/cut"))
    data, t = c.wait_closed()
    c.close()
    head, _, got = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    # what came is there (chunked anew), the terminating chunk is not
    body = b""
    while got:
        size, _, got = got.partition(b"\r\n")
        size = int(size, 16)
        assert size > 0, "a last chunk"
        body += got[:size]
        assert got[size:size + 2] == b"\r\n"
        got = got[size + 2:]
    assert body == b"hello worldab"
    srv.wait_log(r"upstream prematurely closed connection.*"
                 + upstream_named(b))


def test_backend_stalling_mid_body(portico, backends):
    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                         b"hello")
        silent_handler(backend, req)

    b = backends(handler)
    srv = start(portico, loc(b, "proxy_read_timeout 1s;"))
    c = Client(srv.port, timeout=10)
    c.send(get("/stall"))
    t0 = time.monotonic()
    data, t = c.wait_closed(10)
    c.close()
    assert data.endswith(b"\r\n\r\nhello")
    assert 0.9 <= time.monotonic() - t0 < 4
    srv.wait_log(r"upstream timed out .*" + upstream_named(b))
    wait_for(lambda: b.closed, 5)


def test_invalid_chunked_body(portico, backends):
    b = backends(cut(b"Transfer-Encoding: chunked",
                     b"5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n", "close"))
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/"))
    data, t = c.wait_closed()
    c.close()
    assert b"\r\n0\r\n\r\n" not in data and b"bad" not in data
    srv.wait_log(r"upstream sent invalid chunked response.*"
                 + upstream_named(b))


KA = "upstream ka { server %s; keepalive 4; }"


@pytest.mark.parametrize("body", [
    b"5\r\nhello\r\nffffffffffffffffffffff\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"5\r\nhello\r\n-1\r\n",
    b"5\r\nhello\r\n 1\r\nx\r\n0\r\n\r\n",
], ids=["size overflow", "no CRLF after data", "negative size",
        "space before size"])
def test_invalid_chunked_framing(portico, backends, body):
    b = backends(cut(b"Transfer-Encoding: chunked", body, "close"))
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    c = Client(srv.port)
    c.send(get("/"))
    data, t = c.wait_closed()
    c.close()
    assert b"\r\n0\r\n\r\n" not in data.partition(b"\r\n\r\n")[2]
    srv.wait_log(r"upstream sent invalid chunked response")


def test_chunk_extensions_and_trailers(portico, backends):
    def handler(backend, req):
        return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5;name=value\r\nhello\r\n1;x\r\n!\r\n"
                b"0\r\nX-Trailer: t\r\nX-Other: o\r\n\r\n")

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    c = Client(srv.port)
    for i in range(3):
        resp = c.request(get("/"))
        assert resp.status == 200 and resp.body == b"hello!"
    c.close()
    assert b.conns == 1


def test_response_one_byte_at_a_time(portico, backends):
    head = (b"HTTP/1.1 200 OK\r\nX-Slow: yes\r\nContent-Type: text/x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    body = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"

    def handler(backend, req):
        for i in range(len(head + body)):
            req.sock.sendall((head + body)[i:i + 1])
            time.sleep(0.001)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    c = Client(srv.port, timeout=10)
    for i in range(2):
        resp = c.request(get("/"))
        assert resp.status == 200 and resp.header("X-Slow") == "yes"
        assert resp.body == b"abc0123456789abcdef"
    c.close()
    assert b.conns == 1


def test_concurrent_clients_share_the_pool_without_crosstalk(portico,
                                                             backends):
    def handler(backend, req):
        # a little of everything: sizes, framings, a short pause
        n = int(req.target.split(b"/")[-1]) % 7
        body = req.target * (n * 300 + 1)
        if n % 2:
            return response(200, chunked(body, 333), [
                ("Transfer-Encoding", "chunked")], length=False)
        if n == 4:
            backend.wait(0.01)
        return response(200, body)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    errors = []

    def client(k):
        try:
            c = Client(srv.port, timeout=20)
            for i in range(15):
                target = b"/c%d/%d" % (k, i)
                resp = c.request(get(target))
                n = i % 7
                if resp.body != target * (n * 300 + 1):
                    errors.append((target, resp.body[:60]))
            c.close()
        except Exception as e:          # noqa: the thread reports it
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(b.requests) == 12 * 15
    # kept alive: far fewer connections than requests
    assert b.conns < 60


def test_body_longer_than_its_content_length(portico, backends):
    """The extra bytes never reach the client nor the next request."""
    def handler(backend, req):
        if req.target == b"/long":
            return (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL")
        return Backend.echo(backend, req)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    c = Client(srv.port)
    resp = c.request(get("/long"))
    assert resp.status == 200 and resp.body == b"hello"
    for i in range(3):
        resp = c.request(get("/next%d" % i))
        assert resp.body == b"b GET /next%d" % i, resp
    c.close()
    # the connection that carried too much was not used again
    assert b.requests[1].conn != b.requests[0].conn


def test_body_longer_than_its_content_length_arriving_later(portico,
                                                            backends):
    def handler(backend, req):
        if req.target == b"/long":
            req.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                             b"hello")
            backend.wait(0.2)
            return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"
        return Backend.echo(backend, req)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    assert one(srv.port, get("/long")).body == b"hello"
    # the idle connection spoke out of turn: Portico drops it
    wait_for(lambda: 1 in b.closed, 5, what="the connection to be dropped")
    resp = one(srv.port, get("/next"))
    assert resp.body == b"b GET /next"
    assert b.conns == 2


def test_head_answered_with_a_body(portico, backends):
    def handler(backend, req):
        if req.method == b"HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
        return Backend.echo(backend, req)

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra=KA % b.addr)
    c = Client(srv.port)
    resp = c.request(get("/h", method=b"HEAD"), head=True)
    assert resp.status == 200 and resp.header("Content-Length") == "5"
    resp = c.request(get("/after"))
    assert resp.body == b"b GET /after"
    assert b"hello" not in resp.raw
    c.close()


def test_answer_before_the_whole_request_body(portico, backends):
    """
    A backend that answers without reading the body: the rest of the body
    is not sent, and the connection is not used for another request.
    """
    got = {}

    def raw(backend, s, n):
        data = b""
        while b"\r\n\r\n" not in data:
            d = backend.recv(s)
            if not d:
                return
            data += d
        head = data[:data.index(b"\r\n\r\n") + 4]
        got.setdefault(n, []).append(head)
        if b"POST" in head:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
            # stop reading: Portico fills the socket buffers and must stop
            backend.wait(1)
            # then whatever else comes on this connection
            rest = data
            while True:
                try:
                    d = backend.recv(s, timeout=1)
                except socket.timeout:
                    break
                if not d:
                    break
                rest += d
            got[n].append(rest)
            return
        s.sendall(response(200, b"fine"))
        backend.wait(2)

    b = backends(raw=raw)
    srv = start(portico, "location / { proxy_pass http://ka; "
                "client_max_body_size 0; }", extra=KA % b.addr)
    body = b"B" * (8 << 20)
    c = Client(srv.port, timeout=20)
    resp = c.request(b"POST /up HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
    assert resp.status == 200 and resp.body == b"early"
    resp = c.request(get("/next"))
    assert resp.status == 200 and resp.body == b"fine"
    c.close()
    wait_for(lambda: 2 in got and len(got[1]) == 2, 5)
    # the next request had a connection of its own
    assert got[2][0].startswith(b"GET /next ")
    assert b"GET /next" not in got[1][1]


def test_client_leaving_while_the_backend_thinks(portico, backends):
    """The upstream connection goes with the client, long before a timeout."""
    b = backends(silent_handler)
    srv = start(portico, loc(b, "proxy_read_timeout 30s;") + "\n"
                "location /ka { proxy_pass http://ka; "
                "proxy_read_timeout 30s; }", extra=KA % b.addr)
    for path in ("/", "/ka"):
        n = len(b.requests)
        c = Client(srv.port)
        c.send(get(path))
        b.wait_requests(n + 1)
        c.close()
        left = time.monotonic()
        wait_for(lambda: b.requests[-1].conn in b.closed, 5,
                 what="the upstream connection to close")
        assert b.closed[b.requests[-1].conn] - left < 3
    srv.wait_log(r"client prematurely closed connection, so upstream "
                 r"connection is closed too .*" + upstream_named(b))
    log = (srv.tmp / "access.log").read_text()
    assert log.count('" 499 ') == 2, log


def test_pipelined_requests_to_the_proxy(portico, backends):
    b = backends()
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/1") + b"POST /2 HTTP/1.1\r\nHost: x\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
           + get("/3"))
    assert c.response().body == b"b GET /1"
    assert c.response().body == b"b POST /2"
    assert c.response().body == b"b GET /3"
    assert b.requests[1].body == b"abc"
    c.close()


def test_request_pipelined_while_the_backend_thinks(portico, backends):
    def handler(backend, req):
        if req.target == b"/slow":
            backend.wait(0.3)
        return Backend.echo(backend, req)

    b = backends(handler)
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/slow"))
    b.wait_requests(1)
    c.send(get("/next"))
    assert c.response().body == b"b GET /slow"
    assert c.response().body == b"b GET /next"
    c.close()


def test_infinite_body_to_a_client_that_leaves(portico, backends):
    ended = threading.Event()

    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (4096, b"z" * 4096)
        try:
            while not backend.stopping.is_set():
                req.sock.sendall(chunk)
                time.sleep(0.001)
        except OSError:
            backend.gone = time.monotonic()
            ended.set()
        req.close = True

    b = backends(handler)
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/forever"))
    data = b""
    while len(data) < 200000:
        data += c.sock.recv(65536)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                      struct.pack("ii", 1, 0))
    c.close()
    left = time.monotonic()
    assert ended.wait(5), "the backend still sends"
    assert b.gone - left < 5


def test_trickling_body_to_a_client_that_leaves(portico, backends):
    ended = threading.Event()

    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                         b"\r\n\r\n")
        try:
            while not backend.stopping.is_set():
                req.sock.sendall(b"4\r\ntick\r\n")
                time.sleep(0.05)
        except OSError:
            ended.set()
        req.close = True

    b = backends(handler)
    srv = start(portico, loc(b))
    c = Client(srv.port)
    c.send(get("/ticks"))
    data = b""
    while b"tick" not in data:
        data += c.sock.recv(65536)
    c.close()
    assert ended.wait(5), "the backend still sends"


# ---------------------------------------------------------------------------
# proxy_next_upstream

def refusing_and(b, params="", extra=""):
    dead = free_dead_port()
    return dict(extra="upstream two { server 127.0.0.1:%d %s; server %s; "
                      "%s }" % (dead, params, b.addr, extra)), dead


def test_next_upstream_on_error(portico, backends):
    b = backends()
    kw, dead = refusing_and(b)
    srv = start(portico, "location / { proxy_pass http://two; }", **kw)
    c = Client(srv.port)        # (one worker: the score is per worker)
    for i in range(6):
        resp = c.request(get("/e%d" % i))
        assert resp.status == 200 and resp.body == b"b GET /e%d" % i
    c.close()
    # the refusing server was tried once, then rested (max_fails=1)
    log = srv.error_log()
    assert len(re.findall(r"connect\(\) failed", log)) == 1, log
    srv.wait_log(r"upstream server temporarily disabled: 127\.0\.0\.1:%d"
                 % dead)


def test_next_upstream_off(portico, backends):
    b = backends()
    kw, dead = refusing_and(b)
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_next_upstream off; }", **kw)
    assert_status(one(srv.port, get("/")), 502)
    assert b.requests == []


def silent_and(b, silent):
    return dict(extra="upstream two { server %s; server %s; }"
                      % (silent.addr, b.addr))


def test_next_upstream_on_timeout(portico, backends):
    silent = backends(silent_handler, name="silent")
    b = backends()
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_read_timeout 1s; }", **silent_and(b, silent))
    t0 = time.monotonic()
    resp = one(srv.port, get("/t?x=1", extra=b"X-Id: 7\r\n"), timeout=10)
    assert time.monotonic() - t0 < 4
    assert resp.status == 200 and resp.body == b"b GET /t?x=1"
    # the second server got the whole request, as the first did
    assert b.last().head == silent.last().head
    assert b.last().header("X-Id") == "7"


def test_post_not_retried_after_a_timeout(portico, backends):
    silent = backends(silent_handler, name="silent")
    b = backends()
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_read_timeout 1s; }", **silent_and(b, silent))
    resp = one(srv.port, b"POST /p HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 4\r\n\r\nbody", timeout=10)
    assert_status(resp, 504)
    assert b.requests == []
    assert silent.last().body == b"body"


def test_post_retried_with_non_idempotent(portico, backends):
    silent = backends(silent_handler, name="silent")
    b = backends()
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_read_timeout 1s; "
                "proxy_next_upstream error timeout non_idempotent; }",
                **silent_and(b, silent))
    body = os.urandom(300000)
    resp = one(srv.port, b"POST /p HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body) + body, timeout=10)
    assert resp.status == 200 and resp.body == b"b POST /p"
    # the whole body, again
    assert silent.last().body == body
    assert b.last().body == body


def test_post_retried_after_a_refused_connection(portico, backends):
    """Nothing was sent: trying the next server is safe for any method."""
    b = backends()
    kw, dead = refusing_and(b)
    srv = start(portico, "location / { proxy_pass http://two; }", **kw)
    resp = one(srv.port, b"POST /p HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 4\r\n\r\nbody")
    assert resp.status == 200 and b.last().body == b"body"


def status_backend(backends, status, name):
    return backends(lambda backend, req: response(
        status, b"%s says %d" % (name.encode(), status),
        [("X-Backend", name)]), name=name)


def test_next_upstream_on_http_502(portico, backends):
    bad = status_backend(backends, 502, "bad")
    good = backends(name="good")
    srv = start(portico, """
        location /retry { proxy_pass http://two;
                          proxy_next_upstream error timeout http_502; }
        location /pass { proxy_pass http://two; }""",
                extra="upstream two { server %s max_fails=0; server %s; }"
                      % (bad.addr, good.addr))
    c = Client(srv.port)
    for i in range(4):
        resp = c.request(get("/retry"))
        assert resp.status == 200 and resp.header("X-Backend") == "good"
    # without http_502 the backend's own 502 is the answer
    answers = set()
    for i in range(4):
        resp = c.request(get("/pass"))
        answers.add((resp.status, resp.body))
    assert answers == {(502, b"bad says 502"), (200, b"good GET /pass")}
    c.close()


def test_every_server_answers_502(portico, backends):
    """The last answer is relayed as it is, not replaced by ours."""
    b1 = status_backend(backends, 502, "one")
    b2 = status_backend(backends, 502, "two")
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_next_upstream error timeout http_502; }",
                extra="upstream two { server %s; server %s; }"
                      % (b1.addr, b2.addr))
    resp = one(srv.port, get("/"))
    assert resp.status == 502 and resp.body == b"two says 502"
    assert len(b1.requests) == len(b2.requests) == 1


def test_post_answered_500_is_relayed_without_non_idempotent(portico,
                                                             backends):
    b1 = status_backend(backends, 500, "one")
    b2 = backends(name="two")
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_next_upstream error timeout http_500; }",
                extra="upstream two { server %s; server %s; }"
                      % (b1.addr, b2.addr))
    resp = one(srv.port, b"POST /p HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 1\r\n\r\nx")
    assert resp.status == 500 and resp.body == b"one says 500"
    assert b2.requests == []
    # a GET goes on to the next
    resp = one(srv.port, get("/g"))
    assert resp.status == 200


def test_next_upstream_on_invalid_header(portico, backends):
    bad = backends(lambda backend, req: b"garbage\r\n\r\n", name="bad")
    good = backends(name="good")
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_next_upstream error timeout invalid_header; }",
                extra="upstream two { server %s; server %s; }"
                      % (bad.addr, good.addr))
    resp = one(srv.port, get("/"))
    assert resp.status == 200 and resp.header("X-Backend") == "good"


def test_next_upstream_tries(portico, backends):
    deads = [free_dead_port() for i in range(3)]
    b = backends()
    srv = start(portico, "location / { proxy_pass http://many; "
                "proxy_next_upstream_tries 2; }",
                extra="upstream many { %s server %s; }" % (
                    "".join("server 127.0.0.1:%d max_fails=0; " % d
                            for d in deads), b.addr))
    assert_status(one(srv.port, get("/")), 502)
    assert len(re.findall(r"connect\(\) failed", srv.error_log())) == 2


def test_all_servers_down_is_a_502_at_once(portico):
    d1, d2 = free_dead_port(), free_dead_port()
    srv = start(portico, "location / { proxy_pass http://two; }",
                extra="upstream two { server 127.0.0.1:%d; "
                      "server 127.0.0.1:%d; }" % (d1, d2))
    for i in range(3):
        t0 = time.monotonic()
        assert_status(one(srv.port, get("/")), 502)
        assert time.monotonic() - t0 < 2
    srv.wait_log(r"no live upstreams while connecting to upstream \"two\"")


def test_max_fails_and_fail_timeout(portico, backends):
    bad = status_backend(backends, 503, "bad")
    good = backends(name="good")
    srv = start(portico, "location / { proxy_pass http://two; "
                "proxy_next_upstream error timeout http_503; }",
                extra="upstream two { server %s max_fails=2 "
                      "fail_timeout=1s; server %s; }" % (bad.addr, good.addr))
    c = Client(srv.port)
    for i in range(10):
        resp = c.request(get("/%d" % i))
        assert resp.status == 200
    # two failures within fail_timeout: then it rests
    assert len(bad.requests) == 2
    rested = time.monotonic()
    srv.wait_log(r"upstream server temporarily disabled: %s"
                 % re.escape(bad.addr))
    # after fail_timeout (counted in whole seconds) it is tried again
    while len(bad.requests) == 2:
        assert c.request(get("/later")).status == 200
        assert time.monotonic() - rested < 5, "never tried again"
        time.sleep(0.05)
    assert time.monotonic() - rested >= 0.9
    # and it failed again: it rests again at once
    for i in range(5):
        assert c.request(get("/again")).status == 200
    assert len(bad.requests) == 3
    c.close()


def test_all_down_peers_come_back_after_fail_timeout(portico, backends):
    """A group whose servers all failed is tried again after a rest."""
    port = free_dead_port()
    srv = start(portico, "location / { proxy_pass http://one; }",
                extra="upstream one { server 127.0.0.1:%d fail_timeout=1s; }"
                      % port)
    assert_status(one(srv.port, get("/")), 502)
    try:
        b = Backend(name="late", port=port)
    except OSError:
        pytest.skip("port %d was taken meanwhile" % port)
    try:
        deadline = time.monotonic() + 5
        while True:
            resp = one(srv.port, get("/"))
            if resp.status == 200:
                break
            assert time.monotonic() < deadline, "never came back"
            time.sleep(0.2)
        assert resp.body == b"late GET /"
    finally:
        b.stop()
