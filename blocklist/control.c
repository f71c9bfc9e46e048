#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blocklist/control.h"
#include "blocklist/err.h"

static long
ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

int
control_request(const char *path, const char *request, int timeout_ms,
    char *reply, size_t cap)
{
	struct sockaddr_un sun;
	struct timespec deadline;
	size_t have = 0, len = strlen(request);
	char line[CONTROL_LINE_MAX + 2];
	int fd, rc = BL_ERR;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(reply, cap, "%s: path too long", path);
		return BL_EINVAL;
	}
	if (len + 1 > CONTROL_LINE_MAX) {
		snprintf(reply, cap, "request too long");
		return BL_EINVAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(reply, cap, "socket: %s", strerror(errno));
		return BL_ERR;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(reply, cap, "cannot reach parasold at %s: %s", path,
		    strerror(errno));
		rc = errno == ENOENT ? BL_ENOENT : BL_ERR;
		goto out;
	}
	memcpy(line, request, len);
	line[len] = '\n';
	if (send(fd, line, len + 1, MSG_NOSIGNAL) != (ssize_t)(len + 1)) {
		snprintf(reply, cap, "sending to %s: %s", path, strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long left = ms_left(&deadline);
		ssize_t n;
		char *nl;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			snprintf(reply, cap, "no answer from parasold at %s "
					     "within %d ms",
			    path, timeout_ms);
			goto out;
		}
		n = recv(fd, line + have, sizeof(line) - 1 - have, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(reply, cap, "parasold closed the connection "
					     "without an answer");
			goto out;
		}
		have += (size_t)n;
		line[have] = '\0';
		nl = strchr(line, '\n');
		if (nl != NULL) {
			*nl = '\0';
			break;
		}
		if (have >= sizeof(line) - 1) {
			snprintf(reply, cap, "answer too long");
			goto out;
		}
	}
	snprintf(reply, cap, "%s", line);
	rc = strncmp(line, "ok", 2) == 0 ? 0 : 1;
out:
	close(fd);
	return rc;
}
