/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_SIGNALS_H
#define WARDEN_SIGNALS_H

/*
 * Signals as a file descriptor: block every signal, read them from a
 * signalfd, and name them both ways.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The real-time signals as the kernel numbers them and as kill(1), bash and
 * glibc programs name them. The C library's own SIGRTMIN differs (musl
 * keeps 35 for itself), so names are fixed here, not taken from it.
 */
#define WD_SIGRTMIN 34
#define WD_SIGRTMAX 64

/* Big enough for any name wd_signal_name() writes, NUL included. */
#define WD_SIGNAME_MAX 16

/*
 * Blocks every signal that can be blocked, the fault signals and glibc's
 * internal 32 and 33 included (a real fault still ends the process: the
 * kernel forces it through). The
 * previous mask goes to *ret_old when ret_old is not NULL.
 * Returns 0 or -errno.
 */
int wd_signal_block_all(sigset_t *ret_old);

/*
 * Sets the signal mask exactly as given, glibc's internal signals included
 * (sigprocmask() would leave those alone). Async-signal-safe.
 * Returns 0 or -errno.
 */
int wd_signal_set_mask(const sigset_t *mask);

/*
 * Opens a non-blocking, close-on-exec signalfd for every signal that can be
 * blocked. The signals must already be blocked. Returns the fd or -errno.
 */
int wd_signalfd_open(void);

/* One signal read from a signalfd: what it is and who sent it. */
struct wd_siginfo {
	int signo;
	int code;  /* si_code: SI_USER for kill(2), SI_QUEUE, SI_TKILL, SI_KERNEL, ... */
	pid_t pid; /* the sender as this pid namespace sees it; 0 when it is outside */
	uid_t uid; /* the sender's real uid */
};

/*
 * Reads what a signalfd has queued and calls fn(si, data) for each signal,
 * in order. Stops at a short read: the queue was empty then, and a
 * level-triggered epoll comes back for anything newer. Returns how many
 * signals were read, or -errno.
 *
 * A signal the kernel raises on a process for its own action (SIGPIPE for a
 * write to a pipe nobody reads, SIGXFSZ for a write past RLIMIT_FSIZE)
 * carries that process's own pid as its sender, as raise() does: compare
 * si->pid with getpid() to tell those apart from signals sent by others.
 */
int wd_signalfd_dispatch(int fd, void (*fn)(const struct wd_siginfo *si, void *data), void *data);

/*
 * Parses a signal: a name with or without "SIG" in any case ("TERM",
 * "SIGterm"), "RTMIN", "RTMIN+N", "RTMAX-N", or a number 1..64.
 * When allow_zero is true, "0" is accepted and gives 0.
 * Returns 0 and *ret_sig, or -EINVAL.
 */
int wd_signal_parse(const char *s, bool allow_zero, int *ret_sig);

/*
 * Writes the name of sig ("SIGTERM", "SIGRTMIN+2", or "SIG42" when it has
 * none) into buf, which holds at least WD_SIGNAME_MAX bytes. Returns buf.
 */
const char *wd_signal_name(int sig, char *buf);

/* True for a signal number a process can catch (not KILL or STOP). */
bool wd_signal_catchable(int sig);

#ifdef __cplusplus
}
#endif

#endif
