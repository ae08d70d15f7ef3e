# SPDX-License-Identifier: MIT
"""Randomised process trees (randtree.py), the short version for CI: 40
seeds, ten in each mode (PID 1 or subreaper, init or supervisor mode). Each
trial checks warden's exit status, that warden reaped every process of the
tree (no zombie) and that none survived it. scripts/randtrees runs the long
version; a failure here prints the command that reproduces it there.
"""

import pytest

import randtree
from conftest import HELPERS, WARDEN

SEEDS = range(1000, 1040)


@pytest.fixture(scope="module")
def env():
    e = randtree.Env(WARDEN, HELPERS)
    missing = e.missing()
    if missing:
        pytest.fail(f"{missing} is missing: build tests/helpers/treegen.c")
    return e


@pytest.mark.parametrize("seed", SEEDS)
def test_random_tree(seed, env, tmp_path):
    trial = randtree.Trial(seed, randtree.MODES[seed % len(randtree.MODES)])
    problems = randtree.run_trial(trial, env, workdir=str(tmp_path))
    assert not problems, trial.describe() + "\n" + "\n".join(problems)
