/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CLI_H
#define WARDEN_CLI_H

/*
 * The command lines warden answers to: its own (cli.c), and tini's and
 * dumb-init's when it is invoked under their names (compat.c). Each fills
 * a struct cmdline; cli_build() turns init mode's into the config of one
 * service, "main", that the core runs like any other.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct cmdline {
	enum run_mode mode;
	char **argv;	       /* the command */
	bool group;	       /* forward to the command's process group */
	int rewrite[NSIG];     /* forwarded signal N becomes rewrite[N]; 0 drops it */
	bool remap_exit[256];  /* these final codes become 0 */
	int pdeathsig;	       /* 0: none */
	uint64_t grace;	       /* ns */
	uint64_t stop_timeout; /* ns; TIMEOUT_NONE: none */
	uint64_t shutdown_timeout;
	enum leftovers leftovers;
	int preserve_fds;
	const char *events;
	const char *config;	 /* -c: supervisor mode */
	const char *control;	 /* --control PATH */
	const char *runtime_dir; /* --runtime-directory DIR (checked) */
	const char *http;	 /* --http ADDR:PORT (checked) */
	bool check;		 /* --check: validate the config and exit */
	const char *health;	 /* --health SPEC: main's health check */
	int cgroup;		 /* --cgroup: CMD_CGROUP_* */

	/* Init mode's settings that a file's key can also set. */
	uint64_t shutdown_delay; /* ns */
	const char *ready;	 /* --ready SPEC, checked; NULL: none given */
	unsigned given;		 /* GIVEN_*: options given, which win over -c FILE's keys */

	/* For tini and dumb-init; warden's own command line leaves them as they are. */
	enum svc_session session;
	bool term_group_at_exit;  /* rewritten SIGTERM to the group when the command exits */
	bool reset_child_signals; /* the command starts with every signal default */
	bool stop_on_tty_signals; /* stop warden after forwarding TSTP/TTIN/TTOU */
	bool detach_tty;	  /* give up the controlling terminal first */
	bool warn_reaped;	  /* a message for every orphan reaped */
	int exec_fail_code;	  /* 0: 127 for not found, 126 otherwise */
};

/* Options of init mode that a file's key can also set (-c FILE -- COMMAND). */
#define GIVEN_GRACE (1u << 0)
#define GIVEN_STOP_TIMEOUT (1u << 1)
#define GIVEN_SHUTDOWN_TIMEOUT (1u << 2)
#define GIVEN_SHUTDOWN_DELAY (1u << 3)

/* --cgroup: not given (the file's cgroup =, or auto), auto, off. */
enum { CMD_CGROUP_UNSET, CMD_CGROUP_AUTO, CMD_CGROUP_OFF };

/* Fills cl with the defaults of init mode. */
void cmdline_defaults(struct cmdline *cl);

/* Parses warden's own command line. Returns -1 to run, or an exit code. */
int cli_parse(int argc, char **argv, struct cmdline *cl);

/* The same for tini's command line (invoked as tini or docker-init). */
int compat_tini_parse(int argc, char **argv, struct cmdline *cl);

/* The same for dumb-init's command line. */
int compat_dumb_init_parse(int argc, char **argv, struct cmdline *cl);

/*
 * Init mode: the config of one service, "main", running cl's command as
 * cl says. Reads LISTEN_FDS (socket activation meant for warden). Returns
 * -1 to run, or an exit code (the error said).
 */
int cli_build(const struct cmdline *cl, struct config *conf);

#endif
