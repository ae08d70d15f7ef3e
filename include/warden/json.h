/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_JSON_H
#define WARDEN_JSON_H

/*
 * A JSON writer into a caller's fixed buffer, for one object per line.
 * Strings of any bytes are escaped per RFC 8259: control characters as
 * escapes, and every byte that is not part of valid UTF-8 as U+FFFD, so the
 * output is always valid UTF-8 and valid JSON.
 *
 * When the buffer is too small the writer stops appending and remembers it;
 * wd_json_end() then fails. Nothing is ever written past cap.
 *
 * Threads: not thread-safe, one thread at a time per struct wd_json; two
 * writers on two objects need nothing. Signals: on a fixed buffer
 * (wd_json_begin()) every function here is async-signal-safe, so a signal
 * handler can format a line; a growing buffer (wd_json_begin_alloc())
 * calls realloc() and is not.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <warden/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Caller-allocated; wd_json_begin() or wd_json_begin_alloc() sets every member. */
struct wd_json {
	char *buf;
	size_t cap;
	size_t len;
	bool comma;	   /* a value precedes: the next member needs a comma */
	bool overflow;	   /* something did not fit */
	size_t grow_max;   /* 0: a fixed buffer; else malloc'd, grown up to this */
	void *reserved[4]; /* room to grow without an ABI break; zeroed by begin */
};

/*
 * Starts an object in buf[0..cap) (writes "{"). Not thread-safe: one thread
 * at a time per object. Async-signal-safe.
 */
WD_NONNULL(1) void wd_json_begin(struct wd_json *j, char *buf, size_t cap);
/*
 * The same into a buffer of its own that grows up to max bytes; the caller
 * frees j->buf. Returns 0 or -ENOMEM (j untouched). Not thread-safe: one
 * thread at a time per object. Not async-signal-safe (malloc).
 */
WD_NODISCARD WD_NONNULL(1) int wd_json_begin_alloc(struct wd_json *j, size_t max);

/*
 * The writers below share one contract: not thread-safe, one thread at a
 * time per object; async-signal-safe on a fixed buffer. A NULL key means an
 * element of the array being written.
 */
/* Opens an object ('{') or an array ('['), as key's value; closes it. */
WD_NONNULL(1) void wd_json_open(struct wd_json *j, const char *key, char kind);
WD_NONNULL(1) void wd_json_close(struct wd_json *j, char kind);
/* A string value; val NULL writes null. */
WD_NONNULL(1) void wd_json_str(struct wd_json *j, const char *key, const char *val);
WD_NONNULL(1) void wd_json_strn(struct wd_json *j, const char *key, const char *val, size_t n);
WD_NONNULL(1) void wd_json_int(struct wd_json *j, const char *key, int64_t val);
WD_NONNULL(1) void wd_json_uint(struct wd_json *j, const char *key, uint64_t val);
WD_NONNULL(1) void wd_json_bool(struct wd_json *j, const char *key, bool val);
WD_NONNULL(1) void wd_json_null(struct wd_json *j, const char *key);
/* An array of the strings of the NULL-terminated v (NULL: an empty array). */
WD_NONNULL(1) void wd_json_strv(struct wd_json *j, const char *key, char *const *v);
/* Inserts raw, already valid JSON as the value of key. */
WD_NONNULL(1, 3) void wd_json_raw(struct wd_json *j, const char *key, const char *json);

/*
 * Writes "}\n" and a NUL. Returns the length without the NUL, or -ENOBUFS
 * when something did not fit. Not thread-safe: one thread at a time per
 * object. Async-signal-safe on a fixed buffer.
 */
WD_NODISCARD WD_NONNULL(1) int wd_json_end(struct wd_json *j);

/*
 * Escapes in[0..n) as the inside of a JSON string into out, which holds
 * outcap bytes. Stops before a character that would not fit. Returns the
 * number of bytes written (no NUL); *ret_used gets how many input bytes
 * were consumed when it is not NULL. Thread-safe. Async-signal-safe.
 */
WD_NODISCARD size_t wd_json_escape(char *out, size_t outcap, const char *in, size_t n,
				   size_t *ret_used);

#ifdef __cplusplus
}
#endif

#endif
