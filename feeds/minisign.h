/*
 * minisign signatures (https://jedisct1.github.io/minisign/), verified with
 * libsodium. A public key is "RW" + base64 of 2-byte algorithm "Ed", 8-byte
 * key id, 32-byte Ed25519 key; a .minisig file has an untrusted comment
 * line, base64 of algorithm ("Ed" legacy: signature over the message;
 * "ED": over its BLAKE2b-512 hash), key id and 64-byte signature, a
 * "trusted comment: " line, and base64 of the global signature over
 * signature || trusted comment. Both signatures must verify.
 *
 * The trusted comment carries the rollback counter: the first
 * whitespace-separated "serial:N" field if there is one, otherwise
 * minisign's default "timestamp:N" ("timestamp:1700000000\tfile:x\thashed").
 * Lines end with "\n" or "\r\n"; comments longer than 1023 bytes are
 * refused.
 */
#ifndef FEEDS_MINISIGN_H
#define FEEDS_MINISIGN_H

#include <stddef.h>
#include <stdint.h>

struct feed_minisign_key {
	uint8_t key_id[8];
	uint8_t pk[32];
};

struct feed_minisign_result {
	int prehashed; /* "ED" rather than legacy "Ed" */
	int64_t serial; /* -1 when the comment has neither */
	char trusted_comment[1024]; /* without the "trusted comment: " */
};

/*
 * Accepts the bare key ("RWQ...") or the whole .pub file (untrusted comment
 * line first), NUL-terminated; blanks around it are ignored. Returns 0 or
 * -1 with a reason in err.
 */
int feed_minisign_key_parse(
    const char *text, struct feed_minisign_key *k, char *err, size_t errlen);

/*
 * Verify msg against the .minisig text sig[0..siglen), which need not be
 * NUL-terminated. Returns 0 when both signatures verify with k (res filled,
 * err emptied), -1 with a reason otherwise (wrong key id, bad signature,
 * malformed file, a counter field that is not a number, ...); res is left
 * alone on failure.
 */
int feed_minisign_verify(const struct feed_minisign_key *k, const uint8_t *msg,
    size_t len, const char *sig, size_t siglen,
    struct feed_minisign_result *res, char *err, size_t errlen);

#endif
