/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the notify-datagram parser: the input is one datagram, as
 * notify_recv() hands it over (any bytes, NULs included). Besides crashes
 * and UB, the result is compared with a second, deliberately plain reading
 * of the protocol below, so that a parser that quietly misreads a line
 * fails too.
 */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "notify.h"

/* The reference: split at '=' into a NUL-terminated key and value. */
static bool ref_line(const char *line, size_t n, struct notify_msg *m)
{
	char copy[NOTIFY_DATAGRAM_MAX + 1], *val, *end;
	unsigned long long u;

	/* A NUL makes the line malformed; longer lines than a datagram cannot come. */
	if (memchr(line, '\0', n) || n > NOTIFY_DATAGRAM_MAX)
		return false;
	memcpy(copy, line, n);
	copy[n] = '\0';
	val = strchr(copy, '=');
	if (!val)
		return false;
	*val++ = '\0';
	if (strcmp(copy, "READY") == 0 && strcmp(val, "1") == 0)
		m->ready = true;
	else if (strcmp(copy, "STOPPING") == 0 && strcmp(val, "1") == 0)
		m->stopping = true;
	else if (strcmp(copy, "RELOADING") == 0 && strcmp(val, "1") == 0)
		m->reloading = true;
	else if (strcmp(copy, "WATCHDOG") == 0 && strcmp(val, "1") == 0)
		m->watchdog = true;
	else if (strcmp(copy, "WATCHDOG") == 0 && strcmp(val, "trigger") == 0)
		m->watchdog_trigger = true;
	else if (strcmp(copy, "BARRIER") == 0 && strcmp(val, "1") == 0)
		m->barrier = true;
	else if (strcmp(copy, "STATUS") == 0) {
		/* The last STATUS wins, cut to what fits. */
		snprintf(m->status, sizeof(m->status), "%s", val);
		m->has_status = true;
	} else if (strcmp(copy, "EXTEND_TIMEOUT_USEC") == 0 && val[0] >= '0' && val[0] <= '9' &&
		   strspn(val, "0123456789") == strlen(val) && strlen(val) <= 19) {
		/* Up to 19 digits: always below UINT64_MAX, so never ERANGE. */
		errno = 0;
		u = strtoull(val, &end, 10);
		FUZZ_CHECK(errno == 0 && *end == '\0');
		m->extend_usec = u;
		m->has_extend = true;
	} else {
		return false;
	}
	return true;
}

static int ref_parse(const char *buf, size_t len, struct notify_msg *m)
{
	size_t start = 0;
	int understood = 0;

	memset(m, 0, sizeof(*m));
	while (start < len) {
		const char *nl = memchr(buf + start, '\n', len - start);
		size_t n = nl ? (size_t)(nl - (buf + start)) : len - start;

		understood += ref_line(buf + start, n, m);
		start += n + 1;
	}
	return understood;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct notify_msg got, want;
	int r, lines = 1;
	size_t i;

	/* notify_recv() refuses a datagram larger than its buffer. */
	if (size > NOTIFY_DATAGRAM_MAX)
		return -1;
	/* Garbage first: notify_parse() must clear everything itself. */
	memset(&got, 0xa5, sizeof(got));
	r = notify_parse((const char *)data, size, &got);
	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	FUZZ_CHECK(r >= 0 && r <= lines);
	FUZZ_CHECK(memchr(got.status, '\0', sizeof(got.status)));
	FUZZ_CHECK(got.has_status || got.status[0] == '\0');
	FUZZ_CHECK(got.has_extend || got.extend_usec == 0);

	FUZZ_CHECK(ref_parse((const char *)data, size, &want) == r);
	FUZZ_CHECK(got.ready == want.ready);
	FUZZ_CHECK(got.stopping == want.stopping);
	FUZZ_CHECK(got.reloading == want.reloading);
	FUZZ_CHECK(got.watchdog == want.watchdog);
	FUZZ_CHECK(got.watchdog_trigger == want.watchdog_trigger);
	FUZZ_CHECK(got.barrier == want.barrier);
	FUZZ_CHECK(got.has_status == want.has_status);
	FUZZ_CHECK(strcmp(got.status, want.status) == 0);
	FUZZ_CHECK(got.has_extend == want.has_extend);
	FUZZ_CHECK(got.extend_usec == want.extend_usec);
	return 0;
}
