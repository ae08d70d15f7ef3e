/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_PROC_H
#define WARDEN_PROC_H

/*
 * Process trees from /proc (Linux only: see docs/portability.md).
 *
 * Threads: every function is thread-safe; a struct wd_proc_table is
 * read-only once read, so any number of threads may ask it at once, and
 * wd_proc_table_free() must wait until they are done. None is
 * async-signal-safe (they allocate and use stdio).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <warden/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Finds every live process below root (children, their children, ...),
 * zombies excluded, in /proc. Stores up to max pids in pids. Returns how
 * many there are (possibly more than max) or -errno.
 * Thread-safe. Not async-signal-safe.
 * A process whose main thread exited while other threads run on is not a
 * zombie: /proc says 'Z', but it lives.
 */
WD_NODISCARD int wd_proc_descendants(pid_t root, pid_t *pids, size_t max);

/*
 * Sends sig to every live process below root; returns how many were
 * signalled or -errno. Thread-safe. Not async-signal-safe.
 */
int wd_proc_kill_descendants(pid_t root, int sig);

/*
 * The same, leaving out the caller and every process whose process group
 * is one of skip_pgids[0..nskip). Root 0 means every process of the pid
 * namespace (those entered from outside included): what a PID 1 has below
 * it. Returns how many were signalled or -errno.
 * Thread-safe. Not async-signal-safe.
 */
int wd_proc_kill_tree(pid_t root, int sig, const pid_t *skip_pgids, size_t nskip);

/*
 * A snapshot of every live process and its parent, read once from /proc,
 * for asking about many trees at once (wd_proc_descendants() reads /proc
 * every time). Opaque.
 */
struct wd_proc_table;

/*
 * Reads the snapshot. Returns 0 or -errno (*ret untouched); free it with
 * wd_proc_table_free(). Thread-safe. Not async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(1) int wd_proc_table_read(struct wd_proc_table **ret);
/* NULL is fine. Not thread-safe: no other thread may use t. Not async-signal-safe. */
void wd_proc_table_free(struct wd_proc_table *t);

/* As wd_proc_descendants(), from the snapshot. Thread-safe. Not async-signal-safe. */
WD_NODISCARD WD_NONNULL(1) int wd_proc_table_descendants(const struct wd_proc_table *t, pid_t root,
							 pid_t *pids, size_t max);

/*
 * As wd_proc_table_descendants(), with root itself (when it is alive) and,
 * when pgid > 0, every live process of the process group pgid, even one
 * that left root's tree (an orphan reparented to a reaper): the processes
 * of a job. Root 0 means no root process (the group alone). Each is stored
 * once. Returns the count (possibly more than max) or -errno.
 * Thread-safe. Not async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(1) int wd_proc_table_tree(const struct wd_proc_table *t, pid_t root,
						  pid_t pgid, pid_t *pids, size_t max);

/* What one process uses now, from /proc/PID/stat and /proc/PID/fd. */
struct wd_proc_usage {
	uint64_t cpu_ns;      /* user and system time */
	uint64_t rss_bytes;   /* resident memory */
	uint64_t vsize_bytes; /* virtual memory */
	uint64_t start_ns;    /* when it started, after boot (CLOCK_BOOTTIME) */
	unsigned threads;
	int fds;	      /* open descriptors, or -1 when /proc/PID/fd cannot be read */
	uint64_t reserved[4]; /* room to grow without an ABI break; written as 0 */
};

/*
 * Reads pid's usage. Returns 0 or -errno (-ESRCH: it is gone); *u untouched
 * on failure. Thread-safe. Not async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(2) int wd_proc_usage(pid_t pid, struct wd_proc_usage *u);

/*
 * As wd_proc_usage(), from the snapshot: what pid used when the snapshot
 * was read (no second reading of /proc/PID/stat), and its descriptors now.
 * Returns 0, or -ESRCH when the snapshot does not hold pid.
 * Thread-safe. Not async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(1, 3) int wd_proc_table_usage(const struct wd_proc_table *t, pid_t pid,
						      struct wd_proc_usage *u);

/*
 * True when /proc shows this process with its own pid (same pid namespace).
 * Thread-safe. Not async-signal-safe.
 */
WD_NODISCARD int wd_proc_is_own(void);

#ifdef __cplusplus
}
#endif

#endif
