# SPDX-License-Identifier: MIT
"""Supervisor config: --check, and every kind of config error (file:line: problem, exit 125,
nothing started), as warden.conf(5) documents them."""

import os
import re
import textwrap

import pytest

from conftest import q, run_direct
from svlib import EXIT_CONFIG, Sup

pytestmark = pytest.mark.timeout(60)


def write(tmp_path, text, name="w.conf"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return p


def check(tmp_path, text, env=None):
    p = write(tmp_path, text)
    r = run_direct(["--check", "-c", str(p)], env=env)
    return p, r


# (config text, line of the error, regex the rest of the message must match)
ERRORS = {
    "unknown-key-suggested": ("""
        [web]
        comand = sleep 1
        """, 2, r"unknown key 'comand' in \[web\] \(did you mean 'command'\?\)"),
    "unknown-key-suggested-2": ("""
        [web]
        command = sleep 1
        restart_dealy = 1s
        """, 3, r"unknown key 'restart_dealy' in \[web\] \(did you mean 'restart_delay'\?\)"),
    "unknown-global-key-suggested": ("""
        [warden]
        grase = 1s
        [web]
        command = sleep 1
        """, 2, r"unknown key 'grase' in \[warden\] \(did you mean 'grace'\?\)"),
    "unknown-key-no-suggestion": ("""
        [web]
        command = sleep 1
        frobnicate = 1
        """, 3, r"unknown key 'frobnicate' in \[web\]$"),
    "bad-restart": ("""
        [web]
        command = sleep 1
        restart = sometimes
        """, 3, r"invalid restart 'sometimes' \(expected always, on-failure or never\)"),
    "bad-essential": ("""
        [web]
        command = sleep 1

        essential = maybe
        """, 4, r"invalid essential 'maybe'"),
    "bad-kill-group": ("""
        [web]
        command = sleep 1
        kill_group = sometimes
        """, 3, r"invalid kill_group 'sometimes'"),
    "bad-type": ("""
        [web]
        command = sleep 1
        type = forking
        """, 3, r"invalid type 'forking'"),
    "bad-log-format": ("""
        [web]
        command = sleep 1
        log_format = xml
        """, 3, r"invalid log_format 'xml'"),
    "bad-global-log-format": ("""
        [warden]
        log_format = xml
        [web]
        command = sleep 1
        """, 2, r"invalid log_format 'xml'"),
    "bad-umask": ("""
        [web]
        command = sleep 1
        umask = 0999
        """, 3, r"invalid umask '0999'"),
    "bad-start-limit": ("""
        [web]
        command = sleep 1
        start_limit = 0
        """, 3, r"invalid start_limit '0'"),
    "bad-ready": ("""
        [web]
        command = sleep 1
        ready = whenever
        """, 3, r"invalid ready 'whenever'"),
    "bad-ready-fd": ("""
        [web]
        command = sleep 1
        ready = fd:2
        """, 3, r"invalid ready 'fd:2'"),
    "bad-ready-fd-over-the-limit": ("""
        [web]
        command = sleep 1
        ready = fd:1024
        """, 3, r"invalid ready 'fd:1024': fd:N needs N from 3 to 1023$"),
    "forward-a-stop-request": ("""
        [web]
        command = sleep 1
        forward_signals = QUIT
        """, 3, r"forward_signals: QUIT is a stop request to warden"),
    "bad-shutdown-timeout": ("""
        [warden]
        shutdown_timeout = later
        [web]
        command = sleep 1
        """, 2, r"invalid duration 'later' for shutdown_timeout"),
    "bad-control": ("""
        [warden]
        control = relative.sock
        [web]
        command = sleep 1
        """, 2, r"control 'relative.sock' must be off or an absolute path under 108 bytes"),
    "bad-ready-tcp": ("""
        [web]
        command = sleep 1
        ready = tcp:127.0.0.1
        """, 3, r"invalid ready 'tcp:127.0.0.1'"),
    "bad-duration-unit": ("""
        [web]
        command = sleep 1
        stop_timeout = 10x
        """, 3, r"invalid duration '10x' for stop_timeout"),
    "bad-duration-negative": ("""
        [web]
        command = sleep 1
        restart_delay = -1s
        """, 3, r"invalid duration '-1s' for restart_delay"),
    "bad-duration-space": ("""
        [web]
        command = sleep 1
        ready_timeout = 1 s
        """, 3, r"invalid duration '1 s' for ready_timeout"),
    "bad-duration-dot": ("""
        [web]
        command = sleep 1
        restart_reset = 1.s
        """, 3, r"invalid duration '1\.s' for restart_reset"),
    "bad-duration-word": ("""
        [web]
        command = sleep 1
        start_limit_interval = soon
        """, 3, r"invalid duration 'soon' for start_limit_interval"),
    "bad-duration-max": ("""
        [web]
        command = sleep 1
        restart_delay_max = 1d
        """, 3, r"invalid duration '1d' for restart_delay_max"),
    "bad-grace": ("""
        [warden]
        grace = forever
        [web]
        command = sleep 1
        """, 2, r"invalid duration 'forever' for grace"),
    "unknown-signal": ("""
        [web]
        command = sleep 1
        stop_signal = FOO
        """, 3, r"unknown signal 'FOO' for stop_signal"),
    "unknown-signal-number": ("""
        [web]
        command = sleep 1
        stop_signal = 99
        """, 3, r"unknown signal '99' for stop_signal"),
    "missing-command": ("""
        [warden]
        grace = 1s

        [web]
        directory = /
        """, 4, r"service \[web\] has no command"),
    "empty-command": ("""
        [web]
        command =
        """, 2, r"empty command"),
    "unterminated-quote": ("""
        [web]
        command = sh -c 'echo hi
        """, 2, r"invalid command: unterminated single quote"),
    "cycle": ("""
        [a]
        command = sleep 1
        after = b
        [b]
        command = sleep 1
        after = c
        [c]
        command = sleep 1
        after = a
        """, 3, r"dependency cycle: a -> b -> c -> a"),
    "self-after": ("""
        [a]
        command = sleep 1
        after = a
        """, 3, r"service \[a\] is after itself"),
    "unknown-after": ("""
        [web]
        command = sleep 1
        after = db
        """, 3, r"service \[web\] is after 'db', which is not a service"),
    "unknown-user": ("""
        [web]
        command = sleep 1
        user = nosuchuser-wdn
        """, 3, r"unknown user 'nosuchuser-wdn' \(not in /etc/passwd\)"),
    "unknown-group": ("""
        [web]
        command = sleep 1
        group = nosuchgroup-wdn
        """, 3, r"unknown group 'nosuchgroup-wdn' \(not in /etc/group\)"),
    "duplicate-key": ("""
        [web]
        command = sleep 1
        command = sleep 2
        """, 3, r"duplicate key 'command' in \[web\]"),
    "duplicate-section": ("""
        [web]
        command = sleep 1
        [web]
        command = sleep 2
        """, 3, r"duplicate section \[web\] \(first at line 1\)"),
    "bad-name": ("""
        [web server]
        command = sleep 1
        """, 1, r"invalid service name \[web server\]"),
    "key-outside-section": ("""
        command = sleep 1
        [web]
        command = sleep 1
        """, 1, r"'command' is outside any section"),
    "watchdog-without-notify": ("""
        [web]
        command = sleep 1
        watchdog = 1s
        """, 1, r"service \[web\]: watchdog needs ready = notify"),
    "oneshot-always": ("""
        [init]
        type = oneshot
        restart = always
        command = true
        """, 1, r"service \[init\]: a oneshot cannot have restart = always"),
    "relative-directory": ("""
        [web]
        command = sleep 1
        directory = srv/www
        """, 3, r"directory 'srv/www' is not an absolute path"),
    "bad-environment": ("""
        [web]
        command = sleep 1
        environment = A=1 NOEQUALS
        """, 3, r"invalid environment entry 'NOEQUALS'"),
    "syntax": ("""
        [web]
        command = sleep 1
        this line has no equals sign
        """, 3, r"syntax error"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_check_reports_error_with_file_and_line(tmp_path, case):
    text, line, msg = ERRORS[case]
    p, r = check(tmp_path, text)
    assert r.returncode == EXIT_CONFIG, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    prefix = f"warden: {p}:{line}: "
    assert lines[0].startswith(prefix), f"want {prefix!r}..., got {lines[0]!r}"
    assert re.search(msg, lines[0][len(prefix):]), f"{lines[0]!r} does not match {msg!r}"


def test_check_no_service(tmp_path):
    p, r = check(tmp_path, """
        [warden]
        grace = 5s
        """)
    assert r.returncode == EXIT_CONFIG
    assert r.stderr.startswith(f"warden: {p}") and "no service" in r.stderr, r.stderr


def test_check_missing_file(tmp_path):
    p = tmp_path / "nope.conf"
    r = run_direct(["--check", "-c", str(p)])
    assert r.returncode == EXIT_CONFIG
    assert r.stderr == f"warden: {p}: No such file or directory\n"


def test_check_ok_counts_services(tmp_path):
    p, r = check(tmp_path, """
        # a comment
        ; another comment
        [warden]
        grace = 20s
        log_format = json

        [migrate]
        type = oneshot
        command = /bin/true --up

        [api]
        command = /bin/sleep 8080
        after = migrate
        ready = tcp:127.0.0.1:8080
        user = nobody
        environment = MODE=production "GREETING=hello world"
        essential = yes

        [worker]
        command = /bin/sleep 1
        after = api
        restart = always
        restart_delay = 1s
        stop_timeout = 30s
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{p}: configuration ok, 3 services\n"
    assert r.stderr == ""


def test_check_ok_singular(tmp_path):
    p, r = check(tmp_path, """
        [only]
        command = sleep 1
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{p}: configuration ok, 1 service\n"


def test_check_accepts_every_documented_form(tmp_path):
    """Every key with values of each documented form."""
    p, r = check(tmp_path, r"""
        [warden]
        grace = 1.5s
        log_format = raw

        [a]
        command = sh -c 'echo "a b"; echo c\ d' "x y" z\ w
        directory = /
        user = nobody
        group = 65534
        environment = A=1 "B=two words" C='x y'
        environment = D=4
        umask = 027
        restart = always
        restart_delay = 500ms
        restart_delay_max = 2m
        restart_reset = 1h
        start_limit = 5
        start_limit_interval = 250us
        essential = no
        type = simple
        ready = notify
        ready_timeout = 2
        watchdog = 0.5
        stop_signal = SIGINT
        stop_timeout = 10s
        kill_group = off
        log_format = json

        [b]
        command = true
        after = a
        type = oneshot
        restart = never
        essential = true
        kill_group = 0
        stop_signal = USR1

        [c]
        command = true
        after = a b
        ready = fd:3
        user = 0
        stop_signal = 15
        essential = 1
        kill_group = yes

        [d.e-f_9]
        command = true
        ready = exec:test -e /nonexistent
        restart = on-failure
        essential = false
        kill_group = on

        [g]
        command = true
        ready = tcp:localhost:1
        [h]
        command = true
        ready = tcp:[::1]:65535
        [i]
        command = true
        ready = none
        log_format = prefix
        """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{p}: configuration ok, 7 services\n"


def test_check_starts_nothing(tmp_path):
    mark = tmp_path / "started"
    p, r = check(tmp_path, f"""
        [web]
        command = touch {q(mark)}
        """)
    assert r.returncode == 0, r.stderr
    assert not mark.exists()


def test_semicolon_inside_value_is_not_a_comment(tmp_path):
    p, r = check(tmp_path, """
        [web]
        command = sh -c 'echo a; echo b'
        """)
    assert r.returncode == 0, r.stderr


# Config errors when running (not --check): exit 125 before starting anything.
RUN_ERRORS = ["unknown-key-suggested-2", "cycle", "unknown-user", "unknown-after",
              "unknown-signal", "bad-duration-unit", "missing-command"]


@pytest.mark.parametrize("case", RUN_ERRORS)
def test_run_with_bad_config_starts_nothing(warden_pid1, case):
    text, line, msg = ERRORS[case]
    mark = warden_pid1.path("started")
    # A good service first: it must not start.
    head = f"[first]\ncommand = touch {q(mark)}\n"
    sup = Sup(warden_pid1, head + textwrap.dedent(text).lstrip("\n"))
    assert sup.wait(15) == EXIT_CONFIG, sup.err()
    assert sup.run.status() == f"exited {EXIT_CONFIG}"
    prefix = f"warden: {sup.conf_path}:{line + 2}: "
    err = sup.err().splitlines()
    assert len(err) == 1 and err[0].startswith(prefix), (prefix, sup.err())
    assert re.search(msg, err[0][len(prefix):]), err
    assert not mark.exists()
    evs = sup.all_events() if os.path.exists(sup.events_path) else []
    assert not [e for e in evs if e["event"].startswith("service.")], evs


def test_run_missing_config_file(warden_pid1):
    p = warden_pid1.path("absent.conf")
    r = warden_pid1.run(["-c", p], timeout=15)
    assert r.returncode == EXIT_CONFIG
    assert r.err() == f"warden: {p}: No such file or directory\n"


@pytest.mark.parametrize("length", [199, 250, 4000, 65000])
def test_long_line_is_accepted(tmp_path, length):
    """Commands are long in real life; the documented bound is 64 KiB a line."""
    pre = "command = echo "
    p, r = check(tmp_path, "[web]\n" + pre + "x" * (length - len(pre)) + "\n")
    assert r.returncode == 0, f"a {length}-byte line: {r.stderr}"
    assert r.stdout == f"{p}: configuration ok, 1 service\n"


def test_line_over_64k_is_rejected(tmp_path):
    pre = "command = echo "
    p, r = check(tmp_path, "[web]\n" + pre + "x" * 70000 + "\n")
    assert r.returncode == EXIT_CONFIG
    assert r.stderr.startswith(f"warden: {p}:2: line too long"), r.stderr
