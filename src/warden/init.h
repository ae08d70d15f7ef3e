/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_INIT_H
#define WARDEN_INIT_H

/*
 * Init mode: run one command as PID 1 (or as a subreaper), forward signals
 * to it, reap every process that ends, and when the command exits, shut
 * the rest of the tree down and exit with its status.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit code when warden itself fails before anything ran (as env(1) does). */
#define EXIT_WARDEN 125

/* What happens to the rest of the tree once the main child has exited. */
enum leftovers {
	LEFTOVERS_TERMINATE, /* SIGTERM, grace period, SIGKILL (the default) */
	LEFTOVERS_WAIT,	     /* --wait-all: wait for them to end on their own */
};

struct init_opts {
	char **argv;	       /* the command */
	bool group;	       /* forward to the child's process group */
	int rewrite[NSIG];     /* forwarded signal N becomes rewrite[N]; 0 drops it */
	bool remap_exit[256];  /* these final codes become 0 */
	int pdeathsig;	       /* 0: none */
	uint64_t grace;	       /* ns */
	uint64_t stop_timeout; /* ns; 0: off */
	enum leftovers leftovers;
	int preserve_fds;
	const char *events;
};

/* Fills opts with the defaults of init mode. */
void init_opts_defaults(struct init_opts *o);

/*
 * Runs the command to the end. Signals must already be blocked, with the
 * mask from before in *orig_mask. Returns warden's exit code.
 */
int init_run(const struct init_opts *o, const sigset_t *orig_mask);

/* Parses warden's own command line (init mode). Returns -1 to run, or an exit code. */
int cli_parse(int argc, char **argv, struct init_opts *o);

#endif
