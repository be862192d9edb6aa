/*
 * Request bodies (api/body.c): every JSON body is read as idd_api_body_object reads it
 * (jansson, duplicate names refused, an object or nothing), then the members the handlers
 * take are read with idd_api_string_member, and checked as the handlers check them: the
 * sign-in's userName, password, passwordHash and code (api/authentication.c, api/tfa.c), an
 * API key's name and permissions (api/keys.c, with cred/apikey.c's rules). The handlers
 * themselves answer on a request and reach the store; this target stops at their input.
 *
 * Input: the body.
 *
 * Promises checked: a string member has no NUL inside; an accepted key name and permission
 * list stay within their bounds.
 */
#include <string.h>

#include <jansson.h>

#include "api/body.h"
#include "identityd/cred/apikey.h"

#include "fuzz.h"

static const char *const members[] = {"userName", "password", "passwordHash", "code",
                                      "name",     "email",    "confirmKey"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (body == NULL || !json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
        const char *v = (const char *)1;
        int rc = idd_api_string_member(body, members[i], &v);
        FUZZ_CHECK(rc == 0 || rc == -1);
        if (rc != 0) {
            FUZZ_CHECK(v == NULL);
            continue;
        }
        if (v == NULL)
            continue;
        size_t len = strlen(v);
        FUZZ_CHECK(len == json_string_length(json_object_get(body, members[i])));
        if (strcmp(members[i], "name") == 0)
            (void)idd_apikey_check_name(v, len);
    }
    /* POST /api/2.0/keys: "permissions", an array of names. */
    json_t *perms = json_object_get(body, "permissions");
    if (json_is_array(perms)) {
        char list[256] = "";
        size_t i;
        json_t *p;
        json_array_foreach(perms, i, p)
        {
            if (!json_is_string(p))
                break;
            if (idd_apikey_permissions_add(list, sizeof(list), json_string_value(p),
                                           json_string_length(p)) != NULL)
                break;
        }
        FUZZ_CHECK(strlen(list) < sizeof(list));
        char scopes[256];
        idd_apikey_scopes(list, scopes, sizeof(scopes));
    }
    json_decref(body);
    return 0;
}
