// SPDX-License-Identifier: MIT
//
// libwarden from C++: every public header through <warden/warden.h>, and a
// few calls that must link (C linkage) and behave as they do from C. A plain
// program rather than cmocka: it stays a C++ translation unit with nothing
// but the library under test. Exits 0 when every check holds.

#include <warden/warden.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/wait.h>

static int failures;

static void check(bool ok, const char *what)
{
	if (!ok) {
		std::fprintf(stderr, "test_cxx: %s\n", what);
		failures++;
	}
}

int main()
{
	check(std::strcmp(wd_version(), WD_VERSION_STRING) == 0,
	      "wd_version() is not WD_VERSION_STRING");
	check(wd_version_number() == WD_VERSION_NUMBER, "wd_version_number()");

	uint64_t ns = 0;
	check(wd_duration_parse("1.5s", &ns) == 0 && ns == 1500 * WD_NSEC_PER_MSEC,
	      "wd_duration_parse");
	check(wd_duration_parse("soon", &ns) == -EINVAL, "wd_duration_parse of garbage");

	char buf[128];
	struct wd_json j;
	wd_json_begin(&j, buf, sizeof(buf));
	wd_json_str(&j, "lang", "c++");
	wd_json_int(&j, "n", -3);
	int len = wd_json_end(&j);
	check(len > 0 && std::strcmp(buf, "{\"lang\":\"c++\",\"n\":-3}\n") == 0, "wd_json");

	char name[WD_SIGNAME_MAX];
	check(std::strcmp(wd_signal_name(SIGTERM, name), "SIGTERM") == 0, "wd_signal_name");
	int sig = 0;
	check(wd_signal_parse("rtmin+2", false, &sig) == 0 && sig == WD_SIGRTMIN + 2,
	      "wd_signal_parse");

	// A wait status for "killed by signal 9", as the kernel encodes it.
	check(wd_status_code(9) == 128 + 9, "wd_status_code");

	wd_loop *loop = nullptr;
	check(wd_loop_new(&loop) == 0 && loop != nullptr, "wd_loop_new");
	wd_loop_free(loop);

	return failures ? 1 : 0;
}
