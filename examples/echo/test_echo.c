/* SPDX-License-Identifier: MIT */
/*
 * The echo server's own tests, in-process: the protocol as a pure
 * function, then the server and its clients on one wd_loop, with the fd
 * audit (wd_fd_snapshot_*) proving that serving a request leaks nothing,
 * and that the audit does catch a handler that leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <warden/fd.h>
#include <warden/loop.h>

#include "echo.h"

/* ---- the protocol ------------------------------------------------------- */

static int handle(const char *line, char *out, size_t outsz, uint64_t *delay)
{
	return echo_handle(line, strlen(line), out, outsz, delay, NULL);
}

static void test_handle_echoes_the_line(void **state)
{
	const char *want = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 28\r\n"
			   "Connection: close\r\n\r\nGET /a/b?delay=250 HTTP/1.0\n";
	char out[ECHO_REPLY_MAX];
	uint64_t delay = 99;
	int n;

	(void)state;
	/* The body is the line and a newline: 27 + 1. */
	n = handle("GET /a/b?delay=250 HTTP/1.0", out, sizeof(out), &delay);
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_int_equal(delay, 250);

	n = handle("GET /", out, sizeof(out), &delay);
	assert_true(n > 0);
	assert_non_null(strstr(out, "200 OK"));
	assert_int_equal(delay, 0);
	handle("GET /x?a=1&delay=7&b=2", out, sizeof(out), &delay);
	assert_int_equal(delay, 7);
	handle("GET /x?delay=60000", out, sizeof(out), &delay);
	assert_int_equal(delay, ECHO_DELAY_MAX_MS);
}

static void test_handle_rejects(void **state)
{
	static const struct {
		const char *line;
		const char *status;
	} cases[] = {
		{"", "400 "},
		{"GET", "400 "},
		{"GET x", "400 "},
		{"GET  /", "400 "},
		{"GET / FTP/1.0", "400 "},
		{"GET /?delay=", "400 "},
		{"GET /?delay=12x", "400 "},
		{"GET /?delay=60001", "400 "},
		{"GET /?delay=99999999999999999999999", "400 "},
		{"POST /", "405 "},
		{"get /", "405 "},
	};
	char out[ECHO_REPLY_MAX];
	uint64_t delay;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		delay = 5;
		assert_true(handle(cases[i].line, out, sizeof(out), &delay) > 0);
		if (!strstr(out, cases[i].status))
			fail_msg("'%s': %s", cases[i].line, out);
		assert_int_equal(delay, 0);
	}
	assert_int_equal(echo_reply(200, "x", 1, out, 10), -ENOSPC);
}

/* ---- the server on a loop, with in-process clients ----------------------- */

struct client {
	wd_io io;
	struct tcase *tc;
	char req[ECHO_LINE_MAX + 64];
	size_t reqlen, sent;
	char got[ECHO_REPLY_MAX + 64];
	size_t gotlen;
	bool ended;
};

struct tcase {
	wd_loop loop;
	struct echo_server *srv;
	uint16_t port;
	struct client *clients;
	size_t nclients, ended;
	size_t quit_after; /* quit the loop once this many clients ended */
	wd_timer guard;	   /* a bound on every wait */
	bool timed_out, drained;
};

static void client_end(struct client *c)
{
	wd_io_stop(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	c->ended = true;
	if (++c->tc->ended == c->tc->quit_after)
		wd_loop_quit(&c->tc->loop);
}

static void client_io(wd_io *io, uint32_t revents)
{
	struct client *c = io->data;
	ssize_t n;

	if (c->sent < c->reqlen) {
		n = send(io->fd, c->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_end(c);
			return;
		}
		c->sent += (size_t)n;
		if (c->sent == c->reqlen)
			assert_int_equal(wd_io_modify(io, EPOLLIN), 0);
		return;
	}
	(void)revents;
	n = read(io->fd, c->got + c->gotlen, sizeof(c->got) - c->gotlen);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0 || c->gotlen + (size_t)n == sizeof(c->got)) {
		client_end(c);
		return;
	}
	c->gotlen += (size_t)n;
}

/* Starts client i with request line (a newline is added). */
static void client_start(struct tcase *tc, size_t i, const char *line)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(tc->port)};
	struct client *c = &tc->clients[i];
	int fd;

	memset(c, 0, sizeof(*c));
	c->tc = tc;
	c->reqlen = (size_t)snprintf(c->req, sizeof(c->req), "%s\n", line);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_true(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
	wd_io_init(&c->io, fd, EPOLLOUT, client_io, c);
	assert_int_equal(wd_io_start(&tc->loop, &c->io), 0);
}

static void guard_fired(wd_timer *t)
{
	struct tcase *tc = t->data;

	tc->timed_out = true;
	wd_loop_quit(&tc->loop);
}

/* Runs the loop once at a time until n connections are open and client last has sent. */
static void until_sent(struct tcase *tc, unsigned n, size_t last)
{
	int i;

	for (i = 0; i < 10000; i++) {
		if (echo_server_active(tc->srv) >= n &&
		    tc->clients[last].sent == tc->clients[last].reqlen)
			return;
		assert_true(wd_loop_run_once(&tc->loop, 10) >= 0);
	}
	fail_msg("the clients did not connect and send within 100 s");
}

/* Runs the loop until quit, failing the test after 10 s. */
static void run(struct tcase *tc)
{
	wd_timer_start(&tc->loop, &tc->guard, wd_now() + 10000000000ULL);
	assert_int_equal(wd_loop_run(&tc->loop), 0);
	wd_timer_stop(&tc->guard);
	assert_false(tc->timed_out);
}

/* The request line of client i in serve(). */
static void serve_line(char *line, size_t size, const char *name, size_t i, unsigned delay_ms)
{
	snprintf(line, size, "GET /%s%zu?delay=%u HTTP/1.0", name, i, delay_ms);
}

/* Serves n requests (serve_line() for client i) and waits for every reply to end. */
static void serve(struct tcase *tc, size_t n, const char *name, unsigned delay_ms)
{
	char line[ECHO_LINE_MAX];
	size_t i;

	assert_true(n <= tc->nclients);
	tc->ended = 0;
	tc->quit_after = n;
	for (i = 0; i < n; i++) {
		serve_line(line, sizeof(line), name, i, delay_ms);
		client_start(tc, i, line);
	}
	run(tc);
	/* The server closes each connection once it has read the client's end. */
	for (i = 0; i < 1000 && echo_server_active(tc->srv) > 0; i++)
		assert_true(wd_loop_run_once(&tc->loop, 10) >= 0);
	assert_int_equal(echo_server_active(tc->srv), 0);
}

static void on_drained(struct echo_server *srv, void *data)
{
	struct tcase *tc = data;

	(void)srv;
	tc->drained = true;
	wd_loop_quit(&tc->loop);
}

static void setup_with(struct tcase *tc, echo_handler handler, size_t nclients)
{
	struct echo_options o = {
		.max_conns = 64,
		.handler = handler,
		.on_drained = on_drained,
		.data = tc,
	};
	int lfd;

	memset(tc, 0, sizeof(*tc));
	assert_int_equal(wd_loop_init(&tc->loop), 0);
	wd_timer_init(&tc->guard, guard_fired, tc);
	assert_int_equal(echo_listen("127.0.0.1", 0, 128, &lfd, &tc->port), 0);
	assert_true(tc->port > 0);
	/* What the server opens must not leak into a child: every fd close-on-exec. */
	assert_int_equal(fcntl(lfd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(echo_server_new(&tc->loop, lfd, &o, &tc->srv), 0);
	tc->nclients = nclients;
	tc->clients = calloc(nclients, sizeof(*tc->clients));
	assert_non_null(tc->clients);
}

static void teardown(struct tcase *tc)
{
	echo_server_free(tc->srv);
	wd_loop_fini(&tc->loop);
	free(tc->clients);
}

static bool replied(const struct client *c, const char *status, const char *line)
{
	char body[ECHO_LINE_MAX + 2];

	snprintf(body, sizeof(body), "\r\n\r\n%s\n", line);
	return c->gotlen > strlen(body) && strncmp(c->got, status, strlen(status)) == 0 &&
	       memcmp(c->got + c->gotlen - strlen(body), body, strlen(body)) == 0;
}

/*
 * Serves n requests between two snapshots and returns the diff's count;
 * *ret_opened gets the descriptors that appeared.
 */
static int leaked(struct tcase *tc, size_t n, wd_fd_snapshot **ret_opened)
{
	wd_fd_snapshot *before, *after;
	char line[64];
	size_t i;
	int r;

	/* A first request makes what the loop creates once (its timerfd) before the snapshot. */
	serve(tc, 1, "warm-up", 1);
	assert_int_equal(wd_fd_snapshot_take(&before), 0);
	serve(tc, n, "r", 2);
	for (i = 0; i < n; i++) {
		serve_line(line, sizeof(line), "r", i, 2);
		assert_true(replied(&tc->clients[i], "HTTP/1.0 200 OK", line));
	}
	assert_int_equal(echo_server_active(tc->srv), 0);
	assert_int_equal(wd_fd_snapshot_take(&after), 0);
	r = wd_fd_snapshot_diff(before, after, ret_opened, NULL);
	wd_fd_snapshot_free(before);
	wd_fd_snapshot_free(after);
	return r;
}

static void test_no_fd_leak_per_request(void **state)
{
	struct tcase tc;
	wd_fd_snapshot *opened = NULL;
	struct echo_stats st;

	(void)state;
	setup_with(&tc, NULL, 50);
	assert_int_equal(leaked(&tc, 50, &opened), 0);
	assert_int_equal(wd_fd_snapshot_count(opened), 0);
	wd_fd_snapshot_free(opened);
	echo_server_stats(tc.srv, &st);
	assert_int_equal(st.accepted, 51);
	assert_int_equal(st.served, 51);
	assert_int_equal(st.failed, 0);
	teardown(&tc);
}

/* A handler with a bug: it opens a file for each request and forgets it. */
static int leaky_handler(const char *line, size_t len, char *out, size_t outsz,
			 uint64_t *ret_delay_ms, void *data)
{
	(void)open("/dev/null", O_RDONLY | O_CLOEXEC);
	return echo_handle(line, len, out, outsz, ret_delay_ms, data);
}

static void test_the_audit_catches_a_leaking_handler(void **state)
{
	wd_fd_snapshot *opened = NULL;
	struct tcase tc;
	size_t i;

	(void)state;
	setup_with(&tc, leaky_handler, 10);
	assert_int_equal(leaked(&tc, 10, &opened), 10);
	assert_int_equal(wd_fd_snapshot_count(opened), 10);
	for (i = 0; i < 10; i++) {
		const struct wd_fd_info *fi = wd_fd_snapshot_at(opened, i);

		assert_string_equal(fi->target, "/dev/null");
		close(fi->fd);
	}
	wd_fd_snapshot_free(opened);
	teardown(&tc);
}

static bool refused(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r < 0 && errno == ECONNREFUSED;
}

static void test_stop_accepting_drains_and_refuses(void **state)
{
	struct tcase tc;
	struct echo_stats st;
	char line[64];
	size_t i;

	(void)state;
	setup_with(&tc, NULL, 20);
	tc.quit_after = 0;
	for (i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "GET /d%zu?delay=300", i);
		client_start(&tc, i, line);
	}
	/* Until each request has been read by the server (it holds its reply for the delay). */
	until_sent(&tc, 20, 19);
	assert_false(echo_server_drained(tc.srv));
	echo_server_stop_accepting(tc.srv);
	assert_int_equal(echo_server_stop_accepting(tc.srv), 0); /* idempotent */
	run(&tc);						 /* until on_drained */
	assert_true(tc.drained);
	assert_true(echo_server_drained(tc.srv));
	for (i = 0; i < 20; i++) {
		snprintf(line, sizeof(line), "GET /d%zu?delay=300", i);
		assert_true(replied(&tc.clients[i], "HTTP/1.0 200 OK", line));
	}
	assert_true(refused(tc.port));
	echo_server_stats(tc.srv, &st);
	assert_int_equal(st.served, 20);
	assert_int_equal(st.failed, 0);
	teardown(&tc);
}

static void test_abort_closes_unanswered(void **state)
{
	struct tcase tc;
	struct echo_stats st;
	size_t i;

	(void)state;
	setup_with(&tc, NULL, 5);
	for (i = 0; i < 5; i++)
		client_start(&tc, i, "GET /slow?delay=60000");
	until_sent(&tc, 5, 4);
	tc.quit_after = 5;
	assert_int_equal(echo_server_abort(tc.srv), 5);
	run(&tc);
	for (i = 0; i < 5; i++)
		assert_int_equal(tc.clients[i].gotlen, 0);
	echo_server_stats(tc.srv, &st);
	assert_int_equal(st.failed, 5);
	assert_true(echo_server_drained(tc.srv));
	teardown(&tc);
}

static void test_too_long_and_bad_lines(void **state)
{
	char line[ECHO_LINE_MAX + 2];
	struct tcase tc;

	(void)state;
	setup_with(&tc, NULL, 2);
	/* Exactly the limit is fine; one more is 414. */
	memset(line, 'a', sizeof(line));
	memcpy(line, "GET /", 5);
	line[ECHO_LINE_MAX] = '\0';
	tc.quit_after = 2;
	client_start(&tc, 0, line);
	line[ECHO_LINE_MAX] = 'a';
	line[ECHO_LINE_MAX + 1] = '\0';
	client_start(&tc, 1, line);
	run(&tc);
	assert_true(strncmp(tc.clients[0].got, "HTTP/1.0 200 OK", 15) == 0);
	assert_true(strncmp(tc.clients[1].got, "HTTP/1.0 414 ", 13) == 0);
	tc.ended = 0;
	tc.quit_after = 1;
	client_start(&tc, 0, "DELETE /x");
	run(&tc);
	assert_true(strncmp(tc.clients[0].got, "HTTP/1.0 405 ", 13) == 0);
	teardown(&tc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handle_echoes_the_line),
		cmocka_unit_test(test_handle_rejects),
		cmocka_unit_test(test_no_fd_leak_per_request),
		cmocka_unit_test(test_the_audit_catches_a_leaking_handler),
		cmocka_unit_test(test_stop_accepting_drains_and_refuses),
		cmocka_unit_test(test_abort_closes_unanswered),
		cmocka_unit_test(test_too_long_and_bad_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
