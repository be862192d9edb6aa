/*
 * Two-factor sign-in with an authenticator app (DocSpace's login-surface reference §5): who is
 * challenged, the confirm keys that carry a half-done sign-in from its first step to its
 * second, and the check of a code. The endpoints are in api/tfa.c and api/authentication.c;
 * the formats (TOTP, sealed records, backup codes) in cred/totp.h.
 *
 * A sign-in that proved the password but still owes a code gets no session: it gets a
 * confirm key, an HMAC under the pepper of (type, tenant, user, the user's auth_version,
 * expiry), valid for an hour, in the cookie asc_confirm_key_{type}. A password change, a
 * disabled account or the hour passing makes it worthless. The confirm pages then name the
 * type and user in a `confirm` header (type=TfaAuth&uid=...) and the key comes from that
 * header's `key`, else from the cookie.
 */
#ifndef IDENTITYD_AUTH_TFA_H
#define IDENTITYD_AUTH_TFA_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/auth/auth.h"
#include "identityd/cred/totp.h"

/* What a sign-in owes before it gets a session. */
typedef enum {
    IDD_TFA_NONE = 0,   /* nothing: two-factor sign-in does not apply to this user here */
    IDD_TFA_ACTIVATION, /* link an app first (confirm type TfaActivation) */
    IDD_TFA_AUTH,       /* a code from the linked app (confirm type TfaAuth) */
} idd_tfa_step_t;

/* The confirm types, as DocSpace spells them (read in any case). */
#define IDD_CONFIRM_TFA_ACTIVATION "TfaActivation"
#define IDD_CONFIRM_TFA_AUTH "TfaAuth"
#define IDD_CONFIRM_COOKIE_PREFIX "asc_confirm_key_"
#define IDD_CONFIRM_TTL 3600 /* seconds a confirm key is valid (DocSpace's auth:validinterval) */
#define IDD_CONFIRM_KEY_MAX 72

/* The step user owes when signing in through r: the tenant's settings (off: NONE), the
 * client's address against their trusted list (unless the user is listed as mandatory), and
 * whether the user has finished linking an app. done(r, rc, step, ctx) gets rc 0 or an
 * IDD_E* code (then step is NONE): at once when the cached settings say it does not apply,
 * else after the store's answer (idd_store_read: on the store pool for PostgreSQL), unless
 * the request went away meanwhile or the pool refused the read (r answered 503). ctx lives
 * as long as the request (its pool), read only by done. */
typedef void (*idd_tfa_required_fn)(idd_request_t *r, int rc, idd_tfa_step_t step, void *ctx);
void idd_tfa_required(idd_request_t *r, const idd_user_t *user, idd_tfa_required_fn done,
                      void *ctx);

/* The user's secret: opened from the sealed record, or derived as DocSpace does. With create,
 * a user without a binding gets one (random, or DocSpace's salt with tfa.secret: docspace).
 * The binding is read (and made) through idd_store_read (on the store pool for PostgreSQL);
 * then done(r, rc, secret, set_up, ctx) runs on r's loop, unless the request went away or the
 * pool refused the read (r answered 503): rc 0, IDD_ENOTFOUND (no binding and not create),
 * IDD_ESTORE, IDD_ECRYPTO; secret (NULL unless rc is 0) is wiped once done returns; set_up
 * tells whether the app was linked (backup codes exist). ctx lives as long as the request. */
typedef void (*idd_tfa_secret_fn)(idd_request_t *r, int rc, const idd_totp_secret_t *secret,
                                  bool set_up, void *ctx);
void idd_tfa_secret(idd_request_t *r, const char *user_id, bool create, idd_tfa_secret_fn done,
                    void *ctx);

/* Checks a code (six digits from the app, or a backup code once the app is linked) for user,
 * counting the attempt in the per-user limit; the binding is read and the one-time use
 * written in one idd_store_read load. done(r, rc, activated, ctx) gets rc 0 when accepted;
 * IDD_EDENIED for a wrong, reused or malformed code or no binding; IDD_EBUSY when the user
 * has used the attempts of the window (the code is not checked); IDD_ESTORE / IDD_ECRYPTO.
 * activated: this first good code of an activation made the backup codes. done runs at
 * once or on r's loop later, and not at all when the request went away or the pool refused
 * the read (r answered 503). ctx lives as long as the request. */
typedef void (*idd_tfa_checked_fn)(idd_request_t *r, int rc, bool activated, void *ctx);
void idd_tfa_check_code(idd_request_t *r, const idd_user_t *user, const char *code, size_t len,
                        idd_tfa_checked_fn done, void *ctx);

const char *idd_tfa_step_type(idd_tfa_step_t step);

/* Makes user's confirm key of type for r's tenant into out (NUL-terminated). Returns 0 or
 * IDD_ECRYPTO. */
int idd_tfa_confirm_key(idd_request_t *r, const idd_user_t *user, const char *type,
                        char out[IDD_CONFIRM_KEY_MAX]);

/* Sets the cookie asc_confirm_key_{type} to a fresh key for user (HttpOnly, SameSite=Strict,
 * Secure over https, no Expires) and writes "{origin}/confirm/{type}?type={type}&uid={id}" to
 * url. Returns 0 or IDD_ECRYPTO. */
int idd_tfa_confirm_issue(idd_request_t *r, const idd_user_t *user, const char *type, char *url,
                          size_t urlsize);

/* What checking a confirm key found (POST /authentication/confirm's result values). */
typedef enum {
    IDD_CONFIRM_OK = 0,
    IDD_CONFIRM_INVALID = 1,
    IDD_CONFIRM_EXPIRED = 2,
} idd_confirm_result_t;

/* Checks the confirm key for type (the type's canonical name) and uid: the key from key_hint
 * when given (the header's key=), else from the type's cookie. done(r, result, user, ctx)
 * gets the result, and on OK the user (active, of r's tenant, same auth_version; NULL
 * otherwise, and only valid during done); IDD_CONFIRM_INVALID also when the store fails
 * (logged). A key of the right form has its user read through idd_store_read (on the store
 * pool for PostgreSQL): done then runs on r's loop, unless the request went away or the pool
 * refused the read (r answered 503); any other answer comes at once. ctx lives as long as
 * the request. */
typedef void (*idd_tfa_confirm_fn)(idd_request_t *r, idd_confirm_result_t result,
                                   const idd_user_t *user, void *ctx);
void idd_tfa_confirm_check(idd_request_t *r, const char *type, const char *uid,
                           h2o_iovec_t key_hint, idd_tfa_confirm_fn done, void *ctx);

/* One parameter of a confirm header's value ("type=TfaAuth&uid=...&key=..."), or {NULL, 0}
 * when it has none. */
h2o_iovec_t idd_tfa_confirm_param(h2o_iovec_t q, const char *name);

/* The canonical name of a confirm type given in any case, or NULL when it is neither
 * two-factor type. */
const char *idd_tfa_confirm_type(const char *text, size_t len);

/* Authentication for routes whose policy is IDD_AUTH_CONFIRM: the `confirm` header names the
 * type (one of those in types, space-separated) and the user; their key is checked and the
 * handler gets a principal of kind IDD_CRED_CONFIRM with no scopes. Anything else: 401. */
void idd_auth_confirm(idd_request_t *r, const char *types, idd_auth_next_fn next);

#endif
