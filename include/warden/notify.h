/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_NOTIFY_H
#define WARDEN_NOTIFY_H

/*
 * Readiness and watchdog: a client of the service manager's notify
 * protocol (the one of sd_notify(3)), without libsystemd. It works under
 * any manager that speaks the protocol: warden (ready = notify, or
 * --ready notify) and systemd (Type=notify, WatchdogSec=) alike.
 *
 * The manager names a datagram socket in NOTIFY_SOCKET: an absolute path
 * ("/run/...") or a Linux abstract name ("@name"). Each message is one
 * datagram of newline-separated KEY=VALUE lines. Without NOTIFY_SOCKET the
 * program was not started by such a manager: every call here is then a
 * no-op that returns 0, so a program can notify unconditionally.
 *
 * Results: 1 when the message was sent, 0 when there is no manager to
 * send it to, or -errno: -EINVAL (an empty or malformed NOTIFY_SOCKET),
 * -EAFNOSUPPORT (a form this client does not speak, such as "vsock:"),
 * -ENAMETOOLONG (a name that does not fit a sockaddr_un), -EAGAIN (the
 * manager's queue stayed full for WD_NOTIFY_SEND_TIMEOUT_MS), or what
 * socket() and sendmsg() report (-ECONNREFUSED: nobody listens there).
 *
 * Threads and signals: the functions that read NOTIFY_SOCKET use
 * getenv(); they are thread-safe as long as no thread changes the
 * environment meanwhile (setenv(), putenv(), unsetenv()). POSIX does not
 * list getenv() as async-signal-safe, so from a signal handler use
 * wd_notify_send_to() with the address read once at start-up: it makes
 * only async-signal-safe calls (socket, setsockopt, sendmsg, close),
 * never allocates, and leaves errno as it found it. Each call opens and
 * closes its own socket: nothing is shared between calls, nothing is left
 * open, nothing leaks into children.
 *
 * Children inherit NOTIFY_SOCKET and may speak for the program (both
 * warden and systemd with NotifyAccess=all accept a descendant). To keep
 * children out, copy the address (wd_notify_socket()) and unsetenv() it
 * before starting threads or children.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <warden/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * How long a send waits for room in the manager's queue (a busy manager
 * that has not read its earlier messages) before it gives up with -EAGAIN.
 * Bounded so that neither a signal handler nor an event loop blocks for
 * long; systemd's own client would wait forever.
 */
#define WD_NOTIFY_SEND_TIMEOUT_MS 1000

/*
 * Sends state (one or more "KEY=VALUE" lines, '\n'-separated, without a
 * trailing newline) as one datagram to the socket named by addr ("/path"
 * or "@abstract"). addr NULL sends nothing and returns 0. Returns 1, 0 or
 * -errno as above. Thread-safe. Async-signal-safe.
 */
int wd_notify_send_to(const char *addr, const char *state);

/*
 * Sends state to the socket named by NOTIFY_SOCKET; 0 without one.
 * Thread-safe (while no thread changes the environment); not
 * async-signal-safe (getenv(): see wd_notify_send_to()).
 */
int wd_notify_send(const char *state);

/*
 * NOTIFY_SOCKET, or NULL when unset. The pointer is into the
 * environment: copy it before changing the environment. Thread-safe
 * (while no thread changes the environment); not async-signal-safe.
 */
const char *wd_notify_socket(void);

/*
 * The common messages, each sent to NOTIFY_SOCKET as wd_notify_send()
 * does (same results, thread-safe while nobody changes the environment,
 * not async-signal-safe; none of them allocates):
 *
 * wd_notify_ready(): "READY=1", start-up is complete (and, after
 *   RELOADING=1, the reload is).
 * wd_notify_status(text): "STATUS=text", a one-line human-readable state
 *   (warden shows it in `warden ctl status`, systemd in `systemctl
 *   status`). A newline in text ends the status there (-EINVAL).
 * wd_notify_stopping(): "STOPPING=1", shutdown has begun.
 * wd_notify_reloading(): "RELOADING=1" with "MONOTONIC_USEC=" now on
 *   CLOCK_MONOTONIC, as systemd's Type=notify-reload requires; send
 *   READY=1 when the reload is done.
 * wd_notify_watchdog(): "WATCHDOG=1", one keep-alive (see the pinger
 *   below for sending them from a wd_loop).
 * wd_notify_extend_timeout(usec): "EXTEND_TIMEOUT_USEC=usec", asks for
 *   usec more microseconds (from now) for the start-up, reload or stop in
 *   progress; send it again before it runs out.
 */
int wd_notify_ready(void);
int wd_notify_status(const char *text);
int wd_notify_stopping(void);
int wd_notify_reloading(void);
int wd_notify_watchdog(void);
int wd_notify_extend_timeout(uint64_t usec);

/*
 * Does the manager expect watchdog keep-alives from this process? As
 * sd_watchdog_enabled() decides: WATCHDOG_USEC is set, and WATCHDOG_PID
 * is unset or this process's pid (a manager sets it when the variable
 * might reach a child that is not the main process). Returns 1 and the
 * timeout in *ret_usec (NULL is fine), 0 when no keep-alives are expected
 * (also for a WATCHDOG_PID of another process), or -EINVAL when either
 * variable is not a positive decimal number; *ret_usec is untouched
 * unless 1 is returned. Send a keep-alive every half of the timeout.
 * Thread-safe (while no thread changes the environment); not
 * async-signal-safe.
 */
int wd_notify_watchdog_usec(uint64_t *ret_usec);

/*
 * The watchdog pinger: sends WATCHDOG=1 from a wd_loop timer every half of
 * WATCHDOG_USEC, for as long as the loop runs. A loop that hangs stops
 * the keep-alives, which is the point: the manager then restarts the
 * program. Caller-allocated; members are private except the two marked
 * read-only.
 */
typedef struct wd_notify_pinger {
	/* read-only, set by wd_notify_pinger_start() */
	uint64_t interval_usec; /* between keep-alives; 0: not pinging */
	int last_error;		/* the last failed send's -errno; 0 after a success */
	/* private */
	wd_timer timer;
	bool running;
	bool has_addr;
	char addr[109]; /* NOTIFY_SOCKET as it was at start */
	void *reserved[4];
} wd_notify_pinger;

/*
 * Prepares a pinger: a zeroed, stopped one. Not thread-safe: one thread at
 * a time per object. Async-signal-safe.
 */
void wd_notify_pinger_init(wd_notify_pinger *p);

/*
 * Reads WATCHDOG_USEC (wd_notify_watchdog_usec()) and NOTIFY_SOCKET, sends
 * a first WATCHDOG=1 at once and then one every half of the timeout from
 * a timer on loop. The socket's name is copied: unsetting NOTIFY_SOCKET
 * afterwards does not stop the pings. A send that fails is recorded in
 * last_error and retried at the next tick. Returns 1 when pinging, 0 when
 * the manager expects no keep-alives (nothing armed), or -errno
 * (-EINVAL: a malformed variable; -ENAMETOOLONG: a socket name too long;
 * -EBUSY: the pinger is already running). Not thread-safe: call it from
 * the loop's thread.
 */
int wd_notify_pinger_start(wd_notify_pinger *p, wd_loop *loop);

/*
 * Stops the pings. Fine on a stopped pinger. (warden and systemd stop
 * watching once the program is stopping: pinging on until exit is fine
 * too.) Not thread-safe: call it from the loop's thread.
 */
void wd_notify_pinger_stop(wd_notify_pinger *p);

#ifdef __cplusplus
}
#endif

#endif
