"""
TLS termination: protocols and ciphers (and the defaults an audit would
check), SNI, RSA and ECDSA certificates side by side, ALPN, session
resumption across workers (tickets, the shared session cache, ticket key
files), client certificates, OCSP stapling from a file, certificates
renewed by a reload under load, plain HTTP and silence on a TLS port, and
the configuration errors.

Certificates are made per module run with the "cryptography" package
(python3-trustme's dependency); clients are Python's ssl module, and
"openssl s_client" where Python cannot ask (OCSP status).
"""

import datetime
import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import (IO_TIMEOUT, Client, connect, get, group_members,
                      line_of, needs_module, recv_until_close, run_portico,
                      wait_for, write_config)


pytestmark = [
    needs_module("pt_http_ssl_module"),
    # the clients of the tests of TLS 1.0 and 1.1 ask for them on purpose
    pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1"
                               ":DeprecationWarning"),
]

WORKERS = "master_process on; worker_processes 2;"


# ---------------------------------------------------------------------------
# certificates

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "Portico Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


class CA:
    """A certificate authority that issues server and client certificates."""

    def __init__(self, cn, kind="ec"):
        self.key = _key(kind)
        self.name = _name(cn)
        now = datetime.datetime.utcnow()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                           critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))

    def issue(self, cn, kind="ec", client=False, names=None, expired=False):
        key = _key(kind)
        now = datetime.datetime.utcnow()
        # an expired one was good for the month that ended yesterday
        start, end = (-31, -1) if expired else (-1, 30)
        b = (x509.CertificateBuilder()
             .subject_name(_name(cn)).issuer_name(self.name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now + datetime.timedelta(days=start))
             .not_valid_after(now + datetime.timedelta(days=end))
             .add_extension(x509.AuthorityKeyIdentifier.
                            from_issuer_public_key(self.key.public_key()),
                            critical=False))
        if client:
            b = b.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in (names or [cn])]), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        return b.sign(self.key, hashes.SHA256()), key

    def crl(self, revoked):
        now = datetime.datetime.utcnow()
        b = (x509.CertificateRevocationListBuilder()
             .issuer_name(self.name)
             .last_update(now - datetime.timedelta(hours=1))
             .next_update(now + datetime.timedelta(days=7)))
        for cert in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert.serial_number)
                .revocation_date(now - datetime.timedelta(minutes=5))
                .build())
        return b.sign(self.key, hashes.SHA256())

    def ocsp_good(self, cert):
        now = datetime.datetime.utcnow()
        return (ocsp.OCSPResponseBuilder()
                .add_response(cert=cert, issuer=self.cert,
                              algorithm=hashes.SHA1(),
                              cert_status=ocsp.OCSPCertStatus.GOOD,
                              this_update=now - datetime.timedelta(hours=1),
                              next_update=now + datetime.timedelta(days=1),
                              revocation_time=None, revocation_reason=None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, self.cert)
                .sign(self.key, hashes.SHA256())
                .public_bytes(serialization.Encoding.DER))


class Pki:
    """Every certificate the tests use, as files in one directory."""

    def __init__(self, d):
        self.dir = Path(d)
        self.ca = CA("Portico Test CA", "rsa")
        self.write("ca.pem", _pem_cert(self.ca.cert))

        self.certs = {}
        for name, cn, kind, names in (
                ("rsa", "localhost", "rsa", None),
                ("ecdsa", "localhost", "ec", None),
                ("a", "a.test", "ec", None),
                ("b", "b.test", "ec", None),
                ("c", "c.test", "ec", ["c.test", "*.c.test"]),
                ("default", "default.test", "ec", None)):
            self.server(name, cn, kind, names)

        self.client_ca = CA("Portico Client CA")
        self.write("client-ca.pem", _pem_cert(self.client_ca.cert))
        self.other_ca = CA("Some Other CA")

        for name, ca, expired in (("alice", self.client_ca, False),
                                  ("bob", self.client_ca, False),
                                  ("mallory", self.other_ca, False),
                                  ("carol", self.client_ca, True)):
            cert, key = ca.issue(name, client=True, expired=expired)
            self.certs[name] = cert
            self.write(name + ".pem", _pem_cert(cert) + _pem_key(key))

        self.write("client-ca.crl", self.client_ca.crl(
            [self.certs["bob"]]).public_bytes(serialization.Encoding.PEM))

        self.write("ocsp.der", self.ca.ocsp_good(self.certs["rsa"]))

    def server(self, name, cn, kind="ec", names=None):
        """Issues a server certificate: NAME.crt and NAME.key."""
        cert, key = self.ca.issue(cn, kind, names=names)
        self.certs[name] = cert
        self.write(name + ".crt", _pem_cert(cert))
        self.write(name + ".key", _pem_key(key))
        return cert

    def write(self, name, data):
        (self.dir / name).write_bytes(data)

    def path(self, name):
        return str(self.dir / name)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


# ---------------------------------------------------------------------------
# clients

def client_ctx(pki=None, version=None, ciphers=None, alpn=None, cert=None,
               old=False):
    """
    A client context: verifies the server against the test CA when pki is
    given (and does not look at the server's certificate otherwise).
    version pins one protocol; old opens the door to TLS 1.0 and 1.1.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if pki:
        ctx.load_verify_locations(pki.path("ca.pem"))
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if old:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    if version:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if ciphers:
        ctx.set_ciphers(ciphers + (":@SECLEVEL=0" if old else ""))
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(cert)
    return ctx


class TLSClient(Client):
    """conftest's Client over TLS."""

    def __init__(self, port, ctx, sni="localhost", session=None,
                 timeout=IO_TIMEOUT):
        sock = connect(port, timeout=timeout)
        try:
            self.sock = ctx.wrap_socket(sock, server_hostname=sni,
                                        session=session)
        except BaseException:
            sock.close()
            raise
        self.buf = b""
        self.timeout = timeout


class Fetched:
    """A response and what the TLS connection that carried it was like."""

    def __init__(self, resp, sock):
        self.resp = resp
        self.status = resp.status
        self.body = resp.body
        self.version = sock.version()
        self.cipher = sock.cipher()[0]
        self.alpn = sock.selected_alpn_protocol()
        self.reused = sock.session_reused
        self.session = sock.session
        der = sock.getpeercert(binary_form=True)
        self.cert = x509.load_der_x509_certificate(der) if der else None

    @property
    def cn(self):
        return self.cert.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value


def fetch(port, ctx, path="/", sni="localhost", host=None, session=None):
    """One request on a new TLS connection (closed after it)."""
    c = TLSClient(port, ctx, sni=sni, session=session)
    try:
        resp = c.request(get(path, host=host or sni or "localhost",
                             extra=b"Connection: close\r\n"))
        return Fetched(resp, c.sock)
    finally:
        c.close()


def handshake_fails(port, ctx, sni="localhost"):
    """True when the server refuses the handshake."""
    try:
        c = TLSClient(port, ctx, sni=sni)
    except (ssl.SSLError, ConnectionResetError):
        return True
    c.close()
    return False


# ---------------------------------------------------------------------------
# configurations

def server_block(cert="{rsa_crt}", key="{rsa_key}", extra="",
                 body="$ssl_protocol $ssl_cipher", name="localhost",
                 listen="127.0.0.1:{port} ssl"):
    return ("    server {\n"
            "        listen %s;\n"
            "        server_name %s;\n"
            "        ssl_certificate %s;\n"
            "        ssl_certificate_key %s;\n"
            "%s"
            "        location / {\n"
            "            return 200 \"%s\";\n"
            "        }\n"
            "    }\n" % (listen, name, cert, key, extra, body))


def http(*servers, extra=""):
    return "http {\n" + extra + "".join(servers) + "}\n"


def files(pki):
    """Placeholder values for every file of the PKI."""
    v = {}
    for name in ("rsa", "ecdsa", "a", "b", "c", "default"):
        v[name + "_crt"] = pki.path(name + ".crt")
        v[name + "_key"] = pki.path(name + ".key")
    for name in ("ca.pem", "client-ca.pem", "client-ca.crl", "ocsp.der"):
        v[name.replace("-", "_").replace(".", "_")] = pki.path(name)
    return v


def start(portico, pki, conf, **kw):
    values = files(pki)
    values.update(kw.pop("values", {}))
    return portico.start(conf, **values, **kw)


# ---------------------------------------------------------------------------
# protocols, ciphers, the defaults

@pytest.mark.parametrize("version, name", [
    (ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
    (ssl.TLSVersion.TLSv1_3, "TLSv1.3"),
])
def test_request_over_tls(portico, pki, version, name):
    server = start(portico, pki, http(server_block(
        body="$ssl_protocol $ssl_cipher $ssl_server_name $scheme $https")))

    f = fetch(server.port, client_ctx(pki, version))

    assert f.version == name
    assert f.cn == "localhost"
    assert f.status == 200
    assert f.body == ("%s %s localhost https on" % (name, f.cipher)).encode()


def test_keepalive_and_a_large_body_over_tls(portico, pki, tmp_path):
    """Several requests on one connection, a body of many records."""
    (tmp_path / "www").mkdir()
    big = os.urandom(300000)
    (tmp_path / "www" / "big").write_bytes(big)
    server = start(portico, pki, http(
        "    server {\n"
        "        listen 127.0.0.1:{port} ssl;\n"
        "        ssl_certificate {rsa_crt};\n"
        "        ssl_certificate_key {rsa_key};\n"
        "        root {www};\n"
        "    }\n"), values={"www": tmp_path / "www"})

    c = TLSClient(server.port, client_ctx(pki))
    try:
        for i in range(3):
            resp = c.request(get("/big"))
            assert resp.status == 200
            assert resp.body == big
    finally:
        c.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1,
                                     ssl.TLSVersion.TLSv1_1])
def test_old_protocols_refused_by_default(portico, pki, version):
    server = start(portico, pki, http(server_block()))

    assert handshake_fails(server.port, client_ctx(version=version, old=True))
    # and the server goes on
    assert fetch(server.port, client_ctx(pki)).status == 200


@pytest.mark.parametrize("version, name", [
    (ssl.TLSVersion.TLSv1, "TLSv1"),
    (ssl.TLSVersion.TLSv1_1, "TLSv1.1"),
])
def test_old_protocols_when_listed(portico, pki, version, name):
    """OpenSSL 3 needs security level 0 for them: the server sets it."""
    server = start(portico, pki, http(server_block(extra=(
        "        ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"
        "        ssl_ciphers ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256;\n"
    ))))

    f = fetch(server.port, client_ctx(version=version, old=True))
    assert (f.status, f.version) == (200, name)
    assert f.body == ("%s ECDHE-RSA-AES128-SHA" % name).encode()

    # TLS 1.3 is not listed
    assert handshake_fails(server.port,
                           client_ctx(version=ssl.TLSVersion.TLSv1_3))


def test_default_audit(portico, pki):
    """
    Only a certificate and its key: TLS 1.3 for a default client, and in
    TLS 1.2 only forward-secret (ECDHE) suites, in the server's order.
    """
    server = start(portico, pki, http(server_block()))

    f = fetch(server.port, client_ctx(pki))
    assert f.version == "TLSv1.3"

    for suite in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA",
                  "AES256-SHA256", "DHE-RSA-AES128-GCM-SHA256",
                  "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"):
        ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2, ciphers=suite)
        assert handshake_fails(server.port, ctx), suite

    # a weaker-first offer: the server picks its own first choice
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2,
                     ciphers="ECDHE-RSA-CHACHA20-POLY1305:"
                             "ECDHE-RSA-AES256-GCM-SHA384:"
                             "ECDHE-RSA-AES128-GCM-SHA256")
    f = fetch(server.port, ctx)
    assert f.cipher == "ECDHE-RSA-AES128-GCM-SHA256"
    assert f.body == b"TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256"


def test_client_cipher_order_when_asked(portico, pki):
    server = start(portico, pki, http(server_block(
        extra="        ssl_prefer_server_ciphers off;\n")))

    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2,
                     ciphers="ECDHE-RSA-CHACHA20-POLY1305:"
                             "ECDHE-RSA-AES128-GCM-SHA256")
    assert fetch(server.port, ctx).cipher == "ECDHE-RSA-CHACHA20-POLY1305"


def test_ciphers_and_curves_directives(portico, pki):
    server = start(portico, pki, http(server_block(extra=(
        "        ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384;\n"
        "        ssl_ecdh_curve secp384r1;\n"
        "        ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;\n"
    ))))

    f = fetch(server.port, client_ctx(pki, ssl.TLSVersion.TLSv1_2))
    assert f.cipher == "ECDHE-RSA-AES256-GCM-SHA384"
    f = fetch(server.port, client_ctx(pki))
    assert f.cipher == "TLS_CHACHA20_POLY1305_SHA256"

    # no common group: X25519 only on the client side
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % server.port,
         "-groups", "X25519", "-servername", "localhost"],
        input=b"", capture_output=True, timeout=10)
    assert b"handshake failure" in out.stderr or out.returncode != 0


# ---------------------------------------------------------------------------
# certificates: SNI, RSA and ECDSA

def test_sni_picks_the_certificate(portico, pki):
    server = start(portico, pki, http(
        server_block("{default_crt}", "{default_key}", name="default.test",
                     listen="127.0.0.1:{port} ssl default_server",
                     body="default $ssl_server_name"),
        server_block("{a_crt}", "{a_key}", name="a.test",
                     body="a $ssl_server_name"),
        server_block("{b_crt}", "{b_key}", name="b.test",
                     body="b $ssl_server_name"),
        server_block("{c_crt}", "{c_key}", name="c.test *.c.test",
                     body="c $ssl_server_name")))

    for sni, cn, body in (("a.test", "a.test", b"a a.test"),
                          ("b.test", "b.test", b"b b.test"),
                          ("c.test", "c.test", b"c c.test"),
                          ("x.c.test", "c.test", b"c x.c.test"),
                          ("default.test", "default.test",
                           b"default default.test")):
        f = fetch(server.port, client_ctx(pki), sni=sni)
        assert (f.cn, f.status, f.body) == (cn, 200, body)

    # an unknown name, and no name at all: the default server's
    f = fetch(server.port, client_ctx(), sni="unknown.test")
    assert (f.cn, f.body) == ("default.test", b"default unknown.test")
    f = fetch(server.port, client_ctx(), sni=None, host="default.test")
    assert f.cn == "default.test"


def test_rsa_and_ecdsa_side_by_side(portico, pki):
    server = start(portico, pki, http(server_block(extra=(
        "        ssl_certificate {ecdsa_crt};\n"
        "        ssl_certificate_key {ecdsa_key};\n"))))

    for suite, keytype in (("ECDHE-ECDSA-AES128-GCM-SHA256",
                            ec.EllipticCurvePublicKey),
                           ("ECDHE-RSA-AES128-GCM-SHA256", rsa.RSAPublicKey)):
        f = fetch(server.port,
                  client_ctx(pki, ssl.TLSVersion.TLSv1_2, ciphers=suite))
        assert f.cipher == suite
        assert isinstance(f.cert.public_key(), keytype)
        assert f.cn == "localhost"


def test_password_protected_key(portico, pki, tmp_path):
    key = serialization.load_pem_private_key(
        Path(pki.path("ecdsa.key")).read_bytes(), None)
    (tmp_path / "enc.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"second")))
    (tmp_path / "passwords").write_text("first\nsecond\n")

    server = start(portico, pki, http(server_block(
        "{ecdsa_crt}", "{enc}", extra="        ssl_password_file {pw};\n")),
        values={"enc": tmp_path / "enc.key", "pw": tmp_path / "passwords"})

    assert fetch(server.port, client_ctx(pki)).status == 200


# ---------------------------------------------------------------------------
# ALPN, plain HTTP, silence

def test_alpn(portico, pki):
    server = start(portico, pki, http(server_block(
        body="[$ssl_alpn_protocol]")))

    f = fetch(server.port, client_ctx(pki, alpn=["h2", "http/1.1"]))
    assert (f.alpn, f.body) == ("http/1.1", b"[http/1.1]")

    # nothing in common: no ALPN, but the connection goes on
    f = fetch(server.port, client_ctx(pki, alpn=["h2"]))
    assert (f.alpn, f.status, f.body) == (None, 200, b"[]")


def test_plain_http_on_a_tls_port(portico, pki, portico_version):
    """
    The request is read and answered in plain text with the page of 497,
    a 400 (as nginx), and the connection ends.
    """
    server = start(portico, pki, http(server_block(), extra=STATUS_LOG))

    c = Client(server.port)
    t0 = time.monotonic()
    resp = c.request(get("/p?a=1"))
    rest, took = c.wait_closed(timeout=2)
    c.close()

    check_refusal(resp, TO_HTTPS, portico_version)
    assert rest == b""
    assert time.monotonic() - t0 < 1.5
    server.wait_log(r"client sent plain HTTP request to HTTPS port")
    assert status_log(server, 1) == ["400 - http /p?a=1"]

    # a request that is not valid HTTP is a plain 400
    c = Client(server.port)
    resp = c.request(get("/", host=None))
    c.wait_closed(timeout=2)
    c.close()
    assert resp.status == 400
    assert b"<title>400 Bad Request</title>" in resp.body


def test_handshake_timeout(portico, pki):
    server = start(portico, pki, http(server_block(
        extra="        ssl_handshake_timeout 1s;\n")))

    # silent from the start, and silent after a record header
    for first in (b"", b"\x16\x03\x01\x02\x00\x01"):
        c = Client(server.port)
        if first:
            c.send(first)
        rest, took = c.wait_closed(timeout=4)
        c.close()
        assert rest == b""
        assert 0.7 < took < 3.5, took

    server.wait_log(r"client timed out in SSL handshake")
    assert fetch(server.port, client_ctx(pki)).status == 200


def test_garbage_handshake(portico, pki):
    """A record that is not a ClientHello: the connection just ends."""
    server = start(portico, pki, http(server_block()))

    s = connect(server.port)
    s.sendall(b"\x16\x03\x01\x00\x05hello")
    data, closed = recv_until_close(s, timeout=3)
    s.close()
    assert closed
    assert not data.startswith(b"HTTP/")
    assert fetch(server.port, client_ctx(pki)).status == 200


# ---------------------------------------------------------------------------
# session resumption

LOG_FORMAT = ("    log_format tls '$pid $ssl_session_reused $ssl_protocol "
              "$ssl_session_id';\n"
              "    access_log {tmp}/tls.log tls;\n")


def resume_across_workers(server, ctx, rounds=40):
    """
    Connects again and again, each time with the session of the connection
    before, until sessions have resumed in both workers (a connection goes
    to the worker of its source port's hash). Returns the fetches.
    """
    first = fetch(server.port, ctx)
    assert not first.reused
    pid0 = first.body
    done = [first]
    session = first.session

    for i in range(rounds):
        f = fetch(server.port, ctx, session=session)
        done.append(f)
        assert f.status == 200
        assert f.reused, "round %d did not resume (%s)" % (i, f.body)
        session = f.session
        if len({d.body for d in done}) == 2 and i >= 3:
            break

    pids = {f.body for f in done}
    assert len(pids) == 2, "every connection went to worker %s" % pid0
    return done


def check_tls_log(server, fetches):
    """The access log says "r" for every resumed connection, "." else."""
    path = server.tmp / "tls.log"

    def lines():
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        got = text.splitlines()
        return got if len(got) >= len(fetches) else None

    got = wait_for(lines, what="the access log lines")
    flags = [line.split()[1] for line in got]
    assert flags == ["." if not f.reused else "r" for f in fetches]


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_tickets_resume_across_workers(portico, pki, version):
    server = start(portico, pki, http(server_block(body="$pid"),
                                      extra=LOG_FORMAT), process=WORKERS)

    done = resume_across_workers(server, client_ctx(pki, version))
    check_tls_log(server, done)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_shared_cache_resumes_across_workers(portico, pki, version):
    server = start(portico, pki, http(server_block(body="$pid", extra=(
        "        ssl_session_tickets off;\n"
        "        ssl_session_cache shared:TLS:1m;\n")), extra=LOG_FORMAT),
        process=WORKERS)

    done = resume_across_workers(server, client_ctx(pki, version))
    check_tls_log(server, done)

    if version == ssl.TLSVersion.TLSv1_2:
        # a session id, not a ticket, carried the session
        assert all(not f.session.has_ticket for f in done)
        ids = [line.split()[3] for line in
               (server.tmp / "tls.log").read_text().splitlines()]
        assert ids[0] == done[0].session.id.hex()
        assert all(i == ids[0] for i in ids)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_shared_cache_and_tickets_together(portico, pki, version):
    server = start(portico, pki, http(server_block(body="$pid", extra=(
        "        ssl_session_cache shared:BOTH:1m;\n")), extra=LOG_FORMAT),
        process=WORKERS)

    done = resume_across_workers(server, client_ctx(pki, version))
    assert all(f.session.has_ticket for f in done)
    check_tls_log(server, done)


def test_no_resumption_without_cache_and_tickets(portico, pki):
    """ssl_session_cache none (the default) and tickets off: no resumption."""
    server = start(portico, pki, http(server_block(
        body="$pid", extra="        ssl_session_tickets off;\n")))
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    again = fetch(server.port, ctx, session=first.session)
    assert not again.reused


def test_builtin_cache_none_and_off(portico, pki):
    """
    builtin: per worker; none: a session id but nothing kept; off: not
    even an id. (Tickets are a matter of ssl_session_tickets.)
    """
    server = start(portico, pki, http(
        server_block(body="builtin", extra=(
            "        ssl_session_tickets off;\n"
            "        ssl_session_cache builtin:100;\n")),
        server_block(body="none", listen="127.0.0.1:{port2} ssl", extra=(
            "        ssl_session_tickets off;\n"
            "        ssl_session_cache none;\n")),
        server_block(body="off", listen="127.0.0.1:{port3} ssl", extra=(
            "        ssl_session_tickets off;\n"
            "        ssl_session_cache off;\n"))))
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    assert fetch(server.port, ctx, session=first.session).reused

    first = fetch(server.ports["port2"], ctx)
    assert first.session.id != b""
    assert not fetch(server.ports["port2"], ctx,
                     session=first.session).reused

    first = fetch(server.ports["port3"], ctx)
    assert first.session.id == b""
    assert not first.session.has_ticket


def test_shared_cache_drops_its_oldest_sessions(portico, pki):
    """A full zone makes room by dropping its oldest sessions."""
    server = start(portico, pki, http(server_block(body="x", extra=(
        "        ssl_session_tickets off;\n"
        "        ssl_session_cache shared:SMALL:32k;\n"))))
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    sessions = [fetch(server.port, ctx).session for i in range(150)]

    assert fetch(server.port, ctx, session=sessions[-1]).reused
    assert fetch(server.port, ctx, session=sessions[-2]).reused
    assert not fetch(server.port, ctx, session=sessions[0]).reused


def test_shared_cache_expires_sessions(portico, pki):
    server = start(portico, pki, http(server_block(body="x", extra=(
        "        ssl_session_tickets off;\n"
        "        ssl_session_timeout 1s;\n"
        "        ssl_session_cache builtin:10 shared:EXP:1m;\n"))))
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    assert fetch(server.port, ctx, session=first.session).reused
    time.sleep(2.2)
    assert not fetch(server.port, ctx, session=first.session).reused


def test_shared_cache_survives_a_reload(portico, pki):
    conf = http(server_block(body="$pid", extra=(
        "        ssl_session_tickets off;\n"
        "        ssl_session_cache shared:KEEP:1m;\n")))
    server = start(portico, pki, conf, process=WORKERS)
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    reload_and_wait(server)

    again = fetch(server.port, ctx, session=first.session)
    assert again.body != first.body
    assert again.reused


@pytest.mark.parametrize("tickets", ["off", "on"])
def test_sessions_of_clients_that_close_without_close_notify(portico, pki,
                                                             tickets):
    """
    Most clients end a kept-alive connection with a bare FIN. That is no
    error: the session stays in the cache (or its ticket valid) and
    resumes, and nothing is logged about it.
    """
    server = start(portico, pki, http(server_block(body="x", extra=(
        "        ssl_session_tickets %s;\n"
        "        ssl_session_cache shared:EOF:1m;\n" % tickets))))
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    c = TLSClient(server.port, ctx)
    assert c.request(get("/")).status == 200
    session = c.sock.session
    c.sock.shutdown(socket.SHUT_WR)     # a FIN, no close_notify before it
    data, closed = recv_until_close(c.sock, timeout=IO_TIMEOUT)
    c.close()
    assert closed

    assert fetch(server.port, ctx, session=session).reused
    assert "unexpected eof" not in server.error_log().lower()


def write_ticket_key(path, size=80):
    Path(path).write_bytes(os.urandom(size))


def workers(server):
    return set(group_members(server.pid)) - {server.pid}


def reload_and_wait(server):
    """HUP, then waits until the workers are all new ones."""
    old = workers(server)
    server.send_signal(signal.SIGHUP)
    wait_for(lambda: workers(server) and not workers(server) & old,
             timeout=10, what="new workers")


@pytest.mark.parametrize("size", [48, 80])
def test_ticket_key_files(portico, pki, tmp_path, size):
    """
    Tickets from key files resume across a reload; a new first key keeps
    the old one for decryption (and a fresh ticket is issued).
    """
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    write_ticket_key(old, size)
    write_ticket_key(new, size)

    conf = http(server_block(body="$pid", extra=(
        "        ssl_session_ticket_key {old};\n")))
    server = start(portico, pki, conf, process=WORKERS,
                   values={"old": old, "new": new})
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    assert first.session.has_ticket

    # the same key after a reload: resumes
    reload_and_wait(server)
    assert fetch(server.port, ctx, session=first.session).reused

    # a new key first, the old one second: still resumes
    server.rewrite(http(server_block(body="$pid", extra=(
        "        ssl_session_ticket_key {new};\n"
        "        ssl_session_ticket_key {old};\n"))))
    reload_and_wait(server)
    f = fetch(server.port, ctx, session=first.session)
    assert f.reused

    # the old key gone: a full handshake
    server.rewrite(http(server_block(body="$pid", extra=(
        "        ssl_session_ticket_key {new};\n"))))
    reload_and_wait(server)
    assert not fetch(server.port, ctx, session=first.session).reused
    assert fetch(server.port, ctx, session=f.session).reused


def test_generated_ticket_keys_change_with_a_reload(portico, pki):
    """
    Without key files or a shared cache the master's keys serve until the
    next reload.
    """
    server = start(portico, pki, http(server_block(body="$pid")),
                   process=WORKERS)
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    reload_and_wait(server)
    assert not fetch(server.port, ctx, session=first.session).reused


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_generated_ticket_keys_of_a_shared_cache_survive_a_reload(
        portico, pki, version):
    """With a shared cache the keys live in its zone, which a reload keeps."""
    server = start(portico, pki, http(server_block(body="$pid", extra=(
        "        ssl_session_cache shared:KEYS:1m;\n"))), process=WORKERS)
    ctx = client_ctx(pki, version)

    first = fetch(server.port, ctx)
    assert first.session.has_ticket
    reload_and_wait(server)

    again = fetch(server.port, ctx, session=first.session)
    assert again.body != first.body
    assert again.reused


@pytest.mark.parametrize("keys", ["files", "zone"])
def test_tls13_resumption_gives_a_new_ticket(portico, pki, tmp_path, keys):
    """
    A TLS 1.3 client uses a ticket once: each resumption must bring a new
    one, or every other connection is a full handshake.
    """
    key = tmp_path / "ticket.key"
    write_ticket_key(key)
    extra = ("        ssl_session_ticket_key {key};\n" if keys == "files"
             else "        ssl_session_cache shared:NEW:1m;\n")
    server = start(portico, pki, http(server_block(body="x", extra=extra)),
                   values={"key": key})
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_3)

    session = fetch(server.port, ctx).session
    for i in range(3):
        f = fetch(server.port, ctx, session=session)
        assert f.reused, i
        assert f.session.id != session.id, "no new ticket at round %d" % i
        session = f.session


def ticket_key_name(port, path, sess_in=None):
    """
    A TLS 1.2 connection by "openssl s_client", its session saved to path:
    whether it resumed, and the name of the key its ticket is under (the
    ticket's first 16 bytes). Python's ssl module shows no ticket.
    """
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
            "-servername", "localhost", "-tls1_2", "-sess_out", str(path)]
    if sess_in:
        argv += ["-sess_in", str(sess_in)]
    out = subprocess.run(argv, input=b"", capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    reused = b"\nReused," in out.stdout

    text = subprocess.run(
        ["openssl", "sess_id", "-in", str(path), "-noout", "-text"],
        capture_output=True, timeout=10, check=True).stdout.decode()
    m = re.search(r"TLS session ticket:\n((?:\s+[0-9a-f]{4} - .*\n)+)", text)
    assert m, text
    octets = re.findall(r"(?<=[ -])([0-9a-f]{2})(?=[ -])", m.group(1))
    return reused, "".join(octets[:16])


def test_generated_ticket_keys_of_a_shared_cache_rotate(portico, pki,
                                                         tmp_path):
    """
    A new key every ssl_session_timeout, in both workers; a ticket under
    the key before resumes and is replaced by one under the new key.
    """
    server = start(portico, pki, http(server_block(extra=(
        "        ssl_session_timeout 2s;\n"
        "        ssl_session_cache shared:ROT:1m;\n"))), process=WORKERS)
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"

    reused, first = ticket_key_name(server.port, old)
    assert not reused
    start_time = time.monotonic()

    # the same key for a while: not one per connection or per worker
    names = {ticket_key_name(server.port, new)[1] for _ in range(6)}

    def rotated():
        reused, name = ticket_key_name(server.port, new)
        if name == first:
            old.write_bytes(new.read_bytes())
            return None
        return name

    second = wait_for(rotated, timeout=10, what="a new ticket key")
    took = time.monotonic() - start_time
    assert names == {first}
    assert took > 1, took

    # the newest ticket under the old key: resumed, and a new ticket
    reused, name = ticket_key_name(server.port, new, sess_in=old)
    assert reused
    assert name == second

    server.wait_log(r'\[info\] .*new session ticket key in SSL session '
                    r'cache "ROT"')


# ---------------------------------------------------------------------------
# client certificates

VERIFY_BODY = ("$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|"
               "$ssl_client_serial|$ssl_client_fingerprint")


def mtls_server(portico, pki, verify, extra="", http_extra=""):
    return start(portico, pki, http(server_block(body=VERIFY_BODY, extra=(
        "        ssl_client_certificate {client_ca_pem};\n"
        "        ssl_verify_client %s;\n%s" % (verify, extra))),
        extra=http_extra))


def with_cert(pki, name, version=None):
    return client_ctx(pki, version, cert=pki.path(name + ".pem"))


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_client_certificate_accepted(portico, pki, version):
    server = mtls_server(portico, pki, "on")

    f = fetch(server.port, with_cert(pki, "alice", version))
    cert = pki.certs["alice"]
    der = cert.public_bytes(serialization.Encoding.DER)

    assert f.status == 200
    verify, s_dn, i_dn, serial, fingerprint = f.body.decode().split("|")
    assert verify == "SUCCESS"
    assert s_dn == "CN=alice,O=Portico Tests"
    assert i_dn == "CN=Portico Client CA,O=Portico Tests"
    assert int(serial, 16) == cert.serial_number
    assert fingerprint == hashlib.sha1(der).hexdigest()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2,
                                     ssl.TLSVersion.TLSv1_3])
def test_client_certificate_required(portico, pki, version):
    server = mtls_server(portico, pki, "on")

    f = fetch(server.port, client_ctx(pki, version))
    assert f.status == 400
    server.wait_log(r"client sent no required SSL certificate")

    f = fetch(server.port, with_cert(pki, "mallory", version))
    assert f.status == 400
    server.wait_log(r"client SSL certificate verify error: \(2[01]:unable "
                    r"to (get local issuer certificate|verify the first "
                    r"certificate)\)")


def test_client_certificate_session_keeps_the_verdict(portico, pki):
    """A resumed session carries the client certificate, or its absence."""
    server = mtls_server(portico, pki, "on", extra=(
        "        ssl_session_tickets off;\n"
        "        ssl_session_cache shared:MTLS:1m;\n"))
    ctx = with_cert(pki, "alice", ssl.TLSVersion.TLSv1_2)

    first = fetch(server.port, ctx)
    again = fetch(server.port, ctx, session=first.session)
    assert again.reused
    assert again.status == 200
    assert again.body.startswith(b"SUCCESS|CN=alice")

    # a refused session is not resumed
    ctx = client_ctx(pki, ssl.TLSVersion.TLSv1_2)
    first = fetch(server.port, ctx)
    assert first.status == 400
    again = fetch(server.port, ctx, session=first.session)
    assert (again.reused, again.status) == (False, 400)


def test_client_certificate_optional(portico, pki):
    server = mtls_server(portico, pki, "optional")

    f = fetch(server.port, client_ctx(pki))
    assert (f.status, f.body) == (200, b"NONE||||")

    assert fetch(server.port, with_cert(pki, "alice")).body.startswith(
        b"SUCCESS|CN=alice")
    assert fetch(server.port, with_cert(pki, "mallory")).status == 400


def test_client_certificate_optional_no_ca(portico, pki):
    server = mtls_server(portico, pki, "optional_no_ca")

    f = fetch(server.port, with_cert(pki, "mallory"))
    assert f.status == 200
    assert re.match(rb"^FAILED:unable to [^|]*\|CN=mallory,", f.body)

    assert fetch(server.port, client_ctx(pki)).body == b"NONE||||"


def test_client_certificate_optional_no_ca_alone(portico, pki):
    """optional_no_ca needs no CA file: any certificate is passed on."""
    server = start(portico, pki, http(server_block(body=VERIFY_BODY, extra=(
        "        ssl_verify_client optional_no_ca;\n"))))

    f = fetch(server.port, with_cert(pki, "alice"))
    assert f.status == 200
    assert re.match(rb"^FAILED:unable to [^|]*\|CN=alice,", f.body)


def test_client_certificate_revoked(portico, pki):
    server = mtls_server(portico, pki, "on",
                         extra="        ssl_crl {client_ca_crl};\n")

    assert fetch(server.port, with_cert(pki, "alice")).status == 200
    assert fetch(server.port, with_cert(pki, "bob")).status == 400
    server.wait_log(r"client SSL certificate verify error: "
                    r"\(23:certificate revoked\)")


def test_client_certificate_per_server(portico, pki):
    """SNI brings the client certificate policy of the named server."""
    server = start(portico, pki, http(
        server_block("{a_crt}", "{a_key}", name="a.test", body=VERIFY_BODY),
        server_block("{b_crt}", "{b_key}", name="b.test", body=VERIFY_BODY,
                     extra=("        ssl_client_certificate "
                            "{client_ca_pem};\n"
                            "        ssl_verify_client on;\n"))))

    ctx = with_cert(pki, "alice")
    assert fetch(server.port, ctx, sni="a.test").body == b"NONE||||"
    assert fetch(server.port, ctx, sni="b.test").body.startswith(
        b"SUCCESS|CN=alice")
    assert fetch(server.port, client_ctx(pki), sni="b.test").status == 400


# ---------------------------------------------------------------------------
# a failed client certificate (495, 496) and plain HTTP (497)

CERT_ERROR = "The SSL certificate error"
NO_CERT = "No required SSL certificate was sent"
TO_HTTPS = "The plain HTTP request was sent to HTTPS port"

STATUS_LOG = ("    log_format st '$status $ssl_client_verify $scheme "
              "$request_uri';\n"
              "    access_log {tmp}/status.log st;\n")


def status_log(server, count):
    """The first count lines of the access log, once they are there."""
    path = server.tmp / "status.log"

    def lines():
        try:
            got = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        return got if len(got) >= count else None

    return wait_for(lines, what="%d access log lines" % count)


def tls_error_page(reason, version):
    """The page of 495, 496 and 497: a 400 that says why (nginx's texts)."""
    return ("<html>\r\n<head><title>400 %s</title></head>\r\n<body>\r\n"
            "<center><h1>400 Bad Request</h1></center>\r\n"
            "<center>%s</center>\r\n<hr><center>%s</center>\r\n"
            "</body>\r\n</html>\r\n" % (reason, reason, version)).encode()


def check_refusal(resp, reason, version):
    assert (resp.status, resp.reason) == (400, "Bad Request"), resp
    assert resp.header("Content-Type") == "text/html"
    assert resp.header("Connection") == "close"
    body = tls_error_page(reason, version)
    assert resp.body == body
    assert resp.header("Content-Length") == str(len(body))


def ask(port, ctx, path="/p?a=1"):
    """
    A keep-alive request on a new TLS connection; the server must close
    the connection after its answer. Returns the response.
    """
    c = TLSClient(port, ctx)
    try:
        resp = c.request(get(path))
        rest, took = c.wait_closed()
        assert rest == b""
        return resp
    finally:
        c.close()


UNTRUSTED = (r"FAILED:unable to (get local issuer certificate|verify the "
             r"first certificate)")


def test_client_certificate_failure_pages(portico, pki, portico_version):
    server = mtls_server(portico, pki, "on", http_extra=STATUS_LOG)

    check_refusal(ask(server.port, client_ctx(pki)), NO_CERT,
                  portico_version)
    server.wait_log(r"client sent no required SSL certificate")

    check_refusal(ask(server.port, with_cert(pki, "mallory")), CERT_ERROR,
                  portico_version)

    check_refusal(ask(server.port, with_cert(pki, "carol")), CERT_ERROR,
                  portico_version)
    server.wait_log(r"client SSL certificate verify error: "
                    r"\(10:certificate has expired\)")

    # HEAD: the same head, no body
    c = TLSClient(server.port, client_ctx(pki))
    resp = c.request(get("/", method=b"HEAD"), head=True)
    c.wait_closed()
    c.close()
    assert (resp.status, resp.body) == (400, b"")
    assert resp.header("Content-Length") == str(
        len(tls_error_page(NO_CERT, portico_version)))

    f = fetch(server.port, with_cert(pki, "alice"))
    assert f.body.startswith(b"SUCCESS|CN=alice")

    # $status is what the client got, $ssl_client_verify the verdict
    log = status_log(server, 5)
    assert log[0] == "400 NONE https /p?a=1"
    assert re.fullmatch(r"400 %s https /p\?a=1" % UNTRUSTED, log[1]), log
    assert log[2] == "400 FAILED:certificate has expired https /p?a=1"
    assert log[3] == "400 NONE https /"
    assert log[4] == "200 SUCCESS https /"


HELP_PAGES = """
        location = /cert-help {
            return 200 "help $ssl_client_verify $uri $request_uri\\n";
        }
        location @help {
            return 200 "named $ssl_client_verify $uri $request_uri\\n";
        }
"""


@pytest.mark.parametrize("pages, nocert, bad", [
    # "=": the status of the page's own response
    ("error_page 495 496 = @help;",
     (200, "named NONE /p /p?a=1"),
     (200, "named %s /p /p\\?a=1" % UNTRUSTED)),
    ("error_page 495 = /cert-help;\n"
     "        error_page 496 =403 /cert-help;",
     (403, "help NONE /cert-help /p?a=1"),
     (200, "help %s /cert-help /p\\?a=1" % UNTRUSTED)),
    # no "=": the client is told 400, as without a page
    ("error_page 495 496 /cert-help;",
     (400, "help NONE /cert-help /p?a=1"),
     (400, "help %s /cert-help /p\\?a=1" % UNTRUSTED)),
], ids=["equals-named", "equals-uri-and-code", "no-equals"])
def test_client_certificate_error_page(portico, pki, pages, nocert, bad):
    server = mtls_server(portico, pki, "on", extra=(
        "        %s\n%s" % (pages, HELP_PAGES)))

    resp = ask(server.port, client_ctx(pki))
    assert (resp.status, resp.body.decode()) == (nocert[0], nocert[1] + "\n")
    assert resp.header("Connection") == "close"

    resp = ask(server.port, with_cert(pki, "mallory"))
    assert resp.status == bad[0]
    assert re.fullmatch(bad[1] + "\n", resp.body.decode()), resp.body
    assert resp.header("Connection") == "close"

    f = fetch(server.port, with_cert(pki, "alice"), path="/p?a=1")
    assert f.status == 200
    assert f.body.startswith(b"SUCCESS|CN=alice")


def test_client_certificate_error_page_redirect(portico, pki,
                                                portico_version):
    server = mtls_server(portico, pki, "on", extra=(
        "        error_page 496 https://login.test$request_uri;\n"
        "        error_page 495 =307 https://login.test/bad;\n"))

    resp = ask(server.port, client_ctx(pki))
    assert resp.status == 302
    assert resp.header("Location") == "https://login.test/p?a=1"
    assert b"<title>302 Moved Temporarily</title>" in resp.body
    assert resp.header("Connection") == "close"

    resp = ask(server.port, with_cert(pki, "carol"))
    assert resp.status == 307
    assert resp.header("Location") == "https://login.test/bad"


def test_client_certificate_error_page_in_a_location(portico, pki,
                                                     portico_version):
    """
    The certificate is judged before a location is chosen (as in nginx):
    the server's error_page counts, a location's does not.
    """
    server = start(portico, pki, http(
        "    server {\n"
        "        listen 127.0.0.1:{port} ssl;\n"
        "        server_name localhost;\n"
        "        ssl_certificate {rsa_crt};\n"
        "        ssl_certificate_key {rsa_key};\n"
        "        ssl_client_certificate {client_ca_pem};\n"
        "        ssl_verify_client on;\n"
        "        location / {\n"
        "            error_page 496 = /cert-help;\n"
        "            return 200 ok;\n"
        "        }\n"
        "%s"
        "    }\n" % HELP_PAGES))

    check_refusal(ask(server.port, client_ctx(pki)), NO_CERT,
                  portico_version)


@pytest.mark.parametrize("verify", ["optional", "optional_no_ca"])
def test_client_certificate_optional_with_error_pages(portico, pki, verify):
    """Requests the check lets through never see the error pages."""
    server = mtls_server(portico, pki, verify, extra=(
        "        error_page 495 496 = @help;\n" + HELP_PAGES))

    f = fetch(server.port, client_ctx(pki))
    assert (f.status, f.body) == (200, b"NONE||||")

    f = fetch(server.port, with_cert(pki, "alice"))
    assert f.body.startswith(b"SUCCESS|CN=alice")

    f = fetch(server.port, with_cert(pki, "mallory"))
    if verify == "optional":
        assert f.status == 200
        assert re.fullmatch(r"named %s / /\n" % UNTRUSTED, f.body.decode())
    else:
        assert f.status == 200
        assert re.match(rb"^FAILED:unable to [^|]*\|CN=mallory,", f.body)


@pytest.mark.parametrize("page, status, location", [
    ("error_page 497 https://$host:$server_port$request_uri;", 302,
     "https://localhost:{port}/p?a=1"),
    ("error_page 497 =301 https://$host$request_uri;", 301,
     "https://localhost/p?a=1"),
    ("error_page 497 =308 https://$host:$server_port$uri;", 308,
     "https://localhost:{port}/p"),
], ids=["302", "301", "308"])
def test_plain_http_redirected_to_https(portico, pki, portico_version, page,
                                        status, location):
    server = start(portico, pki, http(server_block(
        extra="        %s\n" % page), extra=STATUS_LOG))
    location = location.replace("{port}", str(server.port))

    c = Client(server.port)
    resp = c.request(get("/p?a=1"))
    rest, took = c.wait_closed(timeout=2)
    c.close()

    assert resp.status == status
    assert resp.header("Location") == location
    assert resp.header("Connection") == "close"
    assert resp.header("Content-Type") == "text/html"
    assert b"<center><h1>%d " % status in resp.body
    assert rest == b""

    # where the client is sent, TLS serves
    f = fetch(server.port, client_ctx(pki), path="/p?a=1")
    assert f.status == 200

    assert status_log(server, 2) == ["%d - http /p?a=1" % status,
                                     "200 NONE https /p?a=1"]


def test_plain_http_error_page_uri(portico, pki):
    """An error_page URI for 497 is served in plain text."""
    server = start(portico, pki, http(server_block(extra=(
        "        error_page 497 = /use-https;\n"
        "        location = /use-https {\n"
        "            return 200 \"use https: $scheme$https $request_uri\";\n"
        "        }\n"))))

    c = Client(server.port)
    resp = c.request(get("/p?a=1", extra=b"Connection: keep-alive\r\n"))
    c.wait_closed(timeout=2)
    c.close()

    assert (resp.status, resp.body) == (200, b"use https: http /p?a=1")
    assert resp.header("Connection") == "close"


# ---------------------------------------------------------------------------
# OCSP stapling

def s_client_status(port):
    out = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
         "-servername", "localhost", "-status"],
        input=b"", capture_output=True, timeout=10)
    return out.stdout.decode("latin1")


def test_stapling_file(portico, pki):
    server = start(portico, pki, http(server_block(extra=(
        "        ssl_stapling on;\n"
        "        ssl_stapling_file {ocsp_der};\n"))))

    out = s_client_status(server.port)
    assert "OCSP Response Status: successful" in out
    assert "Cert Status: good" in out

    # a client that does not ask gets no response
    assert fetch(server.port, client_ctx(pki)).status == 200


def test_stapling_without_file_is_ignored(portico, pki):
    server = start(portico, pki, http(server_block(
        extra="        ssl_stapling on;\n")))

    assert "OCSP response: no response sent" in s_client_status(server.port)
    # said at start-up, before the error log is open
    assert re.search(r'\[warn\] "ssl_stapling" ignored: no '
                     r'"ssl_stapling_file" .* in %s:3\n'
                     % re.escape(str(server.conf)), server.stderr())


# ---------------------------------------------------------------------------
# renewed certificates: a reload under load

class Load:
    """Clients making requests on new TLS connections until stopped."""

    def __init__(self, port, ctx, clients=4):
        self.port = port
        self.ctx = ctx
        self.stopping = False
        self.ok = 0
        self.serials = []
        self.failures = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run)
                        for i in range(clients)]

    def run(self):
        while not self.stopping:
            try:
                f = fetch(self.port, self.ctx)
                assert f.status == 200, f.status
                with self.lock:
                    self.ok += 1
                    self.serials.append(f.cert.serial_number)
            except Exception as e:          # every failure counts
                with self.lock:
                    self.failures.append(repr(e))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        for t in self.threads:
            t.join(30)


def test_renewed_certificate_by_reload_under_load(portico, pki, tmp_path):
    crt, key = tmp_path / "site.crt", tmp_path / "site.key"
    old = pki.server("site-old", "localhost")
    crt.write_bytes(Path(pki.path("site-old.crt")).read_bytes())
    key.write_bytes(Path(pki.path("site-old.key")).read_bytes())

    server = start(portico, pki, http(server_block(
        str(crt), str(key), body="$pid")), process=WORKERS)
    ctx = client_ctx(pki)

    with Load(server.port, ctx) as load:
        wait_for(lambda: load.ok >= 20, timeout=10, what="requests")

        # the renewed pair replaces the files, then the reload
        new = pki.server("site-new", "localhost")
        for src, dst in (("site-new.crt", crt), ("site-new.key", key)):
            tmp = dst.with_suffix(".tmp")
            tmp.write_bytes(Path(pki.path(src)).read_bytes())
            os.rename(tmp, dst)
        server.send_signal(signal.SIGHUP)

        wait_for(lambda: fetch(server.port, ctx).cert.serial_number
                 == new.serial_number, timeout=10, what="the new certificate")
        seen = load.ok
        wait_for(lambda: load.ok >= seen + 20, timeout=10, what="requests")

    assert load.failures == []
    assert old.serial_number in load.serials
    assert new.serial_number in load.serials
    # once the new one was seen, the old one never came back
    first_new = load.serials.index(new.serial_number)
    late = load.serials[first_new + 50:]
    assert old.serial_number not in late

    # a broken renewal: the reload fails, the running one keeps serving
    key.write_bytes(Path(pki.path("a.key")).read_bytes())
    server.expect_log(r"does not match the certificate")
    server.send_signal(signal.SIGHUP)
    server.wait_log(r"\[emerg\] .*the key \"%s\" does not match the "
                    r"certificate \"%s\".* in %s:\d+"
                    % (re.escape(str(key)), re.escape(str(crt)),
                       re.escape(str(server.conf))))
    for i in range(5):
        f = fetch(server.port, ctx)
        assert f.cert.serial_number == new.serial_number


def test_idle_connections_do_not_hold_old_workers(portico, pki):
    """
    At a reload, a connection that has sent nothing yet and one that is
    through its handshake but has sent no request are closed, as idle
    keep-alive ones are: the old workers do not wait for their timeouts.
    """
    server = start(portico, pki, http(server_block(body="$pid")),
                   process=WORKERS)

    silent = [Client(server.port) for i in range(4)]
    quiet = [TLSClient(server.port, client_ctx(pki)) for i in range(4)]
    old = workers(server)

    t0 = time.monotonic()
    server.send_signal(signal.SIGHUP)
    wait_for(lambda: workers(server) and not workers(server) & old,
             timeout=10, what="the old workers to exit")
    assert time.monotonic() - t0 < 5

    for c in silent + quiet:
        rest, took = c.wait_closed(timeout=5)
        c.close()


# ---------------------------------------------------------------------------
# configuration errors

def expect_emerg(tmp_path, pki, conf, message, needle, occurrence=1):
    """-t fails with one [emerg] MESSAGE ... in FILE:LINE (needle's line)."""
    values = files(pki)
    path = write_config(tmp_path, conf, port=1, **values)
    line = line_of(path, needle, occurrence)

    rc, out, err = run_portico(["-t"], conf=path)

    assert rc == 1, err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert re.match(r"^portico: \[emerg\] %s.* in %s:%d$"
                    % (message, re.escape(str(path)), line), lines[0]), err
    assert lines[1].endswith("test failed")


def test_error_certificate_without_key(tmp_path, pki):
    expect_emerg(tmp_path, pki, http(
        "    server {\n"
        "        listen 127.0.0.1:1 ssl;\n"
        "        ssl_certificate {rsa_crt};\n"
        "    }\n"),
        r'no "ssl_certificate_key" is defined for certificate "%s"'
        % re.escape(pki.path("rsa.crt")), "ssl_certificate")


def test_error_key_does_not_match(tmp_path, pki):
    expect_emerg(tmp_path, pki, http(server_block("{rsa_crt}", "{a_key}")),
                 r'the key "%s" does not match the certificate "%s" '
                 r'\(SSL: ' % (re.escape(pki.path("a.key")),
                              re.escape(pki.path("rsa.crt"))),
                 "ssl_certificate_key")


@pytest.mark.parametrize("what", ["missing", "directory", "not-pem"])
def test_error_certificate_unreadable(tmp_path, pki, what):
    bad = {"missing": tmp_path / "nonexistent.crt",
           "directory": tmp_path,
           "not-pem": tmp_path / "garbage.crt"}[what]
    (tmp_path / "garbage.crt").write_text("not a certificate\n")

    expect_emerg(tmp_path, pki, http(server_block(str(bad))),
                 r'cannot load certificate "%s"' % re.escape(str(bad)),
                 "ssl_certificate ")


def test_error_key_unreadable(tmp_path, pki):
    bad = tmp_path / "nonexistent.key"
    expect_emerg(tmp_path, pki, http(server_block("{rsa_crt}", str(bad))),
                 r'cannot load certificate key "%s"' % re.escape(str(bad)),
                 "ssl_certificate_key")


def test_error_listen_ssl_without_certificate(tmp_path, pki):
    expect_emerg(tmp_path, pki, http(
        "    server {\n"
        "        listen 127.0.0.1:1 ssl;\n"
        "    }\n"),
        r'no "ssl_certificate" is defined for the server with '
        r'"listen \.\.\. ssl"', "server {")


@pytest.mark.parametrize("extra, message, needle", [
    ("ssl_session_cache shared:X;", r'invalid session cache "shared:X"',
     "ssl_session_cache"),
    ("ssl_session_cache shared:X:1k;",
     r'session cache "shared:X:1k" is too small', "ssl_session_cache"),
    ("ssl_session_cache off builtin;", r'invalid session cache "off"',
     "ssl_session_cache"),
    ("ssl_session_cache builtin:x;", r'invalid session cache "builtin:x"',
     "ssl_session_cache"),
    ("ssl_verify_client maybe;",
     r'invalid value "maybe" in "ssl_verify_client" directive',
     "ssl_verify_client"),
    ("ssl_verify_client on;",
     r'no "ssl_client_certificate" is defined for "ssl_verify_client"',
     "server {"),
    ("ssl_verify_client on; ssl_client_certificate {tmp}/none.pem;",
     r'cannot load client CA certificates ".*none.pem"', "ssl_verify_client"),
    ("ssl_verify_client on; ssl_client_certificate {client_ca_pem};\n"
     "        ssl_crl {tmp}/none.crl;",
     r'cannot load CRL ".*none.crl"', "ssl_crl"),
    ("ssl_session_ticket_key {tmp}/short.key;",
     r'".*short.key" must be 48 or 80 bytes, not 10', "ssl_session_ticket_key"),
    ("ssl_session_ticket_key {tmp}/none.key;",
     r'cannot read ".*none.key" \(2: No such file', "ssl_session_ticket_key"),
    ("ssl_stapling on; ssl_stapling_file {tmp}/short.key;",
     r'".*short.key" is not a DER OCSP response', "ssl_stapling"),
    ("ssl_password_file {tmp}/none.txt;",
     r'cannot read ".*none.txt"', "ssl_password_file"),
    ("ssl_protocols TLSv1.4;",
     r'invalid value "TLSv1.4"', "ssl_protocols"),
    ("ssl_ciphers NOTHING-KNOWN;",
     r'SSL_CTX_set_cipher_list\("NOTHING-KNOWN"\) failed', "server {"),
    ("ssl_conf_command NoSuchCommand x;",
     r'SSL_CONF_cmd\("NoSuchCommand", "x"\) failed', "server {"),
])
def test_error_directives(tmp_path, pki, extra, message, needle):
    (tmp_path / "short.key").write_bytes(b"0123456789")
    expect_emerg(tmp_path, pki, http(server_block(
        extra="        " + extra.replace("{tmp}", str(tmp_path)) + "\n")),
        message, needle)
