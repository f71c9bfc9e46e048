#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "blocklist/control.h"
#include "resolver/control.h"
#include "resolver/ctlproto.h"
#include "resolver/daemon.h"
#include "resolver/log.h"
#include "resolver/policy.h"

#define CONTROL_CLIENTS_MAX 16

struct ctl_conn {
	struct daemon *d;
	uv_pipe_t h;
	uv_write_t wreq;
	int waiting; /* a reload will answer */
	int closing;
	int closed;
	size_t have;
	char line[CONTROL_LINE_MAX + 1];
	char reply[CONTROL_LINE_MAX + 1];
};

static unsigned n_clients;

static void
conn_closed_cb(uv_handle_t *h)
{
	struct ctl_conn *c = h->data;

	c->closed = 1;
	n_clients--;
	if (!c->waiting)
		free(c);
}

static void
conn_close(struct ctl_conn *c)
{
	if (!c->closing) {
		c->closing = 1;
		uv_close((uv_handle_t *)&c->h, conn_closed_cb);
	}
}

static void
written_cb(uv_write_t *req, int status)
{
	conn_close(req->data);
}

static void
reply(struct ctl_conn *c, const char *status, const char *text)
{
	uv_buf_t buf;

	if (c->closing)
		return;
	buf = uv_buf_init(c->reply,
	    (unsigned)ctlproto_reply(c->reply, sizeof(c->reply), status, text));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->h, &buf, 1, written_cb) != 0)
		conn_close(c);
}

static void
reload_done_cb(void *arg, int ok, const char *msg)
{
	struct ctl_conn *c = arg;

	c->waiting = 0;
	if (c->closed) {
		free(c);
		return;
	}
	reply(c, ok ? "ok" : "error", msg);
}

static void
dispatch(struct ctl_conn *c, enum ctlproto_req req)
{
	struct daemon *d = c->d;
	char msg[128];

	switch (req) {
	case CTLPROTO_MORE:
		break;
	case CTLPROTO_TOO_LONG:
		reply(c, "error", "request too long");
		break;
	case CTLPROTO_BAD:
		reply(c, "error", "request contains a NUL byte");
		break;
	case CTLPROTO_PING:
		reply(c, "ok", "");
		break;
	case CTLPROTO_STATUS: {
		char json[CONTROL_LINE_MAX - 64];

		daemon_status_json(d, json, sizeof(json));
		reply(c, "ok", json);
		break;
	}
	case CTLPROTO_RELOAD:
		log_info("control: reload requested");
		c->waiting = 1;
		policy_reload(&d->policy, 1, reload_done_cb, c);
		break;
	case CTLPROTO_UNKNOWN:
		ctlproto_unknown(c->line, msg, sizeof(msg));
		reply(c, "error", msg);
		break;
	}
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_conn *c = h->data;

	*buf = uv_buf_init(c->line + c->have,
	    (unsigned)(CONTROL_LINE_MAX - c->have));
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_conn *c = s->data;
	enum ctlproto_req req;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->have += (size_t)nread;
	req = ctlproto_take(c->line, c->have);
	if (req == CTLPROTO_MORE)
		return;
	uv_read_stop(s);
	dispatch(c, req);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct daemon *d = server->data;
	struct ctl_conn *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->d = d;
	uv_pipe_init(d->loop, &c->h, 0);
	c->h.data = c;
	n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->h) != 0 ||
	    n_clients > CONTROL_CLIENTS_MAX) {
		conn_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->h, alloc_cb, read_cb) != 0)
		conn_close(c);
}

/* A socket file left by a daemon that died: remove it, else refuse. */
static int
clear_stale(const char *path)
{
	struct sockaddr_un sun;
	int fd, live;

	if (access(path, F_OK) != 0)
		return 0;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_err("control socket path %s is too long", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	if (live) {
		log_err("control socket %s is in use: is another parasold "
			"running?",
		    path);
		return -1;
	}
	return unlink(path);
}

int
control_listen(struct daemon *d)
{
	const char *path = d->cfg.control;
	char dir[PATH_MAX], *slash;
	int rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			log_warn("cannot create %s: %s", dir, strerror(errno));
	}
	if (clear_stale(path) != 0)
		return -1;
	uv_pipe_init(d->loop, &d->control, 0);
	d->control.data = d;
	d->control_open = 1;
	rc = uv_pipe_bind(&d->control, path);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&d->control, 16, connection_cb);
	if (rc != 0) {
		log_err("cannot listen on control socket %s: %s (set "
			"--control=PATH)",
		    path, uv_strerror(rc));
		return -1;
	}
	/* Tools run by the admin's group may talk to it. */
	chmod(path, 0660);
	return 0;
}

void
control_close(struct daemon *d)
{
	if (d->control_open) {
		uv_close((uv_handle_t *)&d->control, NULL);
		d->control_open = 0;
		unlink(d->cfg.control);
	}
}
