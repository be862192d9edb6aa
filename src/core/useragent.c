/*
 * A User-Agent read for display in the active-connections list: platform, browser with its
 * major.minor version, and whether the device is mobile.
 *
 * It is a list of product tokens searched in order, not a grammar: browsers copy each
 * other's tokens ("like Gecko", "Safari/" in Chrome, "Linux" in Android), so the order of
 * the tables below is what makes the answer right, more specific tokens first. Only the
 * first MAX_SCAN bytes are looked at; real User-Agents are a few hundred bytes and the
 * header may be anything a client cares to send. The output holds only fixed names and
 * digits, so hostile bytes in the input can never reach it.
 */
#include "identityd/core/useragent.h"

#include <stdio.h>
#include <string.h>

#include "identityd/core/common.h"

#define MAX_SCAN 2048 /* bytes of the header examined */
#define MAX_DIGITS 6  /* of a version part; longer runs are cut ("123456789" -> "123456") */

/* Where token first occurs in ua[0..len), or NULL. */
static const char *find(const char *ua, size_t len, const char *token)
{
    return memmem(ua, len, token, strlen(token));
}

/* Platforms, first match wins. iOS comes before macOS ("like Mac OS X") and Android and
 * ChromeOS before Linux (both say "Linux"). iPadOS 13 and later sends a Macintosh UA by
 * default, so such an iPad shows as macOS: nothing in the header tells them apart. */
static const struct platform_rule {
    const char *token, *name;
} platform_rules[] = {
    {"CrOS", "ChromeOS"},   {"Android", "Android"}, {"iPhone", "iOS"},
    {"iPad", "iOS"},        {"iPod", "iOS"},        {"Windows", "Windows"},
    {"Macintosh", "macOS"}, {"Mac OS X", "macOS"},  {"Linux", "Linux"},
};

/* Browsers, first match wins; the version follows the token itself. Chromium-based
 * browsers carry "Chrome/" and "Safari/", so Edge and Opera come before Chrome and Chrome
 * before Safari; the iOS browsers (all WebKit) name themselves CriOS, FxiOS and EdgiOS. */
static const struct browser_rule {
    const char *token, *name;
} browser_rules[] = {
    {"Edg/", "Edge"},        {"EdgA/", "Edge"},    {"EdgiOS/", "Edge"},   {"Edge/", "Edge"},
    {"OPR/", "Opera"},       {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"FxiOS/", "Firefox"},
    {"Firefox/", "Firefox"}, {"curl/", "curl"},
};

/* Appends " major[.minor]" read from p[0..end) to name, into out; stops at the first byte
 * that is not part of a version. No digits at all gives the name alone. */
static void name_version(const char *name, const char *p, const char *end, char *out, size_t size)
{
    char major[MAX_DIGITS + 1] = "", minor[MAX_DIGITS + 1] = "";
    size_t n = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (n < MAX_DIGITS)
            major[n++] = *p;
        p++;
    }
    major[n] = '\0';
    if (n > 0 && p + 1 < end && *p == '.' && p[1] >= '0' && p[1] <= '9') {
        p++;
        n = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (n < MAX_DIGITS)
                minor[n++] = *p;
            p++;
        }
        minor[n] = '\0';
    }
    if (major[0] == '\0')
        snprintf(out, size, "%s", name);
    else if (minor[0] == '\0')
        snprintf(out, size, "%s %s", name, major);
    else
        snprintf(out, size, "%s %s.%s", name, major, minor);
}

static void parse_browser(const char *ua, size_t len, char *out, size_t size)
{
    const char *end = ua + len, *at;
    for (size_t i = 0; i < IDD_ARRAY_LEN(browser_rules); i++) {
        at = find(ua, len, browser_rules[i].token);
        if (at != NULL) {
            name_version(browser_rules[i].name, at + strlen(browser_rules[i].token), end, out,
                         size);
            return;
        }
    }
    /* Safari names its version in "Version/", its "Safari/" number being the WebKit build.
     * Anything Chromium-based was caught above; Android's old stock browser also says
     * "Version/4.0 ... Safari/" and is not Safari. */
    at = find(ua, len, "Version/");
    if (at != NULL && find(ua, len, "Safari/") != NULL && find(ua, len, "Android") == NULL)
        name_version("Safari", at + strlen("Version/"), end, out, size);
}

void idd_useragent_parse(const char *ua, size_t len, idd_useragent_t *out)
{
    memset(out, 0, sizeof(*out));
    if (ua == NULL || len == 0)
        return;
    if (len > MAX_SCAN)
        len = MAX_SCAN;

    for (size_t i = 0; i < IDD_ARRAY_LEN(platform_rules); i++) {
        if (find(ua, len, platform_rules[i].token) != NULL) {
            snprintf(out->platform, sizeof(out->platform), "%s", platform_rules[i].name);
            break;
        }
    }
    parse_browser(ua, len, out->browser, sizeof(out->browser));
    /* Phones say "Mobile" (Safari's "Mobile/15E148", Chrome's "Mobile Safari", Firefox's
     * "Mobile;"); an iPhone is a phone even when an app's webview leaves the token out.
     * Android tablets omit "Mobile" on purpose, and are not counted. */
    out->mobile = find(ua, len, "Mobile") != NULL || find(ua, len, "iPhone") != NULL;
}
