/* SPDX-License-Identifier: MIT */
/*
 * Every child that ends is reaped here, and accounted for by what it was:
 * a service's process, a readiness probe, a health check, or an orphan
 * that came to warden (PID 1 or subreaper). Signals coalesce, so each
 * SIGCHLD drains wait4() until it says nothing more has ended; with a
 * signalfd no SIGCHLD is lost. The statuses are collected first, a batch
 * at a time, then dispatched: by then warden knows whether any child is
 * left at all, and when none is, nothing needs to look for leftovers.
 */
#include <errno.h>

#include <warden/child.h>

#include "core.h"
#include "log.h"
#include "tree.h"

#define BATCH 64

static void orphan_reaped(struct sup *sup, const struct wd_exit *e)
{
	char words[64];

	sup->m.orphans_reaped++;
	log_info(sup->conf.warn_reaped ? 0 : 2, "reaped orphan %d, %s", (int)e->pid,
		 wd_status_describe(e->status, words, sizeof(words)));
	if (events_on()) {
		struct wd_json *j = event_begin("orphan.reaped");

		tree_event_status(j, e->pid, e->status);
		event_emit(j);
	}
}

void reap_all(struct sup *sup)
{
	struct wd_exit batch[BATCH];
	int r, n, i;

	/* A service's exit may end the shutdown, which reaps: once is enough. */
	if (sup->reaping)
		return;
	sup->reaping = true;
	do {
		for (n = 0; n < BATCH && (r = wd_reap(&batch[n])) > 0; n++)
			;
		sup->childless = r == -ECHILD;
		if (r < 0 && r != -ECHILD)
			log_errno(r, "wait4");
		for (i = 0; i < n; i++) {
			struct svc *s = sup_svc_by_pid(sup, batch[i].pid);

			if (s)
				svc_reaped(s, &batch[i]);
			else if (!readiness_probe_reaped(sup, batch[i].pid, batch[i].status) &&
				 !health_probe_reaped(sup, batch[i].pid, batch[i].status))
				orphan_reaped(sup, &batch[i]);
		}
	} while (n == BATCH);
	sup->reaping = false;
	shutdown_after_reap(sup);
}
