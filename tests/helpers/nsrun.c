/* SPDX-License-Identifier: MIT */
/*
 * nsrun: run a command as PID 1 of a new pid (and mount) namespace.
 *
 *   nsrun [--pidfile FILE] [--status FILE] [--no-newns] [--keep-signals]
 *         [--cgroup2 DIR | --cgroup2-ro] -- CMD [ARG...]
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
 *
 * --cgroup2 DIR: nsrun itself enters a mount namespace of its own, mounts
 * cgroup2 at /sys/fs/cgroup there (the host's may be a v1 hybrid) and
 * makes the cgroup DIR (a fresh name per run), which the child enters
 * before exec: CMD starts in DIR, alone, with the cgroup writable. Once
 * the child has ended, nsrun says "nsrun: cgroup left: NAME" on stderr for
 * each cgroup it finds in DIR and removes them and DIR (waiting up to 10s
 * for the dying processes of the namespace to leave them).
 * --cgroup2-ro: cgroup2 mounted read-only at /sys/fs/cgroup instead, the
 * child left in its cgroup (a container's default).
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
#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (1024 * 1024)

struct child_args {
	char **argv;
	int newns;
	int keep_signals;
	sigset_t orig_mask;
	const char *cgroup; /* DIR under /sys/fs/cgroup to enter, or NULL */
};

#define CG_MOUNT "/sys/fs/cgroup"

/* nsrun's own mount namespace with cgroup2 at CG_MOUNT (read-only when ro). */
static void mount_cgroup2(int ro)
{
	if (unshare(CLONE_NEWNS) < 0) {
		perror("nsrun: unshare(CLONE_NEWNS)");
		exit(125);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("nsrun: mount --make-rprivate /");
		exit(125);
	}
	if (mount("none", CG_MOUNT, "cgroup2", ro ? MS_RDONLY : 0, NULL) < 0) {
		perror("nsrun: mount -t cgroup2 " CG_MOUNT);
		exit(125);
	}
}

/* Removes DIR's cgroups and DIR, saying which were left; bounded by 10s. */
static void remove_cgroups(const char *dir)
{
	struct timespec pause = {0, 10 * 1000 * 1000};
	char path[4096];
	int tries = 1000, said = 0;

	snprintf(path, sizeof(path), CG_MOUNT "/%s", dir);
	while (tries-- > 0) {
		DIR *d = opendir(path);
		struct dirent *e;
		int busy = 0;

		if (!d) {
			perror("nsrun: opendir cgroup");
			return;
		}
		while ((e = readdir(d))) {
			char sub[4096 + 256];

			if (e->d_type != DT_DIR || e->d_name[0] == '.')
				continue;
			if (!said)
				fprintf(stderr, "nsrun: cgroup left: %s\n", e->d_name);
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			if (rmdir(sub) < 0)
				busy = 1;
		}
		closedir(d);
		said = 1;
		if (!busy && rmdir(path) == 0)
			return;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "nsrun: cannot remove the cgroup %s: %s\n", path, strerror(errno));
}

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static void usage(void)
{
	fprintf(stderr, "usage: nsrun [--pidfile FILE] [--status FILE] [--no-newns] "
			"[--keep-signals] [--cgroup2 DIR | --cgroup2-ro] -- CMD [ARG...]\n");
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
	if (ca->cgroup) {
		char procs[4096];
		int fd;

		snprintf(procs, sizeof(procs), CG_MOUNT "/%s/cgroup.procs", ca->cgroup);
		fd = open(procs, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0", 1) != 1) {
			perror("nsrun: enter the cgroup");
			_exit(125);
		}
		close(fd);
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
	int cgroup_mode = 0; /* 1: --cgroup2, 2: --cgroup2-ro */
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
		} else if (strcmp(argv[i], "--cgroup2") == 0 && i + 1 < argc && argv[i + 1][0] &&
			   !strchr(argv[i + 1], '/')) {
			ca.cgroup = argv[++i];
			cgroup_mode = 1;
		} else if (strcmp(argv[i], "--cgroup2-ro") == 0) {
			cgroup_mode = 2;
		} else {
			usage();
		}
	}
	if (i >= argc || (cgroup_mode && !ca.newns))
		usage();
	ca.argv = argv + i;
	if (cgroup_mode) {
		char path[4096];

		mount_cgroup2(cgroup_mode == 2);
		snprintf(path, sizeof(path), CG_MOUNT "/%s", ca.cgroup ? ca.cgroup : "");
		if (ca.cgroup && mkdir(path, 0755) < 0) {
			perror("nsrun: mkdir cgroup");
			return 125;
		}
	}

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
	if (ca.cgroup)
		remove_cgroups(ca.cgroup);
	if (statusfile && write_atomic(statusfile, buf) < 0)
		perror("nsrun: write status");
	return code;
}
