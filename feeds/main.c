/*
 * parasol-update: the feed-update cron tool. See feeds/README.md and
 * "Keeping the lists current" in the README.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "blocklist/control.h"
#include "blocklist/name.h"
#include "feeds/update.h"
#include "parasol_config.h"

#define MAX_LIST 64

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: parasol-update [options]\n"
	    "Fetch every enabled feed, check it, and publish it into lists.db.\n"
	    "\n"
	    "  -c FILE               parasold's config file (default "
	    "$PARASOL_CONFIG):\n"
	    "                        lists-db, control and upstream are read "
	    "from it\n"
	    "  --lists-db=PATH       (default %s)\n"
	    "  --control=PATH        parasold's control socket (default %s)\n"
	    "  --no-reload           do not ask parasold to reload\n"
	    "  --feed=ID             update only this feed (repeatable; "
	    "disabled feeds too)\n"
	    "  --force               ignore ETag/Last-Modified and the "
	    "content digest\n"
	    "  --dns=ADDR[:PORT]     resolve feed hosts through this server "
	    "(repeatable;\n"
	    "                        default: the config's upstreams, else the "
	    "system resolver)\n"
	    "  --resolve=HOST:PORT:ADDR  pin a feed host to an address\n"
	    "  --ca-file=PATH        trust these CA certificates instead of the "
	    "system's\n"
	    "  --max-size=BYTES      cap on a feed body (default 64M; k/M/G "
	    "suffixes)\n"
	    "  --timeout=SECONDS     per transfer (default 120)\n"
	    "  --connect-timeout=SECONDS  (default 15)\n"
	    "  --max-shrink=FRACTION refuse a feed that lost more than this "
	    "(default 0.5)\n"
	    "  --max-invalid=FRACTION refuse a feed with more invalid lines "
	    "(default 0.2)\n"
	    "  --protect=NAME        a name no feed may block (repeatable)\n"
	    "  --lock-wait=SECONDS   wait for another running update (default "
	    "60)\n"
	    "  --json                machine-readable output on stdout\n"
	    "  -q, --quiet           print only failures and the summary\n"
	    "  --version, --help\n"
	    "\n"
	    "Exit status: 0 all feeds current, 1 some feeds failed, 64 usage,\n"
	    "69 no feed could be fetched, 74 lists.db error, 75 another update\n"
	    "is running, 78 configuration (no feeds, unknown feed).\n",
	    LISTS_DEFAULT_PATH, CONTROL_DEFAULT_PATH);
}

struct cfg {
	char lists_db[4096];
	char control[4096];
	const char *upstream[MAX_LIST + 1];
	size_t n_upstream;
	/* Held here, not on the heap, so no exit path has to free them. */
	char upstream_buf[MAX_LIST][256];
};

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
			    e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/*
 * Read the keys parasol-update shares with parasold from its config file;
 * parasold itself checks the rest.
 */
static int
read_config(const char *path, struct cfg *c)
{
	char line[4096];
	unsigned lineno = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		fprintf(stderr, "parasol-update: %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = line, *eq, *k, *v;

		lineno++;
		if ((eq = strchr(s, '#')) != NULL)
			*eq = '\0';
		s = trim(s);
		if (*s == '\0')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			fprintf(stderr, "%s:%u: expected key = value\n", path,
			    lineno);
			fclose(f);
			return -1;
		}
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (strcmp(k, "lists-db") == 0)
			snprintf(c->lists_db, sizeof(c->lists_db), "%s", v);
		else if (strcmp(k, "control") == 0)
			snprintf(c->control, sizeof(c->control), "%s", v);
		else if (strcmp(k, "upstream") == 0 &&
		    c->n_upstream < MAX_LIST) {
			char *buf = c->upstream_buf[c->n_upstream];

			if (strlen(v) >= sizeof(c->upstream_buf[0])) {
				fprintf(stderr, "%s:%u: upstream too long\n",
				    path, lineno);
				fclose(f);
				return -1;
			}
			snprintf(buf, sizeof(c->upstream_buf[0]), "%s", v);
			c->upstream[c->n_upstream++] = buf;
		}
	}
	fclose(f);
	return 0;
}

static int
parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	if (s[0] == '-')
		return -1;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	/* Check before shifting, which could wrap. */
	if (*end != '\0' || v == 0 || v > (1ULL << 32) >> shift)
		return -1;
	v <<= shift;
	if (v > (1ULL << 32))
		return -1;
	*out = (size_t)v;
	return 0;
}

static int
parse_num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int tty;
static int quiet;

static void
human_bytes(size_t n, char *out, size_t cap)
{
	if (n >= 10u << 20)
		snprintf(out, cap, "%zu MiB", n >> 20);
	else if (n >= 10u << 10)
		snprintf(out, cap, "%zu KiB", n >> 10);
	else
		snprintf(out, cap, "%zu B", n);
}

static void
progress(const struct feed_run *run, const struct feed_fetch *f, size_t n,
    void *arg)
{
	size_t done = 0, bytes = 0;
	char b[32];

	(void)run;
	(void)arg;
	if (!tty)
		return;
	for (size_t i = 0; i < n; i++) {
		done += f[i].status != FEED_FETCH_PENDING;
		bytes += f[i].received;
	}
	human_bytes(bytes, b, sizeof(b));
	fprintf(stderr, "\r\033[Kfetching: %zu/%zu done, %s", done, n, b);
	if (done == n)
		fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

static void
print_text(const struct feed_run *run)
{
	size_t upd = 0, same = 0, bad = 0;

	for (size_t i = 0; i < run->n; i++) {
		const struct feed_result *r = &run->results[i];
		char b[32];

		human_bytes(r->bytes, b, sizeof(b));
		switch (r->outcome) {
		case FEED_UPDATED:
			upd++;
			if (!quiet)
				printf("%s: updated, %lld entries (was %lld), "
				       "%s %s in %.1f s, %zu invalid, %zu "
				       "skipped\n",
				    r->id, (long long)r->entries,
				    (long long)r->previous, b, r->format,
				    r->seconds, r->invalid, r->skipped);
			break;
		case FEED_NOT_MODIFIED:
		case FEED_UNCHANGED:
			same++;
			if (!quiet)
				printf("%s: %s, %lld entries\n", r->id,
				    r->outcome == FEED_NOT_MODIFIED
					? "not modified (HTTP 304)"
					: "unchanged (same content)",
				    (long long)r->entries);
			break;
		case FEED_FAILED:
		default:
			bad++;
			printf("%s: FAILED: %s; keeping %lld entries\n", r->id,
			    r->error, (long long)r->entries);
			break;
		}
		if (r->outcome == FEED_UPDATED && r->suffixes > 0 && !quiet)
			printf("  left out %zu public suffixes, e.g. %s\n",
			    r->suffixes, r->suffix);
		if ((r->outcome == FEED_FAILED || r->outcome == FEED_UPDATED) &&
		    r->invalid > 0 && !quiet) {
			for (size_t k = 0; k < r->n_examples; k++)
				printf("  %s\n", r->examples[k]);
		}
	}
	printf("%zu feeds: %zu updated, %zu unchanged, %zu failed; "
	       "generation %llu%s in %.1f s",
	    run->n, upd, same, bad, (unsigned long long)run->generation,
	    run->published ? " (new)" : "", run->seconds);
	if (run->reload == 1)
		printf("; parasold reloaded");
	else if (run->reload == -1)
		printf("; parasold not reloaded (%s), it will notice the new "
		       "generation by itself",
		    run->reload_msg);
	printf("\n");
}

static void
print_json(const struct feed_run *run)
{
	json_t *o = json_object(), *feeds = json_array();
	char *s;

	for (size_t i = 0; i < run->n; i++) {
		const struct feed_result *r = &run->results[i];
		json_t *f = json_object(), *ex = json_array();

		for (size_t k = 0; k < r->n_examples; k++)
			json_array_append_new(ex, json_string(r->examples[k]));
		json_object_set_new(f, "id", json_string(r->id));
		json_object_set_new(f, "category", json_string(r->category));
		json_object_set_new(f, "status",
		    json_string(feed_outcome_name(r->outcome)));
		json_object_set_new(f, "error",
		    r->outcome == FEED_FAILED ? json_string(r->error)
					      : json_null());
		json_object_set_new(f, "entries", json_integer(r->entries));
		json_object_set_new(f, "previous", json_integer(r->previous));
		json_object_set_new(f, "http_status",
		    json_integer(r->http_status));
		json_object_set_new(f, "bytes", json_integer((json_int_t)r->bytes));
		json_object_set_new(f, "seconds",
		    json_real((double)(long)(r->seconds * 1000) / 1000));
		json_object_set_new(f, "format",
		    r->format != NULL ? json_string(r->format) : json_null());
		json_object_set_new(f, "rules", json_integer((json_int_t)r->rules));
		json_object_set_new(f, "allows",
		    json_integer((json_int_t)r->allows));
		json_object_set_new(f, "invalid",
		    json_integer((json_int_t)r->invalid));
		json_object_set_new(f, "skipped",
		    json_integer((json_int_t)r->skipped));
		json_object_set_new(f, "public_suffixes_left_out",
		    json_integer((json_int_t)r->suffixes));
		json_object_set_new(f, "serial",
		    r->serial >= 0 ? json_integer(r->serial) : json_null());
		json_object_set_new(f, "invalid_examples", ex);
		json_array_append_new(feeds, f);
	}
	json_object_set_new(o, "feeds", feeds);
	json_object_set_new(o, "generation",
	    json_integer((json_int_t)run->generation));
	json_object_set_new(o, "published", json_boolean(run->published));
	json_object_set_new(o, "reloaded",
	    run->reload == 0 ? json_null() : json_boolean(run->reload == 1));
	json_object_set_new(o, "seconds",
	    json_real((double)(long)(run->seconds * 1000) / 1000));
	json_object_set_new(o, "exit", json_integer(run->exit_code));
	json_object_set_new(o, "error",
	    run->error[0] != '\0' && run->n == 0 ? json_string(run->error)
						 : json_null());
	s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

enum {
	OPT_LISTS_DB = 256,
	OPT_CONTROL,
	OPT_NO_RELOAD,
	OPT_FEED,
	OPT_FORCE,
	OPT_DNS,
	OPT_RESOLVE,
	OPT_CA_FILE,
	OPT_MAX_SIZE,
	OPT_TIMEOUT,
	OPT_CONNECT_TIMEOUT,
	OPT_MAX_SHRINK,
	OPT_MAX_INVALID,
	OPT_PROTECT,
	OPT_LOCK_WAIT,
	OPT_JSON,
	OPT_VERSION,
};

static const struct option long_opts[] = {
    {"lists-db", required_argument, NULL, OPT_LISTS_DB},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"no-reload", no_argument, NULL, OPT_NO_RELOAD},
    {"feed", required_argument, NULL, OPT_FEED},
    {"force", no_argument, NULL, OPT_FORCE},
    {"dns", required_argument, NULL, OPT_DNS},
    {"resolve", required_argument, NULL, OPT_RESOLVE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"max-shrink", required_argument, NULL, OPT_MAX_SHRINK},
    {"max-invalid", required_argument, NULL, OPT_MAX_INVALID},
    {"protect", required_argument, NULL, OPT_PROTECT},
    {"lock-wait", required_argument, NULL, OPT_LOCK_WAIT},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int
bad_value(const char *opt, const char *v)
{
	fprintf(stderr, "parasol-update: bad value for --%s: '%s'\n", opt, v);
	return FEED_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	struct cfg c;
	struct feed_update_opts o;
	struct feed_run run;
	const char *only[MAX_LIST + 1] = {NULL};
	const char *dns[MAX_LIST + 1] = {NULL};
	const char *resolve[MAX_LIST + 1] = {NULL};
	const char *protect[MAX_LIST + 1] = {NULL};
	static char protect_buf[MAX_LIST][BL_NAME_MAX + 1];
	const char *config = getenv("PARASOL_CONFIG");
	const char *lists_db = getenv("PARASOL_LISTS_DB");
	const char *control = getenv("PARASOL_CONTROL");
	size_t n_only = 0, n_dns = 0, n_resolve = 0, n_protect = 0;
	int json = 0, reload = 1, opt;
	double v;
	enum feed_exit rc;

	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	o.fetch.connect_timeout_ms = 15000;
	o.fetch.timeout_ms = 120000;
	o.fetch.low_speed_bytes = 100;
	o.fetch.low_speed_secs = 30;
	o.fetch.max_bytes = 64u << 20;
	o.fetch.max_redirs = 5;
	o.max_shrink = 0.5;
	o.max_invalid = 0.2;
	o.lock_wait_ms = 60000;

	while ((opt = getopt_long(argc, argv, "c:qh", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case OPT_LISTS_DB:
			lists_db = optarg;
			break;
		case OPT_CONTROL:
			control = optarg;
			break;
		case OPT_NO_RELOAD:
			reload = 0;
			break;
		case OPT_FEED:
			if (n_only == MAX_LIST)
				return bad_value("feed", optarg);
			only[n_only++] = optarg;
			break;
		case OPT_FORCE:
			o.force = 1;
			break;
		case OPT_DNS:
			if (n_dns == MAX_LIST)
				return bad_value("dns", optarg);
			dns[n_dns++] = optarg;
			break;
		case OPT_RESOLVE:
			if (n_resolve == MAX_LIST)
				return bad_value("resolve", optarg);
			resolve[n_resolve++] = optarg;
			break;
		case OPT_CA_FILE:
			o.fetch.ca_file = optarg;
			break;
		case OPT_MAX_SIZE:
			if (parse_size(optarg, &o.fetch.max_bytes) != 0)
				return bad_value("max-size", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_num(optarg, 0.1, 86400, &v) != 0)
				return bad_value("timeout", optarg);
			o.fetch.timeout_ms = (long)(v * 1000);
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_num(optarg, 0.1, 3600, &v) != 0)
				return bad_value("connect-timeout", optarg);
			o.fetch.connect_timeout_ms = (long)(v * 1000);
			break;
		case OPT_MAX_SHRINK:
			if (parse_num(optarg, 0, 1, &o.max_shrink) != 0)
				return bad_value("max-shrink", optarg);
			break;
		case OPT_MAX_INVALID:
			if (parse_num(optarg, 0, 1, &o.max_invalid) != 0)
				return bad_value("max-invalid", optarg);
			break;
		case OPT_PROTECT: {
			char norm[BL_NAME_MAX + 1], why[128];

			if (n_protect == MAX_LIST ||
			    bl_name_normalise(optarg, norm, why, sizeof(why)) !=
				0)
				return bad_value("protect", optarg);
			memcpy(protect_buf[n_protect], norm, sizeof(norm));
			protect[n_protect] = protect_buf[n_protect];
			n_protect++;
			break;
		}
		case OPT_LOCK_WAIT:
			if (parse_num(optarg, 0, 86400, &v) != 0)
				return bad_value("lock-wait", optarg);
			o.lock_wait_ms = (int)(v * 1000);
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("parasol-update %s\n", PARASOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return FEED_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "parasol-update: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return FEED_EXIT_USAGE;
	}
	if (config != NULL && config[0] != '\0' && read_config(config, &c) != 0)
		return FEED_EXIT_CONFIG;
	/* Command line and environment win over the config file. */
	o.lists_db = lists_db != NULL ? lists_db
		   : c.lists_db[0] != '\0' ? c.lists_db
					   : LISTS_DEFAULT_PATH;
	o.control = control != NULL ? control
		  : c.control[0] != '\0' ? c.control
					 : CONTROL_DEFAULT_PATH;
	if (!reload)
		o.control = NULL;
	o.only = n_only > 0 ? only : NULL;
	o.protect = protect;
	if (n_dns == 0) {
		for (size_t i = 0; i < c.n_upstream; i++)
			dns[n_dns++] = c.upstream[i];
	}
	if (feed_fetch_global_init() != 0) {
		fprintf(stderr, "parasol-update: cannot initialise libcurl\n");
		return FEED_EXIT_NOTHING;
	}
	o.fetch.resolve = resolve;
	o.dns = n_dns > 0 ? dns : NULL;
	tty = !json && isatty(STDERR_FILENO);

	rc = feed_update_run(&o, &run, progress, NULL);
	if (json)
		print_json(&run);
	else if (run.n > 0)
		print_text(&run);
	if (run.error[0] != '\0' && (run.n == 0 || rc == FEED_EXIT_DB))
		fprintf(stderr, "parasol-update: %s\n", run.error);
	feed_run_clear(&run);
	feed_fetch_global_cleanup();
	return rc;
}
