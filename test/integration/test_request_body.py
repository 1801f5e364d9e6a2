"""
Request bodies end to end. Nothing reads a body yet except to drop it
("return" discards it), so: a body that came with its request is dropped
and the next request on the connection is parsed right after it; a body
still on its way when the answer goes out closes the connection (lingering
close drops the rest, and it is never parsed as a request); limits refuse
a body before a byte of it is read; every framing a proxy could read
differently (invalid chunked data, Content-Length with Transfer-Encoding,
unknown codings, HTTP/1.0 with chunked) is a 400 that closes the
connection; and Expect: 100-continue gets no interim response when the
body is only dropped.

Reading a body (in memory, into a temp file, 417 for an unknown
expectation) is covered by test/unit/test_http_request_body.c.
"""

import socket
import threading
import time

import pytest

from conftest import (Client, connect, exchange, get, parse_response,
                      parse_responses, recv_until_close, wait_for)


CONF = """
http {
    server {
        listen 127.0.0.1:{port};
%(server)s
        location / {
            return 200 "ok $request_method $uri\\n";
        }
        location /small {
            client_max_body_size 1k;
            return 200 "small $request_method\\n";
        }
        location /unlimited {
            client_max_body_size 0;
            return 200 "unlimited $request_method\\n";
        }
        location /smuggled {
            return 200 "smuggled\\n";
        }
    }
}
"""


def start(portico, server=""):
    return portico.start(CONF % {"server": server})


def post(path="/", body=b"", extra=b"", length=None, version=b"HTTP/1.1"):
    """A POST with a Content-Length body (length: the header's value)."""
    if length is None:
        length = len(body)
    return (b"POST " + path.encode() + b" " + version + b"\r\nHost: x\r\n"
            + b"Content-Length: %d\r\n" % length + extra + b"\r\n" + body)


def post_chunked(path="/", chunks=b"0\r\n\r\n", extra=b"",
                 te=b"chunked", version=b"HTTP/1.1"):
    return (b"POST " + path.encode() + b" " + version + b"\r\nHost: x\r\n"
            + b"Transfer-Encoding: " + te + b"\r\n" + extra + b"\r\n"
            + chunks)


def chunked(data, size=7, ext=b""):
    """data as chunks of size bytes each, then the last chunk."""
    out = b""
    for i in range(0, len(data), size):
        part = data[i:i + size]
        out += b"%x%s\r\n%s\r\n" % (len(part), ext, part)
    return out + b"0\r\n\r\n"


def all_responses(data):
    resps, rest = parse_responses(data)
    assert rest == b"", rest
    return resps


def assert_ok(resp, text, keepalive=True):
    assert resp.status == 200, resp
    assert resp.body == text
    assert resp.header("Connection") == ("keep-alive" if keepalive
                                         else "close")


def assert_400_closed(data, closed):
    """One 400 page, then the connection closed: nothing else answered."""
    assert closed, data
    resps = all_responses(data)
    assert [r.status for r in resps] == [400], resps
    assert resps[0].header("Connection") == "close"
    assert b"<title>400 Bad Request</title>" in resps[0].body


# ---------------------------------------------------------------------------
# bodies dropped, the next request parsed right after them

def test_content_length_body_then_pipelined_get(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(post(body=b"hello") + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    # the connection goes on
    assert_ok(c.request(get("/third")), b"ok GET /third\n")
    c.close()


def test_body_that_looks_like_requests_then_pipelined_get(portico):
    """
    The body holds whole requests and the bytes of half a one; the
    pipelined request after it is the only one answered.
    """
    server = start(portico)
    body = get("/smuggled") + get("/smuggled") + b"GET /smuggled HT"
    c = Client(server.port)
    c.send(post(body=body) + get("/after"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /after\n")
    c.send(get("/last", extra=b"Connection: close\r\n"))
    data, _ = c.wait_closed()
    resps = all_responses(data)
    assert [r.body for r in resps] == [b"ok GET /last\n"]


def test_large_content_length_body_then_pipelined_get(portico):
    """A body larger than any buffer, sent with its head at once."""
    server = start(portico)
    body = bytes(range(256)) * 2000
    c = Client(server.port, timeout=10)
    sender = threading.Thread(
        target=c.sock.sendall, args=(post(body=body) + get("/next"),))
    sender.start()
    first = c.response()
    sender.join(10)
    assert first.status == 200 and first.body == b"ok POST /\n"
    if first.header("Connection") == "keep-alive":
        # the whole body was there when the answer went out
        assert_ok(c.response(), b"ok GET /next\n")
    else:
        # it was not: lingering close drops the rest and the request
        # after it
        data, _ = c.wait_closed()
        assert data == b""
    c.close()


def test_chunked_body_with_extensions_and_trailers_then_pipelined_get(
        portico):
    server = start(portico)
    chunks = (b"5;name=value\r\nhello\r\n"
              b"6 ;q=\"a \\\"quoted\\\" ;value\" ; flag\r\n world\r\n"
              b"000a\r\n" + get("/sm")[:10] + b"\r\n"
              b"0;last\r\nX-Checksum: 1234\r\nX-Other: a b\r\n\r\n")
    c = Client(server.port)
    c.send(post_chunked(chunks=chunks) + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    assert_ok(c.request(get("/third")), b"ok GET /third\n")
    c.close()


def test_chunked_body_larger_than_header_buffer_then_pipelined_get(portico):
    """
    The end of the body and the next request are read together past the
    header buffer: the request is kept for the next round, not lost.
    """
    server = start(portico)
    chunks = chunked(bytes(range(256)) * 12, size=1000)
    c = Client(server.port)
    c.send(post_chunked(chunks=chunks) + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    assert_ok(c.request(get("/third")), b"ok GET /third\n")
    c.close()


@pytest.mark.parametrize("te", [b"chunked", b"Chunked", b"CHUNKED"])
def test_transfer_coding_name_is_case_insensitive(portico, te):
    server = start(portico)
    c = Client(server.port)
    c.send(post_chunked(chunks=chunked(b"x" * 20), te=te) + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    c.close()


def test_chunked_body_holding_a_request_then_pipelined_get(portico):
    server = start(portico)
    inner = get("/smuggled")
    c = Client(server.port)
    # the embedded request across chunk boundaries, CRLFs and all
    c.send(post_chunked(chunks=chunked(inner, size=5)) + get("/next")
           + get("/close", extra=b"Connection: close\r\n"))
    data, _ = c.wait_closed()
    resps = all_responses(data)
    assert [r.body for r in resps] == [
        b"ok POST /\n", b"ok GET /next\n", b"ok GET /close\n"]


def test_get_with_body(portico):
    """A body on a GET is a body all the same."""
    server = start(portico)
    c = Client(server.port)
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n"
           + get("/smuggled")[:18] + get("/b"))
    assert_ok(c.response(), b"ok GET /a\n")
    assert_ok(c.response(), b"ok GET /b\n")
    c.close()


def test_zero_length_bodies(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(post(body=b"") + post_chunked(chunks=b"0\r\n\r\n") + get("/x"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /x\n")
    c.close()


def test_body_in_slow_pieces(portico):
    """
    The answer does not wait for a body it only drops: it goes out with
    "Connection: close", and what follows (the rest of the body, and a
    request after it) is read and dropped by lingering close, never
    answered.
    """
    server = start(portico)
    body = get("/smuggled") * 3
    c = Client(server.port)
    c.send(post(body=body[:10], length=len(body)))
    resp = c.response()
    assert_ok(resp, b"ok POST /\n", keepalive=False)

    # the server keeps reading: the rest goes through without a reset
    for i in range(10, len(body), 15):
        c.send(body[i:i + 15])
        time.sleep(0.05)
    c.send(get("/after"))

    data, _ = c.wait_closed()
    assert data == b""
    c.close()


def test_chunked_body_in_slow_pieces(portico):
    server = start(portico)
    chunks = chunked(get("/smuggled"), size=4)
    c = Client(server.port)
    c.send(post_chunked(chunks=chunks[:9]))
    assert_ok(c.response(), b"ok POST /\n", keepalive=False)
    for i in range(9, len(chunks), 6):
        c.send(chunks[i:i + 6])
        time.sleep(0.05)
    c.send(get("/after"))
    data, _ = c.wait_closed()
    assert data == b""
    c.close()


def test_head_then_body_later_is_never_a_request(portico):
    """The head alone, then (after the answer) a "body" that is a request."""
    server = start(portico)
    inner = get("/smuggled")
    c = Client(server.port)
    c.send(post(length=len(inner)))
    assert_ok(c.response(), b"ok POST /\n", keepalive=False)
    c.send(inner)
    data, _ = c.wait_closed()
    assert data == b""


# ---------------------------------------------------------------------------
# client_max_body_size

def test_too_large_refused_before_the_body(portico, portico_version):
    server = start(portico)
    c = Client(server.port)
    # the head only: the answer must not wait for the body
    c.send(post("/small", length=5000))
    resp = c.response()
    assert resp.status == 413
    assert resp.reason == "Request Entity Too Large"
    assert resp.header("Connection") == "close"
    assert resp.header("Content-Type") == "text/html"
    assert resp.body == (
        b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>"
        b"\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1>"
        b"</center>\r\n<hr><center>" + portico_version.encode()
        + b"</center>\r\n</body>\r\n</html>\r\n")
    data, _ = c.wait_closed()
    assert data == b""
    server.wait_log(r"\[error\] .*client intended to send too large body: "
                    r"5000 bytes")


@pytest.mark.parametrize("length, status", [(1023, 200), (1024, 200),
                                            (1025, 413)])
def test_limit_boundary(portico, length, status):
    server = start(portico)
    data, closed = exchange(server.port, post("/small", b"a" * length)
                            + get("/next", extra=b"Connection: close\r\n"))
    resps = all_responses(data)
    assert resps[0].status == status
    if status == 200:
        assert [r.body for r in resps] == [b"small POST\n",
                                           b"ok GET /next\n"]
    else:
        # the body and the request after it are dropped
        assert len(resps) == 1


def test_default_limit_is_1m(portico):
    server = start(portico)
    resp = Client(server.port).request(post(length=1024 * 1024 + 1))
    assert resp.status == 413
    resp = Client(server.port).request(post(length=1024 * 1024))
    assert resp.status == 200


def test_limit_0_disables_the_check(portico):
    server = start(portico)
    body = b"z" * 5000
    c = Client(server.port)
    c.send(post("/unlimited", body) + get("/next"))
    assert_ok(c.response(), b"unlimited POST\n")
    assert_ok(c.response(), b"ok GET /next\n")
    # as large as a length can be
    resp = Client(server.port).request(
        post("/unlimited", length=2 ** 62))
    assert resp.status == 200
    assert resp.header("Connection") == "close"


def test_limit_not_checked_for_chunked_when_dropped(portico):
    """
    A chunked body has no size to check up front; one that is only
    dropped is not counted either (as in nginx).
    """
    server = start(portico)
    c = Client(server.port)
    c.send(post_chunked("/small", chunks=chunked(b"q" * 3000, size=1000))
           + get("/next"))
    assert_ok(c.response(), b"small POST\n")
    assert_ok(c.response(), b"ok GET /next\n")
    c.close()


def test_limit_per_location_and_server(portico):
    server = portico.start("""
http {
    client_max_body_size 100;
    server {
        listen 127.0.0.1:{port};
        client_max_body_size 200;
        location / {
            return 200 "ok\\n";
        }
        location /loc {
            client_max_body_size 300;
            return 200 "loc\\n";
        }
    }
    server {
        listen 127.0.0.1:{port2};
        location / {
            return 200 "http\\n";
        }
    }
}
""")
    cases = [(server.port, "/", 200, 200), (server.port, "/", 201, 413),
             (server.port, "/loc", 300, 200), (server.port, "/loc", 301, 413),
             (server.ports["port2"], "/", 100, 200),
             (server.ports["port2"], "/", 101, 413)]
    for port, path, length, status in cases:
        resp = Client(port).request(post(path, length=length))
        assert resp.status == status, (port, path, length)


# ---------------------------------------------------------------------------
# invalid chunked bodies

@pytest.mark.parametrize("chunks", [
    b"5\nhello\r\n0\r\n\r\n",               # bare LF after the size
    b"5\r\nhello\n0\r\n\r\n",               # bare LF after the data
    b"5\r\nhello\r\n0\r\n\n",               # bare LF at the end
    b"5\rhello\r\n0\r\n\r\n",               # bare CR
    b"zz\r\nhello\r\n0\r\n\r\n",            # not hex
    b"0x5\r\nhello\r\n0\r\n\r\n",           # a 0x prefix
    b"-5\r\nhello\r\n0\r\n\r\n",            # a sign
    b"5 \r\nhello\r\n0\r\n\r\n",            # white space without ";"
    b"5\r\nhelloXX\r\n0\r\n\r\n",           # more data than declared
    b"1000000000000000\r\n",                # 16 digits
    b"ffffffffffffffffffff\r\n",            # overflow
    b"5;a\x01\r\nhello\r\n0\r\n\r\n",       # a control in an extension
    b"0\r\nA: b\r\n c\r\n\r\n",             # obs-fold in a trailer
    b"0\r\nA : b\r\n\r\n",                  # white space before the colon
    b"\r\n",                                # no size at all
], ids=["lf-size", "lf-data", "lf-end", "bare-cr", "bad-hex", "0x", "sign",
        "space", "long-data", "16-digits", "overflow", "ext-ctl",
        "trailer-fold", "trailer-space", "no-size"])
def test_invalid_chunked_is_400_and_close(portico, chunks):
    server = start(portico)
    data, closed = exchange(server.port, post_chunked(chunks=chunks)
                            + get("/smuggled"))
    assert_400_closed(data, closed)
    server.wait_log(r"\[info\] .*client sent invalid chunked body")


def test_overlong_extension_is_400(portico):
    server = start(portico)
    chunks = b"5;" + b"a" * 2000 + b"\r\nhello\r\n0\r\n\r\n"
    assert_400_closed(*exchange(server.port, post_chunked(chunks=chunks)))


def test_overlong_trailers_are_400(portico):
    server = start(portico)
    chunks = b"0\r\n" + b"X-Trailer: 0123456789\r\n" * 400 + b"\r\n"
    assert_400_closed(*exchange(server.port, post_chunked(chunks=chunks)))


def test_invalid_chunked_on_error_response_still_closes(portico):
    """The error page itself is answered; the connection closes after it."""
    server = portico.start("""
http {
    server {
        listen 127.0.0.1:{port};
        location / {
            return 404;
        }
    }
}
""")
    data, closed = exchange(server.port, post_chunked(
        chunks=b"5\nhello\r\n0\r\n\r\n") + get("/smuggled"))
    assert closed
    resps = all_responses(data)
    assert [r.status for r in resps] == [404]
    assert resps[0].header("Connection") == "close"


def test_invalid_chunked_after_answer_closes(portico):
    """
    Invalid data arriving after the answer went out: nothing more is sent,
    the connection closes.
    """
    server = start(portico)
    c = Client(server.port)
    c.send(post_chunked(chunks=b"5\r\nhel"))
    assert_ok(c.response(), b"ok POST /\n", keepalive=False)
    c.send(b"lo\nGARBAGE\r\n" + get("/smuggled"))
    data, _ = c.wait_closed()
    assert data == b""


# ---------------------------------------------------------------------------
# framing a proxy could read differently

@pytest.mark.parametrize("head", [
    # Content-Length with Transfer-Encoding, either order
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 0\r\n\r\n",
    # chunked twice, in one header or two
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked"
    b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    # other codings, lookalikes
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedx\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
    b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip"
    b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;a=b"
    b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \"chunked\""
    b"\r\n\r\n",
    # chunked in HTTP/1.0
    b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    # two lengths
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Content-Length: 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n",
], ids=["cl-te", "te-cl", "te-cl0", "chunked-chunked", "te-te", "xchunked",
        "chunkedx", "gzip-chunked", "chunked-gzip", "identity", "te-empty",
        "te-params", "te-quoted", "http10-te", "cl-cl", "cl-list"])
def test_ambiguous_framing_is_400_and_close(portico, head):
    server = start(portico)
    body = b"5\r\nhello\r\n0\r\n\r\n" + get("/smuggled")
    assert_400_closed(*exchange(server.port, head + body))


def test_transfer_encoding_with_spaces_around(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  \tchunked \t"
           b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n" + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    c.close()


def test_content_length_body_holding_a_request(portico):
    """
    The classic: a Content-Length covering a whole second request. Only
    the outer request and the one after the body are answered.
    """
    server = start(portico)
    inner = (b"POST /smuggled HTTP/1.1\r\nHost: x\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
             + get("/smuggled"))
    data, closed = exchange(server.port, post(body=inner)
                            + get("/next", extra=b"Connection: close\r\n"))
    assert closed
    resps = all_responses(data)
    assert [r.body for r in resps] == [b"ok POST /\n", b"ok GET /next\n"]


def test_chunked_zero_then_request_in_chunk(portico):
    """
    A body whose first chunk is "0" is over there; what follows is the
    next request, parsed and answered as such. The reverse (a length that
    hides a request) is the previous test.
    """
    server = start(portico)
    data, closed = exchange(
        server.port, post_chunked(chunks=b"0\r\n\r\n")
        + get("/smuggled", extra=b"Connection: close\r\n"))
    assert closed
    resps = all_responses(data)
    assert [r.body for r in resps] == [b"ok POST /\n", b"smuggled\n"]


# ---------------------------------------------------------------------------
# Expect

def test_expect_100_continue_with_return(portico):
    """
    The body would only be dropped: no "100 Continue", the final answer
    at once, the connection closed (the client may or may not send the
    body now).
    """
    server = start(portico)
    c = Client(server.port)
    c.send(post(length=10, extra=b"Expect: 100-continue\r\n"))
    data, _ = c.wait_closed()
    assert not data.startswith(b"HTTP/1.1 100"), data
    resps = all_responses(data)
    assert len(resps) == 1
    assert_ok(resps[0], b"ok POST /\n", keepalive=False)


def test_expect_100_continue_client_sends_body_anyway(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(post(length=10, extra=b"Expect: 100-continue\r\n"))
    resp = c.response()
    assert resp.status == 200 and resp.header("Connection") == "close"
    c.send(b"0123456789" + get("/smuggled"))
    data, _ = c.wait_closed()
    assert data == b""


def test_expect_100_continue_body_already_sent(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(post(body=b"0123456789", extra=b"Expect: 100-continue\r\n")
           + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    assert c.buf == b""
    c.close()


def test_expect_100_continue_too_large(portico):
    """The refusal is the final answer, not "100 Continue"."""
    server = start(portico)
    c = Client(server.port)
    c.send(post("/small", length=5000, extra=b"Expect: 100-continue\r\n"))
    data, _ = c.wait_closed()
    resps = all_responses(data)
    assert [r.status for r in resps] == [413]


def test_expect_100_continue_nothing_left_hanging(portico):
    """
    A client that neither sends the body nor closes: the server lets the
    connection go after lingering_timeout.
    """
    server = start(portico, "lingering_timeout 300ms;")
    c = server.connect_accepted()
    before = server.socket_count()
    c.send(post(length=10, extra=b"Expect: 100-continue\r\n"))
    assert c.response().status == 200
    wait_for(lambda: server.socket_count() < before, timeout=5,
             what="the server to close the connection")
    c.close()


def test_unknown_expectation_with_return(portico):
    """
    417 is for a body that is read; one that is only dropped does not
    care what the client expects.
    """
    server = start(portico)
    c = Client(server.port)
    c.send(post(body=b"abc", extra=b"Expect: 200-ok\r\n") + get("/next"))
    assert_ok(c.response(), b"ok POST /\n")
    assert_ok(c.response(), b"ok GET /next\n")
    c.close()


# ---------------------------------------------------------------------------
# lingering close

def test_413_intact_while_client_sends_body_slowly(portico):
    server = start(portico)
    c = Client(server.port)
    c.send(post("/small", length=100000))
    stop = threading.Event()

    def trickle():
        try:
            while not stop.is_set():
                c.sock.sendall(b"x" * 100)
                time.sleep(0.02)
        except OSError:
            pass

    t = threading.Thread(target=trickle)
    t.start()
    try:
        data, closed = recv_until_close(c.sock, 5)
    finally:
        stop.set()
        t.join(5)
    resps = all_responses(data)
    assert [r.status for r in resps] == [413]
    assert resps[0].body.endswith(b"</html>\r\n")
    c.close()


def test_413_intact_while_client_floods_body(portico):
    """
    Without lingering close, unread input makes close() send a reset that
    can destroy the answer on its way. Many times over, to give a race a
    chance to show.
    """
    server = start(portico)
    for _ in range(20):
        s = connect(server.port)
        s.sendall(post("/small", length=10 ** 7) + b"y" * 65536)
        stop = threading.Event()

        def flood(sock=s, stop=stop):
            try:
                while not stop.is_set():
                    sock.sendall(b"y" * 65536)
            except OSError:
                pass

        t = threading.Thread(target=flood)
        t.start()
        try:
            data, closed = recv_until_close(s, 5)
        finally:
            stop.set()
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            t.join(5)
            s.close()
        resp, _ = parse_response(data)
        assert resp.status == 413
        assert resp.body.endswith(b"</html>\r\n")


def test_lingering_time_bounds_a_client_that_keeps_sending(portico):
    server = start(portico, "lingering_time 1s; lingering_timeout 5s;")
    before = server.socket_count()
    c = Client(server.port)
    wait_for(lambda: server.socket_count() > before)
    c.send(post("/small", length=100000))
    assert c.response().status == 413
    t0 = time.monotonic()
    # keep sending: the server still lets go after lingering_time
    while server.socket_count() > before and time.monotonic() - t0 < 6:
        try:
            c.send(b"z" * 10)
        except OSError:
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    assert server.socket_count() == before
    assert 0.7 <= elapsed < 4, elapsed
    c.close()


def test_lingering_close_off(portico):
    """
    lingering_close off: the server closes at once, with the body unread.
    The answer may then be lost to a reset, so only the close is checked.
    """
    server = start(portico, "lingering_close off;")
    c = Client(server.port)
    c.send(post(body=b"abc", length=10))
    _, elapsed = c.wait_closed()
    assert elapsed < 2


# ---------------------------------------------------------------------------
# configuration

def test_body_directives_accepted_everywhere(portico, tmp_path):
    temp = tmp_path / "client_body"
    temp.mkdir()
    server = portico.start("""
http {
    client_max_body_size 2m;
    client_body_buffer_size 8k;
    client_body_timeout 10s;
    client_body_temp_path %(temp)s;
    lingering_close on;
    lingering_time 10s;
    lingering_timeout 2s;
    postpone_output 0;
    server {
        listen 127.0.0.1:{port};
        client_max_body_size 1m;
        client_body_buffer_size 16k;
        client_body_timeout 5s;
        client_body_temp_path %(temp)s;
        lingering_close always;
        lingering_time 5s;
        lingering_timeout 1s;
        postpone_output 1460;
        location / {
            client_max_body_size 10;
            client_body_buffer_size 1k;
            client_body_timeout 1s;
            client_body_temp_path %(temp)s;
            lingering_close off;
            lingering_time 1s;
            lingering_timeout 500ms;
            postpone_output 100;
            return 200 "ok\\n";
        }
    }
}
""" % {"temp": temp})
    assert Client(server.port).request(post(body=b"0123456789")).status \
        == 200
    assert Client(server.port).request(post(body=b"0123456789a")).status \
        == 413
