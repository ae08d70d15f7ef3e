# SPDX-License-Identifier: MIT
"""Signal forwarding: every catchable signal, -g, --rewrite, --pdeathsig, --stop-timeout; stop
requests (TERM, INT, QUIT) forwarded as the command's stop, and a second one forcing."""

import os
import signal
import time

import psutil
import pytest

from conftest import helper, q, read_events, read_signals, reap_pid, sh, wait_file_sh, wait_for
from svlib import poll_events

pytestmark = pytest.mark.timeout(120)

SIGRTMIN = signal.SIGRTMIN  # glibc's: 34
# Every signal a process can catch, except SIGCHLD (warden's own), 32/33
# (reserved by glibc) and the stop requests INT and QUIT (a second stop
# request forces the shutdown: they have tests of their own). SIGTERM last:
# the one stop request, it ends the recorder.
CATCHABLE = [s for s in range(1, 65) if s not in (2, 3, 9, 15, 17, 19, 32, 33)] + [15]


def signame(n):
    try:
        return signal.Signals(n).name
    except ValueError:
        return None


def start_recorder(warden, args=(), rec_args=(), name="main", **kw):
    """Start warden ARGS -- sigrecord REC_ARGS; wait until the recorder is ready."""
    log = warden.path(f"{name}.log")
    ready = warden.path(f"{name}.ready")
    cmd = list(args) + ["--", helper("sigrecord")] + list(rec_args) + ["-r", ready, log]
    r = warden.start(cmd, **kw)
    wait_for(lambda: ready.exists() or not r.running(), 15, "the recorder to be ready")
    assert ready.exists(), f"warden exited early: {r.status() if not r.running() else ''} {r.err()!r}"
    return r, log


def wait_signals(log, n, timeout=10):
    return wait_for(lambda: len(read_signals(log)) >= n and read_signals(log), timeout,
                    f"{n} signal(s) in {log.name} (have {read_signals(log)})")


def assert_not_stopped(r):
    st = psutil.Process(r.pid).status()
    assert st not in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP), f"warden is {st}"


def test_every_catchable_signal_reaches_child(warden):
    ev = warden.path("events")
    r, log = start_recorder(warden, ["--events", ev], ["-t", "120"])
    child = r.main_child()
    for i, s in enumerate(CATCHABLE):
        r.kill(s)
        got = wait_signals(log, i + 1)
        assert got[i] == s, f"sent {s}, child recorded {got[i:]}"
        if s in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
            time.sleep(0.05)  # a window: warden must not stop
            assert_not_stopped(r)
        if s != 15:
            assert child.is_running() and child.status() != psutil.STATUS_ZOMBIE
    assert r.wait(20) == 0
    assert read_signals(log) == CATCHABLE
    fwd = [e for e in read_events(ev) if e["event"] == "signal.forwarded"]
    assert len(fwd) == len(CATCHABLE)
    child_pid = [e for e in read_events(ev) if e["event"] == "service.starting"][0]["pid"]
    for s, e in zip(CATCHABLE, fwd):
        assert e["service"] == "main"
        assert e["signal"] == e["received"]
        if signame(s) and s < 32:
            assert e["received"] == signame(s)
        else:
            assert e["received"].startswith("SIGRT"), e
        assert e["target"] == "process"
        assert e["pid"] == child_pid


def test_tstp_forwarded_warden_keeps_running(warden):
    r, log = start_recorder(warden)
    for s in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU):
        r.kill(s)
    wait_for(lambda: sorted(read_signals(log)) == [20, 21, 22], 10, "TSTP, TTIN, TTOU at the child")
    assert_not_stopped(r)
    # Still forwarding afterwards: warden did not stop.
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0


def group_script(warden, bg_args="", main_args=""):
    bg_log, bg_ready = warden.path("bg.log"), warden.path("bg.ready")
    main_log, main_ready = warden.path("main.log"), warden.path("main.ready")
    script = (f"{q(helper('sigrecord'))} {bg_args} -r {q(bg_ready)} {q(bg_log)} & "
              f"exec {q(helper('sigrecord'))} {main_args} -r {q(main_ready)} {q(main_log)}")
    return script, bg_log, bg_ready, main_log, main_ready


@pytest.mark.parametrize("flag", ["-g", "--group"])
def test_group_forwarding(warden, flag):
    ev = warden.path("events")
    script, bg_log, bg_ready, main_log, main_ready = group_script(warden, "-x 0 -t 60")
    r = warden.start([flag, "-t", "1", "--events", ev, "--"] + sh(script))
    wait_for(lambda: bg_ready.exists() and main_ready.exists(), 15, "both recorders")
    r.kill(signal.SIGUSR1)
    wait_for(lambda: read_signals(bg_log) == [10] and read_signals(main_log) == [10], 10,
             "USR1 at both members of the group")
    r.kill(signal.SIGTSTP)
    wait_for(lambda: read_signals(bg_log) == [10, 20] and read_signals(main_log) == [10, 20], 10,
             "TSTP at both members of the group")
    assert_not_stopped(r)
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
    assert read_signals(main_log) == [10, 20, 15]
    # The group member got the forwarded SIGTERM: the sweep of the leftovers does not send
    # it again (SIGCONT only), and SIGKILL ends it after the grace period.
    assert read_signals(bg_log) == [10, 20, 15, 18]
    evs = read_events(ev)
    child_pid = [e for e in evs if e["event"] == "service.starting"][0]["pid"]
    fwd = [e for e in evs if e["event"] == "signal.forwarded"]
    assert [e["received"] for e in fwd] == ["SIGUSR1", "SIGTSTP", "SIGTERM"]
    for e in fwd:
        assert e["target"] == "group"
        assert e["pid"] == child_pid  # the child leads its own process group


def test_without_group_only_main_child(warden):
    script, bg_log, bg_ready, main_log, main_ready = group_script(warden, "-x 0 -t 60")
    r = warden.start(["-t", "1", "--"] + sh(script))
    wait_for(lambda: bg_ready.exists() and main_ready.exists(), 15, "both recorders")
    r.kill(signal.SIGUSR1)
    wait_signals(main_log, 1)
    time.sleep(0.5)  # a window: the group member must get nothing
    assert read_signals(main_log) == [10]
    assert read_signals(bg_log) == []
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
    # The leftover then gets the shutdown TERM (and CONT), not USR1.
    bg = read_signals(bg_log)
    assert bg and bg[0] == 15 and set(bg) <= {15, 18}, bg


REWRITES = [
    (["-r", "USR1:USR2"], signal.SIGUSR1, [12]),
    (["--rewrite", "SIGUSR1:SIGUSR2"], signal.SIGUSR1, [12]),
    (["--rewrite=usr1:hup"], signal.SIGUSR1, [1]),
    (["-r", "10:12"], signal.SIGUSR1, [12]),
    (["-r", "sigusr1:12"], signal.SIGUSR1, [12]),
    (["-r", "RTMIN+2:RTMIN+3"], SIGRTMIN + 2, [SIGRTMIN + 3]),
    (["-r", f"{SIGRTMIN + 2}:{SIGRTMIN + 3}"], SIGRTMIN + 2, [SIGRTMIN + 3]),
    (["-r", "RTMIN:HUP"], SIGRTMIN, [1]),
    (["-r", "HUP:RTMIN+1"], signal.SIGHUP, [SIGRTMIN + 1]),
    (["-r", "USR1:USR2", "-r", "USR1:HUP"], signal.SIGUSR1, [1]),
    (["-r", "USR1:USR2", "-r", "USR2:HUP"], signal.SIGUSR2, [1]),
    (["-r", "USR1:0"], signal.SIGUSR1, []),
    (["-r", "10:0"], signal.SIGUSR1, []),
    (["-r", "usr1:0"], signal.SIGUSR1, []),
    (["-r", "RTMIN+2:0"], SIGRTMIN + 2, []),
    (["-r", "USR1:USR2", "-r", "USR1:0"], signal.SIGUSR1, []),
    (["-r", "USR1:0", "-r", "USR1:USR2"], signal.SIGUSR1, [12]),
]


@pytest.mark.parametrize("args,sent,want", REWRITES, ids=[" ".join(a) for a, _, _ in REWRITES])
def test_rewrite(warden, args, sent, want):
    ev = warden.path("events")
    # -x INT: the recorder ends on INT, which no case rewrites.
    r, log = start_recorder(warden, args + ["--events", ev], ["-x", "INT"])
    r.kill(sent)
    if want:
        wait_for(lambda: read_signals(log), 10, "the rewritten signal")
    else:
        wait_for(lambda: [e for e in poll_events(ev) if e["event"] == "signal.dropped"], 10,
                 "the signal to be dropped")
    # A marker: whatever SENT became was recorded before it.
    r.kill(signal.SIGWINCH)
    wait_for(lambda: 28 in read_signals(log), 10, "the WINCH marker")
    assert read_signals(log) == want + [28]
    r.kill(signal.SIGINT)
    assert r.wait(20) == 0
    evs = read_events(ev)
    sent_name = signame(sent) if sent < 32 else None
    if want:
        fwd = [e for e in evs if e["event"] == "signal.forwarded"][0]
        if sent_name:
            assert fwd["received"] == sent_name
        if want[0] < 32:
            assert fwd["signal"] == signame(want[0])
        else:
            assert fwd["signal"].startswith("SIGRT")
        assert not [e for e in evs if e["event"] == "signal.dropped"]
    else:
        dropped = [e for e in evs if e["event"] == "signal.dropped"]
        assert len(dropped) == 1
        if sent_name:
            assert dropped[0]["received"] == sent_name
        fwd = [e for e in evs if e["event"] == "signal.forwarded"]
        assert [e["received"] for e in fwd] == ["SIGWINCH", "SIGINT"]


def test_rewrite_term(warden):
    r, log = start_recorder(warden, ["-r", "TERM:USR1"], ["-x", "USR1", "-c", "7"])
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 7
    assert read_signals(log) == [10]


def test_shutdown_term_is_not_rewritten(warden):
    """The TERM of the shutdown phase goes out as TERM even with -r TERM:..."""
    left_log, left_ready = warden.path("left.log"), warden.path("left.ready")
    script = (f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(left_ready)} {q(left_log)} & "
              f"{wait_file_sh(left_ready)}; exit 5")
    r = warden.run(["-r", "TERM:USR1", "-t", "1", "--"] + sh(script))
    assert r.returncode == 5
    got = read_signals(left_log)
    assert got and got[0] == 15, got
    assert 10 not in got


@pytest.mark.parametrize("spec", ["USR1", "SIGUSR1", "usr1", "10"])
def test_pdeathsig(warden, spec):
    """warden's parent (nsrun) dies -> warden gets SIG and forwards it to the child."""
    ev = warden.path("events")
    r, log = start_recorder(warden, ["-p", spec, "--events", ev])
    r.proc.kill()  # SIGKILL the parent of warden
    r.proc.wait(10)
    wait_for(lambda: read_signals(log) == [10], 10, "USR1 from the parent-death signal")
    # warden was reparented to us (pytest is a subreaper): reap it ourselves.
    assert psutil.Process(r.pid).ppid() == os.getpid()
    r.kill(signal.SIGTERM)
    assert reap_pid(r.pid, 20) == 0
    assert read_signals(log) == [10, 15]
    fwd = [e for e in read_events(ev) if e["event"] == "signal.forwarded"]
    assert [e["received"] for e in fwd] == ["SIGUSR1", "SIGTERM"]


def test_pdeathsig_long_option(warden):
    r, log = start_recorder(warden, ["--pdeathsig", "HUP"])
    r.proc.kill()
    r.proc.wait(10)
    wait_for(lambda: read_signals(log) == [1], 10, "HUP from the parent-death signal")
    r.kill(signal.SIGTERM)
    assert reap_pid(r.pid, 20) == 0


def test_no_pdeathsig_by_default(warden):
    r, log = start_recorder(warden)
    r.proc.kill()
    r.proc.wait(10)
    time.sleep(0.5)  # a window: no parent-death signal may come
    assert read_signals(log) == []
    r.kill(signal.SIGTERM)
    assert reap_pid(r.pid, 20) == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_stop_timeout_kills_stubborn_child(warden, sig):
    r, log = start_recorder(warden, ["--stop-timeout", "1"], ["-x", "0", "-t", "60"])
    t0 = time.monotonic()
    r.kill(sig)
    wait_for(lambda: read_signals(log) == [sig], 10, "the signal at the child")
    assert r.wait(20) == 137
    took = time.monotonic() - t0
    assert 0.9 <= took < 10, f"SIGKILL came {took:.2f}s after {sig.name}, want ~1s"


def test_stop_timeout_ms(warden):
    r, log = start_recorder(warden, ["--stop-timeout", "300ms"], ["-x", "0", "-t", "60"])
    t0 = time.monotonic()
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 137
    took = time.monotonic() - t0
    assert 0.25 <= took < 5


def test_stop_timeout_not_started_by_other_signals(warden):
    r, log = start_recorder(warden, ["--stop-timeout", "300ms"], ["-x", "USR2", "-c", "3"])
    r.kill(signal.SIGUSR1)
    r.kill(signal.SIGHUP)
    time.sleep(1.5)  # a window of five stop timeouts: warden must not kill
    assert r.running(), "a signal other than TERM/INT/QUIT started the stop timeout"
    r.kill(signal.SIGUSR2)
    assert r.wait(20) == 3
    # USR1 and HUP, sent back to back, may arrive in either order.
    got = read_signals(log)
    assert sorted(got[:2]) == [1, 10] and got[2:] == [12], got


def test_no_stop_timeout_by_default(warden):
    r, log = start_recorder(warden, [], ["-x", "USR2", "-c", "3"])
    r.kill(signal.SIGTERM)
    wait_for(lambda: read_signals(log) == [15], 10, "TERM at the child")
    time.sleep(2)  # a window: warden must not kill
    assert r.running(), "warden killed a child that ignores TERM without --stop-timeout"
    r.kill(signal.SIGUSR2)
    assert r.wait(20) == 3


def test_sigchld_not_forwarded(warden):
    r, log = start_recorder(warden)
    r.kill(signal.SIGCHLD)
    # A marker: pending together, CHLD (17) is taken before WINCH (28), by warden and by
    # the recorder, so a forwarded SIGCHLD would be recorded before it.
    r.kill(signal.SIGWINCH)
    wait_for(lambda: read_signals(log), 10, "the WINCH marker")
    assert read_signals(log) == [28], "SIGCHLD sent to warden must not be forwarded"
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT, signal.SIGTERM])
def test_stop_request_is_forwarded_once(warden, sig):
    """TERM, INT and QUIT are stop requests: the command gets the one received, once, and
    warden exits with the command's status."""
    ev = warden.path("events")
    r, log = start_recorder(warden, ["--events", ev], ["-x", str(int(sig)), "-c", "9"])
    r.kill(sig)
    assert r.wait(20) == 9
    assert read_signals(log) == [sig]
    evs = read_events(ev)
    (sd,) = [e for e in evs if e["event"] == "shutdown.started"]
    assert sd["reason"] == signame(sig) and sd["requested"] is True
    (st,) = [e for e in evs if e["event"] == "service.stopping"]
    assert st["service"] == "main" and st["from"] == "running"
    fwd = [e for e in evs if e["event"] == "signal.forwarded"]
    assert [e["received"] for e in fwd] == [signame(sig)]


@pytest.mark.parametrize("first,second", [(signal.SIGTERM, signal.SIGTERM),
                                          (signal.SIGINT, signal.SIGINT),
                                          (signal.SIGQUIT, signal.SIGTERM),
                                          (signal.SIGINT, signal.SIGQUIT)])
def test_second_stop_request_forces(warden, first, second):
    """A second stop request while the command stops sends SIGKILL to everything at once,
    as a second Ctrl-C does in docker compose: no waiting for --stop-timeout or the grace.
    warden exits with the command's status: 137, killed by SIGKILL."""
    ev = warden.path("events")
    script, bg_log, bg_ready, main_log, main_ready = group_script(warden, "-x 0 -t 60",
                                                                  "-x 0 -t 60")
    r = warden.start(["--stop-timeout", "60", "-t", "60", "--events", ev, "--"] + sh(script))
    wait_for(lambda: bg_ready.exists() and main_ready.exists(), 15, "both recorders")
    procs = r.descendants()
    r.kill(first)
    wait_for(lambda: read_signals(main_log) == [first], 10, "the first request at the command")
    assert r.running()
    t0 = time.monotonic()
    r.kill(second)
    assert r.wait(20) == 137
    assert time.monotonic() - t0 < 10, "the second request did not force the shutdown"
    assert read_signals(main_log) == [first], "the second request was forwarded"
    assert read_signals(bg_log) == []
    alive = [p for p in procs if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], alive
    evs = read_events(ev)
    (fin,) = [e for e in evs if e["event"] == "shutdown.finished"]
    assert fin["exit_code"] == 137 and fin["escalated"] is True
    (ex,) = [e for e in evs if e["event"] == "service.exited"]
    assert ex["signal"] == "SIGKILL"


def test_rewritten_to_zero_is_no_stop_request(warden):
    """-r TERM:0 drops SIGTERM altogether: no shutdown, so a second one forces nothing."""
    ev = warden.path("events")
    r, log = start_recorder(warden, ["-r", "TERM:0", "--events", ev], ["-x", "USR1", "-c", "4"])
    def dropped():
        # (poll_events: the line being written, if any, is left for the next look)
        return len([e for e in poll_events(ev) if e["event"] == "signal.dropped"])

    # One at a time: two standard signals sent back to back may coalesce.
    r.kill(signal.SIGTERM)
    wait_for(lambda: dropped() == 1, 10, "the first SIGTERM dropped")
    r.kill(signal.SIGTERM)
    wait_for(lambda: dropped() == 2, 10, "the second SIGTERM dropped")
    assert r.running()
    r.kill(signal.SIGUSR1)
    assert r.wait(20) == 4
    assert read_signals(log) == [10]
    evs = read_events(ev)
    assert not [e for e in evs if e["event"] == "shutdown.started" and e["requested"]]


def test_stop_timeout_kills_the_whole_group(warden):
    """The stop timeout SIGKILLs the child's process group, not only the child."""
    script, bg_log, bg_ready, main_log, main_ready = group_script(warden, "-x 0 -t 60",
                                                                  "-x 0 -t 60")
    r = warden.start(["--stop-timeout", "500ms", "-t", "30", "--"] + sh(script))
    wait_for(lambda: bg_ready.exists() and main_ready.exists(), 15, "both recorders")
    t0 = time.monotonic()
    r.kill(signal.SIGTERM)
    assert r.wait(45) == 137
    took = time.monotonic() - t0
    # Surviving, it would have been killed after the grace (30 s).
    assert took < 10, f"the group member survived the stop timeout (warden took {took:.1f}s)"
    assert read_signals(main_log) == [15]
    assert read_signals(bg_log) == []
