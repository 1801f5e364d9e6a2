"""
Running out of connections or descriptors: the worker stops accepting for
a while, says so once, and keeps serving the connections it has; the
clients that had to wait are served once room is made.
"""
import re
import socket
import time

import pytest

from conftest import get, parse_response, wait_for, needs_module

pytestmark = needs_module("pt_http_rewrite_module")

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

    assert server.alive()


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
