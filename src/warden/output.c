/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output.h"

static void on_writable(wd_io *io, uint32_t revents);

/* Writes as much as the fd takes; watches for room when it takes no more. */
static void flush(struct outq *q)
{
	while (q->len) {
		struct iovec iov[2];
		size_t first = q->cap - q->head < q->len ? q->cap - q->head : q->len;
		int n = 1;
		ssize_t w;

		iov[0].iov_base = q->buf + q->head;
		iov[0].iov_len = first;
		if (first < q->len) {
			iov[1].iov_base = q->buf;
			iov[1].iov_len = q->len - first;
			n = 2;
		}
		w = writev(q->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (q->pollable && !q->blocked &&
				    wd_io_modify(&q->io, EPOLLOUT) == 0)
					q->blocked = true;
				return;
			}
			/* Nobody reads (EPIPE) or the disk is full: drop, never block. */
			q->head = q->len = 0;
			break;
		}
		q->head = (q->head + (size_t)w) % q->cap;
		q->len -= (size_t)w;
	}
	q->head = 0;
	if (q->blocked) {
		(void)wd_io_modify(&q->io, 0);
		q->blocked = false;
	}
}

static void on_writable(wd_io *io, uint32_t revents)
{
	struct outq *q = io->data;

	if (revents & (EPOLLERR | EPOLLHUP)) {
		/* Nobody will read again: stop watching, and drop from now on. */
		wd_io_stop(&q->io);
		q->pollable = false;
		q->blocked = false;
		q->head = q->len = 0;
	} else {
		flush(q);
	}
	/* Half empty: let the producers go on. */
	if (q->short_of_room && q->len <= q->cap / 2) {
		q->short_of_room = false;
		if (q->on_space)
			q->on_space(q->data);
	}
}

int outq_init(struct outq *q, wd_loop *loop, int fd, size_t cap)
{
	struct stat st;

	memset(q, 0, sizeof(*q));
	q->fd = fd;
	q->cap = cap;
	q->buf = malloc(cap);
	if (!q->buf)
		return -ENOMEM;
	q->orig_flags = fcntl(fd, F_GETFL);
	q->pollable = fstat(fd, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
	if (q->pollable && q->orig_flags >= 0) {
		q->io.fd = fd;
		q->io.events = 0;
		q->io.cb = on_writable;
		q->io.data = q;
		if (wd_io_start(loop, &q->io) < 0)
			q->pollable = false;
		else
			(void)fcntl(fd, F_SETFL, q->orig_flags | O_NONBLOCK);
	}
	return 0;
}

size_t outq_space(const struct outq *q)
{
	return q->cap - q->len;
}

int outq_put(struct outq *q, const char *rec, size_t n)
{
	size_t tail, first;

	if (n > outq_space(q))
		return -ENOBUFS;
	tail = (q->head + q->len) % q->cap;
	first = q->cap - tail < n ? q->cap - tail : n;
	memcpy(q->buf + tail, rec, first);
	memcpy(q->buf, rec + first, n - first);
	q->len += n;
	if (!q->blocked)
		flush(q);
	return 0;
}

void outq_want_space(struct outq *q)
{
	q->short_of_room = true;
}

int outq_wait(struct outq *q, int timeout_ms)
{
	struct pollfd pfd = {.fd = q->fd, .events = POLLOUT};
	size_t before = q->len;

	if (!q->len)
		return 0;
	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	flush(q);
	return q->len < before ? 0 : -ETIMEDOUT;
}

void outq_close(struct outq *q, int timeout_ms)
{
	struct pollfd pfd = {.fd = q->fd, .events = POLLOUT};

	if (!q->buf)
		return;
	if (q->pollable)
		wd_io_stop(&q->io);
	q->blocked = false;
	q->pollable = false;
	while (q->len && poll(&pfd, 1, timeout_ms) > 0)
		flush(q);
	if (q->orig_flags >= 0)
		(void)fcntl(q->fd, F_SETFL, q->orig_flags);
	free(q->buf);
	q->buf = NULL;
}
