"""
A full disk under client_body_temp_path: request bodies larger than
client_body_buffer_size spill to a temp file on a tmpfs of 64 KiB.  A body
that does not fit is a clean 500 (our own page, the connection closed, the
backend never asked), the error log says why once per failure and names
the directory, the space is given back, and the requests that fit (in
memory or on disk) go on being served.

Mounting a tmpfs needs root (CAP_SYS_ADMIN); elsewhere the tests skip.
"""

import hashlib
import os
import re
import subprocess

import pytest

from conftest import Client, get, recv_until_close, parse_response
from test_proxy import response, start
from test_proxy import backends  # noqa: F401 (the fixture)


TMPFS_SIZE = 64 * 1024

ENOSPC_LINE = (r"\[crit\].*pwrite\(\) of the request body to a temporary "
               r"file in \"%s\" failed \(28: No space left on device\)")


@pytest.fixture
def full_disk(tmp_path):
    """A directory on a tmpfs of TMPFS_SIZE bytes, unmounted afterwards."""
    path = tmp_path / "bodies"
    path.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%d,mode=1777" % TMPFS_SIZE, "tmpfs",
                        str(path)], capture_output=True)
    if p.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s"
                    % p.stderr.decode(errors="replace").strip())
    try:
        yield path
    finally:
        # the server has stopped by now: the tests ask for this fixture
        # before "portico", which is therefore torn down first
        if subprocess.run(["umount", str(path)]).returncode != 0:
            subprocess.run(["umount", "-l", str(path)])


def digest_backend(backends):
    """Answers with the length and SHA-256 of the body it got."""
    return backends(lambda backend, req: response(
        200, b"%d %s" % (req.body_len, req.sha256.encode())))


def post(body, path="/", chunked=False):
    head = b"POST %s HTTP/1.1\r\nHost: x\r\n" % path.encode()
    if chunked:
        data = b""
        for i in range(0, len(body), 4096):
            part = body[i:i + 4096]
            data += b"%x\r\n%s\r\n" % (len(part), part)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + data \
            + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def body_of(n, seed):
    return (hashlib.sha256(seed.encode()).hexdigest().encode() * (n // 64
                                                                  + 1))[:n]


def assert_stored(port, body, chunked=False):
    """The body reaches the backend whole; the connection goes on."""
    c = Client(port)
    resp = c.request(post(body, chunked=chunked))
    assert resp.status == 200, resp
    assert resp.body == b"%d %s" % (len(body),
                                    hashlib.sha256(body).hexdigest().encode())
    assert resp.header("Connection") == "keep-alive"
    # and the connection is fine for the next request
    assert c.request(get("/next")).status == 200
    c.close()


def assert_refused(port, body, chunked=False):
    """A 500 of our own, and the connection closes."""
    c = Client(port, timeout=10)
    try:
        c.send(post(body, chunked=chunked))
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, closed = recv_until_close(c.sock, timeout=10)
    c.close()
    assert closed, data
    resp, end = parse_response(data)
    assert resp.status == 500, resp
    assert b"<title>500 Internal Server Error</title>" in resp.body
    assert resp.header("Connection") == "close"
    assert end == len(data), data[end:]


def test_full_temp_disk_is_a_clean_500(full_disk, portico, backends):
    b = digest_backend(backends)
    server = start(portico, """
        location / {
            client_body_buffer_size 8k;
            client_body_temp_path %s;
            client_max_body_size 10m;
            proxy_pass http://%s;
        }""" % (full_disk, b.addr),
        expect_log=[r"No space left on device"])
    enospc = re.compile(ENOSPC_LINE % re.escape(str(full_disk)))

    def failures():
        return len(enospc.findall(server.error_log()))

    # a body that fits the disk is written there and sent on
    assert_stored(server.port, body_of(40000, "fits"))
    assert failures() == 0

    # one that does not: 500, logged once, not sent on
    asked = len(b.requests)
    assert_refused(server.port, body_of(200000, "too big"))
    server.wait_log(enospc.pattern)
    assert failures() == 1
    assert len(b.requests) == asked

    # bodies in memory are not affected
    assert_stored(server.port, body_of(1000, "small"))

    # the failed request's file is gone with it: the space is back
    assert_stored(server.port, body_of(40000, "fits again"))
    assert os.statvfs(str(full_disk)).f_bfree * os.statvfs(
        str(full_disk)).f_bsize == TMPFS_SIZE

    # a chunked body fails the same way, with its own line
    assert_refused(server.port, body_of(150000, "chunked"), chunked=True)
    server.wait_log(enospc.pattern)
    assert failures() == 2
    assert len(b.requests) == asked + 2 * 2

    assert_stored(server.port, body_of(30000, "last"), chunked=True)
    assert server.alive()
