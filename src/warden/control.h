/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CONTROL_H
#define WARDEN_CONTROL_H

/*
 * The control socket: a Unix stream socket on which "warden ctl" asks a
 * running warden what it does and acts on its services. warden-ctl(1)
 * documents the protocol.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctlproto.h"

struct sup;
struct wd_json;

/* At most this many clients at once; the longest idle one makes room. */
#define CONTROL_CLIENTS_MAX 128

/* A reply may be this large (dump of a thousand services and their trees). */
#define CONTROL_REPLY_MAX (64 << 20)

/*
 * The default socket path: /run/warden/control.sock as root, else
 * $XDG_RUNTIME_DIR/warden/control.sock (or /tmp/warden-UID/control.sock).
 */
const char *control_default_path(char *buf, size_t size);

struct control;

/*
 * Opens the socket at path (mode 0600, or 0660 owned by group when
 * control_group is given), creating its directory if needed, for the
 * supervisor sup (supervisor.h's interface). A stale socket is replaced; a
 * live one is refused. Returns 0 with the control in *ret, or -1 with a
 * message in err.
 */
int control_open(struct sup *sup, const char *path, bool has_group, gid_t group,
		 struct control **ret, char *err, size_t errlen);

/* Closes every client and the socket, and removes it. */
void control_close(struct control *ctl);

/* Requests of verb received so far (warden_control_requests_total); 0 without a socket. */
uint64_t control_requests(const struct control *ctl, enum ctl_verb verb);

/* Something changed: pending "wait" requests look again. */
void control_changed(struct control *ctl);

/*
 * What "status" answers (and "warden ctl status --json" prints), as members
 * of the open JSON object j: "ok", then "services", each of the services
 * named in names (all of them when nnames is 0); dump adds "warden" and
 * every service's settings and process tree. The HTTP /status writes the
 * same through here.
 */
void control_status_json(struct sup *sup, struct wd_json *j, char *const *names, size_t nnames,
			 bool dump);

/* The client side: "warden ctl [--control PATH] VERB [ARG...]". */
int ctl_main(int argc, char **argv);

#endif
