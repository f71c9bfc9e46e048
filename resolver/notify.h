/*
 * Readiness and liveness for a service manager, by the sd_notify(3)
 * protocol: one datagram of "KEY=VALUE" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading
 * '@'). Spoken directly, so parasold needs no libsystemd.
 *
 * When $NOTIFY_SOCKET is unset every call does nothing. The watchdog
 * ping runs from a loop timer at half $WATCHDOG_USEC, so a stuck event
 * loop stops the pings and lets the service manager restart parasold.
 * The state is per process, as the environment is: one daemon at a time.
 */
#ifndef RESOLVER_NOTIFY_H
#define RESOLVER_NOTIFY_H

#include <stddef.h>

struct daemon;

/* Listening, snapshot loaded: READY=1, STATUS=, start the timers. */
void notify_ready(struct daemon *d);
/*
 * SIGHUP: RELOADING=1 with MONOTONIC_USEC; then, as the policy_done_cb of
 * the blocklist rebuild (arg: the daemon), READY=1 once the new snapshot
 * is swapped in, or the rebuild failed and the old one serves on.
 */
void notify_reloading(struct daemon *d);
void notify_reloaded_cb(void *arg, int ok, const char *why);
/* SIGTERM/SIGINT: STOPPING=1. */
void notify_stopping(struct daemon *d);

/*
 * Send one message to the socket named by $NOTIFY_SOCKET. Returns 1 when
 * sent, 0 when there is no socket to tell, negative errno on failure.
 */
int notify_send(const char *msg);

#endif
