# SPDX-License-Identifier: MIT
"""warden ctl metrics (warden-metrics(7)): the exposition of a warden that runs as PID 1 of a
new pid namespace, in supervisor mode and in init mode. Every family has HELP and TYPE and
every series is there from the start; the values follow what happens (exits of each kind,
restarts, the one-hot state, orphans, forwarded signals, log lines, control requests, the
services' process trees); `promtool check metrics` finds nothing to say; --openmetrics gives
the OpenMetrics text, ending in "# EOF"."""

import os
import re
import signal
import subprocess

import pytest

from conftest import helper, q, read_signals, wait_for
from ctllib import EXIT_OK, EXIT_USAGE, Ctl, describe, pid1_harness, run_ctl
from svlib import poll_events, script, select

pytestmark = pytest.mark.timeout(90)

PROMTOOL = "/usr/bin/promtool"

STATES = ["stopped", "waiting", "starting", "running", "stopping", "backoff", "exited",
          "failed"]
HOWS = ["exited-zero", "exited-nonzero", "signalled", "exec-failed"]
VERBS = ["status", "start", "stop", "restart", "signal", "wait", "reload", "shutdown", "dump",
         "metrics"]
SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
           "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
           "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
           "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",
           "SIGPWR", "SIGSYS", "SIGRT"]

# Every family of warden-metrics(7), and its type.
FAMILIES = {
    "warden_build_info": "gauge",
    "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_threads": "gauge",
    "warden_service_up": "gauge",
    "warden_service_ready": "gauge",
    "warden_service_state": "gauge",
    "warden_service_restarts_total": "counter",
    "warden_service_exits_total": "counter",
    "warden_service_last_exit_code": "gauge",
    "warden_service_start_time_seconds": "gauge",
    "warden_service_healthy": "gauge",
    "warden_service_health_checks_failed_total": "counter",
    "warden_service_processes": "gauge",
    "warden_service_resident_memory_bytes": "gauge",
    "warden_service_open_fds": "gauge",
    "warden_service_cpu_seconds_total": "counter",
    "warden_log_lines_total": "counter",
    "warden_log_lines_dropped_total": "counter",
    "warden_orphans_reaped_total": "counter",
    "warden_signals_forwarded_total": "counter",
    "warden_events_dropped_total": "counter",
    "warden_control_requests_total": "counter",
}


@pytest.fixture
def wh():
    yield from pid1_harness()


# --- reading the exposition -------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse(text, om=False):
    """The exposition TEXT (0.0.4, or OpenMetrics without its "# EOF" when OM) checked line
    by line: {(name, ((label, value), ...)): float}, and {family: (type, help)}. Every
    sample belongs to the family whose TYPE came last (OpenMetrics: a counter's samples
    add "_total" to its name); no series twice."""
    samples, families, fam = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, help_ = line[7:].split(" ", 1)
            families[name] = (None, help_)
            fam = name
        elif line.startswith("# TYPE "):
            name, typ = line[7:].split(" ")
            assert name == fam and families[name][0] is None, f"TYPE without HELP: {line}"
            families[name] = (typ, families[name][1])
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.groups()
            counter = families[fam][0] == "counter"
            assert name == (fam + "_total" if om and counter else fam), \
                f"{name} outside its family ({fam})"
            pairs = tuple(LABEL.findall(labels)) if labels else ()
            if labels:
                assert "".join(f'{k}="{v}"{c}' for k, v, c in pairs) == labels, line
            key = (name, tuple((k, v) for k, v, _ in pairs))
            assert key not in samples, f"series twice: {line}"
            samples[key] = float(value)
    return samples, families


class Metrics:
    """One scrape: metrics.value(name, label=value...)."""

    def __init__(self, text, om=False):
        self.text = text
        self.samples, self.families = parse(text, om)

    def value(self, name, **labels):
        want = tuple(sorted(labels.items()))
        for (n, ls), v in self.samples.items():
            if n == name and tuple(sorted(ls)) == want:
                return v
        raise AssertionError(f"no series {name} {labels}")

    def series(self, name):
        return {ls: v for (n, ls), v in self.samples.items() if n == name}

    def has(self, name, **labels):
        try:
            self.value(name, **labels)
            return True
        except AssertionError:
            return False

    def state(self, service):
        """The state whose series is 1; every other is 0 (one-hot)."""
        ones = [s for s in STATES if self.value("warden_service_state", service=service,
                                                state=s) == 1]
        for s in STATES:
            assert self.value("warden_service_state", service=service, state=s) in (0, 1)
        assert len(ones) == 1, f"{service}: states {ones}"
        return ones[0]


def scrape(sock, *extra):
    r = run_ctl(["--control", sock, "metrics", *extra])
    assert r.returncode == EXIT_OK, describe(r)
    return r.stdout


def metrics(sock):
    return Metrics(scrape(sock))


def promtool_clean(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
        f"promtool: rc={r.returncode} {r.stdout!r} {r.stderr!r}"


def check_complete(m, services, captured):
    """Every family with HELP and its type; every series of every service from the start."""
    assert {n: t for n, (t, _) in m.families.items()} == FAMILIES
    assert all(h for _, h in m.families.values())
    assert m.series("warden_build_info") and \
        list(m.series("warden_build_info").values()) == [1]
    labels = dict(next(iter(m.series("warden_build_info"))))
    assert set(labels) == {"version", "commit"} and labels["version"], labels
    for name in ("process_cpu_seconds_total", "process_open_fds", "process_max_fds",
                 "process_virtual_memory_bytes", "process_resident_memory_bytes",
                 "process_start_time_seconds", "process_threads"):
        assert m.value(name) >= 0, name
    assert m.value("process_threads") == 1
    assert m.value("process_open_fds") > 0 and m.value("process_max_fds") > 0
    assert m.value("process_resident_memory_bytes") > 0
    for s in services:
        for name in ("warden_service_up", "warden_service_ready",
                     "warden_service_restarts_total", "warden_service_last_exit_code",
                     "warden_service_start_time_seconds", "warden_service_processes",
                     "warden_service_resident_memory_bytes", "warden_service_open_fds",
                     "warden_service_cpu_seconds_total"):
            assert m.has(name, service=s), (name, s)
        m.state(s)
        for how in HOWS:
            assert m.has("warden_service_exits_total", service=s, how=how)
        assert len(m.series("warden_service_exits_total")) == 4 * len(services)
        assert len(m.series("warden_service_state")) == len(STATES) * len(services)
    assert len(m.series("warden_log_lines_total")) == 2 * len(captured)
    for s in captured:
        for stream in ("stdout", "stderr"):
            assert m.has("warden_log_lines_total", service=s, stream=stream)
        assert m.has("warden_log_lines_dropped_total", service=s)
    assert {dict(k)["verb"] for k in m.series("warden_control_requests_total")} == set(VERBS)
    assert [dict(k)["signal"] for k in m.series("warden_signals_forwarded_total")] == SIGNALS
    assert m.value("warden_orphans_reaped_total") >= 0
    assert m.value("warden_events_dropped_total") == 0
    # Only the labels the man page names: never a pid or an exit code.
    for (name, ls) in m.samples:
        assert {k for k, _ in ls} <= {"service", "state", "how", "stream", "signal", "verb",
                                      "version", "commit"}, (name, ls)


# --- supervisor mode --------------------------------------------------------------------

def test_every_series_from_the_start_and_promtool_clean(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        [later]
        command = sleep 1000
        after = web
        """)
    w.wait_state("web", "running")
    w.wait_state("later", "running")
    text = scrape(w.sock)
    m = Metrics(text)
    check_complete(m, ["web", "later"], ["web", "later"])
    for s in ("web", "later"):
        assert m.state(s) == "running"
        assert m.value("warden_service_up", service=s) == 1
        assert m.value("warden_service_ready", service=s) == 1
        assert m.value("warden_service_restarts_total", service=s) == 0
        assert m.value("warden_service_last_exit_code", service=s) == 0
        assert m.value("warden_service_processes", service=s) == 1
        for how in HOWS:
            assert m.value("warden_service_exits_total", service=s, how=how) == 0
        for stream in ("stdout", "stderr"):
            assert m.value("warden_log_lines_total", service=s, stream=stream) == 0
        assert m.value("warden_log_lines_dropped_total", service=s) == 0
    assert m.value("warden_orphans_reaped_total") == 0
    for sig in SIGNALS:
        assert m.value("warden_signals_forwarded_total", signal=sig) == 0
    # The scrape counts itself; wait_state asked with status.
    assert m.value("warden_control_requests_total", verb="metrics") == 1
    for v in VERBS:
        if v not in ("metrics", "status"):
            assert m.value("warden_control_requests_total", verb=v) == 0, v
    # Start times: the runs began after warden, and not in the future.
    t0 = m.value("process_start_time_seconds")
    now = float(subprocess.run(["date", "+%s.%N"], capture_output=True, text=True).stdout)
    assert now - 60 < t0 <= now
    for s in ("web", "later"):
        assert t0 - 1 <= m.value("warden_service_start_time_seconds", service=s) <= now
    promtool_clean(text)
    assert w.stop() == 0


def test_health_series(wh):
    """warden_service_healthy and warden_service_health_checks_failed_total exist for a service
    with a check only: 0 before the first verdict or when unhealthy, 1 once a check passed;
    the failures counted, never going back."""
    ok = wh.path("ok")
    ok.touch()
    w = Ctl(wh, f"""
        [web]
        command = sleep 1000
        health = exec:test -e {q(ok)}
        health_interval = 100ms
        health_failures = 2
        on_unhealthy = none
        [plain]
        command = sleep 1000
        """)
    w.wait_state("plain", "running")

    def healthy_is(v):
        def pred():
            m = metrics(w.sock)
            return m if m.value("warden_service_healthy", service="web") == v else None
        return wait_for(pred, 20, f"warden_service_healthy of web to be {v}")

    m = healthy_is(1)
    assert m.value("warden_service_health_checks_failed_total", service="web") == 0
    assert not m.has("warden_service_healthy", service="plain")
    assert not m.has("warden_service_health_checks_failed_total", service="plain")
    assert len(m.series("warden_service_healthy")) == 1
    ok.unlink()
    m = healthy_is(0)
    failed = m.value("warden_service_health_checks_failed_total", service="web")
    assert failed >= 2
    ok.touch()
    m = healthy_is(1)
    assert m.value("warden_service_health_checks_failed_total", service="web") >= failed
    promtool_clean(m.text)
    assert w.stop() == 0


def test_exits_restarts_and_states_follow_what_happens(wh):
    count = wh.path("count")
    flaky = script(wh, "flaky.sh", f"""
        n=$(cat {q(count)} 2>/dev/null || echo 0)
        echo $((n+1)) > {q(count)}
        [ $n -lt 2 ] && exit 3
        exec sleep 1000
        """)
    w = Ctl(wh, f"""
        [flaky]
        command = {flaky}
        restart = on-failure
        restart_delay = 50ms
        restart_delay_max = 50ms
        [killed]
        command = sh -c 'kill -KILL $$'
        restart = never
        [missing]
        command = {wh.path("no-such-program")}
        restart = never
        [done]
        command = true
        restart = never
        [never]
        command = sleep 1000
        after = missing
        """)
    # Running counts once its command runs: the third run is the one that stays.
    wait_for(lambda: w.svc("flaky")["restarts"] == 2 and w.svc("flaky")["state"] == "running",
             10, "flaky's third run")
    w.wait_state("killed", "failed")
    w.wait_state("missing", "failed")
    w.wait_state("done", "exited")
    w.wait_state("never", "failed")
    text = scrape(w.sock)
    m = Metrics(text)
    check_complete(m, ["flaky", "killed", "missing", "done", "never"],
                   ["flaky", "killed", "missing", "done", "never"])

    def exits(s):
        return [m.value("warden_service_exits_total", service=s, how=h) for h in HOWS]
    assert exits("flaky") == [0, 2, 0, 0]
    assert m.value("warden_service_restarts_total", service="flaky") == 2
    assert m.value("warden_service_last_exit_code", service="flaky") == 3
    assert m.state("flaky") == "running" and m.value("warden_service_up", service="flaky") == 1
    assert exits("killed") == [0, 0, 1, 0]
    assert m.value("warden_service_last_exit_code", service="killed") == 128 + 9
    assert m.state("killed") == "failed" and m.value("warden_service_up", service="killed") == 0
    assert exits("missing") == [0, 0, 0, 1]
    assert m.value("warden_service_last_exit_code", service="missing") == 127
    assert m.state("missing") == "failed"
    assert m.value("warden_service_ready", service="missing") == 0
    assert exits("done") == [1, 0, 0, 0]
    assert m.state("done") == "exited" and m.value("warden_service_ready", service="done") == 0
    # Never started: nothing ran, nothing counted.
    assert exits("never") == [0, 0, 0, 0] and m.state("never") == "failed"
    assert m.value("warden_service_start_time_seconds", service="never") == 0
    for s in ("killed", "missing", "done", "never"):
        assert m.value("warden_service_processes", service=s) == 0
        assert m.value("warden_service_restarts_total", service=s) == 0
    promtool_clean(text)

    # A restart on request: one more restart, one signalled exit, the state back to running.
    pid = w.svc("flaky")["pid"]
    r = w.ctl("restart", "flaky")
    assert r.returncode == EXIT_OK, describe(r)
    wait_for(lambda: w.svc("flaky")["state"] == "running" and w.svc("flaky")["pid"] != pid,
             10, "flaky to run again")
    m = metrics(w.sock)
    assert exits("flaky") == [0, 2, 1, 0]
    assert m.value("warden_service_restarts_total", service="flaky") == 3
    assert m.value("warden_service_last_exit_code", service="flaky") == 128 + 15
    assert m.state("flaky") == "running"
    # Stopped on request: stopped, no process.
    r = w.ctl("stop", "flaky")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("flaky", "stopped")
    m = metrics(w.sock)
    assert m.state("flaky") == "stopped"
    assert m.value("warden_service_up", service="flaky") == 0
    assert m.value("warden_service_ready", service="flaky") == 0
    assert exits("flaky") == [0, 2, 2, 0]
    assert w.stop() == 0


def test_orphans_signals_log_lines_and_requests_are_counted(wh):
    ready = wh.path("orphans-made")
    usr_ready, usr_log = wh.path("usr-ready"), wh.path("usr.log")
    talk = script(wh, "talk.sh", """
        echo one; echo two; echo three
        echo err1 >&2; echo err2 >&2
        exec sleep 1000
        """)
    w = Ctl(wh, f"""
        [talk]
        command = {talk}
        [orph]
        command = {helper("orphans")} 3 --done {q(ready)} --then-sleep 1000
        [usr]
        command = {helper("sigrecord")} -t 600 -r {q(usr_ready)} {q(usr_log)}
        forward_signals = USR1 USR2
        """)
    wait_for(usr_ready.exists, 10, "usr to block its signals")
    w.wait_event("orphan.reaped", count=3, timeout=20)
    wait_for(lambda: metrics(w.sock).value("warden_log_lines_total", service="talk",
                                           stream="stderr") == 2, 10, "talk's lines")
    m = metrics(w.sock)
    assert m.value("warden_orphans_reaped_total") == 3
    assert m.value("warden_log_lines_total", service="talk", stream="stdout") == 3
    assert m.value("warden_log_lines_total", service="talk", stream="stderr") == 2
    assert m.value("warden_log_lines_dropped_total", service="talk") == 0
    assert m.value("warden_log_lines_total", service="usr", stream="stdout") == 0

    # Each taken before the next: two pending USR1 would be one.
    got = []
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGUSR1):
        w.run.kill(sig)
        got.append(int(sig))
        wait_for(lambda: read_signals(usr_log) == got, 10, f"usr to get {got}")
    w.wait_event("signal.forwarded", "usr", signal="SIGUSR1", count=2)
    m = metrics(w.sock)
    assert m.value("warden_signals_forwarded_total", signal="SIGUSR1") == 2
    assert m.value("warden_signals_forwarded_total", signal="SIGUSR2") == 1
    assert sum(m.series("warden_signals_forwarded_total").values()) == 3
    assert m.value("warden_orphans_reaped_total") == 3

    # Requests by verb: exactly those made, this scrape included.
    before = m.value("warden_control_requests_total", verb="status")
    scrapes = m.value("warden_control_requests_total", verb="metrics")
    for _ in range(3):
        assert w.ctl("status").returncode == EXIT_OK
    assert w.ctl("dump").returncode == EXIT_OK
    assert w.ctl("signal", "usr", "CONT").returncode == EXIT_OK
    assert w.ctl("metrics", "web").returncode == EXIT_USAGE  # not parsed: not counted
    m = metrics(w.sock)
    assert m.value("warden_control_requests_total", verb="status") == before + 3
    assert m.value("warden_control_requests_total", verb="dump") == 1
    assert m.value("warden_control_requests_total", verb="signal") == 1
    assert m.value("warden_control_requests_total", verb="metrics") == scrapes + 1
    promtool_clean(m.text)
    assert w.stop() == 0


def test_process_trees(wh):
    trig, opened, waiting = wh.path("open"), wh.path("opened"), wh.path("waiting")
    fds = script(wh, "fds.py", f"""
        import os, time
        # Past its start-up (which opens files of its own): its descriptors hold still.
        open({str(waiting)!r}, "w").close()
        while not os.path.exists({str(trig)!r}):
            time.sleep(0.02)
        keep = [os.open("/dev/null", os.O_RDONLY) for _ in range(20)]
        open({str(opened)!r}, "w").close()
        time.sleep(1000)
        """)
    fds.write_text("#!/usr/bin/python3\n" + fds.read_text().split("\n", 1)[1])
    burnt = wh.path("burnt")
    burn = script(wh, "burn.sh", f"""
        (i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done)
        touch {q(burnt)}
        exec sleep 1000
        """)
    w = Ctl(wh, f"""
        [kids]
        command = sh -c 'sleep 1000 & sleep 1000 & sleep 1000 & wait'
        [fds]
        command = {fds}
        [burn]
        command = {burn}
        """)
    wait_for(lambda: metrics(w.sock).value("warden_service_processes", service="kids") == 4,
             10, "kids to have 4 processes")
    wait_for(waiting.exists, 10, "fds to wait for its trigger")
    m = metrics(w.sock)
    assert m.value("warden_service_processes", service="fds") == 1
    assert m.value("warden_service_resident_memory_bytes", service="kids") > 0
    assert m.value("warden_service_resident_memory_bytes", service="fds") > 0
    base = m.value("warden_service_open_fds", service="fds")
    assert base >= 3
    trig.touch()
    wait_for(lambda: opened.exists(), 10, "fds to open its descriptors")
    m = metrics(w.sock)
    assert m.value("warden_service_open_fds", service="fds") == base + 20
    assert m.value("warden_service_processes", service="fds") == 1

    # CPU: never goes back, though the burner's time leaves the live tree when its shell
    # reaps it; once the run ends, the shell's wait4() brings it back in.
    seen = []
    while not burnt.exists():
        seen.append(metrics(w.sock).value("warden_service_cpu_seconds_total", service="burn"))
        assert len(seen) < 2000, "the burner never finished"
    seen.append(metrics(w.sock).value("warden_service_cpu_seconds_total", service="burn"))
    assert seen == sorted(seen), seen
    r = w.ctl("stop", "burn")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("burn", "stopped")
    m = metrics(w.sock)
    cpu = m.value("warden_service_cpu_seconds_total", service="burn")
    assert cpu >= seen[-1] and cpu > 0.05, (cpu, seen[-1])
    assert m.value("warden_service_processes", service="burn") == 0
    # The kids' tree goes with its service.
    r = w.ctl("stop", "kids")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("kids", "stopped")
    wait_for(lambda: metrics(w.sock).value("warden_service_processes", service="kids") == 0,
             10, "kids' processes to be gone")
    promtool_clean(scrape(w.sock))
    assert w.stop() == 0


def test_openmetrics(wh):
    w = Ctl(wh, """
        [web]
        command = sleep 1000
        """)
    w.wait_state("web", "running")
    om = scrape(w.sock, "--openmetrics")
    text = scrape(w.sock)
    assert om.endswith("\n# EOF\n") and om.count("# EOF") == 1, om[-200:]
    assert not text.rstrip().endswith("# EOF")
    a = Metrics(om[:-len("# EOF\n")], om=True)
    b = Metrics(text)
    types = {n: t for n, (t, _) in a.families.items()}
    # The same families: a counter's without _total in its HELP and TYPE lines.
    assert {n + ("_total" if t == "counter" else ""): t for n, t in types.items()} == FAMILIES
    assert not [n for n, t in types.items() if t == "counter" and n.endswith("_total")]
    # The same series, and the same values where they cannot have changed.
    assert set(a.samples) == set(b.samples)
    assert a.value("warden_service_up", service="web") == 1
    assert a.value("warden_control_requests_total", verb="metrics") == 1
    assert b.value("warden_control_requests_total", verb="metrics") == 2
    r = w.ctl("metrics", "--openmetrics", "--json")
    assert r.returncode == EXIT_OK and '"metrics":"# HELP' in r.stdout, describe(r)
    for args in (["metrics", "web"], ["metrics", "--bogus"], ["status", "--openmetrics"]):
        r = w.ctl(*args)
        assert r.returncode == EXIT_USAGE and r.stderr.strip(), f"{args}: {describe(r)}"
    assert w.stop() == 0


# --- init mode ----------------------------------------------------------------------------

def test_init_mode(wh):
    sock = str(wh.path("init.sock"))
    events = wh.path("events")
    made, log = wh.path("made"), wh.path("sig.log")
    cmd = script(wh, "cmd.sh", f"""
        {helper("orphans")} 2 --done {q(made)}
        exec {helper("sigrecord")} -r {q(wh.path("ready"))} {q(log)}
        """)
    run = wh.start(["-v", "--control", sock, "--events", str(events), "--", str(cmd)])
    wait_for(lambda: wh.path("ready").exists(), 10, "the command to be ready")
    wait_for(lambda: os.path.exists(sock), 10, "the control socket")

    def count(name, **f):
        return len(select(poll_events(events), name, **f))
    wait_for(lambda: count("orphan.reaped") == 2, 10, "2 orphans reaped")
    text = scrape(sock)
    m = Metrics(text)
    # The command inherits warden's output: no captured lines, no log series.
    check_complete(m, ["main"], [])
    assert m.state("main") == "running"
    assert m.value("warden_service_up", service="main") == 1
    assert m.value("warden_service_ready", service="main") == 1
    assert m.value("warden_service_processes", service="main") == 1
    assert m.value("warden_orphans_reaped_total") == 2
    promtool_clean(text)
    run.kill(signal.SIGUSR1)
    wait_for(lambda: count("signal.forwarded", signal="SIGUSR1") == 1, 10, "USR1 forwarded")
    m = metrics(sock)
    assert m.value("warden_signals_forwarded_total", signal="SIGUSR1") == 1
    assert sum(m.series("warden_signals_forwarded_total").values()) == 1
    # The stop request is forwarded to the command too: SIGTERM, counted.
    run.kill(signal.SIGTERM)
    assert run.wait(15) == 0, run.err()
