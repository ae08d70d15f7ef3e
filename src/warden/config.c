/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/signals.h>

#include "config.h"
#include "httpparse.h"

/* Bounds on what a user controls. */
#define MAX_HEALTH_PATH 1024 /* an http:// check's path, so that its request stays small */
#define MAX_SERVICES 4096
#define MAX_LINE 65536
#define MAX_NAME 48 /* inih keeps section names up to 50 bytes */
#define MAX_FILE (4 << 20)

enum svc_key {
	K_COMMAND,
	K_DIRECTORY,
	K_USER,
	K_GROUP,
	K_ENVIRONMENT,
	K_UMASK,
	K_RESTART,
	K_RESTART_DELAY,
	K_RESTART_DELAY_MAX,
	K_RESTART_RESET,
	K_START_LIMIT,
	K_START_LIMIT_INTERVAL,
	K_ESSENTIAL,
	K_TYPE,
	K_READY,
	K_READY_TIMEOUT,
	K_WATCHDOG,
	K_AFTER,
	K_STOP_SIGNAL,
	K_STOP_TIMEOUT,
	K_KILL_GROUP,
	K_LOG_FORMAT,
	K_FORWARD_SIGNALS,
	K_HEALTH,
	K_HEALTH_INTERVAL,
	K_HEALTH_TIMEOUT,
	K_HEALTH_FAILURES,
	K_HEALTH_START_PERIOD,
	K_ON_UNHEALTHY,
	K_LEAK_MEMORY,
	K_LEAK_FDS,
	K_LEAK_INTERVAL,
	K_LEAK_SUSTAIN,
	K_LEAK_SUSPECT_SAMPLES,
	K_ON_LEAK,
	K_MEMORY_MAX,
	K_PIDS_MAX,
	K_CPU_WEIGHT,
	K_SUPPLEMENTARY_GROUPS,
	K_NO_NEW_PRIVILEGES,
	K_CAPABILITIES,
	NSVCKEYS
};

/* A service's keys are bits of its 64-bit seen mask (rlimit_* are kept apart). */
_Static_assert(NSVCKEYS <= 64, "every service key has a bit in svc_conf.seen");

static const char *const svc_keys[NSVCKEYS] = {
	[K_COMMAND] = "command",
	[K_DIRECTORY] = "directory",
	[K_USER] = "user",
	[K_GROUP] = "group",
	[K_ENVIRONMENT] = "environment",
	[K_UMASK] = "umask",
	[K_RESTART] = "restart",
	[K_RESTART_DELAY] = "restart_delay",
	[K_RESTART_DELAY_MAX] = "restart_delay_max",
	[K_RESTART_RESET] = "restart_reset",
	[K_START_LIMIT] = "start_limit",
	[K_START_LIMIT_INTERVAL] = "start_limit_interval",
	[K_ESSENTIAL] = "essential",
	[K_TYPE] = "type",
	[K_READY] = "ready",
	[K_READY_TIMEOUT] = "ready_timeout",
	[K_WATCHDOG] = "watchdog",
	[K_AFTER] = "after",
	[K_STOP_SIGNAL] = "stop_signal",
	[K_STOP_TIMEOUT] = "stop_timeout",
	[K_KILL_GROUP] = "kill_group",
	[K_LOG_FORMAT] = "log_format",
	[K_FORWARD_SIGNALS] = "forward_signals",
	[K_HEALTH] = "health",
	[K_HEALTH_INTERVAL] = "health_interval",
	[K_HEALTH_TIMEOUT] = "health_timeout",
	[K_HEALTH_FAILURES] = "health_failures",
	[K_HEALTH_START_PERIOD] = "health_start_period",
	[K_ON_UNHEALTHY] = "on_unhealthy",
	[K_LEAK_MEMORY] = "leak_memory",
	[K_LEAK_FDS] = "leak_fds",
	[K_LEAK_INTERVAL] = "leak_interval",
	[K_LEAK_SUSTAIN] = "leak_sustain",
	[K_LEAK_SUSPECT_SAMPLES] = "leak_suspect_samples",
	[K_ON_LEAK] = "on_leak",
	[K_MEMORY_MAX] = "memory_max",
	[K_PIDS_MAX] = "pids_max",
	[K_CPU_WEIGHT] = "cpu_weight",
	[K_SUPPLEMENTARY_GROUPS] = "supplementary_groups",
	[K_NO_NEW_PRIVILEGES] = "no_new_privileges",
	[K_CAPABILITIES] = "capabilities",
};

enum global_key {
	G_GRACE,
	G_SHUTDOWN_TIMEOUT,
	G_LOG_FORMAT,
	G_CONTROL,
	G_CONTROL_GROUP,
	G_SHUTDOWN_DELAY,
	G_HTTP,
	G_CGROUP,
	G_RUNTIME_DIRECTORY,
	NGLOBALKEYS
};

_Static_assert(NGLOBALKEYS <= 64, "the [warden] keys fit in config.seen");

static const char *const global_keys[NGLOBALKEYS] = {
	[G_GRACE] = "grace",
	[G_SHUTDOWN_TIMEOUT] = "shutdown_timeout",
	[G_LOG_FORMAT] = "log_format",
	[G_CONTROL] = "control",
	[G_CONTROL_GROUP] = "control_group",
	[G_SHUTDOWN_DELAY] = "shutdown_delay",
	[G_HTTP] = "http",
	[G_CGROUP] = "cgroup",
	[G_RUNTIME_DIRECTORY] = "runtime_directory",
};

/* The state of one parse. */
struct parse {
	struct config *c;
	const char *file;
	const char *text; /* what is left to read */
	int line;	  /* the line inih is handling */
	bool failed;
	char *err;
	int cur;   /* the current service, or -1 for [warden] */
	bool init; /* init mode's file: [warden] and [main], main's command from the command line */
	int main_line; /* init: the [main] header seen, 0: none yet */
};

static void fail(struct parse *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first error, with the file and line. */
static void fail(struct parse *p, int line, const char *fmt, ...)
{
	char msg[CONFIG_ERR_MAX - 64];
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(p->err, CONFIG_ERR_MAX, "%s:%d: %s", p->file, line, msg);
	else
		snprintf(p->err, CONFIG_ERR_MAX, "%s: %s", p->file, msg);
}

void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

size_t strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* Appends a copy of s to the vector *v of *n entries, NULL-terminated. */
static int strv_push(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv = realloc(*v, (*n + 2) * sizeof(**v));
	char *copy;

	if (!nv)
		return -ENOMEM;
	*v = nv;
	copy = strndup(s, len);
	if (!copy)
		return -ENOMEM;
	nv[(*n)++] = copy;
	nv[*n] = NULL;
	return 0;
}

char **split_words(const char *s, const char **ret_err)
{
	char **v = NULL, *word;
	size_t n = 0, len = strlen(s), w;
	const char *p = s;

	word = malloc(len + 1);
	if (!word) {
		*ret_err = "out of memory";
		return NULL;
	}
	for (;;) {
		bool have = false;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		w = 0;
		while (*p && *p != ' ' && *p != '\t') {
			have = true;
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');

				if (!end) {
					*ret_err = "unterminated single quote";
					goto fail;
				}
				memcpy(word + w, p + 1, (size_t)(end - p - 1));
				w += (size_t)(end - p - 1);
				p = end + 1;
			} else if (*p == '"') {
				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && p[1] && strchr("\\\"$`", p[1]))
						p++;
					word[w++] = *p;
				}
				if (*p != '"') {
					*ret_err = "unterminated double quote";
					goto fail;
				}
				p++;
			} else if (*p == '\\') {
				if (!p[1]) {
					*ret_err = "backslash at the end";
					goto fail;
				}
				word[w++] = p[1];
				p += 2;
			} else {
				word[w++] = *p++;
			}
		}
		if (have && strv_push(&v, &n, word, w) < 0) {
			*ret_err = "out of memory";
			goto fail;
		}
	}
	free(word);
	if (!v) {
		v = calloc(1, sizeof(*v));
		if (!v)
			*ret_err = "out of memory";
	}
	return v;
fail:
	free(word);
	strv_free(v);
	return NULL;
}

/* Edit distance, for "did you mean". Short strings only. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0], tmp;

		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The key closest to name, if close enough to be a typo; or NULL. */
static const char *closest(const char *name, const char *const *keys, size_t n)
{
	size_t i, best = SIZE_MAX, d;
	const char *found = NULL;

	for (i = 0; i < n; i++) {
		d = distance(name, keys[i]);
		if (d < best) {
			best = d;
			found = keys[i];
		}
	}
	return best <= 2 || (found && best <= strlen(found) / 3) ? found : NULL;
}

static int find_key(const char *name, const char *const *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(name, keys[i]) == 0)
			return (int)i;
	return -1;
}

static int parse_bool(const char *v, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int parse_log_format(const char *v, enum log_format *ret)
{
	if (strcmp(v, "prefix") == 0)
		*ret = LOG_PREFIX;
	else if (strcmp(v, "json") == 0)
		*ret = LOG_JSON;
	else if (strcmp(v, "raw") == 0)
		*ret = LOG_RAW;
	else
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *v, unsigned long max, int base, unsigned long *ret)
{
	char *end;
	unsigned long n;

	if (!*v || *v == '-' || *v == '+' || *v == ' ')
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, base);
	if (errno || *end || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	/* A leading '-' would read as an option of warden ctl. */
	return n > 0 && n <= MAX_NAME && s[0] != '-';
}

/*
 * Looks name up in a colon-separated database (/etc/passwd or /etc/group).
 * Fills fields[0..nf) of the first line whose first field is name, or
 * whose third field is name when name is numeric. Returns 0, -ENOENT or -errno;
 * the fields are "" when the file cannot be read.
 */
static int db_lookup(const char *path, const char *name, char *line, size_t size, char **fields,
		     int nf)
{
	FILE *f;
	int r = -ENOENT, i;

	for (i = 0; i < nf; i++)
		fields[i] = (char *)"";
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, (int)size, f)) {
		char *s = line, *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		for (i = 0; i < nf; i++)
			fields[i] = (char *)"";
		for (i = 0; i < nf; i++) {
			fields[i] = s;
			s = strchr(s, ':');
			if (!s) {
				i++;
				break;
			}
			*s++ = '\0';
		}
		if (i < 3)
			continue;
		if (strcmp(fields[0], name) == 0 || strcmp(fields[2], name) == 0) {
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

static const char *passwd_path(void)
{
	const char *p = getenv("WARDEN_PASSWD");

	return p ? p : "/etc/passwd";
}

static const char *group_path(void)
{
	const char *p = getenv("WARDEN_GROUP");

	return p ? p : "/etc/group";
}

/* Is user a member listed in the comma-separated list? */
static bool listed(const char *list, const char *user)
{
	size_t n = strlen(user);

	while (*list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == n && strncmp(list, user, n) == 0)
			return true;
		if (!end)
			break;
		list = end + 1;
	}
	return false;
}

/* The primary gid and every group that lists user as a member. */
static int supplementary_groups(const char *user, gid_t primary, gid_t **ret, size_t *ret_n)
{
	char line[4096];
	gid_t *g = malloc(sizeof(*g)), *ng;
	size_t n = 0;
	FILE *f;

	if (!g)
		return -ENOMEM;
	g[n++] = primary;
	f = fopen(group_path(), "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *fields[4], *s = line, *nl = strchr(line, '\n');
			unsigned long gid;
			int i;

			if (nl)
				*nl = '\0';
			for (i = 0; i < 4 && s; i++) {
				fields[i] = s;
				s = strchr(s, ':');
				if (s)
					*s++ = '\0';
			}
			if (i < 4 || parse_uint(fields[2], UINT_MAX, 10, &gid) < 0 ||
			    !listed(fields[3], user) || gid == primary)
				continue;
			if (n >= 256)
				break;
			ng = realloc(g, (n + 1) * sizeof(*g));
			if (!ng) {
				fclose(f);
				free(g);
				return -ENOMEM;
			}
			g = ng;
			g[n++] = (gid_t)gid;
		}
		fclose(f);
	}
	*ret = g;
	*ret_n = n;
	return 0;
}

static void set_user(struct parse *p, struct svc_conf *s, const char *v)
{
	char line[4096], *fields[7] = {0};
	unsigned long id;
	int r;

	r = db_lookup(passwd_path(), v, line, sizeof(line), fields, 7);
	if (r == 0) {
		unsigned long gid;

		if (parse_uint(fields[2], UINT_MAX, 10, &id) < 0 ||
		    parse_uint(fields[3], UINT_MAX, 10, &gid) < 0) {
			fail(p, p->line, "user '%s' has a malformed entry in %s", v, passwd_path());
			return;
		}
		s->uid = (uid_t)id;
		if (!s->has_group)
			s->gid = (gid_t)gid;
		free(s->groups);
		s->groups = NULL;
		if (supplementary_groups(fields[0], (gid_t)gid, &s->groups, &s->ngroups) < 0)
			fail(p, p->line, "out of memory");
	} else if (parse_uint(v, UINT_MAX - 1, 10, &id) == 0) {
		/* A bare uid unknown to passwd: its group is the same number. */
		s->uid = (uid_t)id;
		if (!s->has_group)
			s->gid = (gid_t)id;
	} else {
		fail(p, p->line, "unknown user '%s' (not in %s)", v, passwd_path());
		return;
	}
	s->has_user = true;
	priv_keep_text(s->priv.user, v);
}

static void set_group(struct parse *p, struct svc_conf *s, const char *v)
{
	char line[4096], *fields[4] = {0};
	unsigned long id;

	if (db_lookup(group_path(), v, line, sizeof(line), fields, 4) == 0) {
		if (parse_uint(fields[2], UINT_MAX, 10, &id) < 0) {
			fail(p, p->line, "group '%s' has a malformed entry in %s", v, group_path());
			return;
		}
	} else if (parse_uint(v, UINT_MAX - 1, 10, &id) < 0) {
		fail(p, p->line, "unknown group '%s' (not in %s)", v, group_path());
		return;
	}
	s->gid = (gid_t)id;
	s->has_group = true;
	priv_keep_text(s->priv.group, v);
}

/*
 * supplementary_groups = NAME...: exactly these groups (names or numbers),
 * in place of the ones the user's entry in the group file gives.
 */
static void set_supplementary(struct parse *p, struct svc_conf *s, const char *v)
{
	char line[4096], *fields[4] = {0};
	const char *err = NULL;
	char **words = split_words(v, &err);
	unsigned long id;
	size_t i;

	if (!words) {
		fail(p, p->line, "invalid supplementary_groups: %s", err);
		return;
	}
	for (i = 0; words[i]; i++) {
		if (i >= PRIV_GROUPS_MAX) {
			fail(p, p->line, "too many supplementary_groups (at most %d)",
			     PRIV_GROUPS_MAX);
			break;
		}
		if (db_lookup(group_path(), words[i], line, sizeof(line), fields, 4) == 0) {
			if (parse_uint(fields[2], UINT_MAX, 10, &id) < 0) {
				fail(p, p->line, "group '%s' has a malformed entry in %s", words[i],
				     group_path());
				break;
			}
		} else if (parse_uint(words[i], UINT_MAX - 1, 10, &id) < 0) {
			fail(p, p->line, "unknown group '%s' in supplementary_groups (not in %s)",
			     words[i], group_path());
			break;
		}
		s->priv.supp_gids[i] = (gid_t)id;
	}
	s->priv.nsupp = i;
	s->priv.has_supp = true;
	priv_keep_text(s->priv.supp, v);
	strv_free(words);
}

static void set_duration(struct parse *p, const char *key, const char *v, uint64_t *ret)
{
	if (wd_duration_parse(v, ret) < 0)
		fail(p, p->line, "invalid duration '%s' for %s (expected e.g. 500ms, 10s, 2m)", v,
		     key);
}

static void svc_defaults(struct svc_conf *s, enum log_format lf)
{
	int sig;

	s->umask = -1;
	s->restart = RESTART_ON_FAILURE;
	s->restart_delay = 100 * WD_NSEC_PER_MSEC;
	s->restart_delay_max = 30 * WD_NSEC_PER_SEC;
	s->restart_reset = 60 * WD_NSEC_PER_SEC;
	s->type = SVC_SIMPLE;
	s->ready = READY_NONE;
	s->ready_fd = -1;
	s->ready_timeout = 60 * WD_NSEC_PER_SEC;
	s->stop_signal = SIGTERM;
	s->stop_timeout = 10 * WD_NSEC_PER_SEC;
	s->kill_group = true;
	s->log_format = lf;
	s->health_interval = 10 * WD_NSEC_PER_SEC;
	s->health_timeout = WD_NSEC_PER_SEC;
	s->health_failures = 3;
	s->on_unhealthy = ON_UNHEALTHY_RESTART;
	for (sig = 0; sig <= WD_SIGRTMAX; sig++)
		s->rewrite[sig] = (unsigned char)sig;
	s->session = SESSION_GROUP;
	s->leak_interval = 30 * WD_NSEC_PER_SEC;
	s->leak_sustain = 5 * 60 * WD_NSEC_PER_SEC;
	s->leak_suspect_samples = 10;
}

/*
 * forward_signals = SIG ...: signals warden passes on to the service. The
 * stop requests are warden's own (stop_signal says how a service is
 * stopped); CHLD, KILL and STOP cannot be forwarded.
 */
static void set_forward(struct parse *p, struct svc_conf *s, const char *v)
{
	const char *err = NULL;
	char **words = split_words(v, &err);
	size_t i;
	int sig;

	if (!words) {
		fail(p, p->line, "invalid forward_signals: %s", err);
		return;
	}
	s->forward = 0;
	for (i = 0; words[i] && !p->failed; i++) {
		if (wd_signal_parse(words[i], false, &sig) < 0 || !wd_signal_catchable(sig))
			fail(p, p->line, "unknown signal '%s' for forward_signals", words[i]);
		else if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT)
			fail(p, p->line,
			     "forward_signals: %s is a stop request to warden (stop_signal says "
			     "what the service gets)",
			     words[i]);
		else if (sig == SIGCHLD)
			fail(p, p->line, "forward_signals: SIGCHLD is warden's own (it reaps)");
		else
			s->forward |= sigbit(sig);
	}
	strv_free(words);
}

/*
 * HOST:PORT, the len bytes at v, as tcp: checks and http:// checks take
 * it: HOST an IP address ([::1] for IPv6) or localhost (there is no
 * resolver in the loop), PORT 1 to 65535; an empty PORT is dflt_port when
 * there is one. Fills *ret_host (without brackets) and *ret_port,
 * malloc'd. Returns 0, -EINVAL or -ENOMEM.
 */
static int parse_hostport(const char *v, size_t len, const char *dflt_port, char **ret_host,
			  char **ret_port)
{
	char host[64], port[8];
	const char *colon = NULL;
	struct in6_addr a;
	unsigned long n;
	size_t hl, i;

	for (i = len; i > 0 && !colon; i--)
		if (v[i - 1] == ':')
			colon = v + i - 1;
	/* [::1] without a port: its last colon is inside the brackets. */
	if (colon && len > 0 && v[0] == '[' && v[len - 1] == ']')
		colon = NULL;
	hl = colon ? (size_t)(colon - v) : len;
	if (!colon && !dflt_port)
		return -EINVAL;
	if (colon) {
		size_t pl = len - hl - 1;

		if (pl == 0 || pl >= sizeof(port))
			return -EINVAL;
		memcpy(port, colon + 1, pl);
		port[pl] = '\0';
		if (parse_uint(port, 65535, 10, &n) < 0 || n == 0)
			return -EINVAL;
	} else {
		snprintf(port, sizeof(port), "%s", dflt_port);
	}
	if (hl > 2 && v[0] == '[' && v[hl - 1] == ']') {
		v++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") != 0 && inet_pton(AF_INET, host, &a) != 1 &&
	    inet_pton(AF_INET6, host, &a) != 1)
		return -EINVAL;
	*ret_host = strdup(host);
	*ret_port = strdup(port);
	if (!*ret_host || !*ret_port) {
		free(*ret_host);
		free(*ret_port);
		*ret_host = *ret_port = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void set_ready(struct parse *p, struct svc_conf *s, const char *v)
{
	const char *err = NULL;
	unsigned long n;

	if (strcmp(v, "none") == 0) {
		s->ready = READY_NONE;
	} else if (strcmp(v, "notify") == 0) {
		s->ready = READY_NOTIFY;
	} else if (strncmp(v, "fd:", 3) == 0) {
		if (parse_uint(v + 3, CONFIG_FDS_MAX - 1, 10, &n) < 0 || n < 3) {
			fail(p, p->line, "invalid ready '%s': fd:N needs N from 3 to %d", v,
			     CONFIG_FDS_MAX - 1);
			return;
		}
		s->ready = READY_FD;
		s->ready_fd = (int)n;
	} else if (strncmp(v, "exec:", 5) == 0) {
		strv_free(s->ready_argv);
		s->ready_argv = split_words(v + 5, &err);
		if (!s->ready_argv || !s->ready_argv[0]) {
			fail(p, p->line, "invalid ready '%s': %s", v, err ? err : "no command");
			return;
		}
		s->ready = READY_EXEC;
	} else if (strncmp(v, "tcp:", 4) == 0) {
		free(s->ready_host);
		free(s->ready_port);
		s->ready_host = s->ready_port = NULL;
		int r = parse_hostport(v + 4, strlen(v + 4), NULL, &s->ready_host, &s->ready_port);

		if (r == -ENOMEM) {
			fail(p, p->line, "out of memory");
			return;
		}
		if (r < 0) {
			fail(p, p->line,
			     "invalid ready '%s': expected tcp:HOST:PORT (HOST an IP address or "
			     "localhost)",
			     v);
			return;
		}
		s->ready = READY_TCP;
	} else {
		fail(p, p->line,
		     "invalid ready '%s' (expected none, notify, fd:N, exec:COMMAND or "
		     "tcp:HOST:PORT)",
		     v);
	}
}

int config_set_ready(struct svc_conf *s, const char *v, char err[static CONFIG_ERR_MAX])
{
	struct parse p = {.file = "--ready", .err = err, .cur = 0};

	set_ready(&p, s, v);
	return p.failed ? -1 : 0;
}

/* Drops s's health check, back to none. */
static void clear_health(struct svc_conf *s)
{
	free(s->health_spec);
	strv_free(s->health_argv);
	free(s->health_host);
	free(s->health_port);
	free(s->health_request);
	s->health_spec = s->health_host = s->health_port = s->health_request = NULL;
	s->health_argv = NULL;
	s->health = HEALTH_NONE;
}

/* http://HOST[:PORT][/PATH]: the request it sends, built once here. */
static int set_health_http(struct svc_conf *s, const char *url, char *err, size_t errlen)
{
	const char *hp = url + 7, *path = strchr(hp, '/'), *q;
	size_t hl = path ? (size_t)(path - hp) : strlen(hp), n;
	int r;

	if (!path)
		path = "/";
	if (strlen(path) > MAX_HEALTH_PATH) {
		snprintf(err, errlen, "its path is longer than %d bytes", MAX_HEALTH_PATH);
		return -1;
	}
	/* The path goes into the request line as it is: no space, no control character. */
	for (q = path; *q; q++)
		if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '#') {
			snprintf(err, errlen,
				 "its path holds a space, a control character or '#' (encode "
				 "them as %%XX)");
			return -1;
		}
	r = parse_hostport(hp, hl, "80", &s->health_host, &s->health_port);
	if (r == -ENOMEM) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (r < 0) {
		snprintf(err, errlen,
			 "expected http://HOST:PORT/PATH (HOST an IP address or localhost)");
		return -1;
	}
	n = strlen(path) + hl + 96;
	s->health_request = malloc(n);
	if (!s->health_request) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* HTTP/1.0 and Connection: close: the server ends the response by closing. */
	snprintf(s->health_request, n,
		 "GET %s HTTP/1.0\r\nHost: %.*s\r\nUser-Agent: warden\r\nConnection: "
		 "close\r\n\r\n",
		 path, (int)hl, hp);
	return 0;
}

int config_set_health(struct svc_conf *s, const char *spec, char *err, size_t errlen)
{
	const char *why = NULL;

	clear_health(s);
	if (strncmp(spec, "exec:", 5) == 0) {
		s->health_argv = split_words(spec + 5, &why);
		if (!s->health_argv || !s->health_argv[0]) {
			snprintf(err, errlen, "%s", why ? why : "no command");
			goto fail;
		}
		s->health = HEALTH_EXEC;
	} else if (strncmp(spec, "tcp:", 4) == 0) {
		int r = parse_hostport(spec + 4, strlen(spec + 4), NULL, &s->health_host,
				       &s->health_port);

		if (r < 0) {
			snprintf(err, errlen, "%s",
				 r == -ENOMEM ? "out of memory"
					      : "expected tcp:HOST:PORT (HOST an IP address or "
						"localhost)");
			goto fail;
		}
		s->health = HEALTH_TCP;
	} else if (strncmp(spec, "http://", 7) == 0) {
		if (set_health_http(s, spec, err, errlen) < 0)
			goto fail;
		s->health = HEALTH_HTTP;
	} else if (strncmp(spec, "https://", 8) == 0) {
		snprintf(err, errlen, "https is not supported: the check speaks plain HTTP");
		goto fail;
	} else {
		snprintf(err, errlen,
			 "expected exec:COMMAND, tcp:HOST:PORT or http://HOST:PORT/PATH");
		goto fail;
	}
	s->health_spec = strdup(spec);
	if (!s->health_spec) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return 0;
fail:
	clear_health(s);
	return -1;
}

/* A duration that must not be zero (a check every 0 s would never rest). */
static void set_positive_duration(struct parse *p, const char *key, const char *v, uint64_t *ret)
{
	uint64_t d;

	if (wd_duration_parse(v, &d) < 0)
		fail(p, p->line, "invalid duration '%s' for %s (expected e.g. 500ms, 10s, 2m)", v,
		     key);
	else if (d == 0)
		fail(p, p->line, "invalid %s '%s' (it must be more than 0)", key, v);
	else
		*ret = d;
}

/*
 * A size: bytes, or a whole number with K, M or G (powers of 1024).
 * Returns 0, or -EINVAL for anything else or a size past 2^64.
 */
static int parse_size(const char *v, uint64_t *ret)
{
	unsigned long long n;
	unsigned shift = 0;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	if (*end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || n > (UINT64_MAX >> shift))
		return -EINVAL;
	*ret = (uint64_t)n << shift;
	return 0;
}

/* The keys of the leak watch; how they fit together is checked in validate(). */
static void set_leak_key(struct parse *p, struct svc_conf *s, int k, const char *v)
{
	unsigned long n;

	switch ((enum svc_key)k) {
	case K_LEAK_MEMORY:
		if (parse_size(v, &s->leak_memory) < 0 || s->leak_memory == 0)
			fail(p, p->line,
			     "invalid leak_memory '%s' (expected a size above 0: bytes, or a whole "
			     "number with K, M or G, e.g. 512M)",
			     v);
		break;
	case K_LEAK_FDS:
		if (parse_uint(v, INT_MAX, 10, &n) < 0 || n == 0)
			fail(p, p->line,
			     "invalid leak_fds '%s' (expected a number of descriptors, 1 or more)",
			     v);
		else
			s->leak_fds = n;
		break;
	case K_LEAK_INTERVAL:
		set_duration(p, svc_keys[k], v, &s->leak_interval);
		if (!p->failed && s->leak_interval < 10 * WD_NSEC_PER_MSEC)
			fail(p, p->line, "invalid leak_interval '%s' (expected at least 10ms)", v);
		break;
	case K_LEAK_SUSTAIN:
		set_duration(p, svc_keys[k], v, &s->leak_sustain);
		break;
	case K_LEAK_SUSPECT_SAMPLES:
		if (parse_uint(v, 1000, 10, &n) < 0 || n == 1 || n == 2)
			fail(p, p->line,
			     "invalid leak_suspect_samples '%s' (expected 0 for none, or a number "
			     "of samples from 3 to 1000)",
			     v);
		else
			s->leak_suspect_samples = (unsigned)n;
		break;
	case K_ON_LEAK:
		if (strcmp(v, "restart") == 0)
			s->leak_restart = true;
		else if (strcmp(v, "none") == 0)
			s->leak_restart = false;
		else
			fail(p, p->line, "invalid on_leak '%s' (expected restart or none)", v);
		break;
	default:
		break;
	}
}

/* A leak watch setting without a limit to watch, or a window shorter than a sample. */
static void validate_leak(struct parse *p, struct svc_conf *s)
{
	static const int keys[] = {K_LEAK_INTERVAL, K_LEAK_SUSTAIN, K_LEAK_SUSPECT_SAMPLES,
				   K_ON_LEAK};
	size_t i;

	if (!s->leak_memory && !s->leak_fds) {
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (s->seen & (UINT64_C(1) << keys[i])) {
				fail(p, s->line, "service [%s]: %s needs leak_memory or leak_fds",
				     s->name, svc_keys[keys[i]]);
				return;
			}
		return;
	}
	if (s->leak_sustain < s->leak_interval)
		fail(p, s->line,
		     "service [%s]: leak_sustain (%llu ms) is shorter than leak_interval (%llu "
		     "ms)",
		     s->name, (unsigned long long)(s->leak_sustain / WD_NSEC_PER_MSEC),
		     (unsigned long long)(s->leak_interval / WD_NSEC_PER_MSEC));
}

static void set_svc_key(struct parse *p, struct svc_conf *s, int k, const char *v)
{
	const char *err = NULL, *key = svc_keys[k];
	unsigned long n;
	size_t i;

	switch ((enum svc_key)k) {
	case K_COMMAND:
		strv_free(s->argv);
		s->argv = split_words(v, &err);
		if (!s->argv)
			fail(p, p->line, "invalid command: %s", err);
		else if (!s->argv[0])
			fail(p, p->line, "empty command");
		break;
	case K_DIRECTORY:
		if (v[0] != '/')
			fail(p, p->line, "directory '%s' is not an absolute path", v);
		free(s->directory);
		s->directory = strdup(v);
		break;
	case K_USER:
		set_user(p, s, v);
		break;
	case K_GROUP:
		set_group(p, s, v);
		break;
	case K_ENVIRONMENT: {
		char **words = split_words(v, &err);

		if (!words) {
			fail(p, p->line, "invalid environment: %s", err);
			break;
		}
		for (i = 0; words[i]; i++) {
			const char *eq = strchr(words[i], '=');
			const char *c;

			for (c = words[i]; eq && c < eq; c++)
				if (!(*c == '_' || (*c >= 'A' && *c <= 'Z') ||
				      (*c >= 'a' && *c <= 'z') ||
				      (c > words[i] && *c >= '0' && *c <= '9')))
					break;
			if (!eq || eq == words[i] || c != eq) {
				fail(p, p->line,
				     "invalid environment entry '%s' (expected KEY=VALUE)",
				     words[i]);
				break;
			}
			if (strv_push(&s->env, &s->nenv, words[i], strlen(words[i])) < 0)
				fail(p, p->line, "out of memory");
		}
		strv_free(words);
		break;
	}
	case K_SUPPLEMENTARY_GROUPS:
		set_supplementary(p, s, v);
		break;
	case K_NO_NEW_PRIVILEGES:
		if (parse_bool(v, &s->priv.no_new_privs) < 0)
			fail(p, p->line, "invalid no_new_privileges '%s' (expected yes or no)", v);
		break;
	case K_CAPABILITIES: {
		char why[CONFIG_ERR_MAX - 64];

		if (priv_parse_caps(v, &s->priv.caps, why, sizeof(why)) < 0)
			fail(p, p->line, "invalid capabilities: %s", why);
		s->priv.has_caps = true;
		priv_keep_text(s->priv.caps_text, v);
		break;
	}
	case K_UMASK:
		if (parse_uint(v, 0777, 8, &n) < 0)
			fail(p, p->line, "invalid umask '%s' (expected octal, e.g. 022)", v);
		else
			s->umask = (int)n;
		break;
	case K_RESTART:
		if (strcmp(v, "always") == 0)
			s->restart = RESTART_ALWAYS;
		else if (strcmp(v, "on-failure") == 0)
			s->restart = RESTART_ON_FAILURE;
		else if (strcmp(v, "never") == 0)
			s->restart = RESTART_NEVER;
		else
			fail(p, p->line,
			     "invalid restart '%s' (expected always, on-failure or never)", v);
		break;
	case K_RESTART_DELAY:
		set_duration(p, key, v, &s->restart_delay);
		break;
	case K_RESTART_DELAY_MAX:
		set_duration(p, key, v, &s->restart_delay_max);
		break;
	case K_RESTART_RESET:
		set_duration(p, key, v, &s->restart_reset);
		break;
	case K_START_LIMIT:
		if (parse_uint(v, 1000000, 10, &n) < 0 || n == 0)
			fail(p, p->line,
			     "invalid start_limit '%s' (expected a number of starts, 1 or more)",
			     v);
		else
			s->start_limit = (unsigned)n;
		break;
	case K_START_LIMIT_INTERVAL:
		set_duration(p, key, v, &s->start_limit_interval);
		break;
	case K_ESSENTIAL:
		if (parse_bool(v, &s->essential) < 0)
			fail(p, p->line, "invalid essential '%s' (expected yes or no)", v);
		break;
	case K_TYPE:
		if (strcmp(v, "simple") == 0)
			s->type = SVC_SIMPLE;
		else if (strcmp(v, "oneshot") == 0)
			s->type = SVC_ONESHOT;
		else
			fail(p, p->line, "invalid type '%s' (expected simple or oneshot)", v);
		break;
	case K_READY:
		set_ready(p, s, v);
		break;
	case K_READY_TIMEOUT:
		set_duration(p, key, v, &s->ready_timeout);
		break;
	case K_WATCHDOG:
		set_duration(p, key, v, &s->watchdog);
		break;
	case K_AFTER: {
		char **words = split_words(v, &err);

		if (!words) {
			fail(p, p->line, "invalid after: %s", err);
			break;
		}
		strv_free(s->after);
		s->after = words;
		s->nafter = strv_len(words);
		s->after_line = p->line;
		break;
	}
	case K_STOP_SIGNAL: {
		int sig;

		if (wd_signal_parse(v, false, &sig) < 0 || !wd_signal_catchable(sig))
			fail(p, p->line, "unknown signal '%s' for stop_signal", v);
		else
			s->stop_signal = sig;
		/* Init mode's command then gets it, not the stop request as received. */
		s->stop_by_forward = false;
		break;
	}
	case K_STOP_TIMEOUT:
		set_duration(p, key, v, &s->stop_timeout);
		break;
	case K_KILL_GROUP:
		if (parse_bool(v, &s->kill_group) < 0)
			fail(p, p->line, "invalid kill_group '%s' (expected yes or no)", v);
		break;
	case K_LOG_FORMAT:
		if (parse_log_format(v, &s->log_format) < 0)
			fail(p, p->line, "invalid log_format '%s' (expected prefix, json or raw)",
			     v);
		else
			s->log_format_set = true;
		break;
	case K_FORWARD_SIGNALS:
		set_forward(p, s, v);
		break;
	case K_HEALTH: {
		char why[256];

		if (config_set_health(s, v, why, sizeof(why)) < 0)
			fail(p, p->line, "invalid health '%s': %s", v, why);
		break;
	}
	case K_HEALTH_INTERVAL:
		set_positive_duration(p, key, v, &s->health_interval);
		break;
	case K_HEALTH_TIMEOUT:
		set_positive_duration(p, key, v, &s->health_timeout);
		break;
	case K_HEALTH_START_PERIOD:
		set_duration(p, key, v, &s->health_start_period);
		break;
	case K_HEALTH_FAILURES:
		if (parse_uint(v, 1000000, 10, &n) < 0 || n == 0)
			fail(p, p->line,
			     "invalid health_failures '%s' (expected a number of checks, 1 or "
			     "more)",
			     v);
		else
			s->health_failures = (unsigned)n;
		break;
	case K_ON_UNHEALTHY:
		if (strcmp(v, "restart") == 0)
			s->on_unhealthy = ON_UNHEALTHY_RESTART;
		else if (strcmp(v, "none") == 0)
			s->on_unhealthy = ON_UNHEALTHY_NONE;
		else
			fail(p, p->line, "invalid on_unhealthy '%s' (expected restart or none)", v);
		break;
	case K_LEAK_MEMORY:
	case K_LEAK_FDS:
	case K_LEAK_INTERVAL:
	case K_LEAK_SUSTAIN:
	case K_LEAK_SUSPECT_SAMPLES:
	case K_ON_LEAK:
		set_leak_key(p, s, k, v);
		break;
	case K_MEMORY_MAX:
		if (strcmp(v, "max") == 0)
			s->memory_max = UINT64_MAX;
		else if (parse_size(v, &s->memory_max) < 0 || s->memory_max == 0 ||
			 s->memory_max == UINT64_MAX)
			fail(p, p->line,
			     "invalid memory_max '%s' (expected max, or a size above 0: bytes, or "
			     "a "
			     "whole number with K, M or G, e.g. 512M)",
			     v);
		break;
	case K_PIDS_MAX:
		if (strcmp(v, "max") == 0)
			s->pids_max = UINT64_MAX;
		else if (parse_uint(v, INT_MAX, 10, &n) < 0 || n == 0)
			fail(p, p->line,
			     "invalid pids_max '%s' (expected max, or a number of processes, 1 or "
			     "more)",
			     v);
		else
			s->pids_max = n;
		break;
	case K_CPU_WEIGHT:
		if (parse_uint(v, 10000, 10, &n) < 0 || n == 0)
			fail(p, p->line,
			     "invalid cpu_weight '%s' (expected 1 to 10000; 100 is the default)",
			     v);
		else
			s->cpu_weight = n;
		break;
	case NSVCKEYS:
		break;
	}
}

_Static_assert(sizeof(((struct config *)0)->http) >= HTTP_ADDR_MAX, "http = fits in struct config");

/* http = ADDR:PORT: checked here, so that a bad one fails before anything starts. */
static void set_http(struct parse *p, const char *v)
{
	struct sockaddr_storage sa;
	socklen_t len;
	const char *why;

	if (http_addr_parse(v, &sa, &len, &why) < 0) {
		fail(p, p->line,
		     "invalid http '%s': %s (expected IPV4:PORT or [IPV6]:PORT, such as "
		     "127.0.0.1:9100 or [::1]:9100)",
		     v, why);
		return;
	}
	snprintf(p->c->http, sizeof(p->c->http), "%s", v);
}

static void set_global_key(struct parse *p, int k, const char *v)
{
	struct config *c = p->c;

	switch ((enum global_key)k) {
	case G_GRACE:
		set_duration(p, global_keys[k], v, &c->grace);
		break;
	case G_SHUTDOWN_TIMEOUT:
		if (strcmp(v, "none") == 0)
			c->shutdown_timeout = TIMEOUT_NONE;
		else
			set_duration(p, global_keys[k], v, &c->shutdown_timeout);
		break;
	case G_LOG_FORMAT:
		if (parse_log_format(v, &c->log_format) < 0)
			fail(p, p->line, "invalid log_format '%s' (expected prefix, json or raw)",
			     v);
		break;
	case G_CONTROL:
		free(c->control);
		c->control = NULL;
		c->control_off = strcmp(v, "off") == 0;
		if (c->control_off)
			break;
		if (v[0] != '/' || strlen(v) >= 108)
			fail(p, p->line,
			     "control '%s' must be off or an absolute path under 108 bytes", v);
		c->control = strdup(v);
		if (!c->control)
			fail(p, p->line, "out of memory");
		break;
	case G_RUNTIME_DIRECTORY:
		free(c->runtime_dir);
		c->runtime_dir = NULL;
		if (!config_runtime_dir_ok(v))
			fail(p, p->line,
			     "runtime_directory '%s' must be an absolute path under %d bytes", v,
			     CONFIG_RUNTIME_DIR_MAX);
		else if (!(c->runtime_dir = strdup(v)))
			fail(p, p->line, "out of memory");
		break;
	case G_CONTROL_GROUP: {
		char line[4096], *fields[4] = {0};
		unsigned long id;

		if (db_lookup(group_path(), v, line, sizeof(line), fields, 4) == 0) {
			if (parse_uint(fields[2], UINT_MAX - 1, 10, &id) < 0) {
				fail(p, p->line, "group '%s' has a malformed entry in %s", v,
				     group_path());
				break;
			}
		} else if (parse_uint(v, UINT_MAX - 1, 10, &id) < 0) {
			fail(p, p->line, "unknown control_group '%s' (not in %s)", v, group_path());
			break;
		}
		c->control_gid = (gid_t)id;
		c->has_control_group = true;
		break;
	}
	case G_SHUTDOWN_DELAY:
		set_duration(p, global_keys[k], v, &c->shutdown_delay);
		break;
	case G_HTTP:
		set_http(p, v);
		break;
	case G_CGROUP:
		if (strcmp(v, "off") == 0)
			c->cgroup_off = true;
		else if (strcmp(v, "auto") == 0)
			c->cgroup_off = false;
		else
			fail(p, p->line, "invalid cgroup '%s' (expected auto or off)", v);
		break;
	case NGLOBALKEYS:
		break;
	}
}

/* Appends "key = value\n" to *fp. */
static int fingerprint_add(char **fp, const char *key, const char *value)
{
	size_t old = *fp ? strlen(*fp) : 0, add = strlen(key) + strlen(value) + 4;
	char *n = realloc(*fp, old + add + 1);

	if (!n)
		return -ENOMEM;
	snprintf(n + old, add + 1, "%s = %s\n", key, value);
	*fp = n;
	return 0;
}

/*
 * Init mode's file (-c FILE -- COMMAND): [main] configures the one service
 * that config_init_mode() made; any other service has no place there.
 */
static void init_section(struct parse *p, const char *name)
{
	if (strcmp(name, "main") != 0) {
		fail(p, p->line,
		     "[%s]: with a COMMAND (-c FILE -- COMMAND) the file configures only [warden] "
		     "and [main], the service that runs COMMAND",
		     name);
		return;
	}
	if (p->main_line) {
		fail(p, p->line, "duplicate section [main] (first at line %d)", p->main_line);
		return;
	}
	p->main_line = p->line;
	p->c->svcs[0].line = p->line;
	p->cur = 0;
}

/*
 * Keys that mean nothing, or something else, for init mode's command: an
 * error rather than a setting silently ignored. Returns true when k is one.
 */
static bool init_refused(struct parse *p, const char *sect, int k)
{
	if (p->cur < 0) {
		if (k == G_LOG_FORMAT) {
			fail(p, p->line,
			     "log_format in [warden]: init mode's COMMAND writes to warden's own "
			     "stdout and stderr, not captured");
			return true;
		}
		return false;
	}
	switch (k) {
	case K_COMMAND:
		fail(p, p->line,
		     "[%s] may not set command: it runs the COMMAND given after -- on the command "
		     "line",
		     sect);
		return true;
	case K_ESSENTIAL:
		fail(p, p->line,
		     "[%s] may not set essential: init mode's COMMAND always is (warden exits "
		     "with it)",
		     sect);
		return true;
	case K_LOG_FORMAT:
		fail(p, p->line,
		     "log_format in [%s]: init mode's COMMAND writes to warden's own stdout and "
		     "stderr, not captured",
		     sect);
		return true;
	default:
		return false;
	}
}

/* A section header line seen by the reader: a new service (or [warden]). */
static void section(struct parse *p, const char *name)
{
	struct config *c = p->c;
	struct svc_conf *n;
	size_t i;

	if (strcmp(name, "warden") == 0) {
		p->cur = -1;
		return;
	}
	if (p->init) {
		init_section(p, name);
		return;
	}
	if (!valid_name(name)) {
		fail(p, p->line,
		     "invalid service name [%s] (letters, digits, '_', '-' and '.', up to %d, not "
		     "starting with '-')",
		     name, MAX_NAME);
		return;
	}
	for (i = 0; i < c->nsvcs; i++)
		if (strcmp(c->svcs[i].name, name) == 0) {
			fail(p, p->line, "duplicate section [%s] (first at line %d)", name,
			     c->svcs[i].line);
			return;
		}
	if (c->nsvcs >= MAX_SERVICES) {
		fail(p, p->line, "too many services (at most %d)", MAX_SERVICES);
		return;
	}
	/*
	 * Room doubles whenever the count reaches a power of two: a file of
	 * MAX_SERVICES sections copies the array a dozen times, not thousands.
	 */
	n = c->svcs;
	if ((c->nsvcs & (c->nsvcs - 1)) == 0) {
		n = realloc(c->svcs, (c->nsvcs ? 2 * c->nsvcs : 1) * sizeof(*n));
		if (!n) {
			fail(p, p->line, "out of memory");
			return;
		}
		c->svcs = n;
	}
	memset(&n[c->nsvcs], 0, sizeof(*n));
	svc_defaults(&n[c->nsvcs], c->log_format);
	n[c->nsvcs].name = strdup(name);
	n[c->nsvcs].line = p->line;
	p->cur = (int)c->nsvcs++;
}

/*
 * rlimit_NAME = SOFT[:HARD], one key per resource prlimit(1) names: kept
 * out of the key table, whose keys each take a bit of the seen mask.
 */
static int rlimit_key(struct parse *p, const char *sect, const char *name, const char *value)
{
	struct svc_conf *s = &p->c->svcs[p->cur];
	int resource = priv_rlimit_resource(name);
	char why[CONFIG_ERR_MAX - 64];
	struct rlimit rl;

	if (resource < 0) {
		fail(p, p->line,
		     "unknown key '%s' in [%s] (resource limits: rlimit_as, core, cpu, data, "
		     "fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
		     "sigpending, stack)",
		     name, sect);
		return 1;
	}
	if (priv_parse_rlimit(value, &rl, why, sizeof(why)) < 0) {
		fail(p, p->line, "invalid %s: %s", name, why);
		return 1;
	}
	if (priv_set_rlimit(&s->priv, resource, &rl) < 0) {
		fail(p, p->line, "duplicate key '%s' in [%s]", name, sect);
		return 1;
	}
	if (fingerprint_add(&s->fingerprint, name, value) < 0)
		fail(p, p->line, "out of memory");
	return 1;
}

static int handler(void *user, const char *sect, const char *name, const char *value)
{
	struct parse *p = user;
	const char *const *keys;
	size_t nkeys;
	uint64_t *seen;
	char **fp;
	int k;

	if (p->failed)
		return 1;
	if (!*sect) {
		fail(p, p->line, "'%s' is outside any section (start with [warden] or [SERVICE])",
		     name);
		return 1;
	}
	/* The reader and inih must agree on the section, or keys would go astray. */
	if (strcmp(sect, p->cur < 0 ? "warden" : p->c->svcs[p->cur].name) != 0) {
		fail(p, p->line, "cannot tell which section '%s' belongs to", name);
		return 1;
	}
	if (p->cur < 0) {
		keys = global_keys;
		nkeys = NGLOBALKEYS;
		seen = &p->c->seen;
		fp = &p->c->global_fingerprint;
	} else {
		keys = svc_keys;
		nkeys = NSVCKEYS;
		seen = &p->c->svcs[p->cur].seen;
		fp = &p->c->svcs[p->cur].fingerprint;
	}
	if (p->cur >= 0 && strncmp(name, "rlimit_", 7) == 0)
		return rlimit_key(p, sect, name, value);
	k = find_key(name, keys, nkeys);
	if (k < 0) {
		const char *near = closest(name, keys, nkeys);

		if (near)
			fail(p, p->line, "unknown key '%s' in [%s] (did you mean '%s'?)", name,
			     sect, near);
		else
			fail(p, p->line, "unknown key '%s' in [%s]", name, sect);
		return 1;
	}
	if ((*seen & (UINT64_C(1) << k)) && !(p->cur >= 0 && k == K_ENVIRONMENT)) {
		fail(p, p->line, "duplicate key '%s' in [%s]", name, sect);
		return 1;
	}
	if (p->init && init_refused(p, sect, k))
		return 1;
	*seen |= UINT64_C(1) << k;
	if (fingerprint_add(fp, name, value) < 0) {
		fail(p, p->line, "out of memory");
		return 1;
	}
	if (p->cur < 0)
		set_global_key(p, k, value);
	else
		set_svc_key(p, &p->c->svcs[p->cur], k, value);
	return 1;
}

/*
 * inih's reader: one line at a time from the text, counting lines and
 * noting section headers, which inih only reports through the keys.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *nl, *s;
	size_t len;

	if (!*p->text || num < 2)
		return NULL;
	nl = strchr(p->text, '\n');
	len = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
	if (len > (size_t)num - 1) {
		fail(p, p->line + 1, "line too long (over %d bytes)", MAX_LINE);
		len = (size_t)num - 1;
	}
	memcpy(str, p->text, len);
	str[len] = '\0';
	p->text += len;
	p->line++;
	/* Find headers exactly as inih does: after a BOM, after any white space. */
	s = str;
	if (p->line == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	while (*s && isspace((unsigned char)*s))
		s++;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end && !p->failed) {
			char name[MAX_NAME + 2];
			size_t n = (size_t)(end - s - 1);

			if (n > MAX_NAME)
				n = MAX_NAME + 1;
			memcpy(name, s + 1, n);
			name[n] = '\0';
			section(p, name);
		}
	}
	return str;
}

/* Depth-first search for a cycle through after; names it in msg. */
static bool cycle_from(const struct config *c, int i, int *state, int *stack, int depth, char *msg,
		       size_t size)
{
	const struct svc_conf *s = &c->svcs[i];
	size_t k;

	state[i] = 1;
	stack[depth] = i;
	for (k = 0; k < s->nafter; k++) {
		int j = config_find(c, s->after[k]);

		if (j < 0)
			continue;
		if (state[j] == 1) {
			/* The cycle is the stack from j's place to here, then j again. */
			int from = depth, d;
			size_t off = 0;

			while (from > 0 && stack[from] != j)
				from--;
			for (d = from; d <= depth && off < size; d++)
				off += (size_t)snprintf(msg + off, size - off, "%s -> ",
							c->svcs[stack[d]].name);
			if (off < size)
				snprintf(msg + off, size - off, "%s", c->svcs[j].name);
			return true;
		}
		if (state[j] == 0 && cycle_from(c, j, state, stack, depth + 1, msg, size))
			return true;
	}
	state[i] = 2;
	return false;
}

/* The keys that mean nothing without health. */
#define HEALTH_KEYS                                                                    \
	((UINT64_C(1) << K_HEALTH_INTERVAL) | (UINT64_C(1) << K_HEALTH_TIMEOUT) |      \
	 (UINT64_C(1) << K_HEALTH_FAILURES) | (UINT64_C(1) << K_HEALTH_START_PERIOD) | \
	 (UINT64_C(1) << K_ON_UNHEALTHY))

static void validate(struct parse *p)
{
	struct config *c = p->c;
	size_t i, k;

	for (i = 0; i < c->nsvcs && !p->failed; i++) {
		struct svc_conf *s = &c->svcs[i];

		if (!s->argv)
			fail(p, s->line, "service [%s] has no command", s->name);
		else if (!p->init && s->watchdog && s->ready != READY_NOTIFY)
			fail(p, s->line, "service [%s]: watchdog needs ready = notify", s->name);
		else if (s->type == SVC_ONESHOT && s->restart == RESTART_ALWAYS)
			fail(p, s->line,
			     "service [%s]: a oneshot cannot have restart = always (it would never "
			     "finish)",
			     s->name);
		else if (s->health == HEALTH_NONE && (s->seen & HEALTH_KEYS))
			fail(p, s->line, "service [%s]: %s needs health", s->name,
			     svc_keys[__builtin_ctzll(s->seen & HEALTH_KEYS)]);
		else if (s->health != HEALTH_NONE && s->type == SVC_ONESHOT)
			fail(p, s->line,
			     "service [%s]: a oneshot cannot have health (it is checked while it "
			     "runs, once ready)",
			     s->name);
		else if (s->restart_delay_max < s->restart_delay)
			s->restart_delay_max = s->restart_delay;
		validate_leak(p, s);
		/* Without a log_format of its own, the [warden] one, wherever it stands. */
		if (!s->log_format_set)
			s->log_format = c->log_format;
		/* With both user and group, the group given replaces the user's own. */
		if (s->has_user && s->has_group && s->groups && s->ngroups)
			s->groups[0] = s->gid;
		for (k = 0; k < s->nafter && !p->failed; k++) {
			if (strcmp(s->after[k], s->name) == 0)
				fail(p, s->after_line, "service [%s] is after itself", s->name);
			else if (config_find(c, s->after[k]) < 0)
				fail(p, s->after_line,
				     "service [%s] is after '%s', which is not a service", s->name,
				     s->after[k]);
		}
	}
	if (!p->failed) {
		int *state = calloc(c->nsvcs + 1, sizeof(int));
		int *stack = calloc(c->nsvcs + 1, sizeof(int));
		char msg[CONFIG_ERR_MAX - 64];

		if (!state || !stack) {
			fail(p, 0, "out of memory");
		} else {
			for (i = 0; i < c->nsvcs; i++)
				if (state[i] == 0 &&
				    cycle_from(c, (int)i, state, stack, 0, msg, sizeof(msg))) {
					fail(p, c->svcs[i].after_line, "dependency cycle: %s", msg);
					break;
				}
		}
		free(state);
		free(stack);
	}
	if (!p->failed && c->nsvcs == 0)
		fail(p, 0, "no service defined (add a [NAME] section with a command)");
}

int config_check_init(const struct config *c, char err[static CONFIG_ERR_MAX])
{
	const struct svc_conf *s = &c->svcs[0];
	const char *file = c->path ? c->path : "command line";

	if (s->watchdog && s->ready != READY_NOTIFY) {
		snprintf(err, CONFIG_ERR_MAX,
			 "%s:%d: service [main]: watchdog needs ready = notify (in [main] or "
			 "--ready notify)",
			 file, s->line);
		return -1;
	}
	return 0;
}

int config_find(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsvcs; i++)
		if (strcmp(c->svcs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * Parses text on top of a supervisor's defaults or, with argv, of init
 * mode's (its one service running argv). Returns 0 with *ret filled, or -1
 * with err said and *ret untouched.
 */
static int parse_text(const char *name, const char *text, char *const *argv, struct config *ret,
		      char err[static CONFIG_ERR_MAX])
{
	struct parse p = {.file = name, .text = text, .err = err, .cur = -1, .init = argv != NULL};
	struct config c;
	int r;

	config_defaults(&c);
	if (argv)
		(void)config_init_mode(&c, argv);
	c.path = strdup(name);
	p.c = &c;
	/* Long commands are normal; ';' inside one is not a comment. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = MAX_LINE;
	ini_initial_alloc = MAX_LINE;
	ini_allow_inline_comments = false;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	r = ini_parse_stream(reader, &p, handler, &p);
	if (r > 0 && !p.failed)
		fail(&p, r, "syntax error (expected [SECTION] or KEY = VALUE)");
	else if (r < 0 && !p.failed)
		fail(&p, 0, "out of memory");
	if (!p.failed)
		validate(&p);
	if (p.failed || !c.path) {
		if (!p.failed)
			snprintf(err, CONFIG_ERR_MAX, "%s: out of memory", name);
		config_free(&c);
		return -1;
	}
	*ret = c;
	return 0;
}

int config_load_string(const char *name, const char *text, struct config *ret,
		       char err[static CONFIG_ERR_MAX])
{
	return parse_text(name, text, NULL, ret, err);
}

/* path (relative) after the working directory, in a malloc'd string; NULL on error. */
static char *absolute(const char *path)
{
	char *cwd = getcwd(NULL, 0), *abs;
	size_t n;

	if (!cwd)
		return NULL;
	n = strlen(cwd) + strlen(path) + 2;
	abs = malloc(n);
	if (abs)
		snprintf(abs, n, "%s/%s", cwd, path);
	free(cwd);
	return abs;
}

static int load(const char *path, char *const *argv, struct config *ret,
		char err[static CONFIG_ERR_MAX])
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;
	int r;

	if (!f) {
		snprintf(err, CONFIG_ERR_MAX, "%s: %s", path, strerror(errno));
		return -1;
	}
	text = malloc(MAX_FILE + 1);
	if (!text) {
		fclose(f);
		snprintf(err, CONFIG_ERR_MAX, "%s: out of memory", path);
		return -1;
	}
	n = fread(text, 1, MAX_FILE + 1, f);
	fclose(f);
	if (n > MAX_FILE) {
		free(text);
		snprintf(err, CONFIG_ERR_MAX, "%s: larger than %d bytes", path, MAX_FILE);
		return -1;
	}
	if (memchr(text, '\0', n)) {
		free(text);
		snprintf(err, CONFIG_ERR_MAX, "%s: not a text file (it holds NUL bytes)", path);
		return -1;
	}
	text[n] = '\0';
	r = parse_text(path, text, argv, ret, err);
	free(text);
	if (r == 0 && path[0] != '/') {
		/*
		 * Absolute, without resolving symbolic links: a reload reads the
		 * file the path names then (Kubernetes swaps a ConfigMap's link).
		 */
		char *abs = absolute(path);

		if (!abs) {
			config_free(ret);
			snprintf(err, CONFIG_ERR_MAX, "%s: cannot make the path absolute: %s", path,
				 strerror(errno));
			return -1;
		}
		free(ret->path);
		ret->path = abs;
	}
	return r;
}

int config_load(const char *path, struct config *ret, char err[static CONFIG_ERR_MAX])
{
	return load(path, NULL, ret, err);
}

int config_load_init(const char *path, char *const *argv, struct config *ret,
		     char err[static CONFIG_ERR_MAX])
{
	return load(path, argv, ret, err);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->mode = MODE_SUPERVISOR;
	c->grace = 5 * WD_NSEC_PER_SEC;
	c->shutdown_timeout = 30 * WD_NSEC_PER_SEC;
	c->leftovers = LEFTOVERS_TERMINATE;
	c->force_on_second_stop = true;
	c->log_format = LOG_PREFIX;
}

int config_init_mode(struct config *c, char *const *argv)
{
	static struct svc_conf main_conf;
	struct svc_conf *s = &main_conf;

	c->mode = MODE_INIT;
	/* The command's own stop is the runtime's business: no bound by default. */
	c->shutdown_timeout = TIMEOUT_NONE;
	c->svcs = s;
	c->nsvcs = 1;
	c->svcs_static = true;
	memset(s, 0, sizeof(*s));
	svc_defaults(s, c->log_format);
	s->name = (char *)"main";
	s->argv = (char **)argv;
	s->borrowed = true;
	s->essential = true;
	s->restart = RESTART_NEVER;
	s->stop_timeout = TIMEOUT_NONE;
	s->forward = ~(sigbits)0 & ~sigbit(SIGCHLD) & ~sigbit(SIGKILL) & ~sigbit(SIGSTOP);
	s->stop_by_forward = true;
	s->inherit_stdio = true;
	s->exit_is_wardens = true;
	return 0;
}

bool config_runtime_dir_ok(const char *dir)
{
	return dir[0] == '/' && strlen(dir) < CONFIG_RUNTIME_DIR_MAX;
}

void config_free_svc(struct svc_conf *s)
{
	if (!s->borrowed) {
		free(s->name);
		strv_free(s->argv);
	}
	free(s->directory);
	free(s->groups);
	strv_free(s->env);
	strv_free(s->ready_argv);
	free(s->ready_host);
	free(s->ready_port);
	clear_health(s);
	strv_free(s->after);
	free(s->fingerprint);
	memset(s, 0, sizeof(*s));
}

void config_free(struct config *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nsvcs; i++)
		config_free_svc(&c->svcs[i]);
	if (!c->svcs_static)
		free(c->svcs);
	free(c->path);
	free(c->global_fingerprint);
	free(c->control);
	free(c->runtime_dir);
	memset(c, 0, sizeof(*c));
}
