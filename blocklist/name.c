#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <idn2.h>

#include "blocklist/name.h"

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return 0;
	}
	return 1;
}

static int
check_labels(const char *s, char *why, size_t whylen)
{
	size_t lab = 0;

	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.' || c == '\0') {
			if (lab == 0) {
				snprintf(why, whylen, "empty label");
				return -1;
			}
			if (lab > 63) {
				snprintf(why, whylen, "label longer than 63");
				return -1;
			}
			if (c == '\0')
				return 0;
			lab = 0;
			continue;
		}
		if (!(islower(c) || isdigit(c) || c == '-' || c == '_')) {
			snprintf(why, whylen, "character '%s%c' not allowed",
			    isprint(c) ? "" : "\\", isprint(c) ? c : '?');
			return -1;
		}
		lab++;
	}
}

int
bl_name_normalise(const char *in, char *out, char *why, size_t whylen)
{
	char buf[1024];
	size_t len;
	struct in_addr a4;
	struct in6_addr a6;

	while (isspace((unsigned char)*in))
		in++;
	len = strlen(in);
	while (len > 0 && isspace((unsigned char)in[len - 1]))
		len--;
	if (len == 0) {
		snprintf(why, whylen, "empty name");
		return -1;
	}
	if (len >= sizeof(buf)) {
		snprintf(why, whylen, "name too long");
		return -1;
	}
	memcpy(buf, in, len);
	buf[len] = '\0';
	if (len > 1 && buf[len - 1] == '.')
		buf[--len] = '\0';
	if (strcmp(buf, ".") == 0) {
		snprintf(why, whylen, "the root is not a name to block");
		return -1;
	}
	if (!is_ascii(buf)) {
		char *ace = NULL;
		int rc = idn2_to_ascii_8z(buf, &ace,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);

		if (rc != IDN2_OK) {
			/* Some real names are valid only under UTS 46. */
			rc = idn2_to_ascii_8z(buf, &ace,
			    IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
		}
		if (rc != IDN2_OK) {
			snprintf(why, whylen, "not a valid IDN: %s",
			    idn2_strerror(rc));
			return -1;
		}
		if (strlen(ace) >= sizeof(buf)) {
			idn2_free(ace);
			snprintf(why, whylen, "name too long");
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s", ace);
		idn2_free(ace);
		len = strlen(buf);
	}
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	if (len > BL_NAME_MAX) {
		snprintf(why, whylen, "name longer than %d characters",
		    BL_NAME_MAX);
		return -1;
	}
	/* After IDN mapping, which can turn "1\xef\xbb\xbf.2.3.4" (a BOM
	 * inside) into an address. */
	if (inet_pton(AF_INET, buf, &a4) == 1 ||
	    inet_pton(AF_INET6, buf, &a6) == 1) {
		snprintf(why, whylen, "an IP address, not a name");
		return -1;
	}
	if (check_labels(buf, why, whylen) != 0)
		return -1;
	memcpy(out, buf, len + 1);
	return 0;
}

int
bl_name_to_wire(const char *name, uint8_t *wire)
{
	size_t n = 0, lab = 0;

	wire[0] = 0;
	if (name[0] == '\0')
		return 1;
	for (const char *p = name;; p++) {
		if (*p == '.' || *p == '\0') {
			if (n - lab == 0 || n - lab > 63)
				return -1;
			wire[lab] = (uint8_t)(n - lab);
			n++;
			lab = n;
			if (n >= BL_WIRE_MAX)
				return -1;
			wire[lab] = 0;
			if (*p == '\0')
				return (int)n + 1;
			continue;
		}
		if (n + 1 >= BL_WIRE_MAX)
			return -1;
		wire[++n] = (uint8_t)tolower((unsigned char)*p);
	}
}

void
bl_name_from_wire(const uint8_t *wire, size_t len, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	while (i < len && wire[i] != 0) {
		size_t l = wire[i++];

		if (o > 0 && o + 1 < cap)
			out[o++] = '.';
		for (size_t j = 0; j < l && i < len && o + 1 < cap; j++)
			out[o++] = (char)wire[i++];
		out[o] = '\0';
	}
}
