/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <warden/loop.h>

void wd_io_init(wd_io *io, int fd, uint32_t events, wd_io_cb cb, void *data)
{
	memset(io, 0, sizeof(*io));
	io->fd = fd;
	io->events = events;
	io->cb = cb;
	io->data = data;
}

void wd_timer_init(wd_timer *timer, wd_timer_cb cb, void *data)
{
	memset(timer, 0, sizeof(*timer));
	timer->cb = cb;
	timer->data = data;
}

int wd_loop_init(wd_loop *loop)
{
	memset(loop, 0, sizeof(*loop));
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0)
		return -errno;
	/* The timerfd comes with the first timer: a loop without one needs none. */
	loop->timer_io.fd = -1;
	loop->timer_io.events = EPOLLIN;
	/* No callback: dispatch() knows this watcher and runs the timers itself. */
	loop->timer_io.data = loop;
	return 0;
}

void wd_loop_fini(wd_loop *loop)
{
	if (loop->timer_io.fd >= 0)
		close(loop->timer_io.fd);
	loop->timer_io.fd = -1;
	if (loop->epfd >= 0)
		close(loop->epfd);
	loop->epfd = -1;
}

int wd_loop_new(wd_loop **ret)
{
	wd_loop *loop = malloc(sizeof(*loop));
	int r;

	if (!loop)
		return -ENOMEM;
	r = wd_loop_init(loop);
	if (r < 0) {
		free(loop);
		return r;
	}
	loop->allocated = true;
	*ret = loop;
	return 0;
}

void wd_loop_free(wd_loop *loop)
{
	if (!loop)
		return;
	wd_loop_fini(loop);
	if (loop->allocated)
		free(loop);
}

int wd_io_start(wd_loop *loop, wd_io *io)
{
	struct epoll_event ev = {.events = io->events, .data.ptr = io};

	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0)
		return -errno;
	io->loop = loop;
	return 0;
}

int wd_io_modify(wd_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (!io->loop)
		return -EINVAL;
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void wd_io_stop(wd_io *io)
{
	wd_loop *loop = io->loop;
	int i;

	if (!loop)
		return;
	/* The fd may already be closed; then epoll has forgotten it anyway. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	for (i = 0; i < loop->nbatch; i++)
		if (loop->batch[i].data.ptr == io)
			loop->batch[i].data.ptr = NULL;
	io->loop = NULL;
}

/* Makes the timerfd and watches it. Returns 0 or -errno. */
static int timerfd_setup(wd_loop *loop)
{
	int r;

	loop->timer_io.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->timer_io.fd < 0)
		return -errno;
	r = wd_io_start(loop, &loop->timer_io);
	if (r < 0) {
		close(loop->timer_io.fd);
		loop->timer_io.fd = -1;
	}
	return r;
}

/*
 * Sets the timerfd to the first deadline, or disarms it. When the timerfd
 * cannot be made or set, the loop falls back to epoll_wait()'s timeout for
 * good: a deadline is never lost to a failed system call.
 */
static void timers_rearm(wd_loop *loop)
{
	uint64_t want = loop->timers ? loop->timers->deadline : 0;
	struct itimerspec its = {0};

	if (want == loop->armed_for || loop->no_timerfd)
		return;
	if (loop->timer_io.fd < 0 && (!want || timerfd_setup(loop) < 0)) {
		loop->no_timerfd = want != 0;
		return;
	}
	if (want) {
		/* A deadline of 0 would disarm: the past is 1 ns in. */
		its.it_value.tv_sec = (time_t)(want / 1000000000u);
		its.it_value.tv_nsec = (long)(want % 1000000000u);
	}
	if (timerfd_settime(loop->timer_io.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
		loop->no_timerfd = true;
		return;
	}
	loop->armed_for = want;
}

static void timer_unlink(wd_timer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		t->loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->armed = false;
}

int wd_timer_start(wd_loop *loop, wd_timer *timer, uint64_t deadline)
{
	wd_timer **pp, *prev = NULL;

	if (timer->armed)
		timer_unlink(timer);
	timer->loop = loop;
	timer->deadline = deadline ? deadline : 1;
	/* Sorted insertion: few timers are ever armed at once. */
	for (pp = &loop->timers; *pp && (*pp)->deadline <= timer->deadline; pp = &(*pp)->next)
		prev = *pp;
	timer->next = *pp;
	timer->prev = prev;
	if (*pp)
		(*pp)->prev = timer;
	*pp = timer;
	timer->armed = true;
	timers_rearm(loop);
	return 0;
}

void wd_timer_stop(wd_timer *timer)
{
	if (!timer->armed)
		return;
	timer_unlink(timer);
	timers_rearm(timer->loop);
}

/* Runs the callbacks of every timer whose deadline has passed; returns how many ran. */
static int timers_due(wd_loop *loop)
{
	uint64_t now = wd_now();
	wd_timer *t;
	int ran = 0;

	while ((t = loop->timers) && t->deadline <= now) {
		timer_unlink(t);
		t->cb(t);
		ran++;
	}
	return ran;
}

/* The timerfd fired: runs the due timers and sets it for the next one. */
static int timers_expired(wd_loop *loop)
{
	uint64_t expirations;
	int ran;

	(void)!read(loop->timer_io.fd, &expirations, sizeof(expirations));
	loop->armed_for = 0; /* a fired absolute timer is disarmed */
	ran = timers_due(loop);
	timers_rearm(loop);
	return ran;
}

int wd_loop_timeout(const wd_loop *loop)
{
	uint64_t now, left;

	if (!loop->timers)
		return -1;
	now = wd_now();
	if (loop->timers->deadline <= now)
		return 0;
	/* Rounded up: waking a little early would only spin. */
	left = (loop->timers->deadline - now + 999999) / 1000000;
	return left > 86400000 ? 86400000 : (int)left;
}

/* epoll_wait()'s timeout: the caller's, cut short by the first deadline without a timerfd. */
static int wait_ms(const wd_loop *loop, int timeout_ms)
{
	int t;

	if (!loop->no_timerfd)
		return timeout_ms;
	t = wd_loop_timeout(loop);
	if (t < 0)
		return timeout_ms;
	return timeout_ms < 0 || t < timeout_ms ? t : timeout_ms;
}

/*
 * One epoll_wait() and the dispatch of what it returned. Returns how many
 * callbacks ran, -EINTR, or another -errno.
 */
static int dispatch(wd_loop *loop, int timeout_ms)
{
	int i, n, ran = 0;
	wd_io *io;

	n = epoll_wait(loop->epfd, loop->batch, WD_LOOP_BATCH, wait_ms(loop, timeout_ms));
	if (n < 0)
		return -errno;
	loop->nbatch = n;
	for (i = 0; i < n; i++) {
		io = loop->batch[i].data.ptr;
		if (!io)
			continue;
		if (io == &loop->timer_io) {
			ran += timers_expired(loop);
		} else {
			io->cb(io, loop->batch[i].events);
			ran++;
		}
	}
	loop->nbatch = 0;
	if (loop->no_timerfd)
		ran += timers_due(loop);
	return ran;
}

int wd_loop_run(wd_loop *loop)
{
	int r;

	while (!loop->quit) {
		r = dispatch(loop, -1);
		if (r < 0 && r != -EINTR)
			return r;
	}
	loop->quit = false;
	return 0;
}

int wd_loop_run_once(wd_loop *loop, int timeout_ms)
{
	int r = dispatch(loop, timeout_ms);

	return r == -EINTR ? 0 : r;
}

int wd_loop_fd(const wd_loop *loop)
{
	return loop->epfd;
}

void wd_loop_quit(wd_loop *loop)
{
	loop->quit = true;
}
