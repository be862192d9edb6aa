/*
 * The API key operations of the SQLite engine: keys are created for a user of a tenant,
 * looked up by the keyed digest of the key (on every request that presents one) or by id (to
 * manage them), listed, renamed, re-scoped, deactivated or deleted, and touched in batches
 * as they are used.
 *
 * It assumes the handle, statements and helpers of sqlite_stmt.h and the api_keys
 * table of migrations/0003_api_keys.sql. A deactivated key keeps its row and every lookup
 * returns it, as an ended session does: the caller decides what an inactive or expired key
 * means.
 *
 * store.h carries a key's permissions as one space-separated string; the column holds a JSON
 * array of strings, as DocSpace keeps it. permissions.c converts between the two, json_dumps
 * included: keys are written when they are managed, never on the token mint path. Zero for
 * expires and last_used ("never") is NULL in the columns, and sqlite3_column_int64 reads a
 * NULL back as 0.
 *
 * Lookups by digest compare in SQL, not in constant time, for the reason sqlite_session.c
 * gives: the digest is keyed with a secret the attacker lacks, so no key can be made to hit
 * a chosen digest.
 */
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/permissions.h"
#include "store/sqlite_ops.h"
#include "store/checks.h"
#include "store/sqlite_stmt.h"

/* Reads the current row of an APIKEY_COLUMNS statement into out. */
static int read_apikey(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_apikey_t *out = record;
    const struct {
        int col;
        char *dst;
        size_t size;
    } texts[] = {
        {0, out->id, sizeof out->id},
        {2, out->created_by, sizeof out->created_by},
        {3, out->name, sizeof out->name},
        {5, out->postfix, sizeof out->postfix},
    };
    const void *digest;
    int rc;

    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < IDD_ARRAY_LEN(texts); i++) {
        rc = idd_sqlite_column_copy(ss, stmt, texts[i].col, texts[i].dst, texts[i].size);
        if (rc != 0)
            return rc;
    }
    digest = sqlite3_column_blob(stmt, 4);
    if (digest == NULL || sqlite3_column_bytes(stmt, 4) != IDD_SESSION_DIGEST_LEN) {
        idd_log_error("store: API key %s has a malformed key digest", out->id);
        return IDD_ESTORE;
    }
    memcpy(out->digest, digest, IDD_SESSION_DIGEST_LEN);
    rc = idd_store_permissions_from_json((const char *)sqlite3_column_text(stmt, 6),
                                         (size_t)sqlite3_column_bytes(stmt, 6), out->id,
                                         out->permissions, sizeof out->permissions);
    if (rc != 0)
        return rc;
    out->tenant_id = sqlite3_column_int64(stmt, 1);
    out->created = sqlite3_column_int64(stmt, 7);
    out->expires = sqlite3_column_int64(stmt, 8);
    out->last_used = sqlite3_column_int64(stmt, 9);
    out->active = sqlite3_column_int(stmt, 10) != 0;
    out->deactivated = sqlite3_column_int(stmt, 11);
    if (sqlite3_column_type(stmt, 12) != SQLITE_NULL)
        return idd_sqlite_column_copy(ss, stmt, 12, out->deactivated_by,
                                      sizeof out->deactivated_by);
    return 0;
}

/* With a cap, the count and the insert share one IMMEDIATE transaction (the INSERT counts
 * the creator's keys itself), so keys made at once on several threads cannot pass it
 * together. */
int idd_sqlite_apikey_create(idd_store_t *s, idd_apikey_t *key, int max_per_user)
{
    sqlite_store_t *ss = to_sqlite(s);
    char id[IDD_GUID_LEN + 1];
    char *permissions = NULL;
    int64_t created;
    int began = 0;
    int changes = 0;
    int rc = IDD_EINVAL;

    if (key == NULL || max_per_user < 0)
        goto done;
    rc = idd_store_apikey_validate(key);
    if (rc != 0)
        goto done;
    rc = idd_store_permissions_to_json(key->permissions, &permissions);
    if (rc != 0)
        goto done;
    if (key->id[0] != '\0') {
        memcpy(id, key->id, sizeof id);
    } else {
        rc = idd_store_guid_new(id);
        if (rc != 0)
            goto done;
    }
    created = key->created != 0 ? key->created : idd_now();
    if (max_per_user > 0) {
        rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "apikey_create");
        if (rc != 0)
            goto done;
        began = 1;
    }
    const sqlite_param_t params[] = {
        SQL_TEXT(id, IDD_GUID_LEN),
        SQL_INT64(key->tenant_id),
        SQL_TEXT(key->created_by, IDD_GUID_LEN),
        SQL_TEXT(key->name, -1),
        SQL_BLOB(key->digest, IDD_SESSION_DIGEST_LEN),
        SQL_TEXT(key->postfix, POSTFIX_LEN),
        SQL_TEXT(permissions, -1),
        SQL_INT64(created),
        key->expires != 0 ? SQL_INT64(key->expires) : SQL_NULL,
        SQL_INT64(max_per_user > 0 ? max_per_user : INT64_MAX),
    };
    rc = idd_sqlite_write(ss, ST_APIKEY_CREATE, params, IDD_ARRAY_LEN(params), &changes);
    if (rc != 0)
        goto done;
    /* The SELECT found no user with this id in this tenant, or one already at the cap. */
    if (changes != 1) {
        int64_t count = 0;
        const sqlite_param_t creator[] = {SQL_TEXT(key->created_by, IDD_GUID_LEN)};
        rc = IDD_ENOTFOUND;
        if (max_per_user > 0 &&
            idd_sqlite_query_int(ss, ST_APIKEY_COUNT_CREATOR, creator, 1, &count) == 0 &&
            count >= max_per_user)
            rc = IDD_EDENIED;
        goto done;
    }
    if (began) {
        rc = idd_sqlite_exec(ss, "COMMIT", "apikey_create");
        if (rc != 0)
            goto done;
    }
    memcpy(key->id, id, sizeof id);
    key->created = created;
    key->last_used = 0;
    key->active = 1;
    key->deactivated = IDD_APIKEY_LIVE;
    key->deactivated_by[0] = '\0';
    rc = 0;

done:
    if (rc != 0 && began)
        idd_sqlite_rollback(ss);
    free(permissions);
    return rc;
}

int idd_sqlite_apikey_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                idd_apikey_t *out)
{
    if (digest == NULL) {
        memset(out, 0, sizeof *out);
        return IDD_EINVAL;
    }
    const sqlite_param_t params[] = {SQL_BLOB(digest, IDD_SESSION_DIGEST_LEN)};
    return idd_sqlite_lookup(to_sqlite(s), ST_APIKEY_BY_DIGEST, params, IDD_ARRAY_LEN(params),
                             read_apikey, out, sizeof *out);
}

int idd_sqlite_apikey_by_id(idd_store_t *s, const char *id, idd_apikey_t *out)
{
    if (!idd_store_id_plausible(id)) {
        memset(out, 0, sizeof *out);
        return IDD_ENOTFOUND;
    }
    const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN)};
    return idd_sqlite_lookup(to_sqlite(s), ST_APIKEY_BY_ID, params, IDD_ARRAY_LEN(params),
                             read_apikey, out, sizeof *out);
}

/* The visitor runs while the list statement is mid-step. It may look keys up, update or
 * delete them through the same handle (other statements), but not list again: that is
 * refused with IDD_EBUSY. */
int idd_sqlite_apikey_list(idd_store_t *s, int64_t tenant_id, const char *created_by,
                           idd_apikey_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_apikey_t key;
    int rc = IDD_EINVAL;

    memset(&key, 0, sizeof key);
    if (visit == NULL)
        goto done;
    /* A creator no user can be has made no keys. */
    rc = 0;
    if (created_by != NULL && !idd_store_id_plausible(created_by))
        goto done;
    rc = idd_sqlite_stmt_get(
        ss, created_by != NULL ? ST_APIKEY_LIST_CREATOR : ST_APIKEY_LIST_TENANT, &stmt);
    if (rc != 0)
        goto done;
    const sqlite_param_t params[] = {SQL_INT64(tenant_id), SQL_TEXT(created_by, IDD_GUID_LEN)};
    rc = idd_sqlite_bind(ss, stmt, params, created_by != NULL ? 2 : 1);
    if (rc != 0)
        goto done;
    for (;;) {
        rc = idd_sqlite_next(ss, stmt, "apikey_list", read_apikey, &key);
        if (rc != 1 || visit(&key, arg) != 0)
            break;
    }
    if (rc == 1)
        rc = 0;

done:
    idd_sqlite_stmt_put(stmt);
    idd_wipe(&key, sizeof key);
    return rc;
}

int idd_sqlite_apikey_update(idd_store_t *s, const char *id, const char *name,
                             const char *permissions)
{
    char *json = NULL;
    int changes = 0;
    int rc = IDD_ENOTFOUND;

    if (!idd_store_id_plausible(id))
        goto done;
    if (name != NULL) {
        size_t len = strnlen(name, IDD_APIKEY_NAME_MAX + 1);
        rc = len > IDD_APIKEY_NAME_MAX ? IDD_ETOOBIG : len == 0 ? IDD_EINVAL : 0;
        if (rc != 0)
            goto done;
    }
    if (permissions != NULL) {
        rc = idd_store_permissions_to_json(permissions, &json);
        if (rc != 0)
            goto done;
    }
    /* A NULL parameter keeps its column's value. */
    const sqlite_param_t params[] = {
        SQL_TEXT(id, IDD_GUID_LEN),
        name != NULL ? SQL_TEXT(name, -1) : SQL_NULL,
        json != NULL ? SQL_TEXT(json, -1) : SQL_NULL,
    };
    rc = idd_sqlite_write(to_sqlite(s), ST_APIKEY_UPDATE, params, IDD_ARRAY_LEN(params), &changes);
    if (rc == 0 && changes != 1)
        rc = IDD_ENOTFOUND;

done:
    free(json);
    return rc;
}

/* The rules are in the statements (ST_APIKEY_DEACTIVATE, ST_APIKEY_ACTIVATE), so the check
 * and the write are one step. A re-activation that changed nothing is told apart afterwards:
 * an unknown key, or one whose level is above what the caller may lift. */
int idd_sqlite_apikey_set_active(idd_store_t *s, const char *id, int active, int level,
                                 const char *by)
{
    sqlite_store_t *ss = to_sqlite(s);
    idd_apikey_t key;
    int changed = 0;
    int rc;

    if (!idd_store_id_plausible(id))
        return IDD_ENOTFOUND;
    if (active ? (level < IDD_APIKEY_BY_OWNER || level > IDD_APIKEY_BY_ADMIN)
               : (level < IDD_APIKEY_BY_OWNER || level > IDD_APIKEY_REVOKED))
        return IDD_EINVAL;
    if (by != NULL && !idd_store_id_plausible(by))
        return IDD_EINVAL;
    if (active) {
        const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN), SQL_INT64(level)};
        rc = idd_sqlite_write(ss, ST_APIKEY_ACTIVATE, params, IDD_ARRAY_LEN(params), &changed);
    } else {
        const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN), SQL_INT64(level),
                                         by != NULL ? SQL_TEXT(by, IDD_GUID_LEN) : SQL_NULL};
        rc = idd_sqlite_write(ss, ST_APIKEY_DEACTIVATE, params, IDD_ARRAY_LEN(params), &changed);
    }
    if (rc != 0 || changed == 1)
        return rc;
    rc = idd_sqlite_apikey_by_id(s, id, &key);
    idd_wipe(&key, sizeof key);
    return rc == 0 ? (active ? IDD_EDENIED : 0) : rc;
}

/* One DELETE of at most limit rows, as session pruning does. */
int idd_sqlite_apikey_prune(idd_store_t *s, int64_t now, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const sqlite_param_t params[] = {SQL_INT64(now), SQL_INT64(limit)};
    return idd_sqlite_write(to_sqlite(s), ST_APIKEY_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}

int idd_sqlite_apikey_delete(idd_store_t *s, const char *id)
{
    int changes = 0;

    if (!idd_store_id_plausible(id))
        return IDD_ENOTFOUND;
    const sqlite_param_t params[] = {SQL_TEXT(id, IDD_GUID_LEN)};
    int rc =
        idd_sqlite_write(to_sqlite(s), ST_APIKEY_DELETE, params, IDD_ARRAY_LEN(params), &changes);
    return rc == 0 && changes != 1 ? IDD_ENOTFOUND : rc;
}

/* One write transaction for the whole batch: one commit (one WAL sync) instead of one per key,
 * which is the point of batching the uses, and a batch is recorded whole or not at all. Ids
 * of keys deleted since they were used are skipped silently: their use no longer matters. */
int idd_sqlite_apikey_touch(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1],
                            const int64_t *when, size_t n)
{
    sqlite_store_t *ss = to_sqlite(s);
    int began = 0;
    int rc = 0;

    if (n == 0)
        goto done;
    rc = IDD_EINVAL;
    if (ids == NULL || when == NULL)
        goto done;
    /* IMMEDIATE takes the write lock up front, where busy_timeout still applies; a deferred
     * transaction could fail half-way instead when another writer holds it. */
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "apikey_touch");
    if (rc != 0)
        goto done;
    began = 1;
    for (size_t i = 0; i < n; i++) {
        /* An id of another shape names no key, and a time that is not positive is no use. */
        if (!idd_store_id_plausible(ids[i]) || when[i] <= 0)
            continue;
        const sqlite_param_t params[] = {SQL_TEXT(ids[i], IDD_GUID_LEN), SQL_INT64(when[i])};
        rc = idd_sqlite_write(ss, ST_APIKEY_TOUCH, params, IDD_ARRAY_LEN(params), NULL);
        if (rc != 0)
            goto done;
    }
    rc = idd_sqlite_exec(ss, "COMMIT", "apikey_touch");

done:
    /* Only a transaction begun here is rolled back. */
    if (rc != 0 && began)
        idd_sqlite_rollback(ss);
    return rc;
}
