/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for lifecycle events as JSON lines (warden/event.h).
 */

#include "unit.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <warden/event.h>

#define TS_LEN 27 /* 2026-11-27T09:58:28.123456Z */

static int digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/*
 * Checks YYYY-MM-DDTHH:MM:SS.uuuuuuZ with fields in range; returns the time
 * in microseconds since the epoch, or -1 with a reason.
 */
static int64_t parse_ts(const char *s, const char **why)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	for (int i = 0; i < TS_LEN; i++) {
		if (shape[i] == 'd' ? !digits(s + i, 1) : s[i] != shape[i]) {
			*why = "not YYYY-MM-DDTHH:MM:SS.uuuuuuZ";
			return -1;
		}
	}
	struct tm tm = {0};
	tm.tm_year = num(s, 4) - 1900;
	tm.tm_mon = num(s + 5, 2) - 1;
	tm.tm_mday = num(s + 8, 2);
	tm.tm_hour = num(s + 11, 2);
	tm.tm_min = num(s + 14, 2);
	tm.tm_sec = num(s + 17, 2);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
		*why = "a field out of range";
		return -1;
	}
	time_t t = timegm(&tm);
	return (int64_t)t * 1000000 + num(s + 20, 6);
}

static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_timestamp_format(void **state)
{
	char buf[32 + CANARY_LEN];
	for (int i = 0; i < 200; i++) {
		fill_canary(buf, sizeof(buf));
		int64_t before = realtime_us();
		wd_event_timestamp(buf);
		int64_t after = realtime_us();
		assert_true(canary_intact(buf + 32, CANARY_LEN));
		assert_int_equal(strnlen(buf, 32), TS_LEN);
		const char *why = "";
		int64_t us = parse_ts(buf, &why);
		if (us < 0) {
			print_error("timestamp \"%s\": %s\n", buf, why);
			fail();
		}
		/* UTC and the current time, to the microsecond (with 1 s of slack) */
		if (us < before - 1000000 || us > after + 1000000) {
			print_error("timestamp \"%s\" is %lld us away from now\n", buf,
				    (long long)(us - before));
			fail();
		}
		if (i % 50 == 49)
			sleep_ms(3);
	}
}

/* Microseconds vary: two stamps 2 ms apart differ in the fraction. */
static void test_timestamp_microseconds(void **state)
{
	char a[32], b[32];
	wd_event_timestamp(a);
	sleep_ms(2);
	wd_event_timestamp(b);
	assert_string_not_equal(a, b);
	const char *why;
	assert_true(parse_ts(b, &why) > parse_ts(a, &why));
}

/* Reads everything available from a non-blocking pipe. */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, size - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return len;
}

/*
 * Checks that line is exactly one event line: {"ts":"<ts>","event":"<name>"
 * and then rest, ending with }\n. expect_rest may be NULL (anything, as
 * long as the line is well formed). Returns the length of the line.
 */
static void check_line_at(const char *line, size_t len, const char *name, const char *expect_rest,
			  int line_no)
{
	const char *why = "";
	int ok = len > 2 && line[len - 1] == '\n' && line[len - 2] == '}' &&
		 memchr(line, '\n', len - 1) == NULL;
	if (ok)
		ok = strncmp(line, "{\"ts\":\"", 7) == 0 && len > 7 + TS_LEN &&
		     parse_ts(line + 7, &why) >= 0;
	const char *after = line + 7 + TS_LEN;
	char head[256];
	if (ok) {
		snprintf(head, sizeof(head), "\",\"event\":\"%s\"", name ? name : "");
		if (name)
			ok = strncmp(after, head, strlen(head)) == 0;
		else
			ok = strncmp(after, "\",\"event\":\"", 11) == 0;
	}
	if (ok && expect_rest) {
		const char *rest = after + strlen(head);
		ok = strlen(rest) == strlen(expect_rest) && strcmp(rest, expect_rest) == 0;
	}
	for (size_t i = 0; ok && i + 1 < len; i++)
		if ((unsigned char)line[i] < 0x20)
			ok = 0;
	if (!ok) {
		print_error("line %d: bad event line (%zu bytes) %s: \"%s\"\n", line_no, len, why,
			    line);
		fail();
	}
}
#define check_line(l, n, name, rest) check_line_at(l, n, name, rest, __LINE__)

static void test_emit_bare(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[WD_EVENT_MAX];
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "start");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	char out[WD_EVENT_MAX + 1];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, "start", "}\n");
	close(p[0]);
	close(p[1]);
}

static void test_emit_fields(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[WD_EVENT_MAX];
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "exit");
	wd_json_str(&j, "service", "web");
	wd_json_int(&j, "pid", 4242);
	wd_json_int(&j, "code", 3);
	wd_json_bool(&j, "core", false);
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	char out[WD_EVENT_MAX + 1];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, "exit",
		   ",\"service\":\"web\",\"pid\":4242,\"code\":3,\"core\":false}\n");

	/* two events: two lines */
	wd_event_begin(&j, buf, sizeof(buf), "a");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	wd_event_begin(&j, buf, sizeof(buf), "b");
	wd_json_null(&j, "x");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	n = read_all(p[0], out, sizeof(out));
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	size_t first = (size_t)(nl - out) + 1;
	char line1[512];
	memcpy(line1, out, first);
	line1[first] = '\0';
	check_line(line1, first, "a", "}\n");
	check_line(out + first, n - first, "b", ",\"x\":null}\n");
	close(p[0]);
	close(p[1]);
}

static void test_emit_escapes_name(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[1024];
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "we\"ird\n");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	char out[2048];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, "we\\\"ird\\n", "}\n");
	close(p[0]);
	close(p[1]);
}

/* An event that does not fit is replaced by a short one, still one line. */
static void test_emit_overflow(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[128 + CANARY_LEN];
	char big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fill_canary(buf, sizeof(buf));
	struct wd_json j;
	wd_event_begin(&j, buf, 128, "output");
	wd_json_str(&j, "line", big);
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	assert_true(canary_intact(buf + 128, CANARY_LEN));
	char out[2048];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, NULL, NULL);
	assert_null(strstr(out, "xxxxxxxxxx")); /* not a partial line */
	close(p[0]);
	close(p[1]);
}

/* Even a buffer too small for the header gets a well-formed line out. */
static void test_emit_overflow_tiny_buffer(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[16 + CANARY_LEN];
	fill_canary(buf, sizeof(buf));
	struct wd_json j;
	wd_event_begin(&j, buf, 16, "start");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), 0);
	assert_true(canary_intact(buf + 16, CANARY_LEN));
	char out[2048];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, NULL, NULL);
	close(p[0]);
	close(p[1]);
}

/* One write() per event: on a SOCK_SEQPACKET socket, one record = one line. */
static void test_emit_single_write(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	char buf[WD_EVENT_MAX];
	char big[3000];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "log");
	wd_json_str(&j, "text", big);
	wd_json_int(&j, "n", 1);
	assert_int_equal(wd_event_emit(sv[0], &j, "event.truncated"), 0);
	char out[WD_EVENT_MAX + 1];
	ssize_t r = recv(sv[1], out, sizeof(out) - 1, MSG_DONTWAIT);
	assert_true(r > 0);
	out[r] = '\0';
	check_line(out, (size_t)r, "log", NULL);
	assert_non_null(strstr(out, big));
	/* nothing else: the whole line came in that one record */
	assert_int_equal(recv(sv[1], out, sizeof(out), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

static void test_emit_bad_fd(void **state)
{
	char buf[256];
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "x");
	assert_int_equal(wd_event_emit(-1, &j, "event.truncated"), -EBADF);
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(fd);
	wd_event_begin(&j, buf, sizeof(buf), "x");
	assert_int_equal(wd_event_emit(fd, &j, "event.truncated"), -EBADF);
	/* a reader that is gone: an error, not a SIGPIPE death */
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	wd_event_begin(&j, buf, sizeof(buf), "x");
	assert_int_equal(wd_event_emit(p[1], &j, "event.truncated"), -EPIPE);
	sigaction(SIGPIPE, &old, NULL);
	close(p[1]);
}

/* The stand-in event carries the name the caller chose: the library knows none. */
static void test_emit_overflow_callers_name(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[128], big[400];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "request.done");
	wd_json_str(&j, "body", big);
	assert_int_equal(wd_event_emit(p[1], &j, "app.lost"), 0);
	char out[2048];
	size_t n = read_all(p[0], out, sizeof(out));
	check_line(out, n, "app.lost", ",\"original\":\"request.done\"}\n");
	close(p[0]);
	close(p[1]);
}

/* With no name for a stand-in, an event that does not fit is an error and writes nothing. */
static void test_emit_overflow_null_writes_nothing(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char buf[64], big[200];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct wd_json j;
	wd_event_begin(&j, buf, sizeof(buf), "x");
	wd_json_str(&j, "body", big);
	assert_int_equal(wd_event_emit(p[1], &j, NULL), -ENOBUFS);
	char out[16];
	assert_int_equal(read(p[0], out, sizeof(out)), -1);
	assert_int_equal(errno, EAGAIN);
	/* An event that fits is written whatever the overflow name. */
	wd_event_begin(&j, buf, sizeof(buf), "fits");
	assert_int_equal(wd_event_emit(p[1], &j, NULL), 0);
	char line[256];
	size_t n = read_all(p[0], line, sizeof(line));
	check_line(line, n, "fits", "}\n");
	close(p[0]);
	close(p[1]);
}

/* wd_event_end(): the line to write, in the event's buffer or in spare. */
static void test_end(void **state)
{
	char buf[256], spare[WD_EVENT_SPARE_MAX], tiny[8], big[400];
	const char *line = NULL;
	struct wd_json j;

	wd_event_begin(&j, buf, sizeof(buf), "ok");
	wd_json_int(&j, "n", -7);
	int len = wd_event_end(&j, "lost", spare, sizeof(spare), &line);
	assert_true(len > 0);
	assert_ptr_equal(line, buf);
	assert_int_equal((size_t)len, strlen(buf));
	check_line(line, (size_t)len, "ok", ",\"n\":-7}\n");

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wd_event_begin(&j, buf, sizeof(buf), "big");
	wd_json_str(&j, "v", big);
	line = NULL;
	len = wd_event_end(&j, "lost", spare, sizeof(spare), &line);
	assert_ptr_equal(line, spare);
	check_line(line, (size_t)len, "lost", ",\"original\":\"big\"}\n");

	/* Not even the stand-in fits: an error, and *ret_line untouched. */
	wd_event_begin(&j, buf, sizeof(buf), "big");
	wd_json_str(&j, "v", big);
	line = NULL;
	assert_int_equal(wd_event_end(&j, "lost", tiny, sizeof(tiny), &line), -ENOBUFS);
	assert_null(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timestamp_format),
		cmocka_unit_test(test_timestamp_microseconds),
		cmocka_unit_test(test_emit_bare),
		cmocka_unit_test(test_emit_fields),
		cmocka_unit_test(test_emit_escapes_name),
		cmocka_unit_test(test_emit_overflow),
		cmocka_unit_test(test_emit_overflow_tiny_buffer),
		cmocka_unit_test(test_emit_overflow_callers_name),
		cmocka_unit_test(test_emit_overflow_null_writes_nothing),
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_emit_single_write),
		cmocka_unit_test(test_emit_bad_fd),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
