"""
Upstream servers that follow a DNS name at run time ("server NAME
resolve"): a test DNS server on loopback answers, and changes its answers
while portico runs; backends listen on the same port of different loopback
addresses (127.0.0.2, 127.0.0.3, ...), so the answer alone decides where
requests go.
"""

import re

import pytest

from conftest import Client, get, line_of, run_portico, wait_for
from test_proxy import Backend, backends, http, start  # noqa: F401


TWO_WORKERS = "master_process on; worker_processes 2;"


def free_port_on(hosts):
    """A port free on every one of hosts."""
    import socket
    for _ in range(50):
        s = socket.socket()
        s.bind((hosts[0], 0))
        port = s.getsockname()[1]
        s.close()
        ok = True
        for h in hosts[1:]:
            t = socket.socket()
            try:
                t.bind((h, port))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return port
    raise AssertionError("no common free port")


def served_by(port, n=1, new_connection=True):
    out = []
    c = None
    for _ in range(n):
        if c is None:
            c = Client(port)
        r = c.request(get("/"))
        out.append((r.status, r.header("X-Backend")))
        if new_connection:
            c.close()
            c = None
    if c:
        c.close()
    return out


def conf(dns, port, extra="", valid="1s", server_extra=""):
    return ("resolver %s valid=%s; resolver_timeout 2s;\n"
            "upstream u { zone u 64k; %s server backend.test:%d resolve "
            "max_fails=0 %s; }" % (dns.address, valid, extra, port,
                                   server_extra))


def test_a_name_is_followed_without_a_reload(portico, backends, dns_server):
    port = free_port_on(["127.0.0.2", "127.0.0.3"])
    a = backends(name="a", host="127.0.0.2", port=port)
    b = backends(name="b", host="127.0.0.3", port=port)
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=1)
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=conf(dns_server, port))
    wait_for(lambda: served_by(srv.port) == [(200, "a")], timeout=5,
             interval=0.05, what="the first answer used")
    srv.wait_log(r"upstream \"u\": 127\.0\.0\.2:%d is an address of "
                 r"\"backend\.test:%d\"" % (port, port))

    dns_server.set_a("backend.test", ["127.0.0.3"], ttl=1)
    wait_for(lambda: served_by(srv.port) == [(200, "b")], timeout=6,
             interval=0.1, what="the new address used")
    srv.wait_log(r"127\.0\.0\.2:%d is no longer an address" % port)
    n = len(a.requests)
    assert set(served_by(srv.port, 10)) == {(200, "b")}
    assert len(a.requests) == n

    # both: both get traffic, by round robin
    dns_server.set_a("backend.test", ["127.0.0.2", "127.0.0.3"], ttl=1)
    wait_for(lambda: {x[1] for x in served_by(srv.port, 4)} == {"a", "b"},
             timeout=6, interval=0.1, what="both addresses used")
    assert b.requests


def test_a_name_that_goes_away_and_comes_back(portico, backends, dns_server):
    port = free_port_on(["127.0.0.2"])
    backends(name="a", host="127.0.0.2", port=port)
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=conf(dns_server, port))
    # no answer yet (NXDOMAIN): a 502 at once, no hang
    dns_server.wait_queries(1, name="backend.test", qtype="A")
    assert served_by(srv.port) == [(502, None)]
    srv.wait_log(r"\"backend\.test\" has no address")
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=1)
    wait_for(lambda: served_by(srv.port) == [(200, "a")], timeout=6,
             interval=0.1, what="the name answered")
    dns_server.remove("backend.test")
    wait_for(lambda: served_by(srv.port) == [(502, None)], timeout=6,
             interval=0.1, what="the name gone")


@pytest.mark.parametrize("behavior", ["servfail", "drop", "garbage"])
def test_a_failing_resolver_keeps_the_addresses(portico, backends,
                                                dns_server, behavior):
    port = free_port_on(["127.0.0.2"])
    backends(name="a", host="127.0.0.2", port=port)
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=1)
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=conf(dns_server, port))
    wait_for(lambda: served_by(srv.port) == [(200, "a")], timeout=5,
             interval=0.05, what="the first answer used")
    dns_server.set_behavior("backend.test", behavior)
    dns_server.reset_queries()
    dns_server.wait_queries(2, name="backend.test", qtype="A", timeout=10)
    srv.wait_log(r"could not resolve \"backend\.test\".*its addresses "
                 r"stay as they were", timeout=10)
    assert set(served_by(srv.port, 5)) == {(200, "a")}


def test_one_process_resolves_for_all_workers(portico, backends,
                                              dns_server):
    port = free_port_on(["127.0.0.2", "127.0.0.3"])
    backends(name="a", host="127.0.0.2", port=port)
    backends(name="b", host="127.0.0.3", port=port)
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=1)
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=conf(dns_server, port), process=TWO_WORKERS)
    wait_for(lambda: set(served_by(srv.port, 6)) == {(200, "a")},
             timeout=5, interval=0.05, what="the first answer used")
    dns_server.set_a("backend.test", ["127.0.0.3"], ttl=1)
    # every worker follows, on new connections spread over both
    wait_for(lambda: set(served_by(srv.port, 12)) == {(200, "b")},
             timeout=6, interval=0.1, what="both workers follow")
    # one query a second (valid=1s) for the whole instance: four take
    # three seconds at least; a query per worker would take half that
    import time
    dns_server.reset_queries()
    t = time.monotonic()
    dns_server.wait_queries(4, name="backend.test", qtype="A", timeout=10)
    assert time.monotonic() - t >= 2.5


def test_address_literal_with_resolve_needs_no_query(portico, backends,
                                                     dns_server):
    a = backends(name="a")
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra="resolver %s; upstream u { zone u 64k; "
                      "server %s resolve; }" % (dns_server.address, a.addr))
    assert served_by(srv.port) == [(200, "a")]


@pytest.mark.parametrize("text,message", [
    ("upstream u { zone u 64k; server backend.test resolve; }",
     r'no resolver defined to resolve "backend\.test" in upstream "u"'),
])
def test_resolve_config_errors(tmp_path, text, message):
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc == 1, err
    emerg = [l for l in err.splitlines() if "[emerg]" in l]
    assert emerg and re.search(message, emerg[0]), err
    conf_path = tmp_path / "portico.conf"
    assert emerg[0].endswith(" in %s:%d" % (conf_path,
                                            line_of(conf_path, text)))


# ---------------------------------------------------------------------------
# proxy_pass with variables: a host name looked up per request

def test_proxy_pass_variable_host_is_resolved(portico, backends, dns_server):
    port = free_port_on(["127.0.0.2", "127.0.0.3"])
    backends(name="a", host="127.0.0.2", port=port)
    backends(name="b", host="127.0.0.3", port=port)
    dns_server.set_a("one.test", ["127.0.0.2"], ttl=30)
    dns_server.set_a("two.test", ["127.0.0.3"], ttl=30)
    srv = start(portico,
                "location / { resolver %s; resolver_timeout 1s; "
                "proxy_pass http://$arg_h:%d; }" % (dns_server.address, port))
    for host, name in (("one.test", "a"), ("two.test", "b")):
        c = Client(srv.port)
        r = c.request(get("/?h=%s" % host))
        c.close()
        assert (r.status, r.header("X-Backend")) == (200, name)

    # no such name, or no answer in time: 502, said in the log
    c = Client(srv.port)
    r = c.request(get("/?h=none.test"))
    assert r.status == 502
    srv.wait_log(r'"none\.test" could not be resolved')
    dns_server.set_behavior("slow.test", "drop")
    r = c.request(get("/?h=slow.test"))
    assert r.status == 502
    c.close()

    # a client that leaves while its name is looked up
    import socket
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(get("/?h=slow.test"))
    dns_server.wait_queries(2, name="slow.test", qtype="A")
    s.close()
    c = Client(srv.port)
    assert c.request(get("/?h=one.test")).status == 200
    c.close()


def test_a_reload_keeps_the_addresses_found(portico, backends, dns_server):
    """The new generation starts with the old one's answer."""
    import signal
    port = free_port_on(["127.0.0.2"])
    backends(name="a", host="127.0.0.2", port=port)
    dns_server.set_a("backend.test", ["127.0.0.2"], ttl=300)
    text = conf(dns_server, port, valid="300s")
    srv = start(portico, "location / { proxy_pass http://u; }", extra=text,
                process=TWO_WORKERS)
    wait_for(lambda: set(served_by(srv.port, 4)) == {(200, "a")}, timeout=5,
             interval=0.05, what="the first answer used")
    old = set(srv_workers(srv))

    # the DNS server goes quiet: only the carried answer can serve now
    dns_server.set_behavior("backend.test", "drop")
    srv.rewrite(http("    server {\n        listen 127.0.0.1:{port};\n"
                     "        location / { proxy_pass http://u; }\n"
                     "    }\n", text), process=TWO_WORKERS)
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: not set(srv_workers(srv)) & old
             and len(srv_workers(srv)) == 2, timeout=10,
             what="two new workers")
    assert set(served_by(srv.port, 10)) == {(200, "a")}


def srv_workers(srv):
    from test_proxy import worker_pids
    return worker_pids(srv)
