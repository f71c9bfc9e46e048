/*
 * Unit tests for the pure parts of the admin CLI (tools/stats.c):
 * durations, client addresses, type names and fitting text into table
 * columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tools/cli.h"

static int64_t
must_parse(const char *s)
{
	int64_t v = -12345;

	if (cli_parse_duration(s, &v) != 0)
		fail_msg("duration '%s' rejected", s);
	return v;
}

static void
must_reject(const char *s)
{
	int64_t v = -12345;

	if (cli_parse_duration(s, &v) == 0)
		fail_msg("duration '%s' accepted as %lld", s, (long long)v);
	assert_int_equal(v, -12345);
}

static void
test_duration_units(void **state)
{
	assert_int_equal(must_parse("90s"), 90);
	assert_int_equal(must_parse("15m"), 900);
	assert_int_equal(must_parse("24h"), 86400);
	assert_int_equal(must_parse("7d"), 604800);
	assert_int_equal(must_parse("2w"), 1209600);
	assert_int_equal(must_parse("1s"), 1);
}

static void
test_duration_bare_seconds(void **state)
{
	assert_int_equal(must_parse("3600"), 3600);
	assert_int_equal(must_parse("1"), 1);
	assert_int_equal(must_parse("007"), 7);
}

static void
test_duration_sums(void **state)
{
	assert_int_equal(must_parse("1h30m"), 5400);
	assert_int_equal(must_parse("1d12h"), 129600);
	assert_int_equal(must_parse("1m1s"), 61);
}

static void
test_duration_rejects(void **state)
{
	int64_t v = -12345;

	assert_int_equal(cli_parse_duration(NULL, &v), -1);
	must_reject("");
	must_reject("0");
	must_reject("0s");
	must_reject("-5m");
	must_reject("+5m");
	must_reject("5 m");
	must_reject(" 5m");
	must_reject("5m ");
	must_reject("h");
	must_reject("5x");
	must_reject("5M");
	must_reject("1.5h");
	must_reject("1h30"); /* a bare number only on its own */
	must_reject("5mm");
	must_reject("99999999999999999999");
	must_reject("999999999999d");
	must_reject("36600d36600d"); /* each fits, the sum does not */
}

static void
test_duration_bounds(void **state)
{
	/* 100 years is the most; 36500 days are just under. */
	assert_int_equal(must_parse("36500d"), (int64_t)36500 * 86400);
	must_reject("36601d");
}

static void
test_addr_normalise(void **state)
{
	char out[64];

	assert_int_equal(cli_normalise_addr("192.0.2.7", out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(
	    cli_normalise_addr("::ffff:192.0.2.7", out, sizeof(out)), 0);
	assert_string_equal(out, "192.0.2.7");
	assert_int_equal(
	    cli_normalise_addr("2001:DB8:0:0::1", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(cli_normalise_addr("::1", out, sizeof(out)), 0);
	assert_string_equal(out, "::1");
}

static void
test_addr_rejects(void **state)
{
	char out[64];

	assert_int_equal(cli_normalise_addr("", out, sizeof(out)), -1);
	assert_int_equal(
	    cli_normalise_addr("host.example", out, sizeof(out)), -1);
	assert_int_equal(
	    cli_normalise_addr("192.0.2.256", out, sizeof(out)), -1);
	assert_int_equal(
	    cli_normalise_addr("192.0.2.7:53", out, sizeof(out)), -1);
	assert_int_equal(
	    cli_normalise_addr("10.0.0.0/8", out, sizeof(out)), -1);
}

static void
test_qtype_names(void **state)
{
	char buf[32];

	assert_string_equal(cli_qtype_name(1, buf, sizeof(buf)), "A");
	assert_string_equal(cli_qtype_name(28, buf, sizeof(buf)), "AAAA");
	assert_string_equal(cli_qtype_name(65, buf, sizeof(buf)), "HTTPS");
	assert_string_equal(cli_qtype_name(64, buf, sizeof(buf)), "SVCB");
	assert_string_equal(cli_qtype_name(16, buf, sizeof(buf)), "TXT");
	assert_string_equal(cli_qtype_name(255, buf, sizeof(buf)), "ANY");
	assert_string_equal(cli_qtype_name(65535, buf, sizeof(buf)), "other");
	assert_string_equal(cli_qtype_name(200, buf, sizeof(buf)), "TYPE200");
}

static void
test_fit_short_is_unchanged(void **state)
{
	char out[64];

	assert_int_equal(cli_fit("coinhive.com", 20, 0, out, sizeof(out)), 12);
	assert_string_equal(out, "coinhive.com");
	assert_int_equal(
	    cli_fit("coinhive.com", 12, CLI_FIT_END, out, sizeof(out)), 12);
	assert_string_equal(out, "coinhive.com");
	assert_int_equal(cli_fit("", 5, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

static void
test_fit_keeps_start(void **state)
{
	char out[64];

	assert_int_equal(cli_fit("abcdefghij", 8, 0, out, sizeof(out)), 8);
	assert_string_equal(out, "abcde...");
	assert_int_equal(
	    cli_fit("abcdefghij", 8, CLI_FIT_UTF8, out, sizeof(out)), 8);
	assert_string_equal(out, "abcdefg\xe2\x80\xa6");
}

static void
test_fit_keeps_end_of_names(void **state)
{
	char out[64];

	assert_int_equal(cli_fit("a1b2c3.pool.minexmr.com", 15, CLI_FIT_END,
			     out, sizeof(out)),
	    15);
	assert_string_equal(out, "....minexmr.com");
	assert_int_equal(cli_fit("a1b2c3.pool.minexmr.com", 12,
			     CLI_FIT_END | CLI_FIT_UTF8, out, sizeof(out)),
	    12);
	assert_string_equal(out, "\xe2\x80\xa6minexmr.com");
}

static void
test_fit_tiny_widths(void **state)
{
	char out[64];

	assert_int_equal(cli_fit("abcdef", 3, 0, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(
	    cli_fit("abcdef", 2, CLI_FIT_END, out, sizeof(out)), 2);
	assert_string_equal(out, "ef");
	assert_int_equal(cli_fit("abcdef", 0, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(
	    cli_fit("abcdef", 1, CLI_FIT_UTF8, out, sizeof(out)), 1);
	assert_string_equal(out, "a");
}

static void
test_fit_sanitises(void **state)
{
	char out[64];

	/* Terminal escapes and bytes beyond ASCII from the database. */
	cli_fit("a\x1b[2Jb\xc3\xa9\x7f", 20, 0, out, sizeof(out));
	assert_string_equal(out, "a?[2Jb???");
}

static void
test_fit_respects_cap(void **state)
{
	char out[6];

	memset(out, 'x', sizeof(out));
	cli_fit("abcdefghijkl", 40, 0, out, sizeof(out));
	assert_string_equal(out, "abcde");
	cli_fit("abcdefghijkl", 10, CLI_FIT_END, out, sizeof(out));
	assert_int_equal(strlen(out), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_bare_seconds),
	    cmocka_unit_test(test_duration_sums),
	    cmocka_unit_test(test_duration_rejects),
	    cmocka_unit_test(test_duration_bounds),
	    cmocka_unit_test(test_addr_normalise),
	    cmocka_unit_test(test_addr_rejects),
	    cmocka_unit_test(test_qtype_names),
	    cmocka_unit_test(test_fit_short_is_unchanged),
	    cmocka_unit_test(test_fit_keeps_start),
	    cmocka_unit_test(test_fit_keeps_end_of_names),
	    cmocka_unit_test(test_fit_tiny_widths),
	    cmocka_unit_test(test_fit_sanitises),
	    cmocka_unit_test(test_fit_respects_cap),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
