/*
 * Responses in DocSpace's shapes. Success bodies are the envelope
 * {"response":…,"count":N,"links":[{"href":…,"action":…}],"status":0,"statusCode":200};
 * failures are {"error":{"message":…},"status":1,"statusCode":N}. Every API response says
 * Cache-Control: no-store, since most of them carry credentials or facts about users.
 */
#ifndef IDENTITYD_RESPOND_H
#define IDENTITYD_RESPOND_H

#include <stdbool.h>
#include <stddef.h>

#include <h2o.h>

/* Sends body (already JSON) with status and Content-Type application/json. The body is
 * copied into the request's pool. */
void idd_respond_json(h2o_req_t *req, int status, const char *body, size_t len);

/* Sends body as is with content_type (a static string), Content-Length and, unless a
 * Cache-Control header was added before, Cache-Control: no-store. */
void idd_respond_body(h2o_req_t *req, int status, const char *content_type, const char *body,
                      size_t len);

/* Sends the success envelope around response_json (a JSON value, written as is) with
 * count. links[0] is the request's full URL (origin, "scheme://host" as the client
 * addressed us, and the path) and its method. A null result (response_json NULL, count 0)
 * is sent without "response". */
void idd_respond_envelope(h2o_req_t *req, h2o_iovec_t origin, int status, const char *response_json,
                          size_t len, long count);

/* The envelope around a boolean (BooleanWrapper) or a string (StringWrapper). */
void idd_respond_bool(h2o_req_t *req, h2o_iovec_t origin, bool value);
void idd_respond_string(h2o_req_t *req, h2o_iovec_t origin, const char *value);

/* Sends the error envelope with message (plain text; escaped here). */
void idd_respond_error(h2o_req_t *req, int status, const char *message);

/* Adds a response header (name lowercase); value copied into the pool. */
void idd_respond_header(h2o_req_t *req, const char *name, const char *value);

/* The reason phrase for a status ("Not Found"). */
const char *idd_status_reason(int status);

#endif
