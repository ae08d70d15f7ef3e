/* SPDX-License-Identifier: MIT */
#include "unit.h"
#include <pthread.h>
#include <stdatomic.h>
#include <warden/done.h>
#include <warden/shutdown.h>
#include <warden/signals.h>

/* The order steps ran in, as the letters of their names. */
static char order[64];
static atomic_int norder;

static void note_tid(void);

static int record_step(void *data)
{
	note_tid();
	int i = atomic_fetch_add(&norder, 1);

	if (i < (int)sizeof(order) - 1)
		order[i] = *(const char *)data;
	return 0;
}

static void reset_order(void)
{
	memset(order, 0, sizeof(order));
	atomic_store(&norder, 0);
}

/*
 * The threads the steps ran in, so that a test can wait until each is gone
 * (/proc/self/task/TID disappears): a detached thread cannot be joined.
 */
static atomic_int step_tids[64];
static atomic_int nstep_tids;

static void note_tid(void)
{
	int i = atomic_fetch_add(&nstep_tids, 1);

	if (i < 64)
		atomic_store(&step_tids[i], (int)syscall(SYS_gettid));
}

/* Waits (bounded) until every step's thread is gone. */
static int wait_one_thread(void)
{
	int n = atomic_load(&nstep_tids);

	for (int i = 0; i < n && i < 64; i++) {
		char path[64];
		int gone = 0;

		snprintf(path, sizeof(path), "/proc/self/task/%d", atomic_load(&step_tids[i]));
		for (int t = 0; t < 10000 && !gone; t++) {
			gone = access(path, F_OK) != 0;
			if (!gone)
				sleep_ms(1);
		}
		if (!gone)
			return 0;
	}
	atomic_store(&nstep_tids, 0);
	return 1;
}

static void test_add_errors(void **state)
{
	struct wd_shutdown_result res = {.name = "untouched"};
	wd_shutdown *sd;

	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, NULL, record_step, (char[]){"a"}, 0), -EINVAL);
	assert_int_equal(wd_shutdown_add(sd, "a", NULL, NULL, 0), -EINVAL);
	assert_int_equal(wd_shutdown_add_stage(sd, -1, "a", record_step, (char[]){"a"}, 0),
			 -EINVAL);
	assert_int_equal(wd_shutdown_count(sd), 0);
	assert_int_equal(wd_shutdown_result(sd, 0, &res), -ENOENT);
	assert_string_equal(res.name, "untouched");
	assert_int_equal(wd_shutdown_add(sd, "a", record_step, (char[]){"a"}, 0), 0);
	assert_int_equal(wd_shutdown_result(sd, 0, &res), 0);
	assert_string_equal(res.name, "a");
	assert_int_equal(res.outcome, WD_SHUTDOWN_PENDING);
	reset_order();
	assert_int_equal(wd_shutdown_run(sd, NULL, 0), 0);
	assert_int_equal(wd_shutdown_run(sd, NULL, 0), -EBUSY);
	assert_int_equal(wd_shutdown_add(sd, "b", record_step, (char[]){"b"}, 0), -EBUSY);
	wd_shutdown_free(sd);
	wd_shutdown_free(NULL);
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_OK), "ok");
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_FAILED), "failed");
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_TIMED_OUT), "timed out");
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_ABANDONED), "abandoned");
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_SKIPPED), "skipped");
	assert_string_equal(wd_shutdown_outcome_str(WD_SHUTDOWN_PENDING), "pending");
	assert_true(wait_one_thread());
}

/* Steps of wd_shutdown_add() run one at a time, the last added first. */
static void test_reverse_order(void **state)
{
	wd_shutdown *sd;

	reset_order();
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, "a", record_step, (char[]){"a"}, 1000), 0);
	assert_int_equal(wd_shutdown_add(sd, "b", record_step, (char[]){"b"}, 1000), 0);
	assert_int_equal(wd_shutdown_add(sd, "c", record_step, (char[]){"c"}, 0), 0);
	assert_int_equal(wd_shutdown_run(sd, NULL, 10000), 0);
	assert_string_equal(order, "cba");
	const char *want[] = {"c", "b", "a"};
	for (size_t i = 0; i < 3; i++) {
		struct wd_shutdown_result res;

		assert_int_equal(wd_shutdown_result(sd, i, &res), 0);
		assert_string_equal(res.name, want[i]);
		assert_int_equal(res.outcome, WD_SHUTDOWN_OK);
		assert_int_equal(res.stage, -1);
	}
	wd_shutdown_free(sd);
	assert_true(wait_one_thread());
}

/* Both steps of one stage must be running at once to finish. */
static atomic_int meeting;

static int meet_step(void *data)
{
	(void)record_step(data);
	atomic_fetch_add(&meeting, 1);
	for (int i = 0; i < 10000; i++) {
		if (atomic_load(&meeting) >= 2)
			return 0;
		sleep_ms(1);
	}
	return 1; /* the other one never came: not concurrent */
}

/*
 * Stages run in ascending order, their steps at the same time; then the
 * steps of wd_shutdown_add(), last added first.
 */
static void test_stages(void **state)
{
	wd_shutdown *sd;

	reset_order();
	atomic_store(&meeting, 0);
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, "d1", record_step, (char[]){"1"}, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 5, "x", meet_step, (char[]){"x"}, 20000), 0);
	assert_int_equal(wd_shutdown_add(sd, "d2", record_step, (char[]){"2"}, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 0, "z", record_step, (char[]){"z"}, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 5, "y", meet_step, (char[]){"y"}, 20000), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 9, "w", record_step, (char[]){"w"}, 0), 0);
	assert_int_equal(wd_shutdown_count(sd), 6);
	assert_int_equal(wd_shutdown_run(sd, NULL, 30000), 0);
	/* x and y in either order, both after z and before w. */
	assert_true(strcmp(order, "zxyw21") == 0 || strcmp(order, "zyxw21") == 0);
	const char *names[] = {"z", "x", "y", "w", "d2", "d1"};
	const int stages[] = {0, 5, 5, 9, -1, -1};
	for (size_t i = 0; i < 6; i++) {
		struct wd_shutdown_result res;

		assert_int_equal(wd_shutdown_result(sd, i, &res), 0);
		assert_string_equal(res.name, names[i]);
		assert_int_equal(res.stage, stages[i]);
		assert_int_equal(res.outcome, WD_SHUTDOWN_OK);
	}
	wd_shutdown_free(sd);
	assert_true(wait_one_thread());
}

static int fail_step(void *data)
{
	note_tid();
	return -EIO;
}

/* A step held until the test lets it go: one that overruns. */
static atomic_int held, release_held, held_done;

static int held_step(void *data)
{
	note_tid();
	atomic_store(&held, 1);
	/* Bounded: 30 s, far past every deadline the tests give it. */
	for (int i = 0; i < 30000 && !atomic_load(&release_held); i++)
		sleep_ms(1);
	atomic_store(&held_done, 1);
	return 0;
}

static void reset_held(void)
{
	atomic_store(&held, 0);
	atomic_store(&release_held, 0);
	atomic_store(&held_done, 0);
}

/* Lets the held step end, and waits until it has and its thread is gone. */
static void release_and_wait(void)
{
	atomic_store(&release_held, 1);
	for (int i = 0; i < 10000 && !atomic_load(&held_done); i++)
		sleep_ms(1);
	assert_true(wait_one_thread());
	assert_int_equal(atomic_load(&held_done), 1);
}

struct seen {
	char names[16][16];
	enum wd_shutdown_outcome outcomes[16];
	int n;
};

static void on_result(const struct wd_shutdown_result *res, void *data)
{
	struct seen *s = data;

	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", res->name);
		s->outcomes[s->n++] = res->outcome;
	}
}

/*
 * A step that overruns its own deadline is reported and abandoned; the
 * steps after it still run; a failed step reports its code; the whole run
 * takes about the deadline, not the step's 30 s. The orchestrator may be
 * freed while the abandoned step still runs.
 */
static void test_overrun(void **state)
{
	struct wd_shutdown_result res;
	struct seen seen = {0};
	wd_shutdown *sd;
	char buf[1024];
	int p[2];

	reset_order();
	reset_held();
	assert_int_equal(wd_shutdown_new(&sd), 0);
	wd_shutdown_on_result(sd, on_result, &seen);
	assert_int_equal(wd_shutdown_add(sd, "last", record_step, (char[]){"L"}, 0), 0);
	assert_int_equal(wd_shutdown_add(sd, "broken", fail_step, NULL, 0), 0);
	assert_int_equal(wd_shutdown_add(sd, "stuck", held_step, NULL, 200), 0);
	uint64_t t0 = mono_ns();
	assert_int_equal(wd_shutdown_run(sd, NULL, 0), 2);
	uint64_t took = (mono_ns() - t0) / 1000000u;
	assert_true(took >= 200 && took < 5000);
	assert_int_equal(atomic_load(&held), 1);
	assert_int_equal(atomic_load(&held_done), 0); /* abandoned, still running */
	assert_string_equal(order, "L");

	assert_int_equal(wd_shutdown_result(sd, 0, &res), 0);
	assert_string_equal(res.name, "stuck");
	assert_int_equal(res.outcome, WD_SHUTDOWN_TIMED_OUT);
	assert_true(res.elapsed_ms >= 200 && res.elapsed_ms < 5000);
	assert_int_equal(wd_shutdown_result(sd, 1, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_FAILED);
	assert_int_equal(res.code, -EIO);
	assert_int_equal(wd_shutdown_result(sd, 2, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_OK);

	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.names[0], "stuck");
	assert_int_equal(seen.outcomes[0], WD_SHUTDOWN_TIMED_OUT);
	assert_string_equal(seen.names[2], "last");

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(wd_shutdown_write_report(sd, p[1]), 0);
	close(p[1]);
	ssize_t n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "shutdown: stuck: timed out after "));
	assert_non_null(strstr(buf, ", abandoned\nshutdown: broken: failed (code -5) in "));
	assert_non_null(strstr(buf, "shutdown: last: ok in "));

	wd_shutdown_free(sd); /* with "stuck" still running */
	release_and_wait();
}

/* The overall deadline abandons the running step and skips the rest. */
static void test_overall_deadline(void **state)
{
	struct wd_shutdown_result res;
	wd_shutdown *sd;

	reset_order();
	reset_held();
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, "never", record_step, (char[]){"N"}, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 0, "stuck", held_step, NULL, 0), 0);
	uint64_t t0 = mono_ns();
	assert_int_equal(wd_shutdown_run(sd, NULL, 150), 2);
	uint64_t took = (mono_ns() - t0) / 1000000u;
	assert_true(took >= 150 && took < 5000);
	assert_int_equal(wd_shutdown_result(sd, 0, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_TIMED_OUT);
	assert_int_equal(wd_shutdown_result(sd, 1, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_SKIPPED);
	assert_string_equal(order, "");
	release_and_wait();
	wd_shutdown_free(sd);
}

/*
 * Sends the docker-stop sequence from inside a step: a SIGTERM, and when
 * the orchestrator has read it, a second one; then stays stuck.
 */
static int escalating_step(void *data)
{
	wd_done *d = data;

	note_tid();
	kill(getpid(), SIGTERM);
	for (int i = 0; i < 10000 && wd_done_signal_count(d) < 1; i++)
		sleep_ms(1);
	kill(getpid(), SIGTERM);
	return held_step(NULL);
}

/*
 * A second SIGTERM escalates while a step runs (its own deadline 30 s): the
 * step is abandoned at once and the steps left are skipped. The signals are
 * read by wd_shutdown_run() itself from the notifier's watcher: no loop.
 */
static void test_escalation_signal(void **state)
{
	struct wd_shutdown_result res;
	sigset_t set, old;
	wd_shutdown *sd;
	wd_done *d;

	reset_order();
	reset_held();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	assert_int_equal(wd_signal_block(&set, &old), 0);
	assert_int_equal(wd_done_new(&d), 0);
	assert_int_equal(wd_done_watch_signals(d, NULL, &set, WD_DONE_CODE_SIGNAL), 0);
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, "after", record_step, (char[]){"A"}, 0), 0);
	assert_int_equal(wd_shutdown_add(sd, "stuck", escalating_step, d, 30000), 0);
	uint64_t t0 = mono_ns();
	assert_int_equal(wd_shutdown_run(sd, d, 60000), 2);
	assert_true((mono_ns() - t0) / 1000000u < 10000);
	assert_true(wd_done_is_escalated(d));
	assert_int_equal(wd_done_signal_count(d), 2);
	assert_int_equal(wd_done_code(d), 128 + SIGTERM);
	assert_string_equal(wd_done_reason(d), "SIGTERM");
	assert_int_equal(wd_shutdown_result(sd, 0, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_ABANDONED);
	assert_int_equal(wd_shutdown_result(sd, 1, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_SKIPPED);
	assert_string_equal(order, "");
	release_and_wait();
	wd_shutdown_free(sd);
	wd_done_free(d);
	assert_int_equal(wd_signal_set_mask(&old), 0);
}

static int escalate_from_thread(void *data)
{
	note_tid();
	wd_done_escalate(data, 3, "operator");
	return held_step(NULL);
}

/* An escalation before a stage starts skips it; one during it abandons. */
static void test_escalation_direct(void **state)
{
	struct wd_shutdown_result res;
	wd_shutdown *sd;
	wd_done *d;

	reset_order();
	reset_held();
	assert_int_equal(wd_done_new(&d), 0);
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 1, "later", record_step, (char[]){"l"}, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 0, "escalator", escalate_from_thread, d, 0), 0);
	assert_int_equal(wd_shutdown_add_stage(sd, 0, "quick", record_step, (char[]){"q"}, 0), 0);
	/* "quick" may have ended before the escalation was seen, or not. */
	int r = wd_shutdown_run(sd, d, 0);
	assert_true(r == 2 || r == 3);
	assert_int_equal(wd_done_code(d), 3);
	assert_int_equal(wd_shutdown_result(sd, 0, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_ABANDONED);
	assert_int_equal(wd_shutdown_result(sd, 2, &res), 0);
	assert_int_equal(res.outcome, WD_SHUTDOWN_SKIPPED);
	release_and_wait();
	wd_shutdown_free(sd);

	/* Escalated before the run: nothing runs. */
	assert_int_equal(wd_shutdown_new(&sd), 0);
	assert_int_equal(wd_shutdown_add(sd, "x", record_step, (char[]){"x"}, 0), 0);
	reset_order();
	assert_int_equal(wd_shutdown_run(sd, d, 0), 1);
	assert_string_equal(order, "");
	wd_shutdown_free(sd);
	wd_done_free(d);
}

static void at_exit_trap(void)
{
	/* If this ran, the exit went through exit() after all. */
	fputs("atexit ran\n", stdout);
	fflush(stdout);
}

/*
 * wd_shutdown_exit(): the code chosen (& 0xff), stdout flushed, no atexit
 * handler run. In a child, writing into a pipe (fully buffered stdout).
 */
static void test_exit(void **state)
{
	int p[2];
	char buf[256];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		wd_shutdown *sd;
		wd_done *d;

		dup2(p[1], STDOUT_FILENO);
		atexit(at_exit_trap);
		if (wd_done_new(&d) != 0 || wd_shutdown_new(&sd) != 0)
			_exit(1);
		wd_done_close(d, 256 + 44, "test");
		printf("buffered line\n");
		wd_shutdown_run(sd, d, 1000);
		wd_shutdown_free(sd);
		wd_shutdown_exit(wd_done_code(d));
	}
	close(p[1]);
	size_t len = 0;
	ssize_t n;
	while (len < sizeof(buf) - 1 && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(p[0]);
	int status = wait_child(pid, 10000);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 44);
	assert_string_equal(buf, "buffered line\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_errors),	  cmocka_unit_test(test_exit),
		cmocka_unit_test(test_reverse_order),	  cmocka_unit_test(test_stages),
		cmocka_unit_test(test_overrun),		  cmocka_unit_test(test_overall_deadline),
		cmocka_unit_test(test_escalation_signal), cmocka_unit_test(test_escalation_direct),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
