"""
error_page: an internal redirect to a URI (the original status kept, or
replaced with "=CODE", or the page's own with "="), a named location, a
redirect to a full URL; inheritance; loops that end in the built-in page;
error pages for errors found before the body is read (413). And error_log
inside a location: what goes wrong there is logged to its own file.
"""

import re

import pytest

from conftest import Client, get


def one_server(inner, http=""):
    return ("http {\n%s\n"
            "    server {\n"
            "        listen 127.0.0.1:{port};\n"
            "%s\n"
            "    }\n"
            "}\n" % (http, inner))


def builtin_page(status_line, version):
    return ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
            "<center><h1>%s</h1></center>\r\n<hr><center>%s</center>\r\n"
            "</body>\r\n</html>\r\n"
            % (status_line, status_line, version)).encode()


PAGES = """
        location = /nf {
            internal;
            return 200 "nf page $request_method $uri $args\\n";
        }
        location = /accepted {
            internal;
            return 202 "accepted page\\n";
        }
        location @fallback {
            return 200 "fallback page $uri\\n";
        }
        location /missing {
            return 404;
        }
        location /forbidden {
            return 403;
        }
        location /broken {
            return 500;
        }
        location /bad-gateway {
            return 502;
        }
"""


def check_page(resp, status, body, keepalive=True):
    assert resp.status == status, resp
    assert resp.body == body
    assert resp.header("Content-Length") == str(len(body))
    assert resp.header("Connection") == ("keep-alive" if keepalive
                                         else "close")


# ---------------------------------------------------------------------------
# the forms of error_page

def test_internal_page_keeps_the_status(portico):
    server = portico.start(one_server(PAGES + """
        error_page 404 /nf;
"""))
    c = Client(server.port)
    resp = c.request(get("/missing/x"))
    check_page(resp, 404, b"nf page GET /nf \n")
    assert resp.reason == "Not Found"
    assert resp.header("Content-Type") == "text/plain"
    # the page itself is internal
    resp = c.request(get("/nf"))
    assert resp.status == 404
    assert resp.body.startswith(b"nf page GET /nf")
    c.close()


def test_internal_page_is_a_get(portico):
    """The page is asked for with GET whatever the method; the body goes."""
    server = portico.start(one_server(PAGES + """
        error_page 404 /nf;
"""))
    c = Client(server.port)
    c.send(b"POST /missing HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n"
           + get("/smuggled")[:17] + get("/missing"))
    check_page(c.response(), 404, b"nf page GET /nf \n")
    check_page(c.response(), 404, b"nf page GET /nf \n")
    # HEAD stays HEAD: no body
    resp = c.request(get("/missing", method=b"HEAD"), head=True)
    assert resp.status == 404
    assert resp.body == b""
    assert resp.header("Content-Length") == str(len(b"nf page HEAD /nf \n"))
    c.close()


def test_internal_page_with_args(portico):
    server = portico.start(one_server(PAGES + """
        error_page 404 /nf?from=404&x=1;
"""))
    resp = Client(server.port).request(get("/missing?orig=1"))
    check_page(resp, 404, b"nf page GET /nf from=404&x=1\n")


def test_overwrite_with_code(portico):
    server = portico.start(one_server(PAGES + """
        error_page 404 =200 /nf;
        error_page 403 =410 /nf;
"""))
    c = Client(server.port)
    resp = c.request(get("/missing"))
    check_page(resp, 200, b"nf page GET /nf \n")
    assert resp.reason == "OK"
    resp = c.request(get("/forbidden"))
    check_page(resp, 410, b"nf page GET /nf \n")
    c.close()


def test_overwrite_with_the_pages_status(portico):
    server = portico.start(one_server(PAGES + """
        error_page 404 = /accepted;
        error_page 403 = /nf;
"""))
    c = Client(server.port)
    resp = c.request(get("/missing"))
    check_page(resp, 202, b"accepted page\n")
    assert resp.reason == "Accepted"
    check_page(c.request(get("/forbidden")), 200, b"nf page GET /nf \n")
    c.close()


def test_named_location(portico):
    server = portico.start(one_server(PAGES + """
        error_page 500 502 @fallback;
"""))
    c = Client(server.port)
    resp = c.request(get("/bad-gateway/x"))
    # the URI is the original one in a named location
    check_page(resp, 502, b"fallback page /bad-gateway/x\n")
    assert resp.reason == "Bad Gateway"
    c.close()

    # a 500 closes the connection, error page or not
    c = Client(server.port)
    check_page(c.request(get("/broken")), 500, b"fallback page /broken\n",
               keepalive=False)
    assert c.wait_closed()[0] == b""


def test_named_location_with_overwrite(portico):
    server = portico.start(one_server(PAGES + """
        error_page 502 =503 @fallback;
"""))
    resp = Client(server.port).request(get("/bad-gateway"))
    check_page(resp, 503, b"fallback page /bad-gateway\n")


def test_redirect_to_url(portico, portico_version):
    server = portico.start(one_server(PAGES + """
        error_page 403 http://example.com/x;
        error_page 404 =301 https://example.com/moved?a=1;
        error_page 502 =200 http://example.com/y;
"""))
    c = Client(server.port)
    resp = c.request(get("/forbidden"))
    assert resp.status == 302
    assert resp.reason == "Moved Temporarily"
    assert resp.header("Location") == "http://example.com/x"
    assert resp.body == builtin_page("302 Found", portico_version) \
        or resp.body == builtin_page("302 Moved Temporarily",
                                     portico_version)
    assert resp.header("Connection") == "keep-alive"

    resp = c.request(get("/missing"))
    assert resp.status == 301
    assert resp.header("Location") == "https://example.com/moved?a=1"

    # only a redirect status makes sense with a URL: 302 it is
    resp = c.request(get("/bad-gateway"))
    assert resp.status == 302
    assert resp.header("Location") == "http://example.com/y"
    c.close()


def test_targets_with_variables(portico):
    """The URI, URL or name of error_page may hold variables."""
    server = portico.start(one_server(PAGES + """
        error_page 404 /nf?from=$uri&$args;
        error_page 403 =301 https://$host/login$request_uri;
"""))
    c = Client(server.port)
    resp = c.request(get("/missing/a?orig=1"))
    check_page(resp, 404, b"nf page GET /nf from=/missing/a&orig=1\n")

    resp = c.request(get("/forbidden/b?x=%41", host="example.test"))
    assert resp.status == 301
    assert resp.header("Location") == \
        "https://example.test/login/forbidden/b?x=%41"
    c.close()


def test_unknown_named_location_is_500(portico, portico_version):
    server = portico.start(one_server(PAGES + """
        error_page 404 @nowhere;
"""))
    c = Client(server.port)
    resp = c.request(get("/missing"))
    check_page(resp, 500, builtin_page("500 Internal Server Error",
                                       portico_version), keepalive=False)
    server.wait_log(r'\[error\] .*could not find named location '
                    r'"@nowhere"')


# ---------------------------------------------------------------------------
# inheritance

def test_inherited_from_http_and_server(portico):
    server = portico.start(one_server(PAGES + """
        location /own {
            error_page 404 =200 /nf;
            return 404;
        }
        location /inherits {
            return 404;
        }
        location /inherits-500 {
            return 500;
        }
""", http="    error_page 500 @fallback;"))
    c = Client(server.port)
    check_page(c.request(get("/own")), 200, b"nf page GET /nf \n")
    # the server has none of its own: http's apply
    check_page(c.request(get("/inherits-500")), 500,
               b"fallback page /inherits-500\n", keepalive=False)


def test_location_list_replaces_inherited(portico, portico_version):
    """As in nginx: a level with error_page of its own inherits none."""
    server = portico.start(one_server(PAGES + """
        error_page 404 /nf;
        location /replaced {
            error_page 500 @fallback;
            return 404;
        }
"""))
    c = Client(server.port)
    check_page(c.request(get("/replaced")), 404,
               builtin_page("404 Not Found", portico_version))
    check_page(c.request(get("/missing")), 404, b"nf page GET /nf \n")
    c.close()


# ---------------------------------------------------------------------------
# loops end in the built-in page

def test_page_that_is_itself_missing(portico, portico_version):
    """The error page's location gives the same error: built-in page."""
    server = portico.start(one_server("""
        error_page 404 /nowhere;
        location / {
            return 404;
        }
"""))
    c = Client(server.port)
    resp = c.request(get("/x"))
    check_page(resp, 404, builtin_page("404 Not Found", portico_version))
    # and the connection goes on
    assert c.request(get("/y")).status == 404
    c.close()


def test_page_location_with_its_own_error_page(portico, portico_version):
    server = portico.start(one_server("""
        error_page 404 /nf;
        location / {
            return 404;
        }
        location /nf {
            error_page 404 /nf2;
            return 404;
        }
        location /nf2 {
            error_page 404 /nf;
            return 404;
        }
"""))
    resp = Client(server.port).request(get("/x"))
    check_page(resp, 404, builtin_page("404 Not Found", portico_version))


def test_named_location_that_fails(portico, portico_version):
    server = portico.start(one_server("""
        error_page 500 502 @fallback;
        location / {
            return 502;
        }
        location @fallback {
            return 500;
        }
"""))
    resp = Client(server.port).request(get("/x"))
    # the second error is the answer, built in
    assert resp.status == 500
    assert resp.body == builtin_page("500 Internal Server Error",
                                     portico_version)


def test_page_of_another_status_that_fails(portico, portico_version):
    """404 -> /a, which is a 403 whose page would be /b: one page only."""
    server = portico.start(one_server("""
        error_page 404 /a;
        error_page 403 /b;
        location / {
            return 404;
        }
        location /a {
            return 403;
        }
        location /b {
            return 200 "b\\n";
        }
"""))
    resp = Client(server.port).request(get("/x"))
    assert resp.status == 403
    assert resp.body == builtin_page("403 Forbidden", portico_version)


def test_recursive_error_pages(portico, portico_version):
    """
    recursive_error_pages on: the page's own error has its page too; off
    (the default, here in another server) is the test above.
    """
    server = portico.start(one_server("""
        recursive_error_pages on;
        error_page 404 /a;
        error_page 403 /b;
        location / {
            return 404;
        }
        location /a {
            return 403;
        }
        location /b {
            return 200 "b $uri\\n";
        }
        location /off/ {
            recursive_error_pages off;
            error_page 404 /a;
            error_page 403 /b;
            return 404;
        }
"""))
    c = Client(server.port)
    check_page(c.request(get("/x")), 403, b"b /b\n")
    # off in the location that failed first: the page's own error is
    # judged where it happens, in /a, where it is on
    check_page(c.request(get("/off/x")), 403, b"b /b\n")
    c.close()


@pytest.mark.parametrize("target", ["/loop", "@loop"])
def test_recursive_error_pages_loop_ends(portico, portico_version, target):
    """A page that fails into itself: the cycle is cut with a 500."""
    server = portico.start(one_server("""
        recursive_error_pages on;
        error_page 404 %s;
        location / {
            return 404;
        }
        location /loop {
            return 404;
        }
        location @loop {
            return 404;
        }
""" % target))
    c = Client(server.port)
    resp = c.request(get("/x"))
    assert resp.status == 500
    assert resp.body == builtin_page("500 Internal Server Error",
                                     portico_version)
    server.wait_log(r"\[error\] .*rewrite or internal redirection cycle")
    # the worker is fine, and so is the connection's next request
    assert Client(server.port).request(get("/x")).status == 500
    c.close()


def test_recursive_error_pages_bad_value(tmp_path):
    from conftest import line_of, run_portico, write_config
    conf = write_config(tmp_path, one_server(
        "        recursive_error_pages maybe;\n").replace("{port}", "1"))
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1, err
    assert ("[emerg] invalid value \"maybe\" in \"recursive_error_pages\" "
            "directive, it must be \"on\" or \"off\" in %s:%d"
            % (conf, line_of(conf, "recursive_error_pages"))) in err, err


# ---------------------------------------------------------------------------
# errors before the body

def check_413_page(server):
    c = Client(server.port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    resp = c.response()
    check_page(resp, 413, b"too big: GET /too-big\n", keepalive=False)
    assert resp.reason == "Request Entity Too Large"
    assert c.wait_closed()[0] == b""


def test_error_page_for_413(portico):
    """
    The page is served while the body is still unsent; the connection
    closes after it (the body is dropped by lingering close).
    """
    check_413_page(portico.start(one_server("""
        client_max_body_size 10;
        error_page 413 /too-big;
        location / {
            return 200 "ok\\n";
        }
        location = /too-big {
            internal;
            return 200 "too big: $request_method $uri\\n";
        }
""")))


def test_error_page_for_413_unlimited_page(portico):
    """The same, with the page's location free of the limit."""
    check_413_page(portico.start(one_server("""
        client_max_body_size 10;
        error_page 413 /too-big;
        location / {
            return 200 "ok\\n";
        }
        location = /too-big {
            internal;
            client_max_body_size 0;
            return 200 "too big: $request_method $uri\\n";
        }
""")))


def test_error_page_for_413_named(portico):
    server = portico.start(one_server("""
        client_max_body_size 10;
        error_page 413 @big;
        location / {
            return 200 "ok\\n";
        }
        location @big {
            return 200 "big $request_method\\n";
        }
"""))
    c = Client(server.port)
    c.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
           b"0123456789a")
    check_page(c.response(), 413, b"big PUT\n", keepalive=False)
    assert c.wait_closed()[0] == b""


def test_error_page_for_413_redirect(portico):
    server = portico.start(one_server("""
        client_max_body_size 10;
        error_page 413 =303 http://example.com/too-big;
        location / {
            return 200 "ok\\n";
        }
"""))
    c = Client(server.port)
    c.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
    resp = c.response()
    assert resp.status == 303
    assert resp.header("Location") == "http://example.com/too-big"
    assert resp.header("Connection") == "close"


# ---------------------------------------------------------------------------
# error_log in a location

def test_error_log_in_location(portico):
    server = portico.start(one_server("""
        location /own {
            error_log {tmp}/own.log info;
            client_max_body_size 10;
            return 200 "own\\n";
        }
        location / {
            client_max_body_size 10;
            return 200 "main\\n";
        }
"""))
    own = server.tmp / "own.log"
    main = server.error_log_path

    c = Client(server.port)
    c.send(b"POST /own HTTP/1.1\r\nHost: x\r\nContent-Length: 1111\r\n\r\n")
    assert c.response().status == 413
    c.wait_closed()
    server.wait_log(r"client intended to send too large body: 1111 bytes",
                    path=own)

    c = Client(server.port)
    c.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 2222\r\n\r\n")
    assert c.response().status == 413
    c.wait_closed()
    server.wait_log(r"client intended to send too large body: 2222 bytes")

    assert "1111 bytes" not in main.read_text()
    assert "2222 bytes" not in own.read_text()

    # the line has the request's context
    line = [l for l in own.read_text().splitlines() if "1111 bytes" in l][0]
    assert re.search(r"\[error\] \d+#\d+: \*\d+ client intended", line), line
    assert 'request: "POST /own HTTP/1.1"' in line


def test_error_log_in_location_does_not_stick(portico):
    """
    The next request on the connection logs where its own location says,
    not where the previous request's did.
    """
    server = portico.start(one_server("""
        location /own {
            error_log {tmp}/own.log info;
            return 200 "own\\n";
        }
        location / {
            client_max_body_size 10;
            return 200 "main\\n";
        }
"""))
    own = server.tmp / "own.log"
    c = Client(server.port)
    assert c.request(get("/own")).body == b"own\n"
    c.send(b"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3333\r\n\r\n")
    assert c.response().status == 413
    c.wait_closed()
    server.wait_log(r"client intended to send too large body: 3333 bytes")
    assert not own.exists() or "3333" not in own.read_text()


def test_error_log_level_in_location(portico):
    """A location's level filters what goes to its file."""
    server = portico.start(one_server("""
        location /quiet {
            error_log {tmp}/quiet.log crit;
            client_max_body_size 10;
            return 200 "quiet\\n";
        }
        location /loud {
            error_log {tmp}/loud.log error;
            client_max_body_size 10;
            return 200 "loud\\n";
        }
"""))
    for path, length in (("/quiet", 4444), ("/loud", 5555)):
        c = Client(server.port)
        c.send(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
               % (path.encode(), length))
        assert c.response().status == 413
        c.wait_closed()
    server.wait_log(r"5555 bytes", path=server.tmp / "loud.log")
    quiet = server.tmp / "quiet.log"
    assert not quiet.exists() or "4444" not in quiet.read_text()
    assert "4444" not in server.error_log()
