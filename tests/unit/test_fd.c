/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for descriptor hygiene (warden/fd.h). Closing descriptors
 * wholesale happens in forked children, so the runner keeps its own.
 */

#include "unit.h"

#include <limits.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <warden/fd.h>

#define PROBE_MAX 4096

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* The open descriptors of this process below PROBE_MAX, by asking fcntl. */
static int probe_open(int *fds, int max)
{
	int n = 0;
	for (int fd = 0; fd < PROBE_MAX; fd++)
		if (is_open(fd) && n < max)
			fds[n++] = fd;
	return n;
}

/*
 * Runs fn in a child and expects it to _exit(0); other codes name the
 * check that failed.
 */
static void in_child(int (*fn)(void), const char *what)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	int st = wait_child(pid, 10000);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error("%s: child status 0x%x (exit %d = the failed check)\n", what, st,
			    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		fail();
	}
}

/* Opens /dev/null (without close-on-exec) at fd; returns 0 or -1. */
static int open_at(int fd)
{
	int n = open("/dev/null", O_RDONLY);
	if (n < 0)
		return -1;
	if (n != fd) {
		if (dup2(n, fd) != fd)
			return -1;
		close(n);
	}
	return 0;
}

/* Keep list unsorted, with duplicates, entries below lowfd and not open. */
static int child_close_from_keep(void)
{
	for (int fd = 50; fd <= 60; fd++)
		if (open_at(fd) < 0)
			return 90;
	fcntl(57, F_SETFD, FD_CLOEXEC); /* a kept fd keeps its flags */
	int low[3];
	for (int fd = 0; fd < 3; fd++)
		low[fd] = is_open(fd);
	const int keep[] = {57, 52, 53, 50, 60, 1000, 2, 57};
	if (wd_fd_close_from(50, keep, ARRAY_SIZE(keep)) != 0)
		return 91;
	for (int fd = 50; fd <= 60; fd++) {
		int want = fd == 50 || fd == 52 || fd == 53 || fd == 57 || fd == 60;
		if (is_open(fd) != want)
			return fd; /* 50..60: that fd is wrong */
	}
	if (!(fcntl(57, F_GETFD) & FD_CLOEXEC) || (fcntl(52, F_GETFD) & FD_CLOEXEC))
		return 92;
	/* below lowfd nothing changed */
	for (int fd = 0; fd < 3; fd++)
		if (is_open(fd) != low[fd])
			return 93;
	return 0;
}

static void test_close_from_keep(void **state)
{
	in_child(child_close_from_keep, "close_from(50, unsorted keep list)");
}

/* From 3, keeping one: only 0, 1, 2 and the kept one remain. */
static int child_close_from_3(void)
{
	int k = -1, low[3];
	for (int fd = 0; fd < 3; fd++)
		low[fd] = is_open(fd);
	for (int fd = 3; fd < 40; fd += 3)
		if (open_at(fd) < 0)
			return 90;
	if (open_at(500) < 0 || open_at(21) < 0)
		return 90;
	k = 21;
	if (wd_fd_close_from(3, &k, 1) != 0)
		return 91;
	for (int fd = 3; fd < PROBE_MAX; fd++)
		if (is_open(fd) != (fd == 21))
			return 92;
	for (int fd = 0; fd < 3; fd++)
		if (is_open(fd) != low[fd])
			return 93;
	return 0;
}

static void test_close_from_3(void **state)
{
	in_child(child_close_from_3, "close_from(3, {21})");
}

static int child_close_from_nokeep(void)
{
	if (open_at(10) < 0 || open_at(11) < 0 || open_at(300) < 0)
		return 90;
	if (wd_fd_close_from(11, NULL, 0) != 0)
		return 91;
	if (!is_open(10))
		return 92;
	for (int fd = 11; fd < PROBE_MAX; fd++)
		if (is_open(fd))
			return 93;
	/* nothing open at or above lowfd: a no-op that succeeds */
	if (wd_fd_close_from(11, NULL, 0) != 0)
		return 94;
	if (!is_open(10))
		return 95;
	/* keeping every fd in a range */
	for (int fd = 20; fd < 25; fd++)
		if (open_at(fd) < 0)
			return 90;
	const int keep[] = {20, 21, 22, 23, 24};
	if (wd_fd_close_from(20, keep, 5) != 0)
		return 96;
	for (int fd = 20; fd < 25; fd++)
		if (!is_open(fd))
			return 97;
	/* any int may be in the keep list: negative, or the largest */
	if (open_at(30) < 0 || open_at(31) < 0)
		return 90;
	const int odd[] = {-1, INT_MAX, 31};
	if (wd_fd_close_from(25, odd, 3) != 0)
		return 98;
	if (is_open(30) || !is_open(31) || !is_open(24))
		return 99;
	return 0;
}

static void test_close_from_no_keep(void **state)
{
	in_child(child_close_from_nokeep, "close_from without keep");
}

static void test_set_cloexec(void **state)
{
	int fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(wd_fd_set_cloexec(fd, true), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(wd_fd_set_cloexec(fd, true), 0); /* idempotent */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(wd_fd_set_cloexec(fd, false), 0);
	assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(wd_fd_set_cloexec(fd, false), 0);
	assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* the file status flags are not the fd flags: left alone */
	int fl = fcntl(fd, F_GETFL);
	assert_int_equal(wd_fd_set_cloexec(fd, true), 0);
	assert_int_equal(fcntl(fd, F_GETFL), fl);
	close(fd);
	assert_int_equal(wd_fd_set_cloexec(fd, true), -EBADF);
	assert_int_equal(wd_fd_set_cloexec(-1, false), -EBADF);
}

static void print_list(const char *what, const int *fds, int n)
{
	char s[1024] = "";
	for (int i = 0; i < n && strlen(s) < sizeof(s) - 16; i++)
		snprintf(s + strlen(s), sizeof(s) - strlen(s), " %d", fds[i]);
	print_error("%s: {%s }\n", what, s);
}

/* The list matches fcntl's view: the directory it reads is not in it. */
static void test_list_self(void **state)
{
	int extra[3];
	extra[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	extra[1] = dup2(extra[0], 77);
	extra[2] = dup2(extra[0], 1500);
	assert_true(extra[0] >= 0 && extra[1] == 77 && extra[2] == 1500);

	static int want[PROBE_MAX], got[PROBE_MAX];
	int n = probe_open(want, PROBE_MAX);
	/* 0 means this process; so does its own pid */
	const int pids[2] = {0, getpid()};
	for (int k = 0; k < 2; k++) {
		int r = wd_fd_list(pids[k], got, PROBE_MAX);
		int ok = r == n;
		for (int i = 0; ok && i < n; i++)
			ok = got[i] == want[i];
		if (!ok) {
			char what[64];
			snprintf(what, sizeof(what), "wd_fd_list(%d) = %d", pids[k], r);
			print_list(what, got, r > 0 ? (r < PROBE_MAX ? r : PROBE_MAX) : 0);
			print_list("fcntl sees", want, n);
			fail();
		}
	}

	for (int i = 0; i < 3; i++)
		close(extra[i]);
}

/* A short array: the total is still returned, and only max are stored. */
static void test_list_truncated(void **state)
{
	int a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(a >= 0);
	int b = dup2(a, 90), c = dup2(a, 91);
	assert_true(b == 90 && c == 91);
	static int want[PROBE_MAX];
	int n = probe_open(want, PROBE_MAX);
	assert_true(n >= 5);

	int got[2 + CANARY_LEN];
	fill_canary(got, sizeof(got));
	int r = wd_fd_list(0, got, 2);
	assert_int_equal(r, n);
	assert_int_equal(got[0], want[0]);
	assert_int_equal(got[1], want[1]);
	assert_true(canary_intact(got + 2, sizeof(got) - 2 * sizeof(int)));

	fill_canary(got, sizeof(got));
	assert_int_equal(wd_fd_list(0, got, 0), n);
	assert_true(canary_intact(got, sizeof(got)));
	close(a);
	close(b);
	close(c);
}

/* Another process's descriptors, read from outside. */
static void test_list_child(void **state)
{
	int ready[2];
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (open_at(7) < 0 || open_at(300) < 0)
			_exit(1);
		for (int fd = 3; fd < PROBE_MAX; fd++)
			if (fd != 7 && fd != 300 && fd != ready[1])
				close(fd);
		close(ready[1]); /* EOF: the parent may look */
		pause();
		_exit(0);
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 0);
	close(ready[0]);
	int got[16];
	int r = wd_fd_list(pid, got, 16);
	kill(pid, SIGKILL);
	wait_child(pid, 5000);
	int want[8], n = 0;
	for (int fd = 0; fd < 3; fd++)
		if (is_open(fd))
			want[n++] = fd;
	want[n++] = 7;
	want[n++] = 300;
	int ok = r == n;
	for (int i = 0; ok && i < n; i++)
		ok = got[i] == want[i];
	if (!ok) {
		print_list("wd_fd_list(child)", got, r > 0 && r <= 16 ? r : 0);
		fail();
	}
	/* the child is gone now */
	assert_true(wd_fd_list(pid, got, 16) < 0);
}

/* ---- the audit ---- */

static int has(const int *fds, int n, int fd)
{
	for (int i = 0; i < n; i++)
		if (fds[i] == fd)
			return 1;
	return 0;
}

/* Exactly the open descriptors (fcntl agrees), ascending; not the snapshot's own. */
static void test_snapshot_is_exact(void **state)
{
	int open_now[256], n, dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
	wd_fd_snapshot *snap;

	assert_true(dn >= 0);
	n = probe_open(open_now, 256);
	assert_int_equal(wd_fd_snapshot_take(&snap), 0);
	assert_int_equal(wd_fd_snapshot_count(snap), n);
	for (int i = 0; i < n; i++) {
		const struct wd_fd_info *fi = wd_fd_snapshot_at(snap, (size_t)i);

		assert_non_null(fi);
		assert_int_equal(fi->fd, open_now[i]);
		assert_ptr_equal(wd_fd_snapshot_find(snap, fi->fd), fi);
	}
	assert_null(wd_fd_snapshot_at(snap, (size_t)n));
	assert_null(wd_fd_snapshot_find(snap, PROBE_MAX + 1));
	assert_null(wd_fd_snapshot_find(snap, -1));
	/* Its own /proc directory descriptor is gone, so it cannot be in there. */
	assert_int_equal(probe_open(open_now, 256), n);
	wd_fd_snapshot_free(snap);
	wd_fd_snapshot_free(NULL);
	close(dn);
}

static void test_snapshot_targets_and_flags(void **state)
{
	int dn = open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC), p[2], sv[2];
	wd_fd_snapshot *snap;
	const struct wd_fd_info *fi;

	assert_true(dn >= 0);
	assert_int_equal(pipe2(p, O_NONBLOCK), 0); /* no close-on-exec */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(wd_fd_snapshot_take(&snap), 0);

	fi = wd_fd_snapshot_find(snap, dn);
	assert_non_null(fi);
	assert_string_equal(fi->target, "/dev/null");
	assert_true(fi->fd_flags & FD_CLOEXEC);
	assert_int_equal(fi->status_flags & O_ACCMODE, O_WRONLY);
	assert_true(fi->status_flags & O_APPEND);
	assert_true(S_ISCHR(fi->mode));

	fi = wd_fd_snapshot_find(snap, p[0]);
	assert_non_null(fi);
	assert_int_equal(strncmp(fi->target, "pipe:[", 6), 0);
	assert_false(fi->fd_flags & FD_CLOEXEC);
	assert_true(fi->status_flags & O_NONBLOCK);
	assert_true(S_ISFIFO(fi->mode));
	/* The two ends: one pipe, one object. */
	assert_string_equal(wd_fd_snapshot_find(snap, p[1])->target, fi->target);
	assert_int_equal(wd_fd_snapshot_find(snap, p[1])->ino, fi->ino);

	fi = wd_fd_snapshot_find(snap, sv[0]);
	assert_non_null(fi);
	assert_int_equal(strncmp(fi->target, "socket:[", 8), 0);
	assert_true(S_ISSOCK(fi->mode));
	assert_true(fi->fd_flags & FD_CLOEXEC);
	wd_fd_snapshot_free(snap);
	close(dn);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A "request handler" that leaks a pipe end and closes what it should not. */
static int victim = -1, leaked = -1;
static void leaky_handler(void)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	leaked = p[0];
	close(victim);
}

static void test_diff_finds_a_leak(void **state)
{
	wd_fd_snapshot *before, *after, *opened, *closed;

	victim = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(victim >= 0);
	assert_int_equal(wd_fd_snapshot_take(&before), 0);
	/* Nothing happened: no difference, and NULL rets are fine. */
	assert_int_equal(wd_fd_snapshot_take(&after), 0);
	assert_int_equal(wd_fd_snapshot_diff(before, after, NULL, NULL), 0);
	wd_fd_snapshot_free(after);

	leaky_handler();
	assert_int_equal(wd_fd_snapshot_take(&after), 0);
	assert_int_equal(wd_fd_snapshot_diff(before, after, &opened, &closed), 2);
	assert_int_equal(wd_fd_snapshot_count(opened), 1);
	assert_int_equal(wd_fd_snapshot_at(opened, 0)->fd, leaked);
	assert_int_equal(strncmp(wd_fd_snapshot_at(opened, 0)->target, "pipe:[", 6), 0);
	assert_int_equal(wd_fd_snapshot_count(closed), 1);
	assert_int_equal(wd_fd_snapshot_at(closed, 0)->fd, victim);
	assert_string_equal(wd_fd_snapshot_at(closed, 0)->target, "/dev/null");
	/* The results outlive the snapshots they came from. */
	wd_fd_snapshot_free(before);
	wd_fd_snapshot_free(after);
	assert_string_equal(wd_fd_snapshot_at(closed, 0)->target, "/dev/null");
	wd_fd_snapshot_free(opened);
	wd_fd_snapshot_free(closed);
	close(leaked);
}

/* A number closed and opened again on another object counts as both. */
static void test_diff_reused_number(void **state)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), sv[2];
	wd_fd_snapshot *before, *after, *opened, *closed;

	assert_true(fd >= 0);
	assert_int_equal(wd_fd_snapshot_take(&before), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(dup3(sv[0], fd, O_CLOEXEC), fd);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(wd_fd_snapshot_take(&after), 0);
	assert_int_equal(wd_fd_snapshot_diff(before, after, &opened, &closed), 2);
	assert_int_equal(wd_fd_snapshot_at(opened, 0)->fd, fd);
	assert_int_equal(strncmp(wd_fd_snapshot_at(opened, 0)->target, "socket:[", 8), 0);
	assert_int_equal(wd_fd_snapshot_at(closed, 0)->fd, fd);
	assert_string_equal(wd_fd_snapshot_at(closed, 0)->target, "/dev/null");
	wd_fd_snapshot_free(before);
	wd_fd_snapshot_free(after);
	wd_fd_snapshot_free(opened);
	wd_fd_snapshot_free(closed);
	close(fd);
}

static void test_list_inheritable(void **state)
{
	int inh = open("/dev/null", O_RDONLY), cx = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int got[64], n, all;

	assert_true(inh >= 3 && cx >= 3);
	n = wd_fd_list_inheritable(3, got, ARRAY_SIZE(got));
	assert_true(n >= 1 && n <= (int)ARRAY_SIZE(got));
	assert_true(has(got, n, inh));
	assert_false(has(got, n, cx));
	for (int i = 0; i < n; i++) {
		assert_true(got[i] >= 3);
		assert_false(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		if (i)
			assert_true(got[i] > got[i - 1]);
	}
	/* From 0: stdin, stdout and stderr too (when open and inheritable, as usual). */
	all = wd_fd_list_inheritable(0, got, ARRAY_SIZE(got));
	assert_true(all >= n);
	/* Truncated: the count, only max stored. */
	got[0] = -7;
	assert_int_equal(wd_fd_list_inheritable(3, got, 0), n);
	assert_int_equal(got[0], -7);
	assert_int_equal(wd_fd_set_cloexec(inh, true), 0);
	assert_int_equal(wd_fd_list_inheritable(3, got, ARRAY_SIZE(got)), n - 1);
	close(inh);
	close(cx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_close_from_keep),
		cmocka_unit_test(test_close_from_3),
		cmocka_unit_test(test_close_from_no_keep),
		cmocka_unit_test(test_set_cloexec),
		cmocka_unit_test(test_list_self),
		cmocka_unit_test(test_list_truncated),
		cmocka_unit_test(test_list_child),
		cmocka_unit_test(test_snapshot_is_exact),
		cmocka_unit_test(test_snapshot_targets_and_flags),
		cmocka_unit_test(test_diff_finds_a_leak),
		cmocka_unit_test(test_diff_reused_number),
		cmocka_unit_test(test_list_inheritable),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
