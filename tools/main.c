/* parasol: the admin CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist/control.h"
#include "blocklist/statsdb.h"
#include "parasol_config.h"
#include "tools/cli.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: parasol [--lists-db=PATH] [--stats-db=PATH]\n"
	    "               [--control=PATH] [--json] VERB ...\n"
	    "\n"
	    "  check NAME                 is NAME blocked, and by which rule?\n"
	    "                             (exit 1 when blocked, 0 when not)\n"
	    "  allow add NAME [--exact] [--comment=TEXT]\n"
	    "  allow rm NAME | allow ls   local allow rules (beat every deny)\n"
	    "  deny add NAME [--exact] [--comment=TEXT]\n"
	    "  deny rm NAME | deny ls     local deny rules\n"
	    "  feeds add ID URL|PATH [--category=C] [--format=F]\n"
	    "            [--match=exact|subtree] [--pubkey=KEY] [--allow-http]\n"
	    "  feeds ls | feeds rm|enable|disable ID\n"
	    "                             the lists parasol-update keeps current\n"
	    "  reload                     rebuild parasold's blocklist now\n"
	    "  status                     how parasold is doing\n"
	    "  stats [--since=DURATION]   queries by outcome, category, type\n"
	    "  top clients [--since=DURATION] [--category=C] [--limit=N]\n"
	    "                             who keeps asking for blocked names\n"
	    "  top domains [--since=DURATION] [--category=C] [--client=ADDR]\n"
	    "              [--limit=N]    the most blocked names\n"
	    "  log [--client=ADDR] [--name=NAME] [--category=C]\n"
	    "      [--since=DURATION] [--limit=N] [--follow]\n"
	    "                             blocked lookups, newest first\n"
	    "  healthcheck [--server=ADDR[:PORT]] [--name=NAME] [--timeout=MS]\n"
	    "                             ask parasold one question over UDP\n"
	    "                             (exit 0 on NOERROR or NXDOMAIN, else 1)\n"
	    "\n"
	    "A local rule covers NAME and everything under it unless --exact.\n"
	    "DURATION: 90s, 15m, 24h, 7d, 2w or seconds (default 24h).\n"
	    "Defaults: --lists-db=%s\n"
	    "          --stats-db=%s\n"
	    "          --control=%s\n",
	    LISTS_DEFAULT_PATH, STATS_DEFAULT_PATH, CONTROL_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	struct cli_opts o = {
	    .lists_db = LISTS_DEFAULT_PATH,
	    .stats_db = STATS_DEFAULT_PATH,
	    .control = CONTROL_DEFAULT_PATH,
	    .comment = "",
	};
	char **args = calloc((size_t)argc + 1, sizeof(char *));
	int n = 0, rc;

	if (args == NULL)
		return CLI_USAGE;
	if (getenv("PARASOL_LISTS_DB") != NULL)
		o.lists_db = getenv("PARASOL_LISTS_DB");
	if (getenv("PARASOL_STATS_DB") != NULL)
		o.stats_db = getenv("PARASOL_STATS_DB");
	if (getenv("PARASOL_CONTROL") != NULL)
		o.control = getenv("PARASOL_CONTROL");
	/* Options may come anywhere: "parasol check x --json" works. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strncmp(a, "--lists-db=", 11) == 0)
			o.lists_db = a + 11;
		else if (strncmp(a, "--stats-db=", 11) == 0)
			o.stats_db = a + 11;
		else if (strncmp(a, "--control=", 10) == 0)
			o.control = a + 10;
		else if (strcmp(a, "--json") == 0)
			o.json = 1;
		else if (strcmp(a, "--exact") == 0)
			o.exact = 1;
		else if (strncmp(a, "--comment=", 10) == 0)
			o.comment = a + 10;
		else if (strncmp(a, "--category=", 11) == 0)
			o.category = a + 11;
		else if (strncmp(a, "--format=", 9) == 0)
			o.format = a + 9;
		else if (strncmp(a, "--match=", 8) == 0)
			o.match = a + 8;
		else if (strncmp(a, "--pubkey=", 9) == 0)
			o.pubkey = a + 9;
		else if (strcmp(a, "--allow-http") == 0)
			o.allow_http = 1;
		else if (strcmp(a, "--no-allow-http") == 0)
			o.allow_http = -1;
		else if (strncmp(a, "--since=", 8) == 0)
			o.since = a + 8;
		else if (strncmp(a, "--client=", 9) == 0)
			o.client = a + 9;
		else if (strncmp(a, "--name=", 7) == 0)
			o.name = a + 7;
		else if (strncmp(a, "--limit=", 8) == 0)
			o.limit = a + 8;
		else if (strncmp(a, "--server=", 9) == 0)
			o.server = a + 9;
		else if (strncmp(a, "--timeout=", 10) == 0)
			o.timeout = a + 10;
		else if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0)
			o.follow = 1;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			free(args);
			return CLI_OK;
		} else if (strcmp(a, "--version") == 0) {
			printf("parasol %s\n", PARASOL_VERSION);
			free(args);
			return CLI_OK;
		} else if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
			fprintf(stderr, "parasol: unknown option %s\n", a);
			free(args);
			return CLI_USAGE;
		} else {
			args[n++] = argv[i];
		}
	}
	if (n == 0) {
		usage(stderr);
		rc = CLI_USAGE;
	} else if (strcmp(args[0], "check") == 0) {
		rc = cli_check(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "allow") == 0) {
		rc = cli_rules(&o, 1, n - 1, args + 1);
	} else if (strcmp(args[0], "deny") == 0) {
		rc = cli_rules(&o, 0, n - 1, args + 1);
	} else if (strcmp(args[0], "feeds") == 0) {
		rc = cli_feeds(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "reload") == 0) {
		rc = cli_reload(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "status") == 0) {
		rc = cli_status(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "stats") == 0) {
		rc = cli_stats(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "top") == 0) {
		rc = cli_top(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "log") == 0) {
		rc = cli_log(&o, n - 1, args + 1);
	} else if (strcmp(args[0], "healthcheck") == 0) {
		rc = cli_healthcheck(&o, n - 1, args + 1);
	} else {
		fprintf(stderr, "parasol: unknown verb '%s'\n", args[0]);
		usage(stderr);
		rc = CLI_USAGE;
	}
	free(args);
	return rc;
}
