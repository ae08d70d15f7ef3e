# SPDX-License-Identifier: MIT
"""Health checks (liveness), warden.conf(5) health = and warden(1) --health: exec:, tcp: and
http:// checks against real targets on loopback (a service's own check command, a listening
socket and an HTTP server of the test's own), flaky targets (one pass resets the count: no
service.unhealthy before health_failures failures in a row), hung targets (an exec check is
killed at its timeout and reaped, never a zombie; a tcp connect or an HTTP answer that never
comes times out), health_start_period, on_unhealthy = restart (a graceful stop with
stop_signal, then the restart policy: a new process) and none (events and state only), the
events' exact keys, the health in warden ctl status, the wake-ups a check costs, and bad
values refused with the file, the line and the reason."""

import http.server
import json
import os
import socket
import threading
import time

import psutil
import pytest

from conftest import USAGE_HINT, helper, read_signals, run_direct, wait_for
from ctllib import describe, ns_pid, request, run_ctl
from svlib import EXIT_CONFIG, Sup, parse_ts, poll_events, select, switches, wait_blocked

pytestmark = pytest.mark.timeout(90)

UNHEALTHY_KEYS = {"ts", "event", "service", "check", "reason", "failures"}
HEALTHY_KEYS = {"ts", "event", "service", "check"}


# --- targets ------------------------------------------------------------------------

class Listener:
    """A TCP listener on a loopback port that accepts and closes every connection (a thread),
    until closed; open() again listens on the same port."""

    def __init__(self, port=0):
        self.sock = None
        self.port = port
        self.open()

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.sock = s
        threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    @staticmethod
    def _serve(s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.close()

    def close(self):
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class HTTPTarget:
    """An HTTP server on a loopback port, answering every request with `code` (a number, or
    "hang": read the request and never answer), recording each request line and headers."""

    def __init__(self, code=200):
        self.code = code
        self.requests = []
        self.release = threading.Event()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                target.requests.append((self.requestline, dict(self.headers)))
                if target.code == "hang":
                    target.release.wait(30)
                    return
                body = b"ok\n" * 2000  # longer than what a check keeps of it
                self.send_response(target.code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    ls = []

    def make(port=0):
        ls.append(Listener(port))
        return ls[-1]
    yield make
    for x in ls:
        x.close()


@pytest.fixture
def http_target():
    ts = []

    def make(code=200):
        ts.append(HTTPTarget(code))
        return ts[-1]
    yield make
    for t in ts:
        t.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- reading warden -------------------------------------------------------------------

def status(sup):
    """name -> the service's object in a status reply of SUP's control socket."""
    r = request(str(sup.control_path), b"status\n")
    assert r["ok"], r
    return {s["name"]: s for s in r["services"]}


def health(sup, name):
    s = status(sup)[name]
    return s["health"], s["health_failures"], s["health_failed_total"], s["health_reason"]


def check_unhealthy(ev, service, check, reason, failures):
    assert set(ev) == UNHEALTHY_KEYS, ev
    assert (ev["service"], ev["check"], ev["reason"], ev["failures"]) == \
        (service, check, reason, failures), ev


def check_healthy(ev, service, check):
    assert set(ev) == HEALTHY_KEYS, ev
    assert (ev["service"], ev["check"]) == (service, check), ev


def lines(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


# --- exec: ------------------------------------------------------------------------------

def test_exec_check_unhealthy_and_back_without_restart(warden):
    """on_unhealthy = none: three failures in a row make the service unhealthy (an event, the
    state), one pass makes it healthy again; its process is never touched."""
    flag = warden.path("ok")
    flag.touch()
    check = f"exec:test -e {flag}"
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = {check}
        health_interval = 100ms
        on_unhealthy = none
        [plain]
        command = sleep 60
        """)
    check_healthy(sup.wait_event("service.healthy", "web"), "web", check)
    st = status(sup)
    pid = st["web"]["pid"]
    assert health(sup, "web")[:2] == ("healthy", 0)
    assert health(sup, "web")[3] is None
    # A service without a check has no health.
    assert (st["plain"]["health"], st["plain"]["health_failures"],
            st["plain"]["health_failed_total"], st["plain"]["health_reason"]) == (None, 0, 0, None)

    flag.unlink()
    check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check, "exit status 1", 3)
    h, failures, total, reason = health(sup, "web")
    assert h == "unhealthy" and failures >= 3 and total >= failures and reason == "exit status 1"
    r = run_ctl(["--control", sup.control_path, "status", "web"])
    assert r.returncode == 0, describe(r)
    assert r.stdout.splitlines()[1].split()[:4] == ["web", "running", "(unhealthy)", str(pid)], \
        r.stdout

    flag.touch()
    check_healthy(sup.wait_event("service.healthy", "web", count=2), "web", check)
    assert health(sup, "web")[:2] == ("healthy", 0)
    st = status(sup)["web"]
    assert (st["state"], st["pid"], st["restarts"]) == ("running", pid, 0), st
    # The dump has the same, and the check as configured.
    r = run_ctl(["--control", sup.control_path, "dump"])
    assert r.returncode == 0, describe(r)
    dumped = {x["name"]: x for x in json.loads(r.stdout)["services"]}
    assert (dumped["web"]["health"], dumped["web"]["health_check"]) == ("healthy", check)
    assert (dumped["plain"]["health"], dumped["plain"]["health_check"]) == (None, None)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    assert not select(evs, "service.stopping", "web", reason="unhealthy")
    assert len(select(evs, "service.unhealthy")) == 1
    # The checks are warden's own children, reaped as such: not orphans.
    assert not select(evs, "orphan.reaped")


def test_flaky_exec_check_resets_the_count(warden):
    """A check that fails twice, passes, fails twice, ...: with health_failures = 3 it is never
    unhealthy (each pass starts the count over), though it failed far more than 3 times."""
    cnt = warden.path("cnt")
    flaky = warden.path("flaky.sh")
    # The count is replaced, never rewritten in place: the test never reads it half-written.
    flaky.write_text(f'n=$(cat {cnt} 2>/dev/null || echo 0)\n'
                     f'echo $((n + 1)) > {cnt}.new && mv {cnt}.new {cnt}\n'
                     '[ $((n % 3)) -eq 2 ]\n')
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = exec:sh {flaky}
        health_interval = 50ms
        health_failures = 3
        """)
    wait_for(lambda: int((lines(cnt) or ["0"])[0]) >= 12, 20, "12 checks")
    h, failures, total, _ = health(sup, "web")
    assert h == "healthy" and failures <= 2 and total >= 7, (h, failures, total)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    assert not select(evs, "service.unhealthy"), select(evs, "service.unhealthy")
    # Healthy once (its first pass); failing below the threshold changes nothing.
    assert len(select(evs, "service.healthy", "web")) == 1
    assert len(select(evs, "service.starting", "web")) == 1


def test_hung_exec_check_is_killed_at_its_timeout_and_reaped(warden):
    """A check that never exits is killed (its process group) at health_timeout and reaped:
    once the next check has started, the last one is gone from the pid namespace's /proc,
    zombie or not; never two at once; the reason says it timed out."""
    pids = warden.path("pids")
    check = f"exec:sh -c 'echo $$ >> {pids}; exec sleep 61'"
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = {check}
        health_interval = 100ms
        health_timeout = 300ms
        health_failures = 2
        on_unhealthy = none
        """)
    ev = sup.wait_event("service.unhealthy", "web")
    check_unhealthy(ev, "web", check, "timed out after 300ms", 2)
    st = sup.select("service.starting", "web")[0]
    # Two checks, each of 300 ms, the second 100 ms after the first ended.
    assert parse_ts(ev["ts"]) - parse_ts(st["ts"]) >= 0.65, (st, ev)
    wait_for(lambda: len(lines(pids)) >= 4, 20, "four checks")
    # Read before /proc: a check written down before the last one was reaped before that
    # one started, whatever started since.
    earlier = [int(p) for p in lines(pids)[:-1]]
    in_ns, checks = set(), 0
    for p in sup.run.descendants():
        try:
            in_ns.add(ns_pid(p.pid))  # zombies included: they are still in /proc
            checks += p.status() != psutil.STATUS_ZOMBIE and p.cmdline() == ["sleep", "61"]
        except (OSError, psutil.NoSuchProcess):
            pass  # ended meanwhile
    assert not in_ns & set(earlier), f"earlier checks {earlier} still in /proc: {in_ns}"
    assert checks <= 1, f"{checks} checks at once"
    assert health(sup, "web")[3] == "timed out after 300ms"
    assert sup.stop() == 0, sup.err()
    assert not select(sup.all_events(), "orphan.reaped")


def test_start_period(warden_pid1):
    """Failures within health_start_period count as failed checks, not towards
    health_failures: unhealthy only after the period."""
    sup = Sup(warden_pid1, """
        [web]
        command = sleep 60
        health = exec:false
        health_interval = 100ms
        health_failures = 2
        health_start_period = 1500ms
        on_unhealthy = none
        """)
    ev = sup.wait_event("service.unhealthy", "web")
    check_unhealthy(ev, "web", "exec:false", "exit status 1", 2)
    st = sup.select("service.starting", "web")[0]
    assert parse_ts(ev["ts"]) - parse_ts(st["ts"]) >= 1.5, (st, ev)
    h, failures, total, _ = health(sup, "web")
    assert h == "unhealthy" and total > failures >= 2, (h, failures, total)
    assert sup.stop() == 0


# --- on_unhealthy = restart ---------------------------------------------------------------

def test_unhealthy_restarts_gracefully(warden):
    """on_unhealthy = restart (the default): stopped with its stop_signal (here USR1, which it
    exits 0 on), never SIGKILL, then the restart policy (on-failure: the run was not healthy)
    starts a new process, whose health is its own."""
    log, ready, flag = warden.path("sig.log"), warden.path("ready"), warden.path("ok")
    check = f"exec:test -e {flag}"
    sup = Sup(warden, f"""
        [web]
        command = {helper("sigrecord")} -x USR1 -c 0 -r {ready} {log}
        stop_signal = USR1
        health = {check}
        health_interval = 100ms
        restart_delay = 200ms
        """)
    first = sup.wait_event("service.starting", "web")["pid"]
    check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check, "exit status 1", 3)
    stop = sup.wait_event("service.stopping", "web")
    assert (stop["from"], stop["reason"], stop["pid"]) == ("running", "unhealthy", first), stop
    ex = sup.wait_event("service.exited", "web")
    assert (ex["pid"], ex["status"]) == (first, "exited with code 0"), ex
    assert sup.wait_event("service.backoff", "web")["from"] == "stopping"
    second = sup.wait_event("service.starting", "web", count=2)["pid"]
    assert second != first
    flag.touch()
    check_healthy(sup.wait_event("service.healthy", "web"), "web", check)
    st = status(sup)["web"]
    assert st["health"] == "healthy" and st["pid"] not in (None, first) and st["restarts"] >= 1
    assert read_signals(log)[:1] == [10], read_signals(log)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    assert not select(evs, "service.killed"), "the stop was not graceful"
    assert all(e["status"] == "exited with code 0" for e in select(evs, "service.exited", "web"))
    assert set(read_signals(log)) == {10}, read_signals(log)


def test_unhealthy_with_restart_never_fails(warden_pid1):
    sup = Sup(warden_pid1, """
        [web]
        command = sleep 60
        health = exec:false
        health_interval = 100ms
        health_failures = 1
        restart = never
        [other]
        command = sleep 60
        """)
    sup.wait_event("service.unhealthy", "web")
    f = sup.wait_event("service.failed", "web")
    assert f["from"] == "stopping", f
    ex = sup.select("service.exited", "web")
    assert len(ex) == 1 and ex[0]["signal"] == "SIGTERM", ex
    assert status(sup)["web"]["health"] == "unhealthy"
    assert sup.stop() == 0


# --- tcp: -------------------------------------------------------------------------------

def test_tcp_check(warden, listener):
    ls = listener()
    check = f"tcp:127.0.0.1:{ls.port}"
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = {check}
        health_interval = 100ms
        on_unhealthy = none
        """)
    check_healthy(sup.wait_event("service.healthy", "web"), "web", check)
    ls.close()
    check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check,
                    "connection refused", 3)
    assert health(sup, "web")[0::3] == ("unhealthy", "connection refused")
    listener(ls.port)
    check_healthy(sup.wait_event("service.healthy", "web", count=2), "web", check)
    assert sup.stop() == 0


def test_hung_tcp_target_times_out(warden_pid1):
    """A listener whose accept queue is full drops the SYN: the connect never completes, and
    the check fails at its timeout."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    # The one connection a backlog of 0 holds: the queue is full from here on.
    filler = socket.create_connection(("127.0.0.1", port), timeout=5)
    check = f"tcp:127.0.0.1:{port}"
    try:
        sup = Sup(warden_pid1, f"""
            [web]
            command = sleep 60
            health = {check}
            health_interval = 100ms
            health_timeout = 300ms
            health_failures = 2
            on_unhealthy = none
            """)
        check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check,
                        "timed out after 300ms", 2)
        assert sup.stop() == 0
    finally:
        filler.close()
        lsock.close()


# --- http:// ------------------------------------------------------------------------------

def test_http_check(warden, http_target):
    """GET PATH over HTTP/1.0 with a Host header and Connection: close; 200 to 399 pass
    (a redirect is fine), anything else fails with its code as the reason."""
    t = http_target(200)
    check = f"http://127.0.0.1:{t.port}/healthz?deep=1"
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = {check}
        health_interval = 100ms
        on_unhealthy = none
        """)
    check_healthy(sup.wait_event("service.healthy", "web"), "web", check)
    line, headers = t.requests[0]
    assert line == "GET /healthz?deep=1 HTTP/1.0", line
    assert headers.get("Host") == f"127.0.0.1:{t.port}", headers
    assert headers.get("Connection") == "close", headers
    t.code = 302
    n = len(t.requests)
    wait_for(lambda: len(t.requests) >= n + 4, 10, "four more checks")
    assert health(sup, "web")[:2] == ("healthy", 0)
    t.code = 500
    check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check, "HTTP 500", 3)
    t.code = 204
    check_healthy(sup.wait_event("service.healthy", "web", count=2), "web", check)
    assert sup.stop() == 0
    assert len(select(sup.all_events(), "service.unhealthy")) == 1


def test_hung_http_target_times_out(warden, http_target):
    """A server that accepts and reads the request but never answers: the check fails at its
    timeout; the connection is closed each time (no descriptor piles up in warden)."""
    t = http_target("hang")
    check = f"http://127.0.0.1:{t.port}/"
    sup = Sup(warden, f"""
        [web]
        command = sleep 60
        health = {check}
        health_interval = 100ms
        health_timeout = 300ms
        health_failures = 2
        on_unhealthy = none
        """)
    check_unhealthy(sup.wait_event("service.unhealthy", "web"), "web", check,
                    "timed out after 300ms", 2)
    wait_for(lambda: len(t.requests) >= 5, 20, "five checks")
    fds = len(os.listdir(f"/proc/{sup.run.pid}/fd"))
    n = len(t.requests)
    wait_for(lambda: len(t.requests) >= n + 3, 20, "three more checks")
    assert len(os.listdir(f"/proc/{sup.run.pid}/fd")) <= fds + 1
    assert sup.stop() == 0


# --- wake-ups -------------------------------------------------------------------------------

def test_checks_wake_warden_only_at_their_interval(warden_pid1):
    """No timer for a service without a check; one with a check every second wakes warden
    about once a second, for the check and nothing else."""
    cnt = warden_pid1.path("cnt")
    sup = Sup(warden_pid1, f"""
        [checked]
        command = sleep 60
        health = exec:sh -c 'echo x >> {cnt}'
        health_interval = 1s
        [quiet]
        command = sleep 60
        """, verbose=False)
    sup.wait_event("service.healthy", "checked")
    sup.wait_event("service.ready", "quiet")
    wait_blocked(sup.run.pid, "epoll", desc="warden waiting in its loop")
    before, n0 = switches(sup.run.pid), len(lines(cnt))
    time.sleep(4.0)  # the window: about 4 checks
    after, n1 = switches(sup.run.pid), len(lines(cnt))
    runs = n1 - n0
    assert 2 <= runs <= 6, f"{runs} checks in 4 s at a 1 s interval"
    assert after - before <= 10 * runs, f"{after - before} wake-ups for {runs} checks"
    assert sup.stop() == 0


# --- init mode: --health ----------------------------------------------------------------------

def start_init(h, spec, *cmd):
    sock, events = h.path("init.sock"), h.path("init.events")
    run = h.start(["-v", "--control", sock, "--events", events, "--health", spec, "--"] +
                  [str(c) for c in cmd])
    wait_for(lambda: os.path.exists(sock), 10, "the control socket")
    return run, str(sock), events


def wait_init_event(run, events, name, timeout=15):
    def pred():
        got = select(poll_events(events), name)
        if got:
            return got[0]
        assert run.running(), f"warden exited ({run.status()}): {run.err()[-2000:]!r}"
        return None
    return wait_for(pred, timeout, name)


@pytest.mark.parametrize("kind", ["exec", "tcp", "http"])
def test_init_mode_health(warden, kind, listener, http_target):
    """--health in init mode checks the service main like any other: the first check as soon
    as it runs, its health in status."""
    if kind == "exec":
        flag = warden.path("ok")
        flag.touch()
        spec = f"exec:test -e {flag}"
    elif kind == "tcp":
        spec = f"tcp:localhost:{listener().port}"
    else:
        spec = f"http://localhost:{http_target(200).port}/"
    run, sock, events = start_init(warden, spec, "sleep", "60")
    check_healthy(wait_init_event(run, events, "service.healthy"), "main", spec)
    s = request(sock, b"status\n")["services"][0]
    assert (s["name"], s["health"], s["health_failures"], s["health_reason"]) == \
        ("main", "healthy", 0, None), s
    run.kill(15)
    assert run.wait(20) == 128 + 15


def test_init_mode_unhealthy_stops_main(warden_pid1):
    """Init mode runs its command once: an unhealthy main is stopped gracefully (SIGTERM) and
    warden exits with its status. At the default interval (10s): three failures take 20 s."""
    log, ready = warden_pid1.path("sig.log"), warden_pid1.path("ready")
    missing = warden_pid1.path("missing")
    spec = f"exec:test -e {missing}"
    run, sock, events = start_init(warden_pid1, spec, helper("sigrecord"), "-c", "3", "-r",
                                   ready, log)
    ev = wait_init_event(run, events, "service.unhealthy", timeout=40)
    check_unhealthy(ev, "main", spec, "exit status 1", 3)
    assert run.wait(20) == 3
    assert read_signals(log) == [15]
    evs = poll_events(events)
    st = select(evs, "service.starting", "main")[0]
    assert 19 <= parse_ts(ev["ts"]) - parse_ts(st["ts"]) <= 30, "checks at 0, 10 and 20 s"
    assert select(evs, "service.stopping", "main")[0]["reason"] == "unhealthy"
    assert not select(evs, "service.healthy")


@pytest.mark.parametrize("spec,why", [
    ("ping:x", "expected exec:COMMAND, tcp:HOST:PORT or http://HOST:PORT/PATH"),
    ("exec:", "no command"),
    ("tcp:db.example:5432", "expected tcp:HOST:PORT (HOST an IP address or localhost)"),
    ("https://127.0.0.1/", "https is not supported: the check speaks plain HTTP"),
])
def test_init_mode_bad_health(spec, why):
    r = run_direct(["--health", spec, "--", "true"])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: invalid --health '{spec}': {why}\n{USAGE_HINT}\n"
    assert r.stdout == ""


def test_health_flag_needs_a_command(tmp_path):
    p = tmp_path / "w.conf"
    p.write_text("[web]\ncommand = sleep 1\n")
    r = run_direct(["--health", "exec:true", "-c", str(p)])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: --health applies to a COMMAND, not with -c\n{USAGE_HINT}\n"


# --- bad config ----------------------------------------------------------------------------

# (lines after "[web]\ncommand = sleep 1\n", line of the error, the message after "FILE:LINE: ")
BAD = {
    "kind": ("health = ping:127.0.0.1", 3,
             "invalid health 'ping:127.0.0.1': expected exec:COMMAND, tcp:HOST:PORT or "
             "http://HOST:PORT/PATH"),
    "exec-empty": ("health = exec:", 3, "invalid health 'exec:': no command"),
    "exec-quote": ("health = exec:sh -c 'true", 3,
                   "invalid health 'exec:sh -c 'true': unterminated single quote"),
    "tcp-name": ("health = tcp:db.example:5432", 3,
                 "invalid health 'tcp:db.example:5432': expected tcp:HOST:PORT (HOST an IP "
                 "address or localhost)"),
    "tcp-no-port": ("health = tcp:127.0.0.1", 3,
                    "invalid health 'tcp:127.0.0.1': expected tcp:HOST:PORT (HOST an IP "
                    "address or localhost)"),
    "http-port-0": ("health = http://127.0.0.1:0/", 3,
                    "invalid health 'http://127.0.0.1:0/': expected http://HOST:PORT/PATH "
                    "(HOST an IP address or localhost)"),
    "http-space": ("health = http://127.0.0.1:80/a b", 3,
                   "invalid health 'http://127.0.0.1:80/a b': its path holds a space, a control "
                   "character or '#' (encode them as %XX)"),
    "https": ("health = https://127.0.0.1/", 3,
              "invalid health 'https://127.0.0.1/': https is not supported: the check speaks "
              "plain HTTP"),
    "interval-0": ("health = exec:true\nhealth_interval = 0", 4,
                   "invalid health_interval '0' (it must be more than 0)"),
    "timeout-word": ("health = exec:true\nhealth_timeout = soon", 4,
                     "invalid duration 'soon' for health_timeout (expected e.g. 500ms, 10s, 2m)"),
    "start-period": ("health = exec:true\nhealth_start_period = -1s", 4,
                     "invalid duration '-1s' for health_start_period (expected e.g. 500ms, 10s, "
                     "2m)"),
    "failures-0": ("health = exec:true\nhealth_failures = 0", 4,
                   "invalid health_failures '0' (expected a number of checks, 1 or more)"),
    "on-unhealthy": ("health = exec:true\non_unhealthy = stop", 4,
                     "invalid on_unhealthy 'stop' (expected restart or none)"),
    "duplicate": ("health = exec:true\nhealth = exec:false", 4,
                  "duplicate key 'health' in [web]"),
    "without-health": ("health_interval = 1s", 1, "service [web]: health_interval needs health"),
    "on-unhealthy-without-health": ("on_unhealthy = none", 1,
                                    "service [web]: on_unhealthy needs health"),
    "oneshot": ("type = oneshot\nhealth = exec:true", 1,
                "service [web]: a oneshot cannot have health (it is checked while it runs, once "
                "ready)"),
    "typo": ("health_intervall = 1s", 3,
             "unknown key 'health_intervall' in [web] (did you mean 'health_interval'?)"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_health_config(tmp_path, case):
    extra, line, msg = BAD[case]
    p = tmp_path / "w.conf"
    p.write_text(f"[web]\ncommand = sleep 1\n{extra}\n")
    r = run_direct(["--check", "-c", str(p)])
    assert r.returncode == EXIT_CONFIG, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr == f"warden: {p}:{line}: {msg}\n"


def test_good_health_config(tmp_path):
    p = tmp_path / "w.conf"
    p.write_text("""[a]
command = sleep 1
health = exec:sh -c 'curl -sf http://localhost/'
[b]
command = sleep 1
health = tcp:[::1]:5432
health_interval = 2s
health_timeout = 500ms
health_failures = 1
health_start_period = 30s
on_unhealthy = none
[c]
command = sleep 1
health = http://localhost/
on_unhealthy = restart
[d]
command = sleep 1
health = http://[::1]:8080/live?x=%20
""")
    r = run_direct(["--check", "-c", str(p)])
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{p}: configuration ok, 4 services\n", "")
