/*
 * RFC 7662 introspection: asking the authority whether a token is active, and a bounded
 * cache of its verdicts keyed by a SHA-256 of the token and the audiences it was checked
 * for. A verdict never outlives the token's exp; negative ones last
 * introspection.negative_ttl. Concurrent checks of one uncached token wait for one call.
 */
#include "auth/oidc_internal.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"

#define WAIT_MARGIN_MS                                                                             \
    1000 /* beyond the HTTP timeout, how long a waiter waits for another's call */

/* ---- introspection ---- */

/* A verdict holds for a token as seen by particular audiences: the answer's aud is checked
 * against them, so the key covers both, and a token vouched for at one tenant is looked at
 * afresh at another. */
bool idd_oidc_verdict_key(const char *token, size_t len, const char *const *audiences, size_t n_aud,
                          unsigned char key[SHA256_DIGEST_LENGTH])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (size_t i = 0; ok && i < n_aud; i++)
        ok = EVP_DigestUpdate(ctx, audiences[i], strlen(audiences[i])) &&
             EVP_DigestUpdate(ctx, "\n", 1);
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
int idd_oidc_verdict_lookup_locked(idd_oidc_t *o, const unsigned char key[SHA256_DIGEST_LENGTH],
                                   bool *active, identity_t *who)
{
    cache_slot_t *slot = slot_for(o, key);
    if (slot->state != SLOT_DONE || !idd_oidc_fresh(slot->expires_ms) ||
        !idd_ct_equal(slot->key, key, SHA256_DIGEST_LENGTH))
        return 0;
    *active = slot->active;
    if (who != NULL)
        *who = slot->who;
    return 1;
}

/* Checks the claims an introspection response may carry like a JWT's (exp, nbf, iss, aud). */
static bool introspection_claims_ok(const idd_oidc_config_t *cfg, json_t *resp, const char *issuer,
                                    const char *const *audiences, size_t n_aud, int64_t now)
{
    int skew = cfg->clock_skew;
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
                json_array_foreach(aud, j, v)
                {
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

idd_introspection_verdict_t idd_oidc_introspection_read(const idd_introspection_rules_t *rules,
                                                        long status, const char *body, size_t len,
                                                        identity_t *who, int64_t *cache_for_ms)
{
    const idd_oidc_config_t *cfg = rules->cfg;
    idd_introspection_verdict_t verdict;
    memset(who, 0, sizeof(*who));
    *cache_for_ms = 0;
    json_t *resp = json_loadb(body, len, 0, NULL);
    json_t *error = json_object_get(resp, "error");
    if (status == 400 && rules->is_jwt && json_is_string(error) &&
        strcmp(json_string_value(error), "unsupported_token_type") == 0) {
        verdict = IDD_INTROSPECTION_JWT_REFUSED;
    } else if (status != 200 || !json_is_object(resp)) {
        verdict = IDD_INTROSPECTION_UNREADABLE;
    } else if (json_is_true(json_object_get(resp, "active")) &&
               introspection_claims_ok(cfg, resp, rules->issuer, rules->audiences, rules->n_aud,
                                       rules->now)) {
        /* RFC 7662 §2.2: "active" is a boolean; anything else is not a yes. */
        idd_oidc_identity_from(resp, who);
        verdict = IDD_INTROSPECTION_ACTIVE;
        *cache_for_ms = (int64_t)cfg->cache_ttl * 1000;
        json_t *exp = json_object_get(resp, "exp");
        /* Only an exp within cache_ttl shortens the stay, and only such an exp is converted:
         * it is above now - clock_skew (the claims held), so the difference is small, where
         * a far one (1e28, or near INT64_MAX) would overflow int64_t. */
        if (json_is_number(exp) &&
            json_number_value(exp) < (double)rules->now + (double)cfg->cache_ttl) {
            int64_t left_ms = ((int64_t)json_number_value(exp) - rules->now) * 1000;
            if (left_ms < *cache_for_ms)
                *cache_for_ms = left_ms;
        }
    } else {
        verdict = IDD_INTROSPECTION_INACTIVE;
        *cache_for_ms = (int64_t)cfg->negative_ttl * 1000;
    }
    json_decref(resp);
    return verdict;
}

/* Asks the authority about token (RFC 7662), through the cache. Returns IDD_AUTH_OK
 * (active; *who filled), IDD_AUTH_DENY or IDD_AUTH_ERROR. Worker threads only. */
idd_auth_result_t idd_oidc_introspect(idd_oidc_t *o, const char *token, size_t len, bool is_jwt,
                                      const char *const *audiences, size_t n_aud, identity_t *who)
{
    unsigned char key[SHA256_DIGEST_LENGTH];
    if (!idd_oidc_verdict_key(token, len, audiences, n_aud, key))
        return IDD_AUTH_ERROR;
    cache_slot_t *slot = slot_for(o, key);
    bool active = false;
    int64_t give_up = idd_monotonic_ms() + (int64_t)o->cfg->total_timeout * 1000 + WAIT_MARGIN_MS;

    pthread_mutex_lock(&o->lock);
    /* An opaque token was looked up on its loop already (idd_auth_introspect). */
    bool counted = !is_jwt;
    for (;;) {
        bool hit = idd_oidc_verdict_lookup_locked(o, key, &active, who);
        if (!counted) {
            atomic_fetch_add(hit ? &o->verdict_hits : &o->verdict_misses, 1);
            counted = true;
        }
        if (hit) {
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
    if (idd_http_post_form(endpoint, &o->http, o->cfg->client_id, o->client_secret, form.data,
                           form.len, &resp, err, sizeof(err)) != 0) {
        idd_log_error("oidc: introspection failed: %s", err);
        goto done;
    }
    {
        idd_introspection_rules_t rules = {
            .cfg = o->cfg,
            .issuer = issuer,
            .audiences = audiences,
            .n_aud = n_aud,
            .now = idd_now(),
            .is_jwt = is_jwt,
        };
        switch (idd_oidc_introspection_read(&rules, resp.status, resp.body.data, resp.body.len, who,
                                            &cache_for_ms)) {
        case IDD_INTROSPECTION_ACTIVE:
            result = IDD_AUTH_OK;
            break;
        case IDD_INTROSPECTION_INACTIVE:
            result = IDD_AUTH_DENY;
            break;
        case IDD_INTROSPECTION_JWT_REFUSED:
            /* The authority will not introspect structured tokens: with introspection.jwt on,
             * no JWT can pass. Say so plainly; refuse the token. */
            idd_log_error("oidc: configuration error: the authority refuses to introspect JWTs "
                          "(unsupported_token_type); set oidc.introspection.jwt: false");
            result = IDD_AUTH_DENY;
            cache_for_ms = 0;
            break;
        case IDD_INTROSPECTION_UNREADABLE:
            idd_log_error("oidc: introspection answered status %ld", resp.status);
            cache_for_ms = 0;
            break;
        }
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
    idd_http_response_dispose(&resp);
    idd_buf_dispose_secret(&form);
    free(endpoint);
    free(issuer);
    idd_wipe(key, sizeof(key));
    return result;
}
