# SPDX-License-Identifier: MIT
"""Signals in supervisor mode, as warden(7) documents them for both modes: TERM, INT and
QUIT are stop requests, a second one forces the shutdown; forward_signals passes the
others on (names or numbers), a HUP listed there is forwarded instead of reloading;
signals nobody asks for are dropped and said so; bad forward_signals values fail the
check."""

import signal

import pytest

from conftest import helper, q, read_signals, run_direct, wait_for
from svlib import EXIT_CONFIG, EXIT_ESCALATED, Sup, select

pytestmark = pytest.mark.timeout(60)

RTMIN = 34


def recorder(h, name, *args):
    """A service command: sigrecord NAME, ready once NAME.ready exists."""
    return " ".join([helper("sigrecord")] + [str(a) for a in args] +
                    ["-r", q(h.path(name + ".ready")), q(h.path(name + ".log"))])


def wait_ready(h, *names):
    wait_for(lambda: all(h.path(n + ".ready").exists() for n in names), 10,
             f"{names} to be ready")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_stop_requests(warden, sig):
    """Each of TERM, INT and QUIT shuts down: every service gets its stop_signal."""
    h = warden
    sup = Sup(h, f"""
        [a]
        command = {recorder(h, "a", "-x", "TERM")}
        [b]
        command = {recorder(h, "b", "-x", "USR2")}
        stop_signal = USR2
        """)
    wait_ready(h, "a", "b")
    assert sup.stop(sig=sig) == 0, sup.err()
    assert read_signals(h.path("a.log"))[0] == signal.SIGTERM
    assert read_signals(h.path("b.log"))[0] == signal.SIGUSR2
    (sd,) = sup.select("shutdown.started")
    assert sd["reason"] == sig.name and sd["requested"] is True, sd


def test_second_quit_forces(warden):
    h = warden
    sup = Sup(h, f"""
        [stubborn]
        command = {recorder(h, "stubborn", "-x", "0")}
        stop_timeout = 60s
        """)
    wait_ready(h, "stubborn")
    sup.kill(signal.SIGQUIT)
    # The stop signal, and SIGCONT after it (a stopped process would not see it).
    wait_for(lambda: read_signals(h.path("stubborn.log")) == [15, 18], 10, "the stop signal")
    assert sup.running()
    sup.kill(signal.SIGQUIT)
    assert sup.wait(10) == EXIT_ESCALATED, sup.err()
    ex = sup.select("service.exited", "stubborn")
    assert ex and ex[0]["signal"] == "SIGKILL", ex
    assert "SIGQUIT again: killing every process" in sup.err(), sup.err()


def test_forward_signals(warden):
    """forward_signals passes the signals listed on, by name or number; the others go to
    the services that list them, not to all."""
    h = warden
    sup = Sup(h, f"""
        [a]
        command = {recorder(h, "a")}
        forward_signals = USR1 WINCH RTMIN+2
        [b]
        command = {recorder(h, "b")}
        forward_signals = 12 sigwinch
        [c]
        command = {recorder(h, "c")}
        """)
    wait_ready(h, "a", "b", "c")
    for sig, want in ((signal.SIGUSR1, {"a": [10], "b": [], "c": []}),
                      (signal.SIGUSR2, {"a": [10], "b": [12], "c": []}),
                      (signal.SIGWINCH, {"a": [10, 28], "b": [12, 28], "c": []}),
                      (RTMIN + 2, {"a": [10, 28, RTMIN + 2], "b": [12, 28], "c": []})):
        sup.kill(sig)
        wait_for(lambda: all(read_signals(h.path(n + ".log")) == w for n, w in want.items()),
                 10, f"{sig} at {want}")
    assert sup.stop() == 0, sup.err()
    fwd = sup.select("signal.forwarded")
    assert [(e["service"], e["received"]) for e in fwd] == [
        ("a", "SIGUSR1"), ("b", "SIGUSR2"), ("a", "SIGWINCH"), ("b", "SIGWINCH"),
        ("a", "SIGRTMIN+2")], fwd
    for e in fwd:
        assert e["target"] == "process" and e["signal"] == e["received"], e
        assert e["pid"] == select(sup.events(), "service.starting", e["service"])[0]["pid"]
    assert read_signals(h.path("c.log")) == [15]


def test_forwarded_hup_does_not_reload(warden_pid1):
    h = warden_pid1
    conf = f"""
        [svc]
        command = {recorder(h, "svc")}
        forward_signals = HUP
        """
    sup = Sup(h, conf)
    wait_ready(h, "svc")
    sup.write(conf + "\n[other]\ncommand = sleep 30\n")
    sup.kill(signal.SIGHUP)
    wait_for(lambda: read_signals(h.path("svc.log")) == [1], 10, "HUP at the service")
    assert not sup.select("config.reloaded") and not sup.select("service.starting", "other")
    assert sup.stop() == 0, sup.err()


def test_forwarded_to_a_service_not_running(warden_pid1):
    h = warden_pid1
    sup = Sup(h, """
        [crash]
        command = false
        forward_signals = USR1
        restart_delay = 30s
        [keeper]
        command = sleep 30
        """)
    sup.wait_event("service.backoff", "crash")
    sup.kill(signal.SIGUSR1)
    d = sup.wait_event("signal.dropped")
    assert d["received"] == "SIGUSR1" and d["service"] is None, d
    assert d["reason"] == "no service that forwards it is running", d
    assert sup.stop() == 0


BAD = [
    ("TERM", "forward_signals: TERM is a stop request to warden (stop_signal says what the "
             "service gets)"),
    ("USR1 SIGINT", "forward_signals: SIGINT is a stop request to warden"),
    ("3", "forward_signals: 3 is a stop request to warden"),
    ("CHLD", "forward_signals: SIGCHLD is warden's own (it reaps)"),
    ("USR1 NOPE", "unknown signal 'NOPE' for forward_signals"),
    ("KILL", "unknown signal 'KILL' for forward_signals"),
    ("65", "unknown signal '65' for forward_signals"),
    ("'unterminated", "invalid forward_signals: unterminated single quote"),
]


@pytest.mark.parametrize("value,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_forward_signals(tmp_path, value, msg):
    p = tmp_path / "w.conf"
    p.write_text(f"[svc]\ncommand = sleep 1\nforward_signals = {value}\n")
    r = run_direct(["--check", "-c", str(p)])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr.startswith(f"warden: {p}:3: {msg}"), r.stderr
