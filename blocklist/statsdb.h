/*
 * stats.db: what parasold saw. Written only by the daemon's recorder
 * thread, in batched transactions (WAL); read by the CLI.
 *
 *   blocked   one row per (client, name, qtype) and fold window: first and
 *             last time, how often, and the deciding category, feed, rule
 *             and action. A miner retrying every second adds to count
 *             instead of adding rows.
 *   minutes   per-minute counters of all traffic: total, blocked, cached,
 *             forwarded, refused, errors. Every query is counted in
 *             exactly one of the five outcome columns.
 *   qtypes    per-minute query counts by type.
 *
 * Times are unix seconds (UTC). Retention deletes rows older than N days.
 */
#ifndef BLOCKLIST_STATSDB_H
#define BLOCKLIST_STATSDB_H

#include <stddef.h>
#include <stdint.h>

#include "blocklist/err.h"

#define BL_STATS_SCHEMA 1
#define STATS_DEFAULT_PATH "/var/lib/parasol/stats.db"

struct bl_stats;

/* One blocked lookup, as the recorder folds them. */
struct bl_stats_event {
	int64_t first; /* unix seconds */
	int64_t last;
	uint32_t count;
	uint16_t qtype;
	char client[48]; /* address text, no port */
	char name[254];
	char category[64];
	char feed[64];
	char rule[254];
	char action[16]; /* the sinkhole: null, nxdomain, ... */
};

/* The outcome counters of one minute. */
struct bl_stats_minute {
	int64_t minute; /* unix seconds, a multiple of 60 */
	uint64_t total;
	uint64_t blocked;
	uint64_t cached;
	uint64_t forwarded;
	uint64_t refused;
	uint64_t errors;
};

/*
 * Open (write: create and migrate; read-only otherwise). busy_ms bounds
 * every wait for a lock.
 */
int bl_stats_open(const char *path, int write, int busy_ms,
    struct bl_stats **out, char *err, size_t errlen);
void bl_stats_close(struct bl_stats *st);

/* Batches: begin, any number of writes, commit (or rollback). */
int bl_stats_begin(struct bl_stats *st, char *err, size_t errlen);
int bl_stats_commit(struct bl_stats *st, char *err, size_t errlen);
void bl_stats_rollback(struct bl_stats *st);

/*
 * Insert a blocked-lookup row; *rowid receives its id so later repeats in
 * the same fold window can be added to it with bl_stats_fold.
 */
int bl_stats_insert(struct bl_stats *st, const struct bl_stats_event *e,
    int64_t *rowid, char *err, size_t errlen);
/* BL_ENOENT when the row is gone (pruned): insert a new one instead. */
int bl_stats_fold(struct bl_stats *st, int64_t rowid, uint32_t count,
    int64_t last, char *err, size_t errlen);

/* Add to a minute's counters and to its per-type counts. */
int bl_stats_add_minute(struct bl_stats *st, const struct bl_stats_minute *m,
    char *err, size_t errlen);
int bl_stats_add_qtype(struct bl_stats *st, int64_t minute, uint16_t qtype,
    uint64_t n, char *err, size_t errlen);

/* Delete rows last seen before cutoff (unix seconds). */
int bl_stats_prune(struct bl_stats *st, int64_t cutoff, char *err,
    size_t errlen);

/*
 * Read-only open for the CLI, which may run as a user that can read the
 * database but not write its folder. A WAL reader needs the -shm file:
 * while parasold runs it exists and is opened read-only; when the daemon
 * is stopped (its last close checkpoints and removes -wal and -shm) and
 * -shm cannot be created, the file is complete on its own, so it is
 * opened again as immutable (no locks, no -shm). A non-empty -wal without
 * a usable -shm cannot be read this way: that error is returned.
 */
int bl_stats_open_reader(const char *path, int busy_ms, struct bl_stats **out,
    char *err, size_t errlen);

/*
 * Read side for the CLI: run one SELECT with text/integer parameters
 * (each "s:..." binds text, "i:..." an integer, in order) and hand every
 * row to cb as column values (NULL for SQL NULL). BL_EBUSY when locked
 * beyond busy_ms.
 */
typedef int (*bl_stats_row_cb)(int ncol, const char *const *vals,
    const char *const *cols, void *arg);
int bl_stats_select(struct bl_stats *st, const char *sql,
    const char *const *params, bl_stats_row_cb cb, void *arg, char *err,
    size_t errlen);

#endif
