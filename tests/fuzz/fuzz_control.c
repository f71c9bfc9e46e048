/*
 * Fuzz harness for the control protocol (resolver/ctlproto.c) as
 * resolver/control.c drives it: the input arrives in reads whose sizes
 * the first bytes choose, into the connection's line buffer, each read no
 * larger than the room left (as control.c's alloc callback offers), until
 * a request is complete or the line is too long. Then the reply line is
 * made as the daemon would make it.
 *
 * Checked: a request is recognised only when its line is exactly that
 * request, and every reply is one line, within CONTROL_LINE_MAX, with no
 * control bytes from the client echoed back.
 */
#include <string.h>

#include "blocklist/control.h"
#include "resolver/ctlproto.h"
#include "tests/fuzz/fuzz.h"

/* Every byte of the line is the request's: no NUL cuts it short. */
static int
same(const char *raw, size_t len, const char *req)
{
	return len == strlen(req) && memcmp(raw, req, len) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[CONTROL_LINE_MAX + 1], copy[CONTROL_LINE_MAX + 1],
	    out[CONTROL_LINE_MAX + 1], raw[CONTROL_LINE_MAX];
	const char *nl;
	size_t raw_len;
	enum ctlproto_req req = CTLPROTO_MORE;
	const uint8_t *p;
	size_t have = 0, left, n, len;
	char msg[128];
	uint8_t step;

	if (size < 1)
		return 0;
	step = data[0];
	p = data + 1;
	left = size - 1;
	while (left > 0 && req == CTLPROTO_MORE) {
		n = step == 0 ? left : step;
		if (n > left)
			n = left;
		if (n > CONTROL_LINE_MAX - have)
			n = CONTROL_LINE_MAX - have;
		if (n == 0)
			break;
		memcpy(line + have, p, n);
		memcpy(raw + have, p, n);
		have += n;
		p += n;
		left -= n;
		req = ctlproto_take(line, have);
	}
	memcpy(copy, line, sizeof(copy));
	/* The request line as the client sent it, without CR LF. */
	nl = memchr(raw, '\n', have);
	raw_len = nl != NULL ? (size_t)(nl - raw) : have;
	if (raw_len > 0 && raw[raw_len - 1] == '\r')
		raw_len--;
	switch (req) {
	case CTLPROTO_MORE:
		FUZZ_CHECK(memchr(line, '\n', have) == NULL);
		return 0;
	case CTLPROTO_TOO_LONG:
		FUZZ_CHECK(have == CONTROL_LINE_MAX &&
		    memchr(line, '\n', have) == NULL);
		len = ctlproto_reply(out, sizeof(out), "error",
		    "request too long");
		break;
	case CTLPROTO_BAD:
		FUZZ_CHECK(nl != NULL && memchr(raw, '\0', raw_len) != NULL);
		len = ctlproto_reply(out, sizeof(out), "error", "NUL");
		break;
	case CTLPROTO_PING:
		FUZZ_CHECK(same(raw, raw_len, "ping"));
		len = ctlproto_reply(out, sizeof(out), "ok", "");
		break;
	case CTLPROTO_STATUS:
		FUZZ_CHECK(same(raw, raw_len, "status"));
		len = ctlproto_reply(out, sizeof(out), "ok", "{}");
		break;
	case CTLPROTO_RELOAD:
		FUZZ_CHECK(same(raw, raw_len, "reload"));
		len = ctlproto_reply(out, sizeof(out), "ok", "generation=1");
		break;
	case CTLPROTO_UNKNOWN:
		ctlproto_unknown(line, msg, sizeof(msg));
		for (const char *m = msg; *m != '\0'; m++)
			FUZZ_CHECK(*m >= 0x20 && *m < 0x7f);
		len = ctlproto_reply(out, sizeof(out), "error", msg);
		break;
	default:
		FUZZ_CHECK(0);
		return 0;
	}
	FUZZ_CHECK(len > 0 && len <= CONTROL_LINE_MAX);
	FUZZ_CHECK(out[len - 1] == '\n' && memchr(out, '\n', len - 1) == NULL);
	FUZZ_CHECK(strlen(out) == len);
	/* Even an overlong line's reply fits, with the whole line echoed. */
	len = ctlproto_reply(out, sizeof(out), "error", copy);
	FUZZ_CHECK(len <= CONTROL_LINE_MAX && out[len - 1] == '\n');
	return 0;
}
