# SPDX-License-Identifier: MIT
"""cgroup v2 tree control: warden as PID 1 with cgroup2 mounted read-write in a private
mount namespace (nsrun --cgroup2 DIR, a fresh DIR per run; this host's own /sys/fs/cgroup
may be a v1 hybrid). Each service runs in DIR/NAME.service, warden in DIR/warden.scope;
what escaped its process group (double fork + setsid) is stopped with its service; a
service whose processes ignore SIGTERM ends by cgroup.kill; nothing is left in any
cgroup.procs, no zombie. And where cgroup mode is not possible or not wanted (read-only,
cgroup = off, --cgroup off) warden says why and runs as before, with process groups."""

import os
import signal
import time
import uuid

import psutil
import pytest

from conftest import helper, q, read_events, run_direct, wait_for
from ctllib import run_ctl
from svlib import parse_ts, poll_events, select

pytestmark = pytest.mark.timeout(90)


def cg_dir():
    return "wdtest-" + uuid.uuid4().hex[:12]


class CgWarden:
    """warden --events EV -c CONF as PID 1, cgroup2 mounted (read-only with ro)."""

    def __init__(self, h, conf, *, ro=False, args=(), prefix=(), name="warden.conf"):
        self.h = h
        self.dir = None if ro else cg_dir()
        self.conf_path = h.path(name)
        self.conf_path.write_text(conf)
        self.events_path = h.path(name + ".events")
        self.sock = str(h.path(name + ".sock"))
        nsargs = ["--cgroup2-ro"] if ro else ["--cgroup2", self.dir]
        self.run = h.start(["-v", "-v"] + list(args) + ["--control", self.sock, "--events",
                           self.events_path, "-c", self.conf_path], prefix=prefix,
                           nsrun_args=nsargs)
        self.wait_event("warden.started")

    def events(self):
        return poll_events(self.events_path)

    def wait_event(self, event, service=None, timeout=20, **fields):
        def pred():
            got = select(self.events(), event, service, **fields)
            if got:
                return got[0]
            if not self.run.running():
                raise AssertionError(f"warden ended ({self.run.status()}) waiting for {event}; "
                                     f"stderr: {self.run.err()[-2000:]!r}")
            return None
        return wait_for(pred, timeout, f"{event} {service} {fields}; events so far: "
                        f"{[(e['event'], e.get('service')) for e in self.events()]}")

    def cgroup(self, *parts):
        """A path of warden's cgroup2 mount, as the host reaches it (warden's root)."""
        return os.path.join(f"/proc/{self.run.pid}/root/sys/fs/cgroup", *parts)

    def procs(self, sub):
        with open(self.cgroup(self.dir, sub, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]

    def ctl(self, *args):
        r = run_ctl(["--control", self.sock] + list(args))
        assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
        return r

    def stop(self, timeout=30):
        if self.run.running():
            self.run.kill(signal.SIGTERM)
        return self.run.wait(timeout)

    def left_cgroups(self):
        """What nsrun found left in DIR once warden had ended."""
        return sorted(line[len("nsrun: cgroup left: "):] for line in self.run.err().splitlines()
                      if line.startswith("nsrun: cgroup left: "))


def read_pid(path, timeout=15):
    def pred():
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return int(text) if text.endswith("\n") else None
    return wait_for(pred, timeout, f"a pid in {path}")


def gone(pid):
    """The host pid has ended and been reaped."""
    return not psutil.pid_exists(pid)


def wait_gone(pids, timeout=20):
    wait_for(lambda: all(gone(p) for p in pids), timeout, f"processes {pids} to end")


def no_zombies_below(pid):
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return True
    return [k.pid for k in kids if k.status() == psutil.STATUS_ZOMBIE] == []


def host_pid_of(ns_file, w):
    """A pid written from inside warden's namespace, as the host sees it."""
    ns = read_pid(ns_file)
    for p in psutil.Process(w.run.pid).children(recursive=True):
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("NSpid:") and int(line.split()[-1]) == ns:
                        return p.pid
        except FileNotFoundError:
            continue
    raise AssertionError(f"no process with pid {ns} in warden's namespace")


ESCAPE = ("(setsid sh -c 'echo $$ > {f}.tmp; mv {f}.tmp {f}; exec sleep 300' &); ")


def test_mode_event_and_layout(warden_pid1):
    """warden moves itself to DIR/warden.scope; the service runs in DIR/svc.service from
    its start; cgroup.mode says cgroup and where; the service's cgroup is removed once
    warden is done with it."""
    h = warden_pid1
    w = CgWarden(h, f"[svc]\ncommand = sh -c 'echo $$ > {q(h.path('p'))}.tmp; "
                 f"mv {q(h.path('p'))}.tmp {q(h.path('p'))}; exec sleep 300'\n")
    read_pid(h.path("p"))
    evs = w.events()
    names = [e["event"] for e in evs]
    assert names[:2] == ["warden.started", "cgroup.mode"], names
    m = evs[1]
    assert m["mode"] == "cgroup" and m["path"] == f"/sys/fs/cgroup/{w.dir}", m
    assert m["reason"] == f"/sys/fs/cgroup/{w.dir} is writable", m
    with open(f"/proc/{w.run.pid}/cgroup") as f:
        assert f.read().strip().endswith(f"0::/{w.dir}/warden.scope")
    svc = host_pid_of(h.path("p"), w)
    # mv, which wrote the file, may not have ended yet.
    wait_for(lambda: w.procs("svc.service") == [svc], 10, "the service alone in its cgroup")
    assert w.procs("warden.scope") == [w.run.pid]
    with open(w.cgroup(w.dir, "cgroup.procs")) as f:
        assert f.read() == "", "no process in an inner cgroup"
    assert w.stop() == 0
    assert w.left_cgroups() == ["warden.scope"], w.run.err()


def test_setsid_escape_stopped_with_its_service(warden_pid1):
    """A double fork + setsid leaves the process group, not the cgroup: warden ctl stop
    stops it too (with the stop signal, at once), and the service is stopped only once
    its cgroup is empty. In process-group mode it would outlive its service."""
    h = warden_pid1
    esc = q(h.path("esc"))
    w = CgWarden(h, f"""[svc]
command = sh -c "{ESCAPE.format(f=esc)}exec sleep 300"
stop_timeout = 30s
""")
    w.wait_event("service.ready", "svc")
    escapee = host_pid_of(h.path("esc"), w)
    assert os.getsid(escapee) != os.getsid(w.run.pid)
    wait_for(lambda: len(w.procs("svc.service")) == 2, 10, "the double fork's middle to end")
    t0 = time.monotonic()
    w.ctl("stop", "svc")
    st = w.wait_event("service.stopped", "svc")
    assert time.monotonic() - t0 < 20, "stopped at once, not by the stop timeout"
    wait_gone([escapee])
    assert w.procs("svc.service") == []
    evs = w.events()
    orphan = [e for e in evs if e["event"] == "orphan.reaped" and e["signal"] == "SIGTERM"]
    assert len(orphan) == 1, evs
    (ex,) = select(evs, "service.exited", "svc")
    assert ex["signal"] == "SIGTERM" and st["from"] == "stopping"
    assert not select(evs, "service.killed")
    assert no_zombies_below(w.run.pid)
    assert w.stop() == 0
    assert w.left_cgroups() == ["warden.scope"]


def test_term_ignorers_end_by_cgroup_kill(warden_pid1):
    """Two services whose processes ignore SIGTERM: in a, all of them (the main process
    too); in b, the main process exits but an escaped process ignores it. Both end by
    cgroup.kill at stop_timeout: nothing left in cgroup.procs, no zombie."""
    h = warden_pid1
    ea, eb = q(h.path("ea")), q(h.path("eb"))
    w = CgWarden(h, f"""[a]
command = sh -c "trap '' TERM; {ESCAPE.format(f=ea)}sleep 300 & sleep 300"
stop_timeout = 1s
[b]
command = sh -c "(trap '' TERM; {ESCAPE.format(f=eb)}) ; exec sleep 300"
stop_timeout = 1s
""")
    w.wait_event("service.ready", "a")
    w.wait_event("service.ready", "b")
    pa, pb = host_pid_of(h.path("ea"), w), host_pid_of(h.path("eb"), w)
    wait_for(lambda: len(w.procs("a.service")) == 4 and len(w.procs("b.service")) == 2, 10,
             "the double forks' middles to end")
    w.ctl("stop", "a")
    w.ctl("stop", "b")
    sa = w.wait_event("service.stopped", "a")
    sb = w.wait_event("service.stopped", "b")
    wait_gone([pa, pb])
    assert w.procs("a.service") == [] and w.procs("b.service") == []
    evs = w.events()
    ka = select(evs, "service.killed", "a")
    kb = select(evs, "service.killed", "b")
    assert len(ka) == 1 and len(kb) == 1, evs
    # b's main process went at SIGTERM; its exit was held until the cgroup was empty.
    (xb,) = select(evs, "service.exited", "b")
    assert xb["signal"] == "SIGTERM"
    assert parse_ts(kb[0]["ts"]) <= parse_ts(xb["ts"]) <= parse_ts(sb["ts"])
    (xa,) = select(evs, "service.exited", "a")
    assert xa["signal"] == "SIGKILL"
    assert parse_ts(sa["ts"]) - parse_ts(select(evs, "service.stopping", "a")[0]["ts"]) >= 0.9
    assert "waiting for the rest of its cgroup" in w.run.err()
    assert no_zombies_below(w.run.pid)
    assert w.stop() == 0
    assert w.left_cgroups() == ["warden.scope"]


def test_fork_bomb_bounded(warden_pid1):
    """A fork bomb (bounded by count and time, in case nothing else bounds it) with
    pids_max = 16: where the pids controller is available, the cgroup never holds more
    than 16 processes; where it is not, cgroup.unsupported says so. Either way warden
    keeps running and the whole tree ends at the stop."""
    h = warden_pid1
    bomb = ("i=0; while [ $i -lt 200 ]; do sleep 300 & i=$((i+1)); done; sleep 300")
    w = CgWarden(h, f"""[bomb]
command = sh -c '{bomb}'
pids_max = 16
stop_timeout = 2s
""")
    mode = w.wait_event("cgroup.mode")
    assert mode["mode"] == "cgroup"
    with open(w.cgroup(w.dir, "cgroup.controllers")) as f:
        have_pids = "pids" in f.read().split()
    if have_pids:
        assert "pids" in mode["controllers"].split()
        time.sleep(0.5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert len(w.procs("bomb.service")) <= 16
            time.sleep(0.05)
        with open(w.cgroup(w.dir, "bomb.service", "pids.max")) as f:
            assert f.read().strip() == "16"
    else:
        u = w.wait_event("cgroup.unsupported", "bomb")
        assert u["key"] == "pids_max"
        assert u["reason"] == f"the pids controller is not available in /sys/fs/cgroup/{w.dir}"
        assert ("service bomb: pids_max is not applied: the pids controller is not available"
                in w.run.err())
        wait_for(lambda: len(w.procs("bomb.service")) >= 50, 20, "the bomb to grow")
    assert w.run.running()
    w.ctl("stop", "bomb")
    w.wait_event("service.stopped", "bomb", timeout=30)
    assert w.procs("bomb.service") == []
    assert no_zombies_below(w.run.pid)
    assert w.stop() == 0
    assert w.left_cgroups() == ["warden.scope"]


def test_clone3_unavailable_falls_back(warden_pid1):
    """Where clone3() says ENOSYS (a seccomp filter: old kernels, old container profiles),
    the child moves itself into its cgroup before exec: the service still runs there,
    and its escaped processes are still stopped with it."""
    h = warden_pid1
    esc = q(h.path("esc"))
    w = CgWarden(h, f"""[svc]
command = sh -c "{ESCAPE.format(f=esc)}exec sleep 300"
""", prefix=[helper("noclone3")])
    w.wait_event("service.ready", "svc")
    escapee = host_pid_of(h.path("esc"), w)
    with open(f"/proc/{w.run.pid}/status") as f:
        assert any(line.split() == ["Seccomp:", "2"] for line in f), "warden runs filtered"
    wait_for(lambda: len(w.procs("svc.service")) == 2, 10, "the double fork's middle to end")
    w.ctl("stop", "svc")
    w.wait_event("service.stopped", "svc")
    wait_gone([escapee])
    assert w.procs("svc.service") == []
    assert w.stop() == 0
    assert w.left_cgroups() == ["warden.scope"]


def test_cgroup_off(warden_pid1):
    """[warden] cgroup = off: process groups, as before; warden stays where it started;
    the resource settings are said to be unsupported, with the reason."""
    h = warden_pid1
    w = CgWarden(h, """[warden]
cgroup = off
[svc]
command = sleep 300
memory_max = 64M
cpu_weight = 50
""")
    m = w.wait_event("cgroup.mode")
    assert m["mode"] == "process-group" and m["reason"] == "cgroup = off" and m["path"] is None
    w.wait_event("service.ready", "svc")
    un = select(w.events(), "cgroup.unsupported", "svc")
    assert [(u["key"], u["reason"]) for u in un] == [
        ("memory_max", "process-group mode (cgroup = off)"),
        ("cpu_weight", "process-group mode (cgroup = off)")]
    assert len(w.procs("")) == 2  # warden and its service, where nsrun put warden
    assert w.stop() == 0
    assert w.left_cgroups() == []


def test_cgroup_off_flag_init_mode(warden_pid1):
    """--cgroup off in init mode; --cgroup with another value is a usage error."""
    h = warden_pid1
    ev = h.path("ev")
    d = cg_dir()
    r = h.run(["--cgroup", "off", "--events", ev, "--", "true"], nsrun_args=["--cgroup2", d])
    assert r.returncode == 0, r.err()
    (m,) = select(read_events(ev), "cgroup.mode")
    assert m["mode"] == "process-group" and m["reason"] == "cgroup = off"
    d = cg_dir()
    r = h.run(["--events", ev, "--", "sh", "-c", "cat /proc/self/cgroup"],
              nsrun_args=["--cgroup2", d])
    assert r.returncode == 0, r.err()
    assert f"\n0::/{d}/main.service\n" in "\n" + r.out()
    r = run_direct(["--cgroup", "on", "--", "true"])
    assert r.returncode == 125
    assert r.stderr.startswith("warden: invalid --cgroup 'on' (expected auto or off)\n")


def test_read_only_cgroup_means_process_groups(warden_pid1):
    """cgroup2 mounted read-only (Docker's and Kubernetes' default): process-group mode
    with the reason; services run and stop as before; limits are unsupported."""
    h = warden_pid1
    w = CgWarden(h, "[svc]\ncommand = sleep 300\npids_max = 10\n", ro=True)
    m = w.wait_event("cgroup.mode")
    assert m == {**m, "mode": "process-group", "path": None,
                 "reason": "/sys/fs/cgroup is mounted read-only"}
    u = w.wait_event("cgroup.unsupported", "svc")
    assert u["key"] == "pids_max"
    assert u["reason"] == "process-group mode (/sys/fs/cgroup is mounted read-only)"
    w.wait_event("service.ready", "svc")
    assert w.stop() == 0
    assert "process-group mode: /sys/fs/cgroup is mounted read-only" in w.run.err()


@pytest.mark.parametrize("line,msg", [
    ("memory_max = 0", "invalid memory_max '0' (expected max, or a size above 0: bytes, or a "
                       "whole number with K, M or G, e.g. 512M)"),
    ("memory_max = 12X", "invalid memory_max '12X' (expected max, or a size above 0: bytes, "
                         "or a whole number with K, M or G, e.g. 512M)"),
    ("pids_max = -1", "invalid pids_max '-1' (expected max, or a number of processes, 1 or "
                      "more)"),
    ("cpu_weight = 10001", "invalid cpu_weight '10001' (expected 1 to 10000; 100 is the "
                           "default)"),
    ("cpu_weight = 0", "invalid cpu_weight '0' (expected 1 to 10000; 100 is the default)"),
])
def test_bad_settings_fail_at_load(tmp_path, line, msg):
    conf = tmp_path / "w.conf"
    conf.write_text(f"[svc]\ncommand = true\n{line}\n")
    r = run_direct(["--check", "-c", str(conf)])
    assert r.returncode == 125
    assert r.stderr == f"warden: {conf}:3: {msg}\n"


def test_bad_cgroup_key_and_good_values(tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("[warden]\ncgroup = yes\n[svc]\ncommand = true\n")
    r = run_direct(["--check", "-c", str(conf)])
    assert r.returncode == 125
    assert r.stderr == f"warden: {conf}:2: invalid cgroup 'yes' (expected auto or off)\n"
    conf.write_text("[warden]\ncgroup = auto\n[svc]\ncommand = true\nmemory_max = max\n"
                    "pids_max = max\ncpu_weight = 10000\n[t]\ncommand = true\n"
                    "memory_max = 1G\npids_max = 1\ncpu_weight = 1\n")
    r = run_direct(["--check", "-c", str(conf)])
    assert r.returncode == 0, r.stderr


def sample(text, family, service):
    prefix = f'{family}{{service="{service}"}} '
    (line,) = [x for x in text.splitlines() if x.startswith(prefix)]
    return float(line[len(prefix):])


def test_tree_metrics_from_the_cgroup(warden_pid1):
    """The tree metrics count what the cgroup holds: the escaped process too (in
    process-group mode it is below warden, not below the service, and is not counted)."""
    h = warden_pid1
    esc = q(h.path("esc"))
    w = CgWarden(h, f"""[svc]
command = sh -c "{ESCAPE.format(f=esc)}exec sleep 300"
""")
    w.wait_event("service.ready", "svc")
    host_pid_of(h.path("esc"), w)
    wait_for(lambda: len(w.procs("svc.service")) == 2, 10, "the double fork's middle to end")
    with open(w.cgroup(w.dir, "svc.service", "cpu.stat")) as f:
        usec = int(f.read().split("usage_usec ")[1].split()[0])
    text = w.ctl("metrics").stdout
    assert sample(text, "warden_service_processes", "svc") == 2
    # Every process the cgroup had (sh, the double fork's middles): at least as read before.
    cpu = sample(text, "warden_service_cpu_seconds_total", "svc")
    assert cpu >= usec / 1e6 > 0
    assert w.stop() == 0
