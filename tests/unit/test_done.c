/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <pthread.h>
#include <stdatomic.h>
#include <warden/done.h>
#include <warden/loop.h>
#include <warden/signals.h>

/* True when fd polls readable right now. */
static int readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_open_state(void **state)
{
	wd_done *d;

	assert_int_equal(wd_done_new(&d), 0);
	assert_false(wd_done_is_closed(d));
	assert_false(wd_done_is_escalated(d));
	assert_int_equal(wd_done_code(d), 0);
	assert_null(wd_done_reason(d));
	assert_int_equal(wd_done_signal_fd(d), -1);
	assert_int_equal(wd_done_signal_count(d), 0);
	assert_int_equal(wd_done_last_signal(d), 0);
	assert_int_equal(wd_done_read_signals(d), -EBADF);
	assert_true(fcntl(wd_done_fd(d), F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(wd_done_escalated_fd(d), F_GETFD) & FD_CLOEXEC);
	assert_false(readable(wd_done_fd(d)));
	assert_int_equal(wd_done_wait(d, 0), -ETIMEDOUT);
	uint64_t t0 = mono_ns();
	assert_int_equal(wd_done_wait(d, 50), -ETIMEDOUT);
	assert_true(mono_ns() - t0 >= 50000000u);
	wd_done_free(d);
	wd_done_free(NULL);
}

static void test_close_once(void **state)
{
	wd_done *d;

	assert_int_equal(wd_done_new(&d), 0);
	assert_true(wd_done_close(d, 3, "first"));
	assert_false(wd_done_close(d, 4, "second"));
	assert_true(wd_done_is_closed(d));
	assert_false(wd_done_is_escalated(d));
	assert_int_equal(wd_done_code(d), 3);
	assert_string_equal(wd_done_reason(d), "first");
	/* Readable, and it stays so however often it is polled. */
	for (int i = 0; i < 10; i++)
		assert_true(readable(wd_done_fd(d)));
	assert_int_equal(wd_done_wait(d, 0), 0);
	assert_int_equal(wd_done_wait(d, -1), 0);
	assert_false(readable(wd_done_escalated_fd(d)));
	wd_done_free(d);
}

static void test_escalate(void **state)
{
	wd_done *d;

	/* Escalating an open notifier closes it with that code and reason. */
	assert_int_equal(wd_done_new(&d), 0);
	assert_true(wd_done_escalate(d, 9, "now"));
	assert_false(wd_done_escalate(d, 10, "again"));
	assert_true(wd_done_is_closed(d));
	assert_true(wd_done_is_escalated(d));
	assert_int_equal(wd_done_code(d), 9);
	assert_string_equal(wd_done_reason(d), "now");
	assert_true(readable(wd_done_fd(d)));
	assert_true(readable(wd_done_escalated_fd(d)));
	wd_done_free(d);

	/* A closed one keeps its code and reason. */
	assert_int_equal(wd_done_new(&d), 0);
	assert_true(wd_done_close(d, 0, NULL));
	assert_true(wd_done_escalate(d, 1, "later"));
	assert_int_equal(wd_done_code(d), 0);
	assert_null(wd_done_reason(d));
	wd_done_free(d);
}

#define WAITERS 32

struct waiter {
	wd_done *d;
	atomic_int *ready;
	int idx;
	int saw_code;
	int ok;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	struct pollfd p = {wd_done_fd(w->d), POLLIN, 0};

	atomic_fetch_add(w->ready, 1);
	/* Half poll the fd themselves, half use the blocking wait. */
	if (w->idx % 2)
		w->ok = poll(&p, 1, 30000) == 1 && wd_done_is_closed(w->d);
	else
		w->ok = wd_done_wait(w->d, 30000) == 0;
	w->saw_code = wd_done_code(w->d);
	return NULL;
}

/* 32 threads wait on one notifier; one close wakes every one of them. */
static void test_many_waiters(void **state)
{
	struct waiter w[WAITERS];
	pthread_t t[WAITERS];
	atomic_int ready = 0;
	wd_done *d;

	assert_int_equal(wd_done_new(&d), 0);
	for (int i = 0; i < WAITERS; i++) {
		w[i] = (struct waiter){.d = d, .ready = &ready, .idx = i};
		assert_int_equal(pthread_create(&t[i], NULL, waiter_thread, &w[i]), 0);
	}
	for (int i = 0; i < 10000 && atomic_load(&ready) < WAITERS; i++)
		sleep_ms(1);
	assert_int_equal(atomic_load(&ready), WAITERS);
	assert_true(wd_done_close(d, 42, "test"));
	for (int i = 0; i < WAITERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(w[i].ok);
		assert_int_equal(w[i].saw_code, 42);
	}
	wd_done_free(d);
}

struct racer {
	wd_done *d;
	pthread_barrier_t *go;
	int code;
	bool won;
};

static void *racer_thread(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->won = wd_done_close(r->d, r->code, r->code == 1 ? "one" : "two");
	return NULL;
}

/* Two threads close at once, many times over: exactly one wins each time. */
static void test_close_race(void **state)
{
	for (int round = 0; round < 200; round++) {
		pthread_barrier_t go;
		struct racer r[2];
		pthread_t t[2];
		wd_done *d;

		assert_int_equal(wd_done_new(&d), 0);
		pthread_barrier_init(&go, NULL, 2);
		for (int i = 0; i < 2; i++) {
			r[i] = (struct racer){.d = d, .go = &go, .code = i + 1};
			assert_int_equal(pthread_create(&t[i], NULL, racer_thread, &r[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_true(r[0].won != r[1].won);
		int winner = r[0].won ? 1 : 2;
		assert_int_equal(wd_done_code(d), winner);
		assert_string_equal(wd_done_reason(d), winner == 1 ? "one" : "two");
		pthread_barrier_destroy(&go);
		wd_done_free(d);
	}
}

static wd_done *handler_done;

static void on_usr1(int sig)
{
	(void)wd_done_close(handler_done, 128 + sig, "SIGUSR1 handler");
	(void)wd_done_close(handler_done, 1, "again"); /* idempotent in a handler too */
}

struct sleeper {
	wd_done *d;
	atomic_int in_wait; /* its tid, once it is about to wait */
	int r;
};

static void *sleeper_thread(void *arg)
{
	struct sleeper *s = arg;

	atomic_store(&s->in_wait, (int)syscall(SYS_gettid));
	s->r = wd_done_wait(s->d, 30000);
	return NULL;
}

/*
 * A signal handler closes the notifier, interrupting a thread blocked in
 * wd_done_wait() (poll() ends with EINTR: the wait must still see it).
 */
static void test_close_from_handler(void **state)
{
	struct sigaction sa = {.sa_handler = on_usr1}, old;
	struct sleeper s = {.r = 1};
	pthread_t t;

	assert_int_equal(wd_done_new(&handler_done), 0);
	s.d = handler_done;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pthread_create(&t, NULL, sleeper_thread, &s), 0);
	for (int i = 0; i < 10000 && !atomic_load(&s.in_wait); i++)
		sleep_ms(1);
	/*
	 * Blocked in poll() itself, so that the handler interrupts the wait:
	 * under TSan a signal that comes earlier is held until poll() returns.
	 */
	static const long polls[] = {
#ifdef SYS_poll
		SYS_poll,
#endif
		SYS_ppoll,
	};
	assert_true(
		wait_in_syscall((pid_t)atomic_load(&s.in_wait), polls, ARRAY_SIZE(polls), 10000));
	assert_int_equal(pthread_kill(t, SIGUSR1), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.r, 0);
	assert_int_equal(wd_done_code(handler_done), 128 + SIGUSR1);
	assert_string_equal(wd_done_reason(handler_done), "SIGUSR1 handler");
	/* And from a handler in this very thread. */
	wd_done_free(handler_done);
	assert_int_equal(wd_done_new(&handler_done), 0);
	errno = 0;
	raise(SIGUSR1);
	assert_int_equal(errno, 0); /* the eventfd write kept errno */
	assert_true(wd_done_is_closed(handler_done));
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
	wd_done_free(handler_done);
	handler_done = NULL;
}

static void quit_on_done(wd_io *io, uint32_t revents)
{
	wd_loop_quit(io->data);
}

/*
 * The signal watcher on a loop: the first SIGTERM closes with 128 + 15 and
 * "SIGTERM", a second signal escalates and is counted. In a child: the
 * test runner's own mask stays as it is.
 */
static void test_watch_signals(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t set;
		wd_loop *loop;
		wd_done *d;
		wd_io quit = {0};

		if (wd_loop_new(&loop) != 0 || wd_done_new(&d) != 0)
			_exit(10);
		/* Not blocked yet: refused, since it would end the program instead. */
		if (wd_done_watch_signals(d, loop, NULL, WD_DONE_CODE_SIGNAL) != -EINVAL)
			_exit(11);
		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
		if (wd_signal_block(&set, NULL) != 0)
			_exit(12);
		sigemptyset(&set);
		if (wd_done_watch_signals(d, loop, &set, 0) != -EINVAL)
			_exit(13); /* an empty set */
		if (wd_done_watch_signals(d, loop, NULL, WD_DONE_CODE_SIGNAL) != 0)
			_exit(14);
		if (wd_done_watch_signals(d, loop, NULL, 0) != -EBUSY)
			_exit(15);
		if (wd_done_signal_fd(d) < 0 ||
		    !(fcntl(wd_done_signal_fd(d), F_GETFD) & FD_CLOEXEC))
			_exit(16);
		quit.fd = wd_done_fd(d);
		quit.events = EPOLLIN;
		quit.cb = quit_on_done;
		quit.data = loop;
		if (wd_io_start(loop, &quit) != 0)
			_exit(17);
		kill(getpid(), SIGTERM);
		if (wd_loop_run(loop) != 0)
			_exit(18);
		if (!wd_done_is_closed(d) || wd_done_code(d) != 128 + SIGTERM ||
		    strcmp(wd_done_reason(d), "SIGTERM") != 0)
			_exit(19);
		if (wd_done_signal_count(d) != 1 || wd_done_last_signal(d) != SIGTERM ||
		    wd_done_is_escalated(d))
			_exit(20);
		kill(getpid(), SIGINT);
		if (wd_done_read_signals(d) != 1 || wd_done_signal_count(d) != 2 ||
		    !wd_done_is_escalated(d) || wd_done_last_signal(d) != SIGINT)
			_exit(21);
		if (wd_done_code(d) != 128 + SIGTERM)
			_exit(22); /* the first close's code stays */
		wd_io_stop(&quit);
		wd_done_free(d); /* stops its watcher: before the loop goes */
		wd_loop_free(loop);
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child check failed: status 0x%x\n", status);
		fail();
	}
}

/*
 * Without a loop, and a notifier closed otherwise first: the first signal
 * only counts, the second escalates with the fixed code.
 */
static void test_watch_no_loop(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t set;
		wd_done *d;

		sigemptyset(&set);
		sigaddset(&set, SIGHUP);
		if (wd_signal_block(&set, NULL) != 0 || wd_done_new(&d) != 0)
			_exit(10);
		if (wd_done_watch_signals(d, NULL, &set, 7) != 0)
			_exit(11);
		wd_done_close(d, 2, "fatal error");
		kill(getpid(), SIGHUP);
		if (wd_done_read_signals(d) != 1 || wd_done_is_escalated(d) ||
		    wd_done_code(d) != 2 || strcmp(wd_done_reason(d), "fatal error") != 0)
			_exit(12);
		kill(getpid(), SIGHUP);
		if (wd_done_read_signals(d) != 1 || !wd_done_is_escalated(d))
			_exit(13);
		if (wd_done_read_signals(d) != 0)
			_exit(14); /* nothing queued */
		wd_done_free(d);
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
		cmocka_unit_test(test_open_state),    cmocka_unit_test(test_close_once),
		cmocka_unit_test(test_escalate),      cmocka_unit_test(test_watch_signals),
		cmocka_unit_test(test_watch_no_loop), cmocka_unit_test(test_many_waiters),
		cmocka_unit_test(test_close_race),    cmocka_unit_test(test_close_from_handler),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
