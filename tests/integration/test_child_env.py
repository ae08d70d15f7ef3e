# SPDX-License-Identifier: MIT
"""What the child gets: fds 0-2 only (plus --preserve-fds / LISTEN_FDS), the signal
mask and ignored dispositions warden was started with, its own process group,
and quiet output at the default verbosity."""

import os
import signal
import subprocess

import pytest

from conftest import helper, q, run_direct, sh, wait_for
from svlib import wait_blocked

pytestmark = pytest.mark.timeout(60)


def fdlist_cmd(out):
    return [helper("fdlist"), str(out)]


def test_child_has_only_std_fds(warden):
    out = warden.path("fds")
    extra = os.open(warden.path("extra"), os.O_CREAT | os.O_RDWR, 0o644)
    rp, wp = os.pipe()
    try:
        r = warden.run(["--"] + fdlist_cmd(out), pass_fds=(extra, rp, wp))
    finally:
        for fd in (extra, rp, wp):
            os.close(fd)
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2\n"


def test_harness_passes_extra_fds(tmp_path):
    """Sanity of the test above: without warden, the extra fd does reach fdlist."""
    out = tmp_path / "fds"
    extra = os.open(tmp_path / "extra", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        subprocess.run([helper("nsrun"), "--no-newns", "--"] + fdlist_cmd(out), pass_fds=(extra,),
                       stdin=subprocess.DEVNULL, check=True, timeout=20)
    finally:
        os.close(extra)
    assert out.read_text() == f"0 1 2 {extra}\n"


def test_warden_own_fds_not_leaked(warden):
    """Events file, verbose logging: none of warden's descriptors reach the child."""
    out = warden.path("fds")
    r = warden.run(["-v", "--events", warden.path("events"), "--"] + fdlist_cmd(out))
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2\n"


def test_events_fd_not_leaked(warden):
    out, ev = warden.path("fds"), warden.path("events")
    prefix = sh(f'exec 5>>{q(ev)}; exec "$@"') + ["sh"]
    r = warden.run(["--events", "fd:5", "--"] + fdlist_cmd(out), prefix=prefix)
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2\n"
    assert '"warden.started"' in ev.read_text()


def open_fds_prefix(warden, n, env=""):
    """sh prefix that opens files f3.. on fds 3..3+n-1 (not close-on-exec), then execs warden."""
    opens = []
    for fd in range(3, 3 + n):
        f = warden.path(f"f{fd}")
        f.write_text(f"content of fd {fd}\n")
        opens.append(f"{fd}<{q(f)}")
    return sh(f'{env}exec {" ".join(opens)}; exec "$@"') + ["sh"]


@pytest.mark.parametrize("n", [1, 2])
def test_preserve_fds(warden, n):
    out = warden.path("fds")
    r = warden.run(["--preserve-fds", str(n), "--"] + fdlist_cmd(out),
                   prefix=open_fds_prefix(warden, 3))
    assert r.returncode == 0, r.err()
    assert out.read_text() == " ".join(str(i) for i in range(3 + n)) + "\n"


def test_preserve_fds_zero(warden):
    out = warden.path("fds")
    r = warden.run(["--preserve-fds", "0", "--"] + fdlist_cmd(out),
                   prefix=open_fds_prefix(warden, 2))
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2\n"


def test_preserved_fds_are_the_same_files(warden):
    r = warden.run(["--preserve-fds", "2", "--"] + sh("cat <&3; cat <&4"),
                   prefix=open_fds_prefix(warden, 2))
    assert r.returncode == 0, r.err()
    assert r.out() == "content of fd 3\ncontent of fd 4\n"


def listen_child(warden):
    info, out = warden.path("info"), warden.path("fds")
    script = (f'echo "$$ ${{LISTEN_PID-unset}} ${{LISTEN_FDS-unset}}" > {q(info)}; '
              f'cat <&3 >> {q(info)}; exec {q(helper("fdlist"))} {q(out)}')
    return info, out, sh(script)


def test_listen_fds(warden):
    info, out, child = listen_child(warden)
    prefix = open_fds_prefix(warden, 3, env="export LISTEN_PID=$$ LISTEN_FDS=2; ")
    r = warden.run(["--"] + child, prefix=prefix)
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2 3 4\n"
    first, second = info.read_text().splitlines()
    pid, listen_pid, listen_fds = first.split()
    assert listen_pid == pid, "LISTEN_PID must be set to the child's pid"
    assert listen_fds == "2"
    assert second == "content of fd 3"


def test_listen_fds_for_another_pid_not_passed(warden):
    info, out, child = listen_child(warden)
    prefix = open_fds_prefix(warden, 2, env="export LISTEN_PID=999999 LISTEN_FDS=2; ")
    warden.run(["--"] + child, prefix=prefix)
    assert out.read_text() == "0 1 2\n"


def test_listen_pid_1_as_pid1(warden_pid1):
    """LISTEN_PID is compared with warden's own pid: 1 when it is PID 1."""
    info, out, child = listen_child(warden_pid1)
    prefix = open_fds_prefix(warden_pid1, 1)
    r = warden_pid1.run(["--"] + child, prefix=prefix, env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    assert r.returncode == 0, r.err()
    assert out.read_text() == "0 1 2 3\n"
    pid, listen_pid, listen_fds = info.read_text().splitlines()[0].split()
    assert listen_pid == pid != "1" and listen_fds == "1"


def sigmask_fields(text):
    fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
    return int(fields["SigBlk"], 16), int(fields["SigIgn"], 16)


def bit(sig):
    return 1 << (int(sig) - 1)


def test_child_signal_state_clean(warden):
    r = warden.run(["cat", "/proc/self/status"])
    assert r.returncode == 0, r.err()
    blk, ign = sigmask_fields(r.out())
    assert blk == 0, f"warden's own signal mask leaked to the child: SigBlk={blk:016x}"
    assert ign == 0, f"child has ignored signals: SigIgn={ign:016x}"


IGNORED = [signal.SIGUSR1, signal.SIGINT, signal.SIGPIPE]
BLOCKED = [signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM, signal.SIGRTMIN + 6]


def inherit_setup():
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)


def test_child_inherits_ignored_and_blocked(warden):
    r = warden.run(["cat", "/proc/self/status"], keep_signals=True, setup=inherit_setup)
    assert r.returncode == 0, r.err()
    blk, ign = sigmask_fields(r.out())
    want_blk = sum(bit(s) for s in BLOCKED)
    want_ign = sum(bit(s) for s in IGNORED)
    assert blk == want_blk, f"SigBlk {blk:016x}, want {want_blk:016x}"
    assert ign == want_ign, f"SigIgn {ign:016x}, want {want_ign:016x}"


def test_child_own_process_group(warden):
    r = warden.run(["cat", "/proc/self/stat"])
    assert r.returncode == 0, r.err()
    fields = r.out().rsplit(")", 1)[1].split()
    pid = int(r.out().split()[0])
    pgrp = int(fields[2])
    assert pgrp == pid, "the child must lead its own process group"


def test_environment_passed(warden):
    r = warden.run(sh('printf "%s" "$WARDEN_TEST_VAR"'), env={"WARDEN_TEST_VAR": "a b=c"})
    assert r.out() == "a b=c"


def test_clean_run_is_silent(warden):
    r = warden.run(sh("echo out; echo err >&2; exit 0"))
    assert r.returncode == 0
    assert r.out() == "out\n"
    assert r.err() == "err\n"


def test_stdin_passed(warden, tmp_path):
    f = tmp_path / "in"
    f.write_text("from stdin\n")
    with open(f) as stdin:
        r = warden.run(["cat"], stdin=stdin)
    assert r.out() == "from stdin\n"


@pytest.mark.parametrize("flags", [["-v"], ["--verbose"], ["-vv"], ["-v", "-v", "-v"]])
def test_verbose_log_lines(warden, flags):
    r = warden.run(flags + ["--"] + sh("exit 0"))
    assert r.returncode == 0
    lines = r.err().splitlines()
    assert all(line.startswith("warden: ") for line in lines), lines
    sub = [line for line in lines if line == "warden: not PID 1, acting as a subreaper"]
    if warden.pid1:
        assert sub == []
    else:
        assert len(sub) == 1, lines
    assert r.out() == ""


def test_descriptor_limit_is_one_and_checked_where_read(warden, tmp_path):
    """A command is handed descriptors below 1024: --preserve-fds up to 1021, LISTEN_FDS as
    many; more is refused before anything starts, naming the limit."""
    r = run_direct(["--preserve-fds", "1022", "--", "true"])
    assert r.returncode == 125
    assert r.stderr.startswith("warden: invalid number '1022' for --preserve-fds (0-1021)\n"), \
        r.stderr
    marker = tmp_path / "ran"
    r = warden.run(["--", "touch", marker],
                   prefix=sh('export LISTEN_PID=$$ LISTEN_FDS=1022; exec "$@"') + ["sh"])
    assert r.returncode == 125
    assert r.err() == "warden: LISTEN_FDS=1022: expected a number of descriptors from 0 to 1021\n"
    assert not marker.exists()


def test_warden_holds_no_directory(warden):
    """Once the command runs, warden's own working directory is /: a PID 1 never keeps a
    mount busy. The command keeps the directory it was started in."""
    ready = warden.path("ready")
    r = warden.start(["--"] + sh(f"touch {q(ready)}; exec sleep 30"), cwd=warden.tmp)
    wait_for(ready.exists, 10, "the command")
    # warden moves to / after it has started the command: once it waits in its loop.
    wait_blocked(r.pid, "epoll", desc="warden to wait in its loop")
    assert os.readlink(f"/proc/{r.pid}/cwd") == "/"
    child = r.main_child()
    assert os.readlink(f"/proc/{child.pid}/cwd") == str(warden.tmp)
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143
