/*
 * minisign verification. Both files are parsed line by line with a cap on
 * every line, so a hostile .minisig (no newlines, NULs, a megabyte of
 * comment) is rejected after reading at most a line's cap past each line
 * start. Lines end with "\n" or "\r\n"; the last may lack its terminator.
 * Base64 is libsodium's, original variant with padding, nothing ignored, so
 * a line holds exactly one encoding of exactly the expected length.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "feeds/minisign.h"

#define SIG_ALG_LEN 2
#define KEY_ID_LEN 8
#define SIG_LEN crypto_sign_BYTES
#define PK_LEN crypto_sign_PUBLICKEYBYTES

/* Base64 with padding: 4 characters for every 3 bytes, rounded up. */
#define B64_LEN(n) ((((n) + 2) / 3) * 4)
#define PK_B64_LEN B64_LEN(SIG_ALG_LEN + KEY_ID_LEN + PK_LEN)
#define SIG_B64_LEN B64_LEN(SIG_ALG_LEN + KEY_ID_LEN + SIG_LEN)
#define GLOBAL_B64_LEN B64_LEN(SIG_LEN)

/* minisign's own cap on the untrusted comment line is 1024 as well. */
#define UNTRUSTED_MAX 1024
/* Longer trusted comments are refused rather than verified and cut. */
#define TRUSTED_MAX 1023
_Static_assert(sizeof(((struct feed_minisign_result *)0)->trusted_comment) ==
	TRUSTED_MAX + 1,
    "trusted_comment holds TRUSTED_MAX bytes and a NUL");

static const char UNTRUSTED_PREFIX[] = "untrusted comment: ";
static const char TRUSTED_PREFIX[] = "trusted comment: ";

struct cursor {
	const char *p, *end;
	int lineno;
	const char *file; /* "public key" or "signature file", for messages */
};

struct line {
	const char *p;
	size_t len;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * Take the next line, at most max bytes without its terminator. Only up to
 * max + 2 bytes are searched for the newline, whatever the input's length.
 */
static int
take_line(struct cursor *c, const char *what, size_t max, struct line *l,
    char *err, size_t errlen)
{
	size_t avail = (size_t)(c->end - c->p);
	size_t scan = avail < max + 2 ? avail : max + 2;
	const char *nl;

	c->lineno++;
	if (avail == 0)
		return fail(err, errlen, "%s: %s line missing", c->file, what);
	/* Without a newline in the first max + 2 bytes it is too long. */
	nl = memchr(c->p, '\n', scan);
	l->p = c->p;
	l->len = nl != NULL ? (size_t)(nl - c->p) : avail;
	c->p = nl != NULL ? nl + 1 : c->end;
	if (l->len > 0 && l->p[l->len - 1] == '\r')
		l->len--;
	if (l->len > max)
		return fail(err, errlen, "%s: line %d (%s) is over %zu bytes",
		    c->file, c->lineno, what, max);
	if (memchr(l->p, '\0', l->len) != NULL)
		return fail(err, errlen, "%s: line %d (%s) contains a NUL byte",
		    c->file, c->lineno, what);
	return 0;
}

/* Only empty lines may follow the last expected one. */
static int
expect_end(struct cursor *c, const char *after, char *err, size_t errlen)
{
	while (c->p < c->end) {
		if (*c->p == '\n')
			c->p++;
		else if (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n')
			c->p += 2;
		else
			return fail(err, errlen,
			    "%s: unexpected data after the %s", c->file, after);
	}
	return 0;
}

static int
is_base64_char(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=';
}

/* Decode a line that must hold exactly len bytes in base64. */
static int
decode_line(const struct cursor *c, const char *what, const struct line *l,
    uint8_t *out, size_t len, char *err, size_t errlen)
{
	size_t want = B64_LEN(len), got = 0, i;

	if (l->len != want)
		return fail(err, errlen,
		    "%s: %s is %zu characters long, expected %zu", c->file,
		    what, l->len, want);
	/*
	 * libsodium 1.0.18 reads the text as signed char and takes every
	 * byte from 0x80 up for some base64 character, which would give one
	 * signature many spellings. Only the alphabet gets through.
	 */
	for (i = 0; i < l->len; i++)
		if (!is_base64_char((unsigned char)l->p[i]))
			return fail(err, errlen, "%s: %s is not valid base64",
			    c->file, what);
	if (sodium_base642bin(out, len, l->p, l->len, NULL, &got, NULL,
		sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != len)
		return fail(
		    err, errlen, "%s: %s is not valid base64", c->file, what);
	return 0;
}

static int
starts_with(const struct line *l, const char *prefix, size_t n)
{
	return l->len >= n && memcmp(l->p, prefix, n) == 0;
}

static uint64_t
key_id_value(const uint8_t id[KEY_ID_LEN])
{
	uint64_t v = 0;
	int i;

	/* minisign prints key ids as little-endian 64-bit numbers. */
	for (i = KEY_ID_LEN - 1; i >= 0; i--)
		v = v << 8 | id[i];
	return v;
}

/*
 * The value of the first whitespace-separated "name:N" field, -1 when there
 * is none, -2 when it is not a decimal number that fits in an int64.
 */
static int64_t
comment_number(const char *comment, const char *name)
{
	size_t n = strlen(name);
	const char *p = comment;
	int64_t v;

	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0')
			return -1;
		if (strncmp(p, name, n) == 0 && p[n] == ':')
			break;
		p += strcspn(p, " \t");
	}
	p += n + 1;
	if (*p < '0' || *p > '9')
		return -2;
	for (v = 0; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -2;
		v = v * 10 + (*p - '0');
	}
	if (*p != '\0' && *p != ' ' && *p != '\t')
		return -2;
	return v;
}

int
feed_minisign_key_parse(
    const char *text, struct feed_minisign_key *k, char *err, size_t errlen)
{
	uint8_t raw[SIG_ALG_LEN + KEY_ID_LEN + PK_LEN];
	struct cursor c;
	struct line l;
	const char *start, *end;

	if (sodium_init() < 0)
		return fail(err, errlen, "libsodium failed to initialise");
	if (text == NULL)
		return fail(err, errlen, "public key: empty");
	/* A key pasted into a config may carry blanks around it. */
	start = text + strspn(text, " \t\r\n");
	end = start + strlen(start);
	while (end > start && strchr(" \t\r\n", end[-1]) != NULL)
		end--;
	if (start == end)
		return fail(err, errlen, "public key: empty");

	c.p = start;
	c.end = end;
	c.lineno = 0;
	c.file = "public key";
	if (take_line(&c, "comment or key", UNTRUSTED_MAX, &l, err, errlen) !=
	    0)
		return -1;
	if (starts_with(&l, UNTRUSTED_PREFIX, sizeof(UNTRUSTED_PREFIX) - 1) &&
	    take_line(&c, "key", PK_B64_LEN, &l, err, errlen) != 0)
		return -1;
	if (decode_line(&c, "key", &l, raw, sizeof(raw), err, errlen) != 0)
		return -1;
	if (expect_end(&c, "key", err, errlen) != 0)
		return -1;
	if (memcmp(raw, "Ed", SIG_ALG_LEN) != 0)
		return fail(err, errlen,
		    "public key: unsupported algorithm 0x%02x%02x "
		    "(expected Ed)",
		    raw[0], raw[1]);
	memcpy(k->key_id, raw + SIG_ALG_LEN, KEY_ID_LEN);
	memcpy(k->pk, raw + SIG_ALG_LEN + KEY_ID_LEN, PK_LEN);
	return 0;
}

int
feed_minisign_verify(const struct feed_minisign_key *k, const uint8_t *msg,
    size_t len, const char *sig, size_t siglen,
    struct feed_minisign_result *res, char *err, size_t errlen)
{
	static const uint8_t empty[1];
	uint8_t raw[SIG_ALG_LEN + KEY_ID_LEN + SIG_LEN];
	uint8_t global[SIG_LEN];
	uint8_t signed_comment[SIG_LEN + TRUSTED_MAX];
	uint8_t hash[crypto_generichash_BYTES_MAX];
	const size_t up = sizeof(UNTRUSTED_PREFIX) - 1;
	const size_t tp = sizeof(TRUSTED_PREFIX) - 1;
	struct feed_minisign_result r;
	struct cursor c;
	struct line l;
	const uint8_t *sig_bytes = raw + SIG_ALG_LEN + KEY_ID_LEN;
	size_t clen;
	int64_t serial;
	int rc;

	if (sodium_init() < 0)
		return fail(err, errlen, "libsodium failed to initialise");
	if (sig == NULL || siglen == 0)
		return fail(err, errlen, "signature file is empty");
	if (msg == NULL)
		msg = empty;
	memset(&r, 0, sizeof(r));

	c.p = sig;
	c.end = sig + siglen;
	c.lineno = 0;
	c.file = "signature file";
	if (take_line(
		&c, "untrusted comment", UNTRUSTED_MAX, &l, err, errlen) != 0)
		return -1;
	if (!starts_with(&l, UNTRUSTED_PREFIX, up))
		return fail(err, errlen,
		    "signature file: line 1 does not start with \"%s\"",
		    UNTRUSTED_PREFIX);
	if (take_line(&c, "signature", SIG_B64_LEN, &l, err, errlen) != 0 ||
	    decode_line(
		&c, "signature line", &l, raw, sizeof(raw), err, errlen) != 0)
		return -1;
	if (take_line(
		&c, "trusted comment", tp + TRUSTED_MAX, &l, err, errlen) != 0)
		return -1;
	if (!starts_with(&l, TRUSTED_PREFIX, tp))
		return fail(err, errlen,
		    "signature file: line 3 does not start with \"%s\"",
		    TRUSTED_PREFIX);
	clen = l.len - tp;
	memcpy(r.trusted_comment, l.p + tp, clen);
	r.trusted_comment[clen] = '\0';
	if (take_line(
		&c, "global signature", GLOBAL_B64_LEN, &l, err, errlen) != 0 ||
	    decode_line(&c, "global signature line", &l, global, sizeof(global),
		err, errlen) != 0)
		return -1;
	if (expect_end(&c, "global signature", err, errlen) != 0)
		return -1;

	if (memcmp(raw, "ED", SIG_ALG_LEN) == 0)
		r.prehashed = 1;
	else if (memcmp(raw, "Ed", SIG_ALG_LEN) != 0)
		return fail(err, errlen,
		    "unsupported signature algorithm 0x%02x%02x "
		    "(expected Ed or ED)",
		    raw[0], raw[1]);
	if (memcmp(raw + SIG_ALG_LEN, k->key_id, KEY_ID_LEN) != 0)
		return fail(err, errlen,
		    "signature key id 0x%016" PRIX64 " does not match the "
		    "feed's key 0x%016" PRIX64,
		    key_id_value(raw + SIG_ALG_LEN), key_id_value(k->key_id));

	if (r.prehashed) {
		crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
		rc = crypto_sign_verify_detached(
		    sig_bytes, hash, sizeof(hash), k->pk);
	} else {
		rc = crypto_sign_verify_detached(sig_bytes, msg, len, k->pk);
	}
	if (rc != 0)
		return fail(
		    err, errlen, "bad signature (feed altered or truncated?)");

	memcpy(signed_comment, sig_bytes, SIG_LEN);
	memcpy(signed_comment + SIG_LEN, r.trusted_comment, clen);
	if (crypto_sign_verify_detached(
		global, signed_comment, SIG_LEN + clen, k->pk) != 0)
		return fail(err, errlen,
		    "bad global signature (trusted comment altered?)");

	/* An explicit serial wins over minisign's default timestamp. */
	serial = comment_number(r.trusted_comment, "serial");
	if (serial == -1)
		serial = comment_number(r.trusted_comment, "timestamp");
	if (serial == -2)
		return fail(err, errlen,
		    "trusted comment: serial or timestamp is not a number");
	r.serial = serial;

	*res = r;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return 0;
}
