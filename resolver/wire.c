#include <stdio.h>
#include <string.h>

#include "resolver/wire.h"

/*
 * What a compressed name may be made of. A pointer leads to an earlier
 * name, which ends before the pointer: no byte read after a jump lies at
 * or past it. In a whole message no byte of a name may be one the resolver
 * rewrites for each client: the header (ID, flags; below floor) and, when
 * fixed is given (a bitmap over the message), each record's type, class,
 * TTL and length (TTLs count down). A name made of those would turn into
 * one the upstream never sent, or into an invalid one.
 */
struct name_rules {
	size_t floor;
	const uint8_t *fixed;
};

static int
rewritten(const struct name_rules *r, size_t from, size_t to)
{
	if (from < r->floor)
		return 1;
	for (size_t i = from; r->fixed != NULL && i < to; i++) {
		if (r->fixed[i >> 3] & (1u << (i & 7)))
			return 1;
	}
	return 0;
}

static void
mark_rewritten(uint8_t *fixed, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		fixed[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int
name_decode(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out,
    size_t *out_len, const struct name_rules *r)
{
	size_t pos = *off;
	size_t lowest = *off; /* every pointer must go below this */
	size_t bound = len;   /* and what it leads to must end before it */
	size_t end = 0;       /* where the name ends in place */
	size_t n = 0;
	int jumped = 0;

	for (;;) {
		uint8_t c;

		if (pos >= bound)
			return -1;
		c = pkt[pos];
		if ((c & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= bound ||
			    (jumped && rewritten(r, pos, pos + 2)))
				return -1;
			target = (size_t)(c & 0x3f) << 8 | pkt[pos + 1];
			if (target >= lowest)
				return -1;
			if (!jumped) {
				end = pos + 2;
				jumped = 1;
			}
			lowest = target;
			bound = pos;
			pos = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 and 0x80: obsolete label types */
			return -1;
		if (pos + 1 + c > bound ||
		    (jumped && rewritten(r, pos, pos + 1 + c)))
			return -1;
		if (n + 1 + c > WIRE_NAME_MAX)
			return -1;
		if (out != NULL)
			memcpy(out + n, pkt + pos, (size_t)c + 1);
		n += (size_t)c + 1;
		pos += (size_t)c + 1;
		if (c == 0)
			break;
	}
	*off = jumped ? end : pos;
	if (out_len != NULL)
		*out_len = n;
	return 0;
}

int
wire_name_decode(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out,
    size_t *out_len)
{
	static const struct name_rules any = {0, NULL};

	return name_decode(pkt, len, off, out, out_len, &any);
}

/* A name inside a DNS message; fixed as for struct name_rules. */
static int
msg_name_decode(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out,
    size_t *out_len, const uint8_t *fixed)
{
	const struct name_rules r = {WIRE_HDR_LEN, fixed};

	return name_decode(pkt, len, off, out, out_len, &r);
}

void
wire_name_lower(uint8_t *dst, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = src[i];

		dst[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
	}
}

int
wire_name_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++) {
		uint8_t x = a[i], y = b[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (uint8_t)(y + 32);
		if (x != y)
			return 0;
	}
	return 1;
}

void
wire_name_text(const uint8_t *name, size_t len, char *buf, size_t cap)
{
	size_t o = 0, i = 0;

	if (cap == 0)
		return;
	if (len <= 1) {
		snprintf(buf, cap, ".");
		return;
	}
	while (i < len && name[i] != 0) {
		uint8_t l = name[i++];

		for (uint8_t j = 0; j < l && i < len; j++, i++) {
			uint8_t c = name[i];
			int w;

			if (c > 0x20 && c < 0x7f && c != '.' && c != '\\')
				w = snprintf(buf + o, cap - o, "%c", c);
			else
				w = snprintf(buf + o, cap - o, "\\%03u", c);
			if (w < 0 || (size_t)w >= cap - o)
				return;
			o += (size_t)w;
		}
		if (o + 1 >= cap)
			return;
		buf[o++] = '.';
		buf[o] = '\0';
	}
}

int
wire_name_from_text(const char *text, uint8_t *out)
{
	size_t n = 0, lab = 0;
	uint8_t c;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	out[0] = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '.') {
			if (out[lab] == 0)
				return -1; /* empty label */
			lab = ++n;
			if (n >= WIRE_NAME_MAX)
				return -1;
			out[lab] = 0;
			if (p[1] == '\0')
				break;
			continue;
		}
		c = (uint8_t)*p;
		if (*p == '\\') {
			/* \DDD or \X, as wire_name_text writes them. */
			if (p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
			    p[2] <= '9' && p[3] >= '0' && p[3] <= '9') {
				unsigned v = (unsigned)(p[1] - '0') * 100 +
				    (unsigned)(p[2] - '0') * 10 +
				    (unsigned)(p[3] - '0');

				if (v > 255)
					return -1;
				c = (uint8_t)v;
				p += 3;
			} else if (p[1] != '\0') {
				c = (uint8_t)*++p;
			} else {
				return -1;
			}
		}
		if (out[lab] == 63 || n + 1 >= WIRE_NAME_MAX - 1)
			return -1;
		out[lab]++;
		out[++n] = c;
	}
	if (out[lab] != 0) {
		lab = ++n;
		if (n >= WIRE_NAME_MAX)
			return -1;
		out[lab] = 0;
	}
	return (int)n + 1;
}

/* Skip one resource record, checking every length. */
static int
skip_rr(const uint8_t *pkt, size_t len, size_t *off, uint16_t *type,
    size_t *ttl_off, size_t *rdata_off, uint16_t *rdlen, uint8_t *fixed)
{
	size_t pos = *off;
	uint16_t rl;

	if (msg_name_decode(pkt, len, &pos, NULL, NULL, fixed) != 0)
		return -1;
	if (pos + 10 > len)
		return -1;
	if (fixed != NULL)
		mark_rewritten(fixed, pos, pos + 10);
	*type = wire_get16(pkt + pos);
	*ttl_off = pos + 4;
	rl = wire_get16(pkt + pos + 8);
	pos += 10;
	if (pos + rl > len)
		return -1;
	*rdata_off = pos;
	*rdlen = rl;
	*off = pos + rl;
	return 0;
}

/*
 * Names in the RDATA of the types that may carry compressed names (RFC
 * 3597 4 and the older types that were compressed in practice): each must
 * decode within the record, pointing strictly backwards, and fill the
 * RDATA exactly with its fixed fields. Other types are opaque bytes.
 */
int
wire_rdata_names(uint16_t type, size_t *prefix, size_t *suffix)
{
	*prefix = 0;
	*suffix = 0;
	switch (type) {
	case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12:
	case 39: /* NS MD MF CNAME MB MG MR PTR DNAME */
		return 1;
	case 14: case 17: /* MINFO RP */
		return 2;
	case 15: case 18: case 21: case 36: /* MX AFSDB RT KX */
		*prefix = 2;
		return 1;
	case 26: /* PX */
		*prefix = 2;
		return 2;
	case 33: /* SRV */
		*prefix = 6;
		return 1;
	case WIRE_TYPE_SOA:
		*suffix = 20;
		return 2;
	default:
		return 0;
	}
}

static int
check_rdata_names(const uint8_t *pkt, size_t rdata_off, uint16_t rdlen,
    uint16_t type, const uint8_t *fixed)
{
	size_t end = rdata_off + rdlen, prefix, suffix, r;
	int names = wire_rdata_names(type, &prefix, &suffix);

	if (names == 0)
		return 0;
	r = rdata_off + prefix;
	for (int i = 0; i < names; i++) {
		if (r >= end ||
		    msg_name_decode(pkt, end, &r, NULL, NULL, fixed) != 0)
			return -1;
	}
	return r + suffix == end ? 0 : -1;
}

static int
check_opt_options(const uint8_t *p, size_t rdlen)
{
	size_t i = 0;

	while (i < rdlen) {
		if (i + 4 > rdlen)
			return -1;
		i += 4 + wire_get16(p + i + 2);
	}
	return i == rdlen ? 0 : -1;
}

enum wire_parse
wire_query_parse(const uint8_t *pkt, size_t len, struct wire_query *q)
{
	size_t pos = WIRE_HDR_LEN, name_len = 0;
	uint16_t qd, an, ns, ar;
	int name_ok;

	q->qname_len = 0;
	q->edns = 0;
	q->do_bit = 0;
	q->udp_size = 512;
	if (len < WIRE_HDR_LEN)
		return WIRE_DROP;
	q->id = wire_get16(pkt);
	q->flags = wire_get16(pkt + 2);
	if (q->flags & WIRE_FLAG_QR)
		return WIRE_DROP;
	qd = wire_get16(pkt + 4);
	an = wire_get16(pkt + 6);
	ns = wire_get16(pkt + 8);
	ar = wire_get16(pkt + 10);

	/* The question may not be compressed: nothing precedes it. */
	name_ok = qd >= 1 &&
	    msg_name_decode(pkt, len, &pos, q->qname, &name_len, NULL) == 0 &&
	    pos == WIRE_HDR_LEN + name_len && pos + 4 <= len;
	if (name_ok) {
		q->qname_len = (uint16_t)name_len;
		q->qtype = wire_get16(pkt + pos);
		q->qclass = wire_get16(pkt + pos + 2);
		pos += 4;
	}
	if (WIRE_OPCODE(q->flags) != 0) {
		if (qd != 1)
			q->qname_len = 0;
		return WIRE_NOTIMP;
	}
	if (qd != 1 || !name_ok || an != 0 || ns != 0 || ar > 1) {
		q->qname_len = 0;
		return WIRE_FORMERR;
	}
	if (ar == 1) {
		size_t rr = pos, ttl_off, rdata_off;
		uint16_t type, rdlen;

		if (skip_rr(pkt, len, &pos, &type, &ttl_off, &rdata_off,
			&rdlen, NULL) != 0) {
			q->qname_len = 0;
			return WIRE_FORMERR;
		}
		if (type == WIRE_TYPE_OPT) {
			uint32_t ttl = wire_get32(pkt + ttl_off);
			uint16_t size = wire_get16(pkt + ttl_off - 2);

			if (pkt[rr] != 0 ||
			    check_opt_options(pkt + rdata_off, rdlen) != 0) {
				q->qname_len = 0;
				return WIRE_FORMERR;
			}
			q->edns = 1;
			q->do_bit = (ttl & WIRE_EDNS_DO) != 0;
			q->udp_size = size < 512 ? 512 : size;
			if (((ttl >> 16) & 0xff) != 0)
				return WIRE_BADVERS;
		}
	}
	return WIRE_OK;
}

int
wire_reply_scan(const uint8_t *pkt, size_t len, struct wire_scan *s)
{
	/* The bytes rewritten per client, for the name checks. */
	uint8_t fixed[(WIRE_MSG_MAX + 7) / 8];
	size_t pos = WIRE_HDR_LEN, name_len = 0;
	unsigned total;

	if (len < WIRE_HDR_LEN || len > WIRE_MSG_MAX)
		return -1;
	memset(fixed, 0, (len + 7) / 8);
	mark_rewritten(fixed, 0, WIRE_HDR_LEN);
	s->id = wire_get16(pkt);
	s->flags = wire_get16(pkt + 2);
	s->ancount = wire_get16(pkt + 6);
	s->nscount = wire_get16(pkt + 8);
	s->arcount = wire_get16(pkt + 10);
	s->opt_off = 0;
	s->opt_len = 0;
	s->ext_rcode = 0;
	s->has_soa = 0;
	s->min_ttl = UINT32_MAX;
	s->n_ttl = 0;
	s->n_cname = 0;
	if (wire_get16(pkt + 4) != 1)
		return -1;
	if (msg_name_decode(pkt, len, &pos, s->qname, &name_len, fixed) != 0 ||
	    pos + 4 > len)
		return -1;
	s->qname_len = (uint16_t)name_len;
	s->qtype = wire_get16(pkt + pos);
	s->qclass = wire_get16(pkt + pos + 2);
	pos += 4;
	s->question_end = pos;

	total = (unsigned)s->ancount + s->nscount + s->arcount;
	for (unsigned i = 0; i < total; i++) {
		size_t rr = pos, ttl_off, rdata_off;
		uint16_t type, rdlen;
		uint32_t ttl;

		if (skip_rr(pkt, len, &pos, &type, &ttl_off, &rdata_off,
			&rdlen, fixed) != 0)
			return -1;
		if (type == WIRE_TYPE_OPT) {
			/* Only one, only in additional, owned by the root. */
			if (i < (unsigned)s->ancount + s->nscount ||
			    s->opt_off != 0 || pkt[rr] != 0)
				return -1;
			s->opt_off = rr;
			s->opt_len = pos - rr;
			s->ext_rcode = pkt[ttl_off];
			continue;
		}
		ttl = wire_get32(pkt + ttl_off);
		/* RFC 2181 8: a TTL with the top bit set means zero. */
		if (ttl & 0x80000000u) {
			ttl = 0;
		}
		if (ttl < s->min_ttl)
			s->min_ttl = ttl;
		if (s->n_ttl >= WIRE_SCAN_MAX_RR || ttl_off > UINT16_MAX)
			return -1;
		s->ttl_off[s->n_ttl++] = (uint16_t)ttl_off;
		/* Cached bytes go to clients as they are: a name that loops,
		 * points forwards or out of the packet is refused here. */
		if (check_rdata_names(pkt, rdata_off, rdlen, type, fixed) != 0)
			return -1;
		if (type == WIRE_TYPE_CNAME && i < s->ancount) {
			/* A chain longer than this is refused, not cut short:
			 * every name in it must be checked against policy. */
			if (s->n_cname >= WIRE_SCAN_MAX_CNAME)
				return -1;
			s->cname_owner[s->n_cname] = (uint16_t)rr;
			s->cname_target[s->n_cname++] = (uint16_t)rdata_off;
		}
		if (type == WIRE_TYPE_SOA && i >= s->ancount &&
		    i < (unsigned)s->ancount + s->nscount && !s->has_soa) {
			s->has_soa = 1;
			s->soa_ttl = ttl;
			s->soa_minimum =
			    wire_get32(pkt + rdata_off + rdlen - 4);
		}
	}
	/* Bytes after the last record mean the counts lie. */
	if (pos != len)
		return -1;
	return 0;
}

size_t
wire_opt_write(uint8_t *p, size_t cap, uint16_t udp_size, uint8_t ext_rcode,
    int do_bit, int ede, const char *ede_text)
{
	size_t text_len = 0, rdlen = 0, need;

	if (ede >= 0) {
		text_len = ede_text != NULL ? strlen(ede_text) : 0;
		if (text_len > 512)
			text_len = 512;
		rdlen = 4 + 2 + text_len;
	}
	need = 11 + rdlen;
	if (need > cap)
		return 0;
	p[0] = 0;
	wire_put16(p + 1, WIRE_TYPE_OPT);
	wire_put16(p + 3, udp_size);
	p[5] = ext_rcode;
	p[6] = 0; /* version */
	wire_put16(p + 7, do_bit ? WIRE_EDNS_DO : 0);
	wire_put16(p + 9, (uint16_t)rdlen);
	if (ede >= 0) {
		wire_put16(p + 11, 15); /* option code: EDE */
		wire_put16(p + 13, (uint16_t)(2 + text_len));
		wire_put16(p + 15, (uint16_t)ede);
		if (text_len > 0)
			memcpy(p + 17, ede_text, text_len);
	}
	return need;
}

size_t
wire_question_write(uint8_t *p, size_t cap, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t qclass)
{
	if (qname_len + 4 > cap)
		return 0;
	memcpy(p, qname, qname_len);
	wire_put16(p + qname_len, qtype);
	wire_put16(p + qname_len + 2, qclass);
	return qname_len + 4;
}
