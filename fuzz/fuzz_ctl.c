/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the control-request parser: the input is one request line as the
 * server hands it to ctl_parse(), without its newline. The server splits its
 * input at newlines and refuses a line holding a NUL or longer than
 * CTL_REQUEST_MAX - 1 bytes before parsing, so such inputs are skipped.
 *
 * Besides crashes and UB, it checks what ctlproto.h and warden-ctl(1)
 * promise: on success the verb is known, the number of services suits the
 * verb, every argument is a word of the line (pointing into it, in order),
 * the signal of "signal" is a signal (1 to 64; KILL and STOP are allowed:
 * an operator may need them), --ready and --timeout
 * (above 0) come only with "wait", --openmetrics only with "metrics"; the line is changed only
 * where a blank became a NUL; on failure there is a message. The result is compared with a second,
 * plain reading of the protocol, and a request rebuilt from a parsed one must parse to the same
 * thing.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include <warden/clock.h>
#include <warden/signals.h>

#include "ctlproto.h"
#include "fuzz.h"

#define LINE_MAX_BYTES (CTL_REQUEST_MAX - 1)
#define ERR_LEN 512 /* CONFIG_ERR_MAX, the size the server passes */

/* The protocol as warden-ctl(1) describes it, independently of ctlproto.c. */
static const struct {
	const char *name;
	size_t min, max; /* services named (signal: the service) */
	bool readonly;
} spec[NCTLVERBS] = {
	[CTL_STATUS] = {"status", 0, CTL_ARGS_MAX, true},
	[CTL_START] = {"start", 1, CTL_ARGS_MAX, false},
	[CTL_STOP] = {"stop", 1, CTL_ARGS_MAX, false},
	[CTL_RESTART] = {"restart", 1, CTL_ARGS_MAX, false},
	[CTL_SIGNAL] = {"signal", 1, 1, false},
	[CTL_WAIT] = {"wait", 1, CTL_ARGS_MAX, true},
	[CTL_RELOAD] = {"reload", 0, 0, false},
	[CTL_SHUTDOWN] = {"shutdown", 0, 0, false},
	[CTL_DUMP] = {"dump", 0, 0, true},
	[CTL_METRICS] = {"metrics", 0, 0, true},
};

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* What a request means, words as offsets into the line. */
struct ref {
	int verb;
	size_t nargs;
	size_t off[CTL_ARGS_MAX + 1]; /* services; for signal, then the signal word */
	int signal;
	bool ready;
	uint64_t timeout;
	bool openmetrics;
};

/* Splits a pristine copy of the line into words: offsets and lengths. */
static size_t split(const char *s, size_t len, size_t *off, size_t *wlen)
{
	size_t i = 0, n = 0;

	while (i < len) {
		if (blank(s[i])) {
			i++;
			continue;
		}
		off[n] = i;
		while (i < len && !blank(s[i]))
			i++;
		wlen[n] = i - off[n];
		n++;
	}
	return n;
}

/* The plain reading. Returns 0 with *r filled, or -1 for a bad request. */
static int ref_parse(const char *s, size_t len, struct ref *r)
{
	static size_t off[LINE_MAX_BYTES], wlen[LINE_MAX_BYTES];
	char word[LINE_MAX_BYTES + 1];
	size_t n = split(s, len, off, wlen), i;
	int v;

	memset(r, 0, sizeof(*r));
	r->verb = -1;
	/* The limit on words: services plus a few options, then refused. */
	if (n == 0 || n > CTL_ARGS_MAX + 8)
		return -1;
	for (v = 0; v < NCTLVERBS; v++)
		if (wlen[0] == strlen(spec[v].name) &&
		    memcmp(s + off[0], spec[v].name, wlen[0]) == 0)
			break;
	if (v == NCTLVERBS)
		return -1;
	r->verb = v;
	for (i = 1; i < n; i++) {
		memcpy(word, s + off[i], wlen[i]);
		word[wlen[i]] = '\0';
		if (word[0] != '-') {
			if (r->nargs == CTL_ARGS_MAX)
				return -1;
			r->off[r->nargs++] = off[i];
		} else if (v == CTL_WAIT && strcmp(word, "--ready") == 0) {
			r->ready = true;
		} else if (v == CTL_WAIT && strcmp(word, "--timeout") == 0) {
			if (i + 1 == n)
				return -1;
			i++;
			memcpy(word, s + off[i], wlen[i]);
			word[wlen[i]] = '\0';
			if (wd_duration_parse(word, &r->timeout) < 0 || r->timeout == 0)
				return -1;
		} else if (v == CTL_METRICS && strcmp(word, "--openmetrics") == 0) {
			r->openmetrics = true;
		} else if (v == CTL_SIGNAL && r->nargs == 1) {
			/* "signal web -HUP", as kill(1) writes it */
			if (wd_signal_parse(word + 1, false, &r->signal) < 0)
				return -1;
			r->off[r->nargs++] = off[i];
		} else {
			return -1;
		}
	}
	if (v == CTL_SIGNAL) {
		if (r->nargs != 2)
			return -1;
		for (i = 1; off[i] != r->off[1]; i++)
			;
		memcpy(word, s + off[i], wlen[i]);
		word[wlen[i]] = '\0';
		if (wd_signal_parse(word[0] == '-' ? word + 1 : word, false, &r->signal) < 0)
			return -1;
		r->nargs = 1;
	}
	if (r->nargs < spec[v].min || r->nargs > spec[v].max)
		return -1;
	return 0;
}

/* Checks a successful parse of buf (size bytes, a copy of orig). */
static void check_ok(const char *orig, const char *buf, size_t size, const struct ctl_request *q)
{
	const char *end = buf + size;
	size_t i, last = SIZE_MAX;

	FUZZ_CHECK((unsigned)q->verb < NCTLVERBS);
	FUZZ_CHECK(strcmp(ctl_verb_name(q->verb), spec[q->verb].name) == 0);
	FUZZ_CHECK(ctl_verb_readonly(q->verb) == spec[q->verb].readonly);
	FUZZ_CHECK(q->nargs >= spec[q->verb].min && q->nargs <= spec[q->verb].max);
	FUZZ_CHECK(q->nargs <= CTL_ARGS_MAX);
	for (i = 0; i < q->nargs; i++) {
		const char *a = q->args[i];
		size_t off;

		FUZZ_CHECK(a >= buf && a < end);
		off = (size_t)(a - buf);
		/* A whole word, in order: a blank or the start before it. */
		FUZZ_CHECK(last == SIZE_MAX || off > last);
		FUZZ_CHECK(off == 0 || blank(orig[off - 1]));
		FUZZ_CHECK(memchr(a, '\0', (size_t)(end - a) + 1));
		FUZZ_CHECK(a[0] != '\0' && a[0] != '-');
		FUZZ_CHECK(strcspn(a, " \t\r") == strlen(a));
		FUZZ_CHECK(a + strlen(a) == end || blank(orig[off + strlen(a)]));
		FUZZ_CHECK(memcmp(a, orig + off, strlen(a)) == 0);
		last = off;
	}
	/* What lies beyond nargs was cleared, but for the word of the signal. */
	for (i = q->nargs; i < CTL_ARGS_MAX; i++) {
		if (q->verb == CTL_SIGNAL && i == 1) {
			FUZZ_CHECK(q->args[1] > q->args[0] && q->args[1] < end);
			continue;
		}
		FUZZ_CHECK(q->args[i] == NULL);
	}
	if (q->verb == CTL_SIGNAL)
		FUZZ_CHECK(q->signal >= 1 && q->signal <= WD_SIGRTMAX);
	else
		FUZZ_CHECK(q->signal == 0);
	FUZZ_CHECK(q->verb == CTL_WAIT || (!q->ready && q->timeout == 0));
	FUZZ_CHECK(q->verb == CTL_METRICS || !q->openmetrics);
}

/* Writes the request back as a line that must mean the same. */
static void rebuild(const struct ctl_request *q, char *out, size_t outlen)
{
	size_t n = 0, i;

	n += (size_t)snprintf(out + n, outlen - n, "%s", ctl_verb_name(q->verb));
	for (i = 0; i < q->nargs && n < outlen; i++)
		n += (size_t)snprintf(out + n, outlen - n, "\t%s", q->args[i]);
	if (n < outlen && q->verb == CTL_SIGNAL)
		n += (size_t)snprintf(out + n, outlen - n, " -%d", q->signal);
	if (n < outlen && q->ready)
		n += (size_t)snprintf(out + n, outlen - n, " --ready");
	if (n < outlen && q->openmetrics)
		n += (size_t)snprintf(out + n, outlen - n, " --openmetrics");
	/* Whole seconds and nine decimals: exact to the nanosecond. */
	if (n < outlen && q->timeout)
		n += (size_t)snprintf(out + n, outlen - n,
				      " \r--timeout  %" PRIu64 ".%09" PRIu64 "s",
				      q->timeout / WD_NSEC_PER_SEC, q->timeout % WD_NSEC_PER_SEC);
	FUZZ_CHECK(n < outlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_request q, q2;
	struct ref want;
	char *buf, *err, *small, *again;
	size_t i;
	int r, r2;

	/* The server never passes such a line (see above). */
	if (size > LINE_MAX_BYTES || memchr(data, '\0', size) || memchr(data, '\n', size))
		return -1;
	buf = malloc(size + 1);
	again = malloc(size + 1);
	err = malloc(ERR_LEN);
	small = malloc(8);
	FUZZ_CHECK(buf && again && err && small);
	memcpy(buf, data, size);
	buf[size] = '\0';
	memcpy(again, buf, size + 1);

	/* Garbage first: ctl_parse() must clear everything itself. */
	memset(&q, 0xa5, sizeof(q));
	memset(err, 0xa5, ERR_LEN);
	r = ctl_parse(buf, &q, err, ERR_LEN);
	FUZZ_CHECK(r == 0 || r == -1);

	/* Only blanks may have become NULs; the terminator stays. */
	for (i = 0; i < size; i++)
		FUZZ_CHECK(buf[i] == (char)data[i] || (buf[i] == '\0' && blank((char)data[i])));
	FUZZ_CHECK(buf[size] == '\0');

	FUZZ_CHECK(ref_parse((const char *)data, size, &want) == r);
	if (r < 0) {
		FUZZ_CHECK(memchr(err, '\0', ERR_LEN) && err[0] != '\0');
	} else {
		check_ok((const char *)data, buf, size, &q);
		FUZZ_CHECK((int)q.verb == want.verb);
		FUZZ_CHECK(q.nargs == want.nargs);
		for (i = 0; i < q.nargs; i++)
			FUZZ_CHECK((size_t)(q.args[i] - buf) == want.off[i]);
		FUZZ_CHECK(q.signal == want.signal);
		FUZZ_CHECK(q.ready == want.ready);
		FUZZ_CHECK(q.timeout == want.timeout);
		FUZZ_CHECK(q.openmetrics == want.openmetrics);
	}

	/* Again with a short buffer for the message: same result, cut message. */
	r2 = ctl_parse(again, &q2, small, 8);
	FUZZ_CHECK(r2 == r);
	if (r < 0) {
		size_t want_len = strlen(err) < 7 ? strlen(err) : 7;

		FUZZ_CHECK(strlen(small) == want_len && strncmp(small, err, want_len) == 0);
	}

	/* A request written back from the parsed one means the same. */
	if (r == 0) {
		char line[LINE_MAX_BYTES + 128];

		rebuild(&q, line, sizeof(line));
		FUZZ_CHECK(ctl_parse(line, &q2, err, ERR_LEN) == 0);
		FUZZ_CHECK(q2.verb == q.verb && q2.nargs == q.nargs);
		for (i = 0; i < q.nargs; i++)
			FUZZ_CHECK(strcmp(q2.args[i], q.args[i]) == 0);
		FUZZ_CHECK(q2.signal == q.signal && q2.ready == q.ready && q2.timeout == q.timeout);
		FUZZ_CHECK(q2.openmetrics == q.openmetrics);
	}
	free(buf);
	free(again);
	free(err);
	free(small);
	return 0;
}
