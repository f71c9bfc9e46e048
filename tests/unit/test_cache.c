#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "resolver/cache.h"
#include "resolver/wire.h"
#include "testpkt.h"

#define T0 1000000 /* ms; any start will do, zero hides bugs */

struct reply {
	struct tpkt p;
	struct wire_scan s;
	struct cache_key k;
};

static const struct cache_limits def_limits = {
	.max_bytes = 1 << 20,
	.min_ttl = 0,
	.max_ttl = 86400,
	.neg_max_ttl = 3600,
};

static struct cache *
new_cache(const struct cache_limits *lim)
{
	struct cache *c = cache_new(lim);

	assert_non_null(c);
	return c;
}

/* Scan what was built and make the key from the reply's question. */
static void
finish(struct reply *r, int do_bit)
{
	assert_int_equal(wire_reply_scan(r->p.b, r->p.len, &r->s), 0);
	cache_key_make(&r->k, r->s.qname, r->s.qname_len, r->s.qtype,
	    r->s.qclass, do_bit);
}

/* name A with one answer per TTL given (0-terminated list). */
static void
positive(struct reply *r, const char *name, uint16_t qtype,
    const uint32_t *ttls, int opt)
{
	uint16_t n = 0;

	while (ttls[n] != 0)
		n++;
	tp_hdr(&r->p, 0xbeef, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA, 1, n,
	    0, opt ? 1 : 0);
	tp_question(&r->p, name, qtype, 1);
	for (uint16_t i = 0; i < n; i++)
		tp_a_ptr(&r->p, ttls[i], (uint8_t)i);
	if (opt)
		tp_opt(&r->p, 1232, 0, 0, 0, NULL, 0);
	finish(r, 0);
}

static void
positive1(struct reply *r, const char *name, uint32_t ttl)
{
	const uint32_t ttls[] = {ttl, 0};

	positive(r, name, 1, ttls, 0);
}

/* NXDOMAIN or NODATA, with an SOA in authority when soa_ttl is not 0. */
static void
negative(struct reply *r, unsigned rcode, uint32_t soa_ttl, uint32_t minimum)
{
	tp_hdr(&r->p, 0xbeef, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA |
		rcode, 1, 0, soa_ttl != 0 ? 1 : 0, 0);
	/* "\2nx" at 12, so "example.com" starts at 15. */
	tp_question(&r->p, "nx.example.com", 1, 1);
	if (soa_ttl != 0)
		tp_soa_ptr(&r->p, 15, soa_ttl, minimum);
	finish(r, 0);
}

static const struct cache_entry *
lookup(struct cache *c, const struct reply *r, uint64_t now)
{
	return cache_lookup(c, &r->k, now);
}

/* The TTL of record i in a copy of the entry made at now. */
static uint32_t
copy_ttl(const struct cache_entry *e, const struct reply *r, unsigned i,
    uint64_t now)
{
	uint8_t out[TP_MAX];

	assert_int_not_equal(cache_entry_copy(e, out, sizeof(out), now), 0);
	return tp_get32(out, r->s.ttl_off[i]);
}

static void
test_insert_lookup(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r, other;
	const struct cache_entry *e;
	struct cache_stats st;
	uint8_t out[TP_MAX];

	positive1(&r, "example.com", 300);
	positive1(&other, "example.org", 300);
	assert_null(lookup(c, &r, T0));
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_null(lookup(c, &other, T0));
	/* Copied at once, the bytes are the reply's. */
	assert_int_equal(cache_entry_copy(e, out, sizeof(out), T0), r.p.len);
	assert_memory_equal(out, r.p.b, r.p.len);
	/* Too small a buffer. */
	assert_int_equal(cache_entry_copy(e, out, r.p.len - 1, T0), 0);

	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.inserts, 1);
	assert_true(st.bytes >= r.p.len);

	/* The same key again replaces the entry. */
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1);

	cache_remove(c, &r.k);
	assert_null(lookup(c, &r, T0));
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	cache_free(c);
}

static void
test_key_case_insensitive(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r, lower;

	positive1(&r, "WwW.ExAmPlE.CoM", 300);
	positive1(&lower, "www.example.com", 300);
	assert_memory_equal(r.k.name, "\3www\7example\3com", 17);
	assert_int_equal(r.k.name_len, 17);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	assert_non_null(lookup(c, &lower, T0));
	cache_free(c);
}

static void
test_key_fields_distinct(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	struct cache_key k;

	positive1(&r, "example.com", 300);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);

	cache_key_make(&k, r.s.qname, r.s.qname_len, 28, 1, 0);
	assert_null(cache_lookup(c, &k, T0));
	cache_key_make(&k, r.s.qname, r.s.qname_len, 1, 1, 1);
	assert_null(cache_lookup(c, &k, T0));
	cache_key_make(&k, r.s.qname, r.s.qname_len, 1, 3, 0);
	assert_null(cache_lookup(c, &k, T0));
	cache_key_make(&k, r.s.qname, r.s.qname_len, 1, 1, 0);
	assert_non_null(cache_lookup(c, &k, T0));

	/* Any non-zero DO is the same key. */
	r.k.do_bit = 0;
	cache_key_make(&r.k, r.s.qname, r.s.qname_len, 1, 1, 0x8000);
	assert_int_equal(r.k.do_bit, 1);
	cache_free(c);
}

static void
test_ttl_countdown(void **state)
{
	static const uint32_t ttls[] = {300, 100, 0};
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	const struct cache_entry *e;

	positive(&r, "example.com", 1, ttls, 0);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0 + 5000);
	assert_non_null(e);
	/* Both TTLs are cut to the entry's lifetime, the lowest TTL. */
	assert_int_equal(copy_ttl(e, &r, 0, T0), 100);
	assert_int_equal(copy_ttl(e, &r, 0, T0 + 5000), 95);
	assert_int_equal(copy_ttl(e, &r, 1, T0 + 5000), 95);
	/* Whole seconds only. */
	assert_int_equal(copy_ttl(e, &r, 1, T0 + 5999), 95);
	assert_int_equal(copy_ttl(e, &r, 1, T0 + 6000), 94);
	cache_free(c);
}

static void
test_expiry_at_min_ttl(void **state)
{
	static const uint32_t ttls[] = {300, 100, 0};
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	const struct cache_entry *e;
	struct cache_stats st;

	positive(&r, "example.com", 1, ttls, 0);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0 + 99999);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0 + 99999), 1);
	assert_null(lookup(c, &r, T0 + 100000));
	cache_get_stats(c, &st);
	assert_int_equal(st.expired, 1);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	cache_free(c);
}

static void
test_ttl_clamping(void **state)
{
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct reply r;
	const struct cache_entry *e;

	lim.min_ttl = 30;
	c = new_cache(&lim);
	positive1(&r, "short.example.com", 5);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0), 30);
	assert_non_null(lookup(c, &r, T0 + 29999));
	assert_null(lookup(c, &r, T0 + 30000));
	cache_free(c);

	lim = def_limits;
	lim.max_ttl = 60;
	c = new_cache(&lim);
	positive1(&r, "long.example.com", 86400);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0), 60);
	assert_non_null(lookup(c, &r, T0 + 59999));
	assert_null(lookup(c, &r, T0 + 60000));
	cache_free(c);
}

static void
test_ttl_zero_not_cached(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r;

	positive1(&r, "example.com", 1);
	tp_set16(&r.p, r.s.ttl_off[0] + 2, 0);
	finish(&r, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);

	positive1(&r, "example.com", 1);
	/* Top bit set: RFC 2181 says zero. */
	tp_set16(&r.p, r.s.ttl_off[0], 0x8000);
	finish(&r, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);
	assert_null(lookup(c, &r, T0));
	cache_free(c);
}

static void
test_negative_nxdomain(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	const struct cache_entry *e;

	/* Lifetime is min(SOA TTL, MINIMUM) either way round. */
	negative(&r, WIRE_RCODE_NXDOMAIN, 900, 300);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0), 300);
	assert_non_null(lookup(c, &r, T0 + 299999));
	assert_null(lookup(c, &r, T0 + 300000));

	negative(&r, WIRE_RCODE_NXDOMAIN, 120, 3600);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	assert_non_null(lookup(c, &r, T0 + 119999));
	assert_null(lookup(c, &r, T0 + 120000));
	cache_free(c);
}

static void
test_negative_nodata(void **state)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	const struct cache_entry *e;

	negative(&r, WIRE_RCODE_NOERROR, 120, 3600);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0), 120);
	assert_non_null(lookup(c, &r, T0 + 119999));
	assert_null(lookup(c, &r, T0 + 120000));
	cache_free(c);
}

static void
test_negative_capped(void **state)
{
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct reply r;
	const struct cache_entry *e;

	lim.neg_max_ttl = 60;
	c = new_cache(&lim);
	negative(&r, WIRE_RCODE_NXDOMAIN, 900, 300);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	assert_int_equal(copy_ttl(e, &r, 0, T0), 60);
	assert_null(lookup(c, &r, T0 + 60000));

	/* max_ttl does not bound negative answers, neg_max_ttl does. */
	lim = def_limits;
	lim.max_ttl = 10;
	cache_set_limits(c, &lim);
	negative(&r, WIRE_RCODE_NOERROR, 900, 300);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	assert_non_null(lookup(c, &r, T0 + 299999));
	cache_free(c);
}

static void
test_not_cached(void **state)
{
	static const unsigned rcodes[] = {WIRE_RCODE_FORMERR,
	    WIRE_RCODE_SERVFAIL, WIRE_RCODE_NOTIMP, WIRE_RCODE_REFUSED};
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	struct cache_stats st;

	/* RFC 2308 5: no SOA, nothing to time the negative answer by. */
	negative(&r, WIRE_RCODE_NXDOMAIN, 0, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);
	negative(&r, WIRE_RCODE_NOERROR, 0, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);

	for (size_t i = 0; i < sizeof(rcodes) / sizeof(rcodes[0]); i++) {
		positive1(&r, "example.com", 300);
		tp_set16(&r.p, 2, (uint16_t)(tp_get16(r.p.b, 2) | rcodes[i]));
		finish(&r, 0);
		assert_true(
		    cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);
	}

	positive1(&r, "example.com", 300);
	tp_set16(&r.p, 2, (uint16_t)(tp_get16(r.p.b, 2) | WIRE_FLAG_TC));
	finish(&r, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);

	/* BADVERS and friends live in the OPT record. */
	tp_hdr(&r.p, 1, WIRE_FLAG_QR, 1, 1, 0, 1);
	tp_question(&r.p, "example.com", 1, 1);
	tp_a_ptr(&r.p, 300, 1);
	tp_opt(&r.p, 1232, 1, 0, 0, NULL, 0);
	finish(&r, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);

	/* An OPT record that is not last cannot be cut out. */
	tp_hdr(&r.p, 1, WIRE_FLAG_QR, 1, 1, 0, 2);
	tp_question(&r.p, "example.com", 1, 1);
	tp_a_ptr(&r.p, 300, 1);
	tp_opt(&r.p, 1232, 0, 0, 0, NULL, 0);
	tp_a_ptr(&r.p, 300, 2);
	finish(&r, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);

	assert_null(lookup(c, &r, T0));
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.inserts, 0);
	cache_free(c);
}

static void
test_opt_stripped(void **state)
{
	static const uint32_t ttls[] = {300, 0};
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	const struct cache_entry *e;
	uint8_t out[TP_MAX];
	size_t n;

	positive(&r, "example.com", 1, ttls, 1);
	assert_int_equal(r.s.arcount, 1);
	assert_int_not_equal(r.s.opt_off, 0);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	e = lookup(c, &r, T0);
	assert_non_null(e);
	n = cache_entry_copy(e, out, sizeof(out), T0);
	assert_int_equal(n, r.p.len - 11);
	assert_int_equal(n, r.s.opt_off);
	assert_int_equal(tp_get16(out, 10), 0);
	/* Everything else is the reply's. */
	assert_memory_equal(out, r.p.b, 10);
	assert_memory_equal(out + 12, r.p.b + 12, n - 12);
	cache_free(c);
}

/* Fill names "nN.example.com"; r must hold room for max entries. */
static void
insert_n(struct cache *c, struct reply *r, int from, int to, uint64_t now)
{
	char name[64];

	for (int i = from; i < to; i++) {
		snprintf(name, sizeof(name), "n%d.example.com", i);
		positive1(&r[i], name, 3600);
		assert_int_equal(cache_insert(c, &r[i].k, r[i].p.b, r[i].p.len,
				     &r[i].s, now),
		    0);
	}
}

static uint64_t
entry_bytes(void)
{
	struct cache *c = new_cache(&def_limits);
	struct reply r;
	struct cache_stats st;

	/* Same length as every "nN.example.com" with N below 10. */
	positive1(&r, "n0.example.com", 3600);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	cache_get_stats(c, &st);
	cache_free(c);
	return st.bytes;
}

static void
test_byte_bound_lru(void **state)
{
	static struct reply r[400];
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct cache_stats st;
	uint64_t one = entry_bytes();
	char name[64];

	/* Room for about 20 entries; names grow a byte past n9 and n99. */
	lim.max_bytes = (size_t)one * 20 + one / 2;
	c = new_cache(&lim);
	insert_n(c, r, 0, 2, T0);
	for (int i = 2; i < 400; i++) {
		/* Keep n0 in use; n1 is never looked at again. */
		assert_non_null(lookup(c, &r[0], T0 + (uint64_t)i));
		snprintf(name, sizeof(name), "n%d.example.com", i);
		positive1(&r[i], name, 3600);
		assert_int_equal(cache_insert(c, &r[i].k, r[i].p.b, r[i].p.len,
				     &r[i].s, T0 + (uint64_t)i),
		    0);
		cache_get_stats(c, &st);
		assert_true(st.bytes <= lim.max_bytes);
	}
	cache_get_stats(c, &st);
	assert_true(st.evictions > 0);
	assert_int_equal(st.entries, 20);
	/* n0 and the 19 newest. */
	assert_non_null(lookup(c, &r[0], T0 + 500));
	for (int i = 1; i < 381; i++)
		assert_null(lookup(c, &r[i], T0 + 500));
	for (int i = 381; i < 400; i++)
		assert_non_null(lookup(c, &r[i], T0 + 500));
	cache_free(c);
}

static void
test_set_limits_shrink(void **state)
{
	static struct reply r[10];
	struct cache_limits lim = def_limits;
	struct cache *c = new_cache(&lim);
	struct cache_stats st;
	uint64_t one = entry_bytes();

	insert_n(c, r, 0, 10, T0);
	/* Touch n0 so it is the most recently used. */
	assert_non_null(lookup(c, &r[0], T0 + 1));
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.bytes, one * 10);

	lim.max_bytes = (size_t)(one * 4);
	cache_set_limits(c, &lim);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 4);
	assert_int_equal(st.evictions, 6);
	assert_true(st.bytes <= lim.max_bytes);
	assert_non_null(lookup(c, &r[0], T0 + 2));
	assert_non_null(lookup(c, &r[9], T0 + 2));
	assert_non_null(lookup(c, &r[8], T0 + 2));
	assert_non_null(lookup(c, &r[7], T0 + 2));
	for (int i = 1; i < 7; i++)
		assert_null(lookup(c, &r[i], T0 + 2));
	cache_free(c);
}

static void
test_too_big_refused(void **state)
{
	static const uint32_t ttls[] = {60, 60, 60, 60, 60, 60, 60, 60, 60,
	    60, 0};
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct reply r;
	uint64_t one = entry_bytes();

	/* Less than twice one small entry: a bigger one does not fit. */
	lim.max_bytes = (size_t)(one * 2);
	c = new_cache(&lim);
	positive(&r, "n0.example.com", 1, ttls, 0);
	assert_true(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0) < 0);
	positive1(&r, "n0.example.com", 60);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	cache_free(c);
}

static void
test_clear_all(void **state)
{
	static struct reply r[5];
	struct cache *c = new_cache(&def_limits);
	struct cache_stats st;

	insert_n(c, r, 0, 5, T0);
	cache_clear_all(c);
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.bytes, 0);
	for (int i = 0; i < 5; i++)
		assert_null(lookup(c, &r[i], T0));
	cache_free(c);
}

static void
test_many_entries(void **state)
{
	static struct reply r;
	struct cache *c = new_cache(&def_limits);
	struct cache_key k;
	struct cache_stats st;
	char name[64];

	/* Past the initial 1024 buckets, so the table grows under us. */
	for (int i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "m%d.example.com", i);
		positive1(&r, name, 3600);
		assert_int_equal(
		    cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	}
	cache_get_stats(c, &st);
	assert_int_equal(st.entries, 1500);
	for (int i = 0; i < 1500; i++) {
		uint8_t wire[WIRE_NAME_MAX];
		int n;

		snprintf(name, sizeof(name), "M%d.EXAMPLE.com", i);
		n = wire_name_from_text(name, wire);
		assert_true(n > 0);
		cache_key_make(&k, wire, (size_t)n, 1, 1, 0);
		assert_non_null(cache_lookup(c, &k, T0));
	}
	cache_free(c);
}

static void
test_stale_window(void **state)
{
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct reply r;
	const struct cache_entry *e;
	uint8_t out[TP_MAX];

	lim.stale_s = 10;
	c = new_cache(&lim);
	positive1(&r, "n0.example.com", 60);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	/* Expired: a miss for the hit path, still there for serve-stale. */
	assert_null(lookup(c, &r, T0 + 60000));
	e = cache_lookup_stale(c, &r.k, T0 + 69999);
	assert_non_null(e);
	assert_int_equal(cache_entry_copy_stale(e, out, sizeof(out), 30),
	    r.p.len);
	assert_int_equal(tp_get32(out, r.s.ttl_off[0]), 30);
	assert_null(cache_lookup_stale(c, &r.k, T0 + 70000));
	cache_free(c);

	/* Off: an expired entry is gone when met. */
	c = new_cache(&def_limits);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	assert_null(lookup(c, &r, T0 + 60000));
	assert_null(cache_lookup_stale(c, &r.k, T0 + 60000));
	cache_free(c);
}

/* The failure recheck hold: only on an expired entry, ends on time, and
 * a fresh insert drops it. */
static void
test_stale_hold(void **state)
{
	struct cache_limits lim = def_limits;
	struct cache *c;
	struct reply r;
	const struct cache_entry *e;

	lim.stale_s = 3600;
	c = new_cache(&lim);
	positive1(&r, "n0.example.com", 60);
	assert_int_equal(cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0), 0);
	/* Live: a hold until before it expires means nothing. */
	cache_stale_hold(c, &r.k, T0 + 30000);
	e = cache_lookup_stale(c, &r.k, T0 + 1000);
	assert_non_null(e);
	assert_false(cache_entry_held(e, T0 + 1000));

	cache_stale_hold(c, &r.k, T0 + 90000);
	e = cache_lookup_stale(c, &r.k, T0 + 61000);
	assert_non_null(e);
	assert_true(cache_entry_held(e, T0 + 61000));
	assert_true(cache_entry_held(e, T0 + 89999));
	/* Whole seconds: over at the latest a second after. */
	assert_false(cache_entry_held(e, T0 + 91000));

	/* A fresh answer replaces the entry and its hold. */
	assert_int_equal(
	    cache_insert(c, &r.k, r.p.b, r.p.len, &r.s, T0 + 62000), 0);
	e = cache_lookup_stale(c, &r.k, T0 + 62000 + 61000);
	assert_non_null(e);
	assert_false(cache_entry_held(e, T0 + 62000 + 61000));

	/* Nothing there: no effect, no crash. */
	positive1(&r, "n1.example.com", 60);
	cache_stale_hold(c, &r.k, T0 + 90000);
	assert_null(cache_lookup_stale(c, &r.k, T0 + 61000));
	cache_free(c);
}

/* Expired entries kept for serve-stale are the first evicted. */
static void
test_stale_first_evicted(void **state)
{
	static struct reply r[6];
	struct cache_limits lim = def_limits;
	struct cache *c;
	uint64_t one = entry_bytes(), later = T0 + 11000;

	lim.stale_s = 86400;
	lim.max_bytes = (size_t)one * 4 + one / 2;

	/* n0 newest and marked used; found expired, it goes first. */
	c = new_cache(&lim);
	insert_n(c, r, 1, 4, T0);
	positive1(&r[0], "n0.example.com", 10);
	assert_int_equal(cache_insert(c, &r[0].k, r[0].p.b, r[0].p.len,
			     &r[0].s, T0 + 1),
	    0);
	for (int i = 0; i < 4; i++)
		assert_non_null(lookup(c, &r[i], T0 + 2));
	assert_null(lookup(c, &r[0], later));
	insert_n(c, r, 4, 5, later);
	assert_null(cache_lookup_stale(c, &r[0].k, later));
	for (int i = 1; i < 5; i++)
		assert_non_null(lookup(c, &r[i], later));
	cache_free(c);

	/* n0 oldest and marked used, never looked at after it expired: no
	 * second chance for it. */
	c = new_cache(&lim);
	positive1(&r[0], "n0.example.com", 10);
	assert_int_equal(cache_insert(c, &r[0].k, r[0].p.b, r[0].p.len,
			     &r[0].s, T0),
	    0);
	assert_non_null(lookup(c, &r[0], T0 + 1));
	insert_n(c, r, 1, 4, T0 + 2);
	insert_n(c, r, 4, 5, later);
	assert_null(cache_lookup_stale(c, &r[0].k, later));
	for (int i = 1; i < 5; i++)
		assert_non_null(lookup(c, &r[i], later));
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_insert_lookup),
		cmocka_unit_test(test_key_case_insensitive),
		cmocka_unit_test(test_key_fields_distinct),
		cmocka_unit_test(test_ttl_countdown),
		cmocka_unit_test(test_expiry_at_min_ttl),
		cmocka_unit_test(test_ttl_clamping),
		cmocka_unit_test(test_ttl_zero_not_cached),
		cmocka_unit_test(test_negative_nxdomain),
		cmocka_unit_test(test_negative_nodata),
		cmocka_unit_test(test_negative_capped),
		cmocka_unit_test(test_not_cached),
		cmocka_unit_test(test_opt_stripped),
		cmocka_unit_test(test_byte_bound_lru),
		cmocka_unit_test(test_set_limits_shrink),
		cmocka_unit_test(test_too_big_refused),
		cmocka_unit_test(test_clear_all),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_stale_window),
		cmocka_unit_test(test_stale_hold),
		cmocka_unit_test(test_stale_first_evicted),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
