# SPDX-License-Identifier: MIT
"""Who may use the control socket (warden-ctl(1), ACCESS): root and warden's own user
control; another user is refused (exit 4), by the socket's mode and, where the socket lets
it connect, by warden's SO_PEERCRED check with a control.refused event; members of
control_group (by gid, or by a supplementary group when warden can see their pid) get the
read-only verbs status, dump and wait, and nothing else."""

import json
import os
import stat
import subprocess
import time

import pytest

from conftest import base_env, wait_for
from ctllib import (EXIT_OK, EXIT_REFUSED, EXIT_TIMEDOUT, NOBODY, NOGROUP, USERS, Ctl, as_user,
                    clean_preexec, describe, pid1_harness)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def wh():
    yield from pid1_harness()

CONF = """
    [web]
    command = sleep 1000
    [db]
    command = sleep 1000
    """

WRITE_VERBS = (["stop", "web"], ["start", "web"], ["restart", "web"], ["signal", "web", "HUP"],
               ["reload"], ["shutdown"])

# A client that connects, waits until warden has closed the connection (a refusal is a
# reply and a close, at once, before any request), then sends a request and prints all it
# reads until EOF. (Sent before the close, the request would be left unread, and the close
# would then reset the connection.)
RAW_CLIENT = r"""
import select, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
p = select.poll()
p.register(s, select.POLLRDHUP)
p.poll(10000)
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except OSError as e:
    print("send: %s" % e, file=sys.stderr)
s.settimeout(5)
buf = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            print("EOF", file=sys.stderr)
            break
        buf += d
except socket.timeout:
    print("TIMEOUT", file=sys.stderr)
sys.stdout.write(buf.decode())
"""


def raw_as(uid, gid, sock, line, groups=None):
    return subprocess.run(as_user(uid, gid, groups) + ["/usr/bin/python3", "-c", RAW_CLIENT,
                                                        str(sock), line],
                          capture_output=True, text=True, timeout=20, env=base_env(),
                          stdin=subprocess.DEVNULL, preexec_fn=clean_preexec)


def test_another_user_cannot_use_a_0600_socket(wh):
    w = Ctl(wh, CONF)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    st = os.stat(w.sock)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, oct(st.st_mode)
    before = w.snapshot()
    for args in (["status"], ["stop", "web"], ["shutdown"]):
        r = w.ctl(*args, user=True)
        assert r.returncode == EXIT_REFUSED, f"{args}: {describe(r)}"
        assert "refused" in r.stderr or "permission" in r.stderr, describe(r)
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before and w.running()


def test_warden_refuses_another_user_that_can_connect(wh):
    """With the socket opened up by hand (0666), warden's own check on the peer's uid
    refuses: the reply says so, warden ctl exits 4, and a control.refused event names the
    uid and gid."""
    w = Ctl(wh, CONF)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    os.chmod(w.sock, 0o666)
    before = w.snapshot()
    # warden answers a refused client at once and closes: whatever the timing, warden ctl
    # must report the refusal (several tries, since the order of the two ends varies).
    tries = [["stop", "web"], ["status"], ["dump"], ["wait", "web"]] * 4
    got = []
    for args in tries:
        r = w.ctl(*args, user=True)
        got.append((args, r.returncode, r.stderr.strip()))
    bad = [g for g in got if g[1] != EXIT_REFUSED or "permission denied" not in g[2]
           or "65534" not in g[2]]
    assert not bad, f"{len(bad)} of {len(got)} refused requests misreported: {bad[:4]}"
    evs = w.wait_event("control.refused", count=len(tries))
    for ev in w.select("control.refused"):
        assert ev["uid"] == NOBODY and ev["gid"] == NOGROUP and isinstance(ev["pid"], int), ev
    assert evs
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before and w.running()


def test_refused_peer_gets_an_error_reply_then_eof(wh):
    """The server side of the refusal, seen by a raw client of another uid."""
    w = Ctl(wh, CONF)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    os.chmod(w.sock, 0o666)
    before = w.snapshot()
    r = raw_as(NOBODY, NOGROUP, w.sock, "stop web")
    assert "EOF" in r.stderr, r
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r
    reply = json.loads(lines[0])
    assert reply["ok"] is False and reply["code"] == "refused", reply
    assert "65534" in reply["error"], reply
    ev = w.wait_event("control.refused")
    assert ev["uid"] == NOBODY and ev["gid"] == NOGROUP
    assert w.snapshot() == before


def test_the_owner_and_root_may_control(wh):
    """warden running as nobody: nobody (its owner) controls, with the default socket under
    $XDG_RUNTIME_DIR; root too; a third user cannot."""
    d = wh.path("xdg")
    d.mkdir()
    os.chown(d, NOBODY, NOGROUP)
    os.chmod(d, 0o700)
    xdg = {"XDG_RUNTIME_DIR": str(d)}
    sock = d / "warden" / "control.sock"
    w = Ctl(wh, CONF, sock=sock, control_opt=False, prefix=as_user(NOBODY, NOGROUP), env=xdg,
            events=d / "events")
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    st = os.stat(sock)
    assert st.st_uid == NOBODY and stat.S_IMODE(st.st_mode) == 0o600, (st.st_uid, oct(st.st_mode))
    assert stat.S_ISDIR(os.stat(d / "warden").st_mode)
    # the owner, through the default path
    r = w.ctl("status", user=True, control=False, env=xdg)
    assert r.returncode == EXIT_OK and "web" in r.stdout, describe(r)
    old = w.svc("web")["pid"]
    r = w.ctl("restart", "web", user=True, control=False, env=xdg)
    assert r.returncode == EXIT_OK, describe(r)
    wait_for(lambda: w.svc("web")["pid"] not in (None, old), 10, "web to restart")
    # settled: a snapshot taken while it is still starting would change by itself
    w.wait_state("web", "running")
    # root
    r = w.ctl("stop", "db")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("db", "stopped")
    # a third user
    before = w.snapshot()
    r = w.ctl("start", "db", user=True, uid=4242, gid=4242)
    assert r.returncode == EXIT_REFUSED, describe(r)
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before
    r = w.ctl("shutdown", user=True, control=False, env=xdg)
    assert r.returncode == EXIT_OK, describe(r)
    assert w.wait(15) == 0, w.err()
    assert not sock.exists()


def test_control_group_members_get_read_only_verbs(wh):
    w = Ctl(wh, """
        [warden]
        control_group = nogroup
        """ + CONF)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    st = os.stat(w.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == NOGROUP, (oct(st.st_mode), st.st_gid)
    # read-only verbs
    r = w.ctl("status", user=True)
    assert r.returncode == EXIT_OK and "web" in r.stdout, describe(r)
    r = w.ctl("dump", user=True)
    assert r.returncode == EXIT_OK and json.loads(r.stdout)["ok"] is True, describe(r)
    r = w.ctl("wait", "web", "--ready", user=True)
    assert r.returncode == EXIT_OK, describe(r)
    r = w.ctl("wait", "web", "--timeout", "200ms", user=True)
    assert r.returncode == EXIT_TIMEDOUT, describe(r)
    # and nothing else
    before = w.snapshot()
    w.write("""
        [warden]
        control_group = nogroup
        """ + CONF + """
        [extra]
        command = sleep 1000
        """)
    for args in WRITE_VERBS:
        r = w.ctl(*args, user=True)
        assert r.returncode == EXIT_REFUSED, f"{args}: {describe(r)}"
        assert "permission denied" in r.stderr, describe(r)
    time.sleep(0.3)  # a window: nothing may change
    assert w.snapshot() == before, "a refused request changed something"
    assert w.running() and not w.select("config.reloaded") and not w.select("shutdown.started")
    # root keeps full control
    r = w.ctl("stop", "web")
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_state("web", "stopped")
    # a user outside the group cannot even connect
    r = w.ctl("status", user=True, uid=NOBODY, gid=USERS)
    assert r.returncode == EXIT_REFUSED, describe(r)


def test_control_group_by_supplementary_group(wh):
    """control_group = 100 (numeric): a client whose primary gid is another but which has
    the group as a supplementary one, and whose pid warden sees (it runs in warden's pid
    namespace), gets the read-only verbs."""
    w = Ctl(wh, f"""
        [warden]
        control_group = {USERS}
        """ + CONF)
    w.wait_state("db", "running")
    w.wait_state("web", "running")
    st = os.stat(w.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == USERS
    r = w.ctl("status", user=True, gid=NOGROUP, groups=[USERS], in_ns=True)
    assert r.returncode == EXIT_OK and "web" in r.stdout, describe(r)
    before = w.snapshot()
    r = w.ctl("stop", "web", user=True, gid=NOGROUP, groups=[USERS], in_ns=True)
    assert r.returncode == EXIT_REFUSED, describe(r)
    assert "permission denied" in r.stderr, describe(r)
    time.sleep(0.2)  # a window: nothing may change
    assert w.snapshot() == before
