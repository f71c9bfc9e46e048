/*
 * The HTTP endpoint for monitoring: /metrics in the Prometheus text
 * exposition format (0.0.4), /healthz and /readyz.
 *
 * libmicrohttpd runs in its external-event mode with epoll: its epoll
 * descriptor sits in a uv_poll handle and MHD_get_timeout drives a
 * uv_timer, so every request is served on the loop thread and reads the
 * daemon's counters without locks. The counters kept here (answers by
 * result and rcode, blocked lookups by category) are plain increments on
 * the query path; everything else is read from the daemon when scraped.
 * No label ever carries a client address or a queried name.
 */
#ifndef RESOLVER_METRICS_H
#define RESOLVER_METRICS_H

#include <stddef.h>
#include <sys/socket.h>

struct daemon;
struct metrics;

/* How a query was decided; the first five follow enum rec_outcome. */
enum metrics_result {
	METRICS_BLOCKED = 0,
	METRICS_CACHED,
	METRICS_FORWARDED,
	METRICS_REFUSED,
	METRICS_ERROR,
	METRICS_LOCAL, /* answered by parasold itself (the DoH canary) */
	METRICS_N_RESULTS,
};

#define METRICS_NO_ANSWER (-1) /* decided, but nothing was sent */
#define METRICS_RCODES 17 /* 0..15 and BADVERS; the rest: other */
#define METRICS_CATEGORIES 64 /* distinct categories; the rest: other */

/*
 * Listen on addr and serve from d's loop. NULL with a reason in err when
 * the address cannot be bound.
 */
struct metrics *metrics_new(
    struct daemon *d, const struct sockaddr *addr, char *err, size_t errlen);
/* Stop listening and free m once its handles have closed. NULL is fine. */
void metrics_close(struct metrics *m);

/*
 * Count one decided query: its result, the rcode it was answered with
 * (METRICS_NO_ANSWER when none) and, when blocked, the category (may be
 * NULL). m may be NULL (the endpoint is off).
 */
void metrics_note(
    struct metrics *m, enum metrics_result r, int rcode, const char *category);

#endif
