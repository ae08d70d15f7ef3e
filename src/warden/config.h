/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CONFIG_H
#define WARDEN_CONFIG_H

/*
 * What warden runs and how: a config file (an INI file, read with inih:
 * [warden] holds global settings, every other section is a service named
 * after it; warden.conf(5) documents every key), or, in init mode, one
 * service "main" built in memory from the command line. Both are the same
 * structures: the core does not know where they came from.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <warden/signals.h>

#include "privilege.h"

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum svc_type { SVC_SIMPLE, SVC_ONESHOT };
enum ready_kind { READY_NONE, READY_NOTIFY, READY_FD, READY_EXEC, READY_TCP };
enum log_format { LOG_PREFIX, LOG_JSON, LOG_RAW };
enum health_kind { HEALTH_NONE, HEALTH_EXEC, HEALTH_TCP, HEALTH_HTTP };
enum on_unhealthy { ON_UNHEALTHY_RESTART, ON_UNHEALTHY_NONE };

/* Where a service's process runs, and what it holds of warden's terminal. */
enum svc_session {
	SESSION_GROUP, /* a process group of its own; the terminal's foreground when
			  warden's group has it */
	SESSION_NEW,   /* a session of its own, taking warden's terminal (dumb-init) */
	SESSION_SAME,  /* warden's own process group (dumb-init --single-child) */
};

/* What happens to the processes left once every service is down. */
enum leftovers {
	LEFTOVERS_TERMINATE, /* SIGTERM, the grace period, SIGKILL (the default) */
	LEFTOVERS_WAIT,	     /* --wait-all: wait for them to end on their own */
	LEFTOVERS_EXIT,	     /* exit at once, after reaping what has already ended
				(tini, dumb-init: their users rely on that timing) */
};

/* How warden was started: what it calls itself, and what its control answers. */
enum run_mode { MODE_SUPERVISOR, MODE_INIT, MODE_TINI, MODE_DUMB_INIT };

/* A duration that never runs out. */
#define TIMEOUT_NONE UINT64_MAX

/*
 * The most descriptors a service can be handed: its fds 0 .. 1023 (the
 * spawn's own limit). fd:N readiness, --preserve-fds and LISTEN_FDS are all
 * checked against it where they are read.
 */
#define CONFIG_FDS_MAX 1024

/* A set of signals 1..64: bit N-1 for signal N. */
typedef uint64_t sigbits;
static inline bool sigbits_has(sigbits b, int sig)
{
	return sig >= 1 && sig <= WD_SIGRTMAX && (b >> (sig - 1)) & 1;
}
static inline sigbits sigbit(int sig)
{
	return UINT64_C(1) << (sig - 1);
}

struct svc_conf {
	char *name;
	int line;    /* of the section header */
	char **argv; /* from command */
	char *directory;
	bool has_user, has_group;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups, with user */
	size_t ngroups;
	char **env; /* KEY=VALUE, added to the inherited environment */
	size_t nenv;
	int umask; /* -1: inherited */
	/* supplementary_groups, capabilities, no_new_privileges, rlimit_*; names as written */
	struct priv_conf priv;
	enum restart_policy restart;
	uint64_t restart_delay, restart_delay_max, restart_reset; /* ns */
	unsigned start_limit;					  /* 0: none */
	uint64_t start_limit_interval;
	bool essential;
	enum svc_type type;
	enum ready_kind ready;
	int ready_fd;	   /* READY_FD */
	char **ready_argv; /* READY_EXEC */
	char *ready_host;  /* READY_TCP */
	char *ready_port;
	uint64_t ready_timeout;
	uint64_t watchdog; /* 0: none */
	char **after;
	size_t nafter;
	int after_line;
	/* Health checks (liveness) while it runs: health.c. */
	enum health_kind health;
	char *health_spec;  /* as written, for events and status */
	char **health_argv; /* HEALTH_EXEC */
	char *health_host;  /* HEALTH_TCP, HEALTH_HTTP */
	char *health_port;
	char *health_request; /* HEALTH_HTTP: the whole request */
	uint64_t health_interval, health_timeout, health_start_period;
	unsigned health_failures; /* consecutive failures that make it unhealthy */
	enum on_unhealthy on_unhealthy;
	int stop_signal;
	uint64_t stop_timeout; /* TIMEOUT_NONE: never SIGKILL */
	bool kill_group;
	enum log_format log_format;
	bool log_format_set; /* its own, not [warden]'s */

	/* Signals warden receives that go on to this service's process. */
	sigbits forward;
	bool forward_group; /* to its whole process group */
	/* A forwarded signal N goes out as rewrite[N]; 0 drops it. */
	unsigned char rewrite[WD_SIGRTMAX + 1];
	/*
	 * A stop request (SIGTERM, SIGINT, SIGQUIT) reaches it as received,
	 * through rewrite, rather than as stop_signal (init mode's command).
	 */
	bool stop_by_forward;

	/* Settings only init mode and its tini and dumb-init forms set today. */
	bool inherit_stdio; /* warden's own 0, 1, 2; else /dev/null and capture pipes */
	enum svc_session session;
	bool reset_signals;    /* every signal disposition back to default */
	int exec_fail_code;    /* exit code of a failed exec; 0: 127 or 126 */
	int pass_fds;	       /* descriptors 3 .. 3+pass_fds-1 are passed on */
	bool listen_pid;       /* set LISTEN_PID to its pid (socket activation) */
	bool exit_is_wardens;  /* warden exits with its status, whatever ended it */
	int exit_group_signal; /* sent to its process group when it exits (0: none) */

	/* Leak watch (leak.c): on when leak_memory or leak_fds is set. */
	uint64_t leak_memory;	       /* bytes of its tree's RSS; 0: not watched */
	uint64_t leak_fds;	       /* open descriptors of its tree; 0: not watched */
	uint64_t leak_interval;	       /* between two samples */
	uint64_t leak_sustain;	       /* how long a breach lasts before it counts */
	unsigned leak_suspect_samples; /* growing samples that make a suspicion; 0: none */
	bool leak_restart;	       /* on_leak = restart */

	/* Resource settings of its cgroup (cgroup.c); 0: not set, UINT64_MAX: max. */
	uint64_t memory_max; /* bytes */
	uint64_t pids_max;
	uint64_t cpu_weight; /* 1 .. 10000 */

	bool borrowed;	   /* name and argv are not its own (init mode's command line) */
	char *fingerprint; /* every key = value of the section: equal means unchanged */
	/* Keys seen, to refuse duplicates and to tell which were given. */
	uint64_t seen;
};

struct config {
	char *path; /* the file, absolute; NULL in init mode */
	enum run_mode mode;
	uint64_t grace;		   /* leftovers: SIGTERM to SIGKILL */
	uint64_t shutdown_timeout; /* the whole shutdown; TIMEOUT_NONE: no bound */
	uint64_t shutdown_delay;   /* a stop request: services keep running this long */
	enum leftovers leftovers;
	bool force_on_second_stop;  /* a second stop request SIGKILLs everything */
	enum log_format log_format; /* the default of the services */
	char *control;		    /* the control socket's path; NULL: the default */
	char *runtime_dir;	    /* runtime_directory: where warden writes; NULL: none */
	bool runtime_dir_cli;	    /* ... given as --runtime-directory, over the file's */
	bool control_off;	    /* control = off */
	bool has_control_group;
	gid_t control_gid;  /* read-only control for this group */
	char http[64];	    /* the HTTP endpoint's ADDR:PORT (http.h); "": none */
	bool cgroup_off;    /* cgroup = off: process groups even where cgroups are writable */
	bool cgroup_forced; /* cgroup_off is --cgroup's, not the file's */
	/* Init mode and its tini and dumb-init forms. */
	bool remap_exit[256];	  /* these final exit codes become 0 */
	int pdeathsig;		  /* warden's own parent-death signal; 0: none */
	bool detach_tty;	  /* give up the controlling terminal first (dumb-init) */
	bool stop_on_tty_signals; /* stop warden after forwarding TSTP, TTIN, TTOU */
	bool warn_reaped;	  /* every reaped orphan said at the default verbosity */
	char *global_fingerprint;
	struct svc_conf *svcs;
	size_t nsvcs;
	bool svcs_static; /* init mode's one service is not allocated */
	uint64_t seen;
};

/*
 * The longest runtime directory, so that its control.sock fits a socket
 * address (108 bytes with the NUL).
 */
#define CONFIG_RUNTIME_DIR_MAX (108 - (int)sizeof("/control.sock"))

/* Is dir a runtime directory: absolute, short enough? */
bool config_runtime_dir_ok(const char *dir);

/* Longest error message config_load() writes. */
#define CONFIG_ERR_MAX 512

/* Fills c with the defaults of supervisor mode (no service). */
void config_defaults(struct config *c);

/*
 * Reads and validates path. On success returns 0 with *ret filled (the caller
 * frees it with config_free()); its path is made absolute, so that a reload
 * finds it whatever the working directory. On failure returns -1 and a
 * message that names the file, the line and the problem in err; *ret is
 * untouched.
 */
int config_load(const char *path, struct config *ret, char err[static CONFIG_ERR_MAX]);

/*
 * Init mode with a file (-c FILE -- COMMAND): the service "main" of
 * config_init_mode() running argv, and the init-mode defaults, with what
 * the [warden] and [main] sections of path set on top. Any other section,
 * or a key that [main] cannot take (command, essential, log_format), is an
 * error naming the file and line. The caller then applies the options given
 * on the command line (they win) and calls config_check_init(). Returns as
 * config_load() does.
 */
int config_load_init(const char *path, char *const *argv, struct config *ret,
		     char err[static CONFIG_ERR_MAX]);

/*
 * Sets s's readiness from v, a value of ready = (--ready). Returns 0, or -1
 * with the reason in err.
 */
int config_set_ready(struct svc_conf *s, const char *v, char err[static CONFIG_ERR_MAX]);

/* Init mode: what only the settings of file and command line together can get wrong. */
int config_check_init(const struct config *c, char err[static CONFIG_ERR_MAX]);

/* Reads and validates a configuration held in memory (for tests and fuzzing). */
int config_load_string(const char *name, const char *text, struct config *ret,
		       char err[static CONFIG_ERR_MAX]);

/*
 * Init mode: c becomes one essential service "main" running argv, with
 * what init mode does by default: warden's stdio, every signal forwarded,
 * no restart, warden's exit status its own. The caller then adjusts it
 * from the command line. Nothing is allocated (warden runs one command
 * once): argv must outlive c. Returns 0.
 */
int config_init_mode(struct config *c, char *const *argv);

void config_free(struct config *c);

/* Frees what one service's settings hold (NULL members are fine). */
void config_free_svc(struct svc_conf *s);

/* Index of the service named name, or -1. */
int config_find(const struct config *c, const char *name);

/*
 * Splits s into words with shell-like quoting: '...', "..." (where \\, \",
 * \$ and \` are escapes) and \ outside quotes. No expansion of any kind.
 * Returns a NULL-terminated malloc'd vector (free with strv_free()), or NULL
 * with a reason in *ret_err.
 */
char **split_words(const char *s, const char **ret_err);

/*
 * Sets s's health check from spec (exec:COMMAND, tcp:HOST:PORT or
 * http://HOST[:PORT][/PATH]). Returns 0, or -1 with the reason in err
 * (what was expected; the caller names the file and line, or the flag).
 */
int config_set_health(struct svc_conf *s, const char *spec, char *err, size_t errlen);
void strv_free(char **v);
size_t strv_len(char *const *v);

#endif
