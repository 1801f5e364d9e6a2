"""
Memory stability under load: N requests proxied through portico to a fast
backend on loopback, with keep-alive on both sides; the resident memory
(RSS) of the proxy's workers is sampled every N/10 requests and must not
grow past the warm-up by more than a small tolerance.

The backend is a second portico answering from memory ("return"), so the
load is bounded by the proxy and not by a Python server.  The proxy keeps
its upstream connections alive; its clients' connections are renewed
every 1000 requests (keepalive_requests), so connection set-up and
teardown are soaked too.  The client is
wrk when it is installed (scripts/deps bench), with a Lua script that
counts every answer that is not a 200 with the expected body; else a
Python client on a few keep-alive connections (it makes some 15,000 to
40,000 requests a second here, enough for a million in a minute).

    PORTICO_SOAK_REQUESTS   requests in all (default 50000, as make check
                            runs it; make soak runs 1000000)
    PORTICO_SOAK_CLIENT     "wrk" or "python" (default: wrk if found)
    PORTICO_SOAK_TOLERANCE  RSS growth allowed after the warm-up, in KiB
                            (default 512)
    PORTICO_SOAK_TIMEOUT    seconds the whole run may take (default: 60 s
                            plus 2 ms a request)

The first two tenths are the warm-up: pools, buffers and the upstream
keep-alive cache reach their working size there.  The other eight tenths
may add no more than the tolerance: a leak of 13 bytes a request fails at
the default N, one of a byte a request at a million.  Growth measured
here is a few pages at most.

Under a sanitizer or valgrind RSS says nothing (ASan's quarantine keeps
freed memory on purpose), so there the requests run and their answers are
checked, and the RSS verdict is skipped.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PORTICO_WRAPPER, group_members, run_portico, wait_for


REQUESTS = int(os.environ.get("PORTICO_SOAK_REQUESTS", "50000"))
CLIENT = os.environ.get("PORTICO_SOAK_CLIENT", "")
TOLERANCE_KB = int(os.environ.get("PORTICO_SOAK_TOLERANCE", "512"))
ROUNDS = 10
WARMUP_ROUNDS = 2
CONNECTIONS = 8

# what the backend answers: a body of a fixed size
BODY = b"x" * 512

BACKEND = """
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        keepalive_requests 100000;
        location / { return 200 "%s"; }
    }
}
""" % BODY.decode()

PROXY = """
http {
    access_log off;
    upstream soak_backend {
        server 127.0.0.1:{backend};
        keepalive 16;
    }
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass http://soak_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
"""

WRK_SCRIPT = """
-- Each thread stops after its share of the round's requests and says so
-- with a file; wrk itself runs for its -d duration whatever its threads
-- do, so the test then ends it with SIGINT, after which it reports.
local limit = tonumber(os.getenv("SOAK_PER_THREAD"))
local length = tonumber(os.getenv("SOAK_LENGTH"))
local marks = os.getenv("SOAK_MARKS")
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    done_n = 0
    bad = 0
end

function response(status, headers, body)
    done_n = done_n + 1
    if status ~= 200 or #body ~= length then
        bad = bad + 1
    end
    if done_n == limit then
        io.open(marks .. id, "w"):close()
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local n, b = 0, 0
    for _, t in ipairs(threads) do
        n = n + t:get("done_n")
        b = b + t:get("bad")
    end
    io.write(string.format("SOAK done=%d bad=%d errors=%d\\n", n, b,
        summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout))
end
"""


def instrumented():
    """Why RSS means nothing for this binary, or None."""
    if PORTICO_WRAPPER:
        return "the binary runs under %s" % os.path.basename(
            PORTICO_WRAPPER[0])
    rc, out, err = run_portico(["-V"])
    if "--with-sanitizers" in err:
        return "the binary is built with sanitizers"
    return None


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def workers_of(server):
    """
    The pids that serve requests: the workers (not the master), or the
    one process of "master_process off".
    """
    return sorted(p for p in group_members(server.pid)
                  if p != server.pid) or [server.pid]


class PythonClient:
    """A few keep-alive connections, one request in flight on each."""

    REQUEST = b"GET /soak HTTP/1.1\r\nHost: soak\r\n\r\n"

    def __init__(self, port):
        self.port = port
        self.socks = [None] * CONNECTIONS
        self.bufs = [b""] * CONNECTIONS

    def _sock(self, i):
        if self.socks[i] is None:
            s = socket.create_connection(("127.0.0.1", self.port),
                                         timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socks[i] = s
            self.bufs[i] = b""
        return self.socks[i]

    def _response(self, i):
        """Reads one response; returns (ok, server closes after it)."""
        s = self.socks[i]
        buf = self.bufs[i]
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                head = buf[:end]
                m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                if m is None:
                    raise AssertionError("no Content-Length in %r" % head)
                total = end + 4 + int(m.group(1))
                if len(buf) >= total:
                    break
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("connection closed mid-response: %r"
                                     % buf)
            buf += chunk
        self.bufs[i] = buf[total:]
        ok = head.startswith(b"HTTP/1.1 200 ") and buf[end + 4:total] == BODY
        closes = re.search(rb"\r\nconnection: *close", head, re.I)
        return ok, closes is not None

    def run(self, n):
        """Sends n requests; returns the number of bad answers."""
        bad = 0
        left = n
        while left > 0:
            k = min(CONNECTIONS, left)
            for i in range(k):
                self._sock(i).sendall(self.REQUEST)
            for i in range(k):
                ok, closes = self._response(i)
                bad += not ok
                if closes:
                    self.socks[i].close()
                    self.socks[i] = None
            left -= k
        return bad

    def close(self):
        for s in self.socks:
            if s is not None:
                s.close()


class WrkClient:
    THREADS = 2

    def __init__(self, port, tmp):
        self.url = "http://127.0.0.1:%d/soak" % port
        self.tmp = tmp
        self.script = tmp / "soak.lua"
        self.script.write_text(WRK_SCRIPT)
        self.round = 0

    def run(self, n, timeout):
        """Makes n requests; returns the number of bad answers."""
        self.round += 1
        marks = self.tmp / ("soak-round%d-thread" % self.round)
        env = dict(os.environ, SOAK_PER_THREAD=str(-(-n // self.THREADS)),
                   SOAK_LENGTH=str(len(BODY)), SOAK_MARKS=str(marks))
        cmd = ["wrk", "-t%d" % self.THREADS, "-c%d" % CONNECTIONS,
               "-d%ds" % int(timeout), "-s", str(self.script), self.url]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            wait_for(lambda: all(Path("%s%d" % (marks, i)).exists()
                                 for i in range(self.THREADS))
                     or p.poll() is not None,
                     timeout=timeout + 10, interval=0.05,
                     what="wrk to make %d requests" % n)
            if p.poll() is None:
                # its main thread sleeps until -d is over or SIGINT comes
                p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        out = out.decode(errors="replace")
        m = re.search(r"SOAK done=(\d+) bad=(\d+) errors=(\d+)", out)
        assert p.returncode == 0 and m, "wrk failed:\n%s\n%s" % (
            out, err.decode(errors="replace"))
        done, bad, errors = (int(x) for x in m.groups())
        assert done >= n, "wrk made %d of %d requests in %ds:\n%s" % (
            done, n, timeout, out)
        return bad + errors

    def close(self):
        pass


def choose_client():
    if CLIENT not in ("", "wrk", "python"):
        pytest.fail("PORTICO_SOAK_CLIENT is %r, not wrk or python" % CLIENT)
    if CLIENT == "wrk" and shutil.which("wrk") is None:
        pytest.fail("PORTICO_SOAK_CLIENT=wrk but wrk is not installed")
    if CLIENT == "python" or shutil.which("wrk") is None:
        return "python"
    return "wrk"


def test_rss_is_stable_under_proxied_load(portico):
    assert REQUESTS >= ROUNDS * 100, "PORTICO_SOAK_REQUESTS is too small"
    per_round = REQUESTS // ROUNDS
    # a slow machine does a few thousand a second even under ASan
    timeout = float(os.environ.get("PORTICO_SOAK_TIMEOUT",
                                   60 + REQUESTS / 500))
    round_timeout = max(30.0, timeout / ROUNDS * 2)
    verdict = instrumented()

    backend = portico.start(BACKEND)
    proxy = portico.start(PROXY, backend=backend.port)

    workers = workers_of(proxy)

    kind = choose_client()
    if kind == "wrk":
        client = WrkClient(proxy.port, proxy.tmp)
    else:
        client = PythonClient(proxy.port)

    samples = []
    t0 = time.monotonic()
    try:
        for i in range(ROUNDS):
            if kind == "wrk":
                bad = client.run(per_round, round_timeout)
            else:
                bad = client.run(per_round)
            assert bad == 0, "round %d: %d bad answers" % (i, bad)
            assert workers_of(proxy) == workers, "a worker was replaced"
            samples.append(sum(rss_kb(p) for p in workers))
            assert time.monotonic() - t0 < timeout, (
                "%d requests took over %.0fs" % ((i + 1) * per_round,
                                                  timeout))
    finally:
        client.close()

    took = time.monotonic() - t0
    report = ("%d requests (%s) in %.1fs, %.0f/s; worker RSS in KiB after "
              "each tenth: %s" % (per_round * ROUNDS, kind, took,
                                  per_round * ROUNDS / took,
                                  " ".join(map(str, samples))))
    print(report)

    # the servers lived through it (the fixture also checks their logs)
    assert proxy.alive() and backend.alive()

    if verdict:
        pytest.skip("RSS not judged: %s (%s)" % (verdict, report))

    base = samples[WARMUP_ROUNDS - 1]
    worst = max(samples[WARMUP_ROUNDS:])
    assert worst - base <= TOLERANCE_KB, (
        "worker RSS grew by %d KiB after the warm-up (allowed %d KiB): %s"
        % (worst - base, TOLERANCE_KB, report))
