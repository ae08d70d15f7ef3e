# SPDX-License-Identifier: MIT
"""An idle warden makes no system call: no wake-up while its child sleeps."""

import signal
import time

import pytest

from conftest import wait_for
from httpc import connections_of, free_port, get, wait_serving
from svlib import switches, wait_blocked

pytestmark = pytest.mark.timeout(60)


def thread_count(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.mark.parametrize("extra", [[],
                                   ["-g", "--stop-timeout", "10", "-t", "3", "--events", "EV",
                                    "-v"],
                                   ["--http", "HTTP"]],
                         ids=["plain", "options", "http"])
def test_idle_warden_does_not_wake_up(warden, extra):
    port = free_port()
    args = [str(warden.path("events")) if a == "EV" else
            f"127.0.0.1:{port}" if a == "HTTP" else a for a in extra]
    r = warden.start(args + ["--", "sleep", "60"])
    child = r.main_child()
    if "--http" in args:
        # Answered once, the endpoint holds no connection and no timer: still no wake-up.
        wait_serving(port, r)
        wait_for(lambda: get(port, "/readyz").status == 200, 20, "/readyz to pass")
        wait_for(lambda: connections_of(r.pid) == 0, 20, "warden to close every HTTP connection")
    # Start-up is over once the child sleeps in sleep(1)'s own call (after exec and the
    # dynamic loader) and warden, having seen the exec, is back in its loop's wait.
    wait_blocked(child.pid, "sleep", desc="the child to sleep in sleep(1)")
    wait_blocked(r.pid, "epoll", desc="warden to wait in epoll")
    assert thread_count(r.pid) == 1, "warden should be single-threaded"
    before = switches(r.pid)
    time.sleep(3.0)  # the window in which an idle warden must not wake up
    after = switches(r.pid)
    assert after == before, f"idle warden woke up {after - before} time(s) in 3s"
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 143
