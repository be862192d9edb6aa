/*
 * The keyed digest of credentials (see digest.h): HMAC-SHA256 under the pepper from keyed
 * states each thread keeps (cred/hmac256.h), the label and the credential fed in turn so
 * that the credential is never copied into a scratch buffer that would need wiping.
 */
#include "identityd/cred/digest.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "identityd/core/common.h"
#include "identityd/cred/hmac256.h"

/* Keying HMAC (two blocks hashed) costs as much as the digest of a short credential, so each
 * thread keeps the states keyed with the last pepper it used; they are wiped when the thread
 * ends or the pepper changes. */
typedef struct keyed_tmpl {
    idd_hmac256_t k;
    unsigned char key[sizeof(((idd_pepper_t *)0)->bytes)];
    size_t key_len; /* 0: not keyed yet */
} keyed_tmpl_t;

static pthread_key_t tmpl_key;
static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;

static void tmpl_free(void *p)
{
    OPENSSL_cleanse(p, sizeof(keyed_tmpl_t));
    free(p);
}

static void tmpl_init(void)
{
    (void)pthread_key_create(&tmpl_key, tmpl_free);
}

/* This thread's states keyed with pepper, or NULL when they cannot be kept. */
static const idd_hmac256_t *keyed(const idd_pepper_t *pepper)
{
    pthread_once(&tmpl_once, tmpl_init);
    keyed_tmpl_t *t = pthread_getspecific(tmpl_key);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL || pthread_setspecific(tmpl_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->key_len != pepper->len || CRYPTO_memcmp(t->key, pepper->bytes, pepper->len) != 0) {
        idd_hmac256_key(&t->k, pepper->bytes, pepper->len);
        memcpy(t->key, pepper->bytes, pepper->len);
        t->key_len = pepper->len;
    }
    return &t->k;
}

int idd_keyed_digest_parts(const idd_pepper_t *pepper, const char *label, const idd_bytes_t *parts,
                           size_t n, unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    idd_bytes_t all[8];
    memset(out, 0, IDD_SESSION_DIGEST_LEN);
    if (pepper == NULL || pepper->len == 0 || pepper->len > sizeof(pepper->bytes) ||
        n + 1 > sizeof all / sizeof *all)
        return IDD_EINVAL;
    all[0] = (idd_bytes_t){label, label != NULL ? strlen(label) : 0};
    for (size_t i = 0; i < n; i++) {
        if (parts[i].p == NULL && parts[i].n > 0)
            return IDD_EINVAL;
        all[i + 1] = parts[i];
    }
    const idd_hmac256_t *k = keyed(pepper);
    if (k == NULL)
        return IDD_ECRYPTO;
    idd_hmac256_parts(k, all, n + 1, out);
    return 0;
}

int idd_keyed_digest(const idd_pepper_t *pepper, const char *label, const void *data, size_t len,
                     unsigned char out[IDD_SESSION_DIGEST_LEN])
{
    idd_bytes_t part = {data, len};
    return idd_keyed_digest_parts(pepper, label, &part, 1, out);
}
