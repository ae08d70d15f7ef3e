/* SPDX-License-Identifier: MIT */
#ifndef ECHO_H
#define ECHO_H

/*
 * The echo server's protocol and connections, on a wd_loop: the part of
 * the example that its own tests drive in-process. main.c adds the life
 * around it (signals, readiness, watchdog, graceful shutdown).
 *
 * The protocol is HTTP/1.0 cut down to one line. A request is one line
 * (LF or CRLF, at most ECHO_LINE_MAX bytes):
 *
 *	GET /TARGET[?delay=MS] [HTTP/1.x]
 *
 * and the reply, after MS milliseconds (0 to ECHO_DELAY_MAX_MS; default 0),
 * is an HTTP/1.0 response whose body is the request line and a newline:
 *
 *	HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: N\r\n
 *	Connection: close\r\n\r\nGET /TARGET?delay=MS HTTP/1.0\n
 *
 * 400 for a line that is not a request, 405 for a method other than GET,
 * 414 for a line longer than ECHO_LINE_MAX. The server closes the
 * connection after each reply (one request per connection), and reads on
 * until the client closes its side, so that a client that sent more than
 * the line still gets the whole reply rather than a reset.
 *
 * Once the server stops accepting (echo_server_stop_accepting()), a new
 * connection is refused: the listening socket is closed. Every connection
 * that was accepted before, or was already waiting in the kernel's queue,
 * is served to the end. There is no 503 state: a client of a stopping
 * server either gets its whole reply or a refused connect(), which it can
 * retry elsewhere safely.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <warden/loop.h>

#define ECHO_LINE_MAX 1024
#define ECHO_DELAY_MAX_MS 60000
/* A reply's head is under 128 bytes; its body is the line and a newline. */
#define ECHO_REPLY_MAX (ECHO_LINE_MAX + 256)

struct echo_server;

/*
 * Answers one request: line[0..len) is the request line without its line
 * end. Writes the whole reply (head and body) into out[0..outsz) and the
 * delay the client asked for to *ret_delay_ms. Returns the reply's length,
 * or -errno (the server then answers 500). data is the handler_data of
 * struct echo_options.
 */
typedef int (*echo_handler)(const char *line, size_t len, char *out, size_t outsz,
			    uint64_t *ret_delay_ms, void *data);

/* The protocol above: a pure function, no descriptor, no allocation. */
int echo_handle(const char *line, size_t len, char *out, size_t outsz, uint64_t *ret_delay_ms,
		void *data);

/*
 * Writes a reply with status code (200, 400, ...) and body[0..len) plus a
 * newline into out[0..outsz). Returns its length or -ENOSPC.
 */
int echo_reply(int code, const char *body, size_t len, char *out, size_t outsz);

struct echo_options {
	/* The connection table, allocated once by echo_server_new(). 0: 512. */
	unsigned max_conns;
	/* A client that sends no whole line, or reads nothing, for this long is dropped. 0: 10000.
	 */
	uint64_t io_timeout_ms;
	/*
	 * Once stopping, how long handshakes already under way get to
	 * complete before the listener closes. 0: 100.
	 */
	uint64_t handshake_grace_ms;
	/* The request handler; NULL: echo_handle. */
	echo_handler handler;
	void *handler_data;
	/*
	 * Called once the server has stopped accepting and its last
	 * connection has closed (at once from echo_server_stop_accepting()
	 * when none is open). NULL: nothing.
	 */
	void (*on_drained)(struct echo_server *srv, void *data);
	void *data;
};

struct echo_stats {
	uint64_t accepted; /* connections */
	uint64_t served;   /* replies written to the end */
	uint64_t refused;  /* connections closed at once: the table was full */
	uint64_t failed;   /* closed before the reply was written: timeout, reset, abort */
};

/*
 * Opens a listening TCP socket on host (an IPv4 address) and port (0: one
 * the kernel picks), non-blocking and close-on-exec. Returns 0, the fd in
 * *ret_fd and the port in *ret_port, or -errno.
 */
int echo_listen(const char *host, uint16_t port, int backlog, int *ret_fd, uint16_t *ret_port);

/*
 * Serves connections accepted on listen_fd (which it owns from then on, even
 * on failure) on loop. o may be NULL for the defaults. Returns 0 or -errno;
 * *ret untouched on failure.
 */
int echo_server_new(wd_loop *loop, int listen_fd, const struct echo_options *o,
		    struct echo_server **ret);

/*
 * Stops accepting: makes the kernel start no new handshake on the listening
 * socket, accepts what its queue holds and what completes within the
 * handshake grace, then closes it. A client that connects from then on is
 * refused; no connection whose client saw it established is reset.
 * Returns how many connections it took from the queue at once. Idempotent.
 */
int echo_server_stop_accepting(struct echo_server *srv);

/*
 * True once the server has stopped accepting, closed its listener and has
 * no connection left (on_drained was called).
 */
bool echo_server_drained(const struct echo_server *srv);

/* Open connections. */
unsigned echo_server_active(const struct echo_server *srv);

void echo_server_stats(const struct echo_server *srv, struct echo_stats *ret);

/*
 * Closes every open connection at once, unanswered (the drain deadline
 * passed). Returns how many it closed.
 */
unsigned echo_server_abort(struct echo_server *srv);

/* Closes everything and frees the server. NULL is fine. */
void echo_server_free(struct echo_server *srv);

#endif
