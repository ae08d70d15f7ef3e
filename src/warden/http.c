/* SPDX-License-Identifier: MIT */
/*
 * The HTTP endpoint, server side (http.h says why it is warden's own). Like
 * the control socket, every connection is a slot of a table sized at
 * start-up, and the longest idle one gives its slot up when a new client
 * needs it. A connection lives through three phases, each with one
 * deadline: reading the request head (HTTP_READ_TIMEOUT from the accept,
 * however slowly bytes trickle in), writing the answer (nonblocking, the
 * rest when the socket is writable), and a lingering close (what the
 * client still sends is read and thrown away for a moment, so that closing
 * with unread bytes does not reset the connection before the client has
 * read the answer). The timers exist only while a connection does.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/json.h>

#include "control.h"
#include "http.h"
#include "httpparse.h"
#include "log.h"
#include "metrics.h"
#include "supervisor.h"

#define HTTP_READ_TIMEOUT (5 * WD_NSEC_PER_SEC)
#define HTTP_WRITE_TIMEOUT (10 * WD_NSEC_PER_SEC)
#define HTTP_LINGER_TIMEOUT (2 * WD_NSEC_PER_SEC)
/* A lingering close reads at most this much before it closes all the same. */
#define HTTP_LINGER_MAX (64 * 1024)
/* Accepted per wake-up at most, so that signals and children are not kept waiting. */
#define HTTP_ACCEPT_ROUND 32

#define TEXT_PLAIN "text/plain; charset=utf-8"

/* The status line and headers of an answer fit in this. */
#define HTTP_HEAD_MAX 512
/* A slot's buffers: the request, then the head of the answer. */
#define HTTP_SLOT_BYTES (HTTP_REQUEST_MAX + HTTP_HEAD_MAX)

enum phase { READING, WRITING, LINGERING };

struct conn {
	struct http *h;
	wd_io io; /* fd < 0: a free slot */
	enum phase phase;
	char *in; /* HTTP_REQUEST_MAX bytes, the slot's own */
	size_t inlen;
	char *head; /* HTTP_HEAD_MAX bytes: the status line and headers of the answer */
	size_t headlen;
	const char *body;
	size_t bodylen; /* what is sent of it: 0 for HEAD */
	char *owned;	/* body, when it is to be freed */
	size_t sent;	/* of head, then body */
	size_t lingered;
	wd_timer timer;
	uint64_t last_active;
};

struct http {
	struct sup *sup;
	wd_io io;
	wd_timer pause; /* accepting again, after running out of descriptors */
	char addr[HTTP_ADDR_MAX];
	char *bufs; /* the slots' buffers, touched only when used */
	struct conn conns[HTTP_CONNS_MAX];
};

/* --- connections ------------------------------------------------------------ */

static void conn_close(struct conn *c)
{
	if (c->io.fd < 0)
		return;
	wd_io_stop(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	wd_timer_stop(&c->timer);
	free(c->owned);
	c->owned = NULL;
	c->body = NULL;
	c->inlen = c->headlen = c->bodylen = c->sent = c->lingered = 0;
}

static void conn_deadline(struct conn *c, uint64_t after)
{
	(void)wd_timer_start(sup_loop(c->h->sup), &c->timer, wd_now() + after);
}

/* The answer is out: stop sending, and read what the client still sends for a moment. */
static void conn_linger(struct conn *c)
{
	free(c->owned);
	c->owned = NULL;
	c->body = NULL;
	if (shutdown(c->io.fd, SHUT_WR) < 0 || wd_io_modify(&c->io, EPOLLIN) < 0) {
		conn_close(c);
		return;
	}
	c->phase = LINGERING;
	c->last_active = wd_now();
	conn_deadline(c, HTTP_LINGER_TIMEOUT);
}

/* Sends what is left of the answer; the rest when the socket is writable. */
static void conn_flush(struct conn *c)
{
	for (;;) {
		struct iovec iov[2];
		struct msghdr m = {.msg_iov = iov};
		size_t total = c->headlen + c->bodylen;
		ssize_t n;

		if (c->sent >= total) {
			conn_linger(c);
			return;
		}
		if (c->sent < c->headlen) {
			iov[0].iov_base = c->head + c->sent;
			iov[0].iov_len = c->headlen - c->sent;
			iov[1].iov_base = (void *)c->body;
			iov[1].iov_len = c->bodylen;
			m.msg_iovlen = c->bodylen ? 2 : 1;
		} else {
			iov[0].iov_base = (void *)(c->body + (c->sent - c->headlen));
			iov[0].iov_len = total - c->sent;
			m.msg_iovlen = 1;
		}
		/* MSG_NOSIGNAL: a SIGPIPE would be read by the signalfd and forwarded. */
		n = sendmsg(c->io.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wd_io_modify(&c->io, EPOLLOUT) < 0)
					conn_close(c);
				return;
			}
			conn_close(c);
			return;
		}
		c->sent += (size_t)n;
		c->last_active = wd_now();
	}
}

/* The statuses warden answers with; each one's reason, which is also its body. */
static const struct {
	int status;
	const char *text; /* the reason phrase and a newline */
} statuses[] = {
	{200, "OK\n"},
	{400, "Bad Request\n"},
	{404, "Not Found\n"},
	{405, "Method Not Allowed\n"},
	{408, "Request Timeout\n"},
	{413, "Content Too Large\n"},
	{414, "URI Too Long\n"},
	{431, "Request Header Fields Too Large\n"},
	{503, "Service Unavailable\n"},
	{505, "HTTP Version Not Supported\n"},
};

static const char *status_text(int status)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status)
			return statuses[i].text;
	return "Internal Server Error\n";
}

/*
 * Answers with status and body (len bytes; taken over and freed when
 * owned is set); HEAD gets the same headers and no body. Always the
 * exact Content-Length, a Content-Type and Connection: close.
 */
static void reply(struct conn *c, bool head_only, int status, const char *type, const char *body,
		  size_t len, char *owned)
{
	char date[64];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	/* The C locale's names are HTTP's (warden never calls setlocale()). */
	if (!gmtime_r(&now, &tm) || !strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm))
		date[0] = '\0';
	n = snprintf(c->head, HTTP_HEAD_MAX,
		     "HTTP/1.1 %d %.*s\r\n"
		     "Content-Type: %s\r\n"
		     "Content-Length: %zu\r\n"
		     "Connection: close\r\n"
		     "Cache-Control: no-store\r\n"
		     "X-Content-Type-Options: nosniff\r\n"
		     "%s%s%s"
		     "%s"
		     "\r\n",
		     status, (int)strlen(status_text(status)) - 1, status_text(status), type, len,
		     date[0] ? "Date: " : "", date, date[0] ? "\r\n" : "",
		     status == 405 ? "Allow: GET, HEAD\r\n" : "");
	c->headlen = n > 0 && n < HTTP_HEAD_MAX ? (size_t)n : 0;
	c->owned = owned;
	c->body = body;
	c->bodylen = head_only ? 0 : len;
	c->sent = 0;
	c->phase = WRITING;
	c->last_active = wd_now();
	conn_deadline(c, HTTP_WRITE_TIMEOUT);
	if (!c->headlen) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

/* An error status, its reason as the body. */
static void reply_status(struct conn *c, bool head_only, int status)
{
	const char *text = status_text(status);

	reply(c, head_only, status, TEXT_PLAIN, text, strlen(text), NULL);
}

/* --- text bodies ---------------------------------------------------------- */

/* A body being written; a failed allocation makes it failed, not shorter. */
struct text {
	char *p;
	size_t len, cap;
	bool failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->p && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
			char *p = realloc(t->p, cap);

			if (!p) {
				t->failed = true;
				return;
			}
			t->p = p;
			t->cap = cap;
		}
	}
}

/* --- /livez and /readyz ----------------------------------------------------- */

/* warden itself, as the checks name it: no service can be called so ([warden] is taken). */
#define SELF "warden"

enum probe { LIVEZ, READYZ };

/*
 * Why s is not live, into buf, or NULL when it is: it has failed for good,
 * or its health checks failed health_failures times in a row.
 */
static const char *live_failure(const struct svc *s, char *buf, size_t size)
{
	char how[64];
	const char *last;

	if (svc_is_failed(s)) {
		last = svc_last_exit(s, how, sizeof(how));
		snprintf(buf, size, "failed for good%s%s", last ? ": " : "", last ? last : "");
		return buf;
	}
	if (svc_is_unhealthy(s)) {
		last = svc_health_reason(s);
		snprintf(buf, size, "unhealthy%s%s", last ? ": " : "", last ? last : "");
		return buf;
	}
	return NULL;
}

/*
 * Why s is not ready, into buf, or NULL when it is ready: running (ready,
 * or started with no readiness check), or a oneshot that succeeded. The
 * reason is its state, and how its last run ended once one did.
 */
static const char *ready_failure(const struct svc *s, char *buf, size_t size)
{
	char how[64];
	const char *last;

	if (svc_is_ready(s))
		return NULL;
	last = svc_pid(s) ? NULL : svc_last_exit(s, how, sizeof(how));
	snprintf(buf, size, "%s%s%s%s", svc_state_text(s), last ? " (last run " : "",
		 last ? last : "", last ? ")" : "");
	return buf;
}

/* warden's own check: its loop runs (it answers); for /readyz, it is not shutting down. */
static const char *self_failure(struct http *h, enum probe p)
{
	return p == READYZ && sup_shutting_down(h->sup) ? "shutting down" : NULL;
}

/* Writes one check's line; returns whether it passed. */
static bool check_line(struct text *t, const char *name, const char *failure)
{
	if (failure)
		text_add(t, "[-]%s failed: %s\n", name, failure);
	else
		text_add(t, "[+]%s ok\n", name);
	return !failure;
}

/*
 * /livez, /readyz, and with one, the check of that name alone: 200 when
 * every check passes, else 503. The body is "ok" when it passes and
 * ?verbose was not asked; else one line per check, then "livez check
 * passed" or "... failed", as kube-apiserver writes them.
 */
static void serve_probe(struct conn *c, const struct http_request *r, enum probe p, const char *one,
			size_t onelen)
{
	static const char *const names[] = {[LIVEZ] = "livez", [READYZ] = "readyz"};
	struct http *h = c->h;
	bool head_only = r->method == HTTP_HEAD, ok = true;
	struct text t = {0};
	char why[160];
	size_t i;

	if (one && !(onelen == strlen(SELF) && memcmp(one, SELF, onelen) == 0)) {
		char name[256];
		struct svc *s;

		if (onelen >= sizeof(name) || memchr(one, '\0', onelen)) {
			reply_status(c, head_only, 404);
			return;
		}
		memcpy(name, one, onelen);
		name[onelen] = '\0';
		s = sup_find(h->sup, name);
		if (!s) {
			reply_status(c, head_only, 404);
			return;
		}
		ok = check_line(&t, svc_name(s),
				p == LIVEZ ? live_failure(s, why, sizeof(why))
					   : ready_failure(s, why, sizeof(why)));
	} else {
		ok = check_line(&t, SELF, self_failure(h, p));
		for (i = 0; !one && i < sup_count(h->sup); i++) {
			const struct svc *s = sup_get(h->sup, i);

			/* warden lives on while a service that is not essential has failed. */
			if (p == LIVEZ && !svc_is_essential(s))
				continue;
			ok &= check_line(&t, svc_name(s),
					 p == LIVEZ ? live_failure(s, why, sizeof(why))
						    : ready_failure(s, why, sizeof(why)));
		}
	}
	if (ok && !http_query_has(r, "verbose")) {
		free(t.p);
		reply(c, head_only, 200, TEXT_PLAIN, "ok", 2, NULL);
		return;
	}
	text_add(&t, "%s check %s\n", names[p], ok ? "passed" : "failed");
	if (t.failed) {
		/* No memory for the list: the status code still tells. */
		free(t.p);
		reply(c, head_only, ok ? 200 : 503, TEXT_PLAIN, ok ? "ok" : "failed\n", ok ? 2 : 7,
		      NULL);
		return;
	}
	reply(c, head_only, ok ? 200 : 503, TEXT_PLAIN, t.p, t.len, t.p);
}

/* --- /status ---------------------------------------------------------------- */

/* What "warden ctl status --json" prints. */
static void serve_status(struct conn *c, const struct http_request *r)
{
	bool head_only = r->method == HTTP_HEAD;
	struct wd_json j;
	int n;

	if (wd_json_begin_alloc(&j, CONTROL_REPLY_MAX) < 0) {
		reply_status(c, head_only, 503);
		return;
	}
	control_status_json(c->h->sup, &j, NULL, 0, false);
	n = wd_json_end(&j);
	if (n < 0) {
		free(j.buf);
		reply_status(c, head_only, 503);
		return;
	}
	reply(c, head_only, 200, "application/json", j.buf, (size_t)n, j.buf);
}

/* --- /metrics --------------------------------------------------------------- */

/*
 * The exposition of warden ctl metrics (warden-metrics(7)): OpenMetrics when
 * Accept prefers it (Prometheus asks for it first), else text format 0.0.4.
 */
static void serve_metrics(struct conn *c, const struct http_request *r)
{
	bool head_only = r->method == HTTP_HEAD;
	size_t len;
	char *text = metrics_render(c->h->sup, r->accept_openmetrics, &len);

	if (!text) {
		reply_status(c, head_only, 503);
		return;
	}
	reply(c, head_only, 200,
	      r->accept_openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
				    : "text/plain; version=0.0.4; charset=utf-8",
	      text, len, text);
}

/* --- requests --------------------------------------------------------------- */

static bool path_is(const struct http_request *r, const char *p)
{
	return r->pathlen == strlen(p) && memcmp(r->path, p, r->pathlen) == 0;
}

/* "/livez/NAME": NAME, or NULL when r's path is not under prefix ("/livez/"). */
static const char *path_under(const struct http_request *r, const char *prefix, size_t *ret_len)
{
	size_t n = strlen(prefix);

	if (r->pathlen <= n || memcmp(r->path, prefix, n) != 0)
		return NULL;
	*ret_len = r->pathlen - n;
	return r->path + n;
}

static void route(struct conn *c, const struct http_request *r)
{
	const char *one;
	size_t onelen;

	if (path_is(r, "/livez"))
		serve_probe(c, r, LIVEZ, NULL, 0);
	else if (path_is(r, "/readyz"))
		serve_probe(c, r, READYZ, NULL, 0);
	else if ((one = path_under(r, "/livez/", &onelen)))
		serve_probe(c, r, LIVEZ, one, onelen);
	else if ((one = path_under(r, "/readyz/", &onelen)))
		serve_probe(c, r, READYZ, one, onelen);
	else if (path_is(r, "/status"))
		serve_status(c, r);
	else if (path_is(r, "/metrics"))
		serve_metrics(c, r);
	else
		reply_status(c, r->method == HTTP_HEAD, 404);
}

/* Reads the request head; answers it once it is whole (or refuses it). */
static void conn_read(struct conn *c)
{
	struct http_request r;
	ssize_t n;
	int status;

	n = recv(c->io.fd, c->in + c->inlen, HTTP_REQUEST_MAX - c->inlen, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* Gone before a whole request: nobody to answer. */
		conn_close(c);
		return;
	}
	c->inlen += (size_t)n;
	c->last_active = wd_now();
	status = http_parse(c->in, c->inlen, &r);
	if (status == HTTP_MORE)
		return;
	if (status != 200) {
		/* A HEAD that is refused still gets no body. */
		reply_status(c, c->inlen >= 5 && memcmp(c->in, "HEAD ", 5) == 0, status);
		return;
	}
	route(c, &r);
}

/* Throws away what the client sends after its request, until it closes. */
static void conn_drain(struct conn *c)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->io.fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || (c->lingered += (size_t)n) > HTTP_LINGER_MAX) {
			conn_close(c);
			return;
		}
	}
}

static void on_conn(wd_io *io, uint32_t revents)
{
	struct conn *c = io->data;

	if (revents & EPOLLERR) {
		conn_close(c);
		return;
	}
	switch (c->phase) {
	case READING:
		conn_read(c);
		return;
	case WRITING:
		if (revents & EPOLLHUP)
			conn_close(c);
		else
			conn_flush(c);
		return;
	case LINGERING:
		conn_drain(c);
		return;
	}
}

static void on_conn_deadline(wd_timer *t)
{
	struct conn *c = t->data;

	if (c->io.fd < 0)
		return;
	if (c->phase == READING) {
		log_info(2, "http: no whole request within the read deadline; closing");
		reply_status(c, false, 408);
		/* What did not go out at once is not worth a longer wait. */
		if (c->io.fd >= 0 && c->phase == WRITING)
			conn_close(c);
		return;
	}
	conn_close(c);
}

/* --- accepting -------------------------------------------------------------- */

/* A free slot, or the one idle the longest (answered ones first) made free. */
static struct conn *free_slot(struct http *h)
{
	struct conn *victim = NULL;
	size_t i;

	for (i = 0; i < HTTP_CONNS_MAX; i++) {
		struct conn *c = &h->conns[i];

		if (c->io.fd < 0)
			return c;
		if (!victim || (c->phase == LINGERING) > (victim->phase == LINGERING) ||
		    ((c->phase == LINGERING) == (victim->phase == LINGERING) &&
		     c->last_active < victim->last_active))
			victim = c;
	}
	log_info(2, "http: %d connections open, closing the longest idle one", HTTP_CONNS_MAX);
	conn_close(victim);
	return victim;
}

static void on_pause_over(wd_timer *t)
{
	struct http *h = t->data;

	if (wd_io_modify(&h->io, EPOLLIN) < 0)
		log_error("http: cannot accept connections again on %s", h->addr);
}

static void on_accept(wd_io *io, uint32_t revents)
{
	struct http *h = io->data;
	int round;

	(void)revents;
	for (round = 0; round < HTTP_ACCEPT_ROUND; round++) {
		struct conn *c;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 &&
		    (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
			/* The socket stays readable: pause rather than spin. */
			log_error("http: cannot accept a connection: %s; pausing for a second",
				  strerror(errno));
			(void)wd_io_modify(&h->io, 0);
			(void)wd_timer_start(sup_loop(h->sup), &h->pause,
					     wd_now() + WD_NSEC_PER_SEC);
			return;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		c = free_slot(h);
		c->phase = READING;
		c->inlen = 0;
		c->last_active = wd_now();
		c->io.fd = fd;
		c->io.events = EPOLLIN;
		if (wd_io_start(sup_loop(h->sup), &c->io) < 0) {
			close(fd);
			c->io.fd = -1;
			continue;
		}
		conn_deadline(c, HTTP_READ_TIMEOUT);
	}
}

/* --- the socket ------------------------------------------------------------- */

int http_open(struct sup *sup, const char *addr, struct http **ret, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	const char *why;
	struct http *h;
	int fd, one = 1;
	size_t i;

	if (http_addr_parse(addr, &sa, &salen, &why) < 0) {
		snprintf(err, errlen, "invalid http address '%s': %s", addr, why);
		return -1;
	}
	h = calloc(1, sizeof(*h));
	/* Untouched until a connection uses its part: no memory while nobody connects. */
	if (h)
		h->bufs = calloc(HTTP_CONNS_MAX, HTTP_SLOT_BYTES);
	if (!h || !h->bufs) {
		free(h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->sup = sup;
	snprintf(h->addr, sizeof(h->addr), "%s", addr);
	for (i = 0; i < HTTP_CONNS_MAX; i++) {
		struct conn *c = &h->conns[i];

		c->h = h;
		c->io.fd = -1;
		c->io.cb = on_conn;
		c->io.data = c;
		c->in = h->bufs + i * HTTP_SLOT_BYTES;
		c->head = c->in + HTTP_REQUEST_MAX;
		c->timer.cb = on_conn_deadline;
		c->timer.data = c;
	}
	h->pause.cb = on_pause_over;
	h->pause.data = h;
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the http socket: %s", strerror(errno));
		goto fail_free;
	}
	/* A restarted warden binds again at once, whatever old connections linger. */
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, HTTP_CONNS_MAX) < 0) {
		snprintf(err, errlen, "cannot listen on http %s: %s", addr, strerror(errno));
		goto fail_close;
	}
	h->io.fd = fd;
	h->io.events = EPOLLIN;
	h->io.cb = on_accept;
	h->io.data = h;
	if (wd_io_start(sup_loop(sup), &h->io) < 0) {
		snprintf(err, errlen, "cannot watch the http socket");
		goto fail_close;
	}
	*ret = h;
	log_info(1, "http: listening on %s", addr);
	return 0;
fail_close:
	close(fd);
fail_free:
	free(h->bufs);
	free(h);
	return -1;
}

void http_close(struct http *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < HTTP_CONNS_MAX; i++)
		conn_close(&h->conns[i]);
	wd_io_stop(&h->io);
	wd_timer_stop(&h->pause);
	close(h->io.fd);
	free(h->bufs);
	free(h);
}
