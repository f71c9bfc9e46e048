/*
 * The feed formats. Every parser walks the body line by line without
 * copying it (RPZ excepted: ldns reads a cleaned copy through a FILE), and
 * every name goes through one function, take_name, which strips a leading
 * "*.", skips IP literals and hosts-file boilerplate, normalises, and hands
 * the rule on. A rule that repeats the one just before it for the same
 * name is merged into it, so the RPZ idiom "name" + "*.name" and the
 * adblock/hosts habit of listing a name twice in a row give one rule.
 *
 * What counts as what:
 *   rules    names handed to the callback
 *   skipped  blank lines, comments, headers, lines or rules that mean
 *            nothing to a DNS resolver (cosmetic and path rules, IP
 *            literals, forwarding directives, zone apex records)
 *   invalid  lines or names that cannot be read; the updater refuses a
 *            feed when too many are, so text that is not a list at all
 *            (an HTML page, binary junk) must land here, not in skipped
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ldns/ldns.h>

#include "blocklist/name.h"
#include "feeds/parse.h"

/* Lines longer than this are invalid; no format needs them. */
#define LINE_CAP 65536
/* How much of a line an invalid-line example quotes. */
#define EXAMPLE_TEXT 64
/* How much of the body feed_format_detect looks at. */
#define DETECT_BYTES 65536
#define DETECT_LINES 200

struct parser {
	feed_emit_cb emit;
	void *arg;
	struct feed_parse_stats *st;
	size_t line; /* 1-based number of the line being read */
	const char *text; /* that line, for examples */
	size_t textlen;
	/* The last rule read, held back so a repeat can be merged in. */
	int pending;
	char pname[BL_NAME_MAX + 1];
	enum bl_kind pkind;
	int psubtree;
};

static const char *const format_names[] = {
    [FEED_FMT_AUTO] = "auto",
    [FEED_FMT_HOSTS] = "hosts",
    [FEED_FMT_DOMAINS] = "domains",
    [FEED_FMT_ADBLOCK] = "adblock",
    [FEED_FMT_RPZ] = "rpz",
    [FEED_FMT_DNSMASQ] = "dnsmasq",
};

/* Names hosts files map to themselves, not entries to block. */
static const char *const boilerplate[] = {
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
};

/*
 * Adblock options under which a rule still means "this whole name": the
 * party options only say where the request comes from, and the rest do not
 * narrow the rule at all. Everything else either narrows the rule to some
 * pages or some kinds of request ($domain=, $script, $websocket...), which
 * DNS cannot do and widening would overblock (||duckdns.org^$websocket
 * would block every duckdns.org name), or changes what blocking does
 * ($redirect=, $csp=, $badfilter, $dnsrewrite=...). Such rules are skipped.
 */
static const char *const adblock_party_options[] = {
    "third-party",
    "3p",
    "first-party",
    "1p",
    "strict-third-party",
    "strict3p",
    "strict-first-party",
    "strict1p",
};
static const char *const adblock_plain_options[] = {
    "important",
    "all",
    "document",
    "doc",
    "match-case",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int
in_list(const char *s, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (strlen(list[i]) == n && strncasecmp(s, list[i], n) == 0)
			return 1;
	}
	return 0;
}

static int
is_ip(const char *s, size_t n)
{
	char buf[64];
	unsigned char addr[16];

	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 ||
	    inet_pton(AF_INET6, buf, addr) == 1;
}

static int
starts_with(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && strncasecmp(s, prefix, pl) == 0;
}

static int
contains(const char *s, size_t n, const char *needle)
{
	return memmem(s, n, needle, strlen(needle)) != NULL;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_space((*s)[*n - 1]))
		(*n)--;
}

/* The next whitespace-separated word of [*p, end), or NULL. */
static const char *
next_word(const char **p, const char *end, size_t *wl)
{
	const char *w;

	while (*p < end && is_space(**p))
		(*p)++;
	if (*p >= end)
		return NULL;
	w = *p;
	while (*p < end && !is_space(**p))
		(*p)++;
	*wl = (size_t)(*p - w);
	return w;
}

/* Record an invalid line or name; text is quoted in the example. */
static void
invalid(struct parser *p, const char *reason, const char *text, size_t n)
{
	struct feed_parse_stats *st = p->st;
	char quote[EXAMPLE_TEXT + 4];
	size_t q = 0;

	st->invalid++;
	if (st->n_examples >= FEED_PARSE_EXAMPLES)
		return;
	for (size_t i = 0; i < n && q < EXAMPLE_TEXT; i++) {
		unsigned char c = (unsigned char)text[i];

		quote[q++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (n > EXAMPLE_TEXT) {
		memcpy(quote + q, "...", 3);
		q += 3;
	}
	quote[q] = '\0';
	snprintf(st->examples[st->n_examples++], sizeof(st->examples[0]),
	    "line %zu: %s: %s", p->line, reason, quote);
}

static void
invalid_line(struct parser *p, const char *reason)
{
	invalid(p, reason, p->text, p->textlen);
}

static int
flush(struct parser *p)
{
	if (!p->pending)
		return 0;
	p->pending = 0;
	p->st->rules++;
	if (p->pkind == BL_ALLOW)
		p->st->allows++;
	return p->emit(p->pname, p->pkind, p->psubtree, p->arg);
}

static int
push_rule(struct parser *p, const char *name, enum bl_kind kind, int subtree)
{
	int rc;

	if (p->pending && p->pkind == kind && strcmp(p->pname, name) == 0) {
		p->psubtree |= subtree;
		p->st->skipped++;
		return 0;
	}
	rc = flush(p);
	if (rc != 0)
		return rc;
	snprintf(p->pname, sizeof(p->pname), "%s", name);
	p->pkind = kind;
	p->psubtree = subtree;
	p->pending = 1;
	return 0;
}

/*
 * Mining pool lists often give "pool.example:3333"; the port means nothing
 * to DNS. An IPv6 literal has more than one colon and is left alone.
 */
static size_t
strip_port(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n);
	size_t digits;

	if (colon == NULL ||
	    memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
		return n;
	digits = n - (size_t)(colon + 1 - s);
	if (digits == 0 || digits > 5)
		return n;
	for (size_t i = 1; i <= digits; i++) {
		if (!isdigit((unsigned char)colon[i]))
			return n;
	}
	return (size_t)(colon - s);
}

/*
 * One name from any format. A leading "*." makes it a subtree rule. Returns
 * the callback's stop value.
 */
static int
take_name(
    struct parser *p, const char *s, size_t n, enum bl_kind kind, int subtree)
{
	char buf[1024], name[BL_NAME_MAX + 1], why[128];

	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
		subtree = 1;
	}
	n = strip_port(s, n);
	if (n == 0 || (n == 1 && s[0] == '*')) {
		invalid(p, "matches every name", s, n);
		return 0;
	}
	if (n >= sizeof(buf)) {
		invalid(p, "name too long", s, n);
		return 0;
	}
	if (is_ip(s, n) || in_list(s, n, boilerplate, NELEM(boilerplate))) {
		p->st->skipped++;
		return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (bl_name_normalise(buf, name, why, sizeof(why)) != 0) {
		invalid(p, why, s, n);
		return 0;
	}
	/* IDN mapping can drop characters (a BOM, say) and leave an address. */
	if (is_ip(name, strlen(name))) {
		p->st->skipped++;
		return 0;
	}
	return push_rule(p, name, kind, subtree);
}

/*
 * Whether the host of a path rule looks like one ("*" and "*.name" too), so
 * that "host/path" is skipped as a path rule but "</body>" is invalid.
 */
static int
plausible_host(const char *s, size_t n)
{
	char buf[1024], name[BL_NAME_MAX + 1], why[128];

	if (n >= 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		n -= 2;
	}
	n = strip_port(s, n);
	if ((n == 1 && s[0] == '*') || is_ip(s, n))
		return 1;
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return bl_name_normalise(buf, name, why, sizeof(why)) == 0;
}

/*
 * A WebExtension match pattern or URL in a name list: with no path, "/"
 * or "/" followed by a lone "*", it covers the whole host; anything with a
 * real path cannot be a DNS rule and is skipped.
 */
static int
take_url(struct parser *p, const char *s, size_t n)
{
	const char *sep = memmem(s, n, "://", 3), *host, *end = s + n, *h, *at;
	size_t hl;

	for (const char *c = s; c < sep; c++) {
		if (!isalnum((unsigned char)*c) && *c != '*' && *c != '+' &&
		    *c != '-' && *c != '.') {
			invalid(p, "not a name or URL", s, n);
			return 0;
		}
	}
	if (sep == s) {
		invalid(p, "URL without a scheme", s, n);
		return 0;
	}
	host = sep + 3;
	h = host;
	while (h < end && *h != '/' && *h != '?' && *h != '#')
		h++;
	at = memrchr(host, '@', (size_t)(h - host));
	if (at != NULL)
		host = at + 1; /* user:password@ */
	hl = (size_t)(h - host);
	if (!(h == end || (end - h == 1 && *h == '/') ||
		(end - h == 2 && h[0] == '/' && h[1] == '*'))) {
		if (!plausible_host(host, hl)) {
			invalid(p, "not a URL", s, n);
			return 0;
		}
		p->st->skipped++; /* a path rule */
		return 0;
	}
	if (hl > 0 && host[0] == '[') {
		p->st->skipped++; /* an IPv6 literal */
		return 0;
	}
	for (size_t i = 0; i < hl; i++) {
		if (host[i] == ':') {
			hl = i;
			break;
		}
	}
	return take_name(p, host, hl, BL_DENY, 0);
}

/*
 * hosts and domains lines, and the plain lines of an adblock list. A line
 * whose first word is an address is a hosts line whatever the format, so
 * mixed lists read correctly.
 */
static int
line_hosts(struct parser *p, const char *s, size_t n, int domains)
{
	const char *hash = memchr(s, '#', n), *end, *w, *w2, *slash;
	size_t wl, wl2;
	int rc;

	trim(&s, &n);
	if (n == 0 || s[0] == '!' || s[0] == ';' || s[0] == '#') {
		p->st->skipped++;
		return 0;
	}
	if (hash != NULL)
		n = (size_t)(hash - s);
	end = s + n;
	w = next_word(&s, end, &wl);
	if (w == NULL) {
		p->st->skipped++;
		return 0;
	}
	if (is_ip(w, wl)) {
		if (next_word(&s, end, &wl2) == NULL) {
			p->st->skipped++; /* a bare address */
			return 0;
		}
		s = w + wl;
		for (w = next_word(&s, end, &wl); w != NULL;
		     w = next_word(&s, end, &wl)) {
			rc = take_name(p, w, wl, BL_DENY, 0);
			if (rc != 0)
				return rc;
		}
		return 0;
	}
	w2 = next_word(&s, end, &wl2);
	if (w2 != NULL) {
		invalid_line(p,
		    domains ? "more than one name"
			    : "more than one word without an address");
		return 0;
	}
	if (memmem(w, wl, "://", 3) != NULL)
		return take_url(p, w, wl);
	slash = memchr(w, '/', wl);
	if (slash != NULL) {
		if (!plausible_host(w, (size_t)(slash - w))) {
			invalid(p, "not a name", w, wl);
			return 0;
		}
		p->st->skipped++; /* host/path: no DNS meaning */
		return 0;
	}
	return take_name(p, w, wl, BL_DENY, 0);
}

/* 1 if every "$" option keeps the rule a whole-name rule. */
static int
adblock_options_ok(const char *o, size_t n)
{
	const char *end = o + n;

	while (o < end) {
		const char *comma = memchr(o, ',', (size_t)(end - o));
		const char *opt = o;
		size_t ol = (size_t)((comma != NULL ? comma : end) - o);
		int neg = 0;

		o = comma != NULL ? comma + 1 : end;
		trim(&opt, &ol);
		if (ol == 0)
			continue;
		if (opt[0] == '~') {
			neg = 1;
			opt++;
			ol--;
		}
		if (memchr(opt, '=', ol) != NULL)
			return 0;
		if (in_list(opt, ol, adblock_party_options,
			NELEM(adblock_party_options)))
			continue;
		if (!neg &&
		    in_list(opt, ol, adblock_plain_options,
			NELEM(adblock_plain_options)))
			continue;
		return 0;
	}
	return 1;
}

/* The characters that end the host of a "||host^" rule. */
static int
ends_host(char c)
{
	return strchr("^/$|*:?&=,#", c) != NULL || is_space(c);
}

static int
line_adblock(struct parser *p, const char *s, size_t n)
{
	enum bl_kind kind = BL_DENY;
	const char *end, *h, *opts = NULL;
	int subtree = 1;

	trim(&s, &n);
	if (n == 0 || s[0] == '!' || s[0] == '[' || s[0] == '#') {
		p->st->skipped++; /* blank, comment, header, cosmetic */
		return 0;
	}
	/* Cosmetic, scriptlet and HTML filters. */
	if (contains(s, n, "##") || contains(s, n, "#@") ||
	    contains(s, n, "#?#") || contains(s, n, "#$#") ||
	    contains(s, n, "#%#") || contains(s, n, "$$") ||
	    contains(s, n, "$@$")) {
		p->st->skipped++;
		return 0;
	}
	if (starts_with(s, n, "@@")) {
		kind = BL_ALLOW;
		s += 2;
		n -= 2;
	}
	if (!starts_with(s, n, "||")) {
		/*
		 * uBlock reads a bare name as a host rule and takes hosts
		 * lines; "*.name" is read as in every other format. Anything
		 * else is a URL pattern or a regex. An exception must be
		 * explicit ("@@||name^") to be an allow.
		 */
		for (size_t i = starts_with(s, n, "*.") ? 2 : 0; i < n; i++) {
			if (strchr("|^$/*@!?=&,", s[i]) != NULL) {
				p->st->skipped++;
				return 0;
			}
		}
		/* ".js", "-miner.": parts of URLs, not names. */
		if (kind == BL_ALLOW || s[0] == '.' || s[0] == '-' ||
		    s[0] == '_') {
			p->st->skipped++;
			return 0;
		}
		return line_hosts(p, s, n, 0);
	}
	s += 2;
	n -= 2;
	end = s + n;
	if (starts_with(s, n, "*.")) {
		s += 2;
		n -= 2;
	}
	h = s;
	while (h < end && !ends_host(*h))
		h++;
	if (h == s) {
		p->st->skipped++; /* "||*..." and the like */
		return 0;
	}
	if (h == end) {
		/* "||name.": a prefix of many names, not one. */
		if (h[-1] == '.') {
			p->st->skipped++;
			return 0;
		}
	} else if (*h == '^') {
		const char *r = h + 1;

		if (r < end && *r == '|')
			r++;
		if (r < end && *r != '$') {
			p->st->skipped++; /* "||name^/path", "||name^*x" */
			return 0;
		}
		if (r < end)
			opts = r + 1;
	} else if (*h == '$') {
		opts = h + 1;
	} else if (is_space(*h)) {
		invalid_line(p, "space in a host rule");
		return 0;
	} else {
		p->st->skipped++; /* a path, port or wildcard pattern */
		return 0;
	}
	if (opts != NULL && !adblock_options_ok(opts, (size_t)(end - opts))) {
		p->st->skipped++;
		return 0;
	}
	return take_name(p, s, (size_t)(h - s), kind, subtree);
}

/*
 * address=/a/b/VALUE blocks a, b and everything below them whatever VALUE
 * is (an address, "#" for the null address, nothing for NXDOMAIN).
 * server=/a/ and local=/a/ with no server make the names local only, which
 * answers NXDOMAIN; server=/a/# sends a back to the normal servers, which
 * is dnsmasq's way to write an exception; server=/a/1.2.3.4 only forwards
 * and is skipped.
 */
static int
line_dnsmasq(struct parser *p, const char *s, size_t n)
{
	const char *eq, *v, *last, *end;
	size_t kl, vl;
	enum bl_kind kind = BL_DENY;
	int address;

	trim(&s, &n);
	if (n == 0 || s[0] == '#') {
		p->st->skipped++;
		return 0;
	}
	eq = memchr(s, '=', n);
	if (eq == NULL) {
		/* A flag such as "domain-needed" is config, not a rule. */
		for (size_t i = 0; i < n; i++) {
			if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
				invalid_line(p, "not a dnsmasq option");
				return 0;
			}
		}
		p->st->skipped++;
		return 0;
	}
	kl = (size_t)(eq - s);
	while (kl > 0 && is_space(s[kl - 1]))
		kl--;
	address = kl == 7 && strncmp(s, "address", 7) == 0;
	if (!address && !(kl == 6 && strncmp(s, "server", 6) == 0) &&
	    !(kl == 5 && strncmp(s, "local", 5) == 0)) {
		for (size_t i = 0; i < kl; i++) {
			if (!isalnum((unsigned char)s[i]) && s[i] != '-') {
				invalid_line(p, "not a dnsmasq option");
				return 0;
			}
		}
		p->st->skipped++;
		return 0;
	}
	v = eq + 1;
	end = s + n;
	while (v < end && is_space(*v))
		v++;
	if (v == end || *v != '/') {
		p->st->skipped++; /* no domain: a global setting */
		return 0;
	}
	last = v;
	for (const char *c = v + 1; c < end; c++) {
		if (*c == '/')
			last = c;
	}
	if (last == v) {
		invalid_line(p, "no closing '/' after the names");
		return 0;
	}
	if (last == v + 1) {
		p->st->skipped++; /* "//": unqualified names */
		return 0;
	}
	vl = (size_t)(end - last - 1);
	if (!address) {
		if (vl == 1 && last[1] == '#') {
			kind = BL_ALLOW;
		} else if (vl != 0) {
			p->st->skipped++; /* forwarding only */
			return 0;
		}
	}
	for (const char *c = v + 1; c < last;) {
		const char *slash = memchr(c, '/', (size_t)(last - c));
		size_t nl;
		int rc;

		if (slash == NULL)
			slash = last;
		nl = (size_t)(slash - c);
		if (nl == 0) {
			p->st->skipped++; /* "//": unqualified names */
		} else if (nl == 1 && c[0] == '#') {
			invalid(p, "'#' matches every name", c, nl);
		} else {
			if (c[0] == '.') {
				c++;
				nl--;
			}
			rc = take_name(p, c, nl, kind, 1);
			if (rc != 0)
				return rc;
		}
		c = slash + 1;
	}
	return 0;
}

/* Skip a leading UTF-8 byte order mark. */
static void
skip_bom(const char **text, size_t *len)
{
	if (*len >= 3 && memcmp(*text, "\xef\xbb\xbf", 3) == 0) {
		*text += 3;
		*len -= 3;
	}
}

/*
 * Split [s, end) at the next newline: *line and *n get the line without
 * its "\n" or "\r\n"; returns where the next line starts.
 */
static const char *
split_line(const char *s, const char *end, const char **line, size_t *n)
{
	const char *eol = memchr(s, '\n', (size_t)(end - s));
	const char *next = eol != NULL ? eol + 1 : end;
	size_t l = (size_t)((eol != NULL ? eol : end) - s);

	if (l > 0 && s[l - 1] == '\r')
		l--;
	*line = s;
	*n = l;
	return next;
}

static int
parse_lines(
    struct parser *p, const char *text, size_t len, enum feed_format fmt)
{
	const char *s = text, *end = text + len, *line;
	size_t n;
	int rc = 0;

	while (s < end && rc == 0) {
		s = split_line(s, end, &line, &n);
		p->st->lines++;
		p->line = p->st->lines;
		p->text = line;
		p->textlen = n;
		if (memchr(line, '\0', n) != NULL) {
			invalid_line(p, "NUL byte in the line");
			continue;
		}
		if (n > LINE_CAP) {
			invalid_line(p, "line too long");
			continue;
		}
		switch (fmt) {
		case FEED_FMT_ADBLOCK:
			rc = line_adblock(p, line, n);
			break;
		case FEED_FMT_DNSMASQ:
			rc = line_dnsmasq(p, line, n);
			break;
		case FEED_FMT_DOMAINS:
			rc = line_hosts(p, line, n, 1);
			break;
		default:
			rc = line_hosts(p, line, n, 0);
			break;
		}
	}
	return rc;
}

/* RPZ ----------------------------------------------------------------- */

struct rpz {
	struct parser *p;
	char *buf; /* the cleaned copy ldns reads */
	size_t len;
	size_t pos; /* how far line numbers have been counted */
	size_t line; /* the number of the line at pos */
	size_t lstart; /* where that line starts */
	size_t lend; /* and ends, once looked for */
	ldns_rdf *apex; /* SOA owner, once seen */
	int oom;
};

/*
 * Copy the body for ldns, blanking lines ldns must not see (NULs, overlong
 * lines) so line numbers stay right, and refuse $INCLUDE in any spelling:
 * a downloaded zone must not name files on this machine.
 */
static int
rpz_clean(struct rpz *z, const char *text, size_t len, char *err, size_t errlen)
{
	struct parser *p = z->p;
	const char *s = text, *end = text + len, *line;
	size_t n;

	z->buf = malloc(len + 1);
	if (z->buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(z->buf, text, len);
	z->buf[len] = '\0';
	z->len = len;
	while (s < end) {
		const char *w, *c;
		size_t wl;

		s = split_line(s, end, &line, &n);
		p->st->lines++;
		p->line = p->st->lines;
		p->text = line;
		p->textlen = n;
		if (memchr(line, '\0', n) != NULL || n > LINE_CAP) {
			invalid_line(p,
			    n > LINE_CAP ? "line too long"
					 : "NUL byte in the line");
			memset(z->buf + (line - text), ' ', n);
			continue;
		}
		c = line;
		w = next_word(&c, line + n, &wl);
		if (w != NULL && wl == 8 &&
		    strncasecmp(w, "$INCLUDE", 8) == 0) {
			snprintf(err, errlen,
			    "line %zu: $INCLUDE is refused in a downloaded "
			    "zone",
			    p->line);
			return -1;
		}
		if (w == NULL || w[0] == ';')
			p->st->skipped++;
	}
	return 0;
}

/* The number of the line holding the first record byte in [from, to). */
static size_t
rpz_record_line(
    struct rpz *z, size_t from, size_t to, const char **text, size_t *textlen)
{
	int comment = 0;

	/* Records come in order, so counting lines is linear overall. */
	for (; z->pos < from && z->pos < z->len; z->pos++) {
		if (z->buf[z->pos] == '\n') {
			z->line++;
			z->lstart = z->pos + 1;
		}
	}
	for (; z->pos < to && z->pos < z->len; z->pos++) {
		char c = z->buf[z->pos];

		if (c == '\n') {
			comment = 0;
			z->line++;
			z->lstart = z->pos + 1;
		} else if (c == ';') {
			comment = 1;
		} else if (!comment && !isspace((unsigned char)c)) {
			break;
		}
	}
	/* Once per line: ldns can take many tiny records from one line. */
	if (z->lend < z->lstart || z->lend == 0) {
		z->lend = z->lstart;
		while (z->lend < z->len && z->buf[z->lend] != '\n')
			z->lend++;
	}
	*text = z->buf + z->lstart;
	*textlen = z->lend - z->lstart;
	if (*textlen > 0 && (*text)[*textlen - 1] == '\r')
		(*textlen)--;
	return z->line;
}

static int
is_label(const uint8_t *l, const char *s)
{
	size_t n = strlen(s);

	return l[0] == n && strncasecmp((const char *)l + 1, s, n) == 0;
}

/* What a record's data asks for: 1 deny, 2 allow, 0 not a rule. */
static int
rpz_action(ldns_rr *rr)
{
	ldns_rdf *t;
	const uint8_t *w;

	switch (ldns_rr_get_type(rr)) {
	case LDNS_RR_TYPE_SOA:
	case LDNS_RR_TYPE_NS:
	case LDNS_RR_TYPE_DS:
	case LDNS_RR_TYPE_DNSKEY:
	case LDNS_RR_TYPE_RRSIG:
	case LDNS_RR_TYPE_NSEC:
	case LDNS_RR_TYPE_NSEC3:
	case LDNS_RR_TYPE_NSEC3PARAM:
		return 0;
	case LDNS_RR_TYPE_CNAME:
		break;
	default:
		/* Local data (A, AAAA, TXT...) replaces every answer. */
		return 1;
	}
	t = ldns_rr_rdf(rr, 0);
	if (t == NULL || ldns_rdf_get_type(t) != LDNS_RDF_TYPE_DNAME ||
	    ldns_rdf_size(t) < 1)
		return 1;
	w = ldns_rdf_data(t);
	/* "." is NXDOMAIN, "*." NODATA; other targets are rewrites. */
	if (w[0] == 0 || is_label(w, "*") || is_label(w, "rpz-drop"))
		return 1;
	if (is_label(w, "rpz-passthru"))
		return 2;
	if (is_label(w, "rpz-tcp-only"))
		return 0;
	return 1;
}

/* The policy triggers that are not query names. */
static int
is_trigger_label(const uint8_t *l)
{
	return is_label(l, "rpz-ip") || is_label(l, "rpz-nsip") ||
	    is_label(l, "rpz-nsdname") || is_label(l, "rpz-client-ip");
}

static int
rpz_record(struct rpz *z, ldns_rr *rr, ldns_rdf **origin)
{
	struct parser *p = z->p;
	ldns_rdf *owner = ldns_rr_owner(rr);
	const uint8_t *w = ldns_rdf_data(owner), *l, *lastl = NULL;
	size_t size = ldns_rdf_size(owner), keep, o = 0;
	char text[BL_WIRE_MAX * 4];
	int action;

	if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && z->apex == NULL) {
		z->apex = ldns_rdf_clone(owner);
		/* Names written relative to the zone follow its apex. */
		if (*origin == NULL)
			*origin = ldns_rdf_clone(owner);
		if (z->apex == NULL || *origin == NULL) {
			z->oom = 1;
			return -1;
		}
	}
	keep = ldns_dname_label_count(owner);
	if (z->apex != NULL || *origin != NULL) {
		ldns_rdf *apex = z->apex != NULL ? z->apex : *origin;

		if (ldns_dname_compare(owner, apex) == 0) {
			p->st->skipped++; /* the apex's SOA and NS */
			return 0;
		}
		if (!ldns_dname_is_subdomain(owner, apex)) {
			invalid_line(p, "name outside the zone");
			return 0;
		}
		keep -= ldns_dname_label_count(apex);
	}
	if (ldns_rr_get_type(rr) == 0) {
		/* ldns takes an unknown type word as type 0. */
		invalid_line(p, "unknown record type");
		return 0;
	}
	action = rpz_action(rr);
	if (action == 0 || keep == 0) {
		p->st->skipped++;
		return 0;
	}
	l = w;
	for (size_t i = 0; i < keep; i++) {
		if (l >= w + size || *l == 0 || l + 1 + *l > w + size) {
			invalid_line(p, "malformed owner name");
			return 0;
		}
		if (memchr(l + 1, '.', *l) != NULL ||
		    memchr(l + 1, '\0', *l) != NULL) {
			invalid_line(p, "label with a dot or NUL byte");
			return 0;
		}
		if (o > 0)
			text[o++] = '.';
		memcpy(text + o, l + 1, *l);
		o += *l;
		lastl = l;
		l += 1 + *l;
	}
	if (is_trigger_label(lastl)) {
		p->st->skipped++; /* rpz-ip, rpz-nsdname...: not names */
		return 0;
	}
	return take_name(p, text, o, action == 2 ? BL_ALLOW : BL_DENY, 0);
}

static int
parse_rpz(
    struct parser *p, const char *text, size_t len, char *err, size_t errlen)
{
	struct rpz z = {.p = p, .line = 1};
	ldns_rdf *origin = NULL, *prev = NULL;
	uint32_t ttl = 3600;
	int line_nr = 1, rc = 0;
	FILE *fp = NULL;

	if (rpz_clean(&z, text, len, err, errlen) != 0) {
		rc = -1;
		goto out;
	}
	if (len == 0)
		goto out;
	fp = fmemopen(z.buf, z.len, "r");
	if (fp == NULL) {
		snprintf(
		    err, errlen, "cannot read the zone: %s", strerror(errno));
		rc = -1;
		goto out;
	}
	while (rc == 0) {
		ldns_rr *rr = NULL;
		long before = ftell(fp), after;
		ldns_status s;

		s = ldns_rr_new_frm_fp_l(
		    &rr, fp, &ttl, &origin, &prev, &line_nr);
		after = ftell(fp);
		if (s == LDNS_STATUS_SYNTAX_EMPTY && feof(fp))
			break;
		if (before < 0 || after <= before) {
			/* No progress: never loop on a stuck stream. */
			ldns_rr_free(rr);
			break;
		}
		p->line = rpz_record_line(
		    &z, (size_t)before, (size_t)after, &p->text, &p->textlen);
		switch (s) {
		case LDNS_STATUS_OK:
			rc = rpz_record(&z, rr, &origin);
			if (z.oom)
				snprintf(err, errlen, "out of memory");
			break;
		case LDNS_STATUS_SYNTAX_EMPTY:
			break;
		case LDNS_STATUS_SYNTAX_TTL:
		case LDNS_STATUS_SYNTAX_ORIGIN:
			p->st->skipped++;
			break;
		case LDNS_STATUS_SYNTAX_INCLUDE:
			/* rpz_clean catches it first; this is the backstop. */
			snprintf(err, errlen,
			    "line %zu: $INCLUDE is refused in a downloaded "
			    "zone",
			    p->line);
			rc = -1;
			break;
		case LDNS_STATUS_MEM_ERR:
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		default:
			invalid_line(p, ldns_get_errorstr_by_id(s));
			break;
		}
		ldns_rr_free(rr);
	}
out:
	if (fp != NULL)
		fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	ldns_rdf_deep_free(z.apex);
	free(z.buf);
	return rc;
}

/* Public ------------------------------------------------------------- */

int
feed_format_from_name(const char *s, enum feed_format *out)
{
	for (size_t i = 0; i < NELEM(format_names); i++) {
		if (strcasecmp(s, format_names[i]) == 0) {
			*out = (enum feed_format)i;
			return 0;
		}
	}
	return -1;
}

const char *
feed_format_name(enum feed_format f)
{
	if ((size_t)f >= NELEM(format_names))
		return "unknown";
	return format_names[f];
}

/*
 * A record type or class in a zone line. "A", "NS" and "IN" only in upper
 * case: in lower case they are common English words.
 */
static int
is_rr_type_word(const char *w, size_t n)
{
	static const char *const any_case[] = {"SOA", "CNAME", "AAAA", "TXT"};

	if ((n == 1 && w[0] == 'A') || (n == 2 && memcmp(w, "NS", 2) == 0) ||
	    (n == 2 && memcmp(w, "IN", 2) == 0))
		return 1;
	return in_list(w, n, any_case, NELEM(any_case));
}

/*
 * Vote over the first lines: each data line says which format it looks
 * like; a header ("[Adblock Plus 2.0]") or zone directive settles it.
 * Text that looks like nothing is read as a domain list, the strictest
 * format, so that junk ends up invalid rather than skipped.
 */
enum feed_format
feed_format_detect(const char *text, size_t len)
{
	static const enum feed_format order[] = {
	    FEED_FMT_HOSTS,
	    FEED_FMT_ADBLOCK,
	    FEED_FMT_DNSMASQ,
	    FEED_FMT_RPZ,
	};
	size_t votes[FEED_FMT_DNSMASQ + 1] = {0}, data = 0;
	const char *s, *end, *line;
	enum feed_format best = FEED_FMT_DOMAINS;
	size_t n;

	if (text == NULL)
		return FEED_FMT_DOMAINS;
	skip_bom(&text, &len);
	if (len > DETECT_BYTES)
		len = DETECT_BYTES;
	s = text;
	end = text + len;
	while (s < end && data < DETECT_LINES) {
		const char *c, *w[4];
		size_t wl[4] = {0}, nw = 0;

		s = split_line(s, end, &line, &n);
		trim(&line, &n);
		if (n == 0 || memchr(line, '\0', n) != NULL)
			continue;
		if (line[0] == '[') {
			if (contains(line, n, "Adblock") ||
			    contains(line, n, "uBlock") ||
			    contains(line, n, "AdGuard"))
				return FEED_FMT_ADBLOCK;
			continue;
		}
		if (starts_with(line, n, "$TTL") ||
		    starts_with(line, n, "$ORIGIN"))
			return FEED_FMT_RPZ;
		if (line[0] == '!' || line[0] == ';' ||
		    (line[0] == '#' && !starts_with(line, n, "##")))
			continue;
		data++;
		if (starts_with(line, n, "address=/") ||
		    starts_with(line, n, "server=/") ||
		    starts_with(line, n, "local=/")) {
			votes[FEED_FMT_DNSMASQ]++;
			continue;
		}
		if (starts_with(line, n, "||") || starts_with(line, n, "@@") ||
		    line[0] == '|' || line[0] == '/' ||
		    contains(line, n, "##") || memchr(line, '^', n) != NULL ||
		    memchr(line, '$', n) != NULL) {
			votes[FEED_FMT_ADBLOCK]++;
			continue;
		}
		c = line;
		for (; nw < 4; nw++) {
			w[nw] = next_word(&c, line + n, &wl[nw]);
			if (w[nw] == NULL)
				break;
		}
		if (nw >= 3 &&
		    (is_rr_type_word(w[1], wl[1]) ||
			is_rr_type_word(w[2], wl[2]) ||
			(nw == 4 && is_rr_type_word(w[3], wl[3]))) &&
		    !is_ip(w[0], wl[0]))
			votes[FEED_FMT_RPZ]++;
		else if (nw >= 2 && is_ip(w[0], wl[0]))
			votes[FEED_FMT_HOSTS]++;
		else if (nw == 1)
			votes[FEED_FMT_DOMAINS]++;
	}
	/* Ties go to the more specific format, the last in this order. */
	for (size_t i = 0; i < NELEM(order); i++) {
		if (votes[order[i]] > 0 && votes[order[i]] >= votes[best])
			best = order[i];
	}
	return best;
}

int
feed_parse(const char *text, size_t len, enum feed_format fmt,
    feed_emit_cb emit, void *arg, struct feed_parse_stats *st, char *err,
    size_t errlen)
{
	struct parser p = {.emit = emit, .arg = arg, .st = st};
	char dummy[1];
	int rc, frc;

	memset(st, 0, sizeof(*st));
	if (err == NULL || errlen == 0) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = '\0';
	if (text == NULL)
		len = 0;
	if (fmt == FEED_FMT_AUTO)
		fmt = feed_format_detect(text, len);
	st->format = fmt;
	if ((size_t)fmt >= NELEM(format_names)) {
		snprintf(err, errlen, "unknown format %d", (int)fmt);
		return -1;
	}
	if (len == 0)
		return 0;
	skip_bom(&text, &len);
	if (fmt == FEED_FMT_RPZ)
		rc = parse_rpz(&p, text, len, err, errlen);
	else
		rc = parse_lines(&p, text, len, fmt);
	if (rc != 0)
		return rc;
	frc = flush(&p);
	return frc;
}
