/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the HTTP endpoint's request and address parsers
 * (src/warden/httpparse.h): what each kind of request is answered with.
 */

#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "httpparse.h"

static int parse_at(const char *s, size_t n, struct http_request *r, int expect, int line)
{
	int got = http_parse(s, n, r);

	if (got != expect) {
		print_error("line %d: http_parse(\"%.*s\") = %d; expected %d\n", line, (int)n, s,
			    got, expect);
		fail();
	}
	return got;
}
#define check(s, e) parse_at(s, strlen(s), &r, e, __LINE__)

static bool path_eq(const struct http_request *r, const char *p)
{
	return r->pathlen == strlen(p) && memcmp(r->path, p, r->pathlen) == 0;
}

static void test_good(void **state)
{
	struct http_request r;

	(void)state;
	check("GET /livez HTTP/1.1\r\nHost: h\r\n\r\n", 200);
	assert_int_equal(r.method, HTTP_GET);
	assert_true(path_eq(&r, "/livez"));
	assert_null(r.query);
	assert_int_equal(r.minor, 1);
	assert_false(r.accept_openmetrics);
	check("HEAD /readyz/web?verbose HTTP/1.0\r\n\r\n", 200);
	assert_int_equal(r.method, HTTP_HEAD);
	assert_true(path_eq(&r, "/readyz/web"));
	assert_int_equal(r.querylen, 7);
	assert_true(http_query_has(&r, "verbose"));
	assert_false(http_query_has(&r, "verb"));
	check("GET /readyz?a=1&verbose=1 HTTP/1.1\r\nHost: h\r\n\r\n", 200);
	assert_true(http_query_has(&r, "verbose"));
	check("GET /readyz?verbosex HTTP/1.1\r\nHost: h\r\n\r\n", 200);
	assert_false(http_query_has(&r, "verbose"));
	/* Empty lines first, bare LFs: what RFC 9112 asks a server to take. */
	check("\r\n\nGET / HTTP/1.1\nHost: h\n\n", 200);
	assert_true(path_eq(&r, "/"));
	/* absolute-form: its path counts. */
	check("GET http://127.0.0.1:9100/status?x HTTP/1.1\r\nHost: h\r\n\r\n", 200);
	assert_true(path_eq(&r, "/status"));
	check("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", 200);
	assert_true(path_eq(&r, "/"));
	/* What follows the head is not looked at. */
	check("GET /livez HTTP/1.1\r\nHost: h\r\n\r\n\x01\x02garbage", 200);
	assert_int_equal(r.headlen, strlen("GET /livez HTTP/1.1\r\nHost: h\r\n\r\n"));
	check("GET / HTTP/1.9\r\nHost: h\r\n\r\n", 200);
}

static void test_accept(void **state)
{
	struct http_request r;

	(void)state;
	/* Prometheus' own Accept prefers OpenMetrics. */
	check("GET /metrics HTTP/1.1\r\nHost: h\r\nAccept: application/openmetrics-text;"
	      "version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;"
	      "version=0.0.4;q=0.5,*/*;q=0.1\r\n\r\n",
	      200);
	assert_true(r.accept_openmetrics);
	check("GET /metrics HTTP/1.1\r\nHost: h\r\nAccept: text/plain, "
	      "application/openmetrics-text;q=0.5\r\n\r\n",
	      200);
	assert_false(r.accept_openmetrics);
	check("GET /metrics HTTP/1.1\r\nHost: h\r\nAccept: Application/OpenMetrics-Text\r\n\r\n",
	      200);
	assert_true(r.accept_openmetrics);
	check("GET /metrics HTTP/1.1\r\nHost: h\r\nAccept: "
	      "application/openmetrics-text;q=0\r\n\r\n",
	      200);
	assert_false(r.accept_openmetrics);
	check("GET /metrics HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", 200);
	assert_false(r.accept_openmetrics);
}

static void test_more(void **state)
{
	struct http_request r;

	(void)state;
	check("", HTTP_MORE);
	check("GE", HTTP_MORE);
	check("GET /livez HTTP/1.1\r", HTTP_MORE);
	check("GET /livez HTTP/1.1\r\nHost: h\r\n", HTTP_MORE);
	check("GET /livez HTTP/1.1\r\nHost: h\r\n\r", HTTP_MORE);
}

static void test_refused(void **state)
{
	struct http_request r;
	char big[HTTP_REQUEST_MAX + 64];

	(void)state;
	check("POST /livez HTTP/1.1\r\nHost: h\r\n\r\n", 405);
	check("PUT /livez HTTP/1.1\r\n", 405);
	check("DELETE /livez HTTP/1.1\r\n", 405);
	check("get /livez HTTP/1.1\r\n", 405);
	check("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505);
	check("GET / HTTP/0.9\r\n", 505);
	check("GET / http/1.1\r\n", 400);
	check("GET / HTTP/1.10\r\n", 400);
	check("GET /\r\n", 400);
	check("GET  / HTTP/1.1\r\n", 400);
	check("GET / HTTP/1.1 \r\n", 400);
	check("GET livez HTTP/1.1\r\n", 400);
	check("GET /a#b HTTP/1.1\r\n", 400);
	check("GET /a\x7f HTTP/1.1\r\n", 400);
	check("GET /a\rb HTTP/1.1\r\n", 400);
	check("GET /livez HTTP/1.1\r\n\r\n", 400); /* HTTP/1.1 without Host */
	check("GET /livez HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost : h\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	      400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: "
	      "chunked\r\n\r\n",
	      400);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nContent-Length: 8193\r\n\r\n", 413);
	check("GET /livez HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n",
	      413);
	/* Garbage is refused as soon as it cannot be a method. */
	check("\x16\x03\x01", 400);
	check(" GET", 400);

	/* A request line that fills the buffer: 414; headers that do: 431. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	parse_at(big, HTTP_REQUEST_MAX, &r, 414, __LINE__);
	parse_at(big, sizeof(big), &r, 414, __LINE__);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	parse_at(big, HTTP_REQUEST_MAX, &r, 431, __LINE__);
	parse_at(big, HTTP_REQUEST_MAX - 1, &r, HTTP_MORE, __LINE__);
}

static void addr_ok(const char *s, int family, const char *host, unsigned port)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why = NULL;
	char buf[INET6_ADDRSTRLEN];

	if (http_addr_parse(s, &sa, &len, &why) < 0) {
		print_error("http_addr_parse(\"%s\") failed: %s\n", s, why);
		fail();
	}
	assert_int_equal(sa.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&sa;

		assert_int_equal(len, sizeof(*a));
		assert_string_equal(inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf)), host);
		assert_int_equal(ntohs(a->sin_port), port);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;

		assert_int_equal(len, sizeof(*a));
		assert_string_equal(inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf)), host);
		assert_int_equal(ntohs(a->sin6_port), port);
	}
}

static void addr_bad(const char *s)
{
	struct sockaddr_storage sa;
	socklen_t len = 12345;
	const char *why = NULL;

	if (http_addr_parse(s, &sa, &len, &why) == 0) {
		print_error("http_addr_parse(\"%s\") succeeded\n", s);
		fail();
	}
	assert_non_null(why);
	assert_int_equal(len, 12345);
}

static void test_addr(void **state)
{
	(void)state;
	addr_ok("127.0.0.1:9100", AF_INET, "127.0.0.1", 9100);
	addr_ok("0.0.0.0:9100", AF_INET, "0.0.0.0", 9100);
	addr_ok("[::1]:9100", AF_INET6, "::1", 9100);
	addr_ok("[::]:9100", AF_INET6, "::", 9100);
	addr_ok("10.1.2.3:1", AF_INET, "10.1.2.3", 1);
	addr_ok("[fe80::1]:65535", AF_INET6, "fe80::1", 65535);
	addr_bad("");
	addr_bad("9100");
	addr_bad(":9100");
	addr_bad("localhost:9100");
	addr_bad("127.0.0.1");
	addr_bad("127.0.0.1:");
	addr_bad("127.0.0.1:0");
	addr_bad("127.0.0.1:65536");
	addr_bad("127.0.0.1:09100");
	addr_bad("127.0.0.1:+910");
	addr_bad("127.0.0.1:9100 ");
	addr_bad("127.1:9100");
	addr_bad("::1:9100");
	addr_bad("[::1]9100");
	addr_bad("[::1]:");
	addr_bad("[127.0.0.1]:9100");
	addr_bad("[::1:9100");
	addr_bad("http://127.0.0.1:9100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good), cmocka_unit_test(test_accept),
		cmocka_unit_test(test_more), cmocka_unit_test(test_refused),
		cmocka_unit_test(test_addr),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
