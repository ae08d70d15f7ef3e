/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <warden/signals.h>

#include "init.h"
#include "control.h"
#include "log.h"
#include "supervisor.h"

int main(int argc, char **argv)
{
	struct init_opts o;
	sigset_t orig_mask;
	const char *name;
	int r;

	/*
	 * Block every signal before anything else, so that none that arrives
	 * during start-up is lost: they queue until the signalfd reads them.
	 * The mask from before is what the child will get.
	 */
	name = argc > 0 ? strrchr(argv[0], '/') : NULL;
	name = name ? name + 1 : argc > 0 ? argv[0] : "warden";
	/* "ctl" only as warden's first argument: a program named ctl is "warden -- ctl". */
	if (argc > 1 && strcmp(argv[1], "ctl") == 0 && strcmp(name, "tini") != 0 &&
	    strcmp(name, "docker-init") != 0 && strcmp(name, "dumb-init") != 0)
		return ctl_main(argc - 1, argv + 1);
	r = wd_signal_block_all(&orig_mask);
	if (r < 0) {
		log_errno(r, "cannot block signals");
		return EXIT_WARDEN;
	}
	init_opts_defaults(&o);
	/* Under another init's name, warden takes that init's command line. */
	if (strcmp(name, "tini") == 0 || strcmp(name, "docker-init") == 0)
		r = compat_tini_parse(argc, argv, &o);
	else if (strcmp(name, "dumb-init") == 0)
		r = compat_dumb_init_parse(argc, argv, &o);
	else
		r = cli_parse(argc, argv, &o);
	if (r >= 0)
		return r;
	if (o.config) {
		if (o.check)
			return supervisor_check(o.config);
		if (o.events) {
			r = events_open(o.events);
			if (r < 0) {
				log_errno(r, "cannot open events destination '%s'", o.events);
				return EXIT_WARDEN;
			}
		}
		return supervisor_run(o.config, o.control, &orig_mask);
	}
	return init_run(&o, &orig_mask);
}
