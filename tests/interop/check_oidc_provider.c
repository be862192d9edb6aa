/*
 * identityd against a real OpenID authority: oidc-provider 9 (tests/interop/provider.mjs) on a
 * loopback port issues the access tokens, identityd on another port accepts them at
 * GET /api/2.0/security/oauth2/token and GET /api/2.0/people/@self. JWT access tokens are
 * verified against the provider's JWKS (found through its discovery document); opaque ones
 * go through the provider's RFC 7662 introspection endpoint with identityd's client
 * credentials. Each test gets a fresh provider (fresh keys) and a fresh identityd, database
 * and users made by identityctl.
 *
 * The provider's own endpoints are used wherever they exist (discovery, JWKS, introspection,
 * revocation, the token endpoint's client_credentials grant); its /test/ endpoints only mint
 * tokens through oidc-provider's AccessToken model for a chosen subject, and rotate its keys.
 */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "identityd/store/store.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define GOOD_SCOPE "openid read write"
#define TOTAL_TIMEOUT 5 /* oidc.timeouts.total below */
#define CACHE_TTL 2     /* oidc.introspection.cache_ttl below */

/* ---- the provider process ------------------------------------------------------------------ */

typedef struct provider {
    pid_t pid;
    int port;
    int stdout_fd;   /* kept open so that a late write to stdout never meets a closed pipe */
    char issuer[64]; /* "http://127.0.0.1:PORT" */
} provider_t;

static provider_t prov;
static th_env_t env;
static th_server_t srv;

typedef struct test_user {
    const char *email;
    char id[IDD_GUID_LEN + 1];
} test_user_t;

/* oidc.jwks.min_refresh for the next setup: 1 s, or an hour for the rate-limit tests. */
static int jwks_min_refresh = 1;

static test_user_t ada = {"ada@example.com", ""};
static test_user_t bob = {"bob@example.com", ""};

/* Prints the end of identityd's log (it says why a token was refused) before a failed
 * assertion ends the test: Check ends the test process and its children without teardown. */
static void show_server_log(void)
{
    if (srv.pid <= 0)
        return;
    char *log = th_read_file(srv.log);
    size_t len = log ? strlen(log) : 0;
    fprintf(stderr, "---- identityd log (last 4000 bytes) ----\n%s----\n",
            log ? log + (len > 4000 ? len - 4000 : 0) : "(none)\n");
    free(log);
}

#define expect(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            show_server_log();                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                             \
        }                                                                                          \
    } while (0)

/* Starts `node provider.mjs --port 0` and reads the line it prints once it listens. Its
 * stderr is the suite's, so that ctest --output-on-failure shows what the provider said. */
static void provider_start(provider_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *node = th_getenv("IDD_NODE");
    const char *dir = th_getenv("IDD_INTEROP_DIR");
    char script[TH_PATH];
    snprintf(script, sizeof(script), "%s/provider.mjs", dir);
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        /* The provider never outlives the test process, however that process ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        if (chdir(dir) != 0)
            _exit(126);
        execl(node, node, script, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    p->pid = pid;
    p->stdout_fd = out[0];

    json_t *j = th_read_ready_json(out[0], 20000, "provider.mjs", NULL);
    const char *issuer = json_string_value(json_object_get(j, "issuer"));
    p->port = (int)json_integer_value(json_object_get(j, "port"));
    ck_assert_ptr_nonnull(issuer);
    ck_assert(p->port > 0 && p->port < 65536);
    snprintf(p->issuer, sizeof(p->issuer), "http://127.0.0.1:%d", p->port);
    ck_assert_str_eq(issuer, p->issuer);
    json_decref(j);
}

/* Ends the provider (also when it is stopped with SIGSTOP, or already gone). */
static void provider_stop(provider_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        int status;
        waitpid(p->pid, &status, 0);
        p->pid = 0;
    }
    if (p->stdout_fd > 0) {
        close(p->stdout_fd);
        p->stdout_fd = 0;
    }
}

/* ---- fixture ------------------------------------------------------------------------------ */

static void user_id_of(test_user_t *u)
{
    idd_user_t rec;
    th_user_row(&env, 1, u->email, &rec);
    ck_assert_int_eq(strlen(rec.id), IDD_GUID_LEN);
    memcpy(u->id, rec.id, sizeof(u->id));
}

static void setup(void)
{
    provider_start(&prov);
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "oidc:\n"
             "  authority: %s\n"
             "  algorithms: [ES256, RS256]\n"
             "  audience: []                # empty: the request's tenant_url\n"
             "  clock_skew: 120\n"
             "  user_claim: sub\n"
             "  introspection: { enabled: true, jwt: false, client_id: identityd,"
             " client_secret_file: introspection-secret, cache_ttl: %d, negative_ttl: 1 }\n"
             "  jwks: { min_refresh: %d, max_age: 3600 }\n"
             "  timeouts: { connect: 2, total: %d }\n"
             "  allow_http: true\n",
             prov.issuer, CACHE_TTL, jwks_min_refresh, TOTAL_TIMEOUT);
    th_env_init(&env, yaml, NULL);
    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/introspection-secret", env.dir);
    th_write_file(path, "s3cret\n", 0600);
    ck_assert_int_eq(th_add_user(&env, ada.email, "ada pass", "Ada", "Lovelace", "admin"), 0);
    ck_assert_int_eq(th_add_user(&env, bob.email, "bob pass", "Bob", "User", "user"), 0);
    user_id_of(&ada);
    user_id_of(&bob);
    th_server_start(&srv, &env);
}

static void setup_slow_refresh(void)
{
    jwks_min_refresh = 3600;
    setup();
}

static void teardown(void)
{
    int rc = th_server_stop(&srv);
    provider_stop(&prov);
    ck_assert_int_eq(rc, 0);
    th_env_dispose(&env);
}

/* ---- talking to the provider ---------------------------------------------------------------- */

/* POSTs a JSON body to one of the provider's /test/ endpoints; returns the parsed answer. */
static json_t *provider_test_call(const char *path, json_t *body)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", prov.issuer, path);
    char *text = json_dumps(body, JSON_COMPACT);
    const char *headers[] = {"Content-Type: application/json", NULL};
    th_response_t r;
    th_http(&r, "POST", url, headers, text, strlen(text), 0);
    ck_assert_msg(r.status == 200, "%s -> %ld %s", path, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    th_response_dispose(&r);
    free(text);
    return j;
}

typedef struct mint {
    const char *sub;
    const char *scope;
    const char *format;   /* "jwt" or "opaque" */
    const char *resource; /* the audience; NULL: none (opaque only) */
    const char *alg;      /* "ES256" (default) or "RS256" */
    long long iat, exp;   /* 0: the provider's own (now, now + 600) */
} mint_t;

/* An access token minted by oidc-provider's AccessToken model (malloc'd). */
static char *mint(const mint_t *m)
{
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "sub", m->sub, "scope", m->scope, "format", m->format);
    if (m->resource != NULL)
        json_object_set_new(body, "resource", json_string(m->resource));
    if (m->alg != NULL)
        json_object_set_new(body, "alg", json_string(m->alg));
    if (m->iat != 0)
        json_object_set_new(body, "iat", json_integer(m->iat));
    if (m->exp != 0)
        json_object_set_new(body, "exp", json_integer(m->exp));
    json_t *j = provider_test_call("/test/token", body);
    const char *token = json_string_value(json_object_get(j, "access_token"));
    ck_assert_ptr_nonnull(token);
    char *copy = strdup(token);
    json_decref(j);
    json_decref(body);
    return copy;
}

/* The usual tokens: for user, scope GOOD_SCOPE, audience identityd's own tenant_url. */
static char *mint_jwt(const test_user_t *u, const char *alg)
{
    mint_t m = {
        .sub = u->id, .scope = GOOD_SCOPE, .format = "jwt", .resource = srv.base, .alg = alg};
    return mint(&m);
}

static char *mint_opaque(const test_user_t *u)
{
    mint_t m = {.sub = u->id, .scope = GOOD_SCOPE, .format = "opaque", .resource = srv.base};
    return mint(&m);
}

static char *jwt_kid(const char *token)
{
    json_t *h = th_jwt_part(token, 0);
    const char *kid = json_string_value(json_object_get(h, "kid"));
    ck_assert_ptr_nonnull(kid);
    char *copy = strdup(kid);
    json_decref(h);
    return copy;
}

/* Asks the provider's introspection endpoint directly, as identityd does. */
static json_t *introspect_at_provider(const char *token)
{
    char url[128], body[4096];
    snprintf(url, sizeof(url), "%s/token/introspection", prov.issuer);
    snprintf(body, sizeof(body), "token=%s", token); /* base64url and '.' need no escaping */
    char *basic = th_basic("identityd", "s3cret");
    const char *headers[] = {basic, "Content-Type: application/x-www-form-urlencoded", NULL};
    th_response_t r;
    th_http(&r, "POST", url, headers, body, strlen(body), 0);
    ck_assert_msg(r.status == 200, "introspection -> %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    th_response_dispose(&r);
    free(basic);
    return j;
}

/* ---- talking to identityd ------------------------------------------------------------------- */

/* GET the token endpoint with Authorization: Bearer token; the caller disposes r. */
static void get_bearer(th_response_t *r, const char *token)
{
    char *auth = th_bearer(token);
    th_get(r, &srv, TOKEN_PATH, auth);
    free(auth);
}

/* The error envelope (identityd's log shown on a wrong status) and no "response" member. */
static void assert_error_only(const th_response_t *r, long status)
{
    expect(r->status == status, "expected %ld, got %ld: %s", status, r->status, r->body);
    th_assert_error_envelope(r, status);
    json_t *j = th_json_parse(r->body);
    ck_assert_ptr_null(json_object_get(j, "response"));
    json_decref(j);
}

/* 401 in the envelope with a Bearer challenge, and no token in the body. */
static void assert_bearer_401(const char *token, const char *why)
{
    th_response_t r;
    get_bearer(&r, token);
    expect(r.status == 401, "%s: expected 401, got %ld: %s", why, r.status, r.body);
    assert_error_only(&r, 401);
    char *wa = th_header(&r, "www-authenticate");
    ck_assert_msg(wa != NULL && strncmp(wa, "Bearer", 6) == 0, "%s: WWW-Authenticate %s", why,
                  wa ? wa : "(none)");
    free(wa);
    th_response_dispose(&r);
}

/* 200 and identityd's own token names user (and this tenant) in its claims. */
static void assert_bearer_ok(const char *token, const test_user_t *u, const char *why)
{
    th_response_t r;
    get_bearer(&r, token);
    expect(r.status == 200, "%s: expected 200, got %ld: %s", why, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "statusCode")), 200);
    const char *minted = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(minted);
    json_t *h = th_jwt_part(minted, 0), *c = th_jwt_part(minted, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "kid")), "test-es256");
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), u->id);
    ck_assert_str_eq(json_string_value(json_object_get(c, "user_id")), u->id);
    ck_assert_str_eq(json_string_value(json_object_get(c, "user_email")), u->email);
    ck_assert_str_eq(json_string_value(json_object_get(c, "tenant_id")), "1");
    ck_assert_str_eq(json_string_value(json_object_get(c, "tenant_url")), srv.base);
    json_decref(h), json_decref(c), json_decref(j);
    th_response_dispose(&r);
}

/* ---- (a) JWT access tokens ------------------------------------------------------------------- */

/* ES256 and RS256 access tokens from the provider's token model authenticate their subject.
 * What the provider puts in them is pinned too, since identityd's checks rely on it. */
START_TEST(jwt_es256_and_rs256)
{
    char *es = mint_jwt(&ada, "ES256");
    char *rs = mint_jwt(&bob, "RS256");

    json_t *h = th_jwt_part(es, 0), *c = th_jwt_part(es, 1);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ES256");
    ck_assert_str_eq(json_string_value(json_object_get(h, "typ")), "at+jwt");
    ck_assert_str_eq(json_string_value(json_object_get(c, "iss")), prov.issuer);
    ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), srv.base);
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), ada.id);
    ck_assert_str_eq(json_string_value(json_object_get(c, "scope")), GOOD_SCOPE);
    ck_assert_str_eq(json_string_value(json_object_get(c, "client_id")), "app");
    ck_assert(json_is_string(json_object_get(c, "jti")));
    ck_assert(json_is_integer(json_object_get(c, "iat")) &&
              json_is_integer(json_object_get(c, "exp")));
    json_decref(h), json_decref(c);
    h = th_jwt_part(rs, 0);
    ck_assert_str_eq(json_string_value(json_object_get(h, "alg")), "RS256");
    json_decref(h);

    assert_bearer_ok(es, &ada, "ES256 JWT");
    assert_bearer_ok(rs, &bob, "RS256 JWT");
    /* Again: a second use (cached keys) works the same. */
    assert_bearer_ok(es, &ada, "ES256 JWT, second use");

    /* The signature is checked: one changed character in it and the token is refused. */
    char *bad = strdup(es);
    char *sig = strrchr(bad, '.') + 10;
    *sig = *sig == 'A' ? 'B' : 'A';
    assert_bearer_401(bad, "ES256 JWT with a changed signature");
    /* ...and so is the payload: bob's claims under ada's signature. */
    char *rs_claims = strchr(rs, '.');
    char *es_sig = strrchr(es, '.');
    size_t head_len = (size_t)(strchr(es, '.') - es);
    size_t claims_len = (size_t)(strrchr(rs, '.') - rs_claims);
    char *spliced = malloc(strlen(es) + strlen(rs));
    memcpy(spliced, es, head_len);
    memcpy(spliced + head_len, rs_claims, claims_len);
    strcpy(spliced + head_len + claims_len, es_sig);
    assert_bearer_401(spliced, "ES256 header and signature over RS256 claims");
    free(spliced), free(bad), free(es), free(rs);
}
END_TEST

/* exp and iat are checked with the configured 120 s of skew. */
START_TEST(jwt_expiry_and_skew)
{
    long long now = (long long)time(NULL);
    mint_t m = {.sub = ada.id, .scope = GOOD_SCOPE, .format = "jwt", .resource = srv.base};

    m.iat = now - 900, m.exp = now - 300; /* expired beyond the skew */
    char *expired = mint(&m);
    assert_bearer_401(expired, "JWT expired 300 s ago");

    m.iat = now - 600, m.exp = now - 30; /* expired, but within the skew */
    char *in_skew = mint(&m);
    assert_bearer_ok(in_skew, &ada, "JWT expired 30 s ago (skew 120 s)");

    m.iat = now + 900, m.exp = now + 1500; /* issued in the future */
    char *future = mint(&m);
    assert_bearer_401(future, "JWT issued 900 s in the future");
    free(expired), free(in_skew), free(future);
}
END_TEST

/* ---- (b) opaque tokens through introspection ------------------------------------------------- */

START_TEST(opaque_introspected)
{
    char *t = mint_opaque(&bob);
    ck_assert_ptr_null(strchr(t, '.'));

    /* What oidc-provider answers identityd for it (pinned: identityd reads these fields). */
    json_t *ir = introspect_at_provider(t);
    ck_assert(json_is_true(json_object_get(ir, "active")));
    ck_assert_str_eq(json_string_value(json_object_get(ir, "sub")), bob.id);
    ck_assert_str_eq(json_string_value(json_object_get(ir, "scope")), GOOD_SCOPE);
    ck_assert_str_eq(json_string_value(json_object_get(ir, "client_id")), "app");
    ck_assert_str_eq(json_string_value(json_object_get(ir, "iss")), prov.issuer);
    ck_assert_str_eq(json_string_value(json_object_get(ir, "aud")), srv.base);
    ck_assert_str_eq(json_string_value(json_object_get(ir, "token_type")), "Bearer");
    ck_assert(json_is_integer(json_object_get(ir, "exp")));
    json_decref(ir);

    assert_bearer_ok(t, &bob, "opaque token");
    assert_bearer_ok(t, &bob, "opaque token, second use");

    /* A token the provider never issued: introspection says active: false. */
    ir = introspect_at_provider("never-issued-0123456789abcdefghijklmnopqrstuv");
    ck_assert(json_is_false(json_object_get(ir, "active")));
    ck_assert_int_eq(json_object_size(ir), 1);
    json_decref(ir);
    assert_bearer_401("never-issued-0123456789abcdefghijklmnopqrstuv", "opaque token never issued");
    free(t);
}
END_TEST

/* ---- (c) revocation and the introspection cache ------------------------------------------- */

/* How long a token revoked at the provider keeps working: within cache_ttl of its last
 * introspection it is answered from the cache (every thread shares it); after, identityd asks
 * again and learns of the revocation.
 * Only checks that end within CACHE_TTL of the start of the first one prove the cache: the
 * verdict was stored after that start, so it still held for them. A later check may find it
 * expired and get 401, rightly; a machine too slow to revoke and check again within CACHE_TTL
 * proves nothing either way, and the test starts over with a new token (a few times). */
START_TEST(opaque_revoked_after_cache_ttl)
{
    bool proved = false;
    char *t = NULL;
    for (int attempt = 0; attempt < 4 && !proved; attempt++) {
        free(t);
        t = mint_opaque(&ada);
        double first = th_now();
        assert_bearer_ok(t, &ada, "opaque token before revocation");

        /* Revoked through the provider's revocation endpoint (RFC 7009), as the token's
         * client. */
        json_t *body = json_pack("{s:s}", "token", t);
        json_t *j = provider_test_call("/test/revoke", body);
        ck_assert(json_is_true(json_object_get(j, "found")));
        json_decref(j), json_decref(body);
        json_t *ir = introspect_at_provider(t);
        ck_assert(json_is_false(json_object_get(ir, "active")));
        json_decref(ir);

        int cached = 0;
        for (int i = 0; i < 3; i++) {
            th_response_t r;
            get_bearer(&r, t);
            double ended = th_now() - first;
            long status = r.status;
            th_response_dispose(&r);
            if (ended >= CACHE_TTL) {
                expect(status == 200 || status == 401, "revoked opaque token around cache_ttl: %ld",
                       status);
                break;
            }
            expect(status == 200,
                   "revoked opaque token %.2f s after its first check, within "
                   "cache_ttl: expected 200 from the cache, got %ld",
                   ended, status);
            cached++;
        }
        proved = cached > 0;
        if (!proved)
            fprintf(stderr, "opaque_revoked_after_cache_ttl: no check ended within cache_ttl "
                            "(machine busy); again with a new token\n");
    }
    expect(proved, "no check of the revoked token ended within cache_ttl (%d s) in 4 attempts",
           CACHE_TTL);

    /* Once cache_ttl has passed, identityd asks again and learns of the revocation. */
    sleep(CACHE_TTL + 1);
    for (int i = 0; i < 3; i++)
        assert_bearer_401(t, "revoked opaque token after cache_ttl");
    free(t);
}
END_TEST

/* ---- (d) key rotation ---------------------------------------------------------------------- */

START_TEST(jwt_key_rotation)
{
    char *old_es = mint_jwt(&ada, "ES256");
    char *old_rs = mint_jwt(&ada, "RS256"); /* never shown to identityd before the rotation */
    char *old_opaque = mint_opaque(&bob);
    char *old_kid = jwt_kid(old_es);
    assert_bearer_ok(old_es, &ada, "JWT before rotation");

    json_t *body = json_object();
    json_t *rot = provider_test_call("/test/rotate", body);
    json_t *kids = json_object_get(rot, "kids");
    ck_assert_int_eq(json_array_size(kids), 2);

    /* identityd may refetch the JWKS for an unknown kid once per jwks.min_refresh (1 s). */
    sleep(2);
    char *new_es = mint_jwt(&ada, "ES256");
    char *new_rs = mint_jwt(&bob, "RS256");
    char *new_kid = jwt_kid(new_es);
    ck_assert_str_ne(new_kid, old_kid);
    ck_assert_str_eq(json_string_value(json_array_get(kids, 0)), new_kid);
    assert_bearer_ok(new_es, &ada, "ES256 JWT signed with a key published after the rotation");
    sleep(2);
    assert_bearer_ok(new_rs, &bob, "RS256 JWT signed with a key published after the rotation");

    /* The old keys left the JWKS: tokens they signed no longer verify, whether identityd had
     * seen them before or not. */
    sleep(2);
    assert_bearer_401(old_es, "JWT signed by a key dropped from the JWKS (seen before)");
    sleep(2);
    assert_bearer_401(old_rs, "JWT signed by a key dropped from the JWKS (never seen)");

    /* Opaque tokens do not depend on signing keys: still active after the rotation. */
    assert_bearer_ok(old_opaque, &bob, "opaque token issued before the rotation");

    json_decref(rot), json_decref(body);
    free(old_es), free(old_rs), free(old_opaque), free(old_kid), free(new_es), free(new_rs),
        free(new_kid);
}
END_TEST

/* ---- (e) audience --------------------------------------------------------------------------- */

/* A token for another resource server must not be replayed at identityd, not even one for
 * an origin that this tenant lists (the audience is the request's tenant_url). */
START_TEST(other_audience)
{
    static const char *const others[] = {
        "https://api.other.example",
        "https://docs.example.com", /* a configured origin of tenant 1, not this request's */
        NULL,                       /* this port + "/" : not the same string */
    };
    char with_slash[96];
    snprintf(with_slash, sizeof(with_slash), "%s/", srv.base);
    for (size_t i = 0; i < 3; i++) {
        const char *aud = others[i] ? others[i] : with_slash;
        for (int rsa = 0; rsa < 2; rsa++) {
            mint_t m = {.sub = ada.id,
                        .scope = GOOD_SCOPE,
                        .format = "jwt",
                        .resource = aud,
                        .alg = rsa ? "RS256" : "ES256"};
            char *t = mint(&m);
            json_t *c = th_jwt_part(t, 1);
            ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), aud);
            json_decref(c);
            char why[160];
            snprintf(why, sizeof(why), "%s JWT for audience %s", m.alg, aud);
            assert_bearer_401(t, why);
            free(t);
        }
    }
    /* The same token for the right audience is fine (the refusals above are about aud). */
    char *ok = mint_jwt(&ada, "ES256");
    assert_bearer_ok(ok, &ada, "JWT for this tenant_url");
    free(ok);

    /* An opaque token carries its audience in the introspection answer: the same rule. */
    mint_t m = {.sub = ada.id,
                .scope = GOOD_SCOPE,
                .format = "opaque",
                .resource = "https://api.other.example"};
    char *opaque = mint(&m);
    json_t *ir = introspect_at_provider(opaque);
    ck_assert(json_is_true(json_object_get(ir, "active")));
    ck_assert_str_eq(json_string_value(json_object_get(ir, "aud")), "https://api.other.example");
    json_decref(ir);
    assert_bearer_401(opaque, "opaque token for audience https://api.other.example");
    free(opaque);

    /* A verdict is remembered per audience, not per token: an opaque token meant for
     * http://localhost:PORT, accepted there, must still be refused when it is presented at
     * http://127.0.0.1:PORT (the same tenant's other name, so another tenant_url), and the
     * cached yes from the first host must not leak to the second. */
    char localhost[96], host_header[96];
    snprintf(localhost, sizeof(localhost), "http://localhost:%d", srv.port);
    snprintf(host_header, sizeof(host_header), "Host: localhost:%d", srv.port);
    mint_t lm = {.sub = ada.id, .scope = GOOD_SCOPE, .format = "opaque", .resource = localhost};
    char *local = mint(&lm);
    char *url = th_url(&srv, TOKEN_PATH), *auth = th_bearer(local);
    const char *at_localhost[] = {auth, host_header, NULL};
    for (int round = 0; round < 2; round++) {
        th_response_t r;
        th_http(&r, "GET", url, at_localhost, NULL, 0, 0);
        ck_assert_int_eq(r.status, 200);
        th_response_dispose(&r);
        assert_bearer_401(local, "opaque token for localhost presented at 127.0.0.1");
    }
    free(url), free(auth), free(local);
}
END_TEST

/* ---- (f) subjects that are not users ----------------------------------------------------------
 */

static void assert_not_ok(const char *token, const char *why)
{
    th_response_t r;
    get_bearer(&r, token);
    expect(r.status == 401 || r.status == 403, "%s: expected 401 or 403, got %ld: %s", why,
           r.status, r.body);
    assert_error_only(&r, r.status);
    th_response_dispose(&r);
}

START_TEST(unknown_subjects)
{
    test_user_t nobody = {"nobody@example.com", "0f8fad5b-d9cb-469f-a165-70867728950e"};
    char *jwt = mint_jwt(&nobody, "ES256");
    assert_not_ok(jwt, "JWT for a GUID that is no user");
    char *opaque = mint_opaque(&nobody);
    assert_not_ok(opaque, "opaque token for a GUID that is no user");

    /* user_claim is sub: an email in sub is not a way in. */
    mint_t m = {.sub = ada.email, .scope = GOOD_SCOPE, .format = "jwt", .resource = srv.base};
    char *email_sub = mint(&m);
    assert_not_ok(email_sub, "JWT whose sub is a user's email");

    /* A real client_credentials grant at the provider's token endpoint: sub is the client. */
    char url[128];
    snprintf(url, sizeof(url), "%s/token", prov.issuer);
    char body[512];
    snprintf(body, sizeof(body), "grant_type=client_credentials&scope=read%%20write&resource=%s",
             srv.base);
    char *basic = th_basic("app", "app-secret");
    const char *headers[] = {basic, "Content-Type: application/x-www-form-urlencoded", NULL};
    th_response_t r;
    th_http(&r, "POST", url, headers, body, strlen(body), 0);
    ck_assert_msg(r.status == 200, "client_credentials -> %ld %s", r.status, r.body);
    json_t *j = th_json_parse(r.body);
    const char *cc = json_string_value(json_object_get(j, "access_token"));
    ck_assert_ptr_nonnull(cc);
    json_t *c = th_jwt_part(cc, 1);
    ck_assert_str_eq(json_string_value(json_object_get(c, "sub")), "app");
    ck_assert_str_eq(json_string_value(json_object_get(c, "aud")), srv.base);
    json_decref(c);
    assert_not_ok(cc, "client_credentials JWT (sub is the client)");
    json_decref(j);
    th_response_dispose(&r);

    /* A disabled user's valid token is refused too. */
    char *bobs = mint_jwt(&bob, "ES256");
    assert_bearer_ok(bobs, &bob, "bob's JWT while bob is active");
    const char *argv[] = {th_ctl(), "-c", env.config, "user", "disable", bob.email, NULL};
    ck_assert_int_eq(th_run(argv, NULL, NULL, NULL), 0);
    /* identityctl is another process: its write is seen at the next change check. */
    th_wait_changes_seen(&srv, &env);
    assert_not_ok(bobs, "JWT of a disabled user");

    free(jwt), free(opaque), free(email_sub), free(basic), free(bobs);
}
END_TEST

/* ---- (g) scopes --------------------------------------------------------------------------- */

static void assert_bearer_403(const char *token, const char *why)
{
    th_response_t r;
    get_bearer(&r, token);
    expect(r.status == 403, "%s: expected 403, got %ld: %s", why, r.status, r.body);
    assert_error_only(&r, 403);
    th_assert_error_message(&r, "Access denied");
    th_response_dispose(&r);
}

/* The endpoint needs read or write: a valid token of a real user without them is 403. */
START_TEST(scope_too_narrow)
{
    mint_t m = {.sub = ada.id, .scope = "openid", .format = "jwt", .resource = srv.base};
    char *jwt = mint(&m);
    assert_bearer_403(jwt, "JWT with scope \"openid\"");
    m.alg = "RS256", m.scope = "openid profile email";
    char *jwt2 = mint(&m);
    assert_bearer_403(jwt2, "JWT with scope \"openid profile email\"");
    m.format = "opaque";
    m.scope = "openid";
    char *opaque = mint(&m);
    assert_bearer_403(opaque, "opaque token with scope \"openid\"");

    /* read alone or write alone is enough. */
    m.format = "jwt", m.alg = "ES256", m.scope = "openid read";
    char *read_only = mint(&m);
    assert_bearer_ok(read_only, &ada, "JWT with scope \"openid read\"");
    m.scope = "write";
    char *write_only = mint(&m);
    assert_bearer_ok(write_only, &ada, "JWT with scope \"write\"");
    free(jwt), free(jwt2), free(opaque), free(read_only), free(write_only);
}
END_TEST

/* GET /api/2.0/people/@self with the authority's tokens: the token's subject, no login event,
 * for JWT and opaque tokens alike; a token may read its own account with read, accounts:read
 * or accounts.self:read, and not with a scope for something else. */
static void assert_self(const char *token, const test_user_t *u, bool admin, const char *why)
{
    th_response_t r;
    char *auth = th_bearer(token);
    th_get(&r, &srv, "/api/2.0/people/@self", auth);
    free(auth);
    expect(r.status == 200, "%s: expected 200, got %ld: %s", why, r.status, r.body);
    json_t *j = th_json_parse(r.body);
    json_t *self = json_object_get(j, "response");
    ck_assert_str_eq(json_string_value(json_object_get(self, "id")), u->id);
    ck_assert_str_eq(json_string_value(json_object_get(self, "email")), u->email);
    ck_assert(json_is_integer(json_object_get(self, "loginEventId")));
    ck_assert_int_eq(json_integer_value(json_object_get(self, "loginEventId")), 0);
    ck_assert(json_is_boolean(json_object_get(self, "isAdmin")));
    ck_assert_int_eq(json_is_true(json_object_get(self, "isAdmin")), admin);
    ck_assert(json_is_string(json_object_get(self, "registrationDate")));
    json_decref(j);
    th_response_dispose(&r);
}

START_TEST(self_profile)
{
    char *es = mint_jwt(&ada, "ES256");
    char *rs = mint_jwt(&bob, "RS256");
    char *opaque = mint_opaque(&bob);
    assert_self(es, &ada, true, "ES256 JWT");
    assert_self(rs, &bob, false, "RS256 JWT");
    assert_self(opaque, &bob, false, "opaque token");
    mint_t m = {
        .sub = ada.id, .scope = "openid accounts.self:read", .format = "jwt", .resource = srv.base};
    char *self_read = mint(&m);
    assert_self(self_read, &ada, true, "JWT with scope accounts.self:read");
    m.scope = "openid accounts:read";
    char *accounts_read = mint(&m);
    assert_self(accounts_read, &ada, true, "JWT with scope accounts:read");
    m.scope = "openid files:read";
    char *files = mint(&m);
    th_response_t r;
    char *auth = th_bearer(files);
    th_get(&r, &srv, "/api/2.0/people/@self", auth);
    assert_error_only(&r, 403);
    th_response_dispose(&r);
    free(auth), free(es), free(rs), free(opaque), free(self_read), free(accounts_read), free(files);
}
END_TEST

/* ---- (h) the provider goes away ----------------------------------------------------------- */

/* An answer that never comes and a refused connection are both 503 in the envelope, within
 * timeouts.total plus a margin; a JWT whose keys are cached keeps working meanwhile. */
START_TEST(provider_down)
{
    char *seen = mint_opaque(&ada);
    char *jwt = mint_jwt(&ada, "ES256");
    char *unseen1 = mint_opaque(&ada); /* valid at the provider, never shown to identityd */
    char *unseen2 = mint_opaque(&bob);
    assert_bearer_ok(seen, &ada, "opaque token while the provider is up");
    assert_bearer_ok(jwt, &ada, "JWT while the provider is up");

    /* Hung: the kernel still accepts connections, nobody answers. */
    ck_assert_int_eq(kill(prov.pid, SIGSTOP), 0);
    double start = th_now();
    th_response_t r;
    get_bearer(&r, unseen1);
    double took = th_now() - start;
    assert_error_only(&r, 503);
    th_response_dispose(&r);
    expect(took <= TOTAL_TIMEOUT + 3, "503 took %.1f s (timeouts.total is %d)", took,
           TOTAL_TIMEOUT);

    assert_bearer_ok(jwt, &ada, "JWT with cached keys while the provider hangs");

    /* Gone: connections are refused. */
    provider_stop(&prov);
    start = th_now();
    get_bearer(&r, unseen2);
    took = th_now() - start;
    assert_error_only(&r, 503);
    th_response_dispose(&r);
    expect(took <= TOTAL_TIMEOUT + 3, "503 took %.1f s", took);

    /* An outage is no verdict on a token: the one refused for it is still 503, not 401. */
    sleep(2); /* past negative_ttl */
    get_bearer(&r, unseen1);
    assert_error_only(&r, 503);
    th_response_dispose(&r);

    assert_bearer_ok(jwt, &ada, "JWT with cached keys while the provider is gone");
    free(seen), free(jwt), free(unseen1), free(unseen2);
}
END_TEST

/* ---- jwks.min_refresh ---------------------------------------------------------------------- */

/* min_refresh bounds how often an unknown kid may make identityd refetch the JWKS; it must
 * not delay the first fetch. (A fetch gated on "now - last attempt >= min_refresh" with the
 * last attempt starting at 0 refuses the first fetch while CLOCK_MONOTONIC, the time since
 * boot, is below min_refresh: on a machine up for less than an hour here.) */
START_TEST(jwks_refetch_rate_limited)
{
    char *first = mint_jwt(&ada, "ES256");
    assert_bearer_ok(first, &ada, "the first JWT, with min_refresh an hour");

    json_t *body = json_object();
    json_decref(provider_test_call("/test/rotate", body));
    json_decref(body);
    sleep(2);
    /* A kid identityd has not seen, within min_refresh of the last fetch: no refetch, so the
     * token cannot be verified and is refused. A flood of made-up kids cannot make identityd
     * hammer the authority. */
    char *rotated = mint_jwt(&ada, "ES256");
    for (int i = 0; i < 3; i++)
        assert_bearer_401(rotated, "JWT with a new kid within min_refresh");
    free(first), free(rotated);
}
END_TEST

static Suite *oidc_suite(void)
{
    Suite *s = suite_create("oidc_provider");
    TCase *tc = tcase_create("external_tokens");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 90);
    tcase_add_test(tc, jwt_es256_and_rs256);
    tcase_add_test(tc, jwt_expiry_and_skew);
    tcase_add_test(tc, opaque_introspected);
    tcase_add_test(tc, opaque_revoked_after_cache_ttl);
    tcase_add_test(tc, jwt_key_rotation);
    tcase_add_test(tc, other_audience);
    tcase_add_test(tc, unknown_subjects);
    tcase_add_test(tc, scope_too_narrow);
    tcase_add_test(tc, self_profile);
    tcase_add_test(tc, provider_down);
    suite_add_tcase(s, tc);

    TCase *slow = tcase_create("slow_jwks_refresh");
    tcase_add_checked_fixture(slow, setup_slow_refresh, teardown);
    tcase_set_timeout(slow, 60);
    tcase_add_test(slow, jwks_refetch_rate_limited);
    suite_add_tcase(s, slow);
    return s;
}

int main(void)
{
    return th_run_suite(oidc_suite());
}
