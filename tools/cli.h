/*
 * The verbs of the admin CLI, "parasol". Each takes the remaining
 * arguments and the global options, prints for a person or as JSON, and
 * returns the process exit status.
 */
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

#include "blocklist/store.h"

#include <stddef.h>
#include <stdint.h>

enum cli_exit {
	CLI_OK = 0,
	CLI_BLOCKED = 1, /* "check": the name is blocked */
	CLI_UNHEALTHY = 1, /* "healthcheck": no good answer */
	CLI_USAGE = 2,
	CLI_DB = 3,      /* a database missing, unreadable or locked */
	CLI_DAEMON = 4,  /* parasold could not be reached or refused */
};

struct cli_opts {
	const char *lists_db;
	const char *stats_db;
	const char *control;
	int json;
	int exact;
	const char *comment;
	/* feeds add */
	const char *category;
	const char *format;
	const char *match;
	const char *pubkey;
	int allow_http; /* 1 --allow-http, -1 --no-allow-http, 0 unsaid */
	/* stats, top, log; category above filters them too */
	const char *since; /* a duration; NULL: 24h */
	const char *client;
	const char *name;
	const char *limit;
	int follow;
	/* healthcheck; name above is the question */
	const char *server;
	const char *timeout;
};

/* Open lists.db, printing what is wrong for a person; 0 or -1. */
int cli_open_lists(const struct cli_opts *o, enum bl_store_mode mode,
    struct bl_store **st);

int cli_check(const struct cli_opts *o, int argc, char **argv);
int cli_rules(const struct cli_opts *o, int allow, int argc, char **argv);
int cli_feeds(const struct cli_opts *o, int argc, char **argv);
/* Ask parasold to reload after a change; an unreachable one is a note. */
void cli_ask_reload(const struct cli_opts *o);
int cli_reload(const struct cli_opts *o, int argc, char **argv);

/* stats.c: reading stats.db, and the daemon's status. */
int cli_stats(const struct cli_opts *o, int argc, char **argv);
int cli_top(const struct cli_opts *o, int argc, char **argv);
int cli_log(const struct cli_opts *o, int argc, char **argv);
int cli_status(const struct cli_opts *o, int argc, char **argv);

/* health.c: one DNS question to parasold; 0 healthy, 1 not. */
int cli_healthcheck(const struct cli_opts *o, int argc, char **argv);

/*
 * "90s", "15m", "24h", "7d", "2w", sums like "1h30m", or plain seconds,
 * into *seconds (positive, at most 100 years). 0, or -1 when malformed.
 */
int cli_parse_duration(const char *s, int64_t *seconds);

/*
 * Client address text as the recorder writes it (IPv4-mapped IPv6 as
 * IPv4, IPv6 compressed) into out; 0, or -1 when s is no address.
 */
int cli_normalise_addr(const char *s, char *out, size_t cap);

/* The type's mnemonic ("A", "HTTPS", "TYPE300"); 65535 is "other". */
const char *cli_qtype_name(uint16_t qtype, char *buf, size_t cap);

/*
 * Fit s into width columns for a table: bytes outside printable ASCII
 * become '?', and a longer s loses its end (or, with CLI_FIT_END, its
 * start: the end of a domain name says more) to an ellipsis, "…" with
 * CLI_FIT_UTF8, "..." otherwise. Returns the columns used.
 */
#define CLI_FIT_END 1
#define CLI_FIT_UTF8 2
size_t cli_fit(const char *s, size_t width, int flags, char *out, size_t cap);

#endif
