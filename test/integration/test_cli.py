"""
The command line: -v -V -h, option errors, -t -q -T, -g, and -s with and
without a running server.
"""

import os
import re
import signal

import pytest

from conftest import (exchange, get, group_members, line_of, needs_module,
                      parse_response, run_portico, unread_bytes, wait_for,
                      write_config, Client)


# the servers here answer with "return"
needs_return = needs_module("pt_http_rewrite_module")

SERVER = """
http {
    server {
        listen 127.0.0.1:{port};
        return 200 "ok\\n";
    }
}
"""


def test_v_prints_version(portico_version):
    rc, out, err = run_portico(["-v"])
    assert rc == 0
    assert out == ""
    assert err == "portico version: %s\n" % portico_version
    assert re.match(r"^portico/\d+\.\d+\.\d+$", portico_version)


def test_V_prints_build_options_and_modules(portico_version):
    rc, out, err = run_portico(["-V"])
    assert rc == 0
    assert out == ""

    lines = err.splitlines()
    assert lines[0] == "portico version: %s" % portico_version
    assert any(l.startswith("built by ") for l in lines), err
    assert any(l.startswith("built with OpenSSL ") for l in lines), err

    conf_args = [l for l in lines if l.startswith("configure arguments:")]
    assert len(conf_args) == 1, err
    assert re.match(r"^configure arguments:( \S.*)?$", conf_args[0])

    # the modules line is the last, names separated by single spaces
    assert lines[-1].startswith("modules: ")
    modules = lines[-1][len("modules: "):].split(" ")
    assert "pt_core_module" in modules
    assert "pt_http_module" in modules
    assert "pt_http_core_module" in modules
    assert len(modules) == len(set(modules))


@pytest.mark.parametrize("opt", ["-h", "-?"])
def test_h_prints_usage(opt, portico_version):
    rc, out, err = run_portico([opt])
    assert rc == 0
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "portico version: %s" % portico_version
    assert lines[1] == ("Usage: portico [-?hvVtTq] [-s signal] [-p prefix]")
    for opt_help in ("-?,-h", "-v ", "-V ", "-t ", "-T ", "-q ",
                     "-s signal", "-p prefix", "-c filename",
                     "-g directives"):
        assert any(l.startswith("  " + opt_help) for l in lines), opt_help
    assert "stop, quit, reopen, reload" in err


@pytest.mark.parametrize("args, message", [
    (["-x"], 'invalid option: "x"'),
    (["-vx"], 'invalid option: "x"'),
    (["foo"], 'invalid option: "foo"'),
    (["-"], 'invalid option: "-"'),
    (["-s", "bogus"], 'invalid option: "-s bogus"'),
    (["-c"], 'option "-c" requires file name'),
    (["-p"], 'option "-p" requires directory name'),
    (["-g"], 'option "-g" requires parameter'),
    (["-s"], 'option "-s" requires parameter'),
])
def test_invalid_option(args, message):
    rc, out, err = run_portico(args)
    assert rc == 1
    assert out == ""
    assert err == "portico: %s\n" % message


@needs_return
def test_t_ok(tmp_path):
    conf = write_config(tmp_path, SERVER, port=1)
    rc, out, err = run_portico(["-t"], conf=conf)
    assert rc == 0
    assert out == ""
    assert err == ("portico: the configuration file %s syntax is ok\n"
                   "portico: configuration file %s test is successful\n"
                   % (conf, conf))
    # -t neither binds nor writes a pid file
    assert not (tmp_path / "portico.pid").exists()


@needs_return
def test_t_q_is_quiet(tmp_path):
    conf = write_config(tmp_path, SERVER, port=1)
    rc, out, err = run_portico(["-t", "-q"], conf=conf)
    assert (rc, out, err) == (0, "", "")

    rc, out, err = run_portico(["-tq"], conf=conf)
    assert (rc, out, err) == (0, "", "")


@needs_return
def test_t_q_still_reports_errors(tmp_path):
    conf = write_config(tmp_path, SERVER + "bogus;\n", port=1)
    rc, out, err = run_portico(["-t", "-q"], conf=conf)
    assert rc == 1
    assert out == ""
    assert err == ('portico: [emerg] unknown directive "bogus" in %s:%d\n'
                   "portico: configuration file %s test failed\n"
                   % (conf, line_of(conf, "bogus"), conf))


@needs_return
def test_t_config_path_relative_to_prefix(tmp_path):
    """-c NAME is taken relative to the prefix (-p), as in nginx."""
    conf = write_config(tmp_path, SERVER, port=1)
    assert os.getcwd() != str(tmp_path)
    rc, out, err = run_portico(["-p", "%s/" % tmp_path, "-c", conf.name,
                                "-t"])
    assert rc == 0, err
    assert "configuration file %s test is successful" % conf in err


def test_T_dumps_every_file(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "a.conf").write_text("server_tokens off;\n")
    # no final newline: the dump adds one
    (inc / "b.conf").write_text("keepalive_requests 5;")
    (tmp_path / "comment.conf").write_text("# only a comment\n")

    conf = write_config(tmp_path, """
http {
    include {tmp}/inc/*.conf;
    include comment.conf;
    include comment.conf;
    server {
        listen 127.0.0.1:1;
    }
}
""")
    rc, out, err = run_portico(["-T"], conf=conf)
    assert rc == 0, err
    assert err == ("portico: the configuration file %s syntax is ok\n"
                   "portico: configuration file %s test is successful\n"
                   % (conf, conf))

    expected = (
        "# configuration file %s:\n%s\n"
        "# configuration file %s:\nserver_tokens off;\n\n"
        "# configuration file %s:\nkeepalive_requests 5;\n\n"
        # included twice, dumped once
        "# configuration file %s:\n# only a comment\n\n"
        % (conf, conf.read_text(), inc / "a.conf", inc / "b.conf",
           tmp_path / "comment.conf"))
    assert out == expected

    rc, out_q, err = run_portico(["-T", "-q"], conf=conf)
    assert (rc, err) == (0, "")
    assert out_q == expected


def test_T_with_error_dumps_nothing(tmp_path):
    conf = write_config(tmp_path, "http { bogus; }\n")
    rc, out, err = run_portico(["-T"], conf=conf)
    assert rc == 1
    assert out == ""
    assert 'unknown directive "bogus"' in err


@needs_return
def test_g_pid_applies(portico, tmp_path):
    gpid = tmp_path / "g.pid"
    server = portico.start(SERVER, pid=False, args=["-g", "pid %s;" % gpid])

    wait_for(lambda: gpid.exists() and gpid.read_text() == "%d\n"
             % server.pid, what="the pid file named by -g")
    assert not (server.tmp / "portico.pid").exists()

    # -s finds the process through the same -g
    rc, out, err = run_portico(["-g", "pid %s;" % gpid, "-s", "stop"],
                               conf=server.conf)
    assert (rc, out, err) == (0, "", "")
    assert server.wait_exit() == 0
    assert not gpid.exists()


@needs_return
def test_g_duplicate_of_config_directive(tmp_path):
    conf = write_config(tmp_path, SERVER, port=1)
    rc, out, err = run_portico(["-t", "-g", "pid /x/y;"], conf=conf)
    assert rc == 1
    assert err == ('portico: [emerg] "pid" directive is duplicate in %s:%d\n'
                   "portico: configuration file %s test failed\n"
                   % (conf, line_of(conf, "pid ", after=0), conf))


@needs_return
@pytest.mark.parametrize("param, message", [
    ("events { }", "block directives are not supported in -g option"),
    ("bogus 1;", 'unknown directive "bogus"'),
    ("pid /x/y", 'unexpected end of file, expecting ";" or "}"'),
    ("listen 80;", '"listen" directive is not allowed here'),
])
def test_g_errors(tmp_path, param, message):
    conf = write_config(tmp_path, SERVER, port=1, pid=False)
    rc, out, err = run_portico(["-t", "-g", param], conf=conf)
    assert rc == 1
    assert err == ("portico: [emerg] %s in command line\n"
                   "portico: configuration file %s test failed\n"
                   % (message, conf))


@needs_return
@pytest.mark.parametrize("sig", ["stop", "quit", "reopen", "reload"])
def test_s_without_running_server(tmp_path, sig):
    conf = write_config(tmp_path, SERVER, port=1)
    rc, out, err = run_portico(["-s", sig], conf=conf)
    assert rc == 1
    assert out == ""
    assert err == ('portico: [error] open() "%s/portico.pid" failed '
                   '(2: No such file or directory)\n' % tmp_path)


@needs_return
def test_s_with_garbage_pid_file(tmp_path):
    conf = write_config(tmp_path, SERVER, port=1)
    (tmp_path / "portico.pid").write_text("abc\n")
    rc, out, err = run_portico(["-s", "stop"], conf=conf)
    assert rc == 1
    assert err == ('portico: [error] invalid PID number "abc" in "%s"\n'
                   % (tmp_path / "portico.pid"))


@needs_return
def test_pid_file_holds_the_pid(portico):
    server = portico.start(SERVER)
    pid_path = server.tmp / "portico.pid"
    wait_for(lambda: pid_path.exists() and pid_path.read_text(),
             what="the pid file")
    assert pid_path.read_text() == "%d\n" % server.pid
    server.wait_log(r"\[notice\] \d+#0: portico/\S+ started, pid %d"
                    % server.pid)


@needs_return
def test_s_stop(portico):
    server = portico.start(SERVER)
    pid_path = server.tmp / "portico.pid"
    assert pid_path.exists()

    rc, out, err = run_portico(["-s", "stop"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")

    assert server.wait_exit() == 0
    assert not pid_path.exists()
    assert re.search(r"\[notice\] \d+#0: .*\bexit", server.error_log())


@needs_return
def test_s_quit_closes_idle_connections(portico):
    server = portico.start(SERVER)

    c = Client(server.port)
    resp = c.request(get("/"))
    assert resp.status == 200
    assert resp.header("Connection") == "keep-alive"

    rc, out, err = run_portico(["-s", "quit"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")

    # the idle keep-alive connection is closed, then the process exits
    extra, _ = c.wait_closed()
    assert extra == b""
    c.close()
    assert server.wait_exit() == 0
    assert not (server.tmp / "portico.pid").exists()
    log = server.error_log()
    assert "gracefully shutting down" in log


def wait_graceful(server, pids):
    """Waits until each of pids has logged that it is shutting down."""
    for pid in pids:
        server.wait_log(r"\b%d#0: gracefully shutting down" % pid)


@needs_return
def test_s_quit_finishes_request_in_flight(portico):
    """A graceful stop answers a request half read, then exits."""
    server = portico.start(SERVER)

    half = Client(server.port)
    half.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
    # no log line says the server has read it: watch its receive queue
    wait_for(lambda: unread_bytes(half.sock) == 0,
             what="the server to read the half request")

    rc, out, err = run_portico(["-s", "quit"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")
    wait_graceful(server, group_members(server.pid))

    half.send(b"\r\n")
    resp = half.response()
    assert (resp.status, resp.body) == (200, b"ok\n")
    assert resp.header("Connection") == "close"
    assert half.wait_closed()[0] == b""
    assert server.wait_exit() == 0


@needs_return
def test_s_quit_answers_connection_awaiting_its_request(portico):
    """
    A connection accepted before the stop but without a request yet is
    not an idle keep-alive one: its request is still answered (nginx).
    """
    server = portico.start(SERVER)
    waiting = server.connect_accepted()

    rc, out, err = run_portico(["-s", "quit"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")
    wait_graceful(server, group_members(server.pid))

    resp = waiting.request(get("/"))
    assert (resp.status, resp.body) == (200, b"ok\n")
    assert resp.header("Connection") == "close"
    assert waiting.wait_closed()[0] == b""
    assert server.wait_exit() == 0


@needs_return
@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT,
                                   signal.SIGQUIT])
def test_stop_signals(portico, signo):
    server = portico.start(SERVER)
    server.send_signal(signo)
    assert server.wait_exit() == 0
    assert not (server.tmp / "portico.pid").exists()


@needs_return
def test_s_reopen(portico):
    server = portico.start(SERVER)
    log = server.error_log_path
    old = server.tmp / "error.log.1"

    os.rename(log, old)
    assert not log.exists()

    rc, out, err = run_portico(["-s", "reopen"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")

    # the process notes the signal in the file it still has open ...
    server.wait_log(r"\[notice\] \d+#0: reopening logs", path=old)
    wait_for(log.exists, what="a new error.log")

    # ... and the next line goes to the new file
    data, closed = exchange(server.port, b"GET /../x HTTP/1.1\r\n"
                            b"Host: reopen.test\r\n\r\n")
    assert parse_response(data)[0].status == 400
    server.wait_log(r'client sent invalid request: "GET /\.\./x HTTP/1\.1"')
    assert "GET /../x" not in old.read_text()


@needs_return
def test_s_reload_keeps_serving(portico):
    server = portico.start(SERVER)
    old_workers = set(group_members(server.pid)) - {server.pid}

    rc, out, err = run_portico(["-s", "reload"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")

    # whatever the process model does with HUP, the server still answers
    # once the reload is over (the old workers, if any, gone)
    wait_for(lambda: re.search(r"reload|reconfigur", server.error_log(),
                               re.I), what="the reload to be noticed")
    wait_for(lambda: not old_workers & set(group_members(server.pid)),
             what="the old workers to exit")
    for i in range(20):
        resp = Client(server.port).request(get("/"))
        assert (resp.status, resp.body) == (200, b"ok\n")
    assert server.alive()


@needs_return
def test_s_reload_answers_connection_awaiting_its_request(portico, request):
    server = portico.start(SERVER)
    old_workers = set(group_members(server.pid)) - {server.pid}

    # a client that has connected but not yet sent its request
    waiting = server.connect_accepted()

    rc, out, err = run_portico(["-s", "reload"], conf=server.conf)
    assert (rc, out, err) == (0, "", "")
    wait_for(lambda: re.search(r"reload|reconfigur", server.error_log(),
                               re.I), what="the reload to be noticed")
    # the old workers have begun to stop
    wait_graceful(server, old_workers)

    resp = waiting.request(get("/"))
    assert (resp.status, resp.body) == (200, b"ok\n")
