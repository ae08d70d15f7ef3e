/* SPDX-License-Identifier: MIT */
#include <warden/version.h>

/*
 * Compiled into the library, so that a program linked against a shared
 * libwarden learns the version it runs with, not the one it was built with.
 */
const char *wd_version(void)
{
	return WD_VERSION_STRING;
}

unsigned wd_version_number(void)
{
	return WD_VERSION_NUMBER;
}
