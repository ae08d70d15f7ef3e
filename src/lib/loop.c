/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <warden/loop.h>

#define BATCH 64

struct wd_loop {
	int epfd;
	wd_io timer_io;	    /* the timerfd, as an ordinary watcher */
	wd_timer *timers;   /* armed timers, soonest first */
	uint64_t armed_for; /* what the timerfd is set to; 0: disarmed */
	bool quit;
	/* The batch being dispatched, so that a stopped watcher is skipped. */
	struct epoll_event batch[BATCH];
	int nbatch;
};

static void timers_fire(wd_io *io, uint32_t revents);

int wd_loop_new(wd_loop **ret)
{
	wd_loop *loop;
	int r;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		r = -errno;
		goto free_loop;
	}
	loop->timer_io.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (loop->timer_io.fd < 0) {
		r = -errno;
		goto close_epoll;
	}
	loop->timer_io.events = EPOLLIN;
	loop->timer_io.cb = timers_fire;
	loop->timer_io.data = loop;
	r = wd_io_start(loop, &loop->timer_io);
	if (r < 0)
		goto close_timer;
	*ret = loop;
	return 0;

close_timer:
	close(loop->timer_io.fd);
close_epoll:
	close(loop->epfd);
free_loop:
	free(loop);
	return r;
}

void wd_loop_free(wd_loop *loop)
{
	if (!loop)
		return;
	close(loop->timer_io.fd);
	close(loop->epfd);
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

/* Sets the timerfd to the first deadline, or disarms it. */
static int timers_rearm(wd_loop *loop)
{
	uint64_t want = loop->timers ? loop->timers->deadline : 0;
	struct itimerspec its = {0};

	if (want == loop->armed_for)
		return 0;
	if (want) {
		/* A deadline of 0 would disarm: the past is 1 ns in. */
		its.it_value.tv_sec = (time_t)(want / 1000000000u);
		its.it_value.tv_nsec = (long)(want % 1000000000u);
	}
	if (timerfd_settime(loop->timer_io.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	loop->armed_for = want;
	return 0;
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
	return timers_rearm(loop);
}

void wd_timer_stop(wd_timer *timer)
{
	if (!timer->armed)
		return;
	timer_unlink(timer);
	(void)timers_rearm(timer->loop);
}

static void timers_fire(wd_io *io, uint32_t revents)
{
	wd_loop *loop = io->data;
	uint64_t expirations, now;
	wd_timer *t;

	(void)revents;
	(void)!read(io->fd, &expirations, sizeof(expirations));
	loop->armed_for = 0; /* a fired absolute timer is disarmed */
	now = wd_now();
	while ((t = loop->timers) && t->deadline <= now) {
		timer_unlink(t);
		t->cb(t);
	}
	(void)timers_rearm(loop);
}

int wd_loop_run(wd_loop *loop)
{
	int i, n;
	wd_io *io;

	while (!loop->quit) {
		n = epoll_wait(loop->epfd, loop->batch, BATCH, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		loop->nbatch = n;
		for (i = 0; i < n; i++) {
			io = loop->batch[i].data.ptr;
			if (io)
				io->cb(io, loop->batch[i].events);
		}
		loop->nbatch = 0;
	}
	loop->quit = false;
	return 0;
}

void wd_loop_quit(wd_loop *loop)
{
	loop->quit = true;
}
