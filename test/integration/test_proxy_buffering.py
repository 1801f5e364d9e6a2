"""
The buffering policies of the proxy.

Responses: with proxy_buffering on (the default) the body is read as fast
as the backend sends it, into proxy_buffers and then an unlinked file
under proxy_temp_path, and the backend's connection is let go as soon as
all of it is read, while the client is still receiving; with
proxy_max_temp_file_size 0, or with proxy_buffering off, or when the
backend says "X-Accel-Buffering: no", a slow client holds the backend back
and memory stays bounded. Every framing (Content-Length, chunked,
close-delimited) arrives intact through small buffers and the temp file,
and bodiless answers (HEAD, 204, 304) keep the backend connection.

Request bodies: with proxy_request_buffering off the request goes to the
backend as soon as its head is read and its body follows as the client
sends it (chunked stays chunked for an HTTP/1.1 backend; HTTP/1.0 gets the
whole body with a length), each side holding the other back;
client_max_body_size and client_body_timeout still apply, and a body that
has begun to go is never sent to another server.

Then the configuration errors, each at the line of the directive at fault.

The backends are the threads of test_proxy.py.
"""

import hashlib
import os
import re
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from conftest import (Client, IncompleteResponse, connect, get,
                      parse_response, recv_until_close, run_portico,
                      unread_bytes, wait_for)
from test_proxy import (Backend, chunked, free_dead_port, http, response,
                        rss_kib, sent_digest, start, worker_pids)
from test_proxy import backends  # noqa: F401 (the fixture)


# ---------------------------------------------------------------------------
# helpers

def big_backend(size, headers=b"", framing="length", block=1 << 16,
                sndbuf=1 << 16, cut=None):
    """
    A handler that sends a size-byte body as fast as the backend's socket
    takes it, with the framing asked for ("length", "chunked", "close").
    It counts what it sent in backend.progress, and sets
    backend.sent_sha256 and backend.finished (a time) at the end. Its
    socket buffer is small, so that little of a held back body hides in
    the kernel. With cut, it closes the connection after that many bytes
    of the body.
    """
    data = os.urandom(block)

    def handler(backend, req):
        if not req.target.startswith(b"/big"):
            return Backend.echo(backend, req)
        req.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        head = b"HTTP/1.1 200 OK\r\n" + headers
        if framing == "length":
            head += b"Content-Length: %d\r\n" % size
        elif framing == "chunked":
            head += b"Transfer-Encoding: chunked\r\n"
        else:
            head += b"Connection: close\r\n"
        req.sock.sendall(head + b"\r\n")
        h = hashlib.sha256()
        sent = 0
        i = 0
        end = size if cut is None else cut
        while sent < end:
            # odd sizes, so that chunks and reads never line up
            n = min(end - sent, block - (i * 977) % 5000)
            piece = data[i % 101:] + data[:i % 101]
            piece = piece[:n]
            h.update(piece)
            if framing == "chunked":
                req.sock.sendall(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            else:
                req.sock.sendall(piece)
            sent += n
            backend.progress = sent
            i += 1
        if framing == "chunked" and cut is None:
            req.sock.sendall(b"0\r\nX-Trailer: t\r\n\r\n")
        if framing == "close" or cut is not None:
            req.close = True
        backend.sent_sha256 = h.hexdigest()
        backend.finished = time.monotonic()
        return None

    return handler


def new_backend(backends, handler):
    b = backends(handler)
    b.progress = 0
    b.finished = None
    b.sent_sha256 = None
    return b


def small_client(port, rcvbuf=16384, timeout=60):
    """A client whose socket takes little before the server must wait."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        assert d, data
        data += d
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def read_length_body(s, head, rest, pause_until=None):
    """sha256 and size of a Content-Length body, rest read already."""
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    h = hashlib.sha256(rest)
    got = len(rest)
    while got < length:
        d = s.recv(min(1 << 20, length - got))
        assert d, "closed after %d of %d bytes" % (got, length)
        h.update(d)
        got += len(d)
    return h.hexdigest(), got


class ChunkedReader:
    """Decodes a chunked body from a socket as it comes, hashing it."""

    def __init__(self, s, rest):
        self.s = s
        self.buf = rest
        self.h = hashlib.sha256()
        self.size = 0

    def need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(1 << 20)
            assert d, "closed inside the chunked body"
            self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.need(len(self.buf) + 1)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read(self):
        while True:
            size = int(self.line().split(b";")[0], 16)
            if size == 0:
                while self.line():
                    pass
                return self.h.hexdigest(), self.size
            self.need(size + 2)
            self.h.update(self.buf[:size])
            assert self.buf[size:size + 2] == b"\r\n"
            self.buf = self.buf[size + 2:]
            self.size += size


def deleted_files_under(pids, directory):
    """The unlinked files under directory that the processes hold open."""
    found = []
    prefix = str(directory) + "/"
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith(prefix) and target.endswith(" (deleted)"):
                found.append(target)
    return found


def wait_stalled(b, quiet=0.5, timeout=20):
    """Waits until the backend has sent nothing more for quiet seconds."""
    seen = [None, time.monotonic()]

    def stalled():
        now = time.monotonic()
        if b.progress != seen[0]:
            seen[0], seen[1] = b.progress, now
            return False
        return now - seen[1] >= quiet

    wait_for(stalled, timeout, what="the backend to be held back")
    return b.progress


# Where the temporary files go: a directory of its own under /tmp, not
# under pytest's, whose top directory any pytest starting on the machine
# makes private again, which would shut the unprivileged workers out.
SPOOL = None


@pytest.fixture(autouse=True)
def spool():
    global SPOOL
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="ptspool")
    os.chmod(d, 0o755)
    SPOOL = Path(d)
    yield SPOOL
    SPOOL = None
    shutil.rmtree(d, ignore_errors=True)


def loc(b, extra=""):
    if "proxy_temp_path" not in extra:
        extra += " proxy_temp_path %s/proxy;" % SPOOL
    return "location / { proxy_pass http://%s; %s }" % (b.addr, extra)


# more than the socket buffers on the way can hide (the receive buffer of
# the proxy's upstream connection may grow to tens of MiB)
SIZE = 48 << 20


# ---------------------------------------------------------------------------
# proxy_buffering on

def test_slow_client_gets_the_body_from_a_temp_file_and_the_backend_is_free(
        portico, backends):
    """
    48 MiB for a client that does not read: the backend finishes, its
    connection is closed while the client is stalled, the rest waits in an
    unlinked file under proxy_temp_path, not in memory; then every byte
    arrives.
    """
    b = new_backend(backends, big_backend(SIZE))
    srv = start(portico, loc(b))
    temp = SPOOL / "proxy"
    pids = worker_pids(srv)
    c = Client(srv.port)
    assert c.request(get("/warm")).status == 200
    c.close()
    base = max(rss_kib(p) for p in pids)
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")

    wait_for(lambda: b.finished, 30, what="the backend to finish")
    wait_for(lambda: 2 in b.closed, 10,
             what="the backend connection to close")
    files = deleted_files_under(pids, temp)
    assert len(files) == 1, files
    grown = max(rss_kib(p) for p in pids) - base
    assert grown < 16 * 1024, (base, grown)
    srv.wait_log(r"\[warn\].*an upstream response is buffered to a "
                 r"temporary file in \"%s\"" % re.escape(str(temp)))
    assert len(b.requests) == 2

    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)
    # the file went with the request
    wait_for(lambda: not deleted_files_under(pids, temp), 5,
             what="the temp file to be closed")


def test_kept_alive_backend_connection_serves_others_meanwhile(
        portico, backends):
    """
    With keepalive, the connection of a finished response goes back to the
    pool while its client is still receiving: the next request reuses it.
    """
    b = new_backend(backends, big_backend(SIZE))
    # one worker: both clients reach the same pool of idle connections
    srv = start(portico, "location / { proxy_pass http://ka; "
                         "proxy_temp_path %s; }" % SPOOL,
                extra="upstream ka { server %s; keepalive 2; }" % b.addr,
                process="master_process on; worker_processes 1;")
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    wait_for(lambda: b.finished, 30, what="the backend to finish")

    c = Client(srv.port)
    resp = c.request(get("/other"))
    c.close()
    assert resp.status == 200 and resp.body == b"b GET /other"
    assert b.conns == 1 and [r.conn for r in b.requests] == [1, 1]

    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


def test_max_temp_file_size_0_holds_the_backend_back(portico, backends):
    b = new_backend(backends, big_backend(SIZE))
    srv = start(portico, loc(b, "proxy_max_temp_file_size 0;"))
    temp = SPOOL / "proxy"
    pids = worker_pids(srv)
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)

    sent = wait_stalled(b)
    assert b.finished is None and sent < SIZE
    assert not deleted_files_under(pids, temp)
    assert "temporary file" not in srv.error_log()

    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)
    assert b.finished


def test_max_temp_file_size_caps_the_file(portico, backends):
    """The file grows to the limit; then the backend waits for the client."""
    b = new_backend(backends, big_backend(SIZE))
    srv = start(portico, loc(b, "proxy_max_temp_file_size 1m;"))
    temp = SPOOL / "proxy"
    pids = worker_pids(srv)
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)

    wait_stalled(b)
    assert b.finished is None
    files = deleted_files_under(pids, temp)
    assert len(files) == 1, files
    pid, fd = None, None
    for p in pids:
        for f in os.listdir("/proc/%d/fd" % p):
            try:
                if os.readlink("/proc/%d/fd/%s" % (p, f)) == files[0]:
                    pid, fd = p, f
            except OSError:
                pass
    assert os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size <= 1 << 20

    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


def test_temp_file_that_cannot_be_made_holds_the_backend_back(portico,
                                                              backends):
    """
    No file can be made in proxy_temp_path: that is logged, and the
    response goes on as with proxy_max_temp_file_size 0, whole.
    """
    b = new_backend(backends, big_backend(SIZE))
    srv = start(portico, loc(b),
                expect_log=[r"\[crit\].*could not create a temporary file"])
    temp = SPOOL / "proxy"
    if os.geteuid() == 0:
        # the workers are unprivileged: shut them out above the directory
        os.chmod(SPOOL, 0o700)
    else:
        os.chmod(temp, 0o500)
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    srv.wait_log(r"\[crit\].*could not create a temporary file in \"%s\""
                 % re.escape(str(temp)), timeout=30)
    sent = wait_stalled(b)
    assert b.finished is None and sent < SIZE
    digest, got = read_length_body(s, head, rest)
    s.close()
    os.chmod(SPOOL, 0o755)
    os.chmod(temp, 0o700)
    assert got == SIZE and digest == sent_digest(b)


TMPFS_SIZE = 64 * 1024


@pytest.fixture
def full_spool(spool):
    """
    A temp path on a tmpfs of TMPFS_SIZE bytes, unmounted afterwards (ask
    for it before "portico", which is then stopped first). Mounting needs
    root (CAP_SYS_ADMIN); elsewhere the test skips.
    """
    import subprocess
    path = spool / "full"
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
        if subprocess.run(["umount", str(path)]).returncode != 0:
            subprocess.run(["umount", "-l", str(path)])


def test_full_temp_disk_holds_the_backend_back(full_spool, portico,
                                               backends):
    """
    The temp file fills the disk: logged once, naming the directory; the
    response goes on whole, the backend held back; the space comes back.
    """
    b = new_backend(backends, big_backend(SIZE))
    srv = start(portico, loc(b, "proxy_temp_path %s;" % full_spool),
                expect_log=[r"No space left on device"])
    enospc = re.compile(r"\[crit\].*pwritev\(\) of an upstream response to "
                        r"a temporary file in \"%s\" failed \(28: No space "
                        r"left on device\)" % re.escape(str(full_spool)))
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    srv.wait_log(enospc.pattern, timeout=30)
    sent = wait_stalled(b)
    assert b.finished is None and sent < SIZE
    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)
    assert len(enospc.findall(srv.error_log())) == 1

    def space_back():
        st = os.statvfs(str(full_spool))
        return st.f_bfree * st.f_bsize == TMPFS_SIZE

    wait_for(space_back, 5, what="the temp file's space to come back")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_every_framing_intact_through_small_buffers_and_the_file(
        portico, backends, framing):
    """
    Buffers of 1k make every read end inside a chunk's framing somewhere;
    the client gets exactly the bytes (re-framed for it).
    """
    size = 8 << 20
    b = new_backend(backends, big_backend(size, framing=framing,
                                          block=7919))
    srv = start(portico, loc(b, "proxy_buffer_size 1k; proxy_buffers 4 1k; "
                                "proxy_busy_buffers_size 2k; "
                                "proxy_temp_file_write_size 1k;"))
    temp = SPOOL / "proxy"
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    wait_for(lambda: b.finished, 30, what="the backend to finish")
    assert deleted_files_under(worker_pids(srv), temp)

    if framing == "length":
        assert b"Content-Length: %d\r\n" % size in head
        digest, got = read_length_body(s, head, rest)
    else:
        # no length known: chunked for an HTTP/1.1 client
        assert b"Transfer-Encoding: chunked\r\n" in head
        digest, got = ChunkedReader(s, rest).read()
    s.close()
    assert got == size and digest == sent_digest(b)


@pytest.mark.parametrize("buffering", ["on", "off"])
@pytest.mark.parametrize("head_size", [300, 3000])
def test_head_kept_while_the_body_follows(portico, backends, buffering,
                                          head_size):
    """
    The response's header fields stay where the head was read while the
    body is read after it (in the rest of the buffer, or in a new one when
    the head took more than half of proxy_buffer_size): a long field the
    client gets after megabytes of body is still whole, and so is the
    body.
    """
    size = 4 << 20
    value = (b"0123456789abcdef" * (head_size // 16 + 1))[:head_size]
    b = new_backend(backends, big_backend(size, headers=b"X-Long: %s\r\n"
                                          % value, block=7919))
    log = SPOOL / "up.log"
    srv = start(portico, loc(b, "proxy_buffer_size 4k; proxy_buffers 4 4k; "
                                "proxy_busy_buffers_size 8k; "
                                "proxy_buffering %s;" % buffering),
                extra='log_format up "[$upstream_http_x_long]"; '
                      'access_log %s up;' % log)
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    assert b"X-Long: %s\r\n" % value in head
    digest, got = read_length_body(s, head, rest)
    s.close()
    wait_for(lambda: b.finished, 30, what="the backend to finish")
    assert got == size and digest == sent_digest(b)
    # the field as the log reads it at the end, after all the body
    wait_for(lambda: log.exists() and log.read_bytes().endswith(b"]\n"), 10,
             what="the access log line")
    assert log.read_bytes() == b"[%s]\n" % value


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_response_cut_short_gives_what_was_read_then_ends(portico, backends,
                                                          framing):
    """
    The backend closes in the middle of the body while the client is
    behind: everything it sent (most of it in the temp file by then) still
    reaches the client, then the connection ends without the end of the
    body, so the client knows it is incomplete.
    """
    cut = SIZE // 2
    b = new_backend(backends, big_backend(SIZE, framing=framing, cut=cut))
    srv = start(portico, loc(b))
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    wait_for(lambda: b.closed, 30, what="the backend to close")
    srv.wait_log(r"upstream prematurely closed connection while reading "
                 r"upstream")
    if framing == "length":
        assert b"Content-Length: %d\r\n" % SIZE in head
        data, closed = recv_until_close(s, 30)
        data = rest + data
        digest, got = hashlib.sha256(data).hexdigest(), len(data)
    else:
        reader = ChunkedReader(s, rest)
        with pytest.raises(AssertionError, match="closed inside"):
            reader.read()
        closed = True
        digest, got = reader.h.hexdigest(), reader.size
    s.close()
    assert closed and got == cut and digest == sent_digest(b)


def test_fast_client_streams_with_buffering_on(portico, backends):
    """Buffering is no holding back: pieces go as they come."""
    seen = threading.Event()

    def handler(backend, req):
        req.sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
                         b"first")
        assert seen.wait(5)
        req.sock.sendall(b"later")

    b = backends(handler)
    srv = start(portico, loc(b, "proxy_buffering on;"))
    c = Client(srv.port)
    c.send(get("/"))
    data = b""
    while not data.endswith(b"first"):
        d = c.sock.recv(65536)
        assert d
        data += d
    seen.set()
    c.buf = data
    resp = c.response()
    assert resp.body == b"firstlater"
    c.close()


def test_bodiless_answers_keep_the_backend_connection(portico, backends):
    """HEAD, 204 and 304 through the pipe: no body waited for, reuse."""
    def handler(backend, req):
        if req.target == b"/204":
            return b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n"
        if req.target == b"/304":
            return (b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n"
                    b"Content-Length: 1234\r\n\r\n")
        if req.method == b"HEAD":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 4321\r\n\r\n"
        return response(200, b"body")

    b = backends(handler)
    srv = start(portico, "location / { proxy_pass http://ka; }",
                extra="upstream ka { server %s; keepalive 2; }" % b.addr)
    c = Client(srv.port)
    resp = c.request(get("/h", method=b"HEAD"), head=True)
    assert resp.status == 200 and resp.header("Content-Length") == "4321"
    resp = c.request(get("/204"))
    assert resp.status == 204 and resp.header("X-A") == "1"
    assert resp.raw.endswith(b"\r\n\r\n")
    resp = c.request(get("/304"))
    assert resp.status == 304 and resp.header("ETag") == '"e"'
    resp = c.request(get("/g"))
    assert resp.status == 200 and resp.body == b"body"
    c.close()
    assert b.conns == 1 and len(b.requests) == 4


def test_temp_path_with_levels(portico, backends):
    b = new_backend(backends, big_backend(SIZE))
    temp = SPOOL / "px"
    srv = start(portico, loc(b, "proxy_temp_path %s 1 2;" % temp))
    assert stat.S_IMODE(os.stat(temp).st_mode) == 0o700
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    wait_for(lambda: b.finished, 30, what="the backend to finish")
    files = deleted_files_under(worker_pids(srv), temp)
    assert len(files) == 1, files
    # DIR/D/DD/name (deleted)
    assert re.match(re.escape(str(temp)) + r"/\d/\d\d/\S+ \(deleted\)$",
                    files[0]), files
    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


# ---------------------------------------------------------------------------
# streaming: proxy_buffering off, X-Accel-Buffering

def test_buffering_off_streams_200_mib_with_bounded_memory(portico, backends):
    size = 200 << 20
    b = new_backend(backends, big_backend(size, block=1 << 20))
    srv = start(portico, loc(b, "proxy_buffering off;"))
    temp = SPOOL / "proxy"
    pids = worker_pids(srv)
    c = Client(srv.port)
    assert c.request(get("/warm")).status == 200
    base = max(rss_kib(p) for p in pids)

    s = small_client(srv.port, rcvbuf=1 << 16)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    # the client stalls: the backend is held back, nothing goes to disk
    sent = wait_stalled(b)
    assert sent < size and b.finished is None
    assert not deleted_files_under(pids, temp)

    # then trickles: a little at a time
    h = hashlib.sha256(rest)
    got = len(rest)
    peak = base
    n = 0
    while got < size:
        d = s.recv(min(256 << 10, size - got))
        assert d, "closed after %d bytes" % got
        h.update(d)
        got += len(d)
        n += 1
        if n % 16 == 0:
            peak = max([peak] + [rss_kib(p) for p in pids])
            if got < 16 << 20:
                time.sleep(0.005)
    s.close()
    c.close()
    assert got == size and h.hexdigest() == sent_digest(b)
    # one proxy_buffer_size buffer: far below 16 MiB, whatever the size
    assert peak - base < 16 * 1024, (base, peak)


def test_x_accel_buffering_no_streams(portico, backends):
    b = new_backend(backends, big_backend(SIZE,
                                          headers=b"X-Accel-Buffering: no\r\n"))
    srv = start(portico, loc(b))
    temp = SPOOL / "proxy"
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    # hidden from the client, obeyed by the proxy
    assert b"X-Accel-Buffering" not in head
    wait_stalled(b)
    assert b.finished is None
    assert not deleted_files_under(worker_pids(srv), temp)
    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


def test_x_accel_buffering_yes_buffers_with_buffering_off(portico, backends):
    b = new_backend(backends, big_backend(
        SIZE, headers=b"X-Accel-Buffering: yes\r\n"))
    srv = start(portico, loc(b, "proxy_buffering off;"))
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    wait_for(lambda: b.finished, 30, what="the backend to finish")
    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


def test_ignore_headers_x_accel_buffering(portico, backends):
    """proxy_ignore_headers X-Accel-Buffering: the field changes nothing."""
    b = new_backend(backends, big_backend(SIZE,
                                          headers=b"X-Accel-Buffering: no\r\n"))
    srv = start(portico, loc(b, "proxy_ignore_headers X-Accel-Buffering;"))
    s = small_client(srv.port)
    s.sendall(get("/big"))
    head, rest = read_head(s)
    assert b"X-Accel-Buffering" not in head
    wait_for(lambda: b.finished, 30, what="the backend to finish")
    digest, got = read_length_body(s, head, rest)
    s.close()
    assert got == SIZE and digest == sent_digest(b)


# ---------------------------------------------------------------------------
# proxy_request_buffering off

def raw_backend(script):
    """A Backend whose every connection runs script(backend, sock, n)."""
    def run(backend, s, n):
        script(backend, s, n)
    return run


def recv_exactly(backend, s, buf, n, timeout=10):
    while len(buf) < n:
        d = backend.recv(s, timeout)
        if not d:
            break
        buf += d
    return buf


def recv_head(backend, s, timeout=10):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = backend.recv(s, timeout)
        assert d, buf
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def test_body_reaches_the_backend_before_the_client_sent_all(portico,
                                                             backends):
    first, second = os.urandom(100000), os.urandom(50000)
    got_first = threading.Event()
    seen = {}

    def script(backend, s, n):
        head, body = recv_head(backend, s)
        seen["head"] = head
        body = recv_exactly(backend, s, body, len(first))
        seen["first"] = body
        got_first.set()
        body = recv_exactly(backend, s, body, len(first) + len(second))
        seen["body"] = body
        s.sendall(response(200, b"got %d" % len(body)))
        backend.wait(0.5)

    b = backends(raw=raw_backend(script))
    srv = start(portico, loc(b, "proxy_request_buffering off;"))
    c = Client(srv.port, timeout=10)
    c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % (len(first) + len(second)) + first)
    # the backend has the head and the first part while the rest is unsent
    assert got_first.wait(10)
    assert seen["first"] == first
    assert b"Content-Length: %d\r\n" % (len(first) + len(second)) \
        in seen["head"]
    assert b"Transfer-Encoding" not in seen["head"]
    c.send(second)
    resp = c.response()
    assert resp.status == 200 and resp.body == b"got 150000"
    assert seen["body"] == first + second
    c.close()


def test_chunked_body_goes_chunked_as_it_comes(portico, backends):
    parts = [os.urandom(n) for n in (1, 5000, 70000, 3)]
    got_first = threading.Event()
    seen = {}

    def script(backend, s, n):
        head, buf = recv_head(backend, s)
        seen["head"] = head
        # the first chunk arrives before the client sent the others
        while b"\r\n" not in buf or len(buf) < 4:
            buf += backend.recv(s, 10)
        got_first.set()
        while not buf.endswith(b"0\r\n\r\n"):
            d = backend.recv(s, 10)
            assert d
            buf += d
        seen["raw"] = buf
        s.sendall(response(200, b"ok"))
        backend.wait(0.5)

    b = backends(raw=raw_backend(script))
    srv = start(portico, loc(b, "proxy_request_buffering off;"))
    c = Client(srv.port, timeout=10)
    c.send(b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%s\r\n" % (len(parts[0]), parts[0]))
    assert got_first.wait(10)
    for p in parts[1:]:
        c.send(b"%x;e=\"v\"\r\n%s\r\n" % (len(p), p))
    c.send(b"0\r\nX-T: 1\r\n\r\n")
    resp = c.response()
    assert resp.status == 200 and resp.body == b"ok"
    head = seen["head"]
    assert b"Transfer-Encoding: chunked\r\n" in head
    assert b"Content-Length" not in head
    # valid chunked coding of the same bytes (extensions and trailers gone)
    decoded, end = b"", 0
    raw = seen["raw"]
    while True:
        eol = raw.index(b"\r\n", end)
        size = int(raw[end:eol], 16)
        if size == 0:
            assert raw[eol:] == b"\r\n\r\n"
            break
        decoded += raw[eol + 2:eol + 2 + size]
        assert raw[eol + 2 + size:eol + 4 + size] == b"\r\n"
        end = eol + 4 + size
    assert decoded == b"".join(parts)
    c.close()


def test_chunked_body_to_an_http10_backend_is_read_whole(portico, backends):
    b = backends()
    srv = start(portico, loc(b, "proxy_request_buffering off; "
                                "proxy_http_version 1.0;"))
    body = os.urandom(30000)
    c = Client(srv.port)
    resp = c.request(b"POST /c HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n"
                     + chunked(body, 1000))
    assert resp.status == 200
    req = b.last()
    assert req.version == b"HTTP/1.0"
    assert req.header("Content-Length") == str(len(body))
    assert req.header("Transfer-Encoding") is None
    assert req.body == body
    c.close()


def test_streamed_bodies_then_keepalive(portico, backends):
    """Both connections carry on after a streamed body, pipelining too."""
    b = backends()
    srv = start(portico, "location / { proxy_pass http://ka; "
                         "proxy_request_buffering off; }",
                extra="upstream ka { server %s; keepalive 2; }" % b.addr)
    c = Client(srv.port)
    body = os.urandom(200000)
    c.send(b"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % len(body) + body)
    assert c.response().body == b"b POST /1"
    c.send(b"POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"\r\n" + chunked(body, 4096) + get("/3"))
    assert c.response().body == b"b POST /2"
    assert c.response().body == b"b GET /3"
    c.close()
    assert [r.body_len for r in b.requests] == [len(body), len(body), 0]
    assert b.requests[0].sha256 == hashlib.sha256(body).hexdigest()
    assert b.requests[1].sha256 == hashlib.sha256(body).hexdigest()
    assert b.conns == 1


def test_backend_that_does_not_read_holds_the_client_back(portico, backends):
    size = 64 << 20
    go = threading.Event()
    seen = {}

    def script(backend, s, n):
        head, buf = recv_head(backend, s)
        assert go.wait(30)
        h = hashlib.sha256(buf)
        got = len(buf)
        while got < size:
            d = backend.recv(s, 10)
            assert d
            h.update(d)
            got += len(d)
        seen["sha"] = h.hexdigest()
        s.sendall(response(200, b"ok"))
        backend.wait(0.5)

    b = backends(raw=raw_backend(script))
    srv = start(portico, loc(b, "proxy_request_buffering off; "
                                "client_max_body_size 0;"))
    s = connect(srv.port, timeout=30)
    s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % size)
    s.setblocking(False)
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    sent = 0
    deadline = time.monotonic() + 20
    # send until nobody takes more: the proxy stopped reading the client
    while time.monotonic() < deadline:
        try:
            n = s.send(block[sent % len(block):])
            h.update(block[sent % len(block):][:n])
            sent += n
        except BlockingIOError:
            if unread_bytes(s):
                break
            time.sleep(0.01)
    assert 0 < sent < size
    assert unread_bytes(s) > 0
    s.setblocking(True)
    go.set()
    while sent < size:
        piece = block[sent % len(block):][:size - sent]
        s.sendall(piece)
        h.update(piece)
        sent += len(piece)
    resp, _ = parse_response(read_response(s), eof=False)
    s.close()
    assert resp.status == 200 and seen["sha"] == h.hexdigest()


def read_response(s):
    """The bytes of one whole response from s."""
    data = b""
    while True:
        try:
            parse_response(data, eof=False)
            return data
        except IncompleteResponse:
            pass
        d = s.recv(65536)
        assert d, data
        data += d


def test_413_before_anything_is_sent(portico, backends):
    b = backends()
    srv = start(portico, loc(b, "proxy_request_buffering off; "
                                "client_max_body_size 10;"))
    c = Client(srv.port)
    resp = c.request(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
                     b"\r\n01234567890")
    assert resp.status == 413
    c.close()
    assert b.conns == 0


def test_chunked_body_over_the_limit_is_a_413_and_the_request_ends(
        portico, backends):
    def script(backend, s, n):
        while backend.recv(s, 10):
            pass
        backend.ended = time.monotonic()

    b = backends(raw=raw_backend(script))
    b.ended = None
    srv = start(portico, loc(b, "proxy_request_buffering off; "
                                "client_max_body_size 1k;"))
    c = Client(srv.port, timeout=10)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"\r\n200\r\n" + b"a" * 512 + b"\r\n")
    wait_for(lambda: b.conns, 5, what="the request to go upstream")
    c.send(b"201\r\n" + b"b" * 513 + b"\r\n0\r\n\r\n")
    resp = c.response()
    assert resp.status == 413
    # the upstream request is abandoned: its connection closed
    wait_for(lambda: b.ended, 5, what="the backend connection to close")
    c.close()
    srv.wait_log(r"client intended to send too large chunked body")


def test_client_that_stops_mid_body_times_out(portico, backends):
    def script(backend, s, n):
        buf = b""
        while True:
            d = backend.recv(s, 10)
            if not d:
                break
            buf += d
        backend.got = buf
        backend.ended = time.monotonic()

    b = backends(raw=raw_backend(script))
    b.ended = None
    srv = start(portico, loc(b, "proxy_request_buffering off; "
                                "client_body_timeout 1s;"))
    c = Client(srv.port, timeout=10)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
           b"0123456789")
    wait_for(lambda: b.conns, 5, what="the request to go upstream")
    t0 = time.monotonic()
    data, took = c.wait_closed(timeout=8)
    assert data == b""          # no response: the connection just ends
    assert 0.8 <= took < 5, took
    wait_for(lambda: b.ended, 5, what="the backend connection to close")
    assert b.got.endswith(b"\r\n\r\n0123456789")
    assert b.ended - t0 < 5
    srv.wait_log(r"\[info\].*client timed out while sending the request "
                 r"body")


def test_no_retry_once_body_bytes_went(portico, backends):
    """
    The first server takes part of the body and fails: the body is gone,
    so the next server is not tried (502).
    """
    def failing(backend, s, n):
        head, buf = recv_head(backend, s)
        recv_exactly(backend, s, buf, 1000)
        s.close()

    b1 = backends(raw=raw_backend(failing), name="one")
    b2 = backends(name="two")
    srv = start(portico, "location / { proxy_pass http://g; "
                         "proxy_request_buffering off; "
                         "proxy_next_upstream error timeout non_idempotent; }",
                extra="upstream g { server %s; server %s; }"
                      % (b1.addr, b2.addr))
    c = Client(srv.port, timeout=10)
    body = os.urandom(300000)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % len(body) + body[:5000])
    wait_for(lambda: b1.conns, 5, what="the first server")
    try:
        c.send(body[5000:])
    except OSError:
        pass
    data, closed = recv_until_close(c.sock, 10)
    c.close()
    resp, _ = parse_response(data, eof=True)
    assert resp.status == 502
    assert b2.requests == []


def test_retry_before_any_body_byte_went(portico, backends):
    """A server that cannot be connected to: the next one gets it all."""
    b = backends(name="two")
    srv = start(portico, "location / { proxy_pass http://g; "
                         "proxy_request_buffering off; }",
                extra="upstream g { server 127.0.0.1:%d; server %s; }"
                      % (free_dead_port(), b.addr))
    c = Client(srv.port)
    body = os.urandom(100000)
    resp = c.request(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                     b"\r\n" % len(body) + body)
    c.close()
    assert resp.status == 200 and resp.body == b"two PUT /x"
    assert b.last().body_len == len(body)
    assert b.last().sha256 == hashlib.sha256(body).hexdigest()


def test_early_answer_ends_the_body(portico, backends):
    """The backend answers before the body is all there: no keep-alive."""
    def script(backend, s, n):
        recv_head(backend, s)
        s.sendall(response(403, b"no"))
        while backend.recv(s, 10):
            pass

    b = backends(raw=raw_backend(script))
    srv = start(portico, loc(b, "proxy_request_buffering off;"))
    c = Client(srv.port, timeout=10)
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
           b"abc")
    resp = c.response()
    assert resp.status == 403 and resp.body == b"no"
    assert resp.header("Connection") == "close"
    c.close()


def test_intercepted_answer_before_the_body_ends_the_connection(
        portico, backends):
    """
    The rest of a body the client is still sending is never taken for a
    request: the error page goes out, then the connection ends.
    """
    def script(backend, s, n):
        recv_head(backend, s)
        s.sendall(response(404, b"oops"))
        while backend.recv(s, 10):
            pass

    b = backends(raw=raw_backend(script))
    srv = start(portico, """
        lingering_timeout 1s;
        location / {
            proxy_pass http://%s;
            proxy_request_buffering off;
            proxy_intercept_errors on;
            error_page 404 = @fallback;
        }
        location @fallback { return 200 fallback; }""" % b.addr)
    c = Client(srv.port, timeout=10)
    smuggled = get("/evil")
    c.send(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
           % (10 + len(smuggled)) + b"0123456789")
    resp = c.response()
    assert resp.status == 200 and resp.body == b"fallback"
    assert resp.header("Connection") == "close"
    try:
        c.send(smuggled)
    except OSError:
        pass
    data, took = c.wait_closed(timeout=8)
    assert b"HTTP/1.1" not in data
    c.close()


def test_error_page_cannot_send_a_streamed_body_again(portico, backends):
    b1 = backends(lambda backend, req: response(503, b"busy"), name="one")
    b2 = backends(name="two")
    srv = start(portico, """
        location / {
            proxy_pass http://%s;
            proxy_request_buffering off;
            proxy_intercept_errors on;
            error_page 503 = @again;
        }
        location @again {
            proxy_pass http://%s;
            proxy_request_buffering off;
        }""" % (b1.addr, b2.addr))
    c = Client(srv.port)
    resp = c.request(b"PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"\r\nhello")
    c.close()
    assert resp.status == 500
    assert b1.last().body == b"hello" and b2.requests == []
    srv.wait_log(r"\[error\].*the request body was passed on as it came and "
                 r"cannot be sent again")


# ---------------------------------------------------------------------------
# configuration

def conf_error(tmp_path, text):
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc == 1, err
    emerg = [l for l in err.splitlines() if "[emerg]" in l]
    assert emerg, err
    return emerg[0], tmp_path / "portico.conf"


def at(conf, needle):
    text = conf.read_text()
    for n, line in enumerate(text.split("\n"), 1):
        if n > 1 and needle in line:
            return " in %s:%d" % (conf, n)
    raise AssertionError(needle)


@pytest.mark.parametrize("lines, bad, message", [
    (["proxy_buffers 1 8k;"], "proxy_buffers",
     r'there must be at least 2 "proxy_buffers"'),
    (["proxy_buffers x 8k;"], "proxy_buffers",
     r'invalid number "x" in "proxy_buffers" directive'),
    (["proxy_buffers 8 0;"], "proxy_buffers",
     r'invalid size "0" in "proxy_buffers" directive'),
    (["proxy_buffers 4 4k;", "proxy_busy_buffers_size 8k;"],
     "proxy_busy_buffers_size",
     r'"proxy_busy_buffers_size" must be equal to or greater than the '
     r'maximum of the value of "proxy_buffer_size" and one of the '
     r'"proxy_buffers"'),
    (["proxy_buffers 4 8k;", "proxy_busy_buffers_size 32k;"],
     "proxy_busy_buffers_size",
     r'"proxy_busy_buffers_size" must be less than the size of all '
     r'"proxy_buffers" minus one buffer'),
    (["proxy_buffer_size 64k;"], "proxy_buffer_size",
     r'"proxy_busy_buffers_size" must be less than the size of all '
     r'"proxy_buffers" minus one buffer'),
    (["proxy_temp_file_write_size 4k;"], "proxy_temp_file_write_size",
     r'"proxy_temp_file_write_size" must be equal to or greater than the '
     r'maximum of the value of "proxy_buffer_size" and one of the '
     r'"proxy_buffers"'),
    (["proxy_max_temp_file_size 8k;"], "proxy_max_temp_file_size",
     r'"proxy_max_temp_file_size" must be equal to zero to disable '
     r'temporary files usage or must be equal to or greater than the '
     r'maximum of the value of "proxy_buffer_size" and one of the '
     r'"proxy_buffers"'),
    (["proxy_max_temp_file_size lots;"], "proxy_max_temp_file_size",
     r'invalid size "lots" in "proxy_max_temp_file_size" directive'),
    (["proxy_busy_buffers_size 1x;"], "proxy_busy_buffers_size",
     r'invalid size "1x" in "proxy_busy_buffers_size" directive'),
    (["proxy_buffering maybe;"], "proxy_buffering",
     r'invalid value "maybe" in "proxy_buffering" directive'),
    (["proxy_request_buffering 1;"], "proxy_request_buffering",
     r'invalid value "1" in "proxy_request_buffering" directive'),
    (["proxy_temp_path /tmp/x 1 0;"], "proxy_temp_path",
     r'invalid level "0" in "proxy_temp_path" directive'),
    (["proxy_temp_path /tmp/x 4 4 3;"], "proxy_temp_path",
     r'the levels of "proxy_temp_path" name more than 10 digits'),
    (["proxy_temp_path /tmp/x 1 1 1 1;"], "proxy_temp_path",
     r'invalid number of arguments in "proxy_temp_path" directive'),
    (["proxy_buffers 8 8k;", "proxy_buffers 8 8k;"], "proxy_buffers 8 8k;",
     r'"proxy_buffers" directive is duplicate'),
])
def test_config_errors(tmp_path, lines, bad, message):
    text = ("server {\n    listen 127.0.0.1:1;\n    location / {\n"
            "        proxy_pass http://127.0.0.1:1;\n"
            + "".join("        %s\n" % l for l in lines)
            + "    }\n}")
    line, conf = conf_error(tmp_path, text)
    assert re.search(message, line), line
    # the line of the directive at fault (its last one when repeated)
    where = [n for n, l in enumerate(conf.read_text().split("\n"), 1)
             if n > 1 and bad in l][-1]
    assert line.endswith(" in %s:%d" % (conf, where)), line


def test_inherited_values_are_checked_where_they_meet(tmp_path):
    """A location's buffer size against the server's busy size."""
    text = ("server {\n    listen 127.0.0.1:1;\n"
            "    proxy_busy_buffers_size 16k;\n"
            "    location / {\n"
            "        proxy_pass http://127.0.0.1:1;\n"
            "        proxy_buffer_size 32k;\n"
            "    }\n}")
    line, conf = conf_error(tmp_path, text)
    assert '"proxy_busy_buffers_size" must be equal to or greater' in line
    assert line.endswith(at(conf, "proxy_busy_buffers_size"))


def test_valid_configuration(tmp_path):
    rc, out, err = run_portico(["-t"], http(
        "proxy_buffering off;\nproxy_buffers 16 4k;\n"
        "proxy_busy_buffers_size 16k;\nproxy_temp_file_write_size 64k;\n"
        "proxy_max_temp_file_size 0;\nproxy_temp_path t 1 2 2;\n"
        "proxy_request_buffering off;\n"
        "server { listen 127.0.0.1:1; location / { "
        "proxy_pass http://127.0.0.1:1; proxy_buffering on; "
        "proxy_buffer_size 4k; proxy_max_temp_file_size 2g; } }"),
        tmp=tmp_path)
    assert rc == 0, err


def test_temp_path_is_created_at_start(portico):
    srv = portico.start(http(
        "server { listen 127.0.0.1:{port}; location / { return 204; } }\n"
        "server { listen 127.0.0.1:{port2}; proxy_temp_path {tmp}/a/b/c; "
        "location / { return 204; } }"))
    for d in (Path(srv.tmp) / "temp" / "proxy", Path(srv.tmp) / "a/b/c"):
        assert d.is_dir(), d
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
