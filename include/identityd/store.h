/*
 * The user store: tenants and users (later sessions and API keys). This header is the whole
 * interface; callers never see SQL. An engine implements idd_store_ops_t and
 * idd_store_open() picks the engine from the location: a plain path (or "sqlite:PATH") is
 * SQLite, the embedded default (src/store/sqlite.c).
 *
 * A handle is one connection and is used by one thread at a time: each event loop, worker
 * and CLI command opens its own. Records are caller-owned structs with fixed-size fields, so
 * nothing returned needs freeing.
 */
#ifndef IDENTITYD_STORE_H
#define IDENTITYD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define IDD_GUID_LEN 36        /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define IDD_EMAIL_MAX 254      /* RFC 5321 path limit */
#define IDD_NAME_MAX 128       /* first or last name, bytes of UTF-8 */
#define IDD_PASSWORD_RECORD_MAX 160
#define IDD_SALT_MAX 64

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
    char id[IDD_GUID_LEN + 1];             /* lowercase GUID with hyphens */
    int64_t tenant_id;
    char email[IDD_EMAIL_MAX + 1];         /* as entered; matched case-insensitively */
    char first_name[IDD_NAME_MAX + 1];
    char last_name[IDD_NAME_MAX + 1];
    idd_role_t role;
    idd_user_status_t status;
    char password[IDD_PASSWORD_RECORD_MAX + 1]; /* versioned keyed-hash record (password.h); secret */
    int64_t auth_version;                  /* bumped whenever password or status changes */
    int64_t created;                       /* Unix seconds */
    int64_t updated;
} idd_user_t;

typedef struct idd_store idd_store_t;

/* Called once per user by user_list; return non-zero to stop early. */
typedef int (*idd_user_visit_fn)(const idd_user_t *user, void *arg);

/* The operations an engine provides. All return 0 or a negative IDD_E* code:
 * IDD_ENOTFOUND for a missing row, IDD_EEXIST for a duplicate, IDD_ESTORE for an engine
 * failure (logged by the engine, without secrets). */
typedef struct idd_store_ops {
    const char *name;
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
    /* Each of these bumps auth_version and updated. */
    int (*user_set_status)(idd_store_t *s, const char *id, idd_user_status_t status);
    int (*user_set_password)(idd_store_t *s, const char *id, const char *record);
    /* Visits users ordered by tenant then email; tenant_id 0 means every tenant. */
    int (*user_list)(idd_store_t *s, int64_t tenant_id, idd_user_visit_fn visit, void *arg);
} idd_store_ops_t;

/* Every engine's handle starts with this. */
struct idd_store {
    const idd_store_ops_t *ops;
};

/* Opens a connection to location (a path for SQLite, created if missing). The schema is not
 * touched: call idd_store_migrate. Returns 0 with *out set, or IDD_ESTORE/IDD_EINVAL with
 * *out NULL. */
int idd_store_open(const char *location, idd_store_t **out);

/* Closes the connection; NULL is a no-op. */
void idd_store_free(idd_store_t *s);

/* The number of the newest migration this program carries. */
int idd_store_latest_version(void);

static inline int idd_store_migrate(idd_store_t *s, int *from, int *to) { return s->ops->migrate(s, from, to); }
static inline int idd_store_schema_version(idd_store_t *s, int *v) { return s->ops->schema_version(s, v); }
static inline int idd_store_tenant_ensure(idd_store_t *s, int64_t id, const char *name) { return s->ops->tenant_ensure(s, id, name); }
static inline int idd_store_tenant_get(idd_store_t *s, int64_t id, idd_tenant_t *out) { return s->ops->tenant_get(s, id, out); }
static inline int idd_store_user_by_email(idd_store_t *s, int64_t t, const char *email, idd_user_t *out) { return s->ops->user_by_email(s, t, email, out); }
static inline int idd_store_user_by_id(idd_store_t *s, const char *id, idd_user_t *out) { return s->ops->user_by_id(s, id, out); }
static inline int idd_store_user_insert(idd_store_t *s, idd_user_t *u) { return s->ops->user_insert(s, u); }
static inline int idd_store_user_set_status(idd_store_t *s, const char *id, idd_user_status_t st) { return s->ops->user_set_status(s, id, st); }
static inline int idd_store_user_set_password(idd_store_t *s, const char *id, const char *rec) { return s->ops->user_set_password(s, id, rec); }
static inline int idd_store_user_list(idd_store_t *s, int64_t t, idd_user_visit_fn f, void *a) { return s->ops->user_list(s, t, f, a); }

#endif
