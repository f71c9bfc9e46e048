#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "blocklist/control.h"
#include "blocklist/match.h"
#include "blocklist/name.h"
#include "blocklist/store.h"
#include "tools/cli.h"

/* How long the CLI waits for a writer (the updater) to finish. */
#define CLI_BUSY_MS 5000
#define RELOAD_TIMEOUT_MS 30000

static void
print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);

	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

int
cli_open_lists(const struct cli_opts *o, enum bl_store_mode mode,
    struct bl_store **st)
{
	char err[512];
	int rc = bl_store_open(o->lists_db, mode, CLI_BUSY_MS, st, err,
	    sizeof(err));

	if (rc == 0)
		return 0;
	if (rc == BL_ENOENT)
		fprintf(stderr, "parasol: %s: no such database (set --lists-db, "
				"or start parasold once to create it)\n",
		    o->lists_db);
	else if (rc == BL_EBUSY)
		fprintf(stderr, "parasol: %s is locked by another writer; try "
				"again\n",
		    o->lists_db);
	else
		fprintf(stderr, "parasol: %s\n", err);
	return -1;
}

static int
normalise_arg(const char *in, char *out)
{
	char why[256];

	if (bl_name_normalise(in, out, why, sizeof(why)) != 0) {
		fprintf(stderr, "parasol: '%s' is not a valid name: %s\n", in,
		    why);
		return -1;
	}
	return 0;
}

int
cli_check(const struct cli_opts *o, int argc, char **argv)
{
	char name[BL_NAME_MAX + 1], rule[BL_NAME_MAX + 1], err[512];
	uint8_t wire[BL_WIRE_MAX];
	struct bl_snapshot *snap = NULL;
	struct bl_store *st;
	struct bl_verdict v;
	const struct bl_feed_info *feed;
	const char *verdict;
	int wl, rc;

	if (argc != 1) {
		fprintf(stderr, "usage: parasol check NAME\n");
		return CLI_USAGE;
	}
	if (normalise_arg(argv[0], name) != 0)
		return CLI_USAGE;
	if (cli_open_lists(o, BL_STORE_RO, &st) != 0)
		return CLI_DB;
	rc = bl_store_load_for(st, name, &snap, err, sizeof(err));
	bl_store_close(st);
	if (rc != 0) {
		fprintf(stderr, "parasol: %s: %s\n", o->lists_db, err);
		return CLI_DB;
	}
	wl = bl_name_to_wire(name, wire);
	bl_match_lookup(snap, wire, (size_t)wl, &v);
	feed = bl_snapshot_feed(snap, v.feed);
	rule[0] = '\0';
	if (v.action != BL_PASS)
		bl_name_from_wire(v.rule, v.rule_len, rule, sizeof(rule));
	verdict = v.action == BL_BLOCK ? "blocked"
	    : v.action == BL_ALLOWED   ? "allowed"
				       : "not blocked";
	if (o->json) {
		json_t *j = json_pack("{s:s, s:s}", "name", name, "verdict",
		    v.action == BL_BLOCK ? "blocked"
		    : v.action == BL_ALLOWED ? "allowed"
					     : "pass");

		if (v.action != BL_PASS) {
			json_object_set_new(j, "rule", json_string(rule));
			json_object_set_new(j, "match",
			    json_string(bl_mode_name(v.mode)));
			json_object_set_new(j, "feed", json_string(feed->id));
			json_object_set_new(j, "category",
			    json_string(feed->category));
		}
		json_object_set_new(j, "generation",
		    json_integer((json_int_t)bl_snapshot_generation(snap)));
		print_json(j);
	} else if (v.action == BL_PASS) {
		printf("%s: not blocked (no rule matches)\n", name);
	} else {
		printf("%s: %s by %s rule %s (%s), feed %s, category %s\n", name,
		    verdict, v.action == BL_BLOCK ? "deny" : "allow", rule,
		    bl_mode_name(v.mode), feed->id, feed->category);
	}
	bl_snapshot_free(snap);
	return v.action == BL_BLOCK ? CLI_BLOCKED : CLI_OK;
}

/* After a change: the daemon polls too, so an unreachable one is a note. */
void
cli_ask_reload(const struct cli_opts *o)
{
	char reply[CONTROL_LINE_MAX];
	int rc = control_request(o->control, "reload", RELOAD_TIMEOUT_MS,
	    reply, sizeof(reply));

	if (rc == 0)
		fprintf(stderr, "parasold reloaded: %s\n", reply + 2 +
		    (reply[2] == ' '));
	else if (rc == 1)
		fprintf(stderr, "parasol: parasold could not reload: %s\n",
		    reply);
	else
		fprintf(stderr, "note: %s; a running parasold picks the change "
				"up by itself within its lists-poll interval\n",
		    reply);
}

struct ls_ctx {
	const struct cli_opts *o;
	json_t *arr;
	size_t n;
};

static int
ls_cb(const struct bl_local_rule *r, void *arg)
{
	struct ls_ctx *c = arg;

	c->n++;
	if (c->arr != NULL) {
		json_array_append_new(c->arr,
		    json_pack("{s:s, s:s, s:s, s:I}", "name", r->name, "match",
			bl_mode_name(r->mode), "comment", r->comment, "added",
			(json_int_t)r->added));
	} else {
		char when[32];
		time_t t = (time_t)r->added;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
		printf("%-40s %-8s %s  %s\n", r->name, bl_mode_name(r->mode),
		    when, r->comment);
	}
	return 0;
}

int
cli_rules(const struct cli_opts *o, int allow, int argc, char **argv)
{
	enum bl_kind kind = allow ? BL_ALLOW : BL_DENY;
	const char *verb = allow ? "allow" : "deny";
	char name[BL_NAME_MAX + 1], err[512];
	struct bl_store *st;
	int rc;

	if (argc < 1)
		goto usage;
	if (strcmp(argv[0], "ls") == 0) {
		struct ls_ctx c = {o, NULL, 0};

		if (argc != 1)
			goto usage;
		if (cli_open_lists(o, BL_STORE_RO, &st) != 0)
			return CLI_DB;
		if (o->json)
			c.arr = json_array();
		rc = bl_store_local_list(st, kind, ls_cb, &c, err, sizeof(err));
		bl_store_close(st);
		if (rc != 0) {
			json_decref(c.arr);
			fprintf(stderr, "parasol: %s\n", err);
			return CLI_DB;
		}
		if (c.arr != NULL)
			print_json(c.arr);
		else if (c.n == 0)
			fprintf(stderr, "no local %s rules\n", verb);
		return CLI_OK;
	}
	if (argc != 2)
		goto usage;
	if (normalise_arg(argv[1], name) != 0)
		return CLI_USAGE;
	if (strcmp(argv[0], "add") == 0) {
		if (cli_open_lists(o, BL_STORE_CREATE, &st) != 0)
			return CLI_DB;
		rc = bl_store_local_add(st, name, kind,
		    o->exact ? BL_EXACT : BL_SUBTREE, o->comment, err,
		    sizeof(err));
		bl_store_close(st);
		if (rc != 0) {
			fprintf(stderr, "parasol: %s\n", err);
			return CLI_DB;
		}
		printf("%s %s%s\n", verb, name,
		    o->exact ? " (this name only)" : " (and everything under it)");
	} else if (strcmp(argv[0], "rm") == 0) {
		if (cli_open_lists(o, BL_STORE_CREATE, &st) != 0)
			return CLI_DB;
		rc = bl_store_local_rm(st, name, kind, err, sizeof(err));
		bl_store_close(st);
		if (rc == BL_ENOENT) {
			fprintf(stderr, "parasol: %s\n", err);
			return CLI_USAGE;
		}
		if (rc != 0) {
			fprintf(stderr, "parasol: %s\n", err);
			return CLI_DB;
		}
		printf("removed %s rule for %s\n", verb, name);
	} else {
		goto usage;
	}
	cli_ask_reload(o);
	return CLI_OK;
usage:
	fprintf(stderr,
	    "usage: parasol %s add NAME [--exact] [--comment=TEXT]\n"
	    "       parasol %s rm NAME\n"
	    "       parasol %s ls [--json]\n",
	    verb, verb, verb);
	return CLI_USAGE;
}

int
cli_reload(const struct cli_opts *o, int argc, char **argv)
{
	char reply[CONTROL_LINE_MAX];
	int rc;

	if (argc != 0) {
		fprintf(stderr, "usage: parasol reload\n");
		return CLI_USAGE;
	}
	rc = control_request(o->control, "reload", RELOAD_TIMEOUT_MS, reply,
	    sizeof(reply));
	if (rc < 0) {
		fprintf(stderr, "parasol: %s\n", reply);
		return CLI_DAEMON;
	}
	if (o->json) {
		print_json(json_pack("{s:b, s:s}", "ok", rc == 0, "reply", reply));
	} else {
		printf("%s\n", reply);
	}
	return rc == 0 ? CLI_OK : CLI_DAEMON;
}
