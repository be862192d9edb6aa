/*
 * DocSpace's ApiDateTime as the tests read it: one JSON string of exactly
 * yyyy-MM-ddTHH:mm:ss.fffffff then Z or +hh:mm/-hh:mm (reference §1), checked with a regular
 * expression and turned back into Unix time, and the plain UTC form of `expires`.
 */
#ifndef IDD_TEST_APIDATE_H
#define IDD_TEST_APIDATE_H

#include <check.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <time.h>

#define APIDATE_RE                                                                                 \
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{7}(Z|[+-][0-9]{2}:[0-9]{2})$"
#define PLAINDATE_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,6}[1-9])?Z$"

static inline int apidate_matches(const char *pattern, const char *s)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* Asserts v is an ApiDateTime string; returns its instant, and its offset in *offset (seconds
 * east of UTC) when offset is not NULL. */
static inline int64_t apidate_parse(json_t *v, int *offset)
{
    ck_assert_msg(json_is_string(v), "ApiDateTime is not a string");
    const char *s = json_string_value(v);
    ck_assert_msg(apidate_matches(APIDATE_RE, s), "ApiDateTime '%s'", s);
    struct tm tm = {0};
    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
           &tm.tm_min, &tm.tm_sec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int off = 0;
    if (s[27] != 'Z') {
        int hh = 0, mm = 0;
        sscanf(s + 28, "%2d:%2d", &hh, &mm);
        off = (s[27] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
        ck_assert_msg(off != 0, "'%s': a zero offset is written Z", s);
    }
    if (offset != NULL)
        *offset = off;
    return (int64_t)timegm(&tm) - off;
}

#endif
