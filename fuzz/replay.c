/* SPDX-License-Identifier: MIT */
/*
 * Replays fuzzing inputs without libFuzzer: every file in each directory
 * given (or each file given) goes once through LLVMFuzzerTestOneInput. A
 * crash, a sanitizer report or a broken check ends the process with a
 * failure; so does an unreadable or empty corpus, so that a lost corpus
 * cannot pass silently.
 *
 *   replay_config fuzz/corpus/config
 *   replay_notify crash-1234abcd
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/*
 * Reads the whole file into a buffer of exactly its size, so that ASan sees
 * a read past the end of the input as libFuzzer would show it.
 */
static int read_file(const char *path, uint8_t **ret, size_t *ret_size)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	/* malloc(0) may return NULL; one byte keeps NULL for failure. */
	buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? errno : EIO;

			free(buf);
			close(fd);
			return -err;
		}
		off += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_size = off;
	return 0;
}

/* Runs one input; 0 or -1 (a failure already reported). */
static int run_one(const char *path)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int r = read_file(path, &data, &size);

	if (r < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
		return -1;
	}
	/* Named first: if the target crashes, the log shows which input did it. */
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
	r = LLVMFuzzerTestOneInput(data, size);
	free(data);
	if (r != 0 && r != -1) {
		fprintf(stderr, "replay: %s: the target returned %d\n", path, r);
		return -1;
	}
	return 0;
}

/* Runs every regular file of dir in name order; the count in *ran. */
static int run_dir(const char *dir, unsigned *ran)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort), i, status = 0;

	if (n < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if (ents[i]->d_name[0] == '.') {
			free(ents[i]);
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name) >=
		    sizeof(path)) {
			fprintf(stderr, "replay: %s/%s: path too long\n", dir, ents[i]->d_name);
			status = -1;
		} else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_one(path) < 0)
				status = -1;
			(*ran)++;
		}
		free(ents[i]);
	}
	free(ents);
	return status;
}

int main(int argc, char **argv)
{
	unsigned ran = 0;
	int i, status = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			status = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &ran) < 0)
				status = 1;
		} else {
			if (run_one(argv[i]) < 0)
				status = 1;
			ran++;
		}
	}
	if (ran == 0) {
		fprintf(stderr, "replay: no input found\n");
		status = 1;
	}
	printf("replay: %u inputs, %s\n", ran, status ? "FAILED" : "all passed");
	return status;
}
