/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <warden/shutdown.h>
#include <warden/signals.h>

/*
 * What a step's thread touches. It may outlive the orchestrator (an
 * abandoned step), so it is reference-counted: the orchestrator holds one
 * reference, a running thread another, and the last one frees it.
 */
struct hub {
	atomic_int refs;
	int efd; /* a step's thread kicks it when its fn has returned */
};

struct run {
	atomic_int refs;
	atomic_bool finished;
	int rc; /* written before finished is set, read after */
	wd_shutdown_fn fn;
	void *data;
	struct hub *hub;
};

struct step {
	char *name;
	int stage; /* -1: a step of wd_shutdown_add() */
	unsigned timeout_ms;
	struct run *run; /* allocated when the step is added: running allocates nothing */
	enum wd_shutdown_outcome outcome;
	int code;
	bool running;
	uint64_t start_ns, elapsed_ns;
};

struct wd_shutdown {
	struct step *steps; /* kept in the order they run */
	size_t n, cap;
	size_t nstaged; /* the first nstaged steps are those of a stage */
	struct hub *hub;
	bool ran;
	void (*on_result)(const struct wd_shutdown_result *res, void *data);
	void *on_result_data;
};

#define MS 1000000u /* nanoseconds: deadlines are kept in ns, so none ends early */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void hub_unref(struct hub *h)
{
	if (atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	close(h->efd);
	free(h);
}

static void run_unref(struct run *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	free(r);
}

int wd_shutdown_new(wd_shutdown **ret)
{
	wd_shutdown *sd;
	int r;

	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return -ENOMEM;
	sd->hub = calloc(1, sizeof(*sd->hub));
	if (!sd->hub) {
		free(sd);
		return -ENOMEM;
	}
	atomic_init(&sd->hub->refs, 1);
	sd->hub->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sd->hub->efd < 0) {
		r = -errno;
		free(sd->hub);
		free(sd);
		return r;
	}
	*ret = sd;
	return 0;
}

void wd_shutdown_free(wd_shutdown *sd)
{
	size_t i;

	if (!sd)
		return;
	for (i = 0; i < sd->n; i++) {
		free(sd->steps[i].name);
		run_unref(sd->steps[i].run);
	}
	free(sd->steps);
	hub_unref(sd->hub);
	free(sd);
}

/* Inserts a step at position at, keeping the run order. Returns 0 or -errno. */
static int insert(wd_shutdown *sd, size_t at, int stage, const char *name, wd_shutdown_fn fn,
		  void *data, unsigned timeout_ms)
{
	struct step s = {.stage = stage, .timeout_ms = timeout_ms};

	if (!sd || !name || !fn)
		return -EINVAL;
	if (sd->ran)
		return -EBUSY;
	if (sd->n == sd->cap) {
		size_t cap = sd->cap ? 2 * sd->cap : 8;
		struct step *n = realloc(sd->steps, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sd->steps = n;
		sd->cap = cap;
	}
	s.name = strdup(name);
	s.run = calloc(1, sizeof(*s.run));
	if (!s.name || !s.run) {
		free(s.name);
		free(s.run);
		return -ENOMEM;
	}
	atomic_init(&s.run->refs, 1);
	atomic_init(&s.run->finished, false);
	s.run->fn = fn;
	s.run->data = data;
	s.run->hub = sd->hub;
	memmove(&sd->steps[at + 1], &sd->steps[at], (sd->n - at) * sizeof(sd->steps[0]));
	sd->steps[at] = s;
	sd->n++;
	if (stage >= 0)
		sd->nstaged++;
	return 0;
}

int wd_shutdown_add(wd_shutdown *sd, const char *name, wd_shutdown_fn fn, void *data,
		    unsigned timeout_ms)
{
	/* First of the unstaged: the last added runs first. */
	return insert(sd, sd ? sd->nstaged : 0, -1, name, fn, data, timeout_ms);
}

int wd_shutdown_add_stage(wd_shutdown *sd, int stage, const char *name, wd_shutdown_fn fn,
			  void *data, unsigned timeout_ms)
{
	size_t at = 0;

	if (!sd || stage < 0)
		return -EINVAL;
	/* After every step of the same or an earlier stage: stable within a stage. */
	while (at < sd->nstaged && sd->steps[at].stage <= stage)
		at++;
	return insert(sd, at, stage, name, fn, data, timeout_ms);
}

void wd_shutdown_on_result(wd_shutdown *sd,
			   void (*fn)(const struct wd_shutdown_result *res, void *data), void *data)
{
	sd->on_result = fn;
	sd->on_result_data = data;
}

size_t wd_shutdown_count(const wd_shutdown *sd)
{
	return sd->n;
}

int wd_shutdown_result(const wd_shutdown *sd, size_t i, struct wd_shutdown_result *ret)
{
	const struct step *s;

	if (i >= sd->n)
		return -ENOENT;
	s = &sd->steps[i];
	memset(ret, 0, sizeof(*ret));
	ret->name = s->name;
	ret->stage = s->stage;
	ret->outcome = s->outcome;
	ret->code = s->code;
	ret->elapsed_ms = s->elapsed_ns / MS;
	return 0;
}

const char *wd_shutdown_outcome_str(enum wd_shutdown_outcome outcome)
{
	switch (outcome) {
	case WD_SHUTDOWN_PENDING:
		return "pending";
	case WD_SHUTDOWN_OK:
		return "ok";
	case WD_SHUTDOWN_FAILED:
		return "failed";
	case WD_SHUTDOWN_TIMED_OUT:
		return "timed out";
	case WD_SHUTDOWN_ABANDONED:
		return "abandoned";
	case WD_SHUTDOWN_SKIPPED:
		return "skipped";
	}
	return "unknown";
}

static void *step_thread(void *arg)
{
	struct run *r = arg;
	struct hub *h = r->hub;
	uint64_t one = 1;

	r->rc = r->fn(r->data);
	atomic_store_explicit(&r->finished, true, memory_order_release);
	/* Nothing reads the eventfd's counter but the orchestrator, which resets it. */
	(void)!write(h->efd, &one, sizeof(one));
	run_unref(r);
	hub_unref(h);
	return NULL;
}

/*
 * Starts a step's thread, detached (nobody joins a step that may be
 * abandoned), with every signal blocked: the process's signals are for the
 * thread that reads them, never for a cleanup step. Returns 0 or -errno.
 */
static int start_thread(wd_shutdown *sd, struct step *s)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t old;
	int r, rm;

	r = pthread_attr_init(&attr);
	if (r != 0)
		return -r;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	atomic_fetch_add(&s->run->refs, 1);
	atomic_fetch_add(&sd->hub->refs, 1);
	rm = wd_signal_block_all(0, &old);
	r = pthread_create(&t, &attr, step_thread, s->run);
	if (rm == 0)
		(void)wd_signal_set_mask(&old);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		atomic_fetch_sub(&s->run->refs, 1);
		atomic_fetch_sub(&sd->hub->refs, 1);
		return -r;
	}
	return 0;
}

static void settle(wd_shutdown *sd, struct step *s, enum wd_shutdown_outcome outcome, int code,
		   uint64_t now)
{
	struct wd_shutdown_result res;

	s->outcome = outcome;
	s->code = code;
	if (s->running)
		s->elapsed_ns = now - s->start_ns;
	s->running = false;
	if (sd->on_result) {
		wd_shutdown_result(sd, (size_t)(s - sd->steps), &res);
		sd->on_result(&res, sd->on_result_data);
	}
}

/* The deadline of a running step: its own, or the overall one if sooner. */
static uint64_t step_deadline(const struct step *s, uint64_t overall)
{
	uint64_t own = s->timeout_ms ? s->start_ns + (uint64_t)s->timeout_ms * MS : UINT64_MAX;

	return own < overall ? own : overall;
}

/*
 * Waits for the running steps of [from, to) to end, abandoning each at its
 * deadline, and all of them at an escalation. Returns 0, 1 when escalated,
 * or -errno when poll() fails (the running steps are abandoned then).
 */
static int wait_group(wd_shutdown *sd, size_t from, size_t to, wd_done *done, uint64_t overall)
{
	struct pollfd p[3];
	size_t i, np;
	uint64_t buf;

	for (;;) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		bool running = false;
		int timeout, n;

		for (i = from; i < to; i++) {
			struct step *s = &sd->steps[i];

			if (!s->running)
				continue;
			if (atomic_load_explicit(&s->run->finished, memory_order_acquire)) {
				settle(sd, s, s->run->rc ? WD_SHUTDOWN_FAILED : WD_SHUTDOWN_OK,
				       s->run->rc, now);
				continue;
			}
			if (step_deadline(s, overall) <= now) {
				settle(sd, s, WD_SHUTDOWN_TIMED_OUT, 0, now);
				continue;
			}
			running = true;
			if (step_deadline(s, overall) < next)
				next = step_deadline(s, overall);
		}
		if (!running)
			return 0;
		if (done && wd_done_is_escalated(done)) {
			for (i = from; i < to; i++)
				if (sd->steps[i].running)
					settle(sd, &sd->steps[i], WD_SHUTDOWN_ABANDONED, 0, now);
			return 1;
		}
		np = 0;
		p[np++] = (struct pollfd){.fd = sd->hub->efd, .events = POLLIN};
		if (done) {
			p[np++] =
				(struct pollfd){.fd = wd_done_escalated_fd(done), .events = POLLIN};
			if (wd_done_signal_fd(done) >= 0)
				p[np++] = (struct pollfd){.fd = wd_done_signal_fd(done),
							  .events = POLLIN};
		}
		/* Rounded up: poll() must not wake before the deadline. */
		if (next == UINT64_MAX)
			timeout = -1;
		else if ((next - now) / MS >= 1000000)
			timeout = 1000000;
		else
			timeout = (int)((next - now + MS - 1) / MS);
		n = poll(p, np, timeout);
		if (n < 0 && errno != EINTR) {
			int r = -errno;

			for (i = from; i < to; i++)
				if (sd->steps[i].running)
					settle(sd, &sd->steps[i], WD_SHUTDOWN_ABANDONED, r,
					       now_ns());
			return r;
		}
		if (n > 0 && p[0].revents)
			(void)!read(sd->hub->efd, &buf, sizeof(buf));
		if (n > 0 && np == 3 && p[2].revents)
			(void)wd_done_read_signals(done);
	}
}

int wd_shutdown_run(wd_shutdown *sd, wd_done *done, unsigned timeout_ms)
{
	uint64_t start = now_ns(),
		 overall = timeout_ms ? start + (uint64_t)timeout_ms * MS : UINT64_MAX;
	size_t i = 0, j, bad = 0;
	int stop = 0; /* 1: escalated, < 0: cannot wait */

	if (sd->ran)
		return -EBUSY;
	sd->ran = true;
	while (i < sd->n) {
		/* A group: the steps of one stage, or one step of wd_shutdown_add(). */
		j = i + 1;
		if (sd->steps[i].stage >= 0)
			while (j < sd->n && sd->steps[j].stage == sd->steps[i].stage)
				j++;
		if (!stop && done && wd_done_is_escalated(done))
			stop = 1;
		if (stop || now_ns() >= overall)
			break;
		for (size_t k = i; k < j; k++) {
			struct step *s = &sd->steps[k];
			int r = start_thread(sd, s);

			if (r < 0) {
				settle(sd, s, WD_SHUTDOWN_SKIPPED, r, now_ns());
				continue;
			}
			s->running = true;
			s->start_ns = now_ns();
		}
		stop = wait_group(sd, i, j, done, overall);
		i = j;
	}
	for (; i < sd->n; i++)
		settle(sd, &sd->steps[i], WD_SHUTDOWN_SKIPPED, 0, now_ns());
	for (i = 0; i < sd->n; i++)
		if (sd->steps[i].outcome != WD_SHUTDOWN_OK)
			bad++;
	if (stop < 0)
		return stop;
	return (int)bad;
}

int wd_shutdown_write_report(const wd_shutdown *sd, int fd)
{
	char line[512];
	size_t i, off;
	int len;

	for (i = 0; i < sd->n; i++) {
		const struct step *s = &sd->steps[i];
		unsigned long long ms = (unsigned long long)(s->elapsed_ns / MS);

		switch (s->outcome) {
		case WD_SHUTDOWN_OK:
			len = snprintf(line, sizeof(line), "shutdown: %s: ok in %llu ms\n", s->name,
				       ms);
			break;
		case WD_SHUTDOWN_FAILED:
			len = snprintf(line, sizeof(line),
				       "shutdown: %s: failed (code %d) in %llu ms\n", s->name,
				       s->code, ms);
			break;
		case WD_SHUTDOWN_TIMED_OUT:
			len = snprintf(line, sizeof(line),
				       "shutdown: %s: timed out after %llu ms, abandoned\n",
				       s->name, ms);
			break;
		case WD_SHUTDOWN_ABANDONED:
			len = snprintf(line, sizeof(line),
				       "shutdown: %s: abandoned at escalation after %llu ms\n",
				       s->name, ms);
			break;
		case WD_SHUTDOWN_SKIPPED:
			if (s->code)
				len = snprintf(line, sizeof(line),
					       "shutdown: %s: skipped (cannot start: code %d)\n",
					       s->name, s->code);
			else
				len = snprintf(line, sizeof(line), "shutdown: %s: skipped\n",
					       s->name);
			break;
		default:
			len = snprintf(line, sizeof(line), "shutdown: %s: pending\n", s->name);
			break;
		}
		if (len < 0)
			return -EINVAL;
		if ((size_t)len >= sizeof(line)) {
			/* A very long name: the line is cut, its end kept a line end. */
			len = sizeof(line) - 1;
			line[len - 1] = '\n';
		}
		for (off = 0; off < (size_t)len;) {
			ssize_t n = write(fd, line + off, (size_t)len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			off += (size_t)n;
		}
	}
	return 0;
}

/* Flushes f unless another thread holds its lock (an abandoned step may, forever). */
static void flush_if_free(FILE *f)
{
	if (ftrylockfile(f) != 0)
		return;
	fflush(f);
	funlockfile(f);
}

void wd_shutdown_exit(int code)
{
	flush_if_free(stdout);
	flush_if_free(stderr);
	_exit(code & 0xff);
}
