/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_WARDEN_H
#define WARDEN_WARDEN_H

/* libwarden: every module. Each header can also be included alone. */

#include <warden/child.h>
#include <warden/clock.h>
#include <warden/done.h>
#include <warden/event.h>
#include <warden/fd.h>
#include <warden/json.h>
#include <warden/loop.h>
#include <warden/notify.h>
#include <warden/proc.h>
#include <warden/shutdown.h>
#include <warden/signals.h>

#endif
