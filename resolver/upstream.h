/*
 * The upstream set: forwarders with a smoothed RTT, a consecutive-failure
 * count and a back-off. Picking prefers the fastest live upstream not yet
 * tried for this query; a dead one is left alone until its back-off ends,
 * then probed again with real traffic. Sets are reference counted so a
 * reload can swap in a new one while queries still use the old.
 */
#ifndef RESOLVER_UPSTREAM_H
#define RESOLVER_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPSTREAM_MAX 32
#define UPSTREAM_DEAD_AFTER 3
#define UPSTREAM_BACKOFF_MIN_MS 1000
#define UPSTREAM_BACKOFF_MAX_MS 60000

struct upstream {
	struct sockaddr_storage addr;
	char name[64];
	uint64_t srtt_us;
	uint64_t dead_until_ms;
	uint32_t backoff_ms;
	uint32_t fails; /* consecutive */
	uint64_t sent;
	uint64_t answered;
	uint64_t failed;
	uint64_t timeouts; /* of failed, those that were timeouts */
};

struct upstreams {
	unsigned refs;
	size_t n;
	struct upstream u[];
};

struct upstreams *upstreams_new(const struct sockaddr_storage *addrs,
    size_t n);
void upstreams_ref(struct upstreams *s);
void upstreams_unref(struct upstreams *s);

/* Index of the upstream to try next; tried is a bit mask of indices. */
int upstreams_pick(struct upstreams *s, uint32_t tried, uint64_t now_ms);
void upstreams_ok(struct upstreams *s, int i, uint64_t rtt_us);
void upstreams_fail(struct upstreams *s, int i, uint64_t now_ms,
    uint64_t penalty_us);
int upstreams_alive(const struct upstreams *s, int i, uint64_t now_ms);

#endif
