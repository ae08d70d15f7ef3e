/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <warden/signals.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "diag.h"
#include "log.h"
#include "privilege.h"
#include "supervisor.h"

/* The basename warden was invoked under: tini, docker-init and dumb-init take their command lines.
 */
static const char *invoked_as(int argc, char **argv)
{
	const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;

	return name ? name + 1 : argc > 0 ? argv[0] : "warden";
}

int main(int argc, char **argv)
{
	const char *name = invoked_as(argc, argv);
	struct cmdline cl;
	struct config conf;
	sigset_t orig_mask;
	int r;

	/* "ctl" only as warden's first argument: a program named ctl is "warden -- ctl". */
	if (argc > 1 && strcmp(argv[1], "ctl") == 0 && strcmp(name, "tini") != 0 &&
	    strcmp(name, "docker-init") != 0 && strcmp(name, "dumb-init") != 0)
		return ctl_main(argc - 1, argv + 1);
	/*
	 * Block every signal before anything else, so that none that arrives
	 * during start-up is lost: they queue until the signalfd reads them.
	 * The mask from before is what the services get. The C library's
	 * internal signals too: warden has one thread (so nothing needs them),
	 * and a stray "kill -33" must not end PID 1.
	 */
	r = wd_signal_block_all(WD_SIGNAL_LIBC_INTERNAL, &orig_mask);
	if (r < 0) {
		log_errno(r, "cannot block signals");
		return EXIT_WARDEN;
	}
	diag_inherited(&orig_mask);
	cmdline_defaults(&cl);
	if (strcmp(name, "tini") == 0 || strcmp(name, "docker-init") == 0)
		r = compat_tini_parse(argc, argv, &cl);
	else if (strcmp(name, "dumb-init") == 0)
		r = compat_dumb_init_parse(argc, argv, &cl);
	else
		r = cli_parse(argc, argv, &cl);
	if (r >= 0)
		return r;
	if (cl.config && !cl.argv) {
		char err[CONFIG_ERR_MAX];

		if (cl.check)
			return supervisor_check(cl.config);
		if (config_load(cl.config, &conf, err) < 0) {
			log_error("%s", err);
			return EXIT_WARDEN;
		}
		/* --http overrides the file's http =, as --control does control =. */
		if (cl.http)
			snprintf(conf.http, sizeof(conf.http), "%s", cl.http);
		if (cl.cgroup != CMD_CGROUP_UNSET) {
			conf.cgroup_off = cl.cgroup == CMD_CGROUP_OFF;
			conf.cgroup_forced = true;
		}
	} else {
		r = cli_build(&cl, &conf);
		if (r >= 0)
			return r;
		/* -c FILE -- COMMAND: the file and the options together are valid. */
		if (cl.check) {
			printf("%s: configuration ok for init mode (service main runs %s)\n",
			       cl.config, cl.argv[0]);
			config_free(&conf);
			return 0;
		}
	}
	/* --runtime-directory wins over the file's runtime_directory. */
	if (cl.runtime_dir) {
		free(conf.runtime_dir);
		conf.runtime_dir = strdup(cl.runtime_dir);
		conf.runtime_dir_cli = true;
		if (!conf.runtime_dir) {
			log_error("out of memory");
			config_free(&conf);
			return EXIT_WARDEN;
		}
	}
	/* Where warden writes: checked before anything has started. */
	if (conf.runtime_dir) {
		char err[CONFIG_ERR_MAX];

		if (priv_runtime_dir(conf.runtime_dir, err, sizeof(err)) < 0) {
			log_error("%s", err);
			config_free(&conf);
			return EXIT_WARDEN;
		}
	}
	/* A bad destination fails here, before anything has started. */
	if (cl.events) {
		r = events_open(cl.events);
		if (r < 0) {
			log_errno(r, "cannot open events destination '%s'", cl.events);
			config_free(&conf);
			return EXIT_WARDEN;
		}
	}
	return supervisor_run(&conf, cl.control, &orig_mask);
}
