#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "resolver/scrub.h"
#include "resolver/wire.h"
#include "testpkt.h"

#define QR_RD_RA (WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA)

static uint8_t out[WIRE_MSG_MAX];

/* Scan p, scrub it; returns scrub_reply's result, output in out. */
static int
scrub(const struct tpkt *p, size_t *n)
{
	struct wire_scan s;

	assert_int_equal(wire_reply_scan(p->b, p->len, &s), 0);
	*n = 0;
	return scrub_reply(p->b, p->len, &s, out, sizeof(out), n);
}

/* The output parsed by ldns, which shares no code with scrub.c. */
static ldns_pkt *
parsed(size_t n)
{
	ldns_pkt *pkt = NULL;
	struct wire_scan s;

	assert_int_equal(wire_reply_scan(out, n, &s), 0);
	assert_int_equal(ldns_wire2pkt(&pkt, out, n), LDNS_STATUS_OK);
	return pkt;
}

/* "owner TYPE rdata" of record i of a section, as ldns prints it. */
static void
assert_rr(ldns_rr_list *l, size_t i, const char *want)
{
	ldns_rr *rr = ldns_rr_list_rr(l, i);
	char *owner = ldns_rdf2str(ldns_rr_owner(rr));
	char *type = ldns_rr_type2str(ldns_rr_get_type(rr));
	char *rd = ldns_rdf2str(ldns_rr_rdf(rr, ldns_rr_rd_count(rr) - 1));
	char got[512];

	snprintf(got, sizeof(got), "%s %s %s", owner, type, rd);
	assert_string_equal(got, want);
	free(owner);
	free(type);
	free(rd);
}

static void
a_rr(struct tpkt *p, const char *owner, uint8_t last)
{
	uint8_t a[4] = {198, 51, 100, last};

	if (owner == NULL)
		tp_ptr(p, 12);
	else
		tp_name(p, owner);
	tp_rr_tail(p, 1, 1, 300, a, 4);
}

static void
test_nothing_to_drop(void **state)
{
	struct tpkt p;
	size_t n;

	tp_hdr(&p, 1, QR_RD_RA, 1, 2, 0, 1);
	tp_question(&p, "www.example.com", 1, 1);
	a_rr(&p, NULL, 1);
	a_rr(&p, NULL, 2);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(scrub(&p, &n), 0);
}

/* Extras after the answer: cut off, the answer kept byte for byte. */
static void
test_trailing_extras_cut(void **state)
{
	struct tpkt p;
	size_t n, answer_end;
	ldns_pkt *pkt;

	tp_hdr(&p, 1, QR_RD_RA, 1, 1, 1, 2);
	tp_question(&p, "www.example.com", 1, 1);
	a_rr(&p, NULL, 1);
	answer_end = p.len;
	a_rr(&p, "victim.example.net", 2); /* in authority */
	a_rr(&p, "victim.example.org", 3); /* in additional */
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(scrub(&p, &n), 1);
	assert_int_equal(n, answer_end + 11);
	assert_memory_equal(out + 12, p.b + 12, answer_end - 12);
	pkt = parsed(n);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	assert_int_equal(ldns_pkt_nscount(pkt), 0);
	assert_int_equal(ldns_pkt_arcount(pkt), 0);
	assert_int_equal(ldns_pkt_edns_udp_size(pkt), 1232);
	ldns_pkt_free(pkt);
}

/*
 * An unrelated record first, the genuine MX's exchange compressed against
 * its owner: the MX moves and its name is written out in full.
 */
static void
test_moved_record_names_expanded(void **state)
{
	struct tpkt p;
	size_t n, victim, rdlen_at, rdata;
	ldns_pkt *pkt;

	tp_hdr(&p, 1, QR_RD_RA, 1, 2, 0, 0);
	tp_question(&p, "mx.example.com", 15, 1);
	victim = p.len;
	a_rr(&p, "victim.example.com", 9);
	tp_ptr(&p, 12);
	tp_u16(&p, 15);
	tp_u16(&p, 1);
	tp_u32(&p, 300);
	rdlen_at = p.len;
	tp_u16(&p, 0);
	rdata = p.len;
	tp_u16(&p, 10);
	tp_u8(&p, 4);
	tp_bytes(&p, "mail", 4);
	tp_ptr(&p, victim);
	tp_set16(&p, rdlen_at, (uint16_t)(p.len - rdata));
	assert_int_equal(scrub(&p, &n), 1);
	pkt = parsed(n);
	assert_int_equal(ldns_pkt_ancount(pkt), 1);
	assert_rr(ldns_pkt_answer(pkt), 0,
	    "mx.example.com. MX mail.victim.example.com.");
	ldns_pkt_free(pkt);
}

static void
cname_rr(struct tpkt *p, const char *owner, const char *target)
{
	size_t rdlen_at, rdata;

	tp_name(p, owner);
	tp_u16(p, 5);
	tp_u16(p, 1);
	tp_u32(p, 300);
	rdlen_at = p->len;
	tp_u16(p, 0);
	rdata = p->len;
	tp_name(p, target);
	tp_set16(p, rdlen_at, (uint16_t)(p->len - rdata));
}

static void
test_cname_chain_kept(void **state)
{
	struct tpkt p;
	size_t n;
	ldns_pkt *pkt;

	tp_hdr(&p, 1, QR_RD_RA, 1, 6, 0, 0);
	tp_question(&p, "www.example.com", 1, 1);
	cname_rr(&p, "other.example.com", "victim.example.com");
	a_rr(&p, "victim.example.com", 9);
	cname_rr(&p, "www.example.com", "cdn.example.net");
	cname_rr(&p, "cdn.example.net", "edge.example.org");
	a_rr(&p, "edge.example.org", 1);
	a_rr(&p, "cdn.example.net", 8); /* on the chain, but not the end */
	assert_int_equal(scrub(&p, &n), 1);
	pkt = parsed(n);
	assert_int_equal(ldns_pkt_ancount(pkt), 4);
	assert_rr(
	    ldns_pkt_answer(pkt), 0, "www.example.com. CNAME cdn.example.net.");
	assert_rr(ldns_pkt_answer(pkt), 1,
	    "cdn.example.net. CNAME edge.example.org.");
	assert_rr(ldns_pkt_answer(pkt), 2, "edge.example.org. A 198.51.100.1");
	assert_rr(ldns_pkt_answer(pkt), 3, "cdn.example.net. A 198.51.100.8");
	ldns_pkt_free(pkt);
}

/* NXDOMAIN: the zone's SOA stays, a foreign one and the rest go. */
static void
test_negative_keeps_zone_soa(void **state)
{
	struct tpkt p;
	size_t n, zone, foreign;
	ldns_pkt *pkt;
	char *owner;

	tp_hdr(&p, 1, QR_RD_RA | WIRE_RCODE_NXDOMAIN, 1, 0, 3, 1);
	tp_question(&p, "nx.example.com", 1, 1);
	/* "\2nx" at 12: "example.com" at 15. */
	zone = 15;
	foreign = p.len;
	tp_name(&p, "victim.org");
	tp_u16(&p, 1); /* an A in authority, owner victim.org */
	tp_u16(&p, 1);
	tp_u32(&p, 300);
	tp_u16(&p, 4);
	tp_u32(&p, 0xc6336409);
	tp_soa_ptr(&p, foreign, 300, 300);
	tp_soa_ptr(&p, zone, 60, 60);
	a_rr(&p, "victim.example.com", 9);
	assert_int_equal(scrub(&p, &n), 1);
	pkt = parsed(n);
	assert_int_equal(ldns_pkt_get_rcode(pkt), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_ancount(pkt), 0);
	assert_int_equal(ldns_pkt_nscount(pkt), 1);
	assert_int_equal(ldns_pkt_arcount(pkt), 0);
	owner = ldns_rdf2str(
	    ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_authority(pkt), 0)));
	assert_string_equal(owner, "example.com.");
	free(owner);
	ldns_pkt_free(pkt);
}

/*
 * Whatever the scanner accepts, the scrub handles: mutations of a packet
 * with every kind of record never crash it, and what it writes is a packet
 * the scanner accepts, and ldns too when it took the input.
 */
static void
test_mutations(void **state)
{
	struct tpkt base, p;
	size_t n;
	unsigned seed = 12345, accepted = 0, scrubbed = 0;

	tp_hdr(&base, 1, QR_RD_RA, 1, 4, 1, 2);
	tp_question(&base, "www.example.com", 1, 1);
	cname_rr(&base, "www.example.com", "cdn.example.com");
	a_rr(&base, "cdn.example.com", 1);
	a_rr(&base, "victim.example.com", 2);
	cname_rr(&base, "x.example.com", "cdn.example.com");
	tp_soa_ptr(&base, 16, 60, 60);
	a_rr(&base, "ns.example.com", 3);
	tp_opt(&base, 1232, 0, 0, 0, NULL, 0);
	for (int i = 0; i < 200000; i++) {
		struct wire_scan s;
		int rc;

		p = base;
		for (int k = 0; k < 1 + i % 3; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = 2 + (seed >> 8) % (p.len - 2);
			seed = seed * 1103515245u + 12345u;
			p.b[at] = (uint8_t)(seed >> 16);
		}
		if (wire_reply_scan(p.b, p.len, &s) != 0)
			continue;
		accepted++;
		rc = scrub_reply(p.b, p.len, &s, out, sizeof(out), &n);
		assert_true(rc >= 0);
		if (rc == 1) {
			ldns_pkt *pkt = NULL;

			scrubbed++;
			assert_int_equal(wire_reply_scan(out, n, &s), 0);
			/* ldns checks RDATA layouts we do not: what it took
			 * in, it must take out. */
			if (ldns_wire2pkt(&pkt, p.b, p.len) == LDNS_STATUS_OK) {
				ldns_pkt_free(pkt);
				pkt = NULL;
				assert_int_equal(ldns_wire2pkt(&pkt, out, n),
				    LDNS_STATUS_OK);
			}
			ldns_pkt_free(pkt);
		}
	}
	/* The mutations reach the interesting part. */
	assert_true(accepted > 1000);
	assert_true(scrubbed > 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nothing_to_drop),
	    cmocka_unit_test(test_trailing_extras_cut),
	    cmocka_unit_test(test_moved_record_names_expanded),
	    cmocka_unit_test(test_cname_chain_kept),
	    cmocka_unit_test(test_negative_keeps_zone_soa),
	    cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests_name("scrub", tests, NULL, NULL);
}
