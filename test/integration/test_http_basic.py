"""
The HTTP/1.1 engine with the "return" module: the bytes of a response,
keep-alive and pipelining, location and virtual-server selection, URI
normalisation, every rejection of the request parser, timeouts, and many
connections at once.
"""

import re
import resource
import selectors
import socket
import ssl
import time

import pytest

from conftest import (Client, connect, exchange, get, http_date_ok,
                      needs_module, parse_response, parse_responses,
                      recv_until_close)


# every server here answers with "return"
pytestmark = needs_module("pt_http_rewrite_module")


def one_server(inner, http=""):
    """An http block with one server on {port} holding inner."""
    return ("http {\n%s\n"
            "    server {\n"
            "        listen 127.0.0.1:{port};\n"
            "%s\n"
            "    }\n"
            "}\n" % (http, inner))


def error_page(status_line, version="portico/0.1.0"):
    return ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
            "<center><h1>%s</h1></center>\r\n<hr><center>%s</center>\r\n"
            "</body>\r\n</html>\r\n"
            % (status_line, status_line, version)).encode()


def check_head(resp, version, status_line, headers):
    """
    The status line and headers are exactly these, in this order, after
    Server and Date (Date checked for format and freshness).
    """
    assert resp.version == "HTTP/1.1"
    assert "%d %s" % (resp.status, resp.reason) == status_line
    names = [n for n, v in resp.headers]
    assert names[:2] == ["Server", "Date"], resp.headers
    assert resp.headers[0][1] == version
    assert http_date_ok(resp.headers[1][1]), resp.headers[1]
    assert resp.headers[2:] == headers


# ---------------------------------------------------------------------------
# responses of "return"

def test_return_200_text_exact_bytes(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 200 "hello\\n";\n'
        '        }'))

    c = Client(server.port)
    data = c.request(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").raw
    assert c.buf == b""

    m = re.match(rb"^HTTP/1\.1 200 OK\r\n"
                 rb"Server: (portico/[0-9.]+)\r\n"
                 rb"Date: ([^\r\n]+)\r\n"
                 rb"Content-Type: text/plain\r\n"
                 rb"Content-Length: 6\r\n"
                 rb"Connection: keep-alive\r\n"
                 rb"\r\n"
                 rb"hello\n$", data)
    assert m, data
    assert m.group(1).decode() == portico_version
    assert http_date_ok(m.group(2).decode())


def test_default_type(portico):
    server = portico.start(one_server(
        '        default_type application/x-server;\n'
        '        location / {\n            return 200 "a";\n        }\n'
        '        location /own {\n'
        '            default_type "text/x-own; charset=utf-8";\n'
        '            return 200 "b";\n'
        '        }',
        http="    default_type application/json;"))

    c = Client(server.port)
    resp = c.request(get("/"))
    assert resp.header("Content-Type") == "application/x-server"
    assert resp.body == b"a"

    resp = c.request(get("/own"))
    assert resp.header("Content-Type") == "text/x-own; charset=utf-8"
    assert resp.body == b"b"


def test_default_type_inherited_from_http(portico):
    server = portico.start(one_server(
        '        location / {\n            return 200 "{}";\n        }',
        http="    default_type application/json;"))
    resp = Client(server.port).request(get("/"))
    assert resp.header("Content-Type") == "application/json"
    assert resp.body == b"{}"


def test_return_204(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 204;\n        }'))

    c = Client(server.port)
    resp = c.request(get("/"))
    check_head(resp, portico_version, "204 No Content",
               [("Connection", "keep-alive")])
    assert resp.raw.endswith(b"\r\n\r\n") and resp.body == b""

    # nothing else came: the next response starts right away
    resp = c.request(get("/"))
    assert resp.status == 204


def test_return_200_empty(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 200;\n        }'))
    resp = Client(server.port).request(get("/"))
    check_head(resp, portico_version, "200 OK",
               [("Content-Type", "text/plain"), ("Content-Length", "0"),
                ("Connection", "keep-alive")])
    assert resp.body == b""


def test_return_404_page(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 404;\n        }'))

    c = Client(server.port)
    resp = c.request(get("/"))
    body = error_page("404 Not Found", portico_version)
    check_head(resp, portico_version, "404 Not Found",
               [("Content-Type", "text/html"),
                ("Content-Length", str(len(body))),
                ("Connection", "keep-alive")])
    assert resp.body == body

    # a 404 keeps the connection
    assert c.request(get("/")).status == 404


def test_return_status_with_text(portico):
    server = portico.start(one_server(
        '        location / {\n            return 403 "go away\\n";\n'
        '        }'))
    resp = Client(server.port).request(get("/"))
    assert resp.status == 403
    assert resp.header("Content-Type") == "text/plain"
    assert resp.body == b"go away\n"


def test_return_unknown_status(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 599;\n        }'))
    resp = Client(server.port).request(get("/"))
    assert resp.raw.startswith(b"HTTP/1.1 599 \r\n")
    assert resp.body == error_page("599", portico_version)


def test_return_500_closes(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 500;\n        }'))
    c = Client(server.port)
    resp = c.request(get("/"))
    body = error_page("500 Internal Server Error", portico_version)
    check_head(resp, portico_version, "500 Internal Server Error",
               [("Content-Type", "text/html"),
                ("Content-Length", str(len(body))),
                ("Connection", "close")])
    assert resp.body == body
    assert c.wait_closed()[0] == b""
    # and the server lives on
    assert Client(server.port).request(get("/")).status == 500


@pytest.mark.parametrize("directive, status, reason, location", [
    ("return 301 http://example.com/new;", 301, "Moved Permanently",
     "http://example.com/new"),
    ("return https://example.com/tmp?a=1;", 302, "Moved Temporarily",
     "https://example.com/tmp?a=1"),
    ("return 302 http://example.com/x;", 302, "Moved Temporarily",
     "http://example.com/x"),
    ("return 303 http://example.com/x;", 303, "See Other",
     "http://example.com/x"),
    ("return 307 http://example.com/x;", 307, "Temporary Redirect",
     "http://example.com/x"),
    ("return 308 http://example.com/x;", 308, "Permanent Redirect",
     "http://example.com/x"),
])
def test_return_redirect(portico, portico_version, directive, status, reason,
                         location):
    server = portico.start(one_server(
        "        location / {\n            %s\n        }" % directive))
    resp = Client(server.port).request(get("/"))
    status_line = "%d %s" % (status, reason)
    body = error_page(status_line, portico_version)
    check_head(resp, portico_version, status_line,
               [("Content-Type", "text/html"),
                ("Content-Length", str(len(body))),
                ("Connection", "keep-alive"),
                ("Location", location)])
    assert resp.body == body


def test_return_444_closes_without_response(portico):
    server = portico.start(one_server(
        "        location / {\n            return 444;\n        }\n"
        '        location /ok {\n            return 200 "ok";\n        }'))

    data, closed = exchange(server.port, get("/"))
    assert (data, closed) == (b"", True)

    # after an answered request on the same connection too
    c = Client(server.port)
    assert c.request(get("/ok")).body == b"ok"
    c.send(get("/"))
    assert c.wait_closed()[0] == b""


def test_server_level_return(portico):
    server = portico.start(one_server(
        '        return 200 "server\\n";\n'
        '        location /loc {\n            return 200 "loc\\n";\n'
        '        }'))
    c = Client(server.port)
    # the server's return runs before any location is chosen
    assert c.request(get("/")).body == b"server\n"
    assert c.request(get("/loc")).body == b"server\n"


def test_location_without_content_is_404(portico):
    server = portico.start(one_server(
        "        location /empty {\n        }"))
    c = Client(server.port)
    assert c.request(get("/empty")).status == 404
    assert c.request(get("/")).status == 404


def test_head(portico, portico_version):
    server = portico.start(one_server(
        '        location / {\n            return 200 "hello\\n";\n'
        '        }\n'
        '        location /missing {\n            return 404;\n        }'))

    c = Client(server.port)
    full = c.request(get("/"))
    head = c.request(get("/", method=b"HEAD"), head=True)

    assert head.status == 200
    assert head.body == b""
    # the same headers (but Date, which may have ticked)
    assert [h for h in head.headers if h[0] != "Date"] == \
        [h for h in full.headers if h[0] != "Date"]
    assert head.header("Content-Length") == "6"

    head = c.request(get("/missing", method=b"HEAD"), head=True)
    assert head.status == 404
    assert int(head.header("Content-Length")) == len(
        error_page("404 Not Found", portico_version))

    # no body bytes were sent: the next response follows at once
    resp = c.request(get("/"))
    assert resp.body == b"hello\n"
    assert c.buf == b""


def test_server_tokens_off(portico):
    server = portico.start(one_server(
        "        server_tokens off;\n"
        '        location / {\n            return 200 "x";\n        }\n'
        "        location /missing {\n            return 404;\n        }\n"
        "        location /on {\n            server_tokens on;\n"
        "            return 404;\n        }"))

    c = Client(server.port)
    resp = c.request(get("/"))
    assert resp.header("Server") == "portico"

    resp = c.request(get("/missing"))
    assert resp.header("Server") == "portico"
    assert resp.body == error_page("404 Not Found", "portico")
    assert b"0." not in resp.raw

    resp = c.request(get("/on"))
    assert re.match(r"^portico/\d", resp.header("Server"))


# ---------------------------------------------------------------------------
# connections

KEEPALIVE = """
        location / {
            return 200 "ka\\n";
        }
"""


def test_keepalive_several_requests(portico):
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    for i in range(10):
        resp = c.request(get("/%d" % i))
        assert resp.status == 200
        assert resp.body == b"ka\n"
        assert resp.header("Connection") == "keep-alive"
    c.close()


def test_keepalive_requests(portico):
    server = portico.start(one_server("        keepalive_requests 3;\n"
                                      + KEEPALIVE))
    c = Client(server.port)
    for i in range(2):
        assert c.request(get("/")).header("Connection") == "keep-alive"
    resp = c.request(get("/"))
    assert resp.status == 200
    assert resp.header("Connection") == "close"
    assert c.wait_closed()[0] == b""


def test_keepalive_limits_with_server_level_return(portico):
    """The server's own keep-alive settings apply before any location."""
    server = portico.start(one_server('        keepalive_requests 2;\n'
                                      '        return 200 "srv\\n";'))
    c = Client(server.port)
    assert c.request(get("/")).header("Connection") == "keep-alive"
    resp = c.request(get("/"))
    assert resp.body == b"srv\n"
    assert resp.header("Connection") == "close"
    assert c.wait_closed()[0] == b""

    server2 = portico.start(one_server('        keepalive_timeout 0;\n'
                                       '        return 200 "srv\\n";'))
    data, closed = exchange(server2.port, get("/"))
    assert closed
    assert parse_response(data)[0].header("Connection") == "close"


def test_keepalive_timeout(portico):
    server = portico.start(one_server("        keepalive_timeout 1s;\n"
                                      + KEEPALIVE))
    c = Client(server.port)
    assert c.request(get("/")).header("Connection") == "keep-alive"
    extra, took = c.wait_closed(timeout=6)
    assert extra == b""
    assert 0.5 <= took <= 4, took


def test_keepalive_timeout_0_disables_keepalive(portico):
    server = portico.start(one_server("        keepalive_timeout 0;\n"
                                      + KEEPALIVE))
    c = Client(server.port)
    assert c.request(get("/")).header("Connection") == "close"
    assert c.wait_closed()[0] == b""


def test_http10_closes_by_default(portico):
    server = portico.start(one_server(KEEPALIVE))
    data, closed = exchange(server.port, b"GET / HTTP/1.0\r\n\r\n")
    assert closed
    resp, end = parse_response(data)
    assert end == len(data)
    assert resp.version == "HTTP/1.1"
    assert resp.header("Connection") == "close"
    assert resp.body == b"ka\n"


def test_http10_keepalive_on_request(portico):
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    req = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    assert c.request(req).header("Connection") == "keep-alive"
    assert c.request(req).header("Connection") == "keep-alive"


def test_http11_connection_close(portico):
    server = portico.start(one_server(KEEPALIVE))
    data, closed = exchange(server.port,
                            get("/", extra=b"Connection: Close\r\n"))
    assert closed
    resp, end = parse_response(data)
    assert end == len(data)
    assert resp.header("Connection") == "close"


def test_pipelined_requests_in_order(portico):
    n = 100
    locations = "".join(
        '        location = /p%d {\n            return 200 "p%d\\n";\n'
        '        }\n' % (i, i) for i in range(n))
    server = portico.start(one_server(locations))

    reqs = b"".join(
        get("/p%d" % i, extra=b"Connection: close\r\n" if i == n - 1
            else b"") for i in range(n))

    data, closed = exchange(server.port, reqs, timeout=15)
    assert closed
    resps, rest = parse_responses(data)
    assert rest == b""
    assert [r.body for r in resps] == [b"p%d\n" % i for i in range(n)]
    assert all(r.header("Connection") == "keep-alive" for r in resps[:-1])
    assert resps[-1].header("Connection") == "close"


def test_pipelined_requests_across_reads(portico):
    """A request split over the end of the first read, then more."""
    server = portico.start(one_server(KEEPALIVE,
                                      http="    client_header_buffer_size "
                                           "128;"))
    c = Client(server.port)
    pad = b"X-Pad: " + b"p" * 60 + b"\r\n"
    reqs = b"".join(get("/%d" % i, extra=pad) for i in range(20))
    c.send(reqs)
    for i in range(20):
        assert c.response().body == b"ka\n"


def test_pipelined_request_after_large_header(portico):
    """
    The first request needs a large header buffer; the next one starts in
    the same read and ends in a later one.
    """
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    first = get("/1", extra=b"X-Big: " + b"b" * 3000 + b"\r\n")
    second = get("/2", extra=b"X-Small: s\r\n")
    c.send(first + second[:10])
    assert c.response().body == b"ka\n"
    time.sleep(0.2)     # let the server go back to waiting
    c.send(second[10:])
    assert c.response().body == b"ka\n"
    # and once more with a fresh request
    assert c.request(get("/3")).body == b"ka\n"


def test_request_split_into_single_bytes(portico):
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    for byte in get("/", extra=b"X-A: b\r\n"):
        c.send(bytes([byte]))
    assert c.response().body == b"ka\n"
    assert c.request(get("/")).body == b"ka\n"


def test_connection_close_wins_over_keepalive(portico):
    server = portico.start(one_server(KEEPALIVE))
    data, closed = exchange(server.port, get(
        "/", extra=b"Connection: keep-alive, close\r\n"))
    assert closed
    assert parse_response(data)[0].header("Connection") == "close"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_body_is_never_a_request(portico, framing):
    """
    A body that looks like a request is never answered as one, whether
    the server discards the body and keeps the connection or closes it.
    """
    server = portico.start(one_server(KEEPALIVE + """
        location /smuggled {
            return 200 "smuggled\\n";
        }
        location /probe {
            return 200 "probe\\n";
        }
"""))
    inner = get("/smuggled")
    if framing == "chunked":
        req = (b"POST / HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n"
               b"%x\r\n%s\r\n0\r\n\r\n" % (len(inner), inner))
    else:
        req = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % len(inner)) + inner
    probe = get("/probe", extra=b"Connection: close\r\n")

    data, closed = exchange(server.port, req + probe)
    assert closed
    resps, rest = parse_responses(data)
    assert rest == b""
    bodies = [r.body for r in resps]
    assert bodies in ([b"ka\n"], [b"ka\n", b"probe\n"]), bodies
    if bodies == [b"ka\n"]:
        assert resps[0].header("Connection") == "close"


# ---------------------------------------------------------------------------
# locations

LOCATIONS = r"""
        location / {
            return 200 "root";
        }
        location = / {
            return 200 "exact-root";
        }
        location = /exact {
            return 200 "exact";
        }
        location /exact {
            return 200 "exact-prefix";
        }
        location /docs/ {
            return 200 "docs";
        }
        location /docs/api/ {
            return 200 "docs-api";
        }
        location /img/ {
            return 200 "img";
        }
        location ^~ /static/ {
            return 200 "static";
        }
        location ~ \.(gif|jpg)$ {
            return 200 "regex-img";
        }
        location ~ \.jpg$ {
            return 200 "regex-jpg";
        }
        location ~* \.png$ {
            return 200 "regex-png";
        }
        location ~ ^/case/[a-z]+$ {
            return 200 "regex-lower";
        }
        location /outer/ {
            return 200 "outer";

            location /outer/inner/ {
                return 200 "inner";
            }
            location ~ \.php$ {
                return 200 "outer-php";
            }
        }
        location ~ \.php$ {
            return 200 "php";
        }
        location /internal/ {
            internal;
            return 200 "internal";
        }
"""


@pytest.mark.parametrize("uri, expected", [
    ("/", "exact-root"),
    ("/x", "root"),
    ("/exact", "exact"),
    ("/exact/x", "exact-prefix"),
    ("/exactly", "exact-prefix"),
    ("/docs/x", "docs"),
    ("/docs/api/x", "docs-api"),      # the longest prefix, not the first
    ("/docs/api", "docs"),
    ("/img/a.txt", "img"),
    ("/img/a.gif", "regex-img"),      # a regex beats a prefix
    ("/static/a.gif", "static"),      # ^~ beats a regex
    ("/static", "root"),
    ("/a.jpg", "regex-img"),          # regexes in order: the first wins
    ("/a.PNG", "regex-png"),          # ~* ignores case
    ("/A.png", "regex-png"),
    ("/a.JPG", "root"),               # ~ does not
    ("/case/abc", "regex-lower"),
    ("/case/aBc", "root"),
    ("/outer/x", "outer"),
    ("/outer/inner/x", "inner"),
    ("/outer/inner/a.php", "outer-php"),  # the nested regex first
    ("/a.php", "php"),
    ("/docs/a.jpg", "regex-img"),
    ("/x?a=b.jpg", "root"),           # the query is not matched
])
def test_location_matching(portico, uri, expected):
    server = portico.start(one_server(LOCATIONS))
    resp = Client(server.port).request(get(uri))
    assert (resp.status, resp.body.decode()) == (200, expected)


def test_internal_location_is_404_directly(portico, portico_version):
    server = portico.start(one_server(LOCATIONS))
    c = Client(server.port)
    resp = c.request(get("/internal/x"))
    assert resp.status == 404
    assert resp.body == error_page("404 Not Found", portico_version)
    assert c.request(get("/x")).body == b"root"


# ---------------------------------------------------------------------------
# virtual servers

VHOSTS = r"""
http {
    server {
        listen 127.0.0.1:{port};
        server_name first.test;
        return 200 "first";
    }
    server {
        listen 127.0.0.1:{port} default_server;
        server_name default.test;
        return 200 "default";
    }
    server {
        listen 127.0.0.1:{port};
        server_name exact.example.com other.test;
        return 200 "exact";
    }
    server {
        listen 127.0.0.1:{port};
        server_name *.example.com;
        return 200 "wild-head";
    }
    server {
        listen 127.0.0.1:{port};
        server_name www.example.*;
        return 200 "wild-tail";
    }
    server {
        listen 127.0.0.1:{port};
        server_name ~^api\d+\.test$;
        return 200 "regex";
    }
    server {
        listen 127.0.0.1:{port};
        server_name .dot.test;
        return 200 "dot";
    }

    server {
        listen 127.0.0.1:{port2};
        server_name a.test;
        return 200 "a";
    }
    server {
        listen 127.0.0.1:{port2};
        server_name b.test;
        return 200 "b";
    }
}
"""


@pytest.mark.parametrize("host, expected", [
    ("exact.example.com", "exact"),
    ("other.test", "exact"),
    ("first.test", "first"),
    ("default.test", "default"),
    ("a.example.com", "wild-head"),
    ("a.b.example.com", "wild-head"),
    ("www.example.com", "wild-head"),   # a leading wildcard first
    ("www.example.org", "wild-tail"),
    ("api12.test", "regex"),
    ("api.test", "default"),
    ("api12.test.evil", "default"),
    ("dot.test", "dot"),
    ("x.dot.test", "dot"),
    ("unknown.test", "default"),
    ("exact.example.com:8080", "exact"),
    ("EXACT.Example.COM", "exact"),
    ("exact.example.com.", "exact"),
    ("127.0.0.1", "default"),
])
def test_virtual_server(portico, host, expected):
    server = portico.start(VHOSTS)
    resp = Client(server.port).request(get("/", host=host))
    assert (resp.status, resp.body.decode()) == (200, expected)


def test_virtual_server_without_host_is_default(portico):
    server = portico.start(VHOSTS)
    resp = Client(server.port).request(b"GET / HTTP/1.0\r\n\r\n")
    assert resp.body == b"default"


def test_first_server_is_the_default(portico):
    server = portico.start(VHOSTS)
    c = Client(server.ports["port2"])
    assert c.request(get("/", host="b.test")).body == b"b"
    assert c.request(get("/", host="a.test")).body == b"a"
    assert c.request(get("/", host="c.test")).body == b"a"


def test_host_per_request_on_one_connection(portico):
    server = portico.start(VHOSTS)
    c = Client(server.port)
    assert c.request(get("/", host="first.test")).body == b"first"
    assert c.request(get("/", host="x.example.com")).body == b"wild-head"
    assert c.request(get("/", host="nope")).body == b"default"


@pytest.mark.parametrize("target, host, expected", [
    (b"http://exact.example.com/", b"first.test", b"exact"),
    (b"http://exact.example.com:80/x", b"first.test", b"exact"),
    (b"HTTP://First.Test/", b"exact.example.com", b"first"),
    (b"https://unknown.test/", b"first.test", b"default"),
    (b"http://first.test", b"exact.example.com", b"first"),
    (b"http://first.test?a=1", b"exact.example.com", b"first"),
])
def test_absolute_form_overrides_host(portico, target, host, expected):
    server = portico.start(VHOSTS)
    resp = Client(server.port).request(
        b"GET " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert (resp.status, resp.body) == (200, expected)


def test_absolute_form_without_host_header(portico):
    server = portico.start(VHOSTS)
    resp = Client(server.port).request(
        b"GET http://first.test/ HTTP/1.1\r\n\r\n")
    assert (resp.status, resp.body) == (200, b"first")


# ---------------------------------------------------------------------------
# URI normalisation

NORMALISE = r"""
        location / {
            return 200 "root";
        }
        location = /a/b {
            return 200 "ab";
        }
        location = /a/c {
            return 200 "ac";
        }
        location = /c {
            return 200 "c";
        }
        location = /a/ {
            return 200 "a/";
        }
        location = "/sp ace" {
            return 200 "space";
        }
"""


@pytest.mark.parametrize("uri, expected", [
    ("/a/./b/../c", "ac"),
    ("/a/b/../c", "ac"),
    ("//a//b", "ab"),
    ("/a///b", "ab"),
    ("/a/%2e%2e/c", "c"),
    ("/a/%2E%2E/c", "c"),
    ("/a/%2e/c", "ac"),
    ("/a/%62", "ab"),
    ("/%61/%63", "ac"),
    ("/a/b/..", "a/"),
    ("/a/.", "a/"),
    ("/sp%20ace", "space"),
    ("/a/b?x=/../..", "ab"),
    ("/a/c/%2e%2e/b", "ab"),
    ("/a%2fb", "ab"),
    ("/a/./", "a/"),
])
def test_uri_normalisation(portico, uri, expected):
    server = portico.start(one_server(NORMALISE))
    resp = Client(server.port).request(get(uri))
    assert (resp.status, resp.body.decode()) == (200, expected)


def test_merge_slashes_off(portico):
    server = portico.start(one_server("        merge_slashes off;\n"
                                      + NORMALISE))
    c = Client(server.port)
    assert c.request(get("//a//b")).body == b"root"
    assert c.request(get("/a/./b")).body == b"ab"


@pytest.mark.parametrize("uri", [
    "/../x",
    "/a/../../x",
    "/%2e%2e/x",
    "/a/%2e%2e/%2e%2e/x",
    "/..",
    "/a%00b",
    "/a%zz",
    "/a%2",
])
def test_uri_rejected(portico, portico_version, uri):
    server = portico.start(one_server(NORMALISE))
    check_rejected(server, get(uri), 400, portico_version)


# ---------------------------------------------------------------------------
# parser rejections: each answered with an error and the connection closed

STATUS_LINES = {
    400: "400 Bad Request",
    414: "414 Request-URI Too Large",
    431: "431 Request Header Fields Too Large",
    505: "505 HTTP Version Not Supported",
}


def check_rejected(server, request, status, version, timeout=5):
    data, closed = exchange(server.port, request, timeout=timeout)
    assert closed, "the connection stayed open; got %r" % data[:300]
    resp, end = parse_response(data)
    assert data[end:] == b"", "more after the error: %r" % data[end:]
    body = error_page(STATUS_LINES[status], version)
    check_head(resp, version, STATUS_LINES[status],
               [("Content-Type", "text/html"),
                ("Content-Length", str(len(body))),
                ("Connection", "close")])
    assert resp.body == body
    return resp


def big_headers(n, size=10):
    return b"".join(b"X-H%d: %s\r\n" % (i, b"v" * size) for i in range(n))


REJECTIONS = [
    ("no-host-11", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate-host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("duplicate-same-host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
     400),
    ("invalid-host", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host-with-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("empty-host", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
    ("bare-lf", b"GET / HTTP/1.1\nHost: a\n\n", 400),
    ("bare-lf-in-header", b"GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400),
    ("bare-lf-end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("obs-fold-tab", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
     400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    ("space-in-name", b"GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n", 400),
    ("empty-name", b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400),
    ("cr-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400),
    ("del-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x7fc\r\n\r\n",
     400),
    ("ctl-in-value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n",
     400),
    ("method-paren", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("method-ctl", b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("method-utf8", b"G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("leading-space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("two-spaces", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("space-in-target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ctl-in-target", b"GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    ("http2", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ("http3", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    ("http09", b"GET /\r\n\r\n", 400),
    ("bad-version", b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    ("short-version", b"GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
    ("fragment", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("relative-target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("star-with-get", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("userinfo", b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("ftp-scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ("cl-and-te", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("te-and-cl", b"POST / HTTP/1.1\r\nHost: a\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     400),
    ("differing-cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
                     b"Content-Length: 4\r\n\r\n", 400),
    ("cl-list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n",
     400),
    ("cl-alpha", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
     400),
    ("cl-negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n"
                    b"\r\n", 400),
    ("cl-plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
     400),
    ("cl-hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
     400),
    ("cl-empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
     400),
    ("cl-overflow", b"POST / HTTP/1.1\r\nHost: a\r\n"
                    b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("cl-overflow-2^63", b"POST / HTTP/1.1\r\nHost: a\r\n"
                         b"Content-Length: 9223372036854775808\r\n\r\n", 400),
    ("te-gzip", b"POST / HTTP/1.1\r\nHost: a\r\n"
                b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("te-gzip-chunked", b"POST / HTTP/1.1\r\nHost: a\r\n"
                        b"Transfer-Encoding: gzip, chunked\r\n\r\n", 400),
    ("te-identity", b"POST / HTTP/1.1\r\nHost: a\r\n"
                    b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("te-twice", b"POST / HTTP/1.1\r\nHost: a\r\n"
                 b"Transfer-Encoding: chunked\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("te-http10", b"POST / HTTP/1.0\r\nHost: a\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("uri-too-long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
     414),
    ("header-too-large", b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: "
                         + b"b" * 9000 + b"\r\n\r\n", 431),
    ("too-many-headers", b"GET / HTTP/1.1\r\nHost: a\r\n" + big_headers(150)
     + b"\r\n", 431),
    ("headers-total-too-large", b"GET / HTTP/1.1\r\nHost: a\r\n"
     + big_headers(8, 5000) + b"\r\n", 431),
]


@pytest.mark.parametrize("request_bytes, status",
                         [pytest.param(r, s, id=i) for i, r, s in REJECTIONS])
def test_parser_rejection(portico, portico_version, request_bytes, status):
    server = portico.start(one_server(KEEPALIVE))
    check_rejected(server, request_bytes, status, portico_version)

    # the server is fine afterwards
    assert Client(server.port).request(get("/")).body == b"ka\n"


def test_rejection_after_good_request_on_same_connection(portico,
                                                         portico_version):
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    assert c.request(get("/")).status == 200
    resp = c.request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert resp.status == 400
    assert resp.header("Connection") == "close"
    assert c.wait_closed()[0] == b""


def test_rejection_of_second_pipelined_request(portico):
    server = portico.start(one_server(KEEPALIVE))
    data, closed = exchange(server.port, get("/") + b"GET / HTTP/2.0\r\n\r\n"
                            + get("/"))
    assert closed
    resps, rest = parse_responses(data)
    assert rest == b""
    assert [r.status for r in resps] == [200, 505]


def test_accepted_edge_cases(portico):
    """What the parser must still accept."""
    server = portico.start(one_server(KEEPALIVE))
    c = Client(server.port)
    for req in [
        # empty lines before the request line (RFC 9112 2.2)
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        # header names are case-insensitive, values trimmed
        b"GET / HTTP/1.1\r\nhOsT:   a  \r\n\r\n",
        # no space after the colon
        b"GET / HTTP/1.1\r\nHost:a\r\n\r\n",
        # a repeated identical Content-Length is harmless, zero has no body
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
        b"Content-Length: 0\r\n\r\n",
        # HTTP/1.0 needs no Host
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        # a later HTTP/1.x minor version is 1.1
        b"GET / HTTP/1.9\r\nHost: a\r\n\r\n",
        # an unknown method is a token like any other
        b"FROBNICATE / HTTP/1.1\r\nHost: a\r\n\r\n",
        # a long URI and a long header fit in a large buffer
        b"GET /" + b"u" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"l" * 7000 + b"\r\n\r\n",
        # 90 headers are fine
        b"GET / HTTP/1.1\r\nHost: a\r\n" + big_headers(90) + b"\r\n",
        # underscores: the header is ignored, not an error
        b"GET / HTTP/1.1\r\nHost: a\r\nX_Under: 1\r\n\r\n",
        # obs-text in a value
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\xc3\xa9\r\n\r\n",
        # a header name longer than the lowercase copy kept while parsing
        b"GET / HTTP/1.1\r\nX-A-Header-Name-Longer-Than-Thirty-Two: 1\r\n"
        b"HOST: a\r\n\r\n",
        # empty values are values
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-E2: \r\n\r\n",
    ]:
        resp = c.request(req)
        assert (resp.status, resp.body) == (200, b"ka\n"), req[:80]
        assert resp.header("Connection") == "keep-alive", req[:80]

    # OPTIONS * is well-formed; no location is "*", so no "return" runs
    # and the content phase declines it (404, or 405 from a static module)
    resp = c.request(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    assert resp.status in (404, 405)
    assert resp.header("Connection") == "keep-alive"
    assert c.request(get("/")).body == b"ka\n"


def test_tls_client_hello_on_plain_port(portico, portico_version):
    server = portico.start(one_server(KEEPALIVE))

    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"

    t0 = time.monotonic()
    check_rejected(server, hello, 400, portico_version, timeout=5)
    assert time.monotonic() - t0 < 3


# ---------------------------------------------------------------------------
# timeouts and load

def test_slowloris(portico):
    server = portico.start(one_server("        client_header_timeout 2s;\n"
                                      + KEEPALIVE))

    slow = connect(server.port)
    request = get("/")
    t0 = time.monotonic()
    closed_after = None
    others = 0

    for i in range(len(request)):
        try:
            slow.sendall(request[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed_after = time.monotonic() - t0
            break

        # meanwhile, others are served at once
        t1 = time.monotonic()
        assert Client(server.port).request(get("/")).body == b"ka\n"
        assert time.monotonic() - t1 < 3
        others += 1

        data, closed = recv_until_close(slow, timeout=0.5)
        if closed:
            assert data == b""
            closed_after = time.monotonic() - t0
            break
        assert data == b""
        if time.monotonic() - t0 > 8:
            break

    slow.close()
    assert closed_after is not None, "the slow client was never cut off"
    assert 1.5 <= closed_after <= 5, closed_after
    assert others >= 3


@pytest.mark.parametrize("pipelined", [False, True])
def test_client_header_timeout_second_head(portico, pipelined):
    """On a kept-alive connection the next head, once begun, must be whole
    within client_header_timeout too, whether its first part came on its
    own or behind the previous request (the keep-alive timer, 60 s here,
    does not apply to it)."""
    server = portico.start(one_server("        client_header_timeout 1s;\n"
                                      + KEEPALIVE))
    c = Client(server.port)
    try:
        part = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
        if pipelined:
            c.send(get("/") + part)
        else:
            assert c.request(get("/")).body == b"ka\n"
            c.send(part)
        if pipelined:
            assert c.response().body == b"ka\n"
        t0 = time.monotonic()
        data, took = c.wait_closed(timeout=6)
        assert data == b""
        assert 0.5 <= time.monotonic() - t0 <= 4
    finally:
        c.close()


def test_client_header_timeout_idle_connection(portico):
    server = portico.start(one_server("        client_header_timeout 1s;\n"
                                      + KEEPALIVE))
    c = connect(server.port)
    t0 = time.monotonic()
    data, closed = recv_until_close(c, timeout=6)
    c.close()
    assert (data, closed) == (b"", True)
    assert 0.5 <= time.monotonic() - t0 <= 4


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            pytest.skip("RLIMIT_NOFILE hard limit %d < %d" % (hard, n))
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def test_1000_concurrent_keepalive_connections(portico):
    n = 1000
    raise_nofile(4 * n)

    server = portico.start(
        "http {\n    server {\n"
        "        listen 127.0.0.1:{port} backlog=4096;\n"
        + KEEPALIVE + "    }\n}\n",
        events="worker_connections 2048;")

    sel = selectors.DefaultSelector()
    conns = []
    request = get("/")
    deadline = time.monotonic() + 60

    try:
        # all connections open at once
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", server.port))
            conns.append(s)
            sel.register(s, selectors.EVENT_WRITE, i)

        bufs = [b""] * n
        answered = [0] * n
        rounds = 2
        pending = n

        while pending and time.monotonic() < deadline:
            for key, events in sel.select(timeout=1):
                i = key.data
                s = key.fileobj
                if events & selectors.EVENT_WRITE:
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    assert err == 0, "connection %d: errno %d" % (i, err)
                    s.send(request)
                    sel.modify(s, selectors.EVENT_READ, i)
                    continue
                chunk = s.recv(65536)
                assert chunk, "connection %d closed by the server" % i
                bufs[i] += chunk
                try:
                    resp, end = parse_response(bufs[i], eof=False)
                except Exception:
                    continue
                bufs[i] = bufs[i][end:]
                assert resp.status == 200 and resp.body == b"ka\n"
                assert resp.header("Connection") == "keep-alive"
                answered[i] += 1
                if answered[i] < rounds:
                    # a second request on the same, still open connection
                    s.send(request)
                else:
                    sel.unregister(s)
                    pending -= 1

        assert pending == 0, "%d of %d connections not answered in time" % (
            pending, n)
        assert answered == [rounds] * n
    finally:
        sel.close()
        for s in conns:
            s.close()

    # and the server is still fine
    assert Client(server.port).request(get("/")).body == b"ka\n"
