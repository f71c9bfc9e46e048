#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "feeds/fetch.h"
#include "parasol_config.h"

#define USER_AGENT "parasol-update/" PARASOL_VERSION " (Parasol DNS blocker)"

struct xfer {
	struct feed_fetch *f;
	const struct feed_fetch_opts *o;
	CURL *h;
	struct curl_slist *headers;
	size_t cap;
	int over_cap;
	char errbuf[CURL_ERROR_SIZE];
};

int
feed_fetch_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
feed_fetch_global_cleanup(void)
{
	curl_global_cleanup();
}

int
feed_fetch_is_path(const char *src)
{
	return src[0] == '/' || strncmp(src, "./", 2) == 0 ||
	    strncmp(src, "../", 3) == 0;
}

void
feed_fetch_clear(struct feed_fetch *f)
{
	free(f->body);
	f->body = NULL;
	f->len = 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Read a local list with the same cap as a download. */
static void
read_path(struct feed_fetch *f, const struct feed_fetch_opts *o)
{
	double t0 = now_s();
	struct stat sb;
	size_t got = 0;
	int fd;

	/* O_NONBLOCK: a FIFO must not hang the run (and its lock). */
	fd = open(f->url, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		snprintf(f->err, sizeof(f->err), "%s: %s", f->url,
		    strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(f->err, sizeof(f->err), "%s: not a regular file",
		    f->url);
		goto fail;
	}
	if ((size_t)sb.st_size > o->max_bytes) {
		snprintf(f->err, sizeof(f->err),
		    "%s: %lld bytes, over the %zu-byte cap", f->url,
		    (long long)sb.st_size, o->max_bytes);
		goto fail;
	}
	f->body = malloc((size_t)sb.st_size + 1);
	if (f->body == NULL) {
		snprintf(f->err, sizeof(f->err), "out of memory");
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, f->body + got, (size_t)sb.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(f->err, sizeof(f->err), "%s: %s", f->url,
			    r < 0 ? strerror(errno) : "file shrank while read");
			goto fail;
		}
		got += (size_t)r;
	}
	close(fd);
	f->len = got;
	f->received = got;
	f->status = FEED_FETCH_OK;
	f->seconds = now_s() - t0;
	return;
fail:
	if (fd >= 0)
		close(fd);
	feed_fetch_clear(f);
	f->status = FEED_FETCH_FAILED;
	f->seconds = now_s() - t0;
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct feed_fetch *f = x->f;
	size_t n = size * nmemb;

	if (n > x->o->max_bytes - f->len) {
		/* Returning short makes libcurl abort with CURLE_WRITE_ERROR. */
		x->over_cap = 1;
		return 0;
	}
	if (f->len + n > x->cap) {
		size_t cap = x->cap != 0 ? x->cap : 64 * 1024;
		char *b;

		while (cap < f->len + n)
			cap *= 2;
		if (cap > x->o->max_bytes)
			cap = x->o->max_bytes;
		b = realloc(f->body, cap + 1);
		if (b == NULL)
			return 0;
		f->body = b;
		x->cap = cap;
	}
	memcpy(f->body + f->len, data, n);
	f->len += n;
	f->received = f->len;
	return n;
}

/* Copy a header's value without surrounding blanks. */
static void
header_value(const char *v, size_t n, char *out, size_t cap)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' ||
			    v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= cap) {
		/* Too long to store: better none than a truncated one. */
		out[0] = '\0';
		return;
	}
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t
header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct feed_fetch *f = x->f;
	size_t n = size * nmemb;

	/* A new status line (after a redirect): forget the last headers. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		f->etag_out[0] = '\0';
		f->last_modified_out[0] = '\0';
		f->content_type[0] = '\0';
	} else if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
		header_value(data + 5, n - 5, f->etag_out, sizeof(f->etag_out));
	} else if (n > 14 && strncasecmp(data, "Last-Modified:", 14) == 0) {
		header_value(data + 14, n - 14, f->last_modified_out,
		    sizeof(f->last_modified_out));
	} else if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
		header_value(data + 13, n - 13, f->content_type,
		    sizeof(f->content_type));
	}
	return n;
}

/* A header line with a value from the DB: refuse anything with CR/LF. */
static int
add_header(struct curl_slist **l, const char *name, const char *v)
{
	char line[512];
	struct curl_slist *n;

	if (v == NULL || v[0] == '\0' || strpbrk(v, "\r\n") != NULL)
		return 0;
	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, v) >=
	    sizeof(line))
		return 0;
	n = curl_slist_append(*l, line);
	if (n == NULL)
		return -1;
	*l = n;
	return 0;
}

static int
setup(struct xfer *x, struct curl_slist *resolve)
{
	const struct feed_fetch_opts *o = x->o;
	struct feed_fetch *f = x->f;
	CURL *h = curl_easy_init();

	if (h == NULL)
		return -1;
	x->h = h;
	if (add_header(&x->headers, "If-None-Match", f->etag) != 0 ||
	    add_header(&x->headers, "If-Modified-Since", f->last_modified) !=
		0)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, f->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR,
	    f->allow_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR,
	    f->allow_http ? "http,https" : "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, o->max_redirs);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_bytes);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_secs);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)o->max_bytes);
	/* "" = every encoding this libcurl decodes (gzip, deflate, br). */
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (x->headers != NULL)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	if (o->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (resolve != NULL)
		curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
	return 0;
}

static void
finish(struct xfer *x, CURLcode cc)
{
	struct feed_fetch *f = x->f;
	double total = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &f->http_status);
	curl_easy_getinfo(x->h, CURLINFO_TOTAL_TIME, &total);
	f->seconds = total;
	if (cc != CURLE_OK) {
		char *redir = NULL;

		/* After following a Location, the effective URL is where it
		 * led; before, REDIRECT_URL names it. */
		curl_easy_getinfo(x->h, CURLINFO_EFFECTIVE_URL, &redir);
		if (redir != NULL && strcmp(redir, f->url) == 0)
			curl_easy_getinfo(x->h, CURLINFO_REDIRECT_URL, &redir);
		if (redir != NULL && strcmp(redir, f->url) == 0)
			redir = NULL;
		if (x->over_cap || cc == CURLE_FILESIZE_EXCEEDED)
			snprintf(f->err, sizeof(f->err),
			    "body larger than the %zu-byte cap", x->o->max_bytes);
		else if (cc == CURLE_UNSUPPORTED_PROTOCOL && redir != NULL)
			snprintf(f->err, sizeof(f->err),
			    "redirected to %.300s: refused, %s", redir,
			    f->allow_http ? "not http(s)"
					  : "https only (the feed was not "
					    "added with --allow-http)");
		else if (cc == CURLE_TOO_MANY_REDIRECTS)
			snprintf(f->err, sizeof(f->err),
			    "more than %ld redirects (a loop?)",
			    x->o->max_redirs);
		else
			snprintf(f->err, sizeof(f->err), "%s",
			    x->errbuf[0] != '\0' ? x->errbuf
						 : curl_easy_strerror(cc));
		f->status = FEED_FETCH_FAILED;
	} else if (f->http_status == 304) {
		f->status = FEED_FETCH_NOT_MODIFIED;
	} else if (f->http_status == 200) {
		f->status = FEED_FETCH_OK;
	} else {
		snprintf(f->err, sizeof(f->err), "HTTP status %ld",
		    f->http_status);
		f->status = FEED_FETCH_FAILED;
	}
	if (f->status != FEED_FETCH_OK)
		feed_fetch_clear(f);
	else if (f->body == NULL)
		f->body = malloc(1); /* an empty 200: a body of length 0 */
	if (f->body != NULL)
		f->body[f->len] = '\0';
	else if (f->status == FEED_FETCH_OK) {
		snprintf(f->err, sizeof(f->err), "out of memory");
		f->status = FEED_FETCH_FAILED;
	}
}

int
feed_fetch_run(struct feed_fetch *f, size_t n, const struct feed_fetch_opts *o,
    feed_fetch_progress_cb progress, void *arg)
{
	struct curl_slist *resolve = NULL;
	struct xfer *xs;
	CURLM *m;
	int running = 0, rc = 0;
	double last = 0;

	xs = calloc(n ? n : 1, sizeof(*xs));
	m = curl_multi_init();
	if (xs == NULL || m == NULL) {
		free(xs);
		if (m != NULL)
			curl_multi_cleanup(m);
		return -1;
	}
	for (size_t i = 0; o->resolve != NULL && o->resolve[i] != NULL; i++) {
		struct curl_slist *l = curl_slist_append(resolve, o->resolve[i]);

		if (l == NULL) {
			rc = -1;
			goto out;
		}
		resolve = l;
	}
	for (size_t i = 0; i < n; i++) {
		f[i].status = FEED_FETCH_PENDING;
		xs[i].f = &f[i];
		xs[i].o = o;
		if (feed_fetch_is_path(f[i].url)) {
			read_path(&f[i], o);
			continue;
		}
		if (setup(&xs[i], resolve) != 0 ||
		    curl_multi_add_handle(m, xs[i].h) != CURLM_OK) {
			snprintf(f[i].err, sizeof(f[i].err),
			    "cannot set up the transfer");
			f[i].status = FEED_FETCH_FAILED;
			continue;
		}
		running++;
	}
	while (running > 0) {
		CURLMsg *msg;
		int left;

		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			struct xfer *x;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&x);
			finish(x, msg->data.result);
		}
		if (progress != NULL && now_s() - last >= 0.2) {
			last = now_s();
			progress(f, n, arg);
		}
		if (running > 0 && curl_multi_poll(m, NULL, 0, 200, NULL) !=
			CURLM_OK)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		if (f[i].status == FEED_FETCH_PENDING) {
			snprintf(f[i].err, sizeof(f[i].err),
			    "transfer did not finish");
			f[i].status = FEED_FETCH_FAILED;
			feed_fetch_clear(&f[i]);
		}
	}
	if (progress != NULL)
		progress(f, n, arg);
out:
	for (size_t i = 0; i < n; i++) {
		if (xs[i].h != NULL) {
			curl_multi_remove_handle(m, xs[i].h);
			curl_easy_cleanup(xs[i].h);
		}
		curl_slist_free_all(xs[i].headers);
	}
	curl_slist_free_all(resolve);
	curl_multi_cleanup(m);
	free(xs);
	return rc;
}
