/*
 * Logging to stderr, one line per event: "2026-11-27T20:15:59Z level message". Lines are
 * written with a single write(2) so threads do not interleave. Never pass a secret here:
 * log the user id, key id or kid instead.
 */
#ifndef IDENTITYD_LOG_H
#define IDENTITYD_LOG_H

typedef enum { IDD_LOG_ERROR = 0, IDD_LOG_WARN, IDD_LOG_INFO, IDD_LOG_DEBUG } idd_log_level_t;

/* Messages above this level are dropped (default IDD_LOG_INFO). */
void idd_log_set_level(idd_log_level_t level);

/* The names of the levels ("error", "warn", "info", "debug") indexed by idd_log_level_t,
 * NULL-terminated: what a log line shows and what the configuration's log_level accepts. */
extern const char *const idd_log_level_names[];

void idd_log(idd_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define idd_log_error(...) idd_log(IDD_LOG_ERROR, __VA_ARGS__)
#define idd_log_warn(...) idd_log(IDD_LOG_WARN, __VA_ARGS__)
#define idd_log_info(...) idd_log(IDD_LOG_INFO, __VA_ARGS__)
#define idd_log_debug(...) idd_log(IDD_LOG_DEBUG, __VA_ARGS__)

#endif
