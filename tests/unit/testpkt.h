/*
 * A small DNS packet builder for the unit tests. It knows nothing of
 * resolver/wire.c on purpose: the packets the parsers are tested with must
 * not be produced by the code under test. Counts are written by the caller,
 * so tests can make them lie.
 */
#ifndef TESTS_UNIT_TESTPKT_H
#define TESTS_UNIT_TESTPKT_H

#include <stdint.h>
#include <string.h>

#define TP_MAX 8192

struct tpkt {
	uint8_t b[TP_MAX];
	size_t len;
};

static inline void
tp_u8(struct tpkt *p, uint8_t v)
{
	if (p->len < TP_MAX)
		p->b[p->len] = v;
	p->len++;
}

static inline void
tp_u16(struct tpkt *p, uint16_t v)
{
	tp_u8(p, (uint8_t)(v >> 8));
	tp_u8(p, (uint8_t)v);
}

static inline void
tp_u32(struct tpkt *p, uint32_t v)
{
	tp_u16(p, (uint16_t)(v >> 16));
	tp_u16(p, (uint16_t)v);
}

static inline void
tp_bytes(struct tpkt *p, const void *v, size_t n)
{
	const uint8_t *s = v;

	for (size_t i = 0; i < n; i++)
		tp_u8(p, s[i]);
}

static inline void
tp_set16(struct tpkt *p, size_t off, uint16_t v)
{
	p->b[off] = (uint8_t)(v >> 8);
	p->b[off + 1] = (uint8_t)v;
}

static inline uint16_t
tp_get16(const uint8_t *b, size_t off)
{
	return (uint16_t)(b[off] << 8 | b[off + 1]);
}

static inline uint32_t
tp_get32(const uint8_t *b, size_t off)
{
	return (uint32_t)tp_get16(b, off) << 16 | tp_get16(b, off + 2);
}

static inline void
tp_hdr(struct tpkt *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
    uint16_t ns, uint16_t ar)
{
	p->len = 0;
	tp_u16(p, id);
	tp_u16(p, flags);
	tp_u16(p, qd);
	tp_u16(p, an);
	tp_u16(p, ns);
	tp_u16(p, ar);
}

/* Dotted text to uncompressed labels; "" and "." are the root. */
static inline size_t
tp_name(struct tpkt *p, const char *text)
{
	size_t start = p->len;
	const char *s = text;

	while (*s != '\0') {
		const char *dot = strchr(s, '.');
		size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

		if (n == 0)
			break;
		tp_u8(p, (uint8_t)n);
		tp_bytes(p, s, n);
		s += n;
		if (*s == '.')
			s++;
	}
	tp_u8(p, 0);
	return start;
}

/* A compression pointer to off. */
static inline void
tp_ptr(struct tpkt *p, size_t off)
{
	tp_u16(p, (uint16_t)(0xc000 | off));
}

static inline void
tp_question(struct tpkt *p, const char *name, uint16_t qtype,
    uint16_t qclass)
{
	tp_name(p, name);
	tp_u16(p, qtype);
	tp_u16(p, qclass);
}

/*
 * The part of a record after its owner name. Returns the offset of the TTL
 * field.
 */
static inline size_t
tp_rr_tail(struct tpkt *p, uint16_t type, uint16_t rclass, uint32_t ttl,
    const void *rdata, uint16_t rdlen)
{
	size_t ttl_off;

	tp_u16(p, type);
	tp_u16(p, rclass);
	ttl_off = p->len;
	tp_u32(p, ttl);
	tp_u16(p, rdlen);
	tp_bytes(p, rdata, rdlen);
	return ttl_off;
}

/* A record whose owner is a pointer to the question name at offset 12. */
static inline size_t
tp_a_ptr(struct tpkt *p, uint32_t ttl, uint8_t last)
{
	uint8_t a[4] = {192, 0, 2, last};

	tp_ptr(p, 12);
	return tp_rr_tail(p, 1, 1, ttl, a, sizeof(a));
}

/*
 * An SOA owned by the name at owner_off (a pointer), with names "ns." and
 * "host." and the given TTL and MINIMUM. Returns the TTL offset.
 */
static inline size_t
tp_soa_ptr(struct tpkt *p, size_t owner_off, uint32_t ttl, uint32_t minimum)
{
	size_t ttl_off, rdlen_off, rdata;

	tp_ptr(p, owner_off);
	tp_u16(p, 6);
	tp_u16(p, 1);
	ttl_off = p->len;
	tp_u32(p, ttl);
	rdlen_off = p->len;
	tp_u16(p, 0);
	rdata = p->len;
	tp_name(p, "ns");
	tp_name(p, "host");
	tp_u32(p, 2024010101); /* serial */
	tp_u32(p, 7200);       /* refresh */
	tp_u32(p, 900);        /* retry */
	tp_u32(p, 1209600);    /* expire */
	tp_u32(p, minimum);
	tp_set16(p, rdlen_off, (uint16_t)(p->len - rdata));
	return ttl_off;
}

/*
 * An OPT record: owner root, class = UDP size, TTL = ext rcode, version,
 * flags.
 */
static inline void
tp_opt(struct tpkt *p, uint16_t udp_size, uint8_t ext_rcode, uint8_t version,
    uint16_t flags, const void *options, uint16_t optlen)
{
	tp_u8(p, 0);
	tp_u16(p, 41);
	tp_u16(p, udp_size);
	tp_u8(p, ext_rcode);
	tp_u8(p, version);
	tp_u16(p, flags);
	tp_u16(p, optlen);
	tp_bytes(p, options, optlen);
}

#endif
