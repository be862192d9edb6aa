/*
 * Reading cookies from a request. h2o has no cookie parser, and HTTP/2 may split the Cookie
 * header into several fields, so every `cookie` header is searched.
 */
#ifndef IDENTITYD_COOKIE_H
#define IDENTITYD_COOKIE_H

#include <stdbool.h>
#include <stdint.h>

#include <h2o.h>

/* Finds cookie name in the request's Cookie headers. On success *value points into the
 * header (not NUL-terminated; surrounding double quotes removed) and 1 is returned;
 * 0 when absent. */
int idd_cookie_find(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/* The same search over one raw Cookie header value (exposed for unit tests). */
int idd_cookie_find_in(const char *header, size_t len, const char *name, h2o_iovec_t *value);

/* The session cookie's name, as DocSpace names it. */
#define IDD_SESSION_COOKIE "asc_auth_key"

/* Adds Set-Cookie name=value: Path=/; HttpOnly; SameSite=Strict, Secure when secure, and
 * Expires=expires unless expires is 0 (a browser-session cookie). */
void idd_cookie_set(h2o_req_t *req, const char *name, const char *value, int64_t expires,
                    bool secure);

/* Adds Set-Cookie deleting cookie name (empty value, Max-Age=0, an Expires in the past). */
void idd_cookie_clear(h2o_req_t *req, const char *name, bool secure);

/* Adds Set-Cookie for the session token: Path=/; HttpOnly; SameSite=Strict, Secure when
 * secure, and Expires=expires unless expires is 0 (a browser-session cookie). */
void idd_cookie_set_session(h2o_req_t *req, const char *token, int64_t expires, bool secure);

/* Adds Set-Cookie deleting the session cookie (empty value, Max-Age=0, an Expires in the
 * past for old clients). */
void idd_cookie_clear_session(h2o_req_t *req, bool secure);

#endif
