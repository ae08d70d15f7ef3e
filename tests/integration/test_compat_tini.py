# SPDX-License-Identifier: MIT
"""warden invoked as `tini` or `docker-init`: tini 0.19's command line and behaviour.

Every run goes through a symlink named after the tool, made in the test's
tmp_path and pointing at WARDEN_BIN. Runs that start a child use the
conftest harness (nsrun), in both modes: warden as PID 1 of a new pid
namespace, and warden as an ordinary child (a subreaper).
"""

import fcntl
import os
import re
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

import psutil
import pytest

from conftest import (WARDEN, Harness, _clean_signal_state, base_env, helper, proc_alive, q,
                      read_signals, reap_pid, sh, wait_file_sh, wait_for)

pytestmark = pytest.mark.timeout(120)

NAMES = ("tini", "docker-init", "dumb-init")
# Variables either tool reads; a test sets the ones it wants.
COMPAT_ENV = ("TINI_SUBREAPER", "TINI_KILL_PROCESS_GROUP", "TINI_VERBOSITY", "POSIXLY_CORRECT",
              "DUMB_INIT_SETSID", "DUMB_INIT_DEBUG")
REAL_TINI = "/usr/bin/tini"
LICENSE = Path(__file__).resolve().parents[2] / "LICENSE"


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
def tini(warden, links, monkeypatch):
    """The conftest harness (both modes), starting warden as `tini`."""
    use_name(monkeypatch, links, "tini")
    return warden


@pytest.fixture(params=["tini", "docker-init"])
def tini_any(request, warden, links, monkeypatch):
    """The harness starting warden as `tini`, then as `docker-init`."""
    use_name(monkeypatch, links, request.param)
    return warden


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
    """Start warden ARGS sigrecord REC_ARGS (ARGS ends with '--'); wait until it is ready."""
    log = h.path(f"{name}.log")
    ready = h.path(f"{name}.ready")
    r = h.start(list(args) + [helper("sigrecord")] + list(rec_args) + ["-r", ready, log], **kw)
    wait_for(lambda: ready.exists() or not r.running(), 15, "the recorder to be ready")
    assert ready.exists(), f"warden ended early: {r.err()!r}"
    return r, log


def wait_signals(log, n, timeout=10):
    return wait_for(lambda: len(read_signals(log)) >= n and read_signals(log), timeout,
                    f"{n} signal(s) in {log.name}")


def assert_not_stopped(pid, seconds=0.3):
    """PID is not stopped now, nor during the next SECONDS."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert stat(pid)["state"] != "T", "warden stopped itself"
        time.sleep(0.02)


def marker_cmd(path):
    """A command that creates PATH: shows whether the program was run."""
    return ["/usr/bin/touch", str(path)]


def real_help_lines(args):
    """The longer lines of the real tool's help text (empty when it is missing)."""
    if not os.access(REAL_TINI, os.X_OK):
        return []
    p = subprocess.run([REAL_TINI] + args, capture_output=True, text=True, timeout=20,
                       stdin=subprocess.DEVNULL, preexec_fn=_clean_signal_state)
    return [line.strip() for line in (p.stdout + p.stderr).splitlines() if len(line.strip()) > 24]


# ---------------------------------------------------------------- command line

@pytest.mark.parametrize("name", ["tini", "docker-init"])
def test_version_sole_argument(links, name):
    """`--version` alone: one line `tini version V - git.C` on stdout with warden's V and C."""
    p = run_as(links, name, ["--version"])
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    m = re.fullmatch(r"tini version (\S+) - git\.(\S+)\n", p.stdout)
    assert m, f"not in the form docker parses: {p.stdout!r}"
    own = subprocess.run([WARDEN, "--version"], capture_output=True, text=True, timeout=20,
                         stdin=subprocess.DEVNULL, preexec_fn=_clean_signal_state)
    assert m.group(1) in own.stdout, f"version {m.group(1)!r} is not warden's: {own.stdout!r}"
    assert m.group(2) in own.stdout, f"commit {m.group(2)!r} is not warden's: {own.stdout!r}"


@pytest.mark.parametrize("args", [
    ["--version", "--", "/bin/true"],
    ["--version", "x"],
    ["-s", "--version"],
    ["/bin/true", "--version"],
], ids=["then-dashdash", "then-arg", "after-option", "after-program"])
def test_version_not_alone_is_a_usage_error(links, args):
    p = run_as(links, "tini", args)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "tini version" not in p.stdout
    assert p.stderr != ""


def test_version_after_dashdash_is_the_program(links):
    """`tini -- --version` runs a program called --version (not found: 127)."""
    p = run_as(links, "tini", ["--", "--version"])
    assert p.returncode == 127, (p.stdout, p.stderr)
    assert "tini version" not in p.stdout


@pytest.mark.parametrize("name", ["tini", "docker-init"])
def test_help_exits_0_without_running(links, name, tmp_path):
    marker = tmp_path / "ran"
    p = run_as(links, name, ["-h", "--"] + marker_cmd(marker))
    assert p.returncode == 0, p.stderr
    assert not marker.exists(), "-h must not run the program"
    out = p.stdout
    assert out.strip(), "help goes to stdout"
    for opt in ("-s", "-p", "-v", "-w", "-g", "-e", "-l", "--version"):
        assert opt in out, f"help does not mention {opt}"
    for line in real_help_lines(["-h"]):
        assert line not in out, f"help text copied from tini: {line!r}"


def test_licence(links, tmp_path):
    marker = tmp_path / "ran"
    p = run_as(links, "tini", ["-l", "--"] + marker_cmd(marker))
    assert p.returncode == 0, p.stderr
    assert not marker.exists(), "-l must not run the program"
    assert "Orozco" not in p.stdout, "-l must print warden's licence, not tini's"
    assert "MIT" in p.stdout and "Permission is hereby granted" in p.stdout, p.stdout
    if LICENSE.exists():
        copyright_lines = [line for line in LICENSE.read_text().splitlines()
                           if line.startswith("Copyright")]
        for line in copyright_lines:
            assert line in p.stdout, f"licence lacks {line!r}"


USAGE_ERRORS = {
    "nothing": [],
    "options-only": ["-s", "-v"],
    "dashdash-only": ["--"],
    "unknown-option": ["-z", "--", "@RUN"],
    "unknown-long": ["--bogus", "--", "@RUN"],
    "p-without-value": ["-p"],
    "e-without-value": ["-e"],
    "e-256": ["-e", "256", "--", "@RUN"],
    "e-negative": ["-e", "-1", "--", "@RUN"],
    "e-not-a-number": ["-e", "abc", "--", "@RUN"],
    "p-unknown-signal": ["-p", "SIGNOPE", "--", "@RUN"],
    "option-after-program": ["@RUN", "-c"],
}


@pytest.mark.parametrize("args", list(USAGE_ERRORS.values()), ids=list(USAGE_ERRORS))
def test_usage_errors_exit_1(links, tmp_path, args):
    marker = tmp_path / "ran"
    full = []
    for a in args:
        full += marker_cmd(marker) if a == "@RUN" else [a]
    p = run_as(links, "tini", full)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.strip(), "a usage error says something on stderr"
    assert p.stdout == ""
    assert not marker.exists(), "nothing may run after a usage error"


# ---------------------------------------------------------------- parsing: permutation

ARGS_SCRIPT = 'for a; do printf "%s\\n" "$a"; done > {out}; exit 3\n'


def args_script(h):
    out = h.path("args.out")
    script = h.path("args.sh")
    script.write_text(ARGS_SCRIPT.format(out=q(out)))
    return script, out


def test_options_after_program_are_tini_s(tini):
    """Without POSIXLY_CORRECT, `-e 3` after the program is still tini's (getopt permutes)."""
    script, out = args_script(tini)
    r = tini.run(["/bin/sh", script, "-e", "3"])
    assert out.read_text() == "", "the options after the program were passed to it"
    assert r.returncode == 0, f"-e 3 after the program was not applied: {r.status()} {r.err()!r}"


@pytest.mark.parametrize("value", ["1", ""], ids=["set", "set-empty"])
def test_posixly_correct_stops_at_program(tini, value):
    script, out = args_script(tini)
    r = tini.run(["/bin/sh", script, "-e", "3"], env={"POSIXLY_CORRECT": value})
    assert out.read_text() == "-e\n3\n"
    assert r.returncode == 3 and r.status() == "exited 3"


def test_dashdash_ends_options(tini):
    script, out = args_script(tini)
    r = tini.run(["--", "/bin/sh", script, "-e", "3", "-v"])
    assert out.read_text() == "-e\n3\n-v\n"
    assert r.returncode == 3
    assert r.err() == ""


# ---------------------------------------------------------------- exit status

@pytest.mark.parametrize("code", [0, 1, 3, 127, 255])
def test_exit_code_passes_through(tini_any, code):
    r = tini_any.run(["--"] + sh(f"exit {code}"))
    assert r.returncode == code
    assert r.status() == f"exited {code}"
    assert r.out() == "" and r.err() == ""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGUSR1],
                         ids=lambda s: s.name)
def test_killed_child_gives_128_plus_n(tini, sig):
    r = tini.run(["--"] + sh(f"kill -{int(sig)} $$"))
    assert r.returncode == 128 + sig
    assert r.status() == f"exited {128 + sig}", "warden must exit, not die of the signal"


REMAPS = {
    "match": (["-e", "3"], "exit 3", 0),
    "no-match": (["-e", "3"], "exit 4", 4),
    "repeated": (["-e", "4", "-e", "3"], "exit 3", 0),
    "repeated-other": (["-e", "4", "-e", "3"], "exit 4", 0),
    "zero": (["-e", "0"], "exit 0", 0),
    "255": (["-e", "255"], "exit 255", 0),
    "128+N": (["-e", "143"], "kill -TERM $$", 0),
    "128+N-no-match": (["-e", "143"], "kill -USR1 $$", 138),
}


@pytest.mark.parametrize("args,script,want", list(REMAPS.values()), ids=list(REMAPS))
def test_e_remaps_exit_code(tini, args, script, want):
    r = tini.run(args + ["--"] + sh(script))
    assert r.returncode == want, r.err()
    assert r.status() == f"exited {want}"


@pytest.mark.parametrize("args,want", [([], 143), (["-e", "143"], 0)], ids=["plain", "e143"])
def test_forwarded_sigterm_exit_code(tini, args, want):
    """docker stop: SIGTERM to tini kills a default child; 143, or 0 with -e 143."""
    r = tini.start(args + ["--", "/bin/sleep", "60"])
    child = r.main_child()
    wait_for(lambda: "sleep" in " ".join(child.cmdline()), 10, "sleep to be exec'd")
    r.kill(signal.SIGTERM)
    assert r.wait(15) == want
    assert r.status() == f"exited {want}"


@pytest.mark.parametrize("kind,code", [("missing", 127), ("not-executable", 126),
                                       ("directory", 126)])
def test_exec_failure(tini, kind, code):
    if kind == "missing":
        prog = tini.path("does-not-exist")
    elif kind == "not-executable":
        prog = tini.path("plain-file")
        prog.write_text("#!/bin/sh\nexit 0\n")
        prog.chmod(0o644)
    else:
        prog = tini.path("a-directory")
        prog.mkdir()
    r = tini.run(["--", prog])
    assert r.returncode == code, r.err()
    assert r.status() == f"exited {code}"
    assert str(prog) in r.err() or prog.name in r.err(), f"no word about the program: {r.err()!r}"


@pytest.mark.parametrize("kind,code", [("missing", 127), ("not-executable", 126)])
def test_e_remaps_exec_failure(tini, kind, code):
    """tini execs in its child, so an exec failure is the child's exit status, which
    -e remaps like any other (real tini: `tini -e 127 -- missing` exits 0)."""
    prog = tini.path("prog")
    if kind == "not-executable":
        prog.write_text("#!/bin/sh\nexit 0\n")
        prog.chmod(0o644)
    r = tini.run(["-e", str(code), "--", prog])
    assert r.returncode == 0, f"-e {code} not applied to the exec failure: {r.status()}"


def test_exec_failure_not_found_in_path(tini):
    r = tini.run(["--", "warden-no-such-command-xyz"])
    assert r.returncode == 127


# ---------------------------------------------------------------- exit timing

def test_exits_as_soon_as_main_child_is_reaped(tini):
    """A leftover does not delay the exit and gets no signal from warden; as PID 1
    it dies with the namespace."""
    left_log = tini.path("left.log")
    left_ready = tini.path("left.ready")
    trigger = tini.path("trigger")
    script = (f"{q(helper('sigrecord'))} -x 0 -t 60 -r {q(left_ready)} {q(left_log)} & "
              f"{wait_file_sh(trigger)}; exit 5")
    r = tini.start(["--"] + sh(script))
    wait_for(left_ready.exists, 15, "the leftover recorder to be ready")
    leftover = find_proc(r, str(left_log))
    trigger.write_text("")
    t0 = time.monotonic()
    assert r.wait(15) == 5
    took = time.monotonic() - t0
    # tini exits at once; waiting for the leftover would take warden's grace of 5 s at least.
    assert took < 4.0, f"warden took {took:.2f}s to exit after its main child: no grace period"
    if tini.pid1:
        wait_for(lambda: not proc_alive(leftover), 10, "the leftover to die with the namespace")
    else:
        time.sleep(0.3)  # a window: no signal may come, and the leftover stays
        assert proc_alive(leftover), "tini does not kill leftovers"
        assert read_signals(left_log) == [], "tini sends nothing to leftovers"


def test_clean_run_is_silent(tini):
    """Default verbosity: not a word (no subreaper warning either: warden is one)."""
    r = tini.run(["--", "/bin/true"])
    assert r.returncode == 0
    assert r.out() == "" and r.err() == ""


# ---------------------------------------------------------------- signals

FORWARDED = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGPIPE, signal.SIGALRM, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH,
             signal.SIGXCPU, signal.SIGPWR, signal.SIGRTMIN, signal.SIGTERM]


def test_signals_forwarded_to_child(tini_any):
    r, log = start_recorder(tini_any, ["--"])
    for n, sig in enumerate(FORWARDED, 1):
        r.kill(sig)
        got = wait_signals(log, n)
        assert got[-1] == sig, f"sent {sig!r}, child got {got}"
    assert r.wait(15) == 0
    assert read_signals(log) == [int(s) for s in FORWARDED]


def test_sigtstp_forwarded_and_warden_keeps_running(tini):
    r, log = start_recorder(tini, ["--"])
    r.kill(signal.SIGTSTP)
    assert wait_signals(log, 1) == [signal.SIGTSTP]
    assert_not_stopped(r.pid)
    r.kill(signal.SIGUSR1)
    assert wait_signals(log, 2) == [signal.SIGTSTP, signal.SIGUSR1], "warden stopped forwarding"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def test_ttin_ttou_chld_not_forwarded(tini):
    """SIGTTIN/SIGTTOU are ignored, SIGCHLD only makes warden reap; none reaches the child."""
    r, log = start_recorder(tini, ["--"])
    for sig in (signal.SIGTTIN, signal.SIGTTOU, signal.SIGCHLD):
        r.kill(sig)
    # Windows: warden must not stop in the first, nothing but USR1 may come in the second.
    time.sleep(0.2)
    assert_not_stopped(r.pid)
    r.kill(signal.SIGUSR1)
    assert wait_signals(log, 1) == [signal.SIGUSR1]
    time.sleep(0.2)
    assert read_signals(log) == [signal.SIGUSR1]
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def start_group(h, args, main_exit="USR1"):
    """warden ARGS sh: a background recorder in the main child's group, then exec a
    recorder as the main child (which exits on MAIN_EXIT). Returns (run, main log,
    group-member log)."""
    mlog, mready = h.path("main.log"), h.path("main.ready")
    blog, bready = h.path("bg.log"), h.path("bg.ready")
    rec = q(helper("sigrecord"))
    script = (f"{rec} -x USR1 -t 60 -r {q(bready)} {q(blog)} & "
              f"{wait_file_sh(bready)}; exec {rec} -x {main_exit} -t 60 -r {q(mready)} {q(mlog)}")
    r = h.start(list(args) + sh(script))
    wait_for(lambda: (mready.exists() and bready.exists()) or not r.running(), 15,
             "both recorders to be ready")
    assert mready.exists() and bready.exists(), r.err()
    return r, mlog, blog


GROUP_WAYS = {
    "g": (["-g"], {}),
    "env-empty": ([], {"TINI_KILL_PROCESS_GROUP": ""}),
    "env-1": ([], {"TINI_KILL_PROCESS_GROUP": "1"}),
}


@pytest.mark.parametrize("args,env", list(GROUP_WAYS.values()), ids=list(GROUP_WAYS))
def test_group_forwarding(tini, args, env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # The main child outlives the USR1: as PID 1, warden's exit would end the
    # namespace, and with it a group member that had not yet written its record.
    r, mlog, blog = start_group(tini, args + ["--"], main_exit="TERM")
    r.kill(signal.SIGUSR1)
    # (The member, the main child's own child, exits on USR1: SIGCHLD may follow.)
    assert wait_signals(mlog, 1)[:1] == [signal.SIGUSR1]
    assert wait_signals(blog, 1) == [signal.SIGUSR1], "the group member did not get the signal"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


def test_without_group_only_the_child(tini):
    r, mlog, blog = start_group(tini, ["--"])
    r.kill(signal.SIGUSR1)
    assert wait_signals(mlog, 1) == [signal.SIGUSR1]
    assert r.wait(15) == 0
    time.sleep(0.2)  # a window for a signal that should not have been sent to arrive
    assert read_signals(blog) == [], "without -g only the main child gets signals"


def test_p_parent_death_signal_forwarded(tini):
    """-p SIGUSR1: when warden's parent (nsrun) dies, warden gets SIGUSR1 and forwards it."""
    r, log = start_recorder(tini, ["-p", "SIGUSR1", "--"], ["-x", "USR1", "-c", "7"])
    r.proc.kill()
    r.proc.wait(10)
    wait_for(lambda: read_signals(log) == [signal.SIGUSR1], 10,
             "the child to get the forwarded parent-death signal")
    # warden was reparented to pytest (a subreaper): reap it here.
    assert reap_pid(r.pid, 15) == 7


def test_p_sigkill_ends_warden_with_its_parent(tini):
    """The usual `tini -p SIGKILL`: warden dies with its parent, even as PID 1."""
    r, log = start_recorder(tini, ["-p", "SIGKILL", "--"])
    r.proc.kill()
    r.proc.wait(10)
    assert reap_pid(r.pid, 15) == -signal.SIGKILL


def test_no_parent_death_signal_without_p(tini):
    r, log = start_recorder(tini, ["--"])
    r.proc.kill()
    r.proc.wait(10)
    time.sleep(0.5)  # a window: no parent-death signal may come
    assert read_signals(log) == []
    r.kill(signal.SIGTERM)
    assert reap_pid(r.pid, 15) == 0


# ---------------------------------------------------------------- reaping, -s, -w, verbosity

def run_orphans(h, args, n, env=None):
    """Runs warden ARGS -- orphans N, which makes N orphans (exiting at once) and sleeps;
    once warden has reaped them all, SIGTERM ends it all (0). Returns the Run."""
    done = h.path("orphans.done")
    r = h.start(list(args) + ["--", helper("orphans"), str(n), "--done", done,
                              "--then-sleep", "60"], env=env)
    wait_for(done.exists, 15, "the orphans to be made")
    # Reparented before --done is written; reaped, they are no longer warden's children.
    wait_for(lambda: len(r.children()) == 1, 15, "the orphans to be reaped")
    r.kill(signal.SIGTERM)
    r.wait(15)
    return r


SUBREAPER_WAYS = {
    "default": ([], {}),
    "s": (["-s"], {}),
    "env-empty": ([], {"TINI_SUBREAPER": ""}),
}


@pytest.mark.parametrize("args,env", list(SUBREAPER_WAYS.values()), ids=list(SUBREAPER_WAYS))
def test_orphans_reparented_and_reaped(tini, args, env, monkeypatch):
    """Orphans come to warden (PID 1, or subreaper even without -s) and are reaped."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    done = tini.path("done")
    # The orphans live 3 s: long enough to be seen as warden's children after --done,
    # even on a loaded machine.
    r = tini.start(args + ["--", helper("orphans"), "3", "--orphan-sleep", "3", "--done", done,
                           "--then-sleep", "60"])
    wait_for(done.exists, 15, "the orphans to be made")
    kids = wait_for(lambda: len(r.children()) >= 4 and r.children(), 10,
                    "the 3 orphans to be reparented to warden")
    assert len(kids) == 4, kids
    # Once they have exited, nothing but the main child is left: no zombie.
    wait_for(lambda: len(r.children()) == 1, 15, "the orphans to be reaped")
    assert not [p for p in tini.strays() if p.pid != r.proc.pid], "an orphan escaped warden"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0
    assert r.err() == ""


def test_w_reports_each_reaped_zombie(tini):
    r = run_orphans(tini, ["-w"], 3)
    assert r.returncode == 0
    lines = [line for line in r.err().splitlines() if line.strip()]
    assert len(lines) == 3, f"want one line per reaped orphan (3), not for the main child: {lines}"
    for line in lines:
        assert re.search(r"\d", line), f"no pid in {line!r}"


def test_without_w_reaping_is_silent(tini):
    r = run_orphans(tini, [], 3)
    assert r.returncode == 0
    assert r.err() == "" and r.out() == ""


def test_w_silent_at_verbosity_0(tini):
    """tini's -w messages are warnings: TINI_VERBOSITY=0 silences them."""
    r = run_orphans(tini, ["-w"], 2, env={"TINI_VERBOSITY": "0"})
    assert r.returncode == 0
    assert r.err() == "" and r.out() == "", "TINI_VERBOSITY=0 must leave only fatal errors"


VERBOSITY = {
    "default": ([], {}, False),
    "v": (["-v"], {}, True),
    "vvv": (["-vvv"], {}, True),
    "v-v": (["-v", "-v"], {}, True),
    "env-2": ([], {"TINI_VERBOSITY": "2"}, True),
    "env-0-beats-vvv": (["-vvv"], {"TINI_VERBOSITY": "0"}, False),
    "env-1-beats-vvv": (["-vvv"], {"TINI_VERBOSITY": "1"}, False),
}


@pytest.mark.parametrize("args,env,talks", list(VERBOSITY.values()), ids=list(VERBOSITY))
def test_verbosity(tini, args, env, talks):
    r = tini.run(args + ["--", "/bin/true"], env=env)
    assert r.returncode == 0
    said = r.out() + r.err()
    if talks:
        assert said.strip(), "verbose mode says nothing"
    else:
        assert said == "", f"unexpected output: {said!r}"


def test_verbosity_zero_still_reports_exec_failure(tini):
    r = tini.run(["--", tini.path("nope")], env={"TINI_VERBOSITY": "0"})
    assert r.returncode == 127
    assert r.err().strip(), "a fatal error is reported at any verbosity"


# ---------------------------------------------------------------- the child's state

IGNORED = [signal.SIGINT, signal.SIGUSR2, signal.SIGTTOU, signal.SIGSEGV]
BLOCKED = [signal.SIGUSR1, signal.SIGTERM, signal.SIGTTIN, signal.SIGILL]


def inherit_setup():
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)


def test_child_keeps_inherited_mask_and_ignored(tini):
    r = tini.run(["--", "/bin/cat", "/proc/self/status"], keep_signals=True, setup=inherit_setup)
    assert r.returncode == 0, r.err()
    sets = sig_sets(r.out())
    assert sets["SigIgn"] == {int(s) for s in IGNORED}, sets
    assert sets["SigBlk"] == {int(s) for s in BLOCKED}, sets


def test_child_clean_signal_state_when_inherited_clean(tini):
    r = tini.run(["--", "/bin/cat", "/proc/self/status"])
    assert r.returncode == 0, r.err()
    sets = sig_sets(r.out())
    assert sets["SigIgn"] == set(), "warden's own dispositions leaked to the child"
    assert sets["SigBlk"] == set(), "warden's own mask leaked to the child"


def test_child_gets_only_std_fds(tini):
    r = tini.run(["--", helper("fdlist")])
    assert r.returncode == 0, r.err()
    assert r.out() == "0 1 2\n", "a descriptor of warden's leaked to the child"


def test_child_has_own_process_group(tini):
    r, log = start_recorder(tini, ["--"])
    child = r.main_child()
    cs, ws = stat(child.pid), stat(r.pid)
    assert cs["pgrp"] == child.pid, "the child must lead a process group of its own"
    assert cs["session"] == ws["session"], "tini does not make a new session"
    r.kill(signal.SIGTERM)
    assert r.wait(15) == 0


# ---------------------------------------------------------------- terminal

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


TTY_CHILD = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
deadline = time.monotonic() + 20
while os.tcgetpgrp(0) != os.getpgrp() and time.monotonic() < deadline:
    time.sleep(0.01)
print("fg=%s leader=%s" % (os.tcgetpgrp(0) == os.getpgrp(), os.getpgrp() == os.getpid()),
      flush=True)
time.sleep(30)
sys.exit(3)
"""


def read_until(fd, pattern, timeout=15):
    """Read from FD until the regex PATTERN (bytes) matches what was read; the match."""
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, buf)
        if m:
            return m
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {pattern!r}; got {buf!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                raise AssertionError(f"terminal closed waiting for {pattern!r}; got {buf!r}")
            buf += data


@pytest.mark.parametrize("leader", ["parent", "warden"])
def test_tty_child_gets_foreground_and_ctrl_c(tini, leader):
    """The terminal's session is led by warden's parent, or by warden itself (as
    PID 1 of a container started with a terminal)."""
    master, slave = os.openpty()
    try:
        def setup():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        if leader == "warden":
            kw = {"prefix": ["setsid", "-c"]}
        else:
            kw = {"setup": setup}
        try:
            r = tini.start(["--", "/usr/bin/python3", "-c", TTY_CHILD], stdin=slave,
                           stdout=slave, stderr=slave, **kw)
        finally:
            os.close(slave)
        m = read_until(master, rb"fg=(\w+) leader=(\w+)")
        assert m.group(1) == b"True", "the child does not have the terminal's foreground"
        assert m.group(2) == b"True", "the child does not lead its process group"
        child = r.main_child()
        assert stat(child.pid)["tpgid"] == child.pid, "the child is not the foreground group"
        os.write(master, b"\x03")
        assert r.wait(15) == 130, "Ctrl-C must reach the foreground child"
        assert r.status() == "exited 130"
    finally:
        os.close(master)


def test_tty_child_reads_the_terminal_to_eof(tini):
    """A program under warden reads what is typed and sees end-of-file at ^D."""
    master, slave = os.openpty()
    try:
        raw_out_no_echo(master)
        try:
            r = tini.start(["--", "/usr/bin/tac"], prefix=["setsid", "-c"],
                           stdin=slave, stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        os.write(master, b"1\n2\n3\n")
        os.write(master, b"\x04")
        out = read_to_eof(master)
        assert r.wait(15) == 0
        assert out == b"3\n2\n1\n", out
    finally:
        os.close(master)
