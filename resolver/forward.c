/*
 * Forwarding of cache misses (RFC 5452 rules). Each question in flight is
 * one "pending" entry, found by its cache key, that any number of clients
 * asking the same thing wait on. Each attempt goes to one upstream with a
 * random ID, from a UDP socket picked at random from that upstream's pool
 * (see below); a reply counts only if the socket, the ID, the source and
 * the question all match, and anything else is dropped and counted while
 * the attempt goes on waiting. A truncated reply is asked again over TCP.
 * An accepted reply is scrubbed to the records that answer the question
 * (scrub.h) before it is cached or answered. Timeouts and failures move
 * on to the next upstream until the query's time budget ends, then every
 * waiting client gets the cache's expired answer if serve-stale still
 * allows it (RFC 8767), or SERVFAIL with an EDE. With such an expired
 * answer at hand, clients wait no longer than the client-response timer.
 *
 * The socket pool. A new socket for every query (socket, bind, connect,
 * epoll add, close) cost more than all the rest of a cache miss. Instead
 * each upstream has POOL_SOCKS slots; a socket is bound to a port chosen
 * with libsodium (not the kernel's sequence) and connected to its
 * upstream, so the kernel drops datagrams from anywhere else and reports
 * ICMP errors. An off-path forger still has to hit the one port and the
 * one ID of the query it targets: 1 in 64512 x 65536, as with a socket per
 * query. What a pool changes is how long a port stays open, which is what
 * port-scanning side channels (SAD DNS) need time for: a socket takes new
 * queries for at most SOCK_MAX_AGE_MS and SOCK_MAX_USES queries, then
 * leaves the pool and closes when its last query ends, and a fresh socket
 * on a fresh random port takes the slot. No socket lives longer than
 * SOCK_MAX_AGE_MS plus the resolve timeout.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "blocklist/match.h"
#include "resolver/addr.h"
#include "resolver/cache.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/reply.h"
#include "resolver/scrub.h"
#include "resolver/upstream.h"

#define PENDING_WAITERS_MAX 256
#define STALE_TTL 30	      /* seconds, RFC 8767 4 */
#define STALE_CLIENT_MS 1800 /* client-response timer, RFC 8767 5 */
#define QUERY_BUF_MAX (2 + WIRE_HDR_LEN + WIRE_NAME_MAX + 4 + 11)

struct waiter {
	struct waiter *next;
	struct client cl;
	struct wire_query q;
};

#define POOL_SOCKS 16	      /* sockets per upstream */
#define SOCK_MAX_USES 1024    /* queries one socket sends before retiring */
#define SOCK_MAX_AGE_MS 2000  /* and how long it takes new ones */
#define SOCK_ID_BUCKETS 64    /* per-socket table of queries by ID */
#define POOL_SWEEP_MS 1000

struct up_pool;

struct up_sock {
	uv_udp_t h;
	struct daemon *d;
	struct up_pool *pool; /* NULL once retired */
	unsigned slot;
	unsigned inflight;
	unsigned uses;
	uint64_t born_ms;
	struct pending *by_id[SOCK_ID_BUCKETS];
};

/* One upstream address's sockets; kept until the daemon stops. */
struct up_pool {
	struct up_pool *next;
	struct sockaddr_storage addr;
	struct up_sock *s[POOL_SOCKS];
};

struct fwd_pools {
	struct up_pool *list;
	uv_timer_t sweep;
	unsigned n_socks; /* open, in a pool or retired */
	uint8_t rnd[1024];
	size_t rnd_off;
	uint8_t scrub[WIRE_MSG_MAX]; /* a reply with records removed */
};

struct up_tcp {
	uv_tcp_t h;
	struct pending *p;
	uv_connect_t creq;
	uv_write_t wreq;
	uint8_t *buf;
	size_t have;
	size_t cap;
};

struct pending {
	struct pending *hnext;
	struct daemon *d;
	struct upstreams *set;
	struct cache_key key;
	uint64_t hash;
	struct waiter *waiters;
	struct waiter **tail;
	unsigned n_waiters;
	uint64_t deadline_ms;
	uint64_t attempt_end_ms; /* when this attempt times out */
	uint64_t stale_at_ms;	 /* RFC 8767 client-response timer; 0: none */
	uint64_t sent_us;
	uint32_t tried;
	unsigned tries;
	unsigned net_errors;
	int failed_rcode; /* last error rcode an upstream answered; 0: none */
	int up;
	uint16_t id;
	struct up_sock *sock;  /* the UDP attempt's socket */
	struct pending *snext; /* in sock->by_id */
	struct up_tcp *tcp;
	uv_timer_t timer;
	size_t qlen;
	uint8_t qbuf[QUERY_BUF_MAX]; /* 2-byte TCP length, then the query */
};

static void attempt(struct pending *p);

static uint64_t
now_us(void)
{
	return uv_hrtime() / 1000;
}

static uint64_t
key_hash(const struct daemon *d, const struct cache_key *k)
{
	uint8_t buf[5 + 255], out[crypto_shorthash_BYTES];
	uint64_t h;

	wire_put16(buf, k->qtype);
	wire_put16(buf + 2, k->qclass);
	buf[4] = k->do_bit;
	memcpy(buf + 5, k->name, k->name_len);
	crypto_shorthash(out, buf, 5 + (size_t)k->name_len, d->pending_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

static struct pending **
slot(struct daemon *d, uint64_t h)
{
	return &d->pending[h & (d->n_pending_buckets - 1)];
}

static struct pending *
pending_find(struct daemon *d, const struct cache_key *k, uint64_t h)
{
	struct pending *p = *slot(d, h);

	for (; p != NULL; p = p->hnext) {
		if (p->hash == h && p->key.qtype == k->qtype &&
		    p->key.qclass == k->qclass && p->key.do_bit == k->do_bit &&
		    p->key.name_len == k->name_len &&
		    memcmp(p->key.name, k->name, k->name_len) == 0)
			return p;
	}
	return NULL;
}

static struct fwd_pools *pools_get(struct daemon *d);

/* Random bytes from a buffer refilled with one getrandom per 512 IDs. */
static uint16_t
rand16(struct daemon *d)
{
	struct fwd_pools *fp = d->fwd;
	uint16_t v;

	if (fp->rnd_off + 2 > sizeof(fp->rnd)) {
		randombytes_buf(fp->rnd, sizeof(fp->rnd));
		fp->rnd_off = 0;
	}
	memcpy(&v, fp->rnd + fp->rnd_off, 2);
	sodium_memzero(fp->rnd + fp->rnd_off, 2);
	fp->rnd_off += 2;
	return v;
}

/* Uniform in [0, n) for n <= 65536, by rejection. */
static uint32_t
rand_below(struct daemon *d, uint32_t n)
{
	uint32_t limit = 65536 - 65536 % n, v;

	do
		v = rand16(d);
	while (v >= limit);
	return v % n;
}

static void
sock_closed_cb(uv_handle_t *h)
{
	struct up_sock *s = h->data;

	if (s->d->fwd != NULL)
		s->d->fwd->n_socks--;
	free(s);
}

static void
sock_close(struct up_sock *s)
{
	uv_close((uv_handle_t *)&s->h, sock_closed_cb);
}

/* Take a socket out of its pool: it gets no new queries. */
static void
sock_retire(struct up_sock *s)
{
	if (s->pool != NULL) {
		s->pool->s[s->slot] = NULL;
		s->pool = NULL;
	}
	if (s->inflight == 0)
		sock_close(s);
}

static void
sock_unlink(struct pending *p)
{
	struct up_sock *s = p->sock;
	struct pending **pp = &s->by_id[p->id % SOCK_ID_BUCKETS];

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->snext;
	if (*pp == p)
		*pp = p->snext;
	p->snext = NULL;
	p->sock = NULL;
	s->inflight--;
	if (s->inflight == 0 &&
	    (s->pool == NULL ||
		daemon_now(s->d) - s->born_ms >= SOCK_MAX_AGE_MS))
		sock_retire(s);
}

static void
tcp_closed_cb(uv_handle_t *h)
{
	struct up_tcp *t = h->data;

	free(t->buf);
	free(t);
}

static void
close_sockets(struct pending *p)
{
	if (p->sock != NULL)
		sock_unlink(p);
	if (p->tcp != NULL) {
		p->tcp->p = NULL;
		p->tcp->h.data = p->tcp;
		uv_close((uv_handle_t *)&p->tcp->h, tcp_closed_cb);
		p->tcp = NULL;
	}
}

static void
timer_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

/* Unhook, release every waiter and free once the timer has closed. */
static void
pending_done(struct pending *p)
{
	struct daemon *d = p->d;
	struct pending **pp = slot(d, p->hash);
	struct waiter *w, *next;

	while (*pp != NULL && *pp != p)
		pp = &(*pp)->hnext;
	if (*pp == p)
		*pp = p->hnext;
	d->n_pending--;
	for (w = p->waiters; w != NULL; w = next) {
		next = w->next;
		server_client_unref(&w->cl);
		free(w);
	}
	p->waiters = NULL;
	close_sockets(p);
	upstreams_unref(p->set);
	p->timer.data = p;
	uv_close((uv_handle_t *)&p->timer, timer_closed_cb);
	if (d->stopping && d->n_pending == 0)
		daemon_drained(d);
}

/* Send one client the stale answer of len bytes in d->scratch. */
static void
stale_to_client(struct daemon *d, struct client *cl,
    const struct wire_query *q, size_t len, const char *why)
{
	size_t n;
	int truncated;

	d->ctr.stale_answers++;
	daemon_note(d, REC_CACHED, (int)WIRE_RCODE(wire_get16(d->scratch + 2)),
	    cl, q, NULL);
	if (server_client_gone(cl))
		return;
	memcpy(d->out, d->scratch, len);
	n = query_answer_finish_ede(q, d->out, len, sizeof(d->out),
	    query_size_limit(q, cl->conn != NULL, (uint16_t)d->cfg.edns_size),
	    (uint16_t)d->cfg.edns_size, WIRE_EDE_STALE_ANSWER, why, &truncated);
	d->ctr.truncated += (uint64_t)truncated;
	if (n > 0)
		server_send(d, cl, d->out, n);
}

/*
 * Serve-stale (RFC 8767): the resolution failed, or is taking longer than
 * the client-response timer, but the cache still holds an answer that
 * expired less than serve-stale ago. Every waiter gets it with TTL 30
 * (RFC 8767 4) and EDE 3 saying why it is stale, and leaves. A fresh
 * answer (also one that arrives for this query after the timer) replaces
 * the entry; after a failure, fail() holds it for stale-recheck (RFC 8767's
 * failure recheck timer). Returns 0 when there was nothing to serve.
 */
static int
answer_stale(struct pending *p, const char *why)
{
	struct daemon *d = p->d;
	const struct cache_entry *e;
	size_t len;

	if (d->cfg.serve_stale == 0)
		return 0;
	e = cache_lookup_stale(d->cache, &p->key, daemon_now(d));
	if (e == NULL)
		return 0;
	len = cache_entry_copy_stale(e, d->scratch, sizeof(d->scratch),
	    STALE_TTL);
	if (len == 0)
		return 0;
	for (struct waiter *w = p->waiters; w != NULL; w = w->next)
		stale_to_client(d, &w->cl, &w->q, len, why);
	while (p->waiters != NULL) {
		struct waiter *w = p->waiters;

		p->waiters = w->next;
		server_client_unref(&w->cl);
		free(w);
	}
	p->tail = &p->waiters;
	p->n_waiters = 0;
	return 1;
}

static void
fail(struct pending *p)
{
	struct daemon *d = p->d;
	int ede = WIRE_EDE_NO_REACHABLE_AUTHORITY;
	const char *text = "no upstream answered in time";

	/* Say what happened last time an upstream could have answered. */
	if (p->failed_rcode != 0) {
		ede = WIRE_EDE_OTHER;
		text = p->failed_rcode == WIRE_RCODE_REFUSED
			   ? "upstream answered REFUSED"
			   : "upstream answered SERVFAIL";
	} else if (p->net_errors > 0) {
		ede = WIRE_EDE_NETWORK_ERROR;
		text = "upstream unreachable";
	}

	if (answer_stale(p, text)) {
		/* Do not ask again for every client while the upstreams are
		 * failing: they get this answer at once for stale-recheck. */
		if (d->cfg.stale_recheck > 0 && !d->stopping)
			cache_stale_hold(d->cache, &p->key,
			    daemon_now(d) + d->cfg.stale_recheck * 1000);
		pending_done(p);
		return;
	}

	for (struct waiter *w = p->waiters; w != NULL; w = w->next) {
		size_t n;

		d->ctr.servfail++;
		daemon_note(d, REC_ERROR, WIRE_RCODE_SERVFAIL, &w->cl, &w->q,
		    NULL);
		if (server_client_gone(&w->cl))
			continue;
		n = query_answer_error(&w->q, WIRE_RCODE_SERVFAIL, ede, text,
		    (uint16_t)d->cfg.edns_size, d->out, sizeof(d->out));
		if (n > 0)
			server_send(d, &w->cl, d->out, n);
	}
	pending_done(p);
}

static int
sinkhole_rcode(const struct sinkhole *sh)
{
	if (sh->mode == SINKHOLE_NXDOMAIN)
		return WIRE_RCODE_NXDOMAIN;
	if (sh->mode == SINKHOLE_REFUSED)
		return WIRE_RCODE_REFUSED;
	return WIRE_RCODE_NOERROR;
}

/* The chain leads to a blocked name: answer as blocked, cache nothing. */
static void
answer_blocked(struct pending *p, const struct bl_verdict *v,
    const uint8_t *name, size_t name_len)
{
	struct daemon *d = p->d;

	for (struct waiter *w = p->waiters; w != NULL; w = w->next) {
		size_t n;

		if (name != NULL)
			d->ctr.blocked_cname++;
		else
			d->ctr.blocked++;
		daemon_note(d, REC_BLOCKED, sinkhole_rcode(&d->cfg.sinkhole),
		    &w->cl, &w->q, v);
		if (server_client_gone(&w->cl))
			continue;
		n = query_answer_blocked(&w->q, d->policy.snap, v, name,
		    name_len, &d->cfg.sinkhole, (uint32_t)d->cfg.block_ttl,
		    (uint16_t)d->cfg.edns_size,
		    query_size_limit(&w->q, w->cl.conn != NULL,
			(uint16_t)d->cfg.edns_size),
		    d->out, sizeof(d->out));
		if (n > 0)
			server_send(d, &w->cl, d->out, n);
	}
	pending_done(p);
}

static void next_attempt(struct pending *p, int net_error);

/*
 * A reply that passed every check: keep only the records that answer the
 * question (scrub.h), cache it and answer everyone.
 */
static void
succeed(struct pending *p, const uint8_t *pkt, size_t len,
    struct wire_scan *scan)
{
	struct daemon *d = p->d;
	struct fwd_pools *fp = pools_get(d);
	size_t keep, scrubbed_len = 0;
	struct bl_verdict v;
	uint8_t name[WIRE_NAME_MAX];
	size_t name_len = 0;
	int rc = -1;

	if (fp != NULL)
		rc = scrub_reply(pkt, len, scan, fp->scrub, sizeof(fp->scrub),
		    &scrubbed_len);
	if (rc == 1 && wire_reply_scan(fp->scrub, scrubbed_len, scan) == 0) {
		d->ctr.scrubbed++;
		pkt = fp->scrub;
		len = scrubbed_len;
	} else if (rc != 0) {
		d->ctr.bad_replies++;
		next_attempt(p, 0);
		return;
	}
	keep = scan->opt_off != 0 ? scan->opt_off : len;
	upstreams_ok(p->set, p->up, now_us() - p->sent_us);
	if (d->policy.snap != NULL) {
		/* The question itself again: the list may have changed
		 * while it was in flight, and hits skip the list (query.c). */
		bl_match_lookup(d->policy.snap, p->key.name, p->key.name_len,
		    &v);
		if (v.action == BL_BLOCK) {
			answer_blocked(p, &v, NULL, 0);
			return;
		}
		if (reply_cname_blocked(d->policy.snap, pkt, len, scan, &v,
		    name, &name_len)) {
			answer_blocked(p, &v, name, name_len);
			return;
		}
	}
	cache_insert(d->cache, &p->key, pkt, len, scan, daemon_now(d));
	/* Clamp once; every waiter gets the same bytes the cache now holds. */
	memcpy(d->scratch, pkt, keep);
	cache_clamp_reply(d->cache, d->scratch, scan);
	for (struct waiter *w = p->waiters; w != NULL; w = w->next) {
		size_t n;
		int truncated;

		daemon_note(d, REC_FORWARDED, (int)WIRE_RCODE(scan->flags),
		    &w->cl, &w->q, NULL);
		if (server_client_gone(&w->cl))
			continue;
		n = reply_answer(&w->q, d->scratch, keep, scan, d->out,
		    sizeof(d->out),
		    query_size_limit(&w->q, w->cl.conn != NULL,
			(uint16_t)d->cfg.edns_size),
		    (uint16_t)d->cfg.edns_size, &truncated);
		d->ctr.truncated += (uint64_t)truncated;
		if (n > 0)
			server_send(d, &w->cl, d->out, n);
	}
	pending_done(p);
}

/* Move on to the next upstream after this one failed. */
static void
next_attempt(struct pending *p, int net_error)
{
	struct daemon *d = p->d;

	if (net_error)
		p->net_errors++;
	upstreams_fail(p->set, p->up, daemon_now(d),
	    d->cfg.upstream_timeout * 1000);
	close_sockets(p);
	attempt(p);
}

/*
 * Check a reply against what we asked (resolver/reply.c). Returns 1 to
 * accept, 0 to ignore it and keep waiting (spoofed or stray), -1 for a
 * reply from the right peer that says the upstream failed.
 */
static int
check_reply(struct pending *p, const uint8_t *pkt, size_t len,
    struct wire_scan *scan)
{
	return (int)reply_check(&p->key, p->id, pkt, len, scan);
}

/* An upstream answered, but with an error (reply_check said so). */
static void
note_failed_rcode(struct pending *p, const struct wire_scan *scan)
{
	int rcode = (int)WIRE_RCODE(scan->flags);

	p->failed_rcode = rcode != 0 ? rcode : WIRE_RCODE_SERVFAIL;
}

static void
timer_cb(uv_timer_t *t)
{
	struct pending *p = t->data;
	uint64_t now = daemon_now(p->d);

	if (p->stale_at_ms != 0 && now >= p->stale_at_ms) {
		p->stale_at_ms = 0;
		answer_stale(p, "upstream slow to answer");
		if (now < p->attempt_end_ms) {
			uv_timer_start(&p->timer, timer_cb,
			    p->attempt_end_ms - now, 0);
			return;
		}
	}
	p->d->ctr.upstream_timeouts++;
	p->set->u[p->up].timeouts++;
	next_attempt(p, 0);
}

/* Time this attempt out after ms, or at the client-response timer. */
static void
arm_timer(struct pending *p, uint64_t ms)
{
	uint64_t now = daemon_now(p->d);
	uint64_t left = p->deadline_ms > now ? p->deadline_ms - now : 0;
	uint64_t fire = ms < left ? ms : left;

	p->attempt_end_ms = now + fire;
	if (p->stale_at_ms != 0 && p->stale_at_ms < p->attempt_end_ms)
		fire = p->stale_at_ms > now ? p->stale_at_ms - now : 0;
	uv_timer_start(&p->timer, timer_cb, fire, 0);
}

static void
tcp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct up_tcp *t = h->data;

	*buf = uv_buf_init((char *)t->buf + t->have,
	    (unsigned)(t->cap - t->have));
}

static void
tcp_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct up_tcp *t = s->data;
	struct pending *p = t->p;
	struct wire_scan scan;
	size_t need;
	int rc;

	if (p == NULL)
		return;
	if (nread < 0) {
		p->d->ctr.upstream_errors++;
		next_attempt(p, 1);
		return;
	}
	t->have += (size_t)nread;
	if (t->have < 2)
		return;
	need = 2 + (size_t)wire_get16(t->buf);
	if (t->have < need)
		return;
	rc = check_reply(p, t->buf + 2, need - 2, &scan);
	if (rc == 1) {
		succeed(p, t->buf + 2, need - 2, &scan);
		return;
	}
	if (rc == 0)
		p->d->ctr.bad_replies++;
	else
		note_failed_rcode(p, &scan);
	/* One answer per connection: anything else is a failure. */
	next_attempt(p, 0);
}

static void
tcp_written_cb(uv_write_t *req, int status)
{
	struct up_tcp *t = req->data;

	if (t->p != NULL && status < 0) {
		t->p->d->ctr.upstream_errors++;
		next_attempt(t->p, 1);
	}
}

static void
tcp_connect_cb(uv_connect_t *req, int status)
{
	struct up_tcp *t = req->data;
	struct pending *p = t->p;
	uv_buf_t b;

	if (p == NULL)
		return;
	if (status < 0 ||
	    uv_read_start((uv_stream_t *)&t->h, tcp_alloc_cb, tcp_read_cb) !=
		0) {
		p->d->ctr.upstream_errors++;
		next_attempt(p, 1);
		return;
	}
	b = uv_buf_init((char *)p->qbuf, (unsigned)(2 + p->qlen));
	t->wreq.data = t;
	if (uv_write(&t->wreq, (uv_stream_t *)&t->h, &b, 1, tcp_written_cb) !=
	    0) {
		p->d->ctr.upstream_errors++;
		next_attempt(p, 1);
	}
}

/* The upstream said TC: ask the same upstream the same question on TCP. */
static void
start_tcp(struct pending *p)
{
	struct daemon *d = p->d;
	struct up_tcp *t;

	close_sockets(p);
	d->ctr.tcp_fallbacks++;
	t = calloc(1, sizeof(*t));
	if (t != NULL)
		t->buf = malloc(2 + WIRE_MSG_MAX);
	if (t == NULL || t->buf == NULL) {
		free(t);
		next_attempt(p, 1);
		return;
	}
	t->cap = 2 + WIRE_MSG_MAX;
	t->p = p;
	uv_tcp_init(d->loop, &t->h);
	t->h.data = t;
	t->creq.data = t;
	p->tcp = t;
	if (uv_tcp_connect(&t->creq, &t->h,
		(const struct sockaddr *)&p->set->u[p->up].addr,
		tcp_connect_cb) != 0) {
		next_attempt(p, 1);
		return;
	}
	/* TCP costs a handshake more: give it twice the time. */
	arm_timer(p, 2 * d->cfg.upstream_timeout);
}

static void
udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct up_sock *s = h->data;

	/* Handled before the next read, so the shared buffer is free. */
	*buf = uv_buf_init((char *)s->d->recv_buf, DAEMON_DGRAM_MAX);
}

/*
 * An error on a connected socket is an ICMP report that the upstream is
 * unreachable: every query waiting on this socket moves on.
 */
static void
sock_failed(struct up_sock *s)
{
	struct pending *list[SOCK_ID_BUCKETS * 4];
	size_t n;

	s->d->ctr.upstream_errors++;
	if (s->pool != NULL) {
		s->pool->s[s->slot] = NULL;
		s->pool = NULL;
	}
	/* Retired first so no attempt below can pick it again. */
	do {
		n = 0;
		for (unsigned b = 0; b < SOCK_ID_BUCKETS; b++) {
			for (struct pending *p = s->by_id[b];
			     p != NULL && n < sizeof(list) / sizeof(list[0]);
			     p = p->snext)
				list[n++] = p;
		}
		for (size_t i = 0; i < n; i++)
			next_attempt(list[i], 1);
	} while (n > 0 && s->inflight > 0);
}

static void
udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *addr, unsigned flags)
{
	struct up_sock *s = h->data;
	struct pending *p;
	struct wire_scan scan;
	uint16_t id;
	int rc;

	if (nread == 0 && addr == NULL)
		return;
	if (nread < 0) {
		if (s->inflight > 0)
			sock_failed(s);
		else
			sock_retire(s);
		return;
	}
	if (addr == NULL || (flags & UV_UDP_PARTIAL) || nread < WIRE_HDR_LEN) {
		s->d->ctr.bad_replies++;
		return;
	}
	id = wire_get16((const uint8_t *)buf->base);
	for (p = s->by_id[id % SOCK_ID_BUCKETS]; p != NULL; p = p->snext)
		if (p->id == id)
			break;
	if (p == NULL ||
	    !addr_equal(addr, (const struct sockaddr *)&p->set->u[p->up].addr)) {
		s->d->ctr.bad_replies++;
		return;
	}
	rc = check_reply(p, (const uint8_t *)buf->base, (size_t)nread, &scan);
	if (rc == 0) {
		p->d->ctr.bad_replies++;
		return;
	}
	if (rc < 0) {
		note_failed_rcode(p, &scan);
		next_attempt(p, 0);
		return;
	}
	if (scan.flags & WIRE_FLAG_TC) {
		start_tcp(p);
		return;
	}
	succeed(p, (const uint8_t *)buf->base, (size_t)nread, &scan);
}

/* Bind to a port chosen by libsodium, not by the kernel's sequence. */
static int
bind_random_port(struct daemon *d, uv_udp_t *h, int family)
{
	struct sockaddr_storage ss;
	int rc = UV_EADDRINUSE;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	for (int i = 0; i < 10 && rc == UV_EADDRINUSE; i++) {
		uint16_t port = (uint16_t)(1024 + rand_below(d, 64512));

		if (family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons(port);
		rc = uv_udp_bind(h, (const struct sockaddr *)&ss, 0);
	}
	return rc;
}

static int
sock_open(struct daemon *d, struct up_pool *pool, unsigned slot,
    struct up_sock **out)
{
	const struct sockaddr *to = (const struct sockaddr *)&pool->addr;
	struct up_sock *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return UV_ENOMEM;
	rc = uv_udp_init(d->loop, &s->h);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->h.data = s;
	s->d = d;
	s->born_ms = daemon_now(d);
	d->fwd->n_socks++;
	rc = bind_random_port(d, &s->h, to->sa_family);
	if (rc == 0)
		rc = uv_udp_connect(&s->h, to);
	if (rc == 0)
		rc = uv_udp_recv_start(&s->h, udp_alloc_cb, udp_recv_cb);
	if (rc != 0) {
		sock_close(s);
		return rc;
	}
	s->pool = pool;
	s->slot = slot;
	pool->s[slot] = s;
	*out = s;
	return 0;
}

static struct up_pool *
pool_for(struct daemon *d, const struct sockaddr *to)
{
	struct fwd_pools *fp = pools_get(d);
	struct up_pool *pool;

	if (fp == NULL)
		return NULL;
	for (pool = fp->list; pool != NULL; pool = pool->next)
		if (addr_equal((const struct sockaddr *)&pool->addr, to))
			return pool;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL)
		return NULL;
	memcpy(&pool->addr, to, addr_len(to));
	pool->next = fp->list;
	fp->list = pool;
	return pool;
}

/* A socket for a new query to this upstream, and an ID unused on it. */
static int
sock_take(struct pending *p)
{
	struct daemon *d = p->d;
	const struct sockaddr *to =
	    (const struct sockaddr *)&p->set->u[p->up].addr;
	struct up_pool *pool = pool_for(d, to);
	struct up_sock *s;
	struct pending *q;
	unsigned slot;
	int rc;

	if (pool == NULL)
		return UV_ENOMEM;
	slot = rand_below(d, POOL_SOCKS);
	s = pool->s[slot];
	if (s != NULL && (s->uses >= SOCK_MAX_USES ||
			     daemon_now(d) - s->born_ms >= SOCK_MAX_AGE_MS)) {
		sock_retire(s);
		s = NULL;
	}
	if (s == NULL) {
		rc = sock_open(d, pool, slot, &s);
		if (rc != 0)
			return rc;
	}
	do {
		p->id = rand16(d);
		for (q = s->by_id[p->id % SOCK_ID_BUCKETS]; q != NULL;
		     q = q->snext)
			if (q->id == p->id)
				break;
	} while (q != NULL);
	p->sock = s;
	p->snext = s->by_id[p->id % SOCK_ID_BUCKETS];
	s->by_id[p->id % SOCK_ID_BUCKETS] = p;
	s->inflight++;
	s->uses++;
	return 0;
}

/* Close idle sockets past their age, so no port stays open for long. */
static void
sweep_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;
	uint64_t now = daemon_now(d);

	for (struct up_pool *pool = d->fwd->list; pool != NULL;
	     pool = pool->next) {
		for (unsigned i = 0; i < POOL_SOCKS; i++) {
			struct up_sock *s = pool->s[i];

			if (s != NULL && s->inflight == 0 &&
			    now - s->born_ms >= SOCK_MAX_AGE_MS)
				sock_retire(s);
		}
	}
}

static struct fwd_pools *
pools_get(struct daemon *d)
{
	struct fwd_pools *fp = d->fwd;

	if (fp != NULL)
		return fp;
	fp = calloc(1, sizeof(*fp));
	if (fp == NULL)
		return NULL;
	fp->rnd_off = sizeof(fp->rnd);
	uv_timer_init(d->loop, &fp->sweep);
	fp->sweep.data = d;
	uv_timer_start(&fp->sweep, sweep_cb, POOL_SWEEP_MS, POOL_SWEEP_MS);
	uv_unref((uv_handle_t *)&fp->sweep);
	d->fwd = fp;
	return fp;
}

static void
build_query(struct pending *p)
{
	uint8_t *q = p->qbuf + 2;
	size_t len = WIRE_HDR_LEN;

	memset(q, 0, WIRE_HDR_LEN);
	wire_put16(q, p->id);
	wire_put16(q + 2, WIRE_FLAG_RD);
	wire_put16(q + 4, 1);
	wire_put16(q + 10, 1);
	len += wire_question_write(q + len, sizeof(p->qbuf) - 2 - len,
	    p->key.name, p->key.name_len, p->key.qtype, p->key.qclass);
	len += wire_opt_write(q + len, sizeof(p->qbuf) - 2 - len,
	    (uint16_t)p->d->cfg.edns_size, 0, p->key.do_bit, WIRE_EDE_NONE,
	    NULL);
	p->qlen = len;
	wire_put16(p->qbuf, (uint16_t)len);
}

static int
start_udp(struct pending *p)
{
	uv_buf_t b;
	int rc;

	rc = sock_take(p);
	if (rc != 0)
		return rc;
	build_query(p);
	b = uv_buf_init((char *)p->qbuf + 2, (unsigned)p->qlen);
	rc = uv_udp_try_send(&p->sock->h, &b, 1, NULL);
	return rc < 0 ? rc : 0;
}

/* Try the next upstream, or give up when the budget is spent. */
static void
attempt(struct pending *p)
{
	struct daemon *d = p->d;

	for (;;) {
		unsigned max_tries = (unsigned)p->set->n + 1;
		int rc;

		if (daemon_now(d) >= p->deadline_ms || p->tries >= max_tries ||
		    d->stopping > 1) {
			fail(p);
			return;
		}
		p->up = upstreams_pick(p->set, p->tried, daemon_now(d));
		p->tried |= 1u << p->up;
		p->tries++;
		p->sent_us = now_us();
		rc = start_udp(p);
		if (rc == 0) {
			arm_timer(p, d->cfg.upstream_timeout);
			return;
		}
		log_debug("send to %s failed: %s", p->set->u[p->up].name,
		    uv_strerror(rc));
		d->ctr.upstream_errors++;
		p->net_errors++;
		upstreams_fail(p->set, p->up, daemon_now(d),
		    d->cfg.upstream_timeout * 1000);
		close_sockets(p);
	}
}

static void
grow_table(struct daemon *d)
{
	size_t n = d->n_pending_buckets * 2;
	struct pending **t = calloc(n, sizeof(*t));

	if (t == NULL)
		return;
	for (size_t i = 0; i < d->n_pending_buckets; i++) {
		struct pending *p = d->pending[i], *next;

		for (; p != NULL; p = next) {
			next = p->hnext;
			p->hnext = t[p->hash & (n - 1)];
			t[p->hash & (n - 1)] = p;
		}
	}
	free(d->pending);
	d->pending = t;
	d->n_pending_buckets = n;
}

void
forward_query(struct daemon *d, const struct client *cl,
    const struct wire_query *q)
{
	struct cache_key key;
	const struct cache_entry *stale = NULL;
	struct pending *p;
	struct waiter *w;
	uint64_t h;

	cache_key_make(&key, q->qname, q->qname_len, q->qtype, q->qclass,
	    q->do_bit);
	if (d->cfg.serve_stale > 0) {
		stale = cache_lookup_stale(d->cache, &key, daemon_now(d));
		if (stale != NULL && cache_entry_held(stale, daemon_now(d))) {
			size_t len = cache_entry_copy_stale(stale, d->scratch,
			    sizeof(d->scratch), STALE_TTL);

			if (len > 0) {
				struct client c = *cl;

				stale_to_client(d, &c, q, len,
				    "upstream failed recently");
				return;
			}
		}
	}
	h = key_hash(d, &key);
	p = pending_find(d, &key, h);
	if (p != NULL && p->n_waiters >= PENDING_WAITERS_MAX) {
		d->ctr.dropped++;
		daemon_note(d, REC_ERROR, METRICS_NO_ANSWER, cl, q, NULL);
		return;
	}
	w = malloc(sizeof(*w));
	if (w == NULL) {
		d->ctr.dropped++;
		daemon_note(d, REC_ERROR, METRICS_NO_ANSWER, cl, q, NULL);
		return;
	}
	w->next = NULL;
	w->cl = *cl;
	w->q = *q;
	server_client_ref(&w->cl);
	if (p != NULL) {
		d->ctr.merged++;
		*p->tail = w;
		p->tail = &w->next;
		p->n_waiters++;
		return;
	}

	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		server_client_unref(&w->cl);
		free(w);
		d->ctr.dropped++;
		daemon_note(d, REC_ERROR, METRICS_NO_ANSWER, cl, q, NULL);
		return;
	}
	d->ctr.forwarded++;
	p->d = d;
	p->key = key;
	p->hash = h;
	p->waiters = w;
	p->tail = &w->next;
	p->n_waiters = 1;
	p->set = d->ups;
	upstreams_ref(p->set);
	p->deadline_ms = daemon_now(d) + d->cfg.resolve_timeout;
	/* An expired answer to fall back on: clients wait for the upstreams
	 * no longer than RFC 8767's client-response timer for it. */
	if (stale != NULL && d->cfg.resolve_timeout > STALE_CLIENT_MS)
		p->stale_at_ms = daemon_now(d) + STALE_CLIENT_MS;
	uv_timer_init(d->loop, &p->timer);
	p->timer.data = p;
	if (d->n_pending + 1 > d->n_pending_buckets)
		grow_table(d);
	p->hnext = *slot(d, h);
	*slot(d, h) = p;
	d->n_pending++;
	attempt(p);
}

static void
pools_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void
forward_abort_all(struct daemon *d)
{
	struct fwd_pools *fp;

	d->stopping = 2;
	for (size_t i = 0; i < d->n_pending_buckets; i++) {
		while (d->pending[i] != NULL)
			fail(d->pending[i]);
	}
	fp = d->fwd;
	if (fp == NULL)
		return;
	while (fp->list != NULL) {
		struct up_pool *pool = fp->list;

		for (unsigned i = 0; i < POOL_SOCKS; i++)
			if (pool->s[i] != NULL)
				sock_retire(pool->s[i]);
		fp->list = pool->next;
		free(pool);
	}
	d->fwd = NULL;
	fp->sweep.data = fp;
	uv_close((uv_handle_t *)&fp->sweep, pools_closed_cb);
}
