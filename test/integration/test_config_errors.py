"""
Configuration errors: each one makes "portico -t" (and a real start) exit
with status 1 after exactly one "portico: [emerg] MESSAGE in FILE:LINE"
line naming the place to fix.
"""

import socket

import pytest

from conftest import line_of, needs_module, run_portico, write_config


needs_return = needs_module("pt_http_rewrite_module")


def srv(inner):
    """A valid http block around one server holding inner."""
    return ("http {\n"
            "    server {\n"
            "        listen 127.0.0.1:1;\n"
            "%s\n"
            "    }\n"
            "}\n" % inner)


def expect_error(tmp_path, body, message, needle=None, occurrence=1,
                 line=None, where=None, **config):
    """
    Writes the configuration, runs -t, and checks that the only output is
    the [emerg] line for message at FILE:LINE (the line holding needle, or
    line), then the "test failed" line. where: the file the error is in
    (default: the main configuration).
    """
    conf = write_config(tmp_path, body, **config)
    where = where or conf

    if line is None:
        line = line_of(where, needle, occurrence)

    rc, out, err = run_portico(["-t"], conf=conf)

    assert rc == 1, err
    assert out == ""
    assert err == ("portico: [emerg] %s in %s:%d\n"
                   "portico: configuration file %s test failed\n"
                   % (message, where, line, conf))
    return conf


# ---------------------------------------------------------------------------
# directives

@pytest.mark.parametrize("body, needle, message", [
    pytest.param(srv("        location / {\n"
                     "            proxy_pas http://127.0.0.1:2;\n"
                     "        }"),
                 "proxy_pas", 'unknown directive "proxy_pas"',
                 id="unknown"),
    pytest.param("http {\n    listen 80;\n}\n", "listen 80",
                 '"listen" directive is not allowed here',
                 id="listen-in-http"),
    pytest.param("server {\n}\n", "server {",
                 '"server" directive is not allowed here',
                 id="server-in-main"),
    pytest.param("worker_connections 5;\n", "worker_connections 5",
                 '"worker_connections" directive is not allowed here',
                 id="events-directive-in-main"),
    pytest.param(srv("        internal;"), "internal;",
                 '"internal" directive is not allowed here',
                 id="internal-in-server"),
    pytest.param("http {\n    return 200;\n}\n", "return 200",
                 '"return" directive is not allowed here',
                 id="return-in-http", marks=needs_return),
    pytest.param(srv("        return;"), "return;",
                 'invalid number of arguments in "return" directive',
                 id="return-no-args",
                 marks=needs_return),
    pytest.param(srv('        return 200 "a" "b";'), "return 200",
                 'invalid number of arguments in "return" directive',
                 id="return-3-args",
                 marks=needs_return),
    pytest.param("http {\n    server_tokens;\n}\n", "server_tokens",
                 'invalid number of arguments in "server_tokens" directive',
                 id="flag-no-arg"),
    pytest.param("http {\n    keepalive_timeout 1s 2s;\n}\n",
                 "keepalive_timeout",
                 'invalid number of arguments in "keepalive_timeout" '
                 'directive', id="take1-2-args"),
    pytest.param(srv("        listen;"), "listen;",
                 'invalid number of arguments in "listen" directive',
                 id="listen-no-args"),
    pytest.param(srv("        location {\n        }"), "location {",
                 'invalid number of arguments in "location" directive',
                 id="location-no-args"),
    pytest.param(srv("        location / {\n            internal on;\n"
                     "        }"), "internal on",
                 'invalid number of arguments in "internal" directive',
                 id="noargs-with-arg"),
    pytest.param("http {\n    keepalive_timeout abc;\n}\n",
                 "keepalive_timeout",
                 'invalid time "abc" in "keepalive_timeout" directive',
                 id="keepalive_timeout-abc"),
    pytest.param("http {\n    server_tokens maybe;\n}\n", "server_tokens",
                 'invalid value "maybe" in "server_tokens" directive',
                 id="server_tokens-maybe"),
    pytest.param("http {\n    tcp_nodelay yes;\n}\n", "tcp_nodelay",
                 'invalid value "yes" in "tcp_nodelay" directive, '
                 'it must be "on" or "off"', id="flag-yes"),
    pytest.param("http {\n    merge_slashes 1;\n}\n", "merge_slashes",
                 'invalid value "1" in "merge_slashes" directive, '
                 'it must be "on" or "off"', id="flag-1"),
    pytest.param("http {\n    client_header_timeout abc;\n}\n",
                 "client_header_timeout",
                 'invalid time "abc" in "client_header_timeout" directive',
                 id="msec-abc"),
    pytest.param("http {\n    send_timeout 5x;\n}\n", "send_timeout",
                 'invalid time "5x" in "send_timeout" directive',
                 id="msec-bad-unit"),
    pytest.param("http {\n    client_header_buffer_size 1q;\n}\n",
                 "client_header_buffer_size",
                 'invalid size "1q" in "client_header_buffer_size" '
                 'directive', id="size-bad-unit"),
    pytest.param("http {\n    large_client_header_buffers 0 8k;\n}\n",
                 "large_client", 'invalid number "0" in '
                 '"large_client_header_buffers" directive', id="bufs-0"),
    pytest.param("http {\n    large_client_header_buffers 4 0;\n}\n",
                 "large_client", 'invalid size "0" in '
                 '"large_client_header_buffers" directive',
                 id="bufs-size-0"),
    pytest.param("http {\n    keepalive_requests abc;\n}\n",
                 "keepalive_requests",
                 'invalid number "abc" in "keepalive_requests" directive',
                 id="num-abc"),
    pytest.param("error_log {tmp}/other.log loud;\n", "loud",
                 'invalid log level "loud"', id="error_log-level"),
    pytest.param(srv("        return abc;"), "return abc",
                 'invalid return code "abc"', id="return-code-abc",
                 marks=needs_return),
    pytest.param(srv("        return 1000;"), "return 1000",
                 'invalid return code "1000"', id="return-code-1000",
                 marks=needs_return),
    pytest.param(srv("        return 301;"), "return 301",
                 "a redirect needs a URL: return 301 URL",
                 id="redirect-without-url",
                 marks=needs_return),
    pytest.param(srv('        return 200 "${uri";'), "return 200",
                 'the closing bracket in "uri" variable is missing',
                 id="return-variable-bracket",
                 marks=needs_return),
    pytest.param(srv('        return 200 "a $ b";'), "return 200",
                 'invalid variable name in "a $ b"',
                 id="return-variable-name",
                 marks=needs_return),
    pytest.param(srv("        location !! /a {\n        }"), "location !!",
                 'invalid location modifier "!!"', id="location-modifier"),
    pytest.param(srv("        location ~/a {\n        }"), "location ~/a",
                 'a regex location needs a space after "~": '
                 'location ~ PATTERN', id="location-tilde-no-space"),
    pytest.param(srv('        server_name "*bad";'), "server_name",
                 'server name "*bad" is invalid', id="server_name-wildcard"),
    pytest.param(srv("        server_name a/b;"), "server_name",
                 'server name "a/b" has suspicious symbols',
                 id="server_name-slash"),
    # error_page: 300 to 599 but 499 (495, 496, 497 are fine)
    pytest.param(srv("        error_page 495 496 497 /x;\n"
                     "        error_page 499 /x;"), "error_page 499",
                 'invalid value "499"', id="error_page-499"),
    pytest.param(srv("        error_page 404 600 /x;"), "error_page",
                 'value "600" must be between 300 and 599',
                 id="error_page-600"),
    pytest.param(srv("        error_page 299 /x;"), "error_page",
                 'value "299" must be between 300 and 599',
                 id="error_page-299"),
    pytest.param(srv("        error_page 4o4 /x;"), "error_page",
                 'invalid value "4o4"', id="error_page-not-a-number"),
    pytest.param(srv("        error_page 497 =abc https://$host;"),
                 "error_page", 'invalid value "=abc"',
                 id="error_page-bad-overwrite"),
    pytest.param(srv("        error_page =301 /x;"), "error_page",
                 'no status code in "error_page"',
                 id="error_page-no-code"),
])
def test_directive_errors(tmp_path, body, needle, message):
    expect_error(tmp_path, body, message, needle)


@pytest.mark.parametrize("body, needle, occurrence, message", [
    pytest.param("http {\n    keepalive_timeout 5s;\n"
                 "    keepalive_timeout 6s;\n}\n", "keepalive_timeout 6s", 1,
                 '"keepalive_timeout" directive is duplicate',
                 id="keepalive_timeout"),
    pytest.param("http {\n    server_tokens on;\n"
                 "    server_tokens off;\n}\n", "server_tokens off", 1,
                 '"server_tokens" directive is duplicate',
                 id="enum"),
    pytest.param("http {\n    tcp_nodelay on;\n    tcp_nodelay on;\n}\n",
                 "tcp_nodelay", 2, '"tcp_nodelay" directive is duplicate',
                 id="flag"),
    pytest.param(srv("        return 200;\n        return 204;"),
                 "return 204", 1, '"return" directive is duplicate',
                 id="return", marks=needs_return),
    pytest.param(srv("        location / {\n            internal;\n"
                     "            internal;\n        }"), "internal;", 2,
                 '"internal" directive is duplicate', id="internal"),
    pytest.param(srv("") + srv(""), "http", 2,
                 '"http" directive is duplicate', id="http"),
    pytest.param("events {\n}\n", "events {", 1,
                 '"events" directive is duplicate', id="events"),
    pytest.param("pid {tmp}/other.pid;\n", "other.pid", 1,
                 '"pid" directive is duplicate', id="pid"),
])
def test_duplicate_directive(tmp_path, body, needle, occurrence, message):
    """The second occurrence is the one reported."""
    expect_error(tmp_path, body, message, needle, occurrence)


# ---------------------------------------------------------------------------
# the tokenizer

def eof_line(tmp_path, body, **config):
    """The line of the end of the file: one past the last newline."""
    text = write_config(tmp_path, body, **config).read_text()
    return text.count("\n") + 1


def test_missing_closing_brace(tmp_path):
    body = srv("        location / {\n            default_type a/b;\n")
    body = body[:body.rindex("}")]
    expect_error(tmp_path, body, 'unexpected end of file, expecting "}"',
                 line=eof_line(tmp_path, body))


def test_missing_closing_brace_no_final_newline(tmp_path):
    body = "http {\n    server {\n        listen 127.0.0.1:1;"
    conf = expect_error(tmp_path, body,
                        'unexpected end of file, expecting "}"',
                        "listen 127.0.0.1:1")
    assert not conf.read_text().endswith("\n")


def test_extra_closing_brace(tmp_path):
    expect_error(tmp_path, srv("") + "\n} # extra\n" + "# more\n",
                 'unexpected "}"', "} # extra")


def test_stray_open_brace(tmp_path):
    expect_error(tmp_path, "http {\n    {\n    }\n}\n",
                 'unexpected "{"', "    {")


def test_stray_semicolon(tmp_path):
    expect_error(tmp_path, "http {\n    ;\n}\n", 'unexpected ";"', "    ;")


def test_block_directive_without_block(tmp_path):
    expect_error(tmp_path, "http;\n", 'directive "http" has no opening "{"',
                 "http;")


def test_simple_directive_with_block(tmp_path):
    expect_error(tmp_path, "http {\n    server_tokens off {\n    }\n}\n",
                 'directive "server_tokens" is not terminated by ";"',
                 "server_tokens")


def test_missing_semicolon_before_brace(tmp_path):
    body = ("http {\n    server {\n        listen 127.0.0.1:1;\n"
            "        return 200\n\n    } # here\n}\n")
    expect_error(tmp_path, body, 'unexpected "}"', "} # here")


def test_unterminated_quote(tmp_path):
    # the line where the quote starts, not where the file ends
    body = srv('        return 200 "abc;') + "\n# a\n# b\n"
    expect_error(tmp_path, body, "unterminated quoted string",
                 'return 200 "abc')


def test_unterminated_single_quote_in_included_file(tmp_path):
    inc = tmp_path / "inc.conf"
    inc.write_text("server_tokens off;\n\ndefault_type 'text/\nplain;\n")
    expect_error(tmp_path, "http {\n    include inc.conf;\n}\n",
                 "unterminated quoted string", "default_type", where=inc)


def test_text_after_closing_quote(tmp_path):
    expect_error(tmp_path, srv('        return 200 "a"b;'),
                 'unexpected "b" after quoted string', "return 200")


def test_missing_semicolon_at_end_of_file(tmp_path):
    body = srv("") + "pid {tmp}/x.pid"
    conf = expect_error(tmp_path, body,
                        'unexpected end of file, expecting ";" or "}"',
                        "x.pid", pid=False)
    assert conf.read_text().endswith("x.pid")


def test_nul_byte(tmp_path):
    expect_error(tmp_path, "http {\n    default_type a\0b;\n}\n",
                 "unexpected NUL byte", "default_type")


# ---------------------------------------------------------------------------
# include

def test_include_missing_file(tmp_path):
    missing = tmp_path / "missing.conf"
    expect_error(tmp_path, "http {\n    include missing.conf;\n}\n",
                 'open() "%s" failed (2: No such file or directory)'
                 % missing, "include")


def test_include_glob_matching_nothing_is_fine(tmp_path):
    conf = write_config(tmp_path, "http {\n    include {tmp}/*.none;\n"
                        + srv("")[7:])
    rc, out, err = run_portico(["-t", "-q"], conf=conf)
    assert (rc, out, err) == (0, "", "")


def test_include_glob_in_missing_directory_is_fine(tmp_path):
    """As in nginx: a missing directory matches nothing, like no file."""
    conf = write_config(tmp_path, "http {\n    include {tmp}/none/*.conf;\n"
                        + srv("")[7:])
    rc, out, err = run_portico(["-t", "-q"], conf=conf)
    assert (rc, out, err) == (0, "", "")


def test_include_is_relative_to_the_config_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.conf").write_text("server_tokens off;\n")
    conf = write_config(tmp_path, "http {\n    include sub/a.conf;\n"
                        + srv("")[7:])
    rc, out, err = run_portico(["-t", "-q"], conf=conf)
    assert (rc, out, err) == (0, "", "")


def test_error_in_included_file_names_that_file(tmp_path):
    (tmp_path / "a").mkdir()
    inc = tmp_path / "a" / "x.conf"
    inc.write_text("# x\n\nserver_tokens sometimes;\n")
    expect_error(tmp_path, "http {\n    include {tmp}/a/*.conf;\n}\n",
                 'invalid value "sometimes" in "server_tokens" directive',
                 "sometimes", where=inc)


def test_error_after_include_is_in_the_including_file(tmp_path):
    (tmp_path / "ok.conf").write_text("server_tokens off;\n\n\n\n")
    expect_error(tmp_path, "http {\n    include ok.conf;\n    bogus;\n}\n",
                 'unknown directive "bogus"', "bogus")


def test_include_loop(tmp_path):
    me = tmp_path / "self.conf"
    me.write_text("# loops\ninclude self.conf;\n")
    expect_error(tmp_path, "include self.conf;\n",
                 "too deeply nested includes or blocks", "include",
                 where=me)


# ---------------------------------------------------------------------------
# locations and servers

@pytest.mark.parametrize("inner, needle, occurrence, message", [
    pytest.param("        location /a {\n            location /b {\n"
                 "            }\n        }", "location /b", 1,
                 'location "/b" is outside location "/a"', id="outside"),
    pytest.param("        location = /a {\n            location /a/b {\n"
                 "            }\n        }", "location /a/b", 1,
                 'location "/a/b" cannot be inside the exact location "/a"',
                 id="inside-exact"),
    pytest.param("        location @n {\n            location /x {\n"
                 "            }\n        }", "location /x", 1,
                 'location "/x" cannot be inside the named location "@n"',
                 id="inside-named"),
    pytest.param("        location /a {\n            location @n {\n"
                 "            }\n        }", "location @n", 1,
                 'named location "@n" can be on the server level only',
                 id="named-nested"),
    pytest.param("        location /a {\n        }\n"
                 "        location /a {\n        }", "location /a", 2,
                 'duplicate location "/a"', id="duplicate-prefix"),
    pytest.param("        location = /a {\n        }\n"
                 "        location = /a {\n        }", "location = /a", 2,
                 'duplicate location "/a"', id="duplicate-exact"),
    pytest.param("        location ^~ /a {\n        }\n"
                 "        location /a {\n        }", "location /a {", 1,
                 'duplicate location "/a"', id="duplicate-caret"),
    pytest.param("        location @n {\n        }\n"
                 "        location @n {\n        }", "location @n", 2,
                 'duplicate location "@n"', id="duplicate-named"),
    pytest.param('        location ~ "(" {\n        }', "location ~", 1,
                 'missing closing parenthesis in "("', id="regex"),
    pytest.param('        location ~* "[a" {\n        }', "location ~*", 1,
                 'missing terminating ] for character class in "[a"',
                 id="regex-caseless"),
    pytest.param("        server_name ~^(a;", "server_name", 1,
                 'missing closing parenthesis in "^(a"',
                 id="server_name-regex"),
])
def test_location_errors(tmp_path, inner, needle, occurrence, message):
    expect_error(tmp_path, srv(inner), message, needle, occurrence)


def test_missing_events(tmp_path):
    conf = write_config(tmp_path, srv(""), events=None)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1
    assert out == ""
    # nginx's wording; no place in a file to point at
    assert err == ("portico: the configuration file %s syntax is ok\n"
                   'portico: [emerg] no "events" section in configuration\n'
                   "portico: configuration file %s test failed\n"
                   % (conf, conf))


def test_events_directive_error(tmp_path):
    expect_error(tmp_path, "events {\n    worker_connections abc;\n}\n",
                 'invalid number "abc" in "worker_connections" directive',
                 "worker_connections", events=None)


# ---------------------------------------------------------------------------
# listen

@pytest.mark.parametrize("listen, message", [
    ("127.0.0.1:99999", 'invalid port in "127.0.0.1:99999" of the "listen" '
                        'directive'),
    ("127.0.0.1:0", 'invalid port in "127.0.0.1:0" of the "listen" '
                    'directive'),
    ("127.0.0.1:abc", 'invalid port in "127.0.0.1:abc" of the "listen" '
                      'directive'),
    ("[::1", 'invalid IPv6 address in "[::1" of the "listen" directive'),
    ("127.0.0.1:8080 bogus", 'invalid parameter "bogus"'),
    ("127.0.0.1:8080 backlog=0", 'invalid backlog "backlog=0"'),
    ("127.0.0.1:8080 backlog=x", 'invalid backlog "backlog=x"'),
    ("127.0.0.1:8080 ipv6only=on", '"ipv6only" applies only to IPv6 '
                                   'addresses, not to "127.0.0.1:8080"'),
])
def test_listen_errors(tmp_path, listen, message):
    body = "http {\n    server {\n        listen %s;\n    }\n}\n" % listen
    expect_error(tmp_path, body, message, "listen")


def test_duplicate_default_server(tmp_path):
    body = ("http {\n"
            "    server {\n        listen 127.0.0.1:8081 default_server;\n"
            "    }\n"
            "    server {\n        listen 127.0.0.1:8081 default_server;\n"
            "    }\n"
            "}\n")
    expect_error(tmp_path, body,
                 "a duplicate default server for 127.0.0.1:8081",
                 "default_server", occurrence=2)


def test_duplicate_listen_in_one_server(tmp_path):
    body = ("http {\n    server {\n        listen 127.0.0.1:8081;\n"
            "        listen 127.0.0.1:8081;\n    }\n}\n")
    expect_error(tmp_path, body, "a duplicate listen 127.0.0.1:8081",
                 "listen", occurrence=2)


def test_duplicate_listen_options(tmp_path):
    body = ("http {\n"
            "    server {\n        listen 127.0.0.1:8081 backlog=5;\n    }\n"
            "    server {\n        listen 127.0.0.1:8081 backlog=6;\n    }\n"
            "}\n")
    expect_error(tmp_path, body, "duplicate listen options for "
                 "127.0.0.1:8081", "backlog=6")


def test_bind_to_port_in_use(tmp_path):
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]

        conf = write_config(tmp_path, "http {\n    server {\n"
                            "        listen 127.0.0.1:{port};\n    }\n}\n",
                            port=port)
        # a real start, not -t: only that binds
        rc, out, err = run_portico([], conf=conf, timeout=30)
    finally:
        holder.close()

    assert rc == 1
    assert out == ""
    assert err == ("portico: [emerg] bind() to 127.0.0.1:%d failed "
                   "(98: Address already in use)\n" % port)
    assert not (tmp_path / "portico.pid").exists()


def test_start_with_bad_config_fails_like_t(tmp_path):
    conf = write_config(tmp_path, srv("        bogus;"))
    rc, out, err = run_portico([], conf=conf, timeout=30)
    assert rc == 1
    assert out == ""
    assert err == ('portico: [emerg] unknown directive "bogus" in %s:%d\n'
                   % (conf, line_of(conf, "bogus")))
    assert not (tmp_path / "portico.pid").exists()
