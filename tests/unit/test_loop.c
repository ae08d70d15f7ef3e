/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the event loop (warden/loop.h): I/O watchers, timers in
 * deadline order, stopping from callbacks, quitting, and never spinning.
 */

#include "unit.h"

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>

#include <warden/loop.h>

#define MSEC 1000000ull

static wd_loop *loop;

/* Every test has a guard timer: a broken loop fails instead of hanging. */
static wd_timer guard;
static int guard_fired;

static void guard_cb(wd_timer *t)
{
	guard_fired = 1;
	wd_loop_quit(loop);
}

static int setup(void **state)
{
	loop = NULL;
	if (wd_loop_new(&loop) != 0 || !loop)
		return -1;
	guard_fired = 0;
	memset(&guard, 0, sizeof(guard));
	guard.cb = guard_cb;
	return wd_timer_start(loop, &guard, wd_now() + 3000 * MSEC);
}

static int teardown(void **state)
{
	wd_timer_stop(&guard);
	wd_loop_free(loop);
	loop = NULL;
	return 0;
}

static void run(void)
{
	assert_int_equal(wd_loop_run(loop), 0);
	if (guard_fired)
		fail_msg("the loop did not quit by itself within 3 s");
}

/* A timer that quits the loop at now + ms. */
static wd_timer quitter;
static void quit_cb(wd_timer *t)
{
	wd_loop_quit(loop);
}
static void quit_in(uint64_t ms)
{
	memset(&quitter, 0, sizeof(quitter));
	quitter.cb = quit_cb;
	assert_int_equal(wd_timer_start(loop, &quitter, wd_now() + ms * MSEC), 0);
}

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static void drain(int fd)
{
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* ---- basics ---- */

static void test_now(void **state)
{
	uint64_t a = mono_ns(), n = wd_now(), b = mono_ns();
	assert_true(n >= a && n <= b);
	uint64_t n2 = wd_now();
	assert_true(n2 >= n);
	wd_loop_free(NULL);
}

struct io_rec {
	int count;
	uint32_t revents;
	int quit;
};

static void io_cb(wd_io *io, uint32_t revents)
{
	struct io_rec *r = io->data;
	r->count++;
	r->revents |= revents;
	drain(io->fd);
	if (r->quit)
		wd_loop_quit(loop);
}

static void test_io_fires(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {.quit = 1};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	run();
	assert_int_equal(rec.count, 1);
	assert_true(rec.revents & EPOLLIN);
	wd_io_stop(&io);
	wd_io_stop(&io); /* twice is fine */
	close(p[0]);
	close(p[1]);
}

/* A watcher that was never started can be stopped. */
static void test_io_stop_unstarted(void **state)
{
	wd_io io;
	memset(&io, 0, sizeof(io));
	io.fd = -1;
	wd_io_stop(&io);
}

static void test_io_hangup(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {.quit = 1};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	close(p[1]);
	run();
	assert_int_equal(rec.count, 1);
	assert_true(rec.revents & EPOLLHUP);
	wd_io_stop(&io);
	close(p[0]);
}

/* Data written later, from a timer, wakes the watcher. */
static int writer_fd;
static void write_cb(wd_timer *t)
{
	assert_int_equal(write(writer_fd, "y", 1), 1);
}

static void test_io_fires_later(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {.quit = 1};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	writer_fd = p[1];
	wd_timer t = {.cb = write_cb};
	uint64_t start = wd_now();
	assert_int_equal(wd_timer_start(loop, &t, start + 20 * MSEC), 0);
	run();
	assert_int_equal(rec.count, 1);
	assert_true(wd_now() >= start + 20 * MSEC);
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

/*
 * Two watchers ready in the same epoll batch; whichever runs first stops
 * the other, which must then not run, not even from the batch already read.
 */
struct pair {
	wd_io io[2];
	int count[2];
	int stray;
};

static void stray_cb(wd_io *io, uint32_t revents)
{
	struct pair *p = io->data;
	p->stray++;
}

static void pair_cb(wd_io *io, uint32_t revents)
{
	struct pair *p = io->data;
	int me = io == &p->io[0] ? 0 : 1;
	p->count[me]++;
	drain(io->fd);
	wd_io_stop(&p->io[!me]);
	p->io[!me].cb = stray_cb; /* the caller may reuse a stopped watcher */
}

static void test_io_stop_other_in_batch(void **state)
{
	int a[2], b[2];
	make_pipe(a);
	make_pipe(b);
	struct pair p;
	memset(&p, 0, sizeof(p));
	p.io[0] = (wd_io){.fd = a[0], .events = EPOLLIN, .cb = pair_cb, .data = &p};
	p.io[1] = (wd_io){.fd = b[0], .events = EPOLLIN, .cb = pair_cb, .data = &p};
	assert_int_equal(wd_io_start(loop, &p.io[0]), 0);
	assert_int_equal(wd_io_start(loop, &p.io[1]), 0);
	/* both readable before the loop waits: one batch holds both */
	assert_int_equal(write(a[1], "a", 1), 1);
	assert_int_equal(write(b[1], "b", 1), 1);
	quit_in(50);
	run();
	assert_int_equal(p.count[0] + p.count[1], 1);
	assert_int_equal(p.stray, 0);
	wd_io_stop(&p.io[0]);
	wd_io_stop(&p.io[1]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

/* Stopping a watcher from its own callback: it does not run again. */
static void stop_self_cb(wd_io *io, uint32_t revents)
{
	struct io_rec *r = io->data;
	r->count++;
	wd_io_stop(io); /* the pipe stays readable: level-triggered would re-fire */
}

static void test_io_stop_self(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {0};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = stop_self_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	quit_in(50);
	run();
	assert_int_equal(rec.count, 1);

	/* and it can be started again */
	rec.count = 0;
	io.cb = io_cb;
	rec.quit = 1;
	assert_int_equal(wd_io_start(loop, &io), 0);
	run();
	assert_int_equal(rec.count, 1);
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

/* EPOLLOUT fires on a pipe's write end; after modify to EPOLLIN it stops. */
static void modify_cb(wd_io *io, uint32_t revents)
{
	struct io_rec *r = io->data;
	r->count++;
	r->revents |= revents;
	assert_int_equal(wd_io_modify(io, EPOLLIN), 0);
}

static void test_io_modify(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {0};
	wd_io io = {.fd = p[1], .events = EPOLLOUT, .cb = modify_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	quit_in(50);
	run();
	assert_int_equal(rec.count, 1);
	assert_true(rec.revents & EPOLLOUT);
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

static void test_io_start_bad_fd(void **state)
{
	wd_io io = {.fd = 987, .events = EPOLLIN, .cb = io_cb};
	assert_true(fcntl(987, F_GETFD) < 0);
	assert_int_equal(wd_io_start(loop, &io), -EBADF);
}

/* ---- timers ---- */

struct trec {
	int order[16];
	int n;
	uint64_t late[16]; /* now - deadline at the callback */
	int early;	   /* a callback ran before its deadline */
	int quit_after;
};

struct tt {
	wd_timer t;
	int id;
	struct trec *rec;
};

static void tt_cb(wd_timer *t)
{
	struct tt *x = (struct tt *)t; /* t is the first member */
	struct trec *r = x->rec;
	uint64_t now = wd_now();
	if (now < t->deadline)
		r->early++;
	if (r->n < 16) {
		r->late[r->n] = now - t->deadline;
		r->order[r->n++] = x->id;
	}
	if (r->n == r->quit_after)
		wd_loop_quit(loop);
}

static void tt_init(struct tt *x, int id, struct trec *rec)
{
	memset(x, 0, sizeof(*x));
	x->t.cb = tt_cb;
	x->id = id;
	x->rec = rec;
}

static void test_timers_deadline_order(void **state)
{
	struct trec rec = {.quit_after = 5};
	struct tt t[5];
	const int ms[5] = {30, 10, 20, 50, 40};
	uint64_t base = wd_now();
	for (int i = 0; i < 5; i++) {
		tt_init(&t[i], i, &rec);
		assert_int_equal(wd_timer_start(loop, &t[i].t, base + ms[i] * MSEC), 0);
	}
	run();
	assert_int_equal(rec.n, 5);
	const int expect[5] = {1, 2, 0, 4, 3};
	for (int i = 0; i < 5; i++)
		assert_int_equal(rec.order[i], expect[i]);
	assert_int_equal(rec.early, 0);
	for (int i = 0; i < 5; i++)
		assert_true(rec.late[i] < 500 * MSEC);
}

/* Timers with the same deadline all fire, once each. */
static void test_timers_same_deadline(void **state)
{
	struct trec rec = {.quit_after = 0};
	struct tt t[3];
	uint64_t d = wd_now() + 10 * MSEC;
	for (int i = 0; i < 3; i++) {
		tt_init(&t[i], i, &rec);
		assert_int_equal(wd_timer_start(loop, &t[i].t, d), 0);
	}
	quit_in(60);
	run();
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.order[0] + rec.order[1] + rec.order[2], 0 + 1 + 2);
	assert_true(rec.order[0] != rec.order[1] && rec.order[1] != rec.order[2] &&
		    rec.order[0] != rec.order[2]);
}

static void test_timer_past_deadline(void **state)
{
	struct trec rec = {.quit_after = 1};
	struct tt t;
	tt_init(&t, 7, &rec);
	uint64_t start = wd_now();
	assert_int_equal(wd_timer_start(loop, &t.t, start > 1 ? start - 1 : 0), 0);
	run();
	assert_int_equal(rec.n, 1);
	assert_true(wd_now() - start < 500 * MSEC);
	t.t.deadline = 0;
	assert_int_equal(wd_timer_start(loop, &t.t, 0), 0); /* deadline 0: already due */
	rec.quit_after = 2;
	run();
	assert_int_equal(rec.n, 2);
}

/* Re-arming moves the deadline, later or earlier; the timer fires once. */
static void test_timer_rearm(void **state)
{
	struct trec rec = {.quit_after = 0};
	struct tt later, earlier;
	tt_init(&later, 1, &rec);
	tt_init(&earlier, 2, &rec);
	uint64_t base = wd_now();
	assert_int_equal(wd_timer_start(loop, &later.t, base + 10 * MSEC), 0);
	assert_int_equal(wd_timer_start(loop, &later.t, base + 60 * MSEC), 0);
	assert_int_equal(wd_timer_start(loop, &earlier.t, base + 2000 * MSEC), 0);
	assert_int_equal(wd_timer_start(loop, &earlier.t, base + 20 * MSEC), 0);
	assert_int_equal(wd_timer_start(loop, &earlier.t, base + 20 * MSEC), 0); /* same again */
	quit_in(150);
	run();
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.order[0], 2);
	assert_int_equal(rec.order[1], 1);
	assert_int_equal(rec.early, 0);
	/* the 20 ms one did not wait for the original 2 s deadline */
	assert_true(wd_now() - base < 1000 * MSEC);
}

static void test_timer_stop(void **state)
{
	struct trec rec = {.quit_after = 0};
	struct tt a, b;
	tt_init(&a, 1, &rec);
	tt_init(&b, 2, &rec);
	wd_timer_stop(&a.t); /* never armed: fine */
	uint64_t base = wd_now();
	assert_int_equal(wd_timer_start(loop, &a.t, base + 10 * MSEC), 0);
	assert_int_equal(wd_timer_start(loop, &b.t, base + 20 * MSEC), 0);
	wd_timer_stop(&a.t);
	wd_timer_stop(&a.t); /* twice: fine */
	quit_in(60);
	run();
	assert_int_equal(rec.n, 1);
	assert_int_equal(rec.order[0], 2);
}

/* A callback stops another timer that is due in the same pass. */
struct stopper {
	wd_timer t;
	wd_timer *victims[2];
	int fired;
};

static void stopper_cb(wd_timer *t)
{
	struct stopper *s = (struct stopper *)t;
	s->fired++;
	for (int i = 0; i < 2; i++)
		if (s->victims[i])
			wd_timer_stop(s->victims[i]);
}

static void test_timer_stop_from_callback(void **state)
{
	struct stopper a, b;
	struct trec rec = {.quit_after = 0};
	struct tt later;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	tt_init(&later, 9, &rec);
	a.t.cb = b.t.cb = stopper_cb;
	a.victims[0] = &b.t;
	b.victims[0] = &a.t;
	a.victims[1] = b.victims[1] = &later.t;
	uint64_t d = wd_now() + 10 * MSEC;
	/* a and b are due together: the first to run stops the other */
	assert_int_equal(wd_timer_start(loop, &a.t, d), 0);
	assert_int_equal(wd_timer_start(loop, &b.t, d), 0);
	assert_int_equal(wd_timer_start(loop, &later.t, d + 20 * MSEC), 0);
	quit_in(80);
	run();
	assert_int_equal(a.fired + b.fired, 1);
	assert_int_equal(rec.n, 0);
}

/* A timer whose callback re-arms it. */
struct rearm {
	wd_timer t;
	int count;
	uint64_t last;
};

static void rearm_cb(wd_timer *t)
{
	struct rearm *r = (struct rearm *)t;
	r->count++;
	r->last = wd_now();
	if (r->count < 5)
		assert_int_equal(wd_timer_start(loop, t, r->last + 5 * MSEC), 0);
	else
		wd_loop_quit(loop);
}

static void test_timer_rearm_from_callback(void **state)
{
	struct rearm r;
	memset(&r, 0, sizeof(r));
	r.t.cb = rearm_cb;
	uint64_t start = wd_now();
	assert_int_equal(wd_timer_start(loop, &r.t, start + 5 * MSEC), 0);
	run();
	assert_int_equal(r.count, 5);
	assert_true(r.last - start >= 25 * MSEC);
}

/* ---- quitting ---- */

static void test_quit_from_io_and_run_again(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {.quit = 1};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(write(p[1], "x", 1), 1);
		run();
		assert_int_equal(rec.count, i);
	}
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

/* ---- never spinning ---- */

static long cpu_us(const struct rusage *ru)
{
	return ru->ru_utime.tv_sec * 1000000L + ru->ru_utime.tv_usec +
	       ru->ru_stime.tv_sec * 1000000L + ru->ru_stime.tv_usec;
}

/*
 * 300 ms with an idle watcher and a timer 10 s away: the loop sleeps until
 * the quit timer, waking a handful of times at most and using little CPU.
 */
static void test_no_spin_with_far_timer(void **state)
{
	int p[2];
	make_pipe(p);
	struct io_rec rec = {0};
	wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
	assert_int_equal(wd_io_start(loop, &io), 0);
	struct trec trec = {.quit_after = 0};
	struct tt far;
	tt_init(&far, 1, &trec);
	assert_int_equal(wd_timer_start(loop, &far.t, wd_now() + 10000 * MSEC), 0);

	struct rusage a, b;
	getrusage(RUSAGE_SELF, &a);
	uint64_t start = wd_now();
	quit_in(300);
	run();
	uint64_t took = wd_now() - start;
	getrusage(RUSAGE_SELF, &b);
	long wakeups = b.ru_nvcsw - a.ru_nvcsw;
	long cpu = cpu_us(&b) - cpu_us(&a);
	if (wakeups > 10 || cpu > 50000 || took < 300 * MSEC || took > 1500 * MSEC) {
		print_error("300 ms idle: %ld context switches, %ld us CPU, %llu ms elapsed\n",
			    wakeups, cpu, (unsigned long long)(took / MSEC));
		fail();
	}
	assert_int_equal(rec.count, 0);
	assert_int_equal(trec.n, 0);
	wd_timer_stop(&far.t);
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

/*
 * With no timer at all, the loop blocks forever: run it in a child, then
 * watch the child from outside for 300 ms.
 */
static void test_no_spin_without_timers(void **state)
{
	int p[2], ready[2];
	make_pipe(p);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	wd_timer_stop(&guard);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct io_rec rec = {0};
		wd_io io = {.fd = p[0], .events = EPOLLIN, .cb = io_cb, .data = &rec};
		if (wd_io_start(loop, &io) != 0)
			_exit(1);
		close(ready[1]); /* tells the parent the loop is about to wait */
		wd_loop_run(loop);
		_exit(2);
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 0);
	close(ready[0]);
	/* counting starts once the loop waits; until then it may still block elsewhere */
	static const long waits[] = {
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
		SYS_epoll_pwait,
#ifdef SYS_epoll_pwait2
		SYS_epoll_pwait2,
#endif
	};
	if (!wait_in_syscall(pid, waits, ARRAY_SIZE(waits), 10000)) {
		kill(pid, SIGKILL);
		wait_child(pid, 5000);
		close(p[0]);
		close(p[1]);
		fail_msg("the loop did not reach epoll_wait within 10 s");
	}
	char v[64];
	assert_int_equal(proc_status_field(pid, "voluntary_ctxt_switches", v, sizeof(v)), 0);
	long before = atol(v);
	sleep_ms(300);
	assert_int_equal(proc_status_field(pid, "voluntary_ctxt_switches", v, sizeof(v)), 0);
	long after = atol(v);
	char st = proc_state(pid);
	kill(pid, SIGKILL);
	int status = wait_child(pid, 5000);
	assert_true(WIFSIGNALED(status));
	close(p[0]);
	close(p[1]);
	if (after - before > 2 || st != 'S') {
		print_error("an idle loop woke %ld times in 300 ms (state %c)\n", after - before,
			    st);
		fail();
	}
}

/*
 * Without a timerfd (no descriptor left for it), a timer fires all the
 * same, on time: the loop waits with epoll_wait()'s own timeout instead.
 * In a child, whose descriptor limit leaves room for the epoll fd only.
 */
static wd_loop *bare;
static void bare_quit(wd_timer *t)
{
	*(int *)t->data = 1;
	wd_loop_quit(bare);
}

static void test_timer_fires_without_timerfd(void **state)
{
	wd_timer_stop(&guard);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {4, 4};
		wd_timer t;
		int fired = 0;

		/* 0, 1, 2 and the epoll fd: nothing more fits. */
		if (syscall(SYS_close_range, 3U, ~0U, 0) < 0 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(10);
		if (wd_loop_new(&bare) != 0)
			_exit(11);
		if (timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC) >= 0)
			_exit(12); /* the test's premise: no room for a timerfd */
		memset(&t, 0, sizeof(t));
		t.cb = bare_quit;
		t.data = &fired;
		uint64_t start = wd_now();
		if (wd_timer_start(bare, &t, start + 50 * MSEC) != 0)
			_exit(13);
		if (wd_loop_run(bare) != 0)
			_exit(14);
		uint64_t took = wd_now() - start;
		if (!fired)
			_exit(15);
		if (took < 50 * MSEC)
			_exit(16); /* fired early */
		if (took > 5000 * MSEC)
			_exit(17);
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child failed: status 0x%x (see the _exit codes)\n", status);
		fail();
	}
}

/* ---- embedding: a foreign poll() loop drives this one ---- */

static void test_init_zeroes(void **state)
{
	wd_io io;
	wd_timer t;
	int r;
	static const void *const zero[4];

	memset(&io, 0xA5, sizeof(io));
	memset(&t, 0xA5, sizeof(t));
	wd_io_init(&io, 7, EPOLLIN, io_cb, &r);
	assert_int_equal(io.fd, 7);
	assert_int_equal(io.events, EPOLLIN);
	assert_ptr_equal(io.cb, io_cb);
	assert_ptr_equal(io.data, &r);
	assert_null(io.loop);
	assert_memory_equal(io.reserved, zero, sizeof(zero));
	wd_timer_init(&t, quit_cb, &r);
	assert_ptr_equal(t.cb, quit_cb);
	assert_ptr_equal(t.data, &r);
	assert_false(t.armed);
	assert_memory_equal(t.reserved, zero, sizeof(zero));
	/* A stopped-by-init timer can be stopped again and started. */
	wd_timer_stop(&t);
}

static void test_run_once_io_from_poll(void **state)
{
	struct io_rec rec = {0};
	struct pollfd pfd = {.fd = wd_loop_fd(loop), .events = POLLIN};
	int p[2];
	wd_io io;

	make_pipe(p);
	wd_io_init(&io, p[0], EPOLLIN, io_cb, &rec);
	assert_int_equal(wd_io_start(loop, &io), 0);
	/* Nothing ready: the foreign poll() times out, run_once(0) returns at once. */
	assert_int_equal(poll(&pfd, 1, 20), 0);
	uint64_t t0 = wd_now();
	assert_int_equal(wd_loop_run_once(loop, 0), 0);
	assert_true(wd_now() - t0 < 500 * MSEC);
	assert_int_equal(rec.count, 0);
	/* A byte: the loop's fd turns readable, and run_once dispatches it. */
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(pfd.revents & POLLIN);
	assert_int_equal(wd_loop_run_once(loop, 0), 1);
	assert_int_equal(rec.count, 1);
	/* Drained by the callback: quiet again. */
	assert_int_equal(poll(&pfd, 1, 0), 0);
	assert_int_equal(wd_loop_run_once(loop, 0), 0);
	wd_io_stop(&io);
	close(p[0]);
	close(p[1]);
}

/* run_once(timeout) waits that long when nothing comes, and no longer. */
static void test_run_once_waits(void **state)
{
	uint64_t t0 = wd_now();

	assert_int_equal(wd_loop_run_once(loop, 30), 0);
	assert_true(wd_now() - t0 >= 29 * MSEC);
	assert_true(wd_now() - t0 < 3000 * MSEC);
}

static void count_cb(wd_timer *t)
{
	(*(int *)t->data)++;
}

static void test_loop_timeout(void **state)
{
	wd_timer a, b;
	int fired = 0, ms;

	wd_timer_stop(&guard);
	assert_int_equal(wd_loop_timeout(loop), -1);
	wd_timer_init(&a, count_cb, &fired);
	wd_timer_init(&b, count_cb, &fired);
	assert_int_equal(wd_timer_start(loop, &a, wd_now() + 200 * MSEC), 0);
	ms = wd_loop_timeout(loop);
	assert_true(ms >= 1 && ms <= 200);
	/* An hour away: a day at most, never negative. */
	assert_int_equal(wd_timer_start(loop, &a, wd_now() + 3600000 * MSEC), 0);
	ms = wd_loop_timeout(loop);
	assert_true(ms > 3500000 && ms <= 3600000);
	assert_int_equal(wd_timer_start(loop, &b, wd_now() - MSEC), 0);
	assert_int_equal(wd_loop_timeout(loop), 0);
	assert_int_equal(wd_loop_run_once(loop, 0), 1);
	assert_int_equal(fired, 1);
	wd_timer_stop(&a);
	assert_int_equal(wd_loop_timeout(loop), -1);
}

/*
 * A loop that has never had a timer has no timerfd yet: the first timer
 * makes one and puts it in the epoll set, so a foreign poll() on
 * wd_loop_fd() wakes when it is due.
 */
static void test_timer_through_embedded_fd(void **state)
{
	wd_loop *fresh;
	wd_timer t;
	int fired = 0;

	assert_int_equal(wd_loop_new(&fresh), 0);
	struct pollfd pfd = {.fd = wd_loop_fd(fresh), .events = POLLIN};
	assert_int_equal(wd_loop_timeout(fresh), -1);
	wd_timer_init(&t, count_cb, &fired);
	uint64_t t0 = wd_now();
	assert_int_equal(wd_timer_start(fresh, &t, t0 + 50 * MSEC), 0);
	/* poll() with no timeout of its own: only the timerfd can wake it (bounded by 5 s). */
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(wd_now() - t0 >= 49 * MSEC);
	assert_int_equal(fired, 0);
	assert_int_equal(wd_loop_run_once(fresh, 0), 1);
	assert_int_equal(fired, 1);
	assert_int_equal(wd_loop_timeout(fresh), -1);
	assert_int_equal(poll(&pfd, 1, 0), 0);
	wd_loop_free(fresh);
}

/*
 * Without a timerfd the embedded fd does not wake for timers: the foreign
 * loop bounds its wait by wd_loop_timeout(), as loop.h says, and the timer
 * fires on time. In a child with no room for a timerfd.
 */
static void test_embedded_without_timerfd(void **state)
{
	wd_timer_stop(&guard);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {4, 4};
		wd_timer t;
		int fired = 0, rounds;

		if (syscall(SYS_close_range, 3U, ~0U, 0) < 0 || setrlimit(RLIMIT_NOFILE, &rl) < 0)
			_exit(10);
		if (wd_loop_new(&bare) != 0)
			_exit(11);
		wd_timer_init(&t, count_cb, &fired);
		uint64_t start = wd_now();
		if (wd_timer_start(bare, &t, start + 50 * MSEC) != 0)
			_exit(13);
		struct pollfd pfd = {.fd = wd_loop_fd(bare), .events = POLLIN};
		for (rounds = 0; !fired && rounds < 100; rounds++) {
			int ms = wd_loop_timeout(bare);

			if (ms < 0 || ms > 50)
				_exit(14);
			if (poll(&pfd, 1, ms) < 0)
				_exit(15);
			if (wd_loop_run_once(bare, 0) < 0)
				_exit(16);
		}
		if (!fired)
			_exit(17);
		if (wd_now() - start < 50 * MSEC)
			_exit(18);
		if (wd_loop_timeout(bare) != -1)
			_exit(19);
		_exit(0);
	}
	int status = wait_child(pid, 10000);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		print_error("child failed: status 0x%x (see the _exit codes)\n", status);
		fail();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now),
		cmocka_unit_test_setup_teardown(test_io_fires, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_stop_unstarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fires_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_stop_other_in_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_stop_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_modify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_start_bad_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_deadline_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers_same_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_past_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_stop_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quit_from_io_and_run_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_spin_with_far_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_spin_without_timers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_fires_without_timerfd, setup, teardown),
		cmocka_unit_test(test_init_zeroes),
		cmocka_unit_test_setup_teardown(test_run_once_io_from_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_once_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_through_embedded_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_embedded_without_timerfd, setup, teardown),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
