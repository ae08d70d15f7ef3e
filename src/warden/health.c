/* SPDX-License-Identifier: MIT */
/*
 * Health checks (liveness): while a service runs, warden checks it with
 * exec:COMMAND (a probe that exits 0, started as readiness probes are),
 * tcp:HOST:PORT (a connection that succeeds) or http://HOST:PORT/PATH (a
 * GET answered 200 to 399). One check at a time: the first as soon as the
 * service is ready, the next health_interval after the last one ended,
 * each bounded by health_timeout (a hung exec check's process group gets
 * SIGKILL, and is reaped like every child). health_failures failures in a
 * row make the service unhealthy; one success makes it healthy again.
 *
 * A service without a check has no timer, no descriptor and no process
 * here: its health costs nothing.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/signals.h>

#include "core.h"
#include "log.h"

static const char *const health_names[] = {
	[SVC_HEALTH_NONE] = NULL,
	[SVC_HEALTH_STARTING] = "starting",
	[SVC_HEALTH_HEALTHY] = "healthy",
	[SVC_HEALTH_UNHEALTHY] = "unhealthy",
};

static void check_start(struct svc *s);
static const char *http_verdict(const struct health *h, char *why, size_t size);

/* Ends what the current check holds: its timer and its socket (not its process). */
static void check_cleanup(struct svc *s)
{
	wd_timer_stop(&s->health.timer);
	io_close(&s->health.io);
}

static void emit(struct svc *s, const char *name)
{
	struct health *h = &s->health;
	struct wd_json *j;

	if (!events_on())
		return;
	j = event_begin(name);
	wd_json_str(j, "service", s->conf.name);
	wd_json_str(j, "check", s->conf.health_spec);
	if (h->state == SVC_HEALTH_UNHEALTHY) {
		wd_json_str(j, "reason", h->reason);
		wd_json_uint(j, "failures", h->failures);
	}
	event_emit(j);
}

/* What a check found: the count, the state, and what follows. */
static void verdict(struct svc *s, bool ok)
{
	struct health *h = &s->health;

	if (ok) {
		h->failures = 0;
		h->reason[0] = '\0';
		if (h->state == SVC_HEALTH_HEALTHY)
			return;
		log_info(h->state == SVC_HEALTH_UNHEALTHY ? 0 : 1, "service %s: healthy",
			 s->conf.name);
		h->state = SVC_HEALTH_HEALTHY;
		emit(s, "service.healthy");
		sup_changed(s->sup);
		return;
	}
	h->failed_total++;
	/* Within the start period, and never healthy yet: it may still be warming up. */
	if (h->state == SVC_HEALTH_STARTING &&
	    wd_now() - s->spawned_at < s->conf.health_start_period) {
		log_info(1, "service %s: health check failed (in its start period): %s",
			 s->conf.name, h->reason);
		return;
	}
	if (h->failures < UINT_MAX)
		h->failures++;
	log_info(1, "service %s: health check failed (%u of %u): %s", s->conf.name, h->failures,
		 s->conf.health_failures, h->reason);
	if (h->failures < s->conf.health_failures || h->state == SVC_HEALTH_UNHEALTHY)
		return;
	h->state = SVC_HEALTH_UNHEALTHY;
	log_error("service %s: unhealthy after %u failed checks: %s", s->conf.name, h->failures,
		  h->reason);
	emit(s, "service.unhealthy");
	if (s->conf.on_unhealthy == ON_UNHEALTHY_RESTART)
		svc_handle(s, EV_UNHEALTHY);
	sup_changed(s->sup);
}

/*
 * The current check is over: the next one is due health_interval from
 * now, and then the verdict, which may stop the service (and with it the
 * checks). reason is NULL for a success.
 */
static void finish(struct svc *s, const char *reason)
{
	struct health *h = &s->health;

	check_cleanup(s);
	h->phase = HP_WAITING;
	(void)wd_timer_start(s->sup->loop, &h->timer, wd_now() + s->conf.health_interval);
	if (reason)
		snprintf(h->reason, sizeof(h->reason), "%s", reason);
	verdict(s, reason == NULL);
}

/* "connection refused": an errno as a reason, in the words of the rest. */
static void finish_errno(struct svc *s, int err)
{
	char why[80];

	snprintf(why, sizeof(why), "%s", strerror(err));
	why[0] = (char)tolower((unsigned char)why[0]);
	finish(s, why);
}

static void timed_out_reason(const struct svc *s, char *buf, size_t size)
{
	uint64_t t = s->conf.health_timeout;

	if (t % WD_NSEC_PER_SEC == 0)
		snprintf(buf, size, "timed out after %llus",
			 (unsigned long long)(t / WD_NSEC_PER_SEC));
	else
		snprintf(buf, size, "timed out after %llums",
			 (unsigned long long)(t / WD_NSEC_PER_MSEC));
}

static void on_timer(wd_timer *t)
{
	struct svc *s = t->data;
	struct health *h = &s->health;
	char why[64];

	switch (h->phase) {
	case HP_WAITING:
		check_start(s);
		break;
	case HP_CHECKING:
		/* A server that answered and is slow to close gets its answer judged. */
		if (s->conf.health == HEALTH_HTTP && h->len && memchr(h->buf, '\n', h->len)) {
			finish(s, http_verdict(h, why, sizeof(why)));
			break;
		}
		timed_out_reason(s, why, sizeof(why));
		if (h->pid > 0) {
			/* Its verdict comes when it is reaped: never a zombie, never two at once.
			 */
			if (kill(-h->pid, SIGKILL) < 0)
				(void)kill(h->pid, SIGKILL);
			h->phase = HP_KILLED;
			snprintf(h->reason, sizeof(h->reason), "%s", why);
			log_info(1, "service %s: health check %d %s: killed", s->conf.name,
				 (int)h->pid, why);
			break;
		}
		finish(s, why);
		break;
	case HP_IDLE:
	case HP_KILLED:
		break;
	}
}

/* --- http:// --------------------------------------------------------------- */

/*
 * The status code of an HTTP/1.x status line at the start of buf, or -1
 * when it is not one. Reads nothing past len.
 */
static int status_code(const char *buf, size_t len)
{
	int code;

	if (len < 12 || memcmp(buf, "HTTP/", 5) != 0 || !isdigit((unsigned char)buf[5]) ||
	    buf[6] != '.' || !isdigit((unsigned char)buf[7]) || buf[8] != ' ')
		return -1;
	if (!isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]))
		return -1;
	if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
		return -1;
	code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	return code >= 100 && code <= 599 ? code : -1;
}

/*
 * The verdict on the status line read so far: NULL for 200 to 399, else the
 * reason, in why.
 */
static const char *http_verdict(const struct health *h, char *why, size_t size)
{
	int code;

	if (h->len == 0)
		return "connection closed without a response";
	code = status_code(h->buf, h->len);
	if (code < 0)
		return "not an HTTP response";
	if (code >= 200 && code <= 399)
		return NULL;
	snprintf(why, size, "HTTP %d", code);
	return why;
}

/*
 * The response's first bytes are kept (its status line), the rest read and
 * dropped until the server closes, as HTTP/1.0 asks: closing first would
 * reset the connection under a server still writing. A response longer
 * than HEALTH_RESPONSE_MAX is judged by its status line there and then.
 */
static void http_io(struct svc *s)
{
	struct health *h = &s->health;
	const char *req = s->conf.health_request;
	size_t total = strlen(req);
	char scratch[4096], why[32];
	ssize_t n;

	if (h->sent < total) {
		n = send(h->io.fd, req + h->sent, total - h->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				finish_errno(s, errno);
			return;
		}
		h->sent += (size_t)n;
		if (h->sent == total && wd_io_modify(&h->io, EPOLLIN) < 0)
			finish(s, "cannot watch the connection");
		return;
	}
	if (h->len < sizeof(h->buf))
		n = recv(h->io.fd, h->buf + h->len, sizeof(h->buf) - h->len, MSG_DONTWAIT);
	else
		n = recv(h->io.fd, scratch, sizeof(scratch), MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* Reset after a complete status line: the answer was given. */
		if (h->len == 0 || !memchr(h->buf, '\n', h->len)) {
			finish_errno(s, errno);
			return;
		}
		n = 0;
	}
	if (h->len < sizeof(h->buf))
		h->len += (size_t)n;
	h->read += (size_t)n;
	if (n == 0 || h->read >= HEALTH_RESPONSE_MAX)
		finish(s, http_verdict(h, why, sizeof(why)));
}

/* --- tcp: and http:// ------------------------------------------------------- */

static void on_io(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	struct health *h = &s->health;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)revents;
	if (!h->connected) {
		if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			finish_errno(s, err);
			return;
		}
		h->connected = true;
		if (s->conf.health == HEALTH_TCP) {
			finish(s, NULL);
			return;
		}
	}
	http_io(s);
}

static void connect_start(struct svc *s)
{
	struct health *h = &s->health;
	int fd = -1, r = probe_connect(s->conf.health_host, s->conf.health_port, &fd);

	if (r < 0) {
		finish_errno(s, -r);
		return;
	}
	h->connected = r == 1;
	if (h->connected && s->conf.health == HEALTH_TCP) {
		close(fd);
		finish(s, NULL);
		return;
	}
	h->io.fd = fd;
	/* Connected or not, the next step is a write: the request, or learning the outcome. */
	h->io.events = EPOLLOUT;
	h->io.cb = on_io;
	h->io.data = s;
	if (wd_io_start(s->sup->loop, &h->io) < 0) {
		close(fd);
		h->io.fd = -1;
		finish(s, "cannot watch the connection");
	}
}

/* --- the checks ---------------------------------------------------------------- */

static void check_start(struct svc *s)
{
	struct health *h = &s->health;
	char why[96];
	int r;

	h->timer.cb = on_timer;
	h->timer.data = s;
	/* An earlier check's process, killed but not reaped yet: not two at once. */
	if (h->pid > 0) {
		h->phase = HP_WAITING;
		(void)wd_timer_start(s->sup->loop, &h->timer, wd_now() + s->conf.health_interval);
		return;
	}
	h->phase = HP_CHECKING;
	h->began = wd_now();
	h->connected = false;
	h->sent = h->len = h->read = 0;
	(void)wd_timer_start(s->sup->loop, &h->timer, h->began + s->conf.health_timeout);
	switch (s->conf.health) {
	case HEALTH_EXEC:
		r = spawn_probe(s, s->conf.health_argv, &h->pid);
		if (r < 0) {
			snprintf(why, sizeof(why), "cannot start: %s", strerror(-r));
			finish(s, why);
		}
		break;
	case HEALTH_TCP:
	case HEALTH_HTTP:
		connect_start(s);
		break;
	case HEALTH_NONE:
		check_cleanup(s);
		h->phase = HP_IDLE;
		break;
	}
}

bool health_probe_reaped(struct sup *sup, pid_t pid, int status)
{
	char why[sizeof(((struct health *)0)->reason)], name[WD_SIGNAME_MAX];
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];
		struct health *h = &s->health;

		if (h->pid != pid)
			continue;
		h->pid = 0;
		if (h->phase == HP_KILLED) {
			snprintf(why, sizeof(why), "%s", h->reason);
			finish(s, why);
		} else if (h->phase != HP_CHECKING) {
			/* Its service stopped meanwhile: what it found no longer matters. */
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			finish(s, NULL);
		} else {
			if (WIFEXITED(status))
				snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
			else
				snprintf(why, sizeof(why), "killed by %s",
					 wd_signal_name(WTERMSIG(status), name));
			finish(s, why);
		}
		return true;
	}
	return false;
}

/* --- the service's side -------------------------------------------------------- */

void health_init(struct svc *s)
{
	s->health.io.fd = -1;
	s->health.timer.cb = on_timer;
	s->health.timer.data = s;
	health_reset(s);
}

void health_running(struct svc *s, bool running)
{
	struct health *h = &s->health;

	h->timer.cb = on_timer;
	h->timer.data = s;
	if (running && s->conf.health != HEALTH_NONE) {
		/* The first check as soon as it is ready, from the loop. */
		h->phase = HP_WAITING;
		(void)wd_timer_start(s->sup->loop, &h->timer, wd_now());
		return;
	}
	check_cleanup(s);
	h->phase = HP_IDLE;
	/* Reaped like any check, its verdict ignored. */
	if (h->pid > 0 && kill(-h->pid, SIGKILL) < 0)
		(void)kill(h->pid, SIGKILL);
}

void health_reset(struct svc *s)
{
	struct health *h = &s->health;

	h->state = s->conf.health == HEALTH_NONE ? SVC_HEALTH_NONE : SVC_HEALTH_STARTING;
	h->failures = 0;
	h->reason[0] = '\0';
}

void health_free(struct svc *s)
{
	health_running(s, false);
}

void health_json(const struct svc *s, struct wd_json *j)
{
	const struct health *h = &s->health;

	wd_json_str(j, "health", health_names[h->state]);
	wd_json_uint(j, "health_failures", h->failures);
	wd_json_uint(j, "health_failed_total", h->failed_total);
	wd_json_str(j, "health_reason", h->reason[0] ? h->reason : NULL);
}

/* --- what the control socket and the endpoints see ------------------------------ */

enum svc_health svc_health(const struct svc *s)
{
	return s->health.state;
}

const char *svc_health_name(enum svc_health h)
{
	return health_names[h];
}

bool svc_is_unhealthy(const struct svc *s)
{
	return s->health.state == SVC_HEALTH_UNHEALTHY;
}

const char *svc_health_reason(const struct svc *s)
{
	return s->health.reason[0] ? s->health.reason : NULL;
}

uint64_t svc_health_failed_total(const struct svc *s)
{
	return s->health.failed_total;
}
