/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_PRIVILEGE_H
#define WARDEN_PRIVILEGE_H

/*
 * What a service keeps of privilege: supplementary groups, capabilities,
 * no_new_privileges and resource limits (warden.conf(5)). Parsed at load,
 * applied by libwarden's spawn in the child (struct wd_privilege), and a
 * start that fails on one of them explained by the key, the value and the
 * reason.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <warden/child.h>

/* Every resource prlimit(1) names: rlimit_as ... rlimit_stack. */
#define PRIV_NRLIMITS 16
/* The most supplementary_groups a service can list. */
#define PRIV_GROUPS_MAX 64
/* The longest value kept as written, for the messages. */
#define PRIV_TEXT_MAX 128

struct priv_conf {
	/* user, group and supplementary_groups as written. */
	char user[PRIV_TEXT_MAX], group[PRIV_TEXT_MAX], supp[PRIV_TEXT_MAX];
	bool has_supp; /* supplementary_groups: exactly these, not the user's */
	gid_t supp_gids[PRIV_GROUPS_MAX];
	size_t nsupp;
	bool has_caps; /* capabilities: exactly these */
	uint64_t caps;
	char caps_text[PRIV_TEXT_MAX];
	bool no_new_privs;
	struct wd_rlimit rlimits[PRIV_NRLIMITS];
	size_t nrlimits;
};

/* Copies v into a text member, cut short (with "...") when it is too long. */
void priv_keep_text(char dst[static PRIV_TEXT_MAX], const char *v);

/*
 * capabilities = CAP...: names as CAP_NET_BIND_SERVICE or net_bind_service,
 * space-separated; empty or "none" for none. Returns 0 with the set in
 * *ret, or -1 with the reason in err.
 */
int priv_parse_caps(const char *v, uint64_t *ret, char *err, size_t errlen);

/* The resource of a key rlimit_NAME, or -1 when NAME is not one. */
int priv_rlimit_resource(const char *key);

/*
 * An rlimit value: SOFT[:HARD], each a number or infinity/unlimited; SOFT
 * alone sets both. Returns 0 with *ret set, or -1 with the reason in err.
 */
int priv_parse_rlimit(const char *v, struct rlimit *ret, char *err, size_t errlen);

/*
 * Sets c's rlimit for resource (replacing one given before). Returns 0,
 * or -1 when resource already has one (a duplicate key).
 */
int priv_set_rlimit(struct priv_conf *c, int resource, const struct rlimit *lim);

/* Anything for the spawn's struct wd_privilege? */
bool priv_wanted(const struct priv_conf *c);

/* Fills *ret for the spawn from c, which must outlive the spawn call. */
void priv_spawn(const struct priv_conf *c, struct wd_privilege *ret);

/*
 * Says why a start failed in a stage of the credentials or privilege:
 * "KEY = VALUE: what failed: strerror (hint)", into buf. has_user and
 * has_group tell where the groups came from. Returns buf.
 */
const char *priv_describe_failure(const struct priv_conf *c, bool has_user, bool has_group,
				  enum wd_spawn_stage stage, int detail, int err, char *buf,
				  size_t size);

/*
 * Makes sure dir, the runtime directory, is a directory warden can write
 * to: creates it (mode 0700, its parent must exist) when missing. Returns
 * 0, or -1 with the reason in err.
 */
int priv_runtime_dir(const char *dir, char *err, size_t errlen);

#endif
