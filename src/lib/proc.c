/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <warden/proc.h>

struct pp {
	pid_t pid, ppid, pgid;
	struct wd_proc_usage u; /* from the same reading; fds not read (-1) */
};

/*
 * Reads /proc/PID/stat: parent, group, state, and what it uses (all but
 * the descriptors). Returns 0, -ESRCH when pid is gone, or -errno.
 */
static int read_stat(pid_t pid, struct pp *ret, char *state)
{
	/* Asked every time: a static cache would be a data race between threads. */
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long utime, stime, start, vsize;
	long long rss;
	long threads;
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	if (tick <= 0)
		tick = 100;
	if (page <= 0)
		page = 4096;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n == 0 ? -ESRCH : errno == ESRCH ? -ESRCH : -EIO;
	buf[n] = '\0';
	/*
	 * The command name may hold spaces and parentheses: skip to the last
	 * ')'. Then fields 3 (state) to 24 (rss) of proc(5).
	 */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d"
			 " %ld %*d %llu %llu %lld",
			 state, &ret->ppid, &ret->pgid, &utime, &stime, &threads, &start, &vsize,
			 &rss) != 9)
		return -EIO;
	ret->pid = pid;
	memset(&ret->u, 0, sizeof(ret->u));
	ret->u.cpu_ns = (uint64_t)(utime + stime) * (1000000000ULL / (unsigned long long)tick);
	ret->u.start_ns = (uint64_t)start * (1000000000ULL / (unsigned long long)tick);
	ret->u.vsize_bytes = vsize;
	ret->u.rss_bytes = rss > 0 ? (uint64_t)rss * (uint64_t)page : 0;
	ret->u.threads = threads > 0 ? (unsigned)threads : 0;
	ret->u.fds = -1;
	return 0;
}

/* The open descriptors of pid, or -1 when /proc/PID/fd cannot be read. */
static int count_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	struct stat st;
	int count = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	/*
	 * Since Linux 6.2 the directory's size is the count of open
	 * descriptors: no walk of the process's descriptor table, which a
	 * child of a process with thousands of descriptors keeps at that size.
	 * 0 on older kernels, and for a process without any: then counted.
	 */
	if (stat(path, &st) == 0 && st.st_size > 0 && st.st_size <= INT_MAX)
		return (int)st.st_size;
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			count++;
	closedir(d);
	/* opendir's own descriptor is one of them when pid is this process. */
	return pid == getpid() && count > 0 ? count - 1 : count;
}

/*
 * Collects (pid, ppid) of every live process. *ret is malloc'd; the caller
 * frees it. Returns the count or -errno.
 */
static int snapshot(struct pp **ret)
{
	struct pp *v = NULL, *nv;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end, state = 0;
		long pid = strtol(de->d_name, &end, 10);
		struct pp one;

		if (*end || end == de->d_name || pid <= 0)
			continue;
		/*
		 * A zombie is dead, unless it is a thread group leader that exited
		 * (pthread_exit) while other threads run on: then /proc/PID/stat
		 * shows the leader's 'Z', but the process lives, takes signals and
		 * has children. Its thread count says which (a dead one has 1).
		 */
		if (read_stat((pid_t)pid, &one, &state) < 0 || state == 'X' ||
		    (state == 'Z' && one.u.threads <= 1))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = one;
	}
	closedir(d);
	*ret = v;
	return (int)n;
}

static int cmp_ppid(const void *a, const void *b)
{
	const struct pp *x = a, *y = b;

	return (x->ppid > y->ppid) - (x->ppid < y->ppid);
}

static int cmp_pid(const void *a, const void *b)
{
	const struct pp *x = *(const struct pp *const *)a, *y = *(const struct pp *const *)b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct wd_proc_table {
	struct pp *v; /* sorted by parent */
	int n;
	const struct pp **bypid; /* the same, sorted by pid */
};

int wd_proc_table_read(struct wd_proc_table **ret)
{
	struct wd_proc_table *t = calloc(1, sizeof(*t));
	int n;

	if (!t)
		return -ENOMEM;
	n = snapshot(&t->v);
	if (n < 0) {
		free(t);
		return n;
	}
	t->n = n;
	t->bypid = malloc(((size_t)n + 1) * sizeof(*t->bypid));
	if (!t->bypid) {
		free(t->v);
		free(t);
		return -ENOMEM;
	}
	if (n > 1 && t->v) { /* no table, nothing to sort */
		qsort(t->v, (size_t)n, sizeof(*t->v), cmp_ppid);
		for (int i = 0; i < n; i++)
			t->bypid[i] = &t->v[i];
		qsort(t->bypid, (size_t)n, sizeof(*t->bypid), cmp_pid);
	} else if (n == 1) {
		t->bypid[0] = &t->v[0];
	}
	*ret = t;
	return 0;
}

void wd_proc_table_free(struct wd_proc_table *t)
{
	if (!t)
		return;
	free(t->bypid);
	free(t->v);
	free(t);
}

/*
 * Every live process below root, breadth first, into a malloc'd array the
 * caller frees. Sorted by parent, each step is a binary search, so that
 * twenty thousand leftovers cost milliseconds. Returns the count or -errno.
 */
static int table_descendants(const struct wd_proc_table *t, pid_t root, const struct pp ***ret)
{
	const struct pp *v = t->v;
	int n = t->n, nf = 0, head = 0;
	const struct pp **found;

	found = malloc(((size_t)n + 1) * sizeof(*found));
	if (!found)
		return -ENOMEM;
	/*
	 * The found list is its own queue; root itself is the first parent.
	 * Root 0 is the parent of the processes whose parent is outside the
	 * namespace: PID 1 and those entered from outside (nsenter).
	 */
	for (pid_t parent = root;; parent = found[head++]->pid) {
		int lo = 0, hi = n;

		while (lo < hi) {
			int mid = lo + (hi - lo) / 2;

			if (v[mid].ppid < parent)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* A pid cannot be its own ancestor, so nothing is found twice. */
		for (; lo < n && v[lo].ppid == parent && nf < n; lo++)
			if (v[lo].pid != root)
				found[nf++] = &v[lo];
		if (head >= nf)
			break;
	}
	*ret = found;
	return nf;
}

int wd_proc_table_descendants(const struct wd_proc_table *t, pid_t root, pid_t *pids, size_t max)
{
	const struct pp **all = NULL;
	int n = table_descendants(t, root, &all), i;

	if (n < 0)
		return n;
	for (i = 0; i < n && (size_t)i < max; i++)
		pids[i] = all[i]->pid;
	free(all);
	return n;
}

int wd_proc_descendants(pid_t root, pid_t *pids, size_t max)
{
	struct wd_proc_table *t;
	int r = wd_proc_table_read(&t);

	if (r < 0)
		return r;
	r = wd_proc_table_descendants(t, root, pids, max);
	wd_proc_table_free(t);
	return r;
}

static bool listed(pid_t pgid, const pid_t *skip, size_t nskip)
{
	size_t i;

	for (i = 0; i < nskip; i++)
		if (skip[i] == pgid)
			return true;
	return false;
}

int wd_proc_kill_tree(pid_t root, int sig, const pid_t *skip_pgids, size_t nskip)
{
	struct wd_proc_table *t;
	const struct pp **all = NULL;
	pid_t self = getpid();
	int n, i, sent = 0;

	n = wd_proc_table_read(&t);
	if (n < 0)
		return n;
	n = table_descendants(t, root, &all);
	for (i = 0; i < n; i++)
		if (all[i]->pid != self && !listed(all[i]->pgid, skip_pgids, nskip) &&
		    kill(all[i]->pid, sig) == 0)
			sent++;
	free(all);
	wd_proc_table_free(t);
	return n < 0 ? n : sent;
}

int wd_proc_kill_descendants(pid_t root, int sig)
{
	return wd_proc_kill_tree(root, sig, NULL, 0);
}

int wd_proc_is_own(void)
{
	char buf[32];
	ssize_t n;

	n = readlink("/proc/self", buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return atoi(buf) == (int)getpid();
}

int wd_proc_table_tree(const struct wd_proc_table *t, pid_t root, pid_t pgid, pid_t *pids,
		       size_t max)
{
	const struct pp **all = NULL;
	size_t n = 0;
	int nd, i, j;

	/*
	 * Root 0 here is "no root process" (a job whose leader is gone), not
	 * the whole namespace as in wd_proc_kill_tree(): it adds nobody.
	 */
	nd = root > 0 ? table_descendants(t, root, &all) : 0;
	if (nd < 0)
		return nd;
	for (i = 0; i < nd; i++) {
		if (n < max)
			pids[n] = all[i]->pid;
		n++;
	}
	/* Root, and the group's members that are not below root. */
	for (i = 0; i < t->n; i++) {
		const struct pp *p = &t->v[i];
		bool below = false;

		if ((root <= 0 || p->pid != root) && (pgid <= 0 || p->pgid != pgid))
			continue;
		for (j = 0; j < nd && !below; j++)
			below = all[j] == p;
		if (below)
			continue;
		if (n < max)
			pids[n] = p->pid;
		n++;
	}
	free(all);
	return n > INT_MAX ? INT_MAX : (int)n;
}

int wd_proc_usage(pid_t pid, struct wd_proc_usage *u)
{
	struct pp one;
	char state;
	int r = read_stat(pid, &one, &state);

	if (r < 0)
		return r;
	*u = one.u;
	u->fds = count_fds(pid);
	return 0;
}

int wd_proc_table_usage(const struct wd_proc_table *t, pid_t pid, struct wd_proc_usage *u)
{
	struct pp key = {.pid = pid};
	const struct pp *k = &key, **found;

	found = t->n > 0 ? bsearch(&k, t->bypid, (size_t)t->n, sizeof(*t->bypid), cmp_pid) : NULL;
	if (!found)
		return -ESRCH;
	*u = (*found)->u;
	u->fds = count_fds(pid);
	return 0;
}
