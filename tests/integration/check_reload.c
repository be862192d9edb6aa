/*
 * Reloading the configuration and keys without a restart (SIGHUP, identityctl reload): a key
 * rotation walked through its reloads while a client asks for tokens without pause, a bad
 * file that leaves the running keys serving, settings that only apply at start, a request in
 * flight across a reload, and identityctl's key rotate and reload.
 */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define TOKEN_PATH "/api/2.0/security/oauth2/token"
#define JWKS_PATH "/.well-known/jwks.json"

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_threads = 2;
    th_password_iterations = 1000;
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(th_add_user(&env, "ada@example.com", "pw", "Ada", "Lovelace", "admin"), 0);
}

static void teardown(void)
{
    int rc = srv.pid > 0 ? th_server_stop(&srv) : 0;
    th_env_dispose(&env);
    ck_assert_int_eq(rc, 0);
}

/* Writes a new private key of alg to name in the environment's folder. */
static void generate_key(const char *alg, const char *name)
{
    char *path = th_strf("%s/%s", env.dir, name);
    const char *argv[] = {th_ctl(), "key", "generate", "--alg", alg, "--out", path, NULL};
    char *err = NULL;
    int rc = th_run(argv, NULL, NULL, &err);
    ck_assert_msg(rc == 0, "key generate: %s", err);
    free(err);
    free(path);
}

/* Occurrences of needle in the server's log. */
static int log_count(const char *needle)
{
    char *log = th_read_file(srv.log);
    int n = 0;
    for (const char *p = log; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* Waits until the log says how a reload went, given the counts of its outcomes before it
 * was asked for: a new configuration serving (true), or the reload refused (false). Gives up
 * after 30 s. */
static bool reload_outcome(int served, int refused)
{
    for (double end = th_now() + 30; th_now() < end; usleep(10000)) {
        if (log_count(" serving: signing with ") > served)
            return true;
        if (log_count("reload refused") > refused)
            return false;
    }
    ck_abort_msg("no reload outcome in the log within 30 s");
    return false;
}

/* Sends SIGHUP and waits for the reload's outcome (reload_outcome). */
static bool hup_and_wait(void)
{
    int served = log_count(" serving: signing with ");
    int refused = log_count("reload refused");
    ck_assert_int_eq(kill(srv.pid, SIGHUP), 0);
    return reload_outcome(served, refused);
}

/* A token for ada over Basic; returns its malloc'd text or NULL (status in *status). */
static char *get_token(long *status)
{
    char *basic = th_basic("ada@example.com", "pw");
    th_response_t r;
    th_get(&r, &srv, TOKEN_PATH, basic);
    free(basic);
    *status = r.status;
    char *token = NULL;
    if (r.status == 200) {
        json_t *doc = json_loads(r.body, 0, NULL);
        json_t *v = json_object_get(doc, "response");
        if (json_is_string(v))
            token = strdup(json_string_value(v));
        json_decref(doc);
    }
    th_response_dispose(&r);
    return token;
}

/* The kid in a token's header (malloc'd). */
static char *kid_of(const char *token)
{
    json_t *h = th_jwt_part(token, 0);
    char *kid = strdup(json_string_value(json_object_get(h, "kid")));
    json_decref(h);
    return kid;
}

/* The served JWKS body (malloc'd). */
static char *get_jwks(void)
{
    th_response_t r;
    th_get(&r, &srv, JWKS_PATH, NULL);
    ck_assert_int_eq(r.status, 200);
    char *body = strdup(r.body);
    th_response_dispose(&r);
    return body;
}

static bool jwks_has(const char *jwks, const char *kid)
{
    char *needle = th_strf("\"kid\":\"%s\"", kid);
    bool found = strstr(jwks, needle) != NULL;
    free(needle);
    return found;
}

static char *token_kid(void)
{
    long status = 0;
    char *token = get_token(&status);
    ck_assert_int_eq(status, 200);
    char *kid = kid_of(token);
    free(token);
    return kid;
}

/* ---- the rotation, under load -------------------------------------------------------- */

static const char keys_a[] = "keys:\n"
                             "  - { kid: key-a, alg: ES256, file: a.pem, state: active }\n";
static const char keys_a_b_published[] =
    "keys:\n"
    "  - { kid: key-a, alg: ES256, file: a.pem, state: active }\n"
    "  - { kid: key-b, alg: EdDSA, file: b.pem, state: published }\n";
static const char keys_b_active[] =
    "keys:\n"
    "  - { kid: key-a, alg: ES256, file: a.pem, state: published }\n"
    "  - { kid: key-b, alg: EdDSA, file: b.pem, state: active }\n";
static const char keys_a_retired[] = "keys:\n"
                                     "  - { kid: key-a, alg: ES256, file: a.pem, state: retired }\n"
                                     "  - { kid: key-b, alg: EdDSA, file: b.pem, state: active }\n";

START_TEST(rotation_without_a_failed_request)
{
    generate_key("ES256", "a.pem");
    generate_key("EdDSA", "b.pem");
    th_env_write_config(&env, NULL, keys_a);
    th_server_start(&srv, &env);

    th_verifier_t v;
    th_verifier_start(&v, &srv, "ada@example.com", "pw");
    th_verifier_wait(&v, 5);

    /* 1: the new key is published: in the JWKS, not signing. */
    th_env_write_config(&env, NULL, keys_a_b_published);
    ck_assert(hup_and_wait());
    th_verifier_wait(&v, 5);
    char *jwks = get_jwks();
    ck_assert(jwks_has(jwks, "key-a") && jwks_has(jwks, "key-b"));
    free(jwks);
    char last[80];
    ck_assert_int_eq(th_verifier_kids(&v, last), 1);
    ck_assert_str_eq(last, "key-a");

    /* 2: it signs; the old one stays published for the tokens it signed. */
    th_env_write_config(&env, NULL, keys_b_active);
    ck_assert(hup_and_wait());
    th_verifier_wait(&v, 5);
    ck_assert_int_eq(th_verifier_kids(&v, last), 2);
    ck_assert_str_eq(last, "key-b");

    /* 3: the old key is retired: gone from the JWKS; its file is no longer read. */
    th_env_write_config(&env, NULL, keys_a_retired);
    ck_assert(hup_and_wait());
    th_verifier_wait(&v, 5);
    jwks = get_jwks();
    ck_assert(!jwks_has(jwks, "key-a") && jwks_has(jwks, "key-b"));
    free(jwks);
    th_verifier_stop(&v); /* fails the test if any round failed */

    /* The log tells each key's change, and which key each configuration signs with. */
    ck_assert_int_eq(log_count("key key-b (EdDSA): added as published"), 1);
    ck_assert_int_eq(log_count("key key-b (EdDSA): published -> active"), 1);
    ck_assert_int_eq(log_count("key key-a (ES256): active -> published"), 1);
    ck_assert_int_eq(log_count("key key-a (ES256): published -> retired"), 1);
    ck_assert_int_eq(log_count("configuration 4 serving: signing with EdDSA key key-b"), 1);
}
END_TEST

/* ---- a bad file changes nothing ------------------------------------------------------ */

/* Reloads a configuration with keys_yaml that must be refused with a log line holding each
 * of the NULL-terminated needles; then the old key still signs and the JWKS is unchanged. */
static void refused(const char *keys_yaml, const char *const needles[])
{
    char *jwks_before = get_jwks();
    th_env_write_config(&env, NULL, keys_yaml);
    ck_assert_msg(!hup_and_wait(), "a bad configuration was taken: %s", keys_yaml);
    char *log = th_read_file(srv.log);
    const char *line = strstr(log, "reload refused");
    while (line != NULL && strstr(line + 1, "reload refused") != NULL)
        line = strstr(line + 1, "reload refused");
    for (size_t i = 0; needles[i] != NULL; i++)
        ck_assert_msg(line != NULL && strstr(line, needles[i]) != NULL,
                      "refusal does not say \"%s\": %s", needles[i], line ? line : log);
    free(log);
    char *kid = token_kid();
    ck_assert_str_eq(kid, "key-a");
    free(kid);
    char *jwks_after = get_jwks();
    ck_assert_str_eq(jwks_after, jwks_before);
    free(jwks_after);
    free(jwks_before);
}

START_TEST(bad_reload_keeps_old_keys)
{
    generate_key("ES256", "a.pem");
    generate_key("EdDSA", "b.pem");
    th_env_write_config(&env, NULL, keys_a);
    th_server_start(&srv, &env);
    char *cfg_line = th_strf("%s:", env.config);

    /* Two active keys: the file and line of the second. */
    refused("keys:\n"
            "  - { kid: key-a, alg: ES256, file: a.pem, state: active }\n"
            "  - { kid: key-b, alg: EdDSA, file: b.pem, state: active }\n",
            (const char *const[]){cfg_line, "second active key", NULL});
    /* A missing key file. */
    refused("keys:\n"
            "  - { kid: key-a, alg: ES256, file: a.pem, state: published }\n"
            "  - { kid: key-b, alg: EdDSA, file: missing.pem, state: active }\n",
            (const char *const[]){cfg_line, "missing.pem", NULL});
    /* A key file others may read. */
    char *b = th_strf("%s/b.pem", env.dir);
    ck_assert_int_eq(chmod(b, 0640), 0);
    refused(keys_b_active, (const char *const[]){cfg_line, "b.pem", NULL});
    ck_assert_int_eq(chmod(b, 0600), 0);
    /* A key of another type than its alg says. */
    refused("keys:\n"
            "  - { kid: key-a, alg: ES256, file: a.pem, state: published }\n"
            "  - { kid: key-b, alg: ES256, file: b.pem, state: active }\n",
            (const char *const[]){cfg_line, "key-b", NULL});
    /* Not YAML at all. */
    refused("keys: [ {\n", (const char *const[]){cfg_line, NULL});
    free(b);
    free(cfg_line);

    /* Nothing was half-applied: the next good file is configuration 2. */
    th_env_write_config(&env, NULL, keys_b_active);
    ck_assert(hup_and_wait());
    ck_assert_int_eq(log_count("configuration 2 serving: signing with EdDSA key key-b"), 1);
    char *kid = token_kid();
    ck_assert_str_eq(kid, "key-b");
    free(kid);
}
END_TEST

/* ---- what applies and what waits for a restart --------------------------------------- */

START_TEST(restart_only_settings_are_reported)
{
    th_server_start(&srv, &env);
    /* A 2 KiB header, under the default limit of 16 KiB. */
    char big[2100];
    memset(big, 'x', sizeof(big));
    memcpy(big, "X-Big: ", 7);
    big[sizeof(big) - 1] = '\0';
    th_response_t r;
    th_get(&r, &srv, JWKS_PATH, big);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);

    /* threads applies at start only; a header limit at once. */
    th_threads = 3;
    th_env_write_config(&env, "limits: { max_header_bytes: 1024 }\n", NULL);
    ck_assert(hup_and_wait());
    ck_assert_int_eq(log_count("reload: threads changed in the file but only take effect at a "
                               "restart"),
                     1);
    ck_assert_int_eq(log_count("changed: limits.max_header_bytes"), 1);
    th_get(&r, &srv, JWKS_PATH, big);
    th_assert_error_envelope(&r, 431);
    th_response_dispose(&r);
    /* Every loop serves with it: as many requests as there are loops, and more. */
    for (int i = 0; i < 8; i++) {
        th_get(&r, &srv, JWKS_PATH, big);
        ck_assert_int_eq(r.status, 431);
        th_response_dispose(&r);
    }
}
END_TEST

typedef struct body {
    char data[8192];
    size_t len;
} body_t;

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    body_t *b = arg;
    size_t len = size * n;
    if (b->len + len >= sizeof(b->data))
        return 0;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/* A request that began before a reload is answered with the keys it began with; the next
 * one with the new keys. */
START_TEST(in_flight_request_keeps_its_keys)
{
    th_threads = 1;
    th_password_iterations = 1500000; /* about a second of PBKDF2 per check */
    generate_key("ES256", "a.pem");
    generate_key("EdDSA", "b.pem");
    th_env_write_config(&env, "basic_cache: { ttl: 0 }\n", keys_a);
    ck_assert_int_eq(th_add_user(&env, "slow@example.com", "pw", "Slow", "Hash", "user"), 0);
    th_server_start(&srv, &env);

    CURLM *multi = curl_multi_init();
    char *basic = th_basic("slow@example.com", "pw");
    struct curl_slist *headers = curl_slist_append(NULL, basic);
    free(basic);
    char *url = th_url(&srv, TOKEN_PATH);
    CURL *easy = th_multi_add(multi, url, headers, NULL, 60);
    static body_t body;
    body.len = 0;
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
    free(url);
    th_pump_until_hashing(multi, &srv);
    ck_assert_int_eq(th_kdf_gauge(&srv, "identityd_worker_running"), 1);
    th_env_write_config(&env, "basic_cache: { ttl: 0 }\n", keys_b_active);
    ck_assert(hup_and_wait());
    /* The loop has moved on: a JWKS asked now is the new one. */
    char *jwks = get_jwks();
    ck_assert(jwks_has(jwks, "key-b"));
    free(jwks);

    th_multi_run(multi);
    ck_assert_int_eq(th_multi_finish(multi, easy), 200);
    json_t *doc = th_json_parse(body.data);
    const char *token = json_string_value(json_object_get(doc, "response"));
    ck_assert_ptr_nonnull(token);
    char *kid = kid_of(token);
    ck_assert_str_eq(kid, "key-a");
    free(kid);
    json_decref(doc);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);

    kid = token_kid();
    ck_assert_str_eq(kid, "key-b");
    free(kid);
}
END_TEST

/* identityctl key rotate writes a key and the line that publishes it; identityctl reload
 * signals the identityd of pid_file, and only an identityd. */
START_TEST(identityctl_rotate_and_reload)
{
    th_env_write_config(&env, "pid_file: identityd.pid\n", NULL);
    th_server_start(&srv, &env);
    char *pid_path = th_strf("%s/identityd.pid", env.dir);
    char *pid_text = th_read_file(pid_path);
    ck_assert_ptr_nonnull(pid_text);
    ck_assert_int_eq(atoi(pid_text), srv.pid);
    free(pid_text);

    const char *rotate[] = {th_ctl(), "key", "rotate", "--dir", env.dir, "--alg", "EdDSA", NULL};
    char *out = NULL, *err = NULL;
    ck_assert_int_eq(th_run(rotate, NULL, &out, &err), 0);
    /* One line on stdout: "  - { kid: K, alg: EdDSA, file: F, state: published }". */
    char kid[80] = "", file[512] = "";
    ck_assert_msg(sscanf(out, "  - { kid: %79[^,], alg: EdDSA, file: %511[^,], state: published }",
                         kid, file) == 2,
                  "unexpected output: %s", out);
    ck_assert_ptr_nonnull(strstr(err, "then reload"));
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    char *keys = th_strf("keys:\n"
                         "  - { kid: test-es256, alg: ES256, file: es256.pem, state: active }\n"
                         "%s",
                         out);
    free(out);
    free(err);
    th_env_write_config(&env, "pid_file: identityd.pid\n", keys);
    free(keys);

    int served = log_count(" serving: signing with ");
    const char *reload[] = {th_ctl(), "-c", env.config, "reload", NULL};
    out = err = NULL;
    ck_assert_int_eq(th_run(reload, NULL, &out, &err), 0);
    free(out);
    free(err);
    ck_assert(reload_outcome(served, log_count("reload refused")));
    char *jwks = get_jwks();
    ck_assert(jwks_has(jwks, kid));
    free(jwks);

    /* A pid file naming another process (this test) is refused, and nothing is signalled:
     * SIGHUP would end this process. */
    char *mine = th_strf("%d\n", (int)getpid());
    th_write_file(pid_path, mine, 0644);
    free(mine);
    out = err = NULL;
    ck_assert_int_ne(th_run(reload, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "is not identityd"));
    free(out);
    free(err);

    /* identityd removes its pid file when it stops. */
    th_write_file(pid_path, "0\n", 0644);
    ck_assert_int_eq(th_server_stop(&srv), 0);
    srv.pid = 0;
    ck_assert_int_ne(access(pid_path, F_OK), 0);
    free(pid_path);
}
END_TEST

/* -t accepts a retired key whose file is gone: it is a record, never read. */
START_TEST(retired_key_file_not_read)
{
    generate_key("ES256", "a.pem");
    th_env_write_config(&env, NULL,
                        "keys:\n"
                        "  - { kid: old, alg: ES256, file: gone.pem, state: retired }\n"
                        "  - { kid: key-a, alg: ES256, file: a.pem, state: active }\n");
    const char *check[] = {th_bin(), "-t", "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(check, NULL, &out, &err);
    ck_assert_msg(rc == 0, "identityd -t: %s", err);
    free(out);
    free(err);
    /* The same key published must have its file. */
    th_env_write_config(&env, NULL,
                        "keys:\n"
                        "  - { kid: old, alg: ES256, file: gone.pem, state: published }\n"
                        "  - { kid: key-a, alg: ES256, file: a.pem, state: active }\n");
    out = err = NULL;
    ck_assert_int_ne(th_run(check, NULL, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(err, "gone.pem"));
    free(out);
    free(err);
}
END_TEST

/* The line of the config file that holds needle (1-based), for expected "FILE:LINE:". */
static int line_of(const char *needle)
{
    char *text = th_read_file(env.config);
    const char *at = strstr(text, needle);
    ck_assert_ptr_nonnull(at);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/* identityd -t on keys_yaml must exit 1 with "CONFIG:LINE: ...what..." on stderr, LINE being
 * that of the line holding at. */
static void t_refuses(const char *keys_yaml, const char *at, const char *what)
{
    th_env_write_config(&env, NULL, keys_yaml);
    const char *check[] = {th_bin(), "-t", "-c", env.config, NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(check, NULL, &out, &err);
    char *where = th_strf("%s:%d: ", env.config, line_of(at));
    ck_assert_msg(rc == 1, "identityd -t accepted: %s", keys_yaml);
    ck_assert_msg(strstr(err, where) != NULL && strstr(err, what) != NULL,
                  "expected \"%s...%s\", got: %s", where, what, err);
    free(where);
    free(out);
    free(err);
}

/* Each refusal of a key by identityd -t (and so by a reload, which checks the same way)
 * names the file and the line of the key. */
START_TEST(t_refusals_name_file_and_line)
{
    generate_key("ES256", "a.pem");
    generate_key("EdDSA", "b.pem");
    t_refuses("keys:\n"
              "  - { kid: key-a, alg: ES256, file: a.pem, state: published }\n"
              "  - { kid: key-b, alg: EdDSA, file: b.pem, state: published }\n",
              "kid: key-a", "no key is active"); /* the list starts at its first item */
    t_refuses("keys:\n"
              "  - { kid: key-a, alg: ES256, file: a.pem }\n"
              "  - { kid: key-b, alg: EdDSA, file: b.pem }\n",
              "kid: key-b", "second active key");
    t_refuses("keys:\n"
              "  - { kid: key-a, alg: ES256, file: a.pem }\n"
              "  - { kid: key-a, alg: EdDSA, file: b.pem, state: published }\n",
              "alg: EdDSA", "already used");
    t_refuses("keys:\n  - { kid: key-a, alg: ES256, file: nowhere.pem }\n", "kid: key-a",
              "nowhere.pem");
    t_refuses("keys:\n  - { kid: key-a, alg: ES256, file: b.pem }\n", "kid: key-a", "key-a");
    /* A folder where a key file should be cannot be read as one. */
    char *dir = th_strf("%s/dir.pem", env.dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    free(dir);
    t_refuses("keys:\n  - { kid: key-a, alg: ES256, file: dir.pem }\n", "kid: key-a", "dir.pem");
    char *a = th_strf("%s/a.pem", env.dir);
    ck_assert_int_eq(chmod(a, 0644), 0);
    t_refuses("keys:\n  - { kid: key-a, alg: ES256, file: a.pem }\n", "kid: key-a",
              "group or others");
    ck_assert_int_eq(chmod(a, 0600), 0);
    free(a);
    /* RSA below 2048 bits. */
    char *cmd = th_strf("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "
                        "'%s/small.pem' 2>/dev/null && chmod 600 '%s/small.pem'",
                        env.dir, env.dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    t_refuses("keys:\n  - { kid: small, alg: RS256, file: small.pem }\n", "kid: small", "2048");
}
END_TEST

static Suite *reload_suite(void)
{
    Suite *s = suite_create("reload");
    TCase *tc = tcase_create("reload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, rotation_without_a_failed_request);
    tcase_add_test(tc, bad_reload_keeps_old_keys);
    tcase_add_test(tc, restart_only_settings_are_reported);
    tcase_add_test(tc, in_flight_request_keeps_its_keys);
    tcase_add_test(tc, identityctl_rotate_and_reload);
    tcase_add_test(tc, retired_key_file_not_read);
    tcase_add_test(tc, t_refusals_name_file_and_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(reload_suite());
}
