# SPDX-License-Identifier: MIT
"""Supervisor: how a service runs: command quoting, user/group (uid, gid, supplementary
groups), environment (repeatable, quoting, overrides), directory, umask, the descriptors
and signal state it gets."""

import os
import re

import pytest

from conftest import helper, wait_for
from svlib import Sup, script, wait_blocked

pytestmark = pytest.mark.timeout(60)

IDS = "grep -E '^(Uid|Gid|Groups|SigBlk|SigIgn):' /proc/self/status"


def run_one(h, body, env=None, **kw):
    """Runs one service (restart = never, raw log) to its end; returns its output lines."""
    sup = Sup(h, "[svc]\nrestart = never\nlog_format = raw\n" + body, verbose=False, env=env,
              **kw)
    code = sup.wait(15)
    assert code == 0, (code, sup.out(), sup.err())
    return sup.out().splitlines()


def status_fields(lines):
    out = {}
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            out[k] = v.split()
    return out


def test_command_quoting(warden_pid1):
    lines = run_one(warden_pid1, r"""command = printf '[%s]\n' "a b" 'c  d' e\ f "x\"y" 'it''s' plain
""")
    assert lines == ["[a b]", "[c  d]", "[e f]", '[x"y]', "[its]", "[plain]"], lines


def test_no_shell_unless_asked(warden_pid1):
    lines = run_one(warden_pid1, "command = echo $HOME; `id` *\n")
    assert lines == ["$HOME; `id` *"], lines


def test_user_nobody(warden):
    lines = run_one(warden, f"command = {IDS}\nuser = nobody\n")
    f = status_fields(lines)
    assert f["Uid"] == ["65534"] * 4, lines
    assert f["Gid"] == ["65534"] * 4, lines
    assert set(f["Groups"]) <= {"65534"}, lines


def test_user_and_group(warden_pid1):
    """group = overrides the primary group; the user's own primary group is then not added
    as a supplementary group (warden.conf(5): "unless group is given")."""
    lines = run_one(warden_pid1, f"command = {IDS}\nuser = nobody\ngroup = daemon\n")
    f = status_fields(lines)
    assert f["Uid"] == ["65534"] * 4, lines
    assert f["Gid"] == ["1"] * 4, lines
    assert "65534" not in f["Groups"], f"nobody's primary group kept with group = daemon: {lines}"


def test_group_only(warden_pid1):
    lines = run_one(warden_pid1, f"command = {IDS}\ngroup = daemon\n")
    f = status_fields(lines)
    assert f["Uid"] == ["0"] * 4 and f["Gid"] == ["1"] * 4, lines
    assert f["Groups"] in (["1"], []), lines


def test_numeric_user_not_in_passwd(warden_pid1):
    lines = run_one(warden_pid1, f"command = {IDS}\nuser = 12345\n")
    f = status_fields(lines)
    assert f["Uid"] == ["12345"] * 4 and f["Gid"] == ["12345"] * 4, lines
    assert set(f["Groups"]) <= {"12345"}, lines


def test_supplementary_groups_from_group_file(warden_pid1):
    """The groups that list the user are set (the file is warden's test hook WARDEN_GROUP)."""
    grp = warden_pid1.path("group")
    grp.write_text("root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"
                   "media:x:4242:someone,nobody\nvideo:x:4343:nobody\nother:x:4444:someone\n")
    lines = run_one(warden_pid1, f"command = {IDS}\nuser = nobody\n",
                    env={"WARDEN_GROUP": str(grp)})
    f = status_fields(lines)
    assert f["Uid"] == ["65534"] * 4 and f["Gid"] == ["65534"] * 4, lines
    assert sorted(f["Groups"]) == ["4242", "4343", "65534"], lines


def test_environment(warden_pid1):
    lines = run_one(warden_pid1, """command = env
environment = A=1 "B=two words" C='x  y' D=with\\ space
environment = E=5 EMPTY=
environment = INHERITED=overridden
""", env={"INHERITED": "from-warden", "KEPT": "kept"})
    env = {}
    counts = {}
    for line in lines:
        k, _, v = line.partition("=")
        env[k] = v
        counts[k] = counts.get(k, 0) + 1
    assert env["A"] == "1" and env["B"] == "two words" and env["C"] == "x  y"
    assert env["D"] == "with space" and env["E"] == "5" and env["EMPTY"] == ""
    assert env["INHERITED"] == "overridden" and counts["INHERITED"] == 1, lines
    assert env["KEPT"] == "kept"
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env


def test_environment_repeated_key_last_wins(warden_pid1):
    lines = run_one(warden_pid1, """command = env
environment = A=first
environment = A=second
""")
    vals = [x.partition("=")[2] for x in lines if x.startswith("A=")]
    assert vals == ["second"], f"A in the environment: {vals}"


def test_directory(warden_pid1):
    d = warden_pid1.path("work dir")
    d.mkdir()
    lines = run_one(warden_pid1, f"command = pwd\ndirectory = {d}\n")
    assert lines == [str(d)]


def test_directory_default_is_wardens(warden_pid1):
    lines = run_one(warden_pid1, "command = pwd\n", cwd="/")
    assert lines == ["/"]


def test_umask(warden_pid1):
    lines = run_one(warden_pid1, "command = sh -c umask\numask = 027\n")
    assert lines == ["0027"], lines


def test_umask_default_inherited(warden_pid1):
    lines = run_one(warden_pid1, "command = sh -c umask\n", umask=0o077)
    assert lines == ["0077"], lines


def test_user_directory_and_umask_together(warden_pid1):
    """Privileges dropped before the directory is entered: nobody cannot enter a 0700
    root-owned directory, which is a failed start (not warden's crash)."""
    d = warden_pid1.path("private")
    d.mkdir(mode=0o700)
    sup = Sup(warden_pid1, f"""
        [svc]
        command = true
        user = nobody
        directory = {d}
        restart = never
        """)
    assert sup.wait(15) != 0
    assert "service svc: cannot change directory" in sup.err(), sup.err()


def test_descriptors_and_signal_state(warden_pid1):
    """A service gets 0, 1, 2 (and its readiness descriptor), nothing that warden had open
    (config, events, notify sockets, other services' pipes), and a clean signal state."""
    fdlist = helper("fdlist")
    rd = script(warden_pid1, "rd.sh", f"""
        {fdlist}
        echo >&5
        exec sleep 30
        """)
    noti = script(warden_pid1, "noti.sh", f"""
        {fdlist}
        {IDS}
        exec sleep 30
        """)
    extra = os.open("/dev/null", os.O_RDONLY)
    try:
        sup = Sup(warden_pid1, f"""
            [plain]
            command = {fdlist}
            restart = never
            log_format = raw
            [withfd]
            command = {rd}
            ready = fd:5
            log_format = raw
            [noti]
            command = {noti}
            ready = notify
            log_format = raw
            """, verbose=False, pass_fds=(extra,))
    finally:
        os.close(extra)
    sup.wait_event("service.ready", "withfd")
    sup.wait_event("service.finished", "plain")
    wait_for(lambda: "SigIgn" in sup.out(), 10, "noti's output")
    assert sup.stop() == 0
    lines = sup.out().splitlines()
    fds = sorted(x for x in lines if re.fullmatch(r"[\d ]+", x))
    assert fds == ["0 1 2", "0 1 2", "0 1 2 5"], lines
    f = status_fields(lines)
    assert int(f["SigBlk"][0], 16) == 0 and int(f["SigIgn"][0], 16) == 0, lines


def test_relative_command_runs_in_directory(warden_pid1):
    d = warden_pid1.path("app")
    d.mkdir()
    (d / "hello.sh").write_text("#!/bin/sh\necho hello from $(pwd)\n")
    os.chmod(d / "hello.sh", 0o755)
    lines = run_one(warden_pid1, f"command = ./hello.sh\ndirectory = {d}\n")
    assert lines == [f"hello from {d}"], lines


def test_services_run_where_warden_started_but_warden_does_not(warden):
    """Without directory =, a service runs where warden was started; warden itself moves
    to /, holding no mount busy."""
    h = warden
    out = h.path("cwd")
    sup = Sup(h, f"""
        [svc]
        command = sh -c 'pwd > {out}; exec sleep 30'
        """, cwd=h.tmp)
    wait_for(lambda: out.exists() and out.read_text().endswith("\n"), 10, "the service's pwd")
    assert out.read_text().strip() == str(h.tmp)
    # warden moves to / after it has started the services: once it waits in its loop.
    wait_blocked(sup.run.pid, "epoll", desc="warden to wait in its loop")
    assert os.readlink(f"/proc/{sup.run.pid}/cwd") == "/"
    assert sup.stop() == 0
