/*
 * The daemon's side of the control socket (protocol in
 * blocklist/control.h): a unix stream socket that parasol and
 * parasol-update use to ask for a reload.
 */
#ifndef RESOLVER_CONTROL_H
#define RESOLVER_CONTROL_H

struct daemon;

/* Returns 0, or -1 after logging why. */
int control_listen(struct daemon *d);
void control_close(struct daemon *d);

#endif
