/*
 * Outbound HTTP for the worker pool (discovery, JWKS, token introspection), on libcurl.
 * Blocking by design: only workers call it, never an event loop. Every call has a connect
 * and a total timeout, verifies TLS, follows no redirects, and bounds the response body.
 * Plain http:// is refused unless the caller allows it (loopback tests).
 */
#ifndef IDENTITYD_HTTPCLIENT_H
#define IDENTITYD_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/core/buf.h"

#define IDD_HTTP_BODY_MAX (1024 * 1024)

typedef struct idd_http_options {
    int connect_timeout; /* seconds */
    int total_timeout;   /* seconds */
    bool allow_http;     /* accept http:// URLs (otherwise only https://) */
} idd_http_options_t;

typedef struct idd_http_response {
    long status; /* HTTP status, 0 when no response arrived */
    idd_buf_t
        body; /* at most IDD_HTTP_BODY_MAX bytes; owned, dispose with idd_http_response_dispose */
    long max_age; /* Cache-Control max-age in seconds, -1 when absent; 0 for no-store/no-cache */
    char content_type[128];
} idd_http_response_t;

/* Initialises libcurl once per process (call from main before threads start). */
void idd_http_global_init(void);

/* GET url. Returns 0 when a response arrived (any status; see resp->status), IDD_EINVAL for a
 * URL the options refuse, IDD_ETOOBIG for a body over the limit, IDD_EIO for a network,
 * TLS or timeout failure (err gets a short reason). resp is initialised in every case. */
int idd_http_get(const char *url, const idd_http_options_t *opt, idd_http_response_t *resp,
                 char *err, size_t errlen);

/* POST an application/x-www-form-urlencoded body (form, form_len) with HTTP Basic
 * credentials user:password (both may be NULL for none; they are form-urlencoded first as
 * RFC 6749 §2.3.1 asks). Same results as idd_http_get. */
int idd_http_post_form(const char *url, const idd_http_options_t *opt, const char *user,
                       const char *password, const char *form, size_t form_len,
                       idd_http_response_t *resp, char *err, size_t errlen);

/* Appends application/x-www-form-urlencoded encoding of s[0..len) to b. */
void idd_http_form_encode(idd_buf_t *b, const char *s, size_t len);

void idd_http_response_dispose(idd_http_response_t *resp);

#endif
