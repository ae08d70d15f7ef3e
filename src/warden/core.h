/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CORE_H
#define WARDEN_CORE_H

/*
 * The core that both modes run: a supervisor of services. Init mode is the
 * same core running one essential service, "main", built from the command
 * line (config_init_mode()). Only the files of the core include this
 * header; main.c and control.c see the small interface of supervisor.h.
 *
 *   supervisor.c  the services of a config, their order, reload, start-up
 *   service.c     one service's life: its state table and its actions
 *   spawn.c       how a service's process (or a readiness probe) is started
 *   readiness.c   readiness checks: notify, fd:N, exec:, tcp:
 *   health.c      health checks while a service runs: exec:, tcp:, http://
 *   capture.c     the services' captured stdout and stderr, line by line
 *   forward.c     what a signal received does: stop, reload, forwarded
 *   reap.c        every child that ends is reaped and accounted for
 *   shutdown.c    the shutdown protocol and warden's exit status
 *   tree.c        the processes left below warden, found and signalled
 *   cgroup.c      cgroup v2: each service's cgroup, its end and its limits
 *   metrics.c     the metrics, collected at scrape time (metrics.h)
 *   leak.c        leak watch: a service's tree sampled, a leak restarted
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/json.h>
#include <warden/loop.h>
#include <warden/signals.h>

#include "cgroup.h"
#include "config.h"
#include "ctlproto.h"
#include "metrics.h"
#include "leak.h"
#include "supervisor.h"

/*
 * A service's states. Three of them are "stopping" to the outside world;
 * they differ in what follows the exit, which is part of the state rather
 * than a flag beside it.
 */
enum svc_state {
	ST_STOPPED,    /* stopped: on request (or not started yet) */
	ST_WAITING,    /* waiting: to start once what it is after is ready */
	ST_STARTING,   /* starting: spawned, not yet ready (a oneshot: running) */
	ST_RUNNING,    /* running: ready, or started with ready = none */
	ST_STOPPING,   /* stopping, and stopped once it exits */
	ST_RESTARTING, /* stopping, and started again once it exits */
	ST_ABORTING,   /* stopping a run that was not healthy; its policy decides */
	ST_BACKOFF,    /* backoff: waiting to restart */
	ST_EXITED,     /* exited: ended for good with success; a finished oneshot */
	ST_FAILED,     /* failed: ended for good with failure */
	NSTATES
};

/* What happens to a service: the inputs of its table. */
enum svc_event {
	EV_START,	  /* start it: at start-up, on request, after a restart's stop */
	EV_DEPS_READY,	  /* what it is after is ready now */
	EV_DEP_FAILED,	  /* a service it is after failed for good */
	EV_EXECED,	  /* its process has exec'd the command */
	EV_READY,	  /* the readiness check passed */
	EV_READY_TIMEOUT, /* not ready within ready_timeout */
	EV_WATCHDOG,	  /* no keep-alive within watchdog */
	EV_EXIT,	  /* its process ended (its status is in last_status) */
	EV_STOP,	  /* stop it, and keep it stopped (request, shutdown, removal) */
	EV_RESTART,	  /* stop it, then start it again (request, reload) */
	EV_KILL,	  /* stop_timeout ran out */
	EV_RETRY,	  /* the restart delay is over */
	EV_UNHEALTHY,	  /* health_failures checks in a row failed (on_unhealthy = restart) */
	EV_LEAK,	  /* a leak with on_leak = restart: stop it, then start it again */
	NEVENTS
};

/* A service whose dependencies could not be resolved (no memory): it cannot start. */
#define DEPS_UNKNOWN SIZE_MAX

struct sup;
struct svc;

/* Where a service's health check stands (health.c). */
enum health_phase {
	HP_IDLE,     /* no check: the service does not run, or has none */
	HP_WAITING,  /* the timer is for the next check */
	HP_CHECKING, /* a check runs; the timer is its timeout */
	HP_KILLED,   /* an exec check ran out of time: SIGKILL sent, not reaped yet */
};

/* An http:// check keeps the first bytes of a response (its status line), reads at most the rest.
 */
#define HEALTH_READ_MAX 128
#define HEALTH_RESPONSE_MAX (64 * 1024)

/* A service's health checks: one at a time, every health_interval, while it runs. */
struct health {
	enum svc_health state;
	enum health_phase phase;
	unsigned failures;     /* consecutive, that counted */
	uint64_t failed_total; /* every failed check */
	uint64_t began;	       /* when the current check started */
	wd_timer timer;	       /* the next check, or the current one's timeout */
	wd_io io;	       /* tcp: and http:// checks' socket */
	pid_t pid;	       /* an exec: check's process, until reaped */
	bool connected;	       /* tcp:, http://: the connection is made */
	size_t sent;	       /* http: bytes of the request sent */
	size_t len, read;      /* http: bytes of the response kept in buf, read in all */
	char buf[HEALTH_READ_MAX];
	char reason[96]; /* why the last check failed ("" when it passed) */
};

/* One captured output stream of a service (capture.c). */
struct logstream {
	struct svc *svc;
	int which; /* 1 stdout, 2 stderr */
	wd_io io;  /* fd < 0: closed */
	int w;	   /* the pipe's write end, the service's fd 1 or 2; kept across runs */
	char *buf; /* allocated on first use */
	size_t len;
	bool paused;	  /* warden's output is full: not read meanwhile */
	bool split;	  /* the last line went out in pieces, unended */
	uint64_t dropped; /* lines lost: given up at exit, or no memory */
	uint64_t lines;	  /* lines passed on to warden's output */
};

struct svc {
	struct sup *sup;
	struct svc_conf conf;
	struct svc_conf next_conf; /* a reload's new settings, taken at the next start */
	enum svc_state state;
	pid_t pid;  /* its process, 0 when none */
	pid_t pgid; /* the process group of its last run, 0 when not its own */
	uint64_t spawned_at, ready_at;
	int last_status; /* wait status of the last run */
	bool has_status;
	struct rusage last_rusage;
	int exec_error;			/* errno of the last run's failed start, 0 when it exec'd */
	enum wd_spawn_stage exec_stage; /* where it failed */
	char exec_reason[256];		/* why, in the config's words: key = value: reason */
	wd_io spawn_io;			/* the spawn's report pipe, until the exec is known */
	unsigned restarts;
	uint64_t delay;	  /* the next restart delay */
	uint64_t *starts; /* ring of start times, for start_limit */
	unsigned nstarts, starts_head;
	bool removed; /* gone from the config by a reload: freed once stopped */
	char status_text[256];
	wd_timer timer; /* the one deadline of its state */
	/* readiness */
	wd_io ready_io; /* fd:N pipe, tcp probe socket */
	wd_io notify_io;
	char notify_name[108];
	wd_timer probe_timer;
	pid_t probe_pid;
	/* dependencies, resolved at load and reload */
	struct svc **deps;
	size_t ndeps;
	struct logstream out, err;
	char listen_slot[sizeof("LISTEN_PID=") + WD_PID_DIGITS_MAX]; /* its pid, by the child */
	struct health health;
	struct svc_metrics m;
	struct leak_watch leak;
	struct svc_cgroup cg;
};

/* Where the shutdown protocol stands (shutdown.c). */
enum sd_phase {
	SD_NONE,      /* no shutdown */
	SD_DRAINING,  /* a stop request's shutdown_delay: services keep running, not ready */
	SD_SERVICES,  /* stopping the services, in reverse order of dependency */
	SD_LEFTOVERS, /* every service is down: what is left of the tree */
	SD_WAITING,   /* --wait-all: waiting for the leftovers to end by themselves */
	SD_GRACE,     /* leftovers got SIGTERM: waiting up to the grace period */
	SD_KILLING,   /* SIGKILL sent: waiting for everything to be reaped */
	SD_DONE,
};

struct shutdown {
	enum sd_phase phase;
	const char *reason;
	unsigned requests; /* stop requests received (TERM, INT, QUIT, control) */
	int request_sig;   /* the first one's signal; SIGTERM for control */
	bool escalated;	   /* SIGKILL was needed */
	bool timed_out;	   /* shutdown_timeout ran out */
	bool have_status;
	int status; /* wait status that decides the exit code (an essential's) */
	bool have_failure;
	int failure_status;	    /* of the first service that failed for good */
	unsigned signalled, killed; /* leftovers sent SIGTERM, SIGKILL */
	pid_t *termed;		    /* process groups that got SIGTERM: not again */
	size_t ntermed, captermed;
	uint64_t began;
	wd_timer drain;	   /* shutdown_delay: armed only while it runs */
	wd_timer deadline; /* shutdown_timeout */
	wd_timer grace;	   /* leftovers: SIGTERM to SIGKILL, then the sweeps */
};

struct sup {
	struct config conf;
	struct control *ctl; /* the control socket, or NULL */
	struct http *http;   /* the HTTP endpoint, or NULL */
	struct svc **svcs;
	size_t nsvcs;
	wd_loop *loop;
	wd_loop loop_storage;
	/* Init mode's one service lives here: a run of one command allocates nothing. */
	struct svc one;
	struct svc *one_ptr[1];
	wd_io sig_io;
	sigset_t orig_mask; /* what warden was started with: the services' mask */
	struct rlimit nofile;
	bool nofile_raised;
	pid_t self;
	bool pid1;
	char *workdir; /* where warden started: the services' default directory */
	char notify_prefix[64];
	int devnull;
	bool reaping;	 /* inside reap_all() */
	bool childless;	 /* wait4() said no child is left, and none was made since */
	bool watch_exec; /* someone would see a service become ready: watch each exec */
	bool scheduling; /* inside a scheduling pass */
	bool reschedule; /* another pass is due */
	struct shutdown sd;
	struct cgroups cg;
	uint64_t started;
	int exit_code;
	struct sup_metrics m;
};

/* Stops watching io and closes its descriptor; fine on one that is closed (fd < 0). */
static inline void io_close(wd_io *io)
{
	if (io->fd < 0)
		return;
	wd_io_stop(io);
	close(io->fd);
	io->fd = -1;
}

/* supervisor.c */
void sup_changed(struct sup *sup);
bool sup_shutting_down_now(const struct sup *sup);
struct svc *sup_svc_by_pid(const struct sup *sup, pid_t pid);
const char *sup_mode_name(const struct sup *sup);

/* service.c */
const char *svc_state_name(enum svc_state st);
void svc_handle(struct svc *s, enum svc_event ev);
void svc_handle_sig(struct svc *s, enum svc_event ev, int sig);
void svc_reaped(struct svc *s, const struct wd_exit *e);
bool svc_deps_ready(const struct svc *s);
bool svc_dep_failed(const struct svc *s);
bool svc_has_process(const struct svc *s);
bool svc_done(const struct svc *s); /* stopped, exited or failed: nothing pending */
void svc_reset_limits(struct svc *s);
void svc_apply_conf(struct svc *s, struct svc_conf *c);
int svc_setup(struct svc *s);
void svc_free(struct svc *s);
/* Sends sig to the service's process, or its group when group is set. */
int svc_kill(struct svc *s, int sig, bool group);
/* SIGKILL at the end of a stop: its cgroup (cgroup.kill) when it has one, else as svc_kill(). */
void svc_kill_final(struct svc *s);

/* spawn.c */
int spawn_service(struct svc *s, int *fds, size_t nfds);
int spawn_probe(struct svc *s, char **argv, pid_t *ret_pid);
int spawn_outcome(struct svc *s);
void spawn_close(struct svc *s);

/* readiness.c */
/*
 * A non-blocking TCP connection to host (an address, or localhost) and
 * port, in *ret_fd: returns 1 when it is made already, 0 when it is under
 * way (wait for EPOLLOUT, then SO_ERROR), or -errno (no descriptor).
 */
int probe_connect(const char *host, const char *port, int *ret_fd);
void readiness_start(struct svc *s, int ready_fd);
void readiness_stop(struct svc *s);
bool readiness_probe_reaped(struct sup *sup, pid_t pid, int status);
int readiness_setup(struct svc *s);
void readiness_free(struct svc *s);

/* health.c */
void health_init(struct svc *s); /* once, before anything else of health.c */
/* The service entered (running true) or left its running state. */
void health_running(struct svc *s, bool running);
/* A new run: its health is not known yet. */
void health_reset(struct svc *s);
bool health_probe_reaped(struct sup *sup, pid_t pid, int status);
void health_json(const struct svc *s, struct wd_json *j);
void health_free(struct svc *s);

/* capture.c */
int capture_setup(struct svc *s);
void capture_drain(struct svc *s);
void capture_free(struct svc *s); /* drops what is left: drain first */
void capture_final(struct sup *sup, uint64_t patience);

/* forward.c */
void forward_on_signal(struct sup *sup, const struct wd_siginfo *si);
bool forward_stop(struct svc *s, int received);
/* Passes received on to the leftovers; returns the signal sent (0: none). */
int forward_leftovers(struct sup *sup, int received);

/* reap.c */
void reap_all(struct sup *sup);

/* shutdown.c */
void shutdown_request(struct sup *sup, int sig, const char *reason);
void shutdown_start(struct sup *sup, const char *reason);
void shutdown_services_down(struct sup *sup);
/* How long the shutdown_delay still runs (ns); 0 when not draining. */
uint64_t shutdown_drain_left(const struct sup *sup);
void shutdown_after_reap(struct sup *sup);
void shutdown_essential(struct sup *sup, const struct svc *s, const char *reason);
void shutdown_kill_all(struct sup *sup, const char *why);
void shutdown_note_term(struct sup *sup, pid_t pgid);
void shutdown_note_failure(struct sup *sup, const struct svc *s);
void shutdown_free(struct sup *sup);
/* The last event, once what warden had to write is out (or given up). */
void shutdown_finished(struct sup *sup);

#endif
