/*
 * /api/2.0/keys: API key management. A key is created for the caller, shown in full once,
 * and can never be given more than the caller holds; listings show only its last four
 * characters. Tenant admins manage every key of their tenant, others only their own; guests
 * cannot create keys.
 */
#include <jansson.h>
#include <string.h>

#include "api/body.h"
#include "identityd/api/api.h"
#include "identityd/cred/apikey.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/tz.h"
#include "identityd/http/respond.h"

#define SCOPE_MANAGE "accounts:write"
#define LIST_MAX 1000

/* ---- writing keys ---- */

/* An ApiDateTime member: one string in the tenant's zone (core/tz.h). */
static void write_date(idd_buf_t *b, const char *member, int64_t t, const idd_tz_t *tz)
{
    char text[IDD_DATETIME_LEN];
    size_t n = idd_format_datetime(t, 0, tz, text);
    idd_buf_putc(b, ',');
    idd_buf_putc(b, '"');
    idd_buf_puts(b, member);
    idd_buf_puts(b, "\":\"");
    idd_buf_append(b, text, n);
    idd_buf_putc(b, '"');
}

/* One ApiKeyResponseDto. full_key is the whole key (creation only), else the key is masked.
 * creator may be NULL when its row could not be read. */
static void write_key(idd_buf_t *b, const idd_apikey_t *k, const idd_user_t *creator,
                      const char *full_key, const idd_tz_t *tz)
{
    idd_buf_puts(b, "{\"id\":");
    idd_buf_json_str(b, k->id, strlen(k->id));
    idd_buf_puts(b, ",\"name\":");
    idd_buf_json_str(b, k->name, strlen(k->name));
    idd_buf_puts(b, ",\"key\":");
    if (full_key != NULL) {
        idd_buf_json_str(b, full_key, strlen(full_key));
    } else {
        char masked[16];
        snprintf(masked, sizeof(masked), "sk-***%s", k->postfix);
        idd_buf_json_str(b, masked, strlen(masked));
    }
    idd_buf_puts(b, ",\"keyPostfix\":");
    idd_buf_json_str(b, k->postfix, strlen(k->postfix));
    idd_buf_puts(b, ",\"permissions\":[");
    const char *p = k->permissions;
    bool first = true;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        if (!first)
            idd_buf_putc(b, ',');
        idd_buf_json_str(b, p, n);
        first = false;
        p += n;
    }
    idd_buf_putc(b, ']');
    if (k->last_used != 0)
        write_date(b, "lastUsed", k->last_used, tz);
    write_date(b, "createOn", k->created, tz);
    if (creator != NULL) {
        char name[2 * IDD_NAME_MAX + 2];
        idd_user_display_name(creator, name, sizeof(name));
        idd_buf_puts(b, ",\"createBy\":{\"id\":");
        idd_buf_json_str(b, creator->id, strlen(creator->id));
        idd_buf_puts(b, ",\"displayName\":");
        idd_buf_json_str(b, name, strlen(name));
        idd_buf_putc(b, '}');
    }
    if (k->expires != 0)
        write_date(b, "expiresAt", k->expires, tz);
    idd_buf_puts(b, k->active ? ",\"isActive\":true}" : ",\"isActive\":false}");
}

static void store_failed(idd_request_t *r, const char *what, int rc)
{
    if (rc != IDD_EUNAVAIL) /* a full or read-only disk: the store warned already */
        idd_log_error("keys: %s: %s", what, idd_strerror(rc));
    idd_respond_error(r->req, 503, "Service unavailable");
}

/* ---- reading requests ---- */

/* The rules are cred's (idd_apikey_check_name and the others), which identityctl applies
 * too; what is left here is turning JSON into the C values they take. */

/* A key name: a JSON string, then the name rule. jansson has already refused invalid UTF-8,
 * and a NUL inside the string counts, through its length, as the control character it is. */
static const char *check_name(json_t *v)
{
    if (!json_is_string(v))
        return "name must be a string";
    return idd_apikey_check_name(json_string_value(v), json_string_length(v));
}

/* Permissions: an array of strings, each added to out by the permission rule (known names
 * only, duplicates once, space-separated). */
static const char *check_permissions(json_t *v, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!json_is_array(v))
        return "permissions must be an array of strings";
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return "permissions must be an array of strings";
        const char *problem = idd_apikey_permissions_add(out, outlen, json_string_value(item),
                                                         json_string_length(item));
        if (problem != NULL)
            return problem;
    }
    return NULL;
}

/* expiresInDays: an integer, then the expiry rule. */
static const char *check_days(json_t *v)
{
    if (!json_is_integer(v))
        return "expiresInDays must be an integer";
    return idd_apikey_check_expiry_days(json_integer_value(v));
}

/* A caller may hand out only what it holds: every permission of the new key (full access
 * when there is none, or "*") must be within the caller's scopes. */
static bool within_caller(const idd_principal_t *p, const char *permissions)
{
    char scopes[IDD_APIKEY_PERMISSIONS_MAX + 1];
    idd_apikey_scopes(permissions, scopes, sizeof(scopes));
    for (const char *q = scopes; *q != '\0';) {
        size_t n = strcspn(q, " ");
        char one[64];
        if (n == 0 || n >= sizeof(one))
            return false;
        memcpy(one, q, n);
        one[n] = '\0';
        if (!idd_scopes_allow(p->scopes, one))
            return false;
        q += n;
        while (*q == ' ')
            q++;
    }
    return true;
}

/* ---- POST /api/2.0/keys ---- */

/* A key being created: the row to write and the key to show once. */
typedef struct key_new {
    idd_apikey_t k;
    char key[IDD_APIKEY_LEN + 1];
    int cap;                  /* apikeys.max_per_user */
    const idd_principal_t *p; /* request memory: read only on the loop */
} key_new_t;

static int key_new_load(idd_store_t *store, void *arg)
{
    key_new_t *n = arg;
    return idd_store_apikey_create_capped(store, &n->k, n->cap);
}

static void key_new_resume(idd_request_t *r, void *arg, int rc)
{
    key_new_t *n = arg;
    if (rc == IDD_EDENIED) {
        char message[IDD_APIKEY_LIMIT_MESSAGE_MAX];
        idd_apikey_limit_message(n->cap, message, sizeof(message));
        idd_respond_error(r->req, 400, message);
        return;
    }
    if (rc != 0) {
        store_failed(r, "create", rc);
        return;
    }
    idd_log_info("apikey %s (...%s) created by user %s", n->k.id, n->k.postfix, n->p->user.id);
    idd_buf_t b;
    idd_buf_init(&b);
    write_key(&b, &n->k, &n->p->user, n->key, r->tenant->tz);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose_secret(&b);
}

static void key_new_release(void *arg)
{
    idd_wipe(arg, sizeof(key_new_t));
    free(arg);
}

void idd_api_keys_create(idd_request_t *r, idd_principal_t *p)
{
    key_new_t *n = idd_xcalloc(1, sizeof(*n));
    idd_apikey_t *k = &n->k;
    const char *problem = NULL;
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        goto done;
    if (p->user.role == IDD_ROLE_GUEST) {
        idd_respond_error(r->req, 403, "Access denied");
        goto done;
    }
    json_t *name = json_object_get(body, "name");
    json_t *permissions = json_object_get(body, "permissions");
    json_t *days = json_object_get(body, "expiresInDays");
    if (name == NULL) {
        problem = "name is required";
        goto done;
    }
    if ((problem = check_name(name)) != NULL)
        goto done;
    if (permissions != NULL && !json_is_null(permissions) &&
        (problem = check_permissions(permissions, k->permissions, sizeof(k->permissions))) != NULL)
        goto done;
    if (days != NULL && !json_is_null(days) && (problem = check_days(days)) != NULL)
        goto done;
    if (!within_caller(p, k->permissions)) {
        idd_respond_error(r->req, 403, "Access denied");
        goto done;
    }

    int64_t now = idd_now();
    snprintf(k->name, sizeof(k->name), "%s", json_string_value(name));
    k->tenant_id = r->tenant->id;
    memcpy(k->created_by, p->user.id, sizeof(k->created_by));
    k->created = now;
    k->expires =
        (days != NULL && json_is_integer(days)) ? now + json_integer_value(days) * 86400 : 0;
    k->active = 1;
    json_decref(body);
    body = NULL;
    n->cap = r->gen->cfg->apikeys_max_per_user;
    n->p = p;
    int rc = idd_apikey_generate(n->key);
    if (rc == 0)
        rc = idd_apikey_digest(&r->app->pepper, n->key, IDD_APIKEY_LEN, k->digest);
    if (rc != 0) {
        store_failed(r, "create", rc);
        goto done;
    }
    memcpy(k->postfix, n->key + IDD_APIKEY_LEN - 4, 5);
    idd_store_read(r, key_new_load, key_new_resume, n, key_new_release);
    return;

done:
    if (problem != NULL)
        idd_respond_error(r->req, 400, problem);
    key_new_release(n);
    json_decref(body);
}

/* ---- GET /api/2.0/keys ---- */

/* A listing, written on whichever thread reads the store: the tenant's zone it formats
 * dates in belongs to the generation, held here since the request may go before it ends. */
typedef struct listing {
    idd_gen_t *gen;
    const idd_tz_t *tz;
    int64_t tenant_id;
    char only[IDD_GUID_LEN + 1]; /* "" for every key of the tenant */
    idd_store_t *store;          /* during the load */
    idd_buf_t out;
    long count;
} listing_t;

static int list_one(const idd_apikey_t *k, void *arg)
{
    listing_t *l = arg;
    idd_user_t creator;
    int rc = idd_store_user_by_id(l->store, k->created_by, &creator);
    if (rc == 0)
        idd_wipe(creator.password, sizeof(creator.password));
    if (l->count > 0)
        idd_buf_putc(&l->out, ',');
    write_key(&l->out, k, rc == 0 ? &creator : NULL, NULL, l->tz);
    return ++l->count >= LIST_MAX;
}

static int list_load(idd_store_t *store, void *arg)
{
    listing_t *l = arg;
    l->store = store;
    idd_buf_reset(&l->out);
    l->count = 0;
    idd_buf_putc(&l->out, '[');
    int rc = idd_store_apikey_list(store, l->tenant_id, l->only[0] != '\0' ? l->only : NULL,
                                   list_one, l);
    idd_buf_putc(&l->out, ']');
    l->store = NULL;
    return rc;
}

static void list_resume(idd_request_t *r, void *arg, int rc)
{
    listing_t *l = arg;
    if (rc != 0)
        store_failed(r, "list", rc);
    else
        idd_respond_envelope(r->req, r->origin, 200, l->out.data, l->out.len, l->count);
}

static void list_release(void *arg)
{
    listing_t *l = arg;
    idd_buf_dispose(&l->out);
    idd_gen_release(l->gen);
    free(l);
}

void idd_api_keys_list(idd_request_t *r, idd_principal_t *p)
{
    listing_t *l = idd_xcalloc(1, sizeof(*l));
    l->gen = idd_gen_hold(r->gen);
    l->tz = r->tenant->tz;
    l->tenant_id = r->tenant->id;
    if (p->user.role != IDD_ROLE_ADMIN)
        memcpy(l->only, p->user.id, sizeof(l->only));
    idd_buf_init(&l->out);
    idd_store_read(r, list_load, list_resume, l, list_release);
}

/* ---- GET /api/2.0/keys/permissions and /api/2.0/keys/@self ---- */

void idd_api_keys_permissions(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_putc(&b, '[');
    for (size_t i = 0; i < idd_apikey_permissions_count; i++) {
        if (i > 0)
            idd_buf_putc(&b, ',');
        idd_buf_json_str(&b, idd_apikey_permissions[i], strlen(idd_apikey_permissions[i]));
    }
    idd_buf_putc(&b, ']');
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, (long)idd_apikey_permissions_count);
    idd_buf_dispose(&b);
}

/* One key read by its id (GET @self, and the key a PUT or DELETE names), and what comes
 * after on the loop. refs: a step that goes on to another store step takes one more, so
 * that whichever release runs last frees it. */
typedef struct key_op {
    char id[IDD_GUID_LEN + 1];
    idd_apikey_t k;
    const idd_principal_t *p; /* request memory: read only on the loop */
    int refs;
    /* PUT: what the body asks for. */
    bool has_name, has_perms;
    int active;                       /* -1: unchanged, else 0 or 1 */
    int level;                        /* the deactivation level set_active is given */
    char p_user_id[IDD_GUID_LEN + 1]; /* the caller, as set_active records it */
    char name[IDD_APIKEY_NAME_MAX + 1];
    char perms[IDD_APIKEY_PERMISSIONS_MAX + 1];
} key_op_t;

static key_op_t *key_op_new(const idd_principal_t *p)
{
    key_op_t *o = idd_xcalloc(1, sizeof(*o));
    o->p = p;
    o->refs = 1;
    o->active = -1;
    return o;
}

static void key_op_release(void *arg)
{
    key_op_t *o = arg;
    if (--o->refs > 0)
        return;
    idd_wipe(o, sizeof(*o));
    free(o);
}

static int key_by_id_load(idd_store_t *store, void *arg)
{
    key_op_t *o = arg;
    return idd_store_apikey_by_id(store, o->id, &o->k);
}

/* Runs the next store step of o from a resume: a reference for it. */
static void key_op_next(idd_request_t *r, key_op_t *o, idd_store_load_fn load,
                        idd_store_resume_fn resume)
{
    o->refs++;
    idd_store_read(r, load, resume, o, key_op_release);
}

/* ---- GET /api/2.0/keys/@self ---- */

static void self_resume(idd_request_t *r, void *arg, int rc)
{
    key_op_t *o = arg;
    if (rc != 0) {
        store_failed(r, "self", rc);
        return;
    }
    idd_buf_t b;
    idd_buf_init(&b);
    write_key(&b, &o->k, &o->p->user, NULL, r->tenant->tz);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}

void idd_api_keys_self(idd_request_t *r, idd_principal_t *p)
{
    if (p->apikey_id[0] == '\0') {
        idd_respond_error(r->req, 404, "This request did not use an API key");
        return;
    }
    key_op_t *o = key_op_new(p);
    memcpy(o->id, p->apikey_id, sizeof(o->id));
    idd_store_read(r, key_by_id_load, self_resume, o, key_op_release);
}

/* ---- PUT and DELETE /api/2.0/keys/{keyId} ---- */

/* Reads the key of the path, then resume checks it (managed_check). A path that holds no
 * GUID names no key: 404 at once. */
static void find_managed(idd_request_t *r, key_op_t *o, idd_store_resume_fn resume)
{
    if (!idd_request_guid_param(r, 0, o->id)) {
        idd_respond_error(r->req, 404, "API key not found");
        key_op_release(o);
        return;
    }
    idd_store_read(r, key_by_id_load, resume, o, key_op_release);
}

/* The key read is in this tenant and the caller may manage it. Returns 0, or answers
 * 404/403/503 and returns -1. */
static int managed_check(idd_request_t *r, const key_op_t *o, int rc)
{
    const idd_apikey_t *k = &o->k;
    if (rc == IDD_ENOTFOUND || (rc == 0 && k->tenant_id != r->tenant->id)) {
        idd_respond_error(r->req, 404, "API key not found");
        return -1;
    }
    if (rc != 0) {
        store_failed(r, "lookup", rc);
        return -1;
    }
    if (strcmp(k->created_by, o->p->user.id) != 0 && o->p->user.role != IDD_ROLE_ADMIN) {
        idd_respond_error(r->req, 403, "Access denied");
        return -1;
    }
    return 0;
}

/* Why a key cannot be turned back on, in words its owner or an admin can act on. */
static const char *reactivation_refused(const idd_apikey_t *k)
{
    if (k->deactivated == IDD_APIKEY_BY_ADMIN)
        return "This API key was deactivated by an administrator; only an administrator can "
               "activate it again";
    return "This API key was revoked and cannot be activated again";
}

/* Turning a key on or off goes first, through the store's rule, so that a refused
 * re-activation changes nothing else. */
static int update_load(idd_store_t *store, void *arg)
{
    key_op_t *o = arg;
    int rc = 0;
    if (o->active >= 0) {
        rc = idd_store_apikey_set_active(store, o->k.id, o->active, o->level, o->p_user_id);
        if (rc == IDD_EDENIED) {
            /* Read again: the level that refused may be newer than the one read before. */
            if (idd_store_apikey_by_id(store, o->k.id, &o->k) != 0)
                o->k.deactivated = IDD_APIKEY_REVOKED;
            return rc;
        }
    }
    if (rc == 0 && (o->has_name || o->has_perms))
        rc = idd_store_apikey_update(store, o->k.id, o->has_name ? o->name : NULL,
                                     o->has_perms ? o->perms : NULL);
    return rc;
}

static void update_resume(idd_request_t *r, void *arg, int rc)
{
    key_op_t *o = arg;
    if (rc == IDD_EDENIED) {
        idd_log_info("apikey %s: re-activation by user %s refused", o->k.id, o->p->user.id);
        idd_respond_error(r->req, 403, reactivation_refused(&o->k));
        return;
    }
    if (rc != 0) {
        store_failed(r, "update", rc);
        return;
    }
    idd_log_info("apikey %s updated by user %s", o->k.id, o->p->user.id);
    idd_respond_bool(r->req, r->origin, true);
}

static void update_found(idd_request_t *r, void *arg, int rc)
{
    key_op_t *o = arg;
    const idd_principal_t *p = o->p;
    if (managed_check(r, o, rc) != 0)
        return;
    /* A narrower key must not revive, rename or reshape a wider one: the key as it is, and
     * as it would become, must both be within the caller's scopes. */
    if (!within_caller(p, o->k.permissions) || (o->has_perms && !within_caller(p, o->perms))) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    bool owner = strcmp(o->k.created_by, p->user.id) == 0;
    bool admin = p->user.role == IDD_ROLE_ADMIN;
    /* A deactivation is recorded as its owner's when the caller owns the key, else as an
     * admin's; a re-activation may lift what the caller's role allows. */
    if (o->active >= 0)
        o->level = o->active ? (admin ? IDD_APIKEY_BY_ADMIN : IDD_APIKEY_BY_OWNER)
                             : (owner ? IDD_APIKEY_BY_OWNER : IDD_APIKEY_BY_ADMIN);
    memcpy(o->p_user_id, p->user.id, sizeof(o->p_user_id));
    key_op_next(r, o, update_load, update_resume);
}

void idd_api_keys_update(idd_request_t *r, idd_principal_t *p)
{
    const char *problem = NULL;
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        return;
    key_op_t *o = key_op_new(p);
    json_t *name = json_object_get(body, "name");
    json_t *permissions = json_object_get(body, "permissions");
    json_t *active = json_object_get(body, "isActive");
    if (name != NULL && json_is_null(name))
        name = NULL;
    if (permissions != NULL && json_is_null(permissions))
        permissions = NULL;
    if (active != NULL && json_is_null(active))
        active = NULL;
    if (name != NULL && (problem = check_name(name)) != NULL)
        goto done;
    if (permissions != NULL &&
        (problem = check_permissions(permissions, o->perms, sizeof(o->perms))) != NULL)
        goto done;
    if (active != NULL && !json_is_boolean(active)) {
        problem = "isActive must be a boolean";
        goto done;
    }
    if (name != NULL) {
        o->has_name = true;
        snprintf(o->name, sizeof(o->name), "%s", json_string_value(name));
    }
    o->has_perms = permissions != NULL;
    if (active != NULL)
        o->active = json_is_true(active);
    json_decref(body);
    find_managed(r, o, update_found);
    return;
done:
    idd_respond_error(r->req, 400, problem);
    key_op_release(o);
    json_decref(body);
}

static int delete_load(idd_store_t *store, void *arg)
{
    key_op_t *o = arg;
    return idd_store_apikey_delete(store, o->k.id);
}

static void delete_resume(idd_request_t *r, void *arg, int rc)
{
    key_op_t *o = arg;
    if (rc != 0) {
        store_failed(r, "delete", rc);
        return;
    }
    idd_log_info("apikey %s deleted by user %s", o->k.id, o->p->user.id);
    idd_respond_bool(r->req, r->origin, true);
}

static void delete_found(idd_request_t *r, void *arg, int rc)
{
    key_op_t *o = arg;
    if (managed_check(r, o, rc) != 0)
        return;
    /* As for updates: a narrower key does not manage a wider one. */
    if (!within_caller(o->p, o->k.permissions)) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    key_op_next(r, o, delete_load, delete_resume);
}

void idd_api_keys_delete(idd_request_t *r, idd_principal_t *p)
{
    find_managed(r, key_op_new(p), delete_found);
}
