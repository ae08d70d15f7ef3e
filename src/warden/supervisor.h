/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_SUPERVISOR_H
#define WARDEN_SUPERVISOR_H

/*
 * Supervisor mode: several services from one config file, as PID 1 or as a
 * subreaper. Each service is a state machine (see the table in service.c
 * and warden.conf(5)); the supervisor starts them in dependency order,
 * restarts them by their policy, captures their output, and shuts them all
 * down in reverse order.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include <warden/loop.h>

#include "config.h"
#include "ctlproto.h"
#include "output.h"

/* Exit codes of supervisor mode, besides a service's own status. */
#define EXIT_CONFIG 125	   /* the config is invalid: nothing was started */
#define EXIT_ESCALATED 124 /* a requested shutdown had to use SIGKILL */

enum svc_state {
	ST_STOPPED,  /* never started, or stopped on request */
	ST_STARTING, /* spawned, not yet ready */
	ST_RUNNING,  /* ready (or started, with ready = none) */
	ST_STOPPING, /* told to stop; waiting for it to exit */
	ST_BACKOFF,  /* waiting to restart */
	ST_EXITED,   /* ended for good with success; a finished oneshot */
	ST_FAILED,   /* ended for good with failure, or start limit reached */
	NSTATES
};

enum svc_event {
	EV_START,	  /* start it (at start-up, by dependency, on request) */
	EV_READY,	  /* the readiness check passed */
	EV_EXIT,	  /* the main process ended (or could not be executed) */
	EV_READY_TIMEOUT, /* not ready within ready_timeout */
	EV_WATCHDOG,	  /* no keep-alive within watchdog */
	EV_STOP,	  /* stop it (shutdown, reload, on request) */
	EV_KILL,	  /* stop_timeout passed: SIGKILL */
	EV_RETRY,	  /* the restart delay passed */
	EV_DEP_FAILED,	  /* a service it is after failed for good */
	NEVENTS
};

struct sup;

struct logstream {
	struct svc *svc;
	int which; /* 1 stdout, 2 stderr */
	wd_io io;  /* fd < 0: closed */
	char *buf; /* allocated on first use, LOG_LINE_MAX bytes */
	size_t len;
	bool paused;
	bool split; /* the last line went out in 64 KiB pieces, unended */
};

struct svc {
	struct sup *sup;
	struct svc_conf conf;
	struct svc_conf next_conf; /* a reload's new config, applied at restart */
	bool has_next_conf;
	enum svc_state state;
	pid_t pid; /* the main process, 0 when none */
	uint64_t spawned_at, ready_at;
	int last_status; /* wait status of the last run */
	bool has_status;
	bool failed_run; /* the last run counts as a failure (ready timeout, watchdog) */
	unsigned restarts;
	uint64_t delay;	  /* the next restart delay */
	uint64_t *starts; /* ring of start times, for start_limit */
	unsigned nstarts, starts_head;
	bool want_start;     /* start once its dependencies are ready */
	bool stop_requested; /* stopped on request: no restart */
	bool restart_after_stop;
	bool remove_after_stop;
	bool escalated;	   /* had to SIGKILL it */
	bool exit_pending; /* exited; its transition runs after the reaping pass */
	char status_text[256];
	wd_timer timer; /* the one deadline of its state */
	/* readiness */
	wd_io ready_io; /* fd:N pipe, tcp probe socket, notify socket */
	wd_io notify_io;
	char notify_name[108];
	wd_timer probe_timer;
	pid_t probe_pid;
	/* dependencies, resolved at load and reload */
	struct svc **deps;
	size_t ndeps;
	struct logstream out, err;
	int out_w, err_w; /* the pipes' write ends, kept across runs */
};

struct control;

/*
 * Init mode answers the control socket as a supervisor of one service,
 * "main", whose acts are its own: these hooks take the verbs that change
 * things. Returns 0, or -1 with a message in err.
 */
struct sup_hooks {
	int (*act)(void *data, enum ctl_verb verb, char *err, size_t errlen);
	void *data;
};

struct sup {
	struct config conf;
	struct control *ctl;	       /* the control socket, or NULL */
	const struct sup_hooks *hooks; /* init mode; NULL in supervisor mode */
	struct svc **svcs;
	size_t nsvcs;
	wd_loop *loop;
	wd_io sig_io;
	struct outq qout, qerr, *qshared;
	sigset_t orig_mask;
	struct rlimit nofile;
	bool nofile_raised;
	pid_t self;
	bool pid1, proc_ok;
	char notify_prefix[64];
	int devnull;
	/* shutdown */
	bool shutting_down, leftovers_phase, killing, done;
	const char *shutdown_reason;
	bool escalated;
	bool requested; /* the shutdown was asked for (SIGTERM, SIGINT) */
	bool have_exit_status;
	int exit_status;   /* wait status that decides the exit code */
	int first_failure; /* index+1 of the first service failed for good */
	int first_failure_status;
	uint64_t grace_deadline;
	wd_timer grace_timer;
	wd_timer leftover_timer;
	uint64_t started;
	int exit_code;
};

/*
 * Runs the services of the config file, with the control socket at
 * control_path (NULL: the config's, or the default). Returns warden's exit
 * code.
 */
int supervisor_run(const char *path, const char *control_path, const sigset_t *orig_mask);

/* Validates a config file (--check). Returns the exit code. */
int supervisor_check(const char *path);

/* service.c */
const char *svc_state_name(enum svc_state s);
void svc_handle(struct svc *s, enum svc_event ev);
void svc_exited(struct svc *s, int status);
void svc_notify_readable(wd_io *io, uint32_t revents);
void svc_close_readiness(struct svc *s);
bool svc_deps_ready(const struct svc *s);
bool svc_active(const struct svc *s);
void svc_free(struct svc *s);
int svc_setup(struct sup *sup, struct svc *s);
bool svc_probe_exited(struct sup *sup, pid_t pid, int status);

/* supervisor.c, for control.c */
void sup_control_service(struct sup *sup, struct svc *s, enum ctl_verb verb);
int sup_reload(struct sup *sup, char *err, size_t errlen);
void sup_request_shutdown(struct sup *sup, const char *reason);

/* supervisor.c, for service.c */
void sup_changed(struct sup *sup);
void sup_log_line(struct svc *s, int which, const char *line, size_t n);
void logstream_readable(wd_io *io, uint32_t revents);

#endif
