/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_LEAK_H
#define WARDEN_LEAK_H

/*
 * Leak watch: a service with leak_memory or leak_fds has its process
 * tree's resident memory and open descriptors sampled every leak_interval
 * while it runs. A breach that lasts leak_sustain is a leak
 * (service.leak, and a graceful restart with on_leak = restart);
 * leak_suspect_samples samples that each grew are a suspicion
 * (service.leak_suspected). Nothing is armed for a service without it.
 */

#include <stdbool.h>
#include <stdint.h>

#include <warden/json.h>
#include <warden/loop.h>

struct svc;
struct svc_conf;

/* What is watched. */
enum leak_resource { LEAK_MEMORY, LEAK_FDS, NLEAKRES };

/*
 * One resource over one run. Bounded whatever the window: a breach is the
 * run of samples over the limit, known by its first sample and its length;
 * a growth is the run of samples that each grew, the same way.
 */
struct leak_res {
	uint64_t value; /* the last sample */
	bool over;	/* the last sample was over the limit */
	uint64_t over_since, over_first;
	unsigned over_samples;
	unsigned breaches; /* this run's: times the samples went over the limit */
	bool reported;	   /* service.leak said for this breach */
	uint64_t rise_since, rise_first;
	unsigned rise_samples;
	bool suspected; /* service.leak_suspected said for this run */
};

struct leak_watch {
	wd_timer timer;		    /* the next sample; armed only while the service runs */
	uint64_t sampled_at;	    /* the last sample, 0: none in this run */
	uint64_t samples;	    /* taken in this run */
	unsigned processes;	    /* in the tree at the last sample */
	bool unreadable;	    /* the last sample could not be taken (said once a run) */
	enum leak_resource tripped; /* what the leak restart is for */
	struct leak_res res[NLEAKRES];
};

/* Whether c asks for a leak watch. */
bool leak_configured(const struct svc_conf *c);

/* A run began (s->pid is set): its first sample is one leak_interval away. */
void leak_start(struct svc *s);

/* The run is over, or the service goes: no more samples. */
void leak_stop(struct svc *s);

/* Why the service is restarted, for the restart's transition. */
const char *leak_reason(const struct svc *s);

/* The watch's settings and last sample, as a member "leak" of an open object. */
void leak_json(const struct svc *s, struct wd_json *j);

#endif
