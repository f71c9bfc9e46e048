/*
 * The bundled default feeds (see default/NOTICE): declared with their real
 * upstream URLs and loaded from the copies built into the program, so a
 * new installation blocks known miners before its first feed update.
 */
#ifndef BLOCKLIST_DEFAULTS_H
#define BLOCKLIST_DEFAULTS_H

#include <stddef.h>

struct bl_store;

/*
 * Declare the default feeds and load their bundled entries, in one
 * transaction. Returns 0, or a negative bl_err with a message.
 */
int bl_defaults_seed(struct bl_store *st, size_t *n_names, char *err,
    size_t errlen);

#endif
