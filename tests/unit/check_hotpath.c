/*
 * The writers the token path uses on every request format nothing with printf: integers in
 * JSON, the claims, the envelope's links href (one JSON string of two parts) and the
 * client's IPv4 address. This suite counts calls to the printf family made from
 * identityd's own code, by defining those functions in the test program (a call from the
 * static library resolves to them) and forwarding to the C library's; and it checks each
 * writer's output against the formatting it replaced, byte for byte.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/app/app.h"
#include "identityd/core/buf.h"
#include "identityd/core/cidr.h"
#include "identityd/cred/apikey.h"
#include "identityd/token/signer.h"

static int printf_calls;

static int forward(const char *name, char *out, size_t n, const char *fmt, va_list ap)
{
    int (*real)(char *, size_t, const char *, va_list) =
        (int (*)(char *, size_t, const char *, va_list))dlsym(RTLD_NEXT, name);
    return real(out, n, fmt, ap);
}

int vsnprintf(char *out, size_t n, const char *fmt, va_list ap)
{
    printf_calls++;
    return forward("vsnprintf", out, n, fmt, ap);
}

int snprintf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf_calls++;
    int rc = forward("vsnprintf", out, n, fmt, ap);
    va_end(ap);
    return rc;
}

int sprintf(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf_calls++;
    int rc = forward("vsnprintf", out, SIZE_MAX / 2, fmt, ap);
    va_end(ap);
    return rc;
}

int __snprintf_chk(char *out, size_t n, int flag, size_t len, const char *fmt, ...);
int __vsnprintf_chk(char *out, size_t n, int flag, size_t len, const char *fmt, va_list ap);

int __snprintf_chk(char *out, size_t n, int flag, size_t len, const char *fmt, ...)
{
    (void)flag;
    (void)len;
    va_list ap;
    va_start(ap, fmt);
    printf_calls++;
    int rc = forward("vsnprintf", out, n, fmt, ap);
    va_end(ap);
    return rc;
}

int __vsnprintf_chk(char *out, size_t n, int flag, size_t len, const char *fmt, va_list ap)
{
    (void)flag;
    (void)len;
    printf_calls++;
    return forward("vsnprintf", out, n, fmt, ap);
}

/* The text libc's own formatting gives, taken before counting starts. */
static void reference_int(int64_t v, char *out, size_t n)
{
    snprintf(out, n, "%lld", (long long)v);
}

START_TEST(json_int_without_printf)
{
    static const int64_t values[] = {
        0,          1,         -1,        9,         10,        -10,       99,         100,
        1234567890, -98765432, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 1735689600, -7};
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        char want[32];
        reference_int(values[i], want, sizeof(want));
        idd_buf_t b;
        idd_buf_init(&b);
        idd_buf_puts(&b, "x");
        printf_calls = 0;
        idd_buf_json_int(&b, values[i]);
        int calls = printf_calls;
        ck_assert_int_eq(calls, 0);
        ck_assert_str_eq(b.data + 1, want);
        ck_assert_uint_eq(b.len, 1 + strlen(want));
        idd_buf_dispose(&b);
    }
}
END_TEST

START_TEST(json_str2_is_one_string_of_both)
{
    static const char *const parts[][2] = {
        {"https://docs.example.com", "/api/2.0/security/oauth2/token"},
        {"", "/path?q=\"quoted\"&x=\\"},
        {"http://h\x01", "\n\t\x7f\xc3\xa9"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char joined[256];
        snprintf(joined, sizeof(joined), "%s%s", parts[i][0], parts[i][1]);
        idd_buf_t want, got;
        idd_buf_init(&want);
        idd_buf_init(&got);
        idd_buf_json_str(&want, joined, strlen(joined));
        printf_calls = 0;
        idd_buf_json_str2(&got, parts[i][0], strlen(parts[i][0]), parts[i][1], strlen(parts[i][1]));
        int calls = printf_calls;
        ck_assert_int_eq(calls, 0);
        ck_assert_str_eq(got.data, want.data);
        ck_assert_uint_eq(got.len, want.len);
        idd_buf_dispose(&want);
        idd_buf_dispose(&got);
    }
}
END_TEST

START_TEST(claims_without_printf)
{
    idd_claims_t claims = {
        .user_id = "5cb26450-8f6c-47af-a6ec-3edb3242f708",
        .first_name = "Bench",
        .last_name = "User",
        .email = "bench@example.com",
        .tenant_id = 1,
        .tenant_url = "http://127.0.0.1:18093",
        .is_admin = false,
        .is_guest = false,
        .is_public = true,
        .iat = 1735689600,
        .exp = 1735689900,
    };
    idd_buf_t b;
    idd_buf_init(&b);
    printf_calls = 0;
    idd_claims_write(&claims, "jti-value", &b);
    int calls = printf_calls;
    ck_assert_int_eq(calls, 0);
    ck_assert_str_eq(b.data,
                     "{\"sub\":\"5cb26450-8f6c-47af-a6ec-3edb3242f708\","
                     "\"user_id\":\"5cb26450-8f6c-47af-a6ec-3edb3242f708\","
                     "\"user_name\":\"Bench User\",\"user_email\":\"bench@example.com\","
                     "\"tenant_id\":\"1\",\"tenant_url\":\"http://127.0.0.1:18093\","
                     "\"is_admin\":\"false\",\"is_guest\":\"false\",\"is_public\":\"true\","
                     "\"iss\":\"http://127.0.0.1:18093\",\"aud\":\"http://127.0.0.1:18093\","
                     "\"exp\":1735689900,\"iat\":1735689600,\"jti\":\"jti-value\"}");
    idd_buf_dispose(&b);
}
END_TEST

START_TEST(ipv4_text_as_inet_ntop)
{
    static const unsigned char samples[][4] = {
        {127, 0, 0, 1},  {0, 0, 0, 0},       {255, 255, 255, 255}, {10, 9, 99, 100},
        {1, 20, 200, 2}, {192, 168, 1, 254}, {100, 10, 1, 0},      {203, 0, 113, 9},
    };
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char want[INET_ADDRSTRLEN], got[INET_ADDRSTRLEN];
        ck_assert_ptr_nonnull(inet_ntop(AF_INET, samples[i], want, sizeof(want)));
        memset(got, 'x', sizeof(got));
        idd_ipv4_text(samples[i], got);
        ck_assert_str_eq(got, want);
    }
    /* Every value of one byte, in each place. */
    for (unsigned v = 0; v < 256; v++) {
        unsigned char a[4] = {(unsigned char)v, (unsigned char)(255 - v), (unsigned char)v,
                              (unsigned char)(v / 2)};
        char want[INET_ADDRSTRLEN], got[INET_ADDRSTRLEN];
        ck_assert_ptr_nonnull(inet_ntop(AF_INET, a, want, sizeof(want)));
        idd_ipv4_text(a, got);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

/* What every authenticated request notes of its caller (app.c): a copy, cut to the field. */
START_TEST(note_auth_without_printf)
{
    idd_thread_t thread;
    idd_request_t r;
    memset(&thread, 0, sizeof(thread));
    memset(&r, 0, sizeof(r));
    r.thread = &thread;
    printf_calls = 0;
    idd_request_note_auth(&r, 0, IDD_MOUTCOME_OK, "5cb26450-8f6c-47af-a6ec-3edb3242f708");
    int calls = printf_calls;
    ck_assert_int_eq(calls, 0);
    ck_assert_str_eq(r.user_id, "5cb26450-8f6c-47af-a6ec-3edb3242f708");
    char longer[sizeof(r.user_id) + 8];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    idd_request_note_auth(&r, 0, IDD_MOUTCOME_OK, longer);
    ck_assert_uint_eq(strlen(r.user_id), sizeof(r.user_id) - 1);
    ck_assert_int_eq(memcmp(r.user_id, longer, sizeof(r.user_id) - 1), 0);
}
END_TEST

/* An API key's permissions become the principal's scopes on every request it makes. */
START_TEST(apikey_scopes_without_printf)
{
    static const char *const cases[][2] = {
        {"", "*:write"},
        {"  ", "*:write"},
        {"accounts:read files:write", "accounts:read files:write"},
        {"  accounts:read", "accounts:read"},
        {"accounts:read * files:read", "*:write"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[128];
        memset(out, 'x', sizeof(out));
        printf_calls = 0;
        idd_apikey_scopes(cases[i][0], out, sizeof(out));
        int calls = printf_calls;
        ck_assert_int_eq(calls, 0);
        ck_assert_str_eq(out, cases[i][1]);
    }
    char small[6];
    idd_apikey_scopes("accounts:read", small, sizeof(small));
    ck_assert_str_eq(small, "accou"); /* cut to the buffer, as before */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("hotpath");
    TCase *tc = tcase_create("writers");
    tcase_add_test(tc, json_int_without_printf);
    tcase_add_test(tc, json_str2_is_one_string_of_both);
    tcase_add_test(tc, claims_without_printf);
    tcase_add_test(tc, ipv4_text_as_inet_ntop);
    tcase_add_test(tc, note_auth_without_printf);
    tcase_add_test(tc, apikey_scopes_without_printf);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
