# SPDX-License-Identifier: MIT
"""A client asking for dump after dump (each reads /proc for every process) cannot starve
warden's loop: dumps take a bounded share of warden's time, and signals are forwarded on
time meanwhile (warden-ctl(1))."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import helper, q, read_signals, wait_for
from ctllib import Ctl, pid1_harness

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def wh():
    yield from pid1_harness()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_dump_flood_does_not_starve_the_loop(wh):
    services = "".join(f"[s{i}]\ncommand = sleep 1000\n" for i in range(60))
    rec_log, rec_ready = wh.path("rec.log"), wh.path("rec.ready")
    services += (f"[rec]\ncommand = {helper('sigrecord')} -t 100 -r {q(rec_ready)} "
                 f"{q(rec_log)}\nforward_signals = USR1\n")
    w = Ctl(wh, services, verbose=False)
    wait_for(rec_ready.exists, 15, "the recorder")
    w.wait_state("s59", "running")
    stop = threading.Event()
    served = [0]

    def flood():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(w.sock)
        s.settimeout(30)
        buf = b""
        while not stop.is_set():
            # Pipelined: the next request is there before the reply.
            s.sendall(b"dump\ndump\n")
            for _ in range(2):
                while b"\n" not in buf:
                    chunk = s.recv(1 << 20)
                    assert chunk, "warden closed the connection"
                    buf += chunk
                _, buf = buf.split(b"\n", 1)
                served[0] += 1
        s.close()

    t = threading.Thread(target=flood, daemon=True)
    cpu0, t0 = cpu_seconds(w.run.pid), time.monotonic()
    t.start()
    late = []
    for i in range(20):
        sent = time.monotonic()
        w.run.kill(signal.SIGUSR1)
        wait_for(lambda: len(read_signals(rec_log)) == i + 1, 10, f"USR1 number {i + 1}")
        late.append(time.monotonic() - sent)
        time.sleep(0.1)  # pacing: the signals are spread over the flood
    stop.set()
    t.join(30)
    cpu, wall = cpu_seconds(w.run.pid) - cpu0, time.monotonic() - t0
    assert served[0] >= 2, "no dump was served"
    # Without a bound, dumps would keep warden busy all the time.
    assert cpu < 0.5 * wall, f"warden used {cpu:.2f}s of CPU in {wall:.2f}s serving dumps"
    assert max(late) < 5, f"a signal took {max(late):.2f}s to be forwarded"
    assert w.stop() == 0, w.err()
