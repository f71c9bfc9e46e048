/*
 * The query decision: a pure function of the packet bytes, the client
 * address and the state it is handed (access list, cache, clock). It parses,
 * checks, and either writes a complete answer, says "forward", or says
 * "drop". No sockets and no allocation, so it can be unit-tested and
 * fuzzed as it is. Policy (the blocklist) slots in between the access check
 * and the cache.
 *
 * The answer builders here are shared with the forwarder, which turns
 * upstream replies into client answers the same way cache hits are.
 */
#ifndef RESOLVER_QUERY_H
#define RESOLVER_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "blocklist/match.h"
#include "resolver/wire.h"

struct cache;
struct addr_net;
struct bl_snapshot;
struct bl_verdict;
struct sinkhole;

struct counters {
	uint64_t queries;
	uint64_t blocked;
	uint64_t blocked_cname;
	uint64_t cache_hits;
	uint64_t cache_misses;
	uint64_t forwarded;
	uint64_t merged;
	uint64_t refused;
	uint64_t formerr;
	uint64_t notimp;
	uint64_t badvers;
	uint64_t servfail;
	uint64_t dropped;
	uint64_t truncated;
	uint64_t bad_replies;
	uint64_t scrubbed;	/* replies with records out of bailiwick */
	uint64_t stale_answers; /* served expired (RFC 8767) */
	uint64_t upstream_timeouts;
	uint64_t upstream_errors;
	uint64_t tcp_fallbacks;
	uint64_t tcp_refused;
	uint64_t send_errors;
};

/* How a query ended, for the per-minute counters. */
enum query_outcome {
	QUERY_OUT_NONE = 0, /* not a question (dropped unparsed) */
	QUERY_OUT_BLOCKED,
	QUERY_OUT_CACHED,
	QUERY_OUT_FORWARD, /* decided later, by the forwarder */
	QUERY_OUT_REFUSED,
	QUERY_OUT_ERROR,
	QUERY_OUT_LOCAL, /* answered here: the DoH canary */
};

/* What query_decide reports besides its answer. */
struct query_note {
	enum query_outcome outcome;
	struct bl_verdict verdict; /* when blocked */
	unsigned rcode;            /* of the answer, when there is one */
};

struct query_ctx {
	struct cache *cache;
	const struct addr_net *acl;
	size_t n_acl;
	const struct bl_snapshot *policy; /* may be NULL */
	const struct sinkhole *sinkhole;
	uint32_t block_ttl;
	uint16_t edns_size;
	uint64_t now_ms;
	int doh_canary; /* answer use-application-dns.net with NXDOMAIN */
	struct counters *ctr;
	struct query_note *note; /* may be NULL */
};

enum query_action {
	QUERY_DROP,
	QUERY_ANSWER,
	QUERY_FORWARD,
};

/*
 * Decide what to do with one client packet. On QUERY_ANSWER the answer is
 * in out[0..*out_len). On QUERY_FORWARD q holds the parsed query. tcp says
 * which transport it came over (no size limit but 64 KiB).
 */
enum query_action query_decide(const struct query_ctx *ctx,
    const uint8_t *pkt, size_t len, const struct sockaddr *client, int tcp,
    struct wire_query *q, uint8_t *out, size_t cap, size_t *out_len);

/* The most a client can take over this transport. */
size_t query_size_limit(const struct wire_query *q, int tcp,
    uint16_t edns_size);

/*
 * An answer carrying only a header, the question (when parsed) and an OPT
 * record (when the client sent one), with rcode (values above 15 go into
 * the OPT record) and an optional EDE. Returns its length, 0 if cap is
 * too small.
 */
size_t query_answer_error(const struct wire_query *q, unsigned rcode,
    int ede, const char *ede_text, uint16_t edns_size, uint8_t *out,
    size_t cap);

/*
 * The sinkhole answer for q, blocked by verdict v of snapshot s. When the
 * name that matched is not q's own (a CNAME target), cname gives it in
 * wire form for the EDE text; else NULL. Returns the length, 0 on error.
 */
size_t query_answer_blocked(const struct wire_query *q,
    const struct bl_snapshot *s, const struct bl_verdict *v,
    const uint8_t *cname, size_t cname_len, const struct sinkhole *sh,
    uint32_t ttl, uint16_t edns_size, size_t limit, uint8_t *out,
    size_t cap);

/*
 * Turn reply bytes already in out[0..len) (a cache copy or an upstream
 * reply, without an OPT record) into the answer for q: the client's ID,
 * flags and spelling, our OPT record, and truncation to limit. Returns the
 * final length.
 */
size_t query_answer_finish(const struct wire_query *q, uint8_t *out,
    size_t len, size_t cap, size_t limit, uint16_t edns_size, int *truncated);

/* The same with an EDE option (ede >= 0) when the client sent EDNS. */
size_t query_answer_finish_ede(const struct wire_query *q, uint8_t *out,
    size_t len, size_t cap, size_t limit, uint16_t edns_size, int ede,
    const char *ede_text, int *truncated);

#endif
