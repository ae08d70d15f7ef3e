/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_FD_H
#define WARDEN_FD_H

/*
 * Descriptor hygiene: close what was not asked for, list what is open,
 * and audit: snapshot the open descriptors with what each points to, diff
 * two snapshots, list those a child would inherit.
 *
 * The audit is meant for a program's own tests ("this request handler
 * leaks nothing"):
 *
 *	wd_fd_snapshot *before, *after, *opened;
 *	wd_fd_snapshot_take(&before);
 *	handle_one_request();
 *	wd_fd_snapshot_take(&after);
 *	if (wd_fd_snapshot_diff(before, after, &opened, NULL) > 0)
 *		for (size_t i = 0; i < wd_fd_snapshot_count(opened); i++)
 *			printf("leaked %d -> %s\n", wd_fd_snapshot_at(opened, i)->fd,
 *			       wd_fd_snapshot_at(opened, i)->target);
 *
 * A snapshot is of this moment only: in a threaded program another
 * thread may open or close descriptors while it is taken, and those may
 * or may not be in it. Take snapshots when the program is quiet.
 *
 * Threads and signals: every function here is thread-safe. Only those
 * that say so are async-signal-safe; wd_fd_set_cloexec() is (it is one
 * fcntl()), wd_fd_close_from() and wd_fd_list() are not (their /proc
 * fallback and walk use opendir()).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Closes every descriptor >= lowfd except those in keep[0..nkeep). Uses
 * close_range() and falls back to walking /proc/self/fd. Returns 0 or
 * -errno (and then closed what it could).
 */
int wd_fd_close_from(int lowfd, const int *keep, size_t nkeep);

/* Sets or clears FD_CLOEXEC. Returns 0 or -errno. */
int wd_fd_set_cloexec(int fd, bool on);

/*
 * Lists the open descriptors of process pid (0: this process) into
 * fds[0..max), ascending. Returns how many are open (which can exceed max:
 * then only the first max are stored) or -errno.
 */
int wd_fd_list(int pid, int *fds, size_t max);

/*
 * Lists this process's open descriptors >= lowfd that lack FD_CLOEXEC,
 * i.e. that any exec() would pass on, into fds[0..max), ascending (lowfd
 * 3 leaves out stdin, stdout and stderr, inherited on purpose). Returns
 * how many there are (which can exceed max, as wd_fd_list()) or -errno.
 * Thread-safe. Not async-signal-safe (opendir()).
 */
int wd_fd_list_inheritable(int lowfd, int *fds, size_t max);

/* One open descriptor as a snapshot saw it. Read-only; owned by its snapshot. */
struct wd_fd_info {
	int fd;
	int fd_flags;	  /* fcntl(F_GETFD): FD_CLOEXEC */
	int status_flags; /* fcntl(F_GETFL): O_ACCMODE bits, O_NONBLOCK, O_APPEND... */
	mode_t mode;	  /* fstat()'s st_mode: the type (S_ISSOCK...) and permissions */
	dev_t dev;	  /* fstat()'s st_dev and st_ino: which object it is */
	ino_t ino;
	const char *target; /* readlink("/proc/self/fd/N"): "/dev/null", "socket:[123]",
			     * "pipe:[45]", "anon_inode:[eventfd]", ...; "?" when unreadable */
};

/*
 * A snapshot: an array of wd_fd_info in ascending fd order. Opaque;
 * wd_fd_info may grow at its end in a later version, so index it only
 * through wd_fd_snapshot_at().
 */
typedef struct wd_fd_snapshot wd_fd_snapshot;

/*
 * Takes a snapshot of this process's open descriptors (the one it uses
 * itself to read /proc/self/fd is not in it). Returns 0 or -errno (-ENOMEM,
 * or /proc not mounted); *ret untouched on failure. Thread-safe. Not
 * async-signal-safe (allocates).
 */
int wd_fd_snapshot_take(wd_fd_snapshot **ret);

/* Frees a snapshot; NULL is fine. Thread-safe (per object). Not async-signal-safe. */
void wd_fd_snapshot_free(wd_fd_snapshot *snap);

/* How many descriptors the snapshot holds. Thread-safe. Async-signal-safe. */
size_t wd_fd_snapshot_count(const wd_fd_snapshot *snap);

/*
 * The i-th descriptor (ascending fd order), or NULL when i >= count. Valid
 * until the snapshot is freed. Thread-safe. Async-signal-safe.
 */
const struct wd_fd_info *wd_fd_snapshot_at(const wd_fd_snapshot *snap, size_t i);

/* Descriptor fd as the snapshot saw it, or NULL. Thread-safe. Async-signal-safe. */
const struct wd_fd_info *wd_fd_snapshot_find(const wd_fd_snapshot *snap, int fd);

/*
 * What changed from before to after: in *ret_opened the descriptors of
 * after that before did not have, in *ret_closed those of before that
 * after does not have (each with its target, as the snapshot that had it
 * saw it). A number that points to another object in after (closed, then
 * reused: another dev/ino or target) is in both. Either ret may be NULL
 * when that half is not wanted. Returns how many changes (opened plus
 * closed: 0 when nothing leaked nor vanished) or -ENOMEM (then the rets
 * are untouched). Thread-safe. Not async-signal-safe (allocates).
 */
int wd_fd_snapshot_diff(const wd_fd_snapshot *before, const wd_fd_snapshot *after,
			wd_fd_snapshot **ret_opened, wd_fd_snapshot **ret_closed);

#endif
