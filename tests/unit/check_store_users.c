/*
 * Unit tests of the store through its public interface (store.h) against real SQLite files:
 * tenants and users (sqlite_user.c, records.c): role and status names, tenant salts, user
 * insertion and case-insensitive email lookup, status and password changes, listing, and
 * the limits of the fixed-size fields, in the C code and in the schema.
 * Set-up and shared helpers are in store_test.h.
 */
#include "store_test.h"

START_TEST(test_role_and_status_names)
{
    idd_role_t role;
    idd_user_status_t status;

    ck_assert_int_eq(idd_role_parse("admin", &role), 0);
    ck_assert_int_eq(role, IDD_ROLE_ADMIN);
    ck_assert_int_eq(idd_role_parse("guest", &role), 0);
    ck_assert_int_eq(role, IDD_ROLE_GUEST);
    ck_assert_int_eq(idd_role_parse("user", &role), 0);
    ck_assert_int_eq(role, IDD_ROLE_USER);
    ck_assert_int_eq(idd_role_parse("Admin", &role), IDD_EINVAL);
    ck_assert_int_eq(idd_role_parse("", &role), IDD_EINVAL);
    ck_assert_str_eq(idd_role_name(IDD_ROLE_ADMIN), "admin");
    ck_assert_str_eq(idd_role_name(IDD_ROLE_USER), "user");
    ck_assert_str_eq(idd_role_name(IDD_ROLE_GUEST), "guest");
    ck_assert_ptr_null(idd_role_name((idd_role_t)7));

    ck_assert_int_eq(idd_user_status_parse("disabled", &status), 0);
    ck_assert_int_eq(status, IDD_USER_DISABLED);
    ck_assert_int_eq(idd_user_status_parse("active", &status), 0);
    ck_assert_int_eq(status, IDD_USER_ACTIVE);
    ck_assert_int_eq(idd_user_status_parse("blocked", &status), IDD_EINVAL);
    ck_assert_str_eq(idd_user_status_name(IDD_USER_DISABLED), "disabled");
    ck_assert_ptr_null(idd_user_status_name((idd_user_status_t)2));
}
END_TEST

START_TEST(test_tenant_ensure_keeps_salt)
{
    idd_store_t *s = open_migrated();
    idd_tenant_t t, again, other;
    char long_name[IDD_NAME_MAX + 2];

    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "Acme"), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &t), 0);
    ck_assert_int_eq(t.id, 1);
    ck_assert_str_eq(t.name, "Acme");
    ck_assert_uint_eq(strlen(t.password_salt), 64);
    for (size_t i = 0; i < 64; i++)
        ck_assert_msg(is_hex_lower(t.password_salt[i]), "salt: %s", t.password_salt);
    ck_assert_int_gt(t.created, 1700000000);

    /* The salt feeds every user's client hash: renaming must not change it. */
    ck_assert_int_eq(idd_store_tenant_ensure(s, 1, "Acme Corp"), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 1, &again), 0);
    ck_assert_str_eq(again.name, "Acme Corp");
    ck_assert_str_eq(again.password_salt, t.password_salt);
    ck_assert_int_eq(again.created, t.created);

    ck_assert_int_eq(idd_store_tenant_ensure(s, 2, "Other"), 0);
    ck_assert_int_eq(idd_store_tenant_get(s, 2, &other), 0);
    ck_assert_str_ne(other.password_salt, t.password_salt);

    ck_assert_int_eq(idd_store_tenant_get(s, 99, &other), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_tenant_ensure(s, 0, "zero"), IDD_EINVAL);
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(idd_store_tenant_ensure(s, 3, long_name), IDD_ETOOBIG);
    long_name[IDD_NAME_MAX] = '\0';
    ck_assert_int_eq(idd_store_tenant_ensure(s, 3, long_name), 0);
    idd_store_free(s);
}
END_TEST

START_TEST(test_user_insert_and_lookup)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "Alice@Example.com");
    idd_user_t by_email, by_id;

    u.role = IDD_ROLE_GUEST;
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    ck_assert(is_guid_v4(u.id));
    ck_assert_int_eq(u.auth_version, 1);
    ck_assert_int_gt(u.created, 1700000000);
    ck_assert_int_eq(u.updated, u.created);

    ck_assert_int_eq(idd_store_user_by_email(s, 1, "alice@example.COM", &by_email), 0);
    ck_assert_str_eq(by_email.id, u.id);
    ck_assert_str_eq(by_email.email, "Alice@Example.com"); /* kept as entered */
    ck_assert_int_eq(by_email.tenant_id, 1);
    ck_assert_str_eq(by_email.first_name, "Alice");
    ck_assert_str_eq(by_email.last_name, "Liddell");
    ck_assert_int_eq(by_email.role, IDD_ROLE_GUEST);
    ck_assert_int_eq(by_email.status, IDD_USER_ACTIVE);
    ck_assert_str_eq(by_email.password, RECORD_A);
    ck_assert_int_eq(by_email.auth_version, 1);
    ck_assert_int_eq(by_email.created, u.created);

    ck_assert_int_eq(idd_store_user_by_id(s, u.id, &by_id), 0);
    ck_assert_mem_eq(&by_id, &by_email, sizeof by_id);

    /* Tenants are separate namespaces, and lookups miss cleanly. */
    ck_assert_int_eq(idd_store_user_by_email(s, 2, "alice@example.com", &by_email), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, "alice@example.co", &by_email), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_by_id(s, "00000000-0000-4000-8000-000000000000", &by_id),
                     IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_by_id(s, "short", &by_id), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_user_given_id)
{
    /* Users imported from DocSpace keep their ids; only lowercase GUIDs are accepted, since
     * lookups by id are exact. */
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "imported@example.com");
    idd_user_t found;

    snprintf(u.id, sizeof u.id, "%s", "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    ck_assert_str_eq(u.id, "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    ck_assert_int_eq(idd_store_user_by_id(s, "66faa6e4-f133-11ea-b126-00ffeec8b4ef", &found), 0);

    u = make_user(1, "upper@example.com");
    snprintf(u.id, sizeof u.id, "%s", "66FAA6E4-F133-11EA-B126-00FFEEC8B4EF");
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);
    u = make_user(1, "nohyphen@example.com");
    snprintf(u.id, sizeof u.id, "%s", "66faa6e4f13311eab12600ffeec8b4ef");
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);

    /* The same id twice is a duplicate, whatever the email. */
    u = make_user(2, "someone-else@example.com");
    snprintf(u.id, sizeof u.id, "%s", "66faa6e4-f133-11ea-b126-00ffeec8b4ef");
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EEXIST);
    idd_store_free(s);
}
END_TEST

START_TEST(test_duplicate_email)
{
    /* Two accounts answering to the same address in one tenant would let whoever signs up
     * second be confused with the first at sign-in. */
    idd_store_t *s = open_with_tenants();
    idd_user_t a = make_user(1, "bob@example.com");
    idd_user_t dup = make_user(1, "BOB@Example.COM");
    idd_user_t elsewhere = make_user(2, "bob@example.com");
    idd_user_t found;

    ck_assert_int_eq(idd_store_user_insert(s, &a), 0);
    ck_assert_int_eq(idd_store_user_insert(s, &dup), IDD_EEXIST);
    ck_assert_str_eq(dup.id, ""); /* nothing written back on failure */
    ck_assert_int_eq(idd_store_user_insert(s, &elsewhere), 0);
    ck_assert_str_ne(elsewhere.id, a.id);

    ck_assert_int_eq(idd_store_user_by_email(s, 1, "Bob@example.com", &found), 0);
    ck_assert_str_eq(found.id, a.id);
    ck_assert_int_eq(idd_store_user_by_email(s, 2, "Bob@example.com", &found), 0);
    ck_assert_str_eq(found.id, elsewhere.id);
    idd_store_free(s);
}
END_TEST

START_TEST(test_unknown_tenant)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(42, "nobody@example.com");
    idd_user_t found;

    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_by_email(s, 42, "nobody@example.com", &found), IDD_ENOTFOUND);
    u.tenant_id = 0;
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);
    idd_store_free(s);
}
END_TEST

START_TEST(test_set_status_and_password_persist)
{
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "carol@example.com");
    idd_user_t found;
    char id[IDD_GUID_LEN + 1];

    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    memcpy(id, u.id, sizeof id);

    ck_assert_int_eq(idd_store_user_set_status(s, id, IDD_USER_DISABLED), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_int_eq(found.auth_version, 2);

    ck_assert_int_eq(idd_store_user_set_password(s, id, RECORD_B), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, id, &found), 0);
    ck_assert_str_eq(found.password, RECORD_B);
    ck_assert_int_eq(found.auth_version, 3);
    ck_assert_int_ge(found.updated, found.created);
    idd_store_free(s);

    /* Durable: a new connection sees the same row. */
    ck_assert_int_eq(idd_store_open(store_location, &s), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, id, &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_DISABLED);
    ck_assert_str_eq(found.password, RECORD_B);
    ck_assert_int_eq(found.auth_version, 3);

    ck_assert_int_eq(idd_store_user_set_status(s, id, IDD_USER_ACTIVE), 0);
    ck_assert_int_eq(idd_store_user_by_email(s, 1, "CAROL@example.com", &found), 0);
    ck_assert_int_eq(found.status, IDD_USER_ACTIVE);
    ck_assert_int_eq(found.auth_version, 4);

    ck_assert_int_eq(
        idd_store_user_set_status(s, "00000000-0000-4000-8000-000000000000", IDD_USER_DISABLED),
        IDD_ENOTFOUND);
    ck_assert_int_eq(
        idd_store_user_set_password(s, "00000000-0000-4000-8000-000000000000", RECORD_A),
        IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_user_set_password(s, id, ""), IDD_EINVAL);
    ck_assert_int_eq(idd_store_user_set_status(s, id, (idd_user_status_t)9), IDD_EINVAL);
    /* Refused changes did not bump the version. */
    ck_assert_int_eq(idd_store_user_by_id(s, id, &found), 0);
    ck_assert_int_eq(found.auth_version, 4);
    idd_store_free(s);
}
END_TEST

START_TEST(test_user_list_order_and_filter)
{
    idd_store_t *s = open_with_tenants();
    /* Inserted out of order; "B@x" sorts between "a@x" and "c@x" only case-insensitively
     * (in byte order 'B' comes before 'a'). */
    static const struct {
        int64_t tenant;
        const char *email;
    } rows[] = {
        {2, "b@x.test"}, {1, "c@x.test"}, {1, "B@x.test"}, {2, "a@x.test"}, {1, "a@x.test"}};
    listing_t l;

    for (size_t i = 0; i < IDD_ARRAY_LEN(rows); i++) {
        idd_user_t u = make_user(rows[i].tenant, rows[i].email);
        ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    }

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 0, collect, &l), 0);
    ck_assert_int_eq(l.count, 5);
    ck_assert_int_eq(l.tenant[0], 1);
    ck_assert_str_eq(l.email[0], "a@x.test");
    ck_assert_str_eq(l.email[1], "B@x.test");
    ck_assert_str_eq(l.email[2], "c@x.test");
    ck_assert_int_eq(l.tenant[3], 2);
    ck_assert_str_eq(l.email[3], "a@x.test");
    ck_assert_int_eq(l.tenant[4], 2);
    ck_assert_str_eq(l.email[4], "b@x.test");

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 2, collect, &l), 0);
    ck_assert_int_eq(l.count, 2);
    ck_assert_int_eq(l.tenant[0], 2);
    ck_assert_int_eq(l.tenant[1], 2);
    ck_assert_str_eq(l.email[0], "a@x.test");

    memset(&l, 0, sizeof l);
    l.stop_after = 2;
    ck_assert_int_eq(idd_store_user_list(s, 0, collect, &l), 0);
    ck_assert_int_eq(l.count, 2);

    /* A stopped listing released its statement: the next one starts from the beginning. */
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 1, collect, &l), 0);
    ck_assert_int_eq(l.count, 3);

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 77, collect, &l), 0);
    ck_assert_int_eq(l.count, 0);
    idd_store_free(s);
}
END_TEST

typedef struct reentry {
    idd_store_t *s;
    int nested_rc;
    int lookup_rc;
} reentry_t;

static int list_again(const idd_user_t *user, void *arg)
{
    reentry_t *r = arg;
    listing_t inner;
    idd_user_t found;

    memset(&inner, 0, sizeof inner);
    r->nested_rc = idd_store_user_list(r->s, user->tenant_id, collect, &inner);
    r->lookup_rc = idd_store_user_by_id(r->s, user->id, &found);
    return 1;
}

START_TEST(test_user_list_reentry)
{
    /* A visitor may look users up through the same handle, but listing again would reset
     * the outer statement under it: that is refused instead. */
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "dave@example.com");
    reentry_t r = {s, 0, -100};
    listing_t l;

    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    ck_assert_int_eq(idd_store_user_list(s, 1, list_again, &r), 0);
    ck_assert_int_eq(r.nested_rc, IDD_EBUSY);
    ck_assert_int_eq(r.lookup_rc, 0);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 1, collect, &l), 0);
    ck_assert_int_eq(l.count, 1);
    idd_store_free(s);
}
END_TEST

START_TEST(test_oversized_fields_refused)
{
    /* A field without its terminator inside the struct would be read past its end, and a
     * value longer than the field would come back cut short: both are refused at insert. */
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "ok@example.com");
    char record[IDD_PASSWORD_RECORD_MAX + 2];
    char long_email[400];
    listing_t l;

    memset(u.email, 'e', sizeof u.email); /* 255 bytes, no NUL */
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ETOOBIG);

    u = make_user(1, "ok@example.com");
    memset(u.first_name, 'f', sizeof u.first_name);
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ETOOBIG);

    u = make_user(1, "ok@example.com");
    memset(u.last_name, 'l', sizeof u.last_name);
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ETOOBIG);

    u = make_user(1, "ok@example.com");
    memset(u.password, 'p', sizeof u.password);
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ETOOBIG);

    u = make_user(1, "ok@example.com");
    memset(u.id, 'a', sizeof u.id);
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_ETOOBIG);

    u = make_user(1, "");
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);
    u = make_user(1, "ok@example.com");
    u.password[0] = '\0';
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);
    u = make_user(1, "ok@example.com");
    u.role = (idd_role_t)5;
    ck_assert_int_eq(idd_store_user_insert(s, &u), IDD_EINVAL);

    memset(&l, 0, sizeof l);
    ck_assert_int_eq(idd_store_user_list(s, 0, collect, &l), 0);
    ck_assert_int_eq(l.count, 0);

    /* The largest values that fit are stored and read back whole. */
    u = make_user(1, "");
    memset(u.email, 'm', IDD_EMAIL_MAX);
    u.email[IDD_EMAIL_MAX] = '\0';
    memset(u.first_name, 'f', IDD_NAME_MAX);
    u.first_name[IDD_NAME_MAX] = '\0';
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    idd_user_t found;
    ck_assert_int_eq(idd_store_user_by_email(s, 1, u.email, &found), 0);
    ck_assert_uint_eq(strlen(found.email), IDD_EMAIL_MAX);
    ck_assert_uint_eq(strlen(found.first_name), IDD_NAME_MAX);

    memset(record, 'r', sizeof record - 1);
    record[sizeof record - 1] = '\0'; /* 161 characters */
    ck_assert_int_eq(idd_store_user_set_password(s, u.id, record), IDD_ETOOBIG);
    record[IDD_PASSWORD_RECORD_MAX] = '\0';
    ck_assert_int_eq(idd_store_user_set_password(s, u.id, record), 0);
    ck_assert_int_eq(idd_store_user_by_id(s, u.id, &found), 0);
    ck_assert_str_eq(found.password, record);

    /* A lookup by an address longer than any stored one simply finds nobody. */
    memset(long_email, 'm', sizeof long_email - 1);
    long_email[sizeof long_email - 1] = '\0';
    ck_assert_int_eq(idd_store_user_by_email(s, 1, long_email, &found), IDD_ENOTFOUND);
    idd_store_free(s);
}
END_TEST

START_TEST(test_schema_limits_hold_for_other_writers)
{
    SKIP_UNLESS_SQLITE(
        "writes rows past the C checks through SQLite to test its CHECK constraints");
    /* The schema repeats the field limits, so even a writer bypassing the C code (the
     * sqlite3 shell, a script) cannot store a row that a read would have to truncate.
     * Lengths are counted in bytes: 128 two-byte characters are 256 bytes. */
    idd_store_t *s = open_with_tenants();
    idd_store_free(s);

    ck_assert_int_ne(raw_exec("INSERT INTO users (id, tenant_id, email, password, created, updated)"
                              " VALUES ('00000000-0000-4000-8000-000000000001', 1,"
                              " printf('%.255c', 'x'), 'r', 0, 0)"),
                     SQLITE_OK);
    ck_assert_int_ne(
        raw_exec("INSERT INTO users (id, tenant_id, email, first_name, password,"
                 " created, updated) VALUES ('00000000-0000-4000-8000-000000000002',"
                 " 1, 'a@b', replace(printf('%.128c', 'x'), 'x', char(233)), 'r', 0, 0)"),
        SQLITE_OK);
    ck_assert_int_ne(raw_exec("INSERT INTO users (id, tenant_id, email, role, password, created,"
                              " updated) VALUES ('00000000-0000-4000-8000-000000000003', 1, 'a@b',"
                              " 'root', 'r', 0, 0)"),
                     SQLITE_OK);
    ck_assert_int_ne(raw_exec("INSERT INTO tenants (id, name, password_salt, created)"
                              " VALUES (5, 'x', printf('%.65c', 'a'), 0)"),
                     SQLITE_OK);
    /* And the same statement within the limits is accepted, so the checks above failed for
     * the length and not for some other reason. */
    ck_assert_int_eq(
        raw_exec("INSERT INTO users (id, tenant_id, email, first_name, password,"
                 " created, updated) VALUES ('00000000-0000-4000-8000-000000000002',"
                 " 1, 'a@b', replace(printf('%.64c', 'x'), 'x', char(233)), 'r', 0, 0)"),
        SQLITE_OK);
}
END_TEST

START_TEST(test_guid_format)
{
    idd_store_t *s = open_with_tenants();
    char ids[16][IDD_GUID_LEN + 1];

    for (int i = 0; i < 16; i++) {
        char email[32];
        snprintf(email, sizeof email, "user%d@example.com", i);
        idd_user_t u = make_user(1, email);
        ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
        ck_assert_msg(is_guid_v4(u.id), "not a lowercase v4 GUID: %s", u.id);
        memcpy(ids[i], u.id, sizeof ids[i]);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(ids[i], ids[j]);
    }
    idd_store_free(s);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("store_users");
    TCase *tc = tcase_create("users");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_role_and_status_names);
    tcase_add_test(tc, test_tenant_ensure_keeps_salt);
    tcase_add_test(tc, test_user_insert_and_lookup);
    tcase_add_test(tc, test_user_given_id);
    tcase_add_test(tc, test_duplicate_email);
    tcase_add_test(tc, test_unknown_tenant);
    tcase_add_test(tc, test_set_status_and_password_persist);
    tcase_add_test(tc, test_user_list_order_and_filter);
    tcase_add_test(tc, test_user_list_reentry);
    tcase_add_test(tc, test_oversized_fields_refused);
    tcase_add_test(tc, test_schema_limits_hold_for_other_writers);
    tcase_add_test(tc, test_guid_format);
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
