/*
 * HTTP Basic: base64(email:password) checked against the user's stored record.
 *
 * The user row is read on the loop (a prepared point lookup); the KDF that turns the
 * password into DocSpace's client hash runs in the worker pool, and the request resumes on
 * its own loop. An unknown user costs the same KDF as a wrong password, so response time
 * does not reveal which emails exist. A verified credential is remembered for at most
 * basic_cache.ttl seconds under an HMAC of the credential, tied to the user's auth_version:
 * a password or status change (from any process) makes the entry useless at once.
 */
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/common.h"
#include "identityd/auth.h"
#include "identityd/b64.h"
#include "identityd/ct.h"
#include "identityd/log.h"
#include "identityd/password.h"

#define BASIC_ENCODED_MAX 4096
#define PASSWORD_MAX 1024

/* ---- the per-thread cache of verified credentials ---- */

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

/* The cache key: HMAC-SHA256 under the pepper of tenant, email and password, so the cache
 * holds nothing from which a password could be recovered without the pepper. */
static void cache_key(const idd_pepper_t *pepper, int64_t tenant_id, const char *email,
                      const char *password, size_t password_len, unsigned char out[32])
{
    unsigned char msg[8 + IDD_EMAIL_MAX + 1 + PASSWORD_MAX];
    size_t email_len = strlen(email), n = 0;
    for (int i = 0; i < 8; i++)
        msg[n++] = (unsigned char)((uint64_t)tenant_id >> (56 - 8 * i));
    /* The email is lowercased: the store matches it case-insensitively. */
    for (size_t i = 0; i < email_len; i++)
        msg[n++] = (unsigned char)((email[i] >= 'A' && email[i] <= 'Z') ? email[i] + 32 : email[i]);
    msg[n++] = 0;
    memcpy(msg + n, password, password_len);
    n += password_len;
    unsigned int len = 0;
    if (HMAC(EVP_sha256(), pepper->bytes, (int)pepper->len, msg, n, out, &len) == NULL || len != 32)
        memset(out, 0, 32); /* never stored, so never matched: see key_is_zero */
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

typedef struct basic_check {
    /* inputs, copied so the worker never touches request memory */
    char password[PASSWORD_MAX + 1];   /* secret */
    size_t password_len;
    char salt[IDD_SALT_MAX + 1];
    unsigned iterations;
    char record[IDD_PASSWORD_RECORD_MAX + 1]; /* the user's record, or a decoy; secret */
    const idd_pepper_t *pepper;
    /* output */
    int verdict;                       /* 0 match, IDD_EDENIED, other IDD_E* */
    /* context for the resume */
    bool user_found;
    idd_user_t user;
    unsigned char key[32];
    idd_auth_done_fn done;
} basic_check_t;

static void check_work(void *arg)
{
    basic_check_t *c = arg;
    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1];
    int rc = idd_password_client_hash(c->password, c->password_len, c->salt, c->iterations, client_hash);
    if (rc == 0)
        rc = idd_password_record_check(c->pepper, c->record, client_hash);
    idd_wipe(client_hash, sizeof(client_hash));
    c->verdict = rc;
}

static void check_release(void *arg)
{
    idd_wipe(arg, sizeof(basic_check_t));
    free(arg);
}

static void principal_from_user(idd_request_t *r, const idd_user_t *user, idd_auth_done_fn done)
{
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    p->user = *user;
    idd_wipe(p->user.password, sizeof(p->user.password));
    p->via = IDD_CRED_BASIC;
    snprintf(p->scopes, sizeof(p->scopes), "%s", IDD_SCOPE_ALL_WRITE);
    done(r, IDD_AUTH_OK, p);
}

static void check_resume(idd_request_t *r, void *arg)
{
    basic_check_t *c = arg;
    if (c->verdict == 0 && c->user_found && c->user.status == IDD_USER_ACTIVE) {
        int ttl = r->app->cfg->basic_cache_ttl;
        if (ttl > 0 && !key_is_zero(c->key)) {
            cache_entry_t *e = cache_slot(r->thread->basic_cache, c->key);
            memcpy(e->key, c->key, 32);
            memcpy(e->user_id, c->user.id, sizeof(e->user_id));
            e->auth_version = c->user.auth_version;
            e->expires_ms = idd_monotonic_ms() + (int64_t)ttl * 1000;
        }
        principal_from_user(r, &c->user, c->done);
        return;
    }
    if (c->verdict != 0 && c->verdict != IDD_EDENIED)
        idd_log_error("basic: password check failed: %s", idd_strerror(c->verdict));
    if (c->user_found)
        idd_log_info("basic: authentication failed for user %s", c->user.id);
    c->done(r, IDD_AUTH_DENY, NULL);
}

void idd_auth_basic(idd_request_t *r, h2o_iovec_t credential, idd_auth_done_fn done)
{
    if (credential.len == 0 || credential.len > BASIC_ENCODED_MAX) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    size_t plain_len = 0;
    char *plain = h2o_mem_alloc_pool(&r->req->pool, IDD_B64_DECODED_MAX(credential.len) + 1);
    if (idd_b64_decode(plain, &plain_len, credential.base, credential.len) != 0 ||
        memchr(plain, '\0', plain_len) != NULL) {
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    plain[plain_len] = '\0';
    char *colon = memchr(plain, ':', plain_len);
    size_t email_len = colon ? (size_t)(colon - plain) : 0;
    size_t password_len = colon ? plain_len - email_len - 1 : 0;
    if (colon == NULL || email_len == 0 || email_len > IDD_EMAIL_MAX || password_len > PASSWORD_MAX) {
        idd_wipe(plain, plain_len);
        done(r, IDD_AUTH_DENY, NULL);
        return;
    }
    *colon = '\0';
    const char *email = plain;

    idd_app_t *app = r->app;
    basic_check_t *c = idd_xcalloc(1, sizeof(*c));
    memcpy(c->password, colon + 1, password_len);
    c->password_len = password_len;
    idd_wipe(colon + 1, password_len); /* the password now lives only in c */
    c->pepper = &app->pepper;
    c->done = done;
    snprintf(c->salt, sizeof(c->salt), "%s", r->tenant_row->password_salt);

    int rc = idd_store_user_by_email(r->thread->store, r->tenant->id, email, &c->user);
    if (rc != 0 && rc != IDD_ENOTFOUND) {
        idd_log_error("basic: user lookup failed: %s", idd_strerror(rc));
        check_release(c);
        done(r, IDD_AUTH_ERROR, NULL);
        return;
    }
    c->user_found = rc == 0;

    if (app->cfg->basic_cache_ttl > 0) {
        cache_key(&app->pepper, r->tenant->id, email, c->password, c->password_len, c->key);
        cache_entry_t *e = cache_slot(r->thread->basic_cache, c->key);
        if (c->user_found && c->user.status == IDD_USER_ACTIVE && e->expires_ms > idd_monotonic_ms() &&
            idd_ct_equal(e->key, c->key, 32) && strcmp(e->user_id, c->user.id) == 0 &&
            e->auth_version == c->user.auth_version) {
            principal_from_user(r, &c->user, done);
            check_release(c);
            return;
        }
    }

    if (c->user_found && idd_password_record_iterations(c->user.password, &c->iterations) == 0) {
        snprintf(c->record, sizeof(c->record), "%s", c->user.password);
    } else {
        /* Unknown user (or an unreadable record): the same KDF against a decoy record that
         * no client hash matches. */
        c->iterations = app->cfg->password_iterations;
        snprintf(c->record, sizeof(c->record), "$idd1$%u$%s", c->iterations,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    }
    idd_wipe(c->user.password, sizeof(c->user.password));
    idd_http_offload(r, c, check_work, check_resume, check_release);
}
