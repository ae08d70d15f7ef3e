# SPDX-License-Identifier: MIT
"""Shared tools for the supervisor-mode tests (test_supervisor_*.py).

`Sup` runs `warden --events EVENTS -c CONFIG` through a conftest Harness
(so as PID 1 of a new pid namespace, or as a subreaper) and reads its
events. The extra helpers of these tests (tests/helpers/sdnotify.c,
linegen.c, stopper.c) are looked up in WARDEN_HELPERS like the others.
"""

import datetime
import json
import os
import platform
import signal
import textwrap
import time

import pytest

from conftest import helper, read_events, run_direct, wait_for

# The transitions (from, to) of warden.conf(5)'s table.
DOCUMENTED = {
    ("stopped", "starting"), ("exited", "starting"), ("failed", "starting"),
    ("stopped", "waiting"), ("exited", "waiting"), ("failed", "waiting"),
    ("waiting", "starting"), ("waiting", "failed"), ("waiting", "stopped"),
    ("stopped", "failed"), ("exited", "failed"),
    ("starting", "running"),
    ("starting", "backoff"), ("starting", "exited"), ("starting", "failed"),
    ("running", "backoff"), ("running", "exited"), ("running", "failed"),
    ("starting", "stopping"), ("running", "stopping"),
    ("stopping", "stopped"), ("stopping", "backoff"), ("stopping", "exited"),
    ("stopping", "failed"),
    ("backoff", "starting"), ("backoff", "failed"), ("backoff", "stopped"),
}

# The documented exit codes of supervisor mode.
EXIT_ESCALATED = 124
EXIT_CONFIG = 125


def need(name):
    """Path of the compiled helper NAME; fails the test clearly when it is missing."""
    path = helper(name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"test helper {path!r} is missing: build tests/helpers/{name}.c "
                    f"(add it to tests/helpers/meson.build)")
    return path


def parse_ts(ts):
    """An event's ts as seconds since the epoch (float)."""
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.replace(tzinfo=datetime.timezone.utc).timestamp()


def poll_events(path):
    """The events written so far, ignoring a last line still being written."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in text.split("\n")[:-1]:
        out.append(json.loads(line))
    return out


def match(ev, event=None, service=None, **fields):
    if event is not None and ev.get("event") != event:
        return False
    if service is not None and ev.get("service") != service:
        return False
    return all(ev.get(k) == v for k, v in fields.items())


def select(evs, event=None, service=None, **fields):
    return [e for e in evs if match(e, event, service, **fields)]


def read_stamps(path):
    """stopper's log: a list of (name, what, seconds) in the order written."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        name, what, us = line.split()
        out.append((name, what, int(us) / 1e6))
    return out


def wait_stamp(path, name, what, timeout=10):
    """Waits until stopper NAME has logged WHAT in PATH; returns its time. Its "start" comes
    once it has blocked every signal: from then on a signal is logged, not fatal."""
    def pred():
        t = stamp(read_stamps(path), name, what)
        return (t,) if t is not None else None
    return wait_for(pred, timeout, f"{name} {what} in {path}")[0]


def stamp(stamps, name, what):
    """The time of the first (NAME, WHAT) in stamps, or None."""
    for n, w, t in stamps:
        if n == name and w == what:
            return t
    return None


_control_opt = None


def control_supported():
    """Whether warden has --control (then each run gets its own socket, so that runs of
    concurrent tests do not meet on the default /run/warden/control.sock)."""
    global _control_opt
    if _control_opt is None:
        r = run_direct(["--help"])
        _control_opt = "--control" in (r.stdout + r.stderr)
    return _control_opt


class Sup:
    """One supervisor-mode warden run: its config file, its events, its Run."""

    def __init__(self, h, conf, *, name="warden.conf", args=(), verbose=True, **start_kw):
        self.h = h
        self.conf_path = h.path(name)
        self.events_path = h.path(name + ".events")
        self.write(conf)
        self.control_path = h.path(name + ".ctl")
        control = ["--control", self.control_path] if control_supported() else []
        argv = (["-v"] if verbose else []) + list(args) + control + \
            ["--events", self.events_path, "-c", self.conf_path]
        self.run = h.start(argv, **start_kw)

    def write(self, conf):
        """(Re)writes the config file, atomically."""
        tmp = self.conf_path.with_name(self.conf_path.name + ".tmp")
        tmp.write_text(textwrap.dedent(conf).lstrip("\n"))
        os.replace(tmp, self.conf_path)

    # events ---------------------------------------------------------------
    def events(self):
        return poll_events(self.events_path)

    def all_events(self):
        """Every event, each line checked: valid JSON, ts and event first (conftest)."""
        return read_events(self.events_path)

    def wait_event(self, event=None, service=None, timeout=10, count=1, what=None, **fields):
        """Waits for COUNT events matching; returns the COUNT-th."""
        def pred():
            got = select(self.events(), event, service, **fields)
            if len(got) >= count:
                return got[count - 1]
            if not self.run.running():
                raise AssertionError(
                    f"warden exited ({self.run.status()}) while waiting for "
                    f"{what or (event, service, fields)}; stderr: {self.run.err()[-3000:]!r}; "
                    f"events: {[(e['event'], e.get('service')) for e in self.events()]}")
            return None
        try:
            return wait_for(pred, timeout, what or f"{count} x {event} {service} {fields}",
                            interval=0.01)
        except AssertionError as e:
            if "timed out" in str(e):
                raise AssertionError(
                    f"{e}; events so far: "
                    f"{[(x['event'], x.get('service'), x.get('state')) for x in self.events()]}; "
                    f"stderr: {self.run.err()[-3000:]!r}") from None
            raise

    def select(self, event=None, service=None, **fields):
        return select(self.events(), event, service, **fields)

    def pids(self, service):
        """The pids of every run of SERVICE so far (from service.starting)."""
        return [e["pid"] for e in self.select("service.starting", service) if e["pid"]]

    # control --------------------------------------------------------------
    def kill(self, sig):
        self.run.kill(sig)

    def hup(self):
        self.run.kill(signal.SIGHUP)

    def reload(self, conf, timeout=10):
        """Writes CONF, sends SIGHUP, waits for config.reloaded or config.rejected."""
        n = len(self.select("config.reloaded")) + len(self.select("config.rejected"))
        self.write(conf)
        self.hup()

        def pred():
            got = [e for e in self.events() if e["event"] in ("config.reloaded",
                                                                "config.rejected")]
            return got[n] if len(got) > n else None
        return wait_for(pred, timeout, "the reload to be answered")

    def stop(self, timeout=20, sig=signal.SIGTERM):
        """Asks warden to shut down; returns its exit status."""
        self.kill(sig)
        return self.wait(timeout)

    def wait(self, timeout=20):
        return self.run.wait(timeout)

    def running(self):
        return self.run.running()

    def out(self):
        return self.run.out()

    def err(self):
        return self.run.err()


# The system calls a process of these tests sits in once it has nothing left to do, by
# machine, for /proc/PID/syscall (whose first field is the number of the call the process
# is blocked in, or "running"). A process seen blocked in its final call has finished
# starting up, which its name does not tell: that changes at exec, before the dynamic
# loader has run.
_SYSCALLS = {
    "x86_64": {"write": 1, "nanosleep": 35, "recvfrom": 45, "clock_nanosleep": 230,
               "epoll_wait": 232, "epoll_pwait": 281, "epoll_pwait2": 441},
    "aarch64": {"epoll_pwait": 22, "write": 64, "nanosleep": 101, "clock_nanosleep": 115,
                "recvfrom": 207, "epoll_pwait2": 441},
}
BLOCKED_IN = {
    "epoll": ("epoll_wait", "epoll_pwait", "epoll_pwait2"),  # warden's loop, idle
    "sleep": ("nanosleep", "clock_nanosleep"),  # sleep(1)
    "recv": ("recvfrom",),  # warden ctl, waiting for its reply
    "write": ("write",),  # a writer held up by a full pipe
}


def syscall_numbers(what):
    """The numbers of the calls WHAT names (a key of BLOCKED_IN, or call names)."""
    table = _SYSCALLS.get(platform.machine())
    if table is None:
        pytest.fail(f"no system call numbers for {platform.machine()} in svlib._SYSCALLS")
    names = BLOCKED_IN.get(what, (what,)) if isinstance(what, str) else what
    return {table[n] for n in names if n in table}


def blocked_in(pid, what):
    """Whether PID is asleep in one of the system calls WHAT names (see syscall_numbers);
    False when it runs, or is gone."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            first = f.read().split(maxsplit=1)
    except OSError:  # gone
        return False
    if not first or not first[0].lstrip("-").isdigit():
        return False  # "running"
    return int(first[0]) in syscall_numbers(what)


def wait_blocked(pid, what, timeout=20, desc=None):
    """Waits until PID is asleep in one of the system calls WHAT names (blocked_in)."""
    def last():
        try:
            with open(f"/proc/{pid}/syscall") as f:
                return f.read().split(maxsplit=1)[:1]
        except OSError as e:
            return repr(e)
    try:
        wait_for(lambda: blocked_in(pid, what), timeout,
                 desc or f"process {pid} to block in {what}")
    except AssertionError as e:
        raise AssertionError(f"{e}; /proc/{pid}/syscall: {last()}") from None


def switches(pid):
    """voluntary + nonvoluntary context switches of PID (all its threads)."""
    total = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def wait_file(path, timeout=10, what=None):
    return wait_for(lambda: os.path.exists(path), timeout, what or f"{path} to exist")


def kill_quiet(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def sleep_until(pred, timeout):
    """Polls PRED for TIMEOUT seconds; returns its last value (no failure)."""
    deadline = time.monotonic() + timeout
    v = pred()
    while not v and time.monotonic() < deadline:
        time.sleep(0.01)
        v = pred()
    return v


def script(h, name, body):
    """Writes an executable /bin/sh script NAME in the test's directory; returns its path.
    (Keeps config lines short and free of quoting puzzles.)"""
    p = h.path(name)
    p.write_text("#!/bin/sh\n" + textwrap.dedent(body).lstrip("\n"))
    os.chmod(p, 0o755)
    return p
