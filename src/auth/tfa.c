/*
 * Two-factor sign-in: who is challenged, confirm keys, and the check of a code (tfa.h).
 *
 * Every one-time use is decided by the store's conditional writes (store.h: tfa_activate,
 * tfa_accept_step, tfa_set_codes), so two requests with the same code cannot both pass, on
 * one instance or several. The attempt limit (core/attempts.h) is taken before a code is
 * checked and given back when it was right, so parallel guesses cannot all slip under it.
 */
#include "identityd/auth/tfa.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "identityd/auth/credcache.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/b64.h"
#include "identityd/core/attempts.h"
#include "identityd/core/cidr.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/cred/digest.h"
#include "identityd/http/cookie.h"
#include "identityd/http/respond.h"
#include "identityd/token/keyring.h"

#define IDD_DIGEST_LABEL_CONFIRM "confirm:"
/* DocSpace's salt of a derived secret: milliseconds since this instant (2018-07-07T00:00Z). */
#define DOCSPACE_SALT_EPOCH_MS INT64_C(1530921600000)
/* Bytes of a code worth checking: far more than a TOTP or a backup code, with room for any
 * spacing; a longer one is wrong whatever it holds. */
#define CHECK_CODE_MAX 64

const char *idd_tfa_step_type(idd_tfa_step_t step)
{
    switch (step) {
    case IDD_TFA_ACTIVATION:
        return IDD_CONFIRM_TFA_ACTIVATION;
    case IDD_TFA_AUTH:
        return IDD_CONFIRM_TFA_AUTH;
    default:
        return NULL;
    }
}

const char *idd_tfa_confirm_type(const char *text, size_t len)
{
    if (len == strlen(IDD_CONFIRM_TFA_ACTIVATION) &&
        strncasecmp(text, IDD_CONFIRM_TFA_ACTIVATION, len) == 0)
        return IDD_CONFIRM_TFA_ACTIVATION;
    if (len == strlen(IDD_CONFIRM_TFA_AUTH) && strncasecmp(text, IDD_CONFIRM_TFA_AUTH, len) == 0)
        return IDD_CONFIRM_TFA_AUTH;
    return NULL;
}

/* Whether id is one of the comma-separated ids of list. */
static bool listed(const char *list, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = list; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, id, n) == 0)
            return true;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return false;
}

/* Whether the tenant's settings t put user_id through two-factor sign-in from client_ip.
 * client_ip is the socket's peer, or what a trusted proxy said: never a value any client can
 * set (DocSpace also reads a query parameter for it). */
static bool tfa_applies(const idd_tenant_tfa_t *t, const char *client_ip, const char *user_id)
{
    if (!t->enabled)
        return false;
    return !(idd_ip_list_match(t->trusted_ips, client_ip) && !listed(t->mandatory_users, user_id));
}

/* What idd_tfa_required reads from the store: the tenant's settings on a cache miss, and
 * the user's binding when two-factor sign-in applies. */
typedef struct required {
    int64_t tenant_id;
    char user_id[IDD_GUID_LEN + 1];
    char client_ip[46];
    bool tenant_cached;  /* t came from the cache */
    bool tenant_read;    /* t was read by the load */
    unsigned long epoch; /* before the read: a change committed after it makes the entry stale */
    idd_tenant_tfa_t t;
    idd_tfa_step_t step;
    idd_tfa_required_fn done;
    void *ctx;
} required_t;

static int required_load(idd_store_t *store, void *arg)
{
    required_t *q = arg;
    int rc;
    if (!q->tenant_cached) {
        rc = idd_store_tenant_tfa_get(store, q->tenant_id, &q->t);
        if (rc != 0)
            return rc;
        q->tenant_read = true;
    }
    q->step = IDD_TFA_NONE;
    if (!tfa_applies(&q->t, q->client_ip, q->user_id))
        return 0;
    idd_tfa_t b;
    rc = idd_store_tfa_get(store, q->user_id, &b);
    if (rc == 0 || rc == IDD_ENOTFOUND)
        q->step = rc == 0 && b.codes[0] != '\0' ? IDD_TFA_AUTH : IDD_TFA_ACTIVATION;
    idd_wipe(&b, sizeof(b));
    return rc == IDD_ENOTFOUND ? 0 : rc;
}

static void required_resume(idd_request_t *r, void *arg, int rc)
{
    required_t *q = arg;
    if (q->tenant_read && r->app->credcache != NULL)
        idd_credcache_tenant_tfa_put(r->app->credcache, &q->t, q->epoch);
    q->done(r, rc, rc == 0 ? q->step : IDD_TFA_NONE, q->ctx);
}

void idd_tfa_required(idd_request_t *r, const idd_user_t *user, idd_tfa_required_fn done, void *ctx)
{
    idd_tenant_tfa_t t;
    /* The tenant's settings come from the credential cache, under the same invalidation as
     * the credentials (auth/credcache.h): a change to them moves the epoch. */
    idd_credcache_t *cache = r->app->credcache;
    bool hit = cache != NULL && idd_credcache_tenant_tfa_get(cache, user->tenant_id, &t);
    if (r->thread->metrics != NULL)
        idd_metrics_add(&r->thread->metrics->credcache[IDD_CC_TENANT_TFA][hit ? 0 : 1], 1);
    /* The common case reads nothing: settings cached, and off (or a trusted address). */
    if (hit && !tfa_applies(&t, r->client_ip, user->id)) {
        done(r, 0, IDD_TFA_NONE, ctx);
        return;
    }
    required_t *q = idd_xcalloc(1, sizeof(*q));
    q->tenant_id = user->tenant_id;
    memcpy(q->user_id, user->id, sizeof(q->user_id));
    snprintf(q->client_ip, sizeof(q->client_ip), "%s", r->client_ip);
    q->tenant_cached = hit;
    if (hit)
        q->t = t;
    else
        q->epoch = idd_store_epoch();
    q->done = done;
    q->ctx = ctx;
    idd_store_read(r, required_load, required_resume, q, free);
}

/* A new binding for user_id: a sealed random secret, or DocSpace's salt. */
static int binding_new(idd_tfa_secret_t mode, const idd_pepper_t *pepper, const char *user_id,
                       idd_tfa_t *b)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->user_id, sizeof(b->user_id), "%s", user_id);
    if (mode == IDD_TFA_SECRET_DOCSPACE) {
        b->derived = 1;
        b->salt = idd_now() * 1000 - DOCSPACE_SALT_EPOCH_MS;
        return 0;
    }
    idd_totp_secret_t s;
    int rc = idd_totp_secret_random(&s);
    if (rc == 0)
        rc = idd_tfa_seal_secret(pepper, user_id, &s, b->secret, sizeof(b->secret));
    idd_wipe(&s, sizeof(s));
    return rc;
}

/* Opens the secret a binding holds. */
static int binding_secret(const idd_pepper_t *pepper, const idd_keyring_t *keyring,
                          const idd_tfa_t *b, idd_totp_secret_t *out)
{
    if (!b->derived)
        return idd_tfa_open_secret(pepper, b->user_id, b->secret, out);
    size_t len = 0;
    const char *mk = idd_keyring_machine_key(keyring, &len);
    if (mk == NULL) {
        idd_log_error("tfa: user %s has a DocSpace secret and no HS256 key has a machine key",
                      b->user_id);
        return IDD_ECONFIG;
    }
    return idd_totp_secret_docspace(b->salt, mk, len, out);
}

/* Reads user_id's binding, making it first when create allows. */
static int binding_get(idd_store_t *store, idd_tfa_secret_t mode, const idd_pepper_t *pepper,
                       const char *user_id, bool create, idd_tfa_t *b)
{
    int rc = idd_store_tfa_get(store, user_id, b);
    if (rc != IDD_ENOTFOUND || !create)
        return rc;
    rc = binding_new(mode, pepper, user_id, b);
    if (rc == 0)
        rc = idd_store_tfa_create(store, b, idd_now());
    /* Another request made it first: use that one. */
    if (rc == 0 || rc == IDD_EEXIST)
        rc = idd_store_tfa_get(store, user_id, b);
    return rc;
}

/* A user's binding being read (and made), for idd_tfa_secret. */
typedef struct secret_job {
    char user_id[IDD_GUID_LEN + 1];
    bool create;
    idd_tfa_secret_t mode;
    const idd_pepper_t *pepper; /* the app's: read-only for the process's life */
    idd_tfa_t b;
    idd_tfa_secret_fn done;
    void *ctx;
} secret_job_t;

static int secret_load(idd_store_t *store, void *arg)
{
    secret_job_t *j = arg;
    return binding_get(store, j->mode, j->pepper, j->user_id, j->create, &j->b);
}

static void secret_resume(idd_request_t *r, void *arg, int rc)
{
    secret_job_t *j = arg;
    idd_totp_secret_t secret;
    memset(&secret, 0, sizeof(secret));
    if (rc == 0)
        rc = binding_secret(j->pepper, r->gen->keyring, &j->b, &secret);
    j->done(r, rc, rc == 0 ? &secret : NULL, rc == 0 && j->b.codes[0] != '\0', j->ctx);
    idd_wipe(&secret, sizeof(secret));
}

static void secret_release(void *arg)
{
    idd_wipe(arg, sizeof(secret_job_t));
    free(arg);
}

void idd_tfa_secret(idd_request_t *r, const char *user_id, bool create, idd_tfa_secret_fn done,
                    void *ctx)
{
    secret_job_t *j = idd_xcalloc(1, sizeof(*j));
    snprintf(j->user_id, sizeof(j->user_id), "%s", user_id);
    j->create = create;
    j->mode = r->gen->cfg->tfa_secret;
    j->pepper = &r->app->pepper;
    j->done = done;
    j->ctx = ctx;
    idd_store_read(r, secret_load, secret_resume, j, secret_release);
}

/* A backup code instead of a TOTP: spent with a compare-and-swap of the sealed set. */
static int use_backup_code(idd_store_t *store, const idd_pepper_t *pepper, const idd_tfa_t *b,
                           const char *code, size_t len)
{
    idd_tfa_codes_t codes;
    char sealed[IDD_TFA_RECORD_MAX];
    int rc = idd_tfa_open_codes(pepper, b->user_id, b->codes, &codes);
    if (rc == 0)
        rc = idd_tfa_codes_use(&codes, code, len) >= 0 ? 0 : IDD_EDENIED;
    if (rc == 0)
        rc = idd_tfa_seal_codes(pepper, b->user_id, &codes, sealed, sizeof(sealed));
    if (rc == 0)
        rc = idd_store_tfa_set_codes(store, b->user_id, b->codes, sealed, idd_now());
    idd_wipe(&codes, sizeof(codes));
    return rc == IDD_EINVAL ? IDD_EDENIED : rc;
}

/* The first good code of an activation: the backup codes are made with it. */
static int activate(idd_store_t *store, const idd_pepper_t *pepper, const idd_tfa_t *b,
                    int64_t step)
{
    idd_tfa_codes_t codes;
    char sealed[IDD_TFA_RECORD_MAX];
    int rc = idd_tfa_codes_new(&codes);
    if (rc == 0)
        rc = idd_tfa_seal_codes(pepper, b->user_id, &codes, sealed, sizeof(sealed));
    if (rc == 0)
        rc = idd_store_tfa_activate(store, b->user_id, sealed, step, idd_now());
    idd_wipe(&codes, sizeof(codes));
    return rc;
}

/* A code being checked: read, judged and spent in one load. The generation is held for its
 * keyring (a DocSpace secret is derived from its machine key), since the request may be
 * gone before the load ends. */
typedef struct check_job {
    char user_id[IDD_GUID_LEN + 1];
    char code[CHECK_CODE_MAX + 1];
    size_t code_len;
    char key[IDD_ATTEMPTS_KEY_MAX]; /* the attempt limit's */
    size_t key_len;
    int64_t now_ms;
    int window;
    const idd_pepper_t *pepper;
    idd_gen_t *gen;
    bool activated;
    idd_tfa_checked_fn done;
    void *ctx;
} check_job_t;

static int check_load(idd_store_t *store, void *arg)
{
    check_job_t *j = arg;
    idd_tfa_t b;
    idd_totp_secret_t secret;
    int64_t matched = -1;
    memset(&secret, 0, sizeof(secret));
    int rc = idd_store_tfa_get(store, j->user_id, &b);
    if (rc == IDD_ENOTFOUND)
        rc = IDD_EDENIED;
    if (rc == 0)
        rc = binding_secret(j->pepper, j->gen->keyring, &b, &secret);
    if (rc == 0) {
        rc = idd_totp_verify(&secret, j->code, j->code_len, idd_totp_step(idd_now()), j->window,
                             b.last_step, &matched);
        if (rc == 0) {
            if (b.codes[0] == '\0') {
                rc = activate(store, j->pepper, &b, matched);
                j->activated = rc == 0;
            } else {
                rc = idd_store_tfa_accept_step(store, j->user_id, matched, idd_now());
            }
        } else if ((rc == IDD_EDENIED || rc == IDD_EINVAL) && b.codes[0] != '\0') {
            rc = use_backup_code(store, j->pepper, &b, j->code, j->code_len);
        } else if (rc == IDD_EINVAL) {
            rc = IDD_EDENIED;
        }
    }
    idd_wipe(&secret, sizeof(secret));
    idd_wipe(&b, sizeof(b));
    return rc;
}

static void check_resume(idd_request_t *r, void *arg, int rc)
{
    check_job_t *j = arg;
    if (rc == 0)
        idd_attempts_refund(r->app->tfa_attempts, j->key, j->key_len, j->now_ms);
    else if (rc != IDD_EDENIED)
        idd_log_error("tfa: checking a code of user %s: %s", j->user_id, idd_strerror(rc));
    j->done(r, rc, rc == 0 && j->activated, j->ctx);
}

static void check_release(void *arg)
{
    check_job_t *j = arg;
    idd_gen_release(j->gen);
    idd_wipe(j, sizeof(*j));
    free(j);
}

void idd_tfa_check_code(idd_request_t *r, const idd_user_t *user, const char *code, size_t len,
                        idd_tfa_checked_fn done, void *ctx)
{
    char key[IDD_ATTEMPTS_KEY_MAX];
    int key_len = snprintf(key, sizeof(key), "tfa:%s", user->id);
    int64_t now_ms = idd_monotonic_ms();
    int rc = idd_attempts_take(r->app->tfa_attempts, key, (size_t)key_len, now_ms, NULL);
    if (rc != 0) {
        done(r, rc == IDD_EINVAL ? IDD_EDENIED : IDD_EBUSY, false, ctx);
        return;
    }
    if (len > CHECK_CODE_MAX) {
        /* Longer than any code: wrong, and counted as a try. */
        done(r, IDD_EDENIED, false, ctx);
        return;
    }
    check_job_t *j = idd_xcalloc(1, sizeof(*j));
    memcpy(j->user_id, user->id, sizeof(j->user_id));
    memcpy(j->code, code, len);
    j->code_len = len;
    memcpy(j->key, key, (size_t)key_len);
    j->key_len = (size_t)key_len;
    j->now_ms = now_ms;
    j->window = r->gen->cfg->tfa_window;
    j->pepper = &r->app->pepper;
    j->gen = idd_gen_hold(r->gen);
    j->done = done;
    j->ctx = ctx;
    idd_store_read(r, check_load, check_resume, j, check_release);
}

/* ---- confirm keys ---- */

/* The MAC of a confirm key: what it is bound to, under the pepper. */
static int confirm_mac(idd_request_t *r, const char *type, const idd_user_t *user, int64_t expires,
                       unsigned char mac[IDD_SESSION_DIGEST_LEN])
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "%s|%lld|%s|%lld|%lld", type, (long long)user->tenant_id,
                     user->id, (long long)user->auth_version, (long long)expires);
    if (n <= 0 || (size_t)n >= sizeof(msg))
        return IDD_EINVAL;
    return idd_keyed_digest(&r->app->pepper, IDD_DIGEST_LABEL_CONFIRM, msg, (size_t)n, mac);
}

int idd_tfa_confirm_key(idd_request_t *r, const idd_user_t *user, const char *type,
                        char out[IDD_CONFIRM_KEY_MAX])
{
    unsigned char mac[IDD_SESSION_DIGEST_LEN];
    int64_t expires = idd_now() + IDD_CONFIRM_TTL;
    int rc = confirm_mac(r, type, user, expires, mac);
    if (rc != 0)
        return rc;
    int n = snprintf(out, IDD_CONFIRM_KEY_MAX, "%lld.", (long long)expires);
    idd_b64url_encode(out + n, mac, sizeof(mac));
    idd_wipe(mac, sizeof(mac));
    return 0;
}

int idd_tfa_confirm_issue(idd_request_t *r, const idd_user_t *user, const char *type, char *url,
                          size_t urlsize)
{
    char key[IDD_CONFIRM_KEY_MAX], name[40];
    int rc = idd_tfa_confirm_key(r, user, type, key);
    if (rc != 0)
        return rc;
    snprintf(name, sizeof(name), IDD_CONFIRM_COOKIE_PREFIX "%s", type);
    idd_cookie_set(r->req, name, key, 0, r->https);
    idd_wipe(key, sizeof(key));
    snprintf(url, urlsize, "%.*s/confirm/%s?type=%s&uid=%s", (int)r->origin.len, r->origin.base,
             type, type, user->id);
    return 0;
}

/* A confirm key whose form was right, waiting for its user's row. */
typedef struct confirm_job {
    const char *type; /* a canonical name: static */
    char uid[IDD_GUID_LEN + 1];
    unsigned char given[IDD_SESSION_DIGEST_LEN + 3];
    int64_t expires;
    idd_user_t user;
    idd_tfa_confirm_fn done;
    void *ctx;
} confirm_job_t;

static int confirm_load(idd_store_t *store, void *arg)
{
    confirm_job_t *j = arg;
    return idd_store_user_by_id(store, j->uid, &j->user);
}

static void confirm_resume(idd_request_t *r, void *arg, int rc)
{
    confirm_job_t *j = arg;
    idd_user_t *user = &j->user;
    unsigned char want[IDD_SESSION_DIGEST_LEN];
    idd_confirm_result_t result = IDD_CONFIRM_INVALID;
    if (rc != 0) {
        if (rc != IDD_ENOTFOUND)
            idd_log_error("tfa: confirm: user lookup failed: %s", idd_strerror(rc));
        j->done(r, result, NULL, j->ctx);
        return;
    }
    idd_wipe(user->password, sizeof(user->password));
    if (user->tenant_id != r->tenant->id || user->status != IDD_USER_ACTIVE ||
        confirm_mac(r, j->type, user, j->expires, want) != 0 ||
        !idd_ct_equal(j->given, want, IDD_SESSION_DIGEST_LEN))
        result = IDD_CONFIRM_INVALID;
    /* Checked after the MAC, so that an expired key must still be a real one. */
    else if (j->expires <= idd_now())
        result = IDD_CONFIRM_EXPIRED;
    else
        result = IDD_CONFIRM_OK;
    idd_wipe(want, sizeof(want));
    j->done(r, result, result == IDD_CONFIRM_OK ? user : NULL, j->ctx);
}

static void confirm_release(void *arg)
{
    idd_wipe(arg, sizeof(confirm_job_t));
    free(arg);
}

void idd_tfa_confirm_check(idd_request_t *r, const char *type, const char *uid, h2o_iovec_t key,
                           idd_tfa_confirm_fn done, void *ctx)
{
    if (key.base == NULL) {
        char name[40];
        snprintf(name, sizeof(name), IDD_CONFIRM_COOKIE_PREFIX "%s", type);
        if (!idd_cookie_find(r->req, name, &key)) {
            done(r, IDD_CONFIRM_INVALID, NULL, ctx);
            return;
        }
    }
    /* "<expires>.<base64url of the MAC>" */
    const char *dot = memchr(key.base, '.', key.len);
    if (dot == NULL || dot == key.base || dot - key.base > 12 || uid == NULL ||
        strlen(uid) != IDD_GUID_LEN) {
        done(r, IDD_CONFIRM_INVALID, NULL, ctx);
        return;
    }
    int64_t expires = 0;
    for (const char *p = key.base; p < dot; p++) {
        if (*p < '0' || *p > '9') {
            done(r, IDD_CONFIRM_INVALID, NULL, ctx);
            return;
        }
        expires = expires * 10 + (*p - '0');
    }
    confirm_job_t *j = idd_xcalloc(1, sizeof(*j));
    size_t given_len = 0;
    size_t mac_chars = key.len - (size_t)(dot + 1 - key.base);
    if (mac_chars > 44 || idd_b64url_decode(j->given, &given_len, dot + 1, mac_chars) != 0 ||
        given_len != IDD_SESSION_DIGEST_LEN) {
        confirm_release(j);
        done(r, IDD_CONFIRM_INVALID, NULL, ctx);
        return;
    }
    j->type = type;
    memcpy(j->uid, uid, sizeof(j->uid));
    j->expires = expires;
    j->done = done;
    j->ctx = ctx;
    idd_store_read(r, confirm_load, confirm_resume, j, confirm_release);
}

h2o_iovec_t idd_tfa_confirm_param(h2o_iovec_t q, const char *name)
{
    size_t n = strlen(name);
    const char *p = q.base, *end = q.base + q.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > n && memcmp(p, name, n) == 0 && p[n] == '=')
            return h2o_iovec_init(p + n + 1, (size_t)(stop - p - (ptrdiff_t)n - 1));
        p = stop + 1;
    }
    return h2o_iovec_init(NULL, 0);
}

/* Whether type is one of the space-separated names of types. */
static bool type_allowed(const char *types, const char *type)
{
    size_t n = strlen(type);
    for (const char *p = types; *p != '\0';) {
        size_t len = strcspn(p, " ");
        if (len == n && memcmp(p, type, n) == 0)
            return true;
        p += len;
        p += strspn(p, " ");
    }
    return false;
}

/* A confirm route's credential being checked. */
typedef struct confirming {
    idd_principal_t *p;
    const char *type;
    idd_auth_next_fn next;
} confirming_t;

static void confirm_done(idd_request_t *r, idd_confirm_result_t result, const idd_user_t *user,
                         void *ctx)
{
    confirming_t *c = ctx;
    if (result != IDD_CONFIRM_OK) {
        idd_auth_respond_failure(r, IDD_AUTH_DENY, "Unauthorized");
        return;
    }
    c->p->user = *user;
    c->p->via = IDD_CRED_CONFIRM;
    c->p->confirm = c->type;
    c->next(r, c->p);
}

void idd_auth_confirm(idd_request_t *r, const char *types, idd_auth_next_fn next)
{
    ssize_t i = h2o_find_header_by_str(&r->req->headers, H2O_STRLIT("confirm"), -1);
    if (i == -1) {
        idd_auth_respond_failure(r, IDD_AUTH_DENY, "Unauthorized");
        return;
    }
    h2o_iovec_t q = r->req->headers.entries[i].value;
    h2o_iovec_t type_v = idd_tfa_confirm_param(q, "type"), uid_v = idd_tfa_confirm_param(q, "uid"),
                key = idd_tfa_confirm_param(q, "key");
    const char *type = type_v.base ? idd_tfa_confirm_type(type_v.base, type_v.len) : NULL;
    char uid[IDD_GUID_LEN + 1];
    idd_principal_t *p = h2o_mem_alloc_pool(&r->req->pool, sizeof(*p));
    memset(p, 0, sizeof(*p));
    if (type == NULL || !type_allowed(types, type) || uid_v.len != IDD_GUID_LEN) {
        idd_auth_respond_failure(r, IDD_AUTH_DENY, "Unauthorized");
        return;
    }
    memcpy(uid, uid_v.base, IDD_GUID_LEN);
    uid[IDD_GUID_LEN] = '\0';
    if (key.len == 0)
        key.base = NULL;
    confirming_t *c = h2o_mem_alloc_pool(&r->req->pool, sizeof(*c));
    *c = (confirming_t){p, type, next};
    idd_tfa_confirm_check(r, type, uid, key, confirm_done, c);
}
