/*
 * An API key's permissions between store.h's space-separated string and the JSON array the
 * api_keys column holds (permissions.c). Private to src/store/.
 */
#ifndef IDD_STORE_PERMISSIONS_H
#define IDD_STORE_PERMISSIONS_H

#include <stddef.h>

/* Space-separated names into a compact JSON array, malloc'd into *out (free() it): 0,
 * IDD_ETOOBIG for a text longer than IDD_APIKEY_PERMISSIONS_MAX, IDD_EINVAL for a name that is
 * not valid UTF-8, IDD_ESTORE when jansson fails. */
int idd_store_permissions_to_json(const char *text, char **out);

/* The column's doc[0..len) back into space-separated names in out (size bytes): IDD_ESTORE
 * (logged with key_id) for anything but an array of non-empty strings without spaces that
 * fits. */
int idd_store_permissions_from_json(const char *doc, size_t len, const char *key_id, char *out,
                                    size_t size);

#endif
