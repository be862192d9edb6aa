/*
 * The one h2o handler identityd registers: it enforces the header and body limits, finds
 * the route by exact path and method (h2o's own path registration matches prefixes, which
 * is not what an API wants), builds the request context and calls the API handler.
 * Unknown paths get 404 and known paths with another method 405, both in the error envelope.
 */
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/api/api.h"
#include "identityd/http/respond.h"

static const idd_route_t routes[] = {
    {"GET", "/api/2.0/security/oauth2/token", IDD_ROUTE_TENANT, idd_api_token},
    {"POST", "/api/2.0/authentication", IDD_ROUTE_TENANT, idd_api_signin},
    {"GET", "/api/2.0/authentication", IDD_ROUTE_TENANT, idd_api_is_signed_in},
    {"POST", "/api/2.0/authentication/logout", IDD_ROUTE_TENANT, idd_api_sign_out},
    {"GET", "/api/2.0/settings", IDD_ROUTE_TENANT, idd_api_settings},
    {"GET", "/api/2.0/security/activeconnections", IDD_ROUTE_TENANT, idd_api_connections_list},
    {"PUT", "/api/2.0/security/activeconnections/logout/{loginEventId}", IDD_ROUTE_TENANT,
     idd_api_connections_logout},
    {"PUT", "/api/2.0/security/activeconnections/logoutallexceptthis", IDD_ROUTE_TENANT,
     idd_api_connections_logout_others},
    {"PUT", "/api/2.0/security/activeconnections/logoutall/{userId}", IDD_ROUTE_TENANT,
     idd_api_connections_logout_user},
    {"PUT", "/api/2.0/security/activeconnections/logoutallchangepassword", IDD_ROUTE_TENANT,
     idd_api_connections_logout_change_password},
    {"POST", "/api/2.0/keys", IDD_ROUTE_TENANT, idd_api_keys_create},
    {"GET", "/api/2.0/keys", IDD_ROUTE_TENANT, idd_api_keys_list},
    {"GET", "/api/2.0/keys/permissions", IDD_ROUTE_TENANT, idd_api_keys_permissions},
    {"GET", "/api/2.0/keys/@self", IDD_ROUTE_TENANT, idd_api_keys_self},
    {"PUT", "/api/2.0/keys/{keyId}", IDD_ROUTE_TENANT, idd_api_keys_update},
    {"DELETE", "/api/2.0/keys/{keyId}", IDD_ROUTE_TENANT, idd_api_keys_delete},
    {"GET", "/.well-known/jwks.json", IDD_ROUTE_PLAIN, idd_api_jwks},
    {"GET", "/health", IDD_ROUTE_PLAIN, idd_api_health},
    {"GET", "/metrics", IDD_ROUTE_PLAIN, idd_api_metrics},
};

/* Matches path against pattern; "{x}" matches one non-empty segment, captured in params. */
static int path_matches(const char *pattern, h2o_iovec_t path, h2o_iovec_t *params, size_t *n_params)
{
    size_t i = 0, n = 0;
    const char *p = pattern;
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t start = i;
            while (i < path.len && path.base[i] != '/')
                i++;
            if (i == start || n >= IDD_ROUTE_MAX_PARAMS)
                return 0;
            params[n++] = h2o_iovec_init(path.base + start, i - start);
            p = close + 1;
            continue;
        }
        if (i >= path.len || path.base[i] != *p)
            return 0;
        i++;
        p++;
    }
    if (i != path.len)
        return 0;
    *n_params = n;
    return 1;
}

/* Bytes of the request head as a client sent it, near enough to bound it. */
static size_t header_bytes(const h2o_req_t *req)
{
    size_t total = req->method.len + req->path.len + req->authority.len + 16;
    for (size_t i = 0; i < req->headers.size; i++)
        total += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return total;
}

static int method_is(const h2o_req_t *req, const char *method)
{
    /* HEAD is served by the GET route; h2o leaves the body out. */
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
        return strcmp(method, "GET") == 0;
    return h2o_memis(req->method.base, req->method.len, method, strlen(method));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    idd_thread_t *thread = idd_thread_of(req);
    const idd_config_t *cfg = thread->app->cfg;

    if (header_bytes(req) > cfg->max_header_bytes) {
        idd_respond_error(req, 431, "Request header fields too large");
        return 0;
    }
    if (req->entity.base != NULL && req->entity.len > cfg->max_body_bytes) {
        idd_respond_error(req, 413, "Request body too large");
        return 0;
    }

    const idd_route_t *route = NULL;
    h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
    size_t n_params = 0;
    char allow[64] = "";
    for (size_t i = 0; i < IDD_ARRAY_LEN(routes); i++) {
        size_t n = 0;
        if (!path_matches(routes[i].path, req->path_normalized, params, &n))
            continue;
        if (method_is(req, routes[i].method)) {
            route = &routes[i];
            n_params = n;
            break;
        }
        if (strlen(allow) + strlen(routes[i].method) + 3 < sizeof(allow)) {
            if (allow[0] != '\0')
                strcat(allow, ", ");
            strcat(allow, routes[i].method);
        }
    }
    if (route == NULL) {
        if (allow[0] != '\0') {
            idd_respond_header(req, "allow", allow);
            idd_respond_error(req, 405, "Method not allowed");
        } else {
            idd_respond_error(req, 404, "Not found");
        }
        return 0;
    }

    idd_request_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->thread = thread;
    r->app = thread->app;
    memcpy(r->params, params, sizeof(params));
    r->n_params = n_params;
    if (route->kind == IDD_ROUTE_TENANT) {
        if (idd_request_resolve_tenant(r) != 0)
            return 0;
        if (r->tenant == NULL) {
            idd_respond_error(req, 404, "Unknown portal");
            return 0;
        }
    }
    route->handler(r);
    return 0;
}

void idd_router_register(h2o_hostconf_t *hostconf)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = on_req;
}
