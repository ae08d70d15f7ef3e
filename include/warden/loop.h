/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_LOOP_H
#define WARDEN_LOOP_H

/*
 * The event loop: one epoll fd over caller-owned I/O watchers, and one
 * timerfd armed only for the nearest pending deadline (made when the first
 * timer is armed). An idle loop with no timer blocks in epoll_wait()
 * forever: no periodic wake-up, ever.
 *
 * Watchers and timers are owned by the caller and must stay valid while
 * they are started; the loop never allocates after wd_loop_new().
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_loop wd_loop;
typedef struct wd_io wd_io;
typedef struct wd_timer wd_timer;

typedef void (*wd_io_cb)(wd_io *io, uint32_t revents);
typedef void (*wd_timer_cb)(wd_timer *timer);

struct wd_io {
	int fd;
	uint32_t events; /* EPOLLIN, EPOLLOUT, ... */
	wd_io_cb cb;
	void *data; /* the caller's */
	/* private */
	wd_loop *loop;
};

struct wd_timer {
	uint64_t deadline; /* absolute CLOCK_MONOTONIC, nanoseconds */
	wd_timer_cb cb;
	void *data; /* the caller's */
	/* private */
	wd_loop *loop;
	wd_timer *prev, *next;
	bool armed;
};

/* How many ready descriptors one epoll_wait() hands over at most. */
#define WD_LOOP_BATCH 64

/*
 * The loop: caller-owned like the watchers (wd_loop_init() sets one up in
 * place), or allocated by wd_loop_new(). Its members are private.
 */
struct wd_loop {
	/* private */
	int epfd;
	wd_io timer_io;	    /* the timerfd, as an ordinary watcher; fd -1 until needed */
	wd_timer *timers;   /* armed timers, soonest first */
	uint64_t armed_for; /* what the timerfd is set to; 0: disarmed */
	bool no_timerfd;    /* the timerfd failed: epoll_wait()'s timeout stands in */
	bool quit;
	bool allocated; /* by wd_loop_new() */
	/* The batch being dispatched, so that a stopped watcher is skipped. */
	struct epoll_event batch[WD_LOOP_BATCH];
	int nbatch;
};

/* Now on CLOCK_MONOTONIC, in nanoseconds. */
uint64_t wd_now(void);

/* Sets up a loop in the caller's storage. Returns 0 or -errno. */
int wd_loop_init(wd_loop *loop);

/* Closes the descriptors of a loop set up by wd_loop_init(). Watchers are left alone. */
void wd_loop_fini(wd_loop *loop);

/* Creates a loop. Returns 0 or -errno; *ret untouched on failure. */
int wd_loop_new(wd_loop **ret);

/* Closes the loop's own descriptors and frees it. Watchers are left alone. NULL is fine. */
void wd_loop_free(wd_loop *loop);

/*
 * Starts watching io->fd for io->events; io->cb runs with the events that
 * happened. Returns 0 or -errno.
 */
int wd_io_start(wd_loop *loop, wd_io *io);

/* Changes the events of a started watcher. Returns 0 or -errno. */
int wd_io_modify(wd_io *io, uint32_t events);

/*
 * Stops watching. Safe from inside any callback, including io's own, and on
 * a watcher that is not started. Does not close io->fd.
 */
void wd_io_stop(wd_io *io);

/*
 * Arms (or re-arms) a timer for an absolute deadline. Returns 0: a timer
 * always fires, since the loop falls back to epoll_wait()'s timeout should
 * its timerfd fail.
 */
int wd_timer_start(wd_loop *loop, wd_timer *timer, uint64_t deadline);

/* Disarms a timer; fine on one that is not armed. */
void wd_timer_stop(wd_timer *timer);

/*
 * Waits for events and dispatches them until wd_loop_quit() is called.
 * Returns 0, or -errno when epoll itself fails.
 */
int wd_loop_run(wd_loop *loop);

/* Makes wd_loop_run() return once the current dispatch is done. */
void wd_loop_quit(wd_loop *loop);

#ifdef __cplusplus
}
#endif

#endif
