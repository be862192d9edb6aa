/*
 * Unit tests of the database: and database_password_file keys (src/config/database.c): an
 * SQLite path, plain or sqlite:, is resolved against the config folder; a PostgreSQL
 * location is kept as written; one that carries a password is refused without being
 * echoed; the password file is read as a path and kept across a reload.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"

#include "config_test.h"

START_TEST(test_sqlite_paths_resolve)
{
    char err[512], want[PATH_MAX + 64];
    idd_config_t *cfg = load("database: var/identity.db\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    snprintf(want, sizeof want, "%s/var/identity.db", cfg->dir);
    ck_assert_str_eq(cfg->database, want);
    ck_assert_ptr_null(cfg->database_password_file);
    idd_config_free(cfg);

    cfg = load("database: sqlite:var/identity.db\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    snprintf(want, sizeof want, "sqlite:%s/var/identity.db", cfg->dir);
    ck_assert_str_eq(cfg->database, want);
    idd_config_free(cfg);

    cfg = load("database: sqlite:/srv/identity.db\n", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_str_eq(cfg->database, "sqlite:/srv/identity.db");
    idd_config_free(cfg);

    cfg = load("", err, sizeof err);
    ck_assert_msg(cfg != NULL, "%s", err);
    snprintf(want, sizeof want, "%s/identity.db", cfg->dir);
    ck_assert_str_eq(cfg->database, want);
    idd_config_free(cfg);
}
END_TEST

START_TEST(test_postgres_locations_are_kept)
{
    static const char *const ok[] = {
        "postgresql://idd@db.example:5432/identity?sslmode=verify-full",
        "postgres://idd@db.example/identity",
        "postgresql:///identity?host=/run/postgresql&user=idd",
        "host=db.example dbname=identity user=idd sslmode=require",
    };
    char err[512], yaml[512];
    for (size_t i = 0; i < IDD_ARRAY_LEN(ok); i++) {
        snprintf(yaml, sizeof yaml, "database: \"%s\"\ndatabase_password_file: pgpass\n", ok[i]);
        idd_config_t *cfg = load(yaml, err, sizeof err);
        ck_assert_msg(cfg != NULL, "%s: %s", ok[i], err);
        ck_assert_str_eq(cfg->database, ok[i]);
        ck_assert_ptr_nonnull(cfg->database_password_file);
        snprintf(yaml, sizeof yaml, "%s/pgpass", cfg->dir);
        ck_assert_str_eq(cfg->database_password_file, yaml);
        ck_assert_int_gt(cfg->database_password_file_line, 0);
        idd_config_free(cfg);
    }
}
END_TEST

START_TEST(test_password_in_location_is_refused)
{
    static const char *const bad[] = {
        "postgresql://idd:S3cretPw@db.example/identity",
        "postgres://idd@db.example/identity?password=S3cretPw",
        "host=db.example dbname=identity password=S3cretPw",
    };
    char err[512], yaml[512];
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        snprintf(yaml, sizeof yaml, "database: \"%s\"\n", bad[i]);
        idd_config_t *cfg = load(yaml, err, sizeof err);
        ck_assert_msg(cfg == NULL, "accepted: %s", bad[i]);
        ck_assert_msg(strstr(err, "database_password_file") != NULL, "%s", err);
        ck_assert_msg(strstr(err, "S3cretPw") == NULL, "password echoed: %s", err);
    }
}
END_TEST

START_TEST(test_other_refusals)
{
    char err[512];
    /* libpq cannot parse it: refused, and not echoed. */
    idd_config_t *cfg = load("database: \"host=db.example dbname='S3cretPw\"\n", err, sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "database:") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "S3cretPw") == NULL, "location echoed: %s", err);
    /* The password file means nothing to SQLite. */
    cfg = load("database: identity.db\ndatabase_password_file: pgpass\n", err, sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "database_password_file") != NULL, "%s", err);
    cfg = load("database: \"sqlite:\"\n", err, sizeof err);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, "database:") != NULL, "%s", err);
}
END_TEST

START_TEST(test_reload_keeps_the_database)
{
    char err[512], changed[512], kept[512];
    idd_config_t *running =
        load("database: postgresql:///a\ndatabase_password_file: one\n", err, sizeof err);
    idd_config_t *next =
        load("database: postgresql:///b\ndatabase_password_file: two\n", err, sizeof err);
    ck_assert_ptr_nonnull(running);
    ck_assert_ptr_nonnull(next);
    idd_config_reconcile(running, next, changed, sizeof changed, kept, sizeof kept);
    ck_assert_str_eq(next->database, "postgresql:///a");
    ck_assert_str_eq(next->database_password_file, running->database_password_file);
    ck_assert_msg(strstr(kept, "database_password_file") != NULL, "%s", kept);
    idd_config_free(running);
    idd_config_free(next);
}
END_TEST

static Suite *config_database_suite(void)
{
    Suite *s = suite_create("config_database");
    TCase *tc = tcase_create("database");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_sqlite_paths_resolve);
    tcase_add_test(tc, test_postgres_locations_are_kept);
    tcase_add_test(tc, test_password_in_location_is_refused);
    tcase_add_test(tc, test_other_refusals);
    tcase_add_test(tc, test_reload_keeps_the_database);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_database_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
