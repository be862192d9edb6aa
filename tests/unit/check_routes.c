/*
 * The route table and the path matcher: every route that authenticates addresses a tenant
 * and says what it needs, no two routes answer the same method and path, and "{name}"
 * segments capture exactly one non-empty segment.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/api/api.h"
#include "identityd/auth/tfa.h"

static h2o_iovec_t iov(const char *s)
{
    return h2o_iovec_init(s, strlen(s));
}

static const idd_route_t *find(const char *method, const char *path)
{
    for (size_t i = 0; i < idd_routes_count; i++) {
        h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
        size_t n = 0;
        if (strcmp(idd_routes[i].method, method) == 0 &&
            idd_route_match(idd_routes[i].path, iov(path), params, &n))
            return &idd_routes[i];
    }
    return NULL;
}

START_TEST(authenticating_routes_address_a_tenant)
{
    ck_assert_uint_gt(idd_routes_count, 0);
    for (size_t i = 0; i < idd_routes_count; i++) {
        const idd_route_t *r = &idd_routes[i];
        ck_assert_ptr_nonnull(r->handler);
        /* authentication looks users up in the request's tenant */
        if (r->auth != IDD_AUTH_NONE)
            ck_assert_msg(r->tenant == IDD_TENANT_REQUIRED, "%s %s authenticates without a tenant",
                          r->method, r->path);
        /* a required credential always comes with the scope it must grant, a confirm key
         * with the confirm types it may be of, and only then */
        if (r->auth == IDD_AUTH_REQUIRED)
            ck_assert_msg(r->scope != NULL, "%s %s has no scope", r->method, r->path);
        else if (r->auth == IDD_AUTH_CONFIRM)
            ck_assert_msg(r->scope != NULL &&
                              idd_tfa_confirm_type(r->scope, strcspn(r->scope, " ")),
                          "%s %s takes no confirm type", r->method, r->path);
        else
            ck_assert_msg(r->scope == NULL, "%s %s has a scope it never checks", r->method,
                          r->path);
    }
}
END_TEST

/* /metrics keeps one slot per route plus "other"; the router refuses (aborts at start) a
 * table that does not fit, so a route added without room fails here first. */
START_TEST(routes_fit_the_metrics_slots)
{
    ck_assert_msg(idd_routes_count + 1 <= IDD_METRICS_ROUTES,
                  "%zu routes, /metrics has slots for %d", idd_routes_count,
                  IDD_METRICS_ROUTES - 1);
}
END_TEST

START_TEST(no_two_routes_share_method_and_path)
{
    for (size_t i = 0; i < idd_routes_count; i++)
        for (size_t j = i + 1; j < idd_routes_count; j++)
            ck_assert_msg(strcmp(idd_routes[i].method, idd_routes[j].method) != 0 ||
                              strcmp(idd_routes[i].path, idd_routes[j].path) != 0,
                          "%s %s is listed twice", idd_routes[i].method, idd_routes[i].path);
}
END_TEST

START_TEST(policies_of_the_contract)
{
    const idd_route_t *token = find("GET", "/api/2.0/security/oauth2/token");
    ck_assert_ptr_nonnull(token);
    ck_assert_int_eq(token->auth, IDD_AUTH_REQUIRED);
    ck_assert_str_eq(token->scope, IDD_SCOPE_ALL_READ);
    /* key management needs accounts:write, except what any credential may ask about itself */
    ck_assert_str_eq(find("POST", "/api/2.0/keys")->scope, "accounts:write");
    ck_assert_str_eq(find("DELETE", "/api/2.0/keys/abc")->scope, "accounts:write");
    ck_assert_str_eq(find("GET", "/api/2.0/keys/@self")->scope, IDD_SCOPE_ANY);
    /* signing in and the settings a login page reads are open to anonymous callers */
    ck_assert_int_eq(find("POST", "/api/2.0/authentication")->auth, IDD_AUTH_NONE);
    ck_assert_int_eq(find("GET", "/api/2.0/authentication")->auth, IDD_AUTH_OPTIONAL);
    /* optional: a signed-in caller gets the signed-in answer (reference §2) */
    ck_assert_int_eq(find("GET", "/api/2.0/settings")->auth, IDD_AUTH_OPTIONAL);
    /* who the caller is needs a credential that may read its own account (accounts.self:read,
     * which accounts:read and *:read grant too) */
    const idd_route_t *self = find("GET", "/api/2.0/people/@self");
    ck_assert_ptr_nonnull(self);
    ck_assert_int_eq(self->auth, IDD_AUTH_REQUIRED);
    ck_assert_str_eq(self->scope, "accounts.self:read");
    ck_assert_int_eq(self->tenant, IDD_TENANT_REQUIRED);
    /* what the login page reads before anyone signs in is anonymous, per tenant */
    static const char *const login_page[] = {
        "/api/2.0/capabilities",        "/api/2.0/capabilities.json",
        "/api/2.0/settings/colortheme", "/api/2.0/settings/ssov2",
        "/api/2.0/settings/cultures",   "/api/2.0/people/thirdparty/providers",
    };
    for (size_t i = 0; i < sizeof(login_page) / sizeof(login_page[0]); i++) {
        const idd_route_t *lp = find("GET", login_page[i]);
        ck_assert_msg(lp != NULL, "GET %s is not served", login_page[i]);
        ck_assert_int_eq(lp->auth, IDD_AUTH_NONE);
        ck_assert_int_eq(lp->tenant, IDD_TENANT_REQUIRED);
    }
    /* the key set and probes are served whatever the Host */
    ck_assert_int_eq(find("GET", "/.well-known/jwks.json")->tenant, IDD_TENANT_NONE);
    ck_assert_int_eq(find("GET", "/health")->tenant, IDD_TENANT_NONE);
    ck_assert_ptr_null(find("GET", "/api/2.0/nothing"));
}
END_TEST

START_TEST(match_captures_segments)
{
    h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
    size_t n = 99;
    ck_assert_int_eq(idd_route_match("/a/{x}/b/{y}", iov("/a/12/b/zz"), params, &n), 1);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(params[0].len, 2);
    ck_assert_int_eq(memcmp(params[0].base, "12", 2), 0);
    ck_assert_uint_eq(params[1].len, 2);
    ck_assert_int_eq(memcmp(params[1].base, "zz", 2), 0);
    ck_assert_int_eq(idd_route_match("/keys", iov("/keys"), params, &n), 1);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(match_is_exact)
{
    h2o_iovec_t params[IDD_ROUTE_MAX_PARAMS];
    size_t n = 0;
    /* an empty segment, a segment with a slash, prefixes and suffixes never match */
    ck_assert_int_eq(idd_route_match("/keys/{id}", iov("/keys/"), params, &n), 0);
    ck_assert_int_eq(idd_route_match("/keys/{id}", iov("/keys/a/b"), params, &n), 0);
    ck_assert_int_eq(idd_route_match("/keys", iov("/keys/"), params, &n), 0);
    ck_assert_int_eq(idd_route_match("/keys", iov("/key"), params, &n), 0);
    ck_assert_int_eq(idd_route_match("/keys", iov("/keysx"), params, &n), 0);
    ck_assert_int_eq(idd_route_match("/keys", iov(""), params, &n), 0);
    /* more captures than a request can hold is no match, not an overflow */
    ck_assert_int_eq(idd_route_match("/{a}/{b}/{c}", iov("/1/2/3"), params, &n), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("routes");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, authenticating_routes_address_a_tenant);
    tcase_add_test(tc, no_two_routes_share_method_and_path);
    tcase_add_test(tc, routes_fit_the_metrics_slots);
    tcase_add_test(tc, policies_of_the_contract);
    suite_add_tcase(s, tc);
    tc = tcase_create("match");
    tcase_add_test(tc, match_captures_segments);
    tcase_add_test(tc, match_is_exact);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
