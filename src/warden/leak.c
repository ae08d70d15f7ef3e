/* SPDX-License-Identifier: MIT */
/*
 * Leak watch (leak.h): the samples of a service's process tree, and what
 * they say. A sample reads /proc once (wd_proc_table_read()) and sums the
 * tree with tree_usage(), as the control socket's dump does. The state of
 * a run is a few counters per resource, whatever the window, and it starts
 * over with each run.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <warden/clock.h>
#include <warden/proc.h>

#include "core.h"
#include "log.h"
#include "tree.h"

static const char *const res_names[NLEAKRES] = {
	[LEAK_MEMORY] = "memory",
	[LEAK_FDS] = "fds",
};

bool leak_configured(const struct svc_conf *c)
{
	return c->leak_memory || c->leak_fds;
}

static uint64_t limit_of(const struct svc *s, enum leak_resource r)
{
	return r == LEAK_MEMORY ? s->conf.leak_memory : s->conf.leak_fds;
}

/* Growth per minute from first, at since, to value now; negative when it fell. */
static int64_t per_minute(uint64_t first, uint64_t value, uint64_t since, uint64_t now)
{
	double d = (double)value - (double)first;
	uint64_t span = now - since;

	if (!span)
		return 0;
	return (int64_t)(d * 60.0 * (double)WD_NSEC_PER_SEC / (double)span);
}

static void emit_leak(struct svc *s, enum leak_resource r, uint64_t now)
{
	const struct leak_res *x = &s->leak.res[r];
	struct wd_json *j;
	int64_t trend = per_minute(x->over_first, x->value, x->over_since, now);

	log_error("service %s: %s at %" PRIu64 " over leak_%s = %" PRIu64 " for %" PRIu64
		  " ms (%+" PRId64 " a minute)%s",
		  s->conf.name, res_names[r], x->value, res_names[r], limit_of(s, r),
		  (now - x->over_since) / WD_NSEC_PER_MSEC, trend,
		  s->conf.leak_restart ? ": restarting it" : "");
	if (!events_on())
		return;
	j = event_begin("service.leak");
	wd_json_str(j, "service", s->conf.name);
	wd_json_int(j, "pid", s->pid);
	wd_json_str(j, "resource", res_names[r]);
	wd_json_uint(j, "value", x->value);
	wd_json_uint(j, "limit", limit_of(s, r));
	wd_json_uint(j, "first", x->over_first);
	wd_json_uint(j, "sustained_ms", (now - x->over_since) / WD_NSEC_PER_MSEC);
	wd_json_uint(j, "samples", x->over_samples);
	wd_json_int(j, "trend_per_min", trend);
	wd_json_uint(j, "processes", s->leak.processes);
	wd_json_str(j, "action", s->conf.leak_restart ? "restart" : "none");
	event_emit(j);
}

static void emit_suspected(struct svc *s, enum leak_resource r, uint64_t now)
{
	const struct leak_res *x = &s->leak.res[r];
	struct wd_json *j;

	log_info(0,
		 "service %s: %s grew in each of its last %u samples, to %" PRIu64
		 " (leak_%s = %" PRIu64 "): a leak is suspected",
		 s->conf.name, res_names[r], x->rise_samples, x->value, res_names[r],
		 limit_of(s, r));
	if (!events_on())
		return;
	j = event_begin("service.leak_suspected");
	wd_json_str(j, "service", s->conf.name);
	wd_json_int(j, "pid", s->pid);
	wd_json_str(j, "resource", res_names[r]);
	wd_json_uint(j, "value", x->value);
	wd_json_uint(j, "limit", limit_of(s, r));
	wd_json_uint(j, "samples", x->rise_samples);
	wd_json_uint(j, "growth", x->value - x->rise_first);
	wd_json_uint(j, "window_ms", (now - x->rise_since) / WD_NSEC_PER_MSEC);
	wd_json_int(j, "trend_per_min", per_minute(x->rise_first, x->value, x->rise_since, now));
	event_emit(j);
}

/*
 * Takes one sample into the counters of resource r, and says what it
 * shows. Returns true when it is a leak that on_leak = restart acts on.
 */
static bool take(struct svc *s, enum leak_resource r, uint64_t value, uint64_t now)
{
	struct leak_res *x = &s->leak.res[r];
	uint64_t limit = limit_of(s, r);
	unsigned n = s->conf.leak_suspect_samples;

	/* The growth: strictly more than the sample before, each time. */
	if (s->leak.samples > 1 && value > x->value) {
		x->rise_samples++;
	} else {
		x->rise_samples = 1;
		x->rise_first = value;
		x->rise_since = now;
	}
	x->value = value;
	if (value > limit) {
		if (!x->over) {
			x->over = true;
			x->over_since = now;
			x->over_first = value;
			x->over_samples = 0;
			x->reported = false;
			x->breaches++;
		}
		x->over_samples++;
	} else {
		/* Under the limit again: the breach is over, the next one is new. */
		x->over = false;
		x->over_samples = 0;
		x->reported = false;
	}
	if (n && !x->suspected && x->rise_samples >= n) {
		x->suspected = true;
		emit_suspected(s, r, now);
	}
	/* Every sample of the window over the limit: the first one was at its start. */
	if (x->over && !x->reported && now - x->over_since >= s->conf.leak_sustain) {
		x->reported = true;
		emit_leak(s, r, now);
		return s->conf.leak_restart;
	}
	return false;
}

/* Samples run while the run does; a stopping service has its own deadline. */
static bool sampling(const struct svc *s)
{
	return s->pid && (s->state == ST_STARTING || s->state == ST_RUNNING);
}

static void arm_next(struct svc *s, uint64_t now)
{
	(void)wd_timer_start(s->sup->loop, &s->leak.timer,
			     now > UINT64_MAX - s->conf.leak_interval
				     ? UINT64_MAX
				     : now + s->conf.leak_interval);
}

static void on_sample(wd_timer *t)
{
	struct svc *s = t->data;
	struct leak_watch *w = &s->leak;
	struct wd_proc_table *table = NULL;
	struct tree_usage u;
	uint64_t now = wd_now();
	bool restart = false;
	int r;

	if (!sampling(s))
		return;
	r = wd_proc_table_read(&table);
	if (r >= 0) {
		r = tree_usage(table, s->pid, s->pgid, &u);
		wd_proc_table_free(table);
	}
	if (r < 0) {
		/* A sample missed is no sample: the counters wait for the next. */
		if (!w->unreadable)
			log_errno(r, "service %s: leak watch cannot read its processes",
				  s->conf.name);
		w->unreadable = true;
		arm_next(s, now);
		return;
	}
	w->unreadable = false;
	w->samples++;
	w->sampled_at = now;
	w->processes = u.processes;
	if (s->conf.leak_memory && take(s, LEAK_MEMORY, u.rss_bytes, now)) {
		w->tripped = LEAK_MEMORY;
		restart = true;
	}
	if (s->conf.leak_fds && take(s, LEAK_FDS, u.fds, now) && !restart) {
		w->tripped = LEAK_FDS;
		restart = true;
	}
	if (restart)
		svc_handle(s, EV_LEAK);
	if (sampling(s))
		arm_next(s, now);
}

void leak_start(struct svc *s)
{
	static int own = -1;
	struct leak_watch *w = &s->leak;

	leak_stop(s);
	w->sampled_at = 0;
	w->samples = 0;
	w->processes = 0;
	w->unreadable = false;
	memset(w->res, 0, sizeof(w->res));
	if (!leak_configured(&s->conf) || !s->pid)
		return;
	/* Pids from another namespace's /proc would be other processes. */
	if (own < 0)
		own = wd_proc_is_own();
	if (!own) {
		log_error("service %s: no leak watch: /proc is not this pid namespace's",
			  s->conf.name);
		return;
	}
	w->timer.cb = on_sample;
	w->timer.data = s;
	arm_next(s, wd_now());
}

void leak_stop(struct svc *s)
{
	wd_timer_stop(&s->leak.timer);
}

const char *leak_reason(const struct svc *s)
{
	return s->leak.tripped == LEAK_FDS ? "descriptor leak" : "memory leak";
}

void leak_json(const struct svc *s, struct wd_json *j)
{
	const struct leak_watch *w = &s->leak;
	uint64_t now = wd_now();
	int r;

	if (!leak_configured(&s->conf))
		return;
	wd_json_open(j, "leak", '{');
	wd_json_uint(j, "interval_ms", s->conf.leak_interval / WD_NSEC_PER_MSEC);
	wd_json_uint(j, "sustain_ms", s->conf.leak_sustain / WD_NSEC_PER_MSEC);
	wd_json_str(j, "on_leak", s->conf.leak_restart ? "restart" : "none");
	wd_json_uint(j, "samples", w->samples);
	if (w->sampled_at)
		wd_json_uint(j, "sampled_ms_ago", (now - w->sampled_at) / WD_NSEC_PER_MSEC);
	else
		wd_json_null(j, "sampled_ms_ago");
	if (w->sampled_at)
		wd_json_uint(j, "processes", w->processes);
	else
		wd_json_null(j, "processes");
	for (r = 0; r < NLEAKRES; r++) {
		const struct leak_res *x = &w->res[r];

		if (!limit_of(s, (enum leak_resource)r))
			continue;
		wd_json_open(j, res_names[r], '{');
		wd_json_uint(j, "limit", limit_of(s, (enum leak_resource)r));
		if (w->sampled_at)
			wd_json_uint(j, "value", x->value);
		else
			wd_json_null(j, "value");
		if (x->over)
			wd_json_uint(j, "over_ms", (now - x->over_since) / WD_NSEC_PER_MSEC);
		else
			wd_json_null(j, "over_ms");
		wd_json_uint(j, "breaches", x->breaches);
		wd_json_uint(j, "growing_samples", w->sampled_at ? x->rise_samples : 0);
		wd_json_bool(j, "leak", x->over && x->reported);
		wd_json_bool(j, "suspected", x->suspected);
		wd_json_close(j, '{');
	}
	wd_json_close(j, '{');
}
