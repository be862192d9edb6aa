/*
 * identityd: loads the configuration, keys, pepper and database, then serves until SIGINT or
 * SIGTERM. `-t` checks all of that without changing anything and exits, so an operator can
 * test a configuration before a restart. Any problem at start is one line on stderr and
 * exit status 1. Loading a generation and the reload that replaces it are in reload.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <malloc.h>

#include "identityd/api/api.h"
#include "identityd/app/app.h"
#include "identityd/auth/auth.h"
#include "identityd/auth/credcache.h"
#include "identityd/core/attempts.h"
#include "identityd/auth/bfshare.h"
#include "identityd/core/bruteforce.h"
#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/httpclient.h"
#include "identityd/config/config.h"
#include "identityd/token/keyring.h"
#include "identityd/core/log.h"
#include "identityd/core/pacer.h"
#include "identityd/cred/password.h"
#include "identityd/http/server.h"
#include "identityd/store/store.h"
#include "identityd/core/workers.h"

#include "reload.h"

#define DEFAULT_CONFIG "config/identityd.yaml"
/* Work a pool holds at most; beyond it requests get 503 at once rather than waiting behind
 * minutes of queued work. Password checks are ~20-60 ms each; authority calls may take up
 * to the configured timeout, so fewer of them may wait. */
#define KDF_QUEUE_MAX 4096
#define OUTBOUND_QUEUE_MAX 256
#define STORE_QUEUE_MAX 4096 /* store reads waiting for a connection of the store pool */

static void usage(FILE *out)
{
    fprintf(out, "usage: identityd [-c FILE] [-t]\n"
                 "  -c FILE  configuration (default " DEFAULT_CONFIG ")\n"
                 "  -t       check the configuration, keys and database, then exit\n");
}

/* ---- core dumps ---- */

/* The soft core size limit identityd was started with, given back when core_dumps is true. */
static struct rlimit core_limit_at_start;

/* A core dump would hold the pepper, the private keys and whatever passwords are in flight,
 * and a dumpable process can be read through /proc and ptrace by any process of its user.
 * Both are turned off before anything secret is read, the configuration included (it may
 * hold a machine_key); core_dumps_settle gives them back only when the configuration asks.
 * Returns 0 or -1 (errno set). */
static int core_dumps_off(void)
{
    struct rlimit off;
    if (getrlimit(RLIMIT_CORE, &core_limit_at_start) != 0)
        return -1;
    /* The hard limit stays for now, so that core_dumps: true can restore the soft one. */
    off = (struct rlimit){.rlim_cur = 0, .rlim_max = core_limit_at_start.rlim_max};
    if (setrlimit(RLIMIT_CORE, &off) != 0)
        return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* Once the configuration is read: with core_dumps: true the start's limit and dumpability
 * come back; otherwise the hard limit drops to 0 too, so that nothing later in the process
 * can raise the soft one again. Returns 0 or -1 (errno set). */
static int core_dumps_settle(const idd_config_t *cfg)
{
    if (!cfg->core_dumps) {
        const struct rlimit none = {.rlim_cur = 0, .rlim_max = 0};
        return setrlimit(RLIMIT_CORE, &none);
    }
    if (setrlimit(RLIMIT_CORE, &core_limit_at_start) != 0 ||
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)
        return -1;
    idd_log_warn("%s: core_dumps is true: a core dump of identityd holds the pepper and "
                 "private keys",
                 cfg->path);
    return 0;
}

/* ---- the user to run as ---- */

/* Who identityd serves as (user:, group:), looked up once at start. */
typedef struct run_as {
    bool drop; /* started as root with user: set: drop to uid/gid once the ports are bound */
    uid_t uid;
    gid_t gid;
} run_as_t;

static run_as_t run_as;

/* A name, or a number when the system's databases do not know it as a name. */
static bool lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    const struct passwd *pw = getpwnam(name);
    if (pw != NULL) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return true;
    }
    char *end = NULL;
    unsigned long n = strtoul(name, &end, 10);
    if (*name == '\0' || *end != '\0' || n >= (unsigned long)UINT_MAX)
        return false;
    pw = getpwuid((uid_t)n);
    if (pw == NULL)
        return false; /* a uid with no account has no primary group to take */
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return true;
}

static bool lookup_group(const char *name, gid_t *gid)
{
    const struct group *gr = getgrnam(name);
    if (gr != NULL) {
        *gid = gr->gr_gid;
        return true;
    }
    char *end = NULL;
    unsigned long n = strtoul(name, &end, 10);
    if (*name == '\0' || *end != '\0' || n >= (unsigned long)UINT_MAX)
        return false;
    *gid = (gid_t)n;
    return true;
}

/* Resolves user: and group: into run_as. Started as root, the drop happens later (drop_to);
 * started as anyone else, identityd must already be that user and group, since it cannot
 * become them. Returns 0, or IDD_ECONFIG with err set. */
static int plan_run_as(const idd_config_t *cfg, char *err, size_t errlen)
{
    memset(&run_as, 0, sizeof(run_as));
    if (cfg->user == NULL)
        return 0;
    if (!lookup_user(cfg->user, &run_as.uid, &run_as.gid)) {
        snprintf(err, errlen, "%s:%d: user: no such user '%s'", cfg->path, cfg->user_line,
                 cfg->user);
        return IDD_ECONFIG;
    }
    if (cfg->group != NULL && !lookup_group(cfg->group, &run_as.gid)) {
        snprintf(err, errlen, "%s:%d: group: no such group '%s'", cfg->path, cfg->group_line,
                 cfg->group);
        return IDD_ECONFIG;
    }
    if (run_as.uid == 0) {
        snprintf(err, errlen, "%s:%d: user: '%s' is root; name the unprivileged user to serve as",
                 cfg->path, cfg->user_line, cfg->user);
        return IDD_ECONFIG;
    }
    if (geteuid() == 0) {
        run_as.drop = true;
        return 0;
    }
    if (geteuid() != run_as.uid || getuid() != run_as.uid || getegid() != run_as.gid ||
        getgid() != run_as.gid) {
        snprintf(err, errlen,
                 "%s:%d: user: identityd runs as uid %u gid %u, not as %s (uid %u gid %u); start "
                 "it as that user, or as root to have it switch once its ports are bound",
                 cfg->path, cfg->user_line, (unsigned)geteuid(), (unsigned)getegid(), cfg->user,
                 (unsigned)run_as.uid, (unsigned)run_as.gid);
        return IDD_ECONFIG;
    }
    return 0;
}

/* The folder of path (malloc'd). */
static char *folder_of_file(const char *path)
{
    char *dir = idd_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        free(dir);
        return idd_xstrdup(".");
    }
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return dir;
}

/* A database created by this start, as root, in a folder that belongs to the user: hand the
 * files to the user, who could not write them after the drop otherwise. Files of another
 * owner are left alone (the check after the drop then says what is wrong). */
static void hand_over_database(const char *database, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || st.st_uid != run_as.uid)
        return;
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < IDD_ARRAY_LEN(suffixes); i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s%s", database, suffixes[i]) >= (int)sizeof(path))
            continue;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
            lchown(path, run_as.uid, run_as.gid) != 0)
            idd_log_warn("%s: cannot hand over to uid %u: %s", path, (unsigned)run_as.uid,
                         strerror(errno));
    }
}

/* Key files rotation made by this start, as root, in a folder that belongs to the user: the
 * user's, as the database is, or no reload after the drop could read them. */
static void hand_over_rotation_keys(const char *dir)
{
    struct stat st;
    DIR *d = opendir(dir);
    if (d == NULL || fstat(dirfd(d), &st) != 0 || st.st_uid != run_as.uid) {
        if (d != NULL)
            closedir(d);
        return;
    }
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pem") != 0)
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == 0 &&
            fchownat(dirfd(d), e->d_name, run_as.uid, run_as.gid, AT_SYMLINK_NOFOLLOW) != 0)
            idd_log_warn("%s/%s: cannot hand over to uid %u: %s", dir, e->d_name,
                         (unsigned)run_as.uid, strerror(errno));
    }
    closedir(d);
}

/* Called once the listeners are bound and every thread's database connection is open:
 * becomes the configured user (supplementary groups, group, then user) and makes sure there
 * is no way back, then that the database can still be written. Returns 0 or IDD_EDENIED
 * (logged): identityd then does not serve at all, rather than serve as root. */
static int drop_to(void *p)
{
    const idd_app_t *app = p;
    const idd_config_t *cfg = atomic_load(&app->gen)->cfg;
    if (cfg->user == NULL)
        return 0;
    /* A PostgreSQL database is no file of this machine: nothing to hand over or check. */
    const char *file = idd_store_file(cfg->database);
    char *dir = file != NULL ? folder_of_file(file) : NULL;
    int rc = IDD_EDENIED;
    if (run_as.drop) {
        if (file != NULL)
            hand_over_database(file, dir);
        if (cfg->rotation_every > 0)
            hand_over_rotation_keys(cfg->rotation_dir);
        if (setgroups(1, &run_as.gid) != 0 || setgid(run_as.gid) != 0 || setuid(run_as.uid) != 0) {
            idd_log_error("%s:%d: user: cannot switch to %s (uid %u gid %u): %s; not serving as "
                          "root",
                          cfg->path, cfg->user_line, cfg->user, (unsigned)run_as.uid,
                          (unsigned)run_as.gid, strerror(errno));
            goto done;
        }
        /* Every thread has switched (glibc applies set*id to all of them); root must be out
         * of reach for good. */
        if (getuid() != run_as.uid || geteuid() != run_as.uid || getgid() != run_as.gid ||
            getegid() != run_as.gid || setuid(0) == 0 || seteuid(0) == 0) {
            idd_log_error("%s:%d: user: the switch to %s did not hold; not serving as root",
                          cfg->path, cfg->user_line, cfg->user);
            goto done;
        }
        /* A set*id call clears the dumpable flag; core_dumps: true asked for it. */
        if (cfg->core_dumps)
            prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        idd_log_info("serving as user %s (uid %u, gid %u)", cfg->user, (unsigned)run_as.uid,
                     (unsigned)run_as.gid);
    }
    if (file != NULL && (access(file, R_OK | W_OK) != 0 || access(dir, W_OK | X_OK) != 0)) {
        idd_log_error("%s: database %s: not writable by user %s: the database and its folder "
                      "%s must belong to that user",
                      cfg->path, file, cfg->user, dir);
        goto done;
    }
    rc = 0;
done:
    free(dir);
    return rc;
}

/* jansson holds request bodies, passwords included: whatever it frees is wiped first. */
static void *json_alloc(size_t size)
{
    return idd_xmalloc(size);
}

static void json_release(void *p)
{
    if (p != NULL) {
        idd_wipe(p, malloc_usable_size(p));
        free(p);
    }
}

/* -t looks at the database without changing it: a file that exists must open and carry a
 * schema this program knows (older is fine: it would be migrated at start); a missing one
 * would be created at start, so only its folder has to exist. */
static int check_store(const idd_config_t *cfg, char *err, size_t errlen)
{
    idd_store_t *store = NULL;
    int version = 0, rc = 0;
    const char *file = idd_store_file(cfg->database);
    if (file != NULL && access(file, F_OK) != 0) {
        char *dir = idd_xstrdup(file);
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        if (slash != NULL && access(dir, W_OK) != 0) {
            snprintf(err, errlen, "%s: database folder %s is missing or not writable", cfg->path,
                     dir);
            rc = IDD_EIO;
        }
        free(dir);
        return rc;
    }
    rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
    if (rc == 0)
        rc = idd_store_schema_version(store, &version);
    if (rc != 0)
        snprintf(err, errlen, "%s: cannot read database %s", cfg->path, cfg->database);
    else if (version > idd_store_latest_version()) {
        snprintf(err, errlen,
                 "%s: database %s has schema version %d; this identityd knows up to %d", cfg->path,
                 cfg->database, version, idd_store_latest_version());
        rc = IDD_ESCHEMA;
    }
    idd_store_free(store);
    return rc;
}

/* At start, before any secret is read: as the wrong user, identityd stops there. */
static int plan_run_as_before_secrets(idd_config_t *cfg, char *err, size_t errlen)
{
    return plan_run_as(cfg, err, errlen);
}

/* ---- what the HTTP layer calls back ---- */

static void setup_routes(void *p, h2o_hostconf_t *hostconf)
{
    idd_router_register(hostconf, p, idd_routes, idd_routes_count, false);
}

/* metrics_listen's own host: GET /metrics alone. */
static void setup_metrics(void *p, h2o_hostconf_t *hostconf)
{
    idd_router_register(hostconf, p, idd_routes, idd_routes_count, true);
}

static int thread_init(void *p, idd_http_thread_t *http)
{
    idd_thread_t *t = NULL;
    int rc = idd_app_thread_new(p, http, &t);
    if (rc != 0)
        return rc;
    rc = idd_auth_thread_init(t);
    if (rc != 0) {
        idd_app_thread_free(t);
        return rc;
    }
    http->data = t;
    return 0;
}

static void thread_dispose(void *p, idd_http_thread_t *http)
{
    (void)p;
    idd_thread_t *t = http->data;
    idd_auth_thread_dispose(t);
    idd_app_thread_free(t);
    http->data = NULL;
}

/* Queued password checks and authority calls are handed back unrun: their loops answer 503.
 * Those already running get shutdown_timeout to finish. The store pool keeps taking work:
 * a request in flight does its store work there (a check that lands still starts a session
 * or reads a two-factor setting), and each step is short; the loops, which wait for their
 * work before they end, wait for it within the same grace. */
static int stopping(void *p)
{
    idd_app_t *app = p;
    idd_workers_cancel(app->workers);
    idd_workers_cancel(app->outbound);
    /* The checks still running have the grace to finish in: at full speed. */
    idd_pacer_release(app->kdf_pacer);
    return atomic_load(&app->gen)->cfg->shutdown_timeout * 1000;
}

static bool thread_busy(void *p, idd_http_thread_t *http)
{
    (void)p;
    return http->data != NULL && idd_auth_thread_busy(http->data);
}

/* TLS listeners' files, as -t and the start check them: readable, the key owner-only and
 * matching its certificate. */
static int check_tls(const idd_config_t *cfg, char *err, size_t errlen)
{
    idd_listeners_t h;
    idd_listeners_make(cfg, &h);
    int rc = idd_http_tls_check(h.listen, h.n, cfg->http2, err, errlen);
    idd_listeners_free(&h);
    return rc;
}

/* The last API key uses, noted since thread 0's last flush, are written before exit. */
static void flush_usage(idd_app_t *app)
{
    idd_store_t *store = NULL;
    const idd_config_t *cfg = atomic_load(&app->gen)->cfg;
    if (idd_store_open_secret(cfg->database, cfg->database_password_file, &store) == 0)
        idd_apikey_usage_flush(app->apikey_usage, store);
    idd_store_free(store);
}

/* Serves until a stop signal. Returns 0 or an IDD_E* code; when requests outlive
 * shutdown_timeout, writes what must be written and ends the process with status 0. */
static int serve(idd_app_t *app)
{
    const idd_config_t *cfg = atomic_load(&app->gen)->cfg;
    idd_listeners_t h;
    idd_listeners_make(cfg, &h);
    idd_http_server_t server = {
        .listen = h.listen,
        .n_listen = h.n,
        .threads = cfg->threads,
        .max_body_bytes = cfg->max_body_bytes,
        .limits = {.http2 = cfg->http2,
                   .max_connections = cfg->max_connections,
                   .http2_max_resets = cfg->http2_max_resets,
                   .per_connection = cfg->queue_per_connection,
                   .per_client = cfg->queue_per_client,
                   .max_wait_ms = cfg->queue_max_wait_ms},
        .hooks = {.app = app,
                  .setup = setup_routes,
                  .setup_metrics = setup_metrics,
                  .thread_init = thread_init,
                  .thread_dispose = thread_dispose,
                  .stopping = stopping,
                  .thread_busy = thread_busy,
                  .reload = idd_reload_hook,
                  .idle = idd_reload_idle_hook,
                  .bound = drop_to},
    };
    char metrics_origin[512];
    idd_http_listen_t metrics_listen;
    if (cfg->metrics_listen_set) {
        snprintf(metrics_origin, sizeof(metrics_origin), "%s:%d", cfg->path,
                 cfg->metrics_listen.line);
        metrics_listen = (idd_http_listen_t){cfg->metrics_listen.host, cfg->metrics_listen.port,
                                             metrics_origin, NULL};
        server.metrics_listen = &metrics_listen;
    }
    int rc = idd_http_run(&server);
    if (rc == IDD_HTTP_ABANDONED) {
        /* Requests outlived shutdown_timeout: their loops and worker jobs still hold the
         * application's state, so nothing is freed. What must reach the database does, and
         * the process ends here. */
        flush_usage(app);
        idd_workers_abandon(app->workers);
        idd_workers_abandon(app->outbound);
        idd_workers_abandon(app->storepool);
        if (cfg->pid_file != NULL)
            unlink(cfg->pid_file);
        idd_log_info("identityd stopped");
        (void)fflush(NULL); /* best effort: the process ends either way */
        _exit(0);
    }
    idd_listeners_free(&h);
    return rc;
}

/* The sign-in page's folder: web_dir, else share/identityd/web beside the folder of the
 * running binary (an installed identityd), else the source tree's (a build tree's). */
static void load_web(idd_app_t *app, const idd_config_t *cfg)
{
    char dir[4200] = "", err[512] = "";
    if (cfg->web_dir != NULL) {
        snprintf(dir, sizeof(dir), "%s", cfg->web_dir);
    } else {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
        struct stat st;
        if (slash != NULL) {
            *slash = '\0';
            snprintf(dir, sizeof(dir), "%s/../share/identityd/web", exe);
        }
        if (dir[0] == '\0' || stat(dir, &st) != 0)
            snprintf(dir, sizeof(dir), "%s", IDD_WEB_SOURCE_DIR);
    }
    if (idd_web_load(dir, &app->web, err, sizeof(err)) != 0)
        idd_log_warn("the sign-in page is not served (/login answers 404): %s", err);
}

/* Writes the pid for `identityctl reload` and service managers. Returns 0 or -1 (errno). */
static int write_pid_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    char line[32];
    int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
    int rc = write(fd, line, (size_t)n) == n ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

int main(int argc, char **argv)
{
    const char *config_path =
        getenv("IDENTITYD_CONFIG") ? getenv("IDENTITYD_CONFIG") : DEFAULT_CONFIG;
    int test_only = 0, opt;
    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    int status = 1;
    char err[1024] = "";
    idd_app_t app;
    memset(&app, 0, sizeof(app));
    pthread_mutex_init(&app.gen_lock, NULL);
    idd_gen_t *g = NULL;

    /* A write past RLIMIT_FSIZE (a file size limit set on the process, the way a full disk is
     * often bounded) must fail with EFBIG, which SQLite reports and identityd answers 503,
     * rather than end the process: SIGXFSZ's default action is to kill it. */
    (void)signal(SIGXFSZ, SIG_IGN);
    if (core_dumps_off() != 0) {
        fprintf(stderr, "cannot turn core dumps off: %s\n", strerror(errno));
        return 1;
    }
    /* plan_run_as before any secret is read: as the wrong user, identityd stops there. */
    if (idd_gen_load(config_path, test_only, plan_run_as_before_secrets, &g, err, sizeof(err)) !=
        0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    atomic_store(&app.gen, g);
    const idd_config_t *cfg = g->cfg;
    idd_log_set_level(cfg->log_level);
    idd_log_set_format(cfg->log_format);
    if (core_dumps_settle(cfg) != 0) {
        fprintf(stderr, "%s: core_dumps: cannot apply: %s\n", cfg->path, strerror(errno));
        goto done;
    }
    if (idd_pepper_load(cfg->pepper_file, &app.pepper, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s:%d: password.pepper_file: %s\n", cfg->path, cfg->pepper_file_line, err);
        goto done;
    }
    if (check_tls(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (test_only) {
        if (check_store(cfg, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            goto done;
        }
        printf("configuration OK\n");
        status = 0;
        goto done;
    }
    if (idd_gen_prepare_store(g, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }

    const idd_key_t *active = idd_keyring_active(g->keyring);
    idd_log_info("identityd starting: %d threads, %d workers, signing with %s key %s", cfg->threads,
                 cfg->workers, idd_alg_name(active->alg), active->kid);
    idd_http_block_signals();
    json_set_alloc_funcs(json_alloc, json_release);
    idd_http_global_init();
    const idd_bruteforce_limits_t limits = {
        .attempts = cfg->bruteforce_attempts,
        .window = cfg->bruteforce_window,
        .block = cfg->bruteforce_block,
        .client_attempts = cfg->bruteforce_client_attempts,
        .client_window = cfg->bruteforce_client_window,
        .login_attempts = cfg->bruteforce_login_attempts,
        .login_window = cfg->bruteforce_login_window,
        .ipv6_prefix = cfg->bruteforce_ipv6_prefix,
    };
    app.bruteforce = idd_bruteforce_new_limits((size_t)cfg->bruteforce_slots, &limits);
    if (cfg->bruteforce_unsafe_test_clock)
        idd_log_warn("bruteforce.unsafe_test_clock is on: any client can move the lockout "
                     "clock; never use this outside tests");
    if (app.bruteforce == NULL) {
        fprintf(stderr, "%s: bruteforce: cannot set up the attempt table\n", cfg->path);
        goto done;
    }
    {
        /* The counters' key comes from the store, so that every instance on one database
         * names a counter alike (auth/bfshare.h). */
        idd_store_t *store = NULL;
        int rc = idd_store_open_secret(cfg->database, cfg->database_password_file, &store);
        if (rc == 0)
            rc = idd_bfshare_start(&app, store);
        idd_store_free(store);
        if (rc != 0) {
            fprintf(stderr, "%s: bruteforce: cannot read the shared counters' key from %s: %s\n",
                    cfg->path, cfg->database, idd_strerror(rc));
            goto done;
        }
    }
    app.apikey_usage = idd_apikey_usage_new();
    app.credcache = idd_credcache_new((size_t)cfg->cache_entries);
    app.tfa_attempts = idd_attempts_new((size_t)cfg->tfa_slots, cfg->tfa_attempts,
                                        (int64_t)cfg->tfa_attempts_window * 1000);
    if (app.tfa_attempts == NULL) {
        fprintf(stderr, "%s: tfa: cannot set up the attempt table\n", cfg->path);
        goto done;
    }
    load_web(&app, cfg);
    app.thread_metrics = idd_metrics_threads_new(cfg->threads);
    app.n_thread_metrics = cfg->threads;
    pthread_mutex_init(&app.minted_keys.lock, NULL);
    /* Password checks are deliberately slow; a flood of them must not delay the loops that
     * answer everyone else, so the KDF threads run as batch work: a loop woken by a request
     * runs at once instead of waiting for a check's time slice to end, while the checks keep
     * their fair share of the CPU (so that they still finish on a busy machine). */
    app.workers = idd_workers_new_named(cfg->workers, KDF_QUEUE_MAX, "identityd-kdf", true, 0);
    /* And while the loops are busy, the checks together get password.busy_percent of the
     * loops' cores, no more: a flood of wrong passwords slows sign-ins, not tokens. */
    app.kdf_pacer = idd_pacer_new(cfg->password_busy_percent, cfg->threads, idd_http_loops_cpu_ns);
    app.outbound =
        idd_workers_new_named(cfg->workers, OUTBOUND_QUEUE_MAX, "identityd-out", false, 0);
    /* A networked database is read off the loops (auth/storeread.h), by threads of its own
     * with a connection each: two per loop, so that a round trip per miss keeps up. */
    app.database = cfg->database;
    app.database_password_file = cfg->database_password_file;
    if (idd_store_file(cfg->database) == NULL)
        app.storepool =
            idd_workers_new_named(2 * cfg->threads, STORE_QUEUE_MAX, "identityd-db", false, 0);
    if (cfg->pid_file != NULL && write_pid_file(cfg->pid_file) != 0) {
        fprintf(stderr, "%s: pid_file %s: %s\n", cfg->path, cfg->pid_file, strerror(errno));
        goto done;
    }
    /* The start's generation stays readable through cfg until the end, reloads or not: the
     * listeners were made from it and the keys that apply only at start live in it. */
    idd_gen_hold(g);
    if (serve(&app) == 0)
        status = 0;
    if (cfg->pid_file != NULL)
        unlink(cfg->pid_file);
    idd_workers_free(app.workers);
    idd_workers_free(app.outbound);
    idd_workers_free(app.storepool);
    app.workers = app.outbound = app.storepool = NULL;
    flush_usage(&app);
    idd_log_info("identityd stopped");
    idd_gen_release(g);

done:
    idd_workers_free(app.workers);
    idd_workers_free(app.outbound);
    idd_workers_free(app.storepool);
    idd_pacer_free(app.kdf_pacer);
    idd_apikey_usage_free(app.apikey_usage);
    idd_credcache_free(app.credcache);
    free(app.thread_metrics);
    idd_bruteforce_free(app.bruteforce);
    idd_attempts_free(app.tfa_attempts);
    idd_web_free(app.web);
    idd_pepper_wipe(&app.pepper);
    /* The loops have let go of theirs; this is the app's hold on the last one. */
    idd_gen_release(atomic_load(&app.gen));
    pthread_mutex_destroy(&app.gen_lock);
    return status;
}
