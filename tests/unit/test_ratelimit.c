#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <sodium.h>

#include "resolver/addr.h"
#include "resolver/ratelimit.h"

static struct sockaddr_storage
v4(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

static int
allowed(struct ratelimit *rl, const char *text, uint64_t now, int n)
{
	struct sockaddr_storage ss = strchr(text, ':') ? v6(text) : v4(text);
	int ok = 0;

	for (int i = 0; i < n; i++)
		ok += ratelimit_allow(rl, (struct sockaddr *)&ss, now);
	return ok;
}

static void
test_off(void **state)
{
	struct ratelimit_opts o = {.rate = 0, .prefix_rate = 0, .slots = 64};

	assert_null(ratelimit_new(&o));
	assert_int_equal(allowed(NULL, "192.0.2.1", 0, 100), 100);
}

static void
test_address_bucket(void **state)
{
	struct ratelimit_opts o = {.rate = 10,
	    .burst = 5,
	    .slots = 64,
	    .v4_prefix = 24,
	    .v6_prefix = 56};
	struct ratelimit *rl = ratelimit_new(&o);

	assert_non_null(rl);
	/* The burst, then nothing until time passes. */
	assert_int_equal(allowed(rl, "192.0.2.1", 1000, 20), 5);
	assert_int_equal(allowed(rl, "192.0.2.1", 1000, 1), 0);
	/* 10 q/s: one more every 100 ms, never more than the burst. */
	assert_int_equal(allowed(rl, "192.0.2.1", 1100, 5), 1);
	assert_int_equal(allowed(rl, "192.0.2.1", 1350, 5), 2);
	assert_int_equal(allowed(rl, "192.0.2.1", 100000, 20), 5);
	/* Other addresses have their own. */
	assert_int_equal(allowed(rl, "192.0.2.2", 1000, 20), 5);
	assert_int_equal(allowed(rl, "2001:db8::1", 1000, 20), 5);
	/* IPv4-mapped IPv6 is the IPv4 client. */
	assert_int_equal(allowed(rl, "::ffff:192.0.2.3", 1000, 3), 3);
	assert_int_equal(allowed(rl, "192.0.2.3", 1000, 5), 2);
	ratelimit_free(rl);
}

static void
test_prefix_bucket(void **state)
{
	struct ratelimit_opts o = {.rate = 0,
	    .prefix_rate = 1,
	    .prefix_burst = 4,
	    .slots = 64,
	    .v4_prefix = 24,
	    .v6_prefix = 56};
	struct ratelimit *rl = ratelimit_new(&o);

	assert_non_null(rl);
	assert_int_equal(allowed(rl, "198.51.100.1", 0, 2), 2);
	assert_int_equal(allowed(rl, "198.51.100.200", 0, 5), 2);
	assert_int_equal(allowed(rl, "198.51.101.1", 0, 5), 4);
	/* A /56: the same for 2001:db8:0:ff::/64 and 2001:db8:0:1::/64. */
	assert_int_equal(allowed(rl, "2001:db8:0:ff::1", 0, 3), 3);
	assert_int_equal(allowed(rl, "2001:db8:0:1::1", 0, 3), 1);
	assert_int_equal(allowed(rl, "2001:db8:0:100::1", 0, 3), 3);
	ratelimit_free(rl);
}

static void
test_exempt(void **state)
{
	struct addr_net ex;
	struct ratelimit_opts o = {.rate = 1,
	    .burst = 1,
	    .slots = 64,
	    .v4_prefix = 24,
	    .v6_prefix = 56,
	    .exempt = &ex,
	    .n_exempt = 1};
	struct ratelimit *rl;
	char why[64];

	assert_int_equal(
	    addr_net_parse("127.0.0.0/8", &ex, why, sizeof(why)), 0);
	rl = ratelimit_new(&o);
	assert_non_null(rl);
	memset(&ex, 0, sizeof(ex)); /* the table keeps its own copy */
	assert_int_equal(allowed(rl, "127.0.0.5", 0, 50), 50);
	assert_int_equal(allowed(rl, "192.0.2.1", 0, 50), 1);
	ratelimit_free(rl);
}

/* A spray of sources cannot grow the table, and the busiest client's
 * bucket stays while the spray passes through other sets' slots. */
static void
test_bounded_under_spray(void **state)
{
	struct ratelimit_opts o = {.rate = 1,
	    .burst = 2,
	    .slots = 64,
	    .v4_prefix = 24,
	    .v6_prefix = 56};
	struct ratelimit *rl = ratelimit_new(&o);
	char text[32];

	assert_non_null(rl);
	for (unsigned i = 0; i < 100000; i++) {
		snprintf(text, sizeof(text), "10.%u.%u.%u", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		allowed(rl, text, i / 1000, 1);
	}
	/* Still working, still limiting. */
	assert_int_equal(allowed(rl, "192.0.2.9", 200, 10), 2);
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_address_bucket),
	    cmocka_unit_test(test_prefix_bucket),
	    cmocka_unit_test(test_exempt),
	    cmocka_unit_test(test_bounded_under_spray),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("ratelimit", tests, NULL, NULL);
}
