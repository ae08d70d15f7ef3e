# SPDX-License-Identifier: MIT
"""Randomised process trees under warden: the generator and one trial.

A trial is fixed by its seed and its mode. random.Random(seed) draws a tree
(forks, double forks, setsid escapes, processes that ignore or catch
SIGTERM, or answer it by spawning a new process in a session of its own,
processes whose main thread exits while another runs on (/proc shows them
as zombies), short, medium and long lives, exit codes, deaths by signal) and
how it ends: the main process ends by itself ("natural"), warden gets a
SIGTERM once the whole tree has started ("stop"), or at a random moment
that races the main process's own end ("race").
tests/helpers/treegen builds the tree from its description; warden runs it
in one of four modes (MODES): init mode (`warden -- treegen ...`) or
supervisor mode (`warden -c FILE`, treegen the essential service `main`),
each as PID 1 of a new pid namespace or as a subreaper (tests/helpers/nsrun,
as conftest.py does).

After warden has exited, a trial checks:
  - warden's exit status is the one warden(7) documents for what happened
    (for a race, one of those of the two orders);
  - zero zombies: every process of the tree that warden had to reap (all of
    them but the intermediates of double forks, which their parent waits
    for; the processes spawned on SIGTERM included) was reaped by warden, once (`orphan.reaped`, and `service.exited`
    for the main process, in its events), before it exited;
  - zero survivors: no process with the trial's mark in its command line is
    left, and no process came back to the runner (a subreaper) past warden.

Every process of the tree ends by itself within 40 s (treegen bounds its
lives), so that a broken warden makes a trial fail, never hang.

Used by test_randtree.py (a few seeds, in CI) and scripts/randtrees (many).
"""

import ctypes
import json
import os
import random
import shlex
import signal
import subprocess
import tempfile
import time

MODES = ("pid1-init", "pid1-supervisor", "subreaper-init", "subreaper-supervisor")

GRACE_MS = 1000          # warden's grace for the leftovers
STOP_TIMEOUT_MS = 500    # the main process's, between its SIGTERM and SIGKILL
SHORT_MS = (0, 150)      # lives that end well inside the grace
MEDIUM_MS = (150, 1500)
LONG_MS = (20000, 30000)  # lives that outlast any trial unless warden ends them
WARDEN_TIMEOUT = 60      # a trial whose warden runs longer failed (lives are <= 30 s)
START_TIMEOUT = 20       # for the whole tree to have started before a stop

EXIT_CODES = (0, 1, 2, 3, 42, 100, 126, 127, 255)
# Signals a process may die of at the end of its life (no core: treegen
# sets RLIMIT_CORE to 0). Not SIGTERM-only: the main's status must not
# look like a stop.
END_SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
               signal.SIGUSR1, signal.SIGABRT, signal.SIGSEGV)

PR_SET_CHILD_SUBREAPER = 36


class Node:
    """One process of a tree. ID is its preorder index (treegen's too)."""

    def __init__(self, kind, term, term_code, life, end, end_value):
        self.id = None
        self.kind = kind          # r, f (fork), s (fork+setsid), d (double fork), e (escape)
        self.term = term          # t (dies of SIGTERM), i (ignores it), c (catches it),
                                  # p (catches it and first spawns an escapee)
        self.term_code = term_code
        self.life = life          # ms after its children are forked
        self.end = end            # x (exit END_VALUE), k (signal END_VALUE), or z: the
                                  # main thread exits, a thread exits END_VALUE 20 s later
        self.end_value = end_value
        self.children = []

    def spec(self):
        s = self.kind + self.term
        if self.term in "cp":
            s += f"{self.term_code}:"
        s += f"{self.life}{self.end}{self.end_value}:"
        if self.children:
            s += "[" + " ".join(c.spec() for c in self.children) + "]"
        return s

    def is_long(self):
        """Whether it outlives any trial unless warden ends it."""
        return self.life >= LONG_MS[0] or self.end == "z"

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def status_code(self):
        """Its own end as a shell-style code: the exit code or 128+N."""
        return self.end_value if self.end == "x" else 128 + self.end_value


class Trial:
    """What one seed draws, for one mode."""

    def __init__(self, seed, mode):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
        self.seed = seed
        self.mode = mode
        self.pid1 = mode.startswith("pid1")
        self.supervisor = mode.endswith("supervisor")
        rng = random.Random(f"randtree:{seed}")
        r = rng.random()
        # stop: SIGTERM to warden once the whole tree has started (the main
        # process lives long); race: SIGTERM at a random moment while the main
        # process may be ending by itself, or warden already shutting down.
        self.stop = r < 0.4
        self.race = 0.4 <= r < 0.6
        self.stop_delay = rng.uniform(0, 0.3)
        self.group = rng.random() < 0.3           # init mode: -g
        self.kill_group = rng.random() < 0.7      # supervisor mode: kill_group
        self.root = self._tree(rng)
        for i, n in enumerate(self.root.walk()):
            n.id = i
        self.nodes = list(self.root.walk())
        if self.race:
            self.stop_delay = rng.uniform(0, (self.root.life + GRACE_MS) / 1000)

    @classmethod
    def fixed(cls, mode, root, stop, kill_group=True, group=False):
        """A trial of a given tree (Node ROOT), for regression tests: stopped
        by SIGTERM once started (STOP) or ended by its main process."""
        t = cls.__new__(cls)
        t.seed, t.mode = f"fixed:{root.spec()}", mode
        t.pid1 = mode.startswith("pid1")
        t.supervisor = mode.endswith("supervisor")
        t.stop, t.race, t.stop_delay = stop, False, 0.0
        t.group, t.kill_group = group, kill_group
        t.root = root
        for i, n in enumerate(root.walk()):
            n.id = i
        t.nodes = list(root.walk())
        return t

    def _end(self, rng, root=False):
        r = rng.random()
        if r < 0.1 and not root:
            return "z", rng.choice(EXIT_CODES)
        if r < 0.6:
            return "x", rng.choice(EXIT_CODES)
        return "k", int(rng.choice(END_SIGNALS))

    def _term(self, rng):
        r = rng.random()
        if r < 0.5:
            return "t", 0
        if r < 0.8:
            return "i", 0
        return rng.choice("ccp"), rng.choice(EXIT_CODES)

    def _life(self, rng, term, root=False):
        if root:
            if self.stop:
                return rng.randint(*LONG_MS)
            return rng.randint(*(SHORT_MS if rng.random() < 0.5 else MEDIUM_MS))
        r = rng.random()
        # After a stop request, a process that ignores SIGTERM must either end
        # well inside the grace or outlast it: never near its end.
        if r < 0.2 and (term != "i" or not self.stop):
            return rng.randint(*MEDIUM_MS)
        if r < 0.6:
            return rng.randint(*SHORT_MS)
        return rng.randint(*LONG_MS)

    def _tree(self, rng):
        term, code = self._term(rng)
        end, value = self._end(rng, root=True)
        root = Node("r", term, code, self._life(rng, term, root=True), end, value)
        budget = rng.randint(0, 24)
        frontier = [(root, 0)]
        while budget > 0 and frontier:
            parent, depth = rng.choice(frontier)
            kind = rng.choice("ffsdde")
            term, code = self._term(rng)
            end, value = self._end(rng)
            life = self._life(rng, term)
            if end == "z":
                life = min(life, MEDIUM_MS[1])  # treegen: <= 10 s, then 20 s more
            child = Node(kind, term, code, life, end, value)
            parent.children.append(child)
            budget -= 1
            if depth + 1 < 5:
                frontier.append((child, depth + 1))
        return root

    def spec(self):
        return self.root.spec()

    def in_main_group(self, node):
        """Whether NODE stays in the main process's process group: no setsid
        on its way from the root."""
        def path(n, target):
            if n is target:
                return [n]
            for c in n.children:
                p = path(c, target)
                if p:
                    return [n] + p
            return None
        return all(n.kind not in "se" for n in path(self.root, node))

    def stop_deaths(self, node):
        """After a stop, how a long-lived NODE that does not ignore SIGTERM may
        end: by the SIGTERM (its death, or its handler's exit code), or by
        SIGKILL when the main process ignored it and its stop timeout killed
        the main's process group (init mode; supervisor mode's kill_group)."""
        ok = {("signal", "SIGTERM")} if node.term == "t" else {("code", node.term_code)}
        if self.root.term == "i" and (not self.supervisor or self.kill_group) \
                and self.in_main_group(node):
            ok.add(("signal", "SIGKILL"))
        return ok

    def expected_codes(self):
        """warden's possible exit statuses, by warden(7)'s EXIT STATUS: one,
        except when the stop request races the main process's own end."""
        root = self.root
        if self.race:
            if self.supervisor:
                # Which came first: the essential service's end, or the request.
                return {root.status_code(), 0, 124}
            on_term = {"t": 128 + signal.SIGTERM, "c": root.term_code, "p": root.term_code,
                       "i": 128 + signal.SIGKILL}[root.term]
            return {root.status_code(), on_term}
        return {self.expected_code()}

    def expected_code(self):
        """warden's exit status for a trial that is not a race."""
        root = self.root
        if not self.stop:
            # The essential service (init mode's command) ended by itself:
            # its status, whatever the leftovers needed.
            return root.status_code()
        if not self.supervisor:
            # Init mode: the command's status. It got the SIGTERM.
            if root.term == "t":
                return 128 + signal.SIGTERM
            if root.term in "cp":
                return root.term_code
            return 128 + signal.SIGKILL  # ignored it: --stop-timeout
        # Supervisor mode: 0 for a stop where everything stopped in time,
        # 124 when it took SIGKILL (the main's stop_timeout, or a leftover
        # that ignores SIGTERM still alive at the end of the grace).
        if root.term == "i":
            return 124
        if any(n.term == "i" and n.is_long() for n in self.nodes[1:]):
            return 124
        return 0

    def reproduce(self):
        if isinstance(self.seed, str):
            return "a fixed tree: its test"
        return f"scripts/randtrees --seed {self.seed} --trials 1 --mode {self.mode}"

    def kind(self):
        return "stop" if self.stop else "race" if self.race else "natural"

    def describe(self):
        what = {"stop": "SIGTERM to warden once the tree has started",
                "race": f"SIGTERM to warden {self.stop_delay * 1000:.0f} ms after the main "
                        f"process started",
                "natural": "the main process ends by itself"}[self.kind()]
        codes = " or ".join(str(c) for c in sorted(self.expected_codes()))
        return (f"seed {self.seed}, mode {self.mode}: {len(self.nodes)} processes, {what}; "
                f"expected exit {codes}\n  tree: {self.spec()}\n"
                f"  reproduce: {self.reproduce()}")


class Env:
    """Where the programs are: warden, nsrun and treegen."""

    def __init__(self, warden, helpers):
        self.warden = warden
        self.nsrun = os.path.join(helpers, "nsrun")
        self.treegen = os.path.join(helpers, "treegen")

    def missing(self):
        for p in (self.warden, self.nsrun, self.treegen):
            if not os.access(p, os.X_OK):
                return p
        return None


def become_subreaper():
    """Orphans that escape warden come back to us, where a trial sees them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _clean_signals():
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _read_records(path):
    """treegen's record: {id: {pids}} for S and C lines, the intermediates'
    pids, and the pids spawned on SIGTERM by 'p' nodes ({pid: id})."""
    nodes, mids, spawned = {}, set(), {}
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return nodes, mids, spawned
    for line in text.splitlines():
        what, nid, pid = line.split()
        if what == "I":
            mids.add(int(pid))
        elif what == "P":
            spawned[int(pid)] = int(nid)
        else:
            nodes.setdefault(int(nid), set()).add(int(pid))
    return nodes, mids, spawned


def _started(path):
    try:
        with open(path) as f:
            return {int(line.split()[1]) for line in f if line.startswith("S ")}
    except FileNotFoundError:
        return set()


def _events(path):
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"event": "<invalid JSON>", "line": line})
    except FileNotFoundError:
        pass
    return out


def _marked(token):
    """Pids (host view) of live processes with TOKEN in their command line."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(name))
        except OSError:
            pass
    return found


def _our_children(exclude):
    """Our children (zombies included) other than EXCLUDE: escapees come here."""
    me = str(os.getpid())
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in exclude:
            continue
        try:
            # Any process's name may be there, in any bytes.
            with open(f"/proc/{name}/stat", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[1] == me:
            out.append((int(name), fields[0]))
    return out


def _clean_up(token, exclude):
    """Kills what a failed trial left (marked processes), and reaps what came
    back to us, until nothing is left (bounded: 10 s), so that the next
    trial starts clean."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = _marked(token)
        ours = [p for p, _ in _our_children(exclude)]
        if not left and not ours:
            return
        for pid in left + ours:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in ours:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.01)


def run_trial(trial, env, workdir=None):
    """Runs TRIAL; returns a list of failures (strings), empty when it passed.

    The runner must be a child subreaper (become_subreaper()) for the
    survivors check to see processes that escaped warden."""
    own_tmp = workdir is None
    tmp = workdir or tempfile.mkdtemp(prefix="randtree-")
    token = f"randtree-{os.getpid()}-{trial.seed}-{time.monotonic_ns()}"
    record = os.path.join(tmp, f"{token}.rec")
    events = os.path.join(tmp, f"{token}.events")
    pidfile = os.path.join(tmp, f"{token}.pid")
    statusfile = os.path.join(tmp, f"{token}.status")
    errpath = os.path.join(tmp, f"{token}.err")
    tree = [env.treegen, "--record", record, "--mark", token, trial.spec()]
    grace = f"{GRACE_MS}ms"
    if trial.supervisor:
        conf = os.path.join(tmp, f"{token}.conf")
        with open(conf, "w") as f:
            f.write(f"[warden]\ngrace = {grace}\nshutdown_timeout = 50s\ncontrol = off\n\n"
                    f"[main]\ncommand = {shlex.join(tree)}\nessential = yes\n"
                    f"restart = never\nstop_timeout = {STOP_TIMEOUT_MS}ms\n"
                    f"kill_group = {'yes' if trial.kill_group else 'no'}\n")
        args = ["--events", events, "-c", conf]
    else:
        args = ["--events", events, "--grace", grace, "--stop-timeout", f"{STOP_TIMEOUT_MS}ms"]
        if trial.group:
            args.append("-g")
        args += ["--"] + tree
    cmd = [env.nsrun, "--pidfile", pidfile, "--status", statusfile]
    if not trial.pid1:
        cmd.append("--no-newns")
    cmd += ["--", env.warden] + args

    failures = []
    began = time.monotonic()
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True, preexec_fn=_clean_signals,
                                cwd=tmp)
    try:
        wpid = None
        deadline = time.monotonic() + START_TIMEOUT
        while wpid is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with open(pidfile) as f:
                    wpid = int(f.read())
            except (FileNotFoundError, ValueError):
                time.sleep(0.002)
        if trial.race:
            while time.monotonic() < deadline and 0 not in _started(record):
                time.sleep(0.002)
            time.sleep(trial.stop_delay)
            if wpid is not None:
                try:
                    os.kill(wpid, signal.SIGTERM)
                except ProcessLookupError:
                    pass  # warden had finished: the race went the other way
        if trial.stop:
            want = {n.id for n in trial.nodes}
            while time.monotonic() < deadline and not want <= _started(record):
                time.sleep(0.005)
            missing = want - _started(record)
            if missing:
                failures.append(f"the tree did not start in {START_TIMEOUT}s: "
                                f"nodes {sorted(missing)} missing")
            time.sleep(trial.stop_delay)
            if wpid is not None:
                try:
                    os.kill(wpid, signal.SIGTERM)
                except ProcessLookupError:
                    failures.append("warden had exited before the stop request")
        try:
            proc.wait(timeout=WARDEN_TIMEOUT)
        except subprocess.TimeoutExpired:
            failures.append(f"warden did not exit within {WARDEN_TIMEOUT}s")
        trial.elapsed = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Survivors and escapees, before anything else can end them.
    survivors = _marked(token)
    strays = _our_children(exclude={proc.pid})
    if survivors:
        failures.append(f"{len(survivors)} process(es) of the tree survived warden: {survivors}")
    if strays:
        failures.append(f"{len(strays)} process(es) came back to the runner past warden "
                        f"(pid, state): {strays}")
    _clean_up(token, exclude={proc.pid})

    try:
        with open(statusfile) as f:
            status = f.read().strip()
    except FileNotFoundError:
        status = f"no status (nsrun exited {proc.returncode})"
    want = {f"exited {c}" for c in trial.expected_codes()}
    if status not in want:
        failures.append(f"warden {status}, expected {' or '.join(sorted(want))}")

    # Zero zombies: warden reaped every process it had to, once.
    nodes, mids, spawned = _read_records(record)
    evs = _events(events)
    bad = [e for e in evs if e.get("event") == "<invalid JSON>"]
    if bad:
        failures.append(f"invalid events lines: {bad[:3]}")
    reaped = [e.get("pid") for e in evs if e.get("event") == "orphan.reaped"]
    main_exits = [e for e in evs if e.get("event") == "service.exited"]
    twice = sorted({p for p in reaped if reaped.count(p) > 1})
    if twice:
        failures.append(f"pids reaped more than once: {twice}")
    for nid, pids in sorted(nodes.items()):
        if len(pids) != 1:
            failures.append(f"node {nid} recorded with several pids {sorted(pids)}")
            continue
        (pid,) = pids
        if nid == 0:
            got = [e.get("pid") for e in main_exits]
            if got != [pid]:
                failures.append(f"main process {pid}: service.exited for pids {got}")
        elif pid not in reaped:
            failures.append(f"node {nid} (pid {pid}, {trial.nodes[nid].spec()[:2]}) "
                            f"was never reaped by warden")
    for pid, nid in sorted(spawned.items()):
        if pid not in reaped:
            failures.append(f"pid {pid}, spawned by node {nid} on SIGTERM, "
                            f"was never reaped by warden")
    if trial.stop:
        # Every long-lived process was there at the stop request: one that does
        # not ignore SIGTERM must have got it, from warden, before any SIGKILL.
        ends = {}
        for e in evs:
            if e.get("event") in ("orphan.reaped", "service.exited"):
                ends[e.get("pid")] = ("signal", e["signal"]) if e.get("signal") else \
                    ("code", e.get("code"))
        for node in trial.nodes[1:]:
            pids = nodes.get(node.id, set())
            if node.term == "i" or not node.is_long() or len(pids) != 1:
                continue
            (pid,) = pids
            ok = trial.stop_deaths(node)
            if pid in ends and ends[pid] not in ok:
                failures.append(f"node {node.id} (pid {pid}, {node.spec()[:2]}) ended with "
                                f"{ends[pid][0]} {ends[pid][1]}, expected "
                                f"{' or '.join(f'{a} {b}' for a, b in sorted(ok, key=str))}")
    if 0 not in nodes:
        failures.append("the main process never started")
    if not trial.stop and not trial.race and main_exits and main_exits[0].get("exit_code") != trial.root.status_code():
        failures.append(f"main process exit_code {main_exits[0].get('exit_code')}, "
                        f"expected {trial.root.status_code()}")
    fin = [e for e in evs if e.get("event") == "shutdown.finished"]
    if len(fin) != 1:
        failures.append(f"{len(fin)} shutdown.finished events")
    if failures:
        try:
            with open(errpath, errors="replace") as f:
                tail = f.read()[-2000:]
        except OSError:
            tail = ""
        if tail:
            failures.append("warden's stderr (end):\n" + tail)
    if own_tmp:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    return failures
