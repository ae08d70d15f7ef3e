# SPDX-License-Identifier: MIT
"""Start-up diagnostics: warden.started carries the build and what warden found about its
world (kernel, pid namespace, cgroup, fd limit, inherited signal state); what looks wrong
is also a warden.warning event; `warden --version -v` prints the same for a human."""

import os
import resource
import signal
import struct
import subprocess

import pytest

from conftest import WARDEN, _clean_signal_state, base_env, run_direct, wait_for
from svlib import poll_events, select

pytestmark = pytest.mark.timeout(120)


def is_static(path):
    """Whether the ELF file at PATH has no program interpreter (PT_INTERP): linked statically."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "not a 64-bit ELF file"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 not in types


def cgroup_expected(pid):
    """(version, directory) as warden should find them, by other means: stat -f and
    /proc/PID/cgroup."""
    def fstype(path):
        r = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None
    top = fstype("/sys/fs/cgroup")
    with open(f"/proc/{pid}/cgroup") as f:
        lines = f.read().splitlines()
    if top == "cgroup2fs":
        version, root = "v2", "/sys/fs/cgroup"
    elif top == "tmpfs" and fstype("/sys/fs/cgroup/unified") == "cgroup2fs":
        version, root = "hybrid", "/sys/fs/cgroup/unified"
    elif top == "tmpfs":
        version, root = "v1", "/sys/fs/cgroup/pids"
    else:
        return "none", None
    key = ":pids:" if version == "v1" else "0::"
    for line in lines:
        if (version == "v1" and key in line) or line.startswith(key):
            rel = line.split(":", 2)[2]
            return version, root + ("" if rel == "/" else rel)
    return version, None


def started(h, args=("--", "true"), **kw):
    """Runs warden --events EV ARGS to the end; (run, warden.started, its warnings)."""
    ev = h.path(f"events{h.n + 1}")
    r = h.run(["--events", ev] + list(args), **kw)
    evs = poll_events(ev)
    st = select(evs, "warden.started")
    assert len(st) == 1, (evs, r.err())
    return r, st[0], select(evs, "warden.warning")


def test_started_carries_build_and_world(warden):
    ev = warden.path("events")
    go = warden.path("go")
    r = warden.start(["--events", ev, "--", "sh", "-c",
                      f"while [ ! -e {go} ]; do sleep 0.02; done"])
    st = wait_for(lambda: select(poll_events(ev), "warden.started"), 15, "warden.started")[0]
    # What warden saw, checked against the same facts seen from outside while it runs.
    expected_cg = cgroup_expected(r.pid)
    pidns = os.stat(f"/proc/{r.pid}/ns/pid").st_ino
    go.touch()
    assert r.wait(20) == 0
    version = run_direct(["--version"]).stdout.split()
    b = st["build"]
    assert ["warden", b["version"], "(git", b["commit"] + ")"] == version, (b, version)
    assert b["compiler"].startswith(("gcc ", "clang ")) and b["libc"].startswith(("glibc ", "musl"))
    assert ("static" in b["features"]) == is_static(WARDEN), b
    assert b["features"][:4] == ["http", "metrics", "health", "leak-watch"], b
    assert set(b["features"]) <= {"http", "metrics", "health", "leak-watch", "static", "clone3",
                                  "pidfd", "asan"}
    assert st["kernel"] == os.uname().release
    assert st["pid_namespace"] == pidns
    if warden.pid1:
        assert pidns != os.stat("/proc/self/ns/pid").st_ino
    assert (st["cgroup"]["version"], st["cgroup"]["path"]) == expected_cg, st["cgroup"]
    if expected_cg[1]:
        assert st["cgroup"]["writable"] is os.access(expected_cg[1], os.W_OK)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert st["nofile"] == {"soft": soft, "hard": hard}, st["nofile"]
    assert st["inherited_signals"] == {"blocked": [], "ignored": []}
    assert st["pid1"] is warden.pid1 and st["subreaper"] is (not warden.pid1)


def test_clean_start_has_no_warning(warden):
    _, _, warnings = started(warden)
    assert warnings == []


def ignore_term():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ignored_stop_signals_are_listed_and_warned(warden):
    _, st, warnings = started(warden, keep_signals=True, setup=ignore_term)
    assert st["inherited_signals"]["ignored"] == ["SIGINT", "SIGTERM"]
    assert len(warnings) == 1, warnings
    w = warnings[0]
    assert w["reason"] == "stop_signal_ignored" and w["signals"] == ["SIGINT", "SIGTERM"]
    assert w["message"].startswith(
        "SIGINT and SIGTERM were ignored by warden's parent: warden still receives them "
        "(it blocks every signal and reads them from a signalfd), but its services inherit "
        "the ignored disposition"), w


def test_ignored_sigterm_still_stops_warden(warden):
    """What the warning says: warden receives an inherited-ignored SIGTERM; its command
    inherits the ignored disposition and is stopped only by the second request's SIGKILL."""
    ev = warden.path("events")
    ready = warden.path("ready")
    r = warden.start(["--events", ev, "--", "sh", "-c", f"touch {ready}; exec sleep 60"],
                     keep_signals=True, setup=lambda: signal.signal(signal.SIGTERM,
                                                                    signal.SIG_IGN))
    wait_for(ready.exists, 15, "the command to start")
    r.kill(signal.SIGTERM)
    wait_for(lambda: select(poll_events(ev), "service.stopping"), 15, "the stop")
    assert r.running()
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 128 + signal.SIGKILL


def test_blocked_signals_are_listed_and_warned(warden):
    def block():
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1, signal.SIGHUP])
    _, st, warnings = started(warden, keep_signals=True, setup=block)
    assert st["inherited_signals"]["blocked"] == ["SIGHUP", "SIGUSR1"]
    assert [w["reason"] for w in warnings] == ["signals_blocked"], warnings
    assert warnings[0]["signals"] == ["SIGHUP", "SIGUSR1"]
    assert warnings[0]["message"].startswith(
        "warden was started with SIGHUP and SIGUSR1 blocked: its services inherit that mask")


def test_low_fd_limit_is_listed_and_warned(warden):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    _, st, warnings = started(warden, setup=lower)
    assert st["nofile"] == {"soft": 256, "hard": hard}
    assert [w["reason"] for w in warnings] == ["fd_limit_low"], warnings
    assert warnings[0]["nofile"] == {"soft": 256, "hard": hard}


def test_supervisor_mode_has_them_too(warden):
    conf = warden.path("w.conf")
    conf.write_text("[a]\ncommand = true\n")
    _, st, warnings = started(warden, ["-c", conf], keep_signals=True, setup=ignore_term)
    assert st["mode"] == "supervisor" and st["kernel"] == os.uname().release
    assert [w["reason"] for w in warnings] == ["stop_signal_ignored"]


def version_v(preexec):
    return subprocess.run([WARDEN, "--version", "-v"], capture_output=True, text=True,
                          timeout=20, env=base_env(), preexec_fn=preexec,
                          stdin=subprocess.DEVNULL)


def test_version_verbose():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def setup():
        _clean_signal_state()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
        resource.setrlimit(resource.RLIMIT_NOFILE, (300, hard))
    r = version_v(setup)
    assert r.returncode == 0 and r.stderr == "", r
    lines = r.stdout.splitlines()
    head = run_direct(["--version"]).stdout
    assert lines[0] + "\n" == head
    keys = [line.split(":", 1)[0] for line in lines[1:]]
    assert keys == ["build", "features", "kernel", "pid 1", "pid namespace", "cgroup",
                    "fd limit", "blocked signals", "ignored signals"], lines
    d = dict(line.split(": ", 1) for line in lines[1:])
    commit = head.split("(git ")[1].rstrip(")\n")
    assert d["build"].startswith(f"commit {commit}, ")
    assert d["kernel"] == os.uname().release
    assert d["pid 1"] == "no (subreaper possible)"
    assert d["pid namespace"] == str(os.stat("/proc/self/ns/pid").st_ino)
    hs = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    assert d["fd limit"] == f"soft 300, hard {hs}"
    assert d["blocked signals"] == "SIGUSR2"
    assert d["ignored signals"] == "SIGTERM"
    assert d["cgroup"].split(",")[0] in ("v2", "v1", "hybrid", "none")


def test_version_verbose_clean():
    r = version_v(_clean_signal_state)
    d = dict(line.split(": ", 1) for line in r.stdout.splitlines()[1:])
    assert d["blocked signals"] == "none" and d["ignored signals"] == "none"


def test_version_without_verbose_is_one_line():
    r = run_direct(["--version"])
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1
    r = run_direct(["-v", "--version"])
    assert len(r.stdout.splitlines()) == 10
