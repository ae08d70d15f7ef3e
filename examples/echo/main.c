/* SPDX-License-Identifier: MIT */
/*
 * echo-server: the libwarden example of a service's whole life. It serves
 * the protocol of echo.h on a loopback port; on SIGTERM or SIGINT it stops
 * accepting, lets every connection in flight finish within a deadline, and
 * exits 0.
 *
 *   echo-server [--host ADDR] [--port N] [--port-file PATH]
 *               [--drain-timeout MS] [--max-conns N]
 *
 * Exit status: 0 when every connection was served (or gave up) before the
 * drain deadline; 1 when the deadline passed or a second stop signal came
 * and connections were closed unanswered; 2 for a usage error; 3 when it
 * could not start (socket, loop, signals).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <warden/loop.h>
#include <warden/signals.h>

#include "echo.h"

#define EXIT_DROPPED 1
#define EXIT_USAGE 2
#define EXIT_SYSTEM 3

struct app {
	wd_loop loop;
	struct echo_server *srv;
	wd_io sig_io;
	wd_timer deadline;
	uint64_t drain_timeout_ms;
	bool stopping;
	int exit_code;
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

static void report(struct app *a, const char *what)
{
	struct echo_stats st;

	echo_server_stats(a->srv, &st);
	fprintf(stderr,
		"echo-server: %s: %" PRIu64 " accepted, %" PRIu64 " served, %" PRIu64 " failed\n",
		what, st.accepted, st.served, st.failed);
}

static void on_drained(struct echo_server *srv, void *data)
{
	struct app *a = data;

	(void)srv;
	wd_timer_stop(&a->deadline);
	wd_loop_quit(&a->loop);
}

static void on_deadline(wd_timer *t)
{
	struct app *a = t->data;
	unsigned n = echo_server_abort(a->srv);

	fprintf(stderr, "echo-server: drain deadline passed: %u connections closed unanswered\n",
		n);
	a->exit_code = EXIT_DROPPED;
	wd_loop_quit(&a->loop);
}

static void on_signal(const struct wd_siginfo *si, void *data)
{
	struct app *a = data;
	int n;

	if (si->signo != SIGTERM && si->signo != SIGINT)
		return;
	if (a->stopping) {
		/* A second request: do not wait for the drain. */
		on_deadline(&a->deadline);
		return;
	}
	a->stopping = true;
	n = echo_server_stop_accepting(a->srv);
	fprintf(stderr, "echo-server: stopping: not accepting; %u in flight (%d from the queue)\n",
		echo_server_active(a->srv), n);
	if (!a->loop.quit)
		wd_timer_start(&a->loop, &a->deadline, wd_now() + a->drain_timeout_ms * 1000000ULL);
}

static void signal_ready(wd_io *io, uint32_t revents)
{
	(void)revents;
	if (wd_signalfd_dispatch(io->fd, on_signal, io->data) < 0)
		wd_loop_quit(&((struct app *)io->data)->loop);
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
	struct app a = {.drain_timeout_ms = 5000, .exit_code = 0};
	struct echo_options eo = {.on_drained = on_drained, .data = &a};
	const char *host = "127.0.0.1", *port_file = NULL;
	uint64_t port = 0, v;
	uint16_t bound;
	int c, r, lfd;

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

	r = wd_signal_block_all(NULL);
	if (r < 0)
		goto fail;
	r = wd_loop_init(&a.loop);
	if (r < 0)
		goto fail;
	a.sig_io.fd = wd_signalfd_open();
	if (a.sig_io.fd < 0) {
		r = a.sig_io.fd;
		goto fail;
	}
	a.sig_io.events = EPOLLIN;
	a.sig_io.cb = signal_ready;
	a.sig_io.data = &a;
	r = wd_io_start(&a.loop, &a.sig_io);
	if (r < 0)
		goto fail;
	a.deadline.cb = on_deadline;
	a.deadline.data = &a;

	r = echo_listen(host, (uint16_t)port, 1024, &lfd, &bound);
	if (r < 0)
		goto fail;
	r = echo_server_new(&a.loop, lfd, &eo, &a.srv);
	if (r < 0)
		goto fail;
	if (port_file) {
		r = write_port_file(port_file, bound);
		if (r < 0)
			goto fail;
	}
	fprintf(stderr, "echo-server: listening on %s:%u\n", host, bound);

	r = wd_loop_run(&a.loop);
	if (r < 0)
		goto fail;
	report(&a, a.exit_code ? "stopped, connections dropped" : "drained");
	echo_server_free(a.srv);
	close(a.sig_io.fd);
	wd_loop_fini(&a.loop);
	return a.exit_code;

bad:
	fprintf(stderr, "echo-server: bad value '%s'\n", optarg);
	usage(stderr);
	return EXIT_USAGE;
fail:
	fprintf(stderr, "echo-server: %s\n", strerror(-r));
	return EXIT_SYSTEM;
}
