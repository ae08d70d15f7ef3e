# SPDX-License-Identifier: MIT
"""Fault injection: a full disk under the events file, fork failing (RLIMIT_NPROC), warden
out of descriptors (RLIMIT_NOFILE), a burst of output, floods of signals and of crashing
services. Each time warden keeps running, says what happened, reaps every child and exits
with the right code."""

import errno
import json
import os
import signal
import socket
import subprocess
import textwrap
import threading
import time

import pytest

from conftest import WARDEN, helper, q, wait_for
from svlib import script, select

pytestmark = pytest.mark.timeout(120)


def proc_table():
    """{pid: (ppid, state, starttime)} of every process, from /proc (psutil's recursive
    children can trip over processes that end while it looks)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(fields[1]), fields[0], int(fields[19]))
    return out


def zombies(run):
    """warden's descendants that are zombies now: {(pid, starttime)}."""
    table = proc_table()
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = set(), list(kids.get(run.pid, []))
    while todo:
        pid = todo.pop()
        if table[pid][1] == "Z":
            out.add((pid, table[pid][2]))
        todo += kids.get(pid, [])
    return out


def check_no_zombie(run, timeout=10):
    """No zombie stays under warden: each one seen now (a crash loop makes them all the
    time) is reaped within TIMEOUT s."""
    seen = zombies(run)
    wait_for(lambda: not (seen & zombies(run)), timeout, f"zombies {sorted(seen)} reaped")


def json_lines(text):
    """Every line of an events file: each one valid JSON, the file ending in a newline."""
    assert text == "" or text.endswith("\n"), f"events file ends mid-line: {text[-200:]!r}"
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            raise AssertionError(f"events line {n} is not valid JSON: {line!r}: {e}") from None
    return out


def complete_lines(path):
    """The events of PATH's complete lines (the last one may still be being written)."""
    text = open(path).read()
    return json_lines(text[:text.rfind("\n") + 1])


def descendants(pid):
    """The pids of PID's descendants now (from /proc)."""
    kids = {}
    for p, (ppid, _, _) in proc_table().items():
        kids.setdefault(ppid, []).append(p)
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def host_pid(run, nspid, timeout=10):
    """The host pid of warden's descendant whose pid in warden's namespace is NSPID (looked
    for again while the tree changes: a process being reparented)."""
    def find():
        for p in descendants(run.pid):
            try:
                with open(f"/proc/{p}/status") as f:
                    for line in f:
                        if line.startswith("NSpid:") and int(line.split()[-1]) == nspid:
                            return p
            except OSError:
                pass
        return None
    return wait_for(find, timeout, f"warden's descendant of pid {nspid} in its namespace")


class Conf:
    """A supervisor-mode run with the events file where the test wants it."""

    def __init__(self, h, conf, *, events, prefix=(), args=(), **kw):
        self.h = h
        self.conf_path = h.path("warden.conf")
        self.conf_path.write_text(textwrap.dedent(conf).lstrip("\n"))
        self.ctl = h.path("warden.ctl")
        self.events_arg = events
        self.run = h.start(["-v", *args, "--control", self.ctl, "--events", events,
                            "-c", self.conf_path], prefix=prefix, **kw)


# --- ENOSPC on the events file --------------------------------------------------------------

def tmpfs_prefix(h, mnt, size, fd3=None):
    """The command prefix that mounts a SIZE tmpfs on MNT in warden's own (private) mount
    namespace before it starts: nsrun's in pid1 mode, unshare's otherwise. With FD3, warden
    gets that file (on the tmpfs) open for appending as its descriptor 3."""
    redirect = f"exec 3>>{q(fd3)} && " if fd3 else ""
    mount = (f'mount -t tmpfs -o size={size},mode=0755 warden-faults {q(mnt)} '
             f'&& {redirect}exec "$@"')
    pre = ["/bin/sh", "-c", mount, "sh"]
    if not h.pid1:
        pre = ["unshare", "-m", "--propagation", "private"] + pre
    return pre


def fill(path):
    """Writes PATH until the file system is full; returns how much went in."""
    n = 0
    chunk = b"x" * 4096
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                w = f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                break
            n += w
            if w < len(chunk):
                chunk = chunk[:1]
            assert n < 1 << 26, "the tmpfs never filled up"
    return n


@pytest.mark.parametrize("how", ["file", "fd", "append-only"])
def test_events_on_a_full_disk(warden, how):
    """A tmpfs full under the events file: events are dropped whole and counted, warden does
    not block, and once there is room an output.dropped event says how many; every line of
    the file stays one JSON object. A file warden opened (--events FILE) has half an event
    cut off again; one it was given (--events fd:3), or one that cannot be cut (chattr +a),
    has the rest of it written first, when there is room again."""
    h = warden
    mnt = h.path("mnt")
    mnt.mkdir()
    runs = h.path("runs")
    crash = script(h, "crash.sh", f"echo x >> {q(runs)}; exit 3\n")
    sup = Conf(h, f"""
        [crashy]
        command = {crash}
        restart = always
        restart_delay = 10ms
        restart_delay_max = 10ms
        """, events="fd:3" if how == "fd" else f"{mnt}/events.jsonl",
        prefix=tmpfs_prefix(h, mnt, "64k", fd3=f"{mnt}/events.jsonl" if how == "fd" else None))
    root = f"/proc/{sup.run.pid}/root{mnt}"
    events = f"{root}/events.jsonl"

    def count_runs():
        try:
            return len(runs.read_text().splitlines())
        except FileNotFoundError:
            return 0

    wait_for(lambda: os.path.exists(events) and count_runs() >= 3, 20, "a few runs")
    if how == "append-only":
        r = subprocess.run(["chattr", "+a", events], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    filler = f"{root}/filler"
    fill(filler)
    full_at = count_runs()
    wait_for(lambda: count_runs() >= full_at + 30, 30, "30 runs on a full disk")
    assert sup.run.running()
    text = open(events).read()
    if how != "file":
        # At most the beginning of one event waits for the rest.
        text = text[:text.rfind("\n") + 1]
    # Full the whole time: the file (a partial event cut off again) is valid JSON lines.
    before = json_lines(text)
    assert not select(before, "output.dropped")
    os.unlink(filler)
    freed_at = count_runs()
    wait_for(lambda: select(complete_lines(events), "output.dropped"), 20,
             "output.dropped once there is room")
    wait_for(lambda: count_runs() >= freed_at + 5, 20, "5 runs after")
    evs = json_lines(open(events).read())
    drops = select(evs, "output.dropped")
    assert len(drops) == 1, drops
    d = drops[0]
    assert d["sink"] == "events" and d["reason"] == "No space left on device", d
    # Each run is at least a service.exited and a service.starting: every one missed counts.
    assert d["dropped"] >= 2 * 30, d
    # The events around the gap are whole: the last one before, the report, the next ones.
    i = evs.index(d)
    assert i > 0 and evs[i + 1:], evs[i - 2:i + 3]
    assert sup.run.running()
    check_no_zombie(sup.run)
    err = sup.run.err()
    assert f"{d['dropped']} lines for events dropped: No space left on device" in err, err[-2000:]
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(20) == 0, sup.run.err()[-2000:]


# --- fork failing ---------------------------------------------------------------------------

def pids_root():
    """Where a pids cgroup can be made: the v1 controller's hierarchy (this machine's
    /sys/fs/cgroup is a hybrid), or a v2 root that gives its children the controller."""
    if os.access("/sys/fs/cgroup/pids/cgroup.procs", os.W_OK):
        return "/sys/fs/cgroup/pids"
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            if "pids" in f.read().split():
                return "/sys/fs/cgroup"
    except OSError:
        pass
    pytest.fail("no pids cgroup controller to use (/sys/fs/cgroup/pids, or pids in "
                "/sys/fs/cgroup/cgroup.subtree_control)")


@pytest.fixture
def pids_cgroup():
    """A pids cgroup of the test's own, removed at the end (its processes gone: the harness
    killed them)."""
    path = os.path.join(pids_root(), f"warden-faults-{os.getpid()}-{time.monotonic_ns()}")
    os.mkdir(path)
    yield path
    deadline = time.monotonic() + 10
    while True:
        try:
            os.rmdir(path)
            break
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def in_cgroup_prefix(cg):
    """The command prefix that moves warden into cgroup CG before it starts."""
    return ["/bin/sh", "-c", f'echo $$ > {q(cg)}/cgroup.procs && exec "$@"', "sh"]


def wait_events(path, pred, timeout, what, interval=0.01):
    """Waits until PRED(events of PATH's complete lines) is true; returns the events."""
    def check():
        try:
            evs = complete_lines(path)
        except FileNotFoundError:
            return None
        return evs if pred(evs) else None
    return wait_for(check, timeout, what, interval=interval)


def test_fork_fails(pids_cgroup, warden):
    """fork fails (pids.max reached): each start that fails is a run that ended, the restart
    policy backs off, delays doubling; an orphan that dies meanwhile is reaped all the same;
    once processes can be made again, the service runs."""
    h = warden
    cg = pids_cgroup
    orphan_pid = h.path("orphan.pid")
    daemon = script(h, "daemon.sh", f"""
        sh -c 'sleep 300 & echo $! > {q(orphan_pid)}.tmp; mv {q(orphan_pid)}.tmp {q(orphan_pid)}'
        exec sleep 300
        """)
    events = h.path("events.jsonl")
    sup = Conf(h, """
        [svc]
        command = sleep 300
        restart = always
        restart_delay = 50ms
        restart_delay_max = 400ms
        [daemon]
        command = %s
        """ % daemon, events=events, prefix=in_cgroup_prefix(cg))
    wait_events(events, lambda e: select(e, "service.ready", "svc") and
                select(e, "service.ready", "daemon"), 20, "both services ready")
    wait_for(lambda: os.path.exists(orphan_pid), 20, "the orphan")
    orphan = host_pid(sup.run, int(open(orphan_pid).read()))
    svc = host_pid(sup.run, select(complete_lines(events), "service.starting", "svc")[0]["pid"])
    # No new process in warden's cgroup from now on.
    with open(f"{cg}/pids.max", "w") as f:
        f.write("1")
    os.kill(orphan, signal.SIGKILL)
    os.kill(svc, signal.SIGKILL)
    evs = wait_events(events, lambda e: len(select(e, "service.backoff", "svc")) >= 4, 20,
                      "4 restarts of svc that could not start")
    assert sup.run.running()
    reaped = wait_events(events, lambda e: select(e, "orphan.reaped"), 10, "the orphan reaped")
    assert select(reaped, "orphan.reaped")[0]["signal"] == "SIGKILL", select(reaped,
                                                                            "orphan.reaped")
    backoffs = select(evs, "service.backoff", "svc")
    delays = [b["delay_ms"] for b in backoffs]
    # Doubling from 50 ms (±10 % jitter) up to 400.
    assert 40 <= delays[0] <= 60 and 80 <= delays[1] <= 120 and 160 <= delays[2] <= 240, delays
    # The first backoff follows the SIGKILL; the next ones, starts that made no process.
    assert "reason" not in backoffs[0], backoffs[0]
    assert all(b["reason"] == "cannot start" and b["pid"] is None for b in backoffs[1:]), \
        backoffs
    assert len(select(evs, "service.exited", "svc")) == 1, select(evs, "service.exited", "svc")
    err = sup.run.err()
    assert "service svc: cannot start: Resource temporarily unavailable\n" \
        "warden: service svc: cannot start (counted as exit code 125); restarting in " in err, err[-2000:]
    check_no_zombie(sup.run)
    n = len(select(complete_lines(events), "service.ready", "svc"))
    with open(f"{cg}/pids.max", "w") as f:
        f.write("max")
    wait_events(events, lambda e: len(select(e, "service.ready", "svc")) > n, 20,
                "svc running again")
    assert sup.run.running()
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(20) == 0, sup.run.err()[-2000:]


# --- out of descriptors ---------------------------------------------------------------------

def open_fds(pid):
    return sorted(int(x) for x in os.listdir(f"/proc/{pid}/fd"))


def lowest_free_fd(pid):
    used = set(open_fds(pid))
    n = 0
    while n in used:
        n += 1
    return n


def set_nofile(pid, soft):
    """prlimit(2) on warden: its soft RLIMIT_NOFILE, the hard one kept."""
    r = subprocess.run(["prlimit", f"--pid={pid}", f"--nofile={soft}:"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def cpu_ticks(pid):
    """utime + stime of PID, in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5):
    """The status line and body of GET PATH (HTTP/1.0), or the OSError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def test_out_of_descriptors(warden):
    """RLIMIT_NOFILE lowered under what warden holds: a restart fails to start and backs
    off, a health check fails cleanly, control clients are told why and turned away, a full
    listen backlog and HTTP clients do not make warden spin; with descriptors again, all
    works again."""
    h = warden
    port = free_port()
    events = h.path("events.jsonl")
    probe_ok = h.path("probe-ok")
    sup = Conf(h, f"""
        [warden]
        http = 127.0.0.1:{port}
        [svc]
        command = sleep 300
        restart = always
        restart_delay = 50ms
        restart_delay_max = 200ms
        [checked]
        command = sleep 300
        health = exec:touch {probe_ok}
        health_interval = 100ms
        health_failures = 1000
        """, events=events)
    wait_events(events, lambda e: select(e, "service.ready", "svc") and
                select(e, "service.ready", "checked"), 20, "both services ready")
    wait_for(lambda: os.path.exists(probe_ok), 20, "a health check")
    pid = sup.run.pid
    # Quiet: nothing opened for a moment (no check running), then no descriptor left.
    fds_before = len(open_fds(pid))
    limit = lowest_free_fd(pid)
    set_nofile(pid, limit)
    t0 = time.monotonic()
    svc = host_pid(sup.run, select(complete_lines(events), "service.starting", "svc")[0]["pid"])
    os.kill(svc, signal.SIGKILL)
    wait_events(events, lambda e: len([b for b in select(e, "service.backoff", "svc")
                                       if b.get("reason") == "cannot start"]) >= 2, 20,
                "2 starts of svc that could not start")
    # A control client: accepted on the spare descriptor, told why, closed.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(5)
        c.connect(str(sup.ctl))
        reply = c.recv(4096).decode()
    assert json.loads(reply) == {"ok": False, "error": "warden is out of file descriptors",
                                 "code": "failed"}, reply
    # A flood of clients left in the backlog, and HTTP clients: no busy loop.
    held = []
    try:
        for _ in range(64):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            held.append(c)
            try:
                c.connect(str(sup.ctl))
            except (BlockingIOError, InterruptedError):
                pass
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            held.append(c)
            try:
                c.connect(("127.0.0.1", port))
            except (BlockingIOError, InterruptedError):
                pass
        ticks0, w0 = cpu_ticks(pid), time.monotonic()
        time.sleep(2)  # the window over which warden's CPU time is measured
        ticks = cpu_ticks(pid) - ticks0
        window = time.monotonic() - w0
        hz = os.sysconf("SC_CLK_TCK")
        # Busy looping would be ~100 % of the window; backoffs, probes, turned-away clients
        # are a few per cent even on a loaded machine (and under ASan).
        assert ticks / hz < 0.25 * window, f"warden used {ticks / hz:.2f}s CPU in {window:.2f}s"
        assert sup.run.running()
        err = sup.run.err()

        def said(fmt):
            # strerror(EMFILE) as glibc and musl (the static build) word it
            return any(fmt.format(why) in err
                       for why in ("Too many open files", "No file descriptors available"))

        assert said("service svc: cannot start: {}"), err[-3000:]
        assert said("service checked: health check failed (1 of 1000): cannot start: {}"), \
            err[-3000:]
        assert said("http: cannot accept a connection: {}; pausing for a second"), err[-3000:]
        assert "control: out of file descriptors" in err, err[-3000:]
    finally:
        for c in held:
            c.close()
    # Descriptors again: the service starts, checks pass, clients are answered.
    n = len(select(complete_lines(events), "service.ready", "svc"))
    set_nofile(pid, 1024)
    wait_events(events, lambda e: len(select(e, "service.ready", "svc")) > n, 20,
                "svc running again")
    os.unlink(probe_ok)
    wait_for(lambda: os.path.exists(probe_ok), 20, "a health check that runs")
    r = subprocess.run([WARDEN, "ctl", "--control", str(sup.ctl), "status", "svc"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "running" in r.stdout, (r.returncode, r.stdout, r.stderr)
    got = wait_for(lambda: _try_http(port), 20, "an HTTP answer")
    assert got.startswith("HTTP/1.") and " 200 " in got.split("\r\n")[0], got[:300]
    # Every descriptor opened meanwhile was closed again (the services' pipes are the same).
    wait_for(lambda: len(open_fds(pid)) <= fds_before + 1, 10,
             f"warden's descriptors back to {fds_before} (now {open_fds(pid)})")
    check_no_zombie(sup.run)
    assert time.monotonic() - t0 < 60
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(20) == 0, sup.run.err()[-2000:]


def _try_http(port):
    try:
        return http_get(port, "/livez")
    except OSError:
        return None


# --- a burst of output ----------------------------------------------------------------------

def vm_hwm(pid):
    """The peak resident set size of PID, in kB."""
    with open(f"/proc/{pid}/status") as f:
        return int(f.read().split("VmHWM:")[1].split()[0])


def sanitized(pid):
    """Whether PID runs with AddressSanitizer (about three times the memory, much slower)."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def gen_line(tag, seq, length):
    """linegen's line SEQ (tests/helpers/linegen.c), newline included."""
    return (f"{tag} {seq:08d} " + "".join(chr(97 + (seq + i) % 26) for i in range(length))
            + "\n").encode()


class LineChecker:
    """Reads a pipe of linegen lines of one length in a thread, checking as it goes that
    every line is whole (a newline every line length), that none is lost or repeated (the
    first and last line of each read are the ones the count so far says), and counting."""

    def __init__(self, tag, length):
        self.tag, self.length = tag, length
        self.size = len(gen_line(tag, 0, length))
        self.r, self.w = os.pipe()
        self.lines = 0
        self.bytes = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _check(self, data):
        k = len(data) // self.size
        if data[self.size - 1::self.size] != b"\n" * k or data.count(b"\n") != k:
            raise AssertionError(f"a torn line after line {self.lines}: {data[:200]!r}")
        for i in (0, k - 1):
            line = data[i * self.size:(i + 1) * self.size]
            if line != gen_line(self.tag, self.lines + i, self.length):
                raise AssertionError(f"line {self.lines + i} is {line[:80]!r}")
        self.lines += k

    def _run(self):
        rest = b""
        try:
            while True:
                b = os.read(self.r, 1 << 20)
                if not b:
                    break
                self.bytes += len(b)
                data = rest + b
                cut = len(data) - len(data) % self.size
                if cut:
                    self._check(data[:cut])
                rest = data[cut:]
            if rest:
                raise AssertionError(f"output ends with part of a line: {rest[:80]!r}")
        except AssertionError as e:
            self.error = e
            while os.read(self.r, 1 << 20):  # keep warden's output flowing to the end
                pass

    def close_write(self):
        os.close(self.w)

    def result(self, timeout):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "warden's output did not reach EOF"
        os.close(self.r)
        if self.error:
            raise self.error
        return self.lines


def test_one_gigabyte_burst(warden_pid1):
    """One service writes 1 GB of lines as fast as it can (in writes that split lines) while
    warden's stdout is read: every line comes out whole, once, in order, none dropped, and
    warden's peak memory stays near what it is with little output (measured in this test
    with the same binary). Under ASan (much slower) the burst is 128 MB."""
    h = warden_pid1
    length = 1000  # lines of 1014 bytes

    def conf(lines):
        return f"""
            [warden]
            log_format = raw
            [big]
            command = {helper("linegen")} -n {lines} -l {length} -c 65521 big
            restart = never
            [keep]
            # warden stays when big is done (its memory can be read then)
            command = sleep 300
            """

    base_out = LineChecker("big", length)
    base = Conf(h, conf(1000), events=h.path("base.events"), stdout=base_out.w)
    base_out.close_write()
    wait_events(h.path("base.events"), lambda e: select(e, "service.finished", "big"), 20,
                "the little output written")
    base_kb = vm_hwm(base.run.pid)
    asan = sanitized(base.run.pid)
    base.run.kill(signal.SIGTERM)
    assert base.run.wait(20) == 0
    assert base_out.result(20) == 1000
    n = (128 if asan else 1024) * (1 << 20) // (length + 14)
    out = LineChecker("big", length)
    t0 = time.monotonic()
    sup = Conf(h, conf(n), events=h.path("events.jsonl"), stdout=out.w)
    out.close_write()
    wait_events(h.path("events.jsonl"), lambda e: select(e, "service.finished", "big"),
                      90, "the burst written")
    elapsed = time.monotonic() - t0
    peak_kb = vm_hwm(sup.run.pid)
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(20) == 0, sup.run.err()[-2000:]
    assert out.result(30) == n
    assert out.bytes == n * (length + 14)
    evs = complete_lines(h.path("events.jsonl"))
    ex = select(evs, "service.exited", "big")
    assert len(ex) == 1 and ex[0]["code"] == 0 and ex[0]["signal"] is None, ex
    assert not select(evs, "output.dropped"), select(evs, "output.dropped")
    # At most a queue of 2 MiB and a line buffer of 64 KiB more than the baseline; 10 MB
    # leaves room for the allocator (a sanitized warden has its own).
    assert peak_kb < base_kb + 10 * 1024, \
        f"warden's peak RSS is {peak_kb} kB after {out.bytes >> 20} MB, against {base_kb} kB"
    assert elapsed < 100, elapsed
    print(f"burst: {out.bytes >> 20} MB in {elapsed:.1f}s, peak {peak_kb} kB, base {base_kb} kB")


# --- floods ---------------------------------------------------------------------------------

def test_signal_flood(warden_pid1):
    """100,000 signals at PID 1 in 20 batches over 2 s (more when the machine is slow: the
    time is printed), USR1 and RTMIN+2 forwarded to a service, USR2, WINCH and a stray CHLD
    not: warden keeps restarting and reaping a crash-looping service, its
    memory stays near where it was, it is idle again once the flood ends, the forwarded
    signals arrive, and SIGTERM still ends it with 0."""
    h = warden_pid1
    events = h.path("events.jsonl")
    log = h.path("sigs.log")
    sup = Conf(h, f"""
        [rec]
        command = {helper("sigrecord")} -x TERM -t 120 -r {h.path("rec.ready")} {log}
        forward_signals = USR1 RTMIN+2
        [crashy]
        command = true
        restart = always
        restart_delay = 20ms
        restart_delay_max = 20ms
        """, events=events)
    wait_for(lambda: os.path.exists(h.path("rec.ready")), 20, "the recorder ready")
    wait_events(events, lambda e: len(select(e, "service.starting", "crashy")) >= 5, 20,
                "crashy restarting")
    pid = sup.run.pid
    base_kb = vm_hwm(pid)
    sigs = [signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCHLD,
            signal.SIGRTMIN + 2]
    sent = {s: 0 for s in sigs}
    full = 0
    t0 = time.monotonic()
    for batch in range(20):
        for i in range(5000):
            s = sigs[i % len(sigs)]
            try:
                os.kill(pid, s)
                sent[s] += 1
            except OSError as e:  # the real-time queue is full: the kernel says so
                assert e.errno == errno.EAGAIN, e
                full += 1
        # 20 batches spread over 2 s
        delay = t0 + (batch + 1) * 0.1 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    flood = time.monotonic() - t0
    assert sum(sent.values()) + full == 100000
    assert flood < 30, f"sending took {flood:.1f}s"
    starts = len(select(complete_lines(events), "service.starting", "crashy"))
    # After the flood: crashy goes on being restarted (and reaped), warden idles otherwise.
    ticks0, w0 = cpu_ticks(pid), time.monotonic()
    wait_events(events, lambda e: len(select(e, "service.starting", "crashy")) >= starts + 10,
                30, "crashy restarted 10 more times after the flood")
    time.sleep(max(0.0, 2 - (time.monotonic() - w0)))  # a window of at least 2 s
    ticks = cpu_ticks(pid) - ticks0
    window = time.monotonic() - w0
    assert ticks / os.sysconf("SC_CLK_TCK") < 0.5 * window, \
        f"warden used {ticks / os.sysconf('SC_CLK_TCK'):.2f}s CPU in {window:.2f}s after the flood"
    assert sup.run.running()
    peak_kb = vm_hwm(pid)
    assert peak_kb < base_kb + 10 * 1024, (peak_kb, base_kb)
    got = [int(x) for x in open(log).read().split()]
    assert set(got) <= {signal.SIGUSR1, signal.SIGRTMIN + 2}, set(got)
    assert signal.SIGUSR1 in got and signal.SIGRTMIN + 2 in got, got[:20]
    err = sup.run.err()
    assert "dropped SIGUSR2: no service forwards it" in err, err[-2000:]
    check_no_zombie(sup.run)
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(30) == 0, sup.run.err()[-2000:]
    evs = json_lines(open(events).read())
    rec_exit = select(evs, "service.exited", "rec")
    assert rec_exit and rec_exit[-1]["code"] == 0, rec_exit
    print(f"signals: {sent} ({full} refused: queue full) in {flood:.2f}s; "
          f"{len(got)} forwarded arrived; peak {peak_kb} kB, base {base_kb} kB; "
          f"{ticks} ticks in {window:.1f}s after")


def test_crash_loop_of_200_services(warden):
    """200 services crash at once and again (exit 1, restarted after 100 ms doubling up to
    500 ms): every one is restarted, every child reaped, warden's CPU stays well under a core,
    and SIGTERM ends it all with 0 and nothing left."""
    h = warden
    events = h.path("events.jsonl")
    conf = ""
    for i in range(200):
        conf += (f"[s{i}]\ncommand = /bin/sh -c 'exit 1'\nrestart = always\n"
                 f"restart_delay = 100ms\nrestart_delay_max = 500ms\n")
    sup = Conf(h, conf, events=events, args=())
    pid = sup.run.pid

    def all_restarted(n):
        def pred(evs):
            seen = {}
            for e in select(evs, "service.backoff"):
                seen[e["service"]] = seen.get(e["service"], 0) + 1
            return len(seen) == 200 and min(seen.values()) >= n
        return pred
    # (Reading a growing events file is not free: not too often.)
    wait_events(events, all_restarted(3), 60, "every service restarted 3 times", 0.25)
    ticks0, w0 = cpu_ticks(pid), time.monotonic()
    wait_events(events, all_restarted(5), 60, "every service restarted 5 times", 0.25)
    time.sleep(max(0.0, 2 - (time.monotonic() - w0)))
    ticks = cpu_ticks(pid) - ticks0
    window = time.monotonic() - w0
    hz = os.sysconf("SC_CLK_TCK")
    assert ticks / hz < 0.8 * window, f"warden used {ticks / hz:.2f}s CPU in {window:.2f}s"
    check_no_zombie(sup.run)
    assert sup.run.running()
    sup.run.kill(signal.SIGTERM)
    assert sup.run.wait(30) == 0, sup.run.err()[-2000:]
    evs = json_lines(open(events).read())
    exited = len(select(evs, "service.exited"))
    starting = len([e for e in select(evs, "service.starting") if e["pid"]])
    # Every process started was reaped (its exit seen), none left behind.
    assert exited == starting, (exited, starting)
    assert evs[-1]["event"] == "shutdown.finished" and evs[-1]["exit_code"] == 0, evs[-1]
    assert not h.strays()
    print(f"200 services: {starting} runs, {ticks} ticks in {window:.1f}s")
