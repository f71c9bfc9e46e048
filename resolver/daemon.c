#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>
#include <sodium.h>

#include "blocklist/match.h"
#include "parasol_config.h"
#include "resolver/addr.h"
#include "resolver/cache.h"
#include "resolver/control.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/metrics.h"
#include "resolver/notify.h"
#include "resolver/upstream.h"

#define DRAIN_MS 2000

static void
cache_limits_from(const struct config *cfg, struct cache_limits *lim)
{
	lim->max_bytes = cfg->cache_size;
	lim->min_ttl = (uint32_t)cfg->cache_min_ttl;
	lim->max_ttl = (uint32_t)cfg->cache_max_ttl;
	lim->neg_max_ttl = (uint32_t)cfg->cache_neg_max_ttl;
	lim->stale_s = (uint32_t)cfg->serve_stale;
}

/* Nameservers from a resolv.conf, port 53. */
static int
read_resolv_conf(const char *path, struct sockaddr_storage *out, size_t max,
    size_t *n)
{
	ldns_resolver *r = NULL;
	ldns_status st;
	ldns_rdf **ns;

	*n = 0;
	st = ldns_resolver_new_frm_file(&r, path);
	if (st != LDNS_STATUS_OK) {
		log_err("%s: %s", path, ldns_get_errorstr_by_id(st));
		return -1;
	}
	ns = ldns_resolver_nameservers(r);
	for (size_t i = 0; i < ldns_resolver_nameserver_count(r) && *n < max;
	     i++) {
		size_t sz = 0;
		struct sockaddr_storage *ss =
		    ldns_rdf2native_sockaddr_storage(ns[i], 53, &sz);

		if (ss == NULL)
			continue;
		out[(*n)++] = *ss;
		LDNS_FREE(ss);
	}
	ldns_resolver_deep_free(r);
	return 0;
}

/* Is this one of the addresses of this host? */
static int
is_local_address(const struct sockaddr *sa)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (sa->sa_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) ==
		127)
		return 1;
	if (sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr))
		return 1;
	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		struct sockaddr_storage a;

		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != sa->sa_family)
			continue;
		memcpy(&a, i->ifa_addr, addr_len(i->ifa_addr));
		if (a.ss_family == AF_INET)
			((struct sockaddr_in *)&a)->sin_port = htons(addr_port(sa));
		else
			((struct sockaddr_in6 *)&a)->sin6_port =
			    htons(addr_port(sa));
		found = addr_equal((const struct sockaddr *)&a, sa);
	}
	freeifaddrs(ifs);
	return found;
}

/* Would forwarding to up send the query back to this daemon? */
static int
is_self(const struct config *cfg, const struct sockaddr *up)
{
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct sockaddr *l =
		    (const struct sockaddr *)&cfg->listen[i];

		if (addr_equal(l, up))
			return 1;
		if (addr_is_wildcard(l) && l->sa_family == up->sa_family &&
		    addr_port(l) == addr_port(up) && is_local_address(up))
			return 1;
	}
	return 0;
}

/* The upstream list to use: configured or from resolv.conf, minus self. */
static struct upstreams *
make_upstreams(const struct config *cfg)
{
	struct sockaddr_storage addrs[CONFIG_MAX_ADDRS], keep[CONFIG_MAX_ADDRS];
	size_t n = 0, k = 0;
	const char *from = "configuration";

	if (cfg->n_upstream > 0) {
		memcpy(addrs, cfg->upstream, cfg->n_upstream * sizeof(addrs[0]));
		n = cfg->n_upstream;
	} else {
		from = cfg->resolv_conf;
		if (read_resolv_conf(cfg->resolv_conf, addrs, CONFIG_MAX_ADDRS,
			&n) != 0)
			return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char text[ADDR_TEXT_MAX];

		addr_text((const struct sockaddr *)&addrs[i], text, sizeof(text));
		if (is_self(cfg, (const struct sockaddr *)&addrs[i])) {
			log_warn("upstream %s (from %s) is this resolver itself; "
				 "not forwarding there",
			    text, from);
			continue;
		}
		keep[k++] = addrs[i];
	}
	if (k == 0) {
		log_err("no usable upstream (from %s): give --upstream=ADDR",
		    from);
		return NULL;
	}
	return upstreams_new(keep, k);
}

int
daemon_init(struct daemon *d, uv_loop_t *loop, const struct config *cfg)
{
	struct cache_limits lim;

	memset(d, 0, sizeof(*d));
	d->loop = loop;
	d->cfg = *cfg;
	cache_limits_from(cfg, &lim);
	d->cache = cache_new(&lim);
	d->recv_buf = malloc(DAEMON_RECV_BATCH * DAEMON_DGRAM_MAX);
	d->tx = calloc(1, sizeof(*d->tx));
	d->n_pending_buckets = 256;
	d->pending = calloc(d->n_pending_buckets, sizeof(*d->pending));
	if (d->cache == NULL || d->recv_buf == NULL || d->pending == NULL ||
	    d->tx == NULL) {
		log_err("out of memory");
		return -1;
	}
	randombytes_buf(d->pending_key, sizeof(d->pending_key));
	d->ups = make_upstreams(cfg);
	if (d->ups == NULL)
		return -1;
	if (policy_init(&d->policy, d) != 0)
		return -1;
	return 0;
}

void
daemon_query(struct daemon *d, const uint8_t *pkt, size_t len,
    struct client *cl)
{
	struct query_ctx ctx = {
	    .cache = d->cache,
	    .acl = d->cfg.allow,
	    .n_acl = d->cfg.n_allow,
	    .policy = d->policy.snap,
	    .sinkhole = &d->cfg.sinkhole,
	    .block_ttl = (uint32_t)d->cfg.block_ttl,
	    .edns_size = (uint16_t)d->cfg.edns_size,
	    .now_ms = daemon_now(d),
	    .doh_canary = d->cfg.doh_canary,
	    .ctr = &d->ctr,
	};
	struct query_note note;
	struct wire_query q;
	enum query_action act;
	size_t n = 0;
	int rcode;

	ctx.note = &note;
	act = query_decide(&ctx, pkt, len, (const struct sockaddr *)&cl->addr,
	    cl->conn != NULL, &q, d->out, sizeof(d->out), &n);
	rcode = act == QUERY_ANSWER ? (int)note.rcode : METRICS_NO_ANSWER;
	switch (note.outcome) {
	case QUERY_OUT_NONE:
	case QUERY_OUT_FORWARD:
		break;
	case QUERY_OUT_BLOCKED:
		daemon_note(d, REC_BLOCKED, rcode, cl, &q, &note.verdict);
		break;
	case QUERY_OUT_CACHED:
		daemon_note(d, REC_CACHED, rcode, cl, &q, NULL);
		break;
	case QUERY_OUT_REFUSED:
		daemon_note(d, REC_REFUSED, rcode, cl, &q, NULL);
		break;
	case QUERY_OUT_ERROR:
		daemon_note(d, REC_ERROR, rcode, cl, &q, NULL);
		break;
	case QUERY_OUT_LOCAL:
		/* stats.db has no column for it: answered without an
		 * upstream, it counts with the cached answers there. */
		metrics_note(d->metrics, METRICS_LOCAL, rcode, NULL);
		if (d->rec != NULL)
			recorder_outcome(d->rec, REC_CACHED, q.qtype);
		break;
	}
	switch (act) {
	case QUERY_ANSWER:
		server_send(d, cl, d->out, n);
		break;
	case QUERY_FORWARD:
		forward_query(d, cl, &q);
		break;
	case QUERY_DROP:
		break;
	}
}

void
daemon_status_json(struct daemon *d, char *buf, size_t cap)
{
	const struct counters *c = &d->ctr;
	uint64_t now = daemon_now(d);
	struct cache_stats cs;
	struct recorder_stats rs;
	size_t n, oldest = (d->rate_pos + 1) % DAEMON_RATE_SAMPLES;
	double qps = 0, window;

	cache_get_stats(d->cache, &cs);
	if (d->rec != NULL)
		recorder_get_stats(d->rec, &rs);
	else
		rs = d->rec_last;
	/* Queries per second over the last samples (up to a minute). */
	if (d->rate_n > 0) {
		if (d->rate_n < DAEMON_RATE_SAMPLES)
			oldest = 0;
		window = (double)(now - d->rate_ms[oldest]) / 1000.0;
		if (window > 0.5)
			qps = (double)(c->queries - d->rate_q[oldest]) / window;
	}
	n = (size_t)snprintf(buf, cap,
	    "{\"version\":\"%s\",\"uptime_s\":%llu,\"queries\":%llu,"
	    "\"qps\":%.1f,\"blocked\":%llu,\"cache_hits\":%llu,"
	    "\"stale_answers\":%llu,\"bad_replies\":%llu,"
	    "\"scrubbed\":%llu,"
	    "\"forwarded\":%llu,\"refused\":%llu,\"servfail\":%llu,"
	    "\"cache_entries\":%llu,\"cache_bytes\":%llu,"
	    "\"cache_max_bytes\":%llu,\"lists_generation\":%llu,"
	    "\"lists_names\":%zu,\"lists_reloads\":%llu,"
	    "\"lists_reload_failures\":%llu,\"stats_recording\":%s,"
	    "\"stats_dropped\":%llu,\"in_flight\":%zu,\"tcp_clients\":%zu,"
	    "\"upstreams\":[",
	    PARASOL_VERSION, (unsigned long long)((now - d->started_ms) / 1000),
	    (unsigned long long)c->queries, qps,
	    (unsigned long long)(c->blocked + c->blocked_cname),
	    (unsigned long long)c->cache_hits,
	    (unsigned long long)c->stale_answers,
	    (unsigned long long)c->bad_replies,
	    (unsigned long long)c->scrubbed,
	    (unsigned long long)(c->forwarded + c->merged),
	    (unsigned long long)c->refused, (unsigned long long)c->servfail,
	    (unsigned long long)cs.entries, (unsigned long long)cs.bytes,
	    (unsigned long long)d->cfg.cache_size,
	    (unsigned long long)d->policy.have_gen,
	    d->policy.snap != NULL ? bl_snapshot_names(d->policy.snap) : 0,
	    (unsigned long long)d->policy.reloads,
	    (unsigned long long)d->policy.reload_failures,
	    d->rec != NULL ? "true" : "false", (unsigned long long)rs.dropped,
	    d->n_pending, d->n_tcp_clients);
	/* Each upstream takes under 200 bytes; stop while "]}" still fits. */
	for (size_t i = 0; i < d->ups->n && n + 200 < cap; i++) {
		const struct upstream *u = &d->ups->u[i];

		n += (size_t)snprintf(buf + n, cap - n,
		    "%s{\"address\":\"%s\",\"up\":%s,\"srtt_ms\":%.1f,"
		    "\"sent\":%llu,\"answered\":%llu,\"failed\":%llu}",
		    i > 0 ? "," : "", u->name,
		    u->dead_until_ms > now ? "false" : "true",
		    (double)u->srtt_us / 1000.0, (unsigned long long)u->sent,
		    (unsigned long long)u->answered,
		    (unsigned long long)u->failed);
	}
	if (n < cap)
		snprintf(buf + n, cap - n, "]}");
}

static void
rate_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	d->rate_pos = (d->rate_pos + 1) % DAEMON_RATE_SAMPLES;
	d->rate_ms[d->rate_pos] = daemon_now(d);
	d->rate_q[d->rate_pos] = d->ctr.queries;
	if (d->rate_n < DAEMON_RATE_SAMPLES)
		d->rate_n++;
}

static const char *
sinkhole_name(const struct sinkhole *sh)
{
	switch (sh->mode) {
	case SINKHOLE_NXDOMAIN:
		return "nxdomain";
	case SINKHOLE_NODATA:
		return "nodata";
	case SINKHOLE_REFUSED:
		return "refused";
	case SINKHOLE_ADDRESS:
		return "address";
	case SINKHOLE_NULL:
	default:
		return "null";
	}
}

void
daemon_note(struct daemon *d, enum rec_outcome o, int rcode,
    const struct client *cl, const struct wire_query *q,
    const struct bl_verdict *v)
{
	const struct bl_feed_info *f = NULL;
	uint8_t lower[WIRE_NAME_MAX];

	if (o == REC_BLOCKED && v != NULL && d->policy.snap != NULL)
		f = bl_snapshot_feed(d->policy.snap, v->feed);
	metrics_note(d->metrics, (enum metrics_result)o, rcode,
	    f != NULL ? f->category : NULL);
	if (d->rec == NULL)
		return;
	recorder_outcome(d->rec, o, q->qtype);
	if (o != REC_BLOCKED || v == NULL || d->policy.snap == NULL)
		return;
	wire_name_lower(lower, q->qname, q->qname_len);
	/* For a CNAME block, v is the verdict on the chain's member. */
	recorder_blocked(d->rec, (const struct sockaddr *)&cl->addr, lower,
	    q->qname_len, q->qtype, f != NULL ? f->category : "",
	    f != NULL ? f->id : "", v->rule, v->rule_len,
	    sinkhole_name(&d->cfg.sinkhole));
}

void
daemon_stats_line(const struct daemon *d, char *buf, size_t cap)
{
	const struct counters *c = &d->ctr;
	struct cache_stats cs;
	struct recorder_stats rs;

	cache_get_stats(d->cache, &cs);
	if (d->rec != NULL)
		recorder_get_stats(d->rec, &rs);
	else
		rs = d->rec_last;
	snprintf(buf, cap,
	    "stats: queries=%llu blocked=%llu blocked_cname=%llu "
	    "cache_hits=%llu forwarded=%llu merged=%llu "
	    "refused=%llu formerr=%llu notimp=%llu badvers=%llu servfail=%llu "
	    "dropped=%llu truncated=%llu bad_replies=%llu scrubbed=%llu "
	    "stale_answers=%llu upstream_timeouts=%llu upstream_errors=%llu "
	    "tcp_fallbacks=%llu "
	    "tcp_refused=%llu send_errors=%llu tcp_clients=%zu in_flight=%zu "
	    "cache_entries=%llu cache_bytes=%llu cache_evictions=%llu "
	    "lists_generation=%llu lists_names=%zu lists_reloads=%llu "
	    "lists_reload_failures=%llu stats_blocked_events=%llu "
	    "stats_written=%llu stats_dropped=%llu",
	    (unsigned long long)c->queries, (unsigned long long)c->blocked,
	    (unsigned long long)c->blocked_cname,
	    (unsigned long long)c->cache_hits,
	    (unsigned long long)c->forwarded, (unsigned long long)c->merged,
	    (unsigned long long)c->refused, (unsigned long long)c->formerr,
	    (unsigned long long)c->notimp, (unsigned long long)c->badvers,
	    (unsigned long long)c->servfail, (unsigned long long)c->dropped,
	    (unsigned long long)c->truncated,
	    (unsigned long long)c->bad_replies,
	    (unsigned long long)c->scrubbed,
	    (unsigned long long)c->stale_answers,
	    (unsigned long long)c->upstream_timeouts,
	    (unsigned long long)c->upstream_errors,
	    (unsigned long long)c->tcp_fallbacks,
	    (unsigned long long)c->tcp_refused,
	    (unsigned long long)c->send_errors, d->n_tcp_clients, d->n_pending,
	    (unsigned long long)cs.entries, (unsigned long long)cs.bytes,
	    (unsigned long long)cs.evictions,
	    (unsigned long long)d->policy.have_gen,
	    d->policy.snap != NULL ? bl_snapshot_names(d->policy.snap) : 0,
	    (unsigned long long)d->policy.reloads,
	    (unsigned long long)d->policy.reload_failures,
	    (unsigned long long)rs.events, (unsigned long long)rs.written,
	    (unsigned long long)rs.dropped);
}

static int
same_listeners(const struct config *a, const struct config *b)
{
	if (a->n_listen != b->n_listen)
		return 0;
	for (size_t i = 0; i < a->n_listen; i++) {
		if (!addr_equal((const struct sockaddr *)&a->listen[i],
			(const struct sockaddr *)&b->listen[i]))
			return 0;
	}
	return 1;
}

static void
reload(struct daemon *d)
{
	struct config *cfg = malloc(sizeof(*cfg));
	struct upstreams *ups;
	struct cache_limits lim;
	char err[512];

	if (cfg == NULL) {
		log_err("reload: out of memory; keeping the running config");
		return;
	}
	if (config_load(cfg, d->config_file, d->argc, d->argv, err,
		sizeof(err)) != 0) {
		log_err("reload failed, keeping the running config: %s", err);
		free(cfg);
		return;
	}
	if (!same_listeners(&d->cfg, cfg)) {
		log_warn("reload: listen addresses change only on restart");
		memcpy(cfg->listen, d->cfg.listen, sizeof(cfg->listen));
		cfg->n_listen = d->cfg.n_listen;
	}
	ups = make_upstreams(cfg);
	if (ups == NULL) {
		log_err("reload failed, keeping the running config");
		free(cfg);
		return;
	}
	upstreams_unref(d->ups);
	d->ups = ups;
	d->cfg = *cfg;
	free(cfg);
	log_level = d->cfg.log_level;
	cache_limits_from(&d->cfg, &lim);
	cache_set_limits(d->cache, &lim);
	policy_start_polling(&d->policy);
	log_info("reloaded configuration%s%s",
	    d->config_file != NULL ? " from " : "",
	    d->config_file != NULL ? d->config_file : "");
}

static void
close_all_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
finish_stop(struct daemon *d)
{
	char line[2048];

	forward_abort_all(d);
	server_close(d);
	/* Last: after the answers in flight were counted. */
	recorder_free(d->rec, &d->rec_last);
	d->rec = NULL;
	metrics_close(d->metrics);
	d->metrics = NULL;
	control_close(d);
	policy_close(&d->policy);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_usr1, NULL);
	if (!uv_is_closing((uv_handle_t *)&d->drain_timer))
		uv_close((uv_handle_t *)&d->drain_timer, NULL);
	if (!uv_is_closing((uv_handle_t *)&d->rate_timer))
		uv_close((uv_handle_t *)&d->rate_timer, NULL);
	daemon_stats_line(d, line, sizeof(line));
	log_always("%s", line);
	log_info("stopped");
}

void
daemon_drained(struct daemon *d)
{
	if (d->stopping == 1)
		finish_stop(d);
}

static void
drain_timeout_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;

	if (d->stopping == 1) {
		log_warn("stopping with %zu queries unanswered", d->n_pending);
		finish_stop(d);
	}
}

static void
signal_cb(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;
	char line[2048];

	switch (signum) {
	case SIGHUP:
		notify_reloading(d);
		reload(d);
		policy_reload(&d->policy, 1, notify_reloaded_cb, d);
		break;
	case SIGUSR1:
		daemon_stats_line(d, line, sizeof(line));
		log_always("%s", line);
		break;
	case SIGTERM:
	case SIGINT:
		if (d->stopping)
			return;
		log_info("stopping: answering %zu queries in flight",
		    d->n_pending);
		d->stopping = 1;
		notify_stopping(d);
		server_stop_listening(d);
		if (d->n_pending == 0) {
			finish_stop(d);
			return;
		}
		uv_timer_start(&d->drain_timer, drain_timeout_cb, DRAIN_MS, 0);
		break;
	}
}

int
daemon_start(struct daemon *d)
{
	char text[ADDR_TEXT_MAX];

	signal(SIGPIPE, SIG_IGN);
	uv_timer_init(d->loop, &d->drain_timer);
	d->drain_timer.data = d;
	uv_timer_init(d->loop, &d->rate_timer);
	d->rate_timer.data = d;
	uv_timer_start(&d->rate_timer, rate_cb, 1000, 1000);
	uv_signal_init(d->loop, &d->sig_hup);
	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_usr1);
	d->sig_hup.data = d->sig_term.data = d->sig_int.data =
	    d->sig_usr1.data = d;
	uv_signal_start(&d->sig_hup, signal_cb, SIGHUP);
	uv_signal_start(&d->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&d->sig_int, signal_cb, SIGINT);
	uv_signal_start(&d->sig_usr1, signal_cb, SIGUSR1);
	if (strcmp(d->cfg.stats_db, "none") != 0) {
		struct recorder_opts ro = {
		    .path = d->cfg.stats_db,
		    .fold_window_s = (uint32_t)d->cfg.stats_fold_window,
		    .retention_days = (uint32_t)d->cfg.stats_retention,
		    .events = d->cfg.stats_events,
		    .max_keys = 16384,
		};
		char err[256];

		d->rec = recorder_new(d->loop, &ro, err, sizeof(err));
		if (d->rec == NULL)
			log_warn("not recording stats: %s", err);
		else
			log_info("recording stats in %s", d->cfg.stats_db);
	}
	if (server_listen(d) != 0)
		return -1;
	/* Resolution matters more than the control socket: go on without
	 * it; lists.db is still polled for new generations. */
	if (control_listen(d) != 0)
		log_warn("running without a control socket: 'parasol reload' "
			 "will not reach this daemon");
	policy_start_polling(&d->policy);
	if (d->cfg.metrics_on) {
		char err[512];

		d->metrics = metrics_new(d,
		    (const struct sockaddr *)&d->cfg.metrics, err, sizeof(err));
		if (d->metrics == NULL) {
			log_err("%s", err);
			return -1;
		}
	}
	d->started_ms = daemon_now(d);
	for (size_t i = 0; i < d->ups->n; i++)
		log_info("upstream %s", d->ups->u[i].name);
	for (size_t i = 0; i < d->n_listeners; i++) {
		addr_text((const struct sockaddr *)&d->cfg.listen[i], text,
		    sizeof(text));
		log_info("listening on %s (udp, tcp)", text);
	}
	log_info("ready");
	notify_ready(d);
	return 0;
}

void
daemon_clear(struct daemon *d)
{
	recorder_free(d->rec, NULL);
	d->rec = NULL;
	metrics_close(d->metrics);
	d->metrics = NULL;
	/* Anything still open (a failed start) is closed and reaped here. */
	uv_walk(d->loop, close_all_cb, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
	policy_clear(&d->policy);
	cache_free(d->cache);
	upstreams_unref(d->ups);
	free(d->listeners);
	free(d->pending);
	free(d->recv_buf);
	free(d->tx);
}
