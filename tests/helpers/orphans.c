/* SPDX-License-Identifier: MIT */
/*
 * orphans: make N orphans by double-forking, for the reaper to collect.
 *
 *   orphans N [--exit-code C] [--orphan-exit C] [--orphan-sleep SECS]
 *             [--done FILE] [--then-sleep SECS]
 *
 * For each orphan: fork an intermediate child, which forks a grandchild
 * and exits at once; orphans waits for the intermediate itself, so only
 * the grandchildren are reparented (to the nearest subreaper or PID 1).
 * A grandchild exits with --orphan-exit (default 0) at once, or after
 * --orphan-sleep SECS. A fork failing with EAGAIN is retried, a bounded
 * number of times. When all intermediates are reaped, FILE is created
 * (atomically, containing "N\n"), then orphans sleeps up to --then-sleep
 * SECS; SIGTERM ends that sleep early. It exits with --exit-code (default
 * 0), or 111 (and a message on stderr) if it could not make all N orphans,
 * or 2 on a usage error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FORK_RETRIES 200

static void usage(void)
{
	fprintf(stderr, "usage: orphans N [--exit-code C] [--orphan-exit C] [--orphan-sleep SECS] "
			"[--done FILE] [--then-sleep SECS]\n");
	exit(2);
}

static long parse_num(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0)
		usage();
	return v;
}

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* fork(), retrying EAGAIN/ENOMEM with a short pause; -1 when it gives up. */
static pid_t fork_retry(void)
{
	for (int i = 0; i < FORK_RETRIES; i++) {
		pid_t pid = fork();
		if (pid >= 0 || (errno != EAGAIN && errno != ENOMEM))
			return pid;
		nap(10);
	}
	return -1;
}

static int write_done(const char *path, long n)
{
	char tmp[4096], buf[32];
	int fd, len;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "%ld\n", n);
	if (write(fd, buf, (size_t)len) != len) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	return rename(tmp, path);
}

int main(int argc, char **argv)
{
	long n, exit_code = 0, orphan_exit = 0, orphan_sleep = 0, then_sleep = 0, made = 0;
	const char *done = NULL;
	sigset_t term;

	if (argc < 2)
		usage();
	n = parse_num(argv[1]);
	for (int i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--exit-code") == 0)
			exit_code = parse_num(argv[++i]);
		else if (strcmp(argv[i], "--orphan-exit") == 0)
			orphan_exit = parse_num(argv[++i]);
		else if (strcmp(argv[i], "--orphan-sleep") == 0)
			orphan_sleep = parse_num(argv[++i]);
		else if (strcmp(argv[i], "--then-sleep") == 0)
			then_sleep = parse_num(argv[++i]);
		else if (strcmp(argv[i], "--done") == 0)
			done = argv[++i];
		else
			usage();
	}

	for (long k = 0; k < n; k++) {
		int status;
		pid_t mid = fork_retry();

		if (mid < 0) {
			perror("orphans: fork");
			break;
		}
		if (mid == 0) {
			pid_t gc = fork_retry();
			if (gc == 0) {
				if (orphan_sleep)
					nap(orphan_sleep * 1000);
				_exit((int)orphan_exit);
			}
			_exit(gc < 0 ? 1 : 0);
		}
		while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			made++;
	}
	if (made != n)
		fprintf(stderr, "orphans: made %ld of %ld orphans\n", made, n);

	if (done && write_done(done, made) < 0)
		perror("orphans: write done file");

	if (then_sleep) {
		struct timespec ts = {then_sleep, 0};
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		sigprocmask(SIG_BLOCK, &term, NULL);
		sigtimedwait(&term, NULL, &ts);
	}
	return made == n ? (int)exit_code : 111;
}
