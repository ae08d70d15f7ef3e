/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for signal names and numbers (warden/signals.h), and for
 * blocking every signal and reading them from a signalfd.
 */

#include "unit.h"

#include <ctype.h>
#include <pthread.h>
#include <sys/signalfd.h>

#include <warden/signals.h>

static void check_parse_at(const char *s, bool allow_zero, int expect, int line)
{
	int sig = -12345;
	int r = wd_signal_parse(s, allow_zero, &sig);
	if (r != 0 || sig != expect) {
		print_error(
			"line %d: wd_signal_parse(\"%s\", %d) = %d, sig %d; expected 0, sig %d\n",
			line, s, allow_zero, r, sig, expect);
		fail();
	}
}
#define check_parse(s, z, e) check_parse_at(s, z, e, __LINE__)

static void check_bad_at(const char *s, bool allow_zero, int line)
{
	int sig = -12345;
	int r = wd_signal_parse(s, allow_zero, &sig);
	if (r != -EINVAL || sig != -12345) {
		print_error("line %d: wd_signal_parse(\"%s\", %d) = %d, sig %d; expected -EINVAL "
			    "and the output untouched\n",
			    line, s, allow_zero, r, sig);
		fail();
	}
}
#define check_bad(s, z) check_bad_at(s, z, __LINE__)

static void test_parse_names(void **state)
{
	check_parse("TERM", false, SIGTERM);
	check_parse("SIGTERM", false, SIGTERM);
	check_parse("term", false, SIGTERM);
	check_parse("sigterm", false, SIGTERM);
	check_parse("SIGterm", false, SIGTERM);
	check_parse("Term", false, SIGTERM);
	check_parse("HUP", false, SIGHUP);
	check_parse("INT", false, SIGINT);
	check_parse("QUIT", false, SIGQUIT);
	check_parse("KILL", false, SIGKILL);
	check_parse("SIGKILL", false, SIGKILL);
	check_parse("USR1", false, SIGUSR1);
	check_parse("USR2", false, SIGUSR2);
	check_parse("SEGV", false, SIGSEGV);
	check_parse("PIPE", false, SIGPIPE);
	check_parse("ALRM", false, SIGALRM);
	check_parse("CHLD", false, SIGCHLD);
	check_parse("CONT", false, SIGCONT);
	check_parse("STOP", false, SIGSTOP);
	check_parse("TSTP", false, SIGTSTP);
	check_parse("WINCH", false, SIGWINCH);
	check_parse("SYS", false, SIGSYS);
	check_parse("ABRT", false, SIGABRT);
	check_parse("VTALRM", false, SIGVTALRM);
	check_parse("XFSZ", false, SIGXFSZ);
}

static void test_parse_numbers(void **state)
{
	check_parse("15", false, 15);
	check_parse("1", false, 1);
	check_parse("9", false, 9);
	check_parse("31", false, 31);
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", WD_SIGRTMAX);
	check_parse(buf, false, WD_SIGRTMAX);
	snprintf(buf, sizeof(buf), "%d", WD_SIGRTMIN);
	check_parse(buf, false, WD_SIGRTMIN);
}

static void test_parse_realtime(void **state)
{
	check_parse("RTMIN", false, WD_SIGRTMIN);
	check_parse("SIGRTMIN", false, WD_SIGRTMIN);
	check_parse("rtmin", false, WD_SIGRTMIN);
	check_parse("RTMIN+2", false, WD_SIGRTMIN + 2);
	check_parse("SIGRTMIN+2", false, WD_SIGRTMIN + 2);
	check_parse("RTMIN+0", false, WD_SIGRTMIN);
	check_parse("RTMAX", false, WD_SIGRTMAX);
	check_parse("SIGRTMAX", false, WD_SIGRTMAX);
	check_parse("RTMAX-1", false, WD_SIGRTMAX - 1);
	check_parse("SIGRTMAX-1", false, WD_SIGRTMAX - 1);
	check_parse("sigrtmax-1", false, WD_SIGRTMAX - 1);

	/* the whole range, both ways */
	char buf[32];
	int span = WD_SIGRTMAX - WD_SIGRTMIN;
	snprintf(buf, sizeof(buf), "RTMIN+%d", span);
	check_parse(buf, false, WD_SIGRTMAX);
	snprintf(buf, sizeof(buf), "RTMAX-%d", span);
	check_parse(buf, false, WD_SIGRTMIN);
	snprintf(buf, sizeof(buf), "RTMIN+%d", span + 1);
	check_bad(buf, false);
	snprintf(buf, sizeof(buf), "RTMAX-%d", span + 1);
	check_bad(buf, false);
}

static void test_parse_zero(void **state)
{
	check_parse("0", true, 0);
	check_bad("0", false);
	check_bad("", true);
	check_bad("00x", true);
}

static void test_parse_bad(void **state)
{
	static const char *bad[] = {
		"",	      "FOO",	    "SIG",	"sig",	   "SIGFOO",
		"65",	      "-1",	    "RTMIN+99", "RTMAX+1", "RTMIN-1",
		"15x",	      "x15",	    " 15",	"15 ",	   "TERM ",
		" TERM",      "SIGSIGTERM", "TERM+1",	"1.5",	   "999999999999999999999",
		"4294967311", "RTMIN+",	    "RTMAX-",	"RTMIN+x", "RTMIN2",
		"KIL",	      "KILLL",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		check_bad(bad[i], false);
		if (strcmp(bad[i], "0") != 0)
			check_bad(bad[i], true);
	}
	char buf[16];
	snprintf(buf, sizeof(buf), "%d", WD_SIGRTMAX + 1);
	check_bad(buf, false);
}

/* The name fits in WD_SIGNAME_MAX with its NUL and nothing is written after. */
static const char *name_of(int sig, char *buf)
{
	fill_canary(buf, WD_SIGNAME_MAX + CANARY_LEN);
	const char *r = wd_signal_name(sig, buf);
	assert_ptr_equal(r, buf);
	if (!canary_intact(buf + WD_SIGNAME_MAX, CANARY_LEN)) {
		print_error("wd_signal_name(%d) wrote past WD_SIGNAME_MAX\n", sig);
		fail();
	}
	assert_true(memchr(buf, '\0', WD_SIGNAME_MAX) != NULL);
	return buf;
}

static void test_name_known(void **state)
{
	char buf[WD_SIGNAME_MAX + CANARY_LEN];
	assert_string_equal(name_of(SIGTERM, buf), "SIGTERM");
	assert_string_equal(name_of(SIGKILL, buf), "SIGKILL");
	assert_string_equal(name_of(SIGHUP, buf), "SIGHUP");
	assert_string_equal(name_of(SIGINT, buf), "SIGINT");
	assert_string_equal(name_of(SIGSEGV, buf), "SIGSEGV");
	assert_string_equal(name_of(SIGCHLD, buf), "SIGCHLD");
	assert_string_equal(name_of(SIGUSR1, buf), "SIGUSR1");
	assert_string_equal(name_of(WD_SIGRTMIN, buf), "SIGRTMIN");
	assert_string_equal(name_of(WD_SIGRTMIN + 2, buf), "SIGRTMIN+2");
	/* SIGRTMAX may be named from either end */
	name_of(WD_SIGRTMAX, buf);
	char alt[32];
	snprintf(alt, sizeof(alt), "SIGRTMIN+%d", WD_SIGRTMAX - WD_SIGRTMIN);
	if (strcmp(buf, "SIGRTMAX") != 0 && strcmp(buf, alt) != 0) {
		print_error("SIGRTMAX named \"%s\"\n", buf);
		fail();
	}
}

/* Numbers without a name, and numbers that are not signals at all. */
static void test_name_unnamed(void **state)
{
	char buf[WD_SIGNAME_MAX + CANARY_LEN];
	/* glibc keeps 32 and 33 for itself: they have no name */
	if (WD_SIGRTMIN > 33) {
		assert_string_equal(name_of(32, buf), "SIG32");
		assert_string_equal(name_of(33, buf), "SIG33");
	}
	/* out of range: any short name, but never past the buffer */
	name_of(0, buf);
	name_of(-1, buf);
	name_of(WD_SIGRTMAX + 1, buf);
	name_of(INT32_MIN, buf);
	name_of(INT32_MAX, buf);
}

/* Every signal's name is unique, starts with "SIG" and parses back. */
static void test_name_round_trip(void **state)
{
	char buf[WD_SIGNAME_MAX + CANARY_LEN];
	static char names[_NSIG + 1][WD_SIGNAME_MAX];
	for (int sig = 1; sig <= WD_SIGRTMAX; sig++) {
		name_of(sig, buf);
		assert_memory_equal(buf, "SIG", 3);
		memcpy(names[sig], buf, WD_SIGNAME_MAX);
		int back = -1;
		int r = wd_signal_parse(buf, false, &back);
		if (r != 0 || back != sig) {
			print_error("signal %d is named \"%s\", which parses to %d (r=%d)\n", sig,
				    buf, back, r);
			fail();
		}
		/* and without the "SIG" prefix, in lower case */
		char lower[WD_SIGNAME_MAX];
		for (size_t i = 0; i <= strlen(buf + 3); i++)
			lower[i] = (char)tolower((unsigned char)buf[3 + i]);
		back = -1;
		r = wd_signal_parse(lower, false, &back);
		if (r != 0 || back != sig) {
			print_error("\"%s\" (from %d) parses to %d (r=%d)\n", lower, sig, back, r);
			fail();
		}
	}
	for (int a = 1; a <= WD_SIGRTMAX; a++)
		for (int b = a + 1; b <= WD_SIGRTMAX; b++)
			if (strcmp(names[a], names[b]) == 0) {
				print_error("signals %d and %d share the name %s\n", a, b,
					    names[a]);
				fail();
			}
}

static void test_catchable(void **state)
{
	assert_false(wd_signal_catchable(SIGKILL));
	assert_false(wd_signal_catchable(SIGSTOP));
	assert_true(wd_signal_catchable(SIGTERM));
	assert_true(wd_signal_catchable(SIGHUP));
	assert_true(wd_signal_catchable(SIGINT));
	assert_true(wd_signal_catchable(SIGSEGV));
	assert_true(wd_signal_catchable(SIGCHLD));
	assert_true(wd_signal_catchable(SIGCONT));
	assert_true(wd_signal_catchable(SIGTSTP));
	assert_true(wd_signal_catchable(WD_SIGRTMIN));
	assert_true(wd_signal_catchable(WD_SIGRTMAX));
	assert_false(wd_signal_catchable(0));
	assert_false(wd_signal_catchable(-1));
	assert_false(wd_signal_catchable(WD_SIGRTMAX + 1));
	assert_false(wd_signal_catchable(INT32_MAX));
}

/*
 * wd_signal_block_all() and wd_signalfd_open(NULL), in a child process so that
 * the test runner's own mask is not changed.
 */
static void test_block_all_and_signalfd(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t before, old;
		sigemptyset(&before);
		sigaddset(&before, SIGUSR2);
		sigprocmask(SIG_SETMASK, &before, NULL);
		if (wd_signal_block_all(WD_SIGNAL_LIBC_INTERNAL, &old) != 0)
			_exit(10);
		if (sigismember(&old, SIGUSR2) != 1 || sigismember(&old, SIGTERM) != 0)
			_exit(11); /* the old mask was not reported */
		/* the kernel's view: every signal but KILL and STOP, 32 and 33 included */
		char v[64];
		if (proc_status_field(getpid(), "SigBlk", v, sizeof(v)) != 0)
			_exit(12);
		uint64_t want = ~0ull & ~(1ull << (SIGKILL - 1)) & ~(1ull << (SIGSTOP - 1));
		if (strtoull(v, NULL, 16) != want)
			_exit(12); /* a blockable signal was left unblocked */
		if (wd_signal_block_all(WD_SIGNAL_LIBC_INTERNAL, NULL) != 0)
			_exit(13);
		int fd = wd_signalfd_open(NULL);
		if (fd < 0)
			_exit(14);
		int fl = fcntl(fd, F_GETFD), st = fcntl(fd, F_GETFL);
		if (!(fl & FD_CLOEXEC))
			_exit(15);
		if (!(st & O_NONBLOCK))
			_exit(16);
		struct signalfd_siginfo si;
		if (read(fd, &si, sizeof(si)) != -1 || errno != EAGAIN)
			_exit(17); /* nothing pending: must not block nor return data */
		kill(getpid(), SIGTERM);
		kill(getpid(), WD_SIGRTMIN + 1);
		kill(getpid(), SIGHUP);
		int seen = 0;
		for (int i = 0; i < 3; i++) {
			struct pollfd p = {fd, POLLIN, 0};
			if (poll(&p, 1, 2000) != 1)
				_exit(18);
			if (read(fd, &si, sizeof(si)) != sizeof(si))
				_exit(19);
			if (si.ssi_signo == (unsigned)SIGTERM)
				seen |= 1;
			else if (si.ssi_signo == (unsigned)WD_SIGRTMIN + 1)
				seen |= 2;
			else if (si.ssi_signo == (unsigned)SIGHUP)
				seen |= 4;
		}
		_exit(seen == 7 ? 0 : 20);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child check failed: status 0x%x (exit %d; see the _exit codes)\n",
			    status, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		fail();
	}
}

static void record(const struct wd_siginfo *si, void *data)
{
	int *seen = data;

	/* Every one of them was sent by this process to itself, with kill(). */
	if (si->pid != getpid() || si->uid != getuid() || si->code != SI_USER)
		_exit(14);
	seen[seen[0] + 1] = si->signo;
	seen[0]++;
}

/*
 * wd_signalfd_dispatch() hands over every queued signal, more than one
 * read's worth (real-time signals queue), then returns on an empty queue.
 */
static void test_signalfd_dispatch(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int seen[64] = {0}, fd, i, n;

		if (wd_signal_block_all(WD_SIGNAL_LIBC_INTERNAL, NULL) != 0 ||
		    (fd = wd_signalfd_open(NULL)) < 0)
			_exit(10);
		if (wd_signalfd_dispatch(fd, record, seen) != 0 || seen[0] != 0)
			_exit(11); /* nothing queued: nothing called */
		for (i = 0; i < 20; i++)
			kill(getpid(), WD_SIGRTMIN + 2);
		kill(getpid(), SIGUSR1);
		n = wd_signalfd_dispatch(fd, record, seen);
		if (n != 21 || seen[0] != 21)
			_exit(12); /* 20 queued real-time signals and one standard one */
		for (i = 1; i <= 21; i++)
			if (seen[i] != SIGUSR1 && seen[i] != WD_SIGRTMIN + 2)
				_exit(13);
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child check failed: status 0x%x\n", status);
		fail();
	}
}

/* The kernel's view of the calling thread's blocked signals (/proc/TID/status). */
static uint64_t blocked_now(void)
{
	char v[64];

	if (proc_status_field((pid_t)syscall(SYS_gettid), "SigBlk", v, sizeof(v)) != 0)
		return 0;
	return strtoull(v, NULL, 16);
}

#define BIT(sig) (1ull << ((sig)-1))

/* wd_signal_str() names every signal as wd_signal_name() does. */
static void test_str(void **state)
{
	char buf[WD_SIGNAME_MAX];

	for (int sig = 1; sig <= WD_SIGRTMAX; sig++)
		assert_string_equal(wd_signal_str(sig), wd_signal_name(sig, buf));
	assert_null(wd_signal_str(0));
	assert_null(wd_signal_str(WD_SIGRTMAX + 1));
	assert_null(wd_signal_str(-1));
}

static void test_libc_internal(void **state)
{
	assert_false(wd_signal_libc_internal(31));
	assert_true(wd_signal_libc_internal(32));
	assert_true(wd_signal_libc_internal(33));
	assert_false(wd_signal_libc_internal(SIGRTMIN));
	assert_false(wd_signal_libc_internal(SIGTERM));
	assert_false(wd_signal_libc_internal(0));
	assert_false(wd_signal_libc_internal(WD_SIGRTMAX));
}

static void test_fill(void **state)
{
	sigset_t set;

	assert_int_equal(wd_signal_fill(0, &set), 0);
	for (int sig = 1; sig <= WD_SIGRTMAX; sig++)
		assert_int_equal(sigismember(&set, sig), !wd_signal_libc_internal(sig));
	assert_int_equal(wd_signal_fill(WD_SIGNAL_LIBC_INTERNAL, &set), 0);
	for (int sig = 1; sig <= WD_SIGRTMAX; sig++)
		assert_int_equal(sigismember(&set, sig), 1);
	sigemptyset(&set);
	assert_int_equal(wd_signal_fill(0x100, &set), -EINVAL);
	assert_int_equal(sigismember(&set, SIGTERM), 0); /* untouched */
}

/*
 * Without WD_SIGNAL_LIBC_INTERNAL, 32 and 33 are left as they were: a
 * threaded program's setuid() goes on working. Then with it, as warden asks.
 */
static void test_block_all_leaves_libc(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t empty;
		uint64_t all = ~0ull & ~BIT(SIGKILL) & ~BIT(SIGSTOP);

		sigemptyset(&empty);
		if (wd_signal_set_mask(&empty) != 0)
			_exit(10);
		if (wd_signal_block_all(0, NULL) != 0)
			_exit(11);
		if (blocked_now() != (all & ~BIT(32) & ~BIT(33) & ~(SIGRTMIN > 34 ? BIT(34) : 0)))
			_exit(12);
		if (wd_signal_block_all(WD_SIGNAL_LIBC_INTERNAL, NULL) != 0 || blocked_now() != all)
			_exit(13);
		/* Already blocked, they stay blocked: "left alone" either way. */
		if (wd_signal_block_all(0, NULL) != 0 || blocked_now() != all)
			_exit(14);
		if (wd_signal_block_all(2, NULL) != -EINVAL)
			_exit(15);
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void *thread_mask(void *arg)
{
	*(uint64_t *)arg = blocked_now();
	return NULL;
}

/*
 * wd_signal_block() adds exactly the given set, reports the old mask, and a
 * thread created afterwards inherits it; a signalfd for that set reads the
 * signal even though it was sent to the process while a thread ran.
 */
static void test_block_set_threads(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t set, old, empty;
		struct signalfd_siginfo si;
		pthread_t t;
		uint64_t in_thread = 0;
		int fd;

		sigemptyset(&empty);
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		wd_signal_set_mask(&set);
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		if (wd_signal_block(&set, &old) != 0)
			_exit(10);
		if (sigismember(&old, SIGUSR1) != 1 || sigismember(&old, SIGTERM) != 0)
			_exit(11);
		if (blocked_now() != (BIT(SIGUSR1) | BIT(SIGTERM) | BIT(SIGINT)))
			_exit(12);
		if (pthread_create(&t, NULL, thread_mask, &in_thread) != 0 ||
		    pthread_join(t, NULL) != 0)
			_exit(13);
		if (in_thread != (BIT(SIGUSR1) | BIT(SIGTERM) | BIT(SIGINT)))
			_exit(14);
		fd = wd_signalfd_open(&set);
		if (fd < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC) ||
		    !(fcntl(fd, F_GETFL) & O_NONBLOCK))
			_exit(15);
		kill(getpid(), SIGUSR1); /* blocked, but not in the fd's set */
		kill(getpid(), SIGINT);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 5000) != 1 || read(fd, &si, sizeof(si)) != sizeof(si))
			_exit(16);
		if (si.ssi_signo != SIGINT || (pid_t)si.ssi_pid != getpid())
			_exit(17); /* raised on itself: its own pid as the sender */
		if (read(fd, &si, sizeof(si)) != -1 || errno != EAGAIN)
			_exit(18); /* SIGUSR1 is not this fd's */
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child check failed: status 0x%x\n", status);
		fail();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_names),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_realtime),
		cmocka_unit_test(test_parse_zero),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_name_known),
		cmocka_unit_test(test_name_unnamed),
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_catchable),
		cmocka_unit_test(test_block_all_and_signalfd),
		cmocka_unit_test(test_signalfd_dispatch),
		cmocka_unit_test(test_str),
		cmocka_unit_test(test_libc_internal),
		cmocka_unit_test(test_fill),
		cmocka_unit_test(test_block_all_leaves_libc),
		cmocka_unit_test(test_block_set_threads),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
