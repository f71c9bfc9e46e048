/*
 * Downloading feeds with libcurl: every feed of a run in parallel (one
 * multi handle), each body capped in the write callback (libcurl only
 * enforces CURLOPT_MAXFILESIZE when the size is announced), https only
 * unless the feed opts into http, a few https-only redirects, connect and
 * total timeouts, a low-speed abort, gzip/br, and conditional GET with the
 * stored ETag and Last-Modified. A source that is a local path ("/..." or
 * "./...") is read from disk with the same cap, never through file://.
 *
 * Requests are filled in by the caller; feed_fetch_run fills in results.
 * Bodies are malloc'd and owned by the request: feed_fetch_clear frees.
 */
#ifndef FEEDS_FETCH_H
#define FEEDS_FETCH_H

#include <stddef.h>

enum feed_fetch_status {
	FEED_FETCH_PENDING = 0,
	FEED_FETCH_OK,           /* 200 (or a local file): body holds it */
	FEED_FETCH_NOT_MODIFIED, /* 304 to our conditional GET */
	FEED_FETCH_FAILED,       /* err says why */
};

struct feed_fetch_opts {
	long connect_timeout_ms;
	long timeout_ms;      /* whole transfer */
	long low_speed_bytes; /* abort below this many bytes/s ... */
	long low_speed_secs;  /* ... for this long */
	size_t max_bytes;     /* decoded body cap */
	long max_redirs;
	const char *ca_file; /* NULL: the system store */
	const char *const *resolve; /* curl "HOST:PORT:ADDR" pins, NULL-ended */
};

struct feed_fetch {
	/* request */
	const char *url;
	int allow_http;
	const char *etag;          /* NULL or "" for none */
	const char *last_modified; /* NULL or "" for none */

	/* result */
	enum feed_fetch_status status;
	long http_status;
	char *body;
	size_t len;
	size_t received; /* so far, for progress */
	double seconds;
	char etag_out[256];
	char last_modified_out[64];
	char content_type[128];
	char err[512];

	void *priv;
};

/* Called about every 200 ms while transfers run, and once at the end. */
typedef void (*feed_fetch_progress_cb)(struct feed_fetch *f, size_t n,
    void *arg);

/* libcurl global init/cleanup, once per process. */
int feed_fetch_global_init(void);
void feed_fetch_global_cleanup(void);

/* Is this source a local path rather than a URL? */
int feed_fetch_is_path(const char *src);

/*
 * Fetch every request. Returns 0 when each one has a final status (check
 * them individually), negative only if libcurl itself could not be set up.
 */
int feed_fetch_run(struct feed_fetch *f, size_t n,
    const struct feed_fetch_opts *o, feed_fetch_progress_cb progress,
    void *arg);

void feed_fetch_clear(struct feed_fetch *f);

#endif
