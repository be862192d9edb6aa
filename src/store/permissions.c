/*
 * An API key's permissions as both engines store them (store.h carries them as one
 * space-separated string, the api_keys column as the JSON array DocSpace keeps): the
 * conversions, with jansson. Private to src/store/.
 */
#include "store/permissions.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"

/* Turns space-separated permission names into the compact JSON array the column holds,
 * ["files:read","rooms:write"] or [] for none, malloc'd into *out (free() it). Runs of
 * spaces count as one separator. IDD_ETOOBIG for a text longer than
 * IDD_APIKEY_PERMISSIONS_MAX bytes, IDD_EINVAL for a name that is not valid UTF-8 (jansson
 * refuses those, and a JSON document must not carry them). */
int idd_store_permissions_to_json(const char *text, char **out)
{
    json_t *list = NULL;
    int rc = IDD_ETOOBIG;

    *out = NULL;
    if (strnlen(text, IDD_APIKEY_PERMISSIONS_MAX + 1) > IDD_APIKEY_PERMISSIONS_MAX)
        goto done;
    rc = IDD_ESTORE;
    list = json_array();
    if (list == NULL)
        goto done;
    for (const char *p = text + strspn(text, " "); *p != '\0'; p += strspn(p, " ")) {
        size_t len = strcspn(p, " ");
        json_t *name = json_stringn(p, len);
        if (name == NULL) {
            rc = IDD_EINVAL;
            goto done;
        }
        if (json_array_append_new(list, name) != 0)
            goto done;
        p += len;
    }
    *out = json_dumps(list, JSON_COMPACT);
    if (*out == NULL) {
        idd_log_error("store: cannot serialise API key permissions");
        goto done;
    }
    rc = 0;

done:
    json_decref(list);
    return rc;
}

/* Turns the permissions column (doc[0..len)) back into space-separated names in out (size
 * bytes). The schema can only insist on a JSON array; every element must also be a
 * non-empty string without spaces or NUL, which is all this store ever writes, and the
 * whole must fit the field. Anything else came from a writer bypassing the store, and is
 * reported as IDD_ESTORE rather than guessed at: permissions decide what a key may do. */
int idd_store_permissions_from_json(const char *doc, size_t len, const char *key_id, char *out,
                                    size_t size)
{
    json_t *list = doc != NULL ? json_loadb(doc, len, 0, NULL) : NULL;
    size_t used = 0;
    int rc = IDD_ESTORE;

    out[0] = '\0';
    if (!json_is_array(list))
        goto done;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *item = json_array_get(list, i);
        const char *name = json_string_value(item);
        size_t n = json_string_length(item);
        if (name == NULL || n == 0 || memchr(name, ' ', n) != NULL || memchr(name, '\0', n) != NULL)
            goto done;
        if (used + (used > 0) + n >= size)
            goto done;
        if (used > 0)
            out[used++] = ' ';
        memcpy(out + used, name, n);
        used += n;
    }
    out[used] = '\0';
    rc = 0;

done:
    if (rc != 0) {
        idd_log_error("store: API key %s has malformed permissions", key_id);
        out[0] = '\0';
    }
    json_decref(list);
    return rc;
}
