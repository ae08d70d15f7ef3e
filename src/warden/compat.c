/* SPDX-License-Identifier: MIT */
/*
 * warden under other names. Invoked as tini (or docker-init, the name
 * "docker run --init" gives its init) or as dumb-init, warden takes that
 * tool's command line and environment and behaves as it is documented to,
 * in its own words. The one deliberate difference: warden makes itself a
 * subreaper whenever it is not PID 1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/signals.h>

#include "cli.h"
#include "log.h"
#include "version.h"

/* Both tools exit 1 on a usage error. */
#define EXIT_COMPAT_USAGE 1

static const char licence[] =
	"warden is free software under the MIT licence:\n"
	"\n"
	"Copyright (c) 2026 the warden developers\n"
	"\n"
	"Permission is hereby granted, free of charge, to any person obtaining a copy\n"
	"of this software and associated documentation files (the \"Software\"), to deal\n"
	"in the Software without restriction, including without limitation the rights\n"
	"to use, copy, modify, merge, publish, distribute, sublicense, and/or sell\n"
	"copies of the Software, and to permit persons to whom the Software is\n"
	"furnished to do so, subject to the following conditions:\n"
	"\n"
	"The above copyright notice and this permission notice shall be included in all\n"
	"copies or substantial portions of the Software.\n"
	"\n"
	"THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\n"
	"IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\n"
	"FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\n"
	"AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\n"
	"LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\n"
	"OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\n"
	"SOFTWARE.\n";

static const char tini_usage[] =
	"Usage: %s [OPTIONS] PROGRAM [ARGS...]\n"
	"       %s --version\n"
	"warden, answering to tini's command line: runs PROGRAM as its child, forwards\n"
	"signals to it, reaps zombies, and exits with PROGRAM's status.\n"
	"\n"
	"  -h          show this help and exit\n"
	"  -s          be a subreaper (warden always is when it is not PID 1)\n"
	"  -p SIGNAL   get SIGNAL when warden's parent dies (e.g. SIGKILL)\n"
	"  -v          say more on stderr; repeat for more still\n"
	"  -w          say something for every zombie reaped\n"
	"  -g          forward signals to PROGRAM's whole process group\n"
	"  -e CODE     exit 0 instead of CODE (0-255); repeatable\n"
	"  -l          show the licence and exit\n"
	"  --version   show the version and exit (only as the sole argument)\n"
	"\n"
	"Read from the environment after the options: TINI_SUBREAPER (as -s),\n"
	"TINI_KILL_PROCESS_GROUP (as -g), both when set even empty, and\n"
	"TINI_VERBOSITY=N (the verbosity, 1 by default).\n";

static int compat_usage_error(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int compat_usage_error(const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	fprintf(stderr, "Try '%s -h' for more information.\n", name);
	return EXIT_COMPAT_USAGE;
}

/* Parses a decimal number of digits only, within [lo, hi]. */
static int parse_range(const char *s, long lo, long hi, int *ret)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int compat_tini_parse(int argc, char **argv, struct cmdline *o)
{
	static const struct option none[] = {{NULL, 0, NULL, 0}};
	const char *name = basename_of(argv[0]), *env;
	/* Without POSIXLY_CORRECT, options after PROGRAM are still tini's. */
	const char *optstring = getenv("POSIXLY_CORRECT") ? "+:hsp:vwgle:" : ":hsp:vwgle:";
	int c, v, verbosity = 1;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("tini version %s - git.%s\n", WARDEN_VERSION, WARDEN_COMMIT);
		return 0;
	}
	opterr = 0;
	/* getopt_long() without long options: it permutes with glibc and musl alike. */
	while ((c = getopt_long(argc, argv, optstring, none, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf(tini_usage, name, name);
			return 0;
		case 's':
			/* Nothing to do: warden is a subreaper whenever it is not PID 1. */
			break;
		case 'p':
			if (wd_signal_parse(optarg, false, &o->pdeathsig) < 0)
				return compat_usage_error(name, "invalid signal '%s' for -p",
							  optarg);
			break;
		case 'v':
			verbosity++;
			break;
		case 'w':
			o->warn_reaped = true;
			break;
		case 'g':
			o->group = true;
			break;
		case 'e':
			if (parse_range(optarg, 0, 255, &v) < 0)
				return compat_usage_error(
					name, "invalid exit code '%s' for -e (0-255)", optarg);
			o->remap_exit[v] = true;
			break;
		case 'l':
			fputs(licence, stdout);
			return 0;
		case ':':
			return compat_usage_error(name, "option '-%c' needs a value", optopt);
		default:
			if (optopt)
				return compat_usage_error(name, "unknown option '-%c'", optopt);
			return compat_usage_error(name, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (getenv("TINI_KILL_PROCESS_GROUP"))
		o->group = true;
	/* As tini reads it: a value that is not a number counts as 0. */
	env = getenv("TINI_VERBOSITY");
	if (env)
		verbosity = parse_range(env, 0, 100, &v) == 0 ? v : 0;
	if (optind >= argc)
		return compat_usage_error(name, "missing program to run");

	o->argv = argv + optind;
	o->mode = MODE_TINI;
	/* tini's level 1 is its warnings (-w's among them); 0 silences them. */
	log_verbosity = verbosity > 1 ? verbosity - 1 : 0;
	if (verbosity < 1)
		o->warn_reaped = false;
	o->leftovers = LEFTOVERS_EXIT;
	/* tini ignores these two: they are the terminal's business. */
	o->rewrite[SIGTTIN] = 0;
	o->rewrite[SIGTTOU] = 0;
	return -1;
}

static const char dumb_init_usage[] =
	"Usage: %s [OPTIONS] COMMAND [ARGS...]\n"
	"warden, answering to dumb-init's command line: runs COMMAND in a session of\n"
	"its own, forwards signals to its whole process group, reaps zombies, and\n"
	"exits with COMMAND's status.\n"
	"\n"
	"  -c, --single-child   keep COMMAND in warden's session and forward signals\n"
	"                       to COMMAND alone\n"
	"  -r, --rewrite S:R    forward signal S (1-31) as R (0-31; 0 drops it);\n"
	"                       repeatable\n"
	"  -v, --verbose        say what happens on stderr\n"
	"  -h, --help           show this help and exit\n"
	"  -V, --version        show the version and exit\n"
	"\n"
	"Read from the environment after the options: DUMB_INIT_SETSID=0 (as -c) and\n"
	"DUMB_INIT_DEBUG=1 (as -v).\n";

int compat_dumb_init_parse(int argc, char **argv, struct cmdline *o)
{
	static const struct option options[] = {
		{"single-child", no_argument, NULL, 'c'}, {"rewrite", required_argument, NULL, 'r'},
		{"verbose", no_argument, NULL, 'v'},	  {"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},	  {NULL, 0, NULL, 0},
	};
	const char *name = basename_of(argv[0]), *env;
	int user_rewrite[32];
	bool single = false, debug = false;
	int c, i;

	for (i = 0; i < 32; i++)
		user_rewrite[i] = -1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hvVcr:", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fprintf(stderr, dumb_init_usage, name);
			return 0;
		case 'V':
			fprintf(stderr, "dumb-init (warden %s, git %s)\n", WARDEN_VERSION,
				WARDEN_COMMIT);
			return 0;
		case 'c':
			single = true;
			break;
		case 'v':
			debug = true;
			break;
		case 'r': {
			int sig, to;
			char end;

			/* As dumb-init reads S:R: what follows the numbers is ignored. */
			if (sscanf(optarg, "%d:%d%c", &sig, &to, &end) < 2 || sig < 1 || sig > 31 ||
			    to < 0 || to > 31)
				return compat_usage_error(
					name,
					"invalid --rewrite '%s': expected S:R, S 1-31, R 0-31",
					optarg);
			user_rewrite[sig] = to;
			break;
		}
		case ':':
			return compat_usage_error(name, "option '%s' needs a value",
						  argv[optind - 1]);
		default:
			if (strncmp(argv[optind - 1], "--", 2) == 0 || !optopt)
				return compat_usage_error(name, "unknown option '%s'",
							  argv[optind - 1]);
			return compat_usage_error(name, "unknown option '-%c'", optopt);
		}
	}
	env = getenv("DUMB_INIT_SETSID");
	if (env && strcmp(env, "0") == 0)
		single = true;
	env = getenv("DUMB_INIT_DEBUG");
	if (env && strcmp(env, "1") == 0)
		debug = true;
	if (optind >= argc)
		return compat_usage_error(name, "missing command to run");

	o->argv = argv + optind;
	o->mode = MODE_DUMB_INIT;
	if (debug)
		log_verbosity = 2;
	if (single) {
		o->session = SESSION_SAME;
	} else {
		o->session = SESSION_NEW;
		o->group = true;
		o->term_group_at_exit = true;
		o->detach_tty = true;
		/* Job control for the whole group, unless the user said otherwise. */
		o->rewrite[SIGTSTP] = SIGSTOP;
		o->rewrite[SIGTTIN] = SIGSTOP;
		o->rewrite[SIGTTOU] = SIGSTOP;
	}
	for (i = 1; i < 32; i++)
		if (user_rewrite[i] >= 0)
			o->rewrite[i] = user_rewrite[i];
	o->stop_on_tty_signals = true;
	o->reset_child_signals = true;
	o->exec_fail_code = 2;
	o->leftovers = LEFTOVERS_EXIT;
	return -1;
}
