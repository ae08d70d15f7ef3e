# SPDX-License-Identifier: MIT
"""Randomised process trees (randtree.py), the short version for CI: 32
seeds, eight in each mode (PID 1 or subreaper, init or supervisor mode).
Each trial checks warden's exit status, that warden reaped every process of
the tree (no zombie) and that none survived it. scripts/randtrees runs the
long version; a failure here prints the command that reproduces it there.
A fixed tree, in every mode, keeps a bug the random trees led to fixed.
"""

import pytest

import randtree
from conftest import HELPERS, WARDEN

SEEDS = range(1000, 1032)


@pytest.fixture(scope="module")
def env():
    e = randtree.Env(WARDEN, HELPERS)
    missing = e.missing()
    if missing:
        pytest.fail(f"{missing} is missing: build tests/helpers/treegen.c")
    return e


def leader_exited_tree():
    """The main process leaves three processes whose main thread exits after
    100 ms while a second thread runs on for 20 s: one dies of SIGTERM, one
    ignores it, one (a setsid escape) catches it and spawns an escapee."""
    N = randtree.Node
    root = N("r", "t", 0, 25000, "x", 3)
    root.children = [N("f", "t", 0, 100, "z", 4), N("d", "i", 0, 100, "z", 5),
                     N("e", "p", 6, 100, "z", 7)]
    return root


@pytest.mark.parametrize("stop", [False, True], ids=["natural", "stop"])
@pytest.mark.parametrize("mode", randtree.MODES)
def test_leftover_whose_main_thread_exited(mode, stop, env, tmp_path):
    """/proc shows such a process as a zombie ('Z'), but it lives: warden must
    stop it with the other leftovers (it used to skip it as a subreaper, and
    as PID 1 with kill_group, then wait for it to end by itself)."""
    root = leader_exited_tree()
    if not stop:
        root.life = 300
    trial = randtree.Trial.fixed(mode, root, stop)
    problems = randtree.run_trial(trial, env, workdir=str(tmp_path))
    assert not problems, trial.describe() + "\n" + "\n".join(problems)
    # Nobody waited 20 s for the threads.
    assert trial.elapsed < 15, f"the trial took {trial.elapsed:.1f} s"


@pytest.mark.parametrize("seed", SEEDS)
def test_random_tree(seed, env, tmp_path):
    trial = randtree.Trial(seed, randtree.MODES[seed % len(randtree.MODES)])
    problems = randtree.run_trial(trial, env, workdir=str(tmp_path))
    assert not problems, trial.describe() + "\n" + "\n".join(problems)
