#include <stdlib.h>
#include <string.h>

#include "resolver/addr.h"
#include "resolver/upstream.h"

struct upstreams *
upstreams_new(const struct sockaddr_storage *addrs, size_t n)
{
	struct upstreams *s;

	if (n > UPSTREAM_MAX)
		n = UPSTREAM_MAX;
	s = calloc(1, sizeof(*s) + n * sizeof(s->u[0]));
	if (s == NULL)
		return NULL;
	s->refs = 1;
	s->n = n;
	for (size_t i = 0; i < n; i++) {
		s->u[i].addr = addrs[i];
		s->u[i].backoff_ms = UPSTREAM_BACKOFF_MIN_MS;
		addr_text((const struct sockaddr *)&addrs[i], s->u[i].name,
		    sizeof(s->u[i].name));
	}
	return s;
}

void
upstreams_ref(struct upstreams *s)
{
	s->refs++;
}

void
upstreams_unref(struct upstreams *s)
{
	if (s != NULL && --s->refs == 0)
		free(s);
}

int
upstreams_alive(const struct upstreams *s, int i, uint64_t now_ms)
{
	return s->u[i].dead_until_ms <= now_ms;
}

int
upstreams_pick(struct upstreams *s, uint32_t tried, uint64_t now_ms)
{
	int best = -1, probe = -1, any = -1;

	for (size_t i = 0; i < s->n; i++) {
		struct upstream *u = &s->u[i];
		int untried = !(tried & (1u << i));

		if (upstreams_alive(s, (int)i, now_ms)) {
			if (untried &&
			    (best < 0 || u->srtt_us < s->u[best].srtt_us))
				best = (int)i;
			if (any < 0 || u->srtt_us < s->u[any].srtt_us)
				any = (int)i;
		} else if (untried && (probe < 0 || u->dead_until_ms <
						s->u[probe].dead_until_ms)) {
			probe = (int)i;
		}
	}
	if (best >= 0)
		goto picked;
	/* Every live one was tried: a dead one may have recovered. */
	if (probe >= 0) {
		best = probe;
		goto picked;
	}
	if (any >= 0) {
		best = any;
		goto picked;
	}
	best = 0;
	for (size_t i = 1; i < s->n; i++) {
		if (s->u[i].dead_until_ms < s->u[best].dead_until_ms)
			best = (int)i;
	}
picked:
	/*
	 * Upstreams not chosen drift towards zero so a slow one that has
	 * since become fast is tried again now and then.
	 */
	for (size_t i = 0; i < s->n; i++) {
		if ((int)i != best)
			s->u[i].srtt_us -= s->u[i].srtt_us / 64;
	}
	s->u[best].sent++;
	return best;
}

void
upstreams_ok(struct upstreams *s, int i, uint64_t rtt_us)
{
	struct upstream *u = &s->u[i];

	u->srtt_us = u->answered == 0 ? rtt_us : (7 * u->srtt_us + rtt_us) / 8;
	u->answered++;
	u->fails = 0;
	u->dead_until_ms = 0;
	u->backoff_ms = UPSTREAM_BACKOFF_MIN_MS;
}

void
upstreams_fail(struct upstreams *s, int i, uint64_t now_ms,
    uint64_t penalty_us)
{
	struct upstream *u = &s->u[i];

	u->failed++;
	u->fails++;
	if (u->srtt_us < penalty_us)
		u->srtt_us = penalty_us;
	if (u->fails >= UPSTREAM_DEAD_AFTER) {
		u->dead_until_ms = now_ms + u->backoff_ms;
		u->backoff_ms *= 2;
		if (u->backoff_ms > UPSTREAM_BACKOFF_MAX_MS)
			u->backoff_ms = UPSTREAM_BACKOFF_MAX_MS;
	}
}
