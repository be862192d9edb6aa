/*
 * Unit tests of src/cred/digest.c: the keyed digest every stored session and API key is
 * found by. Its bytes are what existing databases hold, so each kind is pinned to a value
 * computed outside identityd with the openssl command line, under the 32-byte pepper
 * "0123456789abcdef0123456789abcdef" (hex 3031...6566):
 *
 *   printf '%s' "LABEL+DATA" | openssl dgst -sha256 -mac HMAC \
 *     -macopt hexkey:3031323334353637383961626364656630313233343536373839616263646566
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/cred/apikey.h"
#include "identityd/cred/digest.h"
#include "identityd/cred/password.h"

#define PEPPER_TEXT "0123456789abcdef0123456789abcdef"

/* A session token: base64url of the bytes 0..31, 43 characters.
 *   printf '%s' "session:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" | openssl dgst ... */
#define SESSION_TOKEN "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define SESSION_DIGEST "4d546abed5e61e4b4140175c949b62a33575510313059762a605e9a979fc06a7"

/* An API key.
 *   printf '%s' "apikey:sk-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
 *     | openssl dgst ... */
#define APIKEY "sk-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define APIKEY_DIGEST "06272fdadaca7cb3f0a33474440d6996c347757f1b0fba6eb8f019dbaf17c39f"

/* A password record's MAC, without a label: the client hash of check_password.c, whose record
 * ends in the base64url of these bytes ("vkuqioKSr1iN...").
 *   printf '%s' "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f35" \
 *     | openssl dgst ... */
#define CLIENT_HASH "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f35"
#define CLIENT_HASH_MAC "be4baa8a8292af588db184e8e7c0e49745245fffb6c90715cdf5b715886222a3"

/* The MAC of a current password record: the label, the record's 16-byte salt (here the bytes
 * 0..15) and the same client hash. check_password.c pins the whole record.
 *   { printf 'password:'; printf '\x00\x01...\x0f'; printf '%s' CLIENT_HASH; } \
 *     | openssl dgst ... */
#define RECORD_SALT "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
#define SALTED_MAC "7dda10ecd218f1f4c2fcf81d3895c6a42e6299de742dfe07005d5de535444a5c"

static idd_pepper_t test_pepper(const char *text)
{
    idd_pepper_t p;
    memset(&p, 0, sizeof p);
    p.len = strlen(text);
    memcpy(p.bytes, text, p.len);
    return p;
}

static void to_hex(const unsigned char d[IDD_SESSION_DIGEST_LEN],
                   char out[2 * IDD_SESSION_DIGEST_LEN + 1])
{
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void assert_digest(const unsigned char d[IDD_SESSION_DIGEST_LEN], const char *want_hex)
{
    char hex[2 * IDD_SESSION_DIGEST_LEN + 1];
    to_hex(d, hex);
    ck_assert_str_eq(hex, want_hex);
}

static int all_zero(const unsigned char d[IDD_SESSION_DIGEST_LEN])
{
    unsigned char acc = 0;
    for (size_t i = 0; i < IDD_SESSION_DIGEST_LEN; i++)
        acc |= d[i];
    return acc == 0;
}

START_TEST(test_session_known_answer)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char d[IDD_SESSION_DIGEST_LEN];
    ck_assert_int_eq(idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_SESSION, SESSION_TOKEN,
                                      strlen(SESSION_TOKEN), d),
                     0);
    assert_digest(d, SESSION_DIGEST);
}
END_TEST

START_TEST(test_apikey_known_answer)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char d[IDD_SESSION_DIGEST_LEN];
    /* As the server and identityctl compute it... */
    ck_assert_int_eq(idd_apikey_digest(&pepper, APIKEY, IDD_APIKEY_LEN, d), 0);
    assert_digest(d, APIKEY_DIGEST);
    /* ...and as the label says. */
    ck_assert_int_eq(idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_APIKEY, APIKEY, IDD_APIKEY_LEN, d),
                     0);
    assert_digest(d, APIKEY_DIGEST);
    /* Longer than a key is refused rather than digested. */
    ck_assert_int_eq(idd_apikey_digest(&pepper, APIKEY "0", IDD_APIKEY_LEN + 1, d), IDD_EINVAL);
}
END_TEST

START_TEST(test_password_mac_known_answer)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char d[IDD_SESSION_DIGEST_LEN];
    ck_assert_int_eq(idd_keyed_digest(&pepper, NULL, CLIENT_HASH, strlen(CLIENT_HASH), d), 0);
    assert_digest(d, CLIENT_HASH_MAC);
    ck_assert_int_eq(idd_keyed_digest(&pepper, "", CLIENT_HASH, strlen(CLIENT_HASH), d), 0);
    assert_digest(d, CLIENT_HASH_MAC);
}
END_TEST

START_TEST(test_salted_password_mac_known_answer)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char msg[16 + 64];
    unsigned char d[IDD_SESSION_DIGEST_LEN];
    memcpy(msg, RECORD_SALT, 16);
    memcpy(msg + 16, CLIENT_HASH, 64);
    ck_assert_int_eq(idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_PASSWORD, msg, sizeof msg, d), 0);
    assert_digest(d, SALTED_MAC);
}
END_TEST

/* The label is a plain prefix of the message, and different labels give different digests. */
/* Each thread keeps HMAC keyed with the last pepper it used: a digest under another pepper,
 * then under the first again (also one that shares the first one's leading bytes), must each
 * be that pepper's own, in one thread and in several at once. */
static void *digest_both(void *arg)
{
    (void)arg;
    idd_pepper_t a = test_pepper(PEPPER_TEXT), b = test_pepper(PEPPER_TEXT "x");
    unsigned char da[IDD_SESSION_DIGEST_LEN], db[IDD_SESSION_DIGEST_LEN];
    for (int i = 0; i < 200; i++) {
        if (idd_keyed_digest(&a, IDD_DIGEST_LABEL_SESSION, SESSION_TOKEN, strlen(SESSION_TOKEN),
                             da) != 0 ||
            idd_keyed_digest(&b, IDD_DIGEST_LABEL_SESSION, SESSION_TOKEN, strlen(SESSION_TOKEN),
                             db) != 0)
            return (void *)1;
        char hex[2 * IDD_SESSION_DIGEST_LEN + 1];
        to_hex(da, hex);
        if (strcmp(hex, SESSION_DIGEST) != 0 || memcmp(da, db, sizeof da) == 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_peppers_alternate)
{
    ck_assert_ptr_null(digest_both(NULL));
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, digest_both, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *rv = (void *)1;
        ck_assert_int_eq(pthread_join(t[i], &rv), 0);
        ck_assert_ptr_null(rv);
    }
}
END_TEST

START_TEST(test_label_is_a_prefix)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char a[IDD_SESSION_DIGEST_LEN], b[IDD_SESSION_DIGEST_LEN];
    const char *whole = IDD_DIGEST_LABEL_SESSION SESSION_TOKEN;
    ck_assert_int_eq(idd_keyed_digest(&pepper, NULL, whole, strlen(whole), a), 0);
    assert_digest(a, SESSION_DIGEST);
    ck_assert_int_eq(
        idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_APIKEY, SESSION_TOKEN, strlen(SESSION_TOKEN), b),
        0);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
    /* Another pepper, another digest. */
    idd_pepper_t other = test_pepper(PEPPER_TEXT "!");
    ck_assert_int_eq(
        idd_keyed_digest(&other, IDD_DIGEST_LABEL_SESSION, SESSION_TOKEN, strlen(SESSION_TOKEN), b),
        0);
    ck_assert(memcmp(a, b, sizeof(a)) != 0);
}
END_TEST

/* Parts are hashed as their concatenation; too many parts or a NULL part with a length are
 * refused with zeros left behind. */
START_TEST(test_parts_are_the_concatenation)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned char a[IDD_SESSION_DIGEST_LEN], b[IDD_SESSION_DIGEST_LEN];
    idd_bytes_t parts[] = {{"sess", 4}, {NULL, 0}, {"ion-", 4}, {SESSION_TOKEN, 5}};
    ck_assert_int_eq(idd_keyed_digest_parts(&pepper, IDD_DIGEST_LABEL_JWT, parts, 4, a), 0);
    const char whole[] = "session-" SESSION_TOKEN;
    ck_assert_int_eq(idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_JWT, whole, 13, b), 0);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    idd_bytes_t bad[] = {{NULL, 3}};
    memset(a, 0xaa, sizeof a);
    ck_assert_int_eq(idd_keyed_digest_parts(&pepper, "x", bad, 1, a), IDD_EINVAL);
    ck_assert(all_zero(a));
    idd_bytes_t many[8] = {{"x", 1}};
    memset(a, 0xaa, sizeof a);
    ck_assert_int_eq(idd_keyed_digest_parts(&pepper, "x", many, 8, a), IDD_EINVAL);
    ck_assert(all_zero(a));
}
END_TEST

/* Refused arguments leave all zeros behind, which no caller stores or accepts. */
START_TEST(test_bad_arguments)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    idd_pepper_t empty = test_pepper("");
    unsigned char d[IDD_SESSION_DIGEST_LEN];

    memset(d, 0xaa, sizeof(d));
    ck_assert_int_eq(idd_keyed_digest(&empty, "x", "y", 1, d), IDD_EINVAL);
    ck_assert(all_zero(d));
    memset(d, 0xaa, sizeof(d));
    ck_assert_int_eq(idd_keyed_digest(NULL, "x", "y", 1, d), IDD_EINVAL);
    ck_assert(all_zero(d));
    memset(d, 0xaa, sizeof(d));
    ck_assert_int_eq(idd_keyed_digest(&pepper, "x", NULL, 1, d), IDD_EINVAL);
    ck_assert(all_zero(d));
    /* No data at all is fine: the digest of the label alone. */
    unsigned char alone[IDD_SESSION_DIGEST_LEN];
    ck_assert_int_eq(idd_keyed_digest(&pepper, IDD_DIGEST_LABEL_SESSION, NULL, 0, d), 0);
    ck_assert_int_eq(idd_keyed_digest(&pepper, NULL, IDD_DIGEST_LABEL_SESSION,
                                      strlen(IDD_DIGEST_LABEL_SESSION), alone),
                     0);
    ck_assert(memcmp(d, alone, sizeof(d)) == 0);
    ck_assert(!all_zero(d));
}
END_TEST

static Suite *digest_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("keyed");
    tcase_add_test(tc, test_session_known_answer);
    tcase_add_test(tc, test_peppers_alternate);
    tcase_add_test(tc, test_apikey_known_answer);
    tcase_add_test(tc, test_password_mac_known_answer);
    tcase_add_test(tc, test_salted_password_mac_known_answer);
    tcase_add_test(tc, test_label_is_a_prefix);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_parts_are_the_concatenation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(digest_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
