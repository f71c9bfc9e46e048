/*
 * Socket addresses and networks: parsing "ADDR[:PORT]", "[V6]:PORT" and
 * "ADDR/PREFIX", printing, comparing, and the client access list.
 */
#ifndef RESOLVER_ADDR_H
#define RESOLVER_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct addr_net {
	int family; /* AF_INET or AF_INET6 */
	uint8_t prefix;
	uint8_t bytes[16];
};

#define ADDR_TEXT_MAX 64

/* Returns 0, or -1 with a reason in err. */
int addr_parse(const char *s, uint16_t default_port,
    struct sockaddr_storage *out, char *err, size_t errlen);
int addr_net_parse(const char *s, struct addr_net *out, char *err,
    size_t errlen);
void addr_text(const struct sockaddr *sa, char *buf, size_t cap);
void addr_net_text(const struct addr_net *n, char *buf, size_t cap);
socklen_t addr_len(const struct sockaddr *sa);
uint16_t addr_port(const struct sockaddr *sa);
/* Same address and port. */
int addr_equal(const struct sockaddr *a, const struct sockaddr *b);
int addr_is_wildcard(const struct sockaddr *sa);
/* IPv4-mapped IPv6 clients are matched as IPv4. */
int addr_net_contains(const struct addr_net *n, const struct sockaddr *sa);
int addr_acl_allows(const struct addr_net *nets, size_t n,
    const struct sockaddr *sa);

#endif
