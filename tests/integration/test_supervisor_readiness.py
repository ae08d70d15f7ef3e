# SPDX-License-Identifier: MIT
"""Supervisor readiness: ready = notify (the real systemd-notify, and sd_notify() from
libsystemd through the sdnotify helper), STATUS/STOPPING/RELOADING, the watchdog,
EXTEND_TIMEOUT_USEC, BARRIER, senders outside the tree, descriptors passed; fd:N, exec: and
tcp: probes; ready_timeout and the restart policy; dependents waiting for readiness."""

import re
import shutil
import socket

import pytest

from conftest import q, wait_for
from svlib import EXIT_ESCALATED, Sup, need, parse_ts, script, select, sleep_until, wait_file

pytestmark = pytest.mark.timeout(60)


def sdn(*steps):
    """A service command running the sdnotify helper with STEPS (each quoted)."""
    return " ".join([need("sdnotify")] + [f"'{s}'" for s in steps])


def startup(sup, service, n=1):
    """Seconds from the Nth service.starting of SERVICE to its Nth service.ready."""
    st = sup.select("service.starting", service)[n - 1]
    rd = sup.select("service.ready", service)[n - 1]
    return parse_ts(rd["ts"]) - parse_ts(st["ts"])


def notify_socket_of(sup, service, timeout=10):
    """The NOTIFY_SOCKET that SERVICE printed with sdnotify's env step."""
    pat = re.compile(rf"^{re.escape(service)} \| env NOTIFY_SOCKET=(\S+) ", re.M)
    m = wait_for(lambda: pat.search(sup.out()), timeout, f"{service}'s env line")
    return m.group(1)


def sock_address(name):
    return "\0" + name[1:] if name.startswith("@") else name


# --- notify: the real systemd-notify -----------------------------------------

def test_systemd_notify_ready_status_and_barrier(warden):
    """systemd-notify --ready (which waits on BARRIER=1 unless --no-block) works under
    warden: the service becomes ready, its STATUS= is an event, and systemd-notify returns
    at once with 0 (warden closed the barrier descriptor)."""
    if not shutil.which("systemd-notify"):
        pytest.fail("this machine cannot run this test: systemd-notify is not installed")
    web = script(warden, "web.sh", """
        sleep 0.3
        t0=$(date +%s%N)
        systemd-notify --ready --status="warm and serving"
        rc=$?
        t1=$(date +%s%N)
        echo "notify rc=$rc ms=$(( (t1 - t0) / 1000000 ))"
        exec sleep 30
        """)
    sup = Sup(warden, f"""
        [web]
        command = {web}
        ready = notify
        ready_timeout = 10s
        [client]
        command = sleep 30
        after = web
        """)
    rd = sup.wait_event("service.ready", "web")
    assert rd["from"] == "starting" and rd["state"] == "running"
    assert 0.25 <= startup(sup, "web") <= 5
    st = sup.wait_event("service.status", "web")
    assert st["status"] == "warm and serving"
    cl = sup.wait_event("service.starting", "client")
    assert parse_ts(cl["ts"]) >= parse_ts(rd["ts"])
    m = wait_for(lambda: re.search(r"^web \| notify rc=(\d+) ms=(\d+)$", sup.out(), re.M), 10,
                 "systemd-notify's result")
    assert m.group(1) == "0", sup.out()
    assert int(m.group(2)) < 2500, f"systemd-notify waited {m.group(2)} ms for its barrier"
    assert sup.stop() == 0, sup.err()


def test_systemd_notify_no_block(warden_pid1):
    if not shutil.which("systemd-notify"):
        pytest.fail("this machine cannot run this test: systemd-notify is not installed")
    sup = Sup(warden_pid1, """
        [web]
        command = sh -c 'systemd-notify --no-block --ready; exec sleep 30'
        ready = notify
        """)
    sup.wait_event("service.ready", "web")
    assert sup.stop() == 0


# --- notify: sd_notify() from libsystemd --------------------------------------

def test_sd_notify_ready_and_own_socket(warden_pid1):
    b_cmd = sdn("env", "notify:READY=1\\nSTATUS=b is up", "sleep:30000")
    sup = Sup(warden_pid1, f"""
        [a]
        command = {sdn("env", "sleep:300", "notify:READY=1", "sleep:30000")}
        ready = notify
        [b]
        command = {b_cmd}
        ready = notify
        [plain]
        command = {sdn("env", "sleep:30000")}
        """)
    sup.wait_event("service.ready", "a")
    sup.wait_event("service.ready", "b")
    assert 0.25 <= startup(sup, "a") <= 5
    assert sup.wait_event("service.status", "b")["status"] == "b is up"
    na, nb = notify_socket_of(sup, "a"), notify_socket_of(sup, "b")
    assert na.startswith("@") and nb.startswith("@") and na != nb, (na, nb)
    # A service without ready = notify gets no NOTIFY_SOCKET (nor warden's own).
    assert notify_socket_of(sup, "plain") == "-", sup.out()
    assert re.search(r"^plain \| env NOTIFY_SOCKET=- WATCHDOG_USEC=- ", sup.out(), re.M), sup.out()
    assert sup.stop() == 0, sup.err()


def test_sd_notify_barrier(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [a]
        command = {sdn("barrier:3000", "notify:READY=1", "sleep:30000")}
        ready = notify
        """)
    sup.wait_event("service.ready", "a")
    m = wait_for(lambda: re.search(r"^a \| barrier (-?\d+) (\d+)$", sup.out(), re.M), 10,
                 "the barrier result")
    assert int(m.group(1)) >= 0, f"sd_notify_barrier failed: {m.group(0)}"
    assert int(m.group(2)) < 1500, f"the barrier took {m.group(2)} ms"
    assert sup.stop() == 0


def test_notify_stopping_and_reloading_events(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [a]
        command = {sdn("notify:READY=1", "notify:RELOADING=1", "notify:READY=1",
                       "notify:STOPPING=1", "sleep:30000")}
        ready = notify
        """)
    sup.wait_event("service.notify_reloading", "a")
    sup.wait_event("service.notify_stopping", "a")
    assert sup.stop() == 0
    evs = sup.all_events()
    assert len(select(evs, "service.ready", "a")) == 1


def test_ready_is_ignored_from_outside_the_tree(warden):
    """READY=1 sent to a service's socket by the test (outside warden: another pid
    namespace, or alive and not a descendant) and by another service (alive, outside the
    service's tree) is ignored: the service is not ready, and ready_timeout stops it."""
    sockfile = warden.path("a.sock")
    sent = warden.path("b.sent")
    b = script(warden, "b.sh", f"""
        while [ ! -s {q(sockfile)} ]; do sleep 0.02; done
        NOTIFY_SOCKET=$(cat {q(sockfile)}) exec {sdn("notify:READY=1", "touch:" + str(sent),
                                                     "sleep:30000")}
        """)
    sup = Sup(warden, f"""
        [a]
        command = {sdn("env", "sleep:30000")}
        ready = notify
        ready_timeout = 2s
        restart = never
        [b]
        command = {b}
        """)
    name = notify_socket_of(sup, "a")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(b"READY=1\nSTATUS=from the test", sock_address(name))
    sockfile.write_text(name)
    wait_file(sent)
    stopping = sup.wait_event("service.stopping", "a", timeout=10)
    assert stopping["reason"] == "not ready in time", stopping
    assert not sup.select("service.ready", "a"), "a READY=1 from outside the tree was obeyed"
    assert not sup.select("service.status", "a"), "a STATUS= from outside the tree was obeyed"
    sup.wait_event("service.failed", "a")
    assert sup.stop() == 0, sup.err()


def test_descriptors_sent_with_a_message_are_closed(warden_pid1):
    prog = warden_pid1.path("fdsend.py")
    prog.write_text(
        "import array, os, select, socket, time\n"
        "addr = os.environ['NOTIFY_SOCKET']\n"
        "addr = '\\0' + addr[1:] if addr[0] == '@' else addr\n"
        "r, w = os.pipe()\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.sendmsg([b'STATUS=with a descriptor'],\n"
        "          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [w]))], 0, addr)\n"
        "os.close(w)\n"
        "ok = select.select([r], [], [], 15)[0] and os.read(r, 1) == b''\n"
        "print('closed' if ok else 'held', flush=True)\n"
        "s.sendto(b'READY=1', addr)\n"
        "time.sleep(30)\n")
    sup = Sup(warden_pid1, f"""
        [a]
        command = /usr/bin/python3 {prog}
        ready = notify
        """)
    sup.wait_event("service.ready", "a")
    assert sup.wait_event("service.status", "a")["status"] == "with a descriptor"
    # (Its output and its READY=1 come to warden on two channels: either may be first.)
    out = wait_for(lambda: re.search(r"^a \| (closed|held)$", sup.out(), re.M), 20,
                   "a's verdict on the descriptor")
    assert out.group(1) == "closed", sup.out()
    assert sup.stop() == 0


# --- watchdog -----------------------------------------------------------------

def test_watchdog_keepalive_then_missed_restarts(warden_pid1):
    flag = warden_pid1.path("second-run")
    wd = script(warden_pid1, "wd.sh", f"""
        if [ -e {q(flag)} ]; then
            exec {sdn("notify:READY=1", "watchdog:100:300")}
        fi
        touch {q(flag)}
        exec {sdn("env", "notify:READY=1", "watchdog:100:15", "sleep:30000")}
        """)
    sup = Sup(warden_pid1, f"""
        [wd]
        command = {wd}
        ready = notify
        watchdog = 500ms
        restart_delay = 50ms
        stop_timeout = 5s
        """)
    rd = sup.wait_event("service.ready", "wd")
    stopping = sup.wait_event("service.stopping", "wd", timeout=15)
    assert stopping["reason"] == "watchdog timeout", stopping
    assert stopping["from"] == "running"
    gap = parse_ts(stopping["ts"]) - parse_ts(rd["ts"])
    # 15 keep-alives every 100 ms, then at most 500 ms of silence.
    assert 1.6 <= gap <= 6, f"watchdog stop {gap:.2f}s after ready"
    assert wait_for(lambda: re.search(r"^wd \| env NOTIFY_SOCKET=@\S+ WATCHDOG_USEC=500000 "
                                      r"enabled=1 usec=500000$", sup.out(), re.M), 10,
                    "wd's env line"), sup.out()
    ex = sup.wait_event("service.exited", "wd")
    assert ex["signal"] == "SIGTERM"
    bo = sup.wait_event("service.backoff", "wd")
    assert bo["from"] == "stopping"
    sup.wait_event("service.ready", "wd", count=2, timeout=10)
    # The second run keeps sending: it is not stopped for 1.5 s.
    # A window of three watchdog periods: the second run must not be stopped.
    assert not sleep_until(lambda: len(sup.select("service.stopping", "wd")) > 1, 1.5)
    assert sup.stop() == 0, sup.err()


def test_watchdog_trigger(warden_pid1):
    sup = Sup(warden_pid1, f"""
        [wd]
        command = {sdn("notify:READY=1", "sleep:200", "notify:WATCHDOG=trigger", "sleep:30000")}
        ready = notify
        watchdog = 10s
        restart = never
        """)
    stopping = sup.wait_event("service.stopping", "wd", timeout=10)
    assert stopping["reason"] == "watchdog timeout"
    f = sup.wait_event("service.failed", "wd")
    assert f["from"] == "stopping"
    assert sup.wait(15) == 128 + 15, sup.err()


# --- EXTEND_TIMEOUT_USEC ----------------------------------------------------------

@pytest.mark.parametrize("extend", [True, False])
def test_extend_timeout_while_starting(warden_pid1, extend):
    steps = (["notify:EXTEND_TIMEOUT_USEC=4000000"] if extend else []) + \
        ["sleep:1200", "notify:READY=1", "sleep:30000"]
    sup = Sup(warden_pid1, f"""
        [slow]
        command = {sdn(*steps)}
        ready = notify
        ready_timeout = 600ms
        restart = never
        """)
    if extend:
        sup.wait_event("service.ready", "slow", timeout=10)
        assert not sup.select("service.stopping", "slow")
        assert 1.1 <= startup(sup, "slow") <= 5
        assert sup.stop() == 0
    else:
        st = sup.wait_event("service.stopping", "slow", timeout=10)
        assert st["reason"] == "not ready in time"
        assert not sup.select("service.ready", "slow")
        assert sup.wait(15) != 0


@pytest.mark.parametrize("extend", [True, False])
def test_extend_timeout_while_stopping(warden_pid1, extend):
    steps = ["notify:READY=1", "waitsig:15"] + \
        (["notify:EXTEND_TIMEOUT_USEC=4000000"] if extend else []) + ["sleep:1000", "exit:0"]
    sup = Sup(warden_pid1, f"""
        [slow]
        command = {sdn(*steps)}
        ready = notify
        stop_timeout = 400ms
        """)
    sup.wait_event("service.ready", "slow")
    code = sup.stop()
    evs = sup.all_events()
    if extend:
        assert code == 0, sup.err()
        assert not select(evs, "service.killed")
        ex = select(evs, "service.exited", "slow")[0]
        assert ex["code"] == 0
    else:
        assert code == EXIT_ESCALATED, sup.err()
        assert select(evs, "service.killed", "slow")


# --- fd:N ---------------------------------------------------------------------

@pytest.mark.parametrize("fd", [3, 7])
def test_fd_readiness(warden_pid1, fd):
    sup = Sup(warden_pid1, f"""
        [srv]
        command = {need("stopper")} -n srv -w 400 -F {fd} {q(warden_pid1.path("srv.log"))}
        ready = fd:{fd}
        [client]
        command = sleep 30
        after = srv
        """)
    rd = sup.wait_event("service.ready", "srv")
    assert 0.35 <= startup(sup, "srv") <= 5
    cl = sup.wait_event("service.starting", "client")
    assert parse_ts(cl["ts"]) >= parse_ts(rd["ts"])
    assert sup.stop() == 0


def test_fd_closed_without_newline_times_out(warden_pid1):
    sup = Sup(warden_pid1, """
        [srv]
        command = sh -c 'exec 3>&-; exec sleep 30'
        ready = fd:3
        ready_timeout = 700ms
        restart = never
        """)
    st = sup.wait_event("service.stopping", "srv", timeout=10)
    assert st["reason"] == "not ready in time"
    assert not sup.select("service.ready", "srv")
    sup.wait(15)


# --- exec: and tcp: probes ------------------------------------------------------

def test_exec_probe(warden_pid1):
    d = warden_pid1.path("work")
    d.mkdir()
    sup = Sup(warden_pid1, f"""
        [srv]
        command = sh -c 'sleep 0.6; touch flag; exec sleep 30'
        directory = {d}
        environment = FLAG=flag
        ready = exec:sh -c 'test -e "$FLAG"'
        """)
    sup.wait_event("service.ready", "srv", timeout=10)
    assert 0.55 <= startup(sup, "srv") <= 5
    assert (d / "flag").exists()
    assert sup.stop() == 0
    # The probes are warden's own children, not orphans.
    assert not sup.select("orphan.reaped")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tcp_probe(warden_pid1, host):
    port = free_port()
    srv = warden_pid1.path("srv.py")
    srv.write_text(
        "import socket, time\n"
        "time.sleep(0.6)\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('127.0.0.1', {port}))\n"
        "s.listen(16)\n"
        "time.sleep(30)\n")
    sup = Sup(warden_pid1, f"""
        [srv]
        command = /usr/bin/python3 {srv}
        ready = tcp:{host}:{port}
        """)
    sup.wait_event("service.ready", "srv", timeout=10)
    assert 0.55 <= startup(sup, "srv") <= 5
    assert sup.stop() == 0


# --- ready_timeout and the policy -------------------------------------------------

def test_ready_timeout_restarts_on_failure(warden_pid1):
    sup = Sup(warden_pid1, """
        [never-ready]
        command = sleep 30
        ready = notify
        ready_timeout = 300ms
        restart_delay = 50ms
        start_limit = 2
        start_limit_interval = 1m
        """)
    code = sup.wait(15)
    evs = sup.all_events()
    stops = select(evs, "service.stopping", "never-ready")
    assert len(stops) == 2 and all(s["reason"] == "not ready in time" and s["from"] == "starting"
                                   for s in stops), stops
    assert [b["from"] for b in select(evs, "service.backoff", "never-ready")] == ["stopping"] * 2
    f = select(evs, "service.failed", "never-ready")
    assert f and f[0]["reason"] == "start limit reached"
    assert not select(evs, "service.ready")
    assert code == 128 + 15, "the status of the failed service's last run (SIGTERM)"


def test_ready_timeout_restart_never_fails(warden_pid1):
    sup = Sup(warden_pid1, """
        [never-ready]
        command = sleep 30
        ready = exec:false
        ready_timeout = 500ms
        restart = never
        [dependent]
        command = sleep 30
        after = never-ready
        """)
    f = sup.wait_event("service.failed", "dependent", timeout=10)
    assert f["reason"] == "a dependency failed"
    evs = sup.events()
    assert select(evs, "service.failed", "never-ready")[0]["from"] == "stopping"
    assert not select(evs, "service.starting", "dependent")
    assert sup.wait(15) != 0


def test_exit_before_ready_follows_policy(warden_pid1):
    sup = Sup(warden_pid1, """
        [quitter]
        command = sh -c 'exit 6'
        ready = notify
        restart_delay = 50ms
        start_limit = 2
        start_limit_interval = 1m
        """)
    assert sup.wait(15) == 6
    evs = sup.all_events()
    assert [b["from"] for b in select(evs, "service.backoff", "quitter")] == ["starting"] * 2
    assert not select(evs, "service.ready")


def test_ready_none_is_ready_at_once(warden_pid1):
    sup = Sup(warden_pid1, """
        [a]
        command = sleep 30
        """)
    rd = sup.wait_event("service.ready", "a")
    # At once: not after a probe, nor after ready_timeout (60 s by default).
    assert rd["startup_ms"] < 5000
    assert sup.stop() == 0


def test_ready_from_a_live_descendant_is_accepted(warden_pid1):
    """A process below the service's main process (alive when warden reads) may speak."""
    child = sdn("sleep:200", "notify:READY=1\\nSTATUS=from a child", "sleep:30000")
    svc = script(warden_pid1, "svc.sh", f"""
        {child} &
        exec sleep 30
        """)
    sup = Sup(warden_pid1, f"""
        [svc]
        command = {svc}
        ready = notify
        ready_timeout = 20s
        """)
    sup.wait_event("service.ready", "svc", timeout=20)
    assert sup.wait_event("service.status", "svc")["status"] == "from a child"
    assert sup.stop() == 0


def test_notify_as_another_user(warden_pid1):
    if not shutil.which("systemd-notify"):
        pytest.fail("this machine cannot run this test: systemd-notify is not installed")
    sup = Sup(warden_pid1, """
        [svc]
        command = sh -c 'systemd-notify --ready --status="$(id -u)"; exec sleep 30'
        user = nobody
        ready = notify
        ready_timeout = 20s
        """)
    sup.wait_event("service.ready", "svc", timeout=20)
    assert sup.wait_event("service.status", "svc")["status"] == "65534"
    assert sup.stop() == 0


def test_exec_probe_runs_as_the_service_user(warden_pid1):
    sup = Sup(warden_pid1, """
        [svc]
        command = sleep 30
        user = nobody
        ready = exec:sh -c 'test "$(id -u)" = 65534'
        ready_timeout = 20s
        """)
    sup.wait_event("service.ready", "svc", timeout=20)
    assert sup.stop() == 0


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_tcp_probe_ipv6(warden_pid1):
    if not ipv6_loopback():
        pytest.fail("this machine cannot run this test: no IPv6 loopback here")
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    srv = warden_pid1.path("srv6.py")
    srv.write_text(
        "import socket, time\n"
        "time.sleep(0.5)\n"
        "s = socket.socket(socket.AF_INET6)\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        f"s.bind(('::1', {port}))\n"
        "s.listen(16)\n"
        "time.sleep(30)\n")
    sup = Sup(warden_pid1, f"""
        [srv]
        command = /usr/bin/python3 {srv}
        ready = tcp:[::1]:{port}
        """)
    sup.wait_event("service.ready", "srv", timeout=10)
    assert 0.45 <= startup(sup, "srv") <= 5
    assert sup.stop() == 0


def test_oneshot_extend_timeout_does_not_arm_a_ready_timeout(warden_pid1):
    """ready_timeout does not apply to a oneshot; an EXTEND_TIMEOUT_USEC from one (as
    systemd allows) must not turn into a deadline that stops it."""
    sup = Sup(warden_pid1, f"""
        [migrate]
        type = oneshot
        ready = notify
        command = {sdn("notify:EXTEND_TIMEOUT_USEC=300000", "sleep:1000", "exit:0")}
        restart = never
        """)
    code = sup.wait(15)
    evs = sup.all_events()
    assert not select(evs, "service.stopping", "migrate"), \
        f"the oneshot was stopped: {select(evs, 'service.stopping')}"
    assert code == 0 and select(evs, "service.finished", "migrate"), (code, evs)
