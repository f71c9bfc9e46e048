/*
 * parasol healthcheck: one real DNS question over UDP to parasold, for
 * container HEALTHCHECKs, monitoring and load balancers that cannot speak
 * DNS. The default question is the Firefox canary, which parasold answers
 * itself (NXDOMAIN), so the check says whether the daemon answers without
 * depending on the upstreams or the internet. NOERROR and NXDOMAIN are
 * healthy; SERVFAIL, REFUSED, any other rcode, a malformed or mismatched
 * reply, or silence until the timeout are not.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "tools/cli.h"

#define HC_DEFAULT_NAME "use-application-dns.net"
#define HC_DEFAULT_PORT "53"
#define HC_DEFAULT_TIMEOUT_MS 2000

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare V6 address into host/port. */
static int
split_server(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon;
	size_t hl;

	snprintf(port, pcap, "%s", HC_DEFAULT_PORT);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return -1;
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			snprintf(port, pcap, "%s", close + 2);
		s++;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		hl = (size_t)(colon - s);
		snprintf(port, pcap, "%s", colon + 1);
	} else {
		hl = strlen(s);
	}
	if (hl == 0 || hl >= hcap || port[0] == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) < 1 ||
	    atoi(port) > 65535)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	return 0;
}

/*
 * The first "listen" of parasold's config file ($PARASOL_CONFIG), with a
 * wildcard address turned into loopback. 0 when found.
 */
static int
server_from_config(char *out, size_t cap)
{
	const char *path = getenv("PARASOL_CONFIG");
	char line[1024];
	FILE *f;
	int found = -1;

	if (path == NULL || path[0] == '\0' || (f = fopen(path, "r")) == NULL)
		return -1;
	while (found != 0 && fgets(line, sizeof(line), f) != NULL) {
		char *s = line, *eq, *e;

		if ((eq = strchr(s, '#')) != NULL)
			*eq = '\0';
		s += strspn(s, " \t");
		if (strncmp(s, "listen", 6) != 0)
			continue;
		s += 6;
		s += strspn(s, " \t");
		if (*s != '=')
			continue;
		s++;
		s += strspn(s, " \t");
		e = s + strcspn(s, " \t\r\n");
		*e = '\0';
		if (strncmp(s, "0.0.0.0", 7) == 0)
			snprintf(out, cap, "127.0.0.1%s", s + 7);
		else if (strncmp(s, "[::]", 4) == 0)
			snprintf(out, cap, "[::1]%s", s + 4);
		else if (strcmp(s, "::") == 0)
			snprintf(out, cap, "::1");
		else
			snprintf(out, cap, "%s", s);
		found = 0;
	}
	fclose(f);
	return found;
}

static int
unhealthy(const char *server, const char *why)
{
	fprintf(stderr, "unhealthy: %s: %s\n", server, why);
	return CLI_UNHEALTHY;
}

/* A numeric address only: inet_pton, not the inet_aton forms. */
static int
make_addr(const char *host, const char *port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)atoi(port));
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(port));
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

int
cli_healthcheck(const struct cli_opts *o, int argc, char **argv)
{
	char host[256], port[16], cfg_server[300], detail[128];
	const char *server = o->server, *name = o->name;
	struct sockaddr_storage ss;
	socklen_t ss_len = 0;
	ldns_pkt *q = NULL, *r = NULL;
	ldns_rdf *qname = NULL;
	uint8_t *wire = NULL, buf[65536];
	size_t wire_len = 0;
	long timeout_ms = HC_DEFAULT_TIMEOUT_MS;
	uint64_t t0, deadline;
	uint16_t id;
	int fd = -1, rc = CLI_UNHEALTHY;
	ldns_pkt_rcode rcode;
	char *rcode_text;

	if (argc > 0) {
		fprintf(
		    stderr, "parasol healthcheck: unexpected '%s'\n", argv[0]);
		return CLI_USAGE;
	}
	if (server == NULL)
		server = server_from_config(cfg_server, sizeof(cfg_server)) == 0
		    ? cfg_server
		    : "127.0.0.1:" HC_DEFAULT_PORT;
	if (name == NULL)
		name = HC_DEFAULT_NAME;
	if (o->timeout != NULL) {
		char *end;

		errno = 0;
		timeout_ms = strtol(o->timeout, &end, 10);
		if (errno != 0 || end == o->timeout || *end != '\0' ||
		    timeout_ms < 1 || timeout_ms > 60000) {
			fprintf(stderr,
			    "parasol healthcheck: --timeout=%s: milliseconds, "
			    "1 to 60000\n",
			    o->timeout);
			return CLI_USAGE;
		}
	}
	if (split_server(server, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr,
		    "parasol healthcheck: --server=%s: expected ADDR[:PORT]\n",
		    server);
		return CLI_USAGE;
	}
	if (make_addr(host, port, &ss, &ss_len) != 0) {
		fprintf(stderr,
		    "parasol healthcheck: --server=%s: not an IP address\n",
		    server);
		return CLI_USAGE;
	}
	if (ldns_str2rdf_dname(&qname, name) != LDNS_STATUS_OK) {
		fprintf(stderr, "parasol healthcheck: --name=%s: not a name\n",
		    name);
		rc = CLI_USAGE;
		goto out;
	}
	q = ldns_pkt_query_new(
	    qname, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD);
	qname = NULL; /* owned by q now */
	if (q == NULL) {
		rc = unhealthy(server, "out of memory");
		goto out;
	}
	ldns_pkt_set_random_id(q);
	id = ldns_pkt_id(q);
	if (ldns_pkt2wire(&wire, q, &wire_len) != LDNS_STATUS_OK) {
		rc = unhealthy(server, "cannot build the query");
		goto out;
	}
	/* Connected, so an ICMP "port unreachable" comes back as an error
	 * and only the server's own address can answer. */
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, ss_len) != 0 ||
	    send(fd, wire, wire_len, 0) != (ssize_t)wire_len) {
		rc = unhealthy(server, strerror(errno));
		goto out;
	}
	t0 = mono_ms();
	deadline = t0 + (uint64_t)timeout_ms;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint64_t now = mono_ms();
		ssize_t n;

		if (now >= deadline ||
		    poll(&pfd, 1, (int)(deadline - now)) == 0) {
			snprintf(detail, sizeof(detail),
			    "no answer within %ld ms", timeout_ms);
			rc = unhealthy(server, detail);
			goto out;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = unhealthy(server, strerror(errno));
			goto out;
		}
		/* Not ours (a late answer to an earlier check): keep waiting.
		 */
		if (n < 2 || ((buf[0] << 8) | buf[1]) != id)
			continue;
		if (ldns_wire2pkt(&r, buf, (size_t)n) != LDNS_STATUS_OK) {
			rc = unhealthy(server, "malformed answer");
			goto out;
		}
		break;
	}
	if (!ldns_pkt_qr(r) || ldns_pkt_qdcount(r) != 1 ||
	    ldns_dname_compare(
		ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r), 0)),
		ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0))) != 0) {
		rc =
		    unhealthy(server, "the answer does not match the question");
		goto out;
	}
	rcode = ldns_pkt_get_rcode(r);
	rcode_text = ldns_pkt_rcode2str(rcode);
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		snprintf(detail, sizeof(detail), "answered %s",
		    rcode_text != NULL ? rcode_text : "an unknown rcode");
		rc = unhealthy(server, detail);
		free(rcode_text);
		goto out;
	}
	printf("healthy: %s answered %s for %s in %llu ms\n", server,
	    rcode_text != NULL ? rcode_text : "?", name,
	    (unsigned long long)(mono_ms() - t0));
	free(rcode_text);
	rc = CLI_OK;
out:
	if (fd >= 0)
		close(fd);
	ldns_rdf_deep_free(qname);
	ldns_pkt_free(q);
	ldns_pkt_free(r);
	free(wire);
	return rc;
}
