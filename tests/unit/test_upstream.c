#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "resolver/addr.h"
#include "resolver/upstream.h"

#define T0 1000000
#define BIT(i) (1u << (i))

static struct upstreams *
make_set(size_t n)
{
	struct sockaddr_storage addrs[UPSTREAM_MAX + 2];
	struct upstreams *s;
	char text[32], err[128];

	for (size_t i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "192.0.2.%zu", i + 1);
		assert_int_equal(addr_parse(text, 53, &addrs[i], err,
				     sizeof(err)),
		    0);
	}
	s = upstreams_new(addrs, n);
	assert_non_null(s);
	return s;
}

static void
fail_n(struct upstreams *s, int i, int n, uint64_t now, uint64_t penalty_us)
{
	for (int k = 0; k < n; k++)
		upstreams_fail(s, i, now, penalty_us);
}

static void
test_new(void **state)
{
	struct upstreams *s = make_set(3);

	assert_int_equal(s->n, 3);
	assert_int_equal(s->refs, 1);
	assert_string_equal(s->u[0].name, "192.0.2.1:53");
	assert_string_equal(s->u[2].name, "192.0.2.3:53");
	for (int i = 0; i < 3; i++)
		assert_true(upstreams_alive(s, i, T0));
	upstreams_ref(s);
	assert_int_equal(s->refs, 2);
	upstreams_unref(s);
	assert_int_equal(s->refs, 1);
	upstreams_unref(s);

	/* More than fit are cut to UPSTREAM_MAX. */
	s = make_set(UPSTREAM_MAX + 2);
	assert_int_equal(s->n, UPSTREAM_MAX);
	upstreams_unref(s);
}

static void
test_pick_lowest_srtt(void **state)
{
	struct upstreams *s = make_set(3);

	upstreams_ok(s, 0, 30000);
	upstreams_ok(s, 1, 10000);
	upstreams_ok(s, 2, 20000);
	assert_int_equal(upstreams_pick(s, 0, T0), 1);
	assert_int_equal(s->u[1].sent, 1);
	assert_int_equal(upstreams_pick(s, 0, T0), 1);
	assert_int_equal(s->u[1].sent, 2);
	upstreams_unref(s);
}

static void
test_pick_skips_tried(void **state)
{
	struct upstreams *s = make_set(3);

	upstreams_ok(s, 0, 30000);
	upstreams_ok(s, 1, 10000);
	upstreams_ok(s, 2, 20000);
	assert_int_equal(upstreams_pick(s, BIT(1), T0), 2);
	assert_int_equal(upstreams_pick(s, BIT(1) | BIT(2), T0), 0);
	assert_int_equal(upstreams_pick(s, BIT(0) | BIT(2), T0), 1);
	/* All tried and all alive: the fastest again. */
	assert_int_equal(upstreams_pick(s, BIT(0) | BIT(1) | BIT(2), T0), 1);
	upstreams_unref(s);
}

static void
test_srtt_smoothing(void **state)
{
	struct upstreams *s = make_set(1);

	/* The first answer sets it, later ones move it an eighth. */
	upstreams_ok(s, 0, 8000);
	assert_int_equal(s->u[0].srtt_us, 8000);
	upstreams_ok(s, 0, 16000);
	assert_int_equal(s->u[0].srtt_us, 9000);
	assert_int_equal(s->u[0].answered, 2);

	/* A failure costs at least the penalty. */
	upstreams_fail(s, 0, T0, 50000);
	assert_int_equal(s->u[0].srtt_us, 50000);
	upstreams_fail(s, 0, T0, 1000);
	assert_int_equal(s->u[0].srtt_us, 50000);
	assert_int_equal(s->u[0].failed, 2);
	upstreams_unref(s);
}

static void
test_dead_after_three_failures(void **state)
{
	struct upstreams *s = make_set(2);

	upstreams_ok(s, 0, 5000);
	upstreams_ok(s, 1, 50000);

	fail_n(s, 0, UPSTREAM_DEAD_AFTER - 1, T0, 5000);
	assert_true(upstreams_alive(s, 0, T0));
	assert_int_equal(upstreams_pick(s, 0, T0), 0);

	upstreams_fail(s, 0, T0, 5000);
	assert_false(upstreams_alive(s, 0, T0));
	assert_false(upstreams_alive(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS - 1));
	assert_true(upstreams_alive(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS));

	/* Faster, but dead: left alone. */
	assert_int_equal(upstreams_pick(s, 0, T0 + 1), 1);
	assert_int_equal(
	    upstreams_pick(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS - 1), 1);
	/* Back-off over: tried again. */
	assert_int_equal(upstreams_pick(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS),
	    0);
	upstreams_unref(s);
}

static void
test_backoff_doubles(void **state)
{
	struct upstreams *s = make_set(1);
	uint64_t now = T0, wait = UPSTREAM_BACKOFF_MIN_MS;

	fail_n(s, 0, UPSTREAM_DEAD_AFTER, now, 1000);
	for (int k = 0; k < 10; k++) {
		assert_false(upstreams_alive(s, 0, now + wait - 1));
		assert_true(upstreams_alive(s, 0, now + wait));
		/* The probe fails too: dead twice as long. */
		now += wait;
		upstreams_fail(s, 0, now, 1000);
		wait *= 2;
		if (wait > UPSTREAM_BACKOFF_MAX_MS)
			wait = UPSTREAM_BACKOFF_MAX_MS;
	}
	assert_int_equal(wait, UPSTREAM_BACKOFF_MAX_MS);
	upstreams_unref(s);
}

static void
test_probe_dead_when_live_tried(void **state)
{
	struct upstreams *s = make_set(3);

	upstreams_ok(s, 2, 1000);
	fail_n(s, 0, UPSTREAM_DEAD_AFTER, T0, 1000);
	fail_n(s, 1, UPSTREAM_DEAD_AFTER, T0 + 500, 1000);
	/* Only 2 lives; once tried, the dead one closest to recovery. */
	assert_int_equal(upstreams_pick(s, 0, T0 + 600), 2);
	assert_int_equal(upstreams_pick(s, BIT(2), T0 + 600), 0);
	assert_int_equal(upstreams_pick(s, BIT(2) | BIT(0), T0 + 600), 1);
	/* Everything tried: the live one over the dead. */
	assert_int_equal(
	    upstreams_pick(s, BIT(0) | BIT(1) | BIT(2), T0 + 600), 2);
	upstreams_unref(s);
}

static void
test_all_dead(void **state)
{
	struct upstreams *s = make_set(3);

	fail_n(s, 0, UPSTREAM_DEAD_AFTER, T0 + 300, 1000);
	fail_n(s, 1, UPSTREAM_DEAD_AFTER, T0 + 100, 1000);
	fail_n(s, 2, UPSTREAM_DEAD_AFTER, T0 + 200, 1000);
	assert_int_equal(upstreams_pick(s, 0, T0 + 400), 1);
	assert_int_equal(upstreams_pick(s, BIT(1), T0 + 400), 2);
	assert_int_equal(upstreams_pick(s, BIT(0) | BIT(1) | BIT(2), T0 + 400),
	    1);
	upstreams_unref(s);
}

static void
test_ok_resets(void **state)
{
	struct upstreams *s = make_set(1);

	/* Dead twice over, so the back-off has grown. */
	fail_n(s, 0, UPSTREAM_DEAD_AFTER + 1, T0, 1000);
	assert_false(upstreams_alive(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS));

	upstreams_ok(s, 0, 7000);
	assert_true(upstreams_alive(s, 0, T0));
	assert_int_equal(s->u[0].fails, 0);

	/* Counting starts again, and so does the back-off. */
	fail_n(s, 0, UPSTREAM_DEAD_AFTER - 1, T0, 1000);
	assert_true(upstreams_alive(s, 0, T0));
	upstreams_fail(s, 0, T0, 1000);
	assert_false(upstreams_alive(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS - 1));
	assert_true(upstreams_alive(s, 0, T0 + UPSTREAM_BACKOFF_MIN_MS));
	upstreams_unref(s);
}

static void
test_slow_one_retried_eventually(void **state)
{
	struct upstreams *s = make_set(2);
	int picked_slow = 0;

	upstreams_ok(s, 0, 1000);
	upstreams_ok(s, 1, 100000);
	/* Unpicked upstreams drift towards zero, so 1 gets its turn. */
	for (int k = 0; k < 1000 && !picked_slow; k++) {
		int i = upstreams_pick(s, 0, T0);

		if (i == 1)
			picked_slow = 1;
		else
			upstreams_ok(s, i, 1000);
	}
	assert_true(picked_slow);
	upstreams_unref(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_pick_lowest_srtt),
		cmocka_unit_test(test_pick_skips_tried),
		cmocka_unit_test(test_srtt_smoothing),
		cmocka_unit_test(test_dead_after_three_failures),
		cmocka_unit_test(test_backoff_doubles),
		cmocka_unit_test(test_probe_dead_when_live_tried),
		cmocka_unit_test(test_all_dead),
		cmocka_unit_test(test_ok_resets),
		cmocka_unit_test(test_slow_one_retried_eventually),
	};

	return cmocka_run_group_tests_name("upstream", tests, NULL, NULL);
}
