/* SPDX-License-Identifier: MIT */
/*
 * sigrecord: record every signal received, one number a line.
 *
 *   sigrecord [-x SIG] [-c CODE] [-t SECONDS] [-r READYFILE] LOGFILE
 *
 * Blocks every signal (SIGKILL and SIGSTOP cannot be), resets all
 * dispositions to the default, then announces readiness: it creates
 * READYFILE containing "ready\n" (atomically), or prints "ready" on stdout
 * without -r. Then each signal taken with sigtimedwait is appended to
 * LOGFILE (O_APPEND, one write per line) as "SIGNUM\n".
 *
 *   -x SIG   exit after recording SIG (number or name such as TERM, USR1,
 *            RTMIN+2); 0 never exits on a signal. Default SIGTERM.
 *   -c CODE  exit code when the exit signal arrives (default 0).
 *   -t SECS  give up after SECS seconds (default 60) and exit 124, so a
 *            forgotten recorder never outlives a test.
 * Usage errors exit 2.
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
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *name;
	int num;
} names[] = {
	{"HUP", SIGHUP},   {"INT", SIGINT},	  {"QUIT", SIGQUIT}, {"ILL", SIGILL},
	{"TRAP", SIGTRAP}, {"ABRT", SIGABRT},	  {"BUS", SIGBUS},   {"FPE", SIGFPE},
	{"KILL", SIGKILL}, {"USR1", SIGUSR1},	  {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
	{"PIPE", SIGPIPE}, {"ALRM", SIGALRM},	  {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
	{"CHLD", SIGCHLD}, {"CONT", SIGCONT},	  {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
	{"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},	  {"URG", SIGURG},   {"XCPU", SIGXCPU},
	{"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
	{"IO", SIGIO},	   {"PWR", SIGPWR},	  {"SYS", SIGSYS},
};

static void usage(void)
{
	fprintf(stderr,
		"usage: sigrecord [-x SIG] [-c CODE] [-t SECONDS] [-r READYFILE] LOGFILE\n");
	exit(2);
}

/* Parse a signal number or name; returns -1 if invalid. */
static int parse_signal(const char *s)
{
	char *end;
	long n;

	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN", 5) == 0) {
		n = s[5] ? strtol(s + 5, &end, 10) : 0;
		if (s[5] && *end)
			return -1;
		return SIGRTMIN + n <= SIGRTMAX ? SIGRTMIN + (int)n : -1;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].num;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || end == s || *end || n < 0 || n >= NSIG)
		return -1;
	return (int)n;
}

static int announce(const char *readyfile)
{
	char tmp[4096];
	int fd;

	if (!readyfile) {
		if (printf("ready\n") < 0 || fflush(stdout) != 0)
			return -1;
		return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", readyfile) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, "ready\n", 6) != 6) {
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return -1;
	return rename(tmp, readyfile);
}

int main(int argc, char **argv)
{
	int exit_sig = SIGTERM, exit_code = 0, opt, logfd;
	double timeout = 60;
	const char *readyfile = NULL;
	struct timespec deadline, now;
	sigset_t all;
	char *end;

	while ((opt = getopt(argc, argv, "+x:c:t:r:")) != -1) {
		switch (opt) {
		case 'x':
			exit_sig = parse_signal(optarg);
			if (exit_sig < 0)
				usage();
			break;
		case 'c':
			exit_code = (int)strtol(optarg, &end, 10);
			if (*end || end == optarg)
				usage();
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || end == optarg || timeout < 0)
				usage();
			break;
		case 'r':
			readyfile = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);

	logfd = open(argv[optind], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		perror("sigrecord: open log");
		return 2;
	}
	if (announce(readyfile) < 0) {
		perror("sigrecord: announce readiness");
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)timeout;
	deadline.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	for (;;) {
		struct timespec left;
		siginfo_t si;
		char line[32];
		int sig, len;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left.tv_sec = deadline.tv_sec - now.tv_sec;
		left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return 124;
		sig = sigtimedwait(&all, &si, &left);
		if (sig < 0) {
			if (errno == EAGAIN)
				return 124;
			if (errno == EINTR)
				continue;
			perror("sigrecord: sigtimedwait");
			return 2;
		}
		len = snprintf(line, sizeof(line), "%d\n", sig);
		if (write(logfd, line, (size_t)len) != len) {
			perror("sigrecord: write log");
			return 2;
		}
		if (exit_sig != 0 && sig == exit_sig)
			return exit_code;
	}
}
