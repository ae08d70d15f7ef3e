/* SPDX-License-Identifier: MIT */
/*
 * echo-server: the libwarden example of a service's whole life, as a
 * careful Go service lives it.
 *
 *   echo-server [--host ADDR] [--port N] [--port-file PATH]
 *               [--drain-timeout MS] [--max-conns N]
 *
 * It serves the protocol of echo.h on ADDR:N (default 127.0.0.1, and a
 * port the kernel picks, written to PATH). Its life:
 *
 * - SIGTERM and SIGINT are blocked before anything else (before the first
 *   thread: the shutdown steps run in threads) and read from a signalfd by
 *   the exit notifier (wd_done), the C form of a done channel closed once.
 * - Once listening: READY=1 and a STATUS= to the service manager
 *   (NOTIFY_SOCKET: warden's ready = notify, systemd's Type=notify), and
 *   WATCHDOG=1 from the loop while the manager asks for it.
 * - On the first SIGTERM or SIGINT the loop ends and the shutdown steps run
 *   (wd_shutdown), in order: stop accepting (STOPPING=1; a new connection is
 *   refused), drain the connections in flight within --drain-timeout, then,
 *   as deferred in the reverse order of opening, stop the watchdog, close
 *   the server; last the notifier and the loop that ran it all. A second
 *   signal cuts the drain short.
 * - It exits with an explicit code through wd_shutdown_exit() (no atexit
 *   handler, no exit() from a signal handler).
 *
 * Exit status: 0 when every step ended well (every connection served
 * before the deadline); 1 when a step failed or was cut short (connections
 * closed unanswered); 2 for a usage error; 3 when it could not start.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <warden/done.h>
#include <warden/loop.h>
#include <warden/notify.h>
#include <warden/shutdown.h>
#include <warden/signals.h>

#include "echo.h"

#define EXIT_STEPS_FAILED 1
#define EXIT_USAGE 2
#define EXIT_SYSTEM 3

/* A bound on the steps that close things: each is a few system calls. */
#define CLOSE_STEP_MS 1000

struct app {
	wd_loop loop;
	bool loop_ready;
	wd_done *done;
	wd_shutdown *sd;
	struct echo_server *srv;
	wd_notify_pinger pinger;
	wd_io done_io; /* the notifier's fd: ends the serving loop */
	wd_io esc_io;  /* its escalation: ends the drain at once */
	wd_timer drain_deadline;
	uint64_t drain_timeout_ms;
	/* Set from the orchestrator's thread when the drain was abandoned (still in the loop). */
	atomic_bool loop_busy;
	unsigned dropped; /* connections the drain closed unanswered */
	int cut;	  /* why: -ETIMEDOUT (its deadline) or -ECANCELED (a second signal) */
};

static void usage(FILE *f)
{
	fputs("usage: echo-server [--host ADDR] [--port N] [--port-file PATH]\n"
	      "                   [--drain-timeout MS] [--max-conns N]\n",
	      f);
}

/* Parses a decimal number in [min, max]. Returns 0 or -EINVAL. */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Writes the port to path through a temporary file, so a reader never sees half of it. */
static int write_port_file(const char *path, uint16_t port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int r = -errno;

		unlink(tmp);
		return r;
	}
	return 0;
}

/* The notifier closed: the serving loop ends, main() runs the shutdown. */
static void on_done(wd_io *io, uint32_t revents)
{
	struct app *a = io->data;

	(void)revents;
	wd_io_stop(io);
	wd_loop_quit(&a->loop);
}

static void on_drained(struct echo_server *srv, void *data)
{
	struct app *a = data;

	(void)srv;
	wd_loop_quit(&a->loop);
}

/* The drain's deadline, or a second signal: close what is left, unanswered. */
static void cut_drain(struct app *a, int why)
{
	a->cut = why;
	a->dropped += echo_server_abort(a->srv);
	wd_loop_quit(&a->loop);
}

static void on_drain_deadline(wd_timer *t)
{
	cut_drain(t->data, -ETIMEDOUT);
}

static void on_escalated(wd_io *io, uint32_t revents)
{
	(void)revents;
	wd_io_stop(io);
	cut_drain(io->data, -ECANCELED);
}

/* Step, stage 0: no new connection; tell the manager. */
static int step_stop_accepting(void *data)
{
	struct app *a = data;
	int n;

	/* Not fatal: the manager learns it from the exit all the same. */
	(void)wd_notify_stopping();
	n = echo_server_stop_accepting(a->srv);
	fprintf(stderr, "echo-server: not accepting; %u in flight (%d from the queue)\n",
		echo_server_active(a->srv), n);
	(void)wd_notify_status("draining");
	return 0;
}

/*
 * Step, stage 1: serve what is in flight, on the loop (this step's thread
 * has it to itself: main() waits in wd_shutdown_run()). It bounds itself
 * with its own deadline, so that the orchestrator's is only a backstop.
 * Returns 0 when every connection ended; when some were cut, -ETIMEDOUT
 * (the deadline) or -ECANCELED (a second signal).
 */
static int step_drain(void *data)
{
	struct app *a = data;
	int r;

	if (!echo_server_drained(a->srv)) {
		wd_io_init(&a->esc_io, wd_done_escalated_fd(a->done), EPOLLIN, on_escalated, a);
		r = wd_io_start(&a->loop, &a->esc_io);
		if (r < 0)
			return r;
		wd_timer_init(&a->drain_deadline, on_drain_deadline, a);
		wd_timer_start(&a->loop, &a->drain_deadline,
			       wd_now() + a->drain_timeout_ms * 1000000ULL);
		/* Until on_drained, the deadline or an escalation quits it. */
		r = wd_loop_run(&a->loop);
		wd_timer_stop(&a->drain_deadline);
		wd_io_stop(&a->esc_io);
		if (r < 0)
			return r;
	}
	return a->dropped ? a->cut : 0;
}

/* Deferred steps: each closes what main() opened, in the reverse order. */
static int step_close_server(void *data)
{
	struct app *a = data;
	struct echo_stats st;

	if (atomic_load(&a->loop_busy))
		return -EBUSY;
	echo_server_stats(a->srv, &st);
	fprintf(stderr,
		"echo-server: drained: %" PRIu64 " accepted, %" PRIu64 " served, %" PRIu64
		" failed, %u cut by the deadline\n",
		st.accepted, st.served, st.failed, a->dropped);
	echo_server_free(a->srv);
	a->srv = NULL;
	return 0;
}

static int step_stop_watchdog(void *data)
{
	struct app *a = data;

	if (atomic_load(&a->loop_busy))
		return -EBUSY;
	wd_notify_pinger_stop(&a->pinger);
	return 0;
}

static void on_result(const struct wd_shutdown_result *res, void *data)
{
	struct app *a = data;

	if (res->stage == 1 &&
	    (res->outcome == WD_SHUTDOWN_TIMED_OUT || res->outcome == WD_SHUTDOWN_ABANDONED))
		atomic_store(&a->loop_busy, true);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'H'},
		{"port", required_argument, NULL, 'p'},
		{"port-file", required_argument, NULL, 'f'},
		{"drain-timeout", required_argument, NULL, 'd'},
		{"max-conns", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	static struct app a = {.drain_timeout_ms = 5000};
	struct echo_options eo = {.on_drained = on_drained, .data = &a};
	const char *host = "127.0.0.1", *port_file = NULL, *what = "";
	char status[128];
	uint64_t port = 0, v;
	uint16_t bound;
	sigset_t stop;
	int c, r, lfd, failed, code;

	while ((c = getopt_long(argc, argv, "H:p:f:d:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'H':
			host = optarg;
			break;
		case 'p':
			if (parse_num(optarg, 0, 65535, &port) < 0)
				goto bad;
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'd':
			if (parse_num(optarg, 1, 3600000, &a.drain_timeout_ms) < 0)
				goto bad;
			break;
		case 'm':
			if (parse_num(optarg, 1, 65536, &v) < 0)
				goto bad;
			eo.max_conns = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return EXIT_USAGE;
	}

	/* First of all, before any thread: every thread inherits this mask. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	what = "blocking signals";
	r = wd_signal_block(&stop, NULL);
	if (r < 0)
		goto fail;

	what = "the exit notifier";
	r = wd_done_new(&a.done);
	if (r < 0)
		goto fail;
	what = "the shutdown";
	r = wd_shutdown_new(&a.sd);
	if (r < 0)
		goto fail;
	wd_shutdown_on_result(a.sd, on_result, &a);
	what = "the loop";
	r = wd_loop_init(&a.loop);
	if (r < 0)
		goto fail;
	a.loop_ready = true;
	/* The first signal closes the notifier with 0 (a requested stop), the second escalates. */
	what = "the signal watcher";
	r = wd_done_watch_signals(a.done, &a.loop, &stop, 0);
	if (r < 0)
		goto fail;
	wd_io_init(&a.done_io, wd_done_fd(a.done), EPOLLIN, on_done, &a);
	r = wd_io_start(&a.loop, &a.done_io);
	if (r < 0)
		goto fail;
	what = "listening";
	r = echo_listen(host, (uint16_t)port, 1024, &lfd, &bound);
	if (r < 0)
		goto fail;
	r = echo_server_new(&a.loop, lfd, &eo, &a.srv);
	if (r < 0)
		goto fail;
	what = "the shutdown";
	r = wd_shutdown_add(a.sd, "close the server", step_close_server, &a, CLOSE_STEP_MS);
	if (r < 0)
		goto fail;
	r = wd_shutdown_add_stage(a.sd, 0, "stop accepting", step_stop_accepting, &a,
				  CLOSE_STEP_MS);
	if (r < 0)
		goto fail;
	/* The drain bounds itself; the step's own deadline is a backstop. */
	r = wd_shutdown_add_stage(a.sd, 1, "drain connections", step_drain, &a,
				  (unsigned)a.drain_timeout_ms + CLOSE_STEP_MS);
	if (r < 0)
		goto fail;
	if (port_file) {
		what = "the port file";
		r = write_port_file(port_file, bound);
		if (r < 0)
			goto fail;
	}

	/* Ready: the socket accepts. Not fatal when the manager is not listening. */
	snprintf(status, sizeof(status), "serving on %s:%u", host, bound);
	r = wd_notify_ready();
	if (r < 0)
		fprintf(stderr, "echo-server: READY=1 not sent: %s\n", strerror(-r));
	(void)wd_notify_status(status);
	wd_notify_pinger_init(&a.pinger);
	what = "the watchdog";
	r = wd_notify_pinger_start(&a.pinger, &a.loop);
	if (r < 0)
		goto fail;
	r = wd_shutdown_add(a.sd, "stop the watchdog", step_stop_watchdog, &a, CLOSE_STEP_MS);
	if (r < 0)
		goto fail;
	fprintf(stderr, "echo-server: %s%s\n", status,
		a.pinger.interval_usec ? ", watchdog on" : "");

	r = wd_loop_run(&a.loop);
	if (r < 0)
		wd_done_close(a.done, EXIT_SYSTEM, "the loop failed");

	fprintf(stderr, "echo-server: stopping (%s)\n",
		wd_done_reason(a.done) ? wd_done_reason(a.done) : "?");
	/* Every step has its deadline; the whole is bounded too. */
	failed = wd_shutdown_run(a.sd, a.done, (unsigned)a.drain_timeout_ms + 4 * CLOSE_STEP_MS);
	(void)wd_shutdown_write_report(a.sd, STDERR_FILENO);
	code = wd_done_code(a.done);
	if (code == 0 && failed != 0)
		code = EXIT_STEPS_FAILED;
	/*
	 * What ran the shutdown goes last, after it: the notifier (whose
	 * signalfd wd_shutdown_run() read to the end) before the loop it
	 * watched signals on. Not while an abandoned drain still runs the
	 * loop: then the exit releases them.
	 */
	if (!atomic_load(&a.loop_busy)) {
		wd_shutdown_free(a.sd);
		wd_done_free(a.done);
		wd_loop_fini(&a.loop);
	}
	wd_shutdown_exit(code);

bad:
	fprintf(stderr, "echo-server: bad value '%s'\n", optarg);
	usage(stderr);
	return EXIT_USAGE;
fail:
	fprintf(stderr, "echo-server: %s: %s\n", what, strerror(-r));
	echo_server_free(a.srv);
	wd_shutdown_free(a.sd);
	wd_done_free(a.done);
	if (a.loop_ready)
		wd_loop_fini(&a.loop);
	return EXIT_SYSTEM;
}
