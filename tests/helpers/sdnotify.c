/* SPDX-License-Identifier: MIT */
/*
 * sdnotify: a service that speaks the notify protocol through libsystemd's
 * sd_notify() (link with -lsystemd), driven by a script of steps.
 *
 *   sdnotify STEP...
 *
 * Steps, run in order:
 *   notify:TEXT        sd_notify(0, TEXT); "\n" in TEXT is a newline
 *   sleep:MS           sleep MS milliseconds
 *   watchdog:MS:N      send WATCHDOG=1 every MS milliseconds, N times
 *   barrier:MS         sd_notify_barrier(0, MS ms); prints "barrier R T_MS"
 *   env                prints "env NOTIFY_SOCKET=... WATCHDOG_USEC=... enabled=R"
 *   waitsig:SIG        waits (at most 60 s) for signal number SIG; prints "got SIG"
 *   touch:PATH         creates PATH (an empty file)
 *   exit:CODE          exits with CODE
 * After the last step it exits 0. The signal dispositions are reset; when
 * a waitsig: step is in the script every signal is blocked from the start,
 * so that it sees them (one arriving earlier stays pending); otherwise
 * SIGTERM ends it as usual. Each step's result is printed to
 * stdout (line-buffered) for the test to read from warden's log output.
 * A failing sd_notify() prints "notify-error R" and exits 3.
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

#include <systemd/sd-daemon.h>

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Copies s, turning the two characters \n into a newline. */
static char *unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *o = out;

	if (!out)
		exit(2);
	while (*s) {
		if (s[0] == '\\' && s[1] == 'n') {
			*o++ = '\n';
			s += 2;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
	return out;
}

static void send_or_die(const char *text)
{
	int r = sd_notify(0, text);

	if (r <= 0) {
		printf("notify-error %d\n", r);
		exit(3);
	}
}

int main(int argc, char **argv)
{
	sigset_t all;
	int i;

	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigemptyset(&all);
	for (i = 1; i < argc; i++)
		if (strncmp(argv[i], "waitsig:", 8) == 0)
			sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "notify:", 7) == 0) {
			char *t = unescape(a + 7);

			send_or_die(t);
			free(t);
		} else if (strncmp(a, "sleep:", 6) == 0) {
			msleep(atol(a + 6));
		} else if (strncmp(a, "watchdog:", 9) == 0) {
			long ms = atol(a + 9), n;
			const char *c = strchr(a + 9, ':');

			n = c ? atol(c + 1) : 1;
			while (n-- > 0) {
				send_or_die("WATCHDOG=1");
				msleep(ms);
			}
		} else if (strncmp(a, "barrier:", 8) == 0) {
			long t0 = now_ms();
			int r = sd_notify_barrier(0, (uint64_t)atol(a + 8) * 1000);

			printf("barrier %d %ld\n", r, now_ms() - t0);
		} else if (strcmp(a, "env") == 0) {
			uint64_t usec = 0;
			int r = sd_watchdog_enabled(0, &usec);
			const char *ns = getenv("NOTIFY_SOCKET"), *wd = getenv("WATCHDOG_USEC");

			printf("env NOTIFY_SOCKET=%s WATCHDOG_USEC=%s enabled=%d usec=%llu\n",
			       ns ? ns : "-", wd ? wd : "-", r, (unsigned long long)usec);
		} else if (strncmp(a, "waitsig:", 8) == 0) {
			struct timespec left = {60, 0};
			sigset_t one;
			int want = atoi(a + 8), got;

			sigemptyset(&one);
			sigaddset(&one, want);
			got = sigtimedwait(&one, NULL, &left);
			printf("got %d\n", got);
		} else if (strncmp(a, "touch:", 6) == 0) {
			int fd = open(a + 6, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

			if (fd >= 0)
				close(fd);
		} else if (strncmp(a, "exit:", 5) == 0) {
			exit(atoi(a + 5));
		} else {
			fprintf(stderr, "sdnotify: unknown step '%s'\n", a);
			return 2;
		}
	}
	return 0;
}
