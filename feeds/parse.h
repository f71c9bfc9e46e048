/*
 * Feed formats. A feed body is untrusted text from the network; the parsers
 * read it line by line, normalise every name through bl_name_normalise and
 * hand each valid one to a callback. Lines that carry no DNS-usable rule
 * (comments, cosmetic and path rules, IP addresses, forwarding directives)
 * are skipped and counted; lines and names that cannot be read are counted
 * as invalid and a few examples kept, so the updater can say what was wrong
 * with a feed without logging all of it. Text that is not a list at all (an
 * HTML page, binary junk) comes out as invalid lines, which the updater's
 * ratio check refuses.
 *
 * Formats:
 *   hosts     "0.0.0.0 name [name...]", "#" comments whole-line or inline;
 *             localhost and its kin are skipped
 *   domains   one name per line, "#" / "!" / ";" comments; a line starting
 *             with an address is read as a hosts line; a URL or WebExtension
 *             match pattern ("*://host/", "https://host") with no real
 *             path is its host, one with a path is skipped
 *   adblock   "||name^" deny, "@@||name^" allow (also without the "^");
 *             bare names and hosts lines as uBlock reads them. "$" options
 *             keep a rule only when it still means the whole name: the
 *             party options ($third-party, $1p...), $important, $all,
 *             $document, $match-case. Rules narrowed to some pages or
 *             request types ($domain=, $script, $websocket...) or that
 *             change what blocking does ($badfilter, $redirect=,
 *             $dnsrewrite=...) are skipped: DNS cannot narrow them, and
 *             widening them overblocks. Path, pattern, regex and cosmetic
 *             ("##", "#@#", "#?#", "#$#") rules are skipped.
 *   rpz       an RPZ zone file read with ldns. "CNAME ." (NXDOMAIN),
 *             "CNAME *." (NODATA), "CNAME rpz-drop." and local data (A,
 *             AAAA, TXT, a CNAME elsewhere) deny; "CNAME rpz-passthru."
 *             allows; rpz-tcp-only and the rpz-ip / rpz-nsdname / rpz-nsip /
 *             rpz-client-ip triggers are skipped, as are the apex's SOA and
 *             NS. Owner names lose the zone origin ($ORIGIN, else the SOA
 *             owner). $INCLUDE in any spelling refuses the whole body: it
 *             came from the network and must not name local files.
 *   dnsmasq   "address=/name/..." and "server=/name/" / "local=/name/"
 *             (no server: local only) deny, "server=/name/#" allows,
 *             "server=/name/ADDR" only forwards and is skipped; several
 *             names per line ("/a/b/"). dnsmasq rules cover subdomains.
 * In every format a leading "*." marks a subtree rule (in RPZ too, where
 * strictly "*.name" does not cover name itself), and a ":port" after a
 * name is dropped. A rule that repeats the one just before it for the same
 * name and kind is merged into it (subtree if either is), so the RPZ idiom
 * "name" + "*.name" gives one rule; the repeat counts as skipped.
 */
#ifndef FEEDS_PARSE_H
#define FEEDS_PARSE_H

#include <stddef.h>

#include "blocklist/match.h"

enum feed_format {
	FEED_FMT_AUTO = 0,
	FEED_FMT_HOSTS,
	FEED_FMT_DOMAINS,
	FEED_FMT_ADBLOCK,
	FEED_FMT_RPZ,
	FEED_FMT_DNSMASQ,
};

#define FEED_PARSE_EXAMPLES 3

struct feed_parse_stats {
	enum feed_format format; /* the one used (after detection) */
	size_t lines; /* all lines read */
	size_t rules; /* names emitted (deny + allow) */
	size_t allows; /* of which allow rules */
	size_t skipped; /* comments, blanks, rules with no DNS meaning */
	size_t invalid; /* lines or names that could not be used */
	size_t n_examples;
	/* "line N: reason: text" for the first few invalid lines. */
	char examples[FEED_PARSE_EXAMPLES][200];
};

/*
 * One rule. name is normalised. subtree is 1 when the syntax itself says
 * the rule covers names below (adblock "||", "*.", dnsmasq), 0 when the
 * feed's configured match mode should decide. Return non-zero to stop.
 */
typedef int (*feed_emit_cb)(
    const char *name, enum bl_kind kind, int subtree, void *arg);

/* Guess the format from the first lines of text (never FEED_FMT_AUTO). */
enum feed_format feed_format_detect(const char *text, size_t len);

/* "auto", "hosts", ... <-> enum; parse returns 0 or -1. */
int feed_format_from_name(const char *s, enum feed_format *out);
const char *feed_format_name(enum feed_format f);

/*
 * Parse text[0..len) (need not be NUL-terminated; may contain NULs, which
 * make a line invalid; a leading UTF-8 BOM and CR before LF are ignored;
 * lines over 64 KiB are invalid). With FEED_FMT_AUTO the format is detected
 * first. Returns 0, the callback's non-zero value, or -1 with err set when
 * the body as a whole is unusable (RPZ with $INCLUDE, or out of memory);
 * after -1 the caller must discard any rules already emitted ($INCLUDE is
 * found before any are). A zone that ldns cannot read record by record
 * yields invalid lines, not -1. st is always filled; err may be NULL.
 */
int feed_parse(const char *text, size_t len, enum feed_format fmt,
    feed_emit_cb emit, void *arg, struct feed_parse_stats *st, char *err,
    size_t errlen);

#endif
