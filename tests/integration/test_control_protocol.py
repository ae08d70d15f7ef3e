# SPDX-License-Identifier: MIT
"""The control protocol with raw sockets (warden-ctl(1), PROTOCOL): bad, oversized and
NUL-holding requests get an error reply and change nothing, and the connection goes on;
clients that send nothing, send a byte at a time, disconnect in the middle or never read
cost warden nothing and never slow the others; at most 128 clients, the one idle the
longest making room; one request a line, answered in order."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import wait_for
from ctllib import (EXIT_OK, Ctl, connect, ctx_switches, describe, parse_reply,
                    pid1_harness, read_lines, wait_read)
from svlib import wait_blocked

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def wh():
    yield from pid1_harness()

CONF = """
    [web]
    command = sleep 1000
    [db]
    command = sleep 1000
    """


def up(wh):
    w = Ctl(wh, CONF)
    w.wait_state("web", "running")
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    return w


def one(s, data, timeout=5):
    """Sends DATA on S and returns the next reply, parsed."""
    s.sendall(data)
    lines = read_lines(s, 1, timeout)
    assert lines and lines[0], f"no reply to {data[:60]!r}"
    assert len(lines) == 1, f"more than one reply to {data[:60]!r}: {lines}"
    return parse_reply(lines[0])


def closed(s, timeout=10):
    """True if the peer closed S (EOF) within TIMEOUT."""
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def alive(s):
    """True if S is open with nothing to read (the peer did not close it)."""
    s.setblocking(False)
    try:
        d = s.recv(1)
        return False if d == b"" else True
    except BlockingIOError:
        return True
    except ConnectionResetError:
        return False
    finally:
        s.setblocking(True)


BAD = [b"frobnicate\n", b"\n", b"   \n", b"stop\n", b"stop web --force\n", b"signal web\n",
       b"signal web NOSUCH\n", b"signal web HUP TERM\n", b"wait web --timeout\n",
       b"wait web --timeout 0\n", b"wait --ready\n", b"reload now\n", b"shutdown now\n",
       b"dump web\n", b"STOP web\n", b"\xff\xfe stop web\n", b"-stop web\n",
       b"status " + b" ".join([b"web"] * 257) + b"\n"]


def test_bad_requests_get_an_error_reply_and_change_nothing(wh):
    w = up(wh)
    before = w.snapshot()
    with connect(w.sock) as s:
        for line in BAD:
            r = one(s, line)
            assert r["ok"] is False and r["code"] == "bad_request", (line[:60], r)
        r = one(s, b"stop web nosuch db\n")
        assert r["ok"] is False and r["code"] == "no_such_service" and "nosuch" in r["error"], r
        r = one(s, b"status\n")  # the same connection goes on
        assert r["ok"] is True and len(r["services"]) == 2
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before
    assert w.running() and not w.select("service.stopping") and not w.select("config.reloaded")


def test_oversized_request_is_refused_skipped_and_the_connection_goes_on(wh):
    w = up(wh)
    before = w.snapshot()
    with connect(w.sock) as s:
        s.sendall(b"A" * 5000)  # no newline yet
        lines = read_lines(s, 1)
        assert lines and lines[0], "no reply to an oversized request"
        r = parse_reply(lines[0])
        assert r["ok"] is False and r["code"] == "bad_request" and "too long" in r["error"], r
        # the rest of that line, with a request at its end, is skipped up to its newline
        r = one(s, b"x" * 3000 + b" stop web\nstatus web\n")
        assert r["ok"] is True and [x["name"] for x in r["services"]] == ["web"], r
        r = one(s, b"status db\n")  # nothing else was queued for that line
        assert r["ok"] is True and [x["name"] for x in r["services"]] == ["db"], r
        # the bound: 4095 bytes and a newline pass, 4096 do not
        r = one(s, b"status" + b" " * 4089 + b"\n")
        assert r["ok"] is True, r
        r = one(s, b"status" + b" " * 4090 + b"\n")
        assert r["ok"] is False and "too long" in r["error"], r
        r = one(s, b"status web\n")
        assert r["ok"] is True and [x["name"] for x in r["services"]] == ["web"], r
        # a huge line in one write
        s.sendall(b"stop web " + b"y" * 100000 + b"\nstatus\n")
        lines = read_lines(s, 2)
        assert len(lines) == 2, lines
        r = parse_reply(lines[0])
        assert r["ok"] is False and "too long" in r["error"], r
        r = parse_reply(lines[1])
        assert r["ok"] is True and len(r["services"]) == 2, r
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before


def test_nul_byte_in_a_request(wh):
    w = up(wh)
    before = w.snapshot()
    with connect(w.sock) as s:
        for line in (b"stop\0 web\n", b"stop web\0\n", b"\0\n", b"status\0db\n"):
            r = one(s, line)
            assert r["ok"] is False and r["code"] == "bad_request", (line, r)
        r = one(s, b"status\n")
        assert r["ok"] is True
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before


def test_clients_that_disconnect_in_the_middle_change_nothing(wh):
    w = up(wh)
    before = w.snapshot()
    for data in (b"", b"stop we", b"stop web", b"shutdown", b"A" * 5000,
                 b"A" * 5000 + b" stop web"):
        s = connect(w.sock)
        if data:
            s.sendall(data)
        s.close()
    # one that leaves while warden waits for it, one that never reads its reply
    s = connect(w.sock)
    s.sendall(b"wait web\n")
    wait_read(s)  # warden has taken the wait in
    s.close()
    s = connect(w.sock)
    s.sendall(b"dump\n" * 20)
    s.close()
    time.sleep(0.3)  # a window: warden must stay up and change nothing
    assert w.running()
    assert w.snapshot() == before
    # Not held up by the clients gone (stuck, it would not answer at all).
    t0 = time.monotonic()
    r = w.ctl("status")
    assert r.returncode == EXIT_OK and time.monotonic() - t0 < 5, describe(r)


def test_a_request_sent_in_full_is_carried_out_even_if_the_client_leaves(wh):
    """`printf 'stop web\\n' | nc -U SOCK` may close before warden reads: the whole request
    was delivered, so warden carries it out (warden is stopped with SIGSTOP meanwhile, so
    that the close surely comes first)."""
    w = up(wh)
    w.run.kill(signal.SIGSTOP)
    try:
        s = connect(w.sock)
        s.sendall(b"stop web\n")
        s.close()
    finally:
        w.run.kill(signal.SIGCONT)
    try:
        w.wait_state("web", "stopped", timeout=10)
    except AssertionError as e:
        pytest.fail(f"a complete request whose client then closed was dropped: {e}")
    assert w.svc("db")["state"] == "running"


def test_half_closed_client_gets_its_reply(wh):
    """As `socat - UNIX-CONNECT:SOCK` does: the request, then shutdown(SHUT_WR)."""
    w = up(wh)
    with connect(w.sock) as s:
        s.sendall(b"status web\n")
        s.shutdown(socket.SHUT_WR)
        lines = read_lines(s, 1)
        r = parse_reply(lines[0])
        assert r["ok"] is True and r["services"][0]["name"] == "web"
        assert closed(s), "warden kept a half-closed connection open after answering"


def test_pipelined_requests_are_answered_in_order(wh):
    w = up(wh)
    with connect(w.sock) as s:
        s.sendall(b"status web\nstatus db\nwait web --ready\nfrobnicate\nstatus\n")
        lines = read_lines(s, 5)
        assert len(lines) == 5, lines
        rs = [parse_reply(x) for x in lines]
        assert [x["name"] for x in rs[0]["services"]] == ["web"]
        assert [x["name"] for x in rs[1]["services"]] == ["db"]
        assert rs[2] == {"ok": True}
        assert rs[3]["code"] == "bad_request"
        assert len(rs[4]["services"]) == 2


def test_a_request_behind_a_wait_is_answered_after_it(wh):
    """Two requests in one write, the first a wait that has to wait: once it is answered,
    the second, already received, is answered too."""
    w = up(wh)
    with connect(w.sock) as s:
        s.sendall(b"wait web --timeout 200ms\nstatus db\n")
        lines = read_lines(s, 2, timeout=10)
        assert len(lines) >= 1 and parse_reply(lines[0])["code"] == "timed_out", lines
        assert len(lines) == 2, ("the request behind a wait was never answered "
                                 f"(waited 10 s): {lines}")
        r = parse_reply(lines[1])
        assert r["ok"] is True and [x["name"] for x in r["services"]] == ["db"]


def test_hundred_clients_some_silent_some_slow_while_status_stays_fast(wh):
    w = up(wh)
    stop = threading.Event()
    errors = []
    done = {"slow": 0, "busy": 0}
    lock = threading.Lock()
    socks = []

    def slow(s):
        try:
            while not stop.is_set():
                for b in b"status web\n":
                    s.sendall(bytes([b]))
                    time.sleep(0.01)
                lines = read_lines(s, 1, 10)
                r = parse_reply(lines[0])
                if not r["ok"] or r["services"][0]["name"] != "web":
                    errors.append(("slow", r))
                with lock:
                    done["slow"] += 1
        except Exception as e:  # noqa: BLE001
            if not stop.is_set():
                errors.append(("slow", repr(e)))

    def busy(s):
        try:
            while not stop.is_set():
                r = one(s, b"status\n", 10)
                if not r["ok"]:
                    errors.append(("busy", r))
                with lock:
                    done["busy"] += 1
                time.sleep(0.01)
        except Exception as e:  # noqa: BLE001
            if not stop.is_set():
                errors.append(("busy", repr(e)))

    threads = []
    try:
        for i in range(100):
            s = connect(w.sock, timeout=10)
            socks.append(s)
            if i % 5 in (0, 1):
                continue  # 40 silent
            t = threading.Thread(target=slow if i % 5 in (2, 3) else busy, args=(s,), daemon=True)
            t.start()
            threads.append(t)
        wait_for(lambda: done["slow"] >= 1 and done["busy"] >= 1, 20,
                 f"slow and busy clients to be served ({done})")
        times = []
        for _ in range(50):
            t0 = time.monotonic()
            r = w.ctl("status")
            times.append(time.monotonic() - t0)
            assert r.returncode == EXIT_OK and "web" in r.stdout, describe(r)
        times.sort()
        # A warden held up by the slow clients (a byte every 10 ms, 40 of them) would answer
        # in seconds, every time; a prompt one in milliseconds, even when loaded.
        assert times[25] < 1.0, f"status took {times[25]:.3f}s (median)"
        assert times[-1] < 5.0, f"status took {times[-1]:.3f}s (median {times[25]:.3f}s)"
        # the slow ones were served too
        wait_for(lambda: done["slow"] >= 40 and done["busy"] >= 20, 20,
                 f"every slow and busy client to be served ({done})")
    finally:
        stop.set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)
        for s in socks:
            s.close()
    assert not errors, errors[:5]
    assert w.running()
    assert w.snapshot()["web"][0] == "running"


def test_more_than_128_clients_the_longest_idle_makes_room(wh):
    w = up(wh)
    conns = []
    extra = []
    try:
        for _ in range(128):
            s = connect(w.sock)
            conns.append(s)
            assert one(s, b"status web\n")["ok"]  # accepted, and idle from now on, in order
        new = connect(w.sock)
        extra.append(new)
        r = one(new, b"status\n")
        assert r["ok"] is True, r
        assert closed(conns[0]), "the client idle the longest was not closed"
        assert alive(conns[1])
        assert one(conns[1], b"status db\n")["ok"]  # conns[1] is now the most recent
        for _ in range(5):
            s = connect(w.sock)
            extra.append(s)
            assert one(s, b"status web\n")["ok"]
        for i in range(2, 7):
            assert closed(conns[i]), f"client {i} should have made room"
        for i in (1, 7, 8, 127):
            assert alive(conns[i]), f"client {i} was closed"
        r = w.ctl("status")
        assert r.returncode == EXIT_OK, describe(r)
    finally:
        for s in conns + extra:
            s.close()
    assert w.running()


def test_128_waiting_clients_the_oldest_wait_makes_room(wh):
    """With every slot held by a wait, a new client is still served (root must never be
    locked out): the oldest wait gives up its slot with a 'too many clients' reply."""
    w = up(wh)
    conns = []
    try:
        for _ in range(128):
            s = connect(w.sock)
            s.sendall(b"wait web\n")  # web never ends: they all wait
            conns.append(s)
            wait_read(s)  # taken in: each wait is older than the next
        assert alive(conns[0]) and alive(conns[127])
        r = w.ctl("status")
        assert r.returncode == EXIT_OK, describe(r)
        lines = read_lines(conns[0], 1)
        assert lines and lines[0], "the oldest wait got no reply when it was given up"
        reply = parse_reply(lines[0])
        assert reply["ok"] is False and reply["code"] == "failed" and "too many" in reply["error"]
        assert closed(conns[0])
        assert alive(conns[1]) and alive(conns[127]), "more than one wait was given up"
    finally:
        for s in conns:
            s.close()
    assert w.running()


def test_a_silent_client_costs_no_system_call(wh):
    w = up(wh)
    silent = connect(w.sock)
    partial = connect(w.sock)
    try:
        partial.sendall(b"sta")
        wait_read(partial)  # both accepted (silent first), and "sta" read
        wait_blocked(w.run.pid, "epoll", desc="warden to wait in its loop")
        c0 = ctx_switches(w.run.pid)
        time.sleep(2.0)  # the window in which warden must not wake up
        c1 = ctx_switches(w.run.pid)
        assert c1 == c0, f"warden was scheduled {c1 - c0} times in 2 s with idle clients"
        r = one(partial, b"tus web\n")
        assert r["ok"] and r["services"][0]["name"] == "web"
        r = one(silent, b"status db\n")
        assert r["ok"] and r["services"][0]["name"] == "db"
    finally:
        silent.close()
        partial.close()


def test_a_client_that_never_reads_does_not_block_warden(wh):
    w = up(wh)
    hog = connect(w.sock)
    try:
        hog.setblocking(False)
        sent = 0
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:
            try:
                sent += hog.send(b"dump\n" * 200)
            except BlockingIOError:
                time.sleep(0.01)
        assert sent > 0
        rss0 = int(open(f"/proc/{w.run.pid}/status").read().split("VmRSS:")[1].split()[0])
        times = []
        for _ in range(20):
            t0 = time.monotonic()
            r = w.ctl("status")
            times.append(time.monotonic() - t0)
            assert r.returncode == EXIT_OK, describe(r)
        # Blocked on the hog, warden would not answer at all.
        assert max(times) < 5.0, times
        rss = int(open(f"/proc/{w.run.pid}/status").read().split("VmRSS:")[1].split()[0])
        assert rss < 64 * 1024 and rss < rss0 + 32 * 1024, (rss0, rss)
    finally:
        hog.close()
    time.sleep(0.2)  # a window: warden must survive the hog's going
    assert w.running()
    r = w.ctl("status")
    assert r.returncode == EXIT_OK, describe(r)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_descriptors_warden_does_not_spin(wh):
    """warden with few descriptors (a hard limit of 48): more silent clients than it can
    accept must not make it busy-loop on a listening socket it cannot accept from."""
    w = Ctl(wh, CONF, prefix=["prlimit", "--nofile=48:48", "--"])
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    conns = []
    try:
        for _ in range(60):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(w.sock)
            except BlockingIOError:  # the backlog is full: enough
                s.close()
                break
            conns.append(s)
        # The connections woke warden up: once it waits again, it has done what it could.
        wait_blocked(w.run.pid, "epoll", desc="warden to wait in its loop")
        c0 = cpu_seconds(w.run.pid)
        time.sleep(2.0)  # the window; spinning, warden would use most of it
        used = cpu_seconds(w.run.pid) - c0
        assert used < 0.5, \
            f"warden used {used:.2f} s of CPU in 2 s with {len(conns)} idle clients"
    finally:
        for s in conns:
            s.close()
    # The backlog holds the closed ones until warden accepts again: connect waits for room.
    r = w.ctl("status", timeout=20)
    assert r.returncode == EXIT_OK, describe(r)
