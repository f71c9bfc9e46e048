/*
 * parasold configuration: one table of keys (name, type, bounds, default),
 * read from a file of "key = value" lines and then from "--key=value"
 * arguments, which win. A list key given on the command line replaces the
 * file's values for that key. Errors carry "file:line: " or
 * "command line: " in front.
 */
#ifndef RESOLVER_CONFIG_H
#define RESOLVER_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "resolver/addr.h"

#include <netinet/in.h>

#define CONFIG_MAX_ADDRS 32
#define CONFIG_MAX_NETS 256
#define CONFIG_NAME_MAX 64

enum sinkhole_mode {
	SINKHOLE_NULL = 0, /* 0.0.0.0 / ::, NODATA for other types */
	SINKHOLE_NXDOMAIN,
	SINKHOLE_NODATA,
	SINKHOLE_REFUSED,
	SINKHOLE_ADDRESS, /* the configured addresses */
};

struct sinkhole {
	enum sinkhole_mode mode;
	int has4;
	int has6;
	struct in_addr a4;
	struct in6_addr a6;
};

struct config {
	char file[PATH_MAX]; /* empty when there is none */
	char resolv_conf[PATH_MAX];
	struct sockaddr_storage listen[CONFIG_MAX_ADDRS];
	size_t n_listen;
	struct sockaddr_storage upstream[CONFIG_MAX_ADDRS];
	size_t n_upstream;
	struct addr_net allow[CONFIG_MAX_NETS];
	size_t n_allow;
	uint64_t cache_size;
	uint64_t cache_min_ttl;
	uint64_t cache_max_ttl;
	uint64_t cache_neg_max_ttl;
	uint64_t upstream_timeout;
	uint64_t resolve_timeout;
	uint64_t tcp_idle_timeout;
	uint64_t tcp_max_clients;
	uint64_t edns_size;
	int log_level;
	char lists_db[PATH_MAX];
	char control[PATH_MAX];
	struct sinkhole sinkhole;
	uint64_t block_ttl;
	uint64_t lists_poll;
	int seed_defaults;
	char stats_db[PATH_MAX]; /* "none": record nothing */
	uint64_t stats_retention;
	uint64_t stats_fold_window;
	int stats_events;
	/* The HTTP metrics endpoint; metrics_on is 0 when it is off. */
	int metrics_on;
	struct sockaddr_storage metrics;
	int doh_canary;
	/* Abuse resistance and process. */
	uint64_t ratelimit;
	uint64_t ratelimit_burst;
	uint64_t ratelimit_prefix;
	uint64_t ratelimit_prefix_burst;
	uint64_t ratelimit_v4_prefix;
	uint64_t ratelimit_v6_prefix;
	uint64_t ratelimit_slots;
	int ratelimit_action; /* CONFIG_RL_REFUSE or CONFIG_RL_DROP */
	struct addr_net ratelimit_exempt[CONFIG_MAX_NETS];
	size_t n_ratelimit_exempt;
	uint64_t tcp_max_per_client;
	uint64_t tcp_first_timeout;
	uint64_t max_pending;
	uint64_t shutdown_timeout;
	char user[CONFIG_NAME_MAX]; /* empty: not set */
	int fail_mode; /* CONFIG_FAIL_CLOSED or CONFIG_FAIL_OPEN */
	uint64_t serve_stale; /* seconds; 0: off */
	uint64_t stale_recheck; /* seconds; 0: every query asks upstream */
};

#define CONFIG_METRICS_PORT 9153

enum { CONFIG_RL_REFUSE = 0, CONFIG_RL_DROP = 1 };
enum { CONFIG_FAIL_CLOSED = 0, CONFIG_FAIL_OPEN = 1 };

/*
 * Fill cfg from defaults, then file (may be NULL), then args (each
 * "--key=value"). Returns 0, or -1 with a message in err.
 */
int config_load(struct config *cfg, const char *file, int argc,
    char *const *argv, char *err, size_t errlen);

/* True when name (without the leading dashes) is a config key. */
int config_is_key(const char *name);

/* Print every key with its default and help text. */
void config_usage(void);

#endif
