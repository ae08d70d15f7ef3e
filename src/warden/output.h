/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_OUTPUT_H
#define WARDEN_OUTPUT_H

/*
 * warden's own stdout and stderr in supervisor mode: bounded queues of whole
 * lines, written without ever blocking the loop. When a queue is short of
 * room, its producers stop reading their services' pipes (back-pressure)
 * until it drains.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <warden/loop.h>

struct outq {
	int fd;
	char *buf; /* a ring of cap bytes */
	size_t cap, head, len;
	wd_io io;
	bool blocked;  /* waiting for EPOLLOUT */
	bool pollable; /* epoll takes this fd (not a regular file) */
	int orig_flags;
	uint64_t dropped;	      /* warden's own lines that did not fit */
	void (*on_space)(void *data); /* room again after being short */
	void *data;
	bool short_of_room;
};

/* Sets up the queue for fd, which it makes non-blocking. Returns 0 or -errno. */
int outq_init(struct outq *q, wd_loop *loop, int fd, size_t cap);

/* Free bytes. */
size_t outq_space(const struct outq *q);

/*
 * Appends a whole record, or nothing: -ENOBUFS when it does not fit (then
 * the caller must wait for on_space). Starts writing at once.
 */
int outq_put(struct outq *q, const char *rec, size_t n);

/* Marks the queue as short of room for a producer: on_space will follow. */
void outq_want_space(struct outq *q);

/*
 * Waits up to timeout_ms for the fd to take more, and writes. Returns 0 when
 * something was written, or -ETIMEDOUT. For the last words at exit only: it
 * blocks.
 */
int outq_wait(struct outq *q, int timeout_ms);

/* Writes what is left, waiting at most timeout_ms, and restores the fd. */
void outq_close(struct outq *q, int timeout_ms);

#endif
