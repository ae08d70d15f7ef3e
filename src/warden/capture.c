/* SPDX-License-Identifier: MIT */
/*
 * The services' stdout and stderr, captured through pipes and written line
 * by line to warden's own stdout and stderr: "name | line", JSON, or raw.
 * No line is torn or mixed with another's. When warden's output is short
 * of room, a service's pipe is not read until it drains: the service feels
 * the back-pressure, and no line is lost while warden runs. A service that
 * inherits warden's stdio (init mode's command) has none of this: no
 * pipe, no buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/event.h>

#include "core.h"
#include "log.h"
#include "output.h"

/* A line longer than this is split. */
#define LINE_MAX_BYTES 65536

/* The longest record a line of n bytes becomes in s's log format. */
static size_t record_size(const struct svc *s, size_t n)
{
	switch (s->conf.log_format) {
	case LOG_JSON:
		return 6 * n + 512;
	case LOG_RAW:
		return n + 1;
	case LOG_PREFIX:
		break;
	}
	return strlen(s->conf.name) + 3 + n + 1;
}

/* Formats one line of s in its log format and puts it out. Returns 0 or -errno (lost). */
static int put_line(struct svc *s, int which, const char *line, size_t n)
{
	/* One record at a time; a JSON one may be six times the line. */
	static char *rec;
	size_t len = 0, name = strlen(s->conf.name);
	struct wd_json j;
	int r;

	if (!rec && !(rec = malloc(6 * LINE_MAX_BYTES + 1024)))
		return -ENOMEM;
	switch (s->conf.log_format) {
	case LOG_PREFIX:
		memcpy(rec, s->conf.name, name);
		memcpy(rec + name, " | ", 3);
		memcpy(rec + name + 3, line, n);
		len = name + 3 + n;
		rec[len++] = '\n';
		break;
	case LOG_RAW:
		memcpy(rec, line, n);
		len = n;
		rec[len++] = '\n';
		break;
	case LOG_JSON:
		wd_event_begin(&j, rec, 6 * LINE_MAX_BYTES + 1024, "log");
		wd_json_str(&j, "service", s->conf.name);
		wd_json_str(&j, "stream", which == STDERR_FILENO ? "stderr" : "stdout");
		wd_json_strn(&j, "line", line, n);
		r = wd_json_end(&j);
		if (r < 0)
			return r;
		len = (size_t)r;
		break;
	}
	return output_write(which, OUT_OTHER, rec, len);
}

static void on_room(void *data);

static void pause_stream(struct logstream *ls)
{
	if (!ls->paused) {
		ls->paused = true;
		(void)wd_io_modify(&ls->io, 0);
	}
	output_wait_room(ls->which, on_room, ls->svc->sup);
}

/*
 * Puts out the whole lines held in ls's buffer while warden's output has
 * room for them (and the rest as one line when flush is set or the buffer
 * is full). Returns false when it stopped for want of room.
 */
static bool emit_lines(struct logstream *ls, bool flush)
{
	struct svc *s = ls->svc;
	char *p = ls->buf, *end = ls->buf + ls->len, *nl;
	bool ok = true;

	while (p < end) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			n = (size_t)(nl - p);
		else if (flush || (p == ls->buf && ls->len == LINE_MAX_BYTES))
			n = (size_t)(end - p);
		else
			break;
		/* The newline that ends a line already sent in 64 KiB pieces. */
		if (ls->split && nl == p) {
			ls->split = false;
			p++;
			continue;
		}
		if (output_room(ls->which) < record_size(s, n)) {
			ok = false;
			break;
		}
		if (put_line(s, ls->which, p, n) < 0)
			ls->dropped++;
		else
			ls->lines++;
		ls->split = !nl && !flush;
		p += n + (nl ? 1 : 0);
	}
	ls->len = (size_t)(end - p);
	if (ls->len && p != ls->buf)
		memmove(ls->buf, p, ls->len);
	return ok;
}

static void on_readable(wd_io *io, uint32_t revents)
{
	struct logstream *ls = io->data;
	int rounds;

	(void)revents;
	if (!ls->buf) {
		ls->buf = malloc(LINE_MAX_BYTES);
		if (!ls->buf) {
			char scratch[4096];
			ssize_t n;

			/* No memory for a line buffer: the output is lost, not warden. */
			n = read(io->fd, scratch, sizeof(scratch));
			while (n > 0)
				ls->dropped += scratch[--n] == '\n';
			return;
		}
	}
	/* Bounded, so that one chatty service cannot starve the others. */
	for (rounds = 0; rounds < 4; rounds++) {
		ssize_t n;

		if (!emit_lines(ls, false) ||
		    output_room(ls->which) < record_size(ls->svc, LINE_MAX_BYTES)) {
			pause_stream(ls);
			return;
		}
		n = read(io->fd, ls->buf + ls->len, LINE_MAX_BYTES - ls->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ls->len += (size_t)n;
	}
	if (!emit_lines(ls, false))
		pause_stream(ls);
}

/* warden's output has room again: every paused stream goes on. */
static void on_room(void *data)
{
	struct sup *sup = data;
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct logstream *ls[2] = {&sup->svcs[i]->out, &sup->svcs[i]->err};
		int k;

		for (k = 0; k < 2; k++) {
			if (!ls[k]->paused || ls[k]->io.fd < 0)
				continue;
			ls[k]->paused = false;
			(void)wd_io_modify(&ls[k]->io, EPOLLIN);
			on_readable(&ls[k]->io, EPOLLIN);
		}
	}
}

void capture_drain(struct svc *s)
{
	struct logstream *ls[2] = {&s->out, &s->err};
	int k;

	for (k = 0; k < 2; k++) {
		if (ls[k]->io.fd < 0 || ls[k]->paused)
			continue;
		on_readable(&ls[k]->io, EPOLLIN);
		if (!ls[k]->paused && ls[k]->len)
			(void)emit_lines(ls[k], true);
	}
}

static int open_stream(struct svc *s, struct logstream *ls, int which)
{
	int p[2];

	if (ls->io.fd >= 0)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	ls->svc = s;
	ls->which = which;
	ls->io.fd = p[0];
	ls->io.events = EPOLLIN;
	ls->io.cb = on_readable;
	ls->io.data = ls;
	if (wd_io_start(s->sup->loop, &ls->io) < 0) {
		close(p[0]);
		close(p[1]);
		ls->io.fd = -1;
		return -EIO;
	}
	ls->w = p[1];
	return 0;
}

static void close_stream(struct logstream *ls)
{
	io_close(&ls->io);
	if (ls->w >= 0)
		close(ls->w);
	ls->w = -1;
	free(ls->buf);
	ls->buf = NULL;
	ls->len = 0;
	ls->paused = false;
}

int capture_setup(struct svc *s)
{
	int r;

	if (s->conf.inherit_stdio) {
		close_stream(&s->out);
		close_stream(&s->err);
		return 0;
	}
	r = open_stream(s, &s->out, STDOUT_FILENO);
	if (r == 0)
		r = open_stream(s, &s->err, STDERR_FILENO);
	if (r < 0)
		log_errno(r, "service %s: cannot capture its output", s->conf.name);
	return r;
}

void capture_free(struct svc *s)
{
	close_stream(&s->out);
	close_stream(&s->err);
}

/*
 * At exit: what the services wrote reaches warden's output, back-pressure
 * or not, waiting for a slow reader; a service stream whose lines cannot
 * go out for patience ns is given up, and its lines are counted.
 */
void capture_final(struct sup *sup, uint64_t patience)
{
	size_t i;
	int k;

	for (i = 0; i < sup->nsvcs; i++) {
		struct logstream *streams[2] = {&sup->svcs[i]->out, &sup->svcs[i]->err};

		for (k = 0; k < 2; k++) {
			struct logstream *ls = streams[k];
			uint64_t last = wd_now();
			bool more = true;

			if (ls->io.fd < 0 || (!ls->buf && !(ls->buf = malloc(LINE_MAX_BYTES))))
				continue;
			/* Nothing more can come from the service: its write end goes. */
			if (ls->w >= 0) {
				close(ls->w);
				ls->w = -1;
			}
			while (more || ls->len) {
				ssize_t n;

				if (!emit_lines(ls, !more)) {
					size_t before = output_room(ls->which);

					if (wd_now() - last >= patience)
						break;
					output_wait(ls->which, patience - (wd_now() - last));
					if (output_room(ls->which) > before)
						last = wd_now();
					continue;
				}
				if (!more)
					break;
				n = read(ls->io.fd, ls->buf + ls->len, LINE_MAX_BYTES - ls->len);
				if (n > 0)
					ls->len += (size_t)n;
				else if (n == 0 || errno != EINTR)
					more = false;
			}
			if (ls->len) {
				char what[128];
				uint64_t lost = ls->buf[ls->len - 1] != '\n';
				char *p;

				for (p = ls->buf; p < ls->buf + ls->len; p++)
					lost += *p == '\n';
				snprintf(what, sizeof(what), "%s/%s", sup->svcs[i]->conf.name,
					 ls->which == STDOUT_FILENO ? "stdout" : "stderr");
				ls->dropped += lost;
				if (lost)
					log_dropped(what, lost, "nobody read them in time");
				ls->len = 0;
			}
		}
	}
}
