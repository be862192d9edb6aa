/*
 * Core dumps of a running identityd: off by default, since a dump holds the pepper and the
 * private keys, and left as they were with core_dumps: true. Two things are observed from
 * outside the process:
 *
 * - the core size limit, in /proc/PID/limits ("Max core file size", soft and hard);
 * - whether the process is dumpable. The kernel shows that flag to no other process, but it
 *   gives the files of /proc/PID/ to root:root when the process is not dumpable, and to the
 *   process's own user when it is (proc(5)). That only tells something when identityd does
 *   not run as root, so when the tests run as root (as in the container) identityd is started
 *   as the unprivileged uid 65534 through setpriv(1), its test folder handed to that uid; as
 *   an ordinary user it runs as that user. Each test first checks on a child of its own that
 *   the owner does tell dumpable from not on this kernel.
 *
 * The test gives itself a non-zero soft core limit first, which identityd inherits, so that
 * "off" is something identityd did rather than the environment's default.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WANT_SOFT ((rlim_t)4 * 1024 * 1024) /* what the test asks for, if the hard limit allows */
#define NOBODY 65534                        /* the uid identityd runs as when the tests are root */

static th_env_t env;
static th_server_t srv;

/* The user identityd runs as in these tests. */
static uid_t run_uid(void)
{
    return getuid() == 0 ? NOBODY : getuid();
}

/* Appends disable_coredump=0 to the sanitizer options variable name. */
static void keep_core_limit(const char *name)
{
    const char *was = getenv(name);
    char *options = th_strf("%s%sdisable_coredump=0", was != NULL ? was : "",
                            was != NULL && was[0] != '\0' ? ":" : "");
    ck_assert_int_eq(setenv(name, options, 1), 0);
    free(options);
}

/* Raises this process's soft core limit (inherited by identityd) to WANT_SOFT, or to the
 * hard limit when that is lower; returns the soft limit now in force. AddressSanitizer and
 * ThreadSanitizer set the limit of every process they start in to 0 unless told not to: in
 * a sanitizer build, identityd is told, so that it sees the limit it was given. */
static rlim_t raise_own_core_limit(void)
{
    keep_core_limit("ASAN_OPTIONS");
    keep_core_limit("TSAN_OPTIONS");
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_CORE, &rl), 0);
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < WANT_SOFT ? rl.rlim_max : WANT_SOFT;
    ck_assert_int_eq(setrlimit(RLIMIT_CORE, &rl), 0);
    return rl.rlim_cur;
}

/* One value of a /proc/PID/limits column: a number, or "unlimited". */
static rlim_t parse_limit(const char *s)
{
    if (strcmp(s, "unlimited") == 0)
        return RLIM_INFINITY;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    ck_assert_msg(end != s && *end == '\0', "limit '%s' is not a number", s);
    return (rlim_t)v;
}

/* The soft and hard core size limits of pid, from /proc/PID/limits. */
static void core_limits(pid_t pid, rlim_t *soft, rlim_t *hard)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    char *text = th_read_file(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    const char *line = strstr(text, "Max core file size");
    ck_assert_msg(line != NULL, "no core line in %s:\n%s", path, text);
    char s[32], h[32];
    ck_assert_int_eq(sscanf(line + strlen("Max core file size"), "%31s %31s", s, h), 2);
    *soft = parse_limit(s);
    *hard = parse_limit(h);
    free(text);
}

/* The owner of /proc/PID/environ: root when pid is not dumpable, its user when it is. */
static uid_t proc_owner(pid_t pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    ck_assert_msg(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return st.st_uid;
}

/* The owner of /proc/PID/environ for a child running as run_uid() that made itself dumpable
 * or not: checks that the observable works here before it is trusted. */
static uid_t probe_owner(int dumpable)
{
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        if (getuid() == 0 &&
            (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0))
            _exit(1);
        /* A change of user clears the flag by itself: set it either way. */
        if (prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0) != 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    close(ready[0]);
    uid_t owner = proc_owner(child);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return owner;
}

static void assert_observable_works(void)
{
    ck_assert_uint_eq(probe_owner(1), run_uid());
    ck_assert_uint_eq(probe_owner(0), 0);
}

/* Starts identityd on a fresh environment with extra_yaml, as run_uid(). */
static void start(const char *extra_yaml)
{
    static char real_bin[TH_PATH];
    th_env_init(&env, extra_yaml, NULL);
    if (getuid() == 0) {
        if (real_bin[0] == '\0')
            snprintf(real_bin, sizeof real_bin, "%s", th_bin());
        char *wrapper = th_strf("%s/as-nobody", env.dir);
        char *script = th_strf("#!/bin/sh\nexec setpriv --reuid=%d --regid=%d --clear-groups -- "
                               "'%s' \"$@\"\n",
                               NOBODY, NOBODY, real_bin);
        th_write_file(wrapper, script, 0700);
        char *chown = th_strf("chown -R %d:%d '%s'", NOBODY, NOBODY, env.dir);
        ck_assert_int_eq(system(chown), 0);
        ck_assert_int_eq(setenv("IDD_BIN", wrapper, 1), 0);
        free(chown);
        free(script);
        free(wrapper);
    }
    th_server_start(&srv, &env);
}

static void stop(void)
{
    ck_assert_int_eq(th_server_stop(&srv), 0);
    th_env_dispose(&env);
}

/* By default identityd turns core dumps off, soft and hard, and is not dumpable. */
START_TEST(core_dumps_off_by_default)
{
    TH_SKIP_UNLESS_SQLITE("identityd runs as another user here, and the test server's socket is "
                          "private to its own user");
    rlim_t own = raise_own_core_limit();
    ck_assert_msg(own > 0, "the hard core limit is 0 here: nothing to tell apart");
    assert_observable_works();

    start(NULL);
    rlim_t soft = 1, hard = 1;
    core_limits(srv.pid, &soft, &hard);
    ck_assert_msg(soft == 0 && hard == 0, "identityd's core limits are %llu / %llu",
                  (unsigned long long)soft, (unsigned long long)hard);
    ck_assert_msg(proc_owner(srv.pid) == 0, "identityd is dumpable");
    stop();
}
END_TEST

/* core_dumps: false says the same as the default. */
START_TEST(core_dumps_false)
{
    TH_SKIP_UNLESS_SQLITE("identityd runs as another user here, and the test server's socket is "
                          "private to its own user");
    raise_own_core_limit();
    assert_observable_works();
    start("core_dumps: false\n");
    rlim_t soft = 1, hard = 1;
    core_limits(srv.pid, &soft, &hard);
    ck_assert(soft == 0 && hard == 0);
    ck_assert_uint_eq(proc_owner(srv.pid), 0);
    stop();
}
END_TEST

/* core_dumps: true leaves the limits identityd was started with, and the process dumpable;
 * identityd warns about what a dump holds. */
START_TEST(core_dumps_true_leaves_them)
{
    TH_SKIP_UNLESS_SQLITE("identityd runs as another user here, and the test server's socket is "
                          "private to its own user");
    rlim_t own = raise_own_core_limit();
    struct rlimit mine;
    ck_assert_int_eq(getrlimit(RLIMIT_CORE, &mine), 0);
    assert_observable_works();

    start("core_dumps: true\n");
    rlim_t soft = 0, hard = 0;
    core_limits(srv.pid, &soft, &hard);
    ck_assert_msg(soft == own && hard == mine.rlim_max, "identityd's core limits are %llu / %llu",
                  (unsigned long long)soft, (unsigned long long)hard);
    ck_assert_msg(proc_owner(srv.pid) == run_uid(), "identityd is not dumpable");
    ck_assert(th_file_contains(srv.log, "core_dumps is true", strlen("core_dumps is true")));
    stop();
}
END_TEST

/* A value that is not a boolean stops identityd at start, with the line. */
START_TEST(core_dumps_not_a_boolean)
{
    th_env_init(&env, "core_dumps: yes-please\n", NULL);
    const char *argv[] = {th_bin(), "-c", env.config, "-t", NULL};
    char *err = NULL;
    ck_assert_int_eq(th_run(argv, NULL, NULL, &err), 1);
    ck_assert_msg(strstr(err, "core_dumps") != NULL, "stderr: %s", err);
    free(err);
    th_env_dispose(&env);
}
END_TEST

static Suite *coredumps_suite(void)
{
    Suite *s = suite_create("coredumps");
    TCase *tc = tcase_create("coredumps");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, core_dumps_off_by_default);
    tcase_add_test(tc, core_dumps_false);
    tcase_add_test(tc, core_dumps_true_leaves_them);
    tcase_add_test(tc, core_dumps_not_a_boolean);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return th_run_suite(coredumps_suite());
}
