# SPDX-License-Identifier: MIT
"""Supervisor events: warden.started, the transition events and their fields, every
transition one of warden.conf(5)'s table, orphans reaped while services run, signals that
warden ignores."""

import signal

import pytest

from conftest import q
from svlib import DOCUMENTED, Sup, need, read_stamps, script, select, wait_file

pytestmark = pytest.mark.timeout(60)

STATES = {"stopped", "waiting", "starting", "running", "stopping", "backoff", "exited", "failed"}
STATE_EVENT = {"stopped": "service.stopped", "waiting": "service.waiting",
               "starting": "service.starting",
               "running": "service.ready", "stopping": "service.stopping",
               "backoff": "service.backoff", "exited": "service.finished",
               "failed": "service.failed"}


def transitions(evs):
    return [e for e in evs if e["event"] in STATE_EVENT.values()]


def check_transition_events(evs):
    """Each transition event: named after the state entered, with service, state, from, pid;
    each service's chain of states is continuous and follows the documented table."""
    last = {}
    for e in transitions(evs):
        for k in ("service", "state", "from", "pid"):
            assert k in e, f"{e['event']} without {k}: {e}"
        assert e["state"] in STATES and e["from"] in STATES, e
        assert STATE_EVENT[e["state"]] == e["event"], e
        assert (e["from"], e["state"]) in DOCUMENTED, f"undocumented transition: {e}"
        assert last.get(e["service"], "stopped") == e["from"], \
            f"{e['service']}: from {e['from']}, but it was {last.get(e['service'], 'stopped')}"
        last[e["service"]] = e["state"]
        if e["state"] in ("starting", "running", "stopping"):
            assert isinstance(e["pid"], int) and e["pid"] > 1, e
    return last


def test_warden_started(warden):
    sup = Sup(warden, """
        [a]
        command = true
        [b]
        command = true
        """)
    assert sup.wait(15) == 0
    evs = sup.all_events()
    st = evs[0]
    assert st["event"] == "warden.started"
    assert st["mode"] == "supervisor" and st["config"] == str(sup.conf_path) \
        and st["services"] == 2, st
    if warden.pid1:
        assert st["pid"] == 1 and st["pid1"] is True and st["subreaper"] is False
    else:
        assert st["pid"] == sup.run.pid and st["pid1"] is False and st["subreaper"] is True
    assert evs[-1]["event"] == "shutdown.finished"
    fin = evs[-1]
    assert fin["exit_code"] == 0 and fin["escalated"] is False and isinstance(fin["uptime_ms"], int)


def test_lifecycle_transitions_follow_the_table(warden):
    """A scenario through most states: a oneshot, readiness, a crash and backoff, a
    ready_timeout, a watchdog stop, a dependency failure, a shutdown."""
    h = warden
    flag = h.path("crashed")
    crash = script(h, "crash.sh", f"""
        if [ -e {q(flag)} ]; then exec sleep 30; fi
        touch {q(flag)}; exit 1
        """)
    sup = Sup(h, f"""
        [setup]
        type = oneshot
        command = true
        [crashy]
        command = {crash}
        after = setup
        restart_delay = 50ms
        [slow]
        command = sleep 30
        ready = notify
        ready_timeout = 300ms
        restart = never
        [needs-slow]
        command = sleep 30
        after = slow
        [wd]
        command = {need("sdnotify")} notify:READY=1 sleep:30000
        ready = notify
        watchdog = 300ms
        restart = never
        [final]
        command = sleep 30
        after = crashy
        """)
    sup.wait_event("service.failed", "needs-slow", timeout=10)
    sup.wait_event("service.failed", "wd", timeout=10)
    sup.wait_event("service.ready", "crashy", count=2, timeout=10)
    sup.wait_event("service.ready", "final", timeout=10)
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    last = check_transition_events(evs)
    assert last == {"setup": "exited", "crashy": "stopped", "slow": "failed",
                    "needs-slow": "failed", "wd": "failed", "final": "stopped"}, last
    for ex in select(evs, "service.exited"):
        for k in ("service", "pid", "code", "signal", "core_dumped", "status", "exit_code",
                  "runtime_ms"):
            assert k in ex, (k, ex)
    assert all("delay_ms" in b and "restarts" in b for b in select(evs, "service.backoff"))
    assert all("startup_ms" in r for r in select(evs, "service.ready"))


def test_reload_transitions_follow_the_table(warden_pid1):
    """A service restarted by a reload goes through documented transitions too."""
    h = warden_pid1
    sup = Sup(h, """
        [svc]
        command = sleep 30
        environment = V=1
        """)
    sup.wait_event("service.ready", "svc")
    sup.reload("""
        [svc]
        command = sleep 30
        environment = V=2
        """)
    sup.wait_event("service.ready", "svc", count=2)
    assert sup.stop() == 0
    check_transition_events(sup.all_events())


def test_orphans_reaped_while_services_run(warden):
    h = warden
    daemon = script(h, "daemon.sh", f"""
        sh -c '(sleep 0.2; touch {q(h.path("orphan-done"))}) & exit 0'
        exec sleep 30
        """)
    dbl = script(h, "double.sh", """
        sh -c 'sleep 0.3 & exit 0'
        exec sleep 30
        """)
    sup = Sup(h, f"""
        [d]
        command = {daemon}
        [e]
        command = {dbl}
        """)
    wait_file(h.path("orphan-done"))
    orphan = sup.wait_event("orphan.reaped", timeout=10)
    assert orphan["code"] == 0 and orphan["signal"] is None, orphan
    sup.wait_event("orphan.reaped", count=2, timeout=10)
    assert sup.running()
    assert not [p for p in sup.run.children() if p.status() == "zombie"]
    assert sup.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH])
def test_signals_no_service_asks_for_are_dropped(warden_pid1, sig):
    """A signal that no service forwards (forward_signals) is dropped, and said so."""
    h = warden_pid1
    sup = Sup(h, f"""
        [svc]
        command = {need("stopper")} -n svc {q(h.path("stamps.log"))}
        """)
    sup.wait_event("service.ready", "svc")
    sup.kill(sig)
    d = sup.wait_event("signal.dropped")
    assert d["received"] == sig.name and d["service"] is None, d
    assert d["reason"] == "no service forwards it", d
    assert sup.running()
    assert f"dropped {sig.name}: no service forwards it" in sup.err(), sup.err()
    assert not [x for x in read_stamps(h.path("stamps.log")) if x[1].startswith("sig:")]
    assert sup.stop() == 0
