/*
 * Unit tests of src/cred/hmac256.c: RFC 4231's HMAC-SHA256 vectors (a short key, a key longer
 * than a block), and agreement with OpenSSL's HMAC() over keys and messages of every length
 * around SHA-256's 64-byte block, the message given whole, split in two, or as the second
 * part alone.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "identityd/cred/hmac256.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

START_TEST(test_rfc4231)
{
    idd_hmac256_t k;
    unsigned char key[131], mac[IDD_HMAC256_LEN];
    char text[2 * IDD_HMAC256_LEN + 1];

    memset(key, 0x0b, 20); /* test case 1 */
    idd_hmac256_key(&k, key, 20);
    idd_hmac256(&k, "Hi There", 8, NULL, 0, mac);
    hex(mac, sizeof mac, text);
    ck_assert_str_eq(text, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    memset(key, 0xaa, 131); /* test case 6: the key is hashed first */
    idd_hmac256_key(&k, key, 131);
    idd_hmac256(&k, "Test Using Larger Than Block-Size Key - Hash Key First", 54, NULL, 0, mac);
    hex(mac, sizeof mac, text);
    ck_assert_str_eq(text, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    idd_hmac256_wipe(&k);
}
END_TEST

START_TEST(test_agrees_with_openssl)
{
    static const size_t lengths[] = {0, 1, 20, 32, 55, 56, 63, 64, 65, 100, 128, 129, 300};
    unsigned char key[300], msg[300], ours[IDD_HMAC256_LEN], theirs[EVP_MAX_MD_SIZE];
    unsigned theirs_len = 0;
    ck_assert_int_eq(RAND_bytes(key, sizeof key), 1);
    ck_assert_int_eq(RAND_bytes(msg, sizeof msg), 1);
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++)
        for (size_t j = 0; j < sizeof lengths / sizeof *lengths; j++) {
            size_t kl = lengths[i], ml = lengths[j];
            idd_hmac256_t k;
            idd_hmac256_key(&k, key, kl);
            ck_assert_ptr_nonnull(HMAC(EVP_sha256(), key, (int)kl, msg, ml, theirs, &theirs_len));
            ck_assert_uint_eq(theirs_len, IDD_HMAC256_LEN);
            idd_hmac256(&k, msg, ml, NULL, 0, ours);
            ck_assert_msg(memcmp(ours, theirs, sizeof ours) == 0, "key %zu, message %zu", kl, ml);
            idd_hmac256(&k, msg, ml / 3, msg + ml / 3, ml - ml / 3, ours);
            ck_assert_msg(memcmp(ours, theirs, sizeof ours) == 0, "split: key %zu, message %zu", kl,
                          ml);
            idd_hmac256(&k, NULL, 0, msg, ml, ours);
            ck_assert_msg(memcmp(ours, theirs, sizeof ours) == 0,
                          "second part: key %zu, message %zu", kl, ml);
        }
}
END_TEST

START_TEST(test_sha256_agrees_with_openssl)
{
    unsigned char msg[300], ours[IDD_HMAC256_LEN], theirs[IDD_HMAC256_LEN];
    ck_assert_int_eq(RAND_bytes(msg, sizeof msg), 1);
    for (size_t n = 0; n <= sizeof msg; n += 13) {
        idd_sha256(msg, n, ours);
        ck_assert_int_eq(EVP_Digest(msg, n, theirs, NULL, EVP_sha256(), NULL), 1);
        ck_assert_msg(memcmp(ours, theirs, sizeof ours) == 0, "length %zu", n);
    }
}
END_TEST

START_TEST(test_states_are_reusable)
{
    /* A keyed state serves any number of MACs: the second is not a continuation of the first. */
    idd_hmac256_t k;
    unsigned char a[IDD_HMAC256_LEN], b[IDD_HMAC256_LEN], c[IDD_HMAC256_LEN];
    idd_hmac256_key(&k, "key", 3);
    idd_hmac256(&k, "one", 3, NULL, 0, a);
    idd_hmac256(&k, "two", 3, NULL, 0, b);
    idd_hmac256(&k, "one", 3, NULL, 0, c);
    ck_assert(memcmp(a, b, sizeof a) != 0);
    ck_assert(memcmp(a, c, sizeof a) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hmac256");
    TCase *tc = tcase_create("hmac256");
    tcase_add_test(tc, test_rfc4231);
    tcase_add_test(tc, test_agrees_with_openssl);
    tcase_add_test(tc, test_sha256_agrees_with_openssl);
    tcase_add_test(tc, test_states_are_reusable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
