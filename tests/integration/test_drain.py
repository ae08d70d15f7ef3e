# SPDX-License-Identifier: MIT
"""Drain on a stop request: shutdown_delay ([warden] key, --shutdown-delay). From the
request on warden is shutting down (warden ctl status says so) while its services keep
running, unsignalled, for the delay; then they stop as usual. A second request skips
the delay, shutdown_timeout counts it, and a shutdown that an ending service caused has
nothing to drain. In init mode and in supervisor mode, as PID 1 and as a subreaper."""

import json
import signal
import time

import pytest

from conftest import helper, q, read_signals, sh, wait_for
from ctllib import run_ctl
from svlib import EXIT_ESCALATED, Sup, parse_ts, poll_events, select

pytestmark = pytest.mark.timeout(120)

DELAY_MS = 1500


class Init:
    """`warden --events EV --control SOCK ARGS -- COMMAND` and its events."""

    def __init__(self, h, args, command):
        self.h = h
        self.events_path = h.path("init.events")
        self.sock = h.path("init.sock")
        self.run = h.start(["--events", self.events_path, "--control", self.sock] + list(args) +
                           ["--"] + list(command))

    def events(self):
        return poll_events(self.events_path)

    def wait_event(self, event, timeout=15, **fields):
        def pred():
            got = select(self.events(), event, **fields)
            if got:
                return got[0]
            if not self.run.running():
                raise AssertionError(f"warden exited ({self.run.status()}) before {event}: "
                                     f"{self.run.err()[-2000:]!r}")
            return None
        return wait_for(pred, timeout, f"{event} {fields}")

    def kill(self, sig):
        self.run.kill(sig)

    def wait(self, timeout=20):
        return self.run.wait(timeout)


def recorder(h, name):
    """A sigrecord command line that exits on SIGTERM, its log and ready file."""
    log, ready = h.path(f"{name}.log"), h.path(f"{name}.ready")
    return [helper("sigrecord"), "-t", "60", "-r", ready, log], log, ready


def ctl_status(sock):
    """`warden ctl status` (the table) and `--json` (parsed) of the warden at SOCK."""
    table = run_ctl(["--control", sock, "status"])
    assert table.returncode == 0, table.stderr
    raw = run_ctl(["--control", sock, "status", "--json"])
    assert raw.returncode == 0, raw.stderr
    return table.stdout, json.loads(raw.stdout)


def check_drain(events, stop_event_service):
    """The delay as events saw it: shutdown.started with delay_ms, shutdown.drained after
    it, and the first stop only after that."""
    started = select(events, "shutdown.started")[0]
    drained = select(events, "shutdown.drained")[0]
    stopping = select(events, "service.stopping", stop_event_service)[0]
    assert started["requested"] is True and started["delay_ms"] == DELAY_MS, started
    assert drained["reason"] == "delay over" and drained["waited_ms"] >= DELAY_MS, drained
    t0 = parse_ts(started["ts"])
    assert parse_ts(drained["ts"]) - t0 >= DELAY_MS / 1000 - 0.002
    assert parse_ts(stopping["ts"]) >= parse_ts(drained["ts"])


def test_init_mode_drains(warden):
    cmd, log, ready = recorder(warden, "main")
    w = Init(warden, ["--shutdown-delay", f"{DELAY_MS}ms"], cmd)
    wait_for(ready.exists, 15, "the recorder to be ready")
    w.wait_event("service.ready")
    child = w.run.main_child()
    w.kill(signal.SIGTERM)
    w.wait_event("shutdown.started")
    # Draining: warden says so at once, the command runs and has received nothing.
    table, raw = ctl_status(w.sock)
    assert raw["warden"]["shutting_down"] is True and raw["warden"]["draining"] is True, raw
    assert 0 < raw["warden"]["drain_left_ms"] <= DELAY_MS, raw
    assert table.splitlines()[0].startswith(
        "warden is shutting down: draining, not ready; services stop in "), table
    assert raw["services"][0]["state"] == "running" and raw["services"][0]["pid"], raw
    assert not select(w.events(), "shutdown.drained"), "the delay ended before status said so"
    assert read_signals(log) == [] and child.is_running()
    # Then it stops as it would have without the delay.
    assert w.wait(20) == 0
    assert read_signals(log) == [signal.SIGTERM]
    check_drain(w.events(), "main")


def test_supervisor_mode_drains(warden):
    a, alog, aready = recorder(warden, "a")
    b, blog, bready = recorder(warden, "b")
    sup = Sup(warden, f"""
        [warden]
        shutdown_delay = {DELAY_MS}ms
        [a]
        command = {" ".join(q(x) for x in a)}
        [b]
        command = {" ".join(q(x) for x in b)}
        after = a
        """)
    wait_for(lambda: aready.exists() and bready.exists(), 15, "both recorders to be ready")
    sup.kill(signal.SIGTERM)
    sup.wait_event("shutdown.started")
    table, raw = ctl_status(sup.control_path)
    assert raw["warden"]["draining"] is True and raw["warden"]["shutting_down"] is True, raw
    assert "draining" in table.splitlines()[0], table
    assert {s["name"]: s["state"] for s in raw["services"]} == {"a": "running", "b": "running"}
    # Not ready: requests that act are refused as in any shutdown.
    r = run_ctl(["--control", sup.control_path, "restart", "a"])
    assert r.returncode == 1 and "shutting down" in r.stderr, r
    assert read_signals(alog) == [] and read_signals(blog) == []
    assert sup.wait(20) == 0
    assert read_signals(alog) == [signal.SIGTERM] and read_signals(blog) == [signal.SIGTERM]
    evs = sup.all_events()
    check_drain(evs, "b")
    # b is after a: it stops first, and a once b is down, as without a delay.
    names = [(e["event"], e.get("service")) for e in evs]
    assert names.index(("service.stopped", "b")) < names.index(("service.stopping", "a"))


@pytest.mark.parametrize("how", ["init", "supervisor"])
def test_second_request_skips_the_delay(warden, how):
    cmd, log, ready = recorder(warden, "main")
    if how == "init":
        w = Init(warden, ["--shutdown-delay", "60s"], cmd)
    else:
        w = Sup(warden, f"""
            [warden]
            shutdown_delay = 60s
            [main]
            command = {" ".join(q(x) for x in cmd)}
            """)
    wait_for(ready.exists, 15, "the recorder to be ready")
    t0 = time.monotonic()
    w.kill(signal.SIGTERM)
    w.wait_event("shutdown.started", delay_ms=60000)
    w.kill(signal.SIGINT)
    code = w.wait(20)
    assert time.monotonic() - t0 < 15
    # Forced, as a second request always is: SIGKILL, no stop signal first.
    assert code == (128 + signal.SIGKILL if how == "init" else EXIT_ESCALATED)
    assert read_signals(log) == []
    evs = w.events()
    drained = select(evs, "shutdown.drained")
    assert len(drained) == 1 and drained[0]["reason"] == "SIGINT again", drained
    assert select(evs, "shutdown.finished")[0]["escalated"] is True


@pytest.mark.parametrize("how", ["init", "supervisor"])
def test_shutdown_timeout_counts_the_delay(warden, how):
    cmd, log, ready = recorder(warden, "main")
    if how == "init":
        w = Init(warden, ["--shutdown-delay", "60s", "--shutdown-timeout", "1s"], cmd)
    else:
        w = Sup(warden, f"""
            [warden]
            shutdown_delay = 60s
            shutdown_timeout = 1s
            [main]
            command = {" ".join(q(x) for x in cmd)}
            """)
    wait_for(ready.exists, 15, "the recorder to be ready")
    t0 = time.monotonic()
    w.kill(signal.SIGTERM)
    assert w.wait(20) == EXIT_ESCALATED
    took = time.monotonic() - t0
    assert 0.9 < took < 15, took
    # The delay never ended on its own: the timeout killed what was still draining.
    assert read_signals(log) == []
    drained = select(w.events(), "shutdown.drained")
    assert [d["reason"] for d in drained] == \
        ["the shutdown took longer than shutdown_timeout"], drained


@pytest.mark.parametrize("how", ["init", "supervisor"])
def test_ending_service_shutdown_does_not_drain(warden, how):
    """The command (an essential service) exiting: nothing is left to drain."""
    if how == "init":
        w = Init(warden, ["--shutdown-delay", "60s"], sh("exit 3"))
    else:
        w = Sup(warden, """
            [warden]
            shutdown_delay = 60s
            [main]
            command = sh -c 'exit 3'
            restart = never
            essential = yes
            """)
    t0 = time.monotonic()
    assert w.wait(20) == 3
    assert time.monotonic() - t0 < 15
    evs = w.events()
    started = select(evs, "shutdown.started")[0]
    assert started["delay_ms"] == 0 and started["requested"] is False, started
    assert not select(evs, "shutdown.drained")


def test_service_ending_during_the_delay_ends_it(warden):
    """Once no service is left running there is nothing to wait for."""
    go = warden.path("go")
    ready = warden.path("ready")
    w = Init(warden, ["--shutdown-delay", "60s"],
             sh(f"trap '' TERM; touch {q(ready)}; "
                f"while [ ! -e {q(go)} ]; do sleep 0.02; done; exit 4"))
    wait_for(ready.exists, 15, "the command to be ready")
    t0 = time.monotonic()
    w.kill(signal.SIGTERM)
    w.wait_event("shutdown.started", delay_ms=60000)
    go.touch()
    assert w.wait(20) == 4
    assert time.monotonic() - t0 < 15
    drained = select(w.events(), "shutdown.drained")
    assert [d["reason"] for d in drained] == ["no service is left running"], drained


def test_service_crashing_during_the_delay_is_not_restarted(warden):
    crash = warden.path("crash")
    cmd, log, ready = recorder(warden, "steady")
    sup = Sup(warden, f"""
        [warden]
        shutdown_delay = 60s
        shutdown_timeout = 90s
        [steady]
        command = {" ".join(q(x) for x in cmd)}
        [flaky]
        command = sh -c 'while [ ! -e {crash} ]; do sleep 0.02; done; exit 1'
        restart = always
        restart_delay = 10ms
        """)
    wait_for(ready.exists, 15, "the recorder to be ready")
    sup.wait_event("service.ready", "flaky")
    sup.kill(signal.SIGTERM)
    sup.wait_event("shutdown.started")
    crash.touch()
    sup.wait_event("service.stopped", "flaky")
    # The steady one still drains; the flaky one stays down.
    assert sup.running() and read_signals(log) == []
    assert len(sup.select("service.starting", "flaky")) == 1
    sup.kill(signal.SIGTERM)
    assert sup.wait(20) == EXIT_ESCALATED
