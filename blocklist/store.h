/*
 * lists.db: feeds, their entries, the admin's local rules and a generation
 * number bumped by every change, in one sqlite file (WAL). Every write is
 * one transaction, so a reader sees the old rule set or the new one, never
 * a half. Errors are translated here from sqlite's and copied into the
 * caller's buffer.
 */
#ifndef BLOCKLIST_STORE_H
#define BLOCKLIST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "blocklist/err.h"
#include "blocklist/match.h"

#define BL_STORE_SCHEMA 1

enum bl_store_mode {
	BL_STORE_RO = 0,
	BL_STORE_RW = 1,     /* must exist */
	BL_STORE_CREATE = 2, /* create and migrate as needed */
};

struct bl_store;

struct bl_local_rule {
	char name[254];
	enum bl_kind kind;
	enum bl_match_mode mode;
	char comment[256];
	int64_t added;
};

struct bl_feed_row {
	char id[64];
	char url[1024];
	char format[16];
	char category[64];
	enum bl_match_mode mode;
	int enabled;
	int allow_http;
	char pubkey[256];
	char etag[256];
	char last_modified[64];
	char digest[129];
	int64_t last_success;
	int64_t last_attempt;
	char last_error[512];
	int64_t entry_count;
	int64_t serial; /* last accepted signed serial/timestamp */
};

int bl_store_open(const char *path, enum bl_store_mode mode,
    int busy_timeout_ms, struct bl_store **out, char *err, size_t errlen);
void bl_store_close(struct bl_store *st);

int bl_store_generation(struct bl_store *st, uint64_t *gen, char *err,
    size_t errlen);
/* No feeds and no local rules: a fresh database. */
int bl_store_is_empty(struct bl_store *st, int *empty, char *err,
    size_t errlen);

/* Read every enabled rule, in one read transaction, into a snapshot. */
int bl_store_load(struct bl_store *st, struct bl_snapshot **out, char *err,
    size_t errlen);
/*
 * The same, but only rules for name (normalised) and its parents: what
 * "parasol check" needs without reading a million rows.
 */
int bl_store_load_for(struct bl_store *st, const char *name,
    struct bl_snapshot **out, char *err, size_t errlen);

/* Local rules; name must be normalised. Each bumps the generation. */
int bl_store_local_add(struct bl_store *st, const char *name,
    enum bl_kind kind, enum bl_match_mode mode, const char *comment,
    char *err, size_t errlen);
/* BL_ENOENT when there was no such rule. */
int bl_store_local_rm(struct bl_store *st, const char *name,
    enum bl_kind kind, char *err, size_t errlen);
typedef int (*bl_local_cb)(const struct bl_local_rule *r, void *arg);
int bl_store_local_list(struct bl_store *st, enum bl_kind kind,
    bl_local_cb cb, void *arg, char *err, size_t errlen);

/* Feeds. */
int bl_store_feed_get(struct bl_store *st, const char *id,
    struct bl_feed_row *out, char *err, size_t errlen);
typedef int (*bl_feed_cb)(const struct bl_feed_row *f, void *arg);
int bl_store_feed_list(struct bl_store *st, bl_feed_cb cb, void *arg,
    char *err, size_t errlen);

/*
 * Publishing: begin, replace the entries of any number of feeds and update
 * their rows, then commit (bumping the generation) or roll back.
 */
int bl_store_begin(struct bl_store *st, char *err, size_t errlen);
int bl_store_commit(struct bl_store *st, char *err, size_t errlen);
/* Commit without bumping the generation: only feed status columns
 * changed, so the daemon has nothing to reload. */
int bl_store_commit_status(struct bl_store *st, char *err, size_t errlen);
void bl_store_rollback(struct bl_store *st);
/* One nested savepoint inside a transaction, to undo one feed's part. */
enum bl_savepoint {
	BL_SAVEPOINT_BEGIN,
	BL_SAVEPOINT_RELEASE,
	BL_SAVEPOINT_ROLLBACK, /* undo since BEGIN, and release */
};
int bl_store_savepoint(struct bl_store *st, enum bl_savepoint op, char *err,
    size_t errlen);
/* Insert or update the row; statistics fields included. */
int bl_store_feed_put(struct bl_store *st, const struct bl_feed_row *f,
    char *err, size_t errlen);
int bl_store_feed_clear_entries(struct bl_store *st, const char *id,
    char *err, size_t errlen);
int bl_store_feed_add_entry(struct bl_store *st, const char *id,
    const char *name, enum bl_kind kind, enum bl_match_mode mode, char *err,
    size_t errlen);
int bl_store_feed_count_entries(struct bl_store *st, const char *id,
    int64_t *n, char *err, size_t errlen);

/* Each in its own transaction, bumping the generation; BL_ENOENT when
 * there is no such feed. Removing a feed removes its entries. */
int bl_store_feed_rm(struct bl_store *st, const char *id, char *err,
    size_t errlen);
int bl_store_feed_enable(struct bl_store *st, const char *id, int enabled,
    char *err, size_t errlen);

const char *bl_kind_name(enum bl_kind k);
const char *bl_mode_name(enum bl_match_mode m);

#endif
