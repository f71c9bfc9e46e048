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
 * Every answer: ID and QR right, and when q has a question, that question
 * echoed and the whole message accepted by wire_reply_scan (every length
 * and name checked). With ldns set, ldns must parse it too: for answers
 * made by the resolver itself. Answers relayed from an upstream carry its
 * record data as sent, which ldns may read differently (it ignores
 * RDLENGTH for some types), so they are held to the scan only.
 * limit is the size the client can take (0: no check).
 */
void dnsfix_check_answer(const struct wire_query *q, const uint8_t *out,
    size_t len, size_t limit, int ldns);


#endif
