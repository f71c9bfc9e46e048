/*
 * Fuzz harness for the upstream-reply path: what the forwarder does with
 * the bytes an upstream sends back (resolver/reply.c's checks, the scrub
 * of records outside the question, the cache, the answer builders),
 * without sockets. Input: one control byte (bit 0: the
 * client asked over TCP; bit 1: with EDNS; bit 2: DO; bit 3: a 512-byte
 * EDNS buffer; bits 4-7: sinkhole mode), the query type and ID we sent
 * (2 bytes each), the name asked as NUL-terminated text, then the reply.
 *
 * Checked: an accepted reply's answer is a DNS message with the client's
 * ID and question that fits what the client can take; what the cache then
 * serves at the same moment is byte for byte that answer, and later still
 * a well-formed one; a reply whose
 * CNAME chain reaches a blocked name gets a well-formed blocked answer;
 * anything the checks refuse never reaches the cache.
 */
#include <string.h>

#include "blocklist/match.h"
#include "resolver/cache.h"
#include "resolver/config.h"
#include "resolver/query.h"
#include "resolver/reply.h"
#include "resolver/scrub.h"
#include "resolver/wire.h"
#include "tests/fuzz/dnsfix.h"
#include "tests/fuzz/fuzz.h"

/* The client's query for name/type, as it came in. */
static size_t
client_query(uint8_t *pkt, const uint8_t *name, size_t name_len,
    uint16_t qtype, unsigned mode)
{
	size_t len = WIRE_HDR_LEN;

	memset(pkt, 0, WIRE_HDR_LEN);
	wire_put16(pkt, 0x5151);
	wire_put16(pkt + 2, WIRE_FLAG_RD);
	wire_put16(pkt + 4, 1);
	len += wire_question_write(pkt + len, 512, name, name_len, qtype,
	    WIRE_CLASS_IN);
	if (mode & 2) {
		len += wire_opt_write(pkt + len, 64, (mode & 8) ? 512 : 4096, 0,
		    (mode & 4) != 0, WIRE_EDE_NONE, NULL);
		wire_put16(pkt + 10, 1);
	}
	return len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[WIRE_MSG_MAX], kept[WIRE_MSG_MAX],
	    again[WIRE_MSG_MAX], scrubbed[WIRE_MSG_MAX];
	size_t scrubbed_len = 0;
	int rc;
	uint8_t qpkt[600], name[WIRE_NAME_MAX], cname[WIRE_NAME_MAX];
	char text[WIRE_NAME_MAX * 4 + 1];
	const uint8_t *nul, *reply;
	struct wire_query q;
	struct wire_scan scan;
	struct cache_key key;
	struct cache *c;
	struct cache_stats st;
	uint64_t inserts0;
	int inserted = 0;
	const struct cache_entry *e;
	struct bl_verdict v;
	struct sinkhole sh;
	enum reply_verdict rv;
	size_t len, qlen, keep, n, n2, limit, cname_len = 0;
	unsigned mode;
	uint16_t qtype, id;
	int name_len, tcp, truncated, truncated2;

	if (size < 6)
		return 0;
	mode = data[0];
	tcp = mode & 1;
	qtype = wire_get16(data + 1);
	id = wire_get16(data + 3);
	nul = memchr(data + 5, '\0', size - 5);
	if (nul == NULL || (size_t)(nul - data - 5) >= sizeof(text))
		return 0;
	memcpy(text, data + 5, (size_t)(nul - data - 5));
	text[nul - data - 5] = '\0';
	reply = nul + 1;
	len = size - (size_t)(reply - data);
	name_len = wire_name_from_text(text, name);
	if (name_len <= 0)
		return 0;

	/* What query_decide hands the forwarder. */
	qlen = client_query(qpkt, name, (size_t)name_len, qtype, mode);
	if (wire_query_parse(qpkt, qlen, &q) != WIRE_OK)
		return 0;
	cache_key_make(&key, q.qname, q.qname_len, q.qtype, q.qclass,
	    q.do_bit);
	limit = query_size_limit(&q, tcp, 1232);

	c = dnsfix_cache();
	cache_get_stats(c, &st);
	inserts0 = st.inserts;
	rv = reply_check(&key, id, reply, len, &scan);
	if (rv != REPLY_ACCEPT || (scan.flags & WIRE_FLAG_TC))
		goto out;
	/* What forward.c keeps of it (scrub.h), scanned again. */
	rc = scrub_reply(reply, len, &scan, scrubbed, sizeof(scrubbed),
	    &scrubbed_len);
	FUZZ_CHECK(rc == 0 || rc == 1);
	if (rc == 1) {
		FUZZ_CHECK(wire_reply_scan(scrubbed, scrubbed_len, &scan) == 0);
		reply = scrubbed;
		len = scrubbed_len;
	}
	if (reply_cname_blocked(dnsfix_policy(), reply, len, &scan, &v, cname,
		&cname_len)) {
		dnsfix_sinkhole(mode >> 4, &sh);
		FUZZ_CHECK(cname_len > 0 && cname_len <= WIRE_NAME_MAX);
		n = query_answer_blocked(&q, dnsfix_policy(), &v, cname,
		    cname_len, &sh, 10, 1232, limit, out, sizeof(out));
		FUZZ_CHECK(n > 0);
		dnsfix_check_answer(&q, out, n, tcp ? 0 : limit, 1);
		goto out;
	}
	keep = reply_keep_len(&scan, len);
	FUZZ_CHECK(keep >= WIRE_HDR_LEN && keep <= len);
	inserted = cache_insert(c, &key, reply, len, &scan, DNSFIX_T0) == 0;
	memcpy(kept, reply, keep);
	cache_clamp_reply(c, kept, &scan);
	n = reply_answer(&q, kept, keep, &scan, out, sizeof(out), limit, 1232,
	    &truncated);
	FUZZ_CHECK(n > 0);
	dnsfix_check_answer(&q, out, n, tcp ? 0 : limit, 0);

	/* The cache, asked at once, serves exactly that answer. */
	e = cache_lookup(c, &key, DNSFIX_T0);
	if (!inserted)
		goto out;
	FUZZ_CHECK(e != NULL);
	n2 = cache_entry_copy(e, again, sizeof(again), DNSFIX_T0);
	FUZZ_CHECK(n2 == keep);
	n2 = query_answer_finish(&q, again, n2, sizeof(again), limit, 1232,
	    &truncated2);
	FUZZ_CHECK(n2 == n && truncated2 == truncated);
	FUZZ_CHECK(memcmp(again, out, n) == 0);

	/* Later, TTLs counted down, it is still the same well-formed
	 * message (no name is made of bytes that change). */
	for (uint64_t later = 7000; later <= 700000; later *= 10) {
		e = cache_lookup(c, &key, DNSFIX_T0 + later);
		if (e == NULL)
			break;
		n2 = cache_entry_copy(e, again, sizeof(again),
		    DNSFIX_T0 + later);
		FUZZ_CHECK(n2 == keep);
		n2 = query_answer_finish(&q, again, n2, sizeof(again), limit,
		    1232, &truncated2);
		FUZZ_CHECK(n2 == n);
		dnsfix_check_answer(&q, again, n2, tcp ? 0 : limit, 0);
	}
out:
	/* Refused replies never reach the cache. */
	cache_get_stats(c, &st);
	FUZZ_CHECK(st.inserts == inserts0 + (unsigned)inserted);
	cache_free(c);
	return 0;
}
