/*
 * Per-client query rate limits: a token bucket per client address and one
 * per client prefix (/24 for IPv4, /56 for IPv6 by default), so a flood
 * from one host or from many hosts of one network is held back while
 * every other client is served as usual.
 *
 * The buckets live in one fixed table allocated up front: 4-way sets
 * indexed by a keyed SipHash of the address (an attacker cannot aim at
 * one set), the least recently seen bucket of a set making room for a new
 * client. Memory is bounded whatever the traffic; a client evicted by a
 * spray of other sources comes back with a full bucket, which is why the
 * prefix bucket exists. No allocation per query.
 */
#ifndef RESOLVER_RATELIMIT_H
#define RESOLVER_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr_net;

struct ratelimit_opts {
	uint32_t rate; /* queries per second per address; 0: off */
	uint32_t burst; /* bucket size per address */
	uint32_t prefix_rate; /* queries per second per prefix; 0: off */
	uint32_t prefix_burst;
	uint8_t v4_prefix; /* 8 to 32 */
	uint8_t v6_prefix; /* 16 to 128 */
	size_t slots; /* buckets in the table, rounded up to 4 */
	const struct addr_net *exempt; /* never limited; copied */
	size_t n_exempt;
};

struct ratelimit;

/* NULL when both rates are 0 (nothing to limit) or out of memory. */
struct ratelimit *ratelimit_new(const struct ratelimit_opts *o);
void ratelimit_free(struct ratelimit *rl);

/*
 * Take one query from sa's buckets at now_ms. Returns 1 when the query
 * may go on, 0 when a bucket is empty (nothing is taken then from the
 * address bucket if the prefix one is empty, and the other way round).
 */
int ratelimit_allow(
    struct ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms);

#endif
