"""
Static files: root and alias, types, the bytes of files of every size (a
1 GiB one with the worker's memory watched), directory redirects, index,
try_files, paths that try to leave the root, symbolic links, byte ranges,
conditional requests, add_header and expires, HEAD and other methods.
"""

import email.utils
import hashlib
import os
import re
import socket
import time
from pathlib import Path

import pytest

import conftest
from conftest import (REPO, Client, connect, get, group_members,
                      open_to_workers, parse_response, raw, run_portico)


pytestmark = pytest.mark.usefixtures("static_modules")


@pytest.fixture
def static_modules(portico_modules):
    for m in ("pt_http_static_module", "pt_http_index_module",
              "pt_http_try_files_module", "pt_http_range_filter_module",
              "pt_http_not_modified_filter_module",
              "pt_http_headers_filter_module"):
        if m not in portico_modules:
            pytest.skip("%s is not compiled in" % m)


MTIME = 1600000000          # Sun, 13 Sep 2020 12:26:40 GMT
MTIME_HTTP = "Sun, 13 Sep 2020 12:26:40 GMT"


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def one_server(inner, http=""):
    """An http block with mime.types and one server on {port}."""
    return ("http {\n"
            "    include mime.types;\n"
            "    default_type application/octet-stream;\n"
            "%s\n"
            "    server {\n"
            "        listen 127.0.0.1:{port};\n"
            "%s\n"
            "    }\n"
            "}\n" % (http, inner))


class Tree:
    """The document root (and a directory outside it) for one test."""

    def __init__(self, base):
        self.base = Path(os.path.realpath(base))
        self.root = self.base / "www"
        self.outside = self.base / "outside"
        self.root.mkdir()
        self.outside.mkdir()
        self.files = {}

    def put(self, rel, data, mtime=MTIME):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chmod(p, 0o644)
        os.utime(p, (mtime, mtime))
        self.files[rel] = data
        return p

    def etag(self, rel):
        st = (self.root / rel).stat()
        return '"%x-%x"' % (int(st.st_mtime), st.st_size)

    def share(self):
        """Readable by workers that run as nobody."""
        for d, dirs, files in os.walk(self.base):
            os.chmod(d, 0o755)
        open_to_workers(self.root)
        open_to_workers(self.outside)


@pytest.fixture
def tree(tmp_path):
    t = Tree(tmp_path)
    t.put("empty.txt", b"")
    t.put("one.txt", b"x")
    t.put("4k.bin", os.urandom(4096))
    t.put("1m.bin", os.urandom(1 << 20))
    t.put("hello.txt", b"hello\n")
    t.put("page.html", b"<p>page</p>\n")
    t.put("style.css", b"p { }\n")
    t.put("IMAGE.PNG", b"\x89PNG....")
    t.put("noext", b"no extension\n")
    t.put("file.unknownext", b"?\n")
    t.put("text100.txt", bytes(range(48, 58)) * 10)
    t.put("d/index.html", b"index of d\n")
    t.put("d/other.txt", b"other in d\n")
    t.put("d2/x.txt", b"sibling of d\n")
    t.put("two/b.html", b"b.html\n")
    t.put("outside.txt", b"above the alias\n")
    (t.root / "empty").mkdir()
    (t.root / "with space").mkdir()
    (t.outside / "secret.txt").write_bytes(b"top secret\n")
    os.chmod(t.outside / "secret.txt", 0o644)
    t.share()
    return t


def prepare(portico, conf, tree, **values):
    """Starts a server whose directory holds a copy of conf/mime.types."""
    server = portico.start(conf, www=str(tree.root),
                           outside=str(tree.outside), **values)
    return server


@pytest.fixture
def portico_mime(portico):
    """The portico fixture, with mime.types next to every configuration."""
    orig = portico.start

    def start(conf, **values):
        n = len(portico.servers)
        tmp = portico.base / ("portico%d" % n if n else "portico")
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "mime.types").write_bytes(
            (REPO / "conf" / "mime.types").read_bytes())
        return orig(conf, **values)

    portico.start = start
    return portico


def request(port, path, headers=(), method="GET", version=b"HTTP/1.1"):
    extra = b"".join(("%s: %s\r\n" % (n, v)).encode() for n, v in headers)
    head = method == "HEAD"
    c = Client(port)
    try:
        return c.request(get(path, extra=extra, method=method.encode(),
                             version=version), head=head)
    finally:
        c.close()


def multipart(resp):
    """The parts of a multipart/byteranges body: [(headers, data)]."""
    m = re.match(r"^multipart/byteranges; boundary=(\S+)$",
                 resp.header("Content-Type"))
    assert m, resp.header("Content-Type")
    boundary = m.group(1).encode()

    pieces = resp.body.split(b"\r\n--" + boundary)
    assert pieces[0] == b"", pieces[0]
    assert pieces[-1] == b"--\r\n", pieces[-1]

    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n"), piece[:40]
        head, sep, data = piece[2:].partition(b"\r\n\r\n")
        assert sep
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b": ")
            headers[name.decode()] = value.decode()
        parts.append((headers, data))
    return parts


# ---------------------------------------------------------------------------
# files and their headers


@pytest.mark.parametrize("sendfile", ["on", "off"])
def test_files_of_every_size(portico_mime, tree, sendfile):
    server = prepare(portico_mime, one_server(
        "        root {www};\n        sendfile %s;" % sendfile), tree)

    c = Client(server.port)
    for name in ("empty.txt", "one.txt", "4k.bin", "1m.bin"):
        data = tree.files[name]
        resp = c.request(get("/" + name))
        assert resp.status == 200, resp
        assert hashlib.sha256(resp.body).hexdigest() == \
            hashlib.sha256(data).hexdigest()
        assert resp.header("Content-Length") == str(len(data))
        assert resp.header("Last-Modified") == MTIME_HTTP
        assert resp.header("ETag") == tree.etag(name)
        assert resp.header("Accept-Ranges") == "bytes"
        assert resp.header("Connection") == "keep-alive"

    assert c.request(get("/4k.bin")).header("Content-Type") == \
        "application/octet-stream"
    assert c.request(get("/empty.txt")).header("Content-Type") == \
        "text/plain"


def test_response_bytes(portico_mime, tree, portico_version):
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    data = raw(server.port, get("/hello.txt", extra=b"Connection: close\r\n"))

    m = re.match(rb"^HTTP/1\.1 200 OK\r\n"
                 rb"Server: (portico/[0-9.]+)\r\n"
                 rb"Date: [^\r\n]+\r\n"
                 rb"Content-Type: text/plain\r\n"
                 rb"Content-Length: 6\r\n"
                 rb"Last-Modified: Sun, 13 Sep 2020 12:26:40 GMT\r\n"
                 rb"Connection: close\r\n"
                 rb"ETag: \"5f5e1000-6\"\r\n"
                 rb"Accept-Ranges: bytes\r\n"
                 rb"\r\n"
                 rb"hello\n$", data)
    assert m, data
    assert m.group(1).decode() == portico_version


def test_root_relative_to_prefix_and_default_html(portico_mime, tree):
    conf = one_server("        location / { }\n"
                      "        location /rel/ { root docs; }")
    tmp = portico_mime.base / "portico"
    (tmp / "html").mkdir(parents=True)
    (tmp / "html" / "hi.txt").write_bytes(b"default root\n")
    (tmp / "docs" / "rel").mkdir(parents=True)
    (tmp / "docs" / "rel" / "r.txt").write_bytes(b"relative root\n")
    for p in (tmp / "html", tmp / "docs", tmp / "docs" / "rel"):
        os.chmod(p, 0o755)

    server = prepare(portico_mime, conf, tree)
    assert request(server.port, "/hi.txt").body == b"default root\n"
    assert request(server.port, "/rel/r.txt").body == b"relative root\n"


def test_root_with_variables(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {base}/$host;"), tree, base=str(tree.base))
    os.symlink(tree.root, tree.base / "example.com")

    resp = request(server.port, "/hello.txt")
    assert resp.status == 404
    c = Client(server.port)
    resp = c.request(get("/hello.txt", host="example.com"))
    assert resp.status == 200 and resp.body == b"hello\n"


def test_mime_types(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /plain/ {\n"
        "            alias {www}/;\n"
        "            types { }\n"
        "            default_type text/x-all;\n"
        "        }\n"
        "        location /own/ {\n"
        "            alias {www}/;\n"
        "            types { text/x-own txt TEXT; }\n"
        "        }"), tree)

    c = Client(server.port)
    for path, ct in (("/page.html", "text/html"),
                     ("/style.css", "text/css"),
                     ("/IMAGE.PNG", "image/png"),
                     ("/hello.txt", "text/plain"),
                     ("/noext", "application/octet-stream"),
                     ("/file.unknownext", "application/octet-stream"),
                     ("/plain/page.html", "text/x-all"),
                     ("/own/hello.txt", "text/x-own"),
                     ("/own/page.html", "application/octet-stream")):
        resp = c.request(get(path))
        assert resp.status == 200, (path, resp)
        assert resp.header("Content-Type") == ct, path


def test_default_types_without_mime_types(portico, tree):
    server = prepare(portico, (
        "http {\n"
        "    server {\n"
        "        listen 127.0.0.1:{port};\n"
        "        root {www};\n"
        "    }\n"
        "}\n"), tree)

    assert request(server.port, "/page.html").header("Content-Type") == \
        "text/html"
    assert request(server.port, "/style.css").header("Content-Type") == \
        "text/plain"


def test_types_block_errors(tree):
    rc, out, err = run_portico(["-t"], (
        "http {\n"
        "    types { text/plain txt; text/x-other txt; }\n"
        "    server { listen 127.0.0.1:1; root /tmp; alias /tmp; }\n"
        "}\n"), tmp=tree.base)
    assert rc == 1
    assert "duplicate extension \"txt\"" in err
    assert '"alias" directive is not allowed here' in err


# ---------------------------------------------------------------------------
# errors and methods


def test_not_found_and_forbidden(portico_mime, tree):
    os.mkfifo(tree.root / "fifo")
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        index none.html;"), tree)

    c = Client(server.port)
    assert c.request(get("/missing.txt")).status == 404
    assert c.request(get("/hello.txt/x")).status == 404     # ENOTDIR
    assert c.request(get("/missing/")).status == 404
    assert c.request(get("/fifo")).status == 404
    resp = c.request(get("/empty/"))
    assert resp.status == 403
    assert b"403 Forbidden" in resp.body
    assert c.request(get("/hello.txt")).status == 200

    log = server.error_log()
    assert "directory index of" in log and "is forbidden" in log
    assert "is not a regular file" in log


def test_unreadable_file_is_403(portico_mime, tree):
    p = tree.put("locked.txt", b"locked\n")
    os.chmod(p, 0)
    main = ""
    if os.geteuid() == 0:
        # root reads anything: let workers that run as nobody try
        if "master_process" in conftest.PROCESS_DIRECTIVES:
            if "master_process off" in conftest.PROCESS_DIRECTIVES:
                pytest.skip("root reads any file")
        else:
            main = "master_process on; worker_processes 1;\n"
    server = prepare(portico_mime, main + one_server("        root {www};"),
                     tree)
    resp = request(server.port, "/locked.txt")
    assert resp.status == 403 and b"locked" not in resp.body
    assert "Permission denied" in server.error_log()


def test_methods(portico_mime, tree):
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)
    resp = c.request(get("/hello.txt", method=b"POST",
                         extra=b"Content-Length: 0\r\n"))
    assert resp.status == 405
    assert resp.header("Allow") == "GET, HEAD"
    resp = c.request(get("/hello.txt", method=b"DELETE"))
    assert resp.status == 405
    assert resp.header("Allow") == "GET, HEAD"
    assert c.request(get("/missing", method=b"POST",
                         extra=b"Content-Length: 0\r\n")).status == 404
    assert c.request(get("/hello.txt")).body == b"hello\n"


def test_head(portico_mime, tree):
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)
    resp = c.request(get("/1m.bin", method=b"HEAD"), head=True)
    assert resp.status == 200
    assert resp.header("Content-Length") == str(1 << 20)
    assert resp.header("ETag") == tree.etag("1m.bin")
    assert resp.raw.endswith(b"\r\n\r\n") and resp.body == b""

    # nothing followed the head: the next answer starts at once
    resp = c.request(get("/hello.txt"))
    assert resp.status == 200 and resp.body == b"hello\n"

    resp = c.request(get("/hello.txt", method=b"HEAD",
                         extra=b"Range: bytes=1-2\r\n"), head=True)
    assert resp.status == 206
    assert resp.header("Content-Range") == "bytes 1-2/6"
    assert resp.header("Content-Length") == "2"
    assert c.request(get("/one.txt")).body == b"x"


def test_directory_redirect(portico_mime, tree):
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)
    resp = c.request(get("/d"))
    assert resp.status == 301
    assert resp.header("Location") == "/d/"
    assert b"301 Moved Permanently" in resp.body

    resp = c.request(get("/d?a=1&b=%20x"))
    assert resp.status == 301
    assert resp.header("Location") == "/d/?a=1&b=%20x"

    resp = c.request(get("/with%20space"))
    assert resp.status == 301
    assert resp.header("Location") == "/with%20space/"

    assert c.request(get("/d/")).body == b"index of d\n"


# ---------------------------------------------------------------------------
# big files and memory


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def stream_and_watch(server, path, size, markers):
    """
    Downloads path in 1 MiB reads, discarding the bytes but checking the
    markers (offset -> bytes) and that all else is zero; samples the RSS
    of the server's processes. Returns the largest growth in KiB.
    """
    pids = group_members(server.pid)
    base = {pid: rss_kib(pid) for pid in pids}

    s = connect(server.port, timeout=60)
    s.sendall(get(path, extra=b"Connection: close\r\n"))

    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, buf
        buf += chunk

    head, _, body = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n"), head
    assert b"\r\nContent-Length: %d\r\n" % size in head, head

    expected_nonzero = sum(len(m) - m.count(0) for m in markers.values())
    nonzero = 0
    offset = 0
    growth = 0
    reads = 0
    pending = body

    while True:
        if pending:
            chunk, pending = pending, b""
        else:
            if offset >= size:
                break
            chunk = s.recv(1 << 20)
            if not chunk:
                break
        for at, m in markers.items():
            lo = max(at, offset)
            hi = min(at + len(m), offset + len(chunk))
            if lo < hi:
                assert chunk[lo - offset:hi - offset] == m[lo - at:hi - at]
        nonzero += len(chunk) - chunk.count(0)
        offset += len(chunk)
        reads += 1
        if reads % 64 == 0:
            for pid in pids:
                growth = max(growth, rss_kib(pid) - base[pid])

    s.close()
    assert offset == size
    assert nonzero == expected_nonzero
    return growth, max(rss_kib(pid) for pid in pids)


def sparse(tree, rel, size):
    p = tree.root / rel
    markers = {0: b"BEGIN", size // 2: b"MIDDLE", size - 3: b"END"}
    with open(p, "wb") as f:
        f.truncate(size)
        for at, m in markers.items():
            f.seek(at)
            f.write(m)
    os.chmod(p, 0o644)
    return markers


def test_1g_file_with_sendfile_flat_memory(portico_mime, tree):
    size = 1 << 30
    markers = sparse(tree, "big.bin", size)
    server = prepare(portico_mime, one_server(
        "        root {www};\n        sendfile on;"), tree)

    growth, peak = stream_and_watch(server, "/big.bin", size, markers)
    assert growth < 16 * 1024, "RSS grew by %d KiB" % growth
    if "asan" not in os.environ.get("PORTICO_BIN", ""):
        assert peak < 64 * 1024, "RSS reached %d KiB" % peak


def test_sendfile_off_reads_in_pieces(portico_mime, tree):
    size = 256 << 20
    markers = sparse(tree, "big.bin", size)
    server = prepare(portico_mime, one_server(
        "        root {www};\n        sendfile off;"), tree)

    growth, peak = stream_and_watch(server, "/big.bin", size, markers)
    assert growth < 16 * 1024, "RSS grew by %d KiB" % growth


# ---------------------------------------------------------------------------
# index and try_files


def test_index(portico_mime, tree):
    tree.put("two/a.html", b"a.html\n")
    tree.put("fallback.html", b"fallback\n")
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /two/ { index missing.html b.html a.html; }\n"
        "        location /d2/ { index nothing.html /fallback.html; }\n"
        "        location /al/ { alias {www}/d/; }"), tree)

    c = Client(server.port)
    resp = c.request(get("/d/"))
    assert resp.status == 200 and resp.body == b"index of d\n"
    assert resp.header("Content-Type") == "text/html"
    assert c.request(get("/two/")).body == b"b.html\n"
    assert c.request(get("/d2/")).body == b"fallback\n"
    assert c.request(get("/al/")).body == b"index of d\n"
    assert c.request(get("/missing/")).status == 404
    assert c.request(get("/empty/")).status == 403

    # the arguments stay with the redirect
    assert c.request(get("/d/?x=1")).body == b"index of d\n"


def test_try_files(portico_mime, tree):
    tree.put("a/present.txt", b"present\n")
    tree.put("b/sub/index.html", b"sub index\n")
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /a/ { try_files $uri /hello.txt; }\n"
        "        location /b/ { try_files $uri $uri/ =404; }\n"
        "        location /c/ { try_files /nothing $uri @named; }\n"
        "        location @named { return 200 \"named $uri\"; }\n"
        "        location /e/ { try_files /nope.txt /show?from=$uri; }\n"
        "        location = /show { return 200 \"args=$args\"; }\n"
        "        location /f/ { try_files /nope $uri.txt =418; }\n"
        "        location /g/ {\n"
        "            alias {www}/d/;\n"
        "            try_files $uri /g/other.txt =404;\n"
        "        }"), tree)

    c = Client(server.port)
    assert c.request(get("/a/present.txt")).body == b"present\n"
    resp = c.request(get("/a/missing"))
    assert resp.status == 200 and resp.body == b"hello\n"
    assert resp.header("Content-Type") == "text/plain"

    assert c.request(get("/b/missing")).status == 404
    assert c.request(get("/b/sub")).body == b"sub index\n"

    resp = c.request(get("/c/missing"))
    assert resp.status == 200 and resp.body == b"named /c/missing"

    resp = c.request(get("/e/x?y=1"))
    assert resp.body == b"args=from=/e/x"

    assert c.request(get("/f/z")).status == 418
    tree.put("f/z.txt", b"z\n")
    resp = c.request(get("/f/z"))
    assert resp.status == 200 and resp.body == b"z\n"

    assert c.request(get("/g/index.html")).body == b"index of d\n"
    assert c.request(get("/g/missing")).body == b"other in d\n"


def test_try_files_cycle_is_500(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location / { try_files $uri /loop; }"), tree)
    assert request(server.port, "/x").status == 500
    assert "internal redirection cycle" in server.error_log()


def test_autoindex(portico_mime, tree, portico_modules):
    if "pt_http_autoindex_module" not in portico_modules:
        pytest.skip("pt_http_autoindex_module is not compiled in")

    tree.put("list/b.txt", b"bb\n")
    tree.put("list/a <&>.txt", b"a" * 20000)
    tree.put("list/x:y", b"")
    tree.put("list/.hidden", b"")
    tree.put("list/" + "n" * 60, b"long\n")
    (tree.root / "list" / "sub").mkdir()
    tree.put("listjson/f.txt", b"12345")
    (tree.root / "listjson" / "sub dir").mkdir()
    tree.share()

    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /list/ { autoindex on; }\n"
        "        location /human/ {\n"
        "            alias {www}/list/;\n"
        "            autoindex on;\n"
        "            autoindex_exact_size off;\n"
        "        }\n"
        "        location /listjson/ { autoindex on; autoindex_format json; }"
        "\n"
        "        location /d/ { autoindex on; }"), tree)

    c = Client(server.port)
    resp = c.request(get("/list/"))
    assert resp.status == 200
    assert resp.header("Content-Type") == "text/html"
    date = time.strftime("%d-%b-%Y %H:%M", time.gmtime(MTIME))
    body = resp.body.decode()
    lines = body.split("\r\n")
    assert lines[:4] == [
        "<html>", "<head><title>Index of /list/</title></head>", "<body>",
        '<h1>Index of /list/</h1><hr><pre><a href="../">../</a>']
    sub = os.stat(tree.root / "list" / "sub").st_mtime
    assert lines[4] == ('<a href="sub/">sub/</a>' + " " * 47
                        + time.strftime("%d-%b-%Y %H:%M",
                                        time.gmtime(sub))
                        + " " * 19 + "-")
    assert lines[5] == ('<a href="a%20%3C%26%3E.txt">a &lt;&amp;&gt;.txt</a>'
                        + " " * 42 + date + " " + "%19d" % 20000)
    assert lines[6] == ('<a href="b.txt">b.txt</a>' + " " * 46 + date + " "
                        + "%19d" % 3)
    assert lines[7].startswith('<a href="%s">%s..&gt;</a> ' % ("n" * 60,
                                                                "n" * 47))
    assert lines[8].startswith('<a href="./x:y">x:y</a>')
    assert lines[9:] == ["</pre><hr></body>", "</html>", ""]
    assert ".hidden" not in body

    resp = c.request(get("/human/"))
    assert "   20K\r\n" in resp.body.decode()
    assert "      3\r\n" in resp.body.decode()

    resp = c.request(get("/listjson/"))
    assert resp.header("Content-Type") == "application/json"
    import json
    listing = json.loads(resp.body)
    assert listing[0]["name"] == "sub dir"
    assert listing[0]["type"] == "directory"
    assert listing[1] == {"name": "f.txt", "type": "file",
                          "mtime": MTIME_HTTP, "size": 5}

    # an index file wins; a missing directory is 404
    assert c.request(get("/d/")).body == b"index of d\n"
    assert c.request(get("/list/missing/")).status == 404
    resp = c.request(get("/list/", method=b"HEAD"), head=True)
    assert resp.status == 200 and resp.body == b""


# ---------------------------------------------------------------------------
# alias and paths that try to leave the root


def test_alias(portico_mime, tree):
    tree.put("assets/css/site.css", b"body { }\n")
    server = prepare(portico_mime, one_server(
        "        root {outside};\n"
        "        location /static/ { alias {www}/assets/; }\n"
        "        location = /one { alias {www}/hello.txt; }\n"
        "        location /i { alias {www}/d/; }\n"
        "        location /j { alias {www}/d; }"), tree)

    c = Client(server.port)
    resp = c.request(get("/static/css/site.css"))
    assert resp.status == 200 and resp.body == b"body { }\n"
    assert resp.header("Content-Type") == "text/css"
    assert c.request(get("/one")).body == b"hello\n"
    assert c.request(get("/i/other.txt")).body == b"other in d\n"
    assert c.request(get("/iother.txt")).body == b"other in d\n"
    assert c.request(get("/j/other.txt")).body == b"other in d\n"
    assert c.request(get("/static/css")).header("Location") == \
        "/static/css/"

    # the rest of the URI must not run on out of the aliased directory
    resp = c.request(get("/i../outside.txt"))
    assert resp.status == 404 and b"above the alias" not in resp.body
    resp = c.request(get("/j2/x.txt"))
    assert resp.status == 404 and b"sibling" not in resp.body
    resp = c.request(get("/j../outside.txt"))
    assert resp.status == 404


ESCAPES = [
    b"/../etc/passwd",
    b"/../../../../../../etc/passwd",
    b"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"/%2E%2E/outside/secret.txt",
    b"/..%2foutside%2fsecret.txt",
    b"/d/..%2f..%2foutside%2fsecret.txt",
    b"/d/%2e%2e%2f%2e%2e%2foutside/secret.txt",
    b"/d/.%2e/.%2e/outside/secret.txt",
    b"/./../outside/secret.txt",
    b"//../outside/secret.txt",
    b"/hello.txt%00.html",
    b"/%00",
    b"/d/..\\..\\outside\\secret.txt",
    b"/static/../../outside/secret.txt",
    b"/static/..%2f..%2foutside/secret.txt",
]


@pytest.mark.parametrize("target", ESCAPES)
def test_path_escapes_refused(portico_mime, tree, target):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /static/ { alias {www}/d/; }"), tree)

    data = raw(server.port, b"GET " + target + b" HTTP/1.1\r\n"
               b"Host: localhost\r\nConnection: close\r\n\r\n")
    resp, _ = parse_response(data)
    assert resp.status in (400, 403, 404), resp
    assert b"top secret" not in data and b"root:" not in data


def test_symlinks(portico_mime, tree):
    os.symlink(tree.outside / "secret.txt", tree.root / "link.txt")
    os.symlink(tree.outside, tree.root / "linkdir")
    os.symlink(tree.root / "hello.txt", tree.root / "inner.txt")
    os.symlink(tree.root, tree.base / "www-link")

    server = prepare(portico_mime, one_server(
        "        location /off/ { alias {www}/; disable_symlinks off; }\n"
        "        location /on/ { alias {www}/; disable_symlinks on; }\n"
        "        location /from/ {\n"
        "            alias {base}/www-link/;\n"
        "            disable_symlinks on from=$document_root;\n"
        "        }\n"
        "        location /onlink/ {\n"
        "            alias {base}/www-link/;\n"
        "            disable_symlinks on;\n"
        "        }"), tree, base=str(tree.base))

    c = Client(server.port)
    for prefix in ("/off/", "/on/", "/from/"):
        assert c.request(get(prefix + "hello.txt")).body == b"hello\n"

    assert c.request(get("/off/link.txt")).body == b"top secret\n"
    assert c.request(get("/off/linkdir/secret.txt")).body == b"top secret\n"
    assert c.request(get("/off/inner.txt")).body == b"hello\n"

    for path in ("/on/link.txt", "/on/linkdir/secret.txt", "/on/inner.txt",
                 "/from/link.txt", "/from/linkdir/secret.txt",
                 "/onlink/hello.txt"):
        resp = c.request(get(path))
        assert resp.status == 403, (path, resp)
        assert b"top secret" not in resp.body

    assert c.request(get("/on/linkdir/missing")).status == 403
    assert c.request(get("/on/missing/x")).status == 404


# ---------------------------------------------------------------------------
# ranges


def test_single_ranges(portico_mime, tree):
    data = tree.files["1m.bin"]
    n = len(data)
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)
    for spec, lo, hi in (("0-99", 0, 99),
                         ("-500", n - 500, n - 1),
                         ("100-", 100, n - 1),
                         ("0-0", 0, 0),
                         ("%d-%d" % (n - 10, n + 1000), n - 10, n - 1),
                         ("-%d" % (n * 2), 0, n - 1),
                         (" 5 - 9 ", 5, 9),
                         ("0-9, 2000000-", 0, 9)):
        resp = c.request(get("/1m.bin", extra=b"Range: bytes=%s\r\n"
                             % spec.encode()))
        assert resp.status == 206, (spec, resp.status)
        assert resp.reason == "Partial Content"
        assert resp.header("Content-Range") == "bytes %d-%d/%d" % (lo, hi, n)
        assert resp.header("Content-Length") == str(hi - lo + 1)
        assert resp.header("Content-Type") == "application/octet-stream"
        assert resp.header("ETag") == tree.etag("1m.bin")
        assert resp.body == data[lo:hi + 1], spec


@pytest.mark.parametrize("sendfile", ["on", "off"])
def test_multiple_ranges(portico_mime, tree, sendfile):
    data = tree.files["text100.txt"]
    server = prepare(portico_mime, one_server(
        "        root {www};\n        sendfile %s;" % sendfile), tree)

    resp = request(server.port, "/text100.txt",
                   [("Range", "bytes=0-4,90-,-3,10-19")])
    assert resp.status == 206
    assert resp.header("Content-Range") is None
    assert int(resp.header("Content-Length")) == len(resp.body)

    parts = multipart(resp)
    assert [p[1] for p in parts] == [data[0:5], data[90:], data[97:],
                                     data[10:20]]
    assert [p[0]["Content-Range"] for p in parts] == [
        "bytes 0-4/100", "bytes 90-99/100", "bytes 97-99/100",
        "bytes 10-19/100"]
    assert all(p[0]["Content-Type"] == "text/plain" for p in parts)


def test_unsatisfiable_and_ignored_ranges(portico_mime, tree):
    data = tree.files["text100.txt"]
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /one/ { alias {www}/; max_ranges 1; }\n"
        "        location /none/ { alias {www}/; max_ranges 0; }"), tree)

    c = Client(server.port)
    for spec in ("bytes=100-", "bytes=500-600", "bytes=-0", "bytes=100-,200-"):
        resp = c.request(get("/text100.txt", extra=b"Range: %s\r\n"
                             % spec.encode()))
        assert resp.status == 416, spec
        assert resp.header("Content-Range") == "bytes */100"
        assert resp.header("Content-Length") == "0" and resp.body == b""

    # invalid, of another unit, or larger than the whole: all of it
    for spec in ("bytes=abc", "bytes=5-1", "items=0-1", "bytes=",
                 "bytes=0-60,40-99", "bytes=1-2;x"):
        resp = c.request(get("/text100.txt", extra=b"Range: %s\r\n"
                             % spec.encode()))
        assert resp.status == 200, spec
        assert resp.body == data

    resp = c.request(get("/one/text100.txt", extra=b"Range: bytes=0-1\r\n"))
    assert resp.status == 206 and resp.body == data[:2]
    resp = c.request(get("/one/text100.txt",
                         extra=b"Range: bytes=0-1,5-6\r\n"))
    assert resp.status == 200 and resp.body == data

    resp = c.request(get("/none/text100.txt", extra=b"Range: bytes=0-1\r\n"))
    assert resp.status == 200 and resp.body == data
    assert resp.header("Accept-Ranges") is None

    # only 200 responses have ranges
    resp = c.request(get("/missing", extra=b"Range: bytes=0-1\r\n"))
    assert resp.status == 404

    # an empty file is simply sent
    resp = c.request(get("/empty.txt", extra=b"Range: bytes=0-\r\n"))
    assert resp.status == 200 and resp.body == b""


def test_if_range(portico_mime, tree):
    data = tree.files["text100.txt"]
    etag = tree.etag("text100.txt")
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)

    def ask(if_range):
        return c.request(get("/text100.txt", extra=(
            "Range: bytes=10-19\r\nIf-Range: %s\r\n" % if_range).encode()))

    resp = ask(etag)
    assert resp.status == 206 and resp.body == data[10:20]
    resp = ask(MTIME_HTTP)
    assert resp.status == 206 and resp.body == data[10:20]

    for other in ('"other"', "W/" + etag, http_date(MTIME - 1),
                  http_date(MTIME + 1), "garbage"):
        resp = ask(other)
        assert resp.status == 200, other
        assert resp.body == data


# ---------------------------------------------------------------------------
# conditional requests


def test_if_none_match(portico_mime, tree):
    etag = tree.etag("hello.txt")
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)
    for value in (etag, "W/" + etag, "*", '"a", %s, "b"' % etag,
                  '"a",%s' % ("W/" + etag)):
        resp = c.request(get("/hello.txt",
                             extra=b"If-None-Match: %s\r\n" % value.encode()))
        assert resp.status == 304, value
        assert resp.body == b""
        assert resp.header("ETag") == etag
        assert resp.header("Last-Modified") == MTIME_HTTP
        assert resp.header("Content-Length") is None
        assert resp.header("Content-Type") is None
        assert resp.header("Accept-Ranges") is None

    for value in ('"other"', '"%s"' % etag, "W/\"x\"", "garbage"):
        resp = c.request(get("/hello.txt",
                             extra=b"If-None-Match: %s\r\n" % value.encode()))
        assert resp.status == 200, value
        assert resp.body == b"hello\n"

    # HEAD too; other methods fail the precondition
    resp = c.request(get("/hello.txt", method=b"HEAD",
                         extra=b"If-None-Match: %s\r\n" % etag.encode()),
                     head=True)
    assert resp.status == 304

    # If-None-Match wins over If-Modified-Since
    resp = c.request(get("/hello.txt", extra=(
        'If-None-Match: "other"\r\nIf-Modified-Since: %s\r\n'
        % MTIME_HTTP).encode()))
    assert resp.status == 200


def test_if_modified_since(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /before/ { alias {www}/;"
        " if_modified_since before; }\n"
        "        location /off/ { alias {www}/; if_modified_since off; }"),
        tree)

    c = Client(server.port)

    def ask(path, value):
        return c.request(get(path, extra=b"If-Modified-Since: %s\r\n"
                             % value.encode()))

    cases = (
        (MTIME_HTTP, 304, 304, 200),
        ("Sunday, 13-Sep-20 12:26:40 GMT", 304, 304, 200),
        ("Sun Sep 13 12:26:40 2020", 304, 304, 200),
        (http_date(MTIME - 1), 200, 200, 200),
        (http_date(MTIME + 3600), 200, 304, 200),
        ("garbage", 200, 200, 200),
        ("", 200, 200, 200),
    )
    for value, exact, before, off in cases:
        assert ask("/hello.txt", value).status == exact, value
        assert ask("/before/hello.txt", value).status == before, value
        assert ask("/off/hello.txt", value).status == off, value

    resp = ask("/hello.txt", MTIME_HTTP)
    assert resp.body == b"" and resp.header("ETag") == tree.etag("hello.txt")


def test_if_match_and_if_unmodified_since(portico_mime, tree):
    etag = tree.etag("hello.txt")
    server = prepare(portico_mime, one_server("        root {www};"), tree)

    c = Client(server.port)

    def ask(name, value):
        return c.request(get("/hello.txt", extra=("%s: %s\r\n"
                                                  % (name, value)).encode()))

    for value in (etag, "*", '"x", %s' % etag):
        resp = ask("If-Match", value)
        assert resp.status == 200 and resp.body == b"hello\n", value

    for value in ('"x"', "W/" + etag, "garbage"):
        resp = ask("If-Match", value)
        assert resp.status == 412, value
        assert resp.reason == "Precondition Failed"
        assert resp.body == b"" and resp.header("Content-Length") == "0"

    for value, status in ((MTIME_HTTP, 200), (http_date(MTIME + 10), 200),
                          (http_date(MTIME - 10), 412), ("garbage", 200)):
        assert ask("If-Unmodified-Since", value).status == status, value

    # If-Match first: a match ignores If-Unmodified-Since
    resp = c.request(get("/hello.txt", extra=(
        "If-Match: %s\r\nIf-Unmodified-Since: %s\r\n"
        % (etag, http_date(MTIME - 10))).encode()))
    assert resp.status == 200

    # the connection is fine after all of that
    assert c.request(get("/one.txt")).body == b"x"


# ---------------------------------------------------------------------------
# add_header and expires


def test_add_header(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        add_header X-Server s;\n"
        "        add_header X-Server-Always sa always;\n"
        "        location /own/ {\n"
        "            alias {www}/;\n"
        "            add_header X-Own \"o $uri\";\n"
        "            add_header X-Always a always;\n"
        "            add_header X-Empty $arg_none;\n"
        "        }\n"
        "        location /inherit/ { alias {www}/; }"), tree)

    c = Client(server.port)
    resp = c.request(get("/hello.txt"))
    assert resp.header("X-Server") == "s"
    assert resp.header("X-Server-Always") == "sa"
    # after the response's own headers, in order
    names = [n for n, v in resp.headers]
    assert names[-2:] == ["X-Server", "X-Server-Always"]

    resp = c.request(get("/inherit/hello.txt"))
    assert resp.header("X-Server") == "s"

    resp = c.request(get("/own/hello.txt"))
    assert resp.header("X-Own") == "o /own/hello.txt"
    assert resp.header("X-Always") == "a"
    assert resp.header("X-Server") is None
    assert resp.header("X-Empty") is None

    resp = c.request(get("/own/missing"))
    assert resp.status == 404
    assert resp.header("X-Own") is None
    assert resp.header("X-Always") == "a"

    resp = c.request(get("/missing"))
    assert resp.header("X-Server") is None
    assert resp.header("X-Server-Always") == "sa"

    # 304 and 206 are among the statuses that get them
    resp = c.request(get("/own/hello.txt", extra=b"If-None-Match: *\r\n"))
    assert resp.status == 304 and resp.header("X-Own") == "o /own/hello.txt"
    resp = c.request(get("/own/hello.txt", extra=b"Range: bytes=0-0\r\n"))
    assert resp.status == 206 and resp.header("X-Own") is not None
    # and 301
    assert c.request(get("/d")).header("X-Server") == "s"


def test_expires(portico_mime, tree):
    server = prepare(portico_mime, one_server(
        "        root {www};\n"
        "        location /max/ { alias {www}/; expires max; }\n"
        "        location /epoch/ { alias {www}/; expires epoch; }\n"
        "        location /hour/ { alias {www}/; expires 1h; }\n"
        "        location /past/ { alias {www}/; expires -1; }\n"
        "        location /mod/ { alias {www}/; expires modified +1h; }\n"
        "        location /zero/ { alias {www}/; expires 0; }\n"
        "        location /hour/off/ { alias {www}/; expires off; }"), tree)

    c = Client(server.port)

    resp = c.request(get("/max/hello.txt"))
    assert resp.header("Expires") == "Thu, 31 Dec 2037 23:55:55 GMT"
    assert resp.header("Cache-Control") == "max-age=315360000"

    resp = c.request(get("/epoch/hello.txt"))
    assert resp.header("Expires") == "Thu, 01 Jan 1970 00:00:01 GMT"
    assert resp.header("Cache-Control") == "no-cache"

    resp = c.request(get("/hour/hello.txt"))
    assert resp.header("Cache-Control") == "max-age=3600"
    t = email.utils.parsedate_to_datetime(resp.header("Expires")).timestamp()
    assert abs(t - (time.time() + 3600)) < 60

    resp = c.request(get("/past/hello.txt"))
    assert resp.header("Cache-Control") == "no-cache"

    resp = c.request(get("/mod/hello.txt"))
    assert resp.header("Expires") == http_date(MTIME + 3600)
    assert resp.header("Cache-Control") == "no-cache"   # long past

    resp = c.request(get("/zero/hello.txt"))
    assert resp.header("Cache-Control") == "max-age=0"

    resp = c.request(get("/hour/off/hello.txt"))
    assert resp.header("Expires") is None
    assert resp.header("Cache-Control") is None

    resp = c.request(get("/max/missing"))
    assert resp.status == 404
    assert resp.header("Expires") is None
    assert resp.header("Cache-Control") is None

    resp = c.request(get("/hello.txt"))
    assert resp.header("Expires") is None


def test_directive_errors(tree):
    (tree.base / "mime.types").write_bytes(
        (REPO / "conf" / "mime.types").read_bytes())

    def check(inner, message):
        rc, out, err = run_portico(["-t"], one_server(
            "        root {www};\n" + inner), tmp=tree.base,
            www=str(tree.root), port=1)
        assert rc == 1, err
        assert message in err, err

    check("location / { try_files $uri; }",
          'invalid number of arguments in "try_files"')
    check("location / { try_files $uri =99; }", 'invalid code "=99"')
    check("location / { try_files $uri index.html; }",
          'the last parameter of "try_files" must be a URI')
    check("location / { alias /a; alias /b; }", '"alias" directive is '
          'duplicate, "alias" directive was specified earlier')
    check("location / { disable_symlinks maybe; }", 'invalid value "maybe"')
    check("location / { expires soon; }", 'invalid value "soon"')
    check("location / { add_header \"X Y\" v; }", "invalid header name")
    check("location / { add_header X v sometimes; }",
          'invalid parameter "sometimes"')
    check("location / { if_modified_since always; }",
          'invalid value "always"')
    check("location / { max_ranges many; }", 'invalid number "many"')
    check("location @x { alias /x; }", '"alias" directive cannot be used '
          'inside the named location')
