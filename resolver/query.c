#include <string.h>

#include "resolver/addr.h"
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

size_t
query_answer_finish(const struct wire_query *q, uint8_t *out, size_t len,
    size_t cap, size_t limit, uint16_t edns_size, int *truncated)
{
	uint16_t flags = wire_get16(out + 2);
	size_t opt_len = q->edns ? 11 : 0;
	size_t qend = WIRE_HDR_LEN + q->qname_len + 4;

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
		    q->do_bit, WIRE_EDE_NONE, NULL);

		if (n == 0)
			return 0;
		len += n;
		wire_put16(out + 10, (uint16_t)(wire_get16(out + 10) + 1));
	}
	return len;
}

enum query_action
query_decide(const struct query_ctx *ctx, const uint8_t *pkt, size_t len,
    const struct sockaddr *client, int tcp, struct wire_query *q, uint8_t *out,
    size_t cap, size_t *out_len)
{
	struct counters *ctr = ctx->ctr;
	enum wire_parse pr;
	struct cache_key key;
	const struct cache_entry *e;
	unsigned rcode;
	int ede = WIRE_EDE_NONE, truncated;
	size_t n;

	ctr->queries++;
	pr = wire_query_parse(pkt, len, q);
	if (pr == WIRE_DROP)
		goto drop;
	if (!addr_acl_allows(ctx->acl, ctx->n_acl, client)) {
		/* Never answer garbage from outside: that is a reflector. */
		if (pr != WIRE_OK)
			goto drop;
		ctr->refused++;
		rcode = WIRE_RCODE_REFUSED;
		ede = WIRE_EDE_PROHIBITED;
		goto error;
	}
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
		rcode = WIRE_RCODE_REFUSED;
		goto error;
	}
	if (q->qtype == WIRE_TYPE_MAILA || q->qtype == WIRE_TYPE_MAILB) {
		ctr->notimp++;
		rcode = WIRE_RCODE_NOTIMP;
		goto error;
	}

	/* Policy goes here, before the cache. */

	cache_key_make(&key, q->qname, q->qname_len, q->qtype, q->qclass,
	    q->do_bit);
	e = cache_lookup(ctx->cache, &key, ctx->now_ms);
	if (e == NULL)
		return QUERY_FORWARD;
	n = cache_entry_copy(e, out, cap, ctx->now_ms);
	if (n == 0)
		return QUERY_FORWARD;
	ctr->cache_hits++;
	n = query_answer_finish(q, out, n, cap,
	    query_size_limit(q, tcp, ctx->edns_size), ctx->edns_size,
	    &truncated);
	if (n == 0)
		goto drop;
	ctr->truncated += (uint64_t)truncated;
	*out_len = n;
	return QUERY_ANSWER;

error:
	n = query_answer_error(q, rcode, ede, NULL, ctx->edns_size, out, cap);
	/* An error answer is never larger than what provoked it. */
	if (n > len)
		n = query_answer_error(&(struct wire_query){.id = q->id,
					   .flags = q->flags},
		    rcode & 0xf, WIRE_EDE_NONE, NULL, ctx->edns_size, out, cap);
	if (n == 0 || n > len)
		goto drop;
	*out_len = n;
	return QUERY_ANSWER;
drop:
	ctr->dropped++;
	return QUERY_DROP;
}
