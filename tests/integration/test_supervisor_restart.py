# SPDX-License-Identifier: MIT
"""Supervisor: restart policies, backoff timing, restart_reset, start limits, essential
services, the exit status without an essential service, oneshots, and commands that cannot
be executed."""

import os
import re
import signal

import pytest

from conftest import q, wait_for
from svlib import (DOCUMENTED, EXIT_CONFIG, Sup, need, parse_ts, read_stamps, script, select, sleep_until,
                   stamp)

pytestmark = pytest.mark.timeout(60)

FAST = """
restart_delay = 50ms
restart_delay_max = 50ms
"""


def stopper(h, name, *args):
    """A service command that logs its signals to NAME.log and exits on SIGTERM."""
    return " ".join([need("stopper"), "-n", name] + [str(a) for a in args] +
                    [q(h.path(f"{name}.log"))])


def after_line(h, name, path, line, then):
    """A service script NAME that waits (bounded) until a line of PATH matches LINE (a grep
    pattern), then runs THEN: a service that ends once another has got somewhere."""
    return script(h, name, f"""
        i=0
        until grep -q -e {q(line)} {q(path)} 2>/dev/null; do
            i=$((i+1)); [ $i -gt 1500 ] && exit 99
            sleep 0.02
        done
        {then}
        """)


def states(sup, service):
    """The (from, state) pairs of SERVICE's transitions so far."""
    return [(e["from"], e["state"]) for e in sup.events()
            if e.get("service") == service and "state" in e]




# --- policies ---------------------------------------------------------------

def test_restart_always_restarts_after_success(warden):
    sup = Sup(warden, f"""
        [again]
        command = true
        restart = always
        {FAST}
        """)
    sup.wait_event("service.starting", "again", count=4)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    exits = select(evs, "service.exited", "again")
    assert len(exits) >= 3
    assert all(e["code"] == 0 and e["exit_code"] == 0 and e["signal"] is None for e in exits[:3])
    backoffs = select(evs, "service.backoff", "again")
    assert len(backoffs) >= 3 and all(b["from"] == "running" for b in backoffs)
    assert not select(evs, "service.failed")


def test_on_failure_does_not_restart_success(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [ok]
        command = true
        restart = on-failure
        {FAST}
        """)
    assert sup.wait(15) == 0, sup.err()
    evs = sup.all_events()
    assert len(select(evs, "service.starting", "ok")) == 1
    fin = select(evs, "service.finished", "ok")
    assert len(fin) == 1 and fin[0]["state"] == "exited", evs
    assert not select(evs, "service.backoff")
    assert select(evs, "shutdown.finished")[0]["exit_code"] == 0


def test_default_policy_is_on_failure(warden_pid1):
    """No restart key: a failure is restarted, a success is not."""
    flag = warden_pid1.path("ran")
    cmd = script(warden_pid1, "svc.sh", f"""
        if [ -e {q(flag)} ]; then exit 0; fi
        touch {q(flag)}; exit 3
        """)
    sup = Sup(warden_pid1, f"""
        [svc]
        command = {cmd}
        restart_delay = 50ms
        """)
    assert sup.wait(15) == 0, sup.err()
    evs = sup.all_events()
    assert [e["code"] for e in select(evs, "service.exited", "svc")] == [3, 0]
    assert len(select(evs, "service.backoff", "svc")) == 1
    assert len(select(evs, "service.finished", "svc")) == 1


def test_on_failure_restarts_a_failure_until_start_limit(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [bad]
        command = sh -c 'exit 3'
        restart = on-failure
        start_limit = 3
        start_limit_interval = 1m
        {FAST}
        """)
    assert sup.wait(15) == 3, sup.err()
    evs = sup.all_events()
    assert len(select(evs, "service.starting", "bad")) == 3
    assert [e["code"] for e in select(evs, "service.exited", "bad")] == [3, 3, 3]
    failed = select(evs, "service.failed", "bad")
    assert len(failed) == 1
    assert failed[0]["from"] == "backoff" and failed[0]["reason"] == "start limit reached", failed
    assert "bad" in sup.err() and "giving up" in sup.err()


def test_on_failure_restarts_a_signal_death(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [killed]
        command = sh -c 'kill -KILL $$'
        start_limit = 2
        start_limit_interval = 1m
        {FAST}
        """)
    assert sup.wait(15) == 128 + 9, sup.err()
    evs = sup.all_events()
    exits = select(evs, "service.exited", "killed")
    assert len(exits) == 2
    assert all(e["signal"] == "SIGKILL" and e["code"] is None and e["exit_code"] == 137
               for e in exits), exits


def test_never_does_not_restart_a_failure(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [once]
        command = sh -c 'exit 3'
        restart = never
        {FAST}
        """)
    assert sup.wait(15) == 3, sup.err()
    evs = sup.all_events()
    assert len(select(evs, "service.starting", "once")) == 1
    failed = select(evs, "service.failed", "once")
    assert len(failed) == 1 and failed[0]["state"] == "failed", evs
    assert not select(evs, "service.backoff")
    assert select(evs, "shutdown.finished")[0]["exit_code"] == 3


def test_never_success_is_exited(warden_pid1):
    sup = Sup(warden_pid1, """
        [once]
        command = true
        restart = never
        """)
    assert sup.wait(15) == 0, sup.err()
    evs = sup.all_events()
    assert states(sup, "once") == [("stopped", "starting"), ("starting", "running"),
                                   ("running", "exited")]
    ex = select(evs, "service.exited", "once")[0]
    assert ex["status"] == "exited with code 0" and ex["core_dumped"] is False
    assert isinstance(ex["runtime_ms"], int) and ex["runtime_ms"] >= 0


# --- backoff ----------------------------------------------------------------

def within_jitter(got, nominal):
    """±10 % of nominal, with a millisecond for rounding."""
    return nominal * 0.9 - 1 <= got <= nominal * 1.1 + 1


def test_backoff_doubles_caps_and_jitters(warden_pid1):
    sup = Sup(warden_pid1, """
        [crash]
        command = sh -c 'exit 1'
        restart = always
        restart_delay = 50ms
        restart_delay_max = 400ms
        """)
    sup.wait_event("service.starting", "crash", count=10, timeout=20)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    backoffs = select(evs, "service.backoff", "crash")[:9]
    delays = [b["delay_ms"] for b in backoffs]
    nominal = [50, 100, 200, 400, 400, 400, 400, 400, 400]
    assert len(delays) == 9, delays
    for d, n in zip(delays, nominal):
        assert within_jitter(d, n), f"delays {delays}, want about {nominal} (±10 %)"
    for a, b in zip(delays[:3], delays[1:4]):
        assert 1.6 <= b / a <= 2.5, f"delays do not double: {delays}"
    assert len(set(delays[3:])) > 1, f"no jitter on the capped delays: {delays}"
    assert [b["restarts"] for b in backoffs] == list(range(9)), backoffs
    # The delay is really waited: from each backoff to the next start.
    starts = select(evs, "service.starting", "crash")
    for b, s in zip(backoffs, starts[1:]):
        gap = (parse_ts(s["ts"]) - parse_ts(b["ts"])) * 1000
        assert b["delay_ms"] - 3 <= gap <= b["delay_ms"] + 1500, (b, s, gap)


def test_restart_delay_max_below_delay(warden_pid1):
    """restart_delay_max smaller than restart_delay: the delay stays at restart_delay."""
    sup = Sup(warden_pid1, """
        [crash]
        command = false
        restart = always
        restart_delay = 100ms
        restart_delay_max = 10ms
        """)
    sup.wait_event("service.backoff", "crash", count=4)
    assert sup.stop() == 0
    delays = [b["delay_ms"] for b in sup.select("service.backoff", "crash")][:4]
    assert all(within_jitter(d, 100) for d in delays), delays


def test_backoff_resets_after_a_stable_run(warden_pid1):
    count = warden_pid1.path("count")
    flaky = script(warden_pid1, "flaky.sh", f"""
        n=$(cat {q(count)} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {q(count)}
        if [ $n -eq 4 ]; then sleep 1.2; fi
        exit 1
        """)
    sup = Sup(warden_pid1, f"""
        [flaky]
        command = {flaky}
        restart_delay = 100ms
        restart_delay_max = 10s
        restart_reset = 800ms
        """)
    sup.wait_event("service.backoff", "flaky", count=5, timeout=20)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    delays = [b["delay_ms"] for b in select(evs, "service.backoff", "flaky")][:5]
    nominal = [100, 200, 400, 100, 200]
    assert all(within_jitter(d, n) for d, n in zip(delays, nominal)), \
        f"delays {delays}, want about {nominal}: the 4th run lasted past restart_reset"
    runtimes = [e["runtime_ms"] for e in select(evs, "service.exited", "flaky")][:5]
    assert runtimes[3] >= 1100, runtimes


@pytest.mark.parametrize("interval,limited", [("10s", True), ("300ms", False)])
def test_start_limit_interval(warden_pid1, interval, limited):
    sup = Sup(warden_pid1, f"""
        [svc]
        command = true
        restart = always
        restart_delay = 200ms
        restart_delay_max = 200ms
        start_limit = 2
        start_limit_interval = {interval}
        [keep]
        command = sleep 30
        """)
    if limited:
        failed = sup.wait_event("service.failed", "svc", timeout=10)
        assert failed["reason"] == "start limit reached"
        assert len(sup.select("service.starting", "svc")) == 2
        assert sup.running(), "warden ended while another service runs"
    else:
        sup.wait_event("service.starting", "svc", count=6, timeout=10)
        assert not sup.select("service.failed", "svc")
    assert sup.stop() == 0, sup.err()


# --- essential --------------------------------------------------------------

def test_essential_exit_code_is_passed_through(warden):
    # main ends once other has blocked its signals (its "start"): other's SIGTERM is logged.
    main = after_line(warden, "main.sh", warden.path("other.log"), "^other start ", "exit 7")
    sup = Sup(warden, f"""
        [other]
        command = {stopper(warden, "other", "-d", 100)}
        [main]
        command = {main}
        essential = yes
        restart = never
        """)
    assert sup.wait(15) == 7, sup.err()
    assert sup.run.status() == "exited 7"
    evs = sup.all_events()
    assert select(evs, "shutdown.started")[0]["reason"] == "an essential service ended"
    assert select(evs, "shutdown.finished")[0]["exit_code"] == 7
    st = read_stamps(warden.path("other.log"))
    assert ("other", "sig:15") in [(n, w) for n, w, _ in st], st
    assert stamp(st, "other", "exit") is not None
    assert select(evs, "service.stopped", "other")


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGKILL])
def test_essential_signal_status_is_128_plus_n(warden_pid1, sig):
    sup = Sup(warden_pid1, f"""
        [other]
        command = sleep 30
        [main]
        command = sh -c 'sleep 0.2; kill -{sig.name[3:]} $$'
        essential = yes
        restart = never
        """)
    assert sup.wait(15) == 128 + sig, sup.err()
    ex = sup.select("service.exited", "main")[0]
    assert ex["signal"] == sig.name and ex["exit_code"] == 128 + sig


def test_essential_success_ends_everything_with_0(warden_pid1):
    main = after_line(warden_pid1, "main.sh", warden_pid1.path("other.log"), "^other start ",
                      "exit 0")
    sup = Sup(warden_pid1, f"""
        [other]
        command = {stopper(warden_pid1, "other")}
        [main]
        command = {main}
        essential = yes
        """)
    assert sup.wait(15) == 0, sup.err()
    assert sup.select("service.finished", "main")
    assert sup.select("service.stopped", "other")


def test_essential_being_restarted_does_not_end_warden(warden_pid1):
    """An essential service only ends warden when it ends for good."""
    sup = Sup(warden_pid1, f"""
        [main]
        command = sh -c 'exit 5'
        essential = yes
        start_limit = 3
        start_limit_interval = 1m
        {FAST}
        [other]
        command = sleep 30
        """)
    assert sup.wait(15) == 5, sup.err()
    assert len(sup.select("service.starting", "main")) == 3
    assert sup.select("service.failed", "main")[0]["reason"] == "start limit reached"


@pytest.mark.parametrize("bystander", [False, True])
def test_essential_with_failed_dependency(warden_pid1, bystander):
    """An essential service that a dependency failure keeps from starting ends warden by
    the essential rule, with the same status whether or not another service still runs."""
    extra = "[bystander]\ncommand = sleep 30\n" if bystander else ""
    sup = Sup(warden_pid1, """
        [dep]
        type = oneshot
        command = sh -c 'exit 2'
        restart = never
        [main]
        command = sleep 30
        after = dep
        essential = yes
        """ + extra)
    code = sup.wait(15)
    assert code != 0, "an essential service that could not start must not exit 0"
    assert not sup.select("service.starting", "main")
    assert sup.select("service.failed", "main")[0]["reason"] == "a dependency failed"
    reason = sup.select("shutdown.started")[0]["reason"]
    assert (reason, code) == ("an essential service ended", 1), \
        f"bystander={bystander}: shutdown reason {reason!r}, exit {code}"


# --- without an essential service --------------------------------------------

def test_all_succeeded_exits_0(warden):
    sup = Sup(warden, """
        [a]
        command = true
        [b]
        command = sh -c 'sleep 0.3'
        [c]
        type = oneshot
        command = sh -c 'exit 0'
        """)
    assert sup.wait(15) == 0, sup.err()
    evs = sup.all_events()
    assert {e["service"] for e in select(evs, "service.finished")} == {"a", "b", "c"}
    sd = select(evs, "shutdown.started")
    assert sd and sd[0]["reason"] == "no service is left running", sd


@pytest.mark.parametrize("first", ["a", "b"])
def test_first_failure_decides(warden_pid1, first):
    """The status of the service that failed first, in time, not in file order: the other
    one fails once warden has seen the first one exit."""
    h = warden_pid1
    events = h.path("warden.conf.events")  # Sup's
    second = "b" if first == "a" else "a"
    cmd = {first: f"sh -c 'sleep 0.1; exit {3 if first == 'a' else 5}'",
           second: after_line(h, "second.sh", events,
                              f'"event":"service.exited","service":"{first}"',
                              f"exit {3 if second == 'a' else 5}")}
    sup = Sup(h, f"""
        [b]
        command = {cmd["b"]}
        restart = never
        [a]
        command = {cmd["a"]}
        restart = never
        [c]
        command = sh -c 'sleep 1; exit 0'
        """)
    want = 3 if first == "a" else 5
    assert sup.wait(15) == want, sup.err()
    assert sup.select("shutdown.finished")[0]["exit_code"] == want


def test_failure_by_signal_exit_status(warden_pid1):
    sup = Sup(warden_pid1, """
        [a]
        command = sh -c 'kill -TERM $$'
        restart = never
        [b]
        command = true
        """)
    assert sup.wait(15) == 128 + 15, sup.err()


# --- oneshot ----------------------------------------------------------------

def test_oneshot_dependents_wait_for_it(warden_pid1):
    done = warden_pid1.path("migrated")
    api = script(warden_pid1, "api.sh", f"""
        if [ -e {q(done)} ]; then echo migrated-before-start; else echo too-early; fi
        exec sleep 30
        """)
    sup = Sup(warden_pid1, f"""
        [api]
        command = {api}
        after = migrate
        [migrate]
        type = oneshot
        command = sh -c 'sleep 0.5; touch {q(done)}'
        ready_timeout = 100ms
        """)
    st = sup.wait_event("service.starting", "api", timeout=10)
    fin = sup.select("service.finished", "migrate")
    assert fin and fin[0]["state"] == "exited" and fin[0]["from"] == "starting", sup.events()
    assert parse_ts(st["ts"]) >= parse_ts(fin[0]["ts"])
    # ready_timeout does not apply to a oneshot: it was not stopped.
    assert not sup.select("service.stopping", "migrate")
    # While it ran, the oneshot was "starting"; it never was "running".
    assert not sup.select("service.ready", "migrate")
    assert sup.running()
    # api says what it found before it sleeps: a stop before that would end it unheard.
    said = wait_for(lambda: re.search(r"^api \| (\S+)$", sup.out(), re.M), 10, "api's verdict")
    assert said.group(1) == "migrated-before-start", sup.out()
    assert sup.stop() == 0, sup.err()


def test_oneshot_failure_fails_dependents(warden_pid1):
    mark = warden_pid1.path("api-started")
    sup = Sup(warden_pid1, f"""
        [setup]
        type = oneshot
        command = sh -c 'sleep 0.2; exit 4'
        restart = never
        [api]
        command = touch {q(mark)}
        after = setup
        [web]
        command = touch {q(mark)}
        after = api
        """)
    assert sup.wait(15) == 4, sup.err()
    evs = sup.all_events()
    for name in ("api", "web"):
        f = select(evs, "service.failed", name)
        # Waiting for what they are after, they never start.
        assert f and f[0]["reason"] == "a dependency failed" and f[0]["from"] == "waiting", evs
        assert select(evs, "service.waiting", name)[0]["from"] == "stopped"
        assert not select(evs, "service.starting", name)
    assert not mark.exists()
    assert select(evs, "service.failed", "setup")


def test_oneshot_retried_then_dependents_start(warden_pid1):
    flag = warden_pid1.path("tried")
    cmd = script(warden_pid1, "setup.sh", f"""
        if [ -e {q(flag)} ]; then exit 0; fi
        touch {q(flag)}; exit 1
        """)
    sup = Sup(warden_pid1, f"""
        [setup]
        type = oneshot
        command = {cmd}
        {FAST}
        [api]
        command = sleep 30
        after = setup
        """)
    st = sup.wait_event("service.starting", "api")
    exits = sup.select("service.exited", "setup")
    assert [e["code"] for e in exits] == [1, 0]
    fin = sup.select("service.finished", "setup")[0]
    assert parse_ts(st["ts"]) >= parse_ts(fin["ts"])
    assert sup.stop() == 0


# --- commands that cannot run -------------------------------------------------

def test_command_not_found_follows_policy_and_warden_survives(warden):
    sup = Sup(warden, f"""
        [ghost]
        command = /nonexistent/prog --flag
        start_limit = 3
        start_limit_interval = 1m
        {FAST}
        [alive]
        command = {stopper(warden, "alive")}
        """)
    f = sup.wait_event("service.failed", "ghost", timeout=10)
    assert f["reason"] == "start limit reached"
    assert "service ghost: cannot execute '/nonexistent/prog': No such file or directory" \
        in sup.err(), sup.err()
    assert sup.err().count("service ghost: cannot execute") == 3, sup.err()
    assert sup.running()
    sup.wait_event("service.ready", "alive")
    assert sup.stop() == 0, sup.err()


def test_exec_failures_are_announced(warden_pid1):
    """Each attempt that cannot execute is a failed run: each shows in the events
    (a service.backoff with its delay and restart count), and each transition is one of
    the documented table (stopped -> starting first, never stopped -> backoff)."""
    sup = Sup(warden_pid1, """
        [ghost]
        command = /nonexistent/prog
        restart_delay = 50ms
        restart_delay_max = 1s
        start_limit = 4
        start_limit_interval = 1m
        """)
    assert sup.wait(15) == 127, sup.err()
    evs = sup.all_events()
    backoffs = select(evs, "service.backoff", "ghost")
    assert [b["delay_ms"] for b in backoffs] and len(backoffs) == 4, \
        f"4 failed attempts, {len(backoffs)} service.backoff events: {backoffs}"
    bad = [(e["from"], e["state"]) for e in evs if e.get("service") == "ghost" and "state" in e
           and (e["from"], e["state"]) not in DOCUMENTED]
    assert not bad, f"transitions outside the documented table: {bad}"


@pytest.mark.parametrize("kind,code,reason", [
    ("missing", 127, "No such file or directory"),
    ("noexec", 126, "Permission denied"),
    ("path", 127, "No such file or directory"),
])
def test_command_cannot_execute_restart_never(warden_pid1, kind, code, reason):
    script = warden_pid1.path("noexec.sh")
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    cmd = {"missing": "/nonexistent/prog", "noexec": str(script),
           "path": "no-such-command-in-path-wdn"}[kind]
    sup = Sup(warden_pid1, f"""
        [bad]
        command = {cmd}
        restart = never
        """)
    assert sup.wait(15) == code, sup.err()
    assert f"cannot execute '{cmd}': {reason}" in sup.err(), sup.err()
    f = sup.select("service.failed", "bad")
    assert f and f[0]["reason"] == "cannot execute", sup.events()


def test_directory_missing_is_a_failed_start(warden_pid1):
    sup = Sup(warden_pid1, """
        [bad]
        command = true
        directory = /nonexistent/dir
        restart = never
        [good]
        command = sh -c 'sleep 0.3'
        """)
    assert sup.wait(15) != 0
    assert "service bad: cannot change directory to '/nonexistent/dir'" in sup.err(), sup.err()
    assert sup.select("service.failed", "bad")
    assert sup.select("service.finished", "good")


def test_start_limit_without_interval_is_not_silently_ignored(warden_pid1):
    """start_limit alone (start_limit_interval defaults to 'no limit'): either a config
    error, or a limit over all time; never a key that silently does nothing."""
    sup = Sup(warden_pid1, """
        [crash]
        command = false
        restart = always
        restart_delay = 20ms
        restart_delay_max = 20ms
        start_limit = 2
        """)
    # A window of a second: with no limit, some 40 starts would come in it.
    ended = sleep_until(lambda: not sup.running(), 1.0)
    if not ended:
        n = len(sup.select("service.starting", "crash"))
        sup.stop()
        assert n <= 2, f"start_limit = 2 without an interval: {n} starts in a second"
    else:
        assert sup.wait(5) in (EXIT_CONFIG, 1), sup.err()
