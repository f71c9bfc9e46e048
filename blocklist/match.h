/*
 * The matcher snapshot: every rule of lists.db in one immutable, compact
 * structure. Names are kept in wire form in one arena, each behind a
 * 5-byte record (which rule kinds apply, and from which feed); an
 * open-addressing table of 32-bit arena offsets, hashed with a per-snapshot
 * random SipHash key, finds them. A lookup hashes the query name and each
 * parent (a wire-form suffix is just an offset into the name), so the cost
 * is a few hashes per query whatever the list size.
 *
 * Verdicts: a matching allow rule (exact on the name itself, or subtree on
 * it or any parent) beats every deny rule; otherwise the most specific
 * matching deny rule decides.
 *
 * A snapshot is built by one thread and then only read; bl_snapshot_free
 * releases it and everything it owns.
 */
#ifndef BLOCKLIST_MATCH_H
#define BLOCKLIST_MATCH_H

#include <stddef.h>
#include <stdint.h>

enum bl_kind {
	BL_DENY = 0,
	BL_ALLOW = 1,
};

enum bl_match_mode {
	BL_EXACT = 0,
	BL_SUBTREE = 1,
};

enum bl_action {
	BL_PASS = 0, /* no rule applies */
	BL_BLOCK,
	BL_ALLOWED, /* an allow rule applies */
};

/* Feed index 0 is always the admin's local rules. */
#define BL_FEED_LOCAL 0

struct bl_feed_info {
	char id[64];
	char category[64];
};

struct bl_verdict {
	enum bl_action action;
	enum bl_match_mode mode;
	uint16_t feed;
	uint8_t rule_len;
	const uint8_t *rule; /* wire form, inside the snapshot */
};

struct bl_snapshot;
struct bl_builder;

struct bl_builder *bl_builder_new(void);
void bl_builder_free(struct bl_builder *b);
/* Returns the feed's index, or -1. Index 0 is "local", added by _new. */
int bl_builder_add_feed(struct bl_builder *b, const char *id,
    const char *category);
/* Room for about n_names names up front, so a big load never rehashes.
 * Only a hint: adding more still works. Returns 0, or -1. */
int bl_builder_reserve(struct bl_builder *b, size_t n_names);
/* name in lower-case wire form. Returns 0, or -1 on allocation failure. */
int bl_builder_add(struct bl_builder *b, const uint8_t *wire, size_t len,
    enum bl_kind kind, enum bl_match_mode mode, uint16_t feed);
/* Consumes the builder on every path. */
struct bl_snapshot *bl_builder_finish(struct bl_builder *b,
    uint64_t generation);

void bl_snapshot_free(struct bl_snapshot *s);
uint64_t bl_snapshot_generation(const struct bl_snapshot *s);
size_t bl_snapshot_names(const struct bl_snapshot *s);
size_t bl_snapshot_bytes(const struct bl_snapshot *s);
const struct bl_feed_info *bl_snapshot_feed(const struct bl_snapshot *s,
    uint16_t feed);

/* qname in lower-case wire form. */
void bl_match_lookup(const struct bl_snapshot *s, const uint8_t *qname,
    size_t len, struct bl_verdict *v);

#endif
