/*
 * Leveled logging to stderr. The daemon logs; libraries return errors.
 * Nothing here allocates, so it is safe on the query path, but per-packet
 * events are counted, not logged.
 */
#ifndef RESOLVER_LOG_H
#define RESOLVER_LOG_H

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

extern int log_level;

int log_level_parse(const char *s);
void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Logged at "info" whatever the level: replies to an explicit request. */
void log_always(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_err(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
	do {                                                                  \
		if (log_level >= LOG_LVL_DEBUG)                               \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                  \
	} while (0)

#endif
