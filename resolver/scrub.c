#include <string.h>

#include "resolver/scrub.h"
#include "resolver/wire.h"

#define TYPE_DNAME 39
#define TYPE_RRSIG 46
#define TYPE_NSEC 47
#define TYPE_NSEC3 50

#define MAX_RR (WIRE_SCAN_MAX_RR + 1) /* and the OPT record */
#define MAX_CHAIN (WIRE_SCAN_MAX_CNAME + 1)

enum { SEC_AN, SEC_NS, SEC_AR };

struct rr {
	size_t off; /* owner name */
	size_t fixed; /* type, class, TTL, RDLENGTH */
	size_t end;
	uint16_t type;
	uint16_t rclass;
	uint8_t section;
	uint8_t keep;
};

struct name {
	size_t len;
	uint8_t b[WIRE_NAME_MAX]; /* lower case */
};

static int
list_rrs(const uint8_t *pkt, size_t len, const struct wire_scan *scan,
    struct rr *rrs, size_t *n)
{
	size_t pos = scan->question_end;
	unsigned total =
	    (unsigned)scan->ancount + scan->nscount + scan->arcount;

	if (total > MAX_RR)
		return -1;
	for (unsigned i = 0; i < total; i++) {
		struct rr *r = &rrs[i];

		r->off = pos;
		if (wire_name_decode(pkt, len, &pos, NULL, NULL) != 0 ||
		    pos + 10 > len)
			return -1;
		r->fixed = pos;
		r->type = wire_get16(pkt + pos);
		r->rclass = wire_get16(pkt + pos + 2);
		pos += 10 + (size_t)wire_get16(pkt + pos + 8);
		if (pos > len)
			return -1;
		r->end = pos;
		r->section = i < scan->ancount                    ? SEC_AN
		    : i < (unsigned)scan->ancount + scan->nscount ? SEC_NS
								  : SEC_AR;
		r->keep = 0;
	}
	*n = total;
	return 0;
}

static int
decode(const uint8_t *pkt, size_t len, size_t off, struct name *nm)
{
	if (wire_name_decode(pkt, len, &off, nm->b, &nm->len) != 0)
		return -1;
	wire_name_lower(nm->b, nm->b, nm->len);
	return 0;
}

static int
same(const struct name *a, const struct name *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* Is c the name p or a name below it? Both are uncompressed. */
static int
under(const struct name *c, const struct name *p)
{
	size_t i = 0;

	while (c->len - i >= p->len) {
		if (c->len - i == p->len)
			return memcmp(c->b + i, p->b, p->len) == 0;
		i += (size_t)c->b[i] + 1;
	}
	return 0;
}

static int
in_chain(const struct name *chain, size_t n, const struct name *x)
{
	for (size_t i = 0; i < n; i++)
		if (same(&chain[i], x))
			return 1;
	return 0;
}

/* The CNAME chain from the question's name; returns its length. */
static size_t
follow_chain(const uint8_t *pkt, size_t len, const struct wire_scan *scan,
    const struct rr *rrs, size_t n_rr, struct name *chain)
{
	size_t n = 1;
	struct name nm;

	memcpy(chain[0].b, scan->qname, scan->qname_len);
	chain[0].len = scan->qname_len;
	wire_name_lower(chain[0].b, chain[0].b, chain[0].len);
	if (scan->qtype == WIRE_TYPE_CNAME)
		return 1;
	while (n < MAX_CHAIN) {
		size_t i;

		for (i = 0; i < n_rr && rrs[i].section == SEC_AN; i++) {
			if (rrs[i].type != WIRE_TYPE_CNAME ||
			    rrs[i].rclass != scan->qclass ||
			    decode(pkt, len, rrs[i].off, &nm) != 0 ||
			    !same(&nm, &chain[n - 1]))
				continue;
			if (decode(pkt, rrs[i].end, rrs[i].fixed + 10,
				&chain[n]) != 0)
				return n;
			break;
		}
		if (i == n_rr || rrs[i].section != SEC_AN ||
		    in_chain(chain, n, &chain[n]))
			break;
		n++;
	}
	return n;
}

/* Mark what to keep; returns how many records are dropped. */
static size_t
mark(const uint8_t *pkt, size_t len, const struct wire_scan *scan,
    struct rr *rrs, size_t n_rr)
{
	struct name chain[MAX_CHAIN], nm, zone;
	size_t n_chain, dropped = 0;
	int positive = 0, have_zone = 0;
	uint16_t qtype = scan->qtype;

	n_chain = follow_chain(pkt, len, scan, rrs, n_rr, chain);
	for (size_t i = 0; i < n_rr; i++) {
		struct rr *r = &rrs[i];

		if (r->section != SEC_AN || r->rclass != scan->qclass ||
		    decode(pkt, len, r->off, &nm) != 0)
			continue;
		if (r->type == TYPE_DNAME) {
			for (size_t j = 0; j < n_chain && !r->keep; j++)
				r->keep = !same(&chain[j], &nm) &&
				    under(&chain[j], &nm);
		} else if (in_chain(chain, n_chain, &nm)) {
			r->keep = qtype == WIRE_TYPE_ANY || r->type == qtype ||
			    r->type == WIRE_TYPE_CNAME || r->type == TYPE_RRSIG;
		}
		if (r->keep && same(&nm, &chain[n_chain - 1]) &&
		    (r->type == qtype || qtype == WIRE_TYPE_ANY))
			positive = 1;
	}
	if (WIRE_RCODE(scan->flags) == WIRE_RCODE_NXDOMAIN)
		positive = 0;
	/* A negative answer keeps its SOA and denial proofs from the zone
	 * the chain ends in; a positive one needs no authority at all. */
	for (size_t i = 0; i < n_rr && !positive; i++) {
		struct rr *r = &rrs[i];

		if (r->section != SEC_NS || r->type != WIRE_TYPE_SOA ||
		    r->rclass != scan->qclass ||
		    decode(pkt, len, r->off, &zone) != 0)
			continue;
		if (under(&chain[n_chain - 1], &zone)) {
			r->keep = 1;
			have_zone = 1;
			break;
		}
	}
	for (size_t i = 0; i < n_rr && have_zone; i++) {
		struct rr *r = &rrs[i];

		if (r->section != SEC_NS || r->rclass != scan->qclass ||
		    (r->type != TYPE_NSEC && r->type != TYPE_NSEC3 &&
			r->type != TYPE_RRSIG) ||
		    decode(pkt, len, r->off, &nm) != 0)
			continue;
		r->keep = under(&nm, &zone);
	}
	for (size_t i = 0; i < n_rr; i++) {
		if (rrs[i].section == SEC_AR && rrs[i].type == WIRE_TYPE_OPT)
			rrs[i].keep = 1;
		dropped += !rrs[i].keep;
	}
	return dropped;
}

static int
put(uint8_t *out, size_t cap, size_t *o, const void *src, size_t n)
{
	if (n > cap - *o)
		return -1;
	memcpy(out + *o, src, n);
	*o += n;
	return 0;
}

static int
put_name(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, size_t cap,
    size_t *o)
{
	uint8_t b[WIRE_NAME_MAX];
	size_t n = 0;

	if (wire_name_decode(pkt, len, off, b, &n) != 0)
		return -1;
	return put(out, cap, o, b, n);
}

/*
 * A kept record moved to a new offset: its names are written out in full,
 * since the names its compression pointers named may be gone or moved.
 */
static int
put_rr(
    const uint8_t *pkt, const struct rr *r, uint8_t *out, size_t cap, size_t *o)
{
	size_t off = r->off, rdata = r->fixed + 10, rdlen_at, prefix, suffix;
	int names = wire_rdata_names(r->type, &prefix, &suffix);

	if (put_name(pkt, r->end, &off, out, cap, o) != 0 ||
	    put(out, cap, o, pkt + r->fixed, 10) != 0)
		return -1;
	rdlen_at = *o - 2;
	if (names == 0)
		return put(out, cap, o, pkt + rdata, r->end - rdata);
	if (put(out, cap, o, pkt + rdata, prefix) != 0)
		return -1;
	off = rdata + prefix;
	for (int i = 0; i < names; i++)
		if (put_name(pkt, r->end, &off, out, cap, o) != 0)
			return -1;
	if (put(out, cap, o, pkt + off, suffix) != 0 ||
	    *o - rdlen_at - 2 > UINT16_MAX)
		return -1;
	wire_put16(out + rdlen_at, (uint16_t)(*o - rdlen_at - 2));
	return 0;
}

int
scrub_reply(const uint8_t *pkt, size_t len, const struct wire_scan *scan,
    uint8_t *out, size_t cap, size_t *out_len)
{
	struct rr rrs[MAX_RR];
	size_t n_rr, o = 0, last = 0, head;
	uint16_t counts[3] = {0, 0, 0};
	int in_place = 1;

	if (list_rrs(pkt, len, scan, rrs, &n_rr) != 0)
		return -1;
	if (mark(pkt, len, scan, rrs, n_rr) == 0)
		return 0;
	/* Usually what goes is all at the end (authority and additional
	 * data): then the kept records stay where they are, byte for byte. */
	for (size_t i = 0; i < n_rr; i++) {
		if (!rrs[i].keep || rrs[i].type == WIRE_TYPE_OPT)
			continue;
		for (size_t j = last; j < i; j++)
			in_place &= rrs[j].keep;
		last = i + 1;
	}
	head = last > 0 ? rrs[last - 1].end : scan->question_end;
	if (in_place) {
		if (put(out, cap, &o, pkt, head) != 0)
			return -1;
	} else {
		uint8_t q[4];

		wire_put16(q, scan->qtype);
		wire_put16(q + 2, scan->qclass);
		if (put(out, cap, &o, pkt, WIRE_HDR_LEN) != 0 ||
		    put(out, cap, &o, scan->qname, scan->qname_len) != 0 ||
		    put(out, cap, &o, q, 4) != 0)
			return -1;
	}
	for (size_t i = 0; i < n_rr; i++) {
		const struct rr *r = &rrs[i];

		if (!r->keep)
			continue;
		counts[r->section]++;
		if (r->type == WIRE_TYPE_OPT) {
			if (put(out, cap, &o, pkt + r->off, r->end - r->off) !=
			    0)
				return -1;
		} else if (!in_place && put_rr(pkt, r, out, cap, &o) != 0) {
			return -1;
		}
	}
	wire_put16(out + 6, counts[SEC_AN]);
	wire_put16(out + 8, counts[SEC_NS]);
	wire_put16(out + 10, counts[SEC_AR]);
	*out_len = o;
	return 1;
}
