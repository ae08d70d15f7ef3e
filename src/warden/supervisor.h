/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_SUPERVISOR_H
#define WARDEN_SUPERVISOR_H

/*
 * The supervisor, as main.c and the control socket see it: run a config to
 * the end, and a small interface to ask about services and act on them.
 * What is inside is the core's (core.h).
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <warden/json.h>
#include <warden/loop.h>

#include "ctlproto.h"

struct config;
struct sup;
struct svc;

/* Exit codes of warden itself, besides the status it passes on. */
#define EXIT_WARDEN 125	   /* a bad command line or config, or warden failed: nothing ran */
#define EXIT_ESCALATED 124 /* a requested shutdown needed SIGKILL, or ran out of time */

/*
 * Runs conf to the end: starts its services, supervises them, shuts down.
 * Takes conf over. Signals must already be blocked, with the mask from
 * before in *orig_mask. control_path (--control) overrides the config's.
 * Returns warden's exit code.
 */
int supervisor_run(struct config *conf, const char *control_path, const sigset_t *orig_mask);

/* Validates a config file (--check). Returns the exit code. */
int supervisor_check(const char *path);

/* --- for the control socket ------------------------------------------------ */

size_t sup_count(const struct sup *sup);
struct svc *sup_get(const struct sup *sup, size_t i);
struct svc *sup_find(const struct sup *sup, const char *name);
wd_loop *sup_loop(const struct sup *sup);
bool sup_shutting_down(const struct sup *sup);

/* warden's own state, as members of an open JSON object (for dump). */
void sup_json(const struct sup *sup, struct wd_json *j);

/*
 * Acts on a request: start, stop or restart service s; reload; shutdown.
 * Returns 0, or -1 with the reason in err when warden cannot do it (init
 * mode runs its command once; a config that does not load).
 */
int sup_control(struct sup *sup, enum ctl_verb verb, struct svc *s, char *err, size_t errlen);

const char *svc_name(const struct svc *s);
pid_t svc_pid(const struct svc *s);

/* The service's state, as members of an open JSON object; dump adds its settings. */
void svc_json(const struct svc *s, struct wd_json *j, bool dump);

/* Ready: running, or a oneshot that finished with success. */
bool svc_is_ready(const struct svc *s);
/* Ended for good, or stopped, with nothing pending. */
bool svc_has_ended(const struct svc *s);
/* Ended for good with failure. */
bool svc_is_failed(const struct svc *s);
/* Essential: warden ends when it ends for good. */
bool svc_is_essential(const struct svc *s);
/* The name of its state, as status shows it ("running", "backoff", ...). */
const char *svc_state_text(const struct svc *s);
/* How its last run ended ("exited with status 1") into buf, or NULL before any did. */
const char *svc_last_exit(const struct svc *s, char *buf, size_t size);

/* A service's health, as its checks (health = ...) found it. */
enum svc_health {
	SVC_HEALTH_NONE,      /* no health check configured */
	SVC_HEALTH_STARTING,  /* no verdict yet in this run */
	SVC_HEALTH_HEALTHY,   /* its last check passed */
	SVC_HEALTH_UNHEALTHY, /* health_failures checks in a row failed */
};
enum svc_health svc_health(const struct svc *s);
/* "starting", "healthy", "unhealthy"; NULL for SVC_HEALTH_NONE. */
const char *svc_health_name(enum svc_health h);
/* Unhealthy past its threshold (health_failures consecutive failures). */
bool svc_is_unhealthy(const struct svc *s);
/* Why its last check failed; NULL once one passed, or before any failed. */
const char *svc_health_reason(const struct svc *s);
/* Health checks of the service that failed, over warden's life. */
uint64_t svc_health_failed_total(const struct svc *s);

#endif
