#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "blocklist/match.h"

/*
 * Arena record: flags (1), wire length (1), the feed of each of the four
 * rule kinds (2 each: deny exact, deny subtree, allow exact, allow
 * subtree), then the wire name. Offsets in the table are arena offset + 1
 * so 0 is an empty slot.
 */
#define REC_HDR 10
#define REC_LEN 1
#define REC_FEED(flag) (2 + 2 * (__builtin_ctz(flag)))
#define F_DENY_EXACT 0x01
#define F_DENY_SUBTREE 0x02
#define F_ALLOW_EXACT 0x04
#define F_ALLOW_SUBTREE 0x08

struct bl_snapshot {
	uint64_t generation;
	size_t n_names;
	size_t n_slots; /* power of two */
	uint32_t *slots;
	uint8_t *arena;
	size_t arena_len;
	size_t arena_cap;
	struct bl_feed_info *feeds;
	size_t n_feeds;
	size_t feeds_cap;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

#define LOOKUP_PREFETCH 8 /* suffixes whose slots are prefetched */

struct bl_builder {
	struct bl_snapshot *s;
	int failed;
};

static uint64_t
hash_name(const struct bl_snapshot *s, const uint8_t *w, size_t len)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, w, len, s->key);
	memcpy(&h, out, sizeof(h));
	return h;
}

static uint32_t *
find_slot(const struct bl_snapshot *s, const uint8_t *w, size_t len,
    uint64_t h)
{
	size_t mask = s->n_slots - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t off = s->slots[i];
		const uint8_t *r;

		if (off == 0)
			return &s->slots[i];
		r = s->arena + off - 1;
		if (r[REC_LEN] == len && memcmp(r + REC_HDR, w, len) == 0)
			return &s->slots[i];
	}
}

struct bl_builder *
bl_builder_new(void)
{
	struct bl_builder *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->s = calloc(1, sizeof(*b->s));
	if (b->s == NULL) {
		free(b);
		return NULL;
	}
	b->s->n_slots = 1024;
	b->s->slots = calloc(b->s->n_slots, sizeof(uint32_t));
	b->s->arena_cap = 64 * 1024;
	b->s->arena = malloc(b->s->arena_cap);
	if (b->s->slots == NULL || b->s->arena == NULL ||
	    bl_builder_add_feed(b, "local", "local") != BL_FEED_LOCAL) {
		bl_builder_free(b);
		return NULL;
	}
	randombytes_buf(b->s->key, sizeof(b->s->key));
	return b;
}

void
bl_builder_free(struct bl_builder *b)
{
	if (b == NULL)
		return;
	bl_snapshot_free(b->s);
	free(b);
}

int
bl_builder_add_feed(struct bl_builder *b, const char *id, const char *category)
{
	struct bl_snapshot *s = b->s;
	struct bl_feed_info *f;

	if (s->n_feeds >= UINT16_MAX)
		return -1;
	if (s->n_feeds == s->feeds_cap) {
		size_t cap = s->feeds_cap ? s->feeds_cap * 2 : 8;

		f = realloc(s->feeds, cap * sizeof(*f));
		if (f == NULL)
			return -1;
		s->feeds = f;
		s->feeds_cap = cap;
	}
	f = &s->feeds[s->n_feeds];
	memset(f, 0, sizeof(*f));
	strncpy(f->id, id, sizeof(f->id) - 1);
	strncpy(f->category, category, sizeof(f->category) - 1);
	return (int)s->n_feeds++;
}

static int
grow_slots(struct bl_snapshot *s)
{
	size_t n = s->n_slots * 2, mask = n - 1;
	uint32_t *t = calloc(n, sizeof(*t));

	if (t == NULL)
		return -1;
	for (size_t i = 0; i < s->n_slots; i++) {
		uint32_t off = s->slots[i];
		const uint8_t *r;
		size_t j;

		if (off == 0)
			continue;
		r = s->arena + off - 1;
		j = hash_name(s, r + REC_HDR, r[REC_LEN]) & mask;
		while (t[j] != 0)
			j = (j + 1) & mask;
		t[j] = off;
	}
	free(s->slots);
	s->slots = t;
	s->n_slots = n;
	return 0;
}

int
bl_builder_reserve(struct bl_builder *b, size_t n_names)
{
	struct bl_snapshot *s = b->s;
	/* Wire names in real lists average under 20 bytes. */
	size_t arena = n_names * (REC_HDR + 20);

	if (n_names > UINT32_MAX / 32)
		return -1;
	while ((n_names + 1) * 4 > s->n_slots * 3)
		if (grow_slots(s) != 0)
			return -1;
	if (arena > s->arena_cap) {
		uint8_t *a = realloc(s->arena, arena);

		if (a == NULL)
			return -1;
		s->arena = a;
		s->arena_cap = arena;
	}
	return 0;
}

int
bl_builder_add(struct bl_builder *b, const uint8_t *wire, size_t len,
    enum bl_kind kind, enum bl_match_mode mode, uint16_t feed)
{
	struct bl_snapshot *s = b->s;
	uint8_t flag;
	uint32_t *slot;
	uint8_t *r;

	if (len == 0 || len > 255 || feed >= s->n_feeds) {
		return -1;
	}
	/* Keep the load factor under 3/4. */
	if ((s->n_names + 1) * 4 > s->n_slots * 3 && grow_slots(s) != 0) {
		b->failed = 1;
		return -1;
	}
	slot = find_slot(s, wire, len, hash_name(s, wire, len));
	if (*slot == 0) {
		if (s->arena_len + REC_HDR + len + 1 > UINT32_MAX) {
			b->failed = 1;
			return -1;
		}
		if (s->arena_len + REC_HDR + len > s->arena_cap) {
			size_t cap = s->arena_cap * 2;
			uint8_t *a = realloc(s->arena, cap);

			if (a == NULL) {
				b->failed = 1;
				return -1;
			}
			s->arena = a;
			s->arena_cap = cap;
		}
		r = s->arena + s->arena_len;
		memset(r, 0, REC_HDR);
		r[REC_LEN] = (uint8_t)len;
		memcpy(r + REC_HDR, wire, len);
		*slot = (uint32_t)s->arena_len + 1;
		s->arena_len += REC_HDR + len;
		s->n_names++;
	}
	r = s->arena + *slot - 1;
	if (kind == BL_DENY)
		flag = mode == BL_EXACT ? F_DENY_EXACT : F_DENY_SUBTREE;
	else
		flag = mode == BL_EXACT ? F_ALLOW_EXACT : F_ALLOW_SUBTREE;
	/* The first feed to list a name this way is the one reported. */
	if (!(r[0] & flag)) {
		r[REC_FEED(flag)] = (uint8_t)(feed >> 8);
		r[REC_FEED(flag) + 1] = (uint8_t)feed;
		r[0] |= flag;
	}
	return 0;
}

struct bl_snapshot *
bl_builder_finish(struct bl_builder *b, uint64_t generation)
{
	struct bl_snapshot *s;

	if (b == NULL)
		return NULL;
	if (b->failed) {
		bl_builder_free(b);
		return NULL;
	}
	s = b->s;
	free(b);
	s->generation = generation;
	/* Give back the arena's slack: it can be a third of the size. */
	if (s->arena_len > 0 && s->arena_len < s->arena_cap) {
		uint8_t *a = realloc(s->arena, s->arena_len);

		if (a != NULL) {
			s->arena = a;
			s->arena_cap = s->arena_len;
		}
	}
	return s;
}

void
bl_snapshot_free(struct bl_snapshot *s)
{
	if (s == NULL)
		return;
	free(s->slots);
	free(s->arena);
	free(s->feeds);
	free(s);
}

uint64_t
bl_snapshot_generation(const struct bl_snapshot *s)
{
	return s->generation;
}

size_t
bl_snapshot_names(const struct bl_snapshot *s)
{
	return s->n_names;
}

size_t
bl_snapshot_bytes(const struct bl_snapshot *s)
{
	return sizeof(*s) + s->n_slots * sizeof(uint32_t) + s->arena_cap +
	    s->feeds_cap * sizeof(struct bl_feed_info);
}

const struct bl_feed_info *
bl_snapshot_feed(const struct bl_snapshot *s, uint16_t feed)
{
	return feed < s->n_feeds ? &s->feeds[feed] : NULL;
}

static void
set_verdict(struct bl_verdict *v, enum bl_action action, const uint8_t *r,
    uint8_t flag)
{
	v->action = action;
	v->mode = (flag & (F_DENY_EXACT | F_ALLOW_EXACT)) ? BL_EXACT : BL_SUBTREE;
	v->feed = (uint16_t)(r[REC_FEED(flag)] << 8 | r[REC_FEED(flag) + 1]);
	v->rule = r + REC_HDR;
	v->rule_len = r[REC_LEN];
}

void
bl_match_lookup(const struct bl_snapshot *s, const uint8_t *qname, size_t len,
    struct bl_verdict *v)
{
	const uint8_t *deny = NULL;
	uint8_t deny_flag = 0;
	size_t off = 0, n = 0, mask;
	uint64_t hs[LOOKUP_PREFETCH];

	memset(v, 0, sizeof(*v));
	v->action = BL_PASS;
	if (s == NULL || s->n_names == 0)
		return;
	/* Every suffix's slot is fetched from memory at once, rather than
	 * one cache miss after the other: with a million names the table is
	 * far bigger than the CPU caches. */
	mask = s->n_slots - 1;
	for (off = 0; off < len && qname[off] != 0 && n < LOOKUP_PREFETCH;
	     off += (size_t)qname[off] + 1) {
		hs[n] = hash_name(s, qname + off, len - off);
		__builtin_prefetch(&s->slots[hs[n] & mask]);
		n++;
	}
	off = 0;
	for (size_t k = 0; off < len && qname[off] != 0; k++) {
		const uint8_t *w = qname + off;
		size_t wl = len - off;
		uint32_t *slot = find_slot(s, w, wl,
		    k < n ? hs[k] : hash_name(s, w, wl));

		if (*slot != 0) {
			const uint8_t *r = s->arena + *slot - 1;
			uint8_t f = r[0];
			uint8_t allow = F_ALLOW_SUBTREE, den = F_DENY_SUBTREE;

			if (off == 0) {
				allow |= F_ALLOW_EXACT;
				den |= F_DENY_EXACT;
			}
			/* On the name itself an exact rule is the more
			 * specific one to report. */
			if (f & allow) {
				set_verdict(v, BL_ALLOWED, r,
				    (f & allow & F_ALLOW_EXACT) ? F_ALLOW_EXACT
								: F_ALLOW_SUBTREE);
				return;
			}
			if ((f & den) && deny == NULL) {
				deny = r;
				deny_flag = (f & den & F_DENY_EXACT)
				    ? F_DENY_EXACT
				    : F_DENY_SUBTREE;
			}
		}
		off += (size_t)qname[off] + 1;
	}
	if (deny != NULL)
		set_verdict(v, BL_BLOCK, deny, deny_flag);
}
