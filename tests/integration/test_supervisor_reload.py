# SPDX-License-Identifier: MIT
"""Supervisor: SIGHUP reloads the config. Added services start, removed ones stop, changed
ones restart (a new pid), unchanged ones keep theirs; a bad config is rejected with nothing
changed; [warden] grace, shutdown_timeout and log_format take effect at once."""

import json
import re
import time

import pytest

from conftest import q, wait_for
from svlib import Sup, need, parse_ts, read_stamps, select, stamp, wait_stamp

pytestmark = pytest.mark.timeout(60)


def stopper(h, name, *args):
    return " ".join([need("stopper"), "-n", name] + [str(a) for a in args] +
                    [q(h.path("stamps.log"))])


def base(h, **over):
    """A config: keep, change (environment V), gone; plus extra sections."""
    v = over.get("v", 1)
    text = f"""
        [keep]
        command = {stopper(h, "keep")}
        [change]
        command = {stopper(h, "change")}
        environment = V={v}
        """
    if over.get("gone", True):
        text += f"""
        [gone]
        command = {stopper(h, "gone")}
        """
    if over.get("new"):
        text += f"""
        [new]
        command = {stopper(h, "new")}
        """
    return text + over.get("extra", "")


def started(sup, names):
    """Waits until each stopper of NAMES runs and has blocked its signals (ready = none
    comes at exec, before that: a SIGTERM then would kill it unlogged)."""
    for n in names:
        sup.wait_event("service.ready", n)
        wait_stamp(sup.h.path("stamps.log"), n, "start")


def test_reload_add_remove_change_keep(warden):
    h = warden
    sup = Sup(h, base(h))
    started(sup, ["keep", "change", "gone"])
    pids = {n: sup.pids(n) for n in ("keep", "change", "gone")}
    ev = sup.reload(base(h, v=2, gone=False, new=True))
    assert ev["event"] == "config.reloaded", ev
    assert (ev["added"], ev["changed"], ev["removed"]) == (1, 1, 1), ev
    sup.wait_event("service.ready", "new")
    sup.wait_event("service.ready", "change", count=2)
    sup.wait_event("service.stopped", "gone")
    time.sleep(0.3)  # a window: keep must not restart, gone must not start again
    assert sup.pids("keep") == pids["keep"], "an unchanged service was restarted"
    new_change = sup.pids("change")
    assert len(new_change) == 2 and new_change[1] != new_change[0]
    assert sup.pids("gone") == pids["gone"], "a removed service was started again"
    st = read_stamps(h.path("stamps.log"))
    assert stamp(st, "gone", "sig:15") and stamp(st, "change", "sig:15")
    assert not stamp(st, "keep", "sig:15")
    assert sup.stop() == 0, sup.err()
    evs = sup.all_events()
    # After the reload the removed service is gone for good: not stopped again at shutdown.
    assert len(select(evs, "service.stopped", "gone")) == 1


def test_reload_changed_service_gets_its_new_settings(warden_pid1):
    h = warden_pid1
    conf = """
        [svc]
        command = sh -c 'echo "V=$V"; exec sleep 30'
        environment = V={v}
        """
    sup = Sup(h, conf.format(v="one"), verbose=False)
    wait_for(lambda: "svc | V=one" in sup.out(), 10, "the first run's output")
    sup.reload(conf.format(v="two"))
    wait_for(lambda: "svc | V=two" in sup.out(), 10, "the second run's output")
    assert sup.stop() == 0


@pytest.mark.parametrize("bad,want", [
    ("[a]\ncommand = sleep 30\nafter = b\n[b]\ncommand = sleep 30\nafter = a\n",
     r"dependency cycle"),
    ("[a]\ncommand = sleep 30\nafter = nope\n", r"is after 'nope', which is not a service"),
    ("[a]\ncommand = sleep 30\ncomand = x\n", r"did you mean 'command'"),
    ("[a]\ncommand = sleep 30\nstop_timeout = soon\n", r"invalid duration 'soon'"),
])
def test_reload_rejects_a_bad_config(warden_pid1, bad, want):
    h = warden_pid1
    sup = Sup(h, base(h))
    started(sup, ["keep", "change", "gone"])
    n_events = len(sup.events())
    ev = sup.reload(bad)
    assert ev["event"] == "config.rejected", ev
    assert ev["error"].startswith(f"{sup.conf_path}:") and re.search(want, ev["error"]), ev
    assert "reload rejected, nothing changed" in sup.err(), sup.err()
    time.sleep(0.4)  # a window: nothing may follow the rejection
    later = sup.events()[n_events:]
    assert [e["event"] for e in later] == ["config.rejected"], later
    assert not read_stamps(h.path("stamps.log")) or \
        not [x for x in read_stamps(h.path("stamps.log")) if x[1].startswith("sig:")]
    # A good config afterwards is taken.
    ev = sup.reload(base(h, new=True))
    assert ev["event"] == "config.reloaded" and ev["added"] == 1 and ev["changed"] == 0, ev
    sup.wait_event("service.ready", "new")
    assert sup.stop() == 0


def test_reload_missing_file_is_rejected(warden_pid1):
    h = warden_pid1
    sup = Sup(h, base(h))
    started(sup, ["keep"])
    sup.conf_path.unlink()
    sup.hup()
    ev = sup.wait_event("config.rejected")
    assert "No such file or directory" in ev["error"], ev
    assert sup.running()
    assert sup.stop() == 0


def test_reload_changed_service_in_backoff_starts_now(warden_pid1):
    h = warden_pid1
    sup = Sup(h, """
        [svc]
        command = false
        restart_delay = 30s
        """)
    sup.wait_event("service.backoff", "svc")
    t0 = time.monotonic()
    sup.reload("""
        [svc]
        command = sleep 30
        restart_delay = 30s
        """)
    sup.wait_event("service.ready", "svc", timeout=20)
    assert time.monotonic() - t0 < 10, "the changed service waited for its restart delay (30 s)"
    assert sup.stop() == 0


def test_reload_shutdown_timeout_takes_effect_without_restarts(warden_pid1):
    h = warden_pid1
    conf = """
        [warden]
        shutdown_timeout = {bound}
        [stubborn]
        command = {cmd}
        stop_timeout = 20s
        """
    cmd = stopper(h, "stubborn", "-i")
    sup = Sup(h, conf.format(bound="30s", cmd=cmd))
    started(sup, ["stubborn"])
    ev = sup.reload(conf.format(bound="1s", cmd=cmd))
    assert ev["event"] == "config.reloaded" and (ev["added"], ev["changed"], ev["removed"]) == \
        (0, 0, 0), ev
    time.sleep(0.2)  # a window: the reload must not restart it
    assert len(sup.pids("stubborn")) == 1
    t0 = time.monotonic()
    assert sup.stop(timeout=45) == 124
    took = time.monotonic() - t0
    assert took < 10, f"the reloaded shutdown_timeout (1s) was not used (took {took:.1f}s; " \
        "stop_timeout is 20s, the old bound 30s)"


def test_reload_global_log_format_takes_effect(warden_pid1):
    h = warden_pid1
    conf = """
        [warden]
        log_format = {fmt}
        [ticker]
        command = sh -c 'while :; do echo tick; sleep 0.05; done'
        """
    sup = Sup(h, conf.format(fmt="prefix"), verbose=False)
    wait_for(lambda: "ticker | tick" in sup.out(), 10, "prefix output")
    sup.reload(conf.format(fmt="json"))

    def json_line():
        for line in sup.out().split("\n")[:-1]:  # whole lines: the last may be partial
            if line.startswith("{"):
                o = json.loads(line)
                return o["event"] == "log" and o["service"] == "ticker" and o["line"] == "tick"
        return False
    try:
        wait_for(json_line, 15, "a json log line")
    except AssertionError:
        pytest.fail(f"[warden] log_format = json did not take effect: {sup.out()[-300:]!r}")
    assert sup.stop() == 0


def test_reload_leaves_finished_oneshot_alone(warden_pid1):
    h = warden_pid1
    conf = """
        [setup]
        type = oneshot
        command = true
        [app]
        command = sleep 30
        after = setup
        {extra}
        """
    sup = Sup(h, conf.format(extra=""))
    sup.wait_event("service.ready", "app")
    ev = sup.reload(conf.format(extra="[more]\ncommand = sleep 30"))
    assert (ev["added"], ev["changed"]) == (1, 0), ev
    sup.wait_event("service.ready", "more")
    time.sleep(0.2)  # a window: setup must not run again, app must not restart
    assert len(sup.pids("setup")) == 1 and len(sup.pids("app")) == 1
    assert sup.stop() == 0


def test_reload_changed_service_waits_for_a_new_dependency(warden_pid1):
    """A changed service restarted by a reload still starts only once every service it is
    after (here one the same reload added) is ready."""
    h = warden_pid1
    sup = Sup(h, f"""
        [web]
        command = {stopper(h, "web")}
        """)
    sup.wait_event("service.ready", "web")
    sup.reload(f"""
        [db]
        command = {stopper(h, "db", "-w", 800, "-F", 3)}
        ready = fd:3
        [web]
        command = {stopper(h, "web")}
        after = db
        """)
    sup.wait_event("service.ready", "db", timeout=10)
    second = sup.wait_event("service.starting", "web", count=2, timeout=10)
    db_ready = sup.select("service.ready", "db")[0]
    assert parse_ts(second["ts"]) >= parse_ts(db_ready["ts"]), \
        "web restarted before db, which it is now after, was ready"
    assert sup.stop() == 0


def test_sighup_during_shutdown_is_ignored(warden_pid1):
    h = warden_pid1
    sup = Sup(h, f"""
        [slow]
        command = {stopper(h, "slow", "-d", 3000)}
        """)
    started(sup, ["slow"])
    # slow takes 3 s to stop: time enough, even on a loaded machine, for the HUP below.
    sup.kill(15)
    sup.wait_event("service.stopping", "slow")
    sup.write(f"""
        [other]
        command = {stopper(h, "other")}
        """)
    sup.hup()
    assert sup.wait(10) == 0
    evs = sup.all_events()
    assert not select(evs, "config.reloaded") and not select(evs, "service.starting", "other")
