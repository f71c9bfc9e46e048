/*
 * Listeners: one UDP and one TCP socket per configured address, so answers
 * leave from the address the query was sent to. UDP reads in batches
 * (recvmmsg) into one loop-wide buffer and answers with a non-blocking
 * send, so a cache hit costs no allocation. TCP connections frame
 * messages with the 2-byte length, accept several queries at once and
 * answer each as it completes, in whatever order that is.
 *
 * Slow or hostile TCP clients must not starve the others: a connection has
 * tcp-first-timeout to send a whole first query and tcp-idle-timeout
 * between queries (bytes that do not complete a query do not count), one
 * address holds at most tcp-max-per-client connections, and when all
 * tcp-max-clients are taken a new connection closes the one idle the
 * longest instead of being refused. The TCP listener is accepted by hand
 * (a uv_poll on our own socket) so that running out of file descriptors
 * pauses accepting for a moment instead of spinning or dropping the
 * backlog.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <sodium.h>

#include "resolver/addr.h"
#include "resolver/daemon.h"
#include "resolver/log.h"

#define TCP_INFLIGHT_MAX 32
#define TCP_WRITE_QUEUE_MAX (256 * 1024)
#define TCP_BUF_INITIAL 1024
#define TCP_BACKLOG 128
#define ACCEPT_BATCH 64 /* connections taken per wakeup */
#define ACCEPT_PAUSE_MS 250 /* after EMFILE and friends */
#define UDP_QUEUE_MAX (4 * 1024 * 1024) /* bytes of UDP answers queued */

struct listener {
	struct daemon *d;
	struct sockaddr_storage addr;
	char name[ADDR_TEXT_MAX];
	uv_udp_t udp;
	uv_poll_t tcp;
	uv_timer_t pause;
	int tcp_fd;
	int udp_open;
	int tcp_open;
	int pause_open;
	uint64_t warned_ms;
};

struct tcp_conn {
	struct daemon *d;
	struct listener *l;
	uv_tcp_t h;
	uv_timer_t idle;
	struct sockaddr_storage peer;
	uint64_t active_ms; /* last complete query or answer */
	uint8_t *buf;
	size_t cap;
	size_t have;
	unsigned inflight; /* queries waiting for upstream */
	unsigned handles;  /* open libuv handles */
	unsigned refs;     /* inflight plus the connection itself */
	int closing;
	int reading;
	struct tcp_conn *prev; /* d->conns, oldest activity first */
	struct tcp_conn *next;
	struct tcp_conn *hnext; /* d->conn_by_addr chain */
	struct tcp_conn **hpprev;
};

struct send_req {
	uv_udp_send_t req;
	struct sockaddr_storage addr;
	uint8_t data[];
};

struct write_req {
	uv_write_t req;
	uint8_t data[];
};

static void conn_process(struct tcp_conn *c);
static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_idle_cb(uv_timer_t *t);

static void
conn_maybe_free(struct tcp_conn *c)
{
	if (c->handles == 0 && c->refs == 0) {
		free(c->buf);
		free(c);
	}
}

static void
conn_handle_closed_cb(uv_handle_t *h)
{
	struct tcp_conn *c = h->data;

	c->handles--;
	if (c->handles == 0) {
		c->refs--; /* the connection's own reference */
		conn_maybe_free(c);
	}
}

static void
list_unlink(struct daemon *d, struct tcp_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		d->conns_tail = c->prev;
	c->prev = c->next = NULL;
}

static void
list_append(struct daemon *d, struct tcp_conn *c)
{
	c->next = NULL;
	c->prev = d->conns_tail;
	if (d->conns_tail != NULL)
		d->conns_tail->next = c;
	else
		d->conns = c;
	d->conns_tail = c;
}

/*
 * The connection is gone as far as limits go the moment it is closed:
 * uv_close releases the descriptor at once; only the memory waits for the
 * callbacks (and for the queries in flight to let go).
 */
static void
conn_close(struct tcp_conn *c)
{
	struct daemon *d = c->d;

	if (c->closing)
		return;
	c->closing = 1;
	list_unlink(d, c);
	if (c->hpprev != NULL) {
		*c->hpprev = c->hnext;
		if (c->hnext != NULL)
			c->hnext->hpprev = c->hpprev;
		c->hpprev = NULL;
	}
	d->n_tcp_clients--;
	uv_close((uv_handle_t *)&c->idle, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->h, conn_handle_closed_cb);
}

/* Something happened on c: it is now the most recently active. */
static void
conn_touch(struct tcp_conn *c)
{
	struct daemon *d = c->d;

	c->active_ms = daemon_now(d);
	uv_timer_start(&c->idle, conn_idle_cb, d->cfg.tcp_idle_timeout, 0);
	if (d->conns_tail != c) {
		list_unlink(d, c);
		list_append(d, c);
	}
}

/* Nothing in flight and nothing waiting to be written. */
static int
conn_idle(struct tcp_conn *c)
{
	return !c->closing && c->inflight == 0 &&
	    uv_stream_get_write_queue_size((uv_stream_t *)&c->h) == 0;
}

void
server_client_ref(struct client *cl)
{
	if (cl->conn != NULL) {
		cl->conn->refs++;
		cl->conn->inflight++;
	}
}

void
server_client_unref(struct client *cl)
{
	struct tcp_conn *c = cl->conn;

	if (c == NULL)
		return;
	c->inflight--;
	c->refs--;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	/* Reading paused at the in-flight cap: go on with what is queued. */
	if (!c->reading && c->inflight < TCP_INFLIGHT_MAX)
		conn_process(c);
}

int
server_client_gone(const struct client *cl)
{
	return cl->conn != NULL && cl->conn->closing;
}

static void
udp_sent_cb(uv_udp_send_t *req, int status)
{
	free(req->data);
}

static void
tcp_written_cb(uv_write_t *req, int status)
{
	free(req->data);
}

/* One UDP answer now; when the socket buffer is full, queue a copy. */
static void
udp_send_one(struct daemon *d, struct listener *l, const uint8_t *p,
    size_t len, const struct sockaddr_storage *addr)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
	struct send_req *sr;
	int rc;

	rc = uv_udp_try_send(&l->udp, &b, 1, (const struct sockaddr *)addr);
	if (rc >= 0)
		return;
	if (rc != UV_EAGAIN) {
		d->ctr.send_errors++;
		return;
	}
	/* A peer (or a spoofed one) we cannot send to fast enough does
	 * not get to grow the queue without end. */
	if (uv_udp_get_send_queue_size(&l->udp) + len > UDP_QUEUE_MAX) {
		d->ctr.udp_queue_full++;
		return;
	}
	sr = malloc(sizeof(*sr) + len);
	if (sr == NULL) {
		d->ctr.send_errors++;
		return;
	}
	memcpy(sr->data, p, len);
	sr->addr = *addr;
	sr->req.data = sr;
	b = uv_buf_init((char *)sr->data, (unsigned)len);
	if (uv_udp_send(&sr->req, &l->udp, &b, 1,
		(const struct sockaddr *)&sr->addr, udp_sent_cb) != 0) {
		d->ctr.send_errors++;
		free(sr);
	}
}

/*
 * Send the answers gathered during a receive batch with sendmmsg: one
 * system call for up to DAEMON_RECV_BATCH answers. What the kernel does not
 * take goes the one-by-one way, which queues on EAGAIN.
 */
static void
udp_tx_flush(struct daemon *d)
{
	struct udp_tx *tx = d->tx;
	struct listener *l = tx->l;
	size_t done = 0;
	uv_os_fd_t fd;

	tx->l = NULL;
	if (tx->n == 0)
		return;
	if (uv_fileno((uv_handle_t *)&l->udp, &fd) == 0 &&
	    uv_udp_get_send_queue_count(&l->udp) == 0) {
		while (done < tx->n) {
			int k = sendmmsg(fd, tx->msg + done,
			    (unsigned)(tx->n - done), MSG_DONTWAIT);

			if (k > 0) {
				done += (size_t)k;
				continue;
			}
			if (k < 0 && errno == EINTR)
				continue;
			break;
		}
	}
	for (; done < tx->n; done++)
		udp_send_one(d, l, tx->buf[done], tx->iov[done].iov_len,
		    &tx->addr[done]);
	tx->n = 0;
}

void
server_send(struct daemon *d, struct client *cl, const uint8_t *p, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);

	if (cl->conn == NULL) {
		struct udp_tx *tx = d->tx;
		size_t i = tx->n;

		/* Outside a receive batch (answers from upstream replies),
		 * gather too: the loop's check phase sends them. */
		if (!tx->in_batch && len <= DAEMON_TX_SLOT &&
		    (tx->l != cl->l || i >= DAEMON_RECV_BATCH)) {
			udp_tx_flush(d);
			tx->l = cl->l;
			i = 0;
		}
		if (tx->l == cl->l && i < DAEMON_RECV_BATCH &&
		    len <= DAEMON_TX_SLOT) {
			memcpy(tx->buf[i], p, len);
			tx->addr[i] = cl->addr;
			tx->iov[i].iov_base = tx->buf[i];
			tx->iov[i].iov_len = len;
			memset(&tx->msg[i], 0, sizeof(tx->msg[i]));
			tx->msg[i].msg_hdr.msg_name = &tx->addr[i];
			tx->msg[i].msg_hdr.msg_namelen =
			    addr_len((const struct sockaddr *)&cl->addr);
			tx->msg[i].msg_hdr.msg_iov = &tx->iov[i];
			tx->msg[i].msg_hdr.msg_iovlen = 1;
			tx->n++;
			return;
		}
		udp_send_one(d, cl->l, p, len, &cl->addr);
		return;
	}
	struct tcp_conn *c = cl->conn;
	struct write_req *wr;

	if (c->closing)
		return;
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->h) >
	    TCP_WRITE_QUEUE_MAX) {
		/* A client that does not read its answers is let go. */
		d->ctr.send_errors++;
		conn_close(c);
		return;
	}
	wr = malloc(sizeof(*wr) + 2 + len);
	if (wr == NULL) {
		d->ctr.send_errors++;
		conn_close(c);
		return;
	}
	wire_put16(wr->data, (uint16_t)len);
	memcpy(wr->data + 2, p, len);
	wr->req.data = wr;
	b = uv_buf_init((char *)wr->data, (unsigned)(2 + len));
	if (uv_write(&wr->req, (uv_stream_t *)&c->h, &b, 1, tcp_written_cb) !=
	    0) {
		free(wr);
		d->ctr.send_errors++;
		conn_close(c);
		return;
	}
	conn_touch(c);
}

static void
udp_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct listener *l = h->data;

	*buf = uv_buf_init((char *)l->d->recv_buf,
	    DAEMON_RECV_BATCH * DAEMON_DGRAM_MAX);
}

static void
udp_recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf,
    const struct sockaddr *addr, unsigned flags)
{
	struct listener *l = h->data;
	struct client cl;

	/* The end of a recvmmsg batch: send what it produced. */
	if (flags & UV_UDP_MMSG_FREE) {
		l->d->tx->in_batch = 0;
		udp_tx_flush(l->d);
		return;
	}
	if (nread < 0 || addr == NULL)
		return; /* errors on an unconnected socket are transient */
	if (flags & UV_UDP_PARTIAL) {
		l->d->ctr.dropped++;
		return;
	}
	cl.l = l;
	cl.conn = NULL;
	memcpy(&cl.addr, addr, addr_len(addr));
	if (flags & UV_UDP_MMSG_CHUNK) {
		if (l->d->tx->l != l)
			udp_tx_flush(l->d);
		l->d->tx->l = l;
		l->d->tx->in_batch = 1;
	}
	daemon_query(l->d, (const uint8_t *)buf->base, (size_t)nread, &cl);
	if (!(flags & UV_UDP_MMSG_CHUNK))
		udp_tx_flush(l->d);
}

static void
conn_idle_cb(uv_timer_t *t)
{
	struct tcp_conn *c = t->data;

	if (c->inflight > 0) {
		uv_timer_start(t, conn_idle_cb, c->d->cfg.tcp_idle_timeout, 0);
		return;
	}
	c->d->ctr.tcp_timeouts++;
	conn_close(c);
}

static void
conn_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct tcp_conn *c = h->data;

	if (c->have == c->cap) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)c->buf + c->have,
	    (unsigned)(c->cap - c->have));
}

/* Answer every complete message in the buffer, up to the in-flight cap. */
static void
conn_process(struct tcp_conn *c)
{
	struct client cl = {.l = c->l, .conn = c, .addr = c->peer};
	size_t off = 0;

	while (!c->closing && c->have - off >= 2) {
		size_t need = wire_get16(c->buf + off);

		if (need == 0) {
			conn_close(c);
			return;
		}
		if (c->have - off < 2 + need)
			break;
		if (c->inflight >= TCP_INFLIGHT_MAX)
			break;
		conn_touch(c);
		daemon_query(c->d, c->buf + off + 2, need, &cl);
		off += 2 + need;
	}
	if (c->closing)
		return;
	if (off > 0) {
		memmove(c->buf, c->buf + off, c->have - off);
		c->have -= off;
	}
	/* Make room for the message whose length we know. */
	if (c->have >= 2) {
		size_t want = 2 + (size_t)wire_get16(c->buf);

		if (want > c->cap) {
			uint8_t *nb = realloc(c->buf, want);

			if (nb == NULL) {
				conn_close(c);
				return;
			}
			c->buf = nb;
			c->cap = want;
		}
	}
	if (c->inflight >= TCP_INFLIGHT_MAX && c->reading) {
		uv_read_stop((uv_stream_t *)&c->h);
		c->reading = 0;
	}
	if (c->inflight < TCP_INFLIGHT_MAX && !c->reading && !c->d->stopping) {
		if (uv_read_start((uv_stream_t *)&c->h, conn_alloc_cb,
			conn_read_cb) == 0)
			c->reading = 1;
		else
			conn_close(c);
	}
}

static void
conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct tcp_conn *c = s->data;

	if (nread < 0) {
		/* EOF or error: answers still in flight are dropped. */
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	/* Bytes alone do not keep a connection open: only whole queries
	 * move its timer (conn_process), so a drip-feeding client is cut. */
	c->have += (size_t)nread;
	conn_process(c);
}

static uint64_t
host_hash(const struct daemon *d, const struct sockaddr_storage *ss)
{
	uint64_t h;
	const unsigned char *p;
	size_t n;

	if (ss->ss_family == AF_INET) {
		p = (const unsigned char *)&((const struct sockaddr_in *)ss)
			->sin_addr;
		n = 4;
	} else {
		p = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		n = 16;
	}
	crypto_shorthash((unsigned char *)&h, p, n, d->conn_key);
	return h;
}

static int
same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		   &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/*
 * Make room for a connection from peer. Returns 0 when there is room
 * (having closed an idle connection if need be), -1 when every slot it
 * may take is busy with queries.
 */
static int
make_room(struct daemon *d, const struct sockaddr_storage *peer,
    struct tcp_conn **bucket)
{
	struct tcp_conn *c, *victim = NULL;
	uint64_t mine = 0;

	for (c = *bucket; c != NULL; c = c->hnext) {
		if (!same_host(&c->peer, peer))
			continue;
		mine++;
		if (conn_idle(c) &&
		    (victim == NULL || c->active_ms < victim->active_ms))
			victim = c;
	}
	if (mine >= d->cfg.tcp_max_per_client) {
		if (victim == NULL)
			return -1;
		d->ctr.tcp_evicted++;
		conn_close(victim);
	}
	if (d->n_tcp_clients < d->cfg.tcp_max_clients)
		return 0;
	/* The list runs from the least recently active. */
	for (c = d->conns; c != NULL; c = c->next) {
		if (conn_idle(c)) {
			d->ctr.tcp_evicted++;
			conn_close(c);
			return 0;
		}
	}
	return -1;
}

static void
conn_accept(struct listener *l, int fd, const struct sockaddr_storage *peer)
{
	struct daemon *d = l->d;
	struct tcp_conn *c, **bucket;

	bucket = &d->conn_by_addr[host_hash(d, peer) & (d->n_conn_buckets - 1)];
	if (d->stopping || make_room(d, peer, bucket) != 0) {
		d->ctr.tcp_refused++;
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->buf = malloc(TCP_BUF_INITIAL)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	c->cap = TCP_BUF_INITIAL;
	c->d = d;
	c->l = l;
	c->peer = *peer;
	c->refs = 1;
	uv_tcp_init(d->loop, &c->h);
	uv_timer_init(d->loop, &c->idle);
	c->h.data = c;
	c->idle.data = c;
	c->handles = 2;
	list_append(d, c);
	c->hnext = *bucket;
	if (*bucket != NULL)
		(*bucket)->hpprev = &c->hnext;
	*bucket = c;
	c->hpprev = bucket;
	d->n_tcp_clients++;
	c->active_ms = daemon_now(d);
	if (uv_tcp_open(&c->h, fd) != 0) {
		close(fd);
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->h, 1);
	uv_timer_start(&c->idle, conn_idle_cb, d->cfg.tcp_first_timeout, 0);
	conn_process(c);
}

static void accept_cb(uv_poll_t *h, int status, int events);

static void
resume_cb(uv_timer_t *t)
{
	struct listener *l = t->data;

	if (l->tcp_open && !l->d->stopping)
		uv_poll_start(&l->tcp, UV_READABLE, accept_cb);
}

/*
 * Out of descriptors (or kernel memory): leave the backlog where it is,
 * give back the connection idle the longest, and look again shortly.
 * Accepting in a loop would spin; closing the backlog would refuse the
 * very clients that are waiting.
 */
static void
accept_pause(struct listener *l, int err)
{
	struct daemon *d = l->d;
	uint64_t now = daemon_now(d);

	d->ctr.tcp_accept_paused++;
	if (l->warned_ms == 0 || now - l->warned_ms >= 10000) {
		log_warn("tcp %s: cannot accept: %s; pausing %d ms (raise the "
			 "open file limit or lower tcp-max-clients)",
		    l->name, strerror(err), ACCEPT_PAUSE_MS);
		l->warned_ms = now;
	}
	for (struct tcp_conn *c = d->conns; c != NULL; c = c->next) {
		if (conn_idle(c)) {
			d->ctr.tcp_evicted++;
			conn_close(c);
			break;
		}
	}
	uv_poll_stop(&l->tcp);
	uv_timer_start(&l->pause, resume_cb, ACCEPT_PAUSE_MS, 0);
}

static void
accept_cb(uv_poll_t *h, int status, int events)
{
	struct listener *l = h->data;

	if (status < 0)
		return;
	for (int i = 0; i < ACCEPT_BATCH && l->tcp_open; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		int fd;

		memset(&peer, 0, sizeof(peer));
		fd = accept4(l->tcp_fd, (struct sockaddr *)&peer, &plen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_accept(l, fd, &peer);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM)
			accept_pause(l, errno);
		return; /* EAGAIN: the backlog is empty */
	}
}

static int
tcp_listen_socket(const struct sockaddr *sa)
{
	int fd, on = 1, rc;

	fd = socket(
	    sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, sa, addr_len(sa)) != 0 || listen(fd, TCP_BACKLOG) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int
listener_open(struct daemon *d, struct listener *l)
{
	const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
	unsigned v6only = sa->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0;
	int rc;

	rc = uv_udp_init_ex(d->loop, &l->udp,
	    (unsigned)sa->sa_family | UV_UDP_RECVMMSG);
	if (rc != 0)
		return rc;
	l->udp_open = 1;
	l->udp.data = l;
	rc = uv_udp_bind(&l->udp, sa, v6only);
	if (rc != 0)
		return rc;
	rc = uv_udp_recv_start(&l->udp, udp_alloc_cb, udp_recv_cb);
	if (rc != 0)
		return rc;

	uv_timer_init(d->loop, &l->pause);
	l->pause.data = l;
	l->pause_open = 1;
	l->tcp_fd = tcp_listen_socket(sa);
	if (l->tcp_fd < 0)
		return l->tcp_fd;
	rc = uv_poll_init(d->loop, &l->tcp, l->tcp_fd);
	if (rc != 0) {
		close(l->tcp_fd);
		return rc;
	}
	l->tcp_open = 1;
	l->tcp.data = l;
	return uv_poll_start(&l->tcp, UV_READABLE, accept_cb);
}

static void
tcp_listener_closed_cb(uv_handle_t *h)
{
	struct listener *l = h->data;

	close(l->tcp_fd);
	l->tcp_fd = -1;
}

static void
listener_close_tcp(struct listener *l)
{
	if (l->tcp_open) {
		uv_close((uv_handle_t *)&l->tcp, tcp_listener_closed_cb);
		l->tcp_open = 0;
	}
	if (l->pause_open) {
		uv_close((uv_handle_t *)&l->pause, NULL);
		l->pause_open = 0;
	}
}

/* After each round of I/O callbacks: send the answers they gathered. */
static void
tx_check_cb(uv_check_t *h)
{
	struct daemon *d = h->data;

	d->tx->in_batch = 0;
	if (d->tx->n > 0)
		udp_tx_flush(d);
	else
		d->tx->l = NULL;
}

int
server_listen(struct daemon *d)
{
	size_t nb = 64;

	while (nb < d->cfg.tcp_max_clients)
		nb <<= 1;
	d->conn_by_addr = calloc(nb, sizeof(*d->conn_by_addr));
	d->n_conn_buckets = nb;
	randombytes_buf(d->conn_key, sizeof(d->conn_key));
	uv_check_init(d->loop, &d->tx->check);
	d->tx->check.data = d;
	uv_check_start(&d->tx->check, tx_check_cb);
	uv_unref((uv_handle_t *)&d->tx->check);
	d->listeners = calloc(d->cfg.n_listen, sizeof(*d->listeners));
	if (d->listeners == NULL || d->conn_by_addr == NULL)
		return UV_ENOMEM;
	d->n_listeners = d->cfg.n_listen;
	for (size_t i = 0; i < d->n_listeners; i++) {
		struct listener *l = &d->listeners[i];
		int rc;

		l->d = d;
		l->addr = d->cfg.listen[i];
		addr_text((const struct sockaddr *)&l->addr, l->name,
		    sizeof(l->name));
		rc = listener_open(d, l);
		if (rc != 0) {
			log_err("cannot listen on %s: %s", l->name,
			    uv_strerror(rc));
			return rc;
		}
		if (addr_is_wildcard((const struct sockaddr *)&l->addr))
			log_warn("%s is a wildcard address: on a host with "
				 "several addresses, list each one so answers "
				 "leave from the address asked",
			    l->name);
	}
	return 0;
}

void
server_stop_listening(struct daemon *d)
{
	for (size_t i = 0; i < d->n_listeners; i++) {
		struct listener *l = &d->listeners[i];

		if (l->udp_open)
			uv_udp_recv_stop(&l->udp);
		listener_close_tcp(l);
	}
	/* Draining: answer what is in flight, take nothing new. */
	for (struct tcp_conn *c = d->conns; c != NULL; c = c->next) {
		if (c->reading) {
			uv_read_stop((uv_stream_t *)&c->h);
			c->reading = 0;
		}
	}
}

void
server_close(struct daemon *d)
{
	udp_tx_flush(d);
	if (!uv_is_closing((uv_handle_t *)&d->tx->check))
		uv_close((uv_handle_t *)&d->tx->check, NULL);
	for (size_t i = 0; i < d->n_listeners; i++) {
		struct listener *l = &d->listeners[i];

		if (l->udp_open) {
			uv_close((uv_handle_t *)&l->udp, NULL);
			l->udp_open = 0;
		}
		listener_close_tcp(l);
	}
	while (d->conns != NULL)
		conn_close(d->conns);
}
