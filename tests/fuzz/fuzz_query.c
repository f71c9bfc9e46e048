/*
 * Fuzz harness for the client query path: resolver/query.c's
 * query_decide, the same call the UDP and TCP servers make, against a
 * blocklist snapshot and a cache of real replies. Input: one control byte
 * (bit 0: over TCP; bit 1: client outside the access list; bit 2: our
 * edns-size 512 instead of 1232; bits 3-7: sinkhole mode), one byte of
 * clock (seconds after the cache was filled, so TTLs count down and
 * entries expire), then the packet as a client sent it.
 *
 * Checked: every answer is a DNS message (ldns parses it) with the
 * client's ID and question, no larger than the client can take over UDP
 * (or than the packet that provoked it), and a "forward" always carries a
 * question the forwarder can ask.
 */
#include <string.h>

#include "resolver/addr.h"
#include "resolver/cache.h"
#include "resolver/config.h"
#include "resolver/query.h"
#include "resolver/wire.h"
#include "tests/fuzz/dnsfix.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct addr_net acl[2];
	static struct sockaddr_storage inside, outside;
	static uint8_t out[WIRE_MSG_MAX];
	static int ready;
	struct query_ctx ctx;
	struct counters ctr;
	struct query_note note;
	struct sinkhole sh;
	struct wire_query q;
	const uint8_t *pkt;
	enum query_action act;
	size_t len, out_len = 0, limit;
	int tcp;
	char err[128];

	if (!ready) {
		FUZZ_CHECK(addr_net_parse("10.0.0.0/8", &acl[0], err,
			       sizeof(err)) == 0);
		FUZZ_CHECK(addr_net_parse("::1/128", &acl[1], err,
			       sizeof(err)) == 0);
		FUZZ_CHECK(addr_parse("10.1.2.3:5353", 53, &inside, err,
			       sizeof(err)) == 0);
		FUZZ_CHECK(addr_parse("192.0.2.7:5353", 53, &outside, err,
			       sizeof(err)) == 0);
		ready = 1;
	}
	if (size < 2)
		return 0;
	tcp = data[0] & 1;
	dnsfix_sinkhole(data[0] >> 3, &sh);
	memset(&ctx, 0, sizeof(ctx));
	memset(&ctr, 0, sizeof(ctr));
	ctx.cache = dnsfix_cache();
	ctx.acl = acl;
	ctx.n_acl = 2;
	ctx.policy = dnsfix_policy();
	ctx.sinkhole = &sh;
	ctx.block_ttl = 10;
	ctx.edns_size = (data[0] & 4) ? 512 : 1232;
	ctx.now_ms = DNSFIX_T0 + (uint64_t)data[1] * 1000;
	ctx.ctr = &ctr;
	ctx.note = &note;
	pkt = data + 2;
	len = size - 2;

	/* A buffer of exactly the packet's size: reads past it are found. */
	act = query_decide(&ctx, pkt, len,
	    (const struct sockaddr *)((data[0] & 2) ? &outside : &inside), tcp,
	    &q, out, sizeof(out), &out_len);
	switch (act) {
	case QUERY_DROP:
		FUZZ_CHECK(ctr.dropped == 1);
		break;
	case QUERY_ANSWER:
		limit = query_size_limit(&q, tcp, ctx.edns_size);
		FUZZ_CHECK(len >= 2 && wire_get16(out) == wire_get16(pkt));
		if (note.outcome == QUERY_OUT_ERROR ||
		    note.outcome == QUERY_OUT_REFUSED ||
		    note.outcome == QUERY_OUT_NONE) {
			/* The question may be cut off: only the header. An
			 * error answer is never larger than the query. */
			struct wire_query hdr = {.id = wire_get16(pkt)};

			FUZZ_CHECK(out_len <= len);
			dnsfix_check_answer(&hdr, out, out_len, 0, 1);
		} else {
			dnsfix_check_answer(&q, out, out_len,
			    tcp ? 0 : limit, 1);
		}
		break;
	case QUERY_FORWARD:
		FUZZ_CHECK(note.outcome == QUERY_OUT_FORWARD);
		FUZZ_CHECK(q.qname_len > 0 && q.qclass == WIRE_CLASS_IN);
		FUZZ_CHECK(q.qtype != WIRE_TYPE_OPT && q.qtype != 0 &&
		    q.qtype != WIRE_TYPE_AXFR && q.qtype != WIRE_TYPE_IXFR);
		break;
	}
	FUZZ_CHECK(ctr.queries == 1);
	cache_free(ctx.cache);
	return 0;
}
