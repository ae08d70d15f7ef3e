/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_FUZZ_H
#define WARDEN_FUZZ_H

/*
 * The libFuzzer entry point, declared for -Wmissing-prototypes and for
 * replay.c, which calls it without libFuzzer.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Returns 0, or -1 for an input that is not worth keeping in the corpus. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A broken invariant is a bug just like a crash: abort() so that libFuzzer
 * saves the input and the replay fails.
 */
#define FUZZ_CHECK(cond)                                                                         \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                 \
		}                                                                                \
	} while (0)

#endif
