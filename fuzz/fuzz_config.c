/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the config parser: the input is the text of a config file. Besides
 * crashes, leaks and UB, it checks what config.h promises: on success every
 * service is complete and consistent, on failure the message names the file
 * and the result is untouched. On success it also reads the text again with
 * plain ini_parse_string() and checks that each section's keys went to the
 * service of that name (config.c finds section headers with a reader of its
 * own, which must agree with inih).
 *
 * user = and group = look names up in WARDEN_PASSWD and WARDEN_GROUP (default
 * /etc/passwd and /etc/group); the meson tests point them at fuzz/etc/ so
 * that a replay gives the same result on every machine.
 */

#include <ini.h>
#include <stdbool.h>
#include <string.h>

#include <warden/signals.h>

#include "config.h"
#include "fuzz.h"

#define NAME "fuzz.conf"

/* As config.c bounds a service name; a longer one must have been refused. */
#define MAX_NAME 48

static bool valid_name(const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
			    s[n]))
			return false;
	return n > 0 && n <= MAX_NAME;
}

static void check_svc(const struct config *c, size_t i)
{
	const struct svc_conf *s = &c->svcs[i];
	size_t k;

	FUZZ_CHECK(s->name && valid_name(s->name));
	FUZZ_CHECK(strcmp(s->name, "warden") != 0);
	FUZZ_CHECK(config_find(c, s->name) == (int)i);
	FUZZ_CHECK(s->line > 0);
	FUZZ_CHECK(s->argv && s->argv[0]);
	FUZZ_CHECK(s->fingerprint && strstr(s->fingerprint, "command = "));
	FUZZ_CHECK(s->nenv == strv_len(s->env));
	for (k = 0; k < s->nenv; k++)
		FUZZ_CHECK(strchr(s->env[k], '=') && s->env[k][0] != '=');
	FUZZ_CHECK(s->nafter == strv_len(s->after));
	for (k = 0; k < s->nafter; k++) {
		int j = config_find(c, s->after[k]);

		FUZZ_CHECK(j >= 0 && (size_t)j != i);
	}
	FUZZ_CHECK(s->umask >= -1 && s->umask <= 0777);
	FUZZ_CHECK(s->restart_delay_max >= s->restart_delay);
	FUZZ_CHECK(s->stop_signal >= 1 && s->stop_signal <= WD_SIGRTMAX);
	FUZZ_CHECK(s->ngroups == 0 || (s->has_user && s->groups));
	FUZZ_CHECK(!s->watchdog || s->ready == READY_NOTIFY);
	FUZZ_CHECK(!(s->type == SVC_ONESHOT && s->restart == RESTART_ALWAYS));
	switch (s->ready) {
	case READY_FD:
		FUZZ_CHECK(s->ready_fd >= 3 && s->ready_fd <= 1023);
		break;
	case READY_EXEC:
		FUZZ_CHECK(s->ready_argv && s->ready_argv[0]);
		break;
	case READY_TCP:
		FUZZ_CHECK(s->ready_host && s->ready_port && s->ready_port[0]);
		break;
	case READY_NONE:
	case READY_NOTIFY:
		break;
	}
	FUZZ_CHECK(!s->directory || s->directory[0] == '/');
	FUZZ_CHECK(s->health_interval > 0 && s->health_timeout > 0 && s->health_failures >= 1);
	FUZZ_CHECK(s->health == HEALTH_NONE || s->type != SVC_ONESHOT);
	FUZZ_CHECK((s->health == HEALTH_NONE) == !s->health_spec);
	switch (s->health) {
	case HEALTH_EXEC:
		FUZZ_CHECK(s->health_argv && s->health_argv[0]);
		break;
	case HEALTH_HTTP:
		/* One request line, then headers: nothing of the path can break it. */
		FUZZ_CHECK(s->health_request && strncmp(s->health_request, "GET /", 5) == 0);
		FUZZ_CHECK(strchr(s->health_request, '\r') ==
			   strstr(s->health_request, " HTTP/1.0\r") + 9);
		FUZZ_CHECK(strlen(s->health_request) < 2048);
		/* fall through */
	case HEALTH_TCP:
		FUZZ_CHECK(s->health_host && s->health_port && s->health_port[0]);
		break;
	case HEALTH_NONE:
		FUZZ_CHECK(!s->health_argv && !s->health_host && !s->health_request);
		break;
	}
}

/* What inih reports for one section: "key = value\n" lines, as fingerprints. */
struct section_keys {
	char name[64];
	char *keys;
};

struct sections {
	struct section_keys *v;
	size_t n;
};

static int collect(void *user, const char *section, const char *name, const char *value)
{
	struct sections *ss = user;
	struct section_keys *s = NULL, *nv;
	size_t i, old, add;
	char *nk;

	for (i = 0; i < ss->n && !s; i++)
		if (strcmp(ss->v[i].name, section) == 0)
			s = &ss->v[i];
	if (!s) {
		nv = realloc(ss->v, (ss->n + 1) * sizeof(*nv));
		FUZZ_CHECK(nv);
		ss->v = nv;
		s = &nv[ss->n++];
		snprintf(s->name, sizeof(s->name), "%s", section);
		s->keys = NULL;
	}
	old = s->keys ? strlen(s->keys) : 0;
	add = strlen(name) + strlen(value) + 4;
	nk = realloc(s->keys, old + add + 1);
	FUZZ_CHECK(nk);
	snprintf(nk + old, add + 1, "%s = %s\n", name, value);
	s->keys = nk;
	return 1;
}

/*
 * Every section inih reports is [warden] or a service with exactly those
 * keys, and every service had its keys reported under its own name.
 */
static void check_sections(const struct config *c, const char *text)
{
	struct sections ss = {0};
	size_t i, with_keys = 0;

	/* config_load_string() left inih's settings as it wants them. */
	FUZZ_CHECK(ini_parse_string(text, collect, &ss) == 0);
	for (i = 0; i < ss.n; i++) {
		const char *fp;

		if (strcmp(ss.v[i].name, "warden") == 0) {
			fp = c->global_fingerprint;
		} else {
			int j = config_find(c, ss.v[i].name);

			if (j < 0)
				fprintf(stderr, "inih saw keys in [%s], which is no service\n",
					ss.v[i].name);
			FUZZ_CHECK(j >= 0);
			fp = c->svcs[j].fingerprint;
			with_keys++;
		}
		if (!fp || strcmp(fp, ss.v[i].keys) != 0)
			fprintf(stderr, "[%s]: inih saw\n%s--- config.c kept\n%s---\n",
				ss.v[i].name, ss.v[i].keys, fp ? fp : "(nothing)\n");
		FUZZ_CHECK(fp && strcmp(fp, ss.v[i].keys) == 0);
		free(ss.v[i].keys);
	}
	/* Each service has a command, so inih must have reported each one. */
	FUZZ_CHECK(with_keys == c->nsvcs);
	free(ss.v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char untouched_path[] = "untouched";
	static const struct config untouched = {.path = untouched_path, .nsvcs = 12345};
	struct config c;
	char err[CONFIG_ERR_MAX];
	char *text;
	size_t i;

	/*
	 * config_load() refuses a file that holds a NUL before parsing, so text
	 * with one never reaches config_load_string(): do the same rather than
	 * fuzz the prefix again under another name.
	 */
	if (memchr(data, '\0', size) || size > (4 << 20))
		return -1;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	/* memcpy, not assignment, so that the padding compares equal too. */
	memcpy(&c, &untouched, sizeof(c));
	memset(err, 'x', sizeof(err));

	if (config_load_string(NAME, text, &c, err) == 0) {
		FUZZ_CHECK(c.path && strcmp(c.path, NAME) == 0);
		FUZZ_CHECK(c.nsvcs > 0 && c.svcs);
		FUZZ_CHECK(c.log_format == LOG_PREFIX || c.log_format == LOG_JSON ||
			   c.log_format == LOG_RAW);
		for (i = 0; i < c.nsvcs; i++)
			check_svc(&c, i);
		check_sections(&c, text);
		config_free(&c);
	} else {
		/* Untouched result; a terminated message that names the file. */
		FUZZ_CHECK(memcmp(&c, &untouched, sizeof(c)) == 0);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)));
		FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0);
		FUZZ_CHECK(strlen(err) > strlen(NAME ": "));
	}
	free(text);
	return 0;
}
