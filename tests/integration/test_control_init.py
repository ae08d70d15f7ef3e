# SPDX-License-Identifier: MIT
"""warden ctl against init mode (warden(1), --control): off unless asked for; when on, the
command is the service "main": status, dump, wait and signal work as in supervisor mode,
stop and shutdown end the command as SIGTERM to warden does, start, restart and reload are
refused with the reason and change nothing."""

import json
import os
import time

import pytest

from conftest import helper, q, read_signals, wait_for
from ctllib import (EXIT_FAILED, EXIT_OK, EXIT_TIMEDOUT, STATUS_FIELDS, describe, finish,
                    pid1_harness, popen_ctl, request, run_ctl, wait_sent)
from svlib import script, wait_blocked

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def wh():
    yield from pid1_harness()


def start_init(h, *cmd, control=True):
    sock = h.path("init.sock")
    args = ["-v"] + (["--control", sock] if control else []) + ["--"] + [str(c) for c in cmd]
    run = h.start(args)
    if control:
        wait_for(lambda: os.path.exists(sock), 10, "the control socket")
    return run, str(sock)


def main_svc(sock):
    r = request(sock, b"status\n")
    assert r["ok"] and len(r["services"]) == 1, r
    return r["services"][0]


def test_init_mode_verbs(wh):
    log, ready = wh.path("sig.log"), wh.path("ready")
    run, sock = start_init(wh, helper("sigrecord"), "-r", ready, log)
    wait_for(lambda: ready.exists(), 10, "the command to be ready")
    s = main_svc(sock)
    assert set(s) == STATUS_FIELDS, s
    assert s["name"] == "main" and s["state"] == "running" and s["pid"] == 2, s
    r = run_ctl(["--control", sock, "status"])
    assert r.returncode == EXIT_OK, describe(r)
    assert r.stdout.splitlines()[1].split()[:3] == ["main", "running", "2"], r.stdout
    r = run_ctl(["--control", sock, "signal", "main", "USR1"])
    assert r.returncode == EXIT_OK, describe(r)
    wait_for(lambda: read_signals(log) == [10], 10, "USR1 to reach the command")
    r = run_ctl(["--control", sock, "dump"])
    assert r.returncode == EXIT_OK, describe(r)
    d = json.loads(r.stdout)
    assert d["warden"]["pid"] == 1
    assert d["services"][0]["processes"][0]["pid"] == 2
    r = run_ctl(["--control", sock, "wait", "main", "--ready"])
    assert r.returncode == EXIT_OK, describe(r)
    r = run_ctl(["--control", sock, "wait", "main", "--timeout", "200ms"])
    assert r.returncode == EXIT_TIMEDOUT, describe(r)
    for verb in (["start", "main"], ["restart", "main"], ["reload"]):
        r = run_ctl(["--control", sock] + verb)
        assert r.returncode == EXIT_FAILED, f"{verb}: {describe(r)}"
        assert r.stderr.strip(), describe(r)
    time.sleep(0.2)  # a window: nothing may change
    s = main_svc(sock)
    assert s["state"] == "running" and s["pid"] == 2
    assert read_signals(log) == [10], "a refused verb signalled the command"
    r = run_ctl(["--control", sock, "stop", "main"])
    assert r.returncode == EXIT_OK, describe(r)
    assert run.wait(15) == 0, run.err()  # sigrecord exits 0 on SIGTERM
    assert read_signals(log) == [10, 15]
    assert not os.path.exists(sock)


def test_init_mode_wait_until_the_command_ends(wh):
    trig = wh.path("end")
    cmd = script(wh, "cmd.sh", f"""
        i=0
        while [ ! -e {q(trig)} ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 99; sleep 0.02; done
        exit 3
        """)
    run, sock = start_init(wh, cmd)
    p = popen_ctl(["--control", sock, "wait", "main"])
    wait_sent(p)
    time.sleep(0.5)  # a window: the wait must not end while the command runs
    assert p.poll() is None, finish(p)
    trig.write_text("")
    rc, out, err = finish(p, 10)
    assert rc == EXIT_OK, (rc, out, err)
    assert run.wait(15) == 3, run.err()
    assert not os.path.exists(sock)


def test_init_mode_shutdown(wh):
    run, sock = start_init(wh, "sleep", "1000")
    r = run_ctl(["--control", sock, "shutdown"])
    assert r.returncode == EXIT_OK, describe(r)
    assert run.wait(15) == 128 + 15, run.err()
    assert not os.path.exists(sock)


def test_init_mode_has_no_control_socket_unless_asked(wh):
    run, _ = start_init(wh, "sleep", "1000", control=False)
    wait_for(lambda: run.children(), 10, "the command")
    wait_blocked(run.pid, "epoll", desc="warden to wait in its loop")  # start-up done
    targets = [os.readlink(f"/proc/{run.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{run.pid}/fd")]
    assert not [t for t in targets if t.startswith("socket:")], targets
