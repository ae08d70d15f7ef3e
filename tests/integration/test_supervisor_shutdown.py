# SPDX-License-Identifier: MIT
"""Supervisor: start order (after =), reverse stop order, stop_signal, stop_timeout and its
escalation (exit 124), kill_group, a second SIGTERM, shutdown_timeout, and the leftover phase
with its grace."""

import signal
import time

import pytest

from conftest import q
from svlib import (EXIT_ESCALATED, Sup, need, parse_ts, read_stamps, script, select, stamp,
                   wait_file)

pytestmark = pytest.mark.timeout(60)


def stopper(h, name, *args, log="stamps.log"):
    return " ".join([need("stopper"), "-n", name] + [str(a) for a in args] +
                    [q(h.path(log))])


def stamps_of(h, log="stamps.log"):
    return read_stamps(h.path(log))


def wait_stamps(h, pairs, timeout=10, log="stamps.log"):
    """Waits until every (name, what) of PAIRS is in the stamps log."""
    deadline = time.monotonic() + timeout
    while True:
        st = stamps_of(h, log)
        have = {(n, w) for n, w, _ in st}
        if all(p in have for p in pairs):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {pairs}; have {st}")
        time.sleep(0.01)


def shutdown_took(evs):
    """Seconds from shutdown.started to shutdown.finished, by warden's own time stamps."""
    return parse_ts(select(evs, "shutdown.finished")[0]["ts"]) - \
        parse_ts(select(evs, "shutdown.started")[0]["ts"])


# --- order ----------------------------------------------------------------------

def test_start_order_and_reverse_stop_order(warden):
    """c after b after a (written in the opposite order): each starts once the one before
    is ready, and at shutdown each is told to stop only once the one after it exited."""
    h = warden
    sup = Sup(h, f"""
        [c]
        command = {stopper(h, "c", "-w", 200, "-F", 3, "-d", 250)}
        ready = fd:3
        after = b
        [b]
        command = {stopper(h, "b", "-w", 200, "-F", 3, "-d", 250)}
        ready = fd:3
        after = a
        [a]
        command = {stopper(h, "a", "-w", 200, "-F", 3, "-d", 250)}
        ready = fd:3
        """)
    sup.wait_event("service.ready", "c", timeout=10)
    st = stamps_of(h)
    assert stamp(st, "b", "start") >= stamp(st, "a", "ready"), st
    assert stamp(st, "c", "start") >= stamp(st, "b", "ready"), st
    assert sup.stop() == 0, sup.err()
    st = stamps_of(h)
    order = [(n, w) for n, w, _ in st if w in ("sig:15", "exit")]
    assert order == [("c", "sig:15"), ("c", "exit"), ("b", "sig:15"), ("b", "exit"),
                     ("a", "sig:15"), ("a", "exit")], st
    # Each waited for the one after it: at least its 250 ms of stopping.
    assert stamp(st, "b", "sig:15") - stamp(st, "c", "sig:15") >= 0.24
    assert stamp(st, "a", "sig:15") - stamp(st, "b", "sig:15") >= 0.24
    evs = sup.all_events()
    assert [e["service"] for e in select(evs, "service.stopping")] == ["c", "b", "a"]
    assert [e["service"] for e in select(evs, "service.stopped")] == ["c", "b", "a"]
    fin = select(evs, "shutdown.finished")[0]
    assert fin["exit_code"] == 0 and fin["escalated"] is False
    assert select(evs, "shutdown.started")[0]["reason"] == "SIGTERM"


def test_diamond_stop_order(warden_pid1):
    h = warden_pid1
    # b and c take 1 s to stop: were they stopped one after the other, their stop signals
    # would be a second apart.
    sup = Sup(h, f"""
        [a]
        command = {stopper(h, "a", "-d", 100)}
        [b]
        command = {stopper(h, "b", "-d", 1000)}
        after = a
        [c]
        command = {stopper(h, "c", "-d", 1000)}
        after = a
        [d]
        command = {stopper(h, "d", "-d", 200)}
        after = b c
        """)
    sup.wait_event("service.ready", "d")
    wait_stamps(h, [(n, "ready") for n in "abcd"])
    assert sup.stop() == 0, sup.err()
    st = stamps_of(h)
    t = {(n, w): ts for n, w, ts in st}
    assert t[("b", "sig:15")] >= t[("d", "exit")] and t[("c", "sig:15")] >= t[("d", "exit")], st
    assert abs(t[("b", "sig:15")] - t[("c", "sig:15")]) < 0.6, "b and c stop together"
    assert t[("a", "sig:15")] >= max(t[("b", "exit")], t[("c", "exit")]), st


# --- stop signal, timeout, escalation ------------------------------------------------

@pytest.mark.parametrize("sig,value", [(signal.SIGINT, "INT"), (signal.SIGUSR1, "SIGUSR1"),
                                       (signal.SIGQUIT, "3")])
def test_stop_signal(warden_pid1, sig, value):
    h = warden_pid1
    sup = Sup(h, f"""
        [svc]
        command = {stopper(h, "svc", "-x", int(sig))}
        stop_signal = {value}
        """)
    wait_stamps(h, [("svc", "ready")])
    assert sup.stop() == 0, sup.err()
    got = [w for n, w, _ in stamps_of(h) if w.startswith("sig:")]
    assert got[0] == f"sig:{int(sig)}", got
    assert "sig:15" not in got, f"SIGTERM was sent besides stop_signal: {got}"


def test_requested_shutdown_is_0_whatever_the_exit_status(warden_pid1):
    h = warden_pid1
    sup = Sup(h, f"""
        [svc]
        command = {stopper(h, "svc", "-c", 3)}
        """)
    wait_stamps(h, [("svc", "ready")])
    assert sup.stop() == 0, sup.err()
    assert sup.select("service.exited", "svc")[0]["code"] == 3


def test_stop_timeout_escalates_to_sigkill(warden):
    h = warden
    sup = Sup(h, f"""
        [stubborn]
        command = {stopper(h, "stubborn", "-i")}
        stop_timeout = 400ms
        [polite]
        command = {stopper(h, "polite")}
        """)
    wait_stamps(h, [("stubborn", "ready"), ("polite", "ready")])
    t0 = time.monotonic()
    assert sup.stop() == EXIT_ESCALATED, sup.err()
    # stop_timeout is 400 ms; the whole shutdown's bound (30 s) would come much later.
    assert time.monotonic() - t0 < 10
    evs = sup.all_events()
    k = select(evs, "service.killed", "stubborn")
    assert len(k) == 1 and k[0]["reason"] == "stop timeout", evs
    ex = select(evs, "service.exited", "stubborn")[0]
    assert ex["signal"] == "SIGKILL"
    st = stamps_of(h)
    assert stamp(st, "stubborn", "sig:15") is not None
    assert not select(evs, "service.killed", "polite")
    fin = select(evs, "shutdown.finished")[0]
    assert fin["exit_code"] == EXIT_ESCALATED and fin["escalated"] is True
    # SIGKILL came stop_timeout after the stop signal.
    stopping = select(evs, "service.stopping", "stubborn")[0]
    assert parse_ts(k[0]["ts"]) - parse_ts(stopping["ts"]) >= 0.39


def test_stop_timeout_escalation_outside_shutdown_is_not_124(warden_pid1):
    """A ready_timeout stop that needs SIGKILL is no requested shutdown: warden goes on.
    (ready_timeout 1 s: time for stopper to block its signals, even on a loaded machine.)"""
    sup = Sup(warden_pid1, f"""
        [stubborn]
        command = {stopper(warden_pid1, "stubborn", "-i")}
        ready = notify
        ready_timeout = 1s
        stop_timeout = 300ms
        restart = never
        [other]
        command = sleep 30
        """)
    sup.wait_event("service.killed", "stubborn", timeout=10)
    sup.wait_event("service.failed", "stubborn", timeout=10)
    assert sup.running()
    assert sup.stop() == 0, sup.err()


# --- kill_group --------------------------------------------------------------------

def group_service(h, main_args=("-d", 1500), gc_args=()):
    """A service whose shell starts a grandchild 'gc' (in its process group), then execs
    the main process 'main'."""
    body = (f"{stopper(h, 'gc', *gc_args)} &\n"
            f"exec {stopper(h, 'main', *main_args)}\n")
    return script(h, "group.sh", body)


@pytest.mark.parametrize("kill_group", ["yes", "no"])
def test_kill_group(warden, kill_group):
    h = warden
    cmd = group_service(h)
    sup = Sup(h, f"""
        [svc]
        command = {cmd}
        kill_group = {kill_group}
        """)
    wait_stamps(h, [("gc", "ready"), ("main", "ready")])
    assert sup.stop() == 0, sup.err()
    st = stamps_of(h)
    main_sig, main_exit = stamp(st, "main", "sig:15"), stamp(st, "main", "exit")
    gc_sig = stamp(st, "gc", "sig:15")
    assert main_sig is not None and gc_sig is not None, st
    if kill_group == "yes":
        # Else it would get its signal once main is down, 1.5 s later.
        assert abs(gc_sig - main_sig) < 0.6, \
            f"the grandchild was not signalled with its group: {st}"
    else:
        # Only the leftover phase, once the service is down, reaches the grandchild.
        assert gc_sig >= main_exit, f"kill_group = no, yet the group got the signal: {st}"
        orphans = select(sup.all_events(), "orphan.reaped")
        assert orphans and orphans[0]["code"] == 0, orphans


def test_kill_group_sigkill_reaches_the_group(warden_pid1):
    h = warden_pid1
    cmd = group_service(h, main_args=("-i",), gc_args=("-i",))
    sup = Sup(h, f"""
        [warden]
        grace = 30s
        [svc]
        command = {cmd}
        stop_timeout = 300ms
        """)
    wait_stamps(h, [("gc", "ready"), ("main", "ready")])
    t0 = time.monotonic()
    assert sup.stop(timeout=45) == EXIT_ESCALATED, sup.err()
    # The grandchild, ignoring SIGTERM too, died with the group's SIGKILL: no 30 s leftover wait.
    assert time.monotonic() - t0 < 10, "the grandchild survived the group's SIGKILL"
    orphans = select(sup.all_events(), "orphan.reaped")
    assert orphans and orphans[0]["signal"] == "SIGKILL", orphans


# --- second signal, grace -------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_kills_everything_at_once(warden, sig):
    h = warden
    sup = Sup(h, f"""
        [warden]
        grace = 30s
        [a]
        command = {stopper(h, "a", "-i")}
        stop_timeout = 20s
        [b]
        command = {stopper(h, "b", "-i")}
        stop_timeout = 20s
        after = a
        """)
    wait_stamps(h, [("a", "ready"), ("b", "ready")])
    sup.kill(sig)
    sup.wait_event("service.stopping", "b")
    time.sleep(0.3)  # a window: warden must wait for b
    assert sup.running()
    t0 = time.monotonic()
    sup.kill(sig)
    assert sup.wait(15) == EXIT_ESCALATED, sup.err()
    assert time.monotonic() - t0 < 10, "not at once: stop_timeout is 20 s, grace 30 s"
    evs = sup.all_events()
    assert {e["service"]: e["signal"] for e in select(evs, "service.exited")} == \
        {"a": "SIGKILL", "b": "SIGKILL"}
    assert select(evs, "shutdown.started")[0]["reason"] == signal.Signals(sig).name


def test_shutdown_timeout_bounds_the_whole_shutdown(warden):
    h = warden
    sup = Sup(h, f"""
        [warden]
        shutdown_timeout = 1s
        [a]
        command = {stopper(h, "a", "-i")}
        stop_timeout = 20s
        [b]
        command = {stopper(h, "b", "-i")}
        stop_timeout = 20s
        after = a
        """)
    wait_stamps(h, [("a", "ready"), ("b", "ready")])
    t0 = time.monotonic()
    assert sup.stop() == EXIT_ESCALATED, sup.err()
    took = time.monotonic() - t0
    assert 0.9 <= took, f"shutdown took {took:.2f}s with shutdown_timeout = 1s"
    assert took <= 10, f"shutdown took {took:.2f}s with shutdown_timeout = 1s"
    # a never got its stop signal (b was still stopping): the bound killed it.
    st = stamps_of(h)
    assert stamp(st, "b", "sig:15") is not None and stamp(st, "a", "sig:15") is None, st


# --- leftovers ------------------------------------------------------------------------

def test_leftover_ignoring_sigterm_is_killed_within_grace(warden):
    h = warden
    pidfile = h.path("orphan.pid")
    daemon = script(h, "daemon.sh", f"""
        sh -c "trap '' TERM; echo \\$\\$ > {q(pidfile)}.tmp; mv {q(pidfile)}.tmp {q(pidfile)}; exec sleep 30" &
        while [ ! -e {q(pidfile)} ]; do sleep 0.01; done
        exit 0
        """)
    sup = Sup(h, f"""
        [warden]
        grace = 1500ms
        [d]
        command = {daemon}
        """)
    wait_file(h.path("orphan.pid"))
    code = sup.wait(15)
    assert code == 0, sup.err()
    evs = sup.all_events()
    assert select(evs, "shutdown.started")[0]["reason"] == "no service is left running"
    orphans = select(evs, "orphan.reaped")
    assert len(orphans) == 1 and orphans[0]["signal"] == "SIGKILL", orphans
    took = shutdown_took(evs)
    assert 1.4 <= took < 3.5, f"the leftover phase took {took:.2f}s: grace is 1.5 s (default 5 s)"


def test_leftover_that_obeys_sigterm_does_not_wait(warden_pid1):
    h = warden_pid1
    daemon = script(h, "daemon.sh", f"""
        sleep 30 &
        echo $! > {q(h.path("orphan.pid"))}
        exit 0
        """)
    sup = Sup(h, f"""
        [d]
        command = {daemon}
        """)
    wait_file(h.path("orphan.pid"))
    assert sup.wait(10) == 0
    evs = sup.all_events()
    orphans = select(evs, "orphan.reaped")
    assert len(orphans) == 1 and orphans[0]["signal"] == "SIGTERM", orphans
    took = shutdown_took(evs)
    assert took < 2.5, f"the leftover phase took {took:.2f}s: it waited for the grace (5 s)"


def test_stop_during_backoff_is_immediate(warden_pid1):
    sup = Sup(warden_pid1, """
        [crash]
        command = false
        restart_delay = 30s
        """)
    sup.wait_event("service.backoff", "crash")
    t0 = time.monotonic()
    assert sup.stop() == 0, sup.err()
    assert time.monotonic() - t0 < 10, "the stop waited for the restart delay (30 s)"
    st = sup.select("service.stopped", "crash")
    assert st and st[0]["from"] == "backoff"


def test_stop_while_waiting_for_a_dependency(warden_pid1):
    sup = Sup(warden_pid1, """
        [slow]
        command = sleep 30
        ready = notify
        ready_timeout = 30s
        [web]
        command = sleep 30
        after = slow
        """)
    sup.wait_event("service.starting", "slow")
    sup.wait_event("service.waiting", "web")
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    assert not select(evs, "service.starting", "web")
    assert select(evs, "service.stopped", "slow")


def test_grace_running_out_on_a_leftover_is_an_escalation(warden_pid1):
    """A requested shutdown where grace runs out (here on a leftover that ignores SIGTERM)
    had to use SIGKILL: warden.conf(5) gives 124 for 'a stop_timeout or grace ran out'."""
    h = warden_pid1
    pidfile = h.path("orphan.pid")
    daemon = script(h, "daemon.sh", f"""
        sh -c "trap '' TERM; echo \\$\\$ > {q(pidfile)}.tmp; mv {q(pidfile)}.tmp {q(pidfile)}; exec sleep 30" &
        while [ ! -e {q(pidfile)} ]; do sleep 0.01; done
        exec {stopper(h, "main")}
        """)
    sup = Sup(h, f"""
        [warden]
        grace = 1s
        [d]
        command = {daemon}
        kill_group = no
        """)
    wait_file(h.path("orphan.pid"))
    wait_stamps(h, [("main", "ready")])
    code = sup.stop()
    evs = sup.all_events()
    orphans = select(evs, "orphan.reaped")
    assert orphans and orphans[0]["signal"] == "SIGKILL", orphans
    took = shutdown_took(evs)
    assert 0.9 <= took < 3.5, f"the shutdown took {took:.2f}s: grace is 1 s (default 5 s)"
    assert code == EXIT_ESCALATED, \
        f"exit {code}: SIGKILL was needed when grace ran out (shutdown.finished {evs[-1]})"


def test_sigterm_during_startup(warden_pid1):
    h = warden_pid1
    sup = Sup(h, f"""
        [setup]
        type = oneshot
        command = sleep 30
        [app]
        command = {stopper(h, "app")}
        after = setup
        """)
    sup.wait_event("service.starting", "setup")
    t0 = time.monotonic()
    assert sup.stop() == 0, sup.err()
    assert time.monotonic() - t0 < 10, "the stop waited for the oneshot (30 s)"
    evs = sup.all_events()
    assert not select(evs, "service.starting", "app")
    assert select(evs, "service.stopped", "setup")
