# SPDX-License-Identifier: MIT
"""An idle supervisor makes no system call either: services with notify and fd readiness,
captured output and a control socket, all quiet, and warden does not wake up."""

import time

import pytest

from conftest import helper, q, wait_for
from httpc import connections_of, free_port, get, wait_serving
from svlib import Sup, switches, wait_blocked

pytestmark = pytest.mark.timeout(60)

@pytest.mark.parametrize("http", [False, True], ids=["plain", "http"])
def test_idle_supervisor_does_not_wake_up(warden, http):
    h = warden
    ready = h.path("fdready")
    port = free_port()
    sup = Sup(h, (f"[warden]\nhttp = 127.0.0.1:{port}\n" if http else "") + f"""
        [notify]
        command = {helper("sdnotify")} notify:READY=1 sleep:60000
        ready = notify
        [fd]
        command = sh -c 'echo >&3; echo started; touch {q(ready)}; exec sleep 60'
        ready = fd:3
        [plain]
        command = sleep 60
        after = notify fd
        """)
    for name in ("notify", "fd", "plain"):
        sup.wait_event("service.ready", name)
    wait_for(ready.exists, 10, "the fd service's output")
    wait_for(lambda: "fd | started" in sup.out(), 10, "the captured line")
    if http:
        # Probed once, and that connection closed: no timer of the endpoint is left.
        wait_serving(port, sup.run)
        assert get(port, "/readyz").status == 200
        wait_for(lambda: connections_of(sup.run.pid) == 0, 20,
                 "warden to close the HTTP connection")
    wait_blocked(sup.run.pid, "epoll", desc="warden waiting in its loop")
    before = switches(sup.run.pid)
    time.sleep(3.0)  # the window in which nothing may happen
    after = switches(sup.run.pid)
    assert after == before, f"an idle supervisor woke up {after - before} time(s) in 3 s"
    assert sup.stop() == 0, sup.err()
