/*
 * What the active-connections list shows about a session's client: platform, browser with
 * its major.minor version, and whether it is a mobile device, read from the User-Agent.
 * A heuristic over the common tokens, never trusted for anything but display.
 */
#ifndef IDENTITYD_USERAGENT_H
#define IDENTITYD_USERAGENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct idd_useragent {
    char platform[32]; /* "Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS", or "" */
    char browser[48];  /* "Chrome 120.0", "Firefox 121.0", "Safari 17.2", "Edge 120.0",
                          "Opera 105.0", "curl 7.88", or "" when unknown */
    bool mobile;
} idd_useragent_t;

/* Parses ua[0..len) (not necessarily NUL-terminated; may be NULL). Never fails: unknown parts
 * are left empty. Output strings are NUL-terminated printable ASCII. */
void idd_useragent_parse(const char *ua, size_t len, idd_useragent_t *out);

#endif
