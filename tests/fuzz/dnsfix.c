#include <stdio.h>
#include <string.h>

#include <ldns/ldns.h>

#include "blocklist/match.h"
#include "resolver/cache.h"
#include "resolver/query.h"
#include "resolver/reply.h"
#include "resolver/wire.h"
#include "tests/fuzz/dnsfix.h"
#include "tests/fuzz/fuzz.h"

static struct bl_snapshot *policy;

static void
add_rule(struct bl_builder *b, const char *text, enum bl_kind kind,
    enum bl_match_mode mode, uint16_t feed)
{
	uint8_t wire[WIRE_NAME_MAX];
	int n = wire_name_from_text(text, wire);

	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(bl_builder_add(b, wire, (size_t)n, kind, mode, feed) == 0);
}

const struct bl_snapshot *
dnsfix_policy(void)
{
	struct bl_builder *b;
	int feed;

	if (policy != NULL)
		return policy;
	b = bl_builder_new();
	FUZZ_CHECK(b != NULL);
	feed = bl_builder_add_feed(b, "fuzzfeed", "ads");
	FUZZ_CHECK(feed > 0);
	add_rule(b, "ads.test.", BL_DENY, BL_SUBTREE, (uint16_t)feed);
	add_rule(b, "tracker.test.", BL_DENY, BL_EXACT, BL_FEED_LOCAL);
	add_rule(b, "ok.ads.test.", BL_ALLOW, BL_EXACT, BL_FEED_LOCAL);
	add_rule(b, "cdn.ads.test.", BL_DENY, BL_EXACT, (uint16_t)feed);
	policy = bl_builder_finish(b, 42);
	FUZZ_CHECK(policy != NULL);
	return policy;
}

void
dnsfix_sinkhole(unsigned m, struct sinkhole *sh)
{
	memset(sh, 0, sizeof(*sh));
	sh->mode = (enum sinkhole_mode)(m % 5);
	if (sh->mode == SINKHOLE_ADDRESS) {
		sh->has4 = (m / 5) & 1;
		sh->has6 = !sh->has4 || ((m / 10) & 1);
		memcpy(&sh->a4, "\xc0\x00\x02\x01", 4);
		memcpy(&sh->a6, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	}
}

/* An upstream reply made with ldns once; inserted into every fresh cache. */
struct stored {
	struct cache_key k;
	uint8_t *wire;
	size_t len;
};

static void
make(struct stored *st, const char *qname, ldns_rr_type type,
    ldns_pkt_rcode rcode, int do_bit, const char *const *rrs, int auth)
{
	ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(qname), type,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	uint8_t name[WIRE_NAME_MAX];
	int n;

	FUZZ_CHECK(p != NULL);
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_set_id(p, 4242);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	for (; *rrs != NULL; rrs++) {
		ldns_rr *rr = NULL;

		FUZZ_CHECK(ldns_rr_new_frm_str(&rr, *rrs, 0, NULL, NULL) ==
		    LDNS_STATUS_OK);
		FUZZ_CHECK(ldns_pkt_push_rr(p,
		    auth ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ANSWER, rr));
	}
	FUZZ_CHECK(ldns_pkt2wire(&st->wire, p, &st->len) == LDNS_STATUS_OK);
	ldns_pkt_free(p);
	n = wire_name_from_text(qname, name);
	FUZZ_CHECK(n > 0);
	cache_key_make(&st->k, name, (size_t)n, type, WIRE_CLASS_IN, do_bit);
}

static void
make_all(struct stored *st)
{
	static const char *const example[] = {
	    "example.com. 300 IN CNAME www.example.net.",
	    "www.example.net. 60 IN A 192.0.2.10",
	    "www.example.net. 60 IN A 192.0.2.11",
	    NULL,
	};
	static const char *const nx[] = {
	    "test. 900 IN SOA ns.test. admin.test. 1 7200 900 86400 300",
	    NULL,
	};
	static const char *const dnssec[] = {
	    "dnssec.test. 120 IN A 192.0.2.99",
	    NULL,
	};
	static const char *big[41];
	static char bigtxt[40][80];

	for (int i = 0; i < 40; i++) {
		snprintf(bigtxt[i], sizeof(bigtxt[i]),
		    "big.test. 600 IN TXT \"record %02d of a large answer "
		    "that does not fit\"",
		    i);
		big[i] = bigtxt[i];
	}
	make(&st[0], "example.com.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 0,
	    example, 0);
	make(&st[1], "nx.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, nx,
	    1);
	make(&st[2], "big.test.", LDNS_RR_TYPE_TXT, LDNS_RCODE_NOERROR, 0,
	    big, 0);
	make(&st[3], "dnssec.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1,
	    dnssec, 0);
}

struct cache *
dnsfix_cache(void)
{
	static struct stored st[4];
	struct cache_limits lim = {
		.max_bytes = 256 * 1024,
		.min_ttl = 0,
		.max_ttl = 86400,
		.neg_max_ttl = 3600,
	};
	struct cache *c = cache_new(&lim);

	FUZZ_CHECK(c != NULL);
	if (st[0].wire == NULL)
		make_all(st);
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		struct wire_scan scan;

		FUZZ_CHECK(reply_check(&st[i].k, 4242, st[i].wire, st[i].len,
			       &scan) == REPLY_ACCEPT);
		FUZZ_CHECK(cache_insert(c, &st[i].k, st[i].wire, st[i].len,
			       &scan, DNSFIX_T0) == 0);
	}
	return c;
}

void
dnsfix_check_answer(const struct wire_query *q, const uint8_t *out,
    size_t len, size_t limit, int ldns)
{
	ldns_pkt *p = NULL;

	FUZZ_CHECK(len >= WIRE_HDR_LEN && len <= WIRE_MSG_MAX);
	FUZZ_CHECK(limit == 0 || len <= limit);
	FUZZ_CHECK(wire_get16(out) == q->id);
	FUZZ_CHECK(wire_get16(out + 2) & WIRE_FLAG_QR);
	if (ldns) {
		FUZZ_CHECK(ldns_wire2pkt(&p, out, len) == LDNS_STATUS_OK);
		ldns_pkt_free(p);
	}
	if (q->qname_len > 0) {
		struct wire_scan scan;

		/* Our own strict parser, which never skips a length. */
		FUZZ_CHECK(wire_reply_scan(out, len, &scan) == 0);
		FUZZ_CHECK(wire_get16(out + 4) == 1);
		FUZZ_CHECK(len >= WIRE_HDR_LEN + q->qname_len + 4u);
		FUZZ_CHECK(memcmp(out + WIRE_HDR_LEN, q->qname,
				q->qname_len) == 0);
		FUZZ_CHECK(wire_get16(out + WIRE_HDR_LEN + q->qname_len) ==
		    q->qtype);
	}
}
