/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_LOG_H
#define WARDEN_LOG_H

/*
 * warden's own voice: human log lines on stderr ("warden: ..."), and the
 * lifecycle events (JSON lines) when --events asked for them. Both go
 * through output.h's sinks: once the loop runs, they never block it.
 */

#include <stdbool.h>
#include <stdint.h>

#include <warden/json.h>

extern int log_verbosity; /* 0: errors only */

/* Always printed: a problem the user must see. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, with ": strerror(-err)" appended. */
void log_errno(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Printed when the verbosity is at least level. */
void log_info(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Opens the event destination: "stderr", "fd:N" or a file path (appended).
 * Returns 0 or -errno.
 */
int events_open(const char *dest);
/* The descriptor events go to, or -1. */
int events_fd(void);
static inline bool events_on(void)
{
	return events_fd() >= 0;
}

/* Starts an event in a static buffer; finish it with event_emit(). */
struct wd_json *event_begin(const char *name);
void event_emit(struct wd_json *j);

/*
 * n records of what (a sink's producer: "stderr", "events", "web/stdout")
 * were dropped, for reason ("nobody read them in time", "No space left on
 * device"): a log line and the event output.dropped.
 */
void log_dropped(const char *what, uint64_t n, const char *reason);

#endif
