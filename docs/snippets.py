#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiles every ```c block of a Markdown file against libwarden's headers, each block
on its own as one translation unit, so that the examples in the documents use the
functions, types and arguments that the headers really have.

  snippets.py [--cc "CC ARGS"] [-I DIR]... FILE.md...

A block may use the usual libc headers without including them (PRELUDE below); every
libwarden header it needs, it includes itself, as a reader would have to. A block is
only compiled (-fsyntax-only), so the application functions it declares need no body.
Exits 1 and shows the block and the compiler's complaint when one does not compile, or
when a file has no block at all."""

import argparse
import os
import re
import shlex
import subprocess
import sys

PRELUDE = """\
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
"""

FLAGS = ["-std=gnu11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
         "-fsyntax-only", "-x", "c", "-"]

BLOCK = re.compile(r"^```c\n(.*?)^```", re.S | re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("-I", dest="incs", action="append", default=[])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    cc = shlex.split(args.cc)
    bad = total = 0
    for path in args.files:
        with open(path) as f:
            text = f.read()
        blocks = list(BLOCK.finditer(text))
        if not blocks:
            print(f"{path}: no ```c block", file=sys.stderr)
            bad += 1
        for m in blocks:
            total += 1
            line = text.count("\n", 0, m.start(1)) + 1
            src = PRELUDE + f'#line {line} "{path}"\n' + m.group(1)
            r = subprocess.run(cc + [f"-I{d}" for d in args.incs] + FLAGS, input=src,
                               capture_output=True, text=True)
            if r.returncode != 0:
                bad += 1
                print(f"{path}:{line}: this block does not compile:\n{m.group(1)}\n{r.stderr}",
                      file=sys.stderr)
    print(f"{total - bad} of {total} blocks compile")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
