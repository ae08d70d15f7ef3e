/* SPDX-License-Identifier: MIT */
/*
 * linegen: write numbered lines of a recognizable pattern, for log tests.
 *
 *   linegen [-n COUNT] [-l LEN] [-c CHUNK] [-e] [-f] [-d DONEFILE] TAG
 *
 * Writes COUNT (default 1000) lines "TAG SEQ PAYLOAD\n" to stdout (stderr
 * with -e): SEQ is the line number from 0, 8 digits with leading zeros;
 * PAYLOAD is LEN (default 40) characters, character i being
 * 'a' + (SEQ + i) % 26. So a test can rebuild every line exactly.
 *
 * The bytes go out in write() calls of CHUNK bytes (default 4093, not a
 * divisor of any line length, so that writes split lines), or one write per
 * line with -c 0. With -f the last line has no newline. DONEFILE is created
 * once everything was written. Exits 0, or 2 on a write error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int out_fd = 1;
static char *buf;
static size_t blen, bcap, chunk = 4093;

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(out_fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			perror("linegen: write");
			exit(2);
		}
		p += w;
		n -= (size_t)w;
	}
}

static void put(const char *p, size_t n)
{
	if (chunk == 0) {
		write_all(p, n);
		return;
	}
	while (n) {
		size_t take = chunk - blen < n ? chunk - blen : n;

		memcpy(buf + blen, p, take);
		blen += take;
		p += take;
		n -= take;
		if (blen == chunk) {
			write_all(buf, blen);
			blen = 0;
		}
	}
}

int main(int argc, char **argv)
{
	long count = 1000, len = 40, seq, i;
	const char *done = NULL;
	int opt, no_last_nl = 0;
	char *line;

	while ((opt = getopt(argc, argv, "n:l:c:efd:")) != -1) {
		switch (opt) {
		case 'n':
			count = atol(optarg);
			break;
		case 'l':
			len = atol(optarg);
			break;
		case 'c':
			chunk = (size_t)atol(optarg);
			break;
		case 'e':
			out_fd = 2;
			break;
		case 'f':
			no_last_nl = 1;
			break;
		case 'd':
			done = optarg;
			break;
		default:
			fprintf(stderr, "usage: linegen [-n COUNT] [-l LEN] [-c CHUNK] [-e] [-f] "
					"[-d DONEFILE] TAG\n");
			return 2;
		}
	}
	if (optind != argc - 1 || len < 0 || count < 0)
		return 2;
	bcap = chunk ? chunk : 1;
	buf = malloc(bcap);
	line = malloc(strlen(argv[optind]) + 32 + (size_t)len);
	if (!buf || !line)
		return 2;
	for (seq = 0; seq < count; seq++) {
		int n = sprintf(line, "%s %08ld ", argv[optind], seq);

		for (i = 0; i < len; i++)
			line[n + i] = (char)('a' + (seq + i) % 26);
		n += (int)len;
		if (!(no_last_nl && seq == count - 1))
			line[n++] = '\n';
		put(line, (size_t)n);
	}
	if (blen)
		write_all(buf, blen);
	if (done) {
		int fd = open(done, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

		if (fd >= 0)
			close(fd);
	}
	free(line);
	free(buf);
	return 0;
}
