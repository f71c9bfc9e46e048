/*
 * The upstream-reply checks and the answer built from an accepted reply,
 * as pure functions of the bytes: what the forwarder asked (its cache key
 * and query ID) and what came back. No sockets and no daemon, so the
 * reply path can be unit-tested and fuzzed as it runs.
 */
#ifndef RESOLVER_REPLY_H
#define RESOLVER_REPLY_H

#include <stddef.h>
#include <stdint.h>

struct bl_snapshot;
struct bl_verdict;
struct cache_key;
struct wire_query;
struct wire_scan;

enum reply_verdict {
	REPLY_FAILED = -1, /* the right peer says the upstream failed */
	REPLY_IGNORE = 0,  /* spoofed or stray: keep waiting */
	REPLY_ACCEPT = 1,
};

/*
 * Check reply pkt[0..len) against the question k asked with ID id; scan is
 * filled as far as the reply could be scanned.
 */
enum reply_verdict reply_check(const struct cache_key *k, uint16_t id,
    const uint8_t *pkt, size_t len, struct wire_scan *scan);

/*
 * Check every name of an accepted reply's CNAME chain against snapshot s.
 * Returns 1 and fills v and the blocked name (name: WIRE_NAME_MAX bytes,
 * lower case) when one is blocked, else 0.
 */
int reply_cname_blocked(const struct bl_snapshot *s, const uint8_t *pkt,
    size_t len, const struct wire_scan *scan, struct bl_verdict *v,
    uint8_t *name, size_t *name_len);

/* The bytes of an accepted reply that are kept: all but the OPT record. */
size_t reply_keep_len(const struct wire_scan *scan, size_t len);

/*
 * The answer for client query q from an accepted reply whose first keep
 * bytes (TTLs already clamped) are in kept: copied to out with the OPT
 * record's count taken off, then finished as query_answer_finish does.
 * Returns the length, 0 if it does not fit in cap.
 */
size_t reply_answer(const struct wire_query *q, const uint8_t *kept,
    size_t keep, const struct wire_scan *scan, uint8_t *out, size_t cap,
    size_t limit, uint16_t edns_size, int *truncated);

#endif
