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
		char line[2048], *words[64], *save = NULL, *w, *hash;
		size_t ll = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
		int nw = 0, first;

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
		for (w = strtok_r(line, " \t\r", &save); w != NULL && nw < 64;
		     w = strtok_r(NULL, " \t\r", &save))
			words[nw++] = w;
		if (nw == 0)
			continue;
		first = is_ip(words[0]) ? 1 : 0;
		if (!first && nw > 1) {
			st->invalid++;
			continue;
		}
		for (int i = first; i < nw; i++) {
			char name[BL_NAME_MAX + 1], reason[128];
			int rc;

			if (first && is_boilerplate(words[i])) {
				st->skipped++;
				continue;
			}
			if (bl_name_normalise(words[i], name, reason,
				sizeof(reason)) != 0) {
				if (st->invalid++ == 0 && whylen > 0)
					snprintf(why, whylen, "line %zu: '%.64s': %s",
					    st->lines, words[i], reason);
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
