/*
 * /api/2.0/security/activeconnections: a user's own sign-in sessions, and ending them —
 * one, all but the current one, all of a user (tenant admins), or all with a password
 * change required before the next sign-in.
 */
#include <stdlib.h>
#include <string.h>

#include "identityd/api/api.h"
#include "identityd/auth/auth.h"
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

void idd_api_connections_list(idd_request_t *r, idd_principal_t *p)
{
    idd_buf_t items, b;
    idd_buf_init(&items);
    idd_buf_init(&b);
    listing_t l = {&items, 0, r->tenant->tz};
    int rc = idd_store_session_list_user(r->thread->store, p->user.id, idd_now(), list_one, &l);
    if (rc != 0) {
        store_failed(r, "list", rc);
        goto done;
    }
    idd_buf_puts(&b, "{\"loginEvent\":");
    idd_buf_json_int(&b, p->session_id);
    idd_buf_puts(&b, ",\"items\":[");
    if (items.len > 0)
        idd_buf_append(&b, items.data, items.len);
    idd_buf_puts(&b, "]}");
    idd_respond_envelope(r->req, r->origin, 200, b.data, b.len, l.count);
done:
    idd_buf_dispose(&items);
    idd_buf_dispose(&b);
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

void idd_api_connections_logout(idd_request_t *r, idd_principal_t *p)
{
    int64_t id = 0;
    idd_session_t s;
    if (parse_id(r->params[0], &id) != 0) {
        idd_respond_error(r->req, 400, "Invalid login event id");
        return;
    }
    int rc = idd_store_session_by_id(r->thread->store, id, &s);
    if (rc == IDD_ENOTFOUND || (rc == 0 && s.tenant_id != r->tenant->id)) {
        idd_respond_error(r->req, 404, "Login event not found");
        return;
    }
    if (rc != 0) {
        store_failed(r, "lookup", rc);
        return;
    }
    /* Anyone may end their own sessions; ending another user's takes a tenant admin. */
    if (strcmp(s.user_id, p->user.id) != 0 && p->user.role != IDD_ROLE_ADMIN) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    rc = idd_store_session_end(r->thread->store, id);
    if (rc != 0) {
        store_failed(r, "end", rc);
        return;
    }
    idd_log_info("session %lld ended by user %s", (long long)id, p->user.id);
    if (id == p->session_id && r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_bool(r->req, r->origin, true);
}

void idd_api_connections_logout_others(idd_request_t *r, idd_principal_t *p)
{
    int ended = 0;
    int rc = idd_store_session_end_user(r->thread->store, p->user.id, p->session_id, &ended);
    if (rc != 0) {
        store_failed(r, "end others", rc);
        return;
    }
    idd_log_info("user %s ended %d other sessions", p->user.id, ended);
    char name[2 * IDD_NAME_MAX + 2];
    idd_user_display_name(&p->user, name, sizeof(name));
    idd_respond_string(r->req, r->origin, name);
}

void idd_api_connections_logout_user(idd_request_t *r, idd_principal_t *p)
{
    if (p->user.role != IDD_ROLE_ADMIN) {
        idd_respond_error(r->req, 403, "Access denied");
        return;
    }
    char user_id[IDD_GUID_LEN + 1];
    idd_user_t target;
    int rc = IDD_ENOTFOUND;
    if (idd_request_guid_param(r, 0, user_id))
        rc = idd_store_user_by_id(r->thread->store, user_id, &target);
    if (rc == IDD_ENOTFOUND || (rc == 0 && target.tenant_id != r->tenant->id)) {
        idd_respond_error(r->req, 404, "User not found");
        return;
    }
    if (rc != 0) {
        store_failed(r, "user lookup", rc);
        return;
    }
    int ended = 0;
    rc = idd_store_session_end_user(r->thread->store, target.id, 0, &ended);
    if (rc != 0) {
        store_failed(r, "end user", rc);
        return;
    }
    idd_log_info("admin %s ended %d sessions of user %s", p->user.id, ended, target.id);
    if (strcmp(target.id, p->user.id) == 0 && r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_bool(r->req, r->origin, true);
}

void idd_api_connections_logout_change_password(idd_request_t *r, idd_principal_t *p)
{
    idd_store_t *store = r->thread->store;
    int ended = 0;
    int rc = idd_store_user_set_password_change(store, p->user.id, 1);
    if (rc == 0)
        rc = idd_store_session_end_user(store, p->user.id, 0, &ended);
    if (rc != 0) {
        store_failed(r, "password change", rc);
        return;
    }
    idd_log_info("user %s ended %d sessions; password change required", p->user.id, ended);
    if (r->auth_from_cookie)
        idd_cookie_clear_session(r->req, r->https);
    idd_respond_string(r->req, r->origin,
                       "All sessions ended. A new password must be set before the next sign-in.");
}
