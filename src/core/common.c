/*
 * Error texts, aborting allocators and clocks shared by every module.
 */
#include "identityd/core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *idd_strerror(int code)
{
    switch (code) {
#define IDD_ERROR_CASE(name, value, text)                                                          \
    case value:                                                                                    \
        return text;
        IDD_ERRORS(IDD_ERROR_CASE)
#undef IDD_ERROR_CASE
    }
    return "unknown error";
}

static void out_of_memory(size_t size)
{
    fprintf(stderr, "identityd: out of memory allocating %zu bytes\n", size);
    abort();
}

void *idd_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *idd_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(count * size);
    return p;
}

void *idd_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *idd_xstrdup(const char *s)
{
    return s == NULL ? NULL : idd_xstrndup(s, strlen(s));
}

char *idd_xstrndup(const char *s, size_t len)
{
    if (s == NULL)
        return NULL;
    char *p = idd_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

int64_t idd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t idd_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void idd_format_iso8601(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    (void)strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm); /* 20 characters, always */
}

void idd_format_http_date(int64_t t, char out[30])
{
    /* %a and %b are English in the "C" locale, which identityd never leaves. */
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    (void)strftime(out, 30, "%a, %d %b %Y %H:%M:%S GMT", &tm); /* 29, always */
}

void idd_errorf(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void idd_verrorf_at(char *err, size_t errlen, const char *path, int line, const char *fmt,
                    va_list ap)
{
    if (err == NULL || errlen == 0)
        return;
    int n = line > 0 ? snprintf(err, errlen, "%s:%d: ", path, line)
                     : snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}
