/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <stdint.h>
#include <termios.h>
#include <unistd.h>

#include <warden/child.h>
#include <warden/signals.h>

extern char **environ;

/* What a child that could not exec tells its parent through the pipe. */
struct spawn_failure {
	int stage;
	int err;
	int detail; /* which item of the stage, or -1 */
};

/* The kernel's capget()/capset() structs, version 3 (64-bit sets in two halves). */
#define CAPS_VERSION_3 0x20080522
struct caps_header {
	uint32_t version;
	int pid;
};
struct caps_data {
	uint32_t effective, permitted, inheritable;
};

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef PR_CAPBSET_DROP
#define PR_CAPBSET_READ 23
#define PR_CAPBSET_DROP 24
#endif
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
#ifndef PR_SET_KEEPCAPS
#define PR_SET_KEEPCAPS 8
#endif

/*
 * Drops from the bounding set every capability not in caps: the kernel's
 * last one is the first that PR_CAPBSET_READ refuses. Returns 0, or the
 * capability that could not be dropped with errno set.
 */
static int drop_bounding(uint64_t caps, int *ret_cap)
{
	int cap, r;

	for (cap = 0; cap < 64; cap++) {
		r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (r < 0)
			break; /* past the kernel's last capability */
		if (r == 0 || (caps >> cap) & 1)
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			*ret_cap = cap;
			return -1;
		}
	}
	return 0;
}

/*
 * Makes the effective, permitted and inheritable sets exactly caps, then
 * raises caps in the ambient set. Returns 0, or -1 with errno set and the
 * capability at fault (-1: the sets as a whole) in *ret_cap.
 */
static int set_caps(uint64_t caps, int *ret_cap)
{
	struct caps_header h = {CAPS_VERSION_3, 0};
	struct caps_data d[2];
	int cap;

	*ret_cap = -1;
	if (syscall(SYS_capget, &h, d) < 0)
		return -1;
	/* A capability the process does not have cannot be kept: name it. */
	for (cap = 0; cap < 64; cap++)
		if ((caps >> cap) & 1 && !((d[cap / 32].permitted >> (cap % 32)) & 1)) {
			*ret_cap = cap;
			errno = EPERM;
			return -1;
		}
	d[0].effective = d[0].permitted = d[0].inheritable = (uint32_t)caps;
	d[1].effective = d[1].permitted = d[1].inheritable = (uint32_t)(caps >> 32);
	h.version = CAPS_VERSION_3;
	h.pid = 0;
	if (syscall(SYS_capset, &h, d) < 0)
		return -1;
	for (cap = 0; cap < 64; cap++)
		if ((caps >> cap) & 1 &&
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) {
			*ret_cap = cap;
			return -1;
		}
	return 0;
}

/*
 * Closes every fd from lowfd up but keep, in a forked child: only
 * async-signal-safe calls, so no opendir() fallback. Without close_range()
 * it closes up to the soft descriptor limit, bounded.
 */
static void child_close_from(int lowfd, int keep)
{
	struct rlimit rl;
	int fd, max = 65536;
	bool done;

	if (keep >= lowfd)
		done = (keep == lowfd ||
			syscall(SYS_close_range, (unsigned)lowfd, (unsigned)keep - 1, 0) == 0) &&
		       syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0;
	else
		done = syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0) == 0;
	if (done)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (fd = lowfd; fd < max; fd++)
		if (fd != keep)
			close(fd);
}

/*
 * Puts the parent's descriptors where the child wants them and closes the
 * rest, but *errpipe, which is moved out of the way when it is in the range.
 */
static int child_setup_fds(const struct wd_spawn *o, int *errpipe)
{
	size_t n = o->nfds ? o->nfds : 3;
	int tmp[WD_SPAWN_FDS_MAX];
	size_t i;

	if (n > WD_SPAWN_FDS_MAX)
		return -EMFILE;
	if (*errpipe < (int)n) {
		int moved = fcntl(*errpipe, F_DUPFD_CLOEXEC, (int)n);

		if (moved < 0)
			return -errno;
		*errpipe = moved;
	}
	/* First move every source above the target range so none is overwritten. */
	for (i = 0; i < n; i++) {
		int src = o->nfds ? o->fds[i] : (int)i;

		tmp[i] = -1;
		if (src < 0 || src == (int)i)
			continue;
		tmp[i] = fcntl(src, F_DUPFD_CLOEXEC, (int)n);
		if (tmp[i] < 0)
			return -errno;
	}
	for (i = 0; i < n; i++) {
		int src = o->nfds ? o->fds[i] : (int)i;

		if (src < 0) {
			close((int)i);
		} else if (src == (int)i) {
			int fl = fcntl(src, F_GETFD);

			if (fl >= 0 && (fl & FD_CLOEXEC))
				(void)fcntl(src, F_SETFD, fl & ~FD_CLOEXEC);
		} else if (dup2(tmp[i], (int)i) < 0) {
			return -errno;
		}
	}
	child_close_from((int)n, *errpipe);
	return 0;
}

/*
 * Writes pid in decimal after the first '=' of slot, which spawn_fork()
 * checked has room for it. snprintf() is not async-signal-safe: by hand.
 */
static void format_pid_env(char *slot, pid_t pid)
{
	char digits[WD_PID_DIGITS_MAX];
	char *out = strchr(slot, '=') + 1;
	int n = 0;
	unsigned v = (unsigned)pid;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(digits));
	while (n)
		*out++ = digits[--n];
	*out = '\0';
}

/* True when a pid env slot holds "NAME=" with room for the digits after it. */
static bool pid_env_ok(const char *slot, size_t size)
{
	const char *eq = memchr(slot, '=', size);

	return eq && size - (size_t)(eq - slot) >= 1 + WD_PID_DIGITS_MAX + 1;
}

static void reset_dispositions(void)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
}

/*
 * The child of a fork() that could not start in its cgroup moves itself
 * there ("0" is the writer), before anything else it does. Returns 0 or
 * -errno. Async-signal-safe.
 */
static int child_enter_cgroup(int cgroup_fd)
{
	int fd = openat(cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, "0", 1);
	if (n < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	close(fd);
	return 0;
}

/* Everything between fork() and exec(): async-signal-safe calls only. */
static void child_run(const struct wd_spawn *o, int errpipe, pid_t parent, int cgroup_fd)
{
	struct spawn_failure f = {WD_STAGE_SETUP, 0, -1};
	const struct wd_privilege *pv = o->privilege;
	sigset_t empty;
	size_t i;
	int r;

	if (cgroup_fd >= 0) {
		r = child_enter_cgroup(cgroup_fd);
		if (r < 0) {
			f.err = -r;
			goto fail;
		}
	}
	if (o->flags & WD_SPAWN_RESET_SIGNALS)
		reset_dispositions();
	if (o->flags & WD_SPAWN_SETSID) {
		if (setsid() < 0)
			goto fail_errno;
		if ((o->flags & WD_SPAWN_CTTY) && o->tty_fd >= 0)
			(void)ioctl(o->tty_fd, TIOCSCTTY, 0);
	} else if (o->flags & WD_SPAWN_SETPGID) {
		if (setpgid(0, 0) < 0)
			goto fail_errno;
	}
	/*
	 * Taking the foreground from a background group raises SIGTTOU unless
	 * it is blocked, and it still is: the mask is restored just before exec.
	 */
	if ((o->flags & WD_SPAWN_FOREGROUND) && o->tty_fd >= 0)
		(void)tcsetpgrp(o->tty_fd, getpid());
	if (o->pdeathsig > 0 && prctl(PR_SET_PDEATHSIG, o->pdeathsig) < 0)
		goto fail_errno;
	r = child_setup_fds(o, &errpipe);
	if (r < 0) {
		f.err = -r;
		goto fail;
	}
	if (o->umask >= 0)
		umask((mode_t)o->umask);
	if (o->nofile && setrlimit(RLIMIT_NOFILE, o->nofile) < 0)
		goto fail_errno;
	if (o->cwd && (o->flags & WD_SPAWN_CWD_FIRST) && chdir(o->cwd) < 0) {
		f.stage = WD_STAGE_CHDIR;
		goto fail_errno;
	}
	if (pv) {
		/* Before the credentials change: raising a hard limit needs root's rights. */
		f.stage = WD_STAGE_RLIMIT;
		for (i = 0; i < pv->nrlimits; i++) {
			f.detail = (int)i;
			if (setrlimit(pv->rlimits[i].resource, &pv->rlimits[i].limit) < 0)
				goto fail_errno;
		}
		f.stage = WD_STAGE_CAPABILITIES;
		f.detail = -1;
		if (pv->set_caps && drop_bounding(pv->caps, &f.detail) < 0)
			goto fail_errno;
		/* The permitted set survives the switch to another user: trimmed after it. */
		if (pv->set_caps && o->set_creds && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			goto fail_errno;
		f.stage = WD_STAGE_SETUP;
	}
	if (o->set_creds) {
		/*
		 * The system calls themselves: the C library's wrappers would tell
		 * every other thread to follow, and this child has none.
		 */
		f.stage = WD_STAGE_CREDENTIALS;
		f.detail = WD_CREDS_GROUPS;
		if (syscall(SYS_setgroups, o->ngroups, o->groups) < 0)
			goto fail_errno;
		f.detail = WD_CREDS_GID;
		if (syscall(SYS_setgid, o->gid) < 0)
			goto fail_errno;
		f.detail = WD_CREDS_UID;
		if (syscall(SYS_setuid, o->uid) < 0)
			goto fail_errno;
		f.stage = WD_STAGE_SETUP;
		f.detail = -1;
	}
	if (pv && pv->set_caps) {
		f.stage = WD_STAGE_CAPABILITIES;
		if (set_caps(pv->caps, &f.detail) < 0)
			goto fail_errno;
		f.stage = WD_STAGE_SETUP;
		f.detail = -1;
	}
	if (pv && pv->no_new_privs) {
		f.stage = WD_STAGE_NO_NEW_PRIVS;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			goto fail_errno;
		f.stage = WD_STAGE_SETUP;
	}
	if (o->cwd && !(o->flags & WD_SPAWN_CWD_FIRST) && chdir(o->cwd) < 0) {
		f.stage = WD_STAGE_CHDIR;
		goto fail_errno;
	}
	if (o->sigmask) {
		r = wd_signal_set_mask(o->sigmask);
	} else {
		sigemptyset(&empty);
		r = wd_signal_set_mask(&empty);
	}
	if (r < 0) {
		f.err = -r;
		goto fail;
	}
	/* The parent died before the death signal was set: act as if after. */
	if (o->pdeathsig > 0 && getppid() != parent)
		kill(getpid(), o->pdeathsig);

	if (o->pid_env)
		format_pid_env(o->pid_env, getpid());

	f.stage = WD_STAGE_EXEC;
	if (strchr(o->argv[0], '/'))
		execve(o->argv[0], o->argv, o->envp ? o->envp : environ);
	else
		execvpe(o->argv[0], o->argv, o->envp ? o->envp : environ);
fail_errno:
	f.err = errno;
fail:
	(void)!write(errpipe, &f, sizeof(f));
	_exit(o->exec_fail_code ? o->exec_fail_code
				: wd_spawn_exit_code(f.stage == WD_STAGE_EXEC ? f.err : 0));
}

void wd_spawn_init(struct wd_spawn *opts)
{
	static const struct wd_spawn defaults = WD_SPAWN_INIT;

	*opts = defaults;
}

int wd_spawn_exit_code(int err)
{
	if (err < 0)
		err = -err;
	return err == ENOENT ? 127 : 126;
}

/* clone3()'s flag that starts the child in a cgroup (Linux 5.7), which older headers lack. */
#define SPAWN_CLONE_INTO_CGROUP 0x200000000ULL

/*
 * A new process, as fork() makes one, but without what the C library does
 * around it (musl blocks and restores every signal: four system calls):
 * the child does nothing but async-signal-safe calls and exec, and every
 * signal is blocked around it by its callers anyway. clone3() with its
 * struct is the same on every architecture; without it (an old kernel, a
 * seccomp filter that says ENOSYS), fork(). With cgroup_fd >= 0 the child
 * starts in that cgroup; *ret_moved says whether it does (else the child
 * moves itself, see child_enter_cgroup()).
 */
static pid_t plain_fork(int cgroup_fd, bool *ret_moved)
{
	*ret_moved = false;
#ifdef SYS_clone3
	/* The kernel's struct clone_args, as far as its version 2 goes (cgroup). */
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
		uint64_t set_tid, set_tid_size, cgroup;
	} args = {.exit_signal = SIGCHLD};
	long pid;

	if (cgroup_fd >= 0) {
		args.flags = SPAWN_CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
		pid = syscall(SYS_clone3, &args, sizeof(args));
		if (pid >= 0) {
			*ret_moved = true;
			return (pid_t)pid;
		}
		/*
		 * No clone3() (ENOSYS), or one that knows no CLONE_INTO_CGROUP
		 * (EINVAL, E2BIG: before 5.7): the child moves itself. Any other
		 * error is the cgroup's, and is the spawn's.
		 */
		if (errno != ENOSYS && errno != EINVAL && errno != E2BIG && errno != EPERM)
			return -1;
		args.flags = 0;
		args.cgroup = 0;
	}
	pid = syscall(SYS_clone3, &args, 64);
	if (pid >= 0 || (errno != ENOSYS && errno != EPERM))
		return (pid_t)pid;
#else
	(void)cgroup_fd;
#endif
	return fork();
}

/*
 * Forks a child that runs opts, with the read end of its report pipe in
 * *ret_fd (made with pipe_flags). Returns the pid or -errno.
 */
static pid_t spawn_fork(const struct wd_spawn *opts, int pipe_flags, int *ret_fd)
{
	int p[2];
	/* Only a death signal needs to know the parent. */
	pid_t pid, self = opts->pdeathsig > 0 ? getpid() : 0;
	int cgroup_fd = opts->flags & WD_SPAWN_CGROUP ? opts->cgroup_fd : -1;
	bool moved;

	if (!opts->argv || !opts->argv[0] || (opts->nfds && !opts->fds) ||
	    opts->nfds > WD_SPAWN_FDS_MAX ||
	    (opts->pid_env && !pid_env_ok(opts->pid_env, opts->pid_env_size)) ||
	    ((opts->flags & WD_SPAWN_CGROUP) && opts->cgroup_fd < 0))
		return -EINVAL;
	if (pipe2(p, pipe_flags) < 0)
		return -errno;
	pid = plain_fork(cgroup_fd, &moved);
	if (pid < 0) {
		int err = errno;

		close(p[0]);
		close(p[1]);
		return -err;
	}
	if (pid == 0) {
		close(p[0]);
		child_run(opts, p[1], self, cgroup_fd >= 0 && !moved ? cgroup_fd : -1);
	}
	close(p[1]);
	*ret_fd = p[0];
	return pid;
}

int wd_spawn(const struct wd_spawn *opts, struct wd_spawn_result *ret)
{
	struct spawn_failure f;
	int fd = -1, pidfd;
	pid_t pid;
	ssize_t n;

	pid = spawn_fork(opts, O_CLOEXEC, &fd);
	if (pid < 0) {
		ret->stage = pid == -EINVAL ? WD_STAGE_SETUP : WD_STAGE_FORK;
		return pid;
	}
	/* Both sides set the group, so that it exists on return whoever runs first. */
	if ((opts->flags & WD_SPAWN_SETPGID) && !(opts->flags & WD_SPAWN_SETSID))
		(void)setpgid(pid, pid);
	do
		n = read(fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n == (ssize_t)sizeof(f)) {
		/* The child exits right after writing: reap it here. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		ret->stage = f.stage;
		return -(f.err ? f.err : EIO);
	}
	pidfd = wd_child_pidfd_open(pid);
	ret->pid = pid;
	ret->pidfd = pidfd >= 0 ? pidfd : -1;
	ret->stage = WD_STAGE_NONE;
	return 0;
}

int wd_spawn_start(const struct wd_spawn *opts, struct wd_spawn_pending *ret)
{
	int fd = -1;
	pid_t pid = spawn_fork(opts, O_CLOEXEC | O_NONBLOCK, &fd);

	if (pid < 0)
		return pid;
	ret->pid = pid;
	ret->fd = fd;
	return 0;
}

int wd_spawn_outcome_detail(int fd, enum wd_spawn_stage *ret_stage, int *ret_detail)
{
	struct spawn_failure f;
	ssize_t n;

	do
		n = read(fd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 1;
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	/* A report is written whole (it is far below PIPE_BUF) or not at all. */
	if (n != (ssize_t)sizeof(f)) {
		*ret_stage = WD_STAGE_SETUP;
		*ret_detail = -1;
		return -EIO;
	}
	*ret_stage = (enum wd_spawn_stage)f.stage;
	*ret_detail = f.detail;
	return -(f.err ? f.err : EIO);
}

int wd_spawn_outcome(int fd, enum wd_spawn_stage *ret_stage)
{
	int detail;

	return wd_spawn_outcome_detail(fd, ret_stage, &detail);
}

int wd_reap(struct wd_exit *ret)
{
	struct rusage ru;
	int status;
	pid_t pid;

	do
		pid = wait4(-1, &status, WNOHANG, &ru);
	while (pid < 0 && errno == EINTR);
	if (pid < 0)
		return -errno;
	if (pid == 0)
		return 0;
	ret->pid = pid;
	ret->status = status;
	ret->rusage = ru;
	return 1;
}

int wd_child_pidfd_open(pid_t pid)
{
	int fd;

	if (pid <= 0)
		return -EINVAL;
	/* A pidfd is close-on-exec from birth: pidfd_open() has no flag for it. */
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

/* waitid()'s id type for a pidfd, which older C library headers lack. */
#define WAIT_P_PIDFD 3

/*
 * The wait4() status of a child waitid() reported as ended: the kernel
 * makes both from the same exit code, so nothing is lost.
 */
static int status_of_siginfo(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_KILLED:
		return si->si_status & 0x7f;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default:
		/* WEXITED only: not reached, but a status that says what it is. */
		return 0xffff;
	}
}

/*
 * waitid(P_PIDFD) with the resource usage, which only the system call
 * gives (the C library's waitid() has no rusage argument). Returns 1, 0 or
 * -errno as wd_child_reap().
 */
static int reap_pidfd(int pidfd, int options, struct wd_exit *ret)
{
	struct rusage ru;
	siginfo_t si;
	long r;

	do {
		memset(&si, 0, sizeof(si));
		r = syscall(SYS_waitid, WAIT_P_PIDFD, pidfd, &si, options, &ru);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0;
	ret->pid = si.si_pid;
	ret->status = status_of_siginfo(&si);
	ret->rusage = ru;
	return 1;
}

int wd_child_reap(pid_t pid, int pidfd, int flags, struct wd_exit *ret)
{
	int options = flags & WD_CHILD_REAP_WAIT ? 0 : WNOHANG;
	struct rusage ru;
	int status;
	pid_t got;

	if (flags & ~WD_CHILD_REAP_WAIT)
		return -EINVAL;
	if (pidfd >= 0) {
		int r = reap_pidfd(pidfd, options | WEXITED, ret);

		/* EINVAL: a kernel before 5.4, without P_PIDFD; the pid does it. */
		if (r != -EINVAL || pid <= 0)
			return r;
	}
	/* Never -1 or 0 (any child, the group's children): exactly this one. */
	if (pid <= 0)
		return -EINVAL;
	do
		got = wait4(pid, &status, options, &ru);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;
	if (got == 0)
		return 0;
	ret->pid = got;
	ret->status = status;
	ret->rusage = ru;
	return 1;
}

int wd_status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

const char *wd_status_describe(int status, char *buf, size_t size)
{
	char name[WD_SIGNAME_MAX];

	if (WIFEXITED(status))
		snprintf(buf, size, "exited with code %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by %s%s", wd_signal_name(WTERMSIG(status), name),
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else if (WIFSTOPPED(status))
		snprintf(buf, size, "stopped by %s", wd_signal_name(WSTOPSIG(status), name));
	else if (WIFCONTINUED(status))
		snprintf(buf, size, "continued");
	else
		snprintf(buf, size, "unknown status 0x%x", (unsigned)status);
	return buf;
}

int wd_child_kill(pid_t pid, int pidfd, int sig)
{
	if (pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
			return 0;
		if (errno != ENOSYS)
			return -errno;
	}
	return kill(pid, sig) < 0 ? -errno : 0;
}

int wd_child_kill_tree(pid_t pid, int pidfd, int sig, int flags)
{
	int group, self;

	if (flags || pid <= 0)
		return -EINVAL;
	/*
	 * The group numbered as the child: one the child made (only it can
	 * have made a group with its number), never the caller's.
	 */
	group = kill(-pid, sig) < 0 ? -errno : 0;
	/* Still in its group, the child got the signal with it: not twice. */
	if (group == 0 && getpgid(pid) == pid)
		return 0;
	self = wd_child_kill(pid, pidfd, sig);
	if (group == 0 || self == 0)
		return 0;
	return group == -ESRCH ? self : group;
}

/* The watched child's pidfd is readable: it has ended. */
static void on_child_ended(wd_io *io, uint32_t revents)
{
	struct wd_child_watch *w = io->data;
	struct wd_exit ex;
	int r;

	(void)revents;
	r = wd_child_reap(w->pid, w->pidfd, 0, &ex);
	/*
	 * Not yet waitable (the pidfd turns readable as the last thread goes,
	 * a moment before the zombie can be waited for): the level-triggered
	 * watcher calls again.
	 */
	if (r == 0)
		return;
	wd_child_watch_stop(w);
	w->cb(w, r > 0 ? 0 : r, r > 0 ? &ex : NULL);
}

int wd_child_watch_start(wd_loop *loop, struct wd_child_watch *watch, pid_t pid, int pidfd,
			 wd_child_watch_cb cb)
{
	bool own = pidfd < 0;
	int r;

	if (!loop || !cb || pid <= 0 || watch->started)
		return -EINVAL;
	if (own) {
		pidfd = wd_child_pidfd_open(pid);
		if (pidfd < 0)
			return pidfd;
	}
	watch->pid = pid;
	watch->pidfd = pidfd;
	watch->own_pidfd = own;
	watch->cb = cb;
	memset(&watch->io, 0, sizeof(watch->io));
	watch->io.fd = pidfd;
	watch->io.events = EPOLLIN;
	watch->io.cb = on_child_ended;
	watch->io.data = watch;
	r = wd_io_start(loop, &watch->io);
	if (r < 0) {
		if (own)
			close(pidfd);
		watch->pidfd = -1;
		return r;
	}
	watch->started = true;
	return 0;
}

void wd_child_watch_stop(struct wd_child_watch *watch)
{
	if (!watch->started)
		return;
	wd_io_stop(&watch->io);
	if (watch->own_pidfd)
		close(watch->pidfd);
	watch->pidfd = -1;
	watch->own_pidfd = false;
	watch->started = false;
}
