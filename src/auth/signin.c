/*
 * Checking a login and its secret: the part Basic auth and POST /api/2.0/authentication
 * share. Brute-force accounting wraps the whole check, so a blocked (login, client IP) pair
 * is refused before the password is even looked at, with the same answer whether or not
 * the account exists; only a sign-in that succeeds (right secret, user allowed to sign in)
 * clears the pair.
 *
 * The user row is read on the loop (a prepared point lookup). A plain password becomes
 * DocSpace's client hash through the KDF, which runs in the worker pool while the request
 * waits; a client hash sent by the caller needs only one HMAC and is checked inline. An
 * unknown user costs the same work as a wrong secret. A Basic credential that was verified
 * is remembered for at most basic_cache.ttl seconds under an HMAC of the credential, tied
 * to the user's auth_version: a password or status change, from any process, makes the
 * entry useless at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/auth/auth.h"
#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/cred/digest.h"
#include "identityd/cred/password.h"

#define PASSWORD_MAX 1024
/* A record no client hash matches: the decoy an unknown user is checked against. */
#define DECOY_MAC "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* ---- the per-thread cache of verified Basic credentials ---- */

typedef struct cache_entry {
    unsigned char key[32];
    char user_id[IDD_GUID_LEN + 1];
    int64_t auth_version;
    int64_t expires_ms;
} cache_entry_t;

struct idd_basic_cache {
    size_t slots;
    cache_entry_t *entries;
};

struct idd_basic_cache *idd_basic_cache_new(size_t slots)
{
    struct idd_basic_cache *c = idd_xcalloc(1, sizeof(*c));
    c->slots = slots;
    c->entries = idd_xcalloc(slots, sizeof(cache_entry_t));
    return c;
}

void idd_basic_cache_free(struct idd_basic_cache *c)
{
    if (c == NULL)
        return;
    idd_wipe(c->entries, c->slots * sizeof(cache_entry_t));
    free(c->entries);
    free(c);
}

static cache_entry_t *cache_slot(struct idd_basic_cache *c, const unsigned char key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof(h));
    return &c->entries[h % c->slots];
}

/* HMAC-SHA256 under the pepper of tenant, lowercased login and password: the cache holds
 * nothing from which a password could be recovered without the pepper. */
static void cache_key(const idd_pepper_t *pepper, int64_t tenant_id, const char *login,
                      const char *password, size_t password_len, unsigned char out[32])
{
    unsigned char msg[8 + IDD_EMAIL_MAX + 1 + PASSWORD_MAX];
    size_t login_len = strlen(login), n = 0;
    for (int i = 0; i < 8; i++)
        msg[n++] = (unsigned char)((uint64_t)tenant_id >> (56 - 8 * i));
    for (size_t i = 0; i < login_len; i++)
        msg[n++] = (unsigned char)((login[i] >= 'A' && login[i] <= 'Z') ? login[i] + 32 : login[i]);
    msg[n++] = 0;
    memcpy(msg + n, password, password_len);
    n += password_len;
    /* On failure the key is all zeros: never stored, so never matched (see key_is_zero). */
    (void)idd_keyed_digest(pepper, NULL, msg, n, out);
    idd_wipe(msg, n);
}

static int key_is_zero(const unsigned char key[32])
{
    unsigned char acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= key[i];
    return acc == 0;
}

/* ---- the check ---- */

typedef struct signin_check {
    /* inputs, copied so the worker never touches request memory */
    char login[IDD_EMAIL_MAX + 1];
    char password[PASSWORD_MAX + 1]; /* secret */
    size_t password_len;
    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1]; /* secret: given, or computed by the KDF */
    bool have_client_hash;
    bool remember;
    idd_cred_kind_t via;
    char salt[IDD_SALT_MAX + 1];
    unsigned iterations;                      /* the record's */
    unsigned pad_iterations;                  /* extra KDF rounds that equalise the cost (below) */
    char record[IDD_PASSWORD_RECORD_MAX + 1]; /* the user's record, or the decoy; secret */
    const idd_pepper_t *pepper;
    idd_app_t *app; /* for the KDF work counter */
    /* output */
    int verdict; /* 0 match, IDD_EDENIED, other IDD_E* */
    /* context for the completion */
    bool user_found;
    idd_user_t user;
    unsigned char key[32];
    idd_auth_done_fn done;
} signin_check_t;

/* The slow part when a plain password was given; the cheap part otherwise. */
static void check_secret(void *arg)
{
    signin_check_t *c = arg;
    int rc = 0;
    if (!c->have_client_hash) {
        rc = idd_password_client_hash(c->password, c->password_len, c->salt, c->iterations,
                                      c->client_hash);
        if (c->pad_iterations > 0) {
            char burn[IDD_CLIENT_HASH_HEX_LEN + 1];
            idd_password_client_hash(c->password, c->password_len, c->salt, c->pad_iterations,
                                     burn);
            idd_wipe(burn, sizeof(burn));
        }
        atomic_fetch_add(&c->app->kdf_iterations,
                         (unsigned long long)c->iterations + c->pad_iterations);
    }
    if (rc == 0)
        rc = idd_password_record_check(c->pepper, c->record, c->client_hash);
    c->verdict = rc;
}

static void check_release(void *arg)
{
    idd_wipe(arg, sizeof(signin_check_t));
    free(arg);
}

static void grant(idd_request_t *r, const idd_user_t *user, idd_cred_kind_t via,
                  idd_auth_done_fn done)
{
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->user = *user;
    idd_wipe(p->user.password, sizeof(p->user.password));
    p->via = via;
    snprintf(p->scopes, sizeof(p->scopes), "%s", IDD_SCOPE_ALL_WRITE);
    done(r, IDD_AUTH_OK, p);
}

static bool may_sign_in(const idd_user_t *user)
{
    return user->status == IDD_USER_ACTIVE && !user->password_change_required;
}

/* Back on the loop (owner is the request) with the verdict. */
static void check_finish(void *owner, void *arg)
{
    idd_request_t *r = owner;
    signin_check_t *c = arg;
    idd_app_t *app = r->app;
    /* Guesses sent in parallel all pass the first check before any KDF finishes. Asking
     * again before revealing a verdict means that once `attempts` of them have failed, the
     * rest answer 403 whatever their password was: no more than `attempts` verdicts per
     * block, while parallel requests with the right password are never held back. */
    if (idd_bruteforce_check(app->bruteforce, c->login, r->client_ip, idd_monotonic_ms(),
                             &r->retry_after) != 0) {
        c->done(r, IDD_AUTH_BLOCKED, NULL);
        return;
    }
    if (c->verdict == 0 && c->user_found) {
        if (may_sign_in(&c->user)) {
            idd_bruteforce_success(app->bruteforce, c->login, r->client_ip);
            int ttl = app->cfg->basic_cache_ttl;
            if (c->remember && ttl > 0 && !key_is_zero(c->key)) {
                cache_entry_t *e = cache_slot(r->thread->auth->basic_cache, c->key);
                memcpy(e->key, c->key, 32);
                memcpy(e->user_id, c->user.id, sizeof(e->user_id));
                e->auth_version = c->user.auth_version;
                e->expires_ms = idd_monotonic_ms() + (int64_t)ttl * 1000;
            }
            grant(r, &c->user, c->via, c->done);
            return;
        }
        idd_log_info("signin: user %s may not sign in (%s)", c->user.id,
                     c->user.status != IDD_USER_ACTIVE ? "disabled" : "password change required");
        idd_bruteforce_fail(app->bruteforce, c->login, r->client_ip, idd_monotonic_ms());
        c->done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    if (c->verdict != 0 && c->verdict != IDD_EDENIED)
        idd_log_error("signin: password check failed: %s", idd_strerror(c->verdict));
    if (c->user_found)
        idd_log_info("signin: wrong password for user %s", c->user.id);
    idd_bruteforce_fail(app->bruteforce, c->login, r->client_ip, idd_monotonic_ms());
    c->done(r, IDD_AUTH_DENY, NULL);
}

void idd_auth_signin(idd_request_t *r, const idd_signin_t *in, idd_auth_done_fn done)
{
    idd_app_t *app = r->app;
    size_t login_len = strlen(in->login);
    if (login_len == 0 || login_len > IDD_EMAIL_MAX || in->password_len > PASSWORD_MAX ||
        (in->client_hash != NULL && strlen(in->client_hash) != IDD_CLIENT_HASH_HEX_LEN)) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    int64_t now_ms = idd_monotonic_ms();
    if (idd_bruteforce_check(app->bruteforce, in->login, r->client_ip, now_ms, &r->retry_after) !=
        0) {
        done(r, IDD_AUTH_BLOCKED, NULL);
        return;
    }

    signin_check_t *c = idd_xcalloc(1, sizeof(*c));
    memcpy(c->login, in->login, login_len + 1);
    if (in->client_hash != NULL) {
        memcpy(c->client_hash, in->client_hash, IDD_CLIENT_HASH_HEX_LEN + 1);
        c->have_client_hash = true;
    } else {
        memcpy(c->password, in->password, in->password_len);
        c->password_len = in->password_len;
    }
    c->remember = in->remember && !c->have_client_hash && app->cfg->basic_cache_ttl > 0;
    c->via = in->via;
    c->pepper = &app->pepper;
    c->app = app;
    c->done = done;
    snprintf(c->salt, sizeof(c->salt), "%s", r->tenant_row->password_salt);

    int rc = idd_store_user_by_email(r->thread->store, r->tenant->id, c->login, &c->user);
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        idd_log_error("signin: user lookup failed: %s", idd_strerror(rc));
        check_release(c);
        done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    c->user_found = rc == 0;

    if (c->remember) {
        cache_key(&app->pepper, r->tenant->id, c->login, c->password, c->password_len, c->key);
        cache_entry_t *e = cache_slot(r->thread->auth->basic_cache, c->key);
        if (c->user_found && may_sign_in(&c->user) && e->expires_ms > idd_monotonic_ms() &&
            idd_ct_equal(e->key, c->key, 32) && strcmp(e->user_id, c->user.id) == 0 &&
            e->auth_version == c->user.auth_version) {
            idd_bruteforce_success(app->bruteforce, c->login, r->client_ip);
            grant(r, &c->user, c->via, done);
            check_release(c);
            return;
        }
    }

    unsigned configured = app->cfg->password_iterations;
    if (c->user_found && idd_password_record_iterations(c->user.password, &c->iterations) == 0) {
        snprintf(c->record, sizeof(c->record), "%s", c->user.password);
    } else {
        c->iterations = configured;
        snprintf(c->record, sizeof(c->record), "$idd1$%u$%s", c->iterations, DECOY_MAC);
    }
    /* An unknown user costs `configured` rounds. A record made before password.iterations
     * was raised costs fewer, which would tell known accounts apart by response time: the
     * difference is burnt on a throwaway hash. */
    c->pad_iterations = c->iterations < configured ? configured - c->iterations : 0;
    idd_wipe(c->user.password, sizeof(c->user.password));

    if (c->have_client_hash) {
        /* One HMAC: cheaper than a trip through the pool. */
        check_secret(c);
        check_finish(r, c);
        check_release(c);
        return;
    }
    idd_http_offload(r->req, r->client_ip, r->app->workers, r, c, check_secret, check_finish,
                     check_release);
}
