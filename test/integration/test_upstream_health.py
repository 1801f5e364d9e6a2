"""
Active health checks (health_check in an upstream block, match blocks)
against real backends on loopback ports: a server that starts failing
(500, or its port closes) stops getting traffic within interval x fails
plus a bounded slack and gets it back within interval x passes + 1 s after
it recovers; killing one of three servers under load shows the clients no
error; a server marked unhealthy gets nothing from any worker; the checks
come from one process (worker 0), which a respawned worker 0 takes over;
match tests (status, header, body) pass and fail as configured; and
configuration errors name FILE:LINE.

Backends answer the checks (User-Agent: portico-health-check) and the
traffic separately, so a test can fail one and not the other, and record
when each arrived.
"""

import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import (Client, IO_TIMEOUT, get, line_of, needs_module,
                      run_portico, socket_inodes, wait_for, write_config)
from test_proxy import chunked, one, response, worker_pids
from test_proxy import backends, short_dir  # noqa: F401 (the fixtures)


pytestmark = needs_module("pt_http_upstream_health_module")

CHECK_UA = "portico-health-check"

# how late a check result may come on top of the configured times: timers,
# thread scheduling, the ASan build
SLACK = 1.0

WORKERS = "master_process on; worker_processes 2;"


# ---------------------------------------------------------------------------
# helpers

def tcp_owner(sock, pids):
    """
    Which of pids holds the other end of sock, a connection a backend
    accepted from portico (looked up while it is still open).
    """
    mine = sock.getsockname()[1]
    theirs = sock.getpeername()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            local = int(fields[1].rsplit(":", 1)[1], 16)
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            if local == theirs and remote == mine:
                inode = fields[9]
                break
    if inode is None:
        return None
    for pid in pids:
        if inode in socket_inodes([pid]):
            return pid
    return None


class Health:
    """
    A backend whose health-check requests get check(req) (response bytes,
    or None after closing or stalling by itself; default: 200 "ok") and
    whose other requests get a response with the given status naming the
    backend. checks: (time, Req, pid of the portico process that sent it,
    when server is set); traffic: times of the other requests.
    """

    def __init__(self, make, name, port=0, unix=None, host="127.0.0.1"):
        self.make = make
        self.name = name
        self.host = host
        self.status = 200
        self.check = lambda req: response(200, b"ok")
        self.checks = []
        self.traffic = []
        self.server = None
        self.lock = threading.Lock()
        self.backend = make(self.handle, name=name, port=port, unix=unix,
                            host=host)
        self.port = self.backend.port
        # as portico names the server in its log
        self.addr = self.backend.addr.rstrip(":")

    def handle(self, backend, req):
        now = time.monotonic()
        if req.header("User-Agent") == CHECK_UA:
            pid = None
            if self.server is not None:
                pid = tcp_owner(req.sock, worker_pids(self.server))
            with self.lock:
                self.checks.append((now, req, pid))
            return self.check(req)
        with self.lock:
            self.traffic.append(now)
        return response(self.status, self.name, [("X-Backend", self.name)])

    def stop(self):
        """Closes the port: connections are refused."""
        self.backend.stop()

    def restart(self):
        """Listens again on the same port."""
        self.backend = self.make(self.handle, name=self.name, port=self.port,
                                 host=self.host)

    def checks_since(self, t):
        with self.lock:
            return [c for c in self.checks if c[0] >= t]

    def traffic_since(self, t):
        with self.lock:
            return [x for x in self.traffic if x >= t]


def always(data):
    return lambda req: data


def close_at_once(req):
    """A check that gets no answer: the connection closes."""
    req.close = True
    return None


def stall(req, limit=30):
    """A check that gets no answer until portico closes the connection."""
    deadline = time.monotonic() + limit
    req.sock.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            if req.sock.recv(1) == b"":
                break
        except socket.timeout:
            continue
        except OSError:
            break
    req.close = True
    return None


class Load:
    """
    Clients each sending GET / on a new connection in a loop, until the
    block ends. results: (start, end, status or None, X-Backend or the
    error).
    """

    def __init__(self, port, clients=3, timeout=IO_TIMEOUT):
        self.port = port
        self.clients = clients
        self.timeout = timeout
        self.results = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def _run(self):
        while not self.stopping.is_set():
            t0 = time.monotonic()
            try:
                r = one(self.port, get("/"), timeout=self.timeout)
                res = (t0, time.monotonic(), r.status, r.header("X-Backend"))
            except (OSError, AssertionError, ValueError) as e:
                res = (t0, time.monotonic(), None, repr(e))
            with self.lock:
                self.results.append(res)

    def __enter__(self):
        for _ in range(self.clients):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def count(self):
        with self.lock:
            return len(self.results)

    def wait_more(self, n, timeout=IO_TIMEOUT * 2):
        """Waits until n more requests have finished."""
        start = self.count()
        wait_for(lambda: self.count() >= start + n, timeout,
                 what="%d more requests through the load" % n)

    def errors(self):
        with self.lock:
            return [r for r in self.results if r[2] != 200]


def upstream(name, servers, check, extra=""):
    lines = "".join("        server %s;\n" % s for s in servers)
    return ("    upstream %s {\n        zone %s 64k;\n%s        %s\n%s"
            "    }\n" % (name, name, lines, check, extra))


def http_conf(upstreams, locations="location / { proxy_pass http://u; }",
              extra=""):
    return ("http {\n"
            "    access_log {tmp}/access.log;\n"
            "%s\n%s"
            "    server {\n"
            "        listen 127.0.0.1:{port};\n"
            "        %s\n"
            "    }\n"
            "}\n" % (extra, upstreams, locations))


def unhealthy_line(h, group="u"):
    return (r"\[warn\] \d+#\d+: upstream server %s in upstream \"%s\" is "
            r"unhealthy after \d+ failed health checks: "
            % (re.escape(h.addr), group))


def healthy_line(h, group="u"):
    return (r"\[notice\] \d+#\d+: upstream server %s in upstream \"%s\" is "
            r"healthy again after \d+ passed health checks"
            % (re.escape(h.addr), group))


def log_count(srv, pattern):
    return len(re.findall(pattern, srv.error_log()))


# ---------------------------------------------------------------------------
# a failing server leaves the rotation and comes back

def test_server_answering_500_leaves_and_comes_back(portico, backends):
    interval, fails, passes = 0.5, 2, 2
    hs = [Health(backends, n) for n in ("a", "b", "c")]
    srv = portico.start(http_conf(upstream(
        "u", [h.addr for h in hs],
        "health_check interval=500ms fails=2 passes=2 uri=/health;")))
    victim = hs[1]

    with Load(srv.port) as load:
        wait_for(lambda: all(h.traffic for h in hs), IO_TIMEOUT,
                 what="traffic at every server")

        # the server breaks: everything it answers is a 500
        t0 = time.monotonic()
        victim.status = 500
        victim.check = always(response(500, b"broken"))

        srv.wait_log(unhealthy_line(victim), interval * fails + SLACK * 3)
        marked = time.monotonic()
        load.wait_more(60)

        last = max(victim.traffic_since(t0), default=t0)
        assert last - t0 <= interval * fails + SLACK, (
            "traffic %.2fs after the failure" % (last - t0))
        assert victim.traffic_since(marked + 0.3) == []

        # the other two carried the load; the 500s were the victim's own
        for r in load.errors():
            assert r[2] == 500 and r[3] == "b", r
            assert r[0] <= last, r

        # it recovers: traffic within interval x passes + 1 s
        t1 = time.monotonic()
        victim.status = 200
        victim.check = always(response(200, b"ok"))
        wait_for(lambda: victim.traffic_since(t1),
                 interval * passes + 1.0 + SLACK,
                 what="traffic at the recovered server")
        first = victim.traffic_since(t1)[0]
        assert first - t1 <= interval * passes + 1.0, (
            "traffic back %.2fs after the recovery" % (first - t1))

    srv.wait_log(healthy_line(victim))
    assert log_count(srv, unhealthy_line(victim)) == 1
    assert log_count(srv, healthy_line(victim)) == 1


def test_killed_server_under_load_no_client_error(portico, backends):
    interval, fails, passes = 0.5, 1, 2
    hs = [Health(backends, n) for n in ("a", "b", "c")]
    srv = portico.start(http_conf(upstream(
        "u", [h.addr for h in hs],
        "health_check interval=500ms fails=1 passes=2;")))
    victim = hs[2]

    with Load(srv.port, clients=3) as load:
        wait_for(lambda: all(h.traffic for h in hs), IO_TIMEOUT,
                 what="traffic at every server")

        # its port closes: connections are refused, retried elsewhere
        t0 = time.monotonic()
        victim.stop()
        srv.wait_log(unhealthy_line(victim), interval * fails + SLACK * 3)
        assert time.monotonic() - t0 <= interval * fails + SLACK
        load.wait_more(60)

        # back on the same port
        t1 = time.monotonic()
        victim.restart()
        wait_for(lambda: victim.traffic_since(t1),
                 interval * passes + 1.0 + SLACK,
                 what="traffic at the restarted server")
        first = victim.traffic_since(t1)[0]
        assert first - t1 <= interval * passes + 1.0, (
            "traffic back %.2fs after the restart" % (first - t1))
        load.wait_more(60)

    assert load.errors() == [], load.errors()[:5]
    assert load.count() >= 120
    names = {r[3] for r in load.results if r[1] > first}
    assert names == {"a", "b", "c"}, names
    # the check failed on a refused connection, and said so
    assert re.search(unhealthy_line(victim) + r"connect\(\) failed "
                     r"\(111: Connection refused\)", srv.error_log())


def test_unhealthy_server_gets_nothing_from_any_worker(portico, backends):
    good = Health(backends, "good")
    sick = Health(backends, "sick")
    sick.check = always(response(503, b"no"))
    srv = portico.start(http_conf(
        upstream("u", [good.addr, sick.addr],
                 "health_check interval=300ms;"),
        extra='    log_format pids "$pid $upstream_addr";\n'
              '    access_log {tmp}/pids.log pids;'),
        process=WORKERS)

    srv.wait_log(unhealthy_line(sick), IO_TIMEOUT)
    marked = time.monotonic()
    workers = set(worker_pids(srv))
    assert len(workers) == 2

    for _ in range(100):
        r = one(srv.port, get("/"))
        assert r.status == 200 and r.header("X-Backend") == "good", r

    assert sick.traffic_since(marked) == []

    # both workers served some of them (new connections spread over the
    # two slots), and none sent one to the sick server
    log = srv.tmp / "pids.log"
    wait_for(lambda: log.read_text().count("\n") >= 100, IO_TIMEOUT,
             what="100 access log lines")
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 100
    pids = {int(line.split()[0]) for line in lines}
    assert pids == workers, (pids, workers)
    assert all(line.split()[1] == good.addr for line in lines)


def test_recovered_server_ramps_up_by_slow_start(portico, backends):
    steady = Health(backends, "steady")
    back = Health(backends, "back")
    back.check = close_at_once
    srv = portico.start(http_conf(upstream(
        "u", [steady.addr + " weight=10",
              back.addr + " weight=10 slow_start=30s"],
        "health_check interval=200ms;")))
    srv.wait_log(unhealthy_line(back), IO_TIMEOUT)

    back.check = always(response(200, b"ok"))
    srv.wait_log(healthy_line(back), IO_TIMEOUT)

    # a few seconds into 30, its weight is 1 or 2 out of 10: about one
    # request in ten (half of them without slow_start)
    names = [one(srv.port, get("/")).header("X-Backend") for _ in range(60)]
    assert 1 <= names.count("back") <= 15, names


# ---------------------------------------------------------------------------
# who checks, and how

def check_rate(h, n, interval):
    """Waits for n more checks; asserts they came about one per interval."""
    start = len(h.checks)
    t0 = time.monotonic()
    wait_for(lambda: len(h.checks) >= start + n, n * interval * 2 + SLACK,
             what="%d checks" % n)
    took = time.monotonic() - t0
    # one process checking: n checks take about n intervals, not n/workers
    assert took >= (n - 1) * interval * 0.8, (
        "%d checks in %.2fs: more than one per interval" % (n, took))
    return h.checks[start:start + n]


def test_checks_come_from_worker_0_alone(portico, backends):
    interval = 0.25
    h = Health(backends, "h")
    sick = Health(backends, "sick")
    # (a long timeout: the backend looks the sender up while it waits)
    srv = portico.start(http_conf(upstream(
        "u", [h.addr, sick.addr],
        "health_check interval=250ms timeout=2s;")),
        process="master_process on; worker_processes 3;",
        expect_log=[r"worker process \d+ exited on signal 9"])
    h.server = srv
    sick.server = srv
    workers = set(worker_pids(srv))
    assert len(workers) == 3

    recent = check_rate(h, 8, interval)
    owners = {c[2] for c in recent}
    assert len(owners) == 1 and owners <= workers, (owners, workers)
    (owner,) = owners

    # one server is down for a while: every worker sees it
    sick.check = close_at_once
    srv.wait_log(unhealthy_line(sick), IO_TIMEOUT)

    # worker 0 dies: its respawned successor takes the checks over
    os.kill(owner, signal.SIGKILL)
    t_kill = time.monotonic()
    wait_for(lambda: any(c[2] not in (None, owner)
                         for c in h.checks_since(t_kill)),
             IO_TIMEOUT * 2, what="checks from another process")
    new_workers = set(worker_pids(srv))
    recent = check_rate(h, 8, interval)
    owners = {c[2] for c in recent}
    assert len(owners) == 1, owners
    (new_owner,) = owners
    assert new_owner in new_workers - workers, (new_owner, workers)

    # the state is in the zone: the sick server stayed out meanwhile
    for _ in range(20):
        assert one(srv.port, get("/")).header("X-Backend") == "h"

    # and the new worker 0 brings it back
    sick.check = always(response(200, b"ok"))
    m = srv.wait_log(healthy_line(sick), IO_TIMEOUT)
    assert m.group(0).split("] ")[1].startswith("%d#" % new_owner)


def test_reload_hands_the_checks_to_the_new_worker_0(portico, backends):
    interval = 0.25
    h = Health(backends, "h")
    conf = http_conf(upstream("u", [h.addr],
                              "health_check interval=250ms timeout=2s;"))
    srv = portico.start(conf, process=WORKERS)
    h.server = srv
    old = set(worker_pids(srv))
    (owner,) = {c[2] for c in check_rate(h, 4, interval)}

    srv.rewrite(conf, process=WORKERS)
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: len(set(worker_pids(srv)) - old) == 2
             and not set(worker_pids(srv)) & old, IO_TIMEOUT * 2,
             what="the old workers to leave for two new ones")
    new = set(worker_pids(srv))

    # one process checks, a new one, at the same pace
    owners = {c[2] for c in check_rate(h, 8, interval)}
    assert len(owners) == 1 and owners <= new, (owners, new)


def test_unix_socket_server(portico, backends, short_dir):
    h = Health(backends, "x", unix=os.path.join(short_dir, "s"))
    srv = portico.start(http_conf(upstream(
        "u", [h.addr], "health_check interval=200ms port=9;")))
    wait_for(lambda: len(h.checks) >= 2, IO_TIMEOUT, what="checks")
    h.check = always(response(500))
    srv.wait_log(unhealthy_line(h), IO_TIMEOUT)


def test_addresses_of_a_resolved_name_are_checked(portico, backends,
                                                 dns_server):
    from test_upstream_resolve import free_port_on

    port = free_port_on(["127.0.0.2", "127.0.0.3"])
    a = Health(backends, "a", host="127.0.0.2", port=port)
    b = Health(backends, "b", host="127.0.0.3", port=port)
    b.check = always(response(500))
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=1)
    srv = portico.start(http_conf(
        "    upstream u {\n"
        "        zone u 64k;\n"
        "        server backend.test:%d resolve;\n"
        "        health_check interval=200ms;\n"
        "    }\n" % port,
        extra="    resolver %s valid=1s; resolver_timeout 2s;"
              % dns_server.address))

    # the slots without an address are not checked; the one filled is
    wait_for(lambda: len(a.checks) >= 2, IO_TIMEOUT, what="checks of a")
    assert b.checks == []

    # a second address comes: it is checked, starts healthy, and leaves
    dns_server.set_a("backend.test", ["127.0.0.2", "127.0.0.3"], ttl=1)
    srv.wait_log(unhealthy_line(b), IO_TIMEOUT * 2)
    marked = time.monotonic()
    for _ in range(20):
        assert one(srv.port, get("/")).header("X-Backend") == "a"
    assert b.traffic_since(marked) == []


def test_check_request_bytes_and_port(portico, backends):
    traffic = Health(backends, "t")
    checks = Health(backends, "c")
    srv = portico.start(http_conf(upstream(
        "u", [traffic.addr],
        "health_check interval=300ms port=%d uri=/status?full=1;"
        % checks.port)))

    wait_for(lambda: len(checks.checks) >= 2, IO_TIMEOUT,
             what="checks on the check port")
    req = checks.checks[0][1]
    assert req.head == (b"GET /status?full=1 HTTP/1.1\r\n"
                        b"Host: u\r\n"
                        b"Connection: close\r\n"
                        b"User-Agent: portico-health-check\r\n"
                        b"\r\n")
    assert traffic.checks == []

    # the result is the server's: it leaves when the check port says so
    checks.check = always(response(500))
    srv.wait_log(unhealthy_line(traffic), IO_TIMEOUT)
    r = one(srv.port, get("/"))
    assert r.status == 502


def test_down_servers_are_not_checked_backups_are(portico, backends):
    main = Health(backends, "main")
    down = Health(backends, "down")
    backup = Health(backends, "backup")
    srv = portico.start(http_conf(upstream(
        "u", [main.addr, down.addr + " down", backup.addr + " backup"],
        "health_check interval=200ms;")))

    wait_for(lambda: len(main.checks) >= 4 and len(backup.checks) >= 4,
             IO_TIMEOUT, what="checks of the main and backup servers")
    assert down.checks == []

    # a backup that fails its checks is not used either
    backup.check = close_at_once
    srv.wait_log(unhealthy_line(backup), IO_TIMEOUT)
    main.check = close_at_once
    srv.wait_log(unhealthy_line(main), IO_TIMEOUT)
    assert one(srv.port, get("/")).status == 502


def test_check_timeout(portico, backends):
    stalled = Health(backends, "s")
    stalled.check = stall
    srv = portico.start(http_conf(upstream(
        "u", [stalled.addr],
        "health_check interval=1s timeout=300ms fails=1;")))

    wait_for(lambda: stalled.checks, IO_TIMEOUT, what="a check")
    t0 = stalled.checks[0][0]
    srv.wait_log(unhealthy_line(stalled) + r"timed out", IO_TIMEOUT)
    assert time.monotonic() - t0 <= 0.3 + SLACK
    # portico closed the check's connection when its time was up
    wait_for(lambda: stalled.backend.closed, IO_TIMEOUT,
             what="the check connection to close")
    assert 0.25 <= stalled.backend.closed[1] - t0 <= 0.3 + SLACK


def test_interval_bounds_the_default_timeout(portico, backends):
    stalled = Health(backends, "s")
    stalled.check = stall
    srv = portico.start(http_conf(upstream(
        "u", [stalled.addr], "health_check interval=400ms;")))

    wait_for(lambda: stalled.checks, IO_TIMEOUT, what="a check")
    t0 = stalled.checks[0][0]
    srv.wait_log(unhealthy_line(stalled) + r"timed out", IO_TIMEOUT)
    # timeout = min(5s, interval)
    assert time.monotonic() - t0 <= 0.4 + SLACK


def test_jitter_keeps_one_check_per_interval(portico, backends):
    h = Health(backends, "h")
    portico.start(http_conf(upstream(
        "u", [h.addr], "health_check interval=200ms jitter=100ms;")))
    wait_for(lambda: len(h.checks) >= 6, IO_TIMEOUT, what="6 checks")
    times = [c[0] for c in h.checks[:6]]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(0.15 <= g <= 0.3 + SLACK for g in gaps), gaps


def test_zone_may_follow_health_check(portico, backends):
    h = Health(backends, "h")
    portico.start(http_conf(
        "    upstream u {\n"
        "        server %s;\n"
        "        health_check interval=200ms;\n"
        "        zone u 64k;\n"
        "    }\n" % h.addr))
    wait_for(lambda: len(h.checks) >= 2, IO_TIMEOUT, what="checks")


# ---------------------------------------------------------------------------
# match blocks

BIG = 300 * 1024


class Closing(bytes):
    """An answer after which the backend closes the connection."""


def raw_answer(data):
    if isinstance(data, Closing):
        def answer(req):
            req.close = True
            return bytes(data)
        return answer
    return always(data)


# (match block lines, check answer, passes?)
MATCH_CASES = [
    ("status 200;", response(200), True),
    ("status 200;", response(204, length=False), False),
    ("status 200 204;", response(204, length=False), True),
    ("status ! 500;", response(404), True),
    ("status ! 500;", response(500), False),
    ("status 200-399;", response(301, headers=[("Location", "/x")]), True),
    ("status 200-399;", response(404), False),
    ("status 301-303 307;", response(307), True),
    ("status 301-303 307;", response(304, length=False), False),
    ("status ! 400-599;", response(302), True),
    ("status ! 400-599;", response(503), False),
    ("header Content-Type = text/html;",
     response(200, b"x", [("Content-Type", "text/html")]), True),
    ("header Content-Type = text/html;",
     response(200, b"x", [("Content-Type", "text/plain")]), False),
    ("header Content-Type = text/html;", response(200, b"x"), False),
    ("header content-type = text/html;",
     response(200, b"x", [("CONTENT-TYPE", "text/html")]), True),
    ("header X-Mode != maintenance;",
     response(200, b"x", [("X-Mode", "live")]), True),
    ("header X-Mode != maintenance;",
     response(200, b"x", [("X-Mode", "maintenance")]), False),
    ("header X-Mode != maintenance;", response(200, b"x"), False),
    ('header X-Ver ~ "^v[0-9]+$";',
     response(200, b"x", [("X-Ver", "v12")]), True),
    ('header X-Ver ~ "^v[0-9]+$";',
     response(200, b"x", [("X-Ver", "beta")]), False),
    ("header X-Ver !~ ^v0;", response(200, b"x", [("X-Ver", "v1")]), True),
    ("header X-Ver !~ ^v0;", response(200, b"x", [("X-Ver", "v0.9")]),
     False),
    ("header X-Ready;", response(200, b"x", [("X-Ready", "")]), True),
    ("header X-Ready;", response(200, b"x"), False),
    ("header ! X-Maint;", response(200, b"x"), True),
    ("header ! X-Maint;", response(200, b"x", [("X-Maint", "1")]), False),
    ('body ~ "Welcome to";', response(200, b"<h1>Welcome to it</h1>"),
     True),
    ('body ~ "Welcome to";', response(200, b"<h1>Bye</h1>"), False),
    ('body !~ "maintenance mode";', response(200, b"all fine"), True),
    ('body !~ "maintenance mode";',
     response(200, b"in maintenance mode"), False),
    # a chunked body is decoded before the test
    ("body ~ needle;",
     response(200, chunked(b"hay" * 100 + b"nee" + b"dle", 3),
              [("Transfer-Encoding", "chunked")], length=False), True),
    # a body that ends with the connection
    ("body ~ needle;", Closing(response(200, b"a needle",
                                        [("Connection", "close")],
                                        length=False)), True),
    ("body ~ needle;", Closing(response(200, b"a pin",
                                        [("Connection", "close")],
                                        length=False)), False),
    # only the first 256 KiB are looked at
    ("body ~ needle;", response(200, b"x" * (BIG - 10) + b"needle"), False),
    ("body ~ needle;",
     response(200, b"x" * (200 * 1024) + b"needle" + b"y" * 100 * 1024),
     True),
    # every test must pass
    ("status 200; header X-A = 1; body ~ ok;",
     response(200, b"ok", [("X-A", "1")]), True),
    ("status 200; header X-A = 1; body ~ ok;",
     response(200, b"ok", [("X-A", "2")]), False),
    ("status 200; header X-A = 1; body ~ ok;",
     response(200, b"no", [("X-A", "1")]), False),
    # an empty block: any complete answer passes
    ("", response(500), True),
    # interim answers are skipped
    ("status 200;", b"HTTP/1.1 100 Continue\r\n\r\n" + response(200), True),
    # what the proxy would reject fails whatever the tests say
    ("", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False),
    ("", b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", False),
    ("", b"ICY 200 OK\r\n\r\n", False),
    ("", b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", False),
]

# without a match block: 2xx and 3xx pass
PLAIN_CASES = [
    (response(200), True),
    (response(204, length=False), True),
    (response(302, headers=[("Location", "/")]), True),
    (response(399), True),
    (response(404), False),
    (response(500), False),
]


def run_cases(portico, backends, cases):
    """
    One upstream per case, with its own server and match block. A case
    that should pass starts failing (the check's connection closes) and
    must turn healthy on the answer; one that should fail must turn
    unhealthy on it. Returns the cases that did not.
    """
    hs = []
    ups = ""
    matches = ""
    for i, (lines, answer, passes) in enumerate(cases):
        h = Health(backends, "m%d" % i)
        h.check = close_at_once if passes else raw_answer(answer)
        hs.append(h)
        # a generous timeout: dozens of backends answer at once
        if lines is None:
            check = "health_check interval=200ms timeout=2s;"
        else:
            check = "health_check interval=200ms timeout=2s match=m%d;" % i
            matches += "    match m%d {\n        %s\n    }\n" % (i, lines)
        ups += upstream("u%d" % i, [h.addr], check)

    srv = portico.start(http_conf(
        ups + matches, locations="location / { proxy_pass http://u0; }"))

    for i, (lines, answer, passes) in enumerate(cases):
        if passes:
            srv.wait_log(unhealthy_line(hs[i], "u%d" % i), IO_TIMEOUT)
            hs[i].check = raw_answer(answer)

    bad = []
    for i, (lines, answer, passes) in enumerate(cases):
        want = healthy_line if passes else unhealthy_line
        try:
            srv.wait_log(want(hs[i], "u%d" % i), IO_TIMEOUT)
        except AssertionError:
            bad.append((lines, answer[:80], passes))

    # a few more rounds: nobody flips back
    for h in hs:
        n = len(h.checks)
        wait_for(lambda: len(h.checks) >= n + 2, IO_TIMEOUT,
                 what="two more checks of %s" % h.name)
    for i, (lines, answer, passes) in enumerate(cases):
        flipped = unhealthy_line if passes else healthy_line
        n = log_count(srv, flipped(hs[i], "u%d" % i))
        if n != (1 if passes else 0):
            bad.append(("flipped", lines, answer[:80], passes))
    return bad


def test_match_tests(portico, backends):
    assert run_cases(portico, backends, MATCH_CASES) == []


def test_without_match_2xx_and_3xx_pass(portico, backends):
    cases = [(None, answer, passes) for answer, passes in PLAIN_CASES]
    assert run_cases(portico, backends, cases) == []


# ---------------------------------------------------------------------------
# configuration errors

def expect_error(tmp_path, body, message, needle, occurrence=1):
    conf = write_config(tmp_path, body)
    line = line_of(conf, needle, occurrence)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1, err
    assert out == ""
    assert err == ("portico: [emerg] %s in %s:%d\n"
                   "portico: configuration file %s test failed\n"
                   % (message, conf, line, conf))


def conf_with(check, extra="", zone="        zone u 64k;\n"):
    return ("http {\n"
            "    upstream u {\n"
            "%s"
            "        server 127.0.0.1:1;\n"
            "        %s\n"
            "    }\n"
            "%s"
            "    server {\n"
            "        listen 127.0.0.1:2;\n"
            "        location / { proxy_pass http://u; }\n"
            "    }\n"
            "}\n" % (zone, check, extra))


@pytest.mark.parametrize("check, message", [
    ("health_check interval=0;", 'invalid parameter "interval=0"'),
    ("health_check interval=soon;", 'invalid parameter "interval=soon"'),
    ("health_check interval=;", 'invalid parameter "interval="'),
    ("health_check jitter=x;", 'invalid parameter "jitter=x"'),
    ("health_check timeout=0;", 'invalid parameter "timeout=0"'),
    ("health_check fails=0;", 'invalid parameter "fails=0"'),
    ("health_check fails=-1;", 'invalid parameter "fails=-1"'),
    ("health_check passes=two;", 'invalid parameter "passes=two"'),
    ("health_check port=0;", 'invalid parameter "port=0"'),
    ("health_check port=65536;", 'invalid parameter "port=65536"'),
    ("health_check uri=status;", 'invalid parameter "uri=status"'),
    ('health_check "uri=/a b";', 'invalid parameter "uri=/a b"'),
    ("health_check mandatory;", 'invalid parameter "mandatory"'),
    ("health_check type=grpc;", 'invalid parameter "type=grpc"'),
    ("health_check; health_check;", '"health_check" directive is duplicate'),
])
def test_bad_health_check(tmp_path, check, message):
    expect_error(tmp_path, conf_with(check), message, "health_check")


def test_health_check_requires_a_zone(tmp_path):
    expect_error(tmp_path, conf_with("health_check;", zone=""),
                 'health_check requires a "zone" in upstream "u"',
                 "health_check")


def test_health_check_outside_upstream(tmp_path):
    body = ("http {\n    server {\n        listen 127.0.0.1:2;\n"
            "        health_check;\n    }\n}\n")
    expect_error(tmp_path, body,
                 '"health_check" directive is not allowed here',
                 "health_check")


def test_unknown_match(tmp_path):
    expect_error(tmp_path,
                 conf_with("health_check match=nope;",
                           "    match yes { status 200; }\n"),
                 'unknown match "nope"', "match=nope")


@pytest.mark.parametrize("tests, needle, message", [
    ("status;", "status;", 'invalid number of arguments in "status" test'),
    ("status !;", "status !;",
     'invalid number of arguments in "status" test'),
    ("status 99;", "status 99", 'invalid status "99"'),
    ("status 600;", "status 600", 'invalid status "600"'),
    ("status 300-200;", "status 300", 'invalid status "300-200"'),
    ("status 2xx;", "status 2xx", 'invalid status "2xx"'),
    ("header;", "header;", 'invalid number of arguments in "header" test'),
    ("header X == y;", "header X", 'invalid operator "==" in "header" test'),
    ('header "X Y" = 1;', "header", 'invalid header name "X Y"'),
    ('header X ~ "(";', "header X",
     'missing closing parenthesis in "("'),
    ("body ~;", "body ~;", 'invalid number of arguments in "body" test'),
    ("body = x;", "body = x", 'invalid operator "=" in "body" test'),
    ('body ~ "a)b";', "body ~",
     'unmatched closing parenthesis at ")b"'),
    ("require $x;", "require",
     '"require" tests are not supported in match'),
    ("bogus 1;", "bogus", 'unknown test "bogus" in match'),
])
def test_bad_match(tmp_path, tests, needle, message):
    body = conf_with("health_check match=m;",
                     "    match m {\n        status 200;\n        %s\n"
                     "    }\n" % tests)
    expect_error(tmp_path, body, message, needle)


def test_duplicate_match(tmp_path):
    body = conf_with("health_check match=m;",
                     "    match m { status 200; }\n"
                     "    match m { status 204; }\n")
    expect_error(tmp_path, body, 'duplicate match "m"', "match m", 2)


def test_match_outside_http(tmp_path):
    body = "match m { status 200; }\n" + conf_with("health_check;")
    expect_error(tmp_path, body, '"match" directive is not allowed here',
                 "match m")


def test_valid_configuration_passes_the_test(tmp_path):
    body = conf_with(
        "health_check interval=2s jitter=1s fails=3 passes=2 "
        "uri=/health?x=1 port=8080 match=ok timeout=500ms;",
        "    match ok {\n"
        "        status 200-399;\n"
        "        status ! 301-303 307;\n"
        "        header Content-Type = text/html;\n"
        "        header Content-Type != text/plain;\n"
        "        header Connection ~ close;\n"
        "        header Connection !~ keep;\n"
        "        header Host;\n"
        "        header ! X-Accel-Redirect;\n"
        '        body ~ "Welcome to nginx!";\n'
        '        body !~ "maintenance mode";\n'
        "    }\n"
        "    match empty { }\n")
    conf = write_config(tmp_path, body)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0, err


def test_an_unhealthy_server_stays_out_across_a_reload(portico, backends):
    """The new generation starts with what the old one knew."""
    a, b = Health(backends, "a"), Health(backends, "b")
    b.check = always(response(500))
    conf = http_conf(upstream("u", [a.addr, b.addr],
                              "health_check interval=30s timeout=30s "
                              "fails=1 passes=1;"))
    srv = portico.start(conf, process=WORKERS)
    srv.wait_log(unhealthy_line(b), IO_TIMEOUT)
    old = set(worker_pids(srv))

    # the new generation's first check of b hangs (until its 30 s
    # timeout): only what is carried over keeps b out meanwhile
    def stall(req):
        b.backend.wait(IO_TIMEOUT * 4)

    b.check = stall
    srv.rewrite(conf.replace("access_log", "# reloaded\n    access_log"),
                process=WORKERS)
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: not set(worker_pids(srv)) & old
             and len(worker_pids(srv)) == 2, IO_TIMEOUT * 2,
             what="two new workers")
    with b.lock:
        served = len(b.traffic)
    for i in range(20):
        c = Client(srv.port)
        r = c.request(get("/"))
        c.close()
        assert r.status == 200 and r.header("X-Backend") == "a"
    with b.lock:
        assert len(b.traffic) == served
