/*
 * What lists.db and stats.db share: sqlite errors translated once into the
 * library's codes, the folder a new database goes into, and the read-only
 * way in for a reader that may not create the WAL index.
 */
#ifndef BLOCKLIST_DB_H
#define BLOCKLIST_DB_H

#include <stddef.h>

struct sqlite3;

/* "what: sqlite's message" into err; returns the bl_err for rc. */
int bl_db_error(
    struct sqlite3 *db, int rc, const char *what, char *err, size_t errlen);

/* mkdir -p for the folder of path, so a first start just works. */
void bl_db_make_parent(const char *path);

/*
 * "file:PATH?immutable=1", percent-encoding what a URI path cannot hold:
 * how a reader that may not create the WAL index opens a database whose
 * WAL is empty. Returns 0, or -1 when it does not fit in cap.
 */
int bl_db_immutable_uri(const char *path, char *uri, size_t cap);

#endif
