# SPDX-License-Identifier: MIT
"""libwarden's notify client (warden/notify.h, through the wdnotify helper) under warden:
readiness and STATUS= in supervisor mode (ready = notify) and in init mode (--ready notify),
each message understood, and the watchdog pinger keeping a service with a watchdog alive
until it stops pinging."""

import re

import pytest

from conftest import wait_for
from ctllib import EXIT_OK, describe, run_ctl
from svlib import Sup, need, parse_ts, poll_events, select, sleep_until

pytestmark = pytest.mark.timeout(60)


def wdn(*steps):
    """A service command running the wdnotify helper with STEPS (each quoted)."""
    return " ".join([need("wdnotify")] + [f"'{s}'" for s in steps])


def ctl_status_line(sock, service):
    """The line of `warden ctl status` for SERVICE (the human-readable table)."""
    r = run_ctl(["--control", str(sock), "status"])
    assert r.returncode == EXIT_OK, describe(r)
    for line in r.stdout.splitlines():
        if line.split()[:1] == [service]:
            return line
    raise AssertionError(f"no line for {service} in: {r.stdout!r}")


def test_ready_status_and_messages(warden):
    """Supervisor mode: READY=1 makes the service ready (not before), each STATUS= is an
    event and shows in `warden ctl status`, STOPPING/RELOADING are events, and every send
    reports 1 (sent)."""
    sup = Sup(warden, f"""
        [web]
        command = {wdn("env", "status:warming up", "sleep:300", "ready", "extend:1000000",
                       "reloading", "ready", "status:serving 3 clients", "stopping",
                       "status:still serving", "sleep:30000")}
        ready = notify
        ready_timeout = 10s
        """)
    rd = sup.wait_event("service.ready", "web")
    st = sup.select("service.starting", "web")[0]
    assert parse_ts(rd["ts"]) - parse_ts(st["ts"]) >= 0.25
    first = sup.wait_event("service.status", "web")
    assert first["status"] == "warming up"
    assert parse_ts(first["ts"]) <= parse_ts(rd["ts"])
    sup.wait_event("service.notify_reloading", "web")
    sup.wait_event("service.notify_stopping", "web")
    sup.wait_event("service.status", "web", count=3)
    statuses = [e["status"] for e in sup.select("service.status", "web")]
    assert statuses == ["warming up", "serving 3 clients", "still serving"], statuses
    out = wait_for(lambda: "sent status:still serving" in sup.out() and sup.out(), 10,
                   "the helper's last send")
    assert "notify-error" not in out, out
    m = re.search(r"^web \| env socket=(\S+) enabled=(\S+) usec=(\d+)$", out, re.M)
    assert m and m.group(1).startswith("@") and m.group(2) == "0", out
    line = wait_for(lambda: (lambda l: "still serving" in l and l)(
        ctl_status_line(sup.control_path, "web")), 10, "STATUS= in warden ctl status")
    assert line.split()[1] == "running", line
    assert sup.stop() == 0, sup.err()


def test_pinger_keeps_a_watchdog_alive(warden_pid1):
    """watchdog = 1s: the pinger sends WATCHDOG=1 every 500 ms for 4 s and the service
    stays up (4 watchdog periods); once it stops pinging, warden stops it for the watchdog,
    about 1 s later."""
    sup = Sup(warden_pid1, f"""
        [wd]
        command = {wdn("env", "ready", "ping:4000", "status:quiet now", "sleep:30000")}
        ready = notify
        watchdog = 1s
        restart = never
        stop_timeout = 5s
        """)
    rd = sup.wait_event("service.ready", "wd")
    quiet = sup.wait_event("service.status", "wd", timeout=15)
    assert quiet["status"] == "quiet now"
    stopping = sup.wait_event("service.stopping", "wd", timeout=10)
    assert stopping["reason"] == "watchdog timeout", stopping
    alive = parse_ts(stopping["ts"]) - parse_ts(rd["ts"])
    # Not while the pinger ran (4 s from ready), but soon after it stopped.
    assert 3.9 <= alive <= 10, f"stopped {alive:.2f} s after ready"
    assert 0 <= parse_ts(stopping["ts"]) - parse_ts(quiet["ts"]) <= 3, (stopping, quiet)
    out = sup.out()
    assert re.search(r"^wd \| env socket=@\S+ enabled=1 usec=1000000$", out, re.M), out
    assert re.search(r"^wd \| ping started=1 interval=500000$", out, re.M), out
    assert re.search(r"^wd \| ping done error=0$", out, re.M), out
    sup.wait_event("service.failed", "wd")
    assert sup.wait(15) != 0


def test_init_mode_ready_notify(warden):
    """Init mode, --ready notify: the command is "main"; starting until READY=1, then
    running with its STATUS= in `warden ctl status`; it exits 0 and so does warden."""
    sock, go = warden.path("init.sock"), warden.path("go")
    run = warden.start(["-v", "--ready", "notify", "--control", sock, "--", "sh", "-c",
                        f"{wdn('status:booting')} && "
                        f"while [ ! -e '{go}' ]; do sleep 0.05; done && "
                        f"{wdn('ready', 'status:up and serving', 'sleep:30000')}"])
    wait_for(lambda: sock.exists(), 10, "the control socket")
    line = wait_for(lambda: (lambda l: "booting" in l and l)(ctl_status_line(sock, "main")),
                    10, "STATUS=booting")
    assert line.split()[1] == "starting", line
    go.touch()
    line = wait_for(lambda: (lambda l: "up and serving" in l and l)(
        ctl_status_line(sock, "main")), 10, "STATUS=up and serving")
    assert line.split()[1] == "running", line
    r = run_ctl(["--control", str(sock), "wait", "main", "--ready", "--timeout", "5s"])
    assert r.returncode == EXIT_OK, describe(r)
    assert "notify-error" not in run.out(), run.out()
    run.kill(15)
    assert run.wait(20) in (0, 128 + 15), run.err()


def test_init_mode_watchdog_from_the_config(warden_pid1):
    """Init mode with -c FILE: [main] watchdog reaches the command as WATCHDOG_USEC and its
    pinger keeps it alive past many periods; warden then ends it on SIGTERM with 0."""
    conf = warden_pid1.path("init.conf")
    conf.write_text("[main]\nready = notify\nwatchdog = 1s\n")
    ev = warden_pid1.path("init.events")
    run = warden_pid1.start(["-v", "--events", ev, "-c", conf, "--", need("wdnotify"), "env",
                             "ready", "ping:30000"])
    m = wait_for(lambda: re.search(r"ping started=(\S+) interval=(\d+)", run.out()), 10,
                 "the pinger to start")
    assert m.groups() == ("1", "500000"), run.out()
    # Three watchdog periods: warden must not stop it.
    assert not sleep_until(
        lambda: not run.running() or select(poll_events(ev), "service.stopping"), 3.0), \
        (run.err(), poll_events(ev))
    assert select(poll_events(ev), "service.ready", service="main"), poll_events(ev)
    assert re.search(r"env socket=@\S+ enabled=1 usec=1000000", run.out()), run.out()
    run.kill(15)
    assert run.wait(20) in (0, 128 + 15), run.err()
