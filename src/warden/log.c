/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <warden/event.h>
#include <warden/fd.h>

#include "log.h"

int log_verbosity;
static int event_fd = -1;
static log_sink_fn sink;

void log_set_sink(log_sink_fn fn)
{
	sink = fn;
}

static void vlog(int err, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void vlog(int err, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "warden: ");
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (err)
		n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(err));
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line, so that lines from several writers do not mix. */
	if (sink)
		sink(STDERR_FILENO, line, (size_t)n);
	else
		(void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(0, fmt, ap);
	va_end(ap);
}

void log_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(err < 0 ? -err : err, fmt, ap);
	va_end(ap);
}

void log_info(int level, const char *fmt, ...)
{
	va_list ap;

	if (log_verbosity < level)
		return;
	va_start(ap, fmt);
	vlog(0, fmt, ap);
	va_end(ap);
}

int events_open(const char *dest)
{
	int fd;

	if (strcmp(dest, "stderr") == 0) {
		event_fd = STDERR_FILENO;
		return 0;
	}
	if (strncmp(dest, "fd:", 3) == 0) {
		char *end;
		long n = strtol(dest + 3, &end, 10);

		if (end == dest + 3 || *end || n < 0 || n > 1 << 20)
			return -EINVAL;
		if (fcntl((int)n, F_GETFD) < 0)
			return -EBADF;
		event_fd = (int)n;
		return 0;
	}
	fd = open(dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	if (fd < 0)
		return -errno;
	event_fd = fd;
	return 0;
}

int events_fd(void)
{
	return event_fd;
}

static char event_buf[WD_EVENT_MAX];
static struct wd_json event_json;

struct wd_json *event_begin(const char *name)
{
	wd_event_begin(&event_json, event_buf, sizeof(event_buf), name);
	return &event_json;
}

void event_emit(struct wd_json *j)
{
	int r;

	if (sink && (event_fd == STDOUT_FILENO || event_fd == STDERR_FILENO)) {
		r = wd_json_end(j);
		if (r >= 0) {
			sink(event_fd, j->buf, (size_t)r);
			return;
		}
	}
	r = wd_event_emit(event_fd, j);

	if (r < 0) {
		static bool said;

		/* Say it once: a full disk must not flood stderr too. */
		if (!said)
			log_errno(r, "cannot write events");
		said = true;
	}
}
