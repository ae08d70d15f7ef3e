# SPDX-License-Identifier: MIT
"""An idle warden makes no system call: no wake-up while its child sleeps."""

import signal
import time

import pytest

from conftest import wait_for

pytestmark = pytest.mark.timeout(60)


def switches(pid):
    """voluntary + nonvoluntary context switches of PID (all its threads)."""
    total = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.parametrize("extra", [[], ["-g", "--stop-timeout", "10", "-t", "3", "--events", "EV", "-v"]],
                         ids=["plain", "options"])
def test_idle_warden_does_not_wake_up(warden, extra):
    args = [str(warden.path("events")) if a == "EV" else a for a in extra]
    r = warden.start(args + ["--", "sleep", "60"])
    child = r.main_child()
    wait_for(lambda: child.name() == "sleep", 10, "the child to exec sleep")
    time.sleep(1.0)  # let start-up finish
    assert thread_count(r.pid) == 1, "warden should be single-threaded"
    before = switches(r.pid)
    time.sleep(3.0)
    after = switches(r.pid)
    assert after == before, f"idle warden woke up {after - before} time(s) in 3s"
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143
