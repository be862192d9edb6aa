/*
 * Access tokens from the deployment's OAuth2/OpenID authority: Bearer JWTs verified against
 * the authority's JWKS, and opaque tokens accepted through RFC 7662 introspection.
 *
 * This file is one check from start to end; what is learnt from the authority is cached in
 * oidc_authority.c (discovery, JWKS) and oidc_introspect.c (verdicts). Every network call
 * runs on the outbound worker pool; the event loop verifies a JWT itself only when the keys
 * it needs are already cached. When the authority cannot be reached and nothing usable is
 * cached, the answer is 503, never a guess.
 */
#include "auth/oidc_internal.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/cred/digest.h"

/* ---- what the authority says, mapped onto identityd ---- */

/* "read" and "write" become *:read and *:write; "resource:read"-style values are kept;
 * anything else (openid, profile, ...) grants nothing here. */
static void add_scope(char *out, size_t outlen, const char *s, size_t n)
{
    char one[64];
    if (n == 4 && memcmp(s, "read", 4) == 0)
        snprintf(one, sizeof(one), "*:read");
    else if (n == 5 && memcmp(s, "write", 5) == 0)
        snprintf(one, sizeof(one), "*:write");
    else if (n < sizeof(one) && ((n > 5 && memcmp(s + n - 5, ":read", 5) == 0) ||
                                 (n > 6 && memcmp(s + n - 6, ":write", 6) == 0)))
        snprintf(one, sizeof(one), "%.*s", (int)n, s);
    else
        return;
    size_t len = strlen(out);
    if (len + strlen(one) + 2 > outlen)
        return;
    snprintf(out + len, outlen - len, "%s%s", len ? " " : "", one);
}

static void map_scopes(json_t *claims, char *out, size_t outlen)
{
    out[0] = '\0';
    json_t *scope = json_object_get(claims, "scope");
    if (!json_is_string(scope))
        scope = json_object_get(claims, "scp");
    if (json_is_string(scope)) {
        const char *s = json_string_value(scope);
        while (*s != '\0') {
            while (*s == ' ')
                s++;
            size_t n = strcspn(s, " ");
            if (n > 0)
                add_scope(out, outlen, s, n);
            s += n;
        }
    } else if (json_is_array(scope)) {
        size_t i;
        json_t *v;
        json_array_foreach(scope, i, v)
        {
            if (json_is_string(v))
                add_scope(out, outlen, json_string_value(v), json_string_length(v));
        }
    }
}

void idd_oidc_identity_from(json_t *claims, identity_t *who)
{
    memset(who, 0, sizeof(*who));
    json_t *sub = json_object_get(claims, "sub");
    if (json_is_string(sub) && json_string_length(sub) < sizeof(who->sub))
        snprintf(who->sub, sizeof(who->sub), "%s", json_string_value(sub));
    json_t *email = json_object_get(claims, "email");
    if (json_is_string(email) && json_string_length(email) < sizeof(who->email))
        snprintf(who->email, sizeof(who->email), "%s", json_string_value(email));
    who->email_verified = json_is_true(json_object_get(claims, "email_verified"));
    map_scopes(claims, who->scopes, sizeof(who->scopes));
    json_t *exp = json_object_get(claims, "exp");
    if (json_is_integer(exp))
        who->exp = (int64_t)json_integer_value(exp);
}

/* ---- one check, start to end ---- */

typedef struct oidc_check {
    idd_gen_t *gen; /* held: o belongs to it */
    idd_oidc_t *o;
    char token[IDD_JWT_MAX + 1]; /* secret */
    size_t len;
    bool is_jwt;
    char tenant_url[300];
    int64_t now;
    /* result */
    idd_auth_result_t result;
    identity_t who;
    idd_auth_done_fn done;
    /* A JWT verified here (not introspected) is remembered under this key, once its subject
     * is one of our users: the next request with it checks no signature and reads no row. */
    bool cacheable;
    unsigned char cache_key[IDD_CREDCACHE_KEY_LEN];
} oidc_check_t;

/* How long a verified JWT is remembered at most, even when it lives longer: a key the
 * authority withdraws stops vouching for its tokens within this bound. */
#define JWT_CACHE_MAX_SECONDS 60

/* The cache key of a JWT for the request's tenant and generation (the audience and the
 * authority are theirs): a keyed digest, so the cache holds nothing a token could be
 * recovered from. Returns false when it cannot be made. */
static bool jwt_cache_key(idd_request_t *r, h2o_iovec_t token,
                          unsigned char key[IDD_CREDCACHE_KEY_LEN])
{
    /* Fixed-width numbers and the URL's length first, so that no two inputs run together. */
    uint64_t head[3] = {(uint64_t)r->gen->id, (uint64_t)r->tenant->id, r->tenant_url.len};
    if (token.len > IDD_JWT_MAX)
        return false;
    idd_bytes_t parts[] = {
        {head, sizeof head}, {r->tenant_url.base, r->tenant_url.len}, {token.base, token.len}};
    return idd_keyed_digest_parts(&r->app->pepper, IDD_DIGEST_LABEL_JWT, parts,
                                  IDD_ARRAY_LEN(parts), key) == 0;
}

/* The audiences a token must name: the configured ones, or the request's tenant_url. */
static size_t audiences_of(const oidc_check_t *c, const char **out, size_t max)
{
    const idd_oidc_config_t *cfg = c->o->cfg;
    if (cfg->n_audience == 0) {
        out[0] = c->tenant_url;
        return 1;
    }
    size_t n = cfg->n_audience < max ? cfg->n_audience : max;
    for (size_t i = 0; i < n; i++)
        out[i] = cfg->audience[i];
    return n;
}

static idd_jwt_status_t verify_with(oidc_check_t *c, const jwks_snapshot_t *s, json_t **claims)
{
    const char *audiences[16];
    size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
    pthread_mutex_lock(&c->o->lock);
    char *issuer = idd_xstrdup(c->o->issuer);
    pthread_mutex_unlock(&c->o->lock);
    idd_jwt_policy_t policy = {
        .algs = c->o->cfg->algorithms,
        .issuer = issuer,
        .audiences = audiences,
        .n_audiences = n,
        .now = c->now,
        .skew = c->o->cfg->clock_skew,
    };
    idd_jwt_status_t st = idd_jwt_verify(c->token, c->len, &s->set, &policy, claims);
    free(issuer);
    return st;
}

/* After the signature and claims of a JWT verified: introspection when configured. */
static void jwt_verified(oidc_check_t *c, json_t *claims)
{
    idd_oidc_identity_from(claims, &c->who);
    c->result = IDD_AUTH_OK;
    if (c->o->cfg->introspection_enabled && c->o->cfg->introspection_jwt) {
        const char *audiences[16];
        size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
        identity_t said;
        c->result = idd_oidc_introspect(c->o, c->token, c->len, true, audiences, n, &said);
        /* Some authorities (oidc-provider among them) do not store JWT access tokens and
         * answer {"active": false} for every one: say what to change, once per token. */
        if (c->result == IDD_AUTH_DENY)
            idd_log_warn(
                "oidc: introspection calls a JWT with a valid signature inactive; if the authority "
                "does not introspect JWT access tokens, set oidc.introspection.jwt: false");
    }
}

/* The worker half: everything that may need the network. */
static void check_work(void *arg)
{
    oidc_check_t *c = arg;
    idd_oidc_t *o = c->o;
    c->result = IDD_AUTH_ERROR;
    int rc = idd_oidc_ensure_discovery(o);
    if (rc != 0) {
        c->result = IDD_AUTH_ERROR;
        return;
    }
    if (!c->is_jwt) {
        const char *audiences[16];
        size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
        c->result = idd_oidc_introspect(o, c->token, c->len, false, audiences, n, &c->who);
        return;
    }
    if (idd_oidc_ensure_jwks(o, false) != 0)
        return;
    json_t *claims = NULL;
    jwks_snapshot_t *s = idd_oidc_snapshot_get(o, false);
    idd_jwt_status_t st = s ? verify_with(c, s, &claims) : IDD_JWT_KID_UNKNOWN;
    idd_oidc_snapshot_release(o, s);
    if (st == IDD_JWT_KID_UNKNOWN) {
        /* Perhaps the authority rotated its keys: one refetch, rate-limited. */
        if (idd_oidc_ensure_jwks(o, true) != 0)
            return;
        s = idd_oidc_snapshot_get(o, false);
        st = s ? verify_with(c, s, &claims) : IDD_JWT_KID_UNKNOWN;
        idd_oidc_snapshot_release(o, s);
    }
    if (st != IDD_JWT_OK) {
        idd_log_info("oidc: token refused: %s", idd_jwt_status_name(st));
        c->result = IDD_AUTH_DENY;
        return;
    }
    jwt_verified(c, claims);
    json_decref(claims);
}

static void check_release(void *arg)
{
    idd_gen_release(((oidc_check_t *)arg)->gen);
    idd_wipe(arg, sizeof(oidc_check_t));
    free(arg);
}

/* The user an authority's answer names, read from the store (on the loop or off it). */
typedef struct oidc_user {
    oidc_check_t *c; /* owned by the offload that brought the answer; outlives this read */
    int64_t tenant_id;
    unsigned long epoch; /* before the read: a change committed after it makes the entry stale */
    idd_user_t user;
} oidc_user_t;

static int oidc_user_load(idd_store_t *store, void *arg)
{
    oidc_user_t *u = arg;
    const identity_t *who = &u->c->who;
    if (strcmp(u->c->o->cfg->user_claim, "email") == 0) {
        /* An address the authority has not verified proves nothing about who holds it. */
        if (who->email[0] != '\0' && who->email_verified)
            return idd_store_user_by_email(store, u->tenant_id, who->email, &u->user);
    } else if (strlen(who->sub) == IDD_GUID_LEN) {
        char id[IDD_GUID_LEN + 1];
        memcpy(id, who->sub, sizeof(id));
        h2o_strtolower(id, IDD_GUID_LEN);
        return idd_store_user_by_id(store, id, &u->user);
    }
    return IDD_ENOTFOUND;
}

static void oidc_user_release(void *arg)
{
    oidc_user_t *u = arg;
    idd_gen_release(u->c->gen);
    idd_wipe(u->c, sizeof(oidc_check_t));
    free(u->c);
    idd_wipe(u, sizeof(*u));
    free(u);
}

static void oidc_user_resume(idd_request_t *r, void *arg, int rc);

/* Back on the loop (owner is the request): the authority's answer becomes one of our users.
 * The check is handed on to the user's lookup, which releases it. */
static void check_finish(void *owner, void *arg)
{
    idd_request_t *r = owner;
    oidc_check_t *c = arg;
    if (c->result != IDD_AUTH_OK) {
        c->done(r, c->result, NULL);
        return;
    }
    oidc_check_t *copy = idd_xmalloc(sizeof(*copy));
    memcpy(copy, c, sizeof(*copy));
    c->gen = idd_gen_hold(c->gen); /* the copy's hold; the original keeps its own */
    oidc_user_t *u = idd_xcalloc(1, sizeof(*u));
    u->c = copy;
    u->tenant_id = r->tenant->id;
    u->epoch = idd_store_epoch();
    idd_store_read(r, oidc_user_load, oidc_user_resume, u, oidc_user_release);
}

static void oidc_user_resume(idd_request_t *r, void *arg, int rc)
{
    oidc_user_t *u = arg;
    oidc_check_t *c = u->c;
    const identity_t *who = &c->who;
    unsigned long epoch = u->epoch;
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->user = u->user;
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        c->done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    idd_wipe(p->user.password, sizeof(p->user.password));
    if (rc != 0 || p->user.tenant_id != r->tenant->id || p->user.status != IDD_USER_ACTIVE) {
        idd_log_info("oidc: token subject is no active user of tenant %lld",
                     (long long)r->tenant->id);
        c->done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    p->via = IDD_CRED_JWT;
    snprintf(p->scopes, sizeof(p->scopes), "%s", who->scopes);
    int64_t now = idd_now();
    if (c->cacheable && r->app->credcache != NULL && who->exp > now) {
        idd_cc_cred_t e;
        memset(&e, 0, sizeof(e));
        e.tenant_id = r->tenant->id;
        e.active = 1;
        e.expires = who->exp < now + JWT_CACHE_MAX_SECONDS ? who->exp : now + JWT_CACHE_MAX_SECONDS;
        snprintf(e.scopes, sizeof(e.scopes), "%s", who->scopes);
        idd_cc_user_from(&e.user, &p->user);
        idd_credcache_put(r->app->credcache, IDD_CC_JWT, c->cache_key, &e, epoch);
    }
    c->done(r, IDD_AUTH_OK, p);
}

static oidc_check_t *check_new(idd_request_t *r, h2o_iovec_t token, bool is_jwt,
                               idd_auth_done_fn done)
{
    oidc_check_t *c = idd_xcalloc(1, sizeof(*c));
    /* The check may outlive its request (a worker still calling the authority when the
     * client leaves): it holds the generation its authority belongs to. */
    c->gen = idd_gen_hold(r->gen);
    c->o = r->gen->oidc;
    memcpy(c->token, token.base, token.len);
    c->len = token.len;
    c->is_jwt = is_jwt;
    snprintf(c->tenant_url, sizeof(c->tenant_url), "%.*s", (int)r->tenant_url.len,
             r->tenant_url.base);
    c->now = idd_now();
    c->done = done;
    return c;
}

/* True when the JWT's kid names one of identityd's own keys: identityd's tokens are for its
 * consumers, never credentials for itself. */
static bool minted_here(const idd_keyring_t *kr, json_t *header)
{
    json_t *kid = json_object_get(header, "kid");
    return json_is_string(kid) && idd_keyring_find(kr, json_string_value(kid)) != NULL;
}

/* A JWT this tenant accepted a moment ago: its principal, from the cache. */
static bool jwt_cached(idd_request_t *r, const unsigned char key[IDD_CREDCACHE_KEY_LEN],
                       idd_principal_t **out)
{
    idd_cc_cred_t e;
    bool hit = r->app->credcache != NULL &&
               idd_credcache_get(r->app->credcache, IDD_CC_JWT, key, &e) && e.expires > idd_now() &&
               e.tenant_id == r->tenant->id && e.user.status == IDD_USER_ACTIVE &&
               e.user.tenant_id == r->tenant->id;
    if (r->thread->metrics != NULL && r->app->credcache != NULL)
        idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_JWT][hit ? 0 : 1], 1);
    if (!hit)
        return false;
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    idd_cc_user_to(&p->user, &e.user);
    p->via = IDD_CRED_JWT;
    memcpy(p->scopes, e.scopes, sizeof(p->scopes));
    *out = p;
    return true;
}

void idd_auth_jwt(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_oidc_t *o = r->gen->oidc;
    json_t *header = NULL, *claims = NULL;
    unsigned char key[IDD_CREDCACHE_KEY_LEN];
    bool cacheable = o != NULL && !(o->cfg->introspection_enabled && o->cfg->introspection_jwt) &&
                     jwt_cache_key(r, token, key);
    idd_principal_t *cached = NULL;
    if (cacheable && jwt_cached(r, key, &cached)) {
        idd_wipe(key, sizeof(key));
        done(r, IDD_AUTH_OK, cached);
        return;
    }
    if (token.len > IDD_JWT_MAX ||
        idd_jwt_decode(token.base, token.len, &header, &claims) != IDD_JWT_OK ||
        minted_here(r->gen->keyring, header) || o == NULL) {
        json_decref(header);
        json_decref(claims);
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    json_decref(header);
    json_decref(claims);

    oidc_check_t *c = check_new(r, token, true, done);
    c->cacheable = cacheable;
    if (cacheable)
        memcpy(c->cache_key, key, sizeof(key));
    idd_wipe(key, sizeof(key));
    /* With the discovery document and a fresh key set at hand, a JWT is verified right here:
     * a signature check costs tens of microseconds and needs no network. */
    bool needs_introspection = o->cfg->introspection_enabled && o->cfg->introspection_jwt;
    pthread_mutex_lock(&o->lock);
    bool known = o->issuer != NULL && idd_oidc_fresh(o->discovery_expires_ms);
    pthread_mutex_unlock(&o->lock);
    jwks_snapshot_t *s = known ? idd_oidc_snapshot_get(o, true) : NULL;
    if (s == NULL)
        atomic_fetch_add(&o->jwks_misses, 1);
    if (s != NULL) {
        json_t *verified = NULL;
        idd_jwt_status_t st = verify_with(c, s, &verified);
        idd_oidc_snapshot_release(o, s);
        /* A kid the cached set does not hold sends the check to a refetch. */
        atomic_fetch_add(st == IDD_JWT_KID_UNKNOWN ? &o->jwks_misses : &o->jwks_hits, 1);
        if (st != IDD_JWT_OK && st != IDD_JWT_KID_UNKNOWN) {
            idd_log_info("oidc: token refused: %s", idd_jwt_status_name(st));
            check_release(c);
            done(r, IDD_AUTH_DENY, NULL);
            return;
        }
        if (st == IDD_JWT_OK && !needs_introspection) {
            idd_oidc_identity_from(verified, &c->who);
            json_decref(verified);
            c->result = IDD_AUTH_OK;
            check_finish(r, c);
            check_release(c);
            return;
        }
        json_decref(verified);
    }
    idd_http_offload(r->req, r->client_ip, r->app->outbound, r, c, check_work, check_finish,
                     check_release);
}

void idd_auth_introspect(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_oidc_t *o = r->gen->oidc;
    if (o == NULL || !o->cfg->introspection_enabled || token.len == 0 || token.len > IDD_JWT_MAX) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    oidc_check_t *c = check_new(r, token, false, done);
    /* A cached verdict answers without the pool. */
    unsigned char key[SHA256_DIGEST_LENGTH];
    const char *audiences[16];
    size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
    bool active = false;
    int hit = 0;
    if (idd_oidc_verdict_key(c->token, c->len, audiences, n, key)) {
        pthread_mutex_lock(&o->lock);
        hit = idd_oidc_verdict_lookup_locked(o, key, &active, &c->who);
        pthread_mutex_unlock(&o->lock);
    }
    idd_wipe(key, sizeof(key));
    atomic_fetch_add(hit ? &o->verdict_hits : &o->verdict_misses, 1);
    if (hit) {
        c->result = active ? IDD_AUTH_OK : IDD_AUTH_DENY;
        check_finish(r, c);
        check_release(c);
        return;
    }
    idd_http_offload(r->req, r->client_ip, r->app->outbound, r, c, check_work, check_finish,
                     check_release);
}

void idd_oidc_cache_stats(idd_oidc_t *o, idd_oidc_cache_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return;
    out->jwks_hits = atomic_load(&o->jwks_hits);
    out->jwks_misses = atomic_load(&o->jwks_misses);
    out->introspection_hits = atomic_load(&o->verdict_hits);
    out->introspection_misses = atomic_load(&o->verdict_misses);
}
