/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/event.h>
#include <warden/fd.h>
#include <warden/loop.h>
#include <warden/proc.h>
#include <warden/signals.h>

#include "version.h"
#include "init.h"
#include "control.h"
#include "log.h"
#include "supervisor.h"
#include "tree.h"

enum phase {
	PHASE_RUNNING, /* the main child runs */
	PHASE_WAITING, /* it has exited; waiting for the rest (--wait-all) */
	PHASE_GRACE,   /* leftovers got SIGTERM; waiting up to the grace period */
	PHASE_KILLING, /* leftovers got SIGKILL; waiting for them to be reaped */
	PHASE_EXITING, /* exiting once what has already ended is reaped */
};

/* While leftovers are being killed, sweep again this often for stragglers. */
#define KILL_SWEEP_NS (200 * WD_NSEC_PER_MSEC)

struct init {
	const struct init_opts *o;
	wd_loop *loop;
	wd_io sig_io;
	wd_io pidfd_io;
	wd_timer grace_timer;
	wd_timer stop_timer;
	struct tree tree;
	pid_t child;
	int child_pidfd;
	int child_status;
	enum phase phase;
	uint64_t started;
	unsigned signalled, killed; /* leftovers sent SIGTERM, SIGKILL */
	bool done;
	int exit_code;
	/* dumb-init: giving up the terminal sent these to warden; not forwarded. */
	bool swallow_hup, swallow_cont;
	/* --control: the command seen as the service "main" of a supervisor. */
	struct sup *shadow;
	struct svc *main_svc;
	struct sup_hooks hooks;
};

static const char *signame(int sig, char buf[static WD_SIGNAME_MAX])
{
	return wd_signal_name(sig, buf);
}

static uint64_t tv_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000u + (uint64_t)tv->tv_usec;
}

static unsigned signal_leftovers(struct init *in, int sig)
{
	return tree_signal_leftovers(&in->tree, in->child, sig);
}

static void finish(struct init *in)
{
	int code = wd_status_code(in->child_status);

	if (in->done)
		return;
	in->done = true;
	wd_timer_stop(&in->grace_timer);
	if (in->o->remap_exit[code])
		code = 0;
	in->exit_code = code;
	log_info(1, "exiting with code %d", code);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.finished");

		wd_json_int(j, "exit_code", code);
		wd_json_uint(j, "uptime_ms", (wd_now() - in->started) / WD_NSEC_PER_MSEC);
		wd_json_uint(j, "signalled", in->signalled);
		wd_json_uint(j, "killed", in->killed);
		event_emit(j);
	}
	wd_loop_quit(in->loop);
}

static void kill_leftovers(struct init *in)
{
	unsigned n;

	in->phase = PHASE_KILLING;
	n = signal_leftovers(in, SIGKILL);
	in->killed += n;
	if (n)
		log_info(1, "killed %u leftover process%s", n, n == 1 ? "" : "es");
	/* A process forked just before its parent was killed may have been missed. */
	(void)wd_timer_start(in->loop, &in->grace_timer, wd_now() + KILL_SWEEP_NS);
}

/* SIGTERM to every leftover, then SIGKILL after the grace period. */
static void terminate_leftovers(struct init *in, bool term_sent)
{
	if (in->o->grace == 0) {
		kill_leftovers(in);
		return;
	}
	in->phase = PHASE_GRACE;
	/* Each process gets SIGTERM once: a second one means "hurry" to some. */
	if (term_sent)
		in->signalled += (unsigned)(tree_count(&in->tree) > 0 ? tree_count(&in->tree) : 0);
	else
		in->signalled += signal_leftovers(in, SIGTERM);
	/* A stopped process would never see its SIGTERM. */
	(void)signal_leftovers(in, SIGCONT);
	if (in->signalled)
		log_info(1, "sent SIGTERM to %u leftover process%s", in->signalled,
			 in->signalled == 1 ? "" : "es");
	(void)wd_timer_start(in->loop, &in->grace_timer, wd_now() + in->o->grace);
}

static void on_grace_timer(wd_timer *t)
{
	struct init *in = t->data;

	if (in->phase == PHASE_GRACE) {
		log_info(1, "grace period over");
		kill_leftovers(in);
	} else if (in->phase == PHASE_KILLING) {
		(void)signal_leftovers(in, SIGKILL);
		(void)wd_timer_start(in->loop, t, wd_now() + KILL_SWEEP_NS);
	}
}

static void on_stop_timer(wd_timer *t)
{
	struct init *in = t->data;

	if (in->phase != PHASE_RUNNING)
		return;
	log_info(1, "stop timeout: killing process group %d", (int)in->child);
	if (events_on()) {
		struct wd_json *j = event_begin("stop.timeout");

		wd_json_int(j, "pid", in->child);
		event_emit(j);
	}
	(void)kill(-in->child, SIGKILL);
	(void)wd_child_kill(in->child, in->child_pidfd, SIGKILL);
}

/* The main child has been reaped: decide what happens to the rest. */
static void main_exited(struct init *in, const struct wd_exit *e)
{
	char words[64];

	in->child_status = e->status;
	if (in->main_svc) {
		in->main_svc->pid = 0;
		in->main_svc->has_status = true;
		in->main_svc->last_status = e->status;
		in->main_svc->state =
			WIFEXITED(e->status) && WEXITSTATUS(e->status) == 0 ? ST_EXITED : ST_FAILED;
		in->shadow->shutting_down = true;
		control_changed(in->shadow);
	}
	log_info(1, "main process %d %s", (int)e->pid,
		 wd_status_describe(e->status, words, sizeof(words)));
	if (events_on()) {
		struct wd_json *j = event_begin("process.exited");

		tree_event_status(j, e->pid, e->status);
		wd_json_uint(j, "utime_us", tv_us(&e->rusage.ru_utime));
		wd_json_uint(j, "stime_us", tv_us(&e->rusage.ru_stime));
		wd_json_int(j, "maxrss_kb", e->rusage.ru_maxrss);
		event_emit(j);
	}
	if (in->child_pidfd >= 0) {
		wd_io_stop(&in->pidfd_io);
		close(in->child_pidfd);
		in->child_pidfd = -1;
	}
	wd_timer_stop(&in->stop_timer);
	if (events_on()) {
		struct wd_json *j = event_begin("shutdown.started");
		int pending = tree_count(&in->tree);

		wd_json_str(j, "reason", "main process exited");
		if (pending >= 0)
			wd_json_int(j, "pending", pending);
		else
			wd_json_null(j, "pending");
		event_emit(j);
	}
	switch (in->o->leftovers) {
	case LEFTOVERS_WAIT:
		in->phase = PHASE_WAITING;
		break;
	case LEFTOVERS_EXIT:
		in->phase = PHASE_EXITING;
		if (in->o->term_group_at_exit && in->o->rewrite[SIGTERM])
			(void)kill(-in->child, in->o->rewrite[SIGTERM]);
		break;
	case LEFTOVERS_TERMINATE:
		terminate_leftovers(in, false);
		break;
	}
}

static void orphan_reaped(struct init *in, const struct wd_exit *e)
{
	char words[64];

	log_info(in->o->warn_reaped ? 0 : 2, "reaped orphan %d, %s", (int)e->pid,
		 wd_status_describe(e->status, words, sizeof(words)));
	if (events_on()) {
		struct wd_json *j = event_begin("orphan.reaped");

		tree_event_status(j, e->pid, e->status);
		event_emit(j);
	}
}

/* Reaps everything that has ended; finishes when nothing is left. */
static void reap_all(struct init *in)
{
	struct wd_exit e;
	int r;

	while ((r = wd_reap(&e)) > 0) {
		if (e.pid == in->child && in->phase == PHASE_RUNNING)
			main_exited(in, &e);
		else
			orphan_reaped(in, &e);
	}
	if (in->phase == PHASE_EXITING || (r == -ECHILD && in->phase != PHASE_RUNNING))
		finish(in);
	else if (r < 0 && r != -ECHILD)
		log_errno(r, "wait4");
}

static void forward(struct init *in, int received)
{
	char rname[WD_SIGNAME_MAX], sname[WD_SIGNAME_MAX];
	int sig = in->o->rewrite[received];
	const char *target;
	int r = 0;
	pid_t to;

	if (sig == 0) {
		log_info(2, "dropped %s", signame(received, rname));
		if (events_on()) {
			struct wd_json *j = event_begin("signal.dropped");

			wd_json_str(j, "received", signame(received, rname));
			event_emit(j);
		}
		return;
	}
	if (in->phase == PHASE_RUNNING) {
		if (in->o->group) {
			target = "group";
			to = in->child;
			r = kill(-in->child, sig) < 0 ? -errno : 0;
		} else {
			target = "process";
			to = in->child;
			r = wd_child_kill(in->child, in->child_pidfd, sig);
		}
	} else {
		target = "descendants";
		to = in->tree.self;
		(void)signal_leftovers(in, sig);
	}
	if (r < 0 && r != -ESRCH)
		log_errno(r, "cannot forward %s", signame(sig, sname));
	log_info(2, "forwarded %s as %s to %s %d", signame(received, rname), signame(sig, sname),
		 target, (int)to);
	if (events_on()) {
		struct wd_json *j = event_begin("signal.forwarded");

		wd_json_str(j, "signal", signame(sig, sname));
		wd_json_str(j, "received", signame(received, rname));
		wd_json_str(j, "target", target);
		wd_json_int(j, "pid", to);
		event_emit(j);
	}
}

static void on_signal(struct init *in, int sig)
{
	bool stop_request = sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;

	if (sig == SIGCHLD) {
		reap_all(in);
		return;
	}
	if (sig == SIGHUP && in->swallow_hup) {
		in->swallow_hup = false;
		return;
	}
	if (sig == SIGCONT && in->swallow_cont) {
		in->swallow_cont = false;
		return;
	}
	if (in->phase == PHASE_RUNNING && stop_request && in->o->stop_timeout &&
	    !in->stop_timer.armed)
		(void)wd_timer_start(in->loop, &in->stop_timer, wd_now() + in->o->stop_timeout);
	forward(in, sig);
	/* Waiting for leftovers: SIGTERM or SIGINT, once passed on, starts the grace. */
	if (in->phase == PHASE_WAITING && (sig == SIGTERM || sig == SIGINT)) {
		log_info(1, "%s while waiting for leftovers: stopping them",
			 sig == SIGTERM ? "SIGTERM" : "SIGINT");
		terminate_leftovers(in, in->o->rewrite[sig] == SIGTERM);
		return;
	}
	/*
	 * dumb-init's job control: once the child has been told to stop, stop
	 * too; SIGCONT resumes warden and is then forwarded like any signal.
	 */
	/*
	 * As PID 1 the kernel ignores a SIGSTOP to itself, and raising one would
	 * still discard a SIGCONT already queued: not as PID 1, then.
	 */
	if (in->o->stop_on_tty_signals && in->phase == PHASE_RUNNING && !in->tree.pid1 &&
	    (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU))
		(void)raise(SIGSTOP);
}

static void dispatch_signal(int sig, void *data)
{
	on_signal(data, sig);
}

/*
 * No reaping pass beyond SIGCHLD's: with a signalfd no SIGCHLD is lost
 * (coalesced ones leave one pending), and each pass drains wait4().
 */
static void on_signalfd(wd_io *io, uint32_t revents)
{
	(void)revents;
	(void)wd_signalfd_dispatch(io->fd, dispatch_signal, io->data);
}

static void on_pidfd(wd_io *io, uint32_t revents)
{
	(void)revents;
	reap_all(io->data);
}

/* Socket activation: LISTEN_FDS meant for warden, passed on to the child. */
static int listen_fds(void)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	long n;

	if (!pid_s || !fds_s || atol(pid_s) != (long)getpid())
		return 0;
	n = atol(fds_s);
	return n > 0 && n < 65536 ? (int)n : 0;
}

/* Closes what warden inherited but was not asked to pass on. */
static int close_inherited(const struct init_opts *o, int nlisten, int *ret_nfds)
{
	int keep_n = o->preserve_fds > nlisten ? o->preserve_fds : nlisten;
	int keep[2] = {-1, -1};
	size_t nkeep = 0;
	int r;

	if (o->events && strncmp(o->events, "fd:", 3) == 0)
		keep[nkeep++] = atoi(o->events + 3);
	/* Keep 3 .. 3+keep_n-1 by closing from 3+keep_n, plus the event fd. */
	r = wd_fd_close_from(3 + keep_n, keep, nkeep);
	*ret_nfds = 3 + keep_n;
	return r;
}

/* Builds the child's environment with a LISTEN_PID slot for its own pid. */
static char **listen_env(char *slot)
{
	extern char **environ;
	size_t n = 0, i, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], "LISTEN_PID=", 11) != 0)
			env[k++] = environ[i];
	strcpy(slot, "LISTEN_PID=0");
	env[k++] = slot;
	env[k] = NULL;
	return env;
}

static int spawn_main(struct init *in, const sigset_t *orig_mask, int nfds, int nlisten)
{
	static char pid_slot[WD_PID_ENV_MAX];
	struct wd_spawn sp = {0};
	struct wd_spawn_result res;
	int *fds = NULL, i, r;
	char **env = NULL;

	sp.argv = in->o->argv;
	sp.sigmask = in->o->reset_child_signals ? NULL : orig_mask;
	sp.flags = in->o->reset_child_signals ? WD_SPAWN_RESET_SIGNALS : 0;
	sp.tty_fd = -1;
	sp.umask = -1;
	switch (in->o->child_group) {
	case CHILD_PGRP:
		sp.flags |= WD_SPAWN_SETPGID;
		/* The child takes the terminal only if warden's group has it now. */
		if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp()) {
			sp.flags |= WD_SPAWN_FOREGROUND;
			sp.tty_fd = STDIN_FILENO;
		}
		break;
	case CHILD_SESSION:
		sp.flags |= WD_SPAWN_SETSID;
		if (isatty(STDIN_FILENO)) {
			sp.flags |= WD_SPAWN_CTTY;
			sp.tty_fd = STDIN_FILENO;
		}
		break;
	case CHILD_SAME:
		break;
	}
	if (nfds > 3) {
		fds = calloc((size_t)nfds, sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		for (i = 0; i < nfds; i++)
			fds[i] = i;
		sp.fds = fds;
		sp.nfds = (size_t)nfds;
	}
	if (nlisten) {
		env = listen_env(pid_slot);
		if (!env) {
			free(fds);
			return -ENOMEM;
		}
		sp.envp = env;
		sp.listen_pid_env = pid_slot;
	}
	r = wd_spawn(&sp, &res);
	free(fds);
	free(env);
	if (r < 0) {
		if (res.stage == WD_STAGE_EXEC)
			log_errno(r, "cannot execute '%s'", in->o->argv[0]);
		else
			log_errno(r, "cannot start '%s'", in->o->argv[0]);
		return r;
	}
	in->child = res.pid;
	in->child_pidfd = res.pidfd;
	log_info(1, "started %s as pid %d", in->o->argv[0], (int)res.pid);
	if (events_on()) {
		struct wd_json *j = event_begin("process.started");

		wd_json_int(j, "pid", res.pid);
		wd_json_strv(j, "command", in->o->argv);
		event_emit(j);
	}
	return 0;
}

/*
 * Gives up the controlling terminal so that the child's new session can take
 * it. A session leader that does so sends itself SIGHUP and SIGCONT: those
 * two are not the user's, so they are not forwarded.
 */
static void detach_tty(struct init *in)
{
	if (!isatty(STDIN_FILENO))
		return;
	if (ioctl(STDIN_FILENO, TIOCNOTTY) < 0) {
		log_info(2, "cannot detach from the terminal: %s", strerror(errno));
		return;
	}
	if (getsid(0) == getpid())
		in->swallow_hup = in->swallow_cont = true;
}

/* Death signal for warden itself, set so that no parent death is missed. */
static int set_pdeathsig(int sig)
{
	pid_t parent = getppid();

	if (prctl(PR_SET_PDEATHSIG, sig) < 0)
		return -errno;
	/* The parent died before prctl(): the signal will never come, so send it. */
	if (getppid() != parent)
		(void)raise(sig);
	return 0;
}

/*
 * The control socket's verbs that change things, in init mode: stop and
 * shutdown ask the command to end (warden then ends with it), as SIGTERM to
 * warden would; the command runs once and there is no config to reload.
 */
static int control_act(void *data, enum ctl_verb verb, char *err, size_t errlen)
{
	struct init *in = data;

	switch (verb) {
	case CTL_STOP:
	case CTL_SHUTDOWN:
		if (in->phase == PHASE_RUNNING) {
			on_signal(in, SIGTERM);
			if (in->main_svc->state == ST_RUNNING)
				in->main_svc->state = ST_STOPPING;
		}
		return 0;
	case CTL_START:
	case CTL_RESTART:
		snprintf(err, errlen, "init mode runs its command once: warden exits with it");
		return -1;
	case CTL_RELOAD:
		snprintf(err, errlen, "init mode has no config file to reload");
		return -1;
	default:
		snprintf(err, errlen, "not in init mode");
		return -1;
	}
}

/* Opens --control with the command as the service "main". */
static int control_start(struct init *in, const char *path)
{
	char err[CONFIG_ERR_MAX];

	in->shadow = calloc(1, sizeof(*in->shadow));
	in->main_svc = calloc(1, sizeof(*in->main_svc));
	if (in->shadow)
		in->shadow->svcs = calloc(1, sizeof(*in->shadow->svcs));
	if (!in->shadow || !in->main_svc || !in->shadow->svcs) {
		log_error("out of memory for the control socket");
		return -1;
	}
	in->main_svc->sup = in->shadow;
	in->main_svc->conf.name = (char *)"main";
	in->main_svc->conf.argv = in->o->argv;
	in->main_svc->state = ST_STOPPED;
	in->shadow->svcs[0] = in->main_svc;
	in->shadow->nsvcs = 1;
	in->shadow->loop = in->loop;
	in->shadow->started = in->started;
	in->hooks.act = control_act;
	in->hooks.data = in;
	in->shadow->hooks = &in->hooks;
	if (control_open(in->shadow, path, false, 0, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

static void control_stop(struct init *in)
{
	if (in->shadow) {
		control_close(in->shadow);
		free(in->shadow->svcs);
	}
	free(in->shadow);
	free(in->main_svc);
}

int init_run(const struct init_opts *o, const sigset_t *orig_mask)
{
	struct init in = {.o = o, .child_pidfd = -1};
	int r, nfds, nlisten = listen_fds();

	in.started = wd_now();

	r = close_inherited(o, nlisten, &nfds);
	if (r < 0)
		log_errno(r, "cannot close inherited descriptors");
	if (o->events) {
		r = events_open(o->events);
		if (r < 0) {
			log_errno(r, "cannot open events destination '%s'", o->events);
			return EXIT_WARDEN;
		}
		if (events_fd() > STDERR_FILENO && events_fd() >= nfds)
			(void)wd_fd_set_cloexec(events_fd(), true);
	}
	tree_init(&in.tree);
	if (o->pdeathsig) {
		r = set_pdeathsig(o->pdeathsig);
		if (r < 0)
			log_errno(r, "cannot set the parent-death signal");
	}

	r = wd_loop_new(&in.loop);
	if (r < 0) {
		log_errno(r, "cannot create the event loop");
		return EXIT_WARDEN;
	}
	in.sig_io.fd = wd_signalfd_open();
	if (in.sig_io.fd < 0) {
		log_errno(in.sig_io.fd, "cannot open a signalfd");
		wd_loop_free(in.loop);
		return EXIT_WARDEN;
	}
	in.sig_io.events = EPOLLIN;
	in.sig_io.cb = on_signalfd;
	in.sig_io.data = &in;
	r = wd_io_start(in.loop, &in.sig_io);
	if (r < 0) {
		log_errno(r, "cannot watch the signalfd");
		goto out;
	}
	in.grace_timer.cb = on_grace_timer;
	in.grace_timer.data = &in;
	in.stop_timer.cb = on_stop_timer;
	in.stop_timer.data = &in;

	if (events_on()) {
		struct wd_json *j = event_begin("warden.started");

		wd_json_str(j, "version", WARDEN_VERSION);
		wd_json_int(j, "pid", in.tree.self);
		wd_json_bool(j, "pid1", in.tree.pid1);
		wd_json_bool(j, "subreaper", !in.tree.pid1);
		wd_json_strv(j, "command", o->argv);
		event_emit(j);
	}

	if (o->control && control_start(&in, o->control) < 0) {
		in.exit_code = EXIT_WARDEN;
		goto out;
	}
	if (o->detach_tty)
		detach_tty(&in);
	r = spawn_main(&in, orig_mask, nfds, nlisten);
	if (r < 0) {
		in.exit_code = o->exec_fail_code ? o->exec_fail_code : wd_spawn_exit_code(r);
		/* An exec failure is a final status like any other: -e applies. */
		if (o->remap_exit[in.exit_code])
			in.exit_code = 0;
		goto out;
	}
	if (o->chdir_root && chdir("/") < 0)
		log_errno(errno, "cannot change directory to /");
	if (in.main_svc) {
		in.main_svc->pid = in.child;
		in.main_svc->spawned_at = wd_now();
		in.main_svc->state = ST_RUNNING;
	}
	if (in.child_pidfd >= 0) {
		in.pidfd_io.fd = in.child_pidfd;
		in.pidfd_io.events = EPOLLIN;
		in.pidfd_io.cb = on_pidfd;
		in.pidfd_io.data = &in;
		(void)wd_io_start(in.loop, &in.pidfd_io);
	}

	/*
	 * From here on warden must not die: every failure is reported and the
	 * loop goes on reaping.
	 */
	reap_all(&in);
	r = wd_loop_run(in.loop);
	if (r < 0) {
		log_errno(r, "the event loop failed");
		in.exit_code = EXIT_WARDEN;
	}
out:
	control_stop(&in);
	close(in.sig_io.fd);
	wd_loop_free(in.loop);
	return in.exit_code;
}
