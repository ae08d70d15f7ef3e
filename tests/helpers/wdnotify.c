/* SPDX-License-Identifier: MIT */
/*
 * wdnotify: a service that speaks the notify protocol through libwarden's
 * own client (warden/notify.h), driven by a script of steps; the twin of
 * sdnotify, which uses libsystemd.
 *
 *   wdnotify STEP...
 *
 * Steps, run in order:
 *   ready              wd_notify_ready()
 *   status:TEXT        wd_notify_status(TEXT)
 *   stopping           wd_notify_stopping()
 *   reloading          wd_notify_reloading()
 *   extend:USEC        wd_notify_extend_timeout(USEC)
 *   watchdog           wd_notify_watchdog(), once
 *   env                prints "env socket=S enabled=R usec=U"
 *                      (wd_notify_socket(), wd_notify_watchdog_usec())
 *   ping:MS            runs a wd_loop with a wd_notify_pinger for MS ms, then
 *                      stops it; prints "ping started=R interval=US error=E"
 *   sleep:MS           sleeps MS milliseconds
 *   exit:CODE          exits with CODE
 * After the last step it exits 0; SIGTERM ends it as usual. Each step's
 * result is printed to stdout (line-buffered) for the test to read; a send
 * that does not return 1 prints "notify-error R" and exits 3.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <warden/notify.h>

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sent(const char *what, int r)
{
	if (r != 1) {
		printf("notify-error %d (%s)\n", r, what);
		exit(3);
	}
	printf("sent %s\n", what);
}

static wd_loop *loop;

static void on_done(wd_timer *t)
{
	(void)t;
	wd_loop_quit(loop);
}

static void ping_for(long ms)
{
	wd_notify_pinger p;
	wd_timer done;
	int r;

	wd_notify_pinger_init(&p);
	wd_timer_init(&done, on_done, NULL);
	r = wd_notify_pinger_start(&p, loop);
	printf("ping started=%d interval=%llu\n", r, (unsigned long long)p.interval_usec);
	if (r < 0)
		exit(3);
	(void)wd_timer_start(loop, &done, wd_now() + (uint64_t)ms * 1000000u);
	if (wd_loop_run(loop) < 0)
		exit(4);
	printf("ping done error=%d\n", p.last_error);
	wd_notify_pinger_stop(&p);
}

int main(int argc, char **argv)
{
	int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (wd_loop_new(&loop) < 0)
		return 4;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "ready") == 0) {
			sent(a, wd_notify_ready());
		} else if (strncmp(a, "status:", 7) == 0) {
			sent(a, wd_notify_status(a + 7));
		} else if (strcmp(a, "stopping") == 0) {
			sent(a, wd_notify_stopping());
		} else if (strcmp(a, "reloading") == 0) {
			sent(a, wd_notify_reloading());
		} else if (strncmp(a, "extend:", 7) == 0) {
			sent(a, wd_notify_extend_timeout(strtoull(a + 7, NULL, 10)));
		} else if (strcmp(a, "watchdog") == 0) {
			sent(a, wd_notify_watchdog());
		} else if (strcmp(a, "env") == 0) {
			uint64_t usec = 0;
			int r = wd_notify_watchdog_usec(&usec);
			const char *s = wd_notify_socket();

			printf("env socket=%s enabled=%d usec=%llu\n", s ? s : "-", r,
			       (unsigned long long)usec);
		} else if (strncmp(a, "ping:", 5) == 0) {
			ping_for(atol(a + 5));
		} else if (strncmp(a, "sleep:", 6) == 0) {
			msleep(atol(a + 6));
		} else if (strncmp(a, "exit:", 5) == 0) {
			exit(atoi(a + 5));
		} else {
			fprintf(stderr, "wdnotify: unknown step '%s'\n", a);
			return 2;
		}
	}
	wd_loop_free(loop);
	return 0;
}
