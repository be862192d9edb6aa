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

void idd_api_keys_create(idd_request_t *r, idd_principal_t *p)
{
    idd_apikey_t k;
    char key[IDD_APIKEY_LEN + 1] = "";
    const char *problem = NULL;
    memset(&k, 0, sizeof(k));
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        return;
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
        (problem = check_permissions(permissions, k.permissions, sizeof(k.permissions))) != NULL)
        goto done;
    if (days != NULL && !json_is_null(days) && (problem = check_days(days)) != NULL)
        goto done;
    if (!within_caller(p, k.permissions)) {
        idd_respond_error(r->req, 403, "Access denied");
        goto done;
    }

    int64_t now = idd_now();
    snprintf(k.name, sizeof(k.name), "%s", json_string_value(name));
    k.tenant_id = r->tenant->id;
    memcpy(k.created_by, p->user.id, sizeof(k.created_by));
    k.created = now;
    k.expires =
        (days != NULL && json_is_integer(days)) ? now + json_integer_value(days) * 86400 : 0;
    k.active = 1;
    int rc = idd_apikey_generate(key);
    if (rc == 0)
        rc = idd_apikey_digest(&r->app->pepper, key, IDD_APIKEY_LEN, k.digest);
    if (rc == 0) {
        memcpy(k.postfix, key + IDD_APIKEY_LEN - 4, 5);
        rc =
            idd_store_apikey_create_capped(r->thread->store, &k, r->gen->cfg->apikeys_max_per_user);
    }
    if (rc == IDD_EDENIED) {
        char message[IDD_APIKEY_LIMIT_MESSAGE_MAX];
        idd_apikey_limit_message(r->gen->cfg->apikeys_max_per_user, message, sizeof(message));
        idd_respond_error(r->req, 400, message);
        goto done;
    }
    if (rc != 0) {
        store_failed(r, "create", rc);
        goto done;
    }
    idd_log_info("apikey %s (...%s) created by user %s", k.id, k.postfix, p->user.id);
    idd_buf_t b;
    idd_buf_init(&b);
    write_key(&b, &k, &p->user, key, r->tenant->tz);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose_secret(&b);

done:
    if (problem != NULL)
        idd_respond_error(r->req, 400, problem);
    idd_wipe(key, sizeof(key));
    idd_wipe(k.digest, sizeof(k.digest));
    json_decref(body);
}

/* ---- GET /api/2.0/keys ---- */

typedef struct listing {
    idd_request_t *r;
    idd_buf_t *out;
    long count;
    int rc;
} listing_t;

static int list_one(const idd_apikey_t *k, void *arg)
{
    listing_t *l = arg;
    idd_user_t creator;
    int rc = idd_store_user_by_id(l->r->thread->store, k->created_by, &creator);
    if (rc == 0)
        idd_wipe(creator.password, sizeof(creator.password));
    if (l->count > 0)
        idd_buf_putc(l->out, ',');
    write_key(l->out, k, rc == 0 ? &creator : NULL, NULL, l->r->tenant->tz);
    return ++l->count >= LIST_MAX;
}

void idd_api_keys_list(idd_request_t *r, idd_principal_t *p)
{
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_putc(&b, '[');
    listing_t l = {r, &b, 0, 0};
    const char *only = p->user.role == IDD_ROLE_ADMIN ? NULL : p->user.id;
    int rc = idd_store_apikey_list(r->thread->store, r->tenant->id, only, list_one, &l);
    if (rc != 0) {
        store_failed(r, "list", rc);
    } else {
        idd_buf_putc(&b, ']');
        idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, l.count);
    }
    idd_buf_dispose(&b);
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

void idd_api_keys_self(idd_request_t *r, idd_principal_t *p)
{
    idd_apikey_t k;
    if (p->apikey_id[0] == '\0') {
        idd_respond_error(r->req, 404, "This request did not use an API key");
        return;
    }
    int rc = idd_store_apikey_by_id(r->thread->store, p->apikey_id, &k);
    if (rc != 0) {
        store_failed(r, "self", rc);
        return;
    }
    idd_buf_t b;
    idd_buf_init(&b);
    write_key(&b, &k, &p->user, NULL, r->tenant->tz);
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, 1);
    idd_buf_dispose(&b);
}

/* ---- PUT and DELETE /api/2.0/keys/{keyId} ---- */

/* Finds the key of the path in this tenant and checks the caller may manage it. Returns 0,
 * or answers 404/403/503 and returns -1. */
static int find_managed(idd_request_t *r, const idd_principal_t *p, idd_apikey_t *k)
{
    char id[IDD_GUID_LEN + 1];
    int rc = IDD_ENOTFOUND;
    if (idd_request_guid_param(r, 0, id))
        rc = idd_store_apikey_by_id(r->thread->store, id, k);
    if (rc == IDD_ENOTFOUND || (rc == 0 && k->tenant_id != r->tenant->id)) {
        idd_respond_error(r->req, 404, "API key not found");
        return -1;
    }
    if (rc != 0) {
        store_failed(r, "lookup", rc);
        return -1;
    }
    if (strcmp(k->created_by, p->user.id) != 0 && p->user.role != IDD_ROLE_ADMIN) {
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

void idd_api_keys_update(idd_request_t *r, idd_principal_t *p)
{
    idd_apikey_t k;
    char perms[IDD_APIKEY_PERMISSIONS_MAX + 1];
    const char *problem = NULL;
    json_t *body = idd_api_body_object(r);
    if (body == NULL)
        return;
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
        (problem = check_permissions(permissions, perms, sizeof(perms))) != NULL)
        goto done;
    if (active != NULL && !json_is_boolean(active)) {
        problem = "isActive must be a boolean";
        goto done;
    }
    if (find_managed(r, p, &k) != 0)
        goto done;
    /* A narrower key must not revive, rename or reshape a wider one: the key as it is, and
     * as it would become, must both be within the caller's scopes. */
    if (!within_caller(p, k.permissions) || (permissions != NULL && !within_caller(p, perms))) {
        idd_respond_error(r->req, 403, "Access denied");
        goto done;
    }
    /* Turning a key on or off goes first, through the store's rule, so that a refused
     * re-activation changes nothing else. */
    bool owner = strcmp(k.created_by, p->user.id) == 0;
    bool admin = p->user.role == IDD_ROLE_ADMIN;
    int rc = 0;
    if (active != NULL) {
        int on = json_is_true(active);
        /* A deactivation is recorded as its owner's when the caller owns the key, else as an
         * admin's; a re-activation may lift what the caller's role allows. */
        int level = on ? (admin ? IDD_APIKEY_BY_ADMIN : IDD_APIKEY_BY_OWNER)
                       : (owner ? IDD_APIKEY_BY_OWNER : IDD_APIKEY_BY_ADMIN);
        rc = idd_store_apikey_set_active(r->thread->store, k.id, on, level, p->user.id);
        if (rc == IDD_EDENIED) {
            /* Read again: the level that refused may be newer than the one read above. */
            if (idd_store_apikey_by_id(r->thread->store, k.id, &k) != 0)
                k.deactivated = IDD_APIKEY_REVOKED;
            idd_log_info("apikey %s: re-activation by user %s refused", k.id, p->user.id);
            idd_respond_error(r->req, 403, reactivation_refused(&k));
            goto done;
        }
    }
    if (rc == 0 && (name != NULL || permissions != NULL))
        rc = idd_store_apikey_update(r->thread->store, k.id, name ? json_string_value(name) : NULL,
                                     permissions ? perms : NULL);
    if (rc != 0) {
        store_failed(r, "update", rc);
        goto done;
    }
    idd_log_info("apikey %s updated by user %s", k.id, p->user.id);
    idd_respond_bool(r->req, r->origin, true);
done:
    if (problem != NULL)
        idd_respond_error(r->req, 400, problem);
    json_decref(body);
}

void idd_api_keys_delete(idd_request_t *r, idd_principal_t *p)
{
    idd_apikey_t k;
    if (find_managed(r, p, &k) != 0)
        return;
    /* As for updates: a narrower key does not manage a wider one. */
    if (!within_caller(p, k.permissions)) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    int rc = idd_store_apikey_delete(r->thread->store, k.id);
    if (rc != 0) {
        store_failed(r, "delete", rc);
        return;
    }
    idd_log_info("apikey %s deleted by user %s", k.id, p->user.id);
    idd_respond_bool(r->req, r->origin, true);
}
