# SPDX-License-Identifier: MIT
"""Leak watch (warden.conf(5), LEAK WATCH): a service whose tree's memory or open descriptors
stay over leak_memory or leak_fds for leak_sustain trips service.leak once a breach, and with
on_leak = restart is stopped with its stop_signal and started again; leak_suspect_samples
samples that each grew say service.leak_suspected once a run, even below the limit; a steady
service, or a spike shorter than leak_sustain, never trips it; bad settings are refused with
the file, the line and the reason; a service that is not running has no timer.

Init mode takes these settings only from a [main] section (-c FILE -- CMD); it has no flag
for them, so these tests run supervisor mode, as PID 1 and as a subreaper."""

import os
import signal
import textwrap
import time

import pytest

from conftest import q, run_direct, wait_for
from ctllib import request
from svlib import EXIT_CONFIG, Sup, switches, wait_blocked

pytestmark = pytest.mark.timeout(120)

MB = 1 << 20

# The service under watch: python3, whose memory and descriptors the test decides. SIGTERM
# is recorded ("TERM PID" in REC) and ends it with code 0: a graceful stop, not a kill.
LEAKER = r'''
import os, signal, sys, time

mode, rec = sys.argv[1], sys.argv[2]
args = [int(a) for a in sys.argv[3:]]
MB = 1 << 20


def term(sig, frame):
    with open(rec, "a") as f:
        f.write(f"TERM {os.getpid()}\n")
    os._exit(0)


signal.signal(signal.SIGTERM, term)


def block(n):
    """N bytes, every page touched: resident."""
    b = bytearray(n)
    for i in range(0, n, 4096):
        b[i] = 1
    return b


hold = []
if mode == "grow-once":  # grow, unless an earlier run was stopped: then steady
    mode = "steady" if os.path.exists(rec) else "grow"
if mode == "grow":  # STEP_MB more every 100 ms, for ever
    while True:
        hold.append(block(args[0] * MB))
        time.sleep(0.1)
elif mode == "fds":  # one more descriptor every 100 ms, up to N, then held
    while len(hold) < args[0]:
        hold.append(os.open("/dev/null", os.O_RDONLY))
        time.sleep(0.1)
    while True:
        time.sleep(1000)
elif mode == "steady":  # MB once, then nothing
    hold.append(block(args[0] * MB))
    while True:
        time.sleep(1000)
elif mode == "spike":  # HIGH_MB for HIGH_MS, then nothing for LOW_MS, again and again
    while True:
        b = block(args[0] * MB)
        time.sleep(args[1] / 1000)
        del b
        time.sleep(args[2] / 1000)
'''


def leaker(h):
    p = h.path("leaker.py")
    p.write_text(LEAKER)
    return p


def command(h, mode, *args):
    return f"/usr/bin/python3 {q(leaker(h))} {mode} {q(h.path('rec'))} " + \
        " ".join(str(a) for a in args)


def terms(h):
    """The pids that recorded their SIGTERM."""
    try:
        text = h.path("rec").read_text()
    except FileNotFoundError:
        return []
    return [int(line.split()[1]) for line in text.splitlines() if line.startswith("TERM ")]


def status(sup, name):
    r = request(sup.control_path, b"status\n")
    assert r["ok"], r
    return {s["name"]: s for s in r["services"]}[name]


def wait_samples(sup, name, n, timeout=30):
    """Waits until the service's current run has had N samples; its status then."""
    return wait_for(lambda: (lambda s: s if s["leak"]["samples"] >= n else None)(
        status(sup, name)), timeout, f"{n} leak samples of {name}", interval=0.05)


def test_memory_leak_restarts_the_service_gracefully(warden):
    h = warden
    sup = Sup(h, f"""
        [grow]
        command = {command(h, "grow-once", 2)}
        leak_memory = 40M
        leak_interval = 100ms
        leak_sustain = 1s
        leak_suspect_samples = 0
        on_leak = restart
        restart = never
        """)
    first = sup.wait_event("service.ready", "grow")["pid"]
    leak = sup.wait_event("service.leak", "grow", timeout=60)
    assert leak["pid"] == first, leak
    assert leak["resource"] == "memory"
    assert leak["limit"] == 40 * MB
    assert leak["value"] > 40 * MB and leak["first"] > 40 * MB, leak
    assert leak["value"] >= leak["first"], leak
    assert leak["sustained_ms"] >= 1000, leak
    # Every 100 ms or later over at least 1 s: at most 11 samples, at least 2.
    assert 2 <= leak["samples"] <= 11, leak
    assert leak["trend_per_min"] > 0, leak
    assert leak["processes"] == 1, leak
    assert leak["action"] == "restart"
    # The restart: stop_signal (recorded, exit 0), then a new run; no SIGKILL.
    stopping = sup.wait_event("service.stopping", "grow")
    assert stopping["pid"] == first and stopping["reason"] == "memory leak", stopping
    exited = sup.wait_event("service.exited", "grow")
    assert exited["pid"] == first and exited["code"] == 0 and exited["signal"] is None, exited
    second = sup.wait_event("service.ready", "grow", count=2)["pid"]
    assert second != first
    assert terms(h) == [first]
    assert not sup.select("service.killed"), sup.select("service.killed")
    assert not sup.select("service.failed"), sup.select("service.failed")
    # One leak for that run, however long it stayed over before it stopped.
    assert len(sup.select("service.leak", "grow", pid=first)) == 1
    # The new run (steady: it finds the record of the first) starts its watch afresh: its
    # own samples, no breach carried over, and it stays.
    st = wait_samples(sup, "grow", 20)
    assert st["pid"] == second and st["restarts"] == 1 and st["state"] == "running", st
    mem = st["leak"]["memory"]
    assert mem["value"] < 40 * MB and mem["breaches"] == 0 and mem["leak"] is False, st
    assert len(sup.select("service.leak")) == 1
    assert sup.stop() == 0, sup.err()
    assert terms(h) == [first, second]


def test_fd_leak_trips_once_a_breach_without_restart(warden):
    h = warden
    sup = Sup(h, f"""
        [fds]
        command = {command(h, "fds", 40)}
        leak_fds = 20
        leak_interval = 100ms
        leak_sustain = 500ms
        leak_suspect_samples = 0
        """)
    pid = sup.wait_event("service.ready", "fds")["pid"]
    leak = sup.wait_event("service.leak", "fds", timeout=60)
    assert leak["pid"] == pid and leak["resource"] == "fds", leak
    assert leak["limit"] == 20 and leak["value"] > 20 and leak["first"] > 20, leak
    assert leak["sustained_ms"] >= 500, leak
    assert leak["action"] == "none", leak
    # on_leak = none (the default): it keeps running, still over the limit, and the breach
    # is not said again.
    n = status(sup, "fds")["leak"]["samples"]
    st = wait_samples(sup, "fds", n + 20)
    assert st["state"] == "running" and st["pid"] == pid, st
    fds = st["leak"]["fds"]
    assert fds["limit"] == 20 and fds["value"] >= 40, fds
    assert fds["leak"] is True and fds["breaches"] == 1 and fds["over_ms"] >= 2000, fds
    assert len(sup.select("service.leak")) == 1, sup.select("service.leak")
    assert not sup.select("service.stopping", "fds")
    assert terms(h) == []
    assert sup.stop() == 0, sup.err()


def test_steady_service_never_trips(warden):
    h = warden
    sup = Sup(h, f"""
        [steady]
        command = {command(h, "steady", 20)}
        leak_memory = 64M
        leak_fds = 16
        leak_interval = 100ms
        leak_sustain = 500ms
        leak_suspect_samples = 5
        on_leak = restart
        """)
    pid = sup.wait_event("service.ready", "steady")["pid"]
    # Forty samples: a window eight times leak_sustain.
    st = wait_samples(sup, "steady", 40)
    assert st["state"] == "running" and st["pid"] == pid, st
    w = st["leak"]
    assert w["interval_ms"] == 100 and w["sustain_ms"] == 500 and w["on_leak"] == "restart"
    assert w["processes"] == 1 and w["sampled_ms_ago"] is not None
    assert w["memory"]["limit"] == 64 * MB and w["fds"]["limit"] == 16, w
    assert 20 * MB < w["memory"]["value"] < 64 * MB, w
    assert 3 <= w["fds"]["value"] < 16, w
    for r in ("memory", "fds"):
        assert w[r]["over_ms"] is None and w[r]["breaches"] == 0, w
        assert w[r]["leak"] is False and w[r]["suspected"] is False, w
    assert not sup.select("service.leak") and not sup.select("service.leak_suspected")
    assert not sup.select("service.stopping")
    assert terms(h) == []
    assert sup.stop() == 0, sup.err()


def test_spikes_shorter_than_sustain_do_not_trip(warden):
    h = warden
    sup = Sup(h, f"""
        [spiky]
        command = {command(h, "spike", 80, 300, 700)}
        leak_memory = 48M
        leak_interval = 100ms
        leak_sustain = 2s
        leak_suspect_samples = 0
        on_leak = restart
        """)
    pid = sup.wait_event("service.ready", "spiky")["pid"]
    # Over the limit again and again, each time for less than leak_sustain.
    st = wait_for(lambda: (lambda s: s if s["leak"]["memory"]["breaches"] >= 4 else None)(
        status(sup, "spiky")), 60, "four spikes over leak_memory", interval=0.05)
    assert st["pid"] == pid and st["state"] == "running", st
    assert not sup.select("service.leak"), sup.select("service.leak")
    assert not sup.select("service.stopping")
    assert terms(h) == []
    assert sup.stop() == 0, sup.err()


def test_monotonic_growth_below_the_limit_is_suspected_once(warden):
    h = warden
    sup = Sup(h, f"""
        [slow]
        command = {command(h, "grow", 1)}
        leak_memory = 2G
        leak_interval = 200ms
        leak_suspect_samples = 5
        on_leak = restart
        """)
    pid = sup.wait_event("service.ready", "slow")["pid"]
    ev = sup.wait_event("service.leak_suspected", "slow", timeout=60)
    assert ev["pid"] == pid and ev["resource"] == "memory", ev
    assert ev["samples"] == 5, ev
    assert ev["limit"] == 2048 * MB and ev["value"] < 2048 * MB, ev
    # Five samples that each grew: four steps of about 2 MB (1 MB each 100 ms).
    assert ev["growth"] > 0 and ev["window_ms"] >= 800, ev
    assert ev["trend_per_min"] > 0, ev
    # Once a run: it keeps growing, and nothing more is said, nor done, below the limit.
    n = status(sup, "slow")["leak"]["samples"]
    st = wait_samples(sup, "slow", n + 10)
    assert st["pid"] == pid and st["state"] == "running", st
    assert st["leak"]["memory"]["suspected"] is True, st
    assert st["leak"]["memory"]["growing_samples"] >= 5, st
    assert len(sup.select("service.leak_suspected")) == 1
    assert not sup.select("service.leak") and not sup.select("service.stopping")
    assert sup.stop() == 0, sup.err()


def test_no_timer_while_the_service_does_not_run(warden):
    """A watched service that has ended is not sampled: warden does not wake up."""
    h = warden
    sup = Sup(h, f"""
        [brief]
        command = /bin/true
        leak_memory = 1G
        leak_interval = 10ms
        leak_sustain = 10ms
        restart = never
        [idle]
        command = sleep 60
        """)
    sup.wait_event("service.finished", "brief")
    sup.wait_event("service.ready", "idle")
    wait_blocked(sup.run.pid, "epoll", desc="warden waiting in its loop")
    before = switches(sup.run.pid)
    time.sleep(1.0)  # the window in which nothing may happen: 100 samples' worth
    after = switches(sup.run.pid)
    assert after == before, f"warden woke up {after - before} time(s) with nothing to sample"
    st = status(sup, "brief")
    assert st["state"] == "exited" and st["leak"]["memory"]["limit"] == 1 << 30, st
    assert sup.stop() == 0, sup.err()


def test_status_omits_leak_without_the_keys(warden_sub):
    sup = Sup(warden_sub, """
        [plain]
        command = sleep 60
        """)
    sup.wait_event("service.ready", "plain")
    assert "leak" not in status(sup, "plain")
    assert sup.stop() == 0, sup.err()


# --- settings -----------------------------------------------------------------------------

def check(tmp_path, text):
    p = tmp_path / "w.conf"
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p, run_direct(["--check", "-c", str(p)])


SIZE_HINT = "(expected a size above 0: bytes, or a whole number with K, M or G, e.g. 512M)"

# (lines after "[web]\ncommand = sleep 1\n", line of the error, the exact message after it)
ERRORS = {
    "memory-unit": ("leak_memory = 12X", 3, f"invalid leak_memory '12X' {SIZE_HINT}"),
    "memory-lower-unit": ("leak_memory = 512m", 3, f"invalid leak_memory '512m' {SIZE_HINT}"),
    "memory-decimal": ("leak_memory = 1.5G", 3, f"invalid leak_memory '1.5G' {SIZE_HINT}"),
    "memory-zero": ("leak_memory = 0", 3, f"invalid leak_memory '0' {SIZE_HINT}"),
    "memory-negative": ("leak_memory = -1M", 3, f"invalid leak_memory '-1M' {SIZE_HINT}"),
    "memory-overflow": ("leak_memory = 17179869184G", 3,
                        f"invalid leak_memory '17179869184G' {SIZE_HINT}"),
    "memory-empty": ("leak_memory =", 3, f"invalid leak_memory '' {SIZE_HINT}"),
    "fds-zero": ("leak_fds = 0", 3,
                 "invalid leak_fds '0' (expected a number of descriptors, 1 or more)"),
    "fds-word": ("leak_fds = many", 3,
                 "invalid leak_fds 'many' (expected a number of descriptors, 1 or more)"),
    "interval-short": ("leak_memory = 1G\nleak_interval = 5ms", 4,
                       "invalid leak_interval '5ms' (expected at least 10ms)"),
    "interval-word": ("leak_memory = 1G\nleak_interval = soon", 4,
                      "invalid duration 'soon' for leak_interval (expected e.g. 500ms, 10s, 2m)"),
    "sustain-word": ("leak_memory = 1G\nleak_sustain = 5x", 4,
                     "invalid duration '5x' for leak_sustain (expected e.g. 500ms, 10s, 2m)"),
    "suspect-two": ("leak_fds = 10\nleak_suspect_samples = 2", 4,
                    "invalid leak_suspect_samples '2' (expected 0 for none, or a number of "
                    "samples from 3 to 1000)"),
    "suspect-big": ("leak_fds = 10\nleak_suspect_samples = 1001", 4,
                    "invalid leak_suspect_samples '1001' (expected 0 for none, or a number of "
                    "samples from 3 to 1000)"),
    "on-leak": ("leak_fds = 10\non_leak = kill", 4,
                "invalid on_leak 'kill' (expected restart or none)"),
    "duplicate": ("leak_fds = 10\nleak_fds = 20", 4, "duplicate key 'leak_fds' in [web]"),
    "typo": ("leak_memroy = 1G", 3, "unknown key 'leak_memroy' in [web] "
             "(did you mean 'leak_memory'?)"),
    # Settings that only fit together: the error names the service's section.
    "sustain-shorter": ("leak_memory = 1G\nleak_interval = 200ms\nleak_sustain = 100ms", 1,
                        "service [web]: leak_sustain (100 ms) is shorter than leak_interval "
                        "(200 ms)"),
    "sustain-default-shorter": ("leak_fds = 100\nleak_interval = 10m", 1,
                                "service [web]: leak_sustain (300000 ms) is shorter than "
                                "leak_interval (600000 ms)"),
    "interval-without-limit": ("leak_interval = 1s", 1,
                               "service [web]: leak_interval needs leak_memory or leak_fds"),
    "on-leak-without-limit": ("on_leak = restart", 1,
                              "service [web]: on_leak needs leak_memory or leak_fds"),
    "suspect-without-limit": ("leak_suspect_samples = 5", 1,
                              "service [web]: leak_suspect_samples needs leak_memory or "
                              "leak_fds"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_settings_are_refused(tmp_path, case):
    lines, line, msg = ERRORS[case]
    p, r = check(tmp_path, "[web]\ncommand = sleep 1\n" + lines + "\n")
    assert r.returncode == EXIT_CONFIG, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == ""
    assert r.stderr == f"warden: {p}:{line}: {msg}\n"


@pytest.mark.parametrize("size", ["1048576", "64K", "512M", "2G", "18446744073709551615"])
def test_sizes_accepted(tmp_path, size):
    p, r = check(tmp_path, f"""
        [web]
        command = sleep 1
        leak_memory = {size}
        leak_fds = 1
        leak_interval = 10ms
        leak_sustain = 10ms
        leak_suspect_samples = 0
        on_leak = none
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{p}: configuration ok, 1 service\n", r.stdout


def test_bad_setting_starts_nothing(warden_pid1):
    h = warden_pid1
    mark = h.path("started")
    sup = Sup(h, f"""
        [first]
        command = touch {q(mark)}
        [web]
        command = sleep 1
        leak_memory = 1G
        on_leak = kill
        """)
    assert sup.wait(15) == EXIT_CONFIG, sup.err()
    assert sup.err() == (f"warden: {sup.conf_path}:6: invalid on_leak 'kill' "
                         f"(expected restart or none)\n"), sup.err()
    assert not mark.exists()
    assert not os.path.exists(sup.events_path) or \
        not [e for e in sup.all_events() if e["event"].startswith("service.")]
