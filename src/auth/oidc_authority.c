/*
 * The OAuth2/OpenID authority as identityd knows it: its set-up (the introspection client
 * secret), and what is learnt from it and kept process-wide behind one mutex: the discovery
 * document and the JWKS, the latter as a reference-counted snapshot so that a loop can
 * verify with it while a worker replaces it. Fetches run on worker threads only; while the
 * authority is down, attempts are spaced by jwks.min_refresh and the last good documents
 * are kept.
 */
#include "auth/oidc_internal.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/store/store.h"
#include "identityd/core/secretfile.h"

#define SECRET_MAX 1024

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
            snprintf(err, errlen, "%s:%d: oidc.introspection.client_secret_file: %s", cfg->path,
                     cfg->oidc.client_secret_file_line, why);
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

void idd_oidc_snapshot_release_locked(jwks_snapshot_t *s)
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
    idd_oidc_snapshot_release_locked(o->jwks);
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

/* ---- fetching (worker threads only) ---- */

bool idd_oidc_fresh(int64_t expires_ms)
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

void idd_oidc_discovery_dispose(idd_oidc_discovery_t *d)
{
    free(d->issuer);
    free(d->jwks_uri);
    free(d->introspection_endpoint);
    memset(d, 0, sizeof(*d));
}

/* Whether an endpoint the document names is a URL identityd will fetch: https://, or
 * http:// where allow_http lets the authority itself be plain (loopback tests). */
static bool endpoint_ok(const char *url, bool allow_http)
{
    if (url == NULL)
        return true;
    return strncasecmp(url, "https://", 8) == 0 ||
           (allow_http && strncasecmp(url, "http://", 7) == 0);
}

int idd_oidc_discovery_parse(const char *authority, bool allow_http, const char *body, size_t len,
                             idd_oidc_discovery_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    json_t *doc = json_loadb(body, len, 0, NULL);
    out->issuer = json_string_copy(doc, "issuer");
    out->jwks_uri = json_string_copy(doc, "jwks_uri");
    out->introspection_endpoint = json_string_copy(doc, "introspection_endpoint");
    json_decref(doc);
    /* OpenID Connect Discovery §4.3: the issuer must be the authority it was asked of (the
     * configured authority has lost any trailing slash; the issuer keeps its own, and it is
     * the issuer's exact text that tokens must carry). */
    const char *issuer = out->issuer;
    size_t issuer_len = issuer ? strlen(issuer) : 0;
    if (issuer_len > 0 && issuer[issuer_len - 1] == '/')
        issuer_len--;
    if (issuer == NULL || out->jwks_uri == NULL || issuer_len != strlen(authority) ||
        strncmp(issuer, authority, issuer_len) != 0) {
        snprintf(err, errlen, "names issuer %s, expected %s (or lacks jwks_uri)",
                 issuer ? issuer : "(none)", authority);
        idd_oidc_discovery_dispose(out);
        return IDD_ECONFIG;
    }
    /* Keys and verdicts come only from where the authority itself may be reached. */
    if (!endpoint_ok(out->jwks_uri, allow_http) ||
        !endpoint_ok(out->introspection_endpoint, allow_http)) {
        snprintf(err, errlen, "names an endpoint that is not %s",
                 allow_http ? "http:// or https://" : "https://");
        idd_oidc_discovery_dispose(out);
        return IDD_ECONFIG;
    }
    return 0;
}

/* Makes sure the discovery document is known. Returns 0, or IDD_EIO (unreachable, nothing
 * cached) / IDD_ECONFIG (the document contradicts the configuration). Called unlocked. */
int idd_oidc_ensure_discovery(idd_oidc_t *o)
{
    pthread_mutex_lock(&o->lock);
    while (o->discovery_fetching)
        pthread_cond_wait(&o->changed, &o->lock);
    int64_t now = idd_monotonic_ms();
    if (o->issuer != NULL && idd_oidc_fresh(o->discovery_expires_ms)) {
        pthread_mutex_unlock(&o->lock);
        return 0;
    }
    /* After a failed attempt, wait jwks.min_refresh before the next: while the authority is
     * down, requests get their 503 at once instead of each waiting for a timeout. */
    if (now - o->discovery_attempt_ms < (int64_t)o->cfg->jwks_min_refresh * 1000 &&
        o->discovery_attempt_ms != 0) {
        int rc = o->issuer != NULL ? 0 : IDD_EIO;
        pthread_mutex_unlock(&o->lock);
        return rc;
    }
    o->discovery_attempt_ms = now;
    o->discovery_fetching = true;
    pthread_mutex_unlock(&o->lock);

    /* Room for the longest authority the configuration accepts: never a cut-short URL. */
    static const char suffix[] = "/.well-known/openid-configuration";
    char url[IDD_OIDC_AUTHORITY_MAX + sizeof(suffix)], err[256] = "";
    idd_http_response_t resp;
    idd_oidc_discovery_t doc;
    int rc = IDD_EIO;
    snprintf(url, sizeof(url), "%s%s", o->cfg->authority, suffix);
    if (idd_http_get(url, &o->http, &resp, err, sizeof(err)) != 0 || resp.status != 200) {
        idd_log_error("oidc: discovery %s failed: %s (status %ld)", url, err, resp.status);
        goto done;
    }
    if (idd_oidc_discovery_parse(o->cfg->authority, o->cfg->allow_http, resp.body.data,
                                 resp.body.len, &doc, err, sizeof(err)) != 0) {
        idd_log_error("oidc: discovery at %s %s", url, err);
        rc = IDD_ECONFIG;
        goto done;
    }
    pthread_mutex_lock(&o->lock);
    free(o->issuer);
    free(o->jwks_uri);
    free(o->introspection_endpoint);
    o->issuer = doc.issuer;
    o->jwks_uri = doc.jwks_uri;
    o->introspection_endpoint = doc.introspection_endpoint;
    o->discovery_expires_ms = keep_until(o, resp.max_age);
    pthread_mutex_unlock(&o->lock);
    rc = 0;

done:
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

/* Whether a key of before is missing from after. */
static bool key_withdrawn(const idd_jwks_t *before, const idd_jwks_t *after)
{
    for (size_t i = 0; i < before->n; i++)
        if (idd_jwks_find(after, before->keys[i].kid) == NULL)
            return true;
    return false;
}

jwks_snapshot_t *idd_oidc_snapshot_get(idd_oidc_t *o, bool need_fresh)
{
    pthread_mutex_lock(&o->lock);
    jwks_snapshot_t *s = o->jwks;
    if (s != NULL && need_fresh && !idd_oidc_fresh(o->jwks_expires_ms))
        s = NULL;
    if (s != NULL)
        s->refs++;
    pthread_mutex_unlock(&o->lock);
    return s;
}

void idd_oidc_snapshot_release(idd_oidc_t *o, jwks_snapshot_t *s)
{
    pthread_mutex_lock(&o->lock);
    idd_oidc_snapshot_release_locked(s);
    pthread_mutex_unlock(&o->lock);
}

/* Fetches the JWKS when it is missing or stale, or when force is set (an unknown kid) and
 * jwks.min_refresh has passed since the last attempt. A failed fetch keeps the last good
 * set. Returns 0, or IDD_EIO when no key set is available at all. */
int idd_oidc_ensure_jwks(idd_oidc_t *o, bool force)
{
    pthread_mutex_lock(&o->lock);
    while (o->jwks_fetching)
        pthread_cond_wait(&o->changed, &o->lock);
    int64_t now = idd_monotonic_ms();
    bool have = o->jwks != NULL;
    bool stale = !have || !idd_oidc_fresh(o->jwks_expires_ms);
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
        /* A key the authority withdrew vouches for nothing from now on: tokens it signed that
         * the credential cache remembers as verified are forgotten with everything cached
         * (a rare event: the cache refills from the store). */
        if (o->jwks != NULL && key_withdrawn(&o->jwks->set, &s->set))
            idd_store_note_change();
        idd_oidc_snapshot_release_locked(o->jwks);
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
