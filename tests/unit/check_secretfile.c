/*
 * Unit tests of src/core/secretfile.c, the one reader of secret files: what it accepts
 * (0600, 0400), what it refuses (group or other bits, links, directories, FIFOs, empty or
 * oversized files) and that a refusal never carries the secret.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identityd/core/common.h"
#include "identityd/core/secretfile.h"

#define SECRET "s3cret-value-that-must-not-leak"

static char dir[PATH_MAX];
static char path[PATH_MAX + 32];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "%s/idd-secretfile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/secret", dir);
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_secret(const char *at, const void *bytes, size_t len, mode_t mode)
{
    unlink(at);
    int fd = open(at, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* Reads at expecting refusal rc; the message must contain needle and never the secret. */
static void refused(const char *at, size_t max, int want_rc, const char *needle)
{
    char *out = (char *)&out; /* must be reset to NULL */
    size_t len = 99;
    char err[512] = "";
    int rc = idd_secretfile_read(at, max, &out, &len, err, sizeof(err));
    ck_assert_msg(rc == want_rc, "%s: rc %d, want %d (%s)", at, rc, want_rc, err);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    ck_assert_msg(strstr(err, needle) != NULL, "'%s' lacks '%s'", err, needle);
    ck_assert_msg(strstr(err, "s3cret") == NULL, "the secret leaked: %s", err);
}

START_TEST(owner_only_files_are_read_whole)
{
    static const mode_t modes[] = {0600, 0400};
    for (size_t i = 0; i < IDD_ARRAY_LEN(modes); i++) {
        /* A NUL inside is kept: the reader returns bytes, the caller decides what they mean. */
        static const char bytes[] = SECRET "\0tail\n";
        write_secret(path, bytes, sizeof(bytes) - 1, modes[i]);
        char *out = NULL, err[256];
        size_t len = 0;
        ck_assert_int_eq(idd_secretfile_read(path, 1024, &out, &len, err, sizeof(err)), 0);
        ck_assert_uint_eq(len, sizeof(bytes) - 1);
        ck_assert_mem_eq(out, bytes, len);
        ck_assert_int_eq(out[len], '\0');
        free(out);
    }
}
END_TEST

START_TEST(group_or_other_bits_are_refused)
{
    static const mode_t modes[] = {0640, 0604, 0644, 0660, 0606, 0610, 0601, 0700 | 0010};
    for (size_t i = 0; i < IDD_ARRAY_LEN(modes); i++) {
        write_secret(path, SECRET, strlen(SECRET), modes[i]);
        refused(path, 1024, IDD_EINVAL, "group or others");
        refused(path, 1024, IDD_EINVAL, "chmod 600");
    }
}
END_TEST

START_TEST(links_and_non_files_are_refused)
{
    /* A link is judged by the file it leads to: secret mounts present files through links,
     * so a link to a 0600 file reads it, and a link to a 0644 file is refused. */
    char link_path[PATH_MAX + 32];
    write_secret(path, SECRET, strlen(SECRET), 0600);
    snprintf(link_path, sizeof(link_path), "%s/link", dir);
    ck_assert_int_eq(symlink(path, link_path), 0);
    char *text = NULL, err[256];
    size_t len = 0;
    ck_assert_int_eq(idd_secretfile_read(link_path, 1024, &text, &len, err, sizeof(err)), 0);
    ck_assert_uint_eq(len, strlen(SECRET));
    ck_assert_int_eq(memcmp(text, SECRET, len), 0);
    free(text);
    ck_assert_int_eq(chmod(path, 0644), 0);
    refused(link_path, 1024, IDD_EINVAL, "group or others");

    char sub[PATH_MAX + 32];
    snprintf(sub, sizeof(sub), "%s/folder", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    refused(sub, 1024, IDD_EINVAL, "not a regular file");

    /* A FIFO must neither hang the start nor be read. */
    char fifo[PATH_MAX + 32];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    refused(fifo, 1024, IDD_EINVAL, "not a regular file");

    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof(missing), "%s/missing", dir);
    refused(missing, 1024, IDD_EIO, missing);
    refused("", 1024, IDD_EINVAL, "no file");
}
END_TEST

START_TEST(size_is_bounded)
{
    char big[65];
    memset(big, 'k', sizeof(big));
    write_secret(path, big, 64, 0600);
    char *out = NULL, err[256];
    size_t len = 0;
    ck_assert_int_eq(idd_secretfile_read(path, 64, &out, &len, err, sizeof(err)), 0);
    ck_assert_uint_eq(len, 64);
    free(out);

    write_secret(path, big, 65, 0600);
    refused(path, 64, IDD_EINVAL, "larger than 64 bytes");
}
END_TEST

START_TEST(empty_is_refused)
{
    write_secret(path, "", 0, 0600);
    refused(path, 1024, IDD_EINVAL, "is empty");
}
END_TEST

START_TEST(trailing_whitespace_is_trimmed)
{
    ck_assert_uint_eq(idd_secretfile_trim(" a b \r\n\t\v\f ", 11), 4);
    ck_assert_uint_eq(idd_secretfile_trim("\n\n", 2), 0);
    ck_assert_uint_eq(idd_secretfile_trim("abc", 3), 3);
    /* A NUL is not whitespace: it stays for the caller to refuse. */
    ck_assert_uint_eq(idd_secretfile_trim("ab\0", 3), 3);
}
END_TEST

static Suite *secretfile_suite(void)
{
    Suite *s = suite_create("secretfile");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, owner_only_files_are_read_whole);
    tcase_add_test(tc, group_or_other_bits_are_refused);
    tcase_add_test(tc, links_and_non_files_are_refused);
    tcase_add_test(tc, size_is_bounded);
    tcase_add_test(tc, empty_is_refused);
    tcase_add_test(tc, trailing_whitespace_is_trimmed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(secretfile_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
