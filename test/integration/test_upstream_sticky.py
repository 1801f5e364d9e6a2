"""
Sticky sessions: "sticky cookie NAME ..." in an upstream block, against
real backends (the threads of test_proxy.py).

A client that has the cookie keeps its backend, whatever balancing method
the group uses; a client without it gets a Set-Cookie (checked byte for
byte) naming the backend that answered; when that backend fails, the
client moves to another one without seeing an error and gets a cookie for
it; a cookie naming nothing, or not a cookie of ours at all, is ignored;
two workers, and the workers after a reload that reorders the servers,
honour the same cookie; and the configuration errors.
"""

import hashlib
import re
import signal
import time
from email.utils import parsedate_to_datetime

import pytest

from conftest import (Client, get, line_of, needs_module, run_portico,
                      wait_for, write_config)
from test_proxy import one, response, start
from test_proxy import backends  # noqa: F401 (the fixture)


pytestmark = needs_module("pt_http_upstream_sticky_module")

WORKERS = "master_process on; worker_processes 2;"


def cookie_of(b):
    """The cookie value that names backend b: MD5 of its address text."""
    return hashlib.md5(b.addr.encode()).hexdigest()


def upstream(bs, lines, name="app"):
    servers = "".join("        server %s%s;\n" % (b.addr, extra)
                      for b, extra in bs)
    return "    upstream %s {\n%s%s\n    }\n" % (name, servers, lines)


def sticky_server(portico, bs, lines, location_extra="", **kwargs):
    """portico with upstream app of bs ((backend, params) pairs)."""
    return start(portico,
                 "location / { proxy_pass http://app; %s }" % location_extra,
                 extra=upstream(bs, lines), **kwargs)


def request(port, path="/", cookie=None, client=None):
    extra = b""
    if cookie is not None:
        extra = b"Cookie: " + cookie.encode("latin1") + b"\r\n"
    if client is not None:
        return client.request(get(path, extra=extra))
    return one(port, get(path, extra=extra))


def set_cookie_line(resp):
    """The Set-Cookie header lines of resp's head, raw."""
    return re.findall(rb"\r\nSet-Cookie: ([^\r\n]*)", resp.head)


# ---------------------------------------------------------------------------
# keeping the backend

BALANCERS = [
    pytest.param("", "", id="round-robin"),
    pytest.param("least_conn;", "", id="least_conn-before"),
    pytest.param("", "least_conn;", id="least_conn-after"),
    pytest.param("", "hash $request_uri;", id="hash"),
    pytest.param("random two;", "", id="random-two"),
    pytest.param("keepalive 4;", "", id="keepalive"),
]


@pytest.mark.parametrize("before, after", BALANCERS)
def test_a_client_keeps_its_backend_for_100_requests(portico, backends,
                                                     before, after):
    bs = [backends(name=n) for n in ("a", "b", "c")]
    srv = sticky_server(portico, [(b, "") for b in bs],
                        "%s\n        sticky cookie srv_id;\n        %s"
                        % (before, after))

    first = request(srv.port, "/first")
    assert first.status == 200
    name = first.header("X-Backend")
    mine = {b.name: b for b in bs}[name]
    assert set_cookie_line(first) == [
        b"srv_id=" + cookie_of(mine).encode() + b"; path=/"]

    # a keep-alive client and new connections alike, various URIs (which
    # the hash method would spread)
    c = Client(srv.port)
    try:
        for i in range(100):
            cookie = "srv_id=%s" % cookie_of(mine)
            if i % 2:
                resp = request(srv.port, "/r%d" % i, cookie)
            else:
                resp = request(srv.port, "/r%d" % i, cookie, client=c)
            assert resp.status == 200
            assert resp.header("X-Backend") == name, (i, resp)
            assert resp.header("Set-Cookie") is None, (i, resp)
    finally:
        c.close()

    assert len(mine.requests) == 101
    assert sum(len(b.requests) for b in bs) == 101
    if before.startswith("keepalive"):
        # the kept connections of the named server are reused
        assert mine.conns < 10, mine.conns


def test_without_the_cookie_the_method_spreads_and_each_gets_its_cookie(
        portico, backends):
    bs = [backends(name=n) for n in ("a", "b", "c")]
    srv = sticky_server(portico, [(b, "") for b in bs],
                        "sticky cookie srv_id;")

    seen = {}
    for i in range(3):
        resp = request(srv.port, "/n%d" % i)
        assert resp.status == 200
        b = {x.name: x for x in bs}[resp.header("X-Backend")]
        seen[b.name] = set_cookie_line(resp)
        assert seen[b.name] == [b"srv_id=%s; path=/" % cookie_of(b).encode()]

    # round robin went to all three
    assert sorted(seen) == ["a", "b", "c"]

    # and each cookie leads back to its own backend
    for b in bs:
        for i in range(3):
            resp = request(srv.port, "/k", "srv_id=" + cookie_of(b))
            assert resp.header("X-Backend") == b.name


def test_the_cookie_among_other_cookies(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie srv_id;")

    for cookie in ("x=1; srv_id=%s; y=2", "srv_id =%s", "srv_id=\"%s\"",
                   "other=srv_id; srv_id=%s"):
        for i in range(4):
            resp = request(srv.port, "/", cookie % cookie_of(b))
            assert resp.header("X-Backend") == "b", (cookie, resp)
            assert resp.header("Set-Cookie") is None

    # two Cookie lines
    for i in range(4):
        resp = one(srv.port, get("/", extra=b"Cookie: x=1\r\nCookie: srv_id="
                                 + cookie_of(b).encode() + b"\r\n"))
        assert resp.header("X-Backend") == "b"
        assert resp.header("Set-Cookie") is None


# ---------------------------------------------------------------------------
# the Set-Cookie header

def test_set_cookie_byte_exact_with_every_attribute(portico, backends):
    a = backends(name="a")
    srv = sticky_server(portico, [(a, "")],
                        "sticky cookie srv_id expires=1h domain=.example.com "
                        "path=/app httponly secure samesite=lax;")

    t0 = time.time()
    resp = request(srv.port, "/")
    t1 = time.time()

    lines = set_cookie_line(resp)
    assert len(lines) == 1
    m = re.match(rb"^srv_id=" + cookie_of(a).encode()
                 + rb"; expires=([^;]*); max-age=3600; domain=\.example\.com"
                 rb"; path=/app; HttpOnly; Secure; SameSite=Lax$", lines[0])
    assert m, lines
    date = m.group(1).decode()
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} "
                    r"\d{4} \d{2}:\d{2}:\d{2} GMT$", date), date
    t = parsedate_to_datetime(date).timestamp()
    assert int(t0) + 3600 - 1 <= t <= t1 + 3600 + 1


@pytest.mark.parametrize("params, tail", [
    pytest.param("", b"; path=/", id="defaults"),
    pytest.param("expires=max",
                 b"; expires=Thu, 31 Dec 2037 23:55:55 GMT; max-age=315360000"
                 b"; path=/", id="expires-max"),
    pytest.param("path=/shop/ samesite=strict",
                 b"; path=/shop/; SameSite=Strict", id="path-samesite"),
    pytest.param("secure samesite=none httponly domain=example.com",
                 b"; domain=example.com; path=/; HttpOnly; Secure"
                 b"; SameSite=None", id="order-fixed"),
])
def test_set_cookie_attributes(portico, backends, params, tail):
    a = backends(name="a")
    srv = sticky_server(portico, [(a, "")],
                        "sticky cookie SRV %s;" % params)

    resp = request(srv.port, "/")
    assert resp.status == 200
    assert (b"\r\nSet-Cookie: SRV=" + cookie_of(a).encode() + tail + b"\r\n"
            in resp.head), resp.head


def test_backend_cookies_pass_along_ours(portico, backends):
    def handler(backend, req):
        return response(200, b"x", [("X-Backend", backend.name),
                                    ("Set-Cookie", "session=abc; path=/")])

    a = backends(handler, name="a")
    srv = sticky_server(portico, [(a, "")], "sticky cookie srv_id;")

    resp = request(srv.port, "/")
    assert set_cookie_line(resp) == [
        b"session=abc; path=/",
        b"srv_id=" + cookie_of(a).encode() + b"; path=/"]

    # with our cookie: only the backend's
    resp = request(srv.port, "/", "srv_id=" + cookie_of(a))
    assert set_cookie_line(resp) == [b"session=abc; path=/"]


def test_head_request_and_304_get_the_cookie(portico, backends):
    def handler(backend, req):
        if req.header("If-None-Match"):
            return response(304, b"", [("ETag", '"e"')], length=False)
        return response(200, b"body", [("ETag", '"e"')])

    a = backends(handler, name="a")
    srv = sticky_server(portico, [(a, "")], "sticky cookie srv_id;")
    expect = [b"srv_id=" + cookie_of(a).encode() + b"; path=/"]

    c = Client(srv.port)
    try:
        resp = c.request(get("/", method=b"HEAD"), head=True)
        assert resp.status == 200 and resp.body == b""
        assert set_cookie_line(resp) == expect

        resp = c.request(get("/", extra=b'If-None-Match: "e"\r\n'))
        assert resp.status == 304
        assert set_cookie_line(resp) == expect
    finally:
        c.close()


# ---------------------------------------------------------------------------
# failures

def test_backend_down_moves_the_client_with_a_new_cookie(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie srv_id;")

    for i in range(5):
        resp = request(srv.port, "/", "srv_id=" + cookie_of(a))
        assert resp.header("X-Backend") == "a"
        assert resp.header("Set-Cookie") is None

    a.stop()        # refused from now on

    # the first request tries a, fails, and goes on to b: the client sees
    # b's answer and a cookie for b
    resp = request(srv.port, "/moved", "srv_id=" + cookie_of(a))
    assert resp.status == 200
    assert resp.header("X-Backend") == "b"
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(b).encode() + b"; path=/"]
    srv.wait_log(r"connect\(\) failed \(111: Connection refused\)")

    # a rests (max_fails=1): an old cookie goes to b at once
    resp = request(srv.port, "/old", "srv_id=" + cookie_of(a))
    assert resp.header("X-Backend") == "b"
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(b).encode() + b"; path=/"]

    # the new cookie sticks, without another Set-Cookie
    for i in range(20):
        resp = request(srv.port, "/new", "srv_id=" + cookie_of(b))
        assert resp.status == 200
        assert resp.header("X-Backend") == "b"
        assert resp.header("Set-Cookie") is None

    assert srv.error_log().count("Connection refused") == 1


def test_cookie_names_the_server_that_answered_after_retries(portico,
                                                             backends):
    def bad(backend, req):
        return response(502, b"bad gateway of " + backend.name.encode(),
                        [("X-Backend", backend.name)])

    a = backends(bad, name="a")
    b = backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie srv_id;",
                        location_extra="proxy_next_upstream error http_502;")

    resp = request(srv.port, "/", "srv_id=" + cookie_of(a))
    assert resp.status == 200
    assert resp.header("X-Backend") == "b"
    assert len(a.requests) == 1
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(b).encode() + b"; path=/"]


def test_down_server_is_not_honoured(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, " down"), (b, "")],
                        "sticky cookie srv_id;")

    resp = request(srv.port, "/", "srv_id=" + cookie_of(a))
    assert resp.header("X-Backend") == "b"
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(b).encode() + b"; path=/"]
    assert a.requests == []


def test_backup_server_cookie(portico, backends):
    a, c = backends(name="a"), backends(name="c")
    srv = sticky_server(portico, [(a, ""), (c, " backup")],
                        "sticky cookie srv_id;")

    # a cookie naming a backup does not win over a live primary
    resp = request(srv.port, "/", "srv_id=" + cookie_of(c))
    assert resp.header("X-Backend") == "a"
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(a).encode() + b"; path=/"]

    a.stop()

    resp = request(srv.port, "/", "srv_id=" + cookie_of(a))
    assert resp.status == 200
    assert resp.header("X-Backend") == "c"
    assert set_cookie_line(resp) == [
        b"srv_id=" + cookie_of(c).encode() + b"; path=/"]

    # while the primary is out, the backup's cookie is honoured
    resp = request(srv.port, "/", "srv_id=" + cookie_of(c))
    assert resp.header("X-Backend") == "c"
    assert resp.header("Set-Cookie") is None


def test_our_own_502_carries_no_cookie(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie srv_id;")
    a.stop()
    b.stop()

    for cookie in (None, "srv_id=" + cookie_of(a)):
        resp = request(srv.port, "/", cookie)
        assert resp.status == 502
        assert resp.header("Set-Cookie") is None


# ---------------------------------------------------------------------------
# cookies that name nothing

@pytest.mark.parametrize("value", [
    pytest.param(hashlib.md5(b"127.0.0.1:1").hexdigest(), id="unknown"),
    pytest.param("garbage", id="garbage"),
    pytest.param("", id="empty"),
    pytest.param("g" * 32, id="not-hex"),
    pytest.param("0" * 31, id="short"),
    pytest.param("0" * 33, id="long"),
    pytest.param("a" * 4000, id="overlong"),
    pytest.param("%00%0d%0a", id="escapes"),
    pytest.param("\xe9" * 32, id="non-ascii"),
])
def test_a_cookie_that_names_nothing_is_ignored(portico, backends, value):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie srv_id;")

    for i in range(4):
        resp = request(srv.port, "/", "srv_id=" + value)
        assert resp.status == 200
        x = {"a": a, "b": b}[resp.header("X-Backend")]
        assert set_cookie_line(resp) == [
            b"srv_id=" + cookie_of(x).encode() + b"; path=/"]

    # spread by round robin as if there were no cookie
    assert len(a.requests) == 2 and len(b.requests) == 2


def test_cookie_names_are_case_sensitive(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = sticky_server(portico, [(a, ""), (b, "")], "sticky cookie Srv;")

    names = []
    for i in range(4):
        resp = request(srv.port, "/", "srv=" + cookie_of(b))
        names.append(resp.header("X-Backend"))
        assert resp.header("Set-Cookie").startswith("Srv=")
    assert sorted(names) == ["a", "a", "b", "b"]

    resp = request(srv.port, "/", "Srv=" + cookie_of(b).upper())
    assert resp.header("X-Backend") == "b"
    assert resp.header("Set-Cookie") is None


# ---------------------------------------------------------------------------
# workers

def test_two_workers_with_a_zone_honour_the_same_cookie(portico, backends):
    bs = [backends(name=n) for n in ("a", "b", "c")]
    srv = start(portico, "location / { proxy_pass http://app; }",
                extra="    log_format p '$pid';\n"
                + upstream([(b, "") for b in bs],
                           "        zone app 64k;\n"
                           "        sticky cookie srv_id;\n"),
                server_extra="        access_log {tmp}/pids.log p;",
                process=WORKERS)

    target = bs[1]
    n = 60
    for i in range(n):
        # a new connection each: the kernel spreads them over the workers
        resp = request(srv.port, "/w%d" % i, "srv_id=" + cookie_of(target))
        assert resp.status == 200
        assert resp.header("X-Backend") == "b"
        assert resp.header("Set-Cookie") is None

    # a request is logged once its response has gone: the last may lag
    log = srv.tmp / "pids.log"
    wait_for(lambda: len(log.read_text().split()) >= n, 10,
             what="%d lines in the access log" % n)
    lines = log.read_text().split()
    assert len(lines) == n
    assert len(set(lines)) == 2, "one worker served all: %r" % set(lines)

    # without a cookie each worker sets the same value for the same backend
    for i in range(20):
        resp = request(srv.port, "/x")
        x = {b.name: b for b in bs}[resp.header("X-Backend")]
        assert set_cookie_line(resp) == [
            b"srv_id=" + cookie_of(x).encode() + b"; path=/"]


def test_the_cookie_survives_a_reload_that_reorders_the_servers(portico,
                                                                 backends):
    a, b, c, d = (backends(name=n) for n in ("a", "b", "c", "d"))

    def conf(bs, gen):
        return ("http {\n    access_log off;\n"
                + upstream([(x, "") for x in bs],
                           "        zone app 64k;\n"
                           "        sticky cookie srv_id;\n")
                + "    server {\n        listen 127.0.0.1:{port};\n"
                  "        add_header X-Gen %d;\n"
                  "        location / { proxy_pass http://app; }\n"
                  "    }\n}\n" % gen)

    srv = portico.start(conf([a, b, c], 1), process=WORKERS)

    for i in range(4):
        resp = request(srv.port, "/", "srv_id=" + cookie_of(c))
        assert resp.header("X-Backend") == "c"

    srv.rewrite(conf([d, c, b, a], 2))
    srv.send_signal(signal.SIGHUP)
    # every worker new: one new worker answering says nothing of the other
    wait_for(lambda: all(request(srv.port, "/").header("X-Gen") == "2"
                         for _ in range(10)),
             timeout=10, interval=0.1, what="the new configuration")

    for i in range(20):
        resp = request(srv.port, "/", "srv_id=" + cookie_of(c))
        assert resp.header("X-Gen") == "2"
        assert resp.header("X-Backend") == "c"
        assert resp.header("Set-Cookie") is None


# ---------------------------------------------------------------------------
# configuration errors

def ups(inner):
    return ("http {\n"
            "    upstream app {\n"
            "        server 127.0.0.1:1;\n"
            "%s\n"
            "    }\n"
            "    server {\n"
            "        listen 127.0.0.1:1;\n"
            "        location / { proxy_pass http://app; }\n"
            "    }\n"
            "}\n" % inner)


@pytest.mark.parametrize("inner, needle, message", [
    pytest.param("        sticky cookie a;\n        sticky cookie b;",
                 "sticky cookie b", '"sticky" directive is duplicate',
                 id="duplicate"),
    pytest.param("        sticky cookie;", "sticky",
                 'invalid number of arguments in "sticky" directive',
                 id="no-name"),
    pytest.param("        sticky route $cookie_route;", "sticky",
                 'invalid sticky method "route", only "cookie" is supported',
                 id="route"),
    pytest.param('        sticky cookie "a b";', "sticky",
                 'invalid cookie name "a b"', id="name-space"),
    pytest.param('        sticky cookie "a=b";', "sticky",
                 'invalid cookie name "a=b"', id="name-equals"),
    pytest.param("        sticky cookie s expires=soon;", "sticky",
                 'invalid value "expires=soon"', id="expires"),
    pytest.param("        sticky cookie s expires=;", "sticky",
                 'invalid value "expires="', id="expires-empty"),
    pytest.param("        sticky cookie s domain=;", "sticky",
                 'invalid value "domain="', id="domain-empty"),
    pytest.param('        sticky cookie s "domain=a;b";', "sticky",
                 'invalid value "domain=a;b"', id="domain-semicolon"),
    pytest.param("        sticky cookie s path=app;", "sticky",
                 'invalid value "path=app"', id="path-relative"),
    pytest.param('        sticky cookie s "path=/a;b";', "sticky",
                 'invalid value "path=/a;b"', id="path-semicolon"),
    pytest.param("        sticky cookie s samesite=maybe;", "sticky",
                 'invalid value "samesite=maybe"', id="samesite"),
    pytest.param("        sticky cookie s httponly httponly;", "sticky",
                 'duplicate parameter "httponly"', id="duplicate-param"),
    pytest.param("        sticky cookie s path=/ path=/a;", "sticky",
                 'duplicate parameter "path=/a"', id="duplicate-path"),
    pytest.param("        sticky cookie s HttpOnly;", "sticky",
                 'invalid parameter "HttpOnly"', id="unknown-param"),
])
def test_bad_sticky_configuration(tmp_path, inner, needle, message):
    conf = write_config(tmp_path, ups(inner))
    line = line_of(conf, needle)

    rc, out, err = run_portico(["-t"], conf=conf)

    assert rc == 1, err
    assert err == ("portico: [emerg] %s in %s:%d\n"
                   "portico: configuration file %s test failed\n"
                   % (message, conf, line, conf))


@pytest.mark.parametrize("where", ["http", "server", "location"])
def test_sticky_outside_upstream(tmp_path, where):
    body = {
        "http": "http {\n    sticky cookie s;\n}\n",
        "server": "http {\n    server {\n        listen 127.0.0.1:1;\n"
                  "        sticky cookie s;\n    }\n}\n",
        "location": "http {\n    server {\n        listen 127.0.0.1:1;\n"
                    "        location / { sticky cookie s; }\n    }\n}\n",
    }[where]
    conf = write_config(tmp_path, body)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1
    assert err.startswith('portico: [emerg] "sticky" directive is not '
                          'allowed here in %s:%d\n'
                          % (conf, line_of(conf, "sticky")))


def test_samesite_none_without_secure_warns(tmp_path):
    conf = write_config(tmp_path,
                        ups("        sticky cookie s samesite=none;"))
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0, err
    assert ('[warn] browsers drop a cookie with "samesite=none" and without '
            '"secure" in %s:%d' % (conf, line_of(conf, "sticky"))) in err


def test_sticky_before_and_after_the_method_is_not_a_redefinition(tmp_path):
    for inner in ("        sticky cookie s;\n        least_conn;",
                  "        least_conn;\n        sticky cookie s;",
                  "        sticky cookie s;\n        hash $uri consistent;"):
        conf = write_config(tmp_path, ups(inner))
        rc, out, err = run_portico(["-t"], conf=conf)
        assert rc == 0, err
        assert "redefined" not in err
