#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "resolver/addr.h"
#include "resolver/ratelimit.h"

#define WAYS 4
#define KEY_LEN 18 /* kind, family, 16 address bytes */

enum { KIND_ADDR = 1, KIND_PREFIX = 2 };

struct rl_slot {
	uint8_t key[KEY_LEN]; /* key[0] == 0: unused */
	uint32_t tokens; /* thousandths of a query */
	uint64_t last_ms;
};

struct ratelimit {
	struct ratelimit_opts o;
	struct addr_net *exempt;
	size_t n_sets; /* a power of two */
	struct rl_slot *slot; /* n_sets * WAYS */
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

struct ratelimit *
ratelimit_new(const struct ratelimit_opts *o)
{
	struct ratelimit *rl;
	size_t sets = 1;

	if (o->rate == 0 && o->prefix_rate == 0)
		return NULL;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->o = *o;
	while (sets * WAYS < o->slots)
		sets <<= 1;
	rl->n_sets = sets;
	rl->slot = calloc(sets * WAYS, sizeof(*rl->slot));
	if (o->n_exempt > 0) {
		rl->exempt = calloc(o->n_exempt, sizeof(*rl->exempt));
		if (rl->exempt != NULL)
			memcpy(rl->exempt, o->exempt,
			    o->n_exempt * sizeof(*rl->exempt));
	}
	if (rl->slot == NULL || (o->n_exempt > 0 && rl->exempt == NULL)) {
		ratelimit_free(rl);
		return NULL;
	}
	rl->o.exempt = rl->exempt;
	randombytes_buf(rl->hash_key, sizeof(rl->hash_key));
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slot);
	free(rl->exempt);
	free(rl);
}

/* The address bytes of sa, IPv4-mapped IPv6 taken as IPv4. */
static int
client_bytes(const struct sockaddr *sa, uint8_t out[16], int *family)
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(out, a6->s6_addr + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(out, a6->s6_addr, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

static void
mask_prefix(uint8_t *b, unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		b[i] &= (uint8_t)(0xff00 >> bits);
		bits = 0;
	}
}

/* The bucket for key, refilled to now_ms; a new one starts full. */
static struct rl_slot *
bucket(struct ratelimit *rl, const uint8_t key[KEY_LEN], uint32_t rate,
    uint32_t burst, uint64_t now_ms)
{
	uint64_t h;
	struct rl_slot *set, *victim;
	uint64_t cap = (uint64_t)burst * 1000, t;

	crypto_shorthash((unsigned char *)&h, key, KEY_LEN, rl->hash_key);
	set = &rl->slot[(h & (rl->n_sets - 1)) * WAYS];
	victim = &set[0];
	for (int i = 0; i < WAYS; i++) {
		struct rl_slot *s = &set[i];

		if (s->key[0] != 0 && memcmp(s->key, key, KEY_LEN) == 0) {
			if (now_ms > s->last_ms) {
				t = s->tokens + (now_ms - s->last_ms) * rate;
				s->tokens = (uint32_t)(t < cap ? t : cap);
				s->last_ms = now_ms;
			}
			return s;
		}
		if (victim->key[0] != 0 &&
		    (s->key[0] == 0 || s->last_ms < victim->last_ms))
			victim = s;
	}
	memcpy(victim->key, key, KEY_LEN);
	victim->tokens = (uint32_t)cap;
	victim->last_ms = now_ms;
	return victim;
}

int
ratelimit_allow(
    struct ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms)
{
	uint8_t key[KEY_LEN];
	struct rl_slot *a = NULL, *p = NULL;
	int family;

	if (rl == NULL || client_bytes(sa, key + 2, &family) != 0)
		return 1;
	if (rl->o.n_exempt > 0 &&
	    addr_acl_allows(rl->exempt, rl->o.n_exempt, sa))
		return 1;
	key[1] = family == AF_INET ? 4 : 6;
	if (rl->o.rate > 0) {
		key[0] = KIND_ADDR;
		a = bucket(rl, key, rl->o.rate, rl->o.burst, now_ms);
		if (a->tokens < 1000)
			return 0;
	}
	if (rl->o.prefix_rate > 0) {
		key[0] = KIND_PREFIX;
		mask_prefix(key + 2,
		    family == AF_INET ? rl->o.v4_prefix : rl->o.v6_prefix);
		p = bucket(
		    rl, key, rl->o.prefix_rate, rl->o.prefix_burst, now_ms);
		if (p->tokens < 1000)
			return 0;
		p->tokens -= 1000;
	}
	/* The prefix bucket may have taken the address bucket's place. */
	if (a != NULL && a != p)
		a->tokens -= 1000;
	return 1;
}
