/*
 * Unit tests of src/core/jwa.c: the one table of JWS algorithm names and the two sets drawn
 * from it (what identityd signs with, what an external authority may sign with).
 */
#include <check.h>
#include <stdlib.h>

#include "identityd/core/common.h"
#include "identityd/core/jwa.h"

START_TEST(alg_names_round_trip)
{
    static const char *const names[] = {"HS256", "ES256", "RS256", "EdDSA", "PS256"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(names); i++) {
        idd_alg_t alg;
        ck_assert_int_eq(idd_alg_parse(names[i], IDD_JWA_SIGNING | IDD_JWA_EXTERNAL, &alg), 0);
        ck_assert_str_eq(idd_alg_name(alg), names[i]);
    }
    ck_assert_str_eq(idd_alg_name(IDD_ALG_COUNT), "unknown");
    ck_assert_str_eq(idd_alg_name((idd_alg_t)-1), "unknown");
}
END_TEST

START_TEST(names_are_exact)
{
    static const char *const refused[] = {"es256", "ES256 ", " ES256", "ES",    "none",  "None",
                                          "HS384", "HS512",  "RS512",  "ES384", "eddsa", ""};
    idd_alg_t alg = IDD_ALG_COUNT;
    for (size_t i = 0; i < IDD_ARRAY_LEN(refused); i++) {
        ck_assert_msg(idd_alg_parse(refused[i], ~0u, &alg) == IDD_EINVAL, "%s parsed", refused[i]);
        ck_assert_uint_eq(idd_jwa_parse(refused[i]), 0);
    }
    ck_assert_int_eq(idd_alg_parse(NULL, ~0u, &alg), IDD_EINVAL);
    ck_assert_int_eq(alg, IDD_ALG_COUNT); /* untouched on failure */
}
END_TEST

START_TEST(sets_limit_what_parses)
{
    idd_alg_t alg;
    /* identityd never signs with PS256, and never accepts an HMAC from outside. */
    ck_assert_int_eq(idd_alg_parse("PS256", IDD_JWA_SIGNING, &alg), IDD_EINVAL);
    ck_assert_int_eq(idd_alg_parse("HS256", IDD_JWA_EXTERNAL, &alg), IDD_EINVAL);
    ck_assert_uint_eq(idd_jwa_parse("HS256"), 0);
    ck_assert_int_eq(idd_alg_parse("HS256", IDD_JWA_SIGNING, &alg), 0);
    ck_assert_int_eq(alg, IDD_ALG_HS256);
    ck_assert_int_eq(idd_alg_parse("ES256", IDD_JWA_RS256, &alg), IDD_EINVAL);

    ck_assert_uint_eq(idd_jwa_parse("RS256"), IDD_JWA_RS256);
    ck_assert_uint_eq(idd_jwa_parse("ES256"), IDD_JWA_ES256);
    ck_assert_uint_eq(idd_jwa_parse("PS256"), IDD_JWA_PS256);
    ck_assert_uint_eq(idd_jwa_parse("EdDSA"), IDD_JWA_EDDSA);
    /* The bits are distinct, so a set can hold them all. */
    ck_assert_uint_eq(__builtin_popcount(IDD_JWA_SIGNING | IDD_JWA_EXTERNAL), IDD_ALG_COUNT);
}
END_TEST

START_TEST(signing_algorithms_come_first)
{
    /* Tables that list the signing algorithms take the first names of idd_alg_names. */
    for (int i = 0; i < IDD_ALG_COUNT; i++)
        ck_assert_int_eq((IDD_JWA_SIGNING & IDD_JWA_BIT(i)) != 0, i <= IDD_ALG_SIGNING_LAST);
    ck_assert_ptr_null(idd_alg_names[IDD_ALG_COUNT]);
}
END_TEST

START_TEST(external_names_parse_to_bits)
{
    ck_assert_uint_eq(idd_jwa_parse("RS256"), IDD_JWA_RS256);
    ck_assert_uint_eq(idd_jwa_parse("ES256"), IDD_JWA_ES256);
    ck_assert_uint_eq(idd_jwa_parse("PS256"), IDD_JWA_PS256);
    ck_assert_uint_eq(idd_jwa_parse("EdDSA"), IDD_JWA_EDDSA);
    const char *const refused[] = {"none",  "None",   "HS256", "HS384", "HS512", "rs256",
                                   "EDDSA", "RS256 ", "ES384", "",      "RS2560"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(refused); i++)
        ck_assert_msg(idd_jwa_parse(refused[i]) == 0, "%s parsed", refused[i]);
    ck_assert_uint_eq(idd_jwa_parse(NULL), 0);
}
END_TEST

static Suite *jwa_suite(void)
{
    Suite *s = suite_create("jwa");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, alg_names_round_trip);
    tcase_add_test(tc, names_are_exact);
    tcase_add_test(tc, sets_limit_what_parses);
    tcase_add_test(tc, signing_algorithms_come_first);
    tcase_add_test(tc, external_names_parse_to_bits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jwa_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
