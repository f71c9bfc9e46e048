#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "blocklist/name.h"
#include "blocklist/statsdb.h"
#include "resolver/log.h"
#include "resolver/recorder.h"

#define MAX_QUEUED 8  /* batches waiting for the worker */
#define N_QTYPES 257  /* types 0..255, and "other" */
#define BUSY_MS 2000
#define DROP_LOG_EVERY_S 60

#define WIRE_NAME_MAX_LEN 255
#define REC_KEY_MAX (1 + 16 + 2 + WIRE_NAME_MAX_LEN)

/*
 * A pending lookup: the event first (the batch frees it through that
 * pointer), then the raw key it was found by.
 */
struct pend {
	struct bl_stats_event ev;
	uint16_t klen;
	uint8_t key[REC_KEY_MAX];
};

/*
 * Events are allocated when first seen, so an idle table costs little.
 * A slot is one cache line holding what a repeat needs: the hash, the
 * counts, and the key itself when it is short (IPv4 and a name of up to
 * SLOT_KEY - 7 bytes: most names), so a repeated blocked lookup touches
 * this line and nothing else. Longer keys go on in the event's copy.
 */
#define SLOT_KEY 34
struct slot {
	uint64_t hash;
	struct bl_stats_event *ev; /* NULL: free */
	int64_t last;
	uint32_t count;
	uint16_t klen;
	uint8_t key[SLOT_KEY];
};
_Static_assert(sizeof(struct slot) == 64, "a slot is one cache line");

struct batch {
	struct batch *next;
	int64_t minute;
	uint64_t out[REC_N_OUTCOMES];
	uint64_t qtypes[N_QTYPES];
	size_t n;
	uint64_t *hashes;
	struct bl_stats_event **ev;
};

/* Worker side: the open row of each (client, name, type). */
struct fold {
	uint64_t hash;
	int64_t rowid;
	int64_t start;
};

struct recorder {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct recorder_opts o;
	char path[4096];
	unsigned char key[crypto_shorthash_KEYBYTES];
	/* (SipHash: keyed, so chosen names cannot pile into one chain.) */

	/* Loop thread only. */
	struct slot *slots;
	void *slots_mem; /* what slots was carved from */
	size_t cap, n;
	uint64_t out[REC_N_OUTCOMES];
	uint64_t qtypes[N_QTYPES];
	int dirty;
	int64_t minute; /* the minute the pending counts belong to */
	uint64_t loop_events;
	uint64_t loop_dropped;

	/* Shared, under mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct batch *head, *tail;
	size_t queued;
	int stop;
	struct recorder_stats st;
	pthread_t thread;

	/* Worker thread only. */
	struct fold *folds;
	size_t fold_cap, fold_n;
	int64_t last_prune;
	int64_t last_drop_log;
};

static int64_t
wall_s(void)
{
	return (int64_t)time(NULL);
}

/* --- worker ---------------------------------------------------------- */

static struct fold *
fold_find(struct recorder *r, uint64_t h, int insert)
{
	size_t mask, i;

	if (insert && (r->fold_n + 1) * 2 > r->fold_cap) {
		size_t cap = r->fold_cap ? r->fold_cap * 2 : 1024;
		struct fold *f = calloc(cap, sizeof(*f));

		if (f == NULL)
			return NULL;
		for (size_t k = 0; k < r->fold_cap; k++) {
			if (r->folds[k].hash == 0)
				continue;
			i = r->folds[k].hash & (cap - 1);
			while (f[i].hash != 0)
				i = (i + 1) & (cap - 1);
			f[i] = r->folds[k];
		}
		free(r->folds);
		r->folds = f;
		r->fold_cap = cap;
	}
	if (r->fold_cap == 0)
		return NULL;
	mask = r->fold_cap - 1;
	for (i = h & mask; r->folds[i].hash != 0; i = (i + 1) & mask) {
		if (r->folds[i].hash == h)
			return &r->folds[i];
	}
	if (!insert)
		return NULL;
	r->folds[i].hash = h;
	r->fold_n++;
	return &r->folds[i];
}

/* Forget rows whose window has passed (or all of them, after a failure:
 * their ids may belong to a rolled-back transaction). */
static void
fold_prune(struct recorder *r, int64_t before)
{
	struct fold *old = r->folds;
	size_t cap = r->fold_cap;

	r->folds = NULL;
	r->fold_cap = 0;
	r->fold_n = 0;
	for (size_t k = 0; k < cap; k++) {
		struct fold *f;

		if (old[k].hash == 0 || old[k].start < before)
			continue;
		f = fold_find(r, old[k].hash, 1);
		if (f != NULL) {
			f->rowid = old[k].rowid;
			f->start = old[k].start;
		}
	}
	free(old);
}

static int
write_batch(struct recorder *r, struct bl_stats *db, const struct batch *b,
    char *err, size_t errlen)
{
	struct bl_stats_minute m = {
	    .minute = b->minute,
	    .blocked = b->out[REC_BLOCKED],
	    .cached = b->out[REC_CACHED],
	    .forwarded = b->out[REC_FORWARDED],
	    .refused = b->out[REC_REFUSED],
	    .errors = b->out[REC_ERROR],
	};
	int rc;

	for (int i = 0; i < REC_N_OUTCOMES; i++)
		m.total += b->out[i];
	rc = bl_stats_begin(db, err, errlen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < b->n; i++) {
		const struct bl_stats_event *e = b->ev[i];
		struct fold *f = fold_find(r, b->hashes[i], 0);

		rc = BL_ENOENT;
		if (f != NULL && e->first - f->start < r->o.fold_window_s)
			rc = bl_stats_fold(db, f->rowid, e->count, e->last, err,
			    errlen);
		if (rc == BL_ENOENT) {
			int64_t id = 0;

			rc = bl_stats_insert(db, e, &id, err, errlen);
			if (rc == 0) {
				if (f == NULL)
					f = fold_find(r, b->hashes[i], 1);
				if (f != NULL) {
					f->rowid = id;
					f->start = e->first;
				}
			}
		}
		if (rc != 0)
			goto fail;
	}
	if (m.total > 0)
		rc = bl_stats_add_minute(db, &m, err, errlen);
	for (int t = 0; rc == 0 && t < N_QTYPES; t++) {
		if (b->qtypes[t] != 0)
			rc = bl_stats_add_qtype(db, b->minute,
			    t == N_QTYPES - 1 ? 65535 : (uint16_t)t,
			    b->qtypes[t], err, errlen);
	}
	if (rc != 0)
		goto fail;
	return bl_stats_commit(db, err, errlen);
fail:
	bl_stats_rollback(db);
	return rc;
}

static uint64_t
batch_lookups(const struct batch *b)
{
	uint64_t n = 0;

	for (size_t i = 0; i < b->n; i++)
		n += b->ev[i]->count;
	return n;
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->hashes);
	for (size_t i = 0; b->ev != NULL && i < b->n; i++)
		free(b->ev[i]);
	free(b->ev);
	free(b);
}

static void
note_drop(struct recorder *r, uint64_t n, const char *why)
{
	int64_t now = wall_s();

	pthread_mutex_lock(&r->mu);
	r->st.dropped += n;
	pthread_mutex_unlock(&r->mu);
	if (now - r->last_drop_log >= DROP_LOG_EVERY_S) {
		r->last_drop_log = now;
		log_warn("stats: %llu blocked lookups not recorded: %s",
		    (unsigned long long)n, why);
	}
}

static void *
worker(void *arg)
{
	struct recorder *r = arg;
	struct bl_stats *db = NULL;
	struct sched_param sp = {.sched_priority = 0};
	char err[512];

	/*
	 * Writing to sqlite must never hold up answers: on a busy core the
	 * loop thread would wait behind this one. SCHED_IDLE runs it only
	 * when nothing else wants the CPU; when it cannot keep up, batches
	 * queue up to MAX_QUEUED and then records are dropped and counted.
	 * Best effort: a seccomp filter may refuse it.
	 */
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
		log_debug("stats: writer thread keeps normal priority");

	/* Create the database now, so the CLI finds one before traffic. */
	if (bl_stats_open(r->path, 1, BUSY_MS, &db, err, sizeof(err)) != 0) {
		log_warn("stats: %s (will retry)", err);
		db = NULL;
	}
	for (;;) {
		struct batch *b;
		int rc;

		pthread_mutex_lock(&r->mu);
		while (r->head == NULL && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		b = r->head;
		if (b != NULL) {
			r->head = b->next;
			if (r->head == NULL)
				r->tail = NULL;
			r->queued--;
		}
		pthread_mutex_unlock(&r->mu);
		if (b == NULL)
			break; /* stopping, and nothing left */

		/* (Re)open lazily: a database that failed may come back. */
		if (db == NULL &&
		    bl_stats_open(r->path, 1, BUSY_MS, &db, err, sizeof(err)) !=
			0) {
			db = NULL;
			note_drop(r, batch_lookups(b), err);
			batch_free(b);
			continue;
		}
		if (b->minute - r->last_prune >= 3600 && r->o.retention_days > 0) {
			r->last_prune = b->minute;
			if (bl_stats_prune(db,
				b->minute -
				    (int64_t)r->o.retention_days * 86400,
				err, sizeof(err)) != 0)
				log_warn("stats: %s", err);
		}
		if (r->fold_n > 4096)
			fold_prune(r, b->minute - r->o.fold_window_s - 60);
		rc = write_batch(r, db, b, err, sizeof(err));
		if (rc != 0) {
			fold_prune(r, INT64_MAX);
			note_drop(r, batch_lookups(b), err);
			pthread_mutex_lock(&r->mu);
			r->st.batches_failed++;
			pthread_mutex_unlock(&r->mu);
			if (rc == BL_ECORRUPT) {
				bl_stats_close(db);
				db = NULL;
			}
		} else {
			pthread_mutex_lock(&r->mu);
			r->st.written += batch_lookups(b);
			pthread_mutex_unlock(&r->mu);
		}
		batch_free(b);
	}
	bl_stats_close(db);
	return NULL;
}

/* --- loop side ------------------------------------------------------- */

static void
flush(struct recorder *r)
{
	struct batch *b;
	uint64_t lookups = 0;

	if (!r->dirty)
		return;
	b = calloc(1, sizeof(*b));
	if (b != NULL && r->n > 0) {
		b->ev = malloc(r->n * sizeof(*b->ev));
		b->hashes = malloc(r->n * sizeof(*b->hashes));
		if (b->ev == NULL || b->hashes == NULL) {
			batch_free(b);
			b = NULL;
		}
	}
	for (size_t i = 0; i < r->cap; i++) {
		if (r->slots[i].ev == NULL)
			continue;
		r->slots[i].ev->count = r->slots[i].count;
		r->slots[i].ev->last = r->slots[i].last;
		lookups += r->slots[i].count;
		if (b != NULL) {
			b->ev[b->n] = r->slots[i].ev;
			b->hashes[b->n] = r->slots[i].hash;
			b->n++;
		} else {
			free(r->slots[i].ev);
		}
		r->slots[i].ev = NULL;
	}
	r->n = 0;
	if (b != NULL) {
		b->minute = r->minute != 0 ? r->minute : wall_s() / 60 * 60;
		memcpy(b->out, r->out, sizeof(b->out));
		memcpy(b->qtypes, r->qtypes, sizeof(b->qtypes));
	}
	memset(r->out, 0, sizeof(r->out));
	memset(r->qtypes, 0, sizeof(r->qtypes));
	r->dirty = 0;

	pthread_mutex_lock(&r->mu);
	if (b != NULL && r->queued < MAX_QUEUED) {
		if (r->tail != NULL)
			r->tail->next = b;
		else
			r->head = b;
		r->tail = b;
		r->queued++;
		b = NULL;
		pthread_cond_signal(&r->cv);
	} else {
		/* The worker is behind (a slow or full disk): lose this
		 * second rather than grow without bound. */
		r->st.dropped += lookups;
	}
	pthread_mutex_unlock(&r->mu);
	batch_free(b);
}

static void
timer_cb(uv_timer_t *t)
{
	flush(t->data);
}

struct recorder *
recorder_new(uv_loop_t *loop, const struct recorder_opts *o, char *err,
    size_t errlen)
{
	struct recorder *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->loop = loop;
	r->o = *o;
	snprintf(r->path, sizeof(r->path), "%s", o->path);
	r->o.path = r->path;
	if (r->o.max_keys < 16)
		r->o.max_keys = 16;
	r->cap = 1;
	while (r->cap < r->o.max_keys * 2)
		r->cap *= 2;
	/* Zeroed lazily by the kernel, and aligned to cache lines by hand
	 * (calloc's pointer is only 16-byte aligned). */
	r->slots_mem = calloc(r->cap + 1, sizeof(*r->slots));
	r->slots = (struct slot *)(((uintptr_t)r->slots_mem + 63) &
				   ~(uintptr_t)63);
	if (r->slots_mem == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	crypto_shorthash_keygen(r->key);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (pthread_create(&r->thread, NULL, worker, r) != 0) {
		snprintf(err, errlen, "cannot start the stats thread");
		free(r->slots_mem);
		free(r);
		return NULL;
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_timer_start(&r->timer, timer_cb, 1000, 1000);
	return r;
}

static void
closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void
recorder_free(struct recorder *r, struct recorder_stats *last)
{
	if (r == NULL)
		return;
	uv_timer_stop(&r->timer);
	flush(r);
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	if (last != NULL) {
		*last = r->st;
		last->events = r->loop_events;
		last->dropped += r->loop_dropped;
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->slots_mem);
	free(r->folds);
	/* The timer handle lives in r: free it once libuv lets go. */
	r->timer.data = r;
	uv_close((uv_handle_t *)&r->timer, closed_cb);
}

/* Counts belong to the minute they happened in: a new minute flushes. */
static void
track_minute(struct recorder *r)
{
	int64_t m = wall_s() / 60 * 60;

	if (m != r->minute) {
		flush(r);
		r->minute = m;
	}
}

void
recorder_outcome(struct recorder *r, enum rec_outcome o, uint16_t qtype)
{
	if (r == NULL)
		return;
	track_minute(r);
	r->out[o]++;
	r->qtypes[qtype < N_QTYPES - 1 ? qtype : N_QTYPES - 1]++;
	r->dirty = 1;
}

void
recorder_blocked(struct recorder *r, const struct sockaddr *client,
    const uint8_t *qname, size_t qname_len, uint16_t qtype,
    const char *category, const char *feed, const uint8_t *rule,
    size_t rule_len, const char *action)
{
	uint8_t key[REC_KEY_MAX];
	size_t klen, i, mask;
	struct pend *pe;
	uint64_t h;
	int64_t now;
	int fam;
	const uint8_t *a;

	if (r == NULL || !r->o.events)
		return;
	r->loop_events++;
	track_minute(r);

	/* The key is (client, type, name) in raw bytes: a repeat costs a
	 * SipHash and a memcmp, no text conversion. */
	if (client->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)client;

		a = s6->sin6_addr.s6_addr;
		fam = 6;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a += 12;
			fam = 4;
		}
	} else {
		a = (const uint8_t *)&((const struct sockaddr_in *)client)
			->sin_addr;
		fam = 4;
	}
	if (qname_len > WIRE_NAME_MAX_LEN)
		return;
	key[0] = (uint8_t)fam;
	memcpy(key + 1, a, fam == 4 ? 4 : 16);
	klen = 1 + (fam == 4 ? 4 : 16);
	memcpy(key + klen, &qtype, sizeof(qtype));
	klen += sizeof(qtype);
	memcpy(key + klen, qname, qname_len);
	klen += qname_len;
	crypto_shorthash((unsigned char *)&h, key, klen, r->key);
	h |= 1;

	now = wall_s();
	mask = r->cap - 1;
	for (i = h & mask; r->slots[i].ev != NULL; i = (i + 1) & mask) {
		struct slot *s = &r->slots[i];

		if (s->hash == h && s->klen == klen &&
		    memcmp(s->key, key, klen < SLOT_KEY ? klen : SLOT_KEY) ==
			0 &&
		    (klen <= SLOT_KEY ||
			memcmp(((struct pend *)s->ev)->key + SLOT_KEY,
			    key + SLOT_KEY, klen - SLOT_KEY) == 0)) {
			s->count++;
			s->last = now;
			r->dirty = 1;
			return;
		}
	}
	if (r->n >= r->o.max_keys) {
		r->loop_dropped++;
		return;
	}
	pe = calloc(1, sizeof(*pe));
	if (pe == NULL) {
		r->loop_dropped++;
		return;
	}
	memcpy(pe->key, key, klen);
	pe->klen = (uint16_t)klen;
	inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, pe->ev.client,
	    sizeof(pe->ev.client));
	bl_name_from_wire(qname, qname_len, pe->ev.name, sizeof(pe->ev.name));
	pe->ev.qtype = qtype;
	pe->ev.first = pe->ev.last = now;
	pe->ev.count = 1;
	snprintf(pe->ev.category, sizeof(pe->ev.category), "%s", category);
	snprintf(pe->ev.feed, sizeof(pe->ev.feed), "%s", feed);
	bl_name_from_wire(rule, rule_len, pe->ev.rule, sizeof(pe->ev.rule));
	snprintf(pe->ev.action, sizeof(pe->ev.action), "%s", action);
	r->slots[i].ev = &pe->ev;
	r->slots[i].hash = h;
	r->slots[i].count = 1;
	r->slots[i].last = now;
	r->slots[i].klen = (uint16_t)klen;
	memcpy(r->slots[i].key, key, klen < SLOT_KEY ? klen : SLOT_KEY);
	r->n++;
	r->dirty = 1;
}

void
recorder_get_stats(struct recorder *r, struct recorder_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	*st = r->st;
	pthread_mutex_unlock(&r->mu);
	/* Called on the loop thread, which owns these two. */
	st->events = r->loop_events;
	st->dropped += r->loop_dropped;
}
