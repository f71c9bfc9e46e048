#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "blocklist/match.h"
#include "parasol_config.h"
#include "resolver/addr.h"
#include "resolver/cache.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/upstream.h"

/*
 * A scraper needs one connection; a few more cover a slow one and a
 * health probe. Each may hold this much memory for its request, which
 * bounds the request line and headers (larger gets 431 or a close), and
 * is closed after this many seconds without progress.
 */
#define HTTP_MAX_CONNS 8
#define HTTP_MEMORY_LIMIT (16 * 1024)
#define HTTP_TIMEOUT_S 5
#define BODY_MAX (1024 * 1024)

_Static_assert(METRICS_BLOCKED == (int)REC_BLOCKED &&
	METRICS_CACHED == (int)REC_CACHED &&
	METRICS_FORWARDED == (int)REC_FORWARDED &&
	METRICS_REFUSED == (int)REC_REFUSED && METRICS_ERROR == (int)REC_ERROR,
    "metrics results follow the recorder's outcomes");

struct metrics {
	struct daemon *d;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	int open_handles;
	double start_time;
	uint64_t responses[METRICS_N_RESULTS][METRICS_RCODES + 1];
	uint64_t blocked_other;
	size_t n_categories;
	char *category[METRICS_CATEGORIES];
	uint64_t blocked[METRICS_CATEGORIES];
};

static const char *const result_names[METRICS_N_RESULTS] = {
    "blocked",
    "cached",
    "forwarded",
    "refused",
    "error",
    "local",
};

static const char *const rcode_names[METRICS_RCODES + 1] = {
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
    "BADVERS",
    "other",
};

void
metrics_note(
    struct metrics *m, enum metrics_result r, int rcode, const char *category)
{
	size_t i;

	if (m == NULL)
		return;
	if (rcode != METRICS_NO_ANSWER)
		m->responses[r][rcode >= 0 && rcode < METRICS_RCODES
			? rcode
			: METRICS_RCODES]++;
	if (r != METRICS_BLOCKED)
		return;
	if (category == NULL || category[0] == '\0')
		category = "unknown";
	/* A handful of categories: a scan beats a hash here. */
	for (i = 0; i < m->n_categories; i++) {
		if (strcmp(m->category[i], category) == 0) {
			m->blocked[i]++;
			return;
		}
	}
	/* First sight of a category: the only allocation, once each. */
	if (i < METRICS_CATEGORIES &&
	    (m->category[i] = strdup(category)) != NULL) {
		m->n_categories++;
		m->blocked[i] = 1;
		return;
	}
	m->blocked_other++;
}

/* The body under construction; capped, and marked failed past the cap. */
struct body {
	char *p;
	size_t len;
	size_t cap;
	int failed;
};

static void
put(struct body *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (b->cap >= BODY_MAX) {
			b->failed = 1;
			return;
		}
		char *np = realloc(b->p, b->cap * 2);

		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap *= 2;
	}
}

static void
head(struct body *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
one(struct body *b, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	head(b, name, type, help);
	put(b, "%s %llu\n", name, v);
}

/*
 * A label value as the exposition format wants it: \\ and " escaped, and
 * anything but printable ASCII as '?' (categories come from lists.db, and
 * one byte of bad UTF-8 would fail the whole scrape).
 */
static void
label(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	for (; *in != '\0' && n + 3 < cap; in++) {
		unsigned char c = (unsigned char)*in;

		if (c == '\\' || c == '"') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			out[n++] = '?';
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
}

static void
render_traffic(struct metrics *m, struct body *b)
{
	const struct counters *c = &m->d->ctr;
	char l[512];

	one(b, "parasol_queries_total", "counter",
	    "DNS messages received from clients over UDP and TCP.",
	    (unsigned long long)c->queries);
	head(b, "parasol_responses_total", "counter",
	    "Queries answered, by how they were decided and the answer's "
	    "rcode.");
	for (int r = 0; r < METRICS_N_RESULTS; r++) {
		for (int i = 0; i <= METRICS_RCODES; i++) {
			if (m->responses[r][i] == 0)
				continue;
			put(b,
			    "parasol_responses_total{result=\"%s\",rcode=\"%"
			    "s\"} "
			    "%llu\n",
			    result_names[r], rcode_names[i],
			    (unsigned long long)m->responses[r][i]);
		}
	}
	one(b, "parasol_dropped_total", "counter",
	    "Queries dropped without an answer (unparseable, refused garbage, "
	    "over a limit).",
	    (unsigned long long)c->dropped);
	head(b, "parasol_blocked_total", "counter",
	    "Blocked lookups by the category of the rule that decided.");
	for (size_t i = 0; i < m->n_categories; i++) {
		label(m->category[i], l, sizeof(l));
		put(b, "parasol_blocked_total{category=\"%s\"} %llu\n", l,
		    (unsigned long long)m->blocked[i]);
	}
	if (m->blocked_other > 0)
		put(b, "parasol_blocked_total{category=\"other\"} %llu\n",
		    (unsigned long long)m->blocked_other);
	one(b, "parasol_blocked_cname_total", "counter",
	    "Lookups blocked because their answer's CNAME chain led to a "
	    "blocked name.",
	    (unsigned long long)c->blocked_cname);
	one(b, "parasol_truncated_total", "counter",
	    "UDP answers sent truncated (TC) because the client could not take "
	    "them.",
	    (unsigned long long)c->truncated);
	one(b, "parasol_send_errors_total", "counter",
	    "Answers the kernel refused to send.",
	    (unsigned long long)c->send_errors);
	one(b, "parasol_in_flight", "gauge",
	    "Questions waiting for an upstream.",
	    (unsigned long long)m->d->n_pending);
	one(b, "parasol_tcp_clients", "gauge", "Client TCP connections open.",
	    (unsigned long long)m->d->n_tcp_clients);
	one(b, "parasol_tcp_refused_total", "counter",
	    "Client TCP connections closed at accept (tcp-max-clients).",
	    (unsigned long long)c->tcp_refused);
}

static void
render_cache(struct metrics *m, struct body *b)
{
	const struct counters *c = &m->d->ctr;
	struct cache_stats cs;

	cache_get_stats(m->d->cache, &cs);
	one(b, "parasol_cache_entries", "gauge", "Answers in the cache.",
	    (unsigned long long)cs.entries);
	one(b, "parasol_cache_bytes", "gauge",
	    "Memory the cached answers take, with their overhead.",
	    (unsigned long long)cs.bytes);
	one(b, "parasol_cache_max_bytes", "gauge",
	    "The cache's bound (cache-size).",
	    (unsigned long long)m->d->cfg.cache_size);
	one(b, "parasol_cache_hits_total", "counter",
	    "Queries answered from the cache.",
	    (unsigned long long)c->cache_hits);
	one(b, "parasol_cache_misses_total", "counter",
	    "Allowed queries not found in the cache, handed to the forwarder.",
	    (unsigned long long)c->cache_misses);
	one(b, "parasol_cache_inserts_total", "counter",
	    "Upstream answers stored.", (unsigned long long)cs.inserts);
	one(b, "parasol_cache_evictions_total", "counter",
	    "Answers dropped to stay within cache-size.",
	    (unsigned long long)cs.evictions);
	one(b, "parasol_cache_expired_total", "counter",
	    "Answers dropped because their TTL ran out.",
	    (unsigned long long)cs.expired);
}

static void
render_upstreams(struct metrics *m, struct body *b)
{
	const struct counters *c = &m->d->ctr;
	const struct upstreams *s = m->d->ups;
	uint64_t now = daemon_now(m->d);
	char l[ADDR_TEXT_MAX * 2];
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
	    {"parasol_upstream_queries_total", "counter",
		"Queries sent to the upstream."},
	    {"parasol_upstream_answers_total", "counter",
		"Answers accepted from the upstream."},
	    {"parasol_upstream_timeouts_total", "counter",
		"Queries the upstream did not answer within upstream-timeout."},
	    {"parasol_upstream_errors_total", "counter",
		"Failures other than timeouts: unreachable, refused, SERVFAIL "
		"and other error rcodes."},
	    {"parasol_upstream_srtt_seconds", "gauge",
		"Smoothed round-trip time of the upstream's answers."},
	    {"parasol_upstream_up", "gauge",
		"1 while the upstream is in use, 0 while it rests after "
		"failures."},
	};

	one(b, "parasol_forwarded_total", "counter",
	    "Questions sent upstream (identical questions in flight once).",
	    (unsigned long long)c->forwarded);
	one(b, "parasol_forward_merged_total", "counter",
	    "Queries that joined an identical question already in flight.",
	    (unsigned long long)c->merged);
	one(b, "parasol_upstream_bad_replies_total", "counter",
	    "Replies dropped as spoofed or stray (wrong ID, source or "
	    "question).",
	    (unsigned long long)c->bad_replies);
	one(b, "parasol_upstream_tcp_fallbacks_total", "counter",
	    "Truncated upstream replies asked again over TCP.",
	    (unsigned long long)c->tcp_fallbacks);
	/* Counters restart when a reload replaces the upstream set. */
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		head(b, fam[f].name, fam[f].type, fam[f].help);
		for (size_t i = 0; i < s->n; i++) {
			const struct upstream *u = &s->u[i];

			label(u->name, l, sizeof(l));
			put(b, "%s{upstream=\"%s\"} ", fam[f].name, l);
			switch (f) {
			case 0:
				put(b, "%llu\n", (unsigned long long)u->sent);
				break;
			case 1:
				put(b, "%llu\n",
				    (unsigned long long)u->answered);
				break;
			case 2:
				put(b, "%llu\n",
				    (unsigned long long)u->timeouts);
				break;
			case 3:
				put(b, "%llu\n",
				    (unsigned long long)(u->failed >=
						u->timeouts
					    ? u->failed - u->timeouts
					    : 0));
				break;
			case 4:
				put(b, "%.6f\n", (double)u->srtt_us / 1e6);
				break;
			default:
				put(b, "%d\n", u->dead_until_ms > now ? 0 : 1);
				break;
			}
		}
	}
}

static void
render_lists(struct metrics *m, struct body *b)
{
	const struct policy *p = &m->d->policy;
	struct recorder_stats rs;

	one(b, "parasol_lists_entries", "gauge",
	    "Names in the blocklist snapshot serving now.",
	    (unsigned long long)(p->snap != NULL ? bl_snapshot_names(p->snap)
						 : 0));
	one(b, "parasol_lists_generation", "gauge",
	    "lists.db generation of the snapshot serving now.",
	    (unsigned long long)p->have_gen);
	head(b, "parasol_lists_last_load_timestamp_seconds", "gauge",
	    "When the snapshot serving now was loaded, unix time.");
	put(b, "parasol_lists_last_load_timestamp_seconds %lld\n",
	    (long long)p->loaded_at);
	one(b, "parasol_lists_loads_total", "counter",
	    "Snapshots built and swapped in (the first load included).",
	    (unsigned long long)p->reloads);
	one(b, "parasol_lists_load_failures_total", "counter",
	    "Rebuilds that failed and left the old snapshot serving.",
	    (unsigned long long)p->reload_failures);

	recorder_get_stats(m->d->rec, &rs);
	one(b, "parasol_stats_recording", "gauge",
	    "1 when traffic and blocked lookups are recorded in stats.db.",
	    m->d->rec != NULL ? 1 : 0);
	one(b, "parasol_stats_events_total", "counter",
	    "Blocked lookups handed to the stats recorder.",
	    (unsigned long long)rs.events);
	one(b, "parasol_stats_written_total", "counter",
	    "Blocked lookups written to stats.db.",
	    (unsigned long long)rs.written);
	one(b, "parasol_stats_dropped_total", "counter",
	    "Blocked lookups lost (table or queue full, disk full, database "
	    "locked).",
	    (unsigned long long)rs.dropped);
	one(b, "parasol_stats_batches_failed_total", "counter",
	    "Batches stats.db refused.", (unsigned long long)rs.batches_failed);
}

static void
render(struct metrics *m, struct body *b)
{
	head(b, "parasol_build_info", "gauge",
	    "The version parasold was built from; always 1.");
	put(b, "parasol_build_info{version=\"%s\"} 1\n", PARASOL_VERSION);
	head(b, "process_start_time_seconds", "gauge",
	    "When parasold started, unix time.");
	put(b, "process_start_time_seconds %.2f\n", m->start_time);
	render_traffic(m, b);
	render_cache(m, b);
	render_upstreams(m, b);
	render_lists(m, b);
}

/* Why the daemon should not get traffic yet (or any more); NULL: ready. */
static const char *
not_ready(const struct daemon *d)
{
	if (d->stopping)
		return "stopping";
	if (d->policy.snap == NULL)
		return "no blocklist loaded";
	if (d->n_listeners == 0)
		return "not listening";
	return NULL;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type,
    char *body, size_t len, int owned)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(
	    len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
	if (r == NULL) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
plain(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return reply(conn, status, "text/plain; charset=utf-8", (char *)msg,
	    strlen(msg), 0);
}

static enum MHD_Result
request_cb(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **state)
{
	struct metrics *m = cls;
	const char *why;
	char msg[128];

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return plain(
		    conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
	if (strcmp(url, "/metrics") == 0) {
		struct body b = {.p = malloc(16384), .cap = 16384};

		if (b.p == NULL)
			return MHD_NO;
		render(m, &b);
		if (b.failed) {
			free(b.p);
			return plain(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
			    "metrics too large\n");
		}
		return reply(conn, MHD_HTTP_OK,
		    "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, 1);
	}
	if (strcmp(url, "/healthz") == 0)
		return plain(conn, MHD_HTTP_OK, "ok\n");
	if (strcmp(url, "/readyz") == 0) {
		why = not_ready(m->d);
		if (why == NULL)
			return plain(conn, MHD_HTTP_OK, "ready\n");
		snprintf(msg, sizeof(msg), "not ready: %s\n", why);
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "text/plain; charset=utf-8", msg, strlen(msg), 0);
	}
	return plain(conn, MHD_HTTP_NOT_FOUND,
	    "not found: try /metrics, /healthz or /readyz\n");
}

static void timer_cb(uv_timer_t *t);

/*
 * MHD_get_timeout is 0 while MHD has work left over (its epoll is
 * edge-triggered). The tick also covers a gap in MHD's epoll mode: after
 * the connection limit was reached, the listening socket goes back into
 * its epoll set only on the run after the one that freed a slot, and
 * nothing else would wake us for that run.
 */
#define TICK_MS 1000

static void
rearm(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(m->mhd, &ms) != MHD_YES || ms > TICK_MS)
		ms = TICK_MS;
	uv_timer_start(&m->timer, timer_cb, (uint64_t)ms, 0);
}

static void
timer_cb(uv_timer_t *t)
{
	struct metrics *m = t->data;

	MHD_run(m->mhd);
	rearm(m);
}

static void
poll_cb(uv_poll_t *p, int status, int events)
{
	struct metrics *m = p->data;

	MHD_run(m->mhd);
	rearm(m);
}

/* MHD's complaints, into our log and the caller's error buffer. */
static char mhd_last_error[256];

static void
mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	size_t n;

	vsnprintf(mhd_last_error, sizeof(mhd_last_error), fmt, ap);
	n = strlen(mhd_last_error);
	while (n > 0 && mhd_last_error[n - 1] == '\n')
		mhd_last_error[--n] = '\0';
	log_debug("metrics: %s", mhd_last_error);
}

/* When this process started: /proc/self/stat's start tick after boot. */
static double
process_start_time(void)
{
	char buf[1024], *p;
	unsigned long long ticks = 0, btime = 0;
	FILE *f;
	long hz = sysconf(_SC_CLK_TCK);

	f = fopen("/proc/stat", "r");
	if (f != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL) {
			if (sscanf(buf, "btime %llu", &btime) == 1)
				break;
		}
		fclose(f);
	}
	f = fopen("/proc/self/stat", "r");
	if (f != NULL) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);

		buf[n] = '\0';
		fclose(f);
		/* After the command name in parentheses, field 22. */
		p = strrchr(buf, ')');
		if (p != NULL &&
		    sscanf(p + 2,
			"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
			"%*d %*d %*d %*d %*d %*d %llu",
			&ticks) != 1)
			ticks = 0;
	}
	if (btime == 0 || ticks == 0 || hz <= 0)
		return (double)time(NULL);
	return (double)btime + (double)ticks / (double)hz;
}

struct metrics *
metrics_new(
    struct daemon *d, const struct sockaddr *addr, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	char text[ADDR_TEXT_MAX];

	addr_text(addr, text, sizeof(text));
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->d = d;
	m->start_time = process_start_time();
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	mhd_last_error[0] = '\0';
	m->mhd = MHD_start_daemon(flags, addr_port(addr), NULL, NULL,
	    request_cb, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL,
	    MHD_OPTION_SOCK_ADDR, addr, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)HTTP_MAX_CONNS, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP_MEMORY_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_END);
	if (m->mhd == NULL) {
		snprintf(err, errlen, "metrics: cannot listen on %s: %s", text,
		    mhd_last_error[0] != '\0' ? mhd_last_error
					      : "libmicrohttpd failed");
		free(m);
		return NULL;
	}
	info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL ||
	    uv_poll_init(d->loop, &m->poll, info->epoll_fd) != 0) {
		snprintf(err, errlen, "metrics: cannot watch libmicrohttpd");
		MHD_stop_daemon(m->mhd);
		free(m);
		return NULL;
	}
	uv_timer_init(d->loop, &m->timer);
	m->poll.data = m->timer.data = m;
	m->open_handles = 2;
	uv_poll_start(&m->poll, UV_READABLE, poll_cb);
	rearm(m);
	log_info("metrics on http://%s/metrics", text);
	return m;
}

static void
closed_cb(uv_handle_t *h)
{
	struct metrics *m = h->data;

	if (--m->open_handles > 0)
		return;
	for (size_t i = 0; i < m->n_categories; i++)
		free(m->category[i]);
	free(m);
}

void
metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	/* The poll handle lets go of the epoll fd before MHD closes it. */
	uv_close((uv_handle_t *)&m->poll, closed_cb);
	uv_close((uv_handle_t *)&m->timer, closed_cb);
	MHD_stop_daemon(m->mhd);
	m->mhd = NULL;
}
