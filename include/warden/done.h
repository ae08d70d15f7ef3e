/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_DONE_H
#define WARDEN_DONE_H

/*
 * The exit notifier: the C form of a Go "done" channel that is closed once.
 *
 * One object says "this program is stopping", with an exit code and a
 * reason. Closing it is idempotent (the first close wins; its code and
 * reason stay), thread-safe and async-signal-safe, so a signal handler, a
 * worker thread that hit a fatal error and the main loop may all close it.
 * Anyone can wait for it: its fd (an eventfd) becomes readable when it is
 * closed and stays readable forever, so any number of threads, epoll sets
 * and poll() calls can watch the same fd at once.
 *
 * A second level, "escalated", means "stop waiting": a second SIGTERM or
 * SIGINT, or an explicit wd_done_escalate(). The shutdown orchestrator
 * (shutdown.h) abandons the waits it has left when it sees it.
 *
 * Typical use in main(), before any thread is created:
 *
 *	sigset_t set;
 *	sigemptyset(&set);
 *	sigaddset(&set, SIGTERM);
 *	sigaddset(&set, SIGINT);
 *	wd_signal_block(&set, NULL);          // every thread inherits it
 *	wd_done_new(&done);
 *	wd_done_watch_signals(done, loop, &set, 0);
 *	// ... start threads; each polls wd_done_fd(done) with its own work;
 *	// the loop's own watcher on wd_done_fd() calls wd_loop_quit() ...
 *	wd_shutdown_run(sd, done, 10000);
 *	wd_shutdown_exit(wd_done_code(done));
 */

#include <signal.h>
#include <stdbool.h>

#include <warden/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_done wd_done;

/*
 * Creates an open notifier. Returns 0 or -errno (-ENOMEM, or eventfd()'s
 * error); *ret untouched on failure. Thread-safe.
 */
int wd_done_new(wd_done **ret);

/*
 * Frees a notifier and closes its fds; stops its signal watcher first. NULL
 * is fine. Nobody else may use it any more: free it last, after the
 * threads that wait on it are joined, and before the wd_loop it watches
 * signals on is freed. Not thread-safe.
 */
void wd_done_free(wd_done *done);

/*
 * Closes the notifier with an exit code and a reason, unless it is closed
 * already: the first close wins and later ones change nothing.
 * reason must have static storage (a string literal): it is kept as a
 * pointer and read by other threads at any time after; NULL is kept as
 * NULL. code is what the program means to exit with (wd_shutdown_exit()
 * passes code & 0xff to _exit()).
 * Returns true when this call closed it, false when it was closed before.
 * Thread-safe: of two threads closing at once, exactly one gets true.
 * Async-signal-safe: a signal handler may call it (errno is preserved).
 */
bool wd_done_close(wd_done *done, int code, const char *reason);

/*
 * Escalates: "stop waiting". Closes the notifier with code and reason
 * first if it is still open (they are ignored otherwise), then marks it
 * escalated and makes wd_done_escalated_fd() readable, forever.
 * Returns true when this call escalated it. Thread-safe. Async-signal-safe.
 */
bool wd_done_escalate(wd_done *done, int code, const char *reason);

/*
 * The notifier's fd: readable (POLLIN, EPOLLIN) once it is closed, and from
 * then on forever. Poll it, never read it: a read would make it unreadable
 * for everybody else. Owned by the notifier. Thread-safe. Async-signal-safe.
 */
int wd_done_fd(const wd_done *done);

/* Like wd_done_fd(), for the escalation. Thread-safe. Async-signal-safe. */
int wd_done_escalated_fd(const wd_done *done);

/*
 * True once the notifier is closed. When it is, wd_done_code() and
 * wd_done_reason() give what the winning close said.
 * Thread-safe. Async-signal-safe.
 */
bool wd_done_is_closed(const wd_done *done);

/* True once the notifier is escalated. Thread-safe. Async-signal-safe. */
bool wd_done_is_escalated(const wd_done *done);

/* The exit code of the winning close, or 0 while open. Thread-safe. Async-signal-safe. */
int wd_done_code(const wd_done *done);

/*
 * The reason of the winning close (static storage, or NULL), or NULL while
 * open. Thread-safe. Async-signal-safe.
 */
const char *wd_done_reason(const wd_done *done);

/*
 * Blocks until the notifier is closed or timeout_ms milliseconds have
 * passed (-1: no limit; 0: only looks). Signals that interrupt it do not end
 * it early. Returns 0 when closed, -ETIMEDOUT, or -errno from poll().
 * Thread-safe: any number of threads may wait at once. Not async-signal-safe.
 */
int wd_done_wait(const wd_done *done, int timeout_ms);

/* For wd_done_watch_signals(): exit with 128 + the signal's number. */
#define WD_DONE_CODE_SIGNAL (-1)

/*
 * Closes the notifier from signals: opens a signalfd for set (NULL: SIGTERM
 * and SIGINT) and, on loop, reads it. The first of those signals closes the
 * notifier with code (WD_DONE_CODE_SIGNAL: 128 + its number) and its name
 * as the reason ("SIGTERM"); every signal is counted, and the second one
 * escalates (so does every later one). When the notifier was closed
 * otherwise first, the first signal still only counts: a docker stop after
 * the program began to stop on its own does not cut its cleanup short.
 *
 * The signals of set must be blocked in every thread before (see
 * wd_signal_block()); -EINVAL when one is not blocked in the calling
 * thread. loop may be NULL: then the caller polls wd_done_signal_fd() and
 * calls wd_done_read_signals() when it is readable. wd_shutdown_run() reads
 * it too while it runs, since the loop is not running then.
 * One watcher per notifier: -EBUSY for a second. Returns 0 or -errno.
 * Not thread-safe: call it once, from the thread that runs loop.
 */
int wd_done_watch_signals(wd_done *done, wd_loop *loop, const sigset_t *set, int code);

/*
 * The watcher's signalfd (non-blocking, close-on-exec, owned by the
 * notifier), or -1 when there is no watcher. Thread-safe.
 */
int wd_done_signal_fd(const wd_done *done);

/*
 * Reads the signals queued on the watcher's signalfd and acts on them as
 * described above. Returns how many it read, or -errno (-EBADF without a
 * watcher). Thread-safe: concurrent readers each get distinct signals.
 * Not async-signal-safe.
 */
int wd_done_read_signals(wd_done *done);

/*
 * How many of the watched signals have arrived (read) so far, and the
 * number of the last one (0 before any). Thread-safe. Async-signal-safe.
 */
unsigned wd_done_signal_count(const wd_done *done);
int wd_done_last_signal(const wd_done *done);

#ifdef __cplusplus
}
#endif

#endif
