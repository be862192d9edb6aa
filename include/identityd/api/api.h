/*
 * The API handlers, one file per resource under src/api/, and the route table that maps an
 * exact method and path onto them (src/http/router.c). A handler owns the response from the
 * moment it is called: it answers, or arranges to answer later, exactly once.
 */
#ifndef IDENTITYD_API_H
#define IDENTITYD_API_H

#include "identityd/http/server.h"

typedef void (*idd_api_handler_fn)(idd_request_t *r);

/* How much of the request context a route needs before its handler runs. */
typedef enum {
    IDD_ROUTE_PLAIN = 0, /* nothing: health, JWKS */
    IDD_ROUTE_TENANT,    /* the tenant resolved from the host (404 when none) */
} idd_route_kind_t;

typedef struct idd_route {
    const char *method;  /* "GET", "POST", ... */
    const char *path;    /* exact; "{name}" matches one non-empty segment */
    idd_route_kind_t kind;
    idd_api_handler_fn handler;
} idd_route_t;

/* GET /api/2.0/security/oauth2/token (api/token.c) */
void idd_api_token(idd_request_t *r);
/* GET /.well-known/jwks.json (api/wellknown.c) */
void idd_api_jwks(idd_request_t *r);
/* POST, GET /api/2.0/authentication; POST /api/2.0/authentication/logout;
 * GET /api/2.0/settings (api/authentication.c) */
void idd_api_signin(idd_request_t *r);
void idd_api_is_signed_in(idd_request_t *r);
void idd_api_sign_out(idd_request_t *r);
void idd_api_settings(idd_request_t *r);
/* /api/2.0/security/activeconnections... (api/connections.c) */
void idd_api_connections_list(idd_request_t *r);
void idd_api_connections_logout(idd_request_t *r);
void idd_api_connections_logout_others(idd_request_t *r);
void idd_api_connections_logout_user(idd_request_t *r);
void idd_api_connections_logout_change_password(idd_request_t *r);
/* /api/2.0/keys... (api/keys.c) */
void idd_api_keys_create(idd_request_t *r);
void idd_api_keys_list(idd_request_t *r);
void idd_api_keys_permissions(idd_request_t *r);
void idd_api_keys_self(idd_request_t *r);
void idd_api_keys_update(idd_request_t *r);
void idd_api_keys_delete(idd_request_t *r);
/* GET /health and GET /metrics (api/health.c) */
void idd_api_health(idd_request_t *r);
void idd_api_metrics(idd_request_t *r);

/* The h2o handler that routes every request (http/router.c): registers itself on "/". */
void idd_router_register(h2o_hostconf_t *hostconf);

/* Resolves r's tenant, scheme, host and tenant_url from the request (Host or :authority,
 * X-Forwarded-* from trusted proxies, ?origin=). Returns 0, or sends 400/404 and returns -1. */
int idd_request_resolve_tenant(idd_request_t *r);

#endif
