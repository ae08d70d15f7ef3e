/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_FD_H
#define WARDEN_FD_H

/*
 * Descriptor hygiene: close what was not asked for, list what is open.
 */

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Closes every descriptor >= lowfd except those in keep[0..nkeep). Uses
 * close_range() and falls back to walking /proc/self/fd. Returns 0 or
 * -errno (and then closed what it could).
 */
int wd_fd_close_from(int lowfd, const int *keep, size_t nkeep);

/* Sets or clears FD_CLOEXEC. Returns 0 or -errno. */
int wd_fd_set_cloexec(int fd, bool on);

/*
 * Lists the open descriptors of process pid (0: this process) into
 * fds[0..max), ascending. Returns how many are open (which can exceed max:
 * then only the first max are stored) or -errno.
 */
int wd_fd_list(int pid, int *fds, size_t max);

#ifdef __cplusplus
}
#endif

#endif
