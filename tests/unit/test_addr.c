#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <cmocka.h>

#include "resolver/addr.h"

static struct sockaddr_storage
must_parse(const char *text, uint16_t def_port)
{
	struct sockaddr_storage ss;
	char err[128] = "";

	if (addr_parse(text, def_port, &ss, err, sizeof(err)) != 0)
		fail_msg("'%s': %s", text, err);
	return ss;
}

static struct addr_net
must_net(const char *text)
{
	struct addr_net n;
	char err[128] = "";

	if (addr_net_parse(text, &n, err, sizeof(err)) != 0)
		fail_msg("'%s': %s", text, err);
	return n;
}

static const char *
text_of(const struct sockaddr_storage *ss)
{
	static char buf[ADDR_TEXT_MAX];

	addr_text((const struct sockaddr *)ss, buf, sizeof(buf));
	return buf;
}

static const char *
net_text(const struct addr_net *n)
{
	static char buf[ADDR_TEXT_MAX];

	addr_net_text(n, buf, sizeof(buf));
	return buf;
}

static int
contains(const char *net, const char *addr)
{
	struct addr_net n = must_net(net);
	struct sockaddr_storage ss = must_parse(addr, 53);

	return addr_net_contains(&n, (const struct sockaddr *)&ss);
}

static void
test_parse_ipv4(void **state)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
	struct in_addr want;

	inet_pton(AF_INET, "1.2.3.4", &want);
	ss = must_parse("1.2.3.4", 53);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(sin->sin_addr.s_addr, want.s_addr);
	assert_int_equal(ntohs(sin->sin_port), 53);
	assert_int_equal(addr_port((const struct sockaddr *)&ss), 53);
	assert_int_equal(addr_len((const struct sockaddr *)&ss),
	    sizeof(struct sockaddr_in));

	ss = must_parse("1.2.3.4:5353", 53);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(sin->sin_addr.s_addr, want.s_addr);
	assert_int_equal(ntohs(sin->sin_port), 5353);
	assert_string_equal(text_of(&ss), "1.2.3.4:5353");

	/* The default port is the caller's. */
	ss = must_parse("1.2.3.4", 853);
	assert_int_equal(addr_port((const struct sockaddr *)&ss), 853);
}

static void
test_parse_ipv6(void **state)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

	ss = must_parse("::1", 53);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(ntohs(sin6->sin6_port), 53);
	assert_int_equal(addr_len((const struct sockaddr *)&ss),
	    sizeof(struct sockaddr_in6));

	ss = must_parse("[::1]:5353", 53);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	assert_int_equal(ntohs(sin6->sin6_port), 5353);
	assert_string_equal(text_of(&ss), "[::1]:5353");

	ss = must_parse("[::1]", 53);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 53);

	ss = must_parse("2001:db8::53", 53);
	assert_string_equal(text_of(&ss), "[2001:db8::53]:53");
	ss = must_parse("[2001:db8::53]:853", 53);
	assert_string_equal(text_of(&ss), "[2001:db8::53]:853");
}

static void
test_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"1.2.3",
		"1.2.3.4.5",
		"256.1.1.1",
		"1.2.3.4:",
		"1.2.3.4:0",
		"1.2.3.4:65536",
		"1.2.3.4:53x",
		"1.2.3.4:x",
		":53",
		"[::1",
		"[::1]x",
		"[::1]:",
		"[::1]:0",
		"[]:53",
		"[]",
		"::g",
		"example.com",
		"example.com:53",
		"[1.2.3.4.5]:53",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss;
		char err[128] = "";

		if (addr_parse(bad[i], 53, &ss, err, sizeof(err)) != -1)
			fail_msg("'%s' parsed as %s", bad[i], text_of(&ss));
		if (err[0] == '\0')
			fail_msg("'%s': no reason given", bad[i]);
	}
}

static void
test_net_parse(void **state)
{
	struct addr_net n;

	n = must_net("10.0.0.0/8");
	assert_int_equal(n.family, AF_INET);
	assert_int_equal(n.prefix, 8);
	assert_int_equal(n.bytes[0], 10);
	assert_string_equal(net_text(&n), "10.0.0.0/8");

	n = must_net("1.2.3.4");
	assert_int_equal(n.prefix, 32);
	assert_string_equal(net_text(&n), "1.2.3.4/32");
	n = must_net("::1");
	assert_int_equal(n.family, AF_INET6);
	assert_int_equal(n.prefix, 128);
	assert_string_equal(net_text(&n), "::1/128");
	n = must_net("fc00::/7");
	assert_string_equal(net_text(&n), "fc00::/7");
	n = must_net("0.0.0.0/0");
	assert_int_equal(n.prefix, 0);
}

static void
test_net_host_bits_cleared(void **state)
{
	struct addr_net n;
	static const uint8_t zero[16];

	n = must_net("10.1.2.3/8");
	assert_string_equal(net_text(&n), "10.0.0.0/8");
	/* 31 is 0001 1111; a /20 keeps the top four bits of it. */
	n = must_net("192.168.31.77/20");
	assert_string_equal(net_text(&n), "192.168.16.0/20");
	n = must_net("2001:db8:ffff::1/32");
	assert_string_equal(net_text(&n), "2001:db8::/32");
	n = must_net("fdff:1::/7");
	assert_string_equal(net_text(&n), "fc00::/7");
	n = must_net("255.255.255.255/0");
	assert_memory_equal(n.bytes, zero, 16);
	n = must_net("ffff::1/0");
	assert_memory_equal(n.bytes, zero, 16);
}

/*
 * A v4-mapped network is an IPv4 one. The check used to read the
 * unaligned bytes as a struct in6_addr (undefined; the sanitizer build
 * stops on it), so this also runs that path under UBSan.
 */
static void
test_net_parse_v4_mapped(void **state)
{
	struct addr_net n;

	n = must_net("::ffff:10.1.0.0/112");
	assert_int_equal(n.family, AF_INET);
	assert_string_equal(net_text(&n), "10.1.0.0/16");
	n = must_net("::ffff:10.1.2.3");
	assert_int_equal(n.family, AF_INET);
	assert_string_equal(net_text(&n), "10.1.2.3/32");
	/* Below /96 the mapped prefix is only partly there: IPv6. */
	n = must_net("::ffff:10.1.0.0/80");
	assert_int_equal(n.family, AF_INET6);
	n = must_net("::fffe:10.1.2.3/128");
	assert_int_equal(n.family, AF_INET6);
}

static void
test_net_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0.0/",
		"10.0.0.0/33",
		"10.0.0.0/8x",
		"10.0.0.0/x",
		"::/129",
		"foo/8",
		"10.0.0/8",
		"[::1]/128",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct addr_net n;
		char err[128] = "";

		if (addr_net_parse(bad[i], &n, err, sizeof(err)) != -1)
			fail_msg("'%s' parsed as %s", bad[i], net_text(&n));
		if (err[0] == '\0')
			fail_msg("'%s': no reason given", bad[i]);
	}
}

/*
 * The prefix is digits only. strtoul also takes a sign and leading space,
 * and "-0" is 0: "10.0.0.0/-0" would allow every IPv4 client.
 */
static void
test_net_parse_prefix_digits_only(void **state)
{
	static const char *const bad[] = {
		"10.0.0.0/-0",
		"10.0.0.0/+8",
		"10.0.0.0/ 8",
		"::1/-0",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct addr_net n;
		char err[128] = "";

		if (addr_net_parse(bad[i], &n, err, sizeof(err)) != -1)
			fail_msg("'%s' parsed as %s", bad[i], net_text(&n));
	}
}

static void
test_net_contains(void **state)
{
	assert_true(contains("10.0.0.0/8", "10.0.0.0"));
	assert_true(contains("10.0.0.0/8", "10.255.255.255"));
	assert_false(contains("10.0.0.0/8", "11.0.0.0"));
	assert_false(contains("10.0.0.0/8", "9.255.255.255"));

	assert_true(contains("192.168.16.0/20", "192.168.31.255"));
	assert_true(contains("192.168.16.0/20", "192.168.16.0"));
	assert_false(contains("192.168.16.0/20", "192.168.32.0"));
	assert_false(contains("192.168.16.0/20", "192.168.15.255"));

	assert_true(contains("1.2.3.4/32", "1.2.3.4"));
	assert_false(contains("1.2.3.4/32", "1.2.3.5"));

	assert_true(contains("fc00::/7", "fd12:3456::1"));
	assert_false(contains("fc00::/7", "fe00::1"));
	assert_true(contains("::1/128", "::1"));
	assert_false(contains("::1/128", "::2"));

	/* Families never mix. */
	assert_false(contains("10.0.0.0/8", "::1"));
	assert_false(contains("::/0", "10.0.0.1"));
}

static void
test_net_contains_prefix0(void **state)
{
	assert_true(contains("0.0.0.0/0", "0.0.0.0"));
	assert_true(contains("0.0.0.0/0", "255.255.255.255"));
	assert_true(contains("0.0.0.0/0", "::ffff:8.8.8.8"));
	assert_false(contains("0.0.0.0/0", "2001:db8::1"));
	assert_true(contains("::/0", "2001:db8::1"));
	assert_true(contains("::/0", "::"));
}

static void
test_net_contains_v4_mapped(void **state)
{
	/* A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d. */
	assert_true(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_true(contains("10.0.0.0/8", "[::ffff:10.1.2.3]:5353"));
	assert_false(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
	assert_true(contains("127.0.0.1/32", "::ffff:127.0.0.1"));
	/* Matched as IPv4, so not by an IPv6 network. */
	assert_false(contains("::/0", "::ffff:10.1.2.3"));
	/* Not mapped: ::10.1.2.3 (IPv4-compatible) is plain IPv6. */
	assert_false(contains("10.0.0.0/8", "::10.1.2.3"));
}

static void
test_acl(void **state)
{
	struct addr_net nets[2];
	struct sockaddr_storage a;

	nets[0] = must_net("10.0.0.0/8");
	nets[1] = must_net("2001:db8::/32");

	a = must_parse("10.9.8.7", 53);
	assert_true(addr_acl_allows(nets, 2, (const struct sockaddr *)&a));
	assert_false(addr_acl_allows(nets, 0, (const struct sockaddr *)&a));
	a = must_parse("2001:db8::1", 53);
	assert_true(addr_acl_allows(nets, 2, (const struct sockaddr *)&a));
	assert_false(addr_acl_allows(nets, 1, (const struct sockaddr *)&a));
	a = must_parse("192.0.2.1", 53);
	assert_false(addr_acl_allows(nets, 2, (const struct sockaddr *)&a));
}

static int
equal(const char *x, const char *y)
{
	struct sockaddr_storage a = must_parse(x, 53);
	struct sockaddr_storage b = must_parse(y, 53);

	return addr_equal((const struct sockaddr *)&a,
	    (const struct sockaddr *)&b);
}

static void
test_equal(void **state)
{
	assert_true(equal("1.2.3.4", "1.2.3.4:53"));
	assert_false(equal("1.2.3.4:53", "1.2.3.4:54"));
	assert_false(equal("1.2.3.4", "1.2.3.5"));
	assert_true(equal("::1", "[::1]:53"));
	assert_true(equal("[2001:db8::1]", "2001:0db8:0:0::1"));
	assert_false(equal("[::1]:53", "[::1]:54"));
	assert_false(equal("::1", "::2"));
	assert_false(equal("1.2.3.4", "::ffff:1.2.3.4"));
	assert_false(equal("0.0.0.0", "::"));
}

static void
test_wildcard(void **state)
{
	struct sockaddr_storage a;

	a = must_parse("0.0.0.0", 53);
	assert_true(addr_is_wildcard((const struct sockaddr *)&a));
	a = must_parse("::", 53);
	assert_true(addr_is_wildcard((const struct sockaddr *)&a));
	a = must_parse("127.0.0.1", 53);
	assert_false(addr_is_wildcard((const struct sockaddr *)&a));
	a = must_parse("::1", 53);
	assert_false(addr_is_wildcard((const struct sockaddr *)&a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_ipv4),
		cmocka_unit_test(test_parse_ipv6),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_net_parse),
		cmocka_unit_test(test_net_host_bits_cleared),
		cmocka_unit_test(test_net_parse_v4_mapped),
		cmocka_unit_test(test_net_parse_errors),
		cmocka_unit_test(test_net_parse_prefix_digits_only),
		cmocka_unit_test(test_net_contains),
		cmocka_unit_test(test_net_contains_prefix0),
		cmocka_unit_test(test_net_contains_v4_mapped),
		cmocka_unit_test(test_acl),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_wildcard),
	};

	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
