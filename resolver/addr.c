#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolver/addr.h"

static int
parse_port(const char *s, uint16_t *port)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

int
addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *out,
    char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_s = NULL;
	uint16_t port = default_port;
	size_t hl;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL) {
			snprintf(err, errlen, "'%s': missing ']'", s);
			return -1;
		}
		hl = (size_t)(close - s - 1);
		if (close[1] == ':')
			port_s = close + 2;
		else if (close[1] != '\0') {
			snprintf(err, errlen, "'%s': junk after ']'", s);
			return -1;
		}
		s++;
	} else {
		const char *colon = strchr(s, ':');

		/* One colon is host:port; more is a bare IPv6 address. */
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			hl = (size_t)(colon - s);
			port_s = colon + 1;
		} else {
			hl = strlen(s);
		}
	}
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not an IP address", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (port_s != NULL && parse_port(port_s, &port) != 0) {
		snprintf(err, errlen, "'%s': bad port", port_s);
		return -1;
	}
	if (strchr(host, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			snprintf(err, errlen, "'%s': not an IP address", host);
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			snprintf(err, errlen, "'%s': not an IP address", host);
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
	return 0;
}

int
addr_net_parse(const char *s, struct addr_net *out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t hl = slash != NULL ? (size_t)(slash - s) : strlen(s);
	/* Compared bytewise: out->bytes is not aligned for struct in6_addr. */
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff};
	unsigned long prefix, max;
	char *end;

	memset(out, 0, sizeof(*out));
	if (hl == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "'%s': not a network", s);
		return -1;
	}
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, out->bytes) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, out->bytes) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "'%s': not an IP address", host);
		return -1;
	}
	prefix = max;
	if (slash != NULL) {
		/* Digits only: strtoul would take "-0" and " 8". */
		prefix = strtoul(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
		    prefix > max) {
			snprintf(err, errlen, "'%s': bad prefix length", s);
			return -1;
		}
	}
	/* ::ffff:a.b.c.d/96+ is an IPv4 network; clients are matched so. */
	if (out->family == AF_INET6 && prefix >= 96 &&
	    memcmp(out->bytes, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(out->bytes, out->bytes + 12, 4);
		memset(out->bytes + 4, 0, 12);
		out->family = AF_INET;
		prefix -= 96;
	}
	out->prefix = (uint8_t)prefix;
	/* Clear host bits so printing and matching agree. */
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;

		if (lo >= prefix)
			out->bytes[i] = 0;
		else if (lo + 8 > prefix)
			out->bytes[i] &= (uint8_t)(0xff << (8 - (prefix - lo)));
	}
	return 0;
}

socklen_t
addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

uint16_t
addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

void
addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(s4->sin_port));
	} else {
		snprintf(buf, cap, "(unknown)");
	}
}

void
addr_net_text(const struct addr_net *n, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	inet_ntop(n->family, n->bytes, host, sizeof(host));
	snprintf(buf, cap, "%s/%u", host, n->prefix);
}

int
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

int
addr_is_wildcard(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
		    &((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

static int
prefix_match(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[full] ^ net[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int
addr_net_contains(const struct addr_net *n, const struct sockaddr *sa)
{
	const uint8_t *bytes;
	int family = sa->sa_family;

	if (family == AF_INET) {
		bytes = (const uint8_t *)&((const struct sockaddr_in *)sa)
			    ->sin_addr;
	} else if (family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		bytes = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			family = AF_INET;
			bytes += 12;
		}
	} else {
		return 0;
	}
	return family == n->family && prefix_match(bytes, n->bytes, n->prefix);
}

int
addr_acl_allows(const struct addr_net *nets, size_t n,
    const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++) {
		if (addr_net_contains(&nets[i], sa))
			return 1;
	}
	return 0;
}
