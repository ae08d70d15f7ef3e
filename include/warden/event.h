/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_EVENT_H
#define WARDEN_EVENT_H

/*
 * Lifecycle events as JSON lines. Every event is one object on one line
 * that starts with "ts" (RFC 3339, UTC, microseconds) and "event", the
 * event's name; the caller adds members with the wd_json writers.
 *
 * Threads: not thread-safe per struct wd_json (one thread at a time per
 * event being written); events on distinct objects need nothing. Not
 * async-signal-safe: the timestamp goes through gmtime_r() and strftime().
 */

#include <stddef.h>

#include <warden/common.h>
#include <warden/json.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A buffer size for one event that holds any ordinary one (16 KiB). */
#define WD_EVENT_MAX 16384

/* Holds any timestamp wd_event_timestamp() writes, NUL included. */
#define WD_EVENT_TIMESTAMP_MAX 32

/* Holds any stand-in event wd_event_end() writes into spare. */
#define WD_EVENT_SPARE_MAX 256

/*
 * Writes the current UTC time as "2026-11-27T09:58:28.123456Z" (27 bytes
 * and a NUL) into buf, which holds WD_EVENT_TIMESTAMP_MAX bytes.
 * Thread-safe. Not async-signal-safe.
 */
WD_NONNULL(1) void wd_event_timestamp(char *buf);

/*
 * Starts an event in buf[0..cap): "{"ts":"…","event":"name"".
 * Not thread-safe: one thread at a time per j. Not async-signal-safe.
 */
WD_NONNULL(1, 4) void wd_event_begin(struct wd_json *j, char *buf, size_t cap, const char *name);

/*
 * Ends the event. Returns the length of the line to write and points
 * *ret_line at it (j->buf): the event, newline included. When the event
 * did not fit its buffer, with overflow NULL, returns -ENOBUFS; otherwise
 * writes into spare[0..spare_cap) a short event named overflow, with the
 * lost event's name as "original", and returns that one (-ENOBUFS if even
 * that does not fit: WD_EVENT_SPARE_MAX always does). A program picks its
 * own name for the stand-in ("event.truncated" in warden).
 * Not thread-safe: one thread at a time per j. Not async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(1, 5) int wd_event_end(struct wd_json *j, const char *overflow, char *spare,
					       size_t spare_cap, const char **ret_line);

/*
 * Ends the event as wd_event_end() does (overflow: the stand-in's name, or
 * NULL to write nothing and return -ENOBUFS) and writes the line with a
 * single write() to fd, so that lines from several writers of an O_APPEND
 * file never interleave. Returns 0 or -errno.
 * Not thread-safe: one thread at a time per j. Not async-signal-safe.
 */
WD_NONNULL(2) int wd_event_emit(int fd, struct wd_json *j, const char *overflow);

#ifdef __cplusplus
}
#endif

#endif
