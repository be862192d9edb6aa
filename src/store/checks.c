/*
 * The checks and values both store engines share (store/checks.h): nothing here knows SQL.
 */
#include "store/checks.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

int idd_store_field_length(const char *field, size_t size, size_t *len)
{
    size_t n = strnlen(field, size);
    if (n == size)
        return IDD_ETOOBIG;
    *len = n;
    return 0;
}

int idd_store_fields_length(const store_field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        int rc = idd_store_field_length(fields[i].field, fields[i].size, &len);
        if (rc != 0)
            return rc;
        if (fields[i].len != NULL)
            *fields[i].len = len;
    }
    return 0;
}

/* A random (version 4, RFC 4122 variant) GUID in lowercase with hyphens. */
int idd_store_guid_new(char out[IDD_GUID_LEN + 1])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        idd_log_error("store: RAND_bytes failed");
        return IDD_ECRYPTO;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, IDD_GUID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}

/* Any version is accepted, since users imported from DocSpace bring their own ids. */
int idd_store_guid_valid(const char *s, size_t len)
{
    if (len != IDD_GUID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* Fills out with lowercase hex of n random bytes (out holds 2n + 1). */
int idd_store_random_hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[32];

    if (n > sizeof bytes || RAND_bytes(bytes, (int)n) != 1) {
        idd_log_error("store: RAND_bytes failed");
        return IDD_ECRYPTO;
    }
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
    idd_wipe(bytes, sizeof bytes);
    return 0;
}

/* Whether id is shaped like a stored id (user or key); anything else matches no row. */
int idd_store_id_plausible(const char *id)
{
    return id != NULL && strnlen(id, IDD_GUID_LEN + 1) == IDD_GUID_LEN;
}

/* Checks a session about to be inserted: every string terminated inside its array
 * (IDD_ETOOBIG otherwise: callers cut the IP and user agent to fit first), a positive tenant
 * and auth_version (IDD_EINVAL), a user id of the stored shape (IDD_ENOTFOUND). */
int idd_store_session_validate(const idd_session_t *session)
{
    const store_field_t texts[] = {
        STORE_FIELD(session->user_id, NULL),
        STORE_FIELD(session->ip, NULL),
        STORE_FIELD(session->user_agent, NULL),
    };
    int rc = idd_store_fields_length(texts, IDD_ARRAY_LEN(texts));

    if (rc != 0)
        return rc;
    if (session->tenant_id <= 0 || session->auth_version < 1)
        return IDD_EINVAL;
    if (!idd_store_id_plausible(session->user_id))
        return IDD_ENOTFOUND;
    return 0;
}

/* A user id as the store keeps them, or IDD_EINVAL before any SQL runs. */
int idd_store_tfa_user_check(const char *user_id)
{
    if (user_id == NULL || !idd_store_guid_valid(user_id, strnlen(user_id, IDD_GUID_LEN + 1)))
        return IDD_EINVAL;
    return 0;
}

/* A sealed record's length, or IDD_EINVAL / IDD_ETOOBIG. */
int idd_store_tfa_record_check(const char *rec, size_t size)
{
    size_t len = 0;
    if (rec == NULL || rec[0] == '\0')
        return IDD_EINVAL;
    return idd_store_field_length(rec, size, &len);
}

int idd_store_user_validate(const idd_user_t *user)
{
    size_t id_len = 0, email_len = 0, password_len = 0;
    const store_field_t texts[] = {
        STORE_FIELD(user->id, &id_len),
        STORE_FIELD(user->email, &email_len),
        STORE_FIELD(user->first_name, NULL),
        STORE_FIELD(user->last_name, NULL),
        STORE_FIELD(user->password, &password_len),
    };
    int rc = idd_store_fields_length(texts, IDD_ARRAY_LEN(texts));

    if (rc != 0)
        return rc;
    if (email_len == 0 || password_len == 0 || user->tenant_id <= 0)
        return IDD_EINVAL;
    if (id_len != 0 && !idd_store_guid_valid(user->id, id_len))
        return IDD_EINVAL;
    if (idd_role_name(user->role) == NULL || idd_user_status_name(user->status) == NULL)
        return IDD_EINVAL;
    return 0;
}

int idd_store_apikey_validate(const idd_apikey_t *key)
{
    size_t id_len = 0, creator_len = 0, name_len = 0, postfix_len = 0;
    const store_field_t texts[] = {
        STORE_FIELD(key->id, &id_len),       STORE_FIELD(key->created_by, &creator_len),
        STORE_FIELD(key->name, &name_len),   STORE_FIELD(key->postfix, &postfix_len),
        STORE_FIELD(key->permissions, NULL),
    };
    int rc = idd_store_fields_length(texts, IDD_ARRAY_LEN(texts));

    if (rc != 0)
        return rc;
    if (key->tenant_id <= 0 || name_len == 0 || postfix_len != POSTFIX_LEN || key->created < 0 ||
        key->expires < 0)
        return IDD_EINVAL;
    if (id_len != 0 && !idd_store_guid_valid(key->id, id_len))
        return IDD_EINVAL;
    if (creator_len != IDD_GUID_LEN)
        return IDD_ENOTFOUND;
    return 0;
}
