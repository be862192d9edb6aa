/*
 * The one h2o handler identityd registers. For each request, in this order: the framing
 * (http/framing.c: one Host, one unambiguous body length); the header and
 * body limits; the route, by exact path and method (h2o's own path registration matches
 * prefixes, which is not what an API wants); the request context and, when the route
 * addresses one, the tenant; authentication as the route's policy says; the handler.
 * Unknown paths get 404 and known paths with another method 405, both in the error envelope.
 */
#include "identityd/api/api.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identityd/core/common.h"
#include "identityd/core/log.h"
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

/* ---- each request's context, its id, and what is noted once it is answered ---- */

#define REQUEST_ENV "identityd.request" /* where a request's context is found again */
#define REQUEST_ID_MAX 128

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A client's X-Request-Id is kept when it is 1 to REQUEST_ID_MAX characters that cannot
 * break a log line or a header: letters, digits and - _ . : @ + = / */
static bool request_id_sane(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':' || c == '@' || c == '+' ||
                  c == '=' || c == '/';
        if (!ok)
            return false;
    }
    return true;
}

/* The request's id: the client's when sane, else 16 hex digits from this loop's random base
 * and count; echoed in the response's X-Request-Id. */
static h2o_iovec_t request_id(h2o_req_t *req, idd_thread_t *t)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i != -1 && request_id_sane(req->headers.entries[i].value) &&
        h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), i) == -1)
        return req->headers.entries[i].value;
    static const char hex[] = "0123456789abcdef";
    uint64_t v = t->request_id_base + ++t->request_id_count;
    char *id = h2o_mem_alloc_pool(&req->pool, 16);
    for (int k = 15; k >= 0; k--, v >>= 4)
        id[k] = hex[v & 15];
    return h2o_iovec_init(id, 16);
}

/* The context every request gets on arrival, before anything may refuse it. */
static idd_request_t *request_begin(h2o_req_t *req, idd_thread_t *t, idd_gen_t *gen)
{
    idd_request_t *r = idd_request_new(req, t, gen);
    r->started_ns = monotonic_ns();
    r->route_slot = IDD_METRICS_ROUTE_OTHER;
    r->metrics_scheme = -1;
    r->request_id = request_id(req, r->thread);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          r->request_id.base, r->request_id.len);
    *h2o_req_getenv(req, H2O_STRLIT(REQUEST_ENV), 1) = h2o_iovec_init(r, sizeof(*r));
    return r;
}

/* h2o's logger hook: runs once per request, after its response was sent (or its client
 * left), on its loop. */
static void request_end(h2o_logger_t *self, h2o_req_t *req)
{
    (void)self;
    h2o_iovec_t *slot = h2o_req_getenv(req, H2O_STRLIT(REQUEST_ENV), 0);
    if (slot == NULL || slot->len != sizeof(idd_request_t))
        return;
    idd_request_t *r = (idd_request_t *)slot->base;
    int64_t ns = monotonic_ns() - r->started_ns;
    if (ns < 0)
        ns = 0;
    idd_thread_metrics_t *m = r->thread->metrics;
    int route = r->route_slot;
    if (m != NULL) {
        idd_metrics_add(&m->requests[route][idd_metrics_status_slot(req->res.status)], 1);
        idd_metrics_add(&m->latency[route][idd_metrics_bucket(ns)], 1);
        atomic_store_explicit(&m->latency_ns[route],
                              atomic_load_explicit(&m->latency_ns[route], memory_order_relaxed) +
                                  (unsigned long long)ns,
                              memory_order_relaxed);
    }
    if (!r->gen->cfg->log_access)
        return;
    size_t path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const idd_log_access_t line = {
        .request_id = r->request_id.base,
        .request_id_len = r->request_id.len,
        .client = r->client_ip[0] != '\0' ? r->client_ip : NULL,
        .method = req->method.base,
        .method_len = req->method.len,
        .path = req->path.base,
        .path_len = path_len,
        .status = req->res.status,
        .scheme = r->metrics_scheme >= 0 ? idd_metrics_scheme_names[r->metrics_scheme] : NULL,
        .user = r->user_id,
        .tenant = r->tenant != NULL ? (long long)r->tenant->id : 0,
        .seconds = (double)ns / 1e9,
    };
    idd_log_access(&line);
}

/* The socket peer's address (h2o keeps it once asked). */
static void peer_address(idd_request_t *r)
{
    struct sockaddr_storage ss;
    socklen_t len = r->req->conn->callbacks->get_peername(r->req->conn, (struct sockaddr *)&ss);
    if (len == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, r->client_ip,
                  sizeof(r->client_ip));
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, r->client_ip,
                  sizeof(r->client_ip));
}

static bool serves_route(const idd_router_t *router, const idd_config_t *cfg,
                         const idd_route_t *route)
{
    bool is_metrics = route->handler == idd_api_metrics;
    if (router->metrics_only)
        return is_metrics;
    return !(is_metrics && cfg->metrics_listen_set);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    idd_router_t *router = (idd_router_t *)self;
    idd_thread_t *t = idd_thread_of(req);
    idd_gen_t *gen = idd_thread_gen(t); /* held by the loop for the rest of this call */
    const idd_config_t *cfg = gen->cfg;
    idd_request_t *r = request_begin(req, t, gen);
    /* The access line names the peer; a tenant's route then resolves the client proper. */
    if (cfg->log_access)
        peer_address(r);

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
        if (!serves_route(router, cfg, candidate) ||
            !idd_route_match(candidate->path, req->path_normalized, params, &n))
            continue;
        if (method_is(req, candidate->method)) {
            route = candidate;
            n_params = n;
            r->route_slot = (int)i + 1;
            break;
        }
        size_t used = strlen(allow), mlen = strlen(candidate->method);
        if (used + mlen + 3 < sizeof(allow)) {
            if (used != 0) {
                memcpy(allow + used, ", ", 2);
                used += 2;
            }
            memcpy(allow + used, candidate->method, mlen + 1);
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
                                  const idd_route_t *routes, size_t n_routes, bool metrics_only)
{
    if (n_routes + 1 > IDD_METRICS_ROUTES) {
        idd_log_error("router: %zu routes, /metrics counts at most %d", n_routes,
                      IDD_METRICS_ROUTES - 1);
        abort();
    }
    /* Once, on the main thread, before any loop parses a request. */
    idd_framing_init();
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    idd_router_t *router = (idd_router_t *)h2o_create_handler(pathconf, sizeof(*router));
    router->super.on_req = on_req;
    router->app = app;
    router->routes = routes;
    router->n_routes = n_routes;
    router->metrics_only = metrics_only;
    h2o_logger_t *logger = h2o_create_logger(pathconf, sizeof(*logger));
    logger->log_access = request_end;
    return router;
}
