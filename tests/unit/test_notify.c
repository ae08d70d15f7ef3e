/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the notify client (warden/notify.h): each message as a
 * receiver in the test sees it, path and abstract sockets, the sender's
 * credentials, the errors, WATCHDOG_USEC/WATCHDOG_PID, a full queue, a
 * send from a signal handler, and the pinger on a wd_loop.
 */

#include "unit.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <warden/fd.h>
#include <warden/notify.h>

#define MSEC 1000000ull

/* The receiver: a datagram socket, as a manager has one. */
static int rx = -1;
static char rx_name[128]; /* as NOTIFY_SOCKET names it */
static char rx_dir[64];

static void rx_open(bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int one = 1;
	static unsigned seq;

	rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(rx >= 0);
	/* As warden and systemd do: the kernel then attaches the sender's pid. */
	assert_int_equal(setsockopt(rx, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	if (abstract) {
		int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "wd-test-notify-%d-%u",
				 (int)getpid(), ++seq);

		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
		snprintf(rx_name, sizeof(rx_name), "@%s", sa.sun_path + 1);
	} else {
		snprintf(rx_dir, sizeof(rx_dir), "/tmp/wd-notify-XXXXXX");
		assert_non_null(mkdtemp(rx_dir));
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify", rx_dir);
		len = sizeof(sa);
		snprintf(rx_name, sizeof(rx_name), "%s", sa.sun_path);
	}
	assert_int_equal(bind(rx, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", rx_name, 1), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (rx >= 0)
		close(rx);
	rx = -1;
	if (rx_name[0] == '/')
		unlink(rx_name);
	if (rx_dir[0])
		rmdir(rx_dir);
	rx_name[0] = rx_dir[0] = '\0';
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	return 0;
}

/* Receives one datagram (waiting at most 5 s) into buf; returns the sender's pid. */
static pid_t rx_recv(char *buf, size_t size)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred))];
	} cm;
	struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cm, .msg_controllen = sizeof(cm)};
	struct pollfd pfd = {.fd = rx, .events = POLLIN};
	struct cmsghdr *c;
	struct ucred uc = {0};
	ssize_t n;

	if (poll(&pfd, 1, 5000) != 1)
		fail_msg("no datagram within 5 s");
	n = recvmsg(rx, &mh, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
	return uc.pid;
}

static void expect(const char *want)
{
	char buf[512];

	assert_int_equal(rx_recv(buf, sizeof(buf)), getpid());
	assert_string_equal(buf, want);
}

static int open_fds(void)
{
	int fds[256];

	return wd_fd_list(0, fds, ARRAY_SIZE(fds));
}

static void each_message(bool abstract)
{
	char buf[512], *end;
	uint64_t t0, t1, mono;

	rx_open(abstract);
	errno = 4321;
	assert_int_equal(wd_notify_ready(), 1);
	assert_int_equal(errno, 4321);
	expect("READY=1");
	assert_int_equal(wd_notify_status("serving 3 clients"), 1);
	expect("STATUS=serving 3 clients");
	assert_int_equal(wd_notify_status(""), 1);
	expect("STATUS=");
	assert_int_equal(wd_notify_stopping(), 1);
	expect("STOPPING=1");
	assert_int_equal(wd_notify_watchdog(), 1);
	expect("WATCHDOG=1");
	assert_int_equal(wd_notify_extend_timeout(0), 1);
	expect("EXTEND_TIMEOUT_USEC=0");
	assert_int_equal(wd_notify_extend_timeout(UINT64_MAX), 1);
	expect("EXTEND_TIMEOUT_USEC=18446744073709551615");
	assert_int_equal(wd_notify_send("READY=1\nSTATUS=two lines"), 1);
	expect("READY=1\nSTATUS=two lines");

	t0 = wd_now() / 1000;
	assert_int_equal(wd_notify_reloading(), 1);
	t1 = wd_now() / 1000;
	assert_int_equal(rx_recv(buf, sizeof(buf)), getpid());
	assert_int_equal(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
	mono = strtoull(buf + 27, &end, 10);
	assert_true(*end == '\0' && end > buf + 27);
	assert_true(t0 <= mono && mono <= t1);
}

static void test_messages_path(void **state)
{
	(void)state;
	each_message(false);
}

static void test_messages_abstract(void **state)
{
	(void)state;
	each_message(true);
}

/* Each call opens and closes its own socket: nothing is left open. */
static void test_no_fd_left(void **state)
{
	int before;

	(void)state;
	rx_open(true);
	before = open_fds();
	for (int i = 0; i < 50; i++) {
		assert_int_equal(wd_notify_watchdog(), 1);
		expect("WATCHDOG=1");
	}
	assert_int_equal(open_fds(), before);
}

static void test_no_socket_is_a_noop(void **state)
{
	int before = open_fds();

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_null(wd_notify_socket());
	assert_int_equal(wd_notify_send("READY=1"), 0);
	assert_int_equal(wd_notify_ready(), 0);
	assert_int_equal(wd_notify_status("x"), 0);
	assert_int_equal(wd_notify_stopping(), 0);
	assert_int_equal(wd_notify_reloading(), 0);
	assert_int_equal(wd_notify_watchdog(), 0);
	assert_int_equal(wd_notify_extend_timeout(5), 0);
	assert_int_equal(wd_notify_send_to(NULL, "READY=1"), 0);
	assert_int_equal(open_fds(), before);
}

static void test_errors(void **state)
{
	char longname[200];

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(wd_notify_send_to("vsock:2:1234", "READY=1"), -EAFNOSUPPORT);
	assert_int_equal(wd_notify_send_to("relative/path", "READY=1"), -EAFNOSUPPORT);
	assert_int_equal(wd_notify_send_to("", "READY=1"), -EINVAL);
	assert_int_equal(wd_notify_send_to("@", "READY=1"), -EINVAL);
	assert_int_equal(wd_notify_send_to(longname, "READY=1"), -ENAMETOOLONG);
	longname[0] = '@';
	assert_int_equal(wd_notify_send_to(longname, "READY=1"), -ENAMETOOLONG);
	assert_int_equal(wd_notify_send_to("/nonexistent/wd-notify", "READY=1"), -ENOENT);
	assert_int_equal(wd_notify_send_to("@wd-test-nobody-listens-here", "READY=1"),
			 -ECONNREFUSED);
	/* errno is left alone, failing or not (a signal handler need not save it). */
	errno = 4321;
	assert_int_equal(wd_notify_send_to("@wd-test-nobody-listens-here", "READY=1"),
			 -ECONNREFUSED);
	assert_int_equal(errno, 4321);
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(wd_notify_ready(), -EINVAL);

	rx_open(false);
	assert_int_equal(wd_notify_send(""), -EINVAL);
	assert_int_equal(wd_notify_send(NULL), -EINVAL);
	assert_int_equal(wd_notify_status("two\nlines"), -EINVAL);
	assert_int_equal(wd_notify_status(NULL), -EINVAL);
	/* Nothing of the refused messages reached the receiver. */
	assert_int_equal(recv(rx, longname, sizeof(longname), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/*
 * A manager that does not read: once its queue is full, a send waits for
 * WD_NOTIFY_SEND_TIMEOUT_MS, then gives up with -EAGAIN.
 */
static void test_full_queue_gives_up(void **state)
{
	char buf[64];
	uint64_t t0 = 0;
	int i, r = 1;

	(void)state;
	if (read_file("/proc/sys/net/unix/max_dgram_qlen", buf, sizeof(buf)) < 0)
		cannot_run("no /proc/sys/net/unix/max_dgram_qlen");
	if (atoi(buf) > 1000)
		cannot_run(
			"net.unix.max_dgram_qlen is over 1000: the queue takes too long to fill");
	rx_open(true);
	for (i = 0; i < 1100 && r == 1; i++) {
		t0 = wd_now();
		r = wd_notify_watchdog();
	}
	assert_int_equal(r, -EAGAIN);
	assert_true(wd_now() - t0 >= (WD_NOTIFY_SEND_TIMEOUT_MS - 50) * MSEC);
	assert_true(wd_now() - t0 < (WD_NOTIFY_SEND_TIMEOUT_MS + 5000) * MSEC);
	/* Once the manager reads, sending works again. */
	while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(wd_notify_ready(), 1);
	expect("READY=1");
}

static const char *handler_addr;
static volatile sig_atomic_t handler_result;

static void on_usr1(int sig)
{
	(void)sig;
	handler_result = wd_notify_send_to(handler_addr, "STOPPING=1");
}

/* The documented way to notify from a signal handler: the address read beforehand. */
static void test_send_from_signal_handler(void **state)
{
	struct sigaction sa = {.sa_handler = on_usr1}, old;

	(void)state;
	rx_open(true);
	handler_addr = wd_notify_socket();
	handler_result = 99;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	raise(SIGUSR1);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	assert_int_equal(handler_result, 1);
	expect("STOPPING=1");
}

static void test_watchdog_usec(void **state)
{
	char pid[32];
	uint64_t usec = 7;

	(void)state;
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(wd_notify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);
	setenv("WATCHDOG_USEC", "500000", 1);
	assert_int_equal(wd_notify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 500000);
	assert_int_equal(wd_notify_watchdog_usec(NULL), 1);

	/* WATCHDOG_PID: ours, another's (disabled, and usec untouched), garbage. */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "3000000", 1);
	assert_int_equal(wd_notify_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 3000000);
	snprintf(pid, sizeof(pid), "%d", (int)getppid());
	setenv("WATCHDOG_PID", pid, 1);
	usec = 7;
	assert_int_equal(wd_notify_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 7);
	static const char *const bad[] = {
		"", "x", "-1", "0", "12a", " 5", "99999999999999999999999"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		setenv("WATCHDOG_PID", bad[i], 1);
		assert_int_equal(wd_notify_watchdog_usec(&usec), -EINVAL);
	}
	unsetenv("WATCHDOG_PID");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		assert_int_equal(wd_notify_watchdog_usec(&usec), -EINVAL);
	}
	assert_int_equal(usec, 7);
}

/* --- the pinger ----------------------------------------------------------------- */

static wd_loop *loop;
static wd_timer guard;
static int pings;
static uint64_t ping_at[8];

static void guard_cb(wd_timer *t)
{
	(void)t;
	wd_loop_quit(loop);
}

static void on_rx(wd_io *io, uint32_t revents)
{
	char buf[64];
	ssize_t n;

	(void)revents;
	while ((n = recv(io->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		assert_string_equal(buf, "WATCHDOG=1");
		if (pings < (int)ARRAY_SIZE(ping_at))
			ping_at[pings] = wd_now();
		if (++pings == (int)ARRAY_SIZE(ping_at))
			wd_loop_quit(loop);
	}
}

static int loop_setup(void **state)
{
	(void)state;
	pings = 0;
	if (wd_loop_new(&loop) < 0)
		return -1;
	wd_timer_init(&guard, guard_cb, NULL);
	return wd_timer_start(loop, &guard, wd_now() + 10000 * MSEC);
}

static int loop_teardown(void **state)
{
	wd_timer_stop(&guard);
	wd_loop_free(loop);
	loop = NULL;
	return teardown(state);
}

/*
 * WATCHDOG_USEC=100 ms: a ping at once, then one every 50 ms, still after
 * NOTIFY_SOCKET is unset (the pinger copied it).
 */
static void test_pinger(void **state)
{
	wd_notify_pinger p;
	wd_io io;
	uint64_t t0;

	(void)state;
	rx_open(true);
	setenv("WATCHDOG_USEC", "100000", 1);
	wd_io_init(&io, rx, EPOLLIN, on_rx, NULL);
	assert_int_equal(wd_io_start(loop, &io), 0);
	wd_notify_pinger_init(&p);
	t0 = wd_now();
	assert_int_equal(wd_notify_pinger_start(&p, loop), 1);
	assert_int_equal(p.interval_usec, 50000);
	/* The first ping went out at once, before the loop ran. */
	char peek[32];
	assert_int_equal(recv(rx, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT), 10);
	assert_int_equal(wd_notify_pinger_start(&p, loop), -EBUSY);
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(wd_loop_run(loop), 0);
	assert_int_equal(pings, ARRAY_SIZE(ping_at));
	assert_int_equal(p.last_error, 0);
	/*
	 * Each deadline is at least an interval after the one before (a late
	 * loop pushes the next one back rather than bunching them): the eighth
	 * ping, seven intervals after the first, not before.
	 */
	assert_true(ping_at[7] - t0 >= 7 * 50 * MSEC);
	assert_true(ping_at[7] - t0 < 5000 * MSEC);
	wd_notify_pinger_stop(&p);
	wd_notify_pinger_stop(&p);
	assert_int_equal(p.interval_usec, 0);
	/* Only the guard is left armed. */
	wd_timer_stop(&guard);
	assert_int_equal(wd_loop_timeout(loop), -1);
	wd_io_stop(&io);
}

/* A send that fails is recorded and retried: the pinger keeps going. */
static void test_pinger_records_errors(void **state)
{
	wd_notify_pinger p;

	(void)state;
	setenv("NOTIFY_SOCKET", "@wd-test-nobody-listens-here", 1);
	setenv("WATCHDOG_USEC", "2000", 1);
	wd_notify_pinger_init(&p);
	assert_int_equal(wd_notify_pinger_start(&p, loop), 1);
	assert_int_equal(p.last_error, -ECONNREFUSED);
	assert_int_equal(p.interval_usec, 1000);
	/* A few ticks of the loop: the timer is re-armed each time. */
	for (int i = 0; i < 5; i++)
		assert_true(wd_loop_run_once(loop, 1000) >= 1);
	assert_int_equal(p.last_error, -ECONNREFUSED);
	wd_notify_pinger_stop(&p);
}

static void test_pinger_disabled(void **state)
{
	wd_notify_pinger p;
	char pid[32];

	(void)state;
	rx_open(true);
	wd_timer_stop(&guard);
	wd_notify_pinger_init(&p);
	unsetenv("WATCHDOG_USEC");
	assert_int_equal(wd_notify_pinger_start(&p, loop), 0);
	/* For another process: disabled as well. */
	setenv("WATCHDOG_USEC", "100000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getppid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(wd_notify_pinger_start(&p, loop), 0);
	setenv("WATCHDOG_USEC", "soon", 1);
	assert_int_equal(wd_notify_pinger_start(&p, loop), -EINVAL);
	assert_int_equal(p.interval_usec, 0);
	/* Nothing armed, nothing sent. */
	assert_int_equal(wd_loop_timeout(loop), -1);
	assert_int_equal(recv(rx, pid, sizeof(pid), MSG_DONTWAIT), -1);
	wd_notify_pinger_stop(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_messages_path, teardown),
		cmocka_unit_test_teardown(test_messages_abstract, teardown),
		cmocka_unit_test_teardown(test_no_fd_left, teardown),
		cmocka_unit_test_teardown(test_no_socket_is_a_noop, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_full_queue_gives_up, teardown),
		cmocka_unit_test_teardown(test_send_from_signal_handler, teardown),
		cmocka_unit_test_teardown(test_watchdog_usec, teardown),
		cmocka_unit_test_setup_teardown(test_pinger, loop_setup, loop_teardown),
		cmocka_unit_test_setup_teardown(test_pinger_records_errors, loop_setup,
						loop_teardown),
		cmocka_unit_test_setup_teardown(test_pinger_disabled, loop_setup, loop_teardown),
	};

	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
