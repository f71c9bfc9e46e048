/*
 * The main() of a harness built without libFuzzer: every file of the
 * folders (or the files) named on the command line goes through
 * LLVMFuzzerTestOneInput once, in a buffer of exactly its size so a
 * sanitizer sees any read past the end. Prints the count replayed.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static unsigned replayed;

static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long n = -1;

	if (fp == NULL) {
		perror(path);
		return 1;
	}
	if (fseek(fp, 0, SEEK_END) == 0)
		n = ftell(fp);
	if (n < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		fprintf(stderr, "%s: cannot size\n", path);
		return 1;
	}
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		fclose(fp);
		free(buf);
		fprintf(stderr, "%s: cannot read\n", path);
		return 1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	replayed++;
	return 0;
}

static int
replay(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;
	int bad = 0;

	if (stat(path, &sb) != 0) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(sb.st_mode))
		return replay_file(path);
	d = opendir(path);
	if (d == NULL) {
		perror(path);
		return 1;
	}
	for (e = readdir(d); e != NULL; e = readdir(d)) {
		char sub[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		bad |= replay(sub);
	}
	closedir(d);
	return bad;
}

int
main(int argc, char **argv)
{
	int bad = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		bad |= replay(argv[i]);
	printf("%u inputs replayed\n", replayed);
	/* An empty corpus proves nothing. */
	return bad || replayed == 0;
}
