/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <warden/signals.h>

static const struct {
	int sig;
	const char *name; /* without "SIG" */
} names[] = {
	{SIGHUP, "HUP"},
	{SIGINT, "INT"},
	{SIGQUIT, "QUIT"},
	{SIGILL, "ILL"},
	{SIGTRAP, "TRAP"},
	{SIGABRT, "ABRT"},
	{SIGBUS, "BUS"},
	{SIGFPE, "FPE"},
	{SIGKILL, "KILL"},
	{SIGUSR1, "USR1"},
	{SIGSEGV, "SEGV"},
	{SIGUSR2, "USR2"},
	{SIGPIPE, "PIPE"},
	{SIGALRM, "ALRM"},
	{SIGTERM, "TERM"},
	{SIGSTKFLT, "STKFLT"},
	{SIGCHLD, "CHLD"},
	{SIGCONT, "CONT"},
	{SIGSTOP, "STOP"},
	{SIGTSTP, "TSTP"},
	{SIGTTIN, "TTIN"},
	{SIGTTOU, "TTOU"},
	{SIGURG, "URG"},
	{SIGXCPU, "XCPU"},
	{SIGXFSZ, "XFSZ"},
	{SIGVTALRM, "VTALRM"},
	{SIGPROF, "PROF"},
	{SIGWINCH, "WINCH"},
	{SIGIO, "IO"},
	{SIGPWR, "PWR"},
	{SIGSYS, "SYS"},
	/* Aliases, accepted when parsing; the first name of a number wins. */
	{SIGIOT, "IOT"},
	{SIGCHLD, "CLD"},
	{SIGPOLL, "POLL"},
};

#define NNAMES (sizeof(names) / sizeof(names[0]))

/* What wd_signal_name() writes, for wd_signal_str() (a test keeps them equal). */
#define RT(n) [WD_SIGRTMIN + (n)] = "SIGRTMIN+" #n
static const char *const full_names[WD_SIGRTMAX + 1] = {
	[SIGHUP] = "SIGHUP",
	[SIGINT] = "SIGINT",
	[SIGQUIT] = "SIGQUIT",
	[SIGILL] = "SIGILL",
	[SIGTRAP] = "SIGTRAP",
	[SIGABRT] = "SIGABRT",
	[SIGBUS] = "SIGBUS",
	[SIGFPE] = "SIGFPE",
	[SIGKILL] = "SIGKILL",
	[SIGUSR1] = "SIGUSR1",
	[SIGSEGV] = "SIGSEGV",
	[SIGUSR2] = "SIGUSR2",
	[SIGPIPE] = "SIGPIPE",
	[SIGALRM] = "SIGALRM",
	[SIGTERM] = "SIGTERM",
	[SIGSTKFLT] = "SIGSTKFLT",
	[SIGCHLD] = "SIGCHLD",
	[SIGCONT] = "SIGCONT",
	[SIGSTOP] = "SIGSTOP",
	[SIGTSTP] = "SIGTSTP",
	[SIGTTIN] = "SIGTTIN",
	[SIGTTOU] = "SIGTTOU",
	[SIGURG] = "SIGURG",
	[SIGXCPU] = "SIGXCPU",
	[SIGXFSZ] = "SIGXFSZ",
	[SIGVTALRM] = "SIGVTALRM",
	[SIGPROF] = "SIGPROF",
	[SIGWINCH] = "SIGWINCH",
	[SIGIO] = "SIGIO",
	[SIGPWR] = "SIGPWR",
	[SIGSYS] = "SIGSYS",
	[32] = "SIG32",
	[33] = "SIG33",
	[WD_SIGRTMIN] = "SIGRTMIN",
	RT(1),
	RT(2),
	RT(3),
	RT(4),
	RT(5),
	RT(6),
	RT(7),
	RT(8),
	RT(9),
	RT(10),
	RT(11),
	RT(12),
	RT(13),
	RT(14),
	RT(15),
	RT(16),
	RT(17),
	RT(18),
	RT(19),
	RT(20),
	RT(21),
	RT(22),
	RT(23),
	RT(24),
	RT(25),
	RT(26),
	RT(27),
	RT(28),
	RT(29),
	[WD_SIGRTMAX] = "SIGRTMAX",
};
#undef RT

/*
 * Every signal, the C library's internal ones (glibc's 32 and 33) included:
 * sigfillset() leaves them out, and sigprocmask() would drop them, so a
 * plain "kill -33" would end a subreaper. The kernel ignores the bits of
 * SIGKILL and SIGSTOP in a mask.
 */
static void fill_all(sigset_t *set)
{
	memset(set, 0xff, sizeof(*set));
}

bool wd_signal_libc_internal(int sig)
{
	/* SIGRTMIN is a function call in glibc: it reads a constant. */
	return sig >= 32 && sig < SIGRTMIN;
}

/*
 * Removes sig from set by hand: glibc's sigdelset() refuses its internal
 * signals. Every C library lays a sigset_t out as an array of unsigned
 * longs, one bit per signal from bit 0.
 */
static void del_raw(sigset_t *set, int sig)
{
	size_t bits = 8 * sizeof(unsigned long), i = (size_t)(sig - 1) / bits;
	unsigned long w;

	memcpy(&w, (char *)set + i * sizeof(w), sizeof(w));
	w &= ~(1UL << ((size_t)(sig - 1) % bits));
	memcpy((char *)set + i * sizeof(w), &w, sizeof(w));
}

int wd_signal_fill(int flags, sigset_t *set)
{
	int sig;

	if (flags & ~WD_SIGNAL_LIBC_INTERNAL)
		return -EINVAL;
	fill_all(set);
	if (!(flags & WD_SIGNAL_LIBC_INTERNAL))
		for (sig = 32; sig < SIGRTMIN; sig++)
			del_raw(set, sig);
	return 0;
}

/*
 * rt_sigprocmask() itself, not sigprocmask(): glibc's wrapper drops its
 * internal signals from the set, and warden asks for them. The system call
 * changes the calling thread's mask only, as pthread_sigmask() does.
 */
static int change_mask(int how, const sigset_t *set, sigset_t *ret_old)
{
	sigset_t old;

	memset(&old, 0, sizeof(old));
	if (syscall(SYS_rt_sigprocmask, how, set, &old, (size_t)(_NSIG / 8)) < 0)
		return -errno;
	if (ret_old)
		*ret_old = old;
	return 0;
}

int wd_signal_block_all(int flags, sigset_t *ret_old)
{
	sigset_t all;
	int r;

	r = wd_signal_fill(flags, &all);
	if (r < 0)
		return r;
	/* SIG_BLOCK: without the flag, the internal signals stay as they were. */
	return change_mask(SIG_BLOCK, &all, ret_old);
}

int wd_signal_block(const sigset_t *set, sigset_t *ret_old)
{
	return change_mask(SIG_BLOCK, set, ret_old);
}

int wd_signal_set_mask(const sigset_t *mask)
{
	return change_mask(SIG_SETMASK, mask, NULL);
}

int wd_signalfd_open(const sigset_t *set)
{
	sigset_t all;
	int fd;

	if (!set) {
		fill_all(&all);
		set = &all;
	}
	fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int wd_signalfd_dispatch(int fd, void (*fn)(const struct wd_siginfo *si, void *data), void *data)
{
	struct signalfd_siginfo si[16];
	int count = 0;
	ssize_t n;
	size_t i;

	do {
		n = read(fd, si, sizeof(si));
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? count : -errno;
		for (i = 0; i < (size_t)n / sizeof(si[0]); i++, count++) {
			struct wd_siginfo info = {
				.signo = (int)si[i].ssi_signo,
				.code = si[i].ssi_code,
				.pid = (pid_t)si[i].ssi_pid,
				.uid = (uid_t)si[i].ssi_uid,
			};

			fn(&info, data);
		}
	} while (n == (ssize_t)sizeof(si));
	return count;
}

/* Parses a decimal number made of digits only. Returns -1 if it is not. */
static long parse_digits(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > 1000)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

int wd_signal_parse(const char *s, bool allow_zero, int *ret_sig)
{
	const char *n = s;
	long v;
	size_t i;

	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)*s)) {
		v = parse_digits(s);
		if (v < 0 || v > WD_SIGRTMAX || (v == 0 && !allow_zero))
			return -EINVAL;
		*ret_sig = (int)v;
		return 0;
	}
	if (strncasecmp(n, "SIG", 3) == 0) {
		n += 3;
		/* "SIG32" is how wd_signal_name() writes a signal with no name. */
		if (isdigit((unsigned char)*n)) {
			v = parse_digits(n);
			if (v < 1 || v > WD_SIGRTMAX)
				return -EINVAL;
			*ret_sig = (int)v;
			return 0;
		}
	}
	for (i = 0; i < NNAMES; i++)
		if (strcasecmp(n, names[i].name) == 0) {
			*ret_sig = names[i].sig;
			return 0;
		}
	if (strncasecmp(n, "RTMIN", 5) == 0 || strncasecmp(n, "RTMAX", 5) == 0) {
		bool min = toupper((unsigned char)n[3]) == 'I';
		int base = min ? WD_SIGRTMIN : WD_SIGRTMAX;

		n += 5;
		if (!*n) {
			*ret_sig = base;
			return 0;
		}
		if ((min && *n != '+') || (!min && *n != '-'))
			return -EINVAL;
		v = parse_digits(n + 1);
		if (v < 0 || v > WD_SIGRTMAX - WD_SIGRTMIN)
			return -EINVAL;
		*ret_sig = min ? base + (int)v : base - (int)v;
		return 0;
	}
	return -EINVAL;
}

const char *wd_signal_name(int sig, char *buf)
{
	size_t i;

	for (i = 0; i < NNAMES; i++)
		if (names[i].sig == sig) {
			snprintf(buf, WD_SIGNAME_MAX, "SIG%s", names[i].name);
			return buf;
		}
	if (sig == WD_SIGRTMIN)
		snprintf(buf, WD_SIGNAME_MAX, "SIGRTMIN");
	else if (sig == WD_SIGRTMAX)
		snprintf(buf, WD_SIGNAME_MAX, "SIGRTMAX");
	else if (sig > WD_SIGRTMIN && sig < WD_SIGRTMAX)
		snprintf(buf, WD_SIGNAME_MAX, "SIGRTMIN+%d", sig - WD_SIGRTMIN);
	else
		snprintf(buf, WD_SIGNAME_MAX, "SIG%d", sig);
	return buf;
}

const char *wd_signal_str(int sig)
{
	return sig >= 1 && sig <= WD_SIGRTMAX ? full_names[sig] : NULL;
}

bool wd_signal_catchable(int sig)
{
	return sig >= 1 && sig <= WD_SIGRTMAX && sig != SIGKILL && sig != SIGSTOP;
}
