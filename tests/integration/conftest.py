# SPDX-License-Identifier: MIT
"""Fixtures for warden's integration tests.

Environment:
  WARDEN_BIN      the warden binary under test
  WARDEN_HELPERS  the directory holding the compiled tests/helpers programs
  WARDEN_EXAMPLES the directory holding the compiled examples (default:
                  $WARDEN_HELPERS/../../examples, where a build puts them)

Every test that runs warden does so through the `nsrun` helper, in one of
two modes (the `mode` fixture): "pid1" (warden is PID 1 of a fresh pid
namespace) or "subreaper" (nsrun --no-newns: warden is an ordinary child
and must make itself a subreaper). The `warden` fixture starts runs and,
whatever happens in the test, kills and reaps everything they left behind.

The pytest process makes itself a child subreaper, so a process that
escapes warden comes back to pytest instead of the host's init: the tests
can see it (`Harness.strays`) and the finalizer can kill and reap it.

Nothing here skips a test. A missing WARDEN_BIN or helper, or a machine
where nsrun cannot make a pid namespace, stops the whole session with the
reason before any test runs: a suite that cannot test warden says so
instead of passing by default. (scripts/check also fails on any skip.)
"""

import ctypes
import json
import os
import re
import shlex
import signal
import subprocess
import time

import psutil
import pytest

WARDEN = os.environ.get("WARDEN_BIN", "")
HELPERS = os.environ.get("WARDEN_HELPERS", "")
HELPER_NAMES = ("nsrun", "sigrecord", "fdlist", "orphans", "linegen", "stopper", "sdnotify")
PR_SET_CHILD_SUBREAPER = 36

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
USAGE_HINT = "Try 'warden --help' for more information."


def _setup_error():
    """Why the suite cannot run at all here (a string), or None."""
    if not WARDEN:
        return "WARDEN_BIN is not set (path of the warden binary under test)"
    if not (os.path.isfile(WARDEN) and os.access(WARDEN, os.X_OK)):
        return f"WARDEN_BIN={WARDEN!r} is not an executable file"
    if not HELPERS:
        return "WARDEN_HELPERS is not set (directory of the compiled tests/helpers)"
    for name in HELPER_NAMES:
        path = os.path.join(HELPERS, name)
        if not os.access(path, os.X_OK):
            return f"test helper {path!r} is missing (build tests/helpers)"
    return None


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout(seconds): per-test time bound (pytest-timeout)")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def pytest_sessionstart(session):
    """Stops the session, with the reason, when warden cannot be tested here."""
    why = _setup_error()
    if why is None:
        ok, err = newns_ok()
        if not ok:
            why = f"cannot create a pid namespace here (nsrun -- /bin/true): {err}"
    if why:
        pytest.exit(f"warden's integration tests cannot run: {why}",
                    returncode=pytest.ExitCode.USAGE_ERROR)


def helper(name):
    return os.path.join(HELPERS, name)


def sh(script):
    return ["/bin/sh", "-c", script]


def q(path):
    return shlex.quote(str(path))


def wait_file_sh(path, seconds=20):
    """Shell snippet: wait (bounded) until PATH exists, else exit 99."""
    tries = int(seconds / 0.02)
    return (f"i=0; while [ ! -e {q(path)} ]; do i=$((i+1)); "
            f"[ $i -gt {tries} ] && exit 99; sleep 0.02; done")


def wait_for(pred, timeout, what, interval=0.01):
    """Poll PRED until it returns a true value (returned), or fail after TIMEOUT s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def reap_pid(pid, timeout):
    """Wait (bounded) for our child PID to end; returns its shell-style exit code."""
    deadline = time.monotonic() + timeout
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") \
                else status >> 8
        if time.monotonic() > deadline:
            raise AssertionError(f"process {pid} did not exit within {timeout}s")
        time.sleep(0.01)


def read_signals(path):
    """The signal numbers a sigrecord wrote to PATH, in order."""
    try:
        with open(path) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def read_events(path):
    """Parse a JSON-lines events file; each line must be one JSON object."""
    events = []
    with open(path) as f:
        text = f.read()
    assert text == "" or text.endswith("\n"), "events file does not end with a newline"
    for n, line in enumerate(text.splitlines(), 1):
        try:
            pairs = json.loads(line, object_pairs_hook=lambda p: p)
        except ValueError as e:
            raise AssertionError(f"events line {n} is not valid JSON: {line!r}: {e}")
        assert isinstance(pairs, list), f"events line {n} is not an object: {line!r}"
        keys = [k for k, _ in pairs]
        assert keys[:2] == ["ts", "event"], f"events line {n}: first keys are {keys[:2]}, want ts, event"
        assert len(set(keys)) == len(keys), f"events line {n} has duplicate keys: {line!r}"
        ev = json.loads(line)
        assert TS_RE.match(ev["ts"]), f"events line {n}: bad ts {ev['ts']!r}"
        events.append(ev)
    return events


def _clean_signal_state():
    """preexec_fn: default dispositions and an empty mask, whatever pytest had."""
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def base_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LISTEN_") and k != "NOTIFY_SOCKET"}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    if extra:
        env.update(extra)
    return env


def run_direct(args, timeout=20, **kw):
    """Run warden directly (no namespace) and wait; for CLI checks."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("env", base_env())
    return subprocess.run([WARDEN] + list(args), timeout=timeout, preexec_fn=_clean_signal_state,
                          start_new_session=True, **kw)


def proc_alive(p):
    """True if psutil.Process P still exists and is not a zombie."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def proc_exists(p):
    """True if P (same pid and start time) still exists, zombie or not."""
    try:
        return p.is_running()
    except psutil.NoSuchProcess:
        return False


class Run:
    """One warden started under nsrun. `pid` is warden's pid on the host."""

    def __init__(self, harness, proc, pidfile, statusfile, outpath, errpath):
        self.h = harness
        self.proc = proc
        self.pidfile = pidfile
        self.statusfile = statusfile
        self.outpath = outpath
        self.errpath = errpath
        self.pid = None
        self.ps = None
        self.returncode = None
        self.started = time.monotonic()
        self.ended = None

    def _wait_pid(self, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.pidfile) as f:
                    self.pid = int(f.read())
                break
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                raise AssertionError(f"nsrun exited {self.proc.returncode} before starting warden: "
                                     f"{self.err()!r}")
            if time.monotonic() > deadline:
                raise AssertionError("nsrun did not write its pidfile")
            time.sleep(0.002)
        try:
            self.ps = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            self.ps = None

    def wait(self, timeout=30):
        """Wait for warden (via nsrun) to end; returns its exit status as a shell code."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"warden did not exit within {timeout}s")
        self.ended = time.monotonic()
        return self.returncode

    @property
    def elapsed(self):
        return (self.ended or time.monotonic()) - self.started

    def status(self):
        """nsrun's exact record of how warden ended: 'exited N' / 'killed N [core]'."""
        with open(self.statusfile) as f:
            return f.read().strip()

    def running(self):
        return self.proc.poll() is None

    def kill(self, sig):
        """Send SIG to warden's host pid (to PID 1 of the namespace in pid1 mode)."""
        os.kill(self.pid, sig)

    def out(self):
        with open(self.outpath, errors="replace") as f:
            return f.read()

    def err(self):
        with open(self.errpath, errors="replace") as f:
            return f.read()

    def children(self):
        """warden's direct children (host view), zombies included."""
        try:
            return self.ps.children()
        except psutil.NoSuchProcess:
            return []

    def descendants(self):
        try:
            return self.ps.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def main_child(self, timeout=10):
        """The psutil.Process of warden's main child (its one non-orphan child)."""
        return wait_for(lambda: (self.children() or [None])[0], timeout, "warden's child")

    def cleanup(self):
        victims = []
        if self.ps is not None and proc_exists(self.ps):
            victims = self.descendants() + [self.ps]
        try:
            victims += psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        for p in victims:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


class Harness:
    """Starts warden runs for one test, in one mode, and cleans up after them."""

    def __init__(self, mode, tmp_path):
        self.mode = mode
        self.tmp = tmp_path
        self.runs = []
        self.n = 0

    @property
    def pid1(self):
        return self.mode == "pid1"

    def path(self, name):
        return self.tmp / name

    def start(self, args, *, prefix=(), env=None, keep_signals=False, setup=None,
              pass_fds=(), stdin=subprocess.DEVNULL, stdout=None, stderr=None,
              nsrun_mode=None, umask=None, cwd=None, nsrun_args=()):
        """Start `nsrun [...] -- PREFIX... WARDEN ARGS...`; returns a Run once warden's pid is known.

        stdout/stderr default to files (Run.out()/Run.err()); SETUP runs in
        the spawned process after its signal state was cleaned (for tests of
        inherited signal state, with keep_signals)."""
        self.n += 1
        n = self.n
        pidfile = self.tmp / f"run{n}.pid"
        statusfile = self.tmp / f"run{n}.status"
        outpath = self.tmp / f"run{n}.out"
        errpath = self.tmp / f"run{n}.err"
        mode = nsrun_mode or self.mode
        cmd = [helper("nsrun"), "--pidfile", str(pidfile), "--status", str(statusfile)]
        if mode == "subreaper":
            cmd.append("--no-newns")
        if keep_signals:
            cmd.append("--keep-signals")
        cmd += list(nsrun_args)
        cmd += ["--"] + list(prefix) + [WARDEN] + [str(a) for a in args]

        def preexec():
            _clean_signal_state()
            if umask is not None:
                os.umask(umask)
            if setup:
                setup()

        out_f = open(outpath, "wb") if stdout is None else None
        err_f = open(errpath, "wb") if stderr is None else None
        try:
            proc = subprocess.Popen(
                cmd, stdin=stdin, stdout=out_f or stdout, stderr=err_f or stderr,
                env=base_env(env), pass_fds=pass_fds, start_new_session=True,
                preexec_fn=preexec, cwd=cwd or self.tmp)
        finally:
            for f in (out_f, err_f):
                if f:
                    f.close()
        if stdout is not None:
            outpath.write_bytes(b"")
        if stderr is not None:
            errpath.write_bytes(b"")
        run = Run(self, proc, pidfile, statusfile, outpath, errpath)
        self.runs.append(run)
        run._wait_pid()
        return run

    def run(self, args, timeout=30, **kw):
        """Start and wait; returns the Run (returncode set)."""
        r = self.start(args, **kw)
        r.wait(timeout)
        return r

    def strays(self):
        """Children of pytest that no run of this test accounts for: processes
        that escaped warden and were reparented to us (we are a subreaper)."""
        own = {r.proc.pid for r in self.runs if r.proc.returncode is None}
        out = []
        for p in psutil.Process().children():
            if p.pid not in own:
                out.append(p)
        return out

    def cleanup(self):
        for r in self.runs:
            r.cleanup()
        # Kill and reap whatever escaped to us.
        deadline = time.monotonic() + 10
        for p in self.strays():
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while time.monotonic() < deadline:
                try:
                    pid, _ = os.waitpid(p.pid, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid:
                    break
                time.sleep(0.01)


_newns = None


def newns_ok():
    """Whether nsrun can make a pid namespace here (root or user namespaces)."""
    global _newns
    if _newns is None:
        try:
            r = subprocess.run([helper("nsrun"), "--", "/bin/true"], capture_output=True, timeout=20)
            _newns = (r.returncode == 0, r.stderr.decode(errors="replace").strip())
        except (OSError, subprocess.TimeoutExpired) as e:
            _newns = (False, str(e))
    return _newns


@pytest.fixture(params=["pid1", "subreaper"])
def mode(request):
    if request.param == "pid1":
        ok, why = newns_ok()
        if not ok:
            pytest.fail(f"cannot create a pid namespace here: {why}")
    return request.param


@pytest.fixture
def warden(mode, tmp_path):
    h = Harness(mode, tmp_path)
    yield h
    h.cleanup()


@pytest.fixture
def warden_sub(tmp_path):
    """A harness in subreaper mode only, for checks that do not depend on the mode."""
    h = Harness("subreaper", tmp_path)
    yield h
    h.cleanup()


@pytest.fixture
def warden_pid1(tmp_path):
    ok, why = newns_ok()
    if not ok:
        pytest.fail(f"cannot create a pid namespace here: {why}")
    h = Harness("pid1", tmp_path)
    yield h
    h.cleanup()


@pytest.fixture
def examples_dir():
    """The directory of the compiled examples/ programs. Missing, it fails the
    test (a build with the tests builds them): never a skip."""
    d = os.environ.get("WARDEN_EXAMPLES") or (
        os.path.join(HELPERS, "..", "..", "examples") if HELPERS else "")
    d = os.path.normpath(d) if d else d
    if not d or not os.path.isdir(d):
        pytest.fail(f"no compiled examples: WARDEN_EXAMPLES or $WARDEN_HELPERS/../../examples "
                    f"({d!r}) is not a directory")
    return d
