# SPDX-License-Identifier: MIT
"""Init mode with the settings of supervisor mode: --ready, --shutdown-delay, and
`warden -c FILE -- COMMAND` (COMMAND is the service main, FILE's [warden] and [main]
applied, options on the command line winning), `--check -c FILE -- COMMAND`; bad files
refused with the file, line and reason before anything starts."""

import json
import os
import signal
import textwrap

import pytest

from conftest import USAGE_HINT, helper, q, read_signals, run_direct, sh, wait_for
from ctllib import run_ctl
from svlib import EXIT_CONFIG, poll_events, select

pytestmark = pytest.mark.timeout(120)


def write(h, name, text):
    p = h.path(name)
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def start(h, args, command):
    """warden --events EV ARGS -- COMMAND; returns (run, events path)."""
    ev = h.path(f"events{h.n + 1}")
    return h.start(["--events", ev] + list(args) + ["--"] + list(command)), ev


def wait_event(run, ev, event, **fields):
    def pred():
        got = select(poll_events(ev), event, **fields)
        if got:
            return got[0]
        if not run.running():
            raise AssertionError(f"warden exited ({run.status()}) before {event}: "
                                 f"{run.err()[-2000:]!r}")
        return None
    return wait_for(pred, 15, f"{event} {fields}")


def test_file_settings_apply_to_the_command(warden):
    out = warden.path("env.out")
    conf = write(warden, "init.conf", f"""
        [warden]
        shutdown_delay = 700ms
        [main]
        environment = GREETING=hello
        directory = {warden.tmp}
        """)
    r, ev = start(warden, ["-c", conf], sh(f'echo "$GREETING $PWD" > {q(out)}'))
    assert r.wait(20) == 0, r.err()
    assert out.read_text() == f"hello {warden.tmp}\n"
    st = select(poll_events(ev), "warden.started")[0]
    assert st["mode"] == "init" and st["config"] == str(conf) and st["services"] == 1, st


def test_command_line_wins_over_the_file(warden):
    """[warden] shutdown_delay = 60s in the file, --shutdown-delay 300ms given: 300ms."""
    conf = write(warden, "init.conf", """
        [warden]
        shutdown_delay = 60s
        """)
    log, ready = warden.path("rec.log"), warden.path("rec.ready")
    r, ev = start(warden, ["--shutdown-delay", "300ms", "-c", conf],
                  [helper("sigrecord"), "-r", ready, log])
    wait_for(ready.exists, 15, "the recorder to be ready")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
    started = select(poll_events(ev), "shutdown.started")[0]
    assert started["delay_ms"] == 300, started
    assert read_signals(log) == [signal.SIGTERM]


def test_file_delay_applies_without_the_option(warden):
    conf = write(warden, "init.conf", """
        [warden]
        shutdown_delay = 400ms
        """)
    log, ready = warden.path("rec.log"), warden.path("rec.ready")
    r, ev = start(warden, ["-c", conf], [helper("sigrecord"), "-r", ready, log])
    wait_for(ready.exists, 15, "the recorder to be ready")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
    assert select(poll_events(ev), "shutdown.started")[0]["delay_ms"] == 400


def test_main_stop_signal_replaces_the_forwarded_request(warden):
    """With stop_signal in [main], a stop request reaches the command as that signal."""
    conf = write(warden, "init.conf", """
        [main]
        stop_signal = USR1
        """)
    log, ready = warden.path("rec.log"), warden.path("rec.ready")
    r, _ = start(warden, ["-c", conf], [helper("sigrecord"), "-x", "USR1", "-r", ready, log])
    wait_for(ready.exists, 15, "the recorder to be ready")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0
    assert read_signals(log) == [signal.SIGUSR1]


def test_ready_option_waits_for_the_command(warden):
    go = warden.path("go")
    sock = warden.path("ctl.sock")
    r, ev = start(warden, ["--ready", "fd:3", "--control", sock],
                  sh(f"while [ ! -e {q(go)} ]; do sleep 0.02; done; echo >&3; exec sleep 60"))
    wait_event(r, ev, "service.starting", service="main")
    wait_for(sock.exists, 15, "the control socket")
    st = json.loads(run_ctl(["--control", sock, "status", "--json"]).stdout)
    assert st["services"][0]["state"] == "starting", st
    assert not select(poll_events(ev), "service.ready")
    go.touch()
    wait_event(r, ev, "service.ready", service="main")
    st = json.loads(run_ctl(["--control", sock, "status", "--json"]).stdout)
    assert st["services"][0]["state"] == "running", st
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 128 + signal.SIGTERM


def test_ready_from_the_file(warden):
    go = warden.path("go")
    conf = write(warden, "init.conf", """
        [main]
        ready = fd:3
        ready_timeout = 60s
        """)
    r, ev = start(warden, ["-c", conf],
                  sh(f"while [ ! -e {q(go)} ]; do sleep 0.02; done; echo >&3; exec sleep 60"))
    wait_event(r, ev, "service.starting", service="main")
    assert not select(poll_events(ev), "service.ready")
    go.touch()
    wait_event(r, ev, "service.ready", service="main")
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 128 + signal.SIGTERM


@pytest.mark.parametrize("text,line,reason", [
    ("[main]\ncommand = /bin/true\n", 2,
     "[main] may not set command: it runs the COMMAND given after -- on the command line"),
    ("[warden]\ngrace = 1s\n[web]\ncommand = x\n", 3,
     "[web]: with a COMMAND (-c FILE -- COMMAND) the file configures only [warden] and "
     "[main], the service that runs COMMAND"),
    ("[main]\nessential = no\n", 2,
     "[main] may not set essential: init mode's COMMAND always is (warden exits with it)"),
    ("[main]\nlog_format = json\n", 2,
     "log_format in [main]: init mode's COMMAND writes to warden's own stdout and stderr, "
     "not captured"),
    ("[main]\n[main]\n", 2, "duplicate section [main] (first at line 1)"),
    ("[main]\nafter = db\n", 2, "service [main] is after 'db', which is not a service"),
    ("[warden]\nshutdown_delay = soon\n", 2,
     "invalid duration 'soon' for shutdown_delay (expected e.g. 500ms, 10s, 2m)"),
    ("[main]\nwatchdog = 1s\n", 1,
     "service [main]: watchdog needs ready = notify (in [main] or --ready notify)"),
])
@pytest.mark.parametrize("check", [False, True])
def test_bad_file_is_refused_before_anything_starts(tmp_path, text, line, reason, check):
    conf = tmp_path / "init.conf"
    conf.write_text(text)
    marker = tmp_path / "ran"
    r = run_direct((["--check"] if check else []) + ["-c", conf, "--", "touch", marker])
    assert r.returncode == EXIT_CONFIG, r
    assert r.stderr == f"warden: {conf}:{line}: {reason}\n"
    assert r.stdout == "" and not marker.exists()


def test_watchdog_in_file_with_ready_option_is_valid(tmp_path):
    conf = tmp_path / "init.conf"
    conf.write_text("[main]\nwatchdog = 1s\n")
    r = run_direct(["--ready", "notify", "--check", "-c", conf, "--", "true"])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{conf}: configuration ok for init mode (service main runs true)\n"


def test_check_with_command(tmp_path):
    conf = tmp_path / "init.conf"
    conf.write_text("[warden]\nshutdown_delay = 5s\n[main]\nstop_timeout = 3s\n")
    marker = tmp_path / "ran"
    r = run_direct(["--check", "-c", conf, "--", "touch", marker])
    assert r.returncode == 0 and r.stderr == "", r
    assert r.stdout == f"{conf}: configuration ok for init mode (service main runs touch)\n"
    assert not marker.exists()


def test_without_command_the_file_is_supervisor_mode(tmp_path):
    conf = tmp_path / "init.conf"
    conf.write_text("[main]\nstop_timeout = 3s\n")
    r = run_direct(["--check", "-c", conf])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: {conf}:1: service [main] has no command\n"


@pytest.mark.parametrize("args,msg", [
    (["--ready", "maybe", "--", "true"],
     "--ready: invalid ready 'maybe' (expected none, notify, fd:N, exec:COMMAND or "
     "tcp:HOST:PORT)"),
    (["--ready", "fd:1", "--", "true"], "--ready: invalid ready 'fd:1': fd:N needs N from 3 "
     "to 1023"),
    (["--shutdown-delay", "later", "--", "true"], "invalid duration 'later' for --shutdown-delay"),
    (["--shutdown-delay", "1s", "-c", "/nonexistent.conf"],
     "--shutdown-delay applies to a COMMAND, not with -c"),
    (["--ready", "notify", "-c", "/nonexistent.conf"],
     "--ready applies to a COMMAND, not with -c"),
])
def test_bad_options(args, msg):
    r = run_direct(args)
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: {msg}\n{USAGE_HINT}\n"


def test_reload_refused_in_init_mode_with_a_file(warden):
    conf = write(warden, "init.conf", "[main]\nstop_timeout = 5s\n")
    sock = warden.path("ctl.sock")
    r, ev = start(warden, ["-c", conf, "--control", sock], ["sleep", "60"])
    wait_event(r, ev, "service.ready", service="main")
    wait_for(sock.exists, 15, "the control socket")
    got = run_ctl(["--control", sock, "reload"])
    assert got.returncode == 1 and "init mode does not reload a config file" in got.stderr, got
    assert r.running()
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 128 + signal.SIGTERM
    assert os.path.exists(conf)
