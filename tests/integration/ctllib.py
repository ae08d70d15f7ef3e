# SPDX-License-Identifier: MIT
"""Shared tools for the control-socket tests (test_control_*.py).

Every test runs warden as PID 1 of a new pid namespace (conftest's nsrun
Harness), with its control socket in a directory of its own under /tmp that
other users can traverse (pytest's own tmp_path is under a 0700 directory, so
`nobody` could not even reach a socket there). `Ctl` starts
`warden -v --control SOCK --events EVENTS -c CONFIG`, and talks to it with
`warden ctl` (as root, or as another user through setpriv, or from inside
warden's pid namespace through nsenter) or with raw sockets.

The exit codes of warden-ctl(1) are below; the reply codes of its PROTOCOL
section too.
"""

import fcntl
import grp
import json
import os
import pathlib
import shutil
import socket
import subprocess
import struct
import tempfile
import termios
import textwrap
import time

import pytest

from conftest import WARDEN, Harness, _clean_signal_state, base_env, newns_ok, wait_for
from svlib import blocked_in, poll_events, select

# warden-ctl(1), EXIT STATUS.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOSERVICE = 3
EXIT_REFUSED = 4
EXIT_NOWARDEN = 5
EXIT_TIMEDOUT = 6
# warden.conf(5): an invalid configuration or command line, nothing started.
EXIT_CONFIG = 125

NOBODY = 65534
NOGROUP = 65534
try:
    USERS = grp.getgrnam("users").gr_gid
except KeyError:  # pragma: no cover
    USERS = 100

STATUS_FIELDS = {"name", "state", "pid", "uptime_ms", "restarts", "last_exit",
                 "last_exit_code", "status", "type", "essential", "stopped_on_request",
                 "health", "health_failures", "health_failed_total", "health_reason"}
STATES = {"stopped", "starting", "running", "stopping", "backoff", "exited", "failed"}

FAST = "restart_delay = 50ms\nrestart_delay_max = 50ms"


def as_user(uid=NOBODY, gid=NOGROUP, groups=None):
    """A setpriv prefix: run as UID/GID with GROUPS as supplementary groups (none by default)."""
    pre = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
    pre += [f"--groups={','.join(str(g) for g in groups)}"] if groups else ["--clear-groups"]
    return pre + ["--"]


def pid1_harness():
    """A pid1 Harness whose files live in a fresh 0755 directory under /tmp (a generator,
    for the `wh` fixture of each test_control_*.py)."""
    ok, why = newns_ok()
    if not ok:
        pytest.fail(f"cannot create a pid namespace here: {why}")
    d = pathlib.Path(tempfile.mkdtemp(prefix="wctl-", dir="/tmp"))
    os.chmod(d, 0o755)
    h = Harness("pid1", d)
    yield h
    h.cleanup()
    shutil.rmtree(d, ignore_errors=True)


def clean_preexec():
    _clean_signal_state()


def run_ctl(args, *, prefix=(), env=None, timeout=20, input=None):
    """Runs PREFIX... warden ctl ARGS... and waits (bounded); a CompletedProcess (text)."""
    cmd = list(prefix) + [WARDEN, "ctl"] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL if input is None else None, input=input,
                          env=base_env(env), preexec_fn=clean_preexec, start_new_session=True)


def popen_ctl(args, *, prefix=(), env=None):
    cmd = list(prefix) + [WARDEN, "ctl"] + [str(a) for a in args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=base_env(env),
                            preexec_fn=clean_preexec, start_new_session=True)


def wait_sent(p, timeout=20):
    """Waits until the warden ctl P (popen_ctl) has sent its request and sleeps in recv for
    the reply, or has ended already: a window in which P must not return starts there."""
    wait_for(lambda: p.poll() is not None or blocked_in(p.pid, "recv"), timeout,
             f"warden ctl {p.args[2:]} to send its request")


def finish(p, timeout=10):
    """Waits (bounded) for a popen_ctl; returns (rc, out, err). Kills it on a timeout."""
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"warden ctl did not return within {timeout}s: {out!r} {err!r}")
    return p.returncode, out, err


def describe(r):
    return f"rc={r.returncode} stdout={r.stdout[-2000:]!r} stderr={r.stderr[-2000:]!r}"


# --- raw sockets ------------------------------------------------------------------

def connect(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # A blocking connect: with a timeout, Python's connect() would fail at once with EAGAIN
    # while the listen backlog is full, instead of waiting for warden to accept.
    s.connect(str(path))
    s.settimeout(timeout)
    return s


def read_lines(s, n=1, timeout=5):
    """Reads until N newline-terminated lines came (or EOF / timeout); returns them as bytes."""
    buf = b""
    deadline = time.monotonic() + timeout
    while buf.count(b"\n") < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            d = s.recv(1 << 20)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    return buf.split(b"\n")[:-1] if buf.endswith(b"\n") else buf.split(b"\n")


def unread(s):
    """What was sent on our socket S and warden has not read yet: SIOCOUTQ, for a Unix
    socket the memory still held in the peer's receive queue (0 once all was read)."""
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def wait_read(s, timeout=20):
    """Waits until warden has read everything sent on S (accepted it, and taken the request
    in): what warden does about a request starts there."""
    wait_for(lambda: unread(s) == 0, timeout, "warden to read the request")


def parse_reply(line):
    """One reply line: valid JSON, one object, no duplicate keys, with a boolean ok."""
    if isinstance(line, bytes):
        line = line.decode()
    pairs = json.loads(line, object_pairs_hook=lambda p: p)
    keys = [k for k, _ in pairs]
    assert len(set(keys)) == len(keys), f"duplicate keys in a reply: {line[:300]!r}"
    obj = json.loads(line)
    assert isinstance(obj, dict) and isinstance(obj.get("ok"), bool), line[:300]
    if not obj["ok"]:
        assert isinstance(obj.get("error"), str) and obj["error"], line[:300]
        assert obj.get("code") in ("failed", "bad_request", "no_such_service", "refused",
                                   "timed_out"), line[:300]
    return obj


def request(path, data, timeout=5):
    """Sends DATA (bytes, newline included) on a new connection; the parsed first reply."""
    with connect(path, timeout) as s:
        s.sendall(data)
        lines = read_lines(s, 1, timeout)
    assert lines and lines[0], f"no reply to {data[:80]!r}"
    return parse_reply(lines[0])


def ctx_switches(pid):
    """voluntary + nonvoluntary context switches of host PID (from /proc)."""
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    total = 0
    for line in text.splitlines():
        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
            total += int(line.split()[1])
    return total


def ns_pid(host_pid):
    """The pid of host process HOST_PID inside its innermost pid namespace."""
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    raise AssertionError(f"no NSpid for {host_pid}")


class Ctl:
    """One supervisor-mode warden (PID 1 of a pid namespace) with a control socket."""

    def __init__(self, h, conf, *, sock=None, name="warden.conf", args=(), control_opt=True,
                 prefix=(), env=None, events=None, wait=True, verbose=True):
        self.h = h
        self.conf_path = h.path(name)
        self.events_path = pathlib.Path(events) if events else h.path(name + ".events")
        self.write(conf)
        self.sock = str(sock or h.path(name + ".sock"))
        argv = (["-v"] if verbose else []) + list(args)
        if control_opt:
            argv += ["--control", self.sock]
        argv += ["--events", str(self.events_path), "-c", str(self.conf_path)]
        self.run = h.start(argv, prefix=prefix, env=env)
        if wait:
            self.wait_up()

    # the process -------------------------------------------------------------
    def write(self, conf):
        tmp = self.conf_path.with_name(self.conf_path.name + ".tmp")
        tmp.write_text(textwrap.dedent(conf).lstrip("\n"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.conf_path)

    def wait_up(self, timeout=10):
        self.wait_event("warden.started", timeout=timeout)
        wait_for(lambda: os.path.exists(self.sock), timeout, f"the control socket {self.sock}")

    def running(self):
        return self.run.running()

    def err(self):
        return self.run.err()

    def out(self):
        return self.run.out()

    def wait(self, timeout=20):
        return self.run.wait(timeout)

    def stop(self, timeout=20):
        """SIGTERM to warden; its exit status."""
        if self.running():
            self.run.kill(15)
        return self.wait(timeout)

    # events --------------------------------------------------------------------
    def events(self):
        return poll_events(self.events_path)

    def select(self, event=None, service=None, **fields):
        return select(self.events(), event, service, **fields)

    def wait_event(self, event=None, service=None, timeout=10, count=1, **fields):
        def pred():
            got = select(self.events(), event, service, **fields)
            if len(got) >= count:
                return got[count - 1]
            if not self.running():
                raise AssertionError(f"warden exited ({self.run.status()}) while waiting for "
                                     f"{event} {service}; stderr: {self.err()[-2000:]!r}")
            return None
        try:
            return wait_for(pred, timeout, f"{count} x {event} {service} {fields}")
        except AssertionError as e:
            raise AssertionError(f"{e}; events: "
                                 f"{[(x['event'], x.get('service')) for x in self.events()]}; "
                                 f"stderr: {self.err()[-2000:]!r}") from None

    # the client ----------------------------------------------------------------
    def ctl(self, *args, user=False, uid=NOBODY, gid=NOGROUP, groups=None, in_ns=False,
            control=True, env=None, timeout=20):
        """`warden ctl [--control SOCK] ARGS`: as root, or (user=True) as UID/GID/GROUPS;
        in_ns: from inside warden's pid namespace (nsenter), where warden sees its pid."""
        prefix = []
        if in_ns:
            prefix += ["nsenter", f"--target={self.run.pid}", "--pid", "--"]
        if user:
            prefix += as_user(uid, gid, groups)
        cargs = (["--control", self.sock] if control else []) + list(args)
        return run_ctl(cargs, prefix=prefix, env=env, timeout=timeout)

    def ctl_bg(self, *args):
        return popen_ctl(["--control", self.sock] + list(args))

    def request(self, data, timeout=5):
        return request(self.sock, data, timeout)

    def status(self):
        """name -> the service's object in a raw status reply."""
        r = self.request(b"status\n")
        assert r["ok"], r
        return {s["name"]: s for s in r["services"]}

    def svc(self, name):
        return self.status()[name]

    def snapshot(self):
        """What a request that must change nothing must leave as it was."""
        return {n: (s["state"], s["pid"], s["stopped_on_request"], s["restarts"])
                for n, s in self.status().items()}

    def wait_state(self, name, state, timeout=10):
        states = (state,) if isinstance(state, str) else tuple(state)
        last = {}

        def pred():
            last["s"] = self.svc(name)
            return last["s"] if last["s"]["state"] in states else None
        try:
            return wait_for(pred, timeout, f"{name} to be {states}", interval=0.02)
        except AssertionError as e:
            raise AssertionError(f"{e}; last: {last.get('s')}; stderr: {self.err()[-2000:]!r}") \
                from None

    def host_pid(self, pid_in_ns):
        """The host pid of the process that warden's namespace calls PID_IN_NS."""
        for p in self.run.descendants():
            try:
                if ns_pid(p.pid) == pid_in_ns:
                    return p.pid
            except (FileNotFoundError, ProcessLookupError):
                continue
        return None
