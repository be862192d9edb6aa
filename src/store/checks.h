/*
 * What both store engines check and make the same way, engine-neutral: string fields that
 * must fit their arrays, GUIDs, random hex, the shape of ids, and the checks of a session or
 * a two-factor record about to be written. Private to src/store/.
 */
#ifndef IDD_STORE_CHECKS_H
#define IDD_STORE_CHECKS_H

#include <stddef.h>

#include "identityd/store/store.h"

#define POSTFIX_LEN 4 /* characters of an API key the store keeps */

/* The length of a NUL-terminated string held in a char[size] field, or IDD_ETOOBIG when the
 * field holds no terminator. */
int idd_store_field_length(const char *field, size_t size, size_t *len);

/* One string field of a record about to be written: its char array, the array's size and
 * where its length goes (NULL: checked only). STORE_FIELD(arr, len) fills one from an array. */
typedef struct store_field {
    const char *field;
    size_t size;
    size_t *len;
} store_field_t;
#define STORE_FIELD(arr, lenp)                                                                     \
    {                                                                                              \
        (arr), sizeof(arr), (lenp)                                                                 \
    }

/* Checks fields[0..n) in order as idd_store_field_length does, storing each length: 0, or
 * IDD_ETOOBIG for the first field that holds no terminator (later ones are left unread). */
int idd_store_fields_length(const store_field_t *fields, size_t n);

/* Writes a fresh random (version 4) GUID, lowercase with hyphens. Returns 0 or IDD_ECRYPTO. */
int idd_store_guid_new(char out[IDD_GUID_LEN + 1]);

/* Whether s[0..len) is a GUID as the store keeps them: 8-4-4-4-12 lowercase hex digits. */
int idd_store_guid_valid(const char *s, size_t len);

/* Fills out with lowercase hex of n (<= 32) random bytes (out holds 2n + 1). Returns 0 or
 * IDD_ECRYPTO. */
int idd_store_random_hex(char *out, size_t n);

/* Whether id is shaped like a stored id (user or key); anything else matches no row. */
int idd_store_id_plausible(const char *id);

/* Checks a session about to be inserted: every string terminated inside its array
 * (IDD_ETOOBIG otherwise: callers cut the IP and user agent to fit first), a positive tenant
 * and auth_version (IDD_EINVAL), a user id of the stored shape (IDD_ENOTFOUND). */
int idd_store_session_validate(const idd_session_t *session);

/* A user id as the store keeps them, or IDD_EINVAL before any query runs. */
int idd_store_tfa_user_check(const char *user_id);

/* A sealed two-factor record's length, or IDD_EINVAL / IDD_ETOOBIG. */
int idd_store_tfa_record_check(const char *rec, size_t size);

/* Checks a user about to be inserted: every string terminated inside its array (IDD_ETOOBIG),
 * an email, a password record and a tenant (IDD_EINVAL), an id empty or a GUID, a known role
 * and status. */
int idd_store_user_validate(const idd_user_t *user);

/* Checks an API key about to be inserted: strings terminated (IDD_ETOOBIG), a tenant, a name,
 * the stored postfix's length, times not negative and an id empty or a GUID (IDD_EINVAL), a
 * creator id of the stored shape (IDD_ENOTFOUND). */
int idd_store_apikey_validate(const idd_apikey_t *key);

#endif
