# SPDX-License-Identifier: MIT
"""The HTTP endpoint (http = ADDR:PORT, --http ADDR:PORT): /livez, /readyz and their
per-service forms in the kube-apiserver style, /status, and how warden holds up against
clients that send too much, too slowly, too often or the wrong thing (warden(7), HTTP
ENDPOINT). Every run is warden as PID 1 of a pid namespace, or as a subreaper where the
mode matters; the endpoint listens on a loopback port the kernel picked for the test."""

import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import time

import psutil
import pytest

from conftest import WARDEN, helper, q, run_direct, wait_file_sh, wait_for
from httpc import (Reply, connections_of, exchange, free_port, get, read_all, request,
                   wait_serving)
from svlib import EXIT_CONFIG, Sup, read_stamps, stamp, wait_stamp

pytestmark = pytest.mark.timeout(120)

TEXT = "text/plain; charset=utf-8"
HINT = "Try 'warden --help' for more information.\n"
EXPECTED = ("(expected IPV4:PORT or [IPV6]:PORT, such as 127.0.0.1:9100 or [::1]:9100)")


def start_init(h, cmd, args=(), addr="127.0.0.1"):
    """warden --http ADDR:PORT [ARGS] -- CMD; returns (run, port) once it answers."""
    port = free_port()
    host = f"[{addr}]" if ":" in addr else addr
    r = h.start(["--http", f"{host}:{port}"] + list(args) + ["--"] + list(cmd))
    wait_serving(port, r, host=addr)
    return r, port


def start_sup(h, conf, **kw):
    """A supervisor-mode warden with http = on a free port; returns (Sup, port)."""
    port = free_port()
    sup = Sup(h, f"[warden]\nhttp = 127.0.0.1:{port}\n" + conf, **kw)
    wait_serving(port, sup.run)
    return sup, port


def wait_status(port, path, status, timeout=20):
    """Waits until PATH answers STATUS; returns that Reply."""
    def pred():
        r = get(port, path)
        return r if r.status == status else None
    return wait_for(pred, timeout, f"{path} to answer {status}")


def check(port, path, status, body=None, method="GET"):
    """Requests PATH; checks the status, the plain-text type and the body (unless None)."""
    r = request(port, path, method=method)
    assert (r.status, r.headers["content-type"]) == (status, TEXT), r.raw
    if method == "GET" and body is not None:
        assert r.text == body, f"{path}: {r.text!r}"
    return r


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_targets(pid):
    out = []
    for n in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            out.append(f"{n}->{os.readlink(f'/proc/{pid}/fd/{n}')}")
        except OSError:
            pass
    return out


def vmrss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def exit_words(code):
    """How warden's status describes an exit with CODE (wd_status_describe)."""
    return f"exited with code {code}"


# --- the endpoints ----------------------------------------------------------------

def test_init_mode_endpoints(warden):
    h = warden
    ctl = h.path("ctl.sock")
    r, port = start_init(h, ["sleep", "60"], args=["--control", ctl])
    # The main process counts as ready once it has exec'd its command.
    wait_status(port, "/readyz", 200)
    check(port, "/livez", 200, "ok")
    check(port, "/readyz", 200, "ok")
    check(port, "/livez?verbose", 200, "[+]warden ok\n[+]main ok\nlivez check passed\n")
    check(port, "/readyz?verbose", 200, "[+]warden ok\n[+]main ok\nreadyz check passed\n")
    check(port, "/readyz?x=1&verbose=1", 200, "[+]warden ok\n[+]main ok\nreadyz check passed\n")
    check(port, "/livez/main", 200, "ok")
    check(port, "/readyz/main", 200, "ok")
    check(port, "/readyz/main?verbose", 200, "[+]main ok\nreadyz check passed\n")
    check(port, "/livez/warden?verbose", 200, "[+]warden ok\nlivez check passed\n")
    check(port, "/readyz/warden", 200, "ok")
    for path in ("/readyz/nope", "/livez/nope", "/livez/", "/readyz/main/x", "/", "/nope",
                 "/livezz", "/status/main"):
        check(port, path, 404, "Not Found\n")

    # /status: what warden ctl status --json prints, uptimes aside.
    st = get(port, "/status")
    assert (st.status, st.headers["content-type"]) == (200, "application/json"), st.raw
    assert st.text.endswith("}\n")
    mine = json.loads(st.text)
    c = subprocess.run([WARDEN, "ctl", "--control", str(ctl), "--json", "status"],
                       capture_output=True, text=True, timeout=20)
    assert c.returncode == 0, c.stderr
    theirs = json.loads(c.stdout)
    for doc in (mine, theirs):
        doc["warden"].pop("uptime_ms")
        for s in doc["services"]:
            s.pop("uptime_ms")
    assert mine == theirs
    assert [s["name"] for s in mine["services"]] == ["main"]
    assert mine["services"][0]["state"] == "running"

    # HEAD: the same headers, no body.
    for path in ("/livez", "/readyz?verbose", "/readyz/main?verbose", "/nope"):
        g, hd = get(port, path), request(port, path, method="HEAD")
        assert hd.body == b""
        assert (hd.status, hd.headers["content-length"], hd.headers["content-type"]) == \
            (g.status, g.headers["content-length"], g.headers["content-type"])
    hd = request(port, "/status", method="HEAD")
    assert (hd.status, hd.headers["content-type"], hd.body) == (200, "application/json", b"")
    assert int(hd.headers["content-length"]) > 100

    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143


def test_ipv6_loopback(warden_sub):
    r, port = start_init(warden_sub, ["sleep", "60"], addr="::1")
    got = get(port, "/readyz/main?verbose", host="::1")
    assert (got.status, got.text) == (200, "[+]main ok\nreadyz check passed\n")
    # Only the address asked for: not IPv4's loopback.
    with pytest.raises(ConnectionRefusedError):
        get(port, "/livez")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143


def test_supervisor_states(warden_pid1):
    h = warden_pid1
    go = h.path("go")
    sup, port = start_sup(h, f"""
        [held]
        command = sleep 60
        ready = exec:test -e {q(go)}
        [setup]
        type = oneshot
        command = true
        [flaky]
        command = sh -c 'exit 3'
        restart = never
        """.replace("\n        ", "\n"))
    sup.wait_event("service.failed", "flaky")
    sup.wait_event("service.exited", "setup")
    # held is starting (its check fails until go exists), flaky failed for good.
    check(port, "/readyz", 503,
          "[+]warden ok\n[-]held failed: starting\n[+]setup ok\n"
          f"[-]flaky failed: failed (last run {exit_words(3)})\nreadyz check failed\n")
    check(port, "/readyz?verbose", 503,
          "[+]warden ok\n[-]held failed: starting\n[+]setup ok\n"
          f"[-]flaky failed: failed (last run {exit_words(3)})\nreadyz check failed\n")
    check(port, "/readyz/held", 503, "[-]held failed: starting\nreadyz check failed\n")
    check(port, "/readyz/setup", 200, "ok")
    check(port, "/readyz/flaky", 503,
          f"[-]flaky failed: failed (last run {exit_words(3)})\nreadyz check failed\n")
    # No service is essential: warden is live, and says which services it weighed (none).
    check(port, "/livez", 200, "ok")
    check(port, "/livez?verbose", 200, "[+]warden ok\nlivez check passed\n")
    check(port, "/livez/held", 200, "ok")
    check(port, "/livez/flaky", 503,
          f"[-]flaky failed: failed for good: {exit_words(3)}\nlivez check failed\n")

    go.write_text("")
    sup.wait_event("service.ready", "held")
    check(port, "/readyz/held", 200, "ok")
    check(port, "/readyz/held?verbose", 200, "[+]held ok\nreadyz check passed\n")
    check(port, "/readyz", 503,
          "[+]warden ok\n[+]held ok\n[+]setup ok\n"
          f"[-]flaky failed: failed (last run {exit_words(3)})\nreadyz check failed\n")
    # Started again by an operator, flaky is ready once running: /readyz passes.
    sup.write(f"""
        [warden]
        http = 127.0.0.1:{port}
        [held]
        command = sleep 60
        ready = exec:test -e {q(go)}
        [setup]
        type = oneshot
        command = true
        [flaky]
        command = sleep 60
        restart = never
        """)
    readies = len(sup.select("service.ready", "flaky"))
    sup.hup()
    sup.wait_event("service.ready", "flaky", count=readies + 1)
    check(port, "/readyz", 200, "ok")
    check(port, "/readyz?verbose", 200,
          "[+]warden ok\n[+]held ok\n[+]setup ok\n[+]flaky ok\nreadyz check passed\n")
    assert sup.stop() == 0, sup.err()


def test_essential_failure_fails_livez(warden_pid1):
    h = warden_pid1
    go, log = h.path("go"), h.path("stops")
    sup, port = start_sup(h, f"""
        [crash]
        command = sh -c '{wait_file_sh(go)}; exit 4'
        essential = yes
        restart = never
        [slow]
        command = {helper("stopper")} -n slow -d 8000 {q(log)}
        stop_timeout = 60s
        """.replace("\n        ", "\n"))
    wait_stamp(log, "slow", "start")
    wait_status(port, "/readyz", 200)
    check(port, "/livez?verbose", 200, "[+]warden ok\n[+]crash ok\nlivez check passed\n")
    go.write_text("")
    # crash failed for good: warden shuts down, and slow takes 8 s to stop.
    wait_stamp(log, "slow", "sig:15")
    reason = f"failed for good: {exit_words(4)}"
    check(port, "/livez", 503, f"[+]warden ok\n[-]crash failed: {reason}\nlivez check failed\n")
    check(port, "/livez/crash", 503, f"[-]crash failed: {reason}\nlivez check failed\n")
    check(port, "/livez/slow", 200, "ok")
    r = check(port, "/readyz?verbose", 503)
    assert r.text.startswith("[-]warden failed: shutting down\n"), r.text
    assert "[-]crash failed: failed (last run exited with code 4)\n" in r.text, r.text
    assert "[-]slow failed: stopping\n" in r.text, r.text
    assert r.text.endswith("readyz check failed\n")
    check(port, "/readyz/slow", 503, "[-]slow failed: stopping\nreadyz check failed\n")
    assert sup.wait(30) == 4, sup.err()


def test_unhealthy_fails_livez(warden_pid1):
    """An essential service whose health checks failed health_failures times in a row fails
    /livez (and its own /livez/NAME) with the check's reason; one that is not essential fails
    only its own. One passing check makes both live again; readiness is another matter."""
    h = warden_pid1
    web_ok, side_ok = h.path("web-ok"), h.path("side-ok")
    web_ok.touch()
    side_ok.touch()
    sup, port = start_sup(h, f"""
        [web]
        command = sleep 60
        essential = yes
        health = exec:test -e {q(web_ok)}
        health_interval = 100ms
        health_failures = 2
        on_unhealthy = none
        [side]
        command = sleep 60
        health = exec:test -e {q(side_ok)}
        health_interval = 100ms
        health_failures = 2
        on_unhealthy = none
        """.replace("\n        ", "\n"))
    sup.wait_event("service.healthy", "web")
    sup.wait_event("service.healthy", "side")
    check(port, "/livez?verbose", 200, "[+]warden ok\n[+]web ok\nlivez check passed\n")

    side_ok.unlink()
    sup.wait_event("service.unhealthy", "side")
    # Not essential: warden is live all the same, the service alone is not.
    check(port, "/livez", 200, "ok")
    check(port, "/livez/side", 503,
          "[-]side failed: unhealthy: exit status 1\nlivez check failed\n")
    web_ok.unlink()
    sup.wait_event("service.unhealthy", "web")
    check(port, "/livez", 503,
          "[+]warden ok\n[-]web failed: unhealthy: exit status 1\nlivez check failed\n")
    check(port, "/livez/web", 503,
          "[-]web failed: unhealthy: exit status 1\nlivez check failed\n")
    # Unhealthy is not unready: both still run.
    check(port, "/readyz", 200, "ok")

    web_ok.touch()
    side_ok.touch()
    sup.wait_event("service.healthy", "web", count=2)
    sup.wait_event("service.healthy", "side", count=2)
    check(port, "/livez", 200, "ok")
    check(port, "/livez/web", 200, "ok")
    check(port, "/livez/side", 200, "ok")
    assert sup.stop() == 0, sup.err()


@pytest.mark.parametrize("how", ["init", "supervisor"])
def test_readyz_fails_once_shutdown_starts(warden_pid1, how):
    h = warden_pid1
    log = h.path("stops")
    stopper = [helper("stopper"), "-n", "svc", "-d", "8000", str(log)]
    if how == "init":
        r, port = start_init(h, stopper)
        name = "main"
    else:
        sup, port = start_sup(h, f"""
            [svc]
            command = {" ".join(q(a) for a in stopper)}
            stop_timeout = 60s
            """.replace("\n            ", "\n"))
        r, name = sup.run, "svc"
    wait_stamp(log, "svc", "start")
    wait_status(port, "/readyz", 200)
    r.kill(signal.SIGTERM)
    wait_stamp(log, "svc", "sig:15")
    # The service is still running (8 s before it stops): warden answers 503 all the same.
    got = check(port, "/readyz", 503)
    assert got.text == (f"[-]warden failed: shutting down\n[-]{name} failed: stopping\n"
                        "readyz check failed\n"), got.text
    check(port, "/readyz/warden", 503, "[-]warden failed: shutting down\nreadyz check failed\n")
    # Still live: nothing failed.
    check(port, "/livez", 200, "ok")
    assert psutil.Process(r.pid).is_running()
    assert r.wait(30) == 0, r.err()


@pytest.mark.parametrize("how", ["init", "supervisor"])
def test_drain_turns_readyz_at_once(warden_pid1, how):
    """shutdown_delay: the first /readyz asked after SIGTERM was sent answers 503 (within
    100 ms), while the service still runs, ready and unsignalled, for the whole delay;
    then it gets its SIGTERM and warden exits 0."""
    h = warden_pid1
    log = h.path("stops")
    stopper = [helper("stopper"), "-n", "svc", str(log)]
    delay = 2.0
    if how == "init":
        r, port = start_init(h, stopper, args=["--shutdown-delay", "2s"])
        name = "main"
    else:
        sup, port = start_sup(h, "shutdown_delay = 2s\n[svc]\ncommand = " +
                              " ".join(q(a) for a in stopper) + "\n")
        r, name = sup.run, "svc"
    wait_stamp(log, "svc", "start")
    wait_status(port, "/readyz", 200)
    t0 = time.monotonic()
    r.kill(signal.SIGTERM)
    got = request(port, "/readyz?verbose")
    took = time.monotonic() - t0
    assert got.status == 503 and took < 0.1, (got.raw, took)
    assert got.text == (f"[-]warden failed: shutting down\n[+]{name} ok\n"
                        "readyz check failed\n"), got.text
    # Draining: still live, the service runs and has had no signal.
    check(port, "/livez", 200, "ok")
    check(port, f"/readyz/{name}", 200, "ok")
    assert [w for _, w, _ in read_stamps(log)] == ["start", "ready"], read_stamps(log)
    wait_stamp(log, "svc", "sig:15", timeout=20)
    signalled = stamp(read_stamps(log), "svc", "sig:15")
    assert signalled - t0 >= delay - 0.01, (signalled - t0)
    assert r.wait(30) == 0, r.err()


# --- what clients send ------------------------------------------------------------

def test_bad_requests(warden_pid1):
    h = warden_pid1
    r, port = start_init(h, ["sleep", "60"])
    main = r.main_child()

    def send(data):
        raw = exchange(port, data)
        assert raw, f"no answer to {data[:80]!r}"
        return Reply(raw).check_framing()

    def status_of(data):
        return send(data).status

    # Larger than 8 KiB: headers 431, the request line 414, an announced body 413.
    assert status_of(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 9000 +
                     b"\r\n\r\n") == 431
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    assert status_of(b"GET /livez HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n") == 431
    assert status_of(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 414
    assert status_of(b"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n") == 413
    # Just under the limit is fine.
    pad = 8192 - len(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n")
    ok = send(b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * pad + b"\r\n\r\n")
    assert (ok.status, ok.body) == (200, b"ok")

    # Methods other than GET and HEAD: 405 and Allow, and nothing changes.
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"):
        target = "127.0.0.1:1" if method == "CONNECT" else "/readyz"
        got = send(f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nstop"
                   .encode())
        assert (got.status, got.headers.get("allow"), got.text) == \
            (405, "GET, HEAD", "Method Not Allowed\n"), got.raw
    assert main.is_running() and main.status() != psutil.STATUS_ZOMBIE
    assert r.main_child().pid == main.pid

    # Malformed, or not HTTP/1.x.
    assert status_of(b"GET /livez HTTP/2.0\r\nHost: x\r\n\r\n") == 505
    assert status_of(b"GET /livez HTTP/1.1\r\n\r\n") == 400  # no Host
    assert status_of(b"GET /livez\r\n\r\n") == 400
    assert status_of(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64) == 400
    assert status_of(b"GET /livez HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n") == 400
    assert status_of(b"GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n") == 400
    # HTTP/1.0 needs no Host; bare LFs are line ends too.
    got = send(b"GET /livez HTTP/1.0\r\n\r\n")
    assert (got.status, got.body) == (200, b"ok")
    got = send(b"GET /readyz HTTP/1.1\nHost: x\n\n")
    assert (got.status, got.body) == (200, b"ok")
    # A refused HEAD gets no body either.
    raw = exchange(port, b"HEAD /livez HTTP/3.0\r\n\r\n")
    hd = Reply(raw).check_framing(head_only=True)
    assert (hd.status, hd.body) == (505, b"")

    # Pipelined requests and garbage after the first: the first is answered, then close.
    raw = exchange(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff" + b"garbage" * 1000)
    assert raw.count(b"HTTP/1.1 ") == 1, raw
    got = Reply(raw).check_framing()
    assert (got.status, got.body) == (200, b"ok")

    # A client that closes before a whole request gets nothing, and nothing breaks.
    assert exchange(port, b"GET /livez HTTP/1.1\r\nHo", shut=True) == b""
    assert get(port, "/livez").status == 200
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143


def test_slowloris_is_cut_at_the_read_deadline(warden_pid1):
    """Clients that send a byte a second hold a slot until the 5 s read deadline, then get
    408 and are closed; meanwhile other clients are answered at once."""
    h = warden_pid1
    r, port = start_init(h, ["sleep", "60"])
    slow = []
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        slow.append(s)
    opened = time.monotonic()
    request_bytes = b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    got = {s: b"" for s in slow}
    closed_at = {}
    i = 0
    while len(closed_at) < len(slow):
        assert time.monotonic() - opened < 30, "slow clients not closed within 30 s"
        for s in slow:
            if s in closed_at:
                continue
            try:
                s.send(request_bytes[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        closed_at[s] = time.monotonic() - opened
                        break
                    got[s] += chunk
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed_at[s] = time.monotonic() - opened
        i += 1
        # Another client meanwhile: answered at once.
        t0 = time.monotonic()
        assert get(port, "/readyz").status == 200
        assert time.monotonic() - t0 < 3, "a client waited behind the slow ones"
        time.sleep(1)
    for s in slow:
        assert 4 <= closed_at[s] <= 20, closed_at[s]
        if got[s]:
            assert Reply(got[s]).check_framing().status == 408, got[s]
        s.close()
    assert any(got.values()), "no slow client got its 408"
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143


def send_queue(local_port, remote_port):
    """Bytes waiting to be sent on the loopback connection between the two ports."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == f"0100007F:{local_port:04X}" and \
                    fields[2] == f"0100007F:{remote_port:04X}":
                return int(fields[4].split(":")[0], 16)
    raise AssertionError(f"no connection {local_port} -> {remote_port} in /proc/net/tcp")


def test_large_answer_to_a_slow_reader(warden_pid1):
    """An answer larger than the socket takes at once goes out as the client reads it; the
    loop answers others meanwhile."""
    h = warden_pid1
    n = 400
    # Finished oneshots keep their entries; keep, running, keeps warden up.
    sup, port = start_sup(h, "[keep]\ncommand = sleep 60\n" +
                          "".join(f"[s{i}]\ntype = oneshot\ncommand = true\n" for i in range(n)))
    wait_status(port, "/readyz", 200, timeout=60)
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small window and small segments: warden's side cannot take the answer at once.
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    slow.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    slow.connect(("127.0.0.1", port))
    slow.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    # Not reading: warden waits for the socket to take more, and serves the others.
    t0 = time.monotonic()
    for _ in range(20):
        assert get(port, "/livez").status == 200
    assert time.monotonic() - t0 < 10
    # The rest of the answer waits in warden's send queue meanwhile.
    assert send_queue(port, slow.getsockname()[1]) > 0
    got = Reply(read_all(slow, timeout=30)).check_framing()
    slow.close()
    assert got.status == 200 and len(got.body) > 64 * 1024
    doc = json.loads(got.body)
    assert [x["name"] for x in doc["services"]] == ["keep"] + [f"s{i}" for i in range(n)]
    assert {x["state"] for x in doc["services"][1:]} == {"exited"}
    assert sup.stop() == 0, sup.err()


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n, "cannot open enough sockets"


def open_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    return socks


def test_a_thousand_connections(warden_pid1):
    """1,000 connections at once: the slots stay bounded, warden keeps reaping orphans and
    forwarding signals meanwhile, its memory stays bounded, and every connection ends."""
    h = warden_pid1
    raise_nofile(2300)
    go, done = h.path("go"), h.path("done")
    rec_log, rec_ready = h.path("signals"), h.path("rec-ready")
    orphans = helper("orphans")
    sup, port = start_sup(h, f"""
        [rec]
        command = {helper("sigrecord")} -r {q(rec_ready)} {q(rec_log)}
        forward_signals = USR1
        [maker]
        command = sh -c '{wait_file_sh(go, 60)}; exec {orphans} 50 --done {q(done)} --then-sleep 60'
        """.replace("\n        ", "\n"))
    wait_for(rec_ready.exists, 20, "sigrecord to be ready")
    wait_status(port, "/readyz", 200)
    wait_for(lambda: connections_of(sup.run.pid) == 0, 20, "the probes' connections to end")
    rss0, fds0, targets0 = vmrss_kb(sup.run.pid), fds(sup.run.pid), fd_targets(sup.run.pid)

    idle = open_many(port, 1000)
    try:
        go.write_text("")
        sup.kill(signal.SIGUSR1)
        wait_for(done.exists, 30, "the orphans to be made")
        sup.wait_event("orphan.reaped", count=50, timeout=30)
        wait_for(lambda: rec_log.exists() and rec_log.read_text().split() == ["10"], 30,
                 "SIGUSR1 forwarded to rec")
        # No zombie left among warden's children.
        def no_zombie():
            return all(p.status() != psutil.STATUS_ZOMBIE for p in sup.run.children())
        wait_for(no_zombie, 20, "no zombie below warden")
        assert connections_of(sup.run.pid) <= 64, "more connections held than slots"
        # New clients are still answered, the idle ones making room.
        assert get(port, "/readyz", timeout=20).status == 200

        # 1,000 real requests at once: each is answered with a whole 200, or closed.
        busy = open_many(port, 1000)
        sel = selectors.DefaultSelector()
        for s in busy:
            sel.register(s, selectors.EVENT_WRITE, b"")
        answers, ended = 0, 0
        deadline = time.monotonic() + 60
        while ended < len(busy):
            assert time.monotonic() < deadline, f"{len(busy) - ended} connections never ended"
            for key, ev in sel.select(timeout=1):
                s = key.fileobj
                if ev & selectors.EVENT_WRITE:
                    try:
                        s.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                    except OSError:
                        sel.unregister(s)
                        ended += 1
                        continue
                    sel.modify(s, selectors.EVENT_READ, b"")
                    continue
                try:
                    chunk = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    sel.modify(s, selectors.EVENT_READ, key.data + chunk)
                    continue
                sel.unregister(s)
                ended += 1
                if key.data:
                    got = Reply(key.data).check_framing()
                    assert (got.status, got.body) == (200, b"ok"), key.data
                    answers += 1
        assert answers > 0
        for s in busy:
            s.close()
        rss1 = vmrss_kb(sup.run.pid)
        assert rss1 - rss0 < 8 * 1024, f"VmRSS grew from {rss0} to {rss1} kB"
    finally:
        for s in idle:
            s.close()
    # Every connection ends, and its slot with it.
    wait_for(lambda: connections_of(sup.run.pid) == 0, 30, "warden to close every connection")
    # No fd leaked: the count comes back to what it was (or below: fds0 may have
    # caught a short-lived one, such as a reaped child's pidfd not yet closed).
    try:
        wait_for(lambda: fds(sup.run.pid) <= fds0, 20, f"warden's fds to come back to {fds0}")
    except AssertionError as e:
        raise AssertionError(f"{e}; open before: {targets0}; "
                             f"now: {fd_targets(sup.run.pid)}") from None
    assert get(port, "/livez").status == 200
    assert sup.stop(30) == 0, sup.err()


# --- bad settings -------------------------------------------------------------------

BAD = [
    ("localhost:9100", "not a numeric IPv4 address (names are not looked up)"),
    ("127.0.0.1", "expected ADDR:PORT"),
    ("9100", "expected ADDR:PORT"),
    ("127.0.0.1:0", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:65536", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:http", "the port must be a number from 1 to 65535"),
    ("::1:9100", "an IPv6 address goes between brackets: [IPV6]:PORT"),
    ("[::1]", "expected [IPV6]:PORT"),
    ("[localhost]:9100", "not an IPv6 address between the brackets"),
]


@pytest.mark.parametrize("value,why", BAD, ids=[b[0] for b in BAD])
def test_bad_http_flag(tmp_path, value, why):
    marker = tmp_path / "started"
    r = run_direct(["--http", value, "--", "touch", str(marker)])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: invalid --http '{value}': {why} {EXPECTED}\n{HINT}"
    assert not marker.exists()


@pytest.mark.parametrize("value,why", BAD, ids=[b[0] for b in BAD])
def test_bad_http_key(tmp_path, value, why):
    marker = tmp_path / "started"
    conf = tmp_path / "w.conf"
    conf.write_text(f"[warden]\n# the endpoint\nhttp = {value}\n[svc]\ncommand = touch {marker}\n")
    for args in (["--check", "-c", conf], ["-c", conf]):
        r = run_direct(args)
        assert r.returncode == EXIT_CONFIG
        assert r.stderr == f"warden: {conf}:3: invalid http '{value}': {why} {EXPECTED}\n"
    assert not marker.exists()


def test_port_in_use(warden_pid1):
    h = warden_pid1
    marker = h.path("started")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # strerror(EADDRINUSE) as glibc and musl (the static build) word it
        want = {f"warden: cannot listen on http 127.0.0.1:{port}: {why}\n"
                for why in ("Address already in use", "Address in use")}
        r = h.run(["--http", f"127.0.0.1:{port}", "--", "touch", marker])
        assert r.returncode == EXIT_CONFIG and r.err() in want, r.err()
        conf = h.path("w.conf")
        conf.write_text(f"[warden]\nhttp = 127.0.0.1:{port}\ncontrol = off\n"
                        f"[svc]\ncommand = touch {marker}\n")
        r = h.run(["-c", conf])
        assert r.returncode == EXIT_CONFIG and r.err() in want, r.err()
        # --http overrides the file's http =.
        r = h.run(["--http", f"127.0.0.1:{port}", "-c", conf])
        assert r.returncode == EXIT_CONFIG and r.err() in want, r.err()
    assert not marker.exists()


def test_reload_keeps_the_endpoint(warden_sub):
    h = warden_sub
    sup, port = start_sup(h, "[svc]\ncommand = sleep 60\n")
    other = free_port()
    ev = sup.reload(f"[warden]\nhttp = 127.0.0.1:{other}\n[svc]\ncommand = sleep 60\n")
    assert ev["event"] == "config.reloaded", ev
    assert "warden: reload: http takes effect at the next start; kept as it was\n" in sup.err()
    check(port, "/readyz/svc", 200, "ok")
    with pytest.raises(ConnectionRefusedError):
        get(other, "/livez")
    assert sup.stop() == 0, sup.err()


def test_http_flag_overrides_the_key(warden_sub):
    h = warden_sub
    port = free_port()
    conf = h.path("w.conf")
    conf.write_text("[warden]\nhttp = 127.0.0.1:1\ncontrol = off\n[svc]\ncommand = sleep 60\n")
    r = h.start(["--http", f"127.0.0.1:{port}", "-c", conf])
    wait_serving(port, r)
    # Served on the flag's port, not the key's; svc turns ready once started.
    wait_status(port, "/readyz/svc", 200)
    check(port, "/readyz/svc", 200, "ok")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
