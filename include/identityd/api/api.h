/*
 * The API: one route table (api/routes.c) says, for every route, its method and path, whether
 * it addresses a tenant, what authentication it needs, and its handler; the router
 * (api/router.c) does the rest in that order: limits, route, tenant, authentication, handler.
 * A handler owns the response from the moment it is called: it answers, or arranges to
 * answer later, exactly once. Handlers live one file per resource under src/api/.
 */
#ifndef IDENTITYD_API_API_H
#define IDENTITYD_API_API_H

#include <h2o.h>

#include "identityd/app/app.h"
#include "identityd/auth/auth.h"

/* Whether a route addresses a tenant. */
typedef enum {
    IDD_TENANT_NONE = 0, /* no: health, metrics, JWKS (no Host needed) */
    IDD_TENANT_REQUIRED, /* the tenant comes from the host; 404 when none matches */
} idd_tenant_rule_t;

typedef struct idd_route {
    const char *method;       /* "GET", "POST", ...; a GET route serves HEAD too */
    const char *path;         /* exact; "{name}" matches one non-empty segment */
    idd_tenant_rule_t tenant; /* IDD_TENANT_REQUIRED whenever auth is not NONE */
    idd_auth_policy_t auth;
    const char *scope;        /* REQUIRED: what the principal's scopes must grant (IDD_SCOPE_ANY);
                               * CONFIRM: the confirm types taken, space-separated */
    idd_auth_next_fn handler; /* gets the principal, or NULL (NONE; OPTIONAL without one) */
} idd_route_t;

/* The route table, in match order. */
extern const idd_route_t idd_routes[];
extern const size_t idd_routes_count;

/* The h2o handler that routes every request. */
typedef struct idd_router {
    h2o_handler_t super; /* first: h2o calls on_req with this */
    idd_app_t *app;
    const idd_route_t *routes;
    size_t n_routes;
    bool metrics_only; /* the metrics_listen listener: GET /metrics and nothing else */
} idd_router_t;

/* Registers the router for every path of hostconf, and makes h2o keep what the framing
 * checks read (idd_framing_init): call on the main thread before any loop serves. With
 * metrics_only, the router serves GET /metrics alone (the metrics_listen listener); without
 * it, every route but GET /metrics when metrics_listen is configured. Each answered request
 * is counted for /metrics and, with log.access, logged once its response has been sent. */
idd_router_t *idd_router_register(h2o_hostconf_t *hostconf, idd_app_t *app,
                                  const idd_route_t *routes, size_t n_routes, bool metrics_only);

/* Matches path against pattern ("{x}" is one non-empty segment), capturing at most
 * IDD_ROUTE_MAX_PARAMS segments into params. Returns 1 on a match. */
int idd_route_match(const char *pattern, h2o_iovec_t path, h2o_iovec_t *params, size_t *n_params);

/* ---- handlers ---- */

/* GET /api/2.0/security/oauth2/token (api/token.c) */
void idd_api_token(idd_request_t *r, idd_principal_t *p);
/* GET /.well-known/jwks.json (api/wellknown.c) */
void idd_api_jwks(idd_request_t *r, idd_principal_t *p);
/* GET /.well-known/openid-configuration, per tenant (api/wellknown.c) */
void idd_api_openid_configuration(idd_request_t *r, idd_principal_t *p);
/* POST, GET /api/2.0/authentication; POST /api/2.0/authentication/logout;
 * GET /api/2.0/settings (api/authentication.c) */
void idd_api_signin(idd_request_t *r, idd_principal_t *p);
void idd_api_is_signed_in(idd_request_t *r, idd_principal_t *p);
void idd_api_sign_out(idd_request_t *r, idd_principal_t *p);
void idd_api_settings(idd_request_t *r, idd_principal_t *p);
/* POST /api/2.0/authentication/{code}: the second step of a two-factor sign-in, the SDK's
 * way (api/authentication.c) */
void idd_api_signin_code(idd_request_t *r, idd_principal_t *p);
/* Two-factor sign-in (api/tfa.c) */
void idd_api_auth_confirm(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_setup(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_validate(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_settings(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_settings_put(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_settings_put_link(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_confirm_link(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_codes(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_new_codes(idd_request_t *r, idd_principal_t *p);
void idd_api_tfa_new_app(idd_request_t *r, idd_principal_t *p);
/* /api/2.0/security/activeconnections... (api/connections.c) */
void idd_api_connections_list(idd_request_t *r, idd_principal_t *p);
void idd_api_connections_logout(idd_request_t *r, idd_principal_t *p);
void idd_api_connections_logout_others(idd_request_t *r, idd_principal_t *p);
void idd_api_connections_logout_user(idd_request_t *r, idd_principal_t *p);
void idd_api_connections_logout_change_password(idd_request_t *r, idd_principal_t *p);
/* /api/2.0/keys... (api/keys.c) */
void idd_api_keys_create(idd_request_t *r, idd_principal_t *p);
void idd_api_keys_list(idd_request_t *r, idd_principal_t *p);
void idd_api_keys_permissions(idd_request_t *r, idd_principal_t *p);
void idd_api_keys_self(idd_request_t *r, idd_principal_t *p);
void idd_api_keys_update(idd_request_t *r, idd_principal_t *p);
void idd_api_keys_delete(idd_request_t *r, idd_principal_t *p);
/* GET /api/2.0/people/@self (api/people.c) */
void idd_api_people_self(idd_request_t *r, idd_principal_t *p);
/* What DocSpace's login page reads besides sign-in and settings (api/loginpage.c):
 * GET /api/2.0/capabilities(.json), /settings/colortheme, /settings/ssov2,
 * /settings/cultures, /people/thirdparty/providers */
void idd_api_capabilities(idd_request_t *r, idd_principal_t *p);
void idd_api_colortheme(idd_request_t *r, idd_principal_t *p);
void idd_api_ssov2(idd_request_t *r, idd_principal_t *p);
void idd_api_cultures(idd_request_t *r, idd_principal_t *p);
void idd_api_thirdparty_providers(idd_request_t *r, idd_principal_t *p);
/* GET /health and GET /metrics (api/health.c) */
void idd_api_health(idd_request_t *r, idd_principal_t *p);
/* GET /healthz (liveness), /readyz (readiness) (api/health.c) */
void idd_api_healthz(idd_request_t *r, idd_principal_t *p);
void idd_api_readyz(idd_request_t *r, idd_principal_t *p);
void idd_api_metrics(idd_request_t *r, idd_principal_t *p);

/* GET /login, /login/login.js, /login/login.css: the sign-in page (api/web.c), read at start
 * from the files installed with identityd (src/web/). */
void idd_api_login_page(idd_request_t *r, idd_principal_t *p);
void idd_api_login_script(idd_request_t *r, idd_principal_t *p);
void idd_api_login_style(idd_request_t *r, idd_principal_t *p);
/* Reads the page's files from dir. Returns 0, or IDD_EIO with "PATH: why" in err. */
int idd_web_load(const char *dir, idd_web_t **out, char *err, size_t errlen);
void idd_web_free(idd_web_t *w);
/* The families of /metrics kept per loop and by the modules (api/metrics.c). */
struct idd_buf;
void idd_api_metrics_write(idd_app_t *app, const idd_gen_t *gen, struct idd_buf *b);

#endif
