#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocklist/defaults.h"
#include "blocklist/match.h"
#include "blocklist/store.h"
#include "resolver/cache.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/policy.h"

/* A reload waits this long for a writer to finish before giving up. */
#define BUSY_TIMEOUT_MS 2000

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs on a worker thread: no libuv calls, no daemon state. */
static void
build(struct policy *p)
{
	struct bl_store *st = NULL;
	enum bl_store_mode mode = p->create ? BL_STORE_CREATE : BL_STORE_RW;
	uint64_t gen = 0, t0 = mono_ms();
	int empty = 0;

	p->result = NULL;
	p->changed = 0;
	p->seeded = 0;
	p->err[0] = '\0';
	p->rc = bl_store_open(p->path, mode, BUSY_TIMEOUT_MS, &st, p->err,
	    sizeof(p->err));
	if (p->rc == BL_ENOENT || (p->rc != 0 && p->rc != BL_ECORRUPT &&
				      p->rc != BL_EBUSY && p->rc != BL_ESCHEMA)) {
		/* A database we may read but not write. */
		char err2[512];

		if (bl_store_open(p->path, BL_STORE_RO, BUSY_TIMEOUT_MS, &st,
			err2, sizeof(err2)) == 0)
			p->rc = 0;
		else if (access(p->path, F_OK) != 0)
			snprintf(p->err, sizeof(p->err), "%.400s: %s", p->path,
			    strerror(errno));
	}
	if (p->rc != 0)
		return;
	if (p->seed) {
		p->rc = bl_store_is_empty(st, &empty, p->err, sizeof(p->err));
		if (p->rc == 0 && empty)
			p->rc = bl_defaults_seed(st, &p->seeded, p->err,
			    sizeof(p->err));
		if (p->rc != 0)
			goto out;
	}
	p->rc = bl_store_generation(st, &gen, p->err, sizeof(p->err));
	if (p->rc != 0)
		goto out;
	if (!p->force && p->have_snap && gen == p->have_gen)
		goto out;
	p->rc = bl_store_load(st, &p->result, p->err, sizeof(p->err));
	if (p->rc == 0)
		p->changed = 1;
out:
	bl_store_close(st);
	p->build_ms = mono_ms() - t0;
}

static void
notify(struct policy_waiter *w, int ok, const char *msg)
{
	while (w != NULL) {
		struct policy_waiter *next = w->next;

		w->cb(w->arg, ok, msg);
		free(w);
		w = next;
	}
}

/* Loop thread: take the worker's result. */
static int
apply(struct policy *p, char *msg, size_t cap)
{
	struct daemon *d = p->d;

	if (p->rc != 0) {
		p->reload_failures++;
		if (p->have_snap)
			log_err("lists: reload failed, still serving generation "
				"%llu: %s",
			    (unsigned long long)p->have_gen, p->err);
		else
			log_err("lists: %s", p->err);
		snprintf(msg, cap, "%s", p->err);
		return -1;
	}
	if (p->seeded > 0)
		log_info("lists: empty database, loaded %zu bundled default "
			 "entries",
		    p->seeded);
	if (p->changed) {
		struct bl_snapshot *old = p->snap;

		/* Only the loop thread reads the snapshot: a plain swap. */
		p->snap = p->result;
		p->result = NULL;
		p->have_gen = bl_snapshot_generation(p->snap);
		p->have_snap = 1;
		p->reloads++;
		p->loaded_at = (int64_t)time(NULL);
		bl_snapshot_free(old);
		if (d->cache != NULL)
			cache_clear_all(d->cache);
		log_info("lists: generation %llu, %zu names, %zu KiB, built in "
			 "%llu ms",
		    (unsigned long long)p->have_gen,
		    bl_snapshot_names(p->snap),
		    bl_snapshot_bytes(p->snap) / 1024,
		    (unsigned long long)p->build_ms);
	}
	snprintf(msg, cap, "generation=%llu names=%zu",
	    (unsigned long long)p->have_gen, bl_snapshot_names(p->snap));
	return 0;
}

static void start_work(struct policy *p);

static void
work_cb(uv_work_t *w)
{
	build(w->data);
}

static void
after_work_cb(uv_work_t *w, int status)
{
	struct policy *p = w->data;
	struct policy_waiter *waiters = p->waiters;
	char msg[600];
	int rc;

	p->busy = 0;
	p->waiters = NULL;
	if (status != 0) {
		snprintf(p->err, sizeof(p->err), "rebuild cancelled");
		p->rc = -1;
	}
	rc = apply(p, msg, sizeof(msg));
	notify(waiters, rc == 0, msg);
	if (p->again && !p->d->stopping) {
		p->force = p->again_force;
		p->again = p->again_force = 0;
		p->waiters = p->next_waiters;
		p->next_waiters = NULL;
		start_work(p);
	}
}

static void
start_work(struct policy *p)
{
	struct daemon *d = p->d;

	/* Only a path not loaded from yet may be created: a lists.db that
	 * went away under us is a failed reload, not an empty blocklist. */
	p->create = strcmp(p->path, d->cfg.lists_db) != 0;
	snprintf(p->path, sizeof(p->path), "%s", d->cfg.lists_db);
	p->seed = d->cfg.seed_defaults;
	p->work.data = p;
	if (uv_queue_work(d->loop, &p->work, work_cb, after_work_cb) == 0) {
		p->busy = 1;
		return;
	}
	notify(p->waiters, 0, "cannot queue the rebuild");
	p->waiters = NULL;
}

void
policy_reload(struct policy *p, int force, policy_done_cb cb, void *arg)
{
	struct policy_waiter *w = NULL;

	if (cb != NULL) {
		w = calloc(1, sizeof(*w));
		if (w == NULL) {
			cb(arg, 0, "out of memory");
			return;
		}
		w->cb = cb;
		w->arg = arg;
	}
	if (p->busy) {
		/* The build under way may have read the old data: go again. */
		p->again = 1;
		p->again_force |= force;
		if (w != NULL) {
			w->next = p->next_waiters;
			p->next_waiters = w;
		}
		return;
	}
	p->force = force;
	if (w != NULL) {
		w->next = p->waiters;
		p->waiters = w;
	}
	start_work(p);
}

static void
poll_cb(uv_timer_t *t)
{
	struct policy *p = t->data;

	if (!p->busy)
		policy_reload(p, 0, NULL, NULL);
}

int
policy_init(struct policy *p, struct daemon *d)
{
	char msg[600];

	memset(p, 0, sizeof(*p));
	p->d = d;
	uv_timer_init(d->loop, &p->poll);
	p->poll.data = p;
	snprintf(p->path, sizeof(p->path), "%s", d->cfg.lists_db);
	p->seed = d->cfg.seed_defaults;
	p->force = 1;
	p->create = 1;
	build(p);
	if (apply(p, msg, sizeof(msg)) != 0) {
		log_err("cannot load the blocklist from %s", d->cfg.lists_db);
		return -1;
	}
	return 0;
}

void
policy_start_polling(struct policy *p)
{
	uint64_t ms = p->d->cfg.lists_poll;

	uv_timer_stop(&p->poll);
	if (ms > 0)
		uv_timer_start(&p->poll, poll_cb, ms, ms);
}

void
policy_close(struct policy *p)
{
	if (p->d != NULL && !uv_is_closing((uv_handle_t *)&p->poll))
		uv_close((uv_handle_t *)&p->poll, NULL);
}

void
policy_clear(struct policy *p)
{
	notify(p->waiters, 0, "stopping");
	notify(p->next_waiters, 0, "stopping");
	p->waiters = p->next_waiters = NULL;
	bl_snapshot_free(p->result);
	bl_snapshot_free(p->snap);
	p->snap = p->result = NULL;
}
