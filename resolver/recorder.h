/*
 * The stats recorder: blocked lookups and per-minute traffic counters into
 * stats.db, without sqlite on the event loop.
 *
 * The loop side is a bounded hash table of this second's blocked lookups,
 * keyed by (client, name, type) with a SipHash key, plus outcome counters:
 * a miner asking the same name ten thousand times costs one table slot and
 * a counter. Once a second (and at stop) the loop hands the table and the
 * counters to a worker thread as one batch; the worker folds each lookup
 * into the row of the same (client, name, type) if that row is younger than
 * the fold window, or starts a new row, and writes the batch in one
 * transaction. When the table is full, too many batches wait, or a write
 * fails (disk full, database locked), the events are dropped, counted and
 * logged at most once a minute; resolution never waits for the disk.
 */
#ifndef RESOLVER_RECORDER_H
#define RESOLVER_RECORDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

enum rec_outcome {
	REC_BLOCKED = 0,
	REC_CACHED,
	REC_FORWARDED,
	REC_REFUSED,
	REC_ERROR,
	REC_N_OUTCOMES,
};

struct recorder_opts {
	const char *path;
	uint32_t fold_window_s; /* repeats within this fold into one row */
	uint32_t retention_days;
	int events; /* 0: counters only, no per-lookup rows (privacy) */
	size_t max_keys; /* distinct lookups per second before dropping */
};

struct recorder_stats {
	uint64_t events;  /* blocked lookups handed over */
	uint64_t written; /* ... and written */
	uint64_t dropped; /* lookups lost: table full, queue full, disk */
	uint64_t batches_failed;
};

struct recorder;

/* Starts the worker, which opens the database. NULL on failure. */
struct recorder *recorder_new(uv_loop_t *loop, const struct recorder_opts *o,
    char *err, size_t errlen);
/* Flush what is pending, stop the worker, close the timer; frees r. */
/* Writes what is left and stops the worker; last (may be NULL) gets the
 * final counts. */
void recorder_free(struct recorder *r, struct recorder_stats *last);

/* Every answered (or dropped) query, once, with its outcome. */
void recorder_outcome(struct recorder *r, enum rec_outcome o,
    uint16_t qtype);

/*
 * One blocked lookup. Names in lower-case wire form; category, feed and
 * action are copied.
 */
void recorder_blocked(struct recorder *r, const struct sockaddr *client,
    const uint8_t *qname, size_t qname_len, uint16_t qtype,
    const char *category, const char *feed, const uint8_t *rule,
    size_t rule_len, const char *action);

/* On the loop thread. */
void recorder_get_stats(struct recorder *r, struct recorder_stats *st);

#endif
