/* SPDX-License-Identifier: MIT */
/*
 * The echo server's protocol and connections (echo.h). One connection is
 * a small state machine on the loop: read the request line, hold the reply
 * for the delay asked, write it, then read until the client closes (a
 * graceful close never resets a reply the client has not read yet). Every
 * connection has one timer: the I/O timeout in the reading and writing
 * states, the delay in between. The connection table is allocated once;
 * serving never allocates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo.h"

enum conn_state {
	CONN_FREE,
	CONN_READ,   /* waiting for the request line */
	CONN_DELAY,  /* the reply is ready, held for the delay asked */
	CONN_WRITE,  /* writing the reply */
	CONN_LINGER, /* reply written and our side shut: reading until the client closes */
};

struct conn {
	struct echo_server *srv;
	wd_io io;
	wd_timer timer;
	enum conn_state state;
	struct conn *next_free;
	size_t inlen, outlen, outoff;
	char in[ECHO_LINE_MAX + 2]; /* the line and its CRLF */
	char out[ECHO_REPLY_MAX];
};

struct echo_server {
	wd_loop *loop;
	struct echo_options o;
	wd_io listen_io; /* fd -1 once closed */
	wd_timer retry;	 /* accept() ran out of descriptors or memory: try again later */
	wd_timer grace;	 /* stopping: handshakes under way may still complete */
	bool grace_over; /* stopping, and the listener may close once its queue is empty */
	bool listening;	 /* listen_io is started */
	bool stopping;	 /* echo_server_stop_accepting() was called */
	bool drained;	 /* on_drained was called */
	struct conn *conns, *free;
	unsigned active;
	struct echo_stats stats;
};

/* How long accept() waits after EMFILE, ENFILE, ENOBUFS or ENOMEM. */
#define ACCEPT_RETRY_MS 100

/*
 * A classic BPF socket filter for the listener of a server that stops
 * accepting: it drops a bare SYN (a new handshake) and keeps every other
 * packet, so that a handshake already under way completes. TCP runs the
 * filter with the packet's data at the TCP header; byte 13 holds the flags.
 */
static struct sock_filter no_new_handshakes[] = {
	BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
	BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),	 /* SYN | ACK */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1), /* SYN alone? */
	BPF_STMT(BPF_RET | BPF_K, 0),			 /* drop it */
	BPF_STMT(BPF_RET | BPF_K, 0xffffffff),		 /* keep all of it */
};

static const char *reason_phrase(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	default:
		return "Internal Server Error";
	}
}

int echo_reply(int code, const char *body, size_t len, char *out, size_t outsz)
{
	int n;

	if (len > ECHO_LINE_MAX)
		return -ENOSPC;
	n = snprintf(out, outsz,
		     "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%.*s\n",
		     code, reason_phrase(code), len + 1, (int)len, body);
	if (n < 0 || (size_t)n >= outsz)
		return -ENOSPC;
	return n;
}

/* Parses the value of delay= at s (up to end): 0..ECHO_DELAY_MAX_MS. */
static int parse_delay(const char *s, const char *end, uint64_t *ret)
{
	uint64_t v = 0;

	if (s == end)
		return -EINVAL;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > ECHO_DELAY_MAX_MS)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* Finds delay=MS among the &-separated parameters of query[0..end). */
static int query_delay(const char *q, const char *end, uint64_t *ret)
{
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *stop = amp ? amp : end;

		if (stop - q >= 6 && memcmp(q, "delay=", 6) == 0)
			return parse_delay(q + 6, stop, ret);
		q = amp ? amp + 1 : end;
	}
	return 0;
}

int echo_handle(const char *line, size_t len, char *out, size_t outsz, uint64_t *ret_delay_ms,
		void *data)
{
	const char *end = line + len, *sp, *target, *tend, *qm;
	uint64_t delay = 0;

	(void)data;
	*ret_delay_ms = 0;
	sp = memchr(line, ' ', len);
	if (!sp || sp == line)
		return echo_reply(400, line, len, out, outsz);
	target = sp + 1;
	tend = memchr(target, ' ', (size_t)(end - target));
	if (!tend)
		tend = end;
	else if (end - tend < 9 || memcmp(tend + 1, "HTTP/1.", 7) != 0)
		return echo_reply(400, line, len, out, outsz);
	if (target == tend || *target != '/')
		return echo_reply(400, line, len, out, outsz);
	if (sp - line != 3 || memcmp(line, "GET", 3) != 0)
		return echo_reply(405, line, len, out, outsz);
	qm = memchr(target, '?', (size_t)(tend - target));
	if (qm && query_delay(qm + 1, tend, &delay) < 0)
		return echo_reply(400, line, len, out, outsz);
	*ret_delay_ms = delay;
	return echo_reply(200, line, len, out, outsz);
}

int echo_listen(const char *host, uint16_t port, int backlog, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t salen = sizeof(sa);
	int fd, one = 1, r;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A restarted server may bind while the old one's connections sit in TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_port = ntohs(sa.sin_port);
	return 0;
}

static void check_drained(struct echo_server *srv)
{
	if (srv->stopping && srv->listen_io.fd < 0 && srv->active == 0 && !srv->drained) {
		srv->drained = true;
		if (srv->o.on_drained)
			srv->o.on_drained(srv, srv->o.data);
	}
}

static void close_listener(struct echo_server *srv)
{
	if (srv->listen_io.fd < 0)
		return;
	wd_io_stop(&srv->listen_io);
	wd_timer_stop(&srv->retry);
	wd_timer_stop(&srv->grace);
	close(srv->listen_io.fd);
	srv->listen_io.fd = -1;
	srv->listening = false;
}

/* Stops watching the listener until a slot frees or the retry timer fires. */
static void pause_listener(struct echo_server *srv)
{
	if (srv->listening) {
		wd_io_stop(&srv->listen_io);
		srv->listening = false;
	}
}

static int accept_some(struct echo_server *srv);

static void resume_listener(struct echo_server *srv)
{
	if (srv->listen_io.fd < 0 || srv->listening || srv->retry.armed)
		return;
	/* Whatever waits in the queue is accepted now: epoll would only report it later. */
	(void)accept_some(srv);
	if (srv->listen_io.fd >= 0 && !srv->listening && srv->free && !srv->retry.armed &&
	    wd_io_start(srv->loop, &srv->listen_io) == 0)
		srv->listening = true;
}

/*
 * Closes a connection and frees its slot. A connection closed before its
 * reply was written counts as failed. May call on_drained: the caller must
 * not touch c or the server afterwards.
 */
static void conn_close(struct conn *c)
{
	struct echo_server *srv = c->srv;

	if (c->state != CONN_LINGER)
		srv->stats.failed++;
	wd_io_stop(&c->io);
	wd_timer_stop(&c->timer);
	close(c->io.fd);
	c->io.fd = -1;
	c->state = CONN_FREE;
	c->next_free = srv->free;
	srv->free = c;
	srv->active--;
	resume_listener(srv);
	check_drained(srv);
}

static void conn_arm(struct conn *c, uint64_t ms)
{
	wd_timer_start(c->srv->loop, &c->timer, wd_now() + ms * 1000000ULL);
}

/* Writes what is left of the reply; once all of it is out, shuts our side and lingers. */
static void conn_write(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->io.fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (c->state != CONN_WRITE) {
				c->state = CONN_WRITE;
				conn_arm(c, c->srv->o.io_timeout_ms);
				if (wd_io_modify(&c->io, EPOLLOUT) < 0)
					conn_close(c);
			}
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->outoff += (size_t)n;
	}
	c->srv->stats.served++;
	c->state = CONN_LINGER;
	if (shutdown(c->io.fd, SHUT_WR) < 0 || wd_io_modify(&c->io, EPOLLIN) < 0) {
		conn_close(c);
		return;
	}
	conn_arm(c, c->srv->o.io_timeout_ms);
}

/* A whole line (or one too long) is in c->in: answer it. */
static void conn_answer(struct conn *c, size_t linelen, bool too_long)
{
	struct echo_server *srv = c->srv;
	uint64_t delay = 0;
	int n;

	if (linelen && c->in[linelen - 1] == '\r')
		linelen--;
	if (too_long)
		n = echo_reply(414, "", 0, c->out, sizeof(c->out));
	else
		n = srv->o.handler(c->in, linelen, c->out, sizeof(c->out), &delay,
				   srv->o.handler_data);
	if (n < 0)
		n = echo_reply(500, "", 0, c->out, sizeof(c->out));
	c->outlen = (size_t)n;
	c->outoff = 0;
	if (delay == 0) {
		conn_write(c);
		return;
	}
	/* Held: only a hang-up or an error wakes the connection (epoll always reports those). */
	c->state = CONN_DELAY;
	if (wd_io_modify(&c->io, 0) < 0) {
		conn_close(c);
		return;
	}
	conn_arm(c, delay);
}

static void conn_read(struct conn *c)
{
	for (;;) {
		size_t room = sizeof(c->in) - c->inlen;
		ssize_t n;
		char *nl;

		if (c->state == CONN_LINGER) {
			/* Discard: the client's side is over once it closes. */
			n = read(c->io.fd, c->in, sizeof(c->in));
		} else {
			n = read(c->io.fd, c->in + c->inlen, room);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		if (c->state == CONN_LINGER)
			continue;
		nl = memchr(c->in + c->inlen, '\n', (size_t)n);
		c->inlen += (size_t)n;
		if (nl) {
			size_t len = (size_t)(nl - c->in);

			conn_answer(c, len,
				    len > ECHO_LINE_MAX + 1 ||
					    (len == ECHO_LINE_MAX + 1 && c->in[len - 1] != '\r'));
			return;
		}
		if (c->inlen == sizeof(c->in)) {
			conn_answer(c, 0, true);
			return;
		}
	}
}

static void conn_io(wd_io *io, uint32_t revents)
{
	struct conn *c = io->data;

	switch (c->state) {
	case CONN_READ:
	case CONN_LINGER:
		conn_read(c);
		break;
	case CONN_WRITE:
		conn_write(c);
		break;
	case CONN_DELAY:
		/* EPOLLHUP or EPOLLERR: the client is gone, nobody will read the reply. */
		if (revents & (EPOLLHUP | EPOLLERR))
			conn_close(c);
		break;
	case CONN_FREE:
		break;
	}
}

static void conn_timer(wd_timer *t)
{
	struct conn *c = t->data;

	if (c->state == CONN_DELAY)
		conn_write(c);
	else
		conn_close(c); /* the I/O timeout */
}

static int conn_open(struct echo_server *srv, int fd)
{
	struct conn *c = srv->free;
	int r;

	srv->free = c->next_free;
	c->state = CONN_READ;
	c->inlen = c->outlen = c->outoff = 0;
	c->io.fd = fd;
	c->io.events = EPOLLIN;
	r = wd_io_start(srv->loop, &c->io);
	if (r < 0) {
		close(fd);
		c->io.fd = -1;
		c->state = CONN_FREE;
		c->next_free = srv->free;
		srv->free = c;
		return r;
	}
	srv->active++;
	srv->stats.accepted++;
	conn_arm(c, srv->o.io_timeout_ms);
	/* Most clients send their line with the handshake: no need to wait for epoll. */
	conn_read(c);
	return 0;
}

/*
 * Accepts until the queue is empty or the table is full. When stopping and
 * the queue is empty, closes the listener. Returns how many it accepted.
 */
static int accept_some(struct echo_server *srv)
{
	int n = 0;

	while (srv->listen_io.fd >= 0 && srv->free) {
		int fd = accept4(srv->listen_io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				if (srv->grace_over)
					close_listener(srv);
				return n;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				/* Leave the queue be for a while rather than spin on it. */
				pause_listener(srv);
				wd_timer_start(srv->loop, &srv->retry,
					       wd_now() + ACCEPT_RETRY_MS * 1000000ULL);
				return n;
			default:
				/* The listener itself broke: nothing more will come through it. */
				close_listener(srv);
				return n;
			}
		}
		if (conn_open(srv, fd) == 0)
			n++;
	}
	if (!srv->free)
		pause_listener(srv);
	return n;
}

static void listen_ready(wd_io *io, uint32_t revents)
{
	(void)revents;
	(void)accept_some(io->data);
}

static void retry_accept(wd_timer *t)
{
	resume_listener(t->data);
}

static void grace_over(wd_timer *t)
{
	struct echo_server *srv = t->data;

	srv->grace_over = true;
	if (srv->listening)
		(void)accept_some(srv);
	/* Paused for a full table or a retry: the listener closes once it is resumed. */
	check_drained(srv);
}

int echo_server_new(wd_loop *loop, int listen_fd, const struct echo_options *o,
		    struct echo_server **ret)
{
	struct echo_server *srv;
	unsigned i;
	int r;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(listen_fd);
		return -ENOMEM;
	}
	if (o)
		srv->o = *o;
	if (!srv->o.max_conns)
		srv->o.max_conns = 512;
	if (!srv->o.io_timeout_ms)
		srv->o.io_timeout_ms = 10000;
	if (!srv->o.handler)
		srv->o.handler = echo_handle;
	srv->loop = loop;
	srv->conns = calloc(srv->o.max_conns, sizeof(*srv->conns));
	if (!srv->conns) {
		free(srv);
		close(listen_fd);
		return -ENOMEM;
	}
	for (i = srv->o.max_conns; i-- > 0;) {
		struct conn *c = &srv->conns[i];

		c->srv = srv;
		c->io.fd = -1;
		c->io.cb = conn_io;
		c->io.data = c;
		c->timer.cb = conn_timer;
		c->timer.data = c;
		c->next_free = srv->free;
		srv->free = c;
	}
	if (!srv->o.handshake_grace_ms)
		srv->o.handshake_grace_ms = 100;
	srv->retry.cb = retry_accept;
	srv->retry.data = srv;
	srv->grace.cb = grace_over;
	srv->grace.data = srv;
	srv->listen_io.fd = listen_fd;
	srv->listen_io.events = EPOLLIN;
	srv->listen_io.cb = listen_ready;
	srv->listen_io.data = srv;
	r = wd_io_start(loop, &srv->listen_io);
	if (r < 0) {
		close(listen_fd);
		free(srv->conns);
		free(srv);
		return r;
	}
	srv->listening = true;
	*ret = srv;
	return 0;
}

int echo_server_stop_accepting(struct echo_server *srv)
{
	struct sock_fprog prog = {
		.len = sizeof(no_new_handshakes) / sizeof(no_new_handshakes[0]),
		.filter = no_new_handshakes,
	};
	int n = 0;

	if (srv->stopping)
		return 0;
	srv->stopping = true;
	if (srv->listen_io.fd >= 0) {
		/*
		 * Closing a listener resets every handshake it has not handed
		 * over yet: a client that has sent its request on such a
		 * connection loses it. So first no new handshake starts (a
		 * client's SYN goes unanswered, and its retry finds the port
		 * closed: refused, which it can retry elsewhere safely), then
		 * those under way get a grace to complete and be accepted, and
		 * only then does the listener close. Without the filter, the
		 * window between the last accept() and close() stays open.
		 */
		if (setsockopt(srv->listen_io.fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
			       sizeof(prog)) < 0)
			srv->grace_over = true;
		else
			wd_timer_start(srv->loop, &srv->grace,
				       wd_now() + srv->o.handshake_grace_ms * 1000000ULL);
		n = accept_some(srv);
	} else {
		srv->grace_over = true;
	}
	check_drained(srv);
	return n;
}

bool echo_server_drained(const struct echo_server *srv)
{
	return srv->drained;
}

unsigned echo_server_active(const struct echo_server *srv)
{
	return srv->active;
}

void echo_server_stats(const struct echo_server *srv, struct echo_stats *ret)
{
	*ret = srv->stats;
}

unsigned echo_server_abort(struct echo_server *srv)
{
	unsigned i, n = 0;

	srv->stopping = srv->grace_over = true;
	close_listener(srv);
	for (i = 0; i < srv->o.max_conns; i++) {
		if (srv->conns[i].state != CONN_FREE) {
			/* A lingering one was served: its reply is with the kernel. */
			conn_close(&srv->conns[i]);
			n++;
		}
	}
	check_drained(srv);
	return n;
}

void echo_server_free(struct echo_server *srv)
{
	if (!srv)
		return;
	srv->drained = true; /* no callback from here */
	echo_server_abort(srv);
	free(srv->conns);
	free(srv);
}
