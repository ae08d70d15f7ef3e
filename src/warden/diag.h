/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_DIAG_H
#define WARDEN_DIAG_H

/*
 * Start-up diagnostics: how warden was built, and what it finds about the
 * world it starts in (kernel, pid namespace, cgroups, descriptor limit, the
 * signal state it inherited). Gathered once, with a handful of system calls
 * and no walk of /proc, for warden.started and warden --version -v; what
 * looks wrong also becomes a warden.warning event.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

#include <warden/json.h>

#include "config.h"

struct diag {
	char kernel[65];      /* uname's release; "" when unknown */
	uint64_t pidns;	      /* inode of /proc/self/ns/pid; 0 when unknown */
	const char *cgroup;   /* "v2", "v1", "hybrid", "none" */
	char cgroup_dir[256]; /* warden's own cgroup directory; "" when unknown */
	int cgroup_writable;  /* access(W_OK) of it: 1, 0, -1 unknown */
	bool have_nofile;
	struct rlimit nofile; /* as inherited (supervisor mode raises it later) */
	sigset_t blocked;     /* the mask warden was started with */
	uint64_t ignored;     /* bit N-1: signal N was SIG_IGN when warden started */
	bool have_ignored;
};

/*
 * Records the signal mask warden was started with, before it blocks every
 * signal (main() calls it first thing with the mask it replaced).
 */
void diag_inherited(const sigset_t *mask);

/* Gathers what warden finds about its world (see above) into d. */
void diag_gather(struct diag *d);

/* d and the build, as members of warden.started (an open JSON object). */
void diag_json(const struct diag *d, struct wd_json *j);

/*
 * Says what looks wrong in d: a warden.warning event each, and a log line
 * at -v. mode and c tell what the services inherit (dumb-init resets the
 * signal dispositions of its command); subreaper is false when warden,
 * not PID 1, could not become one.
 */
void diag_warn(const struct diag *d, const struct config *c, bool pid1, bool subreaper);

/* warden --version -v: the same, as lines for a human. */
void diag_print(FILE *f);

#endif
