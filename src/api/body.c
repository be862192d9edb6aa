/*
 * Reading JSON request bodies (body.h).
 */
#include "api/body.h"

#include <string.h>

#include "identityd/http/respond.h"

json_t *idd_api_body_object(idd_request_t *r)
{
    json_error_t error;
    json_t *body =
        json_loadb(r->req->entity.base, r->req->entity.len, JSON_REJECT_DUPLICATES, &error);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        idd_respond_error(r->req, 400, "The request body must be a JSON object");
        return NULL;
    }
    return body;
}

int idd_api_string_member(json_t *object, const char *name, const char **out)
{
    json_t *v = json_object_get(object, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}
