"""
What the proxy does to a response on its way to the client, and where a
request goes when proxy_pass has variables:

- proxy_redirect: "default" (the proxy_pass URL becomes the location),
  text, "~" and "~*" rules with positional and named captures, variables
  in both parts, first match wins, Location and Refresh, "off" and
  inheritance; $upstream_http_location keeps what the backend sent.
- proxy_cookie_domain and proxy_cookie_path: the Domain and Path
  attributes of every Set-Cookie (names in any case, never the cookie's
  own name=value), text and regex rules.
- proxy_ignore_headers: checked names, and nothing else changes today.
- proxy_intercept_errors: error_page takes over a backend's status, the
  backend's body never reaches the client, and the backend connection is
  kept only when its whole body came with the head.
- proxy_pass with variables: "upstream" groups, IP addresses, unix
  sockets, the URI part sent as it is, host names that would need a
  resolver (502), malformed results.

And the configuration errors of all of them, with FILE:LINE.

The backends are the threads of test_proxy.py.
"""

import os
import re

import pytest

from conftest import Client, get, line_of, run_portico, wait_for
from test_proxy import (chunked, conf_error, free_dead_port, http, log_lines,
                        one, response, start)
from test_proxy import backends, short_dir  # noqa: F401 (the fixtures)


def header_handler(status=302, body=b"moved", extra=()):
    """A backend that answers with the fields the request asks for:
    every "X-Give-NAME: VALUE" request field becomes "NAME: VALUE"."""

    def handler(backend, req):
        fields = list(extra)
        for name, value in req.headers:
            if name.lower().startswith("x-give-"):
                fields.append((name[len("x-give-"):], value))
        return response(status, body, fields)

    return handler


def give(**fields):
    """Request fields asking the backend for response fields."""
    out = b""
    for name, value in fields.items():
        out += ("X-Give-%s: %s\r\n" % (name.replace("_", "-"),
                                       value)).encode("latin1")
    return out


def give_all(name, values):
    return b"".join(("X-Give-%s: %s\r\n" % (name, v)).encode("latin1")
                    for v in values)


# ---------------------------------------------------------------------------
# proxy_redirect

def test_redirect_default_maps_the_proxy_pass_url_to_the_location(
        portico, backends):
    b = backends(handler=header_handler())
    srv = start(portico,
                "location /one/ { proxy_pass http://%s/two/; }\n"
                "location / { proxy_pass http://%s; }" % (b.addr, b.addr),
                extra="log_format loc '$upstream_http_location';\n"
                      "access_log {tmp}/up.log loc;")
    url = "http://%s" % b.addr
    c = Client(srv.port)
    for path, sent, seen in [
            ("/one/a", url + "/two/some/uri/?x=1", "/one/some/uri/?x=1"),
            ("/one/b", url + "/two/", "/one/"),
            # only a prefix, compared exactly
            ("/one/c", url + "/TWO/x", url + "/TWO/x"),
            ("/one/d", url + "/twox", url + "/twox"),
            ("/one/e", "http://elsewhere/two/x", "http://elsewhere/two/x"),
            ("/one/f", "/two/relative", "/two/relative"),
            # without a URI in proxy_pass: "URL/" becomes "/"
            ("/g", url + "/g/h?i", "/g/h?i"),
            ("/h", url, url)]:
        resp = c.request(get(path, extra=give(Location=sent)))
        assert resp.status == 302, path
        assert resp.header("Location") == seen, path
    c.close()
    # the variable has what the backend sent
    assert log_lines(srv, 8)[0] == url + "/two/some/uri/?x=1"


def test_redirect_applies_to_the_url_of_refresh(portico, backends):
    b = backends(handler=header_handler(status=200))
    srv = start(portico, "location /one/ { proxy_pass http://%s/two/; }"
                % b.addr)
    url = "http://%s/two/" % b.addr
    for sent, seen in [("5; url=%sx" % url, "5; url=/one/x"),
                       ("0;URL=%s" % url, "0;URL=/one/"),
                       ("5; url=http://other/two/", "5; url=http://other/two/"),
                       ("5", "5"),
                       # Refresh is a header field like any other otherwise
                       ("%sx" % url, "%sx" % url)]:
        resp = one(srv.port, get("/one/", extra=give(Refresh=sent)))
        assert resp.status == 200
        assert resp.header("Refresh") == seen, sent


def test_redirect_text_rules_with_variables_first_match_wins(portico,
                                                             backends):
    b = backends(handler=header_handler(status=301))
    srv = start(portico, """
        location / {
            proxy_pass     http://%s;
            proxy_redirect http://backend.test/ http://$host:$server_port/;
            proxy_redirect http://backend.test/ /never/;
            proxy_redirect http://$http_x_old/ /old/;
            proxy_redirect / /rel/;
        }""" % b.addr)
    for sent, seen in [
            ("http://backend.test/a?b", "http://front.test:%d/a?b" % srv.port),
            ("http://legacy.test/x/y", "/old/x/y"),
            ("/p/q", "/rel/p/q"),
            # the default rule is not there when a level has rules
            ("http://%s/z" % b.addr, "http://%s/z" % b.addr)]:
        resp = one(srv.port, get("/", host="front.test",
                                 extra=give(Location=sent)
                                 + b"X-Old: legacy.test\r\n"))
        assert resp.status == 301
        assert resp.header("Location") == seen, sent


def test_redirect_regex_rules_with_captures(portico, backends):
    b = backends(handler=header_handler())
    srv = start(portico, r"""
        location ~ ^/[a-z]+/ {
            proxy_pass     http://%s;
            proxy_redirect ~^(http://[^:/]+):\d+(/.+)$ $1$2;
            proxy_redirect ~*/user/([^/]+)/(.+)$ http://$1.example.com/$2;
            proxy_redirect "~^http://(?<svc>[a-z]+)\.internal/(?<rest>.*)$"
                           https://$svc.example.com/$rest?from=$host;
            proxy_redirect ~/CASE/ /sensitive/;
        }""" % b.addr)
    for sent, seen in [
            ("http://host.test:8080/a/b", "http://host.test/a/b"),
            ("http://x/USER/ann/docs/1", "http://ann.example.com/docs/1"),
            ("https://x/user/bob/2", "http://bob.example.com/2"),
            ("http://api.internal/v1/z",
             "https://api.example.com/v1/z?from=localhost"),
            # "~" is case-sensitive: no rule matches
            ("http://x/case/", "http://x/case/"),
            ("http://x/CASE/", "/sensitive/")]:
        resp = one(srv.port, get("/shop/", extra=give(Location=sent)))
        assert resp.status == 302
        assert resp.header("Location") == seen, sent


def test_redirect_off_and_inheritance(portico, backends):
    b = backends(handler=header_handler())
    srv = start(portico, """
        location /inherit/ { proxy_pass http://%s/i/; }
        location /own/ {
            proxy_pass http://%s/o/;
            proxy_redirect default;
            proxy_redirect http://x/ /own-x/;
        }
        location /off/ {
            proxy_pass http://%s/f/;
            proxy_redirect off;
        }
        """ % (b.addr, b.addr, b.addr),
        server_extra="proxy_redirect http://x/ /server-x/;")
    url = "http://%s" % b.addr
    cases = [("/inherit/", "http://x/1", "/server-x/1"),
             # the server's rules replace the default one
             ("/inherit/", url + "/i/1", url + "/i/1"),
             ("/own/", url + "/o/1", "/own/1"),
             ("/own/", "http://x/2", "/own-x/2"),
             ("/off/", "http://x/3", "http://x/3"),
             ("/off/", url + "/f/3", url + "/f/3")]
    for path, sent, seen in cases:
        resp = one(srv.port, get(path, extra=give(Location=sent)))
        assert resp.header("Location") == seen, (path, sent)


def test_redirect_off_wins_on_its_level_with_a_warning(portico, backends):
    b = backends(handler=header_handler())
    srv = start(portico, """
        location / {
            proxy_pass     http://%s;
            proxy_redirect http://x/ /a/;
            proxy_redirect off;
            proxy_redirect http://y/ /b/;
        }""" % b.addr)
    for sent in ("http://x/1", "http://y/1"):
        resp = one(srv.port, get("/", extra=give(Location=sent)))
        assert resp.header("Location") == sent
    # said at start-up, before the error log is open
    conf = srv.conf
    assert re.search(r'\[warn\] "proxy_redirect off" cancels the '
                     r'"proxy_redirect" directives before it on the same '
                     r'level in %s:%d\n' % (re.escape(str(conf)),
                                            line_of(conf, "redirect off")),
                     srv.stderr())
    assert re.search(r'\[warn\] "proxy_redirect" is ignored after '
                     r'"proxy_redirect off" on the same level in %s:%d\n'
                     % (re.escape(str(conf)), line_of(conf, "http://y/")),
                     srv.stderr())


def test_redirect_leaves_other_fields_and_bodies_alone(portico, backends):
    body = b"http://127.0.0.1/two/ stays in the body"
    b = backends(handler=header_handler(status=201, body=body))
    srv = start(portico, "location /one/ { proxy_pass http://%s/two/; }"
                % b.addr)
    sent = "http://%s/two/x" % b.addr
    resp = one(srv.port, get("/one/", extra=give(Location=sent,
                                                 Content_Location=sent,
                                                 Link="<%s>" % sent)))
    assert resp.status == 201 and resp.body == body
    assert resp.header("Location") == "/one/x"
    assert resp.header("Content-Location") == sent
    assert resp.header("Link") == "<%s>" % sent


# ---------------------------------------------------------------------------
# proxy_cookie_domain, proxy_cookie_path

def cookies(srv, values, path="/", host="localhost"):
    resp = one(srv.port, get(path, host=host,
                             extra=give_all("Set-Cookie", values)))
    assert resp.status == 200, resp
    return resp.header_all("Set-Cookie")


def test_cookie_domain_text_rules(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, """
        location / {
            proxy_pass          http://%s;
            proxy_cookie_domain localhost example.org;
            proxy_cookie_domain .www.$host $host;
            proxy_cookie_domain other.test .first.test;
            proxy_cookie_domain other.test never.test;
        }""" % b.addr)
    sent = [
        "a=1; Domain=localhost; Path=/",
        # the dot stays, case does not matter
        "b=2; path=/x; domain=.LocalHost",
        "c=3; Secure; DOMAIN = localhost ; HttpOnly",
        # a cookie called "domain" is the cookie, not its attribute
        "domain=localhost; Path=/",
        "d=4; Domain=localhost.test",
        "e=5; Domain=sub.localhost",
        "f=6",
        "g=7; Domain=",
        "h=8; Domain=www.front.test",
        "i=9; Domain=other.test; Domain=localhost",
    ]
    assert cookies(srv, sent, host="front.test") == [
        "a=1; Domain=example.org; Path=/",
        "b=2; path=/x; domain=.example.org",
        "c=3; Secure; DOMAIN = example.org ; HttpOnly",
        "domain=localhost; Path=/",
        "d=4; Domain=localhost.test",
        "e=5; Domain=sub.localhost",
        "f=6",
        "g=7; Domain=",
        "h=8; Domain=front.test",
        "i=9; Domain=first.test; Domain=example.org",
    ]


def test_cookie_domain_regex_rules(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, r"""
        location / {
            proxy_pass          http://%s;
            proxy_cookie_domain ~\.(?P<sl>[-0-9a-z]+\.[a-z]+)$ $sl;
            proxy_cookie_domain ~^([a-z]+)\.internal$ $1.example.com;
        }""" % b.addr)
    assert cookies(srv, [
        "a=1; Domain=.shop.example.net",
        "b=2; Domain=API.INTERNAL; Path=/",
        "c=3; Domain=example",
    ]) == [
        "a=1; Domain=example.net",
        "b=2; Domain=API.example.com; Path=/",
        "c=3; Domain=example",
    ]


def test_cookie_path_text_and_regex_rules(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, r"""
        location /app/ {
            proxy_pass        http://%s/;
            proxy_cookie_path /two/ /;
            proxy_cookie_path ~*^/user/([^/]+) /u/$1;
            proxy_cookie_path $uri /some$uri;
            proxy_cookie_path / /app/;
        }""" % b.addr)
    assert cookies(srv, [
        "a=1; Path=/two/some/uri/",
        "b=2; path=/USER/ann/x; Domain=d",
        # a text rule is a prefix, compared exactly
        "c=3; Path=/Two/x",
        "d=4; PATH=/app/page",
        "e=5; Max-Age=60",
        "path=/two/; Path=/two/",
    ], path="/app/page") == [
        "a=1; Path=/some/uri/",
        "b=2; path=/u/ann; Domain=d",
        "c=3; Path=/app/Two/x",
        "d=4; PATH=/some/app/page",
        "e=5; Max-Age=60",
        "path=/two/; Path=/",
    ]


def test_cookie_rules_off_and_inheritance(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, """
        location /inherit { proxy_pass http://%s; }
        location /own {
            proxy_pass http://%s;
            proxy_cookie_domain b.test c.test;
        }
        location /off {
            proxy_pass http://%s;
            proxy_cookie_domain off;
            proxy_cookie_path off;
        }""" % (b.addr, b.addr, b.addr),
        server_extra="proxy_cookie_domain a.test z.test;\n"
                     "proxy_cookie_path /a/ /z/;")
    sent = ["x=1; Domain=a.test; Path=/a/", "y=2; Domain=b.test; Path=/a/"]
    assert cookies(srv, sent, "/inherit") == [
        "x=1; Domain=z.test; Path=/z/", "y=2; Domain=b.test; Path=/z/"]
    assert cookies(srv, sent, "/own") == [
        "x=1; Domain=a.test; Path=/z/", "y=2; Domain=c.test; Path=/z/"]
    assert cookies(srv, sent, "/off") == sent


def test_odd_fields_are_rewritten_safely(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, r"""
        location / {
            proxy_pass          http://%s;
            proxy_redirect      ~^$ /was-empty;
            proxy_redirect      x /y;
            proxy_cookie_domain localhost example.org;
            proxy_cookie_path   ~^(.*)$ /p$1;
        }""" % b.addr)
    long_value = "v" * 3000
    sent = [";", "=", "a", ";Domain=localhost", "a=1;;;Domain=localhost;;",
            "a=1; Domain=localhost=x", "a=1; Domain", "a=1; =localhost",
            "a=1; Path", "a=1; Path=", "a=1; Path= ; Path=/z",
            "a=%s; Domain=localhost; Path=/%s" % (long_value, long_value)]
    assert cookies(srv, sent) == [
        ";", "=", "a", ";Domain=example.org", "a=1;;;Domain=example.org;;",
        "a=1; Domain=localhost=x", "a=1; Domain", "a=1; =localhost",
        "a=1; Path", "a=1; Path=/p", "a=1; Path= /p; Path=/p/z",
        "a=%s; Domain=example.org; Path=/p/%s" % (long_value, long_value)]
    for sent, seen in [("", "/was-empty"), ("x", "/y"), ("xx", "/yx")]:
        resp = one(srv.port, get("/", extra=give(Location=sent)))
        assert resp.status == 200
        assert resp.header("Location") == seen, sent


def test_cookie_rules_leave_other_fields_alone(portico, backends):
    b = backends(handler=header_handler(status=200, body=b"ok"))
    srv = start(portico, """
        location / {
            proxy_pass          http://%s;
            proxy_cookie_domain localhost example.org;
            proxy_cookie_path   / /x/;
        }""" % b.addr)
    resp = one(srv.port, get("/", extra=give(
        X_Cookie="a=1; Domain=localhost; Path=/",
        Location="http://localhost/")))
    assert resp.header("X-Cookie") == "a=1; Domain=localhost; Path=/"
    assert resp.header("Location") == "http://localhost/"


# ---------------------------------------------------------------------------
# configuration errors of the rewriting directives

@pytest.mark.parametrize("text, message, needle", [
    ("server {\n location / {\n proxy_redirect default;\n"
     " proxy_pass http://127.0.0.1:1;\n }\n}",
     r'"proxy_redirect default" must come after "proxy_pass" in the same '
     r'location', "proxy_redirect"),
    ("server {\n proxy_redirect default;\n}",
     r'"proxy_redirect default" must come after "proxy_pass"',
     "proxy_redirect"),
    ("server {\n location / {\n proxy_pass http://$host;\n"
     " proxy_redirect default;\n }\n}",
     r'"proxy_redirect default" cannot be used with a "proxy_pass" with '
     r'variables', "proxy_redirect"),
    ("server {\n proxy_redirect on;\n}",
     r'invalid parameter "on"', "proxy_redirect"),
    ("server {\n proxy_redirect a b c;\n}",
     r'invalid number of arguments in "proxy_redirect"', "proxy_redirect"),
    ("server {\n proxy_redirect \"~^(unclosed\" /;\n}",
     r'missing closing parenthesis', "proxy_redirect"),
    ("server {\n proxy_redirect ~^/(.*) /$nosuch/$1;\n}",
     r'unknown "nosuch" variable', "proxy_redirect"),
    ("server {\n proxy_cookie_domain example.org;\n}",
     r'invalid parameter "example.org"', "proxy_cookie_domain"),
    ("server {\n proxy_cookie_path ~*^/( /;\n}",
     r'missing closing parenthesis', "proxy_cookie_path"),
    ("server {\n proxy_cookie_path / / /;\n}",
     r'invalid number of arguments in "proxy_cookie_path"',
     "proxy_cookie_path"),
    ("server {\n proxy_redirect ~(?<host>x) /;\n}",
     r'the duplicate "host" variable', "proxy_redirect"),
])
def test_rewrite_config_errors(tmp_path, text, message, needle):
    line, conf = conf_error(tmp_path, text)
    assert re.search(message, line), line
    if needle:
        assert line.endswith(" in %s:%d" % (conf, line_of(conf, needle))), \
            line


# ---------------------------------------------------------------------------
# proxy_ignore_headers

IGNORABLE = ("X-Accel-Redirect X-Accel-Expires X-Accel-Limit-Rate "
             "X-Accel-Buffering X-Accel-Charset Expires Cache-Control "
             "Set-Cookie Vary")


def test_ignore_headers_changes_nothing_the_client_gets_today(portico,
                                                               backends):
    fields = [("Set-Cookie", "a=1"), ("Expires", "Thu, 01 Jan 1970 00:00:00 "
                                                 "GMT"),
              ("Cache-Control", "no-store"), ("Vary", "Accept"),
              ("X-Accel-Redirect", "/elsewhere"), ("X-Accel-Expires", "0"),
              ("X-Accel-Limit-Rate", "1"), ("X-Accel-Buffering", "yes"),
              ("X-Accel-Charset", "utf-8"), ("Content-Type", "text/plain")]
    b = backends(handler=lambda backend, req: response(200, b"body", fields))
    srv = start(portico, """
        location /plain { proxy_pass http://%s; }
        location /ignoring {
            proxy_pass           http://%s;
            proxy_ignore_headers %s;
        }
        location /lower {
            proxy_pass           http://%s;
            proxy_ignore_headers x-accel-redirect set-cookie;
            proxy_pass_header    X-Accel-Redirect;
        }""" % (b.addr, b.addr, IGNORABLE, b.addr))
    plain = one(srv.port, get("/plain"))
    ignoring = one(srv.port, get("/ignoring"))
    assert plain.status == ignoring.status == 200
    assert plain.body == ignoring.body == b"body"
    drop_date = [(n, v) for n, v in plain.headers if n != "Date"]
    assert drop_date == [(n, v) for n, v in ignoring.headers if n != "Date"]
    # the X-Accel-* fields are hidden either way, the others passed on
    assert plain.header("X-Accel-Redirect") is None
    assert plain.header("Set-Cookie") == "a=1"
    assert plain.header("Vary") == "Accept"
    # and nothing acts on X-Accel-Redirect: the backend's body comes
    lower = one(srv.port, get("/lower"))
    assert lower.body == b"body"
    assert lower.header("X-Accel-Redirect") == "/elsewhere"


@pytest.mark.parametrize("text, message, needle", [
    ("server {\n proxy_ignore_headers Expires X-Accel-Foo;\n}",
     r'invalid value "X-Accel-Foo" in "proxy_ignore_headers" directive',
     "proxy_ignore_headers"),
    ("server {\n proxy_ignore_headers Set-Cookie;\n"
     " proxy_ignore_headers Vary;\n}",
     r'"proxy_ignore_headers" directive is duplicate', "Vary"),
    ("server {\n proxy_ignore_headers;\n}",
     r'invalid number of arguments in "proxy_ignore_headers"',
     "proxy_ignore_headers"),
    ("server {\n proxy_intercept_errors yes;\n}",
     r'invalid value "yes" in "proxy_intercept_errors"',
     "proxy_intercept_errors"),
])
def test_ignore_headers_and_intercept_errors_config_errors(tmp_path, text,
                                                           message, needle):
    line, conf = conf_error(tmp_path, text)
    assert re.search(message, line), line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, needle))), line


# ---------------------------------------------------------------------------
# proxy_intercept_errors

def status_handler(backend, req):
    """.../STATUS...: that status with a body of the backend's own."""
    status = int(re.search(rb"/(\d{3})", req.target).group(1))
    body = b"backend body of %d" % status
    fields = [("X-Backend", "yes")]
    if status == 401:
        fields.append(("WWW-Authenticate", 'Basic realm="r"'))
        fields.append(("WWW-Authenticate", "Bearer"))
    if status in (204, 304):
        body = b""
    return response(status, body, fields)


PAGES = """
        location = /page {
            internal;
            return 200 "page for $status $uri\\n";
        }
        location @named {
            return 200 "named page\\n";
        }
"""


def test_intercepted_status_gets_the_error_page(portico, backends):
    b = backends(handler=status_handler)
    srv = start(portico, PAGES + """
        location / {
            proxy_pass             http://%s;
            proxy_intercept_errors on;
            error_page 404 500 302 401 /page;
            error_page 418 =299 @named;
        }
        location /off/ {
            proxy_pass http://%s;
            error_page 404 /page;
        }""" % (b.addr, b.addr))
    for path, status, body, keepalive in [
            ("/404/x", 404, b"page for 404 /page\n", True),
            # as for Portico's own 500, the connection ends after it
            ("/500", 500, b"page for 500 /page\n", False),
            ("/302", 302, b"page for 302 /page\n", True),
            ("/418", 299, b"named page\n", True)]:
        resp = one(srv.port, get(path))
        assert resp.status == status, path
        assert resp.body == body, path
        assert resp.header("X-Backend") is None, path
        assert resp.header("Connection") == ("keep-alive" if keepalive
                                             else "close"), path
    # a status without an error_page, and those under 300, pass
    c = Client(srv.port)
    for path, status in [("/503", 503), ("/200", 200), ("/204", 204),
                         ("/403", 403)]:
        resp = c.request(get(path))
        assert resp.status == status, path
        assert resp.header("X-Backend") == "yes", path
        if status != 204:
            assert resp.body == b"backend body of %d" % status
    # off (the default): the backend's own 404
    resp = c.request(get("/off/404"))
    assert resp.status == 404 and resp.body == b"backend body of 404"
    c.close()


def test_intercepted_401_keeps_its_challenge(portico, backends):
    b = backends(handler=status_handler)
    srv = start(portico, PAGES + """
        location / {
            proxy_pass             http://%s;
            proxy_intercept_errors on;
            error_page 401 /page;
        }""" % b.addr)
    resp = one(srv.port, get("/401"))
    assert resp.status == 401 and resp.body == b"page for 401 /page\n"
    assert resp.header_all("WWW-Authenticate") == ['Basic realm="r"',
                                                   "Bearer"]
    assert resp.header("X-Backend") is None


def test_intercepted_head_request(portico, backends):
    b = backends(handler=status_handler)
    srv = start(portico, PAGES + """
        location / {
            proxy_pass             http://%s;
            proxy_intercept_errors on;
            error_page 404 /page;
        }""" % b.addr)
    c = Client(srv.port)
    resp = c.request(get("/404", method=b"HEAD"), head=True)
    assert resp.status == 404 and resp.header("X-Backend") is None
    assert b.last().method == b"HEAD"
    # the connection goes on
    assert c.request(get("/200")).status == 200
    c.close()


def test_error_page_that_proxies_again_ends_in_the_builtin_page(portico,
                                                                 backends):
    b = backends(handler=status_handler)
    srv = start(portico, """
        location / {
            proxy_pass             http://%s;
            proxy_intercept_errors on;
            error_page 404 /404/again;
        }""" % b.addr)
    resp = one(srv.port, get("/404/first"))
    assert resp.status == 404
    assert b"<center>portico" in resp.body and b"backend" not in resp.body
    assert [r.target for r in b.requests] == [b"/404/first", b"/404/again"]


@pytest.mark.parametrize("kind, reused", [
    ("empty", True),            # Content-Length: 0
    ("small", True),            # the whole body came with the head
    ("chunked", True),          # all its chunks came with the head
    ("big", False),             # 1 MiB: the rest is never read
    ("unframed", False),        # ends with the connection
    ("head", True),             # a HEAD: no body comes
])
def test_intercepted_response_keeps_the_connection_only_when_done(
        portico, backends, kind, reused):
    def handler(backend, req):
        if req.target.startswith(b"/ok"):
            return response(200, b"fine")
        body = {"empty": b"", "small": b"gone", "chunked": b"x" * 3000,
                "big": b"y" * (1 << 20), "head": b"z" * 50,
                "unframed": b"u" * 10}[kind]
        if kind == "chunked":
            return (b"HTTP/1.1 404 Not Found\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body))
        if kind == "unframed":
            req.close = True
            return response(404, body, length=False)
        if kind == "head":
            return response(404, b"", [("Content-Length", "50")],
                            length=False)
        return response(404, body)

    b = backends(handler=handler)
    srv = start(portico, PAGES + """
        location / {
            proxy_pass             http://ka;
            proxy_intercept_errors on;
            error_page 404 /page;
        }""", extra="upstream ka { server %s; keepalive 4; }" % b.addr)
    c = Client(srv.port)
    method = b"HEAD" if kind == "head" else b"GET"
    resp = c.request(get("/missing", method=method), head=(kind == "head"))
    assert resp.status == 404
    if kind != "head":
        assert resp.body == b"page for 404 /page\n"
    assert c.request(get("/ok")).body == b"fine"
    c.close()
    b.wait_requests(2)
    conns = [r.conn for r in b.requests]
    if reused:
        assert conns[0] == conns[1], conns
    else:
        assert conns[0] != conns[1], conns
        # the intercepted one was closed by Portico, not left open
        wait_for(lambda: conns[0] in b.closed, what="the first connection "
                 "closed")


# ---------------------------------------------------------------------------
# proxy_pass with variables

VARS_LOG = ("log_format v '$status|$upstream_addr|$proxy_host|$proxy_port';\n"
            "access_log {tmp}/up.log v;")


def test_variables_name_an_upstream_group(portico, backends):
    b1, b2 = backends(name="one"), backends(name="two")
    srv = start(portico,
                "location / { proxy_pass http://$arg_g; }\n"
                "location /x/ { proxy_pass http://$http_x_group/fixed?q=1; }",
                extra="upstream one { server %s; keepalive 2; }\n"
                      "upstream two { server %s; }\n" % (b1.addr, b2.addr)
                      + VARS_LOG)
    c = Client(srv.port)
    for i in range(3):
        resp = c.request(get("/a/b?g=one&i=%d" % i))
        assert resp.status == 200
        assert resp.body == b"one GET /a/b?g=one&i=%d" % i
    assert b1.last().header("Host") == "one"
    # the group's keepalive is used
    assert len({r.conn for r in b1.requests}) == 1
    # a URI part goes as it is: the location and the arguments are not
    # the client's
    resp = c.request(get("/x/y/z?a=b", extra=b"X-Group: two\r\n"))
    assert resp.body == b"two GET /fixed?q=1"
    assert b2.last().header("Host") == "two"
    c.close()
    lines = log_lines(srv, 4)
    assert lines[0] == "200|%s|one|80" % b1.addr
    assert lines[3] == "200|%s|two|80" % b2.addr


def test_variables_reach_an_address(portico, backends):
    b = backends()
    srv = start(portico, """
        location /port/ { proxy_pass http://127.0.0.1:$arg_p$request_uri; }
        location /addr/ { proxy_pass http://$arg_a; }
        location /uri/ { proxy_pass http://$arg_a/v2$uri; }
        location /args/ { proxy_pass http://$arg_a?only=args; }
        """, extra=VARS_LOG)
    for path, target in [
            ("/port/x?p=%d" % b.port, "/port/x?p=%d" % b.port),
            # no URI part: the request's URI as the client sent it
            ("/addr/%%7e/./?a=%s" % b.addr, "/addr/%%7e/./?a=%s" % b.addr),
            ("/uri/a%%20b?a=%s" % b.addr, "/v2/uri/a%20b"),
            ("/args/?a=%s" % b.addr, "/?only=args")]:
        resp = one(srv.port, get(path))
        assert resp.status == 200, path
        assert b.last().target == target.encode(), path
    assert b.last().header("Host") == b.addr
    lines = log_lines(srv, 4)
    assert lines[0] == "200|%s|127.0.0.1:%d|%d" % (b.addr, b.port, b.port)


def test_variables_in_a_regex_location_with_captures(portico, backends):
    b = backends()
    srv = start(portico, r"""
        location ~ ^/svc/(\d+)(/.*)$ { proxy_pass http://127.0.0.1:$1$2; }
        """)
    resp = one(srv.port, get("/svc/%d/deep/path?x=1" % b.port))
    assert resp.status == 200
    assert b.last().target == b"/deep/path"


def test_variables_reach_ipv6_and_unix_addresses(portico, backends,
                                                  short_dir):
    path = os.path.join(short_dir, "v.sock")
    u = backends(unix=path, name="unix")
    srv = start(portico,
                "location / { proxy_pass http://unix:$arg_s:/sock$uri; }\n"
                "location /v6 { proxy_pass http://[$arg_h]:$arg_p; }")
    resp = one(srv.port, get("/x?s=%s" % path))
    assert resp.status == 200 and resp.body == b"unix GET /sock/x"
    assert u.last().header("Host") == "localhost"
    try:
        six = backends(v6=True, name="six")
    except OSError:
        return
    resp = one(srv.port, get("/v6?h=::1&p=%d" % six.port))
    assert resp.status == 200 and resp.body == b"six GET /v6?h=::1&p=%d" \
        % six.port
    assert six.last().header("Host") == "[::1]:%d" % six.port


def test_variables_with_a_host_name_need_a_resolver(portico, backends):
    b = backends()
    srv = start(portico, "location / { proxy_pass http://$arg_h; }",
                extra="upstream known { server %s; }\n" % b.addr + VARS_LOG)
    for h in ("localhost", "known:80", "unknown.test:%d" % b.port):
        resp = one(srv.port, get("/?h=" + h))
        assert resp.status == 502, h
        assert b"<center>portico" in resp.body
        host = h.split(":")[0]
        srv.wait_log(r'\[error\] .*no resolver defined to resolve "%s": '
                     r'a "proxy_pass" with variables reaches other host '
                     r'names through the "resolver" only' % host)
    assert b.requests == []
    # no upstream was tried
    assert log_lines(srv, 3)[0] == "502|-|localhost|80"


def test_variables_making_a_bad_url(portico, backends):
    b = backends()
    srv = start(portico, """
        location /h { proxy_pass http://$arg_h/; }
        location /s { proxy_pass $arg_s://%s; }
        location /u { proxy_pass http://%s$uri; }
        """ % (b.addr, b.addr))
    for path, status, log in [
            ("/h?h=", 500, r'no host in URL "http:///"'),
            ("/h?h=127.0.0.1:99999", 500, r'invalid port in URL'),
            ("/h?h=a%20b", 502, r'invalid host in URL "http://a%20b/"'),
            ("/h?h=user@127.0.0.1", 502, r'invalid host in URL'),
            ("/h?h=[::zz]", 502, r'invalid host in URL'),
            ("/h?h=[fe80::1::2]", 502, r'invalid IPv6 address in URL'),
            ("/s?s=ftp", 500, r'invalid URL prefix in "ftp://'),
            ("/s?s=", 500, r'invalid URL prefix in "://')]:
        resp = one(srv.port, get(path))
        assert resp.status == status, path
        srv.wait_log(r"\[error\] .*%s" % log)
    assert b.requests == []
    assert one(srv.port, get("/s?s=HTTP")).status == 200
    # a decoded URI with a line break cannot split the request line
    resp = one(srv.port, get("/u/a%20b%0d%0aX-Injected:%201"))
    assert resp.status == 200
    assert b.last().target == b"/u/a%20b%0D%0AX-Injected:%201"
    assert b.last().header("X-Injected") is None


def test_variables_retry_within_a_group(portico, backends):
    b = backends()
    dead = free_dead_port()
    srv = start(portico, "location / { proxy_pass http://$arg_g; }",
                extra="upstream two { server 127.0.0.1:%d; server %s; }"
                      % (dead, b.addr))
    assert one(srv.port, get("/?g=two")).status == 200
    srv.wait_log(r"connect\(\) failed .*127\.0\.0\.1:%d" % dead)
    # an address alone is a group of one: refused is a 502
    resp = one(srv.port, get("/?g=127.0.0.1:%d" % dead))
    assert resp.status == 502


def test_variables_and_redirects(portico, backends):
    b = backends(handler=header_handler())
    srv = start(portico, """
        location / {
            proxy_pass     http://$arg_g;
            proxy_redirect http://$proxy_host/ /;
        }""", extra="upstream app { server %s; }" % b.addr)
    resp = one(srv.port, get("/?g=app", extra=give(
        Location="http://app/next")))
    assert resp.header("Location") == "/next"
    # no default rule for a proxy_pass with variables
    srv2 = start(portico, "location / { proxy_pass http://$arg_g; }",
                 extra="upstream app { server %s; }" % b.addr)
    resp = one(srv2.port, get("/?g=app", extra=give(
        Location="http://app/next")))
    assert resp.header("Location") == "http://app/next"


@pytest.mark.parametrize("text, message, needle", [
    ("server {\n location / {\n proxy_pass ftp://$host;\n }\n}",
     r'invalid URL prefix in "ftp://\$host"', "proxy_pass"),
    ("server {\n location / {\n proxy_pass $host;\n"
     " proxy_pass http://$host;\n }\n}",
     r'"proxy_pass" directive is duplicate', "http://$host"),
    ("server {\n location / {\n proxy_pass http://$/x;\n }\n}",
     r'invalid variable name in "http://\$/x"', "proxy_pass"),
])
def test_variables_config_errors(tmp_path, text, message, needle):
    line, conf = conf_error(tmp_path, text)
    assert re.search(message, line), line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, needle))), line


def test_variables_unknown_variable(tmp_path):
    line, conf = conf_error(tmp_path, "server { location / { "
                            "proxy_pass http://$no_such_thing; } }")
    assert 'unknown "no_such_thing" variable' in line, line
    assert line.endswith(" in %s:%d" % (conf, line_of(conf, "proxy_pass"))), \
        line


def test_variables_configuration_passes_the_test(tmp_path):
    rc, out, err = run_portico(["-t"], http(
        "upstream u { server 127.0.0.1:1; }\n"
        "server { location / { proxy_pass $scheme://$host$request_uri; }\n"
        "location /a { proxy_pass http://u$uri; }\n"
        "location ~ /b { proxy_pass http://127.0.0.1:$server_port; } }"),
        tmp=tmp_path)
    assert rc == 0, err
