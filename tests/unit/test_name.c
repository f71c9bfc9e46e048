/*
 * Unit tests for blocklist/name.c: normalisation of names for lists.db and
 * the text <-> wire conversions the matcher relies on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "blocklist/name.h"

/* Normalise in, failing the test with the reason if it is rejected. */
static const char *
must_normalise(const char *in)
{
	static char out[BL_NAME_MAX + 1];
	char why[256] = "";

	memset(out, 0, sizeof(out));
	if (bl_name_normalise(in, out, why, sizeof(why)) != 0)
		fail_msg("'%s' rejected: %s", in, why);
	return out;
}

/* Assert that in is rejected, with a reason. */
static void
must_reject(const char *in)
{
	char out[BL_NAME_MAX + 1], why[256];

	memset(why, 0, sizeof(why));
	if (bl_name_normalise(in, out, why, sizeof(why)) == 0)
		fail_msg("'%s' accepted as '%s'", in, out);
	if (why[0] == '\0')
		fail_msg("'%s' rejected without a reason", in);
}

/* A name of exactly len characters: 63-byte labels, then the rest. */
static void
make_long_name(char *buf, size_t len)
{
	for (size_t o = 0; o < len; o++)
		buf[o] = o % 64 == 63 ? '.' : (char)('a' + o % 26);
	buf[len] = '\0';
	/* The last label must not be empty. */
	assert_int_not_equal(buf[len - 1], '.');
}

static void
test_normalise_lower_case(void **state)
{
	(void)state;
	assert_string_equal(must_normalise("EXAMPLE.COM"), "example.com");
	assert_string_equal(must_normalise("Pool.MineXMR.Com"),
	    "pool.minexmr.com");
	assert_string_equal(must_normalise("already.lower"), "already.lower");
}

static void
test_normalise_trailing_dot(void **state)
{
	(void)state;
	assert_string_equal(must_normalise("example.com."), "example.com");
	assert_string_equal(must_normalise("Example.COM."), "example.com");
	/* Only one dot is the root label; two leave an empty label. */
	must_reject("example.com..");
}

static void
test_normalise_whitespace(void **state)
{
	(void)state;
	assert_string_equal(must_normalise("  example.com"), "example.com");
	assert_string_equal(must_normalise("example.com \t\r\n"),
	    "example.com");
	assert_string_equal(must_normalise("\t Example.Com. \n"),
	    "example.com");
	must_reject("   ");
	must_reject("\t\n");
}

static void
test_normalise_idn(void **state)
{
	(void)state;
	/* "Bücher.de" in UTF-8. */
	assert_string_equal(must_normalise("B\xc3\xbc" "cher.de"),
	    "xn--bcher-kva.de");
	/* Upper-case non-ASCII letters are mapped as well: "BÜCHER.DE". */
	assert_string_equal(must_normalise("B\xc3\x9c" "CHER.DE"),
	    "xn--bcher-kva.de");
	/* IDNA 2008: "faß.de" keeps its sharp s rather than becoming "fass". */
	assert_string_equal(must_normalise("fa\xc3\x9f.de"), "xn--fa-hia.de");
	/* Punycode given as such is kept. */
	assert_string_equal(must_normalise("XN--BCHER-KVA.de"),
	    "xn--bcher-kva.de");
	/* Not UTF-8 at all. */
	must_reject("a\xff.com");
}

static void
test_normalise_underscore_and_hyphen(void **state)
{
	(void)state;
	assert_string_equal(must_normalise("_analytics.synonym.to"),
	    "_analytics.synonym.to");
	assert_string_equal(must_normalise("-container.supertms.com"),
	    "-container.supertms.com");
	assert_string_equal(must_normalise("a_b-c.x-.example"),
	    "a_b-c.x-.example");
	assert_string_equal(must_normalise("123.example"), "123.example");
}

static void
test_normalise_rejects_empty_and_root(void **state)
{
	(void)state;
	must_reject("");
	must_reject(".");
	must_reject("..");
	must_reject("a..b");
	must_reject(".example.com");
}

static void
test_normalise_label_length(void **state)
{
	char name[128];

	(void)state;
	memset(name, 'a', 63);
	snprintf(name + 63, sizeof(name) - 63, ".com");
	assert_string_equal(must_normalise(name), name);

	memset(name, 'a', 64);
	snprintf(name + 64, sizeof(name) - 64, ".com");
	must_reject(name);

	/* A long label that is not the first. */
	snprintf(name, sizeof(name), "x.");
	memset(name + 2, 'b', 64);
	snprintf(name + 66, sizeof(name) - 66, ".com");
	must_reject(name);
}

static void
test_normalise_name_length(void **state)
{
	char name[600], dotted[600];

	(void)state;
	make_long_name(name, 253);
	assert_int_equal(strlen(name), 253);
	assert_string_equal(must_normalise(name), name);

	/* A trailing dot does not count. */
	snprintf(dotted, sizeof(dotted), "%s.", name);
	assert_string_equal(must_normalise(dotted), name);

	make_long_name(name, 254);
	assert_int_equal(strlen(name), 254);
	must_reject(name);

	make_long_name(name, 500);
	must_reject(name);

	/* Longer than any internal buffer. */
	{
		char huge[3000];

		memset(huge, 'a', sizeof(huge) - 1);
		huge[sizeof(huge) - 1] = '\0';
		must_reject(huge);
	}
}

static void
test_normalise_rejects_ip_literals(void **state)
{
	(void)state;
	must_reject("1.2.3.4");
	must_reject("1.2.3.4.");
	must_reject(" 10.0.0.1 ");
	must_reject("::1");
	must_reject("2001:db8::53");
	must_reject("::ffff:192.0.2.1");
}

static void
test_normalise_rejects_bad_characters(void **state)
{
	(void)state;
	must_reject("a/b.com");
	must_reject("a b.com");
	must_reject("*.example.com");
	must_reject("user@example.com");
	must_reject("example.com:53");
	must_reject("ex!ample.com");
	must_reject("http://example.com");
	must_reject("exa\x01mple.com");
}

static void
test_normalise_reason_text(void **state)
{
	char out[BL_NAME_MAX + 1], why[128];

	(void)state;
	memset(why, 0, sizeof(why));
	assert_int_equal(bl_name_normalise("a/b.com", out, why, sizeof(why)),
	    -1);
	assert_non_null(strchr(why, '/'));

	memset(why, 0, sizeof(why));
	assert_int_equal(bl_name_normalise("1.2.3.4", out, why, sizeof(why)),
	    -1);
	assert_true(strlen(why) > 0);

	/* A short reason buffer is not overrun and stays terminated. */
	memset(why, 'Z', sizeof(why));
	assert_int_equal(bl_name_normalise("", out, why, 4), -1);
	assert_true(strlen(why) < 4);
	assert_int_equal(why[4], 'Z');
}

static void
test_to_wire_lengths(void **state)
{
	uint8_t wire[BL_WIRE_MAX];
	static const uint8_t abc[] = {1, 'a', 2, 'b', 'c', 0};
	char name[300];

	(void)state;
	assert_int_equal(bl_name_to_wire("a.bc", wire), 6);
	assert_memory_equal(wire, abc, sizeof(abc));

	assert_int_equal(bl_name_to_wire("", wire), 1);
	assert_int_equal(wire[0], 0);

	assert_int_equal(bl_name_to_wire("example.com", wire), 13);
	assert_int_equal(wire[0], 7);
	assert_int_equal(wire[8], 3);
	assert_int_equal(wire[12], 0);

	/* Lower-cased on the way. */
	assert_int_equal(bl_name_to_wire("A.BC", wire), 6);
	assert_memory_equal(wire, abc, sizeof(abc));

	/* 253 characters is the longest name: 255 bytes of wire. */
	make_long_name(name, 253);
	assert_int_equal(bl_name_to_wire(name, wire), BL_WIRE_MAX);
	assert_int_equal(wire[BL_WIRE_MAX - 1], 0);
	make_long_name(name, 254);
	assert_int_equal(bl_name_to_wire(name, wire), -1);
}

static void
test_to_wire_rejects_bad_labels(void **state)
{
	uint8_t wire[BL_WIRE_MAX];
	char name[128];

	(void)state;
	assert_int_equal(bl_name_to_wire("a..b", wire), -1);
	assert_int_equal(bl_name_to_wire(".a", wire), -1);
	assert_int_equal(bl_name_to_wire("a.", wire), -1);

	memset(name, 'x', 63);
	snprintf(name + 63, sizeof(name) - 63, ".com");
	assert_int_equal(bl_name_to_wire(name, wire), 63 + 1 + 3 + 1 + 1);
	memset(name, 'x', 64);
	snprintf(name + 64, sizeof(name) - 64, ".com");
	assert_int_equal(bl_name_to_wire(name, wire), -1);
}

static void
test_wire_round_trip(void **state)
{
	static const char *const names[] = {
		"a",
		"a.bc",
		"example.com",
		"pool.minexmr.com",
		"_analytics.synonym.to",
		"-container.supertms.com",
		"xn--bcher-kva.de",
		"0.1.2.3.4.5.6.7.8.9.a.b.c.d.e.f",
	};
	uint8_t wire[BL_WIRE_MAX];
	char out[BL_NAME_MAX + 1], name[300];
	int wl;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		wl = bl_name_to_wire(names[i], wire);
		assert_int_equal(wl, (int)strlen(names[i]) + 2);
		memset(out, 'Z', sizeof(out));
		bl_name_from_wire(wire, (size_t)wl, out, sizeof(out));
		assert_string_equal(out, names[i]);
	}

	make_long_name(name, 253);
	wl = bl_name_to_wire(name, wire);
	assert_int_equal(wl, BL_WIRE_MAX);
	bl_name_from_wire(wire, (size_t)wl, out, sizeof(out));
	assert_string_equal(out, name);

	/* The root has no text. */
	wl = bl_name_to_wire("", wire);
	memset(out, 'Z', sizeof(out));
	bl_name_from_wire(wire, (size_t)wl, out, sizeof(out));
	assert_string_equal(out, "");
}

static void
test_from_wire_bounds(void **state)
{
	static const uint8_t w[] = {3, 'a', 'b', 'c', 3, 'c', 'o', 'm', 0};
	char out[32];

	(void)state;
	/* Output capacity: truncated, terminated, nothing written past it. */
	memset(out, 'Z', sizeof(out));
	bl_name_from_wire(w, sizeof(w), out, 5);
	assert_true(strlen(out) < 5);
	assert_true(strlen(out) >= 3);
	assert_memory_equal(out, "abc.com", strlen(out));
	assert_int_equal(out[5], 'Z');

	/* A zero capacity writes nothing. */
	memset(out, 'Z', sizeof(out));
	bl_name_from_wire(w, sizeof(w), out, 0);
	assert_int_equal(out[0], 'Z');

	/* Input length: nothing past len is read. */
	memset(out, 'Z', sizeof(out));
	bl_name_from_wire(w, 3, out, sizeof(out));
	assert_string_equal(out, "ab");
	memset(out, 'Z', sizeof(out));
	bl_name_from_wire(w, 4, out, sizeof(out));
	assert_string_equal(out, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise_lower_case),
		cmocka_unit_test(test_normalise_trailing_dot),
		cmocka_unit_test(test_normalise_whitespace),
		cmocka_unit_test(test_normalise_idn),
		cmocka_unit_test(test_normalise_underscore_and_hyphen),
		cmocka_unit_test(test_normalise_rejects_empty_and_root),
		cmocka_unit_test(test_normalise_label_length),
		cmocka_unit_test(test_normalise_name_length),
		cmocka_unit_test(test_normalise_rejects_ip_literals),
		cmocka_unit_test(test_normalise_rejects_bad_characters),
		cmocka_unit_test(test_normalise_reason_text),
		cmocka_unit_test(test_to_wire_lengths),
		cmocka_unit_test(test_to_wire_rejects_bad_labels),
		cmocka_unit_test(test_wire_round_trip),
		cmocka_unit_test(test_from_wire_bounds),
	};

	if (sodium_init() < 0) {
		fprintf(stderr, "sodium_init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("name", tests, NULL, NULL);
}
