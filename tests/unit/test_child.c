/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for spawning, reaping and wait-status decoding
 * (warden/child.h). Every test leaves no child behind: the spawned pids are
 * killed and reaped in the teardown, and the runner is a child subreaper so
 * that orphaned grandchildren come back to it too.
 */

#include "unit.h"

#include <dirent.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <warden/child.h>
#include <warden/loop.h>
#include <warden/signals.h>

/* argv and envp want char *; string literals are const under -Wwrite-strings. */
#define A(s) ((char *)(s))

/* ---- bookkeeping ---- */

static pid_t tracked[64];
static size_t ntracked;
static int tracked_pidfd[64];

static void track(pid_t pid, int pidfd)
{
	if (ntracked < ARRAY_SIZE(tracked)) {
		tracked_pidfd[ntracked] = pidfd;
		tracked[ntracked++] = pid;
	}
}

static int teardown(void **state)
{
	for (size_t i = 0; i < ntracked; i++) {
		/* only signal our own, not-yet-reaped children */
		int status;
		if (waitpid(tracked[i], &status, WNOHANG) == 0)
			kill(tracked[i], SIGKILL);
		if (tracked_pidfd[i] >= 0)
			close(tracked_pidfd[i]);
	}
	ntracked = 0;
	reap_all_children();
	return 0;
}

static int no_children(void)
{
	int status;
	return waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

/* ---- status decoding with real children ---- */

/* Forks a child that runs fn(arg) and returns its raw wait status. */
static int status_of(void (*fn)(int), int arg)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fn(arg);
		_exit(99);
	}
	int status = wait_child(pid, 5000);
	assert_true(status != -1);
	return status;
}

static void do_exit(int code)
{
	_exit(code);
}

static void do_raise(int sig)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl); /* no core file from the tests */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void check_describe_at(int status, const char *expect, int line)
{
	char buf[128 + CANARY_LEN];
	fill_canary(buf, sizeof(buf));
	const char *r = wd_status_describe(status, buf, 128);
	assert_ptr_equal(r, buf);
	if (strcmp(buf, expect) != 0) {
		print_error("line %d: describe(0x%x) = \"%s\", expected \"%s\"\n", line, status,
			    buf, expect);
		fail();
	}
	assert_true(canary_intact(buf + 128, CANARY_LEN));
}
#define check_describe(st, e) check_describe_at(st, e, __LINE__)

static void test_status_exited(void **state)
{
	int st0 = status_of(do_exit, 0), st3 = status_of(do_exit, 3),
	    st255 = status_of(do_exit, 255);
	assert_true(WIFEXITED(st3) && WEXITSTATUS(st3) == 3);
	assert_int_equal(wd_status_code(st0), 0);
	assert_int_equal(wd_status_code(st3), 3);
	assert_int_equal(wd_status_code(st255), 255);
	check_describe(st0, "exited with code 0");
	check_describe(st3, "exited with code 3");
	check_describe(st255, "exited with code 255");
}

static void test_status_killed(void **state)
{
	int kill9 = status_of(do_raise, SIGKILL);
	int term = status_of(do_raise, SIGTERM);
	assert_true(WIFSIGNALED(kill9) && WTERMSIG(kill9) == SIGKILL && !WCOREDUMP(kill9));
	assert_int_equal(wd_status_code(kill9), 128 + SIGKILL);
	assert_int_equal(wd_status_code(term), 128 + SIGTERM);
	check_describe(kill9, "killed by SIGKILL");
	check_describe(term, "killed by SIGTERM");
}

/* A core dump cannot be relied on in a test: build the status by hand. */
static void test_status_core(void **state)
{
	int st = SIGSEGV | 0x80;
	assert_true(WIFSIGNALED(st) && WCOREDUMP(st));
	assert_int_equal(wd_status_code(st), 128 + SIGSEGV);
	check_describe(st, "killed by SIGSEGV (core dumped)");
	check_describe(SIGABRT | 0x80, "killed by SIGABRT (core dumped)");
	check_describe(SIGSEGV, "killed by SIGSEGV");
}

static void test_status_realtime(void **state)
{
	char expect[64];
	int st = WD_SIGRTMIN + 2;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(wd_status_code(st), 128 + WD_SIGRTMIN + 2);
	snprintf(expect, sizeof(expect), "killed by SIGRTMIN+2");
	check_describe(st, expect);
}

/* A short buffer gets a NUL-terminated prefix and nothing past its end. */
static void test_status_describe_short_buffer(void **state)
{
	const int statuses[] = {3 << 8, SIGKILL, SIGSEGV | 0x80, 0x137f /* stopped */, 0xffff};
	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
		char full[128];
		wd_status_describe(statuses[i], full, sizeof(full));
		assert_true(strlen(full) > 0);
		for (size_t size = 1; size < 40; size++) {
			char buf[40 + CANARY_LEN];
			fill_canary(buf, sizeof(buf));
			wd_status_describe(statuses[i], buf, size);
			if (!canary_intact(buf + size, CANARY_LEN) || !memchr(buf, '\0', size) ||
			    strncmp(buf, full, strlen(buf)) != 0) {
				print_error("describe(0x%x) into %zu bytes: \"%.*s\"\n",
					    statuses[i], size, (int)size, buf);
				fail();
			}
		}
	}
}

/* ---- reaping ---- */

static void test_reap_no_children(void **state)
{
	assert_true(no_children());
	struct wd_exit ex;
	memset(&ex, 0x5a, sizeof(ex));
	assert_int_equal(wd_reap(&ex), -ECHILD);
	assert_int_equal(ex.pid, 0x5a5a5a5a); /* untouched on failure */
}

static void test_reap_running_then_ended(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		pause();
		_exit(0);
	}
	track(pid, -1);
	struct wd_exit ex;
	assert_int_equal(wd_reap(&ex), 0); /* running: nothing to reap, no waiting */
	kill(pid, SIGTERM);
	int r = 0;
	for (int i = 0; i < 2500 && r == 0; i++) {
		r = wd_reap(&ex);
		if (r == 0)
			sleep_ms(2);
	}
	assert_int_equal(r, 1);
	assert_int_equal(ex.pid, pid);
	assert_true(WIFSIGNALED(ex.status) && WTERMSIG(ex.status) == SIGTERM);
	assert_int_equal(wd_reap(&ex), -ECHILD);
}

static void test_reap_many(void **state)
{
	pid_t pids[5];
	for (int i = 0; i < 5; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(10 + i);
		track(pids[i], -1);
	}
	for (int i = 0; i < 5; i++)
		assert_true(wait_zombie(pids[i], 5000));
	int seen = 0;
	struct wd_exit ex;
	for (int n = 0; n < 5; n++) {
		assert_int_equal(wd_reap(&ex), 1);
		int k = 0;
		while (k < 5 && pids[k] != ex.pid)
			k++;
		assert_true(k < 5);
		assert_false(seen & (1 << k));
		seen |= 1 << k;
		assert_true(WIFEXITED(ex.status));
		assert_int_equal(WEXITSTATUS(ex.status), 10 + k);
	}
	assert_int_equal(wd_reap(&ex), -ECHILD);
}

/* A child that used CPU shows it in the reaped rusage. */
static void test_reap_rusage(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* burn 30 ms of CPU time, however long that takes */
		struct timespec ts;
		volatile unsigned x = 0;
		do {
			for (int i = 0; i < 100000; i++)
				x++;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		} while (ts.tv_sec == 0 && ts.tv_nsec < 30 * 1000000L);
		_exit(0);
	}
	track(pid, -1);
	assert_true(wait_zombie(pid, 5000));
	struct wd_exit ex;
	assert_int_equal(wd_reap(&ex), 1);
	assert_int_equal(ex.pid, pid);
	long us = ex.rusage.ru_utime.tv_sec * 1000000L + ex.rusage.ru_utime.tv_usec +
		  ex.rusage.ru_stime.tv_sec * 1000000L + ex.rusage.ru_stime.tv_usec;
	assert_true(us >= 20000); /* the 30 ms it burnt, give or take accounting */
}

/* ---- spawning ---- */

static char *const sleep_argv[] = {A("/bin/sleep"), A("30"), NULL};

static void spawn_init(struct wd_spawn *o, char *const *argv)
{
	wd_spawn_init(o);
	o->argv = argv;
	o->pdeathsig = SIGKILL; /* should the test runner die, so do its children */
}

/* Spawns, expecting success; the child is tracked for the teardown. */
static struct wd_spawn_result spawn_ok(const struct wd_spawn *o)
{
	struct wd_spawn_result res;
	memset(&res, 0, sizeof(res));
	res.pidfd = -1;
	int r = wd_spawn(o, &res);
	if (r != 0) {
		print_error("wd_spawn(%s) = %d (%s), stage %d\n", o->argv[0], r, strerror(-r),
			    (int)res.stage);
		fail();
	}
	assert_true(res.pid > 0);
	track(res.pid, res.pidfd);
	return res;
}

/*
 * Reaps the given child with wd_reap(), waiting on its pidfd (or sleeping)
 * between tries, for at most 5 s. Returns its status.
 */
static int reap_child(pid_t pid, int pidfd)
{
	struct wd_exit ex;
	for (int i = 0; i < 1000; i++) {
		int r = wd_reap(&ex);
		if (r == 1) {
			assert_int_equal(ex.pid, pid);
			return ex.status;
		}
		assert_int_equal(r, 0);
		if (pidfd >= 0) {
			struct pollfd p = {pidfd, POLLIN, 0};
			poll(&p, 1, 5);
		} else {
			sleep_ms(5);
		}
	}
	fail_msg("child %d did not end in time", (int)pid);
	return -1;
}

static void test_spawn_true(void **state)
{
	struct wd_spawn o;
	char *argv[] = {A("/bin/true"), NULL};
	spawn_init(&o, argv);
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(res.pidfd >= 0);
	assert_true(fcntl(res.pidfd, F_GETFD) & FD_CLOEXEC);
	int st = reap_child(res.pid, res.pidfd);
	assert_true(WIFEXITED(st));
	assert_int_equal(wd_status_code(st), 0);
	assert_int_equal(wd_reap(&(struct wd_exit){0}), -ECHILD);
}

static void test_spawn_path_lookup(void **state)
{
	struct wd_spawn o;
	char *argv[] = {A("false"), NULL};
	spawn_init(&o, argv);
	struct wd_spawn_result res = spawn_ok(&o);
	int st = reap_child(res.pid, res.pidfd);
	assert_int_equal(wd_status_code(st), 1);
}

/*
 * Expects wd_spawn to fail with err at stage, and the child already gone;
 * code (unless negative) is what wd_spawn_exit_code() must say.
 */
static void spawn_fail(const struct wd_spawn *o, int err, enum wd_spawn_stage stage, int code)
{
	struct wd_spawn_result res;
	res.pid = -77;
	res.pidfd = -77;
	res.stage = WD_STAGE_NONE;
	int r = wd_spawn(o, &res);
	if (r != err || res.stage != stage) {
		print_error("wd_spawn(%s) = %d (%s) stage %d; expected %d (%s) stage %d\n",
			    o->argv[0], r, strerror(-r), (int)res.stage, err, strerror(-err),
			    (int)stage);
		if (r == 0)
			track(res.pid, res.pidfd);
		fail();
	}
	assert_int_equal(res.pid, -77); /* only stage is set on failure */
	assert_int_equal(res.pidfd, -77);
	if (code >= 0) {
		assert_int_equal(wd_spawn_exit_code(r), code);
		assert_int_equal(wd_spawn_exit_code(-r), code);
	}
	/* the failed child has been reaped already */
	assert_true(no_children());
}

static void test_spawn_not_found(void **state)
{
	struct wd_spawn o;
	char *abs[] = {A("/nonexistent/warden-unit-test"), NULL};
	char *rel[] = {A("warden-unit-test-no-such-command"), NULL};
	spawn_init(&o, abs);
	spawn_fail(&o, -ENOENT, WD_STAGE_EXEC, 127);
	/*
	 * A PATH search, over a PATH of our own: glibc's execvpe() reports
	 * EACCES, not ENOENT, when a PATH directory cannot be searched.
	 */
	char *old = getenv("PATH");
	char *saved = old ? strdup(old) : NULL;
	setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
	spawn_init(&o, rel);
	struct wd_spawn_result res = {.pid = -77, .pidfd = -77};
	int r = wd_spawn(&o, &res);
	if (saved)
		setenv("PATH", saved, 1);
	else
		unsetenv("PATH");
	free(saved);
	if (r == 0)
		track(res.pid, res.pidfd);
	assert_int_equal(r, -ENOENT);
	assert_int_equal(res.stage, WD_STAGE_EXEC);
	assert_int_equal(res.pid, -77);
	assert_int_equal(wd_spawn_exit_code(r), 127);
	assert_true(no_children());
}

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	strcpy(tmpdir, "/tmp/warden-unit-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmpdir(void **state)
{
	char path[128];
	teardown(state);
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

static void test_spawn_not_executable(void **state)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/plain", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\nexit 0\n", 17), 17);
	close(fd);

	struct wd_spawn o;
	char *argv[] = {path, NULL};
	spawn_init(&o, argv);
	spawn_fail(&o, -EACCES, WD_STAGE_EXEC, 126);

	/* a directory is not executable either */
	char *dir[] = {tmpdir, NULL};
	spawn_init(&o, dir);
	spawn_fail(&o, -EACCES, WD_STAGE_EXEC, 126);
}

static int count_open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Neither a failed nor a successful spawn leaves a descriptor behind. */
static void test_spawn_no_fd_leak(void **state)
{
	struct wd_spawn o;
	struct wd_spawn_result res;
	char *bad[] = {A("/nonexistent/warden-unit-test"), NULL};
	char *good[] = {A("/bin/true"), NULL};
	int before = count_open_fds();

	spawn_init(&o, bad);
	assert_int_equal(wd_spawn(&o, &res), -ENOENT);
	assert_int_equal(count_open_fds(), before);

	spawn_init(&o, good);
	assert_int_equal(wd_spawn(&o, &res), 0);
	track(res.pid, -1);
	assert_int_equal(count_open_fds(), before + (res.pidfd >= 0 ? 1 : 0));
	int st = reap_child(res.pid, res.pidfd);
	assert_int_equal(wd_status_code(st), 0);
	if (res.pidfd >= 0)
		close(res.pidfd);
	assert_int_equal(count_open_fds(), before);
}

static void test_spawn_exit_code(void **state)
{
	assert_int_equal(wd_spawn_exit_code(-ENOENT), 127);
	assert_int_equal(wd_spawn_exit_code(-EACCES), 126);
	assert_int_equal(wd_spawn_exit_code(-ENOEXEC), 126);
	assert_int_equal(wd_spawn_exit_code(-ENOMEM), 126);
}

static void test_spawn_bad_cwd(void **state)
{
	struct wd_spawn o;
	char *argv[] = {A("/bin/true"), NULL};
	spawn_init(&o, argv);
	o.cwd = "/nonexistent/warden-unit-dir";
	/* wd_spawn_exit_code() maps an errno alone: not checked for this stage */
	spawn_fail(&o, -ENOENT, WD_STAGE_CHDIR, -1);
}

/* The working directory of pid is dir. */
static void check_cwd(pid_t pid, const char *dir)
{
	char path[64], link[256];
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, dir);
}

static void test_spawn_cwd(void **state)
{
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.cwd = tmpdir;
	struct wd_spawn_result res = spawn_ok(&o);
	check_cwd(res.pid, tmpdir);
}

/* The sorted list of the child's open descriptors, from /proc. */
static int child_fds(pid_t pid, int *fds, int max)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (n < max)
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && fds[k - 1] > fds[k]; k--) {
			int t = fds[k];
			fds[k] = fds[k - 1];
			fds[k - 1] = t;
		}
	return n;
}

static void fd_target(pid_t pid, int fd, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(path, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void check_child_fds_at(pid_t pid, const int *expect, int n, int line)
{
	int fds[64];
	assert_true(wait_asleep(pid, 10000));
	int got = child_fds(pid, fds, 64);
	int ok = got == n;
	for (int i = 0; ok && i < n; i++)
		ok = fds[i] == expect[i];
	if (!ok) {
		char s1[512] = "", s2[512] = "";
		for (int i = 0; i < got; i++)
			snprintf(s1 + strlen(s1), sizeof(s1) - strlen(s1), " %d", fds[i]);
		for (int i = 0; i < n; i++)
			snprintf(s2 + strlen(s2), sizeof(s2) - strlen(s2), " %d", expect[i]);
		print_error("line %d: child has fds {%s }, expected {%s }\n", line, s1, s2);
		fail();
	}
}
#define check_child_fds(pid, e, n) check_child_fds_at(pid, e, n, __LINE__)

/* With nfds == 0 the child keeps 0, 1, 2 and nothing else, leaks included. */
static void test_spawn_fds_default(void **state)
{
	/* 0, 1 and 2 as the runner has them (it may have been started without one) */
	int expect[3], n = 0;
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			expect[n++] = fd;

	int tmp = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(tmp >= 0);
	int leak = fcntl(tmp, F_DUPFD, 3); /* no close-on-exec on purpose */
	close(tmp);
	assert_true(leak >= 3);
	assert_int_equal(dup2(leak, 200), 200);

	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	struct wd_spawn_result res = spawn_ok(&o);
	close(leak);
	close(200);
	check_child_fds(res.pid, expect, n);
}

/* fd 1 mapped to a pipe: the child's output arrives there, and EOF follows. */
static void test_spawn_fds_stdout_pipe(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(devnull >= 0);

	struct wd_spawn o;
	char *argv[] = {A("/bin/sh"), A("-c"), A("echo hello from child"), NULL};
	int fds[] = {devnull, p[1], devnull};
	spawn_init(&o, argv);
	o.fds = fds;
	o.nfds = 3;
	struct wd_spawn_result res = spawn_ok(&o);
	close(p[1]);
	close(devnull);

	char buf[256];
	size_t len = 0;
	for (;;) {
		struct pollfd pf = {p[0], POLLIN, 0};
		assert_int_equal(poll(&pf, 1, 5000), 1);
		ssize_t r = read(p[0], buf + len, sizeof(buf) - 1 - len);
		assert_true(r >= 0);
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(p[0]);
	assert_string_equal(buf, "hello from child\n");
	int st = reap_child(res.pid, res.pidfd);
	assert_int_equal(wd_status_code(st), 0);
}

/* A closed slot (-1) stays closed; nothing above nfds survives. */
static void test_spawn_fds_closed_slot(void **state)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(devnull >= 0);
	int extra = open("/dev/null", O_RDONLY);
	assert_true(extra >= 0);
	struct wd_spawn o;
	int fds[] = {devnull, -1, devnull};
	spawn_init(&o, sleep_argv);
	o.fds = fds;
	o.nfds = 3;
	struct wd_spawn_result res = spawn_ok(&o);
	close(devnull);
	close(extra);
	const int expect[] = {0, 2};
	check_child_fds(res.pid, expect, 2);
}

/*
 * Mappings that trip a naive dup2 loop: two parent fds swapped (each is the
 * other's target), and a close-on-exec fd mapped onto its own number
 * (dup2(fd, fd) does not clear FD_CLOEXEC).
 */
static void test_spawn_fds_permutation(void **state)
{
	int a[2], b[2], c[2];
	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	assert_int_equal(pipe2(c, O_CLOEXEC), 0);
	assert_int_equal(dup3(a[1], 40, O_CLOEXEC), 40);
	assert_int_equal(dup3(b[1], 41, O_CLOEXEC), 41);
	assert_int_equal(dup3(c[1], 45, O_CLOEXEC), 45);
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(devnull >= 0 && devnull < 40);

	int fds[46];
	for (int i = 0; i < 46; i++)
		fds[i] = -1;
	fds[0] = fds[1] = fds[2] = devnull;
	fds[40] = 41; /* swap */
	fds[41] = 40;
	fds[45] = 45; /* identity, close-on-exec in the parent */
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.fds = fds;
	o.nfds = 46;
	struct wd_spawn_result res = spawn_ok(&o);

	const int expect[] = {0, 1, 2, 40, 41, 45};
	check_child_fds(res.pid, expect, 6);
	char want[128], got[128];
	fd_target(getpid(), 41, want, sizeof(want));
	fd_target(res.pid, 40, got, sizeof(got));
	assert_string_equal(got, want);
	fd_target(getpid(), 40, want, sizeof(want));
	fd_target(res.pid, 41, got, sizeof(got));
	assert_string_equal(got, want);
	fd_target(getpid(), 45, want, sizeof(want));
	fd_target(res.pid, 45, got, sizeof(got));
	assert_string_equal(got, want);
	/* the parent's descriptors are as they were */
	assert_true(fcntl(40, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(45, F_GETFD) & FD_CLOEXEC);

	int all[] = {a[0], a[1], b[0], b[1], c[0], c[1], 40, 41, 45, devnull};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		close(all[i]);
}

/* fd 0 of the child from a parent fd that is itself a low number's target. */
static void test_spawn_fds_rotate(void **state)
{
	int d = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int z = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	int f = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	assert_true(d >= 0 && z >= 0 && f >= 0);
	/* child: 0 <- /dev/zero, 1 <- the parent's 2, 2 <- /dev/null, 3 <- the status file */
	int fds[] = {z, 2, d, f};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.fds = fds;
	o.nfds = 4;
	struct wd_spawn_result res = spawn_ok(&o);
	const int expect[] = {0, 1, 2, 3};
	check_child_fds(res.pid, expect, 4);
	char want[256], got[256];
	fd_target(res.pid, 0, got, sizeof(got));
	assert_string_equal(got, "/dev/zero");
	fd_target(getpid(), 2, want, sizeof(want));
	fd_target(res.pid, 1, got, sizeof(got));
	assert_string_equal(got, want);
	fd_target(res.pid, 2, got, sizeof(got));
	assert_string_equal(got, "/dev/null");
	fd_target(getpid(), f, want, sizeof(want));
	fd_target(res.pid, 3, got, sizeof(got));
	assert_string_equal(got, want);
	close(d);
	close(z);
	close(f);
}

/* SigBlk of /proc/<pid>/status as a number. */
static uint64_t proc_sigmask(pid_t pid, const char *field)
{
	char v[64];
	assert_int_equal(proc_status_field(pid, field, v, sizeof(v)), 0);
	return strtoull(v, NULL, 16);
}

static void test_spawn_sigmask(void **state)
{
	sigset_t parent, old;
	sigemptyset(&parent);
	sigaddset(&parent, SIGUSR2);
	sigaddset(&parent, SIGCHLD);
	sigprocmask(SIG_BLOCK, &parent, &old);

	/* a given mask, exactly */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, WD_SIGRTMIN + 3);
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.sigmask = &mask;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	uint64_t want =
		(1ull << (SIGUSR1 - 1)) | (1ull << (SIGTERM - 1)) | (1ull << (WD_SIGRTMIN + 3 - 1));
	uint64_t got = proc_sigmask(res.pid, "SigBlk");
	if (got != want) {
		print_error("child SigBlk %016llx, expected %016llx\n", (unsigned long long)got,
			    (unsigned long long)want);
		fail();
	}

	/* NULL: empty, whatever the parent has blocked */
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	assert_int_equal(proc_sigmask(res.pid, "SigBlk"), 0);

	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_spawn_reset_signals(void **state)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, old1, old2;
	sigaction(SIGUSR1, &ign, &old1);
	sigaction(SIGHUP, &ign, &old2);
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.flags = WD_SPAWN_RESET_SIGNALS;
	struct wd_spawn_result res = spawn_ok(&o);
	sigaction(SIGUSR1, &old1, NULL);
	sigaction(SIGHUP, &old2, NULL);
	assert_true(wait_asleep(res.pid, 10000));
	assert_int_equal(proc_sigmask(res.pid, "SigIgn"), 0);
}

static void test_spawn_setpgid(void **state)
{
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.flags = WD_SPAWN_SETPGID;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_int_equal(getpgid(res.pid), res.pid);
	assert_int_equal(getsid(res.pid), getsid(0));

	/* without the flag the child stays in our group */
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	assert_int_equal(getpgid(res.pid), getpgrp());
}

static void test_spawn_setsid(void **state)
{
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.flags = WD_SPAWN_SETSID;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_int_equal(getsid(res.pid), res.pid);
	assert_int_equal(getpgid(res.pid), res.pid);
}

static void test_spawn_env_umask(void **state)
{
	struct wd_spawn o;
	char *envp[] = {A("FOO=bar"), A("WARDEN_UNIT=1"), NULL};
	spawn_init(&o, sleep_argv);
	o.envp = envp;
	o.umask = 027;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)res.pid);
	ssize_t n = read_file(path, buf, sizeof(buf));
	assert_int_equal(n, 22);
	assert_memory_equal(buf, "FOO=bar\0WARDEN_UNIT=1\0", 22);
	char v[32];
	assert_int_equal(proc_status_field(res.pid, "Umask", v, sizeof(v)), 0);
	assert_string_equal(v, "0027");

	/* -1 leaves the umask alone */
	mode_t mine = umask(022);
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	umask(mine);
	assert_int_equal(proc_status_field(res.pid, "Umask", v, sizeof(v)), 0);
	assert_string_equal(v, "0022");
}

/* Socket activation: the child writes its own pid into one envp string. */
static void test_spawn_listen_pid(void **state)
{
	char slot[sizeof("LISTEN_PID=") + WD_PID_DIGITS_MAX] = "LISTEN_PID=0";
	char *envp[] = {A("LISTEN_FDS=1"), slot, A("Z=9"), NULL};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.envp = envp;
	o.pid_env = slot;
	o.pid_env_size = sizeof(slot);
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char path[64], buf[512], want[128];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)res.pid);
	ssize_t n = read_file(path, buf, sizeof(buf));
	int wl = snprintf(want, sizeof(want), "LISTEN_FDS=1%cLISTEN_PID=%d%cZ=9%c", 0, (int)res.pid,
			  0, 0);
	if (n != wl || memcmp(buf, want, (size_t)wl) != 0) {
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		print_error("child environment \"%.*s\", expected LISTEN_PID=%d\n", (int)n, buf,
			    (int)res.pid);
		fail();
	}
}

/* RLIMIT_NOFILE for the child, from /proc/<pid>/limits. */
static void test_spawn_nofile(void **state)
{
	struct rlimit rl = {64, 128};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.nofile = &rl;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)res.pid);
	assert_true(read_file(path, buf, sizeof(buf)) > 0);
	char *line = strstr(buf, "Max open files");
	assert_non_null(line);
	unsigned long soft = 0, hard = 0;
	assert_int_equal(sscanf(line + strlen("Max open files"), "%lu %lu", &soft, &hard), 2);
	assert_int_equal(soft, 64);
	assert_int_equal(hard, 128);
}

/* Credentials: as root, become nobody, supplementary groups included. */
static void test_spawn_credentials(void **state)
{
	if (geteuid() != 0)
		cannot_run("it needs root, to become nobody");
	const gid_t groups[] = {65534, 65533};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.set_creds = true;
	o.uid = 65534;
	o.gid = 65534;
	o.groups = groups;
	o.ngroups = 2;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char v[128];
	assert_int_equal(proc_status_field(res.pid, "Uid", v, sizeof(v)), 0);
	assert_string_equal(v, "65534\t65534\t65534\t65534");
	assert_int_equal(proc_status_field(res.pid, "Gid", v, sizeof(v)), 0);
	assert_string_equal(v, "65534\t65534\t65534\t65534");
	assert_int_equal(proc_status_field(res.pid, "Groups", v, sizeof(v)), 0);
	assert_true(strcmp(v, "65533 65534") == 0 || strcmp(v, "65533 65534 ") == 0);
}

/* Credentials that cannot be taken: -EPERM at WD_STAGE_CREDENTIALS. */
static void test_spawn_credentials_denied(void **state)
{
	if (geteuid() != 0)
		cannot_run("it needs root, for the helper to drop to nobody");
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		struct wd_spawn o;
		struct wd_spawn_result res;
		spawn_init(&o, sleep_argv);
		o.set_creds = true;
		o.uid = 0;
		o.gid = 0;
		int r = wd_spawn(&o, &res);
		if (r == 0)
			_exit(91);
		if (r != -EPERM)
			_exit(92);
		if (res.stage != WD_STAGE_CREDENTIALS)
			_exit(93);
		_exit(0);
	}
	int st = wait_child(pid, 10000);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		print_error(
			"helper status 0x%x: exit 91 spawned anyway, 92 another error, 93 another "
			"stage\n",
			st);
		fail();
	}
}

/*
 * A privilege, as root: resource limits, then nobody with exactly one
 * capability (bounding, permitted, effective, inheritable and ambient
 * sets) and no_new_privs.
 */
static void test_spawn_privilege(void **state)
{
	if (geteuid() != 0)
		cannot_run("it needs root, to become nobody with a capability");
	const struct wd_rlimit rl[] = {{RLIMIT_NOFILE, {40, 50}}, {RLIMIT_CORE, {0, 0}}};
	const gid_t groups[] = {65534};
	struct wd_privilege pv = {.rlimits = rl,
				  .nrlimits = 2,
				  .set_caps = true,
				  .caps = UINT64_C(1) << 10 /* CAP_NET_BIND_SERVICE */,
				  .no_new_privs = true};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.set_creds = true;
	o.uid = 65534;
	o.gid = 65534;
	o.groups = groups;
	o.ngroups = 1;
	o.privilege = &pv;
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char v[128];
	assert_int_equal(proc_status_field(res.pid, "Uid", v, sizeof(v)), 0);
	assert_string_equal(v, "65534\t65534\t65534\t65534");
	static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		assert_int_equal(proc_status_field(res.pid, sets[i], v, sizeof(v)), 0);
		assert_string_equal(v, "0000000000000400");
	}
	assert_int_equal(proc_status_field(res.pid, "NoNewPrivs", v, sizeof(v)), 0);
	assert_string_equal(v, "1");
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)res.pid);
	assert_true(read_file(path, buf, sizeof(buf)) > 0);
	char *line = strstr(buf, "Max open files");
	assert_non_null(line);
	unsigned long soft = 0, hard = 0;
	assert_int_equal(sscanf(line + strlen("Max open files"), "%lu %lu", &soft, &hard), 2);
	assert_int_equal(soft, 40);
	assert_int_equal(hard, 50);
}

/* Waits (bounded) for the report pipe, and returns wd_spawn_outcome_detail(). */
static int detail_of(int fd, enum wd_spawn_stage *stage, int *detail)
{
	struct pollfd pf = {fd, POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 10000), 1);
	return wd_spawn_outcome_detail(fd, stage, detail);
}

/* A failed privilege item: its stage and which one, the child gone with 126. */
static void test_spawn_privilege_detail(void **state)
{
	/* The second limit has its soft limit above its hard one. */
	struct wd_rlimit rl[] = {{RLIMIT_CORE, {0, 0}}, {RLIMIT_NOFILE, {1 << 20, 1}}};
	struct wd_privilege pv = {.rlimits = rl, .nrlimits = 2};
	struct wd_spawn o;
	struct wd_spawn_pending p = {-1, -1};
	enum wd_spawn_stage stage = WD_STAGE_NONE;
	int detail = -7;
	spawn_init(&o, sleep_argv);
	o.privilege = &pv;
	assert_int_equal(wd_spawn_start(&o, &p), 0);
	track(p.pid, -1);
	/* soft above hard: EINVAL, whoever runs it */
	assert_int_equal(detail_of(p.fd, &stage, &detail), -EINVAL);
	assert_int_equal(stage, WD_STAGE_RLIMIT);
	assert_int_equal(detail, 1);
	close(p.fd);
	int st = wait_child(p.pid, 10000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 126);
	if (geteuid() != 0)
		return;
	/* Credentials, from nobody: setgroups() is the call that fails. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		spawn_init(&o, sleep_argv);
		o.set_creds = true;
		o.uid = 65534;
		o.gid = 0;
		if (wd_spawn_start(&o, &p) < 0)
			_exit(91);
		struct pollfd pf = {p.fd, POLLIN, 0};
		if (poll(&pf, 1, 10000) != 1)
			_exit(92);
		if (wd_spawn_outcome_detail(p.fd, &stage, &detail) != -EPERM)
			_exit(93);
		if (stage != WD_STAGE_CREDENTIALS || detail != WD_CREDS_GROUPS)
			_exit(94);
		(void)waitpid(p.pid, NULL, 0);
		_exit(0);
	}
	st = wait_child(pid, 10000);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- spawning without waiting for the exec ---- */

/* Waits (bounded) for the report pipe, and returns wd_spawn_outcome(). */
static int outcome_of(int fd, enum wd_spawn_stage *stage)
{
	struct pollfd pf = {fd, POLLIN, 0};
	assert_int_equal(poll(&pf, 1, 10000), 1);
	return wd_spawn_outcome(fd, stage);
}

/* wd_spawn_start() returns at once; the pipe says EOF once the child has exec'd. */
static void test_spawn_start_execs(void **state)
{
	struct wd_spawn o;
	struct wd_spawn_pending p = {-1, -1};
	enum wd_spawn_stage stage = WD_STAGE_NONE;
	spawn_init(&o, sleep_argv);
	o.flags = WD_SPAWN_SETPGID;
	assert_int_equal(wd_spawn_start(&o, &p), 0);
	track(p.pid, -1);
	assert_true(p.pid > 0 && p.fd >= 0);
	int fl = fcntl(p.fd, F_GETFL), fd = fcntl(p.fd, F_GETFD);
	assert_true((fl & O_NONBLOCK) && (fd & FD_CLOEXEC));
	assert_int_equal(outcome_of(p.fd, &stage), 1);
	assert_int_equal(stage, WD_STAGE_NONE); /* untouched on success */
	close(p.fd);
	/* Its group exists once it runs (the child makes it). */
	assert_true(wait_asleep(p.pid, 10000));
	assert_int_equal(getpgid(p.pid), p.pid);
}

/* A failed exec: the report names the stage and errno, the child exits 127 (or as asked). */
static void test_spawn_start_fails_later(void **state)
{
	char *argv[] = {A("/nonexistent/warden-unit-test"), NULL};
	for (int code = 0; code <= 2; code += 2) {
		struct wd_spawn o;
		struct wd_spawn_pending p = {-1, -1};
		enum wd_spawn_stage stage = WD_STAGE_NONE;
		spawn_init(&o, argv);
		o.exec_fail_code = code; /* 0: the shell's 127 */
		assert_int_equal(wd_spawn_start(&o, &p), 0);
		track(p.pid, -1);
		assert_int_equal(outcome_of(p.fd, &stage), -ENOENT);
		assert_int_equal(stage, WD_STAGE_EXEC);
		close(p.fd);
		int st = wait_child(p.pid, 10000);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), code ? code : 127);
	}
	assert_true(no_children());
}

/*
 * WD_SPAWN_CWD_FIRST enters the directory with the parent's rights, before
 * the credentials change: the directory a root parent was started in, even
 * when the child's user could not enter it.
 */
static void test_spawn_cwd_first(void **state)
{
	if (geteuid() != 0)
		cannot_run("it needs root, to become nobody");
	assert_int_equal(chmod(tmpdir, 0700), 0);
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.cwd = tmpdir;
	o.set_creds = true;
	o.uid = 65534;
	o.gid = 65534;
	spawn_fail(&o, -EACCES, WD_STAGE_CHDIR, -1);
	o.flags = WD_SPAWN_CWD_FIRST;
	struct wd_spawn_result res = spawn_ok(&o);
	check_cwd(res.pid, tmpdir);
}

static void test_spawn_kill_pidfd(void **state)
{
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(res.pidfd >= 0);
	assert_true(fcntl(res.pidfd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(wd_child_kill(res.pid, res.pidfd, SIGTERM), 0);
	int st = reap_child(res.pid, res.pidfd);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGTERM);
	assert_int_equal(wd_status_code(st), 128 + SIGTERM);
	/* reaped: the pidfd refuses rather than hitting a recycled pid */
	assert_int_equal(wd_child_kill(res.pid, res.pidfd, SIGTERM), -ESRCH);

	/* without a pidfd, by pid */
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	assert_int_equal(wd_child_kill(res.pid, -1, SIGKILL), 0);
	st = reap_child(res.pid, res.pidfd);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/*
 * pdeathsig: an intermediate process spawns a child and exits; the child
 * gets the signal and, as an orphan, comes back to us (the subreaper).
 */
static void test_spawn_pdeathsig(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		struct wd_spawn o;
		spawn_init(&o, sleep_argv);
		o.pdeathsig = SIGUSR1;
		struct wd_spawn_result res;
		if (wd_spawn(&o, &res) != 0)
			_exit(1);
		if (write(p[1], &res.pid, sizeof(res.pid)) != sizeof(res.pid))
			_exit(2);
		_exit(0);
	}
	close(p[1]);
	pid_t child = 0;
	assert_int_equal(read(p[0], &child, sizeof(child)), sizeof(child));
	close(p[0]);
	track(child, -1);
	int st = wait_child(mid, 5000);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the orphan is reparented to us: until then waitpid() says ECHILD */
	pid_t r = 0;
	for (int i = 0; i < 2500 && r != child; i++) {
		r = waitpid(child, &st, WNOHANG);
		if (r != child)
			sleep_ms(2);
	}
	if (r != child) {
		kill(child, SIGKILL);
		fail_msg("the orphaned child %d did not end (or did not come back)", (int)child);
	}
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGUSR1);
}

/* ---- safe defaults ---- */

/*
 * WD_SPAWN_CGROUP: without a descriptor the spawn is refused before any
 * fork; with a directory that is no cgroup it fails and leaves no child.
 * (Spawning into a real cgroup is tests/integration/test_cgroup.py's: it
 * needs cgroup2 mounted read-write.)
 */
static void test_spawn_cgroup_refused(void **state)
{
	(void)state;
	char *argv[] = {A("/bin/true"), NULL};
	struct wd_spawn o = WD_SPAWN_INIT;
	struct wd_spawn_result res;
	int dir;

	assert_int_equal(o.cgroup_fd, 0);
	o.argv = argv;
	o.flags = WD_SPAWN_CGROUP;
	o.cgroup_fd = -1;
	assert_int_equal(wd_spawn(&o, &res), -EINVAL);
	assert_int_equal(res.stage, WD_STAGE_SETUP);
	dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dir >= 0);
	o.cgroup_fd = dir;
	assert_true(wd_spawn(&o, &res) < 0);
	assert_true(res.stage == WD_STAGE_FORK || res.stage == WD_STAGE_SETUP);
	close(dir);
	/* Without the flag the descriptor means nothing. */
	o.flags = 0;
	o.cgroup_fd = -1;
	assert_int_equal(wd_spawn(&o, &res), 0);
	struct wd_exit ex;
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_int_equal(ex.status, 0);
	if (res.pidfd >= 0)
		close(res.pidfd);
}

/* WD_SPAWN_INIT and wd_spawn_init() agree, and neither means what zero does. */
static void test_spawn_init_defaults(void **state)
{
	struct wd_spawn lit = WD_SPAWN_INIT, fn;

	memset(&fn, 0x5a, sizeof(fn)); /* garbage the init must overwrite */
	wd_spawn_init(&fn);
	assert_int_equal(fn.tty_fd, -1);
	assert_int_equal(fn.umask, -1);
	assert_int_equal(fn.nfds, 0);
	assert_null(fn.fds);
	assert_int_equal(fn.pdeathsig, 0);
	assert_false(fn.set_creds);
	assert_int_equal(fn.flags, 0);
	assert_null(fn.pid_env);
	assert_int_equal(fn.exec_fail_code, 0);
	for (size_t i = 0; i < ARRAY_SIZE(fn.reserved); i++)
		assert_null(fn.reserved[i]);
	/* Field by field: padding may differ between the two. */
	assert_int_equal(lit.tty_fd, fn.tty_fd);
	assert_int_equal(lit.umask, fn.umask);
	assert_int_equal(lit.nfds, fn.nfds);
	assert_int_equal(lit.pdeathsig, fn.pdeathsig);
	assert_int_equal(lit.set_creds, fn.set_creds);
	for (size_t i = 0; i < ARRAY_SIZE(lit.reserved); i++)
		assert_null(lit.reserved[i]);
}

/* A spawn from the bare initialiser: umask inherited, only 0-2, no terminal games. */
static void test_spawn_init_spawns_safely(void **state)
{
	int expect[3], n = 0;
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			expect[n++] = fd;
	int leak = open("/dev/null", O_RDONLY); /* no close-on-exec on purpose */
	assert_true(leak >= 3);

	struct wd_spawn o = WD_SPAWN_INIT;
	o.argv = sleep_argv;
	mode_t mine = umask(037);
	struct wd_spawn_result res = spawn_ok(&o);
	umask(mine);
	close(leak);
	assert_true(wait_asleep(res.pid, 10000));
	char v[32];
	assert_int_equal(proc_status_field(res.pid, "Umask", v, sizeof(v)), 0);
	assert_string_equal(v, "0037");
	check_child_fds(res.pid, expect, n);
	/* Same process group and session as ours: no flag asked for another. */
	assert_int_equal(getpgid(res.pid), getpgrp());
	assert_int_equal(getsid(res.pid), getsid(0));
}

/* The pid slot takes any name, and a slot without room is refused before fork. */
static void test_spawn_pid_env(void **state)
{
	char slot[sizeof("MY_PID=") + WD_PID_DIGITS_MAX] = "MY_PID=old";
	char *envp[] = {slot, NULL};
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	o.envp = envp;
	o.pid_env = slot;
	o.pid_env_size = sizeof(slot);
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(wait_asleep(res.pid, 10000));
	char path[64], buf[128], want[64];
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)res.pid);
	ssize_t n = read_file(path, buf, sizeof(buf));
	int wl = snprintf(want, sizeof(want), "MY_PID=%d", (int)res.pid) + 1;
	assert_int_equal(n, wl);
	assert_memory_equal(buf, want, (size_t)wl);
	/* The parent's copy is untouched: the child wrote its own. */
	assert_string_equal(slot, "MY_PID=old");

	struct wd_spawn_result bad;
	char small[sizeof("MY_PID=") + WD_PID_DIGITS_MAX - 1] = "MY_PID=";
	char noeq[32] = "MY_PID";
	o.pid_env = small;
	o.pid_env_size = sizeof(small);
	assert_int_equal(wd_spawn(&o, &bad), -EINVAL);
	o.pid_env = noeq;
	o.pid_env_size = sizeof(noeq);
	assert_int_equal(wd_spawn(&o, &bad), -EINVAL);
	/* Nothing was forked for either. */
	assert_int_equal(wd_child_reap(res.pid, -1, 0, &(struct wd_exit){0}), 0);
}

/* ---- one child at a time ---- */

/* A child made with plain fork(), as a host library would: exits with code. */
static pid_t foreign_child(int code)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(code);
	return pid;
}

/* Waits (bounded) until our child pid has ended, without reaping it. */
static void wait_ended_unreaped(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(si.si_pid, pid);
	assert_true(wait_zombie(pid, 10000));
}

/* The foreign child is still there for its owner: a zombie, then its status. */
static void owner_reaps(pid_t pid, int code)
{
	int st;
	assert_int_equal(proc_state(pid), 'Z');
	assert_int_equal(waitpid(pid, &st, WNOHANG), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), code);
}

static void test_child_pidfd_open(void **state)
{
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	struct wd_spawn_result res = spawn_ok(&o);
	int fd = wd_child_pidfd_open(res.pid);
	assert_true(fd >= 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	struct pollfd p = {fd, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 0), 0); /* alive: not readable */
	kill(res.pid, SIGKILL);
	assert_int_equal(poll(&p, 1, 10000), 1);
	close(fd);
	assert_int_equal(wd_child_pidfd_open(0), -EINVAL);
	assert_int_equal(wd_child_pidfd_open(-1), -EINVAL);
	/* A pid that is free: our reaped child's, while nothing can take it yet. */
	pid_t gone = foreign_child(0);
	assert_true(wait_child(gone, 10000) != -1);
	int r = wd_child_pidfd_open(gone);
	if (r >= 0) /* reused already by someone else: possible, if unlikely */
		close(r);
	else
		assert_int_equal(r, -ESRCH);
}

/* Exact status both ways (pidfd and pid), never someone else's child. */
static void test_child_reap_exact(void **state)
{
	char *exit7[] = {A("/bin/sh"), A("-c"), A("exit 7"), NULL};
	struct wd_spawn o;
	struct wd_exit ex;
	pid_t foreign = foreign_child(42);
	wait_ended_unreaped(foreign);

	/* by pidfd */
	spawn_init(&o, exit7);
	struct wd_spawn_result res = spawn_ok(&o);
	assert_true(res.pidfd >= 0);
	memset(&ex, 0, sizeof(ex));
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_int_equal(ex.pid, res.pid);
	assert_true(WIFEXITED(ex.status));
	assert_int_equal(WEXITSTATUS(ex.status), 7);
	/* gone now: the same pidfd says so, not another child */
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, 0, &ex), -ECHILD);
	assert_int_equal(proc_state(foreign), 'Z');

	/* by pid, killed by a signal */
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	assert_int_equal(wd_child_reap(res.pid, -1, 0, &ex), 0); /* running: no wait */
	assert_int_equal(wd_child_kill(res.pid, -1, SIGTERM), 0);
	assert_int_equal(wd_child_reap(res.pid, -1, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_int_equal(ex.pid, res.pid);
	assert_true(WIFSIGNALED(ex.status));
	assert_int_equal(WTERMSIG(ex.status), SIGTERM);
	assert_false(WCOREDUMP(ex.status));
	assert_int_equal(wd_child_reap(res.pid, -1, 0, &ex), -ECHILD);

	/* by pidfd, killed by a signal: the same status wait4() would give */
	spawn_init(&o, sleep_argv);
	res = spawn_ok(&o);
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, 0, &ex), 0);
	assert_int_equal(wd_child_kill(res.pid, res.pidfd, SIGKILL), 0);
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_int_equal(ex.status, SIGKILL);

	/* never any child: -1 and 0 are refused, as are unknown flags */
	assert_int_equal(wd_child_reap(-1, -1, 0, &ex), -EINVAL);
	assert_int_equal(wd_child_reap(0, -1, 0, &ex), -EINVAL);
	assert_int_equal(wd_child_reap(foreign, -1, 1 << 5, &ex), -EINVAL);
	/* not our child at all */
	assert_int_equal(wd_child_reap(1, -1, 0, &ex), -ECHILD);

	/* The foreign child waited all along for its owner. */
	owner_reaps(foreign, 42);
}

/* A core dump's flag survives the pidfd path's conversion from siginfo. */
static void test_child_reap_rusage_and_core(void **state)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* burn 30 ms of CPU time, however long that takes */
		struct timespec ts;
		volatile unsigned x = 0;
		do {
			for (int i = 0; i < 100000; i++)
				x++;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		} while (ts.tv_sec == 0 && ts.tv_nsec < 30 * 1000000L);
		_exit(3);
	}
	int fd = wd_child_pidfd_open(pid);
	assert_true(fd >= 0);
	struct wd_exit ex;
	assert_int_equal(wd_child_reap(pid, fd, WD_CHILD_REAP_WAIT, &ex), 1);
	close(fd);
	assert_int_equal(ex.status, 3 << 8);
	long us = ex.rusage.ru_utime.tv_sec * 1000000L + ex.rusage.ru_utime.tv_usec +
		  ex.rusage.ru_stime.tv_sec * 1000000L + ex.rusage.ru_stime.tv_usec;
	assert_true(us >= 20000);

	/*
	 * A core dump's flag, by pidfd and by pid: a shell (not this process,
	 * whose sanitizer's shadow memory would make a huge core) dumps into
	 * the test's directory. Whether it can depends on the machine's
	 * core_pattern: with the plain "core", it must; either way both paths
	 * must agree with each other.
	 */
	char *dump[] = {A("/bin/sh"), A("-c"), A("ulimit -c unlimited; kill -QUIT $$"), NULL};
	char pattern[64] = "";
	(void)read_file("/proc/sys/kernel/core_pattern", pattern, sizeof(pattern) - 1);
	int st[2];
	for (int i = 0; i < 2; i++) {
		struct wd_spawn o;
		spawn_init(&o, dump);
		o.cwd = tmpdir;
		struct wd_spawn_result res = spawn_ok(&o);
		assert_int_equal(
			wd_child_reap(res.pid, i == 0 ? res.pidfd : -1, WD_CHILD_REAP_WAIT, &ex),
			1);
		assert_true(WIFSIGNALED(ex.status));
		assert_int_equal(WTERMSIG(ex.status), SIGQUIT);
		st[i] = ex.status;
	}
	assert_int_equal(st[0], st[1]);
	if (strcmp(pattern, "core\n") == 0)
		assert_true(WCOREDUMP(st[0]));
	DIR *d = opendir(tmpdir);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strncmp(e->d_name, "core", 4) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* ---- watching on a loop ---- */

struct watched {
	int calls;
	int result;
	struct wd_exit ex;
	wd_loop *loop;
};

static void on_watched(struct wd_child_watch *w, int result, const struct wd_exit *ex)
{
	struct watched *got = w->data;
	got->calls++;
	got->result = result;
	if (ex)
		got->ex = *ex;
	else
		assert_int_not_equal(result, 0);
	wd_loop_quit(got->loop);
}

static void on_deadline(wd_timer *t)
{
	(void)t;
	fail_msg("the loop ran 10 s without the watch firing");
}

/* A loop whose timerfd exists already, so that counting fds sees only the watch's. */
static void loop_init(wd_loop *loop)
{
	wd_timer t = {.cb = on_deadline};
	assert_int_equal(wd_loop_init(loop), 0);
	assert_int_equal(wd_timer_start(loop, &t, wd_now() + 10000000000ull), 0);
	wd_timer_stop(&t);
}

/* Runs loop until a callback quits it, bounded by a 10 s timer that fails. */
static void run_bounded(wd_loop *loop)
{
	wd_timer guard = {.cb = on_deadline};
	assert_int_equal(wd_timer_start(loop, &guard, wd_now() + 10000000000ull), 0);
	assert_int_equal(wd_loop_run(loop), 0);
	wd_timer_stop(&guard);
}

/*
 * The worker is watched and reaped; a child the "host" forked itself, which
 * ended before the worker did, stays a zombie until the host reaps it.
 */
static void test_child_watch_foreign(void **state)
{
	wd_loop loop;
	loop_init(&loop);
	pid_t foreign = foreign_child(42);
	wait_ended_unreaped(foreign);

	char *exit5[] = {A("/bin/sh"), A("-c"), A("exit 5"), NULL};
	struct wd_spawn o;
	spawn_init(&o, exit5);
	struct wd_spawn_result res = spawn_ok(&o);
	struct watched got = {.loop = &loop};
	struct wd_child_watch w = {.data = &got};
	/* the spawn's own pidfd, which stays ours */
	assert_int_equal(wd_child_watch_start(&loop, &w, res.pid, res.pidfd, on_watched), 0);
	assert_int_equal(wd_child_watch_start(&loop, &w, res.pid, res.pidfd, on_watched),
			 -EINVAL); /* already started */
	run_bounded(&loop);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.result, 0);
	assert_int_equal(got.ex.pid, res.pid);
	assert_true(WIFEXITED(got.ex.status));
	assert_int_equal(WEXITSTATUS(got.ex.status), 5);
	assert_true(fcntl(res.pidfd, F_GETFD) >= 0); /* not closed by the watch */
	owner_reaps(foreign, 42);

	/* A watch that opens its own pidfd, on a child that has ended already. */
	foreign = foreign_child(43);
	spawn_init(&o, exit5);
	res = spawn_ok(&o);
	wait_ended_unreaped(res.pid);
	wait_ended_unreaped(foreign);
	int before = count_open_fds();
	got.calls = 0;
	assert_int_equal(wd_child_watch_start(&loop, &w, res.pid, -1, on_watched), 0);
	assert_int_equal(count_open_fds(), before + 1);
	run_bounded(&loop);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.result, 0);
	assert_int_equal(WEXITSTATUS(got.ex.status), 5);
	assert_int_equal(count_open_fds(), before); /* its own pidfd, closed */
	owner_reaps(foreign, 43);
	wd_loop_fini(&loop);
}

/* Several watches at once, each reaping only its own child. */
static void test_child_watch_many(void **state)
{
	enum { N = 8 };
	wd_loop loop;
	loop_init(&loop);
	struct wd_child_watch w[N];
	struct watched got[N];
	pid_t pids[N];
	pid_t foreign = foreign_child(44);

	for (int i = 0; i < N; i++) {
		pids[i] = foreign_child(10 + i);
		memset(&got[i], 0, sizeof(got[i]));
		got[i].loop = &loop;
		memset(&w[i], 0, sizeof(w[i]));
		w[i].data = &got[i];
		assert_int_equal(wd_child_watch_start(&loop, &w[i], pids[i], -1, on_watched), 0);
		track(pids[i], -1);
	}
	int done = 0;
	for (int round = 0; round < N && done < N; round++) {
		run_bounded(&loop);
		done = 0;
		for (int i = 0; i < N; i++)
			done += got[i].calls;
	}
	assert_int_equal(done, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(got[i].calls, 1);
		assert_int_equal(got[i].ex.pid, pids[i]);
		assert_int_equal(WEXITSTATUS(got[i].ex.status), 10 + i);
	}
	wait_ended_unreaped(foreign);
	owner_reaps(foreign, 44);
	wd_loop_fini(&loop);
}

/* Stopped, a watch leaves its child alone; reaped elsewhere, it says -ECHILD. */
static void test_child_watch_stop_and_stolen(void **state)
{
	wd_loop loop;
	loop_init(&loop);
	struct wd_spawn o;
	spawn_init(&o, sleep_argv);
	struct wd_spawn_result res = spawn_ok(&o);
	struct watched got = {.loop = &loop};
	struct wd_child_watch w;
	memset(&w, 0, sizeof(w));
	wd_child_watch_stop(&w); /* zeroed: fine */
	w.data = &got;
	int before = count_open_fds();
	assert_int_equal(wd_child_watch_start(&loop, &w, res.pid, -1, on_watched), 0);
	wd_child_watch_stop(&w);
	wd_child_watch_stop(&w); /* twice: fine */
	assert_int_equal(count_open_fds(), before);
	kill(res.pid, SIGKILL);
	wait_ended_unreaped(res.pid);
	assert_int_equal(got.calls, 0);
	struct wd_exit ex;
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, 0, &ex), 1);
	assert_int_equal(ex.status, SIGKILL);

	/* Someone else's wait4(-1) takes the child first: the watch is told so. */
	pid_t pid = foreign_child(9);
	assert_int_equal(wd_child_watch_start(&loop, &w, pid, -1, on_watched), 0);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	run_bounded(&loop);
	assert_int_equal(got.calls, 1);
	assert_int_equal(got.result, -ECHILD);
	assert_int_equal(count_open_fds(), before);

	/* Bad arguments, and a pid that is no process: nothing started. */
	assert_int_equal(wd_child_watch_start(&loop, &w, 0, -1, on_watched), -EINVAL);
	assert_int_equal(wd_child_watch_start(&loop, &w, pid, -1, NULL), -EINVAL);
	wd_loop_fini(&loop);
}

/* ---- tree kill ---- */

/* Reaps every child of ours until the group pgid is gone; bounded. */
static void reap_until_group_gone(pid_t pgid)
{
	for (int i = 0; i < 5000; i++) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return;
		sleep_ms(2);
	}
	fail_msg("process group %d still there", (int)pgid);
}

static void test_child_kill_tree_group(void **state)
{
	/* A shell with two grandchildren in its group. */
	char *tree[] = {A("/bin/sh"), A("-c"), A("sleep 30 & sleep 30 & echo x; wait"), NULL};
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int fds[] = {-1, p[1], 2};
	struct wd_spawn o;
	spawn_init(&o, tree);
	o.flags = WD_SPAWN_SETPGID;
	o.fds = fds;
	o.nfds = 3;
	struct wd_spawn_result res = spawn_ok(&o);
	close(p[1]);
	char c;
	assert_int_equal(read(p[0], &c, 1), 1); /* both sleeps started */
	close(p[0]);
	/* The group has three members (and no other group has the number). */
	assert_int_equal(getpgid(res.pid), res.pid);
	assert_int_equal(wd_child_kill_tree(res.pid, res.pidfd, SIGTERM, 0), 0);
	struct wd_exit ex;
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_true(WIFSIGNALED(ex.status));
	assert_int_equal(WTERMSIG(ex.status), SIGTERM);
	/* The sleeps got it too: they come back to us (a subreaper) and end. */
	reap_until_group_gone(res.pid);
	/* Nothing left of the tree: said as -ESRCH. */
	assert_int_equal(wd_child_kill_tree(res.pid, res.pidfd, SIGTERM, 0), -ESRCH);
	assert_int_equal(wd_child_kill_tree(res.pid, res.pidfd, SIGTERM, 1), -EINVAL);
	assert_int_equal(wd_child_kill_tree(0, -1, SIGTERM, 0), -EINVAL);
}

/* A child in the caller's group: only it gets the signal, never the caller. */
static void test_child_kill_tree_own_group(void **state)
{
	sigset_t usr1, old, pending;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old), 0);
	struct wd_spawn o;
	spawn_init(&o, sleep_argv); /* its mask: empty */
	struct wd_spawn_result res = spawn_ok(&o);
	assert_int_equal(getpgid(res.pid), getpgrp());
	assert_int_equal(wd_child_kill_tree(res.pid, -1, SIGUSR1, 0), 0);
	struct wd_exit ex;
	assert_int_equal(wd_child_reap(res.pid, res.pidfd, WD_CHILD_REAP_WAIT, &ex), 1);
	assert_int_equal(WTERMSIG(ex.status), SIGUSR1);
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGUSR1));
	sigprocmask(SIG_SETMASK, &old, NULL);
	/* Reaped, with no group of its number: -ESRCH, by pidfd. */
	assert_int_equal(wd_child_kill_tree(res.pid, res.pidfd, SIGUSR1, 0), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_status_exited, teardown),
		cmocka_unit_test_teardown(test_status_killed, teardown),
		cmocka_unit_test(test_status_core),
		cmocka_unit_test(test_status_realtime),
		cmocka_unit_test(test_status_describe_short_buffer),
		cmocka_unit_test_teardown(test_reap_no_children, teardown),
		cmocka_unit_test_teardown(test_reap_running_then_ended, teardown),
		cmocka_unit_test_teardown(test_reap_many, teardown),
		cmocka_unit_test_teardown(test_reap_rusage, teardown),
		cmocka_unit_test_teardown(test_spawn_true, teardown),
		cmocka_unit_test_teardown(test_spawn_path_lookup, teardown),
		cmocka_unit_test_teardown(test_spawn_not_found, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_not_executable, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test(test_spawn_exit_code),
		cmocka_unit_test_teardown(test_spawn_no_fd_leak, teardown),
		cmocka_unit_test_teardown(test_spawn_bad_cwd, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_cwd, setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_teardown(test_spawn_fds_default, teardown),
		cmocka_unit_test_teardown(test_spawn_fds_stdout_pipe, teardown),
		cmocka_unit_test_teardown(test_spawn_fds_closed_slot, teardown),
		cmocka_unit_test_teardown(test_spawn_fds_permutation, teardown),
		cmocka_unit_test_teardown(test_spawn_fds_rotate, teardown),
		cmocka_unit_test_teardown(test_spawn_start_execs, teardown),
		cmocka_unit_test_teardown(test_spawn_start_fails_later, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_cwd_first, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_teardown(test_spawn_sigmask, teardown),
		cmocka_unit_test_teardown(test_spawn_reset_signals, teardown),
		cmocka_unit_test_teardown(test_spawn_setpgid, teardown),
		cmocka_unit_test_teardown(test_spawn_setsid, teardown),
		cmocka_unit_test_teardown(test_spawn_env_umask, teardown),
		cmocka_unit_test_teardown(test_spawn_listen_pid, teardown),
		cmocka_unit_test_teardown(test_spawn_nofile, teardown),
		cmocka_unit_test_teardown(test_spawn_credentials, teardown),
		cmocka_unit_test_teardown(test_spawn_credentials_denied, teardown),
		cmocka_unit_test_teardown(test_spawn_kill_pidfd, teardown),
		cmocka_unit_test_teardown(test_spawn_pdeathsig, teardown),
		cmocka_unit_test(test_spawn_init_defaults),
		cmocka_unit_test(test_spawn_cgroup_refused),
		cmocka_unit_test_teardown(test_spawn_init_spawns_safely, teardown),
		cmocka_unit_test_teardown(test_spawn_pid_env, teardown),
		cmocka_unit_test_teardown(test_child_pidfd_open, teardown),
		cmocka_unit_test_teardown(test_child_reap_exact, teardown),
		cmocka_unit_test_setup_teardown(test_child_reap_rusage_and_core, setup_tmpdir,
						teardown_tmpdir),
		cmocka_unit_test_teardown(test_child_watch_foreign, teardown),
		cmocka_unit_test_teardown(test_child_watch_many, teardown),
		cmocka_unit_test_teardown(test_child_watch_stop_and_stolen, teardown),
		cmocka_unit_test_teardown(test_child_kill_tree_group, teardown),
		cmocka_unit_test_teardown(test_child_kill_tree_own_group, teardown),
		cmocka_unit_test_teardown(test_spawn_privilege, teardown),
		cmocka_unit_test_teardown(test_spawn_privilege_detail, teardown),
	};
	unit_init();
	/* orphaned grandchildren come back to us, so none is left behind */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	reap_all_children();
	return r;
}
