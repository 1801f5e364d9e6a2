"""
Response compression: the gzip and brotli filters, gzip_static,
brotli_static and gunzip, the Accept-Encoding parsing they share, and
$gzip_ratio and $brotli_ratio.

Every compressed body is decoded here and compared byte for byte with what
was served, for static files and for proxied bodies of every size that
matters (0, 1, around min_length, 1 MiB, 100 MiB streamed), gzip with
Python's zlib and brotli with the python3-brotli module or, without it,
the brotli command-line tool (tests that need one of them skip with the
reason when neither is installed). Also covered: what is never compressed
(an existing Content-Encoding, passed through byte-exact; 204, 304, HEAD,
206 and Range requests; types not listed; lengths under min_length), the
head of a compressed response (no Content-Length, chunked on HTTP/1.1 and
close-delimited on 1.0, weak ETags, one Vary), q-values, brotli winning
over gzip, server-sent events arriving event by event through the
compressor, and the server's RSS staying bounded while it compresses
100 MiB. The ratios are checked in access log lines against the bytes
that were sent; the .br and .gz files made ahead of time against the
files themselves.
"""

import gzip
import hashlib
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

from conftest import (Client, IO_TIMEOUT, connect, get, group_members,
                      line_of, open_to_workers, parse_response, run_portico,
                      wait_for, write_config)

try:
    import brotli as brotli_py
except ImportError:     # python3-brotli is not installed
    brotli_py = None


BROTLI_CLI = shutil.which("brotli")

MTIME = 1700000000
MIN_LENGTH = 100

# sanitizer builds hold freed memory in quarantine: RSS is no measure there
SANITIZED = None

BIG = 100 << 20


@pytest.fixture(autouse=True)
def compression_modules(portico_modules):
    for m in ("pt_http_gzip_module", "pt_http_static_module",
              "pt_http_proxy_module"):
        if m not in portico_modules:
            pytest.skip("built without %s" % m)


def has_module(portico_modules, name):
    return name in portico_modules


def need_brotli_module(portico_modules):
    if "pt_http_brotli_module" not in portico_modules:
        pytest.skip("built without pt_http_brotli_module")


def sanitized():
    global SANITIZED
    if SANITIZED is None:
        rc, out, err = run_portico(["-V"])
        SANITIZED = "--with-sanitizers" in err or "asan" in str(
            os.environ.get("PORTICO_BIN", ""))
    return SANITIZED


# --------------------------------------------------------------------------
# decoding

def ungzip(data):
    """A gzip stream decoded whole; it must end exactly where data ends."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data) + d.flush()
    assert d.eof, "gzip stream incomplete"
    assert d.unused_data == b"", "bytes after the gzip stream"
    return out


def unbrotli(data):
    """A brotli stream decoded whole, by the module or the command."""
    if brotli_py is not None:
        return brotli_py.decompress(data)
    if BROTLI_CLI:
        p = subprocess.run([BROTLI_CLI, "-d", "-c"], input=data,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout
    pytest.skip("no brotli decoder: install python3-brotli (or brotli)")


def need_brotli_decoder():
    if brotli_py is None and not BROTLI_CLI:
        pytest.skip("no brotli decoder: install python3-brotli (or brotli)")


def need_brotli_stream_decoder():
    if brotli_py is None:
        pytest.skip("decoding brotli as it streams needs python3-brotli")


class Decoder:
    """Decodes a body as it arrives: gzip, br or identity."""

    def __init__(self, coding):
        self.coding = coding
        if coding == "gzip":
            self.d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "br":
            need_brotli_stream_decoder()
            self.d = brotli_py.Decompressor()
        else:
            self.d = None

    def feed(self, data):
        if self.coding == "gzip":
            return self.d.decompress(data)
        if self.coding == "br":
            return self.d.process(data)
        return data

    def finish(self):
        if self.coding == "gzip":
            out = self.d.flush()
            assert self.d.eof and self.d.unused_data == b""
            return out
        if self.coding == "br":
            assert self.d.is_finished()
        return b""


def decode(resp):
    ce = resp.header("Content-Encoding")
    if ce == "gzip":
        return ungzip(resp.body)
    if ce == "br":
        return unbrotli(resp.body)
    assert ce is None, ce
    return resp.body


# --------------------------------------------------------------------------
# data

def text_block(n, seed=1):
    """n bytes of text that compresses a few times over."""
    rnd = random.Random(seed)
    words = [b"portico", b"proxy", b"gzip", b"brotli", b"stream", b"event",
             b"header", b"chunk", b"buffer", b"window", b"filter", b"q=0.5",
             b"\n", b"data:", b"<p>", b"</p>", b"0123", b"4567", b"89ab"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + b" "
        if rnd.random() < 0.05:
            out += b"%08x" % rnd.getrandbits(32)
    return bytes(out[:n])


def big_stream(total, block=1 << 20):
    """The 100 MiB body in blocks, each a little different."""
    base = text_block(block, seed=7)
    sent = 0
    n = 0
    while sent < total:
        part = (b"%010d" % n) + base[10:]
        part = part[:total - sent]
        yield part
        sent += len(part)
        n += 1


def big_sha256(total):
    h = hashlib.sha256()
    for part in big_stream(total):
        h.update(part)
    return h.hexdigest()


# --------------------------------------------------------------------------
# a backend

class Backend:
    """
    An HTTP/1.1 backend on 127.0.0.1 in threads: for each request it reads
    the head and calls handler(sock, head, backend); the connection is
    closed after it (the tests' responses end by length, chunking or the
    close).
    """

    def __init__(self, handler):
        self.handler = handler
        self.heads = []
        self.errors = []
        self.stopping = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,),
                             daemon=True).start()

    def _serve(self, s):
        try:
            s.settimeout(30)
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = s.recv(65536)
                if not data:
                    return
                buf += data
            head = buf[:buf.index(b"\r\n\r\n") + 4]
            self.heads.append(head)
            self.handler(s, head, self)
        except (OSError, AssertionError) as e:
            if not self.stopping.is_set():
                self.errors.append(repr(e))
        finally:
            s.close()

    def stop(self):
        self.stopping.set()
        self.lsock.close()
        self.thread.join(2)


@pytest.fixture
def backend():
    started = []

    def start(handler):
        b = Backend(handler)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def reply(status=200, body=b"", headers=(), length=True, reason=None):
    """A handler answering with a fixed response."""
    if reason is None:
        reason = {200: "OK", 204: "No Content", 206: "Partial Content",
                  304: "Not Modified", 403: "Forbidden", 404: "Not Found",
                  500: "Internal Server Error"}.get(status, "X")

    def handler(s, head, backend):
        out = b"HTTP/1.1 %d %s\r\n" % (status, reason.encode())
        for name, value in headers:
            out += ("%s: %s\r\n" % (name, value)).encode("latin1")
        if length == "chunked":
            out += b"Transfer-Encoding: chunked\r\n\r\n"
            if body:
                out += b"%x\r\n%s\r\n" % (len(body), body)
            out += b"0\r\n\r\n"
        elif length:
            out += b"Content-Length: %d\r\n\r\n" % len(body) + body
        else:
            out += b"Connection: close\r\n\r\n" + body
        if head.startswith(b"HEAD ") or status in (204, 304):
            out = out[:out.index(b"\r\n\r\n") + 4]
        s.sendall(out)

    return handler


# --------------------------------------------------------------------------
# servers

class Root:
    def __init__(self, base):
        self.path = Path(os.path.realpath(base)) / "www"
        self.path.mkdir()

    def put(self, rel, data, mtime=MTIME):
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, 0o644)
        os.utime(p, (mtime, mtime))
        return p

    def share(self):
        for d, dirs, files in os.walk(self.path):
            os.chmod(d, 0o755)
        open_to_workers(self.path)


@pytest.fixture
def root(tmp_path):
    return Root(tmp_path)


def start(portico, root, inner, http="", **values):
    """One server on {port}: http-level lines, then the server's inner."""
    root.share()
    conf = """
http {
    types { text/html html; text/plain txt; text/css css;
            application/octet-stream bin; text/event-stream sse; }
    %s
    server {
        listen 127.0.0.1:{port};
        root %s;
        %s
    }
}
""" % (http, root.path, inner)
    return portico.start(conf, **values)


def fetch(port, path="/", ae=None, method=b"GET", extra=b"",
          version=b"HTTP/1.1", timeout=IO_TIMEOUT):
    h = extra
    if ae is not None:
        if isinstance(ae, str):
            ae = ae.encode()
        h = b"Accept-Encoding: " + ae + b"\r\n" + h
    c = Client(port, timeout=timeout)
    try:
        if version == b"HTTP/1.0":
            c.send(get(path, method=method, extra=h, version=version))
            data, _ = c.wait_closed(timeout)
            resp, _ = parse_response(data, head=method == b"HEAD")
            return resp
        return c.request(get(path, method=method, extra=h),
                         head=method == b"HEAD")
    finally:
        c.close()


def check_compressed(resp, coding, original):
    """A compressed response's head and body, as the issue asks."""
    assert resp.status == 200, resp
    assert resp.header("Content-Encoding") == coding
    assert resp.header("Content-Length") is None
    assert resp.header("Accept-Ranges") is None
    assert resp.header("Transfer-Encoding") == "chunked"
    assert decode(resp) == original


GZIP_BR = """
    gzip on; gzip_min_length %d; gzip_types text/plain text/event-stream;
    gzip_vary on;
""" % MIN_LENGTH

BR = """
    brotli on; brotli_min_length %d; brotli_types text/plain
    text/event-stream;
""" % MIN_LENGTH


def codings(portico_modules):
    out = ["gzip"]
    if "pt_http_brotli_module" in portico_modules:
        out.append("br")
    return out


# --------------------------------------------------------------------------
# sizes, byte for byte

SIZES = [0, 1, MIN_LENGTH - 1, MIN_LENGTH, MIN_LENGTH + 1, 1 << 20]


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_static_sizes(portico, root, coding, portico_modules):
    if coding == "br":
        need_brotli_module(portico_modules)
        need_brotli_decoder()
    data = {}
    for n in SIZES:
        data[n] = text_block(n, seed=n)
        root.put("f%d.txt" % n, data[n])
    server = start(portico, root, GZIP_BR + (BR if coding == "br" else ""))

    for n in SIZES:
        resp = fetch(server.port, "/f%d.txt" % n, ae=coding)
        if n < MIN_LENGTH:
            # a known length under min_length is sent as it is
            assert resp.header("Content-Encoding") is None, (n, resp)
            assert resp.header("Content-Length") == str(n)
            assert resp.body == data[n]
        else:
            check_compressed(resp, coding, data[n])


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_static_zero_min_length_compresses_empty_and_one(portico, root,
                                                         coding,
                                                         portico_modules):
    if coding == "br":
        need_brotli_module(portico_modules)
        need_brotli_decoder()
    root.put("empty.txt", b"")
    root.put("one.txt", b"x")
    inner = ("gzip on; gzip_min_length 0; gzip_types text/plain;"
             if coding == "gzip" else
             "brotli on; brotli_min_length 0; brotli_types text/plain;")
    server = start(portico, root, inner)
    check_compressed(fetch(server.port, "/empty.txt", ae=coding), coding,
                     b"")
    check_compressed(fetch(server.port, "/one.txt", ae=coding), coding, b"x")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_proxied_sizes(portico, root, backend, coding, framing,
                       portico_modules):
    if coding == "br":
        need_brotli_module(portico_modules)
        need_brotli_decoder()
    data = {n: text_block(n, seed=n + 3) for n in SIZES}

    def handler(s, head, b):
        n = int(head.split(b" ")[1].split(b"/")[-1])
        length = {"length": True, "chunked": "chunked",
                  "close": False}[framing]
        reply(200, data[n], [("Content-Type", "text/plain")],
              length=length)(s, head, b)

    be = backend(handler)
    server = start(portico, root, GZIP_BR + (BR if coding == "br" else "")
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)

    for n in SIZES:
        resp = fetch(server.port, "/p/%d" % n, ae=coding)
        if framing == "length" and n < MIN_LENGTH:
            assert resp.header("Content-Encoding") is None
            assert resp.body == data[n]
        else:
            # an unknown length is compressed whatever it turns out to be
            check_compressed(resp, coding, data[n])
    assert not be.errors


def read_streamed(sock, on_body, timeout):
    """
    Reads one response from sock, handing body bytes to on_body as they
    come; returns the head's (status, headers dict).
    """
    deadline = time.monotonic() + timeout
    buf = b""

    def more():
        left = deadline - time.monotonic()
        assert left > 0, "response not complete in time"
        sock.settimeout(left)
        data = sock.recv(1 << 20)
        return data

    while b"\r\n\r\n" not in buf:
        data = more()
        assert data, "closed before the head"
        buf += data
    end = buf.index(b"\r\n\r\n")
    lines = buf[:end].split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode().lower()] = v.strip().decode()
    buf = buf[end + 4:]

    if "chunked" in headers.get("transfer-encoding", ""):
        while True:
            while b"\r\n" not in buf:
                data = more()
                assert data, "closed inside a chunk size"
                buf += data
            line, buf = buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while not buf.startswith(b"\r\n"):
                    data = more()
                    assert data
                    buf += data
                return status, headers
            while size:
                if not buf:
                    buf = more()
                    assert buf, "closed inside a chunk"
                take = buf[:size]
                on_body(take)
                buf = buf[len(take):]
                size -= len(take)
            while len(buf) < 2:
                data = more()
                assert data
                buf += data
            assert buf[:2] == b"\r\n"
            buf = buf[2:]
    elif "content-length" in headers:
        left = int(headers["content-length"])
        if buf:
            on_body(buf[:left])
            left -= len(buf[:left])
        while left:
            data = more()
            assert data, "closed early"
            on_body(data[:left])
            left -= len(data[:left])
        return status, headers
    else:
        if buf:
            on_body(buf)
        while True:
            data = more()
            if not data:
                return status, headers
            on_body(data)


class RssWatch:
    """
    How much the peak RSS (VmHWM) of the server's processes grew since
    the watch started: the largest growth of any one of them.
    """

    def __init__(self, server):
        self.pgid = server.pid
        self.start = self.peaks()

    def peaks(self):
        out = {}
        for pid in group_members(self.pgid):
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            out[pid] = int(line.split()[1]) * 1024
            except OSError:
                pass
        return out

    def growth(self):
        now = self.peaks()
        return max([now[p] - self.start.get(p, 0) for p in now] or [0])


def big_transfer(port, path, coding, total):
    """Fetches path, decoding as it streams; returns (sha256, length)."""
    h = hashlib.sha256()
    got = [0]
    dec = Decoder(coding)

    def on_body(data):
        out = dec.feed(data)
        h.update(out)
        got[0] += len(out)

    s = connect(port, timeout=300)
    try:
        s.sendall(get(path, extra=b"Accept-Encoding: %s\r\n"
                      % coding.encode()))
        status, headers = read_streamed(s, on_body, 600)
    finally:
        s.close()
    assert status == 200
    assert headers.get("content-encoding") == coding
    assert "content-length" not in headers
    out = dec.finish()
    h.update(out)
    got[0] += len(out)
    return h.hexdigest(), got[0]


RSS_GROWTH_LIMIT = 32 << 20


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_100mib_proxied_streams_with_bounded_memory(portico, root, backend,
                                                     coding,
                                                     portico_modules):
    if coding == "br":
        need_brotli_module(portico_modules)
        need_brotli_stream_decoder()

    def handler(s, head, b):
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\n\r\n" % BIG)
        for part in big_stream(BIG):
            s.sendall(part)

    be = backend(handler)
    server = start(portico, root,
                   GZIP_BR + (BR if coding == "br" else "")
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    watch = RssWatch(server)
    digest, n = big_transfer(server.port, "/p/big", coding, BIG)
    assert n == BIG
    assert digest == big_sha256(BIG)
    growth = watch.growth()
    if not sanitized():
        assert growth < RSS_GROWTH_LIMIT, "RSS grew by %d bytes" % growth


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_100mib_static_file_with_bounded_memory(portico, root, coding,
                                                portico_modules):
    if coding == "br":
        need_brotli_module(portico_modules)
        need_brotli_stream_decoder()
    with open(root.path / "big.txt", "wb") as f:
        for part in big_stream(BIG):
            f.write(part)
    os.chmod(root.path / "big.txt", 0o644)
    server = start(portico, root, GZIP_BR + (BR if coding == "br" else ""))
    watch = RssWatch(server)
    digest, n = big_transfer(server.port, "/big.txt", coding, BIG)
    assert n == BIG
    assert digest == big_sha256(BIG)
    growth = watch.growth()
    if not sanitized():
        assert growth < RSS_GROWTH_LIMIT, "RSS grew by %d bytes" % growth


def test_slow_client_gets_a_file_compressed_whole(portico, root):
    """A client that does not read for a while: the compressed output
    fills the socket, the filter holds the rest of the file until the
    client reads again, and the body still decodes whole."""
    data = text_block(4 << 20, seed=11) + os.urandom(8 << 20)
    root.put("slow.txt", data)
    server = start(portico, root, GZIP_BR)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.settimeout(60)
    s.connect(("127.0.0.1", server.port))
    try:
        s.sendall(get("/slow.txt", extra=b"Accept-Encoding: gzip\r\n"))
        time.sleep(1)
        body = bytearray()
        status, headers = read_streamed(s, body.extend, 120)
    finally:
        s.close()
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert ungzip(bytes(body)) == data


# --------------------------------------------------------------------------
# what is not compressed

def test_already_encoded_passes_through_byte_exact(portico, root, backend,
                                                   portico_modules):
    raw = gzip.compress(text_block(5000, seed=5), mtime=0)
    be = backend(reply(200, raw, [("Content-Type", "text/plain"),
                                  ("Content-Encoding", "gzip"),
                                  ("ETag", '"abc"')]))
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, GZIP_BR + brotli_line
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    for ae in ("gzip", "br", "gzip, br", None):
        resp = fetch(server.port, "/p/x", ae=ae)
        assert resp.status == 200
        assert resp.header("Content-Encoding") == "gzip"
        assert resp.header("Content-Length") == str(len(raw))
        assert resp.header("ETag") == '"abc"'
        assert resp.body == raw


def test_other_encoding_and_identity_header(portico, root, backend):
    body = b"not really compressed " * 20
    be = backend(reply(200, body, [("Content-Type", "text/plain"),
                                   ("Content-Encoding", "br")]))
    server = start(portico, root, GZIP_BR
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/p/x", ae="gzip")
    assert resp.header("Content-Encoding") == "br"
    assert resp.body == body


@pytest.mark.parametrize("status", [204, 304, 206, 500, 302])
def test_statuses_not_compressed(portico, root, backend, status,
                                 portico_modules):
    body = b"" if status in (204, 304) else text_block(1000)
    headers = [("Content-Type", "text/plain")]
    if status == 206:
        headers.append(("Content-Range", "bytes 0-999/5000"))
    be = backend(reply(status, body, headers))
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, GZIP_BR + brotli_line
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/p/x", ae="gzip, br")
    assert resp.status == status
    assert resp.header("Content-Encoding") is None
    assert resp.body == body


@pytest.mark.parametrize("status", [403, 404])
def test_error_statuses_are_compressed(portico, root, backend, status):
    body = text_block(1000, seed=status)
    be = backend(reply(status, body, [("Content-Type", "text/plain")]))
    server = start(portico, root, GZIP_BR
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/p/x", ae="gzip")
    assert resp.status == status
    assert resp.header("Content-Encoding") == "gzip"
    assert ungzip(resp.body) == body


def test_head_not_compressed(portico, root, backend, portico_modules):
    data = text_block(5000)
    root.put("a.txt", data)
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, GZIP_BR + brotli_line)
    resp = fetch(server.port, "/a.txt", ae="gzip, br", method=b"HEAD")
    assert resp.status == 200
    assert resp.header("Content-Encoding") is None
    assert resp.header("Content-Length") == str(len(data))
    assert resp.body == b""


def test_range_request_gets_identity_part(portico, root, portico_modules):
    data = text_block(5000)
    root.put("a.txt", data)
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, GZIP_BR + brotli_line)
    resp = fetch(server.port, "/a.txt", ae="gzip, br",
                 extra=b"Range: bytes=100-199\r\n")
    assert resp.status == 206
    assert resp.header("Content-Encoding") is None
    assert resp.header("Content-Range") == "bytes 100-199/5000"
    assert resp.body == data[100:200]
    # without Range: compressed, and ranges are no longer offered
    resp = fetch(server.port, "/a.txt", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Accept-Ranges") is None


def test_types_and_min_length(portico, root, portico_modules):
    root.put("a.css", text_block(5000))
    root.put("a.html", text_block(5000))
    root.put("a.bin", text_block(5000))
    brotli_line = ("brotli on; brotli_types text/css;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, "gzip on;" + brotli_line)
    # text/html is always in gzip_types
    assert fetch(server.port, "/a.html", ae="gzip").header(
        "Content-Encoding") == "gzip"
    assert fetch(server.port, "/a.css", ae="gzip").header(
        "Content-Encoding") is None
    assert fetch(server.port, "/a.bin", ae="gzip, br").header(
        "Content-Encoding") is None
    if brotli_line:
        assert fetch(server.port, "/a.css", ae="gzip, br").header(
            "Content-Encoding") == "br"


def test_types_any(portico, root):
    root.put("a.bin", text_block(5000))
    server = start(portico, root, "gzip on; gzip_types *;")
    resp = fetch(server.port, "/a.bin", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"


# --------------------------------------------------------------------------
# the head of a compressed response

def test_http10_is_close_delimited(portico, root):
    data = text_block(5000)
    root.put("a.txt", data)
    server = start(portico, root, GZIP_BR + "gzip_http_version 1.0;")
    resp = fetch(server.port, "/a.txt", ae="gzip", version=b"HTTP/1.0")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Content-Length") is None
    assert resp.header("Transfer-Encoding") is None
    assert ungzip(resp.body) == data


def test_http10_not_compressed_by_default(portico, root):
    root.put("a.txt", text_block(5000))
    server = start(portico, root, GZIP_BR)
    resp = fetch(server.port, "/a.txt", ae="gzip", version=b"HTTP/1.0")
    assert resp.header("Content-Encoding") is None


@pytest.mark.parametrize("etag, expect", [
    ('"abc"', 'W/"abc"'),
    ('W/"abc"', 'W/"abc"'),
    ('abc', None),
])
def test_etag_weakened(portico, root, backend, etag, expect):
    be = backend(reply(200, text_block(1000),
                       [("Content-Type", "text/plain"), ("ETag", etag)]))
    server = start(portico, root, GZIP_BR
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/p/x", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("ETag") == expect


def test_static_etag_weakened(portico, root):
    root.put("a.txt", text_block(1000))
    server = start(portico, root, GZIP_BR)
    plain = fetch(server.port, "/a.txt")
    resp = fetch(server.port, "/a.txt", ae="gzip")
    assert plain.header("ETag").startswith('"')
    assert resp.header("ETag") == "W/" + plain.header("ETag")


@pytest.mark.parametrize("upstream_vary, expect", [
    (None, ["Accept-Encoding"]),
    ("Accept-Encoding", ["Accept-Encoding"]),
    ("accept-encoding, Origin", ["accept-encoding, Origin"]),
    ("Origin", ["Origin", "Accept-Encoding"]),
    ("*", ["*"]),
])
def test_vary_once(portico, root, backend, upstream_vary, expect,
                   portico_modules):
    headers = [("Content-Type", "text/plain")]
    if upstream_vary:
        headers.append(("Vary", upstream_vary))
    be = backend(reply(200, text_block(1000), headers))
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, GZIP_BR + brotli_line
                   + "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    for ae in ("gzip", "br", "gzip, br", None, "deflate"):
        resp = fetch(server.port, "/p/x", ae=ae)
        assert resp.header_all("Vary") == expect, (ae, resp)


def test_no_vary_without_gzip_vary(portico, root):
    root.put("a.txt", text_block(1000))
    server = start(portico, root, "gzip on; gzip_types text/plain;")
    resp = fetch(server.port, "/a.txt", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Vary") is None


# --------------------------------------------------------------------------
# Accept-Encoding

AE_CASES = [
    # (Accept-Encoding, with brotli on, with gzip only)
    (None, None, None),
    ("", None, None),
    ("gzip", "gzip", "gzip"),
    ("GZIP", "gzip", "gzip"),
    ("x-gzip", "gzip", "gzip"),
    ("br", "br", None),
    ("BR", "br", None),
    ("gzip, br", "br", "gzip"),
    ("gzip;q=1, br;q=0.1", "br", "gzip"),
    ("  gzip  ,  br  ", "br", "gzip"),
    ("gzip ; q=0.5", "gzip", "gzip"),
    ("gzip;Q=0.5", "gzip", "gzip"),
    ("gzip;q=0", None, None),
    ("gzip;q=0.000", None, None),
    ("gzip;q=0.001", "gzip", "gzip"),
    ("gzip;q=1.000", "gzip", "gzip"),
    ("gzip;q=1.001", None, None),
    ("gzip;q=0.0001", None, None),
    ("gzip;q=abc", None, None),
    ("gzip;q=", None, None),
    ("gzip;q=-1", None, None),
    ("gzip;q = 0.5", None, None),
    ("gzip;q=\"0.5\"", None, None),
    ("gzip junk", None, None),
    ("gzip;level=9", "gzip", "gzip"),
    ("gzip;foo=\"a,br\"", "gzip", "gzip"),
    ("*", "br", "gzip"),
    ("*;q=0", None, None),
    ("*;q=0, gzip", "gzip", "gzip"),
    ("gzip;q=0, *", "br", None),
    ("br;q=0, *", "gzip", "gzip"),
    ("br;q=0, gzip", "gzip", "gzip"),
    ("identity;q=0", None, None),
    ("identity;q=0, gzip", "gzip", "gzip"),
    ("deflate, compress", None, None),
    ("gzip;q=0, gzip", None, None),
    (",,gzip,,", "gzip", "gzip"),
    ("gzipx, xgzip, gzip-x", None, None),
]


@pytest.mark.parametrize("ae, with_br, gzip_only", AE_CASES,
                         ids=[repr(c[0]) for c in AE_CASES])
def test_accept_encoding(portico, root, ae, with_br, gzip_only,
                         portico_modules):
    data = text_block(3000)
    root.put("a.txt", data)
    root.put("g/a.txt", data)
    has_br = "pt_http_brotli_module" in portico_modules
    server = start(portico, root, GZIP_BR
                   + ("brotli on; brotli_types text/plain;"
                      "location /g/ { brotli off; }" if has_br else ""))
    paths = [("/g/a.txt", gzip_only)]
    if has_br:
        paths.append(("/a.txt", with_br))
    for path, expect in paths:
        resp = fetch(server.port, path, ae=ae)
        assert resp.status == 200
        assert resp.header("Content-Encoding") == expect, (path, ae)
        if expect != "br" or brotli_py or BROTLI_CLI:
            assert decode(resp) == data


def test_accept_encoding_over_several_fields(portico, root,
                                             portico_modules):
    data = text_block(3000)
    root.put("a.txt", data)
    server = start(portico, root, GZIP_BR)
    resp = fetch(server.port, "/a.txt",
                 extra=b"Accept-Encoding: deflate\r\n"
                       b"Accept-Encoding: gzip\r\n")
    assert resp.header("Content-Encoding") == "gzip"
    # an explicit refusal in one field beats "*" in another
    resp = fetch(server.port, "/a.txt",
                 extra=b"Accept-Encoding: gzip;q=0\r\n"
                       b"Accept-Encoding: *\r\n")
    assert resp.header("Content-Encoding") is None


def test_gzip_proxied_and_disable(portico, root):
    root.put("a.txt", text_block(3000))
    server = start(portico, root, GZIP_BR
                   + "gzip_disable \"Bad/\\d\";"
                   + "location /any/ { gzip_proxied any; }"
                   + "location /exp/ { gzip_proxied expired; }")
    root.put("any/a.txt", text_block(3000))
    root.put("exp/a.txt", text_block(3000))
    ce = lambda path, extra: fetch(server.port, path, ae="gzip",
                                   extra=extra).header("Content-Encoding")
    assert ce("/a.txt", b"") == "gzip"
    assert ce("/a.txt", b"Via: 1.1 cache\r\n") is None
    assert ce("/any/a.txt", b"Via: 1.1 cache\r\n") == "gzip"
    assert ce("/exp/a.txt", b"Via: 1.1 cache\r\n") is None
    assert ce("/a.txt", b"User-Agent: Bad/1\r\n") is None
    assert ce("/a.txt", b"User-Agent: Good/1\r\n") == "gzip"


# --------------------------------------------------------------------------
# streams

@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_sse_arrives_event_by_event(portico, root, backend, coding,
                                    portico_modules):
    """The backend sends an event, then waits until the client has
    decoded it before it sends the next: a filter that held output back
    would deadlock this (and fail on the timeout)."""
    if coding == "br":
        need_brotli_module(portico_modules)
    dec = Decoder(coding)
    got_first = threading.Event()
    events = [b"data: first event\n\n", b"data: second event\n\n",
              b"data: third\n\n"]

    def handler(s, head, b):
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Cache-Control: no-cache\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        s.sendall(b"%x\r\n%s\r\n" % (len(events[0]), events[0]))
        assert got_first.wait(15), "the client never got the first event"
        for e in events[1:]:
            s.sendall(b"%x\r\n%s\r\n" % (len(e), e))
            time.sleep(0.05)
        s.sendall(b"0\r\n\r\n")

    be = backend(handler)
    server = start(portico, root,
                   "gzip on; gzip_types text/event-stream; gzip_vary on;"
                   + (BR if coding == "br" else "")
                   + "location /events { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    decoded = bytearray()

    def on_body(data):
        decoded.extend(dec.feed(data))
        if bytes(decoded).startswith(events[0]):
            got_first.set()

    s = connect(server.port, timeout=30)
    try:
        s.sendall(get("/events", extra=b"Accept-Encoding: %s\r\n"
                      % coding.encode()))
        status, headers = read_streamed(s, on_body, 30)
    finally:
        s.close()
    assert got_first.is_set()
    assert headers["content-encoding"] == coding
    decoded.extend(dec.finish())
    assert bytes(decoded) == b"".join(events)
    assert not be.errors


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_pause_flushes_only_a_body_without_length(portico, root, backend,
                                                  framing):
    """The backend sends half a body, waits until Portico has read it (and
    found nothing more), then the rest. A body of unknown length is a
    stream: the pause flushes gzip, which ends a block with the empty
    stored block 00 00 ff ff. A body with a Content-Length is a document:
    it goes through as buffers fill, compressed in one run, as nginx does."""
    data = text_block(60000, seed=5)
    half = len(data) // 2
    paused = threading.Event()

    def handler(s, head, b):
        if framing == "length":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(data))
            s.sendall(data[:half])
            paused.wait(0.5)
            s.sendall(data[half:])
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            s.sendall(b"%x\r\n%s\r\n" % (half, data[:half]))
            paused.wait(0.5)
            s.sendall(b"%x\r\n%s\r\n0\r\n\r\n"
                      % (len(data) - half, data[half:]))

    be = backend(handler)
    server = start(portico, root, GZIP_BR
                   + "location /doc { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/doc", ae="gzip")
    check_compressed(resp, "gzip", data)
    flushed = b"\x00\x00\xff\xff" in resp.body
    assert flushed == (framing == "chunked")
    assert not be.errors


# --------------------------------------------------------------------------
# gzip_static

def need_static_variants(portico_modules):
    if "pt_http_gzip_static_module" not in portico_modules:
        pytest.skip("built without pt_http_gzip_static_module")


@pytest.fixture
def gz_tree(root, portico_modules):
    need_static_variants(portico_modules)
    data = text_block(20000, seed=21)
    gz = gzip.compress(data, mtime=0)
    root.put("s/a.txt", data, mtime=MTIME)
    root.put("s/a.txt.gz", gz, mtime=MTIME + 100)
    root.put("s/only.txt.gz", gz, mtime=MTIME + 200)
    root.put("s/nogz.txt", data)
    return data, gz


def test_gzip_static_on(portico, root, gz_tree):
    data, gz = gz_tree
    server = start(portico, root, "gzip_static on; gzip_vary on;")
    resp = fetch(server.port, "/s/a.txt", ae="gzip")
    assert resp.status == 200
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Content-Length") == str(len(gz))
    assert resp.header("Content-Type") == "text/plain"
    assert resp.header("Vary") == "Accept-Encoding"
    st = (root.path / "s/a.txt.gz").stat()
    assert resp.header("ETag") == '"%x-%x"' % (int(st.st_mtime), st.st_size)
    assert resp.header("Last-Modified") == time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(MTIME + 100))
    assert resp.body == gz

    # a client that takes no gzip gets the file itself, with Vary
    resp = fetch(server.port, "/s/a.txt", ae="deflate")
    assert resp.header("Content-Encoding") is None
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.body == data

    # no .gz: the file, and no Vary
    resp = fetch(server.port, "/s/nogz.txt", ae="gzip")
    assert resp.header("Content-Encoding") is None
    assert resp.header("Vary") is None
    assert resp.body == data

    # HEAD: the .gz's head
    resp = fetch(server.port, "/s/a.txt", ae="gzip", method=b"HEAD")
    assert resp.header("Content-Length") == str(len(gz))
    assert resp.body == b""


def test_gzip_static_not_twice_compressed(portico, root, gz_tree,
                                          portico_modules):
    data, gz = gz_tree
    brotli_line = ("brotli on; brotli_types text/plain;"
                   if "pt_http_brotli_module" in portico_modules else "")
    server = start(portico, root, "gzip_static on; gzip on;"
                   "gzip_types text/plain;" + brotli_line)
    resp = fetch(server.port, "/s/a.txt", ae="gzip, br")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.body == gz


def test_gzip_static_always(portico, root, gz_tree):
    data, gz = gz_tree
    server = start(portico, root, "gzip_static always;")
    for ae in ("gzip", None, "gzip;q=0"):
        resp = fetch(server.port, "/s/a.txt", ae=ae)
        assert resp.header("Content-Encoding") == "gzip"
        assert resp.body == gz
    resp = fetch(server.port, "/s/only.txt", ae=None)
    assert resp.body == gz


def test_gzip_static_always_with_gunzip(portico, root, gz_tree,
                                        portico_modules):
    data, gz = gz_tree
    server = start(portico, root, "gzip_static always; gunzip on;")
    resp = fetch(server.port, "/s/only.txt", ae=None)
    assert resp.status == 200
    assert resp.header("Content-Encoding") is None
    assert resp.header("Content-Length") is None
    assert resp.body == data
    resp = fetch(server.port, "/s/only.txt", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.body == gz
    if "pt_http_brotli_module" in portico_modules:
        server2 = start(portico, root, "gzip_static always; gunzip on;"
                        "brotli on; brotli_types text/plain;")
        resp = fetch(server2.port, "/s/only.txt", ae="br")
        assert resp.header("Content-Encoding") == "br"
        if brotli_py or BROTLI_CLI:
            assert unbrotli(resp.body) == data


def test_gzip_static_off_and_directory(portico, root, gz_tree):
    data, gz = gz_tree
    server = start(portico, root, "location /s/ { gzip_static off; }"
                   "location / { gzip_static on; }")
    resp = fetch(server.port, "/s/a.txt", ae="gzip")
    assert resp.header("Content-Encoding") is None
    assert resp.body == data


# --------------------------------------------------------------------------
# brotli_static

def br_compress(data):
    if brotli_py is not None:
        return brotli_py.compress(data)
    if BROTLI_CLI:
        p = subprocess.run([BROTLI_CLI, "-c"], input=data,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout
    pytest.skip("no brotli encoder: install python3-brotli (or brotli)")


@pytest.fixture
def br_tree(root, portico_modules):
    """a.txt with .br and .gz, only.txt.br alone, gzonly.txt with a .gz,
    nobr.txt alone, dir.txt next to a directory dir.txt.br."""
    need_static_variants(portico_modules)
    data = text_block(20000, seed=51)
    br = br_compress(data)
    gz = gzip.compress(data, mtime=0)
    assert unbrotli(br) == data
    root.put("s/a.txt", data, mtime=MTIME)
    root.put("s/a.txt.br", br, mtime=MTIME + 300)
    root.put("s/a.txt.gz", gz, mtime=MTIME + 100)
    root.put("s/only.txt.br", br, mtime=MTIME + 200)
    root.put("s/gzonly.txt", data)
    root.put("s/gzonly.txt.gz", gz)
    root.put("s/nobr.txt", data)
    root.put("s/dir.txt", data)
    root.put("s/dir.txt.br/inside", b"not a file to send")
    return data, br, gz


def http_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def check_br_file(resp, root, name, br):
    """The .br as the static module would send a file: its own length,
    ETag and Last-Modified, the type of the file it stands for."""
    st = (root.path / name).stat()
    assert resp.status == 200, resp
    assert resp.header("Content-Encoding") == "br"
    assert resp.header("Content-Length") == str(len(br))
    assert resp.header("Content-Type") == "text/plain"
    assert resp.header("ETag") == '"%x-%x"' % (int(st.st_mtime), st.st_size)
    assert resp.header("Last-Modified") == http_date(st.st_mtime)
    assert resp.header("Accept-Ranges") is None
    assert resp.header("Transfer-Encoding") is None


def test_brotli_static_on(portico, root, br_tree):
    data, br, gz = br_tree
    server = start(portico, root, "brotli_static on; gzip_vary on;")
    for ae in ("br", "gzip, deflate, br", "BR;q=0.5", "*"):
        resp = fetch(server.port, "/s/a.txt", ae=ae)
        check_br_file(resp, root, "s/a.txt.br", br)
        assert resp.header("Vary") == "Accept-Encoding"
        assert resp.body == br
        assert unbrotli(resp.body) == data

    # a client that does not take br gets the file itself, with Vary
    for ae in (None, "gzip", "br;q=0", "br;q=0, gzip", "*, br;q=0",
               "identity"):
        resp = fetch(server.port, "/s/a.txt", ae=ae)
        assert resp.status == 200
        assert resp.header("Content-Encoding") is None, ae
        assert resp.header("Content-Length") == str(len(data))
        assert resp.header("Vary") == "Accept-Encoding"
        assert resp.body == data

    # no .br: the file, and no Vary
    resp = fetch(server.port, "/s/nobr.txt", ae="br")
    assert resp.header("Content-Encoding") is None
    assert resp.header("Vary") is None
    assert resp.body == data

    # only a .br: "on" does not make it up for a client without br
    resp = fetch(server.port, "/s/only.txt", ae="br")
    check_br_file(resp, root, "s/only.txt.br", br)
    assert resp.body == br
    assert fetch(server.port, "/s/only.txt", ae="gzip").status == 404

    # a directory named FILE.br is no .br
    resp = fetch(server.port, "/s/dir.txt", ae="br")
    assert resp.header("Content-Encoding") is None
    assert resp.body == data

    # HEAD: the .br's head, no body
    resp = fetch(server.port, "/s/a.txt", ae="br", method=b"HEAD")
    check_br_file(resp, root, "s/a.txt.br", br)
    assert resp.body == b""

    # a range of the .br is not made: the whole .br
    resp = fetch(server.port, "/s/a.txt", ae="br",
                 extra=b"Range: bytes=0-9\r\n")
    check_br_file(resp, root, "s/a.txt.br", br)
    assert resp.body == br

    # its validators work as the file's would
    etag = resp.header("ETag").encode()
    resp = fetch(server.port, "/s/a.txt", ae="br",
                 extra=b"If-None-Match: " + etag + b"\r\n")
    assert resp.status == 304
    assert resp.body == b""
    resp = fetch(server.port, "/s/a.txt", ae="br",
                 extra=b"If-Modified-Since: "
                 + http_date(MTIME + 300).encode() + b"\r\n")
    assert resp.status == 304

    # other methods are not the static module's
    resp = fetch(server.port, "/s/a.txt", ae="br", method=b"POST")
    assert resp.header("Content-Encoding") is None
    assert resp.status == 405


def test_brotli_static_always(portico, root, br_tree):
    data, br, gz = br_tree
    server = start(portico, root, "brotli_static always; gzip_vary on;")
    for ae in ("br", None, "br;q=0", "gzip", "identity"):
        resp = fetch(server.port, "/s/a.txt", ae=ae)
        check_br_file(resp, root, "s/a.txt.br", br)
        # the answer does not depend on Accept-Encoding
        assert resp.header("Vary") is None
        assert resp.body == br
    resp = fetch(server.port, "/s/only.txt", ae=None)
    assert resp.body == br
    resp = fetch(server.port, "/s/nobr.txt", ae="br")
    assert resp.header("Content-Encoding") is None
    assert resp.body == data


def test_brotli_static_off_and_inheritance(portico, root, br_tree):
    data, br, gz = br_tree
    server = start(portico, root, "location /s/ { brotli_static off; }"
                   "location / { }", http="brotli_static on;")
    resp = fetch(server.port, "/s/a.txt", ae="br")
    assert resp.header("Content-Encoding") is None
    assert resp.body == data
    root.put("t.txt", data)
    root.put("t.txt.br", br)
    root.share()
    resp = fetch(server.port, "/t.txt", ae="br")
    assert resp.header("Content-Encoding") == "br"
    assert resp.body == br


def test_brotli_static_with_gzip_static(portico, root, br_tree,
                                        portico_modules):
    """Both on: br first, then gzip, then the file; neither is
    compressed again by the filters."""
    data, br, gz = br_tree
    filters = "gzip on; gzip_types text/plain;"
    if "pt_http_brotli_module" in portico_modules:
        filters += "brotli on; brotli_types text/plain;"
    server = start(portico, root, "brotli_static on; gzip_static on;"
                   "gzip_vary on;" + filters)
    for ae, path, coding, body in [
            ("gzip, br", "/s/a.txt", "br", br),
            ("br, gzip", "/s/a.txt", "br", br),
            ("gzip;q=1, br;q=0.1", "/s/a.txt", "br", br),
            ("gzip", "/s/a.txt", "gzip", gz),
            ("br;q=0, gzip", "/s/a.txt", "gzip", gz),
            ("br", "/s/gzonly.txt", None, None),
            ("br, gzip", "/s/gzonly.txt", "gzip", gz),
            ("gzip, br", "/s/only.txt", "br", br)]:
        resp = fetch(server.port, path, ae=ae)
        assert resp.status == 200, (ae, path, resp)
        assert resp.header("Vary") == "Accept-Encoding"
        if body is None:
            # the file, which the brotli filter (if any) compresses
            assert decode(resp) == data, (ae, path)
            continue
        assert resp.header("Content-Encoding") == coding, (ae, path)
        assert resp.header("Content-Length") == str(len(body))
        assert resp.body == body, (ae, path)

    # neither: the file itself, uncompressed
    resp = fetch(server.port, "/s/a.txt", ae="identity")
    assert resp.header("Content-Encoding") is None
    assert resp.body == data


def test_brotli_static_with_gzip_static_always(portico, root, br_tree):
    """gzip_static always is for a client without br; brotli_static
    always wins over it."""
    data, br, gz = br_tree
    server = start(portico, root, "brotli_static on; gzip_static always;")
    assert fetch(server.port, "/s/a.txt", ae="br").body == br
    resp = fetch(server.port, "/s/a.txt", ae=None)
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.body == gz
    server2 = start(portico, root, "brotli_static always; gzip_static on;")
    resp = fetch(server2.port, "/s/a.txt", ae="gzip")
    assert resp.header("Content-Encoding") == "br"
    assert resp.body == br


def test_brotli_static_alias_and_root_rules(portico, root, br_tree,
                                            tmp_path):
    """The .br is found as the file is (alias), never outside the root,
    and not through a symbolic link under disable_symlinks."""
    data, br, gz = br_tree
    other = Path(os.path.realpath(tmp_path)) / "other"
    other.mkdir()
    (other / "b.txt").write_bytes(data)
    (other / "b.txt.br").write_bytes(br)
    secret = Path(os.path.realpath(tmp_path)) / "secret.txt.br"
    secret.write_bytes(b"secret")
    root.put("l/c.txt", data)
    os.symlink(secret, root.path / "l/c.txt.br")
    for p in (other, other / "b.txt", other / "b.txt.br", secret):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    open_to_workers(other)
    server = start(portico, root,
                   "brotli_static on;"
                   "location /al/ { alias %s/; }"
                   "location /l/ { disable_symlinks on; }" % other)
    resp = fetch(server.port, "/al/b.txt", ae="br")
    assert resp.header("Content-Encoding") == "br"
    assert resp.body == br

    resp = fetch(server.port, "/l/c.txt", ae="br")
    assert resp.status == 200
    assert resp.header("Content-Encoding") is None
    assert resp.body == data
    server.wait_log(r"\[error\].*open\(\) \".*c\.txt\.br\" failed")

    # dot segments cannot climb out of the root to a .br
    resp = fetch(server.port, "/../secret.txt", ae="br")
    assert resp.status in (400, 404)
    assert b"secret" not in resp.body


def test_brotli_static_unreadable_br_falls_back(portico, root, br_tree):
    if os.geteuid() != 0:
        pytest.skip("needs root: workers drop to an unprivileged user")
    data, br, gz = br_tree
    os.chmod(root.path / "s/a.txt.br", 0o600)
    # start() opens the directories to the workers, not the files
    server = start(portico, root, "brotli_static on; gzip_static on;")
    resp = fetch(server.port, "/s/a.txt", ae="br, gzip")
    assert resp.status == 200
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.body == gz
    server.wait_log(r"\[error\].*open\(\) \".*a\.txt\.br\" failed "
                    r"\(13: Permission denied\)")


@pytest.mark.parametrize("where, line, message", [
    ("http", "brotli_static maybe;",
     'invalid value "maybe" in "brotli_static" directive'),
    ("main", "brotli_static on;",
     '"brotli_static" directive is not allowed here'),
    ("upstream", "brotli_static on;",
     '"brotli_static" directive is not allowed here'),
    ("http", "brotli_static on off;",
     'invalid number of arguments in "brotli_static" directive'),
])
def test_brotli_static_config_errors(tmp_path, where, line, message,
                                     portico_modules):
    need_static_variants(portico_modules)
    body = {
        "main": "%s\nhttp {\n}\n",
        "http": "http {\n    %s\n}\n",
        "upstream": "http {\n    upstream u {\n"
                    "        server 127.0.0.1:1;\n        %s\n    }\n}\n",
    }[where] % line
    conf = write_config(tmp_path, body)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1, err
    assert out == ""
    assert err == ("portico: [emerg] %s in %s:%d\n"
                   "portico: configuration file %s test failed\n"
                   % (message, conf, line_of(conf, line.split(";")[0]),
                      conf))


# --------------------------------------------------------------------------
# gunzip

def test_gunzip_backend_always_gzip(portico, root, backend):
    data = text_block(300000, seed=31)
    gz = gzip.compress(data, mtime=0)
    be = backend(reply(200, gz, [("Content-Type", "text/plain"),
                                 ("Content-Encoding", "gzip"),
                                 ("ETag", '"v1"')]))
    server = start(portico, root, "gunzip on; gzip_vary on;"
                   "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    resp = fetch(server.port, "/p/x", ae=None)
    assert resp.status == 200
    assert resp.header("Content-Encoding") is None
    assert resp.header("Content-Length") is None
    assert resp.header("ETag") == 'W/"v1"'
    assert resp.header("Vary") == "Accept-Encoding"
    assert resp.body == data

    resp = fetch(server.port, "/p/x", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("Content-Length") == str(len(gz))
    assert resp.body == gz

    resp = fetch(server.port, "/p/x", ae=None, method=b"HEAD")
    assert resp.header("Content-Encoding") is None
    assert resp.header("Content-Length") is None


def test_gunzip_members_and_bomb(portico, root, backend):
    """Two gzip members are one body; 64 MiB of zeros from 64 KiB of gzip
    come out whole (through bounded buffers)."""
    a, b = text_block(5000, seed=1), text_block(7000, seed=2)
    two = gzip.compress(a, mtime=0) + gzip.compress(b, mtime=0)
    zeros = gzip.compress(b"\0" * (64 << 20), compresslevel=9, mtime=0)
    bodies = {b"/p/two": two, b"/p/zeros": zeros}

    def handler(s, head, bk):
        body = bodies[head.split(b" ")[1]]
        reply(200, body, [("Content-Type", "text/plain"),
                          ("Content-Encoding", "gzip")],
              length="chunked")(s, head, bk)

    be = backend(handler)
    server = start(portico, root, "gunzip on;"
                   "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    assert fetch(server.port, "/p/two").body == a + b
    h = hashlib.sha256()
    n = [0]

    def on_body(data):
        h.update(data)
        n[0] += len(data)

    s = connect(server.port, timeout=120)
    try:
        s.sendall(get("/p/zeros"))
        status, headers = read_streamed(s, on_body, 120)
    finally:
        s.close()
    assert status == 200 and n[0] == 64 << 20
    assert h.hexdigest() == hashlib.sha256(b"\0" * (64 << 20)).hexdigest()


def test_gunzip_broken_body_is_cut_off(portico, root, backend):
    gz = gzip.compress(text_block(50000), mtime=0)
    bad = gz[:len(gz) // 2]
    be = backend(reply(200, bad, [("Content-Type", "text/plain"),
                                  ("Content-Encoding", "gzip")]))
    server = start(portico, root, "gunzip on;"
                   "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port)
    c = Client(server.port)
    try:
        c.send(get("/p/x"))
        data, _ = c.wait_closed()
    finally:
        c.close()
    # the connection is cut: no complete response, whatever had gone out
    assert data == b"" or data.startswith(b"HTTP/1.1 200 ")
    assert not data.endswith(b"0\r\n\r\n")
    server.wait_log(r"\[error\].*gunzip")


# --------------------------------------------------------------------------
# $gzip_ratio and $brotli_ratio

RATIO_LOG = """
    log_format ratio '$request_method $uri $status g=$gzip_ratio b=$brotli_ratio';
    access_log {tmp}/ratio.log ratio;
"""


def nginx_ratio(original, compressed):
    """original / compressed with two decimals, rounded as nginx rounds
    $gzip_ratio: thousandths truncated, then up when the third is 5-9."""
    whole, rest = divmod(original, compressed)
    thousandths = rest * 1000 // compressed
    hundredths = thousandths // 10 + (1 if thousandths % 10 > 4 else 0)
    if hundredths == 100:
        whole, hundredths = whole + 1, 0
    return "%d.%02d" % (whole, hundredths)


def test_nginx_ratio_rounding():
    assert nginx_ratio(2125, 1000) == "2.13"
    assert nginx_ratio(21249, 10000) == "2.12"
    assert nginx_ratio(1999, 1000) == "2.00"
    assert nginx_ratio(0, 20) == "0.00"
    assert nginx_ratio(100000, 30) == "3333.33"


def ratio_lines(server, n):
    """The first n lines of the ratio log, waited for."""
    path = server.tmp / "ratio.log"

    def enough():
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return lines if len(lines) >= n else None

    return wait_for(enough, IO_TIMEOUT, what="%d line(s) in %s" % (n, path))


def ratio_field(coding, value):
    """The log line's two ratio fields when coding gave value."""
    if coding == "gzip":
        return "g=%s b=-" % value
    if coding == "br":
        return "g=- b=%s" % value
    return "g=- b=-"


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_ratio_of_static_and_proxied_bodies(portico, root, backend, coding,
                                            portico_modules):
    need_brotli_module(portico_modules)
    if coding == "br":
        need_brotli_decoder()
    text = text_block(300000, seed=41)
    zeros = b"\0" * (1 << 20)
    root.put("t.txt", text)
    root.put("z.bin", zeros)
    root.put("empty.txt", b"")
    streamed = text_block(200000, seed=42)

    def handler(s, head, b):
        # the body in pieces of unknown total length
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        for i in range(0, len(streamed), 7000):
            part = streamed[i:i + 7000]
            s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        s.sendall(b"0\r\n\r\n")

    be = backend(handler)
    server = start(portico, root,
                   "location /p/ { proxy_pass http://127.0.0.1:%d; }"
                   % be.port,
                   http=RATIO_LOG + "gzip on; gzip_min_length 0;"
                   "gzip_comp_level 9; gzip_types text/plain"
                   " application/octet-stream; brotli on;"
                   "brotli_min_length 0; brotli_types text/plain"
                   " application/octet-stream;")
    expect = []
    for path, original in (("/t.txt", text), ("/z.bin", zeros),
                           ("/empty.txt", b""), ("/p/x", streamed)):
        resp = fetch(server.port, path, ae=coding)
        check_compressed(resp, coding, original)
        ratio = nginx_ratio(len(original), len(resp.body))
        expect.append("GET %s 200 %s" % (path, ratio_field(coding, ratio)))
    assert ratio_lines(server, 4) == expect
    # the values are what they look like: text a few times over, zeros
    # a thousand times and more (no cap), nothing at all 0.00
    values = [float(line.split("=")[1 if coding == "gzip" else 2]
                    .split()[0]) for line in expect]
    assert values[0] > 2 and values[1] > 200 and values[2] == 0.0
    assert not be.errors


def test_ratio_not_found(portico, root, backend, portico_modules):
    """Whatever the filters did not compress, or have not finished,
    logs "-" for both ratios."""
    need_brotli_module(portico_modules)
    text = text_block(50000, seed=43)
    root.put("t.txt", text)
    root.put("page.html", text)
    root.put("x.bin", text)
    server = start(portico, root, "",
                   http=RATIO_LOG + "gzip on; gzip_types text/plain;"
                   "brotli on; brotli_types text/plain;")
    st = (root.path / "t.txt").stat()
    etag = '"%x-%x"' % (int(st.st_mtime), st.st_size)
    cases = [
        # a type not listed; a client that takes no coding
        ("/x.bin", "gzip, br", b"GET", b"", 200),
        ("/t.txt", None, b"GET", b"", 200),
        ("/t.txt", "identity", b"GET", b"", 200),
        # HEAD, a 304, a range
        ("/t.txt", "gzip, br", b"HEAD", b"", 200),
        ("/t.txt", "gzip, br", b"GET",
         b"If-None-Match: " + etag.encode() + b"\r\n", 304),
        ("/t.txt", "gzip, br", b"GET", b"Range: bytes=0-9\r\n", 206),
    ]
    for path, ae, method, extra, status in cases:
        resp = fetch(server.port, path, ae=ae, method=method, extra=extra)
        assert resp.status == status, (path, ae, resp)
        assert resp.header("Content-Encoding") is None
    lines = ratio_lines(server, len(cases))
    assert lines == ["%s %s %d g=- b=-" % (m.decode(), p, s)
                     for p, ae, m, x, s in cases]


def test_ratio_of_an_unfinished_body_is_not_found(portico, root,
                                                  portico_modules):
    """A client that goes away in the middle: the compressor never ends
    its stream, and the ratio is not known."""
    need_brotli_module(portico_modules)
    data = random.Random(44).randbytes(32 << 20)
    root.put("big.bin", data)
    server = start(portico, root, "",
                   http=RATIO_LOG + "gzip on;"
                   "gzip_types application/octet-stream;")
    s = connect(server.port)
    try:
        s.sendall(get("/big.bin", extra=b"Accept-Encoding: gzip\r\n"))
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            assert chunk, "closed before the head"
            got += chunk
        assert b"Content-Encoding: gzip" in got
    finally:
        # unread data: the close resets the connection
        s.close()
    line = ratio_lines(server, 1)[0]
    assert line.startswith("GET /big.bin 200 "), line
    assert line.endswith(" g=- b=-"), line


def test_ratio_variables_without_log(portico, root, portico_modules):
    """The variables also work outside log_format, where the body has
    not been seen yet: add_header gets nothing."""
    need_brotli_module(portico_modules)
    root.put("t.txt", text_block(5000))
    server = start(portico, root,
                   'add_header X-Ratio "[$gzip_ratio][$brotli_ratio]";',
                   http="gzip on; gzip_types text/plain;")
    resp = fetch(server.port, "/t.txt", ae="gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.header("X-Ratio") == "[][]"


# --------------------------------------------------------------------------
# configuration

@pytest.mark.parametrize("line, message", [
    ("brotli_comp_level 12;", "between 0 and 11"),
    ("brotli_window 3k;", "power of 2"),
    ("brotli_types nonsense;", "invalid MIME type"),
    ("gzip_static sometimes;", "invalid value"),
    ("gzip_comp_level 0;", "between 1 and 9"),
    ("gunzip maybe;", "gunzip"),
    ("gzip_proxied sometimes;", "gzip_proxied"),
    ("gzip_disable \"(\";", "gzip_disable|missing|parenthes"),
])
def test_config_errors(tmp_path, line, message, portico_modules):
    if line.startswith("brotli"):
        need_brotli_module(portico_modules)
    rc, out, err = run_portico(["-t"], "http { %s }\n" % line, tmp=tmp_path)
    assert rc != 0
    assert re.search(message, err), err


def test_config_ok(tmp_path, portico_modules):
    with_br = "pt_http_brotli_module" in portico_modules
    conf = """http {
    gzip on; gzip_comp_level 9; gzip_min_length 1k; gzip_buffers 16 8k;
    gzip_types text/plain application/json; gzip_vary on;
    gzip_proxied expired no-cache no-store private auth;
    gzip_http_version 1.0; gzip_disable msie6;
    gunzip on; gunzip_buffers 8 16k;
    %s
    %s
}
""" % ("brotli on; brotli_comp_level 11; brotli_window 16m;"
       "brotli_min_length 0; brotli_types *;"
       "log_format ratios '$gzip_ratio $brotli_ratio';"
       if with_br else "log_format ratios '$gzip_ratio';",
       "gzip_static always; brotli_static on;"
       "server { location / { brotli_static always; } }"
       if "pt_http_gzip_static_module" in portico_modules else "")
    rc, out, err = run_portico(["-t"], conf, tmp=tmp_path)
    assert rc == 0, err
