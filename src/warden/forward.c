/* SPDX-License-Identifier: MIT */
/*
 * What a signal warden receives does, the same in both modes:
 *
 *   SIGCHLD                 reaping (reap.c)
 *   SIGTERM, SIGINT, SIGQUIT a stop request: the shutdown (shutdown.c); a
 *                           second one while stopping forces it
 *   SIGHUP                  reload the config file, unless a service asks
 *                           for SIGHUP to be forwarded to it
 *   any other               forwarded to the services that ask for it
 *                           (forward_signals; init mode's command asks for
 *                           every one), through their rewrite table; once
 *                           every service is down, to what is left of the
 *                           tree; else dropped, and said so
 *
 * A signal warden raised on itself (SIGPIPE for a write to a pipe nobody
 * reads, SIGXFSZ for a write past the file size limit, SIGHUP and SIGCONT
 * for giving up its terminal) is never passed on: the kernel names warden
 * as its sender.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <warden/child.h>

#include "core.h"
#include "log.h"
#include "tree.h"

static bool stop_request(int sig)
{
	return sig == SIGTERM || sig == SIGINT || sig == SIGQUIT;
}

static void dropped(const char *service, int received, const char *why)
{
	char rname[WD_SIGNAME_MAX];

	log_info(service ? 2 : 1, "dropped %s: %s", wd_signal_name(received, rname), why);
	if (events_on()) {
		struct wd_json *j = event_begin("signal.dropped");

		wd_json_str(j, "received", rname);
		if (service)
			wd_json_str(j, "service", service);
		else
			wd_json_null(j, "service");
		wd_json_str(j, "reason", why);
		event_emit(j);
	}
}

static void forwarded(const char *service, int sig, int received, const char *target, pid_t pid)
{
	char rname[WD_SIGNAME_MAX], sname[WD_SIGNAME_MAX];

	log_info(2, "forwarded %s as %s to %s %d", wd_signal_name(received, rname),
		 wd_signal_name(sig, sname), target, (int)pid);
	if (events_on()) {
		struct wd_json *j = event_begin("signal.forwarded");

		wd_json_str(j, "signal", sname);
		wd_json_str(j, "received", rname);
		wd_json_str(j, "target", target);
		wd_json_int(j, "pid", pid);
		if (service)
			wd_json_str(j, "service", service);
		else
			wd_json_null(j, "service");
		event_emit(j);
	}
}

/* Passes received on to s's process (or group), rewritten. Returns true when s takes it. */
static bool forward_to(struct svc *s, int received)
{
	int sig = s->conf.rewrite[received], r;
	bool group = s->conf.forward_group && s->pgid > 0;

	if (sig == 0) {
		dropped(s->conf.name, received, "rewritten to 0");
		return true;
	}
	if (!s->pid)
		return false;
	r = svc_kill(s, sig, group);
	if (r < 0 && r != -ESRCH) {
		char name[WD_SIGNAME_MAX];

		log_errno(r, "cannot forward %s to service %s", wd_signal_name(sig, name),
			  s->conf.name);
	}
	metrics_forwarded(&s->sup->m, sig);
	forwarded(s->conf.name, sig, received, group ? "group" : "process",
		  group ? s->pgid : s->pid);
	return true;
}

bool forward_stop(struct svc *s, int received)
{
	return forward_to(s, received);
}

int forward_leftovers(struct sup *sup, int received)
{
	size_t i;

	/* The rewrite table of the first service that forwards it (init mode: the command's). */
	for (i = 0; i < sup->nsvcs; i++) {
		const struct svc *s = sup->svcs[i];
		int sig = s->conf.rewrite[received];

		if (!sigbits_has(s->conf.forward, received) &&
		    !(s->conf.stop_by_forward && stop_request(received)))
			continue;
		if (sig == 0) {
			dropped(s->conf.name, received, "rewritten to 0");
			return 0;
		}
		(void)tree_signal(sup->self, sup->pid1, sig, NULL, 0, false);
		metrics_forwarded(&sup->m, sig);
		forwarded(NULL, sig, received, "descendants", sup->self);
		return sig;
	}
	return 0;
}

/* Sends received to every service that asks for it. Returns how many took it. */
static unsigned forward_services(struct sup *sup, int received)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		struct svc *s = sup->svcs[i];

		if (sigbits_has(s->conf.forward, received) && forward_to(s, received))
			n++;
	}
	return n;
}

static bool anyone_forwards(const struct sup *sup, int sig)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++)
		if (sigbits_has(sup->svcs[i]->conf.forward, sig))
			return true;
	return false;
}

/*
 * A stop request that init mode's command would get rewritten to 0 is
 * dropped altogether: --rewrite TERM:0 means "ignore SIGTERM".
 */
static bool stop_dropped(struct sup *sup, int sig)
{
	size_t i;

	for (i = 0; i < sup->nsvcs; i++) {
		const struct svc *s = sup->svcs[i];

		if (s->conf.stop_by_forward && s->conf.rewrite[sig] == 0) {
			dropped(s->conf.name, sig, "rewritten to 0");
			return true;
		}
	}
	return false;
}

void forward_on_signal(struct sup *sup, const struct wd_siginfo *si)
{
	char name[WD_SIGNAME_MAX];
	int sig = si->signo;

	if (sig == SIGCHLD) {
		reap_all(sup);
		return;
	}
	if (si->pid == sup->self) {
		log_info(2, "%s raised by warden itself: not passed on", wd_signal_name(sig, name));
		return;
	}
	if (stop_request(sig)) {
		if (!stop_dropped(sup, sig))
			shutdown_request(sup, sig, wd_signal_name(sig, name));
		return;
	}
	if (sig == SIGHUP && sup->conf.mode == MODE_SUPERVISOR && !anyone_forwards(sup, SIGHUP)) {
		if (sup->sd.phase == SD_NONE) {
			char err[CONFIG_ERR_MAX];

			(void)sup_control(sup, CTL_RELOAD, NULL, err, sizeof(err));
		} else {
			log_info(1, "SIGHUP during the shutdown: no reload");
		}
		return;
	}
	if (forward_services(sup, sig) == 0) {
		if (sup->sd.phase >= SD_LEFTOVERS && forward_leftovers(sup, sig))
			return;
		dropped(NULL, sig,
			anyone_forwards(sup, sig) ? "no service that forwards it is running"
						  : "no service forwards it");
		return;
	}
	/*
	 * dumb-init's job control: once the command has been told to stop,
	 * warden stops too; SIGCONT resumes it and is then forwarded. As PID 1
	 * the kernel ignores a SIGSTOP to itself, and raising one would still
	 * discard a SIGCONT already queued: not as PID 1, then.
	 */
	if (sup->conf.stop_on_tty_signals && sup->sd.phase < SD_LEFTOVERS && !sup->pid1 &&
	    (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU))
		(void)raise(SIGSTOP);
}
