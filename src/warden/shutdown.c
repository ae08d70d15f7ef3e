/* SPDX-License-Identifier: MIT */
/*
 * The shutdown protocol, the same in both modes, and warden's exit status.
 *
 * It starts with a stop request (SIGTERM, SIGINT, SIGQUIT, warden ctl
 * shutdown) or when an essential service ends (init mode's command is one),
 * or when no service is left running. Then:
 *
 *   0. a stop request with a shutdown_delay: warden is no longer ready (it
 *      is shutting down from the moment of the request) but the services
 *      keep running, unsignalled, for the delay, so that load balancers
 *      stop sending them traffic. A shutdown that an ending service caused
 *      has nothing left to drain and skips it; so does a second request.
 *   1. the services stop, each once nothing after it runs: with its
 *      stop_signal (init mode's command: the request's own signal, as
 *      received and rewritten), and SIGKILL after its stop_timeout;
 *   2. every service down, what is left below warden (the leftovers) gets
 *      SIGTERM and SIGCONT, and SIGKILL after the grace period; a process
 *      group that got SIGTERM from step 1 does not get it again. With
 *      --wait-all, warden waits for them instead, until a stop request;
 *   3. once no child is left (wait4() says so), warden exits.
 *
 * shutdown_timeout bounds it all: then everything gets SIGKILL and warden
 * exits 124. A second stop request forces it: SIGKILL to everything at
 * once (tini and dumb-init pass it on instead, as those tools do).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/child.h>
#include <warden/clock.h>

#include "core.h"
#include "log.h"
#include "tree.h"

/* While leftovers are being killed, sweep again this often for stragglers. */
#define KILL_SWEEP (200 * WD_NSEC_PER_MSEC)

/* Counting leftovers costs a /proc walk: only for those who will read the count. */
static bool counting(void)
{
	return events_on() || log_verbosity >= 1;
}

static void finish(struct sup *sup)
{
	struct shutdown *sd = &sup->sd;
	const struct svc *main_svc = NULL;
	size_t i;
	int code;

	if (sd->phase == SD_DONE)
		return;
	sd->phase = SD_DONE;
	wd_timer_stop(&sd->drain);
	wd_timer_stop(&sd->deadline);
	wd_timer_stop(&sd->grace);
	for (i = 0; i < sup->nsvcs; i++)
		if (sup->svcs[i]->conf.exit_is_wardens)
			main_svc = sup->svcs[i];
	if (sd->timed_out)
		code = EXIT_ESCALATED;
	else if (main_svc)
		code = main_svc->has_status ? wd_status_code(main_svc->last_status) : EXIT_WARDEN;
	else if (sd->have_status)
		code = wd_status_code(sd->status);
	else if (sd->requests)
		code = sd->escalated ? EXIT_ESCALATED : 0;
	else if (sd->have_failure)
		code = wd_status_code(sd->failure_status);
	else
		code = 0;
	if (sup->conf.remap_exit[code])
		code = 0;
	sup->exit_code = code;
	log_info(1, "exiting with code %d", code);
	wd_loop_quit(sup->loop);
}

void shutdown_finished(struct sup *sup)
{
	struct shutdown *sd = &sup->sd;
	struct wd_json *j;

	if (!events_on())
		return;
	j = event_begin("shutdown.finished");
	wd_json_int(j, "exit_code", sup->exit_code);
	wd_json_uint(j, "uptime_ms", (wd_now() - sup->started) / WD_NSEC_PER_MSEC);
	wd_json_uint(j, "signalled", sd->signalled);
	wd_json_uint(j, "killed", sd->killed);
	wd_json_bool(j, "escalated", sd->escalated);
	event_emit(j);
}

static void on_sweep(wd_timer *t);

/* SIGKILL to what is left; again every KILL_SWEEP until no child is left. */
static void kill_leftovers(struct sup *sup)
{
	struct shutdown *sd = &sup->sd;
	unsigned n;

	n = tree_signal(sup->self, sup->pid1, SIGKILL, NULL, 0, counting());
	/* The services' cgroups too: what escaped their groups, even without /proc. */
	cgroup_kill_all(sup);

	if (n && sd->phase != SD_KILLING) {
		sd->killed += n;
		/* SIGKILL was needed: not a clean stop. */
		sd->escalated = true;
		if (counting())
			log_info(1, "killed %u leftover process%s", n, n == 1 ? "" : "es");
	}
	sd->phase = SD_KILLING;
	sd->grace.cb = on_sweep;
	sd->grace.data = sup;
	(void)wd_timer_start(sup->loop, &sd->grace, wd_now() + KILL_SWEEP);
}

static void on_sweep(wd_timer *t)
{
	kill_leftovers(t->data);
}

static void on_grace(wd_timer *t)
{
	struct sup *sup = t->data;

	log_info(1, "grace period over");
	kill_leftovers(sup);
}

/*
 * SIGTERM (unless already sent) and SIGCONT to every leftover, then SIGKILL
 * after the grace period, or when shutdown_timeout runs out if sooner.
 */
static void terminate(struct sup *sup, bool term_sent)
{
	struct shutdown *sd = &sup->sd;
	uint64_t now = wd_now(), until;
	unsigned n;

	if (sup->conf.grace == 0) {
		kill_leftovers(sup);
		return;
	}
	sd->phase = SD_GRACE;
	if (term_sent) {
		int left = counting() ? tree_count(sup->self, sup->pid1) : 0;

		n = left > 0 ? (unsigned)left : 0;
	} else {
		n = tree_signal(sup->self, sup->pid1, SIGTERM, sd->termed, sd->ntermed, counting());
	}
	sd->signalled += counting() ? n : 0;
	/* A stopped process would never see its SIGTERM. */
	(void)tree_signal(sup->self, sup->pid1, SIGCONT, NULL, 0, false);
	if (counting() && n)
		log_info(1, "sent SIGTERM to %u leftover process%s", n, n == 1 ? "" : "es");
	until = sup->conf.grace > UINT64_MAX - now ? UINT64_MAX : now + sup->conf.grace;
	sd->grace.cb = on_grace;
	sd->grace.data = sup;
	(void)wd_timer_start(sup->loop, &sd->grace, until);
}

static void on_deadline(wd_timer *t)
{
	struct sup *sup = t->data;

	sup->sd.timed_out = true;
	shutdown_kill_all(sup, "the shutdown took longer than shutdown_timeout");
}

/* The shutdown_delay is over (or cut short, for why): the services stop now. */
static void drain_over(struct sup *sup, const char *why)
{
	struct shutdown *sd = &sup->sd;

	if (sd->phase != SD_DRAINING)
		return;
	wd_timer_stop(&sd->drain);
	sd->phase = SD_SERVICES;
	log_info(1, "draining over (%s): stopping the services", why);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.drained");

		wd_json_str(j, "reason", why);
		wd_json_uint(j, "waited_ms", (wd_now() - sd->began) / WD_NSEC_PER_MSEC);
		event_emit(j);
	}
}

static void on_drain(wd_timer *t)
{
	struct sup *sup = t->data;

	drain_over(sup, "delay over");
	sup_changed(sup);
}

/*
 * The shutdown starts: with the shutdown_delay first when drain is set (a
 * stop request) and the delay is not 0. shutdown_timeout counts from here,
 * the delay included.
 */
static void begin(struct sup *sup, const char *reason, bool drain)
{
	struct shutdown *sd = &sup->sd;
	uint64_t now = wd_now(), delay = drain ? sup->conf.shutdown_delay : 0;

	sd->phase = SD_SERVICES;
	sd->reason = reason;
	sd->began = now;
	if (delay) {
		sd->drain.cb = on_drain;
		sd->drain.data = sup;
		if (wd_timer_start(sup->loop, &sd->drain,
				   delay > UINT64_MAX - now ? UINT64_MAX : now + delay) < 0) {
			/* Without its timer the delay would never end: the services stop now. */
			log_error("cannot arm the shutdown_delay timer: stopping the services now");
			delay = 0;
		} else {
			sd->phase = SD_DRAINING;
		}
	}
	if (delay)
		log_info(1, "shutting down: %s; draining for %llu ms first", reason,
			 (unsigned long long)(delay / WD_NSEC_PER_MSEC));
	else
		log_info(1, "shutting down: %s", reason);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.started");
		int pending = sup->childless ? 0 : tree_count(sup->self, sup->pid1);

		wd_json_str(j, "reason", reason);
		wd_json_bool(j, "requested", sd->requests > 0);
		if (pending >= 0)
			wd_json_int(j, "pending", pending);
		else
			wd_json_null(j, "pending");
		wd_json_uint(j, "delay_ms", delay / WD_NSEC_PER_MSEC);
		event_emit(j);
	}
	if (sup->conf.shutdown_timeout != TIMEOUT_NONE) {
		sd->deadline.cb = on_deadline;
		sd->deadline.data = sup;
		(void)wd_timer_start(sup->loop, &sd->deadline,
				     sup->conf.shutdown_timeout > UINT64_MAX - now
					     ? UINT64_MAX
					     : now + sup->conf.shutdown_timeout);
	}
	sup_changed(sup);
}

uint64_t shutdown_drain_left(const struct sup *sup)
{
	uint64_t now = wd_now();

	if (sup->sd.phase != SD_DRAINING)
		return 0;
	return sup->sd.drain.deadline > now ? sup->sd.drain.deadline - now : 0;
}

void shutdown_start(struct sup *sup, const char *reason)
{
	if (sup->sd.phase == SD_NONE)
		begin(sup, reason, false);
}

void shutdown_essential(struct sup *sup, const struct svc *s, const char *reason)
{
	if (sup->sd.phase != SD_NONE)
		return;
	/* One that never ran (a dependency failed) exits 1. */
	sup->sd.have_status = true;
	sup->sd.status = s->has_status ? s->last_status : 1 << 8;
	begin(sup, reason, false);
}

/* Passes a stop request on to the services that take them as they come. */
static unsigned pass_on(struct sup *sup, int sig)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->conf.stop_by_forward && s->pid && forward_stop(s, sig))
			n++;
	}
	return n;
}

void shutdown_request(struct sup *sup, int sig, const char *reason)
{
	struct shutdown *sd = &sup->sd;

	if (sd->phase == SD_DONE)
		return;
	if (++sd->requests == 1) {
		sd->request_sig = sig;
		switch (sd->phase) {
		case SD_NONE:
			begin(sup, reason, true);
			return;
		case SD_WAITING:
			/* --wait-all: passed on to the leftovers, and now they get the grace. */
			log_info(1, "%s while waiting for leftovers: stopping them", reason);
			terminate(sup, forward_leftovers(sup, sig) == SIGTERM);
			return;
		case SD_LEFTOVERS:
		case SD_GRACE:
		case SD_KILLING:
			(void)forward_leftovers(sup, sig);
			return;
		case SD_DRAINING:
		case SD_SERVICES:
		case SD_DONE:
			log_info(1, "%s: already shutting down (%s)", reason, sd->reason);
			return;
		}
		return;
	}
	if (sd->phase == SD_DRAINING && !sup->conf.force_on_second_stop) {
		/* The services get the stop now, from the next pass: not a second one. */
		drain_over(sup, "stop request again");
		sup_changed(sup);
		return;
	}
	if (sup->conf.force_on_second_stop) {
		char why[64];

		snprintf(why, sizeof(why), "%s again", reason);
		shutdown_kill_all(sup, why);
		return;
	}
	/* tini and dumb-init pass every signal on, a second SIGTERM too. */
	if (!pass_on(sup, sig) && sd->phase >= SD_LEFTOVERS)
		(void)forward_leftovers(sup, sig);
}

void shutdown_kill_all(struct sup *sup, const char *why)
{
	struct shutdown *sd = &sup->sd;
	size_t i;

	log_error("%s: killing every process", why);
	if (sd->phase == SD_NONE)
		begin(sup, why, false);
	drain_over(sup, why);
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->pid) {
			svc_kill_final(s);
			sd->escalated = true;
		}
	}
	wd_timer_stop(&sd->grace);
	kill_leftovers(sup);
	sup_changed(sup);
}

void shutdown_services_down(struct sup *sup)
{
	/* Every service ended while draining: nothing is left to wait for. */
	drain_over(sup, "no service is left running");
	if (sup->sd.phase != SD_SERVICES)
		return;
	sup->sd.phase = SD_LEFTOVERS;
	/* Whether any child is left: the reaper tells, then shutdown_after_reap() goes on. */
	if (sup->reaping)
		return;
	if (sup->childless)
		shutdown_after_reap(sup);
	else
		reap_all(sup);
}

void shutdown_after_reap(struct sup *sup)
{
	struct shutdown *sd = &sup->sd;

	switch (sd->phase) {
	case SD_NONE:
	case SD_DRAINING:
	case SD_SERVICES:
	case SD_DONE:
		return;
	case SD_LEFTOVERS:
		if (sup->childless) {
			finish(sup);
			return;
		}
		switch (sup->conf.leftovers) {
		case LEFTOVERS_EXIT:
			finish(sup);
			return;
		case LEFTOVERS_WAIT:
			sd->phase = SD_WAITING;
			log_info(1, "waiting for the leftover processes to end");
			return;
		case LEFTOVERS_TERMINATE:
			terminate(sup, false);
			return;
		}
		return;
	case SD_WAITING:
	case SD_GRACE:
	case SD_KILLING:
		if (sup->childless)
			finish(sup);
		return;
	}
}

void shutdown_note_term(struct sup *sup, pid_t pgid)
{
	struct shutdown *sd = &sup->sd;

	if (sd->phase == SD_NONE)
		return;
	if (sd->ntermed == sd->captermed) {
		size_t cap = sd->captermed ? 2 * sd->captermed : 16;
		pid_t *n = realloc(sd->termed, cap * sizeof(*n));

		/* Without room, that group gets a second SIGTERM: said, not fatal. */
		if (!n) {
			log_error("out of memory: process group %d may get SIGTERM twice",
				  (int)pgid);
			return;
		}
		sd->termed = n;
		sd->captermed = cap;
	}
	sd->termed[sd->ntermed++] = pgid;
}

void shutdown_note_failure(struct sup *sup, const struct svc *s)
{
	if (sup->sd.have_failure)
		return;
	sup->sd.have_failure = true;
	sup->sd.failure_status = s->has_status ? s->last_status : 1 << 8;
}

void shutdown_free(struct sup *sup)
{
	free(sup->sd.termed);
	sup->sd.termed = NULL;
	sup->sd.ntermed = sup->sd.captermed = 0;
}
