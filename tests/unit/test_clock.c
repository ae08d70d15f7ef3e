/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for duration parsing (warden/clock.h).
 */

#include "unit.h"

#include <inttypes.h>

#include <warden/clock.h>

#define MS WD_NSEC_PER_MSEC
#define SEC WD_NSEC_PER_SEC

static void check_ok_at(const char *s, uint64_t expect, int line)
{
	uint64_t ns = 0xdeadbeef;
	int r = wd_duration_parse(s, &ns);
	if (r != 0 || ns != expect) {
		print_error("line %d: wd_duration_parse(\"%s\") = %d, %" PRIu64
			    " ns; expected 0, %" PRIu64 " ns\n",
			    line, s, r, ns, expect);
		fail();
	}
}
#define check_ok(s, e) check_ok_at(s, e, __LINE__)

static void check_err_at(const char *s, int expect, int line)
{
	uint64_t ns = 0xdeadbeef;
	int r = wd_duration_parse(s, &ns);
	if (r != expect || ns != 0xdeadbeef) {
		print_error("line %d: wd_duration_parse(\"%s\") = %d, %" PRIu64 " ns; expected %d "
			    "(%s) and the output untouched\n",
			    line, s, r, ns, expect, strerror(-expect));
		fail();
	}
}
#define check_err(s, e) check_err_at(s, e, __LINE__)

static void test_units(void **state)
{
	check_ok("500ms", 500 * MS);
	check_ok("10s", 10 * SEC);
	check_ok("2m", 120 * SEC);
	check_ok("1h", 3600 * SEC);
	check_ok("1min", 60 * SEC);
	check_ok("250us", 250 * WD_NSEC_PER_USEC);
	check_ok("1us", 1000);
	check_ok("1ms", MS);
	check_ok("1s", SEC);
	check_ok("90m", 90 * 60 * SEC);
	check_ok("25h", 25 * 3600 * SEC);
}

static void test_bare_number_is_seconds(void **state)
{
	check_ok("0", 0);
	check_ok("5", 5 * SEC);
	check_ok("30", 30 * SEC);
	check_ok("1.5", 1500 * MS);
	check_ok("000000000000000000000001", SEC);
}

static void test_zero(void **state)
{
	check_ok("0s", 0);
	check_ok("0ms", 0);
	check_ok("0us", 0);
	check_ok("0h", 0);
	check_ok("0.0s", 0);
	check_ok("0.000", 0);
}

/* Decimals are exact: no binary floating point rounding on the way. */
static void test_decimals(void **state)
{
	check_ok("1.5s", 1500 * MS);
	check_ok("0.5s", 500 * MS);
	check_ok("2.5ms", 2500000);
	check_ok("1.5us", 1500);
	check_ok("0.1m", 6 * SEC);
	check_ok("1.25h", 4500 * SEC);
	check_ok("0.5min", 30 * SEC);
	check_ok("0.3s", 300 * MS);
	check_ok("0.001s", MS);
	check_ok("1.1s", 1100 * MS);
	check_ok("0.7s", 700 * MS);
	check_ok("1.000000001s", SEC + 1);
	check_ok("4.35s", 4350 * MS);
	check_ok("1.123456789s", 1123456789);
	check_ok("1.1234567891s", 1123456789); /* beyond a nanosecond: dropped */
	check_ok("0.001ms", 1000);
}

static void test_invalid(void **state)
{
	static const char *bad[] = {
		"",    "abc",  "-1",	"-1s",	"5x",	 "1.2.3", "s",	 "ms",	  "min",
		".",   "1msx", "1hh",	"5 x",	"1s2",	 "m5",	  "1e3", "0x10s", " 5s",
		"5s ", "5\n",  "1..5s", "5sms", "-0.5s", "1,5s",  "inf", "nan",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		check_err_at(bad[i], -EINVAL, __LINE__);
}

static void test_range(void **state)
{
	/* the largest representable value, exactly */
	check_ok("18446744073.709551615s", UINT64_MAX);
	check_ok("18446744073s", UINT64_C(18446744073) * SEC);
	check_ok("18446744073709ms", UINT64_C(18446744073709) * MS);
	check_ok("18446744073709551us", UINT64_C(18446744073709551) * 1000);
}

static void test_overflow(void **state)
{
	check_err("99999999999999h", -ERANGE);
	check_err("18446744074s", -ERANGE);
	check_err("18446744073.709551616s", -ERANGE);
	check_err("18446744073709551615us", -ERANGE);
	check_err("18446744073709551616", -ERANGE);
	check_err("99999999999999999999999999999999", -ERANGE);
	check_err("5124095576030432h", -ERANGE); /* wraps to a small number if unchecked */
	check_err("307445734561825861m", -ERANGE);
	check_err("18446744073710ms", -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),	 cmocka_unit_test(test_bare_number_is_seconds),
		cmocka_unit_test(test_zero),	 cmocka_unit_test(test_decimals),
		cmocka_unit_test(test_invalid),	 cmocka_unit_test(test_range),
		cmocka_unit_test(test_overflow),
	};
	unit_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
