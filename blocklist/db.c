#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "blocklist/db.h"
#include "blocklist/err.h"

int
bl_db_error(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what,
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return BL_EBUSY;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return BL_ECORRUPT;
	case SQLITE_CANTOPEN:
		return BL_ENOENT;
	case SQLITE_NOMEM:
		return BL_ENOMEM;
	default:
		return BL_ERR;
	}
}

void
bl_db_make_parent(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return;
		*p = '/';
	}
}

int
bl_db_immutable_uri(const char *path, char *uri, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char tail[] = "?immutable=1";
	size_t n = 5;

	if (cap < n + sizeof(tail))
		return -1;
	memcpy(uri, "file:", n);
	for (const char *p = path; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL;

		if (n + (plain ? 1 : 3) + sizeof(tail) > cap)
			return -1;
		if (plain) {
			uri[n++] = (char)c;
		} else {
			uri[n++] = '%';
			uri[n++] = hex[c >> 4];
			uri[n++] = hex[c & 15];
		}
	}
	memcpy(uri + n, tail, sizeof(tail));
	return 0;
}
