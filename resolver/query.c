#include <stdio.h>
#include <string.h>

#include "blocklist/match.h"
#include "blocklist/name.h"
#include "resolver/addr.h"
#include "resolver/config.h"
#include "resolver/cache.h"
#include "resolver/query.h"

size_t
query_size_limit(const struct wire_query *q, int tcp, uint16_t edns_size)
{
	if (tcp)
		return WIRE_MSG_MAX;
	if (!q->edns)
		return 512;
	return q->udp_size < edns_size ? q->udp_size : edns_size;
}

/* Header flags for an answer to q: never echo bits we do not know. */
static uint16_t
answer_flags(const struct wire_query *q, uint16_t reply_flags, unsigned rcode)
{
	uint16_t f = WIRE_FLAG_QR | WIRE_FLAG_RA;

	f |= q->flags & (0xf << 11); /* opcode */
	f |= q->flags & (WIRE_FLAG_RD | WIRE_FLAG_CD);
	if ((reply_flags & WIRE_FLAG_AD) &&
	    (q->do_bit || (q->flags & WIRE_FLAG_AD)))
		f |= WIRE_FLAG_AD;
	return (uint16_t)(f | (rcode & 0xf));
}

size_t
query_answer_error(const struct wire_query *q, unsigned rcode, int ede,
    const char *ede_text, uint16_t edns_size, uint8_t *out, size_t cap)
{
	size_t len = WIRE_HDR_LEN, n;

	if (cap < WIRE_HDR_LEN)
		return 0;
	memset(out, 0, WIRE_HDR_LEN);
	wire_put16(out, q->id);
	wire_put16(out + 2, answer_flags(q, 0, rcode));
	if (q->qname_len > 0) {
		n = wire_question_write(out + len, cap - len, q->qname,
		    q->qname_len, q->qtype, q->qclass);
		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 4, 1);
	}
	if (q->edns) {
		n = wire_opt_write(out + len, cap - len, edns_size,
		    (uint8_t)(rcode >> 4), q->do_bit, ede, ede_text);
		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 10, 1);
	}
	return len;
}

/* Synthetic SOA names: .invalid is reserved never to resolve (RFC 6761). */
static const uint8_t soa_mname[] = "\7parasol\7invalid";
static const uint8_t soa_rname[] = "\7blocked\7parasol\7invalid";

static size_t
put_rr_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	wire_put16(p, type);
	wire_put16(p + 2, WIRE_CLASS_IN);
	wire_put32(p + 4, ttl);
	wire_put16(p + 8, rdlen);
	return 10;
}

size_t
query_answer_blocked(const struct wire_query *q, const struct bl_snapshot *s,
    const struct bl_verdict *v, const uint8_t *cname, size_t cname_len,
    const struct sinkhole *sh, uint32_t ttl, uint16_t edns_size,
    size_t limit, uint8_t *out, size_t cap)
{
	const struct bl_feed_info *feed = bl_snapshot_feed(s, v->feed);
	size_t len = WIRE_HDR_LEN + q->qname_len + 4, qend = len;
	unsigned rcode = WIRE_RCODE_NOERROR;
	const uint8_t *addr = NULL;
	size_t addr_len = 0;
	int soa = 0;
	char rule[BL_NAME_MAX + 1], target[BL_NAME_MAX + 1], text[1024];
	static const uint8_t zero[16];

	switch (sh->mode) {
	case SINKHOLE_REFUSED:
		rcode = WIRE_RCODE_REFUSED;
		break;
	case SINKHOLE_NXDOMAIN:
		rcode = WIRE_RCODE_NXDOMAIN;
		soa = 1;
		break;
	case SINKHOLE_NODATA:
		soa = 1;
		break;
	case SINKHOLE_NULL:
	case SINKHOLE_ADDRESS:
		if (q->qtype == WIRE_TYPE_A &&
		    (sh->mode == SINKHOLE_NULL || sh->has4)) {
			addr = sh->mode == SINKHOLE_NULL
			    ? zero
			    : (const uint8_t *)&sh->a4;
			addr_len = 4;
		} else if (q->qtype == WIRE_TYPE_AAAA &&
		    (sh->mode == SINKHOLE_NULL || sh->has6)) {
			addr = sh->mode == SINKHOLE_NULL
			    ? zero
			    : (const uint8_t *)&sh->a6;
			addr_len = 16;
		} else {
			soa = 1;
		}
		break;
	}
	if (cap < qend + 2 + 10 + 16 + 255 + sizeof(soa_mname) +
		sizeof(soa_rname) + 20 + 11 + 4 + sizeof(text))
		return 0;
	memset(out, 0, WIRE_HDR_LEN);
	wire_put16(out, q->id);
	wire_put16(out + 2, 0);
	wire_put16(out + 4, 1);
	wire_question_write(out + WIRE_HDR_LEN, cap - WIRE_HDR_LEN, q->qname,
	    q->qname_len, q->qtype, q->qclass);
	if (addr != NULL) {
		wire_put16(out + len, 0xc000 | WIRE_HDR_LEN);
		len += 2;
		len += put_rr_head(out + len, q->qtype, ttl, (uint16_t)addr_len);
		memcpy(out + len, addr, addr_len);
		len += addr_len;
		wire_put16(out + 6, 1);
	} else if (soa) {
		size_t rdlen = sizeof(soa_mname) + sizeof(soa_rname) + 20;

		/* The blocked name is the SOA owner: its "zone" is ours. */
		if (cname == NULL && v->rule_len <= q->qname_len) {
			wire_put16(out + len, (uint16_t)(0xc000 | (WIRE_HDR_LEN +
			    q->qname_len - v->rule_len)));
			len += 2;
		} else {
			memcpy(out + len, v->rule, v->rule_len);
			len += v->rule_len;
		}
		len += put_rr_head(out + len, WIRE_TYPE_SOA, ttl,
		    (uint16_t)rdlen);
		memcpy(out + len, soa_mname, sizeof(soa_mname));
		len += sizeof(soa_mname);
		memcpy(out + len, soa_rname, sizeof(soa_rname));
		len += sizeof(soa_rname);
		wire_put32(out + len, (uint32_t)bl_snapshot_generation(s));
		wire_put32(out + len + 4, 3600);
		wire_put32(out + len + 8, 600);
		wire_put32(out + len + 12, 86400);
		wire_put32(out + len + 16, ttl);
		len += 20;
		wire_put16(out + 8, 1);
	}
	wire_put16(out + 2, answer_flags(q, 0, rcode));
	text[0] = '\0';
	if (q->edns) {
		bl_name_from_wire(v->rule, v->rule_len, rule, sizeof(rule));
		if (cname != NULL) {
			bl_name_from_wire(cname, cname_len, target,
			    sizeof(target));
			snprintf(text, sizeof(text),
			    "category=%s feed=%s rule=%s cname=%s",
			    feed != NULL ? feed->category : "",
			    feed != NULL ? feed->id : "", rule, target);
		} else {
			snprintf(text, sizeof(text), "category=%s feed=%s rule=%s",
			    feed != NULL ? feed->category : "",
			    feed != NULL ? feed->id : "", rule);
		}
	}
	/* The records matter more than the explanation: shorten the EDE
	 * text first, and only then truncate. */
	if (q->edns) {
		size_t opt = 11 + 6, tl = strlen(text);

		if (tl > 512)
			tl = 512;
		if (len + opt + tl > limit)
			tl = len + opt < limit ? limit - len - opt : 0;
		text[tl] = '\0';
	}
	if (len + (q->edns ? 17 + strlen(text) : 0) > limit) {
		len = qend;
		wire_put16(out + 2, (uint16_t)(wire_get16(out + 2) |
					       WIRE_FLAG_TC));
		wire_put16(out + 6, 0);
		wire_put16(out + 8, 0);
	}
	if (q->edns) {
		size_t n = wire_opt_write(out + len, cap - len, edns_size, 0,
		    q->do_bit, WIRE_EDE_BLOCKED, text);

		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 10, 1);
	}
	return len;
}

/*
 * Firefox asks this name before turning DNS over HTTPS on by itself, and
 * stays with the network's resolver when it does not exist. That keeps
 * its lookups here, where the blocklist applies.
 * https://support.mozilla.org/kb/canary-domain-use-application-dnsnet
 */
static const uint8_t canary_name[] = "\23use-application-dns\3net";

static int
is_canary(const struct cache_key *k)
{
	return k->name_len == sizeof(canary_name) &&
	    memcmp(k->name, canary_name, sizeof(canary_name)) == 0;
}

/* NXDOMAIN with an SOA, so the answer is cached like any other. */
static size_t
answer_canary(const struct wire_query *q, uint32_t ttl, uint16_t edns_size,
    uint8_t *out, size_t cap)
{
	size_t len = WIRE_HDR_LEN, rdlen = sizeof(soa_mname) +
	    sizeof(soa_rname) + 20, n;

	if (cap < len + q->qname_len + 4 + 12 + rdlen)
		return 0;
	memset(out, 0, WIRE_HDR_LEN);
	wire_put16(out, q->id);
	wire_put16(out + 2, answer_flags(q, 0, WIRE_RCODE_NXDOMAIN));
	wire_put16(out + 4, 1);
	len += wire_question_write(out + len, cap - len, q->qname,
	    q->qname_len, q->qtype, q->qclass);
	wire_put16(out + len, 0xc000 | WIRE_HDR_LEN);
	len += 2;
	len += put_rr_head(out + len, WIRE_TYPE_SOA, ttl, (uint16_t)rdlen);
	memcpy(out + len, soa_mname, sizeof(soa_mname));
	len += sizeof(soa_mname);
	memcpy(out + len, soa_rname, sizeof(soa_rname));
	len += sizeof(soa_rname);
	wire_put32(out + len, 1);
	wire_put32(out + len + 4, 3600);
	wire_put32(out + len + 8, 600);
	wire_put32(out + len + 12, 86400);
	wire_put32(out + len + 16, ttl);
	len += 20;
	wire_put16(out + 8, 1);
	if (q->edns) {
		n = wire_opt_write(out + len, cap - len, edns_size, 0,
		    q->do_bit, WIRE_EDE_NONE, NULL);
		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 10, 1);
	}
	return len;
}

static inline size_t
finish(const struct wire_query *q, uint8_t *out, size_t len, size_t cap,
    size_t limit, uint16_t edns_size, int ede, const char *ede_text,
    int *truncated)
{
	uint16_t flags = wire_get16(out + 2);
	size_t opt_len = 0;
	size_t qend = WIRE_HDR_LEN + q->qname_len + 4;

	if (q->edns)
		opt_len = 11 + (ede >= 0 ? 6 + strlen(ede_text) : 0);
	*truncated = 0;
	wire_put16(out, q->id);
	wire_put16(out + 2, answer_flags(q, flags, WIRE_RCODE(flags)));
	/* Same name up to case, so the same length: echo the client's. */
	memcpy(out + WIRE_HDR_LEN, q->qname, q->qname_len);
	if (len + opt_len > limit) {
		/* RFC 2181 9: set TC and leave the client to retry on TCP. */
		len = qend;
		wire_put16(out + 2, (uint16_t)(wire_get16(out + 2) |
					       WIRE_FLAG_TC));
		wire_put16(out + 6, 0);
		wire_put16(out + 8, 0);
		wire_put16(out + 10, 0);
		*truncated = 1;
	}
	if (q->edns) {
		size_t n = wire_opt_write(out + len, cap - len, edns_size, 0,
		    q->do_bit, ede, ede_text);

		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 10, (uint16_t)(wire_get16(out + 10) + 1));
	}
	return len;
}

size_t
query_answer_finish(const struct wire_query *q, uint8_t *out, size_t len,
    size_t cap, size_t limit, uint16_t edns_size, int *truncated)
{
	return finish(q, out, len, cap, limit, edns_size, WIRE_EDE_NONE, NULL,
	    truncated);
}

size_t
query_answer_finish_ede(const struct wire_query *q, uint8_t *out,
    size_t len, size_t cap, size_t limit, uint16_t edns_size, int ede,
    const char *ede_text, int *truncated)
{
	return finish(q, out, len, cap, limit, edns_size, ede,
	    ede_text != NULL ? ede_text : "", truncated);
}

enum query_action
query_decide(const struct query_ctx *ctx, const uint8_t *pkt, size_t len,
    const struct sockaddr *client, int tcp, struct wire_query *q, uint8_t *out,
    size_t cap, size_t *out_len)
{
	struct counters *ctr = ctx->ctr;
	struct query_note spare, *note = ctx->note ? ctx->note : &spare;
	enum wire_parse pr;
	struct cache_key key;
	const struct cache_entry *e;
	unsigned rcode;
	int ede = WIRE_EDE_NONE, truncated;
	size_t n;

	ctr->queries++;
	note->outcome = QUERY_OUT_NONE;
	pr = wire_query_parse(pkt, len, q);
	if (pr == WIRE_DROP)
		goto drop;
	if (!addr_acl_allows(ctx->acl, ctx->n_acl, client)) {
		/* Never answer garbage from outside: that is a reflector. */
		if (pr != WIRE_OK)
			goto drop;
		ctr->refused++;
		note->outcome = QUERY_OUT_REFUSED;
		rcode = WIRE_RCODE_REFUSED;
		ede = WIRE_EDE_PROHIBITED;
		goto error;
	}
	note->outcome = QUERY_OUT_ERROR;
	switch (pr) {
	case WIRE_OK:
		break;
	case WIRE_NOTIMP:
		ctr->notimp++;
		rcode = WIRE_RCODE_NOTIMP;
		goto error;
	case WIRE_BADVERS:
		ctr->badvers++;
		rcode = WIRE_RCODE_BADVERS;
		goto error;
	case WIRE_FORMERR:
	default:
		ctr->formerr++;
		q->edns = 0;
		rcode = WIRE_RCODE_FORMERR;
		goto error;
	}
	if (q->qtype == WIRE_TYPE_OPT || q->qtype == 0) {
		ctr->formerr++;
		rcode = WIRE_RCODE_FORMERR;
		goto error;
	}
	if (q->qclass != WIRE_CLASS_IN || q->qtype == WIRE_TYPE_AXFR ||
	    q->qtype == WIRE_TYPE_IXFR) {
		ctr->refused++;
		note->outcome = QUERY_OUT_REFUSED;
		rcode = WIRE_RCODE_REFUSED;
		goto error;
	}
	if (q->qtype == WIRE_TYPE_MAILA || q->qtype == WIRE_TYPE_MAILB) {
		ctr->notimp++;
		rcode = WIRE_RCODE_NOTIMP;
		goto error;
	}

	cache_key_make(&key, q->qname, q->qname_len, q->qtype, q->qclass,
	    q->do_bit);
	if (ctx->doh_canary && is_canary(&key)) {
		note->outcome = QUERY_OUT_LOCAL;
		note->rcode = WIRE_RCODE_NXDOMAIN;
		n = answer_canary(q, ctx->block_ttl, ctx->edns_size, out, cap);
		if (n == 0)
			goto drop;
		*out_len = n;
		return QUERY_ANSWER;
	}
	/*
	 * The cache first: every name in it passed the current blocklist,
	 * because a new snapshot empties the cache and a reply is checked
	 * against the snapshot of the moment it is cached. A hit costs no
	 * blocklist probes, however big the list.
	 */
	e = cache_lookup(ctx->cache, &key, ctx->now_ms);
	n = e != NULL ? cache_entry_copy(e, out, cap, ctx->now_ms) : 0;
	if (n > 0) {
		ctr->cache_hits++;
		note->outcome = QUERY_OUT_CACHED;
		n = query_answer_finish(q, out, n, cap,
		    query_size_limit(q, tcp, ctx->edns_size), ctx->edns_size,
		    &truncated);
		if (n == 0)
			goto drop;
		ctr->truncated += (uint64_t)truncated;
		note->rcode = WIRE_RCODE(wire_get16(out + 2));
		*out_len = n;
		return QUERY_ANSWER;
	}
	if (ctx->policy != NULL) {
		struct bl_verdict v;

		bl_match_lookup(ctx->policy, key.name, key.name_len, &v);
		if (v.action == BL_BLOCK) {
			ctr->blocked++;
			note->outcome = QUERY_OUT_BLOCKED;
			note->verdict = v;
			n = query_answer_blocked(q, ctx->policy, &v, NULL, 0,
			    ctx->sinkhole, ctx->block_ttl, ctx->edns_size,
			    query_size_limit(q, tcp, ctx->edns_size), out, cap);
			if (n == 0)
				goto drop;
			note->rcode = WIRE_RCODE(wire_get16(out + 2));
			*out_len = n;
			return QUERY_ANSWER;
		}
	}

	note->outcome = QUERY_OUT_FORWARD;
	ctr->cache_misses++;
	return QUERY_FORWARD;

error:
	/* An error answer is never larger than what provoked it: shed the
	 * EDE, then everything but the header. */
	n = query_answer_error(q, rcode, ede, NULL, ctx->edns_size, out, cap);
	if (n > len)
		n = query_answer_error(q, rcode, WIRE_EDE_NONE, NULL,
		    ctx->edns_size, out, cap);
	if (n > len)
		n = query_answer_error(&(struct wire_query){.id = q->id,
					   .flags = q->flags},
		    rcode & 0xf, WIRE_EDE_NONE, NULL, ctx->edns_size, out, cap);
	if (n == 0 || n > len)
		goto drop;
	note->rcode = rcode;
	*out_len = n;
	return QUERY_ANSWER;
drop:
	ctr->dropped++;
	return QUERY_DROP;
}
