#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blocklist/db.h"
#include "blocklist/name.h"
#include "blocklist/store.h"

struct bl_store {
	sqlite3 *db;
	sqlite3_stmt *add_entry;
	int in_tx;
};

static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL);"
    "INSERT INTO meta VALUES ('generation', 0);"
    "CREATE TABLE feeds ("
    "  id TEXT PRIMARY KEY,"
    "  url TEXT NOT NULL,"
    "  format TEXT NOT NULL DEFAULT 'auto',"
    "  category TEXT NOT NULL DEFAULT 'mining',"
    "  match TEXT NOT NULL DEFAULT 'subtree'"
    "    CHECK (match IN ('exact', 'subtree')),"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  allow_http INTEGER NOT NULL DEFAULT 0,"
    "  pubkey TEXT,"
    "  etag TEXT,"
    "  last_modified TEXT,"
    "  digest TEXT,"
    "  serial INTEGER NOT NULL DEFAULT 0,"
    "  last_success INTEGER,"
    "  last_attempt INTEGER,"
    "  last_error TEXT,"
    "  entry_count INTEGER NOT NULL DEFAULT 0,"
    "  added INTEGER NOT NULL DEFAULT (unixepoch()));"
    "CREATE TABLE entries ("
    "  feed TEXT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('deny', 'allow')),"
    "  match TEXT NOT NULL CHECK (match IN ('exact', 'subtree')),"
    "  PRIMARY KEY (feed, name, kind)) WITHOUT ROWID;"
    "CREATE INDEX entries_by_name ON entries (name);"
    "CREATE TABLE local_rules ("
    "  name TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('deny', 'allow')),"
    "  match TEXT NOT NULL CHECK (match IN ('exact', 'subtree')),"
    "  comment TEXT NOT NULL DEFAULT '',"
    "  added INTEGER NOT NULL DEFAULT (unixepoch()),"
    "  PRIMARY KEY (name, kind)) WITHOUT ROWID;",
};

#define N_MIGRATIONS (int)(sizeof(migrations) / sizeof(migrations[0]))

const char *
bl_kind_name(enum bl_kind k)
{
	return k == BL_ALLOW ? "allow" : "deny";
}

const char *
bl_mode_name(enum bl_match_mode m)
{
	return m == BL_EXACT ? "exact" : "subtree";
}


static int
exec(struct bl_store *st, const char *sql, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

static int
migrate(struct bl_store *st, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int version = 0, rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "reading schema version", err,
		    errlen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW)
		return bl_db_error(st->db, rc, "reading schema version", err,
		    errlen);
	if (version > N_MIGRATIONS) {
		snprintf(err, errlen,
		    "schema version %d is newer than this Parasol (%d)", version,
		    N_MIGRATIONS);
		return BL_ESCHEMA;
	}
	for (int v = version; v < N_MIGRATIONS; v++) {
		char sql[64];

		rc = exec(st, "BEGIN IMMEDIATE", "migrating", err, errlen);
		if (rc != 0)
			return rc;
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

/* name is what sqlite opens (a path or a file: URI), path what we report. */
static int
open_db(const char *name, const char *path, int uri,
    enum bl_store_mode mode, int busy_timeout_ms, struct bl_store **out,
    char *err, size_t errlen)
{
	struct bl_store *st = calloc(1, sizeof(*st));
	int flags, rc;

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	flags = mode == BL_STORE_RO ? SQLITE_OPEN_READONLY
				    : SQLITE_OPEN_READWRITE;
	if (mode == BL_STORE_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	if (uri)
		flags |= SQLITE_OPEN_URI;
	rc = sqlite3_open_v2(name, &st->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, path, err, errlen);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, busy_timeout_ms);
	sqlite3_extended_result_codes(st->db, 0);
	if (mode != BL_STORE_RO) {
		rc = exec(st,
		    "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;"
		    "PRAGMA synchronous = NORMAL",
		    path, err, errlen);
		if (rc != 0)
			goto fail;
	}
	if (mode == BL_STORE_CREATE) {
		rc = migrate(st, err, errlen);
		if (rc != 0)
			goto fail;
	} else {
		/* A file that is not ours, or from a newer version. */
		sqlite3_stmt *s;
		int v = -1;

		rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s,
		    NULL);
		if (rc == SQLITE_OK) {
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW)
				v = sqlite3_column_int(s, 0);
			sqlite3_finalize(s);
		}
		if (v < 0) {
			rc = bl_db_error(st->db, rc, path, err, errlen);
			goto fail;
		}
		if (v != N_MIGRATIONS) {
			snprintf(err, errlen,
			    "%s: schema version %d, expected %d%s", path, v,
			    N_MIGRATIONS,
			    v == 0 ? " (not a Parasol lists database?)" : "");
			rc = BL_ESCHEMA;
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	sqlite3_close(st->db);
	free(st);
	return rc;
}


int
bl_store_open(const char *path, enum bl_store_mode mode, int busy_timeout_ms,
    struct bl_store **out, char *err, size_t errlen)
{
	char wal[4096 + 8], uri[3 * 4096 + 32];
	struct stat sb;
	int rc;

	/* Say what is wrong with a file we cannot read; sqlite would only
	 * say "unable to open". */
	if (stat(path, &sb) == 0 && access(path, mode == BL_STORE_RO ? R_OK
								   : R_OK | W_OK) !=
		0) {
		snprintf(err, errlen, "%.3000s: cannot %s: %s", path,
		    mode == BL_STORE_RO ? "read" : "write", strerror(errno));
		return BL_ERR;
	}
	if (mode == BL_STORE_CREATE)
		bl_db_make_parent(path);
	rc = open_db(path, path, 0, mode, busy_timeout_ms, out, err, errlen);
	if (rc == 0 || mode != BL_STORE_RO || rc == BL_ECORRUPT ||
	    rc == BL_ESCHEMA || rc == BL_ENOENT)
		return rc;
	/*
	 * A reader that may not write the folder cannot create the WAL
	 * index (-shm) sqlite wants. With no commits waiting in the WAL the
	 * file alone is the whole truth: read it as immutable.
	 */
	snprintf(wal, sizeof(wal), "%.4000s-wal", path);
	if ((stat(wal, &sb) == 0 && sb.st_size > 0) ||
	    bl_db_immutable_uri(path, uri, sizeof(uri)) != 0)
		return rc;
	return open_db(uri, path, 1, mode, busy_timeout_ms, out, err, errlen) ==
		0
	    ? 0
	    : rc;
}

void
bl_store_close(struct bl_store *st)
{
	if (st == NULL)
		return;
	if (st->in_tx)
		bl_store_rollback(st);
	sqlite3_finalize(st->add_entry);
	sqlite3_close(st->db);
	free(st);
}

static int
query_int(struct bl_store *st, const char *sql, int64_t *v, const char *what,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);

	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, what, err, errlen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*v = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		*v = 0;
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_OK ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

int
bl_store_generation(struct bl_store *st, uint64_t *gen, char *err,
    size_t errlen)
{
	int64_t v = 0;
	int rc = query_int(st,
	    "SELECT value FROM meta WHERE key = 'generation'", &v,
	    "reading generation", err, errlen);

	if (rc == 0)
		*gen = (uint64_t)v;
	return rc;
}

int
bl_store_is_empty(struct bl_store *st, int *empty, char *err, size_t errlen)
{
	int64_t n = 0;
	int rc = query_int(st,
	    "SELECT (SELECT count(*) FROM feeds) +"
	    " (SELECT count(*) FROM local_rules)",
	    &n, "counting rules", err, errlen);

	if (rc == 0)
		*empty = n == 0;
	return rc;
}

static int
parse_mode(const unsigned char *t, enum bl_match_mode *m)
{
	if (t == NULL)
		return -1;
	if (strcmp((const char *)t, "exact") == 0)
		*m = BL_EXACT;
	else if (strcmp((const char *)t, "subtree") == 0)
		*m = BL_SUBTREE;
	else
		return -1;
	return 0;
}

static int
parse_kind(const unsigned char *t, enum bl_kind *k)
{
	if (t == NULL)
		return -1;
	if (strcmp((const char *)t, "deny") == 0)
		*k = BL_DENY;
	else if (strcmp((const char *)t, "allow") == 0)
		*k = BL_ALLOW;
	else
		return -1;
	return 0;
}

/*
 * Add rows of (name, kind, match, feed) to the builder. Feeds must already
 * be in it, in ids[]. Rows read back from sqlite are checked again: the
 * file may have been edited by hand.
 */
/*
 * Rows of (name, kind, match[, feed]). fixed >= 0: every row is that
 * feed's; otherwise column 3 names the feed (NULL: a local rule).
 */
static int
load_rows(struct bl_store *st, sqlite3_stmt *s, struct bl_builder *b,
    char (*ids)[64], size_t n_ids, int fixed, size_t *bad, char *err,
    size_t errlen)
{
	int rc;
	size_t last = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *name = sqlite3_column_text(s, 0);
		const unsigned char *feed =
		    fixed >= 0 ? NULL : sqlite3_column_text(s, 3);
		enum bl_kind kind;
		enum bl_match_mode mode;
		uint8_t wire[BL_WIRE_MAX];
		int wl;
		size_t fi = fixed >= 0 ? (size_t)fixed : 0;

		if (name == NULL || parse_kind(sqlite3_column_text(s, 1), &kind) ||
		    parse_mode(sqlite3_column_text(s, 2), &mode) ||
		    (wl = bl_name_to_wire((const char *)name, wire)) < 0) {
			(*bad)++;
			continue;
		}
		if (feed != NULL) {
			/* Rows come grouped by feed: usually the same one. */
			if (last < n_ids &&
			    strcmp(ids[last], (const char *)feed) == 0) {
				fi = last;
			} else {
				for (fi = 1; fi < n_ids; fi++) {
					if (strcmp(ids[fi], (const char *)feed) == 0)
						break;
				}
				if (fi == n_ids) {
					(*bad)++;
					continue;
				}
				last = fi;
			}
		}
		if (bl_builder_add(b, wire, (size_t)wl, kind, mode,
			(uint16_t)fi) != 0) {
			snprintf(err, errlen, "out of memory building the snapshot");
			return BL_ENOMEM;
		}
	}
	return rc == SQLITE_DONE ? 0
				 : bl_db_error(st->db, rc, "reading rules", err, errlen);
}

static int
count_rows(struct bl_store *st, sqlite3_stmt *s, size_t *n, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(s);

	if (rc != SQLITE_ROW)
		return bl_db_error(st->db, rc, "counting rules", err, errlen);
	*n += (size_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

static int
load_all(struct bl_store *st, struct bl_builder *b, char (*ids)[64],
    size_t n_ids, size_t *bad, char *err, size_t errlen)
{
	sqlite3_stmt *cnt = NULL, *rows = NULL, *local = NULL;
	size_t total = 0;
	int rc;

	rc = sqlite3_prepare_v2(st->db,
	    "SELECT count(*) FROM entries WHERE feed = ?1", -1, &cnt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db,
		    "SELECT name, kind, match FROM entries WHERE feed = ?1", -1,
		    &rows, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(st->db,
		    "SELECT name, kind, match FROM local_rules", -1, &local,
		    NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, "reading rules", err, errlen);
		goto out;
	}
	for (size_t fi = 1; fi < n_ids && rc == 0; fi++) {
		sqlite3_bind_text(cnt, 1, ids[fi], -1, SQLITE_STATIC);
		rc = count_rows(st, cnt, &total, err, errlen);
	}
	if (rc != 0)
		goto out;
	if (bl_builder_reserve(b, total + 1024) != 0) {
		rc = BL_ENOMEM;
		snprintf(err, errlen, "out of memory building the snapshot");
		goto out;
	}
	for (size_t fi = 1; fi < n_ids && rc == 0; fi++) {
		sqlite3_bind_text(rows, 1, ids[fi], -1, SQLITE_STATIC);
		rc = load_rows(st, rows, b, ids, n_ids, (int)fi, bad, err,
		    errlen);
		sqlite3_reset(rows);
	}
	if (rc == 0)
		rc = load_rows(st, local, b, ids, n_ids, -1, bad, err, errlen);
out:
	sqlite3_finalize(cnt);
	sqlite3_finalize(rows);
	sqlite3_finalize(local);
	return rc;
}

static int
load(struct bl_store *st, const char *name, struct bl_snapshot **out,
    char *err, size_t errlen)
{
	struct bl_builder *b = NULL;
	sqlite3_stmt *s = NULL;
	char (*ids)[64] = NULL;
	size_t n_ids = 1, bad = 0;
	uint64_t gen = 0;
	int rc;
	/* name's own rules and its parents': the suffixes at each dot. */
	static const char *const suffix_cte =
	    "WITH RECURSIVE sfx(s) AS (SELECT ?1 UNION ALL"
	    " SELECT substr(s, instr(s, '.') + 1) FROM sfx"
	    " WHERE instr(s, '.') > 0) ";
	char sql[1024];

	rc = exec(st, "BEGIN", "reading rules", err, errlen);
	if (rc != 0)
		return rc;
	rc = bl_store_generation(st, &gen, err, errlen);
	if (rc != 0)
		goto out;
	ids = calloc(1, sizeof(*ids));
	b = bl_builder_new();
	if (b == NULL || ids == NULL) {
		rc = BL_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	snprintf(ids[0], sizeof(ids[0]), "local");
	rc = sqlite3_prepare_v2(st->db,
	    "SELECT id, category FROM feeds WHERE enabled ORDER BY added, id",
	    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, "reading feeds", err, errlen);
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *id = sqlite3_column_text(s, 0);
		const unsigned char *cat = sqlite3_column_text(s, 1);
		char (*n)[64] = realloc(ids, (n_ids + 1) * sizeof(*ids));

		if (n == NULL) {
			rc = BL_ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		ids = n;
		snprintf(ids[n_ids], sizeof(ids[0]), "%s",
		    id != NULL ? (const char *)id : "");
		if (bl_builder_add_feed(b, ids[n_ids],
			cat != NULL ? (const char *)cat : "") != (int)n_ids) {
			rc = BL_ENOMEM;
			snprintf(err, errlen, "too many feeds");
			goto out;
		}
		n_ids++;
	}
	if (rc != SQLITE_DONE) {
		rc = bl_db_error(st->db, rc, "reading feeds", err, errlen);
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;

	if (name == NULL) {
		/* Everything: feed by feed, each a range of the primary key
		 * (a join would look each row's feed up), into a table sized
		 * once from the counts. */
		rc = load_all(st, b, ids, n_ids, &bad, err, errlen);
		if (rc != 0)
			goto out;
	} else {
		snprintf(sql, sizeof(sql),
		    "%sSELECT e.name, e.kind, e.match, e.feed FROM entries e"
		    " JOIN feeds f ON f.id = e.feed WHERE f.enabled"
		    " AND e.name IN (SELECT s FROM sfx)"
		    " UNION ALL SELECT name, kind, match, NULL FROM local_rules"
		    " WHERE name IN (SELECT s FROM sfx)",
		    suffix_cte);
		rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
		if (rc != SQLITE_OK) {
			rc = bl_db_error(st->db, rc, "reading rules", err,
			    errlen);
			goto out;
		}
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		rc = load_rows(st, s, b, ids, n_ids, -1, &bad, err, errlen);
		if (rc != 0)
			goto out;
	}
	*out = bl_builder_finish(b, gen);
	b = NULL;
	if (*out == NULL) {
		rc = BL_ENOMEM;
		snprintf(err, errlen, "out of memory");
	}
out:
	sqlite3_finalize(s);
	sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	bl_builder_free(b);
	free(ids);
	return rc;
}

int
bl_store_load(struct bl_store *st, struct bl_snapshot **out, char *err,
    size_t errlen)
{
	return load(st, NULL, out, err, errlen);
}

int
bl_store_load_for(struct bl_store *st, const char *name,
    struct bl_snapshot **out, char *err, size_t errlen)
{
	return load(st, name, out, err, errlen);
}

static int
bump_generation(struct bl_store *st, char *err, size_t errlen)
{
	return exec(st,
	    "UPDATE meta SET value = value + 1 WHERE key = 'generation'",
	    "bumping generation", err, errlen);
}

int
bl_store_begin(struct bl_store *st, char *err, size_t errlen)
{
	int rc = exec(st, "BEGIN IMMEDIATE", "starting a transaction", err,
	    errlen);

	if (rc == 0)
		st->in_tx = 1;
	return rc;
}

int
bl_store_commit(struct bl_store *st, char *err, size_t errlen)
{
	int rc = bump_generation(st, err, errlen);

	if (rc == 0)
		rc = exec(st, "COMMIT", "committing", err, errlen);
	if (rc != 0)
		bl_store_rollback(st);
	st->in_tx = 0;
	return rc;
}

int
bl_store_commit_status(struct bl_store *st, char *err, size_t errlen)
{
	int rc = exec(st, "COMMIT", "committing", err, errlen);

	if (rc != 0)
		bl_store_rollback(st);
	st->in_tx = 0;
	return rc;
}

int
bl_store_savepoint(struct bl_store *st, enum bl_savepoint op, char *err,
    size_t errlen)
{
	switch (op) {
	case BL_SAVEPOINT_BEGIN:
		return exec(st, "SAVEPOINT feed", "savepoint", err, errlen);
	case BL_SAVEPOINT_RELEASE:
		return exec(st, "RELEASE feed", "savepoint", err, errlen);
	case BL_SAVEPOINT_ROLLBACK:
	default:
		return exec(st, "ROLLBACK TO feed; RELEASE feed", "savepoint",
		    err, errlen);
	}
}

void
bl_store_rollback(struct bl_store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_tx = 0;
}

static int
step_done(struct bl_store *st, sqlite3_stmt *s, const char *what, char *err,
    size_t errlen)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : bl_db_error(st->db, rc, what, err, errlen);
}

int
bl_store_local_add(struct bl_store *st, const char *name, enum bl_kind kind,
    enum bl_match_mode mode, const char *comment, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = bl_store_begin(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db,
	    "INSERT INTO local_rules (name, kind, match, comment)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name, kind) DO UPDATE"
	    " SET match = ?3, comment = ?4, added = unixepoch()",
	    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, "adding rule", err, errlen);
		bl_store_rollback(st);
		return rc;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, bl_kind_name(kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, bl_mode_name(mode), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, comment != NULL ? comment : "", -1,
	    SQLITE_STATIC);
	rc = step_done(st, s, "adding rule", err, errlen);
	if (rc != 0) {
		bl_store_rollback(st);
		return rc;
	}
	return bl_store_commit(st, err, errlen);
}

int
bl_store_local_rm(struct bl_store *st, const char *name, enum bl_kind kind,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = bl_store_begin(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db,
	    "DELETE FROM local_rules WHERE name = ?1 AND kind = ?2", -1, &s,
	    NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, "removing rule", err, errlen);
		bl_store_rollback(st);
		return rc;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, bl_kind_name(kind), -1, SQLITE_STATIC);
	rc = step_done(st, s, "removing rule", err, errlen);
	if (rc == 0 && sqlite3_changes(st->db) == 0) {
		snprintf(err, errlen, "no local %s rule for %s",
		    bl_kind_name(kind), name);
		rc = BL_ENOENT;
	}
	if (rc != 0) {
		bl_store_rollback(st);
		return rc;
	}
	return bl_store_commit(st, err, errlen);
}

static void
copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? (const char *)src : "");
}

int
bl_store_local_list(struct bl_store *st, enum bl_kind kind, bl_local_cb cb,
    void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(st->db,
	    "SELECT name, match, comment, added FROM local_rules"
	    " WHERE kind = ?1 ORDER BY name",
	    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "listing rules", err, errlen);
	sqlite3_bind_text(s, 1, bl_kind_name(kind), -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bl_local_rule r;

		memset(&r, 0, sizeof(r));
		copy_text(r.name, sizeof(r.name), sqlite3_column_text(s, 0));
		r.kind = kind;
		if (parse_mode(sqlite3_column_text(s, 1), &r.mode) != 0)
			continue;
		copy_text(r.comment, sizeof(r.comment),
		    sqlite3_column_text(s, 2));
		r.added = sqlite3_column_int64(s, 3);
		if (cb(&r, arg) != 0)
			break;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return bl_db_error(st->db, rc, "listing rules", err, errlen);
	return 0;
}

static const char feed_columns[] =
    "id, url, format, category, match, enabled, allow_http, pubkey, etag,"
    " last_modified, digest, last_success, last_attempt, last_error,"
    " entry_count, serial";

static void
read_feed(sqlite3_stmt *s, struct bl_feed_row *f)
{
	memset(f, 0, sizeof(*f));
	copy_text(f->id, sizeof(f->id), sqlite3_column_text(s, 0));
	copy_text(f->url, sizeof(f->url), sqlite3_column_text(s, 1));
	copy_text(f->format, sizeof(f->format), sqlite3_column_text(s, 2));
	copy_text(f->category, sizeof(f->category), sqlite3_column_text(s, 3));
	if (parse_mode(sqlite3_column_text(s, 4), &f->mode) != 0)
		f->mode = BL_SUBTREE;
	f->enabled = sqlite3_column_int(s, 5);
	f->allow_http = sqlite3_column_int(s, 6);
	copy_text(f->pubkey, sizeof(f->pubkey), sqlite3_column_text(s, 7));
	copy_text(f->etag, sizeof(f->etag), sqlite3_column_text(s, 8));
	copy_text(f->last_modified, sizeof(f->last_modified),
	    sqlite3_column_text(s, 9));
	copy_text(f->digest, sizeof(f->digest), sqlite3_column_text(s, 10));
	f->last_success = sqlite3_column_int64(s, 11);
	f->last_attempt = sqlite3_column_int64(s, 12);
	copy_text(f->last_error, sizeof(f->last_error),
	    sqlite3_column_text(s, 13));
	f->entry_count = sqlite3_column_int64(s, 14);
	f->serial = sqlite3_column_int64(s, 15);
}

int
bl_store_feed_get(struct bl_store *st, const char *id, struct bl_feed_row *out,
    char *err, size_t errlen)
{
	char sql[512];
	sqlite3_stmt *s;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM feeds WHERE id = ?1",
	    feed_columns);
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "reading feed", err, errlen);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_feed(s, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		snprintf(err, errlen, "no feed '%s'", id);
		rc = BL_ENOENT;
	} else {
		rc = bl_db_error(st->db, rc, "reading feed", err, errlen);
	}
	sqlite3_finalize(s);
	return rc;
}

int
bl_store_feed_list(struct bl_store *st, bl_feed_cb cb, void *arg, char *err,
    size_t errlen)
{
	char sql[512];
	sqlite3_stmt *s;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s FROM feeds ORDER BY added, id",
	    feed_columns);
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "listing feeds", err, errlen);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bl_feed_row f;

		read_feed(s, &f);
		if (cb(&f, arg) != 0)
			break;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return bl_db_error(st->db, rc, "listing feeds", err, errlen);
	return 0;
}

static void
bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v[0] == '\0')
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

int
bl_store_feed_put(struct bl_store *st, const struct bl_feed_row *f,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(st->db,
	    "INSERT INTO feeds (id, url, format, category, match, enabled,"
	    " allow_http, pubkey, etag, last_modified, digest, last_success,"
	    " last_attempt, last_error, entry_count, serial)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
	    " ?14, ?15, ?16) ON CONFLICT (id) DO UPDATE SET url = ?2,"
	    " format = ?3, category = ?4, match = ?5, enabled = ?6,"
	    " allow_http = ?7, pubkey = ?8, etag = ?9, last_modified = ?10,"
	    " digest = ?11, last_success = ?12, last_attempt = ?13,"
	    " last_error = ?14, entry_count = ?15, serial = ?16",
	    -1, &s, NULL);
	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "saving feed", err, errlen);
	sqlite3_bind_text(s, 1, f->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, f->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, f->format[0] ? f->format : "auto", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(s, 4, f->category[0] ? f->category : "mining", -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(s, 5, bl_mode_name(f->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, f->enabled);
	sqlite3_bind_int(s, 7, f->allow_http);
	bind_opt_text(s, 8, f->pubkey);
	bind_opt_text(s, 9, f->etag);
	bind_opt_text(s, 10, f->last_modified);
	bind_opt_text(s, 11, f->digest);
	if (f->last_success != 0)
		sqlite3_bind_int64(s, 12, f->last_success);
	if (f->last_attempt != 0)
		sqlite3_bind_int64(s, 13, f->last_attempt);
	bind_opt_text(s, 14, f->last_error);
	sqlite3_bind_int64(s, 15, f->entry_count);
	sqlite3_bind_int64(s, 16, f->serial);
	return step_done(st, s, "saving feed", err, errlen);
}

int
bl_store_feed_clear_entries(struct bl_store *st, const char *id, char *err,
    size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db, "DELETE FROM entries WHERE feed = ?1",
	    -1, &s, NULL);

	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "clearing entries", err, errlen);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	return step_done(st, s, "clearing entries", err, errlen);
}

int
bl_store_feed_add_entry(struct bl_store *st, const char *id, const char *name,
    enum bl_kind kind, enum bl_match_mode mode, char *err, size_t errlen)
{
	int rc;

	if (st->add_entry == NULL) {
		rc = sqlite3_prepare_v2(st->db,
		    "INSERT INTO entries (feed, name, kind, match)"
		    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (feed, name, kind)"
		    " DO UPDATE SET match = 'subtree'"
		    " WHERE excluded.match = 'subtree'",
		    -1, &st->add_entry, NULL);
		if (rc != SQLITE_OK)
			return bl_db_error(st->db, rc, "adding entry", err, errlen);
	}
	sqlite3_bind_text(st->add_entry, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->add_entry, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st->add_entry, 3, bl_kind_name(kind), -1,
	    SQLITE_STATIC);
	sqlite3_bind_text(st->add_entry, 4, bl_mode_name(mode), -1,
	    SQLITE_STATIC);
	rc = sqlite3_step(st->add_entry);
	sqlite3_reset(st->add_entry);
	return rc == SQLITE_DONE ? 0
				 : bl_db_error(st->db, rc, "adding entry", err, errlen);
}

int
bl_store_feed_count_entries(struct bl_store *st, const char *id, int64_t *n,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(st->db,
	    "SELECT count(*) FROM entries WHERE feed = ?1", -1, &s, NULL);

	if (rc != SQLITE_OK)
		return bl_db_error(st->db, rc, "counting entries", err, errlen);
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0
				: bl_db_error(st->db, rc, "counting entries", err, errlen);
}

/* One statement on one feed row in its own transaction, bumping the
 * generation, BL_ENOENT when no row matched. */
static int
feed_change(struct bl_store *st, const char *sql, const char *id, int arg,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	rc = bl_store_begin(st, err, errlen);
	if (rc != 0)
		return rc;
	rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		rc = bl_db_error(st->db, rc, what, err, errlen);
		bl_store_rollback(st);
		return rc;
	}
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int(s, 2, arg);
	rc = step_done(st, s, what, err, errlen);
	if (rc == 0 && sqlite3_changes(st->db) == 0) {
		snprintf(err, errlen, "no feed '%s'", id);
		rc = BL_ENOENT;
	}
	if (rc != 0) {
		bl_store_rollback(st);
		return rc;
	}
	return bl_store_commit(st, err, errlen);
}

int
bl_store_feed_rm(struct bl_store *st, const char *id, char *err,
    size_t errlen)
{
	/* entries go with it (ON DELETE CASCADE). */
	return feed_change(st, "DELETE FROM feeds WHERE id = ?1", id, 0,
	    "removing feed", err, errlen);
}

int
bl_store_feed_enable(struct bl_store *st, const char *id, int enabled,
    char *err, size_t errlen)
{
	return feed_change(st, "UPDATE feeds SET enabled = ?2 WHERE id = ?1",
	    id, enabled != 0, "changing feed", err, errlen);
}
