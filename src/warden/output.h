/* SPDX-License-Identifier: MIT */
#ifndef WARDEN_OUTPUT_H
#define WARDEN_OUTPUT_H

/*
 * Everything warden writes (its own log lines, its events, the lines its
 * services print) goes to a sink: its stdout, its stderr, or the events
 * destination when that is another descriptor. Once the loop runs, a sink
 * never blocks it: a record is written at once when the descriptor takes
 * it, else kept in a bounded queue drained when the descriptor is
 * writable. A record is written whole or not at all; one that does not
 * fit is dropped and counted against its producer, and the count is
 * reported (the event output.dropped, and a log line) once the sink takes
 * records again. Nothing is allocated until something has to wait.
 *
 * warden never changes the flags of a descriptor it shares with its
 * children: a pipe or terminal is written through a private, non-blocking
 * opening of its own (/proc/self/fd/N), a socket with MSG_DONTWAIT.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <warden/loop.h>

/* Producers whose dropped records are counted apart. */
enum out_producer {
	OUT_LOG,    /* warden's own log lines ("stderr") */
	OUT_EVENTS, /* its events ("events") */
	OUT_OTHER,  /* a service's lines: capture.c counts them itself */
	NPRODUCERS
};

/*
 * From now on, sinks queue what a descriptor does not take at once, and
 * the loop drains them. Before, a sink writes and may wait (start-up,
 * usage errors: nothing runs yet).
 */
void output_start(wd_loop *loop);

/*
 * fd is a file warden opened itself (the events file): half a record a full
 * disk left in it may be cut off again. In any other file, the rest of the
 * record is kept and written before anything else.
 */
void output_set_owned(int fd);

/*
 * The queue size of the sinks of stdout and stderr, which carry the
 * services' lines in supervisor mode (256 KiB otherwise, and for the
 * events); set before the first record.
 */
void output_set_std_cap(size_t cap);

/*
 * Writes rec[0..n) to fd (1, 2 or the events descriptor) whole, or queues
 * it. Descriptors that are one file (2>&1) share one sink and one queue, so
 * that their records never mix. Returns 0, -ENOBUFS when it does
 * not fit (it is dropped, and counted against producer), or -EPIPE when
 * nobody reads the sink any more (dropped and counted too).
 */
int output_write(int fd, enum out_producer producer, const char *rec, size_t n);

/* Room left in fd's queue: a record this long is taken (or dropped: -EPIPE). */
size_t output_room(int fd);

/*
 * Calls cb(data) once fd's queue, short of room now, is half empty again.
 * One waiter per sink: the captured output of the services.
 */
void output_wait_room(int fd, void (*cb)(void *data), void *data);

/* At exit: waits up to ns for fd to take more of its queue, and writes it. */
void output_wait(int fd, uint64_t ns);

/*
 * At exit: writes what every sink holds, waiting for a slow reader, but
 * gives up a sink that takes nothing for patience ns (its records are
 * dropped and counted). The sinks stay usable.
 */
void output_flush(uint64_t patience);

/*
 * At exit: writes what every sink still holds, waiting for a slow reader,
 * but gives up a sink that takes nothing for patience ns (its records are
 * dropped and counted). Reports the counts it can.
 */
void output_finish(uint64_t patience);

/* How many events were dropped whole since warden started (output.dropped counts them too). */
uint64_t output_events_dropped(void);

#endif
