/* SPDX-License-Identifier: MIT */
/*
 * A service's privilege beyond user and group: its supplementary groups,
 * capabilities, no_new_privileges and resource limits. The names are
 * parsed here; libwarden's child applies them; a failed start is told
 * here in the words of the configuration.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privilege.h"

/* Capabilities by number, as the kernel numbers them (capability.h). */
static const char *const cap_names[] = {
	"chown",
	"dac_override",
	"dac_read_search",
	"fowner",
	"fsetid",
	"kill",
	"setgid",
	"setuid",
	"setpcap",
	"linux_immutable",
	"net_bind_service",
	"net_broadcast",
	"net_admin",
	"net_raw",
	"ipc_lock",
	"ipc_owner",
	"sys_module",
	"sys_rawio",
	"sys_chroot",
	"sys_ptrace",
	"sys_pacct",
	"sys_admin",
	"sys_boot",
	"sys_nice",
	"sys_resource",
	"sys_time",
	"sys_tty_config",
	"mknod",
	"lease",
	"audit_write",
	"audit_control",
	"setfcap",
	"mac_override",
	"mac_admin",
	"syslog",
	"wake_alarm",
	"block_suspend",
	"audit_read",
	"perfmon",
	"bpf",
	"checkpoint_restore",
};
#define NCAPS ((int)(sizeof(cap_names) / sizeof(cap_names[0])))

#define CAP_NUM_SETGID 6
#define CAP_NUM_SETUID 7
#define CAP_NUM_SETPCAP 8
#define CAP_NUM_SYS_RESOURCE 24

/* The resources of prlimit(1), by the name after rlimit_. */
static const struct {
	const char *name;
	int resource;
} rlimits[PRIV_NRLIMITS] = {
	{"as", RLIMIT_AS},
	{"core", RLIMIT_CORE},
	{"cpu", RLIMIT_CPU},
	{"data", RLIMIT_DATA},
	{"fsize", RLIMIT_FSIZE},
	{"locks", RLIMIT_LOCKS},
	{"memlock", RLIMIT_MEMLOCK},
	{"msgqueue", RLIMIT_MSGQUEUE},
	{"nice", RLIMIT_NICE},
	{"nofile", RLIMIT_NOFILE},
	{"nproc", RLIMIT_NPROC},
	{"rss", RLIMIT_RSS},
	{"rtprio", RLIMIT_RTPRIO},
	{"rttime", RLIMIT_RTTIME},
	{"sigpending", RLIMIT_SIGPENDING},
	{"stack", RLIMIT_STACK},
};

void priv_keep_text(char dst[static PRIV_TEXT_MAX], const char *v)
{
	size_t n = strlen(v);

	if (n < PRIV_TEXT_MAX) {
		memcpy(dst, v, n + 1);
		return;
	}
	memcpy(dst, v, PRIV_TEXT_MAX - 4);
	memcpy(dst + PRIV_TEXT_MAX - 4, "...", 4);
}

/* "CAP_NET_BIND_SERVICE" for a capability number, into buf. */
static const char *cap_name(int cap, char *buf, size_t size)
{
	size_t i;
	int n;

	if (cap < 0 || cap >= NCAPS) {
		snprintf(buf, size, "capability %d", cap);
		return buf;
	}
	n = snprintf(buf, size, "CAP_%s", cap_names[cap]);
	for (i = 4; n > 0 && i < (size_t)n && i < size; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
	return buf;
}

int priv_parse_caps(const char *v, uint64_t *ret, char *err, size_t errlen)
{
	uint64_t caps = 0;
	const char *p = v;

	while (*p) {
		char word[64];
		size_t len = strcspn(p, " \t");
		const char *name = word;
		int cap;

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(word)) {
			snprintf(err, errlen, "unknown capability '%.*s...'", 32, p);
			return -1;
		}
		memcpy(word, p, len);
		word[len] = '\0';
		p += len;
		if (strcasecmp(word, "none") == 0 && caps == 0 && !*(p + strspn(p, " \t")))
			break;
		if (strncasecmp(name, "cap_", 4) == 0)
			name += 4;
		for (cap = 0; cap < NCAPS; cap++)
			if (strcasecmp(name, cap_names[cap]) == 0)
				break;
		if (cap == NCAPS) {
			snprintf(err, errlen,
				 "unknown capability '%s' (expected e.g. CAP_NET_BIND_SERVICE or "
				 "net_bind_service)",
				 word);
			return -1;
		}
		caps |= UINT64_C(1) << cap;
	}
	*ret = caps;
	return 0;
}

int priv_rlimit_resource(const char *key)
{
	size_t i;

	if (strncmp(key, "rlimit_", 7) != 0)
		return -1;
	for (i = 0; i < PRIV_NRLIMITS; i++)
		if (strcmp(key + 7, rlimits[i].name) == 0)
			return rlimits[i].resource;
	return -1;
}

static const char *rlimit_name(int resource)
{
	size_t i;

	for (i = 0; i < PRIV_NRLIMITS; i++)
		if (rlimits[i].resource == resource)
			return rlimits[i].name;
	return "?";
}

/* One side of SOFT:HARD, len bytes of v. */
static int parse_limit(const char *v, size_t len, rlim_t *ret)
{
	unsigned long long n;
	char buf[32], *end;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (strcmp(buf, "infinity") == 0 || strcmp(buf, "unlimited") == 0) {
		*ret = RLIM_INFINITY;
		return 0;
	}
	if (!isdigit((unsigned char)buf[0]))
		return -1;
	errno = 0;
	n = strtoull(buf, &end, 10);
	if (errno || *end || n >= (unsigned long long)RLIM_INFINITY)
		return -1;
	*ret = (rlim_t)n;
	return 0;
}

int priv_parse_rlimit(const char *v, struct rlimit *ret, char *err, size_t errlen)
{
	const char *colon = strchr(v, ':');
	struct rlimit rl;

	if (parse_limit(v, colon ? (size_t)(colon - v) : strlen(v), &rl.rlim_cur) < 0 ||
	    (colon && parse_limit(colon + 1, strlen(colon + 1), &rl.rlim_max) < 0)) {
		snprintf(err, errlen,
			 "invalid limit '%s' (expected SOFT[:HARD], each a number or infinity)", v);
		return -1;
	}
	if (!colon)
		rl.rlim_max = rl.rlim_cur;
	if (rl.rlim_max != RLIM_INFINITY &&
	    (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > rl.rlim_max)) {
		snprintf(err, errlen, "soft limit above the hard limit in '%s'", v);
		return -1;
	}
	*ret = rl;
	return 0;
}

int priv_set_rlimit(struct priv_conf *c, int resource, const struct rlimit *lim)
{
	size_t i;

	for (i = 0; i < c->nrlimits; i++)
		if (c->rlimits[i].resource == resource)
			return -1;
	if (c->nrlimits >= PRIV_NRLIMITS)
		return -1;
	c->rlimits[c->nrlimits].resource = resource;
	c->rlimits[c->nrlimits++].limit = *lim;
	return 0;
}

bool priv_wanted(const struct priv_conf *c)
{
	return c->has_caps || c->no_new_privs || c->nrlimits;
}

void priv_spawn(const struct priv_conf *c, struct wd_privilege *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->rlimits = c->rlimits;
	ret->nrlimits = c->nrlimits;
	ret->set_caps = c->has_caps;
	ret->caps = c->caps;
	ret->no_new_privs = c->no_new_privs;
}

/* Has warden itself cap in its effective set? */
static bool warden_has(int cap)
{
	struct {
		uint32_t version;
		int pid;
	} h = {0x20080522, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* " (warden runs as uid N without CAP_X)" when err is EPERM and that is why. */
static void hint_missing(char *buf, size_t size, int err, int cap)
{
	char name[32];

	buf[0] = '\0';
	if (err == EPERM && !warden_has(cap))
		snprintf(buf, size, " (warden runs as uid %u without %s)", (unsigned)geteuid(),
			 cap_name(cap, name, sizeof(name)));
}

static void limit_text(rlim_t v, char *buf, size_t size)
{
	if (v == RLIM_INFINITY)
		snprintf(buf, size, "infinity");
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

const char *priv_describe_failure(const struct priv_conf *c, bool has_user, bool has_group,
				  enum wd_spawn_stage stage, int detail, int err, char *buf,
				  size_t size)
{
	char hint[96] = "", name[32], soft[24], hard[24];
	const char *why = strerror(err);

	switch ((int)stage) {
	case WD_STAGE_CREDENTIALS:
		if (detail == WD_CREDS_UID) {
			hint_missing(hint, sizeof(hint), err, CAP_NUM_SETUID);
			snprintf(buf, size, "user = %s: cannot switch user: %s%s", c->user, why,
				 hint);
			break;
		}
		hint_missing(hint, sizeof(hint), err, CAP_NUM_SETGID);
		if (detail == WD_CREDS_GROUPS && c->has_supp)
			snprintf(buf, size,
				 "supplementary_groups = %s: cannot set the groups: %s%s", c->supp,
				 why, hint);
		else if (has_group)
			snprintf(buf, size, "group = %s: cannot switch group: %s%s", c->group, why,
				 hint);
		else if (has_user)
			snprintf(buf, size, "user = %s: cannot switch to its groups: %s%s", c->user,
				 why, hint);
		else
			snprintf(buf, size, "cannot switch group: %s%s", why, hint);
		break;
	case WD_STAGE_RLIMIT:
		if (detail < 0 || (size_t)detail >= c->nrlimits) {
			snprintf(buf, size, "cannot set a resource limit: %s", why);
			break;
		}
		limit_text(c->rlimits[detail].limit.rlim_cur, soft, sizeof(soft));
		limit_text(c->rlimits[detail].limit.rlim_max, hard, sizeof(hard));
		hint_missing(hint, sizeof(hint), err, CAP_NUM_SYS_RESOURCE);
		snprintf(buf, size, "rlimit_%s = %s:%s: cannot set the limit: %s%s",
			 rlimit_name(c->rlimits[detail].resource), soft, hard, why,
			 *hint ? hint : " (a hard limit can only be raised with CAP_SYS_RESOURCE)");
		break;
	case WD_STAGE_CAPABILITIES:
		if (detail < 0) {
			snprintf(buf, size, "capabilities = %s: cannot set the capability sets: %s",
				 c->caps_text, why);
		} else if ((c->caps >> detail) & 1) {
			snprintf(buf, size,
				 "capabilities = %s: cannot keep %s: %s (warden does not have it)",
				 c->caps_text, cap_name(detail, name, sizeof(name)), why);
		} else {
			hint_missing(hint, sizeof(hint), err, CAP_NUM_SETPCAP);
			snprintf(buf, size,
				 "capabilities = %s: cannot drop %s from the bounding set: %s%s",
				 c->caps_text, cap_name(detail, name, sizeof(name)), why, hint);
		}
		break;
	case WD_STAGE_NO_NEW_PRIVS:
		snprintf(buf, size, "no_new_privileges = yes: cannot set it: %s", why);
		break;
	default:
		snprintf(buf, size, "cannot set up its process: %s", why);
		break;
	}
	return buf;
}

int priv_runtime_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the runtime directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "runtime directory %s is not a directory", dir);
		return -1;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		snprintf(err, errlen, "runtime directory %s is not writable by uid %u: %s", dir,
			 (unsigned)geteuid(), strerror(errno));
		return -1;
	}
	return 0;
}
