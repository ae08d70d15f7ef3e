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
 *
 * Threads: a loop and its watchers and timers belong to one thread at a
 * time ("Not thread-safe: one thread at a time per object" for every call
 * below); to wake a loop from another thread, or from a signal handler,
 * write to an eventfd or pipe it watches. Nothing here is
 * async-signal-safe unless it says so.
 *
 * Embedding: a program with its own event loop (poll(), libuv, glib, a
 * GUI toolkit...) can drive this one: watch wd_loop_fd() for readability,
 * and when it is readable (or when wd_loop_timeout() ms have passed) call
 * wd_loop_run_once(loop, 0).
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct wd_loop wd_loop;
typedef struct wd_io wd_io;
typedef struct wd_timer wd_timer;

typedef void (*wd_io_cb)(wd_io *io, uint32_t revents);
typedef void (*wd_timer_cb)(wd_timer *timer);

/*
 * A watcher of one descriptor. Caller-allocated: set it up with
 * wd_io_init() or zero it (memset, "= {0}", static storage) and set the
 * public members, so that the reserved space is zero.
 */
struct wd_io {
	int fd;
	uint32_t events; /* EPOLLIN, EPOLLOUT, ... */
	wd_io_cb cb;
	void *data; /* the caller's */
	/* private */
	wd_loop *loop;
	void *reserved[4];
};

/* A one-shot timer. Caller-allocated: wd_timer_init(), or zeroed as a wd_io is. */
struct wd_timer {
	uint64_t deadline; /* absolute CLOCK_MONOTONIC, nanoseconds */
	wd_timer_cb cb;
	void *data; /* the caller's */
	/* private */
	wd_loop *loop;
	wd_timer *prev, *next;
	bool armed;
	void *reserved[4];
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
	void *reserved[8];
};

/* Now on CLOCK_MONOTONIC, in nanoseconds. Thread-safe. Async-signal-safe. */
uint64_t wd_now(void);

/*
 * Zeroes io and sets its descriptor, events, callback and data. Not
 * thread-safe: one thread at a time per object. Async-signal-safe.
 */
void wd_io_init(wd_io *io, int fd, uint32_t events, wd_io_cb cb, void *data);

/*
 * Zeroes timer (disarmed) and sets its callback and data. Must not be
 * called on an armed timer. Not thread-safe: one thread at a time per
 * object. Async-signal-safe.
 */
void wd_timer_init(wd_timer *timer, wd_timer_cb cb, void *data);

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

/*
 * Makes wd_loop_run() return once the current dispatch is done. It
 * concerns wd_loop_run() only: an embedding loop decides itself when to
 * stop calling wd_loop_run_once().
 */
void wd_loop_quit(wd_loop *loop);

/*
 * The loop's epoll descriptor, for embedding: it is readable whenever
 * wd_loop_run_once() has something to dispatch (a watched descriptor is
 * ready, or the timerfd fired: it is in the same epoll set, so a foreign
 * loop polling this fd wakes for timers too). Do not read it, close it or
 * add to it. Valid from wd_loop_init() to wd_loop_fini().
 *
 * One case needs more: should the loop's timerfd ever fail (the loop
 * then falls back to epoll_wait()'s timeout, and stays so), timers no
 * longer make this fd readable. A foreign loop must therefore always
 * bound its wait with wd_loop_timeout(), which is right in both cases.
 */
int wd_loop_fd(const wd_loop *loop);

/*
 * Waits at most timeout_ms (0: not at all; -1: until something happens)
 * for events, dispatches them, then runs the timers that are due. The wait
 * is also cut short at the next timer's deadline, so run_once(-1) returns
 * after a timer fired. Returns how many callbacks ran (0 when none: the
 * time ran out, or a signal interrupted the wait), or -errno when epoll
 * fails. Not thread-safe: one thread at a time per loop.
 */
int wd_loop_run_once(wd_loop *loop, int timeout_ms);

/*
 * Milliseconds until the next timer is due, rounded up; 0 when one is due
 * already, -1 when no timer is armed: the timeout for a foreign loop's
 * poll() before it calls wd_loop_run_once(). Not thread-safe: one thread
 * at a time per loop.
 */
int wd_loop_timeout(const wd_loop *loop);

#endif
