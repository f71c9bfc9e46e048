#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/capability.h>

#include "resolver/config.h"
#include "resolver/log.h"
#include "resolver/privs.h"

int
privs_plan(const struct config *cfg, struct privs *p)
{
	struct passwd *pw;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", cfg->user);
	if (geteuid() != 0) {
		if (cfg->user[0] != '\0') {
			pw = getpwnam(cfg->user);
			if (pw == NULL || pw->pw_uid != geteuid())
				log_warn("user = %s: not started as root, "
					 "running as uid %u",
				    cfg->user, (unsigned)geteuid());
		}
		return 0;
	}
	if (cfg->user[0] == '\0') {
		log_err("started as root: give user = NAME (--user=NAME) to "
			"run as after binding, or user = root to keep root");
		return -1;
	}
	errno = 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		log_err("user = %s: %s", cfg->user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_warn("running as root (user = %s)", cfg->user);
		return 0;
	}
	if (pw->pw_gid == 0) {
		log_err("user = %s: its group is root; give it a group of its "
			"own",
		    cfg->user);
		return -1;
	}
	p->drop = 1;
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return 0;
}

void
privs_raise_nofile(const struct config *cfg)
{
	/* A descriptor per TCP client and per question retried over TCP,
	 * plus the upstream socket pools, listeners, databases and the
	 * control socket. */
	rlim_t want = (rlim_t)(cfg->tcp_max_clients + cfg->max_pending + 1024);
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
	    ? want
	    : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_warn("open file limit %llu is below the %llu that "
			 "tcp-max-clients and max-pending may need: raise it "
			 "(ulimit -n, LimitNOFILE=) or lower them; accepting "
			 "pauses when it runs out",
		    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

void
privs_prepare_path(const struct privs *p, const char *path, int chown_file)
{
	char dir[PATH_MAX];

	if (!p->drop)
		return;
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return;
	/* Each missing folder on the way, from the top down. */
	for (char *s = strchr(dir + 1, '/'); s != NULL;
	     s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(dir, 0755) == 0) {
			if (chown(dir, p->uid, p->gid) != 0)
				log_warn("cannot give %s to %s: %s", dir,
				    p->name, strerror(errno));
		} else if (errno != EEXIST) {
			log_warn("cannot create %s: %s", dir, strerror(errno));
		}
		*s = '/';
	}
	if (chown_file && chown(path, p->uid, p->gid) != 0)
		log_warn(
		    "cannot give %s to %s: %s", path, p->name, strerror(errno));
}

static int
caps_clear(void)
{
	struct __user_cap_header_struct hdr = {
	    .version = _LINUX_CAPABILITY_VERSION_3,
	    .pid = 0,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		return -1;
	if (syscall(SYS_capget, &hdr, data) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		if (data[i].effective != 0 || data[i].permitted != 0 ||
		    data[i].inheritable != 0)
			return -1;
	}
	return 0;
}

int
privs_drop(const struct privs *p)
{
	if (!p->drop) {
		/* Not root: still shed whatever capabilities we were given
		 * (CAP_NET_BIND_SERVICE has done its job). */
		if (geteuid() != 0) {
			prctl(
			    PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
			caps_clear();
			prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		}
		return 0;
	}
	if (setgroups(1, &p->gid) != 0 ||
	    setresgid(p->gid, p->gid, p->gid) != 0) {
		log_err("cannot switch to group %u: %s", (unsigned)p->gid,
		    strerror(errno));
		return -1;
	}
	/* While we still may: empty the bounding set, so nothing exec'd
	 * later could regain a capability. */
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
			log_err("cannot drop capability %d: %s", cap,
			    strerror(errno));
			return -1;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (setresuid(p->uid, p->uid, p->uid) != 0) {
		log_err(
		    "cannot switch to user %s: %s", p->name, strerror(errno));
		return -1;
	}
	if (caps_clear() != 0) {
		log_err("capabilities left after switching to %s", p->name);
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_err("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	/* Trust, but verify: there must be no way back. */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 ||
	    getuid() == 0 || geteuid() == 0 || getgid() == 0 ||
	    getegid() == 0) {
		log_err("could regain root after switching to %s: stopping",
		    p->name);
		return -1;
	}
	log_info("running as %s (uid %u, gid %u), no capabilities", p->name,
	    (unsigned)p->uid, (unsigned)p->gid);
	return 0;
}
