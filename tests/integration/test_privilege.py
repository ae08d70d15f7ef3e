# SPDX-License-Identifier: MIT
"""Least privilege: supplementary_groups, capabilities, no_new_privileges, rlimit_*, umask
as the service sees them in /proc; bad values refused at load with the file, the line and
the reason; a start that fails before exec named by key, value and reason, counted as
warden's 125 (not the 126 of a command that could not be executed)."""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import WARDEN, run_direct, wait_for
from svlib import Sup

pytestmark = pytest.mark.timeout(60)

NOBODY = 65534
STATUS = "grep -E '^(Uid|Gid|Groups|NoNewPrivs|Cap[A-Za-z]+|Umask):' /proc/$$/status"


def run_one(h, body, **kw):
    """Runs one service (restart = never, raw log) to its end; returns its output lines."""
    sup = Sup(h, "[svc]\nrestart = never\nlog_format = raw\n" + body, verbose=False, **kw)
    code = sup.wait(15)
    assert code == 0, (code, sup.out(), sup.err())
    return sup.out().splitlines()


def fields(lines):
    out = {}
    for line in lines:
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.split()
    return out


def limits(lines):
    """/proc/PID/limits lines: {'Max open files': (soft, hard)}."""
    out = {}
    for line in lines:
        if line.startswith("Max "):
            name = line[:26].strip()
            parts = line[26:].split()
            out[name] = (parts[0], parts[1])
    return out


def test_everything_applied(warden):
    """nobody with two supplementary groups, two capabilities (every set: bounding,
    permitted, effective, inheritable, ambient), no_new_privs, limits and umask."""
    lines = run_one(warden, f"""command = sh -c "{STATUS}; cat /proc/$$/limits"
user = nobody
supplementary_groups = daemon 4321
capabilities = CAP_NET_BIND_SERVICE net_raw
no_new_privileges = yes
rlimit_nofile = 100:200
rlimit_core = infinity
rlimit_nproc = 50
rlimit_stack = 8388608:unlimited
umask = 027
""")
    f = fields(lines)
    assert f["Uid"] == [str(NOBODY)] * 4, lines
    assert f["Gid"] == [str(NOBODY)] * 4, lines
    assert sorted(f["Groups"]) == ["1", "4321"], lines  # daemon is gid 1
    # CAP_NET_RAW (13) and CAP_NET_BIND_SERVICE (10): 0x2400.
    for s in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f[s] == ["0000000000002400"], (s, lines)
    assert f["NoNewPrivs"] == ["1"], lines
    assert f["Umask"] == ["0027"], lines
    lim = limits(lines)
    assert lim["Max open files"] == ("100", "200"), lim
    assert lim["Max core file size"] == ("unlimited", "unlimited"), lim
    assert lim["Max processes"] == ("50", "50"), lim
    assert lim["Max stack size"] == ("8388608", "unlimited"), lim


def test_root_service_bounded_by_capabilities(warden_pid1):
    """A root service with capabilities keeps exactly those: its bounding set too, so
    that nothing it runs gets more."""
    lines = run_one(warden_pid1, f"""command = sh -c "{STATUS}"
capabilities = chown
""")
    f = fields(lines)
    assert f["Uid"] == ["0"] * 4, lines
    for s in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f[s] == ["0000000000000001"], (s, lines)
    assert f["NoNewPrivs"] == ["0"], lines


def test_no_capabilities_and_defaults(warden_pid1):
    """capabilities = none: nobody keeps nothing; without the keys, what root has."""
    lines = run_one(warden_pid1, f"""command = sh -c "{STATUS}"
user = nobody
capabilities = none
no_new_privileges = no
""")
    f = fields(lines)
    for s in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert f[s] == ["0000000000000000"], (s, lines)
    assert f["NoNewPrivs"] == ["0"], lines


def test_supplementary_groups_alone(warden_pid1):
    """supplementary_groups without user or group: warden's uid and gid, these groups."""
    lines = run_one(warden_pid1, f"""command = sh -c "{STATUS}"
supplementary_groups = 7 daemon
""")
    f = fields(lines)
    assert f["Uid"] == ["0"] * 4, lines
    assert sorted(f["Groups"]) == ["1", "7"], lines


CONFIG_ERRORS = [
    ("capabilities = CAP_NET_BIND_SERVICE cap_foo",
     "invalid capabilities: unknown capability 'cap_foo' (expected e.g. CAP_NET_BIND_SERVICE "
     "or net_bind_service)"),
    ("rlimit_nofile = 200:100", "invalid rlimit_nofile: soft limit above the hard limit in "
     "'200:100'"),
    ("rlimit_core = infinity:10", "invalid rlimit_core: soft limit above the hard limit in "
     "'infinity:10'"),
    ("rlimit_nofile = lots", "invalid rlimit_nofile: invalid limit 'lots' (expected "
     "SOFT[:HARD], each a number or infinity)"),
    ("rlimit_nofile = 1:", "invalid rlimit_nofile: invalid limit '1:' (expected SOFT[:HARD], "
     "each a number or infinity)"),
    ("rlimit_files = 10", "unknown key 'rlimit_files' in [svc] (resource limits: rlimit_as, "
     "core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, "
     "rttime, sigpending, stack)"),
    ("rlimit_core = 0\nrlimit_core = 1", "duplicate key 'rlimit_core' in [svc]"),
    ("no_new_privileges = maybe", "invalid no_new_privileges 'maybe' (expected yes or no)"),
    ("supplementary_groups = daemon no-such-group-wdn",
     "unknown group 'no-such-group-wdn' in supplementary_groups (not in /etc/group)"),
    ("umask = 8", "invalid umask '8' (expected octal, e.g. 022)"),
]


@pytest.mark.parametrize("body,message", CONFIG_ERRORS)
def test_config_errors(tmp_path, body, message):
    """Refused at load, nothing started: the file, the line of the key, the reason."""
    conf = tmp_path / "bad.conf"
    marker = tmp_path / "ran"
    conf.write_text(f"[svc]\ncommand = touch {marker}\n{body}\n")
    line = 3 + body.count("\n")
    for args in (["--check", "-c", str(conf)], ["-c", str(conf)]):
        r = run_direct(args)
        assert r.returncode == 125, (args, r.returncode, r.stderr)
        assert r.stderr.strip() == f"warden: {conf}:{line}: {message}", r.stderr
    assert not marker.exists()


@pytest.fixture
def shared_dir():
    """A directory nobody can read (the config) and write (its runtime directory)."""
    d = tempfile.mkdtemp(prefix="wdn-priv-", dir="/tmp")
    os.chmod(d, 0o755)
    run = os.path.join(d, "run")
    os.mkdir(run, 0o700)
    os.chown(run, NOBODY, NOBODY)
    yield d
    shutil.rmtree(d, ignore_errors=True)


AS_NOBODY = ("setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY), "--clear-groups")
GROUP_ROOT = ("group = root: cannot switch group: Operation not permitted "
              f"(warden runs as uid {NOBODY} without CAP_SETGID)")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def test_nonroot_group_root_supervisor(warden, shared_dir):
    """A non-root warden asked for group = root: a failed start, said once with the key,
    the value and the reason, in the log and in service.failed; exit 125, not 126."""
    conf = os.path.join(shared_dir, "w.conf")
    events = os.path.join(shared_dir, "run", "events")
    marker = os.path.join(shared_dir, "run", "ran")
    write(conf, f"[svc]\ncommand = touch {marker}\ngroup = root\nrestart = never\n")
    r = warden.run(["--events", events, "--control", os.path.join(shared_dir, "run", "ctl"),
                    "-c", conf], prefix=AS_NOBODY, cwd=shared_dir)
    assert r.returncode == 125, (r.returncode, r.err())
    assert f"warden: service svc: {GROUP_ROOT}\n" in r.err(), r.err()
    assert "warden: service svc failed: cannot switch user (counted as exit code 125)" \
        in r.err(), r.err()
    assert "126" not in r.err(), r.err()
    assert not os.path.exists(marker)
    with open(events) as f:
        evs = [json.loads(line) for line in f]
    failed = [e for e in evs if e["event"] == "service.failed"]
    assert len(failed) == 1, evs
    assert failed[0]["reason"] == "cannot switch user", failed
    assert failed[0]["error"] == GROUP_ROOT, failed
    exited = [e for e in evs if e["event"] == "service.exited"]
    assert exited and exited[0]["code"] == 125, exited


def test_nonroot_group_root_init(warden, shared_dir):
    """The same in init mode: warden's own exit code is 125, "could not start"."""
    conf = os.path.join(shared_dir, "init.conf")
    marker = os.path.join(shared_dir, "run", "ran")
    write(conf, "[main]\ngroup = root\n")
    r = warden.run(["-c", conf, "--", "touch", marker], prefix=AS_NOBODY, cwd=shared_dir)
    assert r.returncode == 125, (r.returncode, r.err())
    assert r.err() == f"warden: {GROUP_ROOT}\n", r.err()
    assert not os.path.exists(marker)


@pytest.mark.parametrize("body,message", [
    ("user = root", "user = root: cannot switch to its groups: Operation not permitted "
     f"(warden runs as uid {NOBODY} without CAP_SETGID)"),
    ("supplementary_groups = daemon",
     "supplementary_groups = daemon: cannot set the groups: Operation not permitted "
     f"(warden runs as uid {NOBODY} without CAP_SETGID)"),
    ("rlimit_nofile = 64:1048577",
     "rlimit_nofile = 64:1048577: cannot set the limit: Operation not permitted "
     f"(warden runs as uid {NOBODY} without CAP_SYS_RESOURCE)"),
    ("capabilities = net_bind_service",
     "capabilities = net_bind_service: cannot drop CAP_CHOWN from the bounding set: "
     f"Operation not permitted (warden runs as uid {NOBODY} without CAP_SETPCAP)"),
])
def test_nonroot_cannot_give(warden, shared_dir, body, message):
    """Each thing a non-root warden cannot give: named, exit 125, the command never run."""
    conf = os.path.join(shared_dir, "init.conf")
    marker = os.path.join(shared_dir, "run", "ran")
    write(conf, f"[main]\n{body}\n")
    r = warden.run(["-c", conf, "--", "touch", marker], prefix=AS_NOBODY, cwd=shared_dir)
    assert r.returncode == 125, (r.returncode, r.err())
    assert r.err() == f"warden: {message}\n", r.err()
    assert not os.path.exists(marker)


def test_nonroot_what_it_can_give(warden, shared_dir):
    """What needs no privilege works for a non-root warden: no_new_privileges, a lower
    limit, a umask."""
    conf = os.path.join(shared_dir, "init.conf")
    write(conf, "[main]\nno_new_privileges = yes\nrlimit_nofile = 64:128\numask = 077\n")
    out = os.path.join(shared_dir, "run", "out")
    r = warden.run(["-c", conf, "--", "sh", "-c",
                    f"grep -E '^(Uid|NoNewPrivs|Umask):' /proc/$$/status > {out}; "
                    f"grep 'open files' /proc/$$/limits >> {out}"],
                   prefix=AS_NOBODY, cwd=shared_dir)
    assert r.returncode == 0, (r.returncode, r.err())
    with open(out) as f:
        lines = f.read().splitlines()
    f = fields(lines)
    assert f["Uid"] == [str(NOBODY)] * 4, lines
    assert f["NoNewPrivs"] == ["1"], lines
    assert f["Umask"] == ["0077"], lines
    assert lines[-1].split()[3:5] == ["64", "128"], lines
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


# --- a non-root warden on a read-only root filesystem ------------------------

def read_only_root(writable=None):
    """A prefix: a private mount namespace whose / is read-only (WRITABLE, a bind mount of
    itself, stays writable), then nobody without XDG_RUNTIME_DIR, then warden."""
    script = "mount --make-rprivate / && "
    if writable:
        script += f"mount --bind {writable} {writable} && "
    script += 'mount -o remount,bind,ro / && exec "$@"'
    return ("unshare", "-m", "--", "sh", "-c", script, "sh") + AS_NOBODY + \
        ("env", "-u", "XDG_RUNTIME_DIR")


def ctl_as_nobody(*args):
    r = subprocess.run(list(AS_NOBODY) + [WARDEN, "ctl"] + list(args), capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    return r


def wait_path(path, run, timeout=15):
    def pred():
        if os.path.exists(path):
            return True
        assert run.running(), (run.status(), run.err())
        return None
    wait_for(pred, timeout, f"{path} to exist")


def test_runtime_directory_only(warden, shared_dir):
    """uid 65534, / read-only: with --runtime-directory warden runs, its control socket is
    DIR/control.sock (warden ctl --runtime-directory finds it), nothing fails for want of
    a place to write, and at exit DIR holds only what it was asked to write there."""
    run_dir = os.path.join(shared_dir, "run")
    conf = os.path.join(shared_dir, "w.conf")
    write(conf, "[svc]\ncommand = sleep 60\n")
    events = os.path.join(run_dir, "events")
    r = warden.start(["-v", "--runtime-directory", run_dir, "--events", events, "-c", conf],
                     prefix=read_only_root(run_dir), cwd=shared_dir)
    sock = os.path.join(run_dir, "control.sock")
    wait_path(sock, r)
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert os.stat(sock).st_uid == NOBODY
    got = None
    for _ in range(100):
        got = ctl_as_nobody("--runtime-directory", run_dir, "--json", "status")
        if got.returncode == 0 and '"running"' in got.stdout:
            break
        time.sleep(0.05)
    assert got.returncode == 0 and '"running"' in got.stdout, (got.stdout, got.stderr)
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 0, r.err()
    assert f"warden: control socket: {sock}\n" in r.err(), r.err()
    for word in ("cannot", "Read-only", "no control socket", "error"):
        assert word not in r.err(), r.err()
    assert sorted(os.listdir(run_dir)) == ["events"], os.listdir(run_dir)


def test_runtime_directory_in_init_mode(warden, shared_dir):
    """[warden] runtime_directory in init mode's file: a control socket there too."""
    run_dir = os.path.join(shared_dir, "run")
    conf = os.path.join(shared_dir, "init.conf")
    write(conf, f"[warden]\nruntime_directory = {run_dir}\n")
    r = warden.start(["-c", conf, "--", "sleep", "60"], prefix=read_only_root(run_dir),
                     cwd=shared_dir)
    sock = os.path.join(run_dir, "control.sock")
    wait_path(sock, r)
    got = ctl_as_nobody("--control", sock, "--json", "status")
    assert got.returncode == 0 and '"main"' in got.stdout, (got.stdout, got.stderr)
    r.kill(signal.SIGTERM)
    assert r.wait(20) == 128 + signal.SIGTERM, r.err()
    assert r.err() == "", r.err()
    assert os.listdir(run_dir) == []


def test_runtime_directory_created(warden, shared_dir):
    """A missing runtime directory is created, 0700, when its parent is writable."""
    run_dir = os.path.join(shared_dir, "run", "sub")
    r = warden.run(["--runtime-directory", run_dir, "--", "true"],
                   prefix=read_only_root(os.path.join(shared_dir, "run")), cwd=shared_dir)
    assert r.returncode == 0, r.err()
    st = os.stat(run_dir)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == NOBODY


def test_runtime_directory_errors(warden, shared_dir):
    """What warden cannot write: said before anything starts, exit 125."""
    marker = os.path.join(shared_dir, "run", "ran")
    ro = os.path.join(shared_dir, "ro")
    os.mkdir(ro, 0o700)
    os.chown(ro, NOBODY, NOBODY)
    cases = [
        (["--runtime-directory", ro],
         f"warden: runtime directory {ro} is not writable by uid {NOBODY}: "
         "Read-only file system\n"),
        (["--runtime-directory", shared_dir],
         f"warden: runtime directory {shared_dir} is not writable by uid {NOBODY}: "
         "Permission denied\n"),
        (["--runtime-directory", "/nonexistent-wdn/run"],
         "warden: cannot create the runtime directory /nonexistent-wdn/run: "
         "No such file or directory\n"),
        (["--runtime-directory", "/etc/passwd"],
         "warden: runtime directory /etc/passwd is not a directory\n"),
    ]
    for args, message in cases:
        r = warden.run(args + ["--", "touch", marker],
                       prefix=read_only_root(os.path.join(shared_dir, "run")),
                       cwd=shared_dir)
        assert r.returncode == 125, (args, r.returncode, r.err())
        assert r.err() == message, r.err()
    assert not os.path.exists(marker)


def test_runtime_directory_usage(tmp_path):
    r = run_direct(["--runtime-directory", "run", "--", "true"])
    assert r.returncode == 125
    assert r.stderr.startswith("warden: --runtime-directory needs an absolute path under "
                               "94 bytes\n"), r.stderr
    conf = tmp_path / "w.conf"
    conf.write_text("[warden]\nruntime_directory = relative\n[svc]\ncommand = true\n")
    r = run_direct(["--check", "-c", str(conf)])
    assert r.returncode == 125
    assert r.stderr == (f"warden: {conf}:2: runtime_directory 'relative' must be an "
                        "absolute path under 94 bytes\n"), r.stderr
    r = subprocess.run([WARDEN, "ctl", "--runtime-directory", "x", "status"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, r
    assert r.stderr == ("warden ctl: --runtime-directory needs an absolute path under 94 "
                        "bytes\n"), r.stderr


def test_no_runtime_directory_says_so(warden, shared_dir):
    """Without a runtime directory, a non-root warden on a read-only root cannot make its
    default control socket: it says why and what to do, and runs the services all the
    same."""
    conf = os.path.join(shared_dir, "w.conf")
    out = os.path.join(shared_dir, "run", "out")
    write(conf, f"[svc]\ncommand = touch {out}\nrestart = never\n")
    r = warden.run(["-c", conf], prefix=read_only_root(os.path.join(shared_dir, "run")),
                   cwd=shared_dir)
    assert r.returncode == 0, r.err()
    assert os.path.exists(out)
    lines = r.err().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"warden: no control socket: "), lines
    assert "/tmp/warden-65534/control.sock: Read-only file system (give warden a directory " \
        "it can write: runtime_directory or --runtime-directory; or control = off)" \
        in lines[0], lines


# --- the threat model (warden(7), THREAT MODEL) ----------------------------------

def test_notify_from_a_gone_sender_of_another_user_is_ignored(warden):
    """A sender that has exited by the time warden reads its datagram cannot be placed in
    the service's tree: it is believed only when it ran as the service's user. Many
    short-lived root senders outside the tree of a service that runs as nobody: none is
    obeyed, whether warden read them before or after they exited."""
    sockfile = warden.path("a.sock")
    done = warden.path("b.done")
    sdnotify = os.path.join(os.environ["WARDEN_HELPERS"], "sdnotify")
    b = warden.path("b.sh")
    b.write_text(f"""#!/bin/sh
while [ ! -s {sockfile} ]; do sleep 0.02; done
export NOTIFY_SOCKET=$(cat {sockfile})
i=0
while [ $i -lt 60 ]; do {sdnotify} 'notify:READY=1' 'notify:STATUS=forged'; i=$((i+1)); done
touch {done}
exec sleep 60
""")
    os.chmod(b, 0o755)
    sup = Sup(warden, f"""
        [a]
        command = {sdnotify} env sleep:30000
        user = nobody
        ready = notify
        ready_timeout = 4s
        restart = never
        [b]
        command = {b}
        """)
    pat = re.compile(r"^a \| env NOTIFY_SOCKET=(\S+) ", re.M)
    name = wait_for(lambda: pat.search(sup.out()), 10, "a's env line").group(1)
    sockfile.write_text(name)
    wait_for(lambda: done.exists() or None, 20, "b's 60 senders")
    stopping = sup.wait_event("service.stopping", "a", timeout=10)
    assert stopping["reason"] == "not ready in time", stopping
    assert not sup.select("service.ready", "a"), "a READY=1 from a gone root sender was obeyed"
    assert not sup.select("service.status", "a"), "a STATUS= from a gone root sender was obeyed"
    sup.wait_event("service.failed", "a")
    assert sup.stop() == 0, sup.err()
