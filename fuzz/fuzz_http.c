/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the HTTP endpoint's request parser, http_parse(): the input is
 * what a client sends, as the server holds it after some reads. Also,
 * when the input is short, the ADDR:PORT parser of http = and --http.
 *
 * Besides crashes and UB, it checks what httpparse.h promises: the result
 * is "more", 200 or one of the documented statuses; on 200 the method is
 * GET or HEAD and the request line says so, the path starts with '/' and
 * holds only visible ASCII with no '?' or '#', path and query point into
 * the head, and the head ends with its empty line. Reading the same bytes
 * as they arrive (every prefix) gives "more" until the answer, then the
 * same answer: a request is never decided differently for arriving in
 * pieces. A request rebuilt from a parsed one parses to the same thing.
 * An address that parses is rebuilt with inet_ntop() and parses to the
 * same socket address.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "httpparse.h"

static bool documented(int r)
{
	static const int ok[] = {HTTP_MORE, 200, 400, 405, 413, 414, 431, 505};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == r)
			return true;
	return false;
}

static bool same(const struct http_request *a, const struct http_request *b)
{
	return a->method == b->method && a->pathlen == b->pathlen &&
	       memcmp(a->path, b->path, a->pathlen) == 0 && !a->query == !b->query &&
	       a->querylen == b->querylen &&
	       (!a->query || memcmp(a->query, b->query, a->querylen) == 0) &&
	       a->minor == b->minor && a->accept_openmetrics == b->accept_openmetrics;
}

/* A plain reading of "name is a parameter of the query". */
static bool ref_query_has(const char *q, size_t n, const char *name)
{
	size_t nl = strlen(name), i, start = 0;

	for (i = 0; i <= n; i++) {
		if (i == n || q[i] == '&') {
			size_t len = i - start;
			const char *eq = memchr(q + start, '=', len);
			size_t key = eq ? (size_t)(eq - (q + start)) : len;

			if (key == nl && memcmp(q + start, name, nl) == 0)
				return true;
			start = i + 1;
		}
	}
	return false;
}

static void check_ok(const char *buf, size_t size, const struct http_request *q)
{
	size_t len = size < HTTP_REQUEST_MAX ? size : HTTP_REQUEST_MAX, i, start = 0;

	FUZZ_CHECK(q->method == HTTP_GET || q->method == HTTP_HEAD);
	FUZZ_CHECK(q->minor >= 0 && q->minor <= 9);
	FUZZ_CHECK(q->headlen > 0 && q->headlen <= len && buf[q->headlen - 1] == '\n');
	/* The request line starts after empty lines, with the method parsed. */
	while (buf[start] == '\n' || (buf[start] == '\r' && buf[start + 1] == '\n'))
		start += buf[start] == '\n' ? 1 : 2;
	FUZZ_CHECK(q->method == HTTP_GET ? memcmp(buf + start, "GET ", 4) == 0
					 : memcmp(buf + start, "HEAD ", 5) == 0);
	FUZZ_CHECK(q->pathlen >= 1 && q->path[0] == '/');
	/* "/" of an absolute-form request without a path is a constant. */
	FUZZ_CHECK((q->path >= buf && q->path + q->pathlen <= buf + q->headlen) ||
		   (q->pathlen == 1 && strcmp(q->path, "/") == 0));
	for (i = 0; i < q->pathlen; i++)
		FUZZ_CHECK(q->path[i] >= 0x21 && q->path[i] <= 0x7e && q->path[i] != '?' &&
			   q->path[i] != '#');
	if (q->query) {
		FUZZ_CHECK(q->query >= buf && q->query + q->querylen <= buf + q->headlen);
		FUZZ_CHECK(q->query[-1] == '?');
		for (i = 0; i < q->querylen; i++)
			FUZZ_CHECK(q->query[i] >= 0x21 && q->query[i] <= 0x7e &&
				   q->query[i] != '#');
		FUZZ_CHECK(http_query_has(q, "verbose") ==
			   ref_query_has(q->query, q->querylen, "verbose"));
	} else {
		FUZZ_CHECK(q->querylen == 0 && !http_query_has(q, "verbose"));
	}
}

/* The prefixes to try: all of the short ones, a spread of the others, and around the end. */
static void check_prefixes(const char *buf, size_t size, int r, const struct http_request *q)
{
	size_t len = size < HTTP_REQUEST_MAX ? size : HTTP_REQUEST_MAX, k, step;
	bool decided = false;

	step = len / 64 + 1;
	for (k = 0; k <= len; k += (k < 128 ? 1 : step)) {
		struct http_request p;
		int rp;

		memset(&p, 0, sizeof(p));
		rp = http_parse(buf, k, &p);
		FUZZ_CHECK(documented(rp));
		if (r == 200) {
			FUZZ_CHECK(rp == (k < q->headlen ? HTTP_MORE : 200));
			if (rp == 200)
				FUZZ_CHECK(same(&p, q) && p.headlen == q->headlen);
		} else {
			/* Once decided, decided the same way. */
			FUZZ_CHECK(rp == HTTP_MORE || rp == r);
			FUZZ_CHECK(!decided || rp == r);
			decided |= rp != HTTP_MORE;
		}
	}
	if (r == 200 && q->headlen > 0) {
		struct http_request p;

		FUZZ_CHECK(http_parse(buf, q->headlen - 1, &p) == HTTP_MORE);
		FUZZ_CHECK(http_parse(buf, q->headlen, &p) == 200 && same(&p, q));
	}
}

/* A request written back from the parsed one means the same. */
static void check_rebuilt(const struct http_request *q)
{
	static char line[HTTP_REQUEST_MAX * 2];
	struct http_request p;
	int n;

	n = snprintf(line, sizeof(line), "%s %.*s%s%.*s HTTP/1.%d\r\nHost: h\r\n%s\r\n",
		     q->method == HTTP_GET ? "GET" : "HEAD", (int)q->pathlen, q->path,
		     q->query ? "?" : "", (int)q->querylen, q->query ? q->query : "", q->minor,
		     q->accept_openmetrics ? "Accept: application/openmetrics-text\r\n" : "");
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line));
	if ((size_t)n > HTTP_REQUEST_MAX)
		return; /* an absolute-form request's path became longer than its line */
	FUZZ_CHECK(http_parse(line, (size_t)n, &p) == 200);
	FUZZ_CHECK(same(&p, q) && p.headlen == (size_t)n);
}

static void check_addr(const uint8_t *data, size_t size)
{
	char s[HTTP_ADDR_MAX + 8], host[INET6_ADDRSTRLEN], again[HTTP_ADDR_MAX + 16];
	struct sockaddr_storage a, b;
	socklen_t alen, blen;
	const char *why = NULL;
	unsigned port;

	if (size >= sizeof(s) || memchr(data, '\0', size))
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (http_addr_parse(s, &a, &alen, &why) < 0) {
		FUZZ_CHECK(why && why[0]);
		return;
	}
	if (a.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a;

		FUZZ_CHECK(alen == sizeof(*in) && s[0] != '[');
		FUZZ_CHECK(inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)));
		port = ntohs(in->sin_port);
		snprintf(again, sizeof(again), "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a;

		FUZZ_CHECK(a.ss_family == AF_INET6 && alen == sizeof(*in6) && s[0] == '[');
		FUZZ_CHECK(inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)));
		port = ntohs(in6->sin6_port);
		snprintf(again, sizeof(again), "[%s]:%u", host, port);
	}
	FUZZ_CHECK(port >= 1 && port <= 65535);
	FUZZ_CHECK(http_addr_parse(again, &b, &blen, &why) == 0);
	FUZZ_CHECK(blen == alen && memcmp(&a, &b, alen) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request q;
	char *buf;
	int r;

	/* The server's buffer is never larger; what is past it is never read. */
	if (size > HTTP_REQUEST_MAX + 16)
		return -1;
	buf = malloc(size + 1);
	FUZZ_CHECK(buf);
	memcpy(buf, data, size);
	buf[size] = '\0'; /* check_ok() may look one byte past a line end */

	memset(&q, 0xa5, sizeof(q));
	r = http_parse(buf, size, &q);
	FUZZ_CHECK(documented(r));
	if (size >= HTTP_REQUEST_MAX)
		FUZZ_CHECK(r != HTTP_MORE);
	if (r == 200) {
		check_ok(buf, size, &q);
		check_rebuilt(&q);
	}
	check_prefixes(buf, size, r, &q);
	check_addr(data, size);
	free(buf);
	return 0;
}
