/*
 * The daemon's half of the control protocol (blocklist/control.h) as pure
 * functions over the connection's line buffer: when a request line is
 * complete, which request it is, and the one reply line. resolver/control.c
 * does the socket work around them; the fuzzer drives them directly.
 */
#ifndef RESOLVER_CTLPROTO_H
#define RESOLVER_CTLPROTO_H

#include <stddef.h>

enum ctlproto_req {
	CTLPROTO_MORE = 0,  /* no newline yet: read on */
	CTLPROTO_TOO_LONG,  /* CONTROL_LINE_MAX bytes and no newline */
	CTLPROTO_BAD,       /* a NUL byte inside the line */
	CTLPROTO_PING,
	CTLPROTO_STATUS,
	CTLPROTO_RELOAD,
	CTLPROTO_UNKNOWN,
};

/*
 * Look at the have bytes read so far into line (room for
 * CONTROL_LINE_MAX + 1). Once a line is complete it is cut at the newline
 * (and a CR before it) and the request it names is returned; bytes after
 * the newline are ignored, as the daemon answers one request per
 * connection.
 */
enum ctlproto_req ctlproto_take(char *line, size_t have);

/*
 * Write the reply line "STATUS[ TEXT]\n" into out (cap at least
 * CONTROL_LINE_MAX + 1), TEXT cut to fit. Returns its length.
 */
size_t ctlproto_reply(char *out, size_t cap, const char *status,
    const char *text);

/* The error text for a request that is not one: quoted, printable only. */
void ctlproto_unknown(const char *cmd, char *msg, size_t cap);

#endif
