/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <warden/fd.h>

static bool kept(int fd, const int *keep, size_t nkeep)
{
	size_t i;

	for (i = 0; i < nkeep; i++)
		if (keep[i] == fd)
			return true;
	return false;
}

static int close_from_proc(int lowfd, const int *keep, size_t nkeep)
{
	struct dirent *de;
	DIR *d;
	int dfd;

	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd < lowfd || fd == dfd)
			continue;
		if (!kept((int)fd, keep, nkeep))
			close((int)fd);
	}
	closedir(d);
	return 0;
}

int wd_fd_close_from(int lowfd, const int *keep, size_t nkeep)
{
	int from = lowfd, r = 0;
	size_t i;
	bool more = true;

	/* close_range() over each gap between kept descriptors, in order. */
	while (more) {
		int next = -1;

		for (i = 0; i < nkeep; i++)
			if (keep[i] >= from && (next < 0 || keep[i] < next))
				next = keep[i];
		more = next >= 0;
		if (next == from) {
			if (from == INT_MAX)
				break;
			from++;
			continue;
		}
		if (syscall(SYS_close_range, (unsigned)from, more ? (unsigned)next - 1 : ~0U, 0) <
		    0) {
			r = -errno;
			break;
		}
		if (!more || next == INT_MAX)
			break;
		from = next + 1;
	}
	if (r == -ENOSYS || r == -EINVAL)
		return close_from_proc(lowfd, keep, nkeep);
	return r;
}

int wd_fd_set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	if (!!(fl & FD_CLOEXEC) == on)
		return 0;
	if (fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

int wd_fd_list(int pid, int *fds, size_t max)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int dfd, n = 0;

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	d = opendir(path);
	if (!d)
		return -errno;
	dfd = pid > 0 && pid != getpid() ? -1 : dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dfd)
			continue;
		if ((size_t)n < max)
			fds[n] = (int)fd;
		n++;
	}
	closedir(d);
	qsort(fds, (size_t)n < max ? (size_t)n : max, sizeof(int), cmp_int);
	return n;
}

int wd_fd_list_inheritable(int lowfd, int *fds, size_t max)
{
	struct dirent *de;
	DIR *d;
	int dfd, n = 0;

	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		int fl;

		if (*end || end == de->d_name || fd == dfd || fd < lowfd)
			continue;
		/* Closed by another thread since readdir() saw it: not open, not listed. */
		fl = fcntl((int)fd, F_GETFD);
		if (fl < 0 || (fl & FD_CLOEXEC))
			continue;
		if ((size_t)n < max)
			fds[n] = (int)fd;
		n++;
	}
	closedir(d);
	qsort(fds, (size_t)n < max ? (size_t)n : max, sizeof(int), cmp_int);
	return n;
}

/* --- the audit ---------------------------------------------------------------- */

struct wd_fd_snapshot {
	size_t n, cap;
	struct wd_fd_info *fds;
};

static const char unknown_target[] = "?";

static void info_free(struct wd_fd_info *i)
{
	if (i->target != unknown_target)
		free((char *)i->target);
}

void wd_fd_snapshot_free(wd_fd_snapshot *snap)
{
	size_t i;

	if (!snap)
		return;
	for (i = 0; i < snap->n; i++)
		info_free(&snap->fds[i]);
	free(snap->fds);
	free(snap);
}

/* Appends a copy of *info (its target copied too). Returns 0 or -ENOMEM. */
static int snap_add(wd_fd_snapshot *snap, const struct wd_fd_info *info)
{
	struct wd_fd_info *slot;

	if (snap->n == snap->cap) {
		size_t cap = snap->cap ? snap->cap * 2 : 32;
		struct wd_fd_info *p = realloc(snap->fds, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		snap->fds = p;
		snap->cap = cap;
	}
	slot = &snap->fds[snap->n];
	*slot = *info;
	if (info->target != unknown_target && !(slot->target = strdup(info->target)))
		return -ENOMEM;
	snap->n++;
	return 0;
}

static int cmp_info(const void *a, const void *b)
{
	return cmp_int(&((const struct wd_fd_info *)a)->fd, &((const struct wd_fd_info *)b)->fd);
}

/* Describes fd; returns false when it is not open (any more). target is the caller's buffer. */
static bool describe(int fd, struct wd_fd_info *info, char *target, size_t size)
{
	char path[64];
	struct stat st;
	ssize_t len;

	memset(info, 0, sizeof(*info));
	info->fd = fd;
	info->fd_flags = fcntl(fd, F_GETFD);
	if (info->fd_flags < 0)
		return false;
	info->status_flags = fcntl(fd, F_GETFL);
	if (info->status_flags < 0)
		info->status_flags = 0;
	if (fstat(fd, &st) == 0) {
		info->mode = st.st_mode;
		info->dev = st.st_dev;
		info->ino = st.st_ino;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	len = readlink(path, target, size - 1);
	if (len < 0) {
		info->target = unknown_target;
	} else {
		/* A longer target is cut: a snapshot describes, it does not resolve. */
		target[len] = '\0';
		info->target = target;
	}
	return true;
}

int wd_fd_snapshot_take(wd_fd_snapshot **ret)
{
	wd_fd_snapshot *snap = calloc(1, sizeof(*snap));
	char *target = malloc(PATH_MAX);
	struct wd_fd_info info;
	struct dirent *de;
	DIR *d = NULL;
	int dfd, r = -ENOMEM;

	if (!snap || !target)
		goto fail;
	d = opendir("/proc/self/fd");
	if (!d) {
		r = -errno;
		goto fail;
	}
	dfd = dirfd(d);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		/* Not the directory's own descriptor: it is ours, and gone on return. */
		if (*end || end == de->d_name || fd == dfd)
			continue;
		if (describe((int)fd, &info, target, PATH_MAX) && (r = snap_add(snap, &info)) < 0)
			goto fail;
	}
	closedir(d);
	free(target);
	if (snap->n > 1)
		qsort(snap->fds, snap->n, sizeof(*snap->fds), cmp_info);
	*ret = snap;
	return 0;
fail:
	if (d)
		closedir(d);
	free(target);
	wd_fd_snapshot_free(snap);
	return r;
}

size_t wd_fd_snapshot_count(const wd_fd_snapshot *snap)
{
	return snap->n;
}

const struct wd_fd_info *wd_fd_snapshot_at(const wd_fd_snapshot *snap, size_t i)
{
	return i < snap->n ? &snap->fds[i] : NULL;
}

const struct wd_fd_info *wd_fd_snapshot_find(const wd_fd_snapshot *snap, int fd)
{
	size_t lo = 0, hi = snap->n;

	/* Binary search: the array is in ascending fd order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (snap->fds[mid].fd == fd)
			return &snap->fds[mid];
		if (snap->fds[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The same object under the same number? */
static bool same(const struct wd_fd_info *a, const struct wd_fd_info *b)
{
	return a->dev == b->dev && a->ino == b->ino && strcmp(a->target, b->target) == 0;
}

/* Copies into *ret the entries of from that to lacks (or holds as another object). */
static int missing_from(const wd_fd_snapshot *from, const wd_fd_snapshot *to, wd_fd_snapshot **ret)
{
	wd_fd_snapshot *out = calloc(1, sizeof(*out));
	size_t i;

	if (!out)
		return -ENOMEM;
	for (i = 0; i < from->n; i++) {
		const struct wd_fd_info *o = wd_fd_snapshot_find(to, from->fds[i].fd);

		if ((!o || !same(o, &from->fds[i])) && snap_add(out, &from->fds[i]) < 0) {
			wd_fd_snapshot_free(out);
			return -ENOMEM;
		}
	}
	*ret = out;
	return 0;
}

int wd_fd_snapshot_diff(const wd_fd_snapshot *before, const wd_fd_snapshot *after,
			wd_fd_snapshot **ret_opened, wd_fd_snapshot **ret_closed)
{
	wd_fd_snapshot *opened = NULL, *closed = NULL;
	int r;

	r = missing_from(after, before, &opened);
	if (r < 0)
		return r;
	r = missing_from(before, after, &closed);
	if (r < 0) {
		wd_fd_snapshot_free(opened);
		return r;
	}
	r = (int)(opened->n + closed->n);
	if (ret_opened)
		*ret_opened = opened;
	else
		wd_fd_snapshot_free(opened);
	if (ret_closed)
		*ret_closed = closed;
	else
		wd_fd_snapshot_free(closed);
	return r;
}
