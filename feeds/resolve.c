#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ldns/ldns.h>

#include "feeds/resolve.h"

/* "ADDR", "ADDR:PORT", "[ADDR6]:PORT" or bare "ADDR6". */
static int
split_server(const char *s, char *addr, size_t cap, unsigned *port)
{
	const char *colon;
	size_t n;

	*port = 53;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || (size_t)(end - s - 1) >= cap)
			return -1;
		n = (size_t)(end - s - 1);
		memcpy(addr, s + 1, n);
		addr[n] = '\0';
		if (end[1] == ':')
			*port = (unsigned)strtoul(end + 2, NULL, 10);
		else if (end[1] != '\0')
			return -1;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - s);
		if (n >= cap)
			return -1;
		memcpy(addr, s, n);
		addr[n] = '\0';
		*port = (unsigned)strtoul(colon + 1, NULL, 10);
	} else {
		if (strlen(s) >= cap)
			return -1;
		strcpy(addr, s);
	}
	return *port == 0 || *port > 65535 ? -1 : 0;
}

static void
collect(ldns_pkt *p, ldns_rr_type type, char *out, size_t cap)
{
	ldns_rr_list *l = ldns_pkt_rr_list_by_type(p, type,
	    LDNS_SECTION_ANSWER);

	for (size_t i = 0; l != NULL && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(l, i), 0);
		char a[INET6_ADDRSTRLEN];
		size_t len = strlen(out);

		if (rd == NULL ||
		    inet_ntop(type == LDNS_RR_TYPE_A ? AF_INET : AF_INET6,
			ldns_rdf_data(rd), a, sizeof(a)) == NULL)
			continue;
		snprintf(out + len, cap - len,
		    type == LDNS_RR_TYPE_A ? "%s%s" : "%s[%s]",
		    len > 0 ? "," : "", a);
	}
	ldns_rr_list_deep_free(l);
}

int
feed_resolve(const char *const *servers, const char *host, char *out,
    size_t cap, char *err, size_t errlen)
{
	static const ldns_rr_type types[] = {LDNS_RR_TYPE_A,
	    LDNS_RR_TYPE_AAAA};
	ldns_resolver *res = ldns_resolver_new();
	ldns_rdf *name = NULL;
	int rc = -1;

	out[0] = '\0';
	if (errlen > 0)
		err[0] = '\0';
	if (res == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; servers[i] != NULL; i++) {
		char addr[INET6_ADDRSTRLEN + 8];
		unsigned port;
		ldns_rdf *a;

		if (split_server(servers[i], addr, sizeof(addr), &port) != 0) {
			snprintf(err, errlen, "bad DNS server '%s'", servers[i]);
			goto out;
		}
		a = ldns_rdf_new_frm_str(
		    strchr(addr, ':') != NULL ? LDNS_RDF_TYPE_AAAA
					      : LDNS_RDF_TYPE_A,
		    addr);
		if (a == NULL) {
			snprintf(err, errlen, "bad DNS server '%s'", servers[i]);
			goto out;
		}
		ldns_resolver_push_nameserver(res, a);
		ldns_rdf_deep_free(a);
		/* ldns has one port per resolver: the first server's. */
		if (i == 0)
			ldns_resolver_set_port(res, (uint16_t)port);
	}
	ldns_resolver_set_timeout(res, (struct timeval){3, 0});
	ldns_resolver_set_retry(res, 2);
	ldns_resolver_set_recursive(res, true);
	name = ldns_dname_new_frm_str(host);
	if (name == NULL) {
		snprintf(err, errlen, "bad host name '%s'", host);
		goto out;
	}
	for (size_t t = 0; t < 2; t++) {
		ldns_pkt *p = NULL;
		ldns_status s = ldns_resolver_query_status(&p, res, name,
		    types[t], LDNS_RR_CLASS_IN, LDNS_RD);

		if (s != LDNS_STATUS_OK) {
			snprintf(err, errlen, "resolving %s: %s", host,
			    ldns_get_errorstr_by_id(s));
			continue;
		}
		collect(p, types[t], out, cap);
		ldns_pkt_free(p);
	}
	if (out[0] == '\0') {
		if (errlen > 0 && err[0] == '\0')
			snprintf(err, errlen, "%s has no address", host);
		goto out;
	}
	rc = 0;
out:
	ldns_rdf_deep_free(name);
	ldns_resolver_deep_free(res);
	return rc;
}
