/*
 * The running daemon: one libuv loop owning the listeners, the cache, the
 * upstream set and the queries in flight. Everything here runs on the loop
 * thread.
 */
#ifndef RESOLVER_DAEMON_H
#define RESOLVER_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "resolver/config.h"
#include "resolver/policy.h"
#include "resolver/query.h"
#include "resolver/recorder.h"

struct cache;
struct upstreams;
struct listener;
struct tcp_conn;
struct pending;
struct fwd_pools;
struct metrics;

/* Where an answer goes. */
struct client {
	struct listener *l;
	struct tcp_conn *conn; /* NULL for UDP */
	struct sockaddr_storage addr;
};

#define DAEMON_RECV_BATCH 20 /* libuv reads at most 20 per recvmmsg */
#define DAEMON_DGRAM_MAX 65536
#define DAEMON_TX_SLOT 4096 /* the largest UDP answer (edns-size max) */

/*
 * UDP answers produced while one recvmmsg batch is processed, sent
 * together with one sendmmsg when the batch ends.
 */
struct udp_tx {
	struct listener *l; /* whose answers these are; NULL: none yet */
	int in_batch;	    /* inside a recvmmsg batch of l's */
	uv_check_t check;   /* sends what was gathered outside a batch */
	size_t n;
	struct mmsghdr msg[DAEMON_RECV_BATCH];
	struct iovec iov[DAEMON_RECV_BATCH];
	struct sockaddr_storage addr[DAEMON_RECV_BATCH];
	uint8_t buf[DAEMON_RECV_BATCH][DAEMON_TX_SLOT];
};

#define DAEMON_RATE_SAMPLES 61 /* a minute of 1 s samples */

struct daemon {
	uv_loop_t *loop;
	struct config cfg;
	char *const *argv; /* for reloads: the command line still wins */
	int argc;
	const char *config_file;
	struct cache *cache;
	struct upstreams *ups;
	struct listener *listeners;
	size_t n_listeners;
	struct pending **pending; /* hash table of queries in flight */
	size_t n_pending_buckets;
	size_t n_pending;
	struct fwd_pools *fwd; /* upstream sockets (forward.c) */
	size_t n_tcp_clients;
	struct tcp_conn *conns;
	struct counters ctr;
	struct policy policy;
	struct recorder *rec; /* NULL when stats are off */
	struct recorder_stats rec_last; /* its final counts, once stopped */
	struct metrics *metrics; /* NULL when the endpoint is off */
	uv_pipe_t control;
	int control_open;
	uint64_t started_ms;
	int stopping;
	int exit_code;
	uv_signal_t sig_hup;
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uv_signal_t sig_usr1;
	uv_timer_t drain_timer;
	uv_timer_t rate_timer; /* samples the query count each second */
	uint64_t rate_ms[DAEMON_RATE_SAMPLES];
	uint64_t rate_q[DAEMON_RATE_SAMPLES];
	size_t rate_pos, rate_n;
	uint8_t pending_key[16];
	/* Scratch space: answers are built here, one at a time. */
	uint8_t out[WIRE_MSG_MAX + 2];
	uint8_t scratch[WIRE_MSG_MAX]; /* an upstream reply, clamped */
	uint8_t *recv_buf; /* DAEMON_RECV_BATCH datagrams for recvmmsg */
	struct udp_tx *tx;
};

/* Monotonic milliseconds of the loop's cached clock. */
static inline uint64_t
daemon_now(const struct daemon *d)
{
	return uv_now(d->loop);
}

int daemon_init(struct daemon *d, uv_loop_t *loop, const struct config *cfg);
int daemon_start(struct daemon *d);
void daemon_clear(struct daemon *d);
/* Handle one client packet. */
void daemon_query(struct daemon *d, const uint8_t *pkt, size_t len,
    struct client *cl);
/*
 * Count a query's outcome and the rcode it was answered with
 * (METRICS_NO_ANSWER: none), and record it when it was blocked.
 */
void daemon_note(struct daemon *d, enum rec_outcome o, int rcode,
    const struct client *cl, const struct wire_query *q,
    const struct bl_verdict *v);
/* One line of JSON for "parasol status". */
void daemon_status_json(struct daemon *d, char *buf, size_t cap);
void daemon_stats_line(const struct daemon *d, char *buf, size_t cap);
/* Called when the last query in flight is done while stopping. */
void daemon_drained(struct daemon *d);

/* server.c */
int server_listen(struct daemon *d);
void server_stop_listening(struct daemon *d);
void server_close(struct daemon *d);
void server_send(struct daemon *d, struct client *cl, const uint8_t *p,
    size_t len);
void server_client_ref(struct client *cl);
void server_client_unref(struct client *cl);
/* The connection the client came on has gone. */
int server_client_gone(const struct client *cl);

/* forward.c */
void forward_query(struct daemon *d, const struct client *cl,
    const struct wire_query *q);
void forward_abort_all(struct daemon *d);

#endif
