#include <string.h>

#include "blocklist/match.h"
#include "resolver/cache.h"
#include "resolver/query.h"
#include "resolver/reply.h"
#include "resolver/wire.h"

enum reply_verdict
reply_check(const struct cache_key *k, uint16_t id, const uint8_t *pkt,
    size_t len, struct wire_scan *scan)
{
	unsigned rcode;

	if (len < WIRE_HDR_LEN || wire_get16(pkt) != id)
		return REPLY_IGNORE;
	if (wire_reply_scan(pkt, len, scan) != 0)
		return REPLY_IGNORE;
	if (!(scan->flags & WIRE_FLAG_QR) || WIRE_OPCODE(scan->flags) != 0 ||
	    scan->qtype != k->qtype || scan->qclass != k->qclass ||
	    !wire_name_equal(scan->qname, scan->qname_len, k->name,
		k->name_len))
		return REPLY_IGNORE;
	/* The OPT record must be last for the answer to be cut from it. */
	if (scan->opt_off != 0 && scan->opt_off + scan->opt_len != len)
		return REPLY_IGNORE;
	rcode = WIRE_RCODE(scan->flags);
	if (rcode != WIRE_RCODE_NOERROR && rcode != WIRE_RCODE_NXDOMAIN)
		return REPLY_FAILED;
	if (scan->ext_rcode != 0)
		return REPLY_FAILED;
	return REPLY_ACCEPT;
}

int
reply_cname_blocked(const struct bl_snapshot *s, const uint8_t *pkt,
    size_t len, const struct wire_scan *scan, struct bl_verdict *v,
    uint8_t *name, size_t *name_len)
{
	for (uint16_t i = 0; i < scan->n_cname; i++) {
		size_t offs[2] = {scan->cname_owner[i], scan->cname_target[i]};

		for (int j = 0; j < 2; j++) {
			size_t off = offs[j], n = 0;

			if (wire_name_decode(pkt, len, &off, name, &n) != 0)
				continue;
			wire_name_lower(name, name, n);
			bl_match_lookup(s, name, n, v);
			if (v->action == BL_BLOCK) {
				*name_len = n;
				return 1;
			}
		}
	}
	return 0;
}

size_t
reply_keep_len(const struct wire_scan *scan, size_t len)
{
	return scan->opt_off != 0 ? scan->opt_off : len;
}

size_t
reply_answer(const struct wire_query *q, const uint8_t *kept, size_t keep,
    const struct wire_scan *scan, uint8_t *out, size_t cap, size_t limit,
    uint16_t edns_size, int *truncated)
{
	*truncated = 0;
	if (keep > cap)
		return 0;
	memcpy(out, kept, keep);
	if (scan->opt_off != 0)
		wire_put16(out + 10, (uint16_t)(scan->arcount - 1));
	return query_answer_finish(q, out, keep, cap, limit, edns_size,
	    truncated);
}
