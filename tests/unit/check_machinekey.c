/*
 * DocSpace's machine-key derivation. The two 256-byte vectors come from DocSpace's own
 * identity-service tests: if a single byte differs, every HS256 token identityd mints is
 * refused by DocSpace's consumers. The other tests pin the seed rules (only the last four
 * bytes count, abs() of the seed, INT32_MIN mapped to INT32_MAX) that the vectors alone do
 * not exercise.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/token/machinekey.h"

#include "vectors.h"

static const char vector_test[] =
    "fa64b12fd28c8f7140abf3a442adc9fec26c6e334fbca2df32249af54e19261af04337104a88496110c655f231"
    "0ac6d6051b88776f823dc2d2fcaef199222785d9b3fe76b8b339220d238866afad285dc3f03390aeab6e05753e"
    "4eda57c7ed9fd0197e0c501e51e1656a4cf9d71224d4502da8ef96d72e45f80179645fcb4635e996962f1b0da5"
    "9e512b445e742e621a7a89291ffd08f9eb38134fa4ed819a231610417bf4b84388099e6b93cfd1ca9e5fead6a1"
    "2638e09caaf708bd01b1cf90204863ece625c145a1155f9d661c6749b14502abf9fdde2fa4d1fdb0868757cedb"
    "73866dddb7392890ff11d843368e8fbe0cbbaf239723693447152811bf1abd";

static void hex(const unsigned char *bytes, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static void derive(const char *key, size_t len, unsigned char *out)
{
    ck_assert_int_eq(idd_machinekey_derive(key, len, out, IDD_MACHINEKEY_HMAC_LEN), 0);
}

START_TEST(test_vector_111)
{
    unsigned char key[IDD_MACHINEKEY_HMAC_LEN];
    char text[2 * IDD_MACHINEKEY_HMAC_LEN + 1];

    ck_assert_uint_eq(strlen(VECTOR_MACHINE_KEY_111_HEX), sizeof(text) - 1);
    derive("111", 3, key);
    hex(key, sizeof(key), text);
    ck_assert_str_eq(text, VECTOR_MACHINE_KEY_111_HEX);
}
END_TEST

START_TEST(test_vector_test)
{
    unsigned char key[IDD_MACHINEKEY_HMAC_LEN];
    char text[2 * IDD_MACHINEKEY_HMAC_LEN + 1];

    ck_assert_uint_eq(strlen(vector_test), sizeof(text) - 1);
    derive("test", 4, key);
    hex(key, sizeof(key), text);
    ck_assert_str_eq(text, vector_test);
}
END_TEST

/* Only the last four bytes seed the generator: DocSpace's weakness, reproduced on purpose. */
START_TEST(test_only_last_four_bytes_count)
{
    unsigned char a[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char b[IDD_MACHINEKEY_HMAC_LEN];

    derive("secret", 6, a);
    derive("supersecret", 11, b);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);

    /* ...and a change in those four bytes changes the key. */
    derive("secreT", 6, b);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);

    /* "x111" and "111" differ in the last four bytes once the zero prefix is counted. */
    derive("111", 3, a);
    derive("x111", 4, b);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

/* The length is explicit: bytes after an embedded NUL are part of the key. */
START_TEST(test_length_is_explicit)
{
    unsigned char a[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char b[IDD_MACHINEKEY_HMAC_LEN];
    char text[2 * IDD_MACHINEKEY_HMAC_LEN + 1];

    derive("111\0garbage", 3, a);
    hex(a, sizeof(a), text);
    ck_assert_str_eq(text, VECTOR_MACHINE_KEY_111_HEX);
    derive("111\0garbage", 11, b);
    ck_assert_int_ne(memcmp(a, b, sizeof(a)), 0);
}
END_TEST

/* abs(seed): seeds 5 and -5 (little-endian fb ff ff ff) give the same stream. */
START_TEST(test_negative_seed_uses_abs)
{
    unsigned char a[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char b[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char c[IDD_MACHINEKEY_HMAC_LEN];

    derive("\x05\x00\x00\x00", 4, a);
    derive("\xfb\xff\xff\xff", 4, b);
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    derive("\x06\x00\x00\x00", 4, c);
    ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
}
END_TEST

/* INT32_MIN has no positive counterpart: .NET maps it to INT32_MAX. */
START_TEST(test_int32_min_seed)
{
    unsigned char a[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char b[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char c[IDD_MACHINEKEY_HMAC_LEN];

    derive("\x00\x00\x00\x80", 4, a); /* INT32_MIN */
    derive("\xff\xff\xff\x7f", 4, b); /* INT32_MAX */
    ck_assert_int_eq(memcmp(a, b, sizeof(a)), 0);
    derive("\x01\x00\x00\x80", 4, c); /* INT32_MIN + 1, abs = INT32_MAX too */
    ck_assert_int_eq(memcmp(a, c, sizeof(a)), 0);
    derive("\xfe\xff\xff\x7f", 4, c); /* INT32_MAX - 1 */
    ck_assert_int_ne(memcmp(a, c, sizeof(a)), 0);
}
END_TEST

/* The stream is a prefix stream: the first 32 bytes (DocSpace's cookie AES key) are the
 * start of the 256-byte HMAC key, and any output length is a prefix of a longer one. */
START_TEST(test_prefix_stream)
{
    unsigned char full[IDD_MACHINEKEY_HMAC_LEN];
    unsigned char part[32];
    unsigned char longer[600];

    derive("test", 4, full);
    ck_assert_int_eq(idd_machinekey_derive("test", 4, part, sizeof(part)), 0);
    ck_assert_int_eq(memcmp(full, part, sizeof(part)), 0);
    ck_assert_int_eq(idd_machinekey_derive("test", 4, longer, sizeof(longer)), 0);
    ck_assert_int_eq(memcmp(full, longer, sizeof(full)), 0);
}
END_TEST

START_TEST(test_refusals)
{
    unsigned char out[4];

    ck_assert_int_eq(idd_machinekey_derive("test", 4, out, 0), IDD_EINVAL);
    ck_assert_int_eq(idd_machinekey_derive(NULL, 4, out, sizeof(out)), IDD_EINVAL);
    /* An empty key is a defined input (seed 0); refusing it is the keyring's business. */
    ck_assert_int_eq(idd_machinekey_derive("", 0, out, sizeof(out)), 0);
}
END_TEST

static Suite *machinekey_suite(void)
{
    Suite *s = suite_create("machinekey");
    TCase *tc = tcase_create("docspace");
    tcase_add_test(tc, test_vector_111);
    tcase_add_test(tc, test_vector_test);
    tcase_add_test(tc, test_only_last_four_bytes_count);
    tcase_add_test(tc, test_length_is_explicit);
    tcase_add_test(tc, test_negative_seed_uses_abs);
    tcase_add_test(tc, test_int32_min_seed);
    tcase_add_test(tc, test_prefix_stream);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(machinekey_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
