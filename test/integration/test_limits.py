"""
Running out of connections or descriptors: the worker stops accepting for
a while, says so once, and keeps serving the connections it has; the
clients that had to wait are served once room is made.
"""
import os
import re
import socket
import time

import pytest

from conftest import (PORTICO_WRAPPER, get, group_members, needs_module,
                      parse_response, wait_for)

pytestmark = needs_module("pt_http_rewrite_module")

# valgrind keeps descriptors of its own at the top of the range and does
# not let the program lower its limit (setrlimit() fails with EPERM)
sets_rlimit = pytest.mark.skipif(
    any("valgrind" in os.path.basename(w) for w in PORTICO_WRAPPER[:1]),
    reason="worker_rlimit_nofile cannot be set under valgrind")

CONF = """
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / { return 200 "ok\\n"; }
    }
}
"""

PARTIAL = b"GET / HTTP/1.1\r\nHost: a\r\n"


def finish_and_read(s):
    s.sendall(b"\r\n")
    data = b""
    s.settimeout(5)
    while b"ok\n" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    resp, _ = parse_response(data, eof=False)
    assert resp.status == 200 and resp.body == b"ok\n"


def open_partial(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(PARTIAL)
        socks.append(s)
    return socks


def test_worker_connections_exhausted_keeps_serving(portico):
    server = portico.start(CONF, events="worker_connections 16;",
                           process="master_process off;",
                           expect_log=[r"worker_connections are not enough"])
    port = server.ports["port"]

    # 15 slots besides the listener: fill them with requests in progress
    busy = open_partial(port, 15)

    # the excess waits in the backlog, it is not dropped
    extra = open_partial(port, 5)
    wait_for(lambda: "worker_connections are not enough"
             in server.error_log(), timeout=5)

    # the connections in progress are unharmed
    for s in busy:
        finish_and_read(s)
        s.close()

    # once room is made, the waiting clients are served too
    for s in extra:
        finish_and_read(s)
        s.close()

    # one shortage, one line
    assert server.error_log().count("worker_connections are not enough") == 1
    assert server.alive()


@sets_rlimit
def test_descriptor_exhaustion_backs_off_and_recovers(portico):
    server = portico.start(
        "worker_rlimit_nofile 40;\n" + CONF,
        events="worker_connections 1000;",
        process="master_process off;",
        expect_log=[r"accept4\(\) failed", r"Too many open files"])
    port = server.ports["port"]

    # more clients than descriptors: the worker hits EMFILE
    socks = open_partial(port, 60)

    wait_for(lambda: re.search(r"\[crit\].*accept4\(\) failed.*"
                               r"Too many open files", server.error_log()),
             timeout=5)

    # logged once per episode, not for every refused accept
    assert server.error_log().count("accept4() failed") <= 3

    # the accepted ones are served; then room frees up for the others
    for s in socks:
        finish_and_read(s)
        s.close()

    # and the server is healthy afterwards
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(get("/"))
    data = s.recv(4096)
    assert data.startswith(b"HTTP/1.1 200 OK")
    s.close()
    assert server.alive()


def cpu_seconds(pid):
    """User and system time that process pid has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def unread_by_each(socks):
    """
    What unread_bytes() says for each of socks, in one reading of the
    kernel's table (it can be long on a busy machine); None unless every
    connection is found.
    """
    ends = {(s.getpeername()[1], s.getsockname()[1]): i
            for i, s in enumerate(socks)}
    found = [None] * len(socks)
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            local = int(fields[1].rsplit(":", 1)[1], 16)
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            i = ends.get((local, remote))
            if i is not None and fields[3] == "01":
                found[i] = int(fields[4].split(":")[1], 16)
    return found if None not in found else None


@sets_rlimit
def test_descriptor_shortage_is_one_episode_in_a_worker(portico):
    server = portico.start(
        "worker_rlimit_nofile 32;\n" + CONF,
        events="worker_connections 1000;",
        process="master_process on; worker_processes 1;",
        expect_log=[r"accept4\(\) failed.*Too many open files"])
    port = server.ports["port"]
    worker, = [p for p in group_members(server.pid) if p != server.pid]

    server.wait_log(r"\[warn\].*1000 worker_connections exceed the open "
                    r"file limit of 32")

    # more clients than the worker has descriptors for
    socks = open_partial(port, 50)
    server.wait_log(r"\[crit\].*accept4\(\) failed, not accepting for 500ms"
                    r".*\(24: Too many open files\)")

    # the worker has read the heads of those it accepted; the others wait
    # in the queue with their bytes unread
    queues = wait_for(lambda: unread_by_each(socks),
                      what="every connection to be established")
    accepted = [s for s, n in zip(socks, queues) if n == 0]
    waiting = [s for s, n in zip(socks, queues) if n]
    assert len(accepted) > 10 and len(waiting) > 10, (len(accepted),
                                                      len(waiting))

    # the shortage goes on for several backoff periods (500ms each): no
    # condition to wait for, the point is that nothing happens
    cpu = cpu_seconds(worker)
    time.sleep(2.0)
    assert cpu_seconds(worker) - cpu < 0.5, "the worker spins"
    assert server.error_log().count("accept4() failed") == 1

    # meanwhile the connections it holds are served (and stay open)
    for s in accepted[:5]:
        finish_and_read(s)

    # the clients leave, the waiting ones too: new clients are served
    for s in socks:
        s.close()

    def served():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            return False
        try:
            s.sendall(get("/"))
            resp, _ = parse_response(s.recv(4096), eof=False)
            return resp.status == 200 and resp.body == b"ok\n"
        except (OSError, ValueError):
            return False
        finally:
            s.close()

    wait_for(served, timeout=5, interval=0.1, what="a new client served")
    for _ in range(20):
        assert served()

    # once accepting has gone well for a while, one line closes the
    # episode (and the next shortage is logged again)
    wait_for(lambda: served() and re.search(
        r"\[notice\].*accepting normally again after \d+ accept4\(\) "
        r"failures in \d+\.\d{3}s", server.error_log()),
        timeout=12, interval=0.5, what="the end of the shortage")
    assert server.error_log().count("accept4() failed") == 1
    assert server.alive() and worker in group_members(server.pid)
