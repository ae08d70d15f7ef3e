/* SPDX-License-Identifier: MIT */
/*
 * The control socket, server side. Every client is a slot of a table sized
 * at start-up; a client that sends nothing or sends slowly only holds its
 * slot, and the longest idle one gives it up when a new client needs it.
 * Nothing here blocks: replies wait in a buffer until the socket takes them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/json.h>
#include <warden/proc.h>
#include <warden/signals.h>

#include "config.h"
#include "control.h"
#include "ctlproto.h"
#include "log.h"
#include "metrics.h"
#include "supervisor.h"

/*
 * A dump reads /proc for every process of every service: dumps may take
 * this share of warden's time at most, however fast clients ask for them,
 * so that reaping and forwarding never starve.
 */
#define DUMP_SHARE_PERCENT 10

struct client {
	struct control *ctl;
	wd_io io; /* fd < 0: a free slot */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool readonly;
	char in[CTL_REQUEST_MAX];
	size_t inlen;
	bool discarding; /* skipping the rest of an oversized line */
	bool processing; /* inside process_lines() */
	char *out;
	size_t outlen, outpos;
	bool waiting;
	bool deferred; /* a dump, held until dumps may run again */
	char waitline[CTL_REQUEST_MAX];
	struct ctl_request req;
	wd_timer timer;
	uint64_t last_active;
};

struct control {
	struct sup *sup;
	int fd;
	wd_io io;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	ino_t ino;
	bool has_group;
	gid_t group;
	int spare;		      /* a descriptor given up to accept when none is left */
	wd_timer pause;		      /* accepting again, after running out of descriptors */
	uint64_t dump_next;	      /* no dump starts before this */
	uint64_t requests[NCTLVERBS]; /* warden_control_requests_total */
	struct client clients[CONTROL_CLIENTS_MAX];
};

const char *control_default_path(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, size, "/run/warden/control.sock");
	else if (xdg && *xdg == '/')
		snprintf(buf, size, "%s/warden/control.sock", xdg);
	else
		snprintf(buf, size, "/tmp/warden-%u/control.sock", (unsigned)geteuid());
	return buf;
}

/* --- replies -------------------------------------------------------------- */

static void client_close(struct client *c)
{
	if (c->io.fd < 0)
		return;
	wd_io_stop(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	wd_timer_stop(&c->timer);
	free(c->out);
	c->out = NULL;
	c->outlen = c->outpos = c->inlen = 0;
	c->waiting = c->discarding = c->deferred = false;
}

static void process_lines(struct client *c);

static void client_flush(struct client *c)
{
	while (c->outpos < c->outlen) {
		ssize_t n = send(c->io.fd, c->out + c->outpos, c->outlen - c->outpos,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				(void)wd_io_modify(&c->io, EPOLLOUT);
				return;
			}
			client_close(c);
			return;
		}
		c->outpos += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->outlen = c->outpos = 0;
	/* The reply is out: the next request, already here or still to come. */
	if (!c->waiting && !c->deferred) {
		(void)wd_io_modify(&c->io, EPOLLIN);
		if (!c->processing)
			process_lines(c);
	}
}

/* Sends a finished JSON object (the writer's buffer is taken over). */
static void client_send(struct client *c, struct wd_json *j)
{
	int n = wd_json_end(j);

	if (n < 0) {
		free(j->buf);
		j->buf = NULL;
		if (wd_json_begin_alloc(j, 4096) < 0) {
			client_close(c);
			return;
		}
		wd_json_bool(j, "ok", false);
		wd_json_str(j, "error", "the reply is too large or out of memory");
		wd_json_str(j, "code", ctl_error_name(CTL_EFAILED));
		n = wd_json_end(j);
		if (n < 0) {
			free(j->buf);
			client_close(c);
			return;
		}
	}
	free(c->out);
	c->out = j->buf;
	c->outlen = (size_t)n;
	c->outpos = 0;
	client_flush(c);
}

static void reply_error(struct client *c, enum ctl_error code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_error(struct client *c, enum ctl_error code, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX + 64];
	struct wd_json j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (wd_json_begin_alloc(&j, 8192) < 0) {
		client_close(c);
		return;
	}
	wd_json_bool(&j, "ok", false);
	wd_json_str(&j, "error", msg);
	wd_json_str(&j, "code", ctl_error_name(code));
	client_send(c, &j);
}

static void reply_ok(struct client *c)
{
	struct wd_json j;

	if (wd_json_begin_alloc(&j, 4096) < 0) {
		client_close(c);
		return;
	}
	wd_json_bool(&j, "ok", true);
	client_send(c, &j);
}

/* --- status and dump ------------------------------------------------------ */

/* Reads /proc/PID/FILE into buf; returns its length or -1. */
static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The value of "Key:" in a /proc/PID/status text, trimmed, into out. */
static const char *status_field(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key);
	const char *p = text;

	out[0] = '\0';
	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *v = p + kl + 1, *e;
			size_t n;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strchr(v, '\n');
			n = e ? (size_t)(e - v) : strlen(v);
			if (n >= size)
				n = size - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return out;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return out;
}

/* One process of a tree, from /proc: what an operator asks first. */
static void process_json(struct wd_json *j, pid_t pid)
{
	char st[4096], stat[1024], v[256], *p;
	long tick = sysconf(_SC_CLK_TCK);
	unsigned long long ut = 0, stt = 0;
	char state = '?';
	int ppid = 0;
	struct dirent *de;
	DIR *d;

	wd_json_open(j, NULL, '{');
	wd_json_int(j, "pid", pid);
	if (read_proc(pid, "stat", stat, sizeof(stat)) > 0 && (p = strrchr(stat, ')')) &&
	    sscanf(p + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ppid,
		   &ut, &stt) >= 2) {
		char *open_paren = strchr(stat, '(');

		wd_json_int(j, "ppid", ppid);
		if (open_paren && p > open_paren)
			wd_json_strn(j, "name", open_paren + 1, (size_t)(p - open_paren - 1));
		wd_json_strn(j, "state", &state, 1);
		if (tick > 0) {
			wd_json_uint(j, "utime_ms", ut * 1000 / (unsigned long long)tick);
			wd_json_uint(j, "stime_ms", stt * 1000 / (unsigned long long)tick);
		}
	}
	if (read_proc(pid, "status", st, sizeof(st)) > 0) {
		wd_json_int(j, "threads", atoi(status_field(st, "Threads", v, sizeof(v))));
		wd_json_int(j, "rss_kb", atol(status_field(st, "VmRSS", v, sizeof(v))));
		wd_json_str(j, "sig_blocked", status_field(st, "SigBlk", v, sizeof(v)));
		wd_json_str(j, "sig_ignored", status_field(st, "SigIgn", v, sizeof(v)));
		wd_json_str(j, "sig_caught", status_field(st, "SigCgt", v, sizeof(v)));
		wd_json_str(j, "uid", status_field(st, "Uid", v, sizeof(v)));
	}
	wd_json_open(j, "fds", '[');
	snprintf(v, sizeof(v), "/proc/%d/fd", (int)pid);
	d = opendir(v);
	while (d && (de = readdir(d))) {
		char link[4096 + 64], target[4096];
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/%d/fd/%s", (int)pid, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		wd_json_open(j, NULL, '{');
		wd_json_int(j, "fd", atoi(de->d_name));
		wd_json_strn(j, "target", target, (size_t)n);
		wd_json_close(j, '}');
	}
	if (d)
		closedir(d);
	wd_json_close(j, '[');
	wd_json_close(j, '}');
}

static void tree_json(struct wd_json *j, const struct wd_proc_table *t, pid_t root)
{
	pid_t kids[4096];
	int n, i;

	wd_json_open(j, "processes", '[');
	if (root > 0) {
		process_json(j, root);
		n = t ? wd_proc_table_descendants(t, root, kids, sizeof(kids) / sizeof(kids[0]))
		      : 0;
		for (i = 0; i < n && i < (int)(sizeof(kids) / sizeof(kids[0])); i++)
			process_json(j, kids[i]);
	}
	wd_json_close(j, '[');
}

void control_status_json(struct sup *sup, struct wd_json *j, char *const *names, size_t nnames,
			 bool dump)
{
	struct wd_proc_table *table = NULL;
	size_t i, k;

	/* One look at /proc for every tree of the dump, not one per service. */
	if (dump && wd_proc_table_read(&table) < 0)
		table = NULL;
	wd_json_bool(j, "ok", true);
	/* warden's own state in both: a status shows a shutdown (a drain) under way. */
	wd_json_open(j, "warden", '{');
	sup_json(sup, j);
	if (dump) {
		wd_json_open(j, "self", '[');
		process_json(j, getpid());
		wd_json_close(j, '[');
	}
	wd_json_close(j, '}');
	wd_json_open(j, "services", '[');
	for (i = 0; i < sup_count(sup); i++) {
		struct svc *s = sup_get(sup, i);
		bool named = nnames == 0;

		for (k = 0; k < nnames && !named; k++)
			named = strcmp(names[k], svc_name(s)) == 0;
		if (!named)
			continue;
		wd_json_open(j, NULL, '{');
		svc_json(s, j, dump);
		if (dump)
			tree_json(j, table, svc_pid(s));
		wd_json_close(j, '}');
	}
	wd_json_close(j, '[');
	wd_proc_table_free(table);
}

static void do_status(struct client *c, struct ctl_request *r, bool dump)
{
	struct wd_json j;

	if (wd_json_begin_alloc(&j, CONTROL_REPLY_MAX) < 0) {
		client_close(c);
		return;
	}
	control_status_json(c->ctl->sup, &j, r->args, r->nargs, dump);
	client_send(c, &j);
}

/* The exposition of metrics_render(), as the "metrics" member of the reply. */
static void do_metrics(struct client *c, bool openmetrics)
{
	struct wd_json j;
	size_t len;
	char *text = metrics_render(c->ctl->sup, openmetrics, &len);

	if (!text) {
		reply_error(c, CTL_EFAILED, "out of memory for the metrics");
		return;
	}
	if (wd_json_begin_alloc(&j, CONTROL_REPLY_MAX) < 0) {
		free(text);
		client_close(c);
		return;
	}
	wd_json_bool(&j, "ok", true);
	wd_json_strn(&j, "metrics", text, len);
	free(text);
	client_send(c, &j);
}

/* A dump now, and when the next one may start. */
static void serve_dump(struct client *c, struct ctl_request *r)
{
	struct control *ctl = c->ctl;
	uint64_t t0 = wd_now(), took;

	do_status(c, r, true);
	took = wd_now() - t0;
	ctl->dump_next = t0 + took + took * (100 - DUMP_SHARE_PERCENT) / DUMP_SHARE_PERCENT;
}

static void on_dump_due(wd_timer *t)
{
	struct client *c = t->data;
	struct control *ctl = c->ctl;

	if (!c->deferred)
		return;
	/* Another client's dump went first: later again. */
	if (wd_now() < ctl->dump_next) {
		(void)wd_timer_start(sup_loop(ctl->sup), &c->timer, ctl->dump_next);
		return;
	}
	c->deferred = false;
	serve_dump(c, &c->req);
}

/* Keeps the request (its line copied) and serves it once dumps may run again. */
static void defer_dump(struct client *c, const struct ctl_request *r, const char *line)
{
	size_t k;

	memcpy(c->waitline, line, sizeof(c->waitline));
	c->req = *r;
	for (k = 0; k < r->nargs; k++)
		c->req.args[k] = c->waitline + (r->args[k] - line);
	c->deferred = true;
	(void)wd_io_modify(&c->io, 0);
	c->timer.cb = on_dump_due;
	c->timer.data = c;
	(void)wd_timer_start(sup_loop(c->ctl->sup), &c->timer, c->ctl->dump_next);
}

/* --- wait ------------------------------------------------------------------- */

/* Answers a wait that is decided; returns false while it is not. */
static bool wait_check(struct client *c)
{
	struct sup *sup = c->ctl->sup;
	struct ctl_request *r = &c->req;
	size_t k;

	for (k = 0; k < r->nargs; k++) {
		struct svc *s = sup_find(sup, r->args[k]);

		if (!s) {
			reply_error(c, CTL_ENOSERVICE, "no such service: %s (removed)", r->args[k]);
			return true;
		}
		if (r->ready) {
			if (svc_is_ready(s))
				continue;
			if (svc_has_ended(s) || sup_shutting_down(sup)) {
				reply_error(c, CTL_EFAILED, "service %s %s before it was ready",
					    svc_name(s), svc_is_failed(s) ? "failed" : "ended");
				return true;
			}
			return false;
		}
		if (!svc_has_ended(s))
			return false;
	}
	reply_ok(c);
	return true;
}

static void wait_done(struct client *c)
{
	c->waiting = false;
	wd_timer_stop(&c->timer);
}

static void on_wait_timeout(wd_timer *t)
{
	struct client *c = t->data;

	if (!c->waiting)
		return;
	wait_done(c);
	reply_error(c, CTL_ETIMEDOUT, "timed out waiting for %s", c->req.args[0]);
}

void control_changed(struct control *ctl)
{
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct client *c = &ctl->clients[i];

		if (c->io.fd >= 0 && c->waiting) {
			c->waiting = false; /* a reply below may close c */
			if (wait_check(c))
				wd_timer_stop(&c->timer);
			else
				c->waiting = true;
		}
	}
}

/* --- requests ------------------------------------------------------------- */

static void handle(struct client *c, char *line)
{
	struct sup *sup = c->ctl->sup;
	char err[CONFIG_ERR_MAX];
	struct ctl_request r;
	size_t k;

	if (ctl_parse(line, &r, err, sizeof(err)) < 0) {
		reply_error(c, CTL_EUSAGE, "%s", err);
		return;
	}
	c->ctl->requests[r.verb]++;
	if (c->readonly && !ctl_verb_readonly(r.verb)) {
		if (events_on()) {
			struct wd_json *j = event_begin("control.refused");

			wd_json_uint(j, "uid", c->uid);
			wd_json_uint(j, "gid", c->gid);
			wd_json_int(j, "pid", c->pid);
			wd_json_str(j, "verb", ctl_verb_name(r.verb));
			event_emit(j);
		}
		reply_error(c, CTL_EREFUSED,
			    "permission denied: uid %u may only use status, dump, metrics and wait",
			    (unsigned)c->uid);
		return;
	}
	/* Every service named must exist, or nothing is done at all. */
	for (k = 0; k < r.nargs; k++)
		if (!sup_find(sup, r.args[k])) {
			reply_error(c, CTL_ENOSERVICE, "no such service: %s", r.args[k]);
			return;
		}
	if (sup_shutting_down(sup) && !ctl_verb_readonly(r.verb) && r.verb != CTL_SHUTDOWN) {
		reply_error(c, CTL_EFAILED, "warden is shutting down");
		return;
	}
	switch (r.verb) {
	case CTL_STATUS:
		do_status(c, &r, false);
		return;
	case CTL_METRICS:
		do_metrics(c, r.openmetrics);
		return;
	case CTL_DUMP:
		if (wd_now() < c->ctl->dump_next)
			defer_dump(c, &r, line);
		else
			serve_dump(c, &r);
		return;
	case CTL_START:
	case CTL_STOP:
	case CTL_RESTART:
		for (k = 0; k < r.nargs; k++)
			if (sup_control(sup, r.verb, sup_find(sup, r.args[k]), err, sizeof(err)) <
			    0) {
				reply_error(c, CTL_EFAILED, "%s", err);
				return;
			}
		reply_ok(c);
		return;
	case CTL_SIGNAL: {
		struct svc *s = sup_find(sup, r.args[0]);

		if (!svc_pid(s)) {
			reply_error(c, CTL_EFAILED, "service %s is not running", svc_name(s));
			return;
		}
		if (kill(svc_pid(s), r.signal) < 0) {
			reply_error(c, CTL_EFAILED, "cannot signal service %s: %s", svc_name(s),
				    strerror(errno));
			return;
		}
		reply_ok(c);
		return;
	}
	case CTL_WAIT:
		/* The request must outlive this line: keep a copy, re-parsed. */
		memcpy(c->waitline, line, sizeof(c->waitline));
		c->req = r;
		for (k = 0; k < r.nargs; k++)
			c->req.args[k] = c->waitline + (r.args[k] - line);
		if (wait_check(c))
			return;
		c->waiting = true;
		(void)wd_io_modify(&c->io, 0);
		if (r.timeout) {
			c->timer.cb = on_wait_timeout;
			c->timer.data = c;
			uint64_t now = wd_now();

			/* A timeout of centuries is no timeout: no overflow into the past. */
			(void)wd_timer_start(sup_loop(sup), &c->timer,
					     r.timeout > UINT64_MAX - now ? UINT64_MAX
									  : now + r.timeout);
		}
		return;
	case CTL_RELOAD:
		if (sup_control(sup, CTL_RELOAD, NULL, err, sizeof(err)) < 0)
			reply_error(c, CTL_EFAILED, "%s", err);
		else
			reply_ok(c);
		return;
	case CTL_SHUTDOWN:
		reply_ok(c);
		(void)sup_control(sup, CTL_SHUTDOWN, NULL, err, sizeof(err));
		return;
	case NCTLVERBS:
		break;
	}
}

/* Answers the whole requests held in c's buffer, one at a time. */
static void process_lines(struct client *c)
{
	char *nl;

	c->processing = true;
	while (c->io.fd >= 0 && !c->waiting && !c->deferred && !c->outlen &&
	       (nl = memchr(c->in, '\n', c->inlen))) {
		size_t len = (size_t)(nl - c->in) + 1;
		char line[CTL_REQUEST_MAX];

		memcpy(line, c->in, len - 1);
		line[len - 1] = '\0';
		c->inlen -= len;
		memmove(c->in, c->in + len, c->inlen);
		if (c->discarding) {
			c->discarding = false;
			continue;
		}
		if (memchr(line, '\0', len - 1)) {
			reply_error(c, CTL_EUSAGE, "a request holds a NUL byte");
			continue;
		}
		handle(c, line);
	}
	c->processing = false;
	if (c->io.fd >= 0 && c->inlen == sizeof(c->in)) {
		/* No newline in a full buffer: refuse it, and skip to the next line. */
		c->inlen = 0;
		if (!c->discarding)
			reply_error(c, CTL_EUSAGE, "request too long (at most %d bytes)",
				    CTL_REQUEST_MAX - 1);
		c->discarding = true;
	}
}

static void on_client(wd_io *io, uint32_t revents)
{
	struct client *c = io->data;
	ssize_t n;

	if (revents & EPOLLERR) {
		client_close(c);
		return;
	}
	if (revents & EPOLLOUT) {
		client_flush(c);
		if (c->io.fd < 0 || c->outlen)
			return;
	}
	if (c->waiting || c->deferred || c->outlen) {
		/* Not reading now; a hang-up means the client is gone. */
		if (revents & EPOLLHUP)
			client_close(c);
		return;
	}
	/*
	 * Read before acting on a hang-up: a client may send a whole request
	 * and close at once ("printf 'stop web\\n' | socat ...").
	 */
	n = recv(io->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		process_lines(c); /* what arrived before the end is still answered */
		client_close(c);
		return;
	}
	if (n > 0) {
		c->inlen += (size_t)n;
		c->last_active = wd_now();
	}
	process_lines(c);
}

/* --- accepting ------------------------------------------------------------ */

/* Is uid's process pid, or gid, in group? Supplementary groups from /proc. */
static bool in_group(pid_t pid, gid_t gid, gid_t group)
{
	char st[4096], v[1024], *p, *end;

	if (gid == group)
		return true;
	if (pid <= 0 || read_proc(pid, "status", st, sizeof(st)) < 0)
		return false;
	status_field(st, "Groups", v, sizeof(v));
	for (p = v; *p;) {
		unsigned long g = strtoul(p, &end, 10);

		if (end == p)
			break;
		if ((gid_t)g == group)
			return true;
		p = end;
	}
	return false;
}

static struct client *free_slot(struct control *ctl)
{
	struct client *oldest = NULL;
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct client *c = &ctl->clients[i];

		if (c->io.fd < 0)
			return c;
		if (!c->waiting && !c->deferred && !c->outlen &&
		    (!oldest || c->last_active < oldest->last_active))
			oldest = c;
	}
	/* Full: the client idle the longest makes room; failing that, the oldest wait. */
	if (oldest) {
		log_info(2, "control: too many clients, closing the longest idle one");
		client_close(oldest);
		return oldest;
	}
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct client *c = &ctl->clients[i];

		if (c->waiting && (!oldest || c->last_active < oldest->last_active))
			oldest = c;
	}
	if (oldest) {
		wait_done(oldest);
		reply_error(oldest, CTL_EFAILED, "too many clients: this wait was given up");
		client_close(oldest);
	}
	return oldest;
}

static void refuse(int fd, const struct ucred *uc)
{
	char msg[256];
	int n;

	n = snprintf(msg, sizeof(msg),
		     "{\"ok\":false,\"error\":\"permission denied: uid %u may not control this "
		     "warden\",\"code\":\"refused\"}\n",
		     (unsigned)uc->uid);
	(void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	log_info(1, "control: refused uid %u (pid %d)", (unsigned)uc->uid, (int)uc->pid);
	if (events_on()) {
		struct wd_json *j = event_begin("control.refused");

		wd_json_uint(j, "uid", uc->uid);
		wd_json_uint(j, "gid", uc->gid);
		wd_json_int(j, "pid", uc->pid);
		event_emit(j);
	}
}

static void on_pause_over(wd_timer *t)
{
	struct control *ctl = t->data;

	(void)wd_io_modify(&ctl->io, EPOLLIN);
}

/*
 * No descriptor left for a new client. A listening socket stays readable,
 * so returning would spin: the spare descriptor makes room to accept the
 * client and tell it why it is turned away. Without a spare, accepting
 * pauses for a second.
 */
static void out_of_fds(struct control *ctl)
{
	static const char msg[] = "{\"ok\":false,\"error\":\"warden is out of file descriptors\","
				  "\"code\":\"failed\"}\n";
	int fd;

	log_info(1, "control: out of file descriptors");
	if (ctl->spare >= 0) {
		close(ctl->spare);
		fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			(void)send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
		}
		ctl->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (ctl->spare >= 0)
			return;
	}
	(void)wd_io_modify(&ctl->io, 0);
	ctl->pause.cb = on_pause_over;
	ctl->pause.data = ctl;
	(void)wd_timer_start(sup_loop(ctl->sup), &ctl->pause, wd_now() + WD_NSEC_PER_SEC);
}

static void on_accept(wd_io *io, uint32_t revents)
{
	struct control *ctl = io->data;
	int round;

	(void)revents;
	for (round = 0; round < 32; round++) {
		struct ucred uc;
		socklen_t len = sizeof(uc);
		struct client *c;
		bool full, ro = false;
		int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			out_of_fds(ctl);
			return;
		}
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0) {
			close(fd);
			continue;
		}
		full = uc.uid == 0 || uc.uid == geteuid();
		if (!full && ctl->has_group && in_group(uc.pid, uc.gid, ctl->group))
			ro = true;
		if (!full && !ro) {
			refuse(fd, &uc);
			close(fd);
			continue;
		}
		c = free_slot(ctl);
		if (!c) {
			static const char busy[] = "{\"ok\":false,\"error\":\"too many "
						   "clients\",\"code\":\"failed\"}\n";

			(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->ctl = ctl;
		c->uid = uc.uid;
		c->gid = uc.gid;
		c->pid = uc.pid;
		c->readonly = ro;
		c->last_active = wd_now();
		c->io.fd = fd;
		c->io.events = EPOLLIN;
		c->io.cb = on_client;
		c->io.data = c;
		if (wd_io_start(sup_loop(ctl->sup), &c->io) < 0) {
			close(fd);
			c->io.fd = -1;
		}
	}
}

/* --- the socket ------------------------------------------------------------- */

static int mkdirs(const char *path, mode_t mode)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int control_open(struct sup *sup, const char *path, bool has_group, gid_t group,
		 struct control **ret, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct control *ctl;
	struct stat st;
	mode_t old;
	size_t i;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -1;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctl->sup = sup;
	ctl->spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		ctl->clients[i].io.fd = -1;
	ctl->has_group = has_group;
	ctl->group = group;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	r = mkdirs(path, 0755);
	if (r < 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", path, strerror(-r));
		if (ctl->spare >= 0)
			close(ctl->spare);
		free(ctl);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the control socket: %s", strerror(errno));
		if (ctl->spare >= 0)
			close(ctl->spare);
		free(ctl);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			goto fail;
		}
		/* Someone answers: another warden. Nobody: a stale socket, replaced. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "another warden is running (it answers on %s)", path);
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		(void)unlink(path);
	}
	old = umask(0177); /* the socket is born 0600 */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", ctl->path, strerror(errno));
		goto fail;
	}
	if (ctl->has_group && (chown(path, (uid_t)-1, ctl->group) < 0 || chmod(path, 0660) < 0)) {
		snprintf(err, errlen, "cannot give %s to group %u: %s", ctl->path, (unsigned)group,
			 strerror(errno));
		(void)unlink(path);
		goto fail;
	}
	if (stat(path, &st) == 0)
		ctl->ino = st.st_ino;
	ctl->fd = fd;
	ctl->io.fd = fd;
	ctl->io.events = EPOLLIN;
	ctl->io.cb = on_accept;
	ctl->io.data = ctl;
	if (wd_io_start(sup_loop(sup), &ctl->io) < 0) {
		snprintf(err, errlen, "cannot watch the control socket");
		(void)unlink(path);
		goto fail;
	}
	*ret = ctl;
	log_info(1, "control socket: %s", path);
	return 0;
fail:
	close(fd);
	if (ctl->spare >= 0)
		close(ctl->spare);
	free(ctl);
	return -1;
}

void control_close(struct control *ctl)
{
	struct stat st;
	size_t i;

	if (!ctl)
		return;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct client *c = &ctl->clients[i];

		if (c->io.fd < 0)
			continue;
		if (c->waiting) {
			wait_done(c);
			reply_error(c, CTL_EFAILED, "warden exited");
		}
		client_close(c);
	}
	wd_io_stop(&ctl->io);
	wd_timer_stop(&ctl->pause);
	close(ctl->fd);
	if (ctl->spare >= 0)
		close(ctl->spare);
	/* Remove it only if it is still ours, not a newer warden's. */
	if (stat(ctl->path, &st) == 0 && st.st_ino == ctl->ino)
		(void)unlink(ctl->path);
	free(ctl);
}

uint64_t control_requests(const struct control *ctl, enum ctl_verb verb)
{
	return ctl ? ctl->requests[verb] : 0;
}
