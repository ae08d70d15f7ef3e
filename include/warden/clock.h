/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_CLOCK_H
#define WARDEN_CLOCK_H

/*
 * Durations in nanoseconds, and how to read them from text.
 */

#include <stdint.h>

#include <warden/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WD_NSEC_PER_USEC UINT64_C(1000)
#define WD_NSEC_PER_MSEC UINT64_C(1000000)
#define WD_NSEC_PER_SEC UINT64_C(1000000000)

/*
 * Parses a duration: a non-negative number, integer or decimal, followed by
 * a unit: "us", "ms", "s", "m", "h" (or "min"). A bare number means
 * seconds. Returns 0 and *ret_ns, or -EINVAL (not a duration, or s NULL)
 * or -ERANGE; *ret_ns is untouched on failure.
 * Thread-safe. Async-signal-safe.
 */
WD_NODISCARD WD_NONNULL(2) int wd_duration_parse(const char *s, uint64_t *ret_ns);

#ifdef __cplusplus
}
#endif

#endif
