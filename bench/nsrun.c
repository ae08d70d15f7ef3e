/* SPDX-License-Identifier: MIT */
/*
 * nsrun: run a command as PID 1 of a new pid + mount namespace.
 *
 *   nsrun [--no-newns] [--pidfile FILE] [--status FILE] -- CMD [ARG...]
 *   nsrun [--no-newns] --repeat N [--warmup W] --times FILE -- CMD [ARG...]
 *
 * The child is created with clone(CLONE_NEWPID | CLONE_NEWNS | SIGCHLD): it
 * makes every mount private, mounts a fresh /proc, resets its signal mask
 * and every disposition to the default (a background job of a script starts
 * with SIGINT and SIGQUIT ignored), asks for SIGKILL if nsrun dies (so a
 * killed benchmark leaves no namespace behind) and execs CMD.
 *
 * --no-newns: the child is created by the same clone() without the
 * namespace flags, a plain fork, and mounts nothing: CMD is an ordinary
 * child of nsrun in nsrun's pid namespace, not PID 1 (an init then runs as
 * a subreaper, if it makes itself one). Everything else, the timing
 * included, is the same, so the two cases compare.
 *
 * Single run: the child's pid as the host sees it goes to --pidfile, the
 * exact wait status ("exited N", "killed N [core]") to --status; nsrun exits
 * with N, or 128 + N for signal N.
 *
 * --repeat N: runs CMD N times (after W unmeasured warm-up runs, default 10)
 * and appends the wall time of each run, clone() to waitpid() return, in
 * nanoseconds, one a line, to FILE. That is the whole life of the container:
 * namespace creation, /proc mount, exec of the init, its child, the child's
 * exit, the init's exit and the namespace teardown. Exits 0 if every run
 * exited 0, else 1 with a count on stderr.
 *
 * nsrun's own failures exit 125.
 */
#include "common.h"

#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define STACK_SIZE (256 * 1024)

static char **cmd;
static int newns = 1;

static int child_main(void *arg)
{
	sigset_t empty;

	(void)arg;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		perror("nsrun: prctl(PR_SET_PDEATHSIG)");
	if (newns && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("nsrun: mount --make-rprivate /");
		_exit(125);
	}
	if (newns && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		perror("nsrun: mount proc");
		_exit(125);
	}
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL); /* fails harmlessly for 32, 33 */
	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	execvp(cmd[0], cmd);
	fprintf(stderr, "nsrun: cannot execute '%s': %s\n", cmd[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

static pid_t spawn(char *stack)
{
	int flags = newns ? CLONE_NEWPID | CLONE_NEWNS : 0;
	pid_t pid = clone(child_main, stack + STACK_SIZE, flags | SIGCHLD, NULL);

	if (pid < 0) {
		perror("nsrun: clone");
		exit(125);
	}
	return pid;
}

static int wait_for(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			perror("nsrun: waitpid");
			exit(125);
		}
	}
	return status;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nsrun [--no-newns] [--pidfile FILE] [--status FILE] -- CMD [ARG...]\n"
		"       nsrun [--no-newns] --repeat N [--warmup W] --times FILE -- CMD "
		"[ARG...]\n");
	exit(125);
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL, *statusfile = NULL, *timesfile = NULL;
	long repeat = 0, warmup = 10;
	char buf[64], *stack;
	int i, status, code;
	pid_t pid;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--no-newns") == 0) {
			newns = 0;
		} else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc) {
			pidfile = argv[++i];
		} else if (strcmp(argv[i], "--status") == 0 && i + 1 < argc) {
			statusfile = argv[++i];
		} else if (strcmp(argv[i], "--times") == 0 && i + 1 < argc) {
			timesfile = argv[++i];
		} else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
			repeat = parse_long(argv[++i], "--repeat");
		} else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
			warmup = parse_long(argv[++i], "--warmup");
		} else {
			usage();
		}
	}
	if (i >= argc || (repeat > 0) != (timesfile != NULL))
		usage();
	cmd = argv + i;
	stack = malloc(STACK_SIZE);
	if (!stack) {
		perror("nsrun: malloc");
		return 125;
	}

	if (repeat > 0) {
		int64_t *t = calloc((size_t)repeat, sizeof(*t));
		long failed = 0;
		FILE *f;

		if (!t) {
			perror("nsrun: calloc");
			return 125;
		}
		for (long k = -warmup; k < repeat; k++) {
			int64_t t0 = now_ns();

			status = wait_for(spawn(stack));
			if (k >= 0)
				t[k] = now_ns() - t0;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				failed++;
				if (failed <= 3)
					fprintf(stderr, "nsrun: run %ld: wait status 0x%x\n", k,
						status);
			}
		}
		f = fopen(timesfile, "a");
		if (!f) {
			perror("nsrun: open times file");
			return 125;
		}
		for (long k = 0; k < repeat; k++)
			fprintf(f, "%lld\n", (long long)t[k]);
		if (fclose(f) != 0) {
			perror("nsrun: write times file");
			return 125;
		}
		if (failed)
			fprintf(stderr, "nsrun: %ld of %ld runs did not exit 0\n", failed,
				repeat + warmup);
		return failed ? 1 : 0;
	}

	pid = spawn(stack);
	if (pidfile) {
		snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
		if (write_atomic(pidfile, buf) < 0)
			perror("nsrun: write pidfile");
	}
	status = wait_for(pid);
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
