/* Error codes of the blocklist library: 0 is success, negative is failure. */
#ifndef BLOCKLIST_ERR_H
#define BLOCKLIST_ERR_H

enum bl_err {
	BL_OK = 0,
	BL_ERR = -1,       /* generic; the message says what */
	BL_ENOENT = -2,    /* no such row, file or rule */
	BL_EBUSY = -3,     /* database locked beyond the wait */
	BL_ECORRUPT = -4,  /* not a database, or a damaged one */
	BL_EINVAL = -5,    /* bad input */
	BL_ESCHEMA = -6,   /* made by a newer Parasol */
	BL_ENOMEM = -12,
};

#endif
