"""
The access log: the "combined" line byte for byte, log_format with
variables and its three escapings, where access_log applies (levels,
"off", several lines, if=), buffered writes (full buffer, flush timer,
reopen, exit), USR1 reopening, write failures, and the configuration
errors of both directives.

A line is written when its request is freed, which may be a moment after
the client has read the response: every check of a log file waits for
the lines it expects, with a bound.
"""

import base64
import json
import os
import re
import signal
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import (Client, IO_TIMEOUT, exchange, get, group_members,
                      line_of, parse_response, run_portico, wait_for,
                      write_config)


@pytest.fixture(autouse=True)
def log_module(portico_modules):
    if "pt_http_log_module" not in portico_modules:
        pytest.skip("built without the log module")


def http(inner, servers=None):
    """An http block: inner at http level, then servers (default: one on
    {port} answering "hello\\n" at /, 404 at /missing)."""
    if servers is None:
        servers = SERVER
    return "http {\n%s\n%s}\n" % (inner, servers)


SERVER = """    server {
        listen 127.0.0.1:{port};
        location / {
            return 200 "hello\\n";
        }
        location /missing {
            return 404;
        }
    }
"""


def lines_of(path):
    """The complete lines of a log file (bytes, without "\\n")."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    return data.split(b"\n")[:-1]


def wait_lines(path, n, timeout=IO_TIMEOUT):
    """Waits until path holds at least n lines, and returns them."""
    def enough():
        lines = lines_of(path)
        return lines if len(lines) >= n else None

    return wait_for(enough, timeout, what="%d line(s) in %s" % (n, path))


def request(port, path="/", extra=b"", host="localhost"):
    data, closed = exchange(port, get(path, host=host, extra=extra
                                      + b"Connection: close\r\n"))
    return parse_response(data)[0]


def master_pid(server):
    return int((server.tmp / "portico.pid").read_text())


def send_usr1(server):
    """
    USR1 to the master (by the pid file), then waits until every process
    of the server has logged "reopening logs".
    """
    pids = set(group_members(server.pid))
    before = len(server.error_log())

    os.kill(master_pid(server), signal.SIGUSR1)

    def done():
        text = server.error_log()[before:]
        seen = {int(p) for p in
                re.findall(r"\[notice\] (\d+)#\d+: reopening logs", text)}
        return pids <= seen

    wait_for(done, what="every process (%s) to reopen its logs" % pids)


# ---------------------------------------------------------------------------
# the combined format

COMBINED = re.compile(
    rb'^(?P<addr>127\.0\.0\.1) - (?P<user>\S+) '
    rb'\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    rb'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    rb'"(?P<referer>[^"]*)" "(?P<ua>[^"]*)"$')


def check_time(text):
    t = datetime.strptime(text.decode(), "%d/%b/%Y:%H:%M:%S %z")
    assert abs(t.timestamp() - time.time()) < 60, text


def test_combined_line(portico):
    server = portico.start(http("    access_log {tmp}/access.log;"))
    log = server.tmp / "access.log"

    resp = request(server.port, "/page?a=1&b=2",
                   extra=b"Referer: http://example.com/from\r\n"
                         b"User-Agent: Test/1.0 (x; y)\r\n")
    assert (resp.status, resp.body) == (200, b"hello\n")

    line, = wait_lines(log, 1)
    m = COMBINED.match(line)
    assert m, line
    assert m.group("user") == b"-"
    check_time(m.group("time"))
    assert m.group("request") == b"GET /page?a=1&b=2 HTTP/1.1"
    assert m.group("status") == b"200"
    assert m.group("bytes") == b"6"
    assert m.group("referer") == b"http://example.com/from"
    assert m.group("ua") == b"Test/1.0 (x; y)"


def test_combined_error_response_and_absent_headers(portico):
    server = portico.start(http("    access_log {tmp}/access.log combined;"))
    log = server.tmp / "access.log"

    resp = request(server.port, "/missing")
    assert resp.status == 404

    line, = wait_lines(log, 1)
    m = COMBINED.match(line)
    assert m, line
    assert m.group("request") == b"GET /missing HTTP/1.1"
    assert m.group("status") == b"404"
    assert int(m.group("bytes")) == len(resp.body) > 0
    assert (m.group("referer"), m.group("ua")) == (b"-", b"-")


def test_remote_user_from_basic_credentials(portico):
    server = portico.start(http("    log_format u '[$remote_user]';\n"
                                "    access_log {tmp}/access.log u;"))
    log = server.tmp / "access.log"

    def auth(value):
        request(server.port, extra=b"Authorization: " + value + b"\r\n")

    auth(b"Basic " + base64.b64encode(b"alice:secret"))
    auth(b"basic  " + base64.b64encode(b'a"b:x'))      # any case, escaped
    auth(b"Basic " + base64.b64encode(b"no-colon"))
    auth(b"Basic !!!")
    auth(b"Bearer abc")
    request(server.port)

    assert wait_lines(log, 6) == [b"[alice]", b"[a\\x22b]", b"[-]", b"[-]",
                                  b"[-]", b"[-]"]


def test_keepalive_and_pipelined_requests_log_their_own_values(portico):
    """
    $request and $body_bytes_sent of each request on one connection,
    pipelined ones included, not those of the next or of all so far.
    """
    server = portico.start(http("    access_log {tmp}/access.log;"))
    log = server.tmp / "access.log"

    c = Client(server.port)
    c.send(get("/one") + get("/missing", extra=b"User-Agent: B\r\n")
           + get("/three", extra=b"Connection: close\r\n"))
    sizes = [len(c.response().body) for i in range(3)]
    c.close()

    lines = wait_lines(log, 3)
    got = [(m.group("request"), int(m.group("bytes")), m.group("ua"))
           for m in map(COMBINED.match, lines)]
    assert got == [(b"GET /one HTTP/1.1", sizes[0], b"-"),
                   (b"GET /missing HTTP/1.1", sizes[1], b"B"),
                   (b"GET /three HTTP/1.1", sizes[2], b"-")]


def test_default_log_is_logs_access_log_in_the_prefix(portico):
    """No access_log anywhere: logs/access.log, combined (as nginx)."""
    server = portico.start(http(""))

    request(server.port, "/default")

    line, = wait_lines(server.tmp / "logs" / "access.log", 1)
    m = COMBINED.match(line)
    assert m and m.group("request") == b"GET /default HTTP/1.1", line


def test_default_log_that_cannot_be_opened_is_emerg(tmp_path):
    conf = write_config(tmp_path, http("", SERVER.replace("{port}", "1")))
    os.rmdir(tmp_path / "logs")

    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1
    assert ('portico: [emerg] open() "%s/logs/access.log" failed '
            '(2: No such file or directory)\n' % tmp_path) in err


# ---------------------------------------------------------------------------
# log_format

def test_custom_format_variables(portico):
    server = portico.start(http(
        "    log_format t '$request_time|$status|$request_length|'\n"
        "                 '$http_x_test|$arg_q|$request_id|'\n"
        "                 'A${status}B' ' $request_method';\n"
        "    access_log {tmp}/custom.log t;"))
    log = server.tmp / "custom.log"

    req = (b"GET /x?q=find+me&z=1 HTTP/1.1\r\nHost: localhost\r\n"
           b"X-Test: some value\r\nConnection: close\r\n\r\n")
    data, closed = exchange(server.port, req)
    assert parse_response(data)[0].status == 200

    request(server.port, "/missing")

    first, second = wait_lines(log, 2)

    f = first.split(b"|")
    assert re.match(rb"^\d+\.\d{3}$", f[0]), first
    assert float(f[0]) < 5
    assert f[1] == b"200"
    assert f[2] == str(len(req)).encode()
    assert f[3] == b"some value"
    assert f[4] == b"find+me"
    assert re.match(rb"^[0-9a-f]{32}$", f[5]), first
    assert f[6] == b"A200B GET"

    s = second.split(b"|")
    assert s[1] == b"404"
    assert (s[3], s[4]) == (b"-", b"-")     # absent header and argument
    assert re.match(rb"^[0-9a-f]{32}$", s[5]) and s[5] != f[5]


def test_empty_value_logs_as_dash(portico):
    server = portico.start(http("    log_format t '<$arg_q><$arg_r>';\n"
                                "    access_log {tmp}/a.log t;"))
    request(server.port, "/?q=&r=x")
    assert wait_lines(server.tmp / "a.log", 1) == [b"<-><x>"]


# quotes, a backslash, a tab (the one control byte a header value may
# hold) and UTF-8
UA = b'a"b\\c\td\xc3\xa9'


def test_escape_default_json_none(portico):
    server = portico.start(http(
        "    log_format d '\"$http_user_agent\" \"$http_referer\"';\n"
        "    log_format j escape=json\n"
        "                 '{\"ua\":\"$http_user_agent\",'\n"
        "                 '\"ref\":\"$http_referer\"}';\n"
        "    log_format n escape=none '$http_user_agent|$http_referer';\n"
        "    access_log {tmp}/d.log d;\n"
        "    access_log {tmp}/j.log j;\n"
        "    access_log {tmp}/n.log n;"))

    request(server.port, extra=b"User-Agent: " + UA + b"\r\n")

    d, = wait_lines(server.tmp / "d.log", 1)
    assert d == b'"a\\x22b\\x5Cc\\x09d\\xC3\\xA9" "-"'

    j, = wait_lines(server.tmp / "j.log", 1)
    assert j == b'{"ua":"a\\"b\\\\c\\td\xc3\xa9","ref":""}'
    assert json.loads(j) == {"ua": UA.decode(), "ref": ""}

    n, = wait_lines(server.tmp / "n.log", 1)
    assert n == UA + b"|-"


def test_raw_control_byte_never_reaches_the_log(portico):
    """
    A 0x01 byte in a header value or in the request line is refused with
    400; the 400 is logged, and the line holds no raw control byte.
    """
    server = portico.start(http("    access_log {tmp}/access.log;"))
    log = server.tmp / "access.log"

    sizes = []
    for req in (b"GET /ctl HTTP/1.1\r\nHost: localhost\r\n"
                b"User-Agent: a\x01b\r\n\r\n",
                b"GET /a\x01b HTTP/1.1\r\nHost: localhost\r\n\r\n"):
        data, closed = exchange(server.port, req)
        resp = parse_response(data)[0]
        assert resp.status == 400
        sizes.append(len(resp.body))

    lines = wait_lines(log, 2)
    for line, size in zip(lines, sizes):
        assert COMBINED.match(line), line
        assert not re.search(rb"[\x00-\x1f\x7f]", line), line
        assert line.endswith(b' 400 %d "-" "-"' % size), line
    assert b'"GET /ctl HTTP/1.1"' in lines[0]


# ---------------------------------------------------------------------------
# where access_log applies

def test_off_in_a_location(portico):
    server = portico.start(http("    access_log {tmp}/a.log;", """
    server {
        listen 127.0.0.1:{port};
        location / {
            return 200 "hello\\n";
        }
        location /quiet {
            access_log off;
            return 200 "hush\\n";
        }
    }
"""))
    log = server.tmp / "a.log"
    c = Client(server.port)
    for path in ("/quiet", "/loud", "/quiet/x", "/last"):
        assert c.request(get(path)).status == 200
    c.close()

    lines = wait_lines(log, 2)
    assert [COMBINED.match(l).group("request") for l in lines] == [
        b"GET /loud HTTP/1.1", b"GET /last HTTP/1.1"]


def test_inner_level_replaces_outer(portico):
    server = portico.start(http("""    log_format srv 'srv $uri';
    log_format loc 'loc $uri';
    access_log {tmp}/http.log;
""", """
    server {
        listen 127.0.0.1:{port};
        access_log {tmp}/srv.log srv;
        location / {
            return 200 "a\\n";
        }
        location /own {
            access_log {tmp}/loc.log loc;
            return 200 "b\\n";
        }
    }
    server {
        listen 127.0.0.1:{port2};
        location / {
            return 200 "c\\n";
        }
    }
"""))
    c = Client(server.port)
    c.request(get("/one"))
    c.request(get("/own"))
    c.request(get("/two"))
    c.close()
    request(server.ports["port2"], "/three")

    assert wait_lines(server.tmp / "srv.log", 2) == [b"srv /one",
                                                     b"srv /two"]
    assert wait_lines(server.tmp / "loc.log", 1) == [b"loc /own"]
    line, = wait_lines(server.tmp / "http.log", 1)
    assert COMBINED.match(line).group("request") == b"GET /three HTTP/1.1"

    # nothing went anywhere else
    c = Client(server.port)
    c.request(get("/marker"))
    c.close()
    wait_lines(server.tmp / "srv.log", 3)
    assert len(lines_of(server.tmp / "loc.log")) == 1
    assert len(lines_of(server.tmp / "http.log")) == 1


def test_two_access_logs_on_one_level_both_written(portico):
    server = portico.start(http("""    log_format short '$status $uri';
    access_log {tmp}/full.log;
    access_log {tmp}/short.log short;
    access_log {tmp}/short2.log short;
"""))
    request(server.port, "/both")

    line, = wait_lines(server.tmp / "full.log", 1)
    assert COMBINED.match(line).group("request") == b"GET /both HTTP/1.1"
    assert wait_lines(server.tmp / "short.log", 1) == [b"200 /both"]
    assert wait_lines(server.tmp / "short2.log", 1) == [b"200 /both"]


def test_two_lines_to_one_file(portico):
    server = portico.start(http("""    log_format one '1 $uri';
    log_format two '2 $uri';
    access_log {tmp}/a.log one;
    access_log {tmp}/a.log two;
"""))
    request(server.port, "/x")
    assert wait_lines(server.tmp / "a.log", 2) == [b"1 /x", b"2 /x"]


def test_if_condition(portico):
    server = portico.start(http(
        "    log_format t '$args';\n"
        "    access_log {tmp}/a.log t if=$arg_log;"))
    log = server.tmp / "a.log"

    c = Client(server.port)
    for args in ("log=1", "log=0", "x=1", "log=", "log=yes", "log=00",
                 "log=1&last"):
        assert c.request(get("/?" + args)).status == 200
    c.close()

    # on one connection, the lines are written in order: once the last
    # is there, the skipped ones will not come
    assert wait_lines(log, 4) == [b"log=1", b"log=yes", b"log=00",
                                  b"log=1&last"]


# ---------------------------------------------------------------------------
# buffered writes

def test_buffer_flushed_by_timer(portico):
    server = portico.start(http(
        "    access_log {tmp}/a.log combined buffer=64k flush=1s;"))
    log = server.tmp / "a.log"

    t0 = time.monotonic()
    assert request(server.port, "/buffered").status == 200
    # held in the worker's buffer, not written yet
    assert lines_of(log) == []

    line, = wait_lines(log, 1, timeout=5)
    took = time.monotonic() - t0
    assert 0.5 <= took <= 5, took
    assert COMBINED.match(line).group("request") == b"GET /buffered HTTP/1.1"


def test_full_buffer_is_written(portico):
    dots = "." * 30
    server = portico.start(http(
        "    log_format t '$uri %s';\n"
        "    access_log {tmp}/a.log t buffer=256;" % dots))
    log = server.tmp / "a.log"
    expected = [b"/%04d %s" % (i, dots.encode()) for i in range(10)]

    # 37-byte lines: six fit, the seventh sends them out and stays, with
    # the next three, in the buffer
    c = Client(server.port)
    for i in range(10):
        assert c.request(get("/%04d" % i)).status == 200
    c.close()

    assert wait_lines(log, 6) == expected[:6]
    assert Path(log).read_bytes().endswith(b"\n")

    rc, killed = server.stop(signal.SIGQUIT)
    assert (rc, killed) == (0, [])
    assert lines_of(log) == expected


def test_line_longer_than_the_buffer_is_written_at_once(portico):
    server = portico.start(http("    access_log {tmp}/a.log combined "
                                "buffer=64 flush=1h;"))
    log = server.tmp / "a.log"

    ua = b"U" * 300
    request(server.port, "/long", extra=b"User-Agent: " + ua + b"\r\n")

    line, = wait_lines(log, 1)
    assert COMBINED.match(line).group("ua") == ua


@pytest.mark.parametrize("signo", [signal.SIGQUIT, signal.SIGTERM])
def test_buffer_flushed_at_exit(portico, signo):
    """A pending flush timer does not keep a quitting worker alive."""
    server = portico.start(http(
        "    access_log {tmp}/a.log combined buffer=64k flush=1h;"))
    log = server.tmp / "a.log"

    # one connection: one worker's buffer, in order
    c = Client(server.port)
    c.request(get("/one"))
    c.request(get("/two"))
    c.close()
    assert lines_of(log) == []

    t0 = time.monotonic()
    rc, killed = server.stop(signo)
    assert (rc, killed) == (0, [])
    assert time.monotonic() - t0 < 5

    assert [COMBINED.match(l).group("request") for l in lines_of(log)] == [
        b"GET /one HTTP/1.1", b"GET /two HTTP/1.1"]


# ---------------------------------------------------------------------------
# reopening (USR1)

def test_reopen(portico):
    server = portico.start(http("    log_format t '$uri';\n"
                                "    access_log {tmp}/a.log t;"))
    log = server.tmp / "a.log"
    old = server.tmp / "a.log.1"

    request(server.port, "/before")
    assert wait_lines(log, 1) == [b"/before"]

    os.rename(log, old)
    send_usr1(server)
    wait_for(log.exists, what="a new a.log")

    request(server.port, "/after")
    assert wait_lines(log, 1) == [b"/after"]
    assert lines_of(old) == [b"/before"]


def test_reopen_flushes_the_buffer_into_the_old_file(portico):
    server = portico.start(http("    log_format t '$uri';\n"
                                "    access_log {tmp}/a.log t "
                                "buffer=64k flush=1h;"))
    log = server.tmp / "a.log"
    old = server.tmp / "a.log.1"

    request(server.port, "/before")
    assert lines_of(log) == []

    os.rename(log, old)
    send_usr1(server)

    # the worker writes its buffer out just after its "reopening logs"
    assert wait_lines(old, 1) == [b"/before"]
    assert lines_of(log) == []

    request(server.port, "/after")
    rc, killed = server.stop(signal.SIGQUIT)
    assert (rc, killed) == (0, [])
    assert lines_of(log) == [b"/after"]
    assert lines_of(old) == [b"/before"]


def test_reload_writes_out_the_old_workers_buffers(portico):
    """HUP: the old workers write their buffers as they exit."""
    server = portico.start(http("    log_format t '$uri';\n"
                                "    access_log {tmp}/a.log t "
                                "buffer=64k flush=1h;"))
    log = server.tmp / "a.log"
    old_workers = set(group_members(server.pid)) - {server.pid}
    if not old_workers:
        pytest.skip("reloading needs the master process")

    request(server.port, "/before")
    assert lines_of(log) == []

    os.kill(master_pid(server), signal.SIGHUP)

    wait_for(lambda: not old_workers & set(group_members(server.pid)),
             what="the old workers to exit")
    assert lines_of(log) == [b"/before"]

    request(server.port, "/after")
    rc, killed = server.stop(signal.SIGQUIT)
    assert (rc, killed) == (0, [])
    assert lines_of(log) == [b"/before", b"/after"]


# ---------------------------------------------------------------------------
# write errors

def test_failed_writes_are_logged_at_most_once_a_second(portico):
    server = portico.start(http("    access_log /dev/full;"),
                           expect_log=[r'\[crit\] .*write\(\) to '
                                       r'"/dev/full" failed \(28: '])
    t0 = time.monotonic()
    c = Client(server.port)
    for i in range(20):
        assert c.request(get("/%d" % i)).status == 200
    c.close()

    server.wait_log(r'\[crit\] .*write\(\) to "/dev/full" failed')
    took = time.monotonic() - t0

    # once a second at most, while every request is still answered
    crit = server.error_log().count('write() to "/dev/full" failed')
    assert 1 <= crit <= int(took) + 2, (crit, took)
    assert request(server.port).status == 200


# ---------------------------------------------------------------------------
# configuration errors

def expect_error(tmp_path, body, message, needle=None):
    """
    -t exits with 1 after one "[emerg] MESSAGE in FILE:LINE" (the line
    holding needle; no location when needle is None).
    """
    conf = write_config(tmp_path, body)
    rc, out, err = run_portico(["-t"], conf=conf)

    where = "" if needle is None else " in %s:%d" % (conf,
                                                     line_of(conf, needle))
    assert rc == 1, err
    assert out == ""
    assert err == ("portico: [emerg] %s%s\n"
                   "portico: configuration file %s test failed\n"
                   % (message, where, conf))
    return conf


def one(inner):
    return http(inner, SERVER.replace("{port}", "1"))


@pytest.mark.parametrize("inner, needle, message", [
    pytest.param("    access_log {tmp}/a.log nope;", "nope",
                 'unknown log format "nope"', id="unknown-format"),
    pytest.param("    access_log {tmp}/a.log t;\n    log_format t '$uri';",
                 "access_log", 'unknown log format "t"',
                 id="format-defined-after-use"),
    pytest.param("    access_log {tmp}/a.log combined buffer=abc;",
                 "buffer=", 'invalid buffer size "abc"', id="buffer-abc"),
    pytest.param("    access_log {tmp}/a.log combined buffer=0;",
                 "buffer=", 'invalid buffer size "0"', id="buffer-0"),
    pytest.param("    access_log {tmp}/a.log combined buffer=;",
                 "buffer=", 'invalid parameter "buffer="', id="buffer-empty"),
    pytest.param("    access_log {tmp}/a.log combined buffer=4k flush=x;",
                 "flush=", 'invalid flush time "x"', id="flush-invalid"),
    pytest.param("    access_log {tmp}/a.log combined flush=1s;",
                 "flush=", 'no buffer is defined for access_log '
                 '"{tmp}/a.log"', id="flush-without-buffer"),
    pytest.param("    access_log {tmp}/a.log combined buffer=4k;\n"
                 "    access_log {tmp}/a.log combined buffer=8k;",
                 "buffer=8k", 'access_log "{tmp}/a.log" already defined '
                 'with conflicting parameters', id="conflicting-buffers"),
    pytest.param("    access_log {tmp}/a.log combined gzip;", "gzip",
                 'invalid parameter "gzip"', id="gzip"),
    pytest.param("    access_log off combined;", "access_log off",
                 'invalid parameter "combined"', id="off-with-args"),
    pytest.param("    access_log {tmp}/$host.log;", "$host",
                 'variables in access_log path are not supported: '
                 '"{tmp}/$host.log"', id="variable-path"),
    pytest.param("    access_log '';", "access_log",
                 '"access_log" directive has an empty file name',
                 id="empty-path"),
    pytest.param("    log_format combined '$uri';", "log_format",
                 'duplicate "log_format" name "combined"',
                 id="redefined-combined"),
    pytest.param("    log_format a '$uri';\n    log_format a '$args';",
                 "$args", 'duplicate "log_format" name "a"',
                 id="duplicate-name"),
    pytest.param("    log_format a escape=xml '$uri';", "escape=",
                 'unknown log format escaping "xml"', id="unknown-escape"),
    pytest.param("    log_format a escape=json;", "escape=",
                 '"log_format" directive has no format string',
                 id="escape-without-string"),
    pytest.param("    log_format a 'x $ y';", "log_format",
                 'invalid variable name in "x $ y"', id="bad-variable"),
    pytest.param("    log_format a '${uri';", "log_format",
                 'the closing bracket in "uri" variable is missing',
                 id="unclosed-bracket"),
    pytest.param("    log_format a;", "log_format",
                 'invalid number of arguments in "log_format" directive',
                 id="log_format-no-string"),
    pytest.param("    access_log;", "access_log",
                 'invalid number of arguments in "access_log" directive',
                 id="access_log-no-args"),
])
def test_config_error(tmp_path, inner, needle, message):
    message = message.replace("{tmp}", str(tmp_path))
    expect_error(tmp_path, one(inner), message, needle)


def test_unknown_variable_in_log_format(tmp_path):
    # found when the variables are bound, after the http block, and told
    # at the line that first named it
    expect_error(tmp_path, one("    log_format a '$uri $foo';"),
                 'unknown "foo" variable', "log_format")


def test_unknown_variable_named_twice(tmp_path):
    expect_error(tmp_path, http("    log_format a '$uri';\n"
                                "    log_format b '$foo';\n"
                                "    log_format c '$foo';\n",
                                SERVER.replace("{port}", "1")),
                 'unknown "foo" variable', "log_format b")


@pytest.mark.parametrize("body, needle, name", [
    pytest.param("access_log {tmp}/a.log;\n" + one(""), "access_log",
                 "access_log", id="access_log-in-main"),
    pytest.param("log_format a '$uri';\n" + one(""), "log_format",
                 "log_format", id="log_format-in-main"),
    pytest.param(http("", """    server {
        listen 127.0.0.1:1;
        log_format a '$uri';
    }
"""), "log_format", "log_format", id="log_format-in-server"),
    pytest.param(http("", """    server {
        listen 127.0.0.1:1;
        location / {
            log_format a '$uri';
        }
    }
"""), "log_format", "log_format", id="log_format-in-location"),
])
def test_directive_in_a_bad_context(tmp_path, body, needle, name):
    body = body.replace("{tmp}", str(tmp_path))
    expect_error(tmp_path, body, '"%s" directive is not allowed here' % name,
                 needle)


def test_access_log_in_events_is_not_allowed(tmp_path):
    conf = write_config(tmp_path, one(""),
                        events="worker_connections 64; access_log x;")
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1
    assert err == ('portico: [emerg] "access_log" directive is not allowed '
                   'here in %s:1\nportico: configuration file %s test '
                   'failed\n' % (conf, conf))


def test_error_also_stops_a_real_start(tmp_path):
    conf = write_config(tmp_path, one("    access_log {tmp}/a.log nope;"))
    rc, out, err = run_portico([], conf=conf)
    assert rc == 1
    assert ('[emerg] unknown log format "nope" in %s:%d'
            % (conf, line_of(conf, "nope"))) in err
    assert not (tmp_path / "a.log").exists()
