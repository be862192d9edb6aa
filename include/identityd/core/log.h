/*
 * Logging to stderr, one line per event, in one of two formats: text,
 * "2026-11-27T20:15:59Z level message", or JSON, one object per line
 * ({"time":…,"level":…,"msg":…}). Lines are written with a single write(2) so threads do not
 * interleave. In either format a control character cannot start a line of its own: text
 * shows it as \xNN, JSON escapes it. Never pass a secret here: log the user id, key id or kid
 * instead.
 */
#ifndef IDENTITYD_LOG_H
#define IDENTITYD_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "identityd/core/common.h"

typedef enum { IDD_LOG_ERROR = 0, IDD_LOG_WARN, IDD_LOG_INFO, IDD_LOG_DEBUG } idd_log_level_t;

/* Messages above this level are dropped (default IDD_LOG_INFO). */
void idd_log_set_level(idd_log_level_t level);

/* The names of the levels ("error", "warn", "info", "debug") indexed by idd_log_level_t,
 * NULL-terminated: what a log line shows and what the configuration's log.level accepts. */
extern const char *const idd_log_level_names[];

typedef enum { IDD_LOG_TEXT = 0, IDD_LOG_JSON } idd_log_format_t;

/* "text", "json", NULL-terminated, indexed by idd_log_format_t (the key log.format). */
extern const char *const idd_log_format_names[];

/* The format of every line from now on (default IDD_LOG_TEXT). */
void idd_log_set_format(idd_log_format_t format);

void idd_log(idd_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define idd_log_error(...) idd_log(IDD_LOG_ERROR, __VA_ARGS__)
#define idd_log_warn(...) idd_log(IDD_LOG_WARN, __VA_ARGS__)
#define idd_log_info(...) idd_log(IDD_LOG_INFO, __VA_ARGS__)
#define idd_log_debug(...) idd_log(IDD_LOG_DEBUG, __VA_ARGS__)

/* A line that can repeat many times a second while something outside is broken (a lost
 * database: every request's failure, every change check): at most one line per second per
 * call site, the next one saying how many were left out. idd_log_limited takes the clock
 * (monotonic ms) from its caller; the macro gives each call site its own limit. */
typedef struct idd_log_limit {
    atomic_llong next_ms;
    atomic_ulong suppressed;
} idd_log_limit_t;
void idd_log_limited(idd_log_level_t level, idd_log_limit_t *limit, int64_t now_ms, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
#define idd_log_warn_limited(...)                                                                  \
    do {                                                                                           \
        static idd_log_limit_t idd_log_limit_;                                                     \
        idd_log_limited(IDD_LOG_WARN, &idd_log_limit_, idd_monotonic_ms(), __VA_ARGS__);           \
    } while (0)

/* One answered request. Strings with a length need no NUL; any of them may come from the
 * client and are escaped (and cut to a bounded length) when written. NULL or an empty
 * string: not known. */
typedef struct idd_log_access {
    const char *request_id;
    size_t request_id_len;
    const char *client; /* numeric address */
    const char *method;
    size_t method_len;
    const char *path; /* without the query */
    size_t path_len;
    int status;         /* 0: no response was sent (the client left) */
    const char *scheme; /* how the caller authenticated ("basic", …) */
    const char *user;   /* the user's id */
    long long tenant;   /* 0: none */
    double seconds;     /* from the router seeing the request to the response sent */
} idd_log_access_t;

/* Writes the access line of one request, whatever the level (log.access decides). */
void idd_log_access(const idd_log_access_t *a);

#endif
