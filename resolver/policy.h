/*
 * The blocklist as the daemon holds it: the current immutable snapshot,
 * rebuilt from lists.db on a libuv worker thread and swapped in on the
 * loop thread. A rebuild is asked for by a reload (control socket,
 * SIGHUP) or found necessary by the poll timer when lists.db's generation
 * has moved; a failed one logs why and leaves the old snapshot serving.
 * A successful swap empties the answer cache, so nothing cached before a
 * name was blocked is served after.
 */
#ifndef RESOLVER_POLICY_H
#define RESOLVER_POLICY_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct daemon;
struct bl_snapshot;

typedef void (*policy_done_cb)(void *arg, int ok, const char *msg);

struct policy_waiter {
	struct policy_waiter *next;
	policy_done_cb cb;
	void *arg;
};

struct policy {
	struct daemon *d;
	struct bl_snapshot *snap;
	uv_work_t work;
	uv_timer_t poll;
	int busy;
	int again;      /* another rebuild was asked for while busy */
	int again_force;
	struct policy_waiter *waiters; /* told when the rebuild ends */
	struct policy_waiter *next_waiters;
	uint64_t reloads;
	uint64_t reload_failures;
	int64_t loaded_at; /* unix time the serving snapshot was swapped in */
	/* Worker input and output; owned by the worker while busy. */
	char path[PATH_MAX];
	int create; /* lists.db may be made: not loaded from this path yet */
	int seed;
	int force;
	uint64_t have_gen;
	int have_snap;
	struct bl_snapshot *result;
	int rc;
	int changed;
	size_t seeded;
	uint64_t build_ms;
	char err[512];
};

/* Load synchronously at start. Returns 0, or -1 after logging why. */
int policy_init(struct policy *p, struct daemon *d);
void policy_start_polling(struct policy *p);
/* Rebuild off the loop; cb (may be NULL) hears how it went. */
void policy_reload(struct policy *p, int force, policy_done_cb cb, void *arg);
void policy_close(struct policy *p);
void policy_clear(struct policy *p);

#endif
