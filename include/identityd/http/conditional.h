/*
 * Conditional GETs of public documents (RFC 9110, section 13): If-None-Match against the
 * entity tag of what would be sent, and the answers that let consumers cache the document.
 */
#ifndef IDENTITYD_HTTP_CONDITIONAL_H
#define IDENTITYD_HTTP_CONDITIONAL_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

/* Whether one If-None-Match field value matches etag (quoted, as sent in ETag): "*", or a
 * list of entity tags one of which equals etag by the weak comparison (a W/ prefix does not
 * matter). A value that is not a well-formed list matches nothing, so the document is sent
 * whole. */
bool idd_http_etag_match(const char *value, size_t len, const char *etag, size_t etag_len);

/* Whether any If-None-Match header of req matches etag. */
bool idd_http_if_none_match(h2o_req_t *req, const char *etag, size_t etag_len);

/* Adds "Cache-Control: public, max-age=max_age" and, when etag is not NULL, "ETag: etag"
 * to req's response headers. etag is not copied: it must live until the response is sent
 * (a keyring's does: the request holds its generation until h2o frees it). */
void idd_http_cacheable(h2o_req_t *req, int max_age, const char *etag, size_t etag_len);

/* Answers 304 Not Modified, with no body, keeping the headers already added. */
void idd_http_not_modified(h2o_req_t *req);

#endif
