/*
 * Unit tests of the tfa: keys of the configuration (src/config/config.c): defaults, the
 * example file's block, each bound, the secret kinds, and which keys a reload keeps.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"

#include "config_test.h"

START_TEST(test_defaults)
{
    char err[512];
    idd_config_t *cfg = load("", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->tfa_window, 1);
    ck_assert_int_eq(cfg->tfa_secret, IDD_TFA_SECRET_RANDOM);
    ck_assert_int_eq(cfg->tfa_attempts, 5);
    ck_assert_int_eq(cfg->tfa_attempts_window, 60);
    ck_assert_int_eq(cfg->tfa_slots, 4096);
    idd_config_free(cfg);
}
END_TEST

START_TEST(test_values_and_bounds)
{
    char err[512];
    idd_config_t *cfg = load("tfa:\n  window: 10\n  secret: docspace\n  attempts: 1000\n"
                             "  attempts_window: 1d\n  slots: 64\n",
                             err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->tfa_window, 10);
    ck_assert_int_eq(cfg->tfa_secret, IDD_TFA_SECRET_DOCSPACE);
    ck_assert_int_eq(cfg->tfa_attempts, 1000);
    ck_assert_int_eq(cfg->tfa_attempts_window, 86400);
    ck_assert_int_eq(cfg->tfa_slots, 64);
    idd_config_free(cfg);

    static const struct {
        const char *yaml, *key;
    } bad[] = {
        {"tfa:\n  window: 11\n", "tfa.window"},
        {"tfa:\n  window: -1\n", "tfa.window"},
        {"tfa:\n  secret: derived\n", "tfa.secret"},
        {"tfa:\n  attempts: 0\n", "tfa.attempts"},
        {"tfa:\n  attempts: 1001\n", "tfa.attempts"},
        {"tfa:\n  attempts_window: 0\n", "tfa.attempts_window"},
        {"tfa:\n  attempts_window: 2d\n", "tfa.attempts_window"},
        {"tfa:\n  slots: 63\n", "tfa.slots"},
        {"tfa:\n  slots: 1048577\n", "tfa.slots"},
        {"tfa:\n  windw: 1\n", "windw"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = load(bad[i].yaml, err, sizeof err);
        ck_assert_msg(cfg == NULL, "accepted: %s", bad[i].yaml);
        /* The message names the file's line and the key. */
        ck_assert_msg(strstr(err, "identityd.yaml:") != NULL, "%s", err);
        ck_assert_msg(strstr(err, strrchr(bad[i].key, '.') ? strrchr(bad[i].key, '.') + 1
                                                           : bad[i].key) != NULL,
                      "%s", err);
    }
}
END_TEST

/* The example file writes out the defaults. */
START_TEST(test_example_block)
{
    const char *src = getenv("IDD_SOURCE_DIR");
    ck_assert_msg(src != NULL, "IDD_SOURCE_DIR is not set (ctest sets it)");
    char path[PATH_MAX], err[512] = "";
    snprintf(path, sizeof(path), "%s/config/identityd.example.yaml", src);
    idd_config_t *cfg = NULL;
    ck_assert_msg(idd_config_load(path, &cfg, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(cfg->tfa_window, 1);
    ck_assert_int_eq(cfg->tfa_secret, IDD_TFA_SECRET_RANDOM);
    ck_assert_int_eq(cfg->tfa_attempts, 5);
    ck_assert_int_eq(cfg->tfa_attempts_window, 60);
    ck_assert_int_eq(cfg->tfa_slots, 4096);
    idd_config_free(cfg);
}
END_TEST

/* The attempt table is made once: a reload keeps its keys and says so; the window and the
 * kind of secret apply to the next request. */
START_TEST(test_reload_keeps_the_table)
{
    char err[512], changed[512], kept[512];
    idd_config_t *running = load("", err, sizeof err);
    idd_config_t *next = load("tfa:\n  window: 2\n  secret: docspace\n  attempts: 9\n"
                              "  attempts_window: 90s\n  slots: 128\n",
                              err, sizeof err);
    ck_assert_ptr_nonnull(running);
    ck_assert_ptr_nonnull(next);
    idd_config_reconcile(running, next, changed, sizeof changed, kept, sizeof kept);
    ck_assert_int_eq(next->tfa_window, 2);
    ck_assert_int_eq(next->tfa_secret, IDD_TFA_SECRET_DOCSPACE);
    ck_assert_int_eq(next->tfa_attempts, 5);
    ck_assert_int_eq(next->tfa_attempts_window, 60);
    ck_assert_int_eq(next->tfa_slots, 4096);
    ck_assert_msg(strstr(kept, "tfa.attempts") != NULL, "%s", kept);
    ck_assert_msg(strstr(kept, "tfa.slots") != NULL, "%s", kept);
    ck_assert_msg(strstr(changed, "tfa.window") != NULL, "%s", changed);
    idd_config_free(running);
    idd_config_free(next);
}
END_TEST

static Suite *config_tfa_suite(void)
{
    Suite *s = suite_create("config_tfa");
    TCase *tc = tcase_create("tfa");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values_and_bounds);
    tcase_add_test(tc, test_example_block);
    tcase_add_test(tc, test_reload_keeps_the_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_tfa_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
