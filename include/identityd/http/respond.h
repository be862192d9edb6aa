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

#include "identityd/http/server.h"

/* Sends body (already JSON) with status and Content-Type application/json. The body is
 * copied into the request's pool. */
void idd_respond_json(h2o_req_t *req, int status, const char *body, size_t len);

/* Sends the success envelope around response_json (a JSON value, written as is) with
 * count. links[0] is the full request URL and method. */
void idd_respond_envelope(idd_request_t *r, int status, const char *response_json, size_t len,
                          long count);

/* The envelope around a boolean (BooleanWrapper) or a string (StringWrapper). */
void idd_respond_bool(idd_request_t *r, bool value);
void idd_respond_string(idd_request_t *r, const char *value);

/* Sends the error envelope with message (plain text; escaped here). */
void idd_respond_error(h2o_req_t *req, int status, const char *message);

/* Adds a response header (name lowercase); value copied into the pool. */
void idd_respond_header(h2o_req_t *req, const char *name, const char *value);

/* The reason phrase for a status ("Not Found"). */
const char *idd_status_reason(int status);

#endif
