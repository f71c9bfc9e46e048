#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/config.h"
#include "resolver/log.h"

enum cfg_type {
	CFG_ADDRS,  /* list of ADDR[:PORT], port 53 by default */
	CFG_NETS,   /* list of CIDR */
	CFG_UINT,   /* bounded integer */
	CFG_BYTES,  /* bounded integer with k/M/G suffix */
	CFG_PATH,
	CFG_LOGLEVEL,
	CFG_SINKHOLE,
	CFG_BOOL,
	CFG_CHOICE, /* one of choices ("a|b|c"), stored as its index */
	CFG_NAME,   /* a short string, may be empty */
	CFG_HTTP,   /* none, PORT (on 127.0.0.1) or ADDR[:PORT] */
	CFG_DURATION, /* seconds, with s/m/h/d suffixes */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	size_t count_off; /* lists only */
	uint64_t min, max;
	const char *def; /* lists: comma separated */
	const char *help;
};

#define F(f) offsetof(struct config, f)

static const struct cfg_key keys[] = {
	{"listen", CFG_ADDRS, F(listen), F(n_listen), 0, 0, "127.0.0.1,::1",
	    "address[:port] to answer on, UDP and TCP (repeatable)"},
	{"upstream", CFG_ADDRS, F(upstream), F(n_upstream), 0, 0, "",
	    "address[:port] to forward to (repeatable; default: resolv.conf)"},
	{"allow-net", CFG_NETS, F(allow), F(n_allow), 1, 0,
	    "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,"
	    "fc00::/7,169.254.0.0/16,fe80::/10",
	    "client network allowed to query (repeatable)"},
	{"resolv-conf", CFG_PATH, F(resolv_conf), 0, 0, 0, "/etc/resolv.conf",
	    "where default upstreams come from"},
	{"cache-size", CFG_BYTES, F(cache_size), 0, 64 * 1024,
	    (uint64_t)64 << 30, "32M", "answer cache bound in bytes"},
	{"cache-min-ttl", CFG_UINT, F(cache_min_ttl), 0, 0, 86400, "0",
	    "lowest TTL kept in the cache, seconds"},
	{"cache-max-ttl", CFG_UINT, F(cache_max_ttl), 0, 1, 604800, "86400",
	    "highest TTL kept in the cache, seconds"},
	{"cache-neg-max-ttl", CFG_UINT, F(cache_neg_max_ttl), 0, 1, 86400,
	    "3600", "highest TTL for NXDOMAIN/NODATA, seconds"},
	{"upstream-timeout", CFG_UINT, F(upstream_timeout), 0, 10, 30000,
	    "800", "wait for one upstream before trying the next, ms"},
	{"resolve-timeout", CFG_UINT, F(resolve_timeout), 0, 50, 60000,
	    "3000", "total time for a query before SERVFAIL, ms"},
	{"tcp-idle-timeout", CFG_UINT, F(tcp_idle_timeout), 0, 100, 600000,
	    "10000", "close idle client TCP connections after, ms"},
	{"tcp-max-clients", CFG_UINT, F(tcp_max_clients), 0, 1, 65536, "256",
	    "most client TCP connections at once"},
	{"edns-size", CFG_UINT, F(edns_size), 0, 512, 4096, "1232",
	    "largest UDP answer sent and advertised"},
	{"log-level", CFG_LOGLEVEL, F(log_level), 0, 0, 0, "info",
	    "error, warn, info or debug"},
	{"lists-db", CFG_PATH, F(lists_db), 0, 0, 0,
	    "/var/lib/parasol/lists.db", "the blocklist database"},
	{"control", CFG_PATH, F(control), 0, 0, 0, "/run/parasol/parasold.sock",
	    "control socket for parasol and parasol-update"},
	{"sinkhole", CFG_SINKHOLE, F(sinkhole), 0, 0, 0, "null",
	    "answer for blocked names: null, nxdomain, nodata, refused or "
	    "ADDR[,ADDR6]"},
	{"block-ttl", CFG_UINT, F(block_ttl), 0, 0, 86400, "10",
	    "TTL of blocked answers, seconds"},
	{"lists-poll", CFG_UINT, F(lists_poll), 0, 0, 3600000, "5000",
	    "check lists.db for a new generation every, ms (0: never)"},
	{"seed-defaults", CFG_BOOL, F(seed_defaults), 0, 0, 0, "yes",
	    "load the bundled lists into an empty lists.db"},
	{"stats-db", CFG_PATH, F(stats_db), 0, 0, 0,
	    "/var/lib/parasol/stats.db",
	    "where blocked lookups and traffic counters go (none: nowhere)"},
	{"stats-retention", CFG_UINT, F(stats_retention), 0, 0, 36500, "30",
	    "keep stats this many days (0: forever)"},
	{"stats-fold-window", CFG_UINT, F(stats_fold_window), 0, 1, 86400,
	    "300",
	    "repeats of a blocked (client, name) within this many seconds "
	    "share one row"},
	{"serve-stale", CFG_DURATION, F(serve_stale), 0, 0, 7 * 86400, "1d",
	    "answer from expired cache entries this long after they expire "
	    "when no upstream answers (s, m, h, d; 0: never)"},
	{"stale-recheck", CFG_DURATION, F(stale_recheck), 0, 0, 3600, "30s",
	    "after a failed resolution answered stale, serve that name stale "
	    "without asking upstream for this long (0: ask every time)"},
	{"stats-events", CFG_BOOL, F(stats_events), 0, 0, 0, "yes",
	    "record each blocked lookup with its client (no: counters only)"},
	{"ratelimit", CFG_UINT, F(ratelimit), 0, 0, 1000000, "200",
	    "queries per second per client address (0: no limit)"},
	{"ratelimit-burst", CFG_UINT, F(ratelimit_burst), 0, 1, 1000000,
	    "1000", "queries a client address may send at once"},
	{"ratelimit-prefix", CFG_UINT, F(ratelimit_prefix), 0, 0, 1000000,
	    "10000", "queries per second per client network (0: no limit)"},
	{"ratelimit-prefix-burst", CFG_UINT, F(ratelimit_prefix_burst), 0, 1,
	    1000000, "20000", "queries a client network may send at once"},
	{"ratelimit-v4-prefix", CFG_UINT, F(ratelimit_v4_prefix), 0, 8, 32,
	    "24", "IPv4 prefix length of a client network"},
	{"ratelimit-v6-prefix", CFG_UINT, F(ratelimit_v6_prefix), 0, 16, 128,
	    "56", "IPv6 prefix length of a client network"},
	{"ratelimit-action", CFG_CHOICE, F(ratelimit_action), 0, 0, 0,
	    "refuse", "over the limit: refuse (REFUSED, EDE 18) or drop"},
	{"ratelimit-exempt", CFG_NETS, F(ratelimit_exempt),
	    F(n_ratelimit_exempt), 0, 0, "127.0.0.0/8,::1/128",
	    "client network never rate limited (repeatable; none: no "
	    "exemption)"},
	{"ratelimit-slots", CFG_UINT, F(ratelimit_slots), 0, 64, 16777216,
	    "65536", "rate-limit buckets kept, 32 bytes each"},
	{"tcp-max-per-client", CFG_UINT, F(tcp_max_per_client), 0, 1, 65536,
	    "32", "most TCP connections from one client address"},
	{"tcp-first-timeout", CFG_UINT, F(tcp_first_timeout), 0, 100, 600000,
	    "3000", "close a new TCP connection without a complete query after, "
	    "ms"},
	{"max-pending", CFG_UINT, F(max_pending), 0, 16, 1000000, "4096",
	    "most distinct questions waiting for upstreams at once"},
	{"shutdown-timeout", CFG_UINT, F(shutdown_timeout), 0, 0, 60000,
	    "2000", "on SIGTERM, wait this long for queries in flight, ms"},
	{"user", CFG_NAME, F(user), 0, 0, CONFIG_NAME_MAX, "",
	    "when started as root, run as this user after binding (root: "
	    "stay root)"},
	{"fail-mode", CFG_CHOICE, F(fail_mode), 0, 0, 0, "closed",
	    "no blocklist loaded yet: closed (SERVFAIL) or open (forward "
	    "unfiltered)"},
	{"metrics", CFG_HTTP, F(metrics), F(metrics_on), 0, 0, "none",
	    "HTTP address for /metrics, /healthz, /readyz: none, PORT "
	    "(loopback) or ADDR[:PORT]"},
	{"doh-canary", CFG_BOOL, F(doh_canary), 0, 0, 0, "yes",
	    "answer use-application-dns.net with NXDOMAIN so browsers keep "
	    "their DNS here"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* The values of a CFG_CHOICE key, in the order of their numbers. */
static const char *
choices_of(const struct cfg_key *k)
{
	if (k->off == F(ratelimit_action))
		return "refuse|drop";
	if (k->off == F(fail_mode))
		return "closed|open";
	return "";
}

static const struct cfg_key *
find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strlen(keys[i].name) == len &&
		    strncmp(keys[i].name, name, len) == 0)
			return &keys[i];
	}
	return NULL;
}

int
config_is_key(const char *name)
{
	const char *eq = strchr(name, '=');

	return find_key(name, eq != NULL ? (size_t)(eq - name) : strlen(name))
	    != NULL;
}

static int
parse_uint(const char *v, int bytes, uint64_t *out)
{
	char *end;
	unsigned long long n;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	if (bytes && *end != '\0') {
		unsigned shift = 0;

		switch (*end) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: return -1;
		}
		end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (n > (UINT64_MAX >> shift))
			return -1;
		n <<= shift;
	}
	if (*end != '\0')
		return -1;
	*out = n;
	return 0;
}

/* Seconds, or a number with one of the suffixes s, m, h, d. */
static int
parse_duration(const char *v, uint64_t *out)
{
	size_t len = strlen(v);
	uint64_t mult = 1, n;
	char buf[32];

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len + 1);
	switch (buf[len - 1]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: mult = 0; break;
	}
	if (mult != 0)
		buf[len - 1] = '\0';
	else
		mult = 1;
	if (parse_uint(buf, 0, &n) != 0 || n > UINT64_MAX / mult)
		return -1;
	*out = n * mult;
	return 0;
}

static int
parse_sinkhole(const char *v, struct sinkhole *sh)
{
	static const struct {
		const char *name;
		enum sinkhole_mode mode;
	} modes[] = {
	    {"null", SINKHOLE_NULL},
	    {"nxdomain", SINKHOLE_NXDOMAIN},
	    {"nodata", SINKHOLE_NODATA},
	    {"refused", SINKHOLE_REFUSED},
	};
	char buf[128], *comma;

	memset(sh, 0, sizeof(*sh));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(v, modes[i].name) == 0) {
			sh->mode = modes[i].mode;
			return 0;
		}
	}
	if (strlen(v) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", v);
	sh->mode = SINKHOLE_ADDRESS;
	comma = strchr(buf, ',');
	if (comma != NULL)
		*comma++ = '\0';
	/* Either order; one of each family at most. */
	for (char *a = buf; a != NULL; a = comma, comma = NULL) {
		if (inet_pton(AF_INET, a, &sh->a4) == 1 && !sh->has4)
			sh->has4 = 1;
		else if (inet_pton(AF_INET6, a, &sh->a6) == 1 && !sh->has6)
			sh->has6 = 1;
		else
			return -1;
	}
	return 0;
}

/* Apply one value. For lists it appends. */
static int
set_value(struct config *cfg, const struct cfg_key *k, const char *v,
    char *err, size_t errlen)
{
	char *base = (char *)cfg;
	char why[160];

	switch (k->type) {
	case CFG_ADDRS: {
		size_t *n = (size_t *)(base + k->count_off);
		struct sockaddr_storage *a =
		    (struct sockaddr_storage *)(base + k->off);

		if (*n >= CONFIG_MAX_ADDRS) {
			snprintf(err, errlen, "%s: more than %d addresses",
			    k->name, CONFIG_MAX_ADDRS);
			return -1;
		}
		if (addr_parse(v, 53, &a[*n], why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", k->name, why);
			return -1;
		}
		(*n)++;
		return 0;
	}
	case CFG_NETS: {
		size_t *n = (size_t *)(base + k->count_off);
		struct addr_net *a = (struct addr_net *)(base + k->off);

		/* "none": the empty list (a list key's first value from a
		 * source has already cleared the defaults), where a key may
		 * be empty (min 0). An empty allow-net would refuse every
		 * client: surely a mistake, not a way to run a resolver. */
		if (strcmp(v, "none") == 0) {
			if (k->min > 0) {
				snprintf(err, errlen,
				    "%s: cannot be none (it would refuse every "
				    "client); list the networks to answer",
				    k->name);
				return -1;
			}
			return 0;
		}
		if (*n >= CONFIG_MAX_NETS) {
			snprintf(err, errlen, "%s: more than %d networks",
			    k->name, CONFIG_MAX_NETS);
			return -1;
		}
		if (addr_net_parse(v, &a[*n], why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s", k->name, why);
			return -1;
		}
		(*n)++;
		return 0;
	}
	case CFG_UINT:
	case CFG_BYTES:
	case CFG_DURATION: {
		uint64_t n;
		const char *units = "";
		int rc;

		if (k->type == CFG_DURATION) {
			rc = parse_duration(v, &n);
			units = " of seconds (s, m, h, d suffixes)";
		} else {
			rc = parse_uint(v, k->type == CFG_BYTES, &n);
			if (k->type == CFG_BYTES)
				units = " (k, M, G suffixes)";
		}
		if (rc != 0) {
			snprintf(err, errlen, "%s: '%s' is not a number%s",
			    k->name, v, units);
			return -1;
		}
		if (n < k->min || n > k->max) {
			snprintf(err, errlen,
			    "%s: %s is out of range (%llu to %llu)", k->name, v,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		*(uint64_t *)(base + k->off) = n;
		return 0;
	}
	case CFG_PATH:
		if (v[0] == '\0' || strlen(v) >= PATH_MAX) {
			snprintf(err, errlen, "%s: bad path", k->name);
			return -1;
		}
		snprintf(base + k->off, PATH_MAX, "%s", v);
		return 0;
	case CFG_SINKHOLE:
		if (parse_sinkhole(v, (struct sinkhole *)(base + k->off)) != 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not null, nxdomain, nodata, refused or "
			    "IPv4[,IPv6]",
			    k->name, v);
			return -1;
		}
		return 0;
	case CFG_BOOL:
		if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0) {
			*(int *)(base + k->off) = 1;
		} else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
		    strcmp(v, "0") == 0) {
			*(int *)(base + k->off) = 0;
		} else {
			snprintf(err, errlen, "%s: '%s' is not yes or no",
			    k->name, v);
			return -1;
		}
		return 0;
	case CFG_CHOICE: {
		const char *c = choices_of(k);
		size_t vl = strlen(v);

		for (int i = 0; c != NULL && *c != '\0'; i++) {
			size_t cl = strcspn(c, "|");

			if (cl == vl && vl > 0 && strncmp(c, v, vl) == 0) {
				*(int *)(base + k->off) = i;
				return 0;
			}
			c += cl + (c[cl] == '|');
		}
		snprintf(err, errlen, "%s: '%s' is not one of %s", k->name, v,
		    choices_of(k));
		return -1;
	}
	case CFG_NAME:
		if (strlen(v) >= k->max) {
			snprintf(err, errlen, "%s: longer than %llu characters",
			    k->name, (unsigned long long)k->max - 1);
			return -1;
		}
		snprintf(base + k->off, k->max, "%s", v);
		return 0;
	case CFG_HTTP: {
		int *on = (int *)(base + k->count_off);
		struct sockaddr_storage *a =
		    (struct sockaddr_storage *)(base + k->off);
		uint64_t port;

		*on = 0;
		if (strcmp(v, "none") == 0 || strcmp(v, "no") == 0)
			return 0;
		/* A bare port stays on loopback: metrics are not for all. */
		if (parse_uint(v, 0, &port) == 0) {
			if (port < 1 || port > 65535) {
				snprintf(err, errlen, "%s: port %s out of range",
				    k->name, v);
				return -1;
			}
			memset(a, 0, sizeof(*a));
			((struct sockaddr_in *)a)->sin_family = AF_INET;
			((struct sockaddr_in *)a)->sin_addr.s_addr =
			    htonl(INADDR_LOOPBACK);
			((struct sockaddr_in *)a)->sin_port = htons((uint16_t)port);
		} else if (addr_parse(v, CONFIG_METRICS_PORT, a, why,
			       sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s (none, PORT or ADDR[:PORT])",
			    k->name, why);
			return -1;
		}
		*on = 1;
		return 0;
	}
	case CFG_LOGLEVEL: {
		int lvl = log_level_parse(v);

		if (lvl < 0) {
			snprintf(err, errlen,
			    "%s: '%s' is not error, warn, info or debug",
			    k->name, v);
			return -1;
		}
		*(int *)(base + k->off) = lvl;
		return 0;
	}
	}
	return -1;
}

static int
is_list(const struct cfg_key *k)
{
	return k->type == CFG_ADDRS || k->type == CFG_NETS;
}

static void
clear_list(struct config *cfg, const struct cfg_key *k)
{
	*(size_t *)((char *)cfg + k->count_off) = 0;
}

static int
apply_defaults(struct config *cfg)
{
	char err[256];

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &keys[i];

		if (is_list(k)) {
			char buf[512], *save = NULL, *tok;

			snprintf(buf, sizeof(buf), "%s", k->def);
			for (tok = strtok_r(buf, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save)) {
				if (set_value(cfg, k, tok, err, sizeof(err)))
					return -1;
			}
		} else if (set_value(cfg, k, k->def, err, sizeof(err)) != 0) {
			return -1;
		}
	}
	return 0;
}

/* A list's first value from a source replaces what came before. */
static void
clear_once(struct config *cfg, const struct cfg_key *k, uint8_t *cleared)
{
	if (is_list(k) && !cleared[k - keys]) {
		clear_list(cfg, k);
		cleared[k - keys] = 1;
	}
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * fgets into a buffer filled with a byte that is neither NUL nor newline
 * first, so a newline after a NUL byte in the line can still be found:
 * the line is refused instead of silently cut at the NUL.
 */
static char *
read_line(char *line, size_t cap, FILE *f)
{
	memset(line, 0xff, cap);
	return fgets(line, (int)cap, f);
}

static int
load_file(struct config *cfg, const char *file, char *err, size_t errlen)
{
	uint8_t cleared[N_KEYS] = {0};
	FILE *f = fopen(file, "r");
	char line[1024], why[256];
	int lineno = 0, rc = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	while (read_line(line, sizeof(line), f) != NULL) {
		const struct cfg_key *k;
		char *s, *eq, *key, *val, *nl;

		lineno++;
		nl = memchr(line, '\n', sizeof(line));
		if (nl != NULL && nl > line + strlen(line)) {
			snprintf(err, errlen, "%s:%d: NUL byte in the line",
			    file, lineno);
			rc = -1;
			break;
		}
		if (nl == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", file,
			    lineno);
			rc = -1;
			break;
		}
		s = strchr(line, '#');
		if (s != NULL)
			*s = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%d: expected 'key = value'",
			    file, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		k = find_key(key, strlen(key));
		if (k == NULL) {
			snprintf(err, errlen, "%s:%d: unknown key '%s'", file,
			    lineno, key);
			rc = -1;
			break;
		}
		clear_once(cfg, k, cleared);
		if (set_value(cfg, k, val, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: %s", file, lineno, why);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: read error", file);
		rc = -1;
	}
	fclose(f);
	return rc;
}

static int
check(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->cache_min_ttl > cfg->cache_max_ttl) {
		snprintf(err, errlen,
		    "cache-min-ttl (%llu) is above cache-max-ttl (%llu)",
		    (unsigned long long)cfg->cache_min_ttl,
		    (unsigned long long)cfg->cache_max_ttl);
		return -1;
	}
	if (cfg->cache_min_ttl > cfg->cache_neg_max_ttl) {
		snprintf(err, errlen, "cache-min-ttl is above cache-neg-max-ttl");
		return -1;
	}
	if (cfg->upstream_timeout > cfg->resolve_timeout) {
		snprintf(err, errlen,
		    "upstream-timeout (%llu ms) is above resolve-timeout "
		    "(%llu ms)",
		    (unsigned long long)cfg->upstream_timeout,
		    (unsigned long long)cfg->resolve_timeout);
		return -1;
	}
	return 0;
}

int
config_load(struct config *cfg, const char *file, int argc,
    char *const *argv, char *err, size_t errlen)
{
	uint8_t cleared[N_KEYS] = {0};
	char why[256];

	memset(cfg, 0, sizeof(*cfg));
	if (apply_defaults(cfg) != 0) {
		snprintf(err, errlen, "internal error: bad default");
		return -1;
	}
	if (file != NULL) {
		snprintf(cfg->file, sizeof(cfg->file), "%s", file);
		if (load_file(cfg, file, err, errlen) != 0)
			return -1;
	}
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *eq;
		const struct cfg_key *k;

		if (strncmp(a, "--", 2) != 0 || (eq = strchr(a, '=')) == NULL) {
			snprintf(err, errlen,
			    "command line: '%s': expected --key=value", a);
			return -1;
		}
		k = find_key(a + 2, (size_t)(eq - a - 2));
		if (k == NULL) {
			snprintf(err, errlen, "command line: unknown option '%.*s'",
			    (int)(eq - a), a);
			return -1;
		}
		clear_once(cfg, k, cleared);
		if (set_value(cfg, k, eq + 1, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "command line: %s", why);
			return -1;
		}
	}
	if (check(cfg, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s%s%s", file != NULL ? file : "",
		    file != NULL ? ": " : "", why);
		return -1;
	}
	return 0;
}

void
config_usage(void)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		char arg[64];

		snprintf(arg, sizeof(arg), "--%s=", keys[i].name);
		fprintf(stderr, "  %-22s %s", arg, keys[i].help);
		if (keys[i].def[0] != '\0')
			fprintf(stderr, " [%s]", keys[i].def);
		fputc('\n', stderr);
	}
}
