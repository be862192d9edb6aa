/*
 * Unit tests of src/cred/pbkdf2.c: RFC 7914 §11's two PBKDF2-HMAC-SHA256 vectors (64 bytes,
 * so two blocks), and byte-for-byte agreement with OpenSSL's PKCS5_PBKDF2_HMAC over passwords
 * and salts of every length around SHA-256's block (the key-hashing rule at 64 bytes), output
 * lengths that end inside a block, and counts across a pacing slice's edge; with a pacer
 * given, the same bytes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "identityd/core/common.h"
#include "identityd/core/pacer.h"
#include "identityd/cred/pbkdf2.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

START_TEST(test_rfc7914_vectors)
{
    unsigned char dk[64];
    char text[129];
    ck_assert_int_eq(idd_pbkdf2_sha256("passwd", 6, "salt", 4, 1, dk, sizeof dk, NULL), 0);
    hex(dk, sizeof dk, text);
    ck_assert_str_eq(text, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                           "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    ck_assert_int_eq(idd_pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, dk, sizeof dk, NULL), 0);
    hex(dk, sizeof dk, text);
    ck_assert_str_eq(text, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
                           "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}
END_TEST

static void agree(size_t plen, size_t slen, unsigned iterations, size_t outlen, idd_pacer_t *pacer)
{
    unsigned char password[200], salt[200], ours[100], theirs[100];
    ck_assert_int_eq(RAND_bytes(password, sizeof password), 1);
    ck_assert_int_eq(RAND_bytes(salt, sizeof salt), 1);
    memset(ours, 0xaa, sizeof ours);
    ck_assert_int_eq(idd_pbkdf2_sha256(password, plen, salt, slen, iterations, ours, outlen, pacer),
                     0);
    ck_assert_int_eq(PKCS5_PBKDF2_HMAC((const char *)password, (int)plen, salt, (int)slen,
                                       (int)iterations, EVP_sha256(), (int)outlen, theirs),
                     1);
    ck_assert_msg(memcmp(ours, theirs, outlen) == 0,
                  "differs from OpenSSL: password %zu, salt %zu, %u iterations, %zu bytes", plen,
                  slen, iterations, outlen);
    ck_assert_int_eq(ours[outlen], 0xaa); /* nothing written past outlen */
}

START_TEST(test_agrees_with_openssl)
{
    static const size_t lengths[] = {0, 1, 31, 32, 55, 56, 63, 64, 65, 127, 128, 129, 200};
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
        for (size_t j = 0; j < sizeof lengths / sizeof *lengths; j += 3)
            agree(lengths[i], lengths[j], 3, 32, NULL);
    static const size_t outs[] = {1, 16, 31, 32, 33, 64, 65, 99};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++)
        agree(8, 16, 2, outs[i], NULL);
    static const unsigned counts[] = {1,
                                      2,
                                      IDD_PBKDF2_SLICE - 1,
                                      IDD_PBKDF2_SLICE,
                                      IDD_PBKDF2_SLICE + 1,
                                      2 * IDD_PBKDF2_SLICE + 7};
    for (size_t i = 0; i < sizeof counts / sizeof *counts; i++)
        agree(12, 64, counts[i], 32, NULL);
}
END_TEST

/* Loops that have used no CPU: never busy. */
static int64_t no_loops(void)
{
    return 0;
}

START_TEST(test_paced_gives_the_same_bytes)
{
    /* A pacer that never limits (100 %) and one at 1 %: the loops of this test are idle, so
     * neither sleeps, and both must leave the bytes alone. */
    idd_pacer_t *open = idd_pacer_new(100, 1, no_loops), *tight = idd_pacer_new(1, 1, no_loops);
    agree(10, 20, 3 * IDD_PBKDF2_SLICE + 1, 32, open);
    agree(10, 20, 3 * IDD_PBKDF2_SLICE + 1, 32, tight);
    idd_pacer_free(open);
    idd_pacer_free(tight);
}
END_TEST

START_TEST(test_bad_arguments)
{
    unsigned char dk[32];
    ck_assert_int_eq(idd_pbkdf2_sha256("p", 1, "s", 1, 0, dk, sizeof dk, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_pbkdf2_sha256(NULL, 1, "s", 1, 1, dk, sizeof dk, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_pbkdf2_sha256("p", 1, NULL, 1, 1, dk, sizeof dk, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_pbkdf2_sha256("p", 1, "s", 1, 1, dk, 0, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_pbkdf2_sha256("p", 1, "s", 1, 1, NULL, 32, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_pbkdf2_sha256("p", 1, "s", 1, 1, dk, 1025, NULL), IDD_EINVAL);
    /* Empty password and salt are valid, given as NULL with length 0. */
    ck_assert_int_eq(idd_pbkdf2_sha256(NULL, 0, NULL, 0, 1, dk, sizeof dk, NULL), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pbkdf2");
    TCase *tc = tcase_create("pbkdf2");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc7914_vectors);
    tcase_add_test(tc, test_agrees_with_openssl);
    tcase_add_test(tc, test_paced_gives_the_same_bytes);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
