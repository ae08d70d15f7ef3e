/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the version (warden/version.h): the macros agree with each
 * other and with what the library says at run time.
 */

#include "unit.h"

#include <warden/version.h>

/* The preprocessor can compare versions: the reason WD_VERSION_NUMBER exists. */
#if WD_VERSION_NUMBER < WD_VERSION_ENCODE(0, 1, 0)
#error "WD_VERSION_NUMBER does not compare as a version"
#endif

static void test_macros_agree(void **state)
{
	char s[64];

	snprintf(s, sizeof(s), "%d.%d.%d", WD_VERSION_MAJOR, WD_VERSION_MINOR, WD_VERSION_PATCH);
	assert_string_equal(s, WD_VERSION_STRING);
	assert_int_equal(WD_VERSION_NUMBER,
			 (WD_VERSION_MAJOR << 16) | (WD_VERSION_MINOR << 8) | WD_VERSION_PATCH);
}

static void test_encode_orders_versions(void **state)
{
	assert_true(WD_VERSION_ENCODE(0, 2, 0) > WD_VERSION_ENCODE(0, 1, 99));
	assert_true(WD_VERSION_ENCODE(1, 0, 0) > WD_VERSION_ENCODE(0, 255, 255));
	assert_true(WD_VERSION_ENCODE(1, 2, 4) > WD_VERSION_ENCODE(1, 2, 3));
}

/* Linked statically here, so the library is the very one the headers describe. */
static void test_runtime_matches_headers(void **state)
{
	assert_string_equal(wd_version(), WD_VERSION_STRING);
	assert_int_equal(wd_version_number(), WD_VERSION_NUMBER);
	/* The same static string every time. */
	assert_ptr_equal(wd_version(), wd_version());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_macros_agree),
		cmocka_unit_test(test_encode_orders_versions),
		cmocka_unit_test(test_runtime_matches_headers),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
