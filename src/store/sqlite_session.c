/*
 * The session operations of the SQLite engine: login events, created at sign-in, looked up by
 * the keyed digest of their token, touched as they are used and ended by logout, revocation
 * or a change to the user (see the transaction in sqlite_user.c's user updates).
 *
 * It assumes the handle, statements and helpers of sqlite_stmt.h and the
 * login_events table of migrations/0002_sessions.sql. An ended session keeps its row with
 * active = 0, so every lookup returns it and the caller decides; only the listing filters to
 * sessions that are active and unexpired.
 *
 * Lookups by digest compare in SQL, not in constant time. That is safe because the digest is
 * keyed with a secret the attacker lacks: timing can at most tell how a guessed digest
 * sorts against stored ones, and no token can be made to hit a chosen digest.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/sqlite_ops.h"
#include "store/checks.h"
#include "store/sqlite_stmt.h"

/* Reads the current row of a SESSION_COLUMNS statement into out. */
static int read_session(sqlite_store_t *ss, sqlite3_stmt *stmt, void *record)
{
    idd_session_t *out = record;
    const void *digest;
    int rc;

    memset(out, 0, sizeof *out);
    rc = idd_sqlite_column_copy(ss, stmt, 2, out->user_id, sizeof out->user_id);
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 7, out->ip, sizeof out->ip);
    if (rc == 0)
        rc = idd_sqlite_column_copy(ss, stmt, 8, out->user_agent, sizeof out->user_agent);
    if (rc != 0)
        return rc;
    digest = sqlite3_column_blob(stmt, 3);
    if (digest == NULL || sqlite3_column_bytes(stmt, 3) != IDD_SESSION_DIGEST_LEN) {
        idd_log_error("store: session %lld has a malformed token digest",
                      (long long)sqlite3_column_int64(stmt, 0));
        return IDD_ESTORE;
    }
    memcpy(out->digest, digest, IDD_SESSION_DIGEST_LEN);
    out->id = sqlite3_column_int64(stmt, 0);
    out->tenant_id = sqlite3_column_int64(stmt, 1);
    out->created = sqlite3_column_int64(stmt, 4);
    out->expires = sqlite3_column_int64(stmt, 5);
    out->last_seen = sqlite3_column_int64(stmt, 6);
    out->active = sqlite3_column_int(stmt, 9) != 0;
    out->browser_session = sqlite3_column_int(stmt, 10) != 0;
    out->auth_version = sqlite3_column_int64(stmt, 11);
    return 0;
}

/* Inserts the row; the caller holds the transaction, if any. */
static int session_insert(sqlite_store_t *ss, idd_session_t *session)
{
    const sqlite_param_t params[] = {
        SQL_INT64(session->tenant_id),
        SQL_TEXT(session->user_id, -1),
        SQL_BLOB(session->digest, IDD_SESSION_DIGEST_LEN),
        SQL_INT64(session->created),
        SQL_INT64(session->expires),
        SQL_INT64(session->last_seen),
        SQL_TEXT(session->ip, -1),
        SQL_TEXT(session->user_agent, -1),
        SQL_INT64(session->browser_session != 0),
        SQL_INT64(session->auth_version),
    };
    int changes = 0;
    int rc = idd_sqlite_write(ss, ST_SESSION_CREATE, params, IDD_ARRAY_LEN(params), &changes);

    if (rc != 0)
        return rc;
    /* The SELECT found no user with this id in this tenant. */
    if (changes != 1)
        return IDD_ENOTFOUND;
    session->id = sqlite3_last_insert_rowid(ss->db);
    session->active = 1;
    return 0;
}

/* With a cap, the insert and the ending of the oldest sessions share one IMMEDIATE
 * transaction (the write lock taken up front, where busy_timeout applies): no reader ever
 * sees the user over the cap, and two sign-ins on two threads cannot both leave one too
 * many. Without one it is the single INSERT it always was. */
int idd_sqlite_session_create(idd_store_t *s, idd_session_t *session, int max_live, int *ended)
{
    sqlite_store_t *ss = to_sqlite(s);
    int began = 0;
    int changed = 0;
    int rc = IDD_EINVAL;

    if (ended != NULL)
        *ended = 0;
    if (session == NULL || max_live < 0)
        return rc;
    rc = idd_store_session_validate(session);
    if (rc != 0)
        return rc;
    if (max_live == 0)
        return session_insert(ss, session);
    rc = idd_sqlite_exec(ss, "BEGIN IMMEDIATE", "session_create");
    if (rc != 0)
        goto done;
    began = 1;
    rc = session_insert(ss, session);
    if (rc == 0) {
        const sqlite_param_t params[] = {SQL_TEXT(session->user_id, IDD_GUID_LEN),
                                         SQL_INT64(session->created), SQL_INT64(max_live)};
        rc = idd_sqlite_write(ss, ST_SESSION_CAP, params, IDD_ARRAY_LEN(params), &changed);
    }
    if (rc == 0)
        rc = idd_sqlite_exec(ss, "COMMIT", "session_create");

done:
    if (rc != 0) {
        if (began)
            idd_sqlite_rollback(ss);
        session->id = 0;
        session->active = 0;
        changed = 0;
    }
    if (ended != NULL)
        *ended = changed;
    return rc;
}

int idd_sqlite_session_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                 idd_session_t *out)
{
    if (digest == NULL) {
        memset(out, 0, sizeof *out);
        return IDD_EINVAL;
    }
    const sqlite_param_t params[] = {SQL_BLOB(digest, IDD_SESSION_DIGEST_LEN)};
    return idd_sqlite_lookup(to_sqlite(s), ST_SESSION_BY_DIGEST, params, IDD_ARRAY_LEN(params),
                             read_session, out, sizeof *out);
}

int idd_sqlite_session_by_id(idd_store_t *s, int64_t id, idd_session_t *out)
{
    const sqlite_param_t params[] = {SQL_INT64(id)};
    return idd_sqlite_lookup(to_sqlite(s), ST_SESSION_BY_ID, params, IDD_ARRAY_LEN(params),
                             read_session, out, sizeof *out);
}

/* Runs the UPDATE which, keyed by session id (?1, then params[1..n)), and reports
 * IDD_ENOTFOUND when it matched no row. A row whose values did not change still counts as
 * matched, so ending an ended session is not an error. */
static int session_update(idd_store_t *s, enum stmt_id which, const sqlite_param_t *params,
                          size_t n)
{
    int changes = 0;
    int rc = idd_sqlite_write(to_sqlite(s), which, params, n, &changes);
    return rc == 0 && changes != 1 ? IDD_ENOTFOUND : rc;
}

int idd_sqlite_session_touch(idd_store_t *s, int64_t id, int64_t when)
{
    const sqlite_param_t params[] = {SQL_INT64(id), SQL_INT64(when)};
    return session_update(s, ST_SESSION_TOUCH, params, IDD_ARRAY_LEN(params));
}

int idd_sqlite_session_end(idd_store_t *s, int64_t id)
{
    const sqlite_param_t params[] = {SQL_INT64(id)};
    return session_update(s, ST_SESSION_END, params, IDD_ARRAY_LEN(params));
}

int idd_sqlite_session_end_user(idd_store_t *s, const char *user_id, int64_t except_id, int *count)
{
    int ended = 0;
    int rc = IDD_EINVAL;

    if (user_id == NULL)
        goto done;
    /* An id no user can have has no sessions to end. */
    rc = 0;
    if (!idd_store_id_plausible(user_id))
        goto done;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, IDD_GUID_LEN), SQL_INT64(except_id)};
    rc = idd_sqlite_write(to_sqlite(s), ST_SESSION_END_USER, params, IDD_ARRAY_LEN(params), &ended);

done:
    if (count != NULL)
        *count = rc == 0 ? ended : 0;
    return rc;
}

/* The visitor runs while the list statement is mid-step. It may look sessions up or end
 * them through the same handle (other statements), but not list again: that is refused with
 * IDD_EBUSY. */
int idd_sqlite_session_list_user(idd_store_t *s, const char *user_id, int64_t now,
                                 idd_session_visit_fn visit, void *arg)
{
    sqlite_store_t *ss = to_sqlite(s);
    sqlite3_stmt *stmt = NULL;
    idd_session_t session;
    int rc = IDD_EINVAL;

    memset(&session, 0, sizeof session);
    if (visit == NULL || user_id == NULL)
        goto done;
    rc = 0;
    if (!idd_store_id_plausible(user_id))
        goto done;
    rc = idd_sqlite_stmt_get(ss, ST_SESSION_LIST_USER, &stmt);
    if (rc != 0)
        goto done;
    const sqlite_param_t params[] = {SQL_TEXT(user_id, IDD_GUID_LEN), SQL_INT64(now)};
    rc = idd_sqlite_bind(ss, stmt, params, IDD_ARRAY_LEN(params));
    if (rc != 0)
        goto done;
    for (;;) {
        rc = idd_sqlite_next(ss, stmt, "session_list_user", read_session, &session);
        if (rc != 1 || visit(&session, arg) != 0)
            break;
    }
    if (rc == 1)
        rc = 0;

done:
    idd_sqlite_stmt_put(stmt);
    idd_wipe(&session, sizeof session);
    return rc;
}

/* One DELETE of at most limit rows: its own short write transaction, so the write lock is
 * never held for long whatever the backlog; the caller runs it again while it is full. */
int idd_sqlite_session_prune(idd_store_t *s, int64_t now, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const sqlite_param_t params[] = {SQL_INT64(now), SQL_INT64(limit)};
    return idd_sqlite_write(to_sqlite(s), ST_SESSION_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}

/* One point read of the change counter (migrations/0008): the writes that end or narrow a
 * credential bump it by trigger, in their own transaction, whichever process makes them. */
int idd_sqlite_changes(idd_store_t *s, int64_t *version)
{
    return idd_sqlite_query_int(to_sqlite(s), ST_STORE_CHANGES, NULL, 0, version);
}

int idd_sqlite_counts(idd_store_t *s, int64_t now, int64_t *live_sessions, int64_t *apikeys)
{
    sqlite_store_t *ss = to_sqlite(s);
    const sqlite_param_t params[] = {SQL_INT64(now)};
    int rc = idd_sqlite_query_int(ss, ST_SESSION_COUNT_LIVE, params, IDD_ARRAY_LEN(params),
                                  live_sessions);
    if (rc == 0)
        rc = idd_sqlite_query_int(ss, ST_APIKEY_COUNT, NULL, 0, apikeys);
    return rc;
}
