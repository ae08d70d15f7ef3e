/* SPDX-License-Identifier: MIT */
/*
 * zwatch: watch an init reap an orphan storm, from outside its namespace.
 *
 *   zwatch INITPID GOFIFO RELEASEFILE [INTERVAL_US] [TIMEOUT_S]
 *
 * Takes a full sample (below), opens GOFIFO for writing (this blocks until
 * storm, done making its orphans, opens it for reading), writes one byte
 * and samples until the storm is over, every INTERVAL_US (default 1000):
 *
 * - quick sample, every time: the number of tasks in the system (the total
 *   of /proc/loadavg, which counts zombies until they are reaped), O(1).
 *   Minus the count the system will have once all orphans are gone, it
 *   gives the orphans not reaped yet, alive or zombie ("unreaped");
 *   processes starting or ending elsewhere on the host add a little noise.
 * - full sample: /proc/INITPID/task/INITPID/children (the host pids of the
 *   init's children) and the state of each from /proc/PID/stat: the exact
 *   number of children and of zombies (state Z) among them. It costs about
 *   10 us per child, so while many are left it is taken only when 4 times
 *   its own duration has passed since the last one (the watcher then uses
 *   at most a fifth of a CPU); once the quick sample says fewer than 512
 *   are left, at every sample.
 *
 * zwatch samples with SCHED_FIFO priority 10 (it needs root): the orphans
 * all become runnable at once, and a normal task would get the CPU too
 * rarely to sample at all. The init runs at its normal priority.
 *
 * The storm is over at the first full sample where the init has at most one
 * child (storm itself) and no zombie. RELEASEFILE (written by storm) gives
 * the release time; zwatch prints, on one line:
 *
 *   made=N reap_ms=T exited_ms=E peak_unreaped=U peak_zombies=Z
 *   init_cpu_ms=C init_runs=R full_samples=F samples=S last_gap_ms=G
 *
 * reap_ms: from the release to the time of that full sample; exited_ms: to
 * the first full sample where no orphan was alive any more (all exited,
 * zombies perhaps not reaped yet: reap_ms - exited_ms is how far the init
 * lagged behind the kernel at the end); last_gap_ms:
 * the time since the full sample before it (the resolution of reap_ms);
 * peak_unreaped: from quick samples; peak_zombies: from full samples (exact
 * counts, but at coarser instants, so the true peak may be higher);
 * init_cpu_ms, init_runs: the CPU time the init used from the go to the end
 * and how many times it got the CPU (/proc/PID/schedstat). Exits 0,
 * or 1 (reap_ms=timeout) when the storm is not over after TIMEOUT_S
 * (default 120) seconds.
 */
#include "common.h"

#include <sched.h>
#include <signal.h>

static volatile sig_atomic_t alarmed;

static void on_alarm(int sig)
{
	(void)sig;
	alarmed = 1;
}

static char *buf;
static size_t cap;
static int procfd;
static char children_path[64];

/* Reads the whole of PATH into buf (grown as needed); returns its length or -1. */
static ssize_t slurp(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	for (;;) {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			if (!buf) {
				perror("zwatch: realloc");
				exit(2);
			}
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = 0;
	return r < 0 ? -1 : (ssize_t)len;
}

/* Tasks in the system, zombies included. */
static long tasks(void)
{
	char *slash;

	if (slurp(procfd, "loadavg") < 0 || !(slash = strchr(buf, '/'))) {
		perror("zwatch: read /proc/loadavg");
		exit(2);
	}
	return strtol(slash + 1, NULL, 10);
}

/* The init's CPU time (ns) and number of times it got the CPU, from
 * /proc/PID/schedstat; 0 when unavailable. */
static void schedstat(long pid, long long *cpu_ns, long long *runs)
{
	char path[64];

	*cpu_ns = *runs = 0;
	snprintf(path, sizeof(path), "%ld/schedstat", pid);
	if (slurp(procfd, path) > 0 && sscanf(buf, "%lld %*lld %lld", cpu_ns, runs) != 2)
		*cpu_ns = *runs = 0;
}

/* Full sample: returns the number of the init's children, *zombies set. */
static long full_sample(long *zombies)
{
	static pid_t *pids;
	static size_t npcap;
	size_t np = 0;
	char path[64], st[512], *p, *end;
	long z = 0;

	if (slurp(procfd, children_path) < 0) {
		perror("zwatch: read children");
		exit(2);
	}
	for (p = buf;;) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		if (np == npcap) {
			npcap = npcap ? npcap * 2 : 4096;
			pids = realloc(pids, npcap * sizeof(*pids));
			if (!pids) {
				perror("zwatch: realloc");
				exit(2);
			}
		}
		pids[np++] = (pid_t)v;
		p = end;
	}
	for (size_t i = 0; i < np; i++) {
		int fd;
		ssize_t r;

		snprintf(path, sizeof(path), "%d/stat", (int)pids[i]);
		fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* reaped meanwhile */
		r = read(fd, st, sizeof(st) - 1);
		close(fd);
		if (r <= 0)
			continue;
		st[r] = 0;
		p = strrchr(st, ')');
		if (p && p[1] == ' ' && p[2] == 'Z')
			z++;
	}
	*zombies = z;
	return (long)np;
}

int main(int argc, char **argv)
{
	long interval_us = 1000, timeout = 120, samples = 0, fulls = 0, peak_z = 0, peak_u = 0;
	long made = -1, final_tasks, c, z;
	int64_t t_full_prev = 0, t_done = 0, t_release = 0, next_full = 0, t_exited = 0;
	struct sigaction sa = {.sa_handler = on_alarm};
	int fd;
	long long tr, cpu0, cpu1, runs0, runs1;

	if (argc < 4 || argc > 6) {
		fprintf(stderr,
			"usage: zwatch INITPID GOFIFO RELEASEFILE [INTERVAL_US] [TIMEOUT_S]\n");
		return 2;
	}
	long pid = parse_long(argv[1], "INITPID");
	if (argc > 4)
		interval_us = parse_long(argv[4], "INTERVAL_US");
	if (argc > 5)
		timeout = parse_long(argv[5], "TIMEOUT_S");
	snprintf(children_path, sizeof(children_path), "%ld/task/%ld/children", pid, pid);
	procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		perror("zwatch: open /proc");
		return 2;
	}

	/* No SA_RESTART: the alarm interrupts a blocked open(). */
	sigaction(SIGALRM, &sa, NULL);
	alarm((unsigned)timeout);
	fd = open(argv[2], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "zwatch: open go fifo: %s\n",
			alarmed ? "timed out" : strerror(errno));
		printf("made=-1 reap_ms=timeout peak_unreaped=-1 peak_zombies=-1 full_samples=0 "
		       "samples=0 last_gap_ms=-1\n");
		return 1;
	}
	/* While 20000 orphans are runnable at once, a normal task gets a turn
	 * every few hundred ms: sample from a real-time priority (the samples
	 * are short and the full ones rationed, see above). */
	{
		struct sched_param sp = {.sched_priority = 10};

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			perror("zwatch: SCHED_FIFO (sampling will be coarse)");
	}
	/* storm has made its orphans and waits for the byte: nothing moves. */
	c = full_sample(&z);
	final_tasks = tasks() - (c - 1);
	schedstat(pid, &cpu0, &runs0);
	if (write(fd, "g", 1) != 1) {
		perror("zwatch: write go fifo");
		return 2;
	}
	close(fd);

	while (!alarmed) {
		int64_t t = now_ns();
		long u = tasks() - final_tasks;

		samples++;
		if (u > peak_u)
			peak_u = u;
		if (u < 512 || t >= next_full) {
			c = full_sample(&z);
			fulls++;
			next_full = t + 5 * (now_ns() - t);
			if (z > peak_z)
				peak_z = z;
			if (!t_exited && c - 1 - z <= 0)
				t_exited = t; /* no orphan alive: only zombies left */
			if (c <= 1 && z == 0) {
				t_done = t;
				schedstat(pid, &cpu1, &runs1);
				break;
			}
			t_full_prev = t;
		}
		if (interval_us)
			nap_us(interval_us);
	}

	/* storm writes the release time just after the release; give it a moment. */
	for (int i = 0; i < 2000 && !alarmed; i++) {
		if (slurp(AT_FDCWD, argv[3]) > 0 && sscanf(buf, "%lld %ld", &tr, &made) == 2) {
			t_release = tr;
			break;
		}
		nap_us(1000);
	}
	if (!t_done || !t_release) {
		printf("made=%ld reap_ms=timeout peak_unreaped=%ld peak_zombies=%ld "
		       "full_samples=%ld "
		       "samples=%ld last_gap_ms=-1\n",
		       made, peak_u, peak_z, fulls, samples);
		return 1;
	}
	printf("made=%ld reap_ms=%.2f exited_ms=%.2f peak_unreaped=%ld peak_zombies=%ld "
	       "init_cpu_ms=%.1f init_runs=%lld full_samples=%ld samples=%ld last_gap_ms=%.2f\n",
	       made, (double)(t_done - t_release) / 1e6, (double)(t_exited - t_release) / 1e6,
	       peak_u, peak_z, (double)(cpu1 - cpu0) / 1e6, runs1 - runs0, fulls, samples,
	       t_full_prev ? (double)(t_done - t_full_prev) / 1e6 : 0.0);
	return 0;
}
