/*
 * Fuzz harness for feeds/parse.c. The first byte picks the format (auto,
 * hosts, domains, adblock, rpz, dnsmasq), the rest is the feed body. Every
 * name handed out must already be normalised.
 *
 * Built with -fsanitize=fuzzer it is a libFuzzer target; built with
 * replay.c instead, a program that replays its corpus as a plain test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist/name.h"
#include "feeds/parse.h"
#include "tests/fuzz/fuzz.h"

static int
check_cb(const char *name, enum bl_kind kind, int subtree, void *arg)
{
	char again[BL_NAME_MAX + 1], why[128];

	(void)arg;
	if (strlen(name) > BL_NAME_MAX ||
	    bl_name_normalise(name, again, why, sizeof(why)) != 0 ||
	    strcmp(name, again) != 0 || (kind != BL_DENY && kind != BL_ALLOW) ||
	    (subtree != 0 && subtree != 1))
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_parse_stats st;
	char err[300];
	int rc;

	if (size == 0)
		return 0;
	rc = feed_parse((const char *)data + 1, size - 1,
	    (enum feed_format)(data[0] % (FEED_FMT_DNSMASQ + 1)), check_cb,
	    NULL, &st, err, sizeof(err));
	if ((rc != 0 && rc != -1) || st.n_examples > FEED_PARSE_EXAMPLES ||
	    st.allows > st.rules)
		abort();
	(void)feed_format_detect((const char *)data, size);
	return 0;
}
