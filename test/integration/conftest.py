"""
Shared fixtures and helpers of Portico's integration tests.

Every test writes its configuration inline, starts portico on free
loopback ports through the ``portico`` fixture, and looks at the bytes on
the wire.  The fixture always stops what it started (SIGTERM by pid, then
SIGKILL by pid), and fails the test when the server crashed, printed
sanitizer errors, or logged at [alert]/[crit]/[emerg] level unless the test
declared that it expects so.

Nothing here sleeps a fixed time where a condition can be waited on, and
every wait is bounded: the tests also run against the ASan build
(PORTICO_BIN=objs-asan/portico), which is several times slower, and
under valgrind (PORTICO_WRAPPER, see below), slower still.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]

PORTICO_BIN = os.environ.get("PORTICO_BIN") or str(REPO / "objs" / "portico")

# A command that runs the binary, e.g. "valgrind --error-exitcode=99
# --leak-check=full": its words go before the binary's path wherever a test
# starts portico (make check-valgrind sets it).  The wrapper must keep the
# process's pid (valgrind does: the tool runs in the process it starts),
# since the tests signal the server by pid.
PORTICO_WRAPPER = shlex.split(os.environ.get("PORTICO_WRAPPER", ""))

# the server starts and stops within these (generous: ASan is slow)
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# default bound of one network exchange
IO_TIMEOUT = 5.0

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
)

# what valgrind's memcheck writes when it finds something: any error
# count but zero when a process exits, and the first line of each report
# (the process may not get to its summary when it is killed)
VALGRIND_ERRORS = re.compile(
    r"^==\d+== (ERROR SUMMARY: [1-9]"
    r"|Invalid (read|write|free)"
    r"|Conditional jump or move depends on uninitialised"
    r"|Use of uninitialised value"
    r"|Syscall param .* (uninitialised|unaddressable)"
    r"|Mismatched free"
    r"|Source and destination overlap"
    r"|Argument .* has a fishy value"
    r"|[\d,]+ (\([\d,]+ direct, [\d,]+ indirect\) )?bytes in [\d,]+ "
    r"blocks are definitely lost)", re.M)


def memory_errors(text):
    """
    The sanitizer and valgrind reports in text, as a list of short
    descriptions (empty when there are none).
    """
    found = ["sanitizer report (%r)" % m for m in SANITIZER_MARKERS
             if m in text]
    found += ["valgrind report: %s" % m.group(0)
              for m in VALGRIND_ERRORS.finditer(text)]
    return found


# error log lines that fail a test unless it says it expects them
BAD_LOG_LEVELS = re.compile(r"\[(alert|crit|emerg)\]")

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
PORT_NAME = re.compile(r"^port\d*$")


# --------------------------------------------------------------------------
# configuration

# Process-model directives every test configuration gets, e.g.
# "master_process on; worker_processes 2;" to run the whole suite against
# workers (PORTICO_TEST_PROCESS overrides it for one run).
PROCESS_DIRECTIVES = os.environ.get("PORTICO_TEST_PROCESS", "")


def preamble(tmp, events="worker_connections 1024;", pid=True,
             process=None):
    """
    The main-context lines every test configuration starts with, as ONE
    line, so that the line numbers of a test's own text do not depend on
    it: the test's first line is line 2 of the file.

    This is the one place for process-model directives: "daemon off;"
    (the fixture runs the server in the foreground) and PROCESS_DIRECTIVES.

    events=None leaves the events block out (for the test that checks the
    error about its absence); pid=False leaves "pid" out (for -g "pid").
    process, when given, replaces PROCESS_DIRECTIVES (for the tests of the
    process model itself, which need a master whatever the run asks for).
    """
    parts = ["daemon off;"]

    if process is None:
        process = PROCESS_DIRECTIVES

    if process:
        parts.append(process)

    parts.append("error_log %s/error.log debug;" % tmp)

    if pid:
        parts.append("pid %s/portico.pid;" % tmp)

    if events is not None:
        parts.append("events { %s }" % events)

    return " ".join(parts) + "\n"


PREAMBLE_LINES = 1


def substitute(text, values):
    """
    Replaces {name} placeholders whose name is in values; everything else
    (nginx's own braces, regex quantifiers like \\d{3}) is left alone.
    """

    def repl(m):
        name = m.group(1)
        if name in values:
            return str(values[name])
        return m.group(0)

    return PLACEHOLDER.sub(repl, text)


def placeholders_in(text):
    return set(PLACEHOLDER.findall(text))


def line_of(path_or_text, needle, occurrence=1, after=None):
    """
    1-based number of the line holding needle (its n-th occurrence), among
    the lines after line "after" (default: the preamble's, when the file
    starts with it; its paths hold the test's name, which could match).
    """
    if isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
        and os.path.exists(path_or_text)
    ):
        text = Path(path_or_text).read_text()
    else:
        text = path_or_text

    if after is None:
        after = PREAMBLE_LINES if " error_log " in " " + text.split(
            "\n", 1)[0] else 0

    seen = 0
    for n, line in enumerate(text.split("\n"), 1):
        if n > after and needle in line:
            seen += 1
            if seen == occurrence:
                return n

    raise AssertionError("%r not found in the configuration" % needle)


# --------------------------------------------------------------------------
# sockets

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def port_accepts(port, host="127.0.0.1"):
    try:
        s = socket.create_connection((host, port), timeout=0.5)
    except OSError:
        return False
    s.close()
    return True


def wait_for(predicate, timeout=IO_TIMEOUT, interval=0.02, what=None):
    """
    Polls predicate until it returns something true, and returns that;
    raises AssertionError after timeout seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s"
                                 % (timeout, what or predicate))
        time.sleep(interval)


def connect(port, host="127.0.0.1", timeout=IO_TIMEOUT):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_until_close(s, timeout=IO_TIMEOUT):
    """
    Reads until the peer closes or timeout seconds pass in all.
    Returns (data, closed): closed is False when the deadline came first.
    A reset counts as a close.
    """
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return data, False
        except (ConnectionResetError, BrokenPipeError):
            return data, True
        if not chunk:
            return data, True
        data += chunk


def exchange(port, data, timeout=IO_TIMEOUT, host="127.0.0.1"):
    """
    Sends raw bytes on a new connection and returns (received, closed):
    everything received until the server closed the connection, or until
    timeout seconds passed (closed is then False).
    """
    s = connect(port, host, timeout)
    try:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        return recv_until_close(s, timeout)
    finally:
        s.close()


def raw(port, data, timeout=IO_TIMEOUT, host="127.0.0.1"):
    """Sends raw bytes, returns what came back until close or timeout."""
    return exchange(port, data, timeout, host)[0]


# --------------------------------------------------------------------------
# a small HTTP/1.1 response parser

class IncompleteResponse(Exception):
    pass


class Response:
    """status, reason, version, headers [(name, value)], body, raw bytes."""

    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw = raw

    def header(self, name):
        """The value of the only header called name (any case), or None."""
        values = self.header_all(name)
        assert len(values) <= 1, "%s appears %d times" % (name, len(values))
        return values[0] if values else None

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    @property
    def head(self):
        """The status line and headers with their final empty line."""
        return self.raw[:self.raw.find(b"\r\n\r\n") + 4]

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body)


def _parse_chunked(data, pos):
    body = b""
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise IncompleteResponse()
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        size = int(size_text, 16)
        pos = eol + 2
        if size == 0:
            # trailers end with an empty line
            end = data.find(b"\r\n", pos)
            while end != pos:
                if end < 0:
                    raise IncompleteResponse()
                pos = end + 2
                end = data.find(b"\r\n", pos)
            return body, pos + 2
        if len(data) < pos + size + 2:
            raise IncompleteResponse()
        body += data[pos:pos + size]
        if data[pos + size:pos + size + 2] != b"\r\n":
            raise ValueError("bad chunk end")
        pos += size + 2


def parse_response(data, head=False, eof=True, start=0):
    """
    Parses one response out of data[start:]. head: it answers a HEAD
    request (no body whatever the headers say). eof: data ends where the
    connection closed, so a body without a length runs to its end.
    Returns (Response, end offset). Raises IncompleteResponse when data
    does not hold all of it.
    """
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise IncompleteResponse()

    lines = data[start:end].split(b"\r\n")
    m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise ValueError("bad status line %r" % lines[0])

    version = m.group(1).decode()
    status = int(m.group(2))
    reason = (m.group(3) or b"").decode("latin1")

    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or name != name.strip() or not name:
            raise ValueError("bad header line %r" % line)
        headers.append((name.decode("latin1"),
                        value.strip(b" \t").decode("latin1")))

    pos = end + 4
    lower = {n.lower(): v for n, v in headers}

    if head or status in (204, 304) or 100 <= status < 200:
        body, pos = b"", pos
    elif "chunked" in lower.get("transfer-encoding", "").lower():
        body, pos = _parse_chunked(data, pos)
    elif "content-length" in lower:
        n = int(lower["content-length"])
        if len(data) < pos + n:
            raise IncompleteResponse()
        body, pos = data[pos:pos + n], pos + n
    else:
        if not eof:
            raise IncompleteResponse()
        body, pos = data[pos:], len(data)

    resp = Response(version, status, reason, headers, body, data[start:pos])
    return resp, pos


def parse_responses(data, count=None, head=False):
    """All responses in data (e.g. answers to pipelined requests)."""
    out = []
    pos = 0
    while pos < len(data) and (count is None or len(out) < count):
        resp, pos = parse_response(data, head=head, start=pos)
        out.append(resp)
    return out, data[pos:]


def http_date_ok(value, slack=60):
    """An IMF-fixdate within slack seconds of now."""
    if not re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"\d{4} \d{2}:\d{2}:\d{2} GMT$", value):
        return False
    t = parsedate_to_datetime(value).timestamp()
    return abs(t - time.time()) <= slack


class Client:
    """One client connection: send requests, read responses one by one."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT):
        self.sock = connect(port, host, timeout)
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def response(self, head=False, timeout=None):
        """The next complete response (AssertionError if none in time)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            try:
                resp, pos = parse_response(self.buf, head=head, eof=False)
                self.buf = self.buf[pos:]
                return resp
            except IncompleteResponse:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no complete response in time; got %r"
                                     % self.buf)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                # a body without a length ends with the connection
                resp, pos = parse_response(self.buf, head=head, eof=True)
                self.buf = self.buf[pos:]
                return resp
            self.buf += chunk

    def request(self, data, head=False):
        self.send(data)
        return self.response(head=head)

    def wait_closed(self, timeout=None):
        """
        Waits for the server to close; returns (extra bytes, seconds it
        took). AssertionError when it stays open past timeout.
        """
        t0 = time.monotonic()
        data, closed = recv_until_close(self.sock, timeout or self.timeout)
        assert closed, "connection still open after %.1fs" % (
            timeout or self.timeout)
        return self.buf + data, time.monotonic() - t0

    def close(self):
        self.sock.close()


def get(path="/", host="localhost", extra=b"", version=b"HTTP/1.1",
        method=b"GET"):
    """The bytes of a simple request."""
    if isinstance(path, str):
        path = path.encode()
    if isinstance(host, str):
        host = host.encode()
    req = method + b" " + path + b" " + version + b"\r\n"
    if host is not None:
        req += b"Host: " + host + b"\r\n"
    return req + extra + b"\r\n"


# --------------------------------------------------------------------------
# the server under test

def group_members(pgid):
    """Pids of the live (not zombie) processes in process group pgid."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def listening_inodes(port):
    """Socket inodes listening on TCP port (any address, IPv4 or IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1],
                                          16) == port:
                inodes.add(fields[9])
    return inodes


def unread_bytes(client_sock):
    """
    Bytes the server has not read yet from client_sock's connection (the
    receive queue of the server's end, as /proc/net/tcp shows it); None
    while the server's end is not found.
    """
    lport = client_sock.getsockname()[1]
    rport = client_sock.getpeername()[1]
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            local = int(fields[1].rsplit(":", 1)[1], 16)
            remote = int(fields[2].rsplit(":", 1)[1], 16)
            if local == rport and remote == lport and fields[3] == "01":
                return int(fields[4].split(":")[1], 16)
    return None


def socket_inodes(pids):
    """The inodes of the sockets that the processes pids hold."""
    inodes = set()
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
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def check_stderr(text, what="portico"):
    found = memory_errors(text)
    assert not found, "%s stderr has %s:\n%s" % (what, "; ".join(found),
                                                  text)


def run_portico(args, conf_text=None, tmp=None, timeout=15, env=None,
                conf=None, **config):
    """
    Runs portico for a command-line action (-t, -T, -V, -s ...) and returns
    (rc, stdout, stderr). With conf_text, it is written to TMP/portico.conf
    by write_config (config: its keyword arguments and placeholder values),
    and "-p TMP/ -c TMP/portico.conf" go before args; conf names an
    existing file instead.
    """
    cmd = PORTICO_WRAPPER + [PORTICO_BIN]

    if conf_text is not None:
        assert tmp is not None, "a configuration needs a directory"
        conf = write_config(tmp, conf_text, **config)

    if conf is not None:
        cmd += ["-p", "%s/" % Path(conf).parent, "-c", str(conf)]

    cmd += list(args)

    # its own process group: if it unexpectedly serves, its workers too
    # are found and stopped
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise AssertionError("%s still running after %ds:\n%s" % (
            " ".join(cmd), timeout, err.decode("utf-8", "replace")))
    finally:
        leftover = group_members(p.pid)
        if leftover:
            os.killpg(p.pid, signal.SIGKILL)

    assert not leftover, "%s left processes %s behind" % (
        " ".join(cmd), leftover)

    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")

    check_stderr(stderr, " ".join(cmd))
    assert p.returncode >= 0, "%s died by signal %d:\n%s" % (
        " ".join(cmd), -p.returncode, stderr)

    return p.returncode, stdout, stderr


def make_prefix_dirs(tmp):
    """
    The directories of an installed prefix that a configuration uses
    without naming them: logs/, where the access log goes when no
    "access_log" says otherwise (logs/access.log, opened at start-up as
    nginx does, so a missing logs/ would fail every test's server).
    """
    (Path(tmp) / "logs").mkdir(exist_ok=True)


def write_config(tmp, conf_text, name="portico.conf", raw_conf=False,
                 events="worker_connections 1024;", pid=True, process=None,
                 **values):
    """
    Writes TMP/name: the preamble (unless raw_conf), then conf_text with
    its placeholders ({tmp} and the given values) filled in; TMP gets the
    prefix's directories (make_prefix_dirs). process: see preamble().
    """
    tmp = Path(tmp)
    make_prefix_dirs(tmp)
    values.setdefault("tmp", str(tmp))
    text = substitute(conf_text, values)
    if not raw_conf:
        text = preamble(tmp, events=events, pid=pid, process=process) + text
    path = tmp / name
    path.write_text(text)
    return path


class Portico:
    """One running portico, started by PorticoFactory.start()."""

    def __init__(self, tmp, conf_path, ports, expect_log, args, binary=None,
                 env=None):
        self.tmp = tmp
        self.conf = conf_path
        self.args = list(args)
        # the executable it runs (the upgrade tests start a copy)
        self.binary = str(binary or PORTICO_BIN)
        # variables added to the environment it starts with
        self.env = dict(env or {})
        # how its configuration was written, for rewrite()
        self.config_options = {}
        self.values = {}
        # processes outside the fixture's reach that belong to it (the
        # master a binary upgrade started): stopped along with it
        self.adopted = []
        self.ports = ports
        self.port = ports.get("port")
        self.proc = None
        self.returncode = None
        self.expected = list(expect_log)
        self.stop_signal = None
        self.stdout_path = tmp / "stdout.txt"
        self.stderr_path = tmp / "stderr.txt"
        self.error_log_path = tmp / "error.log"
        self.pid_path = tmp / "portico.pid"

    # -- state

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def expect_log(self, pattern):
        """Declares that an [alert]/[crit]/[emerg] line matching is fine."""
        self.expected.append(pattern)

    def wait_log(self, pattern, timeout=IO_TIMEOUT, path=None):
        """Waits until the error log holds a line matching pattern."""
        rx = re.compile(pattern)
        path = path or self.error_log_path

        def found():
            try:
                text = Path(path).read_text(errors="replace")
            except FileNotFoundError:
                return None
            return rx.search(text)

        return wait_for(found, timeout, what="log line %r" % pattern)

    def rewrite(self, conf_text, process=None, **values):
        """
        Writes a new configuration in place of the running one (for a
        reload): the same preamble and placeholder values as at the start,
        plus values; process, when given, replaces the process directives
        (see preamble). Returns its path.
        """
        options = dict(self.config_options)
        if process is not None:
            options["process"] = process
        all_values = dict(self.values)
        all_values.update(values)
        for name, v in values.items():
            if PORT_NAME.match(name):
                self.ports[name] = v
        return write_config(self.tmp, conf_text, name=Path(self.conf).name,
                            **options, **all_values)

    def adopt(self, pid):
        """Declares pid one of the server's processes: stop() stops it."""
        if pid not in self.adopted:
            self.adopted.append(pid)

    # -- life cycle

    def _launch(self):
        self.stdout_f = open(self.stdout_path, "wb")
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            PORTICO_WRAPPER
            + [self.binary, "-p", "%s/" % self.tmp, "-c", str(self.conf)]
            + self.args,
            stdin=subprocess.DEVNULL, stdout=self.stdout_f,
            stderr=self.stderr_f, cwd=str(self.tmp),
            env=dict(os.environ, **self.env) if self.env else None,
            # its own process group: whatever it forks can be found
            start_new_session=True)

    def socket_count(self):
        """Sockets the server's processes hold (listening ones included)."""
        return len(socket_inodes(group_members(self.proc.pid)))

    def connect_accepted(self, port=None):
        """
        A new Client whose connection the server has accepted (it holds
        one more socket), before anything is sent on it.
        """
        before = self.socket_count()
        c = Client(port or self.port)
        wait_for(lambda: self.socket_count() > before,
                 what="the server to accept the connection")
        return c

    def foreign_listeners(self, ports):
        """
        Ports on which some other process listens too. Portico's sockets
        are SO_REUSEPORT, so a second server on a port binds without error
        and the kernel splits the connections between the two.
        """
        ours = socket_inodes(group_members(self.proc.pid))
        return [p for p in ports if listening_inodes(p) - ours]

    def _wait_ready(self, ports):
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(ports)
        while pending:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                raise AssertionError(
                    "portico exited with %s while starting\nstderr:\n%s\n"
                    "error log:\n%s" % (self.returncode, self.stderr(),
                                        self.error_log()))
            if port_accepts(pending[0]):
                pending.pop(0)
                continue
            if time.monotonic() >= deadline:
                raise AssertionError(
                    "portico does not accept on %s after %.0fs\nstderr:\n%s"
                    "\nerror log:\n%s" % (pending, START_TIMEOUT,
                                          self.stderr(), self.error_log()))
            time.sleep(0.02)

    def send_signal(self, signo):
        """Sends signo to the process by its pid."""
        assert self.alive(), "portico is not running"
        if signo in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT,
                     signal.SIGKILL):
            self.stop_signal = signo
        os.kill(self.proc.pid, signo)

    def wait_exit(self, timeout=STOP_TIMEOUT):
        """Waits for the process to exit; returns its exit status."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("portico (pid %d) still running after %.0fs"
                                 % (self.proc.pid, timeout))
        return self.returncode

    def stop(self, signo=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """
        Stops the server: signo by pid, a bounded wait, then SIGKILL by pid.
        Processes it left behind in its process group (workers outliving
        their master) are waited for, then killed by their group id.
        Returns (exit status, what had to be killed: a list of strings).
        """
        killed = []
        if self.proc.poll() is None:
            self.stop_signal = signo
            try:
                os.kill(self.proc.pid, signo)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed.append("portico (pid %d) ignored %s for %.0fs"
                              % (self.proc.pid, signal.Signals(signo).name,
                                 timeout))
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        self.returncode = self.proc.returncode

        pgid = self.proc.pid

        for pid in self.adopted:
            if pid in group_members(pgid):
                try:
                    os.kill(pid, signo)
                except ProcessLookupError:
                    pass
        try:
            wait_for(lambda: not group_members(pgid), timeout,
                     what="the processes of group %d to exit" % pgid)
        except AssertionError:
            left = group_members(pgid)
            killed.append("processes %s outlived the server" % left)
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return self.returncode, killed

    def _close_files(self):
        for f in (getattr(self, "stdout_f", None),
                  getattr(self, "stderr_f", None)):
            if f:
                f.close()

    def check(self, problems=()):
        """
        The post-mortem: crashes, sanitizer reports, bad log lines (and the
        problems the caller found), with stderr and the log's tail.
        """
        problems = list(problems)
        rc = self.returncode

        if rc is not None and rc < 0 and -rc != signal.SIGKILL:
            problems.append("portico died by signal %d (%s)"
                            % (-rc, signal.Signals(-rc).name))
        elif rc not in (None, 0) and rc > 0:
            problems.append("portico exited with status %d" % rc)

        stderr = self.stderr()
        log = self.error_log()
        # once started, the server's stderr is its error log; valgrind
        # keeps writing to the stderr it was started with
        for found in memory_errors(stderr):
            problems.append("%s in stderr" % found)
        for found in memory_errors(log):
            problems.append("%s in the error log" % found)

        for line in log.splitlines():
            if not BAD_LOG_LEVELS.search(line):
                continue
            if any(re.search(p, line) for p in self.expected):
                continue
            problems.append("unexpected error log line: %s" % line)

        if problems:
            raise AssertionError(
                "\n".join(problems) + "\n--- stderr:\n" + stderr[-8000:]
                + "\n--- error log (tail):\n" + log[-8000:])


def open_to_workers(path):
    """
    Run as root, portico's workers drop to an unprivileged user (nginx's
    "nobody"), yet must reach the server's directory: to reopen the logs,
    and later to write temporary and cache files. pytest's directories are
    private (0700), so: the directory itself world-readable, and its
    private ancestors below the system's temporary directory traversable.
    """
    import tempfile

    if os.geteuid() != 0:
        return

    path = Path(path).resolve()
    top = Path(tempfile.gettempdir()).resolve()
    os.chmod(path, 0o755)

    for parent in path.parents:
        if parent == top or top not in parent.parents:
            break
        mode = os.stat(parent).st_mode
        if not mode & 0o001:
            os.chmod(parent, (mode & 0o7777) | 0o111)


class PorticoFactory:
    """
    The ``portico`` fixture: start(conf_text, **values) writes the
    configuration (preamble + text, placeholders filled in), starts the
    binary (with args after -p and -c) and waits until every {portN} port
    accepts. Placeholders {port}, {port2}, ... that are not given get free
    ports; {tmp} is the server's directory; env adds variables to its
    environment. On teardown every server is stopped and checked.
    """

    def __init__(self, tmp_path):
        self.base = tmp_path
        self.servers = []

    def start(self, conf_text, events="worker_connections 1024;",
              pid=True, expect_log=(), wait_ports=None, args=(),
              process=None, binary=None, env=None, **values):
        n = len(self.servers)
        tmp = self.base / ("portico%d" % n if n else "portico")
        tmp.mkdir(parents=True, exist_ok=True)
        open_to_workers(tmp)

        given = {n for n in values if PORT_NAME.match(n)}
        ports = {}
        for name in placeholders_in(conf_text):
            if PORT_NAME.match(name):
                ports[name] = values.get(name) or free_port()
        for name, v in values.items():
            if PORT_NAME.match(name):
                ports[name] = v
        values.update(ports)

        for attempt in range(3):
            conf = write_config(tmp, conf_text, events=events, pid=pid,
                                process=process, **values)

            server = Portico(tmp, conf, ports, expect_log, args,
                             binary=binary, env=env)
            server.config_options = dict(events=events, pid=pid,
                                         process=process)
            server.values = dict(values)
            self.servers.append(server)
            server._launch()
            server._wait_ready(ports.values() if wait_ports is None
                               else wait_ports)

            shared = server.foreign_listeners(ports.values())
            if not shared:
                return server

            # someone else's server took the same free port: start over
            # on new ports if they were ours to choose, else give up
            rc, killed = server.stop()
            server._close_files()
            self.servers.remove(server)
            chosen = [n for n, p in ports.items()
                      if p in shared and n not in given]
            if len(chosen) != len(shared):
                pytest.fail("ports %s are shared with another process"
                            % shared)
            for name in chosen:
                ports[name] = values[name] = free_port()

        pytest.fail("no port of our own after 3 attempts")

    def teardown(self):
        errors = []
        for server in self.servers:
            if server.proc is None:
                continue
            try:
                rc, killed = server.stop()
                server._close_files()
                server.check(killed)
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def portico(tmp_path):
    factory = PorticoFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.teardown()


@pytest.fixture(scope="session")
def portico_version():
    """"portico/X.Y.Z" as the binary reports it."""
    rc, out, err = run_portico(["-v"])
    m = re.search(r"portico version: (portico/\S+)", err)
    assert rc == 0 and m, err
    return m.group(1)


_built_modules = None


def built_modules():
    """The modules compiled in, as "portico -V" lists them."""
    global _built_modules

    if _built_modules is None:
        rc, out, err = run_portico(["-V"])
        m = re.search(r"^modules:(.*)$", err, re.M)
        assert rc == 0 and m, err
        _built_modules = m.group(1).split()

    return _built_modules


def needs_module(name):
    """A mark that skips a test (or a parameter) built without name."""
    return pytest.mark.skipif(name not in built_modules(),
                              reason="built without %s" % name)


@pytest.fixture(scope="session")
def portico_modules():
    return built_modules()


@pytest.fixture
def dns_server():
    """
    A DNS server on a free loopback port (dnsserver.DNSServer): its records
    and behavior can be changed while portico runs; "resolver %s;" %
    dns_server.address points portico at it.
    """
    from dnsserver import DNSServer

    server = DNSServer().start()
    try:
        yield server
    finally:
        server.stop()
