/*
 * Base64 and base64url: RFC 4648 §10 vectors in both alphabets, round trips of every byte
 * value, and the refusals that keep decoding strict. Strictness matters because decoded
 * values are credentials and signatures: a decoder that accepts several spellings of one
 * value lets an attacker alter a token's text without altering what is verified.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/b64.h"
#include "identityd/core/common.h"

struct vector {
    const char *plain;
    const char *std;
    const char *url;
};

/* RFC 4648 §10; base64url is the same text without '=' padding. */
static const struct vector rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

START_TEST(test_rfc4648_encode)
{
    const struct vector *v = &rfc4648[_i];
    size_t len = strlen(v->plain);
    char out[32];

    memset(out, 'X', sizeof(out));
    ck_assert_uint_eq(idd_b64_encode(out, v->plain, len), strlen(v->std));
    ck_assert_str_eq(out, v->std);
    ck_assert_uint_eq(strlen(v->std), IDD_B64_LEN(len));

    memset(out, 'X', sizeof(out));
    ck_assert_uint_eq(idd_b64url_encode(out, v->plain, len), strlen(v->url));
    ck_assert_str_eq(out, v->url);
    ck_assert_uint_eq(strlen(v->url), IDD_B64URL_LEN(len));
}
END_TEST

START_TEST(test_rfc4648_decode)
{
    const struct vector *v = &rfc4648[_i];
    unsigned char out[32];
    size_t n = 99;

    ck_assert_int_eq(idd_b64_decode(out, &n, v->std, strlen(v->std)), 0);
    ck_assert_uint_eq(n, strlen(v->plain));
    ck_assert_int_eq(memcmp(out, v->plain, n), 0);

    n = 99;
    ck_assert_int_eq(idd_b64url_decode(out, &n, v->url, strlen(v->url)), 0);
    ck_assert_uint_eq(n, strlen(v->plain));
    ck_assert_int_eq(memcmp(out, v->plain, n), 0);
}
END_TEST

/* The two characters where the alphabets differ: 0xfb 0xff encodes to "+/8" and "-_8". */
START_TEST(test_alphabets_differ)
{
    const unsigned char bytes[] = {0xfb, 0xff};
    unsigned char out[4];
    char text[8];
    size_t n;

    idd_b64_encode(text, bytes, sizeof(bytes));
    ck_assert_str_eq(text, "+/8=");
    idd_b64url_encode(text, bytes, sizeof(bytes));
    ck_assert_str_eq(text, "-_8");

    ck_assert_int_eq(idd_b64_decode(out, &n, "+/8=", 4), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(memcmp(out, bytes, 2), 0);
    ck_assert_int_eq(idd_b64url_decode(out, &n, "-_8", 3), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(memcmp(out, bytes, 2), 0);

    /* Each alphabet refuses the other's two characters. */
    ck_assert_int_eq(idd_b64_decode(out, &n, "-_8=", 4), IDD_EINVAL);
    ck_assert_int_eq(idd_b64url_decode(out, &n, "+/8", 3), IDD_EINVAL);
}
END_TEST

/* Every byte value at every offset and length 0..64 survives both codecs. */
START_TEST(test_round_trip_all_bytes)
{
    unsigned char plain[300];
    unsigned char back[300];
    char text[420];
    size_t n;

    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= 64; len++) {
        for (size_t off = 0; off < 4; off++) {
            size_t tl = idd_b64url_encode(text, plain + off, len);
            ck_assert_uint_eq(tl, IDD_B64URL_LEN(len));
            ck_assert_ptr_null(strchr(text, '='));
            ck_assert_int_eq(idd_b64url_decode(back, &n, text, tl), 0);
            ck_assert_uint_eq(n, len);
            ck_assert_int_eq(memcmp(back, plain + off, len), 0);
            ck_assert_uint_le(n, IDD_B64_DECODED_MAX(tl));

            tl = idd_b64_encode(text, plain + off, len);
            ck_assert_uint_eq(tl, IDD_B64_LEN(len));
            ck_assert_int_eq(idd_b64_decode(back, &n, text, tl), 0);
            ck_assert_uint_eq(n, len);
            ck_assert_int_eq(memcmp(back, plain + off, len), 0);
        }
    }
    /* All 256 byte values in one buffer. */
    for (size_t i = 0; i < 256; i++)
        plain[i] = (unsigned char)i;
    size_t tl = idd_b64url_encode(text, plain, 256);
    ck_assert_int_eq(idd_b64url_decode(back, &n, text, tl), 0);
    ck_assert_uint_eq(n, 256);
    ck_assert_int_eq(memcmp(back, plain, 256), 0);
}
END_TEST

static const char *const std_refused[] = {
    "Zg",           /* length not a multiple of 4 (padding missing) */
    "Zg=",          /* length not a multiple of 4 */
    "Z===",         /* three padding characters */
    "====",         /* only padding */
    "Zg==Zm9v",     /* padding in the middle */
    "Zm=v",         /* '=' inside a group */
    "Zh==",         /* non-zero trailing bits: another spelling of "Zg==" */
    "Zm9=",         /* non-zero trailing bits: another spelling of "Zm8=" */
    "Zm9v\n",       /* embedded newline */
    "Zm 9v",        /* embedded space */
    "Zm\t8",        /* whitespace inside a group of the right length */
    " Zm8",         /* leading space */
    "Zm9v\r\nZm9v", /* line breaks as MIME would write them */
    "Zm9*",         /* outside the alphabet */
    "Zm9vYmFy====", /* padding where none is due */
};

START_TEST(test_std_refusals)
{
    unsigned char out[64];
    size_t n = 77;
    const char *in = std_refused[_i];

    ck_assert_msg(idd_b64_decode(out, &n, in, strlen(in)) == IDD_EINVAL, "accepted \"%s\"", in);
    ck_assert_uint_eq(n, 0);
}
END_TEST

static const char *const url_refused[] = {
    "Zg==",   /* padding is refused in base64url */
    "Zm8=",   /* one padding character */
    "Z",      /* length 1 mod 4 carries no whole byte */
    "Zm9vY",  /* length 1 mod 4 */
    "Zh",     /* non-zero trailing bits */
    "Zm9",    /* non-zero trailing bits */
    "Zm9v+",  /* standard alphabet */
    "Zm9/",   /* standard alphabet */
    "Zm9v\n", /* embedded newline */
    "Zm 9",   /* embedded space */
    "Zm9v.",  /* a JWS separator is not part of a segment */
};

START_TEST(test_url_refusals)
{
    unsigned char out[64];
    size_t n = 77;
    const char *in = url_refused[_i];

    ck_assert_msg(idd_b64url_decode(out, &n, in, strlen(in)) == IDD_EINVAL, "accepted \"%s\"", in);
    ck_assert_uint_eq(n, 0);
}
END_TEST

/* An embedded NUL ends nothing: the decoder looks at exactly len bytes and refuses it. */
START_TEST(test_embedded_nul_refused)
{
    const char in[] = {'Z', 'm', '\0', 'v'};
    unsigned char out[8];
    size_t n;

    ck_assert_int_eq(idd_b64url_decode(out, &n, in, sizeof(in)), IDD_EINVAL);
    ck_assert_int_eq(idd_b64_decode(out, &n, in, sizeof(in)), IDD_EINVAL);
}
END_TEST

static Suite *b64_suite(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = tcase_create("vectors");
    tcase_add_loop_test(tc, test_rfc4648_encode, 0, (int)IDD_ARRAY_LEN(rfc4648));
    tcase_add_loop_test(tc, test_rfc4648_decode, 0, (int)IDD_ARRAY_LEN(rfc4648));
    tcase_add_test(tc, test_alphabets_differ);
    tcase_add_test(tc, test_round_trip_all_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("strict");
    tcase_add_loop_test(tc, test_std_refusals, 0, (int)IDD_ARRAY_LEN(std_refused));
    tcase_add_loop_test(tc, test_url_refusals, 0, (int)IDD_ARRAY_LEN(url_refused));
    tcase_add_test(tc, test_embedded_nul_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(b64_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
