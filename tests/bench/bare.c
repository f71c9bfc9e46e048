/*
 * bench-bare: the floor of the cached-answer benchmark (tests/bench/run.sh).
 *
 *   bench-bare PORT
 *
 * Binds UDP 127.0.0.1:PORT, then loops: recvmmsg() a batch of datagrams,
 * set the QR bit of each one in place (nothing else is parsed or changed)
 * and sendmmsg() every datagram back to its sender.  The answer is the query
 * echoed as a response (NOERROR, no answer records).  No DNS work at all:
 * whatever CPU time it spends per query is the cost of the system calls and
 * the kernel's loopback UDP path, which any server pays too.
 *
 * Single-threaded, one socket, blocking.  Stops on SIGTERM/SIGINT (default
 * action).  Only loopback: the address is fixed to 127.0.0.1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define BATCH 32
#define BUFSZ 4096

static unsigned char bufs[BATCH][BUFSZ];
static struct sockaddr_in peers[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

static void prepare(void)
{
	for (int i = 0; i < BATCH; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = BUFSZ;
		memset(&msgs[i], 0, sizeof msgs[i]);
		msgs[i].msg_hdr.msg_name = &peers[i];
		msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	char *end = NULL;
	long port = strtol(argv[1], &end, 10);
	if (end == argv[1] || *end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "bench-bare: bad port '%s'\n", argv[1]);
		return 2;
	}

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("bench-bare: socket");
		return 1;
	}
	int sz = 4 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		perror("bench-bare: bind");
		return 1;
	}
	fprintf(stderr, "bench-bare: listening on 127.0.0.1@%ld batch=%d\n",
	    port, BATCH);

	prepare();
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iovs[i].iov_len = BUFSZ;
			msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bench-bare: recvmmsg");
			return 1;
		}
		int k = 0;
		for (int i = 0; i < n; i++) {
			unsigned int len = msgs[i].msg_len;
			if (len < 12 || (bufs[i][2] & 0x80))
				continue; /* not a DNS header, or already a response */
			bufs[i][2] |= 0x80; /* QR */
			if (k != i) {
				/* compact the batch: reuse slot k for datagram i */
				memcpy(bufs[k], bufs[i], len);
				peers[k] = peers[i];
				msgs[k].msg_hdr.msg_namelen =
				    msgs[i].msg_hdr.msg_namelen;
			}
			iovs[k].iov_len = len;
			k++;
		}
		int off = 0;
		while (off < k) {
			int m = sendmmsg(fd, msgs + off, (unsigned int)(k - off), 0);
			if (m < 0) {
				if (errno == EINTR)
					continue;
				/* e.g. ENOBUFS: drop the rest of this batch */
				break;
			}
			off += m;
		}
	}
}
