/*
 * parasol stats | top clients|domains | log | status
 *
 * The read side of stats.db (see blocklist/statsdb.h) and of parasold's
 * "status" answer. The database is opened read-only with a bounded wait,
 * so these verbs work while parasold writes and as a user who may only
 * read it. Rows read back are hostile like any input: values are parsed
 * defensively, and text is made printable before it reaches a terminal.
 *
 * A blocked-lookup row folds repeats within a window, so "in the period"
 * means "last seen in the period": a row that began before --since is
 * counted whole. The minute counters are exact to the minute.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <ldns/ldns.h>

#include "blocklist/control.h"
#include "blocklist/name.h"
#include "blocklist/statsdb.h"
#include "tools/cli.h"

#define STATS_BUSY_MS 5000
#define STATUS_TIMEOUT_MS 5000
#define FOLLOW_POLL_MS 500
#define FOLLOW_BATCH 10000
/* Rows last seen this recently may still be folded into. */
#define FOLLOW_RECENT_S 10
#define DEFAULT_SINCE_S (24 * 3600)
#define TOP_LIMIT 20
#define LOG_LIMIT 50
#define LIMIT_MAX 1000000
#define DURATION_MAX ((int64_t)100 * 366 * 86400)

#define TABLE_WIDTH 79
#define TABLE_GAP 2
#define TABLE_COLS 8
#define BAR_MAX 16

/* --- pure helpers ---------------------------------------------------- */

int
cli_parse_duration(const char *s, int64_t *seconds)
{
	const char *p = s;
	int64_t total = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n = 0, unit;

		if (*p < '0' || *p > '9')
			return -1;
		for (; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > DURATION_MAX)
				return -1;
		}
		switch (*p) {
		case '\0':
			/* A bare number is seconds, and only on its own. */
			if (total != 0 || n == 0)
				return -1;
			*seconds = n;
			return 0;
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		case 'w':
			unit = 7 * 86400;
			break;
		default:
			return -1;
		}
		p++;
		total += n * unit;
		if (total > DURATION_MAX)
			return -1;
	}
	if (total <= 0)
		return -1;
	*seconds = total;
	return 0;
}

int
cli_normalise_addr(const char *s, char *out, size_t cap)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1)
		return inet_ntop(AF_INET, &a4, out, (socklen_t)cap) ? 0 : -1;
	if (inet_pton(AF_INET6, s, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return inet_ntop(AF_INET, &a6.s6_addr[12], out, (socklen_t)cap)
		    ? 0
		    : -1;
	return inet_ntop(AF_INET6, &a6, out, (socklen_t)cap) ? 0 : -1;
}

const char *
cli_qtype_name(uint16_t qtype, char *buf, size_t cap)
{
	char *s;

	/* The recorder counts types above 255 together under 65535. */
	if (qtype == 65535) {
		snprintf(buf, cap, "other");
		return buf;
	}
	s = ldns_rr_type2str((ldns_rr_type)qtype);
	if (s != NULL)
		snprintf(buf, cap, "%s", s);
	else
		snprintf(buf, cap, "TYPE%u", (unsigned)qtype);
	free(s);
	return buf;
}

size_t
cli_fit(const char *s, size_t width, int flags, char *out, size_t cap)
{
	const char *ell = flags & CLI_FIT_UTF8 ? "\xe2\x80\xa6" : "...";
	size_t ell_cols = flags & CLI_FIT_UTF8 ? 1 : 3;
	size_t len = strlen(s), from = 0, keep = len, n = 0;
	int cut = 0;

	if (cap == 0)
		return 0;
	if (len > width) {
		cut = 1;
		if (width <= ell_cols) {
			/* No room for the ellipsis: a hard cut. */
			cut = 0;
			keep = width;
			if (flags & CLI_FIT_END)
				from = len - width;
		} else {
			keep = width - ell_cols;
			if (flags & CLI_FIT_END)
				from = len - keep;
		}
	}
	if (cut && (flags & CLI_FIT_END) && n + strlen(ell) < cap) {
		memcpy(out + n, ell, strlen(ell));
		n += strlen(ell);
	}
	for (size_t i = from; i < from + keep && n + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (cut && !(flags & CLI_FIT_END) && n + strlen(ell) < cap) {
		memcpy(out + n, ell, strlen(ell));
		n += strlen(ell);
	}
	out[n] = '\0';
	return keep + (cut ? ell_cols : 0);
}

/* --- output ---------------------------------------------------------- */

static int fit_utf8 = -1;

static int
fit_flags(void)
{
	if (fit_utf8 < 0) {
		/* Only the character type: numbers stay in the C locale. */
		setlocale(LC_CTYPE, "");
		fit_utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	}
	return fit_utf8 ? CLI_FIT_UTF8 : 0;
}

static void
emit_json(json_t *j)
{
	char *s =
	    j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(j);
}

/* A JSON string of a value from the database, which may not be UTF-8. */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char buf[512];

	if (s == NULL)
		s = "";
	j = json_string(s);
	if (j != NULL)
		return j;
	cli_fit(s, sizeof(buf) - 1, 0, buf, sizeof(buf));
	return json_string(buf);
}

/* Local time, as the admin reads the clock; JSON carries unix seconds. */
enum tfmt {
	T_DAY, /* 2024-05-14 */
	T_MINUTE, /* 2024-05-14 10:02 */
	T_SHORT, /* 05-14 10:02 */
	T_SECOND, /* 05-14 10:02:03 */
};

static void
fmt_time(int64_t t, enum tfmt f, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n = 0;

	if (t > 0 && localtime_r(&tt, &tm) != NULL) {
		switch (f) {
		case T_DAY:
			n = strftime(buf, cap, "%Y-%m-%d", &tm);
			break;
		case T_MINUTE:
			n = strftime(buf, cap, "%Y-%m-%d %H:%M", &tm);
			break;
		case T_SHORT:
			n = strftime(buf, cap, "%m-%d %H:%M", &tm);
			break;
		case T_SECOND:
			n = strftime(buf, cap, "%m-%d %H:%M:%S", &tm);
			break;
		}
	}
	if (n == 0)
		snprintf(buf, cap, "-");
}

static int64_t
num(const char *s)
{
	return s != NULL ? strtoll(s, NULL, 10) : 0;
}

/*
 * A table sized to its content: each column as wide as its widest cell,
 * and while the whole is wider than TABLE_WIDTH the widest column that
 * may shrink (min > 0) loses a column to an ellipsis.
 */
struct col {
	const char *head;
	int right; /* numbers */
	int keep_end; /* names: the end says more */
	size_t min; /* 0: never shrunk */
	int bar; /* a number drawn as a bar in the room that is left */
};

struct table {
	const struct col *cols;
	size_t ncol, nrow, cap;
	char **cells;
	int lost;
};

static void
table_add(struct table *t, const char *const *vals)
{
	char **row;

	if (t->nrow == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char **c = realloc(t->cells, cap * t->ncol * sizeof(*c));

		if (c == NULL) {
			t->lost = 1;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	row = t->cells + t->nrow * t->ncol;
	for (size_t i = 0; i < t->ncol; i++) {
		row[i] = strdup(vals[i] != NULL ? vals[i] : "");
		if (row[i] == NULL) {
			while (i-- > 0)
				free(row[i]);
			t->lost = 1;
			return;
		}
	}
	t->nrow++;
}

static void
table_print(struct table *t, const char *indent)
{
	size_t w[TABLE_COLS], total = strlen(indent);
	int64_t peak[TABLE_COLS] = {0};
	char cell[1024], bar[BAR_MAX + 1];
	int flags = fit_flags();

	for (size_t c = 0; c < t->ncol; c++) {
		w[c] = strlen(t->cols[c].head);
		for (size_t r = 0; r < t->nrow && !t->cols[c].bar; r++) {
			size_t n = strlen(t->cells[r * t->ncol + c]);

			if (n > w[c])
				w[c] = n;
		}
		if (w[c] > sizeof(cell) / 4)
			w[c] = sizeof(cell) / 4;
		total += w[c] + (c > 0 ? TABLE_GAP : 0);
	}
	while (total > TABLE_WIDTH) {
		size_t best = t->ncol;

		for (size_t c = 0; c < t->ncol; c++) {
			if (t->cols[c].min > 0 && w[c] > t->cols[c].min &&
			    (best == t->ncol || w[c] > w[best]))
				best = c;
		}
		if (best == t->ncol)
			break;
		w[best]--;
		total--;
	}
	for (size_t c = 0; c < t->ncol; c++) {
		if (!t->cols[c].bar)
			continue;
		w[c] = total < TABLE_WIDTH ? TABLE_WIDTH - total : 0;
		if (w[c] > BAR_MAX)
			w[c] = BAR_MAX;
		total += w[c];
		for (size_t r = 0; r < t->nrow; r++) {
			if (num(t->cells[r * t->ncol + c]) > peak[c])
				peak[c] = num(t->cells[r * t->ncol + c]);
		}
	}
	for (size_t r = 0; r <= t->nrow; r++) {
		char line[TABLE_WIDTH * 4 + 64];
		size_t n = (size_t)snprintf(line, sizeof(line), "%s", indent);

		for (size_t c = 0; c < t->ncol && n < sizeof(line); c++) {
			const char *v = r == 0
			    ? t->cols[c].head
			    : t->cells[(r - 1) * t->ncol + c];
			size_t used;
			int pad;

			if (r > 0 && t->cols[c].bar) {
				/* Rounded up: any traffic shows. */
				int64_t x = num(v);
				size_t len = peak[c] > 0 && x > 0
				    ? (size_t)((x * (int64_t)w[c] + peak[c] -
						   1) /
					  peak[c])
				    : 0;

				memset(bar, '#', len);
				bar[len] = '\0';
				v = bar;
			}
			used = cli_fit(v, w[c],
			    flags | (t->cols[c].keep_end ? CLI_FIT_END : 0),
			    cell, sizeof(cell));
			pad = w[c] > used ? (int)(w[c] - used) : 0;

			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "%*s%*s%s%*s", c > 0 ? TABLE_GAP : 0, "",
			    t->cols[c].right ? pad : 0, "", cell,
			    t->cols[c].right ? 0 : pad, "");
		}
		/* The last column is padded too: trim it. */
		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		while (n > 0 && line[n - 1] == ' ')
			n--;
		printf("%.*s\n", (int)n, line);
	}
	if (t->lost)
		printf("%s(some rows left out: out of memory)\n", indent);
}

static void
table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* --- the database ---------------------------------------------------- */

/* Exit status 3, after saying why. */
static int
db_error(const struct cli_opts *o, int rc, const char *err)
{
	if (rc == BL_EBUSY)
		fprintf(stderr,
		    "parasol: %s stayed locked for %d s; try again\n",
		    o->stats_db, STATS_BUSY_MS / 1000);
	else if (strncmp(err, o->stats_db, strlen(o->stats_db)) == 0)
		fprintf(stderr, "parasol: %s\n", err);
	else
		fprintf(stderr, "parasol: %s: %s\n", o->stats_db, err);
	return CLI_DB;
}

static int
open_stats(const struct cli_opts *o, struct bl_stats **st)
{
	char err[512], dir[4096], *slash;
	int rc;

	if (access(o->stats_db, F_OK) != 0) {
		fprintf(stderr,
		    "parasol: %s: %s (set --stats-db or PARASOL_STATS_DB; "
		    "parasold creates it once it records)\n",
		    o->stats_db, strerror(errno));
		return -1;
	}
	if (access(o->stats_db, R_OK) != 0) {
		fprintf(stderr, "parasol: %s: cannot read: %s\n", o->stats_db,
		    strerror(errno));
		return -1;
	}
	rc = bl_stats_open_reader(
	    o->stats_db, STATS_BUSY_MS, st, err, sizeof(err));
	if (rc == 0)
		return 0;
	db_error(o, rc, err);
	snprintf(dir, sizeof(dir), "%s", o->stats_db);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (rc == BL_ERR && access(dir, W_OK) != 0)
		fprintf(stderr,
		    "parasol: reading a WAL database needs its -wal and -shm "
		    "files: run as a user who may write %s, or while parasold "
		    "runs and the -shm file is readable\n",
		    dir);
	return -1;
}

/* An SQL statement built from literal pieces, with its parameters. */
struct query {
	char sql[2048];
	size_t len;
	const char *params[12];
	char store[12][BL_NAME_MAX + 8];
	int n;
};

__attribute__((format(printf, 2, 3))) static void
q_add(struct query *q, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(q->sql + q->len, sizeof(q->sql) - q->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		q->len += (size_t)n;
	if (q->len >= sizeof(q->sql))
		q->len = sizeof(q->sql) - 1;
}

/* Adds a parameter; returns its number for "?N". */
static int
q_int(struct query *q, int64_t v)
{
	assert(q->n + 1 < (int)(sizeof(q->params) / sizeof(q->params[0])));
	snprintf(
	    q->store[q->n], sizeof(q->store[q->n]), "i:%lld", (long long)v);
	q->params[q->n] = q->store[q->n];
	q->params[++q->n] = NULL;
	return q->n;
}

static int
q_text(struct query *q, const char *v)
{
	assert(q->n + 1 < (int)(sizeof(q->params) / sizeof(q->params[0])));
	snprintf(q->store[q->n], sizeof(q->store[q->n]), "s:%s", v);
	q->params[q->n] = q->store[q->n];
	q->params[++q->n] = NULL;
	return q->n;
}

/* The filters of stats, top and log, parsed and checked. */
struct filter {
	int64_t now, since, period;
	size_t limit;
	char client[INET6_ADDRSTRLEN];
	char name[BL_NAME_MAX + 1];
	const char *category;
};

static int
parse_filter(const struct cli_opts *o, size_t def_limit, struct filter *f)
{
	char why[256];

	memset(f, 0, sizeof(*f));
	f->now = (int64_t)time(NULL);
	f->period = DEFAULT_SINCE_S;
	if (o->since != NULL && cli_parse_duration(o->since, &f->period) != 0) {
		fprintf(stderr,
		    "parasol: --since=%s: use a duration like 90s, 15m, "
		    "24h or 7d\n",
		    o->since);
		return -1;
	}
	f->since = f->now - f->period;
	f->limit = def_limit;
	if (o->limit != NULL) {
		char *end;
		long long n = strtoll(o->limit, &end, 10);

		if (*o->limit == '\0' || *end != '\0' || n < 1 ||
		    n > LIMIT_MAX) {
			fprintf(stderr,
			    "parasol: --limit=%s: use a number from 1 to %d\n",
			    o->limit, LIMIT_MAX);
			return -1;
		}
		f->limit = (size_t)n;
	}
	if (o->client != NULL &&
	    cli_normalise_addr(o->client, f->client, sizeof(f->client)) != 0) {
		fprintf(stderr, "parasol: --client=%s: not an IP address\n",
		    o->client);
		return -1;
	}
	if (o->name != NULL &&
	    bl_name_normalise(o->name, f->name, why, sizeof(why)) != 0) {
		fprintf(stderr, "parasol: --name=%s: %s\n", o->name, why);
		return -1;
	}
	if (o->category != NULL) {
		if (*o->category == '\0' || strlen(o->category) > 63) {
			fprintf(stderr,
			    "parasol: --category: 1 to 63 "
			    "characters\n");
			return -1;
		}
		f->category = o->category;
	}
	return 0;
}

/* " AND ..." for the filters that apply to the blocked table. */
static void
q_filters(struct query *q, const struct filter *f)
{
	if (f->category != NULL)
		q_add(q, " AND category = ?%d", q_text(q, f->category));
	if (f->client[0] != '\0')
		q_add(q, " AND client = ?%d", q_text(q, f->client));
	if (f->name[0] != '\0') {
		/* The name and everything under it, without LIKE's
		 * wildcards ('_' is common in names). */
		int i = q_text(q, f->name);

		q_add(q,
		    " AND (name = ?%d OR (length(name) > length(?%d) AND"
		    " substr(name, -length(?%d) - 1) = '.' || ?%d))",
		    i, i, i, i);
	}
}

static void
period_text(int64_t s, char *buf, size_t cap)
{
	if (s % 86400 == 0 && s >= 2 * 86400)
		snprintf(buf, cap, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, cap, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, cap, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, cap, "%llds", (long long)s);
}

/* --- stats ----------------------------------------------------------- */

struct counts {
	int64_t total, blocked, cached, forwarded, refused, errors;
};

static void
counts_from(struct counts *c, const char *const *v)
{
	c->total = num(v[0]);
	c->blocked = num(v[1]);
	c->cached = num(v[2]);
	c->forwarded = num(v[3]);
	c->refused = num(v[4]);
	c->errors = num(v[5]);
}

static json_t *
counts_json(const struct counts *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "total",
	    (json_int_t)c->total, "blocked", (json_int_t)c->blocked, "cached",
	    (json_int_t)c->cached, "forwarded", (json_int_t)c->forwarded,
	    "refused", (json_int_t)c->refused, "errors", (json_int_t)c->errors);
}

static double
ratio(int64_t a, int64_t b)
{
	return b > 0 ? (double)a / (double)b : 0.0;
}

static int
totals_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	if (ncol >= 6)
		counts_from(arg, v);
	return 0;
}

struct rows {
	json_t *arr; /* --json */
	struct table *tb; /* people */
	const char *key, *distinct; /* top: "client", "names" or the reverse */
	int64_t sum;
	size_t n;
};

static int
category_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct rows *r = arg;
	char clients[32];

	if (ncol < 3)
		return 0;
	r->n++;
	if (r->arr != NULL) {
		json_array_append_new(r->arr,
		    json_pack("{s:o, s:I, s:I}", "category", jstr(v[0]),
			"blocked", (json_int_t)num(v[1]), "clients",
			(json_int_t)num(v[2])));
	} else {
		const char *cells[3] = {v[0], v[1], clients};

		snprintf(
		    clients, sizeof(clients), "%lld", (long long)num(v[2]));
		table_add(r->tb, cells);
	}
	return 0;
}

static int
qtype_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct rows *r = arg;
	char name[32];
	int64_t code = num(v[0]);

	if (ncol < 2 || code < 0 || code > 65535)
		return 0;
	cli_qtype_name((uint16_t)code, name, sizeof(name));
	if (r->arr != NULL) {
		json_array_append_new(r->arr,
		    json_pack("{s:s, s:I, s:I}", "qtype", name, "code",
			(json_int_t)code, "count", (json_int_t)num(v[1])));
	} else {
		/* "A 123, AAAA 45, ...", wrapped at the table width. */
		char item[64];
		int len = snprintf(
		    item, sizeof(item), "%s %lld", name, (long long)num(v[1]));

		if (r->n > 0)
			putchar(',');
		if (r->sum + len + 2 > TABLE_WIDTH) {
			printf("\n ");
			r->sum = 1;
		}
		printf(" %s", item);
		r->sum += len + 2;
	}
	r->n++;
	return 0;
}

static int
hour_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct counts c;
	json_t *j;

	if (ncol < 7)
		return 0;
	counts_from(&c, v + 1);
	j = counts_json(&c);
	json_object_set_new(j, "hour", json_integer((json_int_t)num(v[0])));
	json_array_append_new(arg, j);
	return 0;
}

/* The human per-period table: buckets of one width, at most 25 rows. */
struct buckets {
	int64_t start, width;
	size_t n;
	struct counts *c;
};

static int
bucket_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct buckets *b = arg;
	int64_t t = num(v[0]);

	if (ncol < 7 || t < b->start)
		return 0;
	if ((size_t)((t - b->start) / b->width) < b->n)
		counts_from(&b->c[(t - b->start) / b->width], v + 1);
	return 0;
}

static int64_t
bucket_width(int64_t period)
{
	static const int64_t widths[] = {60, 300, 600, 900, 1800, 3600, 7200,
	    10800, 21600, 43200, 86400, 7 * 86400};

	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		if (period / widths[i] + 1 <= 25)
			return widths[i];
	}
	return (period / 24 / 86400 + 1) * 86400;
}

static int
stats_buckets(
    struct bl_stats *st, const struct filter *f, char *err, size_t errlen)
{
	static const struct col cols[] = {{"TIME", 0, 0, 0, 0},
	    {"TOTAL", 1, 0, 0, 0}, {"BLOCKED", 1, 0, 0, 0},
	    {"CACHED", 1, 0, 0, 0}, {"FORWARDED", 1, 0, 0, 0},
	    {"REFUSED", 1, 0, 0, 0}, {"ERRORS", 1, 0, 0, 0}, {"", 0, 0, 0, 1}};
	struct table tb = {.cols = cols, .ncol = 8};
	struct query q = {.n = 0};
	struct buckets b;
	struct tm tm;
	time_t now = (time_t)f->now;
	int64_t off;
	char width[32];
	int po, pw, ps, rc;

	/* Buckets start on local hours and days. */
	localtime_r(&now, &tm);
	off = (int64_t)tm.tm_gmtoff;
	b.width = bucket_width(f->period);
	b.start = (f->since + off) / b.width * b.width - off;
	b.n = (size_t)((f->now - b.start) / b.width + 1);
	b.c = calloc(b.n, sizeof(*b.c));
	if (b.c == NULL) {
		snprintf(err, errlen, "out of memory");
		return BL_ENOMEM;
	}
	po = q_int(&q, off);
	pw = q_int(&q, b.width);
	ps = q_int(&q, b.start);
	q_add(&q,
	    "SELECT (minute + ?%d) / ?%d * ?%d - ?%d AS b, sum(total),"
	    " sum(blocked), sum(cached), sum(forwarded), sum(refused),"
	    " sum(errors) FROM minutes WHERE minute >= ?%d GROUP BY b",
	    po, pw, pw, po, ps);
	rc = bl_stats_select(st, q.sql, q.params, bucket_cb, &b, err, errlen);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < b.n; i++) {
		const struct counts *c = &b.c[i];
		char v[7][32];
		/* The last column draws the total as a bar. */
		const char *cells[8] = {
		    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[1]};

		fmt_time(b.start + (int64_t)i * b.width,
		    b.width >= 86400 ? T_DAY : T_SHORT, v[0], sizeof(v[0]));
		snprintf(v[1], sizeof(v[1]), "%lld", (long long)c->total);
		snprintf(v[2], sizeof(v[2]), "%lld", (long long)c->blocked);
		snprintf(v[3], sizeof(v[3]), "%lld", (long long)c->cached);
		snprintf(v[4], sizeof(v[4]), "%lld", (long long)c->forwarded);
		snprintf(v[5], sizeof(v[5]), "%lld", (long long)c->refused);
		snprintf(v[6], sizeof(v[6]), "%lld", (long long)c->errors);
		table_add(&tb, cells);
	}
	period_text(b.width, width, sizeof(width));
	printf("\nEvery %s:\n", width);
	table_print(&tb, "  ");
out:
	table_free(&tb);
	free(b.c);
	return rc;
}

static int
noop_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	return 0;
}

/*
 * The reads of one verb in one read transaction, so that its numbers
 * agree with each other while parasold keeps writing.
 */
static void
read_begin(struct bl_stats *st)
{
	char err[256];

	bl_stats_select(st, "BEGIN", NULL, noop_cb, NULL, err, sizeof(err));
}

static void
read_end(struct bl_stats *st)
{
	char err[256];

	bl_stats_select(st, "COMMIT", NULL, noop_cb, NULL, err, sizeof(err));
}

static void
print_count(const char *what, int64_t n, int64_t total)
{
	printf("  %-10s %12lld  %5.1f%%\n", what, (long long)n,
	    100.0 * ratio(n, total));
}

int
cli_stats(const struct cli_opts *o, int argc, char **argv)
{
	static const struct col cat_cols[] = {{"CATEGORY", 0, 0, 8, 0},
	    {"BLOCKED", 1, 0, 0, 0}, {"CLIENTS", 1, 0, 0, 0}};
	struct table cats = {.cols = cat_cols, .ncol = 3};
	struct rows cr = {.tb = &cats}, qr = {.n = 0};
	struct counts c = {0};
	struct query q1 = {.n = 0}, q2 = {.n = 0}, q3 = {.n = 0};
	struct filter f;
	struct bl_stats *st;
	json_t *hours = NULL;
	char err[512], from[32], per[32];
	int64_t since_min;
	int rc;

	if (argc != 0) {
		fprintf(stderr,
		    "usage: parasol stats [--since=DURATION] [--json]\n");
		return CLI_USAGE;
	}
	if (parse_filter(o, TOP_LIMIT, &f) != 0)
		return CLI_USAGE;
	if (open_stats(o, &st) != 0)
		return CLI_DB;
	/* The minute holding since counts whole. */
	since_min = f.since / 60 * 60;
	q_add(&q1,
	    "SELECT coalesce(sum(total), 0), coalesce(sum(blocked), 0),"
	    " coalesce(sum(cached), 0), coalesce(sum(forwarded), 0),"
	    " coalesce(sum(refused), 0), coalesce(sum(errors), 0)"
	    " FROM minutes WHERE minute >= ?%d",
	    q_int(&q1, since_min));
	q_add(&q2,
	    "SELECT category, sum(count) AS n, count(DISTINCT client)"
	    " FROM blocked WHERE last >= ?%d GROUP BY category"
	    " ORDER BY n DESC, category LIMIT ?%d",
	    q_int(&q2, f.since), q_int(&q2, (int64_t)f.limit));
	q_add(&q3,
	    "SELECT qtype, sum(n) AS c FROM qtypes WHERE minute >= ?%d"
	    " GROUP BY qtype ORDER BY c DESC, qtype",
	    q_int(&q3, since_min));
	if (o->json) {
		cr.tb = NULL;
		cr.arr = json_array();
		qr.arr = json_array();
		hours = json_array();
	}
	read_begin(st);
	rc = bl_stats_select(
	    st, q1.sql, q1.params, totals_cb, &c, err, sizeof(err));
	if (rc == 0)
		rc = bl_stats_select(
		    st, q2.sql, q2.params, category_cb, &cr, err, sizeof(err));
	if (rc == 0 && o->json) {
		rc = bl_stats_select(
		    st, q3.sql, q3.params, qtype_cb, &qr, err, sizeof(err));
		if (rc == 0)
			rc = bl_stats_select(st,
			    "SELECT minute / 3600 * 3600 AS h, sum(total),"
			    " sum(blocked), sum(cached), sum(forwarded),"
			    " sum(refused), sum(errors) FROM minutes"
			    " WHERE minute >= ?1 GROUP BY h ORDER BY h",
			    q3.params, hour_cb, hours, err, sizeof(err));
	}
	if (rc != 0)
		goto out;
	if (o->json) {
		json_t *j = counts_json(&c);

		json_object_set_new(j, "since", json_integer(f.since));
		json_object_set_new(j, "until", json_integer(f.now));
		json_object_set_new(j, "period_s", json_integer(f.period));
		json_object_set_new(
		    j, "blocked_share", json_real(ratio(c.blocked, c.total)));
		json_object_set_new(j, "cache_hit_rate",
		    json_real(ratio(c.cached, c.cached + c.forwarded)));
		json_object_set_new(j, "categories", cr.arr);
		json_object_set_new(j, "qtypes", qr.arr);
		json_object_set_new(j, "hours", hours);
		cr.arr = qr.arr = hours = NULL;
		emit_json(j);
		goto out;
	}
	fmt_time(f.since, T_MINUTE, from, sizeof(from));
	period_text(f.period, per, sizeof(per));
	printf("Since %s (%s): %lld queries\n", from, per, (long long)c.total);
	print_count("blocked", c.blocked, c.total);
	print_count("cached", c.cached, c.total);
	print_count("forwarded", c.forwarded, c.total);
	print_count("refused", c.refused, c.total);
	print_count("errors", c.errors, c.total);
	printf("  cache hit rate %.1f%% (cached of cached and forwarded)\n",
	    100.0 * ratio(c.cached, c.cached + c.forwarded));
	printf("\nBlocked lookups by category:\n");
	if (cr.n == 0)
		printf("  none\n");
	else
		table_print(&cats, "  ");
	printf("\nQuery types:");
	qr.sum = (int64_t)strlen("Query types:");
	rc = bl_stats_select(
	    st, q3.sql, q3.params, qtype_cb, &qr, err, sizeof(err));
	printf("%s\n", qr.n == 0 && rc == 0 ? " none" : "");
	if (rc == 0)
		rc = stats_buckets(st, &f, err, sizeof(err));
out:
	read_end(st);
	bl_stats_close(st);
	json_decref(cr.arr);
	json_decref(qr.arr);
	json_decref(hours);
	table_free(&cats);
	return rc == 0 ? CLI_OK : db_error(o, rc, err);
}

/* --- top ------------------------------------------------------------- */

/* The categories of a row: a JSON array from json_group_array. */
static json_t *
categories(const char *text)
{
	json_t *j = text != NULL ? json_loads(text, 0, NULL) : NULL;
	json_t *out = json_array(), *v;
	size_t i;

	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
		{
			if (json_is_string(v))
				json_array_append(out, v);
		}
	}
	json_decref(j);
	return out;
}

static int
top_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct rows *r = arg;
	json_t *cats;

	if (ncol < 6)
		return 0;
	cats = categories(v[3]);
	r->n++;
	if (r->arr != NULL) {
		json_array_append_new(r->arr,
		    json_pack("{s:o, s:I, s:I, s:o, s:I, s:I}", r->key,
			jstr(v[0]), "blocked", (json_int_t)num(v[1]),
			r->distinct, (json_int_t)num(v[2]), "categories", cats,
			"first", (json_int_t)num(v[4]), "last",
			(json_int_t)num(v[5])));
	} else {
		char n1[32], n2[32], first[32], last[32], list[256];
		const char *cells[6] = {v[0], n1, n2, first, last, list};
		size_t i, len = 0;
		json_t *c;

		snprintf(n1, sizeof(n1), "%lld", (long long)num(v[1]));
		snprintf(n2, sizeof(n2), "%lld", (long long)num(v[2]));
		fmt_time(num(v[4]), T_SHORT, first, sizeof(first));
		fmt_time(num(v[5]), T_SHORT, last, sizeof(last));
		list[0] = '\0';
		json_array_foreach(cats, i, c)
		{
			int n = snprintf(list + len, sizeof(list) - len, "%s%s",
			    i > 0 ? "," : "", json_string_value(c));

			if (n < 0 || (size_t)n >= sizeof(list) - len)
				break;
			len += (size_t)n;
		}
		table_add(r->tb, cells);
		json_decref(cats);
	}
	return 0;
}

int
cli_top(const struct cli_opts *o, int argc, char **argv)
{
	static const struct col client_cols[] = {{"CLIENT", 0, 0, 15, 0},
	    {"BLOCKED", 1, 0, 0, 0}, {"NAMES", 1, 0, 0, 0},
	    {"FIRST SEEN", 0, 0, 0, 0}, {"LAST SEEN", 0, 0, 0, 0},
	    {"CATEGORIES", 0, 0, 10, 0}};
	static const struct col domain_cols[] = {{"NAME", 0, 1, 16, 0},
	    {"BLOCKED", 1, 0, 0, 0}, {"CLIENTS", 1, 0, 0, 0},
	    {"FIRST SEEN", 0, 0, 0, 0}, {"LAST SEEN", 0, 0, 0, 0},
	    {"CATEGORIES", 0, 0, 10, 0}};
	struct table tb = {.ncol = 6};
	struct rows r = {.tb = &tb};
	struct query q = {.n = 0};
	struct filter f;
	struct bl_stats *st;
	char err[512];
	int clients, rc;

	if (argc != 1 ||
	    (strcmp(argv[0], "clients") != 0 &&
		strcmp(argv[0], "domains") != 0)) {
		fprintf(stderr,
		    "usage: parasol top clients [--since=DURATION] "
		    "[--category=C] [--limit=N]\n"
		    "       parasol top domains [--since=DURATION] "
		    "[--category=C] [--client=ADDR]\n"
		    "                           [--limit=N]\n");
		return CLI_USAGE;
	}
	clients = strcmp(argv[0], "clients") == 0;
	if (parse_filter(o, TOP_LIMIT, &f) != 0)
		return CLI_USAGE;
	tb.cols = clients ? client_cols : domain_cols;
	r.key = clients ? "client" : "name";
	r.distinct = clients ? "names" : "clients";
	if (clients)
		q_add(&q,
		    "SELECT client, sum(count) AS n, count(DISTINCT name),");
	else
		q_add(&q,
		    "SELECT name, sum(count) AS n, count(DISTINCT client),");
	q_add(&q,
	    " json_group_array(DISTINCT category), min(first), max(last)"
	    " FROM blocked WHERE last >= ?%d",
	    q_int(&q, f.since));
	q_filters(&q, &f);
	q_add(&q, " GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?%d",
	    q_int(&q, (int64_t)f.limit));
	if (open_stats(o, &st) != 0)
		return CLI_DB;
	if (o->json) {
		r.tb = NULL;
		r.arr = json_array();
	}
	rc = bl_stats_select(st, q.sql, q.params, top_cb, &r, err, sizeof(err));
	bl_stats_close(st);
	if (rc != 0) {
		json_decref(r.arr);
		table_free(&tb);
		return db_error(o, rc, err);
	}
	if (o->json)
		emit_json(r.arr);
	else if (r.n == 0)
		fprintf(stderr, "no blocked lookups in the period\n");
	else
		table_print(&tb, "");
	table_free(&tb);
	return CLI_OK;
}

/* --- log ------------------------------------------------------------- */

#define LOG_COLUMNS                                                            \
	"SELECT id, first, last, count, client, name, qtype, category, feed,"  \
	" rule, action FROM blocked"

struct log_row {
	int64_t id, first, last, count, qtype;
	const char *client, *name, *category, *feed, *rule, *action;
};

static int
log_row_from(int ncol, const char *const *v, struct log_row *r)
{
	if (ncol < 11)
		return -1;
	r->id = num(v[0]);
	r->first = num(v[1]);
	r->last = num(v[2]);
	r->count = num(v[3]);
	r->client = v[4] != NULL ? v[4] : "";
	r->name = v[5] != NULL ? v[5] : "";
	r->qtype = num(v[6]);
	r->category = v[7] != NULL ? v[7] : "";
	r->feed = v[8] != NULL ? v[8] : "";
	r->rule = v[9] != NULL ? v[9] : "";
	r->action = v[10] != NULL ? v[10] : "";
	return 0;
}

static json_t *
log_json(const struct log_row *r)
{
	char type[32];

	cli_qtype_name((uint16_t)(r->qtype & 0xffff), type, sizeof(type));
	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:s, s:I, s:o, s:o, s:o,"
			 " s:o, s:I}",
	    "id", (json_int_t)r->id, "first", (json_int_t)r->first, "last",
	    (json_int_t)r->last, "client", jstr(r->client), "name",
	    jstr(r->name), "qtype", type, "qtype_code", (json_int_t)r->qtype,
	    "category", jstr(r->category), "feed", jstr(r->feed), "rule",
	    jstr(r->rule), "action", jstr(r->action), "count",
	    (json_int_t)r->count);
}

static void
log_header(void)
{
	printf("%-14s  %-15s  %-6s %7s  %s\n", "TIME", "CLIENT", "TYPE",
	    "COUNT", "NAME");
}

/* Two lines a row: the lookup, then why it was blocked. */
static void
log_print(const struct log_row *r)
{
	char when[32], client[64], type[32], name[BL_NAME_MAX * 3 + 8];
	char why[512], line[TABLE_WIDTH * 3 + 8];
	int flags = fit_flags(), used;
	size_t room;

	fmt_time(r->last, T_SECOND, when, sizeof(when));
	cli_fit(r->client, 39, flags, client, sizeof(client));
	cli_qtype_name((uint16_t)(r->qtype & 0xffff), type, sizeof(type));
	used = printf("%-14s  %-15s  %-6s %7lld", when, client, type,
	    (long long)r->count);
	room = used > 0 && used + 2 < TABLE_WIDTH
	    ? TABLE_WIDTH - (size_t)used - 2
	    : 0;
	/* A long IPv6 client leaves too little room: the name goes below. */
	if (room < 20) {
		room = TABLE_WIDTH - 4;
		printf("\n  ");
	}
	cli_fit(r->name, room, flags | CLI_FIT_END, name, sizeof(name));
	printf("  %s\n", name);
	snprintf(why, sizeof(why), "category=%s feed=%s rule=%s action=%s",
	    r->category, r->feed, r->rule, r->action);
	cli_fit(why, TABLE_WIDTH - 4, flags, line, sizeof(line));
	printf("    %s\n", line);
}

struct log_ctx {
	const struct cli_opts *o;
	json_t *arr; /* --json, and the backlog of --follow */
	size_t n;
};

static int
log_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct log_ctx *c = arg;
	struct log_row r;

	if (log_row_from(ncol, v, &r) != 0)
		return 0;
	c->n++;
	if (c->arr != NULL)
		json_array_append_new(c->arr, log_json(&r));
	else
		log_print(&r);
	return 0;
}

/* --follow ------------------------------------------------------------ */

static volatile sig_atomic_t follow_stop;

static void
follow_signal(int sig)
{
	follow_stop = 1;
}

/* A row already printed, with the count it had. */
struct seen {
	int64_t id, count, last;
};

struct follow {
	const struct cli_opts *o;
	struct seen *v;
	size_t n, cap;
	int64_t max_id;
	int print; /* 0 while seeding */
	int failed; /* out of memory */
};

static struct seen *
seen_find(struct follow *fw, int64_t id, size_t *at)
{
	size_t lo = 0, hi = fw->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (fw->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return lo < fw->n && fw->v[lo].id == id ? &fw->v[lo] : NULL;
}

static void
follow_emit(struct follow *fw, const struct log_row *r, int updated)
{
	if (!fw->print)
		return;
	if (fw->o->json) {
		json_t *j = log_json(r);

		json_object_set_new(j, "updated", json_boolean(updated));
		emit_json(j);
	} else {
		log_print(r);
	}
}

static int
follow_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	struct follow *fw = arg;
	struct log_row r;
	struct seen *s;
	size_t at;

	if (log_row_from(ncol, v, &r) != 0)
		return 0;
	s = seen_find(fw, r.id, &at);
	if (s != NULL) {
		if (s->count != r.count)
			follow_emit(fw, &r, 1);
		s->count = r.count;
		s->last = r.last;
	} else {
		follow_emit(fw, &r, r.id <= fw->max_id);
		if (fw->n == fw->cap) {
			size_t cap = fw->cap ? fw->cap * 2 : 256;
			struct seen *nv = realloc(fw->v, cap * sizeof(*nv));

			if (nv == NULL) {
				fw->failed = 1;
				return 1;
			}
			fw->v = nv;
			fw->cap = cap;
		}
		memmove(
		    fw->v + at + 1, fw->v + at, (fw->n - at) * sizeof(*fw->v));
		fw->v[at] = (struct seen){r.id, r.count, r.last};
		fw->n++;
	}
	if (r.id > fw->max_id)
		fw->max_id = r.id;
	return 0;
}

/* Rows last seen before cutoff are no longer folded into: forget them. */
static void
follow_prune(struct follow *fw, int64_t cutoff)
{
	size_t k = 0;

	for (size_t i = 0; i < fw->n; i++) {
		if (fw->v[i].last >= cutoff)
			fw->v[k++] = fw->v[i];
	}
	fw->n = k;
}

static int
max_id_cb(int ncol, const char *const *v, const char *const *cols, void *arg)
{
	*(int64_t *)arg = num(v[0]);
	return 0;
}

/*
 * Print the newest rows oldest first, then poll: rows with a new id, or
 * recent rows whose count went up (a fold), are printed as they appear.
 * The database is opened afresh for each poll, so a reader that had to
 * open it immutable (parasold stopped) sees it once parasold writes again.
 */
static int
log_follow(const struct cli_opts *o, const struct filter *f)
{
	struct follow fw = {.o = o};
	struct log_ctx c = {.o = o};
	struct query back = {.n = 0}, seed = {.n = 0};
	struct sigaction sa;
	struct bl_stats *st;
	json_t *rows;
	char err[512];
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = follow_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	q_add(&back, LOG_COLUMNS " WHERE last >= ?%d", q_int(&back, f->since));
	q_filters(&back, f);
	q_add(&back, " ORDER BY last DESC, id DESC LIMIT ?%d",
	    q_int(&back, (int64_t)f->limit));
	q_add(&seed, LOG_COLUMNS " WHERE last >= ?%d",
	    q_int(&seed, f->now - FOLLOW_RECENT_S));
	q_filters(&seed, f);
	q_add(&seed, " ORDER BY id");

	/* Like tail -F: parasold creates the database with its first
	 * batch, which may be after this starts. */
	if (access(o->stats_db, F_OK) != 0 && errno == ENOENT) {
		fprintf(
		    stderr, "parasol: waiting for %s to appear\n", o->stats_db);
		while (!follow_stop && access(o->stats_db, F_OK) != 0) {
			struct timespec ts = {0, FOLLOW_POLL_MS * 1000000L};

			nanosleep(&ts, NULL);
		}
		if (follow_stop)
			return CLI_OK;
	}
	if (open_stats(o, &st) != 0)
		return CLI_DB;
	/* The backlog (newest first, printed reversed), the highest id and
	 * the recent rows, all from one snapshot. */
	c.arr = rows = json_array();
	read_begin(st);
	rc = bl_stats_select(
	    st, back.sql, back.params, log_cb, &c, err, sizeof(err));
	if (rc == 0)
		rc = bl_stats_select(st,
		    "SELECT coalesce(max(id), 0)"
		    " FROM blocked",
		    NULL, max_id_cb, &fw.max_id, err, sizeof(err));
	if (rc == 0)
		rc = bl_stats_select(st, seed.sql, seed.params, follow_cb, &fw,
		    err, sizeof(err));
	read_end(st);
	bl_stats_close(st);
	if (rc == 0 && fw.failed) {
		snprintf(err, sizeof(err), "out of memory");
		rc = BL_ENOMEM;
	}
	if (rc != 0) {
		json_decref(rows);
		free(fw.v);
		return db_error(o, rc, err);
	}
	if (!o->json)
		log_header();
	for (size_t i = json_array_size(rows); i-- > 0;) {
		json_t *j = json_array_get(rows, i);
		struct log_row r = {
		    .id = json_integer_value(json_object_get(j, "id")),
		    .first = json_integer_value(json_object_get(j, "first")),
		    .last = json_integer_value(json_object_get(j, "last")),
		    .count = json_integer_value(json_object_get(j, "count")),
		    .qtype =
			json_integer_value(json_object_get(j, "qtype_code")),
		    .client = json_string_value(json_object_get(j, "client")),
		    .name = json_string_value(json_object_get(j, "name")),
		    .category =
			json_string_value(json_object_get(j, "category")),
		    .feed = json_string_value(json_object_get(j, "feed")),
		    .rule = json_string_value(json_object_get(j, "rule")),
		    .action = json_string_value(json_object_get(j, "action")),
		};

		if (o->json) {
			json_object_set_new(j, "updated", json_false());
			emit_json(json_incref(j));
		} else {
			log_print(&r);
		}
	}
	json_decref(rows);
	fflush(stdout);
	fw.print = 1;

	while (!follow_stop) {
		struct timespec ts = {0, FOLLOW_POLL_MS * 1000000L};
		struct query q = {.n = 0};
		int64_t cutoff = (int64_t)time(NULL) - FOLLOW_RECENT_S;

		/* A signal cuts the sleep short. */
		nanosleep(&ts, NULL);
		if (follow_stop)
			break;
		q_add(&q, LOG_COLUMNS " WHERE (id > ?%d", q_int(&q, fw.max_id));
		q_add(&q, " OR last >= ?%d)", q_int(&q, cutoff));
		q_filters(&q, f);
		q_add(&q, " ORDER BY id LIMIT %d", FOLLOW_BATCH);
		rc = bl_stats_open_reader(
		    o->stats_db, STATS_BUSY_MS, &st, err, sizeof(err));
		/* Locked beyond the wait, or being replaced: next time. */
		if (rc == BL_EBUSY ||
		    (rc == BL_ENOENT && access(o->stats_db, F_OK) != 0))
			continue;
		if (rc != 0) {
			free(fw.v);
			return db_error(o, rc, err);
		}
		rc = bl_stats_select(
		    st, q.sql, q.params, follow_cb, &fw, err, sizeof(err));
		bl_stats_close(st);
		fflush(stdout);
		if (fw.failed) {
			fprintf(stderr, "parasol: out of memory\n");
			free(fw.v);
			return CLI_DB;
		}
		if (rc != 0 && rc != BL_EBUSY) {
			free(fw.v);
			return db_error(o, rc, err);
		}
		follow_prune(&fw, cutoff);
	}
	free(fw.v);
	return CLI_OK;
}

int
cli_log(const struct cli_opts *o, int argc, char **argv)
{
	struct log_ctx c = {.o = o};
	struct query q = {.n = 0};
	struct filter f;
	struct bl_stats *st;
	char err[512];
	int rc;

	if (argc != 0) {
		fprintf(stderr,
		    "usage: parasol log [--client=ADDR] [--name=NAME] "
		    "[--category=C] [--since=DURATION]\n"
		    "                   [--limit=N] [--follow] [--json]\n");
		return CLI_USAGE;
	}
	if (parse_filter(o, LOG_LIMIT, &f) != 0)
		return CLI_USAGE;
	if (o->follow)
		return log_follow(o, &f);
	q_add(&q, LOG_COLUMNS " WHERE last >= ?%d", q_int(&q, f.since));
	q_filters(&q, &f);
	q_add(&q, " ORDER BY last DESC, id DESC LIMIT ?%d",
	    q_int(&q, (int64_t)f.limit));
	if (open_stats(o, &st) != 0)
		return CLI_DB;
	if (o->json)
		c.arr = json_array();
	else
		log_header();
	rc = bl_stats_select(st, q.sql, q.params, log_cb, &c, err, sizeof(err));
	bl_stats_close(st);
	if (rc != 0) {
		json_decref(c.arr);
		return db_error(o, rc, err);
	}
	if (c.arr != NULL)
		emit_json(c.arr);
	else if (c.n == 0)
		fprintf(stderr, "no blocked lookups in the period\n");
	return CLI_OK;
}

/* --- status ---------------------------------------------------------- */

static int64_t
jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

static void
fmt_bytes(int64_t n, char *buf, size_t cap)
{
	if (n >= 1 << 30)
		snprintf(buf, cap, "%.1f GiB", (double)n / (1 << 30));
	else if (n >= 1 << 20)
		snprintf(buf, cap, "%.1f MiB", (double)n / (1 << 20));
	else if (n >= 1 << 10)
		snprintf(buf, cap, "%.1f KiB", (double)n / (1 << 10));
	else
		snprintf(buf, cap, "%lld bytes", (long long)n);
}

static void
fmt_uptime(int64_t s, char *buf, size_t cap)
{
	if (s >= 86400)
		snprintf(buf, cap, "%lldd %lldh %lldm", (long long)(s / 86400),
		    (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60));
	else if (s >= 3600)
		snprintf(buf, cap, "%lldh %lldm", (long long)(s / 3600),
		    (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, cap, "%lldm %llds", (long long)(s / 60),
		    (long long)(s % 60));
	else
		snprintf(buf, cap, "%llds", (long long)s);
}

static void
status_print(json_t *j)
{
	static const struct col up_cols[] = {{"UPSTREAM", 0, 0, 15, 0},
	    {"STATE", 0, 0, 0, 0}, {"SRTT", 1, 0, 0, 0}, {"SENT", 1, 0, 0, 0},
	    {"ANSWERED", 1, 0, 0, 0}, {"FAILED", 1, 0, 0, 0}};
	struct table tb = {.cols = up_cols, .ncol = 6};
	json_t *ups = json_object_get(j, "upstreams"), *u;
	const char *version = json_string_value(json_object_get(j, "version"));
	int64_t queries = jint(j, "queries"), hits = jint(j, "cache_hits");
	int64_t fwd = jint(j, "forwarded");
	char up[64], b1[32], b2[32];
	size_t i;

	fmt_uptime(jint(j, "uptime_s"), up, sizeof(up));
	printf("parasold %s, up %s\n", version != NULL ? version : "?", up);
	printf("  queries     %lld, %.1f/s now; blocked %lld (%.1f%%), "
	       "refused %lld, servfail %lld\n",
	    (long long)queries, json_number_value(json_object_get(j, "qps")),
	    (long long)jint(j, "blocked"),
	    100.0 * ratio(jint(j, "blocked"), queries),
	    (long long)jint(j, "refused"), (long long)jint(j, "servfail"));
	fmt_bytes(jint(j, "cache_bytes"), b1, sizeof(b1));
	fmt_bytes(jint(j, "cache_max_bytes"), b2, sizeof(b2));
	printf("  cache       %lld entries, %s of %s; hit rate %.1f%%; "
	       "%lld stale answers\n",
	    (long long)jint(j, "cache_entries"), b1, b2,
	    100.0 * ratio(hits, hits + fwd),
	    (long long)jint(j, "stale_answers"));
	printf("  upstream    %lld bad replies dropped, %lld scrubbed\n",
	    (long long)jint(j, "bad_replies"), (long long)jint(j, "scrubbed"));
	printf("  blocklist   generation %lld, %lld names; %lld reloads, "
	       "%lld failed\n",
	    (long long)jint(j, "lists_generation"),
	    (long long)jint(j, "lists_names"),
	    (long long)jint(j, "lists_reloads"),
	    (long long)jint(j, "lists_reload_failures"));
	if (json_is_true(json_object_get(j, "stats_recording")))
		printf(
		    "  stats       recording; %lld blocked lookups dropped\n",
		    (long long)jint(j, "stats_dropped"));
	else
		printf("  stats       not recording\n");
	printf("  in flight   %lld queries, %lld TCP clients\n",
	    (long long)jint(j, "in_flight"), (long long)jint(j, "tcp_clients"));
	json_array_foreach(ups, i, u)
	{
		char srtt[32], sent[32], ans[32], failed[32];
		const char *addr =
		    json_string_value(json_object_get(u, "address"));
		const char *cells[6] = {addr != NULL ? addr : "?",
		    json_is_true(json_object_get(u, "up")) ? "up" : "DOWN",
		    srtt, sent, ans, failed};

		snprintf(srtt, sizeof(srtt), "%.1f ms",
		    json_number_value(json_object_get(u, "srtt_ms")));
		snprintf(
		    sent, sizeof(sent), "%lld", (long long)jint(u, "sent"));
		snprintf(
		    ans, sizeof(ans), "%lld", (long long)jint(u, "answered"));
		snprintf(failed, sizeof(failed), "%lld",
		    (long long)jint(u, "failed"));
		table_add(&tb, cells);
	}
	if (tb.nrow > 0) {
		putchar('\n');
		table_print(&tb, "  ");
	}
	table_free(&tb);
}

int
cli_status(const struct cli_opts *o, int argc, char **argv)
{
	char reply[CONTROL_LINE_MAX];
	const char *body;
	json_t *j;
	int rc;

	if (argc != 0) {
		fprintf(stderr, "usage: parasol status [--json]\n");
		return CLI_USAGE;
	}
	rc = control_request(
	    o->control, "status", STATUS_TIMEOUT_MS, reply, sizeof(reply));
	if (rc < 0) {
		fprintf(stderr, "parasol: %s\n", reply);
		return CLI_DAEMON;
	}
	if (rc == 1) {
		fprintf(stderr, "parasol: parasold answered: %s\n", reply);
		return CLI_DAEMON;
	}
	body = reply + 2;
	while (*body == ' ')
		body++;
	j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		char shown[81];

		cli_fit(reply, 80, 0, shown, sizeof(shown));
		fprintf(stderr,
		    "parasol: unexpected status answer from "
		    "parasold: %s\n",
		    shown);
		json_decref(j);
		return CLI_DAEMON;
	}
	if (o->json) {
		emit_json(j);
		return CLI_OK;
	}
	status_print(j);
	json_decref(j);
	return CLI_OK;
}
