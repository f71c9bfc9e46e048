#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blocklist/db.h"
#include "blocklist/statsdb.h"

struct bl_stats {
	sqlite3 *db;
	sqlite3_stmt *insert;
	sqlite3_stmt *fold;
	sqlite3_stmt *minute;
	sqlite3_stmt *qtype;
};

static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE blocked ("
    "  id INTEGER PRIMARY KEY,"
    "  first INTEGER NOT NULL,"
    "  last INTEGER NOT NULL,"
    "  count INTEGER NOT NULL DEFAULT 1,"
    "  client TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  qtype INTEGER NOT NULL,"
    "  category TEXT NOT NULL,"
    "  feed TEXT NOT NULL,"
    "  rule TEXT NOT NULL,"
    "  action TEXT NOT NULL);"
    "CREATE INDEX blocked_by_last ON blocked (last);"
    "CREATE INDEX blocked_by_client ON blocked (client, last);"
    "CREATE INDEX blocked_by_name ON blocked (name, last);"
    "CREATE TABLE minutes ("
    "  minute INTEGER PRIMARY KEY,"
    "  total INTEGER NOT NULL DEFAULT 0,"
    "  blocked INTEGER NOT NULL DEFAULT 0,"
    "  cached INTEGER NOT NULL DEFAULT 0,"
    "  forwarded INTEGER NOT NULL DEFAULT 0,"
    "  refused INTEGER NOT NULL DEFAULT 0,"
    "  errors INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE qtypes ("
    "  minute INTEGER NOT NULL,"
    "  qtype INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  PRIMARY KEY (minute, qtype)) WITHOUT ROWID;",
};

#define N_MIGRATIONS (int)(sizeof(migrations) / sizeof(migrations[0]))


static int
exec(struct bl_stats *st, const char *sql, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

static int
user_version(struct bl_stats *st, int *v, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "reading schema version", err,
		    errlen);
	rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0
				: bl_db_error(st->db, rc, "reading schema version",
				      err, errlen);
}

static int
migrate(struct bl_stats *st, char *err, size_t errlen)
{
	char sql[64];
	int v, rc;

	rc = user_version(st, &v, err, errlen);
	if (rc != 0)
		return rc;
	if (v > N_MIGRATIONS) {
		snprintf(err, errlen,
		    "schema version %d is newer than this Parasol (%d)", v,
		    N_MIGRATIONS);
		return BL_ESCHEMA;
	}
	for (; v < N_MIGRATIONS; v++) {
		rc = exec(st, "BEGIN IMMEDIATE", "migrating", err, errlen);
		if (rc == 0)
			rc = exec(st, migrations[v], "migrating", err, errlen);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (rc == 0)
			rc = exec(st, sql, "migrating", err, errlen);
		if (rc == 0)
			rc = exec(st, "COMMIT", "migrating", err, errlen);
		if (rc != 0) {
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
	}
	return 0;
}

int
bl_stats_open(const char *path, int write, int busy_ms, struct bl_stats **out,
    char *err, size_t errlen)
{
	struct bl_stats *st = calloc(1, sizeof(*st));
	int flags = write ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
			  : SQLITE_OPEN_READONLY;
	int rc, v;

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	if (write)
		bl_db_make_parent(path);
	rc = sqlite3_open_v2(path, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, path, err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, busy_ms);
	sqlite3_extended_result_codes(st->db, 0);
	if (write) {
		rc = exec(st,
		    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
		    path, err, errlen);
		if (rc == 0)
			rc = migrate(st, err, errlen);
		if (rc != 0)
			goto fail;
	} else {
		rc = user_version(st, &v, err, errlen);
		if (rc != 0)
			goto fail;
		if (v == 0) {
			snprintf(err, errlen, "%s: not a Parasol stats database",
			    path);
			rc = BL_ECORRUPT;
			goto fail;
		}
		if (v > N_MIGRATIONS) {
			snprintf(err, errlen,
			    "%s: schema version %d is newer than this Parasol",
			    path, v);
			rc = BL_ESCHEMA;
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	bl_stats_close(st);
	return rc;
}

void
bl_stats_close(struct bl_stats *st)
{
	if (st == NULL)
		return;
	sqlite3_finalize(st->insert);
	sqlite3_finalize(st->fold);
	sqlite3_finalize(st->minute);
	sqlite3_finalize(st->qtype);
	sqlite3_close(st->db);
	free(st);
}

int
bl_stats_begin(struct bl_stats *st, char *err, size_t errlen)
{
	return exec(st, "BEGIN IMMEDIATE", "starting a transaction", err,
	    errlen);
}

int
bl_stats_commit(struct bl_stats *st, char *err, size_t errlen)
{
	int rc = exec(st, "COMMIT", "committing", err, errlen);

	if (rc != 0)
		bl_stats_rollback(st);
	return rc;
}

void
bl_stats_rollback(struct bl_stats *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

static int
prepare(struct bl_stats *st, sqlite3_stmt **s, const char *sql,
    const char *what, char *err, size_t errlen)
{
	int rc;

	if (*s != NULL)
		return 0;
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s,
	    NULL);
	return rc == SQLITE_OK ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

static int
step(struct bl_stats *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

int
bl_stats_insert(struct bl_stats *st, const struct bl_stats_event *e,
    int64_t *rowid, char *err, size_t errlen)
{
	int rc = prepare(st, &st->insert,
	    "INSERT INTO blocked (first, last, count, client, name, qtype,"
	    " category, feed, rule, action)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	    "recording", err, errlen);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st->insert, 1, e->first);
	sqlite3_bind_int64(st->insert, 2, e->last);
	sqlite3_bind_int64(st->insert, 3, e->count);
	sqlite3_bind_text(st->insert, 4, e->client, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 5, e->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st->insert, 6, e->qtype);
	sqlite3_bind_text(st->insert, 7, e->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 8, e->feed, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 9, e->rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->insert, 10, e->action, -1, SQLITE_STATIC);
	rc = step(st, st->insert, "recording", err, errlen);
	if (rc == 0)
		*rowid = sqlite3_last_insert_rowid(st->db);
	return rc;
}

int
bl_stats_fold(struct bl_stats *st, int64_t rowid, uint32_t count,
    int64_t last, char *err, size_t errlen)
{
	int rc = prepare(st, &st->fold,
	    "UPDATE blocked SET count = count + ?2, last = max(last, ?3)"
	    " WHERE id = ?1",
	    "recording", err, errlen);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st->fold, 1, rowid);
	sqlite3_bind_int64(st->fold, 2, count);
	sqlite3_bind_int64(st->fold, 3, last);
	rc = step(st, st->fold, "recording", err, errlen);
	if (rc == 0 && sqlite3_changes(st->db) == 0) {
		snprintf(err, errlen, "row %lld is gone", (long long)rowid);
		return BL_ENOENT;
	}
	return rc;
}

int
bl_stats_add_minute(struct bl_stats *st, const struct bl_stats_minute *m,
    char *err, size_t errlen)
{
	int rc = prepare(st, &st->minute,
	    "INSERT INTO minutes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (minute) DO UPDATE SET total = total + ?2,"
	    " blocked = blocked + ?3, cached = cached + ?4,"
	    " forwarded = forwarded + ?5, refused = refused + ?6,"
	    " errors = errors + ?7",
	    "recording counters", err, errlen);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st->minute, 1, m->minute);
	sqlite3_bind_int64(st->minute, 2, (sqlite3_int64)m->total);
	sqlite3_bind_int64(st->minute, 3, (sqlite3_int64)m->blocked);
	sqlite3_bind_int64(st->minute, 4, (sqlite3_int64)m->cached);
	sqlite3_bind_int64(st->minute, 5, (sqlite3_int64)m->forwarded);
	sqlite3_bind_int64(st->minute, 6, (sqlite3_int64)m->refused);
	sqlite3_bind_int64(st->minute, 7, (sqlite3_int64)m->errors);
	return step(st, st->minute, "recording counters", err, errlen);
}

int
bl_stats_add_qtype(struct bl_stats *st, int64_t minute, uint16_t qtype,
    uint64_t n, char *err, size_t errlen)
{
	int rc = prepare(st, &st->qtype,
	    "INSERT INTO qtypes VALUES (?1, ?2, ?3)"
	    " ON CONFLICT (minute, qtype) DO UPDATE SET n = n + ?3",
	    "recording counters", err, errlen);

	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st->qtype, 1, minute);
	sqlite3_bind_int(st->qtype, 2, qtype);
	sqlite3_bind_int64(st->qtype, 3, (sqlite3_int64)n);
	return step(st, st->qtype, "recording counters", err, errlen);
}

int
bl_stats_prune(struct bl_stats *st, int64_t cutoff, char *err,
    size_t errlen)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	    "DELETE FROM blocked WHERE last < %lld;"
	    "DELETE FROM minutes WHERE minute < %lld;"
	    "DELETE FROM qtypes WHERE minute < %lld",
	    (long long)cutoff, (long long)cutoff, (long long)cutoff);
	return exec(st, sql, "pruning", err, errlen);
}

/* The schema checks of a read-only open: a stats.db this Parasol reads. */
static int
check_reader(struct bl_stats *st, const char *path, char *err, size_t errlen)
{
	int rc, v;

	rc = user_version(st, &v, err, errlen);
	if (rc != 0)
		return rc;
	if (v == 0) {
		snprintf(err, errlen, "%s: not a Parasol stats database", path);
		return BL_ECORRUPT;
	}
	if (v > N_MIGRATIONS) {
		snprintf(err, errlen,
		    "%s: schema version %d is newer than this Parasol", path,
		    v);
		return BL_ESCHEMA;
	}
	return 0;
}

int
bl_stats_open_reader(const char *path, int busy_ms, struct bl_stats **out,
    char *err, size_t errlen)
{
	char wal[4096 + 8], uri[3 * 4096 + 32];
	struct bl_stats *st;
	struct stat sb;
	int rc;

	rc = bl_stats_open(path, 0, busy_ms, out, err, errlen);
	if (rc != BL_ERR && rc != BL_ENOENT)
		return rc;
	/* Missing or unreadable: immutable would not help. */
	if (stat(path, &sb) != 0 || access(path, R_OK) != 0)
		return rc;
	/* Commits still in the WAL would be invisible to an immutable open. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	if (stat(wal, &sb) == 0 && sb.st_size > 0)
		return rc;
	if (bl_db_immutable_uri(path, uri, sizeof(uri)) != 0)
		return rc;
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	rc = sqlite3_open_v2(uri, &st->db,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, path, err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, busy_ms);
	sqlite3_extended_result_codes(st->db, 0);
	rc = check_reader(st, path, err, errlen);
	if (rc != 0)
		goto fail;
	*out = st;
	return 0;
fail:
	bl_stats_close(st);
	return rc;
}

int
bl_stats_select(struct bl_stats *st, const char *sql,
    const char *const *params, bl_stats_row_cb cb, void *arg, char *err,
    size_t errlen)
{
	const char *vals[32], *cols[32];
	sqlite3_stmt *s;
	int rc, ncol;

	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "reading stats", err, errlen);
	for (int i = 0; params != NULL && params[i] != NULL; i++) {
		const char *p = params[i];

		if (strncmp(p, "i:", 2) == 0)
			sqlite3_bind_int64(s, i + 1, strtoll(p + 2, NULL, 10));
		else
			sqlite3_bind_text(s, i + 1,
			    strncmp(p, "s:", 2) == 0 ? p + 2 : p, -1,
			    SQLITE_STATIC);
	}
	ncol = sqlite3_column_count(s);
	if (ncol > 32)
		ncol = 32;
	for (int i = 0; i < ncol; i++)
		cols[i] = sqlite3_column_name(s, i);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < ncol; i++)
			vals[i] = (const char *)sqlite3_column_text(s, i);
		if (cb(ncol, vals, cols, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0
				 : bl_db_error(st->db, rc, "reading stats", err,
				       errlen);
}
