/* parasold: the blocking, caching DNS forwarder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "parasol_config.h"
#include "resolver/config.h"
#include "resolver/daemon.h"
#include "resolver/log.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: parasold [-c FILE] [--check-config] [--KEY=VALUE ...]\n"
	    "\n"
	    "  -c FILE            configuration file (default: $PARASOL_CONFIG)\n"
	    "  --check-config     validate the configuration and exit\n"
	    "  --version          print the version and exit\n"
	    "\n"
	    "Every configuration key can be given as --KEY=VALUE and wins\n"
	    "over the file:\n");
	config_usage();
}

int
main(int argc, char **argv)
{
	static struct daemon d;
	static struct config cfg;
	const char *file = getenv("PARASOL_CONFIG");
	char **rest = calloc((size_t)argc + 1, sizeof(char *));
	int nrest = 0, check_only = 0, rc;
	char err[512];

	if (rest == NULL)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "parasold: -c needs a file\n");
				rc = 2;
				goto out;
			}
			file = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			file = argv[i] + 9;
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check_only = 1;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage();
			rc = 0;
			goto out;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("parasold %s\n", PARASOL_VERSION);
			rc = 0;
			goto out;
		} else {
			rest[nrest++] = argv[i];
		}
	}
	if (file != NULL && file[0] == '\0')
		file = NULL;
	if (config_load(&cfg, file, nrest, rest, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		rc = 2;
		goto out;
	}
	if (check_only) {
		fprintf(stderr, "%s: configuration ok\n",
		    file != NULL ? file : "command line");
		rc = 0;
		goto out;
	}
	log_level = cfg.log_level;
	if (sodium_init() < 0) {
		log_err("libsodium failed to initialise");
		rc = 1;
		goto out;
	}
	if (daemon_init(&d, uv_default_loop(), &cfg) != 0) {
		daemon_clear(&d);
		rc = 1;
		goto out;
	}
	d.config_file = file;
	d.argc = nrest;
	d.argv = rest;
	if (daemon_start(&d) != 0) {
		daemon_clear(&d);
		rc = 1;
		goto out;
	}
	uv_run(d.loop, UV_RUN_DEFAULT);
	daemon_clear(&d);
	uv_loop_close(d.loop);
	rc = d.exit_code;
out:
	/* Freed on every path: the sanitizer build checks for leaks. */
	free(rest);
	return rc;
}
