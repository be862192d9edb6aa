/*
 * Sign-in sessions: identityd's own asc_auth_key. A token is 32 bytes from the CSPRNG
 * (43 base64url characters); the store keeps only HMAC-SHA256(pepper, "session:" token),
 * so a copy of the database yields no usable token. Every use looks the login event up, so
 * a logout or revocation is seen at once by every thread and process; the user row is read
 * too, and a disabled user or a changed password (auth_version moved on) ends the session
 * even if nothing marked it inactive.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/core/b64.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
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

void idd_auth_session(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_store_t *store = r->thread->store;
    unsigned char digest[IDD_SESSION_DIGEST_LEN];
    idd_session_t session;
    idd_principal_t *p = NULL;
    /* A token that is not one of ours (wrong shape, or no such session) is declined, so
     * that the caller may still try it as an authority's opaque token; one of ours that no
     * longer works is denied. */
    idd_auth_result_t result = IDD_AUTH_DECLINE;

    if (!token_well_formed(token) || idd_keyed_digest(&r->app->pepper, IDD_DIGEST_LABEL_SESSION,
                                                      token.base, token.len, digest) != 0)
        goto done;
    int rc = idd_store_session_by_digest(store, digest, &session);
    if (rc != 0) {
        if (rc != IDD_ENOTFOUND)
            result = IDD_AUTH_ERROR;
        goto done;
    }
    result = IDD_AUTH_DENY;
    int64_t now = idd_now();
    if (!session.active || session.expires <= now || session.tenant_id != r->tenant->id ||
        !idd_ct_equal(session.digest, digest, sizeof(digest))) {
        /* Counted as expired only when that is all that is wrong with it. */
        r->auth_expired = session.active && session.expires <= now &&
                          session.tenant_id == r->tenant->id &&
                          idd_ct_equal(session.digest, digest, sizeof(digest));
        goto done;
    }

    p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    rc = idd_store_user_by_id(store, session.user_id, &p->user);
    if (rc != 0) {
        if (rc != IDD_ENOTFOUND)
            result = IDD_AUTH_ERROR;
        goto done;
    }
    idd_wipe(p->user.password, sizeof(p->user.password));
    if (p->user.status != IDD_USER_ACTIVE || p->user.auth_version != session.auth_version ||
        p->user.tenant_id != r->tenant->id)
        goto done;

    /* last_seen is written at most once a minute per session, not on every request. */
    if (now - session.last_seen >= TOUCH_INTERVAL &&
        idd_store_session_touch(store, session.id, now) != 0)
        idd_log_warn("session %lld: could not record last use", (long long)session.id);
    p->via = IDD_CRED_SESSION;
    p->session_id = session.id;
    snprintf(p->scopes, sizeof(p->scopes), "%s", IDD_SCOPE_ALL_WRITE);
    result = IDD_AUTH_OK;

done:
    idd_wipe(digest, sizeof(digest));
    done(r, result, result == IDD_AUTH_OK ? p : NULL);
}

/* Copies at most max bytes of s into out, cutting at a UTF-8 character boundary and
 * replacing control characters, so the stored user agent is printable text. */
static void copy_printable(char *out, size_t max, const char *s, size_t len)
{
    size_t n = len < max ? len : max;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    for (size_t i = 0; i < n; i++)
        out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
    out[n] = '\0';
}

int idd_session_start(idd_request_t *r, const idd_user_t *user, bool browser,
                      char token_out[IDD_SESSION_TOKEN_LEN + 1], int64_t *expires)
{
    unsigned char raw[32];
    idd_session_t s;
    int rc = IDD_ECRYPTO;
    memset(&s, 0, sizeof(s));
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        goto done;
    idd_b64url_encode(token_out, raw, sizeof(raw));
    rc = idd_keyed_digest(&r->app->pepper, IDD_DIGEST_LABEL_SESSION, token_out,
                          IDD_SESSION_TOKEN_LEN, s.digest);
    if (rc != 0)
        goto done;
    int64_t now = idd_now();
    s.tenant_id = user->tenant_id;
    memcpy(s.user_id, user->id, sizeof(s.user_id));
    s.created = now;
    s.last_seen = now;
    s.expires = now + (browser ? r->gen->cfg->session_browser_ttl : r->gen->cfg->session_ttl);
    s.browser_session = browser;
    s.auth_version = user->auth_version;
    snprintf(s.ip, sizeof(s.ip), "%s", r->client_ip);
    ssize_t ua = h2o_find_header(&r->req->headers, H2O_TOKEN_USER_AGENT, -1);
    if (ua != -1)
        copy_printable(s.user_agent, IDD_USER_AGENT_MAX, r->req->headers.entries[ua].value.base,
                       r->req->headers.entries[ua].value.len);
    /* The user's oldest live sessions beyond the cap end in the same transaction, so no
     * client can pile up sessions (and rows) without bound. */
    int ended = 0;
    rc = idd_store_session_create_capped(r->thread->store, &s, r->gen->cfg->sessions_max_per_user,
                                         &ended);
    if (rc == 0) {
        *expires = s.expires;
        idd_log_info("session %lld started for user %s", (long long)s.id, user->id);
        if (ended > 0) {
            atomic_fetch_add(&r->app->sessions_capped, (unsigned long)ended);
            idd_log_info("user %s: %d oldest session(s) ended by sessions.max_per_user", user->id,
                         ended);
        }
    }

done:
    idd_wipe(raw, sizeof(raw));
    idd_wipe(s.digest, sizeof(s.digest));
    if (rc != 0)
        idd_wipe(token_out, IDD_SESSION_TOKEN_LEN + 1);
    return rc;
}
