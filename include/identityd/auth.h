/*
 * Authentication: classify the credential a request carries (DocSpace's dispatch plus the
 * ApiKeyBearer header), hand it to one scheme module, and turn the outcome into a principal
 * or a 401/403. Only auth.c answers 401 and 403 for failed authentication.
 *
 * Schemes answer IDD_AUTH_OK (a principal), IDD_AUTH_DENY (a credential was presented and
 * is not valid), IDD_AUTH_DECLINE (nothing for this scheme: try the next or anonymous) or
 * IDD_AUTH_ERROR (the check itself failed).
 * A scheme may finish later (after worker-pool work); it always reports through the
 * completion it was given, exactly once, on the request's own loop.
 */
#ifndef IDENTITYD_AUTH_H
#define IDENTITYD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "identityd/server.h"
#include "identityd/store.h"

typedef enum {
    IDD_AUTH_OK = 0,  /* principal established */
    IDD_AUTH_DENY,    /* a credential was presented and is not valid: 401 */
    IDD_AUTH_DECLINE, /* no credential for this scheme */
    IDD_AUTH_ERROR,   /* the check could not be made (database down): 503 */
} idd_auth_result_t;

/* Credential kinds, in the order of the dispatch table in DESIGN.md. */
typedef enum {
    IDD_CRED_NONE = 0,   /* nothing: anonymous */
    IDD_CRED_BASIC,      /* Authorization: Basic … */
    IDD_CRED_APIKEY,     /* Authorization: Bearer sk-… or ApiKeyBearer: sk-… */
    IDD_CRED_JWT,        /* Authorization: Bearer <three base64url segments> */
    IDD_CRED_SESSION,    /* Bearer <other>, a raw Authorization value, or cookie asc_auth_key */
} idd_cred_kind_t;

/* The classified credential: kind and the bytes to check (not NUL-terminated; borrowed from
 * the request's headers). */
typedef struct idd_credential {
    idd_cred_kind_t kind;
    h2o_iovec_t value;   /* Basic: the base64 part; others: the token */
    bool from_cookie;    /* session taken from the asc_auth_key cookie */
} idd_credential_t;

/* Classifies raw header values (each may be NULL/0 when absent). Pure function, unit-tested
 * against the dispatch table. cookie_value is asc_auth_key's value when present. */
idd_credential_t idd_auth_classify(const char *authorization, size_t authorization_len,
                                   const char *apikey_header, size_t apikey_len,
                                   const char *cookie_value, size_t cookie_len);

/* Scope names used across the API. */
#define IDD_SCOPE_ALL_WRITE "*:write"
#define IDD_SCOPE_ALL_READ "*:read"

/* Who a request runs as. */
typedef struct idd_principal {
    idd_user_t user;           /* the password record is wiped before handlers see it */
    idd_cred_kind_t via;
    char scopes[256];          /* space-separated scopes, e.g. "*:write" */
} idd_principal_t;

/* Returns true when the principal's scopes grant scope ("X:write" implies "X:read",
 * "*:…" covers every resource). */
bool idd_scopes_allow(const char *scopes, const char *scope);

/* Called on the request's loop with the authenticated principal (pool memory). */
typedef void (*idd_auth_next_fn)(idd_request_t *r, idd_principal_t *principal);

/* Authenticates r and, when the principal's scopes grant need_scope, calls next. Otherwise
 * answers 401 (no or bad credential, with WWW-Authenticate) or 403 (scope too narrow) itself.
 * May complete after this returns (worker-pool work). */
void idd_auth_require(idd_request_t *r, const char *need_scope, idd_auth_next_fn next);

/* ---- scheme modules (auth/<scheme>.c) ---- */

/* Completion a scheme calls exactly once. */
typedef void (*idd_auth_done_fn)(idd_request_t *r, idd_auth_result_t result,
                                 idd_principal_t *principal);

/* Basic: base64(email:password) checked against the store via the worker pool. */
void idd_auth_basic(idd_request_t *r, h2o_iovec_t credential, idd_auth_done_fn done);

/* Per-thread cache of verified Basic credentials (keyed digest → user id and auth_version). */
struct idd_basic_cache *idd_basic_cache_new(size_t slots);
void idd_basic_cache_free(struct idd_basic_cache *cache);

#endif
