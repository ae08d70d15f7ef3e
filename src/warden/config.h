/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CONFIG_H
#define WARDEN_CONFIG_H

/*
 * The supervisor's configuration: an INI file, read with inih. [warden] holds
 * global settings; every other section is a service named after it.
 * warden.conf(5) documents every key.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum restart_policy { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum svc_type { SVC_SIMPLE, SVC_ONESHOT };
enum ready_kind { READY_NONE, READY_NOTIFY, READY_FD, READY_EXEC, READY_TCP };
enum log_format { LOG_PREFIX, LOG_JSON, LOG_RAW };

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
	int stop_signal;
	uint64_t stop_timeout;
	bool kill_group;
	enum log_format log_format;
	bool log_format_set; /* its own, not [warden]'s */
	char *fingerprint;   /* every key = value of the section: equal means unchanged */
	/* Keys seen, to refuse duplicates and to tell which were given. */
	uint64_t seen;
};

struct config {
	char *path;
	uint64_t grace;
	enum log_format log_format; /* the default of the services */
	char *control;		    /* the control socket's path; NULL: the default */
	bool has_control_group;
	gid_t control_gid; /* read-only control for this group */
	char *global_fingerprint;
	struct svc_conf *svcs;
	size_t nsvcs;
	uint64_t seen;
};

/* Longest error message config_load() writes. */
#define CONFIG_ERR_MAX 512

/*
 * Reads and validates path. On success returns 0 with *ret filled (the caller
 * frees it with config_free()). On failure returns -1 and a message that
 * names the file, the line and the problem in err; *ret is untouched.
 */
int config_load(const char *path, struct config *ret, char err[static CONFIG_ERR_MAX]);

/* Reads and validates a configuration held in memory (for tests and fuzzing). */
int config_load_string(const char *name, const char *text, struct config *ret,
		       char err[static CONFIG_ERR_MAX]);

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
void strv_free(char **v);
size_t strv_len(char *const *v);

#endif
