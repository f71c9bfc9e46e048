#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "blocklist/match.h"
#include "resolver/addr.h"
#include "resolver/cache.h"
#include "resolver/config.h"
#include "resolver/query.h"
#include "resolver/wire.h"
#include "testpkt.h"

#define T0 1000000
#define OPCODE_STATUS 2
#define OPCODE_NOTIFY 4
#define CLASS_CH 3
#define EDE_OPTION 15

static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};

struct fx {
	struct cache *cache;
	struct bl_snapshot *policy;
	struct sinkhole sinkhole;
	struct addr_net acl[2];
	struct counters ctr;
	struct query_ctx ctx;
	struct sockaddr_storage inside;
	struct sockaddr_storage outside;
	struct wire_query q;
	uint8_t out[WIRE_MSG_MAX];
	size_t out_len;
};

/* What a client sends. */
struct qspec {
	uint16_t id;
	uint16_t flags;
	const char *name;
	uint16_t qtype;
	uint16_t qclass;
	int edns;
	uint16_t udp_size;
	uint8_t version;
	uint16_t edns_flags;
	const uint8_t *opts;
	uint16_t opts_len;
};

static struct sockaddr_storage
sa(const char *text)
{
	struct sockaddr_storage ss;
	char err[128];

	assert_int_equal(addr_parse(text, 53, &ss, err, sizeof(err)), 0);
	return ss;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_limits lim = {
		.max_bytes = 1 << 20,
		.min_ttl = 0,
		.max_ttl = 86400,
		.neg_max_ttl = 3600,
	};
	char err[128];

	if (f == NULL)
		return -1;
	f->cache = cache_new(&lim);
	if (f->cache == NULL ||
	    addr_net_parse("10.0.0.0/8", &f->acl[0], err, sizeof(err)) != 0 ||
	    addr_net_parse("::1/128", &f->acl[1], err, sizeof(err)) != 0)
		return -1;
	f->ctx.cache = f->cache;
	f->ctx.acl = f->acl;
	f->ctx.n_acl = 2;
	f->ctx.edns_size = 1232;
	f->ctx.now_ms = T0;
	f->ctx.ctr = &f->ctr;
	f->inside = sa("10.1.2.3:5353");
	f->outside = sa("192.0.2.7:5353");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	cache_free(f->cache);
	bl_snapshot_free(f->policy);
	free(f);
	return 0;
}

static void
build_query(struct tpkt *p, const struct qspec *s)
{
	tp_hdr(p, s->id, s->flags, 1, 0, 0, s->edns ? 1 : 0);
	tp_question(p, s->name, s->qtype, s->qclass);
	if (s->edns)
		tp_opt(p, s->udp_size, 0, s->version, s->edns_flags, s->opts,
		    s->opts_len);
}

/* A plain "example.com A" from a resolver stub: RD, no EDNS. */
static struct qspec
plain(void)
{
	return (struct qspec){.id = 0x1234, .flags = WIRE_FLAG_RD,
	    .name = "example.com", .qtype = 1, .qclass = 1,
	    .udp_size = 1232};
}

static enum query_action
decide_raw(struct fx *f, const uint8_t *pkt, size_t len,
    const struct sockaddr_storage *client, int tcp)
{
	f->out_len = 0;
	return query_decide(&f->ctx, pkt, len, (const struct sockaddr *)client,
	    tcp, &f->q, f->out, sizeof(f->out), &f->out_len);
}

static enum query_action
decide(struct fx *f, const struct qspec *s,
    const struct sockaddr_storage *client, int tcp, struct tpkt *sent)
{
	build_query(sent, s);
	return decide_raw(f, sent->b, sent->len, client, tcp);
}

/* Check the answer is well formed and return what the scanner saw. */
static struct wire_scan
answer_scan(const struct fx *f)
{
	struct wire_scan s;

	assert_true(f->out_len >= WIRE_HDR_LEN);
	assert_int_equal(wire_reply_scan(f->out, f->out_len, &s), 0);
	return s;
}

static uint16_t
out_flags(const struct fx *f)
{
	return tp_get16(f->out, 2);
}

static unsigned
out_rcode(const struct fx *f)
{
	return WIRE_RCODE(out_flags(f));
}

/* The first option of code in the answer's OPT record, or -1. */
static int
ede_code(const struct fx *f, const struct wire_scan *s)
{
	size_t rd, rdlen, i;

	if (s->opt_off == 0)
		return -1;
	rd = s->opt_off + 11;
	rdlen = tp_get16(f->out, s->opt_off + 9);
	for (i = 0; i + 4 <= rdlen; i += 4 + tp_get16(f->out, rd + i + 2)) {
		if (tp_get16(f->out, rd + i) == EDE_OPTION) {
			assert_true(tp_get16(f->out, rd + i + 2) >= 2);
			return tp_get16(f->out, rd + i + 4);
		}
	}
	return -1;
}

/*
 * Cache an upstream reply for name/qtype with n A records (TTL 300), the
 * upstream's own ID and the given extra header flags.
 */
static void
cache_reply(struct fx *f, const char *name, uint16_t qtype, int n,
    uint16_t flags, int do_bit, struct tpkt *p)
{
	struct wire_scan s;
	struct cache_key k;

	tp_hdr(p, 0xbeef, WIRE_FLAG_QR | WIRE_FLAG_RA | flags, 1, (uint16_t)n,
	    0, 0);
	tp_question(p, name, qtype, 1);
	for (int i = 0; i < n; i++)
		tp_a_ptr(p, 300, (uint8_t)i);
	assert_int_equal(wire_reply_scan(p->b, p->len, &s), 0);
	cache_key_make(&k, s.qname, s.qname_len, s.qtype, s.qclass, do_bit);
	assert_int_equal(cache_insert(f->cache, &k, p->b, p->len, &s,
			     f->ctx.now_ms),
	    0);
}

/* ------------------------------------------------------------- canary */

/* Firefox's DoH canary: NXDOMAIN with an SOA, decided here, never cached. */
static void
test_doh_canary(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct query_note note;
	struct tpkt p;
	struct wire_scan a;

	f->ctx.note = &note;
	f->ctx.doh_canary = 1;
	f->ctx.block_ttl = 10;
	s.name = "Use-Application-DNS.net";
	s.edns = 1;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(out_rcode(f), WIRE_RCODE_NXDOMAIN);
	assert_int_equal(a.ancount, 0);
	assert_int_equal(a.nscount, 1);
	assert_int_equal(a.arcount, 1);
	assert_int_equal(ede_code(f, &a), -1);
	/* The client's spelling comes back. */
	assert_memory_equal(f->out + 12, p.b + 12, a.question_end - 12);
	assert_int_equal(note.outcome, QUERY_OUT_LOCAL);
	assert_int_equal(note.rcode, WIRE_RCODE_NXDOMAIN);
	assert_int_equal(f->ctr.cache_misses, 0);

	/* Names under it, and the name when switched off, go upstream. */
	s.name = "x.use-application-dns.net";
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
	s.name = "use-application-dns.net";
	f->ctx.doh_canary = 0;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
	assert_int_equal(note.outcome, QUERY_OUT_FORWARD);
	assert_int_equal(f->ctr.cache_misses, 2);
	/* Outside the ACL it is refused like anything else. */
	f->ctx.doh_canary = 1;
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_int_equal(note.rcode, WIRE_RCODE_REFUSED);
}

/* ------------------------------------------------------------- access */

static void
test_refused_outside_acl(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	struct wire_scan a;

	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(a.id, 0x1234);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_true(out_flags(f) & WIRE_FLAG_QR);
	assert_int_equal(a.ancount + a.nscount + a.arcount, 0);
	/* The question is echoed. */
	assert_int_equal(a.question_end, p.len);
	assert_memory_equal(f->out + 4, "\0\1", 2);
	assert_memory_equal(f->out + 12, p.b + 12, p.len - 12);
	assert_true(f->out_len <= p.len);
	assert_int_equal(f->ctr.refused, 1);
	assert_int_equal(f->ctr.cache_hits, 0);
}

/* A client that sent EDNS learns why: EDE 18, prohibited. */
static void
test_refused_outside_acl_ede(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	struct wire_scan a;

	s.edns = 1;
	s.opts = cookie;
	s.opts_len = sizeof(cookie);
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_int_equal(a.qname_len, 13);
	assert_int_equal(a.arcount, 1);
	assert_int_not_equal(a.opt_off, 0);
	assert_int_equal(ede_code(f, &a), WIRE_EDE_PROHIBITED);
	assert_true(f->out_len <= p.len);
}

/*
 * An EDNS query without options: the REFUSED answer must still carry the
 * question and an OPT record (RFC 6891 7), like the one with a cookie.
 */
static void
test_refused_outside_acl_edns_no_options(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	struct wire_scan a;

	s.edns = 1;
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_true(f->out_len <= p.len);
	assert_int_equal(tp_get16(f->out, 4), 1);  /* QDCOUNT */
	assert_int_equal(tp_get16(f->out, 10), 1); /* ARCOUNT */
	a = answer_scan(f);
	assert_int_equal(a.qname_len, 13);
	assert_int_not_equal(a.opt_off, 0);
}

static void
test_drop_malformed_outside(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;

	/* No question. */
	tp_hdr(&p, 1, 0, 0, 0, 0, 0);
	assert_int_equal(decide_raw(f, p.b, p.len, &f->outside, 0),
	    QUERY_DROP);
	/* An answer record in a query. */
	tp_hdr(&p, 1, 0, 1, 1, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 60, 1);
	assert_int_equal(decide_raw(f, p.b, p.len, &f->outside, 0),
	    QUERY_DROP);

	s.flags = OPCODE_NOTIFY << 11;
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_DROP);
	s = plain();
	s.edns = 1;
	s.version = 1;
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_DROP);
	s = plain();
	s.flags |= WIRE_FLAG_QR;
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_DROP);

	assert_int_equal(f->ctr.dropped, 5);
	assert_int_equal(f->ctr.refused, 0);
	assert_int_equal(f->out_len, 0);
}

static void
test_drop_inside(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;

	s.flags |= WIRE_FLAG_QR;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_DROP);
	s = plain();
	build_query(&p, &s);
	assert_int_equal(decide_raw(f, p.b, 11, &f->inside, 0), QUERY_DROP);
	assert_int_equal(f->ctr.dropped, 2);
}

static void
test_acl_ipv6_and_mapped(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct sockaddr_storage v6 = sa("[::1]:5353");
	struct sockaddr_storage mapped = sa("[::ffff:10.9.9.9]:5353");
	struct sockaddr_storage far = sa("[2001:db8::1]:5353");
	struct sockaddr_storage mapped_far = sa("[::ffff:192.0.2.7]:5353");
	struct tpkt p;

	assert_int_equal(decide(f, &s, &v6, 0, &p), QUERY_FORWARD);
	assert_int_equal(decide(f, &s, &mapped, 0, &p), QUERY_FORWARD);
	assert_int_equal(decide(f, &s, &far, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_int_equal(decide(f, &s, &mapped_far, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
}

/* ------------------------------------------------------ error answers */

static void
test_formerr_not_larger(void **state)
{
	static const uint8_t bad_opt[] = {0, 10, 0, 5, 1, 2};
	struct fx *f = *state;
	struct tpkt p[8];
	size_t np = 0;

	/* Header only, QDCOUNT 0. */
	tp_hdr(&p[np++], 0x1111, WIRE_FLAG_RD, 0, 0, 0, 0);
	/* Two questions. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 2, 0, 0, 0);
	tp_question(&p[np], "example.com", 1, 1);
	tp_question(&p[np++], "example.org", 1, 1);
	/* An answer in a query. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 1, 1, 0, 0);
	tp_question(&p[np], "example.com", 1, 1);
	tp_a_ptr(&p[np++], 60, 1);
	/* Compressed qname: "www" and a pointer to a zero in the header. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 1, 0, 0, 0);
	tp_u8(&p[np], 3);
	tp_bytes(&p[np], "www", 3);
	tp_ptr(&p[np], 10);
	tp_u16(&p[np], 1);
	tp_u16(&p[np++], 1);
	/* OPT option longer than its record. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 1, 0, 0, 1);
	tp_question(&p[np], "example.com", 1, 1);
	tp_opt(&p[np++], 1232, 0, 0, 0, bad_opt, sizeof(bad_opt));
	/* OPT owned by a name. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 1, 0, 0, 1);
	tp_question(&p[np], "example.com", 1, 1);
	tp_ptr(&p[np], 12);
	tp_rr_tail(&p[np++], WIRE_TYPE_OPT, 1232, 0, NULL, 0);
	/* The question cut short: 13 bytes. */
	tp_hdr(&p[np], 0x1111, WIRE_FLAG_RD, 1, 0, 0, 0);
	tp_u8(&p[np++], 7);

	for (size_t i = 0; i < np; i++) {
		assert_int_equal(decide_raw(f, p[i].b, p[i].len, &f->inside, 0),
		    QUERY_ANSWER);
		assert_true(f->out_len <= p[i].len);
		assert_int_equal(tp_get16(f->out, 0), 0x1111);
		assert_int_equal(out_rcode(f), WIRE_RCODE_FORMERR);
		assert_true(out_flags(f) & WIRE_FLAG_QR);
		assert_true(out_flags(f) & WIRE_FLAG_RD);
		/* Nothing of a malformed query is worth echoing. */
		assert_int_equal(tp_get16(f->out, 10), 0);
	}
	assert_int_equal(f->ctr.formerr, np);
}

static void
test_notimp_status(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;

	s.flags = OPCODE_STATUS << 11;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_NOTIMP);
	assert_int_equal(WIRE_OPCODE(out_flags(f)), OPCODE_STATUS);
	assert_true(out_flags(f) & WIRE_FLAG_QR);
	assert_true(f->out_len <= p.len);
	assert_int_equal(f->ctr.notimp, 1);
}

static void
test_badvers(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	struct wire_scan a;

	s.edns = 1;
	s.version = 1;
	s.edns_flags = WIRE_EDNS_DO;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	/* BADVERS is 16: 0 in the header, 1 in the OPT's upper bits. */
	assert_int_equal(out_rcode(f), 0);
	assert_int_not_equal(a.opt_off, 0);
	assert_int_equal(a.ext_rcode, 1);
	assert_int_equal(f->out[a.opt_off + 6], 0); /* version */
	assert_int_equal(tp_get16(f->out, a.opt_off + 3), 1232);
	assert_int_equal(tp_get16(f->out, a.opt_off + 7), WIRE_EDNS_DO);
	assert_int_equal(a.ancount, 0);
	assert_true(f->out_len <= p.len);
	assert_int_equal(f->ctr.badvers, 1);
}

static void
test_refused_class_and_transfers(void **state)
{
	static const struct {
		uint16_t qtype, qclass;
		unsigned rcode;
	} cases[] = {
		{1, CLASS_CH, WIRE_RCODE_REFUSED},
		{16, 255, WIRE_RCODE_REFUSED},
		{WIRE_TYPE_AXFR, 1, WIRE_RCODE_REFUSED},
		{WIRE_TYPE_IXFR, 1, WIRE_RCODE_REFUSED},
		{WIRE_TYPE_OPT, 1, WIRE_RCODE_FORMERR},
		{0, 1, WIRE_RCODE_FORMERR},
		{WIRE_TYPE_MAILA, 1, WIRE_RCODE_NOTIMP},
		{WIRE_TYPE_MAILB, 1, WIRE_RCODE_NOTIMP},
	};
	struct fx *f = *state;
	struct tpkt p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qspec s = plain();

		s.qtype = cases[i].qtype;
		s.qclass = cases[i].qclass;
		assert_int_equal(decide(f, &s, &f->inside, 0, &p),
		    QUERY_ANSWER);
		assert_int_equal(out_rcode(f), cases[i].rcode);
		assert_true(f->out_len <= p.len);
		/* The question is echoed as asked. */
		assert_memory_equal(f->out + 12, p.b + 12, p.len - 12);
	}
}

/* ---------------------------------------------------- forward and hit */

static void
test_forward_on_miss(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;

	s.name = "WwW.Example.COM";
	s.qtype = 28;
	s.edns = 1;
	s.udp_size = 4096;
	s.edns_flags = WIRE_EDNS_DO;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
	assert_int_equal(f->q.id, 0x1234);
	assert_int_equal(f->q.qtype, 28);
	assert_int_equal(f->q.qclass, 1);
	assert_int_equal(f->q.qname_len, 17);
	assert_memory_equal(f->q.qname, "\3WwW\7Example\3COM", 17);
	assert_int_equal(f->q.edns, 1);
	assert_int_equal(f->q.do_bit, 1);
	assert_int_equal(f->q.udp_size, 4096);
	assert_int_equal(f->ctr.queries, 1);
	assert_int_equal(f->ctr.cache_hits, 0);
}

static void
test_answer_on_hit(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;
	struct wire_scan a;

	cache_reply(f, "example.com", 1, 2, WIRE_FLAG_AA | WIRE_FLAG_RD, 0,
	    &up);
	s.name = "ExAmPlE.CoM";
	f->ctx.now_ms = T0 + 10000;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(a.id, 0x1234);
	assert_int_equal(out_rcode(f), WIRE_RCODE_NOERROR);
	assert_memory_equal(f->out + 12, "\7ExAmPlE\3CoM", 13);
	assert_int_equal(a.ancount, 2);
	assert_int_equal(a.arcount, 0);
	assert_int_equal(f->out_len, up.len);
	/* The records are the cached ones, ten seconds older. */
	assert_int_equal(tp_get32(f->out, a.ttl_off[0]), 290);
	assert_int_equal(tp_get32(f->out, a.ttl_off[1]), 290);
	assert_memory_equal(f->out + a.ttl_off[0] + 6,
	    up.b + a.ttl_off[0] + 6, 4);
	/* A cached answer is not authoritative. */
	assert_false(out_flags(f) & WIRE_FLAG_AA);
	assert_int_equal(f->ctr.cache_hits, 1);

	/* With EDNS, our own OPT record goes last. */
	s.edns = 1;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(a.ancount, 2);
	assert_int_equal(a.arcount, 1);
	assert_int_equal(a.opt_off, up.len);
	assert_int_equal(tp_get16(f->out, a.opt_off + 3), 1232);
	assert_int_equal(f->ctr.cache_hits, 2);
}

static void
test_expired_entry_forwards(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;

	cache_reply(f, "example.com", 1, 1, 0, 0, &up);
	f->ctx.now_ms = T0 + 299999;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	f->ctx.now_ms = T0 + 300000;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
}

static void
test_flags(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;

	cache_reply(f, "example.com", 1, 1, 0, 0, &up);

	s.flags = 0;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_flags(f), WIRE_FLAG_QR | WIRE_FLAG_RA);

	s.flags = WIRE_FLAG_RD | WIRE_FLAG_Z | WIRE_FLAG_CD;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_flags(f),
	    WIRE_FLAG_QR | WIRE_FLAG_RA | WIRE_FLAG_RD | WIRE_FLAG_CD);

	/* Error answers follow the same rules. */
	s.qclass = CLASS_CH;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_flags(f), WIRE_FLAG_QR | WIRE_FLAG_RA |
		WIRE_FLAG_RD | WIRE_FLAG_CD | WIRE_RCODE_REFUSED);

	/* The reply had no AD: asking for it changes nothing. */
	s = plain();
	s.flags |= WIRE_FLAG_AD;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_false(out_flags(f) & WIRE_FLAG_AD);
}

static void
test_flags_ad(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;

	cache_reply(f, "example.com", 1, 1, WIRE_FLAG_AD, 0, &up);
	cache_reply(f, "example.com", 1, 1, WIRE_FLAG_AD, 1, &up);

	/* RFC 6840 5.8: AD only to clients that show they understand it. */
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_false(out_flags(f) & WIRE_FLAG_AD);

	s.flags |= WIRE_FLAG_AD;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_true(out_flags(f) & WIRE_FLAG_AD);

	s = plain();
	s.edns = 1;
	s.edns_flags = WIRE_EDNS_DO;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_true(out_flags(f) & WIRE_FLAG_AD);

	s.edns_flags = 0;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_false(out_flags(f) & WIRE_FLAG_AD);
	assert_int_equal(f->ctr.cache_hits, 4);
}

/* ---------------------------------------------------------- truncation */

static void
test_truncation(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;
	struct wire_scan a;

	/* 40 A records: 12 + 17 + 40 * 16 = 669 bytes. */
	cache_reply(f, "example.com", 1, 40, 0, 0, &up);
	assert_int_equal(up.len, 669);

	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_true(out_flags(f) & WIRE_FLAG_TC);
	assert_int_equal(a.ancount, 0);
	assert_int_equal(a.nscount, 0);
	assert_int_equal(a.arcount, 0);
	assert_int_equal(f->out_len, p.len);
	assert_int_equal(f->ctr.truncated, 1);

	assert_int_equal(decide(f, &s, &f->inside, 1, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_false(out_flags(f) & WIRE_FLAG_TC);
	assert_int_equal(a.ancount, 40);
	assert_int_equal(f->out_len, 669);

	/* EDNS lifts the limit to the smaller of the two sizes. */
	s.edns = 1;
	s.udp_size = 4096;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_false(out_flags(f) & WIRE_FLAG_TC);
	assert_int_equal(a.ancount, 40);
	assert_int_equal(f->out_len, 669 + 11);

	f->ctx.edns_size = 600;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_true(out_flags(f) & WIRE_FLAG_TC);
	assert_int_equal(a.ancount, 0);
	/* Truncated, the OPT record is still there. */
	assert_int_equal(a.arcount, 1);
	assert_true(f->out_len <= 600);

	f->ctx.edns_size = 1232;
	s.udp_size = 512;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_true(out_flags(f) & WIRE_FLAG_TC);
	assert_true(f->out_len <= 512);
	assert_int_equal(f->ctr.truncated, 3);
}

/* Our OPT record counts against the client's size. */
static void
test_truncation_counts_opt(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt up, p;

	/* 29 + 30 * 16 = 509 bytes, 520 with the OPT record. */
	cache_reply(f, "example.com", 1, 30, 0, 0, &up);
	assert_int_equal(up.len, 509);
	s.edns = 1;
	s.udp_size = 520;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_false(out_flags(f) & WIRE_FLAG_TC);
	assert_int_equal(f->out_len, 520);
	s.udp_size = 519;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_true(out_flags(f) & WIRE_FLAG_TC);
	assert_true(f->out_len <= 519);
}

/* ------------------------------------------------------------ policy */

/* Deny name and everything below it, from a feed with the given names. */
static void
block(struct fx *f, const char *name, const char *feed_id,
    const char *category)
{
	struct bl_builder *b = bl_builder_new();
	uint8_t wire[WIRE_NAME_MAX];
	int n = wire_name_from_text(name, wire), feed;

	assert_non_null(b);
	assert_true(n > 0);
	feed = bl_builder_add_feed(b, feed_id, category);
	assert_true(feed > 0);
	assert_int_equal(bl_builder_add(b, wire, (size_t)n, BL_DENY,
			     BL_SUBTREE, (uint16_t)feed),
	    0);
	f->policy = bl_builder_finish(b, 7);
	assert_non_null(f->policy);
	f->sinkhole.mode = SINKHOLE_NULL;
	f->ctx.policy = f->policy;
	f->ctx.sinkhole = &f->sinkhole;
	f->ctx.block_ttl = 10;
}

static void
test_blocked(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	struct wire_scan a;

	block(f, "ads.example", "test-feed", "advertising");
	s.name = "Tracker.ADS.example";
	s.edns = 1;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	a = answer_scan(f);
	assert_int_equal(a.id, 0x1234);
	assert_int_equal(out_rcode(f), WIRE_RCODE_NOERROR);
	assert_memory_equal(f->out + 12, "\7Tracker\3ADS\7example", 21);
	assert_int_equal(a.ancount, 1);
	assert_int_equal(a.min_ttl, 10);
	/* 0.0.0.0, the rdata of the only answer. */
	assert_int_equal(tp_get16(f->out, a.ttl_off[0] + 4), 4);
	assert_int_equal(tp_get32(f->out, a.ttl_off[0] + 6), 0);
	assert_int_equal(ede_code(f, &a), WIRE_EDE_BLOCKED);
	assert_int_equal(f->ctr.blocked, 1);

	/* Neither the parent nor a sibling is blocked. */
	s.name = "example";
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
	s.name = "bads.example";
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_FORWARD);
	/* Outside the ACL, refused before policy. */
	s.name = "ads.example";
	assert_int_equal(decide(f, &s, &f->outside, 0, &p), QUERY_ANSWER);
	assert_int_equal(out_rcode(f), WIRE_RCODE_REFUSED);
	assert_int_equal(f->ctr.blocked, 1);
}

/*
 * A blocked answer to an EDNS client must fit the size the client can
 * take, like every other UDP answer. The EDE text names the rule, so a
 * long rule makes a long OPT record.
 */
static void
test_blocked_fits_udp_size(void **state)
{
	struct fx *f = *state;
	struct qspec s = plain();
	struct tpkt p;
	char name[256];

	/* 63.63.63.49 characters: a 243-byte wire name. */
	memset(name, 'a', sizeof(name));
	name[63] = name[127] = name[191] = '.';
	name[241] = '\0';
	block(f, name, "test-feed", "advertising");
	s.name = name;
	s.edns = 1;
	s.udp_size = 512;
	assert_int_equal(decide(f, &s, &f->inside, 0, &p), QUERY_ANSWER);
	assert_int_equal(f->ctr.blocked, 1);
	if (f->out_len > 512)
		fail_msg("%zu-byte answer to a client that takes 512",
		    f->out_len);
}

static void
test_size_limit(void **state)
{
	struct wire_query q = {0};

	assert_int_equal(query_size_limit(&q, 0, 1232), 512);
	assert_int_equal(query_size_limit(&q, 1, 1232), WIRE_MSG_MAX);
	q.edns = 1;
	q.udp_size = 4096;
	assert_int_equal(query_size_limit(&q, 0, 1232), 1232);
	q.udp_size = 1000;
	assert_int_equal(query_size_limit(&q, 0, 1232), 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_doh_canary),
		T(test_refused_outside_acl),
		T(test_refused_outside_acl_ede),
		T(test_refused_outside_acl_edns_no_options),
		T(test_drop_malformed_outside),
		T(test_drop_inside),
		T(test_acl_ipv6_and_mapped),
		T(test_formerr_not_larger),
		T(test_notimp_status),
		T(test_badvers),
		T(test_refused_class_and_transfers),
		T(test_forward_on_miss),
		T(test_answer_on_hit),
		T(test_expired_entry_forwards),
		T(test_flags),
		T(test_flags_ad),
		T(test_truncation),
		T(test_truncation_counts_opt),
		T(test_blocked),
		T(test_blocked_fits_udp_size),
		cmocka_unit_test(test_size_limit),
#undef T
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
