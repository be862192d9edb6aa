/*
 * Constant-time comparison and wiping, thin and auditable wrappers over OpenSSL's.
 */
#include "identityd/core/ct.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

int idd_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void idd_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void idd_wipe_free_str(char *s)
{
    if (s == NULL)
        return;
    OPENSSL_cleanse(s, strlen(s));
    free(s);
}
