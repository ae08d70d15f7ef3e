/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_COMMON_H
#define WARDEN_COMMON_H

/*
 * What every libwarden header shares: attribute macros that let the
 * compiler catch misuse at the caller. Each expands to nothing on a
 * compiler that does not know the attribute, so the headers stay plain
 * C99 and C++.
 */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
/*
 * Ignoring the result is a bug: it is the only way to learn of a failure
 * that left an output untouched, or it carries something the caller owns
 * (an fd, an allocation). gcc warns even through a (void) cast, so only
 * functions whose result must always be looked at get it.
 */
#define WD_NODISCARD __attribute__((__warn_unused_result__))
/* These pointer arguments (1-based) must not be NULL. */
#define WD_NONNULL(...) __attribute__((__nonnull__(__VA_ARGS__)))
/* A printf-like function: argument fmt is the format, args start at first. */
#define WD_PRINTF(fmt, first) __attribute__((__format__(__printf__, fmt, first)))
#else
#define WD_NODISCARD
#define WD_NONNULL(...)
#define WD_PRINTF(fmt, first)
#endif

#ifdef __cplusplus
}
#endif

#endif
