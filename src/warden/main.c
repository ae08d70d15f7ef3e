/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <warden/signals.h>

#include "init.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct init_opts o;
	sigset_t orig_mask;
	int r;

	/*
	 * Block every signal before anything else, so that none that arrives
	 * during start-up is lost: they queue until the signalfd reads them.
	 * The mask from before is what the child will get.
	 */
	r = wd_signal_block_all(&orig_mask);
	if (r < 0) {
		log_errno(r, "cannot block signals");
		return EXIT_WARDEN;
	}
	init_opts_defaults(&o);
	r = cli_parse(argc, argv, &o);
	if (r >= 0)
		return r;
	return init_run(&o, &orig_mask);
}
