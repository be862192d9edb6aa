/*
 * Time zones from TZif files and DocSpace's date strings (core/tz.h).
 *
 * A TZif file is untrusted input like any other: every count is bounded before it sizes
 * anything, every index is checked against its table, transitions must ascend, offsets
 * must be within a day, and the POSIX TZ footer is parsed strictly. What is kept is the v2+
 * (64-bit) data block, or the v1 block of a version-1 file, and the footer's rule.
 */
#include "identityd/core/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identityd/core/common.h"

#define MAX_TRANSITIONS 4096
#define MAX_TYPES 256
#define MAX_CHARS 1024
#define MAX_OFFSET (26 * 3600)

/* One end of a daylight-saving period, as the POSIX TZ string gives it. */
typedef struct rule_date {
    char kind;      /* 'M' (month.week.day), 'J' (Julian, no Feb 29) or 'D' (zero-based day) */
    int m, w, d, n; /* M: month 1-12, week 1-5, weekday 0-6; J: 1-365; D: 0-365 */
    int32_t time;   /* seconds of local time after midnight (may be negative or past a day) */
} rule_date_t;

struct idd_tz {
    char name[IDD_TZ_NAME_MAX + 1];
    size_t n;       /* transitions */
    int64_t *at;    /* ascending Unix times */
    int32_t *off;   /* the offset from each transition on */
    int32_t before; /* the offset before the first transition (or always, without any) */
    bool has_rule;  /* the footer gives the offsets past the last transition */
    bool has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    rule_date_t start, end;
};

/* ---- calendar ---------------------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365, from March */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* ---- the POSIX TZ rule --------------------------------------------------------------------- */

/* The day (days since 1970) on which rule date r falls in year y. */
static int64_t rule_day(const rule_date_t *r, int64_t y)
{
    int64_t jan1 = days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (leap_year(y) && r->n >= 60);
    if (r->kind == 'D')
        return jan1 + r->n;
    int64_t first = days_from_civil(y, r->m, 1);
    int wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int day = 1 + (r->d - wd + 7) % 7 + 7 * (r->w - 1);
    while (day > month_days(y, r->m))
        day -= 7;
    return first + day - 1;
}

static int32_t rule_offset(const idd_tz_t *tz, int64_t t)
{
    if (!tz->has_dst)
        return tz->std_off;
    int64_t y;
    int m, d;
    civil_from_days(floor_div(t + tz->std_off, 86400), &y, &m, &d);
    /* The start is given in standard time, the end in daylight time. */
    int64_t start = rule_day(&tz->start, y) * 86400 + tz->start.time - tz->std_off;
    int64_t end = rule_day(&tz->end, y) * 86400 + tz->end.time - tz->dst_off;
    bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
    return dst ? tz->dst_off : tz->std_off;
}

/* Reads a number of at most max_digits digits at *p. */
static bool read_num(const char **p, int max_digits, int *out)
{
    int v = 0, n = 0;
    while (**p >= '0' && **p <= '9' && n < max_digits) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n == 0 || (**p >= '0' && **p <= '9'))
        return false;
    *out = v;
    return true;
}

/* [+-]hh[:mm[:ss]] with hh at most max_hours; the result in seconds, sign applied. */
static bool read_hms(const char **p, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if (!read_num(p, 3, &h) || h > max_hours)
        return false;
    if (**p == ':') {
        (*p)++;
        if (!read_num(p, 2, &m) || m > 59)
            return false;
        if (**p == ':') {
            (*p)++;
            if (!read_num(p, 2, &s) || s > 59)
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

/* An abbreviation: three or more letters, or <...> of letters, digits, '+' and '-'. */
static bool read_abbr(const char **p)
{
    const char *s = *p;
    size_t n;
    if (*s == '<') {
        n = strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-");
        if (s[1 + n] != '>' || n < 3)
            return false;
        *p = s + n + 2;
        return true;
    }
    n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    if (n < 3)
        return false;
    *p = s + n;
    return true;
}

static bool read_rule_date(const char **p, rule_date_t *r)
{
    r->time = 2 * 3600;
    if (**p == 'M') {
        (*p)++;
        r->kind = 'M';
        if (!read_num(p, 2, &r->m) || r->m < 1 || r->m > 12 || *(*p)++ != '.' ||
            !read_num(p, 1, &r->w) || r->w < 1 || r->w > 5 || *(*p)++ != '.' ||
            !read_num(p, 1, &r->d) || r->d > 6)
            return false;
    } else if (**p == 'J') {
        (*p)++;
        r->kind = 'J';
        if (!read_num(p, 3, &r->n) || r->n < 1 || r->n > 365)
            return false;
    } else {
        r->kind = 'D';
        if (!read_num(p, 3, &r->n) || r->n > 365)
            return false;
    }
    if (**p == '/') {
        (*p)++;
        if (!read_hms(p, 167, &r->time))
            return false;
    }
    return true;
}

/* Parses a footer such as "CET-1CEST,M3.5.0,M10.5.0/3" (POSIX offsets are west of UTC). */
static bool parse_rule(idd_tz_t *tz, const char *s)
{
    int32_t v;
    if (!read_abbr(&s) || !read_hms(&s, 24, &v))
        return false;
    tz->std_off = -v;
    tz->dst_off = tz->std_off;
    if (*s == '\0')
        return true;
    if (!read_abbr(&s))
        return false;
    tz->has_dst = true;
    tz->dst_off = tz->std_off + 3600;
    if (*s != ',' && *s != '\0') {
        if (!read_hms(&s, 24, &v))
            return false;
        tz->dst_off = -v;
    }
    if (*s == '\0') { /* POSIX's default rule (the United States') */
        tz->start = (rule_date_t){'M', 3, 2, 0, 0, 7200};
        tz->end = (rule_date_t){'M', 11, 1, 0, 0, 7200};
        return true;
    }
    if (*s++ != ',' || !read_rule_date(&s, &tz->start) || *s++ != ',' ||
        !read_rule_date(&s, &tz->end))
        return false;
    return *s == '\0';
}

/* ---- TZif ---------------------------------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct header {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} header_t;

static bool read_header(const unsigned char *p, header_t *h)
{
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    return h->timecnt <= MAX_TRANSITIONS && h->typecnt >= 1 && h->typecnt <= MAX_TYPES &&
           h->charcnt <= MAX_CHARS && (h->isutcnt == 0 || h->isutcnt == h->typecnt) &&
           (h->isstdcnt == 0 || h->isstdcnt == h->typecnt) && h->leapcnt <= MAX_TRANSITIONS;
}

static size_t block_size(const header_t *h, size_t tsize)
{
    return h->timecnt * (tsize + 1) + h->typecnt * 6 + h->charcnt + h->leapcnt * (tsize + 4) +
           h->isstdcnt + h->isutcnt;
}

static int fail(idd_tz_t *tz, char *err, size_t errlen, const char *what)
{
    idd_errorf(err, errlen, "zone %s: %s", tz->name, what);
    idd_tz_free(tz);
    return IDD_EINVAL;
}

int idd_tz_parse(const unsigned char *data, size_t len, const char *name, idd_tz_t **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    idd_tz_t *tz = idd_xcalloc(1, sizeof(*tz));
    snprintf(tz->name, sizeof(tz->name), "%s", name ? name : "");
    header_t h;
    if (len < 44 || memcmp(data, "TZif", 4) != 0 || len > IDD_TZ_FILE_MAX)
        return fail(tz, err, errlen, "not a TZif file");
    if (!read_header(data, &h))
        return fail(tz, err, errlen, "TZif counts out of bounds");
    const unsigned char *p = data + 44, *end = data + len;
    size_t tsize = 4;
    if (data[4] != 0) { /* version 2 and later: skip the 32-bit block to the 64-bit one */
        size_t skip = block_size(&h, 4);
        if ((size_t)(end - p) < skip + 44 || memcmp(p + skip, "TZif", 4) != 0)
            return fail(tz, err, errlen, "truncated TZif file");
        p += skip;
        if (!read_header(p, &h))
            return fail(tz, err, errlen, "TZif counts out of bounds");
        p += 44;
        tsize = 8;
    }
    if ((size_t)(end - p) < block_size(&h, tsize))
        return fail(tz, err, errlen, "truncated TZif file");
    if (h.leapcnt != 0)
        return fail(tz, err, errlen, "leap-second zones (right/...) are not supported");
    const unsigned char *times = p, *idx = p + h.timecnt * tsize, *types = idx + h.timecnt;
    int32_t type_off[MAX_TYPES];
    for (uint32_t i = 0; i < h.typecnt; i++) {
        int32_t o = (int32_t)be32(types + 6 * i);
        if (o <= -MAX_OFFSET || o >= MAX_OFFSET || types[6 * i + 4] > 1 ||
            types[6 * i + 5] >= (h.charcnt ? h.charcnt : 1))
            return fail(tz, err, errlen, "bad local time type");
        type_off[i] = o;
    }
    tz->n = h.timecnt;
    tz->at = idd_xcalloc(h.timecnt ? h.timecnt : 1, sizeof(*tz->at));
    tz->off = idd_xcalloc(h.timecnt ? h.timecnt : 1, sizeof(*tz->off));
    for (uint32_t i = 0; i < h.timecnt; i++) {
        tz->at[i] = tsize == 8 ? be64(times + 8 * i) : (int32_t)be32(times + 4 * i);
        if (idx[i] >= h.typecnt || (i > 0 && tz->at[i] <= tz->at[i - 1]))
            return fail(tz, err, errlen, "bad transition");
        tz->off[i] = type_off[idx[i]];
    }
    /* Before the first transition: type 0 (RFC 8536 section 3.2). */
    tz->before = type_off[0];
    p += block_size(&h, tsize);
    if (tsize == 8 && p < end) { /* the footer: "\n" TZ-string "\n" */
        if (*p != '\n')
            return fail(tz, err, errlen, "bad TZif footer");
        const unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
        if (nl == NULL || nl - p - 1 > 128)
            return fail(tz, err, errlen, "bad TZif footer");
        char rule[129];
        memcpy(rule, p + 1, (size_t)(nl - p - 1));
        rule[nl - p - 1] = '\0';
        if (rule[0] != '\0') {
            if (!parse_rule(tz, rule))
                return fail(tz, err, errlen, "bad TZ rule in the TZif footer");
            tz->has_rule = true;
        }
    }
    *out = tz;
    return 0;
}

static bool valid_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > IDD_TZ_NAME_MAX ||
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-./") != len)
        return false;
    /* Every component non-empty and not starting with '.': no "..", no absolute path. */
    const char *c = name;
    for (;;) {
        if (*c == '/' || *c == '.' || *c == '\0')
            return false;
        const char *slash = strchr(c, '/');
        if (slash == NULL)
            return true;
        c = slash + 1;
    }
}

int idd_tz_load(const char *name, idd_tz_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (name == NULL || !valid_name(name)) {
        idd_errorf(err, errlen, "'%.80s' is not an IANA time zone name", name ? name : "");
        return IDD_EINVAL;
    }
    if (strcmp(name, "UTC") == 0) {
        idd_tz_t *tz = idd_xcalloc(1, sizeof(*tz));
        snprintf(tz->name, sizeof(tz->name), "UTC");
        *out = tz;
        return 0;
    }
    char path[sizeof(IDD_TZ_DIR) + IDD_TZ_NAME_MAX + 2];
    snprintf(path, sizeof(path), "%s/%s", IDD_TZ_DIR, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        idd_errorf(err, errlen, "time zone '%s' is not in %s (is tzdata installed?)", name,
                   IDD_TZ_DIR);
        return IDD_ENOTFOUND;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > IDD_TZ_FILE_MAX) {
        close(fd);
        idd_errorf(err, errlen, "time zone '%s': %s is not a zone file", name, path);
        return IDD_EINVAL;
    }
    unsigned char *data = idd_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    int rc = idd_tz_parse(data, got, name, out, err, errlen);
    free(data);
    return rc;
}

void idd_tz_free(idd_tz_t *tz)
{
    if (tz == NULL)
        return;
    free(tz->at);
    free(tz->off);
    free(tz);
}

const char *idd_tz_name(const idd_tz_t *tz)
{
    return tz ? tz->name : "UTC";
}

int32_t idd_tz_offset(const idd_tz_t *tz, int64_t t)
{
    if (tz == NULL)
        return 0;
    /* Years 1 to 9999 only: the rule's arithmetic never nears int64's ends. */
    if (t < IDD_DATETIME_MIN)
        t = IDD_DATETIME_MIN;
    if (t > IDD_DATETIME_MAX)
        t = IDD_DATETIME_MAX;
    if (tz->n == 0)
        return tz->has_rule ? rule_offset(tz, t) : tz->before;
    if (t < tz->at[0])
        return tz->before;
    if (t >= tz->at[tz->n - 1] && tz->has_rule)
        return rule_offset(tz, t);
    size_t lo = 0, hi = tz->n; /* the last transition at or before t is in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->off[lo];
}

/* ---- formatting ---------------------------------------------------------------------------- */

static char *put_digits(char *p, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* "yyyy-MM-ddTHH:mm:ss" of Unix time t (clamped to years 1..9999). */
static char *put_civil(char *p, int64_t t)
{
    if (t < IDD_DATETIME_MIN)
        t = IDD_DATETIME_MIN;
    if (t > IDD_DATETIME_MAX)
        t = IDD_DATETIME_MAX;
    int64_t days = floor_div(t, 86400), secs = t - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    p = put_digits(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_digits(p, (uint64_t)m, 2);
    *p++ = '-';
    p = put_digits(p, (uint64_t)d, 2);
    *p++ = 'T';
    p = put_digits(p, (uint64_t)(secs / 3600), 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)(secs / 60 % 60), 2);
    *p++ = ':';
    return put_digits(p, (uint64_t)(secs % 60), 2);
}

size_t idd_format_datetime(int64_t t, uint32_t ticks, const idd_tz_t *tz,
                           char out[IDD_DATETIME_LEN])
{
    int32_t off = t <= IDD_DATETIME_MIN ? 0 : idd_tz_offset(tz, t);
    if (t <= IDD_DATETIME_MIN)
        t = IDD_DATETIME_MIN, ticks = 0;
    if (t > IDD_DATETIME_MAX)
        t = IDD_DATETIME_MAX;
    if (ticks > 9999999)
        ticks = 9999999;
    char *p = put_civil(out, t + off);
    *p++ = '.';
    p = put_digits(p, ticks, 7);
    if (off == 0) {
        *p++ = 'Z';
    } else {
        uint32_t a = (uint32_t)(off < 0 ? -off : off);
        *p++ = off < 0 ? '-' : '+';
        p = put_digits(p, a / 3600, 2);
        *p++ = ':';
        p = put_digits(p, a / 60 % 60, 2);
    }
    *p = '\0';
    return (size_t)(p - out);
}

size_t idd_format_datetime_utc(int64_t t, uint32_t ticks, char out[IDD_DATETIME_UTC_LEN])
{
    if (ticks > 9999999)
        ticks = 9999999;
    char *p = put_civil(out, t);
    if (ticks != 0) {
        int width = 7;
        while (ticks % 10 == 0)
            ticks /= 10, width--;
        *p++ = '.';
        p = put_digits(p, ticks, width);
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

size_t idd_format_timespan(int32_t seconds, char out[11])
{
    char *p = out;
    int64_t a = seconds;
    if (a < 0) {
        *p++ = '-';
        a = -a;
    }
    p = put_digits(p, (uint64_t)(a / 3600 % 100), 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)(a / 60 % 60), 2);
    *p++ = ':';
    p = put_digits(p, (uint64_t)(a % 60), 2);
    *p = '\0';
    return (size_t)(p - out);
}
