/* SPDX-License-Identifier: MIT */
/*
 * treegen: build a process tree from a compact description, for the
 * randomised tree tests (tests/integration/randtree.py).
 *
 *   treegen --record FILE [--mark TOKEN] SPEC
 *
 * SPEC describes one node, the process treegen itself becomes, and its
 * children, in preorder:
 *
 *   NODE := KIND TERM LIFE END [ '[' NODE* ']' ]   (children between brackets)
 *   KIND := 'r' the root (treegen itself), 'f' fork, 's' fork then setsid,
 *           'd' double fork (the intermediate exits at once: the node is an
 *           orphan), 'e' double fork with setsid in the intermediate (the
 *           node escapes its process group and session, and its parent is dead)
 *   TERM := 't' SIGTERM kills it, 'i' it ignores SIGTERM,
 *           'c' CODE ':' it exits with CODE on SIGTERM,
 *           'p' CODE ':' on SIGTERM it first double-forks a new process in a
 *           session of its own, which ignores SIGTERM and lives SPAWN_MS
 *           (an escape attempt while the tree is being stopped), then exits
 *           with CODE
 *   LIFE := milliseconds to live once its children are forked (<= 30000)
 *   END  := 'x' CODE ':' exit with CODE, 'k' SIG ':' die of signal SIG,
 *           'z' CODE ':' (not the root) the main thread exits (pthread_exit,
 *           so that /proc shows the process as a zombie) and a second
 *           thread lives on, to exit with CODE HUSK_MS later; LIFE <= 10000
 *
 * e.g. "rt500x3:[fi20000x0:et100k9:[ft0x1:]]". Nodes are separated by
 * nothing but their own syntax; whitespace is ignored.
 *
 * A node sets its SIGTERM disposition, records itself, forks its children
 * (a parent never waits for them, except for the intermediate of a double
 * fork), sleeps LIFE ms, then ends as END says. Every line of FILE (opened
 * O_APPEND, one write() a line, so lines never mix) is one of
 *   "S ID PID"  node ID started with PID (written by the node itself)
 *   "C ID PID"  node ID was forked with PID (written by the one that forked it)
 *   "I ID PID"  PID was the intermediate of node ID's double fork
 *   "P ID PID"  node ID spawned PID on SIGTERM ('p'), written by PID itself
 * with pids as the tree sees them (in its pid namespace). TOKEN is only
 * there to be found in every node's command line. Nothing lives forever:
 * LIFE is bounded, and every node also gets alarm(LIFE_MAX/1000 + 10).
 * Core dumps are off (RLIMIT_CORE 0) so that SIGABRT or SIGSEGV leave no file.
 * Exits 2 on a usage or SPEC error, before forking anything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES 512
#define LIFE_MAX 30000
#define FORK_RETRIES 200
#define SPAWN_MS 100
#define HUSK_MS 20000

struct node {
	char kind;
	char term;
	int term_code;
	long life_ms;
	char end;
	int end_value;
	int first_child; /* preorder index, or -1 */
	int next_sibling;
};

static struct node nodes[MAX_NODES];
static int nnodes;
static int record_fd = -1;
static volatile sig_atomic_t catch_code;
static volatile sig_atomic_t spawn_on_term;
static volatile sig_atomic_t self_id;

static void usage(const char *why)
{
	fprintf(stderr, "treegen: %s\nusage: treegen --record FILE [--mark TOKEN] SPEC\n", why);
	exit(2);
}

static void skip_space(const char **p)
{
	while (**p == ' ' || **p == '\t' || **p == '\n')
		(*p)++;
}

static long parse_num(const char **p, long max, const char *what)
{
	char *end;
	long v;

	if (**p < '0' || **p > '9')
		usage(what);
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno || v > max)
		usage(what);
	*p = end;
	return v;
}

static void expect(const char **p, char c, const char *what)
{
	if (**p != c)
		usage(what);
	(*p)++;
}

/* Parses one NODE at *P (and its subtree); returns its index. */
static int parse_node(const char **p, int depth)
{
	struct node *n;
	int i, prev = -1;

	skip_space(p);
	if (nnodes == MAX_NODES)
		usage("too many nodes in SPEC");
	if (depth > 64)
		usage("SPEC nests too deep");
	i = nnodes++;
	n = &nodes[i];
	n->first_child = n->next_sibling = -1;
	n->kind = **p;
	if (!strchr(depth ? "fsde" : "r", n->kind) || !n->kind)
		usage(depth ? "a child's KIND must be f, s, d or e" : "SPEC must start with r");
	(*p)++;
	n->term = **p;
	if (!n->term || !strchr("ticp", n->term))
		usage("TERM must be t, i, c or p");
	(*p)++;
	if (n->term == 'c' || n->term == 'p') {
		n->term_code = (int)parse_num(p, 255, "c and p need an exit code 0-255");
		expect(p, ':', "c CODE and p CODE end with ':'");
	}
	n->life_ms = parse_num(p, LIFE_MAX, "LIFE must be 0-30000 ms");
	n->end = **p;
	if (n->end == 'x') {
		(*p)++;
		n->end_value = (int)parse_num(p, 255, "x needs an exit code 0-255");
	} else if (n->end == 'k') {
		(*p)++;
		n->end_value = (int)parse_num(p, 64, "k needs a signal number");
		if (n->end_value < 1)
			usage("k needs a signal number");
	} else if (n->end == 'z' && depth > 0) {
		(*p)++;
		n->end_value = (int)parse_num(p, 255, "z needs an exit code 0-255");
		if (n->life_ms > LIFE_MAX - HUSK_MS)
			usage("LIFE must be 0-10000 ms with z");
	} else {
		usage(depth ? "END must be x, k or z" : "the root's END must be x or k");
	}
	expect(p, ':', "END ends with ':'");
	skip_space(p);
	if (**p == '[') {
		(*p)++;
		for (;;) {
			int c;

			skip_space(p);
			if (**p == ']') {
				(*p)++;
				break;
			}
			c = parse_node(p, depth + 1);
			if (prev < 0)
				nodes[i].first_child = c;
			else
				nodes[prev].next_sibling = c;
			prev = c;
		}
	}
	return i;
}

/* Appends the decimal digits of V at *P (async-signal-safe, unlike snprintf). */
static void put_num(char **p, long v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0)
		*(*p)++ = digits[--n];
}

/* One line "WHAT ID PID" to the record, in one write(); async-signal-safe. */
static void record(char what, int id, pid_t pid)
{
	char line[64], *p = line;

	*p++ = what;
	*p++ = ' ';
	put_num(&p, id);
	*p++ = ' ';
	put_num(&p, (long)pid);
	*p++ = '\n';
	/* Nothing to do about a failed write: the test sees the line missing. */
	if (write(record_fd, line, (size_t)(p - line)) < 0)
		return;
}

static void nap_ms(long ms)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}

static pid_t fork_retry(void)
{
	for (int i = 0; i < FORK_RETRIES; i++) {
		pid_t pid = fork();
		if (pid >= 0 || (errno != EAGAIN && errno != ENOMEM))
			return pid;
		nap_ms(10);
	}
	return -1;
}

/* SIGTERM for 'c' and 'p'; only async-signal-safe calls. */
static void on_term(int sig)
{
	struct sigaction ign;
	pid_t mid;
	int status;

	(void)sig;
	if (spawn_on_term) {
		mid = fork();
		if (mid == 0) {
			(void)setsid();
			if (fork() == 0) {
				memset(&ign, 0, sizeof(ign));
				ign.sa_handler = SIG_IGN;
				sigaction(SIGTERM, &ign, NULL);
				record('P', self_id, getpid());
				nap_ms(SPAWN_MS);
				_exit(0);
			}
			_exit(0);
		}
		if (mid > 0) {
			record('I', self_id, mid);
			while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
				;
		}
	}
	_exit(catch_code);
}

static void block_term(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(how, &set, NULL);
}

static void run_node(int i) __attribute__((noreturn));

/* 'z': the thread that outlives the main one, then ends the process. */
static void *husk(void *arg)
{
	const struct node *n = arg;

	nap_ms(n->life_ms + HUSK_MS);
	_exit(n->end_value);
}

static void spawn(int c)
{
	const struct node *n = &nodes[c];
	pid_t pid, mid;
	int status;

	/* The child sets its own disposition before it can take a SIGTERM. */
	block_term(SIG_BLOCK);
	if (n->kind == 'f' || n->kind == 's') {
		pid = fork_retry();
		if (pid == 0) {
			if (n->kind == 's')
				(void)setsid();
			run_node(c);
		}
		if (pid > 0)
			record('C', c, pid);
		block_term(SIG_UNBLOCK);
		return;
	}
	mid = fork_retry();
	if (mid == 0) {
		if (n->kind == 'e')
			(void)setsid();
		pid = fork_retry();
		if (pid == 0)
			run_node(c);
		if (pid > 0)
			record('C', c, pid);
		_exit(pid > 0 ? 0 : 1);
	}
	if (mid > 0) {
		record('I', c, mid);
		while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
			;
	}
	block_term(SIG_UNBLOCK);
}

static void run_node(int i)
{
	const struct node *n = &nodes[i];
	struct sigaction sa;
	sigset_t set;

	alarm(LIFE_MAX / 1000 + 10);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	self_id = i;
	if (n->term == 'c' || n->term == 'p') {
		catch_code = n->term_code;
		spawn_on_term = n->term == 'p';
		sa.sa_handler = on_term;
	} else {
		sa.sa_handler = n->term == 'i' ? SIG_IGN : SIG_DFL;
	}
	sigaction(SIGTERM, &sa, NULL);
	block_term(SIG_UNBLOCK);
	record('S', i, getpid());
	for (int c = n->first_child; c >= 0; c = nodes[c].next_sibling)
		spawn(c);
	if (n->end == 'z') {
		pthread_t th;

		if (pthread_create(&th, NULL, husk, (void *)n) != 0)
			_exit(125);
		nap_ms(n->life_ms);
		pthread_exit(NULL);
	}
	nap_ms(n->life_ms);
	if (n->end == 'x')
		_exit(n->end_value);
	sa.sa_handler = SIG_DFL;
	sigaction(n->end_value, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, n->end_value);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(n->end_value);
	_exit(125); /* a signal that does not kill (SIGCHLD...): says so by the code */
}

int main(int argc, char **argv)
{
	const char *record_path = NULL, *spec = NULL, *p;
	struct rlimit nocore = {0, 0};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--record") == 0 && i + 1 < argc)
			record_path = argv[++i];
		else if (strcmp(argv[i], "--mark") == 0 && i + 1 < argc)
			i++;
		else if (argv[i][0] == '-')
			usage("unknown option");
		else if (!spec)
			spec = argv[i];
		else
			usage("one SPEC only");
	}
	if (!record_path || !spec)
		usage("--record FILE and SPEC are needed");
	p = spec;
	(void)parse_node(&p, 0);
	skip_space(&p);
	if (*p)
		usage("trailing text after the root node");
	record_fd = open(record_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (record_fd < 0) {
		perror("treegen: open --record FILE");
		return 2;
	}
	setrlimit(RLIMIT_CORE, &nocore);
	run_node(0);
}
