/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_SIGNALS_H
#define WARDEN_SIGNALS_H

/*
 * Signals as a file descriptor: block the signals a program handles (in
 * every thread), read them from a signalfd with who sent them, and name
 * them both ways.
 */

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

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
 * Threads. A signal sent to the process goes to any one thread that does
 * not block it, and a signalfd reads only what is pending for the process
 * and for the thread that reads it. So a threaded program blocks the
 * signals it handles in every thread: it calls wd_signal_block() (or
 * wd_signal_block_all()) in main() before it creates any thread, each
 * thread inherits the mask, and one thread (or loop) reads the signalfd.
 *
 * The C library's internal signals. glibc keeps 32 and 33 for itself
 * (thread cancellation, and setuid()/setgid() made process-wide by
 * signalling every thread), musl 32 to 34: the numbers from 32 to just
 * below the C library's SIGRTMIN. Blocking them in a threaded program makes
 * setuid() hang forever, so the functions below leave them alone unless the
 * caller asks with WD_SIGNAL_LIBC_INTERNAL. A single-threaded process that
 * must not be ended by a stray "kill -33" (an init, warden itself) asks.
 */
#define WD_SIGNAL_LIBC_INTERNAL 0x1

/*
 * Fills set with every signal a process can block (all but SIGKILL and
 * SIGSTOP, which the kernel never blocks anyway); the C library's internal
 * signals only with WD_SIGNAL_LIBC_INTERNAL in flags.
 * Returns 0, or -EINVAL for an unknown flag (set untouched).
 * Thread-safe. Async-signal-safe.
 */
int wd_signal_fill(int flags, sigset_t *set);

/*
 * True for a signal the C library keeps for itself (32 up to its SIGRTMIN).
 * Thread-safe. Async-signal-safe.
 */
bool wd_signal_libc_internal(int sig);

/*
 * Blocks, in the calling thread, every signal that can be blocked: the
 * fault signals too (a real fault still ends the process: the kernel forces
 * it through), and the C library's internal signals only with
 * WD_SIGNAL_LIBC_INTERNAL in flags (without it, their state is left as it
 * was). The previous mask goes to *ret_old when ret_old is not NULL.
 * Call it before creating threads, so that every thread inherits it.
 * Returns 0 or -errno (-EINVAL for an unknown flag).
 * Thread-safe (it changes the calling thread's mask only). Async-signal-safe.
 */
int wd_signal_block_all(int flags, sigset_t *ret_old);

/*
 * Adds set to the calling thread's signal mask, as pthread_sigmask(SIG_BLOCK)
 * does, except that set is taken exactly as given: a set filled with
 * WD_SIGNAL_LIBC_INTERNAL blocks those too, where pthread_sigmask() would
 * drop them (glibc's sigfillset() and sigaddset(32) leave them out anyway).
 * The previous mask goes to *ret_old when ret_old is not NULL.
 * Call it in main() before creating threads: each thread inherits the mask
 * of the thread that creates it, and a signal is delivered to any one
 * thread that does not block it.
 * Returns 0 or -errno. Thread-safe (the calling thread's mask only).
 * Async-signal-safe.
 */
int wd_signal_block(const sigset_t *set, sigset_t *ret_old);

/*
 * Sets the calling thread's signal mask exactly as given, the C library's
 * internal signals included (sigprocmask() would leave those alone).
 * Returns 0 or -errno. Thread-safe (the calling thread's mask only).
 * Async-signal-safe: it is what a child runs between fork and exec.
 */
int wd_signal_set_mask(const sigset_t *mask);

/*
 * Opens a non-blocking, close-on-exec signalfd for the signals of set, or
 * for every signal that can be blocked when set is NULL (the C library's
 * internal ones included: a signal that is not blocked never waits to be
 * read, so naming them does no harm). The signals must be blocked in every
 * thread (see above), or they are delivered the ordinary way instead.
 * Returns the fd or -errno. Thread-safe. Async-signal-safe.
 */
int wd_signalfd_open(const sigset_t *set);

/*
 * One signal read from a signalfd: what it is and who sent it.
 *
 * Who sent it tells a program's own signals from a user's: a signal the
 * process raised on itself (raise(), kill(getpid(), ...), pthread_kill(),
 * or the kernel acting on the process's own behalf: SIGPIPE, SIGXFSZ) has
 * si->pid == getpid(); one that "kill" or a supervisor sent has the
 * sender's pid (0 when it lives outside this pid namespace, as the
 * container runtime does for a container's PID 1) and its real uid.
 */
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
 * Thread-safe: concurrent readers each get distinct signals.
 * Async-signal-safe when fn is.
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
 * Returns 0 and *ret_sig, or -EINVAL. Thread-safe. Not async-signal-safe
 * (strcasecmp() is not on POSIX's list).
 */
int wd_signal_parse(const char *s, bool allow_zero, int *ret_sig);

/*
 * Writes the name of sig ("SIGTERM", "SIGRTMIN+2", or "SIG42" when it has
 * none) into buf, which holds at least WD_SIGNAME_MAX bytes. Returns buf.
 * Thread-safe. Not async-signal-safe (snprintf).
 */
const char *wd_signal_name(int sig, char *buf);

/*
 * The name of sig as wd_signal_name() writes it, as a string with static
 * storage, for code that may not format (a signal handler) or must keep
 * the pointer (wd_done_close()'s reason). NULL when sig is not 1..64.
 * Thread-safe. Async-signal-safe.
 */
const char *wd_signal_str(int sig);

/*
 * True for a signal number a process can catch (not KILL or STOP).
 * Thread-safe. Async-signal-safe.
 */
bool wd_signal_catchable(int sig);

#endif
