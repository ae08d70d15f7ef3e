/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_SHUTDOWN_H
#define WARDEN_SHUTDOWN_H

/*
 * Graceful shutdown: named cleanup steps, each with its own deadline, run
 * in a known order when the program stops, under an overall deadline; a
 * step that overruns is reported and abandoned, never waited for forever;
 * then the program exits with the code it chose.
 *
 * Order. Steps added with wd_shutdown_add_stage() run first, stage by
 * stage in ascending stage number; the steps of one stage run at the same
 * time, and the next stage starts when every step of the stage has ended
 * or been abandoned. Then the steps added with wd_shutdown_add() run one
 * at a time, the last added first, as Go runs its defers: open a resource,
 * add the step that closes it, and they close in the reverse order.
 *
 * Where a step runs. Each step runs in a thread of its own, created with
 * every signal blocked (the C library's internal ones aside), so that the
 * orchestrator can stop waiting for it. A step that overruns its deadline,
 * or is still running at the overall deadline or at an escalation, is
 * abandoned: its thread goes on running until fn returns or the process
 * exits, whichever comes first. An abandoned step may still hold a lock
 * (a mutex of the program, malloc's, a stdio stream's), may be half-way
 * through a write, and still uses its data: the program should not free
 * that data, and should exit soon (wd_shutdown_exit() does not wait for
 * it). Its result, should it come later, is not reported.
 *
 * Escalation. With a notifier (done.h) given to wd_shutdown_run(), its
 * escalation (a second SIGTERM or SIGINT read by its signal watcher, or
 * wd_done_escalate()) stops every wait at once: the running steps are
 * abandoned and the steps not started yet are skipped.
 *
 * The defer + os.Exit trap, and its C forms. In Go, os.Exit() skips every
 * deferred function: cleanup silently never runs. C has three versions of
 * it, and libwarden avoids each:
 * - exit() from a signal handler runs the atexit handlers and flushes
 *   stdio in the middle of whatever the handler interrupted (malloc, a
 *   printf holding the stream's lock): a deadlock or corrupt output, and
 *   exit() is not async-signal-safe. Here a handler only closes the
 *   notifier (wd_done_close() is async-signal-safe), or signals are not
 *   handled at all but read from a signalfd; cleanup runs in ordinary
 *   threads, from wd_shutdown_run().
 * - atexit() handlers run in the reverse order of registration across
 *   every library that registered one, with no deadline (one that blocks
 *   stalls the exit forever), and not at all on _exit() or a fatal signal.
 *   Here cleanup is explicit steps with deadlines and a report, and
 *   wd_shutdown_exit() ends the process with _exit(): no atexit handler
 *   runs, so no cleanup may live in one.
 * - exit() in a forked child runs the parent's atexit handlers and flushes
 *   the parent's stdio buffers a second time (doubled output, a parent's
 *   temporary file removed by its child). A child must _exit(), as
 *   wd_spawn()'s child does when exec fails; cleanup steps belong to the
 *   process that added them, and a forked child never runs them.
 */

#include <stddef.h>
#include <stdint.h>

#include <warden/done.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wd_shutdown wd_shutdown;

/*
 * A cleanup step: returns 0 when it succeeded, any other value (a -errno,
 * say) when it failed; that value is reported as the step's code.
 */
typedef int (*wd_shutdown_fn)(void *data);

/* How a step ended. */
enum wd_shutdown_outcome {
	WD_SHUTDOWN_PENDING = 0, /* not run yet */
	WD_SHUTDOWN_OK,		 /* fn returned 0 */
	WD_SHUTDOWN_FAILED,	 /* fn returned code != 0 */
	WD_SHUTDOWN_TIMED_OUT,	 /* still running at its deadline or the overall one: abandoned */
	WD_SHUTDOWN_ABANDONED,	 /* still running at an escalation: abandoned */
	WD_SHUTDOWN_SKIPPED,	 /* never started: a deadline or an escalation came first, */
				 /* or its thread could not be created (code: -errno) */
};

/* One step's report, filled in by wd_shutdown_result(). */
struct wd_shutdown_result {
	const char *name; /* owned by the orchestrator */
	int stage;	  /* its stage; -1 for a step of wd_shutdown_add() */
	enum wd_shutdown_outcome outcome;
	int code;	     /* FAILED: what fn returned; SKIPPED: -errno or 0 */
	uint64_t elapsed_ms; /* from its start to its end, or to when it was abandoned */
	void *reserved[4];   /* room to grow; zeroed */
};

/* Creates an empty orchestrator. Returns 0 or -ENOMEM; *ret untouched on failure. Thread-safe. */
int wd_shutdown_new(wd_shutdown **ret);

/*
 * Frees the orchestrator. NULL is fine. An abandoned step that is still
 * running keeps what it needs (it frees that itself when fn returns), so
 * this is safe at any time after wd_shutdown_run() has returned.
 * Not thread-safe: one thread at a time per object.
 */
void wd_shutdown_free(wd_shutdown *sd);

/*
 * Adds a step that runs after every stage, alone, before the steps added
 * before it (reverse order of registration). name is copied. timeout_ms
 * bounds the step (0: only the overall deadline does).
 * Returns 0, -EINVAL (no name or fn), -EBUSY (after wd_shutdown_run()),
 * or -ENOMEM. Not thread-safe: one thread at a time per object.
 */
int wd_shutdown_add(wd_shutdown *sd, const char *name, wd_shutdown_fn fn, void *data,
		    unsigned timeout_ms);

/*
 * Adds a step to stage (>= 0): stages run in ascending order, before the
 * steps of wd_shutdown_add(), and the steps of one stage run at the same
 * time. Otherwise as wd_shutdown_add(); -EINVAL for a negative stage.
 */
int wd_shutdown_add_stage(wd_shutdown *sd, int stage, const char *name, wd_shutdown_fn fn,
			  void *data, unsigned timeout_ms);

/*
 * Called as each step's outcome is settled (from the thread that runs
 * wd_shutdown_run()): for a log line, say. The result is valid during the
 * call. NULL turns it off. Not thread-safe: one thread at a time per object.
 */
void wd_shutdown_on_result(wd_shutdown *sd,
			   void (*fn)(const struct wd_shutdown_result *res, void *data),
			   void *data);

/*
 * Runs every step, in the order above, and returns when each has ended,
 * been abandoned or been skipped: at the latest timeout_ms after it began
 * (0: no overall deadline, only the steps' own), or at done's escalation.
 * done may be NULL; when it has a signal watcher (wd_done_watch_signals()),
 * this reads the watcher's signalfd while it waits, so a second SIGTERM
 * escalates even though no loop is running. It does not wait for done to
 * be closed: call it once the program has decided to stop.
 * Returns how many steps did not end OK (0: a clean shutdown), -EBUSY when
 * it has run before, or -errno when it cannot wait at all (then every step
 * not yet settled is abandoned or skipped).
 * Not thread-safe: one thread at a time per object. Not async-signal-safe.
 */
int wd_shutdown_run(wd_shutdown *sd, wd_done *done, unsigned timeout_ms);

/* How many steps were added. Not thread-safe: one thread at a time per object. */
size_t wd_shutdown_count(const wd_shutdown *sd);

/*
 * Fills *ret with the report of step i, in the order they run (0 first).
 * Returns 0, or -ENOENT for i out of range (*ret untouched).
 * Not thread-safe: one thread at a time per object.
 */
int wd_shutdown_result(const wd_shutdown *sd, size_t i, struct wd_shutdown_result *ret);

/* "ok", "failed", "timed out", "abandoned", "skipped", "pending". Thread-safe. Async-signal-safe.
 */
const char *wd_shutdown_outcome_str(enum wd_shutdown_outcome outcome);

/*
 * Writes the report to fd, one line per step in the order they ran:
 *	shutdown: NAME: ok in 12 ms
 *	shutdown: NAME: failed (code -5) in 3 ms
 *	shutdown: NAME: timed out after 1000 ms, abandoned
 * Returns 0 or -errno from write(). Not thread-safe: one thread at a time
 * per object. Not async-signal-safe.
 */
int wd_shutdown_write_report(const wd_shutdown *sd, int fd);

/*
 * Ends the process with code & 0xff: flushes stdout and stderr (each only
 * if no other thread holds its lock: an abandoned step may be stuck in a
 * printf) and calls _exit(). No atexit handler runs and no other stream is
 * flushed: close them in a step. Threads still running (abandoned steps)
 * end with the process. Never returns. Thread-safe. Not async-signal-safe
 * (stdio); from a signal handler, close the notifier instead.
 */
__attribute__((noreturn)) void wd_shutdown_exit(int code);

#ifdef __cplusplus
}
#endif

#endif
