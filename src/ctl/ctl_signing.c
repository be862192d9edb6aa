/*
 * identityctl's commands for signing keys in service (see ctl.h): `key rotate` writes a new
 * key under a fresh kid and prints the keys: line that introduces it as published, the first
 * step of the rotation the README describes; `reload` signals the identityd whose pid is in
 * pid_file to reload its configuration.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "identityd/core/common.h"
#include "identityd/core/jwa.h"
#include "identityd/token/keyring.h"

int idd_ctl_key_rotate(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)cfg;
    (void)variant;
    idd_alg_t alg;
    const char *alg_name = args->values[OPT_ALG];
    if (idd_alg_parse(alg_name, IDD_JWA_SIGNING & ~IDD_JWA_HS256, &alg) != 0) {
        fprintf(stderr, "identityctl: --alg must be ES256, RS256 or EdDSA, not \"%s\"\n", alg_name);
        return IDD_EINVAL;
    }
    char dir[PATH_MAX];
    if (realpath(args->values[OPT_DIR], dir) == NULL) {
        fprintf(stderr, "identityctl: --dir %s: %s\n", args->values[OPT_DIR], strerror(errno));
        return IDD_EIO;
    }

    char kid[32];
    if (idd_key_new_kid(alg, idd_now(), kid) != 0) {
        fprintf(stderr, "identityctl: no random bytes for the kid\n");
        return IDD_ECRYPTO;
    }
    size_t len = strlen(dir) + strlen(kid) + 6;
    char *path = idd_xmalloc(len);
    snprintf(path, len, "%s/%s.pem", dir, kid);
    char err[512] = "";
    int rc = idd_key_generate(alg, path, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "identityctl: %s\n", err[0] ? err : idd_strerror(rc));
        free(path);
        return rc;
    }
    /* The line alone on stdout, for scripts; what to do with it on stderr. */
    fprintf(stderr,
            "wrote %s private key to %s\n"
            "add this line under keys: in the configuration, then reload; once consumers have\n"
            "fetched the JWKS (jwks.max_age), make it active and the old key published:\n",
            idd_alg_name(alg), path);
    printf("  - { kid: %s, alg: %s, file: %s, state: published }\n", kid, idd_alg_name(alg), path);
    free(path);
    return 0;
}

/* The pid in path: one line of decimal digits, nothing else. 0 when it is not that. */
static pid_t read_pid(const char *path)
{
    char buf[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n == 0 || n > 9 || strspn(buf, "0123456789") != (size_t)n)
        return 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 1 ? (pid_t)pid : 0;
}

/* Whether process pid is an identityd: a stale pid file may name somebody else by now. */
static int is_identityd(pid_t pid)
{
    char path[64], comm[32] = "";
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, comm, sizeof(comm) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    comm[n] = '\0';
    comm[strcspn(comm, "\n")] = '\0';
    return strcmp(comm, "identityd") == 0;
}

int idd_ctl_reload(const idd_ctl_args_t *args, const idd_config_t *cfg, int variant)
{
    (void)args;
    (void)variant;
    if (cfg->pid_file == NULL) {
        fprintf(stderr, "identityctl: %s has no pid_file: send SIGHUP to identityd yourself\n",
                cfg->path);
        return IDD_ECONFIG;
    }
    pid_t pid = read_pid(cfg->pid_file);
    if (pid < 0) {
        fprintf(stderr, "identityctl: %s: %s (is identityd running?)\n", cfg->pid_file,
                strerror(errno));
        return IDD_EIO;
    }
    if (pid == 0) {
        fprintf(stderr, "identityctl: %s does not hold a pid\n", cfg->pid_file);
        return IDD_EINVAL;
    }
    if (!is_identityd(pid)) {
        fprintf(stderr, "identityctl: process %d named by %s is not identityd (stale pid file?)\n",
                (int)pid, cfg->pid_file);
        return IDD_ENOTFOUND;
    }
    if (kill(pid, SIGHUP) != 0) {
        fprintf(stderr, "identityctl: cannot signal identityd (pid %d): %s\n", (int)pid,
                strerror(errno));
        return IDD_EIO;
    }
    printf("asked identityd (pid %d) to reload; its log says whether the new configuration "
           "serves\n",
           (int)pid);
    return 0;
}
