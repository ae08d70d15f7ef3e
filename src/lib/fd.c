/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
