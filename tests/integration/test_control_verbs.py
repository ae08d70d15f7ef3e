# SPDX-License-Identifier: MIT
"""warden ctl, every verb end to end against a warden that runs as PID 1 of a new pid
namespace (warden-ctl(1)): status (table and --json), start, stop, restart, signal, wait
(--ready, --timeout, until ended), reload, shutdown, dump; and the exit codes 2, 3 and 5."""

import json
import os
import re
import signal
import socket
import time

import psutil
import pytest

from conftest import helper, q, read_signals, wait_for
from ctllib import (EXIT_FAILED, EXIT_NOSERVICE, EXIT_NOWARDEN, EXIT_OK, EXIT_TIMEDOUT,
                    EXIT_USAGE, FAST, STATES, STATUS_FIELDS, Ctl, describe, finish, pid1_harness,
                    run_ctl, wait_sent)
from svlib import blocked_in, need, script

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def wh():
    yield from pid1_harness()


def starts(w, name):
    return len(w.select("service.starting", name))


def fd3_ready(h, name, trigger, then="exec sleep 1000"):
    """A service script for `ready = fd:3`: ready (a newline on fd 3) once TRIGGER exists."""
    return script(h, name, f"""
        i=0
        while [ ! -e {q(trigger)} ]; do
            i=$((i+1)); [ $i -gt 3000 ] && exit 99
            sleep 0.02
        done
        echo >&3
        {then}
        """)


# --- status -------------------------------------------------------------------------

def test_status_reply_fields_and_values(wh):
    flaky = script(wh, "flaky.sh", f"""
        n=$(cat {q(wh.path('count'))} 2>/dev/null || echo 0)
        echo $((n+1)) > {q(wh.path('count'))}
        [ $n -lt 2 ] && exit 3
        exec sleep 1000
        """)
    w = Ctl(wh, f"""
        [web]
        command = sleep 1000
        essential = yes
        [notifier]
        command = {need('sdnotify')} "notify:STATUS=all good" notify:READY=1 sleep:60000
        ready = notify
        [flaky]
        command = {flaky}
        restart = on-failure
        {FAST}
        [once]
        command = true
        type = oneshot
        """)
    wait_for(lambda: (lambda s: s["restarts"] == 2 and s["state"] == "running")(w.svc("flaky")),
             10, "flaky to run after two failures")
    w.wait_state("once", "exited")
    w.wait_state("notifier", "running")
    wait_for(lambda: w.svc("notifier")["status"] == "all good", 10, "notifier's STATUS=")
    r = w.request(b"status\n")
    assert r["ok"] is True and set(r) == {"ok", "warden", "services"}, r
    assert set(r["warden"]) == {"pid", "mode", "shutting_down", "draining", "uptime_ms",
                                "config"}, r["warden"]
    assert r["warden"]["shutting_down"] is False and r["warden"]["draining"] is False
    svcs = {s["name"]: s for s in r["services"]}
    assert [s["name"] for s in r["services"]] == ["web", "notifier", "flaky", "once"]
    for s in r["services"]:
        assert set(s) == STATUS_FIELDS, s
        assert s["state"] in STATES
    web = svcs["web"]
    assert web["state"] == "running" and isinstance(web["pid"], int) and web["pid"] > 1
    assert isinstance(web["uptime_ms"], int) and 0 <= web["uptime_ms"] < 60000
    assert web["restarts"] == 0 and web["last_exit"] is None and web["last_exit_code"] is None
    assert web["status"] == "" and web["type"] == "simple"
    assert web["essential"] is True and web["stopped_on_request"] is False
    hp = w.host_pid(web["pid"])
    assert hp, f"status pid {web['pid']} is not a process of warden's namespace"
    with open(f"/proc/{hp}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == b"sleep"
    fl = svcs["flaky"]
    assert fl["restarts"] == 2, fl
    assert fl["last_exit"] == "exited with code 3" and fl["last_exit_code"] == 3, fl
    assert svcs["notifier"]["status"] == "all good"
    assert svcs["notifier"]["essential"] is False
    once = svcs["once"]
    assert once["type"] == "oneshot" and once["state"] == "exited"
    assert once["pid"] is None and once["uptime_ms"] is None
    assert once["last_exit"] == "exited with code 0" and once["last_exit_code"] == 0
    # uptime grows (by at least the time slept)
    time.sleep(0.3)
    assert w.svc("web")["uptime_ms"] >= web["uptime_ms"] + 250


def test_status_table(wh):
    w = Ctl(wh, f"""
        [web]
        command = sleep 1000
        [notifier]
        command = {need('sdnotify')} "notify:STATUS=all good" notify:READY=1 sleep:60000
        ready = notify
        [once]
        command = sh -c 'exit 4'
        type = oneshot
        restart = never
        """)
    w.wait_state("notifier", "running")
    w.wait_state("once", "failed")
    wait_for(lambda: w.svc("notifier")["status"] == "all good", 10, "notifier's STATUS=")
    pid = w.svc("web")["pid"]
    r = w.ctl("status")
    assert r.returncode == EXIT_OK, describe(r)
    lines = r.stdout.splitlines()
    assert re.match(r"^SERVICE\s+STATE\s+PID\s+UPTIME\s+RESTARTS\s+LAST EXIT\s+STATUS\s*$",
                    lines[0]), lines[0]
    assert len(lines) == 4, r.stdout
    rows = {ln.split()[0]: ln for ln in lines[1:]}
    assert set(rows) == {"web", "notifier", "once"}
    assert re.match(rf"^web\s+running\s+{pid}\s+\d+(\.\d)?s\s+0\s+-\s*$", rows["web"]), rows["web"]
    assert re.search(r"running .*\ball good$", rows["notifier"]), rows["notifier"]
    assert re.match(r"^once\s+failed\s+-\s+-\s+0\s+exited with code 4\s*$", rows["once"]), \
        rows["once"]
    # named services only, in the table too
    r = w.ctl("status", "once")
    assert r.returncode == EXIT_OK, describe(r)
    assert [ln.split()[0] for ln in r.stdout.splitlines()[1:]] == ["once"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_status_json_before_or_after_the_verb(wh, where):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        [db]
        command = sleep 1000
        """)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    args = ["--json", "status", "db"] if where == "before" else ["status", "db", "--json"]
    r = w.ctl(*args)
    assert r.returncode == EXIT_OK, describe(r)
    assert r.stdout.count("\n") == 1 and r.stdout.endswith("\n"), r.stdout
    obj = json.loads(r.stdout)
    assert obj["ok"] is True
    assert [s["name"] for s in obj["services"]] == ["db"]
    assert set(obj["services"][0]) == STATUS_FIELDS
    r = w.ctl(*[a for a in args if a != "db"])
    assert r.returncode == EXIT_OK, describe(r)
    assert [s["name"] for s in json.loads(r.stdout)["services"]] == ["web", "db"]


def test_status_unknown_service_exits_3(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        """)
    for args in (["status", "nosuch"], ["status", "web", "nosuch"], ["--json", "status", "nosuch"]):
        r = w.ctl(*args)
        assert r.returncode == EXIT_NOSERVICE, describe(r)
        assert "nosuch" in r.stderr and "no such service" in r.stderr, describe(r)


# --- start, stop, restart -----------------------------------------------------------

def test_stop_keeps_a_service_stopped_whatever_its_policy(wh):
    w = Ctl(wh, f"""
        [always]
        command = sleep 1000
        restart = always
        {FAST}
        [onfail]
        command = sleep 1000
        restart = on-failure
        {FAST}
        [other]
        command = sleep 1000
        """)
    for n in ("always", "onfail", "other"):
        w.wait_state(n, "running")
    old = w.svc("always")["pid"]
    r = w.ctl("stop", "always", "onfail")
    assert r.returncode == EXIT_OK, describe(r)
    for n in ("always", "onfail"):
        s = w.wait_state(n, "stopped")
        assert s["stopped_on_request"] is True and s["pid"] is None, s
        assert s["last_exit"] == "killed by SIGTERM", s
        w.wait_event("service.stopped", n)
    time.sleep(1.5)  # a window of 30 restart delays: no restart may come
    for n in ("always", "onfail"):
        assert w.svc(n)["state"] == "stopped"
        assert starts(w, n) == 1, w.select("service.starting", n)
        assert not w.select("service.backoff", n)
    assert w.svc("other")["state"] == "running"
    assert w.running(), w.err()
    r = w.ctl("start", "always")
    assert r.returncode == EXIT_OK, describe(r)
    s = w.wait_state("always", "running")
    assert s["pid"] != old and s["stopped_on_request"] is False, s
    assert starts(w, "always") == 2
    time.sleep(0.3)  # a window: onfail must stay stopped
    assert w.svc("onfail")["state"] == "stopped"
    assert w.stop() == 0, w.err()


def test_warden_stays_up_while_its_only_service_is_stopped(wh):
    w = Ctl(wh, """
        [only]
        command = sleep 1000
        restart = never
        """)
    w.wait_state("only", "running")
    r = w.ctl("stop", "only")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("only", "stopped")
    time.sleep(1.0)  # a window: warden must stay up
    assert w.running(), f"warden exited while a service was stopped on request: {w.err()}"
    assert not w.select("shutdown.started")
    r = w.ctl("start", "only")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("only", "running")
    r = w.ctl("shutdown")
    assert r.returncode == EXIT_OK, describe(r)
    assert w.wait(15) == 0, w.err()


def test_stop_during_backoff_cancels_the_restart(wh):
    w = Ctl(wh, """
        [failing]
        command = sh -c 'exit 1'
        restart = on-failure
        restart_delay = 1s
        restart_delay_max = 1s
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("failing", "backoff")
    r = w.ctl("stop", "failing")
    assert r.returncode == EXIT_OK, describe(r)
    s = w.wait_state("failing", "stopped")
    assert s["stopped_on_request"] is True
    n = starts(w, "failing")
    time.sleep(1.6)  # a window longer than the 1 s restart delay: no restart may come
    assert starts(w, "failing") == n, "a service stopped in backoff was restarted"
    assert w.svc("failing")["state"] == "stopped"
    r = w.ctl("start", "failing")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_event("service.starting", "failing", count=n + 1, timeout=10)


def test_start_resets_the_start_limit(wh):
    w = Ctl(wh, f"""
        [failing]
        command = sh -c 'exit 1'
        restart = on-failure
        start_limit = 2
        start_limit_interval = 60s
        {FAST}
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("failing", "failed")
    n = starts(w, "failing")
    r = w.ctl("start", "failing")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_event("service.starting", "failing", count=n + 1, timeout=10)
    w.wait_state("failing", "failed")
    # A fresh limit: as many starts again as the first time.
    assert starts(w, "failing") == 2 * n, w.select("service.starting", "failing")


def test_restart_gives_a_new_pid(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        [db]
        command = sleep 1000
        restart = never
        """)
    web = w.wait_state("web", "running")
    db = w.wait_state("db", "running")
    old_host = w.host_pid(web["pid"])
    r = w.ctl("restart", "web", "db")
    assert r.returncode == EXIT_OK, describe(r)
    def rerun(name, before):
        s = w.svc(name)
        return s if s["state"] == "running" and s["pid"] != before["pid"] else None

    for name, before in (("web", web), ("db", db)):
        s = wait_for(lambda: rerun(name, before), 10, f"{name} to run again")
        assert s["stopped_on_request"] is False
        w.wait_event("service.stopping", name)
        w.wait_event("service.starting", name, count=2)
    wait_for(lambda: not os.path.exists(f"/proc/{old_host}/status") or
             "Z" in open(f"/proc/{old_host}/stat").read().split(")")[1][:3],
             10, "the old web process to end")
    # restart of a stopped service starts it
    assert w.ctl("stop", "db").returncode == EXIT_OK
    w.wait_state("db", "stopped")
    r = w.ctl("restart", "db")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    assert w.running()


# --- signal -------------------------------------------------------------------------

def test_signal_reaches_the_main_process_only(wh):
    rec = helper("sigrecord")
    main_log, child_log = wh.path("main.log"), wh.path("child.log")
    body = (f"{rec} -r {q(wh.path('child.ready'))} {q(child_log)} & "
            f"exec {rec} -r {q(wh.path('main.ready'))} {q(main_log)}")
    svc = script(wh, "svc.sh", body + "\n")
    w = Ctl(wh, f"""
        [rec]
        command = {svc}
        """)
    wait_for(lambda: wh.path("main.ready").exists() and wh.path("child.ready").exists(), 10,
             "the recorders to be ready")
    want = []
    for sig, num in (("USR1", 10), ("SIGUSR2", 12), ("-HUP", 1), ("10", 10), ("SIGRTMIN+2", 36)):
        r = w.ctl("signal", "rec", sig)
        assert r.returncode == EXIT_OK, describe(r)
        want.append(num)
        wait_for(lambda: read_signals(main_log) == want, 10, f"signal {sig} to be recorded")
    time.sleep(0.3)  # a window: the child must get none of them
    assert read_signals(child_log) == [], "a signal of `ctl signal` reached a child"
    assert w.svc("rec")["state"] == "running"


def test_signal_to_a_service_not_running_fails(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("web", "running")
    assert w.ctl("stop", "web").returncode == EXIT_OK
    w.wait_state("web", "stopped")
    r = w.ctl("signal", "web", "HUP")
    assert r.returncode == EXIT_FAILED, describe(r)
    assert "web" in r.stderr and "not running" in r.stderr, describe(r)
    r = w.ctl("signal", "nosuch", "HUP")
    assert r.returncode == EXIT_NOSERVICE, describe(r)
    for bad in (["signal", "keeper", "NOSUCHSIG"], ["signal", "keeper"],
                ["signal", "keeper", "HUP", "TERM"]):
        r = w.ctl(*bad)
        assert r.returncode == EXIT_USAGE, describe(r)
    assert w.svc("keeper")["state"] == "running"


def test_signal_kill(wh):
    """warden-ctl(1) puts no restriction on SIG: KILL reaches the main process (and its
    restart policy applies), or, if warden refuses it, the error says why - not that KILL
    is an unknown signal."""
    w = Ctl(wh, f"""
        [web]
        command = sleep 1000
        restart = always
        {FAST}
        """)
    pid = w.wait_state("web", "running")["pid"]
    r = w.ctl("signal", "web", "KILL")
    assert "unknown signal" not in r.stderr, \
        f"`signal web KILL` is refused as an unknown signal: {describe(r)}"
    assert r.returncode == EXIT_OK, describe(r)
    ex = w.wait_event("service.exited", "web")
    assert ex["pid"] == pid and ex["signal"] == "SIGKILL", ex


# --- wait ---------------------------------------------------------------------------

def test_wait_ready_blocks_until_every_service_is_ready(wh):
    trig = wh.path("go")
    svc = fd3_ready(wh, "slow.sh", trig)
    w = Ctl(wh, f"""
        [fast]
        command = sleep 1000
        [slow]
        command = {svc}
        ready = fd:3
        """)
    w.wait_state("fast", "running")
    p = w.ctl_bg("wait", "fast", "slow", "--ready")
    wait_sent(p)
    time.sleep(0.8)  # a window: the wait must not end while slow is not ready
    assert p.poll() is None, f"wait --ready returned before slow was ready: {finish(p)}"
    assert w.svc("slow")["state"] == "starting"
    t0 = time.monotonic()
    trig.write_text("")
    rc, out, err = finish(p, 10)
    assert rc == EXIT_OK, (rc, out, err)
    assert time.monotonic() - t0 < 5
    assert w.svc("slow")["state"] == "running"
    # already ready: at once (else it would never return)
    t0 = time.monotonic()
    r = w.ctl("wait", "slow", "--ready")
    assert r.returncode == EXIT_OK and time.monotonic() - t0 < 5, describe(r)


def test_wait_ready_fails_at_once_when_the_service_fails(wh):
    trig = wh.path("die")
    svc = script(wh, "doomed.sh", f"""
        i=0
        while [ ! -e {q(trig)} ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 99; sleep 0.02; done
        exit 3
        """)
    w = Ctl(wh, f"""
        [doomed]
        command = {svc}
        ready = fd:3
        restart = never
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("doomed", "starting")
    p = w.ctl_bg("wait", "doomed", "--ready")
    wait_sent(p)
    time.sleep(0.5)  # a window: the wait must not end while doomed starts
    assert p.poll() is None, finish(p)
    trig.write_text("")
    w.wait_event("service.failed", "doomed")
    t0 = time.monotonic()
    rc, out, err = finish(p, 10)
    assert rc == EXIT_FAILED, (rc, out, err)
    assert time.monotonic() - t0 < 5, "wait --ready did not fail at once"
    assert "doomed" in err and "fail" in err, err
    # already failed: at once, not after the 30 s timeout
    t0 = time.monotonic()
    r = w.ctl("wait", "doomed", "--ready", "--timeout", "30s")
    assert r.returncode == EXIT_FAILED and time.monotonic() - t0 < 5, describe(r)
    assert w.running()


def test_wait_ready_fails_when_the_service_is_stopped_first(wh):
    svc = fd3_ready(wh, "never.sh", wh.path("never"))
    w = Ctl(wh, f"""
        [never]
        command = {svc}
        ready = fd:3
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("never", "starting")
    p = w.ctl_bg("wait", "never", "--ready")
    wait_sent(p)
    time.sleep(0.5)  # a window: the wait must not end while never starts
    assert p.poll() is None, finish(p)
    assert w.ctl("stop", "never").returncode == EXIT_OK
    rc, out, err = finish(p, 10)
    assert rc == EXIT_FAILED, (rc, out, err)
    assert "never" in err, err


def test_wait_timeout_exits_6(wh):
    svc = fd3_ready(wh, "never.sh", wh.path("never"))
    w = Ctl(wh, f"""
        [never]
        command = {svc}
        ready = fd:3
        [web]
        command = sleep 1000
        """)
    w.wait_state("never", "starting")
    for args in (["wait", "never", "--ready", "--timeout", "300ms"],
                 ["wait", "web", "--timeout", "0.3s"]):
        t0 = time.monotonic()
        r = w.ctl(*args)
        dt = time.monotonic() - t0
        assert r.returncode == EXIT_TIMEDOUT, describe(r)
        assert 0.25 <= dt < 10, dt  # a timeout not kept would never return
        assert "timed out" in r.stderr, describe(r)
    assert w.svc("never")["state"] == "starting"


def test_wait_with_a_huge_timeout_does_not_time_out_at_once(wh):
    """18446744073s (just under 2**64 ns) is a valid duration: the wait must not end early."""
    svc = fd3_ready(wh, "never.sh", wh.path("never"))
    w = Ctl(wh, f"""
        [never]
        command = {svc}
        ready = fd:3
        """)
    w.wait_state("never", "starting")
    p = w.ctl_bg("wait", "never", "--ready", "--timeout", "18446744073s")
    wait_sent(p)
    time.sleep(1.0)  # a window: the wait must not end
    if p.poll() is not None:
        rc, out, err = finish(p)
        pytest.fail(f"wait --timeout 18446744073s returned after < 1 s: rc={rc} {err!r}")
    p.kill()
    finish(p)


def test_wait_without_ready_waits_until_all_ended(wh):
    a_t, b_t = wh.path("a.end"), wh.path("b.end")

    def ender(name, trig):
        return script(wh, name, f"""
            i=0
            while [ ! -e {q(trig)} ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 99; sleep 0.02; done
            exit 0
            """)
    w = Ctl(wh, f"""
        [a]
        command = {ender('a.sh', a_t)}
        restart = never
        [b]
        command = {ender('b.sh', b_t)}
        restart = never
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("b", "running")
    p = w.ctl_bg("wait", "a", "b")
    wait_sent(p)
    time.sleep(0.5)  # a window: the wait must not end while a and b run
    assert p.poll() is None, finish(p)
    a_t.write_text("")
    w.wait_state("a", "exited")
    time.sleep(0.5)  # a window: nor while b runs
    assert p.poll() is None, f"wait returned before b ended: {finish(p)}"
    b_t.write_text("")
    rc, out, err = finish(p, 10)
    assert rc == EXIT_OK, (rc, out, err)
    assert w.svc("b")["state"] == "exited"
    # already ended: at once
    r = w.ctl("wait", "a", "b", "--timeout", "10s")
    assert r.returncode == EXIT_OK, describe(r)


# --- reload -------------------------------------------------------------------------

BASE = """
    [web]
    command = sleep 1000
    """


def test_reload_ok(wh):
    w = Ctl(wh, BASE)
    pid = w.wait_state("web", "running")["pid"]
    w.write(BASE + """
    [extra]
    command = sleep 1000
    """)
    r = w.ctl("reload")
    assert r.returncode == EXIT_OK, describe(r)
    ev = w.wait_event("config.reloaded")
    assert ev["added"] == 1 and ev["changed"] == 0 and ev["removed"] == 0, ev
    w.wait_state("extra", "running")
    assert w.svc("web")["pid"] == pid
    r = w.ctl("reload", "--json")
    assert r.returncode == EXIT_OK and json.loads(r.stdout) == {"ok": True}, describe(r)


def test_reload_bad_config_fails_and_changes_nothing(wh):
    w = Ctl(wh, BASE)
    w.wait_state("web", "running")
    before = w.snapshot()
    w.write("""
    [web]
    command = sleep 1000
    [extra]
    command = sleep 1000
    bogus = 1
    """)
    r = w.ctl("reload")
    assert r.returncode == EXIT_FAILED, describe(r)
    assert "bogus" in r.stderr and "warden.conf:5" in r.stderr, describe(r)
    ev = w.wait_event("config.rejected")
    assert "bogus" in ev["error"]
    r = w.ctl("--json", "reload")
    assert r.returncode == EXIT_FAILED, describe(r)
    reply = json.loads(r.stdout)
    assert reply["ok"] is False and reply["code"] == "failed" and "bogus" in reply["error"]
    time.sleep(0.3)  # a window: nothing may change
    assert w.snapshot() == before
    assert not w.select("config.reloaded")
    assert "extra" not in w.status()


# --- shutdown -----------------------------------------------------------------------

def test_shutdown(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        [db]
        command = sleep 1000
        """)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    r = w.ctl("shutdown")
    assert r.returncode == EXIT_OK, describe(r)
    assert w.wait(15) == 0, w.err()
    ev = w.select("shutdown.started")
    assert ev, w.events()
    for n in ("web", "db"):
        assert w.select("service.stopped", n), n
    assert not os.path.exists(w.sock)


# --- dump ---------------------------------------------------------------------------

DUMP_SVC = """
import os, signal, subprocess, threading, time
signal.signal(signal.SIGUSR1, lambda *a: None)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGWINCH])
f = open({marker!r}, "w")
os.dup2(f.fileno(), 42)
threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
buf = bytearray(48 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
child = subprocess.Popen(["sleep", "1000"])
open({ready!r}, "w").close()
time.sleep(1000)
"""


def bit(sig):
    return 1 << (sig - 1)


def test_dump(wh):
    marker, ready = str(wh.path("marker.txt")), str(wh.path("dump.ready"))
    py = wh.path("svc.py")
    py.write_text(DUMP_SVC.format(marker=marker, ready=ready))
    w = Ctl(wh, f"""
        [py]
        command = /usr/bin/python3 {py}
        [web]
        command = sleep 1000
        after = py
        """)
    wait_for(lambda: os.path.exists(ready), 20, "the python service to be set up")
    w.wait_state("web", "running")
    r = w.ctl("dump")
    assert r.returncode == EXIT_OK, describe(r)
    pairs = json.loads(r.stdout, object_pairs_hook=lambda p: p)  # valid JSON
    assert pairs
    d = json.loads(r.stdout)
    r2 = w.ctl("--json", "dump")
    assert r2.returncode == EXIT_OK and json.loads(r2.stdout)["ok"] is True, describe(r2)
    assert d["ok"] is True
    wd = d["warden"]
    assert wd["pid"] == 1 and wd["shutting_down"] is False
    assert wd["config"] == str(w.conf_path) and isinstance(wd["uptime_ms"], int)
    assert len(wd["self"]) == 1 and wd["self"][0]["pid"] == 1 and wd["self"][0]["name"] == "warden"
    svcs = {s["name"]: s for s in d["services"]}
    assert set(svcs) == {"py", "web"}
    for s in svcs.values():
        assert STATUS_FIELDS <= set(s) and {"command", "after", "processes"} <= set(s), s.keys()
    assert svcs["web"]["command"] == ["sleep", "1000"] and svcs["web"]["after"] == ["py"]
    assert svcs["py"]["command"] == ["/usr/bin/python3", str(py)] and svcs["py"]["after"] == []
    procs = svcs["py"]["processes"]
    keys = {"pid", "ppid", "name", "state", "utime_ms", "stime_ms", "threads", "rss_kb",
            "sig_blocked", "sig_ignored", "sig_caught", "uid", "fds"}
    for p in procs + wd["self"]:
        assert keys <= set(p), p.keys()
        for k in ("sig_blocked", "sig_ignored", "sig_caught"):
            assert re.fullmatch(r"[0-9a-f]{16}", p[k]), (k, p[k])
        for fd in p["fds"]:
            assert set(fd) == {"fd", "target"} and isinstance(fd["fd"], int)
    main = procs[0]
    assert main["pid"] == svcs["py"]["pid"] and main["ppid"] == 1
    assert main["name"].startswith("python3"), main["name"]
    assert main["threads"] == 2, main["threads"]
    assert main["rss_kb"] >= 48 * 1024, main["rss_kb"]
    assert main["utime_ms"] + main["stime_ms"] >= 250, (main["utime_ms"], main["stime_ms"])
    assert int(main["sig_caught"], 16) & bit(signal.SIGUSR1)
    assert int(main["sig_ignored"], 16) & bit(signal.SIGUSR2)
    assert int(main["sig_blocked"], 16) & bit(signal.SIGWINCH)
    assert not int(main["sig_blocked"], 16) & bit(signal.SIGUSR1)
    assert {"fd": 42, "target": marker} in main["fds"], main["fds"]
    kids = [p for p in procs[1:] if p["ppid"] == main["pid"]]
    assert [k["name"] for k in kids] == ["sleep"], procs
    # warden's own process: all signals blocked (it takes them with a signalfd), its socket open
    me = wd["self"][0]
    assert int(me["sig_blocked"], 16) & bit(signal.SIGTERM)
    assert any(fd["target"].startswith("socket:") for fd in me["fds"])
    r = w.ctl("dump", "web")
    assert r.returncode == EXIT_USAGE, describe(r)


# --- exit codes ---------------------------------------------------------------------

def test_unknown_service_among_several_changes_nothing(wh):
    w = Ctl(wh, """
        [a]
        command = sleep 1000
        [b]
        command = sleep 1000
        [c]
        command = sleep 1000
        """)
    for n in "abc":
        w.wait_state(n, "running")
    assert w.ctl("stop", "c").returncode == EXIT_OK
    w.wait_state("c", "stopped")
    before = w.snapshot()
    for args in (["stop", "a", "nosuch", "b"], ["restart", "a", "b", "nosuch"],
                 ["start", "c", "nosuch"], ["start", "nosuch", "c"], ["signal", "nosuch", "HUP"],
                 ["wait", "a", "nosuch", "--ready"], ["wait", "nosuch"],
                 ["status", "a", "nosuch"]):
        r = w.ctl(*args)
        assert r.returncode == EXIT_NOSERVICE, f"{args}: {describe(r)}"
        assert "no such service" in r.stderr and "nosuch" in r.stderr, describe(r)
    time.sleep(0.3)  # a window: nothing may change
    assert w.snapshot() == before
    assert len(w.select("service.stopping")) == 1  # c's, before


def test_no_warden_exits_5(wh):
    missing = wh.path("nowhere/ctl.sock")
    r = run_ctl(["--control", missing, "status"])
    assert r.returncode == EXIT_NOWARDEN, describe(r)
    assert str(missing) in r.stderr, describe(r)
    # a stale socket: bound once, nobody listens any more
    stale = wh.path("stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    for args in (["status"], ["stop", "web"], ["wait", "web", "--ready"]):
        r = run_ctl(["--control", stale] + args)
        assert r.returncode == EXIT_NOWARDEN, describe(r)
        assert str(stale) in r.stderr
    plain = wh.path("plain")
    plain.write_text("")
    r = run_ctl(["--control", plain, "status"])
    assert r.returncode == EXIT_NOWARDEN, describe(r)


def test_bad_usage_exits_2_and_changes_nothing(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        """)
    w.wait_state("web", "running")
    before = w.snapshot()
    r = w.ctl()
    assert r.returncode == EXIT_USAGE and "Usage" in r.stderr, describe(r)
    for args in (["frobnicate"], ["stop"], ["start"], ["restart"], ["signal", "web"],
                 ["signal", "web", "NOSUCH"], ["wait"], ["wait", "web", "--timeout"],
                 ["wait", "web", "--timeout", "0"], ["wait", "web", "--timeout", "soon"],
                 ["status", "--bogus"], ["stop", "web", "--force"], ["reload", "now"],
                 ["shutdown", "now"], ["dump", "web"], ["stop", "we b"], ["stop", ""]):
        r = w.ctl(*args)
        assert r.returncode == EXIT_USAGE, f"{args}: {describe(r)}"
        assert r.stderr.strip(), f"{args}: no message"
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before and w.running()


ODD_SVC = r"""
import os, sys
d = sys.argv[1].encode()
fd = os.open(d + b'/we"ird\\na\nme\xff\x01', os.O_RDONLY | os.O_CREAT, 0o644)
os.set_inheritable(fd, True)
os.dup2(fd, 7)
os.symlink(b"/bin/sleep", d + b'/sl"e\\ep\xfe')
os.execv(d + b'/sl"e\\ep\xfe', [b"sleep", b"1000"])
"""


def test_dump_is_valid_json_whatever_the_names(wh):
    """Process names and descriptor targets with quotes, backslashes, control characters and
    bytes that are not UTF-8 still make one valid (UTF-8) JSON object."""
    d = wh.path("odd")
    d.mkdir()
    py = wh.path("odd.py")
    py.write_text(ODD_SVC)
    w = Ctl(wh, f"""
        [odd]
        command = /usr/bin/python3 {py} {d}
        """)
    def sleeping():
        # Its name changes at exec; asleep in sleep(1)'s own call, it has done its start-up.
        for p in w.run.descendants():
            try:
                if p.name().startswith("sl") and blocked_in(p.pid, "sleep"):
                    return p
            except psutil.NoSuchProcess:
                pass
        return None
    wait_for(sleeping, 10, "the odd process to sleep")
    r = w.ctl("dump", "--json")
    assert r.returncode == EXIT_OK, describe(r)
    dump = json.loads(r.stdout)  # r.stdout was decoded as strict UTF-8
    procs = dump["services"][0]["processes"]
    assert procs[0]["name"].startswith('sl"e\\ep'), procs[0]["name"]
    fd7 = [f for f in procs[0]["fds"] if f["fd"] == 7]
    assert fd7 and fd7[0]["target"].startswith(str(d) + '/we"ird\\na\nme'), procs[0]["fds"]


def test_wait_ready_for_a_oneshot_is_its_success(wh):
    ok_t, bad_t = wh.path("ok.go"), wh.path("bad.go")

    def oneshot(name, trig, code):
        return script(wh, name, f"""
            i=0
            while [ ! -e {q(trig)} ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 99; sleep 0.02; done
            exit {code}
            """)
    w = Ctl(wh, f"""
        [good]
        command = {oneshot('good.sh', ok_t, 0)}
        type = oneshot
        [bad]
        command = {oneshot('bad.sh', bad_t, 2)}
        type = oneshot
        restart = never
        [keeper]
        command = sleep 1000
        """)
    w.wait_state("good", "starting")
    pg = w.ctl_bg("wait", "good", "--ready")
    pb = w.ctl_bg("wait", "bad", "--ready")
    wait_sent(pg)
    wait_sent(pb)
    time.sleep(0.5)  # a window: the waits must not end while the oneshots run
    assert pg.poll() is None and pb.poll() is None
    ok_t.write_text("")
    rc, out, err = finish(pg, 10)
    assert rc == EXIT_OK, (rc, err)
    assert w.svc("good")["state"] == "exited"
    assert pb.poll() is None
    bad_t.write_text("")
    rc, out, err = finish(pb, 10)
    assert rc == EXIT_FAILED and "bad" in err, (rc, err)
