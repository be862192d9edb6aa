/*
 * Line-oriented logging to stderr. Each line is formatted into a stack buffer and written
 * with one write(2), which POSIX keeps whole for pipes up to PIPE_BUF, so concurrent threads
 * do not interleave within a line.
 */
#include "identityd/core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identityd/core/common.h"

static volatile idd_log_level_t current_level = IDD_LOG_INFO;
const char *const idd_log_level_names[] = {"error", "warn", "info", "debug", NULL};

void idd_log_set_level(idd_log_level_t level)
{
    current_level = level;
}

void idd_log(idd_log_level_t level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, "%s ", idd_log_level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
