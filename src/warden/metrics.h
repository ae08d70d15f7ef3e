/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_METRICS_H
#define WARDEN_METRICS_H

/*
 * The metrics of warden-metrics(7), in the Prometheus text format (0.0.4)
 * or OpenMetrics 1.0.0. The counters are plain integers that the core
 * increments where things happen (reap.c, service.c, forward.c,
 * capture.c, output.c, control.c); everything else is read at scrape
 * time. Nothing here runs between scrapes: no timer, no wake-up.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include <warden/signals.h>

struct sup;
struct svc;

/* How a run of a service ended: warden_service_exits_total{how}. */
enum metrics_exit_how {
	EXIT_HOW_ZERO,	      /* exited-zero */
	EXIT_HOW_NONZERO,     /* exited-nonzero */
	EXIT_HOW_SIGNALLED,   /* signalled */
	EXIT_HOW_EXEC_FAILED, /* exec-failed: it never ran its command */
	NEXITHOW
};

/* A service's counters (in struct svc); they live as long as the service. */
struct svc_metrics {
	uint64_t exits[NEXITHOW];
	uint64_t cpu_ended_ns; /* user and system time of its ended runs, from wait4() */
	uint64_t cpu_shown_ns; /* the most a scrape has shown: the counter never goes back */
};

/* warden's own counters (in struct sup). */
struct sup_metrics {
	uint64_t orphans_reaped;
	uint64_t signals_forwarded[WD_SIGRTMAX + 1]; /* by the signal sent */
};

/*
 * A run of s ended: its status is in s->last_status (and s->exec_error
 * says whether it ran its command). ru is what wait4() said it used, NULL
 * when there was no process.
 */
void metrics_run_ended(struct svc *s, const struct rusage *ru);

/* A signal sig went to a service or the leftovers. */
static inline void metrics_forwarded(struct sup_metrics *m, int sig)
{
	if (sig > 0 && sig <= WD_SIGRTMAX)
		m->signals_forwarded[sig]++;
}

/*
 * The exposition of every metric now: Prometheus text format 0.0.4, or
 * OpenMetrics 1.0.0 (ending in "# EOF") when openmetrics is set. Reads
 * /proc once for every service's processes. Returns a malloc'd text of
 * *len bytes (NUL-terminated), or NULL when memory ran out.
 */
char *metrics_render(struct sup *sup, bool openmetrics, size_t *len);

#endif
