/* SPDX-License-Identifier: MIT */
/*
 * sigsend: the sending end of the signal-forwarding benchmark, run outside
 * the container, in the host pid namespace.
 *
 *   sigsend PID FIFO SIGNUM[,SIGNUM...] COUNT INTERVAL_US ACK_TIMEOUT_MS SETTLE_MS
 *
 * PID is the init (its host pid); its child runs sigrecv, which writes a
 * record to FIFO for every signal it takes. For each SIGNUM, two phases:
 *
 * lock-step: COUNT times, stamp (CLOCK_MONOTONIC), kill(PID, SIGNUM), wait
 *   up to ACK_TIMEOUT_MS for the record of its arrival. The next signal is
 *   sent only once the previous one has arrived, so nothing may coalesce:
 *   every signal that does not arrive is lost. Latency = arrival stamp -
 *   send stamp. After a timeout it waits as long again for a late arrival
 *   (counted as received, without a latency). 20 timeouts in a row, or 30 s,
 *   end the phase early.
 * stream: COUNT signals, each INTERVAL_US after the previous one, without
 *   waiting for arrivals (a sender held up does not catch up). Standard
 *   signals coalesce when one arrives while the previous is still pending
 *   (in the init or in the child), so "received < sent" is the kernel's
 *   semantics, not a bug, at a pace faster than the path; real-time signals
 *   queue and none may be missing.
 *
 * After each phase it waits up to SETTLE_MS for stragglers. One line per
 * signal on stdout:
 *
 *   sig=N lock_sent= lock_recv= lock_lost= p50_us= p99_us= mean_us= max_us=
 *         stream_sent= stream_recv=
 *
 * Exits 0, or 1 when the receiver never became ready.
 */
#include "common.h"

#include <poll.h>
#include <signal.h>

struct rec {
	int32_t sig;
	int32_t seq;
	int64_t t;
};

static int fd;
static long count[NSIG];
/* In lock-step: the signal being waited for, its send stamp, and its arrival. */
static int want_sig;
static int64_t want_after, got_at;

static void take(const struct rec *r)
{
	if (r->sig <= 0 || r->sig >= NSIG)
		return;
	count[r->sig]++;
	if (r->sig == want_sig && !got_at && r->t >= want_after)
		got_at = r->t;
}

/* Reads every record available now; buffers a partial one across calls. */
static void drain(void)
{
	static char part[sizeof(struct rec)];
	static size_t have;
	char b[16 * 1024];
	ssize_t n;

	for (;;) {
		n = read(fd, b, sizeof(b));
		if (n <= 0)
			return;
		for (ssize_t i = 0; i < n; i++) {
			part[have++] = b[i];
			if (have == sizeof(part)) {
				struct rec r;

				memcpy(&r, part, sizeof(r));
				take(&r);
				have = 0;
			}
		}
	}
}

/* Drains until deadline (ns) or until stop() is true. */
static void drain_until(int64_t deadline, int (*stop)(void))
{
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int64_t left;

		drain();
		if (stop && stop())
			return;
		left = deadline - now_ns();
		if (left <= 0)
			return;
		/* ppoll for sub-millisecond waits */
		struct timespec ts = {left / 1000000000, left % 1000000000};
		if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
			return;
		if (p.revents & (POLLHUP | POLLERR) && !(p.revents & POLLIN))
			return; /* receiver gone */
	}
}

static int arrived(void)
{
	return got_at != 0;
}

static long stream_target;
static int stream_sig;
static int stream_done(void)
{
	return count[stream_sig] >= stream_target;
}

int main(int argc, char **argv)
{
	long n, interval_us, ack_ms, settle_ms;
	char *list, *tok, *save = NULL;
	pid_t pid;

	if (argc != 8) {
		fprintf(stderr, "usage: sigsend PID FIFO SIGNUM[,SIGNUM...] COUNT INTERVAL_US "
				"ACK_TIMEOUT_MS SETTLE_MS\n");
		return 2;
	}
	pid = (pid_t)parse_long(argv[1], "PID");
	n = parse_long(argv[4], "COUNT");
	interval_us = parse_long(argv[5], "INTERVAL_US");
	ack_ms = parse_long(argv[6], "ACK_TIMEOUT_MS");
	settle_ms = parse_long(argv[7], "SETTLE_MS");

	fd = open(argv[2], O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		perror("sigsend: open fifo");
		return 1;
	}
	/* The ready record (signal 0); poll(2) sees nothing until a writer came. */
	{
		int64_t deadline = now_ns() + 10 * (int64_t)1000000000;
		struct pollfd p = {fd, POLLIN, 0};
		struct rec r;
		ssize_t got = -1;

		while (now_ns() < deadline) {
			if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
				got = read(fd, &r, sizeof(r));
				break;
			}
		}
		if (got != (ssize_t)sizeof(r)) {
			fprintf(stderr, "sigsend: the receiver did not become ready\n");
			return 1;
		}
	}

	list = strdup(argv[3]);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int sig = (int)parse_long(tok, "SIGNUM");
		int64_t *lat = calloc((size_t)n + 1, sizeof(*lat));
		long nlat = 0, lsent = 0, before, lrecv, ssent = 0, srecv, streak = 0;
		int64_t phase_end = now_ns() + 30 * (int64_t)1000000000, sum = 0;

		if (sig <= 0 || sig >= NSIG || !lat) {
			fprintf(stderr, "sigsend: bad signal %s\n", tok);
			return 2;
		}

		/* lock-step */
		before = count[sig];
		for (long i = 0; i < n && now_ns() < phase_end && streak < 20; i++) {
			int64_t t0;

			want_sig = sig;
			got_at = 0;
			t0 = now_ns();
			want_after = t0;
			if (kill(pid, sig) < 0) {
				perror("sigsend: kill");
				break;
			}
			lsent++;
			drain_until(t0 + ack_ms * 1000000, arrived);
			if (got_at) {
				lat[nlat++] = got_at - t0;
				streak = 0;
			} else {
				streak++;
				drain_until(now_ns() + ack_ms * 1000000, NULL);
			}
		}
		want_sig = 0;
		stream_sig = sig;
		stream_target = before + lsent;
		drain_until(now_ns() + settle_ms * 1000000, stream_done);
		lrecv = count[sig] - before;

		/* stream */
		before = count[sig];
		{
			int64_t last = 0;

			for (long i = 0; i < n; i++) {
				/* Paced from the previous send, not from a schedule: a
				 * sender that was held up must not catch up in a burst. */
				int64_t at = last + interval_us * 1000;
				struct timespec ts = {at / 1000000000, at % 1000000000};

				if (last)
					while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
							       NULL) == EINTR)
						;
				last = now_ns();
				if (kill(pid, sig) < 0) {
					perror("sigsend: kill");
					break;
				}
				ssent++;
				drain();
			}
		}
		stream_target = before + ssent;
		drain_until(now_ns() + settle_ms * 1000000, stream_done);
		srecv = count[sig] - before;

		qsort(lat, (size_t)nlat, sizeof(*lat), cmp_i64);
		for (long i = 0; i < nlat; i++)
			sum += lat[i];
		if (nlat)
			printf("sig=%d lock_sent=%ld lock_recv=%ld lock_lost=%ld p50_us=%.1f "
			       "p99_us=%.1f mean_us=%.1f max_us=%.1f stream_sent=%ld "
			       "stream_recv=%ld\n",
			       sig, lsent, lrecv, lsent - lrecv, pct(lat, (size_t)nlat, 0.5) / 1e3,
			       pct(lat, (size_t)nlat, 0.99) / 1e3, (double)sum / (double)nlat / 1e3,
			       lat[nlat - 1] / 1e3, ssent, srecv);
		else
			printf("sig=%d lock_sent=%ld lock_recv=%ld lock_lost=%ld p50_us=- p99_us=- "
			       "mean_us=- max_us=- stream_sent=%ld stream_recv=%ld\n",
			       sig, lsent, lrecv, lsent - lrecv, ssent, srecv);
		fflush(stdout);
		free(lat);
	}
	return 0;
}
