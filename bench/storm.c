/* SPDX-License-Identifier: MIT */
/*
 * storm: an orphan storm for the init above it (run it as the init's child).
 *
 *   storm N GOFIFO RELEASEFILE [TIMEOUT_S]
 *
 * 1. Makes N orphans by double fork: an intermediate child forks a
 *    grandchild and exits; storm reaps the intermediate, so the grandchild
 *    is reparented to the init. Each grandchild leads a process group of
 *    its own (see below). Every grandchild blocks reading a pipe whose
 *    only write end storm holds. A fork failing with EAGAIN or ENOMEM is
 *    retried, a bounded number of times.
 * 2. Opens GOFIFO for reading, which blocks until the watcher (zwatch) opens
 *    it for writing, and reads one byte: the watcher is sampling now.
 * 3. Takes the time and closes the pipe: all N orphans read EOF and exit at
 *    once, as fast as the kernel runs them. Writes "T MADE\n" (T: that time,
 *    CLOCK_MONOTONIC ns; MADE: orphans made) to RELEASEFILE, atomically.
 * 4. Sleeps until a signal ends it (SIGTERM, forwarded by the init) or
 *    TIMEOUT_S (default 300) passes (SIGALRM). It must outlive the storm:
 *    when the main child exits, most inits shut down.
 *
 * Every wait is bounded by TIMEOUT_S through alarm(2), whose default action
 * ends storm; its orphans then see EOF and exit too.
 */
#include "common.h"

#include <signal.h>
#include <sys/wait.h>

#define FORK_RETRIES 500

static pid_t fork_retry(void)
{
	for (int i = 0; i < FORK_RETRIES; i++) {
		pid_t pid = fork();
		if (pid >= 0 || (errno != EAGAIN && errno != ENOMEM))
			return pid;
		nap_us(2000);
	}
	return -1;
}

int main(int argc, char **argv)
{
	long n, made = 0, timeout = 300;
	int gate[2], fd;
	char c, buf[64];
	int64_t t_release;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: storm N GOFIFO RELEASEFILE [TIMEOUT_S]\n");
		return 2;
	}
	n = parse_long(argv[1], "N");
	if (argc == 5)
		timeout = parse_long(argv[4], "TIMEOUT_S");
	alarm((unsigned)timeout);
	if (pipe(gate) < 0) {
		perror("storm: pipe");
		return 1;
	}

	for (long k = 0; k < n; k++) {
		int status;
		pid_t mid = fork_retry();

		if (mid < 0) {
			perror("storm: fork");
			break;
		}
		if (mid == 0) {
			pid_t gc;

			close(gate[1]); /* so that only storm holds the write end */
			gc = fork_retry();
			/* The grandchild leads a process group of its own before the
			 * intermediate exits (both set it, as shells do): otherwise
			 * every exit would check whether storm's group (N processes
			 * big) becomes orphaned, O(N) each, and the kernel, not the
			 * init, would dominate the figures. (Not the intermediate's
			 * group: its pid would stay allocated as the group's id,
			 * two pids per orphan.) */
			if (gc > 0)
				setpgid(gc, gc);
			if (gc == 0) {
				setpgid(0, 0);
				while (read(gate[0], &c, 1) < 0 && errno == EINTR)
					;
				_exit(0);
			}
			_exit(gc < 0 ? 1 : 0);
		}
		while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
			;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			made++;
	}
	if (made != n)
		fprintf(stderr, "storm: made %ld of %ld orphans\n", made, n);

	fd = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("storm: open go fifo");
		return 1;
	}
	if (read(fd, &c, 1) != 1) {
		fprintf(stderr, "storm: no go from the watcher\n");
		return 1;
	}
	close(fd);

	t_release = now_ns();
	close(gate[1]);
	snprintf(buf, sizeof(buf), "%lld %ld\n", (long long)t_release, made);
	if (write_atomic(argv[3], buf) < 0)
		perror("storm: write release file");

	alarm((unsigned)timeout);
	for (;;)
		pause();
}
