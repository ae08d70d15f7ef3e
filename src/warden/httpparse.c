/* SPDX-License-Identifier: MIT */
/*
 * The request parser of warden's HTTP endpoint (RFC 9112's message syntax,
 * as much of it as a GET needs) and the ADDR:PORT parser of http =. Strict
 * where being lenient would make a request mean two things, lenient only
 * where RFC 9112 asks a server to be (empty lines before the request line,
 * a bare LF as a line end).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "httpparse.h"

/* RFC 9110's tchar: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A header value's bytes: visible ASCII, blanks and anything above 0x7f. */
static bool is_field_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of s[0..n) and the lower-case word w. */
static bool word_is(const char *s, size_t n, const char *w)
{
	size_t i;

	if (n != strlen(w))
		return false;
	for (i = 0; i < n; i++)
		if (lower(s[i]) != w[i])
			return false;
	return true;
}

/*
 * The next line of buf[pos..len): its length without the line end in
 * *ret_len, and where the following line starts. Returns false when no
 * line end has come yet. A line ends in CRLF or a bare LF; a CR elsewhere
 * stays in the line (and makes it malformed).
 */
static bool next_line(const char *buf, size_t len, size_t pos, size_t *ret_len, size_t *ret_next)
{
	const char *nl = memchr(buf + pos, '\n', len - pos);
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - (buf + pos));
	*ret_next = pos + n + 1;
	if (n > 0 && buf[pos + n - 1] == '\r')
		n--;
	*ret_len = n;
	return true;
}

/* A q value ("1", "0.5", "0.125", "1.000") in thousandths; -1 if malformed. */
static int parse_q(const char *s, size_t n)
{
	int v, scale = 100;
	size_t i;

	if (n == 0 || !is_digit((unsigned char)s[0]) || s[0] > '1')
		return -1;
	v = (s[0] - '0') * 1000;
	if (n == 1)
		return v;
	if (s[1] != '.' || n > 5)
		return -1;
	for (i = 2; i < n; i++, scale /= 10) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v += (s[i] - '0') * scale;
	}
	return v > 1000 ? -1 : v;
}

static size_t trim_left(const char *s, size_t i, size_t end)
{
	while (i < end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

static size_t trim_right(const char *s, size_t start, size_t end)
{
	while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
		end--;
	return end;
}

/*
 * The best q (thousandths) an Accept value gives OpenMetrics and plain
 * text (text/plain, or the ranges of all text and of everything), raised
 * into *om and *text; -1 means not named. A malformed element is skipped.
 */
static void accept_scan(const char *v, size_t n, int *om, int *text)
{
	size_t i = 0;

	while (i < n) {
		size_t end = i, tend, p;
		int q = 1000;

		while (end < n && v[end] != ',')
			end++;
		i = trim_left(v, i, end);
		tend = i;
		while (tend < end && v[tend] != ';' && v[tend] != ' ' && v[tend] != '\t')
			tend++;
		/* Parameters: only q matters here. */
		for (p = tend; p < end;) {
			size_t pe = p + 1, ps;

			while (pe < end && v[pe] != ';')
				pe++;
			ps = trim_left(v, p + (v[p] == ';'), pe);
			if (pe - ps >= 2 && lower(v[ps]) == 'q' && v[ps + 1] == '=')
				q = parse_q(v + ps + 2, trim_right(v, ps + 2, pe) - (ps + 2));
			p = pe;
		}
		if (q >= 0) {
			if (word_is(v + i, tend - i, "application/openmetrics-text"))
				*om = q > *om ? q : *om;
			else if (word_is(v + i, tend - i, "text/plain") ||
				 word_is(v + i, tend - i, "text/*") ||
				 word_is(v + i, tend - i, "*/*"))
				*text = q > *text ? q : *text;
		}
		i = end + 1;
	}
}

/*
 * The request line before its end has come: a method that is not a token
 * already makes it malformed (garbage gets its answer without waiting for
 * the read deadline). Returns 0 or 400.
 */
static int check_partial_line(const char *buf, size_t pos, size_t len)
{
	size_t i;

	for (i = pos; i < len && buf[i] != ' '; i++)
		if (!is_tchar((unsigned char)buf[i]) && !(buf[i] == '\r' && i + 1 == len))
			return 400;
	return i == pos && i < len ? 400 : 0;
}

/* Parses the request line buf[0..n). Returns 200 with the parts in *r, or a status. */
static int parse_request_line(const char *l, size_t n, struct http_request *r)
{
	const char *sp1 = memchr(l, ' ', n), *sp2, *t, *tend, *q;
	size_t i, vlen;

	if (!sp1 || sp1 == l)
		return 400;
	for (i = 0; l + i < sp1; i++)
		if (!is_tchar((unsigned char)l[i]))
			return 400;
	t = sp1 + 1;
	sp2 = memchr(t, ' ', (size_t)(l + n - t));
	if (!sp2 || sp2 == t)
		return 400;
	for (i = 0; t + i < sp2; i++)
		if ((unsigned char)t[i] < 0x21 || (unsigned char)t[i] > 0x7e)
			return 400;
	/* HTTP-version = "HTTP/" DIGIT "." DIGIT; the name is case-sensitive. */
	vlen = (size_t)(l + n - (sp2 + 1));
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/", 5) != 0 || !is_digit((unsigned char)sp2[6]) ||
	    sp2[7] != '.' || !is_digit((unsigned char)sp2[8]))
		return 400;
	if (sp2[6] != '1')
		return 505;
	/* The method is case-sensitive too: "get" is not GET. */
	if ((size_t)(sp1 - l) == 3 && memcmp(l, "GET", 3) == 0)
		r->method = HTTP_GET;
	else if ((size_t)(sp1 - l) == 4 && memcmp(l, "HEAD", 4) == 0)
		r->method = HTTP_HEAD;
	else
		return 405;
	r->minor = sp2[8] - '0';
	tend = sp2;
	/* absolute-form (a request meant for a proxy): its path counts. */
	if ((size_t)(tend - t) >= 7 && word_is(t, 7, "http://")) {
		const char *a = t + 7;

		while (a < tend && *a != '/' && *a != '?')
			a++;
		if (a == t + 7)
			return 400;
		if (a == tend || *a == '?') {
			/* No path: "/" (RFC 9112, 3.2.2). */
			r->path = "/";
			r->pathlen = 1;
			r->query = a < tend ? a + 1 : NULL;
			r->querylen = a < tend ? (size_t)(tend - a - 1) : 0;
			return memchr(t, '#', (size_t)(tend - t)) ? 400 : 200;
		}
		t = a;
	}
	if (*t != '/' || memchr(t, '#', (size_t)(tend - t)))
		return 400;
	q = memchr(t, '?', (size_t)(tend - t));
	r->path = t;
	r->pathlen = (size_t)((q ? q : tend) - t);
	r->query = q ? q + 1 : NULL;
	r->querylen = q ? (size_t)(tend - q - 1) : 0;
	return 200;
}

int http_parse(const char *buf, size_t len, struct http_request *ret)
{
	struct http_request r;
	size_t pos = 0, n, next;
	unsigned hosts = 0;
	int status, om = -1, text = -1;
	bool have_length = false, chunked = false;
	uint64_t length = 0;

	if (len > HTTP_REQUEST_MAX)
		len = HTTP_REQUEST_MAX;
	memset(&r, 0, sizeof(r));
	/* Empty lines before the request line are skipped (RFC 9112, 2.2). */
	while (pos < len &&
	       (buf[pos] == '\n' || (buf[pos] == '\r' && pos + 1 < len && buf[pos + 1] == '\n')))
		pos += buf[pos] == '\n' ? 1 : 2;
	if (!next_line(buf, len, pos, &n, &next)) {
		status = check_partial_line(buf, pos, len);
		if (status)
			return status;
		return len == HTTP_REQUEST_MAX ? 414 : HTTP_MORE;
	}
	if (memchr(buf + pos, '\r', n))
		return 400;
	status = parse_request_line(buf + pos, n, &r);
	if (status != 200)
		return status;
	for (pos = next;; pos = next) {
		const char *l = buf + pos, *colon, *v;
		size_t i, vs, ve;

		if (!next_line(buf, len, pos, &n, &next))
			return len == HTTP_REQUEST_MAX ? 431 : HTTP_MORE;
		if (n == 0)
			break;
		/* A line folded onto the one before (obs-fold) is refused (RFC 9112, 5.2). */
		if (l[0] == ' ' || l[0] == '\t')
			return 400;
		colon = memchr(l, ':', n);
		if (!colon || colon == l)
			return 400;
		for (i = 0; l + i < colon; i++)
			if (!is_tchar((unsigned char)l[i]))
				return 400;
		for (i = (size_t)(colon - l) + 1; i < n; i++)
			if (!is_field_byte((unsigned char)l[i]))
				return 400;
		vs = trim_left(l, (size_t)(colon - l) + 1, n);
		ve = trim_right(l, vs, n);
		v = l + vs;
		if (word_is(l, (size_t)(colon - l), "host")) {
			hosts++;
		} else if (word_is(l, (size_t)(colon - l), "content-length")) {
			uint64_t x = 0;

			if (ve == vs)
				return 400;
			for (i = vs; i < ve; i++) {
				if (!is_digit((unsigned char)l[i]))
					return 400;
				if (x <= HTTP_REQUEST_MAX)
					x = x * 10 + (uint64_t)(l[i] - '0');
			}
			if (have_length && x != length)
				return 400;
			have_length = true;
			length = x;
		} else if (word_is(l, (size_t)(colon - l), "transfer-encoding")) {
			chunked = true;
		} else if (word_is(l, (size_t)(colon - l), "accept")) {
			accept_scan(v, ve - vs, &om, &text);
		}
	}
	/* Both framings at once is how requests are smuggled (RFC 9112, 6.1). */
	if (have_length && chunked)
		return 400;
	/* HTTP/1.1 needs exactly one Host; none is older HTTP's right. */
	if (hosts > 1 || (r.minor >= 1 && hosts == 0))
		return 400;
	if (have_length && length > HTTP_REQUEST_MAX)
		return 413;
	r.accept_openmetrics = om > 0 && om >= text;
	r.headlen = next;
	*ret = r;
	return 200;
}

bool http_query_has(const struct http_request *r, const char *name)
{
	size_t nl = strlen(name), i = 0;

	if (!r->query)
		return false;
	while (i <= r->querylen) {
		size_t end = i;

		while (end < r->querylen && r->query[end] != '&')
			end++;
		if ((end - i == nl || (end - i > nl && r->query[i + nl] == '=')) &&
		    memcmp(r->query + i, name, nl) == 0)
			return true;
		i = end + 1;
	}
	return false;
}

/* PORT: 1 to 65535, decimal, no sign, no leading zero. */
static int parse_port(const char *s, unsigned *ret)
{
	unsigned v = 0;
	size_t i;

	if (!*s || *s == '0' || strlen(s) > 5)
		return -1;
	for (i = 0; s[i]; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*ret = v;
	return 0;
}

int http_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
		    const char **ret_err)
{
	char host[HTTP_ADDR_MAX];
	const char *colon;
	unsigned port;
	size_t n;

	if (strlen(s) >= HTTP_ADDR_MAX) {
		*ret_err = "too long";
		return -1;
	}
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		struct sockaddr_in6 a;

		if (!close || close[1] != ':') {
			*ret_err = "expected [IPV6]:PORT";
			return -1;
		}
		n = (size_t)(close - s - 1);
		memcpy(host, s + 1, n);
		host[n] = '\0';
		memset(&a, 0, sizeof(a));
		a.sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &a.sin6_addr) != 1) {
			*ret_err = "not an IPv6 address between the brackets";
			return -1;
		}
		if (parse_port(close + 2, &port) < 0) {
			*ret_err = "the port must be a number from 1 to 65535";
			return -1;
		}
		a.sin6_port = htons((uint16_t)port);
		memset(ret, 0, sizeof(*ret));
		memcpy(ret, &a, sizeof(a));
		*ret_len = sizeof(a);
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon) {
		*ret_err = "expected ADDR:PORT";
		return -1;
	}
	if (memchr(s, ':', (size_t)(colon - s))) {
		*ret_err = "an IPv6 address goes between brackets: [IPV6]:PORT";
		return -1;
	}
	{
		struct sockaddr_in a;

		n = (size_t)(colon - s);
		memcpy(host, s, n);
		host[n] = '\0';
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
			*ret_err = "not a numeric IPv4 address (names are not looked up)";
			return -1;
		}
		if (parse_port(colon + 1, &port) < 0) {
			*ret_err = "the port must be a number from 1 to 65535";
			return -1;
		}
		a.sin_port = htons((uint16_t)port);
		memset(ret, 0, sizeof(*ret));
		memcpy(ret, &a, sizeof(a));
		*ret_len = sizeof(a);
	}
	return 0;
}
