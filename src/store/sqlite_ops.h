/*
 * The operations of idd_store_ops_t (store.h) as the SQLite engine's files implement them,
 * for sqlite.c to put in the engine's ops table. Each file uses only the files below it in
 * the order sqlite_stmt.h gives; the user updates of sqlite_user.c end sessions through
 * sqlite_session.c. Private to src/store/.
 */
#ifndef IDD_STORE_SQLITE_OPS_H
#define IDD_STORE_SQLITE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "identityd/store/store.h"

/* ---- sqlite_migrate.c ---- */
int idd_sqlite_migrate(idd_store_t *s, int *from, int *to);
int idd_sqlite_schema_version(idd_store_t *s, int *version);

/* ---- sqlite_user.c: tenants and users ---- */
int idd_sqlite_tenant_ensure(idd_store_t *s, int64_t id, const char *name);
int idd_sqlite_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out);
int idd_sqlite_user_by_email(idd_store_t *s, int64_t tenant_id, const char *email, idd_user_t *out);
int idd_sqlite_user_by_id(idd_store_t *s, const char *id, idd_user_t *out);
int idd_sqlite_user_insert(idd_store_t *s, idd_user_t *user);
int idd_sqlite_user_set_status(idd_store_t *s, const char *id, idd_user_status_t status);
int idd_sqlite_user_set_password(idd_store_t *s, const char *id, const char *record);
int idd_sqlite_user_list(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg);
int idd_sqlite_user_set_password_change(idd_store_t *s, const char *id, int required);
int idd_sqlite_user_upgrade_password(idd_store_t *s, const char *id, const char *old,
                                     const char *record);

/* ---- sqlite_session.c ---- */
int idd_sqlite_session_create(idd_store_t *s, idd_session_t *session, int max_live, int *ended);
int idd_sqlite_session_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                 idd_session_t *out);
int idd_sqlite_session_by_id(idd_store_t *s, int64_t id, idd_session_t *out);
int idd_sqlite_session_touch(idd_store_t *s, int64_t id, int64_t when);
int idd_sqlite_session_end(idd_store_t *s, int64_t id);
/* Also called by the user updates of sqlite_user.c inside their own transaction. */
int idd_sqlite_session_end_user(idd_store_t *s, const char *user_id, int64_t except_id, int *count);
int idd_sqlite_session_list_user(idd_store_t *s, const char *user_id, int64_t now,
                                 idd_session_visit_fn visit, void *arg);
int idd_sqlite_session_prune(idd_store_t *s, int64_t now, int limit, int *deleted);
int idd_sqlite_counts(idd_store_t *s, int64_t now, int64_t *live_sessions, int64_t *apikeys);
int idd_sqlite_changes(idd_store_t *s, int64_t *version);

/* ---- sqlite_apikey.c ---- */
int idd_sqlite_apikey_create(idd_store_t *s, idd_apikey_t *key, int max_per_user);
int idd_sqlite_apikey_by_digest(idd_store_t *s, const unsigned char digest[IDD_SESSION_DIGEST_LEN],
                                idd_apikey_t *out);
int idd_sqlite_apikey_by_id(idd_store_t *s, const char *id, idd_apikey_t *out);
int idd_sqlite_apikey_list(idd_store_t *s, int64_t tenant_id, const char *created_by,
                           idd_apikey_visit_fn visit, void *arg);
int idd_sqlite_apikey_update(idd_store_t *s, const char *id, const char *name,
                             const char *permissions);
int idd_sqlite_apikey_set_active(idd_store_t *s, const char *id, int active, int level,
                                 const char *by);
int idd_sqlite_apikey_prune(idd_store_t *s, int64_t now, int limit, int *deleted);
int idd_sqlite_apikey_delete(idd_store_t *s, const char *id);
int idd_sqlite_apikey_touch(idd_store_t *s, const char (*ids)[IDD_GUID_LEN + 1],
                            const int64_t *when, size_t n);

/* ---- sqlite_signing.c ---- */
int idd_sqlite_signing_key_list(idd_store_t *s, idd_signing_key_visit_fn visit, void *arg);
int idd_sqlite_signing_key_insert(idd_store_t *s, const idd_signing_key_t *key);
int idd_sqlite_signing_key_activate(idd_store_t *s, const char *kid, int64_t now,
                                    int64_t retire_at);
int idd_sqlite_signing_key_retire(idd_store_t *s, int64_t now, int *n);

/* ---- sqlite_tfa.c ---- */
int idd_sqlite_tfa_get(idd_store_t *s, const char *user_id, idd_tfa_t *out);
int idd_sqlite_tfa_create(idd_store_t *s, const idd_tfa_t *tfa, int64_t now);
int idd_sqlite_tfa_activate(idd_store_t *s, const char *user_id, const char *codes, int64_t step,
                            int64_t now);
int idd_sqlite_tfa_accept_step(idd_store_t *s, const char *user_id, int64_t step, int64_t now);
int idd_sqlite_tfa_set_codes(idd_store_t *s, const char *user_id, const char *expect,
                             const char *codes, int64_t now);
int idd_sqlite_tfa_delete(idd_store_t *s, const char *user_id);
int idd_sqlite_tenant_tfa_get(idd_store_t *s, int64_t tenant_id, idd_tenant_tfa_t *out);
int idd_sqlite_tenant_tfa_set(idd_store_t *s, const idd_tenant_tfa_t *tfa, int64_t now, int *ended);

/* sqlite_bruteforce.c */
int idd_sqlite_bruteforce_key(idd_store_t *s, const unsigned char candidate[IDD_BF_TAG_LEN],
                              unsigned char out[IDD_BF_TAG_LEN]);
int idd_sqlite_bruteforce_count(idd_store_t *s, const idd_bf_count_t *counts, size_t n,
                                int64_t now_ms);
int idd_sqlite_bruteforce_since(idd_store_t *s, int64_t since_ms, int64_t now_ms, int limit,
                                idd_bf_counter_visit_fn visit, void *arg);
int idd_sqlite_bruteforce_prune(idd_store_t *s, int64_t now_ms, int limit, int *deleted);

#endif
