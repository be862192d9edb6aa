/*
 * Credential classification and dispatch (the table in README.md), scope checks, and
 * the only place that turns a failed authentication into 401 or 403.
 */
#include "identityd/auth/auth.h"
#include "identityd/auth/bfshare.h"
#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/auth/tfa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identityd/core/common.h"
#include "identityd/http/cookie.h"
#include "identityd/core/log.h"
#include "identityd/http/respond.h"

static int is_b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

/* Three base64url segments separated by dots; header and payload non-empty. */
static int looks_like_jwt(const char *s, size_t len)
{
    size_t dots = 0, seg_len = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (seg_len == 0 && dots < 2)
                return 0;
            dots++;
            seg_len = 0;
        } else if (is_b64url_char(s[i])) {
            seg_len++;
        } else {
            return 0;
        }
    }
    return dots == 2;
}

static int has_prefix_ci(const char *s, size_t len, const char *prefix)
{
    size_t plen = strlen(prefix);
    return len >= plen && strncasecmp(s, prefix, plen) == 0;
}

static void skip_spaces(const char **s, size_t *len)
{
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
}

idd_credential_t idd_auth_classify(const char *authorization, size_t authorization_len,
                                   const char *apikey_header, size_t apikey_len,
                                   const char *cookie_value, size_t cookie_len)
{
    idd_credential_t c = {IDD_CRED_NONE, {NULL, 0}, false};
    const char *a = authorization;
    size_t alen = authorization ? authorization_len : 0;
    skip_spaces(&a, &alen);
    while (alen > 0 && (a[alen - 1] == ' ' || a[alen - 1] == '\t'))
        alen--;

    if (alen > 0) {
        if (has_prefix_ci(a, alen, "Basic ") || (alen == 5 && has_prefix_ci(a, alen, "Basic"))) {
            a += 5, alen -= 5;
            skip_spaces(&a, &alen);
            c.kind = IDD_CRED_BASIC;
        } else if (has_prefix_ci(a, alen, "Bearer ")) {
            a += 7, alen -= 7;
            skip_spaces(&a, &alen);
            if (alen >= 3 && memcmp(a, "sk-", 3) == 0)
                c.kind = IDD_CRED_APIKEY;
            else if (looks_like_jwt(a, alen))
                c.kind = IDD_CRED_JWT;
            else
                c.kind = IDD_CRED_SESSION;
        } else {
            /* DocSpace hands any other value to its cookie handler. */
            c.kind = IDD_CRED_SESSION;
        }
        c.value = h2o_iovec_init(a, alen);
        return c;
    }
    if (apikey_header != NULL && apikey_len > 0) {
        const char *k = apikey_header;
        size_t klen = apikey_len;
        skip_spaces(&k, &klen);
        if (has_prefix_ci(k, klen, "Bearer ")) {
            k += 7, klen -= 7;
            skip_spaces(&k, &klen);
        }
        c.kind = IDD_CRED_APIKEY;
        c.value = h2o_iovec_init(k, klen);
        return c;
    }
    if (cookie_value != NULL && cookie_len > 0) {
        c.kind = IDD_CRED_SESSION;
        c.value = h2o_iovec_init(cookie_value, cookie_len);
        c.from_cookie = true;
    }
    return c;
}

bool idd_scopes_allow(const char *scopes, const char *scope)
{
    const char *colon = strchr(scope, ':');
    if (colon == NULL)
        return false;
    size_t res_len = (size_t)(colon - scope);
    bool need_write = strcmp(colon + 1, "write") == 0;
    const char *p = scopes;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ' ')
            end++;
        const char *c = memchr(p, ':', (size_t)(end - p));
        if (c != NULL) {
            size_t have_res_len = (size_t)(c - p);
            bool have_write = (size_t)(end - c - 1) == 5 && memcmp(c + 1, "write", 5) == 0;
            bool have_read = (size_t)(end - c - 1) == 4 && memcmp(c + 1, "read", 4) == 0;
            /* "*" covers every resource, "accounts" covers "accounts.self" */
            bool res_ok = (have_res_len == 1 && p[0] == '*') ||
                          (have_res_len == res_len && memcmp(p, scope, res_len) == 0) ||
                          (have_res_len < res_len && scope[have_res_len] == '.' &&
                           memcmp(p, scope, have_res_len) == 0);
            if (res_ok && (have_write || (have_read && !need_write)))
                return true;
        }
        p = end;
    }
    return false;
}

void idd_auth_respond_failure(idd_request_t *r, idd_auth_result_t result, const char *message)
{
    h2o_req_t *req = r->req;
    switch (result) {
    case IDD_AUTH_BLOCKED: {
        char seconds[16];
        snprintf(seconds, sizeof(seconds), "%d", r->retry_after > 0 ? r->retry_after : 1);
        idd_respond_header(req, "retry-after", seconds);
        atomic_fetch_add(&r->app->signins_blocked, 1);
        idd_respond_error(req, 403, "Too many login attempts. Please try again later");
        return;
    }
    case IDD_AUTH_ERROR:
        /* The store could not answer (busy, or its server unreachable): worth a retry. */
        idd_respond_header(req, "retry-after", "1");
        idd_respond_error(req, 503, "Service unavailable");
        return;
    default:
        atomic_fetch_add(&r->app->auth_failures, 1);
        idd_respond_error(req, 401, message);
        return;
    }
}

/* The outcome /metrics counts for a scheme's result. */
static idd_metrics_outcome_t outcome_of(const idd_request_t *r, idd_auth_result_t result)
{
    switch (result) {
    case IDD_AUTH_OK:
        return IDD_MOUTCOME_OK;
    case IDD_AUTH_BLOCKED:
        return IDD_MOUTCOME_BLOCKED;
    case IDD_AUTH_ERROR:
        return IDD_MOUTCOME_ERROR;
    default:
        return r->auth_expired ? IDD_MOUTCOME_EXPIRED : IDD_MOUTCOME_INVALID;
    }
}

void idd_auth_note(idd_request_t *r, idd_metrics_scheme_t scheme, idd_auth_result_t result,
                   const idd_principal_t *principal)
{
    idd_request_note_auth(r, (int)scheme, outcome_of(r, result),
                          result == IDD_AUTH_OK && principal != NULL ? principal->user.id : NULL);
}

/* The scheme a classified credential was checked by (an opaque token that was not one of
 * our sessions went on to introspection: session_done). */
static int scheme_of(const idd_request_t *r)
{
    if (r->metrics_scheme >= 0)
        return r->metrics_scheme;
    switch ((idd_cred_kind_t)r->auth_kind) {
    case IDD_CRED_BASIC:
        return IDD_MSCHEME_BASIC;
    case IDD_CRED_SESSION:
        return IDD_MSCHEME_SESSION;
    case IDD_CRED_APIKEY:
        return IDD_MSCHEME_APIKEY;
    case IDD_CRED_JWT:
        return IDD_MSCHEME_BEARER_JWT;
    default:
        return -1;
    }
}

/* Finishes authentication: the principal goes on to the handler, or the client is told no. */
static void auth_done(idd_request_t *r, idd_auth_result_t result, idd_principal_t *principal)
{
    h2o_req_t *req = r->req;
    bool optional = r->auth_need_scope == NULL;
    idd_auth_next_fn next = r->auth_next;
    /* A session cookie that does not work is deleted, so the browser stops sending it. */
    if (result == IDD_AUTH_DENY && r->auth_from_cookie)
        idd_cookie_clear_session(req, r->https);

    int scheme = scheme_of(r);
    if (result == IDD_AUTH_OK) {
        if (!optional && r->auth_need_scope[0] != '\0' &&
            !idd_scopes_allow(principal->scopes, r->auth_need_scope)) {
            if (scheme >= 0)
                idd_request_note_auth(r, scheme, IDD_MOUTCOME_FORBIDDEN, principal->user.id);
            idd_respond_error(req, 403, "Access denied");
            return;
        }
        if (scheme >= 0)
            idd_auth_note(r, (idd_metrics_scheme_t)scheme, result, principal);
        next(r, principal);
        return;
    }
    if (scheme >= 0)
        idd_auth_note(r, (idd_metrics_scheme_t)scheme, result, NULL);
    if (optional && result != IDD_AUTH_ERROR) {
        next(r, NULL);
        return;
    }
    if (result == IDD_AUTH_DENY || result == IDD_AUTH_DECLINE) {
        if (r->auth_kind == IDD_CRED_NONE || r->auth_kind == IDD_CRED_BASIC)
            idd_respond_header(req, "www-authenticate", "Basic realm=\"identityd\"");
        else
            idd_respond_header(req, "www-authenticate", "Bearer error=\"invalid_token\"");
    }
    idd_auth_respond_failure(r, result, "Unauthorized");
}

/* A value that is not one of our sessions may be the authority's opaque token: DocSpace
 * hands such values to its cookie handler, identityd then asks the authority. A cookie is
 * never sent there: it can only be a session of ours. */
static void session_done(idd_request_t *r, idd_auth_result_t result, idd_principal_t *principal)
{
    if (result == IDD_AUTH_DECLINE) {
        if (!r->auth_from_cookie && r->gen->oidc != NULL) {
            r->metrics_scheme = IDD_MSCHEME_OIDC;
            idd_auth_introspect(r, r->auth_token, auth_done);
            return;
        }
        result = IDD_AUTH_DENY;
    }
    auth_done(r, result, principal);
}

/* A password is one factor: where two-factor sign-in applies to the user, Basic credentials
 * prove too little and are refused as wrong ones are; such users sign in with both steps
 * and use the session. API keys and external tokens are not sign-ins and are not held. */
static void basic_tfa_done(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx)
{
    idd_principal_t *principal = ctx;
    if (rc != 0) {
        auth_done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    if (step != IDD_TFA_NONE) {
        idd_log_info("basic: user %s must sign in with a second factor", principal->user.id);
        auth_done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    auth_done(r, IDD_AUTH_OK, principal);
}

static void basic_done(idd_request_t *r, idd_auth_result_t result, idd_principal_t *principal)
{
    if (result != IDD_AUTH_OK) {
        auth_done(r, result, principal);
        return;
    }
    idd_tfa_required(r, &principal->user, basic_tfa_done, principal);
}

void idd_auth_run(idd_request_t *r, idd_auth_policy_t policy, const char *need_scope,
                  idd_auth_next_fn next)
{
    if (policy == IDD_AUTH_NONE) {
        next(r, NULL);
        return;
    }
    if (policy == IDD_AUTH_CONFIRM) {
        idd_auth_confirm(r, need_scope, next);
        return;
    }
    h2o_req_t *req = r->req;
    const char *authz = NULL, *apikey = NULL;
    size_t authz_len = 0, apikey_len = 0;
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i != -1) {
        authz = req->headers.entries[i].value.base;
        authz_len = req->headers.entries[i].value.len;
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("apikeybearer"), -1);
    if (i != -1) {
        apikey = req->headers.entries[i].value.base;
        apikey_len = req->headers.entries[i].value.len;
    }
    h2o_iovec_t cookie = {NULL, 0};
    idd_cookie_find(req, IDD_SESSION_COOKIE, &cookie);

    idd_credential_t cred =
        idd_auth_classify(authz, authz_len, apikey, apikey_len, cookie.base, cookie.len);
    r->auth_need_scope = policy == IDD_AUTH_REQUIRED ? need_scope : NULL;
    r->auth_next = next;
    r->auth_kind = cred.kind;
    r->auth_from_cookie = cred.from_cookie;
    switch (cred.kind) {
    case IDD_CRED_BASIC:
        idd_auth_basic(r, cred.value, basic_done);
        return;
    case IDD_CRED_SESSION:
        r->auth_token = cred.value;
        idd_auth_session(r, cred.value, session_done);
        return;
    case IDD_CRED_NONE:
    case IDD_CRED_CONFIRM: /* never classified: confirm keys go through idd_auth_confirm */
        auth_done(r, IDD_AUTH_DECLINE, NULL);
        return;
    case IDD_CRED_APIKEY:
        idd_auth_apikey(r, cred.value, auth_done);
        return;
    case IDD_CRED_JWT:
        idd_auth_jwt(r, cred.value, auth_done);
        return;
    }
}

/* ---- per-thread state ---- */

#define USAGE_FLUSH_MS 60000 /* how often API key uses are written out */
#define BASIC_CACHE_SLOTS 1024
#define PRUNE_SOON_MS 1000 /* the first run, and the next one while a backlog drains */

/* The loops' periodic store work, run by idd_store_later: on the loop for SQLite, on the
 * store pool for a networked database (the loop never waits on it). */
static int flush_work(idd_store_t *store, void *arg)
{
    idd_app_t *app = arg;
    return idd_apikey_usage_flush(app->apikey_usage, store);
}

typedef struct prune_job {
    idd_app_t *app;
    int batch;
    bool more; /* tables still had a backlog (SQLite: the loop comes back soon) */
} prune_job_t;

/* Off the loop, batches follow each other at once, up to a bound; on it, one batch. */
#define PRUNE_BATCHES_OFF_LOOP 100
static int prune_work(idd_store_t *store, void *arg)
{
    prune_job_t *p = arg;
    int runs = idd_store_read_offloaded(p->app) ? PRUNE_BATCHES_OFF_LOOP : 1;
    p->more = true;
    for (int i = 0; i < runs && p->more; i++)
        p->more = idd_app_prune(p->app, store, p->batch);
    return 0;
}

static int changes_work(idd_store_t *store, void *arg)
{
    idd_app_t *app = arg;
    int rc = idd_credcache_check(app->credcache, store);
    if (rc != 0)
        idd_log_warn_limited("credential cache: could not read the store's change version (%s): "
                             "the cache is emptied until it can",
                             idd_strerror(rc));
    return 0;
}

/* Thread 0, once a minute: the coalesced API key uses go to the database. */
static void on_flush(h2o_timeout_entry_t *entry)
{
    idd_auth_thread_t *a = H2O_STRUCT_FROM_MEMBER(idd_auth_thread_t, flush_entry, entry);
    idd_thread_t *t = a->thread;
    idd_store_later(t->app, t->store, flush_work, t->app, NULL, "API key uses");
    h2o_timeout_link(t->http->ctx.loop, &a->flush_timeout, &a->flush_entry);
}

/* Thread 0: one pruning run, then the next one soon while tables had a backlog, else after
 * the configured interval. */
static void on_prune(h2o_timeout_entry_t *entry)
{
    idd_auth_thread_t *a = H2O_STRUCT_FROM_MEMBER(idd_auth_thread_t, prune_entry, entry);
    idd_thread_t *t = a->thread;
    prune_job_t job = {t->app, idd_thread_gen(t)->cfg->prune_batch, false};
    bool more = false;
    if (idd_store_read_offloaded(t->app)) {
        prune_job_t *p = idd_xmalloc(sizeof(*p));
        *p = job;
        idd_store_later(t->app, t->store, prune_work, p, free, "pruning");
    } else {
        prune_work(t->store, &job);
        more = job.more;
    }
    h2o_timeout_link(t->http->ctx.loop, more ? &a->prune_soon : &a->prune_timeout, &a->prune_entry);
}

/* Every loop, every cache.check_interval_ms: has another process ended or narrowed a
 * credential? One tiny store read; the cache is emptied when the answer is yes, and while
 * the read fails. Off the loop (a networked database) one loop asks for the process. */
static void on_changes(h2o_timeout_entry_t *entry)
{
    idd_auth_thread_t *a = H2O_STRUCT_FROM_MEMBER(idd_auth_thread_t, changes_entry, entry);
    idd_thread_t *t = a->thread;
    if (!idd_store_read_offloaded(t->app) || t->index == 0)
        idd_store_later(t->app, t->store, changes_work, t->app, NULL, "change check");
    h2o_timeout_link(t->http->ctx.loop, &a->changes_timeout, &a->changes_entry);
}

/* Thread 0, every cache.check_interval_ms: what other processes counted of failed sign-ins
 * joins this process's table (auth/bfshare.h). */
static void on_bfshare(h2o_timeout_entry_t *entry)
{
    idd_auth_thread_t *a = H2O_STRUCT_FROM_MEMBER(idd_auth_thread_t, bfshare_entry, entry);
    idd_thread_t *t = a->thread;
    /* Under the test clock each request moves time its own way, so what another process
     * counted cannot be placed on this table's clock: counters are then written, not merged. */
    if (!idd_thread_gen(t)->cfg->bruteforce_unsafe_test_clock)
        idd_bfshare_sync(t->app, t->store);
    h2o_timeout_link(t->http->ctx.loop, &a->bfshare_timeout, &a->bfshare_entry);
}

int idd_auth_thread_init(idd_thread_t *t)
{
    idd_auth_thread_t *a = idd_xcalloc(1, sizeof(*a));
    a->thread = t;
    int rc = idd_signin_thread_init(a, t->http->ctx.loop);
    if (rc != 0) {
        free(a);
        return rc;
    }
    a->basic_cache = idd_basic_cache_new(BASIC_CACHE_SLOTS);
    a->delay_ms = t->gen->cfg->bruteforce_login_delay_ms;
    a->delay_max_waiting = (size_t)t->gen->cfg->bruteforce_login_delay_waiting;
    if (a->delay_ms > 0)
        h2o_timeout_init(t->http->ctx.loop, &a->delay_timeout, (uint64_t)a->delay_ms);
    if (t->app->credcache != NULL) {
        h2o_timeout_init(t->http->ctx.loop, &a->changes_timeout,
                         (uint64_t)t->gen->cfg->cache_check_interval_ms);
        a->changes_entry.cb = on_changes;
        h2o_timeout_link(t->http->ctx.loop, &a->changes_timeout, &a->changes_entry);
    }
    if (t->index == 0) {
        h2o_timeout_init(t->http->ctx.loop, &a->flush_timeout, USAGE_FLUSH_MS);
        a->flush_entry.cb = on_flush;
        h2o_timeout_link(t->http->ctx.loop, &a->flush_timeout, &a->flush_entry);
        h2o_timeout_init(t->http->ctx.loop, &a->prune_timeout,
                         (uint64_t)t->gen->cfg->prune_interval * 1000);
        h2o_timeout_init(t->http->ctx.loop, &a->prune_soon, PRUNE_SOON_MS);
        a->prune_entry.cb = on_prune;
        h2o_timeout_link(t->http->ctx.loop, &a->prune_soon, &a->prune_entry);
        h2o_timeout_init(t->http->ctx.loop, &a->bfshare_timeout,
                         (uint64_t)t->gen->cfg->cache_check_interval_ms);
        a->bfshare_entry.cb = on_bfshare;
        h2o_timeout_link(t->http->ctx.loop, &a->bfshare_timeout, &a->bfshare_entry);
    }
    t->auth = a;
    return 0;
}

void idd_auth_thread_dispose(idd_thread_t *t)
{
    idd_auth_thread_t *a = t->auth;
    if (a == NULL)
        return;
    if (t->app->credcache != NULL) {
        if (h2o_timeout_is_linked(&a->changes_entry))
            h2o_timeout_unlink(&a->changes_entry);
        h2o_timeout_dispose(t->http->ctx.loop, &a->changes_timeout);
    }
    if (t->index == 0) {
        if (h2o_timeout_is_linked(&a->flush_entry))
            h2o_timeout_unlink(&a->flush_entry);
        h2o_timeout_dispose(t->http->ctx.loop, &a->flush_timeout);
        if (h2o_timeout_is_linked(&a->prune_entry))
            h2o_timeout_unlink(&a->prune_entry);
        h2o_timeout_dispose(t->http->ctx.loop, &a->prune_timeout);
        h2o_timeout_dispose(t->http->ctx.loop, &a->prune_soon);
        if (h2o_timeout_is_linked(&a->bfshare_entry))
            h2o_timeout_unlink(&a->bfshare_entry);
        h2o_timeout_dispose(t->http->ctx.loop, &a->bfshare_timeout);
    }
    /* A request still linked (its client idling past the shutdown grace) keeps its timer:
     * the process's exit is then the cleanup, as for the h2o context itself. */
    if (a->delay_ms > 0 && h2o_linklist_is_empty(&a->delay_timeout._entries))
        h2o_timeout_dispose(t->http->ctx.loop, &a->delay_timeout);
    idd_signin_thread_dispose(a);
    idd_basic_cache_free(a->basic_cache);
    free(a);
    t->auth = NULL;
}

bool idd_auth_thread_busy(idd_thread_t *t)
{
    idd_auth_thread_t *a = t->auth;
    return a != NULL && (a->delay_waiting > 0 || !h2o_linklist_is_empty(&a->fail_pending));
}
