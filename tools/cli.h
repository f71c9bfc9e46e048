/*
 * The verbs of the admin CLI, "parasol". Each takes the remaining
 * arguments and the global options, prints for a person or as JSON, and
 * returns the process exit status.
 */
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

enum cli_exit {
	CLI_OK = 0,
	CLI_BLOCKED = 1, /* "check": the name is blocked */
	CLI_USAGE = 2,
	CLI_DB = 3,      /* lists.db missing, unreadable or locked */
	CLI_DAEMON = 4,  /* parasold could not be reached or refused */
};

struct cli_opts {
	const char *lists_db;
	const char *control;
	int json;
	int exact;
	const char *comment;
};

int cli_check(const struct cli_opts *o, int argc, char **argv);
int cli_rules(const struct cli_opts *o, int allow, int argc, char **argv);
int cli_reload(const struct cli_opts *o, int argc, char **argv);

#endif
