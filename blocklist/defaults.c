#include <stdio.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "blocklist/defaults.h"
#include "blocklist/listfile.h"
#include "blocklist/store.h"

extern const char bl_default_nocoin[];
extern const unsigned long long bl_default_nocoin_len;
extern const char bl_default_coinminer[];
extern const unsigned long long bl_default_coinminer_len;

struct default_feed {
	const char *id;
	const char *url;
	const char *category;
	const char *text;
	const unsigned long long *len;
};

static const struct default_feed defaults[] = {
	{"nocoin",
	    "https://raw.githubusercontent.com/hoshsadiq/adblock-nocoin-list/"
	    "master/hosts.txt",
	    "browser-miner", bl_default_nocoin, &bl_default_nocoin_len},
	{"coinminer",
	    "https://raw.githubusercontent.com/anudeepND/blacklist/master/"
	    "CoinMiner.txt",
	    "mining", bl_default_coinminer, &bl_default_coinminer_len},
};

struct seed_ctx {
	struct bl_store *st;
	const char *id;
	char *err;
	size_t errlen;
	int rc;
};

static int
emit_cb(const char *name, void *arg)
{
	struct seed_ctx *c = arg;

	c->rc = bl_store_feed_add_entry(c->st, c->id, name, BL_DENY,
	    BL_SUBTREE, c->err, c->errlen);
	return c->rc;
}

int
bl_defaults_seed(struct bl_store *st, size_t *n_names, char *err,
    size_t errlen)
{
	int rc;

	*n_names = 0;
	rc = bl_store_begin(st, err, errlen);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		const struct default_feed *d = &defaults[i];
		struct seed_ctx c = {st, d->id, err, errlen, 0};
		struct bl_list_stats ls;
		struct bl_feed_row f;
		unsigned char digest[32];
		char why[256];

		memset(&f, 0, sizeof(f));
		snprintf(f.id, sizeof(f.id), "%s", d->id);
		snprintf(f.url, sizeof(f.url), "%s", d->url);
		snprintf(f.format, sizeof(f.format), "hosts");
		snprintf(f.category, sizeof(f.category), "%s", d->category);
		f.mode = BL_SUBTREE;
		f.enabled = 1;
		/* The digest lets the updater see the same content again. */
		crypto_generichash(digest, sizeof(digest),
		    (const unsigned char *)d->text, (size_t)*d->len, NULL, 0);
		sodium_bin2hex(f.digest, sizeof(f.digest), digest,
		    sizeof(digest));
		rc = bl_store_feed_put(st, &f, err, errlen);
		if (rc != 0)
			goto fail;
		rc = bl_list_parse(d->text, (size_t)*d->len, emit_cb, &c, &ls,
		    why, sizeof(why));
		if (rc != 0)
			goto fail;
		rc = bl_store_feed_count_entries(st, d->id, &f.entry_count, err,
		    errlen);
		if (rc != 0)
			goto fail;
		/* Bundled, not fetched: no last_success until an update. */
		rc = bl_store_feed_put(st, &f, err, errlen);
		if (rc != 0)
			goto fail;
		*n_names += (size_t)f.entry_count;
	}
	return bl_store_commit(st, err, errlen);
fail:
	bl_store_rollback(st);
	return rc;
}
