/*
 * Unit tests for feeds/minisign.c against files made by the minisign tool
 * (tests/data/minisign, found through PARASOL_TESTDATA; see its README):
 * both signature formats, foreign keys, tampering, and hostile .minisig
 * text. Trusted comments minisign was not asked for are signed here with
 * the fixture's unencrypted secret key; the signer is first checked to
 * reproduce minisign's own files byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "feeds/minisign.h"

/* What the fixtures hold; regenerating them means updating these. */
#define FIXTURE_TIMESTAMP 1795731759
#define FIXTURE_COMMENT "timestamp:1795731759\tfile:feed.txt\thashed"
#define FIXTURE_LEGACY_COMMENT "timestamp:1795731759\tfile:feed.txt"
#define TEST_KEY "RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYNzGP"
static const uint8_t test_key_id[8] = {
    0xee, 0x4c, 0x36, 0x9d, 0x12, 0x13, 0x20, 0x9c};

#define SIG_TEXT_MAX 4096

struct blob {
	char *p;
	size_t len;
};

static struct blob
load(const char *name)
{
	const char *dir = getenv("PARASOL_TESTDATA");
	struct blob b = {NULL, 0};
	char path[1024];
	FILE *f;
	long n;

	if (dir == NULL)
		fail_msg("PARASOL_TESTDATA is not set (meson test sets it)");
	snprintf(path, sizeof(path), "%s/minisign/%s", dir, name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	b.len = (size_t)n;
	/* Not NUL-terminated, so an over-read shows under a sanitizer. */
	b.p = malloc(b.len > 0 ? b.len : 1);
	assert_non_null(b.p);
	assert_int_equal(fread(b.p, 1, b.len, f), b.len);
	fclose(f);
	return b;
}

static char *
load_text(const char *name)
{
	struct blob b = load(name);
	char *s = malloc(b.len + 1);

	assert_non_null(s);
	memcpy(s, b.p, b.len);
	s[b.len] = '\0';
	free(b.p);
	return s;
}

static struct feed_minisign_key
key_from(const char *pubfile)
{
	struct feed_minisign_key k;
	char err[300] = "";
	char *text = load_text(pubfile);

	if (feed_minisign_key_parse(text, &k, err, sizeof(err)) != 0)
		fail_msg("%s: %s", pubfile, err);
	free(text);
	return k;
}

static int
verify(const struct feed_minisign_key *k, const struct blob *msg,
    const char *sig, size_t siglen, struct feed_minisign_result *res, char *err,
    size_t errlen)
{
	return feed_minisign_verify(k, (const uint8_t *)msg->p, msg->len, sig,
	    siglen, res, err, errlen);
}

/* Verification must fail, with want in the message. */
static void
assert_rejected(const struct feed_minisign_key *k, const struct blob *msg,
    const char *sig, size_t siglen, const char *want)
{
	struct feed_minisign_result res;
	char err[300] = "";

	memset(&res, 0x5a, sizeof(res));
	if (verify(k, msg, sig, siglen, &res, err, sizeof(err)) == 0)
		fail_msg("accepted, expected \"%s\"", want);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\", expected \"%s\"", err, want);
	/* res is only written on success. */
	assert_int_equal(res.prehashed, 0x5a5a5a5a);
}

/* The fixture's secret key, stored unencrypted (minisign -G -W). */
struct signer {
	uint8_t key_id[8];
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
};

static struct signer
signer_from(const char *keyfile)
{
	/* sig_alg, kdf_alg, chk_alg, salt, opslimit, memlimit, id, sk, chk */
	uint8_t raw[2 + 2 + 2 + 32 + 8 + 8 + 8 + 64 + 32];
	char *text = load_text(keyfile);
	char *line = strchr(text, '\n');
	struct signer s;
	size_t got = 0;

	assert_non_null(line);
	line++;
	line[strcspn(line, "\r\n")] = '\0';
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), line, strlen(line),
			     NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL),
	    0);
	assert_int_equal(got, sizeof(raw));
	assert_memory_equal(raw, "Ed\0\0B2", 6); /* no password */
	memcpy(s.key_id, raw + 54, sizeof(s.key_id));
	memcpy(s.sk, raw + 62, sizeof(s.sk));
	free(text);
	return s;
}

/* A .minisig as minisign writes it; returns its length. */
static size_t
sign(const struct signer *s, int prehashed, const void *msg, size_t len,
    const char *comment, char *out, size_t cap)
{
	uint8_t raw[2 + 8 + crypto_sign_BYTES];
	uint8_t hash[crypto_generichash_BYTES_MAX];
	uint8_t *global_in;
	uint8_t global[crypto_sign_BYTES];
	char b64_sig[sodium_base64_ENCODED_LEN(
	    sizeof(raw), sodium_base64_VARIANT_ORIGINAL)];
	char b64_global[sodium_base64_ENCODED_LEN(
	    sizeof(global), sodium_base64_VARIANT_ORIGINAL)];
	size_t clen = strlen(comment);
	int n;

	memcpy(raw, prehashed ? "ED" : "Ed", 2);
	memcpy(raw + 2, s->key_id, 8);
	if (prehashed) {
		crypto_generichash(hash, sizeof(hash), msg, len, NULL, 0);
		crypto_sign_detached(raw + 10, NULL, hash, sizeof(hash), s->sk);
	} else {
		crypto_sign_detached(raw + 10, NULL, msg, len, s->sk);
	}
	global_in = malloc(crypto_sign_BYTES + clen);
	assert_non_null(global_in);
	memcpy(global_in, raw + 10, crypto_sign_BYTES);
	memcpy(global_in + crypto_sign_BYTES, comment, clen);
	crypto_sign_detached(
	    global, NULL, global_in, crypto_sign_BYTES + clen, s->sk);
	free(global_in);
	sodium_bin2base64(b64_sig, sizeof(b64_sig), raw, sizeof(raw),
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64_global, sizeof(b64_global), global,
	    sizeof(global), sodium_base64_VARIANT_ORIGINAL);
	n = snprintf(out, cap,
	    "untrusted comment: signature from minisign secret key\n%s\n"
	    "trusted comment: %s\n%s\n",
	    b64_sig, comment, b64_global);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static int
setup(void **state)
{
	return sodium_init() < 0 ? -1 : 0;
}

static void
test_key_bare_and_file(void **state)
{
	struct feed_minisign_key bare, file;
	char err[300] = "";

	assert_int_equal(
	    feed_minisign_key_parse(TEST_KEY, &bare, err, sizeof(err)), 0);
	assert_memory_equal(bare.key_id, test_key_id, sizeof(test_key_id));
	file = key_from("test.pub");
	assert_memory_equal(&bare, &file, sizeof(bare));
}

static void
test_key_line_endings_and_blanks(void **state)
{
	static const char *const ok[] = {
	    TEST_KEY "\n",
	    TEST_KEY "\r\n",
	    "  " TEST_KEY " \t\n\n",
	    "untrusted comment: minisign public key "
	    "9C2013129D364CEE\r\n" TEST_KEY "\r\n",
	    "untrusted comment: minisign public key "
	    "9C2013129D364CEE\n" TEST_KEY,
	};
	struct feed_minisign_key want, k;
	char err[300];
	size_t i;

	want = key_from("test.pub");
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err[0] = '\0';
		if (feed_minisign_key_parse(ok[i], &k, err, sizeof(err)) != 0)
			fail_msg("case %zu: %s", i, err);
		assert_memory_equal(&k, &want, sizeof(k));
	}
}

static void
test_key_bad(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
	    {"", "empty"}, {" \r\n\t", "empty"},
	    {"RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYNz",
		"key is 54 characters long, expected 56"},
	    {TEST_KEY "AAAA", "key is 60 characters long, expected 56"},
	    {"RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYN!GP",
		"not valid base64"},
	    {"RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDep xVjRvLjGy7SbxNpYNzGP",
		"not valid base64"},
	    /* "ED" is a signature algorithm, never a key's. */
	    {"RUTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYNzGP",
		"unsupported algorithm 0x4544"},
	    {"untrusted comment: minisign public key 9C2013129D364CEE\n",
		"key line missing"},
	    {"untrusted comment: x\n" TEST_KEY "\n" TEST_KEY "\n",
		"unexpected data after the key"},
	    {"untrusted comment: x\nuntrusted comment: y\n" TEST_KEY,
		"key is 20 characters long"},
	    {"minisign public key 9C2013129D364CEE\n" TEST_KEY,
		"key is 36 characters long"},
	    {TEST_KEY "\r", NULL}, /* the blank is trimmed: accepted */
	};
	struct feed_minisign_key k;
	char err[300];
	char *longer;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc;

		err[0] = '\0';
		rc = feed_minisign_key_parse(bad[i].text, &k, err, sizeof(err));
		if (bad[i].want == NULL) {
			assert_int_equal(rc, 0);
			continue;
		}
		if (rc == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(err, bad[i].want) == NULL)
			fail_msg("case %zu: \"%s\", expected \"%s\"", i, err,
			    bad[i].want);
	}
	assert_int_equal(
	    feed_minisign_key_parse(NULL, &k, err, sizeof(err)), -1);

	/* A first line far over the cap is refused without reading it all. */
	longer = malloc(100000);
	assert_non_null(longer);
	memset(longer, 'A', 99999);
	longer[99999] = '\0';
	assert_int_equal(
	    feed_minisign_key_parse(longer, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "line 1 (comment or key) is over"));
	free(longer);

	/* A tiny error buffer is still NUL-terminated, and none is fine. */
	memset(err, 'x', sizeof(err));
	assert_int_equal(feed_minisign_key_parse("RW", &k, err, 8), -1);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(feed_minisign_key_parse("RW", &k, NULL, 0), -1);
}

static void
test_verify_prehashed(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt"), sig = load("feed.txt.minisig");
	struct feed_minisign_result res;
	char err[300] = "leftover";

	assert_int_equal(
	    verify(&k, &msg, sig.p, sig.len, &res, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(res.prehashed, 1);
	assert_string_equal(res.trusted_comment, FIXTURE_COMMENT);
	assert_int_equal(res.serial, FIXTURE_TIMESTAMP);
	free(msg.p);
	free(sig.p);
}

static void
test_verify_legacy(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt"),
		    sig = load("feed.txt.legacy.minisig");
	struct feed_minisign_result res;
	char err[300] = "";

	if (verify(&k, &msg, sig.p, sig.len, &res, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(res.prehashed, 0);
	assert_string_equal(res.trusted_comment, FIXTURE_LEGACY_COMMENT);
	assert_int_equal(res.serial, FIXTURE_TIMESTAMP);
	free(msg.p);
	free(sig.p);
}

static void
test_verify_serial_comment(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt"),
		    sig = load("feed.txt.serial.minisig");
	struct feed_minisign_result res;
	char err[300] = "";

	if (verify(&k, &msg, sig.p, sig.len, &res, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(res.prehashed, 1);
	assert_string_equal(res.trusted_comment, "serial:42 feed:parasol-test");
	assert_int_equal(res.serial, 42);
	free(msg.p);
	free(sig.p);
}

static void
test_other_key(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct feed_minisign_key other = key_from("other.pub");
	struct blob msg = load("feed.txt"),
		    sig = load("feed.txt.other.minisig");
	struct feed_minisign_result res;
	char err[300] = "";

	/* Key ids print as minisign prints them, so a user can compare. */
	assert_rejected(&k, &msg, sig.p, sig.len,
	    "signature key id 0x8DEABFF60E260FDB does not match the feed's "
	    "key 0x9C2013129D364CEE");
	if (verify(&other, &msg, sig.p, sig.len, &res, err, sizeof(err)) != 0)
		fail_msg("%s", err);

	/* Right key id, wrong key: the signature itself must fail. */
	memcpy(other.key_id, k.key_id, sizeof(k.key_id));
	free(sig.p);
	sig = load("feed.txt.minisig");
	assert_rejected(&other, &msg, sig.p, sig.len, "bad signature");
	free(msg.p);
	free(sig.p);
}

static void
test_tampered_feed(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed-tampered.txt");
	struct blob sig = load("feed.txt.minisig");
	struct blob legacy = load("feed.txt.legacy.minisig");

	assert_rejected(&k, &msg, sig.p, sig.len,
	    "bad signature (feed altered or truncated?)");
	assert_rejected(&k, &msg, legacy.p, legacy.len, "bad signature");
	/* One byte short, as a cut-off download would be. */
	free(msg.p);
	msg = load("feed.txt");
	msg.len--;
	assert_rejected(&k, &msg, sig.p, sig.len, "bad signature");
	assert_rejected(&k, &msg, legacy.p, legacy.len, "bad signature");
	free(msg.p);
	free(sig.p);
	free(legacy.p);
}

static void
test_tampered_comment(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt");
	struct blob sig = load("feed.txt.tampered-comment.minisig");

	assert_rejected(&k, &msg, sig.p, sig.len,
	    "bad global signature (trusted comment altered?)");
	free(msg.p);
	free(sig.p);
}

static void
test_truncated_fixture(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt");
	struct blob sig = load("feed.txt.truncated.minisig");

	assert_rejected(&k, &msg, sig.p, sig.len,
	    "global signature line is 36 characters long, expected 88");
	free(msg.p);
	free(sig.p);
}

static void
test_line_endings(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt"), sig = load("feed.txt.minisig");
	struct feed_minisign_result res;
	char crlf[SIG_TEXT_MAX], buf[SIG_TEXT_MAX], err[300];
	size_t i, n = 0;

	for (i = 0; i < sig.len; i++) {
		if (sig.p[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = sig.p[i];
	}
	err[0] = '\0';
	if (verify(&k, &msg, crlf, n, &res, err, sizeof(err)) != 0)
		fail_msg("CRLF: %s", err);
	/* The CR is not part of the signed comment. */
	assert_string_equal(res.trusted_comment, FIXTURE_COMMENT);
	/* Without the last line's terminator. */
	assert_int_equal(
	    verify(&k, &msg, crlf, n - 2, &res, err, sizeof(err)), 0);
	assert_int_equal(
	    verify(&k, &msg, sig.p, sig.len - 1, &res, err, sizeof(err)), 0);

	/* Blank lines may follow; nothing else may. */
	memcpy(buf, sig.p, sig.len);
	memcpy(buf + sig.len, "\n\r\n\n", 4);
	assert_int_equal(
	    verify(&k, &msg, buf, sig.len + 4, &res, err, sizeof(err)), 0);
	memcpy(buf + sig.len, "\n \n", 3);
	assert_rejected(&k, &msg, buf, sig.len + 3,
	    "unexpected data after the global signature");
	memcpy(buf + sig.len, "x", 1);
	assert_rejected(&k, &msg, buf, sig.len + 1, "unexpected data");
	memcpy(buf + sig.len, "\r", 1);
	assert_rejected(&k, &msg, buf, sig.len + 1, "unexpected data");
	memcpy(buf + sig.len, "\0", 1);
	assert_rejected(&k, &msg, buf, sig.len + 1, "unexpected data");
	/* A lone CR is no line ending. */
	memcpy(buf, crlf, n);
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			buf[i] = '\r';
			break;
		}
	}
	assert_rejected(&k, &msg, buf, n, "signature file:");
	free(msg.p);
	free(sig.p);
}

/* Every cut of the file fails, except losing the final newline. */
static void
test_every_prefix(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt");
	const char *names[] = {"feed.txt.minisig", "feed.txt.legacy.minisig"};
	struct feed_minisign_result res;
	char err[300];
	size_t i, n;

	for (i = 0; i < 2; i++) {
		struct blob sig = load(names[i]);

		for (n = 0; n < sig.len - 1; n++) {
			char *cut = malloc(n > 0 ? n : 1);

			/* Exactly n bytes, so reading past them is caught. */
			assert_non_null(cut);
			memcpy(cut, sig.p, n);
			err[0] = '\0';
			if (verify(&k, &msg, cut, n, &res, err, sizeof(err)) ==
			    0)
				fail_msg("%s cut to %zu bytes accepted",
				    names[i], n);
			assert_true(err[0] != '\0');
			free(cut);
		}
		assert_int_equal(verify(&k, &msg, sig.p, sig.len - 1, &res, err,
				     sizeof(err)),
		    0);
		free(sig.p);
	}
	assert_rejected(&k, &msg, NULL, 0, "signature file is empty");
	assert_rejected(&k, &msg, "", 0, "signature file is empty");
	free(msg.p);
}

/*
 * Flip bits in every byte: only the untrusted comment's text may change
 * and still verify; anything signed, or the layout, must not.
 */
static void
test_every_flip(void **state)
{
	static const uint8_t masks[] = {0x01, 0x02, 0x20, 0x40, 0x80};
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt");
	const char *names[] = {"feed.txt.minisig", "feed.txt.legacy.minisig",
	    "feed.txt.serial.minisig"};
	const size_t prefix = strlen("untrusted comment: ");
	struct feed_minisign_result res;
	char err[300];
	size_t i, j, m, line1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct blob sig = load(names[i]);

		line1 = (size_t)((char *)memchr(sig.p, '\n', sig.len) - sig.p);
		for (j = 0; j < sig.len; j++) {
			for (m = 0; m < sizeof(masks); m++) {
				int ok, want;

				sig.p[j] ^= (char)masks[m];
				err[0] = '\0';
				ok = verify(&k, &msg, sig.p, sig.len, &res, err,
					 sizeof(err)) == 0;
				want = j >= prefix && j < line1 &&
				    sig.p[j] != '\n' && sig.p[j] != '\0';
				sig.p[j] ^= (char)masks[m];
				if (ok != want)
					fail_msg(
					    "%s: byte %zu ^ 0x%02x %s (%s)",
					    names[i], j, masks[m],
					    ok ? "accepted" : "rejected", err);
			}
		}
		free(sig.p);
	}
	free(msg.p);
}

static void
test_hostile_lines(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct blob msg = load("feed.txt"), sig = load("feed.txt.minisig");
	const char *lines[4];
	char *buf;
	size_t lens[4], i, n, big = 1 << 20;
	const char *p = sig.p;
	uint8_t raw[74];
	size_t got;

	/* Split the fixture into its four lines. */
	for (i = 0; i < 4; i++) {
		const char *nl = memchr(p, '\n', sig.len - (size_t)(p - sig.p));

		assert_non_null(nl);
		lines[i] = p;
		lens[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	buf = malloc(big);
	assert_non_null(buf);

#define BUILD(...)                                                             \
	do {                                                                   \
		const char *parts[] = {__VA_ARGS__};                           \
		size_t k_;                                                     \
		n = 0;                                                         \
		for (k_ = 0; k_ < sizeof(parts) / sizeof(parts[0]); k_++) {    \
			memcpy(buf + n, parts[k_], strlen(parts[k_]));         \
			n += strlen(parts[k_]);                                \
		}                                                              \
	} while (0)
	char l1[200], l2[200], l3[200], l4[200];

	snprintf(l1, sizeof(l1), "%.*s\n", (int)lens[0], lines[0]);
	snprintf(l2, sizeof(l2), "%.*s\n", (int)lens[1], lines[1]);
	snprintf(l3, sizeof(l3), "%.*s\n", (int)lens[2], lines[2]);
	snprintf(l4, sizeof(l4), "%.*s\n", (int)lens[3], lines[3]);

	BUILD(l1, l2, l3, l4);
	assert_int_equal(n, sig.len);
	assert_memory_equal(buf, sig.p, n);

	/* Missing lines. */
	BUILD(l1);
	assert_rejected(&k, &msg, buf, n, "signature line missing");
	BUILD(l1, l2);
	assert_rejected(&k, &msg, buf, n, "trusted comment line missing");
	BUILD(l1, l2, l3);
	assert_rejected(&k, &msg, buf, n, "global signature line missing");
	BUILD(l2, l3, l4);
	assert_rejected(&k, &msg, buf, n,
	    "line 1 does not start with \"untrusted comment: \"");
	BUILD(l1, l2, l4, l3);
	assert_rejected(&k, &msg, buf, n,
	    "line 3 does not start with \"trusted comment: \"");
	BUILD(l1, l3, l2, l4);
	assert_rejected(&k, &msg, buf, n, "signature line is");
	BUILD("\n", l2, l3, l4);
	assert_rejected(&k, &msg, buf, n, "line 1 does not start");
	BUILD(l1, l2, "trusted comment:\n", l4);
	assert_rejected(&k, &msg, buf, n, "line 3 does not start");

	/* Wrong lengths and bad base64. */
	BUILD(l1, l2 + 1, l3, l4);
	assert_rejected(&k, &msg, buf, n,
	    "signature line is 99 characters long, expected 100");
	BUILD(l1, "A", l2, l3, l4);
	assert_rejected(&k, &msg, buf, n, "line 2 (signature) is over 100");
	BUILD(l1, l2, l3, "AAAA", l4);
	assert_rejected(&k, &msg, buf, n, "line 4 (global signature) is over");
	BUILD(l1, l2, l3, l4 + 4);
	assert_rejected(&k, &msg, buf, n,
	    "global signature line is 84 characters long, expected 88");
	BUILD(l1, l2, l3, l4);
	buf[lens[0] + 1 + 10] = '*';
	assert_rejected(&k, &msg, buf, n, "signature line is not valid base64");
	BUILD(l1, l2, l3, l4);
	buf[lens[0] + 1 + 10] = '-'; /* the URL-safe alphabet is not ours */
	assert_rejected(&k, &msg, buf, n, "not valid base64");
	/* libsodium 1.0.18 alone would read this as the '/' it replaces. */
	BUILD(l1, l2, l3, l4);
	p = memchr(buf + lens[0] + 1, '/', lens[1]);
	assert_non_null(p);
	buf[p - buf] = (char)('/' | 0x80);
	assert_rejected(&k, &msg, buf, n, "signature line is not valid base64");
	BUILD(l1, l2, l3, l4);
	buf[n - 3] = 'A'; /* the "==" padding */
	assert_rejected(
	    &k, &msg, buf, n, "global signature line is not valid base64");

	/* NUL bytes, wherever they are. */
	for (i = 0; i < 4; i++) {
		size_t at;

		BUILD(l1, l2, l3, l4);
		at = (i > 0 ? strlen(l1) : 0) + (i > 1 ? strlen(l2) : 0) +
		    (i > 2 ? strlen(l3) : 0) + 20;
		buf[at] = '\0';
		assert_rejected(&k, &msg, buf, n, "contains a NUL byte");
	}

	/* A huge line, with and without a newline at its end. */
	memset(buf, 'A', big);
	assert_rejected(
	    &k, &msg, buf, big, "line 1 (untrusted comment) is over");
	memcpy(buf, "untrusted comment: ", 19);
	buf[big - 1] = '\n';
	assert_rejected(&k, &msg, buf, big, "is over 1024 bytes");
	n = strlen(l1);
	memcpy(buf, l1, n);
	assert_rejected(&k, &msg, buf, big, "line 2 (signature) is over");
	memcpy(buf + n, l2, strlen(l2));
	n += strlen(l2);
	assert_rejected(&k, &msg, buf, big, "line 3 (trusted comment) is over");

	/* An algorithm other than Ed or ED. */
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), lines[1], lens[1],
			     NULL, &got, NULL, sodium_base64_VARIANT_ORIGINAL),
	    0);
	raw[1] = 'X';
	sodium_bin2base64(
	    l2, sizeof(l2), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	strcat(l2, "\n");
	BUILD(l1, l2, l3, l4);
	assert_rejected(&k, &msg, buf, n,
	    "unsupported signature algorithm 0x4558 (expected Ed or ED)");
#undef BUILD
	free(buf);
	free(msg.p);
	free(sig.p);
}

/* The test signer must produce what minisign produced. */
static void
test_signer_matches_minisign(void **state)
{
	struct signer s = signer_from("test.key");
	struct blob msg = load("feed.txt");
	struct blob sig = load("feed.txt.serial.minisig");
	struct blob legacy = load("feed.txt.legacy.minisig");
	char out[SIG_TEXT_MAX];
	size_t n;

	assert_memory_equal(s.key_id, test_key_id, sizeof(test_key_id));
	n = sign(&s, 1, msg.p, msg.len, "serial:42 feed:parasol-test", out,
	    sizeof(out));
	assert_int_equal(n, sig.len);
	assert_memory_equal(out, sig.p, n);
	n = sign(
	    &s, 0, msg.p, msg.len, FIXTURE_LEGACY_COMMENT, out, sizeof(out));
	assert_int_equal(n, legacy.len);
	assert_memory_equal(out, legacy.p, n);
	free(msg.p);
	free(sig.p);
	free(legacy.p);
}

static void
test_counter(void **state)
{
	static const struct {
		const char *comment;
		int64_t serial; /* -2: verification must fail */
	} cases[] = {
	    {"serial:7", 7},
	    {"serial:0", 0},
	    {"serial:007", 7},
	    {"timestamp:1700000000\tfile:x\thashed", 1700000000},
	    {"timestamp:1700000000\tfile:x", 1700000000},
	    {"timestamp:5 serial:9", 9},
	    {"serial:9\ttimestamp:5", 9},
	    {"  serial:12  ", 12},
	    {"feed:x serial:3 serial:4", 3},
	    {"serial:9223372036854775807", INT64_MAX},
	    {"", -1},
	    {"hello world", -1},
	    {"file:serial:3", -1},
	    {"serials:5", -1},
	    {"Serial:5", -1},
	    {"serials:5 timestamp:6", 6},
	    {"serial:", -2},
	    {"serial:12a", -2},
	    {"serial:-1", -2},
	    {"serial:+1", -2},
	    {"serial:9223372036854775808", -2},
	    {"serial:99999999999999999999999", -2},
	    {"timestamp:x", -2},
	    /* A broken serial is not replaced by the timestamp. */
	    {"serial:abc timestamp:5", -2},
	};
	struct feed_minisign_key k = key_from("test.pub");
	struct signer s = signer_from("test.key");
	static const char feed[] = "0.0.0.0 ads.example.com\n";
	struct feed_minisign_result res;
	char sig[SIG_TEXT_MAX], err[300];
	size_t i, n;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = sign(&s, (int)(i % 2), feed, strlen(feed), cases[i].comment,
		    sig, sizeof(sig));
		err[0] = '\0';
		rc = feed_minisign_verify(&k, (const uint8_t *)feed,
		    strlen(feed), sig, n, &res, err, sizeof(err));
		if (cases[i].serial == -2) {
			if (rc == 0)
				fail_msg("\"%s\" accepted", cases[i].comment);
			assert_string_equal(err,
			    "trusted comment: serial or "
			    "timestamp is not a number");
			continue;
		}
		if (rc != 0)
			fail_msg("\"%s\": %s", cases[i].comment, err);
		assert_string_equal(res.trusted_comment, cases[i].comment);
		if (res.serial != cases[i].serial)
			fail_msg("\"%s\": serial %lld, expected %lld",
			    cases[i].comment, (long long)res.serial,
			    (long long)cases[i].serial);
	}
}

static void
test_comment_length(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct signer s = signer_from("test.key");
	struct feed_minisign_result res;
	char comment[1100], sig[SIG_TEXT_MAX], err[300] = "";
	size_t n;

	/* The longest comment the result holds verifies whole. */
	memset(comment, 'c', sizeof(comment));
	memcpy(comment, "serial:5 ", 9);
	comment[1023] = '\0';
	n = sign(&s, 1, "x", 1, comment, sig, sizeof(sig));
	if (feed_minisign_verify(&k, (const uint8_t *)"x", 1, sig, n, &res, err,
		sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(strlen(res.trusted_comment), 1023);
	assert_int_equal(res.serial, 5);

	/* One more byte would not fit, so it is refused, not cut. */
	comment[1023] = 'c';
	comment[1024] = '\0';
	n = sign(&s, 1, "x", 1, comment, sig, sizeof(sig));
	assert_int_equal(feed_minisign_verify(&k, (const uint8_t *)"x", 1, sig,
			     n, &res, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "line 3 (trusted comment) is over"));
}

static void
test_empty_message(void **state)
{
	struct feed_minisign_key k = key_from("test.pub");
	struct signer s = signer_from("test.key");
	struct feed_minisign_result res;
	char sig[SIG_TEXT_MAX], err[300] = "";
	size_t n;
	int prehashed;

	for (prehashed = 0; prehashed < 2; prehashed++) {
		n = sign(&s, prehashed, "", 0, "serial:1", sig, sizeof(sig));
		if (feed_minisign_verify(
			&k, NULL, 0, sig, n, &res, err, sizeof(err)) != 0)
			fail_msg("%s", err);
		assert_int_equal(res.prehashed, prehashed);
		assert_int_equal(feed_minisign_verify(&k, (const uint8_t *)"\n",
				     1, sig, n, &res, err, sizeof(err)),
		    -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_bare_and_file),
	    cmocka_unit_test(test_key_line_endings_and_blanks),
	    cmocka_unit_test(test_key_bad),
	    cmocka_unit_test(test_verify_prehashed),
	    cmocka_unit_test(test_verify_legacy),
	    cmocka_unit_test(test_verify_serial_comment),
	    cmocka_unit_test(test_other_key),
	    cmocka_unit_test(test_tampered_feed),
	    cmocka_unit_test(test_tampered_comment),
	    cmocka_unit_test(test_truncated_fixture),
	    cmocka_unit_test(test_line_endings),
	    cmocka_unit_test(test_every_prefix),
	    cmocka_unit_test(test_every_flip),
	    cmocka_unit_test(test_hostile_lines),
	    cmocka_unit_test(test_signer_matches_minisign),
	    cmocka_unit_test(test_counter),
	    cmocka_unit_test(test_comment_length),
	    cmocka_unit_test(test_empty_message),
	};

	return cmocka_run_group_tests_name("minisign", tests, setup, NULL);
}
