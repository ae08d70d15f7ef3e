/* SPDX-License-Identifier: MIT */
/*
 * Readiness: how warden learns that a service is ready. The systemd notify
 * protocol (a datagram socket of the service's own), an s6-style fd:N (a
 * newline on a pipe), exec:COMMAND (a probe that exits 0) and tcp:HOST:PORT
 * (a connection that succeeds). Each ends in EV_READY for the service.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/clock.h>

#include "core.h"
#include "log.h"
#include "notify.h"

/* How often exec: and tcp: readiness probes are repeated. */
#define PROBE_INTERVAL (250 * WD_NSEC_PER_MSEC)

static void probe_start(struct svc *s);

void readiness_stop(struct svc *s)
{
	io_close(&s->ready_io);
	wd_timer_stop(&s->probe_timer);
	if (s->probe_pid > 0)
		(void)kill(s->probe_pid, SIGKILL);
}

/* --- fd:N ------------------------------------------------------------------ */

static void on_ready_fd(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	char buf[256];
	ssize_t n;

	(void)revents;
	n = read(io->fd, buf, sizeof(buf));
	if (n > 0 && memchr(buf, '\n', (size_t)n)) {
		readiness_stop(s);
		svc_handle(s, EV_READY);
	} else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* Closed without a newline: it will not say it is ready that way. */
		readiness_stop(s);
	}
}

/* --- exec: and tcp: -------------------------------------------------------- */

static void on_probe_timer(wd_timer *t)
{
	struct svc *s = t->data;

	if (s->state == ST_STARTING)
		probe_start(s);
}

static void probe_again(struct svc *s)
{
	s->probe_timer.cb = on_probe_timer;
	s->probe_timer.data = s;
	(void)wd_timer_start(s->sup->loop, &s->probe_timer, wd_now() + PROBE_INTERVAL);
}

static void on_tcp(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)revents;
	if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	io_close(io);
	if (err == 0)
		svc_handle(s, EV_READY);
	else
		probe_again(s);
}

int probe_connect(const char *host, const char *port, int *ret_fd)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;
	socklen_t len;
	int fd, p = atoi(port);

	memset(&a, 0, sizeof(a));
	/* No resolver in the loop: addresses, and localhost. */
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a.in4.sin_addr) == 1) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons((uint16_t)p);
		len = sizeof(a.in4);
	} else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons((uint16_t)p);
		len = sizeof(a.in6);
	} else {
		return -EINVAL; /* the config check refused it already */
	}
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &a.sa, len) == 0) {
		*ret_fd = fd;
		return 1;
	}
	if (errno != EINPROGRESS) {
		int e = errno;

		close(fd);
		return -e;
	}
	*ret_fd = fd;
	return 0;
}

static void probe_tcp(struct svc *s)
{
	int fd = -1, r = probe_connect(s->conf.ready_host, s->conf.ready_port, &fd);

	if (r == 1) {
		close(fd);
		svc_handle(s, EV_READY);
		return;
	}
	if (r < 0) {
		probe_again(s);
		return;
	}
	s->ready_io.fd = fd;
	s->ready_io.events = EPOLLOUT;
	s->ready_io.cb = on_tcp;
	s->ready_io.data = s;
	if (wd_io_start(s->sup->loop, &s->ready_io) < 0) {
		close(fd);
		s->ready_io.fd = -1;
		probe_again(s);
	}
}

static void probe_start(struct svc *s)
{
	int r;

	if (s->conf.ready == READY_TCP) {
		probe_tcp(s);
		return;
	}
	r = spawn_probe(s, s->conf.ready_argv, &s->probe_pid);
	if (r < 0) {
		log_errno(r, "service %s: cannot start its readiness probe", s->conf.name);
		probe_again(s);
	}
}

bool readiness_probe_reaped(struct sup *sup, pid_t pid, int status)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->probe_pid != pid)
			continue;
		s->probe_pid = 0;
		if (s->state != ST_STARTING)
			return true;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			wd_timer_stop(&s->probe_timer);
			svc_handle(s, EV_READY);
		} else {
			probe_again(s);
		}
		return true;
	}
	return false;
}

void readiness_start(struct svc *s, int ready_fd)
{
	switch (s->conf.ready) {
	case READY_FD:
		if (ready_fd < 0)
			break;
		(void)fcntl(ready_fd, F_SETFL, O_NONBLOCK);
		s->ready_io.fd = ready_fd;
		s->ready_io.events = EPOLLIN;
		s->ready_io.cb = on_ready_fd;
		s->ready_io.data = s;
		if (wd_io_start(s->sup->loop, &s->ready_io) < 0)
			readiness_stop(s);
		break;
	case READY_EXEC:
	case READY_TCP:
		probe_start(s);
		break;
	case READY_NONE:
	case READY_NOTIFY:
		break;
	}
}

/* --- notify ------------------------------------------------------------------ */

/*
 * May a notify message from pid (of user uid, both as the kernel vouches
 * for them) speak for s? Yes when pid is s's main process or below it, or
 * has already exited (a short-lived systemd-notify: its ancestry is gone)
 * and ran as the user the service runs as. Walks up /proc, a bounded
 * number of steps.
 */
static bool in_tree(const struct svc *s, pid_t pid, uid_t uid)
{
	uid_t svc_uid = s->conf.has_user ? s->conf.uid : geteuid();
	int depth;

	for (depth = 0; depth < 64 && pid > 1; depth++) {
		char path[64], buf[512], *p, state;
		int ppid;
		FILE *f;

		if (pid == s->pid)
			return true;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "re");
		if (!f)
			return depth == 0 && uid == svc_uid;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!p || !(p = strrchr(buf, ')')) || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			return false;
		if (depth == 0 && (state == 'Z' || state == 'X'))
			return uid == svc_uid;
		pid = ppid;
	}
	return false;
}

static void notify_event(struct svc *s, const char *name)
{
	struct wd_json *j;

	if (!events_on())
		return;
	j = event_begin(name);
	wd_json_str(j, "service", s->conf.name);
	if (strcmp(name, "service.status") == 0)
		wd_json_str(j, "status", s->status_text);
	event_emit(j);
}

/* Extends the running deadline to now + usec, never shortening it. */
static void extend(struct svc *s, uint64_t usec)
{
	uint64_t now = wd_now(), want;

	want = usec > (UINT64_MAX - now) / WD_NSEC_PER_USEC ? UINT64_MAX
							    : now + usec * WD_NSEC_PER_USEC;
	if (s->timer.deadline < want)
		(void)wd_timer_start(s->sup->loop, &s->timer, want);
}

static void on_notify(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	char buf[NOTIFY_DATAGRAM_MAX];
	struct notify_msg m;
	int rounds;
	pid_t pid;
	uid_t uid;

	(void)revents;
	/* Bounded, so that a flood cannot starve the loop; epoll comes back. */
	for (rounds = 0; rounds < 16; rounds++) {
		ssize_t n = notify_recv(io->fd, buf, sizeof(buf), &pid, &uid);

		if (n == -EAGAIN)
			return;
		if (n < 0)
			continue;
		if (pid <= 0 || !s->pid || !in_tree(s, pid, uid)) {
			log_info(2, "service %s: notify message from pid %d (uid %u) ignored",
				 s->conf.name, (int)pid, (unsigned)uid);
			continue;
		}
		if (notify_parse(buf, (size_t)n, &m) <= 0)
			continue;
		if (m.has_status) {
			snprintf(s->status_text, sizeof(s->status_text), "%s", m.status);
			notify_event(s, "service.status");
		}
		if (m.stopping)
			notify_event(s, "service.notify_stopping");
		if (m.reloading)
			notify_event(s, "service.notify_reloading");
		/* Only a deadline that runs can be extended (a oneshot has no ready timeout). */
		if (m.has_extend && s->timer.armed &&
		    (s->state == ST_STARTING || s->state == ST_STOPPING ||
		     s->state == ST_RESTARTING || s->state == ST_ABORTING))
			extend(s, m.extend_usec);
		if (m.watchdog && s->state == ST_RUNNING && s->conf.watchdog)
			(void)wd_timer_start(s->sup->loop, &s->timer, wd_now() + s->conf.watchdog);
		if (m.watchdog_trigger && s->state == ST_RUNNING)
			svc_handle(s, EV_WATCHDOG);
		else if (m.ready && s->state == ST_STARTING)
			svc_handle(s, EV_READY);
	}
}

/* The notify sockets' names: abstract, "@warden-PID-RANDOM/SERVICE.N". */
static void notify_prefix(struct sup *sup)
{
	unsigned char r[8] = {0};
	uint64_t v = wd_now();

	if (sup->notify_prefix[0])
		return;
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		memcpy(&v, r, sizeof(v));
	snprintf(sup->notify_prefix, sizeof(sup->notify_prefix), "warden-%d-%016llx",
		 (int)sup->self, (unsigned long long)v);
}

int readiness_setup(struct svc *s)
{
	int fd;

	if (s->conf.ready != READY_NOTIFY) {
		readiness_free(s);
		return 0;
	}
	if (s->notify_io.fd >= 0)
		return 0;
	notify_prefix(s->sup);
	fd = notify_open(s->sup->notify_prefix, s->conf.name, s->notify_name);
	if (fd < 0) {
		log_errno(fd, "service %s: cannot open its notify socket", s->conf.name);
		return fd;
	}
	s->notify_io.fd = fd;
	s->notify_io.events = EPOLLIN;
	s->notify_io.cb = on_notify;
	s->notify_io.data = s;
	if (wd_io_start(s->sup->loop, &s->notify_io) < 0) {
		log_error("service %s: cannot watch its notify socket", s->conf.name);
		close(fd);
		s->notify_io.fd = -1;
		return -EIO;
	}
	return 0;
}

void readiness_free(struct svc *s)
{
	io_close(&s->notify_io);
}
