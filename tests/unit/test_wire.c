#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "resolver/wire.h"
#include "testpkt.h"

static int
decode(const uint8_t *buf, size_t len, size_t *off, uint8_t *out,
    size_t *out_len)
{
	return wire_name_decode(buf, len, off, out, out_len);
}

/* Repeat a label of n 'a's k times, then the root. */
static size_t
long_name(uint8_t *out, size_t label, size_t k)
{
	size_t n = 0;

	for (size_t i = 0; i < k; i++) {
		out[n++] = (uint8_t)label;
		memset(out + n, 'a', label);
		n += label;
	}
	out[n++] = 0;
	return n;
}

/* ---------------------------------------------------------- name decode */

static void
test_name_decode_plain(void **state)
{
	static const uint8_t buf[] = "\7example\3com\0\xff";
	uint8_t out[WIRE_NAME_MAX];
	size_t off = 0, n = 0;

	assert_int_equal(decode(buf, sizeof(buf) - 1, &off, out, &n), 0);
	assert_int_equal(n, 13);
	assert_int_equal(off, 13);
	assert_memory_equal(out, buf, 13);

	/* Only skipping. */
	off = 0;
	assert_int_equal(decode(buf, sizeof(buf) - 1, &off, NULL, NULL), 0);
	assert_int_equal(off, 13);

	/* The root alone. */
	off = 12;
	assert_int_equal(decode(buf, sizeof(buf) - 1, &off, out, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(off, 13);
	assert_int_equal(out[0], 0);
}

static void
test_name_decode_compressed(void **state)
{
	struct tpkt p = {0};
	uint8_t out[WIRE_NAME_MAX];
	size_t www, a, bare, off, n;

	tp_name(&p, "example.com"); /* 0..12 */
	www = p.len;
	tp_u8(&p, 3);
	tp_bytes(&p, "www", 3);
	tp_ptr(&p, 0);
	a = p.len;
	tp_u8(&p, 1);
	tp_bytes(&p, "a", 1);
	tp_ptr(&p, www);
	bare = p.len;
	tp_ptr(&p, a);

	off = www;
	assert_int_equal(decode(p.b, p.len, &off, out, &n), 0);
	assert_int_equal(n, 17);
	assert_memory_equal(out, "\3www\7example\3com", 17);
	/* The offset ends after the pointer, not where the jump led. */
	assert_int_equal(off, www + 6);

	off = a;
	assert_int_equal(decode(p.b, p.len, &off, out, &n), 0);
	assert_int_equal(n, 19);
	assert_memory_equal(out, "\1a\3www\7example\3com", 19);
	assert_int_equal(off, a + 4);

	off = bare;
	assert_int_equal(decode(p.b, p.len, &off, out, &n), 0);
	assert_int_equal(n, 19);
	assert_int_equal(off, bare + 2);
}

static void
test_name_decode_pointer_loops(void **state)
{
	static const uint8_t self[] = {0xc0, 0x00};
	static const uint8_t self_after_label[] = {1, 'a', 0xc0, 0x00};
	static const uint8_t mutual[] = {0xc0, 0x02, 0xc0, 0x00};
	static const uint8_t forward[] = {0xc0, 0x02, 1, 'a', 0};
	/* b at 4 points back to a at 0, which points forward to b again. */
	static const uint8_t via_labels[] = {1, 'a', 0xc0, 0x04, 1, 'b',
	    0xc0, 0x00};
	static const uint8_t outside[] = {0xc0, 0xff};
	/* Two pointers before the name that point at each other. */
	static const uint8_t behind[] = {0xc0, 0x02, 0xc0, 0x00, 0xc0, 0x00};
	size_t off;

	off = 0;
	assert_int_equal(decode(self, sizeof(self), &off, NULL, NULL), -1);
	off = 0;
	assert_int_equal(decode(self_after_label, sizeof(self_after_label),
			     &off, NULL, NULL),
	    -1);
	off = 0;
	assert_int_equal(decode(mutual, sizeof(mutual), &off, NULL, NULL), -1);
	off = 2;
	assert_int_equal(decode(mutual, sizeof(mutual), &off, NULL, NULL), -1);
	off = 0;
	assert_int_equal(decode(forward, sizeof(forward), &off, NULL, NULL),
	    -1);
	off = 4;
	assert_int_equal(decode(via_labels, sizeof(via_labels), &off, NULL,
			     NULL),
	    -1);
	off = 0;
	assert_int_equal(decode(outside, sizeof(outside), &off, NULL, NULL),
	    -1);
	off = 4;
	assert_int_equal(decode(behind, sizeof(behind), &off, NULL, NULL), -1);
}

static void
test_name_decode_label_types(void **state)
{
	uint8_t buf[80];
	size_t off, n;

	/* 64 as a length is the 0x40 (extended label) type. */
	buf[0] = 0x40;
	memset(buf + 1, 'a', 64);
	buf[65] = 0;
	off = 0;
	assert_int_equal(decode(buf, 66, &off, NULL, NULL), -1);

	buf[0] = 0x80;
	off = 0;
	assert_int_equal(decode(buf, 66, &off, NULL, NULL), -1);

	/* 63 is the longest label. */
	buf[0] = 63;
	buf[64] = 0;
	off = 0;
	assert_int_equal(decode(buf, 65, &off, NULL, &n), 0);
	assert_int_equal(n, 65);
}

static void
test_name_decode_too_long(void **state)
{
	uint8_t buf[600], out[WIRE_NAME_MAX];
	size_t len, off, n;

	/* 3 * 64 + 62 + 1 = 255: the longest name. */
	len = long_name(buf, 63, 3);
	buf[len - 1] = 61;
	memset(buf + len, 'b', 61);
	len += 61;
	buf[len++] = 0;
	assert_int_equal(len, 255);
	off = 0;
	assert_int_equal(decode(buf, len, &off, out, &n), 0);
	assert_int_equal(n, 255);
	assert_int_equal(off, 255);

	/* 4 * 64 + 1 = 257. */
	len = long_name(buf, 63, 4);
	off = 0;
	assert_int_equal(decode(buf, len, &off, out, &n), -1);

	/* 251 bytes, then a 5-byte prefix pointing at them: 256. */
	len = long_name(buf, 49, 5);
	assert_int_equal(len, 251);
	buf[len] = 4;
	memcpy(buf + len + 1, "bbbb", 4);
	buf[len + 5] = 0xc0;
	buf[len + 6] = 0x00;
	off = len;
	assert_int_equal(decode(buf, len + 7, &off, out, &n), -1);

	/* One byte less fits. */
	buf[len] = 3;
	buf[len + 4] = 0xc0;
	buf[len + 5] = 0x00;
	off = len;
	assert_int_equal(decode(buf, len + 6, &off, out, &n), 0);
	assert_int_equal(off, len + 6);
	assert_int_equal(n, 255);
}

static void
test_name_decode_truncated(void **state)
{
	static const uint8_t name[] = "\7example\3com";
	size_t off;

	/* Every proper prefix of a 13-byte name is malformed. */
	for (size_t len = 0; len < 13; len++) {
		off = 0;
		assert_int_equal(decode(name, len, &off, NULL, NULL), -1);
	}
	/* A pointer missing its second byte. */
	off = 13;
	{
		uint8_t buf[14];

		memcpy(buf, name, 13);
		buf[13] = 0xc0;
		assert_int_equal(decode(buf, 14, &off, NULL, NULL), -1);
	}
	/* Starting at or past the end. */
	off = 13;
	assert_int_equal(decode(name, 13, &off, NULL, NULL), -1);
}

/* ----------------------------------------------------------- name misc */

static void
test_name_equal_folds_ascii_only(void **state)
{
	static const uint8_t a[] = "\3WwW\7ExAmPlE\3CoM";
	static const uint8_t b[] = "\3www\7example\3com";
	static const uint8_t c[] = "\3www\7example\3org";
	/* '[' and '{' are 32 apart but are not letters. */
	static const uint8_t d[] = "\1[";
	static const uint8_t e[] = "\1{";
	/* Latin-1 capital and small A with acute: no folding. */
	static const uint8_t f[] = "\1\xc1";
	static const uint8_t g[] = "\1\xe1";
	uint8_t low[17];

	assert_true(wire_name_equal(a, 17, b, 17));
	assert_true(wire_name_equal(b, 17, a, 17));
	assert_false(wire_name_equal(b, 17, c, 17));
	assert_false(wire_name_equal(b, 17, b, 16));
	assert_false(wire_name_equal(d, 3, e, 3));
	assert_false(wire_name_equal(f, 3, g, 3));

	wire_name_lower(low, a, 17);
	assert_memory_equal(low, b, 17);
}

static void
test_name_text(void **state)
{
	static const uint8_t www[] = "\3www\7example\3com";
	static const uint8_t odd[] = "\3a.b\2\\ \3c\x01x";
	static const uint8_t root[] = {0};
	char buf[256];

	wire_name_text(www, 17, buf, sizeof(buf));
	assert_string_equal(buf, "www.example.com.");
	wire_name_text(root, 1, buf, sizeof(buf));
	assert_string_equal(buf, ".");
	wire_name_text(odd, 12, buf, sizeof(buf));
	assert_string_equal(buf, "a\\046b.\\092\\032.c\\001x.");

	/* A short buffer still gets a terminated string. */
	memset(buf, 'X', sizeof(buf));
	wire_name_text(www, 17, buf, 6);
	assert_true(strlen(buf) < 6);
}

static void
test_name_from_text(void **state)
{
	uint8_t out[WIRE_NAME_MAX + 8];
	char text[400];
	size_t n;

	assert_int_equal(wire_name_from_text("www.example.com", out), 17);
	assert_memory_equal(out, "\3www\7example\3com", 17);
	assert_int_equal(wire_name_from_text("www.example.com.", out), 17);
	assert_memory_equal(out, "\3www\7example\3com", 17);
	assert_int_equal(wire_name_from_text(".", out), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(wire_name_from_text("MiXeD.CaSe", out), 12);
	assert_memory_equal(out, "\5MiXeD\4CaSe", 12);

	assert_int_equal(wire_name_from_text("a..b", out), -1);
	assert_int_equal(wire_name_from_text(".a", out), -1);
	assert_int_equal(wire_name_from_text("a.b..", out), -1);

	/* Labels of 63 and 64. */
	memset(text, 'a', 64);
	text[63] = '\0';
	assert_int_equal(wire_name_from_text(text, out), 65);
	text[63] = 'a';
	text[64] = '\0';
	assert_int_equal(wire_name_from_text(text, out), -1);

	/* Names of 255 and 256 wire bytes (63.63.63.61 and 63.63.63.62). */
	n = 0;
	for (int i = 0; i < 3; i++) {
		memset(text + n, 'a', 63);
		n += 63;
		text[n++] = '.';
	}
	memset(text + n, 'b', 61);
	text[n + 61] = '\0';
	assert_int_equal(wire_name_from_text(text, out), 255);
	text[n + 61] = '.';
	text[n + 62] = '\0';
	assert_int_equal(wire_name_from_text(text, out), 255);
	text[n + 61] = 'b';
	text[n + 62] = '\0';
	assert_int_equal(wire_name_from_text(text, out), -1);
	text[n + 62] = '.';
	text[n + 63] = '\0';
	assert_int_equal(wire_name_from_text(text, out), -1);
}

static void
round_trip(const uint8_t *wire, size_t len)
{
	uint8_t back[WIRE_NAME_MAX + 8];
	char text[1100];

	wire_name_text(wire, len, text, sizeof(text));
	if (wire_name_from_text(text, back) != (int)len ||
	    memcmp(back, wire, len) != 0)
		fail_msg("\"%s\" does not read back as the name it came from",
		    text);
}

static void
test_name_text_round_trip(void **state)
{
	uint8_t big[WIRE_NAME_MAX];
	size_t n;

	round_trip((const uint8_t *)"", 1);
	round_trip((const uint8_t *)"\3www\7example\3com", 17);
	round_trip((const uint8_t *)"\4_dns\5ExAmP\2-1", 15);
	n = long_name(big, 63, 3);
	big[n - 1] = 61;
	memset(big + n, 'z', 61);
	n += 61;
	big[n++] = 0;
	round_trip(big, n);
}

/*
 * wire_name_text writes bytes that are not plain characters as \DDD, the
 * presentation-format escape, so the text must read back to the same name.
 */
static void
test_name_text_round_trip_escapes(void **state)
{
	round_trip((const uint8_t *)"\3a.b\3com", 9);
	round_trip((const uint8_t *)"\3a\\b\3com", 9);
	round_trip((const uint8_t *)"\3a b\3com", 9);
}

/* --------------------------------------------------------- query parse */

static void
query_start(struct tpkt *p, uint16_t flags, const char *name, uint16_t qtype,
    uint16_t ar)
{
	tp_hdr(p, 0x1234, flags, 1, 0, 0, ar);
	tp_question(p, name, qtype, 1);
}

static void
test_query_parse_valid(void **state)
{
	struct tpkt p;
	struct wire_query q;

	query_start(&p, WIRE_FLAG_RD | WIRE_FLAG_CD, "ExAmPle.COM", 28, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.flags, WIRE_FLAG_RD | WIRE_FLAG_CD);
	assert_int_equal(q.qtype, 28);
	assert_int_equal(q.qclass, 1);
	assert_int_equal(q.qname_len, 13);
	assert_memory_equal(q.qname, "\7ExAmPle\3COM", 13);
	assert_int_equal(q.edns, 0);
	assert_int_equal(q.do_bit, 0);
	assert_int_equal(q.udp_size, 512);

	/* The root as qname. */
	query_start(&p, 0, ".", 2, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.qname_len, 1);
}

static void
test_query_parse_drop(void **state)
{
	struct tpkt p;
	struct wire_query q;

	query_start(&p, WIRE_FLAG_QR | WIRE_FLAG_RD, "example.com", 1, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_DROP);
	query_start(&p, WIRE_FLAG_RD, "example.com", 1, 0);
	assert_int_equal(wire_query_parse(p.b, 11, &q), WIRE_DROP);
	assert_int_equal(wire_query_parse(p.b, 0, &q), WIRE_DROP);
}

static void
test_query_parse_notimp(void **state)
{
	struct tpkt p;
	struct wire_query q;

	/* NOTIFY is opcode 4. */
	query_start(&p, 4 << 11, "example.com", 6, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_NOTIMP);
	assert_int_equal(WIRE_OPCODE(q.flags), 4);
	assert_int_equal(q.qname_len, 13);
	assert_int_equal(q.qtype, 6);

	/* UPDATE (5) with zone, prerequisite and update sections. */
	tp_hdr(&p, 1, 5 << 11, 1, 1, 1, 0);
	tp_question(&p, "example.com", 6, 1);
	tp_a_ptr(&p, 0, 1);
	tp_a_ptr(&p, 0, 2);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_NOTIMP);
}

static void
test_query_parse_formerr_counts(void **state)
{
	struct tpkt p;
	struct wire_query q;

	tp_hdr(&p, 1, 0, 0, 0, 0, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
	assert_int_equal(q.qname_len, 0);

	tp_hdr(&p, 1, 0, 2, 0, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_question(&p, "example.org", 1, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
	assert_int_equal(q.qname_len, 0);

	tp_hdr(&p, 1, 0, 1, 1, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 60, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
	assert_int_equal(q.qname_len, 0);

	tp_hdr(&p, 1, 0, 1, 0, 1, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 60, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);

	query_start(&p, 0, "example.com", 1, 2);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);

	/* The question ends before its class. */
	query_start(&p, 0, "example.com", 1, 0);
	assert_int_equal(wire_query_parse(p.b, p.len - 1, &q), WIRE_FORMERR);
	/* ARCOUNT 1 with no record. */
	query_start(&p, 0, "example.com", 1, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
}

static void
test_query_parse_compressed_qname(void **state)
{
	struct tpkt p;
	struct wire_query q;

	/* "www" then a pointer to offset 10, ARCOUNT's zero high byte. */
	tp_hdr(&p, 1, 0, 1, 0, 0, 0);
	tp_u8(&p, 3);
	tp_bytes(&p, "www", 3);
	tp_ptr(&p, 10);
	tp_u16(&p, 1);
	tp_u16(&p, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
	assert_int_equal(q.qname_len, 0);

	/* A qname that is only a pointer. */
	tp_hdr(&p, 1, 0, 1, 0, 0, 0);
	tp_ptr(&p, 10);
	tp_u16(&p, 1);
	tp_u16(&p, 1);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
}

static void
test_query_parse_edns(void **state)
{
	static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	struct tpkt p;
	struct wire_query q;

	query_start(&p, WIRE_FLAG_RD, "example.com", 1, 1);
	tp_opt(&p, 4096, 0, 0, WIRE_EDNS_DO, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.edns, 1);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.udp_size, 4096);
	assert_int_equal(q.qname_len, 13);

	query_start(&p, WIRE_FLAG_RD, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, cookie, sizeof(cookie));
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.edns, 1);
	assert_int_equal(q.do_bit, 0);
	assert_int_equal(q.udp_size, 1232);

	/* Other flag bits are not DO. */
	query_start(&p, WIRE_FLAG_RD, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0x7fff, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.do_bit, 0);
}

static void
test_query_parse_edns_small_udp(void **state)
{
	static const uint16_t sizes[] = {0, 1, 511, 512};
	struct tpkt p;
	struct wire_query q;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		query_start(&p, 0, "example.com", 1, 1);
		tp_opt(&p, sizes[i], 0, 0, 0, NULL, 0);
		assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
		assert_int_equal(q.udp_size, 512);
	}
	query_start(&p, 0, "example.com", 1, 1);
	tp_opt(&p, 513, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(q.udp_size, 513);
}

static void
test_query_parse_badvers(void **state)
{
	struct tpkt p;
	struct wire_query q;

	query_start(&p, 0, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 1, WIRE_EDNS_DO, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_BADVERS);
	/* Enough is kept to answer. */
	assert_int_equal(q.edns, 1);
	assert_int_equal(q.do_bit, 1);
	assert_int_equal(q.qname_len, 13);

	query_start(&p, 0, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 255, 0, NULL, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_BADVERS);
}

static void
test_query_parse_bad_opt(void **state)
{
	/* rdlen 3: not even an option header. */
	static const uint8_t short_hdr[] = {0, 10, 0};
	/* Option claims 5 bytes, 2 follow. */
	static const uint8_t overlong[] = {0, 10, 0, 5, 1, 2};
	/* A good option followed by one stray byte. */
	static const uint8_t stray[] = {0, 10, 0, 2, 1, 2, 9};
	static const struct {
		const uint8_t *opt;
		uint16_t len;
	} bad[] = {
		{short_hdr, sizeof(short_hdr)},
		{overlong, sizeof(overlong)},
		{stray, sizeof(stray)},
	};
	struct tpkt p;
	struct wire_query q;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		query_start(&p, 0, "example.com", 1, 1);
		tp_opt(&p, 1232, 0, 0, 0, bad[i].opt, bad[i].len);
		assert_int_equal(wire_query_parse(p.b, p.len, &q),
		    WIRE_FORMERR);
		assert_int_equal(q.qname_len, 0);
	}

	/*
	 * rdlen runs past the packet, into bytes of the buffer that would
	 * make a good option: they must not be read.
	 */
	query_start(&p, 0, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, "\0\12\0\0", 4);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_OK);
	assert_int_equal(wire_query_parse(p.b, p.len - 4, &q), WIRE_FORMERR);
}

static void
test_query_parse_opt_owner_not_root(void **state)
{
	struct tpkt p;
	struct wire_query q;

	query_start(&p, 0, "example.com", 1, 1);
	tp_ptr(&p, 12);
	tp_u16(&p, WIRE_TYPE_OPT);
	tp_u16(&p, 1232);
	tp_u32(&p, 0);
	tp_u16(&p, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);

	query_start(&p, 0, "example.com", 1, 1);
	tp_name(&p, "a");
	tp_u16(&p, WIRE_TYPE_OPT);
	tp_u16(&p, 1232);
	tp_u32(&p, 0);
	tp_u16(&p, 0);
	assert_int_equal(wire_query_parse(p.b, p.len, &q), WIRE_FORMERR);
}

/* ---------------------------------------------------------- reply scan */

struct reply {
	struct tpkt p;
	size_t ttl_off[8];
	size_t n_ttl;
	size_t question_end;
	size_t opt_off;
};

/*
 * example.com A: two answers, an NS in authority whose target is
 * compressed, glue for it, then an OPT.
 */
static void
build_reply(struct reply *r, uint8_t ext_rcode)
{
	struct tpkt *p = &r->p;
	size_t ns, rdlen_off;
	uint8_t glue[4] = {198, 51, 100, 53};

	r->n_ttl = 0;
	tp_hdr(p, 0xbeef, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA, 1, 2, 1,
	    2);
	tp_question(p, "example.com", 1, 1);
	r->question_end = p->len;
	r->ttl_off[r->n_ttl++] = tp_a_ptr(p, 300, 1);
	r->ttl_off[r->n_ttl++] = tp_a_ptr(p, 200, 2);
	tp_ptr(p, 12);
	tp_u16(p, WIRE_TYPE_NS);
	tp_u16(p, 1);
	r->ttl_off[r->n_ttl++] = p->len;
	tp_u32(p, 1000);
	rdlen_off = p->len;
	tp_u16(p, 0);
	ns = p->len;
	tp_u8(p, 2);
	tp_bytes(p, "ns", 2);
	tp_ptr(p, 12);
	tp_set16(p, rdlen_off, (uint16_t)(p->len - ns));
	tp_ptr(p, ns);
	r->ttl_off[r->n_ttl++] = tp_rr_tail(p, 1, 1, 50, glue, 4);
	r->opt_off = p->len;
	tp_opt(p, 1232, ext_rcode, 0, WIRE_EDNS_DO, NULL, 0);
}

static void
test_reply_scan_basic(void **state)
{
	struct reply r;
	struct wire_scan s;

	build_reply(&r, 0);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), 0);
	assert_int_equal(s.id, 0xbeef);
	assert_int_equal(s.flags, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA);
	assert_int_equal(s.qtype, 1);
	assert_int_equal(s.qclass, 1);
	assert_int_equal(s.qname_len, 13);
	assert_memory_equal(s.qname, "\7example\3com", 13);
	assert_int_equal(s.ancount, 2);
	assert_int_equal(s.nscount, 1);
	assert_int_equal(s.arcount, 2);
	assert_int_equal(s.question_end, r.question_end);
	assert_int_equal(s.n_ttl, r.n_ttl);
	for (size_t i = 0; i < r.n_ttl; i++)
		assert_int_equal(s.ttl_off[i], r.ttl_off[i]);
	assert_int_equal(s.min_ttl, 50);
	assert_int_equal(s.opt_off, r.opt_off);
	assert_int_equal(s.opt_len, 11);
	assert_int_equal(s.ext_rcode, 0);
	assert_int_equal(s.has_soa, 0);
}

static void
test_reply_scan_ttls(void **state)
{
	struct tpkt p;
	struct wire_scan s;

	/* No records: nothing bounds the TTL. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 0, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.n_ttl, 0);
	assert_int_equal(s.min_ttl, UINT32_MAX);
	assert_int_equal(s.opt_off, 0);

	/* RFC 2181 8: a TTL with the top bit set counts as zero. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 2, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 300, 1);
	tp_a_ptr(&p, 0x80000001u, 2);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.min_ttl, 0);

	/* The OPT "TTL" (ext rcode, version, flags) is not a TTL. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 1);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 300, 1);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.min_ttl, 300);
	assert_int_equal(s.n_ttl, 1);
}

/*
 * Names may not be made of bytes the resolver rewrites per client: the
 * header (ID, flags) and the fixed fields of a record (its TTL counts
 * down). A pointer there would make the answer carry another name than
 * the upstream sent, or a malformed one (found by tests/fuzz/fuzz_reply).
 */
static void
test_reply_scan_pointer_into_rewritten_bytes(void **state)
{
	static const uint8_t a[4] = {192, 0, 2, 7};
	struct tpkt p;
	struct wire_scan s;
	size_t ttl_off;

	/* The pattern fuzz_reply found: an owner pointing at the flags'
	 * low byte, 0x00 (the root) in the reply, 0x80 (RA) in the answer. */
	tp_hdr(&p, 1, WIRE_FLAG_QR | WIRE_FLAG_RD, 1, 2, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_a_ptr(&p, 300, 1);
	tp_ptr(&p, 3);
	tp_rr_tail(&p, 1, 1, 300, a, sizeof(a));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* Into the first record's TTL (0x00 0x00 0x01 0x2c: the root at
	 * its first byte, a label of the other three as it counts down). */
	for (size_t at = 0; at < 10; at++) {
		tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 2, 0, 0);
		tp_question(&p, "example.com", 1, 1);
		ttl_off = tp_a_ptr(&p, 300, 1);
		tp_ptr(&p, ttl_off - 4 + at);
		tp_rr_tail(&p, 1, 1, 300, a, sizeof(a));
		assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);
	}

	/* A name whose label, reached by a pointer, runs on past the
	 * pointer into its own record's TTL (also found by fuzz_reply):
	 * a pointer leads to an earlier name, which ends before it. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 2, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_ptr(&p, 12);
	ttl_off = tp_rr_tail(&p, 0xff00, 1, 300, "\x0a", 1);
	tp_ptr(&p, ttl_off + 6);
	tp_rr_tail(&p, 1, 1, 300, a, sizeof(a));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* ... and one that, from a record's data, runs into the next
	 * record's fixed fields before the pointer. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 3, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_ptr(&p, 12);
	ttl_off = tp_rr_tail(&p, 0xff00, 1, 300, "\x0a", 1);
	tp_a_ptr(&p, 300, 1);
	tp_ptr(&p, ttl_off + 6);
	tp_rr_tail(&p, 1, 1, 300, a, sizeof(a));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* Into the record's data is fine: those bytes reach the client as
	 * sent (a root name at the last byte of a TXT's data here). */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 2, 0, 0);
	tp_question(&p, "example.com", 16, 1);
	tp_ptr(&p, 12);
	ttl_off = tp_rr_tail(&p, 16, 1, 300, "\2hi\0", 4);
	tp_ptr(&p, ttl_off + 6 + 3);
	tp_rr_tail(&p, 16, 1, 300, "\2hi", 3);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	/* And a pointer into the question name as ever. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 0);
	tp_question(&p, "www.example.com", 1, 1);
	tp_ptr(&p, 16);
	tp_rr_tail(&p, 1, 1, 300, a, sizeof(a));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
}

static void
test_reply_scan_soa(void **state)
{
	struct tpkt p;
	struct wire_scan s;
	size_t soa_ttl;

	tp_hdr(&p, 1, WIRE_FLAG_QR | WIRE_RCODE_NXDOMAIN, 1, 0, 1, 0);
	tp_question(&p, "nx.example.com", 1, 1);
	soa_ttl = tp_soa_ptr(&p, 15, 900, 300);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.has_soa, 1);
	assert_int_equal(s.soa_ttl, 900);
	assert_int_equal(s.soa_minimum, 300);
	assert_int_equal(s.min_ttl, 900);
	assert_int_equal(s.n_ttl, 1);
	assert_int_equal(s.ttl_off[0], soa_ttl);

	/* An SOA in the answer section is an answer, not a negative one. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 0);
	tp_question(&p, "example.com", 6, 1);
	tp_soa_ptr(&p, 12, 900, 300);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.has_soa, 0);

	/* SOA rdata one byte longer than its fields. */
	tp_hdr(&p, 1, WIRE_FLAG_QR | WIRE_RCODE_NXDOMAIN, 1, 0, 1, 0);
	tp_question(&p, "nx.example.com", 1, 1);
	soa_ttl = tp_soa_ptr(&p, 15, 900, 300);
	tp_u8(&p, 0);
	tp_set16(&p, soa_ttl + 4, (uint16_t)(tp_get16(p.b, soa_ttl + 4) + 1));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* SOA rdata too short for its fields. */
	tp_hdr(&p, 1, WIRE_FLAG_QR | WIRE_RCODE_NXDOMAIN, 1, 0, 1, 0);
	tp_question(&p, "nx.example.com", 1, 1);
	soa_ttl = tp_soa_ptr(&p, 15, 900, 300);
	p.len--;
	tp_set16(&p, soa_ttl + 4, (uint16_t)(tp_get16(p.b, soa_ttl + 4) - 1));
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);
}

static void
test_reply_scan_ext_rcode(void **state)
{
	struct reply r;
	struct wire_scan s;

	build_reply(&r, 1);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), 0);
	assert_int_equal(s.ext_rcode, 1);
	assert_int_equal(s.opt_off, r.opt_off);
}

static void
test_reply_scan_lying_counts(void **state)
{
	struct reply r;
	struct wire_scan s;

	build_reply(&r, 0);
	tp_set16(&r.p, 6, 3);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);

	build_reply(&r, 0);
	tp_set16(&r.p, 10, 3);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);

	/* Fewer records claimed than present: trailing bytes. */
	build_reply(&r, 0);
	tp_set16(&r.p, 10, 1);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);

	build_reply(&r, 0);
	tp_u8(&r.p, 0);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);

	build_reply(&r, 0);
	tp_set16(&r.p, 4, 0);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);
	tp_set16(&r.p, 4, 2);
	assert_int_equal(wire_reply_scan(r.p.b, r.p.len, &s), -1);

	/* Every truncation of a good reply is rejected. */
	build_reply(&r, 0);
	for (size_t len = 0; len < r.p.len; len++)
		assert_int_equal(wire_reply_scan(r.p.b, len, &s), -1);
}

static void
test_reply_scan_opt_placement(void **state)
{
	struct tpkt p;
	struct wire_scan s;

	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 0, 0, 2);
	tp_question(&p, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 0, 1, 0);
	tp_question(&p, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 0, 0, 1);
	tp_question(&p, "example.com", 1, 1);
	tp_ptr(&p, 12);
	tp_rr_tail(&p, WIRE_TYPE_OPT, 1232, 0, NULL, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* Not last is allowed here; the cache decides what to do with it. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 0, 0, 2);
	tp_question(&p, "example.com", 1, 1);
	tp_opt(&p, 1232, 0, 0, 0, NULL, 0);
	tp_a_ptr(&p, 60, 1);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.opt_off, 29);
	assert_int_equal(s.opt_len, 11);
	assert_int_equal(s.n_ttl, 1);
}

static void
test_reply_scan_max_records(void **state)
{
	struct tpkt p;
	struct wire_scan s;

	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, WIRE_SCAN_MAX_RR, 0, 0);
	tp_question(&p, "example.com", 1, 1);
	for (int i = 0; i < WIRE_SCAN_MAX_RR; i++)
		tp_a_ptr(&p, 60, (uint8_t)i);
	assert_true(p.len <= TP_MAX);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.n_ttl, WIRE_SCAN_MAX_RR);

	tp_set16(&p, 6, WIRE_SCAN_MAX_RR + 1);
	tp_a_ptr(&p, 60, 0);
	assert_true(p.len <= TP_MAX);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);
}

/* www.example.com CNAME web.example.com, web.example.com A. */
static size_t
build_cname(struct tpkt *p, size_t *rdata)
{
	size_t owner, rdlen_off;

	tp_hdr(p, 1, WIRE_FLAG_QR, 1, 2, 0, 0);
	tp_question(p, "www.example.com", 1, 1);
	owner = p->len;
	tp_ptr(p, 12);
	tp_u16(p, WIRE_TYPE_CNAME);
	tp_u16(p, 1);
	tp_u32(p, 300);
	rdlen_off = p->len;
	tp_u16(p, 6);
	*rdata = p->len;
	tp_u8(p, 3);
	tp_bytes(p, "web", 3);
	tp_ptr(p, 16);
	assert_int_equal(tp_get16(p->b, rdlen_off), p->len - *rdata);
	tp_ptr(p, *rdata);
	tp_rr_tail(p, 1, 1, 300, "\xc0\x00\x02\x01", 4);
	return owner;
}

static void
test_reply_scan_cname(void **state)
{
	struct tpkt p;
	struct wire_scan s;
	size_t owner, rdata;

	owner = build_cname(&p, &rdata);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.n_cname, 1);
	assert_int_equal(s.cname_owner[0], owner);
	assert_int_equal(s.cname_target[0], rdata);
	assert_int_equal(s.n_ttl, 2);

	/* The target must fill the rdata exactly: rdata a byte short... */
	build_cname(&p, &rdata);
	tp_set16(&p, rdata - 2, 5);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* ...or a byte long, taking in the next record's first byte. */
	build_cname(&p, &rdata);
	tp_set16(&p, rdata - 2, 7);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);

	/* A CNAME outside the answer section is not part of the chain. */
	build_cname(&p, &rdata);
	tp_set16(&p, 6, 0);
	tp_set16(&p, 8, 1);
	tp_set16(&p, 10, 1);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), 0);
	assert_int_equal(s.n_cname, 0);
}

static void
test_reply_scan_cname_chain_limit(void **state)
{
	struct tpkt p;
	struct wire_scan s;

	for (int n = WIRE_SCAN_MAX_CNAME; n <= WIRE_SCAN_MAX_CNAME + 1; n++) {
		tp_hdr(&p, 1, WIRE_FLAG_QR, 1, (uint16_t)n, 0, 0);
		tp_question(&p, "example.com", 1, 1);
		/* All owned by the qname, all pointing back at it. */
		for (int i = 0; i < n; i++) {
			tp_ptr(&p, 12);
			tp_rr_tail(&p, WIRE_TYPE_CNAME, 1, 60, "\xc0\x0c", 2);
		}
		assert_int_equal(wire_reply_scan(p.b, p.len, &s),
		    n <= WIRE_SCAN_MAX_CNAME ? 0 : -1);
	}
}

/* ------------------------------------------------ differential vs ldns */

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/*
 * A bigger reply than build_reply's: CNAME chain, SOA in authority, OPT
 * with an option, so mutations reach every kind of field.
 */
static void
build_fuzz_base(struct tpkt *p)
{
	static const uint8_t cookie[] = {0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
	size_t cname, rdlen_off;

	tp_hdr(p, 0x4242, WIRE_FLAG_QR | WIRE_FLAG_RD | WIRE_FLAG_RA, 1, 3, 1,
	    2);
	tp_question(p, "www.example.com", 1, 1);
	tp_ptr(p, 12);
	tp_u16(p, WIRE_TYPE_CNAME);
	tp_u16(p, 1);
	tp_u32(p, 3600);
	rdlen_off = p->len;
	tp_u16(p, 0);
	cname = p->len;
	tp_u8(p, 3);
	tp_bytes(p, "web", 3);
	tp_ptr(p, 16);
	tp_set16(p, rdlen_off, (uint16_t)(p->len - cname));
	tp_ptr(p, cname);
	tp_rr_tail(p, 1, 1, 300, "\xc0\x00\x02\x01", 4);
	tp_ptr(p, cname);
	tp_rr_tail(p, 1, 1, 200, "\xc0\x00\x02\x02", 4);
	tp_soa_ptr(p, 16, 900, 60);
	tp_ptr(p, 16);
	tp_rr_tail(p, WIRE_TYPE_AAAA, 1, 30,
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	tp_opt(p, 1232, 0, 0, WIRE_EDNS_DO, cookie, sizeof(cookie));
}

static void
mutate(uint8_t *b, size_t *len)
{
	unsigned kind = rng() % 8;
	unsigned flips = 1 + rng() % 3;

	if (*len == 0)
		return;
	if (kind == 0) {
		*len = rng() % *len;
		return;
	}
	for (unsigned i = 0; i < flips; i++) {
		size_t at = rng() % *len;

		if (kind == 1)
			b[at] = (uint8_t)rng();
		else
			b[at] ^= (uint8_t)(1u << (rng() % 8));
	}
	if (kind == 2)
		*len -= rng() % (*len / 4 + 1);
}

/*
 * wire_reply_scan checks framing (names, lengths, counts), not the rdata
 * of each type, except the answer CNAMEs and the authority SOA it reads.
 * ldns parses rdata by type, so a flipped type field (A to MX, say) makes
 * it refuse rdata that is fine as far as framing goes. Compare framing
 * only: ldns gets a copy in which every other record carries a private-use
 * type, whose rdata ldns takes as opaque bytes. Returns -1 when that
 * rewrite changed what scan sees (a name ran through a type field).
 */
static int
opaque_types(uint8_t *b, size_t len, const struct wire_scan *s)
{
	unsigned an_ns = (unsigned)s->ancount + s->nscount;
	int soa_kept = 0;
	struct wire_scan again;

	for (unsigned i = 0; i < s->n_ttl; i++) {
		size_t type_off = s->ttl_off[i] - 4;
		uint16_t type = tp_get16(b, type_off);

		if (type == WIRE_TYPE_CNAME && i < s->ancount)
			continue;
		if (s->has_soa && !soa_kept && i >= s->ancount && i < an_ns &&
		    type == WIRE_TYPE_SOA) {
			soa_kept = 1;
			continue;
		}
		b[type_off] = 0xff;
		b[type_off + 1] = 0x00;
	}
	if (wire_reply_scan(b, len, &again) != 0 ||
	    again.n_ttl != s->n_ttl || again.opt_off != s->opt_off ||
	    again.has_soa != s->has_soa || again.n_cname != s->n_cname ||
	    memcmp(again.ttl_off, s->ttl_off,
		s->n_ttl * sizeof(s->ttl_off[0])) != 0)
		return -1;
	return 0;
}

static void
collect_ttls(const ldns_rr_list *l, uint32_t *ttls, size_t *n)
{
	for (size_t i = 0; i < ldns_rr_list_rr_count(l); i++)
		ttls[(*n)++] = ldns_rr_ttl(ldns_rr_list_rr(l, i));
}

/* b is a packet scan accepted with result s. */
static void
check_against_ldns(const uint8_t *b, size_t len, const struct wire_scan *s)
{
	uint32_t ttls[WIRE_SCAN_MAX_RR * 2];
	uint32_t min_ttl = UINT32_MAX;
	size_t n = 0;
	ldns_pkt *pkt = NULL;
	ldns_status st;
	ldns_rdf *owner;

	st = ldns_wire2pkt(&pkt, b, len);
	if (st != LDNS_STATUS_OK) {
		char hex[3 * TP_MAX];

		for (size_t i = 0; i < len; i++)
			snprintf(hex + 3 * i, 4, "%02x ", b[i]);
		fail_msg("scan accepted, ldns says '%s': %s",
		    ldns_get_errorstr_by_id(st), hex);
	}
	assert_int_equal(ldns_pkt_id(pkt), s->id);
	assert_int_equal(ldns_pkt_qdcount(pkt), 1);
	assert_int_equal(ldns_pkt_ancount(pkt), s->ancount);
	assert_int_equal(ldns_pkt_nscount(pkt), s->nscount);
	/* ldns takes the OPT record out of the additional section. */
	assert_int_equal(ldns_pkt_edns(pkt), s->opt_off != 0);
	assert_int_equal(ldns_pkt_arcount(pkt),
	    s->arcount - (s->opt_off != 0 ? 1 : 0));
	if (s->opt_off != 0) {
		assert_int_equal(ldns_pkt_edns_extended_rcode(pkt),
		    s->ext_rcode);
		assert_int_equal(ldns_pkt_edns_udp_size(pkt),
		    tp_get16(b, s->opt_off + 3));
	}

	owner = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(pkt), 0));
	assert_int_equal(ldns_rdf_size(owner), s->qname_len);
	assert_memory_equal(ldns_rdf_data(owner), s->qname, s->qname_len);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(
			     ldns_pkt_question(pkt), 0)),
	    s->qtype);

	collect_ttls(ldns_pkt_answer(pkt), ttls, &n);
	collect_ttls(ldns_pkt_authority(pkt), ttls, &n);
	collect_ttls(ldns_pkt_additional(pkt), ttls, &n);
	assert_int_equal(n, s->n_ttl);
	for (size_t i = 0; i < n; i++) {
		uint32_t t = ttls[i] & 0x80000000u ? 0 : ttls[i];

		assert_int_equal(tp_get32(b, s->ttl_off[i]), ttls[i]);
		if (t < min_ttl)
			min_ttl = t;
	}
	assert_int_equal(s->min_ttl, min_ttl);
	ldns_pkt_free(pkt);
}

/* An MX or NS whose name loops, points forwards or out: refused. */
static void
test_reply_scan_rdata_names(void **state)
{
	struct tpkt p;
	struct wire_scan s;
	size_t rdlen_at, rdata;

	for (int bad = 0; bad < 4; bad++) {
		tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 0);
		tp_question(&p, "example.com", 15, 1);
		tp_ptr(&p, 12);
		tp_u16(&p, 15);
		tp_u16(&p, 1);
		tp_u32(&p, 300);
		rdlen_at = p.len;
		tp_u16(&p, 0);
		rdata = p.len;
		tp_u16(&p, 10);
		tp_u8(&p, 1);
		tp_u8(&p, 'x');
		switch (bad) {
		case 0: /* fine: back to the question */
			tp_ptr(&p, 12);
			break;
		case 1: /* to its own label */
			tp_ptr(&p, rdata + 2);
			break;
		case 2: /* forwards */
			tp_ptr(&p, rdata + 6);
			tp_u8(&p, 0);
			break;
		case 3: /* out of the packet */
			tp_ptr(&p, 0x3ff0);
			break;
		}
		tp_set16(&p, rdlen_at, (uint16_t)(p.len - rdata));
		assert_int_equal(wire_reply_scan(p.b, p.len, &s),
		    bad == 0 ? 0 : -1);
	}
	/* An NS whose name ends before its RDATA does. */
	tp_hdr(&p, 1, WIRE_FLAG_QR, 1, 1, 0, 0);
	tp_question(&p, "example.com", 2, 1);
	tp_ptr(&p, 12);
	tp_u16(&p, 2);
	tp_u16(&p, 1);
	tp_u32(&p, 300);
	tp_u16(&p, 3);
	tp_ptr(&p, 12);
	tp_u8(&p, 0);
	assert_int_equal(wire_reply_scan(p.b, p.len, &s), -1);
}

static void
test_reply_scan_vs_ldns(void **state)
{
	struct tpkt base;
	uint8_t b[TP_MAX];
	struct wire_scan s;
	unsigned accepted = 0, skipped = 0;

	build_fuzz_base(&base);
	assert_int_equal(wire_reply_scan(base.b, base.len, &s), 0);
	assert_int_equal(s.has_soa, 1);
	memcpy(b, base.b, base.len);
	assert_int_equal(opaque_types(b, base.len, &s), 0);
	check_against_ldns(b, base.len, &s);

	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 20000; i++) {
		size_t len = base.len;
		uint8_t *exact;
		int rc;

		memcpy(b, base.b, base.len);
		mutate(b, &len);
		if (i % 3 == 0)
			mutate(b, &len);
		if (len == 0)
			continue;
		/* Exactly len bytes, so a sanitizer sees any read past them. */
		exact = malloc(len);
		assert_non_null(exact);
		memcpy(exact, b, len);
		rc = wire_reply_scan(exact, len, &s);
		free(exact);
		if (rc != 0)
			continue;
		if (opaque_types(b, len, &s) != 0) {
			skipped++;
			continue;
		}
		accepted++;
		check_against_ldns(b, len, &s);
	}
	/* A mutation scheme that is always rejected would prove nothing. */
	print_message("%u mutants accepted, %u skipped\n", accepted, skipped);
	assert_true(accepted > 1000);
	assert_true(skipped < accepted / 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_decode_plain),
		cmocka_unit_test(test_name_decode_compressed),
		cmocka_unit_test(test_name_decode_pointer_loops),
		cmocka_unit_test(test_name_decode_label_types),
		cmocka_unit_test(test_name_decode_too_long),
		cmocka_unit_test(test_name_decode_truncated),
		cmocka_unit_test(test_name_equal_folds_ascii_only),
		cmocka_unit_test(test_name_text),
		cmocka_unit_test(test_name_from_text),
		cmocka_unit_test(test_name_text_round_trip),
		cmocka_unit_test(test_name_text_round_trip_escapes),
		cmocka_unit_test(test_query_parse_valid),
		cmocka_unit_test(test_query_parse_drop),
		cmocka_unit_test(test_query_parse_notimp),
		cmocka_unit_test(test_query_parse_formerr_counts),
		cmocka_unit_test(test_query_parse_compressed_qname),
		cmocka_unit_test(test_query_parse_edns),
		cmocka_unit_test(test_query_parse_edns_small_udp),
		cmocka_unit_test(test_query_parse_badvers),
		cmocka_unit_test(test_query_parse_bad_opt),
		cmocka_unit_test(test_query_parse_opt_owner_not_root),
		cmocka_unit_test(test_reply_scan_basic),
		cmocka_unit_test(test_reply_scan_ttls),
		cmocka_unit_test(test_reply_scan_pointer_into_rewritten_bytes),
		cmocka_unit_test(test_reply_scan_soa),
		cmocka_unit_test(test_reply_scan_ext_rcode),
		cmocka_unit_test(test_reply_scan_lying_counts),
		cmocka_unit_test(test_reply_scan_opt_placement),
		cmocka_unit_test(test_reply_scan_max_records),
		cmocka_unit_test(test_reply_scan_cname),
		cmocka_unit_test(test_reply_scan_rdata_names),
		cmocka_unit_test(test_reply_scan_cname_chain_limit),
		cmocka_unit_test(test_reply_scan_vs_ldns),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
