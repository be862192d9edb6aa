/*
 * TLS on identityd's own listeners. Each TLS listener keeps two kinds of SSL_CTX:
 *
 * - its base context, made at start and kept for the whole run: h2o's accept context points
 *   at it and every connection's SSL object is made from it, so it also holds the listener's
 *   session cache;
 * - its current context, holding what the files said at the last (re)load: the certificate
 *   chain, the key and the minimum version. When a client's hello arrives, the handshake
 *   switches to the current context (SSL_set_SSL_CTX, which takes a reference) and its
 *   minimum version.
 *
 * A reload builds every new context first and swaps them all under tls_lock only when every
 * file was good; the old ones are released by reference count: a handshake that already
 * switched keeps its context until its connection ends. The lock is held per handshake
 * only while the pointer is read and the reference taken, never per request.
 *
 * Session tickets are off, so there are no ticket keys to generate, rotate or leak: a
 * session resumes from the base context's server-side cache (bounded, and emptied by a
 * reload so that no session outlives the key it was made under).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "identityd/core/common.h"
#include "identityd/core/ct.h"
#include "identityd/core/log.h"
#include "identityd/core/secretfile.h"
#include "identityd/http/server.h"
#include "http/loop.h"

#define KEY_FILE_MAX (64 * 1024) /* a PEM private key; RSA 8192 is under 7 KiB */
#define SESSION_CACHE_SIZE 4096  /* sessions kept per listener; OpenSSL drops the oldest */
#define SESSION_TIMEOUT_S 300    /* how long a session may be resumed */
#define SESSION_ID_CONTEXT "identityd"
/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are OpenSSL's defaults). */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

static const h2o_iovec_t alpn_h2[] = {{H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};
static const h2o_iovec_t alpn_http1[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};

typedef struct tls_listener {
    SSL_CTX *base;    /* NULL: a cleartext listener */
    SSL_CTX *current; /* under tls_lock */
    /* The listener as started, copied: a reload may come after the configuration the
     * server started from has been freed. */
    char host[64];
    unsigned port;
} tls_listener_t;

static pthread_mutex_t tls_lock = PTHREAD_MUTEX_INITIALIZER;
/* What the running server serves (under tls_lock): set by idd_http_tls_start, cleared by
 * idd_http_tls_stop. */
static tls_listener_t *tls_listeners;
static size_t tls_n;
static bool tls_http2;

/* The key is read from memory: a passphrase prompt must never block the start. */
// NOLINTNEXTLINE(readability-non-const-parameter): OpenSSL's pem_password_cb signature
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1;
}

/* OpenSSL's reason for the last error, never any key material; clears the queue. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return why != NULL ? why : "unknown error";
}

static int load_key(SSL_CTX *ctx, const idd_http_tls_t *t, char *err, size_t errlen)
{
    char *pem = NULL, why[512];
    size_t len = 0;
    int rc = idd_secretfile_read(t->key_file, KEY_FILE_MAX, &pem, &len, why, sizeof(why));
    if (rc != 0) {
        snprintf(err, errlen, "%s: tls.key_file: %s", t->key_origin, why);
        return IDD_ECONFIG;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    idd_wipe(pem, len);
    free(pem);
    rc = IDD_ECONFIG;
    if (key == NULL)
        snprintf(err, errlen, "%s: tls.key_file: %s is not an unencrypted PEM private key (%s)",
                 t->key_origin, t->key_file, ssl_reason());
    else if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        snprintf(err, errlen, "%s: tls.key_file: %s does not match the certificate in %s (%s)",
                 t->key_origin, t->key_file, t->cert_file, ssl_reason());
    else
        rc = 0;
    EVP_PKEY_free(key);
    return rc;
}

static int load_cert(SSL_CTX *ctx, const idd_http_tls_t *t, char *err, size_t errlen)
{
    /* Named before OpenSSL reads it, so that a missing file says so plainly. */
    FILE *f = fopen(t->cert_file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: tls.cert_file: cannot read %s: %s", t->cert_origin, t->cert_file,
                 strerror(errno));
        return IDD_ECONFIG;
    }
    (void)fclose(f); /* opened only to tell "cannot read" apart; nothing was read */
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        snprintf(err, errlen, "%s: tls.cert_file: %s is not a PEM certificate chain (%s)",
                 t->cert_origin, t->cert_file, ssl_reason());
        return IDD_ECONFIG;
    }
    return 0;
}

/* A context serving t; NULL with err set when a file is bad. */
static SSL_CTX *ctx_new(const idd_http_tls_t *t, bool http2, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "%s: cannot make a TLS context (%s)", t->cert_origin, ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, t->min_version == IDD_HTTP_TLS_1_3 ? TLS1_3_VERSION
                                                                          : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE_SIZE);
    SSL_CTX_set_timeout(ctx, SESSION_TIMEOUT_S);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SESSION_ID_CONTEXT,
                                   sizeof(SESSION_ID_CONTEXT) - 1);
    /* TLS 1.3 without tickets still announces stateful sessions (cache ids): one is enough. */
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 || load_cert(ctx, t, err, errlen) != 0 ||
        load_key(ctx, t, err, errlen) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "%s: cannot set the TLS ciphers (%s)", t->cert_origin,
                     ssl_reason());
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* ALPN: h2 only when HTTP/2 is on; otherwise only http/1.1 is ever agreed. */
    h2o_ssl_register_alpn_protocols(ctx, http2 ? alpn_h2 : alpn_http1);
    return ctx;
}

/* Makes the handshake use the listener's current context: its certificate, key and minimum
 * version. Called for each ClientHello (twice after a HelloRetryRequest), before OpenSSL
 * picks the version or looks up a session. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    tls_listener_t *li = arg;
    pthread_mutex_lock(&tls_lock);
    SSL_CTX *cur = li->current;
    bool ok = SSL_get_SSL_CTX(ssl) == cur || SSL_set_SSL_CTX(ssl, cur) == cur;
    long min = SSL_CTX_get_min_proto_version(cur);
    pthread_mutex_unlock(&tls_lock);
    if (!ok || SSL_set_min_proto_version(ssl, min) != 1) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Builds a context for every TLS listener of listen into out[] (NULL for cleartext ones);
 * on failure frees what it built. */
static int build_all(const idd_http_listen_t *listen, size_t n, bool http2, SSL_CTX **out,
                     char *err, size_t errlen)
{
    err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (listen[i].tls == NULL)
            continue;
        out[i] = ctx_new(listen[i].tls, http2, err, errlen);
        if (out[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                SSL_CTX_free(out[j]);
            return IDD_ECONFIG;
        }
    }
    return 0;
}

int idd_http_tls_check(const idd_http_listen_t *listen, size_t n, bool http2, char *err,
                       size_t errlen)
{
    SSL_CTX **ctxs = idd_xcalloc(n > 0 ? n : 1, sizeof(SSL_CTX *));
    int rc = build_all(listen, n, http2, ctxs, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        SSL_CTX_free(ctxs[i]);
    free(ctxs);
    return rc;
}

int idd_http_tls_start(const idd_http_server_t *server, char *err, size_t errlen)
{
    size_t n = server->n_listen;
    SSL_CTX **ctxs = idd_xcalloc(n > 0 ? n : 1, sizeof(SSL_CTX *));
    int rc = build_all(server->listen, n, server->limits.http2, ctxs, err, errlen);
    if (rc != 0) {
        free(ctxs);
        return rc;
    }
    tls_listener_t *lis = idd_xcalloc(n > 0 ? n : 1, sizeof(*lis));
    for (size_t i = 0; i < n; i++) {
        snprintf(lis[i].host, sizeof(lis[i].host), "%s", server->listen[i].host);
        lis[i].port = server->listen[i].port;
        if (ctxs[i] == NULL)
            continue;
        /* The first current context is the base itself, with a reference of its own. */
        SSL_CTX_up_ref(ctxs[i]);
        lis[i].base = lis[i].current = ctxs[i];
        SSL_CTX_set_client_hello_cb(ctxs[i], on_client_hello, &lis[i]);
    }
    free(ctxs);
    pthread_mutex_lock(&tls_lock);
    tls_listeners = lis;
    tls_n = n;
    tls_http2 = server->limits.http2;
    pthread_mutex_unlock(&tls_lock);
    return 0;
}

SSL_CTX *idd_http_tls_base(size_t i)
{
    pthread_mutex_lock(&tls_lock);
    SSL_CTX *ctx = tls_listeners != NULL && i < tls_n ? tls_listeners[i].base : NULL;
    pthread_mutex_unlock(&tls_lock);
    return ctx;
}

void idd_http_tls_stop(void)
{
    pthread_mutex_lock(&tls_lock);
    tls_listener_t *lis = tls_listeners;
    size_t n = tls_n;
    tls_listeners = NULL;
    tls_n = 0;
    pthread_mutex_unlock(&tls_lock);
    /* Connections still open at exit hold references of their own. */
    for (size_t i = 0; lis != NULL && i < n; i++) {
        SSL_CTX_free(lis[i].current);
        SSL_CTX_free(lis[i].base);
    }
    free(lis);
}

int idd_http_tls_reload(const idd_http_listen_t *listen, size_t n, char *err, size_t errlen)
{
    char scratch[8];
    if (err == NULL || errlen == 0) {
        err = scratch;
        errlen = sizeof(scratch);
    }
    err[0] = '\0';
    pthread_mutex_lock(&tls_lock);
    bool running = tls_listeners != NULL;
    bool http2 = tls_http2;
    int rc = 0;
    if (!running) {
        snprintf(err, errlen, "TLS reload: the server is not running");
        rc = IDD_EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const tls_listener_t *was = i < tls_n ? &tls_listeners[i] : NULL;
        if (was == NULL || strcmp(was->host, listen[i].host) != 0 || was->port != listen[i].port ||
            (was->base == NULL) != (listen[i].tls == NULL)) {
            snprintf(err, errlen,
                     "%s: listen: the listeners (addresses, and which carry TLS) cannot change "
                     "without a restart",
                     listen[i].origin);
            rc = IDD_ECONFIG;
        }
    }
    if (rc == 0 && n != tls_n) {
        snprintf(err, errlen,
                 "listen: the listeners (addresses, and which carry TLS) cannot change without "
                 "a restart");
        rc = IDD_ECONFIG;
    }
    pthread_mutex_unlock(&tls_lock);
    if (rc != 0)
        return rc;

    /* Files are read outside the lock: handshakes go on meanwhile. */
    SSL_CTX **ctxs = idd_xcalloc(n > 0 ? n : 1, sizeof(SSL_CTX *));
    rc = build_all(listen, n, http2, ctxs, err, errlen);
    if (rc != 0) {
        free(ctxs);
        return rc;
    }
    size_t swapped = 0;
    pthread_mutex_lock(&tls_lock);
    if (tls_listeners == NULL || tls_n != n) { /* stopped meanwhile */
        snprintf(err, errlen, "TLS reload: the server is not running");
        rc = IDD_EINVAL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ctxs[i] == NULL)
            continue;
        tls_listener_t *li = &tls_listeners[i];
        SSL_CTX_set_client_hello_cb(ctxs[i], on_client_hello, li);
        SSL_CTX *old = li->current;
        li->current = ctxs[i];
        ctxs[i] = old; /* released below, outside the lock */
        /* Sessions made under the old key are not resumed under the new one. */
        SSL_CTX_flush_sessions(li->base, 0);
        swapped++;
    }
    pthread_mutex_unlock(&tls_lock);
    for (size_t i = 0; i < n; i++)
        SSL_CTX_free(ctxs[i]);
    free(ctxs);
    if (rc == 0 && swapped > 0)
        idd_log_info("TLS: certificates reloaded for %zu listener%s", swapped,
                     swapped == 1 ? "" : "s");
    return rc;
}
