/* SPDX-License-Identifier: MIT */
/*
 * The supervisor, the core of both modes: the services of a config, the
 * order they start and stop in, a reload, what the control socket may ask,
 * and the run from start-up to exit. One service's own life is in
 * service.c; the end of it all in shutdown.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/event.h>
#include <warden/fd.h>
#include <warden/signals.h>

#include "control.h"
#include "http.h"
#include "core.h"
#include "diag.h"
#include "log.h"
#include "output.h"
#include "version.h"

/* The queue of warden's stdout and stderr, which carry services' lines. */
#define OUTPUT_CAP_SERVICES (2u << 20)

static const char *const mode_names[] = {
	[MODE_SUPERVISOR] = "supervisor",
	[MODE_INIT] = "init",
	[MODE_TINI] = "tini",
	[MODE_DUMB_INIT] = "dumb-init",
};

const char *sup_mode_name(const struct sup *sup)
{
	return mode_names[sup->conf.mode];
}

bool sup_shutting_down_now(const struct sup *sup)
{
	return sup->sd.phase != SD_NONE;
}

struct svc *sup_svc_by_pid(const struct sup *sup, pid_t pid)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++)
		if (sup->svcs[i]->pid == pid)
			return sup->svcs[i];
	return NULL;
}

/* --- services ------------------------------------------------------------- */

/*
 * A new service, in state stopped, taking the settings c over: in storage
 * when given (init mode's one service), else allocated.
 */
static struct svc *svc_new(struct sup *sup, struct svc_conf *c, struct svc *storage)
{
	struct svc *s = storage ? memset(storage, 0, sizeof(*storage)) : calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->sup = sup;
	s->state = ST_STOPPED;
	s->out.io.fd = s->err.io.fd = -1;
	s->out.w = s->err.w = -1;
	s->notify_io.fd = -1;
	s->ready_io.fd = -1;
	s->spawn_io.fd = -1;
	cgroup_svc_init(s);
	health_init(s);
	svc_apply_conf(s, c);
	return s;
}

struct svc *sup_find(const struct sup *sup, const char *name)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++)
		if (strcmp(sup->svcs[i]->conf.name, name) == 0)
			return sup->svcs[i];
	return NULL;
}

/*
 * The services of sup->conf, all of them or -ENOMEM. Without a config file
 * there is no reload: one service needs no allocation.
 */
static int make_services(struct sup *sup)
{
	size_t i, n = sup->conf.nsvcs;

	sup->nsvcs = 0;
	if (n == 0) /* the config has one at least */
		return -EINVAL;
	if (!sup->conf.path && n == 1)
		sup->svcs = sup->one_ptr;
	else
		sup->svcs = calloc(n + 1, sizeof(*sup->svcs));
	if (!sup->svcs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct svc *s = svc_new(sup, &sup->conf.svcs[i],
					sup->svcs == sup->one_ptr ? &sup->one : NULL);

		if (!s)
			return -ENOMEM;
		sup->svcs[sup->nsvcs++] = s;
	}
	return 0;
}

/*
 * Resolves every service's after = names into pointers. A service whose
 * array cannot be allocated does not start without its dependencies: it
 * fails, and says why.
 */
static void resolve_deps(struct sup *sup)
{
	size_t i, k;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];
		const struct svc_conf *c = s->next_conf.name ? &s->next_conf : &s->conf;

		free(s->deps);
		s->deps = NULL;
		s->ndeps = 0;
		if (!c->nafter)
			continue;
		s->deps = calloc(c->nafter, sizeof(*s->deps));
		if (!s->deps) {
			log_error("service %s: out of memory for its dependencies: it cannot start",
				  c->name);
			s->ndeps = DEPS_UNKNOWN;
			continue;
		}
		for (k = 0; k < c->nafter; k++) {
			struct svc *d = sup_find(sup, c->after[k]);

			if (d)
				s->deps[s->ndeps++] = d;
		}
	}
}

/* Is any service that is after s still up or about to be? Then s waits to stop. */
static bool has_active_dependents(const struct sup *sup, const struct svc *s)
{
	size_t i, k;

	for (i = 0; i < sup->nsvcs; i++) {
		const struct svc *t = sup->svcs[i];

		if (svc_done(t) || t->ndeps == DEPS_UNKNOWN)
			continue;
		for (k = 0; k < t->ndeps; k++)
			if (t->deps[k] == s)
				return true;
	}
	return false;
}

/* Frees services that a reload removed, once they are down. */
static void sweep_removed(struct sup *sup)
{
	size_t i, k = 0;
	bool removed = false;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->removed && svc_done(s) && !s->pid) {
			/* What it wrote last still goes out. */
			capture_drain(s);
			svc_free(s);
			removed = true;
		} else {
			sup->svcs[k++] = s;
		}
	}
	sup->nsvcs = k;
	if (removed)
		resolve_deps(sup);
}

/* An essential service ended for good: the shutdown, with its status. */
static bool essential_ended(struct sup *sup)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->conf.essential && (s->state == ST_EXITED || s->state == ST_FAILED)) {
			shutdown_essential(sup, s,
					   s->conf.exit_is_wardens ? "main process exited"
								   : "an essential service ended");
			return true;
		}
	}
	return false;
}

static void schedule(struct sup *sup)
{
	bool all_ended = true, all_down = true;
	size_t i;

	if (sup->sd.phase == SD_DONE)
		return;
	sweep_removed(sup);
	if (sup->sd.phase == SD_NONE) {
		if (essential_ended(sup))
			return;
		for (i = 0; i < sup->nsvcs; i++) {
			struct svc *s = sup->svcs[i];

			if (s->state != ST_WAITING)
				continue;
			if (svc_dep_failed(s))
				svc_handle(s, EV_DEP_FAILED);
			else if (svc_deps_ready(s))
				svc_handle(s, EV_DEPS_READY);
		}
		if (essential_ended(sup))
			return;
		/* One stopped on request may be started again: warden waits for that. */
		for (i = 0; i < sup->nsvcs; i++)
			all_ended &= sup->svcs[i]->state == ST_EXITED ||
				     sup->svcs[i]->state == ST_FAILED;
		if (all_ended)
			shutdown_start(sup, "no service is left running");
		return;
	}
	/*
	 * Shutting down: each service stops once nothing after it runs. While
	 * draining, those that run keep running; those that wait serve nothing.
	 */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->state == ST_WAITING || s->state == ST_BACKOFF)
			svc_handle(s, EV_STOP);
		else if ((s->state == ST_STARTING || s->state == ST_RUNNING) &&
			 sup->sd.phase != SD_DRAINING && !has_active_dependents(sup, s))
			svc_handle_sig(s, EV_STOP, sup->sd.request_sig);
	}
	for (i = 0; i < sup->nsvcs; i++)
		all_down &= svc_done(sup->svcs[i]);
	if (all_down)
		shutdown_services_down(sup);
}

void sup_changed(struct sup *sup)
{
	/* Transitions nest (a stop starts another stop): run the passes flat. */
	if (sup->scheduling) {
		sup->reschedule = true;
		return;
	}
	sup->scheduling = true;
	do {
		sup->reschedule = false;
		schedule(sup);
	} while (sup->reschedule);
	sup->scheduling = false;
	if (sup->ctl)
		control_changed(sup->ctl);
}

/* --- reload --------------------------------------------------------------- */

static bool same_settings(const struct svc_conf *a, const struct svc_conf *b)
{
	return a->fingerprint && b->fingerprint && strcmp(a->fingerprint, b->fingerprint) == 0;
}

static int reload(struct sup *sup, char *err, size_t errlen)
{
	char msg[CONFIG_ERR_MAX];
	struct config nc;
	unsigned added = 0, changed = 0, removed = 0;
	struct svc **restart, **start, **grown;
	size_t i, nrestart = 0, nstart = 0;

	if (config_load(sup->conf.path, &nc, msg) < 0) {
		log_error("reload rejected, nothing changed: %s", msg);
		if (events_on()) {
			struct wd_json *j = event_begin("config.rejected");

			wd_json_str(j, "error", msg);
			event_emit(j);
		}
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	restart = calloc(sup->nsvcs + 1, sizeof(*restart));
	start = calloc(sup->nsvcs + nc.nsvcs + 1, sizeof(*start));
	grown = restart && start ? realloc(sup->svcs, (sup->nsvcs + nc.nsvcs + 1) * sizeof(*grown))
				 : NULL;
	if (grown)
		sup->svcs = grown;
	if (!grown) {
		free(restart);
		free(start);
		config_free(&nc);
		log_error("reload rejected, nothing changed: out of memory");
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Services gone from the file stop, and go once they are down. */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (s->removed || config_find(&nc, s->conf.name) >= 0)
			continue;
		removed++;
		s->removed = true;
		restart[nrestart++] = s; /* stopped below, with the others */
	}
	for (i = 0; i < nc.nsvcs; i++) {
		struct svc_conf *c = &nc.svcs[i];
		struct svc *s = sup_find(sup, c->name);

		if (s && s->removed)
			s = NULL; /* removed and added back: a new one */
		if (!s) {
			s = svc_new(sup, c, NULL);
			if (!s) {
				log_error("reload: out of memory for service %s", c->name);
				continue;
			}
			sup->svcs[sup->nsvcs++] = s;
			start[nstart++] = s;
			added++;
			continue;
		}
		if (same_settings(&s->conf, c) && !s->next_conf.name)
			continue;
		changed++;
		config_free_svc(&s->next_conf);
		if (svc_has_process(s) || s->state == ST_BACKOFF) {
			/* The new settings come with the next start, after a stop. */
			s->next_conf = *c;
			memset(c, 0, sizeof(*c));
			restart[nrestart++] = s;
		} else {
			svc_apply_conf(s, c);
			/* Stopped on request it stays; otherwise it starts anew. */
			if (s->state == ST_EXITED || s->state == ST_FAILED)
				start[nstart++] = s;
		}
	}
	sup->conf.grace = nc.grace;
	sup->conf.shutdown_timeout = nc.shutdown_timeout;
	sup->conf.shutdown_delay = nc.shutdown_delay;
	sup->conf.log_format = nc.log_format;
	/* Services that follow the [warden] log_format follow its change at once. */
	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (!s->conf.log_format_set)
			s->conf.log_format = nc.log_format;
	}
	if ((nc.control && (!sup->conf.control || strcmp(nc.control, sup->conf.control) != 0)) ||
	    (!nc.control && sup->conf.control) || nc.control_off != sup->conf.control_off ||
	    nc.has_control_group != sup->conf.has_control_group ||
	    nc.control_gid != sup->conf.control_gid)
		log_error("reload: control and control_group take effect at the next start; "
			  "kept as they were");
	if (!sup->conf.runtime_dir_cli &&
	    ((nc.runtime_dir == NULL) != (sup->conf.runtime_dir == NULL) ||
	     (nc.runtime_dir && strcmp(nc.runtime_dir, sup->conf.runtime_dir) != 0)))
		log_error("reload: runtime_directory takes effect at the next start; kept as it "
			  "was");
	if (strcmp(nc.http, sup->conf.http) != 0)
		log_error("reload: http takes effect at the next start; kept as it was");
	/* Decided once, at start-up; --cgroup is not the file's to change. */
	if (!sup->conf.cgroup_forced && nc.cgroup_off != sup->conf.cgroup_off)
		log_error("reload: cgroup takes effect at the next start; kept as it was");
	config_free(&nc);
	resolve_deps(sup);
	log_info(1, "reloaded %s: %u added, %u changed, %u removed", sup->conf.path, added, changed,
		 removed);
	if (events_on()) {
		struct wd_json *j = event_begin("config.reloaded");

		wd_json_uint(j, "added", added);
		wd_json_uint(j, "changed", changed);
		wd_json_uint(j, "removed", removed);
		event_emit(j);
	}
	/* No pass in between: a removed service is freed by one once it is down. */
	sup->scheduling = true;
	for (i = 0; i < nrestart; i++)
		svc_handle(restart[i], restart[i]->removed ? EV_STOP : EV_RESTART);
	for (i = 0; i < nstart; i++)
		svc_handle(start[i], EV_START);
	sup->scheduling = false;
	free(restart);
	free(start);
	sup_changed(sup);
	return 0;
}

/* --- what the control socket may ask -------------------------------------- */

size_t sup_count(const struct sup *sup)
{
	return sup->nsvcs;
}

struct svc *sup_get(const struct sup *sup, size_t i)
{
	return i < sup->nsvcs ? sup->svcs[i] : NULL;
}

wd_loop *sup_loop(const struct sup *sup)
{
	return sup->loop;
}

bool sup_shutting_down(const struct sup *sup)
{
	return sup_shutting_down_now(sup);
}

void sup_json(const struct sup *sup, struct wd_json *j)
{
	wd_json_int(j, "pid", sup->self);
	wd_json_str(j, "mode", sup_mode_name(sup));
	wd_json_bool(j, "shutting_down", sup_shutting_down_now(sup));
	wd_json_bool(j, "draining", sup->sd.phase == SD_DRAINING);
	if (sup->sd.phase == SD_DRAINING)
		wd_json_uint(j, "drain_left_ms", shutdown_drain_left(sup) / WD_NSEC_PER_MSEC);
	wd_json_uint(j, "uptime_ms", (wd_now() - sup->started) / WD_NSEC_PER_MSEC);
	wd_json_str(j, "config", sup->conf.path);
}

int sup_control(struct sup *sup, enum ctl_verb verb, struct svc *s, char *err, size_t errlen)
{
	bool init = sup->conf.mode != MODE_SUPERVISOR;

	switch (verb) {
	case CTL_STOP:
	case CTL_SHUTDOWN:
		/* In init mode, stopping the command ends warden with it: a stop request. */
		if (verb == CTL_SHUTDOWN || init) {
			shutdown_request(sup, SIGTERM, "control request");
			return 0;
		}
		/* Stopped it stays, whatever its restart policy, until started. */
		svc_handle(s, EV_STOP);
		return 0;
	case CTL_START:
	case CTL_RESTART:
		if (init) {
			snprintf(err, errlen,
				 "init mode runs its command once: warden exits with it");
			return -1;
		}
		/* An operator's start: a fresh start limit and delay. */
		svc_reset_limits(s);
		svc_handle(s, verb == CTL_START ? EV_START : EV_RESTART);
		return 0;
	case CTL_RELOAD:
		if (init) {
			snprintf(err, errlen, "init mode does not reload a config file");
			return -1;
		}
		return reload(sup, err, errlen);
	default:
		snprintf(err, errlen, "not a verb that acts");
		return -1;
	}
}

/* --- start and end -------------------------------------------------------- */

static void dispatch_signal(const struct wd_siginfo *si, void *data)
{
	forward_on_signal(data, si);
}

static void on_signalfd(wd_io *io, uint32_t revents)
{
	(void)revents;
	(void)wd_signalfd_dispatch(io->fd, dispatch_signal, io->data);
}

/*
 * Closes what warden inherited but was not asked to pass on: everything
 * from 3 up but the descriptors a service passes on and the events one.
 */
static void close_inherited(struct sup *sup)
{
	int keep = events_fd(), pass = 0, r;
	size_t i;

	for (i = 0; i < sup->conf.nsvcs; i++)
		if (sup->conf.svcs[i].pass_fds > pass)
			pass = sup->conf.svcs[i].pass_fds;
	r = wd_fd_close_from(3 + pass, &keep, keep >= 3 + pass ? 1 : 0);
	if (r < 0)
		log_errno(r, "cannot close inherited descriptors");
	/* The events descriptor is warden's own, unless it is one of those passed. */
	if (keep >= 3 + pass)
		(void)wd_fd_set_cloexec(keep, true);
}

/* Death signal for warden itself. Returns true when the parent is already gone. */
static bool set_pdeathsig(int sig)
{
	pid_t parent = getppid();

	if (prctl(PR_SET_PDEATHSIG, sig) < 0) {
		log_errno(errno, "cannot set the parent-death signal");
		return false;
	}
	/* The parent died before prctl(): the signal will never come. */
	return getppid() != parent;
}

/*
 * Gives up the controlling terminal so that the command's new session can
 * take it (dumb-init). A session leader that does so gets SIGHUP and
 * SIGCONT with itself as their sender: not the user's, not forwarded.
 */
static void detach_tty(void)
{
	if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCNOTTY) < 0)
		log_info(2, "cannot detach from the terminal: %s", strerror(errno));
}

static void open_control(struct sup *sup, const char *control_path)
{
	char def[108], err[CONFIG_ERR_MAX];
	const char *path = control_path;
	bool by_default = false;

	if (!path && !sup->conf.control_off) {
		if (sup->conf.control) {
			path = sup->conf.control;
		} else if (sup->conf.runtime_dir) {
			/* In every mode: a runtime directory asks for it. */
			snprintf(def, sizeof(def), "%s/control.sock", sup->conf.runtime_dir);
			path = def;
		} else if (sup->conf.mode == MODE_SUPERVISOR) {
			path = control_default_path(def, sizeof(def));
			by_default = true;
		}
	}
	if (!path)
		return;
	if (control_open(sup, path, sup->conf.has_control_group, sup->conf.control_gid, &sup->ctl,
			 err, sizeof(err)) == 0)
		return;
	/* The services run all the same: a PID 1 without a control socket is still one. */
	if (by_default)
		log_error("no control socket: %s (give warden a directory it can write: "
			  "runtime_directory or --runtime-directory; or control = off)",
			  err);
	else
		log_error("no control socket: %s", err);
	if (events_on()) {
		struct wd_json *j = event_begin("control.unavailable");

		wd_json_str(j, "path", path);
		wd_json_str(j, "reason", err);
		event_emit(j);
	}
}

/*
 * warden.started, with the build and what warden finds about its world
 * (diag.c), then a warden.warning for what looks wrong there. Only for
 * those who will read it (events, -v): the probes cost system calls.
 */
static void started_event(struct sup *sup, bool subreaper)
{
	struct wd_json *j;
	struct diag d;

	if (!events_on() && log_verbosity < 1)
		return;
	diag_gather(&d);
	if (events_on()) {
		j = event_begin("warden.started");
		wd_json_str(j, "version", WARDEN_VERSION);
		wd_json_int(j, "pid", sup->self);
		wd_json_bool(j, "pid1", sup->pid1);
		wd_json_bool(j, "subreaper", subreaper);
		wd_json_str(j, "mode", sup_mode_name(sup));
		wd_json_str(j, "config", sup->conf.path);
		wd_json_uint(j, "services", sup->nsvcs);
		if (sup->conf.mode != MODE_SUPERVISOR)
			wd_json_strv(j, "command", sup->svcs[0]->conf.argv);
		else
			wd_json_null(j, "command");
		diag_json(&d, j);
		event_emit(j);
	}
	diag_warn(&d, &sup->conf, sup->pid1, subreaper);
}

/* What supervisor mode needs and init mode does without. */
static int setup_services_env(struct sup *sup)
{
	bool devnull = false;
	size_t i;

	for (i = 0; i < sup->conf.nsvcs; i++)
		devnull |= !sup->conf.svcs[i].inherit_stdio ||
			   sup->conf.svcs[i].ready == READY_EXEC ||
			   sup->conf.svcs[i].health == HEALTH_EXEC;
	if (devnull) {
		sup->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (sup->devnull < 0) {
			log_errno(errno, "cannot open /dev/null");
			return -1;
		}
	}
	/* Init mode's command restarts only by a file's restart =: then where it started. */
	if (sup->conf.mode != MODE_SUPERVISOR && sup->conf.svcs[0].restart != RESTART_NEVER) {
		sup->workdir = getcwd(NULL, 0);
		if (!sup->workdir)
			log_errno(errno, "cannot tell the working directory; a restarted COMMAND "
					 "runs in /");
	}
	if (sup->conf.mode != MODE_SUPERVISOR)
		return 0;
	/* Each service holds a few descriptors: take the hard limit, give services the soft one. */
	if (getrlimit(RLIMIT_NOFILE, &sup->nofile) == 0 &&
	    sup->nofile.rlim_cur < sup->nofile.rlim_max) {
		struct rlimit raised = {sup->nofile.rlim_max, sup->nofile.rlim_max};

		sup->nofile_raised = setrlimit(RLIMIT_NOFILE, &raised) == 0;
	}
	/* Services without a directory of their own run where warden was started. */
	sup->workdir = getcwd(NULL, 0);
	if (!sup->workdir)
		log_errno(errno, "cannot tell the working directory; services without "
				 "directory = run in /");
	return 0;
}

static void teardown(struct sup *sup)
{
	size_t i;

	/* Still open when start-up failed after opening them. */
	if (sup->ctl)
		control_close(sup->ctl);
	http_close(sup->http);

	for (i = 0; sup->svcs && i < sup->nsvcs; i++)
		svc_free(sup->svcs[i]);
	if (sup->svcs != sup->one_ptr)
		free(sup->svcs);
	shutdown_free(sup);
	cgroup_fini(sup);
	if (sup->sig_io.fd >= 0)
		close(sup->sig_io.fd);
	if (sup->devnull >= 0)
		close(sup->devnull);
	free(sup->workdir);
	if (sup->loop)
		wd_loop_fini(sup->loop);
	config_free(&sup->conf);
}

int supervisor_check(const char *path)
{
	char err[CONFIG_ERR_MAX];
	struct config c;

	if (config_load(path, &c, err) < 0) {
		log_error("%s", err);
		return EXIT_WARDEN;
	}
	printf("%s: configuration ok, %zu service%s\n", path, c.nsvcs, c.nsvcs == 1 ? "" : "s");
	config_free(&c);
	return 0;
}

int supervisor_run(struct config *conf, const char *control_path, const sigset_t *orig_mask)
{
	struct sup sup;
	bool orphaned = false, subreaper = false;
	size_t i;
	int r;

	memset(&sup, 0, sizeof(sup));
	sup.conf = *conf;
	memset(conf, 0, sizeof(*conf));
	sup.sig_io.fd = sup.devnull = sup.cg.dir_fd = -1;
	sup.exit_code = EXIT_WARDEN;
	sup.started = wd_now();
	sup.orig_mask = *orig_mask;
	sup.self = getpid();
	sup.pid1 = sup.self == 1;
	close_inherited(&sup);
	if (!sup.pid1) {
		subreaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
		if (!subreaper)
			log_errno(errno, "cannot become a subreaper; orphans will not be reaped");
		else
			log_info(1, "not PID 1, acting as a subreaper");
	}
	if (sup.conf.pdeathsig)
		orphaned = set_pdeathsig(sup.conf.pdeathsig);
	r = wd_loop_init(&sup.loop_storage);
	if (r < 0) {
		log_errno(r, "cannot create the event loop");
		goto out;
	}
	sup.loop = &sup.loop_storage;
	sup.sig_io.fd = wd_signalfd_open(NULL);
	sup.sig_io.events = EPOLLIN;
	sup.sig_io.cb = on_signalfd;
	sup.sig_io.data = &sup;
	if (sup.sig_io.fd < 0 || wd_io_start(sup.loop, &sup.sig_io) < 0) {
		log_errno(sup.sig_io.fd < 0 ? sup.sig_io.fd : -EIO, "cannot read signals");
		goto out;
	}
	if (setup_services_env(&sup) < 0)
		goto out;
	cgroup_setup(&sup);
	if (sup.conf.mode == MODE_SUPERVISOR)
		output_set_std_cap(OUTPUT_CAP_SERVICES);
	output_start(sup.loop);
	r = make_services(&sup);
	if (r < 0) {
		log_error("cannot set up the services: %s", strerror(-r));
		goto out;
	}
	resolve_deps(&sup);
	open_control(&sup, control_path);
	/* Unlike the control socket, probes that cannot be answered are bad config. */
	if (sup.conf.http[0]) {
		char err[CONFIG_ERR_MAX];

		if (http_open(&sup, sup.conf.http, &sup.http, err, sizeof(err)) < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	sup.watch_exec = sup.conf.mode == MODE_SUPERVISOR || sup.nsvcs > 1 || sup.ctl || sup.http ||
			 events_on() || log_verbosity > 0;
	started_event(&sup, subreaper);
	cgroup_started(&sup);
	if (sup.conf.detach_tty)
		detach_tty();

	/* From here on warden must not die: every failure is reported and the loop goes on. */
	sup.exit_code = 0;
	sup.scheduling = true;
	for (i = 0; i < sup.nsvcs; i++)
		svc_handle(sup.svcs[i], EV_START);
	sup.scheduling = false;
	sup_changed(&sup);
	if (orphaned) {
		struct wd_siginfo si = {.signo = sup.conf.pdeathsig};

		forward_on_signal(&sup, &si);
	}
	/* Holding no directory, a PID 1 never keeps a mount busy. */
	if (chdir("/") < 0)
		log_errno(errno, "cannot change directory to /");
	r = wd_loop_run(sup.loop);
	if (r < 0) {
		log_errno(r, "the event loop failed");
		sup.exit_code = EXIT_WARDEN;
	}
	if (sup.ctl)
		control_close(sup.ctl);
	sup.ctl = NULL;
	http_close(sup.http);
	sup.http = NULL;
	capture_final(&sup, sup.conf.grace);
	/* What was dropped is said before the last event, if it can be. */
	output_flush(sup.conf.grace ? sup.conf.grace : WD_NSEC_PER_SEC);
	shutdown_finished(&sup);
out:
	output_finish(sup.conf.grace ? sup.conf.grace : WD_NSEC_PER_SEC);
	r = sup.exit_code;
	teardown(&sup);
	return r;
}
