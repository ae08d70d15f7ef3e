/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_HTTP_H
#define WARDEN_HTTP_H

/*
 * The HTTP endpoint (http = ADDR:PORT, --http): /livez, /readyz and their
 * per-service forms, /metrics, /status, for Kubernetes probes and scrapers. A
 * minimal HTTP/1.1 responder of warden's own, served from warden's loop
 * like the control socket: no thread, nothing blocks, no timer and no
 * wake-up while nobody is connected. GET and HEAD only, one request per
 * connection; warden.7 documents what each path answers. Nothing a client
 * sends changes any state.
 *
 * Why not a library: libmicrohttpd and its kind bring threads (by
 * default), an LGPL licence, no static musl package in Debian and far more
 * code than a few read-only GETs need, inside PID 1. The parser is a pure
 * function (httpparse.c), fuzzed by fuzz/fuzz_http.c.
 */

#include <stddef.h>

struct sup;
struct http;

/* At most this many connections at once; the longest idle one makes room. */
#define HTTP_CONNS_MAX 64

/*
 * Listens on addr (ADDR:PORT, see http_addr_parse()) for the supervisor
 * sup. Returns 0 with the endpoint in *ret, or -1 with a message in err
 * (the socket cannot be bound, say).
 */
int http_open(struct sup *sup, const char *addr, struct http **ret, char *err, size_t errlen);

/* Closes every connection and the socket. NULL is fine. */
void http_close(struct http *h);

#endif
