#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "blocklist/match.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/notify.h"

/* How often STATUS= is refreshed while running. */
#define STATUS_EVERY_MS 10000

static struct {
	struct daemon *d;
	int active; /* $NOTIFY_SOCKET was set at notify_ready */
	int stopping;
	int reloading;
	uv_timer_t watchdog;
	uv_timer_t status;
	uint64_t last_ms, last_q;
	double qps;
	char reload_err[160];
} nt;

int
notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen;
	size_t len;
	ssize_t n;
	int fd, err = 0;

	if (path == NULL || path[0] == '\0')
		return 0;
	len = strlen(path);
	/* '@' is systemd's spelling of a leading NUL: an abstract name. */
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&sa, salen);
	if (n < 0)
		err = -errno;
	close(fd);
	return err < 0 ? err : 1;
}

/* Log a failure once per kind of message, not on every ping. */
static void
send_logged(const char *msg)
{
	static int warned;
	int rc = notify_send(msg);

	if (rc < 0 && !warned) {
		warned = 1;
		log_warn(
		    "notify: cannot reach $NOTIFY_SOCKET: %s", strerror(-rc));
	}
}

static void
status_text(char *buf, size_t cap)
{
	struct daemon *d = nt.d;
	size_t names =
	    d->policy.snap != NULL ? bl_snapshot_names(d->policy.snap) : 0;
	int n;

	n = snprintf(buf, cap,
	    "STATUS=%zu names blocked (lists generation %llu); %llu queries, "
	    "%.1f/s, %llu blocked",
	    names, (unsigned long long)d->policy.have_gen,
	    (unsigned long long)d->ctr.queries, nt.qps,
	    (unsigned long long)(d->ctr.blocked + d->ctr.blocked_cname));
	if (nt.reload_err[0] != '\0' && n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, "; last reload failed: %s",
		    nt.reload_err);
}

static void
status_cb(uv_timer_t *t)
{
	struct daemon *d = nt.d;
	uint64_t now = daemon_now(d);
	char msg[512];

	if (now > nt.last_ms)
		nt.qps = (double)(d->ctr.queries - nt.last_q) * 1000.0 /
		    (double)(now - nt.last_ms);
	nt.last_ms = now;
	nt.last_q = d->ctr.queries;
	if (nt.stopping)
		return;
	status_text(msg, sizeof(msg));
	send_logged(msg);
}

static void
watchdog_cb(uv_timer_t *t)
{
	send_logged("WATCHDOG=1");
}

/*
 * The watchdog interval in ms from $WATCHDOG_USEC, or 0 when the service
 * manager asked for none, or asked another process ($WATCHDOG_PID).
 */
static uint64_t
watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long us;
	char *end;

	if (usec == NULL || usec[0] == '\0')
		return 0;
	if (pid != NULL && pid[0] != '\0') {
		errno = 0;
		if (strtoll(pid, &end, 10) != (long long)getpid() ||
		    *end != '\0' || errno != 0)
			return 0;
	}
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || us == 0)
		return 0;
	/* Half the interval, as sd_watchdog_enabled(3) advises. */
	return us / 2000 > 0 ? us / 2000 : 1;
}

void
notify_ready(struct daemon *d)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	char msg[600];
	uint64_t wd;

	if (sock == NULL || sock[0] == '\0')
		return;
	nt.d = d;
	nt.active = 1;
	nt.last_ms = daemon_now(d);
	nt.last_q = d->ctr.queries;
	snprintf(msg, sizeof(msg), "READY=1\n");
	status_text(msg + strlen(msg), sizeof(msg) - strlen(msg));
	send_logged(msg);
	/* Neither timer keeps the loop alive: stopping needs no help here,
	 * and daemon_clear closes them with every other handle. */
	uv_timer_init(d->loop, &nt.status);
	uv_timer_start(&nt.status, status_cb, STATUS_EVERY_MS, STATUS_EVERY_MS);
	uv_unref((uv_handle_t *)&nt.status);
	uv_timer_init(d->loop, &nt.watchdog);
	wd = watchdog_ms();
	if (wd > 0) {
		send_logged("WATCHDOG=1");
		uv_timer_start(&nt.watchdog, watchdog_cb, wd, wd);
		log_info("notify: watchdog ping every %llu ms",
		    (unsigned long long)wd);
	}
	uv_unref((uv_handle_t *)&nt.watchdog);
}

void
notify_reloading(struct daemon *d)
{
	struct timespec ts;
	char msg[128];

	if (!nt.active || nt.stopping)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg),
	    "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
		(unsigned long long)ts.tv_nsec / 1000ULL);
	nt.reloading++;
	send_logged(msg);
}

void
notify_reloaded_cb(void *arg, int ok, const char *why)
{
	char msg[600];

	if (!nt.active || nt.stopping || nt.reloading == 0)
		return;
	nt.reloading--;
	if (ok)
		nt.reload_err[0] = '\0';
	else
		snprintf(nt.reload_err, sizeof(nt.reload_err), "%.150s", why);
	snprintf(msg, sizeof(msg), "READY=1\n");
	status_text(msg + strlen(msg), sizeof(msg) - strlen(msg));
	send_logged(msg);
}

void
notify_stopping(struct daemon *d)
{
	if (!nt.active || nt.stopping)
		return;
	nt.stopping = 1;
	send_logged("STOPPING=1\nSTATUS=stopping");
}
