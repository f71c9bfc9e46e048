/*
 * Domain-name normalisation for everything that goes into lists.db: lower
 * case, no trailing dot, IDN as punycode (IDNA 2008 via libidn2), labels of
 * 1 to 63 bytes of letters, digits, '-' and '_', at most 253 characters.
 * IP literals are not names. Invalid input is rejected with a reason.
 */
#ifndef BLOCKLIST_NAME_H
#define BLOCKLIST_NAME_H

#include <stddef.h>
#include <stdint.h>

#define BL_NAME_MAX 253
#define BL_WIRE_MAX 255

/*
 * Normalise in into out (at least BL_NAME_MAX + 1 bytes). Returns 0, or -1
 * with a reason in why.
 */
int bl_name_normalise(const char *in, char *out, char *why, size_t whylen);

/* Normalised text to lower-case wire form; returns the length or -1. */
int bl_name_to_wire(const char *name, uint8_t *wire);
/* Wire form to text without the trailing dot ("" for the root). */
void bl_name_from_wire(const uint8_t *wire, size_t len, char *out,
    size_t cap);

#endif
