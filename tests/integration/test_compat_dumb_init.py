# SPDX-License-Identifier: MIT
"""warden invoked as `dumb-init`: dumb-init 1.2's command line and behaviour.

Every run goes through a symlink named dumb-init, made in the test's
tmp_path and pointing at WARDEN_BIN. Runs that start a child use the
conftest harness (nsrun), in both modes: warden as PID 1 of a new pid
namespace, and warden as an ordinary child (a subreaper). Most behaviours
are checked in both of dumb-init's own modes too: setsid (the default) and
single-child (-c, or DUMB_INIT_SETSID=0).

A process that is PID 1 of a namespace cannot stop itself (the kernel
ignores SIGSTOP sent to it from inside), so "warden stops itself" is only
checked when warden is not PID 1, as with the real dumb-init.
"""

import os
import select
import signal
import subprocess
import termios
import time

import psutil
import pytest

from conftest import (WARDEN, Harness, _clean_signal_state, base_env, helper, proc_alive, q,
                      read_signals, sh, wait_file_sh, wait_for)

pytestmark = pytest.mark.timeout(120)

NAMES = ("tini", "docker-init", "dumb-init")
COMPAT_ENV = ("TINI_SUBREAPER", "TINI_KILL_PROCESS_GROUP", "TINI_VERBOSITY", "POSIXLY_CORRECT",
              "DUMB_INIT_SETSID", "DUMB_INIT_DEBUG")
REAL_DUMB_INIT = "/usr/bin/dumb-init"

SUSPEND = [signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN]
# Every signal dumb-init forwards as it is (1-31 less KILL, STOP, CHLD and the
# three job-control ones); SIGTERM last, as it ends the recorder.
NORMAL = [s for s in range(1, 32)
          if s not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGTERM,
                       *SUSPEND)] + [signal.SIGTERM]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(autouse=True)
def clean_compat_env(monkeypatch):
    """Whatever the caller's environment holds, no test inherits these."""
    for k in COMPAT_ENV:
        monkeypatch.delenv(k, raising=False)


@pytest.fixture
def links(tmp_path):
    """A directory with tini, docker-init and dumb-init symlinks to WARDEN_BIN."""
    d = tmp_path / "links"
    d.mkdir()
    for n in NAMES:
        os.symlink(WARDEN, d / n)
    return d


def use_name(monkeypatch, links, name):
    """Make the harness start warden through the symlink NAME."""
    monkeypatch.setitem(Harness.start.__globals__, "WARDEN", str(links / name))


@pytest.fixture
def di(warden, links, monkeypatch):
    """The conftest harness (both modes), starting warden as `dumb-init`."""
    use_name(monkeypatch, links, "dumb-init")
    return warden


@pytest.fixture
def di_sub(warden_sub, links, monkeypatch):
    """The same, with warden not PID 1 only."""
    use_name(monkeypatch, links, "dumb-init")
    return warden_sub


# How each of dumb-init's modes is asked for: (arguments, environment).
SETSID_WAYS = {
    "setsid": ([], {}),
    "setsid-env-1": ([], {"DUMB_INIT_SETSID": "1"}),
    "setsid-env-empty": ([], {"DUMB_INIT_SETSID": ""}),
    "setsid-env-00": ([], {"DUMB_INIT_SETSID": "00"}),
}
SINGLE_WAYS = {
    "c": (["-c"], {}),
    "single-child": (["--single-child"], {}),
    "env-0": ([], {"DUMB_INIT_SETSID": "0"}),
}


@pytest.fixture(params=["setsid", "single"])
def dmode(request):
    """dumb-init's mode: (name, arguments selecting it, environment)."""
    if request.param == "setsid":
        return "setsid", [], {}
    return "single", ["-c"], {}


def run_as(links, name, args, env=None, timeout=20, cwd=None):
    """Run the symlink NAME directly (not under nsrun) and wait; for CLI checks."""
    return subprocess.run([str(links / name)] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=base_env(env), timeout=timeout, preexec_fn=_clean_signal_state,
                          start_new_session=True, cwd=cwd or links)


# ---------------------------------------------------------------- helpers

def stat(pid):
    """Fields of /proc/PID/stat after the command name."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return {"state": rest[0], "ppid": int(rest[1]), "pgrp": int(rest[2]),
            "session": int(rest[3]), "tty_nr": int(rest[4]), "tpgid": int(rest[5])}


def state(pid):
    try:
        return stat(pid)["state"]
    except FileNotFoundError:
        return "gone"


def sig_sets(status_text):
    """SigBlk/SigIgn/SigCgt of a /proc/PID/status text, as sets of signal numbers."""
    out = {}
    for line in status_text.splitlines():
        key, _, val = line.partition(":")
        if key in ("SigBlk", "SigIgn", "SigCgt"):
            bits = int(val.strip(), 16)
            out[key] = {s for s in range(1, 65) if bits >> (s - 1) & 1}
    return out


def find_proc(run, needle, timeout=10):
    """The descendant of warden that has NEEDLE as one of its arguments."""
    def look():
        for p in run.descendants():
            try:
                if needle in p.cmdline():
                    return p
            except psutil.Error:
                pass
        return None
    return wait_for(look, timeout, f"a process with {needle!r} in its command line")


def start_recorder(h, args, rec_args=(), name="main", **kw):
    """Start warden ARGS sigrecord REC_ARGS; wait until it is ready."""
    log = h.path(f"{name}.log")
    ready = h.path(f"{name}.ready")
    r = h.start(list(args) + [helper("sigrecord")] + list(rec_args) + ["-r", ready, log], **kw)
    wait_for(lambda: ready.exists() or not r.running(), 15, "the recorder to be ready")
    assert ready.exists(), f"warden ended early: {r.err()!r}"
    return r, log


def start_group(h, args, rec_args=("-x", "USR1"), **kw):
    """warden ARGS sh: a background recorder in the main child's group, then exec a
    recorder as the main child. Returns (run, main log, member log, main, member)."""
    mlog, mready = h.path("main.log"), h.path("main.ready")
    blog, bready = h.path("bg.log"), h.path("bg.ready")
    rec = q(helper("sigrecord")) + " " + " ".join(q(a) for a in rec_args) + " -t 60"
    script = (f"{rec} -r {q(bready)} {q(blog)} & "
              f"{wait_file_sh(bready)}; exec {rec} -r {q(mready)} {q(mlog)}")
    r = h.start(list(args) + sh(script), **kw)
    wait_for(lambda: (mready.exists() and bready.exists()) or not r.running(), 15,
             "both recorders to be ready")
    assert mready.exists() and bready.exists(), r.err()
    main = r.main_child()
    member = find_proc(r, str(blog))
    return r, mlog, blog, main, member


def wait_signals(log, n, timeout=10):
    return wait_for(lambda: len(read_signals(log)) >= n and read_signals(log), timeout,
                    f"{n} signal(s) in {log.name}")


def no_chld(sigs):
    """SIGS without SIGCHLD: in start_group the main recorder is the parent of the
    group member, so it gets SIGCHLD when that member stops, continues or exits."""
    return [s for s in sigs if s != signal.SIGCHLD]


def wait_signals_no_chld(log, n, timeout=10):
    return wait_for(lambda: len(no_chld(read_signals(log))) >= n and no_chld(read_signals(log)),
                    timeout, f"{n} signal(s) other than SIGCHLD in {log.name}")


def wait_state(pid, want, timeout=10):
    wait_for(lambda: state(pid) in want, timeout, f"process {pid} to be in state {want}")


def marker_cmd(path):
    return ["/usr/bin/touch", str(path)]


def real_help_lines(args):
    """The longer lines of the real tool's help text (empty when it is missing)."""
    if not os.access(REAL_DUMB_INIT, os.X_OK):
        return []
    p = subprocess.run([REAL_DUMB_INIT] + args, capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL, preexec_fn=_clean_signal_state)
    return [line.strip() for line in (p.stdout + p.stderr).splitlines() if len(line.strip()) > 24]


def setenv(monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)


# ---------------------------------------------------------------- command line

@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_on_stderr_exit_0(links, tmp_path, flag):
    marker = tmp_path / "ran"
    p = run_as(links, "dumb-init", [flag] + marker_cmd(marker))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "", "help goes to stderr"
    assert not marker.exists(), "help must not run the command"
    for opt in ("--single-child", "--rewrite", "--verbose", "--version", "--help"):
        assert opt in p.stderr, f"help does not mention {opt}"
    for line in real_help_lines(["-h"]):
        assert line not in p.stderr, f"help text copied from dumb-init: {line!r}"


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_on_stderr_exit_0(links, tmp_path, flag):
    marker = tmp_path / "ran"
    p = run_as(links, "dumb-init", [flag] + marker_cmd(marker))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "", "the version goes to stderr"
    assert p.stderr.strip()
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert not marker.exists()


USAGE_ERRORS = {
    "nothing": [],
    "options-only": ["-c", "-v"],
    "unknown-short": ["-z", "@RUN"],
    "unknown-long": ["--bogus", "@RUN"],
    "r-without-value": ["-r"],
    "rewrite-without-value": ["--rewrite"],
    "r-S-0": ["-r", "0:1", "@RUN"],
    "r-S-32": ["-r", "32:1", "@RUN"],
    "r-R-32": ["-r", "15:32", "@RUN"],
    "r-R-negative": ["-r", "15:-1", "@RUN"],
    "r-not-numbers": ["-r", "abc", "@RUN"],
    "r-no-colon": ["-r", "15", "@RUN"],
    "r-no-R": ["-r", "15:", "@RUN"],
    "r-good-then-bad": ["-r", "15:10", "-r", "99:1", "@RUN"],
}


@pytest.mark.parametrize("args", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_errors_exit_1(links, tmp_path, args):
    marker = tmp_path / "ran"
    full = []
    for a in args:
        full += marker_cmd(marker) if a == "@RUN" else [a]
    p = run_as(links, "dumb-init", full)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.strip()
    assert p.stdout == ""
    assert not marker.exists(), "nothing may run after a usage error"


@pytest.mark.parametrize("args", [
    ["-r", "1:31", "-r", "31:1"], ["-r", "15:0"], ["--rewrite", "15:3"], ["--rewrite=15:3"],
    ["-c", "-v", "-r", "2:15"], ["--single-child", "--verbose"], ["--"],
], ids=["bounds", "drop", "long", "long-eq", "combined", "long-flags", "dashdash"])
def test_valid_command_lines_run(links, tmp_path, args):
    marker = tmp_path / "ran"
    p = run_as(links, "dumb-init", args + marker_cmd(marker))
    assert p.returncode == 0, p.stderr
    assert marker.exists()


ARGS_SCRIPT = 'for a; do printf "%s\\n" "$a"; done > {out}; exit 3\n'


def test_parsing_stops_at_first_non_option(di):
    out = di.path("args.out")
    script = di.path("args.sh")
    script.write_text(ARGS_SCRIPT.format(out=q(out)))
    r = di.run(["/bin/sh", script, "-c", "-v", "-r", "15:0", "--help"])
    assert out.read_text() == "-c\n-v\n-r\n15:0\n--help\n"
    assert r.returncode == 3
    assert r.err() == "", "options after the command are not dumb-init's (no -v)"


# ---------------------------------------------------------------- exit status

@pytest.mark.parametrize("code", [0, 1, 2, 32, 64, 127, 254, 255])
def test_exit_code_passes_through(di, dmode, code):
    _, args, env = dmode
    r = di.run(args + sh(f"exit {code}"), env=env)
    assert r.returncode == code
    assert r.status() == f"exited {code}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGKILL],
                         ids=lambda s: s.name)
def test_killed_child_gives_128_plus_n(di, dmode, sig):
    _, args, env = dmode
    r = di.run(args + sh(f"kill -{int(sig)} $$"), env=env)
    assert r.returncode == 128 + sig
    assert r.status() == f"exited {128 + sig}"


@pytest.mark.parametrize("kind", ["missing", "not-executable", "dashdash-missing"])
def test_exec_failure_exits_2(di, dmode, kind):
    _, args, env = dmode
    if kind == "not-executable":
        prog = di.path("plain-file")
        prog.write_text("#!/bin/sh\nexit 0\n")
        prog.chmod(0o644)
    else:
        prog = di.path("does-not-exist")
    cmd = args + (["--"] if kind == "dashdash-missing" else []) + [prog]
    r = di.run(cmd, env=env)
    assert r.returncode == 2, r.err()
    assert r.status() == "exited 2"
    assert prog.name in r.err(), f"no word about the command: {r.err()!r}"


def test_exits_as_soon_as_main_child_is_reaped(di, dmode):
    mode, args, env = dmode
    left_log, left_ready = di.path("left.log"), di.path("left.ready")
    trigger = di.path("trigger")
    script = (f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(left_ready)} {q(left_log)} & "
              f"{wait_file_sh(trigger)}; exit 5")
    r = di.start(args + sh(script), env=env)
    wait_for(left_ready.exists, 15, "the leftover recorder to be ready")
    leftover = find_proc(r, str(left_log))
    trigger.write_text("")
    t0 = time.monotonic()
    assert r.wait(15) == 5
    took = time.monotonic() - t0
    # dumb-init exits at once; waiting for the leftover (which ignores SIGTERM) would take
    # warden's grace of 5 s at least.
    assert took < 4.0, f"warden took {took:.2f}s to exit after its main child"
    if di.pid1:
        wait_for(lambda: not proc_alive(leftover), 10, "the leftover to die with the namespace")
    elif mode == "single":
        time.sleep(0.3)  # a window: no signal may come, and the leftover stays
        assert proc_alive(leftover)
        assert read_signals(left_log) == [], "single-child mode sends nothing at exit"


# ---------------------------------------------------------------- modes

@pytest.mark.parametrize("args,env", list(SETSID_WAYS.values()), ids=list(SETSID_WAYS))
def test_setsid_mode_child_leads_a_session(di, args, env):
    r, log = start_recorder(di, args, env=env)
    child = r.main_child()
    cs = stat(child.pid)
    assert cs["session"] == child.pid, "the child must lead a new session"
    assert cs["pgrp"] == child.pid
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


@pytest.mark.parametrize("args,env", list(SINGLE_WAYS.values()), ids=list(SINGLE_WAYS))
def test_single_child_mode_keeps_warden_session(di, args, env):
    r, log = start_recorder(di, args, env=env)
    child = r.main_child()
    cs, ws = stat(child.pid), stat(r.pid)
    assert cs["session"] == ws["session"], "single-child mode makes no new session"
    assert cs["pgrp"] == ws["pgrp"], "single-child mode keeps the child in warden's group"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


# ---------------------------------------------------------------- signals

def test_signals_forwarded_as_they_are(di, dmode):
    _, args, env = dmode
    r, log = start_recorder(di, args, env=env)
    for n, sig in enumerate(NORMAL, 1):
        r.kill(sig)
        got = wait_signals(log, n)
        assert got[-1] == sig, f"sent {sig}, child got {got}"
    assert r.wait(15) == 0
    assert read_signals(log) == [int(s) for s in NORMAL]


def test_sigchld_not_forwarded(di, dmode):
    _, args, env = dmode
    r, log = start_recorder(di, args, env=env)
    r.kill(signal.SIGCHLD)
    r.kill(signal.SIGUSR1)
    assert wait_signals(log, 1) == [signal.SIGUSR1]
    time.sleep(0.2)  # a window: no SIGCHLD may follow
    assert read_signals(log) == [signal.SIGUSR1]
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def test_setsid_signals_reach_the_whole_group(di):
    # Both recorders outlive the USR1 (they exit on TERM). Were the main child to exit on
    # it, warden would exit at once, as dumb-init does, and as PID 1 its exit ends the
    # namespace: the kernel's SIGKILL could reach the group member while the USR1 was
    # still pending in it, before it had written its record (one run in seven under load).
    r, mlog, blog, main, member = start_group(di, [], rec_args=("-x", "TERM"))
    assert stat(member.pid)["pgrp"] == main.pid
    r.kill(signal.SIGUSR1)
    assert wait_signals(mlog, 1) == [signal.SIGUSR1]
    assert wait_signals(blog, 1) == [signal.SIGUSR1], "a group member missed the signal"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0
    # (The member, the main child's own child, exits on TERM too: SIGCHLD may follow.)
    assert no_chld(read_signals(mlog)) == [signal.SIGUSR1, signal.SIGTERM]


@pytest.mark.parametrize("args,env", list(SINGLE_WAYS.values()), ids=list(SINGLE_WAYS))
def test_single_child_signals_only_the_child(di, args, env):
    r, mlog, blog, main, member = start_group(di, args, env=env)
    r.kill(signal.SIGUSR1)
    assert wait_signals(mlog, 1) == [signal.SIGUSR1]
    assert r.wait(15) == 0
    time.sleep(0.3)  # a window for a signal that should not have been sent to arrive
    assert read_signals(blog) == [], "single-child mode must signal the child alone"


# (rewrite options, [(signal sent, signal the child gets or 0 when dropped), ...])
REWRITES = {
    "none": ([], [(15, 15), (3, 3), (18, 18), (2, 2)]),
    "term-to-int": (["-r", "15:2"], [(15, 2), (3, 3), (18, 18), (2, 2)]),
    "swap": (["-r", "15:2", "-r", "2:15", "-r", "3:3"], [(15, 2), (3, 3), (18, 18), (2, 15)]),
    "bounds": (["-r", "1:31", "-r", "31:1"], [(1, 31), (31, 1)]),
    "drop": (["-r", "15:3", "-r", "2:0", "-r", "28:0"], [(15, 3), (2, 0), (28, 0), (1, 1)]),
    "last-wins": (["-r", "10:12", "-r", "10:1", "-r", "10:14"], [(10, 14)]),
    "long": (["--rewrite", "10:12"], [(10, 12)]),
    "long-eq": (["--rewrite=10:12"], [(10, 12)]),
}


@pytest.mark.parametrize("rw,steps", list(REWRITES.values()), ids=list(REWRITES))
def test_rewrite(di, dmode, rw, steps):
    _, args, env = dmode
    r, log = start_recorder(di, args + rw, ["-x", "0"], env=env)
    want = []
    for sent, got in steps:
        r.kill(sent)
        if got:
            want.append(got)
            assert wait_signals(log, len(want)) == want, f"sent {sent}"
        else:
            time.sleep(0.2)  # a window: the dropped signal must not arrive
            assert read_signals(log) == want, f"{sent} should have been dropped"
    time.sleep(0.2)  # a window: nothing more may arrive
    assert read_signals(log) == want


# ---------------------------------------------------------------- main child exits

EXIT_TERM = {
    "setsid": ([], {}, [15]),
    "setsid-rewritten": (["-r", "15:10"], {}, [10]),
    "setsid-dropped": (["-r", "15:0"], {}, []),
    "single-c": (["-c"], {}, []),
    "single-env": ([], {"DUMB_INIT_SETSID": "0"}, []),
}


@pytest.mark.parametrize("args,env,want", list(EXIT_TERM.values()), ids=list(EXIT_TERM))
def test_group_gets_sigterm_when_main_exits(di_sub, args, env, want):
    """Setsid mode: the rest of the group gets SIGTERM, through the rewrite table.
    (Checked with warden not PID 1: as PID 1 the leftover dies with the namespace.)"""
    log, ready = di_sub.path("left.log"), di_sub.path("left.ready")
    script = (f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(ready)} {q(log)} & "
              f"{wait_file_sh(ready)}; exit 3")
    r = di_sub.run(args + sh(script), env=env)
    assert r.returncode == 3
    if want:
        wait_signals(log, len(want))
    time.sleep(0.3)  # a window: nothing more may arrive
    assert read_signals(log) == want


def test_leftover_dies_with_namespace(warden_pid1, links, monkeypatch):
    """As PID 1, a leftover that survives the SIGTERM (dropped here) dies with warden."""
    use_name(monkeypatch, links, "dumb-init")
    h = warden_pid1
    log, ready, trigger = h.path("left.log"), h.path("left.ready"), h.path("trigger")
    script = (f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(ready)} {q(log)} & "
              f"{wait_file_sh(trigger)}; exit 4")
    r = h.start(["-r", "15:0"] + sh(script))
    wait_for(ready.exists, 15, "the leftover recorder to be ready")
    leftover = find_proc(r, str(log))
    trigger.write_text("")
    assert r.wait(15) == 4
    wait_for(lambda: not proc_alive(leftover), 10, "the leftover to die with the namespace")


def test_orphans_reaped(di, dmode):
    _, args, env = dmode
    done = di.path("done")
    # The orphans live 3 s: long enough to be seen as warden's children after --done,
    # even on a loaded machine.
    r = di.start(args + [helper("orphans"), "3", "--orphan-sleep", "3", "--done", done,
                         "--then-sleep", "60"], env=env)
    wait_for(done.exists, 15, "the orphans to be made")
    kids = wait_for(lambda: len(r.children()) >= 4 and r.children(), 10,
                    "the orphans to be reparented to warden")
    assert len(kids) == 4
    wait_for(lambda: len(r.children()) == 1, 15, "the orphans to be reaped")
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


# ---------------------------------------------------------------- job control

def test_setsid_suspend_signals_stop_the_group(di):
    """SIGTSTP/SIGTTOU/SIGTTIN: SIGSTOP for the group, warden stops itself (unless PID 1);
    SIGCONT resumes all and is forwarded."""
    r, mlog, blog, main, member = start_group(di, [], rec_args=("-x", "0"))
    for n, sig in enumerate(SUSPEND, 1):
        r.kill(sig)
        wait_state(main.pid, "T")
        wait_state(member.pid, "T")
        if not di.pid1:
            wait_state(r.pid, "T")
        r.kill(signal.SIGCONT)
        assert wait_signals_no_chld(mlog, n) == [signal.SIGCONT] * n
        assert wait_signals(blog, n) == [signal.SIGCONT] * n
        for pid in (main.pid, member.pid, r.pid):
            wait_state(pid, "SR")
    time.sleep(0.2)  # a window: nothing more may arrive
    assert no_chld(read_signals(mlog)) == [signal.SIGCONT] * 3, \
        "the suspend signals were not turned into SIGSTOP"
    r.kill(signal.SIGUSR1)
    assert wait_signals_no_chld(mlog, 4)[-1] == signal.SIGUSR1, \
        "warden no longer forwards after SIGCONT"


def test_setsid_rewritten_suspend_signals(di):
    """Rewritten, they are forwarded as rewritten; warden still stops itself."""
    rw = {signal.SIGTSTP: signal.SIGHUP, signal.SIGTTOU: signal.SIGUSR2,
          signal.SIGTTIN: signal.SIGUSR1}
    args = []
    for s, d in rw.items():
        args += ["-r", f"{int(s)}:{int(d)}"]
    r, log = start_recorder(di, args, ["-x", "0"])
    main = r.main_child()
    want = []
    for sig, to in rw.items():
        r.kill(sig)
        want.append(int(to))
        assert wait_signals(log, len(want)) == want
        if not di.pid1:
            wait_state(r.pid, "T")
        assert state(main.pid) != "T", "a rewritten suspend signal must not stop the child"
        r.kill(signal.SIGCONT)
        want.append(int(signal.SIGCONT))
        assert wait_signals(log, len(want)) == want
        wait_state(r.pid, "SR")


def test_dropped_suspend_signal_still_stops_warden(di):
    """-r 20:0: SIGTSTP reaches nobody, yet warden stops itself as usual."""
    r, log = start_recorder(di, ["-r", "20:0"], ["-x", "0"])
    main = r.main_child()
    r.kill(signal.SIGTSTP)
    if not di.pid1:
        wait_state(r.pid, "T")
    time.sleep(0.3)  # a window: the child must neither stop nor get a signal
    assert state(main.pid) != "T"
    assert read_signals(log) == []
    r.kill(signal.SIGCONT)
    assert wait_signals(log, 1) == [signal.SIGCONT]
    wait_state(r.pid, "SR")


def test_single_child_suspend_signals_forwarded_as_they_are(di):
    r, mlog, blog, main, member = start_group(di, ["-c"], rec_args=("-x", "0"))
    want = []
    for sig in SUSPEND:
        r.kill(sig)
        want.append(int(sig))
        assert wait_signals_no_chld(mlog, len(want)) == want
        if not di.pid1:
            wait_state(r.pid, "T")
        r.kill(signal.SIGCONT)
        want.append(int(signal.SIGCONT))
        assert wait_signals_no_chld(mlog, len(want)) == want
        wait_state(r.pid, "SR")
    time.sleep(0.2)  # a window: the group member must get nothing
    assert read_signals(blog) == [], "single-child mode must not signal the group"
    assert state(member.pid) != "T"


def test_warden_stops_itself_not_pid1(di_sub, dmode):
    """Explicitly for the non-PID-1 case: state T in /proc after SIGTSTP, back after SIGCONT."""
    _, args, env = dmode
    r, log = start_recorder(di_sub, args, ["-x", "0"], env=env)
    r.kill(signal.SIGTSTP)
    wait_state(r.pid, "T")
    time.sleep(0.2)  # a window: warden must stay stopped
    assert state(r.pid) == "T", "warden must stay stopped until SIGCONT"
    r.kill(signal.SIGCONT)
    wait_state(r.pid, "SR")
    wait_for(lambda: signal.SIGCONT in read_signals(log), 10, "SIGCONT to be forwarded")


# ---------------------------------------------------------------- child state

def test_cwd_root_for_warden_original_for_child(di, dmode):
    _, args, env = dmode
    workdir = di.path("work")
    workdir.mkdir()
    r, log = start_recorder(di, args, env=env, cwd=workdir)
    child = r.main_child()
    assert os.readlink(f"/proc/{child.pid}/cwd") == str(workdir)
    wait_for(lambda: os.readlink(f"/proc/{r.pid}/cwd") == "/", 5, "warden to move to /")
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def test_child_gets_only_std_fds(di, dmode):
    _, args, env = dmode
    r = di.run(args + [helper("fdlist")], env=env)
    assert r.returncode == 0, r.err()
    assert r.out() == "0 1 2\n", "a descriptor of warden's leaked to the child"


IGNORED = [signal.SIGINT, signal.SIGUSR2, signal.SIGTTOU, signal.SIGSEGV, signal.SIGPIPE]
BLOCKED = [signal.SIGUSR1, signal.SIGTERM, signal.SIGTTIN, signal.SIGILL, signal.SIGHUP]


def inherit_setup():
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)


def test_child_signals_all_default_and_unblocked(di, dmode):
    _, args, env = dmode
    r = di.run(args + ["/bin/cat", "/proc/self/status"], env=env, keep_signals=True,
               setup=inherit_setup)
    assert r.returncode == 0, r.err()
    sets = sig_sets(r.out())
    assert sets["SigBlk"] == set(), f"the child starts with signals blocked: {sets['SigBlk']}"
    assert sets["SigIgn"] == set(), f"the child starts with signals ignored: {sets['SigIgn']}"


# ---------------------------------------------------------------- verbosity

@pytest.mark.parametrize("args,env", [
    (["-v"], {}), (["--verbose"], {}), ([], {"DUMB_INIT_DEBUG": "1"}),
    (["-c", "-v"], {}), ([], {"DUMB_INIT_DEBUG": "1", "DUMB_INIT_SETSID": "0"}),
], ids=["v", "verbose", "env-1", "single-v", "single-env-1"])
def test_verbose_says_things_on_stderr(di, args, env):
    r = di.run(args + ["/bin/echo", "oh,", "hi"], env=env)
    assert r.returncode == 0
    assert r.out() == "oh, hi\n", "verbose output must not go to stdout"
    assert r.err().strip(), "verbose mode says nothing on stderr"


@pytest.mark.parametrize("value", ["0", "", "yes", "true", "11"])
def test_debug_env_only_exactly_1(di, value):
    r = di.run(["/bin/echo", "oh,", "hi"], env={"DUMB_INIT_DEBUG": value})
    assert r.returncode == 0
    assert r.out() == "oh, hi\n"
    assert r.err() == ""


# ---------------------------------------------------------------- terminal

class Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        self.buf = b""

    def close_slave(self):
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None

    def read_until(self, needle, timeout=15):
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got {self.buf!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                if not data:
                    raise AssertionError(f"terminal closed waiting for {needle!r}: {self.buf!r}")
                self.buf += data
        i = self.buf.index(needle) + len(needle)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen

    def close(self):
        self.close_slave()
        os.close(self.master)


def raw_out_no_echo(fd):
    """Terminal settings for exact comparisons: no echo, no output processing."""
    attrs = termios.tcgetattr(fd)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def read_to_eof(fd, timeout=15):
    """Read FD (a pty master) until every slave end is closed; bounded."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"terminal not closed after {timeout}s; got {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the last slave end is closed
            return buf
        if not data:
            return buf
        buf += data


@pytest.fixture
def pty():
    p = Pty()
    yield p
    p.close()


def test_tty_setsid_child_takes_terminal(di, pty):
    """warden leads a session with the terminal (as in a container started with -t):
    the child gets it as its controlling terminal and is its foreground group; warden
    lets go of it, and the SIGHUP/SIGCONT that causes are not forwarded."""
    try:
        r, log = start_recorder(di, [], [], prefix=["setsid", "-c"],
                                stdin=pty.slave, stdout=pty.slave, stderr=pty.slave)
    finally:
        pty.close_slave()
    child = r.main_child()
    cs, ws = stat(child.pid), stat(r.pid)
    assert ws["session"] == r.pid, "test setup: warden should lead its session"
    assert cs["session"] == child.pid
    assert cs["tty_nr"] != 0, "the child has no controlling terminal"
    assert cs["tpgid"] == child.pid, "the child is not the terminal's foreground group"
    assert ws["tty_nr"] == 0, "warden did not give up the terminal"
    time.sleep(0.5)  # a window: the hand-off's SIGHUP/SIGCONT must not be forwarded
    assert read_signals(log) == [], "the hand-off SIGHUP/SIGCONT were forwarded"
    # Later ones are the user's, and are forwarded.
    r.kill(signal.SIGHUP)
    assert wait_signals(log, 1) == [signal.SIGHUP]
    r.kill(signal.SIGCONT)
    assert wait_signals(log, 2) == [signal.SIGHUP, signal.SIGCONT]
    # Ctrl-C goes to the foreground group, the child, and not through warden.
    os.write(pty.master, b"\x03")
    assert wait_signals(log, 3) == [signal.SIGHUP, signal.SIGCONT, signal.SIGINT]
    time.sleep(0.3)  # a window: Ctrl-C must not come a second time, through warden
    assert read_signals(log) == [signal.SIGHUP, signal.SIGCONT, signal.SIGINT]
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def test_tty_interactive_shell_has_job_control(di, pty):
    env = {"PS1": "PROMPT> ", "ENV": "", "TERM": "dumb"}
    try:
        r = di.start(["/bin/sh", "-i"], prefix=["setsid", "-c"], env=env,
                     stdin=pty.slave, stdout=pty.slave, stderr=pty.slave)
    finally:
        pty.close_slave()
    pty.read_until(b"PROMPT> ")
    os.write(pty.master, b'echo "flags=[$-]"\n')
    out = pty.read_until(b"]\r\n", timeout=15)
    out += pty.read_until(b"PROMPT> ")
    flags = out.split(b"flags=[")[-1].split(b"]")[0]
    assert b"m" in flags, f"no job control in the shell: {out!r}"
    os.write(pty.master, b"exit 6\n")
    assert r.wait(15) == 6


def test_tty_child_reads_the_terminal_to_eof(di, pty):
    """A program under warden reads what is typed and sees end-of-file at ^D."""
    raw_out_no_echo(pty.master)
    try:
        r = di.start(["/usr/bin/tac"], prefix=["setsid", "-c"],
                     stdin=pty.slave, stdout=pty.slave, stderr=pty.slave)
    finally:
        pty.close_slave()
    os.write(pty.master, b"1\n2\n3\n")
    os.write(pty.master, b"\x04")
    out = read_to_eof(pty.master)
    assert r.wait(15) == 0
    assert out == b"3\n2\n1\n", out
