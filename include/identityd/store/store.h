/*
 * The user store: tenants, users, sign-in sessions and API keys. This header is the whole
 * interface; callers never see SQL. An engine implements idd_store_ops_t and
 * idd_store_open() picks the engine from the location: a plain path (or "sqlite:PATH") is
 * SQLite, the embedded default (src/store/sqlite.c); a postgresql:// or postgres:// URI, or a
 * libpq "host=... dbname=..." string, is PostgreSQL (src/store/pg.c).
 *
 * A handle is one connection and is used by one thread at a time: each event loop, worker
 * and CLI command opens its own. Records are caller-owned structs with fixed-size fields, so
 * nothing returned needs freeing.
 */
#ifndef IDENTITYD_STORE_H
#define IDENTITYD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "identityd/core/common.h"
#include "identityd/cred/password.h"

#define IDD_GUID_LEN 36   /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define IDD_EMAIL_MAX 254 /* RFC 5321 path limit */
#define IDD_NAME_MAX 128  /* first or last name, bytes of UTF-8 */

typedef enum { IDD_ROLE_USER = 0, IDD_ROLE_ADMIN, IDD_ROLE_GUEST } idd_role_t;
typedef enum { IDD_USER_ACTIVE = 0, IDD_USER_DISABLED } idd_user_status_t;

/* "admin" | "user" | "guest" <-> idd_role_t; "active" | "disabled" <-> idd_user_status_t.
 * The parsers return 0 or IDD_EINVAL. */
int idd_role_parse(const char *name, idd_role_t *out);
const char *idd_role_name(idd_role_t role);
int idd_user_status_parse(const char *name, idd_user_status_t *out);
const char *idd_user_status_name(idd_user_status_t status);

typedef struct idd_tenant {
    int64_t id;
    char name[IDD_NAME_MAX + 1];
    char password_salt[IDD_SALT_MAX + 1]; /* published to clients for the client hash */
    int64_t created;
} idd_tenant_t;

typedef struct idd_user {
    char id[IDD_GUID_LEN + 1]; /* lowercase GUID with hyphens */
    int64_t tenant_id;
    char email[IDD_EMAIL_MAX + 1]; /* as entered; matched case-insensitively */
    char first_name[IDD_NAME_MAX + 1];
    char last_name[IDD_NAME_MAX + 1];
    idd_role_t role;
    idd_user_status_t status;
    /* versioned keyed-hash record (password.h); secret */
    char password[IDD_PASSWORD_RECORD_MAX + 1];
    int64_t auth_version;         /* bumped whenever password or status changes */
    int password_change_required; /* set by logoutallchangepassword */
    int64_t created;              /* Unix seconds */
    int64_t updated;
} idd_user_t;

/* A login event: one sign-in session. The token itself is never stored, only a keyed
 * digest of it (auth/session.c makes both; IDD_SESSION_DIGEST_LEN is in password.h). */
#define IDD_IP_MAX 45          /* INET6_ADDRSTRLEN - 1 */
#define IDD_USER_AGENT_MAX 255 /* longer user agents are cut at a UTF-8 boundary */

typedef struct idd_session {
    int64_t id; /* loginEventId; assigned by session_create */
    int64_t tenant_id;
    char user_id[IDD_GUID_LEN + 1];
    unsigned char digest[IDD_SESSION_DIGEST_LEN]; /* secret-derived: compare in constant time */
    int64_t created;                              /* Unix seconds */
    int64_t expires;
    int64_t last_seen;
    char ip[IDD_IP_MAX + 1];
    char user_agent[IDD_USER_AGENT_MAX + 1];
    int active;           /* 0 once logged out or revoked */
    int browser_session;  /* signed in with session: true (no cookie Expires) */
    int64_t auth_version; /* the user's auth_version when signed in */
} idd_session_t;

/* An API key. The key itself is shown once at creation and never stored: the store keeps
 * a keyed digest of it (apikey.h) and its last four characters. */
#define IDD_APIKEY_NAME_MAX 120        /* 30 characters of up to 4 UTF-8 bytes */
#define IDD_APIKEY_PERMISSIONS_MAX 511 /* space-separated permission names */

typedef struct idd_apikey {
    char id[IDD_GUID_LEN + 1]; /* assigned by apikey_create when empty */
    int64_t tenant_id;
    char created_by[IDD_GUID_LEN + 1]; /* the user the key acts as */
    char name[IDD_APIKEY_NAME_MAX + 1];
    unsigned char digest[IDD_SESSION_DIGEST_LEN];     /* secret-derived */
    char postfix[5];                                  /* last 4 characters of the key */
    char permissions[IDD_APIKEY_PERMISSIONS_MAX + 1]; /* "" (full access) or "files:read ..." */
    int64_t created;
    int64_t expires;   /* Unix seconds; 0: never */
    int64_t last_used; /* Unix seconds; 0: never */
    int active;
    int deactivated;                       /* why it is inactive: idd_apikey_deactivated_t */
    char deactivated_by[IDD_GUID_LEN + 1]; /* the user who did it; "" for none or identityctl */
} idd_apikey_t;

/* Why an API key is inactive, in increasing order of finality: a key is only ever moved up
 * while inactive, and whoever re-activates it must be allowed to lift its level. */
typedef enum {
    IDD_APIKEY_LIVE = 0,     /* active */
    IDD_APIKEY_BY_OWNER = 1, /* deactivated by its owner: the owner or an admin may lift it */
    IDD_APIKEY_BY_ADMIN = 2, /* deactivated by an admin: only an admin may lift it */
    IDD_APIKEY_REVOKED = 3,  /* revoked: final */
} idd_apikey_deactivated_t;

typedef struct idd_store idd_store_t;

/* Called once per API key by apikey_list; return non-zero to stop early. */
typedef int (*idd_apikey_visit_fn)(const idd_apikey_t *key, void *arg);

/* Called once per session by the session listings; return non-zero to stop early. */
typedef int (*idd_session_visit_fn)(const idd_session_t *session, void *arg);

/* Writes "First Last" into out (len bytes; 2 * IDD_NAME_MAX + 2 always suffice), without a
 * stray space when one part is empty: DocSpace's displayName and user_name. */
void idd_user_display_name(const idd_user_t *user, char *out, size_t len);

/* Called once per user by user_list; return non-zero to stop early. */
typedef int (*idd_user_visit_fn)(const idd_user_t *user, void *arg);

/* A signing key identityd rotates itself (rotation: in the configuration): its row, never
 * its private key, which stays in rotation.dir/KID.pem. */
typedef enum {
    IDD_SKEY_PENDING = 0, /* in the JWKS, not signing yet */
    IDD_SKEY_ACTIVE,      /* signs (at most one) */
    IDD_SKEY_DRAINING,    /* signed before; in the JWKS until retire_at */
    IDD_SKEY_RETIRED      /* neither */
} idd_skey_state_t;

#define IDD_KID_MAX 64

typedef struct idd_signing_key {
    char kid[IDD_KID_MAX + 1];
    char alg[8]; /* "ES256" | "RS256" | "EdDSA" */
    idd_skey_state_t state;
    int64_t created;     /* Unix seconds */
    int64_t activate_at; /* pending: when it may start signing */
    int64_t activated;   /* when it started signing; 0: never */
    int64_t retire_at;   /* draining: when it leaves the JWKS; 0 otherwise */
} idd_signing_key_t;

typedef int (*idd_signing_key_visit_fn)(const idd_signing_key_t *key, void *arg);

/* A user's two-factor binding (migrations/0006): sealed records of cred/totp.h, never a
 * secret in clear. */
#define IDD_TFA_STORED_MAX 159 /* bytes of a sealed record (IDD_TFA_RECORD_MAX - 1) */

typedef struct idd_tfa {
    char user_id[IDD_GUID_LEN + 1];
    char secret[IDD_TFA_STORED_MAX + 1]; /* sealed secret; "" when derived from salt */
    int derived;                         /* 1: DocSpace's secret, derived from salt */
    int64_t salt;
    char codes[IDD_TFA_STORED_MAX + 1]; /* sealed backup codes; "" until set up */
    int64_t last_step;                  /* last TOTP step accepted; -1: none */
    int64_t created, updated;           /* Unix seconds */
} idd_tfa_t;

/* A tenant's two-factor settings (migrations/0007). No row: off, lists empty. */
#define IDD_TENANT_TFA_LIST_MAX 2047 /* bytes of each comma-separated list */

typedef struct idd_tenant_tfa {
    int64_t tenant_id;
    int enabled;
    char trusted_ips[IDD_TENANT_TFA_LIST_MAX + 1]; /* "" or "a,b-c,d/n": checked by the caller */
    char mandatory_users[IDD_TENANT_TFA_LIST_MAX + 1]; /* "" or user ids, comma-separated */
    int64_t updated;
} idd_tenant_tfa_t;

/* The operations an engine provides. All return 0 or a negative IDD_E* code:
 * IDD_ENOTFOUND for a missing row, IDD_EEXIST for a duplicate, IDD_ESTORE for an engine
 * failure (logged by the engine, without secrets). */
/* A shared brute-force counter is named by a keyed 16-byte hash (core/bruteforce.h). */
#define IDD_BF_TAG_LEN 16
typedef struct idd_bf_count {
    unsigned char tag[IDD_BF_TAG_LEN];
    int64_t window_ms; /* the window a new counter opens */
    int64_t block_ms;  /* > 0: reaching most turns the window into a block this long */
    int64_t most;      /* failures counted at most (>= 1) */
} idd_bf_count_t;
typedef struct idd_bf_counter {
    unsigned char tag[IDD_BF_TAG_LEN];
    int64_t failures;
    int64_t deadline_ms; /* Unix epoch milliseconds */
    int64_t updated_ms;
} idd_bf_counter_t;
typedef int (*idd_bf_counter_visit_fn)(const idd_bf_counter_t *counter, void *arg);

typedef struct idd_store_ops {
    void (*close)(idd_store_t *s);
    /* Applies pending migrations; *from and *to (may be NULL) receive the schema versions. */
    int (*migrate)(idd_store_t *s, int *from, int *to);
    int (*schema_version)(idd_store_t *s, int *version);
    /* Creates the tenant if missing (with a fresh random password salt) and keeps its name
     * in step with the configuration. */
    int (*tenant_ensure)(idd_store_t *s, int64_t id, const char *name);
    int (*tenant_get)(idd_store_t *s, int64_t id, idd_tenant_t *out);
    int (*user_by_email)(idd_store_t *s, int64_t tenant_id, const char *email, idd_user_t *out);
    int (*user_by_id)(idd_store_t *s, const char *id, idd_user_t *out);
    /* Inserts user; an empty user->id gets a fresh random GUID (written back), created and
     * updated are set to now, auth_version to 1. IDD_EEXIST when the email is taken in the
     * tenant (case-insensitively), IDD_ENOTFOUND when the tenant does not exist. */
    int (*user_insert)(idd_store_t *s, idd_user_t *user);
    /* Each of these bumps auth_version and updated, and ends every session of the user in
     * the same transaction: a disabled user or a changed password leaves no session alive. */
    int (*user_set_status)(idd_store_t *s, const char *id, idd_user_status_t status);
    int (*user_set_password)(idd_store_t *s, const char *id, const char *record);
    /* Visits users ordered by tenant then email; tenant_id 0 means every tenant. */
    int (*user_list)(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg);
    /* Sets or clears the flag that a user must change the password (logoutallchangepassword).
     * Does not bump auth_version. user_set_password clears it. */
    int (*user_set_password_change)(idd_store_t *s, const char *id, int required);
    /* Replaces the user's password record by record, only while it still is old: the same
     * password kept a newer way (password.h), written after a sign-in proved it. Unlike
     * user_set_password it leaves auth_version, updated, password_change_required and the
     * sessions alone. IDD_ENOTFOUND when no user has this id and this record (the password
     * was changed, or the record replaced, in the meantime). */
    int (*user_upgrade_password)(idd_store_t *s, const char *id, const char *old,
                                 const char *record);

    /* ---- sessions (login events) ---- */
    /* Inserts session (active = 1); session->id receives the new id. IDD_EEXIST for a digest
     * already present, IDD_ENOTFOUND for an unknown user. When max_live > 0, the user's
     * oldest live sessions (active, expires > session->created) beyond max_live, the new one
     * counted, are ended in the same transaction; *ended (may be NULL) receives how many. */
    int (*session_create)(idd_store_t *s, idd_session_t *session, int max_live, int *ended);
    /* The session with this digest, active or not. IDD_ENOTFOUND when none. */
    int (*session_by_digest)(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                             idd_session_t *out);
    int (*session_by_id)(idd_store_t *s, int64_t id, idd_session_t *out);
    /* Records that the session was used at `when` (callers coalesce: at most once a minute). */
    int (*session_touch)(idd_store_t *s, int64_t id, int64_t when);
    /* Deactivates one session. IDD_ENOTFOUND when no such session exists (an already
     * inactive one is not an error). */
    int (*session_end)(idd_store_t *s, int64_t id);
    /* Deactivates every active session of a user except except_id (0: none); *count (may be
     * NULL) receives how many were ended. */
    int (*session_end_user)(idd_store_t *s, const char *user_id, int64_t except_id, int *count);
    /* Visits the active, unexpired (expires > now) sessions of a user, newest first. */
    int (*session_list_user)(idd_store_t *s, const char *user_id, int64_t now,
                             idd_session_visit_fn visit, void *arg);
    /* Deletes at most limit (> 0) sessions that ended or expired (expires <= now); *deleted
     * receives how many. One short write transaction: run it again while it deletes limit. */
    int (*session_prune)(idd_store_t *s, int64_t now, int limit, int *deleted);

    /* ---- API keys ---- */
    /* Inserts key (an empty id gets a fresh GUID, written back; created is set to now if 0).
     * The permissions column holds a JSON list, as DocSpace's does. IDD_EEXIST for a digest
     * already present, IDD_ENOTFOUND when the creator is not a user of the key's tenant.
     * When max_per_user > 0, IDD_EDENIED when the creator already has that many keys (of
     * any state), checked and inserted in one write transaction. */
    int (*apikey_create)(idd_store_t *s, idd_apikey_t *key, int max_per_user);
    /* The key with this digest, active or not; IDD_ENOTFOUND when none. */
    int (*apikey_by_digest)(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                            idd_apikey_t *out);
    int (*apikey_by_id)(idd_store_t *s, const char *id, idd_apikey_t *out);
    /* Visits the keys of a tenant, or only those created_by made when it is not NULL, newest
     * first. */
    int (*apikey_list)(idd_store_t *s, int64_t tenant_id, const char *created_by,
                       idd_apikey_visit_fn visit, void *arg);
    /* Changes what is given: name and permissions when not NULL. IDD_ENOTFOUND for an
     * unknown id. Activity changes go through apikey_set_active. */
    int (*apikey_update)(idd_store_t *s, const char *id, const char *name, const char *permissions);
    /* Deactivates (active 0) or re-activates (active 1) a key, in one conditional write.
     * Deactivating records level (IDD_APIKEY_BY_OWNER, _BY_ADMIN or _REVOKED) and by (a user
     * id, or NULL) unless the key is already inactive at that level or higher. Re-activating
     * is allowed only when the key's level is at most level (BY_OWNER for its owner,
     * BY_ADMIN for an admin): IDD_EDENIED otherwise, so a revoked key never comes back.
     * IDD_ENOTFOUND for an unknown id, IDD_EINVAL for a level out of range. */
    int (*apikey_set_active)(idd_store_t *s, const char *id, int active, int level, const char *by);
    /* Deletes at most limit (> 0) keys that expired (expires <= now); *deleted receives how
     * many. Inactive keys that have not expired are kept: the listings still show them. */
    int (*apikey_prune)(idd_store_t *s, int64_t now, int limit, int *deleted);
    /* What /metrics shows: live sessions (active, expires > now) and stored API keys. */
    int (*counts)(idd_store_t *s, int64_t now, int64_t *live_sessions, int64_t *apikeys);
    /* The store's change version: a number that moves with every committed write, by any
     * process, that can end or narrow a credential (a session ended, a user disabled or
     * their password changed, an API key deactivated, changed or deleted, a tenant's
     * two-factor settings stored, an app unlinked), and not with touches of last_seen or
     * last_used. Caches of credentials read it a few times a second (auth/credcache.c). One
     * tiny read for SQLite (migrations/0008's triggers keep it); a networked engine may
     * answer it from notifications instead. */
    int (*changes)(idd_store_t *s, int64_t *version);
    /* Deletes a key; IDD_ENOTFOUND for an unknown id. */
    int (*apikey_delete)(idd_store_t *s, const char *id);
    /* Records uses: last_used = max(last_used, when) for each of n ids, in one transaction. */
    int (*apikey_touch)(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1], const int64_t *when,
                        size_t n);

    /* ---- signing keys identityd rotates itself ---- */
    /* Visits every row, oldest first. */
    int (*signing_key_list)(idd_store_t *s, idd_signing_key_visit_fn visit, void *arg);
    /* Inserts a pending or active key. IDD_EEXIST when its kid is taken or a key already
     * holds that state (another instance made the next key first). */
    int (*signing_key_insert)(idd_store_t *s, const idd_signing_key_t *key);
    /* In one transaction: the pending key kid, when its activate_at <= now, becomes active
     * (activated = now), and the key active until then becomes draining with retire_at.
     * IDD_ENOTFOUND when kid is not pending or not due (another instance did it first). */
    int (*signing_key_activate)(idd_store_t *s, const char *kid, int64_t now, int64_t retire_at);
    /* Draining keys whose retire_at <= now become retired; *n (may be NULL) counts them. */
    int (*signing_key_retire)(idd_store_t *s, int64_t now, int *n);

    /* ---- two-factor bindings (one per user) ---- */
    int (*tfa_get)(idd_store_t *s, const char *user_id, idd_tfa_t *out);
    /* Inserts a binding not set up yet (codes NULL, last_step -1): tfa->secret, or
     * tfa->salt when tfa->derived. IDD_EEXIST when the user has one (another request made it
     * first: read it again); IDD_ENOTFOUND for an unknown user. */
    int (*tfa_create)(idd_store_t *s, const idd_tfa_t *tfa, int64_t now);
    /* The first successful code: stores the backup codes and the step, only while the binding
     * is not set up and step > last_step. IDD_EDENIED when nothing changed (no binding,
     * already set up, or that step was used). */
    int (*tfa_activate)(idd_store_t *s, const char *user_id, const char *codes, int64_t step,
                        int64_t now);
    /* Records an accepted TOTP step, only when step > last_step: of two uses of one code,
     * one gets 0 and the other IDD_EDENIED (also for no binding). */
    int (*tfa_accept_step)(idd_store_t *s, const char *user_id, int64_t step, int64_t now);
    /* Replaces the backup codes only while they are still `expect` (the record read): a code
     * spent, or the set renewed, by two requests at once succeeds once; the other gets
     * IDD_EDENIED. */
    int (*tfa_set_codes)(idd_store_t *s, const char *user_id, const char *expect, const char *codes,
                         int64_t now);
    /* Unlinks the user's app. IDD_ENOTFOUND when there was no binding. */
    int (*tfa_delete)(idd_store_t *s, const char *user_id);
    /* A tenant's settings; a tenant without a row gets them off (tenant_id set, the rest
     * zero) and 0. */
    int (*tenant_tfa_get)(idd_store_t *s, int64_t tenant_id, idd_tenant_tfa_t *out);
    /* Stores a tenant's settings (updated = now). When they turn two-factor sign-in on from
     * off, every active session of the tenant ends in the same transaction: no session made
     * without a second factor outlives the switch. *ended (may be NULL) receives how many.
     * IDD_ENOTFOUND for an unknown tenant, IDD_ETOOBIG for a list that does not fit. */
    int (*tenant_tfa_set)(idd_store_t *s, const idd_tenant_tfa_t *tfa, int64_t now, int *ended);

    /* ---- brute-force counters every process shares (migrations/0009) ---- */
    /* The key of the counters' hashes: stores candidate when there is none yet (the first
     * process to ask wins) and reads back the key every process uses. */
    int (*bruteforce_key)(idd_store_t *s, const unsigned char candidate[IDD_BF_TAG_LEN],
                          unsigned char out[IDD_BF_TAG_LEN]);
    /* Counts one failure under each of counts[0..n), in one transaction, at now_ms (Unix
     * epoch milliseconds): a counter that is absent or whose deadline has passed starts at
     * 1 with deadline now + window (or now + block when most is 1 and block > 0); a live one
     * goes up by 1 to at most `most`, and the failure that reaches `most` moves the deadline
     * to now + block when block > 0. */
    int (*bruteforce_count)(idd_store_t *s, const idd_bf_count_t *counts, size_t n, int64_t now_ms);
    /* Visits at most limit live counters (deadline > now_ms) that moved at or after
     * since_ms, in the order they moved; a visit returning non-zero stops the listing. */
    int (*bruteforce_since)(idd_store_t *s, int64_t since_ms, int64_t now_ms, int limit,
                            idd_bf_counter_visit_fn visit, void *arg);
    /* Deletes at most limit counters whose deadline passed; *deleted receives how many. */
    int (*bruteforce_prune)(idd_store_t *s, int64_t now_ms, int limit, int *deleted);

    /* ---- how durable the next commits must be ---- */
    /* lazy non-zero: the commits that follow, until lazy is set to 0 again, are of work
     * nobody waits for (auth/storeread.h: idd_store_later) and need survive only a killed
     * process, not a power loss (SQLite: synchronous NORMAL instead of FULL, so the loop
     * that makes them does not wait for the disk). Engines whose commits cost the caller no
     * such wait ignore it. Never inside a transaction. */
    int (*set_lazy)(idd_store_t *s, int lazy);
} idd_store_ops_t;

/* Every engine's handle starts with this. */
struct idd_store {
    const idd_store_ops_t *ops;
};

/* Opens a connection to location (a path for SQLite, created if missing; a PostgreSQL URI or
 * key/value string). The schema is not touched: call idd_store_migrate. Returns 0 with *out
 * set, or IDD_ESTORE/IDD_EINVAL with *out NULL. */
int idd_store_open(const char *location, idd_store_t **out);

/* idd_store_open with the PostgreSQL password read from password_file (the configuration's
 * database_password_file; NULL: none), a secret file (core/secretfile.h) wiped after use.
 * IDD_EINVAL when a password file is given for SQLite, IDD_ESTORE when it is refused. */
int idd_store_open_secret(const char *location, const char *password_file, idd_store_t **out);

/* The file an SQLite location names (the path, past "sqlite:"), for the callers that check or
 * hand over the file; NULL for a location that is no file (PostgreSQL, an unknown scheme). */
const char *idd_store_file(const char *location);

/* Closes the connection; NULL is a no-op. */
void idd_store_free(idd_store_t *s);

/* The number of the newest migration this program carries. */
int idd_store_latest_version(void);

/* Results of IDD_ESTORE so far, from any handle of this process (for /metrics), and the
 * count's own step, which every operation below takes on its way out. */
unsigned long idd_store_errors(void);
void idd_store_note_error(void);
static inline int idd_store_result(int rc)
{
    if (rc == IDD_ESTORE)
        idd_store_note_error();
    return rc;
}

/* The epoch of credential changes in this process (starts at 1): it moves once the store
 * returns from any write below that can end or narrow a credential (whatever the result: a
 * failed write moves it too, which costs only a refill), and when idd_store_note_change is
 * called (a cache that saw the store's change version move: another process wrote). A cache
 * of rows tags what it fills with the epoch loaded before its read, and ignores an entry
 * whose tag is older than the current epoch (auth/credcache.h). */
void idd_store_note_change(void);
unsigned long idd_store_epoch(void);
static inline int idd_store_changed(int rc)
{
    idd_store_note_change();
    return idd_store_result(rc);
}
static inline int idd_store_changes(idd_store_t *s, int64_t *version)
{
    return idd_store_result(s->ops->changes(s, version));
}

static inline int idd_store_migrate(idd_store_t *s, int *from, int *to)
{
    return idd_store_result(s->ops->migrate(s, from, to));
}
static inline int idd_store_schema_version(idd_store_t *s, int *v)
{
    return idd_store_result(s->ops->schema_version(s, v));
}
static inline int idd_store_tenant_ensure(idd_store_t *s, int64_t id, const char *name)
{
    return idd_store_result(s->ops->tenant_ensure(s, id, name));
}
static inline int idd_store_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out)
{
    return idd_store_result(s->ops->tenant_get(s, id, out));
}
static inline int idd_store_user_by_email(idd_store_t *s, int64_t t, const char *email,
                                          idd_user_t *out)
{
    return idd_store_result(s->ops->user_by_email(s, t, email, out));
}
static inline int idd_store_user_by_id(idd_store_t *s, const char *id, idd_user_t *out)
{
    return idd_store_result(s->ops->user_by_id(s, id, out));
}
static inline int idd_store_user_insert(idd_store_t *s, idd_user_t *u)
{
    return idd_store_result(s->ops->user_insert(s, u));
}
static inline int idd_store_user_set_status(idd_store_t *s, const char *id, idd_user_status_t st)
{
    return idd_store_changed(s->ops->user_set_status(s, id, st));
}
static inline int idd_store_user_set_password(idd_store_t *s, const char *id, const char *rec)
{
    return idd_store_changed(s->ops->user_set_password(s, id, rec));
}
static inline int idd_store_user_list(idd_store_t *s, int64_t t, idd_user_visit_fn f, void *a)
{
    return idd_store_result(s->ops->user_list(s, t, f, a));
}
static inline int idd_store_user_set_password_change(idd_store_t *s, const char *id, int r)
{
    return idd_store_changed(s->ops->user_set_password_change(s, id, r));
}
static inline int idd_store_user_upgrade_password(idd_store_t *s, const char *id, const char *old,
                                                  const char *rec)
{
    return idd_store_result(s->ops->user_upgrade_password(s, id, old, rec));
}
static inline int idd_store_session_create(idd_store_t *s, idd_session_t *x)
{
    return idd_store_result(s->ops->session_create(s, x, 0, NULL));
}
static inline int idd_store_session_create_capped(idd_store_t *s, idd_session_t *x, int max,
                                                  int *ended)
{
    int n = 0;
    int rc = idd_store_result(s->ops->session_create(s, x, max, &n));
    if (n > 0) /* the cap ended older sessions */
        idd_store_note_change();
    if (ended != NULL)
        *ended = n;
    return rc;
}
static inline int idd_store_session_prune(idd_store_t *s, int64_t now, int limit, int *n)
{
    return idd_store_result(s->ops->session_prune(s, now, limit, n));
}
static inline int idd_store_session_by_digest(idd_store_t *s,
                                              const unsigned char d[IDD_SESSION_DIGEST_LEN],
                                              idd_session_t *out)
{
    return idd_store_result(s->ops->session_by_digest(s, d, out));
}
static inline int idd_store_session_by_id(idd_store_t *s, int64_t id, idd_session_t *out)
{
    return idd_store_result(s->ops->session_by_id(s, id, out));
}
static inline int idd_store_session_touch(idd_store_t *s, int64_t id, int64_t when)
{
    return idd_store_result(s->ops->session_touch(s, id, when));
}
static inline int idd_store_session_end(idd_store_t *s, int64_t id)
{
    return idd_store_changed(s->ops->session_end(s, id));
}
static inline int idd_store_session_end_user(idd_store_t *s, const char *uid, int64_t except,
                                             int *n)
{
    return idd_store_changed(s->ops->session_end_user(s, uid, except, n));
}
static inline int idd_store_apikey_create(idd_store_t *s, idd_apikey_t *k)
{
    return idd_store_result(s->ops->apikey_create(s, k, 0));
}
static inline int idd_store_apikey_create_capped(idd_store_t *s, idd_apikey_t *k, int max)
{
    return idd_store_result(s->ops->apikey_create(s, k, max));
}
static inline int idd_store_apikey_by_digest(idd_store_t *s,
                                             const unsigned char d[IDD_SESSION_DIGEST_LEN],
                                             idd_apikey_t *out)
{
    return idd_store_result(s->ops->apikey_by_digest(s, d, out));
}
static inline int idd_store_apikey_by_id(idd_store_t *s, const char *id, idd_apikey_t *out)
{
    return idd_store_result(s->ops->apikey_by_id(s, id, out));
}
static inline int idd_store_apikey_list(idd_store_t *s, int64_t t, const char *by,
                                        idd_apikey_visit_fn f, void *a)
{
    return idd_store_result(s->ops->apikey_list(s, t, by, f, a));
}
static inline int idd_store_apikey_update(idd_store_t *s, const char *id, const char *name,
                                          const char *perms)
{
    return idd_store_changed(s->ops->apikey_update(s, id, name, perms));
}
static inline int idd_store_apikey_set_active(idd_store_t *s, const char *id, int active, int level,
                                              const char *by)
{
    return idd_store_changed(s->ops->apikey_set_active(s, id, active, level, by));
}
static inline int idd_store_apikey_prune(idd_store_t *s, int64_t now, int limit, int *n)
{
    return idd_store_result(s->ops->apikey_prune(s, now, limit, n));
}
static inline int idd_store_counts(idd_store_t *s, int64_t now, int64_t *live, int64_t *keys)
{
    return idd_store_result(s->ops->counts(s, now, live, keys));
}
static inline int idd_store_apikey_delete(idd_store_t *s, const char *id)
{
    return idd_store_changed(s->ops->apikey_delete(s, id));
}
static inline int idd_store_signing_key_list(idd_store_t *s, idd_signing_key_visit_fn visit,
                                             void *arg)
{
    return s->ops->signing_key_list(s, visit, arg);
}
static inline int idd_store_signing_key_insert(idd_store_t *s, const idd_signing_key_t *key)
{
    return s->ops->signing_key_insert(s, key);
}
static inline int idd_store_signing_key_activate(idd_store_t *s, const char *kid, int64_t now,
                                                 int64_t retire_at)
{
    return s->ops->signing_key_activate(s, kid, now, retire_at);
}
static inline int idd_store_signing_key_retire(idd_store_t *s, int64_t now, int *n)
{
    return s->ops->signing_key_retire(s, now, n);
}
static inline int idd_store_tfa_get(idd_store_t *s, const char *uid, idd_tfa_t *out)
{
    return idd_store_result(s->ops->tfa_get(s, uid, out));
}
static inline int idd_store_tfa_create(idd_store_t *s, const idd_tfa_t *tfa, int64_t now)
{
    return idd_store_result(s->ops->tfa_create(s, tfa, now));
}
static inline int idd_store_tfa_activate(idd_store_t *s, const char *uid, const char *codes,
                                         int64_t step, int64_t now)
{
    return idd_store_result(s->ops->tfa_activate(s, uid, codes, step, now));
}
static inline int idd_store_tfa_accept_step(idd_store_t *s, const char *uid, int64_t step,
                                            int64_t now)
{
    return idd_store_result(s->ops->tfa_accept_step(s, uid, step, now));
}
static inline int idd_store_tfa_set_codes(idd_store_t *s, const char *uid, const char *expect,
                                          const char *codes, int64_t now)
{
    return idd_store_result(s->ops->tfa_set_codes(s, uid, expect, codes, now));
}
static inline int idd_store_tfa_delete(idd_store_t *s, const char *uid)
{
    return idd_store_changed(s->ops->tfa_delete(s, uid));
}
static inline int idd_store_tenant_tfa_get(idd_store_t *s, int64_t tenant_id, idd_tenant_tfa_t *out)
{
    return idd_store_result(s->ops->tenant_tfa_get(s, tenant_id, out));
}
static inline int idd_store_tenant_tfa_set(idd_store_t *s, const idd_tenant_tfa_t *tfa, int64_t now,
                                           int *ended)
{
    return idd_store_changed(s->ops->tenant_tfa_set(s, tfa, now, ended));
}
static inline int idd_store_apikey_touch(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1],
                                         const int64_t *when, size_t n)
{
    return idd_store_result(s->ops->apikey_touch(s, ids, when, n));
}
static inline int idd_store_session_list_user(idd_store_t *s, const char *uid, int64_t now,
                                              idd_session_visit_fn f, void *a)
{
    return idd_store_result(s->ops->session_list_user(s, uid, now, f, a));
}

static inline int idd_store_bruteforce_key(idd_store_t *s,
                                           const unsigned char candidate[IDD_BF_TAG_LEN],
                                           unsigned char out[IDD_BF_TAG_LEN])
{
    return idd_store_result(s->ops->bruteforce_key(s, candidate, out));
}
static inline int idd_store_bruteforce_count(idd_store_t *s, const idd_bf_count_t *counts, size_t n,
                                             int64_t now_ms)
{
    return idd_store_result(s->ops->bruteforce_count(s, counts, n, now_ms));
}
static inline int idd_store_bruteforce_since(idd_store_t *s, int64_t since_ms, int64_t now_ms,
                                             int limit, idd_bf_counter_visit_fn visit, void *arg)
{
    return idd_store_result(s->ops->bruteforce_since(s, since_ms, now_ms, limit, visit, arg));
}
static inline int idd_store_bruteforce_prune(idd_store_t *s, int64_t now_ms, int limit,
                                             int *deleted)
{
    return idd_store_result(s->ops->bruteforce_prune(s, now_ms, limit, deleted));
}

static inline int idd_store_set_lazy(idd_store_t *s, int lazy)
{
    return idd_store_result(s->ops->set_lazy(s, lazy));
}

#endif
