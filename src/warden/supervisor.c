/* SPDX-License-Identifier: MIT */
/*
 * Supervisor mode: the services of a config file, their order, their
 * output, and the end of it all. One service's own life is in service.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/event.h>
#include <warden/fd.h>
#include <warden/signals.h>

#include "control.h"
#include "init.h"
#include "log.h"
#include "notify.h"
#include "supervisor.h"
#include "tree.h"
#include "version.h"

/* A line longer than this is split. */
#define LOG_LINE_MAX 65536
/* Each of warden's outputs queues at most this much. */
#define OUTQ_CAP (2 << 20)
/* Leftovers get at most this long between SIGTERM and SIGKILL. */
#define LEFTOVER_GRACE (5 * WD_NSEC_PER_SEC)
/* While leftovers are being killed, sweep again this often. */
#define KILL_SWEEP (200 * WD_NSEC_PER_MSEC)

static struct sup *the_sup; /* for the log sink */
static struct tree tree;

/* --- output ------------------------------------------------------------- */

static struct outq *queue_for(struct sup *sup, int fd)
{
	if (sup->qshared)
		return sup->qshared;
	return fd == STDERR_FILENO ? &sup->qerr : &sup->qout;
}

/* warden's own lines and events: queued; dropped (and counted) when full. */
static void sink(int fd, const char *buf, size_t len)
{
	struct outq *q;

	if (!the_sup || (fd != STDOUT_FILENO && fd != STDERR_FILENO)) {
		(void)!write(fd, buf, len);
		return;
	}
	q = queue_for(the_sup, fd);
	if (outq_put(q, buf, len) < 0)
		q->dropped++;
}

/* The longest record a line of n bytes becomes in s's log format. */
static size_t record_size(const struct svc *s, size_t n)
{
	switch (s->conf.log_format) {
	case LOG_JSON:
		return 6 * n + 512;
	case LOG_RAW:
		return n + 1;
	case LOG_PREFIX:
		break;
	}
	return strlen(s->conf.name) + 3 + n + 1;
}

void sup_log_line(struct svc *s, int which, const char *line, size_t n)
{
	static char rec[6 * LOG_LINE_MAX + 1024];
	struct outq *q = queue_for(s->sup, which);
	size_t len = 0, name = strlen(s->conf.name);
	struct wd_json j;
	int r;

	switch (s->conf.log_format) {
	case LOG_PREFIX:
		memcpy(rec, s->conf.name, name);
		memcpy(rec + name, " | ", 3);
		memcpy(rec + name + 3, line, n);
		len = name + 3 + n;
		rec[len++] = '\n';
		break;
	case LOG_RAW:
		memcpy(rec, line, n);
		len = n;
		rec[len++] = '\n';
		break;
	case LOG_JSON:
		wd_event_begin(&j, rec, sizeof(rec), "log");
		wd_json_str(&j, "service", s->conf.name);
		wd_json_str(&j, "stream", which == STDERR_FILENO ? "stderr" : "stdout");
		wd_json_strn(&j, "line", line, n);
		r = wd_json_end(&j);
		if (r < 0)
			return;
		len = (size_t)r;
		break;
	}
	if (outq_put(q, rec, len) < 0)
		q->dropped++;
}

static void pause_stream(struct logstream *ls, struct outq *q)
{
	if (!ls->paused) {
		ls->paused = true;
		(void)wd_io_modify(&ls->io, 0);
	}
	outq_want_space(q);
}

/*
 * Emits the whole lines held in ls's buffer while the queue has room for
 * them (and the rest as one line when flush is set or the buffer is full).
 * Returns false when it stopped for want of room.
 */
static bool emit_lines(struct logstream *ls, bool flush)
{
	struct svc *s = ls->svc;
	struct outq *q = queue_for(s->sup, ls->which);
	char *p = ls->buf, *end = ls->buf + ls->len, *nl;
	bool ok = true;

	while (p < end) {
		size_t n;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			n = (size_t)(nl - p);
		else if (flush || (p == ls->buf && ls->len == LOG_LINE_MAX))
			n = (size_t)(end - p);
		else
			break;
		/* The newline that ends a line already sent in 64 KiB pieces. */
		if (ls->split && nl == p) {
			ls->split = false;
			p++;
			continue;
		}
		if (outq_space(q) < record_size(s, n)) {
			ok = false;
			break;
		}
		sup_log_line(s, ls->which, p, n);
		ls->split = !nl && !flush;
		p += n + (nl ? 1 : 0);
	}
	ls->len = (size_t)(end - p);
	if (ls->len && p != ls->buf)
		memmove(ls->buf, p, ls->len);
	return ok;
}

void logstream_readable(wd_io *io, uint32_t revents)
{
	struct logstream *ls = io->data;
	struct outq *q = queue_for(ls->svc->sup, ls->which);
	int rounds;

	(void)revents;
	if (!ls->buf) {
		ls->buf = malloc(LOG_LINE_MAX);
		if (!ls->buf) {
			char scratch[4096];

			/* No memory for a line buffer: the output is lost, not warden. */
			(void)!read(io->fd, scratch, sizeof(scratch));
			return;
		}
	}
	/* Bounded, so that one chatty service cannot starve the others. */
	for (rounds = 0; rounds < 4; rounds++) {
		ssize_t n;

		if (!emit_lines(ls, false) || outq_space(q) < record_size(ls->svc, LOG_LINE_MAX)) {
			pause_stream(ls, q);
			return;
		}
		n = read(io->fd, ls->buf + ls->len, LOG_LINE_MAX - ls->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		ls->len += (size_t)n;
	}
	if (!emit_lines(ls, false))
		pause_stream(ls, q);
}

/* The queue has room again: every paused stream goes on. */
static void on_space(void *data)
{
	struct sup *sup = data;
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct logstream *ls[2] = {&sup->svcs[i]->out, &sup->svcs[i]->err};
		int k;

		for (k = 0; k < 2; k++) {
			if (!ls[k]->paused || ls[k]->io.fd < 0)
				continue;
			ls[k]->paused = false;
			(void)wd_io_modify(&ls[k]->io, EPOLLIN);
			logstream_readable(&ls[k]->io, EPOLLIN);
		}
	}
}

/* What the service wrote before it exited comes before its exit. */
static void drain_output(struct svc *s)
{
	struct logstream *ls[2] = {&s->out, &s->err};
	int k;

	for (k = 0; k < 2; k++) {
		if (ls[k]->io.fd < 0 || ls[k]->paused)
			continue;
		logstream_readable(&ls[k]->io, EPOLLIN);
		if (!ls[k]->paused && ls[k]->len)
			(void)emit_lines(ls[k], true);
	}
}

/*
 * At exit: what the services wrote reaches warden's output, back-pressure or
 * not, waiting for a slow reader within a bound.
 */
static void final_drain(struct sup *sup)
{
	uint64_t deadline = wd_now() + 5 * WD_NSEC_PER_SEC;
	size_t i;
	int k;

	for (i = 0; i < sup->nsvcs; i++) {
		struct logstream *streams[2] = {&sup->svcs[i]->out, &sup->svcs[i]->err};

		for (k = 0; k < 2; k++) {
			struct logstream *ls = streams[k];
			struct outq *q = queue_for(sup, ls->which);
			bool more = true;

			if (ls->io.fd < 0 || (!ls->buf && !(ls->buf = malloc(LOG_LINE_MAX))))
				continue;
			while (more || ls->len) {
				uint64_t now = wd_now();

				if (!emit_lines(ls, !more)) {
					if (now >= deadline ||
					    outq_wait(q,
						      (int)((deadline - now) / WD_NSEC_PER_MSEC) +
							      1) < 0)
						return;
					continue;
				}
				if (more) {
					ssize_t n = read(ls->io.fd, ls->buf + ls->len,
							 LOG_LINE_MAX - ls->len);

					if (n > 0)
						ls->len += (size_t)n;
					else if (n == 0 || errno != EINTR)
						more = false;
				} else {
					break;
				}
			}
		}
	}
}

/* --- services ----------------------------------------------------------- */

static int open_stream(struct sup *sup, struct svc *s, struct logstream *ls, int which, int *ret_w)
{
	int p[2];

	if (ls->io.fd >= 0)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	ls->svc = s;
	ls->which = which;
	ls->io.fd = p[0];
	ls->io.events = EPOLLIN;
	ls->io.cb = logstream_readable;
	ls->io.data = ls;
	if (wd_io_start(sup->loop, &ls->io) < 0) {
		close(p[0]);
		close(p[1]);
		ls->io.fd = -1;
		return -EIO;
	}
	*ret_w = p[1];
	return 0;
}

int svc_setup(struct sup *sup, struct svc *s)
{
	int r;

	s->sup = sup;
	if (!s->delay)
		s->delay = s->conf.restart_delay;
	r = open_stream(sup, s, &s->out, STDOUT_FILENO, &s->out_w);
	if (r == 0)
		r = open_stream(sup, s, &s->err, STDERR_FILENO, &s->err_w);
	if (r < 0)
		log_errno(r, "service %s: cannot capture its output", s->conf.name);
	if (s->conf.ready == READY_NOTIFY && s->notify_io.fd < 0) {
		int fd = notify_open(sup->notify_prefix, s->conf.name, s->notify_name);

		if (fd < 0) {
			log_errno(fd, "service %s: cannot open its notify socket", s->conf.name);
			return fd;
		}
		s->notify_io.fd = fd;
		s->notify_io.events = EPOLLIN;
		s->notify_io.cb = svc_notify_readable;
		s->notify_io.data = s;
		if (wd_io_start(sup->loop, &s->notify_io) < 0) {
			close(fd);
			s->notify_io.fd = -1;
		}
	} else if (s->conf.ready != READY_NOTIFY && s->notify_io.fd >= 0) {
		wd_io_stop(&s->notify_io);
		close(s->notify_io.fd);
		s->notify_io.fd = -1;
	}
	return r;
}

static struct svc *svc_new(struct sup *sup, struct svc_conf *conf)
{
	struct svc *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->conf = *conf;
	memset(conf, 0, sizeof(*conf));
	s->state = ST_STOPPED;
	s->out.io.fd = s->err.io.fd = -1;
	s->out_w = s->err_w = -1;
	s->notify_io.fd = -1;
	s->ready_io.fd = -1;
	(void)svc_setup(sup, s);
	return s;
}

static void close_stream(struct logstream *ls)
{
	if (ls->io.fd >= 0) {
		wd_io_stop(&ls->io);
		close(ls->io.fd);
		ls->io.fd = -1;
	}
	free(ls->buf);
	ls->buf = NULL;
}

void svc_free(struct svc *s)
{
	if (!s)
		return;
	svc_close_readiness(s);
	wd_timer_stop(&s->timer);
	drain_output(s);
	close_stream(&s->out);
	close_stream(&s->err);
	if (s->out_w >= 0)
		close(s->out_w);
	if (s->err_w >= 0)
		close(s->err_w);
	if (s->notify_io.fd >= 0) {
		wd_io_stop(&s->notify_io);
		close(s->notify_io.fd);
	}
	config_free_svc(&s->conf);
	config_free_svc(&s->next_conf);
	free(s->deps);
	free(s->starts);
	free(s);
}

static struct svc *find_svc(struct sup *sup, const char *name)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++)
		if (strcmp(sup->svcs[i]->conf.name, name) == 0)
			return sup->svcs[i];
	return NULL;
}

/* Resolves every service's after = names into pointers. */
static void resolve_deps(struct sup *sup)
{
	size_t i, k;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];
		const struct svc_conf *c = s->has_next_conf ? &s->next_conf : &s->conf;

		free(s->deps);
		s->deps = calloc(c->nafter + 1, sizeof(*s->deps));
		s->ndeps = 0;
		for (k = 0; s->deps && k < c->nafter; k++) {
			struct svc *d = find_svc(sup, c->after[k]);

			if (d)
				s->deps[s->ndeps++] = d;
		}
	}
}

/* Is any service that is after s still active? Then s must wait to stop. */
static bool has_active_dependents(struct sup *sup, const struct svc *s)
{
	size_t i, k;

	for (i = 0; i < sup->nsvcs; i++) {
		const struct svc *t = sup->svcs[i];

		if (!svc_active(t))
			continue;
		for (k = 0; k < t->ndeps; k++)
			if (t->deps[k] == s)
				return true;
	}
	return false;
}

/* --- the end ------------------------------------------------------------ */

static void finish(struct sup *sup)
{
	int code;

	if (sup->done)
		return;
	sup->done = true;
	if (sup->have_exit_status)
		code = wd_status_code(sup->exit_status);
	else if (sup->requested)
		code = sup->escalated ? EXIT_ESCALATED : 0;
	else if (sup->first_failure)
		code = wd_status_code(sup->first_failure_status);
	else
		code = 0;
	sup->exit_code = code;
	wd_timer_stop(&sup->grace_timer);
	wd_timer_stop(&sup->leftover_timer);
	log_info(1, "exiting with code %d", code);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.finished");

		wd_json_int(j, "exit_code", code);
		wd_json_uint(j, "uptime_ms", (wd_now() - sup->started) / WD_NSEC_PER_MSEC);
		wd_json_bool(j, "escalated", sup->escalated);
		event_emit(j);
	}
	wd_loop_quit(sup->loop);
}

static void reap_all(struct sup *sup);

static void on_leftover_timer(wd_timer *t)
{
	struct sup *sup = t->data;
	unsigned n = tree_signal_leftovers(&tree, 0, SIGKILL);

	if (n && !sup->killing) {
		log_info(1, "killed %u leftover process%s", n, n == 1 ? "" : "es");
		sup->escalated = true; /* SIGKILL was needed: not a clean stop */
	}
	sup->killing = true;
	(void)wd_timer_start(sup->loop, t, wd_now() + KILL_SWEEP);
}

/* Every service is down: SIGTERM what is left, SIGKILL it a little later. */
static void begin_leftovers(struct sup *sup)
{
	uint64_t now = wd_now(), wait = LEFTOVER_GRACE;
	unsigned n;

	sup->leftovers_phase = true;
	wd_timer_stop(&sup->grace_timer);
	if (sup->grace_deadline <= now)
		wait = 0;
	else if (sup->grace_deadline - now < wait)
		wait = sup->grace_deadline - now;
	n = tree_signal_leftovers(&tree, 0, sup->killing ? SIGKILL : SIGTERM);
	if (n) {
		(void)tree_signal_leftovers(&tree, 0, SIGCONT);
		log_info(1, "sent SIGTERM to %u leftover process%s", n, n == 1 ? "" : "es");
	}
	sup->leftover_timer.cb = on_leftover_timer;
	sup->leftover_timer.data = sup;
	(void)wd_timer_start(sup->loop, &sup->leftover_timer, now + wait);
	reap_all(sup);
}

/* SIGKILL for every service and every leftover: the grace is over. */
static void kill_everything(struct sup *sup, const char *why)
{
	size_t i;

	log_error("%s: killing every process", why);
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->pid && svc_active(s)) {
			(void)kill(-s->pid, SIGKILL);
			(void)kill(s->pid, SIGKILL);
			sup->escalated = true;
		}
	}
	(void)tree_signal_leftovers(&tree, 0, SIGKILL);
	sup->killing = true;
	sup_changed(sup);
}

static void on_grace_timer(wd_timer *t)
{
	kill_everything(t->data, "the grace period is over");
}

static void start_shutdown(struct sup *sup, const char *reason)
{
	if (sup->shutting_down)
		return;
	sup->shutting_down = true;
	sup->shutdown_reason = reason;
	log_info(1, "shutting down: %s", reason);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.started");

		wd_json_str(j, "reason", reason);
		event_emit(j);
	}
	sup->grace_deadline = wd_now() + sup->conf.grace;
	sup->grace_timer.cb = on_grace_timer;
	sup->grace_timer.data = sup;
	(void)wd_timer_start(sup->loop, &sup->grace_timer, sup->grace_deadline);
	sup_changed(sup);
}

/* --- scheduling ----------------------------------------------------------- */

static bool any_dep_failed(const struct svc *s)
{
	size_t i;

	for (i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state == ST_FAILED && !s->deps[i]->want_start)
			return true;
	return false;
}

/* Frees services that a reload removed, once they are down. */
static void sweep_removed(struct sup *sup)
{
	size_t i, k = 0;
	bool removed = false;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->remove_after_stop && !svc_active(s) && !s->pid) {
			svc_free(s);
			removed = true;
		} else {
			sup->svcs[k++] = s;
		}
	}
	sup->nsvcs = k;
	if (removed)
		resolve_deps(sup);
}

/* An essential service ended for good: shut down with its status. */
static bool essential_ended(struct sup *sup)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->conf.essential && !s->stop_requested &&
		    (s->state == ST_EXITED || s->state == ST_FAILED)) {
			/* One that never ran (a dependency failed) exits 1. */
			sup->have_exit_status = true;
			sup->exit_status = s->has_status ? s->last_status : 1 << 8;
			start_shutdown(sup, "an essential service ended");
			return true;
		}
	}
	return false;
}

static void schedule(struct sup *sup)
{
	bool active = false;
	size_t i;

	if (sup->done)
		return;
	sweep_removed(sup);
	if (!sup->shutting_down) {
		if (essential_ended(sup))
			return;
		for (i = 0; i < sup->nsvcs; i++) {
			struct svc *s = sup->svcs[i];

			if (!s->want_start || svc_active(s))
				continue;
			if (any_dep_failed(s)) {
				if (s->state == ST_STOPPED)
					svc_handle(s, EV_DEP_FAILED);
				s->want_start = false;
			} else if (svc_deps_ready(s)) {
				s->want_start = false;
				s->stop_requested = false;
				svc_handle(s, EV_START);
			}
		}
		if (essential_ended(sup))
			return;
		/* One stopped on request may be started again: warden waits for that. */
		for (i = 0; i < sup->nsvcs; i++)
			active |= svc_active(sup->svcs[i]) || sup->svcs[i]->stop_requested;
		if (!active)
			start_shutdown(sup, "no service is left running");
		return;
	}
	/* Shutting down: stop each service once nothing after it runs. */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		s->want_start = false;
		if (s->state == ST_BACKOFF ||
		    ((s->state == ST_STARTING || s->state == ST_RUNNING) &&
		     !has_active_dependents(sup, s))) {
			s->stop_requested = true;
			svc_handle(s, EV_STOP);
		}
	}
	for (i = 0; i < sup->nsvcs; i++)
		active |= svc_active(sup->svcs[i]);
	if (!active && !sup->leftovers_phase)
		begin_leftovers(sup);
}

void sup_changed(struct sup *sup)
{
	static bool busy, again;

	/* Transitions nest (a stop starts another stop): run the pass flat. */
	if (busy) {
		again = true;
		return;
	}
	busy = true;
	do {
		again = false;
		schedule(sup);
	} while (again);
	busy = false;
	control_changed(sup);
}

/* --- reload --------------------------------------------------------------- */

int sup_reload(struct sup *sup, char *err, size_t errlen)
{
	struct config nc;
	unsigned added = 0, changed = 0, removed = 0;
	size_t i;

	if (config_load(sup->conf.path, &nc, err) < 0) {
		log_error("reload rejected, nothing changed: %s", err);
		if (events_on()) {
			struct wd_json *j = event_begin("config.rejected");

			wd_json_str(j, "error", err);
			event_emit(j);
		}
		return -1;
	}
	(void)errlen;
	/* Services gone from the file stop, and go once they are down. */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (config_find(&nc, s->conf.name) >= 0)
			continue;
		removed++;
		s->remove_after_stop = true;
		s->stop_requested = true;
		s->want_start = false;
		svc_handle(s, EV_STOP);
	}
	for (i = 0; i < nc.nsvcs; i++) {
		struct svc_conf *c = &nc.svcs[i];
		struct svc *s = find_svc(sup, c->name);

		if (s && s->remove_after_stop)
			s = NULL; /* removed and added back: a new one */
		if (!s) {
			struct svc **n = realloc(sup->svcs, (sup->nsvcs + 1) * sizeof(*n));

			if (!n || !(s = svc_new(sup, c))) {
				log_error("reload: out of memory for service %s", c->name);
				continue;
			}
			sup->svcs = n;
			n[sup->nsvcs++] = s;
			s->want_start = true;
			added++;
			continue;
		}
		if (s->conf.fingerprint && c->fingerprint &&
		    strcmp(s->conf.fingerprint, c->fingerprint) == 0 && !s->has_next_conf)
			continue;
		changed++;
		config_free_svc(&s->next_conf);
		if (svc_active(s)) {
			s->next_conf = *c;
			memset(c, 0, sizeof(*c));
			s->has_next_conf = true;
			s->restart_after_stop = true;
			s->stop_requested = false;
			svc_handle(s, EV_STOP);
		} else {
			config_free_svc(&s->conf);
			s->conf = *c;
			memset(c, 0, sizeof(*c));
			(void)svc_setup(sup, s);
			free(s->starts);
			s->starts = NULL;
			s->delay = s->conf.restart_delay;
			if (!s->stop_requested)
				s->want_start = true;
		}
	}
	sup->conf.grace = nc.grace;
	sup->conf.log_format = nc.log_format;
	/* Services that follow the [warden] log_format follow its change at once. */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (!s->conf.log_format_set)
			s->conf.log_format = nc.log_format;
	}
	if ((nc.control && (!sup->conf.control || strcmp(nc.control, sup->conf.control) != 0)) ||
	    (!nc.control && sup->conf.control) ||
	    nc.has_control_group != sup->conf.has_control_group ||
	    nc.control_gid != sup->conf.control_gid)
		log_error("reload: control and control_group take effect at the next start; "
			  "kept as they were");
	config_free(&nc);
	resolve_deps(sup);
	log_info(1, "reloaded %s: %u added, %u changed, %u removed", sup->conf.path, added, changed,
		 removed);
	if (events_on()) {
		struct wd_json *j = event_begin("config.reloaded");

		wd_json_uint(j, "added", added);
		wd_json_uint(j, "changed", changed);
		wd_json_uint(j, "removed", removed);
		event_emit(j);
	}
	sup_changed(sup);
	return 0;
}

void sup_request_shutdown(struct sup *sup, const char *reason)
{
	sup->requested = true;
	start_shutdown(sup, reason);
}

/* An operator's start: a fresh start limit and delay, and start it. */
static void control_start(struct svc *s)
{
	s->stop_requested = false;
	free(s->starts);
	s->starts = NULL;
	s->delay = s->conf.restart_delay;
	if (!svc_active(s))
		s->want_start = true;
	else if (s->state == ST_STOPPING)
		s->restart_after_stop = true;
}

void sup_control_service(struct sup *sup, struct svc *s, enum ctl_verb verb)
{
	switch (verb) {
	case CTL_STOP:
		/* Stopped it stays, whatever its restart policy, until started. */
		s->want_start = false;
		s->stop_requested = true;
		s->restart_after_stop = false;
		svc_handle(s, EV_STOP);
		break;
	case CTL_RESTART:
		if (svc_active(s) && s->state != ST_STOPPING) {
			s->restart_after_stop = true;
			s->stop_requested = false;
			svc_handle(s, EV_STOP);
		} else {
			control_start(s); /* one that is not running is started */
		}
		break;
	case CTL_START:
		control_start(s);
		break;
	default:
		break;
	}
	sup_changed(sup);
}

/* --- signals and reaping -------------------------------------------------- */

static struct svc *svc_by_pid(struct sup *sup, pid_t pid)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++)
		if (sup->svcs[i]->pid == pid)
			return sup->svcs[i];
	return NULL;
}

static void reap_all(struct sup *sup)
{
	struct wd_exit e;
	struct svc *s;
	int r;

	while ((r = wd_reap(&e)) > 0) {
		s = svc_by_pid(sup, e.pid);
		if (s) {
			drain_output(s);
			svc_exited(s, e.status);
		} else if (!svc_probe_exited(sup, e.pid, e.status)) {
			char words[64];

			log_info(2, "reaped orphan %d, %s", (int)e.pid,
				 wd_status_describe(e.status, words, sizeof(words)));
			if (events_on()) {
				struct wd_json *j = event_begin("orphan.reaped");

				tree_event_status(j, e.pid, e.status);
				event_emit(j);
			}
		}
	}
	if (r == -ECHILD && sup->leftovers_phase)
		finish(sup);
}

static void on_signal(struct sup *sup, int sig)
{
	char name[WD_SIGNAME_MAX];

	switch (sig) {
	case SIGCHLD:
		reap_all(sup);
		break;
	case SIGTERM:
	case SIGINT:
		if (sup->shutting_down)
			kill_everything(sup, sig == SIGTERM ? "SIGTERM again" : "SIGINT again");
		else {
			sup->requested = true;
			start_shutdown(sup, sig == SIGTERM ? "SIGTERM" : "SIGINT");
		}
		break;
	case SIGHUP: {
		char err[CONFIG_ERR_MAX];

		if (!sup->shutting_down)
			(void)sup_reload(sup, err, sizeof(err));
		break;
	}
	default:
		log_info(1, "ignored %s", wd_signal_name(sig, name));
		break;
	}
}

static void dispatch_signal(int sig, void *data)
{
	on_signal(data, sig);
}

/* As in init mode: a SIGCHLD is never lost, and reaping drains wait4(). */
static void on_signalfd(wd_io *io, uint32_t revents)
{
	(void)revents;
	(void)wd_signalfd_dispatch(io->fd, dispatch_signal, io->data);
}

/* --- start and end -------------------------------------------------------- */

static void random_prefix(char *buf, size_t size)
{
	unsigned char r[8] = {0};
	uint64_t v = wd_now();

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		memcpy(&v, r, sizeof(v));
	snprintf(buf, size, "warden-%d-%016llx", (int)getpid(), (unsigned long long)v);
}

/* Are fds 1 and 2 the same pipe, socket or terminal? Then they share a queue. */
static bool same_output(void)
{
	struct stat a, b;

	return fstat(STDOUT_FILENO, &a) == 0 && fstat(STDERR_FILENO, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int supervisor_check(const char *path)
{
	char err[CONFIG_ERR_MAX];
	struct config c;

	if (config_load(path, &c, err) < 0) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	printf("%s: configuration ok, %zu service%s\n", path, c.nsvcs, c.nsvcs == 1 ? "" : "s");
	config_free(&c);
	return 0;
}

int supervisor_run(const char *path, const char *control_path, const sigset_t *orig_mask)
{
	char err[CONFIG_ERR_MAX];
	struct sup sup;
	size_t i;
	int r;

	memset(&sup, 0, sizeof(sup));
	if (config_load(path, &sup.conf, err) < 0) {
		log_error("%s", err);
		return EXIT_CONFIG;
	}
	sup.started = wd_now();
	sup.orig_mask = *orig_mask;
	{
		/* Only the event destination survives; it must not reach the services. */
		int keep = events_fd();

		(void)wd_fd_close_from(3, &keep, keep > STDERR_FILENO ? 1 : 0);
		if (keep > STDERR_FILENO)
			(void)wd_fd_set_cloexec(keep, true);
	}
	tree_init(&tree);
	/* Each service holds a few descriptors: take the hard limit, give services the soft one. */
	if (getrlimit(RLIMIT_NOFILE, &sup.nofile) == 0 &&
	    sup.nofile.rlim_cur < sup.nofile.rlim_max) {
		struct rlimit raised = {sup.nofile.rlim_max, sup.nofile.rlim_max};

		sup.nofile_raised = setrlimit(RLIMIT_NOFILE, &raised) == 0;
	}
	r = wd_loop_new(&sup.loop);
	if (r < 0) {
		log_errno(r, "cannot create the event loop");
		config_free(&sup.conf);
		return EXIT_WARDEN;
	}
	sup.sig_io.fd = wd_signalfd_open();
	sup.sig_io.events = EPOLLIN;
	sup.sig_io.cb = on_signalfd;
	sup.sig_io.data = &sup;
	sup.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sup.sig_io.fd < 0 || wd_io_start(sup.loop, &sup.sig_io) < 0 || sup.devnull < 0) {
		log_error("cannot set up signals or /dev/null");
		wd_loop_free(sup.loop);
		config_free(&sup.conf);
		return EXIT_WARDEN;
	}
	if (outq_init(&sup.qout, sup.loop, STDOUT_FILENO, OUTQ_CAP) < 0) {
		log_error("out of memory");
		return EXIT_WARDEN;
	}
	if (same_output()) {
		sup.qshared = &sup.qout;
	} else if (outq_init(&sup.qerr, sup.loop, STDERR_FILENO, OUTQ_CAP) < 0) {
		log_error("out of memory");
		return EXIT_WARDEN;
	}
	sup.qout.on_space = sup.qerr.on_space = on_space;
	sup.qout.data = sup.qerr.data = &sup;
	the_sup = &sup;
	log_set_sink(sink);
	random_prefix(sup.notify_prefix, sizeof(sup.notify_prefix));

	sup.svcs = calloc(sup.conf.nsvcs + 1, sizeof(*sup.svcs));
	for (i = 0; sup.svcs && i < sup.conf.nsvcs; i++) {
		struct svc *s = svc_new(&sup, &sup.conf.svcs[i]);

		if (!s)
			break;
		s->want_start = true;
		sup.svcs[sup.nsvcs++] = s;
	}
	if (!sup.svcs || sup.nsvcs != sup.conf.nsvcs) {
		log_error("out of memory for the services");
		return EXIT_WARDEN;
	}
	resolve_deps(&sup);
	{
		char def[108];
		const char *cpath = control_path       ? control_path
				    : sup.conf.control ? sup.conf.control
						       : control_default_path(def, sizeof(def));

		if (control_open(&sup, cpath, sup.conf.has_control_group, sup.conf.control_gid, err,
				 sizeof(err)) < 0) {
			log_error("%s", err);
			sup.exit_code = EXIT_CONFIG;
			goto out;
		}
	}
	if (events_on()) {
		struct wd_json *j = event_begin("warden.started");

		wd_json_str(j, "version", WARDEN_VERSION);
		wd_json_int(j, "pid", tree.self);
		wd_json_bool(j, "pid1", tree.pid1);
		wd_json_bool(j, "subreaper", !tree.pid1);
		wd_json_str(j, "mode", "supervisor");
		wd_json_str(j, "config", sup.conf.path);
		wd_json_uint(j, "services", sup.nsvcs);
		event_emit(j);
	}

	/* From here on warden must not die: failures are reported and handled. */
	sup_changed(&sup);
	r = wd_loop_run(sup.loop);
	if (r < 0) {
		log_errno(r, "the event loop failed");
		sup.exit_code = EXIT_WARDEN;
	}
	control_close(&sup);
	final_drain(&sup);
out:

	for (i = 0; i < sup.nsvcs; i++)
		svc_free(sup.svcs[i]);
	free(sup.svcs);
	log_set_sink(NULL);
	the_sup = NULL;
	outq_close(&sup.qout, 1000);
	if (!sup.qshared)
		outq_close(&sup.qerr, 1000);
	close(sup.sig_io.fd);
	close(sup.devnull);
	wd_loop_free(sup.loop);
	config_free(&sup.conf);
	return sup.exit_code;
}
