/*
 * What a forwarder keeps of an upstream reply (RFC 5452 6, the bailiwick
 * rules a stub-facing forwarder can apply without knowing zone cuts).
 * Only records that answer the question survive:
 *
 * - answer: records owned by the question's name or by a name on its
 *   CNAME chain (followed from the question's name, at most
 *   WIRE_SCAN_MAX_CNAME links), of the asked type, CNAME or RRSIG (any
 *   type for ANY), and DNAME records owned by an ancestor of a chain name;
 * - authority: nothing in a positive answer. In a negative one (NXDOMAIN,
 *   or no record of the asked type at the chain's end) the first SOA owned
 *   by the chain's last name or an ancestor of it, and the NSEC, NSEC3 and
 *   RRSIG records at or below that SOA's owner (the denial proofs);
 * - additional: nothing but the OPT record. Clients of a forwarder are
 *   stubs that ask for what they need; glue and "helpful" extra addresses
 *   are exactly what cache poisoning rides in on (an A record for a
 *   victim name next to an innocent answer).
 *
 * The cache stores whole replies under their question, so a stray record
 * could never answer another question here; the scrub keeps it from
 * reaching clients (and their own caches) inside an innocent answer.
 */
#ifndef RESOLVER_SCRUB_H
#define RESOLVER_SCRUB_H

#include <stddef.h>
#include <stdint.h>

struct wire_scan;

/*
 * pkt was accepted by wire_reply_scan (scan) with its OPT record, if any,
 * last. Returns 0 when every record is kept (use pkt as it is), 1 when
 * the kept records were written to out (out_len bytes, to be scanned
 * again), or -1 when they do not fit in cap.
 */
int scrub_reply(const uint8_t *pkt, size_t len, const struct wire_scan *scan,
    uint8_t *out, size_t cap, size_t *out_len);

#endif
