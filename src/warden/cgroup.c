/* SPDX-License-Identifier: MIT */
/*
 * cgroup v2 tree control (cgroup.h). Everything here is best effort in the
 * sense of PID 1: a cgroup that cannot be made or written is said, and the
 * service runs as it would in process-group mode; nothing here stops the
 * loop or a service that could run without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <warden/clock.h>

#include "cgroup.h"
#include "core.h"
#include "log.h"
#include "tree.h"

/* cgroup2's f_type (linux/magic.h), which musl's headers may lack. */
#define CG2_MAGIC 0x63677270
#define CG_ROOT "/sys/fs/cgroup"
#define CG_SCOPE "warden.scope"

/* Writes s to the file name of the cgroup directory dir. Returns 0 or -errno. */
static int cg_write(int dir, const char *name, const char *s)
{
	int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(s);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/* Reads the file name of dir into buf (NUL-terminated). Returns its length or -errno. */
static ssize_t cg_read(int dir, const char *name, char *buf, size_t size)
{
	int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	if (size > 0)
		buf[0] = '\0'; /* an empty text on failure too */
	if (fd < 0)
		return -errno;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return n;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return (ssize_t)len;
}

/* The number after "key " in a flat-keyed file's text, or -1. */
static long long cg_key(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* True when the space-separated list has word. */
static bool has_word(const char *list, const char *word)
{
	size_t wl = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		if ((p == list || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || !p[wl]))
			return true;
		p += wl;
	}
	return false;
}

/* Warden's own cgroup, from /proc/self/cgroup's "0::/path" line. Returns 0 or -errno. */
static int own_cgroup(char *path, size_t size)
{
	char buf[4096], *line, *nl;
	int dir = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ssize_t n;

	if (dir < 0)
		return -errno;
	n = cg_read(dir, "cgroup", buf, sizeof(buf));
	close(dir);
	if (n < 0)
		return (int)n;
	for (line = buf; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(line, "0::/", 4) == 0) {
			/* In a cgroup namespace, "/" is the namespace's root: the mount's. */
			if (snprintf(path, size, "%s%s", CG_ROOT,
				     strcmp(line + 3, "/") ? line + 3 : "") >= (int)size)
				return -ENAMETOOLONG;
			return 0;
		}
	}
	return -ENOENT;
}

/* Decides the mode; on failure, the reason in cg->reason. Returns true for cgroup mode. */
static bool detect(struct sup *sup)
{
	struct cgroups *cg = &sup->cg;
	struct statfs fs;
	struct statvfs vfs;
	char buf[256];
	int r, scope;

	if (sup->conf.cgroup_off) {
		snprintf(cg->reason, sizeof(cg->reason), "cgroup = off");
		return false;
	}
	if (statfs(CG_ROOT, &fs) < 0 || fs.f_type != CG2_MAGIC) {
		snprintf(cg->reason, sizeof(cg->reason),
			 "no cgroup2 file system at " CG_ROOT " (cgroup v1 or hybrid)");
		return false;
	}
	if (statvfs(CG_ROOT, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		snprintf(cg->reason, sizeof(cg->reason), CG_ROOT " is mounted read-only");
		return false;
	}
	r = own_cgroup(cg->path, sizeof(cg->path));
	if (r < 0) {
		snprintf(cg->reason, sizeof(cg->reason),
			 "cannot tell warden's cgroup from /proc/self/cgroup: %s", strerror(-r));
		return false;
	}
	cg->dir_fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->dir_fd < 0) {
		snprintf(cg->reason, sizeof(cg->reason), "cannot open %s: %s", cg->path,
			 strerror(errno));
		return false;
	}
	/* The leaf warden lives in: no process may sit in a cgroup with controllers on. */
	if (mkdirat(cg->dir_fd, CG_SCOPE, 0755) < 0 && errno != EEXIST) {
		snprintf(cg->reason, sizeof(cg->reason), "cannot write %s: %s", cg->path,
			 strerror(errno));
		goto off;
	}
	scope = openat(cg->dir_fd, CG_SCOPE, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = scope < 0 ? -errno : cg_write(scope, "cgroup.procs", "0");
	if (scope >= 0)
		close(scope);
	if (r < 0) {
		snprintf(cg->reason, sizeof(cg->reason),
			 "cannot move warden to %s/" CG_SCOPE ": %s", cg->path, strerror(-r));
		(void)unlinkat(cg->dir_fd, CG_SCOPE, AT_REMOVEDIR);
		goto off;
	}
	/* Each controller on its own: one the parent does not give is not the others' loss. */
	if (cg_read(cg->dir_fd, "cgroup.controllers", buf, sizeof(buf)) >= 0) {
		static const struct {
			const char *name, *add;
			unsigned bit;
		} ctl[] = {{"memory", "+memory", CG_MEMORY},
			   {"pids", "+pids", CG_PIDS},
			   {"cpu", "+cpu", CG_CPU}};
		size_t i;

		for (i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++)
			if (has_word(buf, ctl[i].name) &&
			    cg_write(cg->dir_fd, "cgroup.subtree_control", ctl[i].add) == 0)
				cg->controls |= ctl[i].bit;
	}
	snprintf(cg->reason, sizeof(cg->reason), "%s is writable", cg->path);
	return true;
off:
	close(cg->dir_fd);
	cg->dir_fd = -1;
	return false;
}

void cgroup_setup(struct sup *sup)
{
	struct cgroups *cg = &sup->cg;

	cg->dir_fd = -1;
	cg->on = detect(sup);
	if (cg->on)
		log_info(1, "cgroup mode: services in cgroups of their own under %s", cg->path);
	else
		log_info(1, "process-group mode: %s", cg->reason);
}

void cgroup_started(struct sup *sup)
{
	struct cgroups *cg = &sup->cg;
	struct wd_json *j;

	if (!events_on())
		return;
	j = event_begin("cgroup.mode");
	wd_json_str(j, "mode", cg->on ? "cgroup" : "process-group");
	wd_json_str(j, "reason", cg->reason);
	if (cg->on) {
		char ctl[32] = "";

		wd_json_str(j, "path", cg->path);
		snprintf(ctl, sizeof(ctl), "%s%s%s", cg->controls & CG_MEMORY ? " memory" : "",
			 cg->controls & CG_PIDS ? " pids" : "",
			 cg->controls & CG_CPU ? " cpu" : "");
		wd_json_str(j, "controllers", ctl[0] ? ctl + 1 : "");
	} else {
		wd_json_null(j, "path");
	}
	event_emit(j);
}

void cgroup_fini(struct sup *sup)
{
	if (sup->cg.dir_fd >= 0)
		close(sup->cg.dir_fd);
	sup->cg.dir_fd = -1;
}

/* --- one service's cgroup ------------------------------------------------- */

void cgroup_svc_init(struct svc *s)
{
	s->cg.fd = -1;
	s->cg.events.fd = -1;
}

static void release(struct svc *s)
{
	struct wd_exit e = s->cg.held;

	s->cg.holding = false;
	svc_reaped(s, &e);
}

/* Reads cgroup.events (which also rearms its EPOLLPRI). */
static void read_events(struct svc *s)
{
	char buf[128];
	ssize_t n;

	do
		n = pread(s->cg.events.fd, buf, sizeof(buf) - 1, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return;
	buf[n] = '\0';
	s->cg.populated = cg_key(buf, "populated") != 0;
}

/* cgroup.events changed: the tree may be gone. */
static void on_events(wd_io *io, uint32_t revents)
{
	struct svc *s = io->data;

	(void)revents;
	read_events(s);
	if (!s->cg.populated && s->cg.holding) {
		log_info(2, "service %s: its cgroup is empty", s->conf.name);
		release(s);
	}
}

/* The name of s's cgroup. */
static void svc_dir(const struct svc *s, char *buf, size_t size)
{
	snprintf(buf, size, "%s.service", s->conf.name);
}

/* Makes (or finds) s's cgroup, opened and watched. Returns 0 or -errno. */
static int open_svc(struct svc *s)
{
	struct cgroups *cg = &s->sup->cg;
	char name[96];
	int r;

	svc_dir(s, name, sizeof(name));
	if (mkdirat(cg->dir_fd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	s->cg.fd = openat(cg->dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->cg.fd < 0)
		return -errno;
	s->cg.events.fd = openat(s->cg.fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (s->cg.events.fd < 0)
		goto fail;
	s->cg.events.events = EPOLLPRI;
	s->cg.events.cb = on_events;
	s->cg.events.data = s;
	r = wd_io_start(s->sup->loop, &s->cg.events);
	if (r < 0) {
		close(s->cg.events.fd);
		s->cg.events.fd = -1;
		errno = -r;
		goto fail;
	}
	read_events(s);
	return 0;
fail:
	r = -errno;
	close(s->cg.fd);
	s->cg.fd = -1;
	return r;
}

/* Says that key cannot be applied to s, and why. */
static void unsupported(struct svc *s, const char *key, const char *why)
{
	log_error("service %s: %s is not applied: %s", s->conf.name, key, why);
	if (events_on()) {
		struct wd_json *j = event_begin("cgroup.unsupported");

		wd_json_str(j, "service", s->conf.name);
		wd_json_str(j, "key", key);
		wd_json_str(j, "reason", why);
		event_emit(j);
	}
}

/* A limit as its cgroup file takes it: "max" for none. */
static void limit_text(uint64_t v, char *buf, size_t size)
{
	if (v == 0 || v == UINT64_MAX)
		snprintf(buf, size, "max");
	else
		snprintf(buf, size, "%llu", (unsigned long long)v);
}

/*
 * Writes s's settings to its cgroup; says (once per configuration) those
 * that cannot be applied. Unset ones go back to the defaults: a reload
 * that drops a key drops its limit.
 */
static void apply_settings(struct svc *s)
{
	static const struct {
		int key;
		unsigned ctl;
		const char *name, *file, *ctlname;
	} keys[] = {{0, CG_MEMORY, "memory_max", "memory.max", "memory"},
		    {1, CG_PIDS, "pids_max", "pids.max", "pids"},
		    {2, CG_CPU, "cpu_weight", "cpu.weight", "cpu"}};
	struct cgroups *cg = &s->sup->cg;
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		uint64_t v = keys[i].key == 0	? s->conf.memory_max
			     : keys[i].key == 1 ? s->conf.pids_max
						: s->conf.cpu_weight;
		char why[448], text[32];
		int r;

		if (!cg->on || s->cg.fd < 0 || !(cg->controls & keys[i].ctl)) {
			if (!v || s->cg.reported)
				continue;
			if (!cg->on)
				snprintf(why, sizeof(why), "process-group mode (%s)", cg->reason);
			else if (s->cg.fd < 0)
				snprintf(why, sizeof(why), "the service has no cgroup");
			else
				snprintf(why, sizeof(why),
					 "the %s controller is not available in %s",
					 keys[i].ctlname, cg->path);
			unsupported(s, keys[i].name, why);
			continue;
		}
		if (keys[i].key == 2)
			snprintf(text, sizeof(text), "%llu", (unsigned long long)(v ? v : 100));
		else
			limit_text(v, text, sizeof(text));
		r = cg_write(s->cg.fd, keys[i].file, text);
		if (r < 0 && (v || !s->cg.reported)) {
			snprintf(why, sizeof(why), "cannot write %s: %s", keys[i].file,
				 strerror(-r));
			if (!s->cg.reported)
				unsupported(s, keys[i].name, why);
		}
	}
	s->cg.reported = true;
}

int cgroup_svc_prepare(struct svc *s)
{
	struct cgroups *cg = &s->sup->cg;
	int r;

	if (cg->on && s->cg.fd < 0) {
		r = open_svc(s);
		if (r < 0)
			log_errno(r,
				  "service %s: cannot make its cgroup in %s; it runs in warden's",
				  s->conf.name, cg->path);
	}
	apply_settings(s);
	return s->cg.fd;
}

void cgroup_svc_conf_changed(struct svc *s)
{
	s->cg.reported = false;
}

bool cgroup_svc_hold(struct svc *s, const struct wd_exit *e)
{
	bool stopping =
		s->state == ST_STOPPING || s->state == ST_RESTARTING || s->state == ST_ABORTING;

	/*
	 * Only a stop that is bounded holds the exit (its stop_timeout ends in
	 * cgroup.kill); init mode's command, whose end is warden's, leaves the
	 * rest to the shutdown's leftovers, as in process-group mode.
	 */
	if (s->cg.events.fd < 0 || s->cg.holding || !stopping ||
	    s->conf.stop_timeout == TIMEOUT_NONE || s->conf.exit_is_wardens)
		return false;
	read_events(s);
	if (!s->cg.populated)
		return false;
	s->cg.held = *e;
	s->cg.holding = true;
	log_info(1, "service %s: process %d ended; waiting for the rest of its cgroup",
		 s->conf.name, (int)e->pid);
	(void)cgroup_svc_signal(s, s->conf.stop_signal);
	if (s->conf.stop_signal != SIGCONT)
		(void)cgroup_svc_signal(s, SIGCONT);
	/* It may have emptied meanwhile: then no notification comes for it. */
	read_events(s);
	if (!s->cg.populated) {
		release(s);
		return true;
	}
	return true;
}

bool cgroup_svc_holding(const struct svc *s)
{
	return s->cg.holding;
}

int cgroup_svc_signal(struct svc *s, int sig)
{
	char buf[8192], *p, *end;
	int sent = 0, fd;
	ssize_t n;

	if (s->cg.fd < 0)
		return -ENOENT;
	fd = openat(s->cg.fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/*
	 * A pid read here cannot be reaped (and reused) before the kill below:
	 * warden reaps in its loop, and a process of the service that a
	 * process of the service reaps could be; that window is the same as
	 * any kill(pid)'s.
	 */
	for (;;) {
		size_t len;

		n = read(fd, buf, sizeof(buf) - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len = (size_t)n;
		/* A partial last line is read again next time. */
		while (len > 0 && buf[len - 1] != '\n')
			len--;
		if (len == 0)
			break;
		if (len < (size_t)n)
			(void)lseek(fd, -(off_t)((size_t)n - len), SEEK_CUR);
		buf[len] = '\0';
		for (p = buf; *p; p = end + 1) {
			long pid = strtol(p, &end, 10);

			if (pid > 0 && kill((pid_t)pid, sig) == 0)
				sent++;
			if (*end != '\n')
				break;
		}
	}
	close(fd);
	return sent;
}

int cgroup_svc_kill(struct svc *s)
{
	if (s->cg.fd < 0)
		return -ENOENT;
	return cg_write(s->cg.fd, "cgroup.kill", "1");
}

void cgroup_kill_all(struct sup *sup)
{
	size_t i;

	/* Whatever cgroup.events said last: a write to an empty cgroup is harmless. */
	for (i = 0; i < sup->nsvcs; i++)
		if (sup->svcs[i]->cg.fd >= 0)
			(void)cgroup_svc_kill(sup->svcs[i]);
}

int cgroup_svc_usage(const struct svc *s, struct tree_usage *u)
{
	char buf[2048];
	long long v;

	if (s->cg.fd < 0)
		return -ENOENT;
	if ((s->sup->cg.controls & CG_PIDS) &&
	    cg_read(s->cg.fd, "pids.current", buf, sizeof(buf)) > 0) {
		u->processes = (unsigned)strtoul(buf, NULL, 10);
	} else {
		int fd = openat(s->cg.fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
		unsigned lines = 0;
		ssize_t n, i;

		if (fd >= 0) {
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				for (i = 0; i < n; i++)
					lines += buf[i] == '\n';
			close(fd);
			u->processes = lines;
		}
	}
	if ((s->sup->cg.controls & CG_MEMORY) &&
	    cg_read(s->cg.fd, "memory.current", buf, sizeof(buf)) > 0)
		u->rss_bytes = strtoull(buf, NULL, 10);
	if (cg_read(s->cg.fd, "cpu.stat", buf, sizeof(buf)) > 0 &&
	    (v = cg_key(buf, "usage_usec")) >= 0) {
		u->cpu_ns = (uint64_t)v * WD_NSEC_PER_USEC;
		u->cpu_total = true;
	}
	return 0;
}

void cgroup_svc_free(struct svc *s)
{
	char name[96];

	io_close(&s->cg.events);
	if (s->cg.fd < 0)
		return;
	close(s->cg.fd);
	s->cg.fd = -1;
	svc_dir(s, name, sizeof(name));
	/* One that still has processes stays: they are the shutdown's to end. */
	if (s->sup->cg.dir_fd >= 0 && unlinkat(s->sup->cg.dir_fd, name, AT_REMOVEDIR) < 0)
		log_info(2, "cannot remove the cgroup %s/%s: %s", s->sup->cg.path, name,
			 strerror(errno));
}
