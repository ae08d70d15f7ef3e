/* SPDX-License-Identifier: MIT */
/*
 * One service's life: its state table and the actions it runs.
 *
 * The table below is the whole of it: for each state, the events it
 * answers and the action that runs. An action does the work (spawn,
 * signal, arm a timer) and returns the next state; what it has to say
 * about the move (a reason, a delay) and an event that must follow at once
 * go back through the step it is handed, as the signal of a stop request
 * comes in. An event that a state does not answer is ignored.
 * warden.conf(5) documents the same table.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/signals.h>

#include "core.h"
#include "log.h"
#include "tree.h"

/* One transition: what goes into an action and what comes out of it. */
struct step {
	int sig;	     /* in: the stop request's signal, for a stop (0: none) */
	const char *reason;  /* out: why, for the transition's event */
	const char *error;   /* out: a failed start's whole message (key = value: reason) */
	uint64_t delay;	     /* out: the delay ST_BACKOFF waits */
	enum svc_event then; /* out: an event to handle right after (NEVENTS: none) */
};

typedef enum svc_state (*svc_action)(struct svc *s, struct step *st);

static enum svc_state act_start(struct svc *s, struct step *st);
static enum svc_state act_spawn(struct svc *s, struct step *st);
static enum svc_state act_dep_failed(struct svc *s, struct step *st);
static enum svc_state act_execed(struct svc *s, struct step *st);
static enum svc_state act_ready(struct svc *s, struct step *st);
static enum svc_state act_exit(struct svc *s, struct step *st);
static enum svc_state act_unhealthy(struct svc *s, struct step *st);
static enum svc_state act_health_failed(struct svc *s, struct step *st);
static enum svc_state act_stop(struct svc *s, struct step *st);
static enum svc_state act_restart(struct svc *s, struct step *st);
static enum svc_state act_leak(struct svc *s, struct step *st);
static enum svc_state act_then_restart(struct svc *s, struct step *st);
static enum svc_state act_then_stop(struct svc *s, struct step *st);
static enum svc_state act_kill(struct svc *s, struct step *st);
static enum svc_state act_stopped(struct svc *s, struct step *st);
static enum svc_state act_stopped_restart(struct svc *s, struct step *st);
static enum svc_state act_aborted(struct svc *s, struct step *st);
static enum svc_state act_cancel(struct svc *s, struct step *st);
static enum svc_state act_cancel_restart(struct svc *s, struct step *st);

/* clang-format off */
static const svc_action table[NSTATES][NEVENTS] = {
	[ST_STOPPED] = {
		[EV_START] = act_start,
		[EV_RESTART] = act_start,
	},
	[ST_WAITING] = {
		[EV_DEPS_READY] = act_spawn,
		[EV_DEP_FAILED] = act_dep_failed,
		[EV_STOP] = act_cancel,
	},
	[ST_STARTING] = {
		[EV_EXECED] = act_execed,
		[EV_READY] = act_ready,
		[EV_EXIT] = act_exit,
		[EV_READY_TIMEOUT] = act_unhealthy,
		[EV_STOP] = act_stop,
		[EV_RESTART] = act_restart,
		[EV_LEAK] = act_leak,
	},
	[ST_RUNNING] = {
		[EV_EXIT] = act_exit,
		[EV_WATCHDOG] = act_unhealthy,
		[EV_UNHEALTHY] = act_health_failed,
		[EV_STOP] = act_stop,
		[EV_RESTART] = act_restart,
		[EV_LEAK] = act_leak,
	},
	[ST_STOPPING] = {
		[EV_EXIT] = act_stopped,
		[EV_KILL] = act_kill,
		[EV_START] = act_then_restart,
		[EV_RESTART] = act_then_restart,
	},
	[ST_RESTARTING] = {
		[EV_EXIT] = act_stopped_restart,
		[EV_KILL] = act_kill,
		[EV_STOP] = act_then_stop,
	},
	[ST_ABORTING] = {
		[EV_EXIT] = act_aborted,
		[EV_KILL] = act_kill,
		[EV_STOP] = act_then_stop,
		[EV_START] = act_then_restart,
		[EV_RESTART] = act_then_restart,
	},
	[ST_BACKOFF] = {
		[EV_RETRY] = act_spawn,
		[EV_STOP] = act_cancel,
		[EV_RESTART] = act_cancel_restart,
	},
	[ST_EXITED] = {
		[EV_START] = act_start,
		[EV_RESTART] = act_start,
	},
	[ST_FAILED] = {
		[EV_START] = act_start,
		[EV_RESTART] = act_start,
	},
};
/* clang-format on */

/* The states as the outside world sees them: three are "stopping". */
static const char *const state_names[NSTATES] = {
	[ST_STOPPED] = "stopped",   [ST_WAITING] = "waiting",	[ST_STARTING] = "starting",
	[ST_RUNNING] = "running",   [ST_STOPPING] = "stopping", [ST_RESTARTING] = "stopping",
	[ST_ABORTING] = "stopping", [ST_BACKOFF] = "backoff",	[ST_EXITED] = "exited",
	[ST_FAILED] = "failed",
};

/* The event that announces entering each state. */
static const char *const state_events[NSTATES] = {
	[ST_STOPPED] = "service.stopped",   [ST_WAITING] = "service.waiting",
	[ST_STARTING] = "service.starting", [ST_RUNNING] = "service.ready",
	[ST_STOPPING] = "service.stopping", [ST_RESTARTING] = "service.stopping",
	[ST_ABORTING] = "service.stopping", [ST_BACKOFF] = "service.backoff",
	[ST_EXITED] = "service.finished",   [ST_FAILED] = "service.failed",
};

const char *svc_state_name(enum svc_state st)
{
	return state_names[st];
}

bool svc_has_process(const struct svc *s)
{
	return s->pid != 0;
}

bool svc_done(const struct svc *s)
{
	return s->state == ST_STOPPED || s->state == ST_EXITED || s->state == ST_FAILED;
}

bool svc_deps_ready(const struct svc *s)
{
	size_t i;

	if (s->ndeps == DEPS_UNKNOWN)
		return false;
	/* Ready: running, or ended for good with success (a finished oneshot). */
	for (i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state != ST_RUNNING && s->deps[i]->state != ST_EXITED)
			return false;
	return true;
}

bool svc_dep_failed(const struct svc *s)
{
	size_t i;

	/* Its dependencies could not be resolved: it cannot start without them. */
	if (s->ndeps == DEPS_UNKNOWN)
		return true;
	for (i = 0; i < s->ndeps; i++)
		if (s->deps[i]->state == ST_FAILED)
			return true;
	return false;
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

static void emit_transition(struct svc *s, enum svc_state from, const struct step *st)
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
		wd_json_uint(j, "delay_ms", st->delay / WD_NSEC_PER_MSEC);
		wd_json_uint(j, "restarts", s->restarts);
	}
	if (s->state == ST_RUNNING)
		wd_json_uint(j, "startup_ms", (s->ready_at - s->spawned_at) / WD_NSEC_PER_MSEC);
	if (st->reason)
		wd_json_str(j, "reason", st->reason);
	if (st->error)
		wd_json_str(j, "error", st->error);
	event_emit(j);
}

void svc_handle_sig(struct svc *s, enum svc_event ev, int sig)
{
	svc_action fn = table[s->state][ev];
	struct step st = {.sig = sig, .then = NEVENTS};
	enum svc_state from = s->state, to;

	if (!fn)
		return;
	/*
	 * Whatever happens to a process that may have exec'd, the report of
	 * its exec comes first: a stop request queued behind it must not find
	 * a command that runs still "starting".
	 */
	if (s->state == ST_STARTING && ev != EV_EXECED && ev != EV_EXIT && spawn_outcome(s) > 0 &&
	    table[s->state][EV_EXECED]) {
		svc_handle(s, EV_EXECED);
		fn = table[s->state][ev];
		if (!fn)
			return;
		from = s->state;
	}
	to = fn(s, &st);
	s->state = to;
	/* Health checks run while it runs, and only then. */
	if ((from == ST_RUNNING) != (to == ST_RUNNING))
		health_running(s, to == ST_RUNNING);
	/* Between two "stopping" states nothing changes for the outside world. */
	if (strcmp(state_names[to], state_names[from]) != 0)
		emit_transition(s, from, &st);
	if (st.then != NEVENTS)
		svc_handle(s, st.then);
	if (to != from)
		sup_changed(s->sup);
}

void svc_handle(struct svc *s, enum svc_event ev)
{
	svc_handle_sig(s, ev, 0);
}

static void on_timer(wd_timer *t)
{
	static const enum svc_event timeouts[NSTATES] = {
		[ST_STARTING] = EV_READY_TIMEOUT, [ST_RUNNING] = EV_WATCHDOG,
		[ST_STOPPING] = EV_KILL,	  [ST_RESTARTING] = EV_KILL,
		[ST_ABORTING] = EV_KILL,	  [ST_BACKOFF] = EV_RETRY,
	};
	struct svc *s = t->data;

	if (timeouts[s->state])
		svc_handle(s, timeouts[s->state]);
}

/* The state's deadline, after ns; none when ns is TIMEOUT_NONE. */
static void arm(struct svc *s, uint64_t ns)
{
	uint64_t now = wd_now();

	s->timer.cb = on_timer;
	s->timer.data = s;
	if (ns == TIMEOUT_NONE) {
		wd_timer_stop(&s->timer);
		return;
	}
	(void)wd_timer_start(s->sup->loop, &s->timer,
			     ns > UINT64_MAX - now ? UINT64_MAX : now + ns);
}

int svc_kill(struct svc *s, int sig, bool group)
{
	if (!s->pid)
		return -ESRCH;
	/* Reaped already, its pid is not its own any more: what is left is its cgroup. */
	if (cgroup_svc_holding(s)) {
		int n = sig == SIGKILL ? cgroup_svc_kill(s) : cgroup_svc_signal(s, sig);

		return n < 0 ? n : 0;
	}
	if (group && s->pgid > 0 && kill(-s->pgid, sig) == 0) {
		if (sig == SIGTERM)
			shutdown_note_term(s->sup, s->pgid);
		return 0;
	}
	return kill(s->pid, sig) < 0 ? -errno : 0;
}

void svc_kill_final(struct svc *s)
{
	/* cgroup.kill: the whole tree, escaped or not, in one write. */
	if ((s->conf.kill_group || cgroup_svc_holding(s)) && cgroup_svc_kill(s) == 0)
		return;
	(void)svc_kill(s, SIGKILL, s->conf.kill_group);
}

/*
 * Asks the process to stop: with the stop request's own signal when the
 * service takes stop requests as they come (init mode's command), else
 * with its stop_signal, and SIGCONT, since a stopped process would never
 * see it.
 */
static void send_stop(struct svc *s, int sig)
{
	if (s->conf.stop_by_forward && sig && forward_stop(s, sig))
		return;
	/* Its whole cgroup: what left its process group too. */
	if (s->conf.kill_group && !cgroup_svc_holding(s) &&
	    cgroup_svc_signal(s, s->conf.stop_signal) > 0) {
		if (s->conf.stop_signal == SIGTERM && s->pgid > 0)
			shutdown_note_term(s->sup, s->pgid);
		if (s->conf.stop_signal != SIGCONT)
			(void)cgroup_svc_signal(s, SIGCONT);
		return;
	}
	(void)svc_kill(s, s->conf.stop_signal, s->conf.kill_group);
	if (s->conf.stop_signal != SIGCONT)
		(void)svc_kill(s, SIGCONT, s->conf.kill_group);
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
	/* No memory to count starts in: none is allowed (said when it happened). */
	if (!s->starts)
		return false;
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

/* An operator's start: a fresh start limit and restart delay. */
void svc_reset_limits(struct svc *s)
{
	s->nstarts = s->starts_head = 0;
	s->delay = s->conf.restart_delay;
}

static enum svc_state act_start(struct svc *s, struct step *st)
{
	if (svc_dep_failed(s))
		return act_dep_failed(s, st);
	if (!svc_deps_ready(s))
		return ST_WAITING;
	return act_spawn(s, st);
}

/* The reason a run that could not start gives, by where it failed. */
static const char *spawn_reason(const struct svc *s)
{
	switch (s->exec_stage) {
	case WD_STAGE_FORK:
		return "cannot start";
	case WD_STAGE_CHDIR:
		return "cannot change directory";
	case WD_STAGE_CREDENTIALS:
		return "cannot switch user";
	case WD_STAGE_RLIMIT:
		return "cannot set a resource limit";
	case WD_STAGE_CAPABILITIES:
		return "cannot set capabilities";
	case WD_STAGE_NO_NEW_PRIVS:
		return "cannot set no_new_privileges";
	case WD_STAGE_SETUP:
		return "cannot set up";
	default:
		return "cannot execute";
	}
}

/*
 * The status a run that never ran its command counts: 127 or 126 when
 * exec failed (the shell's), warden's own 125 when it failed before, in
 * setting up the process (the command could not even be tried), unless
 * the mode has a code of its own for any failure (dumb-init's 2).
 */
static int start_failure_status(const struct svc *s, int err)
{
	if (s->conf.exec_fail_code)
		return s->conf.exec_fail_code << 8;
	if (s->exec_stage == WD_STAGE_EXEC)
		return wd_spawn_exit_code(err) << 8;
	return EXIT_WARDEN << 8;
}

static enum svc_state act_spawn(struct svc *s, struct step *st)
{
	int fds[CONFIG_FDS_MAX], ready_pipe[2] = {-1, -1}, r;
	size_t nfds = 0, i;

	/* A reload changed the service: the new settings take effect with this run. */
	if (s->next_conf.name) {
		svc_apply_conf(s, &s->next_conf);
		memset(&s->next_conf, 0, sizeof(s->next_conf));
	}
	if (!start_allowed(s)) {
		st->reason = "start limit reached";
		log_error("service %s: started %u times within %llu ms: giving up", s->conf.name,
			  s->conf.start_limit,
			  (unsigned long long)(s->conf.start_limit_interval / WD_NSEC_PER_MSEC));
		shutdown_note_failure(s->sup, s);
		return ST_FAILED;
	}
	if (s->conf.inherit_stdio) {
		for (i = 0; i < 3 + (size_t)s->conf.pass_fds; i++)
			fds[i] = (int)i;
		if (s->conf.pass_fds)
			nfds = 3 + (size_t)s->conf.pass_fds;
	} else {
		fds[0] = s->sup->devnull;
		fds[1] = s->out.w >= 0 ? s->out.w : s->sup->devnull;
		fds[2] = s->err.w >= 0 ? s->err.w : s->sup->devnull;
		nfds = 3;
	}
	if (s->conf.ready == READY_FD) {
		if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
			log_errno(errno, "service %s: cannot create the readiness pipe",
				  s->conf.name);
		} else {
			for (i = nfds ? nfds : 3; i < (size_t)s->conf.ready_fd; i++)
				fds[i] = -1;
			fds[s->conf.ready_fd] = ready_pipe[1];
			if (nfds <= (size_t)s->conf.ready_fd)
				nfds = (size_t)s->conf.ready_fd + 1;
		}
	}
	s->status_text[0] = '\0';
	health_reset(s);
	if (s->spawned_at)
		s->restarts++;
	s->spawned_at = wd_now();
	r = spawn_service(s, fds, nfds);
	if (ready_pipe[1] >= 0)
		close(ready_pipe[1]);
	if (r < 0) {
		/* No process at all (no fork): the run ends here, through starting. */
		if (ready_pipe[0] >= 0)
			close(ready_pipe[0]);
		log_errno(r, "service %s: cannot start", s->conf.name);
		s->exec_error = -r;
		s->exec_stage = WD_STAGE_FORK;
		snprintf(s->exec_reason, sizeof(s->exec_reason), "cannot start: %s", strerror(-r));
		s->last_status = start_failure_status(s, r);
		s->has_status = true;
		metrics_run_ended(s, NULL);
		st->then = EV_EXIT;
		return ST_STARTING;
	}
	log_info(1, "service %s: started, pid %d", s->conf.name, (int)s->pid);
	leak_start(s);
	if (s->conf.ready != READY_NONE && s->conf.type == SVC_SIMPLE)
		arm(s, s->conf.ready_timeout);
	readiness_start(s, ready_pipe[0]);
	return ST_STARTING;
}

static enum svc_state act_dep_failed(struct svc *s, struct step *st)
{
	st->reason = "a dependency failed";
	log_error("service %s: not started: a service it is after failed", s->conf.name);
	return ST_FAILED;
}

/* The command runs: a service without a readiness check is ready. */
static enum svc_state act_execed(struct svc *s, struct step *st)
{
	if (s->conf.type == SVC_SIMPLE && s->conf.ready == READY_NONE)
		return act_ready(s, st);
	return ST_STARTING;
}

static enum svc_state act_ready(struct svc *s, struct step *st)
{
	(void)st;
	if (s->conf.type == SVC_ONESHOT)
		return s->state; /* a oneshot is done when it exits */
	readiness_stop(s);
	wd_timer_stop(&s->timer);
	s->ready_at = wd_now();
	log_info(1, "service %s: ready", s->conf.name);
	if (s->conf.watchdog)
		arm(s, s->conf.watchdog);
	return ST_RUNNING;
}

/* How a run ended, in words: its exit status, or that its command never ran. */
static const char *run_words(const struct svc *s, int status, char *buf, size_t size)
{
	if (s->exec_error && s->exec_stage != WD_STAGE_EXEC)
		snprintf(buf, size, "%s (counted as exit code %d)", spawn_reason(s),
			 wd_status_code(status));
	else
		wd_status_describe(status, buf, size);
	return buf;
}

/* After a run: restart by the policy, or end for good. */
static enum svc_state after_run(struct svc *s, struct step *st, bool unhealthy)
{
	int status = s->last_status;
	bool ok = !unhealthy && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	char words[64];
	uint64_t d;

	readiness_stop(s);
	wd_timer_stop(&s->timer);
	if (s->exec_error) {
		st->reason = spawn_reason(s);
		if (s->exec_reason[0])
			st->error = s->exec_reason;
	}
	if (sup_shutting_down_now(s->sup))
		return ST_STOPPED;
	if (s->conf.restart == RESTART_ALWAYS || (s->conf.restart == RESTART_ON_FAILURE && !ok)) {
		/* A run that lasted restart_reset was a good one: start over. */
		if (wd_now() - s->spawned_at >= s->conf.restart_reset)
			s->delay = s->conf.restart_delay;
		d = jitter(s->delay);
		st->delay = d;
		s->delay = s->delay > s->conf.restart_delay_max / 2 ? s->conf.restart_delay_max
								    : s->delay * 2;
		log_info(1, "service %s: %s; restarting in %llu ms", s->conf.name,
			 run_words(s, status, words, sizeof(words)),
			 (unsigned long long)(d / WD_NSEC_PER_MSEC));
		arm(s, d);
		return ST_BACKOFF;
	}
	if (!ok) {
		/* The command of init mode failing is its own business, not warden's. */
		log_info(s->conf.exit_is_wardens ? 1 : 0, "service %s failed: %s", s->conf.name,
			 unhealthy ? "not healthy" : run_words(s, status, words, sizeof(words)));
		shutdown_note_failure(s->sup, s);
		return ST_FAILED;
	}
	return ST_EXITED;
}

static void emit_exit(struct svc *s)
{
	char words[64];
	int st = s->last_status;
	struct wd_json *j;

	if (!s->pid)
		return;
	log_info(1, "service %s: process %d %s", s->conf.name, (int)s->pid,
		 wd_status_describe(st, words, sizeof(words)));
	if (!events_on())
		return;
	j = event_begin("service.exited");
	wd_json_str(j, "service", s->conf.name);
	tree_event_status(j, s->pid, st);
	wd_json_uint(j, "runtime_ms", (wd_now() - s->spawned_at) / WD_NSEC_PER_MSEC);
	tree_event_rusage(j, &s->last_rusage);
	event_emit(j);
}

/* The process is gone: what it leaves behind. */
static void ended(struct svc *s)
{
	emit_exit(s);
	s->pid = 0;
	wd_timer_stop(&s->timer);
	leak_stop(s);
	if (s->conf.exit_group_signal && s->pgid > 0)
		(void)kill(-s->pgid, s->conf.exit_group_signal);
}

static enum svc_state act_exit(struct svc *s, struct step *st)
{
	ended(s);
	return after_run(s, st, false);
}

/* Stops a run that is not healthy: its policy decides what follows the exit. */
static enum svc_state abort_run(struct svc *s)
{
	readiness_stop(s);
	send_stop(s, 0);
	arm(s, s->conf.stop_timeout);
	return ST_ABORTING;
}

static enum svc_state act_unhealthy(struct svc *s, struct step *st)
{
	st->reason = s->state == ST_STARTING ? "not ready in time" : "watchdog timeout";
	log_error("service %s: %s", s->conf.name, st->reason);
	return abort_run(s);
}

/* Its health checks failed (on_unhealthy = restart): stopped gracefully, as a failed run. */
static enum svc_state act_health_failed(struct svc *s, struct step *st)
{
	st->reason = "unhealthy";
	return abort_run(s);
}

static enum svc_state act_stop(struct svc *s, struct step *st)
{
	readiness_stop(s);
	send_stop(s, st->sig);
	arm(s, s->conf.stop_timeout);
	return ST_STOPPING;
}

static enum svc_state act_restart(struct svc *s, struct step *st)
{
	act_stop(s, st);
	return ST_RESTARTING;
}

/* A leak (leak.c): a restart as warden ctl restart does it, with the reason. */
static enum svc_state act_leak(struct svc *s, struct step *st)
{
	act_stop(s, st);
	st->reason = leak_reason(s);
	return ST_RESTARTING;
}

/* Already stopping: what follows the exit changes, nothing else. */
static enum svc_state act_then_restart(struct svc *s, struct step *st)
{
	(void)s;
	(void)st;
	return ST_RESTARTING;
}

static enum svc_state act_then_stop(struct svc *s, struct step *st)
{
	(void)s;
	(void)st;
	return ST_STOPPING;
}

static enum svc_state act_kill(struct svc *s, struct step *st)
{
	(void)st;
	log_error("service %s: did not stop within %llu ms: killing it", s->conf.name,
		  (unsigned long long)(s->conf.stop_timeout / WD_NSEC_PER_MSEC));
	svc_kill_final(s);
	if (sup_shutting_down_now(s->sup))
		s->sup->sd.escalated = true;
	if (events_on()) {
		struct wd_json *j = event_begin("service.killed");

		wd_json_str(j, "service", s->conf.name);
		wd_json_int(j, "pid", s->pid);
		wd_json_str(j, "reason", "stop timeout");
		event_emit(j);
	}
	return s->state;
}

static enum svc_state act_stopped(struct svc *s, struct step *st)
{
	(void)st;
	ended(s);
	return ST_STOPPED;
}

/*
 * A restart that was asked for (reload, warden ctl restart): stopped now,
 * and started again at once, or once what it is after is ready.
 */
static enum svc_state act_stopped_restart(struct svc *s, struct step *st)
{
	ended(s);
	if (!sup_shutting_down_now(s->sup))
		st->then = EV_START;
	return ST_STOPPED;
}

/* Stopped for not being healthy: that run failed, and the policy decides. */
static enum svc_state act_aborted(struct svc *s, struct step *st)
{
	ended(s);
	return after_run(s, st, true);
}

static enum svc_state act_cancel(struct svc *s, struct step *st)
{
	(void)st;
	wd_timer_stop(&s->timer);
	return ST_STOPPED;
}

static enum svc_state act_cancel_restart(struct svc *s, struct step *st)
{
	wd_timer_stop(&s->timer);
	st->then = EV_START;
	return ST_STOPPED;
}

/* --- the process's end, and the service's settings ---------------------- */

void svc_reaped(struct svc *s, const struct wd_exit *e)
{
	/* Its pid, reused by a process reaped while its exit is held: none of its own. */
	if (cgroup_svc_holding(s)) {
		log_info(2, "reaped process %d: not service %s's, whose exit is held", (int)e->pid,
			 s->conf.name);
		return;
	}
	/* Stopping, and its cgroup still has processes: its exit waits for them. */
	if (cgroup_svc_hold(s, e))
		return;
	/* What it wrote before it exited comes before its exit. */
	capture_drain(s);
	/*
	 * Whether it ever ran its command: the report is there once it is
	 * gone. One that ran, and ended before its report was read, was
	 * running meanwhile.
	 */
	if (spawn_outcome(s) > 0)
		svc_handle(s, EV_EXECED);
	s->last_status = e->status;
	/* Its command never ran: the status says how far it got, not what exited. */
	if (s->exec_error)
		s->last_status = start_failure_status(s, s->exec_error);
	s->last_rusage = e->rusage;
	s->has_status = true;
	metrics_run_ended(s, &e->rusage);
	svc_handle(s, EV_EXIT);
}

/* Takes the settings c over (c is left empty) and sets up what they need. */
void svc_apply_conf(struct svc *s, struct svc_conf *c)
{
	config_free_svc(&s->conf);
	s->conf = *c;
	memset(c, 0, sizeof(*c));
	free(s->starts);
	s->starts = NULL;
	if (s->conf.start_limit)
		s->starts = calloc(s->conf.start_limit, sizeof(*s->starts));
	if (s->conf.start_limit && !s->starts)
		log_error("service %s: out of memory for its start limit: it cannot start",
			  s->conf.name);
	svc_reset_limits(s);
	health_reset(s);
	cgroup_svc_conf_changed(s);
	(void)svc_setup(s);
}

int svc_setup(struct svc *s)
{
	int r = capture_setup(s), r2 = readiness_setup(s);

	return r < 0 ? r : r2;
}

void svc_free(struct svc *s)
{
	if (!s)
		return;
	readiness_stop(s);
	readiness_free(s);
	health_free(s);
	spawn_close(s);
	wd_timer_stop(&s->timer);
	leak_stop(s);
	capture_free(s);
	cgroup_svc_free(s);
	free(s->starts);
	free(s->deps);
	config_free_svc(&s->conf);
	config_free_svc(&s->next_conf);
	if (s != &s->sup->one)
		free(s);
}

/* --- what the control socket sees ----------------------------------------- */

const char *svc_name(const struct svc *s)
{
	return s->conf.name;
}

pid_t svc_pid(const struct svc *s)
{
	return s->pid;
}

bool svc_is_ready(const struct svc *s)
{
	return s->state == ST_RUNNING || (s->state == ST_EXITED && s->conf.type == SVC_ONESHOT);
}

bool svc_has_ended(const struct svc *s)
{
	return svc_done(s);
}

bool svc_is_failed(const struct svc *s)
{
	return s->state == ST_FAILED;
}

bool svc_is_essential(const struct svc *s)
{
	return s->conf.essential;
}

const char *svc_state_text(const struct svc *s)
{
	return state_names[s->state];
}

const char *svc_last_exit(const struct svc *s, char *buf, size_t size)
{
	return s->has_status ? wd_status_describe(s->last_status, buf, size) : NULL;
}

void svc_json(const struct svc *s, struct wd_json *j, bool dump)
{
	char words[64];
	uint64_t now = wd_now();

	wd_json_str(j, "name", s->conf.name);
	wd_json_str(j, "state", state_names[s->state]);
	if (s->pid)
		wd_json_int(j, "pid", s->pid);
	else
		wd_json_null(j, "pid");
	if (s->pid && s->spawned_at)
		wd_json_uint(j, "uptime_ms", (now - s->spawned_at) / WD_NSEC_PER_MSEC);
	else
		wd_json_null(j, "uptime_ms");
	wd_json_uint(j, "restarts", s->restarts);
	if (s->has_status) {
		wd_json_str(j, "last_exit",
			    wd_status_describe(s->last_status, words, sizeof(words)));
		wd_json_int(j, "last_exit_code", wd_status_code(s->last_status));
	} else {
		wd_json_null(j, "last_exit");
		wd_json_null(j, "last_exit_code");
	}
	wd_json_str(j, "status", s->status_text);
	wd_json_str(j, "type", s->conf.type == SVC_ONESHOT ? "oneshot" : "simple");
	wd_json_bool(j, "essential", s->conf.essential);
	wd_json_bool(j, "stopped_on_request", s->state == ST_STOPPED);
	health_json(s, j);
	if (dump) {
		wd_json_strv(j, "command", s->conf.argv);
		wd_json_strv(j, "after", s->conf.after);
		wd_json_str(j, "health_check", s->conf.health_spec);
	}
	leak_json(s, j);
}
