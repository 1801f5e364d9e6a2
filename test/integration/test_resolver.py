"""
The resolver and resolver_timeout directives, and the test DNS server
(dnsserver.py, the ``dns_server`` fixture) that tests of runtime name
resolution use.

The resolver itself (queries, timeouts, malformed answers, cancelling) is
covered by test/unit/test_resolver.c, which drives it through the event
loop; here: what the configuration accepts and refuses, a server that has
a resolver configured, and the DNS server's own behavior, checked with a
small stub resolver written below.
"""

import random
import socket
import struct

import pytest

from conftest import (Client, line_of, needs_module, run_portico,
                      write_config)
from dnsserver import DNSServer


needs_return = needs_module("pt_http_rewrite_module")


# ---------------------------------------------------------------------------
# a stub resolver, for checking the DNS server

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(msg, pos):
    while True:
        n = msg[pos]
        if n & 0xc0 == 0xc0:
            return pos + 2
        pos += 1
        if n == 0:
            return pos
        pos += n


def parse_reply(msg):
    """(id, rcode, tc, aa, [(type, ttl, address text)]) of a reply."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    assert flags & 0x8000, "not a reply"
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    answers = []
    for _ in range(an):
        pos = skip_name(msg, pos)
        rtype, rclass, ttl, rdlen = struct.unpack("!HHIH",
                                                  msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlen]
        assert len(rdata) == rdlen, "record cut short"
        pos += rdlen
        family = socket.AF_INET if rtype == 1 else socket.AF_INET6
        answers.append((rtype, ttl, socket.inet_ntop(family, rdata)))
    return qid, flags & 0xf, bool(flags & 0x0200), bool(flags & 0x0400), \
        answers


def ask(server, name, qtype=1, tcp=False, timeout=2.0, raw=False):
    """
    Sends one query; returns the parsed reply (the raw bytes with raw), or
    None when nothing came within timeout.
    """
    qid = random.randrange(65536)
    query = (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
             + encode_name(name) + struct.pack("!HH", qtype, 1))

    if tcp:
        s = socket.create_connection(("127.0.0.1", server.port), timeout)
        try:
            s.sendall(struct.pack("!H", len(query)) + query)
            head = b""
            while len(head) < 2:
                chunk = s.recv(2 - len(head))
                assert chunk, "closed"
                head += chunk
            n = struct.unpack("!H", head)[0]
            msg = b""
            while len(msg) < n:
                chunk = s.recv(n - len(msg))
                assert chunk, "closed"
                msg += chunk
        finally:
            s.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(query, ("127.0.0.1", server.port))
            try:
                msg = s.recv(65535)
            except socket.timeout:
                return None
        finally:
            s.close()

    if raw:
        return msg
    reply = parse_reply(msg)
    assert reply[0] == qid
    return reply


# ---------------------------------------------------------------------------
# the DNS server

def test_dns_server_answers_records(dns_server):
    dns_server.set_a("Backend.Test", ["192.0.2.1", "192.0.2.2"], ttl=42)
    dns_server.set_aaaa("backend.test.", "2001:db8::1", ttl=7)

    _, rcode, tc, aa, answers = ask(dns_server, "backend.test")
    assert (rcode, tc, aa) == (0, False, True)
    assert answers == [(1, 42, "192.0.2.1"), (1, 42, "192.0.2.2")]

    _, rcode, _, _, answers = ask(dns_server, "BACKEND.test", qtype=28)
    assert rcode == 0
    assert answers == [(28, 7, "2001:db8::1")]

    # a known name without records of the type: no data
    dns_server.set_aaaa("v4only.test", [])
    dns_server.set_a("v4only.test", "192.0.2.3")
    assert ask(dns_server, "v4only.test", qtype=28)[1:] == (0, False, True,
                                                            [])

    # an unknown name: NXDOMAIN
    assert ask(dns_server, "nowhere.test")[1] == 3

    assert dns_server.query_count("backend.test") == 2
    assert dns_server.query_count("backend.test", qtype="AAAA") == 1
    assert dns_server.queries("nowhere.test") == [("nowhere.test", "A",
                                                   "udp")]


def test_dns_server_changes_while_running(dns_server):
    dns_server.set_a("moving.test", "192.0.2.10", ttl=1)
    assert ask(dns_server, "moving.test")[4] == [(1, 1, "192.0.2.10")]

    dns_server.set_a("moving.test", ["192.0.2.11", "192.0.2.12"], ttl=60)
    assert ask(dns_server, "moving.test")[4] == [(1, 60, "192.0.2.11"),
                                                 (1, 60, "192.0.2.12")]

    dns_server.remove("moving.test")
    assert ask(dns_server, "moving.test")[1] == 3


@pytest.mark.parametrize("behavior, rcode", [
    ("nxdomain", 3),
    ("servfail", 2),
    ("refused", 5),
])
def test_dns_server_error_answers(dns_server, behavior, rcode):
    dns_server.set_a("sick.test", "192.0.2.1")
    dns_server.set_a("well.test", "192.0.2.2")
    dns_server.set_behavior("sick.test", behavior)

    assert ask(dns_server, "sick.test")[1:] == (rcode, False, True, [])
    assert ask(dns_server, "well.test")[4] == [(1, 30, "192.0.2.2")]

    # for every name, then back to normal
    dns_server.set_behavior(None, behavior)
    assert ask(dns_server, "well.test")[1] == rcode
    dns_server.set_behavior(None, "answer")
    dns_server.set_behavior("sick.test", "answer")
    assert ask(dns_server, "sick.test")[1] == 0


def test_dns_server_drop_short_garbage(dns_server):
    dns_server.set_a("x.test", "192.0.2.1")

    dns_server.set_behavior("x.test", "drop")
    assert ask(dns_server, "x.test", timeout=0.3) is None
    assert dns_server.wait_queries(1, name="x.test")

    dns_server.set_behavior("x.test", "short")
    assert len(ask(dns_server, "x.test", raw=True)) == 5

    dns_server.set_behavior("x.test", "garbage")
    with pytest.raises((AssertionError, struct.error)):
        parse_reply(ask(dns_server, "x.test", raw=True))


def test_dns_server_truncates_to_tcp(dns_server):
    addrs = ["192.0.2.%d" % i for i in range(1, 41)]
    dns_server.set_a("big.test", addrs, ttl=5)

    # 40 records do not fit in 512 bytes: TC over UDP, all over TCP
    _, rcode, tc, _, answers = ask(dns_server, "big.test")
    assert (rcode, tc, answers) == (0, True, [])

    _, rcode, tc, _, answers = ask(dns_server, "big.test", tcp=True)
    assert (rcode, tc) == (0, False)
    assert [a[2] for a in answers] == addrs

    dns_server.set_a("small.test", "192.0.2.1")
    dns_server.set_behavior("small.test", "truncate")
    assert ask(dns_server, "small.test")[2] is True
    assert ask(dns_server, "small.test", tcp=True)[4] == [(1, 30,
                                                           "192.0.2.1")]
    assert dns_server.query_count("small.test", transport="tcp") == 1


def test_dns_server_ipv6_loopback():
    try:
        server = DNSServer("::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        assert server.address == "[::1]:%d" % server.port
        server.set_a("six.test", "192.0.2.6")
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(2.0)
        try:
            s.sendto(struct.pack("!HHHHHH", 9, 0x0100, 1, 0, 0, 0)
                     + encode_name("six.test") + struct.pack("!HH", 1, 1),
                     ("::1", server.port))
            assert parse_reply(s.recv(512))[4] == [(1, 30, "192.0.2.6")]
        finally:
            s.close()
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# configuration

def check_ok(tmp_path, body):
    conf = write_config(tmp_path, body)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0, err
    assert "[emerg]" not in err


def test_resolver_accepted_forms(tmp_path):
    check_ok(tmp_path,
             "http {\n"
             "    resolver 127.0.0.1 127.0.0.2:5353 [::1] [::1]:54\n"
             "             localhost valid=30s ipv6=off;\n"
             "    resolver_timeout 5s;\n"
             "    server {\n"
             "        listen 127.0.0.1:1;\n"
             "        resolver 127.0.0.1 ipv4=off ipv6=on valid=1m;\n"
             "        resolver_timeout 500ms;\n"
             "        location / {\n"
             "            resolver 127.0.0.3:53;\n"
             "            resolver_timeout 1s;\n"
             "        }\n"
             "    }\n"
             "}\n")


def srv(inner):
    return ("http {\n"
            "    server {\n"
            "        listen 127.0.0.1:1;\n"
            "%s\n"
            "    }\n"
            "}\n" % inner)


@pytest.mark.parametrize("body, needle, message", [
    pytest.param(srv("        resolver 127.0.0.1:0;"), "resolver",
                 'invalid port in "127.0.0.1:0" of the "resolver" directive',
                 id="port-0"),
    pytest.param(srv("        resolver 127.0.0.1:65536;"), "resolver",
                 'invalid port in "127.0.0.1:65536" of the "resolver" '
                 'directive',
                 id="port-too-large"),
    pytest.param(srv("        resolver ::1;"), "resolver",
                 'IPv6 address must be in brackets in "::1" of the '
                 '"resolver" directive',
                 id="ipv6-without-brackets"),
    pytest.param(srv("        resolver [::1;"), "resolver",
                 'invalid IPv6 address in "[::1" of the "resolver" '
                 'directive',
                 id="ipv6-unclosed"),
    pytest.param(srv("        resolver unix:/tmp/dns.sock;"), "resolver",
                 'a DNS server cannot be a unix domain socket '
                 '("unix:/tmp/dns.sock" of the "resolver" directive)',
                 id="unix"),
    pytest.param(srv("        resolver 127.0.0.1 valid=soon;"), "resolver",
                 'invalid time "soon" in "valid=soon" of the "resolver" '
                 'directive',
                 id="valid-bad"),
    pytest.param(srv("        resolver 127.0.0.1 valid=;"), "resolver",
                 'invalid time "" in "valid=" of the "resolver" directive',
                 id="valid-empty"),
    pytest.param(srv("        resolver 127.0.0.1 ipv6=no;"), "resolver",
                 'invalid value "no" in "ipv6=no" of the "resolver" '
                 'directive, it must be "on" or "off"',
                 id="ipv6-bad"),
    pytest.param(srv("        resolver 127.0.0.1 ipv4=off ipv6=off;"),
                 "resolver",
                 '"ipv4" and "ipv6" cannot both be "off" in the '
                 '"resolver" directive',
                 id="both-off"),
    pytest.param(srv("        resolver valid=5s;"), "resolver",
                 'no DNS server address in the "resolver" directive',
                 id="no-address"),
    pytest.param(srv("        resolver 127.0.0.1 status_zone=z;"),
                 "resolver",
                 'invalid parameter "status_zone=z" of the "resolver" '
                 'directive',
                 id="unknown-parameter"),
    pytest.param(srv("        resolver;"), "resolver",
                 'invalid number of arguments in "resolver" directive',
                 id="no-arguments"),
    pytest.param(srv("        resolver 127.0.0.1;\n"
                     "        resolver 127.0.0.2;"), "127.0.0.2",
                 '"resolver" directive is duplicate',
                 id="duplicate"),
    pytest.param("resolver 127.0.0.1;\n", "resolver",
                 '"resolver" directive is not allowed here',
                 id="main-context"),
    pytest.param(srv("        resolver_timeout forever;"), "resolver_timeout",
                 'invalid time "forever" in "resolver_timeout" directive',
                 id="timeout-bad"),
    pytest.param(srv("        resolver_timeout 1s;\n"
                     "        resolver_timeout 2s;"), "2s",
                 '"resolver_timeout" directive is duplicate',
                 id="timeout-duplicate"),
    pytest.param(srv("        resolver_timeout 1s 2s;"), "resolver_timeout",
                 'invalid number of arguments in "resolver_timeout" '
                 'directive',
                 id="timeout-two-arguments"),
])
def test_resolver_config_errors(tmp_path, body, needle, message):
    conf = write_config(tmp_path, body)
    line = line_of(conf, needle)

    rc, out, err = run_portico(["-t"], conf=conf)

    assert rc == 1, err
    assert out == ""
    assert err == ("portico: [emerg] %s in %s:%d\n"
                   "portico: configuration file %s test failed\n"
                   % (message, conf, line, conf))


# ---------------------------------------------------------------------------
# a running server

@needs_return
def test_server_with_resolver_serves_and_stops(portico, dns_server):
    """
    A resolver is set up in a worker only when a name is resolved: a
    server that has one serves as before and asks the DNS server nothing;
    its workers exit cleanly (the fixture checks sanitizer reports).
    """
    server = portico.start(
        "http {\n"
        "    resolver %s valid=5s;\n"
        "    resolver_timeout 2s;\n"
        "    server {\n"
        "        listen 127.0.0.1:{port};\n"
        "        location / {\n"
        "            return 200 \"ok\\n\";\n"
        "        }\n"
        "    }\n"
        "}\n" % dns_server.address)

    r = Client(server.port).request(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert r.status == 200
    assert r.body == b"ok\n"
    assert dns_server.query_count() == 0
