/*
 * Key rotation by identityd itself: the schedule (idd_rotation_plan, a pure function of the
 * rows and the time) and the store's rows for it (sqlite_signing.c), whose conditional
 * writes let instances racing for the same step agree.
 */
#include "identityd/token/rotation.h"
#include "store_test.h"

static idd_signing_key_t row(const char *kid, idd_skey_state_t state, int64_t activate_at,
                             int64_t activated, int64_t retire_at)
{
    idd_signing_key_t k;
    memset(&k, 0, sizeof(k));
    snprintf(k.kid, sizeof(k.kid), "%s", kid);
    snprintf(k.alg, sizeof(k.alg), "ES256");
    k.state = state;
    k.created = activate_at;
    k.activate_at = activate_at;
    k.activated = activated;
    k.retire_at = retire_at;
    return k;
}

/* every = 100 s, wait (jwks.max_age) = 10 s throughout. */
static idd_rot_action_t plan(const idd_signing_key_t *keys, size_t n, int64_t now,
                             const idd_signing_key_t **subject, int64_t *when)
{
    return idd_rotation_plan(keys, n, now, 100, 10, subject, when);
}

START_TEST(plan_bootstrap_without_keys)
{
    const idd_signing_key_t *subject = NULL;
    int64_t when = 0;
    ck_assert_int_eq(plan(NULL, 0, 1000, &subject, &when), IDD_ROT_BOOTSTRAP);
    /* Retired keys are records: they do not sign. */
    idd_signing_key_t old = row("old", IDD_SKEY_RETIRED, 0, 0, 0);
    ck_assert_int_eq(plan(&old, 1, 1000, &subject, &when), IDD_ROT_BOOTSTRAP);
}
END_TEST

START_TEST(plan_prepares_the_next_key_before_it_is_due)
{
    idd_signing_key_t a = row("a", IDD_SKEY_ACTIVE, 1000, 1000, 0);
    const idd_signing_key_t *subject = NULL;
    int64_t when = 0;
    ck_assert_int_eq(plan(&a, 1, 1000, &subject, &when), IDD_ROT_NONE);
    ck_assert_int_eq(plan(&a, 1, 1089, &subject, &when), IDD_ROT_NONE);
    /* every - wait after it began: the next key is made, to sign at every. */
    ck_assert_int_eq(plan(&a, 1, 1090, &subject, &when), IDD_ROT_PREPARE);
    ck_assert_int_eq(when, 1100);
    /* Late (identityd was down): consumers still get the whole wait. */
    ck_assert_int_eq(plan(&a, 1, 5000, &subject, &when), IDD_ROT_PREPARE);
    ck_assert_int_eq(when, 5010);
}
END_TEST

START_TEST(plan_activates_when_due)
{
    idd_signing_key_t keys[] = {row("a", IDD_SKEY_ACTIVE, 1000, 1000, 0),
                                row("b", IDD_SKEY_PENDING, 1100, 0, 0)};
    const idd_signing_key_t *subject = NULL;
    int64_t when = 0;
    ck_assert_int_eq(plan(keys, 2, 1099, &subject, &when), IDD_ROT_NONE);
    ck_assert_int_eq(plan(keys, 2, 1100, &subject, &when), IDD_ROT_ACTIVATE);
    ck_assert_ptr_eq(subject, &keys[1]);
    /* A pending key with none active (made by an instance that then stopped) still goes. */
    ck_assert_int_eq(plan(&keys[1], 1, 1100, &subject, &when), IDD_ROT_ACTIVATE);
    ck_assert_int_eq(plan(&keys[1], 1, 1050, &subject, &when), IDD_ROT_NONE);
}
END_TEST

START_TEST(plan_retires_after_the_last_token)
{
    /* b began signing at 1350, a drains for 50 s (token.ttl) after that. */
    idd_signing_key_t keys[] = {row("a", IDD_SKEY_DRAINING, 1000, 1000, 1400),
                                row("b", IDD_SKEY_ACTIVE, 1350, 1350, 0)};
    const idd_signing_key_t *subject = NULL;
    int64_t when = 0;
    ck_assert_int_eq(plan(keys, 2, 1399, &subject, &when), IDD_ROT_NONE);
    ck_assert_int_eq(plan(keys, 2, 1400, &subject, &when), IDD_ROT_RETIRE);
    ck_assert_ptr_eq(subject, &keys[0]);
}
END_TEST

/* ---- the rows ---- */

static int collect_row(const idd_signing_key_t *k, void *arg)
{
    idd_signing_key_t *out = arg;
    size_t i = 0;
    while (out[i].kid[0] != '\0')
        i++;
    out[i] = *k;
    return 0;
}

/* The rows, oldest first, into out[8] (zeroed first). */
static size_t rows(idd_store_t *s, idd_signing_key_t out[8])
{
    memset(out, 0, 8 * sizeof(*out));
    ck_assert_int_eq(idd_store_signing_key_list(s, collect_row, out), 0);
    size_t n = 0;
    while (n < 8 && out[n].kid[0] != '\0')
        n++;
    return n;
}

START_TEST(store_one_active_one_pending)
{
    idd_store_t *s = open_migrated();
    idd_signing_key_t a = row("a", IDD_SKEY_ACTIVE, 1000, 1000, 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &a), 0);
    /* Two instances bootstrapping at once: the second finds one active. */
    idd_signing_key_t a2 = row("a2", IDD_SKEY_ACTIVE, 1000, 1000, 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &a2), IDD_EEXIST);
    idd_signing_key_t b = row("b", IDD_SKEY_PENDING, 1100, 0, 0);
    b.created = 1090;
    ck_assert_int_eq(idd_store_signing_key_insert(s, &b), 0);
    idd_signing_key_t b2 = row("b2", IDD_SKEY_PENDING, 1100, 0, 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &b2), IDD_EEXIST);
    /* A kid once. */
    idd_signing_key_t again = row("a", IDD_SKEY_PENDING, 1100, 0, 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &again), IDD_EEXIST);
    /* Only pending or active rows are made. */
    idd_signing_key_t r = row("r", IDD_SKEY_RETIRED, 0, 0, 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &r), IDD_EINVAL);

    idd_signing_key_t got[8];
    ck_assert_int_eq(rows(s, got), 2);
    ck_assert_str_eq(got[0].kid, "a");
    ck_assert_int_eq(got[0].state, IDD_SKEY_ACTIVE);
    ck_assert_int_eq(got[0].activated, 1000);
    ck_assert_str_eq(got[1].kid, "b");
    ck_assert_int_eq(got[1].state, IDD_SKEY_PENDING);
    ck_assert_int_eq(got[1].activate_at, 1100);
    idd_store_free(s);
}
END_TEST

START_TEST(store_activate_and_retire)
{
    idd_store_t *s = open_migrated();
    idd_signing_key_t a = row("a", IDD_SKEY_ACTIVE, 1000, 1000, 0);
    idd_signing_key_t b = row("b", IDD_SKEY_PENDING, 1100, 0, 0);
    b.created = 1090;
    ck_assert_int_eq(idd_store_signing_key_insert(s, &a), 0);
    ck_assert_int_eq(idd_store_signing_key_insert(s, &b), 0);

    /* Not due yet: nothing changes, the signing key included. */
    ck_assert_int_eq(idd_store_signing_key_activate(s, "b", 1099, 1399), IDD_ENOTFOUND);
    idd_signing_key_t got[8];
    ck_assert_int_eq(rows(s, got), 2);
    ck_assert_int_eq(got[0].state, IDD_SKEY_ACTIVE);
    ck_assert_int_eq(got[1].state, IDD_SKEY_PENDING);

    ck_assert_int_eq(idd_store_signing_key_activate(s, "b", 1100, 1400), 0);
    ck_assert_int_eq(rows(s, got), 2);
    ck_assert_int_eq(got[0].state, IDD_SKEY_DRAINING);
    ck_assert_int_eq(got[0].retire_at, 1400);
    ck_assert_int_eq(got[1].state, IDD_SKEY_ACTIVE);
    ck_assert_int_eq(got[1].activated, 1100);
    /* The instance that comes second finds it done. */
    ck_assert_int_eq(idd_store_signing_key_activate(s, "b", 1101, 1401), IDD_ENOTFOUND);
    ck_assert_int_eq(rows(s, got), 2);
    ck_assert_int_eq(got[0].retire_at, 1400);

    int n = -1;
    ck_assert_int_eq(idd_store_signing_key_retire(s, 1399, &n), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(idd_store_signing_key_retire(s, 1400, &n), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(rows(s, got), 2);
    ck_assert_int_eq(got[0].state, IDD_SKEY_RETIRED);
    ck_assert_int_eq(got[1].state, IDD_SKEY_ACTIVE);
    idd_store_free(s);
}
END_TEST

static Suite *rotation_suite(void)
{
    Suite *s = suite_create("rotation");
    TCase *p = tcase_create("plan");
    tcase_add_test(p, plan_bootstrap_without_keys);
    tcase_add_test(p, plan_prepares_the_next_key_before_it_is_due);
    tcase_add_test(p, plan_activates_when_due);
    tcase_add_test(p, plan_retires_after_the_last_token);
    suite_add_tcase(s, p);
    TCase *st = tcase_create("store");
    tcase_add_checked_fixture(st, setup, teardown);
    tcase_add_test(st, store_one_active_one_pending);
    tcase_add_test(st, store_activate_and_retire);
    suite_add_tcase(s, st);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(rotation_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
