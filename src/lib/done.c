/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <warden/done.h>
#include <warden/signals.h>

enum { OPEN, CLOSING, CLOSED };

struct wd_done {
	/*
	 * OPEN -> CLOSING (the one close that won the exchange writes code and
	 * reason) -> CLOSED (published with release: whoever reads CLOSED
	 * with acquire sees them).
	 */
	atomic_int state;
	atomic_bool escalated;
	int code;
	const char *reason;
	int efd, esc_efd; /* eventfds, written once, never read */

	/* The signal watcher: set up once by wd_done_watch_signals(). */
	int sig_fd;
	int sig_code;
	atomic_uint sig_count;
	atomic_int last_sig;
	wd_io sig_io;
};

int wd_done_new(wd_done **ret)
{
	wd_done *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	atomic_init(&d->state, OPEN);
	atomic_init(&d->escalated, false);
	atomic_init(&d->sig_count, 0);
	atomic_init(&d->last_sig, 0);
	d->sig_fd = -1;
	d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->efd < 0)
		goto fail;
	d->esc_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->esc_efd < 0)
		goto fail_efd;
	*ret = d;
	return 0;

fail_efd:
	r = -errno;
	close(d->efd);
	free(d);
	return r;
fail:
	r = -errno;
	free(d);
	return r;
}

void wd_done_free(wd_done *done)
{
	if (!done)
		return;
	wd_io_stop(&done->sig_io);
	if (done->sig_fd >= 0)
		close(done->sig_fd);
	close(done->efd);
	close(done->esc_efd);
	free(done);
}

/*
 * Makes an eventfd readable for good: its counter goes from 0 to 1 and
 * nobody reads it back. One write per eventfd ever, so it cannot fill up.
 * Async-signal-safe; keeps errno for the code a handler interrupted.
 */
static void kick(int fd)
{
	uint64_t one = 1;
	int saved = errno;
	ssize_t n;

	do
		n = write(fd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	errno = saved;
}

bool wd_done_close(wd_done *done, int code, const char *reason)
{
	int expected = OPEN;

	if (!atomic_compare_exchange_strong(&done->state, &expected, CLOSING))
		return false;
	done->code = code;
	done->reason = reason;
	atomic_store_explicit(&done->state, CLOSED, memory_order_release);
	/* After the store: a poller woken by the fd finds it closed. */
	kick(done->efd);
	return true;
}

bool wd_done_escalate(wd_done *done, int code, const char *reason)
{
	bool expected = false;

	(void)wd_done_close(done, code, reason);
	if (!atomic_compare_exchange_strong(&done->escalated, &expected, true))
		return false;
	kick(done->esc_efd);
	return true;
}

int wd_done_fd(const wd_done *done)
{
	return done->efd;
}

int wd_done_escalated_fd(const wd_done *done)
{
	return done->esc_efd;
}

bool wd_done_is_closed(const wd_done *done)
{
	return atomic_load_explicit(&((wd_done *)done)->state, memory_order_acquire) == CLOSED;
}

bool wd_done_is_escalated(const wd_done *done)
{
	return atomic_load(&((wd_done *)done)->escalated);
}

int wd_done_code(const wd_done *done)
{
	return wd_done_is_closed(done) ? done->code : 0;
}

const char *wd_done_reason(const wd_done *done)
{
	return wd_done_is_closed(done) ? done->reason : NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wd_done_wait(const wd_done *done, int timeout_ms)
{
	/* In ns, and the poll timeout rounded up: the wait never ends early. */
	uint64_t deadline = timeout_ms > 0 ? now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	struct pollfd p = {.fd = done->efd, .events = POLLIN};
	int left = timeout_ms, n;

	for (;;) {
		n = poll(&p, 1, left);
		if (n > 0 || wd_done_is_closed(done))
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (timeout_ms == 0)
			return -ETIMEDOUT;
		if (timeout_ms > 0) {
			uint64_t now = now_ns();

			if (now >= deadline)
				return -ETIMEDOUT;
			left = (int)((deadline - now + 999999u) / 1000000u);
		}
	}
}

static void on_signal(const struct wd_siginfo *si, void *data)
{
	wd_done *done = data;
	unsigned n = atomic_fetch_add(&done->sig_count, 1) + 1;
	int code = done->sig_code == WD_DONE_CODE_SIGNAL ? 128 + si->signo : done->sig_code;

	atomic_store(&done->last_sig, si->signo);
	if (n == 1)
		(void)wd_done_close(done, code, wd_signal_str(si->signo));
	else
		(void)wd_done_escalate(done, code, wd_signal_str(si->signo));
}

int wd_done_read_signals(wd_done *done)
{
	if (done->sig_fd < 0)
		return -EBADF;
	return wd_signalfd_dispatch(done->sig_fd, on_signal, done);
}

static void on_signal_io(wd_io *io, uint32_t revents)
{
	(void)wd_done_read_signals(io->data);
}

int wd_done_watch_signals(wd_done *done, wd_loop *loop, const sigset_t *set, int code)
{
	sigset_t def, cur;
	bool any = false;
	int sig, fd, r;

	if (done->sig_fd >= 0)
		return -EBUSY;
	if (!set) {
		sigemptyset(&def);
		sigaddset(&def, SIGTERM);
		sigaddset(&def, SIGINT);
		set = &def;
	}
	/* A signal not blocked would end the program before the fd sees it. */
	r = pthread_sigmask(SIG_BLOCK, NULL, &cur);
	if (r != 0)
		return -r;
	for (sig = 1; sig <= WD_SIGRTMAX; sig++) {
		if (sigismember(set, sig) != 1)
			continue;
		if (sigismember(&cur, sig) != 1)
			return -EINVAL;
		any = true;
	}
	if (!any)
		return -EINVAL;
	fd = wd_signalfd_open(set);
	if (fd < 0)
		return fd;
	done->sig_code = code;
	if (loop) {
		done->sig_io.fd = fd;
		done->sig_io.events = EPOLLIN;
		done->sig_io.cb = on_signal_io;
		done->sig_io.data = done;
		r = wd_io_start(loop, &done->sig_io);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	done->sig_fd = fd;
	return 0;
}

int wd_done_signal_fd(const wd_done *done)
{
	return done->sig_fd;
}

unsigned wd_done_signal_count(const wd_done *done)
{
	return atomic_load(&((wd_done *)done)->sig_count);
}

int wd_done_last_signal(const wd_done *done)
{
	return atomic_load(&((wd_done *)done)->last_sig);
}
