# SPDX-License-Identifier: MIT
"""Command line: --help, --version, usage errors (exit 125, two lines, no child)."""

import os
import re

import pytest

from conftest import USAGE_HINT, q, run_direct

pytestmark = pytest.mark.timeout(60)

LONG_OPTIONS = ["--group", "--rewrite", "--pdeathsig", "--remap-exit", "--grace", "--wait-all",
                "--stop-timeout", "--preserve-fds", "--events", "--verbose", "--help", "--version"]


def project_version():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "meson.build")) as f:
        m = re.search(r"version\s*:\s*'([^']+)'", f.read())
    assert m, "no version in meson.build"
    return m.group(1)


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help(flag, tmp_path):
    marker = tmp_path / "marker"
    r = run_direct([flag, "--", "sh", "-c", f"touch {q(marker)}"])
    assert r.returncode == 0
    assert r.stderr == ""
    assert r.stdout.strip(), "--help printed nothing on stdout"
    for opt in LONG_OPTIONS:
        assert opt in r.stdout, f"--help does not mention {opt}"
    assert not marker.exists()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag):
    r = run_direct([flag])
    assert r.returncode == 0
    assert r.stderr == ""
    v = re.escape(project_version())
    assert re.fullmatch(rf"warden {v} \(git [0-9a-zA-Z.+-]+\)\n", r.stdout), r.stdout


# (arguments, exact first stderr line or None when the contract gives no wording)
USAGE_ERRORS = [
    (["--bogus", "--"], "warden: unknown option '--bogus'"),
    (["--bogus"], "warden: unknown option '--bogus'"),
    (["-r", "FOO:TERM", "--"], "warden: invalid signal 'FOO' in --rewrite 'FOO:TERM'"),
    (["--rewrite", "FOO:TERM", "--"], "warden: invalid signal 'FOO' in --rewrite 'FOO:TERM'"),
    (["--rewrite=FOO:TERM", "--"], "warden: invalid signal 'FOO' in --rewrite 'FOO:TERM'"),
    (["--rewrite", "TERM:BAR", "--"], "warden: invalid signal 'BAR' in --rewrite 'TERM:BAR'"),
    (["--grace", "abc", "--"], "warden: invalid duration 'abc' for --grace"),
    (["--grace=abc", "--"], "warden: invalid duration 'abc' for --grace"),
    (["--grace", "5x", "--"], "warden: invalid duration '5x' for --grace"),
    (["--grace", "-1", "--"], "warden: invalid duration '-1' for --grace"),
    (["--grace", "", "--"], "warden: invalid duration '' for --grace"),
    (["--stop-timeout", "abc", "--"], "warden: invalid duration 'abc' for --stop-timeout"),
    (["-t", "abc", "--"], None),
    (["-Z", "--"], None),
    (["--rewrite", "TERM", "--"], None),
    (["--rewrite", "TERM:", "--"], None),
    (["--rewrite", ":TERM", "--"], None),
    (["--rewrite", "65:TERM", "--"], None),
    (["--pdeathsig", "FOO", "--"], None),
    (["-p", "0x", "--"], None),
    (["--remap-exit", "256", "--"], None),
    (["--remap-exit", "abc", "--"], None),
    (["-e", "-1", "--"], None),
    (["--preserve-fds", "abc", "--"], None),
    (["--preserve-fds", "-1", "--"], None),
    (["--grace"], None),
]


@pytest.mark.parametrize("args,first", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error(args, first, tmp_path):
    marker = tmp_path / "marker"
    r = run_direct(args + ["sh", "-c", f"touch {q(marker)}"])
    assert r.returncode == 125, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and r.stderr.endswith("\n"), f"want exactly two stderr lines, got {r.stderr!r}"
    if first is not None:
        assert lines[0] == first
    else:
        assert lines[0].startswith("warden: ") and len(lines[0]) > len("warden: "), lines[0]
    assert lines[1] == USAGE_HINT
    assert not marker.exists(), "a child was started despite the usage error"


@pytest.mark.parametrize("args", [[], ["--"], ["-g"], ["-g", "--"], ["-t", "1"]])
def test_missing_command(args):
    r = run_direct(args)
    assert r.returncode == 125
    assert r.stdout == ""
    assert r.stderr == f"warden: missing command\n{USAGE_HINT}\n"


def test_option_parsing_stops_at_first_non_option(tmp_path):
    # getopt "+": "--bogus" after the command belongs to the command.
    out = tmp_path / "args"
    r = run_direct(["sh", "-c", f'printf "%s\\n" "$@" > {q(out)}', "sh", "--bogus", "-g"])
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "--bogus\n-g\n"


def test_double_dash_then_option_like_command(tmp_path):
    # After "--", a command that starts with "-" is a command, not an option.
    r = run_direct(["--", "-definitely-not-a-command"])
    assert r.returncode == 127
    assert "warden: cannot execute '-definitely-not-a-command': No such file or directory" in r.stderr


@pytest.mark.parametrize("dur", ["0", "0s", "1.5", "250ms", "0.25s", "300000us", "1m", "1min", "1h",
                                 "2s", "10"])
def test_valid_durations_accepted(dur):
    r = run_direct(["--grace", dur, "--stop-timeout", dur, "--", "true"])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


@pytest.mark.parametrize("spec", ["TERM:USR1", "SIGTERM:SIGUSR1", "term:usr1", "15:10", "RTMIN+2:0",
                                  "SIGRTMIN+2:RTMAX", "USR1:0", "HUP:RTMIN"])
def test_valid_rewrites_accepted(spec):
    r = run_direct(["--rewrite", spec, "-r", spec, "--", "true"])
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_events_unopenable_is_error_before_child(tmp_path):
    marker = tmp_path / "marker"
    r = run_direct(["--events", str(tmp_path / "no" / "such" / "dir" / "ev"), "--",
                    "sh", "-c", f"touch {q(marker)}"])
    assert r.returncode == 125
    assert r.stderr.startswith("warden: ")
    assert not marker.exists()

