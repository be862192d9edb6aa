/*
 * Unit tests of the store through its public interface (store.h) against real SQLite files:
 * opening a connection (store.c, sqlite.c): the locations idd_store_open accepts, two
 * connections sharing one file, and the statements each handle caches (sqlite_stmt.c).
 * Set-up and shared helpers are in store_test.h.
 */
#include "store_test.h"

START_TEST(test_open_locations)
{
    SKIP_UNLESS_SQLITE("the sqlite: prefix and the file it makes");
    idd_store_t *s = (idd_store_t *)&s;
    char location[sizeof db_path + 8];

    snprintf(location, sizeof location, "sqlite:%s", db_path);
    ck_assert_int_eq(idd_store_open(location, &s), 0);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), 0);
    idd_store_free(s);
    /* The sqlite: prefix opened the plain path, not a file named "sqlite:...", and the
     * engine behind it wrote an SQLite database there. */
    ck_assert_int_eq(access(db_path, F_OK), 0);
    {
        char magic[16] = {0};
        FILE *f = fopen(db_path, "rb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fread(magic, 1, sizeof magic, f), sizeof magic);
        fclose(f);
        ck_assert_mem_eq(magic, "SQLite format 3", sizeof magic);
    }

    s = (idd_store_t *)&s;
    ck_assert_int_eq(idd_store_open("postgres://user:secret@db/identity", &s), IDD_EINVAL);
    ck_assert_ptr_null(s);
    s = (idd_store_t *)&s;
    ck_assert_int_eq(idd_store_open("", &s), IDD_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(idd_store_open("sqlite:", &s), IDD_EINVAL);
    ck_assert_ptr_null(s);
    /* A directory that does not exist cannot hold the file. */
    ck_assert_int_eq(idd_store_open("/nonexistent-dir/x/id.db", &s), IDD_ESTORE);
    ck_assert_ptr_null(s);
    idd_store_free(NULL);
}
END_TEST

START_TEST(test_two_connections_share_writes)
{
    SKIP_UNLESS_SQLITE("reads SQLite's journal mode directly");
    idd_store_t *a = open_migrated();
    idd_store_t *b = NULL;
    idd_tenant_t t;
    idd_user_t u, found;
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;

    ck_assert_int_eq(idd_store_open(store_location, &b), 0);
    ck_assert_int_eq(idd_store_tenant_ensure(a, 1, "one"), 0);
    ck_assert_int_eq(idd_store_tenant_get(b, 1, &t), 0);

    u = make_user(1, "erin@example.com");
    ck_assert_int_eq(idd_store_user_insert(b, &u), 0);
    ck_assert_int_eq(idd_store_user_by_email(a, 1, "ERIN@example.com", &found), 0);
    ck_assert_str_eq(found.id, u.id);

    /* Each handle reads the other's latest commit: no statement pins an old snapshot. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(
            idd_store_user_set_status(a, u.id, i % 2 ? IDD_USER_ACTIVE : IDD_USER_DISABLED), 0);
        ck_assert_int_eq(idd_store_user_by_id(b, u.id, &found), 0);
        ck_assert_int_eq(found.status, i % 2 ? IDD_USER_ACTIVE : IDD_USER_DISABLED);
        ck_assert_int_eq(found.auth_version, 2 + i);
    }

    /* The file is in WAL mode (persistent in the file, so any connection reports it). */
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    sqlite3_close(db);

    idd_store_free(a);
    idd_store_free(b);
}
END_TEST

START_TEST(test_cached_statements_reused)
{
    /* Many lookups on one handle, hits and misses interleaved: every use must leave the
     * cached statement reset, or the next bind or step would fail. */
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "frank@example.com");
    idd_user_t found;

    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    for (int i = 0; i < 500; i++) {
        ck_assert_int_eq(idd_store_user_by_email(s, 1, "Frank@example.com", &found), 0);
        ck_assert_int_eq(idd_store_user_by_email(s, 1, "ghost@example.com", &found), IDD_ENOTFOUND);
        ck_assert_str_eq(found.id, ""); /* a miss leaves no stale record behind */
        ck_assert_int_eq(idd_store_user_by_id(s, u.id, &found), 0);
    }
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_open");
    TCase *tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_open_locations);
    tcase_add_test(tc, test_two_connections_share_writes);
    tcase_add_test(tc, test_cached_statements_reused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(make_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
