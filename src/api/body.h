/*
 * Reading JSON request bodies, the same way for every resource of src/api/.
 */
#ifndef IDENTITYD_API_BODY_H
#define IDENTITYD_API_BODY_H

#include <jansson.h>

#include "identityd/app/app.h"

/* Parses r's body as a JSON object (duplicate members refused). Answers 400 in the error
 * envelope and returns NULL otherwise; the caller owns the object. */
json_t *idd_api_body_object(idd_request_t *r);

/* A string member that may be absent: returns 0 with *out = its value, or NULL when absent
 * or null; -1 for another type or a string holding a NUL. */
int idd_api_string_member(json_t *object, const char *name, const char **out);

#endif
