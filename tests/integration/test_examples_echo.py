# SPDX-License-Identifier: MIT
"""The echo server example (examples/echo) under warden, stopped the way docker stops a
container: SIGTERM to warden, SIGKILL after the grace. With 200 clients in flight, each
waiting for a delayed reply, the server must stop accepting (a new connection is refused),
answer every request it had in full, and exit 0 long before the SIGKILL; warden exits 0 and
leaves nothing behind.

The example binary is found in WARDEN_EXAMPLES, or else in the build directory's examples/
next to WARDEN_HELPERS (build/tests/helpers -> build/examples)."""

import errno
import os
import re
import selectors
import signal
import socket
import threading
import time

import pytest

from conftest import HELPERS, read_events, wait_for
from svlib import parse_ts, poll_events, select

pytestmark = pytest.mark.timeout(120)

IN_FLIGHT = 200
DELAY_MS = 1500
GRACE_S = 10  # docker stop's default


def examples_dir():
    d = os.environ.get("WARDEN_EXAMPLES") or os.path.join(HELPERS, os.pardir, os.pardir,
                                                          "examples")
    return os.path.normpath(d)


def echo_server():
    path = os.path.join(examples_dir(), "echo-server")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the echo example {path!r} is missing: build examples/ "
                    f"(or set WARDEN_EXAMPLES)")
    return path


def expected_reply(line):
    body = line + "\n"
    return (f"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}").encode()


class Client:
    def __init__(self, n, port, delay_ms):
        self.n = n
        self.line = f"GET /c{n}?delay={delay_ms} HTTP/1.0"
        self.req = (self.line + "\r\n").encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sent = 0
        self.got = b""
        self.outcome = None
        self.t_start = time.monotonic()
        self.t_end = None
        r = self.sock.connect_ex(("127.0.0.1", port))
        if r not in (0, errno.EINPROGRESS):
            self.finish("refused" if r == errno.ECONNREFUSED else f"connect:{errno.errorcode[r]}")

    def finish(self, outcome):
        self.outcome = outcome
        self.t_end = time.monotonic()
        self.sock.close()


class Load:
    """Keeps IN_FLIGHT clients in flight against 127.0.0.1:PORT from a thread: each sends one
    delayed request and reads the reply to EOF; a client that is answered is replaced by a
    new one until stop_replacing(). Outcomes: "ok" (the whole expected reply), "refused"
    (connect() refused), "dropped" (connected, but the reply was cut or wrong)."""

    def __init__(self, port, n=IN_FLIGHT, delay_ms=DELAY_MS):
        self.port = port
        self.n = n
        self.delay_ms = delay_ms
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.done = []
        self.open = 0
        self.sent = 0
        self.next = 0
        self.replacing = True
        self.stopped = False
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _start_one(self):
        c = Client(self.next, self.port, self.delay_ms)
        self.next += 1
        if c.outcome:
            self._finished(c)
            return
        self.open += 1
        self.sel.register(c.sock, selectors.EVENT_WRITE, c)

    def _finished(self, c):
        with self.lock:
            self.done.append(c)

    def _close(self, c, outcome):
        self.sel.unregister(c.sock)
        self.open -= 1
        c.finish(outcome)
        self._finished(c)
        if self.replacing:
            self._start_one()

    def _step(self, c, ev):
        if c.sent < len(c.req):
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close(c, "refused" if err == errno.ECONNREFUSED else
                            f"connect:{errno.errorcode.get(err, err)}")
                return
            try:
                c.sent += c.sock.send(c.req[c.sent:])
            except BlockingIOError:
                return
            except OSError as e:
                # Connected, then the request could not be sent: the server dropped it.
                self._close(c, f"dropped:send:{e.errno}")
                return
            if c.sent == len(c.req):
                with self.lock:
                    self.sent += 1
                self.sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        try:
            data = c.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self._close(c, f"dropped:recv:{e.errno}")
            return
        if data:
            c.got += data
            return
        self._close(c, "ok" if c.got == expected_reply(c.line) else "dropped")

    def _run(self):
        try:
            for _ in range(self.n):
                self._start_one()
            deadline = time.monotonic() + 90
            while (self.open or self.replacing) and not self.stopped:
                if time.monotonic() > deadline:
                    raise AssertionError(f"load: {self.open} clients still open after 90 s")
                for key, ev in self.sel.select(timeout=0.1):
                    self._step(key.data, ev)
        except Exception as e:  # reported by join()
            self.error = e

    def stop_replacing(self):
        self.replacing = False

    def join(self, timeout=60):
        """Waits until every client has its outcome; returns them all."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.stopped = True
            raise AssertionError(f"load: still running after {timeout} s; {self.open} open")
        if self.error:
            raise self.error
        return list(self.done)

    def count(self, outcome):
        with self.lock:
            return sum(1 for c in self.done if c.outcome == outcome)

    def sent_count(self):
        with self.lock:
            return self.sent


def probe(port, timeout=5):
    """One new connection: "refused", or "accepted" (then closed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return "accepted"
    except ConnectionRefusedError:
        return "refused"
    finally:
        s.close()


def test_echo_drains_under_docker_stop(warden):
    port_file = warden.path("echo.port")
    events = warden.path("echo.events")
    conf = warden.path("echo.conf")
    # Readiness over the notify protocol, and a watchdog shorter than the test: the server
    # must send READY=1 and keep sending WATCHDOG=1, or warden stops it.
    conf.write_text("[main]\nready = notify\nwatchdog = 1s\n")
    run = warden.start(["--events", events, "-c", conf, "--", echo_server(),
                        "--port-file", port_file, "--drain-timeout", "8000",
                        "--max-conns", "1024"])
    wait_for(lambda: select(poll_events(events), "service.ready", "main"), 15,
             "warden to see the echo server ready")
    port = int(port_file.read_text())
    server = run.main_child()
    # READY=1 and STATUS= are two datagrams: the status may come a moment later.
    status = wait_for(lambda: select(poll_events(events), "service.status", "main"), 10,
                      "the server's STATUS=")
    assert [e["status"] for e in status] == [f"serving on 127.0.0.1:{port}"], status
    assert f"serving on 127.0.0.1:{port}, watchdog on" in run.err(), run.err()

    load = Load(port)
    # A full round of replies, so that replacements keep 200 in flight, then a second round
    # sent: the SIGTERM finds 200 requests waiting for their replies.
    wait_for(lambda: load.count("ok") >= IN_FLIGHT, 30, f"{IN_FLIGHT} replies")
    wait_for(lambda: load.sent_count() >= 2 * IN_FLIGHT, 30, f"{2 * IN_FLIGHT} requests sent")
    assert load.count("ok") < load.sent_count(), "no request in flight at the SIGTERM"

    t_term = time.monotonic()
    run.kill(signal.SIGTERM)
    # The server says when it has stopped accepting; from then on a connection is refused.
    wait_for(lambda: "not accepting" in run.err(), 10, "the server to stop accepting")
    load.stop_replacing()
    probes = [probe(port) for _ in range(20)]
    assert probes == ["refused"] * 20, probes

    try:
        run.wait(GRACE_S - (time.monotonic() - t_term))
        killed = False
    except AssertionError:
        run.kill(signal.SIGKILL)
        run.wait(10)
        killed = True
    took = time.monotonic() - t_term
    assert not killed, f"warden had not exited {GRACE_S} s after SIGTERM: {run.err()[-2000:]}"

    clients = load.join()
    outcomes = {}
    for c in clients:
        outcomes[c.outcome] = outcomes.get(c.outcome, 0) + 1
    dropped = [(c.n, c.outcome, c.got[:80]) for c in clients
               if c.outcome not in ("ok", "refused")]
    assert dropped == [], f"{len(dropped)} requests dropped ({outcomes}): {dropped[:10]}"
    # Every request sent was answered in full; only connections made after the stop were
    # refused, and none before it.
    assert load.count("ok") == load.sent_count() >= 2 * IN_FLIGHT, outcomes
    assert all(c.t_end >= t_term for c in clients if c.outcome == "refused")

    # The server drained and exited 0 well before the SIGKILL would have come; warden too.
    assert run.returncode == 0 and run.status() == "exited 0", (run.status(), run.err())
    assert took < DELAY_MS / 1000 + 4 < GRACE_S, took
    evs = read_events(events)
    exited = select(evs, "service.exited", "main")
    assert len(exited) == 1 and exited[0]["code"] == 0 and exited[0]["signal"] is None, exited
    assert parse_ts(exited[0]["ts"]) - parse_ts(select(evs, "shutdown.started")[0]["ts"]) \
        < DELAY_MS / 1000 + 3
    assert not select(evs, "service.killed")
    # It said it was stopping, and it never missed a keep-alive while it served and drained.
    assert select(evs, "service.notify_stopping", "main"), evs
    assert [e["status"] for e in select(evs, "service.status", "main")][-1] == "draining"
    assert not [e for e in evs if "watchdog" in str(e.get("reason", ""))], evs
    # Its shutdown steps, in order, each ok; then it exited with the code it chose.
    err = run.err()
    steps = [line for line in err.splitlines() if line.startswith("shutdown: ")]
    assert [line.split(":")[1].strip() for line in steps] == [
        "stop accepting", "drain connections", "stop the watchdog", "close the server"], err
    assert all(": ok in " in line for line in steps), err
    assert "0 failed, 0 cut by the deadline" in err, err
    # Nothing left behind: no zombie, no stray.
    assert not select(evs, "orphan.reaped"), select(evs, "orphan.reaped")
    assert not server.is_running() or server.status() != "zombie"
    assert warden.strays() == []


def start_plain(warden, drain_ms):
    """The server under warden in init mode, ready by notify; returns (run, port, server)."""
    port_file = warden.path("echo.port")
    events = warden.path("echo.events")
    run = warden.start(["--events", events, "--ready", "notify", "--", echo_server(),
                        "--port-file", port_file, "--drain-timeout", str(drain_ms)])
    wait_for(lambda: select(poll_events(events), "service.ready", "main"), 15,
             "warden to see the echo server ready")
    return run, int(port_file.read_text()), run.main_child()


@pytest.mark.parametrize("how", ["deadline", "second signal"])
def test_echo_drain_is_bounded(warden_pid1, how):
    """A drain that cannot finish ends at its deadline, or at once on a second SIGTERM: the
    connections still waiting are closed unanswered and the server exits 1 (not 0: requests
    were dropped) long before the clients' delay. At the deadline the steps after the drain
    still run; a second signal means "stop waiting": they are skipped, as a second Ctrl-C
    ends a Go service at once."""
    run, port, server = start_plain(warden_pid1, 500 if how == "deadline" else 30000)
    load = Load(port, n=20, delay_ms=20000)
    load.stop_replacing()
    wait_for(lambda: load.sent_count() == 20, 15, "20 requests sent")
    t0 = time.monotonic()
    server.send_signal(signal.SIGTERM)
    if how == "second signal":
        wait_for(lambda: "not accepting" in run.err(), 10, "the server to stop accepting")
        server.send_signal(signal.SIGTERM)
    assert run.wait(10) == 1, run.err()
    assert time.monotonic() - t0 < 5
    clients = load.join()
    assert all(c.outcome.startswith("dropped") and c.got == b"" for c in clients), \
        [(c.outcome, c.got) for c in clients]
    err = run.err()
    after = ("stop the watchdog", "close the server")
    if how == "deadline":
        assert "shutdown: drain connections: failed (code -110)" in err, err
        assert ", 20 cut by the deadline" in err, err
        for step in after:
            assert f"shutdown: {step}: ok in " in err, err
    else:
        # Cut by the step itself (-ECANCELED), abandoned by the orchestrator, or skipped when
        # the second signal came before it began: whichever saw the escalation first.
        assert re.search(r"^shutdown: drain connections: (failed \(code -125\)|"
                         r"abandoned at escalation|skipped)", err, re.M), err
        for step in after:
            assert f"shutdown: {step}: skipped" in err, err
