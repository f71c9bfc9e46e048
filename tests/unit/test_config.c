#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "resolver/addr.h"
#include "resolver/config.h"
#include "resolver/log.h"

/* The config is large (PATH_MAX buffers, 256 networks): keep it off the
 * stack. */
static struct config cfg;
static char err[512];
static char path[64];

static void
write_file(const char *text)
{
	int fd;
	size_t len = strlen(text);

	snprintf(path, sizeof(path), "/tmp/parasold-config-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static int
teardown(void **state)
{
	if (path[0] != '\0')
		unlink(path);
	path[0] = '\0';
	return 0;
}

static int
load(const char *file, int argc, char **argv)
{
	err[0] = '\0';
	return config_load(&cfg, file, argc, argv, err, sizeof(err));
}

/* Load, expect failure, and return the message. */
static const char *
load_err(const char *file, int argc, char **argv)
{
	assert_int_equal(load(file, argc, argv), -1);
	assert_true(err[0] != '\0');
	return err;
}

static int
load_args(char **argv)
{
	int argc = 0;

	while (argv[argc] != NULL)
		argc++;
	return load(NULL, argc, argv);
}

static const char *
load_args_err(char **argv)
{
	assert_int_equal(load_args(argv), -1);
	assert_true(err[0] != '\0');
	return err;
}

static const char *
addr_str(const struct sockaddr_storage *ss)
{
	static char buf[ADDR_TEXT_MAX];

	addr_text((const struct sockaddr *)ss, buf, sizeof(buf));
	return buf;
}

static int
has_net(const char *text)
{
	char buf[ADDR_TEXT_MAX];

	for (size_t i = 0; i < cfg.n_allow; i++) {
		addr_net_text(&cfg.allow[i], buf, sizeof(buf));
		if (strcmp(buf, text) == 0)
			return 1;
	}
	return 0;
}

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
test_defaults(void **state)
{
	assert_int_equal(load(NULL, 0, NULL), 0);
	assert_string_equal(cfg.file, "");
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(addr_str(&cfg.listen[0]), "127.0.0.1:53");
	assert_string_equal(addr_str(&cfg.listen[1]), "[::1]:53");
	assert_int_equal(cfg.n_upstream, 0);
	assert_string_equal(cfg.resolv_conf, "/etc/resolv.conf");
	assert_int_equal(cfg.n_allow, 8);
	assert_true(has_net("127.0.0.0/8"));
	assert_true(has_net("::1/128"));
	assert_true(has_net("10.0.0.0/8"));
	assert_true(has_net("172.16.0.0/12"));
	assert_true(has_net("192.168.0.0/16"));
	assert_true(has_net("fc00::/7"));
	assert_true(has_net("169.254.0.0/16"));
	assert_true(has_net("fe80::/10"));
	assert_int_equal(cfg.cache_size, 32u << 20);
	assert_int_equal(cfg.cache_min_ttl, 0);
	assert_int_equal(cfg.cache_max_ttl, 86400);
	assert_int_equal(cfg.cache_neg_max_ttl, 3600);
	assert_int_equal(cfg.upstream_timeout, 800);
	assert_int_equal(cfg.resolve_timeout, 3000);
	assert_int_equal(cfg.tcp_idle_timeout, 10000);
	assert_int_equal(cfg.tcp_max_clients, 256);
	assert_int_equal(cfg.edns_size, 1232);
	assert_int_equal(cfg.log_level, LOG_LVL_INFO);
	assert_string_equal(cfg.lists_db, "/var/lib/parasol/lists.db");
	assert_string_equal(cfg.control, "/run/parasol/parasold.sock");
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_NULL);
	assert_int_equal(cfg.block_ttl, 10);
	assert_int_equal(cfg.lists_poll, 5000);
	assert_int_equal(cfg.seed_defaults, 1);
}

static void
test_file(void **state)
{
	write_file("# parasold test config\n"
		   "\n"
		   "listen = 127.0.0.1:5300   # loopback only\n"
		   "   listen=[::1]:5300\n"
		   "upstream = 192.0.2.1\n"
		   "upstream = [2001:db8::53]:5353\n"
		   "\t# indented comment\n"
		   "allow-net = 192.0.2.0/24\n"
		   "cache-size = 8M\n"
		   "cache-min-ttl = 5\n"
		   "resolv-conf = /run/resolv.conf\n"
		   "log-level = debug\n"
		   "edns-size = 1400"); /* no final newline */
	assert_int_equal(load(path, 0, NULL), 0);
	assert_string_equal(cfg.file, path);
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(addr_str(&cfg.listen[0]), "127.0.0.1:5300");
	assert_string_equal(addr_str(&cfg.listen[1]), "[::1]:5300");
	assert_int_equal(cfg.n_upstream, 2);
	assert_string_equal(addr_str(&cfg.upstream[0]), "192.0.2.1:53");
	assert_string_equal(addr_str(&cfg.upstream[1]),
	    "[2001:db8::53]:5353");
	/* A list in the file replaces the default list. */
	assert_int_equal(cfg.n_allow, 1);
	assert_true(has_net("192.0.2.0/24"));
	assert_int_equal(cfg.cache_size, 8u << 20);
	assert_int_equal(cfg.cache_min_ttl, 5);
	assert_string_equal(cfg.resolv_conf, "/run/resolv.conf");
	assert_int_equal(cfg.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg.edns_size, 1400);
	/* Untouched keys keep their defaults. */
	assert_int_equal(cfg.cache_max_ttl, 86400);
}

static void
test_command_line_overrides_file(void **state)
{
	char *argv[] = {"--edns-size=4096", "--listen=127.0.0.2:53",
	    "--listen=127.0.0.3", "--cache-min-ttl=0"};

	write_file("listen = 127.0.0.1:5300\n"
		   "listen = [::1]:5300\n"
		   "upstream = 192.0.2.1\n"
		   "edns-size = 1400\n"
		   "cache-min-ttl = 5\n");
	assert_int_equal(load(path, 4, argv), 0);
	assert_int_equal(cfg.edns_size, 4096);
	assert_int_equal(cfg.cache_min_ttl, 0);
	/* The command line's list replaces the file's, not appends. */
	assert_int_equal(cfg.n_listen, 2);
	assert_string_equal(addr_str(&cfg.listen[0]), "127.0.0.2:53");
	assert_string_equal(addr_str(&cfg.listen[1]), "127.0.0.3:53");
	/* A list not on the command line stays as the file has it. */
	assert_int_equal(cfg.n_upstream, 1);
	assert_string_equal(addr_str(&cfg.upstream[0]), "192.0.2.1:53");
}

static void
test_command_line_list_replaces_default(void **state)
{
	char *argv[] = {"--allow-net=192.0.2.0/24", "--allow-net=2001:db8::/32",
	    NULL};

	assert_int_equal(load_args(argv), 0);
	assert_int_equal(cfg.n_allow, 2);
	assert_true(has_net("192.0.2.0/24"));
	assert_true(has_net("2001:db8::/32"));
	assert_false(has_net("10.0.0.0/8"));
}

static void
test_unknown_key(void **state)
{
	char prefix[96];
	char *argv[] = {"--no-such-key=1", NULL};

	write_file("# comment\n"
		   "edns-size = 1400\n"
		   "no-such-key = 1\n");
	load_err(path, 0, NULL);
	snprintf(prefix, sizeof(prefix), "%s:3:", path);
	assert_true(starts_with(err, prefix));
	assert_non_null(strstr(err, "no-such-key"));

	assert_true(starts_with(load_args_err(argv), "command line:"));
	assert_non_null(strstr(err, "no-such-key"));
}

static void
test_file_syntax_errors(void **state)
{
	char prefix[96];

	write_file("edns-size = 1400\n"
		   "just some words\n");
	load_err(path, 0, NULL);
	snprintf(prefix, sizeof(prefix), "%s:2:", path);
	assert_true(starts_with(err, prefix));
	teardown(state);

	write_file("edns-size = 1400\n"
		   "\n"
		   "cache-min-ttl = soon\n");
	load_err(path, 0, NULL);
	snprintf(prefix, sizeof(prefix), "%s:3:", path);
	assert_true(starts_with(err, prefix));
	assert_non_null(strstr(err, "cache-min-ttl"));
	teardown(state);

	load_err("/nonexistent/parasold.conf", 0, NULL);
	assert_true(starts_with(err, "/nonexistent/parasold.conf"));

	/* A NUL byte inside a line: said so, not "line too long" and not
	 * read as the text before it (found with tests/fuzz/fuzz_config). */
	{
		static const char text[] = "edns-size = 1400\n"
					   "listen = 127.0.0.1\0:5353\n"
					   "log-level = debug\n";
		int fd;

		snprintf(path, sizeof(path), "/tmp/parasold-config-XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, sizeof(text) - 1),
		    (ssize_t)sizeof(text) - 1);
		close(fd);
		load_err(path, 0, NULL);
		snprintf(prefix, sizeof(prefix), "%s:2: NUL byte", path);
		assert_true(starts_with(err, prefix));
		teardown(state);
	}

	/* A last line without a newline after a longer one is no NUL. */
	write_file("listen = 127.0.0.1:5353\nedns-size=1400");
	assert_int_equal(load(path, 0, NULL), 0);
	assert_int_equal(cfg.edns_size, 1400);
	teardown(state);
}

static void
test_bad_values(void **state)
{
	static const char *const bad[] = {
		"--edns-size=",
		"--edns-size=12x",
		"--edns-size=-1",
		"--edns-size= 1232",
		"--edns-size=1k", /* suffixes are for sizes only */
		"--edns-size=99999999999999999999999",
		"--cache-size=32X",
		"--cache-size=M",
		"--listen=localhost",
		"--listen=127.0.0.1:0",
		"--listen=127.0.0.1:65536",
		"--upstream=[::1",
		"--allow-net=10.0.0.0/33",
		"--allow-net=10.0.0.0/",
		"--log-level=verbose",
		"--resolv-conf=",
		"edns-size=1232",
		"--edns-size",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {(char *)bad[i], NULL};

		load_args_err(argv);
		if (!starts_with(err, "command line:"))
			fail_msg("%s: '%s'", bad[i], err);
	}
}

static void
test_range(void **state)
{
	static const char *const out[] = {
		"--edns-size=511",
		"--edns-size=4097",
		"--cache-max-ttl=0",
		"--cache-max-ttl=604801",
		"--upstream-timeout=9",
		"--tcp-max-clients=0",
		"--cache-size=1k",
		"--cache-size=65535",
		"--cache-size=65G",
	};
	static const char *const in[] = {
		"--edns-size=512",
		"--edns-size=4096",
		"--cache-max-ttl=604800",
		"--cache-size=65536",
		"--cache-size=64G",
	};

	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		char *argv[] = {(char *)out[i], NULL};

		load_args_err(argv);
		if (strstr(err, "out of range") == NULL)
			fail_msg("%s: '%s'", out[i], err);
	}
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char *argv[] = {(char *)in[i], NULL};

		if (load_args(argv) != 0)
			fail_msg("%s: '%s'", in[i], err);
	}
}

static void
test_size_suffixes(void **state)
{
	static const struct {
		const char *arg;
		uint64_t bytes;
	} cases[] = {
		{"--cache-size=32M", 32u << 20},
		{"--cache-size=32m", 32u << 20},
		{"--cache-size=32MB", 32u << 20},
		{"--cache-size=64k", 64u << 10},
		{"--cache-size=128K", 128u << 10},
		{"--cache-size=2G", (uint64_t)2 << 30},
		{"--cache-size=1000000", 1000000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {(char *)cases[i].arg, NULL};

		if (load_args(argv) != 0)
			fail_msg("%s: '%s'", cases[i].arg, err);
		assert_int_equal(cfg.cache_size, cases[i].bytes);
	}
}

static void
test_cross_checks(void **state)
{
	char *min_above_max[] = {"--cache-min-ttl=100", "--cache-max-ttl=50",
	    NULL};
	char *min_eq_max[] = {"--cache-min-ttl=50", "--cache-max-ttl=50",
	    NULL};
	char *min_above_neg[] = {"--cache-min-ttl=7200", NULL};
	char *up_above_total[] = {"--upstream-timeout=5000",
	    "--resolve-timeout=4000", NULL};
	char *up_eq_total[] = {"--upstream-timeout=4000",
	    "--resolve-timeout=4000", NULL};

	assert_non_null(strstr(load_args_err(min_above_max), "cache-min-ttl"));
	assert_int_equal(load_args(min_eq_max), 0);
	assert_non_null(strstr(load_args_err(min_above_neg), "cache-min-ttl"));
	assert_non_null(
	    strstr(load_args_err(up_above_total), "upstream-timeout"));
	assert_int_equal(load_args(up_eq_total), 0);

	/* The same checks apply to what a file sets. */
	write_file("cache-min-ttl = 100\n"
		   "cache-max-ttl = 50\n");
	assert_non_null(strstr(load_err(path, 0, NULL), "cache-min-ttl"));
}

static void
test_too_many_addresses(void **state)
{
	char args[CONFIG_MAX_ADDRS + 1][32];
	char *argv[CONFIG_MAX_ADDRS + 1];

	for (int i = 0; i <= CONFIG_MAX_ADDRS; i++) {
		snprintf(args[i], sizeof(args[i]), "--listen=127.0.0.%d", i + 1);
		argv[i] = args[i];
	}
	assert_int_equal(load(NULL, CONFIG_MAX_ADDRS, argv), 0);
	assert_int_equal(cfg.n_listen, CONFIG_MAX_ADDRS);
	load_err(NULL, CONFIG_MAX_ADDRS + 1, argv);
	assert_true(starts_with(err, "command line:"));
}

static void
test_sinkhole(void **state)
{
	static const char *const bad[] = {
		"--sinkhole=",
		"--sinkhole=NULL",
		"--sinkhole=block",
		"--sinkhole=192.0.2.1,192.0.2.2",
		"--sinkhole=::1,::2",
		"--sinkhole=192.0.2.1,",
		"--sinkhole=192.0.2.1,::1,::2",
		"--sinkhole=192.0.2.0/24",
	};
	char *nx[] = {"--sinkhole=nxdomain", NULL};
	char *nodata[] = {"--sinkhole=nodata", NULL};
	char *refused[] = {"--sinkhole=refused", NULL};
	char *v4[] = {"--sinkhole=192.0.2.1", NULL};
	char *both[] = {"--sinkhole=2001:db8::1,192.0.2.1", NULL};
	char *last_wins[] = {"--sinkhole=192.0.2.1", "--sinkhole=null", NULL};
	struct in_addr a4;
	struct in6_addr a6;

	assert_int_equal(load_args(nx), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_NXDOMAIN);
	assert_int_equal(load_args(nodata), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_NODATA);
	assert_int_equal(load_args(refused), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_REFUSED);

	inet_pton(AF_INET, "192.0.2.1", &a4);
	inet_pton(AF_INET6, "2001:db8::1", &a6);
	assert_int_equal(load_args(v4), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_ADDRESS);
	assert_true(cfg.sinkhole.has4);
	assert_false(cfg.sinkhole.has6);
	assert_memory_equal(&cfg.sinkhole.a4, &a4, sizeof(a4));
	assert_int_equal(load_args(both), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_ADDRESS);
	assert_true(cfg.sinkhole.has4);
	assert_true(cfg.sinkhole.has6);
	assert_memory_equal(&cfg.sinkhole.a4, &a4, sizeof(a4));
	assert_memory_equal(&cfg.sinkhole.a6, &a6, sizeof(a6));
	assert_int_equal(load_args(last_wins), 0);
	assert_int_equal(cfg.sinkhole.mode, SINKHOLE_NULL);
	assert_false(cfg.sinkhole.has4);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {(char *)bad[i], NULL};

		load_args_err(argv);
		if (!starts_with(err, "command line: sinkhole"))
			fail_msg("%s: '%s'", bad[i], err);
	}
}

static void
test_bool(void **state)
{
	static const struct {
		const char *arg;
		int value;
	} good[] = {
		{"--seed-defaults=yes", 1},
		{"--seed-defaults=true", 1},
		{"--seed-defaults=1", 1},
		{"--seed-defaults=no", 0},
		{"--seed-defaults=false", 0},
		{"--seed-defaults=0", 0},
	};
	char *bad[] = {"--seed-defaults=maybe", NULL};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *argv[] = {(char *)good[i].arg, NULL};

		if (load_args(argv) != 0)
			fail_msg("%s: '%s'", good[i].arg, err);
		assert_int_equal(cfg.seed_defaults, good[i].value);
	}
	assert_true(starts_with(load_args_err(bad), "command line:"));
}

static void
test_is_key(void **state)
{
	assert_true(config_is_key("listen"));
	assert_true(config_is_key("cache-size=1M"));
	assert_true(config_is_key("log-level"));
	assert_false(config_is_key("liste"));
	assert_false(config_is_key("listen-more"));
	assert_false(config_is_key("bogus=1"));
	assert_false(config_is_key(""));
}

static void
test_hardening_keys(void **state)
{
	char *none[] = {"--ratelimit-exempt=none", NULL};
	char *two[] = {"--ratelimit-exempt=192.0.2.0/24",
	    "--ratelimit-action=drop", "--fail-mode=open", "--user=nobody",
	    NULL};
	char *bad_action[] = {"--ratelimit-action=slow", NULL};
	char *bad_mode[] = {"--fail-mode=maybe", NULL};
	char *bad_prefix[] = {"--ratelimit-v4-prefix=33", NULL};

	assert_int_equal(load_args((char *[]){NULL}), 0);
	assert_int_equal(cfg.ratelimit, 200);
	assert_int_equal(cfg.ratelimit_prefix, 10000);
	assert_int_equal(cfg.ratelimit_v4_prefix, 24);
	assert_int_equal(cfg.ratelimit_v6_prefix, 56);
	assert_int_equal(cfg.ratelimit_action, CONFIG_RL_REFUSE);
	assert_int_equal(cfg.fail_mode, CONFIG_FAIL_CLOSED);
	assert_int_equal(cfg.n_ratelimit_exempt, 2);
	assert_string_equal(cfg.user, "");
	/* "none" empties a list instead of falling back to its default. */
	assert_int_equal(load_args(none), 0);
	assert_int_equal(cfg.n_ratelimit_exempt, 0);
	assert_int_equal(load_args(two), 0);
	assert_int_equal(cfg.n_ratelimit_exempt, 1);
	assert_int_equal(cfg.ratelimit_action, CONFIG_RL_DROP);
	assert_int_equal(cfg.fail_mode, CONFIG_FAIL_OPEN);
	assert_string_equal(cfg.user, "nobody");
	assert_non_null(strstr(load_args_err(bad_action), "refuse|drop"));
	assert_non_null(strstr(load_args_err(bad_mode), "closed|open"));
	assert_non_null(strstr(load_args_err(bad_prefix), "out of range"));
	/* In a file too: the file's first value replaces the default. */
	write_file("ratelimit-exempt = none\n");
	assert_int_equal(load(path, 0, NULL), 0);
	assert_int_equal(cfg.n_ratelimit_exempt, 0);
	/* Not where an empty list would refuse everyone (found by
	 * fuzz_config). */
	write_file("ratelimit-exempt = none\nallow-net = none\n");
	assert_int_equal(load(path, 0, NULL), -1);
	assert_non_null(strstr(err, "allow-net: cannot be none"));
	assert_int_equal(load_args((char *[]){"--allow-net=none", NULL}),
	    -1);
}

static void
test_metrics(void **state)
{
	char *port[] = {"--metrics=9200", NULL};
	char *v4[] = {"--metrics=10.0.0.5", NULL};
	char *v6[] = {"--metrics=[::1]:9300", NULL};
	char *off[] = {"--metrics=none", NULL};
	char *bad[] = {"--metrics=localhost:9153", NULL};
	char *zero[] = {"--metrics=0", NULL};

	assert_int_equal(load(NULL, 0, NULL), 0);
	assert_int_equal(cfg.metrics_on, 0);
	assert_int_equal(cfg.doh_canary, 1);
	/* A bare port is loopback; never a wildcard unless asked. */
	assert_int_equal(load_args(port), 0);
	assert_int_equal(cfg.metrics_on, 1);
	assert_string_equal(addr_str(&cfg.metrics), "127.0.0.1:9200");
	assert_int_equal(load_args(v4), 0);
	assert_string_equal(addr_str(&cfg.metrics), "10.0.0.5:9153");
	assert_int_equal(load_args(v6), 0);
	assert_string_equal(addr_str(&cfg.metrics), "[::1]:9300");
	assert_int_equal(load_args(off), 0);
	assert_int_equal(cfg.metrics_on, 0);
	assert_true(starts_with(load_args_err(bad), "command line: metrics:"));
	assert_true(starts_with(load_args_err(zero), "command line: metrics:"));
	write_file("metrics = 127.0.0.1:9400\ndoh-canary = no\n");
	assert_int_equal(load(path, 0, NULL), 0);
	assert_string_equal(addr_str(&cfg.metrics), "127.0.0.1:9400");
	assert_int_equal(cfg.doh_canary, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
		T(test_defaults),
		T(test_file),
		T(test_command_line_overrides_file),
		T(test_command_line_list_replaces_default),
		T(test_unknown_key),
		T(test_file_syntax_errors),
		T(test_bad_values),
		T(test_range),
		T(test_size_suffixes),
		T(test_cross_checks),
		T(test_too_many_addresses),
		T(test_sinkhole),
		T(test_bool),
		T(test_is_key),
		T(test_hardening_keys),
		T(test_metrics),
#undef T
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
