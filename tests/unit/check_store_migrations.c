/*
 * Unit tests of the store through its public interface (store.h) against real SQLite files:
 * the migrations that build the schema (sqlite_migrate.c): from an empty file, again, against a
 * newer schema, a failing one, two processes starting at once, and the upgrade of a
 * version-1 file made by the previous release.
 * Set-up and shared helpers are in store_test.h.
 */
#include "store_test.h"

START_TEST(test_migrate_from_empty)
{
    SKIP_UNLESS_SQLITE("checks the SQLite file and its schema directly");
    idd_store_t *s = NULL;
    int version = -1, from = -1, to = -1;

    ck_assert_int_ge(idd_store_latest_version(), 1);
    umask(022);
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_schema_version(s, &version), 0);
    ck_assert_int_eq(version, 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, idd_store_latest_version());
    ck_assert_int_eq(idd_store_schema_version(s, &version), 0);
    ck_assert_int_eq(version, idd_store_latest_version());
    idd_store_free(s);

    /* The file holds password records: only its owner may read it, even under umask 022. */
    struct stat st;
    ck_assert_int_eq(stat(db_path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    /* The schema really is there: the tables answer through SQLite directly. */
    ck_assert_int_eq(raw_exec("SELECT id, name, password_salt, created FROM tenants;"
                              "SELECT id, tenant_id, email, first_name, last_name, role, status,"
                              " password, auth_version, created, updated,"
                              " password_change_required FROM users;"
                              "SELECT id, tenant_id, user_id, token_digest, created, expires,"
                              " last_seen, ip, user_agent, active, browser_session, auth_version"
                              " FROM login_events;"
                              "SELECT id, tenant_id, create_by, name, key_digest, key_postfix,"
                              " permissions, create_on, expires_at, last_used, is_active"
                              " FROM api_keys;"),
                     SQLITE_OK);
}
END_TEST

START_TEST(test_migrate_again_is_noop)
{
    idd_store_t *s = open_migrated();
    int from = -1, to = -1;
    idd_tenant_t t;

    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "one"), 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, idd_store_latest_version());
    ck_assert_int_eq(to, idd_store_latest_version());
    idd_store_free(s);

    /* Also from a fresh connection, and the data survives. */
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, to);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    SKIP_UNLESS_SQLITE("fakes a newer schema with SQLite's user_version");
    /* A database migrated by a newer identityd must not be used by an older one, which
     * would misread or damage tables it does not know. */
    idd_store_t *s = open_migrated();
    char sql[64];
    int version = 0;
    int latest = idd_store_latest_version();

    idd_store_free(s);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", latest + 1);
    ck_assert_int_eq(raw_exec(sql), SQLITE_OK);

    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), IDD_ESCHEMA);
    ck_assert_int_eq(idd_store_schema_version(s, &version), 0);
    ck_assert_int_eq(version, latest + 1);
    idd_store_free(s);
}
END_TEST

START_TEST(test_failed_migration_rolls_back)
{
    SKIP_UNLESS_SQLITE("plants a conflicting table through SQLite directly");
    /* A migration that fails half-way must leave neither its tables nor a new version, and
     * must not keep the write lock: here the users table already exists, so 0001 fails after
     * creating tenants. */
    idd_store_t *s = NULL;
    int version = -1, from = -1, to = -1;

    ck_assert_int_eq(raw_exec("CREATE TABLE users (x)"), SQLITE_OK);
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, NULL, NULL), IDD_ESTORE);
    ck_assert_int_eq(idd_store_schema_version(s, &version), 0);
    ck_assert_int_eq(version, 0);

    /* With the handle still open another connection can write (no lock left behind, and
     * raw_exec has no busy timeout) and sees no tenants table. */
    ck_assert_int_ne(raw_exec("SELECT * FROM tenants"), SQLITE_OK);
    ck_assert_int_eq(raw_exec("DROP TABLE users"), SQLITE_OK);

    /* Once the obstacle is gone the same handle migrates normally. */
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, 0);
    ck_assert_int_eq(to, idd_store_latest_version());
    idd_store_free(s);
}
END_TEST

START_TEST(test_concurrent_first_start)
{
    SKIP_UNLESS_SQLITE("watches the SQLite file and its -wal and -shm files appear");
    /* Several processes starting together on a fresh file (identityd's threads, a
     * concurrent identityctl) must all succeed, with the schema built exactly once: the
     * write lock is taken before the version is read, and the rest wait for it. */
    enum { PROCESSES = 6, ROUNDS = 5 };
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    for (int round = 0; round < ROUNDS; round++) {
        pid_t pids[PROCESSES];
        idd_store_t *s = NULL;
        int version = -1;

        for (size_t k = 0; k < IDD_ARRAY_LEN(suffixes); k++) {
            char path[sizeof db_path + 8];
            snprintf(path, sizeof path, "%s%s", db_path, suffixes[k]);
            unlink(path);
        }
        for (int i = 0; i < PROCESSES; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0) {
                idd_store_t *child = NULL;
                int ok = idd_store_open(store_location, &child) == 0 &&
                         idd_store_migrate(child, NULL, NULL) == 0 &&
                         idd_store_tenant_ensure(child, 1, "one") == 0;
                idd_store_free(child);
                _exit(ok ? 0 : 1);
            }
        }
        for (int i = 0; i < PROCESSES; i++) {
            int status = 0;
            ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                          "round %d: process %d failed", round, i);
        }
        ck_assert_int_eq(idd_store_open(store_location, &s), 0);
        ck_assert_int_eq(idd_store_schema_version(s, &version), 0);
        ck_assert_int_eq(version, idd_store_latest_version());
        idd_store_free(s);
    }
}
END_TEST

/* Reads a whole file into a malloc'd, NUL-terminated string. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long size;

    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    text = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(fread(text, 1, (size_t)size, f), (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

START_TEST(test_migrate_from_version_1)
{
    SKIP_UNLESS_SQLITE("builds a version 1 SQLite schema by hand");
    /* A database made by the previous release holds users; upgrading must keep them whole,
     * give them no password-change demand, and make sessions available for them. The
     * version-1 file is built from the 0001 migration text itself, as that release did. */
    const char *source = getenv("IDD_SOURCE_DIR");
    char path[4096];
    char *schema;
    idd_store_t *s = NULL;
    idd_user_t found;
    int from = -1, to = -1;

    ck_assert_msg(source != NULL, "IDD_SOURCE_DIR is not set (run through ctest)");
    snprintf(path, sizeof path, "%s/migrations/0001_init.sql", source);
    schema = read_text(path);
    ck_assert_int_eq(raw_exec(schema), SQLITE_OK);
    free(schema);
    ck_assert_int_eq(
        raw_exec("PRAGMA user_version = 1;"
                 "INSERT INTO tenants (id, name, password_salt, created) VALUES (1, 'one',"
                 " 'aa', 1700000000);"
                 "INSERT INTO users (id, tenant_id, email, first_name, last_name, role, status,"
                 " password, auth_version, created, updated) VALUES"
                 " ('66faa6e4-f133-11ea-b126-00ffeec8b4ef', 1, 'Old@Example.com', 'Olga',"
                 " 'Older', 'admin', 'disabled', '" RECORD_A "', 3, 1700000001, 1700000002)"),
        SQLITE_OK);

    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, 1);
    ck_assert_int_eq(to, idd_store_latest_version());
    ck_assert_int_ge(to, 2);

    ck_assert_int_eq(idd_store_user_by_email(s, 1, "old@example.com", &found), 0);
    ck_assert_str_eq(found.id, "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    ck_assert_str_eq(found.email, "Old@Example.com");
    ck_assert_str_eq(found.first_name, "Olga");
    ck_assert_str_eq(found.last_name, "Older");
    ck_assert_int_eq(found.role, IDD_ROLE_ADMIN);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_str_eq(found.password, RECORD_A);
    ck_assert_int_eq(found.auth_version, 3);
    ck_assert_int_eq(found.created, 1700000001);
    ck_assert_int_eq(found.updated, 1700000002);
    ck_assert_int_eq(found.password_change_required, 0);

    /* The new table works for the old user, and the upgraded schema takes the new flag. */
    idd_session_t x = make_session(&found, 1, idd_now());
    add_session(s, &x);
    ck_assert_int_eq(idd_store_user_set_password_change(s, found.id, 1), 0);
    ck_assert_int_eq(idd_store_user_set_password(s, found.id, RECORD_B), 0);
    ck_assert_int_eq(session_active(s, x.id), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_migrate_from_version_3)
{
    SKIP_UNLESS_SQLITE("builds a version 3 SQLite schema by hand");
    /* Keys made inactive before revocation was recorded keep their meaning: deactivated by
     * their owner, who may turn them on again. Active keys are live. */
    const char *source = getenv("IDD_SOURCE_DIR");
    static const char *const files[] = {"0001_init", "0002_sessions", "0003_api_keys"};
    char path[4096];
    idd_store_t *s = NULL;
    idd_apikey_t found;
    int from = -1, to = -1;

    ck_assert_msg(source != NULL, "IDD_SOURCE_DIR is not set (run through ctest)");
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/migrations/%s.sql", source, files[i]);
        char *schema = read_text(path);
        ck_assert_int_eq(raw_exec(schema), SQLITE_OK);
        free(schema);
    }
    ck_assert_int_eq(
        raw_exec("PRAGMA user_version = 3;"
                 "INSERT INTO tenants (id, name, password_salt, created) VALUES (1, 'one',"
                 " 'aa', 1700000000);"
                 "INSERT INTO users (id, tenant_id, email, password, created, updated) VALUES"
                 " ('66faa6e4-f133-11ea-b126-00ffeec8b4ef', 1, 'a@example.com', '" RECORD_A
                 "', 1700000001, 1700000002);"
                 "INSERT INTO api_keys (id, tenant_id, create_by, name, key_digest, key_postfix,"
                 " create_on, is_active) VALUES"
                 " ('00000000-0000-4000-8000-000000000001', 1,"
                 " '66faa6e4-f133-11ea-b126-00ffeec8b4ef', 'off', zeroblob(32), 'abcd',"
                 " 1700000003, 0),"
                 " ('00000000-0000-4000-8000-000000000002', 1,"
                 " '66faa6e4-f133-11ea-b126-00ffeec8b4ef', 'on', randomblob(32), 'efgh',"
                 " 1700000004, 1)"),
        SQLITE_OK);

    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_migrate(s, &from, &to), 0);
    ck_assert_int_eq(from, 3);
    ck_assert_int_eq(to, idd_store_latest_version());
    ck_assert_int_eq(idd_store_apikey_by_id(s, "00000000-0000-4000-8000-000000000001", &found), 0);
    ck_assert_int_eq(found.active, 0);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_BY_OWNER);
    ck_assert_str_eq(found.deactivated_by, "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    ck_assert_int_eq(idd_store_apikey_by_id(s, "00000000-0000-4000-8000-000000000002", &found), 0);
    ck_assert_int_eq(found.active, 1);
    ck_assert_int_eq(found.deactivated, IDD_APIKEY_LIVE);
    ck_assert_int_eq(idd_store_apikey_set_active(s, "00000000-0000-4000-8000-000000000001", 1,
                                                 IDD_APIKEY_BY_OWNER, NULL),
                     0);
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_migrations");
    TCase *tc = tcase_create("migrations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_migrate_from_empty);
    tcase_add_test(tc, test_migrate_again_is_noop);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_failed_migration_rolls_back);
    tcase_add_test(tc, test_concurrent_first_start);
    tcase_add_test(tc, test_migrate_from_version_1);
    tcase_add_test(tc, test_migrate_from_version_3);
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
