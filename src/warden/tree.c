/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/proc.h>
#include <warden/signals.h>

#include "log.h"
#include "tree.h"

void tree_init(struct tree *t)
{
	t->self = getpid();
	t->pid1 = t->self == 1;
	if (!t->pid1) {
		if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
			log_errno(errno, "cannot become a subreaper; orphans will not be reaped");
		else
			log_info(1, "not PID 1, acting as a subreaper");
	}
	t->proc_ok = wd_proc_is_own();
}

unsigned tree_signal_leftovers(const struct tree *t, pid_t fallback_pgid, int sig)
{
	int n;

	/*
	 * As PID 1, kill(-1) reaches every process of the namespace at once,
	 * even one entered from outside (nsenter); /proc only counts them.
	 * Each process gets the signal once: a second SIGTERM means "hurry"
	 * to some programs.
	 */
	if (t->pid1) {
		n = tree_count(t);
		(void)kill(-1, sig);
		return n > 0 ? (unsigned)n : 0;
	}
	if (t->proc_ok) {
		n = wd_proc_kill_descendants(t->self, sig);
		if (n >= 0)
			return (unsigned)n;
		log_errno(n, "cannot list leftover processes");
	}
	/* Without a usable /proc, the main child's group is all we know. */
	if (fallback_pgid > 0 && kill(-fallback_pgid, sig) == 0)
		return 1;
	return 0;
}

int tree_count(const struct tree *t)
{
	int n;

	if (!t->proc_ok)
		return -1;
	n = wd_proc_descendants(t->self, NULL, 0);
	return n < 0 ? -1 : n;
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
