/*
 * Fuzz harness for feeds/parse.c. The first byte picks the format (auto,
 * hosts, domains, adblock, rpz, dnsmasq), the rest is the feed body. Every
 * name handed out must already be normalised.
 *
 * Built with -fsanitize=fuzzer (and -DFUZZ_LIBFUZZER) it is a libFuzzer
 * target; built without, it is a program that replays the files and
 * folders named on its command line, so a corpus runs as a plain test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "blocklist/name.h"
#include "feeds/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_cb(const char *name, enum bl_kind kind, int subtree, void *arg)
{
	char again[BL_NAME_MAX + 1], why[128];

	(void)arg;
	if (strlen(name) > BL_NAME_MAX ||
	    bl_name_normalise(name, again, why, sizeof(why)) != 0 ||
	    strcmp(name, again) != 0 || (kind != BL_DENY && kind != BL_ALLOW) ||
	    (subtree != 0 && subtree != 1))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_parse_stats st;
	char err[300];
	int rc;

	if (size == 0)
		return 0;
	rc = feed_parse((const char *)data + 1, size - 1,
	    (enum feed_format)(data[0] % (FEED_FMT_DNSMASQ + 1)), check_cb,
	    NULL, &st, err, sizeof(err));
	if ((rc != 0 && rc != -1) || st.n_examples > FEED_PARSE_EXAMPLES ||
	    st.allows > st.rules)
		abort();
	(void)feed_format_detect((const char *)data, size);
	return 0;
}

#ifndef FUZZ_LIBFUZZER
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
	/* Exactly sized, so a sanitizer sees any read past the end. */
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
	return bad;
}
#endif
