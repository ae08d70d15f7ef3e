/* SPDX-License-Identifier: MIT */
/*
 * How a service's process, or one of its readiness probes, is started: its
 * environment, its descriptors, its process group or session and terminal,
 * its credentials and directory. The loop never waits for an exec: the
 * child reports a failure through a pipe the loop watches (or reads once
 * the child is reaped), so a command on a hung path holds up nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>

#include "core.h"
#include "log.h"
#include "privilege.h"

extern char **environ;

static bool starts_with_key(const char *entry, const char *key)
{
	size_t n = strlen(key);

	return strncmp(entry, key, n) == 0 && entry[n] == '=';
}

/*
 * The environment of a run: warden's, the service's, and the protocols'
 * (NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_PID: not a probe's, whose pid it
 * is not). NULL in *ret when warden's own is the whole of it. Returns 0 or
 * -ENOMEM.
 */
static int build_env(struct svc *s, bool probe, char ***ret)
{
	size_t n = 0, i, k = 0, j;
	char **env;

	*ret = NULL;
	if (!s->conf.nenv && s->conf.ready != READY_NOTIFY && !s->conf.watchdog &&
	    !s->conf.listen_pid)
		return 0;
	while (environ[n])
		n++;
	env = calloc(n + s->conf.nenv + 4, sizeof(*env));
	if (!env)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t kl = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
		bool overridden = starts_with_key(environ[i], "NOTIFY_SOCKET") ||
				  starts_with_key(environ[i], "WATCHDOG_USEC") ||
				  starts_with_key(environ[i], "WATCHDOG_PID") ||
				  (s->conf.listen_pid && starts_with_key(environ[i], "LISTEN_PID"));

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
	/* The child writes its own pid here before exec (LISTEN_PID=...). */
	if (s->conf.listen_pid && !probe) {
		/* The child writes its pid after the '=' (wd_spawn's pid_env). */
		memcpy(s->listen_slot, "LISTEN_PID=", sizeof("LISTEN_PID="));
		env[k++] = s->listen_slot;
	}
	*ret = env;
	return 0;
fail:
	strv_free(env);
	return -ENOMEM;
}

static void free_env(struct svc *s, char **env)
{
	size_t i;

	for (i = 0; env && env[i]; i++)
		if (env[i] != s->listen_slot)
			free(env[i]);
	free(env);
}

/* Fills sp with how s runs: its credentials, directory, mask, group or session. */
static void prepare(struct svc *s, struct wd_spawn *sp, char **argv, char **env)
{
	struct sup *sup = s->sup;

	wd_spawn_init(sp);
	sp->argv = argv;
	sp->envp = env;
	sp->cwd = s->conf.directory ? s->conf.directory : sup->workdir;
	sp->sigmask = s->conf.reset_signals ? NULL : &sup->orig_mask;
	sp->flags = s->conf.reset_signals ? WD_SPAWN_RESET_SIGNALS : 0;
	/* Where warden was started is entered as warden would: as if inherited. */
	if (!s->conf.directory)
		sp->flags |= WD_SPAWN_CWD_FIRST;
	sp->umask = s->conf.umask;
	sp->nofile = sup->nofile_raised ? &sup->nofile : NULL;
	sp->exec_fail_code = s->conf.exec_fail_code;
	if (s->conf.has_user || s->conf.has_group || s->conf.priv.has_supp) {
		sp->set_creds = true;
		sp->uid = s->conf.has_user ? s->conf.uid : getuid();
		sp->gid = s->conf.has_user || s->conf.has_group ? s->conf.gid : getgid();
		sp->groups = s->conf.groups ? s->conf.groups : &sp->gid;
		sp->ngroups = s->conf.groups ? s->conf.ngroups : 1;
		/* supplementary_groups: exactly these, in place of the user's. */
		if (s->conf.priv.has_supp) {
			sp->groups = s->conf.priv.supp_gids;
			sp->ngroups = s->conf.priv.nsupp;
		}
	}
}

/* The terminal, for a service that has warden's own stdin. */
static void session(struct svc *s, struct wd_spawn *sp)
{
	switch (s->conf.session) {
	case SESSION_GROUP:
		sp->flags |= WD_SPAWN_SETPGID;
		/* The foreground, only if warden's group has it now. */
		if (s->conf.inherit_stdio && isatty(STDIN_FILENO) &&
		    tcgetpgrp(STDIN_FILENO) == getpgrp()) {
			sp->flags |= WD_SPAWN_FOREGROUND;
			sp->tty_fd = STDIN_FILENO;
		}
		break;
	case SESSION_NEW:
		sp->flags |= WD_SPAWN_SETSID;
		if (s->conf.inherit_stdio && isatty(STDIN_FILENO)) {
			sp->flags |= WD_SPAWN_CTTY;
			sp->tty_fd = STDIN_FILENO;
		}
		break;
	case SESSION_SAME:
		break;
	}
}

/* The spawn's report pipe is readable: the command runs, or could not. */
static void on_spawn_report(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;
	int r;

	(void)revents;
	r = spawn_outcome(s);
	if (r > 0)
		svc_handle(s, EV_EXECED);
	/* A failure is told when the child, which exits at once, is reaped. */
}

/*
 * Starts argv as s runs: its process (probe false: its group or session,
 * LISTEN_PID) or a readiness probe of it (its own process group). Returns
 * 0 with the pending spawn in *ret, or -errno.
 */
static int start(struct svc *s, char **argv, const int *fds, size_t nfds, bool probe,
		 struct wd_spawn_pending *ret)
{
	struct wd_privilege priv;
	struct wd_spawn sp;
	char **env;
	int r;

	r = build_env(s, probe, &env);
	if (r < 0)
		return r;
	prepare(s, &sp, argv, env);
	if (priv_wanted(&s->conf.priv)) {
		priv_spawn(&s->conf.priv, &priv);
		sp.privilege = &priv;
	}
	if (probe) {
		sp.flags |= WD_SPAWN_SETPGID;
	} else {
		/* Its cgroup, from its first instruction on: nothing it forks escapes it. */
		int cg = cgroup_svc_prepare(s);

		session(s, &sp);
		if (cg >= 0) {
			sp.flags |= WD_SPAWN_CGROUP;
			sp.cgroup_fd = cg;
		}
	}
	sp.fds = nfds ? fds : NULL;
	sp.nfds = nfds;
	if (!probe && s->conf.listen_pid) {
		sp.pid_env = s->listen_slot;
		sp.pid_env_size = sizeof(s->listen_slot);
	}
	r = wd_spawn_start(&sp, ret);
	free_env(s, env);
	if (r == 0)
		s->sup->childless = false;
	return r;
}

int spawn_service(struct svc *s, int *fds, size_t nfds)
{
	struct wd_spawn_pending p;
	int r = start(s, s->conf.argv, fds, nfds, false, &p);

	if (r < 0)
		return r;
	s->pid = p.pid;
	s->pgid = s->conf.session == SESSION_SAME ? 0 : p.pid;
	s->exec_error = 0;
	s->exec_stage = WD_STAGE_NONE;
	s->exec_reason[0] = '\0';
	s->spawn_io.fd = p.fd;
	s->spawn_io.events = EPOLLIN;
	s->spawn_io.cb = on_spawn_report;
	s->spawn_io.data = s;
	/*
	 * Unwatched, the report is read when the process is reaped. That is
	 * enough when nobody would see the service become ready in between
	 * (init mode without events, -v or a control socket).
	 */
	if (s->sup->watch_exec && wd_io_start(s->sup->loop, &s->spawn_io) < 0)
		log_info(1, "service %s: cannot watch its exec; it counts as started when it ends",
			 s->conf.name);
	return 0;
}

int spawn_outcome(struct svc *s)
{
	enum wd_spawn_stage stage = WD_STAGE_NONE;
	int r, detail = -1;

	if (s->spawn_io.fd < 0)
		return s->exec_error ? -s->exec_error : 1;
	r = wd_spawn_outcome_detail(s->spawn_io.fd, &stage, &detail);
	if (r == 0)
		return 0;
	spawn_close(s);
	if (r < 0) {
		/* Init mode's command is warden's own: no service name for it. */
		char who[128] = "";
		char *why = s->exec_reason;
		size_t size = sizeof(s->exec_reason);

		if (!s->conf.exit_is_wardens)
			snprintf(who, sizeof(who), "service %s: ", s->conf.name);
		s->exec_error = -r;
		s->exec_stage = stage;
		if (stage == WD_STAGE_EXEC)
			snprintf(why, size, "cannot execute '%s': %s", s->conf.argv[0],
				 strerror(-r));
		else if (stage == WD_STAGE_CHDIR)
			snprintf(why, size, "cannot change directory to '%s': %s",
				 s->conf.directory ? s->conf.directory : s->sup->workdir,
				 strerror(-r));
		else
			priv_describe_failure(&s->conf.priv, s->conf.has_user, s->conf.has_group,
					      stage, detail, -r, why, size);
		log_error("%s%s", who, why);
	}
	return r;
}

void spawn_close(struct svc *s)
{
	io_close(&s->spawn_io);
}

int spawn_probe(struct svc *s, char **argv, pid_t *ret_pid)
{
	int fds[3] = {s->sup->devnull, s->sup->devnull, s->sup->devnull};
	struct wd_spawn_pending p;
	int r = start(s, argv, fds, 3, true, &p);

	if (r < 0)
		return r;
	/* Whether it ran or not, its exit status says what the probe found. */
	close(p.fd);
	*ret_pid = p.pid;
	return 0;
}
