# SPDX-License-Identifier: MIT
"""warden on a terminal: the child gets the foreground, Ctrl-C, job control."""

import fcntl
import os
import select
import termios
import time

import psutil
import pytest

from conftest import wait_for

pytestmark = pytest.mark.timeout(60)

FG_CHILD = r"""
import os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
deadline = time.monotonic() + 20
while os.tcgetpgrp(0) != os.getpgrp() and time.monotonic() < deadline:
    time.sleep(0.01)
print("fg=%s pgrp-leader=%s" % (os.tcgetpgrp(0) == os.getpgrp(), os.getpgrp() == os.getpid()),
      flush=True)
time.sleep(30)
sys.exit(3)
"""


class Pty:
    def __init__(self, warden, args, env=None):
        self.master, slave = os.openpty()
        self.buf = b""

        def setup():
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.r = warden.start(args, stdin=slave, stdout=slave, stderr=slave, setup=setup,
                                  env=env)
        finally:
            os.close(slave)

    def read_until(self, needle, timeout=15):
        """Read from the master until NEEDLE (bytes) shows up after what was consumed."""
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
                    raise AssertionError(f"terminal closed waiting for {needle!r}; got {self.buf!r}")
                self.buf += data
        i = self.buf.index(needle) + len(needle)
        seen, self.buf = self.buf[:i], self.buf[i:]
        return seen

    def wait_job(self, argv):
        """Wait until a descendant of warden runs ARGV (the shell's job did exec)."""
        def found():
            for p in self.r.descendants():
                try:
                    if p.cmdline() == argv and p.status() != "zombie":
                        return p
                except psutil.NoSuchProcess:
                    pass
            return None
        return wait_for(found, 10, f"a process running {argv}")

    def write(self, data):
        os.write(self.master, data)

    def close(self):
        os.close(self.master)


@pytest.fixture
def pty_runs():
    made = []
    yield made
    for p in made:
        p.close()


def test_ctrl_c_reaches_foreground_child(warden, pty_runs):
    p = Pty(warden, ["--", "/usr/bin/python3", "-c", FG_CHILD])
    pty_runs.append(p)
    line = p.read_until(b"\n")
    assert b"fg=True pgrp-leader=True" in line, line
    p.write(b"\x03")
    assert p.r.wait(15) == 130
    assert p.r.status() == "exited 130"


def test_interactive_shell_job_control(warden, pty_runs):
    env = {"PS1": "PROMPT> ", "ENV": "", "TERM": "dumb"}
    p = Pty(warden, ["--", "/bin/sh", "-i"], env=env)
    pty_runs.append(p)
    p.read_until(b"PROMPT> ")
    p.write(b"sleep 30 &\n")
    p.read_until(b"PROMPT> ")
    bg = p.wait_job(["sleep", "30"])
    p.write(b"jobs\n")
    out = p.read_until(b"PROMPT> ")
    assert b"Running" in out and b"sleep 30" in out, out
    p.write(b"kill %1\n")
    p.read_until(b"PROMPT> ")
    wait_for(lambda: not bg.is_running() or bg.status() == "zombie", 10, "the killed job to end")
    # Dead, it is collected by `jobs` itself before the list is written.
    p.write(b"jobs; echo jobs-$((40+2))\n")
    out = p.read_until(b"jobs-42\r\n")
    out += p.read_until(b"PROMPT> ")
    assert b"Running" not in out, out
    # A foreground job stopped with Ctrl-Z, then continued in the background.
    p.write(b"sleep 31\n")
    p.wait_job(["sleep", "31"])
    p.write(b"\x1a")
    out = p.read_until(b"PROMPT> ")
    assert b"Stopped" in out, out
    p.write(b"bg; jobs; echo bg-$((40+2))\n")
    out = p.read_until(b"bg-42\r\n")
    assert b"Running" in out, out
    p.read_until(b"PROMPT> ")
    # Ctrl-C kills the foreground job, not the shell (nor warden).
    p.write(b"sleep 32\n")
    p.wait_job(["sleep", "32"])
    p.write(b"\x03")
    p.read_until(b"PROMPT> ")
    p.write(b"echo alive-$((40+2))\n")
    p.read_until(b"alive-42\r\n")
    assert p.r.running()
    p.write(b"kill %% 2>/dev/null; exit 7\n")
    assert p.r.wait(15) == 7


def test_ctrl_c_at_interactive_prompt_keeps_shell(warden, pty_runs):
    env = {"PS1": "PROMPT> ", "ENV": "", "TERM": "dumb"}
    p = Pty(warden, ["--", "/bin/sh", "-i"], env=env)
    pty_runs.append(p)
    p.read_until(b"PROMPT> ")
    p.write(b"\x03")
    p.read_until(b"PROMPT> ")
    p.write(b"exit 4\n")
    assert p.r.wait(15) == 4
    wait_for(lambda: not p.r.running(), 5, "warden to end")
