/*
 * One run of the feed updater: fetch every enabled feed (or the ones
 * asked for), verify and parse what came back, check it against the
 * guards, and publish every accepted feed in one lists.db transaction that
 * bumps the generation. A feed that fails anywhere keeps its previous
 * entries; its row records why. Then parasold is asked to reload.
 */
#ifndef FEEDS_UPDATE_H
#define FEEDS_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "feeds/fetch.h"
#include "feeds/parse.h"

/* Exit codes of parasol-update (sysexits.h values where one fits). */
enum feed_exit {
	FEED_EXIT_OK = 0,           /* every feed updated or unchanged */
	FEED_EXIT_PARTIAL = 1,      /* some feeds failed, the rest applied */
	FEED_EXIT_USAGE = 64,       /* bad command line */
	FEED_EXIT_NOTHING = 69,     /* no feed could be fetched */
	FEED_EXIT_DB = 74,          /* lists.db could not be read or written */
	FEED_EXIT_LOCKED = 75,      /* another update held the lock too long */
	FEED_EXIT_CONFIG = 78,      /* no feeds, unknown feed, bad config */
};

enum feed_outcome {
	FEED_UPDATED = 0,  /* new entries published */
	FEED_NOT_MODIFIED, /* 304 */
	FEED_UNCHANGED,    /* same content digest as last time */
	FEED_FAILED,       /* previous entries kept */
};

struct feed_update_opts {
	const char *lists_db;
	const char *control; /* NULL: do not ask parasold to reload */
	const char *const *only; /* feed ids, NULL-ended; NULL: all enabled */
	struct feed_fetch_opts fetch;
	double max_shrink;  /* refuse to lose more than this fraction */
	double max_invalid; /* refuse more invalid lines than this fraction */
	int lock_wait_ms;
	int force;       /* no conditional GET, no digest shortcut */
	const char *const *protect; /* names no feed may block, NULL-ended */
	/* DNS servers ("ADDR[:PORT]", NULL-ended) to resolve feed hosts
	 * with, so an update never depends on parasold; NULL: the system's
	 * resolver. Pins in fetch.resolve win. */
	const char *const *dns;
};

struct feed_result {
	char id[64];
	char category[64];
	enum feed_outcome outcome;
	const char *format; /* format name used */
	long http_status;
	size_t bytes;
	double seconds;
	int64_t entries;  /* in lists.db after the run */
	int64_t previous; /* before it */
	size_t rules, allows, skipped, invalid;
	size_t suffixes;  /* public suffixes left out (co.uk, x.kh) */
	char suffix[254]; /* the first of them */
	int64_t serial; /* accepted signed serial, -1 for unsigned feeds */
	char error[512];
	size_t n_examples;
	char examples[FEED_PARSE_EXAMPLES][200];
};

struct feed_run {
	struct feed_result *results;
	size_t n;
	uint64_t generation; /* after the run */
	int published;       /* the generation was bumped */
	int reload;          /* 1 parasold reloaded, 0 not asked, -1 failed */
	char reload_msg[256];
	double seconds;
	enum feed_exit exit_code;
	char error[512]; /* why the run as a whole failed */
	char warning[512]; /* e.g. a feed host that did not resolve */
};

typedef void (*feed_update_progress_cb)(const struct feed_run *run,
    const struct feed_fetch *f, size_t n, void *arg);

/*
 * Run an update. Always fills run (free with feed_run_clear); the return
 * value is run->exit_code.
 */
enum feed_exit feed_update_run(const struct feed_update_opts *o,
    struct feed_run *run, feed_update_progress_cb progress, void *arg);
void feed_run_clear(struct feed_run *run);

const char *feed_outcome_name(enum feed_outcome o);

#endif
