/*
 * Fuzz harness for resolver/config.c: the input is a configuration file
 * up to its first two NUL bytes in a row (so a lone NUL inside a line is
 * file content), then NUL-separated command-line arguments
 * ("--key=value"), loaded exactly as parasold loads them. The file goes
 * through a memfd so the real reader (fgets, line numbers, "line too
 * long") runs.
 *
 * Checked: a load either fails with a message or yields a configuration
 * that honours every bound parasold relies on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "resolver/config.h"
#include "tests/fuzz/fuzz.h"

#define ARGS_MAX 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	const uint8_t *nul = memmem(data, size, "\0\0", 2);
	size_t flen = nul != NULL ? (size_t)(nul - data) : size;
	char path[64], err[1024], *args, *argv[ARGS_MAX];
	int fd, argc = 0, rc;

	fd = memfd_create("parasol.conf", 0);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, flen) == (ssize_t)flen);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	/* The arguments, each its own exactly sized string. */
	args = malloc(size - flen + 1);
	FUZZ_CHECK(args != NULL);
	if (nul != NULL) {
		size_t alen = size - flen - 2;

		memcpy(args, nul + 2, alen);
		args[alen] = '\0';
		for (char *a = args; a < args + alen && argc < ARGS_MAX;
		     a += strlen(a) + 1)
			argv[argc++] = a;
	}
	err[0] = '\0';
	rc = config_load(&cfg, path, argc, argv, err, sizeof(err));
	close(fd);
	free(args);
	if (rc != 0) {
		FUZZ_CHECK(rc == -1 && err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(cfg.n_listen >= 1 && cfg.n_listen <= CONFIG_MAX_ADDRS);
	FUZZ_CHECK(cfg.n_upstream <= CONFIG_MAX_ADDRS);
	FUZZ_CHECK(cfg.n_allow >= 1 && cfg.n_allow <= CONFIG_MAX_NETS);
	FUZZ_CHECK(cfg.cache_min_ttl <= cfg.cache_max_ttl);
	FUZZ_CHECK(cfg.cache_min_ttl <= cfg.cache_neg_max_ttl);
	FUZZ_CHECK(cfg.upstream_timeout <= cfg.resolve_timeout);
	FUZZ_CHECK(cfg.edns_size >= 512 && cfg.edns_size <= 4096);
	FUZZ_CHECK(cfg.cache_size >= 64 * 1024);
	FUZZ_CHECK(cfg.lists_db[0] != '\0' && cfg.control[0] != '\0');
	FUZZ_CHECK(cfg.sinkhole.mode <= SINKHOLE_ADDRESS);
	return 0;
}
