/*
 * The keyed digest of credentials (see digest.h), through OpenSSL's EVP_MAC so that the label
 * and the credential are fed in turn and the credential is never copied into a scratch buffer
 * that would need wiping.
 */
#include "identityd/cred/digest.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"

/* Keying HMAC costs more than the few bytes hashed on a request's path: fetching the
 * algorithm by name takes the library's global property lock and name comparisons. Each
 * thread keeps a context keyed with the last pepper it used and copies it per digest. The
 * copy holds the keyed state only as long as the call; the kept one is cleansed when the
 * thread ends or the pepper changes. */
typedef struct keyed_tmpl {
    EVP_MAC_CTX *ctx;
    unsigned char key[sizeof(((idd_pepper_t *)0)->bytes)];
    size_t key_len;
} keyed_tmpl_t;

static pthread_key_t tmpl_key;
static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;

static void tmpl_free(void *p)
{
    keyed_tmpl_t *t = p;
    EVP_MAC_CTX_free(t->ctx);
    OPENSSL_cleanse(t, sizeof(*t));
    free(t);
}

static void tmpl_init(void)
{
    (void)pthread_key_create(&tmpl_key, tmpl_free);
}

/* A fresh context keyed with pepper, or NULL. */
static EVP_MAC_CTX *keyed_ctx(const idd_pepper_t *pepper)
{
    char sha256[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
        OSSL_PARAM_construct_end(),
    };
    pthread_once(&tmpl_once, tmpl_init);
    keyed_tmpl_t *t = pthread_getspecific(tmpl_key);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL || pthread_setspecific(tmpl_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    if (t != NULL && t->ctx != NULL && t->key_len == pepper->len &&
        CRYPTO_memcmp(t->key, pepper->bytes, pepper->len) == 0)
        return EVP_MAC_CTX_dup(t->ctx);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (ctx == NULL || !EVP_MAC_init(ctx, pepper->bytes, pepper->len, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    if (t == NULL)
        return ctx;
    EVP_MAC_CTX_free(t->ctx);
    t->ctx = EVP_MAC_CTX_dup(ctx);
    memcpy(t->key, pepper->bytes, pepper->len);
    t->key_len = t->ctx != NULL ? pepper->len : 0;
    return ctx;
}

int idd_keyed_digest(const idd_pepper_t *pepper, const char *label, const void *data, size_t len,
                     unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    EVP_MAC_CTX *ctx = NULL;
    size_t outlen = 0;
    int rc = IDD_ECRYPTO;

    memset(out, 0, IDD_SESSION_DIGEST_LEN);
    if (pepper == NULL || pepper->len == 0 || pepper->len > sizeof(pepper->bytes) ||
        (data == NULL && len > 0))
        return IDD_EINVAL;
    ctx = keyed_ctx(pepper);
    if (ctx == NULL)
        goto done;
    if (label != NULL && label[0] != '\0' &&
        !EVP_MAC_update(ctx, (const unsigned char *)label, strlen(label)))
        goto done;
    if (len > 0 && !EVP_MAC_update(ctx, data, len))
        goto done;
    if (!EVP_MAC_final(ctx, out, &outlen, IDD_SESSION_DIGEST_LEN) ||
        outlen != IDD_SESSION_DIGEST_LEN)
        goto done;
    rc = 0;

done:
    if (rc != 0)
        memset(out, 0, IDD_SESSION_DIGEST_LEN);
    /* Freeing the context cleanses the keyed state it holds. */
    EVP_MAC_CTX_free(ctx);
    return rc;
}
