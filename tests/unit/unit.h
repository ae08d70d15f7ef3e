/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_TESTS_UNIT_H
#define WARDEN_TESTS_UNIT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, dup3, close_range: include this header first */
#endif

/*
 * Small helpers shared by the unit tests. Header-only so that each test
 * stays one executable built from one file.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <cmocka.h>

/*
 * A test that cannot run here fails, saying why: cmocka's own skip() only
 * counts the test apart and still exits 0, so CI would pass without it.
 */
#undef skip
#define skip() fail_msg("skipped: a test that cannot run here fails (see unit.h)")
#define cannot_run(why) fail_msg("cannot run here: %s", why)

/*
 * A whole test binary must finish in this many seconds; a hang then ends
 * the process with SIGALRM, which fails the test instead of stalling CI.
 */
#define UNIT_TIMEOUT_SEC 60

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The guard byte written after every buffer whose bounds are checked. */
#define CANARY 0xA5
#define CANARY_LEN 32

static inline void fill_canary(void *p, size_t n)
{
	memset(p, CANARY, n);
}

/* True when p[0..n) all still hold the guard byte. */
static inline int canary_intact(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != CANARY)
			return 0;
	return 1;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Reads a whole small file (a /proc entry) into buf, NUL-terminated.
 * Returns the length or -errno.
 */
static inline ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	while (len + 1 < size) {
		ssize_t r = read(fd, buf + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

/*
 * Finds "Field:\t<value>" in /proc/<pid>/status and copies the value.
 * Returns 0 or -1.
 */
static inline int proc_status_field(pid_t pid, const char *field, char *out, size_t size)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	size_t flen = strlen(field);
	for (char *line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			const char *v = line + flen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, size, "%s", v);
			return 0;
		}
		line = nl ? nl + 1 : NULL;
	}
	return -1;
}

/* The state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), or 0. */
static inline char proc_state(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return 0;
	return p[2];
}

/* Waits up to ms milliseconds for pid to become a zombie. Returns 1 if it did. */
static inline int wait_zombie(pid_t pid, long ms)
{
	for (long t = 0; t < ms; t += 2) {
		if (proc_state(pid) == 'Z')
			return 1;
		sleep_ms(2);
	}
	return proc_state(pid) == 'Z';
}

/*
 * Waits (bounded) for a specific child and returns its status, or -1.
 * Kills it with SIGKILL when it does not end in time.
 */
static inline int wait_child(pid_t pid, long ms)
{
	int status;
	for (long t = 0; t < ms; t += 2) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		sleep_ms(2);
	}
	kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) == pid)
		return -1;
	return -1;
}

/*
 * Leaves no child behind: kills every pid in the list (ignoring those
 * already gone) and reaps every child of this process, bounded in time.
 */
static inline void reap_all_children(void)
{
	for (int i = 0; i < 2500; i++) {
		int status;
		pid_t r = waitpid(-1, &status, WNOHANG);
		if (r < 0 && errno == ECHILD)
			return;
		if (r <= 0)
			sleep_ms(2);
	}
}

/*
 * The system call pid is blocked in, from /proc/<pid>/syscall: its number,
 * or -1 when pid is running, blocked outside a system call, or gone.
 */
static inline long proc_syscall(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	if (buf[0] < '0' || buf[0] > '9') /* "running", or "-1 ..." */
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * Waits (bounded) until pid is blocked in one of the n system calls of nrs.
 * Returns 1 if it is, 0 after ms milliseconds.
 *
 * This is how a test knows that a process it started has finished starting:
 * its name changes at exec, before the dynamic loader has opened and closed
 * the libraries (at the lowest free fd, so at fd 1 when 1 is closed) and
 * before the kernel has even set up its environment; a fixed sleep is only
 * a guess. Blocked in the call its own code makes (sleep(1)'s nanosleep, a
 * loop's epoll_wait), it is past all that and stays put until woken.
 */
static inline int wait_in_syscall(pid_t pid, const long *nrs, size_t n, long ms)
{
	uint64_t deadline = mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		long nr = proc_syscall(pid);
		for (size_t i = 0; i < n; i++)
			if (nr >= 0 && nr == nrs[i])
				return 1;
		if (mono_ns() > deadline)
			return 0;
		sleep_ms(1);
	}
}

/* Waits (bounded) until pid, a sleep(1), sleeps. Returns 1 if so. */
static inline int wait_asleep(pid_t pid, long ms)
{
	static const long sleeps[] = {
#ifdef SYS_nanosleep
		SYS_nanosleep,
#endif
		SYS_clock_nanosleep,
	};
	return wait_in_syscall(pid, sleeps, ARRAY_SIZE(sleeps), ms);
}

/* Arms the global time limit; call first in main(). */
static inline void unit_init(void)
{
	alarm(UNIT_TIMEOUT_SEC);
}

#endif
