"""
Active health checks over TLS (health_check tls, tls_name, tls_verify,
tls_trusted_certificate, tls_certificate): against backends that speak
only TLS, with certificates from python3-trustme. A TLS-only server stays
healthy with "tls" and turns unhealthy without it; verification passes
with the right CA and fails, with the verifier's reason in the log, with
a wrong CA, with the system's store, and with a name the certificate does
not carry; SNI carries tls_name (not an IP address, and nothing without
tls_name); a handshake that never ends fails by the timeout while portico
goes on serving; an answer that is not TLS fails; a fixed server comes
back; a reload hands the checks over with the new settings; sessions are
resumed between checks; a client certificate is presented; and bad
parameters are [emerg] FILE:LINE.
"""

import re
import select
import signal
import socket
import ssl
import threading
import time

import pytest
import trustme

from conftest import (IO_TIMEOUT, get, line_of, needs_module, run_portico,
                      wait_for, write_config)
from test_proxy import one, response, worker_pids
from test_upstream_health import (SLACK, WORKERS, conf_with, expect_error,
                                  healthy_line, http_conf, log_count,
                                  unhealthy_line, upstream)


pytestmark = needs_module("pt_http_upstream_health_module")

CHECK_HEAD = (b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
              b"User-Agent: portico-health-check\r\n\r\n")


# ---------------------------------------------------------------------------
# certificates and a TLS backend

class Pki:
    """A CA with a server certificate, another CA, a client certificate."""

    def __init__(self, d):
        self.dir = d
        self.ca = trustme.CA()
        self.other_ca = trustme.CA()
        # names and an address: the address is verified as one
        self.server = self.ca.issue_cert("backend.test", "127.0.0.1")
        self.stranger = self.other_ca.issue_cert("backend.test",
                                                 "127.0.0.1")
        self.client = self.ca.issue_cert("portico-check.test")
        # one intermediate between the CA and the server
        self.chained = self.ca.create_child_ca().issue_cert("backend.test")
        self.ca.cert_pem.write_to_path(str(d / "ca.pem"))
        self.other_ca.cert_pem.write_to_path(str(d / "other-ca.pem"))
        self.client.cert_chain_pems[0].write_to_path(str(d / "client.crt"))
        self.client.private_key_pem.write_to_path(str(d / "client.key"))

    def path(self, name):
        return str(self.dir / name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("hc-pki"))


class TLSCheckBackend:
    """
    A server on a loopback port for health checks. mode "tls": a TLS
    handshake with the certificate cert, then the request head, answered
    with answer; "stall": reads the ClientHello and says nothing until the
    peer closes; "garbage": answers the ClientHello with bytes that are no
    TLS; "close": closes the connection on the ClientHello. Records the
    connections accepted, per handshake (SNI name or None, session
    resumed, the client certificate's names or None), the request heads,
    and the times stalled connections were closed by the peer.
    """

    def __init__(self, cert, client_ca=None, mode="tls"):
        self.mode = mode
        self.answer = response(200, b"ok")
        self.lock = threading.Lock()
        self.handshakes = []
        self.heads = []
        self.failed = []            # handshakes that did not complete
        self.stall_closed = []
        self.accepted = 0           # connections
        self.stopping = threading.Event()
        self.threads = []
        self._sni = {}
        self.client_ca = client_ca
        self.set_cert(cert)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self.threads.append(t)

    def set_cert(self, cert):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        if self.client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.client_ca.configure_trust(ctx)

        def sni(sock, name, context):
            with self.lock:
                self._sni[id(sock)] = name

        ctx.sni_callback = sni
        self.ctx = ctx

    def _accept(self):
        while not self.stopping.is_set():
            try:
                r, _, _ = select.select([self.lsock], [], [], 0.05)
                if not r:
                    continue
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _wait_close(self, s):
        while not self.stopping.is_set():
            r, _, _ = select.select([s], [], [], 0.05)
            if r:
                try:
                    if not s.recv(4096):
                        return True
                except OSError:
                    return True
        return False

    def _serve(self, s):
        mode = self.mode
        s.settimeout(IO_TIMEOUT)
        try:
            if mode == "stall":
                if self._wait_close(s):
                    with self.lock:
                        self.stall_closed.append(time.monotonic())
                return
            if mode == "garbage":
                s.recv(4096)
                s.sendall(b"SSH-2.0-OpenSSH_9.2p1\r\n" + b"\x00" * 64)
                self._wait_close(s)
                return
            if mode == "close":
                s.recv(4096)
                return
            try:
                ss = self.ctx.wrap_socket(s, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with self.lock:
                    self.failed.append(repr(e))
                return
            peer = ss.getpeercert()
            subject = None
            if peer:
                # trustme names its certificates in subjectAltName alone
                subject = ",".join(v for k, v in peer["subjectAltName"])
            with self.lock:
                sni = self._sni.pop(id(ss), None)
                self.handshakes.append((sni, ss.session_reused, subject))
            head = b""
            while b"\r\n\r\n" not in head:
                data = ss.recv(4096)
                if not data:
                    return
                head += data
            with self.lock:
                self.heads.append(head)
            ss.sendall(self.answer)
            ss.close()
        except (OSError, ssl.SSLError):
            pass
        finally:
            s.close()

    def count(self):
        with self.lock:
            return len(self.handshakes)

    def wait_handshakes(self, n, timeout=IO_TIMEOUT):
        wait_for(lambda: self.count() >= n, timeout,
                 what="%d handshakes at %s" % (n, self.addr))
        with self.lock:
            return list(self.handshakes)

    def stop(self):
        self.stopping.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        for t in self.threads:
            t.join(5)


@pytest.fixture
def tls_backends():
    made = []

    def make(*args, **kwargs):
        b = TLSCheckBackend(*args, **kwargs)
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()


def failed_line(b, group="u"):
    return (r"\[info\] \d+#\d+: health check of %s in upstream \"%s\" "
            r"failed: " % (re.escape(b.addr), group))


def start(portico, b, check, group="u", **kw):
    return portico.start(http_conf(
        upstream(group, [b.addr], check),
        locations="location / { proxy_pass https://%s; }\n"
                  "        location = /alive { return 200 alive; }"
                  % group), **kw)


def stays_healthy(srv, b, n=3, group="u"):
    """n more checks pass, and none failed."""
    b.wait_handshakes(b.count() + n)
    wait_for(lambda: len(b.heads) >= n, IO_TIMEOUT, what="%d checks" % n)
    assert log_count(srv, failed_line(b, group)) == 0, srv.error_log()
    assert log_count(srv, unhealthy_line(b, group)) == 0


# ---------------------------------------------------------------------------
# checks over TLS

def test_tls_only_server_needs_tls(portico, pki, tls_backends):
    b = tls_backends(pki.server)
    srv = portico.start(http_conf(
        upstream("secure", [b.addr], "health_check interval=200ms tls "
                                     "uri=/healthz;")
        + upstream("plain", [b.addr], "health_check interval=200ms;"),
        locations="location / { proxy_pass https://secure; }"))

    # without tls the check meets a TLS server and fails
    srv.wait_log(unhealthy_line(b, "plain"), IO_TIMEOUT)

    stays_healthy(srv, b, 3, "secure")
    # the same request as in plain HTTP, inside TLS, and no SNI by default
    with b.lock:
        heads = list(b.heads)
        shakes = list(b.handshakes)
    assert heads[0] == CHECK_HEAD % (b"/healthz", b"secure")
    assert all(h == heads[0] for h in heads)
    assert all(sni is None for sni, _, _ in shakes), shakes

    # and traffic goes to it (proxy_pass https://)
    r = one(srv.port, get("/"))
    assert r.status == 200 and r.body == b"ok"


def test_verify_with_the_right_ca_and_sni(portico, pki, tls_backends):
    b = tls_backends(pki.server)
    srv = start(portico, b,
                "health_check interval=200ms tls tls_verify "
                "tls_name=backend.test tls_trusted_certificate=%s;"
                % pki.path("ca.pem"))
    shakes = b.wait_handshakes(3)
    stays_healthy(srv, b)
    assert {sni for sni, _, _ in shakes} == {"backend.test"}


def test_the_default_name_is_the_groups(portico, pki, tls_backends):
    """As proxy_ssl_name's: verified, but not sent (no SNI by default)."""
    b = tls_backends(pki.server)
    srv = start(portico, b, "health_check interval=200ms tls tls_verify "
                            "tls_trusted_certificate=%s;"
                % pki.path("ca.pem"), group="backend.test")
    stays_healthy(srv, b, 3, "backend.test")
    with b.lock:
        assert {sni for sni, _, _ in b.handshakes} == {None}
        assert b.heads[0] == CHECK_HEAD % (b"/", b"backend.test")


@pytest.mark.parametrize("params, reason", [
    # a CA that did not issue the certificate
    ("tls_verify tls_name=backend.test tls_trusted_certificate={other}",
     "unable to get local issuer certificate"),
    # the system's store, which does not know the test CA
    ("tls_verify tls_name=backend.test",
     "unable to get local issuer certificate"),
    # the right CA, a name the certificate does not carry
    ("tls_verify tls_name=other.test tls_trusted_certificate={ca}",
     "hostname mismatch"),
    # without tls_name: the group's name, as proxy_ssl_name's default
    ("tls_verify tls_trusted_certificate={ca}", "hostname mismatch"),
])
def test_verification_failures(portico, pki, tls_backends, params, reason):
    b = tls_backends(pki.server)
    srv = start(portico, b, "health_check interval=300ms tls %s;" % params
                .format(ca=pki.path("ca.pem"),
                        other=pki.path("other-ca.pem")))
    srv.wait_log("(?m)" + unhealthy_line(b) + "certificate verify failed: "
                 + re.escape(reason) + "$", IO_TIMEOUT)
    # no request went to a server that failed verification
    assert b.heads == []
    # each failed check says why, at info, and nothing at error
    srv.wait_log(failed_line(b) + "certificate verify failed: ")
    assert "[error]" not in srv.error_log()


def test_verify_depth(portico, pki, tls_backends):
    """The depth counts intermediates, 1 by default as proxy_ssl's."""
    b = tls_backends(pki.chained)
    check = ("health_check interval=200ms tls tls_verify "
             "tls_name=backend.test tls_trusted_certificate=%s%s;")
    srv = portico.start(http_conf(
        upstream("one", [b.addr], check % (pki.path("ca.pem"), ""))
        + upstream("none", [b.addr], check % (pki.path("ca.pem"),
                                              " tls_verify_depth=0")),
        locations="location / { return 204; }"))
    srv.wait_log("(?m)" + unhealthy_line(b, "none")
                 + "certificate verify failed: certificate chain too long$",
                 IO_TIMEOUT)
    stays_healthy(srv, b, 3, "one")


def test_without_tls_verify_any_certificate_passes(portico, pki,
                                                   tls_backends):
    b = tls_backends(pki.stranger)
    srv = start(portico, b, "health_check interval=200ms tls "
                            "tls_name=backend.test;")
    stays_healthy(srv, b)
    with b.lock:
        assert {sni for sni, _, _ in b.handshakes} == {"backend.test"}


def test_an_address_as_tls_name(portico, pki, tls_backends):
    """Verified against the certificate's IP address; no SNI (RFC 6066)."""
    b = tls_backends(pki.server)
    srv = start(portico, b,
                "health_check interval=200ms tls tls_verify "
                "tls_name=127.0.0.1 tls_trusted_certificate=%s;"
                % pki.path("ca.pem"))
    stays_healthy(srv, b)
    with b.lock:
        assert {sni for sni, _, _ in b.handshakes} == {None}


def test_handshake_that_never_ends(portico, pki, tls_backends):
    b = tls_backends(pki.server, mode="stall")
    srv = start(portico, b, "health_check interval=1s timeout=400ms tls;")
    t0 = time.monotonic()
    srv.wait_log("(?m)" + unhealthy_line(b) + r"timed out in TLS handshake "
                 r"\(110: Connection timed out\)$", IO_TIMEOUT)
    assert time.monotonic() - t0 <= 1.0 + 0.4 + SLACK * 2
    # portico closed the stalled connection at its timeout
    wait_for(lambda: b.stall_closed, IO_TIMEOUT,
             what="the stalled check's close")

    # meanwhile, and while the next check stalls, portico serves
    n = len(b.stall_closed)
    for _ in range(5):
        t = time.monotonic()
        r = one(srv.port, get("/alive"))
        assert r.status == 200 and r.body == b"alive"
        assert time.monotonic() - t < 0.3
    wait_for(lambda: len(b.stall_closed) > n, IO_TIMEOUT * 2,
             what="the next stalled check's close")
    assert b.handshakes == []


def test_graceful_stop_during_a_handshake(portico, pki, tls_backends):
    """A stalled handshake holds a stopping worker only until its timeout."""
    b = tls_backends(pki.server, mode="stall")
    srv = start(portico, b, "health_check interval=10s timeout=1500ms tls;",
                process=WORKERS)
    # the first check is under way: its connection waits in the backend
    wait_for(lambda: b.accepted, IO_TIMEOUT, what="the check's connection")
    t = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    assert srv.wait_exit(IO_TIMEOUT) == 0
    assert time.monotonic() - t <= 1.5 + SLACK
    wait_for(lambda: b.stall_closed, IO_TIMEOUT, what="the check's close")
    assert b.handshakes == []


@pytest.mark.parametrize("mode, reason", [
    # OpenSSL 3.0 says "wrong version number"
    ("garbage", r"TLS handshake failed \(SSL: [^)]+\)$"),
    ("close", r"connection closed in TLS handshake$"),
])
def test_an_answer_that_is_not_tls(portico, pki, tls_backends, mode,
                                   reason):
    b = tls_backends(pki.server, mode=mode)
    srv = start(portico, b, "health_check interval=300ms tls;")
    srv.wait_log("(?m)" + unhealthy_line(b) + reason, IO_TIMEOUT)
    srv.wait_log("(?m)" + failed_line(b) + reason, IO_TIMEOUT)
    assert "[error]" not in srv.error_log()


@pytest.mark.parametrize("broken", ["garbage", "stall", "stranger"])
def test_a_fixed_server_comes_back(portico, pki, tls_backends, broken):
    b = tls_backends(pki.server)
    if broken == "stranger":
        b.set_cert(pki.stranger)
    else:
        b.mode = broken
    srv = start(portico, b,
                "health_check interval=300ms timeout=250ms passes=2 tls "
                "tls_verify tls_name=backend.test "
                "tls_trusted_certificate=%s;" % pki.path("ca.pem"))
    srv.wait_log(unhealthy_line(b), IO_TIMEOUT)
    r = one(srv.port, get("/"))
    assert r.status == 502

    t = time.monotonic()
    b.set_cert(pki.server)
    b.mode = "tls"
    srv.wait_log(healthy_line(b), IO_TIMEOUT)
    assert time.monotonic() - t <= 0.3 * 3 + SLACK * 2
    r = one(srv.port, get("/"))
    assert r.status == 200 and r.body == b"ok"
    assert log_count(srv, unhealthy_line(b)) == 1


def test_sessions_are_resumed_between_checks(portico, pki, tls_backends):
    b = tls_backends(pki.server)
    srv = start(portico, b, "health_check interval=150ms tls;")
    shakes = b.wait_handshakes(5)
    stays_healthy(srv, b)
    # the first one is full; the next ones resume what the last left
    assert shakes[0][1] is False
    assert all(reused for _, reused, _ in shakes[1:5]), shakes


def test_client_certificate(portico, pki, tls_backends):
    b = tls_backends(pki.server, client_ca=pki.ca)
    srv = portico.start(http_conf(
        upstream("with", [b.addr],
                 "health_check interval=200ms tls tls_certificate=%s "
                 "tls_certificate_key=%s;" % (pki.path("client.crt"),
                                              pki.path("client.key")))
        + upstream("without", [b.addr], "health_check interval=200ms "
                                        "tls;"),
        locations="location / { return 204; }"))
    # a server that requires one refuses the check that has none
    srv.wait_log(unhealthy_line(b, "without"), IO_TIMEOUT)
    stays_healthy(srv, b, 3, "with")
    with b.lock:
        subjects = {s for _, _, s in b.handshakes}
    assert subjects == {"portico-check.test"}


def test_reload_hands_over_the_tls_checks(portico, pki, tls_backends):
    b = tls_backends(pki.server)
    conf = http_conf(upstream(
        "u", [b.addr], "health_check interval=200ms tls tls_verify "
                       "tls_name=backend.test "
                       "tls_trusted_certificate=%s;" % pki.path("ca.pem")))
    srv = portico.start(conf, process=WORKERS)
    b.wait_handshakes(2)
    old = set(worker_pids(srv))

    # the new configuration names another SNI: the new worker 0 uses it
    srv.rewrite(conf.replace("tls_name=backend.test",
                             "tls_name=127.0.0.1"), process=WORKERS)
    srv.send_signal(signal.SIGHUP)
    wait_for(lambda: not set(worker_pids(srv)) & old
             and len(worker_pids(srv)) == 2, IO_TIMEOUT * 2,
             what="two new workers")
    n = b.count()
    shakes = b.wait_handshakes(n + 3)
    assert shakes[-1][0] is None
    assert log_count(srv, failed_line(b)) == 0

    # and a second reload, to a CA that fails them
    srv.rewrite(conf.replace("ca.pem", "other-ca.pem"), process=WORKERS)
    srv.send_signal(signal.SIGHUP)
    srv.wait_log(unhealthy_line(b) + "certificate verify failed: ",
                 IO_TIMEOUT * 2)


# ---------------------------------------------------------------------------
# configuration

@pytest.mark.parametrize("check, message", [
    ("health_check tls_name=a.test;", 'parameter "tls_name=a.test" '
                                      'requires "tls"'),
    ("health_check tls_verify;", 'parameter "tls_verify" requires "tls"'),
    ("health_check tls_certificate=c.crt tls_certificate_key=c.key;",
     'parameter "tls_certificate=c.crt" requires "tls"'),
    ("health_check tls tls_trusted_certificate=ca.pem;",
     'parameter "tls_trusted_certificate=ca.pem" requires "tls_verify"'),
    ("health_check tls tls_verify_depth=3;",
     'parameter "tls_verify_depth=3" requires "tls_verify"'),
    ("health_check tls tls_certificate=c.crt;",
     '"tls_certificate" and "tls_certificate_key" go together'),
    ("health_check tls tls_certificate_key=c.key;",
     '"tls_certificate" and "tls_certificate_key" go together'),
    ("health_check tls tls_name=;", 'invalid parameter "tls_name="'),
    ('health_check tls "tls_name=a b";', 'invalid parameter "tls_name=a b"'),
    ("health_check tls tls_name=a/b;", 'invalid parameter "tls_name=a/b"'),
    ("health_check tls tls_verify tls_verify_depth=x;",
     'invalid parameter "tls_verify_depth=x"'),
    ("health_check tls tls_verify tls_verify_depth=101;",
     'invalid parameter "tls_verify_depth=101"'),
    ("health_check tls tls_sni;", 'invalid parameter "tls_sni"'),
    ("health_check tls tls_verify=on;", 'invalid parameter "tls_verify=on"'),
    ("health_check tls=on;", 'invalid parameter "tls=on"'),
])
def test_bad_tls_parameters(tmp_path, check, message):
    expect_error(tmp_path, conf_with(check), message, "health_check")


@pytest.mark.parametrize("params, message", [
    ("tls_verify tls_trusted_certificate={tmp}/none.pem",
     r'cannot load trusted certificates "{tmp}/none.pem" \(SSL: .*\)'),
    ("tls_certificate={tmp}/none.crt tls_certificate_key={tmp}/none.key",
     r'cannot load certificate "{tmp}/none.crt" \(SSL: .*\)'),
    ("tls_certificate={pki}/client.crt tls_certificate_key={pki}/ca.pem",
     r'cannot load certificate key "{pki}/ca.pem" \(SSL: .*\)'),
])
def test_files_that_do_not_load(tmp_path, pki, params, message):
    dirs = {"tmp": str(tmp_path), "pki": str(pki.dir)}
    values = {k: re.escape(v) for k, v in dirs.items()}
    conf = write_config(tmp_path, conf_with(
        "health_check tls %s;" % params.format(**dirs)))
    line = line_of(conf, "health_check")
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1, err
    assert out == ""
    assert re.fullmatch(
        r"portico: \[emerg\] %s in %s:%d\n"
        r"portico: configuration file %s test failed\n"
        % (message.format(**values), re.escape(str(conf)), line,
           re.escape(str(conf))), err), err


def test_valid_tls_parameters_pass_the_test(tmp_path, pki):
    conf = write_config(tmp_path, conf_with(
        "health_check interval=2s tls tls_name=backend.test tls_verify "
        "tls_verify_depth=2 tls_trusted_certificate=%s "
        "tls_certificate=%s tls_certificate_key=%s;"
        % (pki.path("ca.pem"), pki.path("client.crt"),
           pki.path("client.key"))))
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0, err
    # without tls_trusted_certificate: the system's store, as
    # proxy_ssl_verify has
    conf = write_config(tmp_path, conf_with(
        "health_check tls tls_verify tls_name=::1;"))
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0, err
