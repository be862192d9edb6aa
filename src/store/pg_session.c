/*
 * The session operations of the PostgreSQL engine, the counts /metrics shows and the change
 * version: the contract of store.h and the behaviour of sqlite_session.c, whose comments say
 * why. Lookups by digest send it as binary bytea and compare in SQL, for the reason given
 * there (the digest is keyed with a secret the attacker lacks).
 */
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "store/pg_ops.h"
#include "store/pg_stmt.h"
#include "store/checks.h"

static int read_session(PGresult *res, int row, void *record)
{
    idd_session_t *out = record;
    int rc;

    memset(out, 0, sizeof *out);
    rc = idd_pg_copy(res, row, 2, out->user_id, sizeof out->user_id);
    if (rc == 0)
        rc = idd_pg_copy(res, row, 7, out->ip, sizeof out->ip);
    if (rc == 0)
        rc = idd_pg_copy(res, row, 8, out->user_agent, sizeof out->user_agent);
    if (rc == 0)
        rc = idd_pg_bytea(res, row, 3, out->digest, IDD_SESSION_DIGEST_LEN);
    if (rc != 0)
        return rc;
    out->id = idd_pg_int(res, row, 0);
    out->tenant_id = idd_pg_int(res, row, 1);
    out->created = idd_pg_int(res, row, 4);
    out->expires = idd_pg_int(res, row, 5);
    out->last_seen = idd_pg_int(res, row, 6);
    out->active = idd_pg_int(res, row, 9) != 0;
    out->browser_session = idd_pg_int(res, row, 10) != 0;
    out->auth_version = idd_pg_int(res, row, 11);
    return 0;
}

typedef struct session_create {
    idd_session_t *session;
    int max_live;
    int ended;
} session_create_t;

static int session_insert(pg_store_t *ps, idd_session_t *session)
{
    const pg_param_t params[] = {
        PG_INT64(session->tenant_id),
        PG_TEXT(session->user_id),
        PG_BYTEA(session->digest, IDD_SESSION_DIGEST_LEN),
        PG_INT64(session->created),
        PG_INT64(session->expires),
        PG_INT64(session->last_seen),
        PG_TEXT(session->ip),
        PG_TEXT(session->user_agent),
        PG_INT64(session->browser_session != 0),
        PG_INT64(session->auth_version),
    };
    PGresult *res = NULL;
    int rc = idd_pg_run(ps, PS_SESSION_CREATE, params, IDD_ARRAY_LEN(params), &res);

    /* No row returned: the SELECT found no user with this id in this tenant. */
    if (rc == 0 && PQntuples(res) != 1)
        rc = IDD_ENOTFOUND;
    if (rc == 0) {
        session->id = idd_pg_int(res, 0, 0);
        session->active = 1;
    }
    PQclear(res);
    return rc;
}

/* With a cap: the user's row is locked first, so two sign-ins of one user (and a change that
 * ends the user's sessions) take turns, and none leaves one session too many. */
static int session_create_body(pg_store_t *ps, void *arg)
{
    session_create_t *c = arg;
    const pg_param_t user[] = {PG_TEXT(c->session->user_id), PG_INT64(c->session->tenant_id)};
    PGresult *res = NULL;
    int rc = idd_pg_run(ps, PS_USER_LOCK, user, IDD_ARRAY_LEN(user), &res);

    if (rc == 0 && PQntuples(res) != 1)
        rc = IDD_ENOTFOUND;
    PQclear(res);
    if (rc == 0)
        rc = session_insert(ps, c->session);
    if (rc == 0) {
        const pg_param_t params[] = {PG_TEXT(c->session->user_id), PG_INT64(c->session->created),
                                     PG_INT64(c->max_live)};
        rc = idd_pg_write(ps, PS_SESSION_CAP, params, IDD_ARRAY_LEN(params), &c->ended);
    }
    return rc;
}

int idd_pg_session_create(idd_store_t *s, idd_session_t *session, int max_live, int *ended)
{
    session_create_t c = {.session = session, .max_live = max_live};
    int rc = IDD_EINVAL;

    if (ended != NULL)
        *ended = 0;
    if (session == NULL || max_live < 0)
        return rc;
    rc = idd_store_session_validate(session);
    if (rc != 0)
        return rc;
    if (max_live == 0)
        rc = session_insert(to_pg(s), session);
    else
        rc = idd_pg_transaction(to_pg(s), "session_create", session_create_body, &c);
    if (rc != 0) {
        session->id = 0;
        session->active = 0;
        c.ended = 0;
    }
    if (ended != NULL)
        *ended = c.ended;
    return rc;
}

int idd_pg_session_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                             idd_session_t *out)
{
    if (digest == NULL) {
        memset(out, 0, sizeof *out);
        return IDD_EINVAL;
    }
    const pg_param_t params[] = {PG_BYTEA(digest, IDD_SESSION_DIGEST_LEN)};
    return idd_pg_lookup(to_pg(s), PS_SESSION_BY_DIGEST, params, IDD_ARRAY_LEN(params),
                         read_session, out, sizeof *out);
}

int idd_pg_session_by_id(idd_store_t *s, int64_t id, idd_session_t *out)
{
    const pg_param_t params[] = {PG_INT64(id)};
    return idd_pg_lookup(to_pg(s), PS_SESSION_BY_ID, params, IDD_ARRAY_LEN(params), read_session,
                         out, sizeof *out);
}

/* IDD_ENOTFOUND when the UPDATE matched no row; a row left as it was still counts. */
static int session_update(idd_store_t *s, enum pg_stmt_id which, const pg_param_t *params, size_t n)
{
    int changes = 0;
    int rc = idd_pg_write(to_pg(s), which, params, n, &changes);
    return rc == 0 && changes != 1 ? IDD_ENOTFOUND : rc;
}

int idd_pg_session_touch(idd_store_t *s, int64_t id, int64_t when)
{
    const pg_param_t params[] = {PG_INT64(id), PG_INT64(when)};
    return session_update(s, PS_SESSION_TOUCH, params, IDD_ARRAY_LEN(params));
}

int idd_pg_session_end(idd_store_t *s, int64_t id)
{
    const pg_param_t params[] = {PG_INT64(id)};
    return session_update(s, PS_SESSION_END, params, IDD_ARRAY_LEN(params));
}

int idd_pg_session_end_user(idd_store_t *s, const char *user_id, int64_t except_id, int *count)
{
    int ended = 0;
    int rc = IDD_EINVAL;

    if (user_id == NULL)
        goto done;
    rc = 0;
    if (!idd_store_id_plausible(user_id))
        goto done;
    const pg_param_t params[] = {PG_TEXT(user_id), PG_INT64(except_id)};
    rc = idd_pg_write(to_pg(s), PS_SESSION_END_USER, params, IDD_ARRAY_LEN(params), &ended);

done:
    if (count != NULL)
        *count = rc == 0 ? ended : 0;
    return rc;
}

/* The whole result is read before the first visit, so the visitor may use the handle. */
int idd_pg_session_list_user(idd_store_t *s, const char *user_id, int64_t now,
                             idd_session_visit_fn visit, void *arg)
{
    PGresult *res = NULL;
    idd_session_t session;
    int rc;

    if (visit == NULL || user_id == NULL)
        return IDD_EINVAL;
    if (to_pg(s)->listing & PG_LISTING_SESSIONS)
        return IDD_EBUSY;
    if (!idd_store_id_plausible(user_id))
        return 0;
    memset(&session, 0, sizeof session);
    const pg_param_t params[] = {PG_TEXT(user_id), PG_INT64(now)};
    rc = idd_pg_run(to_pg(s), PS_SESSION_LIST_USER, params, IDD_ARRAY_LEN(params), &res);
    to_pg(s)->listing |= PG_LISTING_SESSIONS;
    for (int row = 0; rc == 0 && row < PQntuples(res); row++) {
        rc = read_session(res, row, &session);
        if (rc == 0 && visit(&session, arg) != 0)
            break;
    }
    to_pg(s)->listing &= ~(unsigned)PG_LISTING_SESSIONS;
    PQclear(res);
    idd_wipe(&session, sizeof session);
    return rc;
}

int idd_pg_session_prune(idd_store_t *s, int64_t now, int limit, int *deleted)
{
    *deleted = 0;
    if (limit <= 0)
        return IDD_EINVAL;
    const pg_param_t params[] = {PG_INT64(now), PG_INT64(limit)};
    return idd_pg_write(to_pg(s), PS_SESSION_PRUNE, params, IDD_ARRAY_LEN(params), deleted);
}

/* One point read of the change counter the triggers of migrations/pg/0008 keep. */
int idd_pg_changes(idd_store_t *s, int64_t *version)
{
    return idd_pg_query_int(to_pg(s), PS_STORE_CHANGES, NULL, 0, version);
}

int idd_pg_counts(idd_store_t *s, int64_t now, int64_t *live_sessions, int64_t *apikeys)
{
    const pg_param_t params[] = {PG_INT64(now)};
    int rc = idd_pg_query_int(to_pg(s), PS_SESSION_COUNT_LIVE, params, IDD_ARRAY_LEN(params),
                              live_sessions);
    if (rc == 0)
        rc = idd_pg_query_int(to_pg(s), PS_APIKEY_COUNT, NULL, 0, apikeys);
    return rc;
}
