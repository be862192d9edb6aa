/*
 * Unit tests of the two-factor bindings of the store (src/store/sqlite_tfa.c,
 * migrations/0006): create once, read back, the guards of the first activation, of the TOTP
 * step (a code accepted once, also when processes race with it) and of the backup codes,
 * unlinking, and the schema's refusals of rows the C code would never write.
 */
#include "store_test.h"

#include "identityd/cred/totp.h"

#define PEPPER "0123456789abcdef0123456789abcdef"

static idd_pepper_t pepper(void)
{
    idd_pepper_t p;
    memset(&p, 0, sizeof p);
    p.len = strlen(PEPPER);
    memcpy(p.bytes, PEPPER, p.len);
    return p;
}

/* A migrated store holding one user of tenant 1, whose id is written to uid. */
static idd_store_t *open_with_user(char uid[IDD_GUID_LEN + 1])
{
    idd_store_t *s = open_with_tenants();
    idd_user_t u = make_user(1, "alice@example.com");
    ck_assert_int_eq(idd_store_user_insert(s, &u), 0);
    memcpy(uid, u.id, IDD_GUID_LEN + 1);
    return s;
}

/* A binding with a fresh sealed random secret. */
static idd_tfa_t new_binding(const char *uid, idd_totp_secret_t *secret)
{
    idd_pepper_t p = pepper();
    idd_tfa_t t;
    memset(&t, 0, sizeof t);
    memcpy(t.user_id, uid, IDD_GUID_LEN + 1);
    ck_assert_int_eq(idd_totp_secret_random(secret), 0);
    ck_assert_int_eq(idd_tfa_seal_secret(&p, uid, secret, t.secret, sizeof t.secret), 0);
    return t;
}

static void sealed_codes(const char *uid, idd_tfa_codes_t *codes, char rec[IDD_TFA_RECORD_MAX])
{
    idd_pepper_t p = pepper();
    ck_assert_int_eq(idd_tfa_codes_new(codes), 0);
    ck_assert_int_eq(idd_tfa_seal_codes(&p, uid, codes, rec, IDD_TFA_RECORD_MAX), 0);
}

START_TEST(test_create_get_delete)
{
    char uid[IDD_GUID_LEN + 1];
    idd_store_t *s = open_with_user(uid);
    idd_totp_secret_t secret, back;
    idd_tfa_t t = new_binding(uid, &secret), got;
    idd_pepper_t p = pepper();

    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1000), 0);
    /* A second request making one at the same time: told to read it again. */
    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1001), IDD_EEXIST);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_str_eq(got.user_id, uid);
    ck_assert_str_eq(got.secret, t.secret);
    ck_assert_int_eq(got.derived, 0);
    ck_assert_str_eq(got.codes, "");
    ck_assert_int_eq(got.last_step, -1);
    ck_assert_int_eq(got.created, 1000);
    ck_assert_int_eq(got.updated, 1000);
    ck_assert_int_eq(idd_tfa_open_secret(&p, uid, got.secret, &back), 0);
    ck_assert(memcmp(back.bytes, secret.bytes, secret.len) == 0);

    ck_assert_int_eq(idd_store_tfa_delete(s, uid), 0);
    ck_assert_int_eq(idd_store_tfa_delete(s, uid), IDD_ENOTFOUND);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), IDD_ENOTFOUND);

    /* DocSpace's derived kind: a salt, no secret. */
    idd_tfa_t d;
    memset(&d, 0, sizeof d);
    memcpy(d.user_id, uid, sizeof d.user_id);
    d.derived = 1;
    d.salt = 250000000000LL;
    ck_assert_int_eq(idd_store_tfa_create(s, &d, 2000), 0);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_int_eq(got.derived, 1);
    ck_assert_int_eq(got.salt, 250000000000LL);
    ck_assert_str_eq(got.secret, "");

    /* An unknown user, a malformed id, an empty secret. */
    idd_tfa_t other = t;
    memcpy(other.user_id, "11111111-2222-4333-8444-555555555555", IDD_GUID_LEN + 1);
    ck_assert_int_eq(idd_store_tfa_create(s, &other, 1), IDD_ENOTFOUND);
    memcpy(other.user_id, "not-a-guid", 11);
    ck_assert_int_eq(idd_store_tfa_create(s, &other, 1), IDD_EINVAL);
    ck_assert_int_eq(idd_store_tfa_get(s, "x", &got), IDD_EINVAL);
    other = t;
    other.secret[0] = '\0';
    ck_assert_int_eq(idd_store_tfa_delete(s, uid), 0);
    ck_assert_int_eq(idd_store_tfa_create(s, &other, 1), IDD_EINVAL);
    idd_store_free(s);
}
END_TEST

START_TEST(test_activate_once)
{
    char uid[IDD_GUID_LEN + 1], rec[IDD_TFA_RECORD_MAX], rec2[IDD_TFA_RECORD_MAX];
    idd_store_t *s = open_with_user(uid);
    idd_totp_secret_t secret;
    idd_tfa_t t = new_binding(uid, &secret), got;
    idd_tfa_codes_t codes;

    sealed_codes(uid, &codes, rec);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, rec, 100, 5000), IDD_EDENIED); /* no row */
    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1000), 0);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, rec, 100, 5000), 0);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_str_eq(got.codes, rec);
    ck_assert_int_eq(got.last_step, 100);
    ck_assert_int_eq(got.updated, 5000);
    /* A second activation (another request with the next code) changes nothing. */
    sealed_codes(uid, &codes, rec2);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, rec2, 101, 5001), IDD_EDENIED);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_str_eq(got.codes, rec);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, "", 101, 5001), IDD_EINVAL);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, rec2, -1, 5001), IDD_EINVAL);
    idd_store_free(s);
}
END_TEST

/* The replay guard: the step moves only forward, and the same step twice is refused. */
START_TEST(test_accept_step_once)
{
    char uid[IDD_GUID_LEN + 1];
    idd_store_t *s = open_with_user(uid);
    idd_totp_secret_t secret;
    idd_tfa_t t = new_binding(uid, &secret), got;

    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1000), 0);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, 500, 1), 0);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, 500, 2), IDD_EDENIED);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, 499, 3), IDD_EDENIED);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, 501, 4), 0);
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_int_eq(got.last_step, 501);
    ck_assert_int_eq(got.updated, 4);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, -1, 5), IDD_EINVAL);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, "11111111-2222-4333-8444-555555555555", 9, 5),
                     IDD_EDENIED);

    /* Through a second connection too: what one accepted the other refuses. */
    idd_store_t *s2 = NULL;
    ck_assert_int_eq(idd_store_open(store_location, &s2), 0);
    ck_assert_int_eq(idd_store_tfa_accept_step(s2, uid, 501, 6), IDD_EDENIED);
    ck_assert_int_eq(idd_store_tfa_accept_step(s2, uid, 502, 6), 0);
    ck_assert_int_eq(idd_store_tfa_accept_step(s, uid, 502, 7), IDD_EDENIED);
    idd_store_free(s2);
    idd_store_free(s);
}
END_TEST

/* Processes racing with one code (one step): exactly one is accepted, each round. No timing
 * is assumed: each child waits on SQLite's lock as long as it must. */
START_TEST(test_accept_step_race)
{
    enum { PROCESSES = 6, ROUNDS = 4 };
    char uid[IDD_GUID_LEN + 1];
    idd_store_t *s = open_with_user(uid);
    idd_totp_secret_t secret;
    idd_tfa_t t = new_binding(uid, &secret);
    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1000), 0);
    idd_store_free(s);

    for (int round = 0; round < ROUNDS; round++) {
        pid_t pids[PROCESSES];
        int accepted = 0, refused = 0;
        for (int i = 0; i < PROCESSES; i++) {
            pids[i] = fork();
            ck_assert_int_ge(pids[i], 0);
            if (pids[i] == 0) {
                idd_store_t *child = NULL;
                if (idd_store_open(store_location, &child) != 0)
                    _exit(3);
                int rc = idd_store_tfa_accept_step(child, uid, 1000 + round, 1);
                idd_store_free(child);
                _exit(rc == 0 ? 0 : rc == IDD_EDENIED ? 1 : 2);
            }
        }
        for (int i = 0; i < PROCESSES; i++) {
            int status = 0;
            ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
            ck_assert(WIFEXITED(status));
            if (WEXITSTATUS(status) == 0)
                accepted++;
            else if (WEXITSTATUS(status) == 1)
                refused++;
        }
        ck_assert_int_eq(accepted, 1);
        ck_assert_int_eq(refused, PROCESSES - 1);
    }
}
END_TEST

/* A backup code spent by two requests at once: the second write finds the record changed. */
START_TEST(test_set_codes_compare_and_swap)
{
    char uid[IDD_GUID_LEN + 1], rec[IDD_TFA_RECORD_MAX], a[IDD_TFA_RECORD_MAX],
        b[IDD_TFA_RECORD_MAX];
    idd_store_t *s = open_with_user(uid);
    idd_totp_secret_t secret;
    idd_tfa_t t = new_binding(uid, &secret), got;
    idd_tfa_codes_t codes, ca, cb;
    idd_pepper_t p = pepper();

    ck_assert_int_eq(idd_store_tfa_create(s, &t, 1000), 0);
    sealed_codes(uid, &codes, rec);
    ck_assert_int_eq(idd_store_tfa_activate(s, uid, rec, 10, 1000), 0);

    /* Both read the same record and spend the same code. */
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_int_eq(idd_tfa_open_codes(&p, uid, got.codes, &ca), 0);
    cb = ca;
    ck_assert_int_eq(idd_tfa_codes_use(&ca, codes.code[3], 6), 3);
    ck_assert_int_eq(idd_tfa_codes_use(&cb, codes.code[3], 6), 3);
    ck_assert_int_eq(idd_tfa_seal_codes(&p, uid, &ca, a, sizeof a), 0);
    ck_assert_int_eq(idd_tfa_seal_codes(&p, uid, &cb, b, sizeof b), 0);
    ck_assert_int_eq(idd_store_tfa_set_codes(s, uid, got.codes, a, 2000), 0);
    ck_assert_int_eq(idd_store_tfa_set_codes(s, uid, got.codes, b, 2001), IDD_EDENIED);

    /* What is stored shows the code used, and it cannot be spent again. */
    ck_assert_int_eq(idd_store_tfa_get(s, uid, &got), 0);
    ck_assert_str_eq(got.codes, a);
    ck_assert_int_eq(idd_tfa_open_codes(&p, uid, got.codes, &ca), 0);
    ck_assert(ca.used[3]);
    ck_assert_int_eq(idd_tfa_codes_use(&ca, codes.code[3], 6), IDD_EDENIED);
    ck_assert_int_eq(idd_store_tfa_set_codes(s, uid, "", a, 2002), IDD_EINVAL);
    idd_store_free(s);
}
END_TEST

/* Rows only another writer could make are refused by the schema. */
/* A tenant's settings: off without a row, stored and read back, and turning them on ends
 * the tenant's live sessions, only the tenant's, and only on the switch from off. */
START_TEST(test_tenant_settings)
{
    char uid[IDD_GUID_LEN + 1];
    idd_store_t *s = open_with_user(uid);
    idd_user_t alice, bob = make_user(2, "bob@example.com");
    ck_assert_int_eq(idd_store_user_by_id(s, uid, &alice), 0);
    ck_assert_int_eq(idd_store_user_insert(s, &bob), 0);
    idd_session_t a1 = make_session(&alice, 1, idd_now()), a2 = make_session(&alice, 2, idd_now());
    idd_session_t b1 = make_session(&bob, 3, idd_now());
    add_session(s, &a1);
    add_session(s, &a2);
    add_session(s, &b1);

    idd_tenant_tfa_t t;
    ck_assert_int_eq(idd_store_tenant_tfa_get(s, 1, &t), 0);
    ck_assert_int_eq(t.tenant_id, 1);
    ck_assert_int_eq(t.enabled, 0);
    ck_assert_str_eq(t.trusted_ips, "");

    /* Stored off: nothing ends. */
    snprintf(t.trusted_ips, sizeof t.trusted_ips, "10.0.0.0/8,192.168.1.1-192.168.1.9");
    int ended = -1;
    ck_assert_int_eq(idd_store_tenant_tfa_set(s, &t, 50, &ended), 0);
    ck_assert_int_eq(ended, 0);
    ck_assert(session_active(s, a1.id));

    /* On: the tenant's sessions end, the other tenant's stay. */
    t.enabled = 1;
    snprintf(t.mandatory_users, sizeof t.mandatory_users, "%s", uid);
    ck_assert_int_eq(idd_store_tenant_tfa_set(s, &t, 60, &ended), 0);
    ck_assert_int_eq(ended, 2);
    ck_assert(!session_active(s, a1.id));
    ck_assert(!session_active(s, a2.id));
    ck_assert(session_active(s, b1.id));

    idd_tenant_tfa_t got;
    ck_assert_int_eq(idd_store_tenant_tfa_get(s, 1, &got), 0);
    ck_assert_int_eq(got.enabled, 1);
    ck_assert_str_eq(got.trusted_ips, "10.0.0.0/8,192.168.1.1-192.168.1.9");
    ck_assert_str_eq(got.mandatory_users, uid);
    ck_assert_int_eq(got.updated, 60);

    /* Still on (a list changed): sessions made since are kept. */
    idd_session_t a3 = make_session(&alice, 4, idd_now());
    add_session(s, &a3);
    t.trusted_ips[0] = '\0';
    ck_assert_int_eq(idd_store_tenant_tfa_set(s, &t, 70, &ended), 0);
    ck_assert_int_eq(ended, 0);
    ck_assert(session_active(s, a3.id));

    /* An unknown tenant, and a list that does not fit. */
    t.tenant_id = 99;
    ck_assert_int_eq(idd_store_tenant_tfa_set(s, &t, 80, NULL), IDD_ENOTFOUND);
    t.tenant_id = 1;
    memset(t.trusted_ips, 'a', sizeof t.trusted_ips);
    ck_assert_int_eq(idd_store_tenant_tfa_set(s, &t, 80, NULL), IDD_ETOOBIG);
    idd_store_free(s);
}
END_TEST

START_TEST(test_schema_checks)
{
    SKIP_UNLESS_SQLITE(
        "writes rows past the C checks through SQLite to test its CHECK constraints");
    char uid[IDD_GUID_LEN + 1], sql[512];
    idd_store_t *s = open_with_user(uid);
    idd_store_free(s);

    /* Both a secret and a salt; neither; a step below -1; a user that does not exist. */
    snprintf(sql, sizeof sql,
             "PRAGMA foreign_keys = ON; INSERT INTO user_tfa (user_id, secret, salt, created, "
             "updated) VALUES ('%s', '$tfa1$AAAA', 5, 1, 1)",
             uid);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO user_tfa (user_id, created, updated) VALUES ('%s', 1, 1)", uid);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO user_tfa (user_id, salt, last_step, created, updated) "
             "VALUES ('%s', 5, -2, 1, 1)",
             uid);
    ck_assert_int_ne(raw_exec(sql), SQLITE_OK);
    ck_assert_int_ne(raw_exec("PRAGMA foreign_keys = ON; INSERT INTO user_tfa (user_id, salt, "
                              "created, updated) VALUES "
                              "('11111111-2222-4333-8444-555555555555', 5, 1, 1)"),
                     SQLITE_OK);
}
END_TEST

static Suite *store_tfa_suite(void)
{
    Suite *s = suite_create("store_tfa");
    TCase *tc = tcase_create("tfa");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_create_get_delete);
    tcase_add_test(tc, test_activate_once);
    tcase_add_test(tc, test_accept_step_once);
    tcase_add_test(tc, test_accept_step_race);
    tcase_add_test(tc, test_set_codes_compare_and_swap);
    tcase_add_test(tc, test_schema_checks);
    tcase_add_test(tc, test_tenant_settings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_tfa_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
