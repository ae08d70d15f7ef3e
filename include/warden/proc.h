/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_PROC_H
#define WARDEN_PROC_H

/*
 * Process trees from /proc.
 */

#include <stddef.h>
#include <sys/types.h>

/*
 * Finds every live process below root (children, their children, ...),
 * zombies excluded, in /proc. Stores up to max pids in pids. Returns how
 * many there are (possibly more than max) or -errno.
 */
int wd_proc_descendants(pid_t root, pid_t *pids, size_t max);

/*
 * Sends sig to every live process below root; returns how many were
 * signalled or -errno.
 */
int wd_proc_kill_descendants(pid_t root, int sig);

/*
 * The same, leaving out the caller and every process whose process group
 * is one of skip_pgids[0..nskip). Root 0 means every process of the pid
 * namespace (those entered from outside included): what a PID 1 has below
 * it. Returns how many were signalled or -errno.
 */
int wd_proc_kill_tree(pid_t root, int sig, const pid_t *skip_pgids, size_t nskip);

/*
 * A snapshot of every live process and its parent, read once from /proc,
 * for asking about many trees at once (wd_proc_descendants() reads /proc
 * every time).
 */
struct wd_proc_table;

/* Reads the snapshot. Returns 0 or -errno; free it with wd_proc_table_free(). */
int wd_proc_table_read(struct wd_proc_table **ret);
void wd_proc_table_free(struct wd_proc_table *t);

/* As wd_proc_descendants(), from the snapshot. */
int wd_proc_table_descendants(const struct wd_proc_table *t, pid_t root, pid_t *pids, size_t max);

/* True when /proc shows this process with its own pid (same pid namespace). */
int wd_proc_is_own(void);

#endif
