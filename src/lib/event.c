/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <warden/event.h>

void wd_event_timestamp(char *buf)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* Years past 9999 would not fit: RFC 3339 has four digits anyway. */
	if (strftime(buf, WD_EVENT_TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		memcpy(buf, "9999-12-31T23:59:59", 19);
	snprintf(buf + 19, WD_EVENT_TIMESTAMP_MAX - 19, ".%06dZ",
		 (int)(ts.tv_nsec / 1000) % 1000000);
}

void wd_event_begin(struct wd_json *j, char *buf, size_t cap, const char *name)
{
	char ts[WD_EVENT_TIMESTAMP_MAX];

	wd_event_timestamp(ts);
	wd_json_begin(j, buf, cap);
	wd_json_str(j, "ts", ts);
	wd_json_str(j, "event", name);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int wd_event_end(struct wd_json *j, const char *overflow, char *spare, size_t spare_cap,
		 const char **ret_line)
{
	char name[128] = "";
	const char *p;
	struct wd_json s;
	int len;

	len = wd_json_end(j);
	if (len >= 0) {
		*ret_line = j->buf;
		return len;
	}
	if (!overflow)
		return -ENOBUFS;
	/* Recover the name from the prefix, which always fits when anything does. */
	p = j->cap > 0 ? memmem(j->buf, j->len, "\"event\":\"", 9) : NULL;
	if (p) {
		size_t k = 0;

		for (p += 9; p < j->buf + j->len && *p != '"' && k < sizeof(name) - 1; p++)
			name[k++] = *p;
		name[k] = '\0';
	}
	wd_event_begin(&s, spare, spare_cap, overflow);
	wd_json_str(&s, "original", name);
	len = wd_json_end(&s);
	if (len < 0)
		return -ENOBUFS;
	*ret_line = spare;
	return len;
}

int wd_event_emit(int fd, struct wd_json *j, const char *overflow)
{
	char spare[WD_EVENT_SPARE_MAX];
	const char *line;
	int len;

	len = wd_event_end(j, overflow, spare, sizeof(spare), &line);
	if (len < 0)
		return len;
	return write_all(fd, line, (size_t)len);
}
