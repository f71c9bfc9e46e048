/*
 * The answer cache. Entries hold upstream replies as wire bytes with the
 * OPT record removed and every TTL clamped to the configured bounds, plus
 * the offsets of those TTLs, so a hit is a memcpy and a few patches: the ID,
 * the client's spelling of the name, and each TTL minus the time since
 * insertion. Keys are (lower-cased name, type, class, DO bit), hashed with
 * a random SipHash key because clients choose the names. Memory is bounded
 * by max_bytes (entries and their overhead); the least recently used
 * entries go first (CLOCK). Expired entries stay for stale_s more seconds
 * for serve-stale (RFC 8767), as the first to be evicted: one that a lookup
 * finds expired moves to the eviction end, and an expired entry gets no
 * second chance; past the stale window they are dropped when met. The hit
 * path does no stale bookkeeping.
 *
 * The cache owns its entries; pointers returned by cache_lookup are valid
 * until the next cache call.
 */
#ifndef RESOLVER_CACHE_H
#define RESOLVER_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct wire_scan;

struct cache_key {
	uint16_t qtype;
	uint16_t qclass;
	uint8_t do_bit;
	uint8_t name_len;
	uint8_t name[255]; /* lower case */
};

struct cache_limits {
	size_t max_bytes;
	uint32_t min_ttl;
	uint32_t max_ttl;
	uint32_t neg_max_ttl;
	uint32_t stale_s; /* how long expired entries stay servable; 0: not */
};

struct cache_entry {
	struct cache_entry *hnext;
	struct cache_entry *lru_prev;
	struct cache_entry *lru_next;
	uint64_t hash;
	uint64_t inserted_ms;
	uint64_t expires_ms;
	uint32_t size;
	uint16_t wire_len;
	uint16_t n_ttl;
	uint8_t used; /* hit since it last reached the tail (second chance) */
	uint32_t hold_s; /* expired, and its resolution failed: served stale
			  * without asking upstream until this second of the
			  * cache clock (RFC 8767 failure recheck); 0: none */
	uint16_t *ttl_off;
	uint8_t *wire;
	struct cache_key key;
};

struct cache_stats {
	uint64_t entries;
	uint64_t bytes;
	uint64_t inserts;
	uint64_t evictions;
	uint64_t expired;
};

struct cache *cache_new(const struct cache_limits *lim);
void cache_free(struct cache *c);
/* New bounds apply at once; shrinking max_bytes evicts. */
void cache_set_limits(struct cache *c, const struct cache_limits *lim);

void cache_key_make(struct cache_key *k, const uint8_t *name, size_t len,
    uint16_t qtype, uint16_t qclass, int do_bit);

const struct cache_entry *cache_lookup(struct cache *c,
    const struct cache_key *k, uint64_t now_ms);

/*
 * An entry for k that is live or expired for less than the stale window,
 * for serve-stale. Costs a hash: for cache misses only, never on a hit.
 */
const struct cache_entry *cache_lookup_stale(struct cache *c,
    const struct cache_key *k, uint64_t now_ms);

/*
 * The resolution of k failed and its expired entry was served: serve it
 * without asking the upstreams until until_ms (RFC 8767's failure recheck
 * timer). A fresh answer for k replaces the entry and the hold with it.
 */
void cache_stale_hold(struct cache *c, const struct cache_key *k,
    uint64_t until_ms);

/* Whether an entry from cache_lookup_stale is held at now_ms. */
static inline int
cache_entry_held(const struct cache_entry *e, uint64_t now_ms)
{
	return e->hold_s != 0 && now_ms < (uint64_t)e->hold_s * 1000;
}

/*
 * Store a reply that wire_reply_scan accepted. Replies that must not be
 * cached (errors other than NXDOMAIN, TC, negative answers without an SOA,
 * an OPT record that is not last) are refused with a negative return.
 */
int cache_insert(struct cache *c, const struct cache_key *k,
    const uint8_t *wire, size_t len, const struct wire_scan *scan,
    uint64_t now_ms);

/*
 * Clamp the TTLs of a reply in place exactly as cache_insert would store
 * them, so the first answer agrees with the cached ones. Replies that
 * cannot be cached are left alone.
 */
void cache_clamp_reply(const struct cache *c, uint8_t *wire,
    const struct wire_scan *scan);

/* Drop one entry or everything. */
void cache_remove(struct cache *c, const struct cache_key *k);
void cache_clear_all(struct cache *c);
void cache_get_stats(const struct cache *c, struct cache_stats *st);

/*
 * Copy the entry to out with TTLs counted down to now_ms. Returns the
 * length written (the caller patches ID, flags and question), or 0 if it
 * does not fit.
 */
size_t cache_entry_copy(const struct cache_entry *e, uint8_t *out,
    size_t cap, uint64_t now_ms);

/* The same, with every TTL set to ttl (a stale answer's). */
size_t cache_entry_copy_stale(const struct cache_entry *e, uint8_t *out,
    size_t cap, uint32_t ttl);

#endif
