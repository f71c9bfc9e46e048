/*
 * DNS wire-format primitives for the hot path: header fields, bounded name
 * decoding, the client query parser and the upstream reply scanner.
 *
 * ldns parses packets into heap-allocated trees; that is the right tool for
 * tests and tooling but costs a dozen allocations per packet, and neither
 * ldns nor any other library reports where each TTL sits in the wire (which
 * a cache that serves stored bytes needs). So the two parsers the daemon
 * runs per packet are here, small and strict: every length is checked
 * before it is read, compression pointers must point strictly backwards to
 * an offset below every earlier one in the same name (so loops cannot
 * happen), and anything unexpected is an error. The unit tests cross-check
 * them against ldns_wire2pkt.
 */
#ifndef RESOLVER_WIRE_H
#define RESOLVER_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR_LEN 12
#define WIRE_NAME_MAX 255
#define WIRE_MSG_MAX 65535
#define WIRE_SCAN_MAX_RR 256
#define WIRE_SCAN_MAX_CNAME 16

#define WIRE_FLAG_QR 0x8000u
#define WIRE_FLAG_AA 0x0400u
#define WIRE_FLAG_TC 0x0200u
#define WIRE_FLAG_RD 0x0100u
#define WIRE_FLAG_RA 0x0080u
#define WIRE_FLAG_Z 0x0040u
#define WIRE_FLAG_AD 0x0020u
#define WIRE_FLAG_CD 0x0010u
#define WIRE_OPCODE(f) (((f) >> 11) & 0xfu)
#define WIRE_RCODE(f) ((f)&0xfu)

#define WIRE_EDNS_DO 0x8000u

enum wire_rcode {
	WIRE_RCODE_NOERROR = 0,
	WIRE_RCODE_FORMERR = 1,
	WIRE_RCODE_SERVFAIL = 2,
	WIRE_RCODE_NXDOMAIN = 3,
	WIRE_RCODE_NOTIMP = 4,
	WIRE_RCODE_REFUSED = 5,
	WIRE_RCODE_BADVERS = 16,
};

enum wire_type {
	WIRE_TYPE_A = 1,
	WIRE_TYPE_NS = 2,
	WIRE_TYPE_CNAME = 5,
	WIRE_TYPE_SOA = 6,
	WIRE_TYPE_AAAA = 28,
	WIRE_TYPE_OPT = 41,
	WIRE_TYPE_IXFR = 251,
	WIRE_TYPE_AXFR = 252,
	WIRE_TYPE_MAILB = 253,
	WIRE_TYPE_MAILA = 254,
	WIRE_TYPE_ANY = 255,
};

#define WIRE_CLASS_IN 1

/* Extended DNS Error codes (RFC 8914) the resolver emits. */
enum wire_ede {
	WIRE_EDE_NONE = -1,
	WIRE_EDE_OTHER = 0,
	WIRE_EDE_STALE_ANSWER = 3,
	WIRE_EDE_BLOCKED = 15,
	WIRE_EDE_FILTERED = 17,
	WIRE_EDE_PROHIBITED = 18,
	WIRE_EDE_NO_REACHABLE_AUTHORITY = 22,
	WIRE_EDE_NETWORK_ERROR = 23,
};

enum wire_parse {
	WIRE_OK = 0,
	WIRE_DROP,    /* no answer at all (too short, or a response) */
	WIRE_FORMERR, /* answer FORMERR with the header only */
	WIRE_NOTIMP,  /* opcode other than QUERY */
	WIRE_BADVERS, /* EDNS version above 0 */
};

/* A parsed client query. qname keeps the client's spelling. */
struct wire_query {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t qname_len; /* 0 when no question could be parsed */
	uint16_t udp_size;  /* what the client can take over UDP */
	uint8_t edns;       /* the client sent an OPT record */
	uint8_t do_bit;
	uint8_t qname[WIRE_NAME_MAX];
};

/* What the reply scanner learns about an upstream reply. */
struct wire_scan {
	uint16_t id;
	uint16_t flags;
	uint16_t qtype;
	uint16_t qclass;
	uint16_t qname_len;
	uint16_t ancount;
	uint16_t nscount;
	uint16_t arcount;
	size_t question_end;
	size_t opt_off; /* offset of the OPT record, 0 when absent */
	size_t opt_len;
	uint8_t ext_rcode;
	uint8_t has_soa;
	uint32_t min_ttl; /* over all non-OPT records; UINT32_MAX if none */
	uint32_t soa_ttl;
	uint32_t soa_minimum;
	uint16_t n_ttl;
	uint16_t n_cname;
	uint16_t ttl_off[WIRE_SCAN_MAX_RR];
	/* CNAME records of the answer section: owner and rdata offsets. */
	uint16_t cname_owner[WIRE_SCAN_MAX_CNAME];
	uint16_t cname_target[WIRE_SCAN_MAX_CNAME];
	uint8_t qname[WIRE_NAME_MAX];
};

static inline uint16_t
wire_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static inline void
wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Decode the possibly compressed name at *off into out (at least
 * WIRE_NAME_MAX bytes; may be NULL to only skip it) and advance *off past
 * the name as it sits in the packet. Returns 0, or -1 when malformed.
 */
int wire_name_decode(const uint8_t *pkt, size_t len, size_t *off,
    uint8_t *out, size_t *out_len);

/* Length bytes are at most 63, below 'A', so a bytewise fold is safe. */
void wire_name_lower(uint8_t *dst, const uint8_t *src, size_t len);
int wire_name_equal(const uint8_t *a, size_t alen, const uint8_t *b,
    size_t blen);
/* Presentation form with a trailing dot; escapes odd bytes. */
void wire_name_text(const uint8_t *name, size_t len, char *buf, size_t cap);
/* Presentation form to wire. Returns the wire length, or -1. */
int wire_name_from_text(const char *text, uint8_t *out);

enum wire_parse wire_query_parse(const uint8_t *pkt, size_t len,
    struct wire_query *q);

/*
 * Validates the whole reply: counts against the bytes, every owner name,
 * and the names inside the RDATA of the types wire_rdata_names knows.
 * Returns 0, or -1 when malformed.
 */
int wire_reply_scan(const uint8_t *pkt, size_t len, struct wire_scan *s);

/*
 * Where the names sit in the RDATA of type: how many (0 for a type whose
 * RDATA is opaque bytes), after how many fixed bytes, and how many fixed
 * bytes follow them. These are the types whose names may be compressed
 * (RFC 3597 4, and those compressed in practice).
 */
int wire_rdata_names(uint16_t type, size_t *prefix, size_t *suffix);

/*
 * Append an OPT record advertising udp_size, with the DO bit if do_bit,
 * and an EDE option when ede >= 0 (text may be NULL). Returns the bytes
 * written, or 0 when it does not fit in cap.
 */
size_t wire_opt_write(uint8_t *p, size_t cap, uint16_t udp_size,
    uint8_t ext_rcode, int do_bit, int ede, const char *ede_text);

/*
 * Write a question section (qname, type, class) at p. Returns the bytes
 * written, or 0 when it does not fit.
 */
size_t wire_question_write(uint8_t *p, size_t cap, const uint8_t *qname,
    size_t qname_len, uint16_t qtype, uint16_t qclass);

#endif
