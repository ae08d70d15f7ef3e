/* SPDX-License-Identifier: MIT */
/*
 * stopper: a service that logs when it starts, becomes ready, receives
 * signals and exits, with monotonic timestamps, for order and timing tests.
 *
 *   stopper [-n NAME] [-w MS] [-F FD] [-r READYFILE] [-x SIG] [-d MS] [-i]
 *           [-c CODE] [-t SECONDS] LOGFILE
 *
 * Every event is appended to LOGFILE (O_APPEND, one write a line) as
 * "NAME WHAT MICROSECONDS\n" with CLOCK_MONOTONIC microseconds, WHAT being
 * "start", "ready", "sig:N" or "exit".
 *
 *   -n NAME   the name in the log (default "stopper")
 *   -w MS     become ready MS milliseconds after the start (default 0)
 *   -F FD     when ready, write a newline to descriptor FD (fd:N readiness)
 *   -r FILE   when ready, create FILE
 *   -x SIG    the signal number that ends it (default 15, SIGTERM)
 *   -d MS     after that signal, wait MS milliseconds, then exit (default 0)
 *   -i        ignore every signal (log them only): only SIGKILL ends it
 *   -c CODE   exit code after the signal (default 0)
 *   -t SECS   give up after SECS seconds (default 60) and exit 124
 * Every signal is blocked (dispositions reset) and taken with sigtimedwait.
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
#include <time.h>
#include <unistd.h>

static int logfd = -1;
static const char *name = "stopper";

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void record(const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s %s %lld\n", name, what, now_us());

	if (write(logfd, line, (size_t)n) != n)
		_exit(2);
}

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	long ready_ms = 0, exit_ms = 0;
	int ready_fd = -1, exit_sig = SIGTERM, ignore = 0, code = 0, opt;
	double timeout = 60;
	const char *readyfile = NULL;
	long long deadline;
	sigset_t all;

	while ((opt = getopt(argc, argv, "+n:w:F:r:x:d:ic:t:")) != -1) {
		switch (opt) {
		case 'n':
			name = optarg;
			break;
		case 'w':
			ready_ms = atol(optarg);
			break;
		case 'F':
			ready_fd = atoi(optarg);
			break;
		case 'r':
			readyfile = optarg;
			break;
		case 'x':
			exit_sig = atoi(optarg);
			break;
		case 'd':
			exit_ms = atol(optarg);
			break;
		case 'i':
			ignore = 1;
			break;
		case 'c':
			code = atoi(optarg);
			break;
		case 't':
			timeout = atof(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: stopper [-n NAME] [-w MS] [-F FD] [-r FILE] [-x SIG] "
				"[-d MS] [-i] [-c CODE] [-t SECS] LOGFILE\n");
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	logfd = open(argv[optind], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		perror("stopper: open log");
		return 2;
	}
	deadline = now_us() + (long long)(timeout * 1e6);
	record("start");
	if (ready_ms)
		msleep(ready_ms);
	/* Stamped before it is said: what starts after it is ready stamps later. */
	record("ready");
	if (ready_fd >= 0)
		(void)!write(ready_fd, "\n", 1);
	if (readyfile) {
		int fd = open(readyfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	for (;;) {
		long long left = deadline - now_us();
		struct timespec ts;
		char what[32];
		int sig;

		if (left <= 0)
			return 124;
		ts.tv_sec = (time_t)(left / 1000000);
		ts.tv_nsec = (long)(left % 1000000) * 1000;
		sig = sigtimedwait(&all, NULL, &ts);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 124;
			return 2;
		}
		snprintf(what, sizeof(what), "sig:%d", sig);
		record(what);
		if (!ignore && sig == exit_sig) {
			if (exit_ms)
				msleep(exit_ms);
			record("exit");
			return code;
		}
	}
}
