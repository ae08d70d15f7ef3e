/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_HTTPPARSE_H
#define WARDEN_HTTPPARSE_H

/*
 * The HTTP side that touches untrusted bytes, as pure functions: a request
 * head in, what it asks for (or the status that refuses it) out; and the
 * ADDR:PORT of http = and --http. No I/O, no allocation, no global state,
 * so that a fuzzer drives them directly (fuzz/fuzz_http.c).
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A request head (request line and headers) may be this long at most. */
#define HTTP_REQUEST_MAX 8192

/* http_parse(): the head is not complete yet; read more. */
#define HTTP_MORE 0

enum http_method { HTTP_GET, HTTP_HEAD };

/* What a request asks for. Pointers go into the caller's buffer. */
struct http_request {
	enum http_method method;
	const char *path; /* starts with '/'; not NUL-terminated */
	size_t pathlen;
	const char *query; /* after '?', without it; NULL when there is none */
	size_t querylen;
	int minor;		 /* HTTP/1.minor */
	bool accept_openmetrics; /* Accept prefers application/openmetrics-text */
	size_t headlen;		 /* bytes of the head, up to its empty line; the rest is ignored */
};

/*
 * Reads the request head at the start of buf[0..len). Returns HTTP_MORE
 * while it is incomplete but fine so far (len < HTTP_REQUEST_MAX), 200
 * with *ret filled when it is a complete GET or HEAD, or the status that
 * answers it:
 *   400 malformed (request line, header, Host of HTTP/1.1, Content-Length)
 *   405 a method other than GET and HEAD (answer with Allow: GET, HEAD)
 *   413 a body announced larger than HTTP_REQUEST_MAX
 *   414 a request line longer than HTTP_REQUEST_MAX
 *   431 headers that make the head longer than HTTP_REQUEST_MAX
 *   505 an HTTP version other than 1.x
 * Bytes after the head (a body, pipelined requests) are not looked at.
 * *ret is untouched unless the result is 200.
 */
int http_parse(const char *buf, size_t len, struct http_request *ret);

/* Whether the query holds the parameter name ("verbose", "verbose=1", "a&verbose"). */
bool http_query_has(const struct http_request *r, const char *name);

/* The longest ADDR:PORT text: "[" an IPv6 address "]:65535". */
#define HTTP_ADDR_MAX 56

/*
 * Parses an address to listen on: IPV4:PORT or [IPV6]:PORT, numeric only
 * (127.0.0.1:9100, 0.0.0.0:9100, [::1]:9100, [::]:9100), PORT from 1 to
 * 65535. Returns 0 with the socket address in *ret and its length in
 * *ret_len, or -1 with the reason in *ret_err (a constant string).
 */
int http_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
		    const char **ret_err);

#endif
