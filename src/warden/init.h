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
	LEFTOVERS_EXIT,	     /* exit at once, after reaping what has already ended
				(tini, dumb-init: their users rely on that timing) */
};

/* Where the child runs. */
enum child_group {
	CHILD_PGRP,    /* a process group of its own, with the terminal's foreground */
	CHILD_SESSION, /* a session of its own, taking the terminal (dumb-init) */
	CHILD_SAME,    /* warden's own group (dumb-init --single-child) */
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
	const char *config;  /* -c: supervisor mode */
	const char *control; /* --control PATH */
	bool check;	     /* --check: validate the config and exit */

	/* For tini and dumb-init compatibility; init mode leaves them zero. */
	enum child_group child_group;
	bool term_group_at_exit;  /* rewritten SIGTERM to the group before exiting */
	bool reset_child_signals; /* the child starts with every signal default */
	bool stop_on_tty_signals; /* stop warden after forwarding TSTP/TTIN/TTOU */
	bool detach_tty;	  /* give up the controlling terminal first */
	bool chdir_root;	  /* warden moves to / once the child runs */
	bool warn_reaped;	  /* a message for every orphan reaped */
	int exec_fail_code;	  /* 0: 127 for not found, 126 otherwise */
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

/* The same for tini's command line (invoked as tini or docker-init). */
int compat_tini_parse(int argc, char **argv, struct init_opts *o);

/* The same for dumb-init's command line. */
int compat_dumb_init_parse(int argc, char **argv, struct init_opts *o);

#endif
