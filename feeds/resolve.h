/*
 * Resolving feed hosts through chosen DNS servers (ldns), so that
 * parasol-update does not depend on the parasold it is updating: the
 * machine's own resolv.conf may well point at it.
 */
#ifndef FEEDS_RESOLVE_H
#define FEEDS_RESOLVE_H

#include <stddef.h>

/*
 * Look up A and AAAA for host through servers ("ADDR[:PORT]", NULL-ended)
 * and write the addresses comma-separated into out (curl's RESOLVE
 * syntax, IPv6 in brackets). Returns 0, or -1 with a reason in err.
 */
int feed_resolve(const char *const *servers, const char *host, char *out,
    size_t cap, char *err, size_t errlen);

#endif
