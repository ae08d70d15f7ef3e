/* SPDX-License-Identifier: MIT */
/*
 * floor: the least an init can do.
 *
 *   floor [--] CMD [ARG...]
 *
 * Forks, execs CMD in the child, waits for that one child and exits with its
 * status: its exit code, or 128 + N if signal N killed it. Nothing else: no
 * signal handling or forwarding, no reaping of orphans, no subreaper, no
 * descriptor hygiene. It is not an init to use; it is the floor of the
 * start-up benchmark in bench/run, the time and the system calls that no
 * init which runs a child and waits for it can go below. Built static, so
 * that no dynamic loading is counted either.
 *
 * Exit codes of its own: 126 (CMD cannot be executed) and 127 (not found)
 * from the child, 125 for usage or a failed fork or wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int first = 1, status;
	pid_t pid;

	if (first < argc && argv[first][0] == '-' && argv[first][1] == '-' && !argv[first][2])
		first++;
	if (first >= argc)
		return 125;

	pid = fork();
	if (pid < 0)
		return 125;
	if (pid == 0) {
		execvp(argv[first], argv + first);
		_exit(errno == ENOENT ? 127 : 126);
	}

	/* Only this child: an orphan reparented to us stays a zombie. */
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 125;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
