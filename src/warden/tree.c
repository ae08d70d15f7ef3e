/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/proc.h>
#include <warden/signals.h>

#include "log.h"
#include "tree.h"

/* Is /proc this pid namespace's? Asked once, when first needed. */
static bool proc_usable(void)
{
	static int known = -1;

	if (known < 0)
		known = wd_proc_is_own();
	return known;
}

unsigned tree_signal(pid_t self, bool pid1, int sig, const pid_t *skip, size_t nskip, bool count)
{
	int n;

	/*
	 * As PID 1, kill(-1) reaches every process of the namespace at once,
	 * even one entered from outside (nsenter), without reading /proc.
	 */
	if (pid1 && nskip == 0) {
		n = count ? tree_count(self, pid1) : 0;
		/* It fails with ESRCH when nobody was there: then none got it. */
		if (kill(-1, sig) < 0)
			return 0;
		return n > 0 ? (unsigned)n : 1;
	}
	if (!proc_usable()) {
		log_error("cannot signal leftover processes: /proc is not this namespace's");
		return 0;
	}
	n = wd_proc_kill_tree(pid1 ? 0 : self, sig, skip, nskip);
	if (n < 0) {
		log_errno(n, "cannot list leftover processes");
		return 0;
	}
	return (unsigned)n;
}

int tree_count(pid_t self, bool pid1)
{
	int n;

	if (!proc_usable())
		return -1;
	n = wd_proc_descendants(pid1 ? 0 : self, NULL, 0);
	/* As PID 1, the walk from the namespace's root finds warden itself too. */
	return n < 0 ? -1 : pid1 && n > 0 ? n - 1 : n;
}

void tree_event_status(struct wd_json *j, pid_t pid, int status)
{
	char name[WD_SIGNAME_MAX], words[64];

	wd_json_int(j, "pid", pid);
	if (WIFEXITED(status))
		wd_json_int(j, "code", WEXITSTATUS(status));
	else
		wd_json_null(j, "code");
	if (WIFSIGNALED(status))
		wd_json_str(j, "signal", wd_signal_name(WTERMSIG(status), name));
	else
		wd_json_null(j, "signal");
	wd_json_bool(j, "core_dumped", WIFSIGNALED(status) && WCOREDUMP(status));
	wd_json_str(j, "status", wd_status_describe(status, words, sizeof(words)));
	wd_json_int(j, "exit_code", wd_status_code(status));
}

static uint64_t tv_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

void tree_event_rusage(struct wd_json *j, const struct rusage *ru)
{
	wd_json_uint(j, "utime_us", tv_us(&ru->ru_utime));
	wd_json_uint(j, "stime_us", tv_us(&ru->ru_stime));
	wd_json_int(j, "maxrss_kb", ru->ru_maxrss);
}

int tree_usage(const struct wd_proc_table *t, pid_t pid, pid_t pgid, struct tree_usage *u)
{
	pid_t small[64], *pids = small;
	int n, i;

	*u = (struct tree_usage){0};
	n = wd_proc_table_tree(t, pid, pgid, pids, 64);
	if (n < 0)
		return n;
	if (n > 64) {
		pids = malloc((size_t)n * sizeof(*pids));
		if (!pids)
			return -ENOMEM;
		n = wd_proc_table_tree(t, pid, pgid, pids, (size_t)n);
	}
	for (i = 0; i < n; i++) {
		struct wd_proc_usage pu;

		if (wd_proc_table_usage(t, pids[i], &pu) < 0)
			continue;
		u->processes++;
		u->rss_bytes += pu.rss_bytes;
		u->cpu_ns += pu.cpu_ns;
		if (pu.fds > 0)
			u->fds += (uint64_t)pu.fds;
	}
	if (pids != small)
		free(pids);
	return 0;
}
