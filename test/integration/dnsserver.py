"""
A small authoritative DNS server for the tests, on a free loopback port
(UDP, and TCP on the same port for answers that do not fit in 512 bytes).
Standard library only: queries are parsed and answers built with struct.

The test changes what it answers while it runs:

    dns = DNSServer()           # or the ``dns_server`` fixture
    dns.start()
    conf = "resolver %s valid=1s;" % dns.address
    dns.set_a("backend.test", ["127.0.0.2", "127.0.0.3"], ttl=30)
    dns.set_aaaa("backend.test", "::1")
    dns.set_behavior("backend.test", "servfail")   # or for every name: None
    dns.wait_queries(2, name="backend.test", qtype="A")
    dns.stop()

A name with records answers NOERROR with those of the asked type (none:
"no data"); a name without any answers NXDOMAIN. Behaviors other than
"answer": "nxdomain", "servfail", "refused", "drop" (never answers),
"truncate" (TC over UDP, the records over TCP), "garbage" (a reply whose
answer record is cut short), "short" (5 bytes).
"""

import ipaddress
import selectors
import socket
import struct
import threading
import time


TYPE_A = 1
TYPE_AAAA = 28
TYPE_NAMES = {TYPE_A: "A", TYPE_AAAA: "AAAA", 5: "CNAME", 6: "SOA",
              15: "MX", 16: "TXT", 33: "SRV", 41: "OPT", 255: "ANY"}

RCODE_NOERROR = 0
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
RCODE_REFUSED = 5

BEHAVIORS = ("answer", "nxdomain", "servfail", "refused", "drop",
             "truncate", "garbage", "short")

DEFAULT_TTL = 30
UDP_LIMIT = 512


def _norm(name):
    return name.rstrip(".").lower()


def _type_name(qtype):
    return TYPE_NAMES.get(qtype, str(qtype))


def _type_number(qtype):
    if qtype is None or isinstance(qtype, int):
        return qtype
    for number, text in TYPE_NAMES.items():
        if text == qtype.upper():
            return number
    raise ValueError("unknown query type %r" % qtype)


def parse_question(msg):
    """
    (id, flags, name, qtype, qclass, end of the question) of a query, or
    None when it is not one.
    """
    if len(msg) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", msg[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels = []
    pos = 12
    while True:
        if pos >= len(msg):
            return None
        n = msg[pos]
        pos += 1
        if n == 0:
            break
        if n > 63 or pos + n > len(msg):
            return None
        labels.append(msg[pos:pos + n].decode("ascii", "replace"))
        pos += n
    if pos + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[pos:pos + 4])
    return qid, flags, ".".join(labels), qtype, qclass, pos + 4


class DNSServer:
    """See the module's docstring."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.port = None
        self._lock = threading.Lock()
        self._records = {}          # name -> {qtype: [(rdata, ttl)]}
        self._behaviors = {}        # name or None -> behavior
        self._queries = []          # (name, type name, "udp"|"tcp")
        self._cond = threading.Condition(self._lock)
        self._thread = None
        self._udp = self._tcp = None
        self._wake_r = self._wake_w = None
        self._stopping = False

    # -- life ------------------------------------------------------------

    @property
    def address(self):
        """The server as a resolver directive takes it."""
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    def start(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # a TCP port first (other programs take those), then UDP on it
        for _ in range(50):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((self.host, 0))
            port = tcp.getsockname()[1]
            udp = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            break
        else:
            raise RuntimeError("no free port for the DNS server")

        tcp.listen(16)
        tcp.setblocking(False)
        udp.setblocking(False)
        self._tcp, self._udp, self.port = tcp, udp, port
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread = threading.Thread(target=self._serve,
                                        name="dns-%d" % port, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=5.0):
        if self._thread is None:
            return
        self._stopping = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        self._thread = None
        for s in (self._udp, self._tcp, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
        if alive:
            raise AssertionError("the DNS server thread did not stop")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- what it answers -------------------------------------------------

    def _set(self, name, qtype, addrs, ttl, family):
        if isinstance(addrs, str):
            addrs = [addrs]
        packed = []
        for a in addrs:
            ip = ipaddress.ip_address(a)
            if ip.version != family:
                raise ValueError("%s is not an IPv%d address" % (a, family))
            packed.append((ip.packed, int(ttl)))
        with self._lock:
            self._records.setdefault(_norm(name), {})[qtype] = packed

    def set_a(self, name, addrs, ttl=DEFAULT_TTL):
        """name's A records (a list, or one address); [] leaves none."""
        self._set(name, TYPE_A, addrs, ttl, 4)

    def set_aaaa(self, name, addrs, ttl=DEFAULT_TTL):
        """name's AAAA records (a list, or one address); [] leaves none."""
        self._set(name, TYPE_AAAA, addrs, ttl, 6)

    def remove(self, name):
        """Forgets name: it answers NXDOMAIN from now on."""
        with self._lock:
            self._records.pop(_norm(name), None)

    def clear(self):
        with self._lock:
            self._records.clear()
            self._behaviors.clear()

    def set_behavior(self, name, behavior):
        """
        How queries for name (None: every name without one of its own)
        are answered; "answer" is the normal way.
        """
        if behavior not in BEHAVIORS:
            raise ValueError("unknown behavior %r" % behavior)
        with self._lock:
            self._behaviors[None if name is None else _norm(name)] = behavior

    # -- what it was asked -----------------------------------------------

    def queries(self, name=None, qtype=None, transport=None):
        """The queries so far, as (name, type, transport), oldest first."""
        qtype = _type_name(_type_number(qtype)) if qtype else None
        with self._lock:
            return [q for q in self._queries
                    if (name is None or q[0] == _norm(name))
                    and (qtype is None or q[1] == qtype)
                    and (transport is None or q[2] == transport)]

    def query_count(self, name=None, qtype=None, transport=None):
        return len(self.queries(name, qtype, transport))

    def reset_queries(self):
        with self._lock:
            self._queries.clear()

    def wait_queries(self, count, name=None, qtype=None, transport=None,
                     timeout=5.0):
        """Waits until at least count matching queries came; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                q = [x for x in self._queries
                     if (name is None or x[0] == _norm(name))
                     and (qtype is None
                          or x[1] == _type_name(_type_number(qtype)))
                     and (transport is None or x[2] == transport)]
                if len(q) >= count:
                    return q
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "timed out after %.1fs waiting for %d queries "
                        "(name=%s, qtype=%s); got %r"
                        % (timeout, count, name, qtype, self._queries))
                self._cond.wait(left)

    # -- the protocol ----------------------------------------------------

    def answer(self, msg, transport):
        """The reply to one query (bytes), or None to stay silent."""
        q = parse_question(msg)
        if q is None:
            return None
        qid, flags, name, qtype, qclass, qend = q
        key = _norm(name)

        with self._cond:
            self._queries.append((key, _type_name(qtype), transport))
            self._cond.notify_all()
            behavior = self._behaviors.get(key,
                                           self._behaviors.get(None,
                                                               "answer"))
            records = self._records.get(key)
            rrs = list(records.get(qtype, ())) if records else []

        udp = transport == "udp"

        if behavior == "drop":
            return None
        if behavior == "short" and udp:
            return msg[:5]

        rcode = RCODE_NOERROR if records is not None else RCODE_NXDOMAIN
        if behavior == "nxdomain":
            rcode, rrs = RCODE_NXDOMAIN, []
        elif behavior == "servfail":
            rcode, rrs = RCODE_SERVFAIL, []
        elif behavior == "refused":
            rcode, rrs = RCODE_REFUSED, []

        # QR, opcode 0, AA, RD as asked, RA
        out_flags = 0x8400 | (flags & 0x0100) | 0x0080 | rcode
        question = msg[12:qend]
        body = b""
        for rdata, ttl in rrs:
            body += struct.pack("!HHHIH", 0xc00c, qtype, qclass, ttl,
                                len(rdata)) + rdata

        if behavior == "garbage" and udp:
            # one answer announced, its record cut after the type
            return (struct.pack("!HHHHHH", qid, out_flags, 1, 1, 0, 0)
                    + question + struct.pack("!HH", 0xc00c, qtype))

        reply = (struct.pack("!HHHHHH", qid, out_flags, 1, len(rrs), 0, 0)
                 + question + body)

        if udp and (behavior == "truncate" or len(reply) > UDP_LIMIT):
            return (struct.pack("!HHHHHH", qid, out_flags | 0x0200, 1, 0, 0,
                                0)
                    + question)

        return reply

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        buffers = {}

        try:
            while not self._stopping:
                for key, _ in sel.select(timeout=1.0):
                    what, s = key.data, key.fileobj
                    if what == "wake":
                        return
                    if what == "udp":
                        self._serve_udp(s)
                    elif what == "accept":
                        try:
                            c, _ = s.accept()
                        except OSError:
                            continue
                        c.setblocking(False)
                        buffers[c] = b""
                        sel.register(c, selectors.EVENT_READ, "tcp")
                    else:
                        if not self._serve_tcp(s, buffers):
                            sel.unregister(s)
                            buffers.pop(s, None)
                            s.close()
        finally:
            for c in buffers:
                c.close()
            sel.close()

    def _serve_udp(self, s):
        while True:
            try:
                msg, peer = s.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            reply = self.answer(msg, "udp")
            if reply is not None:
                try:
                    s.sendto(reply, peer)
                except OSError:
                    pass

    def _serve_tcp(self, c, buffers):
        try:
            data = c.recv(65535)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        buf = buffers[c] + data
        while len(buf) >= 2:
            n = struct.unpack("!H", buf[:2])[0]
            if len(buf) < 2 + n:
                break
            reply = self.answer(buf[2:2 + n], "tcp")
            buf = buf[2 + n:]
            if reply is not None:
                c.setblocking(True)
                c.settimeout(5.0)
                try:
                    c.sendall(struct.pack("!H", len(reply)) + reply)
                except OSError:
                    return False
                finally:
                    c.setblocking(False)
        buffers[c] = buf
        return True
