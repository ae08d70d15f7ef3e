# SPDX-License-Identifier: MIT
"""Reaping and shutdown: orphan storms leave no zombie, leftovers get TERM then KILL
after the grace period, --wait-all, and nothing survives warden."""

import os
import signal
import time

import psutil
import pytest

from conftest import (helper, proc_exists, q, read_events, read_signals, sh, wait_file_sh,
                      wait_for)

pytestmark = pytest.mark.timeout(120)

STORM = 3000


def count_reaped(ev):
    try:
        with open(ev) as f:
            return f.read().count('"orphan.reaped"')
    except FileNotFoundError:
        return 0


def zombies(procs):
    out = []
    for p in procs:
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def check_orphan_events(evs, n, code=0, or_terminated=False):
    reaped = [e for e in evs if e["event"] == "orphan.reaped"]
    assert len(reaped) == n
    assert len({e["pid"] for e in reaped}) == n, "an orphan was reported twice"
    for e in reaped:
        if or_terminated and e["signal"] == "SIGTERM":
            # Still alive when the main child exited: it got the leftovers' SIGTERM.
            assert e["code"] is None and e["exit_code"] == 143
            continue
        assert e["code"] == code and e["signal"] is None and e["core_dumped"] is False
        assert e["exit_code"] == code
        assert e["status"] == f"exited with code {code}"


@pytest.mark.timeout(240)
def test_orphan_storm_leaves_no_zombie(warden):
    ev, done = warden.path("events"), warden.path("done")
    r = warden.start(["--events", ev, "--", helper("orphans"), str(STORM), "--done", done,
                      "--then-sleep", "150", "--exit-code", "7"])
    main = r.main_child()
    wait_for(done.exists, 90, "the orphan maker to finish")
    assert done.read_text() == f"{STORM}\n", "the helper could not make every orphan"

    def settled():
        return count_reaped(ev) >= STORM and not zombies(r.children())

    wait_for(settled, 30, f"{STORM} orphans reaped and no zombie child of warden", interval=0.1)
    assert main.is_running() and main.status() != psutil.STATUS_ZOMBIE, "main child not sleeping"
    assert [p.pid for p in r.children()] == [main.pid]
    r.kill(signal.SIGTERM)  # ends the helper's sleep; it exits 7
    assert r.wait(30) == 7
    evs = read_events(ev)
    check_orphan_events(evs, STORM)
    assert evs[-1]["event"] == "shutdown.finished"
    assert evs[-1]["exit_code"] == 7
    if not warden.pid1:
        assert warden.strays() == []


@pytest.mark.timeout(240)
def test_orphan_storm_while_main_exits(warden):
    """Main exits as soon as it made the orphans: all are still reaped and counted."""
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--", helper("orphans"), "1000", "--exit-code", "3"],
                   timeout=120)
    assert r.returncode == 3
    check_orphan_events(read_events(ev), 1000, or_terminated=True)
    if not warden.pid1:
        assert warden.strays() == []


def test_orphan_exit_status_decoded(warden):
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--", helper("orphans"), "5", "--orphan-exit", "3",
                    "--then-sleep", "1"])
    assert r.returncode == 0
    check_orphan_events(read_events(ev), 5, code=3)


def test_sleeping_orphans_are_terminated(warden):
    """Orphans still alive when main exits get TERM, die, and are counted."""
    ev = warden.path("events")
    r = warden.run(["-t", "30", "--events", ev, "--", helper("orphans"), "5",
                    "--orphan-sleep", "60", "--exit-code", "4"], timeout=45)
    assert r.returncode == 4
    assert r.elapsed < 10, "orphans that die on TERM should not wait for the grace period (30 s)"
    evs = read_events(ev)
    reaped = [e for e in evs if e["event"] == "orphan.reaped"]
    assert len(reaped) == 5
    for e in reaped:
        assert e["signal"] == "SIGTERM" and e["code"] is None and e["exit_code"] == 143
        assert e["status"] == "killed by SIGTERM"
    (started,) = [e for e in evs if e["event"] == "shutdown.started"]
    assert started["reason"] == "main process exited"
    assert started["pending"] == 5
    (fin,) = [e for e in evs if e["event"] == "shutdown.finished"]
    assert fin["signalled"] == 5 and fin["killed"] == 0 and fin["exit_code"] == 4
    if not warden.pid1:
        assert warden.strays() == []


class Leftover:
    """warden running `sh -c 'LEFTOVER & wait ready; wait go; exit CODE'`."""

    def __init__(self, warden, args, rec_args="-x 0 -t 60", code=3, wrap=""):
        self.log, self.ready = warden.path("left.log"), warden.path("left.ready")
        self.go = warden.path("go")
        self.ev = warden.path("events")
        rec = f"{q(helper('sigrecord'))} {rec_args} -r {q(self.ready)} {q(self.log)}"
        script = (f"{wrap}{rec} & {wait_file_sh(self.ready)}; {wait_file_sh(self.go, 60)}; "
                  f"exit {code}")
        self.r = warden.start(list(args) + ["--events", self.ev, "--"] + sh(script))
        wait_for(self.ready.exists, 15, "the leftover to be ready")
        self.procs = self.r.descendants()

        def named(p, name):
            # A short-lived process (the polling sleep) may be gone by now.
            try:
                return p.name() == name
            except psutil.NoSuchProcess:
                return False

        self.leftover = [p for p in self.procs if named(p, "sigrecord")]
        assert len(self.leftover) == 1, self.procs
        self.leftover = self.leftover[0]

    def release(self):
        self.t0 = time.monotonic()
        self.go.write_text("")

    def finish(self, timeout=30):
        code = self.r.wait(timeout)
        self.took = time.monotonic() - self.t0
        return code

    def assert_nothing_survives(self, warden):
        alive = [p for p in self.procs if proc_exists(p)]
        assert alive == [], f"processes survived warden: {alive}"
        if not warden.pid1:
            assert warden.strays() == []

    def finished(self):
        evs = read_events(self.ev)
        (fin,) = [e for e in evs if e["event"] == "shutdown.finished"]
        return evs, fin


def test_leftover_ignoring_term_is_killed_after_grace(warden):
    lo = Leftover(warden, ["-t", "1"])
    lo.release()
    assert lo.finish() == 3
    assert 0.9 <= lo.took < 10, f"took {lo.took:.2f}s with a 1s grace"
    got = read_signals(lo.log)
    assert got and got[0] == 15 and 18 in got and set(got) <= {15, 18}, got
    lo.assert_nothing_survives(warden)
    evs, fin = lo.finished()
    assert fin["signalled"] == 1 and fin["killed"] == 1 and fin["exit_code"] == 3
    (started,) = [e for e in evs if e["event"] == "shutdown.started"]
    assert started["pending"] == 1 and started["reason"] == "main process exited"
    reaped = [e for e in evs if e["event"] == "orphan.reaped"]
    assert [(e["signal"], e["exit_code"]) for e in reaped] == [("SIGKILL", 137)]
    names = [e["event"] for e in evs]
    assert names.index("service.exited") < names.index("shutdown.started") \
        < names.index("orphan.reaped") < names.index("shutdown.finished")


def test_leftover_exiting_on_term_ends_shutdown_early(warden):
    lo = Leftover(warden, ["-t", "30"], rec_args="-x TERM -t 60")
    lo.release()
    assert lo.finish(45) == 3
    assert lo.took < 10, "warden waited for the grace period (30 s) although nothing was left"
    assert read_signals(lo.log) == [15]
    lo.assert_nothing_survives(warden)
    _, fin = lo.finished()
    assert fin["signalled"] == 1 and fin["killed"] == 0


def test_default_grace_is_5s(warden):
    lo = Leftover(warden, [])
    lo.release()
    assert lo.finish() == 3
    assert 4.5 <= lo.took < 15, f"took {lo.took:.2f}s, default grace is 5s"
    lo.assert_nothing_survives(warden)


@pytest.mark.parametrize("grace", ["500ms", "0.5", "0.5s", "500000us"])
def test_grace_units(warden_sub, grace):
    lo = Leftover(warden_sub, ["--grace", grace])
    lo.release()
    assert lo.finish() == 3
    # Below the default grace (5 s), which a misread duration would give.
    assert 0.45 <= lo.took < 4, f"took {lo.took:.2f}s with grace {grace}"
    lo.assert_nothing_survives(warden_sub)


@pytest.mark.parametrize("zero", ["0", "0s", "0ms"])
def test_grace_zero_kills_at_once(warden, zero):
    lo = Leftover(warden, ["-t", zero])
    lo.release()
    assert lo.finish() == 3
    assert lo.took < 4, "slower than with the default grace (5 s)"
    assert read_signals(lo.log) == [], "with -t 0 the leftover must get SIGKILL, not TERM"
    lo.assert_nothing_survives(warden)
    _, fin = lo.finished()
    assert fin["killed"] == 1 and fin["signalled"] == 0


def test_leftover_in_own_session(warden):
    """A leftover outside the child's process group is still found and stopped."""
    lo = Leftover(warden, ["-t", "1"], wrap="setsid ")
    assert os.getsid(lo.leftover.pid) == lo.leftover.pid, "setsid did not make a new session"
    lo.release()
    assert lo.finish() == 3
    got = read_signals(lo.log)
    assert got and got[0] == 15, got
    lo.assert_nothing_survives(warden)
    _, fin = lo.finished()
    assert fin["signalled"] == 1 and fin["killed"] == 1


def test_stopped_leftover_gets_cont(warden):
    """TERM is followed by CONT, so a stopped leftover dies at once, not after the grace."""
    go = warden.path("go")
    ready = warden.path("orphan.ready")
    script = (f"{q(helper('orphans'))} 1 --orphan-sleep 60 && touch {q(ready)}; "
              f"{wait_file_sh(go, 60)}; exit 6")
    ev = warden.path("events")
    r = warden.start(["-t", "30", "--events", ev, "--"] + sh(script))
    wait_for(ready.exists, 10, "the orphan")

    def named(p, name):
        # A short-lived process (the polling sleep) may be gone by now.
        try:
            return p.name() == name
        except psutil.NoSuchProcess:
            return False
    (sleeper,) = wait_for(lambda: [p for p in r.descendants() if named(p, "orphans")], 10,
                          "the sleeping orphan")
    sleeper.send_signal(signal.SIGSTOP)
    wait_for(lambda: sleeper.status() == psutil.STATUS_STOPPED, 10, "the orphan to stop")
    t0 = time.monotonic()
    go.write_text("")
    assert r.wait(45) == 6
    assert time.monotonic() - t0 < 10, "stopped leftover was not continued after TERM (30 s grace)"
    assert not proc_exists(sleeper)
    reaped = [e for e in read_events(ev) if e["event"] == "orphan.reaped"]
    assert [e["signal"] for e in reaped] == ["SIGTERM"]


def test_nested_leftovers_all_stopped(warden):
    """Leftovers deeper in the tree (not direct children of warden) are stopped too."""
    go = warden.path("go")
    logs = [warden.path(f"l{i}.log") for i in range(3)]
    readies = [warden.path(f"l{i}.ready") for i in range(3)]
    rec = [f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(readies[i])} {q(logs[i])}" for i in range(3)]
    inner = warden.path("inner.sh")
    inner.write_text(f"{rec[1]} &\nwait\n")
    # l0: child of a subshell that waits for it; l1: in its own session; l2: plain.
    script = (f"( {rec[0]}; sleep 60 ) & setsid sh {q(inner)} & {rec[2]} & "
              + "; ".join(wait_file_sh(x) for x in readies) + f"; {wait_file_sh(go, 60)}; exit 9")
    r = warden.start(["-t", "1", "--"] + sh(script))
    wait_for(lambda: all(x.exists() for x in readies), 15, "all leftovers")
    procs = r.descendants()
    go.write_text("")
    assert r.wait(30) == 9
    for log in logs:
        got = read_signals(log)
        assert got and got[0] == 15, (log.name, got)
    alive = [p for p in procs if proc_exists(p)]
    assert alive == []
    if not warden.pid1:
        assert warden.strays() == []


def test_wait_all_waits_without_signals(warden):
    lo = Leftover(warden, ["--wait-all", "-t", "1"], rec_args="-x 0 -t 1.5", code=5)
    lo.release()
    assert lo.finish() == 5
    lived = time.time() - lo.leftover.create_time()
    assert lived >= 1.4, f"warden exited {lived:.2f}s after its leftover started, before it ended"
    assert read_signals(lo.log) == [], "--wait-all must not signal leftovers"
    lo.assert_nothing_survives(warden)
    evs, fin = lo.finished()
    assert fin["signalled"] == 0 and fin["killed"] == 0 and fin["exit_code"] == 5
    reaped = [e for e in evs if e["event"] == "orphan.reaped"]
    assert [e["exit_code"] for e in reaped] == [124]


@pytest.mark.parametrize("stopsig", [signal.SIGTERM, signal.SIGINT])
def test_wait_all_signal_then_grace(warden, stopsig):
    lo = Leftover(warden, ["--wait-all", "-t", "1"], rec_args="-x 0 -t 60", code=5)
    main = [p for p in lo.procs if p.pid == lo.r.main_child().pid][0]
    lo.release()

    def exited():
        try:
            return main.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:  # reaped between two looks
            return True

    wait_for(exited, 10, "the main child to exit")
    time.sleep(1.0)  # a window as long as the grace: warden must not end nor signal
    assert lo.r.running(), "warden exited although --wait-all and a leftover is alive"
    assert read_signals(lo.log) == []
    # Any signal now goes to every remaining descendant...
    lo.r.kill(signal.SIGUSR1)
    wait_for(lambda: read_signals(lo.log) == [10], 10, "USR1 at the leftover")
    time.sleep(0.5)  # a window: USR1 must not end warden
    assert lo.r.running()
    # ... and TERM/INT also starts the grace period.
    t0 = time.monotonic()
    lo.r.kill(stopsig)
    assert lo.r.wait(20) == 5
    took = time.monotonic() - t0
    assert 0.9 <= took < 10, f"took {took:.2f}s with a 1s grace"
    got = read_signals(lo.log)
    assert got[:2] == [10, stopsig], (got, lo.ev.read_text())
    lo.assert_nothing_survives(warden)
    evs, fin = lo.finished()
    fwd = [e for e in evs if e["event"] == "signal.forwarded" and e["received"] == "SIGUSR1"]
    assert len(fwd) == 1 and fwd[0]["target"] == "descendants"
    assert fin["killed"] == 1
