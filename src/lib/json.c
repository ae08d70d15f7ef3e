/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <warden/json.h>

/*
 * Length of the valid UTF-8 sequence at s[0..n), or 0 when s[0] does not
 * start one (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

size_t wd_json_escape(char *out, size_t outcap, const char *in, size_t n, size_t *ret_used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < n) {
		char esc[8];
		const char *piece = esc;
		size_t plen, used = 1;
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			plen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			const char *short_esc = NULL;

			switch (c) {
			case '\b':
				short_esc = "\\b";
				break;
			case '\f':
				short_esc = "\\f";
				break;
			case '\n':
				short_esc = "\\n";
				break;
			case '\r':
				short_esc = "\\r";
				break;
			case '\t':
				short_esc = "\\t";
				break;
			default:
				break;
			}
			if (short_esc) {
				piece = short_esc;
				plen = 2;
			} else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				plen = 6;
			}
		} else if (c < 0x80) {
			piece = (const char *)s + i;
			plen = 1;
		} else {
			used = utf8_len(s + i, n - i);
			if (used) {
				piece = (const char *)s + i;
				plen = used;
			} else {
				piece = "\\ufffd";
				plen = 6;
				used = 1;
			}
		}
		if (outcap - o < plen)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += used;
	}
	if (ret_used)
		*ret_used = i;
	return o;
}

/* Makes room for n more bytes (and a NUL), growing the buffer if it may. */
static bool reserve(struct wd_json *j, size_t n)
{
	size_t want;
	char *nb;

	if (j->overflow)
		return false;
	if (j->cap - j->len > n)
		return true;
	if (!j->grow_max || j->len + n + 1 > j->grow_max)
		return false;
	want = j->cap * 2 > j->len + n + 1 ? j->cap * 2 : j->len + n + 1;
	if (want > j->grow_max)
		want = j->grow_max;
	nb = realloc(j->buf, want);
	if (!nb)
		return false;
	j->buf = nb;
	j->cap = want;
	return true;
}

static void put(struct wd_json *j, const char *s, size_t n)
{
	/* A fixed buffer may be filled to the last byte; wd_json_end() checks. */
	if (j->overflow || (j->cap - j->len < n && !reserve(j, n))) {
		j->overflow = true;
		return;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
}

static void puts_(struct wd_json *j, const char *s)
{
	put(j, s, strlen(s));
}

static void put_string(struct wd_json *j, const char *s, size_t n)
{
	size_t used;

	put(j, "\"", 1);
	if (j->grow_max && j->cap - j->len <= 6 * n && !reserve(j, 6 * n + 1))
		j->overflow = true; /* room for the worst case: every byte as \u00XX */
	if (j->overflow)
		return;
	j->len += wd_json_escape(j->buf + j->len, j->cap - j->len, s, n, &used);
	if (used < n)
		j->overflow = true;
	put(j, "\"", 1);
}

static void key(struct wd_json *j, const char *k)
{
	if (j->comma)
		put(j, ",", 1);
	if (k) {
		put_string(j, k, strlen(k));
		put(j, ":", 1);
	}
	j->comma = true;
}

void wd_json_open(struct wd_json *j, const char *k, char kind)
{
	key(j, k);
	put(j, kind == '[' ? "[" : "{", 1);
	j->comma = false;
}

void wd_json_close(struct wd_json *j, char kind)
{
	put(j, kind == '[' ? "]" : "}", 1);
	j->comma = true;
}

int wd_json_begin_alloc(struct wd_json *j, size_t max)
{
	char *buf = malloc(4096);

	if (!buf)
		return -ENOMEM;
	wd_json_begin(j, buf, 4096);
	j->grow_max = max < 4096 ? 4096 : max;
	return 0;
}

void wd_json_begin(struct wd_json *j, char *buf, size_t cap)
{
	j->buf = buf;
	j->cap = cap;
	j->len = 0;
	j->comma = false;
	j->overflow = false;
	j->grow_max = 0;
	memset(j->reserved, 0, sizeof(j->reserved));
	put(j, "{", 1);
}

void wd_json_strn(struct wd_json *j, const char *k, const char *val, size_t n)
{
	key(j, k);
	if (val)
		put_string(j, val, n);
	else
		puts_(j, "null");
}

void wd_json_str(struct wd_json *j, const char *k, const char *val)
{
	wd_json_strn(j, k, val, val ? strlen(val) : 0);
}

/*
 * Writes v in decimal, with a '-' when negative, at the end of num[0..24)
 * and returns where it starts. By hand rather than with snprintf(), which
 * is not async-signal-safe: a writer on a fixed buffer must be.
 */
static const char *decimal(char num[24], uint64_t v, bool negative)
{
	char *p = num + 23;

	*p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (negative)
		*--p = '-';
	return p;
}

void wd_json_int(struct wd_json *j, const char *k, int64_t val)
{
	char num[24];

	key(j, k);
	/* The magnitude in unsigned arithmetic: -INT64_MIN does not fit an int64_t. */
	puts_(j, decimal(num, val < 0 ? UINT64_C(0) - (uint64_t)val : (uint64_t)val, val < 0));
}

void wd_json_uint(struct wd_json *j, const char *k, uint64_t val)
{
	char num[24];

	key(j, k);
	puts_(j, decimal(num, val, false));
}

void wd_json_bool(struct wd_json *j, const char *k, bool val)
{
	key(j, k);
	puts_(j, val ? "true" : "false");
}

void wd_json_null(struct wd_json *j, const char *k)
{
	key(j, k);
	puts_(j, "null");
}

void wd_json_strv(struct wd_json *j, const char *k, char *const *v)
{
	size_t i;

	key(j, k);
	put(j, "[", 1);
	for (i = 0; v && v[i]; i++) {
		if (i)
			put(j, ",", 1);
		put_string(j, v[i], strlen(v[i]));
	}
	put(j, "]", 1);
}

void wd_json_raw(struct wd_json *j, const char *k, const char *json)
{
	key(j, k);
	puts_(j, json);
}

int wd_json_end(struct wd_json *j)
{
	put(j, "}\n", 2);
	if (j->overflow || j->len >= j->cap)
		return -ENOBUFS;
	j->buf[j->len] = '\0';
	return (int)j->len;
}
