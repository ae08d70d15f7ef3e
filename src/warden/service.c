/* SPDX-License-Identifier: MIT */
/*
 * One service's life: the state machine, its actions, and readiness.
 *
 * The table below is the whole of it: for each state, the events it
 * answers and the action that runs. An action does the work (spawn, signal,
 * arm a timer) and returns the next state. An event that a state does not
 * answer is ignored. warden.conf(5) documents the same table.
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/signals.h>

#include "log.h"
#include "notify.h"
#include "supervisor.h"
#include "tree.h"

/* How often exec: and tcp: readiness probes are repeated. */
#define PROBE_INTERVAL (250 * WD_NSEC_PER_MSEC)

typedef enum svc_state (*svc_action)(struct svc *s);

static enum svc_state act_spawn(struct svc *s);
static enum svc_state act_ready(struct svc *s);
static enum svc_state act_exit(struct svc *s);
static enum svc_state act_unhealthy(struct svc *s);
static enum svc_state act_stop(struct svc *s);
static enum svc_state act_kill(struct svc *s);
static enum svc_state act_stopping_exit(struct svc *s);
static enum svc_state act_cancel(struct svc *s);
static enum svc_state act_dep_failed(struct svc *s);
static enum svc_state after_run(struct svc *s);

/* clang-format off */
static const svc_action table[NSTATES][NEVENTS] = {
	[ST_STOPPED] = {
		[EV_START] = act_spawn,
		[EV_DEP_FAILED] = act_dep_failed,
	},
	[ST_STARTING] = {
		[EV_READY] = act_ready,
		[EV_EXIT] = act_exit,
		[EV_READY_TIMEOUT] = act_unhealthy,
		[EV_STOP] = act_stop,
	},
	[ST_RUNNING] = {
		[EV_EXIT] = act_exit,
		[EV_WATCHDOG] = act_unhealthy,
		[EV_STOP] = act_stop,
	},
	[ST_STOPPING] = {
		[EV_EXIT] = act_stopping_exit,
		[EV_KILL] = act_kill,
	},
	[ST_BACKOFF] = {
		[EV_RETRY] = act_spawn,
		[EV_STOP] = act_cancel,
	},
	[ST_EXITED] = {
		[EV_START] = act_spawn,
	},
	[ST_FAILED] = {
		[EV_START] = act_spawn,
	},
};
/* clang-format on */

static const char *const state_names[NSTATES] = {
	[ST_STOPPED] = "stopped",   [ST_STARTING] = "starting", [ST_RUNNING] = "running",
	[ST_STOPPING] = "stopping", [ST_BACKOFF] = "backoff",	[ST_EXITED] = "exited",
	[ST_FAILED] = "failed",
};

/* The event that announces entering each state. */
static const char *const state_events[NSTATES] = {
	[ST_STOPPED] = "service.stopped", [ST_STARTING] = "service.starting",
	[ST_RUNNING] = "service.ready",	  [ST_STOPPING] = "service.stopping",
	[ST_BACKOFF] = "service.backoff", [ST_EXITED] = "service.finished",
	[ST_FAILED] = "service.failed",
};

/* Why the service moves, for the transition's event; set by actions. */
static const char *pending_reason;
/* The delay an action chose for ST_BACKOFF. */
static uint64_t backoff_delay;

const char *svc_state_name(enum svc_state st)
{
	return state_names[st];
}

bool svc_active(const struct svc *s)
{
	return s->state == ST_STARTING || s->state == ST_RUNNING || s->state == ST_STOPPING ||
	       s->state == ST_BACKOFF;
}

bool svc_deps_ready(const struct svc *s)
{
	size_t i;

	/* Ready: running, or ended for good with success (a finished oneshot). */
	for (i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state != ST_RUNNING && s->deps[i]->state != ST_EXITED)
			return false;
	return true;
}

/* Random jitter of ±10 %: xorshift, seeded from the clock and pid. */
static uint64_t jitter(uint64_t d)
{
	static uint64_t x;
	uint64_t span = d / 5;

	if (!x)
		x = wd_now() ^ ((uint64_t)getpid() << 32) ^ UINT64_C(0x9e3779b97f4a7c15);
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	if (!span)
		return d;
	return d - d / 10 + x % (span + 1);
}

static void emit_transition(struct svc *s, enum svc_state from)
{
	struct wd_json *j;

	if (!events_on())
		return;
	j = event_begin(state_events[s->state]);
	wd_json_str(j, "service", s->conf.name);
	wd_json_str(j, "state", state_names[s->state]);
	wd_json_str(j, "from", state_names[from]);
	if (s->pid)
		wd_json_int(j, "pid", s->pid);
	else
		wd_json_null(j, "pid");
	if (s->state == ST_BACKOFF) {
		wd_json_uint(j, "delay_ms", backoff_delay / WD_NSEC_PER_MSEC);
		wd_json_uint(j, "restarts", s->restarts);
	}
	if (s->state == ST_RUNNING)
		wd_json_uint(j, "startup_ms", (s->ready_at - s->spawned_at) / WD_NSEC_PER_MSEC);
	if (pending_reason)
		wd_json_str(j, "reason", pending_reason);
	event_emit(j);
}

void svc_handle(struct svc *s, enum svc_event ev)
{
	svc_action fn = table[s->state][ev];
	enum svc_state from = s->state, to;

	if (!fn)
		return;
	pending_reason = NULL;
	to = fn(s);
	/* An action may have passed through a state of its own (see act_spawn). */
	from = s->state;
	s->state = to;
	if (to != from)
		emit_transition(s, from);
	pending_reason = NULL;
	/* A service with no readiness check is ready once it runs. */
	if (to == ST_STARTING && from != ST_STARTING && s->pid && s->conf.type == SVC_SIMPLE &&
	    s->conf.ready == READY_NONE)
		svc_handle(s, EV_READY);
	else if (to != from)
		sup_changed(s->sup);
}

static void on_timer(wd_timer *t)
{
	struct svc *s = t->data;

	switch (s->state) {
	case ST_STARTING:
		svc_handle(s, EV_READY_TIMEOUT);
		break;
	case ST_RUNNING:
		svc_handle(s, EV_WATCHDOG);
		break;
	case ST_STOPPING:
		svc_handle(s, EV_KILL);
		break;
	case ST_BACKOFF:
		svc_handle(s, EV_RETRY);
		break;
	default:
		break;
	}
}

static void arm(struct svc *s, uint64_t after)
{
	s->timer.cb = on_timer;
	s->timer.data = s;
	(void)wd_timer_start(s->sup->loop, &s->timer, wd_now() + after);
}

/* Sends sig to the service's process, or its whole group with kill_group. */
static void signal_service(struct svc *s, int sig)
{
	if (!s->pid)
		return;
	if (s->conf.kill_group && kill(-s->pid, sig) == 0)
		return;
	(void)kill(s->pid, sig);
}

void svc_close_readiness(struct svc *s)
{
	if (s->ready_io.loop)
		wd_io_stop(&s->ready_io);
	if (s->ready_io.fd >= 0)
		close(s->ready_io.fd);
	s->ready_io.fd = -1;
	wd_timer_stop(&s->probe_timer);
	if (s->probe_pid > 0)
		(void)kill(s->probe_pid, SIGKILL);
}

/* --- readiness ---------------------------------------------------------- */

static void on_ready_fd(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	char buf[256];
	ssize_t n;

	(void)revents;
	n = read(io->fd, buf, sizeof(buf));
	if (n > 0 && memchr(buf, '\n', (size_t)n)) {
		svc_close_readiness(s);
		svc_handle(s, EV_READY);
	} else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		/* Closed without a newline: it will not say it is ready that way. */
		svc_close_readiness(s);
	}
}

static void probe_start(struct svc *s);

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
	wd_io_stop(io);
	close(io->fd);
	io->fd = -1;
	if (err == 0)
		svc_handle(s, EV_READY);
	else
		probe_again(s);
}

static void probe_tcp(struct svc *s)
{
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} a;
	const char *host = s->conf.ready_host;
	socklen_t len;
	int fd, port = atoi(s->conf.ready_port);

	memset(&a, 0, sizeof(a));
	/* No resolver in the loop: addresses, and localhost. */
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &a.in4.sin_addr) == 1) {
		a.in4.sin_family = AF_INET;
		a.in4.sin_port = htons((uint16_t)port);
		len = sizeof(a.in4);
	} else if (inet_pton(AF_INET6, host, &a.in6.sin6_addr) == 1) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons((uint16_t)port);
		len = sizeof(a.in6);
	} else {
		return; /* the config check refused it already */
	}
	fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		probe_again(s);
		return;
	}
	if (connect(fd, &a.sa, len) == 0) {
		close(fd);
		svc_handle(s, EV_READY);
		return;
	}
	if (errno != EINPROGRESS) {
		close(fd);
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

/* The environment of a run: warden's, the service's, and the protocol's. */
static char **build_env(struct svc *s)
{
	extern char **environ;
	size_t n = 0, i, k = 0, j;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + s->conf.nenv + 3, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t kl = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		bool overridden = strncmp(environ[i], "NOTIFY_SOCKET=", 14) == 0 ||
				  strncmp(environ[i], "WATCHDOG_USEC=", 14) == 0 ||
				  strncmp(environ[i], "WATCHDOG_PID=", 13) == 0;

		for (j = 0; j < s->conf.nenv && !overridden; j++)
			if (strncmp(s->conf.env[j], environ[i], kl) == 0)
				overridden = true;
		if (!overridden && !(env[k++] = strdup(environ[i])))
			goto fail;
	}
	for (j = 0; j < s->conf.nenv; j++) {
		const char *eq = strchr(s->conf.env[j], '=');
		size_t kl = (size_t)(eq - s->conf.env[j]) + 1, later;
		bool overridden = false;

		/* environment = A=1, then A=2: the last one wins. */
		for (later = j + 1; later < s->conf.nenv && !overridden; later++)
			overridden = strncmp(s->conf.env[later], s->conf.env[j], kl) == 0;
		if (!overridden && !(env[k++] = strdup(s->conf.env[j])))
			goto fail;
	}
	if (s->conf.ready == READY_NOTIFY) {
		size_t len = strlen(s->notify_name) + 15;

		if (!(env[k] = malloc(len)))
			goto fail;
		snprintf(env[k++], len, "NOTIFY_SOCKET=%s", s->notify_name);
	}
	if (s->conf.watchdog) {
		if (!(env[k] = malloc(48)))
			goto fail;
		snprintf(env[k++], 48, "WATCHDOG_USEC=%llu",
			 (unsigned long long)(s->conf.watchdog / WD_NSEC_PER_USEC));
	}
	return env;
fail:
	strv_free(env);
	return NULL;
}

/* Spawns argv as the service runs: its user, directory and environment. */
static int spawn_as_service(struct svc *s, char **argv, int *fds, size_t nfds,
			    struct wd_spawn_result *res)
{
	struct wd_spawn sp = {0};
	char **env = build_env(s);
	int r;

	if (!env) {
		res->stage = WD_STAGE_SETUP;
		return -ENOMEM;
	}
	sp.argv = argv;
	sp.envp = env;
	sp.cwd = s->conf.directory;
	sp.sigmask = &s->sup->orig_mask;
	sp.flags = WD_SPAWN_SETPGID;
	sp.tty_fd = -1;
	sp.fds = fds;
	sp.nfds = nfds;
	sp.umask = s->conf.umask;
	sp.nofile = s->sup->nofile_raised ? &s->sup->nofile : NULL;
	if (s->conf.has_user || s->conf.has_group) {
		sp.set_creds = true;
		sp.uid = s->conf.has_user ? s->conf.uid : getuid();
		sp.gid = s->conf.gid;
		sp.groups = s->conf.groups ? s->conf.groups : &sp.gid;
		sp.ngroups = s->conf.groups ? s->conf.ngroups : 1;
	}
	r = wd_spawn(&sp, res);
	strv_free(env);
	return r;
}

static void probe_start(struct svc *s)
{
	struct wd_spawn_result res;
	int fds[3] = {s->sup->devnull, s->sup->devnull, s->sup->devnull};

	if (s->conf.ready == READY_TCP) {
		probe_tcp(s);
		return;
	}
	if (spawn_as_service(s, s->conf.ready_argv, fds, 3, &res) < 0) {
		probe_again(s);
		return;
	}
	if (res.pidfd >= 0)
		close(res.pidfd);
	s->probe_pid = res.pid;
}

bool svc_probe_exited(struct sup *sup, pid_t pid, int status)
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

/*
 * May a notify message from pid speak for s? Yes when pid is s's main
 * process or below it, or has already exited (a short-lived
 * systemd-notify). Walks up /proc, a bounded number of steps.
 */
static bool in_tree(const struct svc *s, pid_t pid)
{
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
			return depth == 0;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		if (!p || !(p = strrchr(buf, ')')) || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
			return false;
		if (depth == 0 && (state == 'Z' || state == 'X'))
			return true;
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

void svc_notify_readable(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	char buf[NOTIFY_DATAGRAM_MAX];
	struct notify_msg m;
	int rounds;
	pid_t pid;

	(void)revents;
	/* Bounded, so that a flood cannot starve the loop; epoll comes back. */
	for (rounds = 0; rounds < 16; rounds++) {
		ssize_t n = notify_recv(io->fd, buf, sizeof(buf), &pid);

		if (n == -EAGAIN)
			return;
		if (n < 0)
			continue;
		if (pid <= 0 || !s->pid || !in_tree(s, pid)) {
			log_info(2, "service %s: notify message from pid %d ignored", s->conf.name,
				 (int)pid);
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
		    (s->state == ST_STARTING || s->state == ST_STOPPING)) {
			uint64_t now = wd_now(), want = now + m.extend_usec * WD_NSEC_PER_USEC;

			if (s->timer.deadline < want)
				arm(s, want - now);
		}
		if (m.watchdog && s->state == ST_RUNNING && s->conf.watchdog)
			arm(s, s->conf.watchdog);
		if (m.watchdog_trigger && s->state == ST_RUNNING)
			svc_handle(s, EV_WATCHDOG);
		else if (m.ready && s->state == ST_STARTING)
			svc_handle(s, EV_READY);
	}
}

/* --- actions ------------------------------------------------------------ */

/* Counts this start; false when it is one more than start_limit allows. */
static bool start_allowed(struct svc *s)
{
	unsigned limit = s->conf.start_limit, i, recent = 0;
	uint64_t now = wd_now();

	/* Without an interval, the limit counts every start there ever was. */
	uint64_t interval =
		s->conf.start_limit_interval ? s->conf.start_limit_interval : UINT64_MAX;

	if (!limit)
		return true;
	if (!s->starts) {
		s->starts = calloc(limit, sizeof(*s->starts));
		if (!s->starts)
			return true;
		s->nstarts = 0;
		s->starts_head = 0;
	}
	for (i = 0; i < s->nstarts; i++)
		if (now - s->starts[i] < interval)
			recent++;
	if (recent >= limit)
		return false;
	s->starts[s->starts_head] = now;
	s->starts_head = (s->starts_head + 1) % limit;
	if (s->nstarts < limit)
		s->nstarts++;
	return true;
}

static void record_failure(struct svc *s)
{
	struct sup *sup = s->sup;

	if (!sup->first_failure) {
		sup->first_failure = 1;
		sup->first_failure_status = s->has_status ? s->last_status : (1 << 8);
	}
}

/* A reload changed the service: the new settings take effect with this run. */
static void apply_next_conf(struct svc *s)
{
	if (!s->has_next_conf)
		return;
	config_free_svc(&s->conf);
	s->conf = s->next_conf;
	memset(&s->next_conf, 0, sizeof(s->next_conf));
	s->has_next_conf = false;
	(void)svc_setup(s->sup, s);
	free(s->starts);
	s->starts = NULL;
	s->delay = s->conf.restart_delay;
}

static enum svc_state act_spawn(struct svc *s)
{
	struct wd_spawn_result res;
	int fds[1024], r, ready_pipe[2] = {-1, -1};
	size_t nfds = 3, i;

	apply_next_conf(s);
	if (!start_allowed(s)) {
		pending_reason = "start limit reached";
		log_error("service %s: started %u times within %llu ms: giving up", s->conf.name,
			  s->conf.start_limit,
			  (unsigned long long)(s->conf.start_limit_interval / WD_NSEC_PER_MSEC));
		record_failure(s);
		return ST_FAILED;
	}
	fds[0] = s->sup->devnull;
	fds[1] = s->out_w >= 0 ? s->out_w : s->sup->devnull;
	fds[2] = s->err_w >= 0 ? s->err_w : s->sup->devnull;
	if (s->conf.ready == READY_FD) {
		if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
			log_errno(errno, "service %s: cannot create the readiness pipe",
				  s->conf.name);
		} else {
			for (i = 3; i < (size_t)s->conf.ready_fd; i++)
				fds[i] = -1;
			fds[s->conf.ready_fd] = ready_pipe[1];
			nfds = (size_t)s->conf.ready_fd + 1;
		}
	}
	s->failed_run = false;
	s->status_text[0] = '\0';
	r = spawn_as_service(s, s->conf.argv, fds, nfds, &res);
	if (ready_pipe[1] >= 0)
		close(ready_pipe[1]);
	if (s->spawned_at)
		s->restarts++;
	s->spawned_at = wd_now();
	if (r < 0) {
		if (ready_pipe[0] >= 0)
			close(ready_pipe[0]);
		if (res.stage == WD_STAGE_EXEC)
			log_errno(r, "service %s: cannot execute '%s'", s->conf.name,
				  s->conf.argv[0]);
		else if (res.stage == WD_STAGE_CHDIR)
			log_errno(r, "service %s: cannot change directory to '%s'", s->conf.name,
				  s->conf.directory);
		else if (res.stage == WD_STAGE_CREDENTIALS)
			log_errno(r, "service %s: cannot switch user", s->conf.name);
		else
			log_errno(r, "service %s: cannot start", s->conf.name);
		s->pid = 0;
		s->last_status = wd_spawn_exit_code(r) << 8;
		s->has_status = true;
		/* It did start, and failed at once: the table's path is through starting. */
		if (s->state != ST_STARTING) {
			enum svc_state from = s->state;

			s->state = ST_STARTING;
			emit_transition(s, from);
		}
		pending_reason = "cannot execute";
		return after_run(s);
	}
	if (res.pidfd >= 0)
		close(res.pidfd);
	s->pid = res.pid;
	log_info(1, "service %s: started, pid %d", s->conf.name, (int)s->pid);
	if (s->conf.ready != READY_NONE && s->conf.type == SVC_SIMPLE)
		arm(s, s->conf.ready_timeout);
	switch (s->conf.ready) {
	case READY_FD:
		if (ready_pipe[0] >= 0) {
			(void)fcntl(ready_pipe[0], F_SETFL, O_NONBLOCK);
			s->ready_io.fd = ready_pipe[0];
			s->ready_io.events = EPOLLIN;
			s->ready_io.cb = on_ready_fd;
			s->ready_io.data = s;
			if (wd_io_start(s->sup->loop, &s->ready_io) < 0)
				svc_close_readiness(s);
		}
		break;
	case READY_EXEC:
	case READY_TCP:
		probe_start(s);
		break;
	case READY_NONE:
	case READY_NOTIFY:
		break;
	}
	return ST_STARTING;
}

static enum svc_state act_ready(struct svc *s)
{
	if (s->conf.type == SVC_ONESHOT)
		return s->state; /* a oneshot is done when it exits */
	svc_close_readiness(s);
	wd_timer_stop(&s->timer);
	s->ready_at = wd_now();
	log_info(1, "service %s: ready", s->conf.name);
	if (s->conf.watchdog)
		arm(s, s->conf.watchdog);
	return ST_RUNNING;
}

/* After a run: restart by the policy, or end for good. */
static enum svc_state after_run(struct svc *s)
{
	int st = s->last_status;
	bool ok = !s->failed_run && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	bool restart;
	char words[64];
	uint64_t d;

	svc_close_readiness(s);
	wd_timer_stop(&s->timer);
	if (s->stop_requested || s->sup->shutting_down)
		return ST_STOPPED;
	restart =
		s->conf.restart == RESTART_ALWAYS || (s->conf.restart == RESTART_ON_FAILURE && !ok);
	if (restart) {
		/* A run that lasted restart_reset was a good one: start over. */
		if (wd_now() - s->spawned_at >= s->conf.restart_reset)
			s->delay = s->conf.restart_delay;
		d = jitter(s->delay);
		backoff_delay = d;
		s->delay = s->delay > s->conf.restart_delay_max / 2 ? s->conf.restart_delay_max
								    : s->delay * 2;
		log_info(1, "service %s: %s; restarting in %llu ms", s->conf.name,
			 wd_status_describe(st, words, sizeof(words)),
			 (unsigned long long)(d / WD_NSEC_PER_MSEC));
		arm(s, d);
		return ST_BACKOFF;
	}
	if (ok)
		return ST_EXITED;
	log_error("service %s failed: %s", s->conf.name,
		  s->failed_run ? "not healthy" : wd_status_describe(st, words, sizeof(words)));
	record_failure(s);
	return ST_FAILED;
}

static void emit_exit(struct svc *s)
{
	char words[64];
	int st = s->last_status;
	struct wd_json *j;

	log_info(1, "service %s: %s", s->conf.name, wd_status_describe(st, words, sizeof(words)));
	if (!events_on())
		return;
	j = event_begin("service.exited");
	wd_json_str(j, "service", s->conf.name);
	tree_event_status(j, s->pid, st);
	wd_json_uint(j, "runtime_ms", (wd_now() - s->spawned_at) / WD_NSEC_PER_MSEC);
	event_emit(j);
}

static enum svc_state act_exit(struct svc *s)
{
	emit_exit(s);
	s->pid = 0;
	return after_run(s);
}

static enum svc_state act_unhealthy(struct svc *s)
{
	pending_reason = s->state == ST_STARTING ? "not ready in time" : "watchdog timeout";
	log_error("service %s: %s", s->conf.name, pending_reason);
	s->failed_run = true;
	return act_stop(s);
}

static enum svc_state act_stop(struct svc *s)
{
	svc_close_readiness(s);
	signal_service(s, s->conf.stop_signal);
	/* A stopped process would never see the stop signal. */
	if (s->conf.stop_signal != SIGCONT)
		signal_service(s, SIGCONT);
	arm(s, s->conf.stop_timeout);
	return ST_STOPPING;
}

static enum svc_state act_kill(struct svc *s)
{
	log_error("service %s: did not stop within %llu ms: killing it", s->conf.name,
		  (unsigned long long)(s->conf.stop_timeout / WD_NSEC_PER_MSEC));
	signal_service(s, SIGKILL);
	s->escalated = true;
	if (s->sup->shutting_down)
		s->sup->escalated = true;
	if (events_on()) {
		struct wd_json *j = event_begin("service.killed");

		wd_json_str(j, "service", s->conf.name);
		wd_json_int(j, "pid", s->pid);
		wd_json_str(j, "reason", "stop timeout");
		event_emit(j);
	}
	return ST_STOPPING;
}

/*
 * A restart that was asked for (reload, warden ctl): stopped now, and
 * started by the scheduler as soon as what it is after is ready.
 */
static enum svc_state restart_later(struct svc *s)
{
	s->restart_after_stop = false;
	s->stop_requested = false;
	s->want_start = true;
	return ST_STOPPED;
}

static enum svc_state act_stopping_exit(struct svc *s)
{
	emit_exit(s);
	s->pid = 0;
	wd_timer_stop(&s->timer);
	if (s->restart_after_stop && !s->sup->shutting_down)
		return restart_later(s);
	if (s->stop_requested || s->sup->shutting_down || s->remove_after_stop)
		return ST_STOPPED;
	/* Stopped for being unhealthy: that run failed; the policy decides. */
	return after_run(s);
}

static enum svc_state act_cancel(struct svc *s)
{
	wd_timer_stop(&s->timer);
	if (s->restart_after_stop && !s->sup->shutting_down)
		return restart_later(s);
	return ST_STOPPED;
}

static enum svc_state act_dep_failed(struct svc *s)
{
	pending_reason = "a dependency failed";
	s->want_start = false;
	log_error("service %s: not started: a service it is after failed", s->conf.name);
	return ST_FAILED;
}

void svc_exited(struct svc *s, int status)
{
	s->last_status = status;
	s->has_status = true;
	svc_handle(s, EV_EXIT);
}
