/*
 * Unit tests of src/cred/totp.c: HOTP and TOTP against the RFCs' vectors, the window and the
 * replay guard of idd_totp_verify, base32, DocSpace's derived secrets (the vectors of the
 * login-surface reference §5.5), sealed records and backup codes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/cred/totp.h"

#define RFC_KEY "12345678901234567890"
#define USER_A "0f8e7d6c-5b4a-4321-8fed-cba987654321"
#define USER_B "11111111-2222-4333-8444-555555555555"

static idd_totp_secret_t rfc_secret(void)
{
    idd_totp_secret_t s;
    memset(&s, 0, sizeof s);
    s.len = strlen(RFC_KEY);
    memcpy(s.bytes, RFC_KEY, s.len);
    return s;
}

static idd_pepper_t pepper_of(const char *text)
{
    idd_pepper_t p;
    memset(&p, 0, sizeof p);
    p.len = strlen(text);
    memcpy(p.bytes, text, p.len);
    return p;
}

/* RFC 4226 Appendix D: HOTP values of counters 0..9 under the 20-byte ASCII key. */
START_TEST(test_hotp_rfc4226)
{
    static const uint32_t want[] = {755224, 287082, 359152, 969429, 338314,
                                    254676, 287922, 162583, 399871, 520489};
    for (uint64_t c = 0; c < 10; c++) {
        uint32_t v = 0;
        ck_assert_int_eq(idd_hotp((const unsigned char *)RFC_KEY, 20, c, 6, &v), 0);
        ck_assert_uint_eq(v, want[c]);
    }
    uint32_t v = 1;
    ck_assert_int_eq(idd_hotp((const unsigned char *)RFC_KEY, 20, 0, 5, &v), IDD_EINVAL);
    ck_assert_int_eq(idd_hotp((const unsigned char *)RFC_KEY, 20, 0, 9, &v), IDD_EINVAL);
    ck_assert_int_eq(idd_hotp((const unsigned char *)RFC_KEY, 0, 0, 6, &v), IDD_EINVAL);
}
END_TEST

/* RFC 6238 Appendix B, SHA-1 rows: the 8-digit values, and the 6-digit codes identityd
 * gives (their last six digits, the same truncation mod 10^6). */
START_TEST(test_totp_rfc6238)
{
    static const struct {
        int64_t t;
        uint32_t eight;
        const char *six;
    } rows[] = {
        {59, 94287082, "287082"},         {1111111109, 7081804, "081804"},
        {1111111111, 14050471, "050471"}, {1234567890, 89005924, "005924"},
        {2000000000, 69279037, "279037"}, {20000000000LL, 65353130, "353130"},
    };
    idd_totp_secret_t s = rfc_secret();
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint32_t v = 0;
        int64_t step = idd_totp_step(rows[i].t);
        ck_assert_int_eq(idd_hotp(s.bytes, s.len, (uint64_t)step, 8, &v), 0);
        ck_assert_uint_eq(v, rows[i].eight);
        char code[IDD_TOTP_DIGITS + 1];
        ck_assert_int_eq(idd_totp_code(&s, step, code), 0);
        ck_assert_str_eq(code, rows[i].six);
    }
    ck_assert_int_eq(idd_totp_step(-1), -1);
    ck_assert_int_eq(idd_totp_step(29), 0);
    ck_assert_int_eq(idd_totp_step(30), 1);
}
END_TEST

START_TEST(test_verify_window_and_trim)
{
    idd_totp_secret_t s = rfc_secret();
    int64_t now = idd_totp_step(1111111111), got = 0;
    char code[IDD_TOTP_DIGITS + 1], typed[32];

    /* The current step, and one either side with the default window. */
    for (int d = -1; d <= 1; d++) {
        ck_assert_int_eq(idd_totp_code(&s, now + d, code), 0);
        ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 1, -1, &got), 0);
        ck_assert_int_eq(got, now + d);
    }
    /* Two steps away: outside ±1, inside ±2; never beyond the maximum window. */
    ck_assert_int_eq(idd_totp_code(&s, now + 2, code), 0);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 1, -1, &got), IDD_EDENIED);
    ck_assert_int_eq(got, -1);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 2, -1, &got), 0);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 0, -1, NULL), IDD_EDENIED);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, IDD_TOTP_WINDOW_MAX + 1, -1, NULL),
                     IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, -1, -1, NULL), IDD_EINVAL);

    /* Trimmed of blanks at both ends, nothing else. */
    ck_assert_int_eq(idd_totp_code(&s, now, code), 0);
    snprintf(typed, sizeof typed, " \t%s\r\n", code);
    ck_assert_int_eq(idd_totp_verify(&s, typed, strlen(typed), now, 1, -1, NULL), 0);
    snprintf(typed, sizeof typed, "%.3s %s", code, code + 3);
    ck_assert_int_eq(idd_totp_verify(&s, typed, strlen(typed), now, 1, -1, NULL), IDD_EINVAL);
    /* Malformed: short, long, non-digits, a NUL inside, empty. */
    ck_assert_int_eq(idd_totp_verify(&s, code, 5, now, 1, -1, NULL), IDD_EINVAL);
    snprintf(typed, sizeof typed, "%s0", code);
    ck_assert_int_eq(idd_totp_verify(&s, typed, 7, now, 1, -1, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s, "12345a", 6, now, 1, -1, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s,
                                     "123\0"
                                     "45",
                                     6, now, 1, -1, NULL),
                     IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s, "", 0, now, 1, -1, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s, "      ", 6, now, 1, -1, NULL), IDD_EINVAL);
    ck_assert_int_eq(idd_totp_verify(&s, "+12345", 6, now, 1, -1, NULL), IDD_EINVAL);
    /* A secret of no bytes is refused, not used. */
    idd_totp_secret_t empty;
    memset(&empty, 0, sizeof empty);
    ck_assert_int_eq(idd_totp_verify(&empty, code, 6, now, 1, -1, NULL), IDD_EINVAL);
}
END_TEST

/* The replay guard's half in the verifier: steps at or before the last accepted one count
 * for nothing, so the same code twice is refused the second time. */
START_TEST(test_verify_refuses_used_steps)
{
    idd_totp_secret_t s = rfc_secret();
    int64_t now = 1000000, got = 0;
    char code[IDD_TOTP_DIGITS + 1], prev[IDD_TOTP_DIGITS + 1];

    ck_assert_int_eq(idd_totp_code(&s, now, code), 0);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 1, -1, &got), 0);
    ck_assert_int_eq(got, now);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 1, got, NULL), IDD_EDENIED);
    /* The previous step's code, after this one was used: refused too (not newer). */
    ck_assert_int_eq(idd_totp_code(&s, now - 1, prev), 0);
    ck_assert_int_eq(idd_totp_verify(&s, prev, 6, now, 1, now, NULL), IDD_EDENIED);
    /* The next step's is still good. */
    ck_assert_int_eq(idd_totp_code(&s, now + 1, code), 0);
    ck_assert_int_eq(idd_totp_verify(&s, code, 6, now, 1, now, &got), 0);
    ck_assert_int_eq(got, now + 1);
}
END_TEST

START_TEST(test_base32)
{
    /* RFC 4648 §10, without padding. */
    static const struct {
        const char *plain, *b32;
    } rows[] = {{"", ""},
                {"f", "MY"},
                {"fo", "MZXQ"},
                {"foo", "MZXW6"},
                {"foob", "MZXW6YQ"},
                {"fooba", "MZXW6YTB"},
                {"foobar", "MZXW6YTBOI"}};
    char enc[IDD_TOTP_BASE32_MAX];
    unsigned char dec[IDD_TOTP_SECRET_MAX];
    size_t n = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t len = strlen(rows[i].plain);
        ck_assert_uint_eq(idd_base32_encode(enc, sizeof enc, rows[i].plain, len),
                          strlen(rows[i].b32));
        ck_assert_str_eq(enc, rows[i].b32);
        ck_assert_int_eq(idd_base32_decode(dec, sizeof dec, &n, rows[i].b32, strlen(enc)), 0);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(dec, rows[i].plain, len) == 0);
    }
    /* Every length of random bytes goes round. */
    idd_totp_secret_t s;
    for (int k = 0; k < 50; k++) {
        ck_assert_int_eq(idd_totp_secret_random(&s), 0);
        for (size_t len = 0; len <= s.len; len++) {
            ck_assert_uint_eq(idd_base32_encode(enc, sizeof enc, s.bytes, len),
                              IDD_BASE32_LEN(len));
            ck_assert_int_eq(idd_base32_decode(dec, sizeof dec, &n, enc, strlen(enc)), 0);
            ck_assert_uint_eq(n, len);
            ck_assert(memcmp(dec, s.bytes, len) == 0);
        }
    }
    /* Malformed: padding, lower case, outside the alphabet, impossible lengths, trailing
     * bits, and too little room. */
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {{"MY======", 8}, {"my", 2},   {"MZXW6YQ=", 8}, {"MZ1Q", 4},
               {"MZ8Q", 4},     {"M", 1},    {"MZX", 3},      {"MZXW6Y", 6},
               {"MZ", 2},       {"MZXR", 4}, {"MZ XQ", 5},    {"MZ\0Q", 4}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(idd_base32_decode(dec, sizeof dec, &n, bad[i].text, bad[i].len) == IDD_EINVAL,
                      "%s accepted", bad[i].text);
        ck_assert_uint_eq(n, 0);
    }
    ck_assert_int_eq(idd_base32_decode(dec, 3, &n, "MZXW6YQ", 7), IDD_ETOOBIG);
    ck_assert_uint_eq(idd_base32_encode(enc, 7, "foobar", 6), 0);
    ck_assert_str_eq(enc, "");
}
END_TEST

/* The login-surface reference §5.5: secret text, its base32 (manualEntryKey) and the code at
 * t = 1700000000. */
START_TEST(test_docspace_vectors)
{
    static const struct {
        int64_t salt;
        const char *machine_key, *text, *b32, *code;
    } rows[] = {{123456789, "secret", "UGFzYWhkM0", "KVDUM6SZK5UGWTJQ", "266471"},
                {250000000000LL, "1123askdasjklasbnd", "b2NqUWlLS3", "MIZE44KVK5WEYUZT", "424726"}};
    for (size_t i = 0; i < 2; i++) {
        idd_totp_secret_t s;
        char b32[IDD_TOTP_BASE32_MAX], code[IDD_TOTP_DIGITS + 1];
        ck_assert_int_eq(idd_totp_secret_docspace(rows[i].salt, rows[i].machine_key,
                                                  strlen(rows[i].machine_key), &s),
                         0);
        ck_assert_uint_eq(s.len, IDD_TOTP_DOCSPACE_LEN);
        ck_assert(memcmp(s.bytes, rows[i].text, 10) == 0);
        ck_assert_uint_eq(idd_base32_encode(b32, sizeof b32, s.bytes, s.len), 16);
        ck_assert_str_eq(b32, rows[i].b32);
        ck_assert_int_eq(idd_totp_code(&s, idd_totp_step(1700000000), code), 0);
        ck_assert_str_eq(code, rows[i].code);
        ck_assert_int_eq(
            idd_totp_verify(&s, rows[i].code, 6, idd_totp_step(1700000000), 1, -1, NULL), 0);
    }
    idd_totp_secret_t s;
    ck_assert_int_eq(idd_totp_secret_docspace(1, "", 0, &s), IDD_EINVAL);
    ck_assert_int_eq(idd_totp_secret_docspace(1, NULL, 0, &s), IDD_EINVAL);
}
END_TEST

START_TEST(test_random_secrets)
{
    idd_totp_secret_t a, b;
    ck_assert_int_eq(idd_totp_secret_random(&a), 0);
    ck_assert_int_eq(idd_totp_secret_random(&b), 0);
    ck_assert_uint_eq(a.len, 20);
    ck_assert(memcmp(a.bytes, b.bytes, 20) != 0);
    char b32[IDD_TOTP_BASE32_MAX];
    ck_assert_uint_eq(idd_base32_encode(b32, sizeof b32, a.bytes, a.len), 32);
}
END_TEST

START_TEST(test_seal_round_trip_and_refusals)
{
    idd_pepper_t pepper = pepper_of("0123456789abcdef0123456789abcdef");
    idd_pepper_t other = pepper_of("0123456789abcdef0123456789abcdeF");
    idd_totp_secret_t s, back;
    char rec[IDD_TFA_RECORD_MAX], rec2[IDD_TFA_RECORD_MAX];

    ck_assert_int_eq(idd_totp_secret_random(&s), 0);
    ck_assert_int_eq(idd_tfa_seal_secret(&pepper, USER_A, &s, rec, sizeof rec), 0);
    ck_assert(strncmp(rec, "$tfa1$", 6) == 0);
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_A, rec, &back), 0);
    ck_assert_uint_eq(back.len, s.len);
    ck_assert(memcmp(back.bytes, s.bytes, s.len) == 0);
    /* A fresh nonce each time: two records of one secret differ. */
    ck_assert_int_eq(idd_tfa_seal_secret(&pepper, USER_A, &s, rec2, sizeof rec2), 0);
    ck_assert_str_ne(rec, rec2);
    /* The secret's bytes are not in the record. */
    ck_assert_ptr_null(memmem(rec, strlen(rec), s.bytes, 4));

    /* Another user, another pepper, another kind: refused, and nothing is handed back. */
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_B, rec, &back), IDD_EDENIED);
    ck_assert_uint_eq(back.len, 0);
    ck_assert_int_eq(idd_tfa_open_secret(&other, USER_A, rec, &back), IDD_EDENIED);
    idd_tfa_codes_t codes;
    ck_assert_int_eq(idd_tfa_open_codes(&pepper, USER_A, rec, &codes), IDD_EDENIED);

    /* Every single character changed, anywhere after the prefix: refused. */
    size_t len = strlen(rec);
    for (size_t i = 6; i < len; i++) {
        memcpy(rec2, rec, len + 1);
        rec2[i] = rec2[i] == 'A' ? 'B' : 'A';
        int rc = idd_tfa_open_secret(&pepper, USER_A, rec2, &back);
        ck_assert_msg(rc == IDD_EDENIED || rc == IDD_EINVAL, "tampered at %zu: %d", i, rc);
    }
    /* Cut short, wrong prefix, not base64url, empty. */
    memcpy(rec2, rec, len + 1);
    rec2[len - 1] = '\0';
    ck_assert_int_ne(idd_tfa_open_secret(&pepper, USER_A, rec2, &back), 0);
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_A, "$tfa1$", &back), IDD_EINVAL);
    ck_assert_int_eq(
        idd_tfa_open_secret(&pepper, USER_A, "$tfa2$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &back),
        IDD_EINVAL);
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_A, "$tfa1$!!!!", &back), IDD_EINVAL);
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_A, "", &back), IDD_EINVAL);
    /* A record too short to hold a tag. */
    ck_assert_int_eq(
        idd_tfa_open_secret(&pepper, USER_A, "$tfa1$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &back),
        IDD_EINVAL);
    /* Arguments. */
    ck_assert_int_eq(idd_tfa_seal_secret(&pepper, "", &s, rec, sizeof rec), IDD_EINVAL);
    ck_assert_int_eq(idd_tfa_seal_secret(&pepper, USER_A, &s, rec, 20), IDD_EINVAL);
    idd_pepper_t none = pepper_of("");
    ck_assert_int_eq(idd_tfa_seal_secret(&none, USER_A, &s, rec, sizeof rec), IDD_EINVAL);
}
END_TEST

static bool all_in_alphabet(const char *code)
{
    for (int i = 0; i < IDD_TFA_CODE_LEN; i++)
        if (strchr(IDD_TFA_CODE_ALPHABET, code[i]) == NULL || code[i] == '\0')
            return false;
    return code[IDD_TFA_CODE_LEN] == '\0';
}

START_TEST(test_backup_codes)
{
    int seen[256] = {0};
    idd_tfa_codes_t c;
    for (int round = 0; round < 400; round++) {
        ck_assert_int_eq(idd_tfa_codes_new(&c), 0);
        for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
            ck_assert_msg(all_in_alphabet(c.code[i]), "%s", c.code[i]);
            ck_assert(!c.used[i]);
            for (int j = 0; j < i; j++)
                ck_assert_str_ne(c.code[i], c.code[j]);
            for (int k = 0; k < IDD_TFA_CODE_LEN; k++)
                seen[(unsigned char)c.code[i][k]]++;
        }
    }
    /* 12000 symbols over 64: each appears (expected 187 each); none outside the alphabet. */
    int symbols = 0;
    for (int ch = 0; ch < 256; ch++)
        if (seen[ch] > 0) {
            symbols++;
            ck_assert_ptr_nonnull(strchr(IDD_TFA_CODE_ALPHABET, ch));
        }
    ck_assert_int_eq(symbols, 64);

    /* One-time, exact and case-sensitive. */
    ck_assert_int_eq(idd_tfa_codes_new(&c), 0);
    memcpy(c.code[2], "aB3-_0", 7);
    memcpy(c.code[0], "zzzzzz", 7);
    ck_assert_int_eq(idd_tfa_codes_use(&c, "AB3-_0", 6), IDD_EDENIED);
    ck_assert_int_eq(idd_tfa_codes_use(&c, " aB3-_0\n", 8), 2);
    ck_assert(c.used[2]);
    ck_assert_int_eq(idd_tfa_codes_use(&c, "aB3-_0", 6), IDD_EDENIED);
    ck_assert_int_eq(idd_tfa_codes_use(&c, "zzzzz", 5), IDD_EINVAL);
    ck_assert_int_eq(idd_tfa_codes_use(&c, "zzzz!z", 6), IDD_EINVAL);
    ck_assert_int_eq(idd_tfa_codes_use(&c, "", 0), IDD_EINVAL);

    /* Sealed with the used flags, bound to the user. */
    idd_pepper_t pepper = pepper_of("0123456789abcdef0123456789abcdef");
    char rec[IDD_TFA_RECORD_MAX];
    idd_tfa_codes_t back;
    ck_assert_int_eq(idd_tfa_seal_codes(&pepper, USER_A, &c, rec, sizeof rec), 0);
    ck_assert_int_eq(idd_tfa_open_codes(&pepper, USER_A, rec, &back), 0);
    for (int i = 0; i < IDD_TFA_CODE_COUNT; i++) {
        ck_assert_str_eq(back.code[i], c.code[i]);
        ck_assert(back.used[i] == c.used[i]);
    }
    ck_assert_int_eq(idd_tfa_open_codes(&pepper, USER_B, rec, &back), IDD_EDENIED);
    idd_totp_secret_t s;
    ck_assert_int_eq(idd_tfa_open_secret(&pepper, USER_A, rec, &s), IDD_EDENIED);
}
END_TEST

static Suite *totp_suite(void)
{
    Suite *s = suite_create("totp");
    TCase *tc = tcase_create("totp");
    tcase_add_test(tc, test_hotp_rfc4226);
    tcase_add_test(tc, test_totp_rfc6238);
    tcase_add_test(tc, test_verify_window_and_trim);
    tcase_add_test(tc, test_verify_refuses_used_steps);
    tcase_add_test(tc, test_base32);
    tcase_add_test(tc, test_docspace_vectors);
    tcase_add_test(tc, test_random_secrets);
    tcase_add_test(tc, test_seal_round_trip_and_refusals);
    tcase_add_test(tc, test_backup_codes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(totp_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
