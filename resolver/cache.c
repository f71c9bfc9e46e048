#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "resolver/cache.h"
#include "resolver/wire.h"

/* Bookkeeping per entry beyond its bytes: hash slot and malloc overhead. */
#define ENTRY_OVERHEAD 48

struct cache {
	struct cache_limits lim;
	struct cache_entry **buckets;
	size_t n_buckets; /* power of two */
	struct cache_entry *lru_head; /* most recently used */
	struct cache_entry *lru_tail;
	struct cache_stats st;
	uint64_t now_ms; /* of the last insert or expiry seen */
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

static uint64_t
key_hash(const struct cache *c, const struct cache_key *k)
{
	uint8_t buf[5 + 255];
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	wire_put16(buf, k->qtype);
	wire_put16(buf + 2, k->qclass);
	buf[4] = k->do_bit;
	memcpy(buf + 5, k->name, k->name_len);
	crypto_shorthash(out, buf, 5 + (size_t)k->name_len, c->hash_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

static int
key_equal(const struct cache_key *a, const struct cache_key *b)
{
	return a->qtype == b->qtype && a->qclass == b->qclass &&
	    a->do_bit == b->do_bit && a->name_len == b->name_len &&
	    memcmp(a->name, b->name, a->name_len) == 0;
}

void
cache_key_make(struct cache_key *k, const uint8_t *name, size_t len,
    uint16_t qtype, uint16_t qclass, int do_bit)
{
	k->qtype = qtype;
	k->qclass = qclass;
	k->do_bit = do_bit ? 1 : 0;
	k->name_len = (uint8_t)len;
	wire_name_lower(k->name, name, len);
}

struct cache *
cache_new(const struct cache_limits *lim)
{
	struct cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->n_buckets = 1024;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (c->buckets == NULL) {
		free(c);
		return NULL;
	}
	c->lim = *lim;
	randombytes_buf(c->hash_key, sizeof(c->hash_key));
	return c;
}

static void
lru_unlink(struct cache *c, struct cache_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push_front(struct cache *c, struct cache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->lru_prev = e;
	c->lru_head = e;
	if (c->lru_tail == NULL)
		c->lru_tail = e;
}

static void
lru_push_back(struct cache *c, struct cache_entry *e)
{
	e->lru_next = NULL;
	e->lru_prev = c->lru_tail;
	if (c->lru_tail != NULL)
		c->lru_tail->lru_next = e;
	c->lru_tail = e;
	if (c->lru_head == NULL)
		c->lru_head = e;
}

static void
entry_delete(struct cache *c, struct cache_entry *e)
{
	struct cache_entry **pp = &c->buckets[e->hash & (c->n_buckets - 1)];

	while (*pp != NULL && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp == e)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->st.entries--;
	c->st.bytes -= e->size;
	free(e);
}

static void
evict_to(struct cache *c, size_t budget)
{
	while (c->st.bytes > budget && c->lru_tail != NULL) {
		struct cache_entry *e = c->lru_tail;

		/* Expired entries kept for serve-stale get no second chance. */
		if (e->used && e->expires_ms > c->now_ms) {
			e->used = 0;
			lru_unlink(c, e);
			lru_push_front(c, e);
			continue;
		}
		entry_delete(c, e);
		c->st.evictions++;
	}
}

void
cache_free(struct cache *c)
{
	if (c == NULL)
		return;
	cache_clear_all(c);
	free(c->buckets);
	free(c);
}

void
cache_set_limits(struct cache *c, const struct cache_limits *lim)
{
	c->lim = *lim;
	evict_to(c, c->lim.max_bytes);
}

void
cache_clear_all(struct cache *c)
{
	while (c->lru_head != NULL)
		entry_delete(c, c->lru_head);
}

void
cache_get_stats(const struct cache *c, struct cache_stats *st)
{
	*st = c->st;
}

static struct cache_entry *
find(struct cache *c, const struct cache_key *k, uint64_t h)
{
	struct cache_entry *e = c->buckets[h & (c->n_buckets - 1)];

	for (; e != NULL; e = e->hnext) {
		if (e->hash == h && key_equal(&e->key, k))
			return e;
	}
	return NULL;
}

const struct cache_entry *
cache_lookup(struct cache *c, const struct cache_key *k, uint64_t now_ms)
{
	uint64_t h = key_hash(c, k);
	struct cache_entry *e = find(c, k, h);

	if (e == NULL)
		return NULL;
	if (now_ms >= e->expires_ms) {
		c->now_ms = now_ms;
		if (now_ms - e->expires_ms >= (uint64_t)c->lim.stale_s * 1000) {
			entry_delete(c, e);
			c->st.expired++;
		} else if (e != c->lru_tail || e->used) {
			/* Kept only for when every upstream fails: the first
			 * to go when room is needed. */
			e->used = 0;
			lru_unlink(c, e);
			lru_push_back(c, e);
		}
		return NULL;
	}
	/* A mark, not a move to the front: relinking would write to two
	 * other entries' cache lines on every hit. Eviction gives marked
	 * entries a second chance (CLOCK), which approximates LRU. */
	e->used = 1;
	return e;
}

const struct cache_entry *
cache_lookup_stale(struct cache *c, const struct cache_key *k,
    uint64_t now_ms)
{
	struct cache_entry *e = find(c, k, key_hash(c, k));

	if (e == NULL ||
	    now_ms >= e->expires_ms + (uint64_t)c->lim.stale_s * 1000)
		return NULL;
	return e;
}

void
cache_stale_hold(struct cache *c, const struct cache_key *k,
    uint64_t until_ms)
{
	struct cache_entry *e = find(c, k, key_hash(c, k));
	uint64_t s = (until_ms + 999) / 1000;

	if (e != NULL && until_ms > e->expires_ms)
		e->hold_s = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

void
cache_remove(struct cache *c, const struct cache_key *k)
{
	struct cache_entry *e = find(c, k, key_hash(c, k));

	if (e != NULL)
		entry_delete(c, e);
}

static void
grow(struct cache *c)
{
	size_t n = c->n_buckets * 2;
	struct cache_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct cache_entry *e = c->buckets[i], *next;

		for (; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(c->buckets);
	c->buckets = b;
	c->n_buckets = n;
}

static uint32_t
clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	return v;
}

/*
 * How long a reply may be kept: the smallest TTL for an answer, min(SOA
 * TTL, MINIMUM) for a negative one (RFC 2308 5), within the configured
 * bounds. 0 means it must not be cached.
 */
static uint32_t
entry_life(const struct cache *c, const struct wire_scan *scan)
{
	uint32_t life;

	if (WIRE_RCODE(scan->flags) == WIRE_RCODE_NXDOMAIN ||
	    scan->ancount == 0) {
		/* RFC 2308 5: no SOA, no negative caching. */
		if (!scan->has_soa)
			return 0;
		life = scan->soa_ttl < scan->soa_minimum ? scan->soa_ttl
							 : scan->soa_minimum;
		return clamp(life, c->lim.min_ttl, c->lim.neg_max_ttl);
	}
	return clamp(scan->min_ttl, c->lim.min_ttl, c->lim.max_ttl);
}

/* Every TTL within [min_ttl, life]; the sign bit counts as 0 (RFC 2181 8). */
static void
clamp_ttls(const struct cache *c, uint8_t *wire, const struct wire_scan *scan,
    uint32_t life)
{
	for (uint16_t i = 0; i < scan->n_ttl; i++) {
		uint8_t *t = wire + scan->ttl_off[i];
		uint32_t ttl = wire_get32(t);

		if (ttl & 0x80000000u)
			ttl = 0;
		/* Nothing is served past the entry's own lifetime. */
		wire_put32(t, clamp(ttl, c->lim.min_ttl, life));
	}
}

void
cache_clamp_reply(const struct cache *c, uint8_t *wire,
    const struct wire_scan *scan)
{
	uint32_t life;

	if (scan->flags & WIRE_FLAG_TC || scan->ext_rcode != 0)
		return;
	if (WIRE_RCODE(scan->flags) != WIRE_RCODE_NOERROR &&
	    WIRE_RCODE(scan->flags) != WIRE_RCODE_NXDOMAIN)
		return;
	life = entry_life(c, scan);
	if (life != 0)
		clamp_ttls(c, wire, scan, life);
}

int
cache_insert(struct cache *c, const struct cache_key *k, const uint8_t *wire,
    size_t len, const struct wire_scan *scan, uint64_t now_ms)
{
	unsigned rcode = WIRE_RCODE(scan->flags);
	size_t keep = len, size;
	uint32_t life;
	struct cache_entry *e, *old;
	uint64_t h;

	if (scan->flags & WIRE_FLAG_TC || scan->ext_rcode != 0)
		return -1;
	if (rcode != WIRE_RCODE_NOERROR && rcode != WIRE_RCODE_NXDOMAIN)
		return -1;
	if (scan->opt_off != 0) {
		/* Cutting a record out of the middle would move names that
		 * later records may point at. */
		if (scan->opt_off + scan->opt_len != len)
			return -1;
		keep = scan->opt_off;
	}
	life = entry_life(c, scan);
	if (life == 0)
		return -1;

	size = sizeof(*e) + keep + scan->n_ttl * sizeof(uint16_t);
	if (size + ENTRY_OVERHEAD > c->lim.max_bytes / 2)
		return -1;
	e = malloc(size);
	if (e == NULL)
		return -1;
	memset(e, 0, sizeof(*e));
	e->key = *k;
	e->size = (uint32_t)(size + ENTRY_OVERHEAD);
	e->wire_len = (uint16_t)keep;
	e->n_ttl = scan->n_ttl;
	e->ttl_off = (uint16_t *)(e + 1);
	e->wire = (uint8_t *)(e->ttl_off + e->n_ttl);
	e->inserted_ms = now_ms;
	e->expires_ms = now_ms + (uint64_t)life * 1000;
	memcpy(e->wire, wire, keep);
	if (scan->opt_off != 0)
		wire_put16(e->wire + 10, (uint16_t)(scan->arcount - 1));
	clamp_ttls(c, e->wire, scan, life);
	for (uint16_t i = 0; i < e->n_ttl; i++)
		e->ttl_off[i] = scan->ttl_off[i];

	c->now_ms = now_ms;
	h = key_hash(c, k);
	e->hash = h;
	old = find(c, k, h);
	if (old != NULL)
		entry_delete(c, old);
	evict_to(c, c->lim.max_bytes - e->size);
	if (c->st.entries + 1 > c->n_buckets)
		grow(c);
	e->hnext = c->buckets[h & (c->n_buckets - 1)];
	c->buckets[h & (c->n_buckets - 1)] = e;
	lru_push_front(c, e);
	c->st.entries++;
	c->st.bytes += e->size;
	c->st.inserts++;
	return 0;
}

size_t
cache_entry_copy(const struct cache_entry *e, uint8_t *out, size_t cap,
    uint64_t now_ms)
{
	uint32_t elapsed;

	if (e->wire_len > cap)
		return 0;
	elapsed = (uint32_t)((now_ms - e->inserted_ms) / 1000);
	memcpy(out, e->wire, e->wire_len);
	for (uint16_t i = 0; i < e->n_ttl; i++) {
		uint8_t *t = out + e->ttl_off[i];
		uint32_t ttl = wire_get32(t);

		wire_put32(t, ttl > elapsed ? ttl - elapsed : 0);
	}
	return e->wire_len;
}

size_t
cache_entry_copy_stale(const struct cache_entry *e, uint8_t *out, size_t cap,
    uint32_t ttl)
{
	if (e->wire_len > cap)
		return 0;
	memcpy(out, e->wire, e->wire_len);
	for (uint16_t i = 0; i < e->n_ttl; i++)
		wire_put32(out + e->ttl_off[i], ttl);
	return e->wire_len;
}
