/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* Does the line [p, p+n) start with key and '='? Then *val is the rest. */
static bool has_key(const char *p, size_t n, const char *key, const char **val, size_t *vlen)
{
	size_t k = strlen(key);

	if (n <= k || memcmp(p, key, k) != 0 || p[k] != '=')
		return false;
	*val = p + k + 1;
	*vlen = n - k - 1;
	return true;
}

static bool is(const char *v, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(v, s, n) == 0;
}

static bool parse_u64(const char *v, size_t n, uint64_t *ret)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 19)
		return false;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*ret = x;
	return true;
}

int notify_parse(const char *buf, size_t len, struct notify_msg *m)
{
	const char *p = buf, *end = buf + len, *v;
	size_t vn;
	int understood = 0;

	memset(m, 0, sizeof(*m));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		/* A NUL inside a line makes it malformed. */
		if (memchr(p, '\0', n)) {
			p = nl ? nl + 1 : end;
			continue;
		}
		if (has_key(p, n, "READY", &v, &vn) && is(v, vn, "1")) {
			m->ready = true;
		} else if (has_key(p, n, "STOPPING", &v, &vn) && is(v, vn, "1")) {
			m->stopping = true;
		} else if (has_key(p, n, "RELOADING", &v, &vn) && is(v, vn, "1")) {
			m->reloading = true;
		} else if (has_key(p, n, "WATCHDOG", &v, &vn) && is(v, vn, "1")) {
			m->watchdog = true;
		} else if (has_key(p, n, "WATCHDOG", &v, &vn) && is(v, vn, "trigger")) {
			m->watchdog_trigger = true;
		} else if (has_key(p, n, "BARRIER", &v, &vn) && is(v, vn, "1")) {
			m->barrier = true;
		} else if (has_key(p, n, "STATUS", &v, &vn)) {
			if (vn >= sizeof(m->status))
				vn = sizeof(m->status) - 1;
			memcpy(m->status, v, vn);
			m->status[vn] = '\0';
			m->has_status = true;
		} else if (has_key(p, n, "EXTEND_TIMEOUT_USEC", &v, &vn) &&
			   parse_u64(v, vn, &m->extend_usec)) {
			m->has_extend = true;
		} else {
			p = nl ? nl + 1 : end;
			continue;
		}
		understood++;
		p = nl ? nl + 1 : end;
	}
	return understood;
}

int notify_open(const char *prefix, const char *name, char *ret_name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, one = 1, n;
	socklen_t len;

	static unsigned seq;

	/* A sequence number: a service removed and added back gets a new name. */
	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s/%s.%u", prefix, name, ++seq);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) - 1)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	ret_name[0] = '@';
	memcpy(ret_name + 1, sa.sun_path + 1, (size_t)n + 1);
	return fd;
}

ssize_t notify_recv(int fd, char *buf, size_t size, pid_t *ret_pid, uid_t *ret_uid)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 64)];
	} cm;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = &cm,
		.msg_controllen = sizeof(cm),
	};
	struct cmsghdr *c;
	bool have_cred = false;
	ssize_t n;

	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	*ret_pid = 0;
	*ret_uid = (uid_t)-1;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*ret_pid = uc.pid;
			*ret_uid = uc.uid;
			have_cred = true;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			/* BARRIER=1 waits for its fd to close; nothing else may keep one. */
			size_t k, nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (k = 0; k < nfd; k++) {
				int passed;

				memcpy(&passed, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				close(passed);
			}
		}
	}
	if (!have_cred) {
		*ret_pid = 0;
		*ret_uid = (uid_t)-1;
	}
	if ((size_t)n > size || (mh.msg_flags & MSG_TRUNC))
		return -EMSGSIZE;
	return n;
}
