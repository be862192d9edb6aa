/*
 * The one h2o handler identityd registers. For each request, in this order: the framing
 * (http/framing.c: one Host, one unambiguous body length); the header and
 * body limits; the route, by exact path and method (h2o's own path registration matches
 * prefixes, which is not what an API wants); the request context and, when the route
 * addresses one, the tenant; authentication as the route's policy says; the handler.
 * Unknown paths get 404 and known paths with another method 405, both in the error envelope.
 */
#include "identityd/api/api.h"

#include <string.h>

#include "identityd/core/common.h"
#include "identityd/http/framing.h"
#include "identityd/http/respond.h"

int idd_route_match(const char *pattern, h2o_iovec_t path, h2o_iovec_t *params, size_t *n_params)
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
    idd_router_t *router = (idd_router_t *)self;
    idd_thread_t *t = idd_thread_of(req);
    idd_gen_t *gen = idd_thread_gen(t); /* held by the loop for the rest of this call */
    const idd_config_t *cfg = gen->cfg;

    /* Before anything reads a header: one Host, one way to find the body's end. */
    if (idd_framing_refuse(req))
        return 0;
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
    for (size_t i = 0; i < router->n_routes; i++) {
        const idd_route_t *candidate = &router->routes[i];
        size_t n = 0;
        if (!idd_route_match(candidate->path, req->path_normalized, params, &n))
            continue;
        if (method_is(req, candidate->method)) {
            route = candidate;
            n_params = n;
            break;
        }
        if (strlen(allow) + strlen(candidate->method) + 3 < sizeof(allow)) {
            if (allow[0] != '\0')
                strcat(allow, ", ");
            strcat(allow, candidate->method);
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

    idd_request_t *r = idd_request_new(req, t, gen);
    memcpy(r->params, params, sizeof(params));
    r->n_params = n_params;
    if (route->tenant == IDD_TENANT_REQUIRED) {
        if (idd_request_resolve(r) != 0)
            return 0;
        if (r->tenant == NULL) {
            idd_respond_error(req, 404, "Unknown portal");
            return 0;
        }
    }
    idd_auth_run(r, route->auth, route->scope, route->handler);
    return 0;
}

idd_router_t *idd_router_register(h2o_hostconf_t *hostconf, idd_app_t *app,
                                  const idd_route_t *routes, size_t n_routes)
{
    /* Once, on the main thread, before any loop parses a request. */
    idd_framing_init();
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    idd_router_t *router = (idd_router_t *)h2o_create_handler(pathconf, sizeof(*router));
    router->super.on_req = on_req;
    router->app = app;
    router->routes = routes;
    router->n_routes = n_routes;
    return router;
}
