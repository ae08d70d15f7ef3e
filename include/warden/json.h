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
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wd_json {
	char *buf;
	size_t cap;
	size_t len;
	bool comma;	 /* a value precedes: the next member needs a comma */
	bool overflow;	 /* something did not fit */
	size_t grow_max; /* 0: a fixed buffer; else malloc'd, grown up to this */
};

void wd_json_begin(struct wd_json *j, char *buf, size_t cap); /* writes "{" */
/*
 * The same into a buffer of its own that grows up to max bytes; the caller
 * frees j->buf. Returns 0 or -ENOMEM.
 */
int wd_json_begin_alloc(struct wd_json *j, size_t max);
/* Opens an object ('{') or an array ('['), as key's value; closes it. */
void wd_json_open(struct wd_json *j, const char *key, char kind);
void wd_json_close(struct wd_json *j, char kind);
/* In the functions here, a NULL key means an element of the array being written. */
void wd_json_str(struct wd_json *j, const char *key, const char *val); /* NULL: null */
void wd_json_strn(struct wd_json *j, const char *key, const char *val, size_t n);
void wd_json_int(struct wd_json *j, const char *key, int64_t val);
void wd_json_uint(struct wd_json *j, const char *key, uint64_t val);
void wd_json_bool(struct wd_json *j, const char *key, bool val);
void wd_json_null(struct wd_json *j, const char *key);
void wd_json_strv(struct wd_json *j, const char *key, char *const *v); /* array */
/* Inserts raw, already valid JSON as the value of key. */
void wd_json_raw(struct wd_json *j, const char *key, const char *json);

/* Writes "}\n" and a NUL. Returns the length without the NUL, or -ENOBUFS. */
int wd_json_end(struct wd_json *j);

/*
 * Escapes in[0..n) as the inside of a JSON string into out, which holds
 * outcap bytes. Stops before a character that would not fit. Returns the
 * number of bytes written (no NUL); *ret_used gets how many input bytes
 * were consumed when it is not NULL.
 */
size_t wd_json_escape(char *out, size_t outcap, const char *in, size_t n, size_t *ret_used);

#endif
