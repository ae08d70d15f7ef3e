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
#include "output.h"

int log_verbosity;
static int event_fd = -1;

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
	/* One record per line, so that lines from several writers do not mix. */
	(void)output_write(STDERR_FILENO, OUT_LOG, line, (size_t)n);
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
	output_set_owned(fd);
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
	char spare[WD_EVENT_SPARE_MAX];
	const char *line;
	/* Too long to write: a short event says which one was lost. */
	int len = wd_event_end(j, "event.truncated", spare, sizeof(spare), &line);

	if (len >= 0)
		(void)output_write(event_fd, OUT_EVENTS, line, (size_t)len);
}

void log_dropped(const char *what, uint64_t n, const char *reason)
{
	log_error("%llu line%s for %s dropped: %s", (unsigned long long)n, n == 1 ? "" : "s", what,
		  reason);
	if (events_on()) {
		struct wd_json *j = event_begin("output.dropped");

		wd_json_str(j, "sink", what);
		wd_json_uint(j, "dropped", n);
		wd_json_str(j, "reason", reason);
		event_emit(j);
	}
}
