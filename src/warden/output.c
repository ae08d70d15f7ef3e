/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <warden/clock.h>

#include "log.h"
#include "output.h"

/* stdout, stderr and the events descriptor: at most three sinks. */
#define NSINKS 3
#define DEFAULT_CAP (256u << 10)

enum sink_kind {
	SK_UNSET,  /* not looked at yet */
	SK_FILE,   /* a regular file or block device: written at once, never queued */
	SK_STREAM, /* a pipe, FIFO or terminal, through a non-blocking opening of its own */
	SK_SOCKET, /* a socket: send(MSG_DONTWAIT) */
	SK_POLLED, /* could not be reopened: written, a piece at a time, once poll says so */
	SK_DEAD,   /* nobody reads it any more: everything is dropped */
};

struct sink {
	int fd; /* warden's descriptor (the first one, when several are this file) */
	dev_t dev;
	ino_t ino;
	int wfd; /* what is written to: fd, or the private opening */
	enum sink_kind kind;
	char *buf; /* the queue, a ring of cap bytes, allocated when first needed */
	size_t cap, head, len;
	wd_io io;
	bool watching; /* waiting for EPOLLOUT */
	uint64_t dropped[NPRODUCERS];
	int why[NPRODUCERS]; /* why the last one was dropped (ENOBUFS: the queue was full) */
	bool owned;	     /* a file warden opened itself: half a record may be cut off again */
	bool report_failed;  /* a record of the report in progress did not go out */
	void (*room_cb)(void *data);
	void *room_data;
	bool want_room;
	bool reporting;
};

static struct sink sinks[NSINKS];
static size_t nsinks;
/* Which sink each descriptor writes to. */
static struct {
	int fd;
	struct sink *k;
} fds[NSINKS];
static size_t nfds;
static wd_loop *out_loop;
static bool out_closed; /* output_finish() ran: nothing more is written */
static size_t std_cap = DEFAULT_CAP;
static uint64_t events_dropped; /* every event dropped, for warden_events_dropped_total */
static int owned_fd = -1;	/* the events file, when warden opened it */

static const char *const producer_names[NPRODUCERS] = {
	[OUT_LOG] = "stderr",
	[OUT_EVENTS] = "events",
	[OUT_OTHER] = "output",
};

/*
 * The sink of fd, made when first asked for: one per file, so that 1 and 2
 * pointing at one pipe share a queue. NULL for a fourth file.
 */
static struct sink *sink_of(int fd)
{
	struct sink *k = NULL;
	struct stat st;
	size_t i;

	for (i = 0; i < nfds; i++)
		if (fds[i].fd == fd)
			return fds[i].k;
	if (fd < 0 || nfds == NSINKS)
		return NULL;
	if (fstat(fd, &st) == 0)
		for (i = 0; i < nsinks && !k; i++)
			if (sinks[i].kind != SK_DEAD && sinks[i].dev == st.st_dev &&
			    sinks[i].ino == st.st_ino)
				k = &sinks[i];
	if (!k) {
		k = &sinks[nsinks++];
		memset(k, 0, sizeof(*k));
		k->fd = fd;
		k->wfd = -1;
		k->io.fd = -1;
		k->kind = SK_UNSET;
		k->dev = st.st_dev;
		k->ino = st.st_ino;
	}
	fds[nfds].fd = fd;
	fds[nfds++].k = k;
	return k;
}

void output_start(wd_loop *loop)
{
	out_loop = loop;
}

void output_set_owned(int fd)
{
	owned_fd = fd;
}

void output_set_std_cap(size_t cap)
{
	std_cap = cap;
}

/* The queue size of a sink made for fd. */
static size_t cap_of(int fd)
{
	return fd == STDOUT_FILENO || fd == STDERR_FILENO ? std_cap : DEFAULT_CAP;
}

/* Finds out what the descriptor is, and how to write to it without waiting. */
static void setup(struct sink *k)
{
	char path[64];
	struct stat st;

	k->cap = cap_of(k->fd);
	k->wfd = k->fd;
	if (fstat(k->fd, &st) < 0) {
		k->kind = SK_DEAD;
		return;
	}
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		k->kind = SK_FILE;
		k->owned = k->fd == owned_fd && S_ISREG(st.st_mode);
		return;
	}
	if (S_ISSOCK(st.st_mode)) {
		k->kind = SK_SOCKET;
		return;
	}
	/*
	 * O_NONBLOCK on the descriptor itself would be shared with every
	 * process that has it (init mode's command has warden's stderr): a
	 * private opening of the same pipe or terminal is warden's alone.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", k->fd);
	k->wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (k->wfd >= 0) {
		k->kind = SK_STREAM;
		return;
	}
	k->wfd = k->fd;
	/* A pipe or FIFO nobody reads cannot be opened for writing. */
	k->kind = errno == ENXIO ? SK_DEAD : SK_POLLED;
}

/* One write of what the descriptor takes now. Returns the count or -errno. */
static ssize_t write_some(struct sink *k, const char *p, size_t n)
{
	ssize_t w;

	if (k->kind == SK_POLLED && n > PIPE_BUF)
		n = PIPE_BUF;
	do {
		if (k->kind == SK_SOCKET)
			w = send(k->wfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			w = write(k->wfd, p, n);
	} while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : w;
}

static void unwatch(struct sink *k)
{
	if (!k->watching)
		return;
	(void)wd_io_modify(&k->io, 0);
	k->watching = false;
}

static int drop(struct sink *k, enum out_producer producer, int err)
{
	/* The report's own record is not one more: the report is tried again. */
	if (k->reporting) {
		k->report_failed = true;
		return err;
	}
	if (producer != OUT_OTHER) {
		k->dropped[producer]++;
		k->why[producer] = -err;
	}
	events_dropped += producer == OUT_EVENTS;
	return err;
}

/* Why records were dropped, for the report. */
static const char *reason(int err)
{
	switch (err) {
	case ENOBUFS:
		return "nobody read them in time";
	case EPIPE:
		return "nobody reads them any more";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(err);
	}
}

/* Records in the queue: each ends with a newline. */
static uint64_t queued_records(const struct sink *k)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < k->len; i++)
		if (k->buf[(k->head + i) % k->cap] == '\n')
			n++;
	return n;
}

/* Nobody will read again: what is queued is lost, and nothing more is kept. */
static void die(struct sink *k)
{
	unwatch(k);
	if (k->io.loop)
		wd_io_stop(&k->io);
	k->kind = SK_DEAD;
	k->head = k->len = 0;
}

/* Says what was dropped, now that the sink takes records again. */
static void report(struct sink *k)
{
	int i;

	if (k->reporting)
		return;
	k->reporting = true;
	for (i = 0; i < OUT_OTHER; i++) {
		uint64_t n = k->dropped[i];

		if (!n)
			continue;
		k->dropped[i] = 0;
		k->report_failed = false;
		log_dropped(producer_names[i], n, reason(k->why[i]));
		/* Its record did not go out here (a disk full again): kept for the next one. */
		if (k->report_failed)
			k->dropped[i] += n;
	}
	k->reporting = false;
}

static void flush(struct sink *k);

static void on_writable(wd_io *io, uint32_t revents)
{
	struct sink *k = io->data;

	if (revents & EPOLLERR) {
		die(k);
		return;
	}
	flush(k);
}

static void watch(struct sink *k)
{
	if (k->watching)
		return;
	if (!k->io.loop) {
		k->io.fd = k->wfd;
		k->io.events = EPOLLOUT;
		k->io.cb = on_writable;
		k->io.data = k;
		if (wd_io_start(out_loop, &k->io) < 0) {
			/* Never writable as far as epoll can tell: give it up. */
			die(k);
			return;
		}
	} else if (wd_io_modify(&k->io, EPOLLOUT) < 0) {
		die(k);
		return;
	}
	k->watching = true;
}

static int finish_tail(struct sink *k);

/* Writes from the queue while the descriptor takes it. */
static void flush(struct sink *k)
{
	if (k->kind == SK_FILE) {
		(void)finish_tail(k);
		return;
	}
	while (k->len) {
		size_t n = k->cap - k->head < k->len ? k->cap - k->head : k->len;
		ssize_t w = write_some(k, k->buf + k->head, n);

		if (w == -EAGAIN)
			break;
		if (w < 0) {
			die(k);
			return;
		}
		k->head = (k->head + (size_t)w) % k->cap;
		k->len -= (size_t)w;
		/* POLLOUT promised room for one piece, not more. */
		if (k->kind == SK_POLLED)
			break;
	}
	if (!k->len) {
		k->head = 0;
		unwatch(k);
		report(k);
	}
	if (k->want_room && k->len <= k->cap / 2) {
		k->want_room = false;
		k->room_cb(k->room_data);
	}
}

static size_t room(const struct sink *k)
{
	if (!k || !out_loop || k->kind == SK_DEAD || k->kind == SK_FILE)
		return SIZE_MAX;
	return (k->kind == SK_UNSET ? cap_of(k->fd) : k->cap) - k->len;
}

/* Appends to the queue; the caller checked the room. */
static int enqueue(struct sink *k, const char *p, size_t n)
{
	size_t tail, first;

	if (!k->buf) {
		k->buf = malloc(k->cap);
		if (!k->buf)
			return -ENOMEM;
	}
	tail = (k->head + k->len) % k->cap;
	first = k->cap - tail < n ? k->cap - tail : n;
	memcpy(k->buf + tail, p, first);
	memcpy(k->buf, p + first, n - first);
	k->len += n;
	return 0;
}

/* Writes rec[0..n) to a file: how much went in, and in *err why not all of it. */
static size_t write_file(struct sink *k, const char *rec, size_t n, int *err)
{
	size_t done = 0;
	ssize_t w;

	*err = 0;
	while (done < n) {
		w = write(k->wfd, rec + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			*err = w < 0 ? errno : ENOSPC;
			break;
		}
		done += (size_t)w;
	}
	return done;
}

/*
 * The rest of a record a file took only part of, kept in the queue: it goes
 * out before anything else. Returns 0 once it is all out, else -errno.
 */
static int finish_tail(struct sink *k)
{
	int err;

	while (k->len) {
		size_t n = k->cap - k->head < k->len ? k->cap - k->head : k->len;
		size_t done = write_file(k, k->buf + k->head, n, &err);

		k->head = (k->head + done) % k->cap;
		k->len -= done;
		if (err)
			return -err;
	}
	k->head = 0;
	return 0;
}

/*
 * A regular file takes everything at once, or fails (a full disk, EIO). Half
 * a record must not stay, or the next one glues onto it: in a file warden
 * opened itself, what went in is cut off again (ftruncate); in one it shares
 * (stdout, fd:N), or one that cannot be cut (append-only), the rest of the
 * record is kept and written before anything else, and records are dropped
 * until it is out.
 */
static int put_file(struct sink *k, enum out_producer producer, const char *rec, size_t n)
{
	size_t done;
	int err, r;

	r = finish_tail(k);
	if (r < 0)
		return drop(k, producer, r);
	done = write_file(k, rec, n, &err);
	if (done == n) {
		report(k);
		return 0;
	}
	if (done) {
		off_t end = lseek(k->wfd, 0, SEEK_CUR);
		struct stat st;

		/* Cut only what is ours: the file ends where the record does. */
		if (k->owned && end >= (off_t)done && fstat(k->wfd, &st) == 0 &&
		    st.st_size == end && ftruncate(k->wfd, end - (off_t)done) == 0) {
			(void)lseek(k->wfd, end - (off_t)done, SEEK_SET);
		} else {
			/* A record begun is finished: nothing is dropped. */
			if (enqueue(k, rec + done, n - done) == 0)
				return 0;
			/* No memory to keep it: the next record starts a line. */
			(void)!write(k->wfd, "\n", 1);
		}
	}
	return drop(k, producer, -err);
}

/* Before the loop runs: a plain write that may wait, as any program's. */
static int put_blocking(int fd, const char *rec, size_t n)
{
	while (n) {
		ssize_t w = write(fd, rec, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		rec += w;
		n -= (size_t)w;
	}
	return 0;
}

int output_write(int fd, enum out_producer producer, const char *rec, size_t n)
{
	struct sink *k;
	ssize_t w = 0;

	if (out_closed)
		return -EPIPE;
	/* Before the loop runs, nothing needs a sink: a plain write. */
	if (!out_loop)
		return put_blocking(fd, rec, n);
	k = sink_of(fd);
	if (!k)
		return -EBADF;
	if (k->kind == SK_UNSET)
		setup(k);
	if (k->kind == SK_DEAD)
		return drop(k, producer, -EPIPE);
	if (k->kind == SK_FILE)
		return put_file(k, producer, rec, n);
	/* Only a record the queue could hold is begun: its tail must never be lost. */
	if (n > room(k))
		return drop(k, producer, -ENOBUFS);
	if (!k->len && k->kind != SK_POLLED) {
		w = write_some(k, rec, n);
		if (w == -EAGAIN) {
			w = 0;
		} else if (w < 0) {
			die(k);
			return drop(k, producer, -EPIPE);
		} else if ((size_t)w == n) {
			report(k);
			return 0;
		}
	}
	if (enqueue(k, rec + w, n - (size_t)w) < 0) {
		/* Out of memory for the queue: what did not go out is lost. */
		return drop(k, producer, -ENOMEM);
	}
	watch(k);
	return 0;
}

size_t output_room(int fd)
{
	return out_loop ? room(sink_of(fd)) : SIZE_MAX;
}

void output_wait_room(int fd, void (*cb)(void *data), void *data)
{
	struct sink *k = sink_of(fd);

	if (!k)
		return;
	k->room_cb = cb;
	k->room_data = data;
	k->want_room = true;
}

void output_wait(int fd, uint64_t ns)
{
	struct sink *k = out_loop ? sink_of(fd) : NULL;
	struct pollfd pfd = {.fd = k ? k->wfd : -1, .events = POLLOUT};
	uint64_t ms = ns / WD_NSEC_PER_MSEC + 1;

	if (!k || !k->len || k->kind == SK_DEAD)
		return;
	if (poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms) > 0)
		flush(k);
}

/* Writes what k holds, giving up when it takes nothing for patience ns. */
static void finish_one(struct sink *k, uint64_t patience)
{
	uint64_t last = wd_now();

	/* A file is not waited for: the rest of a record goes out now, or never. */
	if (k->kind == SK_FILE) {
		int r = k->len ? finish_tail(k) : 0;

		if (r < 0) {
			k->head = k->len = 0;
			log_dropped(producer_names[OUT_OTHER], 1, reason(-r));
		}
		return;
	}
	while (k->len && k->kind != SK_DEAD) {
		struct pollfd pfd = {.fd = k->wfd, .events = POLLOUT};
		uint64_t now = wd_now(), left;
		size_t before = k->len;

		if (now - last >= patience) {
			uint64_t lost = queued_records(k);

			die(k);
			if (lost)
				log_dropped(producer_names[OUT_OTHER], lost, reason(ENOBUFS));
			return;
		}
		left = (patience - (now - last)) / WD_NSEC_PER_MSEC + 1;
		if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) > 0)
			flush(k);
		if (k->len < before)
			last = wd_now();
	}
}

void output_flush(uint64_t patience)
{
	size_t i;

	for (i = 0; i < nsinks; i++)
		finish_one(&sinks[i], patience);
}

void output_finish(uint64_t patience)
{
	size_t i;

	/* Twice: what the first round reports about a sink given up goes out too. */
	output_flush(patience);
	output_flush(patience);
	for (i = 0; i < nsinks; i++) {
		struct sink *k = &sinks[i];

		if (k->io.loop)
			wd_io_stop(&k->io);
		if (k->wfd >= 0 && k->wfd != k->fd)
			close(k->wfd);
		free(k->buf);
	}
	nsinks = nfds = 0;
	out_loop = NULL;
	out_closed = true;
}

uint64_t output_events_dropped(void)
{
	return events_dropped;
}
