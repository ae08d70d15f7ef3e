# SPDX-License-Identifier: MIT
"""examples/workers: workers watched with pidfds on a wd_loop next to a "host
library" that forks and reaps its own children. Run directly and under
warden (PID 1 of a pid namespace, and subreaper): the program exits 0, every
worker is reaped by its watch with its own status, every host child by the
host (never stolen), and no process is left behind, zombie or not."""

import os
import re
import subprocess

import psutil
import pytest

from conftest import _clean_signal_state, base_env, read_events

pytestmark = pytest.mark.timeout(120)

N = 6
HOST_CHILDREN = 3

WORKER_RE = re.compile(r"^worker (-?\d+) pid (\d+): reaped by its watch, (.*)$")
HOST_RE = re.compile(r"^host child pid (\d+): reaped by the host, exited with code (\d+)$")


def check_output(out, n):
    """Checks the program's report line by line; returns the pids it printed."""
    lines = out.splitlines()
    assert lines, "no output"
    assert lines[-1] == f"ok: {n + 1} workers reaped by their watches, " \
                        f"{HOST_CHILDREN} host children by the host", out
    assert "STOLEN" not in out and "someone else" not in out, out
    workers, hosts = {}, {}
    for line in lines[:-1]:
        m = WORKER_RE.match(line)
        if m:
            workers[int(m.group(1))] = (int(m.group(2)), m.group(3))
            continue
        m = HOST_RE.match(line)
        assert m, f"unexpected line {line!r}"
        hosts[int(m.group(1))] = int(m.group(2))
    assert sorted(workers) == list(range(-1, n)), out
    for i in range(n):
        assert workers[i][1] == f"exited with code {10 + i}"
    assert workers[-1][1] == "killed by SIGTERM"
    # The host's children ended first and waited, unreaped, while every
    # worker was reaped: the host still found each one with its own code.
    assert sorted(hosts.values()) == [40 + i for i in range(HOST_CHILDREN)], out
    # Host children end before any worker starts: they are reaped after all
    # the workers, in the report's last lines.
    kinds = ["w" if WORKER_RE.match(x) else "h" for x in lines[:-1]]
    assert kinds == ["w"] * (n + 1) + ["h"] * HOST_CHILDREN, out
    return [p for p, _ in workers.values()] + list(hosts)


def zombies_among(pids):
    """Those of PIDS that are zombies now, from /proc."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if stat[stat.rindex(")") + 2] == "Z":
            out.append(pid)
    return out


def test_workers_direct(examples_dir):
    """Run by pytest (a subreaper: anything the program left would come back here)."""
    exe = os.path.join(examples_dir, "workers")
    before = {p.pid for p in psutil.Process().children()}
    r = subprocess.run([exe, str(N)], capture_output=True, text=True, timeout=60,
                       env=base_env(), stdin=subprocess.DEVNULL,
                       preexec_fn=_clean_signal_state, start_new_session=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""
    pids = check_output(r.stdout, N)
    assert len(set(pids)) == N + 1 + HOST_CHILDREN
    assert zombies_among(pids) == []
    left = [p for p in psutil.Process().children() if p.pid not in before]
    assert left == [], f"processes left behind: {left}"


def test_workers_usage(examples_dir):
    r = subprocess.run([os.path.join(examples_dir, "workers"), "0"], capture_output=True,
                       text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert "usage" in r.stderr


def test_workers_under_warden(warden, examples_dir):
    """Under warden: warden reaps every orphan it is given and says so in its
    events. None must come from this program: it reaps all it spawned itself."""
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--", os.path.join(examples_dir, "workers"), str(N)],
                   timeout=60)
    assert r.returncode == 0, r.out() + r.err()
    assert r.status() == "exited 0"
    check_output(r.out(), N)
    evs = read_events(ev)
    assert [e for e in evs if e["event"] == "orphan.reaped"] == []
    (ex,) = [e for e in evs if e["event"] == "service.exited"]
    assert ex["code"] == 0 and ex["signal"] is None
    assert evs[-1]["event"] == "shutdown.finished"
    assert evs[-1]["exit_code"] == 0
    if not warden.pid1:
        assert warden.strays() == []
