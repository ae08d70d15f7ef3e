/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include <warden/clock.h>
#include <warden/signals.h>

#include "ctlproto.h"

static const struct {
	const char *name;
	bool readonly;
	int min_args, max_args; /* services (signal: service and signal) */
} verbs[NCTLVERBS] = {
	[CTL_STATUS] = {"status", true, 0, CTL_ARGS_MAX},
	[CTL_START] = {"start", false, 1, CTL_ARGS_MAX},
	[CTL_STOP] = {"stop", false, 1, CTL_ARGS_MAX},
	[CTL_RESTART] = {"restart", false, 1, CTL_ARGS_MAX},
	[CTL_SIGNAL] = {"signal", false, 2, 2},
	[CTL_WAIT] = {"wait", true, 1, CTL_ARGS_MAX},
	[CTL_RELOAD] = {"reload", false, 0, 0},
	[CTL_SHUTDOWN] = {"shutdown", false, 0, 0},
	[CTL_DUMP] = {"dump", true, 0, 0},
	[CTL_METRICS] = {"metrics", true, 0, 0},
};

static const char *const errors[] = {
	[CTL_OK] = "ok",
	[CTL_EFAILED] = "failed",
	[CTL_EUSAGE] = "bad_request",
	[CTL_ENOSERVICE] = "no_such_service",
	[CTL_EREFUSED] = "refused",
	[CTL_ENOWARDEN] = "no_warden",
	[CTL_ETIMEDOUT] = "timed_out",
};

const char *ctl_verb_name(enum ctl_verb v)
{
	return verbs[v].name;
}

bool ctl_verb_readonly(enum ctl_verb v)
{
	return verbs[v].readonly;
}

const char *ctl_error_name(enum ctl_error e)
{
	return errors[e];
}

enum ctl_error ctl_error_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (strcmp(errors[i], name) == 0)
			return (enum ctl_error)i;
	return CTL_EFAILED;
}

int ctl_parse(char *line, struct ctl_request *req, char *err, size_t errlen)
{
	char *words[CTL_ARGS_MAX + 8], *p = line;
	size_t n = 0, i;
	int v = -1;

	memset(req, 0, sizeof(*req));
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (!*p)
			break;
		if (n == sizeof(words) / sizeof(words[0])) {
			snprintf(err, errlen, "too many words in the request");
			return -1;
		}
		words[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n == 0) {
		snprintf(err, errlen, "empty request");
		return -1;
	}
	for (i = 0; i < NCTLVERBS; i++)
		if (strcmp(words[0], verbs[i].name) == 0)
			v = (int)i;
	if (v < 0) {
		snprintf(err, errlen, "unknown verb '%.64s'", words[0]);
		return -1;
	}
	req->verb = (enum ctl_verb)v;
	for (i = 1; i < n; i++) {
		if (words[i][0] != '-') {
			if (req->nargs == CTL_ARGS_MAX) {
				snprintf(err, errlen, "too many services (at most %d)",
					 CTL_ARGS_MAX);
				return -1;
			}
			req->args[req->nargs++] = words[i];
		} else if (req->verb == CTL_WAIT && strcmp(words[i], "--ready") == 0) {
			req->ready = true;
		} else if (req->verb == CTL_WAIT && strcmp(words[i], "--timeout") == 0) {
			if (i + 1 == n || wd_duration_parse(words[i + 1], &req->timeout) < 0 ||
			    req->timeout == 0) {
				snprintf(err, errlen,
					 "--timeout needs a duration above 0 (e.g. 30s)");
				return -1;
			}
			i++;
		} else if (req->verb == CTL_METRICS && strcmp(words[i], "--openmetrics") == 0) {
			req->openmetrics = true;
		} else if (req->verb == CTL_SIGNAL && req->nargs == 1 &&
			   wd_signal_parse(words[i] + 1, false, &req->signal) == 0) {
			/* "signal web -HUP", as kill(1) writes it */
			req->args[req->nargs++] = words[i];
		} else {
			snprintf(err, errlen, "unknown option '%.64s' for %s", words[i],
				 verbs[v].name);
			return -1;
		}
	}
	if ((int)req->nargs < verbs[v].min_args || (int)req->nargs > verbs[v].max_args) {
		if (verbs[v].max_args == 0)
			snprintf(err, errlen, "%s takes no argument", verbs[v].name);
		else if (req->verb == CTL_SIGNAL)
			snprintf(err, errlen, "signal needs a service and a signal");
		else
			snprintf(err, errlen, "%s needs at least one service", verbs[v].name);
		return -1;
	}
	if (req->verb == CTL_SIGNAL) {
		const char *s = req->args[1][0] == '-' ? req->args[1] + 1 : req->args[1];

		/* Any signal, KILL and STOP included: the operator may need them. */
		if (wd_signal_parse(s, false, &req->signal) < 0) {
			snprintf(err, errlen, "unknown signal '%.64s'", req->args[1]);
			return -1;
		}
		req->nargs = 1;
	}
	return 0;
}
