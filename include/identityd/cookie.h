/*
 * Reading cookies from a request. h2o has no cookie parser, and HTTP/2 may split the Cookie
 * header into several fields, so every `cookie` header is searched.
 */
#ifndef IDENTITYD_COOKIE_H
#define IDENTITYD_COOKIE_H

#include <h2o.h>

/* Finds cookie name in the request's Cookie headers. On success *value points into the
 * header (not NUL-terminated; surrounding double quotes removed) and 1 is returned;
 * 0 when absent. */
int idd_cookie_find(h2o_req_t *req, const char *name, h2o_iovec_t *value);

/* The same search over one raw Cookie header value (exposed for unit tests). */
int idd_cookie_find_in(const char *header, size_t len, const char *name, h2o_iovec_t *value);

#endif
