/*
 * Unit tests of src/core/password.c: the client hash against known answers computed outside
 * this code (RFC 7914 §11 and Python's hashlib), the stored record's exact format, its
 * strict parsing, and the pepper file's permission and size rules.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/cred/password.h"
#include "identityd/store/store.h"

/* A 32-byte pepper and a client hash of 'pässwörd' (UTF-8) under a 64-hex tenant salt with
 * 1000 iterations, both fixed so that the record has a known answer:
 *   python3 -c "import hashlib,hmac,base64; ch=hashlib.pbkdf2_hmac('sha256',
 *     'pässwörd'.encode(), SALT.encode(), 1000, 32).hex(); print(ch);
 *     print(base64.urlsafe_b64encode(hmac.new(PEPPER, ch.encode(),
 *     hashlib.sha256).digest()).rstrip(b'='))" */
#define PEPPER_TEXT "0123456789abcdef0123456789abcdef"
#define TENANT_SALT "3f1a9c0e5b7d24681357ace0bdf2469c8e1a3b5c7d9f0e2a4c6b8d0f1e3a5c7b"
#define UTF8_PASSWORD "p\xc3\xa4ssw\xc3\xb6rd"
#define UTF8_CLIENT_HASH "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f35"
#define UTF8_RECORD "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM"
/* The current record of the same client hash with the salt 00 01 .. 0f:
 *   python3 -c "import hashlib,hmac,base64; salt=bytes(range(16)); b=lambda x:
 *     base64.urlsafe_b64encode(x).rstrip(b'='); print(b(salt), b(hmac.new(PEPPER,
 *     b'password:'+salt+CLIENT_HASH, hashlib.sha256).digest()))" */
#define V2_SALT "AAECAwQFBgcICQoLDA0ODw"
#define V2_MAC "fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw"
#define V2_RECORD "$idd2$1000$" V2_SALT "$" V2_MAC

static idd_pepper_t test_pepper(const char *text)
{
    idd_pepper_t p;
    memset(&p, 0, sizeof p);
    p.len = strlen(text);
    memcpy(p.bytes, text, p.len);
    return p;
}

START_TEST(test_client_hash_rfc7914)
{
    /* RFC 7914 §11, PBKDF2-HMAC-SHA256 P="passwd" S="salt" c=1 dkLen=64: the first 32 bytes
     * of that output are the 32-byte derivation, since PBKDF2's first block does not depend
     * on dkLen. */
    char out[IDD_CLIENT_HASH_HEX_LEN + 1];
    ck_assert_int_eq(idd_password_client_hash("passwd", 6, "salt", 1, out, NULL), 0);
    ck_assert_str_eq(out, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc");
}
END_TEST

START_TEST(test_client_hash_4096)
{
    /* python3 -c "import hashlib; print(hashlib.pbkdf2_hmac('sha256', b'password', b'salt',
     * 4096, 32).hex())" */
    char out[IDD_CLIENT_HASH_HEX_LEN + 1];
    ck_assert_int_eq(idd_password_client_hash("password", 8, "salt", 4096, out, NULL), 0);
    ck_assert_str_eq(out, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
}
END_TEST

START_TEST(test_client_hash_utf8_and_length)
{
    /* DocSpace hashes the UTF-8 bytes of the password and of the salt string as published.
     * The length argument, not a NUL, ends the password. */
    char out[IDD_CLIENT_HASH_HEX_LEN + 1];
    char padded[] = UTF8_PASSWORD "trailing bytes that must be ignored";
    ck_assert_int_eq(
        idd_password_client_hash(padded, strlen(UTF8_PASSWORD), TENANT_SALT, 1000, out, NULL), 0);
    ck_assert_str_eq(out, UTF8_CLIENT_HASH);
    ck_assert_uint_eq(strlen(out), IDD_CLIENT_HASH_HEX_LEN);
}
END_TEST

START_TEST(test_client_hash_bad_arguments)
{
    char out[IDD_CLIENT_HASH_HEX_LEN + 1];
    ck_assert_int_ne(idd_password_client_hash("passwd", 6, "salt", 0, out, NULL), 0);
    ck_assert_int_ne(idd_password_client_hash("passwd", 6, NULL, 1, out, NULL), 0);
    ck_assert_int_ne(
        idd_password_client_hash("passwd", 6, "salt", (unsigned)INT_MAX + 1u, out, NULL), 0);
}
END_TEST

START_TEST(test_record_known_answer)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned iterations = 0;

    ck_assert_int_eq(idd_password_record_check(&pepper, V2_RECORD, UTF8_CLIENT_HASH), 0);
    ck_assert_int_eq(idd_password_record_iterations(V2_RECORD, &iterations), 0);
    ck_assert_uint_eq(iterations, 1000);
    ck_assert_int_eq(idd_password_record_outdated(V2_RECORD), 0);
}
END_TEST

/* Records made before the per-record salt existed still verify, and are the ones a sign-in
 * replaces. */
START_TEST(test_record_v1_still_verifies)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char wrong[] = UTF8_CLIENT_HASH;
    unsigned iterations = 0;

    ck_assert_int_eq(idd_password_record_check(&pepper, UTF8_RECORD, UTF8_CLIENT_HASH), 0);
    ck_assert_int_eq(idd_password_record_iterations(UTF8_RECORD, &iterations), 0);
    ck_assert_uint_eq(iterations, 1000);
    ck_assert_int_eq(idd_password_record_outdated(UTF8_RECORD), 1);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    ck_assert_int_eq(idd_password_record_check(&pepper, UTF8_RECORD, wrong), IDD_EDENIED);
    /* Nothing unreadable counts as outdated: a sign-in never "upgrades" a corrupt row. */
    ck_assert_int_eq(idd_password_record_outdated("$idd1$1000$"), 0);
    ck_assert_int_eq(idd_password_record_outdated(""), 0);
    ck_assert_int_eq(idd_password_record_outdated(NULL), 0);
}
END_TEST

/* Two users with the same password in one tenant send the same client hash: their records
 * must still differ, so that one guess tested against a stolen database tests one user. */
START_TEST(test_record_equal_passwords_differ)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char a[IDD_PASSWORD_RECORD_MAX + 1];
    char b[IDD_PASSWORD_RECORD_MAX + 1];

    ck_assert_int_eq(idd_password_record_make(&pepper, UTF8_CLIENT_HASH, 1000, a, sizeof a), 0);
    ck_assert_int_eq(idd_password_record_make(&pepper, UTF8_CLIENT_HASH, 1000, b, sizeof b), 0);
    ck_assert_str_ne(a, b);
    /* Neither the salt nor the MAC is shared. */
    const char *a_salt = a + strlen("$idd2$1000$");
    const char *b_salt = b + strlen("$idd2$1000$");
    ck_assert_int_ne(memcmp(a_salt, b_salt, 22), 0);
    ck_assert_str_ne(a_salt + 23, b_salt + 23);
    ck_assert_int_eq(idd_password_record_check(&pepper, a, UTF8_CLIENT_HASH), 0);
    ck_assert_int_eq(idd_password_record_check(&pepper, b, UTF8_CLIENT_HASH), 0);
    /* Nor is it the unsalted MAC of the old version. */
    ck_assert_ptr_null(strstr(a, "vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM"));
}
END_TEST

/* The salt takes part in the MAC: another salt with the same MAC does not verify. */
START_TEST(test_record_v2_tampered_salt)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char record[] = V2_RECORD;
    char *salt = record + strlen("$idd2$1000$");

    salt[0] = salt[0] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(idd_password_record_check(&pepper, record, UTF8_CLIENT_HASH), IDD_EDENIED);
    /* A version-1 record relabelled as version 2 (or the reverse) is not readable. */
    ck_assert_int_eq(
        idd_password_record_check(&pepper, "$idd2$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",
                                  UTF8_CLIENT_HASH),
        IDD_EINVAL);
    ck_assert_int_eq(
        idd_password_record_check(&pepper, "$idd1$1000$" V2_SALT "$" V2_MAC, UTF8_CLIENT_HASH),
        IDD_EINVAL);
}
END_TEST

/* The decoy an unknown user is checked against: a current record, as costly to check as a
 * real one, that nothing matches. */
START_TEST(test_record_decoy)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char decoy[IDD_PASSWORD_RECORD_MAX + 1];
    unsigned iterations = 0;

    ck_assert_int_eq(idd_password_record_decoy(100000, decoy, sizeof decoy), 0);
    ck_assert_int_eq(strncmp(decoy, "$idd2$100000$", 13), 0);
    ck_assert_uint_eq(strlen(decoy), strlen("$idd2$100000$") + 22 + 1 + 43);
    ck_assert_int_eq(idd_password_record_iterations(decoy, &iterations), 0);
    ck_assert_uint_eq(iterations, 100000);
    ck_assert_int_eq(idd_password_record_outdated(decoy), 0);
    ck_assert_int_eq(idd_password_record_check(&pepper, decoy, UTF8_CLIENT_HASH), IDD_EDENIED);
    ck_assert_int_eq(idd_password_record_decoy(0, decoy, sizeof decoy), IDD_EINVAL);
    ck_assert_int_eq(idd_password_record_decoy(1000, decoy, 60), IDD_EINVAL);
    ck_assert_int_eq(idd_password_record_decoy(1000, NULL, 0), IDD_EINVAL);
}
END_TEST

START_TEST(test_record_round_trip)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT "-longer-than-the-minimum");
    char client_hash[IDD_CLIENT_HASH_HEX_LEN + 1];
    char record[IDD_PASSWORD_RECORD_MAX + 1];
    unsigned iterations = 0;

    ck_assert_int_eq(idd_password_client_hash("hunter2", 7, TENANT_SALT, 100000, client_hash, NULL),
                     0);
    ck_assert_int_eq(idd_password_record_make(&pepper, client_hash, 100000, record, sizeof record),
                     0);
    ck_assert_int_eq(strncmp(record, "$idd2$100000$", 13), 0);
    ck_assert_uint_eq(strlen(record), 13 + 22 + 1 + 43);
    ck_assert_uint_le(strlen(record), IDD_PASSWORD_RECORD_MAX);
    /* The record must not contain the client hash, which is the credential itself. */
    ck_assert_ptr_null(strstr(record, client_hash));
    ck_assert_int_eq(idd_password_record_check(&pepper, record, client_hash), 0);
    ck_assert_int_eq(idd_password_record_iterations(record, &iterations), 0);
    ck_assert_uint_eq(iterations, 100000);
}
END_TEST

START_TEST(test_record_wrong_hash_denied)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char wrong[] = UTF8_CLIENT_HASH;

    /* Every position matters: flip the first and then the last digit. */
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    ck_assert_int_eq(idd_password_record_check(&pepper, UTF8_RECORD, wrong), IDD_EDENIED);
    strcpy(wrong, UTF8_CLIENT_HASH);
    wrong[63] = wrong[63] == '0' ? '1' : '0';
    ck_assert_int_eq(idd_password_record_check(&pepper, UTF8_RECORD, wrong), IDD_EDENIED);
}
END_TEST

START_TEST(test_record_other_pepper_denied)
{
    /* A database copied to a server with another pepper (or a pepper rotated without
     * re-hashing) must not authenticate anyone. */
    idd_pepper_t other = test_pepper("fedcba9876543210fedcba9876543210");
    ck_assert_int_eq(idd_password_record_check(&other, UTF8_RECORD, UTF8_CLIENT_HASH), IDD_EDENIED);
}
END_TEST

START_TEST(test_record_tampered_mac)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char record[] = UTF8_RECORD;
    size_t len = strlen(record);

    /* Another valid MAC spelling: readable, but it does not match. */
    record[len - 5] = record[len - 5] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(idd_password_record_check(&pepper, record, UTF8_CLIENT_HASH), IDD_EDENIED);
}
END_TEST

START_TEST(test_record_unreadable)
{
    /* Each of these is refused as unreadable rather than compared: a record with a second
     * spelling (padding, leading zeros, trailing bytes) or a cut MAC is a corrupt row, and
     * treating it as a plain mismatch would hide the corruption. */
    static const char *const bad[] = {
        "",
        "$idd3$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",       /* unknown version */
        "$idd0$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",       /* unknown version */
        "$IDD1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",       /* prefix case */
        "idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",        /* no leading $ */
        "$idd1$$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",           /* no iterations */
        "$idd1$0$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",          /* zero */
        "$idd1$01000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",      /* leading zero */
        "$idd1$-1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",      /* sign */
        "$idd1$+1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",      /* sign */
        "$idd1$1e3$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",        /* not decimal */
        "$idd1$2147483648$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM", /* > INT_MAX */
        "$idd1$99999999999999999999999$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",
        "$idd1$1000vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM",    /* missing $ */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIq",    /* MAC cut short */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM=",  /* padding */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqMA",  /* trailing byte */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX/+2yQcVzfW3FYhiIqM",   /* standard alphabet */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqN",   /* non-zero spare bits */
        "$idd1$1000$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM\n", /* trailing newline */
        "$idd1$1000$",
        /* version 2, each a corrupt spelling of V2_RECORD */
        "$idd2$1000$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw",  /* no salt */
        "$idd2$1000$$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* empty salt */
        "$idd2$1000$AAECAwQFBgcICQoLDA0OD$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* short */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODwA$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* long */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw==$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* pad */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODx$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* bits */
        "$idd2$1000$AAECAwQFBgcICQoLDA0OD/$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* alpha */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESl",  /* cut */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlwA", /* more */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw$", /* $ */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw$",                                           /* no MAC */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw",                                            /* no MAC */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODwfdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* no $ */
        "$idd2$01000$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw", /* 0 */
        "$idd2$0$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw",     /* 0 */
        "$idd2$$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw",      /* none */
        "$idd2$1000$AAECAwQFBgcICQoLDA0ODw$fdoQ7NIY8fTC_PgdOJXGpC5imd50Lf4HAF1d5TVESlw\n",
        "$idd2$",
    };
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    unsigned iterations = 7;

    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        ck_assert_msg(idd_password_record_check(&pepper, bad[i], UTF8_CLIENT_HASH) == IDD_EINVAL,
                      "record %zu accepted for checking: %s", i, bad[i]);
        ck_assert_msg(idd_password_record_iterations(bad[i], &iterations) == IDD_EINVAL,
                      "record %zu parsed: %s", i, bad[i]);
    }
    ck_assert_int_eq(idd_password_record_check(&pepper, NULL, UTF8_CLIENT_HASH), IDD_EINVAL);
}
END_TEST

START_TEST(test_record_iterations_bounds)
{
    unsigned iterations = 0;
    ck_assert_int_eq(
        idd_password_record_iterations(
            "$idd1$2147483647$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM", &iterations),
        0);
    ck_assert_uint_eq(iterations, 2147483647u);
    ck_assert_int_eq(idd_password_record_iterations(
                         "$idd1$1$vkuqioKSr1iNsYTo58Dkl0UkX_-2yQcVzfW3FYhiIqM", &iterations),
                     0);
    ck_assert_uint_eq(iterations, 1);
}
END_TEST

START_TEST(test_client_hash_input_must_be_canonical)
{
    /* The HMAC is over the exact hex text, so an uppercase spelling of the right hash would
     * produce a different MAC: it is refused as invalid instead of silently denied. */
    static const char *const bad[] = {
        "C806968AB53566C59ACC5D658327735E50AAFF8BDA57B5CD4BEA9D2D4DF39F35",  /* uppercase */
        "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f3",   /* 63 */
        "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f350", /* 65 */
        "g806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f35",  /* not hex */
        "c806968ab53566c59acc5d658327735e50aaff8bda57b5cd4bea9d2d4df39f3 ",  /* space */
        "",
    };
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    char record[IDD_PASSWORD_RECORD_MAX + 1];

    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        ck_assert_msg(idd_password_record_make(&pepper, bad[i], 1000, record, sizeof record) ==
                          IDD_EINVAL,
                      "make accepted client hash %zu", i);
        ck_assert_msg(idd_password_record_check(&pepper, UTF8_RECORD, bad[i]) == IDD_EINVAL,
                      "check accepted client hash %zu", i);
    }
    ck_assert_int_eq(idd_password_record_make(&pepper, NULL, 1000, record, sizeof record),
                     IDD_EINVAL);
}
END_TEST

START_TEST(test_record_make_bad_arguments)
{
    idd_pepper_t pepper = test_pepper(PEPPER_TEXT);
    idd_pepper_t short_pepper = test_pepper("0123456789abcdef0123456789abcde"); /* 31 */
    char record[IDD_PASSWORD_RECORD_MAX + 1];

    ck_assert_int_eq(idd_password_record_make(&pepper, UTF8_CLIENT_HASH, 0, record, sizeof record),
                     IDD_EINVAL);
    ck_assert_int_eq(idd_password_record_make(&pepper, UTF8_CLIENT_HASH, 1000, record, 60),
                     IDD_EINVAL);
    ck_assert_int_eq(
        idd_password_record_make(&short_pepper, UTF8_CLIENT_HASH, 1000, record, sizeof record),
        IDD_EINVAL);
    ck_assert_int_eq(idd_password_record_make(NULL, UTF8_CLIENT_HASH, 1000, record, sizeof record),
                     IDD_EINVAL);
    ck_assert_int_eq(idd_password_record_check(&short_pepper, UTF8_RECORD, UTF8_CLIENT_HASH),
                     IDD_EINVAL);
}
END_TEST

/* ---- pepper files ---- */

#define PEPPER_DIR_TEMPLATE "/tmp/check_password.XXXXXX"
static char pepper_dir[sizeof PEPPER_DIR_TEMPLATE];
static char pepper_path[sizeof PEPPER_DIR_TEMPLATE + 16];

static void pepper_setup(void)
{
    memcpy(pepper_dir, PEPPER_DIR_TEMPLATE, sizeof PEPPER_DIR_TEMPLATE);
    ck_assert_ptr_nonnull(mkdtemp(pepper_dir));
    snprintf(pepper_path, sizeof pepper_path, "%s/pepper", pepper_dir);
}

static void pepper_teardown(void)
{
    unlink(pepper_path);
    rmdir(pepper_dir);
}

static void write_pepper(const void *bytes, size_t len, mode_t mode)
{
    int fd;
    unlink(pepper_path);
    fd = open(pepper_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

START_TEST(test_pepper_refuses_shared_mode)
{
    /* A pepper readable by other accounts on the host (the default 0644 of a file written
     * by hand) lets any local user turn a stolen database into offline guessing again. */
    static const mode_t modes[] = {0644, 0640, 0604, 0660, 0606};
    idd_pepper_t pepper;
    char err[256];

    for (size_t i = 0; i < IDD_ARRAY_LEN(modes); i++) {
        write_pepper(PEPPER_TEXT PEPPER_TEXT "\n", 2 * 32 + 1, modes[i]);
        ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), IDD_EINVAL);
        ck_assert_msg(strstr(err, "group or others") != NULL, "message: %s", err);
        ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
        ck_assert_uint_eq(pepper.len, 0);
    }
}
END_TEST

START_TEST(test_pepper_refuses_short)
{
    idd_pepper_t pepper;
    char err[256];

    /* 31 bytes, padded with whitespace to look long enough: the whitespace does not count. */
    static const char text[] = "0123456789abcdef0123456789abcde\n\n \t\n";
    write_pepper(text, sizeof text - 1, 0600);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), IDD_EINVAL);
    ck_assert_msg(strstr(err, "at least 32") != NULL, "message: %s", err);
    ck_assert_uint_eq(pepper.len, 0);

    write_pepper("", 0, 0600);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), IDD_EINVAL);
}
END_TEST

START_TEST(test_pepper_accepts_private_file)
{
    idd_pepper_t pepper;
    char err[256];

    /* Leading whitespace is part of the secret; trailing whitespace and newlines are not. */
    static const char text[] = "  " PEPPER_TEXT " x\r\n\t \n";
    write_pepper(text, sizeof text - 1, 0600);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), 0);
    ck_assert_uint_eq(pepper.len, 2 + 32 + 2);
    ck_assert_int_eq(memcmp(pepper.bytes, "  " PEPPER_TEXT " x", pepper.len), 0);
    /* Nothing of the stripped tail is left behind the secret. */
    for (size_t i = pepper.len; i < sizeof pepper.bytes; i++)
        ck_assert_uint_eq(pepper.bytes[i], 0);

    write_pepper(PEPPER_TEXT, 32, 0400);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), 0);
    ck_assert_uint_eq(pepper.len, 32);

    /* A loaded pepper checks the records made with the one built in memory. */
    ck_assert_int_eq(idd_password_record_check(&pepper, UTF8_RECORD, UTF8_CLIENT_HASH), 0);
    ck_assert_int_eq(idd_password_record_check(&pepper, V2_RECORD, UTF8_CLIENT_HASH), 0);

    idd_pepper_wipe(&pepper);
    ck_assert_uint_eq(pepper.len, 0);
    for (size_t i = 0; i < sizeof pepper.bytes; i++)
        ck_assert_uint_eq(pepper.bytes[i], 0);
    idd_pepper_wipe(NULL);
}
END_TEST

START_TEST(test_pepper_size_limit)
{
    unsigned char big[IDD_PEPPER_MAX + 1];
    idd_pepper_t pepper;
    char err[256];

    memset(big, 'k', sizeof big);
    write_pepper(big, IDD_PEPPER_MAX, 0600);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), 0);
    ck_assert_uint_eq(pepper.len, IDD_PEPPER_MAX);

    write_pepper(big, IDD_PEPPER_MAX + 1, 0600);
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), IDD_EINVAL);
    ck_assert_msg(strstr(err, "larger than") != NULL, "message: %s", err);
    ck_assert_uint_eq(pepper.len, 0);
}
END_TEST

START_TEST(test_pepper_missing_or_not_a_file)
{
    idd_pepper_t pepper;
    char err[256];

    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, err, sizeof err), IDD_EIO);
    ck_assert_ptr_nonnull(strstr(err, pepper_path));
    ck_assert_int_eq(chmod(pepper_dir, 0700), 0);
    ck_assert_int_eq(idd_pepper_load(pepper_dir, &pepper, err, sizeof err), IDD_EINVAL);
    /* No message buffer is fine. */
    ck_assert_int_eq(idd_pepper_load(pepper_path, &pepper, NULL, 0), IDD_EIO);
}
END_TEST

static Suite *password_suite(void)
{
    Suite *s = suite_create("password");
    TCase *tc = tcase_create("records");
    tcase_add_test(tc, test_client_hash_rfc7914);
    tcase_add_test(tc, test_client_hash_4096);
    tcase_add_test(tc, test_client_hash_utf8_and_length);
    tcase_add_test(tc, test_client_hash_bad_arguments);
    tcase_add_test(tc, test_record_known_answer);
    tcase_add_test(tc, test_record_v1_still_verifies);
    tcase_add_test(tc, test_record_equal_passwords_differ);
    tcase_add_test(tc, test_record_v2_tampered_salt);
    tcase_add_test(tc, test_record_decoy);
    tcase_add_test(tc, test_record_round_trip);
    tcase_add_test(tc, test_record_wrong_hash_denied);
    tcase_add_test(tc, test_record_other_pepper_denied);
    tcase_add_test(tc, test_record_tampered_mac);
    tcase_add_test(tc, test_record_unreadable);
    tcase_add_test(tc, test_record_iterations_bounds);
    tcase_add_test(tc, test_client_hash_input_must_be_canonical);
    tcase_add_test(tc, test_record_make_bad_arguments);
    suite_add_tcase(s, tc);

    TCase *files = tcase_create("pepper");
    tcase_add_checked_fixture(files, pepper_setup, pepper_teardown);
    tcase_add_test(files, test_pepper_refuses_shared_mode);
    tcase_add_test(files, test_pepper_refuses_short);
    tcase_add_test(files, test_pepper_accepts_private_file);
    tcase_add_test(files, test_pepper_size_limit);
    tcase_add_test(files, test_pepper_missing_or_not_a_file);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(password_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
