# SPDX-License-Identifier: MIT
"""Exit status: codes pass through, 128+N for signal N, 126/127 exec failures, -e remap."""

import os
import resource
import signal

import pytest

from conftest import helper, read_events, sh

pytestmark = pytest.mark.timeout(120)


def test_exit_codes_all(warden):
    """Every code 0..255 comes out unchanged, as a normal exit of warden."""
    for code in range(256):
        r = warden.run(sh(f"exit {code}"), timeout=20)
        assert r.returncode == code
        assert r.status() == f"exited {code}"
        assert r.err() == "" and r.out() == ""


# Signals whose default action terminates the process.
KILLING = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGABRT, signal.SIGKILL,
           signal.SIGSEGV, signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM,
           signal.SIGTERM, signal.SIGSYS, 34, 40, 64]
CORE_SIGNALS = {signal.SIGQUIT, signal.SIGABRT, signal.SIGSEGV, signal.SIGSYS}


@pytest.mark.parametrize("sig", KILLING, ids=lambda s: f"sig{int(s)}")
def test_killed_by_signal(warden, sig):
    ev = warden.path("events")

    def no_core():
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    r = warden.run(["--events", ev, "--"] + sh(f"kill -{int(sig)} $$"), setup=no_core)
    assert r.returncode == 128 + sig
    assert r.status() == f"exited {128 + sig}", "warden must exit with 128+N, not die of the signal"
    exited = [e for e in read_events(ev) if e["event"] == "service.exited"]
    assert len(exited) == 1
    e = exited[0]
    name = signal.Signals(sig).name if sig < 32 else None
    assert e["code"] is None
    if name:
        assert e["signal"] == name
    else:
        assert e["signal"].startswith("SIGRT"), e["signal"]
    assert e["exit_code"] == 128 + sig
    if sig in CORE_SIGNALS:
        # With a pipe core_pattern the kernel may dump despite RLIMIT_CORE 0.
        assert isinstance(e["core_dumped"], bool)
        suffix = " (core dumped)" if e["core_dumped"] else ""
    else:
        assert e["core_dumped"] is False
        suffix = ""
    assert e["status"] == f"killed by {e['signal']}{suffix}"


def test_segv_core_dumped_reported(warden):
    """core_dumped is a bool and the status words agree with it."""
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--"] + sh("kill -SEGV $$"))
    assert r.returncode == 139
    assert r.status() == "exited 139"
    (e,) = [e for e in read_events(ev) if e["event"] == "service.exited"]
    assert "core_dumped" in e and isinstance(e["core_dumped"], bool)
    assert e["signal"] == "SIGSEGV" and e["code"] is None and e["exit_code"] == 139
    if e["core_dumped"]:
        assert e["status"] == "killed by SIGSEGV (core dumped)"
    else:
        assert e["status"] == "killed by SIGSEGV"


def test_core_dump_flag_matches_kernel(warden):
    """With cores enabled (core_pattern 'core' on a writable cwd), the dump is reported."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.fail(f"this machine cannot run this test: core_pattern {pattern!r} is not "
                    "a plain file name")
    ev = warden.path("events")
    cwd = warden.path("cores")
    cwd.mkdir()

    def cores():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    try:
        cores()
    except (ValueError, OSError):
        pytest.fail("this machine cannot run this test: cannot raise RLIMIT_CORE")
    r = warden.run(["--events", ev, "--"] + sh("kill -SEGV $$"), setup=cores, cwd=cwd)
    assert r.returncode == 139
    (e,) = [e for e in read_events(ev) if e["event"] == "service.exited"]
    assert e["core_dumped"] is True
    assert e["status"] == "killed by SIGSEGV (core dumped)"


def test_forwarded_term_gives_143(warden):
    r = warden.start(["sleep", "30"])
    child = r.main_child()
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143
    assert r.status() == "exited 143"
    assert not child.is_running() or child.status() == "zombie"


@pytest.mark.parametrize("cmd", ["/nonexistent/dir/cmd", "no-such-command-xyzzy"])
def test_exec_not_found_127(warden, cmd):
    r = warden.run([cmd, "arg"])
    assert r.returncode == 127
    lines = r.err().splitlines()
    assert f"warden: cannot execute '{cmd}': No such file or directory" in lines, r.err()
    assert all(line.startswith("warden: ") for line in lines), r.err()
    assert r.out() == ""


def test_exec_not_executable_126(warden):
    f = warden.path("notexec")
    f.write_text("#!/bin/sh\necho should not run\n")
    os.chmod(f, 0o644)
    r = warden.run([str(f)])
    assert r.returncode == 126
    lines = r.err().splitlines()
    assert f"warden: cannot execute '{f}': Permission denied" in lines, r.err()
    assert all(line.startswith("warden: ") for line in lines), r.err()
    assert r.out() == ""


def test_exec_directory_126(warden):
    d = warden.path("adir")
    d.mkdir()
    r = warden.run([str(d)])
    assert r.returncode == 126
    assert any(line.startswith(f"warden: cannot execute '{d}': ") for line in r.err().splitlines())


def test_exec_found_in_path(warden):
    # A bare name is looked up in PATH, like execvp.
    r = warden.run(["fdlist"], env={"PATH": os.path.dirname(helper("fdlist")) + ":/usr/bin:/bin"})
    assert r.returncode == 0, r.err()
    assert r.out() == "0 1 2\n"


def test_remap_killed_by_term(warden):
    ev = warden.path("events")
    r = warden.run(["-e", "143", "--events", ev, "--"] + sh("kill -TERM $$"))
    assert r.returncode == 0
    assert r.status() == "exited 0"
    (ex,) = [e for e in read_events(ev) if e["event"] == "service.exited"]
    assert ex["exit_code"] == 143 and ex["signal"] == "SIGTERM"


def test_remap_long_option_and_repeat(warden):
    args = ["--remap-exit", "3", "-e", "143", "--"]
    assert warden.run(args + sh("exit 3")).returncode == 0
    assert warden.run(args + sh("kill -TERM $$")).returncode == 0
    assert warden.run(args + sh("exit 4")).returncode == 4
    assert warden.run(args + sh("kill -INT $$")).returncode == 130


def test_remap_non_matching_passes_through(warden):
    r = warden.run(["-e", "143", "--"] + sh("exit 42"))
    assert r.returncode == 42
    r = warden.run(["-e", "1", "--"] + sh("kill -TERM $$"))
    assert r.returncode == 143


def test_remap_after_forwarded_signal(warden):
    r = warden.start(["-e", "143", "--", "sleep", "30"])
    r.main_child()
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0


def test_remap_exec_failure(warden):
    # -e applies to the final exit status, which includes 127.
    r = warden.run(["-e", "127", "--", "/nonexistent/cmd"])
    assert r.returncode == 0

