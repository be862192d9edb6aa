/*
 * Line-oriented logging to stderr. Each line is formatted into a stack buffer and written
 * with one write(2), which POSIX keeps whole for pipes up to PIPE_BUF, so concurrent threads
 * do not interleave within a line. Whatever the line carries is escaped on the way into the
 * buffer, so no byte of a message or of a request can end a line or forge another: in text,
 * control characters (and, in fields a client sends, '"', '\\' and bytes >= 0x80) become
 * \xNN; in JSON, control characters and bytes >= 0x80 become \u00XX, so that every line is
 * valid JSON whatever the client sent.
 */
#include "identityd/core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/utf8.h"

/* Set by a reload while other threads log: atomic, and the format read once per line, so
 * that a line is all text or all JSON. */
static _Atomic idd_log_level_t current_level = IDD_LOG_INFO;
static _Atomic idd_log_format_t current_format = IDD_LOG_TEXT;
const char *const idd_log_level_names[] = {"error", "warn", "info", "debug", NULL};
const char *const idd_log_format_names[] = {"text", "json", NULL};

#define LINE_MAX_BYTES 2048 /* a longer line is cut; the newline always fits */
#define FIELD_MAX_BYTES 512 /* of one client-sent field (path, request id, method) */

void idd_log_set_level(idd_log_level_t level)
{
    atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

void idd_log_set_format(idd_log_format_t format)
{
    atomic_store_explicit(&current_format, format, memory_order_relaxed);
}

/* A line being built. Escaped content stops, whole, at `end`; what closes the line (a
 * quote, the last fields, "}" and the newline) goes into the room kept after it. */
#define TAIL_ROOM 256

typedef struct line {
    char buf[LINE_MAX_BYTES];
    size_t n;
    size_t end;
    bool json; /* the format when the line was begun */
} line_t;

static bool put_until(line_t *l, const char *s, size_t len, size_t end)
{
    if (l->n > end || len > end - l->n)
        return false;
    memcpy(l->buf + l->n, s, len);
    l->n += len;
    return true;
}

/* Fixed text, into the tail room if need be (the newline's byte is always kept). */
static void puts_(line_t *l, const char *s)
{
    put_until(l, s, strlen(s), sizeof(l->buf) - 1);
}

static const char hex[] = "0123456789abcdef";

/* The length of a well-formed UTF-8 character at s that a line may carry as it is: not a
 * control character (C1 included) nor a line or paragraph separator; 0 otherwise. */
static size_t printable_utf8(const char *s, size_t len)
{
    uint32_t cp = 0;
    size_t n = idd_utf8_decode(s, len, &cp);
    if (n < 2 || idd_utf8_is_control(cp) || cp == 0x2028 || cp == 0x2029)
        return 0;
    return n;
}

/* Appends s escaped for the format, up to l->end. strict: for values a client chose, every
 * byte >= 0x80 is escaped, and in text '"' and '\\' too; a message of ours keeps its
 * well-formed, printable UTF-8. */
static void put_escaped(line_t *l, const char *s, size_t len, bool strict)
{
    bool json = l->json;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6];
        size_t n;
        if (c >= 0x80 && !strict) {
            size_t whole = printable_utf8(s + i, len - i);
            if (whole > 0) {
                if (!put_until(l, s + i, whole, l->end))
                    return;
                i += whole - 1;
                continue;
            }
        }
        bool control = c < 0x20 || c == 0x7f;
        if (json && (control || c >= 0x80)) {
            esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0';
            esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
            n = 6;
        } else if (json && (c == '"' || c == '\\')) {
            esc[0] = '\\', esc[1] = (char)c;
            n = 2;
        } else if (!json && (control || c >= 0x80 || (strict && (c == '"' || c == '\\')))) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[c >> 4], esc[3] = hex[c & 15];
            n = 4;
        } else {
            esc[0] = (char)c;
            n = 1;
        }
        if (!put_until(l, esc, n, l->end))
            return;
    }
}

/* name and a value a client may have chosen: a JSON string (null when absent), or in text
 * name=value ("-" when absent). */
static void put_field(line_t *l, const char *name, const char *s, size_t len)
{
    bool json = l->json;
    if (len > FIELD_MAX_BYTES)
        len = FIELD_MAX_BYTES;
    puts_(l, json ? ",\"" : " ");
    puts_(l, name);
    puts_(l, json ? "\":" : "=");
    if (s == NULL || len == 0) {
        puts_(l, json ? "null" : "-");
        return;
    }
    if (json)
        puts_(l, "\"");
    put_escaped(l, s, len, true);
    if (json)
        puts_(l, "\"");
}

static void begin(line_t *l, const char *level)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    (void)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm); /* 20 of 31 */
    l->n = 0;
    l->end = sizeof(l->buf) - 1 - TAIL_ROOM;
    l->json = atomic_load_explicit(&current_format, memory_order_relaxed) == IDD_LOG_JSON;
    if (l->json) {
        puts_(l, "{\"time\":\"");
        puts_(l, stamp);
        puts_(l, "\",\"level\":\"");
        puts_(l, level);
        puts_(l, "\",\"msg\":\"");
    } else {
        puts_(l, stamp);
        puts_(l, " ");
        puts_(l, level);
        puts_(l, " ");
    }
}

static void finish(line_t *l)
{
    l->buf[l->n++] = '\n';
    ssize_t w = write(STDERR_FILENO, l->buf, l->n);
    (void)w;
}

/* One line: the message, then " (N more like it not logged)" when N > 0. A long message is
 * cut, never that count. */
static void log_line(idd_log_level_t level, unsigned long suppressed, const char *fmt, va_list ap)
{
    char msg[1024], more[64];
    size_t more_len = 0;
    if (suppressed > 0) {
        int k = snprintf(more, sizeof(more), " (%lu more like it not logged)", suppressed);
        more_len = k > 0 && (size_t)k < sizeof(more) ? (size_t)k : 0; /* 48 at most */
    }
    size_t room = sizeof(msg) - more_len;
    int m = vsnprintf(msg, room, fmt, ap);
    size_t len = m < 0 ? 0 : (size_t)m < room ? (size_t)m : room - 1;
    memcpy(msg + len, more, more_len);
    len += more_len;
    line_t l;
    begin(&l, idd_log_level_names[level]);
    put_escaped(&l, msg, len, false);
    if (l.json)
        puts_(&l, "\"}");
    finish(&l);
}

void idd_log(idd_log_level_t level, const char *fmt, ...)
{
    if (level > atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, 0, fmt, ap);
    va_end(ap);
}

void idd_log_limited(idd_log_level_t level, idd_log_limit_t *limit, int64_t now_ms, const char *fmt,
                     ...)
{
    if (level > atomic_load_explicit(&current_level, memory_order_relaxed))
        return;
    long long next = atomic_load(&limit->next_ms);
    /* Of the threads that find the second over, one wins the exchange and logs. */
    if (now_ms < next || !atomic_compare_exchange_strong(&limit->next_ms, &next, now_ms + 1000)) {
        atomic_fetch_add(&limit->suppressed, 1);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_line(level, atomic_exchange(&limit->suppressed, 0), fmt, ap);
    va_end(ap);
}

void idd_log_access(const idd_log_access_t *a)
{
    line_t l;
    begin(&l, "info");
    bool json = l.json;
    puts_(&l, json ? "access\"" : "access");
    put_field(&l, "request_id", a->request_id, a->request_id_len);
    put_field(&l, "client", a->client, a->client != NULL ? strlen(a->client) : 0);
    put_field(&l, "method", a->method, a->method_len);
    put_field(&l, "path", a->path, a->path_len);
    char num[64];
    snprintf(num, sizeof(num), json ? ",\"status\":%d" : " status=%d", a->status);
    puts_(&l, num);
    put_field(&l, "scheme", a->scheme, a->scheme != NULL ? strlen(a->scheme) : 0);
    put_field(&l, "user", a->user, a->user != NULL ? strlen(a->user) : 0);
    if (a->tenant > 0)
        snprintf(num, sizeof(num), json ? ",\"tenant\":%lld" : " tenant=%lld", a->tenant);
    else
        snprintf(num, sizeof(num), json ? ",\"tenant\":null" : " tenant=-");
    puts_(&l, num);
    snprintf(num, sizeof(num), json ? ",\"duration_s\":%.6f}" : " duration_s=%.6f", a->seconds);
    puts_(&l, num);
    finish(&l);
}
