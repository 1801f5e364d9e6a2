"""
TLS to upstream servers: proxy_pass https:// with and without
verification, SNI, the verified name, client certificates, session reuse
and keep-alive over TLS.
"""
import http.server
import re
import socketserver
import ssl
import subprocess
import threading

import pytest

from conftest import raw, parse_response, get, free_port, needs_module

pytestmark = needs_module("pt_http_proxy_module")


def make_cert(tmp, name, cn, san, ca=None):
    key = tmp / (name + ".key")
    crt = tmp / (name + ".crt")

    if ca is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", str(key), "-out", str(crt),
                        "-days", "2", "-subj", "/CN=" + cn,
                        "-addext", "subjectAltName=" + san,
                        "-addext", "basicConstraints=critical,CA:TRUE"],
                       check=True, capture_output=True)
        return crt, key

    csr = tmp / (name + ".csr")
    ext = tmp / (name + ".ext")
    ext.write_text("subjectAltName=%s\n" % san)
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj",
                    "/CN=" + cn], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA",
                    str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
                    "-out", str(crt), "-days", "2", "-extfile", str(ext)],
                   check=True, capture_output=True)
    return crt, key


class TLSBackend:
    """An HTTPS origin recording SNI names, client certificates and
    connections."""

    def __init__(self, crt, key, client_ca=None):
        self.sni = []
        self.peers = []
        self.connections = set()
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                backend.connections.add(id(self.connection))
                cert = self.connection.getpeercert()
                backend.peers.append(cert)
                body = ("path=%s reused=%s\n" % (
                    self.path, self.connection.session_reused)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.port = free_port()
        self.httpd = Server(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(crt), str(key))
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(str(client_ca))

        def sni(sock, name, context):
            self.sni.append(name)

        ctx.sni_callback = sni
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pki(tmp_path):
    ca = make_cert(tmp_path, "ca", "Test CA", "DNS:ca.test")
    other = make_cert(tmp_path, "other", "Other CA", "DNS:other.test")
    server = make_cert(tmp_path, "server", "backend.test",
                       "DNS:backend.test,IP:127.0.0.1", ca=ca)
    client = make_cert(tmp_path, "client", "portico-client",
                       "DNS:client.test", ca=ca)
    return {"ca": ca, "other": other, "server": server, "client": client}


@pytest.fixture
def backends():
    started = []

    def start(*args, **kw):
        b = TLSBackend(*args, **kw)
        started.append(b)
        return b

    yield start

    for b in started:
        b.stop()


def fetch(port, path):
    data = raw(port, get(path, extra=b"Connection: close\r\n"))
    resp, _ = parse_response(data)
    return resp


def test_verified_upstream_with_sni_and_keepalive(portico, pki, backends):
    b = backends(*pki["server"])
    server = portico.start("""
http {
    access_log off;
    upstream tb { server 127.0.0.1:%d; keepalive 4; }
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass https://tb;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_name backend.test;
            proxy_ssl_server_name on;
        }
    }
}
""" % (b.port, pki["ca"][0]), process="master_process off;")

    for i in range(5):
        resp = fetch(server.port, "/k%d" % i)
        assert resp.status == 200
        assert resp.body.startswith(b"path=/k%d " % i)

    assert set(b.sni) == {"backend.test"}
    # one TLS connection carried every request
    assert len(b.connections) == 1


def test_wrong_trust_is_502_and_logged(portico, pki, backends):
    b = backends(*pki["server"])
    server = portico.start("""
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass https://127.0.0.1:%d;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
        }
    }
}
""" % (b.port, pki["other"][0]), expect_log=[r"certificate verify failed"])

    resp = fetch(server.port, "/x")
    assert resp.status == 502
    server.wait_log(r"\[error\].*SSL_do_handshake\(\) failed.*"
                    r"certificate verify failed.*upstream")


def test_name_mismatch_is_502(portico, pki, backends):
    b = backends(*pki["server"])
    server = portico.start("""
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass https://127.0.0.1:%d;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_name wrong.test;
        }
    }
}
""" % (b.port, pki["ca"][0]), expect_log=[r"certificate verify failed"])

    assert fetch(server.port, "/x").status == 502


def test_without_verification_and_without_sni(portico, pki, backends):
    b = backends(*pki["server"])
    server = portico.start("""
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass https://127.0.0.1:%d; }
    }
}
""" % b.port)

    resp = fetch(server.port, "/plain")
    assert resp.status == 200 and resp.body.startswith(b"path=/plain ")
    assert b.sni == [None]


def test_client_certificate_to_upstream(portico, pki, backends):
    """
    Both locations reach the same server; /without must not resume the
    session /with made with its certificate, which the server would take
    for that client's.
    """
    b = backends(*pki["server"], client_ca=pki["ca"][0])
    server = portico.start("""
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location /with {
            proxy_pass https://127.0.0.1:%d;
            proxy_ssl_certificate %s;
            proxy_ssl_certificate_key %s;
        }
        location /without { proxy_pass https://127.0.0.1:%d; }
    }
}
""" % (b.port, pki["client"][0], pki["client"][1], b.port),
        expect_log=[r"SSL_do_handshake\(\) failed", r"SSL_read\(\)",
                    r"upstream"])

    resp = fetch(server.port, "/with")
    assert resp.status == 200
    assert any(p and dict(x[0] for x in p["subject"]).get("commonName")
               == "portico-client" for p in b.peers)

    assert fetch(server.port, "/without").status == 502
    resp = fetch(server.port, "/with")
    assert resp.status == 200 and b"reused=True" in resp.body, resp.body


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_session_reuse(portico, pki, version):
    """
    openssl s_server shuts its connections down cleanly, so its own cache
    keeps the session; its -www page says "New" or "Reused". Under TLS 1.3
    the session comes with a ticket after the handshake.
    """
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", str(port), "-cert",
         str(pki["server"][0]), "-key", str(pki["server"][1]), "-www",
         "-" + version.lower().replace("v", "").replace(".", "_"),
         "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        from conftest import wait_for, port_accepts
        wait_for(lambda: port_accepts(port), timeout=10)

        server = portico.start("""
http {
    access_log off;
    server {
        listen 127.0.0.1:{port};
        location / {
            proxy_pass https://127.0.0.1:%d;
            proxy_ssl_protocols %s;
        }
    }
}
""" % (port, version), process="master_process off;")

        first = fetch(server.port, "/")
        second = fetch(server.port, "/")
        third = fetch(server.port, "/")
        assert b"\nNew, %s" % version.encode() in first.body
        # no upstream keep-alive: a new connection resumes the session
        assert b"\nReused, %s" % version.encode() in second.body
        assert b"\nReused, %s" % version.encode() in third.body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("line, message", [
    ("proxy_ssl_protocols SSLv3;", 'invalid value "SSLv3"'),
    ("proxy_ssl_name $host;", "variables in \"proxy_ssl_name\""),
    ("proxy_ssl_certificate /nonexistent.crt; "
     "proxy_ssl_certificate_key /nonexistent.key;", "nonexistent.crt"),
])
def test_bad_upstream_tls_config(tmp_path, line, message):
    from conftest import run_portico
    rc, out, err = run_portico(["-t"], tmp=tmp_path, conf_text="""
http {
    server {
        listen 127.0.0.1:1;
        location / { proxy_pass https://127.0.0.1:2; %s }
    }
}
""" % line)
    assert rc == 1
    assert "[emerg]" in err and message in err, err


@pytest.mark.parametrize("settings, message, needle", [
    ({"http": "proxy_ssl_ciphers NOPE;"},
     r'SSL_CTX_set_cipher_list\("NOPE"\) failed', "proxy_ssl_ciphers"),
    ({"location": "proxy_ssl_verify on; "
                  "proxy_ssl_trusted_certificate {tmp}/none.pem;"},
     r'cannot load trusted certificates ".*/none.pem"',
     "proxy_ssl_trusted_certificate"),
    ({"server": "proxy_ssl_certificate {crt};"},
     r'no "proxy_ssl_certificate_key" is defined for certificate',
     "proxy_ssl_certificate"),
    ({"http": "proxy_ssl_certificate {tmp}/none.crt;",
      "location": "proxy_ssl_certificate_key {key};"},
     r'cannot load certificate ".*/none.crt"', "proxy_ssl_certificate"),
    ({"server": "proxy_ssl_certificate {crt};",
      "location": "proxy_ssl_certificate_key {tmp}/none.key;"},
     r'cannot load certificate key ".*/none.key"',
     "proxy_ssl_certificate_key"),
])
def test_upstream_tls_file_errors_name_their_directive(tmp_path, pki,
                                                       settings, message,
                                                       needle):
    """
    The context is made once the locations are merged, after the whole
    file is read; its errors still point at the directive, which may be
    inherited from an outer block.
    """
    from conftest import line_of, run_portico, write_config
    conf = write_config(tmp_path, """
http {
    %s
    server {
        listen 127.0.0.1:1;
        %s
        location / {
            proxy_pass https://127.0.0.1:2;
            %s
        }
    }
    server {
        listen 127.0.0.1:3;
    }
}
""" % (settings.get("http", ""), settings.get("server", ""),
       settings.get("location", "")),
        crt=pki["server"][0], key=pki["server"][1])
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 1, err
    line = [x for x in err.splitlines() if "[emerg]" in x]
    assert len(line) == 1, err
    assert re.search(message, line[0]), line[0]
    assert line[0].endswith(" in %s:%d" % (conf, line_of(conf, needle))), \
        line[0]


def test_variables_in_an_https_proxy_pass(portico, pki, backends):
    b = backends(*pki["server"])
    server = portico.start("""
http {
    access_log off;
    upstream tb { server 127.0.0.1:%d; keepalive 4; }
    server {
        listen 127.0.0.1:{port};
        location /group {
            proxy_pass https://$arg_g;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate %s;
            proxy_ssl_name backend.test;
            proxy_ssl_server_name on;
        }
        location /scheme {
            proxy_pass $arg_s://127.0.0.1:%d;
        }
    }
}
""" % (b.port, pki["ca"][0], b.port), process="master_process off;")

    for i in range(3):
        resp = fetch(server.port, "/group?g=tb&i=%d" % i)
        assert resp.status == 200
        assert resp.body.startswith(b"path=/group?g=tb&i=%d " % i)

    assert set(b.sni) == {"backend.test"}
    # the group's kept-alive TLS connection carried every request
    assert len(b.connections) == 1

    resp = fetch(server.port, "/scheme?s=https")
    assert resp.status == 200 and resp.body.startswith(b"path=/scheme?")
    # plain HTTP to a TLS server gets nowhere
    assert fetch(server.port, "/scheme?s=http").status == 502


@pytest.mark.parametrize("url,port", [
    ("https://127.0.0.1", 443),
    ("http://127.0.0.1", 80),
    ("https://localhost", 443),
])
def test_scheme_gives_the_default_port(portico, url, port):
    """https:// without a port goes to 443, http:// to 80 (both unused)."""
    srv = portico.start(
        "http { server { listen 127.0.0.1:{port}; "
        "location /a { proxy_pass %s; } "
        "location /b { proxy_pass http://127.0.0.1:1; } } }" % url)
    resp, _ = parse_response(raw(srv.port, get(
        "/a", extra=b"Connection: close\r\n")))
    assert resp.status == 502
    srv.wait_log(r'connect\(\) failed .* upstream: '
                 r'"(127\.0\.0\.1|\[::1\]):%d/a"' % port)
