/* SPDX-License-Identifier: MIT */
/*
 * nsrun: run a command as PID 1 of a new pid (and mount) namespace.
 *
 *   nsrun [--pidfile FILE] [--status FILE] [--no-newns] [--keep-signals]
 *         -- CMD [ARG...]
 *
 * The child is created with clone(CLONE_NEWPID|CLONE_NEWNS|SIGCHLD); it
 * makes every mount private, mounts a fresh /proc, resets its signal mask
 * and dispositions to the defaults (unless --keep-signals, which keeps the
 * mask and ignored dispositions nsrun was started with) and execs CMD.
 * With --no-newns the child is a plain fork, so the same harness can run a
 * command that is not PID 1 (warden's subreaper mode).
 *
 * The parent writes the child's pid (as the caller sees it) to --pidfile,
 * atomically (temporary file, then rename). It forwards SIGTERM, SIGINT,
 * SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the child, waits for it, writes
 * "exited N", "killed N" or "killed N core" to --status (atomically too)
 * and exits with N, or 128 + N when the child was killed by signal N.
 * nsrun's own failures exit with 125 and a message on stderr.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (1024 * 1024)

struct child_args {
	char **argv;
	int newns;
	int keep_signals;
	sigset_t orig_mask;
};

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void usage(void)
{
	fprintf(stderr, "usage: nsrun [--pidfile FILE] [--status FILE] [--no-newns] "
			"[--keep-signals] -- CMD [ARG...]\n");
	exit(125);
}

/* Write TEXT to PATH through PATH.tmp and rename, so a reader sees either
 * nothing or the whole content. Returns 0 or -1 (errno set). */
static int write_atomic(const char *path, const char *text)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Runs in the child: set up the namespace view and signal state, exec. */
static int child_main(void *arg)
{
	struct child_args *ca = arg;
	sigset_t empty;

	if (ca->newns) {
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
			perror("nsrun: mount --make-rprivate /");
			_exit(125);
		}
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
			perror("nsrun: mount proc");
			_exit(125);
		}
	}
	if (ca->keep_signals) {
		/* nsrun installs no handlers, so dispositions are as inherited
		 * (exec resets caught ones anyway); only the mask needs restoring. */
		sigprocmask(SIG_SETMASK, &ca->orig_mask, NULL);
	} else {
		for (int sig = 1; sig < NSIG; sig++) {
			if (sig == SIGKILL || sig == SIGSTOP)
				continue;
			signal(sig, SIG_DFL); /* fails harmlessly for 32/33 */
		}
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
	}
	execvp(ca->argv[0], ca->argv);
	fprintf(stderr, "nsrun: cannot execute '%s': %s\n", ca->argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL, *statusfile = NULL;
	struct child_args ca = {.newns = 1};
	sigset_t set;
	pid_t pid;
	int i, status, code;
	char buf[64];

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
			pidfile = argv[++i];
		} else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc) {
			statusfile = argv[++i];
		} else if (strcmp(argv[i], "--no-newns") == 0) {
			ca.newns = 0;
		} else if (strcmp(argv[i], "--keep-signals") == 0) {
			ca.keep_signals = 1;
		} else {
			usage();
		}
	}
	if (i >= argc)
		usage();
	ca.argv = argv + i;

	/* Block what we forward and SIGCHLD before the child exists, so no
	 * signal is lost between clone and the wait loop. */
	sigemptyset(&set);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		sigaddset(&set, forwarded[k]);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &ca.orig_mask) < 0) {
		perror("nsrun: sigprocmask");
		return 125;
	}

	if (ca.newns) {
		char *stack = malloc(STACK_SIZE);
		if (!stack) {
			perror("nsrun: malloc");
			return 125;
		}
		pid = clone(child_main, stack + STACK_SIZE, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
			    &ca);
		if (pid < 0) {
			perror("nsrun: clone");
			return 125;
		}
		free(stack);
	} else {
		pid = fork();
		if (pid < 0) {
			perror("nsrun: fork");
			return 125;
		}
		if (pid == 0)
			child_main(&ca);
	}

	if (pidfile) {
		snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
		if (write_atomic(pidfile, buf) < 0)
			perror("nsrun: write pidfile");
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);

		if (sig < 0) {
			if (errno == EINTR)
				continue;
			perror("nsrun: sigwaitinfo");
			kill(pid, SIGKILL);
			sig = SIGCHLD;
		}
		if (sig != SIGCHLD) {
			kill(pid, sig);
			continue;
		}
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			perror("nsrun: waitpid");
			return 125;
		}
	}

	if (WIFEXITED(status)) {
		code = WEXITSTATUS(status);
		snprintf(buf, sizeof(buf), "exited %d\n", code);
	} else {
		code = 128 + WTERMSIG(status);
		snprintf(buf, sizeof(buf), "killed %d%s\n", WTERMSIG(status),
			 WCOREDUMP(status) ? " core" : "");
	}
	if (statusfile && write_atomic(statusfile, buf) < 0)
		perror("nsrun: write status");
	return code;
}
