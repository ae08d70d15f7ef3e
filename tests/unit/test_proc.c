/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for process trees (warden/proc.h). The runner is a child
 * subreaper, every test process dies with its parent (PR_SET_PDEATHSIG),
 * and the teardown kills and reaps whatever is left.
 */

#include "unit.h"

#include <limits.h>
#include <pthread.h>
#include <sys/prctl.h>

#include <warden/proc.h>

static pid_t known[16];
static int nknown;

static void remember(pid_t pid)
{
	if (nknown < (int)ARRAY_SIZE(known))
		known[nknown++] = pid;
}

static int teardown(void **state)
{
	/*
	 * Our pids are either our children or reparented to us (subreaper); a
	 * pid we can still wait for is one of ours, so killing it is safe.
	 */
	for (int i = 0; i < nknown; i++) {
		int st;
		if (waitpid(known[i], &st, WNOHANG) == 0)
			kill(known[i], SIGKILL);
	}
	/* grandchildren die with their parent (pdeathsig) and come back to us */
	reap_all_children();
	nknown = 0;
	return 0;
}

/* Forked processes in the tests: die with the parent, then wait. */
static void child_prelude(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	alarm(30); /* belt and braces */
}

struct tree {
	pid_t c1, c2, gc; /* c1's child is gc */
};

/* Waits (bounded) until pid waits in pause(). Returns 1 if so. */
static int wait_paused(pid_t pid)
{
	static const long pauses[] = {
#ifdef SYS_pause
		SYS_pause,
#endif
		SYS_rt_sigsuspend, /* pause() where there is no pause system call */
	};
	return wait_in_syscall(pid, pauses, ARRAY_SIZE(pauses), 10000);
}

/*
 * Builds: self -> c1 -> gc, self -> c2, and waits until all three wait in
 * pause(): existing is not enough for a test that reads their state.
 */
static void make_tree(struct tree *t)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t self = getpid();

	t->c1 = fork();
	assert_true(t->c1 >= 0);
	if (t->c1 == 0) {
		child_prelude(self);
		pid_t me = getpid();
		pid_t gc = fork();
		if (gc < 0)
			_exit(2);
		if (gc == 0) {
			child_prelude(me);
			pid_t g = getpid();
			if (write(p[1], &g, sizeof(g)) != sizeof(g))
				_exit(3);
			for (;;)
				pause();
		}
		for (;;)
			pause();
	}
	remember(t->c1);
	t->c2 = fork();
	assert_true(t->c2 >= 0);
	if (t->c2 == 0) {
		child_prelude(self);
		pid_t g = 0; /* 0 marks "c2 is up" */
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(3);
		for (;;)
			pause();
	}
	remember(t->c2);
	close(p[1]);
	t->gc = 0;
	for (int i = 0; i < 2; i++) {
		pid_t g;
		struct pollfd pf = {p[0], POLLIN, 0};
		assert_int_equal(poll(&pf, 1, 5000), 1);
		assert_int_equal(read(p[0], &g, sizeof(g)), sizeof(g));
		if (g)
			t->gc = g;
	}
	close(p[0]);
	assert_true(t->gc > 0);
	remember(t->gc);
	assert_true(wait_paused(t->c1));
	assert_true(wait_paused(t->c2));
	assert_true(wait_paused(t->gc));
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Compares the set of pids from wd_proc_descendants(root) with want. */
static void check_desc_at(pid_t root, pid_t *want, int n, int line)
{
	pid_t got[64];
	int r = wd_proc_descendants(root, got, 64);
	if (n > 0)
		qsort(want, (size_t)n, sizeof(pid_t), cmp_pid);
	if (r > 0 && r <= 64)
		qsort(got, (size_t)r, sizeof(pid_t), cmp_pid);
	int ok = r == n;
	for (int i = 0; ok && i < n; i++)
		ok = got[i] == want[i];
	if (!ok) {
		char s1[512] = "", s2[512] = "";
		for (int i = 0; i < r && i < 64; i++)
			snprintf(s1 + strlen(s1), sizeof(s1) - strlen(s1), " %d", (int)got[i]);
		for (int i = 0; i < n; i++)
			snprintf(s2 + strlen(s2), sizeof(s2) - strlen(s2), " %d", (int)want[i]);
		print_error("line %d: descendants(%d) = %d {%s }, expected {%s }\n", line,
			    (int)root, r, s1, s2);
		fail();
	}
}
#define check_desc(root, want, n) check_desc_at(root, want, n, __LINE__)

static void test_descendants(void **state)
{
	struct tree t;
	make_tree(&t);
	pid_t all[] = {t.c1, t.c2, t.gc};
	check_desc(getpid(), all, 3);
	pid_t sub[] = {t.gc};
	check_desc(t.c1, sub, 1);
	check_desc(t.gc, NULL, 0);
	check_desc(t.c2, NULL, 0);
}

/* More than max: the count is still the total, and only max are stored. */
static void test_descendants_truncated(void **state)
{
	struct tree t;
	make_tree(&t);
	pid_t got[1 + 8];
	fill_canary(got, sizeof(got));
	int r = wd_proc_descendants(getpid(), got, 1);
	assert_int_equal(r, 3);
	assert_true(got[0] == t.c1 || got[0] == t.c2 || got[0] == t.gc);
	assert_true(canary_intact(got + 1, 8 * sizeof(pid_t)));
	fill_canary(got, sizeof(got));
	assert_int_equal(wd_proc_descendants(getpid(), got, 0), 3);
	assert_true(canary_intact(got, sizeof(got)));
}

/* A zombie is not a live process: it is not listed nor signalled. */
static void test_descendants_skip_zombies(void **state)
{
	struct tree t;
	make_tree(&t);
	kill(t.c2, SIGTERM);
	assert_true(wait_zombie(t.c2, 5000));
	pid_t live[] = {t.c1, t.gc};
	check_desc(getpid(), live, 2);

	/* gc dies; c1 does not reap it, so it stays a zombie below c1 */
	kill(t.gc, SIGTERM);
	assert_true(wait_zombie(t.gc, 5000));
	check_desc(t.c1, NULL, 0);
	pid_t only[] = {t.c1};
	check_desc(getpid(), only, 1);
}

static void test_kill_descendants(void **state)
{
	struct tree t;
	make_tree(&t);
	/* a subtree first: only gc is below c1 */
	assert_int_equal(wd_proc_kill_descendants(t.c1, SIGTERM), 1);
	assert_true(wait_zombie(t.gc, 5000));
	assert_int_equal(proc_state(t.c1), 'S'); /* c1 itself untouched */

	/* then everything below us: c1 and c2 (gc is a zombie now) */
	assert_int_equal(wd_proc_kill_descendants(getpid(), SIGKILL), 2);
	int st = wait_child(t.c1, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	st = wait_child(t.c2, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* nothing left alive below us */
	assert_int_equal(wd_proc_descendants(getpid(), NULL, 0), 0);
	assert_int_equal(wd_proc_kill_descendants(getpid(), SIGKILL), 0);
}

/*
 * A child forked by a thread other than the main one is still a
 * descendant (it is not in /proc/<pid>/task/<pid>/children).
 */
static int thread_pipe[2];
static pid_t thread_parent;

static void *forker(void *arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (write(thread_pipe[1], &pid, sizeof(pid)) != sizeof(pid))
		_exit(4);
	for (;;) /* stay alive: the child stays this thread's, not the leader's */
		pause();
	return NULL;
}

/* wd_proc_kill_tree() leaves the processes of the groups it is given alone. */
static void test_kill_tree_skips_groups(void **state)
{
	struct tree t;
	make_tree(&t);
	/* c2 leads a group of its own; c1 and gc stay in ours. */
	assert_int_equal(setpgid(t.c2, t.c2), 0);
	pid_t ours = getpgrp();
	assert_int_equal(wd_proc_kill_tree(getpid(), SIGKILL, &ours, 1), 1);
	int st = wait_child(t.c2, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(proc_state(t.c1), 'S');
	assert_int_equal(proc_state(t.gc), 'S');
	/* Nothing skipped: the rest, but never the caller itself. */
	assert_int_equal(wd_proc_kill_tree(getpid(), SIGKILL, NULL, 0), 2);
	st = wait_child(t.c1, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/*
	 * gc was killed too, but may not have died yet: reaped c1 left it to
	 * us (the subreaper), still live in /proc until its SIGKILL is taken.
	 */
	st = wait_child(t.gc, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(wd_proc_descendants(getpid(), NULL, 0), 0);
}

static void test_descendants_thread_child(void **state)
{
	assert_int_equal(pipe2(thread_pipe, O_CLOEXEC), 0);
	thread_parent = getpid();
	pid_t mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		child_prelude(thread_parent);
		pthread_t th;
		if (pthread_create(&th, NULL, forker, NULL) != 0)
			_exit(5);
		for (;;)
			pause();
	}
	remember(mid);
	close(thread_pipe[1]);
	pid_t gc = 0;
	struct pollfd pf = {thread_pipe[0], POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 5000), 1);
	assert_int_equal(read(thread_pipe[0], &gc, sizeof(gc)), sizeof(gc));
	close(thread_pipe[0]);
	assert_true(gc > 0);
	remember(gc);
	pid_t want[] = {gc};
	check_desc(mid, want, 1);
	pid_t all[] = {mid, gc};
	check_desc(getpid(), all, 2);
}

/*
 * A process whose main thread exited while another thread runs on shows
 * 'Z' in /proc/PID/stat, but it is alive: it is a descendant, takes
 * signals, and its children are found below it.
 */
static void test_descendants_leader_exited(void **state)
{
	assert_int_equal(pipe2(thread_pipe, O_CLOEXEC), 0);
	thread_parent = getpid();
	pid_t mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		child_prelude(thread_parent);
		pthread_t th;
		/* The second thread forks gc (its pdeathsig follows that thread). */
		if (pthread_create(&th, NULL, forker, NULL) != 0)
			_exit(5);
		pthread_exit(NULL);
	}
	remember(mid);
	close(thread_pipe[1]);
	pid_t gc = 0;
	struct pollfd pf = {thread_pipe[0], POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 5000), 1);
	assert_int_equal(read(thread_pipe[0], &gc, sizeof(gc)), sizeof(gc));
	close(thread_pipe[0]);
	assert_true(gc > 0);
	remember(gc);
	assert_true(wait_zombie(mid, 5000)); /* its main thread is gone */
	pid_t want[] = {gc};
	check_desc(mid, want, 1);
	pid_t all[] = {mid, gc};
	check_desc(getpid(), all, 2);
	assert_int_equal(wd_proc_kill_descendants(getpid(), SIGKILL), 2);
	int st = wait_child(mid, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	st = wait_child(gc, 5000);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(wd_proc_descendants(getpid(), NULL, 0), 0);
}

/*
 * A service's tree: root, what is below it, and its group's members even
 * outside root's tree; root 0 (no process) is only the group, never the
 * whole namespace.
 */
static void test_table_tree(void **state)
{
	struct tree t;
	struct wd_proc_table *tab;
	pid_t got[8];

	make_tree(&t);
	/* c1 leads a group that c2 joins; gc stays in ours. */
	assert_int_equal(setpgid(t.c1, t.c1), 0);
	assert_int_equal(setpgid(t.c2, t.c1), 0);
	assert_int_equal(wd_proc_table_read(&tab), 0);

	int n = wd_proc_table_tree(tab, t.c1, 0, got, 8);
	assert_int_equal(n, 2);
	qsort(got, 2, sizeof(pid_t), cmp_pid);
	pid_t w1[] = {t.c1, t.gc};
	qsort(w1, 2, sizeof(pid_t), cmp_pid);
	assert_memory_equal(got, w1, sizeof(w1));

	n = wd_proc_table_tree(tab, t.c1, t.c1, got, 8);
	assert_int_equal(n, 3);
	qsort(got, 3, sizeof(pid_t), cmp_pid);
	pid_t w2[] = {t.c1, t.c2, t.gc};
	qsort(w2, 3, sizeof(pid_t), cmp_pid);
	assert_memory_equal(got, w2, sizeof(w2));

	/* No process: only the group. Too small a buffer: the count still. */
	n = wd_proc_table_tree(tab, 0, t.c1, got, 8);
	assert_int_equal(n, 2);
	qsort(got, 2, sizeof(pid_t), cmp_pid);
	pid_t w3[] = {t.c1, t.c2};
	qsort(w3, 2, sizeof(pid_t), cmp_pid);
	assert_memory_equal(got, w3, sizeof(w3));
	assert_int_equal(wd_proc_table_tree(tab, 0, 0, got, 8), 0);
	assert_int_equal(wd_proc_table_tree(tab, t.c1, t.c1, got, 1), 3);
	wd_proc_table_free(tab);
}

/* Usage of a process: its descriptors, memory and threads as /proc has them. */
static void test_usage(void **state)
{
	struct wd_proc_usage u;
	struct tree t;
	int fds[16];
	int before;

	assert_int_equal(wd_proc_usage(getpid(), &u), 0);
	assert_true(u.rss_bytes > 0);
	assert_true(u.vsize_bytes >= u.rss_bytes);
	assert_true(u.threads >= 1);
	assert_true(u.fds >= 3);
	before = u.fds;
	for (int i = 0; i < 16; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(wd_proc_usage(getpid(), &u), 0);
	assert_int_equal(u.fds, before + 16);
	for (int i = 0; i < 16; i++)
		close(fds[i]);

	make_tree(&t);
	assert_int_equal(wd_proc_usage(t.c2, &u), 0);
	assert_true(u.rss_bytes > 0);
	kill(t.c2, SIGKILL);
	wait_child(t.c2, 5000);
	assert_int_equal(wd_proc_usage(t.c2, &u), -ESRCH);
}

/* The same from a snapshot: its figures, the descriptors now; -ESRCH for a pid not in it. */
static void test_table_usage(void **state)
{
	struct wd_proc_usage u, direct;
	struct wd_proc_table *tab;
	struct tree t;
	int fds[8];

	make_tree(&t);
	assert_int_equal(wd_proc_table_read(&tab), 0);
	assert_int_equal(wd_proc_table_usage(tab, t.c2, &u), 0);
	assert_int_equal(wd_proc_usage(t.c2, &direct), 0);
	assert_true(u.rss_bytes > 0 && u.threads == 1);
	assert_int_equal(u.start_ns, direct.start_ns);
	assert_int_equal(u.fds, direct.fds);
	assert_int_equal(wd_proc_table_usage(tab, getpid(), &u), 0);
	for (int i = 0; i < 8; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(wd_proc_table_usage(tab, getpid(), &direct), 0);
	assert_int_equal(direct.fds, u.fds + 8);
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	assert_int_equal(wd_proc_table_usage(tab, 0, &u), -ESRCH);
	assert_int_equal(wd_proc_table_usage(tab, INT_MAX, &u), -ESRCH);
	wd_proc_table_free(tab);
}

static void test_is_own(void **state)
{
	char link[64];
	ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	int expect = atoi(link) == getpid();
	int r = wd_proc_is_own();
	assert_true(r >= 0);
	assert_int_equal(!!r, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_descendants, teardown),
		cmocka_unit_test_teardown(test_descendants_truncated, teardown),
		cmocka_unit_test_teardown(test_descendants_skip_zombies, teardown),
		cmocka_unit_test_teardown(test_kill_descendants, teardown),
		cmocka_unit_test_teardown(test_kill_tree_skips_groups, teardown),
		cmocka_unit_test_teardown(test_descendants_thread_child, teardown),
		cmocka_unit_test_teardown(test_descendants_leader_exited, teardown),
		cmocka_unit_test_teardown(test_table_tree, teardown),
		cmocka_unit_test_teardown(test_usage, teardown),
		cmocka_unit_test_teardown(test_table_usage, teardown),
		cmocka_unit_test(test_is_own),
	};
	unit_init();
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	reap_all_children();
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	reap_all_children();
	return r;
}
