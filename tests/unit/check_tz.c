/*
 * core/tz: DocSpace's date strings (reference §1 vectors), zone offsets against the C
 * library's own reading of the same zoneinfo, and refusal of bad names and damaged files.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identityd/config/config.h"
#include "identityd/core/common.h"
#include "identityd/core/tz.h"

static idd_tz_t *zone(const char *name)
{
    char err[256] = "";
    idd_tz_t *tz = NULL;
    ck_assert_msg(idd_tz_load(name, &tz, err, sizeof(err)) == 0, "%s: %s", name, err);
    return tz;
}

static void check_format(const char *name, int64_t t, uint32_t ticks, const char *want)
{
    idd_tz_t *tz = zone(name);
    char out[IDD_DATETIME_LEN];
    size_t n = idd_format_datetime(t, ticks, tz, out);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
    idd_tz_free(tz);
}

START_TEST(test_reference_vectors)
{
    /* 2025-06-30 10:13:11.1234567 UTC */
    check_format("UTC", 1751278391, 1234567, "2025-06-30T10:13:11.1234567Z");
    check_format("Europe/Berlin", 1751278391, 1234567, "2025-06-30T12:13:11.1234567+02:00");
    /* 2025-01-15 10:30 UTC */
    check_format("America/New_York", 1736937000, 0, "2025-01-15T05:30:00.0000000-05:00");
    check_format("UTC", IDD_DATETIME_MIN, 0, "0001-01-01T00:00:00.0000000Z");
    check_format("Europe/Berlin", IDD_DATETIME_MIN, 0, "0001-01-01T00:00:00.0000000Z");
    /* London in winter has a zero offset: Z; in summer +01:00 */
    check_format("Europe/London", 1736937000, 0, "2025-01-15T10:30:00.0000000Z");
    check_format("Europe/London", 1751278391, 0, "2025-06-30T11:13:11.0000000+01:00");
    check_format("Asia/Kolkata", 1736937000, 0, "2025-01-15T16:00:00.0000000+05:30");
    /* past the transitions a file lists: the footer's rule (2100-07-01 12:00 UTC) */
    check_format("Europe/Berlin", 4118126400, 0, "2100-07-01T14:00:00.0000000+02:00");
    check_format("America/New_York", 4102488000, 0, "2100-01-01T07:00:00.0000000-05:00");
    /* instants past year 9999 are written as its last second, in the zone's rule */
    check_format("Europe/Berlin", INT64_MAX, 0, "9999-12-31T23:59:59.0000000+01:00");
    check_format("America/New_York", INT64_MIN, 0, "0001-01-01T00:00:00.0000000Z");
    /* a NULL zone is UTC */
    char out[IDD_DATETIME_LEN];
    idd_format_datetime(0, 0, NULL, out);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.0000000Z");
}
END_TEST

START_TEST(test_plain_utc_form)
{
    char out[IDD_DATETIME_UTC_LEN];
    idd_format_datetime_utc(1796234292, 3456789, out);
    ck_assert_str_eq(out, "2026-12-02T17:58:12.3456789Z");
    idd_format_datetime_utc(1796234292, 0, out);
    ck_assert_str_eq(out, "2026-12-02T17:58:12Z");
    idd_format_datetime_utc(1796234292, 5000000, out);
    ck_assert_str_eq(out, "2026-12-02T17:58:12.5Z");
    char ts[11];
    idd_format_timespan(0, ts);
    ck_assert_str_eq(ts, "00:00:00");
    idd_format_timespan(-5 * 3600, ts);
    ck_assert_str_eq(ts, "-05:00:00");
    idd_format_timespan(5 * 3600 + 1800, ts);
    ck_assert_str_eq(ts, "05:30:00");
}
END_TEST

/* Offsets agree with glibc's localtime_r over two centuries, every ~9 days plus the hours
 * around each switch: transitions, the footer's rule and the southern hemisphere. */
static const char *const zones[] = {"Europe/Berlin",    "America/New_York",  "Australia/Sydney",
                                    "America/Santiago", "Asia/Kolkata",      "Europe/London",
                                    "Pacific/Chatham",  "Africa/Casablanca", "America/Sao_Paulo"};

START_TEST(test_offsets_match_libc)
{
    const char *name = zones[_i];
    idd_tz_t *tz = zone(name);
    setenv("TZ", name, 1);
    tzset();
    long checked = 0;
    for (int64_t t = -2208988800LL; t < 4102444800LL; t += 777601) {
        for (int64_t u = t; u < t + 3 * 3600; u += 1800) {
            time_t tt = (time_t)u;
            struct tm tm;
            localtime_r(&tt, &tm);
            ck_assert_msg(idd_tz_offset(tz, u) == (int32_t)tm.tm_gmtoff, "%s at %lld: %d, libc %ld",
                          name, (long long)u, idd_tz_offset(tz, u), (long)tm.tm_gmtoff);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 10000);
    unsetenv("TZ");
    idd_tz_free(tz);
}
END_TEST

START_TEST(test_names_refused)
{
    static const char *const bad[] = {
        "",
        "../etc/passwd",
        "/etc/localtime",
        "Europe/../../etc/passwd",
        "Europe//Berlin",
        "Europe/",
        ".hidden",
        "Europe/Berlin\n",
        "Europe/Be rlin",
        "Nowhere/City",
        "zone.tab",
        "Europe",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        idd_tz_t *tz = (idd_tz_t *)1;
        char err[256] = "";
        ck_assert_msg(idd_tz_load(bad[i], &tz, err, sizeof(err)) != 0, "'%s' accepted", bad[i]);
        ck_assert_ptr_null(tz);
        ck_assert_msg(err[0] != '\0', "'%s': no message", bad[i]);
    }
}
END_TEST

static unsigned char *read_zone(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", IDD_TZ_DIR, name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *data = malloc(IDD_TZ_FILE_MAX);
    *len = fread(data, 1, IDD_TZ_FILE_MAX, f);
    fclose(f);
    return data;
}

/* Every truncation and many single-byte changes of a real file: a clean refusal or a zone
 * whose offsets stay within a day, never a crash (run under the sanitizer trees too). */
START_TEST(test_damaged_files)
{
    size_t len;
    unsigned char *data = read_zone("Europe/Berlin", &len);
    char err[256];
    for (size_t cut = 0; cut < len; cut++) {
        idd_tz_t *tz = NULL;
        if (idd_tz_parse(data, cut, "cut", &tz, err, sizeof(err)) == 0) {
            ck_assert_int_lt(abs(idd_tz_offset(tz, 1751278391)), 26 * 3600);
            idd_tz_free(tz);
        }
    }
    unsigned int seed = 11;
    for (int round = 0; round < 5000; round++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, data, len);
        size_t at = (size_t)rand_r(&seed) % len;
        copy[at] = (unsigned char)rand_r(&seed);
        idd_tz_t *tz = NULL;
        if (idd_tz_parse(copy, len, "flip", &tz, err, sizeof(err)) == 0) {
            ck_assert_int_lt(abs(idd_tz_offset(tz, 1751278391)), 26 * 3600);
            ck_assert_int_lt(abs(idd_tz_offset(tz, 4118558400)), 26 * 3600);
            idd_tz_free(tz);
        }
        free(copy);
    }
    /* a count far past its bound is refused before it sizes anything */
    unsigned char *big = malloc(len);
    memcpy(big, data, len);
    big[32] = 0x7f;
    idd_tz_t *tz = NULL;
    ck_assert_int_ne(idd_tz_parse(big, len, "big", &tz, err, sizeof(err)), 0);
    ck_assert_ptr_null(tz);
    free(big);
    free(data);
}
END_TEST

/* ---- tenants' timezone key ---- */

#define HEAD "password:\n  pepper_file: pepper\nkeys:\n  - {kid: k1, alg: ES256, file: k1.pem}\n"

static int load(const char *yaml, idd_config_t **cfg, char *err, size_t errlen)
{
    char dir[] = "/tmp/idd-tz-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/identityd.yaml", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(yaml, f);
    fclose(f);
    int rc = idd_config_load(path, cfg, err, errlen);
    unlink(path);
    rmdir(dir);
    return rc;
}

START_TEST(test_tenant_timezone_key)
{
    char err[512] = "";
    idd_config_t *cfg = NULL;
    ck_assert_int_eq(load(HEAD
                          "tenants:\n"
                          "  - {id: 1, name: one, domains: [one.test]}\n"
                          "  - {id: 2, name: two, domains: [two.test], timezone: Europe/Berlin}\n",
                          &cfg, err, sizeof(err)),
                     0);
    ck_assert_str_eq(cfg->tenants[0].timezone, "UTC");
    ck_assert_str_eq(idd_tz_name(cfg->tenants[0].tz), "UTC");
    ck_assert_int_eq(idd_tz_offset(cfg->tenants[0].tz, 1751278391), 0);
    ck_assert_str_eq(idd_tz_name(cfg->tenants[1].tz), "Europe/Berlin");
    ck_assert_int_eq(idd_tz_offset(cfg->tenants[1].tz, 1751278391), 7200);
    idd_config_free(cfg);

    static const char *const bad[] = {"Nowhere/City", "../../etc/passwd", "/etc/localtime",
                                      "zone.tab", "\"\""};
    for (size_t i = 0; i < IDD_ARRAY_LEN(bad); i++) {
        char *yaml = NULL;
        ck_assert_int_gt(asprintf(&yaml,
                                  HEAD "tenants:\n"
                                       "  - id: 1\n    name: one\n    domains: [one.test]\n"
                                       "    timezone: %s\n",
                                  bad[i]),
                         0);
        cfg = (idd_config_t *)&cfg;
        err[0] = '\0';
        ck_assert_int_eq(load(yaml, &cfg, err, sizeof(err)), IDD_ECONFIG);
        ck_assert_ptr_null(cfg);
        /* FILE:LINE of the key, and the key's name */
        ck_assert_msg(strstr(err, "identityd.yaml:9: tenants[0].timezone: ") != NULL, "%s", err);
        free(yaml);
    }
}
END_TEST

static Suite *tz_suite(void)
{
    Suite *s = suite_create("tz");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, test_reference_vectors);
    tcase_add_test(tc, test_plain_utc_form);
    suite_add_tcase(s, tc);
    tc = tcase_create("zones");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_offsets_match_libc, 0, (int)IDD_ARRAY_LEN(zones));
    tcase_add_test(tc, test_names_refused);
    tcase_add_test(tc, test_damaged_files);
    tcase_add_test(tc, test_tenant_timezone_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tz_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
