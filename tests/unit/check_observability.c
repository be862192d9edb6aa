/*
 * Unit tests of what metrics and logs are made of: the log: and metrics_listen keys, the two
 * log formats and their escaping (captured from stderr), and the bounded label tables of
 * /metrics (status slots, latency buckets, the (kid, alg) table).
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identityd/app/metrics.h"
#include "identityd/config/config.h"
#include "identityd/core/common.h"
#include "identityd/core/log.h"

static char tmpdir[PATH_MAX];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/idd-obs-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
    idd_log_set_format(IDD_LOG_TEXT);
    idd_log_set_level(IDD_LOG_INFO);
}

/* ---- configuration ---- */

#define MINIMAL                                                                                    \
    "password:\n  pepper_file: pepper\n"                                                           \
    "tenants:\n  - id: 1\n    name: one\n    domains: [one.example]\n"                             \
    "keys:\n  - kid: k1\n    alg: ES256\n    file: k1.pem\n"

static int load(const char *text, idd_config_t **cfg, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/identityd.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return idd_config_load(path, cfg, err, errlen);
}

static idd_config_t *load_ok(const char *text)
{
    idd_config_t *cfg = NULL;
    char err[512] = "";
    ck_assert_msg(load(text, &cfg, err, sizeof(err)) == 0, "load failed: %s", err);
    return cfg;
}

/* Loads text expecting a refusal that mentions want. */
static void load_bad(const char *text, const char *want)
{
    idd_config_t *cfg = NULL;
    char err[512] = "";
    ck_assert_int_eq(load(text, &cfg, err, sizeof(err)), IDD_ECONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" lacks \"%s\"", err, want);
}

START_TEST(log_and_metrics_defaults)
{
    idd_config_t *cfg = load_ok(MINIMAL);
    ck_assert_int_eq(cfg->log_format, IDD_LOG_TEXT);
    ck_assert(!cfg->log_access);
    ck_assert_int_eq(cfg->log_level, IDD_LOG_INFO);
    ck_assert(!cfg->metrics_listen_set);
    idd_config_free(cfg);
}
END_TEST

START_TEST(log_section_is_loaded)
{
    idd_config_t *cfg = load_ok(MINIMAL "log:\n  format: json\n  access: true\n  level: debug\n");
    ck_assert_int_eq(cfg->log_format, IDD_LOG_JSON);
    ck_assert(cfg->log_access);
    ck_assert_int_eq(cfg->log_level, IDD_LOG_DEBUG);
    idd_config_free(cfg);
    /* The older spelling still works. */
    cfg = load_ok(MINIMAL "log_level: warn\nlog: { access: true }\n");
    ck_assert_int_eq(cfg->log_level, IDD_LOG_WARN);
    ck_assert_int_eq(cfg->log_format, IDD_LOG_TEXT);
    idd_config_free(cfg);
}
END_TEST

START_TEST(log_section_refusals)
{
    load_bad(MINIMAL "log_level: warn\nlog:\n  level: debug\n",
             "identityd.yaml:13: log.level: log_level is set too (line 11)");
    load_bad(MINIMAL "log: { format: xml }\n", "log.format");
    load_bad(MINIMAL "log: { access: sometimes }\n", "log.access");
    load_bad(MINIMAL "log: { colour: true }\n", "colour");
}
END_TEST

START_TEST(metrics_listen_is_loaded)
{
    idd_config_t *cfg = load_ok(MINIMAL "metrics_listen: \"127.0.0.1:9100\"\n");
    ck_assert(cfg->metrics_listen_set);
    ck_assert_str_eq(cfg->metrics_listen.host, "127.0.0.1");
    ck_assert_int_eq(cfg->metrics_listen.port, 9100);
    ck_assert_int_eq(cfg->metrics_listen.line, 11);
    idd_config_free(cfg);
    cfg = load_ok(MINIMAL "metrics_listen: \"[::1]:0\"\n");
    ck_assert_str_eq(cfg->metrics_listen.host, "::1");
    ck_assert_int_eq(cfg->metrics_listen.port, 0);
    idd_config_free(cfg);
}
END_TEST

START_TEST(metrics_listen_refusals)
{
    load_bad(MINIMAL "metrics_listen: \"localhost:9100\"\n", "not a numeric");
    load_bad(MINIMAL "metrics_listen: \"127.0.0.1\"\n", "metrics_listen");
    load_bad(MINIMAL "metrics_listen: [\"127.0.0.1:9100\"]\n", "metrics_listen");
    load_bad(MINIMAL "listen: [\"127.0.0.1:8092\"]\nmetrics_listen: \"127.0.0.1:8092\"\n",
             "is a listen: address too");
}
END_TEST

/* ---- log lines ---- */

/* Runs fn with stderr sent to a file; returns what was written (malloc'd). */
static char *capture(void (*fn)(void))
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/stderr", tmpdir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (; *text != '\0'; text++)
        n += *text == '\n';
    return n;
}

static void log_hostile_message(void)
{
    idd_log_info("user said \"%s\"", "a\nb\r\x1b[31mc\\d\xff caf\xc3\xa9 \xc2\x9b \xe2\x80\xa8");
}

START_TEST(text_message_cannot_forge_a_line)
{
    char *out = capture(log_hostile_message);
    ck_assert_int_eq(count_lines(out), 1);
    /* Well-formed UTF-8 stays as it is; a C1 control and a line separator do not. */
    ck_assert_msg(strstr(out, " info user said \"a\\x0ab\\x0d\\x1b[31mc\\d\\xff caf\xc3\xa9 "
                              "\\xc2\\x9b \\xe2\\x80\\xa8\"\n") != NULL,
                  "%s", out);
    free(out);
}
END_TEST

static void log_a_flood(void)
{
    idd_log_limit_t limit = {0};
    for (int i = 0; i < 100; i++)
        idd_log_limited(IDD_LOG_WARN, &limit, 5000 + i, "store: %s: lost", "touch");
    idd_log_limited(IDD_LOG_WARN, &limit, 5999, "store: %s: lost", "touch");
    idd_log_limited(IDD_LOG_WARN, &limit, 6000, "store: %s: lost", "again");
    idd_log_limited(IDD_LOG_WARN, &limit, 7000, "store: %s: lost", "alone");
    idd_log_limited(IDD_LOG_DEBUG, &limit, 9000, "below the level: %s", "dropped");
}

/* A line that repeats is written at most once a second, and the next one says how many were
 * left out. */
START_TEST(repeated_lines_are_limited)
{
    char *out = capture(log_a_flood);
    ck_assert_int_eq(count_lines(out), 3);
    ck_assert_ptr_nonnull(strstr(out, " warn store: touch: lost\n"));
    ck_assert_ptr_nonnull(strstr(out, " warn store: again: lost (100 more like it not logged)\n"));
    ck_assert_ptr_nonnull(strstr(out, " warn store: alone: lost\n"));
    ck_assert_ptr_null(strstr(out, "dropped"));
    free(out);
}
END_TEST

static void log_a_long_flood(void)
{
    char word[1500];
    memset(word, 'w', sizeof(word) - 1);
    word[sizeof(word) - 1] = '\0';
    idd_log_limit_t limit = {0};
    for (int i = 0; i < 8; i++)
        idd_log_limited(IDD_LOG_WARN, &limit, 5000 + i, "long: %s", word);
    idd_log_limited(IDD_LOG_WARN, &limit, 6000, "long: %s", word);
}

/* A message too long for a line is cut, and the count of those left out still ends it. */
START_TEST(long_repeated_line_keeps_its_count)
{
    char *out = capture(log_a_long_flood);
    ck_assert_int_eq(count_lines(out), 2);
    const char *second = strchr(out, '\n') + 1;
    ck_assert_msg(strstr(second, "www (7 more like it not logged)\n") != NULL, "%s", second);
    ck_assert_uint_lt(strlen(second), 1100);
    free(out);
}
END_TEST

START_TEST(json_message_is_one_valid_object)
{
    idd_log_set_format(IDD_LOG_JSON);
    char *out = capture(log_hostile_message);
    ck_assert_int_eq(count_lines(out), 1);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", e.text, out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
    ck_assert_str_eq(json_string_value(json_object_get(j, "msg")),
                     "user said \"a\nb\r\x1b[31mc\\d\xc3\xbf caf\xc3\xa9 \xc3\x82\xc2\x9b "
                     "\xc3\xa2\xc2\x80\xc2\xa8\"");
    json_decref(j);
    free(out);
}
END_TEST

static void log_long_access(void)
{
    static char path[5000];
    path[0] = '/';
    for (size_t i = 1; i < sizeof(path); i++)
        path[i] = (char)(i % 3 == 0 ? '\x01' : i % 3 == 1 ? '"' : 'x');
    idd_log_access_t a = {.request_id = "rid",
                          .request_id_len = 3,
                          .client = "192.0.2.1",
                          .method = "GET",
                          .method_len = 3,
                          .path = path,
                          .path_len = sizeof(path),
                          .status = 404,
                          .scheme = "basic",
                          .user = "0f8fad5b-d9cb-469f-a165-70867728950e",
                          .tenant = 7,
                          .seconds = 0.25};
    idd_log_access(&a);
}

/* A path far longer than a line: cut, and the line still ends with every field. */
START_TEST(access_line_is_bounded)
{
    idd_log_set_format(IDD_LOG_JSON);
    char *out = capture(log_long_access);
    ck_assert_int_eq(count_lines(out), 1);
    ck_assert_uint_le(strlen(out), 2048);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    ck_assert_msg(j != NULL, "%s: %s", e.text, out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 404);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "tenant")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(j, "scheme")), "basic");
    ck_assert(json_real_value(json_object_get(j, "duration_s")) == 0.25);
    ck_assert_uint_le(strlen(json_string_value(json_object_get(j, "path"))), 512);
    json_decref(j);
    free(out);

    idd_log_set_format(IDD_LOG_TEXT);
    out = capture(log_long_access);
    ck_assert_int_eq(count_lines(out), 1);
    ck_assert_uint_le(strlen(out), 2048);
    ck_assert_msg(strstr(out, " path=/\\x22x\\x01\\x22x") != NULL, "%s", out);
    ck_assert(strstr(out, " status=404 scheme=basic user=0f8fad5b-d9cb-469f-a165-70867728950e "
                          "tenant=7 duration_s=0.250000\n") != NULL);
    free(out);
}
END_TEST

/* An access line is written whatever the level: log.access alone decides. */
START_TEST(access_line_ignores_level)
{
    idd_log_set_level(IDD_LOG_ERROR);
    char *out = capture(log_long_access);
    ck_assert_int_eq(count_lines(out), 1);
    free(out);
    out = capture(log_hostile_message);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

/* A reload may change the format while other threads log: each line is still wholly one
 * format (and, under ThreadSanitizer, the change is no data race). */
static atomic_bool flipping;

static void *flip_formats(void *arg)
{
    (void)arg;
    for (unsigned i = 0; atomic_load(&flipping); i++)
        idd_log_set_format(i % 2 ? IDD_LOG_JSON : IDD_LOG_TEXT);
    return NULL;
}

static void log_while_flipping(void)
{
    pthread_t t;
    atomic_store(&flipping, true);
    ck_assert_int_eq(pthread_create(&t, NULL, flip_formats, NULL), 0);
    idd_log_access_t a = {.request_id = "rid",
                          .request_id_len = 3,
                          .method = "GET",
                          .method_len = 3,
                          .path = "/p\"q",
                          .path_len = 4,
                          .status = 200,
                          .seconds = 0.5};
    for (int i = 0; i < 200; i++)
        idd_log_access(&a);
    atomic_store(&flipping, false);
    pthread_join(t, NULL);
}

START_TEST(format_change_never_splits_a_line)
{
    char *out = capture(log_while_flipping);
    ck_assert_int_eq(count_lines(out), 200);
    for (char *line = out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        if (line[0] == '{') {
            json_error_t e;
            json_t *j = json_loads(line, 0, &e);
            ck_assert_msg(j != NULL, "%s: %s", e.text, line);
            ck_assert_str_eq(json_string_value(json_object_get(j, "path")), "/p\"q");
            json_decref(j);
        } else {
            ck_assert_msg(strstr(line, " access request_id=rid client=- method=GET "
                                       "path=/p\\x22q status=200 ") != NULL,
                          "%s", line);
        }
    }
    free(out);
}
END_TEST

/* ---- label tables ---- */

START_TEST(status_slots)
{
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(200)], "200");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(503)], "503");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(418)], "4xx");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(599)], "5xx");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(101)], "1xx");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(0)], "0");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(-1)], "0");
    ck_assert_str_eq(idd_metrics_status_names[idd_metrics_status_slot(1000)], "0");
    /* Every slot is reachable and its name unique. */
    for (int i = 0; i < IDD_METRICS_STATUSES; i++)
        for (int k = i + 1; k < IDD_METRICS_STATUSES; k++)
            ck_assert_str_ne(idd_metrics_status_names[i], idd_metrics_status_names[k]);
}
END_TEST

START_TEST(latency_buckets)
{
    ck_assert_int_eq(idd_metrics_bucket(0), 0);
    ck_assert_int_eq(idd_metrics_bucket(500000), 0); /* le is inclusive */
    ck_assert_int_eq(idd_metrics_bucket(500001), 1);
    ck_assert_int_eq(idd_metrics_bucket(INT64_C(10000000000)), IDD_METRICS_BUCKETS - 2);
    ck_assert_int_eq(idd_metrics_bucket(INT64_C(10000000001)), IDD_METRICS_BUCKETS - 1);
    ck_assert_int_eq(idd_metrics_bucket(INT64_MAX), IDD_METRICS_BUCKETS - 1);
    for (int i = 1; i < IDD_METRICS_BUCKETS - 1; i++)
        ck_assert(idd_metrics_bucket_le[i] > idd_metrics_bucket_le[i - 1]);
}
END_TEST

/* The (kid, alg) table keeps the first IDD_METRICS_KEYS pairs; any more share "other". */
START_TEST(key_table_is_bounded)
{
    idd_metrics_keys_t k;
    memset(&k, 0, sizeof(k));
    pthread_mutex_init(&k.lock, NULL);
    char kid[32];
    for (int i = 0; i < IDD_METRICS_KEYS; i++) {
        snprintf(kid, sizeof(kid), "kid-%d", i);
        ck_assert_int_eq(idd_metrics_key_slot(&k, kid, IDD_ALG_ES256), i);
    }
    ck_assert_int_eq(idd_metrics_key_slot(&k, "kid-3", IDD_ALG_ES256), 3);
    ck_assert_int_eq(idd_metrics_key_slot(&k, "one-more", IDD_ALG_ES256), IDD_METRICS_KEYS);
    ck_assert_int_eq(idd_metrics_key_slot(&k, "kid-3", IDD_ALG_RS256), IDD_METRICS_KEYS);
    ck_assert_int_eq(atomic_load(&k.n), IDD_METRICS_KEYS);

    idd_metrics_keys_t fresh;
    memset(&fresh, 0, sizeof(fresh));
    pthread_mutex_init(&fresh.lock, NULL);
    ck_assert_int_eq(idd_metrics_key_slot(&fresh, "k", IDD_ALG_ES256), 0);
    ck_assert_int_eq(idd_metrics_key_slot(&fresh, "k", IDD_ALG_EDDSA), 1);
    char long_kid[80];
    memset(long_kid, 'a', sizeof(long_kid) - 1);
    long_kid[sizeof(long_kid) - 1] = '\0';
    ck_assert_int_eq(idd_metrics_key_slot(&fresh, long_kid, IDD_ALG_ES256), IDD_METRICS_KEYS);
    pthread_mutex_destroy(&k.lock);
    pthread_mutex_destroy(&fresh.lock);
}
END_TEST

static Suite *observability_suite(void)
{
    Suite *s = suite_create("observability");
    TCase *tc = tcase_create("all");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, log_and_metrics_defaults);
    tcase_add_test(tc, log_section_is_loaded);
    tcase_add_test(tc, log_section_refusals);
    tcase_add_test(tc, metrics_listen_is_loaded);
    tcase_add_test(tc, metrics_listen_refusals);
    tcase_add_test(tc, text_message_cannot_forge_a_line);
    tcase_add_test(tc, json_message_is_one_valid_object);
    tcase_add_test(tc, access_line_is_bounded);
    tcase_add_test(tc, access_line_ignores_level);
    tcase_add_test(tc, format_change_never_splits_a_line);
    tcase_add_test(tc, status_slots);
    tcase_add_test(tc, repeated_lines_are_limited);
    tcase_add_test(tc, long_repeated_line_keeps_its_count);
    tcase_add_test(tc, latency_buckets);
    tcase_add_test(tc, key_table_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(observability_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
