/*
 * Fuzz harness for feeds/minisign.c. The first byte picks what is fed:
 * even, a public key (the rest as text); odd, a .minisig and the message
 * it signs, separated by the first NUL byte, verified with the test key of
 * tests/data/minisign so a committed signature reaches every check.
 *
 * Checked: success and failure are told apart consistently (a reason on
 * failure, none on success), and what a verified signature reports stays
 * within its bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "feeds/minisign.h"
#include "tests/fuzz/fuzz.h"

#define TEST_KEY "RWTuTDadEhMgnD3c2SfmZZoXiMOSfUFPDephxVjRvLjGy7SbxNpYNzGP"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct feed_minisign_key key;
	static int ready;
	struct feed_minisign_key k;
	struct feed_minisign_result res;
	const uint8_t *nul;
	char err[256];
	int rc;

	if (!ready) {
		FUZZ_CHECK(feed_minisign_key_parse(TEST_KEY, &key, err,
			       sizeof(err)) == 0);
		ready = 1;
	}
	if (size < 1)
		return 0;
	err[0] = 'x';
	err[1] = '\0';
	if ((data[0] & 1) == 0) {
		char *text = malloc(size);

		FUZZ_CHECK(text != NULL);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		rc = feed_minisign_key_parse(text, &k, err, sizeof(err));
		free(text);
		FUZZ_CHECK(rc == 0 || (rc == -1 && err[0] != '\0'));
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	nul = memchr(data + 1, '\0', size - 1);
	if (nul == NULL)
		nul = data + size;
	memset(&res, 0x5a, sizeof(res));
	rc = feed_minisign_verify(&key, nul < data + size ? nul + 1 : nul,
	    (size_t)(data + size - (nul < data + size ? nul + 1 : nul)),
	    (const char *)data + 1, (size_t)(nul - data - 1), &res, err,
	    sizeof(err));
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	if (rc == 0) {
		FUZZ_CHECK(err[0] == '\0');
		FUZZ_CHECK(res.prehashed == 0 || res.prehashed == 1);
		FUZZ_CHECK(res.serial >= -1);
		FUZZ_CHECK(memchr(res.trusted_comment, '\0',
			       sizeof(res.trusted_comment)) != NULL);
	} else {
		FUZZ_CHECK(rc == -1 && err[0] != '\0');
	}
	return 0;
}
