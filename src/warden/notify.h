/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_NOTIFY_H
#define WARDEN_NOTIFY_H

/*
 * The systemd notify protocol: datagrams of KEY=VALUE lines on a socket
 * named by NOTIFY_SOCKET.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NOTIFY_STATUS_MAX 256
#define NOTIFY_DATAGRAM_MAX 4096

struct notify_msg {
	bool ready, stopping, reloading, watchdog, watchdog_trigger, barrier;
	bool has_status;
	char status[NOTIFY_STATUS_MAX]; /* cut to fit, NUL-terminated */
	bool has_extend;
	uint64_t extend_usec;
};

/*
 * Parses one datagram. Unknown keys and malformed lines are ignored, as
 * systemd does. Returns the number of lines understood.
 */
int notify_parse(const char *buf, size_t len, struct notify_msg *ret);

/*
 * Opens a datagram socket with SO_PASSCRED, bound to an abstract name
 * "@PREFIX/NAME" written into ret_name (at least 108 bytes). Returns the
 * fd or -errno.
 */
int notify_open(const char *prefix, const char *name, char *ret_name);

/*
 * Receives one datagram. Descriptors that came with it are closed. Returns
 * its length (with the sender's pid in *ret_pid, 0 when it is in another
 * pid namespace, and its uid in *ret_uid, as the kernel vouches for them),
 * -EAGAIN when there is none, or -errno.
 */
ssize_t notify_recv(int fd, char *buf, size_t size, pid_t *ret_pid, uid_t *ret_uid);

#endif
