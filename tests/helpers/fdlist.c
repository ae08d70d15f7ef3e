/* SPDX-License-Identifier: MIT */
/*
 * fdlist: print the process's open file descriptors.
 *
 *   fdlist [FILE]
 *
 * Lists /proc/self/fd, leaving out the descriptor used to read that
 * directory, sorted, space separated on one line ("0 1 2\n"), to FILE
 * (opened only after the listing, so it does not show up) or stdout.
 * Exits 0, or 1 on error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FDS 4096

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static int fds[MAX_FDS];
	static char out[MAX_FDS * 8 + 2];
	size_t n = 0, len = 0;
	struct dirent *de;
	DIR *d;
	int self, fd;

	if (argc > 2) {
		fprintf(stderr, "usage: fdlist [FILE]\n");
		return 1;
	}
	d = opendir("/proc/self/fd");
	if (!d) {
		perror("fdlist: /proc/self/fd");
		return 1;
	}
	self = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v;

		if (de->d_name[0] == '.')
			continue;
		v = strtol(de->d_name, &end, 10);
		if (*end || v == self)
			continue;
		if (n < MAX_FDS)
			fds[n++] = (int)v;
	}
	closedir(d);
	qsort(fds, n, sizeof(fds[0]), cmp_int);
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(out + len, sizeof(out) - len, i ? " %d" : "%d", fds[i]);
	out[len++] = '\n';

	if (argc == 2) {
		fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			perror("fdlist: open output");
			return 1;
		}
	} else {
		fd = STDOUT_FILENO;
	}
	if (write(fd, out, len) != (ssize_t)len) {
		perror("fdlist: write");
		return 1;
	}
	return 0;
}
