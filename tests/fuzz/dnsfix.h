/*
 * Shared state of the DNS harnesses (fuzz_query, fuzz_reply): a small
 * blocklist snapshot, a cache filled with real upstream replies, and the
 * checks every answer the resolver sends must pass.
 */
#ifndef TESTS_FUZZ_DNSFIX_H
#define TESTS_FUZZ_DNSFIX_H

#include <stddef.h>
#include <stdint.h>

#include "resolver/config.h"

struct bl_snapshot;
struct cache;
struct wire_query;

#define DNSFIX_T0 1000000 /* ms; the clock the cache is filled at */

/* The snapshot: deny *.ads.test and exact tracker.test, allow
 * ok.ads.test. Built once. */
const struct bl_snapshot *dnsfix_policy(void);

/* The sinkhole for mode m (any value; folded onto the five modes). */
void dnsfix_sinkhole(unsigned m, struct sinkhole *sh);

/* A fresh cache holding example.com A (through a CNAME), nx.test A
 * (NXDOMAIN), big.test TXT (over 512 bytes) and dnssec.test A with DO. */
struct cache *dnsfix_cache(void);

/*
 * Every answer: ID and QR right, the question echoed when q has one, and,
 * when parses is set, a real DNS message (ldns parses it). The resolver
 * passes record data through as the upstream sent it, so an answer made
 * from a reply ldns cannot parse (a type's rdata malformed) need not
 * parse either. limit is the size the client can take (0: no check).
 */
void dnsfix_check_answer(const struct wire_query *q, const uint8_t *out,
    size_t len, size_t limit, int parses);

/* 1 when ldns parses pkt[0..len). */
int dnsfix_parses(const uint8_t *pkt, size_t len);

#endif
