#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <libpsl.h>
#include <sodium.h>

#include "blocklist/control.h"
#include "blocklist/defaults.h"
#include "blocklist/name.h"
#include "blocklist/store.h"
#include "feeds/minisign.h"
#include "feeds/resolve.h"
#include "feeds/update.h"

/* Names whose blocking would break the network, whatever a feed says. */
static const char *const critical_names[] = {
    "localhost",
    "localdomain",
    "local",
    "arpa",
    "in-addr.arpa",
    "ip6.arpa",
    "home.arpa",
    "resolver.arpa",
    NULL,
};

struct job {
	struct bl_feed_row row;
	struct feed_result *res;
	struct feed_fetch *body;
	struct feed_fetch *sig; /* NULL for unsigned feeds */
	int accepted;           /* entries to be replaced */
	char digest[129];
	int64_t serial;
	char host[256]; /* the feed server, never to be blocked */
};

const char *
feed_outcome_name(enum feed_outcome o)
{
	switch (o) {
	case FEED_UPDATED:
		return "updated";
	case FEED_NOT_MODIFIED:
		return "not-modified";
	case FEED_UNCHANGED:
		return "unchanged";
	case FEED_FAILED:
	default:
		return "failed";
	}
}

void
feed_run_clear(struct feed_run *run)
{
	free(run->results);
	run->results = NULL;
	run->n = 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One updater at a time: an flock on a file next to lists.db, waited for
 * up to wait_ms. Returns the descriptor, -1 on timeout, -2 on error.
 */
static int
take_lock(const char *db, int wait_ms, char *err, size_t errlen)
{
	char path[4096];
	double until = now_s() + wait_ms / 1000.0;
	int fd;

	snprintf(path, sizeof(path), "%s.update-lock", db);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
		return -2;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "%.300s: %s", path, strerror(errno));
			close(fd);
			return -2;
		}
		if (now_s() >= until) {
			snprintf(err, errlen,
			    "another parasol-update is running (%.300s is locked)",
			    path);
			close(fd);
			return -1;
		}
		usleep(100 * 1000);
	}
	return fd;
}

/* The host part of an http(s) URL, lower case, without port or brackets. */
static void
url_host(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://");
	const char *at;
	size_t n = 0;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += 3;
	/* userinfo@ counts only inside the authority. */
	at = memchr(p, '@', strcspn(p, "/?#"));
	if (at != NULL)
		p = at + 1;
	if (*p == '[')
		return; /* an IPv6 literal is not a name */
	while (p[n] != '\0' && p[n] != ':' && p[n] != '/' && p[n] != '?' &&
	    p[n] != '#' && n + 1 < cap) {
		out[n] = (char)(p[n] >= 'A' && p[n] <= 'Z' ? p[n] + 32 : p[n]);
		n++;
	}
	out[n] = '\0';
}

/* The port of an http(s) URL, explicit or by scheme. */
static unsigned
url_port(const char *url)
{
	const char *p = strstr(url, "://");
	const char *colon;
	size_t hostlen;

	if (p == NULL)
		return 0;
	p += 3;
	hostlen = strcspn(p, "/?#");
	colon = memchr(p, ']', hostlen);
	colon = memchr(colon != NULL ? colon : p, ':',
	    hostlen - (size_t)((colon != NULL ? colon : p) - p));
	if (colon != NULL)
		return (unsigned)strtoul(colon + 1, NULL, 10);
	return strncasecmp(url, "https:", 6) == 0 ? 443 : 80;
}

static int
is_ip_literal(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * Pin every feed host to addresses looked up through o->dns, after the
 * admin's own pins. Lookup failures are left to the transfer, which then
 * fails with curl's message for that feed alone.
 */
static char **
make_pins(const struct feed_update_opts *o, const struct job *jobs, size_t n,
    char *warn, size_t warnlen)
{
	size_t n_user = 0, k = 0;
	char **pins;

	while (o->fetch.resolve != NULL && o->fetch.resolve[n_user] != NULL)
		n_user++;
	pins = calloc(n_user + n + 1, sizeof(*pins));
	if (pins == NULL)
		return NULL;
	for (size_t i = 0; i < n_user; i++) {
		pins[k] = strdup(o->fetch.resolve[i]);
		if (pins[k] != NULL)
			k++;
	}
	for (size_t i = 0; o->dns != NULL && i < n; i++) {
		const char *host = jobs[i].host;
		char prefix[300], addrs[1024], err[300];
		unsigned port = url_port(jobs[i].row.url);
		int dup = 0;

		if (host[0] == '\0' || is_ip_literal(host) || port == 0)
			continue;
		snprintf(prefix, sizeof(prefix), "%s:%u:", host, port);
		for (size_t p = 0; p < k; p++)
			dup |= pins[p] != NULL &&
			    strncasecmp(pins[p], prefix, strlen(prefix)) == 0;
		if (dup)
			continue;
		if (feed_resolve(o->dns, host, addrs, sizeof(addrs), err,
			sizeof(err)) != 0) {
			snprintf(warn, warnlen, "%s", err);
			continue;
		}
		pins[k] = malloc(strlen(prefix) + strlen(addrs) + 1);
		if (pins[k] != NULL) {
			strcpy(pins[k], prefix);
			strcat(pins[k], addrs);
			k++;
		}
	}
	return pins;
}

static int
looks_like_html(const struct feed_fetch *f)
{
	const char *p = f->body;
	const char *end = f->body + f->len;

	if (strncasecmp(f->content_type, "text/html", 9) == 0)
		return 1;
	if (f->len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return (end - p >= 9 && strncasecmp(p, "<!doctype", 9) == 0) ||
	    (end - p >= 5 && strncasecmp(p, "<html", 5) == 0) ||
	    (end - p >= 5 && strncasecmp(p, "<head", 5) == 0);
}

/* The guards' pass over a parsed feed. */
struct guard_ctx {
	const struct feed_update_opts *o;
	const struct job *jobs;
	size_t n_jobs;
	psl_ctx_t *psl;
	enum bl_match_mode mode;
	char bad[300];
	size_t n_suffixes;
	char suffix[254];
};

static int
is_public_suffix(psl_ctx_t *psl, const char *name)
{
	return psl != NULL && strchr(name, '.') != NULL &&
	    psl_is_public_suffix2(psl, name,
		PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE);
}

static int
covers(const char *rule, int subtree, const char *name)
{
	size_t r = strlen(rule), n = strlen(name);

	if (r == n)
		return strcmp(rule, name) == 0;
	return subtree && n > r && name[n - r - 1] == '.' &&
	    strcmp(name + n - r, rule) == 0;
}

/*
 * Remembers the first rule the guards refuse and reads on, so a body that
 * is mostly junk is reported as junk rather than for one stray word.
 */
static int
guard_cb(const char *name, enum bl_kind kind, int subtree, void *arg)
{
	struct guard_ctx *g = arg;
	int sub = subtree || g->mode == BL_SUBTREE;

	if (kind != BL_DENY || g->bad[0] != '\0')
		return 0;
	if (strchr(name, '.') == NULL) {
		snprintf(g->bad, sizeof(g->bad), "lists the top-level name '%s'",
		    name);
		return 0;
	}
	for (size_t i = 0; critical_names[i] != NULL; i++) {
		if (covers(name, sub, critical_names[i])) {
			snprintf(g->bad, sizeof(g->bad),
			    "lists the critical name '%s'", name);
			return 0;
		}
	}
	if (is_public_suffix(g->psl, name)) {
		/* Under which anyone can register (co.uk, and every x.kh):
		 * too wide to block, but not a reason to lose the feed. */
		if (g->n_suffixes++ == 0)
			snprintf(g->suffix, sizeof(g->suffix), "%s", name);
		return 0;
	}
	for (size_t i = 0; i < g->n_jobs; i++) {
		if (g->jobs[i].host[0] != '\0' &&
		    covers(name, sub, g->jobs[i].host)) {
			snprintf(g->bad, sizeof(g->bad),
			    "lists '%s', which covers the feed server %s", name,
			    g->jobs[i].host);
			return 0;
		}
	}
	for (size_t i = 0; g->o->protect != NULL && g->o->protect[i] != NULL;
	     i++) {
		if (covers(name, sub, g->o->protect[i])) {
			snprintf(g->bad, sizeof(g->bad),
			    "lists '%s', which covers the protected name %s",
			    name, g->o->protect[i]);
			return 0;
		}
	}
	return 0;
}

static void
fail(struct job *j, const char *why, const char *detail)
{
	snprintf(j->res->error, sizeof(j->res->error), "%s%.400s", why,
	    detail);
	j->res->outcome = FEED_FAILED;
}

static void
digest_hex(const struct feed_fetch *f, char *out, size_t cap)
{
	unsigned char d[32];

	/* BLAKE2b-256, as the bundled defaults are recorded. */
	crypto_generichash(d, sizeof(d), (const unsigned char *)f->body,
	    f->len, NULL, 0);
	sodium_bin2hex(out, cap, d, sizeof(d));
}

/* Verify the signature of a signed feed; 0 when it may be used. */
static int
check_signature(struct job *j)
{
	struct feed_minisign_key key;
	struct feed_minisign_result mr;
	char err[300];

	if (j->sig == NULL)
		return 0;
	if (j->sig->status != FEED_FETCH_OK) {
		snprintf(j->res->error, sizeof(j->res->error),
		    "signature %.200s.minisig: %.200s", j->row.url,
		    j->sig->err[0] ? j->sig->err : "missing");
		return -1;
	}
	if (feed_minisign_key_parse(j->row.pubkey, &key, err, sizeof(err)) !=
	    0) {
		fail(j, "bad public key: ", err);
		return -1;
	}
	if (feed_minisign_verify(&key, (const uint8_t *)j->body->body,
		j->body->len, j->sig->body, j->sig->len, &mr, err,
		sizeof(err)) != 0) {
		fail(j, "signature rejected: ", err);
		return -1;
	}
	if (mr.serial < 0) {
		fail(j, "signature rejected: its trusted comment has no "
			"timestamp or serial",
		    "");
		return -1;
	}
	if (mr.serial < j->row.serial ||
	    (mr.serial == j->row.serial && j->row.digest[0] != '\0' &&
		strcmp(j->digest, j->row.digest) != 0)) {
		snprintf(j->res->error, sizeof(j->res->error),
		    "signature rejected: serial %lld is not newer than the "
		    "accepted %lld (rollback?)",
		    (long long)mr.serial, (long long)j->row.serial);
		return -1;
	}
	j->serial = mr.serial;
	j->res->serial = mr.serial;
	return 0;
}

/* Decide what to do with one feed's download. */
static void
judge(struct job *j, const struct feed_update_opts *o, struct job *jobs,
    size_t n_jobs, psl_ctx_t *psl)
{
	struct feed_result *r = j->res;
	struct feed_fetch *f = j->body;
	struct feed_parse_stats ps;
	struct guard_ctx g;
	enum feed_format fmt;
	char err[300];
	int rc;

	r->http_status = f->http_status;
	r->bytes = f->len;
	r->seconds = f->seconds;
	if (f->status == FEED_FETCH_NOT_MODIFIED) {
		r->outcome = FEED_NOT_MODIFIED;
		return;
	}
	if (f->status != FEED_FETCH_OK) {
		fail(j, "", f->err);
		return;
	}
	digest_hex(f, j->digest, sizeof(j->digest));
	if (!o->force && j->row.digest[0] != '\0' &&
	    strcmp(j->digest, j->row.digest) == 0 && j->row.entry_count > 0) {
		r->outcome = FEED_UNCHANGED;
		return;
	}
	if (check_signature(j) != 0) {
		r->outcome = FEED_FAILED;
		return;
	}
	if (f->len == 0) {
		fail(j, "empty body", "");
		return;
	}
	if (looks_like_html(f)) {
		fail(j, "an HTML page, not a list", "");
		return;
	}
	if (memchr(f->body, '\0', f->len) != NULL) {
		fail(j, "binary data (NUL bytes), not a text list", "");
		return;
	}
	if (feed_format_from_name(j->row.format, &fmt) != 0)
		fmt = FEED_FMT_AUTO;
	memset(&g, 0, sizeof(g));
	g.o = o;
	g.jobs = jobs;
	g.n_jobs = n_jobs;
	g.psl = psl;
	g.mode = j->row.mode;
	err[0] = '\0';
	rc = feed_parse(f->body, f->len, fmt, guard_cb, &g, &ps, err,
	    sizeof(err));
	r->format = feed_format_name(ps.format);
	r->rules = ps.rules;
	r->allows = ps.allows;
	r->skipped = ps.skipped;
	r->invalid = ps.invalid;
	r->n_examples = ps.n_examples;
	memcpy(r->examples, ps.examples, sizeof(r->examples));
	/* They quote hostile bytes: keep them printable for terminals, logs
	 * and JSON. */
	for (size_t k = 0; k < FEED_PARSE_EXAMPLES; k++) {
		for (char *c = r->examples[k]; *c != '\0'; c++) {
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
				*c = '?';
		}
	}
	if (rc < 0) {
		fail(j, "unusable: ", err);
		return;
	}
	if (ps.rules == 0) {
		snprintf(r->error, sizeof(r->error),
		    "no rules found (%zu lines, %zu invalid)", ps.lines,
		    ps.invalid);
		r->outcome = FEED_FAILED;
		return;
	}
	if ((double)ps.invalid > o->max_invalid * (double)(ps.rules + ps.invalid)) {
		snprintf(r->error, sizeof(r->error),
		    "%zu of %zu lines invalid, over the %.0f%% limit",
		    ps.invalid, ps.rules + ps.invalid, o->max_invalid * 100);
		r->outcome = FEED_FAILED;
		return;
	}
	if (g.bad[0] != '\0') {
		fail(j, "refused: ", g.bad);
		return;
	}
	if (j->row.entry_count > 0 &&
	    (double)(ps.rules - g.n_suffixes) <
		(1.0 - o->max_shrink) * (double)j->row.entry_count) {
		snprintf(r->error, sizeof(r->error),
		    "shrank from %lld to %zu rules, more than the %.0f%% "
		    "allowed (--max-shrink)",
		    (long long)j->row.entry_count, ps.rules - g.n_suffixes,
		    o->max_shrink * 100);
		r->outcome = FEED_FAILED;
		return;
	}
	r->suffixes = g.n_suffixes;
	if (g.n_suffixes > 0)
		snprintf(r->suffix, sizeof(r->suffix), "%s", g.suffix);
	j->accepted = 1;
	r->outcome = FEED_UPDATED;
}

struct insert_ctx {
	psl_ctx_t *psl;
	struct bl_store *st;
	const char *id;
	enum bl_match_mode mode;
	char *err;
	size_t errlen;
	int rc;
};

static int
insert_cb(const char *name, enum bl_kind kind, int subtree, void *arg)
{
	struct insert_ctx *c = arg;

	if (kind == BL_DENY && is_public_suffix(c->psl, name))
		return 0;
	c->rc = bl_store_feed_add_entry(c->st, c->id, name, kind,
	    subtree ? BL_SUBTREE : c->mode, c->err, c->errlen);
	return c->rc != 0;
}

/* Write every feed's row, and the entries of the accepted ones. */
/* The definition the updater worked from, against the row now. */
static int
same_definition(const struct bl_feed_row *a, const struct bl_feed_row *b)
{
	return strcmp(a->url, b->url) == 0 && strcmp(a->pubkey, b->pubkey) == 0 &&
	    strcmp(a->format, b->format) == 0 && a->mode == b->mode &&
	    a->enabled == b->enabled && a->allow_http == b->allow_http;
}

/* Write every feed's row, and the entries of the accepted ones. */
static int
publish(struct bl_store *st, psl_ctx_t *psl, const struct feed_update_opts *o,
    struct job *jobs, size_t n, int *bumped, char *err, size_t errlen)
{
	int64_t now = (int64_t)time(NULL);
	int changed = 0, rc;

	rc = bl_store_begin(st, err, errlen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct job *j = &jobs[i];
		struct bl_feed_row *row = &j->row, cur;
		struct feed_result *r = j->res;

		/* The admin may have changed or removed the feed while we
		 * fetched: theirs wins, this run's result is void. */
		rc = bl_store_feed_get(st, row->id, &cur, err, errlen);
		if (rc == BL_ENOENT) {
			snprintf(r->error, sizeof(r->error),
			    "removed while the update ran");
			r->outcome = FEED_FAILED;
			r->entries = 0;
			continue;
		}
		if (rc != 0)
			goto fail;
		if (!same_definition(row, &cur)) {
			snprintf(r->error, sizeof(r->error),
			    "changed while the update ran; run again");
			r->outcome = FEED_FAILED;
			j->accepted = 0;
			*row = cur;
		}
		row->last_attempt = now;
		if (r->outcome == FEED_FAILED) {
			snprintf(row->last_error, sizeof(row->last_error), "%s",
			    r->error);
		} else {
			row->last_success = now;
			row->last_error[0] = '\0';
			/* A 304 or the same bytes: keep the old validators
			 * unless the server sent new ones. */
			if (j->body->etag_out[0] != '\0' ||
			    r->outcome == FEED_UPDATED)
				snprintf(row->etag, sizeof(row->etag), "%s",
				    j->body->etag_out);
			if (j->body->last_modified_out[0] != '\0' ||
			    r->outcome == FEED_UPDATED)
				snprintf(row->last_modified,
				    sizeof(row->last_modified), "%s",
				    j->body->last_modified_out);
		}
		if (j->accepted) {
			struct insert_ctx c = {psl, st, row->id, row->mode,
			    err, errlen, 0};
			struct feed_parse_stats ps;
			enum feed_format fmt;
			int64_t before = cur.entry_count, after = 0;
			char perr[300];

			if (feed_format_from_name(row->format, &fmt) != 0)
				fmt = FEED_FMT_AUTO;
			rc = bl_store_savepoint(st, BL_SAVEPOINT_BEGIN, err,
			    errlen);
			if (rc == 0)
				rc = bl_store_feed_clear_entries(st, row->id,
				    err, errlen);
			if (rc == 0 &&
			    feed_parse(j->body->body, j->body->len, fmt,
				insert_cb, &c, &ps, perr, sizeof(perr)) != 0) {
				rc = c.rc != 0 ? c.rc : BL_ERR;
				if (c.rc == 0)
					snprintf(err, errlen, "%s: %s", row->id,
					    perr);
			}
			if (rc == 0)
				rc = bl_store_feed_count_entries(st, row->id,
				    &after, err, errlen);
			if (rc != 0)
				goto fail;
			/*
			 * The judge counted rules as the feed wrote them;
			 * repeats merge and suffixes drop on the way in. Check
			 * the shrink guard again on what was stored.
			 */
			if (after == 0 ||
			    (before > 0 &&
				(double)after <
				    (1.0 - o->max_shrink) * (double)before)) {
				rc = bl_store_savepoint(st,
				    BL_SAVEPOINT_ROLLBACK, err, errlen);
				if (rc != 0)
					goto fail;
				snprintf(r->error, sizeof(r->error),
				    "would shrink from %lld to %lld entries "
				    "once repeats and public suffixes are "
				    "merged, more than --max-shrink allows",
				    (long long)before, (long long)after);
				r->outcome = FEED_FAILED;
				snprintf(row->last_error, sizeof(row->last_error),
				    "%s", r->error);
				row->last_success = cur.last_success;
				snprintf(row->etag, sizeof(row->etag), "%s",
				    cur.etag);
				snprintf(row->last_modified,
				    sizeof(row->last_modified), "%s",
				    cur.last_modified);
				row->entry_count = before;
			} else {
				rc = bl_store_savepoint(st,
				    BL_SAVEPOINT_RELEASE, err, errlen);
				if (rc != 0)
					goto fail;
				row->entry_count = after;
				snprintf(row->digest, sizeof(row->digest), "%s",
				    j->digest);
				if (j->sig != NULL)
					row->serial = j->serial;
				changed = 1;
			}
		}
		r->entries = row->entry_count;
		rc = bl_store_feed_put(st, row, err, errlen);
		if (rc != 0)
			goto fail;
	}
	*bumped = changed;
	return changed ? bl_store_commit(st, err, errlen)
		       : bl_store_commit_status(st, err, errlen);
fail:
	bl_store_rollback(st);
	return rc;
}

struct select_ctx {
	const struct feed_update_opts *o;
	struct bl_feed_row *rows;
	size_t n, cap;
	int failed;
};

static int
select_cb(const struct bl_feed_row *f, void *arg)
{
	struct select_ctx *c = arg;
	int want = c->o->only == NULL ? f->enabled : 0;

	for (size_t i = 0; c->o->only != NULL && c->o->only[i] != NULL; i++)
		if (strcmp(c->o->only[i], f->id) == 0)
			want = 1;
	if (!want)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct bl_feed_row *r = realloc(c->rows, cap * sizeof(*r));

		if (r == NULL) {
			c->failed = 1;
			return 1;
		}
		c->rows = r;
		c->cap = cap;
	}
	c->rows[c->n++] = *f;
	return 0;
}

static void
progress_cb(struct feed_fetch *f, size_t n, void *arg)
{
	void **a = arg;
	feed_update_progress_cb cb = (feed_update_progress_cb)(uintptr_t)a[0];

	if (cb != NULL)
		cb(a[1], f, n, a[2]);
}

enum feed_exit
feed_update_run(const struct feed_update_opts *o, struct feed_run *run,
    feed_update_progress_cb progress, void *arg)
{
	struct select_ctx sel = {o, NULL, 0, 0, 0};
	struct bl_store *st = NULL;
	struct feed_fetch *fetches = NULL;
	struct job *jobs = NULL;
	psl_ctx_t *psl = NULL;
	double t0 = now_s();
	size_t n_fetch = 0, ok = 0, failed = 0;
	int lock_fd, rc, created, bumped = 0;
	struct feed_fetch_opts fo;
	char **pins = NULL;
	void *pargs[3];

	memset(run, 0, sizeof(*run));
	run->exit_code = FEED_EXIT_OK;
	lock_fd = take_lock(o->lists_db, o->lock_wait_ms, run->error,
	    sizeof(run->error));
	if (lock_fd < 0) {
		run->exit_code = lock_fd == -1 ? FEED_EXIT_LOCKED : FEED_EXIT_DB;
		return run->exit_code;
	}
	created = access(o->lists_db, F_OK) != 0;
	rc = bl_store_open(o->lists_db, BL_STORE_CREATE, 10000, &st,
	    run->error, sizeof(run->error));
	if (rc != 0) {
		run->exit_code = FEED_EXIT_DB;
		goto out;
	}
	if (created) {
		size_t n_names;

		/* A new lists.db starts with the bundled feeds declared. */
		if (bl_defaults_seed(st, &n_names, run->error,
			sizeof(run->error)) != 0) {
			run->exit_code = FEED_EXIT_DB;
			goto out;
		}
	}
	rc = bl_store_feed_list(st, select_cb, &sel, run->error,
	    sizeof(run->error));
	if (rc != 0 || sel.failed) {
		if (sel.failed)
			snprintf(run->error, sizeof(run->error), "out of memory");
		run->exit_code = FEED_EXIT_DB;
		goto out;
	}
	for (size_t i = 0; o->only != NULL && o->only[i] != NULL; i++) {
		int found = 0;

		for (size_t k = 0; k < sel.n; k++)
			found |= strcmp(sel.rows[k].id, o->only[i]) == 0;
		if (!found) {
			snprintf(run->error, sizeof(run->error),
			    "no feed '%s' (see parasol feeds ls)", o->only[i]);
			run->exit_code = FEED_EXIT_CONFIG;
			goto out;
		}
	}
	if (sel.n == 0) {
		snprintf(run->error, sizeof(run->error),
		    "no enabled feeds (add one with parasol feeds add)");
		run->exit_code = FEED_EXIT_CONFIG;
		goto out;
	}

	jobs = calloc(sel.n, sizeof(*jobs));
	run->results = calloc(sel.n, sizeof(*run->results));
	fetches = calloc(sel.n * 2, sizeof(*fetches));
	if (jobs == NULL || run->results == NULL || fetches == NULL) {
		snprintf(run->error, sizeof(run->error), "out of memory");
		run->exit_code = FEED_EXIT_DB;
		goto out;
	}
	run->n = sel.n;
	for (size_t i = 0; i < sel.n; i++) {
		struct job *j = &jobs[i];
		int conditional = !o->force && sel.rows[i].entry_count > 0;

		j->row = sel.rows[i];
		j->res = &run->results[i];
		j->serial = -1;
		snprintf(j->res->id, sizeof(j->res->id), "%s", j->row.id);
		snprintf(j->res->category, sizeof(j->res->category), "%s",
		    j->row.category);
		j->res->previous = j->row.entry_count;
		j->res->entries = j->row.entry_count;
		j->res->serial = -1;
		{
			enum feed_format ff;

			/* A static name: the row is freed before printing. */
			j->res->format =
			    feed_format_from_name(j->row.format, &ff) == 0
			    ? feed_format_name(ff)
			    : "auto";
		}
		url_host(j->row.url, j->host, sizeof(j->host));
		j->body = &fetches[n_fetch++];
		j->body->url = j->row.url;
		j->body->allow_http = j->row.allow_http;
		j->body->etag = conditional ? j->row.etag : NULL;
		j->body->last_modified =
		    conditional ? j->row.last_modified : NULL;
		j->body->priv = j->res;
		if (j->row.pubkey[0] != '\0') {
			char *u = malloc(strlen(j->row.url) + 9);

			if (u == NULL) {
				snprintf(run->error, sizeof(run->error),
				    "out of memory");
				run->exit_code = FEED_EXIT_DB;
				goto out;
			}
			sprintf(u, "%s.minisig", j->row.url);
			j->sig = &fetches[n_fetch++];
			j->sig->url = u;
			j->sig->allow_http = j->row.allow_http;
		}
	}

	fo = o->fetch;
	pins = make_pins(o, jobs, sel.n, run->warning, sizeof(run->warning));
	if (pins != NULL)
		fo.resolve = (const char *const *)pins;
	pargs[0] = (void *)(uintptr_t)progress;
	pargs[1] = run;
	pargs[2] = arg;
	if (feed_fetch_run(fetches, n_fetch, &fo, progress_cb, pargs) != 0) {
		snprintf(run->error, sizeof(run->error),
		    "cannot set up libcurl");
		run->exit_code = FEED_EXIT_NOTHING;
		goto out;
	}
	psl = psl_latest(NULL);
	for (size_t i = 0; i < sel.n; i++) {
		judge(&jobs[i], o, jobs, sel.n, psl);
		if (jobs[i].res->outcome == FEED_FAILED)
			failed++;
		else
			ok++;
	}
	rc = publish(st, psl, o, jobs, sel.n, &bumped, run->error, sizeof(run->error));
	if (rc != 0) {
		/* Nothing was written: every feed keeps what it had. */
		for (size_t i = 0; i < sel.n; i++)
			run->results[i].entries = run->results[i].previous;
		run->exit_code = FEED_EXIT_DB;
		goto out;
	}
	run->published = bumped;
	bl_store_generation(st, &run->generation, run->error,
	    sizeof(run->error));
	if (bumped && o->control != NULL) {
		rc = control_request(o->control, "reload", 30000,
		    run->reload_msg, sizeof(run->reload_msg));
		run->reload = rc == 0 ? 1 : -1;
	}
	/* Publishing can still fail a feed (changed meanwhile, shrank). */
	ok = failed = 0;
	for (size_t i = 0; i < sel.n; i++) {
		if (run->results[i].outcome == FEED_FAILED)
			failed++;
		else
			ok++;
	}
	if (failed == 0)
		run->exit_code = FEED_EXIT_OK;
	else if (ok == 0)
		run->exit_code = FEED_EXIT_NOTHING;
	else
		run->exit_code = FEED_EXIT_PARTIAL;
out:
	for (size_t i = 0; jobs != NULL && i < sel.n; i++)
		if (jobs[i].sig != NULL)
			free((char *)jobs[i].sig->url);
	for (size_t i = 0; fetches != NULL && i < n_fetch; i++)
		feed_fetch_clear(&fetches[i]);
	for (size_t i = 0; pins != NULL && pins[i] != NULL; i++)
		free(pins[i]);
	free(pins);
	free(fetches);
	free(jobs);
	free(sel.rows);
	if (psl != NULL)
		psl_free(psl);
	bl_store_close(st);
	close(lock_fd);
	run->seconds = now_s() - t0;
	return run->exit_code;
}
