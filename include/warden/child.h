/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CHILD_H
#define WARDEN_CHILD_H

/*
 * Spawning children and reaping them, with exact wait-status decoding.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

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
};

/* Where a failed spawn failed. */
enum wd_spawn_stage {
	WD_STAGE_NONE = 0,
	WD_STAGE_FORK,
	WD_STAGE_SETUP, /* fds, process group, session, terminal, signals */
	WD_STAGE_CHDIR,
	WD_STAGE_CREDENTIALS,
	WD_STAGE_EXEC,
};

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
	 * Socket activation: when not NULL, one of envp's strings, writable and
	 * WD_PID_ENV_MAX bytes long; the child writes "LISTEN_PID=<its pid>"
	 * into it before exec.
	 */
	char *listen_pid_env;
	/* Credentials: when set_creds, the child takes these before exec. */
	bool set_creds;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	/* When not NULL, the child's RLIMIT_NOFILE (e.g. the one warden had). */
	const struct rlimit *nofile;
	/*
	 * The child's exit code when it cannot be set up or executed; 0: the
	 * shell's, 127 for "not found" and 126 otherwise.
	 */
	int exec_fail_code;
};

#define WD_PID_ENV_MAX 32

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
 * The caller should have SIGCHLD blocked or handled.
 */
int wd_spawn(const struct wd_spawn *opts, struct wd_spawn_result *ret);

/* The shell's exit code for a failed spawn: 127 for "not found", else 126. */
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
 */
int wd_spawn_start(const struct wd_spawn *opts, struct wd_spawn_pending *ret);

/*
 * Reads the outcome of wd_spawn_start() from its pipe, without blocking.
 * Returns 1 when the child has exec'd, 0 when that is not known yet (the
 * pipe is empty: wait until it is readable), or the child's -errno with
 * *ret_stage set when it failed. Does not close fd.
 */
int wd_spawn_outcome(int fd, enum wd_spawn_stage *ret_stage);

/* One reaped child. */
struct wd_exit {
	pid_t pid;
	int status; /* as from wait4() */
	struct rusage rusage;
};

/*
 * Reaps one child that has ended, without waiting. Returns 1 with *ret
 * filled, 0 when children remain but none has ended, -ECHILD when there are
 * no children at all, or another -errno.
 */
int wd_reap(struct wd_exit *ret);

/* The shell convention: the exit code, or 128 + N when killed by signal N. */
int wd_status_code(int status);

/*
 * Describes a wait status in words: "exited with code 3", "killed by
 * SIGKILL", "killed by SIGSEGV (core dumped)". Returns buf.
 */
const char *wd_status_describe(int status, char *buf, size_t size);

/* Sends sig to a child by pidfd when there is one (no pid reuse race). */
int wd_child_kill(pid_t pid, int pidfd, int sig);

#ifdef __cplusplus
}
#endif

#endif
