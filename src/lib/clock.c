/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <warden/clock.h>
#include <warden/loop.h>

uint64_t wd_now(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * WD_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{"us", WD_NSEC_PER_USEC},    {"ms", WD_NSEC_PER_MSEC},	    {"s", WD_NSEC_PER_SEC},
	{"m", 60 * WD_NSEC_PER_SEC}, {"min", 60 * WD_NSEC_PER_SEC}, {"h", 3600 * WD_NSEC_PER_SEC},
};

/*
 * The number is read digit by digit rather than with strtod(): a duration
 * must be exact ("0.1s" is 100 ms, not 99.999...) and must not accept
 * "inf", hex or exponents.
 */
int wd_duration_parse(const char *s, uint64_t *ret_ns)
{
	uint64_t whole = 0, frac = 0, frac_scale = 1, unit = WD_NSEC_PER_SEC;
	const char *p = s;
	size_t i;

	if (!s || !(*p >= '0' && *p <= '9'))
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return -EINVAL;
		/* Nine digits are a nanosecond of a second; more are dropped. */
		for (; *p >= '0' && *p <= '9'; p++) {
			if (frac_scale < WD_NSEC_PER_SEC) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				frac_scale *= 10;
			}
		}
	}
	if (*p) {
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(p, units[i].name) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		unit = units[i].ns;
	}
	if (whole > UINT64_MAX / unit)
		return -ERANGE;
	whole *= unit;
	/* frac * unit / frac_scale, split so that no product overflows. */
	frac = (unit / frac_scale) * frac + (unit % frac_scale) * frac / frac_scale;
	if (whole > UINT64_MAX - frac)
		return -ERANGE;
	whole += frac;
	*ret_ns = whole;
	return 0;
}
