/*
 * What DocSpace's login page reads besides signing in and /settings: the capabilities of the
 * portal (which sign-in buttons to show) and a few cosmetic calls (colour theme, SSO page
 * settings, social providers, cultures). identityd offers none of LDAP, SSO, social sign-in
 * or OAuth-app management, so every answer is a constant that says so; they are served only
 * so that the page never stops on an error. All are open to anonymous callers, as in
 * DocSpace, and tell nothing about users or the configuration.
 */
#include "identityd/api/api.h"
#include "identityd/http/respond.h"

#define CONST_JSON(name, text) static const char name[] = text

/* CapabilitiesDto. oauthEnabled means "social sign-in allowed": identityd has no social
 * providers, so false (DocSpace's standalone default of true only matters with providers
 * to list). identityServerEnabled false: identityd manages no OAuth apps. */
CONST_JSON(capabilities, "{\"ldapEnabled\":false,\"providers\":[],\"ssoLabel\":\"\","
                         "\"oauthEnabled\":false,\"ssoUrl\":\"\",\"identityServerEnabled\":false}");

/* CustomColorThemesSettingsDto: DocSpace's first built-in theme, selected. */
CONST_JSON(colortheme, "{\"themes\":[{\"id\":1,\"name\":\"blue\","
                       "\"main\":{\"accent\":\"#4781D1\",\"buttons\":\"#5299E0\"},"
                       "\"text\":{\"accent\":\"#FFFFFF\",\"buttons\":\"#FFFFFF\"}}],"
                       "\"selected\":1,\"limit\":9}");

/* SsoSettingsV2 as DocSpace shows it to anonymous callers: no SSO, the sign-in page shown. */
CONST_JSON(ssov2, "{\"enableSso\":false,\"hideAuthPage\":false}");

/* The cultures identityd answers in: /settings says en-US. */
CONST_JSON(cultures, "[\"en-US\"]");

#define RESPOND_CONST(r, doc, count)                                                               \
    idd_respond_envelope((r)->req, (r)->origin, 200, (doc), sizeof(doc) - 1, (count))

/* GET /api/2.0/capabilities and /api/2.0/capabilities.json */
void idd_api_capabilities(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    RESPOND_CONST(r, capabilities, 1);
}

/* GET /api/2.0/settings/colortheme */
void idd_api_colortheme(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    RESPOND_CONST(r, colortheme, 1);
}

/* GET /api/2.0/settings/ssov2 */
void idd_api_ssov2(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    RESPOND_CONST(r, ssov2, 1);
}

/* GET /api/2.0/people/thirdparty/providers: no social providers, an empty list. */
void idd_api_thirdparty_providers(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    RESPOND_CONST(r, "[]", 0);
}

/* GET /api/2.0/settings/cultures */
void idd_api_cultures(idd_request_t *r, idd_principal_t *p)
{
    (void)p;
    RESPOND_CONST(r, cultures, 1);
}
