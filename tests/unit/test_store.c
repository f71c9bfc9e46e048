/*
 * Unit tests for blocklist/store.c (lists.db), blocklist/defaults.c (the
 * bundled feeds) and blocklist/listfile.c (hosts and domain lists). Every
 * test works in its own directory under /tmp, removed afterwards.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "blocklist/defaults.h"
#include "blocklist/listfile.h"
#include "blocklist/match.h"
#include "blocklist/name.h"
#include "blocklist/store.h"

#define BUSY_MS 100

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/parasol-test-store.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/lists.db", fx->dir);
	*state = fx;
	return 0;
}

/* Remove the directory and whatever sqlite left in it (-wal, -shm). */
static int
teardown(void **state)
{
	struct fixture *fx = *state;
	DIR *d = opendir(fx->dir);
	struct dirent *de;
	int rc = 0;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char p[512];

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
			if (unlink(p) != 0)
				rc = -1;
		}
		closedir(d);
	}
	if (rmdir(fx->dir) != 0)
		rc = -1;
	free(fx);
	return rc;
}

static struct bl_store *
must_open(const char *path, enum bl_store_mode mode)
{
	struct bl_store *st = NULL;
	char err[512] = "";

	if (bl_store_open(path, mode, BUSY_MS, &st, err, sizeof(err)) != 0)
		fail_msg("bl_store_open %s: %s", path, err);
	assert_non_null(st);
	return st;
}

static uint64_t
gen_of(struct bl_store *st)
{
	uint64_t gen = UINT64_MAX;
	char err[512] = "";

	if (bl_store_generation(st, &gen, err, sizeof(err)) != 0)
		fail_msg("bl_store_generation: %s", err);
	return gen;
}

static int
is_empty(struct bl_store *st)
{
	int empty = -1;
	char err[512] = "";

	if (bl_store_is_empty(st, &empty, err, sizeof(err)) != 0)
		fail_msg("bl_store_is_empty: %s", err);
	return empty;
}

static struct bl_snapshot *
must_load(struct bl_store *st, const char *name)
{
	struct bl_snapshot *s = NULL;
	char err[512] = "";
	int rc;

	if (name == NULL)
		rc = bl_store_load(st, &s, err, sizeof(err));
	else
		rc = bl_store_load_for(st, name, &s, err, sizeof(err));
	if (rc != 0)
		fail_msg("loading %s: %s", name ? name : "everything", err);
	assert_non_null(s);
	return s;
}

static struct bl_verdict
lookup(const struct bl_snapshot *s, const char *name)
{
	struct bl_verdict v;
	uint8_t wire[BL_WIRE_MAX];
	int wl = bl_name_to_wire(name, wire);

	if (wl < 0)
		fail_msg("'%s' has no wire form", name);
	bl_match_lookup(s, wire, (size_t)wl, &v);
	return v;
}

/* The verdict's feed id, "" when no rule applies. */
static const char *
feed_of(const struct bl_snapshot *s, const struct bl_verdict *v)
{
	const struct bl_feed_info *fi;

	if (v->action == BL_PASS)
		return "";
	fi = bl_snapshot_feed(s, v->feed);
	assert_non_null(fi);
	return fi->id;
}

static const char *
rule_of(const struct bl_verdict *v)
{
	static char buf[BL_NAME_MAX + 1];

	buf[0] = '\0';
	if (v->rule != NULL)
		bl_name_from_wire(v->rule, v->rule_len, buf, sizeof(buf));
	return buf;
}

static void
local_add(struct bl_store *st, const char *name, enum bl_kind kind,
    enum bl_match_mode mode, const char *comment)
{
	char err[512] = "";

	if (bl_store_local_add(st, name, kind, mode, comment, err,
		sizeof(err)) != 0)
		fail_msg("bl_store_local_add %s: %s", name, err);
}

static void
feed_put(struct bl_store *st, const char *id, const char *category,
    int enabled)
{
	struct bl_feed_row f;
	char err[512] = "";

	memset(&f, 0, sizeof(f));
	snprintf(f.id, sizeof(f.id), "%s", id);
	snprintf(f.url, sizeof(f.url), "https://feeds.invalid/%s.txt", id);
	snprintf(f.format, sizeof(f.format), "hosts");
	snprintf(f.category, sizeof(f.category), "%s", category);
	f.mode = BL_SUBTREE;
	f.enabled = enabled;
	if (bl_store_feed_put(st, &f, err, sizeof(err)) != 0)
		fail_msg("bl_store_feed_put %s: %s", id, err);
}

static void
feed_add(struct bl_store *st, const char *id, const char *name,
    enum bl_kind kind, enum bl_match_mode mode)
{
	char err[512] = "";

	if (bl_store_feed_add_entry(st, id, name, kind, mode, err,
		sizeof(err)) != 0)
		fail_msg("bl_store_feed_add_entry %s %s: %s", id, name, err);
}

static void
begin(struct bl_store *st)
{
	char err[512] = "";

	if (bl_store_begin(st, err, sizeof(err)) != 0)
		fail_msg("bl_store_begin: %s", err);
}

static void
commit(struct bl_store *st)
{
	char err[512] = "";

	if (bl_store_commit(st, err, sizeof(err)) != 0)
		fail_msg("bl_store_commit: %s", err);
}

/* One integer from a raw sqlite3 connection. */
static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (sqlite3_open(path, &db) != SQLITE_OK)
		fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int
file_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

static void
test_create_schema(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st;

	assert_false(file_exists(fx->path));
	st = must_open(fx->path, BL_STORE_CREATE);
	assert_true(file_exists(fx->path));
	assert_int_equal(gen_of(st), 0);
	assert_int_equal(is_empty(st), 1);
	bl_store_close(st);

	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"),
	    BL_STORE_SCHEMA);
	assert_int_equal(raw_int(fx->path,
	    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
	    " name IN ('meta', 'feeds', 'entries', 'local_rules')"), 4);

	/* Opening again, in every mode, finds it as it is. */
	st = must_open(fx->path, BL_STORE_CREATE);
	assert_int_equal(gen_of(st), 0);
	bl_store_close(st);
	st = must_open(fx->path, BL_STORE_RW);
	assert_int_equal(gen_of(st), 0);
	bl_store_close(st);
	st = must_open(fx->path, BL_STORE_RO);
	assert_int_equal(gen_of(st), 0);
	assert_int_equal(is_empty(st), 1);
	bl_store_close(st);
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"),
	    BL_STORE_SCHEMA);
	bl_store_close(NULL);
}

static void
test_open_missing(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = NULL;
	char err[512];

	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_open(fx->path, BL_STORE_RO, BUSY_MS, &st,
	    err, sizeof(err)), BL_ENOENT);
	assert_true(strlen(err) > 0);
	assert_false(file_exists(fx->path));

	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_open(fx->path, BL_STORE_RW, BUSY_MS, &st,
	    err, sizeof(err)), BL_ENOENT);
	assert_true(strlen(err) > 0);
	assert_false(file_exists(fx->path));
}

static void
test_open_garbage(void **state)
{
	static const enum bl_store_mode modes[] = {
		BL_STORE_RO, BL_STORE_RW, BL_STORE_CREATE,
	};
	struct fixture *fx = *state;
	unsigned char junk[8192];
	int fd;

	randombytes_buf(junk, sizeof(junk));
	/* Whatever the draw, not the sqlite header. */
	junk[0] = 'X';
	fd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	assert_int_equal(close(fd), 0);

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct bl_store *st = NULL;
		char err[512];
		int rc;

		memset(err, 0, sizeof(err));
		rc = bl_store_open(fx->path, modes[i], BUSY_MS, &st, err,
		    sizeof(err));
		if (rc != BL_ECORRUPT)
			fail_msg("mode %d: %d (%s), expected BL_ECORRUPT",
			    modes[i], rc, err);
		assert_true(strlen(err) > 0);
	}
}

static void
test_open_newer_schema(void **state)
{
	static const enum bl_store_mode modes[] = {
		BL_STORE_RO, BL_STORE_RW, BL_STORE_CREATE,
	};
	struct fixture *fx = *state;

	raw_exec(fx->path,
	    "CREATE TABLE future (x INTEGER); PRAGMA user_version = 99;");
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct bl_store *st = NULL;
		char err[512];
		int rc;

		memset(err, 0, sizeof(err));
		rc = bl_store_open(fx->path, modes[i], BUSY_MS, &st, err,
		    sizeof(err));
		if (rc != BL_ESCHEMA)
			fail_msg("mode %d: %d (%s), expected BL_ESCHEMA",
			    modes[i], rc, err);
		assert_non_null(strstr(err, "99"));
	}
	/* Left as it was. */
	assert_int_equal(raw_int(fx->path, "PRAGMA user_version"), 99);
}

struct rule_list {
	size_t n;
	struct bl_local_rule r[8];
};

static int
collect_rule(const struct bl_local_rule *r, void *arg)
{
	struct rule_list *l = arg;

	if (l->n < sizeof(l->r) / sizeof(l->r[0]))
		l->r[l->n] = *r;
	l->n++;
	return 0;
}

static struct rule_list
list_rules(struct bl_store *st, enum bl_kind kind)
{
	struct rule_list l;
	char err[512] = "";

	memset(&l, 0, sizeof(l));
	if (bl_store_local_list(st, kind, collect_rule, &l, err,
		sizeof(err)) != 0)
		fail_msg("bl_store_local_list: %s", err);
	return l;
}

static void
test_local_rules(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct rule_list l;
	char err[512];
	uint64_t g0 = gen_of(st);

	local_add(st, "zz.example.com", BL_DENY, BL_SUBTREE, "second");
	assert_int_equal(gen_of(st), g0 + 1);
	assert_int_equal(is_empty(st), 0);
	local_add(st, "ads.example.com", BL_DENY, BL_EXACT, "first");
	assert_int_equal(gen_of(st), g0 + 2);
	local_add(st, "ok.example.com", BL_ALLOW, BL_EXACT, NULL);
	assert_int_equal(gen_of(st), g0 + 3);

	l = list_rules(st, BL_DENY);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.r[0].name, "ads.example.com");
	assert_int_equal(l.r[0].kind, BL_DENY);
	assert_int_equal(l.r[0].mode, BL_EXACT);
	assert_string_equal(l.r[0].comment, "first");
	assert_true(l.r[0].added > 0);
	assert_string_equal(l.r[1].name, "zz.example.com");
	assert_int_equal(l.r[1].mode, BL_SUBTREE);
	assert_string_equal(l.r[1].comment, "second");

	l = list_rules(st, BL_ALLOW);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.r[0].name, "ok.example.com");
	assert_int_equal(l.r[0].kind, BL_ALLOW);
	assert_int_equal(l.r[0].mode, BL_EXACT);
	assert_string_equal(l.r[0].comment, "");

	/* Adding again replaces the rule of that kind. */
	local_add(st, "ads.example.com", BL_DENY, BL_SUBTREE, "changed");
	assert_int_equal(gen_of(st), g0 + 4);
	l = list_rules(st, BL_DENY);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.r[0].mode, BL_SUBTREE);
	assert_string_equal(l.r[0].comment, "changed");

	/* Removing: of the right kind only; missing ones change nothing. */
	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_local_rm(st, "ok.example.com", BL_DENY, err,
	    sizeof(err)), BL_ENOENT);
	assert_true(strlen(err) > 0);
	assert_int_equal(gen_of(st), g0 + 4);
	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_local_rm(st, "nowhere.example", BL_DENY, err,
	    sizeof(err)), BL_ENOENT);
	assert_true(strlen(err) > 0);
	assert_int_equal(gen_of(st), g0 + 4);

	assert_int_equal(bl_store_local_rm(st, "ok.example.com", BL_ALLOW, err,
	    sizeof(err)), 0);
	assert_int_equal(gen_of(st), g0 + 5);
	assert_int_equal(list_rules(st, BL_ALLOW).n, 0);
	assert_int_equal(bl_store_local_rm(st, "ok.example.com", BL_ALLOW, err,
	    sizeof(err)), BL_ENOENT);
	assert_int_equal(gen_of(st), g0 + 5);

	assert_int_equal(bl_store_local_rm(st, "ads.example.com", BL_DENY, err,
	    sizeof(err)), 0);
	assert_int_equal(bl_store_local_rm(st, "zz.example.com", BL_DENY, err,
	    sizeof(err)), 0);
	assert_int_equal(gen_of(st), g0 + 7);
	assert_int_equal(list_rules(st, BL_DENY).n, 0);
	assert_int_equal(is_empty(st), 1);
	bl_store_close(st);

	/* Persisted. */
	st = must_open(fx->path, BL_STORE_RO);
	assert_int_equal(gen_of(st), g0 + 7);
	bl_store_close(st);
}

static void
test_load_snapshot(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *s;
	struct bl_verdict v;
	const struct bl_feed_info *fi;
	uint64_t g;
	int64_t n = -1;
	char err[512] = "";

	local_add(st, "local-deny.example", BL_DENY, BL_SUBTREE, NULL);
	local_add(st, "ok.coinhive.com", BL_ALLOW, BL_EXACT, NULL);
	g = gen_of(st);

	begin(st);
	feed_put(st, "f1", "mining", 1);
	feed_add(st, "f1", "coinhive.com", BL_DENY, BL_SUBTREE);
	feed_add(st, "f1", "exact.example", BL_DENY, BL_EXACT);
	feed_add(st, "f1", "exact.example", BL_DENY, BL_EXACT);
	assert_int_equal(bl_store_feed_count_entries(st, "f1", &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	commit(st);
	assert_int_equal(gen_of(st), g + 1);

	s = must_load(st, NULL);
	assert_int_equal(bl_snapshot_generation(s), g + 1);
	assert_int_equal(bl_snapshot_names(s), 4);
	assert_string_equal(bl_snapshot_feed(s, BL_FEED_LOCAL)->id, "local");

	v = lookup(s, "miner.coinhive.com");
	assert_int_equal(v.action, BL_BLOCK);
	assert_int_equal(v.mode, BL_SUBTREE);
	assert_string_equal(feed_of(s, &v), "f1");
	assert_string_equal(rule_of(&v), "coinhive.com");
	fi = bl_snapshot_feed(s, v.feed);
	assert_non_null(fi);
	assert_string_equal(fi->category, "mining");

	v = lookup(s, "ok.coinhive.com");
	assert_int_equal(v.action, BL_ALLOWED);
	assert_int_equal(v.feed, BL_FEED_LOCAL);

	v = lookup(s, "exact.example");
	assert_int_equal(v.action, BL_BLOCK);
	assert_int_equal(v.mode, BL_EXACT);
	assert_string_equal(feed_of(s, &v), "f1");
	assert_int_equal(lookup(s, "a.exact.example").action, BL_PASS);

	v = lookup(s, "x.local-deny.example");
	assert_int_equal(v.action, BL_BLOCK);
	assert_int_equal(v.feed, BL_FEED_LOCAL);
	assert_string_equal(rule_of(&v), "local-deny.example");

	assert_int_equal(lookup(s, "example.com").action, BL_PASS);
	bl_snapshot_free(s);

	/* A read-only handle sees the same. */
	bl_store_close(st);
	st = must_open(fx->path, BL_STORE_RO);
	s = must_load(st, NULL);
	assert_int_equal(bl_snapshot_generation(s), g + 1);
	assert_int_equal(bl_snapshot_names(s), 4);
	assert_int_equal(lookup(s, "coinhive.com").action, BL_BLOCK);
	bl_snapshot_free(s);
	bl_store_close(st);
}

static void
test_disabled_feed(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *s;
	struct bl_feed_row f;
	char err[512] = "";

	begin(st);
	feed_put(st, "on", "mining", 1);
	feed_add(st, "on", "on.example", BL_DENY, BL_SUBTREE);
	feed_put(st, "off", "mining", 0);
	feed_add(st, "off", "off.example", BL_DENY, BL_SUBTREE);
	feed_add(st, "off", "on.example", BL_DENY, BL_SUBTREE);
	commit(st);

	assert_int_equal(bl_store_feed_get(st, "off", &f, err, sizeof(err)),
	    0);
	assert_int_equal(f.enabled, 0);

	s = must_load(st, NULL);
	assert_int_equal(lookup(s, "off.example").action, BL_PASS);
	assert_int_equal(lookup(s, "a.off.example").action, BL_PASS);
	assert_int_equal(lookup(s, "on.example").action, BL_BLOCK);
	assert_int_equal(bl_snapshot_names(s), 1);
	for (uint16_t i = 0; bl_snapshot_feed(s, i) != NULL; i++)
		assert_string_not_equal(bl_snapshot_feed(s, i)->id, "off");
	bl_snapshot_free(s);

	s = must_load(st, "a.off.example");
	assert_int_equal(lookup(s, "a.off.example").action, BL_PASS);
	bl_snapshot_free(s);

	/* Enabled again, its entries are back. */
	begin(st);
	f.enabled = 1;
	if (bl_store_feed_put(st, &f, err, sizeof(err)) != 0)
		fail_msg("bl_store_feed_put: %s", err);
	commit(st);
	s = must_load(st, NULL);
	assert_int_equal(lookup(s, "a.off.example").action, BL_BLOCK);
	assert_int_equal(bl_snapshot_names(s), 2);
	bl_snapshot_free(s);
	bl_store_close(st);
}

static void
test_rollback(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *s;
	struct bl_feed_row f;
	int64_t n = -1;
	uint64_t g = gen_of(st);
	char err[512] = "";

	begin(st);
	feed_put(st, "gone", "mining", 1);
	feed_add(st, "gone", "gone.example", BL_DENY, BL_SUBTREE);
	bl_store_rollback(st);

	assert_int_equal(gen_of(st), g);
	assert_int_equal(is_empty(st), 1);
	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_feed_get(st, "gone", &f, err, sizeof(err)),
	    BL_ENOENT);
	assert_true(strlen(err) > 0);
	assert_int_equal(bl_store_feed_count_entries(st, "gone", &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	s = must_load(st, NULL);
	assert_int_equal(bl_snapshot_names(s), 0);
	assert_int_equal(lookup(s, "gone.example").action, BL_PASS);
	bl_snapshot_free(s);

	/* The handle works normally afterwards. */
	local_add(st, "after.example", BL_DENY, BL_EXACT, NULL);
	assert_int_equal(gen_of(st), g + 1);
	bl_store_close(st);
	assert_int_equal(raw_int(fx->path,
	    "SELECT count(*) FROM entries"), 0);
	assert_int_equal(raw_int(fx->path,
	    "SELECT count(*) FROM feeds"), 0);
}

static void
test_load_for(void **state)
{
	static const char *const queries[] = {
		"ok.ads.example.com",
		"b.ok.ads.example.com",
		"ads.example.com",
		"x.example.com",
		"example.com",
		"tracker.other.org",
		"other.org",
		"nothing.net",
	};
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *all, *one;

	begin(st);
	feed_put(st, "a", "mining", 1);
	feed_add(st, "a", "ads.example.com", BL_DENY, BL_SUBTREE);
	feed_add(st, "a", "example.com", BL_DENY, BL_EXACT);
	feed_add(st, "a", "b.ok.ads.example.com", BL_DENY, BL_EXACT);
	feed_add(st, "a", "other.org", BL_DENY, BL_SUBTREE);
	feed_add(st, "a", "x.example.com", BL_DENY, BL_EXACT);
	feed_put(st, "b", "tracking", 1);
	feed_add(st, "b", "tracker.other.org", BL_DENY, BL_EXACT);
	feed_add(st, "b", "com", BL_DENY, BL_EXACT);
	feed_put(st, "off", "mining", 0);
	feed_add(st, "off", "example.com", BL_DENY, BL_SUBTREE);
	commit(st);
	local_add(st, "ok.ads.example.com", BL_ALLOW, BL_EXACT, NULL);
	local_add(st, "s.ok.ads.example.com", BL_DENY, BL_SUBTREE, NULL);

	all = must_load(st, NULL);
	assert_int_equal(bl_snapshot_names(all), 9);

	/*
	 * Only the name and its parents: ok.ads.example.com, ads.example.com,
	 * example.com and com.
	 */
	one = must_load(st, "ok.ads.example.com");
	assert_int_equal(bl_snapshot_names(one), 4);
	assert_int_equal(bl_snapshot_generation(one),
	    bl_snapshot_generation(all));
	bl_snapshot_free(one);

	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct bl_verdict va, vo;

		one = must_load(st, queries[i]);
		va = lookup(all, queries[i]);
		vo = lookup(one, queries[i]);
		if (va.action != vo.action)
			fail_msg("%s: action %d in full, %d alone", queries[i],
			    va.action, vo.action);
		assert_int_equal(va.mode, vo.mode);
		assert_string_equal(feed_of(all, &va), feed_of(one, &vo));
		assert_string_equal(rule_of(&va), rule_of(&vo));
		assert_true(bl_snapshot_names(one) <=
		    bl_snapshot_names(all));
		bl_snapshot_free(one);
	}

	/* And the verdicts are the expected ones. */
	assert_int_equal(lookup(all, "ok.ads.example.com").action, BL_ALLOWED);
	assert_int_equal(lookup(all, "b.ok.ads.example.com").action,
	    BL_BLOCK);
	assert_int_equal(lookup(all, "nothing.net").action, BL_PASS);

	one = must_load(st, "nothing.net");
	assert_int_equal(bl_snapshot_names(one), 0);
	bl_snapshot_free(one);
	bl_snapshot_free(all);
	bl_store_close(st);
}

static void
test_defaults_seed(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *s;
	struct bl_feed_row nocoin, coinminer;
	struct bl_verdict v;
	size_t n = 0;
	uint64_t g;
	char err[512] = "";

	assert_int_equal(is_empty(st), 1);
	g = gen_of(st);
	if (bl_defaults_seed(st, &n, err, sizeof(err)) != 0)
		fail_msg("bl_defaults_seed: %s", err);
	assert_int_equal(is_empty(st), 0);
	assert_int_equal(gen_of(st), g + 1);

	assert_int_equal(bl_store_feed_get(st, "nocoin", &nocoin, err,
	    sizeof(err)), 0);
	assert_string_equal(nocoin.category, "browser-miner");
	assert_string_equal(nocoin.format, "hosts");
	assert_int_equal(nocoin.enabled, 1);
	assert_int_equal(nocoin.mode, BL_SUBTREE);
	assert_non_null(strstr(nocoin.url, "https://"));
	assert_int_equal(strlen(nocoin.digest), 64);
	assert_int_equal(nocoin.last_success, 0);
	assert_true(nocoin.entry_count > 100);

	assert_int_equal(bl_store_feed_get(st, "coinminer", &coinminer, err,
	    sizeof(err)), 0);
	assert_string_equal(coinminer.category, "mining");
	assert_int_equal(coinminer.enabled, 1);
	assert_true(coinminer.entry_count > 1000);
	assert_true(n > 1000);
	assert_int_equal(n, (size_t)(nocoin.entry_count +
	    coinminer.entry_count));
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM entries"),
	    (int64_t)n);

	s = must_load(st, NULL);
	v = lookup(s, "coinhive.com");
	assert_int_equal(v.action, BL_BLOCK);
	assert_string_equal(feed_of(s, &v), "coinminer");
	assert_string_equal(bl_snapshot_feed(s, v.feed)->category, "mining");
	/* A subtree rule: names under it that no list mentions. */
	v = lookup(s, "zz-unlisted.coinhive.com");
	assert_int_equal(v.action, BL_BLOCK);
	assert_string_equal(rule_of(&v), "coinhive.com");
	assert_string_equal(feed_of(s, &v), "coinminer");
	/* Only in the nocoin list. */
	v = lookup(s, "1q2w3.fun");
	assert_int_equal(v.action, BL_BLOCK);
	assert_string_equal(feed_of(s, &v), "nocoin");
	assert_string_equal(bl_snapshot_feed(s, v.feed)->category,
	    "browser-miner");
	assert_int_equal(lookup(s, "example.com").action, BL_PASS);
	/* The hosts boilerplate is not a rule. */
	assert_int_equal(lookup(s, "localhost").action, BL_PASS);
	bl_snapshot_free(s);
	bl_store_close(st);
}

/*
 * Another connection holds the write lock (in WAL mode BEGIN EXCLUSIVE is
 * the writer lock; readers go on): writers wait busy_timeout_ms, then give
 * up with BL_EBUSY and a message. Readers see the last commit.
 */
/* A feed listing a name exact and later as a subtree keeps the subtree. */
static void
test_entry_mode_upgrade(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);

	begin(st);
	feed_put(st, "f", "mining", 1);
	feed_add(st, "f", "up.example", BL_DENY, BL_EXACT);
	feed_add(st, "f", "other.example", BL_DENY, BL_SUBTREE);
	feed_add(st, "f", "up.example", BL_DENY, BL_SUBTREE);
	feed_add(st, "f", "other.example", BL_DENY, BL_EXACT);
	commit(st);
	bl_store_close(st);
	assert_int_equal(raw_int(fx->path,
			     "SELECT count(*) FROM entries WHERE match = "
			     "'subtree'"),
	    2);
	assert_int_equal(raw_int(fx->path, "SELECT count(*) FROM entries"), 2);
}

static void
test_busy(void **state)
{
	struct fixture *fx = *state;
	struct bl_store *st = must_open(fx->path, BL_STORE_CREATE);
	struct bl_snapshot *s;
	sqlite3 *raw = NULL;
	struct rule_list l;
	uint64_t g;
	char err[512], *msg = NULL;
	int rc;

	local_add(st, "before.example", BL_DENY, BL_EXACT, NULL);
	g = gen_of(st);

	assert_int_equal(sqlite3_open(fx->path, &raw), SQLITE_OK);
	rc = sqlite3_exec(raw,
	    "BEGIN EXCLUSIVE;"
	    " INSERT INTO local_rules (name, kind, match)"
	    " VALUES ('held.example', 'deny', 'exact');"
	    " UPDATE meta SET value = value + 1 WHERE key = 'generation';",
	    NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("locking: %s", msg);

	memset(err, 0, sizeof(err));
	rc = bl_store_local_add(st, "wait.example", BL_DENY, BL_SUBTREE, NULL,
	    err, sizeof(err));
	assert_int_equal(rc, BL_EBUSY);
	assert_true(strlen(err) > 0);
	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_local_rm(st, "before.example", BL_DENY, err,
	    sizeof(err)), BL_EBUSY);
	assert_true(strlen(err) > 0);
	memset(err, 0, sizeof(err));
	assert_int_equal(bl_store_begin(st, err, sizeof(err)), BL_EBUSY);
	assert_true(strlen(err) > 0);

	/* Reading is not blocked, and sees neither half of the write. */
	assert_int_equal(gen_of(st), g);
	s = must_load(st, NULL);
	assert_int_equal(bl_snapshot_generation(s), g);
	assert_int_equal(lookup(s, "before.example").action, BL_BLOCK);
	assert_int_equal(lookup(s, "held.example").action, BL_PASS);
	assert_int_equal(lookup(s, "wait.example").action, BL_PASS);
	bl_snapshot_free(s);

	rc = sqlite3_exec(raw, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("commit: %s", msg);
	assert_int_equal(sqlite3_close(raw), SQLITE_OK);

	/* Released: the same call goes through. */
	local_add(st, "wait.example", BL_DENY, BL_SUBTREE, NULL);
	assert_int_equal(gen_of(st), g + 2);
	l = list_rules(st, BL_DENY);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.r[0].name, "before.example");
	assert_string_equal(l.r[1].name, "held.example");
	assert_string_equal(l.r[2].name, "wait.example");
	s = must_load(st, NULL);
	assert_int_equal(lookup(s, "held.example").action, BL_BLOCK);
	assert_int_equal(lookup(s, "a.wait.example").action, BL_BLOCK);
	bl_snapshot_free(s);
	bl_store_close(st);
}

struct names {
	size_t n;
	char v[16][BL_NAME_MAX + 1];
	int stop_after;
};

static int
collect_name(const char *name, void *arg)
{
	struct names *l = arg;

	if (l->n < sizeof(l->v) / sizeof(l->v[0]))
		snprintf(l->v[l->n], sizeof(l->v[0]), "%s", name);
	l->n++;
	return l->stop_after != 0 && (int)l->n >= l->stop_after ? 7 : 0;
}

static void
test_list_parse_hosts(void **state)
{
	static const char text[] =
	    "# a hosts file\n"
	    "127.0.0.1 localhost\n"
	    "::1 localhost ip6-localhost ip6-loopback\n"
	    "\n"
	    "0.0.0.0 ads.example.com tracker.example.net # two names\n"
	    "0.0.0.0 bad/name good.example.org\n"
	    "0.0.0.0 0.0.0.0\n"
	    "255.255.255.255 broadcasthost\n"
	    "0.0.0.0 *.wild.example\n"
	    "   # indented comment\n"
	    "plain.example.com\n"
	    "\tUpper.Example.COM.  \r\n"
	    "two words\n"
	    "0.0.0.0 B\xc3\xbc" "cher.de";
	struct bl_list_stats ls;
	struct names got;
	char why[256];

	(void)state;
	memset(&got, 0, sizeof(got));
	memset(why, 0, sizeof(why));
	assert_int_equal(bl_list_parse(text, sizeof(text) - 1, collect_name,
	    &got, &ls, why, sizeof(why)), 0);

	assert_int_equal(got.n, 6);
	assert_string_equal(got.v[0], "ads.example.com");
	assert_string_equal(got.v[1], "tracker.example.net");
	assert_string_equal(got.v[2], "good.example.org");
	assert_string_equal(got.v[3], "plain.example.com");
	assert_string_equal(got.v[4], "upper.example.com");
	assert_string_equal(got.v[5], "xn--bcher-kva.de");

	assert_int_equal(ls.lines, 14);
	assert_int_equal(ls.names, 6);
	/* localhost, the three on the ::1 line, 0.0.0.0, broadcasthost. */
	assert_int_equal(ls.skipped, 6);
	/* bad/name, *.wild.example, the two-word line. */
	assert_int_equal(ls.invalid, 3);
	/* The first invalid word, where it was and why. */
	assert_non_null(strstr(why, "bad/name"));
	assert_non_null(strstr(why, "line 6"));
	assert_non_null(strchr(why, '/'));
}

static void
test_list_parse_plain_and_stop(void **state)
{
	static const char text[] =
	    "one.example\n"
	    "two.example\n"
	    "three.example\n"
	    "four.example\n";
	struct bl_list_stats ls;
	struct names got;
	char why[64];

	(void)state;
	/* All valid: no reason. */
	memset(&got, 0, sizeof(got));
	memset(why, 'Z', sizeof(why));
	assert_int_equal(bl_list_parse(text, sizeof(text) - 1, collect_name,
	    &got, &ls, why, sizeof(why)), 0);
	assert_int_equal(got.n, 4);
	assert_int_equal(ls.lines, 4);
	assert_int_equal(ls.names, 4);
	assert_int_equal(ls.invalid, 0);
	assert_int_equal(ls.skipped, 0);
	assert_string_equal(why, "");

	/* The callback stops the parse and its value is returned. */
	memset(&got, 0, sizeof(got));
	got.stop_after = 2;
	assert_int_equal(bl_list_parse(text, sizeof(text) - 1, collect_name,
	    &got, &ls, why, sizeof(why)), 7);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[1], "two.example");

	/* Only len bytes are read: half of "two.example" here. */
	memset(&got, 0, sizeof(got));
	assert_int_equal(bl_list_parse(text, 16, collect_name, &got, &ls, why,
	    sizeof(why)), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[0], "one.example");
	assert_string_equal(got.v[1], "two");
	assert_int_equal(ls.lines, 2);

	/* Nothing at all. */
	memset(&got, 0, sizeof(got));
	assert_int_equal(bl_list_parse("", 0, collect_name, &got, &ls, why,
	    sizeof(why)), 0);
	assert_int_equal(got.n, 0);
	assert_int_equal(ls.lines, 0);
	assert_int_equal(ls.names, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_schema, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_newer_schema, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_local_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_snapshot, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_disabled_feed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rollback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_for, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defaults_seed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entry_mode_upgrade, setup,
		    teardown),
		cmocka_unit_test(test_list_parse_hosts),
		cmocka_unit_test(test_list_parse_plain_and_stop),
	};

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
