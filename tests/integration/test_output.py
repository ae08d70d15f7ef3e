# SPDX-License-Identifier: MIT
"""warden's own output never stops its loop (warden(7), OUTPUT): a reader that stops
reading warden's stderr and its events pipe while orphans pile up and signals pour in
changes nothing for reaping and forwarding; memory stays bounded; whole lines are dropped
and counted, and the count is reported once the reader reads again. Signals warden raises
on itself by writing (SIGPIPE, SIGXFSZ) are never forwarded. A full events file holds
whole events only."""

import fcntl
import json
import os
import resource
import signal
import threading
import time

import psutil
import pytest

from conftest import helper, q, read_signals, sh, wait_file_sh, wait_for

pytestmark = pytest.mark.timeout(180)

F_SETPIPE_SZ = 1031
RT = signal.SIGRTMIN + 1
ORPHANS = 2000
SIGNALS = 1000
STALL = 10.0


class StallableReader:
    """Reads a pipe in a thread into memory; stall() stops reading, resume() goes on."""

    def __init__(self):
        self.r, self.w = os.pipe()
        fcntl.fcntl(self.w, F_SETPIPE_SZ, 4096)
        self.data = bytearray()
        self.go = threading.Event()
        self.go.set()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            self.go.wait()
            b = os.read(self.r, 65536)
            if not b:
                return
            self.data += b

    def stall(self):
        # A read in progress may still finish: it takes at most what the pipe holds (4 KiB),
        # then the thread parks. The stall holds all the same, so there is nothing to wait for.
        self.go.clear()

    def resume(self):
        self.go.set()

    def close_write(self):
        os.close(self.w)

    def text(self, timeout=30):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "warden's output did not reach EOF"
        return self.data.decode(errors="replace")


def zombies_of(pid):
    try:
        return [c for c in psutil.Process(pid).children() if c.status() == psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def storm_while_stalled(run, go, done, log, err, ev):
    """Stalls both readers, releases the orphans and sends the signals; checks that every
    orphan is reaped and every signal forwarded while nobody reads; returns warden's
    peak RSS growth in KiB."""
    base = int(psutil.Process(run.pid).memory_info().rss / 1024)
    err.stall()
    ev.stall()
    t0 = time.monotonic()
    go.write_text("")
    for _ in range(SIGNALS):
        os.kill(run.pid, RT)
    wait_for(lambda: len(read_signals(log)) >= SIGNALS, 30,
             f"{SIGNALS} signals at the recorder while warden's output is stalled")
    assert read_signals(log) == [RT] * SIGNALS
    wait_for(done.exists, 30, "the orphans to be made")
    def all_reaped():
        for p in psutil.Process(run.pid).children(recursive=True):
            try:
                if p.name() == "orphans" or p.status() == psutil.STATUS_ZOMBIE:
                    return False
            except psutil.NoSuchProcess:
                pass  # reaped meanwhile
        return True

    wait_for(all_reaped, 30, "every orphan reaped while warden's output is stalled")
    assert time.monotonic() - t0 < STALL, "reaping and forwarding took longer than the stall"
    # The rest of the stall: a window in which warden, its output still stalled, must stay
    # up and bounded.
    time.sleep(max(0.0, STALL - (time.monotonic() - t0)))
    with open(f"/proc/{run.pid}/status") as f:
        peak = int(f.read().split("VmHWM:")[1].split()[0])
    assert run.running()
    err.resume()
    ev.resume()
    return peak - base


def check_streams(err_text, ev_text):
    """Whole lines only; the drops were reported."""
    events = []
    for n, line in enumerate(ev_text.splitlines(), 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"events line {n} is torn: {line[:200]!r}")
    for line in err_text.splitlines():
        assert line.startswith("warden: "), f"a torn stderr line: {line[:200]!r}"
    dropped = [e for e in events if e["event"] == "output.dropped"]
    assert dropped, "nothing was reported dropped, yet the queues must have filled"
    assert {e["sink"] for e in dropped} <= {"stderr", "events"}, dropped
    assert all(isinstance(e["dropped"], int) and e["dropped"] > 0 for e in dropped), dropped
    return events


def stalled_run(run, go, done, ready, log, err, ev):
    """The storm with warden's output stalled, then its end: exit 0, whole lines, drops
    reported, shutdown.finished last."""
    err.close_write()
    ev.close_write()
    wait_for(ready.exists, 15, "the recorder")
    growth = storm_while_stalled(run, go, done, log, err, ev)
    assert growth < 64 * 1024, f"warden's RSS grew by {growth} KiB while its output was stalled"
    run.kill(signal.SIGTERM)
    assert run.wait(30) == 0
    events = check_streams(err.text(), ev.text())
    assert events[-1]["event"] == "shutdown.finished"


def test_stalled_reader_init_mode(warden):
    h = warden
    err, ev = StallableReader(), StallableReader()
    go, done, ready, log = h.path("go"), h.path("done"), h.path("ready"), h.path("sig.log")
    # The orphan maker is double-forked: warden's to reap, as the orphans are.
    maker = h.path("maker.sh")
    maker.write_text(f"{wait_file_sh(go, 60)}\nexec {q(helper('orphans'))} {ORPHANS} --done {q(done)}\n")
    script = (f"(sh {q(maker)} &); "
              f"exec {q(helper('sigrecord'))} -t 150 -r {q(ready)} {q(log)}")
    run = h.start(["-vv", "--events", f"fd:{ev.w}", "--"] + sh(script), stderr=err.w,
                  pass_fds=(ev.w,))
    stalled_run(run, go, done, ready, log, err, ev)


def test_stalled_reader_supervisor_mode(warden):
    h = warden
    err, ev = StallableReader(), StallableReader()
    go, done, ready, log = h.path("go"), h.path("done"), h.path("ready"), h.path("sig.log")
    orph = h.path("orph.sh")
    orph.write_text(f"#!/bin/sh\n{wait_file_sh(go, 60)}\n"
                    f"{q(helper('orphans'))} {ORPHANS} --done {q(done)}\nexec sleep 150\n")
    os.chmod(orph, 0o755)
    conf = h.path("w.conf")
    conf.write_text(f"""[rec]
command = {helper('sigrecord')} -t 150 -r {ready} {log}
forward_signals = {int(RT)}
[orph]
command = {orph}
""")
    run = h.start(["-vv", "--control", h.path("ctl.sock"), "--events", f"fd:{ev.w}", "-c", conf],
                  stderr=err.w, pass_fds=(ev.w,))
    stalled_run(run, go, done, ready, log, err, ev)


def test_reader_that_keeps_up_loses_nothing(warden):
    """Through a small pipe read steadily: every event arrives, none is dropped."""
    h = warden
    ev = StallableReader()
    run = h.start(["--events", f"fd:{ev.w}", "--", helper("orphans"), str(ORPHANS)],
                  pass_fds=(ev.w,))
    ev.close_write()
    assert run.wait(60) == 0
    events = [json.loads(x) for x in ev.text().splitlines()]
    assert len([e for e in events if e["event"] == "orphan.reaped"]) == ORPHANS
    assert not [e for e in events if e["event"] == "output.dropped"]
    assert events[-1]["event"] == "shutdown.finished"


def test_sigpipe_raised_by_warden_is_not_forwarded(warden):
    """warden writes to a stderr pipe whose reader has gone: the SIGPIPE the kernel sends
    warden for it is warden's own, not the command's."""
    h = warden
    r_fd, w_fd = os.pipe()
    ready, log, evp = h.path("ready"), h.path("sig.log"), h.path("events")
    run = h.start(["-vv", "--events", evp, "--", helper("sigrecord"), "-r", ready, log],
                  stderr=w_fd)
    os.close(w_fd)
    wait_for(ready.exists, 15, "the recorder")
    # warden has written to its stderr by now (-vv): its reader goes away.
    wait_for(lambda: os.read(r_fd, 65536), 10, "a line from warden")
    os.close(r_fd)
    run.kill(signal.SIGUSR1)  # forwarded, and said on the dead stderr: SIGPIPE
    wait_for(lambda: read_signals(log) == [10], 10, "USR1 at the command")
    run.kill(signal.SIGUSR2)
    wait_for(lambda: read_signals(log) == [10, 12], 10, "USR2 at the command")
    run.kill(signal.SIGTERM)
    assert run.wait(20) == 0
    assert read_signals(log) == [10, 12, 15], "a SIGPIPE of warden's own was forwarded"
    evs = [json.loads(x) for x in evp.read_text().splitlines()]
    assert [e["received"] for e in evs if e["event"] == "signal.forwarded"] == \
        ["SIGUSR1", "SIGUSR2", "SIGTERM"]


def test_full_events_file_holds_whole_events(warden):
    """The events file cannot grow past RLIMIT_FSIZE (a full disk, as far as warden can
    tell): every line in it is a whole event, and the SIGXFSZ warden gets is not
    forwarded."""
    h = warden
    evp, ready, log = h.path("events"), h.path("ready"), h.path("sig.log")

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))

    # The recorder's log stays far below the limit it inherits.
    run = h.start(["--events", evp, "--", helper("sigrecord"), "-r", ready, log],
                  setup=small_files)
    wait_for(ready.exists, 15, "the recorder")
    for i in range(60):
        run.kill(signal.SIGWINCH)
        wait_for(lambda: len(read_signals(log)) == i + 1, 10, "WINCH at the command")
    run.kill(signal.SIGTERM)
    assert run.wait(20) == 0
    text = evp.read_text()
    assert 0 < len(text) <= 3000 and text.endswith("\n"), len(text)
    for line in text.splitlines():
        json.loads(line)
    assert set(read_signals(log)) == {28, 15}, "SIGXFSZ was forwarded"
