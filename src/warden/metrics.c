/* SPDX-License-Identifier: MIT */
/*
 * The metrics, rendered at scrape time: warden-metrics(7) lists them. The
 * counters are incremented where things happen; the rest (states, the
 * services' process trees, warden's own process) is read here, with one
 * look at /proc for every service. A family is written whole, HELP and
 * TYPE first, each of its series from the start (0 until something
 * happens), so that rate() and absent() work from the first scrape.
 *
 * The two formats differ in little: OpenMetrics names a counter's family
 * without its "_total" suffix in HELP and TYPE, and ends with "# EOF".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <warden/clock.h>
#include <warden/proc.h>
#include <warden/signals.h>

#include "control.h"
#include "core.h"
#include "metrics.h"
#include "output.h"
#include "tree.h"
#include "version.h"

/* --- counting --------------------------------------------------------------- */

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * WD_NSEC_PER_SEC + (uint64_t)tv->tv_usec * WD_NSEC_PER_USEC;
}

void metrics_run_ended(struct svc *s, const struct rusage *ru)
{
	int st = s->last_status;
	enum metrics_exit_how how;

	if (s->exec_error)
		how = EXIT_HOW_EXEC_FAILED;
	else if (WIFSIGNALED(st))
		how = EXIT_HOW_SIGNALLED;
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		how = EXIT_HOW_ZERO;
	else
		how = EXIT_HOW_NONZERO;
	s->m.exits[how]++;
	if (ru)
		s->m.cpu_ended_ns += tv_ns(&ru->ru_utime) + tv_ns(&ru->ru_stime);
}

/* --- the text --------------------------------------------------------------- */

enum fam_type { GAUGE, COUNTER };

struct fam {
	const char *name; /* a counter's without "_total" */
	enum fam_type type;
	const char *help;
};

/* The text being written, and where a sample stands. */
struct out {
	char *buf;
	size_t len, cap;
	bool failed; /* out of memory: the text is given up */
	bool om;     /* OpenMetrics */
	const struct fam *fam;
	bool labels; /* a label was written to the current sample */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->cap - o->len <= n) {
		size_t cap = o->cap ? o->cap : 65536;
		char *nb;

		while (cap - o->len <= n)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb) {
			o->failed = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* HELP and TYPE of a family; its samples follow. */
static void family(struct out *o, const struct fam *f)
{
	const char *suffix = f->type == COUNTER && !o->om ? "_total" : "";
	const char *type = f->type == COUNTER ? "counter" : "gauge";

	o->fam = f;
	puts_(o, "# HELP ");
	puts_(o, f->name);
	puts_(o, suffix);
	puts_(o, " ");
	puts_(o, f->help);
	puts_(o, "\n# TYPE ");
	puts_(o, f->name);
	puts_(o, suffix);
	puts_(o, " ");
	puts_(o, type);
	puts_(o, "\n");
}

/* Starts a sample of the current family. */
static void sample(struct out *o)
{
	puts_(o, o->fam->name);
	if (o->fam->type == COUNTER)
		puts_(o, "_total");
	o->labels = false;
}

/* A label of the sample begun; the value escaped as both formats want it. */
static void label(struct out *o, const char *key, const char *value)
{
	const char *p, *run = value;

	puts_(o, o->labels ? "," : "{");
	o->labels = true;
	puts_(o, key);
	puts_(o, "=\"");
	for (p = value; *p; p++) {
		const char *esc = *p == '\\'   ? "\\\\"
				  : *p == '"'  ? "\\\""
				  : *p == '\n' ? "\\n"
					       : NULL;

		if (!esc)
			continue;
		put(o, run, (size_t)(p - run));
		puts_(o, esc);
		run = p + 1;
	}
	put(o, run, (size_t)(p - run));
	puts_(o, "\"");
}

static void end_labels(struct out *o)
{
	if (o->labels)
		puts_(o, "}");
}

static void value_u(struct out *o, uint64_t v)
{
	end_labels(o);
	putf(o, " %llu\n", (unsigned long long)v);
}

/* Nanoseconds as seconds, exactly. */
static void value_ns(struct out *o, uint64_t ns)
{
	end_labels(o);
	putf(o, " %llu.%09llu\n", (unsigned long long)(ns / WD_NSEC_PER_SEC),
	     (unsigned long long)(ns % WD_NSEC_PER_SEC));
}

static void value_i(struct out *o, long long v)
{
	end_labels(o);
	putf(o, " %lld\n", v);
}

/* A family of one series without labels. */
static void single_u(struct out *o, const struct fam *f, uint64_t v)
{
	family(o, f);
	sample(o);
	value_u(o, v);
}

/* --- what a scrape reads ------------------------------------------------------ */

struct scrape {
	struct sup *sup;
	bool proc;		   /* /proc is this namespace's */
	struct tree_usage *usage;  /* per service, when proc */
	uint64_t real_ns, mono_ns; /* now, on the two clocks: for start times */
	uint64_t boot_ns;	   /* now, CLOCK_BOOTTIME */
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	if (clock_gettime(id, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * WD_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* A moment of CLOCK_MONOTONIC as Unix time (ns). */
static uint64_t mono_to_unix(const struct scrape *sc, uint64_t mono)
{
	uint64_t ago = sc->mono_ns > mono ? sc->mono_ns - mono : 0;

	return sc->real_ns > ago ? sc->real_ns - ago : 0;
}

/* --- warden itself -------------------------------------------------------------- */

static void build_info(struct out *o)
{
	static const struct fam f = {"warden_build_info", GAUGE,
				     "Always 1; the labels say which warden this is."};

	family(o, &f);
	sample(o);
	label(o, "version", WARDEN_VERSION);
	label(o, "commit", WARDEN_COMMIT);
	value_u(o, 1);
}

static void process_metrics(struct out *o, const struct scrape *sc)
{
	static const struct fam cpu = {"process_cpu_seconds", COUNTER,
				       "User and system CPU time spent by warden in seconds."},
				fds = {"process_open_fds", GAUGE,
				       "Number of open file descriptors of warden."},
				maxfds = {"process_max_fds", GAUGE,
					  "Maximum number of open file descriptors of warden."},
				vm = {"process_virtual_memory_bytes", GAUGE,
				      "Virtual memory size of warden in bytes."},
				rss = {"process_resident_memory_bytes", GAUGE,
				       "Resident memory size of warden in bytes."},
				start = {"process_start_time_seconds", GAUGE,
					 "Start time of warden since the Unix epoch in seconds."},
				threads = {"process_threads", GAUGE,
					   "Number of threads of warden."};
	struct wd_proc_usage u = {0};
	struct rusage ru;
	struct rlimit rl;
	uint64_t started;
	bool have = sc->proc && wd_proc_usage(getpid(), &u) == 0;

	/* getrusage() needs no /proc, and counts what /proc's ticks round off. */
	family(o, &cpu);
	sample(o);
	value_ns(o, getrusage(RUSAGE_SELF, &ru) == 0 ? tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime)
						     : u.cpu_ns);
	family(o, &fds);
	if (have && u.fds >= 0) {
		sample(o);
		value_i(o, u.fds);
	}
	family(o, &maxfds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		sample(o);
		value_u(o, rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur);
	}
	family(o, &vm);
	if (have) {
		sample(o);
		value_u(o, u.vsize_bytes);
	}
	family(o, &rss);
	if (have) {
		sample(o);
		value_u(o, u.rss_bytes);
	}
	/* The start after boot, as Unix time: boot time is now minus the time since boot. */
	started = have && sc->boot_ns > u.start_ns ? sc->real_ns - (sc->boot_ns - u.start_ns)
						   : mono_to_unix(sc, sc->sup->started);
	family(o, &start);
	sample(o);
	value_ns(o, started);
	family(o, &threads);
	if (have) {
		sample(o);
		value_u(o, u.threads);
	}
}

/*
 * The signals warden_signals_forwarded_total has a series for: the 31
 * standard ones by name; every real-time signal (and 32 and 33) is
 * counted under "SIGRT".
 */
#define SIG_STANDARD_MAX 31

static void signals_forwarded(struct out *o, const struct sup *sup)
{
	static const struct fam f = {
		"warden_signals_forwarded", COUNTER,
		"Signals passed on to a service or to the leftovers, by the signal sent."};
	char name[WD_SIGNAME_MAX];
	uint64_t rt = 0;
	int sig;

	family(o, &f);
	for (sig = 1; sig <= WD_SIGRTMAX; sig++) {
		if (sig > SIG_STANDARD_MAX) {
			rt += sup->m.signals_forwarded[sig];
			continue;
		}
		sample(o);
		label(o, "signal", wd_signal_name(sig, name));
		value_u(o, sup->m.signals_forwarded[sig]);
	}
	sample(o);
	label(o, "signal", "SIGRT");
	value_u(o, rt);
}

static void control_requests_metric(struct out *o, const struct sup *sup)
{
	static const struct fam f = {"warden_control_requests", COUNTER,
				     "Requests on the control socket, by verb."};
	int v;

	family(o, &f);
	for (v = 0; v < NCTLVERBS; v++) {
		sample(o);
		label(o, "verb", ctl_verb_name((enum ctl_verb)v));
		value_u(o, control_requests(sup->ctl, (enum ctl_verb)v));
	}
}

/* --- per service ---------------------------------------------------------------- */

/* Writes the series of one family for service i (label "service" and its own). */
typedef void svc_emitter(struct out *o, struct scrape *sc, size_t i);

static void svc_sample(struct out *o, const struct svc *s)
{
	sample(o);
	label(o, "service", s->conf.name);
}

static void emit_up(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	svc_sample(o, s);
	value_u(o, s->pid != 0);
}

static void emit_ready(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	svc_sample(o, s);
	value_u(o, svc_is_ready(s));
}

static void emit_state(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];
	const char *cur = svc_state_name(s->state);
	int st;

	/* One series per public name: three states are all "stopping". */
	for (st = 0; st < NSTATES; st++) {
		const char *name = svc_state_name((enum svc_state)st);
		int k;

		for (k = 0; k < st && strcmp(svc_state_name((enum svc_state)k), name) != 0; k++)
			;
		if (k < st)
			continue;
		svc_sample(o, s);
		label(o, "state", name);
		value_u(o, strcmp(name, cur) == 0);
	}
}

static void emit_restarts(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	svc_sample(o, s);
	value_u(o, s->restarts);
}

static void emit_exits(struct out *o, struct scrape *sc, size_t i)
{
	static const char *const how[NEXITHOW] = {
		[EXIT_HOW_ZERO] = "exited-zero",
		[EXIT_HOW_NONZERO] = "exited-nonzero",
		[EXIT_HOW_SIGNALLED] = "signalled",
		[EXIT_HOW_EXEC_FAILED] = "exec-failed",
	};
	const struct svc *s = sc->sup->svcs[i];
	int h;

	for (h = 0; h < NEXITHOW; h++) {
		svc_sample(o, s);
		label(o, "how", how[h]);
		value_u(o, s->m.exits[h]);
	}
}

static void emit_last_exit(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	svc_sample(o, s);
	value_i(o, s->has_status ? wd_status_code(s->last_status) : 0);
}

static void emit_start_time(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	svc_sample(o, s);
	value_ns(o, s->spawned_at ? mono_to_unix(sc, s->spawned_at) : 0);
}

static void emit_processes(struct out *o, struct scrape *sc, size_t i)
{
	svc_sample(o, sc->sup->svcs[i]);
	value_u(o, sc->usage[i].processes);
}

static void emit_rss(struct out *o, struct scrape *sc, size_t i)
{
	svc_sample(o, sc->sup->svcs[i]);
	value_u(o, sc->usage[i].rss_bytes);
}

static void emit_fds(struct out *o, struct scrape *sc, size_t i)
{
	svc_sample(o, sc->sup->svcs[i]);
	value_u(o, sc->usage[i].fds);
}

/*
 * The CPU time of the ended runs (wait4's, with what they reaped) plus the
 * live tree's. A child that its service reaps leaves the live sum before
 * its time shows in a wait4(): the counter holds the most it has shown, so
 * that it never goes back.
 */
static void emit_cpu(struct out *o, struct scrape *sc, size_t i)
{
	struct svc *s = sc->sup->svcs[i];
	uint64_t now = sc->usage[i].cpu_total ? sc->usage[i].cpu_ns
					      : s->m.cpu_ended_ns + sc->usage[i].cpu_ns;

	if (now > s->m.cpu_shown_ns)
		s->m.cpu_shown_ns = now;
	svc_sample(o, s);
	value_ns(o, s->m.cpu_shown_ns);
}

/* Health series exist for the services that have a check (health =) only. */
static void emit_healthy(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	if (svc_health(s) == SVC_HEALTH_NONE)
		return;
	svc_sample(o, s);
	value_u(o, svc_health(s) == SVC_HEALTH_HEALTHY);
}

static void emit_health_failed(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	if (svc_health(s) == SVC_HEALTH_NONE)
		return;
	svc_sample(o, s);
	value_u(o, svc_health_failed_total(s));
}

static void emit_log_lines(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	if (s->conf.inherit_stdio)
		return;
	svc_sample(o, s);
	label(o, "stream", "stdout");
	value_u(o, s->out.lines);
	svc_sample(o, s);
	label(o, "stream", "stderr");
	value_u(o, s->err.lines);
}

static void emit_log_dropped(struct out *o, struct scrape *sc, size_t i)
{
	const struct svc *s = sc->sup->svcs[i];

	if (s->conf.inherit_stdio)
		return;
	svc_sample(o, s);
	value_u(o, s->out.dropped + s->err.dropped);
}

/* The per-service families, in order; a new one is one more line here. */
static const struct {
	struct fam fam;
	svc_emitter *emit;
	bool tree; /* from /proc: written only when /proc is this namespace's */
} per_service[] = {
	{{"warden_service_up", GAUGE, "1 when the service has a live process."}, emit_up, false},
	{{"warden_service_ready", GAUGE,
	  "1 when the service is ready (running, or a oneshot that finished with success)."},
	 emit_ready,
	 false},
	{{"warden_service_state", GAUGE, "1 for the service's current state, 0 for the others."},
	 emit_state,
	 false},
	{{"warden_service_restarts", COUNTER, "Times the service was started again."},
	 emit_restarts,
	 false},
	{{"warden_service_exits", COUNTER, "Runs of the service that ended, by how they ended."},
	 emit_exits,
	 false},
	{{"warden_service_last_exit_code", GAUGE,
	  "Exit code of the service's last run (128+N for signal N, 126/127 when it could not "
	  "execute, 125 when it could not be set up); 0 before the first."},
	 emit_last_exit,
	 false},
	{{"warden_service_start_time_seconds", GAUGE,
	  "Start of the service's last run since the Unix epoch in seconds; 0 before the first."},
	 emit_start_time,
	 false},
	{{"warden_service_healthy", GAUGE,
	  "1 when the service's last health check passed; 0 when it is unhealthy or has no "
	  "verdict yet in this run. Only for services with a health check."},
	 emit_healthy,
	 false},
	{{"warden_service_health_checks_failed", COUNTER,
	  "Health checks of the service that failed, over warden's life. Only for services "
	  "with a health check."},
	 emit_health_failed,
	 false},
	{{"warden_service_processes", GAUGE,
	  "Live processes of the service: its process, its descendants and its process group."},
	 emit_processes,
	 true},
	{{"warden_service_resident_memory_bytes", GAUGE,
	  "Resident memory of the service's processes in bytes."},
	 emit_rss,
	 true},
	{{"warden_service_open_fds", GAUGE, "Open file descriptors of the service's processes."},
	 emit_fds,
	 true},
	{{"warden_service_cpu_seconds", COUNTER,
	  "User and system CPU time of the service's processes, ended runs included, in "
	  "seconds."},
	 emit_cpu,
	 true},
	{{"warden_log_lines", COUNTER,
	  "Lines of the service's captured output passed on to warden's output, by stream."},
	 emit_log_lines,
	 false},
	{{"warden_log_lines_dropped", COUNTER, "Lines of the service's captured output lost."},
	 emit_log_dropped,
	 false},
};

/* Is /proc this pid namespace's? Asked once. */
static bool proc_usable(void)
{
	static int known = -1;

	if (known < 0)
		known = wd_proc_is_own();
	return known;
}

/* Every service's processes from one look at /proc. Returns 0 or -ENOMEM. */
static int read_trees(struct scrape *sc)
{
	struct sup *sup = sc->sup;
	struct wd_proc_table *t = NULL;
	size_t i;

	sc->usage = calloc(sup->nsvcs + 1, sizeof(*sc->usage));
	if (!sc->usage)
		return -ENOMEM;
	if (!sc->proc)
		goto cgroups;
	if (wd_proc_table_read(&t) < 0) {
		/* /proc unreadable now: the trees show nothing, the rest is still served. */
		sc->proc = false;
		goto cgroups;
	}
	for (i = 0; i < sup->nsvcs; i++) {
		const struct svc *s = sup->svcs[i];

		if ((s->pid > 0 || s->pgid > 0) &&
		    tree_usage(t, s->pid, s->pgid, &sc->usage[i]) == -ENOMEM) {
			wd_proc_table_free(t);
			return -ENOMEM;
		}
	}
	wd_proc_table_free(t);
cgroups:
	/* A service's cgroup knows its whole tree, escaped processes and all. */
	for (i = 0; i < sup->nsvcs; i++)
		(void)cgroup_svc_usage(sup->svcs[i], &sc->usage[i]);
	return 0;
}

char *metrics_render(struct sup *sup, bool openmetrics, size_t *len)
{
	static const struct fam orphans = {"warden_orphans_reaped", COUNTER,
					   "Processes warden reaped that were none of its own."},
				events = {"warden_events_dropped", COUNTER,
					  "Events dropped because their destination was full."};
	struct scrape sc = {.sup = sup, .proc = proc_usable()};
	struct out o = {.om = openmetrics};
	size_t f, i;

	sc.real_ns = clock_ns(CLOCK_REALTIME);
	sc.boot_ns = clock_ns(CLOCK_BOOTTIME);
	sc.mono_ns = wd_now();
	if (read_trees(&sc) < 0)
		return NULL;
	build_info(&o);
	process_metrics(&o, &sc);
	for (f = 0; f < sizeof(per_service) / sizeof(per_service[0]); f++) {
		family(&o, &per_service[f].fam);
		if (per_service[f].tree && !sc.proc)
			continue;
		for (i = 0; i < sup->nsvcs; i++)
			per_service[f].emit(&o, &sc, i);
	}
	single_u(&o, &orphans, sup->m.orphans_reaped);
	signals_forwarded(&o, sup);
	single_u(&o, &events, output_events_dropped());
	control_requests_metric(&o, sup);
	if (openmetrics)
		puts_(&o, "# EOF\n");
	free(sc.usage);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
