/* SPDX-License-Identifier: MIT */
/*
 * The notify protocol's client side. Everything on the send path is
 * async-signal-safe: no allocation, no stdio, only system calls and the
 * string functions POSIX lists as safe; numbers are formatted by hand.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/notify.h>

/*
 * Fills *sa from "/path" or "@abstract". Returns the address length or
 * -errno (-EINVAL, -EAFNOSUPPORT, -ENAMETOOLONG).
 */
static int address(const char *addr, struct sockaddr_un *sa)
{
	size_t n = strlen(addr);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n < 2 && (addr[0] == '/' || addr[0] == '@'))
		return -EINVAL;
	if (addr[0] == '/') {
		if (n >= sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path, addr, n + 1);
		return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	if (addr[0] == '@') {
		/* Abstract: a leading NUL, and the name's exact length (no NUL after it). */
		if (n > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, addr + 1, n - 1);
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	return n ? -EAFNOSUPPORT : -EINVAL;
}

/*
 * Sends the concatenation of iov[0..n) as one datagram to addr. errno is
 * left as it was, so that a signal handler need not save it around a call.
 */
static int send_iov(const char *addr, struct iovec *iov, int n)
{
	struct timeval tv = {
		.tv_sec = WD_NOTIFY_SEND_TIMEOUT_MS / 1000,
		.tv_usec = (WD_NOTIFY_SEND_TIMEOUT_MS % 1000) * 1000,
	};
	struct sockaddr_un sa;
	struct msghdr mh = {.msg_name = &sa, .msg_iov = iov, .msg_iovlen = (size_t)n};
	int fd, len, tries, r = 1, saved = errno;

	if (!addr)
		return 0;
	len = address(addr, &sa);
	if (len < 0)
		return len;
	mh.msg_namelen = (socklen_t)len;
	/*
	 * A blocking socket with a send timeout: a full queue at the manager
	 * is waited for, but not forever.
	 */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		errno = saved;
		return r;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
	} else {
		/* A signal cuts a wait for room short: try again, a bounded number of times. */
		for (tries = 0; tries < 8; tries++) {
			if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) {
				r = 1;
				break;
			}
			r = errno == EWOULDBLOCK ? -EAGAIN : -errno;
			if (r != -EINTR)
				break;
		}
	}
	close(fd);
	errno = saved;
	return r;
}

int wd_notify_send_to(const char *addr, const char *state)
{
	struct iovec iov;

	if (!state || !*state)
		return -EINVAL;
	iov.iov_base = (void *)state;
	iov.iov_len = strlen(state);
	return send_iov(addr, &iov, 1);
}

const char *wd_notify_socket(void)
{
	return getenv("NOTIFY_SOCKET");
}

int wd_notify_send(const char *state)
{
	/* Set but empty is a manager's mistake (-EINVAL), not "no manager". */
	return wd_notify_send_to(getenv("NOTIFY_SOCKET"), state);
}

int wd_notify_ready(void)
{
	return wd_notify_send("READY=1");
}

int wd_notify_stopping(void)
{
	return wd_notify_send("STOPPING=1");
}

int wd_notify_watchdog(void)
{
	return wd_notify_send("WATCHDOG=1");
}

int wd_notify_status(const char *text)
{
	struct iovec iov[2] = {{.iov_base = (void *)"STATUS=", .iov_len = 7}};

	if (!text || strchr(text, '\n'))
		return -EINVAL;
	iov[1].iov_base = (void *)text;
	iov[1].iov_len = strlen(text);
	return send_iov(getenv("NOTIFY_SOCKET"), iov, 2);
}

/* Writes v in decimal at the end of buf[0..size); returns where it starts. */
static char *u64_str(uint64_t v, char *buf, size_t size)
{
	char *p = buf + size;

	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return p;
}

int wd_notify_extend_timeout(uint64_t usec)
{
	char num[24];
	struct iovec iov[2] = {{.iov_base = (void *)"EXTEND_TIMEOUT_USEC=", .iov_len = 20}};

	iov[1].iov_base = u64_str(usec, num, sizeof(num));
	iov[1].iov_len = strlen(iov[1].iov_base);
	return send_iov(getenv("NOTIFY_SOCKET"), iov, 2);
}

int wd_notify_reloading(void)
{
	char num[24];
	struct iovec iov[2] = {{.iov_base = (void *)"RELOADING=1\nMONOTONIC_USEC=", .iov_len = 27}};

	iov[1].iov_base = u64_str(wd_now() / WD_NSEC_PER_USEC, num, sizeof(num));
	iov[1].iov_len = strlen(iov[1].iov_base);
	return send_iov(getenv("NOTIFY_SOCKET"), iov, 2);
}

/* A positive decimal number, nothing else. Returns 0 or -EINVAL. */
static int parse_positive(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (!v)
		return -EINVAL;
	*ret = v;
	return 0;
}

int wd_notify_watchdog_usec(uint64_t *ret_usec)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t usec, p;

	if (!us)
		return 0;
	if (parse_positive(us, &usec) < 0)
		return -EINVAL;
	if (pid) {
		if (parse_positive(pid, &p) < 0)
			return -EINVAL;
		/* Meant for another process: our parent's, or a child's we are not. */
		if (p != (uint64_t)getpid())
			return 0;
	}
	if (ret_usec)
		*ret_usec = usec;
	return 1;
}

void wd_notify_pinger_init(wd_notify_pinger *p)
{
	memset(p, 0, sizeof(*p));
}

static void ping(wd_notify_pinger *p)
{
	int r = wd_notify_send_to(p->has_addr ? p->addr : NULL, "WATCHDOG=1");

	p->last_error = r < 0 ? r : 0;
}

static void on_ping(wd_timer *t)
{
	wd_notify_pinger *p = t->data;
	uint64_t step = p->interval_usec * WD_NSEC_PER_USEC, next = t->deadline + step, now;

	ping(p);
	/*
	 * From the previous deadline, so that the period does not drift with
	 * the loop's latency; but a loop that was held up pings once, not a
	 * burst of missed pings.
	 */
	now = wd_now();
	if (next <= now)
		next = now + step;
	(void)wd_timer_start(t->loop, t, next);
}

/* A year: longer watchdogs are pinged yearly, and nanoseconds cannot overflow. */
#define INTERVAL_MAX_USEC (UINT64_C(365) * 86400 * 1000000)

int wd_notify_pinger_start(wd_notify_pinger *p, wd_loop *loop)
{
	const char *addr = wd_notify_socket();
	uint64_t usec;
	size_t n = addr ? strlen(addr) : 0;
	int r;

	if (p->running)
		return -EBUSY;
	r = wd_notify_watchdog_usec(&usec);
	if (r <= 0)
		return r;
	if (n >= sizeof(p->addr))
		return -ENAMETOOLONG;
	/* Without a socket the pings are no-ops, as each wd_notify_watchdog() would be. */
	p->has_addr = addr != NULL;
	if (addr)
		memcpy(p->addr, addr, n + 1);
	/* Half the timeout, as the protocol recommends; never 0 (a timer storm). */
	p->interval_usec = usec / 2 ? usec / 2 : 1;
	if (p->interval_usec > INTERVAL_MAX_USEC)
		p->interval_usec = INTERVAL_MAX_USEC;
	p->timer.cb = on_ping;
	p->timer.data = p;
	ping(p);
	r = wd_timer_start(loop, &p->timer, wd_now() + p->interval_usec * WD_NSEC_PER_USEC);
	if (r < 0) {
		p->interval_usec = 0;
		return r;
	}
	p->running = true;
	return 1;
}

void wd_notify_pinger_stop(wd_notify_pinger *p)
{
	if (!p->running)
		return;
	wd_timer_stop(&p->timer);
	p->running = false;
	p->interval_usec = 0;
}
