/*
 * QR codes for two-factor setup: what identityd draws is read back by a real decoder
 * (zbarimg, from zbar-tools) and must give the text byte for byte; the image is checked
 * against the contract (PNG, 1-bit greyscale, 4 pixels per module, 4 modules of quiet zone,
 * the modules libqrencode gives for level Q); the data URI carries that same PNG; inputs
 * over the bound are refused without touching the output; the URI-component escaper keeps
 * RFC 3986's unreserved characters and %-encodes every other byte.
 */
#include <check.h>
#include <errno.h>
#include <png.h>
#include <pthread.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "identityd/core/b64.h"
#include "identityd/core/buf.h"
#include "identityd/core/common.h"
#include "identityd/core/qr.h"

static const char otpauth[] = "otpauth://totp/ONLYOFFICE%20DocSpace:user%40example.com"
                              "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
                              "&issuer=ONLYOFFICE%20DocSpace";

/* ---- helpers ---- */

/* The folder the suite leaves its images in (IDD_TEST_OUTPUT, made if missing). */
static const char *output_dir(void)
{
    const char *dir = getenv("IDD_TEST_OUTPUT");
    if (dir == NULL || *dir == '\0')
        dir = ".";
    mkdir(dir, 0755);
    return dir;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The path of zbarimg on PATH, or NULL. */
static char *find_zbarimg(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    char *copy = idd_xstrdup(path), *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        idd_buf_t b;
        idd_buf_init(&b);
        idd_buf_printf(&b, "%s/zbarimg", dir);
        if (access(b.data, X_OK) == 0) {
            free(copy);
            return b.data;
        }
        idd_buf_dispose(&b);
    }
    free(copy);
    return NULL;
}

/* Runs `zbarimg --raw -q FILE` and returns its exit status; its output goes to out. */
static int zbar_decode(const char *zbarimg, const char *file, idd_buf_t *out)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(zbarimg, "zbarimg", "--raw", "-q", file, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(n, 0);
        idd_buf_append(out, chunk, (size_t)n);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The modules per side libqrencode gives text at level Q, and the symbol itself. */
static QRcode *reference_symbol(const char *text)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_Q, QR_MODE_8, 1);
    ck_assert_ptr_nonnull(qr);
    return qr;
}

/* Encodes text, checks the image against the contract, decodes it with zbarimg and
 * compares byte for byte. name: the file left in the output folder. */
static void encode_and_decode(const char *text, const char *name)
{
    size_t len = strlen(text);
    idd_buf_t png;
    idd_buf_init(&png);
    ck_assert_int_eq(idd_qr_png(text, len, &png), 0);

    /* Signature, then IHDR first: width = height = (modules + 8) * 4, 1-bit greyscale. */
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = (const unsigned char *)png.data;
    ck_assert_uint_gt(png.len, 33);
    ck_assert_int_eq(memcmp(p, sig, 8), 0);
    ck_assert_uint_eq(be32(p + 8), 13);
    ck_assert_int_eq(memcmp(p + 12, "IHDR", 4), 0);
    QRcode *qr = reference_symbol(text);
    uint32_t side = (uint32_t)(qr->width + 8) * 4;
    ck_assert_uint_eq(be32(p + 16), side);
    ck_assert_uint_eq(be32(p + 20), side);
    ck_assert_uint_eq(p[24], 1); /* bit depth */
    ck_assert_uint_eq(p[25], 0); /* colour type: greyscale */
    ck_assert_uint_eq(p[28], 0); /* no interlace */

    /* Every pixel: white in the 16-pixel quiet zone, each 4x4 block one module of the
     * symbol libqrencode makes for level Q. */
    png_image img;
    memset(&img, 0, sizeof(img));
    img.version = PNG_IMAGE_VERSION;
    ck_assert_int_ne(png_image_begin_read_from_memory(&img, png.data, png.len), 0);
    img.format = PNG_FORMAT_GRAY;
    unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
    ck_assert_ptr_nonnull(px);
    ck_assert_int_ne(png_image_finish_read(&img, NULL, px, 0, NULL), 0);
    for (uint32_t y = 0; y < side; y++) {
        for (uint32_t x = 0; x < side; x++) {
            int mx = (int)(x / 4) - 4, my = (int)(y / 4) - 4;
            int dark = mx >= 0 && my >= 0 && mx < qr->width && my < qr->width &&
                       (qr->data[my * qr->width + mx] & 1);
            ck_assert_msg(px[y * side + x] == (dark ? 0 : 255), "pixel (%u, %u) is %u", x, y,
                          px[y * side + x]);
        }
    }
    free(px);
    QRcode_free(qr);

    idd_buf_t path;
    idd_buf_init(&path);
    idd_buf_printf(&path, "%s/%s", output_dir(), name);
    write_file(path.data, png.data, png.len);

    char *zbarimg = find_zbarimg();
    if (zbarimg == NULL) {
        fprintf(stderr,
                "check_qr: zbarimg not found, %s not decoded "
                "(scripts/install-deps test installs zbar-tools)\n",
                path.data);
    } else {
        idd_buf_t decoded;
        idd_buf_init(&decoded);
        int rc = zbar_decode(zbarimg, path.data, &decoded);
        ck_assert_msg(rc == 0, "zbarimg exit %d on %s", rc, path.data);
        /* --raw prints the symbol's data and one newline. */
        ck_assert_uint_eq(decoded.len, len + 1);
        ck_assert_int_eq(decoded.data[len], '\n');
        ck_assert_int_eq(memcmp(decoded.data, text, len), 0);
        idd_buf_dispose(&decoded);
        free(zbarimg);
    }
    idd_buf_dispose(&path);
    idd_buf_dispose(&png);
}

/* ---- the image, read back ---- */

START_TEST(test_otpauth_decodes)
{
    encode_and_decode(otpauth, "qr-otpauth.png");
}
END_TEST

/* The smallest symbol (version 1) and the longest text allowed. */
START_TEST(test_sizes_decode)
{
    encode_and_decode("A", "qr-one-byte.png");

    char big[IDD_QR_MAX_INPUT + 1];
    for (size_t i = 0; i < IDD_QR_MAX_INPUT; i++)
        big[i] = "abcdefghijklmnopqrstuvwxyz0123456789-._~"[i % 40];
    big[IDD_QR_MAX_INPUT] = '\0';
    encode_and_decode(big, "qr-max-input.png");
}
END_TEST

/* Output is appended: what the buffer held before stays in front. */
START_TEST(test_appends)
{
    idd_buf_t alone, after;
    idd_buf_init(&alone);
    idd_buf_init(&after);
    ck_assert_int_eq(idd_qr_png(otpauth, strlen(otpauth), &alone), 0);
    idd_buf_puts(&after, "head");
    ck_assert_int_eq(idd_qr_png(otpauth, strlen(otpauth), &after), 0);
    ck_assert_uint_eq(after.len, alone.len + 4);
    ck_assert_int_eq(memcmp(after.data, "head", 4), 0);
    ck_assert_int_eq(memcmp(after.data + 4, alone.data, alone.len), 0);
    idd_buf_dispose(&alone);
    idd_buf_dispose(&after);
}
END_TEST

/* ---- the data URI ---- */

START_TEST(test_data_uri)
{
    static const char prefix[] = "data:image/png;base64,";
    idd_buf_t png, uri;
    idd_buf_init(&png);
    idd_buf_init(&uri);
    ck_assert_int_eq(idd_qr_png(otpauth, strlen(otpauth), &png), 0);
    ck_assert_int_eq(idd_qr_data_uri(otpauth, strlen(otpauth), &uri), 0);

    ck_assert_uint_gt(uri.len, sizeof(prefix) - 1);
    ck_assert_int_eq(strncmp(uri.data, prefix, sizeof(prefix) - 1), 0);
    ck_assert_uint_eq(strlen(uri.data), uri.len);
    const char *b64 = uri.data + sizeof(prefix) - 1;
    size_t b64len = uri.len - (sizeof(prefix) - 1);
    ck_assert_uint_eq(b64len, IDD_B64_LEN(png.len));
    unsigned char *decoded = malloc(IDD_B64_DECODED_MAX(b64len));
    size_t n = 0;
    ck_assert_int_eq(idd_b64_decode(decoded, &n, b64, b64len), 0);
    ck_assert_uint_eq(n, png.len);
    ck_assert_int_eq(memcmp(decoded, png.data, n), 0);
    free(decoded);
    idd_buf_dispose(&png);
    idd_buf_dispose(&uri);
}
END_TEST

/* ---- bounds ---- */

START_TEST(test_refused_inputs)
{
    char big[IDD_QR_MAX_INPUT + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "kept");
    ck_assert_int_eq(idd_qr_png(big, IDD_QR_MAX_INPUT + 1, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_png(big, (size_t)-1, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_png("", 0, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_png(NULL, 3, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_png("a\0b", 3, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_data_uri(big, IDD_QR_MAX_INPUT + 1, &b), IDD_EINVAL);
    ck_assert_int_eq(idd_qr_data_uri("a\0b", 3, &b), IDD_EINVAL);
    ck_assert_uint_eq(b.len, 4);
    ck_assert_str_eq(b.data, "kept");

    /* The bound itself is accepted; only the length given counts, not a NUL after it. */
    idd_buf_reset(&b);
    ck_assert_int_eq(idd_qr_png(big, IDD_QR_MAX_INPUT, &b), 0);
    ck_assert_uint_gt(b.len, 0);
    idd_buf_reset(&b);
    ck_assert_int_eq(idd_qr_png("abc", 2, &b), 0);
    idd_buf_dispose(&b);
}
END_TEST

/* ---- several loops at once ---- */

struct worker {
    pthread_t thread;
    const idd_buf_t *expected;
    int mismatches;
};

static void *encode_repeatedly(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        idd_buf_t b;
        idd_buf_init(&b);
        if (idd_qr_png(otpauth, strlen(otpauth), &b) != 0 || b.len != w->expected->len ||
            memcmp(b.data, w->expected->data, b.len) != 0)
            w->mismatches++;
        idd_buf_dispose(&b);
    }
    return NULL;
}

START_TEST(test_concurrent)
{
    idd_buf_t expected;
    idd_buf_init(&expected);
    ck_assert_int_eq(idd_qr_png(otpauth, strlen(otpauth), &expected), 0);
    struct worker w[4];
    for (size_t i = 0; i < IDD_ARRAY_LEN(w); i++) {
        w[i].expected = &expected;
        w[i].mismatches = 0;
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, encode_repeatedly, &w[i]), 0);
    }
    for (size_t i = 0; i < IDD_ARRAY_LEN(w); i++) {
        ck_assert_int_eq(pthread_join(w[i].thread, NULL), 0);
        ck_assert_int_eq(w[i].mismatches, 0);
    }
    idd_buf_dispose(&expected);
}
END_TEST

/* ---- the escaper ---- */

struct escape_vector {
    const char *in;
    size_t len;
    const char *out;
};

static const struct escape_vector escapes[] = {
    {"user@example.com", 16, "user%40example.com"},
    {"ONLYOFFICE DocSpace", 19, "ONLYOFFICE%20DocSpace"},
    {"a:b", 3, "a%3Ab"},
    {"Jos\xc3\xa9", 5, "Jos%C3%A9"},  /* UTF-8, byte by byte */
    {"\xe2\x82\xac", 3, "%E2%82%AC"}, /* the euro sign */
    {"ABCXYZabcxyz0189-._~", 20, "ABCXYZabcxyz0189-._~"},
    {"/?#[]!$&'()*+,;=%", 17, "%2F%3F%23%5B%5D%21%24%26%27%28%29%2A%2B%2C%3B%3D%25"},
    {"a\0b\x7f\xff", 5, "a%00b%7F%FF"},
    {"", 0, ""},
};

START_TEST(test_uri_escape)
{
    const struct escape_vector *v = &escapes[_i];
    idd_buf_t b;
    idd_buf_init(&b);
    idd_buf_puts(&b, "x=");
    idd_uri_escape(&b, v->in, v->len);
    ck_assert_str_eq(b.data + 2, v->out);
    ck_assert_uint_eq(b.len, 2 + strlen(v->out));
    idd_buf_dispose(&b);
}
END_TEST

/* Every byte value: unreserved ones alone are kept, all others become %XX upper case. */
START_TEST(test_uri_escape_all_bytes)
{
    for (int c = 0; c < 256; c++) {
        char in = (char)c;
        idd_buf_t b;
        idd_buf_init(&b);
        idd_uri_escape(&b, &in, 1);
        int unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            ck_assert_uint_eq(b.len, 1);
            ck_assert_int_eq((unsigned char)b.data[0], c);
        } else {
            char want[4];
            snprintf(want, sizeof(want), "%%%02X", c);
            ck_assert_str_eq(b.data, want);
        }
        idd_buf_dispose(&b);
    }
}
END_TEST

static Suite *qr_suite(void)
{
    Suite *s = suite_create("qr");
    TCase *tc = tcase_create("qr");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_otpauth_decodes);
    tcase_add_test(tc, test_sizes_decode);
    tcase_add_test(tc, test_appends);
    tcase_add_test(tc, test_data_uri);
    tcase_add_test(tc, test_refused_inputs);
    tcase_add_test(tc, test_concurrent);
    tcase_add_loop_test(tc, test_uri_escape, 0, (int)IDD_ARRAY_LEN(escapes));
    tcase_add_test(tc, test_uri_escape_all_bytes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(qr_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
