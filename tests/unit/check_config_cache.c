/*
 * Unit tests of the cache: keys of the configuration (src/config/config.c): the credential
 * cache's size and the interval of its change checks, which bounds how long a write by
 * another process (identityctl, another instance) goes unseen: at most one second, by
 * default a quarter of that. Both apply at start only.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"

#include "config_test.h"

/* The bound on revocation by another process: one second or less, by default and always. */
START_TEST(test_defaults_bound_revocation)
{
    char err[512];
    idd_config_t *cfg = load("", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->cache_entries, 16384);
    ck_assert_int_eq(cfg->cache_check_interval_ms, 250);
    ck_assert_int_le(cfg->cache_check_interval_ms, 1000);
    idd_config_free(cfg);
}
END_TEST

START_TEST(test_values_and_bounds)
{
    char err[512];
    idd_config_t *cfg =
        load("cache:\n  entries: 256\n  check_interval_ms: 1000\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_int_eq(cfg->cache_entries, 256);
    ck_assert_int_eq(cfg->cache_check_interval_ms, 1000);
    idd_config_free(cfg);

    static const struct {
        const char *yaml, *key;
    } bad[] = {
        {"cache:\n  entries: 255\n", "cache.entries"},
        {"cache:\n  entries: 1048577\n", "cache.entries"},
        {"cache:\n  check_interval_ms: 1001\n", "cache.check_interval_ms"},
        {"cache:\n  check_interval_ms: 9\n", "cache.check_interval_ms"},
        {"cache:\n  check_interval_ms: soon\n", "cache.check_interval_ms"},
        {"cache:\n  size: 10\n", "size"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(load(bad[i].yaml, err, sizeof err) == NULL, "accepted: %s", bad[i].yaml);
        ck_assert_msg(strstr(err, bad[i].key) != NULL, "%s: %s", bad[i].yaml, err);
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
    ck_assert_int_eq(cfg->cache_entries, 16384);
    ck_assert_int_eq(cfg->cache_check_interval_ms, 250);
    idd_config_free(cfg);
}
END_TEST

/* The table is made once at start: a reload keeps both keys and says so. */
START_TEST(test_reload_keeps_them)
{
    char err[512], changed[512], kept[512];
    idd_config_t *running = load("", err, sizeof err);
    idd_config_t *next =
        load("cache:\n  entries: 512\n  check_interval_ms: 100\n", err, sizeof err);
    ck_assert_ptr_nonnull(running);
    ck_assert_ptr_nonnull(next);
    idd_config_reconcile(running, next, changed, sizeof changed, kept, sizeof kept);
    ck_assert_int_eq(next->cache_entries, 16384);
    ck_assert_int_eq(next->cache_check_interval_ms, 250);
    ck_assert_msg(strstr(kept, "cache.entries") != NULL, "%s", kept);
    ck_assert_msg(strstr(kept, "cache.check_interval_ms") != NULL, "%s", kept);
    idd_config_free(running);
    idd_config_free(next);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults_bound_revocation);
    tcase_add_test(tc, test_values_and_bounds);
    tcase_add_test(tc, test_example_block);
    tcase_add_test(tc, test_reload_keeps_them);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
