/*
 * identityd's sign-in page in a real browser: headless Chromium from Debian, driven by
 * playwright-core (tests/interop/login.mjs), against the real server. A wrong then a right
 * password, the session cookie as the browser keeps it (HttpOnly, SameSite=Strict, out of the
 * page's reach), a reload that keeps the session, sign-out that ends it, and a screenshot in
 * the build tree's test-output folder. Then the two-factor steps (tests/interop/tfa.mjs), with
 * two-factor sign-in turned on through the admin API: linking an app from the page's key, a
 * wrong then a right code, the backup codes, and a later sign-in with one of them. Also what
 * /login answers without a browser: the page's headers, and 404 when its files are not
 * installed.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static th_env_t env;
static th_server_t srv;

static void setup(void)
{
    th_env_init(&env, NULL, NULL);
    ck_assert_int_eq(
        th_add_user(&env, "ada@example.com", "correct horse", "Ada", "Lovelace", "admin"), 0);
    th_server_start(&srv, &env);
}

static void teardown(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* The folder screenshots go to (made if missing). */
static const char *output_dir(void)
{
    const char *dir = th_getenv("IDD_TEST_OUTPUT");
    mkdir(dir, 0755);
    return dir;
}

START_TEST(sign_in_reload_sign_out)
{
    char *script = th_strf("%s/login.mjs", th_getenv("IDD_INTEROP_DIR"));
    const char *argv[] = {th_getenv("IDD_NODE"), script,       srv.base, "ada@example.com",
                          "correct horse",       output_dir(), NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    ck_assert_msg(rc == 0, "login.mjs exit %d: %s", rc, err);
    json_t *seen = th_json_parse(out);

    /* A wrong password says so, in words a person can act on. */
    const char *wrong = json_string_value(json_object_get(seen, "wrongPasswordError"));
    ck_assert_ptr_nonnull(strstr(wrong, "Check both and try again"));
    /* Signed in: who, and a token with that user's claims. */
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(seen, "who")), "Ada"));
    json_t *claims = json_object_get(seen, "claims");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "user_email")), "ada@example.com");
    ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")), srv.base);
    json_t *header = th_jwt_part(json_string_value(json_object_get(seen, "token")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(header, "kid")), "test-es256");
    json_decref(header);
    /* The session cookie, as the browser keeps it. */
    json_t *cookie = json_object_get(seen, "cookie");
    ck_assert(json_is_true(json_object_get(cookie, "httpOnly")));
    ck_assert_str_eq(json_string_value(json_object_get(cookie, "sameSite")), "Strict");
    ck_assert_str_eq(json_string_value(json_object_get(cookie, "path")), "/");
    ck_assert(json_is_false(json_object_get(seen, "cookieVisibleToScript")));
    /* A reload keeps the session; sign-out ends it for good. */
    ck_assert_str_eq(json_string_value(json_object_get(seen, "afterReload")),
                     json_string_value(json_object_get(seen, "who")));
    ck_assert(json_is_false(json_object_get(seen, "cookieAfterSignOut")));
    ck_assert(json_is_false(json_object_get(seen, "signedInAfterSignOutReload")));
    /* The page's script threw nothing. */
    ck_assert_int_eq(json_array_size(json_object_get(seen, "scriptErrors")), 0);
    /* The screenshot is a PNG. */
    const char *shot = json_string_value(json_object_get(seen, "screenshot"));
    ck_assert(th_file_contains(shot, "\x89PNG\r\n\x1a\n", 8));
    /* The policy the browser was given allows only this origin's script. */
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(seen, "csp")), "script-src 'self'"));

    json_decref(seen);
    free(out);
    free(err);
    free(script);
}
END_TEST

/* Turns two-factor sign-in on for the tenant, as its admin does, naming user_id as mandatory. */
static void tfa_on(const char *admin, const char *password, const char *user_id)
{
    char *url = th_url(&srv, "/api/2.0/settings/tfaapp");
    char *auth = th_basic(admin, password);
    char *body = th_strf("{\"type\":\"App\",\"mandatoryUsers\":[\"%s\"]}", user_id);
    const char *headers[] = {auth, "Content-Type: application/json", NULL};
    th_response_t r;
    th_http(&r, "PUT", url, headers, body, strlen(body), 0);
    ck_assert_msg(r.status == 200, "PUT tfaapp: %ld %s", r.status, r.body);
    th_response_dispose(&r);
    free(body);
    free(auth);
    free(url);
}

/* The two-factor steps of the page: an app linked from the key it shows, a wrong code refused
 * in words, the backup codes shown once, the session cookie; then a backup code in place of the
 * app at the next sign-in. */
START_TEST(two_factor_setup_and_backup_code)
{
    ck_assert_int_eq(
        th_add_user(&env, "grace@example.com", "a second factor", "Grace", "Hopper", "user"), 0);
    char *grace = th_user_guid(&env, "grace@example.com");
    tfa_on("ada@example.com", "correct horse", grace);

    char *script = th_strf("%s/tfa.mjs", th_getenv("IDD_INTEROP_DIR"));
    const char *argv[] = {th_getenv("IDD_NODE"), script,       srv.base, "grace@example.com",
                          "a second factor",     output_dir(), NULL};
    char *out = NULL, *err = NULL;
    int rc = th_run(argv, NULL, &out, &err);
    ck_assert_msg(rc == 0, "tfa.mjs exit %d: %s", rc, err);
    json_t *seen = th_json_parse(out);

    /* The QR code is a PNG the page's policy lets load, next to a key of 20 random bytes. */
    ck_assert_str_eq(json_string_value(json_object_get(seen, "qrSrc")), "data:image/png;base64,");
    ck_assert_int_gt(json_integer_value(json_object_get(seen, "qrNaturalWidth")), 0);
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(seen, "csp")), "img-src 'self' data:"));
    ck_assert_int_eq(json_integer_value(json_object_get(seen, "keyBytes")), 20);
    json_t *field = json_object_get(seen, "codeField");
    ck_assert_str_eq(json_string_value(json_object_get(field, "inputMode")), "numeric");
    ck_assert_str_eq(json_string_value(json_object_get(field, "autocomplete")), "one-time-code");
    ck_assert_int_eq(json_integer_value(json_object_get(field, "maxLength")), 6);
    /* A wrong code says what to do. */
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(seen, "wrongCodeError")),
                                 "That code is not right"));
    /* The right one links the app: five backup codes of six characters, to keep safe. */
    json_t *codes = json_object_get(seen, "backupCodes");
    ck_assert_int_eq(json_array_size(codes), 5);
    for (size_t i = 0; i < json_array_size(codes); i++) {
        const char *code = json_string_value(json_array_get(codes, i));
        ck_assert_int_eq(strlen(code), 6);
        ck_assert_uint_eq(strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_"),
                          6);
    }
    ck_assert(json_is_true(json_object_get(seen, "keepSafe")));
    ck_assert(json_is_false(json_object_get(seen, "alertAfterRightCode")));
    /* Signed in, with the session cookie as the browser keeps it, and the codes off the page. */
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(seen, "who")), "Grace"));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(seen, "claims"), "user_email")),
        "grace@example.com");
    json_t *cookie = json_object_get(seen, "cookie");
    ck_assert(json_is_true(json_object_get(cookie, "httpOnly")));
    ck_assert_str_eq(json_string_value(json_object_get(cookie, "sameSite")), "Strict");
    ck_assert(json_is_false(json_object_get(seen, "confirmCookieLeft")));
    ck_assert_int_eq(json_integer_value(json_object_get(seen, "codesLeftOnPage")), 0);
    ck_assert(json_is_false(json_object_get(seen, "cookieAfterSignOut")));
    /* The next sign-in asks for a code only, and a backup code does, once. */
    ck_assert(json_is_false(json_object_get(seen, "secondStepShowsQr")));
    ck_assert_str_eq(json_string_value(json_object_get(seen, "secondStepInputMode")), "text");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(seen, "whoAfterBackupCode")), "Grace"));
    ck_assert(json_is_true(json_object_get(seen, "cookieAfterBackupCode")));
    ck_assert(json_is_true(json_object_get(seen, "backupCodeUsed")));
    /* Too many wrong codes: the page says to wait, within the limit's 5 (+1 refused). */
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(seen, "tooManyError")), "Wait a minute"));
    ck_assert_int_le(json_integer_value(json_object_get(seen, "tooManyAfter")), 6);
    ck_assert(json_is_false(json_object_get(seen, "cookieAfterTooMany")));
    ck_assert_int_eq(json_array_size(json_object_get(seen, "scriptErrors")), 0);
    /* Both screenshots are PNGs. */
    ck_assert(th_file_contains(json_string_value(json_object_get(seen, "setupScreenshot")),
                               "\x89PNG\r\n\x1a\n", 8));
    ck_assert(th_file_contains(json_string_value(json_object_get(seen, "codesScreenshot")),
                               "\x89PNG\r\n\x1a\n", 8));

    json_decref(seen);
    free(out);
    free(err);
    free(script);
    free(grace);
}
END_TEST

/* Without a browser: the page, its script and style sheet, with their types and headers. */
START_TEST(page_files_and_headers)
{
    static const struct {
        const char *path, *type, *marker;
    } files[] = {
        {"/login", "text/html; charset=utf-8", "<form id=\"signin-form\""},
        {"/login/login.js", "text/javascript; charset=utf-8", "crypto.subtle"},
        {"/login/login.css", "text/css; charset=utf-8", ":focus-visible"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        th_response_t r;
        th_get(&r, &srv, files[i].path, NULL);
        ck_assert_int_eq(r.status, 200);
        char *type = th_header(&r, "content-type");
        ck_assert_str_eq(type, files[i].type);
        ck_assert_ptr_nonnull(strstr(r.body, files[i].marker));
        char *csp = th_header(&r, "content-security-policy");
        ck_assert_ptr_nonnull(strstr(csp, "default-src 'none'"));
        ck_assert_ptr_nonnull(strstr(csp, "frame-ancestors 'none'"));
        char *nosniff = th_header(&r, "x-content-type-options");
        ck_assert_str_eq(nosniff, "nosniff");
        free(type);
        free(csp);
        free(nosniff);
        th_response_dispose(&r);
    }
    /* Nothing else under /login is served, whatever the path says. */
    th_response_t r;
    th_get(&r, &srv, "/login/../identityd.yaml", NULL);
    ck_assert_int_ne(r.status, 200);
    th_response_dispose(&r);
    th_get(&r, &srv, "/login/pepper", NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
}
END_TEST

/* Files that are not there: identityd serves the API all the same, and /login says 404. */
START_TEST(page_not_installed)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_write_config(&env, "web_dir: no-such-folder\n", NULL);
    th_server_start(&srv, &env);
    th_response_t r;
    th_get(&r, &srv, "/login", NULL);
    th_assert_error_envelope(&r, 404);
    th_response_dispose(&r);
    char *log = th_read_file(srv.log);
    ck_assert_ptr_nonnull(strstr(log, "the sign-in page is not served"));
    free(log);
    th_get(&r, &srv, "/health", NULL);
    ck_assert_int_eq(r.status, 200);
    th_response_dispose(&r);
}
END_TEST

static Suite *browser_suite(void)
{
    Suite *s = suite_create("browser");
    TCase *tc = tcase_create("login");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, sign_in_reload_sign_out);
    tcase_add_test(tc, two_factor_setup_and_backup_code);
    tcase_add_test(tc, page_files_and_headers);
    tcase_add_test(tc, page_not_installed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(browser_suite());
}
