/* SPDX-License-Identifier: MIT */
/*
 * sigrecv: the receiving end of the signal-forwarding benchmark (run it as
 * the init's child, or directly as PID 1 for the baseline).
 *
 *   sigrecv FIFO SIGNUM[,SIGNUM...] [IDLE_TIMEOUT_S]
 *
 * Blocks the given signals, opens FIFO for writing (the sender, sigsend,
 * has it open for reading) and writes a ready record. Then every signal
 * taken with sigtimedwait(2) is stamped at once with CLOCK_MONOTONIC and
 * written to FIFO as one record (struct rec: signal number, stamp), in one
 * write(2), atomic on a pipe. It exits 0 when no signal came for
 * IDLE_TIMEOUT_S (default 30) seconds, and ends on SIGTERM (default action)
 * or SIGPIPE (the sender went away).
 *
 * As PID 1 (the baseline) the blocked signals still arrive: the kernel only
 * discards a signal to a namespace's init when it is not blocked and has
 * the default action.
 */
#include "common.h"

#include <signal.h>

struct rec {
	int32_t sig;
	int32_t seq;
	int64_t t;
};

int main(int argc, char **argv)
{
	struct timespec idle = {30, 0};
	struct rec r = {0, 0, 0};
	char *list, *tok, *save = NULL;
	siginfo_t si;
	sigset_t set;
	int fd, sig;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: sigrecv FIFO SIGNUM[,SIGNUM...] [IDLE_TIMEOUT_S]\n");
		return 2;
	}
	if (argc == 4)
		idle.tv_sec = parse_long(argv[3], "IDLE_TIMEOUT_S");
	sigemptyset(&set);
	list = strdup(argv[2]);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		long s = parse_long(tok, "SIGNUM");
		if (s < 1 || s >= NSIG || sigaddset(&set, (int)s) < 0) {
			fprintf(stderr, "sigrecv: bad signal %s\n", tok);
			return 2;
		}
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		perror("sigrecv: sigprocmask");
		return 1;
	}
	fd = open(argv[1], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("sigrecv: open fifo");
		return 1;
	}
	r.t = now_ns();
	if (write(fd, &r, sizeof(r)) != sizeof(r)) /* ready */
		return 1;
	for (;;) {
		sig = sigtimedwait(&set, &si, &idle);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : 1;
		}
		r.t = now_ns();
		r.sig = sig;
		r.seq++;
		if (write(fd, &r, sizeof(r)) != sizeof(r))
			return 1;
	}
}
