/*
 * Access tokens from the deployment's OAuth2/OpenID authority: Bearer JWTs verified against
 * the authority's JWKS, and opaque tokens accepted through RFC 7662 introspection.
 *
 * What is learnt from the authority is kept process-wide behind one mutex: the discovery
 * document, the JWKS (as a reference-counted snapshot, so a loop can verify with it while a
 * worker replaces it) and introspection results keyed by a SHA-256 of the token. Every
 * network call runs on the worker pool; the event loop verifies a JWT itself only when the
 * keys it needs are already cached. Concurrent checks of one uncached token wait for one
 * introspection call. When the authority cannot be reached and nothing usable is cached,
 * the answer is 503, never a guess.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "identityd/auth/auth.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/httpclient.h"
#include "identityd/core/secretfile.h"
#include "identityd/jose/jwks.h"
#include "identityd/core/log.h"

#define CACHE_SLOTS 4096        /* introspection results kept */
#define SECRET_MAX 1024
#define WAIT_MARGIN_MS 1000     /* beyond the HTTP timeout, how long a waiter waits for another's call */

/* Who the authority says the token belongs to, and what it may do. */
typedef struct identity {
    char sub[129];
    char email[IDD_EMAIL_MAX + 1];
    bool email_verified;
    char scopes[256];           /* mapped onto identityd's scopes */
} identity_t;

typedef struct jwks_snapshot {
    int refs;                   /* under idd_oidc.lock */
    idd_jwks_t set;
} jwks_snapshot_t;

typedef enum { SLOT_EMPTY = 0, SLOT_PENDING, SLOT_DONE } slot_state_t;

typedef struct cache_slot {
    unsigned char key[SHA256_DIGEST_LENGTH];
    slot_state_t state;
    bool active;
    int64_t expires_ms;
    identity_t who;
} cache_slot_t;

struct idd_oidc {
    const idd_oidc_config_t *cfg;
    const idd_keyring_t *keyring;
    char *client_secret;        /* secret: wiped at free */
    idd_http_options_t http;
    pthread_mutex_t lock;
    pthread_cond_t changed;     /* a pending fetch or introspection finished */
    /* discovery */
    char *issuer, *jwks_uri, *introspection_endpoint;
    int64_t discovery_expires_ms;
    int64_t discovery_attempt_ms;
    bool discovery_fetching;
    /* keys */
    jwks_snapshot_t *jwks;
    int64_t jwks_expires_ms;
    int64_t jwks_attempt_ms;    /* last fetch attempt, for jwks.min_refresh */
    bool jwks_fetching;
    /* introspection results */
    cache_slot_t *cache;
};

/* ---- set-up ---- */

static int read_secret(const char *path, char **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = idd_secretfile_read(path, SECRET_MAX, &text, &len, err, errlen);
    if (rc != 0)
        return rc == IDD_EIO ? IDD_EIO : IDD_ECONFIG;
    size_t n = idd_secretfile_trim(text, len);
    if (n == 0 || memchr(text, '\0', n) != NULL) {
        snprintf(err, errlen, "%s holds no usable secret", path);
        rc = IDD_ECONFIG;
    } else {
        *out = idd_xstrndup(text, n);
    }
    idd_wipe(text, len);
    free(text);
    return rc;
}

int idd_oidc_new(const idd_config_t *cfg, const idd_keyring_t *keyring, idd_oidc_t **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (!cfg->oidc.enabled)
        return 0;
    idd_oidc_t *o = idd_xcalloc(1, sizeof(*o));
    o->cfg = &cfg->oidc;
    o->keyring = keyring;
    o->http.connect_timeout = cfg->oidc.connect_timeout;
    o->http.total_timeout = cfg->oidc.total_timeout;
    o->http.allow_http = cfg->oidc.allow_http;
    if (cfg->oidc.introspection_enabled) {
        char why[256];
        int rc = read_secret(cfg->oidc.client_secret_file, &o->client_secret, why, sizeof(why));
        if (rc != 0) {
            snprintf(err, errlen, "%s:%d: oidc.introspection.client_secret_file: %s", cfg->path, cfg->oidc.client_secret_file_line, why);
            free(o);
            return rc;
        }
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->changed, NULL);
    o->cache = idd_xcalloc(CACHE_SLOTS, sizeof(cache_slot_t));
    *out = o;
    return 0;
}

static void snapshot_release_locked(jwks_snapshot_t *s)
{
    if (s != NULL && --s->refs == 0) {
        idd_jwks_dispose(&s->set);
        free(s);
    }
}

void idd_oidc_free(idd_oidc_t *o)
{
    if (o == NULL)
        return;
    snapshot_release_locked(o->jwks);
    idd_wipe_free_str(o->client_secret);
    free(o->issuer);
    free(o->jwks_uri);
    free(o->introspection_endpoint);
    idd_wipe(o->cache, CACHE_SLOTS * sizeof(cache_slot_t));
    free(o->cache);
    pthread_cond_destroy(&o->changed);
    pthread_mutex_destroy(&o->lock);
    free(o);
}

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
        json_array_foreach(scope, i, v) {
            if (json_is_string(v))
                add_scope(out, outlen, json_string_value(v), json_string_length(v));
        }
    }
}

static void identity_from(json_t *claims, identity_t *who)
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
}

/* ---- fetching (worker threads only) ---- */

static bool fresh(int64_t expires_ms)
{
    return expires_ms > idd_monotonic_ms();
}

/* How long a document may be kept: its Cache-Control max-age, within jwks.max_age. */
static int64_t keep_until(const idd_oidc_t *o, long max_age)
{
    long seconds = o->cfg->jwks_max_age;
    if (max_age >= 0 && max_age < seconds)
        seconds = max_age;
    return idd_monotonic_ms() + (int64_t)seconds * 1000;
}

static char *json_string_copy(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? idd_xstrdup(json_string_value(v)) : NULL;
}

/* Makes sure the discovery document is known. Returns 0, or IDD_EIO (unreachable, nothing
 * cached) / IDD_ECONFIG (the document contradicts the configuration). Called unlocked. */
static int ensure_discovery(idd_oidc_t *o)
{
    pthread_mutex_lock(&o->lock);
    while (o->discovery_fetching)
        pthread_cond_wait(&o->changed, &o->lock);
    int64_t now = idd_monotonic_ms();
    if (o->issuer != NULL && fresh(o->discovery_expires_ms)) {
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    /* After a failed attempt, wait jwks.min_refresh before the next: while the authority is
     * down, requests get their 503 at once instead of each waiting for a timeout. */
    if (now - o->discovery_attempt_ms < (int64_t)o->cfg->jwks_min_refresh * 1000 && o->discovery_attempt_ms != 0) {
        int rc = o->issuer != NULL ? 0 : IDD_EIO;
        pthread_mutex_unlock(&o->lock);
        return rc;
    }
    o->discovery_attempt_ms = now;
    o->discovery_fetching = true;
    pthread_mutex_unlock(&o->lock);

    char url[1024], err[256] = "";
    idd_http_response_t resp;
    json_t *doc = NULL;
    int rc = IDD_EIO;
    snprintf(url, sizeof(url), "%s/.well-known/openid-configuration", o->cfg->authority);
    if (idd_http_get(url, &o->http, &resp, err, sizeof(err)) != 0 || resp.status != 200) {
        idd_log_error("oidc: discovery %s failed: %s (status %ld)", url, err, resp.status);
        goto done;
    }
    doc = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    char *issuer = json_string_copy(doc, "issuer");
    char *jwks_uri = json_string_copy(doc, "jwks_uri");
    char *introspection = json_string_copy(doc, "introspection_endpoint");
    /* OpenID Connect Discovery §4.3: the issuer must be the authority it was asked of (the
     * configured authority has lost any trailing slash; the issuer keeps its own, and it is
     * the issuer's exact text that tokens must carry). */
    size_t issuer_len = issuer ? strlen(issuer) : 0;
    if (issuer_len > 0 && issuer[issuer_len - 1] == '/')
        issuer_len--;
    if (issuer == NULL || jwks_uri == NULL || issuer_len != strlen(o->cfg->authority) ||
        strncmp(issuer, o->cfg->authority, issuer_len) != 0) {
        idd_log_error("oidc: discovery at %s names issuer %s, expected %s (or lacks jwks_uri)", url,
                      issuer ? issuer : "(none)", o->cfg->authority);
        free(issuer);
        free(jwks_uri);
        free(introspection);
        rc = IDD_ECONFIG;
        goto done;
    }
    pthread_mutex_lock(&o->lock);
    free(o->issuer);
    free(o->jwks_uri);
    free(o->introspection_endpoint);
    o->issuer = issuer;
    o->jwks_uri = jwks_uri;
    o->introspection_endpoint = introspection;
    o->discovery_expires_ms = keep_until(o, resp.max_age);
    pthread_mutex_unlock(&o->lock);
    rc = 0;

done:
    json_decref(doc);
    idd_http_response_dispose(&resp);
    pthread_mutex_lock(&o->lock);
    o->discovery_fetching = false;
    /* A failed refresh keeps the last good document. */
    if (rc == IDD_EIO && o->issuer != NULL)
        rc = 0;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    return rc;
}

/* A reference to the current key set (NULL when none); release with snapshot_release. */
static jwks_snapshot_t *snapshot_get(idd_oidc_t *o, bool need_fresh)
{
    pthread_mutex_lock(&o->lock);
    jwks_snapshot_t *s = o->jwks;
    if (s != NULL && need_fresh && !fresh(o->jwks_expires_ms))
        s = NULL;
    if (s != NULL)
        s->refs++;
    pthread_mutex_unlock(&o->lock);
    return s;
}

static void snapshot_release(idd_oidc_t *o, jwks_snapshot_t *s)
{
    pthread_mutex_lock(&o->lock);
    snapshot_release_locked(s);
    pthread_mutex_unlock(&o->lock);
}

/* Fetches the JWKS when it is missing or stale, or when force is set (an unknown kid) and
 * jwks.min_refresh has passed since the last attempt. A failed fetch keeps the last good
 * set. Returns 0, or IDD_EIO when no key set is available at all. */
static int ensure_jwks(idd_oidc_t *o, bool force)
{
    pthread_mutex_lock(&o->lock);
    while (o->jwks_fetching)
        pthread_cond_wait(&o->changed, &o->lock);
    int64_t now = idd_monotonic_ms();
    bool have = o->jwks != NULL;
    bool stale = !have || !fresh(o->jwks_expires_ms);
    /* Every fetch, wanted or forced, waits jwks.min_refresh after the last attempt: an
     * unknown kid, or an authority that is down, cannot make identityd hammer it. */
    bool may_fetch = o->jwks_attempt_ms == 0 ||
                     now - o->jwks_attempt_ms >= (int64_t)o->cfg->jwks_min_refresh * 1000;
    if (!((stale || force) && may_fetch)) {
        pthread_mutex_unlock(&o->lock);
        return have ? 0 : IDD_EIO;
    }
    o->jwks_fetching = true;
    o->jwks_attempt_ms = now;
    char *uri = idd_xstrdup(o->jwks_uri);
    pthread_mutex_unlock(&o->lock);

    char err[256] = "";
    idd_http_response_t resp;
    jwks_snapshot_t *s = idd_xcalloc(1, sizeof(*s));
    bool ok = false;
    if (idd_http_get(uri, &o->http, &resp, err, sizeof(err)) != 0 || resp.status != 200)
        idd_log_error("oidc: JWKS %s failed: %s (status %ld)", uri, err, resp.status);
    else if (idd_jwks_parse(resp.body.data, resp.body.len, &s->set) != 0)
        idd_log_error("oidc: JWKS %s is not a key set", uri);
    else
        ok = true;

    pthread_mutex_lock(&o->lock);
    if (ok) {
        s->refs = 1;
        snapshot_release_locked(o->jwks);
        o->jwks = s;
        o->jwks_expires_ms = keep_until(o, resp.max_age);
        idd_log_info("oidc: loaded %zu keys from %s", s->set.n, uri);
    } else {
        free(s);
    }
    o->jwks_fetching = false;
    int rc = o->jwks != NULL ? 0 : IDD_EIO;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    idd_http_response_dispose(&resp);
    free(uri);
    return rc;
}

/* ---- introspection ---- */

/* A verdict holds for a token as seen by particular audiences: the answer's aud is checked
 * against them, so the key covers both, and a token vouched for at one tenant is looked at
 * afresh at another. */
static bool verdict_key(const char *token, size_t len, const char *const *audiences, size_t n_aud,
                        unsigned char key[SHA256_DIGEST_LENGTH])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n_aud; i++)
        ok = EVP_DigestUpdate(ctx, audiences[i], strlen(audiences[i])) && EVP_DigestUpdate(ctx, "\n", 1);
    ok = ok && EVP_DigestUpdate(ctx, "", 1) && EVP_DigestUpdate(ctx, token, len) &&
         EVP_DigestFinal_ex(ctx, key, &n);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        idd_log_error("oidc: cannot hash a token for the introspection cache");
    return ok;
}

static cache_slot_t *slot_for(idd_oidc_t *o, const unsigned char key[SHA256_DIGEST_LENGTH])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return &o->cache[h % CACHE_SLOTS];
}

/* A cached verdict for key, under the lock: 1 when found (copied to *active and *who), else 0. */
static int cache_lookup_locked(idd_oidc_t *o, const unsigned char key[SHA256_DIGEST_LENGTH], bool *active,
                               identity_t *who)
{
    cache_slot_t *slot = slot_for(o, key);
    if (slot->state != SLOT_DONE || !fresh(slot->expires_ms) || !idd_ct_equal(slot->key, key, SHA256_DIGEST_LENGTH))
        return 0;
    *active = slot->active;
    if (who != NULL)
        *who = slot->who;
    return 1;
}

/* Checks the claims an introspection response may carry like a JWT's (exp, nbf, iss, aud). */
static bool introspection_claims_ok(const idd_oidc_t *o, json_t *resp, const char *issuer,
                                    const char *const *audiences, size_t n_aud, int64_t now)
{
    int skew = o->cfg->clock_skew;
    json_t *exp = json_object_get(resp, "exp");
    if (exp != NULL && (!json_is_number(exp) || json_number_value(exp) + skew <= (double)now))
        return false;
    json_t *nbf = json_object_get(resp, "nbf");
    if (nbf != NULL && (!json_is_number(nbf) || json_number_value(nbf) > (double)(now + skew)))
        return false;
    json_t *iss = json_object_get(resp, "iss");
    if (iss != NULL && (!json_is_string(iss) || strcmp(json_string_value(iss), issuer) != 0))
        return false;
    json_t *aud = json_object_get(resp, "aud");
    if (aud != NULL) {
        bool found = false;
        for (size_t i = 0; i < n_aud && !found; i++) {
            if (json_is_string(aud)) {
                found = strcmp(json_string_value(aud), audiences[i]) == 0;
            } else if (json_is_array(aud)) {
                size_t j;
                json_t *v;
                json_array_foreach(aud, j, v) {
                    if (json_is_string(v) && strcmp(json_string_value(v), audiences[i]) == 0)
                        found = true;
                }
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* Asks the authority about token (RFC 7662), through the cache. Returns IDD_AUTH_OK
 * (active; *who filled), IDD_AUTH_DENY or IDD_AUTH_ERROR. Worker threads only. */
static idd_auth_result_t introspect(idd_oidc_t *o, const char *token, size_t len, bool is_jwt,
                                    const char *const *audiences, size_t n_aud, identity_t *who)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    if (!verdict_key(token, len, audiences, n_aud, key))
        return IDD_AUTH_ERROR;
    cache_slot_t *slot = slot_for(o, key);
    bool active = false;
    int64_t give_up = idd_monotonic_ms() + (int64_t)o->cfg->total_timeout * 1000 + WAIT_MARGIN_MS;

    pthread_mutex_lock(&o->lock);
    for (;;) {
        if (cache_lookup_locked(o, key, &active, who)) {
            pthread_mutex_unlock(&o->lock);
            return active ? IDD_AUTH_OK : IDD_AUTH_DENY;
        }
        /* Another worker is asking about this very token: wait for its answer. */
        if (slot->state == SLOT_PENDING && idd_ct_equal(slot->key, key, sizeof(key)) &&
            idd_monotonic_ms() < give_up) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&o->changed, &o->lock, &ts);
            continue;
        }
        break;
    }
    bool own_slot = slot->state != SLOT_PENDING;
    if (own_slot) {
        memcpy(slot->key, key, sizeof(key));
        slot->state = SLOT_PENDING;
    }
    char *endpoint = o->introspection_endpoint ? idd_xstrdup(o->introspection_endpoint) : NULL;
    char *issuer = idd_xstrdup(o->issuer);
    pthread_mutex_unlock(&o->lock);

    idd_auth_result_t result = IDD_AUTH_ERROR;
    int64_t cache_for_ms = 0;
    json_t *resp_json = NULL;
    idd_http_response_t resp;
    idd_buf_t form;
    char err[256] = "";
    idd_buf_init(&form);
    memset(&resp, 0, sizeof(resp));
    if (endpoint == NULL) {
        idd_log_error("oidc: the authority publishes no introspection_endpoint");
        goto done;
    }
    idd_buf_puts(&form, "token=");
    idd_http_form_encode(&form, token, len);
    idd_buf_puts(&form, "&token_type_hint=access_token");
    if (idd_http_post_form(endpoint, &o->http, o->cfg->client_id, o->client_secret, form.data, form.len, &resp,
                           err, sizeof(err)) != 0) {
        idd_log_error("oidc: introspection failed: %s", err);
        goto done;
    }
    resp_json = json_loadb(resp.body.data, resp.body.len, 0, NULL);
    if (resp.status == 400 && is_jwt && json_is_string(json_object_get(resp_json, "error")) &&
        strcmp(json_string_value(json_object_get(resp_json, "error")), "unsupported_token_type") == 0) {
        /* The authority will not introspect structured tokens: with introspection.jwt on,
         * no JWT can pass. Say so plainly; refuse the token. */
        idd_log_error("oidc: configuration error: the authority refuses to introspect JWTs "
                      "(unsupported_token_type); set oidc.introspection.jwt: false");
        result = IDD_AUTH_DENY;
        goto done;
    }
    if (resp.status != 200 || !json_is_object(resp_json)) {
        idd_log_error("oidc: introspection answered status %ld", resp.status);
        goto done;
    }
    int64_t now = idd_now();
    /* RFC 7662 §2.2: "active" is a boolean; anything else is not a yes. */
    if (json_is_true(json_object_get(resp_json, "active")) &&
        introspection_claims_ok(o, resp_json, issuer, audiences, n_aud, now)) {
        identity_from(resp_json, who);
        result = IDD_AUTH_OK;
        cache_for_ms = (int64_t)o->cfg->cache_ttl * 1000;
        json_t *exp = json_object_get(resp_json, "exp");
        if (json_is_number(exp)) {
            int64_t left_ms = ((int64_t)json_number_value(exp) - now) * 1000;
            if (left_ms < cache_for_ms)
                cache_for_ms = left_ms;
        }
    } else {
        result = IDD_AUTH_DENY;
        cache_for_ms = (int64_t)o->cfg->negative_ttl * 1000;
    }

done:
    pthread_mutex_lock(&o->lock);
    if (own_slot && idd_ct_equal(slot->key, key, sizeof(key))) {
        if (result != IDD_AUTH_ERROR && cache_for_ms > 0) {
            slot->state = SLOT_DONE;
            slot->active = result == IDD_AUTH_OK;
            slot->expires_ms = idd_monotonic_ms() + cache_for_ms;
            slot->who = *who;
        } else {
            slot->state = SLOT_EMPTY;
        }
    }
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    json_decref(resp_json);
    idd_http_response_dispose(&resp);
    idd_buf_dispose_secret(&form);
    free(endpoint);
    free(issuer);
    idd_wipe(key, sizeof(key));
    return result;
}

/* ---- one check, start to end ---- */

typedef struct oidc_check {
    idd_oidc_t *o;
    char token[IDD_JWT_MAX + 1];       /* secret */
    size_t len;
    bool is_jwt;
    char tenant_url[300];
    int64_t now;
    /* result */
    idd_auth_result_t result;
    identity_t who;
    idd_auth_done_fn done;
} oidc_check_t;

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
    identity_from(claims, &c->who);
    c->result = IDD_AUTH_OK;
    if (c->o->cfg->introspection_enabled && c->o->cfg->introspection_jwt) {
        const char *audiences[16];
        size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
        identity_t said;
        c->result = introspect(c->o, c->token, c->len, true, audiences, n, &said);
        /* Some authorities (oidc-provider among them) do not store JWT access tokens and
         * answer {"active": false} for every one: say what to change, once per token. */
        if (c->result == IDD_AUTH_DENY)
            idd_log_warn("oidc: introspection calls a JWT with a valid signature inactive; if the authority "
                         "does not introspect JWT access tokens, set oidc.introspection.jwt: false");
    }
}

/* The worker half: everything that may need the network. */
static void check_work(void *arg)
{
    oidc_check_t *c = arg;
    idd_oidc_t *o = c->o;
    c->result = IDD_AUTH_ERROR;
    int rc = ensure_discovery(o);
    if (rc != 0) {
        c->result = IDD_AUTH_ERROR;
        return;
    }
    if (!c->is_jwt) {
        const char *audiences[16];
        size_t n = audiences_of(c, audiences, IDD_ARRAY_LEN(audiences));
        c->result = introspect(o, c->token, c->len, false, audiences, n, &c->who);
        return;
    }
    if (ensure_jwks(o, false) != 0)
        return;
    json_t *claims = NULL;
    jwks_snapshot_t *s = snapshot_get(o, false);
    idd_jwt_status_t st = s ? verify_with(c, s, &claims) : IDD_JWT_KID_UNKNOWN;
    snapshot_release(o, s);
    if (st == IDD_JWT_KID_UNKNOWN) {
        /* Perhaps the authority rotated its keys: one refetch, rate-limited. */
        if (ensure_jwks(o, true) != 0)
            return;
        s = snapshot_get(o, false);
        st = s ? verify_with(c, s, &claims) : IDD_JWT_KID_UNKNOWN;
        snapshot_release(o, s);
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
    idd_wipe(arg, sizeof(oidc_check_t));
    free(arg);
}

/* Back on the loop: the authority's answer becomes one of our users. */
static void check_finish(idd_request_t *r, void *arg)
{
    oidc_check_t *c = arg;
    if (c->result != IDD_AUTH_OK) {
        c->done(r, c->result, NULL);
        return;
    }
    const identity_t *who = &c->who;
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    int rc = IDD_ENOTFOUND;
    if (strcmp(c->o->cfg->user_claim, "email") == 0) {
        /* An address the authority has not verified proves nothing about who holds it. */
        if (who->email[0] != '\0' && who->email_verified)
            rc = idd_store_user_by_email(r->thread->store, r->tenant->id, who->email, &p->user);
    } else if (strlen(who->sub) == IDD_GUID_LEN) {
        char id[IDD_GUID_LEN + 1];
        memcpy(id, who->sub, sizeof(id));
        h2o_strtolower(id, IDD_GUID_LEN);
        rc = idd_store_user_by_id(r->thread->store, id, &p->user);
    }
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        c->done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    idd_wipe(p->user.password, sizeof(p->user.password));
    if (rc != 0 || p->user.tenant_id != r->tenant->id || p->user.status != IDD_USER_ACTIVE) {
        idd_log_info("oidc: token subject is no active user of tenant %lld", (long long)r->tenant->id);
        c->done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    p->via = IDD_CRED_JWT;
    snprintf(p->scopes, sizeof(p->scopes), "%s", who->scopes);
    c->done(r, IDD_AUTH_OK, p);
}

static oidc_check_t *check_new(idd_request_t *r, h2o_iovec_t token, bool is_jwt, idd_auth_done_fn done)
{
    oidc_check_t *c = idd_xcalloc(1, sizeof(*c));
    c->o = r->app->oidc;
    memcpy(c->token, token.base, token.len);
    c->len = token.len;
    c->is_jwt = is_jwt;
    snprintf(c->tenant_url, sizeof(c->tenant_url), "%.*s", (int)r->tenant_url.len, r->tenant_url.base);
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

void idd_auth_jwt(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_oidc_t *o = r->app->oidc;
    json_t *header = NULL, *claims = NULL;
    if (token.len > IDD_JWT_MAX || idd_jwt_decode(token.base, token.len, &header, &claims) != IDD_JWT_OK ||
        minted_here(r->app->keyring, header) || o == NULL) {
        json_decref(header);
        json_decref(claims);
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    json_decref(header);
    json_decref(claims);

    oidc_check_t *c = check_new(r, token, true, done);
    /* With the discovery document and a fresh key set at hand, a JWT is verified right here:
     * a signature check costs tens of microseconds and needs no network. */
    bool needs_introspection = o->cfg->introspection_enabled && o->cfg->introspection_jwt;
    pthread_mutex_lock(&o->lock);
    bool known = o->issuer != NULL && fresh(o->discovery_expires_ms);
    pthread_mutex_unlock(&o->lock);
    jwks_snapshot_t *s = known ? snapshot_get(o, true) : NULL;
    if (s != NULL) {
        json_t *verified = NULL;
        idd_jwt_status_t st = verify_with(c, s, &verified);
        snapshot_release(o, s);
        if (st != IDD_JWT_OK && st != IDD_JWT_KID_UNKNOWN) {
            idd_log_info("oidc: token refused: %s", idd_jwt_status_name(st));
            check_release(c);
            done(r, IDD_AUTH_DENY, NULL);
            return;
        }
        if (st == IDD_JWT_OK && !needs_introspection) {
            identity_from(verified, &c->who);
            json_decref(verified);
            c->result = IDD_AUTH_OK;
            check_finish(r, c);
            check_release(c);
            return;
        }
        json_decref(verified);
    }
    idd_http_offload(r, IDD_POOL_OUTBOUND, c, check_work, check_finish, check_release);
}

void idd_auth_introspect(idd_request_t *r, h2o_iovec_t token, idd_auth_done_fn done)
{
    idd_oidc_t *o = r->app->oidc;
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
    if (verdict_key(c->token, c->len, audiences, n, key)) {
        pthread_mutex_lock(&o->lock);
        hit = cache_lookup_locked(o, key, &active, &c->who);
        pthread_mutex_unlock(&o->lock);
    }
    idd_wipe(key, sizeof(key));
    if (hit) {
        c->result = active ? IDD_AUTH_OK : IDD_AUTH_DENY;
        check_finish(r, c);
        check_release(c);
        return;
    }
    idd_http_offload(r, IDD_POOL_OUTBOUND, c, check_work, check_finish, check_release);
}
