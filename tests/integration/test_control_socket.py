# SPDX-License-Identifier: MIT
"""The control socket's life (warden-ctl(1), warden.conf(5) `control`, `control_group`):
where it is, its directory created, its mode (0600, or 0660 with control_group's group),
removed when warden exits, a stale socket (left by a warden killed with SIGKILL) replaced;
when the socket cannot be made (a live one, a file in the way, a read-only place) the
services run all the same and the event control.unavailable says why; control = off."""

import os
import signal
import stat

import pytest

from conftest import q, wait_for
from ctllib import EXIT_OK, NOGROUP, Ctl, describe, pid1_harness, run_ctl
from svlib import script

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def wh():
    yield from pid1_harness()


def marker_conf(h, name):
    """A config whose service NAME creates NAME.started when it runs."""
    return f"""
        [{name}]
        command = sh -c 'touch {q(h.path(name + ".started"))}; exec sleep 1000'
        """


def test_socket_directory_created_mode_0600_removed_on_exit(wh):
    sock = wh.path("run/a/b/ctl.sock")
    w = Ctl(wh, marker_conf(wh, "web"), sock=sock)
    st = os.lstat(sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0
    for d in (wh.path("run"), wh.path("run/a"), wh.path("run/a/b")):
        dst = os.stat(d)
        assert stat.S_ISDIR(dst.st_mode) and not dst.st_mode & 0o022, (d, oct(dst.st_mode))
    r = run_ctl(["--control", sock, "status"])
    assert r.returncode == EXIT_OK, describe(r)
    assert w.stop() == 0, w.err()
    assert not os.path.exists(sock), "the socket outlived warden"


def test_socket_removed_when_warden_exits_on_its_own(wh):
    trig = wh.path("end")
    ess = script(wh, "ess.sh", f"""
        i=0; while [ ! -e {q(trig)} ]; do i=$((i+1)); [ $i -gt 3000 ] && exit 99; sleep 0.02; done
        exit 7
        """)
    w = Ctl(wh, f"""
        [ess]
        command = {ess}
        essential = yes
        restart = never
        [web]
        command = sleep 1000
        """)
    w.wait_state("ess", "running")
    trig.write_text("")
    assert w.wait(15) == 7, w.err()
    assert not os.path.exists(w.sock)


def test_config_control_key_and_the_option_overrides_it(wh):
    from_conf = wh.path("conf/ctl.sock")
    conf = f"""
        [warden]
        control = {from_conf}
        [web]
        command = sleep 1000
        """
    w = Ctl(wh, conf, sock=from_conf, control_opt=False)
    r = run_ctl(["--control", from_conf, "status", "web"])
    assert r.returncode == EXIT_OK and "web" in r.stdout, describe(r)
    assert w.stop() == 0, w.err()
    assert not from_conf.exists()
    # --control wins over the config's key
    opt = wh.path("opt/ctl.sock")
    w2 = Ctl(wh, conf, name="second.conf", sock=opt)
    assert os.path.exists(opt) and not from_conf.exists()
    r = run_ctl(["--control", opt, "status", "web"])
    assert r.returncode == EXIT_OK, describe(r)
    assert w2.stop() == 0, w2.err()


def test_control_group_socket_is_0660_with_the_group(wh):
    w = Ctl(wh, """
        [warden]
        control_group = nogroup
        [web]
        command = sleep 1000
        """)
    st = os.lstat(w.sock)
    assert stat.S_IMODE(st.st_mode) == 0o660 and st.st_gid == NOGROUP and st.st_uid == 0, \
        (oct(st.st_mode), st.st_uid, st.st_gid)
    assert w.stop() == 0, w.err()
    assert not os.path.exists(w.sock)


def test_stale_socket_is_replaced(wh):
    sock = wh.path("shared.sock")
    a = Ctl(wh, marker_conf(wh, "first"), name="a.conf", sock=sock)
    a.wait_state("first", "running")
    a.run.kill(signal.SIGKILL)
    a.wait(10)
    assert stat.S_ISSOCK(os.lstat(sock).st_mode), "the killed warden's socket should be left"
    b = Ctl(wh, marker_conf(wh, "second"), name="b.conf", sock=sock)
    b.wait_state("second", "running")
    wait_for(lambda: wh.path("second.started").exists(), 10, "the new warden's service")
    r = run_ctl(["--control", sock, "status"])
    assert r.returncode == EXIT_OK, describe(r)
    assert "second" in r.stdout and "first" not in r.stdout, r.stdout
    assert b.stop() == 0, b.err()
    assert not sock.exists()


def test_live_socket_is_left_alone_and_services_run(wh):
    sock = wh.path("shared.sock")
    a = Ctl(wh, marker_conf(wh, "first"), name="a.conf", sock=sock)
    a.wait_state("first", "running")
    wait_for(lambda: wh.path("first.started").exists(), 10, "the first warden's service")
    ino = os.lstat(sock).st_ino
    pid = a.svc("first")["pid"]
    b = Ctl(wh, marker_conf(wh, "second"), name="b.conf", sock=sock, wait=False)
    un = b.wait_event("control.unavailable")
    assert un["path"] == str(sock) and "another warden is running" in un["reason"], un
    wait_for(lambda: wh.path("second.started").exists(), 10, "the second warden's service")
    assert "no control socket: another warden is running" in b.err(), b.err()
    # the first one is untouched and still answers on its socket
    assert os.lstat(sock).st_ino == ino
    s = a.svc("first")
    assert s["state"] == "running" and s["pid"] == pid
    assert a.running() and b.running()
    assert b.stop() == 0, b.err()
    assert os.lstat(sock).st_ino == ino, "the second warden removed the first one's socket"
    assert a.stop() == 0, a.err()
    assert not sock.exists()


def test_a_path_that_is_not_a_socket_is_left_alone(wh):
    path = wh.path("notasocket")
    path.write_text("precious\n")
    w = Ctl(wh, marker_conf(wh, "web"), sock=path, wait=False)
    un = w.wait_event("control.unavailable")
    assert "not a socket" in un["reason"], un
    wait_for(lambda: wh.path("web.started").exists(), 10, "the service")
    assert w.stop() == 0, w.err()
    assert path.read_text() == "precious\n"


def test_unwritable_place_services_still_run(wh):
    """As under docker run --read-only: the socket's directory cannot be made."""
    ro = wh.path("ro")
    ro.mkdir()
    os.chmod(ro, 0o555)
    # root ignores modes: a file where the directory should be stops it all the same.
    (ro / "blocker").write_text("")
    w = Ctl(wh, marker_conf(wh, "web"), sock=ro / "blocker" / "sub" / "ctl.sock", wait=False)
    un = w.wait_event("control.unavailable")
    assert "cannot create the directory" in un["reason"], un
    wait_for(lambda: wh.path("web.started").exists(), 10, "the service")
    assert w.stop() == 0, w.err()


def test_control_off(wh):
    conf = """
        [warden]
        control = off
    """ + marker_conf(wh, "web")
    w = Ctl(wh, conf, control_opt=False, wait=False)
    w.wait_event("warden.started")
    wait_for(lambda: wh.path("web.started").exists(), 10, "the service")
    assert not w.select("control.unavailable")
    fds = [os.readlink(f"/proc/{w.run.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{w.run.pid}/fd")]
    assert not [t for t in fds if t.startswith("socket:")], fds
    assert w.stop() == 0, w.err()


def test_reload_keeps_the_socket_as_it_was(wh):
    conf = """
        [web]
        command = sleep 1000
        """
    w = Ctl(wh, conf)
    w.wait_state("web", "running")
    st = os.lstat(w.sock)
    w.write(f"""
        [warden]
        control = {wh.path('elsewhere.sock')}
        control_group = nogroup
        """ + conf)
    r = run_ctl(["--control", w.sock, "reload"])
    assert r.returncode == EXIT_OK, describe(r)
    w.wait_event("config.reloaded")
    st2 = os.lstat(w.sock)
    assert (st2.st_ino, st2.st_mode, st2.st_gid) == (st.st_ino, st.st_mode, st.st_gid)
    assert not wh.path("elsewhere.sock").exists()
    assert "next start" in w.err(), w.err()
    r = run_ctl(["--control", w.sock, "status"])
    assert r.returncode == EXIT_OK, describe(r)
