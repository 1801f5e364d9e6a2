"""
Load balancing across upstream servers: smooth weighted round robin,
least_conn, hash (plain and consistent), ip_hash, random and random two,
backup servers, max_conns, slow_start, passive failure accounting, and
peer state shared by the workers through an upstream zone.

Backends are the threaded ones of test_proxy.py; each answers with an
X-Backend header naming itself, so every response says who served it.
"""

import re
import socket
import threading
import time

import pytest

from conftest import Client, IO_TIMEOUT, get, line_of, run_portico, wait_for
from test_proxy import (Backend, backends, http, response,  # noqa: F401
                        start)


TWO_WORKERS = "master_process on; worker_processes 2;"


def names_of(port, paths, new_connection=False, source=None):
    """The X-Backend of one GET per path, on one connection or on many."""
    out = []
    c = None
    for p in paths:
        if c is None:
            if source:
                s = socket.socket()
                s.bind((source, 0))
                s.settimeout(IO_TIMEOUT)
                s.connect(("127.0.0.1", port))
                c = Client.__new__(Client)
                c.sock, c.buf, c.timeout = s, b"", IO_TIMEOUT
            else:
                c = Client(port)
        r = c.request(get(p))
        assert r.status == 200, r
        out.append(r.header("X-Backend"))
        if new_connection or len(out) % 500 == 0:   # keepalive_requests
            c.close()
            c = None
    if c:
        c.close()
    return out


def upstream(name, servers, extra=""):
    lines = "".join("server %s; " % s for s in servers)
    return "upstream %s { %s %s }" % (name, extra, lines)


# ---------------------------------------------------------------------------
# round robin

@pytest.mark.parametrize("process,zone", [
    (None, ""),
    (TWO_WORKERS, "zone rr 64k;"),
])
def test_round_robin_follows_the_weights(portico, backends, process, zone):
    """3,000 requests split 5:3:2 within 2% (exactly, for smooth WRR)."""
    b = [backends(name=n) for n in ("a", "b", "c")]
    srv = start(portico, "location / { proxy_pass http://rr; }",
                extra=upstream("rr", ["%s weight=5" % b[0].addr,
                                      "%s weight=3" % b[1].addr,
                                      "%s weight=2" % b[2].addr], zone),
                process=process)
    names = names_of(srv.port, ["/%d" % i for i in range(3000)],
                     new_connection=bool(process))
    counts = [names.count(n) for n in ("a", "b", "c")]
    assert sum(counts) == 3000
    for got, want in zip(counts, (1500, 900, 600)):
        assert abs(got - want) <= 60, counts


def test_zone_makes_the_weights_hold_across_workers(portico, backends):
    """With a zone, two workers share one smooth sequence: 1:1 exactly."""
    a, b = backends(name="a"), backends(name="b")
    srv = start(portico, "location / { proxy_pass http://rr; }",
                extra=upstream("rr", [a.addr, b.addr], "zone rr 64k;"),
                process=TWO_WORKERS)
    names = names_of(srv.port, ["/"] * 200, new_connection=True)
    assert names.count("a") == names.count("b") == 100


# ---------------------------------------------------------------------------
# least_conn and random two

class Holding:
    """A backend handler that holds every request until released."""

    def __init__(self):
        self.release = threading.Event()

    def __call__(self, backend, req):
        backend.stopping.wait(0) or self.release.wait(IO_TIMEOUT * 2)
        return Backend.echo(backend, req)


def send_async(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT * 3)
    s.sendall(get(path))
    return s


@pytest.mark.parametrize("method", ["least_conn;", "random two;",
                                    "random two least_conn;"])
def test_busy_server_is_avoided(portico, backends, method):
    """
    Server "slow" holds its requests, "fast" answers at once: with
    least_conn (or two random choices) the held one gets only the first
    request that landed on it, round robin would give it half.
    """
    hold = Holding()
    slow = backends(name="slow", handler=hold)
    fast = backends(name="fast")
    srv = start(portico, "location / { proxy_pass http://lc; "
                         "proxy_read_timeout 20s; }",
                extra=upstream("lc", [slow.addr, fast.addr], method))
    held = []
    try:
        for i in range(20):
            s = send_async(srv.port, "/%d" % i)
            # wait until this request reached one of the two
            wait_for(lambda: len(slow.requests) + len(fast.requests) > i,
                     what="request %d at a backend" % i)
            if len(slow.requests) + len(fast.requests) > i and \
                    len(fast.requests) and fast.requests[-1].target == \
                    b"/%d" % i:
                r = Client.__new__(Client)
                r.sock, r.buf, r.timeout = s, b"", IO_TIMEOUT
                assert r.response().header("X-Backend") == "fast"
                s.close()
            else:
                held.append(s)
        assert len(slow.requests) == 1, [r.target for r in slow.requests]
        assert len(fast.requests) == 19
    finally:
        hold.release.set()
        for s in held:
            s.close()


def test_least_conn_spreads_equal_load_by_weight(portico, backends):
    """Idle servers alike: least_conn falls back to weighted round robin."""
    a, b = backends(name="a"), backends(name="b")
    srv = start(portico, "location / { proxy_pass http://lc; }",
                extra=upstream("lc", ["%s weight=3" % a.addr, b.addr],
                               "least_conn;"))
    names = names_of(srv.port, ["/"] * 400)
    assert names.count("a") == 300


def test_random_follows_the_weights(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = start(portico, "location / { proxy_pass http://r; }",
                extra=upstream("r", ["%s weight=4" % a.addr, b.addr],
                               "random;"))
    names = names_of(srv.port, ["/"] * 1000)
    # binomial(1000, 0.8): sd ~ 12.6; 6 sd either side
    assert 725 <= names.count("a") <= 875, names.count("a")


# ---------------------------------------------------------------------------
# hash and ip_hash

def key_map(port, keys):
    names = names_of(port, ["/k/%d" % k for k in keys])
    return dict(zip(keys, names))


def test_hash_pins_keys(portico, backends):
    b = [backends(name="b%d" % i) for i in range(3)]
    srv = start(portico, "location / { proxy_pass http://h; }",
                extra=upstream("h", [x.addr for x in b],
                               "hash $request_uri;"))
    first = key_map(srv.port, range(300))
    again = key_map(srv.port, range(300))
    assert first == again
    counts = [list(first.values()).count("b%d" % i) for i in range(3)]
    assert min(counts) >= 60, counts


def test_consistent_hash_moves_few_keys_when_a_server_goes(portico,
                                                           backends):
    """Removing one of 5 servers remaps at most ~25% of 10,000 keys."""
    b = [backends(name="b%d" % i) for i in range(5)]
    conf = "upstream h { hash $request_uri consistent; %s }"
    srv = start(portico, "location / { proxy_pass http://h; }",
                extra=conf % "".join("server %s; " % x.addr for x in b))
    keys = range(10000)
    before = key_map(srv.port, keys)
    counts = [list(before.values()).count("b%d" % i) for i in range(5)]
    assert min(counts) >= 1000, counts      # every server has a fair part

    srv2 = start(portico, "location / { proxy_pass http://h; }",
                 extra=conf % "".join("server %s; " % x.addr for x in b[:4]))
    after = key_map(srv2.port, keys)
    moved = sum(1 for k in keys if before[k] != after[k])
    assert moved <= 2500, moved
    # only the keys of the removed server moved
    assert all(after[k] == before[k] for k in keys if before[k] != "b4")


def test_hash_key_with_variables_and_retry(portico, backends):
    """An unusable server's keys go elsewhere, the others stay put."""
    b = [backends(name="b%d" % i) for i in range(3)]
    srv = start(portico, "location / { proxy_pass http://h; }",
                extra=upstream("h", ["%s max_fails=1 fail_timeout=30s"
                                     % x.addr for x in b],
                               "hash $arg_user consistent;"))
    users = ["/?user=u%d" % i for i in range(60)]
    before = dict(zip(users, names_of(srv.port, users)))
    b[0].stop()
    after = dict(zip(users, names_of(srv.port, users)))
    for u in users:
        if before[u] != "b0":
            assert after[u] == before[u]
        else:
            assert after[u] in ("b1", "b2")


def test_ip_hash_pins_a_client(portico, backends):
    b = [backends(name="b%d" % i) for i in range(3)]
    srv = start(portico, "location / { proxy_pass http://ip; }",
                extra=upstream("ip", [x.addr for x in b], "ip_hash;"))
    for source in ("127.0.0.1", "127.0.7.9"):
        names = names_of(srv.port, ["/"] * 30, new_connection=True,
                         source=source)
        assert len(set(names)) == 1, names
    # the first three octets decide: other /24s spread over the servers
    seen = set()
    for i in range(1, 40):
        seen.update(names_of(srv.port, ["/"], source="127.0.%d.1" % i))
    assert len(seen) >= 2, seen


# ---------------------------------------------------------------------------
# backup, down, max_conns, slow_start

def test_backup_serves_only_when_every_primary_is_unavailable(portico,
                                                              backends):
    p1, p2, bk = (backends(name=n) for n in ("p1", "p2", "bk"))
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=upstream("u", ["%s max_fails=1 fail_timeout=1s"
                                     % p1.addr,
                                     "%s max_fails=1 fail_timeout=1s"
                                     % p2.addr,
                                     "%s backup" % bk.addr]))
    assert set(names_of(srv.port, ["/"] * 20)) == {"p1", "p2"}
    assert bk.conns == 0
    port1, port2 = p1.port, p2.port
    p1.stop()
    p2.stop()
    assert set(names_of(srv.port, ["/"] * 10)) == {"bk"}
    # the primaries come back: after fail_timeout they get the traffic
    p1 = backends(name="p1", port=port1)
    p2 = backends(name="p2", port=port2)
    wait_for(lambda: names_of(srv.port, ["/"])[0] != "bk", timeout=5,
             interval=0.2, what="traffic back on the primaries")
    assert set(names_of(srv.port, ["/"] * 10)) <= {"p1", "p2"}


def test_max_conns_caps_concurrent_requests(portico, backends):
    hold = Holding()
    a = backends(name="a", handler=hold)
    b = backends(name="b", handler=hold)
    srv = start(portico, "location / { proxy_pass http://u; "
                         "proxy_read_timeout 20s; }",
                extra=upstream("u", ["%s max_conns=1" % a.addr,
                                     "%s max_conns=2" % b.addr]))
    held = []
    try:
        for i in range(3):
            held.append(send_async(srv.port, "/%d" % i))
            wait_for(lambda: len(a.requests) + len(b.requests) > i)
        assert len(a.requests) == 1 and len(b.requests) == 2
        # every server is at its cap: 502 at once, nobody waits
        t = time.monotonic()
        c = Client(srv.port)
        r = c.request(get("/over"))
        c.close()
        assert r.status == 502
        assert time.monotonic() - t < 2
        srv.wait_log(r"no live upstreams while connecting to upstream \"u\"")
    finally:
        hold.release.set()
        for s in held:
            s.close()
    # released: the slots are free again
    assert names_of(srv.port, ["/"] * 3)


def test_slow_start_ramps_a_recovered_server(portico, backends):
    a, b = backends(name="a"), backends(name="b")
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=upstream("u", ["%s weight=10 max_fails=1 "
                                     "fail_timeout=1s slow_start=30s"
                                     % a.addr, "%s weight=10" % b.addr]))
    port = a.port
    a.stop()
    assert set(names_of(srv.port, ["/"] * 5)) == {"b"}
    a = backends(name="a", port=port)
    wait_for(lambda: "a" in names_of(srv.port, ["/"]), timeout=5,
             interval=0.1, what="a back in service")
    # a few seconds into a 30 s slow start "a" weighs ~1 against 10
    names = names_of(srv.port, ["/"] * 100)
    assert names.count("a") <= 25, names.count("a")
    assert names.count("a") >= 1


# ---------------------------------------------------------------------------
# passive health, shared by the workers

@pytest.mark.parametrize("zone,most", [("zone u 64k;", 1), ("", 2)])
def test_failures_seen_by_one_worker_count_for_all(portico, backends, zone,
                                                   most):
    """
    A server answering 502 is disabled after one failure. With a zone the
    two workers share that: it gets exactly one request. Without, each
    worker learns on its own (up to one each).
    """
    bad = backends(name="bad", handler=lambda b, r: response(502, "no"))
    good = backends(name="good")
    srv = start(portico, "location / { proxy_pass http://u; "
                         "proxy_next_upstream error http_502; }",
                extra=upstream("u", ["%s max_fails=1 fail_timeout=60s"
                                     % bad.addr, good.addr], zone),
                process=TWO_WORKERS)
    names = names_of(srv.port, ["/"] * 60, new_connection=True)
    assert set(names) == {"good"}
    assert 1 <= len(bad.requests) <= most, len(bad.requests)


def test_upstream_variables_show_every_try(portico, backends):
    a = backends(name="a", handler=lambda b, r: response(502, "no"))
    b = backends(name="b")
    srv = start(portico, "location / { proxy_pass http://u; "
                         "proxy_next_upstream error http_502; "
                         "add_header X-Up $upstream_addr; "
                         "add_header X-St $upstream_status; }",
                extra=upstream("u", [a.addr, b.addr]))
    c = Client(srv.port)
    r = c.request(get("/"))
    c.close()
    assert r.status == 200
    assert r.header("X-Up") == "%s, %s" % (a.addr, b.addr)
    assert r.header("X-St") == "502, 200"


def test_next_upstream_timeout_bounds_the_retries(portico, backends):
    """Three servers that never answer; 1.2 s allows two 0.7 s tries."""
    def mute(b, r):
        b.stopping.wait(10)
    bs = [backends(name="m%d" % i, handler=mute) for i in range(3)]
    srv = start(portico, "location / { proxy_pass http://u; "
                         "proxy_read_timeout 700ms; "
                         "proxy_next_upstream error timeout; "
                         "proxy_next_upstream_timeout 1200ms; }",
                extra=upstream("u", [x.addr for x in bs]))
    c = Client(srv.port, timeout=10)
    r = c.request(get("/"))
    c.close()
    assert r.status == 504
    assert sum(len(x.requests) for x in bs) == 2


# ---------------------------------------------------------------------------
# configuration errors

@pytest.mark.parametrize("text,message", [
    ("upstream u { zone; server 127.0.0.1:1; }",
     r'invalid number of arguments in "zone" directive'),
    ("upstream u { zone z 1k; server 127.0.0.1:1; }",
     r'zone "z" is too small'),
    ("upstream u { zone z x; server 127.0.0.1:1; }",
     r'invalid zone size "x"'),
    ("upstream u { zone z 64k; zone y 64k; server 127.0.0.1:1; }",
     r'"zone" directive is duplicate'),
    ("upstream u { server 127.0.0.1:1 max_conns=x; }",
     r'invalid parameter "max_conns=x"'),
    ("upstream u { server 127.0.0.1:1 slow_start=never; }",
     r'invalid parameter "slow_start=never"'),
    ("upstream u { server 127.0.0.1:1 fail_timeout=; }",
     r'invalid parameter "fail_timeout="'),
    ("upstream u { server 127.0.0.1:1 backup down; }",
     r'may not be both "backup" and "down"'),
    ("upstream u { server example.invalid resolve; }",
     r'"resolve" in upstream "u" needs a "zone"'),
    ("upstream u { zone z 64k; server unix:/tmp/x.sock resolve; }",
     r'"resolve" is not possible with a unix socket'),
    ("upstream u { hash; server 127.0.0.1:1; }",
     r'invalid number of arguments in "hash" directive'),
    ("upstream u { hash $uri sometimes; server 127.0.0.1:1; }",
     r'invalid parameter "sometimes"'),
    ("upstream u { hash \"\"; server 127.0.0.1:1; }",
     r'"hash" directive has an empty key'),
    ("upstream u { random three; server 127.0.0.1:1; }",
     r'invalid parameter "three"'),
    ("upstream u { random two most_conn; server 127.0.0.1:1; }",
     r'invalid parameter "most_conn"'),
    ("upstream u { least_conn x; server 127.0.0.1:1; }",
     r'invalid number of arguments in "least_conn" directive'),
    ("upstream u { ip_hash on; server 127.0.0.1:1; }",
     r'invalid number of arguments in "ip_hash" directive'),
    ("server { least_conn; }",
     r'"least_conn" directive is not allowed here'),
    ("proxy_next_upstream_timeout forever;",
     r'invalid time "forever" in "proxy_next_upstream_timeout"'),
])
def test_bad_balancing_config(tmp_path, text, message):
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc == 1, err
    emerg = [l for l in err.splitlines() if "[emerg]" in l]
    assert emerg, err
    assert re.search(message, emerg[0]), emerg[0]
    conf = tmp_path / "portico.conf"
    assert emerg[0].endswith(" in %s:%d" % (conf, line_of(conf, text)))


def test_redefined_method_is_a_warning(tmp_path):
    text = "upstream u { least_conn; random; server 127.0.0.1:1; }"
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc == 0, err
    conf = tmp_path / "portico.conf"
    assert re.search(r"\[warn\] .*load balancing method redefined in "
                     r"%s:%d" % (re.escape(str(conf)), line_of(conf, text)),
                     err), err


def test_zone_too_small_for_its_servers(tmp_path):
    servers = "".join("server 127.0.0.%d:80; " % i for i in range(1, 120))
    text = "upstream u { zone z 32k; %s }" % servers
    rc, out, err = run_portico(["-t"], http(text), tmp=tmp_path)
    assert rc == 1, err
    conf = tmp_path / "portico.conf"
    assert re.search(r'\[emerg\] zone "z" is too small for upstream "u": '
                     r'\d+k needed in %s:%d\n' % (re.escape(str(conf)),
                                                line_of(conf, text)),
                     err), err


def test_reload_with_a_zone(portico, backends):
    """A reload builds the peers anew in a fresh zone; no request fails."""
    a, b = backends(name="a"), backends(name="b")
    srv = start(portico, "location / { proxy_pass http://u; }",
                extra=upstream("u", [a.addr, b.addr], "zone u 64k;"),
                process=TWO_WORKERS)
    assert set(names_of(srv.port, ["/"] * 20, new_connection=True)) == \
        {"a", "b"}
    srv.rewrite(http(
        "    server {\n        listen 127.0.0.1:{port};\n"
        "        location / { proxy_pass http://u; }\n    }\n",
        upstream("u", [b.addr], "zone u 64k;")), process=TWO_WORKERS)
    srv.send_signal(__import__("signal").SIGHUP)
    wait_for(lambda: set(names_of(srv.port, ["/"] * 10,
                                  new_connection=True)) == {"b"},
             timeout=10, interval=0.2, what="the new configuration")


def test_a_failed_server_rests_across_a_reload(portico, backends):
    """What the workers learnt of a server goes to the new generation."""
    import signal
    from test_proxy import worker_pids
    bad = backends(name="bad", handler=lambda b, r: response(502, "no"))
    good = backends(name="good")
    ups = upstream("u", ["%s max_fails=1 fail_timeout=60s" % bad.addr,
                         good.addr], "zone u 64k;")
    loc = ("    server {\n        listen 127.0.0.1:{port};\n"
           "        location / { proxy_pass http://u; "
           "proxy_next_upstream error http_502; }\n    }\n")
    srv = portico.start(http(loc, ups), process=TWO_WORKERS)
    assert set(names_of(srv.port, ["/"] * 10, new_connection=True)) == \
        {"good"}
    assert len(bad.requests) == 1
    old = set(worker_pids(srv))
    srv.rewrite(http(loc, ups + "\n"), process=TWO_WORKERS)
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: not set(worker_pids(srv)) & old
             and len(worker_pids(srv)) == 2, timeout=10,
             what="two new workers")
    assert set(names_of(srv.port, ["/"] * 20, new_connection=True)) == \
        {"good"}
    assert len(bad.requests) == 1
