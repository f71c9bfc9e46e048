#include <stdio.h>
#include <string.h>

#include "blocklist/control.h"
#include "resolver/ctlproto.h"

enum ctlproto_req
ctlproto_take(char *line, size_t have)
{
	char *nl;

	if (have > CONTROL_LINE_MAX)
		have = CONTROL_LINE_MAX;
	line[have] = '\0';
	nl = memchr(line, '\n', have);
	if (nl == NULL)
		return have >= CONTROL_LINE_MAX ? CTLPROTO_TOO_LONG
						: CTLPROTO_MORE;
	/* "ping\0junk" must not pass for "ping". */
	if (memchr(line, '\0', (size_t)(nl - line)) != NULL)
		return CTLPROTO_BAD;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	if (strcmp(line, "ping") == 0)
		return CTLPROTO_PING;
	if (strcmp(line, "status") == 0)
		return CTLPROTO_STATUS;
	if (strcmp(line, "reload") == 0)
		return CTLPROTO_RELOAD;
	return CTLPROTO_UNKNOWN;
}

size_t
ctlproto_reply(char *out, size_t cap, const char *status, const char *text)
{
	int n;

	n = snprintf(out, cap, "%s%s%.*s\n", status,
	    text[0] != '\0' ? " " : "", CONTROL_LINE_MAX - 64, text);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

void
ctlproto_unknown(const char *cmd, char *msg, size_t cap)
{
	char shown[65];
	size_t i;

	/* Echoed to a terminal: no control bytes from the socket. */
	for (i = 0; i < sizeof(shown) - 1 && cmd[i] != '\0'; i++)
		shown[i] = cmd[i] >= 0x20 && cmd[i] < 0x7f ? cmd[i] : '?';
	shown[i] = '\0';
	snprintf(msg, cap, "unknown request '%s'", shown);
}
