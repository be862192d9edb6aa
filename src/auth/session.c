/*
 * Sign-in sessions: identityd's own asc_auth_key. A token is 32 bytes from the CSPRNG
 * (43 base64url characters); the store keeps only HMAC-SHA256(pepper, "session:" token),
 * so a copy of the database yields no usable token. Every use looks the login event and its
 * user up in the credential cache (auth/credcache.h), or in the store on a miss: a logout or
 * revocation made here is seen at once by every thread, one made by another process after
 * the next change check (cache.check_interval_ms). A disabled user or a changed password
 * (auth_version moved on) ends the session even if nothing marked it inactive.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/utf8.h"
#include "identityd/cred/digest.h"

#define TOUCH_INTERVAL 60 /* seconds between last_seen writes for one session */

static bool token_well_formed(h2o_iovec_t t)
{
    if (t.len != IDD_SESSION_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.base[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* The session's row and its user's, from the store: what the cache keeps of a session.
 * IDD_ENOTFOUND when the session is unknown; *user_found tells whether the user was. */
static int session_load(idd_store_t *store, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                        idd_cc_cred_t *out, bool *user_found)
{
    idd_session_t session;
    idd_user_t u;
    *user_found = false;
    int rc = idd_store_session_by_digest(store, digest, &session);
    if (rc == 0 && !idd_ct_equal(session.digest, digest, IDD_SESSION_DIGEST_LEN))
        rc = IDD_ENOTFOUND;
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->tenant_id = session.tenant_id;
    out->expires = session.expires;
    out->active = session.active;
    out->session_id = session.id;
    out->last_seen = session.last_seen;
    out->auth_version = session.auth_version;
    idd_wipe(session.digest, sizeof(session.digest));
    rc = idd_store_user_by_id(store, session.user_id, &u);
    if (rc == IDD_ENOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    idd_wipe(u.password, sizeof(u.password));
    idd_cc_user_from(&out->user, &u);
    *user_found = true;
    return 0;
}

/* A session's coalesced last use, written off the request's path. */
typedef struct session_touch {
    int64_t id;
    int64_t when;
} session_touch_t;

static int session_touch_write(idd_store_t *store, void *arg)
{
    const session_touch_t *t = arg;
    return idd_store_session_touch(store, t->id, t->when);
}

/* The session's entry, from the cache or the store, judged for this request. */
static void session_judge(idd_request_t *r, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                          const idd_cc_cred_t *sp, idd_auth_done_fn done)
{
    const idd_cc_cred_t *session = sp;
    idd_credcache_t *cache = r->app->credcache;
    idd_principal_t *p = NULL;
    idd_auth_result_t result = IDD_AUTH_DENY;
    /* The expiry against the clock on every use, cached or not. */
    int64_t now = idd_now();
    if (!session->active || session->expires <= now || session->tenant_id != r->tenant->id) {
        /* Counted as expired only when that is all that is wrong with it. */
        r->auth_expired =
            session->active && session->expires <= now && session->tenant_id == r->tenant->id;
        goto done;
    }
    if (session->user.status != IDD_USER_ACTIVE ||
        session->user.auth_version != session->auth_version ||
        session->user.tenant_id != r->tenant->id)
        goto done;

    /* last_seen is written at most once a minute per session, not on every request, and
     * never on the request's path; the cached entry remembers the write, so the next
     * minute's requests read nothing. */
    if (now - session->last_seen >= TOUCH_INTERVAL) {
        if (cache != NULL)
            idd_credcache_seen(cache, digest, now);
        session_touch_t *t = idd_xmalloc(sizeof(*t));
        *t = (session_touch_t){session->session_id, now};
        idd_store_later(r->app, r->thread->store, session_touch_write, t, free,
                        "a session's last use");
    }
    p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    idd_cc_user_to(&p->user, &session->user);
    p->via = IDD_CRED_SESSION;
    p->session_id = session->session_id;
    snprintf(p->scopes, sizeof(p->scopes), "%s", IDD_SCOPE_ALL_WRITE);
    result = IDD_AUTH_OK;

done:
    done(r, result, result == IDD_AUTH_OK ? p : NULL);
}

/* A session the cache did not have, read from the store (on the loop or off it). */
typedef struct session_miss {
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    unsigned long epoch; /* before the read: a change committed after it makes the entry stale */
    idd_cc_cred_t session;
    bool user_found;
    idd_auth_done_fn done;
} session_miss_t;

static int session_miss_load(idd_store_t *store, void *arg)
{
    session_miss_t *m = arg;
    return session_load(store, m->digest, &m->session, &m->user_found);
}

static void session_miss_resume(idd_request_t *r, void *arg, int rc)
{
    session_miss_t *m = arg;
    if (rc != 0) {
        /* Not one of ours: declined, so that the caller may still try it as an authority's
         * opaque token. */
        m->done(r, rc == IDD_ENOTFOUND ? IDD_AUTH_DECLINE : IDD_AUTH_ERROR, NULL);
        return;
    }
    if (!m->user_found) {
        m->done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    if (r->app->credcache != NULL)
        idd_credcache_put(r->app->credcache, IDD_CC_SESSION, m->digest, &m->session, m->epoch);
    session_judge(r, m->digest, &m->session, m->done);
}

static void session_miss_release(void *arg)
{
    idd_wipe(arg, sizeof(session_miss_t));
    free(arg);
}

void idd_auth_session(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_credcache_t *cache = r->app->credcache;
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    idd_cc_cred_t session;

    /* A token that is not one of ours (wrong shape, or no such session) is declined, so
     * that the caller may still try it as an authority's opaque token; one of ours that no
     * longer works is denied. */
    if (!token_well_formed(token) || idd_keyed_digest(&r->app->pepper, IDD_DIGEST_LABEL_SESSION,
                                                      token.base, token.len, digest) != 0) {
        done(r, IDD_AUTH_DECLINE, NULL);
        return;
    }
    bool hit = cache != NULL && idd_credcache_get(cache, IDD_CC_SESSION, digest, &session);
    if (r->thread->metrics != NULL)
        idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_SESSION][hit ? 0 : 1], 1);
    if (hit) {
        session_judge(r, digest, &session, done);
        idd_wipe(digest, sizeof(digest));
        return;
    }
    session_miss_t *m = idd_xcalloc(1, sizeof(*m));
    memcpy(m->digest, digest, sizeof(digest));
    idd_wipe(digest, sizeof(digest));
    m->epoch = idd_store_epoch();
    m->done = done;
    idd_store_read(r, session_miss_load, session_miss_resume, m, session_miss_release);
}

/* Copies at most max bytes of s into out as well-formed UTF-8 without control characters:
 * each control character (C0, DEL, C1) and each byte that starts no well-formed sequence
 * becomes a space, and a character that would not fit whole is left out. So the stored user
 * agent is printable text, and text every engine accepts (PostgreSQL refuses ill-formed
 * UTF-8, which a client may well send). */
static void copy_printable(char *out, size_t max, const char *s, size_t len)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t step = idd_utf8_decode(s + i, len - i, &cp);
        if (step == 0 || idd_utf8_is_control(cp)) {
            if (n + 1 > max)
                break;
            out[n++] = ' ';
            i += step == 0 ? 1 : step;
            continue;
        }
        if (n + step > max)
            break;
        memcpy(out + n, s + i, step);
        n += step;
        i += step;
    }
    out[n] = '\0';
}

/* A session being written: what the load needs, copied from the request, and what the
 * caller's done is told on the loop. Owned by session_new_release, which wipes it. */
typedef struct session_new {
    idd_session_t s;
    char token[IDD_SESSION_TOKEN_LEN + 1];
    int cap;
    int ended;
    idd_app_t *app;
    idd_session_started_fn done;
    void *ctx;
} session_new_t;

static int session_new_load(idd_store_t *store, void *arg)
{
    session_new_t *n = arg;
    /* The user's oldest live sessions beyond the cap end in the same transaction, so no
     * client can pile up sessions (and rows) without bound. */
    int rc = idd_store_session_create_capped(store, &n->s, n->cap, &n->ended);
    if (rc == 0) {
        idd_log_info("session %lld started for user %s", (long long)n->s.id, n->s.user_id);
        if (n->ended > 0) {
            atomic_fetch_add(&n->app->sessions_capped, (unsigned long)n->ended);
            idd_log_info("user %s: %d oldest session(s) ended by sessions.max_per_user",
                         n->s.user_id, n->ended);
        }
    }
    return rc;
}

static void session_new_resume(idd_request_t *r, void *arg, int rc)
{
    session_new_t *n = arg;
    idd_session_started_t out = {
        .rc = rc,
        .token = rc == 0 ? n->token : NULL,
        .expires = rc == 0 ? n->s.expires : 0,
        .browser = n->s.browser_session,
        .user_id = n->s.user_id,
        .ctx = n->ctx,
    };
    n->done(r, &out);
}

static void session_new_release(void *arg)
{
    idd_wipe(arg, sizeof(session_new_t));
    free(arg);
}

void idd_session_start(idd_request_t *r, const idd_user_t *user, bool browser,
                       idd_session_started_fn done, void *ctx)
{
    unsigned char raw[32];
    session_new_t *n = idd_xcalloc(1, sizeof(*n));
    idd_session_t *s = &n->s;
    n->app = r->app;
    n->cap = r->gen->cfg->sessions_max_per_user;
    n->done = done;
    n->ctx = ctx;
    memcpy(s->user_id, user->id, sizeof(s->user_id));
    s->browser_session = browser;
    int rc = IDD_ECRYPTO;
    if (RAND_bytes(raw, sizeof(raw)) == 1) {
        idd_b64url_encode(n->token, raw, sizeof(raw));
        rc = idd_keyed_digest(&r->app->pepper, IDD_DIGEST_LABEL_SESSION, n->token,
                              IDD_SESSION_TOKEN_LEN, s->digest);
    }
    idd_wipe(raw, sizeof(raw));
    if (rc != 0) {
        session_new_resume(r, n, rc);
        session_new_release(n);
        return;
    }
    int64_t now = idd_now();
    s->tenant_id = user->tenant_id;
    s->created = now;
    s->last_seen = now;
    s->expires = now + (browser ? r->gen->cfg->session_browser_ttl : r->gen->cfg->session_ttl);
    s->auth_version = user->auth_version;
    snprintf(s->ip, sizeof(s->ip), "%s", r->client_ip);
    ssize_t ua = h2o_find_header(&r->req->headers, H2O_TOKEN_USER_AGENT, -1);
    if (ua != -1)
        copy_printable(s->user_agent, IDD_USER_AGENT_MAX, r->req->headers.entries[ua].value.base,
                       r->req->headers.entries[ua].value.len);
    idd_store_read(r, session_new_load, session_new_resume, n, session_new_release);
}
