/*
 * /api/2.0/security/activeconnections: a user's own sign-in sessions, and ending them —
 * one, all but the current one, all of a user (tenant admins), or all with a password
 * change required before the next sign-in.
 */
#include <stdlib.h>
#include <string.h>

#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/storeread.h"
#include "identityd/core/ct.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/http/cookie.h"
#include "identityd/core/log.h"
#include "identityd/core/tz.h"
#include "identityd/http/respond.h"
#include "identityd/core/useragent.h"

#define SCOPE_READ "accounts:read"
#define SCOPE_WRITE "accounts:write"
#define LIST_MAX 1000 /* sessions listed at most: the response stays bounded */

typedef struct listing {
    idd_buf_t *out;
    long count;
    const idd_tz_t *tz; /* the tenant's, for the dates */
} listing_t;

static int list_one(const idd_session_t *s, void *arg)
{
    listing_t *l = arg;
    idd_useragent_t ua;
    idd_useragent_parse(s->user_agent, strlen(s->user_agent), &ua);
    char date[IDD_DATETIME_LEN];
    size_t date_len = idd_format_datetime(s->created, 0, l->tz, date);
    idd_buf_t *b = l->out;
    if (l->count > 0)
        idd_buf_putc(b, ',');
    idd_buf_puts(b, "{\"id\":");
    idd_buf_json_int(b, s->id);
    idd_buf_puts(b, ",\"tenantId\":");
    idd_buf_json_int(b, s->tenant_id);
    idd_buf_puts(b, ",\"userId\":");
    idd_buf_json_str(b, s->user_id, strlen(s->user_id));
    idd_buf_puts(b, ua.mobile ? ",\"mobile\":true" : ",\"mobile\":false");
    idd_buf_puts(b, ",\"ip\":");
    idd_buf_json_str(b, s->ip, strlen(s->ip));
    idd_buf_puts(b, ",\"browser\":");
    idd_buf_json_str(b, ua.browser, strlen(ua.browser));
    idd_buf_puts(b, ",\"platform\":");
    idd_buf_json_str(b, ua.platform, strlen(ua.platform));
    idd_buf_puts(b, ",\"date\":\"");
    idd_buf_append(b, date, date_len);
    idd_buf_puts(b, "\"}");
    return ++l->count >= LIST_MAX;
}

static void store_failed(idd_request_t *r, const char *what, int rc)
{
    idd_log_error("activeconnections: %s: %s", what, idd_strerror(rc));
    idd_respond_error(r->req, 503, "Service unavailable");
}

/* One request's store work, done in one load (on the loop for SQLite, on the store pool for
 * PostgreSQL) from what is copied here; the answer is made on the loop. */
typedef struct conn_op {
    const idd_principal_t *p; /* request memory: read only on the loop */
    idd_gen_t *gen;           /* held for tz: a listing is written where it is read */
    const idd_tz_t *tz;
    int64_t tenant_id;
    char user_id[IDD_GUID_LEN + 1]; /* the caller, or the user whose sessions end */
    bool admin;                     /* the caller is a tenant admin */
    int64_t session_id;             /* the one to end, or the one to keep (0: none) */
    idd_buf_t items;                /* a listing's items */
    long count;
    int ended;
    bool not_found, denied; /* refused before any write */
    const char *what;       /* the step that failed, for the log */
} conn_op_t;

static conn_op_t *conn_op_new(idd_request_t *r, const idd_principal_t *p)
{
    conn_op_t *o = idd_xcalloc(1, sizeof(*o));
    o->p = p;
    o->tenant_id = r->tenant->id;
    memcpy(o->user_id, p->user.id, sizeof(o->user_id));
    o->admin = p->user.role == IDD_ROLE_ADMIN;
    idd_buf_init(&o->items);
    return o;
}

static void conn_op_release(void *arg)
{
    conn_op_t *o = arg;
    idd_buf_dispose(&o->items);
    if (o->gen != NULL)
        idd_gen_release(o->gen);
    free(o);
}

/* A failed step: logged and answered 503. Returns true when rc is one. */
static bool op_failed(idd_request_t *r, const conn_op_t *o, int rc)
{
    if (rc == 0)
        return false;
    store_failed(r, o->what, rc);
    return true;
}

/* ---- GET: the caller's sessions ---- */

static int list_load(idd_store_t *store, void *arg)
{
    conn_op_t *o = arg;
    listing_t l = {&o->items, 0, o->tz};
    idd_buf_reset(&o->items);
    o->what = "list";
    int rc = idd_store_session_list_user(store, o->user_id, idd_now(), list_one, &l);
    o->count = l.count;
    return rc;
}

static void list_resume(idd_request_t *r, void *arg, int rc)
{
    conn_op_t *o = arg;
    if (op_failed(r, o, rc))
        return;
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "{\"loginEvent\":");
    idd_buf_json_int(&b, o->p->session_id);
    idd_buf_puts(&b, ",\"items\":[");
    if (o->items.len > 0)
        idd_buf_append(&b, o->items.data, o->items.len);
    idd_buf_puts(&b, "]}");
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, o->count);
    idd_buf_dispose(&b);
}

void idd_api_connections_list(idd_request_t *r, idd_principal_t *p)
{
    conn_op_t *o = conn_op_new(r, p);
    o->gen = idd_gen_hold(r->gen);
    o->tz = r->tenant->tz;
    idd_store_read(r, list_load, list_resume, o, conn_op_release);
}

/* Parses the {loginEventId} segment: 1..18 decimal digits. */
static int parse_id(h2o_iovec_t v, int64_t *out)
{
    if (v.len == 0 || v.len > 18)
        return -1;
    int64_t id = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        id = id * 10 + (v.base[i] - '0');
    }
    *out = id;
    return 0;
}

/* ---- DELETE one session ---- */

static int logout_one_load(idd_store_t *store, void *arg)
{
    conn_op_t *o = arg;
    idd_session_t s;
    o->what = "lookup";
    int rc = idd_store_session_by_id(store, o->session_id, &s);
    if (rc == IDD_ENOTFOUND || (rc == 0 && s.tenant_id != o->tenant_id)) {
        o->not_found = true;
        return 0;
    }
    if (rc != 0)
        return rc;
    idd_wipe(s.digest, sizeof(s.digest));
    /* Anyone may end their own sessions; ending another user's takes a tenant admin. */
    if (strcmp(s.user_id, o->user_id) != 0 && !o->admin) {
        o->denied = true;
        return 0;
    }
    o->what = "end";
    return idd_store_session_end(store, o->session_id);
}

static void logout_one_resume(idd_request_t *r, void *arg, int rc)
{
    conn_op_t *o = arg;
    if (o->not_found) {
        idd_respond_error(r->req, 404, "Login event not found");
        return;
    }
    if (o->denied) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    if (op_failed(r, o, rc))
        return;
    idd_log_info("session %lld ended by user %s", (long long)o->session_id, o->user_id);
    if (o->session_id == o->p->session_id && r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_bool(r->req, r->origin, true);
}

void idd_api_connections_logout(idd_request_t *r, idd_principal_t *p)
{
    int64_t id = 0;
    if (parse_id(r->params[0], &id) != 0) {
        idd_respond_error(r->req, 400, "Invalid login event id");
        return;
    }
    conn_op_t *o = conn_op_new(r, p);
    o->session_id = id;
    idd_store_read(r, logout_one_load, logout_one_resume, o, conn_op_release);
}

/* ---- every other session of the caller ---- */

static int logout_others_load(idd_store_t *store, void *arg)
{
    conn_op_t *o = arg;
    o->what = "end others";
    return idd_store_session_end_user(store, o->user_id, o->session_id, &o->ended);
}

static void logout_others_resume(idd_request_t *r, void *arg, int rc)
{
    conn_op_t *o = arg;
    if (op_failed(r, o, rc))
        return;
    idd_log_info("user %s ended %d other sessions", o->user_id, o->ended);
    char name[2 * IDD_NAME_MAX + 2];
    idd_user_display_name(&o->p->user, name, sizeof(name));
    idd_respond_string(r->req, r->origin, name);
}

void idd_api_connections_logout_others(idd_request_t *r, idd_principal_t *p)
{
    conn_op_t *o = conn_op_new(r, p);
    o->session_id = p->session_id;
    idd_store_read(r, logout_others_load, logout_others_resume, o, conn_op_release);
}

/* ---- every session of a user (tenant admins) ---- */

static int logout_user_load(idd_store_t *store, void *arg)
{
    conn_op_t *o = arg;
    idd_user_t target;
    o->what = "user lookup";
    int rc = idd_store_user_by_id(store, o->user_id, &target);
    if (rc == 0)
        idd_wipe(target.password, sizeof(target.password));
    if (rc == IDD_ENOTFOUND || (rc == 0 && target.tenant_id != o->tenant_id)) {
        o->not_found = true;
        return 0;
    }
    if (rc != 0)
        return rc;
    memcpy(o->user_id, target.id, sizeof(o->user_id));
    o->what = "end user";
    return idd_store_session_end_user(store, o->user_id, 0, &o->ended);
}

static void logout_user_resume(idd_request_t *r, void *arg, int rc)
{
    conn_op_t *o = arg;
    if (o->not_found) {
        idd_respond_error(r->req, 404, "User not found");
        return;
    }
    if (op_failed(r, o, rc))
        return;
    idd_log_info("admin %s ended %d sessions of user %s", o->p->user.id, o->ended, o->user_id);
    if (strcmp(o->user_id, o->p->user.id) == 0 && r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_bool(r->req, r->origin, true);
}

void idd_api_connections_logout_user(idd_request_t *r, idd_principal_t *p)
{
    if (p->user.role != IDD_ROLE_ADMIN) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    char user_id[IDD_GUID_LEN + 1];
    if (!idd_request_guid_param(r, 0, user_id)) {
        idd_respond_error(r->req, 404, "User not found");
        return;
    }
    conn_op_t *o = conn_op_new(r, p);
    memcpy(o->user_id, user_id, sizeof(o->user_id));
    idd_store_read(r, logout_user_load, logout_user_resume, o, conn_op_release);
}

/* ---- every session of the caller, and a new password before the next sign-in ---- */

static int change_password_load(idd_store_t *store, void *arg)
{
    conn_op_t *o = arg;
    o->what = "password change";
    int rc = idd_store_user_set_password_change(store, o->user_id, 1);
    if (rc == 0)
        rc = idd_store_session_end_user(store, o->user_id, 0, &o->ended);
    return rc;
}

static void change_password_resume(idd_request_t *r, void *arg, int rc)
{
    conn_op_t *o = arg;
    if (op_failed(r, o, rc))
        return;
    idd_log_info("user %s ended %d sessions; password change required", o->user_id, o->ended);
    if (r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_string(r->req, r->origin,
                       "All sessions ended. A new password must be set before the next sign-in.");
}

void idd_api_connections_logout_change_password(idd_request_t *r, idd_principal_t *p)
{
    conn_op_t *o = conn_op_new(r, p);
    idd_store_read(r, change_password_load, change_password_resume, o, conn_op_release);
}
