/*
 * The control protocol between parasold and its tools, over a unix stream
 * socket: one request line, one reply line, then the daemon closes.
 *
 *   reload      rebuild the blocklist snapshot from lists.db now
 *               -> "ok generation=N names=M" once it is swapped in,
 *                  or "error MESSAGE" (the old snapshot keeps serving)
 *   status      -> "ok {JSON}": uptime, counters, qps, list generation,
 *                  cache, upstream health (see daemon_status_json)
 *   ping        -> "ok"
 *
 * Lines are at most CONTROL_LINE_MAX bytes; anything longer is an error.
 * The client side is plain POSIX so tools need no event loop.
 */
#ifndef BLOCKLIST_CONTROL_H
#define BLOCKLIST_CONTROL_H

#include <stddef.h>

#define CONTROL_LINE_MAX 4096
#define CONTROL_DEFAULT_PATH "/run/parasol/parasold.sock"
#define LISTS_DEFAULT_PATH "/var/lib/parasol/lists.db"

/*
 * Send one request and read the reply line (without the newline) into
 * reply. Returns 0 when the daemon answered "ok...", 1 when it answered
 * "error...", or a negative bl_err with a message in reply when it could
 * not be reached in timeout_ms.
 */
int control_request(const char *path, const char *request, int timeout_ms,
    char *reply, size_t cap);

#endif
