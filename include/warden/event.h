/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_EVENT_H
#define WARDEN_EVENT_H

/*
 * Lifecycle events as JSON lines. Every event is one object on one line
 * that starts with "ts" (RFC 3339, UTC, microseconds) and "event".
 */

#include <warden/json.h>

/* Large enough for any event warden writes; longer strings are cut. */
#define WD_EVENT_MAX 16384

/* Writes the current UTC time as "2026-11-27T09:58:28.123456Z" (28 bytes). */
void wd_event_timestamp(char buf[static 32]);

/* Starts an event: "{"ts":"…","event":"name"". */
void wd_event_begin(struct wd_json *j, char *buf, size_t cap, const char *name);

/*
 * Ends the event and writes it with a single write() to fd, so that lines
 * from several writers of an O_APPEND file never interleave. A line that
 * did not fit is replaced by a short event that says so. Returns 0 or
 * -errno.
 */
int wd_event_emit(int fd, struct wd_json *j);

#endif
