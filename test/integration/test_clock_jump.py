"""
The system clock set back or forward under a running server: the Date
header and the log times follow the wall clock, while timeouts, intervals
and $request_time, measured on the monotonic clock, are not disturbed.

The server runs with fakeclock.c preloaded (compiled here; the tests
skip without a C compiler), which adds an offset that the test changes
at will to the wall clock the server reads, and only to that.
"""

import os
import re
import shutil
import subprocess
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from conftest import Client, get, wait_for
from test_proxy import free_dead_port, one, start
from test_proxy import backends  # noqa: F401 (the fixture)

DAY = 86400

SHIM = Path(__file__).resolve().parent / "fakeclock.c"
OFFSET_SIZE = 32        # PT_FAKE_CLOCK_SIZE


@pytest.fixture(scope="module")
def fakeclock(tmp_path_factory):
    """The path of fakeclock.so, built for this run."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the fake clock library")
    out = tmp_path_factory.mktemp("fakeclock") / "fakeclock.so"
    p = subprocess.run([cc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra",
                        "-o", str(out), str(SHIM)], capture_output=True)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    return out


class Clock:
    """The offset file of one server: set(seconds) moves its wall clock."""

    def __init__(self, path):
        self.path = path
        self.path.write_bytes(b" " * OFFSET_SIZE)
        self.set(0)

    def set(self, seconds):
        text = ("%d" % seconds).encode().ljust(OFFSET_SIZE - 1) + b"\n"
        fd = os.open(str(self.path), os.O_WRONLY)
        try:
            os.pwrite(fd, text, 0)
        finally:
            os.close(fd)


def start_with_clock(portico, fakeclock, tmp_path, locations, **kwargs):
    clock = Clock(tmp_path / "clock-offset")
    env = {"LD_PRELOAD": str(fakeclock),
           "PT_FAKE_CLOCK_FILE": str(clock.path)}
    # an ASan build wants its runtime first in the list of libraries
    asan = os.environ.get("ASAN_OPTIONS")
    env["ASAN_OPTIONS"] = ((asan + ":") if asan else "") \
        + "verify_asan_link_order=0"
    server = start(portico, locations, env=env, **kwargs)
    return server, clock


def date_of(resp):
    return parsedate_to_datetime(resp.header("Date")).timestamp()


def silent_handler(backend, req):
    """Reads the request, never answers, waits for the proxy to go."""
    while backend.recv(req.sock):
        pass
    req.close = True


LOG_FORMAT = ('log_format t "$time_iso8601 $msec $request_time $status '
              '$uri";')


def test_date_and_log_times_follow_the_wall_clock(portico, fakeclock,
                                                  tmp_path):
    server, clock = start_with_clock(
        portico, fakeclock, tmp_path,
        "access_log {tmp}/times.log t;\n"
        'location / { return 200 "ok\\n"; }', extra=LOG_FORMAT)

    resp = one(server.port, get("/now"))
    assert abs(date_of(resp) - time.time()) < 60

    clock.set(-DAY)
    resp = one(server.port, get("/yesterday"))
    assert abs(date_of(resp) - (time.time() - DAY)) < 60

    clock.set(3 * DAY)
    resp = one(server.port, get("/later"))
    assert abs(date_of(resp) - (time.time() + 3 * DAY)) < 60

    lines = wait_for(lambda: len(server_log(server)) == 3 and
                     server_log(server), what="three log lines")
    for (iso, msec, _, status, uri), shift in zip(lines, (0, -DAY, 3 * DAY)):
        assert status == "200"
        assert abs(float(msec) - (time.time() + shift)) < 60, msec
        day = time.strftime("%Y-%m-%d", time.localtime(time.time() + shift))
        assert iso.startswith(day), (iso, day)


def server_log(server):
    try:
        text = (server.tmp / "times.log").read_text()
    except FileNotFoundError:
        return []
    return [line.split() for line in text.splitlines()]


@pytest.mark.parametrize("jump", [3 * DAY, -3 * DAY],
                         ids=["forward", "back"])
def test_timeout_ignores_a_clock_jump(portico, backends, fakeclock,
                                      tmp_path, jump):
    b = backends(silent_handler)
    server, clock = start_with_clock(
        portico, fakeclock, tmp_path,
        "access_log {tmp}/times.log t;\n"
        "location / { proxy_pass http://%s; proxy_read_timeout 2s; }"
        % b.addr, extra=LOG_FORMAT)

    c = Client(server.port, timeout=15)
    t0 = time.monotonic()
    c.send(get("/slow"))
    wait_for(lambda: b.requests, what="the backend to get the request")

    # the proxy waits for the answer with its timer armed: now the clock
    # jumps; the timeout neither fires at once nor waits for days
    clock.set(jump)
    resp = c.response()
    took = time.monotonic() - t0
    assert resp.status == 504
    assert 1.8 <= took < 5, took
    c.close()

    # $request_time is monotonic too; the log's date is the new one
    lines = wait_for(lambda: server_log(server), what="the log line")
    iso, msec, request_time, status, uri = lines[0]
    assert status == "504"
    assert 1.8 <= float(request_time) < 5, request_time
    assert abs(float(msec) - (time.time() + jump)) < 60, msec


def test_fail_timeout_ignores_the_clock_set_back(portico, backends,
                                                 fakeclock, tmp_path):
    """
    A server that failed rests for fail_timeout on the monotonic clock:
    with the clock set back an hour it is tried again after a second, not
    after an hour.
    """
    dead = free_dead_port()
    good = backends(name="good")
    server, clock = start_with_clock(
        portico, fakeclock, tmp_path,
        "location / { proxy_pass http://two; }",
        extra="upstream two { server 127.0.0.1:%d max_fails=1 "
              "fail_timeout=1s; server %s; }" % (dead, good.addr))
    refused = r"connect\(\) failed \(111: Connection refused\).*" \
              r"upstream: \"127\.0\.0\.1:%d/" % dead

    def failures():
        return len(re.findall(refused, server.error_log()))

    c = Client(server.port)
    while failures() == 0:
        assert c.request(get("/")).status == 200
        assert len(good.requests) < 10, "the dead server is never tried"
    rested = time.monotonic()

    clock.set(-3600)

    # fail_timeout counts whole seconds: tried again within about two
    while failures() == 1:
        assert c.request(get("/later")).status == 200
        assert time.monotonic() - rested < 6, "never tried again"
        time.sleep(0.05)
    assert time.monotonic() - rested >= 0.9
    c.close()
