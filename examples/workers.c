/* SPDX-License-Identifier: MIT */
/*
 * workers: a program that spawns workers and watches them with pidfds on a
 * wd_loop, while a "host library" inside the same program spawns and reaps
 * children of its own, with plain fork() and waitpid(its pid), as any
 * library does. It proves that libwarden never reaps what it did not spawn:
 * the host's children end first and wait, unreaped, for as long as the
 * workers run; afterwards the host still finds every one of them.
 *
 *   workers [N]     N workers (1 to 64, default 4), then one more that runs
 *                   until its tree is killed
 *
 * Prints one line per child reaped, by whom, and "ok" at the end. Exits 0
 * when every worker was reaped by its watch with the status it should have,
 * every host child by the host, and no child is left; 1 otherwise; 2 on a
 * usage error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/loop.h>

#define WORKERS_MAX 64
#define HOST_CHILDREN 3

/* ---- the host library: knows nothing of libwarden ---- */

struct host {
	pid_t pids[HOST_CHILDREN];
};

/*
 * Starts the host's children, each exiting with 40 + its index, and waits
 * until all have ended, without reaping them (WNOWAIT): from then on they
 * are zombies that a careless wait4(-1) elsewhere in the program would
 * take. Returns 0 or -1.
 */
static int host_start(struct host *h)
{
	for (int i = 0; i < HOST_CHILDREN; i++) {
		siginfo_t si;

		h->pids[i] = fork();
		if (h->pids[i] < 0) {
			perror("host: fork");
			return -1;
		}
		if (h->pids[i] == 0)
			_exit(40 + i);
		if (waitid(P_PID, (id_t)h->pids[i], &si, WEXITED | WNOWAIT) < 0) {
			perror("host: waitid");
			return -1;
		}
	}
	return 0;
}

/* Reaps the host's own children, by pid. Returns how many were as expected. */
static int host_finish(struct host *h)
{
	int good = 0;

	for (int i = 0; i < HOST_CHILDREN; i++) {
		int status;
		pid_t r = waitpid(h->pids[i], &status, WNOHANG);

		if (r != h->pids[i]) {
			printf("host child pid %d: STOLEN (waitpid: %s)\n", (int)h->pids[i],
			       r < 0 ? strerror(errno) : "still running");
			continue;
		}
		printf("host child pid %d: reaped by the host, exited with code %d\n",
		       (int)h->pids[i], WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 40 + i)
			good++;
	}
	return good;
}

/* ---- the program: workers on a wd_loop ---- */

struct worker {
	int index; /* -1: the long-running one */
	pid_t pid;
	int pidfd;
	struct wd_child_watch watch;
	struct workers *all;
};

struct workers {
	wd_loop loop;
	struct worker w[WORKERS_MAX + 1];
	int n;	     /* short-lived workers */
	int ended;   /* of all n + 1 */
	int correct; /* ended with the status they should have */
};

/* Starts worker i (-1: the long-running one) and its watch. Returns 0 or -1. */
static int worker_start(struct workers *all, struct worker *w, int index)
{
	char arg[16];
	char *argv[] = {(char *)"/proc/self/exe", (char *)"--worker", arg, NULL};
	struct wd_spawn sp = WD_SPAWN_INIT; /* umask kept, only 0-2 passed */
	struct wd_spawn_result res;
	int r;

	snprintf(arg, sizeof(arg), "%d", index);
	sp.argv = argv;
	sp.flags = WD_SPAWN_SETPGID; /* its own group: its tree can be killed */
	sp.pdeathsig = SIGKILL;	     /* should this program die, its workers go too */
	r = wd_spawn(&sp, &res);
	if (r < 0) {
		fprintf(stderr, "workers: cannot spawn worker %d: %s\n", index, strerror(-r));
		return -1;
	}
	w->index = index;
	w->pid = res.pid;
	w->pidfd = res.pidfd;
	w->all = all;
	w->watch.data = w;
	return 0;
}

static void on_worker_ended(struct wd_child_watch *watch, int result, const struct wd_exit *ex);

static int watch(struct workers *all, struct worker *w)
{
	int r = wd_child_watch_start(&all->loop, &w->watch, w->pid, w->pidfd, on_worker_ended);

	if (r < 0)
		fprintf(stderr, "workers: cannot watch worker %d: %s\n", w->index, strerror(-r));
	return r;
}

static void on_worker_ended(struct wd_child_watch *watch, int result, const struct wd_exit *ex)
{
	struct worker *w = watch->data;
	struct workers *all = w->all;
	char how[64];
	bool ok;

	close(w->pidfd);
	w->pidfd = -1;
	all->ended++;
	if (result < 0) {
		printf("worker %d pid %d: reaped by someone else (%s)\n", w->index, (int)w->pid,
		       strerror(-result));
	} else {
		if (w->index >= 0)
			ok = WIFEXITED(ex->status) && WEXITSTATUS(ex->status) == 10 + w->index;
		else
			ok = WIFSIGNALED(ex->status) && WTERMSIG(ex->status) == SIGTERM;
		all->correct += ok;
		printf("worker %d pid %d: reaped by its watch, %s\n", w->index, (int)w->pid,
		       wd_status_describe(ex->status, how, sizeof(how)));
	}
	/* The short-lived ones are done: end the long-running one's whole tree. */
	if (all->ended == all->n) {
		struct worker *last = &all->w[all->n];
		int r = wd_child_kill_tree(last->pid, last->pidfd, SIGTERM, 0);

		if (r < 0) {
			fprintf(stderr, "workers: cannot stop worker -1: %s\n", strerror(-r));
			wd_loop_quit(&all->loop);
		}
	}
	if (all->ended == all->n + 1)
		wd_loop_quit(&all->loop);
}

/* True when this process has no child left, zombie or not: WNOWAIT reaps none. */
static bool childless(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

static int worker_main(const char *arg)
{
	int index = atoi(arg);

	if (index < 0) {
		/* Runs until its tree is killed. */
		for (;;)
			pause();
	}
	return 10 + index;
}

int main(int argc, char **argv)
{
	static struct workers all;
	struct host host;
	int n = 4, r, good;

	if (argc == 3 && strcmp(argv[1], "--worker") == 0)
		return worker_main(argv[2]);
	if (argc > 2 || (argc == 2 && ((n = atoi(argv[1])) < 1 || n > WORKERS_MAX))) {
		fprintf(stderr, "usage: workers [N]   (1 <= N <= %d)\n", WORKERS_MAX);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* The host library's children: ended, unreaped, before any worker starts. */
	if (host_start(&host) < 0)
		return 1;

	r = wd_loop_init(&all.loop);
	if (r < 0) {
		fprintf(stderr, "workers: no loop: %s\n", strerror(-r));
		return 1;
	}
	all.n = n;
	for (int i = 0; i <= n; i++)
		if (worker_start(&all, &all.w[i], i < n ? i : -1) < 0 || watch(&all, &all.w[i]) < 0)
			return 1;
	r = wd_loop_run(&all.loop);
	wd_loop_fini(&all.loop);
	if (r < 0) {
		fprintf(stderr, "workers: loop: %s\n", strerror(-r));
		return 1;
	}

	good = host_finish(&host);
	if (!childless()) {
		printf("a child is left behind\n");
		return 1;
	}
	if (all.correct != n + 1 || good != HOST_CHILDREN) {
		printf("failed: %d of %d workers and %d of %d host children as expected\n",
		       all.correct, n + 1, good, HOST_CHILDREN);
		return 1;
	}
	printf("ok: %d workers reaped by their watches, %d host children by the host\n", n + 1,
	       HOST_CHILDREN);
	return 0;
}
