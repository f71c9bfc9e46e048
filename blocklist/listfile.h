/*
 * The two simplest list formats: hosts files ("0.0.0.0 name [name...]",
 * "#" comments, inline or whole-line) and plain domain lists (one name per
 * line). A line is read as hosts when its first word is an IP address.
 * The feed updater's richer parsers build on this; the daemon uses it for
 * the bundled default lists.
 */
#ifndef BLOCKLIST_LISTFILE_H
#define BLOCKLIST_LISTFILE_H

#include <stddef.h>

struct bl_list_stats {
	size_t lines;
	size_t names;   /* emitted */
	size_t invalid; /* words that are not valid names */
	size_t skipped; /* hosts lines for localhost and the like */
};

/* name is normalised; return non-zero to stop. */
typedef int (*bl_list_emit_cb)(const char *name, void *arg);

/*
 * Parse text[0..len). Invalid names are counted, and the first one's
 * reason copied to why. Returns 0, or the emit callback's non-zero value.
 */
int bl_list_parse(const char *text, size_t len, bl_list_emit_cb emit,
    void *arg, struct bl_list_stats *st, char *why, size_t whylen);

#endif
