/*
 * Process privileges. Started as root, parasold binds its sockets, makes
 * the folders it will write in (owned by the configured user), then
 * becomes that user for good: supplementary groups replaced by the user's
 * group, real, effective and saved IDs changed, the capability bounding
 * set, ambient, permitted and effective sets emptied, no_new_privs set.
 * Keeping root needs "user = root". Everything after the drop (lists.db,
 * stats.db, reloads) runs as the user.
 */
#ifndef RESOLVER_PRIVS_H
#define RESOLVER_PRIVS_H

#include <sys/types.h>

struct config;

struct privs {
	int drop; /* root now, another user after privs_drop */
	uid_t uid; /* valid when drop */
	gid_t gid;
	char name[64];
};

/*
 * Decide from cfg and who we are. Returns 0, or -1 after logging why
 * (root without a user, or an unknown user): the daemon must not start.
 */
int privs_plan(const struct config *cfg, struct privs *p);

/* Raise the soft open-file limit towards what cfg may need; warn if the
 * hard limit is lower. */
void privs_raise_nofile(const struct config *cfg);

/*
 * Before the drop: create the missing folders of path (a file path)
 * owned by the user; with chown_file, give the file itself to the user
 * too (the control socket). Failures are logged, not fatal: what cannot
 * be written is reported again when it is used.
 */
void privs_prepare_path(
    const struct privs *p, const char *path, int chown_file);

/* Drop for good. Returns 0, or -1 after logging why. */
int privs_drop(const struct privs *p);

#endif
