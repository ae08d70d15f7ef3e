/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CGROUP_H
#define WARDEN_CGROUP_H

/*
 * Race-free tree control with cgroup v2 (cgroup.c). When warden can write
 * its own cgroup, it moves itself into a leaf, warden.scope, and starts
 * each service in a cgroup of its own, NAME.service, beside it: the
 * service's tree is gone when its cgroup.events says "populated 0"
 * (watched in the loop), and cgroup.kill is the final kill, which no
 * double fork or setsid() escapes. Where it cannot (no cgroup2 at
 * /sys/fs/cgroup, read-only, [warden] cgroup = off), process groups, the
 * subreaper and /proc do it as before. Only the files of the core include
 * this header.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <warden/child.h>
#include <warden/loop.h>

struct sup;
struct svc;
struct tree_usage;

/* The controllers warden can use for the services' settings. */
enum {
	CG_MEMORY = 1 << 0, /* memory_max; memory.current */
	CG_PIDS = 1 << 1,   /* pids_max; pids.current */
	CG_CPU = 1 << 2,    /* cpu_weight */
};

/* What warden found at start-up, and the cgroup the services' cgroups go in. */
struct cgroups {
	bool on;	   /* cgroup mode; else process-group mode */
	int dir_fd;	   /* warden's cgroup before it moved to warden.scope; -1 */
	unsigned controls; /* CG_*: enabled for the services */
	char path[256];	   /* dir_fd's path, under /sys/fs/cgroup */
	char reason[400];  /* why this mode */
};

/* A service's cgroup, NAME.service. */
struct svc_cgroup {
	int fd;		     /* its directory; -1: none (yet) */
	wd_io events;	     /* its cgroup.events, watched for EPOLLPRI */
	bool populated;	     /* as cgroup.events said last */
	bool holding;	     /* its process was reaped; the exit waits for "populated 0" */
	bool reported;	     /* what its settings cannot get was said */
	struct wd_exit held; /* the held exit */
};

/* Before any service starts: decides the mode (conf's cgroup =) and moves warden to its leaf. */
void cgroup_setup(struct sup *sup);
/* The cgroup.mode event, once, after warden.started. */
void cgroup_started(struct sup *sup);
/* Closes what cgroup_setup() opened (the services' cgroups are cgroup_svc_free()'s). */
void cgroup_fini(struct sup *sup);

/* What svc_new() sets before anything else of cgroup.c runs for s. */
void cgroup_svc_init(struct svc *s);
/*
 * Before a run of s: its cgroup made (once) and watched, its resource
 * settings written; settings that cannot be applied are said (event
 * cgroup.unsupported, a log line) once per configuration. Returns the
 * cgroup's directory descriptor to start the run in, or -1: no cgroup
 * (process-group mode, or it could not be made, which is said).
 */
int cgroup_svc_prepare(struct svc *s);
/* The settings of s changed (a reload): what cannot be applied is said again. */
void cgroup_svc_conf_changed(struct svc *s);
/*
 * s's process was reaped (e) while it was being stopped, and other
 * processes of its cgroup still run: they get its stop signal, and the
 * exit waits for "populated 0" (or the stop timeout's cgroup.kill).
 * Returns true when held (svc_reaped() is called again with e then).
 */
bool cgroup_svc_hold(struct svc *s, const struct wd_exit *e);
/* True while an exit is held (s's process is reaped: its pid is not to be signalled). */
bool cgroup_svc_holding(const struct svc *s);
/* Sends sig to every process of s's cgroup. Returns how many got it, or -errno (none). */
int cgroup_svc_signal(struct svc *s, int sig);
/* cgroup.kill: SIGKILL to the whole of s's cgroup. Returns 0 or -errno (-ENOENT: none). */
int cgroup_svc_kill(struct svc *s);
/* cgroup.kill for every service's cgroup (the final kill of a shutdown). */
void cgroup_kill_all(struct sup *sup);
/*
 * What s's tree uses, from its cgroup: processes (pids.current or
 * cgroup.procs), memory (memory.current, when that controller is on) and
 * CPU (cpu.stat's usage_usec, every process the cgroup ever had) replace
 * /proc's figures in u. Returns 0, or -ENOENT when s has no cgroup.
 */
int cgroup_svc_usage(const struct svc *s, struct tree_usage *u);
/* Stops watching s's cgroup and removes it (when it is empty). */
void cgroup_svc_free(struct svc *s);

#endif
