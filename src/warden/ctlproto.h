/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CTLPROTO_H
#define WARDEN_CTLPROTO_H

/*
 * The control protocol, both ends: one request a line, words separated by
 * spaces, "VERB [ARG...] [OPTION...]"; one JSON object a line in reply.
 * warden-ctl(1) documents it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_REQUEST_MAX 4096 /* bytes in a request line, newline included */
#define CTL_ARGS_MAX 256     /* services named in one request */

enum ctl_verb {
	CTL_STATUS,
	CTL_START,
	CTL_STOP,
	CTL_RESTART,
	CTL_SIGNAL,
	CTL_WAIT,
	CTL_RELOAD,
	CTL_SHUTDOWN,
	CTL_DUMP,
	CTL_METRICS,
	NCTLVERBS
};

/* Error kinds: each has its own exit code in warden ctl. */
enum ctl_error {
	CTL_OK = 0,
	CTL_EFAILED = 1,    /* the request ran and failed (e.g. a service failed) */
	CTL_EUSAGE = 2,	    /* a bad request */
	CTL_ENOSERVICE = 3, /* no such service */
	CTL_EREFUSED = 4,   /* permission */
	CTL_ENOWARDEN = 5,  /* nobody answers on the socket (client side) */
	CTL_ETIMEDOUT = 6,  /* wait --timeout ran out */
};

struct ctl_request {
	enum ctl_verb verb;
	char *args[CTL_ARGS_MAX]; /* point into the caller's line */
	size_t nargs;
	int signal;	  /* CTL_SIGNAL */
	bool ready;	  /* wait --ready */
	uint64_t timeout; /* wait --timeout, ns; 0: none */
	bool openmetrics; /* metrics --openmetrics */
};

/* The verb's name, and whether a read-only client may use it. */
const char *ctl_verb_name(enum ctl_verb v);
bool ctl_verb_readonly(enum ctl_verb v);

/* The name of an error kind in replies ("no_such_service"), and back. */
const char *ctl_error_name(enum ctl_error e);
enum ctl_error ctl_error_from_name(const char *name);

/*
 * Parses one request line (without its newline), in place: the words are
 * cut with NULs. Returns 0, or -1 with a message in err.
 */
int ctl_parse(char *line, struct ctl_request *req, char *err, size_t errlen);

#endif
