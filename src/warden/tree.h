/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_TREE_H
#define WARDEN_TREE_H

/*
 * What init mode and supervisor mode share about the process tree below
 * warden: signalling what is left of it, and describing what was reaped.
 */

#include <stdbool.h>
#include <sys/types.h>

#include <warden/json.h>

/* Where warden stands: decided once at start-up. */
struct tree {
	pid_t self;
	bool pid1;    /* PID 1 of its namespace */
	bool proc_ok; /* /proc is this namespace's */
};

/* Fills t, and makes warden a subreaper when it is not PID 1. */
void tree_init(struct tree *t);

/*
 * Sends sig to every process left below warden: as PID 1, every other
 * process of the namespace; as a subreaper, every descendant. Without a
 * usable /proc, to the process group fallback_pgid (0: none). Each process
 * gets the signal once. Returns how many processes were found.
 */
unsigned tree_signal_leftovers(const struct tree *t, pid_t fallback_pgid, int sig);

/* How many processes are left below warden, or -1 when /proc cannot tell. */
int tree_count(const struct tree *t);

/* Adds pid, code, signal, core_dumped, status and exit_code to an event. */
void tree_event_status(struct wd_json *j, pid_t pid, int status);

#endif
