# SPDX-License-Identifier: MIT
"""--events: JSON lines, "ts" and "event" first, the sequence of a simple run. Init mode
reports its command as the service "main", with the events of any service."""

import datetime
import os
import stat

import pytest

from conftest import TS_RE, helper, q, read_events, sh

pytestmark = pytest.mark.timeout(60)


def parse_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def check_sequence(warden, r, evs, cmd, code):
    names = [e["event"] for e in evs]
    end = "service.finished" if code == 0 else "service.failed"
    want = ["warden.started", "cgroup.mode", "service.starting", "service.ready",
            "service.exited", end, "shutdown.started", "shutdown.finished"]
    assert names == want, names
    assert evs[1]["mode"] in ("cgroup", "process-group") and evs[1]["reason"]
    sd = evs[names.index("shutdown.started")]
    assert sd["reason"] == "main process exited" and sd["pending"] == 0
    assert sd["requested"] is False

    st = evs[0]
    assert isinstance(st["version"], str) and st["version"]
    assert st["command"] == cmd
    assert st["mode"] == "init" and st["config"] is None and st["services"] == 1
    if warden.pid1:
        assert st["pid"] == 1 and st["pid1"] is True and st["subreaper"] is False
    else:
        assert st["pid"] == r.pid and st["pid1"] is False and st["subreaper"] is True

    ps = evs[2]
    assert ps["service"] == "main" and ps["from"] == "stopped" and ps["state"] == "starting"
    assert isinstance(ps["pid"], int) and ps["pid"] > 1
    assert evs[3]["service"] == "main" and evs[3]["state"] == "running"
    assert evs[5]["service"] == "main" and evs[5]["pid"] is None

    ex = [e for e in evs if e["event"] == "service.exited"][0]
    assert ex["service"] == "main"
    assert ex["pid"] == ps["pid"]
    assert ex["code"] == code and ex["signal"] is None and ex["core_dumped"] is False
    assert ex["status"] == f"exited with code {code}"
    assert ex["exit_code"] == code
    for k in ("utime_us", "stime_us", "maxrss_kb"):
        assert isinstance(ex[k], int) and not isinstance(ex[k], bool) and ex[k] >= 0, (k, ex[k])
    assert ex["maxrss_kb"] > 0

    fin = evs[-1]
    assert fin["exit_code"] == code
    assert fin["signalled"] == 0 and fin["killed"] == 0 and fin["escalated"] is False
    assert isinstance(fin["uptime_ms"], int) and 0 <= fin["uptime_ms"] <= r.elapsed * 1000 + 1000

    stamps = [parse_ts(e["ts"]) for e in evs]
    assert stamps == sorted(stamps), "timestamps go backwards"
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - stamps[0]).total_seconds()) < 120, "ts is not the current UTC time"


def test_simple_run_sequence(warden):
    ev = warden.path("events")
    cmd = ["sh", "-c", "exit 3"]
    r = warden.run(["--events", ev, "--"] + cmd)
    assert r.returncode == 3
    assert r.err() == "" and r.out() == ""
    check_sequence(warden, r, read_events(ev), cmd, 3)


def test_events_to_stderr(warden):
    cmd = ["sh", "-c", "exit 0"]
    r = warden.run(["--events", "stderr", "--"] + cmd)
    assert r.returncode == 0
    ev = warden.path("stderr.jsonl")
    ev.write_text(r.err())
    evs = read_events(ev)  # every stderr line must be an event
    check_sequence(warden, r, evs, cmd, 0)
    assert r.out() == ""


def test_events_to_fd(warden):
    ev = warden.path("events")
    cmd = [helper("fdlist")]
    prefix = sh(f'exec 7>{q(ev)}; exec "$@"') + ["sh"]
    r = warden.run(["--events=fd:7", "--"] + cmd, prefix=prefix)
    assert r.returncode == 0, r.err()
    assert r.out() == "0 1 2\n"
    check_sequence(warden, r, read_events(ev), cmd, 0)


def test_events_file_appended_and_mode(warden):
    ev = warden.path("events")
    r1 = warden.run(["--events", ev, "--", "true"], umask=0)
    assert r1.returncode == 0
    assert stat.S_IMODE(os.stat(ev).st_mode) == 0o644
    n1 = len(read_events(ev))
    r2 = warden.run(["--events", str(ev), "--", "false"], umask=0)
    assert r2.returncode == 1
    evs = read_events(ev)
    assert len(evs) == 2 * n1
    assert [e["event"] for e in evs].count("warden.started") == 2
    assert evs[-1]["event"] == "shutdown.finished" and evs[-1]["exit_code"] == 1


def test_events_never_truncate(warden):
    ev = warden.path("events")
    ev.write_text('{"ts":"2000-01-01T00:00:00.000000Z","event":"earlier"}\n')
    warden.run(["--events", ev, "--", "true"])
    evs = read_events(ev)
    assert evs[0]["event"] == "earlier" and evs[1]["event"] == "warden.started"


def test_event_too_long_is_replaced_whole(warden):
    """An event longer than warden's buffer (16 KiB) is never written cut: a short
    event.truncated, named by warden (libwarden knows no event names), stands in."""
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--", "true", "x" * 20000])
    assert r.returncode == 0, r.err()
    evs = read_events(ev)  # every line is whole JSON
    names = [e["event"] for e in evs]
    assert names[0] == "event.truncated", names
    assert evs[0]["original"] == "warden.started"
    assert set(evs[0]) == {"ts", "event", "original"}
    assert names[1:] == ["cgroup.mode", "service.starting", "service.ready", "service.exited",
                         "service.finished", "shutdown.started", "shutdown.finished"], names


def test_command_strings_escaped(warden):
    ev = warden.path("events")
    weird = ['quote"', "back\\slash", "tab\there", "new\nline", "ütf-8 ✓", "\x01\x1f", "", "/"]
    cmd = ["sh", "-c", "exit 0", "sh"] + weird
    r = warden.run(["--events", ev, "--"] + cmd)
    assert r.returncode == 0
    raw = ev.read_text()
    assert len(raw.splitlines()) == len(read_events(ev)), "an event spans several lines"
    evs = read_events(ev)
    assert evs[0]["command"] == cmd


def test_remapped_exit_in_events(warden):
    ev = warden.path("events")
    r = warden.run(["-e", "143", "--events", ev, "--"] + sh("kill -TERM $$"))
    assert r.returncode == 0
    evs = read_events(ev)
    (ex,) = [e for e in evs if e["event"] == "service.exited"]
    assert ex["exit_code"] == 143 and ex["signal"] == "SIGTERM" and ex["code"] is None
    assert ex["status"] == "killed by SIGTERM"
    assert evs[-1]["event"] == "shutdown.finished" and evs[-1]["exit_code"] == 0


def test_exec_failure_events(warden):
    """A command that cannot be executed: its process starts, exits 127, and the run
    fails with the reason, as a service's would."""
    ev = warden.path("events")
    r = warden.run(["--events", ev, "--", "/nonexistent/cmd"])
    assert r.returncode == 127
    evs = read_events(ev)
    names = [e["event"] for e in evs]
    assert names == ["warden.started", "cgroup.mode", "service.starting", "service.exited",
                     "service.failed", "shutdown.started", "shutdown.finished"], names
    assert evs[0]["command"] == ["/nonexistent/cmd"]
    for e in evs:
        if e["event"] in ("service.exited", "shutdown.finished"):
            assert e["exit_code"] == 127, e
    assert evs[4]["reason"] == "cannot execute" and evs[4]["from"] == "starting"
    assert r.err() == "warden: cannot execute '/nonexistent/cmd': No such file or directory\n"


def test_ts_format_regex():
    # The pattern the suite applies to every event.
    assert TS_RE.match("2024-05-01T12:34:56.123456Z")
    for bad in ("2024-05-01T12:34:56Z", "2024-05-01T12:34:56.123Z", "2024-05-01 12:34:56.123456Z",
                "2024-05-01T12:34:56.123456+00:00"):
        assert not TS_RE.match(bad)

