/*
 * Unit tests for blocklist/match.c: snapshots built with bl_builder_* and
 * the verdicts of bl_match_lookup.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "blocklist/match.h"
#include "blocklist/name.h"

#define BIG_N 200000

static void
add(struct bl_builder *b, const char *name, enum bl_kind kind,
    enum bl_match_mode mode, uint16_t feed)
{
	uint8_t wire[BL_WIRE_MAX];
	int wl = bl_name_to_wire(name, wire);

	if (wl < 0)
		fail_msg("'%s' has no wire form", name);
	if (bl_builder_add(b, wire, (size_t)wl, kind, mode, feed) != 0)
		fail_msg("bl_builder_add '%s' failed", name);
}

static struct bl_verdict
lookup(const struct bl_snapshot *s, const char *name)
{
	struct bl_verdict v;
	uint8_t wire[BL_WIRE_MAX];
	int wl = bl_name_to_wire(name, wire);

	if (wl < 0)
		fail_msg("'%s' has no wire form", name);
	memset(&v, 0xa5, sizeof(v));
	bl_match_lookup(s, wire, (size_t)wl, &v);
	return v;
}

/* The verdict's rule as text. */
static const char *
rule_text(const struct bl_verdict *v)
{
	static char buf[BL_NAME_MAX + 1];

	assert_non_null(v->rule);
	bl_name_from_wire(v->rule, v->rule_len, buf, sizeof(buf));
	return buf;
}

static enum bl_action
action_of(const struct bl_snapshot *s, const char *name)
{
	return lookup(s, name).action;
}

/* Assert the verdict for name in full. */
static void
expect(const struct bl_snapshot *s, const char *name, enum bl_action action,
    const char *rule, enum bl_match_mode mode, uint16_t feed)
{
	struct bl_verdict v = lookup(s, name);

	if (v.action != action)
		fail_msg("'%s': action %d, expected %d", name, v.action, action);
	if (action == BL_PASS) {
		assert_null(v.rule);
		return;
	}
	if (strcmp(rule_text(&v), rule) != 0)
		fail_msg("'%s': rule '%s', expected '%s'", name, rule_text(&v),
		    rule);
	assert_int_equal(v.rule_len, strlen(rule) + 2);
	if (v.mode != mode)
		fail_msg("'%s': mode %d, expected %d", name, v.mode, mode);
	if (v.feed != feed)
		fail_msg("'%s': feed %u, expected %u", name, v.feed, feed);
}

static struct bl_builder *
must_builder(void)
{
	struct bl_builder *b = bl_builder_new();

	assert_non_null(b);
	return b;
}

static struct bl_snapshot *
must_finish(struct bl_builder *b, uint64_t gen)
{
	struct bl_snapshot *s = bl_builder_finish(b, gen);

	assert_non_null(s);
	return s;
}

static void
test_subtree_rule(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	int f;

	(void)state;
	f = bl_builder_add_feed(b, "coinminer", "mining");
	assert_int_equal(f, 1);
	add(b, "minexmr.com", BL_DENY, BL_SUBTREE, (uint16_t)f);
	s = must_finish(b, 1);

	expect(s, "minexmr.com", BL_BLOCK, "minexmr.com", BL_SUBTREE, 1);
	expect(s, "pool.minexmr.com", BL_BLOCK, "minexmr.com", BL_SUBTREE, 1);
	expect(s, "a.b.c.pool.minexmr.com", BL_BLOCK, "minexmr.com",
	    BL_SUBTREE, 1);
	expect(s, "xminexmr.com", BL_PASS, NULL, 0, 0);
	expect(s, "minexmr.com.evil", BL_PASS, NULL, 0, 0);
	expect(s, "pool.minexmr.com.evil", BL_PASS, NULL, 0, 0);
	expect(s, "com", BL_PASS, NULL, 0, 0);
	expect(s, "minexmr.org", BL_PASS, NULL, 0, 0);
	expect(s, "minexmr", BL_PASS, NULL, 0, 0);
	bl_snapshot_free(s);
}

static void
test_exact_rule(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;

	(void)state;
	add(b, "ads.example.com", BL_DENY, BL_EXACT, BL_FEED_LOCAL);
	s = must_finish(b, 1);

	expect(s, "ads.example.com", BL_BLOCK, "ads.example.com", BL_EXACT,
	    BL_FEED_LOCAL);
	expect(s, "x.ads.example.com", BL_PASS, NULL, 0, 0);
	expect(s, "a.b.ads.example.com", BL_PASS, NULL, 0, 0);
	expect(s, "example.com", BL_PASS, NULL, 0, 0);
	expect(s, "xads.example.com", BL_PASS, NULL, 0, 0);
	bl_snapshot_free(s);
}

static void
test_allow_exact_beats_deny_subtree(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	int f;

	(void)state;
	f = bl_builder_add_feed(b, "coinminer", "mining");
	add(b, "coinhive.com", BL_DENY, BL_SUBTREE, (uint16_t)f);
	add(b, "ok.coinhive.com", BL_ALLOW, BL_EXACT, BL_FEED_LOCAL);
	s = must_finish(b, 1);

	expect(s, "ok.coinhive.com", BL_ALLOWED, "ok.coinhive.com", BL_EXACT,
	    BL_FEED_LOCAL);
	expect(s, "x.ok.coinhive.com", BL_BLOCK, "coinhive.com", BL_SUBTREE,
	    (uint16_t)f);
	expect(s, "coinhive.com", BL_BLOCK, "coinhive.com", BL_SUBTREE,
	    (uint16_t)f);
	expect(s, "www.coinhive.com", BL_BLOCK, "coinhive.com", BL_SUBTREE,
	    (uint16_t)f);
	bl_snapshot_free(s);
}

static void
test_allow_subtree_parent_beats_deny_exact_child(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	int f;

	(void)state;
	f = bl_builder_add_feed(b, "ads", "ads");
	add(b, "cdn.example.org", BL_DENY, BL_EXACT, (uint16_t)f);
	add(b, "deep.x.cdn.example.org", BL_DENY, BL_SUBTREE, (uint16_t)f);
	add(b, "example.org", BL_ALLOW, BL_SUBTREE, BL_FEED_LOCAL);
	s = must_finish(b, 1);

	expect(s, "cdn.example.org", BL_ALLOWED, "example.org", BL_SUBTREE,
	    BL_FEED_LOCAL);
	/* Allow wins over a deny however much more specific. */
	expect(s, "a.deep.x.cdn.example.org", BL_ALLOWED, "example.org",
	    BL_SUBTREE, BL_FEED_LOCAL);
	expect(s, "example.org", BL_ALLOWED, "example.org", BL_SUBTREE,
	    BL_FEED_LOCAL);
	expect(s, "example.net", BL_PASS, NULL, 0, 0);
	bl_snapshot_free(s);
}

static void
test_allow_and_deny_on_same_name(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	int f;

	(void)state;
	f = bl_builder_add_feed(b, "f", "mining");
	/* Deny first, so the order of insertion cannot be what decides. */
	add(b, "both.example", BL_DENY, BL_SUBTREE, (uint16_t)f);
	add(b, "both.example", BL_ALLOW, BL_SUBTREE, BL_FEED_LOCAL);
	add(b, "exact.example", BL_DENY, BL_EXACT, (uint16_t)f);
	add(b, "exact.example", BL_ALLOW, BL_EXACT, BL_FEED_LOCAL);
	s = must_finish(b, 1);

	expect(s, "both.example", BL_ALLOWED, "both.example", BL_SUBTREE,
	    BL_FEED_LOCAL);
	expect(s, "a.both.example", BL_ALLOWED, "both.example", BL_SUBTREE,
	    BL_FEED_LOCAL);
	expect(s, "exact.example", BL_ALLOWED, "exact.example", BL_EXACT,
	    BL_FEED_LOCAL);
	expect(s, "a.exact.example", BL_PASS, NULL, 0, 0);
	assert_int_equal(bl_snapshot_names(s), 2);
	bl_snapshot_free(s);
}

static void
test_exact_allow_on_parent_not_child(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	int f;

	(void)state;
	f = bl_builder_add_feed(b, "f", "mining");
	add(b, "example.com", BL_DENY, BL_SUBTREE, (uint16_t)f);
	add(b, "example.com", BL_ALLOW, BL_EXACT, BL_FEED_LOCAL);
	s = must_finish(b, 1);

	expect(s, "example.com", BL_ALLOWED, "example.com", BL_EXACT,
	    BL_FEED_LOCAL);
	expect(s, "www.example.com", BL_BLOCK, "example.com", BL_SUBTREE,
	    (uint16_t)f);
	bl_snapshot_free(s);

	/* Without any deny, a child of an exact allow has no rule at all. */
	b = must_builder();
	add(b, "example.com", BL_ALLOW, BL_EXACT, BL_FEED_LOCAL);
	s = must_finish(b, 1);
	expect(s, "www.example.com", BL_PASS, NULL, 0, 0);
	expect(s, "example.com", BL_ALLOWED, "example.com", BL_EXACT,
	    BL_FEED_LOCAL);
	bl_snapshot_free(s);
}

static void
test_most_specific_deny_wins(void **state)
{
	struct bl_snapshot *s;

	(void)state;
	/* Both orders of insertion. */
	for (int order = 0; order < 2; order++) {
		struct bl_builder *b = must_builder();
		int wide, narrow;

		wide = bl_builder_add_feed(b, "wide", "mining");
		narrow = bl_builder_add_feed(b, "narrow", "tracking");
		assert_int_equal(wide, 1);
		assert_int_equal(narrow, 2);
		if (order == 0) {
			add(b, "example.net", BL_DENY, BL_SUBTREE, 1);
			add(b, "ads.example.net", BL_DENY, BL_SUBTREE, 2);
		} else {
			add(b, "ads.example.net", BL_DENY, BL_SUBTREE, 2);
			add(b, "example.net", BL_DENY, BL_SUBTREE, 1);
		}
		add(b, "x.ads.example.net", BL_DENY, BL_EXACT, 1);
		s = must_finish(b, 1);

		expect(s, "a.ads.example.net", BL_BLOCK, "ads.example.net",
		    BL_SUBTREE, 2);
		expect(s, "ads.example.net", BL_BLOCK, "ads.example.net",
		    BL_SUBTREE, 2);
		expect(s, "www.example.net", BL_BLOCK, "example.net",
		    BL_SUBTREE, 1);
		expect(s, "example.net", BL_BLOCK, "example.net", BL_SUBTREE,
		    1);
		/* An exact rule on the name itself is the most specific. */
		expect(s, "x.ads.example.net", BL_BLOCK, "x.ads.example.net",
		    BL_EXACT, 1);
		/* But not for its children. */
		expect(s, "y.x.ads.example.net", BL_BLOCK, "ads.example.net",
		    BL_SUBTREE, 2);
		bl_snapshot_free(s);
	}
}

static void
test_lowest_feed_reported(void **state)
{
	struct bl_builder *b;
	struct bl_snapshot *s;

	(void)state;
	b = must_builder();
	assert_int_equal(bl_builder_add_feed(b, "one", "mining"), 1);
	assert_int_equal(bl_builder_add_feed(b, "two", "mining"), 2);
	add(b, "dup.example", BL_DENY, BL_SUBTREE, 2);
	add(b, "dup.example", BL_DENY, BL_SUBTREE, 1);
	add(b, "dup.example", BL_DENY, BL_SUBTREE, BL_FEED_LOCAL);
	add(b, "dup2.example", BL_DENY, BL_EXACT, 1);
	add(b, "dup2.example", BL_DENY, BL_EXACT, 2);
	add(b, "okdup.example", BL_ALLOW, BL_SUBTREE, 2);
	add(b, "okdup.example", BL_ALLOW, BL_SUBTREE, 1);
	s = must_finish(b, 1);

	/* Whatever order the rows come in: local first, then the feed
	 * added first (lowest index). */
	expect(s, "dup.example", BL_BLOCK, "dup.example", BL_SUBTREE,
	    BL_FEED_LOCAL);
	expect(s, "a.dup.example", BL_BLOCK, "dup.example", BL_SUBTREE,
	    BL_FEED_LOCAL);
	expect(s, "dup2.example", BL_BLOCK, "dup2.example", BL_EXACT, 1);
	expect(s, "okdup.example", BL_ALLOWED, "okdup.example", BL_SUBTREE,
	    1);
	assert_int_equal(bl_snapshot_names(s), 3);
	bl_snapshot_free(s);
}

/*
 * One name with an exact deny from one feed and a subtree deny from
 * another: a child of the name is blocked by the subtree rule only, so the
 * verdict must name that rule's feed.
 */
static void
test_mixed_mode_feed_attribution(void **state)
{
	struct bl_builder *b;
	struct bl_snapshot *s;

	(void)state;
	b = must_builder();
	assert_int_equal(bl_builder_add_feed(b, "exactfeed", "ads"), 1);
	assert_int_equal(bl_builder_add_feed(b, "subtreefeed", "mining"), 2);
	add(b, "x.example", BL_DENY, BL_EXACT, 1);
	add(b, "x.example", BL_DENY, BL_SUBTREE, 2);
	s = must_finish(b, 1);

	expect(s, "a.x.example", BL_BLOCK, "x.example", BL_SUBTREE, 2);
	bl_snapshot_free(s);
}

static void
test_verdict_fields(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	struct bl_verdict v;
	uint8_t wire[BL_WIRE_MAX];
	int wl;

	(void)state;
	assert_int_equal(bl_builder_add_feed(b, "f1", "mining"), 1);
	add(b, "pool.example", BL_DENY, BL_SUBTREE, 1);
	s = must_finish(b, 1);

	v = lookup(s, "eu.pool.example");
	assert_int_equal(v.action, BL_BLOCK);
	assert_int_equal(v.mode, BL_SUBTREE);
	assert_int_equal(v.feed, 1);
	wl = bl_name_to_wire("pool.example", wire);
	assert_int_equal(v.rule_len, wl);
	assert_memory_equal(v.rule, wire, (size_t)wl);
	/* The rule is the snapshot's copy, not the query's. */
	assert_string_equal(rule_text(&v), "pool.example");

	v = lookup(s, "other.example");
	assert_int_equal(v.action, BL_PASS);
	assert_null(v.rule);
	assert_int_equal(v.rule_len, 0);
	assert_int_equal(v.feed, 0);
	bl_snapshot_free(s);
}

static void
test_feeds(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	const struct bl_feed_info *fi;
	char longid[200];

	(void)state;
	assert_int_equal(bl_builder_add_feed(b, "nocoin", "browser-miner"), 1);
	assert_int_equal(bl_builder_add_feed(b, "coinminer", "mining"), 2);
	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(bl_builder_add_feed(b, longid, "long"), 3);
	s = must_finish(b, 42);

	assert_int_equal(bl_snapshot_generation(s), 42);
	fi = bl_snapshot_feed(s, BL_FEED_LOCAL);
	assert_non_null(fi);
	assert_string_equal(fi->id, "local");
	fi = bl_snapshot_feed(s, 1);
	assert_non_null(fi);
	assert_string_equal(fi->id, "nocoin");
	assert_string_equal(fi->category, "browser-miner");
	fi = bl_snapshot_feed(s, 2);
	assert_non_null(fi);
	assert_string_equal(fi->id, "coinminer");
	assert_string_equal(fi->category, "mining");
	/* Truncated, terminated. */
	fi = bl_snapshot_feed(s, 3);
	assert_non_null(fi);
	assert_int_equal(strlen(fi->id), sizeof(fi->id) - 1);
	assert_null(bl_snapshot_feed(s, 4));
	assert_null(bl_snapshot_feed(s, UINT16_MAX));
	bl_snapshot_free(s);
}

static void
test_builder_rejects_bad_input(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	uint8_t wire[BL_WIRE_MAX];
	int wl;

	(void)state;
	wl = bl_name_to_wire("ok.example", wire);
	assert_int_equal(bl_builder_add(b, wire, 0, BL_DENY, BL_EXACT, 0), -1);
	/* Only feed 0 exists yet. */
	assert_int_equal(bl_builder_add(b, wire, (size_t)wl, BL_DENY, BL_EXACT,
	    1), -1);
	/* The builder is still usable. */
	assert_int_equal(bl_builder_add(b, wire, (size_t)wl, BL_DENY, BL_EXACT,
	    0), 0);
	s = must_finish(b, 1);
	assert_int_equal(bl_snapshot_names(s), 1);
	assert_int_equal(action_of(s, "ok.example"), BL_BLOCK);
	bl_snapshot_free(s);

	/* A builder can be dropped without finishing it. */
	b = must_builder();
	add(b, "dropped.example", BL_DENY, BL_EXACT, 0);
	bl_builder_free(b);
	bl_builder_free(NULL);
	assert_null(bl_builder_finish(NULL, 1));
}

static void
test_names_unique(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;

	(void)state;
	assert_int_equal(bl_builder_add_feed(b, "a", "mining"), 1);
	add(b, "one.example", BL_DENY, BL_SUBTREE, 1);
	add(b, "one.example", BL_DENY, BL_SUBTREE, 1);
	add(b, "one.example", BL_DENY, BL_EXACT, 0);
	add(b, "one.example", BL_ALLOW, BL_EXACT, 0);
	add(b, "two.example", BL_DENY, BL_SUBTREE, 1);
	add(b, "sub.one.example", BL_DENY, BL_SUBTREE, 1);
	s = must_finish(b, 7);
	assert_int_equal(bl_snapshot_names(s), 3);
	assert_int_equal(bl_snapshot_generation(s), 7);
	bl_snapshot_free(s);
}

static void
test_null_and_empty(void **state)
{
	struct bl_snapshot *s;
	struct bl_verdict v;
	uint8_t root = 0;

	(void)state;
	v = lookup(NULL, "example.com");
	assert_int_equal(v.action, BL_PASS);
	assert_null(v.rule);

	s = must_finish(must_builder(), 3);
	assert_int_equal(bl_snapshot_names(s), 0);
	v = lookup(s, "example.com");
	assert_int_equal(v.action, BL_PASS);
	assert_null(v.rule);
	bl_snapshot_free(s);

	/* The root never matches a rule. */
	{
		struct bl_builder *b = must_builder();

		add(b, "com", BL_DENY, BL_SUBTREE, 0);
		s = must_finish(b, 1);
		memset(&v, 0xa5, sizeof(v));
		bl_match_lookup(s, &root, 1, &v);
		assert_int_equal(v.action, BL_PASS);
		assert_int_equal(action_of(s, "a.com"), BL_BLOCK);
		bl_snapshot_free(s);
	}
	bl_snapshot_free(NULL);
}

/* Deterministic names of about 20 characters. */
static void
gen_name(char *buf, size_t cap, unsigned i, const char *tld)
{
	snprintf(buf, cap, "h%07u.example.%s", i, tld);
}

static void
test_large_build(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	char name[64];
	size_t misses = 0, false_hits = 0, bytes;

	(void)state;
	assert_int_equal(bl_builder_add_feed(b, "big", "mining"), 1);
	for (unsigned i = 0; i < BIG_N; i++) {
		gen_name(name, sizeof(name), i, "com");
		add(b, name, BL_DENY, i % 2 ? BL_EXACT : BL_SUBTREE, 1);
	}
	s = must_finish(b, 1);
	assert_int_equal(bl_snapshot_names(s), BIG_N);

	for (unsigned i = 0; i < BIG_N; i++) {
		struct bl_verdict v;

		gen_name(name, sizeof(name), i, "com");
		v = lookup(s, name);
		if (v.action != BL_BLOCK || v.feed != 1 ||
		    strcmp(rule_text(&v), name) != 0)
			misses++;
	}
	for (unsigned i = 0; i < BIG_N; i++) {
		/* Other numbers, and the same numbers elsewhere. */
		gen_name(name, sizeof(name), BIG_N + i, "com");
		if (action_of(s, name) != BL_PASS)
			false_hits++;
		gen_name(name, sizeof(name), i, "org");
		if (action_of(s, name) != BL_PASS)
			false_hits++;
	}
	assert_int_equal(misses, 0);
	assert_int_equal(false_hits, 0);

	/* Children: blocked under subtree rules, not under exact ones. */
	assert_int_equal(action_of(s, "www.h0000000.example.com"), BL_BLOCK);
	assert_int_equal(action_of(s, "www.h0000001.example.com"), BL_PASS);
	assert_int_equal(action_of(s, "example.com"), BL_PASS);

	bytes = bl_snapshot_bytes(s);
	if (bytes / bl_snapshot_names(s) >= 64)
		fail_msg("%zu bytes for %zu names: %zu per name", bytes,
		    bl_snapshot_names(s), bytes / bl_snapshot_names(s));
	bl_snapshot_free(s);
}

/* Names of every length from 1 to 253 characters. */
static void
test_long_names(void **state)
{
	struct bl_builder *b = must_builder();
	struct bl_snapshot *s;
	char name[BL_NAME_MAX + 1];

	(void)state;
	for (size_t len = 1; len <= BL_NAME_MAX; len++) {
		for (size_t o = 0; o < len; o++)
			name[o] = o % 64 == 63 ? '.' : (char)('a' + len % 26);
		name[len] = '\0';
		if (name[len - 1] == '.')
			continue;
		add(b, name, BL_DENY, BL_EXACT, 0);
	}
	s = must_finish(b, 1);
	for (size_t len = 1; len <= BL_NAME_MAX; len++) {
		for (size_t o = 0; o < len; o++)
			name[o] = o % 64 == 63 ? '.' : (char)('a' + len % 26);
		name[len] = '\0';
		if (name[len - 1] == '.')
			continue;
		expect(s, name, BL_BLOCK, name, BL_EXACT, 0);
	}
	bl_snapshot_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_subtree_rule),
		cmocka_unit_test(test_exact_rule),
		cmocka_unit_test(test_allow_exact_beats_deny_subtree),
		cmocka_unit_test(test_allow_subtree_parent_beats_deny_exact_child),
		cmocka_unit_test(test_allow_and_deny_on_same_name),
		cmocka_unit_test(test_exact_allow_on_parent_not_child),
		cmocka_unit_test(test_most_specific_deny_wins),
		cmocka_unit_test(test_lowest_feed_reported),
		cmocka_unit_test(test_mixed_mode_feed_attribution),
		cmocka_unit_test(test_verdict_fields),
		cmocka_unit_test(test_feeds),
		cmocka_unit_test(test_builder_rejects_bad_input),
		cmocka_unit_test(test_names_unique),
		cmocka_unit_test(test_null_and_empty),
		cmocka_unit_test(test_large_build),
		cmocka_unit_test(test_long_names),
	};

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("match", tests, NULL, NULL);
}
