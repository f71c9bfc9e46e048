/*
 * Unit tests for feeds/parse.c: every format on small fixtures, format
 * detection, hostile bodies, and (when PARASOL_FEEDS_DATA names a folder of
 * real feed files) the real lists, including one list published in five
 * syntaxes that must all give the same names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "blocklist/name.h"
#include "feeds/parse.h"

/* What the callback saw, one rule per entry. */
struct rule {
	char name[BL_NAME_MAX + 1];
	enum bl_kind kind;
	int subtree;
};

struct seen {
	struct rule *r;
	size_t n, cap;
	size_t stop_at; /* stop (return 7) at this rule, 1-based; 0 never */
};

static int
collect_cb(const char *name, enum bl_kind kind, int subtree, void *arg)
{
	struct seen *s = arg;
	char again[BL_NAME_MAX + 1], why[128];

	/* Every name handed out is already normalised. */
	if (bl_name_normalise(name, again, why, sizeof(why)) != 0)
		fail_msg(
		    "emitted '%s', which does not normalise: %s", name, why);
	assert_string_equal(again, name);
	assert_true(subtree == 0 || subtree == 1);
	assert_true(kind == BL_DENY || kind == BL_ALLOW);
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->r = realloc(s->r, s->cap * sizeof(*s->r));
		assert_non_null(s->r);
	}
	snprintf(s->r[s->n].name, sizeof(s->r[s->n].name), "%s", name);
	s->r[s->n].kind = kind;
	s->r[s->n].subtree = subtree;
	s->n++;
	return s->stop_at != 0 && s->n == s->stop_at ? 7 : 0;
}

static void
seen_clear(struct seen *s)
{
	free(s->r);
	memset(s, 0, sizeof(*s));
}

/*
 * Parse text from an exactly sized heap copy (no NUL after it, so a read
 * past the end shows up under ASan), checking the stats add up.
 */
static int
parse_fmt(const char *text, size_t len, enum feed_format fmt, struct seen *s,
    struct feed_parse_stats *st, char *err, size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, text, len);
	memset(s, 0, sizeof(*s));
	rc = feed_parse(copy, len, fmt, collect_cb, s, st, err, errlen);
	free(copy);
	assert_int_equal(st->rules, s->n);
	assert_true(st->allows <= st->rules);
	assert_true(st->n_examples <= FEED_PARSE_EXAMPLES);
	assert_true(st->n_examples <= st->invalid);
	assert_int_not_equal(st->format, FEED_FMT_AUTO);
	return rc;
}

static int
parse_str(const char *text, enum feed_format fmt, struct seen *s,
    struct feed_parse_stats *st)
{
	char err[300];

	return parse_fmt(text, strlen(text), fmt, s, st, err, sizeof(err));
}

/* The rule for name, failing the test if there is none. */
static const struct rule *
find(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->r[i].name, name) == 0)
			return &s->r[i];
	}
	fail_msg("no rule for '%s'", name);
	return NULL;
}

static int
has(const struct seen *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->r[i].name, name) == 0)
			return 1;
	}
	return 0;
}

static void
expect(const struct seen *s, const char *name, enum bl_kind kind, int subtree)
{
	const struct rule *r = find(s, name);

	if (r->kind != kind || r->subtree != subtree)
		fail_msg("'%s': kind %d subtree %d, expected %d %d", name,
		    r->kind, r->subtree, kind, subtree);
}

static void
test_format_names(void **state)
{
	enum feed_format f;

	(void)state;
	for (int i = FEED_FMT_AUTO; i <= FEED_FMT_DNSMASQ; i++) {
		assert_int_equal(feed_format_from_name(
				     feed_format_name((enum feed_format)i), &f),
		    0);
		assert_int_equal(f, i);
	}
	assert_int_equal(feed_format_from_name("RPZ", &f), 0);
	assert_int_equal(f, FEED_FMT_RPZ);
	assert_int_equal(feed_format_from_name("unbound", &f), -1);
	assert_int_equal(feed_format_from_name("", &f), -1);
	assert_string_equal(feed_format_name(FEED_FMT_HOSTS), "hosts");
	assert_string_equal(feed_format_name((enum feed_format)99), "unknown");
}

static void
test_detect(void **state)
{
	static const struct {
		const char *text;
		enum feed_format want;
	} cases[] = {
	    {"# hosts\n127.0.0.1 localhost\n0.0.0.0 a.example\n",
		FEED_FMT_HOSTS},
	    {"a.example\nb.example\n", FEED_FMT_DOMAINS},
	    {"# only\n# comments\n", FEED_FMT_DOMAINS},
	    {"", FEED_FMT_DOMAINS},
	    {"[Adblock Plus 2.0]\n! Title: x\nexample.com##.ad\n",
		FEED_FMT_ADBLOCK},
	    {"[uBlock Origin]\nsite.example##+js(aopr, miner)\n",
		FEED_FMT_ADBLOCK},
	    {"! Title: x\n||a.example^\n||b.example^$third-party\n",
		FEED_FMT_ADBLOCK},
	    {"! header in adblock style\na.example\nb.example\n",
		FEED_FMT_DOMAINS},
	    /* No header, path rules first. */
	    {"/miner.js\n/xmr.min.js$script\n.cfm?poolid=\n||a.example^\n",
		FEED_FMT_ADBLOCK},
	    {"$TTL 300\n@ SOA localhost. root.localhost. 1 2 3 4 5\n",
		FEED_FMT_RPZ},
	    {"rpz. 300 IN SOA a. b. 1 2 3 4 5\nx.example CNAME .\n",
		FEED_FMT_RPZ},
	    {"; zone\nbad.example CNAME .\n*.bad.example CNAME .\n",
		FEED_FMT_RPZ},
	    {"# dnsmasq\naddress=/a.example/#\nserver=/b.example/\n",
		FEED_FMT_DNSMASQ},
	    {"\xef\xbb\xbf||a.example^\n", FEED_FMT_ADBLOCK},
	    {"\xef\xbb\xbf"
	     "0.0.0.0 a.example\r\n",
		FEED_FMT_HOSTS},
	    {"*.a.example\n*.b.example\n", FEED_FMT_DOMAINS},
	    {"*://a.example/*\nwss://*.b.example/proxy*\n", FEED_FMT_DOMAINS},
	    /* Not a list: read as domains, so every line is invalid. */
	    {"<!DOCTYPE html>\n<html><head><title>This is a page</title>\n"
	     "<p>A page, not a list</p>\n",
		FEED_FMT_DOMAINS},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum feed_format got =
		    feed_format_detect(cases[i].text, strlen(cases[i].text));

		if (got != cases[i].want)
			fail_msg("case %zu: detected %s, expected %s", i,
			    feed_format_name(got),
			    feed_format_name(cases[i].want));
	}
	assert_int_equal(feed_format_detect(NULL, 10), FEED_FMT_DOMAINS);
	/* A NUL in the sample does not end it. */
	assert_int_equal(
	    feed_format_detect("\0\n0.0.0.0 a.example\n", 20), FEED_FMT_HOSTS);
}

static void
test_hosts(void **state)
{
	static const char text[] =
	    "# a hosts file\n"
	    "127.0.0.1 localhost localhost.localdomain\n"
	    "::1 localhost ip6-localhost ip6-loopback\n"
	    "255.255.255.255 broadcasthost\n"
	    "0.0.0.0 0.0.0.0\n"
	    "0.0.0.0 Pool.Example.COM   # inline comment\n"
	    "0.0.0.0\tone.example two.example\tthree.example\r\n"
	    "127.0.0.1 *.wild.example\n"
	    "0.0.0.0 bad_-.\n"
	    "0.0.0.0 xmr.example:3333\n"
	    "0.0.0.0 b\xc3\xbc"
	    "cher.example\n"
	    "0.0.0.0 10.1.2.3\n"
	    "plain.example\n"
	    "two words\n"
	    "   \n"
	    "0.0.0.0 last.example";
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(text, FEED_FMT_HOSTS, &s, &st), 0);
	assert_int_equal(st.format, FEED_FMT_HOSTS);
	assert_int_equal(st.lines, 16);
	expect(&s, "pool.example.com", BL_DENY, 0);
	expect(&s, "one.example", BL_DENY, 0);
	expect(&s, "two.example", BL_DENY, 0);
	expect(&s, "three.example", BL_DENY, 0);
	expect(&s, "wild.example", BL_DENY, 1);
	expect(&s, "xmr.example", BL_DENY, 0);
	expect(&s, "xn--bcher-kva.example", BL_DENY, 0);
	expect(&s, "plain.example", BL_DENY, 0);
	expect(&s, "last.example", BL_DENY, 0);
	assert_int_equal(st.rules, 10);
	assert_int_equal(st.allows, 0);
	/* "bad_-." is a valid name; "two words" is not a line. */
	assert_false(has(&s, "localhost"));
	assert_true(has(&s, "bad_-"));
	assert_int_equal(st.invalid, 1);
	assert_int_equal(st.n_examples, 1);
	assert_string_equal(st.examples[0],
	    "line 14: more than one word without an address: two words");
	/*
	 * Skipped: the comment, 2 + 3 + 1 localhost names, 0.0.0.0, the
	 * address 10.1.2.3 and the blank line.
	 */
	assert_int_equal(st.skipped, 10);
	seen_clear(&s);
}

static void
test_domains(void **state)
{
	static const char text[] = "# comment\n"
				   "! comment\n"
				   "; comment\n"
				   "\n"
				   "a.example\n"
				   "B.Example.\n"
				   "*.c.example\n"
				   "d.example # why\n"
				   "192.0.2.1\n"
				   "2001:db8::1\n"
				   "host.example/path/x.js\n"
				   "*://e.example/*\n"
				   "wss://*.f.example/proxy*\n"
				   "https://user@g.example:8443/\n"
				   "*://*/*\n"
				   "two names.example\n"
				   "bad..example\n"
				   "<p>\n"
				   "0.0.0.0 h.example\n";
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(text, FEED_FMT_DOMAINS, &s, &st), 0);
	assert_int_equal(st.lines, 19);
	expect(&s, "a.example", BL_DENY, 0);
	expect(&s, "b.example", BL_DENY, 0);
	expect(&s, "c.example", BL_DENY, 1);
	expect(&s, "d.example", BL_DENY, 0);
	expect(&s, "e.example", BL_DENY, 0);
	expect(&s, "g.example", BL_DENY, 0);
	expect(&s, "h.example", BL_DENY, 0);
	assert_false(has(&s, "f.example")); /* has a path */
	assert_int_equal(st.rules, 7);
	/* 4 comments/blank, 2 addresses, 2 paths. */
	assert_int_equal(st.skipped, 8);
	/* The all-hosts pattern, "two names.example", "bad..example", "<p>". */
	assert_int_equal(st.invalid, 4);
	assert_int_equal(st.n_examples, 3);
	assert_string_equal(st.examples[0], "line 15: matches every name: *");
	assert_string_equal(
	    st.examples[1], "line 16: more than one name: two names.example");
	assert_string_equal(
	    st.examples[2], "line 17: empty label: bad..example");
	seen_clear(&s);
}

static void
test_adblock(void **state)
{
	static const char text[] =
	    "[Adblock Plus 2.0]\n"
	    "! Title: test\n"
	    "||a.example^\n"
	    "||b.example^$third-party\n"
	    "||c.example^$important,~third-party\n"
	    "||d.example\n"
	    "||e.example$3p\n"
	    "@@||f.example^\n"
	    "@@||g.example^$important\n"
	    "||h.example^|\n"
	    "||*.i.example^\n"
	    "||J.Example^$document\n"
	    /* Narrowed rules: skipped. */
	    "||k.example^$websocket\n"
	    "||l.example^$script,third-party\n"
	    "||m.example^$domain=site.example\n"
	    "||n.example^$third-party,domain=~n.example\n"
	    "||o.example^$badfilter\n"
	    "||p.example^$dnsrewrite=1.2.3.4\n"
	    "||q.example^$~document\n"
	    "@@||r.example^$websocket\n"
	    "@@||s.example^$elemhide\n"
	    /* Paths, patterns, cosmetics, regexes: skipped. */
	    "||t.example/path.js\n"
	    "||u.example^*/x.js\n"
	    "||v.example:8080^\n"
	    "||w.*^\n"
	    "||x.example.\n"
	    "/miner.js\n"
	    "-coin-hive.js\n"
	    ".3.n.2.1.l50.js\n"
	    "/^https?:\\/\\/x\\./$script\n"
	    "example.org##.ad\n"
	    "example.org#@#.ad\n"
	    "example.org#?#div:has(.ad)\n"
	    "example.org#$#body { x: y }\n"
	    "##.banner\n"
	    "y.example^$third-party\n"
	    "@@plain.example\n"
	    "|https://z.example^\n"
	    /* IP literal: skipped. */
	    "||192.0.2.7^$third-party\n"
	    /* Plain names and hosts lines, as uBlock reads them. */
	    "plain.example\n"
	    "0.0.0.0 hosts.example\n"
	    /* Invalid. */
	    "||bad..example^\n"
	    "||sp ace.example^\n";
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(text, FEED_FMT_ADBLOCK, &s, &st), 0);
	expect(&s, "a.example", BL_DENY, 1);
	expect(&s, "b.example", BL_DENY, 1);
	expect(&s, "c.example", BL_DENY, 1);
	expect(&s, "d.example", BL_DENY, 1);
	expect(&s, "e.example", BL_DENY, 1);
	expect(&s, "f.example", BL_ALLOW, 1);
	expect(&s, "g.example", BL_ALLOW, 1);
	expect(&s, "h.example", BL_DENY, 1);
	expect(&s, "i.example", BL_DENY, 1);
	expect(&s, "j.example", BL_DENY, 1);
	expect(&s, "plain.example", BL_DENY, 0);
	expect(&s, "hosts.example", BL_DENY, 0);
	assert_int_equal(st.rules, 12);
	assert_int_equal(st.allows, 2);
	assert_int_equal(st.invalid, 2);
	assert_int_equal(st.lines, 43);
	assert_int_equal(st.skipped, st.lines - st.rules - st.invalid);
	assert_string_equal(
	    st.examples[0], "line 42: empty label: bad..example");
	assert_string_equal(
	    st.examples[1], "line 43: space in a host rule: ||sp ace.example^");
	seen_clear(&s);
}

static void
test_dnsmasq(void **state)
{
	static const char text[] = "# dnsmasq\n"
				   "address=/a.example/#\n"
				   "address=/b.example/0.0.0.0\n"
				   "address=/c.example/::\n"
				   "address=/d.example/\n"
				   "address=/e.example/f.example/127.0.0.1\n"
				   "server=/g.example/\n"
				   "local=/h.example/\n"
				   "server=/i.example/#\n"
				   "server=/j.example/192.0.2.53\n"
				   "address=/.k.example/#\n"
				   "address=/*.l.example/#\n"
				   "  address=/M.Example/#  \r\n"
				   "server=8.8.8.8\n"
				   "domain-needed\n"
				   "cache-size=1000\n"
				   "address=//#\n"
				   "address=/#/#\n"
				   "address=/n.example\n"
				   "address=/bad..example/#\n"
				   "<html>\n";
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(text, FEED_FMT_DNSMASQ, &s, &st), 0);
	expect(&s, "a.example", BL_DENY, 1);
	expect(&s, "b.example", BL_DENY, 1);
	expect(&s, "c.example", BL_DENY, 1);
	expect(&s, "d.example", BL_DENY, 1);
	expect(&s, "e.example", BL_DENY, 1);
	expect(&s, "f.example", BL_DENY, 1);
	expect(&s, "g.example", BL_DENY, 1);
	expect(&s, "h.example", BL_DENY, 1);
	expect(&s, "i.example", BL_ALLOW, 1);
	expect(&s, "k.example", BL_DENY, 1);
	expect(&s, "l.example", BL_DENY, 1);
	expect(&s, "m.example", BL_DENY, 1);
	assert_false(has(&s, "j.example"));
	assert_int_equal(st.rules, 12);
	assert_int_equal(st.allows, 1);
	/* comment, forwarding, global server, 2 flags/options, "//". */
	assert_int_equal(st.skipped, 6);
	assert_int_equal(st.invalid, 4);
	assert_string_equal(
	    st.examples[0], "line 18: '#' matches every name: #");
	assert_string_equal(st.examples[1],
	    "line 19: no closing '/' after the names: address=/n.example");
	assert_string_equal(
	    st.examples[2], "line 20: empty label: bad..example");
	seen_clear(&s);
}

static const char rpz_zone[] = "$TTL 300\n"
			       "$ORIGIN rpz.example.\n"
			       "@ IN SOA ns.rpz.example. admin.rpz.example. (\n"
			       "   1 ; serial\n"
			       "   3600 600 86400 60 )\n"
			       "  IN NS ns.rpz.example.\n"
			       "; policy\n"
			       "bad.example CNAME .\n"
			       "*.bad.example CNAME .\n"
			       "nodata.example CNAME *.\n"
			       "*.sub.example CNAME *.\n"
			       "ok.bad.example CNAME rpz-passthru.\n"
			       "drop.example CNAME rpz-drop.\n"
			       "sink.example A 0.0.0.0\n"
			       "sink6.example 60 IN AAAA ::\n"
			       "garden.example CNAME walled.garden.example.\n"
			       "abs.example.rpz.example. CNAME .\n"
			       "Upper.Example CNAME .\n"
			       "tcp.example CNAME rpz-tcp-only.\n"
			       "32.1.0.0.127.rpz-ip CNAME .\n"
			       "ns.evil.example.rpz-nsdname CNAME .\n"
			       "outside.example. CNAME .\n"
			       "broken.example CNAME\n"
			       "\\046dot.example CNAME .\n";

static void
test_rpz(void **state)
{
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(rpz_zone, FEED_FMT_AUTO, &s, &st), 0);
	assert_int_equal(st.format, FEED_FMT_RPZ);
	assert_int_equal(st.lines, 24);
	expect(&s, "bad.example", BL_DENY, 1); /* name + *.name: one rule */
	expect(&s, "nodata.example", BL_DENY, 0);
	expect(&s, "sub.example", BL_DENY, 1);
	expect(&s, "ok.bad.example", BL_ALLOW, 0);
	expect(&s, "drop.example", BL_DENY, 0);
	expect(&s, "sink.example", BL_DENY, 0);
	expect(&s, "sink6.example", BL_DENY, 0);
	expect(&s, "garden.example", BL_DENY, 0);
	expect(&s, "abs.example", BL_DENY, 0);
	expect(&s, "upper.example", BL_DENY, 0);
	assert_int_equal(st.rules, 10);
	assert_int_equal(st.allows, 1);
	assert_false(has(&s, "rpz.example"));
	assert_false(has(&s, "tcp.example"));
	assert_int_equal(st.invalid, 3);
	assert_string_equal(st.examples[0],
	    "line 22: name outside the zone: outside.example. CNAME .");
	assert_string_equal(st.examples[1],
	    "line 23: Syntax error, value expected: broken.example CNAME");
	assert_string_equal(st.examples[2],
	    "line 24: label with a dot or NUL byte: \\046dot.example CNAME .");
	seen_clear(&s);
}

static void
test_rpz_origins(void **state)
{
	struct feed_parse_stats st;
	struct seen s;
	/* No $ORIGIN: relative names are names. */
	static const char hagezi_style[] =
	    "$TTL 300\n"
	    "@ SOA localhost. root.localhost. 1 43200 3600 259200 300\n"
	    "  NS  localhost.\n"
	    "a.example CNAME .\n"
	    "*.a.example CNAME .\n";
	/* The SOA owner is the origin of what follows. */
	static const char soa_origin[] =
	    "rpz.local. 300 IN SOA localhost. root.localhost. 1 2 3 4 5\n"
	    "rpz.local. NS localhost.\n"
	    "rel.example CNAME .\n"
	    "abs.example.rpz.local. CNAME .\n"
	    "www.rpz.local CNAME .\n";
	/* Wildcard at the apex would match everything. */
	static const char apex_wild[] = "$ORIGIN rpz.\n"
					"* CNAME .\n"
					"ok.example CNAME .\n";

	(void)state;
	assert_int_equal(parse_str(hagezi_style, FEED_FMT_RPZ, &s, &st), 0);
	assert_int_equal(st.rules, 1);
	expect(&s, "a.example", BL_DENY, 1);
	assert_int_equal(st.invalid, 0);
	seen_clear(&s);

	assert_int_equal(parse_str(soa_origin, FEED_FMT_RPZ, &s, &st), 0);
	expect(&s, "rel.example", BL_DENY, 0);
	expect(&s, "abs.example", BL_DENY, 0);
	expect(&s, "www.rpz.local", BL_DENY, 0);
	assert_int_equal(st.rules, 3);
	seen_clear(&s);

	assert_int_equal(parse_str(apex_wild, FEED_FMT_RPZ, &s, &st), 0);
	assert_int_equal(st.rules, 1);
	assert_int_equal(st.invalid, 1);
	assert_string_equal(st.examples[0], "line 2: matches every name: *");
	seen_clear(&s);
}

static void
test_rpz_include(void **state)
{
	static const char *const bodies[] = {
	    "$TTL 300\nx.example CNAME .\n$INCLUDE /etc/passwd\n",
	    "$TTL 300\n  $include /etc/passwd\nx.example CNAME .\n",
	    "x.example CNAME .\n$INCLUDE\n",
	};
	struct feed_parse_stats st;
	struct seen s;
	char err[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		err[0] = '\0';
		assert_int_equal(parse_fmt(bodies[i], strlen(bodies[i]),
				     FEED_FMT_AUTO, &s, &st, err, sizeof(err)),
		    -1);
		assert_int_equal(st.format, FEED_FMT_RPZ);
		/* Refused before any rule is handed out. */
		assert_int_equal(s.n, 0);
		assert_non_null(strstr(err, "$INCLUDE is refused"));
		seen_clear(&s);
	}
	/* Other formats take "$INCLUDE" as an invalid line, no more. */
	assert_int_equal(
	    parse_str("$INCLUDE x\n", FEED_FMT_DOMAINS, &s, &st), 0);
	assert_int_equal(st.invalid, 1);
	seen_clear(&s);
}

/*
 * Stray ")" make ldns end a record every two bytes. A megabyte of them must
 * stay linear work: a per-record rescan of the line once took minutes here,
 * which meson's test timeout turns into a failure.
 */
static void
test_rpz_tiny_records(void **state)
{
	size_t per = 30000, lines = 64, len = lines * (2 * per + 1);
	char *body = malloc(len);
	struct feed_parse_stats st;
	struct seen s;
	char err[300];
	size_t o = 0;

	(void)state;
	assert_non_null(body);
	for (size_t l = 0; l < lines; l++) {
		for (size_t i = 0; i < per; i++) {
			body[o++] = 'a';
			body[o++] = ')';
		}
		body[o++] = '\n';
	}
	assert_int_equal(
	    parse_fmt(body, len, FEED_FMT_RPZ, &s, &st, err, sizeof(err)), 0);
	assert_int_equal(st.lines, lines);
	assert_int_equal(st.rules, 0);
	assert_int_equal(st.invalid, lines);
	seen_clear(&s);
	free(body);
}

/* "*.name" means the subtree in every format. */
static void
test_wildcards(void **state)
{
	static const struct {
		enum feed_format fmt;
		const char *text;
	} cases[] = {
	    {FEED_FMT_HOSTS, "0.0.0.0 *.w.example\n"},
	    {FEED_FMT_DOMAINS, "*.w.example\n"},
	    {FEED_FMT_ADBLOCK, "*.w.example\n"},
	    {FEED_FMT_ADBLOCK, "||*.w.example^\n"},
	    {FEED_FMT_DNSMASQ, "address=/*.w.example/#\n"},
	    {FEED_FMT_RPZ, "*.w.example CNAME .\n"},
	};
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    parse_str(cases[i].text, cases[i].fmt, &s, &st), 0);
		assert_int_equal(st.rules, 1);
		expect(&s, "w.example", BL_DENY, 1);
		seen_clear(&s);
	}
}

/* A rule repeating the one just before is merged into it. */
static void
test_merge(void **state)
{
	static const char text[] = "a.example\n"
				   "*.a.example\n"
				   "A.EXAMPLE\n"
				   "b.example\n"
				   "a.example\n";
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	assert_int_equal(parse_str(text, FEED_FMT_DOMAINS, &s, &st), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.r[0].name, "a.example");
	assert_int_equal(s.r[0].subtree, 1);
	assert_string_equal(s.r[1].name, "b.example");
	assert_string_equal(s.r[2].name, "a.example");
	assert_int_equal(s.r[2].subtree, 0);
	assert_int_equal(st.skipped, 2);
	seen_clear(&s);
	/* An allow and a deny of one name stay two rules. */
	assert_int_equal(parse_str("||c.example^\n@@||c.example^\n",
			     FEED_FMT_ADBLOCK, &s, &st),
	    0);
	assert_int_equal(s.n, 2);
	seen_clear(&s);
}

static void
test_callback_stop(void **state)
{
	static const char text[] = "a.example\nb.example\nc.example\n";
	struct feed_parse_stats st;
	struct seen s = {.stop_at = 2};

	(void)state;
	assert_int_equal(feed_parse(text, strlen(text), FEED_FMT_DOMAINS,
			     collect_cb, &s, &st, NULL, 0),
	    7);
	assert_int_equal(s.n, 2);
	seen_clear(&s);
	s.stop_at = 1;
	assert_int_equal(feed_parse(rpz_zone, strlen(rpz_zone), FEED_FMT_RPZ,
			     collect_cb, &s, &st, NULL, 0),
	    7);
	assert_int_equal(s.n, 1);
	seen_clear(&s);
}

/* Examples: at most three, numbered, quoted short and printable. */
static void
test_examples(void **state)
{
	char text[512];
	struct feed_parse_stats st;
	struct seen s;
	int n;

	(void)state;
	n = snprintf(text, sizeof(text),
	    "ok.example\n"
	    "bad\x01name.example\n"
	    "%0100d.example\n"
	    "x..y\n"
	    "a..b\n",
	    0);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(parse_str(text, FEED_FMT_DOMAINS, &s, &st), 0);
	assert_int_equal(st.rules, 1);
	assert_int_equal(st.invalid, 4);
	assert_int_equal(st.n_examples, 3);
	assert_string_equal(st.examples[0],
	    "line 2: character '\\?' not allowed: bad?name.example");
	assert_non_null(strstr(st.examples[1],
	    "line 3: label longer than 63: "
	    "0000"));
	assert_non_null(strstr(st.examples[1], "...")); /* truncated */
	assert_true(strlen(st.examples[1]) < 120);
	assert_string_equal(st.examples[2], "line 4: empty label: x..y");
	seen_clear(&s);
}

/* NULs, CRs, a BOM, no final newline, an overlong line. */
static void
test_hostile_lines(void **state)
{
	static const char nul[] = "a.example\n"
				  "b.ex\0ample\n"
				  "\0\n"
				  "c.example\r\n"
				  "\r\n"
				  "d.example";
	struct feed_parse_stats st;
	struct seen s;
	size_t big = 1 << 20;
	char *huge;
	char err[300];

	(void)state;
	for (int f = FEED_FMT_HOSTS; f <= FEED_FMT_DNSMASQ; f++) {
		assert_int_equal(
		    parse_fmt(nul, sizeof(nul) - 1, (enum feed_format)f, &s,
			&st, err, sizeof(err)),
		    0);
		assert_int_equal(st.lines, 6);
		assert_true(st.invalid >= 2);
		assert_true(strstr(st.examples[0], "NUL byte") != NULL ||
		    strstr(st.examples[1], "NUL byte") != NULL);
		if (f == FEED_FMT_DOMAINS) {
			assert_int_equal(st.rules, 3);
			assert_string_equal(s.r[2].name, "d.example");
			assert_string_equal(st.examples[0],
			    "line 2: NUL byte in the line: b.ex?ample");
		}
		seen_clear(&s);
	}
	assert_int_equal(parse_str("\xef\xbb\xbf"
				   "a.example\n",
			     FEED_FMT_DOMAINS, &s, &st),
	    0);
	expect(&s, "a.example", BL_DENY, 0);
	seen_clear(&s);
	/* A BOM mapped away must not leave an address behind as a name. */
	assert_int_equal(parse_str("1.2.3.4\n1\xef\xbb\xbf.2.3.4\n",
			     FEED_FMT_DOMAINS, &s, &st),
	    0);
	assert_int_equal(st.rules, 0);
	/* The plain address is skipped; the disguised one is invalid. */
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.invalid, 1);
	seen_clear(&s);
	/* Elsewhere it is a character in a name, which UTS 46 maps away. */
	assert_int_equal(parse_str("a.example\n\xef\xbb\xbf"
				   "b.example\n",
			     FEED_FMT_DOMAINS, &s, &st),
	    0);
	expect(&s, "b.example", BL_DENY, 0);
	seen_clear(&s);

	/* A megabyte on one line, then a good line, in every format. */
	huge = malloc(big + 16);
	assert_non_null(huge);
	memset(huge, 'a', big);
	memcpy(huge + big, "\nz.example\n", 11);
	for (int f = FEED_FMT_HOSTS; f <= FEED_FMT_DNSMASQ; f++) {
		enum feed_format fmt = (enum feed_format)f;

		assert_int_equal(
		    parse_fmt(huge, big + 11, fmt, &s, &st, err, sizeof(err)),
		    0);
		assert_int_equal(st.lines, 2);
		/* RPZ and dnsmasq also refuse the bare "z.example". */
		assert_int_equal(st.invalid,
		    fmt == FEED_FMT_RPZ || fmt == FEED_FMT_DNSMASQ ? 2 : 1);
		assert_non_null(
		    strstr(st.examples[0], "line 1: line too long"));
		if (fmt == FEED_FMT_DOMAINS || fmt == FEED_FMT_HOSTS ||
		    fmt == FEED_FMT_ADBLOCK)
			expect(&s, "z.example", BL_DENY, 0);
		seen_clear(&s);
	}
	/* Long but under the line cap: one long invalid word. */
	huge[60000] = '\n';
	assert_int_equal(parse_fmt(huge, big + 11, FEED_FMT_DOMAINS, &s, &st,
			     err, sizeof(err)),
	    0);
	assert_int_equal(st.invalid, 2);
	assert_non_null(strstr(st.examples[0], "name too long"));
	seen_clear(&s);
	free(huge);
}

/* An HTML error page: no rules, every line accounted for, mostly invalid. */
static void
test_html(void **state)
{
	static const char page[] =
	    "<!DOCTYPE html>\n"
	    "<html lang=\"en\">\n"
	    "<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<title>404 Not Found</title>\n"
	    "</head>\n"
	    "<body>\n"
	    "<h1>Not Found</h1>\n"
	    "<p>The requested URL was not found on this server.</p>\n"
	    "<script src=\"https://cdn.example/app.js\"></script>\n"
	    "</body>\n"
	    "</html>\n";
	struct feed_parse_stats st;
	struct seen s;
	char err[300];

	(void)state;
	for (int f = FEED_FMT_AUTO; f <= FEED_FMT_DNSMASQ; f++) {
		int rc = parse_fmt(page, sizeof(page) - 1, (enum feed_format)f,
		    &s, &st, err, sizeof(err));

		assert_int_equal(rc, 0);
		assert_int_equal(st.rules, 0);
		assert_int_equal(st.lines, 12);
		/* An adblock list reads any text as URL patterns. */
		if (f != FEED_FMT_ADBLOCK)
			assert_true(st.invalid >= 10);
		seen_clear(&s);
	}
}

/* Deterministic junk through every parser; only survival is checked. */
static void
test_garbage(void **state)
{
	static const char alphabet[] = "\0\n\r\t ./*|^$@#!;=:-_()\"\\[]~,"
				       "abcxyz0129\xc3\xbc\xff";
	uint32_t x = 2463534242u;
	size_t len = 1 << 16;
	char *buf = malloc(len);
	struct feed_parse_stats st;
	struct seen s;
	char err[300];

	(void)state;
	assert_non_null(buf);
	for (int round = 0; round < 24; round++) {
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* Half the rounds: pure bytes; half: token soup. */
			buf[i] = round % 2
			    ? (char)(x & 0xff)
			    : alphabet[x % (sizeof(alphabet) - 1)];
		}
		for (int f = FEED_FMT_AUTO; f <= FEED_FMT_DNSMASQ; f++) {
			int rc = parse_fmt(buf, len, (enum feed_format)f, &s,
			    &st, err, sizeof(err));

			assert_true(rc == 0 || rc == -1);
			if (rc == -1)
				assert_true(err[0] != '\0');
			assert_true(st.lines > 0);
			seen_clear(&s);
		}
	}
	free(buf);
}

static void
test_empty(void **state)
{
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	for (int f = FEED_FMT_AUTO; f <= FEED_FMT_DNSMASQ; f++) {
		assert_int_equal(
		    parse_str("", (enum feed_format)f, &s, &st), 0);
		assert_int_equal(st.lines, 0);
		assert_int_equal(st.rules, 0);
		seen_clear(&s);
	}
	assert_int_equal(
	    feed_parse(NULL, 5, FEED_FMT_HOSTS, collect_cb, &s, &st, NULL, 0),
	    0);
	assert_int_equal(st.lines, 0);
}

/* Real feeds ------------------------------------------------------------ */

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n = -1;

	if (fp == NULL)
		fail_msg("cannot open %s", path);
	if (fseek(fp, 0, SEEK_END) == 0)
		n = ftell(fp);
	if (n < 0 || fseek(fp, 0, SEEK_SET) != 0)
		fail_msg("cannot size %s", path);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
		fail_msg("short read on %s", path);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The distinct names of s, sorted; returns how many. */
static size_t
distinct(const struct seen *s, char ***out)
{
	char **v = malloc((s->n + 1) * sizeof(*v));
	size_t k = 0;

	assert_non_null(v);
	for (size_t i = 0; i < s->n; i++)
		v[i] = s->r[i].name;
	qsort(v, s->n, sizeof(*v), cmp_str);
	for (size_t i = 0; i < s->n; i++) {
		if (k == 0 || strcmp(v[k - 1], v[i]) != 0)
			v[k++] = v[i];
	}
	*out = v;
	return k;
}

static const char *
feeds_dir(void)
{
	const char *dir = getenv("PARASOL_FEEDS_DATA");
	struct stat sb;

	if (dir == NULL || dir[0] == '\0') {
		print_message("skipped: set PARASOL_FEEDS_DATA to a folder of "
			      "real feed files to run this test\n");
		return NULL;
	}
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		print_message("skipped: PARASOL_FEEDS_DATA=%s is not a "
			      "folder\n",
		    dir);
		return NULL;
	}
	return dir;
}

static void
parse_file(const char *dir, const char *rel, enum feed_format fmt,
    struct seen *s, struct feed_parse_stats *st)
{
	char path[4096], err[300];
	size_t len;
	char *body;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	body = read_file(path, &len);
	rc = parse_fmt(body, len, fmt, s, st, err, sizeof(err));
	free(body);
	if (rc != 0)
		fail_msg("%s: rc %d: %s", rel, rc, err);
	print_message("%-52s %-7s %6zu rules %4zu allows %6zu skipped "
		      "%6zu invalid\n",
	    rel, feed_format_name(st->format), st->rules, st->allows,
	    st->skipped, st->invalid);
}

/*
 * Every real file: the detected format and the counts. The comments say
 * where the numbers differ from the files' own entry counts.
 */
static void
test_real_feeds(void **state)
{
	static const struct {
		const char *path;
		enum feed_format fmt;
		size_t rules, allows, invalid;
	} files[] = {
	    {"nocoin/hosts.txt", FEED_FMT_HOSTS, 313, 0, 0},
	    /*
	     * 198 "||name^" rules less 7 IP literals, 1 limited by $domain=
	     * and 3 by $websocket. The 8 "@@" exceptions are 3 path rules
	     * and 5 $websocket ones: none is a whole-name allow.
	     */
	    {"nocoin/nocoin.txt", FEED_FMT_ADBLOCK, 187, 0, 0},
	    {"nocoin/nocoin-ublock.txt", FEED_FMT_ADBLOCK, 0, 0, 0},
	    /* 5,939 lines, 5,830 distinct (checked below). */
	    {"anudeepnd/CoinMiner.txt", FEED_FMT_HOSTS, 5939, 0, 0},
	    /* Two entries carry a port ("hashbag.cc:8688"), dropped. */
	    {"coinblockerlists-2018/hosts", FEED_FMT_HOSTS, 5837, 0, 0},
	    {"coinblockerlists-2018/list.txt", FEED_FMT_DOMAINS, 5837, 0, 0},
	    {"coinblockerlists-2018/hosts_browser", FEED_FMT_HOSTS, 1704, 0, 0},
	    {"coinblockerlists-2018/list_browser.txt", FEED_FMT_DOMAINS, 1705,
		0, 0},
	    {"coinblockerlists-2018/list_browser_UBO.txt", FEED_FMT_DOMAINS,
		737, 0, 0},
	    {"coinblockerlists-2018/hosts_optional", FEED_FMT_HOSTS, 296, 0, 0},
	    {"coinblockerlists-2018/list_optional.txt", FEED_FMT_DOMAINS, 296,
		0, 0},
	    {"coinblockerlists-2018/white_list.txt", FEED_FMT_DOMAINS, 15, 0,
		0},
	    /* 29 entries; one is a URL with a path. */
	    {"coinblockerlists-2018/invalid_hosts.txt", FEED_FMT_DOMAINS, 28, 0,
		0},
	    /* Addresses only. */
	    {"coinblockerlists-2018/MiningServerIPList.txt", FEED_FMT_DOMAINS,
		0, 0, 0},
	    {"ut1/cryptojacking/domains", FEED_FMT_DOMAINS, 11491, 0, 0},
	    {"ut1/cryptojacking/urls", FEED_FMT_DOMAINS, 0, 0, 0},
	    /* 1,419 lines, 25 of them IPv4 literals. */
	    {"ut1/bitcoin/domains", FEED_FMT_DOMAINS, 1394, 0, 0},
	    /* 23,788 entries; "0.0.0.0 0.0.0.0"-style lines skipped. */
	    {"blocklistproject/crypto.txt", FEED_FMT_HOSTS, 23788, 0, 0},
	    {"blocklistproject/crypto-dnsmasq.txt", FEED_FMT_DNSMASQ, 23786, 0,
		0},
	    {"shadowwhisperer/Cryptocurrency", FEED_FMT_DOMAINS, 1277, 0, 0},
	    {"laniksj/cryptomining-domains.txt", FEED_FMT_ADBLOCK, 96, 0, 0},
	    {"adguard/cryptominers.txt", FEED_FMT_ADBLOCK, 70, 0, 0},
	    /* WebExtension match patterns: the whole-host ones. */
	    {"keraf-nocoin/blacklist.txt", FEED_FMT_DOMAINS, 41, 0, 0},
	    /* Not lists: JSON and unbound syntax are all invalid. */
	    {"misp-warninglists/umbrella-blockpage-hostname.json",
		FEED_FMT_DOMAINS, 0, 0, 19},
	    {"hagezi-tif-medium/unbound/tif.medium.blacklist.conf",
		FEED_FMT_DOMAINS, 0, 0, 21713},
	};
	const char *dir = feeds_dir();
	struct feed_parse_stats st;
	struct seen s;
	char **names;

	(void)state;
	if (dir == NULL) {
		skip();
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		parse_file(dir, files[i].path, FEED_FMT_AUTO, &s, &st);
		if (st.format != files[i].fmt || st.rules != files[i].rules ||
		    st.allows != files[i].allows ||
		    st.invalid != files[i].invalid)
			fail_msg("%s: %s %zu rules %zu allows %zu invalid, "
				 "expected %s %zu %zu %zu",
			    files[i].path, feed_format_name(st.format),
			    st.rules, st.allows, st.invalid,
			    feed_format_name(files[i].fmt), files[i].rules,
			    files[i].allows, files[i].invalid);
		if (strcmp(files[i].path, "anudeepnd/CoinMiner.txt") == 0) {
			assert_int_equal(distinct(&s, &names), 5830);
			free(names);
		}
		seen_clear(&s);
	}
}

/* One list, five syntaxes, one set of names. */
static void
test_real_same_list(void **state)
{
	static const struct {
		const char *path;
		enum feed_format fmt;
		int subtree; /* what every rule must say */
	} files[] = {
	    {"hagezi-tif-medium/adblock/tif.medium.txt", FEED_FMT_ADBLOCK, 1},
	    {"hagezi-tif-medium/dnsmasq/tif.medium.txt", FEED_FMT_DNSMASQ, 1},
	    {"hagezi-tif-medium/wildcard/tif.medium.txt", FEED_FMT_DOMAINS, 1},
	    {"hagezi-tif-medium/wildcard/tif.medium-onlydomains.txt",
		FEED_FMT_DOMAINS, 0},
	    {"hagezi-tif-medium/rpz/tif.medium.txt", FEED_FMT_RPZ, 1},
	};
	const char *dir = feeds_dir();
	struct seen s, first = {0};
	struct feed_parse_stats st;
	char **a = NULL, **b;
	size_t na = 0;

	(void)state;
	if (dir == NULL) {
		skip();
		return;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t nb;

		parse_file(dir, files[i].path, FEED_FMT_AUTO, &s, &st);
		assert_int_equal(st.format, files[i].fmt);
		assert_int_equal(st.invalid, 0);
		assert_int_equal(st.allows, 0);
		assert_int_equal(st.rules, 21712);
		for (size_t k = 0; k < s.n; k++) {
			if (s.r[k].subtree != files[i].subtree)
				fail_msg("%s: '%s' subtree %d", files[i].path,
				    s.r[k].name, s.r[k].subtree);
		}
		nb = distinct(&s, &b);
		assert_int_equal(nb, 21712);
		if (i == 0) {
			first = s;
			a = b;
			na = nb;
			continue;
		}
		for (size_t k = 0; k < nb; k++) {
			if (strcmp(a[k], b[k]) != 0)
				fail_msg("%s differs from %s at '%s' / '%s'",
				    files[i].path, files[0].path, b[k], a[k]);
		}
		assert_int_equal(nb, na);
		free(b);
		seen_clear(&s);
	}
	free(a);
	seen_clear(&first);
}

/* Every real file through every parser: no crash, no error return. */
static void
test_real_every_format(void **state)
{
	static const char *const paths[] = {
	    "nocoin/hosts.txt",
	    "nocoin/nocoin.txt",
	    "keraf-nocoin/blacklist.txt",
	    "coinblockerlists-2018/invalid_hosts.txt",
	    "coinblockerlists-2018/list.txt",
	    "laniksj/cryptomining-domains.txt",
	    "adguard/cryptominers.txt",
	    "misp-warninglists/umbrella-blockpage-v6.json",
	    "hagezi-tif-medium/rpz/tif.medium.txt",
	    "hagezi-tif-medium/unbound/tif.medium.blacklist.conf",
	};
	const char *dir = feeds_dir();
	struct feed_parse_stats st;
	struct seen s;

	(void)state;
	if (dir == NULL) {
		skip();
		return;
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (int f = FEED_FMT_HOSTS; f <= FEED_FMT_DNSMASQ; f++) {
			parse_file(dir, paths[i], (enum feed_format)f, &s, &st);
			assert_int_equal(st.format, f);
			seen_clear(&s);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_names),
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_domains),
	    cmocka_unit_test(test_adblock),
	    cmocka_unit_test(test_dnsmasq),
	    cmocka_unit_test(test_rpz),
	    cmocka_unit_test(test_rpz_origins),
	    cmocka_unit_test(test_rpz_include),
	    cmocka_unit_test(test_rpz_tiny_records),
	    cmocka_unit_test(test_wildcards),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_callback_stop),
	    cmocka_unit_test(test_examples),
	    cmocka_unit_test(test_hostile_lines),
	    cmocka_unit_test(test_html),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_real_feeds),
	    cmocka_unit_test(test_real_same_list),
	    cmocka_unit_test(test_real_every_format),
	};

	return cmocka_run_group_tests_name("feedparse", tests, NULL, NULL);
}
