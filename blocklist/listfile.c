#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "blocklist/listfile.h"
#include "blocklist/name.h"

/* Names hosts files map to themselves, not entries to block. */
static const char *const hosts_boilerplate[] = {
	"localhost", "localhost.localdomain", "local", "broadcasthost",
	"ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
	"ip6-allnodes", "ip6-allrouters", "ip6-allhosts", "0.0.0.0",
};

static int
is_ip(const char *w)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, w, buf) == 1 ||
	    inet_pton(AF_INET6, w, buf) == 1;
}

static int
is_boilerplate(const char *w)
{
	for (size_t i = 0;
	     i < sizeof(hosts_boilerplate) / sizeof(hosts_boilerplate[0]); i++) {
		if (strcasecmp(w, hosts_boilerplate[i]) == 0)
			return 1;
	}
	return 0;
}

int
bl_list_parse(const char *text, size_t len, bl_list_emit_cb emit, void *arg,
    struct bl_list_stats *st, char *why, size_t whylen)
{
	const char *p = text, *end = text + len;

	memset(st, 0, sizeof(*st));
	if (whylen > 0)
		why[0] = '\0';
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		char line[2048], *save = NULL, *w, *hash;
		size_t ll = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
		int hosts;

		st->lines++;
		if (ll >= sizeof(line)) {
			st->invalid++;
			p = eol != NULL ? eol + 1 : end;
			continue;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = eol != NULL ? eol + 1 : end;
		hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		w = strtok_r(line, " \t\r", &save);
		if (w == NULL)
			continue;
		hosts = is_ip(w);
		if (hosts) {
			w = strtok_r(NULL, " \t\r", &save);
		} else if (strtok_r(NULL, " \t\r", &save) != NULL) {
			/* Two words without an address: not a domain list. */
			if (st->invalid++ == 0 && whylen > 0)
				snprintf(why, whylen,
				    "line %zu: more than one name", st->lines);
			continue;
		}
		for (; w != NULL; w = strtok_r(NULL, " \t\r", &save)) {
			char name[BL_NAME_MAX + 1], reason[128];
			int rc;

			if (hosts && is_boilerplate(w)) {
				st->skipped++;
				continue;
			}
			if (bl_name_normalise(w, name, reason,
				sizeof(reason)) != 0) {
				if (st->invalid++ == 0 && whylen > 0)
					snprintf(why, whylen, "line %zu: '%.64s': %s",
					    st->lines, w, reason);
				continue;
			}
			st->names++;
			rc = emit(name, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}
