/*
 * `identityd -t` against secret files that other accounts on the host could read: the
 * pepper, a PEM signing key, a machine_key_file and the OIDC client_secret_file. Each is
 * refused with "FILE:LINE:" naming the config file and the line of the key that names the
 * secret, like every other configuration error; the same files at 0600 pass, so a refusal
 * is about the mode and nothing else.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

/* An HS256 key read from a file, beside the default ES256 key. */
#define KEYS_WITH_MACHINE_KEY_FILE                                                                 \
    "keys:\n"                                                                                      \
    "  - { kid: test-es256, alg: ES256, file: es256.pem, state: active }\n"                        \
    "  - kid: docspace\n"                                                                          \
    "    alg: HS256\n"                                                                             \
    "    state: published\n"                                                                       \
    "    machine_key_file: machinekey\n"

#define OIDC_WITH_SECRET_FILE                                                                      \
    "oidc:\n"                                                                                      \
    "  authority: https://idp.example\n"                                                           \
    "  introspection:\n"                                                                           \
    "    client_id: identityd\n"                                                                   \
    "    client_secret_file: oidc-secret\n"

/* The 1-based line of the first line of the config holding needle. */
static int line_of(const th_env_t *env, const char *needle)
{
    char *text = th_read_file(env->config);
    ck_assert_ptr_nonnull(text);
    const char *at = strstr(text, needle);
    ck_assert_msg(at != NULL, "no '%s' in the config", needle);
    int line = 1;
    for (const char *p = text; p < at; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/* Runs identityd -t; returns its exit status, *err its stderr (caller frees). */
static int check_config(const th_env_t *env, char **err)
{
    char *out = NULL;
    const char *argv[] = {th_bin(), "-c", env->config, "-t", NULL};
    int rc = th_run(argv, NULL, &out, err);
    free(out);
    return rc;
}

/*
 * Sets the secret file name (inside env's folder) to each shared mode in turn and expects
 * `identityd -t` to refuse it at the line of needle; then to 0600 and expects success.
 */
static void expect_refused_at(const th_env_t *env, const char *name, const char *needle)
{
    static const mode_t modes[] = {0640, 0604, 0644};
    char path[TH_PATH + 32], where[TH_PATH + 48];
    snprintf(path, sizeof(path), "%s/%s", env->dir, name);
    snprintf(where, sizeof(where), "%s:%d: ", env->config, line_of(env, needle));
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        ck_assert_int_eq(chmod(path, modes[i]), 0);
        char *err = NULL;
        ck_assert_int_eq(check_config(env, &err), 1);
        ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "%s %04o: stderr '%s' lacks '%s'",
                      name, (unsigned)modes[i], err, where);
        ck_assert_msg(strstr(err, "group or others") != NULL, "%s: stderr '%s'", name, err);
        ck_assert_msg(strstr(err, path) != NULL, "%s: stderr '%s' names no file", name, err);
        free(err);
    }
    ck_assert_int_eq(chmod(path, 0600), 0);
    char *err = NULL;
    ck_assert_msg(check_config(env, &err) == 0, "%s at 0600 refused: %s", name, err);
    free(err);
}

START_TEST(shared_pepper_is_refused)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    expect_refused_at(&env, "pepper", "pepper_file:");
    th_env_dispose(&env);
}
END_TEST

START_TEST(shared_pem_key_is_refused)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    expect_refused_at(&env, "es256.pem", "file: es256.pem");
    th_env_dispose(&env);
}
END_TEST

START_TEST(shared_machine_key_file_is_refused)
{
    th_env_t env;
    th_env_init(&env, NULL, KEYS_WITH_MACHINE_KEY_FILE);
    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/machinekey", env.dir);
    th_write_file(path, "docspace-machine-key\n", 0600);
    expect_refused_at(&env, "machinekey", "machine_key_file:");
    th_env_dispose(&env);
}
END_TEST

START_TEST(shared_client_secret_file_is_refused)
{
    th_env_t env;
    th_env_init(&env, OIDC_WITH_SECRET_FILE, NULL);
    char path[TH_PATH + 32];
    snprintf(path, sizeof(path), "%s/oidc-secret", env.dir);
    th_write_file(path, "s3cret\n", 0600);
    expect_refused_at(&env, "oidc-secret", "client_secret_file:");
    th_env_dispose(&env);
}
END_TEST

/* A link is judged by what it leads to, as a Kubernetes secret mount presents the pepper:
 * to a 0600 file it is accepted, to a group-readable one it is refused at the pepper's line. */
START_TEST(linked_pepper_is_judged_by_its_target)
{
    th_env_t env;
    th_env_init(&env, NULL, NULL);
    char pepper[TH_PATH + 32], real[TH_PATH + 32], where[TH_PATH + 48];
    snprintf(pepper, sizeof(pepper), "%s/pepper", env.dir);
    snprintf(real, sizeof(real), "%s/pepper.real", env.dir);
    ck_assert_int_eq(rename(pepper, real), 0);
    ck_assert_int_eq(symlink(real, pepper), 0);
    snprintf(where, sizeof(where), "%s:%d: ", env.config, line_of(&env, "pepper_file:"));
    char *err = NULL;
    ck_assert_int_eq(check_config(&env, &err), 0);
    free(err);
    err = NULL;
    ck_assert_int_eq(chmod(real, 0640), 0);
    ck_assert_int_eq(check_config(&env, &err), 1);
    ck_assert_msg(strncmp(err, where, strlen(where)) == 0, "stderr '%s' lacks '%s'", err, where);
    ck_assert_msg(strstr(err, "group or others") != NULL, "stderr '%s'", err);
    free(err);
    th_env_dispose(&env);
}
END_TEST

static Suite *secretfiles_suite(void)
{
    Suite *s = suite_create("secretfiles");
    TCase *tc = tcase_create("identityd -t");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shared_pepper_is_refused);
    tcase_add_test(tc, shared_pem_key_is_refused);
    tcase_add_test(tc, shared_machine_key_file_is_refused);
    tcase_add_test(tc, shared_client_secret_file_is_refused);
    tcase_add_test(tc, linked_pepper_is_judged_by_its_target);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(secretfiles_suite());
}
