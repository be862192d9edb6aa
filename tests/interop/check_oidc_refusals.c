/*
 * External access tokens, attacked. identityd accepts JWTs from an OAuth2/OpenID authority
 * (oidc: section); this suite stands up a fake authority (fake-authority.mjs: discovery,
 * JWKS, an introspection endpoint that believes everything) and crafts tokens with jose
 * (craft.mjs): two valid ones, which must get the caller a token of identityd's own, and one
 * per attack of RFC 8725 and the classic JWT-library mistakes, each of which must end in 401
 * with the error envelope and `WWW-Authenticate: Bearer error="invalid_token"`. The fake
 * authority's introspection says "active" for any decodable token, and the attacks run twice,
 * with and without introspection of JWTs, so every refusal here is identityd's own doing.
 * It also checks that URLs named in token headers are never fetched, that identityd's own
 * tokens are not credentials, that unknown kids cannot make it hammer the authority, and
 * that an unreachable authority gives 503 within the configured timeout rather than a hang
 * or a 200; that introspection answers are checked like claims (iss, exp, aud) and cached
 * no longer than the token lives (positive) or negative_ttl (negative); and that the
 * token's scope (or scp) decides what it may do.
 * Needs `npm ci` in tests/interop.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define AUDIENCE "https://identity.test"
/* oidc.timeouts.total in the config below; an unreachable authority must be given up on
 * within this, plus a margin for scheduling and the request itself. */
#define TOTAL_TIMEOUT 5
#define TIMEOUT_MARGIN 3
#define MIN_REFRESH 1

static void script_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", th_getenv("IDD_INTEROP_DIR"), name);
}

/* ---- the fake authority ---- */

typedef struct authority {
    pid_t pid;
    int port;
    char issuer[64];
    char max_age[16]; /* set before start: Cache-Control max-age on discovery and JWKS */
} authority_t;

/* Starts fake-authority.mjs serving jwks_file (its stderr goes to log) and waits for the
 * line it prints when it listens. */
static void authority_start(authority_t *a, const char *jwks_file, const char *log)
{
    char script[TH_PATH];
    script_path(script, sizeof(script), "fake-authority.mjs");
    int out[2];
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(out[1], 1);
        dup2(fd, 2);
        close(out[0]);
        if (a->max_age[0] != '\0')
            setenv("FAKE_MAX_AGE", a->max_age, 1);
        execl(th_getenv("IDD_NODE"), "node", script, jwks_file, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char max_age[sizeof(a->max_age)];
    memcpy(max_age, a->max_age, sizeof(max_age));
    memset(a, 0, sizeof(*a));
    memcpy(a->max_age, max_age, sizeof(max_age));
    a->pid = pid;
    json_t *j = th_read_ready_json(out[0], 15000, "fake-authority.mjs", log);
    close(out[0]);
    snprintf(a->issuer, sizeof(a->issuer), "%s", json_string_value(json_object_get(j, "issuer")));
    a->port = (int)json_integer_value(json_object_get(j, "port"));
    ck_assert(a->port > 0);
    json_decref(j);
}

static void authority_stop(authority_t *a)
{
    if (a->pid <= 0)
        return;
    kill(a->pid, SIGTERM);
    int status;
    if (waitpid(a->pid, &status, 0) != a->pid) {
        /* Not our child (a test process stops the authority its parent started): wait
         * until its port refuses connections instead. */
        for (int i = 0; i < 500; i++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in addr;
            memset(&addr, 0, sizeof(addr));
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons((uint16_t)a->port);
            int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
            close(fd);
            if (rc != 0)
                break;
            usleep(10000);
        }
    }
    a->pid = 0;
}

/* GET {issuer}/stats: requests served per path. */
static json_t *authority_stats(const authority_t *a)
{
    char url[128];
    snprintf(url, sizeof(url), "%s/stats", a->issuer);
    th_response_t r;
    th_http(&r, "GET", url, NULL, NULL, 0, 0);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    th_response_dispose(&r);
    return j;
}

static long long stat_count(const authority_t *a, const char *path)
{
    json_t *j = authority_stats(a);
    long long n = json_integer_value(json_object_get(j, path));
    json_decref(j);
    return n;
}

/* ---- the identityd under test ---- */

typedef struct world {
    authority_t authority;
    char craft_dir[64]; /* jwks.json, attacker-jwks.json, tokens.json, authority.log */
    th_env_t env;
    th_server_t srv;
    char guid[64];       /* the user's id: the sub of the valid tokens */
    json_t *tokens;      /* name -> compact token */
    bool introspect_jwt; /* oidc.introspection.jwt */
    bool by_email;       /* oidc.user_claim: email */
    int negative_ttl;    /* oidc.introspection.negative_ttl (0: 5) */
} world_t;

static void make_craft_dir(world_t *w)
{
    snprintf(w->craft_dir, sizeof(w->craft_dir), "/tmp/identityd-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(w->craft_dir));
}

/* Writes the config with oidc.authority = authority (and introspection.jwt as w says),
 * adds the user, writes the introspection client secret. */
static void world_env(world_t *w, const char *authority)
{
    char oidc[2048];
    snprintf(oidc, sizeof(oidc),
             "oidc:\n"
             "  authority: %s\n"
             "  algorithms: [ES256, RS256]\n"
             "  audience: [\"" AUDIENCE "\"]\n"
             "  clock_skew: 120\n"
             "  user_claim: %s\n"
             "  introspection: { enabled: true, jwt: %s, client_id: identityd,"
             " client_secret_file: introspection-secret, cache_ttl: 60, negative_ttl: %d }\n"
             "  jwks: { min_refresh: %d, max_age: 3600 }\n"
             "  timeouts: { connect: 2, total: %d }\n"
             "  allow_http: true\n",
             authority, w->by_email ? "email" : "sub", w->introspect_jwt ? "true" : "false",
             w->negative_ttl > 0 ? w->negative_ttl : 5, MIN_REFRESH, TOTAL_TIMEOUT);
    th_env_init(&w->env, oidc, NULL);
    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/introspection-secret", w->env.dir);
    th_write_file(path, "s3cret\n", 0600);
    ck_assert_int_eq(
        th_add_user(&w->env, "Admin@Example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    char *guid = th_user_guid(&w->env, "Admin@Example.com");
    snprintf(w->guid, sizeof(w->guid), "%s", guid);
    free(guid);
}

/* Runs craft.mjs for issuer and loads the tokens. */
static void world_craft(world_t *w, const char *issuer)
{
    char script[TH_PATH];
    script_path(script, sizeof(script), "craft.mjs");
    const char *argv[] = {
        th_getenv("IDD_NODE"), script, w->craft_dir, issuer, AUDIENCE, w->guid, NULL};
    char *err = NULL;
    int rc = th_run(argv, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "craft.mjs failed: %s", err);
    free(err);
    char path[TH_PATH];
    snprintf(path, sizeof(path), "%s/tokens.json", w->craft_dir);
    json_error_t e;
    w->tokens = json_load_file(path, 0, &e);
    ck_assert_msg(w->tokens != NULL, "tokens.json: %s", e.text);
}

/* Bearer JWTs answered from the credential cache (verified before, for this tenant). */
#define JWT_REMEMBERED "identityd_credcache_lookups_total{kind=\"jwt\",result=\"hit\"}"

static const char *token(const world_t *w, const char *name)
{
    const char *t = json_string_value(json_object_get(w->tokens, name));
    ck_assert_msg(t != NULL, "craft.mjs made no token %s", name);
    return t;
}

/* Stops and removes everything; returns identityd's exit status (0 when none ran). In the
 * runner's unchecked fixtures it is not asserted on: th_run_suite fails the suite instead. */
static int world_dispose(world_t *w)
{
    int status = 0;
    if (w->srv.pid > 0)
        status = th_server_stop(&w->srv);
    authority_stop(&w->authority);
    json_decref(w->tokens);
    w->tokens = NULL;
    if (w->env.dir[0] != '\0')
        th_env_dispose(&w->env);
    if (strncmp(w->craft_dir, "/tmp/identityd-test-", 20) == 0) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->craft_dir);
        int rc = system(cmd);
        (void)rc;
    }
    bool introspect_jwt = w->introspect_jwt;
    memset(w, 0, sizeof(*w));
    w->introspect_jwt = introspect_jwt;
    return status;
}

/* GET the token endpoint with `Authorization: Bearer t`. */
static void bearer(const th_server_t *srv, const char *t, th_response_t *r)
{
    char *h = th_bearer(t);
    th_get(r, srv, TOKEN_PATH, h);
    free(h);
}

/* The error envelope (the status named by what) and no "response" member. */
static void assert_error_only(const th_response_t *r, long status, const char *what)
{
    ck_assert_msg(r->status == status, "%s: expected %ld, got %ld: %s", what, status, r->status,
                  r->body);
    th_assert_error_envelope(r, status);
    json_t *j = th_json_parse(r->body);
    ck_assert_msg(json_object_get(j, "response") == NULL, "%s: a response member", what);
    json_decref(j);
}

/* 401, the envelope and the RFC 6750 challenge for a bad bearer token. */
static void assert_refused(const th_response_t *r, const char *what)
{
    assert_error_only(r, 401, what);
    char *wa = th_header(r, "www-authenticate");
    ck_assert_msg(wa != NULL, "%s: no WWW-Authenticate", what);
    ck_assert_msg(strncmp(wa, "Bearer", 6) == 0 && strstr(wa, "error=\"invalid_token\"") != NULL,
                  "%s: WWW-Authenticate: %s", what, wa);
    free(wa);
}

/* 200, and the token identityd minted is for the user the external token named. */
static void assert_accepted(const world_t *w, const th_response_t *r, const char *what)
{
    ck_assert_msg(r->status == 200, "%s: expected 200, got %ld: %s", what, r->status, r->body);
    json_t *j = th_json_parse(r->body);
    const char *minted = json_string_value(json_object_get(j, "response"));
    ck_assert_ptr_nonnull(minted);
    json_t *claims = th_jwt_part(minted, 1);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), w->guid);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "user_id")), w->guid);
    ck_assert_str_eq(json_string_value(json_object_get(claims, "user_email")), "Admin@Example.com");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), w->srv.base);
    json_decref(claims);
    json_decref(j);
}

/* ---- the main worlds: one authority, one identityd, shared by a test case ----
 * Twice: with introspection of JWTs (oidc.introspection.jwt: true), and without it, where
 * the JWT checks stand alone. The fake authority vouches for anything it can decode, but
 * it echoes exp and aud, which identityd also checks in an introspection answer; the second
 * world proves that each refusal also holds on the JWT checks alone. */

static world_t W;

static void world_setup_as(bool introspect_jwt, bool by_email, const char *max_age)
{
    memset(&W, 0, sizeof(W));
    W.introspect_jwt = introspect_jwt;
    W.by_email = by_email;
    if (max_age != NULL)
        snprintf(W.authority.max_age, sizeof(W.authority.max_age), "%s", max_age);
    make_craft_dir(&W);
    char jwks[TH_PATH], log[TH_PATH];
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", W.craft_dir);
    snprintf(log, sizeof(log), "%s/authority.log", W.craft_dir);
    authority_start(&W.authority, jwks, log);
    world_env(&W, W.authority.issuer);
    world_craft(&W, W.authority.issuer);
    th_server_start(&W.srv, &W.env);
}

static void world_setup_introspect(void)
{
    world_setup_as(true, false, NULL);
}
static void world_setup_plain(void)
{
    world_setup_as(false, false, NULL);
}
static void world_setup_short_max_age(void)
{
    world_setup_as(false, false, "1");
}
static void world_setup_email(void)
{
    world_setup_as(false, true, NULL);
}
static void world_teardown(void)
{
    world_dispose(&W); /* a bad exit fails the suite: see th_run_suite */
}

/* The value of one series of GET /metrics on srv (0 when absent). */
static double metric_of(const th_server_t *srv, const char *series)
{
    th_response_t r;
    th_get(&r, srv, "/metrics", NULL);
    ck_assert_int_eq(r.status, 200);
    char *key = th_strf("\n%s ", series);
    const char *at = strstr(r.body, key);
    double v = at != NULL ? atof(at + strlen(key)) : 0;
    free(key);
    th_response_dispose(&r);
    return v;
}

#define JWKS_HIT "identityd_cache_total{cache=\"jwks\",result=\"hit\"}"
#define JWKS_MISS "identityd_cache_total{cache=\"jwks\",result=\"miss\"}"
#define VERDICT_HIT "identityd_cache_total{cache=\"introspection\",result=\"hit\"}"
#define VERDICT_MISS "identityd_cache_total{cache=\"introspection\",result=\"miss\"}"

/* Valid ES256 and RS256 access tokens of the authority, for a user identityd knows, get
 * that user a token of identityd's own; so does an aud array that contains the configured
 * audience. The signature checks really consulted the authority (its JWKS was fetched) and,
 * when configured, so did introspection; a token already introspected is answered from the
 * cache. Without introspection.jwt, JWTs are never sent to the introspection endpoint. */
START_TEST(valid_tokens_accepted)
{
    static const char *const valid[] = {"valid_es256", "valid_rs256", "valid_aud_array"};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        th_response_t r;
        bearer(&W.srv, token(&W, valid[i]), &r);
        assert_accepted(&W, &r, valid[i]);
        th_response_dispose(&r);
    }
    ck_assert(stat_count(&W.authority, "/.well-known/openid-configuration") >= 1);
    ck_assert(stat_count(&W.authority, "/jwks") >= 1);
    long long introspected = stat_count(&W.authority, "/introspect");
    if (W.introspect_jwt)
        ck_assert_msg(introspected >= 3, "introspection was not asked (%lld)", introspected);
    else
        ck_assert_msg(introspected == 0, "JWTs were introspected (%lld)", introspected);

    /* oidc.introspection.cache_ttl: 60, so the same token again is not introspected again. */
    th_response_t r;
    bearer(&W.srv, token(&W, "valid_es256"), &r);
    assert_accepted(&W, &r, "valid_es256 again");
    th_response_dispose(&r);
    ck_assert_int_eq(stat_count(&W.authority, "/introspect"), introspected);
}
END_TEST

/* One crafted token per attack. Each must be refused by identityd's own checks. */
typedef struct refusal {
    const char *name;      /* key in tokens.json (craft.mjs) */
    const char *attack;    /* the same explanation as the comment, for failure messages */
    bool by_introspection; /* only introspection can refuse it (a good JWT otherwise) */
} refusal_t;

static const refusal_t refusals[] = {
    /* alg "none" and an empty signature: a verifier that lets the token choose its
     * algorithm would accept any claims anybody writes (RFC 8725 §2.1, §3.1). */
    {"alg_none", "unsigned token (alg none)", false},
    /* HS256 with the authority's RSA public key (its PEM) as the HMAC secret: the public
     * key is public, so a verifier that runs HMAC when the header says HS256 and hands it
     * "the key for this kid" accepts tokens anybody can mint (RFC 8725 §2.1, §3.1). */
    {"hs256_with_public_key", "HMAC keyed with the public key PEM", false},
    /* The same confusion with the JWK's JSON text as the secret. */
    {"hs256_with_public_jwk", "HMAC keyed with the public JWK", false},
    /* An RS256 signature under the EC key's kid: algorithm and key must agree; a verifier
     * that picks the algorithm from the header and the key from the kid mixes them. */
    {"alg_key_mismatch", "algorithm does not match the key's type", false},
    /* PS256 is a sound algorithm and the key is the authority's, but identityd is
     * configured for ES256 and RS256 only: the allow-list is the whole list. */
    {"alg_not_allowed", "algorithm outside oidc.algorithms", false},
    /* Signed with the authority's real key but under a kid its JWKS does not have: a
     * verifier must not fall back to "try every key" or to some default key. */
    {"unknown_kid", "kid not in the JWKS", false},
    /* kid as a path: a verifier that loads key material from a file named by kid would
     * read /etc/passwd (or any file) and use its bytes as the key. */
    {"kid_traversal", "kid with ../ path traversal", false},
    /* Expired ten minutes ago, well beyond the 120 s skew: a stolen old token must die. */
    {"expired", "exp in the past", false},
    /* nbf ten minutes ahead: a token issued for later use is not valid yet. */
    {"future_nbf", "nbf in the future", false},
    /* iat ten minutes ahead: minted by a broken clock or a forger; not usable yet. */
    {"future_iat", "iat in the future", false},
    /* Another issuer (signed with a key that happens to be in the JWKS): tokens of one
     * issuer must never be accepted as another's (RFC 8725 §3.8). */
    {"wrong_iss", "iss of another issuer", false},
    /* The authority's issuer with a trailing slash: iss is compared exactly, not as a URL
     * prefix, or "https://auth.example.evil" would pass for "https://auth.example". */
    {"wrong_iss_slash", "iss differing by a trailing slash", false},
    /* A genuine token of the authority minted for another service: substitution of a
     * token meant for one relying party at another (RFC 8725 §2.8, §3.9). */
    {"wrong_aud", "aud of another service", false},
    /* No aud at all: the token does not say it is for identityd. */
    {"missing_aud", "no aud", false},
    /* No exp: a token that never expires would be a permanent credential. */
    {"missing_exp", "no exp", false},
    /* A real token with its signature segment emptied: "no signature" must not mean
     * "nothing to check". */
    {"stripped_signature", "signature segment emptied", false},
    /* A real signature moved onto a payload with more scope: the signature covers the
     * payload, so the swap must fail. */
    {"swapped_payload", "payload changed under a valid signature", false},
    /* crit names an extension identityd does not implement: RFC 7515 §4.1.11 says such a
     * token must be rejected, since its meaning depends on the extension. */
    {"unknown_crit", "crit with an unknown extension", false},
    /* A JWE (five segments) encrypted to the authority's key: identityd takes signed
     * tokens only; decrypting and trusting an encrypted token proves nothing about who
     * made it (RFC 8725 §3.3, §2.7). */
    {"jwe_shaped", "five-segment JWE", false},
    /* A validly signed token padded past 8192 bytes: bounded work and memory per request;
     * parsers are not fed arbitrarily large input. */
    {"oversized", "over IDD_JWT_MAX bytes", false},
    /* jku: "verify me with the keys at this URL", signed by the attacker's key: a verifier
     * that follows it trusts whoever wrote the token (RFC 8725 §3.10). Also an SSRF lever. */
    {"jku_header", "jku pointing at the attacker's JWKS", false},
    /* x5u: the same through a certificate URL. */
    {"x5u_header", "x5u pointing at the attacker", false},
    /* jwk: the attacker's public key embedded in the header and the token signed by it: a
     * verifier that uses the embedded key accepts self-signed tokens. */
    {"embedded_jwk", "attacker's key embedded as jwk", false},
    /* Signed by a key the authority never had, under the authority's kid. */
    {"foreign_key", "signed by a foreign key", false},
    /* Signed and valid, but the authority's introspection says active: false (revoked):
     * with introspection.jwt on, a revoked token must stop working before its exp. */
    {"introspection_inactive", "introspection says inactive", true},
    /* Introspection answers "active": "true", a string: RFC 7662 requires a boolean, and a
     * lax check ("is it truthy?") would accept "false" just the same. */
    {"introspection_active_string", "introspection active is a string", true},
    /* The answer is active but names another issuer: an answer is checked like the claims
     * of a JWT, or a misrouted or spoofed introspection endpoint could vouch for anything. */
    {"introspection_wrong_iss", "introspection answer of another issuer", true},
    /* The answer is active but says the token expired ten minutes ago (beyond the skew):
     * the authority's exp wins over an "active" that contradicts it. */
    {"introspection_expired", "introspection answer with exp in the past", true},
    /* The answer is active but for another audience: the authority vouches for the token at
     * some other service, not at identityd (token substitution through introspection). */
    {"introspection_other_aud", "introspection answer for another audience", true},
    /* Everything checks out, but the sub is no user of identityd: an authority's user is
     * not automatically one of ours. */
    {"valid_unknown_sub", "sub of no known user", false},
};
#define N_REFUSALS ((int)(sizeof(refusals) / sizeof(refusals[0])))

START_TEST(crafted_token_refused)
{
    const refusal_t *c = &refusals[_i];
    char what[256];
    snprintf(what, sizeof(what), "%s (%s)", c->name, c->attack);
    th_response_t r;
    if (c->by_introspection && !W.introspect_jwt) {
        /* Without introspection of JWTs the token is simply good: this shows that the
         * refusal in the other world came from introspection, as it should. */
        bearer(&W.srv, token(&W, c->name), &r);
        assert_accepted(&W, &r, what);
        th_response_dispose(&r);
        return;
    }
    bearer(&W.srv, token(&W, c->name), &r);
    assert_refused(&r, what);
    th_response_dispose(&r);
    /* Refused again the same way (no negative-cache surprise, no state flipped). */
    bearer(&W.srv, token(&W, c->name), &r);
    assert_refused(&r, what);
    th_response_dispose(&r);
}
END_TEST

/* The URLs in jku and x5u headers were never fetched: identityd takes keys only from the
 * authority's JWKS. Fetching them would both trust the attacker's keys and let anyone make
 * identityd send requests to addresses of their choosing (SSRF). */
START_TEST(header_urls_never_fetched)
{
    static const char *const sent[] = {"jku_header", "x5u_header", "embedded_jwk"};
    for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
        th_response_t r;
        bearer(&W.srv, token(&W, sent[i]), &r);
        assert_refused(&r, sent[i]);
        th_response_dispose(&r);
    }
    json_t *stats = authority_stats(&W.authority);
    ck_assert_msg(json_object_get(stats, "/attacker-jwks") == NULL, "jku was fetched");
    ck_assert_msg(json_object_get(stats, "/attacker-x5u") == NULL, "x5u was fetched");
    json_decref(stats);
}
END_TEST

/* A token identityd minted itself is not a credential: it is a short-lived token for
 * DocSpace's consumers, signed by identityd's key, not the authority's. Accepting it would
 * let a token leaked from a consumer be swapped for fresh ones forever. */
START_TEST(own_token_not_a_credential)
{
    char *basic = th_basic("Admin@Example.com", "correct horse");
    th_response_t r;
    th_get(&r, &W.srv, TOKEN_PATH, basic);
    ck_assert_int_eq(r.status, 200);
    json_t *j = th_json_parse(r.body);
    char *own = strdup(json_string_value(json_object_get(j, "response")));
    json_decref(j);
    th_response_dispose(&r);
    free(basic);

    bearer(&W.srv, own, &r);
    assert_refused(&r, "identityd's own token");
    th_response_dispose(&r);
    free(own);
}
END_TEST

/* A flood of tokens with unknown kids must not turn into a flood of JWKS fetches: identityd
 * refetches at most once per oidc.jwks.min_refresh seconds, or any client could make it
 * hammer the authority (and itself) at will. */
START_TEST(unknown_kid_refetch_is_bounded)
{
    long long before = stat_count(&W.authority, "/jwks");
    double start = th_now();
    for (int i = 0; i < 20; i++) {
        th_response_t r;
        bearer(&W.srv, token(&W, i % 2 ? "unknown_kid" : "kid_traversal"), &r);
        assert_refused(&r, "unknown kid flood");
        th_response_dispose(&r);
    }
    double elapsed = th_now() - start;
    long long fetched = stat_count(&W.authority, "/jwks") - before;
    long long allowed = 1 + (long long)(elapsed / MIN_REFRESH) + 1;
    ck_assert_msg(fetched <= allowed, "%lld JWKS fetches for 20 requests in %.1f s", fetched,
                  elapsed);
}
END_TEST

/* Eight requests carrying one never-seen token arrive together while the authority takes
 * its time to introspect it: all are answered, and the authority was asked once. Without
 * the wait on one call, a burst of requests with a new token would become a burst of
 * introspection calls (a cheap way to flood the authority through identityd). */
START_TEST(concurrent_checks_share_one_introspection)
{
    enum { N = 8 };
    double hits = metric_of(&W.srv, VERDICT_HIT), misses = metric_of(&W.srv, VERDICT_MISS);
    long long before = stat_count(&W.authority, "/introspect");
    char *url = th_url(&W.srv, TOKEN_PATH), *auth = th_bearer(token(&W, "slow_introspection"));
    struct curl_slist *headers = curl_slist_append(NULL, auth);
    CURLM *multi = curl_multi_init();
    CURL *easy[N];
    for (int i = 0; i < N; i++)
        easy[i] = th_multi_add(multi, url, headers, NULL, 30);
    th_multi_run(multi);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(th_multi_finish(multi, easy[i]), 200);
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(url), free(auth);
    ck_assert_int_eq(stat_count(&W.authority, "/introspect") - before, 1);
    /* Every check looked its verdict up once; the first found none. */
    double new_hits = metric_of(&W.srv, VERDICT_HIT) - hits;
    double new_misses = metric_of(&W.srv, VERDICT_MISS) - misses;
    ck_assert_double_eq(new_hits + new_misses, N);
    ck_assert(new_misses >= 1);
}
END_TEST

/* The authority goes down. A token introspected a moment ago is still answered from the
 * cache (oidc.introspection.cache_ttl); a valid token never seen before cannot be introspected, so
 * it is 503, not 200 (accepting unchecked tokens) and not 401 (blaming the caller), and quickly:
 * the request must not hang past the configured timeout. The server keeps serving. */
START_TEST(authority_down_gives_503)
{
    ck_assert(W.introspect_jwt);
    th_response_t r;
    bearer(&W.srv, token(&W, "valid_rs256"), &r);
    assert_accepted(&W, &r, "valid_rs256 before the outage");
    th_response_dispose(&r);

    authority_stop(&W.authority);

    bearer(&W.srv, token(&W, "valid_rs256"), &r);
    assert_accepted(&W, &r, "valid_rs256 from the introspection cache");
    th_response_dispose(&r);

    double start = th_now();
    bearer(&W.srv, token(&W, "valid_spare"), &r);
    double elapsed = th_now() - start;
    assert_error_only(&r, 503, "never-seen token, authority down");
    th_response_dispose(&r);
    ck_assert_msg(elapsed < TOTAL_TIMEOUT + TIMEOUT_MARGIN, "took %.1f s", elapsed);

    /* Basic does not depend on the authority. */
    char *basic = th_basic("Admin@Example.com", "correct horse");
    th_get(&r, &W.srv, TOKEN_PATH, basic);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(basic);
}
END_TEST

/* Without introspection of JWTs, the authority going down changes nothing for tokens
 * signed with keys already fetched: the JWKS is kept (oidc.jwks.max_age), so a never-seen
 * valid token still verifies, and a forged one is still refused. */
/* A JWT verified once is remembered for its tenant (no signature checked, no row read the
 * next time), and what ends the user still ends it: disabling them through identityctl is
 * refused once a change check has run, and enabling them again lets the token back in. */
START_TEST(verified_jwt_is_remembered)
{
    ck_assert(!W.introspect_jwt);
    th_response_t r;
    bearer(&W.srv, token(&W, "valid_rs256"), &r);
    assert_accepted(&W, &r, "valid_rs256, first");
    th_response_dispose(&r);
    double hits = th_metric(&W.srv, JWT_REMEMBERED);
    for (int i = 0; i < 3; i++) {
        bearer(&W.srv, token(&W, "valid_rs256"), &r);
        assert_accepted(&W, &r, "valid_rs256, again");
        th_response_dispose(&r);
    }
    ck_assert_int_eq((int)(th_metric(&W.srv, JWT_REMEMBERED) - hits), 3);

    const char *disable[] = {th_ctl(), "-c", W.env.config, "user", "disable", "Admin@Example.com",
                             NULL};
    const char *enable[] = {th_ctl(), "-c", W.env.config, "user", "enable", "Admin@Example.com",
                            NULL};
    ck_assert_int_eq(th_run(disable, NULL, NULL, NULL), 0);
    th_wait_changes_seen(&W.srv, &W.env);
    bearer(&W.srv, token(&W, "valid_rs256"), &r);
    assert_refused(&r, "remembered token of a disabled user");
    th_response_dispose(&r);
    ck_assert_int_eq(th_run(enable, NULL, NULL, NULL), 0);
    th_wait_changes_seen(&W.srv, &W.env);
    bearer(&W.srv, token(&W, "valid_rs256"), &r);
    assert_accepted(&W, &r, "valid_rs256, user enabled again");
    th_response_dispose(&r);
}
END_TEST

START_TEST(authority_down_cached_jwks_still_verifies)
{
    ck_assert(!W.introspect_jwt);
    th_response_t r;
    bearer(&W.srv, token(&W, "valid_es256"), &r);
    assert_accepted(&W, &r, "valid_es256 before the outage");
    th_response_dispose(&r);

    authority_stop(&W.authority);

    bearer(&W.srv, token(&W, "valid_spare"), &r);
    assert_accepted(&W, &r, "never-seen token, JWKS cached");
    th_response_dispose(&r);
    bearer(&W.srv, token(&W, "foreign_key"), &r);
    assert_refused(&r, "forged token, authority down");
    th_response_dispose(&r);
}
END_TEST

/* ---- an authority that never was reachable ---- */

/* Starts identityd for authority (an issuer URL) with a fresh cache and presents a valid
 * token of that issuer; returns how long the answer took. The answer must be 503 with the
 * envelope. */
static double unreachable_authority_request(world_t *w, const char *authority)
{
    world_env(w, authority);
    world_craft(w, authority);
    th_server_start(&w->srv, &w->env);
    th_response_t r;
    double start = th_now();
    bearer(&w->srv, token(w, "valid_es256"), &r);
    double elapsed = th_now() - start;
    assert_error_only(&r, 503, "authority unreachable");
    th_response_dispose(&r);

    /* And the server is still there for everything else. */
    char *basic = th_basic("Admin@Example.com", "correct horse");
    th_get(&r, &w->srv, TOKEN_PATH, basic);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
    free(basic);
    return elapsed;
}

/* The authority's port is closed (it ran once, then stopped): connection refused on
 * discovery. identityd has nothing cached, so it cannot check any token: 503. */
START_TEST(authority_port_closed_gives_503)
{
    world_t w;
    memset(&w, 0, sizeof(w));
    w.introspect_jwt = true;
    make_craft_dir(&w);
    char jwks[TH_PATH], log[TH_PATH];
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", w.craft_dir);
    snprintf(log, sizeof(log), "%s/authority.log", w.craft_dir);
    authority_start(&w.authority, jwks, log);
    char issuer[64];
    snprintf(issuer, sizeof(issuer), "%s", w.authority.issuer);
    authority_stop(&w.authority);

    double elapsed = unreachable_authority_request(&w, issuer);
    ck_assert_msg(elapsed < TOTAL_TIMEOUT + TIMEOUT_MARGIN, "took %.1f s", elapsed);
    ck_assert_int_eq(world_dispose(&w), 0);
}
END_TEST

/* The authority accepts connections but never answers (a hung server, or a black hole on
 * the path): only the total timeout ends the wait. The request gets 503 once it expires,
 * not a hang that ties up the client and the worker. */
START_TEST(authority_silent_gives_503_within_timeout)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert(fd >= 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    /* The kernel completes handshakes into the backlog; nobody ever reads. */
    ck_assert_int_eq(listen(fd, 64), 0);
    socklen_t alen = sizeof(addr);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &alen), 0);
    char issuer[64];
    snprintf(issuer, sizeof(issuer), "http://127.0.0.1:%d", ntohs(addr.sin_port));

    world_t w;
    memset(&w, 0, sizeof(w));
    w.introspect_jwt = true;
    make_craft_dir(&w);
    double elapsed = unreachable_authority_request(&w, issuer);
    ck_assert_msg(elapsed < TOTAL_TIMEOUT + TIMEOUT_MARGIN, "took %.1f s", elapsed);
    ck_assert_int_eq(world_dispose(&w), 0);
    close(fd);
}
END_TEST

/* With user_claim: email, the user is the one whose address the token carries, but only
 * when the authority says it verified that address: an authority that lets anyone claim any
 * address (unverified sign-up) would otherwise hand out every account. email_verified must
 * be the JSON true, not a string. The sub plays no part. */
START_TEST(email_claim_needs_verification)
{
    th_response_t r;
    bearer(&W.srv, token(&W, "email_verified"), &r);
    ck_assert_msg(r.status == 200, "verified email: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    static const char *const refused[] = {"email_unverified", "email_verified_as_string",
                                          "valid_es256"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        bearer(&W.srv, token(&W, refused[i]), &r);
        assert_refused(&r, refused[i]);
        th_response_dispose(&r);
    }
}
END_TEST

/* An authority that will not introspect JWTs answers 400 unsupported_token_type. With
 * introspection.jwt on, that is a configuration error: the token is refused (a check that
 * could not be made is not a yes) and the log says what to change. */
START_TEST(introspection_unsupported_is_refused_and_logged)
{
    th_response_t r;
    bearer(&W.srv, token(&W, "introspection_unsupported"), &r);
    assert_refused(&r, "introspection_unsupported");
    th_response_dispose(&r);
    char *log = th_read_file(W.srv.log);
    ck_assert_ptr_nonnull(log);
    ck_assert_msg(strstr(log, "unsupported_token_type") != NULL,
                  "no configuration error logged: %s", log);
    free(log);
}
END_TEST

/* Keys are kept as long as the authority's Cache-Control allows (bounded by jwks.max_age):
 * with max-age=1, the discovery document and the JWKS are fetched again once a second has
 * passed; without Cache-Control they are kept (the suite's other worlds fetch them once).
 * A use that fetched the keys and a second use that ended within max-age of the first's
 * start show that they are kept; on a machine too busy for that, the pair is tried again
 * once the keys are stale. */
START_TEST(cache_control_max_age_respected)
{
    th_response_t r;
    bool kept = false;
    for (int attempt = 0; attempt < 4 && !kept; attempt++) {
        if (attempt > 0)
            usleep(1200 * 1000); /* the keys are stale: the next use fetches them */
        long long jwks = stat_count(&W.authority, "/jwks");
        double start = th_now();
        bearer(&W.srv, token(&W, "valid_es256"), &r);
        assert_accepted(&W, &r, "a use that fetches the keys");
        th_response_dispose(&r);
        long long fetched = stat_count(&W.authority, "/jwks");
        bearer(&W.srv, token(&W, "valid_rs256"), &r);
        double ended = th_now();
        assert_accepted(&W, &r, "within max-age");
        th_response_dispose(&r);
        if (fetched == jwks + 1 && ended - start < 1.0) {
            ck_assert_int_eq(stat_count(&W.authority, "/jwks"), fetched);
            kept = true;
        } else {
            fprintf(stderr,
                    "cache_control_max_age_respected: inconclusive (fetched %lld, second "
                    "use ended %.2f s after the first began); again\n",
                    fetched - jwks, ended - start);
        }
    }
    ck_assert_msg(kept, "no pair of uses within max-age in 4 attempts");

    long long jwks = stat_count(&W.authority, "/jwks");
    long long discovery = stat_count(&W.authority, "/.well-known/openid-configuration");
    usleep(2200 * 1000);
    bearer(&W.srv, token(&W, "valid_es256"), &r);
    assert_accepted(&W, &r, "after max-age");
    th_response_dispose(&r);
    ck_assert_int_eq(stat_count(&W.authority, "/jwks"), jwks + 1);
    ck_assert_int_eq(stat_count(&W.authority, "/.well-known/openid-configuration"), discovery + 1);
}
END_TEST

/* Without Cache-Control, keys fetched once serve many requests. */
START_TEST(keys_fetched_once)
{
    double hits = metric_of(&W.srv, JWKS_HIT), misses = metric_of(&W.srv, JWKS_MISS);
    double remembered = th_metric(&W.srv, JWT_REMEMBERED);
    long long jwks = stat_count(&W.authority, "/jwks");
    for (int i = 0; i < 5; i++) {
        th_response_t r;
        bearer(&W.srv, token(&W, i % 2 ? "valid_rs256" : "valid_es256"), &r);
        assert_accepted(&W, &r, "repeat");
        th_response_dispose(&r);
    }
    ck_assert_int_le(stat_count(&W.authority, "/jwks") - jwks, jwks == 0 ? 1 : 0);
    /* Each request was either remembered (a token verified before: no key looked up) or
     * looked the key set up once, a miss only while none was fetched yet. */
    double new_hits = metric_of(&W.srv, JWKS_HIT) - hits;
    double new_misses = metric_of(&W.srv, JWKS_MISS) - misses;
    double new_remembered = th_metric(&W.srv, JWT_REMEMBERED) - remembered;
    ck_assert_double_eq(new_hits + new_misses + new_remembered, 5);
    ck_assert(new_hits + new_remembered >= 4);
}
END_TEST

/* What the token may do comes from its scope claim, or from scp when there is no scope (as
 * Azure AD and others send it, as a string or an array). The token endpoint needs *:read
 * ("read", or "write", which includes it). If the scp cases fail, users of such authorities
 * are locked out (403 on every request); if files:read or openid/profile got through, a
 * token granted for one resource, or for sign-in only, would be swapped for a token good
 * for everything. */
START_TEST(scope_or_scp_decides)
{
    static const struct {
        const char *name;
        long status;
    } cases[] = {
        {"scp_string", 200},           /* no scope; scp "read" */
        {"scp_array", 200},            /* no scope; scp ["write"] */
        {"scope_read", 200},           /* scope "read" */
        {"scope_resource_read", 403},  /* scope "files:read": bound to one resource */
        {"scope_openid_profile", 403}, /* scope "openid profile": sign-in only */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_response_t r;
        bearer(&W.srv, token(&W, cases[i].name), &r);
        if (cases[i].status == 200) {
            assert_accepted(&W, &r, cases[i].name);
        } else {
            assert_error_only(&r, cases[i].status, cases[i].name);
            th_assert_error_message(&r, "Access denied");
        }
        th_response_dispose(&r);
    }
}
END_TEST

/* ---- the introspection cache's lifetimes: a world of its own ----
 * oidc.introspection.cache_ttl: 60 and negative_ttl: NEGATIVE_TTL. The server is started
 * before the tokens are crafted, so that the short-lived tokens (exp = craft time + 3, 10 and
 * 30 s) have nearly all their life left when the first test presents them.
 * Neither test asserts anything that a slow machine could make false: what must come from the
 * cache is asserted only of a request that ended before the verdict could have expired, and
 * what must not is asserted only after waiting until it surely had. A machine too busy to
 * make the first kind of request in time makes the test try again with another token. */
#define NEGATIVE_TTL 2

static void world_setup_ttl(void)
{
    memset(&W, 0, sizeof(W));
    W.introspect_jwt = true;
    W.negative_ttl = NEGATIVE_TTL;
    make_craft_dir(&W);
    char jwks[TH_PATH], log[TH_PATH];
    snprintf(jwks, sizeof(jwks), "%s/jwks.json", W.craft_dir);
    snprintf(log, sizeof(log), "%s/authority.log", W.craft_dir);
    authority_start(&W.authority, jwks, log);
    world_env(&W, W.authority.issuer);
    th_server_start(&W.srv, &W.env);
    world_craft(&W, W.authority.issuer);
}

/* Seconds since the epoch, with a fraction (token times are wall-clock times). */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until_wall(double when)
{
    double wait = when - wall_now();
    if (wait > 0)
        usleep((useconds_t)(wait * 1e6));
}

/* A positive verdict is kept for cache_ttl (60 s) at most, and never past the token's exp:
 * a short-lived token is introspected once, answered from the cache while it lives, and
 * introspected afresh once its exp has passed; an answer for a token already past its exp
 * is not cached at all. If this fails, a token revoked at (or expired by) the authority
 * keeps working for up to a minute after its exp, on identityd's word alone.
 * identityd keeps the verdict until at least exp (it counts the time left from its clock's
 * whole second, which only lengthens it), so a second use that ended before exp must have
 * been answered from the cache. One that ended later proves nothing (the machine was slow):
 * then the same is tried with a longer-lived token. */
START_TEST(positive_cache_ends_at_exp)
{
    static const char *const lives[] = {"short_lived", "short_lived_10", "short_lived_30"};
    ck_assert(W.introspect_jwt);
    const char *t = NULL;
    double exp = 0;
    long long before = 0;
    th_response_t r;
    for (size_t i = 0; i < sizeof(lives) / sizeof(lives[0]) && t == NULL; i++) {
        const char *candidate = token(&W, lives[i]);
        json_t *claims = th_jwt_part(candidate, 1);
        exp = json_number_value(json_object_get(claims, "exp"));
        json_decref(claims);
        if (exp - wall_now() < 1.0) {
            fprintf(stderr, "positive_cache_ends_at_exp: %s has %.1f s left; trying a longer one\n",
                    lives[i], exp - wall_now());
            continue;
        }
        before = stat_count(&W.authority, "/introspect");
        bearer(&W.srv, candidate, &r);
        assert_accepted(&W, &r, lives[i]);
        th_response_dispose(&r);
        ck_assert_int_eq(stat_count(&W.authority, "/introspect"), before + 1);

        bearer(&W.srv, candidate, &r);
        double ended = wall_now();
        assert_accepted(&W, &r, "a short-lived token, again at once");
        th_response_dispose(&r);
        long long calls = stat_count(&W.authority, "/introspect");
        if (ended < exp) {
            ck_assert_msg(calls == before + 1,
                          "%s: a live token's verdict was not cached (introspection calls: %lld, "
                          "expected %lld; %.1f s before exp)",
                          lives[i], calls, before + 1, exp - ended);
            t = candidate;
        } else {
            fprintf(stderr,
                    "positive_cache_ends_at_exp: the second use of %s ended %.1f s past "
                    "its exp; trying a longer one\n",
                    lives[i], ended - exp);
        }
    }
    ck_assert_msg(t != NULL, "no short-lived token could be used twice within its life");

    /* Past exp, and past the whole second identityd rounds its clock to, with room to spare
     * for the moment between its reading of the clock and its storing of the verdict. */
    sleep_until_wall(exp + 2.0);
    /* Still within oidc.clock_skew (120 s) of exp, so the token itself passes; the point is
     * that identityd asked the authority again instead of trusting a 60 s old verdict. */
    bearer(&W.srv, t, &r);
    assert_accepted(&W, &r, "a short-lived token, past exp");
    th_response_dispose(&r);
    ck_assert_msg(stat_count(&W.authority, "/introspect") == before + 2,
                  "the verdict outlived the token's exp (introspection calls: %lld, expected %lld)",
                  stat_count(&W.authority, "/introspect"), before + 2);

    bearer(&W.srv, t, &r);
    assert_accepted(&W, &r, "a short-lived token, past exp, again");
    th_response_dispose(&r);
    ck_assert_msg(stat_count(&W.authority, "/introspect") == before + 3,
                  "a verdict on a token past its exp was cached");
}
END_TEST

/* A negative verdict is kept for negative_ttl: a token the authority calls inactive is
 * refused without asking again right away, and asked about afresh once negative_ttl has
 * passed. If the first half fails, anyone can make identityd call the authority once per
 * request with a revoked token (an amplifier); if the second fails, a token the authority
 * re-activates (or a transient "no") is refused long after it stopped being true.
 * The verdict is stored after the first use began, so a second use that ended within
 * negative_ttl of that must have been answered from the cache; one that ended later proves
 * nothing (the machine was slow), and the same is tried with another inactive token. */
START_TEST(negative_cache_lasts_negative_ttl)
{
    static const char *const names[] = {"introspection_inactive", "introspection_inactive_2",
                                        "introspection_inactive_3"};
    ck_assert(W.introspect_jwt);
    const char *t = NULL;
    long long before = 0;
    double first_ended = 0;
    th_response_t r;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && t == NULL; i++) {
        const char *candidate = token(&W, names[i]);
        before = stat_count(&W.authority, "/introspect");
        double started = th_now();
        bearer(&W.srv, candidate, &r);
        first_ended = th_now();
        assert_refused(&r, "inactive, first use");
        th_response_dispose(&r);
        ck_assert_int_eq(stat_count(&W.authority, "/introspect"), before + 1);

        bearer(&W.srv, candidate, &r);
        double ended = th_now();
        assert_refused(&r, "inactive, again at once");
        th_response_dispose(&r);
        long long calls = stat_count(&W.authority, "/introspect");
        if (ended - started < NEGATIVE_TTL) {
            ck_assert_msg(calls == before + 1,
                          "a negative verdict was not cached (introspection calls: %lld, expected "
                          "%lld; second use ended %.1f s after the first began)",
                          calls, before + 1, ended - started);
            t = candidate;
        } else {
            fprintf(stderr,
                    "negative_cache_lasts_negative_ttl: the second use of %s ended %.1f s "
                    "after the first began; trying another\n",
                    names[i], ended - started);
        }
    }
    ck_assert_msg(t != NULL, "no inactive token could be used twice within negative_ttl");

    /* The verdict was stored before the first answer came: it has surely expired by then. */
    double wait = first_ended + NEGATIVE_TTL + 0.3 - th_now();
    if (wait > 0)
        usleep((useconds_t)(wait * 1e6));
    bearer(&W.srv, t, &r);
    assert_refused(&r, "inactive, after negative_ttl");
    th_response_dispose(&r);
    ck_assert_msg(
        stat_count(&W.authority, "/introspect") == before + 2,
        "a negative verdict outlived negative_ttl (introspection calls: %lld, expected %lld)",
        stat_count(&W.authority, "/introspect"), before + 2);
}
END_TEST

static Suite *oidc_suite(void)
{
    Suite *s = suite_create("oidc_refusals");

    /* One authority and one identityd for these, started once in the parent process; each
     * test runs in its own child. The outage test stops the authority, so it comes last. */
    TCase *tc = tcase_create("refusals");
    tcase_add_unchecked_fixture(tc, world_setup_introspect, world_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_tokens_accepted);
    tcase_add_loop_test(tc, crafted_token_refused, 0, N_REFUSALS);
    tcase_add_test(tc, header_urls_never_fetched);
    tcase_add_test(tc, own_token_not_a_credential);
    tcase_add_test(tc, unknown_kid_refetch_is_bounded);
    tcase_add_test(tc, concurrent_checks_share_one_introspection);
    tcase_add_test(tc, introspection_unsupported_is_refused_and_logged);
    tcase_add_test(tc, scope_or_scp_decides);
    tcase_add_test(tc, authority_down_gives_503);
    suite_add_tcase(s, tc);

    /* The same attacks with oidc.introspection.jwt off: the JWT checks alone. */
    TCase *plain = tcase_create("refusals_no_introspection");
    tcase_add_unchecked_fixture(plain, world_setup_plain, world_teardown);
    tcase_set_timeout(plain, 60);
    tcase_add_test(plain, valid_tokens_accepted);
    tcase_add_loop_test(plain, crafted_token_refused, 0, N_REFUSALS);
    tcase_add_test(plain, header_urls_never_fetched);
    tcase_add_test(plain, own_token_not_a_credential);
    tcase_add_test(plain, keys_fetched_once);
    tcase_add_test(plain, scope_or_scp_decides);
    tcase_add_test(plain, verified_jwt_is_remembered);
    tcase_add_test(plain, authority_down_cached_jwks_still_verifies);
    suite_add_tcase(s, plain);

    /* The introspection cache's lifetimes; positive_cache_ends_at_exp first, while its
     * short-lived tokens are young (the longest lives 30 s: time for it to pass). */
    TCase *ttl = tcase_create("introspection_cache_ttl");
    tcase_add_unchecked_fixture(ttl, world_setup_ttl, world_teardown);
    tcase_set_timeout(ttl, 90);
    tcase_add_test(ttl, positive_cache_ends_at_exp);
    tcase_add_test(ttl, negative_cache_lasts_negative_ttl);
    suite_add_tcase(s, ttl);

    TCase *fresh_keys = tcase_create("cache_control");
    tcase_add_unchecked_fixture(fresh_keys, world_setup_short_max_age, world_teardown);
    tcase_set_timeout(fresh_keys, 60);
    tcase_add_test(fresh_keys, cache_control_max_age_respected);
    suite_add_tcase(s, fresh_keys);

    TCase *email = tcase_create("user_claim_email");
    tcase_add_unchecked_fixture(email, world_setup_email, world_teardown);
    tcase_set_timeout(email, 60);
    tcase_add_test(email, email_claim_needs_verification);
    suite_add_tcase(s, email);

    TCase *down = tcase_create("unreachable");
    tcase_set_timeout(down, 60);
    tcase_add_test(down, authority_port_closed_gives_503);
    tcase_add_test(down, authority_silent_gives_503_within_timeout);
    suite_add_tcase(s, down);
    return s;
}

int main(void)
{
    return th_run_suite(oidc_suite());
}
