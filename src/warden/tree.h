/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_TREE_H
#define WARDEN_TREE_H

/*
 * The processes left below warden: found, counted and signalled; and how
 * a reaped process is described in an event.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <warden/json.h>

/*
 * Sends sig to every process left below warden (self): as PID 1, every
 * other process of the namespace, with kill(-1) when no group is to be
 * left out; as a subreaper, every descendant, from /proc. The processes
 * of the groups skip[0..nskip) are left out. Returns how many got it, or
 * without count (kill(-1) walks nothing) 1 when any process did.
 */
unsigned tree_signal(pid_t self, bool pid1, int sig, const pid_t *skip, size_t nskip, bool count);

/* How many processes are left below warden, or -1 when /proc cannot tell. */
int tree_count(pid_t self, bool pid1);

/* What a service's processes use now. */
struct tree_usage {
	unsigned processes;
	uint64_t rss_bytes;
	uint64_t fds;	 /* open descriptors, of the processes /proc lets warden see */
	uint64_t cpu_ns; /* user and system time of the live processes */
	bool cpu_total;	 /* cpu_ns is every run's, from the service's cgroup */
};

struct wd_proc_table;

/*
 * Sums what the processes of a service use: pid, every process below it,
 * and every process of its group pgid (when pgid > 0), as the snapshot t
 * has them (CPU and memory when t was read, descriptors now). Returns 0
 * or -errno (no memory).
 */
int tree_usage(const struct wd_proc_table *t, pid_t pid, pid_t pgid, struct tree_usage *u);

/* Adds pid, code, signal, core_dumped, status and exit_code to an event. */
void tree_event_status(struct wd_json *j, pid_t pid, int status);

/* Adds utime_us, stime_us and maxrss_kb. */
void tree_event_rusage(struct wd_json *j, const struct rusage *ru);

#endif
