/* SPDX-License-Identifier: MIT */
/*
 * warden ctl: the client of the control socket. It sends one request line,
 * reads one JSON reply, and turns it into a table, raw JSON, or an exit
 * code a script can use.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "ctlproto.h"

/* A reply is at most this large. */
#define REPLY_MAX (64 << 20)

static const char usage[] =
	"Usage: warden ctl [--control PATH | --runtime-directory DIR] [--json] VERB [ARG...]\n"
	"Ask a running warden (warden -c FILE) what it does, or act on its services.\n"
	"\n"
	"  status [SERVICE...]        a table of the services (--json: the raw reply)\n"
	"  start SERVICE...           start them (a stopped service stays stopped until then)\n"
	"  stop SERVICE...            stop them; their restart policy does not apply\n"
	"  restart SERVICE...         stop and start them\n"
	"  signal SERVICE SIG         send SIG to the service's main process\n"
	"  wait SERVICE... [--ready] [--timeout D]\n"
	"                             until they are all ready (--ready), or all ended\n"
	"  reload                     read the config again, as SIGHUP does, with the outcome\n"
	"  shutdown                   stop everything and exit, as SIGTERM does\n"
	"  dump                       the whole state as JSON, with every process's fds,\n"
	"                             memory, threads, CPU time and signal masks\n"
	"  metrics [--openmetrics]    the metrics, in the Prometheus text format 0.0.4\n"
	"                             (or OpenMetrics 1.0.0); see warden-metrics(7)\n"
	"\n"
	"  --control PATH   the socket (default: /run/warden/control.sock as root,\n"
	"                   else $XDG_RUNTIME_DIR/warden/control.sock)\n"
	"  --runtime-directory DIR\n"
	"                   the socket of a warden run with that runtime directory:\n"
	"                   DIR/control.sock\n"
	"  --json           print the reply as it came (JSON)\n"
	"\n"
	"Exit status: 0 done; 1 the request failed; 2 bad usage or request; 3 no such\n"
	"service; 4 refused (permission); 5 no warden answers; 6 timed out.\n";

/* --- a small JSON reader, for replies -------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype type;
	bool b;
	double num;
	char *str;	  /* J_STR */
	struct jv *items; /* J_ARR, J_OBJ */
	char **keys;	  /* J_OBJ */
	size_t n;
};

struct jp {
	const char *p, *end;
	int depth;
};

static void jv_free(struct jv *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		jv_free(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	memset(v, 0, sizeof(*v));
}

static void ws(struct jp *p)
{
	while (p->p < p->end && (*p->p == ' ' || *p->p == '\t' || *p->p == '\n' || *p->p == '\r'))
		p->p++;
}

/* Appends the UTF-8 of code point c. */
static size_t utf8_put(char *o, unsigned c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	o[0] = (char)(0xe0 | c >> 12);
	o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[2] = (char)(0x80 | (c & 0x3f));
	return 3;
}

static char *jstring(struct jp *p)
{
	char *out, *o;

	const char *q;

	if (p->p >= p->end || *p->p != '"')
		return NULL;
	p->p++;
	/* Find the end first: the string needs no more than its own length. */
	for (q = p->p; q < p->end && *q != '"'; q++)
		if (*q == '\\' && q + 1 < p->end)
			q++;
	out = o = malloc((size_t)(q - p->p) + 4);
	if (!out)
		return NULL;
	while (p->p < p->end && *p->p != '"') {
		char c = *p->p++;

		if (c != '\\') {
			*o++ = c;
			continue;
		}
		if (p->p >= p->end)
			break;
		c = *p->p++;
		switch (c) {
		case 'n':
			*o++ = '\n';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'u': {
			unsigned cp = 0;
			int k;

			for (k = 0; k < 4 && p->p < p->end; k++, p->p++) {
				char h = *p->p;

				cp = cp * 16 + (unsigned)(h >= 'a'   ? h - 'a' + 10
							  : h >= 'A' ? h - 'A' + 10
								     : h - '0');
			}
			o += utf8_put(o, cp);
			break;
		}
		default:
			*o++ = c;
			break;
		}
	}
	if (p->p >= p->end) {
		free(out);
		return NULL;
	}
	p->p++;
	*o = '\0';
	return out;
}

static int jvalue(struct jp *p, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	ws(p);
	if (p->p >= p->end || ++p->depth > 64)
		return -1;
	if (*p->p == '{' || *p->p == '[') {
		bool obj = *p->p == '{';
		char close = obj ? '}' : ']';

		v->type = obj ? J_OBJ : J_ARR;
		p->p++;
		ws(p);
		if (p->p < p->end && *p->p == close) {
			p->p++;
			p->depth--;
			return 0;
		}
		for (;;) {
			struct jv *ni = realloc(v->items, (v->n + 1) * sizeof(*ni));
			char *key = NULL;

			if (!ni)
				return -1;
			v->items = ni;
			if (obj) {
				char **nk = realloc(v->keys, (v->n + 1) * sizeof(*nk));

				if (!nk)
					return -1;
				v->keys = nk;
				ws(p);
				key = jstring(p);
				ws(p);
				if (!key || p->p >= p->end || *p->p != ':') {
					free(key);
					return -1;
				}
				p->p++;
				v->keys[v->n] = key;
			}
			if (jvalue(p, &v->items[v->n]) < 0) {
				if (obj)
					free(v->keys[v->n]);
				return -1;
			}
			v->n++;
			ws(p);
			if (p->p < p->end && *p->p == ',') {
				p->p++;
				continue;
			}
			if (p->p < p->end && *p->p == close) {
				p->p++;
				break;
			}
			return -1;
		}
	} else if (*p->p == '"') {
		v->type = J_STR;
		v->str = jstring(p);
		if (!v->str)
			return -1;
	} else if (p->end - p->p >= 4 && memcmp(p->p, "true", 4) == 0) {
		v->type = J_BOOL;
		v->b = true;
		p->p += 4;
	} else if (p->end - p->p >= 5 && memcmp(p->p, "false", 5) == 0) {
		v->type = J_BOOL;
		p->p += 5;
	} else if (p->end - p->p >= 4 && memcmp(p->p, "null", 4) == 0) {
		p->p += 4;
	} else {
		char *e;

		v->type = J_NUM;
		v->num = strtod(p->p, &e);
		if (e == p->p)
			return -1;
		p->p = e;
	}
	p->depth--;
	return 0;
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	size_t i;

	if (!o || o->type != J_OBJ)
		return NULL;
	for (i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return &o->items[i];
	return NULL;
}

static const char *jstr(const struct jv *o, const char *key, const char *dflt)
{
	const struct jv *v = jget(o, key);

	return v && v->type == J_STR ? v->str : dflt;
}

/* --- the table ---------------------------------------------------------------- */

static void format_uptime(const struct jv *v, char *buf, size_t size)
{
	unsigned long long ms, s;

	if (!v || v->type != J_NUM) {
		snprintf(buf, size, "-");
		return;
	}
	ms = (unsigned long long)v->num;
	s = ms / 1000;
	if (s < 60)
		snprintf(buf, size, "%llu.%llus", s, (ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, size, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%02llum", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, size, "%llud%02lluh", s / 86400, (s % 86400) / 3600);
}

/* A line above the table while warden shuts down; nothing otherwise. */
static void print_shutdown(const struct jv *w)
{
	const struct jv *down = jget(w, "shutting_down"), *draining = jget(w, "draining");
	char left[32];

	if (!down || down->type != J_BOOL || !down->b)
		return;
	if (draining && draining->type == J_BOOL && draining->b) {
		format_uptime(jget(w, "drain_left_ms"), left, sizeof(left));
		printf("warden is shutting down: draining, not ready; services stop in %s\n", left);
	} else {
		printf("warden is shutting down\n");
	}
}

/* The state as the table shows it: with the health, when checked ("running (healthy)"). */
static void state_text(const struct jv *s, char *buf, size_t size)
{
	const char *health = jstr(s, "health", NULL);

	if (health)
		snprintf(buf, size, "%s (%s)", jstr(s, "state", "?"), health);
	else
		snprintf(buf, size, "%s", jstr(s, "state", "?"));
}

static void print_status(const struct jv *reply)
{
	const struct jv *svcs = jget(reply, "services");
	size_t i, w = 7, sw = 8;
	char state[64];

	if (!svcs || svcs->type != J_ARR)
		return;
	print_shutdown(jget(reply, "warden"));
	for (i = 0; i < svcs->n; i++) {
		size_t l = strlen(jstr(&svcs->items[i], "name", ""));

		if (l > w)
			w = l;
		state_text(&svcs->items[i], state, sizeof(state));
		if (strlen(state) > sw)
			sw = strlen(state);
	}
	printf("%-*s %-*s %7s %9s %8s  %-28s %s\n", (int)w, "SERVICE", (int)sw, "STATE", "PID",
	       "UPTIME", "RESTARTS", "LAST EXIT", "STATUS");
	for (i = 0; i < svcs->n; i++) {
		const struct jv *s = &svcs->items[i], *pid = jget(s, "pid"),
				*restarts = jget(s, "restarts");
		char up[32], pids[16];

		format_uptime(jget(s, "uptime_ms"), up, sizeof(up));
		state_text(s, state, sizeof(state));
		if (pid && pid->type == J_NUM)
			snprintf(pids, sizeof(pids), "%d", (int)pid->num);
		else
			snprintf(pids, sizeof(pids), "-");
		printf("%-*s %-*s %7s %9s %8d  %-28s %s\n", (int)w, jstr(s, "name", "?"), (int)sw,
		       state, pids, up,
		       restarts && restarts->type == J_NUM ? (int)restarts->num : 0,
		       jstr(s, "last_exit", "-"), jstr(s, "status", ""));
	}
}

/* The exposition text of a metrics reply, as it came. */
static int print_metrics(const struct jv *reply)
{
	const char *text = jstr(reply, "metrics", NULL);

	if (!text) {
		fputs("warden ctl: the reply holds no metrics\n", stderr);
		return CTL_EFAILED;
	}
	fputs(text, stdout);
	return 0;
}

/* --- talking ------------------------------------------------------------------- */

static int die(enum ctl_error code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Says what went wrong, and gives the exit code that names it. */
static int die(enum ctl_error code, const char *fmt, ...)
{
	va_list ap;

	fputs("warden ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return (int)code;
}

int ctl_main(int argc, char **argv)
{
	char def[108], line[CTL_REQUEST_MAX + 1], errbuf[256], *buf = NULL;
	const char *path = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct ctl_request req;
	struct jv reply;
	struct jp jp;
	bool json = false, ok;
	size_t len = 0, cap = 0;
	int i, fd, rc;
	const struct jv *okv;

	line[0] = '\0';
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc && !line[0]) {
			path = argv[++i];
		} else if (strcmp(argv[i], "--runtime-directory") == 0 && i + 1 < argc &&
			   !line[0]) {
			if (!config_runtime_dir_ok(argv[++i]))
				return die(CTL_EUSAGE,
					   "--runtime-directory needs an absolute path under %d "
					   "bytes",
					   CONFIG_RUNTIME_DIR_MAX);
			snprintf(def, sizeof(def), "%s/control.sock", argv[i]);
			path = def;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else {
			size_t l = strlen(line), al = strlen(argv[i]);

			if (strchr(argv[i], ' ') || strchr(argv[i], '\n') ||
			    strchr(argv[i], '\t') || !argv[i][0])
				return die(CTL_EUSAGE, "invalid argument '%s'", argv[i]);
			if (l + al + 2 > CTL_REQUEST_MAX)
				return die(CTL_EUSAGE, "request too long");
			if (l)
				line[l++] = ' ';
			memcpy(line + l, argv[i], al + 1);
		}
	}
	if (!line[0]) {
		fputs(usage, stderr);
		return CTL_EUSAGE;
	}
	/* Check it here too, for a message before anything is sent. */
	{
		char copy[CTL_REQUEST_MAX + 1];

		memcpy(copy, line, sizeof(copy));
		if (ctl_parse(copy, &req, errbuf, sizeof(errbuf)) < 0)
			return die(CTL_EUSAGE, "%s", errbuf);
	}
	if (!path)
		path = control_default_path(def, sizeof(def));
	if (strlen(path) >= sizeof(sa.sun_path))
		return die(CTL_EUSAGE, "control socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EACCES || errno == EPERM)
			return die(CTL_EREFUSED, "refused: no permission to use %s", path);
		return die(CTL_ENOWARDEN, "no warden answers on %s: %s", path, strerror(errno));
	}
	memcpy(line + strlen(line), "\n", 2); /* the loop left room for it */
	/*
	 * A warden that refuses this client replies and closes at once, maybe
	 * before the request is sent: a failed send still reads that reply.
	 */
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL);
	for (;;) {
		ssize_t n;

		if (cap - len < 65536) {
			char *nb;

			if (cap >= REPLY_MAX)
				return die(CTL_EFAILED, "the reply is too large");
			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb)
				return die(CTL_EFAILED, "out of memory");
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(buf + len - (size_t)n, '\n', (size_t)n))
			break;
	}
	close(fd);
	if (!len)
		return die(CTL_ENOWARDEN, "no reply from %s", path);
	buf[len] = '\0';
	jp.p = buf;
	jp.end = buf + len;
	jp.depth = 0;
	if (jvalue(&jp, &reply) < 0 || reply.type != J_OBJ) {
		jv_free(&reply);
		free(buf);
		return die(CTL_EFAILED, "cannot read the reply from %s", path);
	}
	okv = jget(&reply, "ok");
	ok = okv && okv->type == J_BOOL && okv->b;
	if (json)
		fputs(buf, stdout);
	if (!ok) {
		rc = (int)ctl_error_from_name(jstr(&reply, "code", "failed"));
		fprintf(stderr, "warden ctl: %s\n", jstr(&reply, "error", "the request failed"));
	} else {
		rc = 0;
		if (!json && req.verb == CTL_STATUS)
			print_status(&reply);
		else if (!json && req.verb == CTL_DUMP)
			fputs(buf, stdout);
		else if (!json && req.verb == CTL_METRICS)
			rc = print_metrics(&reply);
	}
	jv_free(&reply);
	free(buf);
	return rc;
}
