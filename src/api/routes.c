/*
 * Every route identityd serves, with what it needs before its handler runs. Adding a route
 * is one line here and a handler in the resource's file (src/ARCHITECTURE.md).
 */
#include "identityd/api/api.h"

#include "identityd/core/common.h"

#define ACCOUNTS_READ "accounts:read"
#define ACCOUNTS_WRITE "accounts:write"
#define ACCOUNTS_SELF_READ "accounts.self:read" /* also granted by accounts:read, *:read */
/* IDD_AUTH_CONFIRM routes name the confirm types they take (auth/tfa.h). */
#define TFA_ACTIVATION "TfaActivation"
#define TFA_ANY "TfaActivation TfaAuth"

/* clang-format off */
const idd_route_t idd_routes[] = {
    /* method  path                                                           tenant               auth               scope               handler */
    {"GET",    "/api/2.0/security/oauth2/token",                              IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, IDD_SCOPE_ALL_READ, idd_api_token},
    {"POST",   "/api/2.0/authentication",                                     IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_signin},
    {"GET",    "/api/2.0/authentication",                                     IDD_TENANT_REQUIRED, IDD_AUTH_OPTIONAL, NULL,               idd_api_is_signed_in},
    {"POST",   "/api/2.0/authentication/logout",                              IDD_TENANT_REQUIRED, IDD_AUTH_OPTIONAL, NULL,               idd_api_sign_out},
    {"GET",    "/api/2.0/settings",                                           IDD_TENANT_REQUIRED, IDD_AUTH_OPTIONAL, NULL,               idd_api_settings},
    {"GET",    "/api/2.0/security/activeconnections",                         IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_READ,      idd_api_connections_list},
    {"PUT",    "/api/2.0/security/activeconnections/logout/{loginEventId}",   IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_connections_logout},
    {"PUT",    "/api/2.0/security/activeconnections/logoutallexceptthis",     IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_connections_logout_others},
    {"PUT",    "/api/2.0/security/activeconnections/logoutall/{userId}",      IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_connections_logout_user},
    {"PUT",    "/api/2.0/security/activeconnections/logoutallchangepassword", IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_connections_logout_change_password},
    {"POST",   "/api/2.0/keys",                                               IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_keys_create},
    {"GET",    "/api/2.0/keys",                                               IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_keys_list},
    {"GET",    "/api/2.0/keys/permissions",                                   IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, IDD_SCOPE_ANY,      idd_api_keys_permissions},
    {"GET",    "/api/2.0/keys/@self",                                         IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, IDD_SCOPE_ANY,      idd_api_keys_self},
    {"PUT",    "/api/2.0/keys/{keyId}",                                       IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_keys_update},
    {"DELETE", "/api/2.0/keys/{keyId}",                                       IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_keys_delete},
    {"POST",   "/api/2.0/authentication/confirm",                             IDD_TENANT_REQUIRED, IDD_AUTH_OPTIONAL, NULL,               idd_api_auth_confirm},
    {"POST",   "/api/2.0/authentication/{code}",                              IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_signin_code},
    {"GET",    "/api/2.0/settings/tfaapp",                                    IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, IDD_SCOPE_ANY,      idd_api_tfa_settings},
    {"PUT",    "/api/2.0/settings/tfaapp",                                    IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_settings_put},
    {"PUT",    "/api/2.0/settings/tfaappwithlink",                            IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_settings_put_link},
    {"GET",    "/api/2.0/settings/tfaapp/confirm",                            IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_confirm_link},
    {"GET",    "/api/2.0/settings/tfaapp/setup",                              IDD_TENANT_REQUIRED, IDD_AUTH_CONFIRM,  TFA_ACTIVATION,     idd_api_tfa_setup},
    {"POST",   "/api/2.0/settings/tfaapp/validate",                           IDD_TENANT_REQUIRED, IDD_AUTH_CONFIRM,  TFA_ANY,            idd_api_tfa_validate},
    {"GET",    "/api/2.0/settings/tfaappcodes",                               IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_codes},
    {"PUT",    "/api/2.0/settings/tfaappnewcodes",                            IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_new_codes},
    {"PUT",    "/api/2.0/settings/tfaappnewapp",                              IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_WRITE,     idd_api_tfa_new_app},
    {"GET",    "/api/2.0/people/@self",                                       IDD_TENANT_REQUIRED, IDD_AUTH_REQUIRED, ACCOUNTS_SELF_READ, idd_api_people_self},
    {"GET",    "/api/2.0/capabilities",                                       IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_capabilities},
    {"GET",    "/api/2.0/capabilities.json",                                  IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_capabilities},
    {"GET",    "/api/2.0/settings/colortheme",                                IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_colortheme},
    {"GET",    "/api/2.0/settings/ssov2",                                     IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_ssov2},
    {"GET",    "/api/2.0/settings/cultures",                                  IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_cultures},
    {"GET",    "/api/2.0/people/thirdparty/providers",                        IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_thirdparty_providers},
    {"GET",    "/.well-known/jwks.json",                                      IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_jwks},
    {"GET",    "/.well-known/openid-configuration",                           IDD_TENANT_REQUIRED, IDD_AUTH_NONE,     NULL,               idd_api_openid_configuration},
    {"GET",    "/health",                                                     IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_health},
    {"GET",    "/healthz",                                                    IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_healthz},
    {"GET",    "/readyz",                                                     IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_readyz},
    {"GET",    "/metrics",                                                    IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_metrics},
    {"GET",    "/login",                                                      IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_login_page},
    {"GET",    "/login/login.js",                                             IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_login_script},
    {"GET",    "/login/login.css",                                            IDD_TENANT_NONE,     IDD_AUTH_NONE,     NULL,               idd_api_login_style},
};
/* clang-format on */

const size_t idd_routes_count = IDD_ARRAY_LEN(idd_routes);
