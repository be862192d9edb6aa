/*
 * Shared vocabulary of identityd: error codes, aborting allocators and small helpers that
 * every module uses. Nothing here allocates on behalf of callers except the idd_x* family,
 * which aborts the process on out-of-memory (as h2o and Redis do): running out of memory
 * in an identity service is not a state worth limping on in.
 */
#ifndef IDENTITYD_COMMON_H
#define IDENTITYD_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* One table feeds the enum and idd_strerror(). 0 is success; failures are negative. */
#define IDD_ERRORS(X)                                                                              \
    X(IDD_OK, 0, "success")                                                                        \
    X(IDD_EINVAL, -1, "invalid argument")                                                          \
    X(IDD_ENOTFOUND, -2, "not found")                                                              \
    X(IDD_EEXIST, -3, "already exists")                                                            \
    X(IDD_EIO, -4, "input/output error")                                                           \
    X(IDD_ECRYPTO, -5, "cryptographic operation failed")                                           \
    X(IDD_ESTORE, -6, "database error")                                                            \
    X(IDD_ECONFIG, -7, "configuration error")                                                      \
    X(IDD_ETOOBIG, -8, "value too large")                                                          \
    X(IDD_EDENIED, -9, "denied")                                                                   \
    X(IDD_EBUSY, -10, "busy")                                                                      \
    X(IDD_ESCHEMA, -11, "database schema is newer than this program")                              \
    X(IDD_EUNAVAIL, -12, "database cannot be written now (disk full or read-only)")

enum {
#define IDD_ERROR_ENUM(name, value, text) name = (value),
    IDD_ERRORS(IDD_ERROR_ENUM)
#undef IDD_ERROR_ENUM
};

/* Returns a static, human-readable text for an IDD_E* code ("unknown error" otherwise). */
const char *idd_strerror(int code);

/* Allocators that never return NULL: they abort with a message on out-of-memory.
 * idd_xstrdup(NULL) and idd_xstrndup(NULL, n) return NULL. */
void *idd_xmalloc(size_t size);
void *idd_xcalloc(size_t count, size_t size);
void *idd_xrealloc(void *ptr, size_t size);
char *idd_xstrdup(const char *s);
char *idd_xstrndup(const char *s, size_t len);

/* Writes a formatted message into err (errlen bytes, always terminated); nothing when err is
 * NULL or errlen 0. The one way functions here report what went wrong to their caller. */
void idd_errorf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same, prefixed with where the problem is: "PATH:LINE: ", or "PATH: " when line <= 0. */
void idd_verrorf_at(char *err, size_t errlen, const char *path, int line, const char *fmt,
                    va_list ap) __attribute__((format(printf, 5, 0)));

/* Seconds since the Unix epoch (CLOCK_REALTIME). */
int64_t idd_now(void);

/* Milliseconds from CLOCK_MONOTONIC, for timeouts and cache ages. */
int64_t idd_monotonic_ms(void);

/* Writes Unix time t as ISO 8601 UTC, "2026-11-27T20:15:59Z", into out (21 bytes). */
void idd_format_iso8601(int64_t t, char out[21]);

/* Writes Unix time t as an HTTP date (RFC 9110 IMF-fixdate), "Fri, 27 Nov 2026 20:15:59 GMT",
 * into out (30 bytes). */
void idd_format_http_date(int64_t t, char out[30]);

#define IDD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
