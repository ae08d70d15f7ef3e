/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/signals.h>

#include "cli.h"
#include "diag.h"
#include "httpparse.h"
#include "log.h"
#include "supervisor.h"
#include "version.h"

static const char usage[] =
	"Usage: warden [OPTIONS] [--] COMMAND [ARG...]\n"
	"       warden [-v] [--events DEST] [--control PATH] [--runtime-directory DIR]\n"
	"              [--http ADDR:PORT] [--check] -c FILE\n"
	"       warden [OPTIONS] [--check] -c FILE [--] COMMAND [ARG...]\n"
	"       warden ctl [--control PATH | --runtime-directory DIR] VERB [ARG...]\n"
	"Run COMMAND as a well-behaved PID 1: reap every zombie, forward signals,\n"
	"and when COMMAND exits, stop what it left behind and exit with its status.\n"
	"With -c, run the services that FILE describes (see warden.conf(5)).\n"
	"\n"
	"  -c, --config FILE        supervisor mode: run the services of FILE; with a\n"
	"                           COMMAND, init mode with FILE's [warden] and [main]\n"
	"                           (COMMAND's service) applied; options given here win\n"
	"      --check              with -c: check FILE (and COMMAND's settings) and exit\n"
	"      --control PATH       a control socket for warden ctl (see warden-ctl(1));\n"
	"                           in init mode COMMAND is the service 'main'\n"
	"      --runtime-directory DIR\n"
	"                           the only place warden writes to (its control socket\n"
	"                           DIR/control.sock); it must be writable by warden\n"
	"      --http ADDR:PORT     serve /livez, /readyz, /metrics and /status over HTTP on\n"
	"                           ADDR:PORT (127.0.0.1:9100, [::1]:9100; see warden(7))\n";

/* The rest: C99 promises string literals of 4095 characters only. */
static const char usage_more[] =
	"  -g, --group              forward signals to COMMAND's whole process group\n"
	"  -r, --rewrite FROM:TO    forward signal FROM as TO (TO 0 drops it); repeatable\n"
	"  -p, --pdeathsig SIG      get SIG when warden's parent dies, and forward it\n"
	"  -e, --remap-exit CODE    exit 0 instead of CODE (0-255); repeatable\n"
	"  -t, --grace DURATION     time leftover processes get after SIGTERM before\n"
	"                           SIGKILL once COMMAND has exited (default 5s; 0: SIGKILL)\n"
	"      --wait-all           once COMMAND has exited, wait for every other process\n"
	"                           to end on its own instead of stopping them\n"
	"      --stop-timeout DURATION\n"
	"                           SIGKILL COMMAND's process group this long after the\n"
	"                           first SIGTERM, SIGINT or SIGQUIT if it is still running\n"
	"      --shutdown-timeout DURATION\n"
	"                           bound the whole shutdown: then SIGKILL everything and\n"
	"                           exit 124 (default: none)\n"
	"      --shutdown-delay DURATION\n"
	"                           on a stop request, stop being ready at once but keep\n"
	"                           COMMAND running this long before stopping it (drain;\n"
	"                           default 0); a second stop request skips it\n"
	"      --ready SPEC         when COMMAND is ready: notify, fd:N, exec:CHECK,\n"
	"                           tcp:HOST:PORT or none (default: once it has started)\n"
	"      --preserve-fds N     pass descriptors 3 to 3+N-1 to COMMAND (N up to 1021)\n"
	"      --health SPEC        check COMMAND's health while it runs: exec:CMD,\n"
	"                           tcp:HOST:PORT or http://HOST:PORT/PATH, every 10s;\n"
	"                           3 failures in a row stop it (see warden.conf(5))\n"
	"      --cgroup auto|off    auto (the default): where warden can write its cgroup\n"
	"                           (cgroup v2), each service runs in a cgroup of its own;\n"
	"                           off: process groups only (see warden(7))\n"
	"      --events DEST        write lifecycle events as JSON lines to DEST:\n"
	"                           a file (appended), 'stderr' or 'fd:N'\n"
	"  -v, --verbose            say what happens on stderr; repeat for more\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit; with -v, the build and\n"
	"                           what warden finds about its environment\n"
	"\n"
	"DURATION is a number with a unit (500ms, 10s, 2m, 1h); a bare number is seconds.\n"
	"SIG is a name (TERM, SIGTERM, RTMIN+2) or a number.\n"
	"SIGTERM, SIGINT and SIGQUIT are stop requests: forwarded to COMMAND; a second\n"
	"one while it stops sends SIGKILL to everything at once.\n"
	"Exit status: COMMAND's, or 128+N if a signal N killed it; 126 if COMMAND\n"
	"cannot be executed, 127 if it is not found; 124 if --shutdown-timeout ran out;\n"
	"125 if warden itself failed.\n";

enum {
	OPT_WAIT_ALL = 0x100,
	OPT_STOP_TIMEOUT,
	OPT_SHUTDOWN_TIMEOUT,
	OPT_PRESERVE_FDS,
	OPT_EVENTS,
	OPT_CHECK,
	OPT_CONTROL,
	OPT_SHUTDOWN_DELAY,
	OPT_READY,
	OPT_HTTP,
	OPT_HEALTH,
	OPT_CGROUP,
	OPT_RUNTIME_DIR,
};

static const struct option options[] = {
	{"group", no_argument, NULL, 'g'},
	{"rewrite", required_argument, NULL, 'r'},
	{"pdeathsig", required_argument, NULL, 'p'},
	{"remap-exit", required_argument, NULL, 'e'},
	{"grace", required_argument, NULL, 't'},
	{"wait-all", no_argument, NULL, OPT_WAIT_ALL},
	{"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
	{"shutdown-timeout", required_argument, NULL, OPT_SHUTDOWN_TIMEOUT},
	{"preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS},
	{"events", required_argument, NULL, OPT_EVENTS},
	{"config", required_argument, NULL, 'c'},
	{"check", no_argument, NULL, OPT_CHECK},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"runtime-directory", required_argument, NULL, OPT_RUNTIME_DIR},
	{"shutdown-delay", required_argument, NULL, OPT_SHUTDOWN_DELAY},
	{"ready", required_argument, NULL, OPT_READY},
	{"http", required_argument, NULL, OPT_HTTP},
	{"health", required_argument, NULL, OPT_HEALTH},
	{"cgroup", required_argument, NULL, OPT_CGROUP},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a usage error the same way for every cause. */
static int usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	fputs("Try 'warden --help' for more information.\n", stderr);
	return EXIT_WARDEN;
}

/* Parses a decimal integer in [lo, hi]. Returns 0 or -EINVAL. */
static int parse_int(const char *s, long lo, long hi, int *ret)
{
	char *end;
	long v;

	if (!*s || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static int parse_rewrite(const char *arg, struct cmdline *o)
{
	char from_s[64];
	const char *colon = strchr(arg, ':');
	int from, to;
	size_t n;

	if (!colon)
		return usage_error("invalid --rewrite '%s': expected FROM:TO", arg);
	n = (size_t)(colon - arg);
	if (n >= sizeof(from_s))
		return usage_error("invalid signal in --rewrite '%s'", arg);
	memcpy(from_s, arg, n);
	from_s[n] = '\0';
	if (wd_signal_parse(from_s, false, &from) < 0)
		return usage_error("invalid signal '%s' in --rewrite '%s'", from_s, arg);
	if (wd_signal_parse(colon + 1, true, &to) < 0)
		return usage_error("invalid signal '%s' in --rewrite '%s'", colon + 1, arg);
	o->rewrite[from] = to;
	return -1;
}

void cmdline_defaults(struct cmdline *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_INIT;
	for (i = 0; i < NSIG; i++)
		o->rewrite[i] = i;
	o->grace = 5 * WD_NSEC_PER_SEC;
	o->stop_timeout = TIMEOUT_NONE;
	o->shutdown_timeout = TIMEOUT_NONE;
	o->leftovers = LEFTOVERS_TERMINATE;
	o->session = SESSION_GROUP;
}

int cli_parse(int argc, char **argv, struct cmdline *o)
{
	const char *init_only = NULL; /* an option that means nothing with -c */
	bool version = false;
	int c, r, v;

	opterr = 0;
	/* "+": stop at the first non-option, so "warden sh -c x" works. */
	while ((c = getopt_long(argc, argv, "+:gr:p:e:t:c:vhV", options, NULL)) != -1) {
		switch (c) {
		case 'g':
			init_only = "-g/--group";
			o->group = true;
			break;
		case 'r':
			init_only = "-r/--rewrite";
			r = parse_rewrite(optarg, o);
			if (r >= 0)
				return r;
			break;
		case 'p':
			init_only = "-p/--pdeathsig";
			if (wd_signal_parse(optarg, false, &o->pdeathsig) < 0)
				return usage_error("invalid signal '%s' for --pdeathsig", optarg);
			break;
		case 'e':
			init_only = "-e/--remap-exit";
			if (parse_int(optarg, 0, 255, &v) < 0)
				return usage_error(
					"invalid exit code '%s' for --remap-exit (0-255)", optarg);
			o->remap_exit[v] = true;
			break;
		case 't':
			init_only = "-t/--grace";
			if (wd_duration_parse(optarg, &o->grace) < 0)
				return usage_error("invalid duration '%s' for --grace", optarg);
			o->given |= GIVEN_GRACE;
			break;
		case OPT_WAIT_ALL:
			init_only = "--wait-all";
			o->leftovers = LEFTOVERS_WAIT;
			break;
		case OPT_STOP_TIMEOUT:
			init_only = "--stop-timeout";
			if (wd_duration_parse(optarg, &o->stop_timeout) < 0)
				return usage_error("invalid duration '%s' for --stop-timeout",
						   optarg);
			o->given |= GIVEN_STOP_TIMEOUT;
			break;
		case OPT_SHUTDOWN_TIMEOUT:
			init_only = "--shutdown-timeout";
			if (wd_duration_parse(optarg, &o->shutdown_timeout) < 0)
				return usage_error("invalid duration '%s' for --shutdown-timeout",
						   optarg);
			o->given |= GIVEN_SHUTDOWN_TIMEOUT;
			break;
		case OPT_SHUTDOWN_DELAY:
			init_only = "--shutdown-delay";
			if (wd_duration_parse(optarg, &o->shutdown_delay) < 0)
				return usage_error("invalid duration '%s' for --shutdown-delay",
						   optarg);
			o->given |= GIVEN_SHUTDOWN_DELAY;
			break;
		case OPT_READY: {
			char err[CONFIG_ERR_MAX];
			struct svc_conf probe = {.ready_fd = -1};

			init_only = "--ready";
			/* A bad one is a usage error; cli_build() applies it. */
			r = config_set_ready(&probe, optarg, err);
			config_free_svc(&probe);
			if (r < 0)
				return usage_error("%s", err);
			o->ready = optarg;
			break;
		}
		case OPT_PRESERVE_FDS:
			init_only = "--preserve-fds";
			if (parse_int(optarg, 0, CONFIG_FDS_MAX - 3, &o->preserve_fds) < 0)
				return usage_error("invalid number '%s' for --preserve-fds (0-%d)",
						   optarg, CONFIG_FDS_MAX - 3);
			break;
		case OPT_HEALTH:
			init_only = "--health";
			o->health = optarg;
			break;
		case OPT_CGROUP:
			if (strcmp(optarg, "auto") == 0)
				o->cgroup = CMD_CGROUP_AUTO;
			else if (strcmp(optarg, "off") == 0)
				o->cgroup = CMD_CGROUP_OFF;
			else
				return usage_error("invalid --cgroup '%s' (expected auto or off)",
						   optarg);
			break;
		case OPT_EVENTS:
			o->events = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case OPT_CHECK:
			o->check = true;
			break;
		case OPT_CONTROL:
			if (optarg[0] != '/' || strlen(optarg) >= 108)
				return usage_error(
					"--control needs an absolute path under 108 bytes");
			o->control = optarg;
			break;
		case OPT_RUNTIME_DIR:
			if (!config_runtime_dir_ok(optarg))
				return usage_error(
					"--runtime-directory needs an absolute path under %d bytes",
					CONFIG_RUNTIME_DIR_MAX);
			o->runtime_dir = optarg;
			break;
		case OPT_HTTP: {
			struct sockaddr_storage sa;
			socklen_t len;
			const char *why;

			if (http_addr_parse(optarg, &sa, &len, &why) < 0)
				return usage_error("invalid --http '%s': %s (expected IPV4:PORT or "
						   "[IPV6]:PORT, such as 127.0.0.1:9100 or "
						   "[::1]:9100)",
						   optarg, why);
			o->http = optarg;
			break;
		}
		case 'v':
			log_verbosity++;
			break;
		case 'h':
			fputs(usage, stdout);
			fputs(usage_more, stdout);
			return 0;
		case 'V':
			version = true;
			break;
		case ':':
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		default:
			if (strncmp(argv[optind - 1], "--", 2) == 0 || !optopt)
				return usage_error("unknown option '%s'", argv[optind - 1]);
			return usage_error("unknown option '-%c'", optopt);
		}
	}
	/* -v may come after --version: it says how much to show. */
	if (version) {
		printf("warden %s (git %s)\n", WARDEN_VERSION, WARDEN_COMMIT);
		if (log_verbosity > 0)
			diag_print(stdout);
		return 0;
	}
	/* -c FILE with a COMMAND: init mode, FILE's [warden] and [main] applied. */
	if (o->config && optind < argc) {
		o->argv = argv + optind;
		return -1;
	}
	if (o->config) {
		if (init_only)
			return usage_error("%s applies to a COMMAND, not with -c", init_only);
		return -1;
	}
	if (o->check)
		return usage_error("--check needs -c FILE");
	if (optind >= argc)
		return usage_error("missing command");
	o->argv = argv + optind;
	return -1;
}

/*
 * Socket activation: LISTEN_FDS descriptors (from 3) meant for warden
 * (LISTEN_PID is its pid) are passed on to the command. Returns how many,
 * or -1 when LISTEN_FDS is not a number warden can pass on (said).
 */
static int listen_fds(void)
{
	const char *pid_s = getenv("LISTEN_PID"), *fds_s = getenv("LISTEN_FDS");
	int n;

	if (!pid_s || !fds_s || atol(pid_s) != (long)getpid())
		return 0;
	if (parse_int(fds_s, 0, CONFIG_FDS_MAX - 3, &n) < 0) {
		log_error("LISTEN_FDS=%s: expected a number of descriptors from 0 to %d", fds_s,
			  CONFIG_FDS_MAX - 3);
		return -1;
	}
	return n;
}

int cli_build(const struct cmdline *o, struct config *c)
{
	int nlisten = listen_fds(), sig;
	struct svc_conf *s;

	if (nlisten < 0)
		return EXIT_WARDEN;
	if (o->config) {
		char err[CONFIG_ERR_MAX];

		if (config_load_init(o->config, o->argv, c, err) < 0) {
			log_error("%s", err);
			return EXIT_WARDEN;
		}
	} else {
		config_defaults(c);
		(void)config_init_mode(c, o->argv);
	}
	s = &c->svcs[0];
	c->mode = o->mode;
	/* What FILE sets stays, unless the command line says otherwise. */
	if (!o->config || (o->given & GIVEN_GRACE))
		c->grace = o->grace;
	if (!o->config || (o->given & GIVEN_SHUTDOWN_TIMEOUT))
		c->shutdown_timeout = o->shutdown_timeout;
	if (!o->config || (o->given & GIVEN_SHUTDOWN_DELAY))
		c->shutdown_delay = o->shutdown_delay;
	if (!o->config || (o->given & GIVEN_STOP_TIMEOUT))
		s->stop_timeout = o->stop_timeout;
	if (o->ready) {
		char err[CONFIG_ERR_MAX];

		/* Checked by cli_parse() already: only memory can fail here. */
		if (config_set_ready(s, o->ready, err) < 0) {
			log_error("%s", err);
			config_free(c);
			return EXIT_WARDEN;
		}
	}
	c->leftovers = o->leftovers;
	/* tini and dumb-init pass a second stop request on, as they do any signal. */
	c->force_on_second_stop = o->mode == MODE_INIT;
	memcpy(c->remap_exit, o->remap_exit, sizeof(c->remap_exit));
	c->pdeathsig = o->pdeathsig;
	c->detach_tty = o->detach_tty;
	c->stop_on_tty_signals = o->stop_on_tty_signals;
	c->warn_reaped = o->warn_reaped;
	if (o->http)
		snprintf(c->http, sizeof(c->http), "%s", o->http);
	if (o->cgroup != CMD_CGROUP_UNSET)
		c->cgroup_off = o->cgroup == CMD_CGROUP_OFF;
	s->forward_group = o->group;
	for (sig = 1; sig <= WD_SIGRTMAX && sig < NSIG; sig++)
		s->rewrite[sig] = (unsigned char)o->rewrite[sig];
	s->pass_fds = o->preserve_fds > nlisten ? o->preserve_fds : nlisten;
	s->listen_pid = nlisten > 0;
	s->session = o->session;
	/* In warden's own process group, the command leads no group to signal. */
	s->kill_group = o->session != SESSION_SAME;
	s->exit_group_signal = o->term_group_at_exit ? o->rewrite[SIGTERM] : 0;
	s->reset_signals = o->reset_child_signals;
	s->exec_fail_code = o->exec_fail_code;
	if (o->health) {
		char why[256];

		if (config_set_health(s, o->health, why, sizeof(why)) < 0) {
			config_free(c);
			return usage_error("invalid --health '%s': %s", o->health, why);
		}
	}
	if (o->config) {
		char err[CONFIG_ERR_MAX];

		if (config_check_init(c, err) < 0) {
			log_error("%s", err);
			config_free(c);
			return EXIT_WARDEN;
		}
	}
	return -1;
}
