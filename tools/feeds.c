/* parasol feeds add|ls|rm|enable|disable */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "blocklist/store.h"
#include "feeds/fetch.h"
#include "feeds/minisign.h"
#include "feeds/parse.h"
#include "tools/cli.h"


/* Feed ids and categories: short words that are safe in logs and EDE. */
static int
valid_word(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' ||
			c == '.'))
			return 0;
	}
	return 1;
}

/*
 * Add a feed, or change one: options not given keep the stored values, so
 * re-adding never drops a signature requirement by omission
 * (--pubkey=none does that on purpose).
 */
static int
feeds_add(const struct cli_opts *o, const char *id, const char *src)
{
	struct bl_feed_row f, old;
	struct feed_minisign_key key;
	struct bl_store *st;
	enum feed_format fmt;
	char err[512];
	int rc, existed, allow_http, same;

	memset(&f, 0, sizeof(f));
	memset(&old, 0, sizeof(old));
	if (strcmp(id, "local") == 0) {
		fprintf(stderr, "parasol: 'local' names the admin's own rules; "
				"choose another feed id\n");
		return CLI_USAGE;
	}
	if (!valid_word(id, sizeof(f.id) - 1)) {
		fprintf(stderr, "parasol: feed id '%s': use 1-63 letters, "
				"digits, '-', '_' or '.'\n",
		    id);
		return CLI_USAGE;
	}
	if (o->format != NULL && feed_format_from_name(o->format, &fmt) != 0) {
		fprintf(stderr, "parasol: unknown format '%s' (auto, hosts, "
				"domains, adblock, rpz, dnsmasq)\n",
		    o->format);
		return CLI_USAGE;
	}
	if (o->category != NULL && !valid_word(o->category, 63)) {
		fprintf(stderr, "parasol: bad category '%s'\n", o->category);
		return CLI_USAGE;
	}
	if (o->match != NULL && strcmp(o->match, "subtree") != 0 &&
	    strcmp(o->match, "exact") != 0) {
		fprintf(stderr, "parasol: --match is exact or subtree\n");
		return CLI_USAGE;
	}
	if (o->pubkey != NULL && strcmp(o->pubkey, "none") != 0 &&
	    (strlen(o->pubkey) >= sizeof(f.pubkey) ||
		feed_minisign_key_parse(o->pubkey, &key, err, sizeof(err)) !=
		    0)) {
		fprintf(stderr, "parasol: bad minisign public key: %s\n",
		    strlen(o->pubkey) >= sizeof(f.pubkey) ? "too long" : err);
		return CLI_USAGE;
	}
	if (cli_open_lists(o, BL_STORE_CREATE, &st) != 0)
		return CLI_DB;
	rc = bl_store_feed_get(st, id, &old, err, sizeof(err));
	existed = rc == 0;
	if (rc != 0 && rc != BL_ENOENT) {
		fprintf(stderr, "parasol: %s\n", err);
		bl_store_close(st);
		return CLI_DB;
	}
	allow_http = o->allow_http > 0 ? 1
	    : o->allow_http < 0	      ? 0
				      : old.allow_http;
	snprintf(f.id, sizeof(f.id), "%s", id);
	rc = CLI_USAGE;
	if (feed_fetch_is_path(src)) {
		char abs[PATH_MAX];

		/* cron runs elsewhere: keep the path absolute. */
		if (realpath(src, abs) == NULL) {
			fprintf(stderr, "parasol: %s: no such file\n", src);
			goto out;
		}
		if (strlen(abs) >= sizeof(f.url)) {
			fprintf(stderr, "parasol: path too long\n");
			goto out;
		}
		snprintf(f.url, sizeof(f.url), "%s", abs);
	} else if (strncasecmp(src, "https://", 8) == 0 ||
	    (strncasecmp(src, "http://", 7) == 0 && allow_http)) {
		if (strlen(src) >= sizeof(f.url) ||
		    strpbrk(src, " \t\r\n") != NULL) {
			fprintf(stderr, "parasol: bad URL '%s'\n", src);
			goto out;
		}
		snprintf(f.url, sizeof(f.url), "%s", src);
	} else if (strncasecmp(src, "http://", 7) == 0) {
		fprintf(stderr, "parasol: %s is plain http, which anyone on the "
				"path can alter; use https, or --allow-http "
				"(best with --pubkey)\n",
		    src);
		goto out;
	} else {
		fprintf(stderr, "parasol: '%s' is neither an https:// URL nor a "
				"file path (/... or ./...)\n",
		    src);
		goto out;
	}
	if (o->format != NULL)
		snprintf(f.format, sizeof(f.format), "%s",
		    fmt == FEED_FMT_AUTO ? "auto" : feed_format_name(fmt));
	else
		snprintf(f.format, sizeof(f.format), "%s",
		    existed ? old.format : "auto");
	snprintf(f.category, sizeof(f.category), "%s",
	    o->category != NULL ? o->category
	    : existed	       ? old.category
			       : "mining");
	if (o->match != NULL)
		f.mode = strcmp(o->match, "exact") == 0 ? BL_EXACT : BL_SUBTREE;
	else
		f.mode = existed ? old.mode : BL_SUBTREE;
	if (o->pubkey != NULL)
		snprintf(f.pubkey, sizeof(f.pubkey), "%s",
		    strcmp(o->pubkey, "none") == 0 ? "" : o->pubkey);
	else
		snprintf(f.pubkey, sizeof(f.pubkey), "%s", old.pubkey);
	f.allow_http = allow_http;
	f.enabled = existed ? old.enabled : 1;
	if (existed) {
		/* Status and entries stay; a new source or key starts the
		 * validators and the rollback counter afresh. */
		/* A new way to read the same bytes must re-parse them. */
		same = strcmp(old.url, f.url) == 0 &&
		    strcmp(old.pubkey, f.pubkey) == 0 &&
		    strcmp(old.format, f.format) == 0 && old.mode == f.mode;
		f.entry_count = old.entry_count;
		f.last_success = old.last_success;
		f.last_attempt = old.last_attempt;
		snprintf(f.last_error, sizeof(f.last_error), "%s",
		    old.last_error);
		if (same) {
			snprintf(f.etag, sizeof(f.etag), "%s", old.etag);
			snprintf(f.last_modified, sizeof(f.last_modified), "%s",
			    old.last_modified);
			snprintf(f.digest, sizeof(f.digest), "%s", old.digest);
			f.serial = old.serial;
		}
		if (old.pubkey[0] != '\0' && f.pubkey[0] == '\0')
			fprintf(stderr, "note: feed %s is no longer signed: "
					"updates are taken without a "
					"signature\n",
			    id);
	}
	rc = bl_store_begin(st, err, sizeof(err));
	if (rc == 0)
		rc = bl_store_feed_put(st, &f, err, sizeof(err));
	if (rc == 0)
		rc = bl_store_commit(st, err, sizeof(err));
	else
		bl_store_rollback(st);
	if (rc != 0) {
		fprintf(stderr, "parasol: %s\n", err);
		rc = CLI_DB;
		goto out;
	}
	printf("feed %s %s: %s (%s, %s, category %s%s%s)\n", id,
	    existed ? "updated" : "added", f.url, f.format,
	    bl_mode_name(f.mode), f.category, f.pubkey[0] ? ", signed" : "",
	    f.allow_http ? ", http allowed" : "");
	printf("run parasol-update to fetch it\n");
	rc = CLI_OK;
out:
	bl_store_close(st);
	return rc;
}

static void
fmt_time(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		snprintf(out, cap, "never");
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

struct ls_ctx {
	json_t *arr;
	size_t n;
};

static int
ls_cb(const struct bl_feed_row *f, void *arg)
{
	struct ls_ctx *c = arg;
	char ok[32], tried[32];

	c->n++;
	if (c->arr != NULL) {
		json_t *j = json_object();

		json_object_set_new(j, "id", json_string(f->id));
		json_object_set_new(j, "url", json_string(f->url));
		json_object_set_new(j, "format", json_string(f->format));
		json_object_set_new(j, "category", json_string(f->category));
		json_object_set_new(j, "match", json_string(bl_mode_name(f->mode)));
		json_object_set_new(j, "enabled", json_boolean(f->enabled));
		json_object_set_new(j, "allow_http", json_boolean(f->allow_http));
		json_object_set_new(j, "signed", json_boolean(f->pubkey[0] != 0));
		json_object_set_new(j, "entries", json_integer(f->entry_count));
		json_object_set_new(j, "last_success",
		    f->last_success ? json_integer(f->last_success)
				    : json_null());
		json_object_set_new(j, "last_attempt",
		    f->last_attempt ? json_integer(f->last_attempt)
				    : json_null());
		json_object_set_new(j, "last_error",
		    f->last_error[0] ? json_string(f->last_error) : json_null());
		json_object_set_new(j, "etag",
		    f->etag[0] ? json_string(f->etag) : json_null());
		json_object_set_new(j, "last_modified",
		    f->last_modified[0] ? json_string(f->last_modified)
					: json_null());
		json_object_set_new(j, "serial",
		    f->pubkey[0] ? json_integer(f->serial) : json_null());
		json_array_append_new(c->arr, j);
		return 0;
	}
	fmt_time(f->last_success, ok, sizeof(ok));
	fmt_time(f->last_attempt, tried, sizeof(tried));
	printf("%s%s  %s\n", f->id, f->enabled ? "" : " (disabled)", f->url);
	printf("    %s, %s, category %s%s%s; %lld entries\n", f->format,
	    bl_mode_name(f->mode), f->category,
	    f->pubkey[0] ? ", signed" : "", f->allow_http ? ", http allowed" : "",
	    (long long)f->entry_count);
	printf("    last success %s, last attempt %s%s%s\n", ok, tried,
	    f->etag[0] ? ", ETag " : "", f->etag);
	if (f->last_error[0] != '\0')
		printf("    last error: %s\n", f->last_error);
	return 0;
}

int
cli_feeds(const struct cli_opts *o, int argc, char **argv)
{
	struct bl_store *st;
	char err[512];
	int rc;

	if (argc < 1)
		goto usage;
	if (strcmp(argv[0], "ls") == 0) {
		struct ls_ctx c = {NULL, 0};

		if (argc != 1)
			goto usage;
		if (cli_open_lists(o, BL_STORE_RO, &st) != 0)
			return CLI_DB;
		if (o->json)
			c.arr = json_array();
		rc = bl_store_feed_list(st, ls_cb, &c, err, sizeof(err));
		bl_store_close(st);
		if (rc != 0) {
			json_decref(c.arr);
			fprintf(stderr, "parasol: %s\n", err);
			return CLI_DB;
		}
		if (c.arr != NULL) {
			char *s = json_dumps(c.arr, JSON_COMPACT);

			if (s != NULL)
				puts(s);
			free(s);
			json_decref(c.arr);
		} else if (c.n == 0) {
			fprintf(stderr, "no feeds (add one with parasol feeds "
					"add ID URL)\n");
		}
		return CLI_OK;
	}
	if (strcmp(argv[0], "add") == 0) {
		if (argc != 3)
			goto usage;
		return feeds_add(o, argv[1], argv[2]);
	}
	if (argc != 2 || (strcmp(argv[0], "rm") != 0 &&
			     strcmp(argv[0], "enable") != 0 &&
			     strcmp(argv[0], "disable") != 0))
		goto usage;
	if (cli_open_lists(o, BL_STORE_RW, &st) != 0)
		return CLI_DB;
	if (strcmp(argv[0], "rm") == 0)
		rc = bl_store_feed_rm(st, argv[1], err, sizeof(err));
	else
		rc = bl_store_feed_enable(st, argv[1],
		    strcmp(argv[0], "enable") == 0, err, sizeof(err));
	bl_store_close(st);
	if (rc != 0) {
		fprintf(stderr, "parasol: %s\n", err);
		return rc == BL_ENOENT ? CLI_USAGE : CLI_DB;
	}
	printf("feed %s %s\n", argv[1],
	    strcmp(argv[0], "rm") == 0 ? "removed with its entries"
	    : strcmp(argv[0], "enable") == 0 ? "enabled"
					     : "disabled");
	cli_ask_reload(o);
	return CLI_OK;
usage:
	fprintf(stderr,
	    "usage: parasol feeds add ID URL|PATH [--category=C]\n"
	    "           [--format=auto|hosts|domains|adblock|rpz|dnsmasq]\n"
	    "           [--match=exact|subtree] [--pubkey=MINISIGN_KEY] "
	    "[--allow-http]\n"
	    "       parasol feeds ls [--json]\n"
	    "       parasol feeds rm|enable|disable ID\n");
	return CLI_USAGE;
}
