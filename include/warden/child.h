/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CHILD_H
#define WARDEN_CHILD_H

/*
 * Spawning children and reaping them, with exact wait-status decoding;
 * watching and reaping one child at a time without stealing anybody
 * else's (pidfds on a wd_loop); signalling a child's whole tree.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <warden/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Spawn flags. */
enum {
	WD_SPAWN_SETPGID = 1 << 0,	 /* the child leads a new process group */
	WD_SPAWN_SETSID = 1 << 1,	 /* the child leads a new session */
	WD_SPAWN_FOREGROUND = 1 << 2,	 /* ... and takes the terminal's foreground */
	WD_SPAWN_CTTY = 1 << 3,		 /* with SETSID: take tty_fd as controlling terminal */
	WD_SPAWN_RESET_SIGNALS = 1 << 4, /* every disposition back to default */
	WD_SPAWN_CWD_FIRST = 1 << 5,	 /* cwd is entered before the credentials change:
					    with the parent's rights (where it was started) */
	WD_SPAWN_CGROUP = 1 << 6,	 /* the child starts in the cgroup v2 cgroup_fd */
};

/* Where a failed spawn failed. */
enum wd_spawn_stage {
	WD_STAGE_NONE = 0,
	WD_STAGE_FORK,
	WD_STAGE_SETUP, /* fds, process group, session, terminal, signals */
	WD_STAGE_CHDIR,
	WD_STAGE_CREDENTIALS,
	WD_STAGE_EXEC,
	/* Only with a privilege (struct wd_privilege): its detail says which item. */
	WD_STAGE_RLIMIT,       /* detail: the index in rlimits */
	WD_STAGE_CAPABILITIES, /* detail: the capability, or -1 for the sets as a whole */
	WD_STAGE_NO_NEW_PRIVS,
};

/* The detail of a WD_STAGE_CREDENTIALS failure: which call failed. */
enum {
	WD_CREDS_GROUPS = 0, /* setgroups() */
	WD_CREDS_GID = 1,    /* setgid() */
	WD_CREDS_UID = 2,    /* setuid() */
};

/* One resource limit of a child: setrlimit(resource, &limit). */
struct wd_rlimit {
	int resource; /* RLIMIT_* */
	struct rlimit limit;
};

/*
 * What a child keeps of privilege, on top of its credentials (wd_spawn's
 * set_creds): applied in the child before exec, in this order:
 * - rlimits, each set with setrlimit() before the credentials change (a
 *   hard limit can be raised only with CAP_SYS_RESOURCE);
 * - with set_caps, every capability not in caps dropped from the bounding
 *   set (needs CAP_SETPCAP unless already gone), before the credentials
 *   change; the permitted set kept across it (PR_SET_KEEPCAPS); then the
 *   effective, permitted and inheritable sets made exactly caps, and caps
 *   raised in the ambient set, so that a non-root user keeps them across
 *   exec (each needs to be in the permitted set: a capability the caller
 *   does not have cannot be given);
 * - with no_new_privs, PR_SET_NO_NEW_PRIVS: exec never grants privilege
 *   again (setuid files, file capabilities).
 * A failure reports its stage and which item (wd_spawn_outcome_detail()).
 */
struct wd_privilege {
	const struct wd_rlimit *rlimits;
	size_t nrlimits;
	bool set_caps;
	uint64_t caps; /* bit N: capability N */
	bool no_new_privs;
	void *reserved[4]; /* zero */
};

/*
 * How to start a child. Start from WD_SPAWN_INIT or wd_spawn_init(), never
 * from a zeroed struct: zero means umask 0 and terminal fd 0, not
 * "unchanged" and "none". What the defaults give: the umask and working
 * directory inherited, no terminal, only 0, 1 and 2 kept (every other
 * descriptor closed, close-on-exec or not), an empty signal mask, no death
 * signal, the caller's credentials and resource limits.
 */
struct wd_spawn {
	char *const *argv;	 /* argv[0] is looked up in PATH unless it has a '/' */
	char *const *envp;	 /* NULL: the current environment */
	const char *cwd;	 /* NULL: unchanged */
	const sigset_t *sigmask; /* the child's signal mask; NULL: empty */
	int flags;		 /* WD_SPAWN_* */
	int tty_fd;		 /* terminal for FOREGROUND/CTTY; -1: none */
	int pdeathsig;		 /* signal the child gets when its parent dies; 0: none */
	/*
	 * The child's descriptors: fd i of the child is fds[i] of the parent
	 * (-1: closed), for i < nfds; everything from nfds up is closed. With
	 * nfds == 0, the child keeps 0, 1 and 2 and nothing else. nfds is at
	 * most WD_SPAWN_FDS_MAX.
	 */
	const int *fds;
	size_t nfds;
	int umask; /* -1: unchanged */
	/*
	 * A variable that tells the child its own pid (socket activation's
	 * LISTEN_PID, for one): when not NULL, one of envp's strings, writable,
	 * pid_env_size bytes, holding "NAME=" (anything after the first '=' is
	 * replaced). The child writes its pid in decimal after the '=' before
	 * exec. The slot must have room for WD_PID_DIGITS_MAX digits and the
	 * terminating NUL after the '=', or the spawn fails with -EINVAL.
	 */
	char *pid_env;
	size_t pid_env_size;
	/* Credentials: when set_creds, the child takes these before exec. */
	bool set_creds;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	/* When not NULL, the child's RLIMIT_NOFILE (e.g. the one the caller had). */
	const struct rlimit *nofile;
	/*
	 * The child's exit code when it cannot be set up or executed; 0: the
	 * shell's, 127 for "not found" and 126 otherwise.
	 */
	int exec_fail_code;
	/*
	 * With WD_SPAWN_CGROUP: a directory descriptor of a cgroup v2 cgroup
	 * the child starts in, before it runs any code of its own (clone3()
	 * with CLONE_INTO_CGROUP, Linux 5.7); where the kernel has no such
	 * clone3() (ENOSYS, EINVAL), the child moves itself there first
	 * thing, through the cgroup's cgroup.procs. The caller must be
	 * allowed to write that file. A failure to get there fails the spawn
	 * (stage WD_STAGE_SETUP). Ignored without the flag.
	 */
	int cgroup_fd;
	/* Resource limits, capabilities, no_new_privs; NULL: none of it. */
	const struct wd_privilege *privilege;
	/* Room to grow without breaking the ABI: zero, as the initialisers leave it. */
	void *reserved[7];
};

/*
 * The defaults, as an initialiser: struct wd_spawn sp = WD_SPAWN_INIT;
 * (C; C++ callers use wd_spawn_init()).
 */
#define WD_SPAWN_INIT                     \
	{                                 \
		.tty_fd = -1, .umask = -1 \
	}

/*
 * Sets *opts to the defaults of WD_SPAWN_INIT, reserved space zeroed.
 * Async-signal-safe; thread-safe (touches only *opts).
 */
void wd_spawn_init(struct wd_spawn *opts);

/* A pid in decimal has at most this many digits (pid_t is 32 bits). */
#define WD_PID_DIGITS_MAX 10

/* A child's descriptors are numbered below this: fds[] holds at most this many. */
#define WD_SPAWN_FDS_MAX 1024

struct wd_spawn_result {
	pid_t pid;
	int pidfd;		   /* -1 when the kernel has no pidfd_open() */
	enum wd_spawn_stage stage; /* where it failed, on failure */
};

/*
 * Starts a child. On success returns 0 with the pid (and a close-on-exec
 * pidfd the caller owns) in *ret. On failure returns -errno and only
 * ret->stage is set: the child, if any, has already been reaped and exited
 * with 127 (exec: not found) or 126 (any other failure), as shells do.
 * SIGCHLD must not be ignored (SIG_IGN), or the kernel reaps the child
 * itself. Thread-safe: the child makes only async-signal-safe calls until
 * exec, so another thread's locks do not matter. Not async-signal-safe.
 */
int wd_spawn(const struct wd_spawn *opts, struct wd_spawn_result *ret);

/*
 * The shell's exit code for a failed spawn: 127 for "not found", else 126.
 * Thread-safe; async-signal-safe.
 */
int wd_spawn_exit_code(int err);

/* A child started by wd_spawn_start(), whose exec is not confirmed yet. */
struct wd_spawn_pending {
	pid_t pid;
	int fd; /* non-blocking, close-on-exec; the caller closes it */
};

/*
 * Starts a child as wd_spawn() does, but without waiting for its exec: a
 * hung chdir() or exec() of the child never holds up the caller. On
 * success returns 0 with the child's pid and a pipe that reads EOF once the
 * child has exec'd, or a report of what failed (wd_spawn_outcome() tells).
 * The child is the caller's to reap, whatever the outcome: one that failed
 * exits with exec_fail_code (or 127/126). Its process group or session
 * exists once it runs: a signal to the group may fail with ESRCH before.
 * On failure (no pipe, no fork) returns -errno, and no child exists.
 * Thread-safe, as wd_spawn(); not async-signal-safe.
 */
int wd_spawn_start(const struct wd_spawn *opts, struct wd_spawn_pending *ret);

/*
 * Reads the outcome of wd_spawn_start() from its pipe, without blocking.
 * Returns 1 when the child has exec'd, 0 when that is not known yet (the
 * pipe is empty: wait until it is readable), or the child's -errno with
 * *ret_stage set when it failed. Does not close fd. Thread-safe;
 * async-signal-safe.
 */
int wd_spawn_outcome(int fd, enum wd_spawn_stage *ret_stage);

/*
 * wd_spawn_outcome(), and on failure also *ret_detail: which item of the
 * stage failed (WD_CREDS_* for WD_STAGE_CREDENTIALS, the index in rlimits
 * for WD_STAGE_RLIMIT, the capability for WD_STAGE_CAPABILITIES), -1 when
 * the stage has no items. Thread-safe; async-signal-safe.
 */
int wd_spawn_outcome_detail(int fd, enum wd_spawn_stage *ret_stage, int *ret_detail);

/* One reaped child. */
struct wd_exit {
	pid_t pid;
	int status; /* as from wait4(): decode with WIFEXITED() etc. or the calls below */
	struct rusage rusage;
};

/*
 * Reaps ANY one child that has ended, without waiting: wait4(-1). Only for
 * a process that owns all its children, like an init or a supervisor; in a
 * program that hosts other code (a library, a language runtime, a plugin)
 * it steals their children's exit statuses. Such a program reaps its own
 * with wd_child_reap() or a wd_child_watch instead. Returns 1 with *ret
 * filled, 0 when children remain but none has ended, -ECHILD when there
 * are no children at all, or another -errno. Thread-safe;
 * async-signal-safe.
 */
int wd_reap(struct wd_exit *ret);

/* wd_child_reap() flags. */
enum {
	WD_CHILD_REAP_WAIT = 1 << 0, /* block until the child has ended */
};

/*
 * Reaps exactly one child of the caller, the one given by pidfd (when
 * >= 0) or else by pid, never another: waitid(P_PIDFD) or wait4(pid), never
 * -1. Without WD_CHILD_REAP_WAIT it does not block. Returns 1 with *ret
 * filled (the exact wait status, as wait4() gives it, and the child's
 * resource usage), 0 when the child has not ended yet, -ECHILD when it is
 * not (or no longer) a child of the caller, or another -errno; *ret is
 * untouched unless 1 is returned. With a pidfd, a kernel without
 * waitid(P_PIDFD) (before 5.4) falls back to the pid. Thread-safe;
 * async-signal-safe.
 */
int wd_child_reap(pid_t pid, int pidfd, int flags, struct wd_exit *ret);

/*
 * Opens a pidfd (close-on-exec) for a process: a handle that cannot come to
 * name another process should the pid be reused, pollable (readable once
 * the process has ended). Returns the fd, or -errno: -ENOSYS when the
 * kernel has no pidfd_open() (before 5.3), -ESRCH when there is no such
 * process. Thread-safe; async-signal-safe.
 */
int wd_child_pidfd_open(pid_t pid);

/* The shell convention: the exit code, or 128 + N when killed by signal N.
 * Thread-safe; async-signal-safe. */
int wd_status_code(int status);

/*
 * Describes a wait status exactly, in words: "exited with code 3", "killed
 * by SIGKILL", "killed by SIGSEGV (core dumped)", "killed by SIGRTMIN+2",
 * "stopped by SIGTSTP", "continued", and "unknown status 0x..." for
 * anything else; truncated to fit size. Returns buf. Thread-safe; not
 * async-signal-safe (snprintf).
 */
const char *wd_status_describe(int status, char *buf, size_t size);

/*
 * Sends sig to a child by pidfd when there is one (no pid reuse race), else
 * by pid. Returns 0 or -errno (-ESRCH: it has ended). Thread-safe;
 * async-signal-safe.
 */
int wd_child_kill(pid_t pid, int pidfd, int sig);

/*
 * Signals a child's tree: its process group (the child spawned with
 * WD_SPAWN_SETPGID or WD_SPAWN_SETSID leads one, numbered as its pid), and
 * the child itself when it is not in that group (it never had its own, or
 * left it). A group that is not the child's own is never signalled: with
 * the caller's group, a tree kill would hit the caller. Returns 0 when the
 * group or the child got the signal; -ESRCH when neither exists any more
 * (the whole tree has ended: nothing to do); another -errno (-EPERM) when
 * it was refused. Descendants that left the group (their own setsid() or
 * setpgid()) are out of its reach.
 *
 * Call it before the child is reaped, or while its group still has
 * members: until then the pid's number cannot be reused, by a process or a
 * group. flags must be 0 (else -EINVAL): they are where the cgroup kill
 * will be added, which also reaches descendants that left the group
 * (cgroup.kill, once warden places children in cgroups).
 * Thread-safe; async-signal-safe.
 */
int wd_child_kill_tree(pid_t pid, int pidfd, int sig, int flags);

struct wd_child_watch;

/*
 * Called once, when the watched child has ended: result 0 with *ex (its
 * pid, exact status and resource usage) when it was reaped, or -ECHILD
 * (ex NULL) when someone else reaped it first (a wait4(-1) elsewhere in the
 * program). The watch is stopped before the call: the callback may free
 * it, restart it for another child, or stop the loop.
 */
typedef void (*wd_child_watch_cb)(struct wd_child_watch *watch, int result,
				  const struct wd_exit *ex);

/*
 * Watches one child on a wd_loop and reaps that child, and only it, when it
 * ends: its pidfd is polled, and waitid(P_PIDFD) reaps it. Other children
 * of the program (a host library's, a runtime's) are never touched, so
 * their owners can wait for them with waitpid(their pid) as usual. Caller
 * owned, like the loop's watchers; its members are private but data.
 * Needs SIGCHLD not ignored (SIG_IGN or SA_NOCLDWAIT would make the kernel
 * reap every child itself).
 */
struct wd_child_watch {
	void *data; /* the caller's */
	/* private */
	pid_t pid;
	int pidfd;
	bool own_pidfd; /* opened by the watch, closed by it */
	bool started;
	wd_child_watch_cb cb;
	wd_io io;
	void *reserved[4];
};

/*
 * Starts watching the child pid on loop: pidfd is the child's pidfd (as
 * wd_spawn() returns it; it stays the caller's, and must stay open while
 * the watch runs) or -1 for the watch to open and close its own. cb runs
 * once the child has ended and been reaped. The watch must not be started
 * (every member but data is set here). Returns 0 or -errno: -ENOSYS
 * when the kernel has no pidfds (before 5.3; 5.4 for waitid(P_PIDFD), whose
 * absence is covered by wd_child_reap()'s fallback); such a program reaps
 * its own children on SIGCHLD with wd_child_reap(pid, -1, 0, ...) for each
 * pid it spawned, never with wait4(-1). -ESRCH when no such process.
 * Not thread-safe: one thread at a time per loop, as the loop is.
 */
int wd_child_watch_start(wd_loop *loop, struct wd_child_watch *watch, pid_t pid, int pidfd,
			 wd_child_watch_cb cb);

/*
 * Stops a watch without reaping its child (which stays the caller's to
 * reap); fine on a stopped (or zeroed) watch, and from inside any loop
 * callback. Not thread-safe: one thread at a time per loop.
 */
void wd_child_watch_stop(struct wd_child_watch *watch);

#ifdef __cplusplus
}
#endif

#endif
