/* SPDX-License-Identifier: MIT */
/*
 * Start-up diagnostics (diag.h). Every probe is one or two system calls and
 * none is fatal: what cannot be found is reported as unknown. The cgroup
 * version comes from statfs() of /sys/fs/cgroup rather than a read of
 * mountinfo; the ignored signals from the SigIgn line of /proc/self/status
 * (one read) rather than 64 sigaction() calls, which remain the fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <warden/signals.h>

#include "diag.h"
#include "log.h"
#include "version.h"

/* The filesystem magics of statfs(2), spelled out: not every libc has linux/magic.h. */
#define CGROUP2_MAGIC 0x63677270
#define CGROUP1_MAGIC 0x27e0eb
#define TMPFS_MAGIC_ 0x01021994

/* Below this many descriptors, a supervisor of a few services runs short. */
#define NOFILE_LOW 1024

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "unknown"
#endif

/* warden builds with glibc, or with musl (the static binary); musl names no macro. */
#if defined(__GLIBC__)
#define STR_(x) #x
#define STR(x) STR_(x)
#define LIBC "glibc " STR(__GLIBC__) "." STR(__GLIBC_MINOR__)
#else
#define LIBC "musl"
#endif

/*
 * What was compiled in, as the names warden.started lists: the parts every
 * build has (so that a log says what this binary can do), then what the
 * build or its headers chose.
 */
static const char *const features[] = {
	"http",	  "metrics", "health", "leak-watch",
#ifdef WARDEN_STATIC
	"static",
#endif
#ifdef SYS_clone3
	"clone3",
#endif
#ifdef SYS_pidfd_open
	"pidfd",
#endif
#if defined(__SANITIZE_ADDRESS__)
	"asan",
#endif
	NULL,
};

static sigset_t inherited_mask;

void diag_inherited(const sigset_t *mask)
{
	inherited_mask = *mask;
}

/* The SigIgn mask of /proc/self/status. Returns 0 or -errno. */
static int read_sigign(uint64_t *ret)
{
	char buf[4096], *line;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	line = strstr(buf, "\nSigIgn:");
	if (!line)
		return -ENOENT;
	*ret = strtoull(line + 8, NULL, 16);
	return 0;
}

/* The same from the dispositions themselves, one call a signal. */
static uint64_t sigign_by_sigaction(void)
{
	struct sigaction sa;
	uint64_t bits = 0;
	int sig;

	for (sig = 1; sig <= WD_SIGRTMAX && sig <= 64; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			bits |= UINT64_C(1) << (sig - 1);
	return bits;
}

/*
 * Warden's own cgroup directory under root: the "0::" line of
 * /proc/self/cgroup (v2 and hybrid), or the pids controller's (v1).
 */
static void find_cgroup_dir(struct diag *d, const char *root)
{
	char buf[4096], *line, *nl;
	const char *key = strcmp(d->cgroup, "v1") == 0 ? ":pids:" : "0::";
	ssize_t n;
	int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		char *at;

		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		at = strstr(line, key);
		if (!at || (key[0] == '0' && at != line))
			continue;
		at = strchr(at + 1, ':');
		at = at ? strchr(at + 1, ':') : NULL;
		if (!at && key[0] == '0')
			at = line + 2;
		if (!at)
			return;
		at++;
		if ((size_t)snprintf(d->cgroup_dir, sizeof(d->cgroup_dir), "%s%s", root,
				     strcmp(at, "/") == 0 ? "" : at) >= sizeof(d->cgroup_dir))
			d->cgroup_dir[0] = '\0';
		return;
	}
}

/* Which cgroup hierarchy /sys/fs/cgroup holds, and whether warden's own is writable. */
static void probe_cgroup(struct diag *d)
{
	const char *root = "/sys/fs/cgroup";
	struct statfs sf;

	d->cgroup = "none";
	d->cgroup_writable = -1;
	if (statfs(root, &sf) < 0)
		return;
	if ((unsigned long)sf.f_type == CGROUP2_MAGIC) {
		d->cgroup = "v2";
	} else if ((unsigned long)sf.f_type == TMPFS_MAGIC_) {
		/* v1 controllers below a tmpfs; "hybrid" when v2 is mounted beside them. */
		if (statfs("/sys/fs/cgroup/unified", &sf) == 0 &&
		    (unsigned long)sf.f_type == CGROUP2_MAGIC) {
			d->cgroup = "hybrid";
			root = "/sys/fs/cgroup/unified";
		} else {
			d->cgroup = "v1";
			root = "/sys/fs/cgroup/pids";
		}
	} else if ((unsigned long)sf.f_type == CGROUP1_MAGIC) {
		d->cgroup = "v1";
	} else {
		return;
	}
	find_cgroup_dir(d, root);
	if (d->cgroup_dir[0])
		d->cgroup_writable = access(d->cgroup_dir, W_OK) == 0;
}

void diag_gather(struct diag *d)
{
	struct utsname u;
	struct stat st;

	memset(d, 0, sizeof(*d));
	if (uname(&u) == 0)
		snprintf(d->kernel, sizeof(d->kernel), "%s", u.release);
	if (stat("/proc/self/ns/pid", &st) == 0)
		d->pidns = (uint64_t)st.st_ino;
	probe_cgroup(d);
	d->have_nofile = getrlimit(RLIMIT_NOFILE, &d->nofile) == 0;
	d->blocked = inherited_mask;
	if (read_sigign(&d->ignored) < 0)
		d->ignored = sigign_by_sigaction();
	d->have_ignored = true;
}

/* The signals in bits (bit N-1: signal N), as names, into a NULL-terminated vector. */
static void sig_names(uint64_t bits, char names[64][WD_SIGNAME_MAX], char *v[65])
{
	size_t n = 0;
	int sig;

	for (sig = 1; sig <= 64; sig++)
		if (bits & (UINT64_C(1) << (sig - 1))) {
			v[n] = (char *)wd_signal_name(sig, names[n]);
			n++;
		}
	v[n] = NULL;
}

static uint64_t mask_bits(const sigset_t *set)
{
	uint64_t bits = 0;
	int sig;

	for (sig = 1; sig <= 64 && sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			bits |= UINT64_C(1) << (sig - 1);
	return bits;
}

static void rlim_json(struct wd_json *j, const char *key, rlim_t v)
{
	if (v == RLIM_INFINITY)
		wd_json_str(j, key, "unlimited");
	else
		wd_json_uint(j, key, (uint64_t)v);
}

void diag_json(const struct diag *d, struct wd_json *j)
{
	char names[64][WD_SIGNAME_MAX], *v[65];

	wd_json_open(j, "build", '{');
	wd_json_str(j, "version", WARDEN_VERSION);
	wd_json_str(j, "commit", WARDEN_COMMIT);
	wd_json_str(j, "compiler", COMPILER);
	wd_json_str(j, "libc", LIBC);
	wd_json_strv(j, "features", (char *const *)features);
	wd_json_close(j, '{');
	wd_json_str(j, "kernel", d->kernel[0] ? d->kernel : NULL);
	if (d->pidns)
		wd_json_uint(j, "pid_namespace", d->pidns);
	else
		wd_json_null(j, "pid_namespace");
	wd_json_open(j, "cgroup", '{');
	wd_json_str(j, "version", d->cgroup);
	wd_json_str(j, "path", d->cgroup_dir[0] ? d->cgroup_dir : NULL);
	if (d->cgroup_writable >= 0)
		wd_json_bool(j, "writable", d->cgroup_writable);
	else
		wd_json_null(j, "writable");
	wd_json_close(j, '{');
	wd_json_open(j, "nofile", '{');
	if (d->have_nofile) {
		rlim_json(j, "soft", d->nofile.rlim_cur);
		rlim_json(j, "hard", d->nofile.rlim_max);
	} else {
		wd_json_null(j, "soft");
		wd_json_null(j, "hard");
	}
	wd_json_close(j, '{');
	wd_json_open(j, "inherited_signals", '{');
	sig_names(mask_bits(&d->blocked), names, v);
	wd_json_strv(j, "blocked", v);
	sig_names(d->ignored, names, v);
	wd_json_strv(j, "ignored", v);
	wd_json_close(j, '{');
}

/* "SIGTERM", "SIGTERM and SIGINT", "SIGTERM, SIGINT and SIGQUIT" into buf. */
static const char *join(char *const *v, char *buf, size_t size)
{
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; v[i] && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s",
					i == 0	   ? ""
					: v[i + 1] ? ", "
						   : " and ",
					v[i]);
	return buf;
}

/* A warden.warning event, with the signals or the descriptor limit it is about. */
static void warning(const char *reason, const char *message, const char *key, char *const *sigs,
		    const struct diag *d)
{
	struct wd_json *j;

	log_info(1, "warning: %s", message);
	if (!events_on())
		return;
	j = event_begin("warden.warning");

	wd_json_str(j, "reason", reason);
	wd_json_str(j, "message", message);
	if (key && sigs)
		wd_json_strv(j, key, sigs);
	else if (key && d) {
		wd_json_open(j, key, '{');
		rlim_json(j, "soft", d->nofile.rlim_cur);
		rlim_json(j, "hard", d->nofile.rlim_max);
		wd_json_close(j, '{');
	}
	event_emit(j);
}

void diag_warn(const struct diag *d, const struct config *c, bool pid1, bool subreaper)
{
	char names[64][WD_SIGNAME_MAX], *v[65], msg[768], list[256];
	uint64_t stops = sigbit(SIGTERM) | sigbit(SIGINT) | sigbit(SIGQUIT), blocked;
	bool reset = false;
	size_t i;

	for (i = 0; i < c->nsvcs; i++)
		reset |= c->svcs[i].reset_signals;
	/* dumb-init's command starts with every signal at its default: nothing inherited. */
	if (d->have_ignored && (d->ignored & stops) && !reset) {
		sig_names(d->ignored & stops, names, v);
		snprintf(msg, sizeof(msg),
			 "%s %s ignored by warden's parent: warden still receives %s (it blocks "
			 "every signal and reads them from a signalfd), but its services inherit "
			 "the ignored disposition: a service that sets no handler of its own does "
			 "not stop on %s, and ends only by SIGKILL (after its stop_timeout, at "
			 "shutdown_timeout, or on a second stop request)",
			 join(v, list, sizeof(list)), v[1] ? "were" : "was", v[1] ? "them" : "it",
			 v[1] ? "them" : "it");
		warning("stop_signal_ignored", msg, "signals", v, NULL);
	}
	blocked = mask_bits(&d->blocked) & ~(sigbit(SIGKILL) | sigbit(SIGSTOP));
	if (blocked && !reset) {
		sig_names(blocked, names, v);
		snprintf(
			msg, sizeof(msg),
			"warden was started with %s blocked: its services inherit that mask, and "
			"a blocked signal is never delivered to a service that does not unblock it",
			join(v, list, sizeof(list)));
		warning("signals_blocked", msg, "signals", v, NULL);
	}
	if (d->have_nofile && d->nofile.rlim_cur != RLIM_INFINITY &&
	    d->nofile.rlim_cur < NOFILE_LOW) {
		snprintf(msg, sizeof(msg),
			 "the descriptor limit is low (soft %llu, hard %llu): warden and its "
			 "services may run out of file descriptors",
			 (unsigned long long)d->nofile.rlim_cur,
			 (unsigned long long)d->nofile.rlim_max);
		warning("fd_limit_low", msg, "nofile", NULL, d);
	}
	if (!pid1 && !subreaper)
		warning("no_subreaper",
			"warden is not PID 1 and cannot become a subreaper: orphans of its "
			"services go to the real init, and are neither reaped nor stopped by "
			"warden",
			NULL, NULL, NULL);
}

void diag_print(FILE *f)
{
	char names[64][WD_SIGNAME_MAX], *v[65];
	struct diag d;
	const char *const *feat;
	bool pid1 = getpid() == 1;
	size_t i;

	diag_gather(&d);
	fprintf(f, "build: commit %s, %s, %s\n", WARDEN_COMMIT, COMPILER, LIBC);
	fprintf(f, "features:");
	for (feat = features; *feat; feat++)
		fprintf(f, " %s", *feat);
	fprintf(f, "%s\n", features[0] ? "" : " none");
	fprintf(f, "kernel: %s\n", d.kernel[0] ? d.kernel : "unknown");
	/* What warden would do: it exits right after, a subreaper or not. */
	fprintf(f, "pid 1: %s\n",
		pid1					? "yes"
		: prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? "no (subreaper possible)"
							: "no, and no subreaper possible");
	if (d.pidns)
		fprintf(f, "pid namespace: %llu\n", (unsigned long long)d.pidns);
	else
		fprintf(f, "pid namespace: unknown\n");
	fprintf(f, "cgroup: %s", d.cgroup);
	if (d.cgroup_dir[0])
		fprintf(f, ", %s (%s)", d.cgroup_dir,
			d.cgroup_writable > 0 ? "writable" : "not writable");
	fprintf(f, "\n");
	if (d.have_nofile) {
		fprintf(f, "fd limit: soft ");
		if (d.nofile.rlim_cur == RLIM_INFINITY)
			fprintf(f, "unlimited");
		else
			fprintf(f, "%llu", (unsigned long long)d.nofile.rlim_cur);
		fprintf(f, ", hard ");
		if (d.nofile.rlim_max == RLIM_INFINITY)
			fprintf(f, "unlimited\n");
		else
			fprintf(f, "%llu\n", (unsigned long long)d.nofile.rlim_max);
	} else {
		fprintf(f, "fd limit: unknown\n");
	}
	sig_names(mask_bits(&d.blocked), names, v);
	fprintf(f, "blocked signals:");
	for (i = 0; v[i]; i++)
		fprintf(f, " %s", v[i]);
	fprintf(f, "%s\n", v[0] ? "" : " none");
	sig_names(d.ignored, names, v);
	fprintf(f, "ignored signals:");
	for (i = 0; v[i]; i++)
		fprintf(f, " %s", v[i]);
	fprintf(f, "%s\n", v[0] ? "" : " none");
}
